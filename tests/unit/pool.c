/*
 * unit-pool: the continuation pool.
 *   kc_alloc + KC_AUTOFREE: the kc returns to its pool after it runs (also
 *   when a cancelled run is unlinked), kc_pool_inuse goes back to 0;
 *   an exhausted pool gives -ENOBUFS and allocates nothing;
 *   kc_free of a pending kc gives -EBUSY; kc_pool_destroy with kcs
 *   outstanding gives -EBUSY;
 *   many threads allocating and freeing at once (per-thread caches, frees on
 *   other threads) end with inuse 0 and a pool that destroys cleanly.
 */
#include "kctest.h"

#include <errno.h>
#include <string.h>


/* Autofree round trips, immediate and on executors. */
static void
test_autofree(struct kc_executor *soft, struct kc_executor *thr)
{
	struct kc_pool *p = NULL;
	struct kc *kc;
	int i, base;

	KC_CHECK_OK(kc_pool_create(&p, 64));
	KC_CHECK(p != NULL);
	KC_CHECK_EQ(kc_pool_inuse(p), 0);

	/* immediate: runs inline, back in the pool */
	base = atomic_load(&kct_ran);
	KC_CHECK_OK(kc_alloc(p, &kc, kct_count_fn, NULL, NULL, KC_AUTOFREE));
	KC_CHECK_EQ(kc_pool_inuse(p), 1);
	KC_CHECK_EQ(kc_state(kc), KC_STATE_IDLE);
	KC_CHECK_OK(kc_run(kc, NULL, 0));
	KC_CHECK_EQ(atomic_load(&kct_ran), base + 1);
	KCT_WAIT(kc_pool_inuse(p) == 0, 10);

	/* deferred: many more than the capacity, in waves */
	for (i = 0; i < 2000; i++) {
		struct kc_executor *ex = (i & 1) ? thr : soft;
		int rc;
		uint64_t dl = kct_now_ns() + 10 * KCT_NSEC_PER_SEC;

		/*
		 * The pool may be momentarily exhausted while kcs are in
		 * flight: wait for them to come back (bounded).
		 */
		while ((rc = kc_alloc(p, &kc, kct_count_fn, NULL, ex,
		    KC_AUTOFREE)) == -ENOBUFS) {
			if (kct_now_ns() > dl)
				kct_fail(__FILE__, __LINE__, "alloc %d: "
				    "kc_alloc -ENOBUFS for 10 s while "
				    "kc_pool_inuse() == %ld of 64 (%d of %d "
				    "earlier runs done)", i, kc_pool_inuse(p),
				    atomic_load(&kct_ran) - base - 1, i);
			kct_sleep_ns(20000);
		}
		KC_CHECK_OK(rc);
		if (i % 3 == 0)
			KC_CHECK_OK(kc_defer(kc, NULL, i));
		else if (i % 3 == 1)
			KC_CHECK_OK(kc_run(kc, NULL, i));
		else
			KC_CHECK_OK(kc_defer_after(kc, 1000, NULL, i));
	}
	KCT_WAIT(atomic_load(&kct_ran) == base + 1 + 2000, 20);
	KCT_WAIT(kc_pool_inuse(p) == 0, 10);
	KC_CHECK_OK(kc_pool_destroy(p));
}

/*
 * An autofree kc cancelled before it runs goes back to the pool when the
 * cancelled run is unlinked, and never runs.  kc_cancel_sync is refused.
 */
static void
test_autofree_cancel(struct kc_executor *soft)
{
	struct kc_pool *p = NULL;
	struct kct_gate g;
	struct kc *kc;
	int base = atomic_load(&kct_ran);

	KC_CHECK_OK(kc_pool_create(&p, 8));
	kct_gate_hold(&g, soft);
	KC_CHECK_OK(kc_alloc(p, &kc, kct_count_fn, NULL, soft, KC_AUTOFREE));
	KC_CHECK_OK(kc_run(kc, NULL, 0));
	KC_CHECK_EQ(kc_cancel_sync(kc), -EINVAL);
	KC_CHECK_EQ(kc_cancel(kc), 1);
	kct_gate_release(&g);
	kct_gate_wait(&g);
	KCT_WAIT(kc_pool_inuse(p) == 0, 10);
	KC_CHECK_EQ(atomic_load(&kct_ran), base);
	/* a cancelled autofree timer too */
	KC_CHECK_OK(kc_alloc(p, &kc, kct_count_fn, NULL, soft, KC_AUTOFREE));
	KC_CHECK_OK(kc_defer_after(kc, 10 * KCT_NSEC_PER_SEC, NULL, 0));
	KC_CHECK_EQ(kc_cancel(kc), 1);
	KCT_WAIT(kc_pool_inuse(p) == 0, 10);
	KC_CHECK_EQ(atomic_load(&kct_ran), base);
	KC_CHECK_OK(kc_pool_destroy(p));
}

