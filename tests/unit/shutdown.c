/*
 * unit-shutdown: executors shut down with work pending.
 *   DRAIN runs everything pending (queued, timers at their time, and work
 *   the drained continuations trigger on the same executor).
 *   HANDBACK returns, through kc_next, exactly the pending kcs that did not
 *   run (queued ones first, then timers by deadline), each idle and reusable;
 *   runs + handed back == triggered; it needs a list pointer (-EINVAL and the
 *   executor untouched without one).
 *   kc_executor_close with work pending or running (not shut down) returns 0
 *   at once; the work still runs, and its done runs once, after it all, on
 *   its own executor, and the executor's threads exit (none of its name is
 *   left in /proc/self/task).  It may be called from inside a continuation,
 *   on the executor itself too (then done must not be aimed at it:
 *   -EINVAL); a second close before done is -EBADF, a shutdown -EALREADY.
 *   After shutdown, triggers return -ESHUTDOWN; a second shutdown -EALREADY.
 */
#include "kctest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct item {
	struct kc	 kc;
	atomic_int	 runs;
	uint64_t	 t0, delay, t_run;	/* timers */
	int		 chain;			/* re-trigger this many more */
	struct item	*next_in_chain;
	int		 handed;		/* seen in a handback list */
};

static void
item_fn(void *obj, void *env, int status)
{
	struct item *it = env;

	(void)obj;
	(void)status;
	it->t_run = kct_now_ns();
	if (it->chain > 0 && it->next_in_chain != NULL)
		KC_CHECK_OK(kc_defer(&it->next_in_chain->kc, NULL,
		    it->chain));
	atomic_fetch_add(&it->runs, 1);
}

static void
item_init(struct item *it, struct kc_executor *ex)
{
	memset(it, 0, sizeof(*it));
	KC_CHECK_OK(kc_init(&it->kc, item_fn, it, ex, 0));
}

static struct kc_executor *
make(int soft)
{
	return soft ? kct_exec_soft("t-soft") : kct_exec_thread(2, "t-thr");
}

static unsigned
nthreads(int soft)
{
	return soft ? 1 : 2;
}

/* After shutdown: every trigger kind gives -ESHUTDOWN and nothing runs. */
static void
check_after_shutdown(struct kc_executor *ex)
{
	struct kc *hb = (struct kc *)&hb;	/* must be set to NULL */
	struct item it;

	item_init(&it, ex);
	KC_CHECK_EQ(kc_run(&it.kc, NULL, 0), -ESHUTDOWN);
	KC_CHECK_EQ(kc_defer(&it.kc, NULL, 0), -ESHUTDOWN);
	KC_CHECK_EQ(kc_defer_after(&it.kc, 1000, NULL, 0), -ESHUTDOWN);
	KC_CHECK_EQ(kc_state(&it.kc), KC_STATE_IDLE);
	KC_CHECK_EQ(kc_cancel(&it.kc), -EALREADY);
	KC_CHECK_EQ(atomic_load(&it.runs), 0);
	KC_CHECK_EQ(kc_executor_shutdown(ex, KC_SHUTDOWN_DRAIN, NULL),
	    -EALREADY);
	KC_CHECK_EQ(kc_executor_shutdown(ex, KC_SHUTDOWN_HANDBACK, &hb),
	    -EALREADY);
	KC_CHECK_PTR_EQ(hb, NULL);
}

#define NQ	1000
#define NT	20
#define NCHAIN	10

/*
 * DRAIN with the executor held busy: NQ queued, NT timers (50 ms), and a
 * chain of NCHAIN continuations each deferring the next.  The gate is
 * released by another thread after shutdown has been called.
 */
