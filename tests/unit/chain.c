/*
 * unit-chain: buffer chains and segments (kcont/buf.h).
 *   segments: alloc, wrap (release once, on the last unref, on any thread),
 *     references as views come and go
 *   append and prepend contents; appends fill the tail segment
 *   split at every offset of a multi-segment chain, into a non-empty tail;
 *     -ENOBUFS with no spare and nothing moved; a split after any allocating
 *     call neither fails nor (where malloc can be counted) allocates
 *   share, concat, prepend_chain, copyout, drop, iov, room and commit
 *   read and write through a pipe and a socketpair; a closed peer gives
 *     -EPIPE and no SIGPIPE
 *   bad arguments give -EINVAL (or 0) and never crash; errno is left alone
 *   -ENOMEM leaves the chain as it was (where malloc can be made to fail)
 *   chains on several threads sharing segments
 */
#include "kctest.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * Counting and failing malloc.  Sanitizers own malloc, so there the checks
 * that need it are skipped.  The counters are per thread so that other
 * threads cannot disturb a count.
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define HOOK	0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define HOOK	0
#endif
#endif
#ifndef HOOK
#define HOOK	1
#endif

static __thread long mh_calls;
static __thread long mh_fail = -1;	/* fail the call after this many */

#if HOOK
void	*__libc_malloc(size_t);

void *
malloc(size_t n)
{
	mh_calls++;
	if (mh_fail >= 0 && mh_fail-- == 0) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_malloc(n);
}
#endif

#define SEG	KC_SEG_DEFAULT

static unsigned char *
pattern(size_t len, unsigned seed)
{
	unsigned char *p = malloc(len + 1);
	uint64_t x = 0x9e3779b97f4a7c15ull * (seed + 1);
	size_t i;

	KC_CHECK(p != NULL);
	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (unsigned char)x;
	}
	return p;
}

/* c holds exactly want[0, len): checked through copyout and iov. */
static void
check_chain(const struct kc_chain *c, const void *want, size_t len)
{
	unsigned char *got = malloc(len + 1);
	struct iovec iov[512];
	size_t bytes, pos = 0;
	int i, n;

	KC_CHECK(got != NULL);
	KC_CHECK_EQ(kc_chain_len(c), len);
	KC_CHECK_EQ(kc_chain_copyout(c, 0, got, len + 10), len);
	KC_CHECK(memcmp(got, want, len) == 0);
	n = kc_chain_iov(c, iov, 512, &bytes);
	KC_CHECK_GE(n, 0);
	for (i = 0; i < n; i++) {
		KC_CHECK_GT(iov[i].iov_len, 0);
		KC_CHECK(memcmp(iov[i].iov_base, (const char *)want + pos,
		    iov[i].iov_len) == 0);
		pos += iov[i].iov_len;
	}
	KC_CHECK_EQ(pos, bytes);
	if (n < 512)
		KC_CHECK_EQ(bytes, len);
	free(got);
}

static int
nviews(const struct kc_chain *c)
{
	struct iovec iov[1024];

	return kc_chain_iov(c, iov, 1024, NULL);
}

static void
test_seg(void)
{
	struct kc_seg *s, *w;
	char buf[8];

	s = (struct kc_seg *)buf;
	KC_CHECK_EQ(kc_seg_alloc(NULL, 10), -EINVAL);
	KC_CHECK_EQ(kc_seg_alloc(&s, 0), -EINVAL);
	KC_CHECK(s == NULL);
	KC_CHECK_EQ(kc_seg_alloc(&s, ((size_t)1 << 30) + 1), -EINVAL);
	KC_CHECK_OK(kc_seg_alloc(&s, (size_t)1 << 30 >> 10));
	kc_seg_unref(s);
	KC_CHECK_OK(kc_seg_alloc(&s, 100));
	KC_CHECK(kc_seg_data(s) != NULL);
	KC_CHECK_EQ(kc_seg_size(s), 100);
	KC_CHECK_EQ(kc_seg_refs(s), 1);
	memset(kc_seg_data(s), 'x', 100);	/* writable, all of it */
	kc_seg_ref(s);
	KC_CHECK_EQ(kc_seg_refs(s), 2);
	kc_seg_unref(s);
	KC_CHECK_EQ(kc_seg_refs(s), 1);
	kc_seg_unref(s);

	KC_CHECK_EQ(kc_seg_wrap(NULL, buf, 8, NULL, NULL), -EINVAL);
	KC_CHECK_EQ(kc_seg_wrap(&w, NULL, 8, NULL, NULL), -EINVAL);
	KC_CHECK_EQ(kc_seg_wrap(&w, buf, 0, NULL, NULL), -EINVAL);
	/* No release function: static memory. */
	KC_CHECK_OK(kc_seg_wrap(&w, buf, 8, NULL, NULL));
	KC_CHECK_PTR_EQ(kc_seg_data(w), buf);
	KC_CHECK_EQ(kc_seg_size(w), 8);
	kc_seg_unref(w);

	KC_CHECK(kc_seg_data(NULL) == NULL);
	KC_CHECK_EQ(kc_seg_size(NULL), 0);
	KC_CHECK_EQ(kc_seg_refs(NULL), 0);
	kc_seg_ref(NULL);
	kc_seg_unref(NULL);
}

