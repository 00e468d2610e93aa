/*
 * internal.h: what the core's files share.  Nothing here is public.
 *
 * The public structures keep plain fields so that C and C++ callers can embed
 * them; the library reaches them only through the __atomic builtins below.
 */
#ifndef KC_CORE_INTERNAL_H
#define KC_CORE_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <kcont.h>

#include "core/trace_int.h"

/* Cheap invariants are always on; expensive ones only with KC_DEBUG. */
#define KC__ASSERT(c) do {						\
	if (__builtin_expect(!(c), 0))					\
		kc__panic(__FILE__, __LINE__, #c);			\
} while (0)
#ifdef KC_DEBUG
#define KC__DASSERT(c)	KC__ASSERT(c)
#else
#define KC__DASSERT(c)	do { } while (0)
#endif

#define KC__LIKELY(x)	__builtin_expect(!!(x), 1)
#define KC__UNLIKELY(x)	__builtin_expect(!!(x), 0)

#define KC__LOAD(p)		__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define KC__LOAD_RELAXED(p)	__atomic_load_n((p), __ATOMIC_RELAXED)
#define KC__STORE(p, v)		__atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define KC__STORE_RELAXED(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define KC__CAS(p, expp, v)						\
	__atomic_compare_exchange_n((p), (expp), (v), false,		\
	    __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE)
#define KC__XCHG(p, v)		__atomic_exchange_n((p), (v), __ATOMIC_SEQ_CST)
#define KC__ADD(p, v)		__atomic_add_fetch((p), (v), __ATOMIC_SEQ_CST)

/* A statistics counter written by one thread, read by any. */
#define KC__STAT_INC(p)							\
	__atomic_store_n((p), __atomic_load_n((p), __ATOMIC_RELAXED) + 1, \
	    __ATOMIC_RELAXED)

void	kc__panic(const char *file, int line, const char *what)
	    __attribute__((noreturn));

static inline void
kc__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t kc__now(void);

/* futex(2) on a 32-bit word; deadline is absolute CLOCK_MONOTONIC ns, 0 = none. */
int	kc__futex_wait(uint32_t *uaddr, uint32_t val, uint64_t deadline);
void	kc__futex_wake(uint32_t *uaddr, int n);

/*
 * A small futex lock (0 free, 1 held, 2 held with waiters).  Used where a
 * pthread mutex would do but the lock must fit in a public structure, and for
 * the short sections of the core (timer heaps, pool lists, queue removal).
 */
void	kc__lock(uint32_t *l);
void	kc__unlock(uint32_t *l);

/*
 * The state word of a kc (struct kc.kc_word).
 *
 *   bits 0-1  where it is linked: nowhere, a run queue, a kc_queue, a timer
 *   bit  2    ARMED: it will run when its queue, object or timer reaches it;
 *             linked but not armed means "cancelled, not yet unlinked"
 *   bit  3    BUSY: a thread is writing obj and status, or an executor
 *             that claimed the run is reading them; others wait
 *   bit  4    WAITER: a kc_cancel_sync() sleeps on this word
 *   bits 32-63  triggers coalesced into the pending run, beyond the first
 */
#define KC__LOC_MASK	0x3ull
#define KC__LOC_NONE	0x0ull
#define KC__LOC_RUNQ	0x1ull
#define KC__LOC_KCQ	0x2ull
#define KC__LOC_TIMER	0x3ull
#define KC__ARMED	0x4ull
#define KC__BUSY	0x8ull
#define KC__WAITER	0x10ull
#define KC__COUNT_SHIFT	32
#define KC__COUNT_ONE	(1ull << KC__COUNT_SHIFT)
#define KC__COUNT_MAX	0xffffffffull

#define KC__LOC(w)	((w) & KC__LOC_MASK)
#define KC__COUNT(w)	((uint32_t)((w) >> KC__COUNT_SHIFT))

#define KC__MAGIC	((uintptr_t)0x6b636f6e74214b43ull)	/* "kcont!KC" */
#define KC__MAGIC_FREE	((uintptr_t)0x6b63667265652121ull)	/* "kcfree!!" */

