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

#define KC__NCACHE	64
#define KC__CACHE_MAX	32
#define KC__CACHE_MOVE	16
#define KC__POOL_MAX	((size_t)1 << 28)

struct kc__cache {
	struct kc	*c_items[KC__CACHE_MAX];
	unsigned	 c_n;
	uint64_t	 c_allocs;	/* written by the owner, read by anyone */
	uint64_t	 c_frees;
} __attribute__((aligned(64)));

struct kc_pool {
	uint32_t	 p_lock;
	struct kc	*p_free;	/* shared list, under p_lock */
	uint64_t	 p_allocs;	/* shared-list traffic, under p_lock */
	uint64_t	 p_frees;
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
	*pp = p;
	return 0;
}

long
kc_pool_inuse(const struct kc_pool *p)
{
	int64_t n;
	unsigned i;

	if (p == NULL)
		return -EINVAL;
	n = (int64_t)(KC__LOAD_RELAXED(&p->p_allocs) -
	    KC__LOAD_RELAXED(&p->p_frees));
	for (i = 0; i < KC__NCACHE; i++)
		n += (int64_t)(KC__LOAD_RELAXED(&p->p_caches[i].c_allocs) -
		    KC__LOAD_RELAXED(&p->p_caches[i].c_frees));
	return (long)n;
}

int
kc_pool_destroy(struct kc_pool *p)
{
	if (p == NULL)
		return -EINVAL;
	if (kc_pool_inuse(p) != 0)
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

static struct kc *
pool_get(struct kc_pool *p)
{
	struct kc__cache *c = pool_cache(p);
	struct kc *kc;

	if (c != NULL && c->c_n > 0)
		goto cached;
	kc__lock(&p->p_lock);
	if (c == NULL) {
		if ((kc = p->p_free) != NULL) {
			p->p_free = kc->kc_next;
			KC__STORE_RELAXED(&p->p_allocs, p->p_allocs + 1);
		}
		kc__unlock(&p->p_lock);
		return kc;
	}
	while (c->c_n < KC__CACHE_MOVE && (kc = p->p_free) != NULL) {
		p->p_free = kc->kc_next;
		c->c_items[c->c_n++] = kc;
	}
	kc__unlock(&p->p_lock);
	if (c->c_n == 0)
		return NULL;
cached:
	kc = c->c_items[--c->c_n];
	KC__STAT_INC(&c->c_allocs);
	return kc;
}

void
kc__pool_put(struct kc_pool *p, struct kc *kc)
{
	struct kc__cache *c = pool_cache(p);
	unsigned i;

	kc->kc_magic = KC__MAGIC_FREE ^ (uintptr_t)kc;
	if (c != NULL && c->c_n < KC__CACHE_MAX) {
		c->c_items[c->c_n++] = kc;
		KC__STAT_INC(&c->c_frees);
		return;
	}
	kc__lock(&p->p_lock);
	if (c != NULL) {
		/* Full: give half back, then keep this one. */
		for (i = 0; i < KC__CACHE_MOVE; i++) {
			c->c_items[--c->c_n]->kc_next = p->p_free;
			p->p_free = c->c_items[c->c_n];
		}
		c->c_items[c->c_n++] = kc;
		KC__STAT_INC(&c->c_frees);
	} else {
		kc->kc_next = p->p_free;
		p->p_free = kc;
		KC__STORE_RELAXED(&p->p_frees, p->p_frees + 1);
	}
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
