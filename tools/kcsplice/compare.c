/*
 * compare.c: each mirror's replies against the upstream's (compare.h).
 *
 * Per mirror, one of the two held chains is always empty: bytes that come
 * on one side are first compared with what the other side holds, and only
 * what goes past it is kept.  So a mirror in step with the upstream holds
 * nothing, and one that lags holds the upstream's bytes it has not sent
 * yet (or the other way round), which is what the window bounds.
 */
#include <stdio.h>
#include <string.h>

#include "compare.h"
#include "heldcap.h"

#define CMP_CHUNK	4096	/* bytes copied out of a chain at a time */

static struct ks_held cmp_held;

void
ks_cmp_cap(uint64_t cap)
{
	ks_held_cap(&cmp_held, cap);
}

uint64_t
ks_cmp_held(void)
{
	return ks_held_now(&cmp_held);
}

/* Take n bytes under the cap: false if they do not fit. */
static bool
cap_take(uint64_t n)
{
	return ks_held_take(&cmp_held, n, false);
}

static void
cap_give(uint64_t n)
{
	ks_held_give(&cmp_held, n);
}

const char *
ks_cmp_result_name(enum ks_cmp_result r)
{
	static const char *const names[KS_CMP_RESULT_N] = {
		[KS_CMP_COMPARING] = "comparing",
		[KS_CMP_MATCHED] = "matched",
		[KS_CMP_DIVERGED] = "diverged",
		[KS_CMP_NOT_COMPARED] = "not_compared",
	};

	return (unsigned)r < KS_CMP_RESULT_N ? names[r] : "unknown";
}

void
ks_cmp_init(struct ks_cmp *c, unsigned nm, uint64_t window)
{
	unsigned i;

	memset(c, 0, sizeof(*c));
	c->nm = nm < KS_CMP_MIRRORS ? nm : KS_CMP_MIRRORS;
	c->active = c->nm;
	c->window = window;
	for (i = 0; i < KS_CMP_MIRRORS; i++) {
		kc_chain_init(&c->m[i].cm_held[0]);
		kc_chain_init(&c->m[i].cm_held[1]);
	}
}

/* Let go of what mirror m holds. */
static void
release(struct ks_cmp *c, struct ks_cmp_mirror *m)
{
	uint64_t n = kc_chain_len(&m->cm_held[0]) +
	    kc_chain_len(&m->cm_held[1]);

	kc_chain_free(&m->cm_held[0]);
	kc_chain_free(&m->cm_held[1]);
	c->held -= n;
	cap_give(n);
}

/* m's comparison is decided: r. */
static void
decide(struct ks_cmp *c, struct ks_cmp_mirror *m, enum ks_cmp_result r)
{
	if (m->cm_result != KS_CMP_COMPARING)
		return;
	m->cm_result = r;
	c->active--;
	release(c, m);
}

/*
 * The first j bytes of side s's new bytes p matched; byte j differs from
 * what the other side held there (held chain o, from its byte 0 + j).
 */
static void
diverge(struct ks_cmp *c, struct ks_cmp_mirror *m, int s, const uint8_t *p,
    size_t n, size_t j)
{
	struct ks_cmp_diff *d = &m->cm_diff;
	const struct kc_chain *o = &m->cm_held[!s];
	uint8_t *mine = s == 0 ? d->up : d->mi;
	uint8_t *theirs = s == 0 ? d->mi : d->up;
	size_t *mine_n = s == 0 ? &d->up_n : &d->mi_n;
	size_t *theirs_n = s == 0 ? &d->mi_n : &d->up_n;

	d->off = m->cm_off + j;
	*mine_n = n - j < KS_CMP_EXCERPT ? n - j : KS_CMP_EXCERPT;
	memcpy(mine, p + j, *mine_n);
	*theirs_n = kc_chain_copyout(o, j, theirs, KS_CMP_EXCERPT);
	decide(c, m, KS_CMP_DIVERGED);
}

/* The first index where a and b differ, or n. */
static size_t
first_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
	size_t i;

	if (memcmp(a, b, n) == 0)
		return n;
	for (i = 0; i < n && a[i] == b[i]; i++)
		;
	return i;
}

/* n new bytes p from side s (0: upstream, 1: the mirror) for m. */
static void
feed_one(struct ks_cmp *c, struct ks_cmp_mirror *m, int s, const uint8_t *p,
    size_t n)
{
	struct kc_chain *o = &m->cm_held[!s];
	uint8_t tmp[CMP_CHUNK];
	size_t k, j, done = 0;

	if (m->cm_result != KS_CMP_COMPARING || n == 0)
		return;
	/* What the other side holds is compared first. */
	while (done < n && kc_chain_len(o) > 0) {
		k = n - done;
		if (k > sizeof(tmp))
			k = sizeof(tmp);
		k = kc_chain_copyout(o, 0, tmp, k);
		j = first_diff(p + done, tmp, k);
		if (j < k) {
			diverge(c, m, s, p + done, n - done, j);
			return;
		}
		(void)kc_chain_drop(o, k);
		c->held -= k;
		cap_give(k);
		m->cm_off += k;
		done += k;
	}
	if (done == n)
		return;
	/* Past the other side: held, within the window and the cap. */
	k = n - done;
	if (c->held + k > c->window || !cap_take(k)) {
		m->cm_overflow = true;
		decide(c, m, KS_CMP_NOT_COMPARED);
		return;
	}
	if (kc_chain_append(&m->cm_held[s], p + done, k) != 0) {
		cap_give(k);
		m->cm_overflow = true;
		decide(c, m, KS_CMP_NOT_COMPARED);
		return;
	}
	c->held += k;
}

