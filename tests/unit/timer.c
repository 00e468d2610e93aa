/*
 * unit-timer: kc_defer_after runs the continuation on its executor never
 * earlier than ns after the call (CLOCK_MONOTONIC).  2000 timers with random
 * delays in [0, 5 ms], armed from a plain thread and from continuations on
 * both a soft and a thread executor, each record when they ran; each must
 * have run exactly once, on its executor, at >= (time before the call) +
 * delay.  A cancelled timer never runs; re-arming restarts it with the new
 * delay, obj and status; the executor's timers_fired counts what fired.
 */
#include "kctest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { EX_SOFT, EX_THR, NEX };
static struct kc_executor *exs[NEX];
static atomic_int fired[NEX];		/* tm_fn runs per executor */

struct tmr {
	struct kc	 kc;
	int		 exi;
	uint64_t	 t0;		/* before the arming call */
	uint64_t	 delay;
	uint64_t	 t_run;
	void		*obj;
	int		 status;
	atomic_int	 runs;
	struct kc_executor *ran_on;
};

static void
tm_fn(void *obj, void *env, int status)
{
	struct tmr *t = env;

	t->t_run = kct_now_ns();
	t->ran_on = kc_executor_current();
	t->obj = obj;
	t->status = status;
	atomic_fetch_add(&fired[t->exi], 1);
	atomic_fetch_add(&t->runs, 1);
}

static void
tm_init(struct tmr *t, int exi)
{
	memset(t, 0, sizeof(*t));
	t->exi = exi;
	KC_CHECK_OK(kc_init(&t->kc, tm_fn, t, exs[exi], 0));
}

static int
tm_arm(struct tmr *t, uint64_t delay, void *obj, int status)
{
	t->delay = delay;
	t->t0 = kct_now_ns();
	return kc_defer_after(&t->kc, delay, obj, status);
}

/* Many timers, armed from here and from continuations. */
#define NTIMERS		2000
#define MAXDELAY	(5 * KCT_NSEC_PER_MSEC)
static struct tmr timers[NTIMERS];
static atomic_int armed_bad;

struct armer {
	struct kc	kc;
	int		from, to;
	atomic_int	done;
};

static void
armer_fn(void *obj, void *env, int status)
{
	struct armer *a = env;
	int i;

	(void)obj;
	(void)status;
	for (i = a->from; i < a->to; i++)
		if (tm_arm(&timers[i], kct_rand_below(MAXDELAY + 1),
		    &timers[i], i) != 0)
			atomic_fetch_add(&armed_bad, 1);
	atomic_store(&a->done, 1);
}

static void
test_many(void)
{
	struct armer as, at;
	int i, total;

	for (i = 0; i < NTIMERS; i++)
		tm_init(&timers[i], i % NEX);
	/* [0, 1000) from this plain thread */
	for (i = 0; i < NTIMERS / 2; i++)
		KC_CHECK_OK(tm_arm(&timers[i], kct_rand_below(MAXDELAY + 1),
		    &timers[i], i));
	/* [1000, 1500) from a continuation on the soft executor */
	memset(&as, 0, sizeof(as));
	as.from = NTIMERS / 2;
	as.to = NTIMERS * 3 / 4;
	KC_CHECK_OK(kc_init(&as.kc, armer_fn, &as, exs[EX_SOFT], 0));
	/* [1500, 2000) from a continuation on the thread executor */
	memset(&at, 0, sizeof(at));
	at.from = NTIMERS * 3 / 4;
	at.to = NTIMERS;
	KC_CHECK_OK(kc_init(&at.kc, armer_fn, &at, exs[EX_THR], 0));
	KC_CHECK_OK(kc_run(&as.kc, NULL, 0));
	KC_CHECK_OK(kc_run(&at.kc, NULL, 0));
	kct_wait_flag(&as.done, 20);
	kct_wait_flag(&at.done, 20);
	KC_CHECK_EQ(atomic_load(&armed_bad), 0);
	KCT_WAIT(kc_state(&as.kc) == KC_STATE_IDLE &&
	    kc_state(&at.kc) == KC_STATE_IDLE, 10);

	for (i = 0; i < NTIMERS; i++)
		KCT_WAIT(atomic_load(&timers[i].runs) >= 1, 20);
	for (i = 0; i < NTIMERS; i++)
		KCT_WAIT(kc_state(&timers[i].kc) == KC_STATE_IDLE, 10);
	total = 0;
	for (i = 0; i < NTIMERS; i++) {
		struct tmr *t = &timers[i];

		KC_CHECK_EQ(atomic_load(&t->runs), 1);
		KC_CHECK_PTR_EQ(t->ran_on, exs[t->exi]);
		KC_CHECK_PTR_EQ(t->obj, t);
		KC_CHECK_EQ(t->status, i);
		if (t->t_run < t->t0 + t->delay)
			kct_fail(__FILE__, __LINE__, "timer %d ran early: armed"
			    " at %llu + %llu ns, ran at %llu (%llu ns early)",
			    i, (unsigned long long)t->t0,
			    (unsigned long long)t->delay,
			    (unsigned long long)t->t_run,
			    (unsigned long long)(t->t0 + t->delay - t->t_run));
		total++;
	}
	KC_CHECK_EQ(total, NTIMERS);
}

