/*
 * kc.c: the continuation state machine: initialise, trigger, cancel.
 *
 * Every change of a kc's state is a compare-and-swap on kc_word.  A thread
 * that must write obj and status first takes the BUSY bit, so that a reader
 * never sees half a trigger, and the executor claims a run with BUSY held
 * while it reads them, so that they are that run's; BUSY is held for a few
 * loads or stores only.  The function runs with the kc idle: the library
 * cannot mark it idle afterwards, because the function may have freed it
 * (kcont's own rule).  What runs where is kept in the runners instead
 * (runner.c).
 */
#include <sched.h>

#include "internal.h"

static uint32_t *
kc__word_futex(struct kc *kc)
{
	/* The low half holds the location and flag bits a waiter watches. */
	return (uint32_t *)(void *)&kc->kc_word +
	    (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__);
}

uint64_t
kc__word_stable(struct kc *kc)
{
	uint64_t w;
	unsigned spins = 0;

	while ((w = KC__LOAD(&kc->kc_word)) & KC__BUSY) {
		/* The holder is between two stores; yield if it was preempted. */
		if (++spins < 256)
			kc__cpu_relax();
		else
			sched_yield();
	}
	return w;
}

void
kc__word_release(struct kc *kc, uint64_t old)
{
	KC__STORE(&kc->kc_word, KC__LOC_NONE);
	if (old & KC__WAITER)
		kc__futex_wake(kc__word_futex(kc), INT32_MAX);
}

int
kc__init_pooled(struct kc *kc, kc_fn *fn, void *env, struct kc_executor *exec,
    unsigned flags, struct kc_pool *pool)
{
	kc->kc_next = NULL;
	kc->kc_fn = fn;
	kc->kc_env = env;
	kc->kc_exec = exec;
	kc->kc_obj = NULL;
	kc->kc_where = NULL;
	kc->kc_pool = pool;
	kc->kc_heap[0] = kc->kc_heap[1] = kc->kc_heap[2] = NULL;
	kc->kc_deadline = 0;
	kc->kc_status = 0;
	kc->kc_flags = flags;
	KC__STORE(&kc->kc_word, KC__LOC_NONE);
	kc->kc_magic = KC__MAGIC ^ (uintptr_t)kc;
	return 0;
}

int
kc_init(struct kc *kc, kc_fn *fn, void *env, struct kc_executor *exec,
    unsigned flags)
{
	struct kc_pool *pool = NULL;

	if (kc == NULL || fn == NULL || (flags & ~KC_AUTOFREE) != 0)
		return -EINVAL;
	if (kc__valid(kc)) {
		/* Re-initialising is fine, unless the library still links it. */
		if (KC__LOC(kc__word_stable(kc)) != KC__LOC_NONE)
			return -EBUSY;
		pool = kc->kc_pool;
	}
	/* Only a kc that came from a pool can go back to one by itself. */
	if ((flags & KC_AUTOFREE) && pool == NULL)
		return -EINVAL;
	return kc__init_pooled(kc, fn, env, exec, flags, pool);
}

static struct kc_pool *
kc__autofree(const struct kc *kc)
{
	return (kc->kc_flags & KC_AUTOFREE) ? kc->kc_pool : NULL;
}

/*
 * Save obj and status in a kc whose BUSY bit the caller holds.  Relaxed
 * atomics: the executor reads them only while it holds BUSY itself, after
 * its claim (kc__dispatch), so reader and writer never overlap; the word's
 * acquire and release operations order them.
 */
static void
kc__save(struct kc *kc, void *obj, int status)
{
	KC__STORE_RELAXED(&kc->kc_obj, obj);
	KC__STORE_RELAXED(&kc->kc_status, status);
}

/*
 * A trigger that queues kc (KC_TR_ENQUEUE) or arms its timer (KC_TR_DEFER,
 * after ns): its record's flow goes with kc to its run.
 */
static void
trace_trigger(struct kc *kc, unsigned type, uint64_t ns)
{
	__atomic_store_n(&kc->kc_flow, kc__trace_rec(type,
	    type == KC_TR_DEFER ? 5 : 4, KC__TRU(kc), KC__TRU(kc->kc_fn),
	    KC__TRU(kc->kc_exec), KC__TR_MYFLOW, ns), __ATOMIC_RELAXED);
}

/*
 * Queue kc on its executor, or fold the trigger into its pending run.  The
 * caller has checked that kc has an executor.
 */
