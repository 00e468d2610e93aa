/*
 * Tracing: a ring per thread, one writer thread, one file (kcont/trace.h,
 * kcont-trace(5)).
 *
 * A thread's first record while tracing is on gives it a ring: a power of
 * two of bytes, with room past its end for one record, so that a record is
 * always written in one piece (the part past the end is then copied to the
 * start).  The thread is the ring's only writer: it fills the record, then
 * publishes it with a release store of its head.  The writer thread (or a
 * kc_trace_flush()) reads the head with acquire, writes the bytes out and
 * releases them with a store of the tail.  A record that does not fit is
 * dropped: the thread's sequence number still moves on, so the gap shows,
 * and a drop counter feeds the KC_TR_LOSS records the writer makes for it.
 *
 * A thread that exits marks its ring exited (its last record is
 * THREAD_EXIT); the writer writes what it holds and frees it, so nothing it
 * committed is lost.  Rings of live threads outlive a session and are taken
 * up again (emptied) by the next.
 *
 * Time is the CPU's timestamp counter where it is constant and keeps
 * counting in sleep states (x86-64 with constant_tsc and nonstop_tsc): ten
 * nanoseconds to read against twenty-five for clock_gettime() on the
 * machines we measured.  The writer puts a KC_TR_SYNC record (counter,
 * CLOCK_MONOTONIC) in the file at every drain; readers convert with them.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include "lockdebug.h"
#include "trace_int.h"

#define RING_DEFAULT	((size_t)1 << 20)
#define RING_MIN	((size_t)4096)
#define RING_MAX	((size_t)1 << 30)
#define FLUSH_DEFAULT	10u		/* ms */
#define STAGE_BYTES	((size_t)64 << 10)
#define REC_HDR		sizeof(struct kc_trace_rec)
#define TEXT_MAX	(KC_TRACE_REC_MAX - REC_HDR)

int kc__trace_flag;

struct ring {
	/* The owning thread's. */
	uint64_t	 r_head;	/* bytes committed (release) */
	uint64_t	 r_tail_seen;	/* the last r_tail it read */
	uint64_t	 r_seq;		/* next sequence number (relaxed) */
	uint64_t	 r_dropped;	/* records dropped (relaxed) */
	unsigned char	*r_buf;		/* r_size + KC_TRACE_REC_MAX bytes */
	size_t		 r_size;
	uint64_t	 r_gen;		/* the session it belongs to */
	uint32_t	 r_tid;
	uint32_t	 r_pid;
	/* The writer's (under tlock). */
	uint64_t	 r_tail __attribute__((aligned(64)));	/* release */
	uint64_t	 r_lost_told;
	struct ring	*r_next;
	bool		 r_listed;	/* on the session's list */
	bool		 r_exited;	/* its thread is gone (under tlock) */
};

static struct {
	int		 fd;
	uint64_t	 gen;		/* session number (relaxed reads) */
	size_t		 ring_bytes;
	uint32_t	 flush_ms;
	uint32_t	 clock;
	struct ring	*rings;
	pthread_t	 writer;
	bool		 writer_up;
	bool		 stopping;
	pthread_cond_t	 cv;
	unsigned char	*stage;
	size_t		 slen;
	uint32_t	 wtid;		/* the writer thread's id */
	uint64_t	 wseq;		/* its records' sequence */
	uint64_t	 last_sync;	/* CLOCK_MONOTONIC of the last SYNC */
	uint64_t	 bytes;
	uint64_t	 gone_records;	/* of rings freed this session */
	uint64_t	 gone_lost;
	uint32_t	 threads;
	int		 err;		/* first write error */
	bool		 atexit_set;
} T = { .fd = -1 };

static pthread_mutex_t tlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t ring_key;
static __thread struct ring *my_ring;
static __thread bool my_notrace;	/* exiting, or the writer itself */
static uint32_t clock_kind;		/* KC_TRACE_CLOCK_* of the session */

/* ------------------------------------------------------------------ */
/* Clocks. */

