/*
 * runner.c: per-thread run records, futexes and the small lock.
 *
 * A continuation is idle while its function runs (the library may not touch
 * it afterwards, so it cannot mark it idle then).  What a thread is running
 * is therefore kept beside the thread, in its runner, and kc_cancel_sync()
 * asks every runner.  Runners are few (one per thread that ever ran a
 * continuation) and are never freed.
 */
#include <linux/futex.h>
#include <sys/syscall.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

__thread struct kc__runner *kc__self;

static struct kc__runner *kc__runners;		/* all, newest first */
static struct kc__runner *kc__runners_free;
static unsigned kc__runners_made;
static pthread_mutex_t kc__runners_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t kc__runner_key;
static pthread_once_t kc__runner_once = PTHREAD_ONCE_INIT;

void
kc__panic(const char *file, int line, const char *what)
{
	fprintf(stderr, "kcont: %s:%d: assertion failed: %s\n", file, line,
	    what);
	abort();
}

uint64_t
kc__now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int
kc__futex_wait(uint32_t *uaddr, uint32_t val, uint64_t deadline)
{
	struct timespec ts, *tsp = NULL;
	long rc;

	if (deadline != 0) {
		ts.tv_sec = (time_t)(deadline / 1000000000ull);
		ts.tv_nsec = (long)(deadline % 1000000000ull);
		tsp = &ts;
	}
	/* WAIT_BITSET takes an absolute CLOCK_MONOTONIC time. */
	rc = syscall(SYS_futex, uaddr, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG,
	    val, tsp, NULL, FUTEX_BITSET_MATCH_ANY);
	return rc == 0 ? 0 : -errno;
}

void
kc__futex_wake(uint32_t *uaddr, int n)
{
	syscall(SYS_futex, uaddr, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, n, NULL,
	    NULL, 0);
}

void
kc__lock(uint32_t *l)
{
	uint32_t c = 0;
	int spins;

	if (KC__CAS(l, &c, 1))
		return;
	for (spins = 0; spins < 100; spins++) {
		c = 0;
		if (KC__LOAD_RELAXED(l) == 0 && KC__CAS(l, &c, 1))
			return;
		kc__cpu_relax();
	}
	/* Contended: mark waiters and sleep until the holder hands over. */
	while (KC__XCHG(l, 2) != 0)
		kc__futex_wait(l, 2, 0);
}

void
kc__unlock(uint32_t *l)
{
	if (KC__XCHG(l, 0) == 2)
		kc__futex_wake(l, 1);
}

static void
kc__runner_release(void *arg)
{
	struct kc__runner *r = arg;

	KC__ASSERT(r->r_depth == 0);
	pthread_mutex_lock(&kc__runners_mtx);
	r->r_exec = NULL;
	r->r_free = kc__runners_free;
	kc__runners_free = r;
	pthread_mutex_unlock(&kc__runners_mtx);
	kc__self = NULL;
}

static void
kc__runner_init_once(void)
{
	KC__ASSERT(pthread_key_create(&kc__runner_key, kc__runner_release) == 0);
}

struct kc__runner *
kc__runner_get(void)
{
	struct kc__runner *r = kc__self;

	if (KC__LIKELY(r != NULL))
		return r;
	pthread_once(&kc__runner_once, kc__runner_init_once);
	pthread_mutex_lock(&kc__runners_mtx);
	if ((r = kc__runners_free) != NULL) {
		kc__runners_free = r->r_free;
	} else {
		r = calloc(1, sizeof(*r));
		if (r == NULL) {
			pthread_mutex_unlock(&kc__runners_mtx);
			kc__panic(__FILE__, __LINE__, "out of memory for a runner");
		}
		r->r_index = kc__runners_made++;
		r->r_all = kc__runners;
		/* Readers walk the list without the mutex. */
		KC__STORE(&kc__runners, r);
	}
	pthread_mutex_unlock(&kc__runners_mtx);
	pthread_setspecific(kc__runner_key, r);
	kc__self = r;
	return r;
}

void
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
static uint32_t *
slot_futex(uintptr_t *slot)
{
	return (uint32_t *)(void *)slot +
	    (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__ ? 1 : 0);
}

void
kc__unpublish(struct kc__runner *r)
{
	uintptr_t *slot = &r->r_stack[r->r_depth];

	/* One exchange both clears the slot and tells whether to wake. */
	if (__atomic_exchange_n(slot, 0, __ATOMIC_ACQ_REL) & 1)
		kc__futex_wake(slot_futex(slot), INT32_MAX);
}

void
kc__invoke(struct kc__runner *r, struct kc *kc, kc_fn *fn, void *env,
    void *obj, int status, uint32_t count, struct kc_pool *autofree)
{
	uint32_t saved_count = r->r_count;

	KC__DASSERT(KC__LOAD_RELAXED(&r->r_stack[r->r_depth]) == (uintptr_t)kc);
	KC__ASSERT(r->r_depth < KC_INLINE_DEPTH_MAX);
	r->r_depth++;
	r->r_count = count;

	if (KC__TRACING())
		(void)kc__trace_rec(KC_TR_RUN_BEGIN, 4, KC__TRU(kc),
		    KC__TRU(fn), KC__TRU(r->r_exec),
		    __atomic_exchange_n(&kc->kc_flow, 0, __ATOMIC_RELAXED), 0);
	fn(obj, env, status);
	(void)KC__TR2(KC_TR_RUN_END, kc, fn);

	/* From here on kc may be freed: compare its address, never read it. */
	r->r_count = saved_count;
	r->r_depth--;
	kc__unpublish(r);
	if (autofree != NULL)
		kc__pool_put(autofree, kc);
}

/* The slot of r where kc runs, or NULL. */
static uintptr_t *
runner_slot(struct kc__runner *r, const struct kc *kc)
{
	unsigned i;

	for (i = 0; i <= KC_INLINE_DEPTH_MAX; i++)
		if ((__atomic_load_n(&r->r_stack[i], __ATOMIC_ACQUIRE) &
		    ~(uintptr_t)1) == (uintptr_t)kc)
			return &r->r_stack[i];
	return NULL;
}

bool
kc__running_anywhere(const struct kc *kc)
{
	struct kc__runner *r;

	for (r = KC__LOAD(&kc__runners); r != NULL; r = r->r_all)
		if (runner_slot(r, kc) != NULL)
			return true;
	return false;
}

bool
kc__running_here(const struct kc *kc)
{
	return kc__self != NULL && runner_slot(kc__self, kc) != NULL;
}

void
kc__wait_not_running(const struct kc *kc)
{
	struct kc__runner *r;
	uintptr_t *slot, v;

	for (r = KC__LOAD(&kc__runners); r != NULL; r = r->r_all) {
		if (r == kc__self)
			continue;
		while ((slot = runner_slot(r, kc)) != NULL) {
			v = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
			if ((v & ~(uintptr_t)1) != (uintptr_t)kc)
				continue;
			/* Flag the slot so that the runner wakes us. */
			if (!(v & 1) && !__atomic_compare_exchange_n(slot, &v,
			    v | 1, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
				continue;
			kc__futex_wait(slot_futex(slot), (uint32_t)(v | 1), 0);
		}
	}
}

struct kc_executor *
kc_executor_current(void)
{
	return kc__self != NULL ? kc__self->r_exec : NULL;
}

uint32_t
kc_coalesced(void)
{
	struct kc__runner *r = kc__self;

	return r != NULL && r->r_depth > 0 ? r->r_count : 0;
}
