/*
 * unit-crossexec: run-or-defer depends on nothing but "is this thread running
 * the target executor?".  Two soft executors A and B: a continuation on A
 * triggering one aimed at B defers it (and vice versa), a continuation on A
 * triggering one aimed at A runs it inline, and neither executor waits for
 * the other (no ordering between executors).
 */
#include "kctest.h"

#include <string.h>

struct rec {
	struct kc		 kc;
	atomic_int		 runs;
	pid_t			 tid;
	struct kc_executor	*current;
	void			*obj;
	int			 status;
};

static void
rec_fn(void *obj, void *env, int status)
{
	struct rec *r = env;

	r->tid = kct_gettid();
	r->current = kc_executor_current();
	r->obj = obj;
	r->status = status;
	atomic_fetch_add(&r->runs, 1);
}

static void
rec_init(struct rec *r, struct kc_executor *ex)
{
	memset(r, 0, sizeof(*r));
	KC_CHECK_OK(kc_init(&r->kc, rec_fn, r, ex, 0));
}

/* A continuation on `from` that triggers `other` (cross) and `same` (own). */
struct trig {
	struct kc	 kc;
	struct rec	*other, *same;
	atomic_int	 done;
	int		 rc_other, rc_same;
	int		 other_after, same_after;
	pid_t		 tid;
	struct kc_executor *current;
};

static void
trig_fn(void *obj, void *env, int status)
{
	struct trig *t = env;

	(void)obj;
	(void)status;
	t->tid = kct_gettid();
	t->current = kc_executor_current();
	t->rc_other = kc_run(&t->other->kc, t, 21);
	t->other_after = atomic_load(&t->other->runs);
	if (t->same != NULL) {
		t->rc_same = kc_run(&t->same->kc, t, 22);
		t->same_after = atomic_load(&t->same->runs);
	}
	atomic_store(&t->done, 1);
}

/*
 * A continuation on `from` triggers one aimed at `to` while `to` is held busy
 * by a gate: kc_run returns with it not run (deferred, not inline), and it
 * later runs on `to`'s thread.  A second one aimed at `from` runs inline,
 * whatever `to` is doing.
 */
static void
cross(struct kc_executor *from, struct kc_executor *to, unsigned nto)
{
	struct kct_gate gto[2];
	struct rec other, same;
	struct trig t;
	unsigned i;

	/* every thread of `to` is held */
	KC_CHECK_LE(nto, 2);
	for (i = 0; i < nto; i++)
		kct_gate_hold(&gto[i], to);
	rec_init(&other, to);
	rec_init(&same, from);
	memset(&t, 0, sizeof(t));
	t.other = &other;
	t.same = &same;
	KC_CHECK_OK(kc_init(&t.kc, trig_fn, &t, from, 0));
	KC_CHECK_OK(kc_run(&t.kc, NULL, 0));
	kct_wait_flag(&t.done, 10);		/* `to` is still held */
	KC_CHECK_PTR_EQ(t.current, from);
	KC_CHECK_OK(t.rc_other);
	KC_CHECK_EQ(t.other_after, 0);		/* deferred */
	KC_CHECK(kc_state(&other.kc) & KC_STATE_PENDING);
	KC_CHECK_OK(t.rc_same);
	KC_CHECK_EQ(t.same_after, 1);		/* inline on from */
	KC_CHECK_EQ(same.tid, t.tid);
	KC_CHECK_PTR_EQ(same.current, from);
	KC_CHECK_PTR_EQ(same.obj, &t);
	KC_CHECK_EQ(same.status, 22);

	KC_CHECK_EQ(atomic_load(&other.runs), 0);
	for (i = 0; i < nto; i++)
		kct_gate_release(&gto[i]);
	for (i = 0; i < nto; i++)
		kct_gate_wait(&gto[i]);
	KCT_WAIT(atomic_load(&other.runs) == 1, 10);
	KCT_WAIT(kc_state(&other.kc) == KC_STATE_IDLE, 10);
	KCT_WAIT(kc_state(&t.kc) == KC_STATE_IDLE, 10);
	/* on one of to's threads */
	KC_CHECK(other.tid == gto[0].g_tid ||
	    (nto > 1 && other.tid == gto[1].g_tid));
	KC_CHECK_NE(other.tid, t.tid);
	KC_CHECK_PTR_EQ(other.current, to);
	KC_CHECK_PTR_EQ(other.obj, &t);
	KC_CHECK_EQ(other.status, 21);
	KC_CHECK_EQ(atomic_load(&same.runs), 1);
}

