/*
 * executor.c: soft executors (one thread, run to completion) and thread
 * executors (a fixed pool whose continuations may block).
 *
 * The run queue is an intrusive multi-producer single-consumer stack: a
 * producer pushes with one compare-and-swap and reads the consumer's sleeping
 * flag, which shares the head's cache line; it makes a system call only when
 * that flag says the consumer went to sleep (the idle-to-busy transition).
 * The consumer detaches the whole stack with one exchange, reverses it into
 * its private FIFO and runs it in capped batches, checking timers and control
 * requests between batches.  Before sleeping it polls for a short while,
 * because at load a new trigger usually arrives within microseconds and a
 * sleep and wake-up would cost two context switches.
 *
 * Sleeping uses the classic store-then-check on both sides: the consumer sets
 * its flag and then checks the queue; a producer pushes and then checks the
 * flag; both with sequentially consistent operations, so one of them always
 * sees the other and no wake-up is lost.  No timer polls for a lost wake-up.
 *
 * A thread executor shares the same queue among its workers; they take
 * continuations one at a time under the pool mutex, and a producer signals
 * the pool's condition variable only when a worker is idle.
 *
 * Control (shutdown, close) is a request the consumer acts on between
 * batches, so the consumer alone changes its queue; a shutdown waits for
 * the answer, a close does not: the threads of a closed executor exit by
 * themselves, the last hands the executor to the reaper, a library thread
 * that joins them, frees the executor and triggers the close's done.
 *
 * A soft executor owns an event engine (engine.h), where descriptors'
 * readiness runs continuations: it polls it between batches while anything
 * is registered, and sleeps in it (epoll instead of the futex, with the
 * engine's eventfd as the producers' wake-up) while anything is.
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "lockdebug.h"
#include "engine.h"

#define KC__DEFAULT_BATCH	64
#define KC__DEFAULT_SPIN_NS	50000u
#define KC__SPIN_PAUSE_MAX	256	/* pauses between checks, at most */
#define KC__DEFAULT_POOL	4
#define KC__MAX_THREADS		256

/* Control requests. */
#define CTL_NONE	0u
#define CTL_DRAIN	1u
#define CTL_HANDBACK	2u

struct kc__worker {
	struct kc_executor		*w_ex;
	pthread_t			 w_thread;
	unsigned			 w_index;
	bool				 w_busy;	/* pool: running a continuation */
	struct kc__runner		*w_runner;	/* its thread's, once it runs */
	struct kc_executor_stats	 w_stats;
};

struct kc_executor {
	/*
	 * Producers' line: the queue head and what a producer reads right
	 * after pushing.  The consumer writes it once per batch (the exchange)
	 * and when it goes to sleep.
	 */
	struct kc		*ex_head __attribute__((aligned(64)));
	uint32_t		 ex_sleeping;	/* soft: 1 futex, 2 engine sleep */
	uint32_t		 ex_nidle;	/* pool: workers waiting */
	uint32_t		 ex_wake_pending;	/* pool: a signal is on its way */
	bool			 ex_soft;	/* copy of ex_kind, for producers */
	uint64_t		 ex_wakeups;

	/* Set at creation, read-only afterwards. */
	enum kc_executor_kind	 ex_kind __attribute__((aligned(64)));
	unsigned		 ex_nthreads;
	unsigned		 ex_batch;
	uint64_t		 ex_spin_ns;
	char			 ex_name[16];

	/* The consumer's (soft) or the pool mutex's (thread) own. */
	struct kc		*ex_local __attribute__((aligned(64)));
	struct kc		*ex_local_tail;
	unsigned		 ex_nbusy;

	/* Timers, under ex_tlock.  ex_tnext is read without it. */
	uint32_t		 ex_tlock __attribute__((aligned(64)));
	bool			 ex_tclosed;
	uint64_t		 ex_tnext;
	struct kc__heap		 ex_timers;

	/* Control. */
	pthread_mutex_t		 ex_ctl_mtx __attribute__((aligned(64)));	/* one requester at a time */
	uint32_t		 ex_ctl;
	uint32_t		 ex_ctl_done;	/* futex: consumer replied */
	int			 ex_ctl_rc;
	struct kc		*ex_handback;
	bool			 ex_stopped;	/* threads joined (ex_llock too) */
	bool			 ex_closed;	/* queue closed (consumer side) */

	/* Soft: its event engine, where it sleeps while it has registrations. */
	struct kc__engine	 ex_en;
	/* The close (kc_executor_close()), under ex_llock. */
	uint32_t		 ex_llock;
	bool			 ex_closing;	/* close was called */
	bool			 ex_shutting;	/* a shutdown will join the threads */
	bool			 ex_reap;	/* atomic: threads exit to the reaper */
	uint32_t		 ex_live;	/* atomic: threads, + 1 while posting */
	struct kc		*ex_done;	/* the close's done */
	struct kc_executor	*ex_reapnext;	/* on the reaper's list */
	/* Soft: the executor whose port it waits on in kc_msg_do(), or NULL. */
	struct kc_executor	*ex_waitsfor;

	/* Thread executor. */
	pthread_mutex_t		 ex_mtx;
	pthread_cond_t		 ex_cond;

	struct kc__worker	 ex_workers[];
};

static void exec_exit(struct kc_executor *ex);
static void exec_free(struct kc_executor *ex);

/* Producers. */

