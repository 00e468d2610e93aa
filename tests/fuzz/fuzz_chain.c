/*
 * fuzz_chain: buffer chains (kcont/buf.h) against a model made of plain
 * byte arrays.
 *
 * The input is a sequence of operations on four chains and three segments
 * of the caller's (allocated or wrapped): append, prepend, split, concat,
 * prepend_chain, share, drop, copyout, iov, room, commit, append_seg,
 * reserve, free, new segment, a write and read through a pipe or a
 * socketpair, and bad arguments.  After each one the chains it touched
 * are compared with the model, and any difference, unexpected return value
 * or broken promise (a split after an allocating call must not fail, a
 * wrapped segment is released exactly once) aborts.  Chains stay within
 * 1 MiB.
 * KC_FUZZ_TRACE=1 in the environment prints each operation.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <kcont.h>

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NCHAIN		4
#define NSEG		3
#define CHAIN_MAX	((size_t)1 << 20)
#define SEG		KC_SEG_DEFAULT
/*
 * Bytes compared per input after each operation; past it, only each end
 * of a chain (and all of every chain at the end of the input).
 */
#define BUDGET		((size_t)1 << 18)
#define ENDS		512

#define CHECK(cond) do {						\
	if (!(cond))							\
		fz_fail(__LINE__, #cond);				\
} while (0)

enum { ROOM_NONE, ROOM_KNOWN, ROOM_MAYBE };

struct fz_room {
	int		 r_state;	/* MAYBE: a read may have left one */
	struct iovec	 r_iov;
};

struct fz_seg {
	struct kc_seg	*s_seg;
	unsigned char	*s_copy;	/* what its bytes must stay */
	size_t		 s_size;
};

/* A wrapped segment's memory and what release must be given back. */
struct fz_wrap {
	void		*w_data;
	size_t		 w_size;
};

static struct {
	const uint8_t	*in;
	size_t		 left;
	uint64_t	 rng;
	size_t		 budget;
	struct kc_chain	 c[NCHAIN];
	size_t		 len[NCHAIN];
	bool		 spare[NCHAIN];	/* a split on it must not fail */
	struct fz_room	 room[NCHAIN];
	struct fz_seg	 seg[NSEG];
	unsigned	 wraps;
	unsigned	 releases;
	int		 fds[2][2];	/* a pipe, a socketpair; -1: none */
	bool		 fds_done;
} fz;

static int trace = -1;

#define TRACE(...) do {							\
	if (trace > 0)							\
		fprintf(stderr, __VA_ARGS__);				\
} while (0)

static unsigned char model[NCHAIN][CHAIN_MAX];
static unsigned char scratch[CHAIN_MAX + 4 * SEG];	/* verify() uses it */
static unsigned char moved[CHAIN_MAX];

static void __attribute__((noreturn))
fz_fail(int line, const char *what)
{
	fprintf(stderr, "fuzz_chain.c:%d: mismatch: %s\n", line, what);
	abort();
}

static unsigned
in_u8(void)
{
	if (fz.left == 0)
		return 0;
	fz.left--;
	return *fz.in++;
}

static unsigned
in_u16(void)
{
	unsigned v = in_u8();

	return v | in_u8() << 8;
}

static uint32_t
in_u32(void)
{
	uint32_t v = in_u16();

	return v | (uint32_t)in_u16() << 16;
}

/*
 * Mostly small sizes, now and then a few segments' worth: structure, not
 * volume, is what finds bugs, and the replay must stay quick.
 */
static size_t
in_size(void)
{
	unsigned k = in_u8();

	if (k < 128)
		return k & 63;
	if (k < 252)
		return (size_t)in_u8() << 2 | (k & 3);
	return in_u16() % 40000 + (k & 1 ? SEG : 0);
}

/* An offset in [0, n + 1]: one past the end is sometimes out of range. */
static size_t
in_off(size_t n)
{
	unsigned k = in_u8();

	if (k < 16)
		return k & 1 ? n : 0;
	if (k < 24)
		return n + 1;
	return in_u32() % (n + 1);
}

static uint64_t
rnd(void)
{
	fz.rng ^= fz.rng << 13;
	fz.rng ^= fz.rng >> 7;
	fz.rng ^= fz.rng << 17;
	return fz.rng;
}