static void
test_append_prepend(void)
{
	static const size_t sizes[] = { 0, 1, 7, 100, SEG - 1, SEG, SEG + 1,
	    3 * SEG + 7 };
	struct kc_chain c = KC_CHAIN_INITIALIZER;
	unsigned char *p, *want;
	size_t i, j, len;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		p = pattern(sizes[i], (unsigned)i);
		KC_CHECK_OK(kc_chain_append(&c, p, sizes[i]));
		check_chain(&c, p, sizes[i]);
		kc_chain_free(&c);
		KC_CHECK_OK(kc_chain_prepend(&c, p, sizes[i]));
		check_chain(&c, p, sizes[i]);
		kc_chain_free(&c);
		free(p);
	}

	/* Many small appends fill one segment, then the next. */
	p = pattern(SEG + 10, 99);
	for (len = 0; len + 10 <= SEG; len += 10)
		KC_CHECK_OK(kc_chain_append(&c, p + len, 10));
	KC_CHECK_EQ(nviews(&c), 1);
	KC_CHECK_OK(kc_chain_append(&c, p + len, SEG + 10 - len));
	KC_CHECK_EQ(nviews(&c), 2);
	check_chain(&c, p, SEG + 10);
	kc_chain_free(&c);
	KC_CHECK_EQ(kc_chain_len(&c), 0);
	free(p);

	/* Prepends and appends interleaved build the expected sequence. */
	want = malloc(20 * 3000);
	p = pattern(20 * 3000, 7);
	kc_chain_init(&c);
	len = 0;
	for (i = 0; i < 20; i++) {
		size_t n = 1 + (i * 997) % 3000;

		if (i % 2 == 0) {
			KC_CHECK_OK(kc_chain_append(&c, p + i * 3000, n));
			memcpy(want + len, p + i * 3000, n);
		} else {
			KC_CHECK_OK(kc_chain_prepend(&c, p + i * 3000, n));
			memmove(want + n, want, len);
			memcpy(want, p + i * 3000, n);
		}
		len += n;
		check_chain(&c, want, len);
	}
	/* copyout at every offset, short and long */
	for (j = 0; j <= len; j += 37) {
		unsigned char got[200];
		size_t n = kc_chain_copyout(&c, j, got, sizeof(got));

		KC_CHECK_EQ(n, len - j < sizeof(got) ? len - j : sizeof(got));
		KC_CHECK(memcmp(got, want + j, n) == 0);
	}
	KC_CHECK_EQ(kc_chain_copyout(&c, len, want, 10), 0);
	KC_CHECK_EQ(kc_chain_copyout(&c, len + 5, want, 10), 0);
	kc_chain_free(&c);
	free(want);
	free(p);
}

struct rel {
	int	 calls;
	void	*data;
	size_t	 size;
};

static void
count_release(void *arg, void *data, size_t size)
{
	struct rel *r = arg;

	__atomic_add_fetch(&r->calls, 1, __ATOMIC_SEQ_CST);
	r->data = data;
	r->size = size;
	free(data);
}

/*
 * A chain of several views in several kinds of segment: a prepended
 * piece, a user segment viewed twice, a wrapped one, appended bytes.
 */
struct multi {
	struct kc_chain	 m_chain;
	unsigned char	*m_want;
	size_t		 m_len;
	struct kc_seg	*m_user;
	struct kc_seg	*m_wrap;
	struct rel	 m_rel;
};

static void
multi_add(struct multi *m, const void *p, size_t n)
{
	memcpy(m->m_want + m->m_len, p, n);
	m->m_len += n;
}

static void
multi_build(struct multi *m, size_t big)
{
	unsigned char *a, *w, *u;

	memset(m, 0, sizeof(*m));
	m->m_want = malloc(1000 + big);
	u = pattern(64, 1);
	KC_CHECK_OK(kc_seg_alloc(&m->m_user, 64));
	memcpy(kc_seg_data(m->m_user), u, 64);
	w = pattern(50, 2);
	KC_CHECK_OK(kc_seg_wrap(&m->m_wrap, w, 50, count_release,
	    &m->m_rel));
	a = pattern(100 + big, 3);

	KC_CHECK_OK(kc_chain_append_seg(&m->m_chain, m->m_user, 0, 30));
	multi_add(m, u, 30);
	KC_CHECK_OK(kc_chain_append_seg(&m->m_chain, m->m_wrap, 0, 50));
	multi_add(m, w, 50);
	KC_CHECK_OK(kc_chain_append(&m->m_chain, a, 100 + big));
	multi_add(m, a, 100 + big);
	KC_CHECK_OK(kc_chain_append_seg(&m->m_chain, m->m_user, 40, 24));
	multi_add(m, u + 40, 24);
	KC_CHECK_OK(kc_chain_append_seg(&m->m_chain, m->m_wrap, 10, 5));
	multi_add(m, w + 10, 5);
	KC_CHECK_OK(kc_chain_prepend(&m->m_chain, a + 7, 20));
	memmove(m->m_want + 20, m->m_want, m->m_len);
	memcpy(m->m_want, a + 7, 20);
	m->m_len += 20;
	check_chain(&m->m_chain, m->m_want, m->m_len);
	KC_CHECK_GE(nviews(&m->m_chain), 6);
	free(a);
	free(u);
}

static void
multi_free(struct multi *m)
{
	kc_chain_free(&m->m_chain);
	KC_CHECK_EQ(kc_seg_refs(m->m_user), 1);
	KC_CHECK_EQ(kc_seg_refs(m->m_wrap), 1);
	KC_CHECK_EQ(m->m_rel.calls, 0);
	kc_seg_unref(m->m_user);
	kc_seg_unref(m->m_wrap);
	KC_CHECK_EQ(m->m_rel.calls, 1);
	KC_CHECK_EQ(m->m_rel.size, 50);
	free(m->m_want);
}

