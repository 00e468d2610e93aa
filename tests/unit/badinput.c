/*
 * unit-badinput: every documented misuse gets its documented negative errno,
 * and the process is intact afterwards (correct use still works).
 *   kc used before kc_init (zeroed or garbage storage) -> -EINVAL
 *   kc_init: NULL kc/fn, unknown flags, KC_AUTOFREE off-pool -> -EINVAL;
 *            on a pending kc -> -EBUSY (and the pending run is undisturbed)
 *   immediate kc nested deeper than KC_INLINE_DEPTH_MAX -> -ELOOP
 *   kc_defer / kc_defer_after on an immediate kc -> -EINVAL
 *   queues and waiters not initialised/prepared -> -EINVAL
 *   executor attrs, NULL pointers, create/pool_create inside a continuation
 *   (-EPERM), exhausted pool (-ENOBUFS), destroy with pending work (-EBUSY)
 */
#include "kctest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>


static void
check_uninit(struct kc *kc, struct kc_queue *goodq)
{
	KC_CHECK_EQ(kc_run(kc, NULL, 0), -EINVAL);
	KC_CHECK_EQ(kc_defer(kc, NULL, 0), -EINVAL);
	KC_CHECK_EQ(kc_defer_after(kc, 1000, NULL, 0), -EINVAL);
	KC_CHECK_EQ(kc_cancel(kc), -EINVAL);
	KC_CHECK_EQ(kc_cancel_sync(kc), -EINVAL);
	KC_CHECK_EQ(kc_enqueue(goodq, kc), -EINVAL);
	KC_CHECK_EQ(kc_free(kc), -EINVAL);
	KC_CHECK(kc_queue_empty(goodq));
}

/* Zeroed and garbage-filled storage is "not initialised"; kc_init fixes it. */
static void
test_uninit(struct kc_executor *ex)
{
	struct kc_queue q;
	struct kc *kc = malloc(sizeof(*kc));
	unsigned i, j;
	static const unsigned char fills[] = { 0x00, 0xa5, 0xff, 0x5a };

	KC_CHECK(kc != NULL);
	KC_CHECK_OK(kc_queue_init(&q));
	for (i = 0; i < sizeof(fills); i++) {
		memset(kc, fills[i], sizeof(*kc));
		check_uninit(kc, &q);
	}
	for (j = 0; j < 100; j++) {
		unsigned char *b = (unsigned char *)kc;

		for (i = 0; i < sizeof(*kc); i++)
			b[i] = (unsigned char)kct_rand();
		check_uninit(kc, &q);
	}
	/* kc_init on garbage works (it is not "pending") */
	for (i = 0; i < sizeof(fills); i++) {
		int base = atomic_load(&kct_ran);

		memset(kc, fills[i], sizeof(*kc));
		KC_CHECK_OK(kc_init(kc, kct_count_fn, NULL, ex, 0));
		KC_CHECK_EQ(kc_state(kc), KC_STATE_IDLE);
		KC_CHECK_OK(kc_run(kc, NULL, 0));
		KCT_WAIT(atomic_load(&kct_ran) == base + 1, 10);
		KCT_WAIT(kc_state(kc) == KC_STATE_IDLE, 10);
	}
	free(kc);
}

static void
test_init_args(struct kc_executor *ex)
{
	struct kc kc;

	memset(&kc, 0, sizeof(kc));
	KC_CHECK_EQ(kc_init(NULL, kct_count_fn, NULL, ex, 0), -EINVAL);
	KC_CHECK_EQ(kc_init(&kc, NULL, NULL, ex, 0), -EINVAL);
	KC_CHECK_EQ(kc_init(&kc, NULL, NULL, NULL, 0), -EINVAL);
	KC_CHECK_EQ(kc_init(&kc, kct_count_fn, NULL, ex, 0x80000000u), -EINVAL);
	KC_CHECK_EQ(kc_init(&kc, kct_count_fn, NULL, ex, 0x100u), -EINVAL);
	KC_CHECK_EQ(kc_init(&kc, kct_count_fn, NULL, ex, KC_AUTOFREE), -EINVAL);
	KC_CHECK_EQ(kc_init(&kc, kct_count_fn, NULL, NULL, KC_AUTOFREE), -EINVAL);
	/* re-init of an idle kc is fine */
	KC_CHECK_OK(kc_init(&kc, kct_count_fn, NULL, ex, 0));
	KC_CHECK_OK(kc_init(&kc, kct_count_fn, NULL, NULL, 0));
	/* an immediate kc has no queue and no timer */
	KC_CHECK_EQ(kc_defer(&kc, NULL, 0), -EINVAL);
	KC_CHECK_EQ(kc_defer_after(&kc, 1000, NULL, 0), -EINVAL);
	KC_CHECK_EQ(kc_state(&kc), KC_STATE_IDLE);
}

