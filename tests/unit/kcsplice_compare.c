/*
 * unit-kcsplice_compare: kcsplice --compare's core (tools/kcsplice/
 * compare.c): each mirror's replies against the upstream's.
 *   Equal streams, in any split and either side first, match and hold
 *   nothing once in step.  A difference at offset 0, in the middle (in a
 *   later piece than it began) and at the last byte is found at its exact
 *   offset, with both sides' excerpts, whichever side came second.  One
 *   side a strict prefix of the other diverges at the end, at the
 *   shorter's length, with "(end)" on its side.  A side that runs past the
 *   window is not compared, lets go of what it held and stops wanting
 *   bytes; so does one past the process cap.  Two mirrors are compared
 *   apart (one diverges, one matches), and the upstream is wanted until
 *   neither compares.  A mirror with holes is not compared.  Chains fed
 *   from an offset are read from there.  The excerpt's text.
 */
#include "kctest.h"

#include <stdlib.h>
#include <string.h>

#include "compare.h"

#define BIG	100000

static uint8_t up[BIG], mi[BIG];

static void
fill(uint8_t *b, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		b[i] = (uint8_t)((i * 131 + seed) % 251);
}

/* Feed up[0..n) and mi[0..m) in pieces of step, alternating sides. */
static void
feed_both(struct ks_cmp *c, unsigned i, size_t n, size_t m, size_t step,
    bool mirror_first)
{
	size_t a = 0, b = 0, k;

	while (a < n || b < m) {
		if (mirror_first && b < m) {
			k = m - b < step ? m - b : step;
			(void)ks_cmp_feed(c, 1, i, mi + b, k);
			b += k;
		}
		if (a < n) {
			k = n - a < step ? n - a : step;
			(void)ks_cmp_feed(c, 0, 0, up + a, k);
			a += k;
		}
		if (!mirror_first && b < m) {
			k = m - b < step ? m - b : step;
			(void)ks_cmp_feed(c, 1, i, mi + b, k);
			b += k;
		}
	}
}

static void
test_match(void)
{
	static const size_t steps[] = { 1, 7, 4096, 5000, BIG };
	struct ks_cmp c;
	unsigned s, first;

	fill(up, BIG, 3);
	memcpy(mi, up, BIG);
	for (s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
		for (first = 0; first < 2; first++) {
			ks_cmp_init(&c, 1, 2 * BIG);
			feed_both(&c, 0, BIG, BIG, steps[s], first != 0);
			KC_CHECK_EQ(c.held, 0);
			KC_CHECK_EQ(c.m[0].cm_off, BIG);
			KC_CHECK_EQ(ks_cmp_end(&c, 0, true, NULL),
			    KS_CMP_MATCHED);
			ks_cmp_free(&c);
		}
	}
	/* The mirror lags by everything: held, then matched. */
	ks_cmp_init(&c, 1, BIG);
	KC_CHECK(!ks_cmp_feed(&c, 0, 0, up, BIG));
	KC_CHECK_EQ(c.held, BIG);
	KC_CHECK_EQ(ks_cmp_held(), BIG);
	KC_CHECK(!ks_cmp_feed(&c, 1, 0, mi, BIG));
	KC_CHECK_EQ(c.held, 0);
	KC_CHECK_EQ(ks_cmp_held(), 0);
	KC_CHECK_EQ(ks_cmp_end(&c, 0, true, NULL), KS_CMP_MATCHED);
	ks_cmp_free(&c);
	/* Nothing either way matches too. */
	ks_cmp_init(&c, 1, BIG);
	KC_CHECK_EQ(ks_cmp_end(&c, 0, true, NULL), KS_CMP_MATCHED);
	ks_cmp_free(&c);
}

/* A difference at off, the streams fed in pieces of step. */
static void
check_diverge(size_t off, size_t step, bool mirror_first)
{
	struct ks_cmp_diff d;
	struct ks_cmp c;
	size_t want;

	fill(up, BIG, 5);
	memcpy(mi, up, BIG);
	mi[off] ^= 0x5a;
	ks_cmp_init(&c, 1, 2 * BIG);
	feed_both(&c, 0, BIG, BIG, step, mirror_first);
	KC_CHECK_EQ(c.held, 0);
	KC_CHECK_EQ(ks_cmp_end(&c, 0, true, &d), KS_CMP_DIVERGED);
	KC_CHECK_EQ(d.off, off);
	want = BIG - off < KS_CMP_EXCERPT ? BIG - off : KS_CMP_EXCERPT;
	/* The side that came second has its piece's rest, at least 1. */
	KC_CHECK(d.up_n >= 1 && d.up_n <= want);
	KC_CHECK(d.mi_n >= 1 && d.mi_n <= want);
	KC_CHECK(memcmp(d.up, up + off, d.up_n) == 0);
	KC_CHECK(memcmp(d.mi, mi + off, d.mi_n) == 0);
	KC_CHECK(d.up[0] != d.mi[0]);
	ks_cmp_free(&c);
	KC_CHECK_EQ(ks_cmp_held(), 0);
}

