/*
 * reader.c: a kcont trace file read from memory (kcont-trace(5)).
 *
 * Two walks over the records in file order: the first validates each
 * record's length, counts losses per thread (a thread's records are in
 * seq order in the file), keeps the last name of each thread and gathers
 * the TSC's clock points; the second converts times, which needs every
 * clock point, and fills the array that is then sorted by time.  No read
 * goes past a record's tr_len, nor a record past the buffer.
 */
#include <ctype.h>
#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "map.h"
#include "reader.h"

#define HDR_SIZE	sizeof(struct kc_trace_file_header)
#define REC_SIZE	sizeof(struct kc_trace_rec)

_Static_assert(sizeof(struct kc_trace_file_header) == 128,
    "the file header is 128 bytes");
_Static_assert(sizeof(struct kc_trace_rec) == 32,
    "the record header is 32 bytes");

#define P	KD_PTR
#define U	KD_U

static const struct kd_typeinfo types[KC_TR_NTYPES] = {
	[KC_TR_ENQUEUE] = { "ENQUEUE", 4,
	    { { "kc", P }, { "fn", P }, { "exec", P }, { "flow", KD_FLOW } } },
	[KC_TR_DEFER] = { "DEFER", 5,
	    { { "kc", P }, { "fn", P }, { "exec", P }, { "flow", KD_FLOW },
	      { "delay", KD_NS } } },
	[KC_TR_RUN_BEGIN] = { "RUN_BEGIN", 4,
	    { { "kc", P }, { "fn", P }, { "exec", P }, { "flow", KD_FLOW } } },
	[KC_TR_RUN_END] = { "RUN_END", 2, { { "kc", P }, { "fn", P } } },
	[KC_TR_CANCEL] = { "CANCEL", 2, { { "kc", P }, { "flow", KD_FLOW } } },
	[KC_TR_EXEC_WAKE] = { "EXEC_WAKE", 1, { { "exec", P } } },
	[KC_TR_EXEC_SLEEP] = { "EXEC_SLEEP", 1, { { "exec", P } } },
	[KC_TR_KNOTE] = { "KNOTE", 5,
	    { { "ident", U }, { "filter", KD_FILTER }, { "flags", KD_HEX },
	      { "data", KD_I }, { "kc", P } } },
	[KC_TR_MSG_SEND] = { "MSG_SEND", 4,
	    { { "port", P }, { "msg", P }, { "cmd", U },
	      { "flow", KD_FLOW } } },
	[KC_TR_MSG_RECV] = { "MSG_RECV", 4,
	    { { "port", P }, { "msg", P }, { "cmd", U },
	      { "flow", KD_FLOW } } },
	[KC_TR_MSG_REPLY] = { "MSG_REPLY", 4,
	    { { "port", P }, { "msg", P }, { "status", KD_ERR },
	      { "flow", KD_FLOW } } },
	[KC_TR_MSG_ABORT] = { "MSG_ABORT", 3,
	    { { "port", P }, { "msg", P }, { "flow", KD_FLOW } } },
	[KC_TR_SOCK_CONNECT] = { "SOCK_CONNECT", 3,
	    { { "sock", P }, { "fd", KD_I }, { "error", KD_ERR } } },
	[KC_TR_SOCK_ACCEPT] = { "SOCK_ACCEPT", 3,
	    { { "listener", P }, { "sock", P }, { "fd", KD_I } } },
	[KC_TR_SOCK_SEND] = { "SOCK_SEND", 3,
	    { { "sock", P }, { "fd", KD_I }, { "bytes", U } } },
	[KC_TR_SOCK_RECV] = { "SOCK_RECV", 3,
	    { { "sock", P }, { "fd", KD_I }, { "bytes", U } } },
	[KC_TR_SOCK_CLOSE] = { "SOCK_CLOSE", 2,
	    { { "sock", P }, { "fd", KD_I } } },
	[KC_TR_SPLICE] = { "SPLICE", 4,
	    { { "splice", P }, { "dir", KD_DIR }, { "spliced", U },
	      { "copied", U } } },
	[KC_TR_TEE] = { "TEE", 3,
	    { { "splice", P }, { "mirror", U }, { "bytes", U } } },
	[KC_TR_MIRROR_DETACH] = { "MIRROR_DETACH", 4,
	    { { "splice", P }, { "mirror", U }, { "error", KD_ERR },
	      { "bytes", U } } },
	[KC_TR_THREAD_NAME] = { "THREAD_NAME", 1, { { "name", KD_TEXT } } },
	[KC_TR_USER] = { "USER", 1, { { "text", KD_TEXT } } },
	[KC_TR_LOSS] = { "LOSS", 1, { { "lost", U } } },
	[KC_TR_SYNC] = { "SYNC", 2, { { "time", U }, { "mono", U } } },
	[KC_TR_THREAD_EXIT] = { "THREAD_EXIT", 0, { { NULL, 0 } } },
};

