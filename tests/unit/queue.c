/*
 * unit-queue: struct kc_queue (kcont's kcq) and the sleep/wakeup bridge.
 *   kc_run_all fires every waiting kc in enqueue order and returns the count;
 *   kc_run_one fires the oldest; a cancelled waiter is not run (kc_cancel_sync
 *   makes it free-able at once); a kc whose executor shut down is put back
 *   and -ESHUTDOWN returned; a plain thread in kc_wait woken by kc_run_all
 *   from another thread gets obj and status; a timeout gives -ETIMEDOUT and
 *   leaves the queue empty.
 */
#include "kctest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define N 64

static int order[4 * N];
static atomic_int norder;

struct item {
	struct kc		 kc;
	int			 id;
	atomic_int		 runs;
	void			*obj;
	int			 status;
	struct kc_executor	*ran_on;
};

static void
item_fn(void *obj, void *env, int status)
{
	struct item *it = env;
	int n = atomic_fetch_add(&norder, 1);

	if (n < 4 * N)
		order[n] = it->id;
	it->obj = obj;
	it->status = status;
	it->ran_on = kc_executor_current();
	atomic_fetch_add(&it->runs, 1);
}

static void
item_init(struct item *it, int id, struct kc_executor *ex)
{
	memset(it, 0, sizeof(*it));
	it->id = id;
	KC_CHECK_OK(kc_init(&it->kc, item_fn, it, ex, 0));
}

static char objA, objB;

/* Immediate kcs: run_all runs them inline, in enqueue order. */
static void
test_run_all_order(void)
{
	struct kc_queue q;
	struct item it[N];
	int i;

	KC_CHECK_OK(kc_queue_init(&q));
	KC_CHECK(kc_queue_empty(&q));
	KC_CHECK_EQ(kc_run_all(&q, NULL, 0), 0);
	atomic_store(&norder, 0);
	for (i = 0; i < N; i++) {
		item_init(&it[i], i, NULL);
		KC_CHECK_OK(kc_enqueue(&q, &it[i].kc));
		KC_CHECK(!kc_queue_empty(&q));
		KC_CHECK_EQ(kc_state(&it[i].kc), KC_STATE_PENDING);
	}
	/* waiting on a queue: cannot be triggered or enqueued elsewhere */
	KC_CHECK_EQ(kc_run(&it[0].kc, NULL, 0), -EBUSY);
	KC_CHECK_EQ(kc_enqueue(&q, &it[0].kc), -EBUSY);
	KC_CHECK_EQ(atomic_load(&norder), 0);

	KC_CHECK_EQ(kc_run_all(&q, &objA, 17), N);
	KC_CHECK(kc_queue_empty(&q));
	KC_CHECK_EQ(atomic_load(&norder), N);
	for (i = 0; i < N; i++) {
		KC_CHECK_EQ(order[i], i);
		KC_CHECK_EQ(atomic_load(&it[i].runs), 1);
		KC_CHECK_PTR_EQ(it[i].obj, &objA);
		KC_CHECK_EQ(it[i].status, 17);
		KC_CHECK_EQ(kc_state(&it[i].kc), KC_STATE_IDLE);
	}
	KC_CHECK_EQ(kc_run_all(&q, &objA, 17), 0);
	/* re-enqueue after firing works */
	for (i = 0; i < N; i++)
		KC_CHECK_OK(kc_enqueue(&q, &it[i].kc));
	atomic_store(&norder, 0);
	KC_CHECK_EQ(kc_run_all(&q, &objB, -5), N);
	for (i = 0; i < N; i++) {
		KC_CHECK_EQ(order[i], i);
		KC_CHECK_EQ(atomic_load(&it[i].runs), 2);
		KC_CHECK_EQ(it[i].status, -5);
	}
}

/*
 * Executor kcs: run_all triggers each (deferred from this plain thread); each
 * runs once on its executor with obj/status.
 */