/*
 * Fresh-looking bytes: a run of a random pool from a random place.  One
 * memcpy() is much cheaper than a loop under the sanitizers, and any
 * misplaced byte still shows.
 */
static void
gen(unsigned char *p, size_t n)
{
	static unsigned char pool[2 * CHAIN_MAX];
	static bool filled;
	uint64_t x;
	size_t i;

	if (!filled) {
		for (i = 0; i < sizeof(pool); i += sizeof(x)) {
			x = rnd();
			memcpy(pool + i, &x, sizeof(x));
		}
		filled = true;
	}
	if (n > 0)
		memcpy(p, pool + rnd() % (sizeof(pool) - n + 1), n);
}

/* Bytes [off, off + n) of chain i, asking copyout for one more if n ends it. */
static void
verify_range(int i, size_t off, size_t n)
{
	size_t ask = off + n == fz.len[i] ? n + 1 : n;

	CHECK(kc_chain_copyout(&fz.c[i], off, scratch, ask) == n);
	CHECK(memcmp(scratch, model[i] + off, n) == 0);
}

static void
verify(int i)
{
	size_t n = fz.len[i];

	CHECK(kc_chain_len(&fz.c[i]) == n);
	if (fz.budget >= n || n <= 2 * ENDS) {
		fz.budget -= n < fz.budget ? n : fz.budget;
		verify_range(i, 0, n);
	} else {
		verify_range(i, 0, ENDS);
		verify_range(i, n - ENDS, ENDS);
	}
}

/* Model operations. */
static void
m_append(int i, const void *p, size_t n)
{
	memcpy(model[i] + fz.len[i], p, n);
	fz.len[i] += n;
}

static void
m_prepend(int i, const void *p, size_t n)
{
	memmove(model[i] + n, model[i], fz.len[i]);
	memcpy(model[i], p, n);
	fz.len[i] += n;
}

static void
m_drop(int i, size_t n)
{
	memmove(model[i], model[i] + n, fz.len[i] - n);
	fz.len[i] -= n;
}

static size_t
room_left(int i)
{
	return CHAIN_MAX - fz.len[i];
}

static void
fz_release(void *arg, void *data, size_t size)
{
	struct fz_wrap *w = arg;

	CHECK(data == w->w_data && size == w->w_size);
	fz.releases++;
	free(data);
	free(w);
}

static void
seg_drop(int k)
{
	struct fz_seg *s = &fz.seg[k];

	if (s->s_seg == NULL)
		return;
	CHECK(kc_seg_refs(s->s_seg) >= 1);
	kc_seg_unref(s->s_seg);
	free(s->s_copy);
	memset(s, 0, sizeof(*s));
}

static void
op_newseg(void)
{
	int k = (int)(in_u8() % NSEG);
	unsigned kind = in_u8();
	struct fz_seg *s = &fz.seg[k];
	struct fz_wrap *w;
	size_t size;
	void *data;

	seg_drop(k);
	size = (kind & 6) == 6 ? SEG : 1 + in_size() % 40000;
	if ((s->s_copy = malloc(size)) == NULL)
		return;
	gen(s->s_copy, size);
	s->s_size = size;
	if (kind & 1) {
		data = malloc(size);
		w = malloc(sizeof(*w));
		CHECK(data != NULL && w != NULL);
		memcpy(data, s->s_copy, size);
		w->w_data = data;
		w->w_size = size;
		CHECK(kc_seg_wrap(&s->s_seg, data, size, fz_release, w) == 0);
		fz.wraps++;
	} else {
		CHECK(kc_seg_alloc(&s->s_seg, size) == 0);
		CHECK(kc_seg_size(s->s_seg) == size);
		memcpy(kc_seg_data(s->s_seg), s->s_copy, size);
	}
	CHECK(kc_seg_refs(s->s_seg) == 1);
	kc_seg_ref(s->s_seg);
	CHECK(kc_seg_refs(s->s_seg) == 2);
	kc_seg_unref(s->s_seg);
}

