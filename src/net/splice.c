/*
 * splice.c: splice and tee between owned sockets (kcont/splice.h).
 *
 * A splice is lent the endpoint of every socket it joins (net/socklend.h,
 * net/endpoint.h): their readiness comes here, on the owner, and this file
 * reads and writes the descriptors itself.  Each stream direction moves
 * one region at a time: it fills a pipe from the source with splice(2) (or
 * a chain with read(2) when it copies), tees that region to every mirror,
 * and empties it into the destination before it reads again, so a region
 * is teed exactly once, before it goes out, and the order of bytes never
 * depends on which path carried them.  A direction that cannot write waits
 * for its destination's write edge and does not read meanwhile: the
 * kernel's flow control then slows the source, never a mirror.  Datagram
 * directions are splicedgram.c's.
 *
 * Every entry (an endpoint's event, timer, start, cancel) counts itself
 * in sp_busy; the end of the splice (sockets closed, done run) happens
 * when the last one leaves, so that nothing here touches a splice its done
 * has freed.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/internal.h"
#include "core/list.h"
#include "core/lockdebug.h"
#include "kqueue/kqapi.h"
#include "net/pipe.h"
#include "net/endpoint.h"
#include "net/socklend.h"
#include "net/dgram.h"
#include "net/splice_int.h"
#include <kcont/splice.h>

#define SPLICE_MAGIC	((uintptr_t)0x6b6373706c696365ull)	/* "kcsplice" */
/*
 * A mirror may lag by up to 1 GiB by default: one that reads at a quarter
 * of the primary's pace is then still whole after a 1 GiB upload (it lags
 * by three quarters of it at the end).  The process-wide cap (mm_cap)
 * bounds what all mirrors together hold.
 */
#define DEF_BUDGET	(1ull << 30)
#define MM_CAP_MIN	(64ull << 20)
#define CATCHUP_READS	64	/* reads of a reset client's last bytes */
#define COPY_CHUNK	(256u * 1024u)
#define SMALL_MAX	(64u * 1024u)	/* a copy read this full means bulk */
#define SMALL_RUN	4		/* small spliced regions: copy again */
#define SPILL_SEND	(8u << 20)	/* most one sendfile(2) from a spill */
#define SPILL_TRIM	(2u << 20)	/* sent spill bytes freed in steps:
					   a multiple of any page size */
#define MTAP_READS	16		/* reads of a tapped mirror's replies
					   per readiness event, each */
#define MTAP_CHUNK	(64u * 1024u)	/* at most this: 1 MiB in all */

/* sp_life: the two events after which the splice is freed. */
#define SPL_CLOSING	0x1u	/* kc_splice_close() was called */
#define SPL_CLOSED	0x2u	/* ... and has set sp_cdone */
#define SPL_DONE	0x4u	/* done has run (or could not be run) */

/* The side of d's source and of its destination (kc_splice_end_info()). */
#define SRC_SIDE(d)	((d)->d_idx == FWD ? KC_SPLICE_SIDE_A : KC_SPLICE_SIDE_B)
#define DST_SIDE(d)	((d)->d_idx == FWD ? KC_SPLICE_SIDE_B : KC_SPLICE_SIDE_A)

static kc_fn start_fn, cancel_fn, idle_fn, half_fn, conn_fn, linger_fn;
static kc_fn fire_fn;
static const struct kc__ep_ops splice_ep;
static void mirror_flush(struct kc_splice *sp, struct mirror *m);

/* ------------------------------------------------------------------ */
/* Counting. */

void
kc__stats_add(struct kc_splice_stats *st, struct kc_splice_stats *account,
    size_t off, uint64_t n)
{
	if (n == 0)
		return;
	__atomic_add_fetch((uint64_t *)((char *)st + off), n, __ATOMIC_RELAXED);
	if (account != NULL)
		__atomic_add_fetch((uint64_t *)((char *)account + off), n,
		    __ATOMIC_RELAXED);
}

/*
 * Bytes held for mirrors, process-wide: what every mirror of every splice
 * has been given and its socket has not yet taken (in its pipe or its
 * backlog; a backlog's segments shared with another mirror count for
 * each).  A region is admitted only if it fits under the cap, so held
 * never exceeds it; peak is the highest held has been.
 */
static uint64_t mm_cap;		/* 0: not set yet (the default) */
static uint64_t mm_held;
static uint64_t mm_peak;

/* A quarter of physical memory, at least MM_CAP_MIN. */
static uint64_t
mm_default(void)
{
	long pages = sysconf(_SC_PHYS_PAGES);
	long psize = sysconf(_SC_PAGESIZE);
	uint64_t cap = 0;

	if (pages > 0 && psize > 0)
		cap = (uint64_t)pages * (uint64_t)psize / 4;
	return cap < MM_CAP_MIN ? MM_CAP_MIN : cap;
}

