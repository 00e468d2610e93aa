/*
 * gentrace: writes the synthetic trace files kcdump's tests read.
 *
 *   gentrace DIR	(made if need be)
 *
 * good.trace is one process (pid 4242, program "gentrace") with five named
 * threads, TSC clock with two KC_TR_SYNC records (the second segment runs
 * at a different rate than the first, and the last records lie past the
 * last point), written the way the library's writer does: each thread's
 * records in seq order, the threads interleaved in blocks.  It holds runs
 * (nested, and one never ended), enqueue and defer flows across threads,
 * a message sent, received and replied, socket, splice and knote records,
 * a seq gap with a KC_TR_LOSS record and one without, two unknown record
 * types, a thread renamed and a text record without a NUL.  check.py
 * knows what each record must print as.
 *
 * mono.trace uses CLOCK_MONOTONIC, with one record before the start;
 * names.trace has names and text that need escaping; big.trace has more
 * runs than the SVG draws; header-only.trace has no record.  The other
 * files are broken in one way each (see main()).  Random bytes come
 * from a fixed seed: every run writes the same files.
 *
 * The hostile files are what a writer who wants kcdump slow would write
 * (see hostile()): thread ids or flow ids that all fell into a few slots of
 * the hash kcdump used before its tables were keyed, ids that are
 * multiples of every table size, sequential ids, and a million threads of
 * one record each, the most thread table per byte of file.
 */
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <kcont/trace.h>

#define PID		4242u
#define MAIN		4242u
#define E0		4243u
#define E1		4244u
#define WK		4245u
#define TR		4246u

#define START_TSC	1000000000ull
#define START_MONO	5000000000ull
#define START_REAL	1780000000000000000ull	/* 2026-05-28T20:26:40Z */
#define TSC_HZ		2000000000ull

#define MAXRECS		128
#define MAXTHREADS	5

struct rec {
	unsigned	 block;
	unsigned	 thread;	/* index in thr[] of who drains it */
	size_t		 len;
	uint8_t		 b[KC_TRACE_REC_MAX];
};

static struct rec recs[MAXRECS];
static unsigned nrecs;
static unsigned cur_block;

static struct {
	uint32_t	 tid;
	uint64_t	 seq;
} thr[MAXTHREADS] = { { MAIN, 0 }, { E0, 0 }, { E1, 0 }, { WK, 0 },
    { TR, 0 } };

static void
die(const char *what)
{
	fprintf(stderr, "gentrace: %s: %s\n", what, strerror(errno));
	exit(1);
}

static unsigned
thread_index(uint32_t tid)
{
	unsigned i;

	for (i = 0; i < MAXTHREADS; i++)
		if (thr[i].tid == tid)
			return i;
	fprintf(stderr, "gentrace: no thread %u\n", tid);
	exit(1);
}

static void
put16(uint8_t *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, 2);
}

static uint16_t
get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return le16toh(v);
}

static void
put32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static void
put64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

/* ns since the start to TSC ticks, inverting the points good.trace
 * declares: 2 ticks/ns up to 1 ms, then 20 ticks per 11 ns. */
static uint64_t
tsc(uint64_t ns)
{
	if (ns <= 1000000)
		return START_TSC + 2 * ns;
	if ((ns - 1000000) * 20 % 11 != 0) {
		fprintf(stderr, "gentrace: %llu ns is not a whole tick\n",
		    (unsigned long long)ns);
		exit(1);
	}
	return START_TSC + 2000000 + (ns - 1000000) * 20 / 11;
}

/*
 * A record of tid's (drained with thread "by"'s ring, which differs only
 * for KC_TR_LOSS), at ticks time, with seq taken from the thread unless
 * seq_none, after skipping "skip" numbers (lost records).
 */