static void
test_drain(int soft)
{
	struct kc_executor *ex = make(soft);
	struct item *q = calloc(NQ + NT + NCHAIN, sizeof(*q));
	struct item *tm = q + NQ, *ch = q + NQ + NT;
	struct kct_gate g[2];
	pthread_t rel[2];
	unsigned i, n = nthreads(soft);

	KC_CHECK(q != NULL);
	for (i = 0; i < n; i++)
		kct_gate_hold(&g[i], ex);
	for (i = 0; i < NQ; i++) {
		item_init(&q[i], ex);
		KC_CHECK_OK(kc_run(&q[i].kc, NULL, (int)i));
	}
	for (i = 0; i < NT; i++) {
		item_init(&tm[i], ex);
		tm[i].delay = 50 * KCT_NSEC_PER_MSEC;
		tm[i].t0 = kct_now_ns();
		KC_CHECK_OK(kc_defer_after(&tm[i].kc, tm[i].delay, NULL, 0));
	}
	for (i = 0; i < NCHAIN; i++)
		item_init(&ch[i], ex);
	for (i = 0; i + 1 < NCHAIN; i++) {
		ch[i].chain = (int)(NCHAIN - 1 - i);
		ch[i].next_in_chain = &ch[i + 1];
	}
	KC_CHECK_OK(kc_defer(&ch[0].kc, NULL, 0));
	for (i = 0; i < n; i++)
		rel[i] = kct_gate_release_later(&g[i], 50 * KCT_NSEC_PER_MSEC);
	KC_CHECK_OK(kc_executor_shutdown(ex, KC_SHUTDOWN_DRAIN, NULL));
	for (i = 0; i < n; i++) {
		kct_thread_join(rel[i]);
		KC_CHECK_EQ(atomic_load(&g[i].g_done), 1);
		KC_CHECK_EQ(kc_state(&g[i].g_kc), KC_STATE_IDLE);
	}
	for (i = 0; i < NQ + NT + NCHAIN; i++) {
		KC_CHECK_EQ(atomic_load(&q[i].runs), 1);
		KC_CHECK_EQ(kc_state(&q[i].kc), KC_STATE_IDLE);
	}
	for (i = 0; i < NT; i++)
		KC_CHECK_GE(tm[i].t_run, tm[i].t0 + tm[i].delay);
	check_after_shutdown(ex);
	KC_CHECK_OK(kc_executor_close(ex, NULL));
	free(q);
}