/* CLOCK_REALTIME in ns (the library's monotonic clock is kc__now()). */
static uint64_t
wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t
now_time(void)
{
#if defined(__x86_64__)
	if (clock_kind == KC_TRACE_CLOCK_TSC)
		return __rdtsc();
#endif
	return kc__now();
}

/* Can the timestamp counter stand for time on this machine? */
static bool
tsc_usable(void)
{
#if defined(__x86_64__)
	FILE *f = fopen("/proc/cpuinfo", "re");
	char line[4096];
	bool ok = false;

	if (f == NULL)
		return false;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "flags", 5) != 0)
			continue;
		ok = strstr(line, " constant_tsc") != NULL &&
		    strstr(line, " nonstop_tsc") != NULL;
		break;
	}
	fclose(f);
	return ok;
#else
	return false;
#endif
}

/* Ticks a second, measured over a millisecond (readers refine it). */
static uint64_t
tsc_hz(void)
{
#if defined(__x86_64__)
	uint64_t m0, m1, t0, t1;

	m0 = kc__now();
	t0 = __rdtsc();
	do
		m1 = kc__now();
	while (m1 - m0 < 1000000u);
	t1 = __rdtsc();
	return (uint64_t)((double)(t1 - t0) * 1e9 / (double)(m1 - m0));
#else
	return 0;
#endif
}

/* ------------------------------------------------------------------ */
/* The producer: the traced thread. */

static void ring_exit(void *arg);
static void name_rec(void);

static void
key_make(void)
{
	(void)pthread_key_create(&ring_key, ring_exit);
}

/*
 * The calling thread's ring for the current session, made or taken up
 * again; NULL if tracing is off or memory is short.
 */
static struct ring *
ring_attach(void)
{
	struct ring *r;

	if (my_notrace)
		return NULL;
	(void)pthread_once(&key_once, key_make);
	kc__mtx_lock(&tlock);
	if (!__atomic_load_n(&kc__trace_flag, __ATOMIC_RELAXED)) {
		kc__mtx_unlock(&tlock);
		return NULL;
	}
	if ((r = my_ring) == NULL && (r = calloc(1, sizeof(*r))) == NULL)
		goto fail;
	if (r->r_buf != NULL && r->r_size != T.ring_bytes) {
		free(r->r_buf);
		r->r_buf = NULL;
	}
	if (r->r_buf == NULL &&
	    (r->r_buf = malloc(T.ring_bytes + KC_TRACE_REC_MAX)) == NULL) {
		if (my_ring == NULL)
			free(r);
		goto fail;
	}
	r->r_size = T.ring_bytes;
	r->r_head = r->r_tail_seen = r->r_tail = 0;
	r->r_seq = r->r_dropped = r->r_lost_told = 0;
	r->r_gen = T.gen;
	r->r_tid = (uint32_t)gettid();
	r->r_pid = (uint32_t)getpid();
	r->r_exited = false;
	r->r_listed = true;
	r->r_next = T.rings;
	T.rings = r;
	T.threads++;
	my_ring = r;
	(void)pthread_setspecific(ring_key, r);
	kc__mtx_unlock(&tlock);
	name_rec();
	return r;
fail:
	kc__mtx_unlock(&tlock);
	return NULL;
}

/* The calling thread's ring if it has one for this session, else NULL. */
static inline struct ring *
ring_current(void)
{
	struct ring *r = my_ring;

	if (__builtin_expect(r == NULL ||
	    r->r_gen != __atomic_load_n(&T.gen, __ATOMIC_RELAXED), 0))
		return NULL;
	return r;
}

static inline struct ring *
ring_get(void)
{
	struct ring *r = ring_current();

	return r != NULL ? r : ring_attach();
}

/*
 * Room for a record of len bytes, its header filled; NULL if the ring is
 * full (the drop is counted).  *seqp gets its sequence number either way.
 */