/* kc_init on a pending kc: -EBUSY, and the pending run is undisturbed. */
static int other_ran;

static void
other_fn(void *obj, void *env, int status)
{
	(void)obj;
	(void)env;
	(void)status;
	other_ran++;
}

static void
test_init_pending(struct kc_executor *ex)
{
	struct kct_gate g;
	struct kc_queue q;
	struct kc kc, w, t;
	int base = atomic_load(&kct_ran);

	KC_CHECK_OK(kc_init(&kc, kct_count_fn, NULL, ex, 0));
	KC_CHECK_OK(kc_init(&w, kct_count_fn, NULL, NULL, 0));
	KC_CHECK_OK(kc_init(&t, kct_count_fn, NULL, ex, 0));
	KC_CHECK_OK(kc_queue_init(&q));
	kct_gate_hold(&g, ex);
	KC_CHECK_OK(kc_run(&kc, NULL, 0));
	KC_CHECK_EQ(kc_init(&kc, other_fn, NULL, NULL, 0), -EBUSY);
	KC_CHECK_OK(kc_enqueue(&q, &w));
	KC_CHECK_EQ(kc_init(&w, other_fn, NULL, NULL, 0), -EBUSY);
	KC_CHECK_OK(kc_defer_after(&t, 20 * KCT_NSEC_PER_MSEC, NULL, 0));
	KC_CHECK_EQ(kc_init(&t, other_fn, NULL, NULL, 0), -EBUSY);
	/* a kc on a queue can't go on another, or be armed */
	{
		struct kc_queue q2 = KC_QUEUE_INITIALIZER;

		KC_CHECK_EQ(kc_enqueue(&q2, &w), -EBUSY);
		KC_CHECK_EQ(kc_enqueue(&q2, &kc), -EBUSY);	/* run queue */
		KC_CHECK(kc_queue_empty(&q2));
	}
	kct_gate_release(&g);
	kct_gate_wait(&g);
	KC_CHECK_EQ(kc_run_all(&q, NULL, 0), 1);
	KCT_WAIT(atomic_load(&kct_ran) == base + 3, 10);
	KCT_WAIT(kc_state(&kc) == KC_STATE_IDLE &&
	    kc_state(&t) == KC_STATE_IDLE, 10);
	KC_CHECK_EQ(other_ran, 0);
	KC_CHECK_EQ(atomic_load(&kct_ran), base + 3);
}

/* Immediate continuations nested too deep: -ELOOP, and the thread recovers. */
static int depth, max_depth, nloop, nother;
static struct kc deep;

static void
deep_fn(void *obj, void *env, int status)
{
	int rc;

	(void)obj;
	(void)env;
	(void)status;
	depth++;
	if (depth > max_depth)
		max_depth = depth;
	rc = kc_run(&deep, NULL, 0);
	if (rc == -ELOOP)
		nloop++;
	else if (rc != 0)
		nother++;
	depth--;
}

static void
test_eloop(void)
{
	int base = atomic_load(&kct_ran);
	struct kc ok;

	KC_CHECK_OK(kc_init(&deep, deep_fn, NULL, NULL, 0));
	KC_CHECK_OK(kc_run(&deep, NULL, 0));
	KC_CHECK_EQ(nloop, 1);
	KC_CHECK_EQ(nother, 0);
	KC_CHECK_EQ(depth, 0);
	KC_CHECK_LE(max_depth, KC_INLINE_DEPTH_MAX);
	KC_CHECK_GE(max_depth, KC_INLINE_DEPTH_MAX / 2);
	KC_CHECK_EQ(kc_state(&deep), KC_STATE_IDLE);
	/* the thread's depth was restored: the same thing again */
	max_depth = 0;
	KC_CHECK_OK(kc_run(&deep, NULL, 0));
	KC_CHECK_EQ(nloop, 2);
	KC_CHECK_GE(max_depth, KC_INLINE_DEPTH_MAX / 2);
	KC_CHECK_OK(kc_init(&ok, kct_count_fn, NULL, NULL, 0));
	KC_CHECK_OK(kc_run(&ok, NULL, 0));
	KC_CHECK_EQ(atomic_load(&kct_ran), base + 1);
}