/* Arguments every function must refuse, on a chain that must not change. */
static void
op_bad(int i)
{
	struct kc_chain *c = &fz.c[i];
	struct iovec iov;

	CHECK(kc_chain_append(NULL, scratch, 1) == -EINVAL);
	CHECK(kc_chain_append(c, NULL, 1) == -EINVAL);
	CHECK(kc_chain_prepend(c, NULL, 1) == -EINVAL);
	CHECK(kc_chain_append_seg(c, NULL, 0, 1) == -EINVAL);
	CHECK(kc_chain_share(c, NULL, 0, 0) == -EINVAL);
	CHECK(kc_chain_split(c, 0, NULL) == -EINVAL);
	CHECK(kc_chain_reserve(NULL, 1) == -EINVAL);
	CHECK(kc_chain_iov(c, NULL, 1, NULL) == -EINVAL);
	CHECK(kc_chain_iov(c, &iov, -1, NULL) == -EINVAL);
	CHECK(kc_chain_room(c, 0, NULL) == -EINVAL);
	CHECK(kc_chain_commit(NULL, 0) == -EINVAL);
	CHECK(kc_chain_read(c, -1, 0) == -EINVAL);
	CHECK(kc_chain_write(NULL, -1) == -EINVAL);
	CHECK(kc_chain_copyout(c, 0, NULL, 1) == 0);
	CHECK(kc_chain_drop(NULL, 1) == 0);
	kc_chain_concat(c, NULL);
	kc_chain_concat(c, c);
	kc_chain_prepend_chain(NULL, c);
	kc_chain_prepend_chain(c, c);
	verify(i);
}

static void
op_append(int i, bool front)
{
	size_t n = in_size();

	if (n > room_left(i))
		n = room_left(i);
	gen(scratch, n);
	if (front) {
		CHECK(kc_chain_prepend(&fz.c[i], scratch, n) == 0);
		m_prepend(i, scratch, n);
	} else {
		CHECK(kc_chain_append(&fz.c[i], scratch, n) == 0);
		m_append(i, scratch, n);
	}
	fz.spare[i] = true;
	verify(i);
}

static void
op_split(int i, int j)
{
	size_t off = in_off(fz.len[i]);
	int error;

	if (off <= fz.len[i] && fz.len[i] - off > room_left(j) && i != j)
		off = fz.len[i] - room_left(j);
	error = kc_chain_split(&fz.c[i], off, &fz.c[j]);
	if (i == j || off > fz.len[i])
		CHECK(error == -EINVAL);
	else if (error == -ENOBUFS)
		CHECK(!fz.spare[i]);
	else {
		CHECK(error == 0);
		m_append(j, model[i] + off, fz.len[i] - off);
		fz.len[i] = off;
	}
	fz.spare[i] = false;
	verify(i);
	verify(j);
}

static void
op_concat(int i, int j, bool front)
{
	if (i != j && fz.len[j] > room_left(i))
		return;
	if (front)
		kc_chain_prepend_chain(&fz.c[i], &fz.c[j]);
	else
		kc_chain_concat(&fz.c[i], &fz.c[j]);
	if (i != j) {
		if (front)
			m_prepend(i, model[j], fz.len[j]);
		else
			m_append(i, model[j], fz.len[j]);
		fz.len[j] = 0;
	}
	verify(i);
	verify(j);
}

static void
op_share(int i, int j)
{
	size_t off = in_off(fz.len[j]), len;
	int error;

	len = off <= fz.len[j] ? in_off(fz.len[j] - off) : in_size();
	if (i != j && off <= fz.len[j] && len <= fz.len[j] - off &&
	    len > room_left(i))
		len = room_left(i);
	error = kc_chain_share(&fz.c[i], &fz.c[j], off, len);
	if (i == j || off > fz.len[j] || len > fz.len[j] - off)
		CHECK(error == -EINVAL);
	else {
		CHECK(error == 0);
		m_append(i, model[j] + off, len);
		fz.spare[i] = true;
	}
	verify(i);
	verify(j);
}

static void
op_drop(int i)
{
	size_t n = in_u8() & 1 ? in_size() : in_off(fz.len[i]);
	size_t want = n < fz.len[i] ? n : fz.len[i];

	CHECK(kc_chain_drop(&fz.c[i], n) == want);
	m_drop(i, want);
	verify(i);
}