static struct rec *
rec_by(uint32_t by, uint32_t tid, uint16_t type, uint64_t time, bool seq_none,
    unsigned skip, const uint64_t *pl, unsigned npl)
{
	struct rec *r;
	unsigned i, ti = thread_index(tid);

	if (nrecs == MAXRECS) {
		fprintf(stderr, "gentrace: too many records\n");
		exit(1);
	}
	r = &recs[nrecs++];
	memset(r, 0, sizeof(*r));
	r->block = cur_block;
	r->thread = thread_index(by);
	r->len = sizeof(struct kc_trace_rec) + 8 * npl;
	thr[ti].seq += skip;
	put16(r->b + offsetof(struct kc_trace_rec, tr_len), (uint16_t)r->len);
	put16(r->b + offsetof(struct kc_trace_rec, tr_type), type);
	put32(r->b + offsetof(struct kc_trace_rec, tr_pid), PID);
	put32(r->b + offsetof(struct kc_trace_rec, tr_tid), tid);
	put32(r->b + offsetof(struct kc_trace_rec, tr_cpu), ti);
	put64(r->b + offsetof(struct kc_trace_rec, tr_seq),
	    seq_none ? KC_TRACE_SEQ_NONE : thr[ti].seq++);
	put64(r->b + offsetof(struct kc_trace_rec, tr_time), time);
	for (i = 0; i < npl; i++)
		put64(r->b + sizeof(struct kc_trace_rec) + 8 * i, pl[i]);
	return r;
}

#define REC(tid, type, ns, ...) do {					\
	const uint64_t pl_[] = { __VA_ARGS__ };				\
	rec_by(tid, tid, type, tsc(ns), false, 0, pl_,			\
	    sizeof(pl_) / sizeof(pl_[0]));				\
} while (0)

/* The flow a record of tid's about to be made will have. */
static uint64_t
next_flow(uint32_t tid)
{
	return KC_TRACE_FLOW(tid, thr[thread_index(tid)].seq);
}

/* A text record: text and its NUL padded to 8 bytes, or exactly len bytes
 * with no NUL when nul is false. */
static void
text_rec(uint32_t tid, uint16_t type, uint64_t ns, const char *text, bool nul,
    unsigned skip)
{
	uint64_t pl[16] = { 0 };
	size_t n = strlen(text), words = nul ? n / 8 + 1 : (n + 7) / 8;

	memcpy(pl, text, n);
	rec_by(tid, tid, type, tsc(ns), false, skip, pl, (unsigned)words);
}

static void
header(uint8_t *h, uint16_t version, uint16_t size, uint32_t clock,
    uint64_t start_time, uint64_t start_mono, uint64_t start_real,
    uint64_t hz)
{
	memset(h, 0, sizeof(struct kc_trace_file_header));
	memcpy(h, KC_TRACE_MAGIC, 8);
	put16(h + offsetof(struct kc_trace_file_header, th_version), version);
	put16(h + offsetof(struct kc_trace_file_header, th_size), size);
	put32(h + offsetof(struct kc_trace_file_header, th_clock), clock);
	put32(h + offsetof(struct kc_trace_file_header, th_pid), PID);
	put64(h + offsetof(struct kc_trace_file_header, th_start_realtime),
	    start_real);
	put64(h + offsetof(struct kc_trace_file_header, th_start_mono),
	    start_mono);
	put64(h + offsetof(struct kc_trace_file_header, th_start_time),
	    start_time);
	put64(h + offsetof(struct kc_trace_file_header, th_tsc_hz), hz);
	memcpy(h + offsetof(struct kc_trace_file_header, th_prog), "gentrace",
	    8);
}

static void
write_file(const char *dir, const char *name, const void *p, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL)
		die(path);
	if ((n > 0 && fwrite(p, 1, n, f) != n) || fclose(f) != 0)
		die(path);
}