/* HANDBACK: what did not run comes back, idle and reusable. */
static void
test_handback(int soft)
{
	struct kc_executor *ex = make(soft), *ex2 = make(!soft);
	struct item *q = calloc(NQ + NT, sizeof(*q));
	struct item *cx;
	struct kct_gate g[2];
	pthread_t rel[2];
	struct kc *hb = NULL, *k;
	unsigned i, n = nthreads(soft), ran = 0, handed = 0;
	struct item *last_timer = NULL;

	KC_CHECK(q != NULL);
	cx = calloc(1, sizeof(*cx));
	KC_CHECK(cx != NULL);
	for (i = 0; i < n; i++)
		kct_gate_hold(&g[i], ex);
	for (i = 0; i < NQ; i++) {
		item_init(&q[i], ex);
		KC_CHECK_OK(kc_run(&q[i].kc, NULL, (int)i));
		KC_CHECK_OK(kc_run(&q[i].kc, NULL, (int)i));	/* coalesced */
	}
	for (i = NQ; i < NQ + NT; i++) {
		/*
		 * Far-future timers, deadlines in reverse order of arming,
		 * a second apart: a thread descheduled between two of them
		 * (a loaded machine, a sanitizer) must not swap their order.
		 */
		item_init(&q[i], ex);
		KC_CHECK_OK(kc_defer_after(&q[i].kc, 30 * KCT_NSEC_PER_SEC +
		    (NQ + NT - i) * KCT_NSEC_PER_SEC, NULL, 0));
	}
	/* a cancelled one: neither run nor handed back */
	item_init(cx, ex);
	KC_CHECK_OK(kc_run(&cx->kc, NULL, 0));
	KC_CHECK_EQ(kc_cancel(&cx->kc), 1);

	/* with pending work and no list to hand it back through: -EINVAL */
	KC_CHECK_EQ(kc_executor_shutdown(ex, KC_SHUTDOWN_HANDBACK, NULL),
	    -EINVAL);
	KC_CHECK_EQ(kc_executor_shutdown(ex, 12345, &hb), -EINVAL);

	for (i = 0; i < n; i++)
		rel[i] = kct_gate_release_later(&g[i], 50 * KCT_NSEC_PER_MSEC);
	KC_CHECK_OK(kc_executor_shutdown(ex, KC_SHUTDOWN_HANDBACK, &hb));
	for (i = 0; i < n; i++) {
		kct_thread_join(rel[i]);
		KC_CHECK_EQ(atomic_load(&g[i].g_done), 1);
		KC_CHECK_EQ(kc_state(&g[i].g_kc), KC_STATE_IDLE);
	}
	/* walk the list: each is one of ours, idle, not run, listed once */
	for (k = hb; k != NULL; k = kc_next(k)) {
		struct item *it = (struct item *)k;

		KC_CHECK(it >= q && it < q + NQ + NT);
		KC_CHECK_EQ(((char *)it - (char *)q) % sizeof(*it), 0);
		KC_CHECK_EQ(it->handed, 0);
		it->handed = 1;
		KC_CHECK_EQ(kc_state(k), KC_STATE_IDLE);
		KC_CHECK_EQ(atomic_load(&it->runs), 0);
		/* queued first, then timers by deadline */
		if (it >= q + NQ) {
			if (last_timer != NULL)
				KC_CHECK(it < last_timer);
			last_timer = it;
		} else {
			KC_CHECK(last_timer == NULL);
		}
		handed++;
		KC_CHECK_LE(handed, NQ + NT);
	}
	for (i = 0; i < NQ + NT; i++) {
		int r = atomic_load(&q[i].runs);

		KC_CHECK_LE(r, 1);
		KC_CHECK_EQ(r + q[i].handed, 1);	/* exactly one of the two */
		KC_CHECK_EQ(kc_state(&q[i].kc), KC_STATE_IDLE);
		ran += (unsigned)r;
	}
	KC_CHECK_EQ(ran + handed, NQ + NT);
	for (i = NQ; i < NQ + NT; i++)		/* the timers had not fired */
		KC_CHECK_EQ(q[i].handed, 1);
	KC_CHECK_EQ(atomic_load(&cx->runs), 0);
	KC_CHECK_EQ(kc_cancel_sync(&cx->kc), -EALREADY);
	KC_CHECK_EQ(kc_state(&cx->kc), KC_STATE_IDLE);
	free(cx);
	printf("handback(%s): %u ran, %u handed back\n", soft ? "soft" :
	    "thread", ran, handed);
	check_after_shutdown(ex);
	KC_CHECK_OK(kc_executor_close(ex, NULL));

	/* reuse every handed-back kc on another executor: each runs once */
	for (i = 0; i < NQ + NT; i++) {
		if (!q[i].handed)
			continue;
		KC_CHECK_OK(kc_init(&q[i].kc, item_fn, &q[i], ex2, 0));
		KC_CHECK_OK(kc_run(&q[i].kc, NULL, 0));
	}
	kct_exec_finish(ex2);
	for (i = 0; i < NQ + NT; i++)
		KC_CHECK_EQ(atomic_load(&q[i].runs), 1);
	free(q);
}

/*
 * HANDBACK with nothing pending: an empty list.  Without a list pointer it
 * is refused even then, and the executor is untouched.
 */