/* Delay 0 runs (on the executor, deferred). */
static void
test_zero(int exi)
{
	struct tmr t;

	tm_init(&t, exi);
	KC_CHECK_OK(tm_arm(&t, 0, &t, 3));
	KCT_WAIT(atomic_load(&t.runs) == 1, 10);
	KCT_WAIT(kc_state(&t.kc) == KC_STATE_IDLE, 10);
	KC_CHECK_PTR_EQ(t.ran_on, exs[exi]);
	KC_CHECK_GE(t.t_run, t.t0);
}

/*
 * Cancel before it fires: never runs.  kc_cancel -> 1; kc_cancel_sync -> 1
 * and idle at once (so a heap one may be freed at once).  A later sentinel
 * timer fires; the cancelled ones are checked again after the final drain.
 */
static struct tmr cancelled[NEX][2];

static void
test_cancel(int exi)
{
	struct tmr sentinel, *h;

	tm_init(&cancelled[exi][0], exi);
	tm_init(&cancelled[exi][1], exi);
	KC_CHECK_OK(tm_arm(&cancelled[exi][0], 100 * KCT_NSEC_PER_MSEC,
	    NULL, 0));
	KC_CHECK_OK(tm_arm(&cancelled[exi][1], 100 * KCT_NSEC_PER_MSEC,
	    NULL, 0));
	KC_CHECK_EQ(kc_state(&cancelled[exi][0].kc), KC_STATE_PENDING);
	KC_CHECK_EQ(kc_cancel(&cancelled[exi][0].kc), 1);
	KC_CHECK_EQ(kc_cancel_sync(&cancelled[exi][1].kc), 1);
	KC_CHECK_EQ(kc_state(&cancelled[exi][1].kc), KC_STATE_IDLE);
	KC_CHECK_EQ(kc_cancel(&cancelled[exi][1].kc), -EALREADY);

	/* heap timer cancelled synchronously and freed at once (ASan) */
	h = malloc(sizeof(*h));
	KC_CHECK(h != NULL);
	tm_init(h, exi);
	KC_CHECK_OK(tm_arm(h, 50 * KCT_NSEC_PER_MSEC, NULL, 0));
	KC_CHECK_EQ(kc_cancel_sync(&h->kc), 1);
	KC_CHECK_EQ(kc_state(&h->kc), KC_STATE_IDLE);
	free(h);

	tm_init(&sentinel, exi);
	KC_CHECK_OK(tm_arm(&sentinel, 300 * KCT_NSEC_PER_MSEC, NULL, 0));
	KCT_WAIT(atomic_load(&sentinel.runs) == 1, 10);
	KCT_WAIT(kc_state(&sentinel.kc) == KC_STATE_IDLE, 10);
	KC_CHECK_GE(sentinel.t_run, sentinel.t0 + 300 * KCT_NSEC_PER_MSEC);
	KC_CHECK_EQ(atomic_load(&cancelled[exi][0].runs), 0);
	KC_CHECK_EQ(atomic_load(&cancelled[exi][1].runs), 0);
	KC_CHECK_EQ(kc_cancel_sync(&cancelled[exi][0].kc), -EALREADY);
	KC_CHECK_EQ(kc_state(&cancelled[exi][0].kc), KC_STATE_IDLE);
	/* re-arm after cancel: runs once */
	KC_CHECK_OK(tm_arm(&cancelled[exi][1], KCT_NSEC_PER_MSEC, &sentinel,
	    9));
	KCT_WAIT(atomic_load(&cancelled[exi][1].runs) == 1, 10);
	KCT_WAIT(kc_state(&cancelled[exi][1].kc) == KC_STATE_IDLE, 10);
	KC_CHECK_EQ(cancelled[exi][1].status, 9);
	KC_CHECK_GE(cancelled[exi][1].t_run,
	    cancelled[exi][1].t0 + KCT_NSEC_PER_MSEC);
}

/*
 * Re-arming restarts: 10 s re-armed to 1 ms fires soon (once, with the new
 * obj/status); 300 ms re-armed to 600 ms fires no earlier than 600 ms after
 * the re-arm (once); re-armed 50 times, fires once with the last obj.
 */
static struct tmr rearmed[NEX][3];