/* Exhaustion, kc_free rules, destroy with kcs outstanding. */
#define CAP 16
static void
test_exhaust(struct kc_executor *soft)
{
	struct kc_pool *p = NULL;
	struct kc *kcs[CAP], *extra, *sentinel;
	struct kc plain;
	struct kct_gate g;
	pthread_t t;
	int i, j;

	KC_CHECK_OK(kc_pool_create(&p, CAP));
	for (i = 0; i < CAP; i++) {
		KC_CHECK_OK(kc_alloc(p, &kcs[i], kct_count_fn, NULL, soft, 0));
		KC_CHECK(kcs[i] != NULL);
		for (j = 0; j < i; j++)
			KC_CHECK(kcs[i] != kcs[j]);
		KC_CHECK_EQ(kc_pool_inuse(p), i + 1);
	}
	sentinel = (struct kc *)&sentinel;
	extra = sentinel;
	KC_CHECK_EQ(kc_alloc(p, &extra, kct_count_fn, NULL, soft, 0), -ENOBUFS);
	KC_CHECK_EQ(kc_alloc(p, &extra, kct_count_fn, NULL, NULL, KC_AUTOFREE),
	    -ENOBUFS);
	KC_CHECK_EQ(kc_pool_inuse(p), CAP);
	KC_CHECK_EQ(kc_pool_destroy(p), -EBUSY);

	/* pending: kc_free refuses; after cancel_sync it is accepted */
	kct_gate_hold(&g, soft);
	KC_CHECK_OK(kc_run(kcs[0], NULL, 0));
	KC_CHECK_EQ(kc_free(kcs[0]), -EBUSY);
	t = kct_gate_release_later(&g, 50 * KCT_NSEC_PER_MSEC);
	KC_CHECK_EQ(kc_cancel_sync(kcs[0]), 1);
	kct_thread_join(t);
	/* a pending timer too */
	KC_CHECK_OK(kc_defer_after(kcs[1], 10 * KCT_NSEC_PER_SEC, NULL, 0));
	KC_CHECK_EQ(kc_free(kcs[1]), -EBUSY);
	KC_CHECK_EQ(kc_cancel_sync(kcs[1]), 1);
	kct_gate_release(&g);
	kct_gate_wait(&g);
	KC_CHECK_OK(kc_free(kcs[0]));
	KC_CHECK_EQ(kc_free(kcs[0]), -EINVAL);		/* already free */
	KC_CHECK_EQ(kc_pool_inuse(p), CAP - 1);
	/* one back: one more can be had */
	KC_CHECK_OK(kc_alloc(p, &extra, kct_count_fn, NULL, soft, 0));
	KC_CHECK_EQ(kc_alloc(p, &kcs[0], kct_count_fn, NULL, soft, 0), -ENOBUFS);
	kcs[0] = extra;
	/* a pooled kc that kct_ran is freeable */
	KC_CHECK_OK(kc_run(kcs[2], NULL, 0));
	KCT_WAIT(kc_state(kcs[2]) == KC_STATE_IDLE, 10);

	/* kc_free on storage not from a pool */
	KC_CHECK_OK(kc_init(&plain, kct_count_fn, NULL, NULL, 0));
	KC_CHECK_EQ(kc_free(&plain), -EINVAL);
	KC_CHECK_EQ(kc_free(NULL), -EINVAL);

	for (i = 0; i < CAP; i++) {
		KC_CHECK_EQ(kc_pool_destroy(p), -EBUSY);
		KC_CHECK_OK(kc_free(kcs[i]));
	}
	KC_CHECK_EQ(kc_pool_inuse(p), 0);
	KC_CHECK_OK(kc_pool_destroy(p));
}

/* Bad arguments. */
static void
test_args(void)
{
	struct kc_pool *p = NULL;
	struct kc *kc = NULL;

	KC_CHECK_EQ(kc_pool_create(&p, 0), -EINVAL);
	KC_CHECK_EQ(kc_pool_create(NULL, 4), -EINVAL);
	KC_CHECK_EQ(kc_pool_create(&p, (size_t)-1), -EINVAL);
	KC_CHECK_OK(kc_pool_create(&p, 4));
	KC_CHECK_EQ(kc_alloc(NULL, &kc, kct_count_fn, NULL, NULL, 0), -EINVAL);
	KC_CHECK_EQ(kc_alloc(p, NULL, kct_count_fn, NULL, NULL, 0), -EINVAL);
	KC_CHECK_EQ(kc_alloc(p, &kc, NULL, NULL, NULL, 0), -EINVAL);
	KC_CHECK_EQ(kc_alloc(p, &kc, kct_count_fn, NULL, NULL, 0x80000000u),
	    -EINVAL);
	KC_CHECK_EQ(kc_pool_inuse(p), 0);
	KC_CHECK_EQ(kc_pool_inuse(NULL), -EINVAL);
	KC_CHECK_EQ(kc_pool_destroy(NULL), -EINVAL);
	KC_CHECK_OK(kc_pool_destroy(p));
}