static void
test_split_every(size_t big, size_t step)
{
	static const char pre[] = "tail:";
	struct multi m;
	struct kc_chain c = KC_CHAIN_INITIALIZER, t = KC_CHAIN_INITIALIZER;
	unsigned char *want;
	size_t off;
	unsigned userrefs;

	multi_build(&m, big);
	userrefs = kc_seg_refs(m.m_user);
	want = malloc(m.m_len + sizeof(pre));
	memcpy(want, pre, sizeof(pre) - 1);
	memcpy(want + sizeof(pre) - 1, m.m_want, m.m_len);
	for (off = 0; off <= m.m_len; off += (off < 200 ||
	    off + 200 > m.m_len ? 1 : step)) {
		KC_CHECK_OK(kc_chain_share(&c, &m.m_chain, 0, m.m_len));
		check_chain(&c, m.m_want, m.m_len);
		KC_CHECK_OK(kc_chain_append(&t, pre, sizeof(pre) - 1));
		KC_CHECK_OK(kc_chain_split(&c, off, &t));
		check_chain(&c, m.m_want, off);
		memcpy(want + sizeof(pre) - 1, m.m_want + off, m.m_len - off);
		check_chain(&t, want, sizeof(pre) - 1 + m.m_len - off);
		/* And back: drop the prefix of t, join. */
		KC_CHECK_EQ(kc_chain_drop(&t, sizeof(pre) - 1),
		    sizeof(pre) - 1);
		kc_chain_concat(&c, &t);
		KC_CHECK_EQ(kc_chain_len(&t), 0);
		check_chain(&c, m.m_want, m.m_len);
		kc_chain_free(&c);
		kc_chain_free(&t);
		KC_CHECK_EQ(kc_seg_refs(m.m_user), userrefs);
	}
	/* off > len */
	KC_CHECK_OK(kc_chain_share(&c, &m.m_chain, 0, m.m_len));
	KC_CHECK_EQ(kc_chain_split(&c, m.m_len + 1, &t), -EINVAL);
	KC_CHECK_EQ(kc_chain_split(&c, 1, &c), -EINVAL);
	KC_CHECK_EQ(kc_chain_split(NULL, 0, &t), -EINVAL);
	KC_CHECK_EQ(kc_chain_split(&c, 0, NULL), -EINVAL);
	check_chain(&c, m.m_want, m.m_len);
	/* prepend_chain puts a split-off head back in front */
	KC_CHECK_OK(kc_chain_split(&c, m.m_len / 3, &t));
	kc_chain_prepend_chain(&t, &c);
	KC_CHECK_EQ(kc_chain_len(&c), 0);
	check_chain(&t, m.m_want, m.m_len);
	kc_chain_concat(&c, &t);
	check_chain(&c, m.m_want, m.m_len);
	kc_chain_free(&c);
	kc_chain_free(&t);
	free(want);
	multi_free(&m);
}

/* Split at the last byte until the spares run out: -ENOBUFS, nothing moved. */
static void
test_split_nospare(void)
{
	struct kc_chain c = KC_CHAIN_INITIALIZER, t = KC_CHAIN_INITIALIZER;
	struct kc_seg *a, *b;
	unsigned char *pa, *pb, want[200];
	size_t tlen;
	long calls;
	int i, error = 0;

	pa = pattern(100, 11);
	pb = pattern(100, 12);
	KC_CHECK_OK(kc_seg_alloc(&a, 100));
	KC_CHECK_OK(kc_seg_alloc(&b, 100));
	memcpy(kc_seg_data(a), pa, 100);
	memcpy(kc_seg_data(b), pb, 100);
	memcpy(want, pa, 100);
	memcpy(want + 100, pb, 100);
	KC_CHECK_OK(kc_chain_append_seg(&c, a, 0, 100));
	KC_CHECK_OK(kc_chain_append_seg(&c, b, 0, 100));
	KC_CHECK_OK(kc_chain_append(&t, "x", 1));
	for (i = 0; i < 1000; i++) {
		size_t len = kc_chain_len(&c);

		tlen = kc_chain_len(&t);
		if ((error = kc_chain_split(&c, len - 1, &t)) != 0)
			break;
		KC_CHECK_EQ(kc_chain_len(&c), len - 1);
		KC_CHECK_EQ(kc_chain_len(&t), tlen + 1);
	}
	KC_CHECK_EQ(error, -ENOBUFS);
	KC_CHECK_GT(i, 0);	/* append_seg left at least one spare */
	KC_CHECK_EQ(kc_chain_len(&t), tlen);
	check_chain(&c, want, 200 - (size_t)i);
	KC_CHECK_EQ(kc_seg_refs(b), 2 + (unsigned)i);

	/* A cut between two views needs no spare. */
	KC_CHECK_OK(kc_chain_split(&c, 100, &t));
	check_chain(&c, want, 100);
	KC_CHECK_EQ(kc_chain_split(&c, 50, &t), -ENOBUFS);
	check_chain(&c, want, 100);
	KC_CHECK_OK(kc_chain_split(&c, 100, &t));	/* off == len */
	/* reserve, then splits that neither fail nor allocate */
	KC_CHECK_OK(kc_chain_reserve(&c, 3));
	calls = mh_calls;
	KC_CHECK_OK(kc_chain_split(&c, 90, &t));
	KC_CHECK_OK(kc_chain_split(&c, 60, &t));
	KC_CHECK_OK(kc_chain_split(&c, 30, &t));
	KC_CHECK_EQ(mh_calls, calls);
	check_chain(&c, want, 30);
	KC_CHECK_EQ(kc_chain_reserve(&c, 65537), -EINVAL);
	KC_CHECK_EQ(kc_chain_reserve(NULL, 1), -EINVAL);

	kc_chain_free(&c);
	kc_chain_free(&t);
	KC_CHECK_EQ(kc_seg_refs(a), 1);
	KC_CHECK_EQ(kc_seg_refs(b), 1);
	kc_seg_unref(a);
	kc_seg_unref(b);
	free(pa);
	free(pb);
}

/* Drain c's spares by splitting off its first byte, one at a time. */
static void
drain_spares(struct kc_chain *c)
{
	struct kc_chain t = KC_CHAIN_INITIALIZER, keep = KC_CHAIN_INITIALIZER;
	int i;

	/* The first byte at a time: c's first view must be long enough. */
	for (i = 0; i < 100; i++) {
		KC_CHECK_GE(kc_chain_len(c), 2);
		if (kc_chain_split(c, 1, &t) != 0)
			break;
		kc_chain_concat(&keep, c);	/* one byte, its own view */
		kc_chain_concat(c, &t);
	}
	KC_CHECK_LT(i, 100);
	/* Not put back: joining views would give c a spare again. */
	kc_chain_free(&t);
	kc_chain_free(&keep);
}