static inline struct kc_trace_rec *
rec_begin(struct ring *r, unsigned type, size_t len, uint64_t *seqp)
{
	struct kc_trace_rec *h;
	uint64_t head = r->r_head, seq = r->r_seq;

	*seqp = seq;
	__atomic_store_n(&r->r_seq, seq + 1, __ATOMIC_RELAXED);
	if (head + len - r->r_tail_seen > r->r_size) {
		r->r_tail_seen = __atomic_load_n(&r->r_tail, __ATOMIC_ACQUIRE);
		if (head + len - r->r_tail_seen > r->r_size) {
			__atomic_store_n(&r->r_dropped, r->r_dropped + 1,
			    __ATOMIC_RELAXED);
			return NULL;
		}
	}
	h = (struct kc_trace_rec *)(void *)(r->r_buf + (head & (r->r_size -
	    1)));
	h->tr_len = (uint16_t)len;
	h->tr_type = (uint16_t)type;
	h->tr_pid = r->r_pid;
	h->tr_tid = r->r_tid;
	h->tr_cpu = (uint32_t)sched_getcpu();
	h->tr_seq = seq;
	h->tr_time = now_time();
	return h;
}

static inline void
rec_commit(struct ring *r, size_t len)
{
	size_t off = (size_t)(r->r_head & (r->r_size - 1));

	/* The part written past the end belongs at the start. */
	if (off + len > r->r_size)
		memcpy(r->r_buf, r->r_buf + r->r_size, off + len - r->r_size);
	__atomic_store_n(&r->r_head, r->r_head + len, __ATOMIC_RELEASE);
}

uint64_t
kc__trace_rec(unsigned type, unsigned n, uint64_t a, uint64_t b, uint64_t c,
    uint64_t d, uint64_t e)
{
	struct ring *r = ring_get();
	struct kc_trace_rec *h;
	size_t len = REC_HDR + (size_t)n * 8;
	uint64_t seq, *p;

	if (r == NULL)
		return 0;
	if ((h = rec_begin(r, type, len, &seq)) != NULL) {
		p = (uint64_t *)(void *)(h + 1);
		switch (n) {
		case 5:
			p[4] = e;
			/* FALLTHROUGH */
		case 4:
			p[3] = d;
			/* FALLTHROUGH */
		case 3:
			p[2] = c;
			/* FALLTHROUGH */
		case 2:
			p[1] = b;
			/* FALLTHROUGH */
		case 1:
			p[0] = a;
			/* FALLTHROUGH */
		default:
			break;
		}
		for (unsigned i = 0; i < n; i++)
			if (p[i] == KC__TR_MYFLOW)
				p[i] = KC_TRACE_FLOW(r->r_tid, seq);
		rec_commit(r, len);
	}
	return KC_TRACE_FLOW(r->r_tid, seq);
}

void
kc__trace_text(unsigned type, const char *text)
{
	struct ring *r = ring_get();
	struct kc_trace_rec *h;
	size_t n, len;
	uint64_t seq;

	if (r == NULL)
		return;
	n = strnlen(text, TEXT_MAX - 1);
	len = REC_HDR + ((n + 1 + 7) & ~(size_t)7);
	if ((h = rec_begin(r, type, len, &seq)) == NULL)
		return;
	memset(h + 1, 0, len - REC_HDR);
	memcpy(h + 1, text, n);
	rec_commit(r, len);
}

/* A THREAD_NAME record of the calling thread's name (its comm). */
static void
name_rec(void)
{
	char name[16];

	if (prctl(PR_GET_NAME, name) != 0)
		return;
	name[15] = '\0';
	kc__trace_text(KC_TR_THREAD_NAME, name);
}

void
kc__trace_thread_named(void)
{
	if (!KC__TRACING())
		return;
	if (ring_current() == NULL)
		(void)ring_get();	/* a new ring records the name */
	else
		name_rec();
}