static inline bool
kc__valid(const struct kc *kc)
{
	return kc != NULL && kc->kc_magic == (KC__MAGIC ^ (uintptr_t)kc);
}

/* Read the state word, waiting out a writer that holds BUSY. */
uint64_t kc__word_stable(struct kc *kc);

/* Clear the word to idle and wake a kc_cancel_sync() sleeping on it. */
void	kc__word_release(struct kc *kc, uint64_t old);

/*
 * A runner: per-thread record of the continuations that thread is running,
 * so that kc_cancel_sync() on another thread can wait for them.  Runners are
 * never freed: a thread that exits gives its runner back for the next thread,
 * so a reader racing with an exit only ever sees a valid record.
 */
struct kc__runner {
	/*
	 * r_stack[d]: the kc running at nesting depth d.  A kc_cancel_sync()
	 * waiting for it sleeps on the slot's low 32 bits (a futex), counted
	 * in r_waiters (or, where membarrier(2) is not to be had, flagged in
	 * the slot's bit 0): see kc__unpublish().
	 */
	uintptr_t		 r_stack[KC_INLINE_DEPTH_MAX + 1];
	uint32_t		 r_waiters;	/* cancellers asleep on a slot */
	uint32_t		 r_depth;	/* own thread only */
	uint32_t		 r_counts[KC_INLINE_DEPTH_MAX];	/* [d]:
						   kc_coalesced() of the run
						   at depth d */
	unsigned		 r_index;	/* small, unique among live threads */
	struct kc_executor	*r_exec;	/* executor this thread serves, or NULL */
	struct kc_executor	*r_pushing;	/* queueing work on it: see
						   kc__runners_quiesce() */
	struct kc_executor_stats *r_stats;	/* its counters, or NULL */
	struct kc__runner	*r_all;		/* every runner ever made */
	struct kc__runner	*r_free;	/* free list link */
};

extern __thread struct kc__runner *kc__self;

struct kc__runner *kc__runner_make(void);	/* kc__runner_get()'s slow path */

/* This thread's runner; makes one if needed. */
static inline struct kc__runner *
kc__runner_get(void)
{
	struct kc__runner *r = kc__self;

	return __builtin_expect(r != NULL, 1) ? r : kc__runner_make();
}

/*
 * kc__publish(), kc__unpublish() and kc__invoke(), on every run's path, are
 * defined inline at the end of this file.
 */
extern bool kc__asym;	/* membarrier(2) fences cancellers: runner.c */

/* True if some thread is running kc now. */
bool	kc__running_anywhere(const struct kc *kc);
/* True if the calling thread is running kc (at any nesting depth). */
bool	kc__running_here(const struct kc *kc);
/* Wait until no thread other than the caller runs kc. */
void	kc__wait_not_running(const struct kc *kc);

/* Executors: the parts kc.c needs. */
#define KC__CLOSED	((struct kc *)(uintptr_t)1)	/* run queue head after close */

/*
 * Push a kc whose BUSY bit the caller holds on ex's run queue, then store
 * word (BUSY cleared) and wake the consumer if it sleeps.  -ESHUTDOWN if the
 * queue is closed; then nothing was pushed or stored.
 */
int	kc__exec_push(struct kc_executor *ex, struct kc *kc, uint64_t word);
/* Arm, re-arm or cancel kc on ex's timer heap. */
int	kc__exec_timer_arm(struct kc_executor *ex, struct kc *kc, uint64_t ns,
	    void *obj, int status);
int	kc__exec_timer_cancel(struct kc_executor *ex, struct kc *kc);
/*
 * Unlink a cancelled kc from ex's run queue if the calling thread may (it is
 * ex's consumer); false if it must wait for the executor to pass it.
 */
bool	kc__exec_unlink_here(struct kc_executor *ex, struct kc *kc);

/*
 * Run kc on this thread now, whatever its executor.  -EAGAIN if it is linked
 * somewhere (not idle) or nesting is too deep for a deferrable kc; -ELOOP
 * when too deep for an immediate one.
 */
int	kc__trigger_inline(struct kc *kc, void *obj, int status);