static void
op_copyout(int i)
{
	size_t off = in_off(fz.len[i]), n = in_size(), want;

	want = off >= fz.len[i] ? 0 : fz.len[i] - off;
	if (want > n)
		want = n;
	CHECK(kc_chain_copyout(&fz.c[i], off, scratch, n) == want);
	if (want > 0)
		CHECK(memcmp(scratch, model[i] + off, want) == 0);
}

static void
op_iov(int i)
{
	struct iovec iov[16];
	int max = (int)(in_u8() % 17), n, k;
	size_t bytes = 1, pos = 0;

	n = kc_chain_iov(&fz.c[i], iov, max, &bytes);
	CHECK(n >= 0 && n <= max);
	for (k = 0; k < n; k++) {
		CHECK(iov[k].iov_len > 0 && pos + iov[k].iov_len <= fz.len[i]);
		CHECK(memcmp(iov[k].iov_base, model[i] + pos,
		    iov[k].iov_len) == 0);
		pos += iov[k].iov_len;
	}
	CHECK(pos == bytes);
	if (n < max)
		CHECK(bytes == fz.len[i]);
}

static void
op_room(int i)
{
	struct fz_room *r = &fz.room[i];
	size_t min = in_u8() == 255 ? ((size_t)1 << 30) + 1 : in_size();
	struct iovec iov;
	int error;

	error = kc_chain_room(&fz.c[i], min, &iov);
	if (min > (size_t)1 << 30) {
		CHECK(error == -EINVAL);
		return;
	}
	CHECK(error == 0);
	CHECK(iov.iov_base != NULL && iov.iov_len >= (min > 0 ? min : 1));
	/* Scribble over (the start of) the room: no chain may view it. */
	memset(iov.iov_base, 0xa5, iov.iov_len < 4096 ? iov.iov_len : 4096);
	r->r_state = ROOM_KNOWN;
	r->r_iov = iov;
	fz.spare[i] = true;
	verify(i);
}

static void
op_commit(int i)
{
	struct fz_room *r = &fz.room[i];
	size_t n = in_size();

	if (r->r_state == ROOM_NONE) {
		CHECK(kc_chain_commit(&fz.c[i], n) == -EINVAL);
		return;
	}
	if (r->r_state == ROOM_MAYBE) {
		CHECK(kc_chain_room(&fz.c[i], 0, &r->r_iov) == 0);
		r->r_state = ROOM_KNOWN;
	}
	if (in_u8() < 8)
		n = r->r_iov.iov_len + 1;
	else if (n > r->r_iov.iov_len)
		n = r->r_iov.iov_len;
	if (n > r->r_iov.iov_len) {
		CHECK(kc_chain_commit(&fz.c[i], n) == -EINVAL);
		return;
	}
	if (n > room_left(i))
		n = room_left(i);
	gen(r->r_iov.iov_base, n);
	CHECK(kc_chain_commit(&fz.c[i], n) == 0);
	m_append(i, r->r_iov.iov_base, n);
	if (n > 0)
		r->r_state = ROOM_NONE;
	verify(i);
}

static void
op_append_seg(int i)
{
	struct fz_seg *s = &fz.seg[in_u8() % NSEG];
	size_t off = in_off(s->s_size), len;
	int error;

	len = off <= s->s_size ? in_off(s->s_size - off) : 1;
	if (off <= s->s_size && len <= s->s_size - off && len > room_left(i))
		len = room_left(i);
	error = kc_chain_append_seg(&fz.c[i], s->s_seg, off, len);
	if (s->s_seg == NULL || len == 0 || off > s->s_size ||
	    len > s->s_size - off)
		CHECK(error == -EINVAL);
	else {
		CHECK(error == 0);
		m_append(i, s->s_copy + off, len);
		fz.spare[i] = true;
	}
	verify(i);
}

static void
op_reserve(int i)
{
	unsigned k = in_u8(), n = k == 255 ? 65537 : k % 12;
	int error;

	error = kc_chain_reserve(&fz.c[i], n);
	if (n > 65536)
		CHECK(error == -EINVAL);
	else {
		CHECK(error == 0);
		fz.spare[i] = true;
	}
}

static void
op_free(int i)
{
	kc_chain_free(&fz.c[i]);
	fz.len[i] = 0;
	fz.spare[i] = false;
	fz.room[i].r_state = ROOM_NONE;
	verify(i);
}