static void
exec_wake(struct kc_executor *ex)
{
	if (ex->ex_kind == KC_EXEC_SOFT) {
		uint32_t was = KC__XCHG(&ex->ex_sleeping, 0);

		if (was == 1) {
			__atomic_add_fetch(&ex->ex_wakeups, 1, __ATOMIC_RELAXED);
			kc__futex_wake(&ex->ex_sleeping, 1);
		} else if (was == 2) {
			__atomic_add_fetch(&ex->ex_wakeups, 1, __ATOMIC_RELAXED);
			kc__engine_wake(&ex->ex_en);
		}
		return;
	}
	if (KC__XCHG(&ex->ex_wake_pending, 1) == 0) {
		__atomic_add_fetch(&ex->ex_wakeups, 1, __ATOMIC_RELAXED);
		kc__mtx_lock(&ex->ex_mtx);
		pthread_cond_signal(&ex->ex_cond);
		kc__mtx_unlock(&ex->ex_mtx);
	}
}

/* Wake the consumer if it sleeps; a load and nothing more when it is busy. */
static inline void
exec_wake_if_idle(struct kc_executor *ex)
{
	if (ex->ex_soft) {
		if (__atomic_load_n(&ex->ex_sleeping, __ATOMIC_SEQ_CST) != 0)
			exec_wake(ex);
	} else if (__atomic_load_n(&ex->ex_nidle, __ATOMIC_SEQ_CST) != 0) {
		exec_wake(ex);
	}
}

/*
 * A thread that queues work on ex marks ex in its runner for as long as it
 * touches ex afterwards (the wake-up): that work may close ex, whose
 * memory waits for the mark to go (kc__runners_quiesce()).  The relaxed
 * store is ordered before the push by the push's compare-and-swap.
 */
static inline struct kc_executor *
producer_enter(struct kc__runner *r, struct kc_executor *ex)
{
	struct kc_executor *prev = r->r_pushing;

	__atomic_store_n(&r->r_pushing, ex, __ATOMIC_RELAXED);
	return prev;
}

static inline void
producer_leave(struct kc__runner *r, struct kc_executor *prev)
{
	__atomic_store_n(&r->r_pushing, prev, __ATOMIC_RELEASE);
}

int
kc__exec_push(struct kc_executor *ex, struct kc *kc, uint64_t word)
{
	struct kc__runner *r = kc__runner_get();
	struct kc_executor *prev = producer_enter(r, ex);
	struct kc *head = KC__LOAD_RELAXED(&ex->ex_head);

	do {
		if (KC__UNLIKELY(head == KC__CLOSED)) {
			producer_leave(r, prev);
			return -ESHUTDOWN;
		}
		kc->kc_next = head;
	} while (!KC__CAS(&ex->ex_head, &head, kc));
	KC__STORE(&kc->kc_word, word);
	exec_wake_if_idle(ex);
	producer_leave(r, prev);
	return 0;
}

/* The consumer's FIFO.  Soft: its own thread; pool: under ex_mtx. */
#define EX_CONSUMER(ex)							\
	KC__DASSERT((ex)->ex_soft ? kc__on_exec(ex) : kc__held(&(ex)->ex_mtx))

static void
local_append(struct kc_executor *ex, struct kc *first, struct kc *last)
{
	EX_CONSUMER(ex);
	last->kc_next = NULL;
	if (ex->ex_local_tail != NULL)
		ex->ex_local_tail->kc_next = first;
	else
		ex->ex_local = first;
	ex->ex_local_tail = last;
}

/* Move whatever producers pushed onto the end of the FIFO, oldest first. */
static bool
local_refill(struct kc_executor *ex, struct kc *closing)
{
	struct kc *list, *fifo = NULL, *last, *next;

	EX_CONSUMER(ex);
	if (KC__LOAD_RELAXED(&ex->ex_head) == NULL && closing == NULL)
		return false;
	list = KC__XCHG(&ex->ex_head, closing);
	if (list == NULL || list == KC__CLOSED)
		return false;
	last = list;
	for (; list != NULL; list = next) {
		next = list->kc_next;
		list->kc_next = fifo;
		fifo = list;
	}
	local_append(ex, fifo, last);
	return true;
}

static struct kc *
local_pop(struct kc_executor *ex)
{
	struct kc *kc = ex->ex_local;

	EX_CONSUMER(ex);
	if (kc == NULL && local_refill(ex, NULL))
		kc = ex->ex_local;
	if (kc != NULL) {
		ex->ex_local = kc->kc_next;
		if (ex->ex_local == NULL)
			ex->ex_local_tail = NULL;
	}
	return kc;
}

/* Timers. */

static void
timers_update_next(struct kc_executor *ex)
{
	struct kc *min;

	KC__OWNED(&ex->ex_tlock);
	min = kc__heap_min(&ex->ex_timers);
	KC__STORE(&ex->ex_tnext, min != NULL ? min->kc_deadline : UINT64_MAX);
}

/* Move due timers to the run FIFO.  Soft: consumer; pool: under ex_mtx. */
static unsigned
timers_fire(struct kc_executor *ex, struct kc__worker *wk)
{
	struct kc *kc;
	uint64_t now, w;
	unsigned n = 0;

	EX_CONSUMER(ex);
	if (KC__LOAD(&ex->ex_tnext) == UINT64_MAX)
		return 0;
	now = kc__now();
	if (KC__LOAD(&ex->ex_tnext) > now)
		return 0;
	kc__lock(&ex->ex_tlock);
	while ((kc = kc__heap_min(&ex->ex_timers)) != NULL &&
	    kc->kc_deadline <= now) {
		kc__heap_remove(&ex->ex_timers, kc);
		/* Keep ARMED, the count and WAITER; only the place changes. */
		w = kc__word_stable(kc);
		while (!KC__CAS(&kc->kc_word, &w,
		    (w & ~KC__LOC_MASK) | KC__LOC_RUNQ))
			;
		local_append(ex, kc, kc);
		n++;
	}
	timers_update_next(ex);
	kc__unlock(&ex->ex_tlock);
	KC__STORE_RELAXED(&wk->w_stats.timers_fired,
	    KC__LOAD_RELAXED(&wk->w_stats.timers_fired) + n);
	return n;
}

