/*
 * kcont/executor.h: executors, what kcont's interrupt levels become.
 *
 * A soft executor is one thread that runs continuations to completion; its
 * continuations must not block.  A thread executor is a fixed pool of threads
 * whose continuations may block.  Each executor has one run queue: an
 * intrusive multi-producer single-consumer list.  A producer wakes the
 * consumer only when the consumer has gone idle; the consumer drains in
 * batches of at most `batch` continuations, checking timers between batches.
 * Executors are never ordered against each other.
 *
 * On a thread executor a continuation that is triggered again while it runs
 * may start on another worker before the first run returns, as in any thread
 * pool; a soft executor runs one continuation at a time.
 *
 * Memory ownership: kc_executor_create() allocates the executor and its
 * threads, in plain thread context (never from inside a continuation);
 * kc_executor_close() gives them back, from anywhere, and its done says
 * when the threads have exited and the memory is freed (obj is then only
 * a name).  Continuations handed back by kc_executor_shutdown() belong to
 * the caller.  Objects an executor serves (sockets it owns, ports it
 * serves, splices and relays on it) are closed before it.
 */
#ifndef KCONT_EXECUTOR_H
#define KCONT_EXECUTOR_H

#include <stdint.h>

#include <kcont/kc.h>

#ifdef __cplusplus
extern "C" {
#endif

enum kc_executor_kind {
	KC_EXEC_SOFT = 1,	/* one thread, run to completion, must not block */
	KC_EXEC_THREAD = 2,	/* a fixed pool, may block */
};

struct kc_executor_attr {
	enum kc_executor_kind	 kind;
	unsigned		 nthreads;	/* THREAD: pool size, 1 to 256 (0: 4); SOFT: 0 or 1 */
	unsigned		 batch;		/* 0: 64 */
	unsigned		 spin_ns;	/* SOFT: poll this long before sleeping (0: 50000); THREAD: ignored */
	const char		*name;		/* thread name, copied (15 bytes kept) */
};

/* Shutdown: what happens to continuations still pending. */
#define KC_SHUTDOWN_DRAIN	1	/* run them all (timers at their time), then stop */
#define KC_SHUTDOWN_HANDBACK	2	/* stop after the running one; hand the rest back */

struct kc_executor_stats {
	uint64_t	runs;		/* continuation functions called from the queue */
	uint64_t	inline_runs;	/* triggers run inline on this executor's threads */
	uint64_t	batches;	/* queue drains */
	uint64_t	sleeps;		/* times a consumer thread went to sleep */
	uint64_t	wakeups;	/* wake-ups issued by producers */
	uint64_t	timers_fired;
	uint64_t	cancelled_unlinked;	/* cancelled kcs passed over */
};

/*
 * Create an executor and start its threads.  attr NULL: a soft executor.
 * Errors: -EINVAL (bad attr: unknown kind, a soft executor with nthreads > 1,
 * a pool of more than 256), -EPERM (called from inside a continuation),
 * -ENOMEM, -EAGAIN (threads could not be created).
 */
KC_EXPORT int	kc_executor_create(struct kc_executor **exp,
		    const struct kc_executor_attr *attr);

/*
 * Stop accepting work and stop the threads.  KC_SHUTDOWN_DRAIN runs every
 * pending continuation first (continuations it runs may still trigger work on
 * this executor, which is run too; timers run at their time, never early).
 * KC_SHUTDOWN_HANDBACK stops after the running continuations return and
 * hands every pending continuation (queued or armed on a timer) back through
 * *handback, linked through kc_next in the order they would have run (queued
 * ones first, then timers by deadline), each idle again and owned by the
 * caller (a KC_AUTOFREE one too: give it back with kc_free()).  handback may
 * be NULL with KC_SHUTDOWN_DRAIN; with KC_SHUTDOWN_HANDBACK it is required,
 * and without it nothing is done.  After shutdown, triggers aimed at this
 * executor fail with -ESHUTDOWN.  Errors: -EINVAL (bad arguments; the
 * executor is untouched), -EDEADLK (called from one of the executor's own
 * threads), -EALREADY (already shut down, or closing; *handback is set to
 * NULL).
 */
KC_EXPORT int	kc_executor_shutdown(struct kc_executor *ex, int how,
		    struct kc **handback);

/*
 * Give the executor back, from any thread or continuation (one of its own
 * included); it never waits.  If it has not been shut down it is, as by
 * KC_SHUTDOWN_DRAIN: every pending continuation still runs, timers at
 * their time.  done (may be NULL) is triggered once, with obj = ex and
 * status 0, when every thread of the executor has exited and its memory
 * is freed: from the call itself when it was shut down already, else from
 * the thread that ends it (a kc_executor_shutdown() in progress, or the
 * library's reaper thread, which joins the threads a close stopped).  done
 * must not be aimed at ex.  Errors: -EINVAL (ex NULL, done aimed at ex),
 * -EBADF (closed already; the pointer is good for that answer only until
 * the first close's done has run), -EAGAIN (the reaper thread could not
 * be started; nothing was done).
 */
KC_EXPORT int	kc_executor_close(struct kc_executor *ex, struct kc *done);

/* The executor whose thread calls this, or NULL on a plain thread. */
KC_EXPORT struct kc_executor *kc_executor_current(void);

/* A snapshot of the counters.  Errors: -EINVAL. */
KC_EXPORT int	kc_executor_stats(const struct kc_executor *ex,
		    struct kc_executor_stats *st);

/* The next continuation in a handed-back list, or NULL. */
KC_EXPORT struct kc *kc_next(const struct kc *kc);

#ifdef __cplusplus
}
#endif

#endif /* KCONT_EXECUTOR_H */
