/*
 * unit-state: kc_state() reports idle (0), PENDING (queued, armed on a timer,
 * waiting on a kc_queue, or cancelled but still linked), RUNNING (its function
 * is executing), and both when re-triggered while running.
 */
#include "kctest.h"

#include <string.h>

struct spin {
	struct kc	kc;
	atomic_int	runs;
	atomic_int	entered;	/* set by run 1 */
	atomic_int	release;	/* run 1 spins until set */
	unsigned	state_inside[4];
	uint32_t	coalesced[4];
	void		*obj[4];
};

static void
spin_fn(void *obj, void *env, int status)
{
	struct spin *s = env;
	int n = atomic_load(&s->runs);
	unsigned i = 0;

	(void)status;
	if (n < 4) {
		s->state_inside[n] = kc_state(&s->kc);
		s->coalesced[n] = kc_coalesced();
		s->obj[n] = obj;
	}
	if (n == 0) {
		uint64_t dl = kct_now_ns() + 30 * KCT_NSEC_PER_SEC;

		atomic_store(&s->entered, 1);
		while (!atomic_load(&s->release)) {
			KC_CHECK(kct_now_ns() < dl);
			kct_pause(i++ % 256);	/* spin and yield, never sleep */
		}
	}
	atomic_store(&s->runs, n + 1);
}

static void
spin_init(struct spin *s, struct kc_executor *ex)
{
	memset(s, 0, sizeof(*s));
	KC_CHECK_OK(kc_init(&s->kc, spin_fn, s, ex, 0));
}

static char o1, o2, o3;

/*
 * idle -> PENDING (queued behind a gate) -> RUNNING (spinning) ->
 * RUNNING|PENDING (re-triggered while it runs) -> RUNNING (second run) -> idle
 */
static void
test_transitions(struct kc_executor *ex)
{
	struct kct_gate g;
	struct spin s;

	spin_init(&s, ex);
	KC_CHECK_EQ(kc_state(&s.kc), KC_STATE_IDLE);
	kct_gate_hold(&g, ex);
	KC_CHECK_OK(kc_run(&s.kc, &o1, 1));
	KC_CHECK_EQ(kc_state(&s.kc), KC_STATE_PENDING);
	kct_gate_release(&g);
	kct_wait_flag(&s.entered, 10);
	KC_CHECK_EQ(kc_state(&s.kc), KC_STATE_RUNNING);
	KC_CHECK_OK(kc_run(&s.kc, &o2, 2));
	KC_CHECK_OK(kc_run(&s.kc, &o3, 3));
	KC_CHECK_EQ(kc_state(&s.kc), KC_STATE_RUNNING | KC_STATE_PENDING);
	atomic_store(&s.release, 1);
	KCT_WAIT(atomic_load(&s.runs) == 2, 10);
	KCT_WAIT(kc_state(&s.kc) == KC_STATE_IDLE, 10);
	kct_gate_wait(&g);
	KC_CHECK_EQ(s.state_inside[0], KC_STATE_RUNNING);
	KC_CHECK_EQ(s.state_inside[1], KC_STATE_RUNNING);
	KC_CHECK_EQ(s.coalesced[0], 1);
	KC_CHECK_EQ(s.coalesced[1], 2);		/* o2 and o3 */
	KC_CHECK_PTR_EQ(s.obj[0], &o1);
	KC_CHECK_PTR_EQ(s.obj[1], &o2);
}

/* Immediate: RUNNING inside, idle before and after. */
static void
test_immediate(void)
{
	struct spin s;

	spin_init(&s, NULL);
	atomic_store(&s.runs, 1);	/* skip the spinning first run */
	KC_CHECK_OK(kc_run(&s.kc, &o1, 0));
	KC_CHECK_EQ(atomic_load(&s.runs), 2);
	KC_CHECK_EQ(s.state_inside[1], KC_STATE_RUNNING);
	KC_CHECK_EQ(kc_state(&s.kc), KC_STATE_IDLE);
}