/* Thread exit: the ring goes to the writer, or away if no session has it. */
static void
ring_exit(void *arg)
{
	struct ring *r = arg;

	if (ring_current() == r)
		(void)KC__TR(KC_TR_THREAD_EXIT, 0, 0, 0, 0, 0, 0);
	my_notrace = true;
	my_ring = NULL;
	kc__mtx_lock(&tlock);
	if (r->r_listed) {
		r->r_exited = true;
		r = NULL;
	}
	kc__mtx_unlock(&tlock);
	if (r != NULL) {
		free(r->r_buf);
		free(r);
	}
}

/* ------------------------------------------------------------------ */
/* The writer.  Everything below runs under tlock. */

static void
out_write(const void *p, size_t n)
{
	const unsigned char *b = p;
	ssize_t w;

	KC__OWNED(&tlock);
	while (n > 0 && T.err == 0) {
		w = write(T.fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			T.err = w < 0 ? errno : EIO;
			return;
		}
		b += w;
		n -= (size_t)w;
		T.bytes += (uint64_t)w;
	}
}

static void
stage_flush(void)
{
	KC__OWNED(&tlock);
	if (T.slen > 0)
		out_write(T.stage, T.slen);
	T.slen = 0;
}

static void
stage_put(const void *p, size_t n)
{
	KC__OWNED(&tlock);
	if (T.slen + n > STAGE_BYTES)
		stage_flush();
	if (n >= STAGE_BYTES) {
		out_write(p, n);
		return;
	}
	memcpy(T.stage + T.slen, p, n);
	T.slen += n;
}

/* The header of a record the writer makes. */
static void
writer_hdr(struct kc_trace_rec *h, size_t len, unsigned type, uint32_t tid,
    uint64_t seq)
{
	h->tr_len = (uint16_t)len;
	h->tr_type = (uint16_t)type;
	h->tr_pid = (uint32_t)getpid();
	h->tr_tid = tid;
	h->tr_cpu = (uint32_t)sched_getcpu();
	h->tr_seq = seq;
	h->tr_time = now_time();
}

/* A record of the writer's own (SYNC), or one it makes for tid (LOSS). */
static void
writer_rec(unsigned type, uint32_t tid, uint64_t seq, uint64_t a, uint64_t b)
{
	struct {
		struct kc_trace_rec h;
		uint64_t p[2];
	} rec;

	writer_hdr(&rec.h, sizeof(rec), type, tid, seq);
	rec.p[0] = a;
	rec.p[1] = b;
	stage_put(&rec, sizeof(rec));
}

/*
 * A clock point: at every drain that found records (the first included),
 * and once a second besides, so that an idle trace stays small.
 */
static void
sync_rec(bool force)
{
	uint64_t t, m;

	KC__OWNED(&tlock);
	if (T.clock != KC_TRACE_CLOCK_TSC)
		return;
	m = kc__now();
	if (!force && m - T.last_sync < 1000000000u)
		return;
	t = now_time();
	writer_rec(KC_TR_SYNC, T.wtid, T.wseq++, t, m);
	T.last_sync = m;
}

/* Anything to write? */
static bool
ring_busy(struct ring *r)
{
	KC__OWNED(&tlock);
	return __atomic_load_n(&r->r_head, __ATOMIC_ACQUIRE) != r->r_tail ||
	    __atomic_load_n(&r->r_dropped, __ATOMIC_RELAXED) != r->r_lost_told;
}

static void
drain_ring(struct ring *r)
{
	uint64_t head = __atomic_load_n(&r->r_head, __ATOMIC_ACQUIRE);
	uint64_t tail = r->r_tail, d;
	size_t off, n;

	KC__OWNED(&tlock);
	while (tail != head) {
		off = (size_t)(tail & (r->r_size - 1));
		n = r->r_size - off;
		if (n > head - tail)
			n = (size_t)(head - tail);
		stage_put(r->r_buf + off, n);
		tail += n;
	}
	__atomic_store_n(&r->r_tail, tail, __ATOMIC_RELEASE);
	d = __atomic_load_n(&r->r_dropped, __ATOMIC_RELAXED);
	if (d != r->r_lost_told) {
		writer_rec(KC_TR_LOSS, r->r_tid, KC_TRACE_SEQ_NONE,
		    d - r->r_lost_told, 0);
		r->r_lost_told = d;
	}
}

