/*
 * pool.c: a fixed pool of continuations with per-thread caches.
 *
 * All the memory is allocated when the pool is created.  Each live thread
 * owns one cache per pool, chosen by its runner index (unique among live
 * threads and reused after a thread exits, so an exiting thread's cached
 * continuations pass to the next thread with its index, never lost).  A
 * cache trades with the pool's shared list, under the pool lock, half a
 * cache at a time; threads beyond the cache count use the shared list
 * directly.
 */
#include <string.h>

#include "internal.h"
#include "lockdebug.h"

#define KC__NCACHE	64
#define KC__CACHE_MAX	32
#define KC__CACHE_MOVE	16
#define KC__POOL_MAX	((size_t)1 << 28)

/*
 * A cache has its own lock.  Its owner is nearly always the only taker, so
 * the lock costs an uncontended exchange; the lock exists so that an
 * allocator that finds the pool exhausted can take back what other threads'
 * caches hold, and so that counting what is free is exact.
 */
struct kc__cache {
	uint32_t	 c_lock;
	unsigned	 c_n;
	struct kc	*c_items[KC__CACHE_MAX];
} __attribute__((aligned(64)));

struct kc_pool {
	uint32_t	 p_lock;
	struct kc	*p_free;	/* shared list, under p_lock */
	size_t		 p_nfree;	/* its length, under p_lock */
	size_t		 p_capacity;
	struct kc	*p_slab;
	struct kc__cache p_caches[KC__NCACHE];
};

