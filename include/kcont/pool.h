/*
 * kcont/pool.h: a pooled allocator for continuations.
 *
 * A pool holds a fixed number of struct kc, all allocated by
 * kc_pool_create(); kc_alloc() and kc_free() never call malloc.  Each thread
 * keeps a small cache of free continuations per pool and exchanges them with
 * the pool's shared list in batches.  A continuation from a pool may carry
 * KC_AUTOFREE: once triggered it belongs to the library, which returns it to
 * its pool after its function returns, or when a cancelled run is unlinked,
 * so the caller must not touch it after triggering (kc_cancel() is allowed
 * only while the caller knows it has not run yet).  The pool, not the caller,
 * owns the memory of every kc it hands out.
 */
#ifndef KCONT_POOL_H
#define KCONT_POOL_H

#include <stddef.h>

#include <kcont/kc.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Create a pool of capacity continuations.  Errors: -EINVAL (capacity 0 or
 * absurd), -EPERM (inside a continuation), -ENOMEM.
 */
KC_EXPORT int	kc_pool_create(struct kc_pool **pp, size_t capacity);

/* Free the pool.  Errors: -EINVAL, -EBUSY (some kc is still allocated). */
KC_EXPORT int	kc_pool_destroy(struct kc_pool *p);

/*
 * Take a continuation from the pool, initialised as kc_init() would (flags may
 * include KC_AUTOFREE).  Errors: -EINVAL (p, kcp or fn NULL, unknown flags),
 * -ENOBUFS (the pool is exhausted; nothing is allocated).
 */
KC_EXPORT int	kc_alloc(struct kc_pool *p, struct kc **kcp, kc_fn *fn,
		    void *env, struct kc_executor *exec, unsigned flags);

/*
 * Give a continuation back to its pool.  Errors: -EINVAL (NULL, not from a
 * pool, or already free), -EBUSY (pending or linked: cancel it first).
 */
KC_EXPORT int	kc_free(struct kc *kc);

/* Continuations currently allocated from p (a snapshot), or -EINVAL. */
KC_EXPORT long	kc_pool_inuse(const struct kc_pool *p);

#ifdef __cplusplus
}
#endif

#endif /* KCONT_POOL_H */
