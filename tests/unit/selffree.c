/*
 * unit-selffree: the library never touches a kc after calling its function,
 * so the function may free (or re-initialise and reuse) the storage holding
 * its own kc.  Heap kcs freed inside their own function, on the inline path
 * (immediate, and inline on an executor's own thread), the deferred path (soft
 * and thread executors), after coalescing, and from a timer.  Run under ASan
 * by the sanitizer build: any later touch is a heap-use-after-free.
 */
#include "kctest.h"

#include <stdlib.h>
#include <string.h>

static atomic_int freed;		/* functions that freed their kc */

struct heapkc {
	struct kc	kc;
	int		magic;
	char		pad[40];
};

static void
free_fn(void *obj, void *env, int status)
{
	struct heapkc *h = env;

	(void)obj;
	(void)status;
	KC_CHECK_EQ(h->magic, 0x5eed);
	h->magic = 0;
	memset(h, 0xdd, sizeof(*h));	/* poison, then free */
	free(h);
	atomic_fetch_add(&freed, 1);
}

static struct heapkc *
heapkc_new(struct kc_executor *ex)
{
	struct heapkc *h = malloc(sizeof(*h));

	KC_CHECK(h != NULL);
	memset(h, 0xa5, sizeof(*h));	/* garbage before kc_init */
	KC_CHECK_OK(kc_init(&h->kc, free_fn, h, ex, 0));
	h->magic = 0x5eed;
	return h;
}

/* Immediate: freed inline, before kc_run returns. */
static void
test_immediate(void)
{
	int i, base = atomic_load(&freed);

	for (i = 0; i < 1000; i++) {
		KC_CHECK_OK(kc_run(&heapkc_new(NULL)->kc, NULL, i));
		KC_CHECK_EQ(atomic_load(&freed), base + i + 1);
	}
}

/* Deferred from a plain thread onto ex. */
static void
test_deferred(struct kc_executor *ex, int use_defer)
{
	int i, base = atomic_load(&freed);
	const int n = 2000;

	for (i = 0; i < n; i++) {
		struct heapkc *h = heapkc_new(ex);

		if (use_defer)
			KC_CHECK_OK(kc_defer(&h->kc, NULL, i));
		else
			KC_CHECK_OK(kc_run(&h->kc, NULL, i));
	}
	KCT_WAIT(atomic_load(&freed) == base + n, 20);
}

/*
 * Inline on an executor's own thread: a continuation on ex creates heap kcs
 * aimed at ex and kc_runs them; each is freed before kc_run returns.
 */
struct spawner {
	struct kc		 kc;
	struct kc_executor	*ex;
	atomic_int		 done;
	int			 bad;
};

static void
spawner_fn(void *obj, void *env, int status)
{
	struct spawner *s = env;
	int i, base = atomic_load(&freed);

	(void)obj;
	(void)status;
	for (i = 0; i < 500; i++) {
		struct heapkc *h = heapkc_new(s->ex);

		if (kc_run(&h->kc, NULL, i) != 0)
			s->bad = 1;
		else if (atomic_load(&freed) != base + i + 1)
			s->bad = 2;	/* did not run inline */
	}
	/* and deferred ones from the executor's own thread */
	for (i = 0; i < 500; i++) {
		struct heapkc *h = heapkc_new(s->ex);

		if (kc_defer(&h->kc, NULL, i) != 0)
			s->bad = 3;
	}
	atomic_store(&s->done, 1);
}

static void
test_inline_on_exec(struct kc_executor *ex)
{
	struct spawner s;
	int base = atomic_load(&freed);

	memset(&s, 0, sizeof(s));
	s.ex = ex;
	KC_CHECK_OK(kc_init(&s.kc, spawner_fn, &s, ex, 0));
	KC_CHECK_OK(kc_run(&s.kc, NULL, 0));
	kct_wait_flag(&s.done, 20);
	KC_CHECK_EQ(s.bad, 0);
	KCT_WAIT(atomic_load(&freed) == base + 1000, 20);
	KCT_WAIT(kc_state(&s.kc) == KC_STATE_IDLE, 10);
}