/*
 * No ordering: with A held busy, work queued on B runs (B does not wait for
 * A), and with A held, a continuation on B that triggers A's work just queues
 * it; it runs once A is released.
 */
static void
no_ordering(struct kc_executor *a, struct kc_executor *b)
{
	struct kct_gate ga;
	struct rec onb, ona;
	struct trig t;
	int i;

	kct_gate_hold(&ga, a);
	for (i = 0; i < 10; i++) {
		rec_init(&onb, b);
		KC_CHECK_OK(kc_run(&onb.kc, NULL, i));
		KCT_WAIT(atomic_load(&onb.runs) == 1, 10);
		KCT_WAIT(kc_state(&onb.kc) == KC_STATE_IDLE, 10);
		KC_CHECK_PTR_EQ(onb.current, b);
		KC_CHECK_EQ(onb.status, i);
	}
	/* B -> A while A is busy: deferred; B carries on */
	rec_init(&ona, a);
	memset(&t, 0, sizeof(t));
	t.other = &ona;
	KC_CHECK_OK(kc_init(&t.kc, trig_fn, &t, b, 0));
	KC_CHECK_OK(kc_run(&t.kc, NULL, 0));
	kct_wait_flag(&t.done, 10);
	KC_CHECK_OK(t.rc_other);
	KC_CHECK_EQ(t.other_after, 0);
	KCT_WAIT(kc_state(&t.kc) == KC_STATE_IDLE, 10);
	KC_CHECK_EQ(atomic_load(&ona.runs), 0);	/* A is still held */
	kct_gate_release(&ga);
	kct_gate_wait(&ga);
	KCT_WAIT(atomic_load(&ona.runs) == 1, 10);
	KCT_WAIT(kc_state(&ona.kc) == KC_STATE_IDLE, 10);
	KC_CHECK_PTR_EQ(ona.current, a);
	KC_CHECK_EQ(ona.tid, ga.g_tid);
}

/*
 * Ping-pong: a kc on A triggers one on B, which triggers one on A, ... each
 * hop is a deferral to the other executor's thread; every hop runs once on
 * the right executor.
 */
#define HOPS 200
struct pp {
	struct kc		 kc[2];
	struct kc_executor	*ex[2];
	atomic_int		 hops;
	atomic_int		 bad;
};

static void
pp_fn(void *obj, void *env, int status)
{
	struct pp *p = env;
	int side = status & 1;
	int n;

	(void)obj;
	if (kc_executor_current() != p->ex[side])
		atomic_store(&p->bad, 1);
	n = atomic_fetch_add(&p->hops, 1) + 1;
	if (n < HOPS && kc_run(&p->kc[!side], NULL, !side) != 0)
		atomic_store(&p->bad, 2);
}

static void
ping_pong(struct kc_executor *a, struct kc_executor *b)
{
	struct pp p;

	memset(&p, 0, sizeof(p));
	p.ex[0] = a;
	p.ex[1] = b;
	KC_CHECK_OK(kc_init(&p.kc[0], pp_fn, &p, a, 0));
	KC_CHECK_OK(kc_init(&p.kc[1], pp_fn, &p, b, 0));
	KC_CHECK_OK(kc_run(&p.kc[0], NULL, 0));
	KCT_WAIT(atomic_load(&p.hops) == HOPS, 20);
	KCT_WAIT(kc_state(&p.kc[0]) == KC_STATE_IDLE &&
	    kc_state(&p.kc[1]) == KC_STATE_IDLE, 10);
	KC_CHECK_EQ(atomic_load(&p.bad), 0);
	KC_CHECK_EQ(atomic_load(&p.hops), HOPS);
}

int
main(void)
{
	struct kc_executor *a, *b, *t;

	kct_begin("unit-crossexec", 50);
	a = kct_exec_soft("t-A");
	b = kct_exec_soft("t-B");
	t = kct_exec_thread(2, "t-T");

	cross(a, b, 1);
	cross(b, a, 1);
	cross(a, t, 2);
	cross(t, a, 1);
	no_ordering(a, b);
	no_ordering(b, a);
	ping_pong(a, b);
	ping_pong(b, t);

	kct_exec_finish(a);
	kct_exec_finish(b);
	kct_exec_finish(t);
	return kct_done();
}