/* The records, block by block, each block thread by thread. */
static size_t
serialize(uint8_t *out, size_t cap)
{
	size_t len = 0;
	unsigned b, t, i;

	for (b = 0; b <= cur_block; b++)
		for (t = 0; t < MAXTHREADS; t++)
			for (i = 0; i < nrecs; i++) {
				if (recs[i].block != b || recs[i].thread != t)
					continue;
				if (len + recs[i].len > cap) {
					fprintf(stderr, "gentrace: overflow\n");
					exit(1);
				}
				memcpy(out + len, recs[i].b, recs[i].len);
				len += recs[i].len;
			}
	return len;
}

static void
scenario(void)
{
	uint64_t fa, fb, fm, fd;
	const uint64_t sync1[] = { START_TSC + 2000000, START_MONO + 1000000 };
	const uint64_t sync2[] = { START_TSC + 4000000, START_MONO + 2100000 };
	const uint64_t lost[] = { 3 };
	const uint64_t junk[] = { 0x1111, 0x2222 };

	cur_block = 0;
	text_rec(TR, KC_TR_THREAD_NAME, 100, "kc-trace", true, 0);
	text_rec(MAIN, KC_TR_THREAD_NAME, 1000, "main", true, 0);
	text_rec(E0, KC_TR_THREAD_NAME, 1100, "kc-exec-0", true, 0);
	text_rec(E1, KC_TR_THREAD_NAME, 1200, "kc-exec-1", true, 0);
	text_rec(WK, KC_TR_THREAD_NAME, 1300, "worker", true, 0);
	text_rec(MAIN, KC_TR_USER, 2000, "hello \"kcdump\"", true, 0);
	fa = next_flow(MAIN);
	REC(MAIN, KC_TR_ENQUEUE, 3000, 0x1000, 0x4000, 0xe0, fa);
	REC(E0, KC_TR_EXEC_WAKE, 3500, 0xe0);
	REC(E0, KC_TR_RUN_BEGIN, 4000, 0x1000, 0x4000, 0xe0, fa);
	fb = next_flow(E0);
	REC(E0, KC_TR_ENQUEUE, 5000, 0x1001, 0x4001, 0xe1, fb);
	fm = next_flow(E0);
	REC(E0, KC_TR_MSG_SEND, 6000, 0x9000, 0x9100, 7, fm);
	REC(E0, KC_TR_RUN_END, 8000, 0x1000, 0x4000);
	REC(E0, KC_TR_EXEC_SLEEP, 9000, 0xe0);
	REC(E1, KC_TR_RUN_BEGIN, 10000, 0x1001, 0x4001, 0xe1, fb);
	REC(E1, KC_TR_RUN_END, 12000, 0x1001, 0x4001);
	REC(WK, KC_TR_MSG_RECV, 13000, 0x9000, 0x9100, 7, fm);
	REC(WK, KC_TR_SOCK_SEND, 14000, 0x7000, 5, 512);
	REC(WK, KC_TR_MSG_REPLY, 15000, 0x9000, 0x9100, 0, fm);
	fd = next_flow(MAIN);
	REC(MAIN, KC_TR_DEFER, 16000, 0x1002, 0x4002, 0xe0, fd, 1500000);
	REC(E0, KC_TR_KNOTE, 17000, 5, (uint64_t)-1, 0x1, 100, 0x1003);
	REC(E1, KC_TR_SPLICE, 18000, 0x8000, 0, 4096, 0);
	REC(E1, KC_TR_SPLICE, 18500, 0x8000, 1, 0, 100);
	REC(E1, KC_TR_TEE, 19000, 0x8000, 1, 4096);
	REC(E1, KC_TR_MIRROR_DETACH, 19500, 0x8000, 1, (uint64_t)-32, 123);

	cur_block = 1;
	REC(WK, KC_TR_SOCK_CONNECT, 20000, 0x7100, 6, (uint64_t)-111);
	REC(WK, KC_TR_SOCK_ACCEPT, 21000, 0x7200, 0x7300, 7);
	REC(WK, KC_TR_SOCK_RECV, 22000, 0x7300, 7, 1000);
	REC(WK, KC_TR_SOCK_CLOSE, 23000, 0x7300, 7);
	REC(MAIN, KC_TR_CANCEL, 25000, 0x1003, 0);
	rec_by(MAIN, MAIN, 200, tsc(26000), false, 0, junk, 2);
	rec_by(MAIN, MAIN, 4000, tsc(26500), false, 0, NULL, 0);
	/* Three of the worker's records lost, and said so by the writer;
	   two of kc-exec-1's lost with no LOSS record. */
	text_rec(WK, KC_TR_USER, 27000, "after a gap", true, 3);
	rec_by(TR, WK, KC_TR_LOSS, tsc(28000), true, 0, lost, 1);
	{
		const uint64_t pl[] = { 0xe1 };

		rec_by(E1, E1, KC_TR_EXEC_WAKE, tsc(29000), false, 2, pl, 1);
	}
	REC(E0, KC_TR_RUN_BEGIN, 30000, 0x1004, 0x4004, 0xe0, 0);
	REC(E0, KC_TR_RUN_BEGIN, 31000, 0x1005, 0x4005, 0xe0, 0);
	REC(E0, KC_TR_RUN_END, 32000, 0x1005, 0x4005);
	REC(E0, KC_TR_RUN_END, 33000, 0x1004, 0x4004);
	text_rec(MAIN, KC_TR_USER, 34000, "ABCDEFGHIJKLMNOP", false, 0);
	text_rec(E1, KC_TR_THREAD_NAME, 35000, "kc-exec-1b", true, 0);
	REC(E1, KC_TR_EXEC_SLEEP, 36000, 0xe1);
	rec_by(TR, TR, KC_TR_SYNC, tsc(1000000), false, 0, sync1, 2);
	REC(E0, KC_TR_RUN_BEGIN, 1550000, 0x1002, 0x4002, 0xe0, fd);
	REC(E0, KC_TR_RUN_END, 1660000, 0x1002, 0x4002);
	rec_by(TR, TR, KC_TR_SYNC, tsc(2100000), false, 0, sync2, 2);
	REC(E1, KC_TR_RUN_BEGIN, 3200000, 0x1006, 0x4006, 0xe1, 0);
	rec_by(MAIN, MAIN, KC_TR_THREAD_EXIT, tsc(3750000), false, 0, NULL, 0);
}