static int
kc__trigger_defer(struct kc *kc, void *obj, int status)
{
	uint64_t w, busy;
	int rc;

	for (;;) {
		w = kc__word_stable(kc);
		switch (KC__LOC(w)) {
		case KC__LOC_NONE:
			busy = KC__LOC_RUNQ | KC__ARMED | KC__BUSY |
			    (w & KC__WAITER);
			if (!KC__CAS(&kc->kc_word, &w, busy))
				continue;
			kc__save(kc, obj, status);
			if (KC__TRACING())
				trace_trigger(kc, KC_TR_ENQUEUE, 0);
			/*
			 * Push while BUSY: if the executor has closed, the
			 * trigger is undone before anyone could coalesce into it.
			 */
			rc = kc__exec_push(kc->kc_exec, kc, busy & ~KC__BUSY);
			if (rc < 0)
				kc__word_release(kc, busy);
			return rc;
		case KC__LOC_KCQ:
			return -EBUSY;
		default:
			break;
		}
		if (w & KC__ARMED) {
			/* Pending: coalesce. */
			if (KC__COUNT(w) == KC__COUNT_MAX)
				return -EOVERFLOW;
			if (KC__CAS(&kc->kc_word, &w, w + KC__COUNT_ONE)) {
				/* Folded into the pending run: no flow. */
				(void)KC__TR4(KC_TR_ENQUEUE, kc, kc->kc_fn,
				    kc->kc_exec, 0);
				return 0;
			}
			continue;
		}
		/*
		 * Cancelled but still linked on the run queue: re-arm it in
		 * place; the executor has not passed it yet and will run it.
		 */
		KC__ASSERT(KC__LOC(w) == KC__LOC_RUNQ);
		busy = KC__LOC_RUNQ | KC__ARMED | KC__BUSY | (w & KC__WAITER);
		if (!KC__CAS(&kc->kc_word, &w, busy))
			continue;
		kc__save(kc, obj, status);
		if (KC__TRACING())
			trace_trigger(kc, KC_TR_ENQUEUE, 0);
		KC__STORE(&kc->kc_word, busy & ~KC__BUSY);
		return 0;
	}
}

/*
 * Run kc on this thread now.  Returns -EAGAIN when it must be deferred
 * instead (already linked somewhere, or nesting too deep).
 */
/* kc__trigger_inline(), inlined into kc_run(). */
static inline __attribute__((always_inline)) int
trigger_inline(struct kc *kc, void *obj, int status)
{
	struct kc__runner *r = kc__runner_get();

	if (KC__LOC(KC__LOAD(&kc->kc_word)) != KC__LOC_NONE)
		return -EAGAIN;
	if (r->r_depth >= KC_INLINE_DEPTH_MAX)
		return kc->kc_exec == NULL ? -ELOOP : -EAGAIN;
	/*
	 * Not claimed: a concurrent trigger from another thread may queue it
	 * as well, and both run, one per trigger, as they should.
	 */
	kc__publish(r, kc);
	if (r->r_stats != NULL)
		KC__STAT_INC(&r->r_stats->inline_runs);
	kc__invoke(r, kc, kc->kc_fn, kc->kc_env, obj, status, 1,
	    kc__autofree(kc));
	return 0;
}

int
kc__trigger_inline(struct kc *kc, void *obj, int status)
{
	return trigger_inline(kc, obj, status);
}

int
kc_run(struct kc *kc, void *obj, int status)
{
	struct kc__runner *r = kc__self;
	int rc;

	if (!kc__valid(kc))
		return -EINVAL;
	if (kc->kc_exec == NULL || (r != NULL && r->r_exec == kc->kc_exec)) {
		rc = trigger_inline(kc, obj, status);
		if (rc != -EAGAIN)
			return rc;
		if (kc->kc_exec == NULL) {
			/* An immediate kc is linked only when on a kc_queue. */
			return -EBUSY;
		}
	}
	return kc__trigger_defer(kc, obj, status);
}

int
kc_defer(struct kc *kc, void *obj, int status)
{
	if (!kc__valid(kc) || kc->kc_exec == NULL)
		return -EINVAL;
	return kc__trigger_defer(kc, obj, status);
}

int
kc_defer_after(struct kc *kc, uint64_t ns, void *obj, int status)
{
	if (!kc__valid(kc) || kc->kc_exec == NULL)
		return -EINVAL;
	if (KC__TRACING())
		trace_trigger(kc, KC_TR_DEFER, ns);
	return kc__exec_timer_arm(kc->kc_exec, kc, ns, obj, status);
}

/*
 * Called by whoever unlinks a kc that is linked but no longer armed (an
 * executor passing it, a kc_queue firing, a cancel that removed it): make it
 * idle, wake a kc_cancel_sync() waiting for that, and return an AUTOFREE kc
 * to its pool.  Returns false if the kc was re-armed meanwhile.
 */
bool
kc__unlink_cancelled(struct kc *kc, uint64_t w)
{
	struct kc_pool *pool = kc__autofree(kc);

	KC__DASSERT(!(w & KC__ARMED) && !(w & KC__BUSY));
	if (!KC__CAS(&kc->kc_word, &w, KC__LOC_NONE))
		return false;
	if (w & KC__WAITER)
		kc__futex_wake(kc__word_futex(kc), INT32_MAX);
	if (pool != NULL)
		kc__pool_put(pool, kc);
	return true;
}

#ifdef KC_DEBUG
void (*kc__dispatch_hook)(struct kc *kc);