static uint64_t
mm_cap_now(void)
{
	uint64_t cap = __atomic_load_n(&mm_cap, __ATOMIC_RELAXED);
	uint64_t zero = 0;

	if (cap != 0)
		return cap;
	cap = mm_default();
	/* Whoever sets it first wins, kc_splice_mirror_cap() included. */
	if (!__atomic_compare_exchange_n(&mm_cap, &zero, cap, false,
	    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		cap = zero;
	return cap;
}

/* Take n bytes under the cap: false if they do not fit. */
static bool
mm_take(uint64_t n)
{
	uint64_t cap = mm_cap_now();
	uint64_t cur = __atomic_load_n(&mm_held, __ATOMIC_RELAXED);
	uint64_t peak;

	do {
		if (n > cap || cur > cap - n)
			return false;
	} while (!__atomic_compare_exchange_n(&mm_held, &cur, cur + n, true,
	    __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	cur += n;
	peak = __atomic_load_n(&mm_peak, __ATOMIC_RELAXED);
	while (cur > peak && !__atomic_compare_exchange_n(&mm_peak, &peak,
	    cur, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
	return true;
}

static void
mm_give(uint64_t n)
{
	if (n > 0)
		__atomic_sub_fetch(&mm_held, n, __ATOMIC_RELAXED);
}

int
kc_splice_mirror_cap(uint64_t cap)
{
	__atomic_store_n(&mm_cap, cap != 0 ? cap : mm_default(),
	    __ATOMIC_RELAXED);
	return 0;
}

int
kc_splice_mirror_mem(struct kc_mirror_mem *st, unsigned flags)
{
	if (st == NULL || (flags & ~KC_MIRROR_MEM_RESET_PEAK) != 0)
		return -EINVAL;
	st->cap = mm_cap_now();
	st->held = __atomic_load_n(&mm_held, __ATOMIC_RELAXED);
	st->peak = __atomic_load_n(&mm_peak, __ATOMIC_RELAXED);
	if (flags & KC_MIRROR_MEM_RESET_PEAK)
		__atomic_store_n(&mm_peak, st->held, __ATOMIC_RELAXED);
	return 0;
}

void
kc__stats_load(void *dst, const void *src, size_t size)
{
	const uint64_t *from = src;
	uint64_t *to = dst;
	size_t i;

	for (i = 0; i < size / sizeof(uint64_t); i++)
		to[i] = __atomic_load_n(&from[i], __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------ */
/* Entering and leaving. */

/*
 * The splice is freed when both its done has run and it has been closed,
 * by whichever of the two comes second; then the close's done is
 * triggered.
 */
static void
splice_free(struct kc_splice *sp)
{
	struct kc *cdone = sp->sp_cdone;
	uintptr_t name = (uintptr_t)sp;

	(void)kc_cancel_sync(&sp->sp_startkc);
	(void)kc_cancel_sync(&sp->sp_cancelkc);
	(void)kc_cancel_sync(&sp->sp_idlekc);
	(void)kc_cancel_sync(&sp->sp_halfkc);
	(void)kc_cancel_sync(&sp->sp_connkc);
	(void)kc_cancel_sync(&sp->sp_lingerkc);
	sp->sp_magic = 0;
	free(sp);
	kc__close_done(cdone, name);
}

/* done has run: free the splice if it is closed already. */
static void
done_ran(struct kc_splice *sp)
{
	if (__atomic_fetch_or(&sp->sp_life, SPL_DONE, __ATOMIC_ACQ_REL) &
	    SPL_CLOSED)
		splice_free(sp);
}

/*
 * On done's executor (or inline when it has none): run done there, inline,
 * so that when kc_run() returns it has run, and a close from inside it
 * frees the splice only after it has returned.
 */
static void
fire_fn(void *obj, void *env, int status)
{
	struct kc_splice *sp = env;

	(void)obj;
	if (sp->sp_done != NULL)
		(void)kc_run(sp->sp_done, sp, status);
	done_ran(sp);
}

static void
fire(struct kc_splice *sp)
{
	__atomic_store_n(&sp->sp_fired, true, __ATOMIC_RELEASE);
	/* sp may be freed once this is triggered: nothing after it. */
	if (kc_run(&sp->sp_firekc, sp, sp->sp_status) != 0)
		done_ran(sp);	/* done's executor is shut down */
}

static inline void
enter(struct kc_splice *sp)
{
	KC__ON_EXEC(sp->sp_owner);	/* every entry runs on the owner */
	sp->sp_busy++;
}

/*
 * An entry that read bytes notes when: the idle timer then knows how long
 * the splice has really been idle, rather than only whether bytes came in
 * its last whole period (which cut a connection up to twice too late).
 * One clock read per entry that moved bytes, none for the others.
 */
static inline void
leave(struct kc_splice *sp)
{
	if (sp->sp_attr.idle_ns != 0 && sp->sp_moved != sp->sp_seen) {
		sp->sp_seen = sp->sp_moved;
		sp->sp_active = kc__now();
	}
	if (--sp->sp_busy == 0 && sp->sp_ended && sp->sp_mleft == 0 &&
	    !__atomic_load_n(&sp->sp_fired, __ATOMIC_ACQUIRE))
		fire(sp);
}

static bool
connecting(const struct kc_socket *s)
{
	return (kc__ep_state(kc__socket_ep(s)) & KC_SS_CONNECTING) != 0;
}
/* ------------------------------------------------------------------ */
/* Mirrors. */

static void
mirror_event(struct kc_splice *sp, struct mirror *m, int ev, int err)
{
	if (sp->sp_attr.event != NULL)
		sp->sp_attr.event(sp->sp_attr.event_arg, sp, ev,
		    (unsigned)(m - sp->sp_m), err);
}

/* What m holds: its spill file's, its pipe's and its chain's bytes. */
static uint64_t
mirror_len(const struct mirror *m)
{
	return (m->m_spwr - m->m_sprd) + m->m_plen +
	    kc_chain_len(&m->m_back);
}

/* What m still owes its socket: what it holds, and what pacing holds back. */
static uint64_t
mirror_owed(const struct mirror *m)
{
	return mirror_len(m) + kc_chain_len(&m->m_hold);
}

static void
spill_close(struct mirror *m)
{
	if (m->m_spfd >= 0)
		kc__close(m->m_spfd);
	m->m_spfd = -1;
	m->m_sprd = m->m_spwr = m->m_sptrim = 0;
}

static int
spill_open(struct mirror *m)
{
	if (m->m_spfd < 0 &&
	    (m->m_spfd = memfd_create("kcsplice-mirror", MFD_CLOEXEC)) < 0)
		return -errno;
	return 0;
}

/*
 * Move all of m's pipe to the end of its spill file (made now if it has
 * none): 0, or -errno with what did move counted in the file.
 */
static int
spill_pipe(struct mirror *m)
{
	loff_t off;
	ssize_t r;
	int e;

	if ((e = spill_open(m)) != 0)
		return e;
	while (m->m_plen > 0) {
		off = (loff_t)m->m_spwr;
		r = splice(m->m_pipe->p_rd, NULL, m->m_spfd, &off, m->m_plen,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		m->m_plen -= (size_t)r;
		m->m_spwr += (uint64_t)r;
	}
	return 0;
}

/*
 * Move all that m holds to its spill file, in order (its pipe's bytes,
 * then its chain's), so that a spliced region can follow them by tee(2):
 * 0, or -errno with m's order kept (what moved went to the file's end).
 */
static int
spill_all(struct mirror *m)
{
	struct iovec iov[64];
	ssize_t r;
	int e, cnt;

	if (kc_chain_len(&m->m_back) == 0)
		return 0;
	if ((e = spill_pipe(m)) != 0)
		return e;
	while (kc_chain_len(&m->m_back) > 0) {
		cnt = kc_chain_iov(&m->m_back, iov, 64, NULL);
		r = pwritev(m->m_spfd, iov, cnt, (off_t)m->m_spwr);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		(void)kc_chain_drop(&m->m_back, (size_t)r);
		m->m_spwr += (uint64_t)r;
	}
	return 0;
}

/*
 * Free the spill file's pages that its socket has taken, and the file
 * itself once all of it is out.  Only whole aligned steps are punched:
 * punching part of a page (or of a huge one) zeroes that part in place,
 * and the socket may still hold the page for bytes it has not yet
 * delivered.  A whole page punched leaves the file, not the socket.
 */
static void
spill_trim(struct mirror *m)
{
	uint64_t to;

	if (m->m_sprd == m->m_spwr) {
		spill_close(m);
		return;
	}
	to = m->m_sprd & ~(uint64_t)(SPILL_TRIM - 1);
	if (to == m->m_sptrim)
		return;
	if (fallocate(m->m_spfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
	    (off_t)m->m_sptrim, (off_t)(to - m->m_sptrim)) == 0)
		m->m_sptrim = to;
}

/* Give back to the cap what m no longer holds (its socket took it). */
static void
mirror_sync(struct mirror *m)
{
	uint64_t now = mirror_owed(m);

	if (now < m->m_held) {
		mm_give(m->m_held - now);
		m->m_held = now;
	}
}

/*
 * A tapped mirror's replies have not ended: at the end of the splice it
 * stays (draining) for them, after its last bytes.
 */
static bool
tap_waits(const struct mirror *m)
{
	return m->m_tap && !m->m_rdone;
}

/*
 * Let the mirror's socket go: reset (abort) or the socket's own graceful
 * close (it shuts its side, then reads and drops until the mirror ends, for
 * at most its linger time).
 */
static void
mirror_release(struct kc_splice *sp, struct mirror *m, bool abort)
{
	struct kc_socket *s = m->m_sock;

	mm_give(m->m_held);
	m->m_held = 0;
	spill_close(m);
	kc_chain_free(&m->m_hold);
	free(m->m_turns);
	m->m_turns = NULL;
	m->m_t0 = m->m_nt = m->m_tcap = 0;
	m->m_open = 0;
	if (m->m_draining) {
		m->m_draining = false;
		if (--sp->sp_mleft == 0)
			(void)kc_cancel(&sp->sp_lingerkc);
	}
	if (s == NULL)
		return;
	m->m_sock = NULL;
	m->m_ep = NULL;
	(void)kc__socket_lend(s, NULL, NULL);
	if (m->m_pipe != NULL) {
		kc__pipe_put(m->m_pipe, m->m_plen == 0);
		m->m_pipe = NULL;
		m->m_plen = 0;
	}
	kc_chain_free(&m->m_back);
	if (abort)
		kc__socket_close(s, true);
	else
		kc__socket_close(s, false);
}

static void
detach(struct kc_splice *sp, struct mirror *m, int err)
{
	if (m->m_sock == NULL)
		return;
	(void)KC__TR4(KC_TR_MIRROR_DETACH, sp, m - sp->sp_m, (int64_t)err,
	    mirror_owed(m));
	mirror_release(sp, m, true);
	m->m_detached = true;
	m->m_derr = err;
	COUNT(sp, mirror_detached, 1);
	mirror_event(sp, m, KC_SPLICE_EV_MIRROR_DETACHED, err);
}

/*
 * n bytes cannot be given to m (over its budget or the cap, or no memory
 * for them): the drop policy drops them and counts them, and the mirror
 * stays; otherwise it is detached with err.
 */
static void
mirror_lose(struct kc_splice *sp, struct mirror *m, size_t n, int err)
{
	if (sp->sp_attr.mirror_policy != KC_MIRROR_DROP) {
		detach(sp, m, err);
		return;
	}
	COUNT(sp, mirror_dropped, n);
	m->m_dropped += n;
	mirror_sync(m);
	if (!m->m_dropping) {
		m->m_dropping = true;
		mirror_event(sp, m, KC_SPLICE_EV_MIRROR_DROPPING, err);
	}
}

bool
kc__splice_mirror_ready(struct kc_splice *sp, struct mirror *m)
{
	unsigned st;

	if (m->m_sock == NULL)
		return false;
	st = kc__ep_state(m->m_ep);
	if (st & KC_SS_ERROR) {
		detach(sp, m, kc__ep_error(m->m_ep));
		return false;
	}
	if (!(st & KC_SS_CONNECTED) || (st & KC_SS_CONNECTING))
		return false;
	if (!m->m_connected) {
		/* The first time: a mirror that fails later was reachable. */
		m->m_connected = true;
		mirror_event(sp, m, KC_SPLICE_EV_MIRROR_CONNECTED, 0);
	}
	return true;
}

/*
 * One write of m's first held bytes to its socket, from its spill file,
 * its pipe or its chain, whichever holds them: how many, or -errno.
 */
static ssize_t
mirror_write1(struct mirror *m)
{
	uint64_t left = m->m_spwr - m->m_sprd;
	loff_t off = (loff_t)m->m_sprd;
	ssize_t n;

	if (left > 0) {
		n = sendfile(m->m_fd, m->m_spfd, &off,
		    left < SPILL_SEND ? (size_t)left : SPILL_SEND);
		if (n > 0) {
			m->m_sprd += (uint64_t)n;
			spill_trim(m);
		}
	} else if (m->m_plen > 0) {
		n = splice(m->m_pipe->p_rd, NULL, m->m_fd, NULL, m->m_plen,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0)
			m->m_plen -= (size_t)n;
	} else {
		if (m->m_pipe != NULL) {
			kc__pipe_put(m->m_pipe, true);
			m->m_pipe = NULL;
		}
		return kc_chain_write(&m->m_back, m->m_fd);
	}
	return n < 0 ? -errno : n;
}

/* Write what m holds; 0 when all is out, 1 when it must wait, -1 gone. */
static int
mirror_write(struct kc_splice *sp, struct mirror *m)
{
	ssize_t n;

	while (mirror_len(m) > 0) {
		n = mirror_write1(m);
		if (n > 0) {
			m->m_out += (uint64_t)n;
			COUNT(sp, mirrored, (uint64_t)n);
			continue;
		}
		if (n == -EINTR)
			continue;
		if (n == -EAGAIN) {
			kc__ep_want_write(m->m_ep, true);
			return 1;
		}
		detach(sp, m, n < 0 ? (int)n : -EPIPE);
		return -1;
	}
	if (m->m_pipe != NULL) {
		kc__pipe_put(m->m_pipe, true);
		m->m_pipe = NULL;
	}
	return 0;
}

/*
 * Write what m holds.  Once all is out after its source ended, it is shut
 * for writing; after the splice ended, it is then let go (closed).
 */
static void
mirror_flush(struct kc_splice *sp, struct mirror *m)
{
	int r;

	if (!kc__splice_mirror_ready(sp, m))
		return;
	r = mirror_write(sp, m);
	if (r < 0)
		return;
	mirror_sync(m);
	if (r > 0 || kc_chain_len(&m->m_hold) > 0)
		return;		/* more to write, or a turn held back */
	if (m->m_eof && !m->m_shut) {
		m->m_shut = true;
		kc__socket_shutdown(m->m_sock, SHUT_WR);
	}
	if (m->m_draining && !tap_waits(m))
		mirror_release(sp, m, false);
}

/*
 * A tapped mirror's replies: read into memory and lent to attr.mirror_tap,
 * a bounded number of reads at a time; what comes after the tap said
 * stop is thrown away.  Returns as kc__ep_discard() does.
 */
static int
mirror_tap_read(struct kc_splice *sp, struct mirror *m)
{
	struct kc_chain c = KC_CHAIN_INITIALIZER;
	unsigned i;
	ssize_t n;
	int r = -EINPROGRESS;

	for (i = 0; i < MTAP_READS && m->m_tap; i++) {
		n = kc__chain_read(&c, m->m_fd, 0, MTAP_CHUNK, NULL);
		if (n == -EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				m->m_rdone = true;
			r = (int)n;
			break;
		}
		m->m_rin += (uint64_t)n;
		if (sp->sp_attr.mirror_tap(sp->sp_attr.mirror_tap_arg, sp,
		    (unsigned)(m - sp->sp_m), &c, 0, (size_t)n) != 0)
			m->m_tap = false;
		(void)kc_chain_drop(&c, (size_t)n);
	}
	kc_chain_free(&c);
	if (r != -EINPROGRESS)
		return r;
	if (!m->m_tap)
		return kc__ep_discard(m->m_ep);
	kc__ep_read_later(m->m_ep);
	return r;
}

/*
 * What a mirror sends back is read and thrown away, or lent to the mirror
 * tap.
 */
static bool pace_answered(const struct mirror *m);
static void pace_try(struct kc_splice *sp, struct mirror *m);

static void
mirror_input(struct kc_splice *sp, struct mirror *m, int err)
{
	bool ans = m->m_paced && pace_answered(m);
	int r = m->m_tap ? mirror_tap_read(sp, m) : kc__ep_discard(m->m_ep);

	if (ans) {
		/* Only now: an answer to what it is given next comes later. */
		m->m_ans++;
		pace_try(sp, m);
		if (m->m_sock == NULL)
			return;
	}
	if (m->m_draining && !tap_waits(m) && mirror_owed(m) == 0) {
		/* Its replies ended (or the tap stopped): it is done. */
		mirror_release(sp, m, false);
		return;
	}
	if (r == 0 || r == -EINPROGRESS)
		return;		/* it shut its sending side, or more soon */
	if (r != -EAGAIN)
		detach(sp, m, r);
	else if (err != 0)
		detach(sp, m, err);
}

/*
 * The region in d's pipe (n bytes, all of it new) as a chain, for mirrors
 * that cannot take it by tee(2): teed to a scratch pipe and read out.
 */
static int
region_copy(struct kc_splice *sp, struct dir *d, size_t n,
    struct kc_chain *out)
{
	struct kc__pipe *s = kc__pipe_get(d->d_pipe->p_size);
	size_t got = 0;
	ssize_t r;

	if (s == NULL) {
		COUNT(sp, pipe_fallbacks, 1);
		return -ENOBUFS;
	}
	r = tee(d->d_pipe->p_rd, s->p_wr, n, SPLICE_F_NONBLOCK);
	if (r != (ssize_t)n) {
		kc__pipe_put(s, r <= 0);
		return -ENOBUFS;
	}
	while (got < n) {
		r = kc_chain_read(out, s->p_rd, n - got);
		if (r <= 0) {
			kc__pipe_put(s, false);
			kc_chain_free(out);
			return r < 0 ? (int)r : -EIO;
		}
		got += (size_t)r;
	}
	kc__pipe_put(s, true);
	return 0;
}

/*
 * No scratch pipe to be had (the pool is at its limit, say because many
 * lagging mirrors each hold one): read the region out of d's pipe into
 * d's pending chain instead.  The primary then gets it by copy, in the
 * same order (the pending chain goes before the pipe), and the mirrors
 * share its segments.  A mirror is never detached for want of a pipe.
 */
static int
region_take(struct dir *d, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = kc_chain_read(&d->d_pend, d->d_pipe->p_rd,
		    n - got);

		if (r == -EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? (int)r : -EIO;
		got += (size_t)r;
		d->d_plen -= (size_t)r;
	}
	if (d->d_plen == 0) {
		kc__pipe_put(d->d_pipe, true);
		d->d_pipe = NULL;
	}
	return 0;
}

/*
 * May m take n more bytes?  Within its budget and the process's cap they
 * are counted against both; otherwise the policy decides (-ENOBUFS: the
 * budget, -ENOSPC: the cap).
 */
static bool
over_budget(struct kc_splice *sp, struct mirror *m, size_t n)
{
	if (m->m_held + n > sp->sp_attr.mirror_budget) {
		mirror_lose(sp, m, n, -ENOBUFS);
		return true;
	}
	if (!mm_take(n)) {
		mirror_lose(sp, m, n, -ENOSPC);
		return true;
	}
	m->m_held += n;
	m->m_dropping = false;
	return false;
}

/*
 * Tee the region d's pipe holds (n bytes) to m's pipe; when that is full,
 * its bytes go to the end of m's spill file first and the region is teed
 * again (tee(2) always starts at the region's first byte, so those of its
 * bytes that went to the file with the pipe's come off the file's end).
 * Returns how many of the n bytes, from the first, m now holds; the rest
 * go to its chain.
 */
static size_t
tee_mirror(struct kc_splice *sp, struct dir *d, struct mirror *m, size_t n)
{
	ssize_t r, again;

	if (m->m_pipe == NULL &&
	    (m->m_pipe = kc__pipe_get(sp->sp_attr.pipe_size)) == NULL) {
		COUNT(sp, pipe_fallbacks, 1);
		return 0;
	}
	if ((r = tee(d->d_pipe->p_rd, m->m_pipe->p_wr, n,
	    SPLICE_F_NONBLOCK)) < 0)
		r = 0;
	m->m_plen += (size_t)r;
	if ((size_t)r == n || spill_pipe(m) != 0)
		return (size_t)r;
	again = tee(d->d_pipe->p_rd, m->m_pipe->p_wr, n, SPLICE_F_NONBLOCK);
	if (again >= r) {
		m->m_spwr -= (uint64_t)r;
		m->m_plen = (size_t)again;
		return (size_t)again;
	}
	/* An empty pipe took less than a fuller one: drop it and its bytes. */
	if (again > 0) {
		kc__pipe_put(m->m_pipe, false);
		m->m_pipe = NULL;
	}
	return (size_t)r;
}

/* Give the tap n bytes of c from off, read from d's source. */
static void
tap_chain(struct kc_splice *sp, struct dir *d, const struct kc_chain *c,
    size_t off, size_t n)
{
	if (sp->sp_tap_on && n > 0 && sp->sp_attr.tap(sp->sp_attr.tap_arg,
	    sp, (int)d->d_idx, c, off, n) != 0)
		sp->sp_tap_on = false;
}

static void tee_region(struct kc_splice *sp, struct dir *d, size_t n);
static void tee_chain(struct kc_splice *sp, struct kc_chain *c, size_t off,
    size_t n);

/*
 * The region d's pipe holds (n bytes, all of it new) goes to the tap and
 * the mirrors.  The tap gets a copy (tee to a scratch pipe, read out);
 * with no scratch pipe to be had the region is read out of d's pipe into
 * d's pending chain, which the tap and the mirrors then share and the
 * primary gets by copy, in order.
 */
static void
region_out(struct kc_splice *sp, struct dir *d, size_t n)
{
	bool mirrored = d->d_idx == FWD && sp->sp_nm > 0;

	if (sp->sp_tap_on) {
		struct kc_chain copy = KC_CHAIN_INITIALIZER;
		size_t base;

		if (region_copy(sp, d, n, &copy) == 0) {
			tap_chain(sp, d, &copy, 0, n);
			kc_chain_free(&copy);
		} else {
			base = kc_chain_len(&d->d_pend);
			if (region_take(d, n) != 0) {
				/* Nothing read: neither side has the bytes. */
				sp->sp_tap_on = false;
			} else {
				tap_chain(sp, d, &d->d_pend, base, n);
				if (mirrored)
					tee_chain(sp, &d->d_pend, base, n);
				return;
			}
		}
	}
	if (mirrored)
		tee_region(sp, d, n);
}

/* ------------------------------------------------------------------ */
/* Turns (attr.mirror_turns). */

/*
 * May m be given its next bytes?  Before its first give, yes, unless b
 * spoke first; after one, once it has answered since that give was out.
 */
static bool
pace_open(const struct mirror *m)
{
	return m->m_free || m->m_ans != m->m_given;
}

/* Move the first n bytes m holds back to what it sends. */
static int
pace_give(struct kc_splice *sp, struct mirror *m, struct kc_chain *src,
    size_t off, size_t n)
{
	int e;

	if ((e = kc_chain_share(&m->m_back, src, off, n)) != 0)
		return e;
	m->m_free = false;
	m->m_given = m->m_ans;
	m->m_want = m->m_out + mirror_len(m);
	(void)KC__TR3(KC_TR_TEE, sp, m - sp->sp_m, n);
	return 0;
}

/* Give m what it may have now: its next whole turn, or the open one. */
static void
pace_try(struct kc_splice *sp, struct mirror *m)
{
	size_t n;
	bool open;
	int e;

	while (m->m_sock != NULL && kc_chain_len(&m->m_hold) > 0 &&
	    pace_open(m)) {
		open = m->m_nt == 0;
		n = open ? m->m_open : m->m_turns[m->m_t0];
		if ((e = pace_give(sp, m, &m->m_hold, 0, n)) != 0) {
			mirror_lose(sp, m, n, e);
			return;
		}
		(void)kc_chain_drop(&m->m_hold, n);
		if (open) {
			m->m_open = 0;
			m->m_passing = true;
		} else {
			m->m_t0++;
			m->m_nt--;
		}
	}
	mirror_flush(sp, m);
}

/*
 * n bytes of src from off, all of them within m's budget already: on to
 * the mirror when its open turn was given, else held back.
 */
static void
pace_add(struct kc_splice *sp, struct mirror *m, struct kc_chain *src,
    size_t off, size_t n)
{
	int e;

	if (m->m_passing) {
		if ((e = pace_give(sp, m, src, off, n)) != 0)
			mirror_lose(sp, m, n, e);
		else
			mirror_flush(sp, m);
		return;
	}
	if ((e = kc_chain_share(&m->m_hold, src, off, n)) != 0) {
		mirror_lose(sp, m, n, e);
		return;
	}
	m->m_open += n;
	pace_try(sp, m);
}

/* m's open turn has ended: it is a whole turn now, waiting in line. */
static int
pace_close(struct mirror *m)
{
	size_t *t;
	unsigned cap;

	if (m->m_t0 + m->m_nt == m->m_tcap) {
		if (m->m_t0 > 0) {
			memmove(m->m_turns, m->m_turns + m->m_t0,
			    m->m_nt * sizeof(m->m_turns[0]));
			m->m_t0 = 0;
		} else {
			cap = m->m_tcap != 0 ? m->m_tcap * 2 : 16;
			if ((t = realloc(m->m_turns, cap * sizeof(*t))) ==
			    NULL)
				return -ENOMEM;
			m->m_turns = t;
			m->m_tcap = cap;
		}
	}
	m->m_turns[m->m_t0 + m->m_nt++] = m->m_open;
	m->m_open = 0;
	return 0;
}

/* b's replies were read: every paced mirror's open turn has ended. */
static void
pace_boundary(struct kc_splice *sp)
{
	unsigned i;

	for (i = 0; i < sp->sp_nm; i++) {
		struct mirror *m = &sp->sp_m[i];

		if (!m->m_paced || m->m_sock == NULL)
			continue;
		if (m->m_passing)
			m->m_passing = false;
		else if (m->m_open > 0 && pace_close(m) != 0)
			detach(sp, m, -ENOMEM);
		else if (m->m_open == 0 && m->m_free &&
		    kc_chain_len(&m->m_hold) == 0)
			m->m_free = false;	/* b spoke first */
	}
}

/*
 * The mirror is readable: bytes it sends after its last give was all
 * written to its socket answer that give.  Only looked at here:
 * mirror_input() reads and drops them as for any mirror, and then gives
 * the next turn, so that an answer to that turn cannot be among the bytes
 * it drops.
 */
static bool
pace_answered(const struct mirror *m)
{
	char c;

	return m->m_out >= m->m_want &&
	    recv(m->m_fd, &c, 1, MSG_DONTWAIT | MSG_PEEK) == 1;
}

/* Tee the region d's pipe holds (n bytes) to every mirror. */
static void
tee_region(struct kc_splice *sp, struct dir *d, size_t n)
{
	struct kc_chain copy = KC_CHAIN_INITIALIZER;
	struct kc_chain *src = NULL;	/* the region as a chain, once made */
	size_t base = 0;		/* where it starts in *src */
	unsigned i;

	for (i = 0; i < sp->sp_nm; i++) {
		struct mirror *m = &sp->sp_m[i];
		size_t t = 0;
		int e;

		if (m->m_sock == NULL || over_budget(sp, m, n))
			continue;
		if (!m->m_paced && src != &d->d_pend &&
		    kc__splice_mirror_ready(sp, m) && spill_all(m) == 0)
			t = tee_mirror(sp, d, m, n);
		if (m->m_sock == NULL)
			continue;
		if (t < n) {
			if (src == NULL) {
				if (region_copy(sp, d, n, &copy) == 0) {
					src = &copy;
				} else {
					base = kc_chain_len(&d->d_pend);
					if ((e = region_take(d, n)) != 0) {
						mirror_lose(sp, m, n - t, e);
						continue;
					}
					src = &d->d_pend;
				}
			}
			if (m->m_paced) {
				pace_add(sp, m, src, base, n);
				continue;
			}
			if ((e = kc_chain_share(&m->m_back, src, base + t,
			    n - t)) != 0) {
				mirror_lose(sp, m, n - t, e);
				continue;
			}
		}
		(void)KC__TR3(KC_TR_TEE, sp, i, n);
		mirror_flush(sp, m);
	}
	kc_chain_free(&copy);
}

/* Bytes of chain c (n of them, from off) to every mirror. */
static void
tee_chain(struct kc_splice *sp, struct kc_chain *c, size_t off, size_t n)
{
	unsigned i;

	for (i = 0; i < sp->sp_nm; i++) {
		struct mirror *m = &sp->sp_m[i];
		int e;

		if (m->m_sock == NULL || over_budget(sp, m, n))
			continue;
		if (m->m_paced) {
			pace_add(sp, m, c, off, n);
			continue;
		}
		if ((e = kc_chain_share(&m->m_back, c, off, n)) != 0) {
			mirror_lose(sp, m, n, e);
			continue;
		}
		(void)KC__TR3(KC_TR_TEE, sp, i, n);
		mirror_flush(sp, m);
	}
}

/* ------------------------------------------------------------------ */
/* Streams. */

/*
 * The destination took no more: wait for its write edge.  Until then the
 * source's read knote is off (each edge would only wake us to try the full
 * destination again); turning it back on reports what is ready then, and
 * the pump reads on from the source until EAGAIN, so no edge is lost.
 */
static void
dst_full(struct dir *d)
{
	d->d_wblocked = true;
	kc__ep_want_write(d->d_dep, true);
	kc__ep_read_pause(d->d_sep, true);
}

/*
 * Write what d holds to its destination: 1 when all is out, 0 when the
 * destination is full (or still connecting), or the error.
 */
static int
flush(struct kc_splice *sp, struct dir *d)
{
	unsigned st = kc__ep_state(d->d_dep);
	ssize_t n;

	if (st & KC_SS_ERROR)
		return kc__ep_error(d->d_dep);
	if (st & KC_SS_CONNECTING)
		return 0;
	while (kc_chain_len(&d->d_pend) > 0) {
		n = kc_chain_write(&d->d_pend, d->d_dfd);
		if (n > 0) {
			COUNT_DIR(sp, copied, d->d_idx, (uint64_t)n);
			(void)KC__TR4(KC_TR_SPLICE, sp, d->d_idx, 0, n);
			continue;
		}
		if (n == -EINTR)
			continue;
		if (n == -EAGAIN) {
			dst_full(d);
			return 0;
		}
		return n < 0 ? (int)n : -EPIPE;
	}
	while (d->d_plen > 0) {
		n = splice(d->d_pipe->p_rd, NULL, d->d_dfd, NULL, d->d_plen,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0) {
			d->d_plen -= (size_t)n;
			COUNT_DIR(sp, spliced, d->d_idx, (uint64_t)n);
			(void)KC__TR4(KC_TR_SPLICE, sp, d->d_idx, n, 0);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			dst_full(d);
			return 0;
		}
		return n < 0 ? -errno : -EPIPE;
	}
	if (d->d_pipe != NULL) {
		kc__pipe_put(d->d_pipe, true);
		d->d_pipe = NULL;
	}
	return 1;
}

/*
 * Small messages are copied: read(2) and write(2) of a few hundred bytes
 * cost less than two splices and a pipe, and a short read says the socket
 * is drained (a short splice does not: the pipe may have run out of
 * slots), which saves the read that would only say EAGAIN.  A direction
 * starts so; a read that fills SMALL_MAX bytes means bulk, and it splices
 * from then on, until SMALL_RUN small regions in a row bring it back.
 */
static int
fill_small(struct kc_splice *sp, struct dir *d)
{
	size_t got = 0;

	while (got < SMALL_MAX) {
		bool full;
		ssize_t n;

		n = kc__chain_read(&d->d_pend, d->d_sfd, 0, SMALL_MAX - got,
		    &full);
		if (n == -EINTR)
			continue;
		if (n == -EAGAIN)
			break;
		if (n < 0)
			return got > 0 ? 1 : (int)n;
		if (n == 0) {
			d->d_eof = true;
			break;
		}
		got += (size_t)n;
		if (!full) {
			d->d_drained = true;
			break;
		}
	}
	if (got > 0) {
		sp->sp_moved += got;
		tap_chain(sp, d, &d->d_pend, kc_chain_len(&d->d_pend) - got,
		    got);
		if (d->d_idx == FWD && sp->sp_nm > 0)
			tee_chain(sp, &d->d_pend, kc_chain_len(&d->d_pend) - got, got);
		else if (d->d_idx == REV && sp->sp_paced)
			pace_boundary(sp);
	}
	if (got >= SMALL_MAX)
		d->d_small = false;	/* bulk: splice the rest */
	return got > 0 || d->d_eof ? 1 : 0;
}

/* Read the next region: 1 (data or end of file), 0 (nothing yet), error. */
static int
fill(struct kc_splice *sp, struct dir *d)
{
	ssize_t n;

	if (d->d_small && !d->d_copy)
		return fill_small(sp, d);
	if (!d->d_copy) {
		if (d->d_pipe == NULL &&
		    (d->d_pipe = kc__pipe_get(sp->sp_attr.pipe_size)) == NULL) {
			COUNT(sp, pipe_fallbacks, 1);
			goto copy;
		}
		n = splice(d->d_sfd, NULL, d->d_pipe->p_wr, NULL,
		    d->d_pipe->p_size, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0) {
			d->d_plen = (size_t)n;
			sp->sp_moved += (uint64_t)n;
			if ((size_t)n >= SMALL_MAX)
				d->d_smallrun = 0;
			else if (++d->d_smallrun >= SMALL_RUN) {
				d->d_smallrun = 0;
				d->d_small = true;
			}
			region_out(sp, d, (size_t)n);
			if (d->d_idx == REV && sp->sp_paced)
				pace_boundary(sp);
			return 1;
		}
		if (n == 0) {
			d->d_eof = true;
			return 1;
		}
		if (errno == EAGAIN || errno == EINTR) {
			kc__pipe_put(d->d_pipe, true);
			d->d_pipe = NULL;
			return 0;
		}
		if (errno != EINVAL)
			return -errno;
		/* This descriptor cannot be spliced from: copy from now on. */
		kc__pipe_put(d->d_pipe, true);
		d->d_pipe = NULL;
		d->d_copy = true;
	}
copy:
	/*
	 * Into a segment of the default size, or, after a read that filled
	 * what it had, of COPY_CHUNK: bulk moves in few large reads while a
	 * quiet connection holds small segments.
	 */
	n = kc__chain_read(&d->d_pend, d->d_sfd, d->d_bigread ? COPY_CHUNK : 0,
	    COPY_CHUNK, &d->d_bigread);
	if (n > 0) {
		sp->sp_moved += (uint64_t)n;
		tap_chain(sp, d, &d->d_pend,
		    kc_chain_len(&d->d_pend) - (size_t)n, (size_t)n);
		if (d->d_idx == FWD && sp->sp_nm > 0)
			tee_chain(sp, &d->d_pend, kc_chain_len(&d->d_pend) - (size_t)n,
			    (size_t)n);
		else if (d->d_idx == REV && sp->sp_paced)
			pace_boundary(sp);
		return 1;
	}
	if (n == 0) {
		d->d_eof = true;
		return 1;
	}
	if (n == -EAGAIN || n == -EINTR)
		return 0;
	return (int)n;
}

/* The source ended and everything went out: pass the end on. */
static void
dir_finish(struct kc_splice *sp, struct dir *d)
{
	struct dir *o = &sp->sp_dir[d->d_idx ^ 1];
	unsigned i;

	if (d->d_rerr != 0) {
		kc__splice_end(sp, KC_SPLICE_END_RESET, SRC_SIDE(d), d->d_rerr);
		return;
	}
	if (sp->sp_end.fin_first == KC_SPLICE_SIDE_NONE)
		sp->sp_end.fin_first = SRC_SIDE(d);
	d->d_done = true;
	kc__socket_shutdown(d->d_dst, SHUT_WR);
	if (d->d_idx == FWD) {
		for (i = 0; i < sp->sp_nm; i++) {
			sp->sp_m[i].m_eof = true;
			mirror_flush(sp, &sp->sp_m[i]);
		}
	}
	if (o->d_done) {
		kc__splice_end(sp, KC_SPLICE_END_FIN, sp->sp_end.fin_first, 0);
		return;
	}
	if (sp->sp_attr.half_close_ns != 0 &&
	    kc_state(&sp->sp_halfkc) == KC_STATE_IDLE)
		(void)kc_defer_after(&sp->sp_halfkc, sp->sp_attr.half_close_ns,
		    NULL, 0);
}

static void
pump_stream(struct kc_splice *sp, struct dir *d)
{
	int i, r;

	for (i = 0; i < PUMP_BATCH; i++) {
		if (sp->sp_ended || d->d_done)
			return;
		if ((r = flush(sp, d)) <= 0) {
			if (r < 0)
				kc__splice_end(sp, KC_SPLICE_END_RESET,
				    DST_SIDE(d), r);
			return;
		}
		if (d->d_eof) {
			dir_finish(sp, d);
			return;
		}
		if ((r = fill(sp, d)) <= 0) {
			if (r < 0)
				kc__splice_end(sp, KC_SPLICE_END_RESET,
				    SRC_SIDE(d), r);
			else if (d->d_rerr != 0)
				kc__splice_end(sp, KC_SPLICE_END_RESET,
				    SRC_SIDE(d), d->d_rerr);
			return;
		}
		if (d->d_drained && !d->d_eof && d->d_rerr == 0 &&
		    !d->d_rdhup) {
			/*
			 * The socket had no more: write this out and wait
			 * for the next edge rather than read for EAGAIN.
			 */
			d->d_drained = false;
			if ((r = flush(sp, d)) < 0)
				kc__splice_end(sp, KC_SPLICE_END_RESET,
				    DST_SIDE(d), r);
			return;
		}
	}
	/* More may be waiting, and no new edge will say so. */
	kc__ep_read_later(d->d_sep);
}

static void
pump(struct kc_splice *sp, struct dir *d)
{
	if (sp->sp_ended)
		return;
	if (sp->sp_dgram)
		kc__splice_pump_dgram(sp, d);
	else
		pump_stream(sp, d);
}

/* ------------------------------------------------------------------ */
/* The end. */

static void
dir_release(struct dir *d)
{
	if (d->d_pipe != NULL) {
		kc__pipe_put(d->d_pipe, d->d_plen == 0);
		d->d_pipe = NULL;
		d->d_plen = 0;
	}
	kc_chain_free(&d->d_pend);
	kc__splice_dq_free(d);
}

/*
 * The splice ends with a reset (the client's, the upstream's or another
 * error): what the client's socket still holds, the client sent, and the
 * kernel keeps it readable before the error.  The mirrors get it too (the
 * upstream, reset, gets nothing more).  A cancel or a timeout reads no
 * more.
 */
static void
catch_up(struct kc_splice *sp)
{
	struct dir *d = &sp->sp_dir[FWD];
	struct kc_chain c = KC_CHAIN_INITIALIZER;
	int i;

	for (i = 0; i < CATCHUP_READS; i++) {
		bool full;
		ssize_t n = kc__chain_read(&c, d->d_sfd, 0, COPY_CHUNK, &full);

		if (n == -EINTR)
			continue;
		if (n <= 0)
			break;
		sp->sp_moved += (uint64_t)n;
		tap_chain(sp, d, &c, kc_chain_len(&c) - (size_t)n, (size_t)n);
		tee_chain(sp, &c, kc_chain_len(&c) - (size_t)n, (size_t)n);
	}
	kc_chain_free(&c);
}

/*
 * The splice has ended, however it ended: a mirror still gets every byte
 * it was given, then its end of file, and only then is it closed.  One
 * with nothing left goes at once; the others stay lent and drain
 * (done waits for them) as long as they take bytes: one that takes none
 * for its socket's linger time is given up, so that a dead mirror cannot
 * hold the splice for ever, while a slow one still gets everything.
 */
static void
mirror_finish(struct kc_splice *sp, struct mirror *m)
{
	if (m->m_sock == NULL)
		return;
	if (!sp->sp_dgram)
		m->m_eof = true;
	mirror_flush(sp, m);
	if (m->m_sock == NULL)
		return;
	if (mirror_owed(m) == 0 && !tap_waits(m)) {
		mirror_release(sp, m, false);
		return;
	}
	m->m_draining = true;
	sp->sp_mleft++;
}

void
kc__splice_end(struct kc_splice *sp, int how, int side, int status)
{
	uint64_t linger = 0;
	bool reset;
	unsigned i;
	int k;

	if (sp->sp_ended)
		return;
	sp->sp_ended = true;
	sp->sp_status = status;
	if (how == KC_SPLICE_END_RESET && side == KC_SPLICE_SIDE_B &&
	    !sp->sp_bup)
		how = KC_SPLICE_END_CONNECT;
	sp->sp_end.how = how;
	sp->sp_end.side = side;
	sp->sp_end.err = status;
	(void)kc_cancel(&sp->sp_idlekc);
	(void)kc_cancel(&sp->sp_halfkc);
	(void)kc_cancel(&sp->sp_connkc);
	/*
	 * A peer's failure and a cancel are passed on as a reset; a timeout
	 * closes (what was in flight between them is lost either way).
	 */
	reset = status != 0 && status != -ETIMEDOUT;
	if (reset && status != -ECANCELED && !sp->sp_dgram && sp->sp_nm > 0)
		catch_up(sp);
	for (k = 0; k < 2; k++) {
		(void)kc__socket_lend(sp->sp_dir[k].d_src, NULL, NULL);
		dir_release(&sp->sp_dir[k]);
	}
	for (i = 0; i < sp->sp_nm; i++) {
		struct mirror *m = &sp->sp_m[i];

		mirror_finish(sp, m);
		m->m_seen = m->m_out;
		m->m_rseen = m->m_rin;
		if (m->m_draining && m->m_ep->ep_linger_ns > linger)
			linger = m->m_ep->ep_linger_ns;
	}
	sp->sp_linger_ns = linger;
	if (sp->sp_mleft > 0 && kc_defer_after(&sp->sp_lingerkc, linger, NULL,
	    0) != 0) {
		/* No timer, no bound: let them go now. */
		for (i = 0; i < sp->sp_nm; i++)
			if (sp->sp_m[i].m_draining)
				detach(sp, &sp->sp_m[i], -ENOMEM);
	}
	if (reset) {
		kc__socket_close(sp->sp_a, true);
		kc__socket_close(sp->sp_b, true);
	} else {
		kc__socket_close(sp->sp_a, false);
		kc__socket_close(sp->sp_b, false);
	}
	if (sp->sp_busy == 0 && sp->sp_mleft == 0)
		fire(sp);
}

/* ------------------------------------------------------------------ */
/* Events. */

static int
kev_error(const struct kevent *kev)
{
	if (kev != NULL && (kev->flags & EV_EOF) && kev->fflags != 0)
		return -(int)kev->fflags;
	return 0;
}

/*
 * Readiness of one of the splice's endpoints (filter EVFILT_READ or
 * EVFILT_WRITE), or 0: b's connect ended.
 */
static void
on_event(struct kc__ep *ep, struct kc_splice *sp, int filter,
    const struct kevent *kev)
{
	int err = kev_error(kev);
	unsigned i;

	enter(sp);
	if (ep == sp->sp_dir[FWD].d_sep || ep == sp->sp_dir[REV].d_sep) {
		bool isa = ep == sp->sp_dir[FWD].d_sep;
		struct dir *in = &sp->sp_dir[isa ? FWD : REV];
		struct dir *outd = &sp->sp_dir[isa ? REV : FWD];

		if (sp->sp_ended)
			goto out;
		if (filter == EVFILT_READ) {
			if (err != 0 && !sp->sp_dgram)
				in->d_rerr = err;
			if (kev != NULL && (kev->flags & EV_EOF))
				in->d_rdhup = true;
			if (!in->d_wblocked)
				pump(sp, in);
		} else if (filter == EVFILT_WRITE) {
			if (err != 0 && !sp->sp_dgram) {
				kc__splice_end(sp, KC_SPLICE_END_RESET, isa ?
				    KC_SPLICE_SIDE_A : KC_SPLICE_SIDE_B, err);
				goto out;
			}
			if (outd->d_wblocked) {
				outd->d_wblocked = false;
				kc__ep_read_pause(outd->d_sep, false);
			}
			pump(sp, outd);
		} else {
			/* b's connect finished. */
			if (kc__ep_state(ep) & KC_SS_ERROR) {
				kc__splice_end(sp, KC_SPLICE_END_CONNECT,
				    KC_SPLICE_SIDE_B, kc__ep_error(ep));
				goto out;
			}
			sp->sp_bup = true;
			(void)kc_cancel(&sp->sp_connkc);
			pump(sp, &sp->sp_dir[FWD]);
			pump(sp, &sp->sp_dir[REV]);
		}
		goto out;
	}
	for (i = 0; i < sp->sp_nm; i++) {
		struct mirror *m = &sp->sp_m[i];

		if (m->m_sock == NULL || m->m_ep != ep)
			continue;
		if (filter == EVFILT_READ) {
			if (sp->sp_dgram) {
				mirror_input(sp, m, 0);
			} else {
				mirror_input(sp, m, err);
			}
		} else {
			if (err != 0)
				detach(sp, m, err);
			else
				mirror_flush(sp, m);
		}
		break;
	}
out:
	leave(sp);
}

static void
splice_read(struct kc__ep *ep, void *arg, const struct kevent *kev)
{
	on_event(ep, arg, EVFILT_READ, kev);
}

static void
splice_write(struct kc__ep *ep, void *arg, const struct kevent *kev)
{
	on_event(ep, arg, EVFILT_WRITE, kev);
}

static void
splice_connected(struct kc__ep *ep, void *arg, int err)
{
	(void)err;	/* the endpoint's state says it */
	on_event(ep, arg, 0, NULL);
}

static const struct kc__ep_ops splice_ep = {
	.eo_read = splice_read,
	.eo_write = splice_write,
	.eo_connected = splice_connected,
};

static void
start_fn(void *obj, void *env, int status)
{
	struct kc_splice *sp = env;
	struct kc_socket *all[2 + KC_SPLICE_MIRRORS_MAX];
	unsigned i, n = 0, st;
	int k;

	(void)obj;
	(void)status;
	enter(sp);
	all[n++] = sp->sp_a;
	all[n++] = sp->sp_b;
	for (i = 0; i < sp->sp_nm; i++)
		all[n++] = sp->sp_m[i].m_sock;
	for (i = 0; i < n; i++) {
		if (kc__socket_lend(all[i], &splice_ep, sp) != 0) {
			if (i >= 2) {
				detach(sp, &sp->sp_m[i - 2], -EBADF);
				continue;
			}
			kc__splice_end(sp, KC_SPLICE_END_ERROR,
			    KC_SPLICE_SIDE_NONE, -EBADF);
			goto out;
		}
	}
	st = kc__ep_state(sp->sp_dir[REV].d_sep);
	sp->sp_bup = (st & KC_SS_CONNECTED) &&
	    !(st & (KC_SS_CONNECTING | KC_SS_ERROR));
	for (k = 0; k < 2; k++) {
		struct dir *d = &sp->sp_dir[k];

		kc__socket_take_rcv(d->d_src, &d->d_pend);
		if (sp->sp_dgram)
			kc__splice_dg_early(sp, d);
		sp->sp_moved += kc_chain_len(&d->d_pend);
		if (!sp->sp_dgram)
			tap_chain(sp, d, &d->d_pend, 0,
			    kc_chain_len(&d->d_pend));
		if (d->d_idx == FWD && kc_chain_len(&d->d_pend) > 0 &&
		    sp->sp_nm > 0)
			tee_chain(sp, &d->d_pend, 0, kc_chain_len(&d->d_pend));
		else if (d->d_idx == REV && kc_chain_len(&d->d_pend) > 0 &&
		    sp->sp_paced)
			pace_boundary(sp);
		st = kc__ep_state(d->d_sep);
		if (st & KC_SS_ERROR) {
			kc__splice_end(sp, KC_SPLICE_END_RESET, SRC_SIDE(d),
			    kc__ep_error(d->d_sep));
			goto out;
		}
		/* The socket itself read the end of file already, or saw it. */
		if (!sp->sp_dgram && (st & KC_SS_CANTRCVMORE))
			d->d_eof = true;
		d->d_rdhup = kc__ep_rdhup(d->d_sep);
	}
	for (i = 0; i < sp->sp_nm; i++) {
		struct mirror *m = &sp->sp_m[i];
		struct kc_chain junk = KC_CHAIN_INITIALIZER;

		if (m->m_sock == NULL)
			continue;
		kc__socket_take_rcv(m->m_sock, &junk);
		kc_chain_free(&junk);
		mirror_flush(sp, m);
	}
	if (sp->sp_attr.idle_ns != 0) {
		sp->sp_active = kc__now();
		(void)kc_defer_after(&sp->sp_idlekc, sp->sp_attr.idle_ns, NULL,
		    0);
	}
	if (sp->sp_attr.connect_ns != 0 && connecting(sp->sp_b))
		(void)kc_defer_after(&sp->sp_connkc, sp->sp_attr.connect_ns,
		    NULL, 0);
	pump(sp, &sp->sp_dir[FWD]);
	pump(sp, &sp->sp_dir[REV]);
out:
	leave(sp);
}

static void
cancel_fn(void *obj, void *env, int status)
{
	struct kc_splice *sp = env;

	(void)obj;
	(void)status;
	enter(sp);
	kc__splice_end(sp, KC_SPLICE_END_CANCEL, KC_SPLICE_SIDE_NONE,
	    -ECANCELED);
	leave(sp);
}

static void
idle_fn(void *obj, void *env, int status)
{
	struct kc_splice *sp = env;

	(void)obj;
	(void)status;
	enter(sp);
	if (!sp->sp_ended) {
		/* Every entry that read has noted its time on leaving. */
		uint64_t now = kc__now();
		uint64_t idle = now > sp->sp_active ? now - sp->sp_active : 0;

		if (idle >= sp->sp_attr.idle_ns)
			kc__splice_end(sp, KC_SPLICE_END_IDLE_TIMEOUT,
			    KC_SPLICE_SIDE_NONE, -ETIMEDOUT);
		else
			(void)kc_defer_after(&sp->sp_idlekc,
			    sp->sp_attr.idle_ns - idle, NULL, 0);
	}
	leave(sp);
}

static void
half_fn(void *obj, void *env, int status)
{
	struct kc_splice *sp = env;

	(void)obj;
	(void)status;
	enter(sp);
	kc__splice_end(sp, KC_SPLICE_END_HALF_CLOSE_TIMEOUT,
	    sp->sp_end.fin_first, -ETIMEDOUT);
	leave(sp);
}

static void
conn_fn(void *obj, void *env, int status)
{
	struct kc_splice *sp = env;

	(void)obj;
	(void)status;
	enter(sp);
	if (connecting(sp->sp_b))
		kc__splice_end(sp, KC_SPLICE_END_CONNECT_TIMEOUT,
		    KC_SPLICE_SIDE_B, -ETIMEDOUT);
	leave(sp);
}

/*
 * A linger time after the end, or after the last check: a mirror still
 * draining that took nothing meanwhile would not take its last bytes.
 * Under the drop policy they are dropped (counted) and the mirror reset;
 * otherwise it is detached (-ETIMEDOUT).  Mirrors that took bytes go on.
 */
static void
linger_fn(void *obj, void *env, int status)
{
	struct kc_splice *sp = env;
	unsigned i;

	(void)obj;
	(void)status;
	enter(sp);
	for (i = 0; i < sp->sp_nm; i++) {
		struct mirror *m = &sp->sp_m[i];

		if (!m->m_draining)
			continue;
		if (m->m_out != m->m_seen || m->m_rin != m->m_rseen) {
			m->m_seen = m->m_out;
			m->m_rseen = m->m_rin;
			continue;
		}
		if (mirror_owed(m) == 0) {
			/* All given; the tap waited for replies in vain. */
			mirror_release(sp, m, true);
		} else if (sp->sp_attr.mirror_policy == KC_MIRROR_DROP) {
			m->m_dropped += mirror_owed(m);
			COUNT(sp, mirror_dropped, mirror_owed(m));
			mirror_release(sp, m, true);
		} else {
			detach(sp, m, -ETIMEDOUT);
		}
	}
	if (sp->sp_mleft > 0 && kc_defer_after(&sp->sp_lingerkc,
	    sp->sp_linger_ns, NULL, 0) != 0) {
		/* No timer, no bound: let them go now. */
		for (i = 0; i < sp->sp_nm; i++)
			if (sp->sp_m[i].m_draining)
				detach(sp, &sp->sp_m[i], -ENOMEM);
	}
	leave(sp);
}

/* ------------------------------------------------------------------ */
/* The calls. */

static bool
usable(struct kc_socket *s, struct kc_executor *owner, int type)
{
	const struct kc__ep *ep = kc__socket_ep(s);

	return ep != NULL && ep->ep_owner == owner && ep->ep_type == type &&
	    !(kc__ep_state(ep) & (KC_SS_LISTENING | KC_SS_CLOSED));
}
int
kc_splice(struct kc_splice **spp, struct kc_socket *a, struct kc_socket *b,
    struct kc_socket *const *mirrors, unsigned nmirrors,
    const struct kc_splice_attr *attr, struct kc *done)
{
	const struct kc__ep *ep;
	struct kc_executor *owner;
	struct kc_splice *sp;
	unsigned i;
	int type, r;

	if (spp == NULL || a == NULL || b == NULL || a == b ||
	    nmirrors > KC_SPLICE_MIRRORS_MAX || (nmirrors > 0 && mirrors == NULL))
		return -EINVAL;
	if ((ep = kc__socket_ep(a)) == NULL || !kc__exec_soft(ep->ep_owner))
		return -EINVAL;
	owner = ep->ep_owner;
	type = ep->ep_type;
	if (!usable(a, owner, type) || !usable(b, owner, type))
		return -EINVAL;
	for (i = 0; i < nmirrors; i++) {
		unsigned j;

		if (!usable(mirrors[i], owner, type) || mirrors[i] == a ||
		    mirrors[i] == b)
			return -EINVAL;
		for (j = 0; j < i; j++)
			if (mirrors[j] == mirrors[i])
				return -EINVAL;
	}
	if (attr != NULL && attr->mirror_policy != KC_MIRROR_DETACH &&
	    attr->mirror_policy != KC_MIRROR_DROP)
		return -EINVAL;
	if (attr != NULL && (attr->flags & ~KC_SPLICE_COPY) != 0)
		return -EINVAL;
	if (attr != NULL && attr->mirror_turns != 0 && (type == SOCK_DGRAM ||
	    (nmirrors < 32 && (attr->mirror_turns >> nmirrors) != 0)))
		return -EINVAL;
	if ((sp = calloc(1, sizeof(*sp))) == NULL)
		return -ENOMEM;
	if (attr != NULL)
		sp->sp_attr = *attr;
	if (sp->sp_attr.mirror_budget == 0)
		sp->sp_attr.mirror_budget = DEF_BUDGET;
	if (sp->sp_attr.pipe_size == 0)
		sp->sp_attr.pipe_size = kc__pipe_max();
	sp->sp_owner = owner;
	sp->sp_a = a;
	sp->sp_b = b;
	sp->sp_dgram = type == SOCK_DGRAM;
	sp->sp_tap_on = sp->sp_attr.tap != NULL && !sp->sp_dgram;
	sp->sp_done = done;
	for (i = 0; i < 2; i++) {
		struct dir *d = &sp->sp_dir[i];

		d->d_idx = i;
		d->d_src = i == FWD ? a : b;
		d->d_dst = i == FWD ? b : a;
		d->d_sep = kc__socket_ep(d->d_src);
		d->d_dep = kc__socket_ep(d->d_dst);
		d->d_sfd = d->d_sep->ep_fd;
		d->d_dfd = d->d_dep->ep_fd;
		d->d_copy = (sp->sp_attr.flags & KC_SPLICE_COPY) != 0;
		d->d_small = true;
		kc_chain_init(&d->d_pend);
	}
	sp->sp_end.side = sp->sp_end.fin_first = KC_SPLICE_SIDE_NONE;
	sp->sp_nm = nmirrors;
	for (i = 0; i < nmirrors; i++) {
		sp->sp_m[i].m_sock = mirrors[i];
		sp->sp_m[i].m_ep = kc__socket_ep(mirrors[i]);
		sp->sp_m[i].m_fd = sp->sp_m[i].m_ep->ep_fd;
		sp->sp_m[i].m_spfd = -1;
		kc_chain_init(&sp->sp_m[i].m_back);
		kc_chain_init(&sp->sp_m[i].m_hold);
		sp->sp_m[i].m_tap = sp->sp_attr.mirror_tap != NULL &&
		    !sp->sp_dgram;
		if (sp->sp_attr.mirror_turns & (1u << i)) {
			sp->sp_m[i].m_paced = true;
			sp->sp_m[i].m_free = true;
			sp->sp_paced = true;
		}
	}
	if ((r = kc_init(&sp->sp_firekc, fire_fn, sp,
	    done != NULL ? done->kc_exec : NULL, 0)) != 0 ||
	    (r = kc_init(&sp->sp_startkc, start_fn, sp, owner, 0)) != 0 ||
	    (r = kc_init(&sp->sp_cancelkc, cancel_fn, sp, owner, 0)) != 0 ||
	    (r = kc_init(&sp->sp_idlekc, idle_fn, sp, owner, 0)) != 0 ||
	    (r = kc_init(&sp->sp_halfkc, half_fn, sp, owner, 0)) != 0 ||
	    (r = kc_init(&sp->sp_connkc, conn_fn, sp, owner, 0)) != 0 ||
	    (r = kc_init(&sp->sp_lingerkc, linger_fn, sp, owner, 0)) != 0) {
		free(sp);
		return r;
	}
	sp->sp_magic = SPLICE_MAGIC ^ (uintptr_t)sp;
	*spp = sp;
	/* Always queued, so that done never runs before this returns. */
	if ((r = kc_defer(&sp->sp_startkc, NULL, 0)) != 0) {
		sp->sp_magic = 0;
		free(sp);
		*spp = NULL;
		return r;
	}
	return 0;
}

static bool
splice_valid(const struct kc_splice *sp)
{
	return sp != NULL && sp->sp_magic == (SPLICE_MAGIC ^ (uintptr_t)sp);
}

int
kc_splice_cancel(struct kc_splice *sp)
{
	if (!splice_valid(sp))
		return -EINVAL;
	if (__atomic_load_n(&sp->sp_fired, __ATOMIC_ACQUIRE))
		return -EALREADY;
	if (__atomic_exchange_n(&sp->sp_cancelled, true, __ATOMIC_ACQ_REL))
		return 0;
	return kc_defer(&sp->sp_cancelkc, NULL, 0);
}

int
kc_splice_stats(const struct kc_splice *sp, struct kc_splice_stats *st)
{
	if (!splice_valid(sp) || st == NULL)
		return -EINVAL;
	kc__stats_load(st, &sp->sp_st, sizeof(*st));
	return 0;
}

int
kc_splice_end_info(const struct kc_splice *sp, struct kc_splice_end *end)
{
	if (!splice_valid(sp) || end == NULL)
		return -EINVAL;
	/* fire() published everything the owner wrote before done. */
	if (!__atomic_load_n(&sp->sp_fired, __ATOMIC_ACQUIRE))
		return -EBUSY;
	*end = sp->sp_end;
	return 0;
}

int
kc_splice_mirror_stats(const struct kc_splice *sp, unsigned mirror,
    struct kc_splice_mirror_stats *st)
{
	const struct mirror *m;

	if (!splice_valid(sp) || st == NULL || mirror >= sp->sp_nm)
		return -EINVAL;
	if (!__atomic_load_n(&sp->sp_fired, __ATOMIC_ACQUIRE))
		return -EBUSY;
	m = &sp->sp_m[mirror];
	st->written = m->m_out;
	st->dropped = m->m_dropped;
	st->detached = m->m_detached ? 1 : 0;
	st->detach_err = m->m_derr;
	return 0;
}

int
kc_splice_close(struct kc_splice *sp, struct kc *done)
{
	uint32_t life;

	if (!splice_valid(sp))
		return -EINVAL;
	life = __atomic_load_n(&sp->sp_life, __ATOMIC_ACQUIRE);
	do {
		if (life & SPL_CLOSING)
			return -EBADF;
	} while (!__atomic_compare_exchange_n(&sp->sp_life, &life,
	    life | SPL_CLOSING, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
	sp->sp_cdone = done;
	/* Still running: stop now (-EALREADY when it has ended). */
	(void)kc_splice_cancel(sp);
	if (__atomic_fetch_or(&sp->sp_life, SPL_CLOSED, __ATOMIC_ACQ_REL) &
	    SPL_DONE)
		splice_free(sp);
	return 0;
}