static uint64_t
timers_next(struct kc_executor *ex)
{
	uint64_t t = KC__LOAD(&ex->ex_tnext);

	return t == UINT64_MAX ? 0 : t;
}

int
kc__exec_timer_arm(struct kc_executor *ex, struct kc *kc, uint64_t ns,
    void *obj, int status)
{
	struct kc__runner *r = kc__runner_get();
	struct kc_executor *prev;
	uint64_t now = kc__now(), w, deadline;
	bool newmin;

	deadline = ns > UINT64_MAX - 1 - now ? UINT64_MAX - 1 : now + ns;
	/* The lock orders the mark before the timer can fire. */
	prev = producer_enter(r, ex);
	kc__lock(&ex->ex_tlock);
	if (ex->ex_tclosed) {
		kc__unlock(&ex->ex_tlock);
		producer_leave(r, prev);
		return -ESHUTDOWN;
	}
	for (;;) {
		w = kc__word_stable(kc);
		if (KC__LOC(w) == KC__LOC_TIMER) {
			/* Re-arm: restart with the new delay, obj and status. */
			if (!KC__CAS(&kc->kc_word, &w,
			    KC__LOC_TIMER | KC__ARMED | (w & KC__WAITER)))
				continue;
			kc__heap_remove(&ex->ex_timers, kc);
			break;
		}
		if (KC__LOC(w) != KC__LOC_NONE) {
			kc__unlock(&ex->ex_tlock);
			producer_leave(r, prev);
			return -EBUSY;
		}
		if (KC__CAS(&kc->kc_word, &w, KC__LOC_TIMER | KC__ARMED))
			break;
	}
	/*
	 * Only timer-lock holders read obj and status of a kc on a timer (the
	 * consumer moves it to the run queue under this lock first).
	 */
	KC__STORE_RELAXED(&kc->kc_obj, obj);
	KC__STORE_RELAXED(&kc->kc_status, status);
	kc->kc_deadline = deadline;
	kc__heap_insert(&ex->ex_timers, kc);
	newmin = kc__heap_min(&ex->ex_timers) == kc;
	timers_update_next(ex);
	kc__unlock(&ex->ex_tlock);
	if (newmin)
		exec_wake_if_idle(ex);
	producer_leave(r, prev);
	return 0;
}

int
kc__exec_timer_cancel(struct kc_executor *ex, struct kc *kc)
{
	struct kc_pool *pool;
	uint64_t w;

	kc__lock(&ex->ex_tlock);
	w = kc__word_stable(kc);
	if (KC__LOC(w) != KC__LOC_TIMER) {
		kc__unlock(&ex->ex_tlock);
		return -EAGAIN;
	}
	kc__heap_remove(&ex->ex_timers, kc);
	/* Coalescing triggers may still bump the count: take the last one. */
	while (!KC__CAS(&kc->kc_word, &w, KC__LOC_NONE))
		;
	timers_update_next(ex);
	kc__unlock(&ex->ex_tlock);
	pool = (kc->kc_flags & KC_AUTOFREE) ? kc->kc_pool : NULL;
	if (w & KC__WAITER)
		kc__word_release(kc, w);
	if (pool != NULL)
		kc__pool_put(pool, kc);
	return (int)(KC__COUNT(w) >= INT32_MAX ? INT32_MAX : KC__COUNT(w) + 1);
}

/*
 * Take everything still pending off the executor, in the order it would have
 * run, and close it: the run queue to producers, the heap to new timers.
 * Armed continuations are made idle and returned; cancelled ones unlinked.
 * Soft: the consumer; pool: under ex_mtx with no worker running.
 */
static struct kc *
exec_take_all(struct kc_executor *ex)
{
	struct kc *kc, *first = NULL, **tailp = &first;
	uint64_t w;

	EX_CONSUMER(ex);
	KC__DASSERT(ex->ex_soft || ex->ex_nbusy == 0);
	local_refill(ex, KC__CLOSED);
	ex->ex_closed = true;
	kc__lock(&ex->ex_tlock);
	ex->ex_tclosed = true;
	while ((kc = kc__heap_min(&ex->ex_timers)) != NULL) {
		kc__heap_remove(&ex->ex_timers, kc);
		w = kc__word_stable(kc);
		while (!KC__CAS(&kc->kc_word, &w,
		    (w & ~KC__LOC_MASK) | KC__LOC_RUNQ))
			;
		local_append(ex, kc, kc);
	}
	timers_update_next(ex);
	kc__unlock(&ex->ex_tlock);

	while ((kc = ex->ex_local) != NULL) {
		ex->ex_local = kc->kc_next;
		for (;;) {
			w = kc__word_stable(kc);
			if (!(w & KC__ARMED)) {
				if (kc__unlink_cancelled(kc, w))
					break;
				continue;
			}
			if (!KC__CAS(&kc->kc_word, &w, KC__LOC_NONE))
				continue;
			kc->kc_next = NULL;
			*tailp = kc;
			tailp = &kc->kc_next;
			if (w & KC__WAITER)
				kc__word_release(kc, w);
			break;
		}
	}
	ex->ex_local_tail = NULL;
	return first;
}