static void
test_run_all_exec(struct kc_executor *ex)
{
	struct kc_queue q = KC_QUEUE_INITIALIZER;
	struct item it[N];
	int i;

	atomic_store(&norder, 0);
	for (i = 0; i < N; i++) {
		item_init(&it[i], i, ex);
		KC_CHECK_OK(kc_enqueue(&q, &it[i].kc));
	}
	KC_CHECK_EQ(kc_run_all(&q, &objB, 4), N);
	KC_CHECK(kc_queue_empty(&q));
	for (i = 0; i < N; i++) {
		KCT_WAIT(atomic_load(&it[i].runs) == 1, 10);
		KCT_WAIT(kc_state(&it[i].kc) == KC_STATE_IDLE, 10);
		KC_CHECK_PTR_EQ(it[i].obj, &objB);
		KC_CHECK_EQ(it[i].status, 4);
		KC_CHECK_PTR_EQ(it[i].ran_on, ex);
	}
	KC_CHECK_EQ(atomic_load(&norder), N);
}

static void
test_run_one(void)
{
	struct kc_queue q;
	struct item it[3];
	int i;

	KC_CHECK_OK(kc_queue_init(&q));
	KC_CHECK_EQ(kc_run_one(&q, NULL, 0), 0);
	atomic_store(&norder, 0);
	for (i = 0; i < 3; i++) {
		item_init(&it[i], i, NULL);
		KC_CHECK_OK(kc_enqueue(&q, &it[i].kc));
	}
	KC_CHECK_EQ(kc_run_one(&q, &objA, 1), 1);
	KC_CHECK_EQ(atomic_load(&norder), 1);
	KC_CHECK_EQ(order[0], 0);
	KC_CHECK_EQ(it[0].status, 1);
	KC_CHECK_EQ(kc_state(&it[1].kc), KC_STATE_PENDING);
	KC_CHECK_EQ(kc_run_one(&q, &objA, 2), 1);
	KC_CHECK_EQ(order[1], 1);
	KC_CHECK_EQ(it[1].status, 2);
	/* the fired one may wait again, behind the rest */
	KC_CHECK_OK(kc_enqueue(&q, &it[0].kc));
	KC_CHECK_EQ(kc_run_one(&q, &objA, 3), 1);
	KC_CHECK_EQ(order[2], 2);
	KC_CHECK_EQ(kc_run_one(&q, &objA, 4), 1);
	KC_CHECK_EQ(order[3], 0);
	KC_CHECK_EQ(it[0].status, 4);
	KC_CHECK_EQ(kc_run_one(&q, &objA, 5), 0);
	KC_CHECK(kc_queue_empty(&q));
	KC_CHECK_EQ(atomic_load(&norder), 4);
}

/*
 * Cancel of waiting kcs: kc_cancel -> 1, not run, not counted; kc_cancel_sync
 * -> 1, idle at once, so a heap kc can be freed before the queue fires (ASan
 * catches any later touch).
 */