/* Coalesced triggers of a kc that frees itself: one run, one free. */
static void
test_coalesced(struct kc_executor *soft)
{
	struct kct_gate g;
	int i, j, base = atomic_load(&freed);

	kct_gate_hold(&g, soft);
	for (i = 0; i < 100; i++) {
		struct heapkc *h = heapkc_new(soft);

		for (j = 0; j < 5; j++)
			KC_CHECK_OK(kc_run(&h->kc, NULL, j));
	}
	kct_gate_release(&g);
	kct_gate_wait(&g);
	KCT_WAIT(atomic_load(&freed) == base + 100, 20);
}

/* From a timer. */
static void
test_timer(struct kc_executor *ex)
{
	int i, base = atomic_load(&freed);

	for (i = 0; i < 200; i++)
		KC_CHECK_OK(kc_defer_after(&heapkc_new(ex)->kc,
		    (uint64_t)(i % 7) * 100000, NULL, i));
	KCT_WAIT(atomic_load(&freed) == base + 200, 20);
}

/*
 * Reuse: the function re-initialises its own (running) kc with a different
 * function and defers it again; the library must not have clobbered it
 * afterwards, so the chain completes.
 */
struct reuse {
	struct kc		 kc;
	struct kc_executor	*ex;
	atomic_int		 a_runs, b_runs;
	atomic_int		 bad;
	int			 left;
};

static void reuse_b(void *, void *, int);

static void
reuse_a(void *obj, void *env, int status)
{
	struct reuse *r = env;

	(void)obj;
	(void)status;
	atomic_fetch_add(&r->a_runs, 1);
	if (r->left-- > 0) {
		if (kc_init(&r->kc, reuse_b, r, r->ex, 0) != 0 ||
		    kc_defer(&r->kc, r, 2) != 0)
			atomic_store(&r->bad, 1);
	}
}

static void
reuse_b(void *obj, void *env, int status)
{
	struct reuse *r = env;

	if (obj != r || status != 2)
		atomic_store(&r->bad, 2);
	atomic_fetch_add(&r->b_runs, 1);
	if (r->left-- > 0) {
		if (kc_init(&r->kc, reuse_a, r, r->ex, 0) != 0 ||
		    kc_defer(&r->kc, NULL, 1) != 0)
			atomic_store(&r->bad, 3);
	}
}

static void
test_reuse(struct kc_executor *ex)
{
	struct reuse *r = calloc(1, sizeof(*r));

	KC_CHECK(r != NULL);
	r->ex = ex;
	r->left = 99;
	KC_CHECK_OK(kc_init(&r->kc, reuse_a, r, ex, 0));
	KC_CHECK_OK(kc_run(&r->kc, NULL, 1));
	KCT_WAIT(atomic_load(&r->a_runs) + atomic_load(&r->b_runs) == 100, 20);
	KCT_WAIT(kc_state(&r->kc) == KC_STATE_IDLE, 10);
	KC_CHECK_EQ(atomic_load(&r->bad), 0);
	KC_CHECK_EQ(atomic_load(&r->a_runs), 50);
	KC_CHECK_EQ(atomic_load(&r->b_runs), 50);
	free(r);
}

int
main(void)
{
	struct kc_executor *soft, *thr;

	kct_begin("unit-selffree", 50);
	soft = kct_exec_soft("t-soft");
	thr = kct_exec_thread(3, "t-thr");

	test_immediate();
	test_deferred(soft, 0);
	test_deferred(soft, 1);
	test_deferred(thr, 0);
	test_deferred(thr, 1);
	test_inline_on_exec(soft);
	test_inline_on_exec(thr);
	test_coalesced(soft);
	test_timer(soft);
	test_timer(thr);
	test_reuse(soft);
	test_reuse(thr);

	kct_exec_finish(soft);
	kct_exec_finish(thr);
	return kct_done();
}