/* A CLOCK_MONOTONIC file of four records, one before the start. */
static size_t
mono(uint8_t *out)
{
	static const uint64_t t[] = { 0, 1500, 1000000001, (uint64_t)-1000 };
	const uint64_t smono = 7000000000ull;
	uint8_t *r;
	size_t len = 128;
	unsigned i;

	header(out, KC_TRACE_VERSION, 128, KC_TRACE_CLOCK_MONOTONIC, smono,
	    smono, START_REAL + 123456789, 0);
	for (i = 0; i < 4; i++) {
		r = out + len;
		memset(r, 0, 40);
		put16(r, 40);
		put16(r + 2, KC_TR_EXEC_WAKE);
		put32(r + 4, PID);
		put32(r + 8, 5000 + i % 2);
		put64(r + 16, i / 2);
		put64(r + 24, smono + t[i]);
		put64(r + 32, 0xe0);
		len += 40;
	}
	return len;
}

/* One record at p: header and plen bytes of payload, zero-padded to 8. */
static size_t
raw_rec(uint8_t *p, uint16_t type, uint32_t tid, uint64_t seq, uint64_t time,
    const void *pl, size_t plen)
{
	size_t len = sizeof(struct kc_trace_rec) + (plen + 7) / 8 * 8;

	memset(p, 0, len);
	put16(p, (uint16_t)len);
	put16(p + 2, type);
	put32(p + 4, PID);
	put32(p + 8, tid);
	put64(p + 16, seq);
	put64(p + 24, time);
	memcpy(p + sizeof(struct kc_trace_rec), pl, plen);
	return len;
}