static void
test_queue_args(void)
{
	struct kc_queue zq, gq;
	struct kc_waiter zw;
	struct kc kc;
	unsigned char *b = (unsigned char *)&zq;
	unsigned i;

	memset(&zq, 0, sizeof(zq));
	memset(&zw, 0, sizeof(zw));
	KC_CHECK_OK(kc_init(&kc, kct_count_fn, NULL, NULL, 0));
	KC_CHECK_EQ(kc_queue_init(NULL), -EINVAL);
	KC_CHECK_EQ(kc_enqueue(&zq, &kc), -EINVAL);
	KC_CHECK_EQ(kc_enqueue(NULL, &kc), -EINVAL);
	KC_CHECK_EQ(kc_run_all(&zq, NULL, 0), -EINVAL);
	KC_CHECK_EQ(kc_run_one(&zq, NULL, 0), -EINVAL);
	KC_CHECK_EQ(kc_wait_prepare(&zw, &zq), -EINVAL);
	KC_CHECK_EQ(kc_sleep(&zq, 1000, NULL, NULL), -EINVAL);
	for (i = 0; i < sizeof(zq); i++)
		b[i] = 0xa5;
	KC_CHECK_EQ(kc_enqueue(&zq, &kc), -EINVAL);
	KC_CHECK_EQ(kc_run_all(&zq, NULL, 0), -EINVAL);
	KC_CHECK_EQ(kc_state(&kc), KC_STATE_IDLE);
	/* waiter never prepared */
	memset(&zw, 0, sizeof(zw));
	KC_CHECK_EQ(kc_wait(&zw, 1000, NULL, NULL), -EINVAL);
	KC_CHECK_EQ(kc_wait_cancel(&zw), -EINVAL);
	KC_CHECK_OK(kc_queue_init(&gq));
	KC_CHECK_EQ(kc_wait_prepare(NULL, &gq), -EINVAL);
	KC_CHECK_EQ(kc_wait_prepare(&zw, NULL), -EINVAL);
	/* prepared twice: -EBUSY; the first still works */
	KC_CHECK_OK(kc_wait_prepare(&zw, &gq));
	KC_CHECK_EQ(kc_wait_prepare(&zw, &gq), -EBUSY);
	KC_CHECK_EQ(kc_run_all(&gq, NULL, 0), 1);
	KC_CHECK_OK(kc_wait(&zw, 0, NULL, NULL));
	/* correct use still works */
	KC_CHECK_OK(kc_queue_init(&zq));
	KC_CHECK_OK(kc_enqueue(&zq, &kc));
	KC_CHECK_EQ(kc_run_all(&zq, NULL, 0), 1);
}

static void
test_exec_args(struct kc_executor *ex)
{
	struct kc_executor_attr attr;
	struct kc_executor *e = NULL;
	struct kc_executor_stats st;

	memset(&attr, 0, sizeof(attr));
	KC_CHECK_EQ(kc_executor_create(NULL, NULL), -EINVAL);
	attr.kind = 0;
	KC_CHECK_EQ(kc_executor_create(&e, &attr), -EINVAL);
	attr.kind = (enum kc_executor_kind)99;
	KC_CHECK_EQ(kc_executor_create(&e, &attr), -EINVAL);
	attr.kind = KC_EXEC_SOFT;
	attr.nthreads = 2;
	KC_CHECK_EQ(kc_executor_create(&e, &attr), -EINVAL);
	attr.kind = KC_EXEC_THREAD;
	attr.nthreads = 257;			/* a pool of more than 256 */
	KC_CHECK_EQ(kc_executor_create(&e, &attr), -EINVAL);
	KC_CHECK_EQ(kc_executor_stats(NULL, &st), -EINVAL);
	KC_CHECK_EQ(kc_executor_stats(ex, NULL), -EINVAL);
	KC_CHECK_EQ(kc_executor_shutdown(NULL, KC_SHUTDOWN_DRAIN, NULL),
	    -EINVAL);
	KC_CHECK_EQ(kc_executor_shutdown(ex, 0, NULL), -EINVAL);
	KC_CHECK_EQ(kc_executor_close(NULL, NULL), -EINVAL);
	KC_CHECK_PTR_EQ(kc_executor_current(), NULL);
	/* attr NULL: a soft executor, and defaults work */
	KC_CHECK_OK(kc_executor_create(&e, NULL));
	kct_exec_finish(e);
	memset(&attr, 0, sizeof(attr));
	attr.kind = KC_EXEC_THREAD;
	attr.name = "a-name-much-longer-than-fifteen-bytes";
	KC_CHECK_OK(kc_executor_create(&e, &attr));
	kct_exec_finish(e);
}