static uint64_t
ring_records(const struct ring *r)
{
	KC__OWNED(&tlock);
	return __atomic_load_n(&r->r_seq, __ATOMIC_RELAXED) -
	    __atomic_load_n(&r->r_dropped, __ATOMIC_RELAXED);
}

static void
drain_all(void)
{
	struct ring **rp, *r;
	bool busy;

	KC__OWNED(&tlock);
	busy = T.last_sync == 0;
	for (r = T.rings; r != NULL && !busy; r = r->r_next)
		busy = ring_busy(r);
	sync_rec(busy);
	for (rp = &T.rings; (r = *rp) != NULL;) {
		drain_ring(r);
		if (r->r_exited) {
			/* Its thread is gone and its last record is out. */
			*rp = r->r_next;
			T.gone_records += ring_records(r);
			T.gone_lost += r->r_dropped;
			free(r->r_buf);
			free(r);
			continue;
		}
		rp = &r->r_next;
	}
	stage_flush();
}

/* The writer names itself in the file (it has no ring). */
static void
writer_name(void)
{
	struct {
		struct kc_trace_rec h;
		char name[16];
	} rec;

	memset(&rec, 0, sizeof(rec));
	writer_hdr(&rec.h, sizeof(rec), KC_TR_THREAD_NAME, T.wtid, T.wseq++);
	memcpy(rec.name, "kc-trace", 9);
	stage_put(&rec, sizeof(rec));
}

static void *
writer_main(void *arg)
{
	struct timespec ts;

	(void)arg;
	my_notrace = true;
	(void)prctl(PR_SET_NAME, "kc-trace");
	kc__mtx_lock(&tlock);
	T.wtid = (uint32_t)gettid();
	writer_name();
	while (!T.stopping) {
		drain_all();
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += (long)T.flush_ms * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		(void)kc__cond_timedwait(&T.cv, &tlock, &ts);
	}
	kc__mtx_unlock(&tlock);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* The API. */

static void trace_atexit(void);

static void
fill_header(struct kc_trace_file_header *h)
{
	const char *prog = program_invocation_short_name;

	memset(h, 0, sizeof(*h));
	memcpy(h->th_magic, KC_TRACE_MAGIC, 8);
	h->th_version = KC_TRACE_VERSION;
	h->th_size = sizeof(*h);
	h->th_clock = T.clock;
	h->th_pid = (uint32_t)getpid();
	h->th_start_realtime = wall_ns();
	h->th_start_mono = kc__now();
	h->th_start_time = now_time();
	h->th_tsc_hz = T.clock == KC_TRACE_CLOCK_TSC ? tsc_hz() : 0;
	if (prog != NULL)
		strncpy(h->th_prog, prog, sizeof(h->th_prog) - 1);
}

static int
start_writer(void)
{
	pthread_condattr_t ca;
	pthread_attr_t at;
	sigset_t all, old;
	int rc;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	rc = pthread_cond_init(&T.cv, &ca);
	pthread_condattr_destroy(&ca);
	if (rc != 0)
		return -rc;
	/* The writer takes no signals: they are the program's. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, 64 << 10);
	rc = pthread_create(&T.writer, &at, writer_main, NULL);
	pthread_attr_destroy(&at);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		pthread_cond_destroy(&T.cv);
		return -rc;
	}
	T.writer_up = true;
	return 0;
}

/*
 * The trace file must be a regular file that is new or the caller's own,
 * and nothing about any other path may change: so it is opened without
 * O_TRUNC (and without following a link, and without blocking, which a
 * FIFO with no reader would do), checked on the descriptor, and only then
 * truncated and given mode 0600.  A path that lstat() shows to be something
 * else is refused before it is opened at all, so that opening has no side
 * effect on a device; the checks on the descriptor decide, whatever the
 * path came to name in between.  Returns the descriptor or -errno: EINVAL
 * for a file that is not regular, EPERM for one of another user.
 */
static int
trace_open(const char *path)
{
	struct stat sb;
	int fd, rc;

	if (lstat(path, &sb) == 0) {
		if (S_ISLNK(sb.st_mode))
			return -ELOOP;
		if (!S_ISREG(sb.st_mode))
			return -EINVAL;
		if (sb.st_uid != geteuid())
			return -EPERM;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW |
	    O_NONBLOCK | O_NOCTTY, 0600);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) != 0)
		rc = -errno;
	else if (!S_ISREG(sb.st_mode))
		rc = -EINVAL;
	else if (sb.st_uid != geteuid())
		rc = -EPERM;
	else if (ftruncate(fd, 0) != 0 || fchmod(fd, 0600) != 0 ||
	    fcntl(fd, F_SETFL, 0) != 0)
		rc = -errno;
	else
		return fd;
	close(fd);
	return rc;
}

