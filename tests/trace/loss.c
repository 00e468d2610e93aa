/*
 * trace-loss: a ring too small for what its thread records, and a writer
 * that does not drain it meanwhile.  The thread never waits; what did not
 * fit is dropped, and the loss shows three ways that must agree: the
 * counter (kc_trace_stats), gaps in the thread's sequence numbers, and the
 * KC_TR_LOSS records the writer made for it.  What was kept is whole.  (A
 * gap shows records lost before a kept one; the record made after a flush
 * here puts every loss before one.)
 */
#include "kctest.h"
#include "tracefile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NREC	5000

int
main(void)
{
	char path[] = "/tmp/kc-trace-loss-XXXXXX";
	struct kc_trace_attr at = { .ring_bytes = 4096, .flush_ms = 600000 };
	struct kc_trace_stats st;
	struct tracefile tf;
	uint64_t gaps, users = 0, seen_last = 0;
	uint32_t me;
	size_t k;
	int fd, i;

	kct_begin("trace-loss", 60);
	fd = mkstemp(path);
	KC_CHECK_GE(fd, 0);
	close(fd);
	/* Bad arguments first: nothing starts. */
	KC_CHECK_EQ(kc_trace_start(NULL, NULL), -EINVAL);
	KC_CHECK_EQ(kc_trace_start("", NULL), -EINVAL);
	at.flags = 0x100;
	KC_CHECK_EQ(kc_trace_start(path, &at), -EINVAL);
	at.flags = 0;
	KC_CHECK_EQ(kc_trace_start("/nonexistent-dir/x", NULL), -ENOENT);
	KC_CHECK(!kc_trace_enabled());
	KC_CHECK_EQ(kc_trace_flush(), -ENOENT);

	KC_CHECK_OK(kc_trace_start(path, &at));
	me = (uint32_t)kct_gettid();
	for (i = 0; i < NREC; i++)
		KC_CHECK_OK(kc_trace_user("record %d", i));
	KC_CHECK_OK(kc_trace_flush());
	KC_CHECK_OK(kc_trace_user("record %d", NREC));
	KC_CHECK_OK(kc_trace_stats(&st));
	KC_CHECK_GT(st.lost, 0);
	KC_CHECK_LT(st.lost, NREC);
	KC_CHECK_OK(kc_trace_stop());

	tf_load(&tf, path);
	gaps = tf_gaps(&tf, me);
	KC_CHECK_EQ(gaps, st.lost);
	KC_CHECK_EQ(tf_lossrecs(&tf, me), st.lost);
	for (k = 0; k < tf.nrecs; k++) {
		const struct tf_rec *r = &tf.recs[k];
		unsigned long v;

		if (r->h->tr_type != KC_TR_USER || r->h->tr_tid != me)
			continue;
		/* Whole, in order, each one once. */
		KC_CHECK_EQ(sscanf(r->text, "record %lu", &v), 1);
		KC_CHECK(users == 0 || v > seen_last);
		seen_last = v;
		users++;
	}
	KC_CHECK_EQ(seen_last, NREC);	/* the one after the flush */
	KC_CHECK_EQ(users + gaps, NREC + 1);
	KC_CHECK_EQ(st.records, users + tf_count(&tf, KC_TR_THREAD_NAME, me));
	tf_free(&tf);
	unlink(path);
	return kct_done();
}
