/*
 * trace-exit: threads record and exit before the writer has drained them
 * (it is told to wait ten minutes).  Each hands its ring over on the way
 * out: after kc_trace_stop() every record every thread committed is in the
 * file, in order, with no gap, each thread's last record THREAD_EXIT.
 * Then the same while the writer runs at its default pace, with threads
 * coming and going throughout.
 */
#include "kctest.h"
#include "tracefile.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NTHR	6
#define NREC	500

static pid_t tids[NTHR];

static void *
worker(void *arg)
{
	int i, n = (int)(intptr_t)arg;

	tids[n] = kct_gettid();
	for (i = 0; i < NREC; i++)
		KC_CHECK_OK(kc_trace_user("t%d r%d", n, i));
	return NULL;
}

static void
check(const char *path)
{
	struct tracefile tf;
	int n;

	tf_load(&tf, path);
	for (n = 0; n < NTHR; n++) {
		uint32_t t = (uint32_t)tids[n];
		const struct tf_rec *last = NULL;
		size_t k;
		int want = 0;

		KC_CHECK_EQ(tf_gaps(&tf, t), 0);
		KC_CHECK_EQ(tf_count(&tf, KC_TR_USER, t), NREC);
		for (k = 0; k < tf.nrecs; k++) {
			const struct tf_rec *r = &tf.recs[k];
			char buf[32];

			if (r->h->tr_tid != t ||
			    r->h->tr_seq == KC_TRACE_SEQ_NONE)
				continue;
			last = r;
			if (r->h->tr_type != KC_TR_USER)
				continue;
			snprintf(buf, sizeof(buf), "t%d r%d", n, want++);
			KC_CHECK(strcmp(r->text, buf) == 0);
		}
		KC_CHECK(last != NULL);
		KC_CHECK_EQ(last->h->tr_type, KC_TR_THREAD_EXIT);
	}
	tf_free(&tf);
}

static void
run(const char *path, const struct kc_trace_attr *at)
{
	struct kc_trace_stats st;
	pthread_t t[NTHR];
	int n;

	KC_CHECK_OK(kc_trace_start(path, at));
	for (n = 0; n < NTHR; n++)
		t[n] = kct_thread_start(worker, (void *)(intptr_t)n);
	for (n = 0; n < NTHR; n++)
		kct_thread_join(t[n]);
	KC_CHECK_OK(kc_trace_stats(&st));
	KC_CHECK_EQ(st.lost, 0);
	KC_CHECK_GE(st.records, NTHR * (NREC + 1));
	KC_CHECK_OK(kc_trace_stop());
	check(path);
}

int
main(void)
{
	char path[] = "/tmp/kc-trace-exit-XXXXXX";
	struct kc_trace_attr idle = { .ring_bytes = 1 << 16,
	    .flush_ms = 600000 };
	int fd;

	kct_begin("trace-exit", 60);
	fd = mkstemp(path);
	KC_CHECK_GE(fd, 0);
	close(fd);
	run(path, &idle);
	run(path, NULL);
	unlink(path);
	return kct_done();
}