/* Names and text that need escaping everywhere: XML's specials, quotes,
 * a space, a control character, bytes that are not UTF-8 and some that
 * are. */
static size_t
names(uint8_t *out)
{
	static const char n1[] = "a<b>&\"c'd e";
	static const char n2[] = "bad\x01\xff\xfe utf8 \xc3\xa9\xe2\x82\xac";
	static const char text[] = "<script>alert(1)</script> & \"\xc3\x28\"";
	const uint64_t ex[] = { 0xe0 };
	size_t len = 128;

	header(out, KC_TRACE_VERSION, 128, KC_TRACE_CLOCK_MONOTONIC, 1000, 1000,
	    START_REAL, 0);
	len += raw_rec(out + len, KC_TR_THREAD_NAME, 6000, 0, 1000, n1,
	    sizeof(n1));
	len += raw_rec(out + len, KC_TR_THREAD_NAME, 6001, 0, 1100, n2,
	    sizeof(n2));
	len += raw_rec(out + len, KC_TR_USER, 6000, 1, 2000, text,
	    sizeof(text));
	len += raw_rec(out + len, KC_TR_EXEC_WAKE, 6001, 1, 3000, ex,
	    sizeof(ex));
	return len;
}

/*
 * Many threads with many short runs and marks, each a few pixels apart
 * on the SVG's time axis: more than it draws.  nthreads * 500 runs over
 * two seconds, CLOCK_MONOTONIC.
 */
static uint8_t *
big(unsigned nthreads, size_t *lenp)
{
	const size_t per = 500, cap = 128 + (size_t)nthreads * per * 160;
	uint64_t pl[4], seq, t;
	uint8_t *out;
	size_t len = 128, i;
	unsigned k;

	if ((out = malloc(cap)) == NULL)
		die("big");
	header(out, KC_TRACE_VERSION, 128, KC_TRACE_CLOCK_MONOTONIC, 0, 0,
	    START_REAL, 0);
	for (k = 0; k < nthreads; k++) {
		seq = 0;
		for (i = 0; i < per; i++) {
			t = i * 4000000 + k * 1000;
			pl[0] = 0x10000 + i;
			pl[1] = 0x4000;
			pl[2] = 0xe0;
			pl[3] = 0;
			len += raw_rec(out + len, KC_TR_RUN_BEGIN, 7000 + k,
			    seq++, t, pl, 32);
			len += raw_rec(out + len, KC_TR_RUN_END, 7000 + k,
			    seq++, t + 500000, pl, 16);
			len += raw_rec(out + len, KC_TR_EXEC_WAKE, 7000 + k,
			    seq++, t + 2000000, pl + 2, 8);
		}
	}
	*lenp = len;
	return out;
}

/* ------------------------------------------------------------------ */
/* Hostile files. */

#define PHI	0x9e3779b97f4a7c15ull

/* The inverse of PHI modulo 2^64 (Newton's iteration: each step doubles
 * the bits that are right, and PHI * PHI = 1 modulo 8 to start). */
static uint64_t
phi_inverse(void)
{
	uint64_t x = PHI;
	int i;

	for (i = 0; i < 5; i++)
		x *= 2 - PHI * x;
	return x;
}

/*
 * The hash kcdump's tables had before they were keyed put key k in slot
 * ((k ^ k >> 29) * PHI >> 17) mod cap.  A key whose product has bits 17 to
 * 33 below 8 lands in slots 0 to 7 at every table size from 8 to 2^17:
 * n such keys make one cluster, and the n-th insertion walks all of it.
 *
 * Thread ids: 32 bits, and below 2^29 so that the shift does nothing.  The
 * product's bits 0 to 33 are those of (k mod 2^34) * PHI, so the keys are
 * p * PHI^-1 mod 2^34 for p below 8 << 17, those of them under 2^29.
 * There are 2^20 / 32 of them: enough for 32768 threads.
 */
