/*
 * splice_int.h: the counting splice.c shares with dgramrelay.c.
 */
#ifndef KC_NET_SPLICE_INT_H
#define KC_NET_SPLICE_INT_H

#include <stddef.h>
#include <stdint.h>

struct kc_splice_stats;

/* A snapshot of size bytes of relaxed-atomic uint64_t counters. */
void	kc__stats_load(void *dst, const void *src, size_t size);
/* Add n to the counter at offset off of st, and of account if not NULL. */
void	kc__stats_add(struct kc_splice_stats *st,
	    struct kc_splice_stats *account, size_t off, uint64_t n);

#endif