bool
kc__exec_unlink_here(struct kc_executor *ex, struct kc *kc)
{
	struct kc__runner *r = kc__self;
	struct kc *p, *prev = NULL;
	bool pool = ex->ex_kind == KC_EXEC_THREAD;
	uint64_t w;

	/* A soft executor's FIFO belongs to its thread; a pool's to its mutex. */
	if (!pool && (r == NULL || r->r_exec != ex))
		return false;
	if (pool)
		kc__mtx_lock(&ex->ex_mtx);
	local_refill(ex, NULL);
	for (p = ex->ex_local; p != NULL && p != kc; prev = p, p = p->kc_next)
		;
	if (p != NULL) {
		if (prev != NULL)
			prev->kc_next = p->kc_next;
		else
			ex->ex_local = p->kc_next;
		if (ex->ex_local_tail == p)
			ex->ex_local_tail = prev;
	}
	if (pool)
		kc__mtx_unlock(&ex->ex_mtx);
	if (p == NULL)
		return false;	/* a pool worker holds it and will unlink it */
	for (;;) {
		w = kc__word_stable(kc);
		if (w & KC__ARMED) {
			/* Re-armed meanwhile: it must run; put it back. */
			if (pool)
				kc__mtx_lock(&ex->ex_mtx);
			local_append(ex, kc, kc);
			if (pool)
				kc__mtx_unlock(&ex->ex_mtx);
			exec_wake_if_idle(ex);
			return true;
		}
		if (kc__unlink_cancelled(kc, w))
			return true;
	}
}

/*
 * Close the executor if nothing is queued or armed: the timer heap and the
 * run queue are closed together, under the timer lock, or not at all.  The
 * caller is the consumer (soft) or holds ex_mtx with no worker busy (pool),
 * and has found its FIFO empty.
 */
static bool
exec_try_close(struct kc_executor *ex)
{
	struct kc *none = NULL;
	bool closed = false;

	EX_CONSUMER(ex);
	KC__DASSERT(ex->ex_local == NULL && (ex->ex_soft || ex->ex_nbusy == 0));
	kc__lock(&ex->ex_tlock);
	if (kc__heap_min(&ex->ex_timers) == NULL &&
	    KC__CAS(&ex->ex_head, &none, KC__CLOSED)) {
		ex->ex_tclosed = true;
		ex->ex_closed = true;
		closed = true;
	}
	kc__unlock(&ex->ex_tlock);
	return closed;
}

/* Control requests, posted by a plain thread, answered by the consumer. */

static void
ctl_reply(struct kc_executor *ex, int rc)
{
	EX_CONSUMER(ex);
	ex->ex_ctl_rc = rc;
	KC__STORE(&ex->ex_ctl, CTL_NONE);
	KC__STORE(&ex->ex_ctl_done, 1);
	kc__futex_wake(&ex->ex_ctl_done, INT32_MAX);
}

/* The soft executor's thread. */

static unsigned
soft_batch(struct kc_executor *ex, struct kc__runner *r, struct kc__worker *wk)
{
	struct kc *kc;
	unsigned n = 0;

	KC__ON_EXEC(ex);
	while (n < ex->ex_batch && (kc = local_pop(ex)) != NULL) {
		n++;
		if (KC__UNLIKELY(KC__LOAD_RELAXED(&ex->ex_ctl) ==
		    CTL_HANDBACK)) {
			/* Stop now: kc goes back to the head of the FIFO. */
			kc->kc_next = ex->ex_local;
			ex->ex_local = kc;
			if (ex->ex_local_tail == NULL)
				ex->ex_local_tail = kc;
			break;
		}
		if (kc__dispatch(r, kc) > 0)
			KC__STAT_INC(&wk->w_stats.runs);
		else
			KC__STAT_INC(&wk->w_stats.cancelled_unlinked);
	}
	if (n > 0)
		KC__STAT_INC(&wk->w_stats.batches);
	return n;
}

static bool
soft_pending(struct kc_executor *ex)
{
	return ex->ex_local != NULL || KC__LOAD(&ex->ex_head) != NULL;
}

/* Act on a control request when idle.  True: the thread must exit. */
static bool
soft_control(struct kc_executor *ex, uint32_t ctl)
{
	KC__ON_EXEC(ex);
	switch (ctl) {
	case CTL_HANDBACK:
		ex->ex_handback = exec_take_all(ex);
		ctl_reply(ex, 0);
		return true;
	case CTL_DRAIN:
		if (ex->ex_local != NULL || kc__engine_io_busy(&ex->ex_en) ||
		    !exec_try_close(ex)) {
			/*
			 * Timers still armed, work just arrived, or file
			 * operations in flight whose continuations are to run.
			 */
			return false;	/* a drain runs it, or waits */
		}
		ex->ex_handback = NULL;
		ctl_reply(ex, 0);
		return true;
	}
	return false;
}

/*
 * Sleep until a producer, a control request (unless one is being served
 * already) or the next timer wakes us.
 */
