/*
 * siphash.h: a keyed hash for tables whose keys come from outside (the
 * datagram relay's client addresses, kcdump's thread and flow ids).
 *
 * An unkeyed hash lets whoever chooses the keys choose their buckets, and
 * so turn every lookup into a walk of one long chain.  SipHash-2-4 is a
 * pseudorandom function of a 128-bit key: without the key, a sender cannot
 * tell which of its keys share a bucket.  The key is drawn once per process
 * from getrandom(2); a forked child keeps its parent's key, as it keeps
 * every table built with it.
 */
#ifndef KC_CORE_SIPHASH_H
#define KC_CORE_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

/* SipHash-2-4 of p[0..n) under the 128-bit key k (k[0] the low half). */
uint64_t	kc__siphash(const uint64_t k[2], const void *p, size_t n);
/* SipHash-2-4 of one 64-bit value (as 8 little-endian bytes). */
uint64_t	kc__siphash64(const uint64_t k[2], uint64_t v);
/* This process's random key, drawn on the first call.  Never NULL. */
const uint64_t	*kc__hash_key(void);

#endif /* KC_CORE_SIPHASH_H */