/* After every allocating call a split inside a view succeeds at once. */
static void
test_split_after_alloc(void)
{
	struct kc_chain c = KC_CHAIN_INITIALIZER, d = KC_CHAIN_INITIALIZER;
	struct kc_chain t = KC_CHAIN_INITIALIZER;
	struct kc_seg *s;
	struct iovec iov;
	unsigned char *p = pattern(4 * SEG, 21);
	unsigned step;
	long calls;

	KC_CHECK_OK(kc_seg_alloc(&s, 1000));
	memset(kc_seg_data(s), 's', 1000);
	KC_CHECK_OK(kc_chain_append(&d, p, 3 * SEG));
	for (step = 0; step < 7; step++) {
		KC_CHECK_OK(kc_chain_append(&c, p, 3000));
		drain_spares(&c);
		KC_CHECK_EQ(kc_chain_split(&c, 1, &t), -ENOBUFS);
		switch (step) {
		case 0:
			KC_CHECK_OK(kc_chain_append(&c, p, 10));
			break;
		case 1:
			KC_CHECK_OK(kc_chain_append(&c, p, 2 * SEG));
			break;
		case 2:
			KC_CHECK_OK(kc_chain_prepend(&c, p, 10));
			break;
		case 3:
			KC_CHECK_OK(kc_chain_append_seg(&c, s, 5, 10));
			break;
		case 4:
			KC_CHECK_OK(kc_chain_share(&c, &d, 5, SEG));
			break;
		case 5:
			KC_CHECK_OK(kc_chain_reserve(&c, 0));
			break;
		case 6:
			KC_CHECK_OK(kc_chain_room(&c, 0, &iov));
			break;
		}
		calls = mh_calls;
		KC_CHECK_OK(kc_chain_split(&c, 1, &t));
		KC_CHECK_EQ(mh_calls, calls);
		kc_chain_free(&c);
		kc_chain_free(&t);
	}
	kc_chain_free(&d);
	kc_seg_unref(s);
	free(p);
}

static void
test_share_refs(void)
{
	struct kc_chain c = KC_CHAIN_INITIALIZER, d = KC_CHAIN_INITIALIZER;
	struct kc_chain e = KC_CHAIN_INITIALIZER;
	struct kc_seg *s;
	unsigned char *p = pattern(1000, 31);

	KC_CHECK_OK(kc_seg_alloc(&s, 1000));
	memcpy(kc_seg_data(s), p, 1000);
	KC_CHECK_OK(kc_chain_append_seg(&c, s, 0, 1000));
	KC_CHECK_EQ(kc_seg_refs(s), 2);
	KC_CHECK_OK(kc_chain_share(&d, &c, 100, 200));
	KC_CHECK_EQ(kc_seg_refs(s), 3);
	check_chain(&d, p + 100, 200);
	check_chain(&c, p, 1000);		/* src unchanged */
	KC_CHECK_OK(kc_chain_share(&e, &d, 50, 100));
	KC_CHECK_EQ(kc_seg_refs(s), 4);
	check_chain(&e, p + 150, 100);
	KC_CHECK_OK(kc_chain_share(&e, &c, 0, 0));	/* nothing */
	KC_CHECK_OK(kc_chain_share(&e, &c, 1000, 0));
	KC_CHECK_EQ(kc_seg_refs(s), 4);
	KC_CHECK_EQ(kc_chain_share(&e, &c, 1001, 0), -EINVAL);
	KC_CHECK_EQ(kc_chain_share(&e, &c, 999, 2), -EINVAL);
	KC_CHECK_EQ(kc_chain_share(&e, &c, 0, (size_t)-1), -EINVAL);
	KC_CHECK_EQ(kc_chain_share(&c, &c, 0, 1), -EINVAL);
	KC_CHECK_EQ(kc_chain_share(NULL, &c, 0, 1), -EINVAL);
	KC_CHECK_EQ(kc_chain_share(&e, NULL, 0, 1), -EINVAL);
	check_chain(&e, p + 150, 100);
	kc_chain_free(&d);
	KC_CHECK_EQ(kc_seg_refs(s), 3);
	kc_chain_free(&c);
	KC_CHECK_EQ(kc_seg_refs(s), 2);
	/* The bytes outlive the chains they came from. */
	check_chain(&e, p + 150, 100);
	kc_chain_free(&e);
	KC_CHECK_EQ(kc_seg_refs(s), 1);

	/* append_seg ranges */
	KC_CHECK_EQ(kc_chain_append_seg(&c, s, 0, 0), -EINVAL);
	KC_CHECK_EQ(kc_chain_append_seg(&c, s, 1000, 1), -EINVAL);
	KC_CHECK_EQ(kc_chain_append_seg(&c, s, 1001, 0), -EINVAL);
	KC_CHECK_EQ(kc_chain_append_seg(&c, s, 999, 2), -EINVAL);
	KC_CHECK_EQ(kc_chain_append_seg(&c, s, 1, (size_t)-1), -EINVAL);
	KC_CHECK_EQ(kc_chain_append_seg(&c, NULL, 0, 1), -EINVAL);
	KC_CHECK_EQ(kc_chain_append_seg(NULL, s, 0, 1), -EINVAL);
	KC_CHECK_EQ(kc_seg_refs(s), 1);
	KC_CHECK_OK(kc_chain_append_seg(&c, s, 999, 1));
	check_chain(&c, p + 999, 1);
	/* Appends never write into a user segment, even one c holds alone. */
	kc_seg_unref(s);
	KC_CHECK_OK(kc_chain_append(&c, "abc", 3));
	KC_CHECK_EQ(nviews(&c), 2);
	kc_chain_free(&c);
	free(p);
}