static void
soft_sleep(struct kc_executor *ex, struct kc__worker *wk, bool watch_ctl)
{
	uint64_t deadline;
	bool kq = kc__engine_busy(&ex->ex_en);

	KC__ON_EXEC(ex);
	KC__XCHG(&ex->ex_sleeping, kq ? 2 : 1);
	/*
	 * Re-check after announcing: a producer may have pushed meanwhile, or
	 * a first registration made the engine the place to sleep (its maker
	 * pokes us after counting it, and one of us sees the other).
	 */
	if (KC__LOAD(&ex->ex_head) != NULL ||
	    (watch_ctl && KC__LOAD(&ex->ex_ctl) != 0) ||
	    (!kq && kc__engine_busy(&ex->ex_en))) {
		KC__STORE(&ex->ex_sleeping, 0);
		return;
	}
	deadline = timers_next(ex);
	if (deadline != 0 && deadline <= kc__now()) {
		KC__STORE(&ex->ex_sleeping, 0);
		return;
	}
	KC__STAT_INC(&wk->w_stats.sleeps);
	(void)KC__TR1(KC_TR_EXEC_SLEEP, ex);
	if (kq) {
		struct timespec ts, *tp = NULL;

		if (deadline != 0) {
			uint64_t now = kc__now(), d;

			d = deadline > now ? deadline - now : 0;
			ts.tv_sec = (time_t)(d / 1000000000ull);
			ts.tv_nsec = (long)(d % 1000000000ull);
			tp = &ts;
		}
		kc__engine_run(&ex->ex_en, tp, &ex->ex_sleeping);
	} else {
		kc__futex_wait(&ex->ex_sleeping, 1, deadline);
	}
	KC__STORE(&ex->ex_sleeping, 0);
	if (!kq)
		(void)KC__TR1(KC_TR_EXEC_WAKE, ex);
}

/* Run what the engine has ready now, if anything is registered. */
static bool
soft_engine(struct kc_executor *ex)
{
	static const struct timespec zero;

	if (!kc__engine_busy(&ex->ex_en))
		return false;
	return kc__engine_run(&ex->ex_en, &zero, NULL) > 0;
}

/*
 * Poll briefly for new work before sleeping.  True if some arrived.  The
 * checks back off exponentially: every read of the queue head takes its
 * cache line away from the producer, whose next push then misses, so an
 * idle consumer that polled flat out would slow the very producer it waits
 * for.  The first checks are a few cycles apart, so a lone hand-off (a round
 * trip) is still seen at once.
 */
static bool
soft_spin(struct kc_executor *ex)
{
	uint64_t until, tnext;
	unsigned i, pause = 1;

	if (ex->ex_spin_ns == 0)
		return false;
	until = kc__now() + ex->ex_spin_ns;
	tnext = KC__LOAD(&ex->ex_tnext);
	if (tnext < until)
		until = tnext;
	for (;;) {
		if (KC__LOAD_RELAXED(&ex->ex_head) != NULL ||
		    KC__LOAD_RELAXED(&ex->ex_ctl) != 0)
			return true;
		for (i = 0; i < pause; i++)
			kc__cpu_relax();
		if (pause < KC__SPIN_PAUSE_MAX)
			pause *= 2;
		else if (kc__now() >= until)
			return false;
	}
}

static void *
soft_main(void *arg)
{
	struct kc__worker *wk = arg;
	struct kc_executor *ex = wk->w_ex;
	struct kc__runner *r = kc__runner_get();
	bool draining;
	uint32_t ctl;

	r->r_exec = ex;
	r->r_stats = &wk->w_stats;
	KC__STORE(&wk->w_runner, r);
	pthread_setname_np(pthread_self(), ex->ex_name);
	kc__trace_thread_named();
	for (;;) {
		if (soft_batch(ex, r, wk) > 0) {
			timers_fire(ex, wk);
			if (KC__LOAD(&ex->ex_ctl) == CTL_HANDBACK)
				break;
			soft_engine(ex);
			continue;
		}
		if (timers_fire(ex, wk) > 0 || soft_engine(ex) ||
		    soft_pending(ex))
			continue;
		ctl = KC__LOAD(&ex->ex_ctl);
		draining = false;
		if (ctl != CTL_NONE) {
			if (soft_control(ex, ctl))
				goto out;
			/* A drain waiting for timers sleeps until they are due. */
			draining = ctl == CTL_DRAIN;
			if (!draining)
				continue;
		}
		/*
		 * With registrations, readiness comes from the engine, which
		 * the spin does not watch: spinning would only delay I/O and
		 * take the CPU from the peer that is about to send it.  Sleep
		 * in the engine at once, as an event loop does.
		 */
		if (draining || kc__engine_busy(&ex->ex_en) || !soft_spin(ex))
			soft_sleep(ex, wk, !draining);
	}
	soft_control(ex, CTL_HANDBACK);
out:
	r->r_exec = NULL;
	r->r_stats = NULL;
	exec_exit(ex);
	return NULL;
}

/* The thread executor's workers. */

/*
 * Wait on the pool's condition variable, under ex_mtx.  While a hand-back
 * waits for busy workers, queued work is not taken, so it is no reason to
 * stay awake.
 */
static void
pool_sleep(struct kc_executor *ex, bool handing_back)
{
	struct timespec ts;
	uint64_t deadline;

	KC__OWNED(&ex->ex_mtx);
	KC__ADD(&ex->ex_nidle, 1);
	if (!handing_back && KC__LOAD(&ex->ex_head) != NULL) {
		KC__ADD(&ex->ex_nidle, -1);
		return;
	}
	/*
	 * A signal some producer sent may have found every worker awake and
	 * been lost, leaving "a wake-up is on its way" set: clear it before
	 * waiting, under the mutex, so that the next producer signals us.
	 */
	KC__STORE(&ex->ex_wake_pending, 0);
	deadline = timers_next(ex);
	if (deadline == 0) {
		kc__cond_wait(&ex->ex_cond, &ex->ex_mtx);
	} else {
		ts.tv_sec = (time_t)(deadline / 1000000000ull);
		ts.tv_nsec = (long)(deadline % 1000000000ull);
		(void)kc__cond_timedwait(&ex->ex_cond, &ex->ex_mtx, &ts);
	}
	KC__ADD(&ex->ex_nidle, -1);
	KC__STORE(&ex->ex_wake_pending, 0);
}