int
kc_pool_create(struct kc_pool **pp, size_t capacity)
{
	struct kc_pool *p;
	size_t i;

	if (pp == NULL)
		return -EINVAL;
	*pp = NULL;
	if (capacity == 0 || capacity > KC__POOL_MAX)
		return -EINVAL;
	if (kc__self != NULL && kc__self->r_depth > 0)
		return -EPERM;
	p = aligned_alloc(64, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	memset(p, 0, sizeof(*p));
	p->p_slab = calloc(capacity, sizeof(struct kc));
	if (p->p_slab == NULL) {
		free(p);
		return -ENOMEM;
	}
	p->p_capacity = capacity;
	for (i = capacity; i-- > 0;) {
		p->p_slab[i].kc_pool = p;
		p->p_slab[i].kc_magic = KC__MAGIC_FREE ^ (uintptr_t)&p->p_slab[i];
		p->p_slab[i].kc_next = p->p_free;
		p->p_free = &p->p_slab[i];
	}
	p->p_nfree = capacity;
	*pp = p;
	return 0;
}

/* Free continuations, counted under every lock in turn. */
static size_t
pool_nfree(struct kc_pool *p)
{
	size_t n;
	unsigned i;

	kc__lock(&p->p_lock);
	n = p->p_nfree;
	kc__unlock(&p->p_lock);
	for (i = 0; i < KC__NCACHE; i++) {
		kc__lock(&p->p_caches[i].c_lock);
		n += p->p_caches[i].c_n;
		kc__unlock(&p->p_caches[i].c_lock);
	}
	return n;
}

long
kc_pool_inuse(const struct kc_pool *p)
{
	if (p == NULL)
		return -EINVAL;
	/* The locks are mutable state even when the caller only looks. */
	return (long)(p->p_capacity - pool_nfree((struct kc_pool *)p));
}

int
kc_pool_destroy(struct kc_pool *p)
{
	if (p == NULL)
		return -EINVAL;
	/*
	 * Counting takes every lock, so every thread's last write to a
	 * continuation it gave back happens before the memory is freed.
	 */
	if (pool_nfree(p) != p->p_capacity)
		return -EBUSY;
	free(p->p_slab);
	free(p);
	return 0;
}

static struct kc__cache *
pool_cache(struct kc_pool *p)
{
	struct kc__runner *r = kc__runner_get();

	return r->r_index < KC__NCACHE ? &p->p_caches[r->r_index] : NULL;
}

/* Move up to n from the shared list into c (both locks held). */
static void
pool_fill(struct kc_pool *p, struct kc__cache *c, unsigned n)
{
	struct kc *kc;

	KC__OWNED(&p->p_lock);
	KC__OWNED(&c->c_lock);
	while (n-- > 0 && c->c_n < KC__CACHE_MAX && (kc = p->p_free) != NULL) {
		p->p_free = kc->kc_next;
		p->p_nfree--;
		c->c_items[c->c_n++] = kc;
	}
}

/* Move up to n from c back to the shared list (both locks held). */
static void
pool_drain(struct kc_pool *p, struct kc__cache *c, unsigned n)
{
	struct kc *kc;

	KC__OWNED(&p->p_lock);
	KC__OWNED(&c->c_lock);
	while (n-- > 0 && c->c_n > 0) {
		kc = c->c_items[--c->c_n];
		kc->kc_next = p->p_free;
		p->p_free = kc;
		p->p_nfree++;
	}
}

/* Exhausted: take back everything other threads' caches hold. */
static void
pool_reclaim(struct kc_pool *p, struct kc__cache *mine)
{
	struct kc__cache *c;
	unsigned i;

	for (i = 0; i < KC__NCACHE; i++) {
		c = &p->p_caches[i];
		if (c == mine)
			continue;
		kc__lock(&c->c_lock);
		kc__lock(&p->p_lock);
		pool_drain(p, c, KC__CACHE_MAX);
		kc__unlock(&p->p_lock);
		kc__unlock(&c->c_lock);
	}
}

static struct kc *
pool_get(struct kc_pool *p)
{
	struct kc__cache *c = pool_cache(p);
	struct kc *kc = NULL;
	int tries;

	for (tries = 0; tries < 2; tries++) {
		if (c == NULL) {
			kc__lock(&p->p_lock);
			if ((kc = p->p_free) != NULL) {
				p->p_free = kc->kc_next;
				p->p_nfree--;
			}
			kc__unlock(&p->p_lock);
		} else {
			kc__lock(&c->c_lock);
			if (c->c_n == 0) {
				kc__lock(&p->p_lock);
				pool_fill(p, c, KC__CACHE_MOVE);
				kc__unlock(&p->p_lock);
			}
			if (c->c_n > 0)
				kc = c->c_items[--c->c_n];
			kc__unlock(&c->c_lock);
		}
		if (kc != NULL || tries > 0)
			break;
		pool_reclaim(p, c);
	}
	return kc;
}

void
kc__pool_put(struct kc_pool *p, struct kc *kc)
{
	struct kc__cache *c = pool_cache(p);

	kc->kc_magic = KC__MAGIC_FREE ^ (uintptr_t)kc;
	if (c != NULL) {
		kc__lock(&c->c_lock);
		if (c->c_n == KC__CACHE_MAX) {
			/* Full: give half back to the shared list. */
			kc__lock(&p->p_lock);
			pool_drain(p, c, KC__CACHE_MOVE);
			kc__unlock(&p->p_lock);
		}
		c->c_items[c->c_n++] = kc;
		kc__unlock(&c->c_lock);
		return;
	}
	kc__lock(&p->p_lock);
	kc->kc_next = p->p_free;
	p->p_free = kc;
	p->p_nfree++;
	kc__unlock(&p->p_lock);
}

int
kc_alloc(struct kc_pool *p, struct kc **kcp, kc_fn *fn, void *env,
    struct kc_executor *exec, unsigned flags)
{
	struct kc *kc;
	int rc;

	if (p == NULL || kcp == NULL || fn == NULL ||
	    (flags & ~KC_AUTOFREE) != 0)
		return -EINVAL;
	*kcp = NULL;
	if ((kc = pool_get(p)) == NULL)
		return -ENOBUFS;
	rc = kc__init_pooled(kc, fn, env, exec, flags, p);
	KC__ASSERT(rc == 0);
	*kcp = kc;
	return 0;
}

int
kc_free(struct kc *kc)
{
	if (kc == NULL || kc->kc_magic == (KC__MAGIC_FREE ^ (uintptr_t)kc) ||
	    !kc__valid(kc) || kc->kc_pool == NULL)
		return -EINVAL;
	if (KC__LOC(kc__word_stable(kc)) != KC__LOC_NONE)
		return -EBUSY;
	kc__pool_put(kc->kc_pool, kc);
	return 0;
}