#undef P
#undef U

const struct kd_typeinfo *
kd_type_info(unsigned type)
{
	if (type >= KC_TR_NTYPES || types[type].name == NULL)
		return NULL;
	return &types[type];
}

bool
kd_rec_short(const struct kd_rec *r)
{
	const struct kd_typeinfo *ti = kd_type_info(r->type);

	if (ti == NULL || (ti->nfields > 0 && ti->f[0].kind == KD_TEXT))
		return false;
	return r->plen < (size_t)ti->nfields * 8;
}

int
kd_type_lookup(const char *name)
{
	unsigned long v;
	char *end;
	unsigned i;

	if (strncasecmp(name, "KC_TR_", 6) == 0)
		name += 6;
	if (isdigit((unsigned char)name[0])) {
		errno = 0;
		v = strtoul(name, &end, 10);
		if (errno != 0 || *end != '\0' || v < 1 || v > UINT16_MAX)
			return -EINVAL;
		return (int)v;
	}
	for (i = 0; i < KC_TR_NTYPES; i++)
		if (types[i].name != NULL &&
		    strcasecmp(types[i].name, name) == 0)
			return (int)i;
	return -EINVAL;
}

/* ------------------------------------------------------------------ */
/* Decoding. */

static uint16_t
get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return le16toh(v);
}

static uint32_t
get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static uint64_t
get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

#define HOFF(f)	offsetof(struct kc_trace_file_header, f)
#define ROFF(f)	offsetof(struct kc_trace_rec, f)

static void
decode_header(struct kc_trace_file_header *h, const uint8_t *p)
{
	memcpy(h->th_magic, p + HOFF(th_magic), sizeof(h->th_magic));
	h->th_version = get16(p + HOFF(th_version));
	h->th_size = get16(p + HOFF(th_size));
	h->th_clock = get32(p + HOFF(th_clock));
	h->th_pid = get32(p + HOFF(th_pid));
	h->th_flags = get32(p + HOFF(th_flags));
	h->th_start_realtime = get64(p + HOFF(th_start_realtime));
	h->th_start_mono = get64(p + HOFF(th_start_mono));
	h->th_start_time = get64(p + HOFF(th_start_time));
	h->th_tsc_hz = get64(p + HOFF(th_tsc_hz));
	memcpy(h->th_prog, p + HOFF(th_prog), sizeof(h->th_prog));
	h->th_reserved = get64(p + HOFF(th_reserved));
}

/* The record at off, whose length kd_open() has checked; ns left 0. */
static void
decode_rec(const struct kd_trace *t, uint64_t off, struct kd_rec *r)
{
	const uint8_t *p = t->buf + off;

	r->off = off;
	r->len = get16(p + ROFF(tr_len));
	r->type = get16(p + ROFF(tr_type));
	r->pid = get32(p + ROFF(tr_pid));
	r->tid = get32(p + ROFF(tr_tid));
	r->cpu = get32(p + ROFF(tr_cpu));
	r->seq = get64(p + ROFF(tr_seq));
	r->time = get64(p + ROFF(tr_time));
	r->ns = 0;
	r->pl = p + REC_SIZE;
	r->plen = (size_t)r->len - REC_SIZE;
}

void
kd_rec_get(const struct kd_trace *t, uint64_t off, struct kd_rec *r)
{
	decode_rec(t, off, r);
	r->ns = kd_time_ns(t, r->time);
}

void
kd_rec_at(const struct kd_trace *t, uint64_t i, struct kd_rec *r)
{
	decode_rec(t, t->ents[i].off, r);
	r->ns = t->ents[i].ns;
}

uint64_t
kd_rec_u64(const struct kd_rec *r, unsigned i)
{
	if (r->plen < ((size_t)i + 1) * 8)
		return 0;
	return get64(r->pl + (size_t)i * 8);
}

size_t
kd_rec_text(const struct kd_rec *r, const uint8_t **p)
{
	const uint8_t *nul = memchr(r->pl, '\0', r->plen);

	*p = r->pl;
	return nul != NULL ? (size_t)(nul - r->pl) : r->plen;
}

/* ------------------------------------------------------------------ */
/* Time. */