static void
test_diverge(void)
{
	static const size_t offs[] = { 0, 1, 4095, 4096, 50000, BIG - 1 };
	static const size_t steps[] = { 1, 1000, 4096, BIG };
	unsigned o, s;

	for (o = 0; o < sizeof(offs) / sizeof(offs[0]); o++)
		for (s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
			if (steps[s] == 1 && offs[o] > 5000)
				continue;	/* the same, slower */
			check_diverge(offs[o], steps[s], false);
			check_diverge(offs[o], steps[s], true);
		}
}

static void
test_shorter(void)
{
	struct ks_cmp_diff d;
	struct ks_cmp c;

	fill(up, BIG, 9);
	memcpy(mi, up, BIG);
	/* The mirror stops 10 bytes short. */
	ks_cmp_init(&c, 1, 2 * BIG);
	feed_both(&c, 0, BIG, BIG - 10, 777, false);
	KC_CHECK_EQ(c.held, 10);
	KC_CHECK_EQ(ks_cmp_end(&c, 0, true, &d), KS_CMP_DIVERGED);
	KC_CHECK_EQ(d.off, BIG - 10);
	KC_CHECK_EQ(d.up_n, 10);
	KC_CHECK_EQ(d.mi_n, 0);
	KC_CHECK(memcmp(d.up, up + BIG - 10, 10) == 0);
	KC_CHECK_EQ(c.held, 0);
	ks_cmp_free(&c);
	/* The upstream stops short; the mirror says more. */
	ks_cmp_init(&c, 1, 2 * BIG);
	feed_both(&c, 0, 3000, BIG, 512, true);
	KC_CHECK_EQ(ks_cmp_end(&c, 0, true, &d), KS_CMP_DIVERGED);
	KC_CHECK_EQ(d.off, 3000);
	KC_CHECK_EQ(d.up_n, 0);
	KC_CHECK_EQ(d.mi_n, KS_CMP_EXCERPT);
	KC_CHECK(memcmp(d.mi, mi + 3000, KS_CMP_EXCERPT) == 0);
	ks_cmp_free(&c);
	/* A mirror that never answers: diverged at 0. */
	ks_cmp_init(&c, 1, 2 * BIG);
	(void)ks_cmp_feed(&c, 0, 0, up, 5);
	KC_CHECK_EQ(ks_cmp_end(&c, 0, true, &d), KS_CMP_DIVERGED);
	KC_CHECK_EQ(d.off, 0);
	ks_cmp_free(&c);
	KC_CHECK_EQ(ks_cmp_held(), 0);
}

static void
test_window(void)
{
	struct ks_cmp c;

	fill(up, BIG, 11);
	memcpy(mi, up, BIG);
	/* A mirror flooding past the window: not compared, nothing held. */
	ks_cmp_init(&c, 1, 1000);
	KC_CHECK(!ks_cmp_feed(&c, 1, 0, mi, 600));
	KC_CHECK_EQ(c.held, 600);
	KC_CHECK(ks_cmp_feed(&c, 1, 0, mi + 600, 401));
	KC_CHECK(c.m[0].cm_overflow);
	KC_CHECK_EQ(c.held, 0);
	KC_CHECK_EQ(ks_cmp_held(), 0);
	/* No mirror compares: the upstream is not wanted. */
	KC_CHECK(ks_cmp_feed(&c, 0, 0, up, 10));
	KC_CHECK_EQ(c.held, 0);
	KC_CHECK_EQ(ks_cmp_end(&c, 0, true, NULL), KS_CMP_NOT_COMPARED);
	ks_cmp_free(&c);
	/* Exactly the window is still compared. */
	ks_cmp_init(&c, 1, 1000);
	KC_CHECK(!ks_cmp_feed(&c, 0, 0, up, 1000));
	KC_CHECK(!ks_cmp_feed(&c, 1, 0, mi, 1000));
	KC_CHECK_EQ(ks_cmp_end(&c, 0, true, NULL), KS_CMP_MATCHED);
	ks_cmp_free(&c);
	/* The upstream's bytes count once for each mirror waiting. */
	ks_cmp_init(&c, 2, 1000);
	KC_CHECK(!ks_cmp_feed(&c, 0, 0, up, 500));
	KC_CHECK_EQ(c.held, 1000);
	KC_CHECK(!ks_cmp_feed(&c, 1, 1, mi, 500));
	KC_CHECK_EQ(c.held, 500);
	/* Mirror 0 would hold 1001, mirror 1 only 501. */
	KC_CHECK(!ks_cmp_feed(&c, 0, 0, up + 500, 501));
	KC_CHECK(c.m[0].cm_overflow);
	KC_CHECK(!c.m[1].cm_overflow);
	KC_CHECK_EQ(c.held, 501);
	KC_CHECK_EQ(ks_cmp_end(&c, 0, true, NULL), KS_CMP_NOT_COMPARED);
	KC_CHECK(ks_cmp_feed(&c, 1, 1, mi + 500, 501) == false);
	KC_CHECK_EQ(ks_cmp_end(&c, 1, true, NULL), KS_CMP_MATCHED);
	ks_cmp_free(&c);
	/* The process cap, across connections. */
	ks_cmp_cap(1500);
	{
		struct ks_cmp c2;

		ks_cmp_init(&c, 1, BIG);
		ks_cmp_init(&c2, 1, BIG);
		KC_CHECK(!ks_cmp_feed(&c, 0, 0, up, 1000));
		KC_CHECK(ks_cmp_feed(&c2, 0, 0, up, 501));
		KC_CHECK(c2.m[0].cm_overflow);
		KC_CHECK_EQ(ks_cmp_held(), 1000);
		KC_CHECK(!ks_cmp_feed(&c, 1, 0, mi, 1000));
		KC_CHECK_EQ(ks_cmp_held(), 0);
		ks_cmp_free(&c);
		ks_cmp_free(&c2);
	}
	ks_cmp_cap(0);
}

