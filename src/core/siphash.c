/*
 * siphash.c: SipHash-2-4 (Aumasson and Bernstein, 2012) and the process's
 * hash key.
 *
 * Written from the algorithm's description: a state of four 64-bit words
 * set from the key, two rounds of add-rotate-xor per 8-byte word of input,
 * the length in the last word's top byte, and four rounds to finish.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "siphash.h"

#define ROTL(x, b)	(((x) << (b)) | ((x) >> (64 - (b))))

struct sip {
	uint64_t	v0, v1, v2, v3;
};

static void
sip_round(struct sip *s)
{
	s->v0 += s->v1;
	s->v1 = ROTL(s->v1, 13);
	s->v1 ^= s->v0;
	s->v0 = ROTL(s->v0, 32);
	s->v2 += s->v3;
	s->v3 = ROTL(s->v3, 16);
	s->v3 ^= s->v2;
	s->v0 += s->v3;
	s->v3 = ROTL(s->v3, 21);
	s->v3 ^= s->v0;
	s->v2 += s->v1;
	s->v1 = ROTL(s->v1, 17);
	s->v1 ^= s->v2;
	s->v2 = ROTL(s->v2, 32);
}

static void
sip_init(struct sip *s, const uint64_t k[2])
{
	s->v0 = k[0] ^ 0x736f6d6570736575ull;
	s->v1 = k[1] ^ 0x646f72616e646f6dull;
	s->v2 = k[0] ^ 0x6c7967656e657261ull;
	s->v3 = k[1] ^ 0x7465646279746573ull;
}

static void
sip_word(struct sip *s, uint64_t m)
{
	s->v3 ^= m;
	sip_round(s);
	sip_round(s);
	s->v0 ^= m;
}

static uint64_t
sip_final(struct sip *s)
{
	s->v2 ^= 0xff;
	sip_round(s);
	sip_round(s);
	sip_round(s);
	sip_round(s);
	return s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
}

uint64_t
kc__siphash(const uint64_t k[2], const void *p, size_t n)
{
	const unsigned char *b = p;
	struct sip s;
	uint64_t m;
	size_t i;

	sip_init(&s, k);
	for (i = 0; i + 8 <= n; i += 8) {
		memcpy(&m, b + i, 8);
		sip_word(&s, le64toh(m));
	}
	/* The tail's bytes, little-endian, under the length's low byte. */
	m = (uint64_t)(n & 0xff) << 56;
	for (; i < n; i++)
		m |= (uint64_t)b[i] << (8 * (i % 8));
	sip_word(&s, m);
	return sip_final(&s);
}

uint64_t
kc__siphash64(const uint64_t k[2], uint64_t v)
{
	struct sip s;

	/* The same value as kc__siphash() of v's 8 little-endian bytes,
	   without the byte loop: it runs once per record in kcdump. */
	sip_init(&s, k);
	sip_word(&s, v);
	sip_word(&s, (uint64_t)8 << 56);
	return sip_final(&s);
}

static uint64_t hash_key[2];
static pthread_once_t hash_once = PTHREAD_ONCE_INIT;

static int
fill_random(void *p, size_t n)
{
	unsigned char *b = p;
	ssize_t r;
	size_t got = 0;
	int fd;

	while (got < n) {
		r = getrandom(b + got, n - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	if (got == n)
		return 0;
	/* A kernel without getrandom(2), or a filter that refuses it. */
	if ((fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	while (got < n) {
		r = read(fd, b + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	return got == n ? 0 : -EIO;
}

static void
hash_init(void)
{
	struct timespec ts;
	uint64_t mix[4];

	if (fill_random(hash_key, sizeof(hash_key)) == 0)
		return;
	/* No source of randomness at all: a key from the clock, the pid and
	   where the stack and the key lie (address space randomization).
	   Weaker, but still not a key an outsider can know in advance. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	mix[0] = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	mix[1] = (uint64_t)getpid();
	mix[2] = (uint64_t)(uintptr_t)&ts;
	mix[3] = (uint64_t)(uintptr_t)hash_key;
	clock_gettime(CLOCK_REALTIME, &ts);
	hash_key[0] = kc__siphash(mix, mix, sizeof(mix));
	hash_key[1] = kc__siphash(mix + 2, &ts, sizeof(ts));
}

const uint64_t *
kc__hash_key(void)
{
	(void)pthread_once(&hash_once, hash_init);
	return hash_key;
}