static void
test_handback_empty(int soft)
{
	struct kc_executor *ex = make(soft);
	struct kc *hb = (struct kc *)&hb;
	struct item it;

	KC_CHECK_EQ(kc_executor_shutdown(ex, KC_SHUTDOWN_HANDBACK, NULL),
	    -EINVAL);
	item_init(&it, ex);
	KC_CHECK_OK(kc_run(&it.kc, NULL, 0));
	KCT_WAIT(atomic_load(&it.runs) == 1, 10);
	KCT_WAIT(kc_state(&it.kc) == KC_STATE_IDLE, 10);
	KC_CHECK_OK(kc_executor_shutdown(ex, KC_SHUTDOWN_HANDBACK, &hb));
	KC_CHECK_PTR_EQ(hb, NULL);
	KC_CHECK_OK(kc_executor_close(ex, NULL));
}

/*
 * Close with work pending (a timer, queued work behind gates that hold
 * every thread): 0 at once, not waiting for the running continuations.
 * Everything still runs (the close drains), timers at their time; done
 * runs once, after it all, on its executor, and the threads exit.
 */
static void
test_close_busy(int soft)
{
	const char *name = soft ? "t-close-s" : "t-close-t";
	struct kc_executor *ex = soft ? kct_exec_soft(name) :
	    kct_exec_thread(2, name);
	struct kc_executor *other = kct_exec_soft("t-close-o");
	struct item *q = calloc(NQ + 1, sizeof(*q));
	struct kct_gate g[2];
	struct kct_done d;
	unsigned i, n = nthreads(soft);

	KC_CHECK(q != NULL);
	/* Each thread names itself as it starts. */
	KCT_WAIT(kct_tasks_named(name) == n, 10);
	item_init(&q[0], ex);
	q[0].t0 = kct_now_ns();
	KC_CHECK_OK(kc_defer_after(&q[0].kc, 200 * KCT_NSEC_PER_MSEC, NULL, 0));
	for (i = 0; i < n; i++)
		kct_gate_hold(&g[i], ex);
	for (i = 1; i < NQ; i++) {
		item_init(&q[i], ex);
		KC_CHECK_OK(kc_run(&q[i].kc, NULL, 0));
	}
	kct_done_init(&d, other);
	kct_check_close_busy(ex, g, n, &d.d_kc);
	/* Closing: a second close and a shutdown say so. */
	KC_CHECK_EQ(kc_executor_close(ex, NULL), -EBADF);
	KC_CHECK_EQ(kc_executor_shutdown(ex, KC_SHUTDOWN_DRAIN, NULL),
	    -EALREADY);
	/* Still accepting work while it drains. */
	item_init(&q[NQ], ex);
	KC_CHECK_OK(kc_run(&q[NQ].kc, NULL, 0));
	kct_sleep_ns(20 * KCT_NSEC_PER_MSEC);
	KC_CHECK_EQ(atomic_load(&d.d_runs), 0);
	for (i = 0; i < n; i++)
		kct_gate_release(&g[i]);
	for (i = 0; i < n; i++)
		kct_gate_wait(&g[i]);
	kct_done_wait(&d, ex);
	KC_CHECK_PTR_EQ(d.d_ran_on, other);
	for (i = 0; i <= NQ; i++)
		KC_CHECK_EQ(atomic_load(&q[i].runs), 1);
	KC_CHECK_GE(q[0].t_run, q[0].t0 + 200 * KCT_NSEC_PER_MSEC);
	/*
	 * Joined before done: a joined thread leaves /proc a moment after
	 * the join returns (the kernel wakes the joiner first), so allow
	 * that moment; a thread that had not exited would stay.
	 */
	KCT_WAIT(kct_tasks_named(name) == 0, 2);
	/* At once: the reaper may still be waking it (exec_free waits). */
	kct_exec_finish(other);
	free(q);
}

/* Shut down or closed from one of the executor's own threads. */
struct inside {
	struct kc		 kc;
	struct kc_executor	*ex;
	struct kc_executor	*other;		/* another executor */
	struct kct_done		 d, d_other;
	int			 rc_other;
	int			 rc_drain, rc_hb, rc_self, rc_close, rc_twice;
	atomic_int		 done;
	atomic_int		 runs;
};