/* Creating executors or pools inside a continuation: -EPERM. */
struct inside {
	struct kc	kc;
	int		rc_exec, rc_pool;
	atomic_int	done;
};

static void
inside_fn(void *obj, void *env, int status)
{
	struct inside *s = env;
	struct kc_executor *e = NULL;
	struct kc_pool *p = NULL;

	(void)obj;
	(void)status;
	s->rc_exec = kc_executor_create(&e, NULL);
	s->rc_pool = kc_pool_create(&p, 4);
	atomic_store(&s->done, 1);
}

static void
test_inside(struct kc_executor *ex)
{
	struct inside s;

	memset(&s, 0, sizeof(s));
	KC_CHECK_OK(kc_init(&s.kc, inside_fn, &s, ex, 0));
	KC_CHECK_OK(kc_run(&s.kc, NULL, 0));
	kct_wait_flag(&s.done, 10);
	KCT_WAIT(kc_state(&s.kc) == KC_STATE_IDLE, 10);
	KC_CHECK_EQ(s.rc_exec, -EPERM);
	KC_CHECK_EQ(s.rc_pool, -EPERM);
}

/* -ENOBUFS and pool -EBUSY, then everything still works. */
static void
test_resources(void)
{
	struct kc_executor *e = kct_exec_soft("t-busy");
	struct kc_pool *p = NULL;
	struct kc *a, *b;
	struct kct_gate g;
	struct kc kc;
	int base = atomic_load(&kct_ran);

	KC_CHECK_OK(kc_pool_create(&p, 1));
	KC_CHECK_OK(kc_alloc(p, &a, kct_count_fn, NULL, e, 0));
	KC_CHECK_EQ(kc_alloc(p, &b, kct_count_fn, NULL, e, 0), -ENOBUFS);
	KC_CHECK_EQ(kc_pool_destroy(p), -EBUSY);

	kct_gate_hold(&g, e);
	KC_CHECK_OK(kc_run(a, NULL, 0));
	KC_CHECK_EQ(kc_free(a), -EBUSY);
	kct_gate_release(&g);
	kct_gate_wait(&g);
	KCT_WAIT(atomic_load(&kct_ran) == base + 1, 10);
	KCT_WAIT(kc_state(a) == KC_STATE_IDLE, 10);
	KC_CHECK_OK(kc_free(a));
	KC_CHECK_OK(kc_alloc(p, &b, kct_count_fn, NULL, NULL, KC_AUTOFREE));
	KC_CHECK_OK(kc_run(b, NULL, 0));
	KCT_WAIT(kc_pool_inuse(p) == 0, 10);
	KC_CHECK_OK(kc_pool_destroy(p));
	/* the executor still works, then goes away cleanly */
	KC_CHECK_OK(kc_init(&kc, kct_count_fn, NULL, e, 0));
	KC_CHECK_OK(kc_run(&kc, NULL, 0));
	KCT_WAIT(atomic_load(&kct_ran) == base + 3, 10);
	KCT_WAIT(kc_state(&kc) == KC_STATE_IDLE, 10);
	kct_exec_finish(e);
}

int
main(void)
{
	struct kc_executor *soft, *thr;
	struct kc kc;
	int base;

	kct_begin("unit-badinput", 50);
	soft = kct_exec_soft("t-soft");
	thr = kct_exec_thread(2, "t-thr");

	test_uninit(soft);
	test_uninit(thr);
	test_init_args(soft);
	test_init_pending(soft);
	test_eloop();
	test_queue_args();
	test_exec_args(soft);
	test_inside(soft);
	test_inside(thr);
	test_resources();

	/* intact: a final round of ordinary work on both executors */
	base = atomic_load(&kct_ran);
	KC_CHECK_OK(kc_init(&kc, kct_count_fn, NULL, soft, 0));
	KC_CHECK_OK(kc_run(&kc, NULL, 0));
	KCT_WAIT(atomic_load(&kct_ran) == base + 1 && kc_state(&kc) == 0, 10);
	KC_CHECK_OK(kc_init(&kc, kct_count_fn, NULL, thr, 0));
	KC_CHECK_OK(kc_defer_after(&kc, 1000, NULL, 0));
	KCT_WAIT(atomic_load(&kct_ran) == base + 2 && kc_state(&kc) == 0, 10);

	kct_exec_finish(soft);
	kct_exec_finish(thr);
	return kct_done();
}