/*
 * The one lifetime rule's last step: trigger a close's done (if any) with
 * obj = the address the object had, its memory already freed (and the
 * close's status, 0 unless the object's close can fail).  The
 * address is only a name now and is never dereferenced; it is passed
 * through an empty asm so that the compiler does not take the call for a
 * use of the freed memory.
 */
static inline void
kc__close_done_status(struct kc *done, uintptr_t name, int status)
{
	__asm__("" : "+r"(name));
	if (done != NULL)
		(void)kc_run(done, (void *)name, status);
}

static inline void
kc__close_done(struct kc *done, uintptr_t name)
{
	kc__close_done_status(done, name, 0);
}

/*
 * Wait until no thread is still touching ex after queueing work on it (its
 * runner's r_pushing names ex from before its push until after the
 * wake-up).  The work may be what closes ex, so ex's memory waits for
 * this.  Every push that got in happened before the queue closed, and so
 * before the caller's join: its mark is seen, and waited for.
 */
void	kc__runners_quiesce(const struct kc_executor *ex);

/* Message ports: what an executor is, and whom it waits on (kc_msg_do). */
bool	kc__exec_soft(const struct kc_executor *ex);
bool	kc__exec_closed(const struct kc_executor *ex);	/* shut down */
/*
 * Has ex stopped for good (kc_executor_shutdown() returned: its threads
 * joined, none of its continuations running or ever to run)?  Waits for
 * a shutdown in progress to end.  Not on ex's own thread.
 */
bool	kc__exec_stopped(struct kc_executor *ex);
const char *kc__exec_name(const struct kc_executor *ex);
struct kc_executor **kc__exec_waitsfor(struct kc_executor *ex);

/* Wake a soft executor if it sleeps (its kqueue changed). */
void	kc__exec_poke(struct kc_executor *ex);

/* Take a kc popped from a run queue: run it, or unlink it if cancelled. */
int	kc__dispatch(struct kc__runner *r, struct kc *kc);
#ifdef KC_DEBUG
/*
 * Tests only, in debug builds: if set, kc__dispatch() calls it on the
 * executor's thread with the kc, after reading its word and before
 * claiming it, so that a test can trigger or cancel the kc in between.
 */
extern void (*kc__dispatch_hook)(struct kc *kc);
#endif
/* Unlink a linked, disarmed kc; false if it was re-armed meanwhile. */
bool	kc__unlink_cancelled(struct kc *kc, uint64_t w);
/* Remove a disarmed kc from the kc_queue q if q still holds it. */
void	kc__kcq_unlink(struct kc_queue *q, struct kc *kc);

/* kc_init() for a kc that belongs to pool (which may be NULL). */
int	kc__init_pooled(struct kc *kc, kc_fn *fn, void *env,
	    struct kc_executor *exec, unsigned flags, struct kc_pool *pool);

/*
 * kc_chain_read() with the room's size chosen: at least min bytes (0: the
 * default segment), at most max read.  *full (may be NULL) says whether the
 * read filled all the room it had: a short read took all there was.
 */
ssize_t	kc__chain_read(struct kc_chain *c, int fd, size_t min, size_t max,
	    bool *full);

/*
 * Describe up to max views of c from *cursor on (NULL: the first), and
 * leave *cursor at the view after them; returns the iovecs filled, and
 * their bytes in *bytesp.  The cursor holds while c is unchanged.
 */
int	kc__chain_iov_next(const struct kc_chain *c, const void **cursor,
	    struct iovec *iov, int max, size_t *bytesp);

/* Pool: return an AUTOFREE kc after it ran or was unlinked cancelled. */
void	kc__pool_put(struct kc_pool *p, struct kc *kc);

/* Timer heap: intrusive pairing heap ordered by kc_deadline. */
struct kc__heap {
	struct kc	*h_root;
	size_t		 h_count;
};
void		 kc__heap_insert(struct kc__heap *h, struct kc *kc);
void		 kc__heap_remove(struct kc__heap *h, struct kc *kc);
struct kc	*kc__heap_min(const struct kc__heap *h);