static size_t
old_colliding_tids(uint32_t *out, size_t n)
{
	const uint64_t inv = phi_inverse(), mask = ((uint64_t)1 << 34) - 1;
	uint64_t p, k;
	size_t got = 0;

	for (p = 1; p < ((uint64_t)8 << 17) && got < n; p++) {
		k = (p * inv) & mask;
		if (k != 0 && k < ((uint64_t)1 << 29))
			out[got++] = (uint32_t)k;
	}
	return got;
}

/* Flow ids: any 64 bits, so x = p * PHI^-1 with p from 1 up (slot 0 for
 * every p below 2^17, at every size), and k the x whose k ^ k >> 29 is x. */
static uint64_t
old_colliding_flow(uint64_t p)
{
	uint64_t x = p * phi_inverse();

	return x ^ (x >> 29) ^ (x >> 58);
}

enum hostile {
	H_TIDS_OLD,	/* n threads, ids colliding under the old hash */
	H_TIDS_STRIDE,	/* n threads, ids multiples of 2^16 */
	H_TIDS_SEQ,	/* n threads, ids 1 to n */
	H_FLOWS_OLD,	/* n flows, ids colliding under the old hash */
	H_FLOWS_STRIDE	/* n flows, ids multiples of 2^32 */
};

/*
 * n records of 32 bytes (KC_TR_THREAD_EXIT) each by a thread of its own,
 * or n flows on one thread: an ENQUEUE and a RUN_BEGIN of each (so that the
 * JSON and the SVG both put and look up every flow id), CLOCK_MONOTONIC.
 */
static uint8_t *
hostile(enum hostile kind, size_t n, size_t *lenp)
{
	uint64_t pl[4], flow;
	uint32_t *tids = NULL, tid;
	uint8_t *out;
	size_t len = 128, i;

	if ((out = malloc(128 + n * 128)) == NULL)
		die("hostile");
	header(out, KC_TRACE_VERSION, 128, KC_TRACE_CLOCK_MONOTONIC, 0, 0,
	    START_REAL, 0);
	if (kind == H_TIDS_OLD) {
		if ((tids = malloc(n * sizeof(*tids))) == NULL)
			die("hostile");
		if (old_colliding_tids(tids, n) != n) {
			fprintf(stderr, "gentrace: not %zu colliding tids\n",
			    n);
			exit(1);
		}
	}
	for (i = 0; i < n; i++) {
		switch (kind) {
		case H_TIDS_OLD:
		case H_TIDS_STRIDE:
		case H_TIDS_SEQ:
			tid = kind == H_TIDS_OLD ? tids[i] :
			    kind == H_TIDS_STRIDE ? (uint32_t)(i + 1) << 16 :
			    (uint32_t)(i + 1);
			len += raw_rec(out + len, KC_TR_THREAD_EXIT, tid, 0,
			    i, pl, 0);
			break;
		case H_FLOWS_OLD:
		case H_FLOWS_STRIDE:
			flow = kind == H_FLOWS_OLD ? old_colliding_flow(i + 1) :
			    (uint64_t)(i + 1) << 32;
			pl[0] = 0x1000 + i;
			pl[1] = 0x4000;
			pl[2] = 0xe0;
			pl[3] = flow;
			len += raw_rec(out + len, KC_TR_ENQUEUE, MAIN, 2 * i,
			    10 * i, pl, 32);
			len += raw_rec(out + len, KC_TR_RUN_BEGIN, MAIN,
			    2 * i + 1, 10 * i + 5, pl, 32);
			break;
		}
	}
	free(tids);
	*lenp = len;
	return out;
}