static void
test_mirrors(void)
{
	struct ks_cmp_diff d;
	struct ks_cmp c;
	uint8_t other[100];

	fill(up, 100, 13);
	memcpy(mi, up, 100);
	memcpy(other, up, 100);
	other[42] = (uint8_t)~other[42];
	ks_cmp_init(&c, 3, BIG);
	KC_CHECK(!ks_cmp_feed(&c, 0, 0, up, 100));
	KC_CHECK(!ks_cmp_feed(&c, 1, 0, mi, 100));
	KC_CHECK(ks_cmp_feed(&c, 1, 1, other, 100));	/* decided */
	ks_cmp_abandon(&c, 2);				/* holes */
	KC_CHECK_EQ(c.active, 1);
	KC_CHECK_EQ(ks_cmp_end(&c, 0, true, NULL), KS_CMP_MATCHED);
	KC_CHECK_EQ(ks_cmp_end(&c, 1, true, &d), KS_CMP_DIVERGED);
	KC_CHECK_EQ(d.off, 42);
	KC_CHECK_EQ(d.mi_n, KS_CMP_EXCERPT);
	KC_CHECK_EQ(ks_cmp_end(&c, 2, true, NULL), KS_CMP_NOT_COMPARED);
	ks_cmp_free(&c);
	/* Holes said at the end win over a match. */
	ks_cmp_init(&c, 1, BIG);
	(void)ks_cmp_feed(&c, 0, 0, up, 100);
	(void)ks_cmp_feed(&c, 1, 0, mi, 100);
	KC_CHECK_EQ(ks_cmp_end(&c, 0, false, NULL), KS_CMP_NOT_COMPARED);
	ks_cmp_free(&c);
	KC_CHECK_EQ(ks_cmp_held(), 0);
}

static void
test_chains(void)
{
	struct kc_chain a = KC_CHAIN_INITIALIZER, b = KC_CHAIN_INITIALIZER;
	struct ks_cmp_diff d;
	struct ks_cmp c;
	size_t i;

	fill(up, 20000, 17);
	memcpy(mi, up, 20000);
	mi[15000] ^= 1;
	/* Several segments, fed from an offset within them. */
	for (i = 0; i < 20000; i += 3000)
		KC_CHECK_OK(kc_chain_append(&a, up + i, 20000 - i < 3000 ?
		    20000 - i : 3000));
	KC_CHECK_OK(kc_chain_append(&b, "junk", 4));
	KC_CHECK_OK(kc_chain_append(&b, mi, 20000));
	ks_cmp_init(&c, 1, BIG);
	KC_CHECK(!ks_cmp_upstream(&c, &a, 0, 20000));
	KC_CHECK(ks_cmp_mirror(&c, 0, &b, 4, 20000));
	KC_CHECK_EQ(ks_cmp_end(&c, 0, true, &d), KS_CMP_DIVERGED);
	KC_CHECK_EQ(d.off, 15000);
	ks_cmp_free(&c);
	kc_chain_free(&a);
	kc_chain_free(&b);
}

static void
test_excerpt(void)
{
	char buf[80];

	ks_cmp_excerpt(buf, sizeof(buf), (const uint8_t *)"+OK\r\n", 5);
	KC_CHECK(strcmp(buf, "2b4f4b0d0a \"+OK..\"") == 0);
	ks_cmp_excerpt(buf, sizeof(buf), (const uint8_t *)"a\"b\\", 4);
	KC_CHECK(strcmp(buf, "6122625c \"a.b.\"") == 0);
	ks_cmp_excerpt(buf, sizeof(buf), NULL, 0);
	KC_CHECK(strcmp(buf, "(end)") == 0);
	/* Cut to size, still terminated. */
	ks_cmp_excerpt(buf, 6, (const uint8_t *)"abcdef", 6);
	KC_CHECK_EQ(strlen(buf), 5);
	KC_CHECK(strcmp(ks_cmp_result_name(KS_CMP_NOT_COMPARED),
	    "not_compared") == 0);
}

int
main(void)
{
	kct_begin("unit-kcsplice_compare", 120);
	test_match();
	test_diverge();
	test_shorter();
	test_window();
	test_mirrors();
	test_chains();
	test_excerpt();
	return kct_done();
}