static void
test_rearm(int exi)
{
	struct tmr *a = &rearmed[exi][0], *b = &rearmed[exi][1];
	struct tmr *c = &rearmed[exi][2];
	static char o1, o2;
	int i;

	tm_init(a, exi);
	KC_CHECK_OK(tm_arm(a, 10 * KCT_NSEC_PER_SEC, &o1, 1));
	KC_CHECK_OK(tm_arm(a, KCT_NSEC_PER_MSEC, &o2, 7));
	KCT_WAIT(atomic_load(&a->runs) == 1, 5);
	KCT_WAIT(kc_state(&a->kc) == KC_STATE_IDLE, 10);
	KC_CHECK_PTR_EQ(a->obj, &o2);
	KC_CHECK_EQ(a->status, 7);
	KC_CHECK_GE(a->t_run, a->t0 + KCT_NSEC_PER_MSEC);

	tm_init(b, exi);
	KC_CHECK_OK(tm_arm(b, 300 * KCT_NSEC_PER_MSEC, &o1, 1));
	KC_CHECK_OK(tm_arm(b, 600 * KCT_NSEC_PER_MSEC, &o2, 8));
	KCT_WAIT(atomic_load(&b->runs) == 1, 10);
	KCT_WAIT(kc_state(&b->kc) == KC_STATE_IDLE, 10);
	KC_CHECK_PTR_EQ(b->obj, &o2);
	KC_CHECK_EQ(b->status, 8);
	KC_CHECK_GE(b->t_run, b->t0 + 600 * KCT_NSEC_PER_MSEC);

	tm_init(c, exi);
	for (i = 0; i < 50; i++)
		KC_CHECK_OK(tm_arm(c, 50 * KCT_NSEC_PER_MSEC, &c[0], i));
	KCT_WAIT(atomic_load(&c->runs) == 1, 10);
	KCT_WAIT(kc_state(&c->kc) == KC_STATE_IDLE, 10);
	KC_CHECK_EQ(c->status, 49);
	KC_CHECK_GE(c->t_run, c->t0 + 50 * KCT_NSEC_PER_MSEC);
}

/* Not a timer run: must not count in fired[]. */
static void
plain_fn(void *obj, void *env, int status)
{
	struct tmr *t = env;

	(void)obj;
	(void)status;
	atomic_fetch_add(&t->runs, 1);
}

/* A kc queued on a run queue (executor held) cannot be armed: -EBUSY. */
static void
test_busy(int exi)
{
	struct kct_gate g[2];
	struct kc_queue q;
	struct tmr t, u;
	int i, n = exi == EX_SOFT ? 1 : 2;

	tm_init(&t, exi);
	tm_init(&u, exi);
	KC_CHECK_OK(kc_init(&t.kc, plain_fn, &t, exs[exi], 0));
	KC_CHECK_OK(kc_init(&u.kc, plain_fn, &u, exs[exi], 0));
	for (i = 0; i < n; i++)
		kct_gate_hold(&g[i], exs[exi]);
	KC_CHECK_OK(kc_run(&t.kc, NULL, 0));
	KC_CHECK_EQ(tm_arm(&t, KCT_NSEC_PER_MSEC, NULL, 0), -EBUSY);
	KC_CHECK_OK(kc_queue_init(&q));
	KC_CHECK_OK(kc_enqueue(&q, &u.kc));
	KC_CHECK_EQ(tm_arm(&u, KCT_NSEC_PER_MSEC, NULL, 0), -EBUSY);
	KC_CHECK_EQ(kc_cancel_sync(&u.kc), 1);
	KC_CHECK(kc_queue_empty(&q));
	for (i = 0; i < n; i++)
		kct_gate_release(&g[i]);
	for (i = 0; i < n; i++)
		kct_gate_wait(&g[i]);
	KCT_WAIT(atomic_load(&t.runs) == 1, 10);
	KCT_WAIT(kc_state(&t.kc) == KC_STATE_IDLE, 10);
	KC_CHECK_EQ(atomic_load(&u.runs), 0);
}

int
main(void)
{
	struct kc_executor_stats st;
	int i;

	kct_begin("unit-timer", 55);
	exs[EX_SOFT] = kct_exec_soft("t-soft");
	exs[EX_THR] = kct_exec_thread(2, "t-thr");

	test_many();
	for (i = 0; i < NEX; i++) {
		test_zero(i);
		test_cancel(i);
		test_rearm(i);
		test_busy(i);
	}

	for (i = 0; i < NEX; i++) {
		KC_CHECK_OK(kc_executor_shutdown(exs[i], KC_SHUTDOWN_DRAIN,
		    NULL));
		kct_exec_stats(exs[i], &st);
		KC_CHECK_EQ(st.timers_fired, atomic_load(&fired[i]));
		KC_CHECK_OK(kc_executor_close(exs[i], NULL));
	}
	/* after the drain: nothing cancelled or re-armed ran again */
	for (i = 0; i < NEX; i++) {
		KC_CHECK_EQ(atomic_load(&cancelled[i][0].runs), 0);
		KC_CHECK_EQ(atomic_load(&cancelled[i][1].runs), 1);
		KC_CHECK_EQ(atomic_load(&rearmed[i][0].runs), 1);
		KC_CHECK_EQ(atomic_load(&rearmed[i][1].runs), 1);
		KC_CHECK_EQ(atomic_load(&rearmed[i][2].runs), 1);
	}
	for (i = 0; i < NTIMERS; i++)
		KC_CHECK_EQ(atomic_load(&timers[i].runs), 1);
	return kct_done();
}
