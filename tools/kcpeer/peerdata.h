/*
 * peerdata.h: the byte streams kcpeer and kcsplice's integration tests send,
 * and the hash they check them with.
 *
 * The stream: byte p of the stream named by seed is byte (p % 8) of the
 * little-endian word splitmix64(seed + (p / 8) * golden).  Any range of it is
 * generated without state, so a sender needs no buffer per connection and may
 * write any amount at a time.
 *
 * The hash: four lanes over 32-byte blocks, a tail and the length folded in
 * at the end; it depends on every byte and on their order, and the same
 * bytes give the same hash however they were cut into reads.  Not
 * cryptographic: it finds a relay's mistakes, not an adversary's.
 */
#ifndef KCPEER_PEERDATA_H
#define KCPEER_PEERDATA_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define PD_GOLDEN	0x9e3779b97f4a7c15ull

static inline uint64_t
pd_splitmix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static inline uint64_t
pd_word(uint64_t seed, uint64_t index)
{
	return pd_splitmix(seed + index * PD_GOLDEN);
}

/* Bytes [off, off + n) of the stream seed into buf. */
static inline void
pd_fill(uint64_t seed, uint64_t off, void *buf, size_t n)
{
	unsigned char *p = buf;
	uint64_t w;
	unsigned i;

	while (n > 0 && (off & 7) != 0) {
		w = pd_word(seed, off >> 3);
		*p++ = (unsigned char)(w >> ((off & 7) * 8));
		off++;
		n--;
	}
	while (n >= 8) {
		w = pd_word(seed, off >> 3);
		for (i = 0; i < 8; i++)
			p[i] = (unsigned char)(w >> (i * 8));
		p += 8;
		off += 8;
		n -= 8;
	}
	if (n > 0) {
		w = pd_word(seed, off >> 3);
		for (i = 0; i < n; i++)
			p[i] = (unsigned char)(w >> (i * 8));
	}
}

struct pd_hash {
	uint64_t	lane[4];
	uint64_t	total;
	unsigned char	tail[32];
	unsigned	ntail;
};

static inline uint64_t
pd_mix(uint64_t h, uint64_t w)
{
	h ^= w;
	h *= PD_GOLDEN;
	h ^= h >> 29;
	return h;
}

static inline uint64_t
pd_load64(const unsigned char *p)
{
	uint64_t v = 0;
	unsigned i;

	for (i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (i * 8);
	return v;
}

static inline void
pd_hash_init(struct pd_hash *h)
{
	memset(h, 0, sizeof(*h));
	h->lane[0] = 0x243f6a8885a308d3ull;
	h->lane[1] = 0x13198a2e03707344ull;
	h->lane[2] = 0xa4093822299f31d0ull;
	h->lane[3] = 0x082efa98ec4e6c89ull;
}

static inline void
pd_hash_block(struct pd_hash *h, const unsigned char *b)
{
	h->lane[0] = pd_mix(h->lane[0], pd_load64(b));
	h->lane[1] = pd_mix(h->lane[1], pd_load64(b + 8));
	h->lane[2] = pd_mix(h->lane[2], pd_load64(b + 16));
	h->lane[3] = pd_mix(h->lane[3], pd_load64(b + 24));
}

static inline void
pd_hash_update(struct pd_hash *h, const void *data, size_t n)
{
	const unsigned char *p = data;
	size_t k;

	h->total += n;
	if (h->ntail > 0) {
		k = 32 - h->ntail;
		if (k > n)
			k = n;
		memcpy(h->tail + h->ntail, p, k);
		h->ntail += (unsigned)k;
		p += k;
		n -= k;
		if (h->ntail < 32)
			return;
		pd_hash_block(h, h->tail);
		h->ntail = 0;
	}
	while (n >= 32) {
		pd_hash_block(h, p);
		p += 32;
		n -= 32;
	}
	memcpy(h->tail, p, n);
	h->ntail = (unsigned)n;
}

static inline uint64_t
pd_hash_final(const struct pd_hash *h)
{
	unsigned char t[32];
	uint64_t r;
	unsigned i;

	memset(t, 0, sizeof(t));
	memcpy(t, h->tail, h->ntail);
	r = pd_mix(PD_GOLDEN, h->total);
	for (i = 0; i < 4; i++)
		r = pd_mix(r, h->lane[i]);
	for (i = 0; i < 4; i++)
		r = pd_mix(r, pd_load64(t + i * 8));
	return pd_splitmix(r);
}

/* The hash of bytes [0, n) of the stream seed. */
static inline uint64_t
pd_stream_hash(uint64_t seed, uint64_t n)
{
	unsigned char buf[4096];
	struct pd_hash h;
	uint64_t off = 0;
	size_t k;

	pd_hash_init(&h);
	while (off < n) {
		k = n - off < sizeof(buf) ? (size_t)(n - off) : sizeof(buf);
		pd_fill(seed, off, buf, k);
		pd_hash_update(&h, buf, k);
		off += k;
	}
	return pd_hash_final(&h);
}

#endif