static void
inside_fn(void *obj, void *env, int status)
{
	struct inside *s = env;
	struct kc *hb = NULL;
	struct kc self;

	(void)obj;
	(void)status;
	s->rc_drain = kc_executor_shutdown(s->ex, KC_SHUTDOWN_DRAIN, NULL);
	s->rc_hb = kc_executor_shutdown(s->ex, KC_SHUTDOWN_HANDBACK, &hb);
	/* done aimed at the executor it reports the end of: -EINVAL */
	KC_CHECK_OK(kc_init(&self, kct_count_fn, NULL, s->ex, 0));
	s->rc_self = kc_executor_close(s->ex, &self);
	s->rc_other = kc_executor_close(s->other, &s->d_other.d_kc);
	s->rc_close = kc_executor_close(s->ex, &s->d.d_kc);
	s->rc_twice = kc_executor_close(s->ex, NULL);
	/* This continuation still runs: nothing has ended yet. */
	KC_CHECK_EQ(atomic_load(&s->d.d_runs), 0);
	atomic_store(&s->done, 1);
	atomic_fetch_add(&s->runs, 1);
}

static void
test_inside(int soft)
{
	const char *name = soft ? "t-in-s" : "t-in-t";
	const char *oname = soft ? "t-in-ot" : "t-in-os";
	struct inside s;

	memset(&s, 0, sizeof(s));
	s.ex = soft ? kct_exec_soft(name) : kct_exec_thread(2, name);
	s.other = soft ? kct_exec_thread(2, oname) : kct_exec_soft(oname);
	kct_done_init(&s.d, NULL);
	kct_done_init(&s.d_other, NULL);
	KC_CHECK_OK(kc_init(&s.kc, inside_fn, &s, s.ex, 0));
	KC_CHECK_OK(kc_run(&s.kc, NULL, 0));
	kct_wait_flag(&s.done, 10);
	KC_CHECK_EQ(s.rc_drain, -EDEADLK);
	KC_CHECK_EQ(s.rc_hb, -EDEADLK);
	KC_CHECK_EQ(s.rc_self, -EINVAL);
	/* closing, itself or another, from inside a continuation: fine */
	KC_CHECK_OK(s.rc_other);
	KC_CHECK_OK(s.rc_close);
	KC_CHECK_EQ(s.rc_twice, -EBADF);
	kct_done_wait(&s.d_other, s.other);
	kct_done_wait(&s.d, s.ex);
	KC_CHECK_EQ(atomic_load(&s.runs), 1);
	KCT_WAIT(kct_tasks_named(name) == 0, 2);
	KCT_WAIT(kct_tasks_named(oname) == 0, 2);
}

/* Closed after a shutdown: freed in the call, done inline, NULL done. */
static void
test_close_stopped(int soft)
{
	struct kc_executor *ex = make(soft);
	struct kct_done d;

	KC_CHECK_OK(kc_executor_shutdown(ex, KC_SHUTDOWN_DRAIN, NULL));
	kct_done_init(&d, NULL);
	KC_CHECK_OK(kc_executor_close(ex, &d.d_kc));
	KC_CHECK_EQ(atomic_load(&d.d_runs), 1);
	KC_CHECK_EQ(d.d_tid, kct_gettid());
	kct_done_wait(&d, ex);
	/* NULL done, not shut down, idle: it goes all the same. */
	ex = soft ? kct_exec_soft("t-null-s") : kct_exec_thread(2, "t-null-t");
	KC_CHECK_OK(kc_executor_close(ex, NULL));
	KCT_WAIT(kct_tasks_named(soft ? "t-null-s" : "t-null-t") == 0, 10);
}

int
main(void)
{
	int soft;

	kct_begin("unit-shutdown", 55);
	for (soft = 1; soft >= 0; soft--) {
		test_drain(soft);
		test_handback(soft);
		test_handback_empty(soft);
		test_close_busy(soft);
		test_inside(soft);
		test_close_stopped(soft);
	}
	return kct_done();
}
