/*
 * unit-stats: kc_executor_stats counters.  runs counts functions called from
 * the queue, inline_runs the triggers run inline on the executor's threads,
 * timers_fired the timers that fired; an idle consumer goes to sleep (sleeps)
 * and a producer must wake it (wakeups) for queued work to run.
 */
#include "kctest.h"

#include <errno.h>
#include <string.h>


#define NINL 10
struct outer {
	struct kc	kc;
	struct kc	inl[NINL];
	int		bad;
	atomic_int	done;
};

static void
outer_fn(void *obj, void *env, int status)
{
	struct outer *o = env;
	int i;

	(void)obj;
	(void)status;
	for (i = 0; i < NINL; i++)
		if (kc_run(&o->inl[i], NULL, 0) != 0)
			o->bad = 1;
	atomic_store(&o->done, 1);
}

static struct kc_executor *
make(enum kc_executor_kind kind, unsigned nthreads)
{
	struct kc_executor_attr attr;
	struct kc_executor *ex = NULL;

	memset(&attr, 0, sizeof(attr));
	attr.kind = kind;
	attr.nthreads = nthreads;
	attr.spin_ns = 1000;		/* go to sleep soon when idle */
	attr.name = "t-stats";
	KC_CHECK_OK(kc_executor_create(&ex, &attr));
	return ex;
}

static void
test_soft(void)
{
	struct kc_executor *ex = make(KC_EXEC_SOFT, 1);
	struct kc_executor_stats st, st0;
	struct outer o;
	struct kc kc;
	int i, base = atomic_load(&kct_ran);

	kct_exec_stats(ex, &st0);
	KC_CHECK_EQ(st0.runs, 0);
	KC_CHECK_EQ(st0.inline_runs, 0);
	KC_CHECK_EQ(st0.timers_fired, 0);

	/* idle: the consumer goes to sleep */
	KCT_WAIT((kct_exec_stats(ex, &st), st.sleeps >= 1), 10);
	KC_CHECK_OK(kc_init(&kc, kct_count_fn, NULL, ex, 0));
	for (i = 0; i < 100; i++) {
		KC_CHECK_OK(kc_run(&kc, NULL, 0));
		KCT_WAIT(atomic_load(&kct_ran) == base + i + 1, 10);
		KCT_WAIT(kc_state(&kc) == KC_STATE_IDLE, 10);
	}
	/* it slept, so some producer had to wake it */
	kct_exec_stats(ex, &st);
	KC_CHECK_GE(st.wakeups, 1);
	KC_CHECK_LE(st.wakeups, 100);
	KC_CHECK_GE(st.batches, 1);

	memset(&o, 0, sizeof(o));
	for (i = 0; i < NINL; i++)
		KC_CHECK_OK(kc_init(&o.inl[i], kct_count_fn, NULL, ex, 0));
	KC_CHECK_OK(kc_init(&o.kc, outer_fn, &o, ex, 0));
	KC_CHECK_OK(kc_run(&o.kc, NULL, 0));
	kct_wait_flag(&o.done, 10);
	KC_CHECK_EQ(o.bad, 0);

	KC_CHECK_OK(kc_executor_shutdown(ex, KC_SHUTDOWN_DRAIN, NULL));
	kct_exec_stats(ex, &st);
	KC_CHECK_EQ(st.runs, 101);
	KC_CHECK_EQ(st.inline_runs, NINL);
	KC_CHECK_EQ(st.timers_fired, 0);
	KC_CHECK_EQ(atomic_load(&kct_ran), base + 100 + NINL);
	KC_CHECK_OK(kc_executor_close(ex, NULL));
}

static void
test_thread(void)
{
	struct kc_executor *ex = make(KC_EXEC_THREAD, 2);
	struct kc_executor_stats st;
	static struct kc kcs[200];
	int i, base = atomic_load(&kct_ran);

	for (i = 0; i < 200; i++) {
		KC_CHECK_OK(kc_init(&kcs[i], kct_count_fn, NULL, ex, 0));
		KC_CHECK_OK(kc_defer(&kcs[i], NULL, 0));
	}
	KCT_WAIT(atomic_load(&kct_ran) == base + 200, 10);
	KC_CHECK_OK(kc_executor_shutdown(ex, KC_SHUTDOWN_DRAIN, NULL));
	kct_exec_stats(ex, &st);
	KC_CHECK_EQ(st.runs, 200);
	KC_CHECK_EQ(st.inline_runs, 0);
	KC_CHECK_GE(st.batches, 1);
	KC_CHECK_OK(kc_executor_close(ex, NULL));
}

static void
test_timers(void)
{
	struct kc_executor *ex = make(KC_EXEC_SOFT, 0);
	struct kc_executor_stats st;
	struct kc t[5];
	int i, base = atomic_load(&kct_ran);

	for (i = 0; i < 5; i++) {
		KC_CHECK_OK(kc_init(&t[i], kct_count_fn, NULL, ex, 0));
		KC_CHECK_OK(kc_defer_after(&t[i],
		    (uint64_t)i * KCT_NSEC_PER_MSEC, NULL, 0));
	}
	KCT_WAIT(atomic_load(&kct_ran) == base + 5, 10);
	KC_CHECK_OK(kc_executor_shutdown(ex, KC_SHUTDOWN_DRAIN, NULL));
	kct_exec_stats(ex, &st);
	KC_CHECK_EQ(st.timers_fired, 5);
	KC_CHECK_EQ(st.inline_runs, 0);
	KC_CHECK_OK(kc_executor_close(ex, NULL));
}

int
main(void)
{
	kct_begin("unit-stats", 50);
	test_soft();
	test_thread();
	test_timers();
	return kct_done();
}
