/*
 * unit-inline: kc_run runs inline iff the target is immediate or the calling
 * thread is one of the target executor's threads; kc_defer always queues.
 */
#include "kctest.h"

#include <string.h>

struct rec {
	struct kc		 kc;
	atomic_int		 runs;
	pid_t			 tid;
	pthread_t		 thread;
	struct kc_executor	*current;
	void			*obj;
	int			 status;
	uint32_t		 coalesced;
	unsigned		 state;
};

static void
rec_fn(void *obj, void *env, int status)
{
	struct rec *r = env;

	r->tid = kct_gettid();
	r->thread = pthread_self();
	r->current = kc_executor_current();
	r->obj = obj;
	r->status = status;
	r->coalesced = kc_coalesced();
	r->state = kc_state(&r->kc);
	atomic_fetch_add(&r->runs, 1);
}

static void
rec_init(struct rec *r, struct kc_executor *ex)
{
	memset(r, 0, sizeof(*r));
	KC_CHECK_OK(kc_init(&r->kc, rec_fn, r, ex, 0));
	KC_CHECK_EQ(kc_state(&r->kc), KC_STATE_IDLE);
}

/* Immediate continuations run on the triggering thread before kc_run returns. */
static void
test_immediate(void)
{
	struct rec r;
	int obj;

	rec_init(&r, NULL);
	KC_CHECK_EQ(kc_coalesced(), 0);
	KC_CHECK_PTR_EQ(kc_executor_current(), NULL);
	KC_CHECK_OK(kc_run(&r.kc, &obj, 42));
	KC_CHECK_EQ(atomic_load(&r.runs), 1);
	KC_CHECK_EQ(r.tid, kct_gettid());
	KC_CHECK(pthread_equal(r.thread, pthread_self()));
	KC_CHECK_PTR_EQ(r.current, NULL);
	KC_CHECK_PTR_EQ(r.obj, &obj);
	KC_CHECK_EQ(r.status, 42);
	KC_CHECK_EQ(r.coalesced, 1);
	KC_CHECK(r.state & KC_STATE_RUNNING);
	KC_CHECK_EQ(kc_state(&r.kc), KC_STATE_IDLE);
	KC_CHECK_EQ(kc_coalesced(), 0);
	/* and again: each trigger is one more inline run */
	KC_CHECK_OK(kc_run(&r.kc, NULL, -3));
	KC_CHECK_EQ(atomic_load(&r.runs), 2);
	KC_CHECK_EQ(r.status, -3);
	KC_CHECK_PTR_EQ(r.obj, NULL);
}

/*
 * From a plain thread onto an executor: deferred, runs on the executor's
 * thread.  The executor is held busy by gates first, so if kc_run had run
 * the function inline it would show before kc_run returned.
 */
static void
test_plain_to_exec(struct kc_executor *ex, unsigned nthreads)
{
	struct kct_gate g[4];
	struct rec r;
	unsigned i;
	int obj;

	/* one gate per executor thread: every worker is busy */
	KC_CHECK_LE(nthreads, 4);
	for (i = 0; i < nthreads; i++)
		kct_gate_hold(&g[i], ex);
	rec_init(&r, ex);
	KC_CHECK_OK(kc_run(&r.kc, &obj, 7));
	KC_CHECK_EQ(atomic_load(&r.runs), 0);		/* not inline */
	KC_CHECK(kc_state(&r.kc) & KC_STATE_PENDING);
	for (i = 0; i < nthreads; i++)
		kct_gate_release(&g[i]);
	for (i = 0; i < nthreads; i++)
		kct_gate_wait(&g[i]);
	KCT_WAIT(atomic_load(&r.runs) == 1, 10);
	KCT_WAIT(kc_state(&r.kc) == KC_STATE_IDLE, 10);
	KC_CHECK_NE(r.tid, kct_gettid());
	KC_CHECK(!pthread_equal(r.thread, pthread_self()));
	KC_CHECK_PTR_EQ(r.current, ex);
	KC_CHECK_PTR_EQ(r.obj, &obj);
	KC_CHECK_EQ(r.status, 7);
	KC_CHECK_EQ(r.coalesced, 1);
	KC_CHECK(r.state & KC_STATE_RUNNING);
	KC_CHECK(!(r.state & KC_STATE_PENDING));
}

/*
 * Soft executor: the deferred run is on the executor's one thread (the same
 * thread the gate ran on).
 */
static void
test_soft_thread_identity(struct kc_executor *ex)
{
	struct kct_gate g;
	struct rec r;

	kct_gate_hold(&g, ex);
	kct_gate_release(&g);
	kct_gate_wait(&g);
	rec_init(&r, ex);
	KC_CHECK_OK(kc_run(&r.kc, NULL, 0));
	KCT_WAIT(atomic_load(&r.runs) == 1, 10);
	KC_CHECK_EQ(r.tid, g.g_tid);
	KC_CHECK(pthread_equal(r.thread, g.g_thread));
}