static void
test_wrap_release(void)
{
	struct kc_chain c = KC_CHAIN_INITIALIZER, d = KC_CHAIN_INITIALIZER;
	struct kc_seg *w;
	struct rel r = { 0, NULL, 0 };
	unsigned char *data = pattern(500, 41);
	unsigned char *copy = malloc(500);

	memcpy(copy, data, 500);
	KC_CHECK_OK(kc_seg_wrap(&w, data, 500, count_release, &r));
	KC_CHECK_OK(kc_chain_append_seg(&c, w, 0, 500));
	KC_CHECK_OK(kc_chain_share(&d, &c, 200, 300));
	kc_seg_unref(w);		/* the chains hold it now */
	KC_CHECK_EQ(r.calls, 0);
	KC_CHECK_OK(kc_chain_append(&c, "more", 4));	/* not into w */
	KC_CHECK(memcmp(data, copy, 500) == 0);
	kc_chain_free(&c);
	KC_CHECK_EQ(r.calls, 0);
	check_chain(&d, copy + 200, 300);
	kc_chain_drop(&d, 300);
	KC_CHECK_EQ(r.calls, 1);
	KC_CHECK_PTR_EQ(r.data, data);
	KC_CHECK_EQ(r.size, 500);
	kc_chain_free(&d);
	KC_CHECK_EQ(r.calls, 1);
	free(copy);
}

static void
test_drop_iov(void)
{
	struct multi m;
	struct kc_chain c = KC_CHAIN_INITIALIZER;
	struct iovec iov[4];
	size_t bytes, off;
	int n;

	multi_build(&m, 2 * SEG);
	for (off = 0; off <= m.m_len + 1; off += off < 300 ? 1 : 997) {
		KC_CHECK_OK(kc_chain_share(&c, &m.m_chain, 0, m.m_len));
		KC_CHECK_EQ(kc_chain_drop(&c, off),
		    off < m.m_len ? off : m.m_len);
		if (off < m.m_len)
			check_chain(&c, m.m_want + off, m.m_len - off);
		else
			KC_CHECK_EQ(kc_chain_len(&c), 0);
		kc_chain_free(&c);
	}
	KC_CHECK_EQ(kc_chain_drop(NULL, 5), 0);

	bytes = 12345;
	KC_CHECK_EQ(kc_chain_iov(&m.m_chain, iov, 0, &bytes), 0);
	KC_CHECK_EQ(bytes, 0);
	KC_CHECK_EQ(kc_chain_iov(&m.m_chain, NULL, 0, NULL), 0);
	n = kc_chain_iov(&m.m_chain, iov, 1, &bytes);
	KC_CHECK_EQ(n, 1);
	KC_CHECK_EQ(bytes, iov[0].iov_len);
	KC_CHECK(memcmp(iov[0].iov_base, m.m_want, bytes) == 0);
	n = kc_chain_iov(&m.m_chain, iov, 4, &bytes);
	KC_CHECK_EQ(n, 4);
	KC_CHECK_LT(bytes, m.m_len);
	KC_CHECK_EQ(kc_chain_iov(&c, iov, 4, &bytes), 0);	/* empty */
	KC_CHECK_EQ(bytes, 0);
	KC_CHECK_EQ(kc_chain_iov(NULL, iov, 4, &bytes), -EINVAL);
	KC_CHECK_EQ(kc_chain_iov(&c, NULL, 4, &bytes), -EINVAL);
	KC_CHECK_EQ(kc_chain_iov(&c, iov, -1, &bytes), -EINVAL);

	/* Drop then append: the tail is still filled in place. */
	KC_CHECK_OK(kc_chain_append(&c, "0123456789", 10));
	kc_chain_drop(&c, 4);
	KC_CHECK_OK(kc_chain_append(&c, "ab", 2));
	check_chain(&c, "456789ab", 8);
	KC_CHECK_EQ(nviews(&c), 1);
	kc_chain_free(&c);
	multi_free(&m);
}