static int64_t
clamp_ns(__int128 v)
{
	if (v > KD_NS_MAX)
		return KD_NS_MAX;
	if (v < -KD_NS_MAX)
		return -KD_NS_MAX;
	return (int64_t)v;
}

static long double
i128_ld(__int128 v)
{
	/* Through 64-bit halves: no library call for 128-bit conversion. */
	int64_t hi = (int64_t)(v >> 64);
	uint64_t lo = (uint64_t)v;

	return (long double)hi * 18446744073709551616.0L + (long double)lo;
}

static __int128
abs128(__int128 v)
{
	return v < 0 ? -v : v;
}

/* m0 + dt * dm / dT, exactly when the product fits, else in long double;
 * then less the start, clamped. */
static int64_t
interpolate(__int128 m0, __int128 dt, __int128 dm, __int128 dT,
    __int128 start)
{
	const __int128 lim = (__int128)1 << 62;
	long double v;

	if (abs128(dt) < lim && abs128(dm) < (lim << 2))
		return clamp_ns(m0 + dt * dm / dT - start);
	v = i128_ld(m0 - start) + i128_ld(dt) * i128_ld(dm) / i128_ld(dT);
	if (v >= (long double)KD_NS_MAX)
		return KD_NS_MAX;
	if (v <= -(long double)KD_NS_MAX)
		return -KD_NS_MAX;
	return (int64_t)v;
}

int64_t
kd_time_ns(const struct kd_trace *t, uint64_t time)
{
	const struct kd_point *a, *b;
	__int128 start = t->h.th_start_mono;
	size_t lo, hi, mid;

	if (t->h.th_clock != KC_TRACE_CLOCK_TSC)
		return clamp_ns((__int128)time - start);
	if (t->npts >= 2) {
		/* The segment of time, or the nearest one outside them. */
		lo = 0;
		hi = t->npts - 1;
		while (hi - lo > 1) {
			mid = lo + (hi - lo) / 2;
			if (t->pts[mid].time <= time)
				lo = mid;
			else
				hi = mid;
		}
		a = &t->pts[lo];
		b = &t->pts[lo + 1];
		return interpolate(a->mono, (__int128)time - a->time,
		    (__int128)b->mono - a->mono, (__int128)b->time - a->time,
		    start);
	}
	if (t->npts == 1 && t->h.th_tsc_hz != 0)
		return interpolate(t->pts[0].mono,
		    (__int128)time - t->pts[0].time, 1000000000,
		    t->h.th_tsc_hz, start);
	/* No rate (kd_open() refuses such a file when it has records). */
	return clamp_ns((__int128)time - t->h.th_start_time);
}

static int
point_cmp(const void *a, const void *b)
{
	const struct kd_point *x = a, *y = b;

	if (x->time != y->time)
		return x->time < y->time ? -1 : 1;
	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	return 0;
}

static int
ent_cmp(const void *a, const void *b)
{
	const struct kd_ent *x = a, *y = b;

	if (x->ns != y->ns)
		return x->ns < y->ns ? -1 : 1;
	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	return 0;
}

static int
thread_cmp(const void *a, const void *b)
{
	const struct kd_thread *x = a, *y = b;

	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Reading. */

/* The scan's working state. */
struct scan {
	struct kd_index	 tids;		/* tid -> index in threads */
	uint32_t	 last;		/* the thread of the record before */
	bool		 have_last;
	size_t		 tcap;
	size_t		 pcap;
};

static uint64_t
thread_tid(const void *ctx, uint32_t i)
{
	const struct kd_trace *t = ctx;

	return t->threads[i].tid;
}

static int __attribute__((format(printf, 3, 4)))
fail(struct kd_trace *t, int error, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->err, sizeof(t->err), fmt, ap);
	va_end(ap);
	return error;
}

