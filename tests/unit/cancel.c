/*
 * unit-cancel: kc_cancel returns the number of triggers the cancelled pending
 * run stood for (>= 1; that run never happens), -EINPROGRESS (not pending,
 * running now), -EALREADY (neither); kc_cancel_sync waits for a running
 * instance to finish and returns the count or -EALREADY; called from inside
 * the continuation's own function it returns -EDEADLK at once (and still
 * cancels a pending run of itself).
 */
#include "kctest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

/* A continuation whose first run blocks (sleep-polls) until released. */
struct blk {
	struct kc	kc;
	atomic_int	runs;		/* incremented on entry */
	atomic_int	entered;
	atomic_int	release;
	atomic_int	finished;	/* last store of the first run */
	int		block;		/* first run blocks */
	int		spin;		/* ...by spinning (soft executor) */
	int		cancel_inside_rc;
};

static void
blk_fn(void *obj, void *env, int status)
{
	struct blk *b = env;
	int n = atomic_fetch_add(&b->runs, 1);
	unsigned i = 0;

	(void)obj;
	(void)status;
	if (n == 0) {
		b->cancel_inside_rc = kc_cancel(&b->kc);
		atomic_store(&b->entered, 1);
		if (b->block) {
			uint64_t dl = kct_now_ns() + 30 * KCT_NSEC_PER_SEC;

			while (!atomic_load(&b->release)) {
				KC_CHECK(kct_now_ns() < dl);
				if (b->spin)
					kct_pause(i++ % 256);
				else
					kct_sleep_ns(200000);
			}
		}
		atomic_store(&b->finished, 1);
	}
}

static void
blk_init(struct blk *b, struct kc_executor *ex, int block, int spin)
{
	memset(b, 0, sizeof(*b));
	b->block = block;
	b->spin = spin;
	KC_CHECK_OK(kc_init(&b->kc, blk_fn, b, ex, 0));
}

/* -EALREADY for a fresh kc, and 0 + never runs for a queued one. */
static void
test_pending(struct kc_executor *ex, unsigned nthreads)
{
	struct kct_gate g[2];
	pthread_t t[2];
	struct blk a, b;
	unsigned i;

	blk_init(&a, ex, 0, 0);
	blk_init(&b, ex, 0, 0);
	KC_CHECK_EQ(kc_cancel(&a.kc), -EALREADY);
	KC_CHECK_EQ(kc_cancel_sync(&a.kc), -EALREADY);
	for (i = 0; i < nthreads; i++)
		kct_gate_hold(&g[i], ex);
	KC_CHECK_OK(kc_run(&a.kc, NULL, 0));
	KC_CHECK_OK(kc_run(&a.kc, NULL, 0));	/* coalesced: still one run */
	KC_CHECK_OK(kc_run(&b.kc, NULL, 0));
	KC_CHECK_EQ(kc_cancel(&a.kc), 2);		/* two triggers */
	KC_CHECK_EQ(kc_cancel(&a.kc), -EALREADY);	/* nothing pending now */
	/* cancel_sync may wait for the executor to pass b: release later */
	for (i = 0; i < nthreads; i++)
		t[i] = kct_gate_release_later(&g[i], 50 * KCT_NSEC_PER_MSEC);
	KC_CHECK_EQ(kc_cancel_sync(&b.kc), 1);
	KC_CHECK_EQ(kc_state(&b.kc), KC_STATE_IDLE);
	KC_CHECK_EQ(kc_cancel(&b.kc), -EALREADY);
	KC_CHECK_EQ(kc_cancel_sync(&b.kc), -EALREADY);
	for (i = 0; i < nthreads; i++)
		kct_thread_join(t[i]);
	for (i = 0; i < nthreads; i++)
		kct_gate_wait(&g[i]);
	/* the cancelled one settles to idle and -EALREADY without running */
	KC_CHECK_EQ(kc_cancel_sync(&a.kc), -EALREADY);
	KC_CHECK_EQ(kc_state(&a.kc), KC_STATE_IDLE);
	KC_CHECK_EQ(kc_cancel(&a.kc), -EALREADY);
	KC_CHECK_EQ(atomic_load(&a.runs), 0);
	KC_CHECK_EQ(atomic_load(&b.runs), 0);

	/* cancelled kcs are reusable: trigger again, runs once */
	KC_CHECK_OK(kc_run(&a.kc, NULL, 0));
	KCT_WAIT(atomic_load(&a.runs) == 1, 10);
	KCT_WAIT(kc_state(&a.kc) == KC_STATE_IDLE, 10);
	KC_CHECK_EQ(a.cancel_inside_rc, -EINPROGRESS);	/* cancel of self */
	KC_CHECK_OK(kc_run(&b.kc, NULL, 0));
	KCT_WAIT(atomic_load(&b.runs) == 1, 10);
	KC_CHECK_EQ(kc_cancel_sync(&b.kc), -EALREADY);
	KC_CHECK_EQ(kc_state(&b.kc), KC_STATE_IDLE);
	KC_CHECK_EQ(atomic_load(&b.runs), 1);
}