static void
fds_setup(void)
{
	int k;

	fz.fds_done = true;
	for (k = 0; k < 2; k++)
		fz.fds[k][0] = fz.fds[k][1] = -1;
	if (pipe2(fz.fds[0], O_NONBLOCK | O_CLOEXEC) != 0)
		fz.fds[0][0] = fz.fds[0][1] = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    fz.fds[1]) != 0)
		fz.fds[1][0] = fz.fds[1][1] = -1;
}

/* Write the front of chain i, and read it all back into chain j. */
static void
op_transfer(int i, int j)
{
	int *fds = fz.fds[in_u8() & 1];
	size_t max = 1 + in_size(), got = 0;
	ssize_t w, r;
	int saved;

	if (!fz.fds_done)
		fds_setup();
	if (fds[0] < 0 || (i != j && fz.len[i] > room_left(j)))
		return;
	w = kc_chain_write(&fz.c[i], fds[1]);
	if (fz.len[i] == 0)
		CHECK(w == 0);
	else
		CHECK(w > 0 && (size_t)w <= fz.len[i]);
	if (w <= 0)
		return;
	memcpy(moved, model[i], (size_t)w);
	m_drop(i, (size_t)w);
	verify(i);
	/* The first read as asked, the rest as large as the room. */
	while (got < (size_t)w) {
		r = kc_chain_read(&fz.c[j], fds[0], max);
		CHECK(r > 0 && (size_t)r <= max);
		m_append(j, moved + got, (size_t)r);
		got += (size_t)r;
		max = CHAIN_MAX;
	}
	saved = errno = 0;
	CHECK(kc_chain_read(&fz.c[j], fds[0], max) == -EAGAIN);
	CHECK(errno == saved);
	/* The reads committed any room j held, and left a new one. */
	fz.room[j].r_state = ROOM_MAYBE;
	fz.spare[j] = true;
	verify(j);
}

static void
reset(void)
{
	int i;

	for (i = 0; i < NCHAIN; i++) {
		kc_chain_free(&fz.c[i]);
		fz.len[i] = 0;
		fz.spare[i] = false;
		fz.room[i].r_state = ROOM_NONE;
	}
	for (i = 0; i < NSEG; i++) {
		if (fz.seg[i].s_seg != NULL)
			CHECK(kc_seg_refs(fz.seg[i].s_seg) == 1);
		seg_drop(i);
	}
	CHECK(fz.releases == fz.wraps);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int i, j;

	fz.in = data;
	fz.left = size;
	fz.rng = 0x2545f4914f6cdd1dull;
	fz.budget = BUDGET;
	fz.wraps = fz.releases = 0;
	if (trace < 0)
		trace = getenv("KC_FUZZ_TRACE") != NULL;
	for (i = 0; i < NCHAIN; i++)
		kc_chain_init(&fz.c[i]);
	while (fz.left > 0) {
		unsigned op = in_u8();

		i = (int)(in_u8() % NCHAIN);
		j = (int)((op >> 4) % NCHAIN);
		TRACE("op %u i %d j %d, lengths %zu %zu %zu %zu\n", op % 18, i,
		    j, fz.len[0], fz.len[1], fz.len[2], fz.len[3]);
		switch (op % 18) {
		case 0:
			op_append(i, false);
			break;
		case 1:
			op_append(i, true);
			break;
		case 2:
			op_split(i, j);
			break;
		case 3:
			op_concat(i, j, false);
			break;
		case 4:
			op_concat(i, j, true);
			break;
		case 5:
			op_share(i, j);
			break;
		case 6:
			op_drop(i);
			break;
		case 7:
			op_copyout(i);
			break;
		case 8:
			op_iov(i);
			break;
		case 9:
			op_room(i);
			break;
		case 10:
			op_commit(i);
			break;
		case 11:
			op_append_seg(i);
			break;
		case 12:
			op_reserve(i);
			break;
		case 13:
			op_free(i);
			break;
		case 14:
			op_newseg();
			break;
		case 15:
			op_transfer(i, j);
			break;
		case 16:
			/* A split right after an allocating call. */
			op_append(i, false);
			op_split(i, j);
			break;
		case 17:
			op_bad(i);
			break;
		}
	}
	fz.budget = (size_t)-1;
	for (i = 0; i < NCHAIN; i++)
		verify(i);
	reset();
	return 0;
}