/* Continuation that triggers others from its executor's thread. */
struct outer {
	struct kc	 kc;
	struct rec	*inl;		/* kc_run: must run inline */
	struct rec	*def;		/* kc_defer: must not run inline */
	atomic_int	 done;
	int		 rc_run, rc_defer;
	int		 inl_runs_after, def_runs_after;
	pid_t		 tid;
	unsigned	 def_state;
	struct kc_executor *current;
};

static void
outer_fn(void *obj, void *env, int status)
{
	struct outer *o = env;

	(void)obj;
	(void)status;
	o->tid = kct_gettid();
	o->current = kc_executor_current();
	o->rc_run = kc_run(&o->inl->kc, o, 11);
	o->inl_runs_after = atomic_load(&o->inl->runs);
	o->rc_defer = kc_defer(&o->def->kc, o, 12);
	o->def_runs_after = atomic_load(&o->def->runs);
	o->def_state = kc_state(&o->def->kc);
	atomic_store(&o->done, 1);
}

static void
test_from_inside(struct kc_executor *ex, int soft)
{
	struct outer o;
	struct rec inl, def;

	memset(&o, 0, sizeof(o));
	rec_init(&inl, ex);
	rec_init(&def, ex);
	o.inl = &inl;
	o.def = &def;
	KC_CHECK_OK(kc_init(&o.kc, outer_fn, &o, ex, 0));
	KC_CHECK_OK(kc_run(&o.kc, NULL, 0));
	kct_wait_flag(&o.done, 10);
	KC_CHECK_PTR_EQ(o.current, ex);
	KC_CHECK_NE(o.tid, kct_gettid());
	/* kc_run from the executor's own thread: inline, same thread */
	KC_CHECK_OK(o.rc_run);
	KC_CHECK_EQ(o.inl_runs_after, 1);
	KC_CHECK_EQ(inl.tid, o.tid);
	KC_CHECK_PTR_EQ(inl.obj, &o);
	KC_CHECK_EQ(inl.status, 11);
	KC_CHECK_EQ(inl.coalesced, 1);
	KC_CHECK_PTR_EQ(inl.current, ex);
	/* kc_defer from the executor's own thread: still queued */
	KC_CHECK_OK(o.rc_defer);
	if (soft) {
		/* one thread, one continuation at a time: cannot have run yet */
		KC_CHECK_EQ(o.def_runs_after, 0);
		KC_CHECK(o.def_state & KC_STATE_PENDING);
	}
	KCT_WAIT(atomic_load(&def.runs) == 1, 10);
	KC_CHECK_PTR_EQ(def.obj, &o);
	KC_CHECK_EQ(def.status, 12);
	KC_CHECK_PTR_EQ(def.current, ex);
	if (soft)
		KC_CHECK_EQ(def.tid, o.tid);
	KCT_WAIT(kc_state(&def.kc) == KC_STATE_IDLE, 10);
	KCT_WAIT(kc_state(&o.kc) == KC_STATE_IDLE, 10);
	KC_CHECK_EQ(atomic_load(&inl.runs), 1);
	KC_CHECK_EQ(atomic_load(&def.runs), 1);
}

/*
 * kc_defer from the executor's own thread defers even for the running
 * continuation itself: a soft executor is held by the running function, which
 * checks that its self-defer has not run before it returns.
 */
struct selfdefer {
	struct kc	kc;
	atomic_int	runs;
	int		seen_runs_after_defer;
	int		rc;
};

static void
selfdefer_fn(void *obj, void *env, int status)
{
	struct selfdefer *s = env;
	int n = atomic_fetch_add(&s->runs, 1) + 1;

	(void)obj;
	(void)status;
	if (n == 1) {
		s->rc = kc_defer(&s->kc, NULL, 0);
		s->seen_runs_after_defer = atomic_load(&s->runs);
	}
}

static void
test_self_defer(struct kc_executor *ex)
{
	struct selfdefer s;

	memset(&s, 0, sizeof(s));
	KC_CHECK_OK(kc_init(&s.kc, selfdefer_fn, &s, ex, 0));
	KC_CHECK_OK(kc_defer(&s.kc, NULL, 0));
	KCT_WAIT(atomic_load(&s.runs) == 2, 10);
	KC_CHECK_OK(s.rc);
	KC_CHECK_EQ(s.seen_runs_after_defer, 1);
	KCT_WAIT(kc_state(&s.kc) == KC_STATE_IDLE, 10);
	KC_CHECK_EQ(atomic_load(&s.runs), 2);
}

/*
 * A continuation on an executor that re-triggers itself with kc_run runs
 * inline (nested) up to KC_INLINE_DEPTH_MAX, and past that is deferred
 * instead: every trigger returns 0 and every one runs.
 */
