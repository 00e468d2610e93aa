/*
 * hashseed: the keyed hash that tables of outside keys use (SipHash-2-4,
 * src/core/siphash.c), and the datagram relay's session hash, which must
 * be keyed per process (issue 13, defect 7).
 *
 * SipHash is checked against its published test values, and the 64-bit
 * shortcut against the byte-wise function.  For the relay, the test runs
 * itself twice as a child that prints the hash of 128 loopback client
 * addresses: within a process the hash of an address never changes (a
 * session must be found again), and between two processes the hashes, and
 * the order of the addresses by bucket, differ.  With an unkeyed hash they
 * are the same in every process, and whoever picks the source ports picks
 * the buckets.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/siphash.h"
#include "kctest.h"
#include "net/dgram.h"

#define NADDR	128

static void
check_siphash(void)
{
	uint64_t k[2], v;
	unsigned char key[16], msg[15];
	unsigned i;

	/* The test key 00 01 .. 0f, and messages 00 01 .. of each length. */
	for (i = 0; i < 16; i++)
		key[i] = (unsigned char)i;
	for (i = 0; i < 15; i++)
		msg[i] = (unsigned char)i;
	memcpy(&k[0], key, 8);
	memcpy(&k[1], key + 8, 8);
	k[0] = le64toh(k[0]);
	k[1] = le64toh(k[1]);
	KC_CHECK_EQ(kc__siphash(k, msg, 0), 0x726fdb47dd0e0e31ull);
	KC_CHECK_EQ(kc__siphash(k, msg, 15), 0xa129ca6149be45e5ull);
	/* The 64-bit form is the byte-wise one of its 8 little-endian bytes. */
	for (i = 0; i < 64; i++) {
		v = 0x0123456789abcdefull * (i + 1) ^ ((uint64_t)i << 59);
		uint64_t le = htole64(v);

		KC_CHECK_EQ(kc__siphash64(k, v), kc__siphash(k, &le, 8));
	}
	/* Another key, another function. */
	k[1] ^= 1;
	KC_CHECK_NE(kc__siphash(k, msg, 15), 0xa129ca6149be45e5ull);
	/* The process's key is one key: the same pointer, the same words. */
	KC_CHECK(kc__hash_key() == kc__hash_key());
	KC_CHECK(kc__hash_key()[0] != 0 || kc__hash_key()[1] != 0);
}

/* Client i: 127.0.0.1 and [::1] on ports from 40000 up. */
static void
client(struct kc_sockaddr *a, unsigned i)
{
	memset(a, 0, sizeof(*a));
	if (i % 2 == 0) {
		a->a.in.sin_family = AF_INET;
		a->a.in.sin_port = htons((uint16_t)(40000 + i / 2));
		a->a.in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		a->len = sizeof(a->a.in);
	} else {
		a->a.in6.sin6_family = AF_INET6;
		a->a.in6.sin6_port = htons((uint16_t)(40000 + i / 2));
		a->a.in6.sin6_addr = in6addr_loopback;
		a->len = sizeof(a->a.in6);
	}
}

/* The child: each address's hash, one a line. */
static int
print_hashes(void)
{
	struct kc_sockaddr a;
	unsigned i;

	for (i = 0; i < NADDR; i++) {
		client(&a, i);
		printf("%08x\n", (unsigned)kc__dgram_addr_hash(&a));
	}
	return fflush(stdout) == 0 ? 0 : 1;
}

/* A child's hashes into h[]. */
static void
child_hashes(const char *self, uint32_t *h)
{
	char cmd[4200];
	unsigned i, v;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "'%s' print", self);
	p = popen(cmd, "r");
	KC_CHECK(p != NULL);
	for (i = 0; i < NADDR; i++) {
		KC_CHECK_EQ(fscanf(p, "%x", &v), 1);
		h[i] = v;
	}
	KC_CHECK_EQ(pclose(p), 0);
}

static void
check_relay(const char *self)
{
	uint32_t h1[NADDR], h2[NADDR], again;
	struct kc_sockaddr a;
	unsigned i, same = 0, same_bucket = 0;

	/* Stable within this process. */
	for (i = 0; i < NADDR; i++) {
		client(&a, i);
		again = kc__dgram_addr_hash(&a);
		KC_CHECK_EQ(kc__dgram_addr_hash(&a), again);
	}
	child_hashes(self, h1);
	child_hashes(self, h2);
	for (i = 0; i < NADDR; i++) {
		same += h1[i] == h2[i];
		/* A relay's smallest table has 64 buckets. */
		same_bucket += (h1[i] & 63) == (h2[i] & 63);
	}
	/* Keyed per process: an address keeps its hash across processes
	   with chance 2^-32, its bucket with chance 1/64.  Allowing 4 and
	   NADDR / 4 leaves the test a chance of failing under 10^-20. */
	if (same > 4 || same_bucket > NADDR / 4)
		kct_fail(__FILE__, __LINE__, "the relay's hash is the same in "
		    "two processes: %u of %u hashes, %u of %u buckets", same,
		    NADDR, same_bucket, NADDR);
}

int
main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "print") == 0)
		return print_hashes();
	char self[4096];
	ssize_t n;

	kct_begin("hashseed", 30);
	check_siphash();
	/* This program's path, for its children (the shell that popen()
	   starts has a /proc/self/exe of its own). */
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	KC_CHECK(n > 0 && (size_t)n < sizeof(self) - 1);
	self[n] = '\0';
	check_relay(self);
	return kct_done();
}