static void
write_hostile(const char *dir, const char *name, enum hostile kind, size_t n)
{
	uint8_t *p;
	size_t len;

	p = hostile(kind, n, &len);
	write_file(dir, name, p, len);
	free(p);
}

static uint64_t
xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

int
main(int argc, char **argv)
{
	static uint8_t good[65536], buf[65536];
	uint64_t seed = 0x6b6364756d70ull;
	uint8_t *bigbuf;
	size_t glen, n, i;
	const char *dir;

	if (argc != 2) {
		fprintf(stderr, "usage: gentrace dir\n");
		return 64;
	}
	dir = argv[1];
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		die(dir);

	header(good, KC_TRACE_VERSION, 128, KC_TRACE_CLOCK_TSC, START_TSC,
	    START_MONO, START_REAL, TSC_HZ);
	scenario();
	glen = 128 + serialize(good + 128, sizeof(good) - 128);
	write_file(dir, "good.trace", good, glen);
	write_file(dir, "mono.trace", buf, mono(buf));
	write_file(dir, "header-only.trace", good, 128);
	write_file(dir, "names.trace", buf, names(buf));
	bigbuf = big(40, &n);
	write_file(dir, "big.trace", bigbuf, n);
	free(bigbuf);

	/* Broken files. */
	write_file(dir, "empty.trace", good, 0);
	write_file(dir, "short-header.trace", good, 60);
	memcpy(buf, good, glen);
	memcpy(buf, "KCTRACX\n", 8);
	write_file(dir, "magic.trace", buf, glen);
	memcpy(buf, good, glen);
	put16(buf + offsetof(struct kc_trace_file_header, th_version), 2);
	write_file(dir, "version2.trace", buf, glen);
	memcpy(buf, good, glen);
	put16(buf + offsetof(struct kc_trace_file_header, th_size), 64);
	write_file(dir, "hdrsize.trace", buf, glen);
	/* The writer killed in the middle of its last record (a SYNC of 48
	   bytes): in its payload, and in its header. */
	write_file(dir, "trunc-record.trace", good, glen - 8);
	write_file(dir, "trunc-header.trace", good, glen - 20);
	/* Two good records, then a record header with tr_len 0; 36; longer
	   than the file. */
	n = 128 + get16(good + 128);
	n += get16(good + n);
	memcpy(buf, good, n + 32);
	put16(buf + n, 0);
	write_file(dir, "zero-len.trace", buf, n + 32);
	put16(buf + n, 36);
	write_file(dir, "odd-len.trace", buf, n + 40);
	put16(buf + n, 65528);
	write_file(dir, "long-len.trace", buf, n + 64);
	/* TSC without a rate or a SYNC record. */
	memcpy(buf, good, 128 + 48);
	put64(buf + offsetof(struct kc_trace_file_header, th_tsc_hz), 0);
	write_file(dir, "nohz.trace", buf, 128 + 48);
	/* Random bytes, and random bytes after a good header. */
	for (i = 0; i < 4096; i++)
		buf[i] = (uint8_t)(xorshift(&seed) >> 24);
	write_file(dir, "random.trace", buf, 4096);
	mono(buf);
	for (i = 128; i < 128 + 4096; i++)
		buf[i] = (uint8_t)(xorshift(&seed) >> 24);
	write_file(dir, "random-body.trace", buf, 128 + 4096);

	/* Hostile files (check.py's hostile and memory cases). */
	write_hostile(dir, "tids-old.trace", H_TIDS_OLD, 30000);
	write_hostile(dir, "tids-stride.trace", H_TIDS_STRIDE, 30000);
	write_hostile(dir, "tids-seq.trace", H_TIDS_SEQ, 30000);
	write_hostile(dir, "flows-old.trace", H_FLOWS_OLD, 30000);
	write_hostile(dir, "flows-stride.trace", H_FLOWS_STRIDE, 30000);
	write_hostile(dir, "threads-1m.trace", H_TIDS_SEQ, 1000000);
	return 0;
}
