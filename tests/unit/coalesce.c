/*
 * unit-coalesce: triggering a pending continuation coalesces: exactly one
 * run, with the FIRST trigger's obj and status, and kc_coalesced() inside the
 * function equal to the number of triggers.  The executor is held busy by a
 * gate (a continuation spinning on an atomic flag) while the triggers land.
 */
#include "kctest.h"

#include <string.h>

#define MAXRUNS 64

struct rec {
	struct kc	kc;
	atomic_int	runs;
	void		*obj[MAXRUNS];
	int		status[MAXRUNS];
	uint32_t	coalesced[MAXRUNS];
};

static void
rec_fn(void *obj, void *env, int status)
{
	struct rec *r = env;
	int n = atomic_load(&r->runs);

	if (n < MAXRUNS) {
		r->obj[n] = obj;
		r->status[n] = status;
		r->coalesced[n] = kc_coalesced();
	}
	atomic_store(&r->runs, n + 1);
}

static struct kc_executor *
make(int soft)
{
	return soft ? kct_exec_soft("t-soft") : kct_exec_thread(1, "t-thr1");
}

static char objs[10000];

/* k triggers from one thread, mixing kc_run and kc_defer. */
static void
test_k(int soft, int k)
{
	struct kc_executor *ex = make(soft);
	struct kct_gate g;
	struct rec r;
	int i;

	memset(&r, 0, sizeof(r));
	KC_CHECK_OK(kc_init(&r.kc, rec_fn, &r, ex, 0));
	kct_gate_hold(&g, ex);
	for (i = 0; i < k; i++) {
		if (i % 3 == 2)
			KC_CHECK_OK(kc_defer(&r.kc, &objs[i], 1000 + i));
		else
			KC_CHECK_OK(kc_run(&r.kc, &objs[i], 1000 + i));
		KC_CHECK_EQ(kc_state(&r.kc), KC_STATE_PENDING);
	}
	KC_CHECK_EQ(atomic_load(&r.runs), 0);
	kct_gate_release(&g);
	kct_gate_wait(&g);
	KCT_WAIT(atomic_load(&r.runs) >= 1, 10);
	KCT_WAIT(kc_state(&r.kc) == KC_STATE_IDLE, 10);
	/* drain: anything still pending runs before shutdown returns */
	kct_exec_finish(ex);
	KC_CHECK_EQ(atomic_load(&r.runs), 1);
	KC_CHECK_EQ(r.coalesced[0], (uint32_t)k);
	KC_CHECK_PTR_EQ(r.obj[0], &objs[0]);
	KC_CHECK_EQ(r.status[0], 1000);
}

/*
 * Rounds: the count starts again after each run.  Round j triggers j+1 times
 * while held; run j must say j+1 with round j's first obj.
 */
static void
test_rounds(int soft)
{
	struct kc_executor *ex = make(soft);
	struct kct_gate g;
	struct rec r;
	int j, i;

	memset(&r, 0, sizeof(r));
	KC_CHECK_OK(kc_init(&r.kc, rec_fn, &r, ex, 0));
	for (j = 0; j < 10; j++) {
		kct_gate_hold(&g, ex);
		for (i = 0; i <= j; i++)
			KC_CHECK_OK(kc_run(&r.kc, &objs[100 * j + i], j));
		kct_gate_release(&g);
		kct_gate_wait(&g);
		KCT_WAIT(atomic_load(&r.runs) == j + 1, 10);
		KCT_WAIT(kc_state(&r.kc) == KC_STATE_IDLE, 10);
	}
	kct_exec_finish(ex);
	KC_CHECK_EQ(atomic_load(&r.runs), 10);
	for (j = 0; j < 10; j++) {
		KC_CHECK_EQ(r.coalesced[j], (uint32_t)(j + 1));
		KC_CHECK_PTR_EQ(r.obj[j], &objs[100 * j]);
		KC_CHECK_EQ(r.status[j], j);
	}
}

/* Triggers from several threads at once: one run counting all of them. */
#define NTHR	4
#define PER	2500
struct mt {
	struct rec	*r;
	atomic_int	*go;
	int		 idx;
};

static void *
mt_main(void *arg)
{
	struct mt *m = arg;
	int i;

	kct_wait_flag(m->go, 10);
	for (i = 0; i < PER; i++)
		KC_CHECK_OK(kc_run(&m->r->kc, &objs[m->idx], m->idx));
	return NULL;
}

static void
test_threads(int soft)
{
	struct kc_executor *ex = make(soft);
	struct kct_gate g;
	struct rec r;
	struct mt m[NTHR];
	pthread_t t[NTHR];
	atomic_int go = 0;
	int i;

	memset(&r, 0, sizeof(r));
	KC_CHECK_OK(kc_init(&r.kc, rec_fn, &r, ex, 0));
	kct_gate_hold(&g, ex);
	for (i = 0; i < NTHR; i++) {
		m[i].r = &r;
		m[i].go = &go;
		m[i].idx = i + 1;
		t[i] = kct_thread_start(mt_main, &m[i]);
	}
	/* a first trigger from here, so the first obj is known */
	KC_CHECK_OK(kc_run(&r.kc, &objs[0], 0));
	atomic_store(&go, 1);
	for (i = 0; i < NTHR; i++)
		kct_thread_join(t[i]);
	kct_gate_release(&g);
	kct_gate_wait(&g);
	kct_exec_finish(ex);
	KC_CHECK_EQ(atomic_load(&r.runs), 1);
	KC_CHECK_EQ(r.coalesced[0], (uint32_t)(NTHR * PER + 1));
	KC_CHECK_PTR_EQ(r.obj[0], &objs[0]);
	KC_CHECK_EQ(r.status[0], 0);
}

/* An uncoalesced run says 1; outside any continuation kc_coalesced() is 0. */
static void
test_single(int soft)
{
	struct kc_executor *ex = make(soft);
	struct rec r;

	memset(&r, 0, sizeof(r));
	KC_CHECK_OK(kc_init(&r.kc, rec_fn, &r, ex, 0));
	KC_CHECK_OK(kc_run(&r.kc, &objs[5], 5));
	KCT_WAIT(atomic_load(&r.runs) == 1, 10);
	kct_exec_finish(ex);
	KC_CHECK_EQ(atomic_load(&r.runs), 1);
	KC_CHECK_EQ(r.coalesced[0], 1);
	KC_CHECK_EQ(kc_coalesced(), 0);
}

int
main(void)
{
	int soft;

	kct_begin("unit-coalesce", 50);
	for (soft = 1; soft >= 0; soft--) {
		test_single(soft);
		test_k(soft, 1);
		test_k(soft, 2);
		test_k(soft, 7);
		test_k(soft, 1000);
		test_rounds(soft);
		test_threads(soft);
	}
	return kct_done();
}
