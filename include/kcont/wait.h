/*
 * kcont/wait.h: the sleep/wakeup bridge.
 *
 * A plain thread can wait for an object's kc_queue to fire, the way it would
 * tsleep() on the object and be woken by wakeup(): code can move to
 * continuations one piece at a time, and the two can be measured side by side.
 *
 * Use it like prepare-to-wait: kc_wait_prepare() puts the waiter on the queue,
 * the caller checks its condition once more, then kc_wait() sleeps until
 * kc_run_all() (or kc_run_one()) fires the queue or the timeout passes.  The
 * struct kc_waiter is caller-owned (usually on the waiting thread's stack) and
 * is off every queue again when kc_wait() or kc_wait_cancel() returns.
 */
#ifndef KCONT_WAIT_H
#define KCONT_WAIT_H

#include <stdint.h>

#include <kcont/kc.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kc_waiter {
	struct kc	 kw_kc;		/* private */
	void		*kw_obj;	/* private */
	int		 kw_status;	/* private */
	uint32_t	 kw_done;	/* private */
};

#define KC_WAIT_FOREVER	UINT64_MAX

/* Put w on q.  Errors: -EINVAL, -EBUSY (w already waiting). */
KC_EXPORT int	kc_wait_prepare(struct kc_waiter *w, struct kc_queue *q);

/*
 * Sleep until q fires or timeout_ns (relative, CLOCK_MONOTONIC) passes.  On
 * wake-up returns 0 and stores the object and status the queue was fired
 * with (either pointer may be NULL).  Errors: -ETIMEDOUT (w has been taken
 * off the queue; nothing is stored), -EINVAL (not prepared).
 */
KC_EXPORT int	kc_wait(struct kc_waiter *w, uint64_t timeout_ns, void **objp,
		    int *statusp);

/*
 * Take w off its queue without sleeping.  0 if it was still waiting,
 * -EALREADY if the queue had fired it already (kc_wait() then returns at
 * once with the result), -EINVAL.
 */
KC_EXPORT int	kc_wait_cancel(struct kc_waiter *w);

/* kc_wait_prepare() then kc_wait(), for callers with no condition to check. */
KC_EXPORT int	kc_sleep(struct kc_queue *q, uint64_t timeout_ns, void **objp,
		    int *statusp);

#ifdef __cplusplus
}
#endif

#endif /* KCONT_WAIT_H */