int
kc_trace_start(const char *path, const struct kc_trace_attr *attr)
{
	struct kc_trace_file_header h;
	size_t ring = RING_DEFAULT;
	int fd, rc;

	if (path == NULL || *path == '\0')
		return -EINVAL;
	if (attr != NULL && attr->ring_bytes != 0) {
		if (attr->ring_bytes > RING_MAX)
			return -EINVAL;
		for (ring = RING_MIN; ring < attr->ring_bytes; ring <<= 1)
			;
	}
	if (attr != NULL && (attr->flags & ~KC_TRACE_MONOTONIC) != 0)
		return -EINVAL;
	kc__mtx_lock(&tlock);
	if (T.fd >= 0) {
		kc__mtx_unlock(&tlock);
		return -EALREADY;
	}
	if ((fd = trace_open(path)) < 0) {
		kc__mtx_unlock(&tlock);
		return fd;
	}
	if (T.stage == NULL && (T.stage = malloc(STAGE_BYTES)) == NULL) {
		close(fd);
		kc__mtx_unlock(&tlock);
		return -ENOMEM;
	}
	T.fd = fd;
	T.ring_bytes = ring;
	T.flush_ms = attr != NULL && attr->flush_ms != 0 ? attr->flush_ms :
	    FLUSH_DEFAULT;
	T.clock = (attr == NULL || !(attr->flags & KC_TRACE_MONOTONIC)) &&
	    tsc_usable() ? KC_TRACE_CLOCK_TSC : KC_TRACE_CLOCK_MONOTONIC;
	clock_kind = T.clock;
	T.err = 0;
	T.bytes = T.gone_records = T.gone_lost = 0;
	T.threads = 0;
	T.wseq = 0;
	T.last_sync = 0;
	T.slen = 0;
	T.stopping = false;
	fill_header(&h);
	out_write(&h, sizeof(h));
	if (T.err != 0 || (rc = start_writer()) != 0) {
		rc = T.err != 0 ? -T.err : rc;
		close(fd);
		T.fd = -1;
		kc__mtx_unlock(&tlock);
		return rc;
	}
	if (!T.atexit_set && atexit(trace_atexit) == 0)
		T.atexit_set = true;
	__atomic_store_n(&T.gen, T.gen + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&kc__trace_flag, 1, __ATOMIC_RELEASE);
	kc__mtx_unlock(&tlock);
	return 0;
}

int
kc_trace_stop(void)
{
	struct ring *r, *next;
	int rc;

	kc__mtx_lock(&tlock);
	if (T.fd < 0) {
		kc__mtx_unlock(&tlock);
		return -ENOENT;
	}
	__atomic_store_n(&kc__trace_flag, 0, __ATOMIC_RELEASE);
	T.stopping = true;
	pthread_cond_signal(&T.cv);
	kc__mtx_unlock(&tlock);
	if (T.writer_up)
		pthread_join(T.writer, NULL);
	kc__mtx_lock(&tlock);
	T.writer_up = false;
	pthread_cond_destroy(&T.cv);
	drain_all();
	for (r = T.rings; r != NULL; r = next) {
		next = r->r_next;
		r->r_listed = false;
		if (r->r_exited) {
			free(r->r_buf);
			free(r);
		}
	}
	T.rings = NULL;
	rc = T.err != 0 ? -T.err : 0;
	if (close(T.fd) != 0 && rc == 0)
		rc = -errno;
	T.fd = -1;
	kc__mtx_unlock(&tlock);
	return rc;
}