/* -EINPROGRESS for a kc running (blocked) on a thread executor. */
static void
test_inprogress(struct kc_executor *thr)
{
	struct blk b;

	blk_init(&b, thr, 1, 0);
	KC_CHECK_OK(kc_run(&b.kc, NULL, 0));
	kct_wait_flag(&b.entered, 10);
	KC_CHECK_EQ(kc_cancel(&b.kc), -EINPROGRESS);
	KC_CHECK_EQ(kc_state(&b.kc), KC_STATE_RUNNING);
	atomic_store(&b.release, 1);
	KCT_WAIT(kc_state(&b.kc) == KC_STATE_IDLE, 10);
	KC_CHECK_EQ(kc_cancel(&b.kc), -EALREADY);
	KC_CHECK_EQ(atomic_load(&b.finished), 1);
}

/*
 * kc_cancel_sync must wait for the running instance: a helper thread waits
 * until we are about to call it, sleeps, then releases the blocked function;
 * when kc_cancel_sync returns, the function must have finished.  With
 * `retrigger`, a second run is pending behind the running one on a
 * one-thread executor: kc_cancel_sync returns its count (3) and that run
 * never happens.
 */
static void
test_sync_waits(struct kc_executor *ex, int spin, int retrigger)
{
	struct blk b;
	pthread_t t;
	int rc;

	blk_init(&b, ex, 1, spin);
	KC_CHECK_OK(kc_run(&b.kc, NULL, 0));
	kct_wait_flag(&b.entered, 10);
	if (retrigger) {
		KC_CHECK_OK(kc_run(&b.kc, NULL, 1));
		KC_CHECK_OK(kc_run(&b.kc, NULL, 2));
		KC_CHECK_OK(kc_run(&b.kc, NULL, 3));
		KC_CHECK_EQ(kc_state(&b.kc),
		    KC_STATE_RUNNING | KC_STATE_PENDING);
	}
	t = kct_set_later(&b.release, 100 * KCT_NSEC_PER_MSEC);
	rc = kc_cancel_sync(&b.kc);
	KC_CHECK_EQ(atomic_load(&b.finished), 1);
	KC_CHECK_EQ(kc_state(&b.kc), KC_STATE_IDLE);
	KC_CHECK_EQ(rc, retrigger ? 3 : -EALREADY);
	kct_thread_join(t);
	KC_CHECK_EQ(atomic_load(&b.runs), 1);
	/* settled: nothing more runs, even after the executor drains */
	KC_CHECK_EQ(kc_cancel_sync(&b.kc), -EALREADY);
}

/*
 * From inside its own function kc_cancel_sync returns -EDEADLK without
 * hanging, and a pending run of itself (self-deferred just before) is
 * cancelled.
 */
struct selfsync {
	struct kc	kc;
	atomic_int	runs;
	atomic_int	done;
	int		rc_defer, rc_sync, rc_sync2;
	unsigned	state_after;
	int		defer_self;
};

static void
selfsync_fn(void *obj, void *env, int status)
{
	struct selfsync *s = env;

	(void)obj;
	(void)status;
	if (atomic_fetch_add(&s->runs, 1) == 0) {
		if (s->defer_self)
			s->rc_defer = kc_defer(&s->kc, NULL, 1);
		s->rc_sync = kc_cancel_sync(&s->kc);
		s->state_after = kc_state(&s->kc);
		s->rc_sync2 = kc_cancel_sync(&s->kc);
		atomic_store(&s->done, 1);
	}
}

static void
test_sync_inside(struct kc_executor *ex, int defer_self)
{
	struct selfsync s;

	memset(&s, 0, sizeof(s));
	s.defer_self = defer_self;
	KC_CHECK_OK(kc_init(&s.kc, selfsync_fn, &s, ex, 0));
	KC_CHECK_OK(kc_run(&s.kc, NULL, 0));
	kct_wait_flag(&s.done, 10);
	KCT_WAIT(kc_state(&s.kc) == KC_STATE_IDLE, 10);
	KC_CHECK_EQ(s.rc_sync, -EDEADLK);
	KC_CHECK_EQ(s.rc_sync2, -EDEADLK);
	KC_CHECK(s.state_after & KC_STATE_RUNNING);
	if (defer_self) {
		KC_CHECK_OK(s.rc_defer);
		/* the self-deferred run was cancelled */
		KC_CHECK_EQ(kc_cancel_sync(&s.kc), -EALREADY);
	}
	KC_CHECK_EQ(atomic_load(&s.runs), 1);
}

int
main(void)
{
	struct kc_executor *soft, *thr1, *thr2;

	kct_begin("unit-cancel", 50);
	/* The same again where membarrier(2) is refused: see CMakeLists. */
	if (getenv("KCT_DENY_MEMBARRIER") != NULL)
		kct_deny_syscall(SYS_membarrier, ENOSYS);
	soft = kct_exec_soft("t-soft");
	thr1 = kct_exec_thread(1, "t-thr1");
	thr2 = kct_exec_thread(2, "t-thr2");

	test_pending(soft, 1);
	test_pending(thr1, 1);
	test_pending(thr2, 2);
	test_inprogress(thr1);
	test_inprogress(thr2);
	test_sync_waits(thr2, 0, 0);
	test_sync_waits(thr1, 0, 0);
	test_sync_waits(thr1, 0, 1);
	test_sync_waits(soft, 1, 0);
	test_sync_waits(soft, 1, 1);
	test_sync_inside(NULL, 0);
	test_sync_inside(soft, 0);
	test_sync_inside(thr2, 0);
	test_sync_inside(soft, 1);
	test_sync_inside(thr1, 1);

	kct_exec_finish(soft);
	kct_exec_finish(thr1);
	kct_exec_finish(thr2);
	return kct_done();
}
