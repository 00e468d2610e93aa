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
#include <sched.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "lockdebug.h"

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

	KC__NOTOWNED(l);
	if (KC__CAS(l, &c, 1))
		goto held;
	for (spins = 0; spins < 100; spins++) {
		c = 0;
		if (KC__LOAD_RELAXED(l) == 0 && KC__CAS(l, &c, 1))
			goto held;
		kc__cpu_relax();
	}
	/* Contended: mark waiters and sleep until the holder hands over. */
	while (KC__XCHG(l, 2) != 0)
		kc__futex_wait(l, 2, 0);
held:
	kc__held_add(l);
}

void
kc__unlock(uint32_t *l)
{
	kc__held_del(l);
	if (KC__XCHG(l, 0) == 2)
		kc__futex_wake(l, 1);
}

static void
kc__runner_release(void *arg)
{
	struct kc__runner *r = arg;

	KC__ASSERT(r->r_depth == 0);
	kc__mtx_lock(&kc__runners_mtx);
	r->r_exec = NULL;
	r->r_free = kc__runners_free;
	kc__runners_free = r;
	kc__mtx_unlock(&kc__runners_mtx);
	kc__self = NULL;
}

/*
 * Whether a canceller pays for the fence a finished run would otherwise
 * need (kc__unpublish in internal.h): membarrier(2)'s private expedited
 * command, which the process registers for here, once, before its first
 * runner exists (so every runner sees one answer).  Not to be had under an
 * old kernel or a seccomp policy that refuses it: then every run pays.
 */
bool kc__asym;

static void
kc__runner_init_once(void)
{
	KC__ASSERT(pthread_key_create(&kc__runner_key, kc__runner_release) == 0);
	kc__asym = syscall(SYS_membarrier,
	    MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}

struct kc__runner *
kc__runner_make(void)
{
	struct kc__runner *r;

	pthread_once(&kc__runner_once, kc__runner_init_once);
	kc__mtx_lock(&kc__runners_mtx);
	if ((r = kc__runners_free) != NULL) {
		kc__runners_free = r->r_free;
	} else {
		r = calloc(1, sizeof(*r));
		if (r == NULL) {
			kc__mtx_unlock(&kc__runners_mtx);
			kc__panic(__FILE__, __LINE__, "out of memory for a runner");
		}
		r->r_index = kc__runners_made++;
		r->r_all = kc__runners;
		/* Readers walk the list without the mutex. */
		KC__STORE(&kc__runners, r);
	}
	kc__mtx_unlock(&kc__runners_mtx);
	pthread_setspecific(kc__runner_key, r);
	kc__self = r;
	return r;
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

/*
 * kc__wait_not_running() for runner r, with membarrier: counted in
 * r_waiters, then the fence on every running thread (see kc__unpublish).
 */
static void
wait_asym(struct kc__runner *r, const struct kc *kc)
{
	uintptr_t *slot;

	__atomic_add_fetch(&r->r_waiters, 1, __ATOMIC_SEQ_CST);
	(void)syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
	while ((slot = runner_slot(r, kc)) != NULL)
		(void)kc__futex_wait(kc__slot_futex(slot),
		    (uint32_t)(uintptr_t)kc, 0);
	__atomic_sub_fetch(&r->r_waiters, 1, __ATOMIC_SEQ_CST);
}

void
kc__wait_not_running(const struct kc *kc)
{
	struct kc__runner *r;
	uintptr_t *slot, v;

	for (r = KC__LOAD(&kc__runners); r != NULL; r = r->r_all) {
		if (r == kc__self || runner_slot(r, kc) == NULL)
			continue;
		if (kc__asym) {
			wait_asym(r, kc);
			continue;
		}
		while ((slot = runner_slot(r, kc)) != NULL) {
			v = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
			if ((v & ~(uintptr_t)1) != (uintptr_t)kc)
				continue;
			/* Flag the slot so that the runner wakes us. */
			if (!(v & 1) && !__atomic_compare_exchange_n(slot, &v,
			    v | 1, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
				continue;
			kc__futex_wait(kc__slot_futex(slot), (uint32_t)(v | 1),
			    0);
		}
	}
}

void
kc__runners_quiesce(const struct kc_executor *ex)
{
	struct kc__runner *r;

	for (r = KC__LOAD(&kc__runners); r != NULL; r = r->r_all)
		while (r != kc__self &&
		    __atomic_load_n(&r->r_pushing, __ATOMIC_ACQUIRE) == ex)
			sched_yield();
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

	return r != NULL && r->r_depth > 0 ? r->r_counts[r->r_depth - 1] : 0;
}
