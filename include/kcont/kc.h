/*
 * kcont/kc.h: continuations and the queues they wait on.
 *
 * A continuation (struct kc) is a function, an environment and a target
 * executor.  Triggering it either runs the function at once, on the calling
 * thread, or saves the object and status it was triggered with and queues it
 * on its target executor, which runs it later.  The only question asked is
 * "is this thread already running the target executor?": executors are never
 * ordered against one another.
 *
 * Memory ownership
 *   - struct kc and struct kc_queue are caller-owned storage, usually embedded
 *     in a longer-lived object.  Initialising them never allocates.
 *   - While a continuation is pending (queued on an executor, armed on a timer
 *     or waiting on a kc_queue) the library holds a link to it: the storage
 *     must not be freed, moved or re-initialised until kc_state() reports
 *     KC_STATE_IDLE or kc_cancel_sync() has returned.
 *   - The library never touches a kc after calling its function: the function
 *     may free or reuse the storage that holds it.  The one exception is a kc
 *     from a pool with KC_AUTOFREE (kcont/pool.h), which belongs to the library
 *     once triggered and is returned to its pool after it runs.
 *   - obj and env are opaque to the library and never dereferenced.
 *
 * Every function returns 0 (or a count) on success and a negative errno value
 * on failure; nothing sets errno.  See kc_init(3), kc_run(3), kc_cancel(3)
 * and kcont(7).
 */
#ifndef KCONT_KC_H
#define KCONT_KC_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KC_EXPORT __attribute__((visibility("default")))

struct kc_executor;
struct kc_pool;
struct kc_queue;

/* The continuation function: kcont's shape. */
typedef void kc_fn(void *obj, void *env, int status);

/*
 * struct kc: embeddable, caller-owned.  Every field is private to the
 * library; use the functions below.  The layout is visible only so that
 * callers can embed it.
 */
struct kc {
	/* Touched on every trigger and run: kept within 64 bytes. */
	struct kc		*kc_next;	/* link on the queue it is on */
	uint64_t		 kc_word;	/* state, location, count */
	kc_fn			*kc_fn;
	void			*kc_env;
	struct kc_executor	*kc_exec;	/* NULL: run immediately */
	void			*kc_obj;	/* saved when deferred */
	int			 kc_status;	/* saved when deferred */
	uint32_t		 kc_flags;
	uintptr_t		 kc_magic;	/* set by kc_init */
	/* Timers, object queues and pools only. */
	void			*kc_where;	/* the kc_queue it waits on */
	struct kc_pool		*kc_pool;	/* pool it came from, or NULL */
	struct kc		*kc_heap[3];	/* timer heap links */
	uint64_t		 kc_deadline;	/* CLOCK_MONOTONIC, ns */
	uint64_t		 kc_flow;	/* tracing: the trigger that
						   queued it */
};

/*
 * struct kc_queue: the continuations waiting on one object (kcont's kcq): a
 * buffer, a socket, a knote.  Adding is lock-free; kc_run_all() detaches the
 * whole list at once.  Caller-owned; initialise with kc_queue_init() or
 * KC_QUEUE_INITIALIZER.
 */
struct kc_queue {
	struct kc	*kq_head;
	uint32_t	 kq_lock;
	uint32_t	 kq_magic;
};

#define KC_QUEUE_MAGIC		0x6b637175u	/* "kcqu" */
#define KC_QUEUE_INITIALIZER	{ 0, 0, KC_QUEUE_MAGIC }

/* kc_init() flags. */
#define KC_AUTOFREE	0x0001u	/* only for kcs from kc_alloc(): freed after it runs */

/* kc_state() bits: 0 means idle (neither pending nor running). */
#define KC_STATE_IDLE		0x0u
#define KC_STATE_PENDING	0x1u	/* queued, armed on a timer, or waiting on a kc_queue */
#define KC_STATE_RUNNING	0x2u	/* its function is executing on some thread */

/*
 * Inline runs nest at most this deep on one thread.  A trigger that would run
 * inline deeper than this is deferred to its executor instead; an immediate
 * (executor-less) continuation fails with -ELOOP.
 */
#define KC_INLINE_DEPTH_MAX	16

/*
 * Initialise caller-owned storage.  exec NULL makes an immediate continuation,
 * which always runs on the thread that triggers it.  Never allocates.
 * Errors: -EINVAL (kc or fn NULL, unknown flags, KC_AUTOFREE on a kc not from a
 * pool), -EBUSY (kc is initialised and still pending or linked).
 */
KC_EXPORT int	kc_init(struct kc *kc, kc_fn *fn, void *env,
		    struct kc_executor *exec, unsigned flags);