/*
 * Many threads: each allocates and frees (holding up to 8 at a time), and
 * sends autofree kcs to the thread executor to be freed there.  Threads exit
 * with whatever their caches hold; inuse ends at 0 and destroy succeeds.
 */
#define NTHREADS	8
#define ITERS		20000
#define POOLCAP		1024

struct mt {
	struct kc_pool		*p;
	struct kc_executor	*ex;
	atomic_int		*go;
	long			 sent;
	long			 nobufs;
};

static void *
mt_main(void *arg)
{
	struct mt *m = arg;
	struct kc *held[8];
	int nheld = 0, i, rc;
	int iters = kct_sanitized() ? ITERS / 4 : ITERS;

	kct_wait_flag(m->go, 10);
	for (i = 0; i < iters; i++) {
		uint64_t r = kct_rand();

		if (nheld > 0 && (nheld == 8 || (r & 1))) {
			struct kc *kc = held[--nheld];

			KC_CHECK_EQ(kc_state(kc), KC_STATE_IDLE);
			KC_CHECK_OK(kc_free(kc));
			continue;
		}
		if ((r & 6) == 0) {
			struct kc *kc;

			rc = kc_alloc(m->p, &kc, kct_count_fn, NULL, m->ex,
			    KC_AUTOFREE);
			if (rc == -ENOBUFS) {
				m->nobufs++;
				kct_pause(100);
				continue;
			}
			KC_CHECK_OK(rc);
			KC_CHECK_OK(kc_run(kc, NULL, 0));
			m->sent++;
			continue;
		}
		rc = kc_alloc(m->p, &held[nheld], kct_count_fn, NULL, NULL, 0);
		if (rc == -ENOBUFS) {
			m->nobufs++;
			kct_pause(100);
			continue;
		}
		KC_CHECK_OK(rc);
		nheld++;
	}
	while (nheld > 0)
		KC_CHECK_OK(kc_free(held[--nheld]));
	return NULL;
}

static void
test_threads(struct kc_executor *thr)
{
	struct kc_pool *p = NULL;
	struct mt m[NTHREADS];
	pthread_t t[NTHREADS];
	atomic_int go = 0;
	long sent = 0, nobufs = 0;
	int i, base = atomic_load(&kct_ran);

	KC_CHECK_OK(kc_pool_create(&p, POOLCAP));
	for (i = 0; i < NTHREADS; i++) {
		memset(&m[i], 0, sizeof(m[i]));
		m[i].p = p;
		m[i].ex = thr;
		m[i].go = &go;
		t[i] = kct_thread_start(mt_main, &m[i]);
	}
	atomic_store(&go, 1);
	for (i = 0; i < NTHREADS; i++) {
		kct_thread_join(t[i]);
		sent += m[i].sent;
		nobufs += m[i].nobufs;
	}
	KC_CHECK_GT(sent, 0);
	KCT_WAIT(atomic_load(&kct_ran) == base + sent, 20);
	KCT_WAIT(kc_pool_inuse(p) == 0, 10);
	printf("threads: %ld autofree sent, %ld -ENOBUFS retries\n", sent,
	    nobufs);
	/* the whole capacity can still be had from one thread */
	{
		static struct kc *all[POOLCAP];

		for (i = 0; i < POOLCAP; i++) {
			int rc = kc_alloc(p, &all[i], kct_count_fn, NULL, NULL, 0);

			if (rc != 0)
				kct_fail(__FILE__, __LINE__, "alloc %d of %d "
				    "from a pool with kc_pool_inuse() == %ld "
				    "returned %d", i, POOLCAP,
				    kc_pool_inuse(p) - i, rc);
		}
		KC_CHECK_EQ(kc_pool_inuse(p), POOLCAP);
		for (i = 0; i < POOLCAP; i++)
			KC_CHECK_OK(kc_free(all[i]));
	}
	KC_CHECK_EQ(kc_pool_inuse(p), 0);
	KC_CHECK_OK(kc_pool_destroy(p));
}

int
main(void)
{
	struct kc_executor *soft, *thr;

	kct_begin("unit-pool", 55);
	soft = kct_exec_soft("t-soft");
	thr = kct_exec_thread(2, "t-thr");

	test_args();
	test_exhaust(soft);
	test_autofree_cancel(soft);
	test_threads(thr);
	test_autofree(soft, thr);

	kct_exec_finish(soft);
	kct_exec_finish(thr);
	return kct_done();
}