#define CHAIN_RUNS	40
static _Thread_local int chain_depth;
struct chain {
	struct kc	kc;
	atomic_int	runs;
	atomic_int	max_depth;
	atomic_int	bad_rc;
};

static void
chain_fn(void *obj, void *env, int status)
{
	struct chain *c = env;
	int depth = ++chain_depth;
	int n;

	(void)obj;
	(void)status;
	if (depth > atomic_load(&c->max_depth))
		atomic_store(&c->max_depth, depth);
	n = atomic_fetch_add(&c->runs, 1) + 1;
	if (n < CHAIN_RUNS) {
		int rc = kc_run(&c->kc, NULL, n);

		if (rc != 0)
			atomic_store(&c->bad_rc, rc);
	}
	chain_depth--;
}

static void
test_depth(struct kc_executor *ex)
{
	struct chain c;

	memset(&c, 0, sizeof(c));
	KC_CHECK_OK(kc_init(&c.kc, chain_fn, &c, ex, 0));
	KC_CHECK_OK(kc_run(&c.kc, NULL, 0));
	KCT_WAIT(atomic_load(&c.runs) == CHAIN_RUNS, 10);
	KCT_WAIT(kc_state(&c.kc) == KC_STATE_IDLE, 10);
	KC_CHECK_EQ(atomic_load(&c.bad_rc), 0);
	KC_CHECK_EQ(atomic_load(&c.runs), CHAIN_RUNS);
	KC_CHECK_GE(atomic_load(&c.max_depth), 2);	/* it did nest inline */
	/* the queued run plus at most KC_INLINE_DEPTH_MAX inline ones */
	KC_CHECK_LE(atomic_load(&c.max_depth), KC_INLINE_DEPTH_MAX + 1);
}

/* An immediate kc triggered from an executor thread runs inline there. */
struct imm_from_exec {
	struct kc	 kc;
	struct rec	*imm;
	atomic_int	 done;
	int		 rc, runs_after;
	pid_t		 tid;
};

static void
imm_from_exec_fn(void *obj, void *env, int status)
{
	struct imm_from_exec *o = env;

	(void)obj;
	(void)status;
	o->tid = kct_gettid();
	o->rc = kc_run(&o->imm->kc, NULL, 5);
	o->runs_after = atomic_load(&o->imm->runs);
	atomic_store(&o->done, 1);
}

static void
test_immediate_from_exec(struct kc_executor *ex)
{
	struct imm_from_exec o;
	struct rec imm;

	memset(&o, 0, sizeof(o));
	rec_init(&imm, NULL);
	o.imm = &imm;
	KC_CHECK_OK(kc_init(&o.kc, imm_from_exec_fn, &o, ex, 0));
	KC_CHECK_OK(kc_run(&o.kc, NULL, 0));
	kct_wait_flag(&o.done, 10);
	KC_CHECK_OK(o.rc);
	KC_CHECK_EQ(o.runs_after, 1);
	KC_CHECK_EQ(imm.tid, o.tid);
	KC_CHECK_PTR_EQ(imm.current, ex);	/* on ex's thread */
	KCT_WAIT(kc_state(&o.kc) == KC_STATE_IDLE, 10);
}

/* Plain thread triggering onto a thread executor from a second plain thread. */
static void *
plain_thread_main(void *arg)
{
	struct kc_executor *ex = arg;
	struct rec r;

	KC_CHECK_PTR_EQ(kc_executor_current(), NULL);
	rec_init(&r, ex);
	KC_CHECK_OK(kc_run(&r.kc, NULL, 1));
	KCT_WAIT(atomic_load(&r.runs) == 1, 10);
	KCT_WAIT(kc_state(&r.kc) == KC_STATE_IDLE, 10);
	KC_CHECK_NE(r.tid, kct_gettid());
	KC_CHECK_PTR_EQ(r.current, ex);
	return NULL;
}

int
main(void)
{
	struct kc_executor *soft, *thr;

	kct_begin("unit-inline", 50);
	soft = kct_exec_soft("t-soft");
	thr = kct_exec_thread(2, "t-thr");

	test_immediate();
	test_plain_to_exec(soft, 1);
	test_plain_to_exec(thr, 2);
	test_soft_thread_identity(soft);
	test_from_inside(soft, 1);
	test_from_inside(thr, 0);
	test_self_defer(soft);
	test_depth(soft);
	test_depth(thr);
	test_immediate_from_exec(soft);
	test_immediate_from_exec(thr);
	kct_thread_join(kct_thread_start(plain_thread_main, thr));
	kct_thread_join(kct_thread_start(plain_thread_main, soft));

	kct_exec_finish(soft);
	kct_exec_finish(thr);
	return kct_done();
}