static void
test_room(void)
{
	struct kc_chain c = KC_CHAIN_INITIALIZER, t = KC_CHAIN_INITIALIZER;
	struct iovec iov, iov2;
	unsigned char *big;

	KC_CHECK_EQ(kc_chain_commit(&c, 0), -EINVAL);	/* no room */
	KC_CHECK_EQ(kc_chain_commit(&c, 1), -EINVAL);
	KC_CHECK_OK(kc_chain_room(&c, 0, &iov));
	KC_CHECK_GE(iov.iov_len, SEG);
	KC_CHECK_EQ(kc_chain_len(&c), 0);
	memcpy(iov.iov_base, "hello", 5);
	KC_CHECK_EQ(kc_chain_commit(&c, iov.iov_len + 1), -EINVAL);
	KC_CHECK_OK(kc_chain_commit(&c, 0));		/* keeps the room */
	KC_CHECK_OK(kc_chain_commit(&c, 5));
	KC_CHECK_EQ(kc_chain_commit(&c, 1), -EINVAL);	/* used up */
	check_chain(&c, "hello", 5);

	/* The next room is the tail's free end. */
	KC_CHECK_EQ(kc_chain_iov(&c, &iov2, 1, NULL), 1);
	KC_CHECK_OK(kc_chain_room(&c, 3, &iov));
	KC_CHECK_PTR_EQ(iov.iov_base, (char *)iov2.iov_base + 5);
	KC_CHECK_OK(kc_chain_room(&c, 1, &iov2));	/* the same room */
	KC_CHECK_PTR_EQ(iov2.iov_base, iov.iov_base);
	KC_CHECK_EQ(iov2.iov_len, iov.iov_len);
	memcpy(iov.iov_base, " you", 4);
	/* An append while the room is held does not write into it. */
	KC_CHECK_OK(kc_chain_append(&c, "!", 1));
	check_chain(&c, "hello!", 6);
	KC_CHECK(memcmp(iov.iov_base, " you", 4) == 0);
	/* Nor does a chain that took the tail. */
	KC_CHECK_OK(kc_chain_reserve(&c, 1));
	KC_CHECK_OK(kc_chain_split(&c, 3, &t));
	KC_CHECK_OK(kc_chain_append(&t, "XYZ", 3));
	check_chain(&t, "lo!XYZ", 6);
	KC_CHECK(memcmp(iov.iov_base, " you", 4) == 0);
	KC_CHECK_OK(kc_chain_commit(&c, 4));
	check_chain(&c, "hel you", 7);
	check_chain(&t, "lo!XYZ", 6);
	kc_chain_free(&t);

	/* Contiguous commits stay one view. */
	kc_chain_free(&c);
	KC_CHECK_OK(kc_chain_room(&c, 0, &iov));
	memcpy(iov.iov_base, "abc", 3);
	KC_CHECK_OK(kc_chain_commit(&c, 3));
	KC_CHECK_OK(kc_chain_room(&c, 0, &iov2));
	KC_CHECK_PTR_EQ(iov2.iov_base, (char *)iov.iov_base + 3);
	memcpy(iov2.iov_base, "def", 3);
	KC_CHECK_OK(kc_chain_commit(&c, 3));
	KC_CHECK_OK(kc_chain_append(&c, "g", 1));	/* appends fill on */
	check_chain(&c, "abcdefg", 7);
	KC_CHECK_EQ(nviews(&c), 1);

	/* A room larger than a default segment; a bigger second ask. */
	KC_CHECK_OK(kc_chain_room(&c, 10, &iov));
	KC_CHECK_OK(kc_chain_room(&c, 3 * SEG + 1, &iov));
	KC_CHECK_GE(iov.iov_len, 3 * SEG + 1);
	big = pattern(3 * SEG + 1, 51);
	memcpy(iov.iov_base, big, 3 * SEG + 1);
	KC_CHECK_OK(kc_chain_commit(&c, 3 * SEG + 1));
	KC_CHECK_EQ(kc_chain_len(&c), 3 * SEG + 8);
	KC_CHECK_EQ(kc_chain_copyout(&c, 7, big, 3 * SEG + 1), 3 * SEG + 1);
	free(big);

	KC_CHECK_EQ(kc_chain_room(&c, ((size_t)1 << 30) + 1, &iov), -EINVAL);
	KC_CHECK_EQ(kc_chain_room(&c, 0, NULL), -EINVAL);
	KC_CHECK_EQ(kc_chain_room(NULL, 0, &iov), -EINVAL);
	KC_CHECK_EQ(kc_chain_commit(NULL, 0), -EINVAL);
	/* A room left uncommitted is freed with the chain. */
	KC_CHECK_OK(kc_chain_room(&c, 0, &iov));
	kc_chain_free(&c);
	KC_CHECK_EQ(kc_chain_commit(&c, 0), -EINVAL);
	KC_CHECK_OK(kc_chain_room(&c, 100000, &iov));
	kc_chain_free(&c);
}

static int sigpipes;

static void
on_sigpipe(int sig)
{
	(void)sig;
	sigpipes++;
}

static void
nonblock(int fd)
{
	KC_CHECK(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0);
}

/* Move len bytes from a chain through fds[1], and from fds[0] into another. */
static void
transfer(int fds[2], size_t len, unsigned seed)
{
	struct kc_chain c = KC_CHAIN_INITIALIZER, d = KC_CHAIN_INITIALIZER;
	unsigned char *p = pattern(len, seed);
	ssize_t n;
	int spins = 0;

	KC_CHECK_OK(kc_chain_append(&c, p, len));
	while (kc_chain_len(&d) < len) {
		if (kc_chain_len(&c) > 0) {
			errno = EDOM;
			n = kc_chain_write(&c, fds[1]);
			KC_CHECK_EQ(errno, EDOM);
			KC_CHECK(n > 0 || n == -EAGAIN);
		}
		errno = EDOM;
		n = kc_chain_read(&d, fds[0], 3 * SEG);
		KC_CHECK_EQ(errno, EDOM);
		KC_CHECK(n > 0 || n == -EAGAIN);
		KC_CHECK_LT(spins++, 1000000);
	}
	KC_CHECK_EQ(kc_chain_len(&c), 0);
	check_chain(&d, p, len);
	KC_CHECK_EQ(kc_chain_read(&d, fds[0], 100), -EAGAIN);
	KC_CHECK_EQ(kc_chain_write(&c, fds[1]), 0);	/* nothing to write */
	kc_chain_free(&c);
	kc_chain_free(&d);
	free(p);
}

