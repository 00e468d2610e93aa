/*
 * lockdebug.h: which thread holds which lock, asserted in debug builds.
 *
 * A function whose comment says "under the lock", "caller holds" or "with
 * no lock held" asserts it (FreeBSD's KQ_OWNED and KQ_NOTOWNED), as one
 * that runs "on the executor's own thread" or "on the socket's owner"
 * asserts that.  For this, under KC_DEBUG, every lock of the library
 * records its owner when it is taken and forgets it when it is released:
 * pthread mutexes through kc__mtx_lock() and kc__mtx_unlock() (and the
 * condition waits below, which let the mutex go while they sleep), the
 * core's futex lock in kc__lock() and kc__unlock(), the signal table's
 * spin lock in filt_signal.c.
 *
 * The record is kept beside the thread rather than in the lock: each
 * thread lists the locks it holds.  That serves every kind of lock alike,
 * needs no field in the locks that live in public structures (kc_queue,
 * kc_port: a debug build keeps the same layout), answers "does this thread
 * hold any lock at all" (a continuation runs with none), and is written by
 * its own thread only, so it races with nobody.  It allocates nothing and
 * makes no system call, and it stays consistent when a signal handler on
 * the same thread takes a lock (sigaction() takes the signal table's) in
 * the middle of an update: see lockdebug.c.  Taking a lock the thread
 * already holds panics instead of deadlocking; releasing one it does not
 * hold panics.
 *
 * Without KC_DEBUG the record functions are empty inline functions and
 * every assertion is KC__DASSERT's nothing: release builds pay nothing.
 */
#ifndef KC_CORE_LOCKDEBUG_H
#define KC_CORE_LOCKDEBUG_H

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "core/internal.h"

#ifdef KC_DEBUG
/* The calling thread has taken lock, or is letting it go (it must hold it). */
void	kc__held_add(const void *lock);
void	kc__held_del(const void *lock);
/* Does the calling thread hold lock?  How many locks does it hold? */
bool	kc__held(const void *lock);
unsigned kc__held_count(void);
#else
static inline void
kc__held_add(const void *lock)
{
	(void)lock;
}

static inline void
kc__held_del(const void *lock)
{
	(void)lock;
}
#endif

/* The calling thread holds, or does not hold, the lock at address l. */
#define KC__OWNED(l)		KC__DASSERT(kc__held(l))
#define KC__NOTOWNED(l)		KC__DASSERT(!kc__held(l))
/* The calling thread holds no lock of the library's. */
#define KC__UNLOCKED()		KC__DASSERT(kc__held_count() == 0)

/* The calling thread is ex's own: a soft executor's, or a pool worker. */
static inline bool
kc__on_exec(const struct kc_executor *ex)
{
	return kc__self != NULL && kc__self->r_exec == ex;
}

#define KC__ON_EXEC(ex)		KC__DASSERT(kc__on_exec(ex))

/* The library's pthread mutexes are taken and released through these. */
static inline void
kc__mtx_lock(pthread_mutex_t *m)
{
	KC__NOTOWNED(m);
	pthread_mutex_lock(m);
	kc__held_add(m);
}

static inline void
kc__mtx_unlock(pthread_mutex_t *m)
{
	kc__held_del(m);
	pthread_mutex_unlock(m);
}

/* A condition wait lets the mutex go while it sleeps: so does the record. */
static inline void
kc__cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
	kc__held_del(m);
	pthread_cond_wait(c, m);
	kc__held_add(m);
}

static inline int
kc__cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
    const struct timespec *abstime)
{
	int rc;

	kc__held_del(m);
	rc = pthread_cond_timedwait(c, m, abstime);
	kc__held_add(m);
	return rc;
}

#endif /* KC_CORE_LOCKDEBUG_H */