bool
ks_cmp_feed(struct ks_cmp *c, int side, unsigned i, const void *buf,
    size_t len)
{
	unsigned k;

	if (side == 0) {
		for (k = 0; k < c->nm; k++)
			feed_one(c, &c->m[k], 0, buf, len);
		return c->active == 0;
	}
	if (i >= c->nm)
		return true;
	feed_one(c, &c->m[i], 1, buf, len);
	return c->m[i].cm_result != KS_CMP_COMPARING;
}

/* A lent chain's bytes, a piece at a time. */
static bool
feed_chain(struct ks_cmp *c, int side, unsigned i,
    const struct kc_chain *data, size_t off, size_t len)
{
	uint8_t buf[CMP_CHUNK];
	size_t n;
	bool enough = false;

	while (len > 0 && !enough) {
		n = kc_chain_copyout(data, off, buf,
		    len < sizeof(buf) ? len : sizeof(buf));
		if (n == 0)
			break;
		enough = ks_cmp_feed(c, side, i, buf, n);
		off += n;
		len -= n;
	}
	return enough || (side == 0 ? c->active == 0 :
	    i >= c->nm || c->m[i].cm_result != KS_CMP_COMPARING);
}

bool
ks_cmp_upstream(struct ks_cmp *c, const struct kc_chain *data, size_t off,
    size_t len)
{
	return feed_chain(c, 0, 0, data, off, len);
}

bool
ks_cmp_mirror(struct ks_cmp *c, unsigned i, const struct kc_chain *data,
    size_t off, size_t len)
{
	return feed_chain(c, 1, i, data, off, len);
}

void
ks_cmp_abandon(struct ks_cmp *c, unsigned i)
{
	struct ks_cmp_mirror *m;

	if (i >= c->nm)
		return;
	m = &c->m[i];
	if (m->cm_result == KS_CMP_COMPARING)
		decide(c, m, KS_CMP_NOT_COMPARED);
	else
		m->cm_result = KS_CMP_NOT_COMPARED;
}

enum ks_cmp_result
ks_cmp_end(struct ks_cmp *c, unsigned i, bool whole, struct ks_cmp_diff *d)
{
	struct ks_cmp_mirror *m;
	struct ks_cmp_diff *md;
	size_t n;
	int s;

	if (i >= c->nm)
		return KS_CMP_NOT_COMPARED;
	m = &c->m[i];
	md = &m->cm_diff;
	if (!whole)
		ks_cmp_abandon(c, i);
	if (m->cm_result == KS_CMP_COMPARING) {
		/* One side held bytes the other never sent: a prefix. */
		for (s = 0; s < 2; s++) {
			n = kc_chain_copyout(&m->cm_held[s], 0,
			    s == 0 ? md->up : md->mi, KS_CMP_EXCERPT);
			if (s == 0)
				md->up_n = n;
			else
				md->mi_n = n;
		}
		md->off = m->cm_off;
		decide(c, m, md->up_n + md->mi_n == 0 ? KS_CMP_MATCHED :
		    KS_CMP_DIVERGED);
	}
	if (d != NULL)
		*d = *md;
	return m->cm_result;
}

void
ks_cmp_free(struct ks_cmp *c)
{
	unsigned i;

	for (i = 0; i < c->nm; i++)
		release(c, &c->m[i]);
}

void
ks_cmp_excerpt(char *buf, size_t size, const uint8_t *b, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	if (size == 0)
		return;
	if (n == 0) {
		snprintf(buf, size, "(end)");
		return;
	}
	/* Hex (2n), a space, a quote, n, a quote, the NUL: 4n + 4. */
	for (i = 0; i < n && o + 3 < size; i++) {
		buf[o++] = hex[b[i] >> 4];
		buf[o++] = hex[b[i] & 15];
	}
	if (o + 3 < size) {
		buf[o++] = ' ';
		buf[o++] = '"';
	}
	for (i = 0; i < n && o + 2 < size; i++)
		buf[o++] = b[i] >= 0x20 && b[i] < 0x7f && b[i] != '"' &&
		    b[i] != '\\' ? (char)b[i] : '.';
	if (o + 1 < size)
		buf[o++] = '"';
	buf[o] = '\0';
}