/* A drain or hand-back, under ex_mtx with this worker idle.  True: exit. */
static bool
pool_control(struct kc_executor *ex, uint32_t ctl)
{
	KC__OWNED(&ex->ex_mtx);
	KC__ON_EXEC(ex);
	if (ex->ex_closed)
		return true;
	if (ex->ex_nbusy > 0)
		return false;	/* the last worker to finish acts */
	if (ctl == CTL_HANDBACK) {
		ex->ex_handback = exec_take_all(ex);
	} else {
		if (ex->ex_local != NULL || !exec_try_close(ex))
			return false;	/* drain: run it, or wait for timers */
		ex->ex_handback = NULL;
	}
	pthread_cond_broadcast(&ex->ex_cond);
	ctl_reply(ex, 0);
	return true;
}

static void *
pool_main(void *arg)
{
	struct kc__worker *wk = arg;
	struct kc_executor *ex = wk->w_ex;
	struct kc__runner *r = kc__runner_get();
	char name[16];
	struct kc *kc;
	uint32_t ctl;

	r->r_exec = ex;
	r->r_stats = &wk->w_stats;
	KC__STORE(&wk->w_runner, r);
	snprintf(name, sizeof(name), "%.11s/%u", ex->ex_name, wk->w_index);
	pthread_setname_np(pthread_self(), name);
	kc__trace_thread_named();
	kc__mtx_lock(&ex->ex_mtx);
	for (;;) {
		if (ex->ex_closed)
			break;
		ctl = KC__LOAD(&ex->ex_ctl);
		if (ctl != CTL_HANDBACK && (kc = local_pop(ex)) != NULL) {
			/* More waiting and a worker idle: pass the wake-up on. */
			if (ex->ex_local != NULL &&
			    KC__LOAD(&ex->ex_nidle) != 0)
				pthread_cond_signal(&ex->ex_cond);
			ex->ex_nbusy++;
			wk->w_busy = true;
			kc__mtx_unlock(&ex->ex_mtx);
			if (kc__dispatch(r, kc) > 0)
				KC__STAT_INC(&wk->w_stats.runs);
			else
				KC__STAT_INC(&wk->w_stats.cancelled_unlinked);
			KC__STAT_INC(&wk->w_stats.batches);
			kc__mtx_lock(&ex->ex_mtx);
			wk->w_busy = false;
			ex->ex_nbusy--;
			continue;
		}
		if (ctl != CTL_HANDBACK && timers_fire(ex, wk) > 0)
			continue;
		if (ctl != CTL_NONE && pool_control(ex, ctl))
			break;
		KC__STAT_INC(&wk->w_stats.sleeps);
		(void)KC__TR1(KC_TR_EXEC_SLEEP, ex);
		pool_sleep(ex, ctl == CTL_HANDBACK);
		(void)KC__TR1(KC_TR_EXEC_WAKE, ex);
	}
	kc__mtx_unlock(&ex->ex_mtx);
	r->r_exec = NULL;
	r->r_stats = NULL;
	exec_exit(ex);
	return NULL;
}

/* Set-up and tear-down, in thread context. */

static bool
in_continuation(void)
{
	return kc__self != NULL && kc__self->r_depth > 0;
}

int
kc_executor_create(struct kc_executor **exp, const struct kc_executor_attr *attr)
{
	struct kc_executor_attr def = { .kind = KC_EXEC_SOFT };
	struct kc_executor *ex;
	pthread_condattr_t ca;
	sigset_t all, old;
	unsigned i, n;
	int err;

	if (exp == NULL)
		return -EINVAL;
	*exp = NULL;
	if (attr == NULL)
		attr = &def;
	if (attr->kind == KC_EXEC_SOFT) {
		if (attr->nthreads > 1)
			return -EINVAL;
		n = 1;
	} else if (attr->kind == KC_EXEC_THREAD) {
		n = attr->nthreads == 0 ? KC__DEFAULT_POOL : attr->nthreads;
		if (n > KC__MAX_THREADS)
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	if (in_continuation())
		return -EPERM;

	ex = aligned_alloc(64, (sizeof(*ex) + n * sizeof(ex->ex_workers[0]) +
	    63) & ~(size_t)63);
	if (ex == NULL)
		return -ENOMEM;
	memset(ex, 0, sizeof(*ex) + n * sizeof(ex->ex_workers[0]));
	ex->ex_kind = attr->kind;
	ex->ex_soft = attr->kind == KC_EXEC_SOFT;
	ex->ex_nthreads = n;
	ex->ex_batch = attr->batch != 0 ? attr->batch : KC__DEFAULT_BATCH;
	ex->ex_spin_ns = attr->spin_ns != 0 ? attr->spin_ns :
	    (attr->kind == KC_EXEC_SOFT ? KC__DEFAULT_SPIN_NS : 0);
	snprintf(ex->ex_name, sizeof(ex->ex_name), "%s",
	    attr->name != NULL ? attr->name :
	    attr->kind == KC_EXEC_SOFT ? "kc-soft" : "kc-pool");
	ex->ex_tnext = UINT64_MAX;
	ex->ex_en.en_epfd = ex->ex_en.en_wakefd = -1;
	ex->ex_live = n;
	if (attr->kind == KC_EXEC_SOFT &&
	    (err = kc__engine_init(&ex->ex_en, ex, true)) != 0) {
		free(ex);
		return err == -EMFILE || err == -ENFILE ? err : -ENOMEM;
	}
	pthread_mutex_init(&ex->ex_ctl_mtx, NULL);
	pthread_mutex_init(&ex->ex_mtx, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ex->ex_cond, &ca);
	pthread_condattr_destroy(&ca);

	/* Signals go to the application's own threads, not to executors. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < n; i++) {
		ex->ex_workers[i].w_ex = ex;
		ex->ex_workers[i].w_index = i;
		err = pthread_create(&ex->ex_workers[i].w_thread, NULL,
		    attr->kind == KC_EXEC_SOFT ? soft_main : pool_main,
		    &ex->ex_workers[i]);
		if (err != 0)
			break;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (i < n) {
		/* Nothing can be queued yet: stop the threads that started. */
		ex->ex_nthreads = i;
		kc_executor_shutdown(ex, KC_SHUTDOWN_DRAIN, NULL);
		exec_free(ex);
		return -EAGAIN;
	}
	*exp = ex;
	return 0;
}

