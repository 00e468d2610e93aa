/*
 * heldcap.c: bytes held against a cap, process-wide (heldcap.h).
 */
#include "heldcap.h"

void
ks_held_cap(struct ks_held *h, uint64_t cap)
{
	__atomic_store_n(&h->cap, cap, __ATOMIC_RELAXED);
}

uint64_t
ks_held_now(const struct ks_held *h)
{
	return __atomic_load_n(&h->held, __ATOMIC_RELAXED);
}

bool
ks_held_take(struct ks_held *h, uint64_t n, bool force)
{
	uint64_t cap = __atomic_load_n(&h->cap, __ATOMIC_RELAXED);
	uint64_t cur = __atomic_load_n(&h->held, __ATOMIC_RELAXED);

	do {
		if (!force && cap != 0 && (n > cap || cur > cap - n))
			return false;
	} while (!__atomic_compare_exchange_n(&h->held, &cur, cur + n, true,
	    __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	return true;
}

void
ks_held_give(struct ks_held *h, uint64_t n)
{
	if (n > 0)
		__atomic_sub_fetch(&h->held, n, __ATOMIC_RELAXED);
}