static void
test_cancel(void)
{
	struct kc_queue q;
	struct item it[5];
	struct item *h;
	int i;

	KC_CHECK_OK(kc_queue_init(&q));
	atomic_store(&norder, 0);
	for (i = 0; i < 5; i++)
		item_init(&it[i], i, NULL);
	h = malloc(sizeof(*h));
	KC_CHECK(h != NULL);
	item_init(h, 99, NULL);
	KC_CHECK_OK(kc_enqueue(&q, &it[0].kc));
	KC_CHECK_OK(kc_enqueue(&q, &it[1].kc));
	KC_CHECK_OK(kc_enqueue(&q, &h->kc));
	KC_CHECK_OK(kc_enqueue(&q, &it[2].kc));
	KC_CHECK_OK(kc_enqueue(&q, &it[3].kc));
	KC_CHECK_OK(kc_enqueue(&q, &it[4].kc));

	KC_CHECK_EQ(kc_cancel(&it[1].kc), 1);
	KC_CHECK_EQ(kc_cancel_sync(&h->kc), 1);
	KC_CHECK_EQ(kc_state(&h->kc), KC_STATE_IDLE);
	free(h);
	KC_CHECK_EQ(kc_cancel_sync(&it[4].kc), 1);
	KC_CHECK_EQ(kc_state(&it[4].kc), KC_STATE_IDLE);
	KC_CHECK_EQ(kc_cancel(&it[4].kc), -EALREADY);

	KC_CHECK_EQ(kc_run_all(&q, &objA, 8), 3);
	KC_CHECK(kc_queue_empty(&q));
	KC_CHECK_EQ(atomic_load(&norder), 3);
	KC_CHECK_EQ(order[0], 0);
	KC_CHECK_EQ(order[1], 2);
	KC_CHECK_EQ(order[2], 3);
	KC_CHECK_EQ(atomic_load(&it[1].runs), 0);
	KC_CHECK_EQ(atomic_load(&it[4].runs), 0);
	KC_CHECK_EQ(kc_cancel_sync(&it[1].kc), -EALREADY);
	KC_CHECK_EQ(kc_state(&it[1].kc), KC_STATE_IDLE);
	/* a cancelled waiter can wait again */
	KC_CHECK_OK(kc_enqueue(&q, &it[1].kc));
	KC_CHECK_EQ(kc_run_one(&q, &objB, 9), 1);
	KC_CHECK_EQ(atomic_load(&it[1].runs), 1);
	KC_CHECK_EQ(it[1].status, 9);

	/* the only waiter cancelled: run_all finds nothing */
	KC_CHECK_OK(kc_enqueue(&q, &it[4].kc));
	KC_CHECK_EQ(kc_cancel(&it[4].kc), 1);
	KC_CHECK_EQ(kc_run_all(&q, NULL, 0), 0);
	KC_CHECK(kc_queue_empty(&q));
	KC_CHECK_EQ(atomic_load(&it[4].runs), 0);
	KC_CHECK_EQ(kc_state(&it[4].kc), KC_STATE_IDLE);
}

/*
 * A kc whose executor has shut down is put back on the queue and run_all
 * returns -ESHUTDOWN after triggering the others.
 */
static void
test_shutdown_target(void)
{
	struct kc_executor *dead = kct_exec_soft("t-dead");
	struct kc_queue q;
	struct item a, b, c;

	KC_CHECK_OK(kc_queue_init(&q));
	atomic_store(&norder, 0);
	item_init(&a, 1, NULL);
	item_init(&b, 2, dead);
	item_init(&c, 3, NULL);
	KC_CHECK_OK(kc_enqueue(&q, &a.kc));
	KC_CHECK_OK(kc_enqueue(&q, &b.kc));
	KC_CHECK_OK(kc_enqueue(&q, &c.kc));
	KC_CHECK_OK(kc_executor_shutdown(dead, KC_SHUTDOWN_DRAIN, NULL));
	KC_CHECK_EQ(kc_run_all(&q, &objA, 1), -ESHUTDOWN);
	KC_CHECK_EQ(atomic_load(&a.runs), 1);
	KC_CHECK_EQ(atomic_load(&c.runs), 1);
	KC_CHECK_EQ(atomic_load(&b.runs), 0);
	KC_CHECK(!kc_queue_empty(&q));
	KC_CHECK_EQ(kc_state(&b.kc), KC_STATE_PENDING);
	KC_CHECK_EQ(kc_cancel_sync(&b.kc), 1);
	KC_CHECK(kc_queue_empty(&q));
	KC_CHECK_EQ(kc_run_all(&q, NULL, 0), 0);
	KC_CHECK_OK(kc_executor_close(dead, NULL));
}

/* The wait bridge. */
struct waiter {
	struct kc_queue	*q;
	atomic_int	 prepared;
	int		 rc;
	void		*obj;
	int		 status;
	int		 use_sleep;
	pid_t		 tid;
};