static uint64_t
sat_add(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

static struct kd_thread *
thread_get(struct kd_trace *t, struct scan *s, const struct kd_rec *r)
{
	struct kd_thread *th, *nt;
	uint32_t idx;
	size_t ncap;

	/* A writer drains each thread's records in blocks: most records
	   are by the thread of the record before. */
	if (s->have_last && t->threads[s->last].tid == r->tid)
		return &t->threads[s->last];
	if (kd_index_get(&s->tids, r->tid, &idx)) {
		s->last = idx;
		return &t->threads[idx];
	}
	if (t->nthreads == s->tcap) {
		ncap = s->tcap != 0 ? 2 * s->tcap : 16;
		if ((nt = realloc(t->threads, ncap * sizeof(*nt))) == NULL)
			return NULL;
		t->threads = nt;
		s->tcap = ncap;
	}
	th = &t->threads[t->nthreads];
	memset(th, 0, sizeof(*th));
	th->tid = r->tid;
	th->pid = r->pid;
	if (kd_index_add(&s->tids, t->nthreads) != 0)
		return NULL;
	s->last = t->nthreads++;
	s->have_last = true;
	return th;
}

static int
add_point(struct kd_trace *t, struct scan *s, uint64_t time, uint64_t mono)
{
	struct kd_point *np;
	size_t ncap;

	if (t->npts == s->pcap) {
		ncap = s->pcap != 0 ? 2 * s->pcap : 16;
		if ((np = realloc(t->pts, ncap * sizeof(*np))) == NULL)
			return -ENOMEM;
		t->pts = np;
		s->pcap = ncap;
	}
	t->pts[t->npts].time = time;
	t->pts[t->npts].mono = mono;
	t->pts[t->npts].order = t->npts;
	t->npts++;
	return 0;
}

/* What one record says about its thread. */
static void
account(struct kd_thread *th, const struct kd_rec *r)
{
	th->nrec++;
	if (r->seq != KC_TRACE_SEQ_NONE) {
		/* A thread's seq counts from 0, one per record made or
		   dropped: whatever it skips was lost. */
		if (r->seq > th->next_seq)
			th->gaps = sat_add(th->gaps, r->seq - th->next_seq);
		else if (th->have_seq && r->seq < th->next_seq)
			th->disorder++;
		if (!th->have_seq || r->seq >= th->next_seq)
			th->next_seq = r->seq + 1;
		th->have_seq = true;
	}
	if (r->type == KC_TR_LOSS)
		th->lost = sat_add(th->lost, kd_rec_u64(r, 0));
	else if (r->type == KC_TR_THREAD_NAME)
		th->namelen = (uint16_t)kd_rec_text(r, &th->name);
}

/* Walk 1: validate and count.  0, -EBADMSG (t->end is the bad record's
 * offset) or -ENOMEM. */
static int
scan_records(struct kd_trace *t, struct scan *s)
{
	struct kd_thread *th;
	struct kd_rec r;
	uint64_t off = t->h.th_size;
	size_t left;
	unsigned rl;
	int error = 0;

	while (off < t->len) {
		left = t->len - (size_t)off;
		if (left < REC_SIZE) {
			error = fail(t, -EBADMSG, "truncated record at offset "
			    "%llu (%zu bytes, a record header is %zu)",
			    (unsigned long long)off, left, REC_SIZE);
			break;
		}
		rl = get16(t->buf + off + ROFF(tr_len));
		if (rl < REC_SIZE || rl % 8 != 0) {
			error = fail(t, -EBADMSG, "bad record length %u at "
			    "offset %llu", rl, (unsigned long long)off);
			break;
		}
		if (rl > left) {
			error = fail(t, -EBADMSG, "truncated record at offset "
			    "%llu (length %u, %zu bytes left)",
			    (unsigned long long)off, rl, left);
			break;
		}
		decode_rec(t, off, &r);
		if ((th = thread_get(t, s, &r)) == NULL)
			return fail(t, -ENOMEM, "out of memory");
		account(th, &r);
		if (kd_type_info(r.type) == NULL)
			t->nunknown++;
		else if (kd_rec_short(&r))
			t->nshort++;
		if (r.type == KC_TR_SYNC) {
			t->nsync++;
			if (t->h.th_clock == KC_TRACE_CLOCK_TSC &&
			    r.plen >= 16 && add_point(t, s, kd_rec_u64(&r, 0),
			    kd_rec_u64(&r, 1)) != 0)
				return fail(t, -ENOMEM, "out of memory");
		}
		t->nrec++;
		off += rl;
	}
	t->end = off;
	return error;
}

/* Sort the clock points and keep one per time (the first in the file). */
static void
sort_points(struct kd_trace *t)
{
	size_t i, n = 0;

	qsort(t->pts, t->npts, sizeof(*t->pts), point_cmp);
	for (i = 0; i < t->npts; i++)
		if (n == 0 || t->pts[i].time != t->pts[n - 1].time)
			t->pts[n++] = t->pts[i];
	t->npts = n;
}

/* Walk 2: every record's time, in an array sorted by it. */
static int
fill_ents(struct kd_trace *t)
{
	struct kd_rec r;
	uint64_t off = t->h.th_size, i;

	if (t->nrec == 0)
		return 0;
	if ((t->ents = malloc(t->nrec * sizeof(*t->ents))) == NULL)
		return fail(t, -ENOMEM, "out of memory");
	for (i = 0; i < t->nrec; i++) {
		kd_rec_get(t, off, &r);
		t->ents[i].ns = r.ns;
		t->ents[i].off = off;
		off += r.len;
	}
	qsort(t->ents, t->nrec, sizeof(*t->ents), ent_cmp);
	t->first_ns = t->ents[0].ns;
	t->last_ns = t->ents[t->nrec - 1].ns;
	return 0;
}

static int __attribute__((format(printf, 3, 4)))
errf(char *err, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, size, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int
kd_check_header(const void *buf, size_t len, bool whole,
    struct kc_trace_file_header *h, char *err, size_t errsize)
{
	if (len == 0)
		return errf(err, errsize, "empty file");
	if (memcmp(buf, KC_TRACE_MAGIC, len < 8 ? len : 8) != 0)
		return errf(err, errsize, "not a kcont trace");
	if (len < HDR_SIZE)
		return errf(err, errsize, "truncated header (%zu bytes of "
		    "%zu)", len, HDR_SIZE);
	decode_header(h, buf);
	if (h->th_version != KC_TRACE_VERSION)
		return errf(err, errsize, "version %u, this kcdump reads %u",
		    h->th_version, KC_TRACE_VERSION);
	if (h->th_size < HDR_SIZE || h->th_size % 8 != 0 ||
	    h->th_size > KD_HDR_MAX)
		return errf(err, errsize, "bad header size %u", h->th_size);
	/* Only the whole file tells whether a longer header is all there. */
	if (whole && h->th_size > len)
		return errf(err, errsize, "truncated header (%zu bytes of %u)",
		    len, h->th_size);
	if (h->th_clock != KC_TRACE_CLOCK_MONOTONIC &&
	    h->th_clock != KC_TRACE_CLOCK_TSC)
		return errf(err, errsize, "unknown clock %u", h->th_clock);
	return 0;
}

int
kd_open(struct kd_trace *t, const void *buf, size_t len)
{
	struct scan s;
	uint32_t i;
	int error, tail;

	memset(t, 0, sizeof(*t));
	memset(&s, 0, sizeof(s));
	t->buf = buf;
	t->len = len;
	if ((uint64_t)len > KD_MAX_INPUT)
		return fail(t, -EFBIG, "larger than %llu bytes",
		    (unsigned long long)KD_MAX_INPUT);
	if ((error = kd_check_header(buf, len, true, &t->h, t->err,
	    sizeof(t->err))) != 0)
		return error;
	kd_index_init(&s.tids, thread_tid, t);
	if (t->h.th_clock == KC_TRACE_CLOCK_TSC &&
	    add_point(t, &s, t->h.th_start_time, t->h.th_start_mono) != 0) {
		error = fail(t, -ENOMEM, "out of memory");
		goto out;
	}

	tail = scan_records(t, &s);
	if (tail == -ENOMEM) {
		error = tail;
		goto out;
	}
	if (t->h.th_clock == KC_TRACE_CLOCK_TSC && t->nrec > 0) {
		sort_points(t);
		if (t->npts < 2 && t->h.th_tsc_hz == 0) {
			error = fail(t, -EINVAL, "no clock rate (TSC clock, "
			    "th_tsc_hz 0 and no KC_TR_SYNC record)");
			goto out;
		}
	}
	/* The index is done with: its memory is not needed beside ents. */
	kd_index_free(&s.tids);
	if ((error = fill_ents(t)) != 0)
		goto out;
	if (t->nthreads > 1)
		qsort(t->threads, t->nthreads, sizeof(*t->threads),
		    thread_cmp);
	for (i = 0; i < t->nthreads; i++) {
		t->lost = sat_add(t->lost, t->threads[i].lost);
		t->gaps = sat_add(t->gaps, t->threads[i].gaps);
	}
	error = tail;
out:
	kd_index_free(&s.tids);
	return error;
}

void
kd_close(struct kd_trace *t)
{
	free(t->ents);
	free(t->threads);
	free(t->pts);
	t->ents = NULL;
	t->threads = NULL;
	t->pts = NULL;
	t->nrec = 0;
	t->nthreads = 0;
	t->npts = 0;
}

struct kd_thread *
kd_thread_find(const struct kd_trace *t, uint32_t tid)
{
	struct kd_thread key;

	if (t->nthreads == 0)
		return NULL;
	key.tid = tid;
	return bsearch(&key, t->threads, t->nthreads, sizeof(*t->threads),
	    thread_cmp);
}