/* Post a control request: the consumer acts on it when it is idle. */
static void
exec_post(struct kc_executor *ex, uint32_t ctl)
{
	KC__STORE(&ex->ex_ctl_done, 0);
	KC__STORE(&ex->ex_ctl, ctl);
	if (ex->ex_kind == KC_EXEC_SOFT) {
		exec_wake(ex);
	} else {
		kc__mtx_lock(&ex->ex_mtx);
		pthread_cond_broadcast(&ex->ex_cond);
		kc__mtx_unlock(&ex->ex_mtx);
	}
}

/* Post a control request and wait for the consumer's answer. */
static int
exec_request(struct kc_executor *ex, uint32_t ctl)
{
	KC__OWNED(&ex->ex_ctl_mtx);
	KC__DASSERT(!kc__on_exec(ex));
	exec_post(ex, ctl);
	while (KC__LOAD(&ex->ex_ctl_done) == 0)
		kc__futex_wait(&ex->ex_ctl_done, 0, 0);
	return ex->ex_ctl_rc;
}

static void
exec_join(struct kc_executor *ex)
{
	unsigned i;

	for (i = 0; i < ex->ex_nthreads; i++)
		pthread_join(ex->ex_workers[i].w_thread, NULL);
}

/*
 * The executor's end: its threads are joined and nothing is queued.  It
 * is freed, then the close's done is triggered.
 */
static void
exec_free(struct kc_executor *ex)
{
	struct kc *done = ex->ex_done;
	uintptr_t name = (uintptr_t)ex;

	KC__ASSERT(ex->ex_local == NULL && ex->ex_timers.h_root == NULL);
	kc__runners_quiesce(ex);
	if (ex->ex_soft)
		kc__engine_fini(&ex->ex_en);
	pthread_mutex_destroy(&ex->ex_ctl_mtx);
	pthread_mutex_destroy(&ex->ex_mtx);
	pthread_cond_destroy(&ex->ex_cond);
	free(ex);
	kc__close_done(done, name);
}

/*
 * The reaper: one library thread, started by the first close that has to
 * stop an executor's threads itself, and kept.  A thread cannot join
 * itself, and the caller of a close must not wait, so the last thread of a
 * closed executor hands it here; the reaper joins the threads (they have
 * returned, so the joins are short), frees the executor and triggers the
 * close's done from this plain thread.
 */
static pthread_mutex_t reap_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reap_cond = PTHREAD_COND_INITIALIZER;
static struct kc_executor *reap_list;	/* under reap_mtx */
static bool reap_started;		/* under reap_mtx */

static void *
reaper_main(void *arg)
{
	struct kc_executor *ex;

	(void)arg;
	pthread_setname_np(pthread_self(), "kc-reaper");
	kc__mtx_lock(&reap_mtx);
	for (;;) {
		while ((ex = reap_list) == NULL)
			kc__cond_wait(&reap_cond, &reap_mtx);
		reap_list = ex->ex_reapnext;
		kc__mtx_unlock(&reap_mtx);
		exec_join(ex);
		exec_free(ex);
		kc__mtx_lock(&reap_mtx);
	}
	return NULL;
}

/* Start the reaper if it is not running yet: 0 or -EAGAIN. */
static int
reaper_start(void)
{
	pthread_attr_t at;
	pthread_t t;
	sigset_t all, old;
	int err = 0;

	kc__mtx_lock(&reap_mtx);
	if (!reap_started) {
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		err = pthread_create(&t, &at, reaper_main, NULL);
		pthread_attr_destroy(&at);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		reap_started = err == 0;
	}
	kc__mtx_unlock(&reap_mtx);
	return err == 0 ? 0 : -EAGAIN;
}

/*
 * One party of a closing executor lets go: each of its threads as it
 * exits, and the close once it has posted its request.  The last hands the
 * executor to the reaper.
 */