static void
dispatch_hook(struct kc *kc)
{
	void (*fn)(struct kc *) = __atomic_load_n(&kc__dispatch_hook,
	    __ATOMIC_ACQUIRE);

	if (fn != NULL)
		fn(kc);
}
#else
#define dispatch_hook(kc)	do { } while (0)
#endif

int
kc__dispatch(struct kc__runner *r, struct kc *kc)
{
	struct kc_pool *pool;
	kc_fn *fn;
	void *env, *obj;
	uint64_t w;
	int status;

	for (;;) {
		w = kc__word_stable(kc);
		KC__ASSERT(KC__LOC(w) == KC__LOC_RUNQ);
		if (!(w & KC__ARMED)) {
			if (kc__unlink_cancelled(kc, w))
				return 0;
			continue;
		}
		fn = kc->kc_fn;
		env = kc->kc_env;
		pool = kc__autofree(kc);
		dispatch_hook(kc);
		kc__publish(r, kc);
		/*
		 * Claim it idle with BUSY held, and only then read obj and
		 * status.  The word does not tell one pending run from the
		 * next: since w was read, a cancel and a trigger that re-armed
		 * it in place may have left it exactly as it was (armed, the
		 * same count) with the new trigger's obj saved, and the claim
		 * still succeeds.  Read before it, obj was the cancelled run's
		 * and the new trigger was lost; read under BUSY it is the
		 * first obj of the run the claim took, which no trigger can
		 * overwrite until the word is released.
		 */
		if (KC__CAS(&kc->kc_word, &w, KC__LOC_NONE | KC__BUSY)) {
			obj = KC__LOAD_RELAXED(&kc->kc_obj);
			status = KC__LOAD_RELAXED(&kc->kc_status);
			kc__word_release(kc, w);
			kc__invoke(r, kc, fn, env, obj, status,
			    KC__COUNT(w) + 1, pool);
			return 1;
		}
		kc__unpublish(r, r->r_depth);
	}
}

/*
 * Disarm kc.  Returns the triggers cancelled (>= 1) or 0 if nothing was
 * armed.  A kc armed on a kc_queue is unlinked at once when the queue still
 * holds it; one on a run queue stays linked until its executor passes it.
 */
static int
kc__disarm(struct kc *kc)
{
	uint64_t w, nw;
	int rc;

	for (;;) {
		w = kc__word_stable(kc);
		if (!(w & KC__ARMED))
			return 0;
		if (KC__LOC(w) == KC__LOC_TIMER) {
			rc = kc__exec_timer_cancel(kc->kc_exec, kc);
			if (rc == -EAGAIN)
				continue;	/* it moved to the run queue */
			return rc;
		}
		nw = (w & (KC__LOC_MASK | KC__WAITER));
		if (!KC__CAS(&kc->kc_word, &w, nw))
			continue;
		if (KC__LOC(w) == KC__LOC_KCQ)
			kc__kcq_unlink(kc->kc_where, kc);
		return (int)(KC__COUNT(w) > INT32_MAX - 1 ? INT32_MAX :
		    KC__COUNT(w) + 1);
	}
}

int
kc_cancel(struct kc *kc)
{
	int n;

	if (!kc__valid(kc))
		return -EINVAL;
	n = kc__disarm(kc);
	if (n > 0) {
		(void)KC__TR2(KC_TR_CANCEL, kc, __atomic_exchange_n(&kc->kc_flow,
		    0, __ATOMIC_RELAXED));
		return n;
	}
	return kc__running_anywhere(kc) ? -EINPROGRESS : -EALREADY;
}

/* Sleep until kc is unlinked, unless this thread is the one to unlink it. */
static void
kc__wait_unlinked(struct kc *kc)
{
	uint64_t w;

	for (;;) {
		w = kc__word_stable(kc);
		if (KC__LOC(w) == KC__LOC_NONE || (w & KC__ARMED))
			return;		/* idle, or re-armed by someone else */
		if (KC__LOC(w) == KC__LOC_RUNQ &&
		    kc__exec_unlink_here(kc->kc_exec, kc))
			continue;
		if (!(w & KC__WAITER) &&
		    !KC__CAS(&kc->kc_word, &w, w | KC__WAITER))
			continue;
		kc__futex_wait(kc__word_futex(kc), (uint32_t)(w | KC__WAITER),
		    0);
	}
}

int
kc_cancel_sync(struct kc *kc)
{
	int n;

	if (!kc__valid(kc) || (kc->kc_flags & KC_AUTOFREE))
		return -EINVAL;
	n = kc__disarm(kc);
	kc__wait_unlinked(kc);
	if (kc__running_here(kc))
		return -EDEADLK;
	kc__wait_not_running(kc);
	return n > 0 ? n : -EALREADY;
}

unsigned
kc_state(const struct kc *kc)
{
	unsigned st = KC_STATE_IDLE;

	if (!kc__valid(kc))
		return KC_STATE_IDLE;
	if (KC__LOC(KC__LOAD(&kc->kc_word)) != KC__LOC_NONE)
		st |= KC_STATE_PENDING;
	if (kc__running_anywhere(kc))
		st |= KC_STATE_RUNNING;
	return st;
}