/*
 * Trigger: run now if the target is immediate or this thread is already
 * running the target executor, otherwise save obj and status and queue it on
 * the target.  Triggering a continuation that is already pending coalesces: it
 * still runs once, with the first trigger's obj and status, and
 * kc_coalesced() inside the function tells how many triggers that run stands
 * for.  Returns 0 when run or queued or coalesced.
 * Errors: -EINVAL (not initialised), -EBUSY (waiting on a kc_queue: it runs
 * when that queue fires), -ESHUTDOWN (target executor shut down), -ELOOP
 * (immediate continuation nested deeper than KC_INLINE_DEPTH_MAX),
 * -EOVERFLOW (2^32 - 1 triggers already coalesced into the pending run; this
 * one is not counted).
 */
KC_EXPORT int	kc_run(struct kc *kc, void *obj, int status);

/*
 * As kc_run(), but always queue on the target, even from its own thread.
 * Errors as kc_run(), and -EINVAL for an immediate continuation (it has no
 * queue).
 */
KC_EXPORT int	kc_defer(struct kc *kc, void *obj, int status);

/*
 * Run on the target executor no earlier than ns nanoseconds from now
 * (CLOCK_MONOTONIC).  Re-arming a continuation already armed on a timer
 * restarts it with the new delay, obj and status.
 * Errors: -EINVAL (not initialised, or immediate: a timer needs an executor),
 * -EBUSY (pending on a run queue or waiting on a kc_queue), -ESHUTDOWN.
 */
KC_EXPORT int	kc_defer_after(struct kc *kc, uint64_t ns, void *obj,
		    int status);

/*
 * Cancel without waiting.  When a pending run was cancelled (it will not
 * happen) returns the number of triggers that run stood for, at least 1.
 * Otherwise: -EINPROGRESS when nothing was pending but the function is
 * running now and will finish; -EALREADY when it was neither pending nor
 * running; -EINVAL when not initialised.  A cancelled continuation may stay
 * linked on its executor's run queue until the executor passes it; kc_state()
 * keeps reporting KC_STATE_PENDING until then, and re-triggering it re-arms
 * it in place.
 */
KC_EXPORT int	kc_cancel(struct kc *kc);

/*
 * Cancel and wait: when it returns the continuation is neither pending, nor
 * linked anywhere, nor running (on another thread), and its storage may be
 * freed, unless another thread triggers it again meanwhile.  Returns the
 * number of triggers cancelled (at least 1) as kc_cancel() does, or
 * -EALREADY if no run was pending.  Called from inside the continuation's own
 * function it cancels any pending run and unlinks it, does not wait for
 * itself, and returns -EDEADLK (call kc_cancel() first to learn the count);
 * the function may then free the kc.  A kc cancelled while it waits on a
 * kc_queue is taken off the queue at once, or by the kc_run_all() that has
 * already detached it.  -EINVAL: not initialised, or KC_AUTOFREE (such a kc
 * may be freed under the caller; use kc_cancel()).
 */
KC_EXPORT int	kc_cancel_sync(struct kc *kc);

/* KC_STATE_* bits; KC_STATE_PENDING also covers "cancelled, still linked". */
KC_EXPORT unsigned kc_state(const struct kc *kc);

/*
 * Inside a continuation's function: the number of triggers this run stands
 * for (1 unless triggers were coalesced).  0 outside a continuation.
 */
KC_EXPORT uint32_t kc_coalesced(void);

/* Object queues (kcont's kcq).  Errors: -EINVAL (q NULL). */
KC_EXPORT int	kc_queue_init(struct kc_queue *q);

/*
 * Make kc wait on q until kc_run_all(q, ...) fires it.  Errors: -EINVAL (q or
 * kc not initialised), -EBUSY (kc already pending or waiting somewhere).
 */
KC_EXPORT int	kc_enqueue(struct kc_queue *q, struct kc *kc);

/*
 * Fire q: detach every waiting continuation at once and trigger each, in the
 * order they were enqueued, with obj and status (each runs or is deferred as
 * kc_run() decides).  Returns how many were triggered (cancelled ones are
 * unlinked and not counted), or -EINVAL.  A continuation whose executor has
 * shut down is put back on q, and -ESHUTDOWN is returned after the others
 * have been triggered; so is an immediate one nested deeper than
 * KC_INLINE_DEPTH_MAX, with -ELOOP.
 */
KC_EXPORT int	kc_run_all(struct kc_queue *q, void *obj, int status);

/*
 * Fire at most one waiting continuation (the oldest): 1 if one was
 * triggered, 0 if none waited, or kc_run_all()'s errors.
 */
KC_EXPORT int	kc_run_one(struct kc_queue *q, void *obj, int status);

/* Nonzero if no continuation waits on q (a snapshot). */
KC_EXPORT int	kc_queue_empty(const struct kc_queue *q);

#ifdef __cplusplus
}
#endif

#endif /* KCONT_KC_H */