static void *
waiter_main(void *arg)
{
	struct waiter *w = arg;
	struct kc_waiter kw;

	w->tid = kct_gettid();
	w->obj = &objB;
	w->status = -1;
	if (w->use_sleep) {
		atomic_store(&w->prepared, 1);
		w->rc = kc_sleep(w->q, 20 * KCT_NSEC_PER_SEC, &w->obj,
		    &w->status);
	} else {
		memset(&kw, 0, sizeof(kw));
		KC_CHECK_OK(kc_wait_prepare(&kw, w->q));
		KC_CHECK_EQ(kc_wait_prepare(&kw, w->q), -EBUSY);
		atomic_store(&w->prepared, 1);
		w->rc = kc_wait(&kw, 20 * KCT_NSEC_PER_SEC, &w->obj,
		    &w->status);
	}
	return NULL;
}

#define NW 4
static void
test_wait_wakeup(int use_sleep)
{
	struct kc_queue q;
	struct waiter w[NW];
	pthread_t t[NW];
	int i, fired = 0;

	KC_CHECK_OK(kc_queue_init(&q));
	for (i = 0; i < NW; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].q = &q;
		w[i].use_sleep = use_sleep;
		t[i] = kct_thread_start(waiter_main, &w[i]);
	}
	for (i = 0; i < NW; i++)
		kct_wait_flag(&w[i].prepared, 10);
	/*
	 * kc_sleep has put itself on q some time after `prepared`; fire until
	 * all NW have been woken (bounded).
	 */
	{
		uint64_t dl = kct_now_ns() + 10 * KCT_NSEC_PER_SEC;

		while (fired < NW) {
			int r = kc_run_all(&q, &objA, 1234);

			KC_CHECK_GE(r, 0);
			fired += r;
			KC_CHECK(kct_now_ns() < dl);
			if (fired < NW)
				kct_sleep_ns(100000);
		}
	}
	KC_CHECK_EQ(fired, NW);
	for (i = 0; i < NW; i++) {
		kct_thread_join(t[i]);
		KC_CHECK_OK(w[i].rc);
		KC_CHECK_PTR_EQ(w[i].obj, &objA);
		KC_CHECK_EQ(w[i].status, 1234);
		KC_CHECK_NE(w[i].tid, kct_gettid());
	}
	KC_CHECK(kc_queue_empty(&q));
}

/* Fired from a continuation on an executor (another thread again). */
struct firer {
	struct kc	 kc;
	struct kc_queue	*q;
	int		 rc;
	atomic_int	 done;
};

static void
firer_fn(void *obj, void *env, int status)
{
	struct firer *f = env;

	(void)obj;
	(void)status;
	f->rc = kc_run_all(f->q, &objB, 77);
	atomic_store(&f->done, 1);
}

static void
test_wait_from_exec(struct kc_executor *ex)
{
	struct kc_queue q;
	struct kc_waiter kw;
	struct firer f;
	void *obj = NULL;
	int status = 0;

	KC_CHECK_OK(kc_queue_init(&q));
	memset(&f, 0, sizeof(f));
	f.q = &q;
	KC_CHECK_OK(kc_init(&f.kc, firer_fn, &f, ex, 0));
	memset(&kw, 0, sizeof(kw));
	KC_CHECK_OK(kc_wait_prepare(&kw, &q));
	KC_CHECK_OK(kc_run(&f.kc, NULL, 0));
	KC_CHECK_OK(kc_wait(&kw, 20 * KCT_NSEC_PER_SEC, &obj, &status));
	KC_CHECK_PTR_EQ(obj, &objB);
	KC_CHECK_EQ(status, 77);
	kct_wait_flag(&f.done, 10);
	KC_CHECK_EQ(f.rc, 1);
	KCT_WAIT(kc_state(&f.kc) == KC_STATE_IDLE, 10);
	/* NULL result pointers are allowed */
	KC_CHECK_OK(kc_wait_prepare(&kw, &q));
	KC_CHECK_EQ(kc_run_all(&q, &objA, 1), 1);
	KC_CHECK_OK(kc_wait(&kw, 10 * KCT_NSEC_PER_SEC, NULL, NULL));
}