/* Armed on a timer: PENDING until it fires, then idle. */
static void
test_timer(struct kc_executor *ex)
{
	struct spin s;

	spin_init(&s, ex);
	atomic_store(&s.runs, 1);
	KC_CHECK_OK(kc_defer_after(&s.kc, 10 * KCT_NSEC_PER_SEC, NULL, 0));
	KC_CHECK_EQ(kc_state(&s.kc), KC_STATE_PENDING);
	/* re-arm short */
	KC_CHECK_OK(kc_defer_after(&s.kc, KCT_NSEC_PER_MSEC, &o2, 0));
	KC_CHECK_EQ(kc_state(&s.kc) & KC_STATE_PENDING, KC_STATE_PENDING);
	KCT_WAIT(atomic_load(&s.runs) == 2, 10);
	KCT_WAIT(kc_state(&s.kc) == KC_STATE_IDLE, 10);
	KC_CHECK_EQ(s.state_inside[1], KC_STATE_RUNNING);
}

/* Waiting on a kc_queue: PENDING; fired: runs, idle. */
static void
test_queue(struct kc_executor *ex)
{
	struct kc_queue q;
	struct spin s;

	KC_CHECK_OK(kc_queue_init(&q));
	spin_init(&s, ex);
	atomic_store(&s.runs, 1);
	KC_CHECK_OK(kc_enqueue(&q, &s.kc));
	KC_CHECK_EQ(kc_state(&s.kc), KC_STATE_PENDING);
	KC_CHECK_EQ(kc_run_all(&q, &o3, 3), 1);
	KCT_WAIT(atomic_load(&s.runs) == 2, 10);
	KCT_WAIT(kc_state(&s.kc) == KC_STATE_IDLE, 10);
	KC_CHECK_PTR_EQ(s.obj[1], &o3);
	KC_CHECK(kc_queue_empty(&q));
}

/*
 * Cancelled while queued behind a gate: may stay "linked" (PENDING) until the
 * executor passes it, then idle; it never runs.  kc_cancel_sync returns once
 * it is idle (it may wait for the executor to pass it, so the gate is
 * released from another thread).
 */
static void
test_cancelled(struct kc_executor *ex)
{
	struct kct_gate g;
	struct spin a, b;
	pthread_t t;

	spin_init(&a, ex);
	spin_init(&b, ex);
	kct_gate_hold(&g, ex);
	KC_CHECK_OK(kc_run(&a.kc, NULL, 0));
	KC_CHECK_OK(kc_run(&b.kc, NULL, 0));
	KC_CHECK_EQ(kc_cancel(&a.kc), 1);
	KC_CHECK(!(kc_state(&a.kc) & KC_STATE_RUNNING));
	t = kct_gate_release_later(&g, 50 * KCT_NSEC_PER_MSEC);
	KC_CHECK_EQ(kc_cancel_sync(&b.kc), 1);
	KC_CHECK_EQ(kc_state(&b.kc), KC_STATE_IDLE);
	kct_thread_join(t);
	kct_gate_wait(&g);
	KCT_WAIT(kc_state(&a.kc) == KC_STATE_IDLE, 10);
	KC_CHECK_EQ(atomic_load(&a.runs), 0);
	KC_CHECK_EQ(atomic_load(&b.runs), 0);
}

int
main(void)
{
	struct kc_executor *soft, *thr;

	kct_begin("unit-state", 50);
	soft = kct_exec_soft("t-soft");
	thr = kct_exec_thread(1, "t-thr");

	test_immediate();
	test_transitions(soft);
	test_transitions(thr);
	test_timer(soft);
	test_timer(thr);
	test_queue(soft);
	test_queue(NULL);
	test_cancelled(soft);
	test_cancelled(thr);

	kct_exec_finish(soft);
	kct_exec_finish(thr);
	return kct_done();
}