static void
test_read_write(void)
{
	struct kc_chain c = KC_CHAIN_INITIALIZER;
	struct sigaction sa, old;
	int fds[2], i;
	ssize_t n;

	KC_CHECK(pipe(fds) == 0);
	nonblock(fds[0]);
	nonblock(fds[1]);
	transfer(fds, 300000, 61);
	/* max caps a read */
	KC_CHECK_OK(kc_chain_append(&c, "0123456789", 10));
	KC_CHECK_EQ(kc_chain_write(&c, fds[1]), 10);
	KC_CHECK_EQ(kc_chain_read(&c, fds[0], 4), 4);
	KC_CHECK_EQ(kc_chain_read(&c, fds[0], 100), 6);
	check_chain(&c, "0123456789", 10);
	KC_CHECK_EQ(kc_chain_read(&c, fds[0], 0), -EINVAL);
	KC_CHECK_EQ(kc_chain_read(NULL, fds[0], 10), -EINVAL);
	KC_CHECK_EQ(kc_chain_write(NULL, fds[1]), -EINVAL);
	/* end of file */
	close(fds[1]);
	KC_CHECK_EQ(kc_chain_read(&c, fds[0], 10), 0);
	close(fds[0]);
	KC_CHECK_EQ(kc_chain_read(&c, -1, 10), -EBADF);
	KC_CHECK_EQ(kc_chain_write(&c, -1), -EBADF);
	check_chain(&c, "0123456789", 10);

	KC_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
	nonblock(fds[0]);
	nonblock(fds[1]);
	transfer(fds, 1000000, 62);
	for (i = 0; i < 2; i++) {
		int t = fds[0];

		fds[0] = fds[1];
		fds[1] = t;
		transfer(fds, 5 * SEG + 3, 63 + (unsigned)i);
	}
	/* A peer that is gone: -EPIPE, and no SIGPIPE. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigpipe;
	sigemptyset(&sa.sa_mask);
	KC_CHECK(sigaction(SIGPIPE, &sa, &old) == 0);
	close(fds[0]);
	errno = EDOM;
	n = kc_chain_write(&c, fds[1]);
	KC_CHECK_EQ(errno, EDOM);
	KC_CHECK(n == -EPIPE || n == -ECONNRESET);
	KC_CHECK_EQ(sigpipes, 0);
	check_chain(&c, "0123456789", 10);	/* nothing dropped */
	close(fds[1]);
	KC_CHECK(sigaction(SIGPIPE, &old, NULL) == 0);
	kc_chain_free(&c);
}

/* Every function with bad arguments: the documented value, no crash. */
static void
test_badargs(void)
{
	struct kc_chain c = KC_CHAIN_INITIALIZER;
	struct iovec iov;
	char b[4];

	errno = EDOM;
	kc_chain_init(NULL);
	kc_chain_free(NULL);
	KC_CHECK_EQ(kc_chain_len(NULL), 0);
	KC_CHECK_EQ(kc_chain_append(NULL, "a", 1), -EINVAL);
	KC_CHECK_EQ(kc_chain_append(&c, NULL, 1), -EINVAL);
	KC_CHECK_OK(kc_chain_append(&c, NULL, 0));
	KC_CHECK_EQ(kc_chain_prepend(NULL, "a", 1), -EINVAL);
	KC_CHECK_EQ(kc_chain_prepend(&c, NULL, 1), -EINVAL);
	KC_CHECK_OK(kc_chain_prepend(&c, NULL, 0));
	kc_chain_concat(NULL, &c);
	kc_chain_concat(&c, NULL);
	kc_chain_concat(&c, &c);
	kc_chain_prepend_chain(NULL, &c);
	kc_chain_prepend_chain(&c, NULL);
	KC_CHECK_OK(kc_chain_append(&c, "ab", 2));
	kc_chain_prepend_chain(&c, &c);
	kc_chain_concat(&c, &c);
	check_chain(&c, "ab", 2);
	KC_CHECK_EQ(kc_chain_copyout(NULL, 0, b, 1), 0);
	KC_CHECK_EQ(kc_chain_copyout(&c, 0, NULL, 1), 0);
	KC_CHECK_EQ(kc_chain_copyout(&c, 0, b, 0), 0);
	KC_CHECK_EQ(kc_chain_copyout(&c, 1, b, 4), 1);
	KC_CHECK_EQ(b[0], 'b');
	KC_CHECK_EQ(kc_chain_commit(&c, 0), -EINVAL);
	KC_CHECK_EQ(kc_chain_room(&c, 0, NULL), -EINVAL);
	KC_CHECK_EQ(kc_chain_iov(&c, NULL, 1, NULL), -EINVAL);
	KC_CHECK_EQ(kc_chain_split(&c, 3, &c), -EINVAL);
	KC_CHECK_EQ(kc_chain_reserve(NULL, 0), -EINVAL);
	KC_CHECK_OK(kc_chain_room(&c, 0, &iov));
	KC_CHECK_EQ(errno, EDOM);
	kc_chain_free(&c);
	kc_chain_free(&c);	/* twice is fine: it is empty */
	KC_CHECK_EQ(errno, EDOM);
}

/*
 * With malloc failing after k calls, for k = 0, 1, ...: either the call
 * succeeds or it returns -ENOMEM and the chain is as it was.  Run on a new
 * thread, whose caches start empty.
 */
#define OP_APPEND	0
#define OP_PREPEND	1
#define OP_SHARE	2
#define OP_APPEND_SEG	3
#define OP_ROOM		4
#define OP_RESERVE	5
#define OP_SEGS		6
#define OP_N		7

static void *
enomem_main(void *arg)
{
	int op = (int)(intptr_t)arg;
	struct kc_chain c = KC_CHAIN_INITIALIZER, src = KC_CHAIN_INITIALIZER;
	unsigned char *p = pattern(4 * SEG, 71), *want = malloc(8 * SEG);
	struct kc_seg *s = NULL;
	struct iovec iov;
	long k;
	int error = 0, failures = 0;

	for (k = 0; k < 100; k++) {
		mh_fail = -1;
		kc_chain_free(&c);
		kc_chain_free(&src);
		KC_CHECK_OK(kc_chain_append(&src, p, 3 * SEG + 5));
		KC_CHECK_OK(kc_chain_append(&c, p, 100));
		memcpy(want, p, 100);
		errno = EDOM;
		mh_fail = k;
		switch (op) {
		case OP_APPEND:
			error = kc_chain_append(&c, p, 3 * SEG);
			break;
		case OP_PREPEND:
			error = kc_chain_prepend(&c, p, 3 * SEG);
			break;
		case OP_SHARE:
			error = kc_chain_share(&c, &src, 1, 3 * SEG);
			break;
		case OP_APPEND_SEG:
			if ((error = kc_seg_alloc(&s, 10)) == 0) {
				error = kc_chain_append_seg(&c, s, 0, 10);
				kc_seg_unref(s);
			}
			break;
		case OP_ROOM:
			error = kc_chain_room(&c, 2 * SEG, &iov);
			break;
		case OP_RESERVE:
			error = kc_chain_reserve(&c, 20);
			break;
		case OP_SEGS:
			error = kc_seg_wrap(&s, p, 10, NULL, NULL);
			if (error == 0)
				kc_seg_unref(s);
			break;
		}
		mh_fail = -1;
		KC_CHECK_EQ(errno, EDOM);
		if (error == 0)
			break;
		KC_CHECK_EQ(error, -ENOMEM);
		failures++;
		check_chain(&c, want, 100);
		KC_CHECK_EQ(kc_chain_len(&src), 3 * SEG + 5);
	}
	KC_CHECK_EQ(error, 0);
	KC_CHECK_GT(failures, 0);
	kc_chain_free(&c);
	kc_chain_free(&src);
	free(p);
	free(want);
	return NULL;
}