static void
exec_let_go(struct kc_executor *ex)
{
	if (__atomic_sub_fetch(&ex->ex_live, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	kc__mtx_lock(&reap_mtx);
	ex->ex_reapnext = reap_list;
	reap_list = ex;
	pthread_cond_signal(&reap_cond);
	kc__mtx_unlock(&reap_mtx);
}

/* A thread of ex is about to exit; nothing of it runs any more. */
static void
exec_exit(struct kc_executor *ex)
{
	if (KC__LOAD(&ex->ex_reap))
		exec_let_go(ex);
}

int
kc_executor_shutdown(struct kc_executor *ex, int how, struct kc **handback)
{
	bool fin;
	int rc = 0;

	if (ex == NULL || (how != KC_SHUTDOWN_DRAIN &&
	    how != KC_SHUTDOWN_HANDBACK) ||
	    (how == KC_SHUTDOWN_HANDBACK && handback == NULL))
		return -EINVAL;
	if (kc__on_exec(ex))
		return -EDEADLK;
	if (handback != NULL)
		*handback = NULL;
	kc__mtx_lock(&ex->ex_ctl_mtx);
	if (ex->ex_stopped) {
		kc__mtx_unlock(&ex->ex_ctl_mtx);
		return -EALREADY;
	}
	kc__lock(&ex->ex_llock);
	if (ex->ex_closing) {
		/* Closing already: its own drain stops the threads. */
		kc__unlock(&ex->ex_llock);
		kc__mtx_unlock(&ex->ex_ctl_mtx);
		return -EALREADY;
	}
	ex->ex_shutting = true;
	kc__unlock(&ex->ex_llock);
	if (ex->ex_nthreads > 0) {
		rc = exec_request(ex, how == KC_SHUTDOWN_DRAIN ? CTL_DRAIN :
		    CTL_HANDBACK);
		exec_join(ex);
		if (handback != NULL)
			*handback = ex->ex_handback;
		ex->ex_handback = NULL;
	}
	/* A close that came meanwhile left the end to this call. */
	kc__lock(&ex->ex_llock);
	ex->ex_stopped = true;
	ex->ex_shutting = false;
	fin = ex->ex_closing;
	kc__unlock(&ex->ex_llock);
	kc__mtx_unlock(&ex->ex_ctl_mtx);
	if (fin)
		exec_free(ex);
	return rc;
}

int
kc_executor_close(struct kc_executor *ex, struct kc *done)
{
	bool now = false, stop = false;
	int rc;

	if (ex == NULL || (done != NULL && done->kc_exec == ex))
		return -EINVAL;
	kc__lock(&ex->ex_llock);
	if (ex->ex_closing) {
		kc__unlock(&ex->ex_llock);
		return -EBADF;
	}
	if (!ex->ex_stopped && !ex->ex_shutting &&
	    (rc = reaper_start()) != 0) {
		kc__unlock(&ex->ex_llock);
		return rc;
	}
	ex->ex_closing = true;
	ex->ex_done = done;
	if (ex->ex_stopped)
		now = true;		/* shut down: its threads are joined */
	else if (!ex->ex_shutting)
		stop = true;		/* else the shutdown ends it */
	if (stop) {
		/* Held until the request is posted: ex stays till then. */
		KC__ADD(&ex->ex_live, 1);
		KC__STORE(&ex->ex_reap, true);
	}
	kc__unlock(&ex->ex_llock);
	if (now) {
		exec_free(ex);
	} else if (stop) {
		exec_post(ex, CTL_DRAIN);
		exec_let_go(ex);
	}
	return 0;
}

void
kc__exec_poke(struct kc_executor *ex)
{
	exec_wake_if_idle(ex);
}

struct kc__engine *
kc__exec_engine(struct kc_executor *ex)
{
	return ex->ex_soft ? &ex->ex_en : NULL;
}

int
kc_executor_stats(const struct kc_executor *ex, struct kc_executor_stats *st)
{
	const struct kc_executor_stats *w;
	unsigned i;

	if (ex == NULL || st == NULL)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	for (i = 0; i < ex->ex_nthreads; i++) {
		w = &ex->ex_workers[i].w_stats;
		st->runs += KC__LOAD_RELAXED(&w->runs);
		st->inline_runs += KC__LOAD_RELAXED(&w->inline_runs);
		st->batches += KC__LOAD_RELAXED(&w->batches);
		st->sleeps += KC__LOAD_RELAXED(&w->sleeps);
		st->timers_fired += KC__LOAD_RELAXED(&w->timers_fired);
		st->cancelled_unlinked +=
		    KC__LOAD_RELAXED(&w->cancelled_unlinked);
	}
	st->wakeups = __atomic_load_n(&ex->ex_wakeups, __ATOMIC_RELAXED);
	return 0;
}

struct kc *
kc_next(const struct kc *kc)
{
	return kc != NULL ? kc->kc_next : NULL;
}

bool
kc__exec_soft(const struct kc_executor *ex)
{
	return ex->ex_soft;
}

const char *
kc__exec_name(const struct kc_executor *ex)
{
	return ex->ex_name;
}

struct kc_executor **
kc__exec_waitsfor(struct kc_executor *ex)
{
	return &ex->ex_waitsfor;
}

bool
kc__exec_stopped(struct kc_executor *ex)
{
	bool stopped;

	KC__DASSERT(!kc__on_exec(ex));
	/* A shutdown holds this mutex until its threads are joined. */
	kc__mtx_lock(&ex->ex_ctl_mtx);
	stopped = ex->ex_stopped;
	kc__mtx_unlock(&ex->ex_ctl_mtx);
	return stopped;
}

bool
kc__exec_closed(const struct kc_executor *ex)
{
	return __atomic_load_n(&ex->ex_head, __ATOMIC_ACQUIRE) == KC__CLOSED;
}