/* Timeouts leave nothing stored and nothing on the queue. */
static void
test_timeout(void)
{
	struct kc_queue q;
	struct kc_waiter kw;
	void *obj = &objB;
	int status = 55;
	uint64_t t0;

	KC_CHECK_OK(kc_queue_init(&q));
	t0 = kct_now_ns();
	KC_CHECK_EQ(kc_sleep(&q, 20 * KCT_NSEC_PER_MSEC, &obj, &status),
	    -ETIMEDOUT);
	KC_CHECK_GE(kct_now_ns(), t0 + 20 * KCT_NSEC_PER_MSEC);
	KC_CHECK(kc_queue_empty(&q));
	KC_CHECK_PTR_EQ(obj, &objB);
	KC_CHECK_EQ(status, 55);
	KC_CHECK_EQ(kc_run_all(&q, NULL, 0), 0);

	memset(&kw, 0, sizeof(kw));
	KC_CHECK_OK(kc_wait_prepare(&kw, &q));
	KC_CHECK(!kc_queue_empty(&q));
	KC_CHECK_EQ(kc_wait(&kw, KCT_NSEC_PER_MSEC, &obj, &status),
	    -ETIMEDOUT);
	KC_CHECK(kc_queue_empty(&q));
	KC_CHECK_EQ(kc_run_all(&q, NULL, 0), 0);
	KC_CHECK_PTR_EQ(obj, &objB);
	KC_CHECK_EQ(status, 55);
	/* zero timeout: does not sleep */
	KC_CHECK_EQ(kc_sleep(&q, 0, NULL, NULL), -ETIMEDOUT);
	KC_CHECK(kc_queue_empty(&q));
	/* the waiter is reusable after a timeout */
	KC_CHECK_OK(kc_wait_prepare(&kw, &q));
	KC_CHECK_EQ(kc_run_one(&q, &objA, 3), 1);
	KC_CHECK_OK(kc_wait(&kw, 0, &obj, &status));
	KC_CHECK_PTR_EQ(obj, &objA);
	KC_CHECK_EQ(status, 3);
}

/* kc_wait_cancel: 0 while waiting; -EALREADY once fired (then kc_wait returns
 * the result at once). */
static void
test_wait_cancel(void)
{
	struct kc_queue q;
	struct kc_waiter kw;
	void *obj = NULL;
	int status = 0;

	KC_CHECK_OK(kc_queue_init(&q));
	memset(&kw, 0, sizeof(kw));
	KC_CHECK_OK(kc_wait_prepare(&kw, &q));
	KC_CHECK_OK(kc_wait_cancel(&kw));
	KC_CHECK(kc_queue_empty(&q));
	KC_CHECK_EQ(kc_run_all(&q, NULL, 0), 0);

	KC_CHECK_OK(kc_wait_prepare(&kw, &q));
	KC_CHECK_EQ(kc_run_all(&q, &objA, 6), 1);
	KC_CHECK_EQ(kc_wait_cancel(&kw), -EALREADY);
	KC_CHECK_OK(kc_wait(&kw, 10 * KCT_NSEC_PER_SEC, &obj, &status));
	KC_CHECK_PTR_EQ(obj, &objA);
	KC_CHECK_EQ(status, 6);
	KC_CHECK(kc_queue_empty(&q));
}

int
main(void)
{
	struct kc_executor *soft, *thr;

	kct_begin("unit-queue", 50);
	soft = kct_exec_soft("t-soft");
	thr = kct_exec_thread(2, "t-thr");

	test_run_all_order();
	test_run_all_exec(soft);
	test_run_all_exec(thr);
	test_run_one();
	test_cancel();
	test_shutdown_target();
	test_wait_wakeup(0);
	test_wait_wakeup(1);
	test_wait_from_exec(soft);
	test_wait_from_exec(thr);
	test_timeout();
	test_wait_cancel();

	kct_exec_finish(soft);
	kct_exec_finish(thr);
	return kct_done();
}