/* ---- on every run's path: inline ---- */

/*
 * Mark kc as running on r (at the next depth) before claiming it, so that a
 * canceller that loses the race sees it running; kc__unpublish() undoes a
 * claim that failed.  Both on r's own thread.
 */
static inline void
kc__publish(struct kc__runner *r, struct kc *kc)
{
	/*
	 * Relaxed: the caller's claim (a compare-and-swap on kc_word that
	 * releases) or the trigger that follows orders it before any
	 * canceller's acquire of the same word, and every later change of that
	 * word is an acquire-release operation, so the chain holds.
	 */
	__atomic_store_n(&r->r_stack[r->r_depth], (uintptr_t)kc,
	    __ATOMIC_RELAXED);
}

/* The futex word inside a runner slot: its low 32 bits. */
static inline uint32_t *
kc__slot_futex(uintptr_t *slot)
{
	return (uint32_t *)(void *)slot +
	    (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__ ? 1 : 0);
}

/*
 * The end of a run, on every run's path: clear the slot, and wake a
 * kc_cancel_sync() that sleeps on it.  A clear that then checks for a
 * sleeper is Dekker's pattern, which needs a full fence between the store
 * and the load, or one locked exchange as before: about 6 of the 13 ns an
 * inline kc_run took.  Instead the canceller, on its rare path, counts
 * itself in r_waiters and then calls membarrier(2), which runs a full
 * fence on every thread of the process that is running: either this
 * thread cleared the slot before that fence (the canceller sees it clear)
 * or its load comes after it (and sees the count and wakes it).  The
 * compiler must keep the two in order; the processor is fenced by the
 * canceller.  Without membarrier, the exchange.
 */
static inline void
kc__unpublish(struct kc__runner *r, uint32_t d)
{
	uintptr_t *slot = &r->r_stack[d];

	if (KC__LIKELY(kc__asym)) {
		__atomic_store_n(slot, 0, __ATOMIC_RELEASE);
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		if (KC__UNLIKELY(__atomic_load_n(&r->r_waiters,
		    __ATOMIC_RELAXED) != 0))
			kc__futex_wake(kc__slot_futex(slot), INT32_MAX);
		return;
	}
	/* One exchange both clears the slot and tells whether to wake. */
	if (__atomic_exchange_n(slot, 0, __ATOMIC_ACQ_REL) & 1)
		kc__futex_wake(kc__slot_futex(slot), INT32_MAX);
}

/*
 * Call kc's function with obj and status as one run that stands for count
 * triggers.  The caller has published kc and made it idle (or never linked
 * it).  After the call the kc is not touched, except that an AUTOFREE kc goes
 * back to its pool.  Must be called on r's thread.
 */
static inline __attribute__((always_inline)) void
kc__invoke(struct kc__runner *r, struct kc *kc, kc_fn *fn, void *env,
    void *obj, int status, uint32_t count, struct kc_pool *autofree)
{
	/*
	 * The depth is read once: every nested run puts it back as it found
	 * it before returning here, so the value read is the one to restore.
	 */
	uint32_t d = r->r_depth;

	KC__DASSERT(KC__LOAD_RELAXED(&r->r_stack[d]) == (uintptr_t)kc);
	KC__ASSERT(d < KC_INLINE_DEPTH_MAX);
	r->r_counts[d] = count;
	r->r_depth = d + 1;

	if (KC__TRACING())
		(void)kc__trace_rec(KC_TR_RUN_BEGIN, 4, KC__TRU(kc),
		    KC__TRU(fn), KC__TRU(r->r_exec),
		    __atomic_exchange_n(&kc->kc_flow, 0, __ATOMIC_RELAXED), 0);
	fn(obj, env, status);
	(void)KC__TR2(KC_TR_RUN_END, kc, fn);

	/* From here on kc may be freed: compare its address, never read it. */
	KC__DASSERT(r->r_depth == d + 1);
	r->r_depth = d;
	kc__unpublish(r, d);
	if (autofree != NULL)
		kc__pool_put(autofree, kc);
}

#endif /* KC_CORE_INTERNAL_H */
