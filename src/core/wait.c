/*
 * wait.c: the sleep/wakeup bridge.  A waiter is an immediate continuation on
 * the object's kc_queue whose function stores the result and wakes the
 * sleeping thread with a futex.
 */
#include <string.h>

#include "internal.h"

/* kw_done: the waiter's progress, also the futex word. */
#define KW_WAITING	0u
#define KW_FIRED	2u
#define KW_IDLE		3u	/* not prepared, or result already taken */

static void
kw_fire(void *obj, void *env, int status)
{
	struct kc_waiter *w = env;

	w->kw_obj = obj;
	w->kw_status = status;
	KC__STORE(&w->kw_done, KW_FIRED);
	/*
	 * The waiter may return, and its stack be reused, as soon as it sees
	 * FIRED: the wake-up below then only makes a futex call on an address
	 * (the kernel reads nothing there); at worst another futex waiter at
	 * that address wakes spuriously, which every futex waiter tolerates.
	 */
	kc__futex_wake(&w->kw_done, 1);
}

int
kc_wait_prepare(struct kc_waiter *w, struct kc_queue *q)
{
	int rc;

	if (w == NULL || q == NULL)
		return -EINVAL;
	rc = kc_init(&w->kw_kc, kw_fire, w, NULL, 0);
	if (rc < 0)
		return rc;
	w->kw_obj = NULL;
	w->kw_status = 0;
	KC__STORE(&w->kw_done, KW_WAITING);
	rc = kc_enqueue(q, &w->kw_kc);
	if (rc < 0)
		KC__STORE(&w->kw_done, KW_IDLE);
	return rc;
}

static int
kw_take(struct kc_waiter *w, void **objp, int *statusp)
{
	if (objp != NULL)
		*objp = w->kw_obj;
	if (statusp != NULL)
		*statusp = w->kw_status;
	KC__STORE(&w->kw_done, KW_IDLE);
	return 0;
}

int
kc_wait(struct kc_waiter *w, uint64_t timeout_ns, void **objp, int *statusp)
{
	uint64_t deadline = 0, now;
	uint32_t d;

	if (w == NULL || !kc__valid(&w->kw_kc))
		return -EINVAL;
	if (timeout_ns != KC_WAIT_FOREVER) {
		now = kc__now();
		deadline = timeout_ns > UINT64_MAX - now ? 0 : now + timeout_ns;
	}
	for (;;) {
		d = KC__LOAD(&w->kw_done);
		if (d == KW_IDLE)
			return -EINVAL;
		if (d != KW_WAITING)
			return kw_take(w, objp, statusp);
		if (deadline != 0 && kc__now() >= deadline) {
			if (kc_cancel_sync(&w->kw_kc) > 0) {
				KC__STORE(&w->kw_done, KW_IDLE);
				return -ETIMEDOUT;
			}
			continue;	/* fired as we timed out */
		}
		kc__futex_wait(&w->kw_done, KW_WAITING, deadline);
	}
}

int
kc_wait_cancel(struct kc_waiter *w)
{
	if (w == NULL || !kc__valid(&w->kw_kc) ||
	    KC__LOAD(&w->kw_done) == KW_IDLE)
		return -EINVAL;
	if (kc_cancel_sync(&w->kw_kc) > 0) {
		KC__STORE(&w->kw_done, KW_IDLE);
		return 0;
	}
	return -EALREADY;
}

int
kc_sleep(struct kc_queue *q, uint64_t timeout_ns, void **objp, int *statusp)
{
	struct kc_waiter w;
	int rc;

	memset(&w, 0, sizeof(w));
	rc = kc_wait_prepare(&w, q);
	if (rc < 0)
		return rc;
	return kc_wait(&w, timeout_ns, objp, statusp);
}