int
kc_trace_flush(void)
{
	int rc;

	kc__mtx_lock(&tlock);
	if (T.fd < 0) {
		kc__mtx_unlock(&tlock);
		return -ENOENT;
	}
	drain_all();
	rc = T.err != 0 ? -T.err : 0;
	kc__mtx_unlock(&tlock);
	return rc;
}

int
kc_trace_stats(struct kc_trace_stats *st)
{
	struct ring *r;

	if (st == NULL)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	kc__mtx_lock(&tlock);
	st->records = T.gone_records;
	st->lost = T.gone_lost;
	for (r = T.rings; r != NULL; r = r->r_next) {
		st->records += ring_records(r);
		st->lost += __atomic_load_n(&r->r_dropped, __ATOMIC_RELAXED);
	}
	st->bytes = T.bytes;
	st->threads = T.threads;
	kc__mtx_unlock(&tlock);
	return 0;
}

bool
kc_trace_enabled(void)
{
	return KC__TRACING() != 0;
}

int
kc_trace_thread_name(const char *name)
{
	char n[16];

	if (name == NULL || *name == '\0')
		return -EINVAL;
	snprintf(n, sizeof(n), "%s", name);
	if (prctl(PR_SET_NAME, n) != 0)
		return -errno;
	kc__trace_thread_named();
	return 0;
}

int
kc_trace_user(const char *fmt, ...)
{
	char text[TEXT_MAX];
	va_list ap;

	if (fmt == NULL)
		return -EINVAL;
	if (!KC__TRACING())
		return 0;
	va_start(ap, fmt);
	(void)vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	kc__trace_text(KC_TR_USER, text);
	return 0;
}

/* ------------------------------------------------------------------ */
/* KCONT_TRACE, exit and fork. */

static void
trace_atexit(void)
{
	(void)kc_trace_stop();
}

/*
 * The child is not traced: the file and the writer are the parent's.  The
 * lock is made anew rather than taken before the fork: another library's
 * fork handlers hold their own locks around ours.
 */
static void
trace_child(void)
{
	pthread_mutex_init(&tlock, NULL);
	__atomic_store_n(&kc__trace_flag, 0, __ATOMIC_RELAXED);
	if (T.fd >= 0)
		close(T.fd);
	T.fd = -1;
	T.writer_up = false;
	T.rings = NULL;		/* the parent's threads' rings: not ours */
	T.gen++;
}

/*
 * KCONT_TRACE=FILE: trace this program into FILE, "%p" in it standing for
 * the process id.  The variable is taken out of the environment, so that
 * the programs this one starts do not write over the same file.
 */
__attribute__((constructor)) static void
trace_env(void)
{
	const char *v = getenv("KCONT_TRACE");
	char path[4096];
	size_t o = 0;
	int rc;

	(void)pthread_atfork(NULL, NULL, trace_child);
	if (v == NULL || *v == '\0')
		return;
	for (; *v != '\0' && o < sizeof(path) - 16; v++) {
		if (v[0] == '%' && v[1] == 'p') {
			o += (size_t)snprintf(path + o, sizeof(path) - o, "%d",
			    (int)getpid());
			v++;
		} else {
			path[o++] = *v;
		}
	}
	path[o] = '\0';
	(void)unsetenv("KCONT_TRACE");
	if ((rc = kc_trace_start(path, NULL)) != 0)
		fprintf(stderr, "kcont: KCONT_TRACE=%s: %s\n", path,
		    strerror(-rc));
}
