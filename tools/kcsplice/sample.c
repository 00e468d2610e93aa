/*
 * sample.c: the mirrors' sampling (sample.h).
 */
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "conf.h"
#include "core/siphash.h"
#include "sample.h"

/* Domain tags: a counter's input never equals a client's. */
#define TAG_RANDOM	0x52u
#define TAG_CLIENT	0x43u

void
ks_rng_init(struct ks_rng *r, unsigned worker)
{
	r->stream = (uint64_t)worker;
	r->next = 0;
}

static uint64_t
draw_random(struct ks_rng *r)
{
	uint8_t b[17];

	b[0] = TAG_RANDOM;
	memcpy(b + 1, &r->stream, 8);
	memcpy(b + 9, &r->next, 8);
	r->next++;
	return kc__siphash(kc__hash_key(), b, sizeof(b));
}

/* The client's address and the mirror's: 0 when it has no address. */
static int
draw_client(const struct kc_sockaddr *client, const char *mirror,
    uint64_t *h)
{
	uint8_t b[1 + 16 + sizeof(((struct ks_addr *)0)->text)];
	size_t n = 1, ml = strnlen(mirror, sizeof(b) - 17);
	const uint8_t *a6;

	b[0] = TAG_CLIENT;
	switch (client->a.sa.sa_family) {
	case AF_INET:
		/* As v4-mapped IPv6, so that both forms are one client. */
		memset(b + 1, 0, 10);
		b[11] = b[12] = 0xff;
		memcpy(b + 13, &client->a.in.sin_addr, 4);
		break;
	case AF_INET6:
		a6 = (const uint8_t *)&client->a.in6.sin6_addr;
		memcpy(b + 1, a6, 16);
		break;
	default:
		return 0;
	}
	n += 16;
	memcpy(b + n, mirror, ml);
	n += ml;
	*h = kc__siphash(kc__hash_key(), b, n);
	return 1;
}

bool
ks_sample_take(struct ks_rng *r, uint32_t sample, bool by_client,
    const struct kc_sockaddr *client, const char *mirror)
{
	uint64_t h;

	if (sample >= KS_SAMPLE_ALL)
		return true;
	if (sample == 0)
		return false;
	if (!by_client || client == NULL || draw_client(client, mirror,
	    &h) == 0)
		h = draw_random(r);
	/* 2^64 is no multiple of 10000: a bias below 1e-15, none to see. */
	return h % KS_SAMPLE_ALL < sample;
}
