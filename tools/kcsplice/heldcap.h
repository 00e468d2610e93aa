/*
 * heldcap.h: bytes a part of kcsplice holds in memory, process-wide,
 * against a cap (--record's and --compare's; kcsplice gives each the
 * mirrors' cap, --mirror-cap).
 *
 * Threads: any; the counts are relaxed atomics.  Memory: the caller owns
 * struct ks_held (static storage, zero-initialised: no cap, none held).
 */
#ifndef KCSPLICE_HELDCAP_H
#define KCSPLICE_HELDCAP_H

#include <stdbool.h>
#include <stdint.h>

struct ks_held {
	uint64_t	cap;		/* 0: none */
	uint64_t	held;
};

void	ks_held_cap(struct ks_held *h, uint64_t cap);
uint64_t ks_held_now(const struct ks_held *h);
/* Take n bytes: false, nothing taken, if they would pass the cap (unless
 * force: taken anyway). */
bool	ks_held_take(struct ks_held *h, uint64_t n, bool force);
void	ks_held_give(struct ks_held *h, uint64_t n);

#endif