static void
test_enomem(void)
{
	int op;

	if (!HOOK) {
		printf("unit-chain: -ENOMEM checks skipped (sanitizer owns "
		    "malloc)\n");
		return;
	}
	for (op = 0; op < OP_N; op++)
		kct_thread_join(kct_thread_start(enomem_main,
		    (void *)(intptr_t)op));
}

/* Steady use of default segments and views does not reach malloc. */
static void
test_steady(void)
{
	struct kc_chain c = KC_CHAIN_INITIALIZER, t = KC_CHAIN_INITIALIZER;
	unsigned char *p = pattern(3 * SEG, 81);
	struct iovec iov;
	long calls = 0;
	int i;

	for (i = 0; i < 200; i++) {
		if (i == 100)
			calls = mh_calls;
		KC_CHECK_OK(kc_chain_append(&c, p, 3 * SEG));
		KC_CHECK_OK(kc_chain_split(&c, SEG + 5, &t));
		KC_CHECK_OK(kc_chain_room(&c, 0, &iov));
		KC_CHECK_OK(kc_chain_commit(&c, 1));
		kc_chain_drop(&c, 7);
		kc_chain_concat(&c, &t);
		kc_chain_free(&t);
		kc_chain_free(&c);
	}
	KC_CHECK_EQ(mh_calls, calls);
	free(p);
}

/*
 * Threads: each takes a share of one chain, checks it, appends to its own
 * copy and frees it, while the owner keeps appending; a wrapped segment
 * viewed by all is released once, on whichever thread is last.
 */
#define NTHREADS	4

struct worker {
	struct kc_chain	 w_chain;
	const unsigned char *w_want;
	size_t		 w_len;
};

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct kc_chain t = KC_CHAIN_INITIALIZER, u = KC_CHAIN_INITIALIZER;
	unsigned char want[2000];
	size_t half = w->w_len / 2;
	int i;

	memcpy(want, w->w_want + half, w->w_len - half);
	memcpy(want + w->w_len - half, "tail", 4);
	for (i = 0; i < 50; i++) {
		check_chain(&w->w_chain, w->w_want, w->w_len);
		KC_CHECK_OK(kc_chain_share(&t, &w->w_chain, 0, w->w_len));
		KC_CHECK_OK(kc_chain_append(&t, "tail", 4));
		KC_CHECK_OK(kc_chain_split(&t, half, &u));
		check_chain(&t, w->w_want, half);
		check_chain(&u, want, w->w_len - half + 4);
		kc_chain_free(&t);
		kc_chain_free(&u);
	}
	kc_chain_free(&w->w_chain);
	return NULL;
}

static void
test_threads(void)
{
	struct kc_chain c = KC_CHAIN_INITIALIZER;
	struct worker w[NTHREADS];
	pthread_t th[NTHREADS];
	struct kc_seg *ws;
	struct rel r = { 0, NULL, 0 };
	unsigned char *p = pattern(2 * SEG, 91), *wd = pattern(1000, 92);
	unsigned char *want = malloc(3 * SEG);
	int round, i;

	for (round = 0; round < 20; round++) {
		unsigned char *wcopy = malloc(1000);

		memcpy(wcopy, wd, 1000);
		r.calls = 0;
		KC_CHECK_OK(kc_seg_wrap(&ws, wcopy, 1000, count_release, &r));
		KC_CHECK_OK(kc_chain_append(&c, p, 100));
		KC_CHECK_OK(kc_chain_append_seg(&c, ws, 0, 1000));
		KC_CHECK_OK(kc_chain_append(&c, p + 100, 100));
		kc_seg_unref(ws);
		memcpy(want, p, 100);
		memcpy(want + 100, wd, 1000);
		memcpy(want + 1100, p + 100, 100);
		for (i = 0; i < NTHREADS; i++) {
			kc_chain_init(&w[i].w_chain);
			KC_CHECK_OK(kc_chain_share(&w[i].w_chain, &c, 0, 1200));
			w[i].w_want = want;
			w[i].w_len = 1200;
			th[i] = kct_thread_start(worker_main, &w[i]);
		}
		/* The owner appends while the workers read. */
		KC_CHECK_OK(kc_chain_append(&c, p + 200, SEG));
		if (round % 2 == 0)
			kc_chain_free(&c);
		for (i = 0; i < NTHREADS; i++)
			kct_thread_join(th[i]);
		kc_chain_free(&c);
		KC_CHECK_EQ(__atomic_load_n(&r.calls, __ATOMIC_SEQ_CST), 1);
	}
	free(p);
	free(wd);
	free(want);
}

int
main(void)
{
	kct_begin("unit-chain", 120);
	test_seg();
	test_append_prepend();
	test_split_every(0, 1);
	test_split_every(3 * SEG, 101);
	test_split_nospare();
	test_split_after_alloc();
	test_share_refs();
	test_wrap_release();
	test_drop_iov();
	test_room();
	test_read_write();
	test_badargs();
	test_enomem();
	if (HOOK)
		test_steady();
	test_threads();
	return kct_done();
}
