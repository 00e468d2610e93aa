/*
 * net-splice-mirror: a mirror gets every byte the splice read from the
 * client, however the connection ends, within its budget and the process's
 * cap on bytes held for mirrors.
 *
 *   raw client <-> a ==splice== b <-> raw server
 *                        \=> mirror (a raw reader that records and checks)
 *
 *   The client resets: it sends N bytes, waits until its kernel has handed
 *   them all over, and resets (SO_LINGER {1, 0}).  A mirror that reads
 *   slowly, so that it is behind when the reset comes, still receives
 *   exactly the N bytes (checked byte for byte) and then end of file, and
 *   mirrored is N; done gets -ECONNRESET.  The same when the server resets
 *   after it has read the N bytes (and the client's end of file), and when
 *   the splice is cancelled once the server has the N bytes.  Each case
 *   runs several times: whether the mirror is behind at the end is a race.
 *
 *   A mirror that never reads is given up once it has taken nothing for
 *   its socket's linger time after the end (detached with -ETIMEDOUT, or
 *   under KC_MIRROR_DROP reset with its last bytes counted as dropped), so
 *   that done runs; a slow one that keeps reading is never given up.
 *
 *   KC_MIRROR_DROP with many splices at once, each with a mirror that does
 *   not read: more mirrors hold pipes than the pipe pool has room for, yet
 *   no mirror is detached; once the mirrors read, each gets what was kept
 *   and end of file, and per splice mirrored + mirror_dropped is what the
 *   client sent.
 *
 *   The process-wide cap (kc_splice_mirror_cap() of 3 MiB), with mirrors
 *   that do not read and the default budget: the bytes held for mirrors
 *   never pass the cap (the gauge's peak), and past it the policy acts:
 *   drop (counted; mirrored + mirror_dropped is the flow per splice) or
 *   detach (-ENOSPC).  Nothing is held once the splices are done.
 *
 *   The default budget: a mirror that reads at a quarter of the server's
 *   pace receives a large upload whole (64 MiB, 16 MiB under sanitizers;
 *   KC_MIRROR_UPLOAD_MIB sets it, for measuring by hand), nothing dropped
 *   or detached.
 *
 *   What a mirror that does not read holds past its pipe: small writes
 *   (copied regions) and bulk ones (spliced regions) in turn, while the
 *   server takes each phase whole.  The bulk is held in a spill file (one
 *   memfd while it holds, none once the splice is done), and when the
 *   mirror reads at last it gets every byte in order.  The same again with
 *   memfd_create(2) failing (a seccomp filter, installed last: it stays for
 *   the process): the mirror still gets every byte, from the heap.
 */
#include "splicetest.h"

#include <dirent.h>
#include <errno.h>
#include <linux/sockios.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Wait (bounded) until the kernel has sent all that fd was given. */
static void
wait_sent(int fd)
{
	int outq = -1;

	KCT_WAIT(ioctl(fd, SIOCOUTQ, &outq) == 0 && outq == 0, NT_WAIT_S);
}

static void
mirror_peer(struct st_peer *m, int fd, uint64_t sid, uint64_t len)
{
	memset(m, 0, sizeof(*m));
	m->name = "mirror";
	m->fd = fd;
	m->recv_sid = sid;
	m->recv_len = len;
}

/*
 * One TCP splice with one mirror that holds (does not read until told),
 * and the client and server peers that send and take flow bytes through
 * it.  budget 0 leaves the library's default.
 */
static void
held_open(struct st_sp *s, struct st_peer *cl, struct st_peer *sv,
    struct st_peer *mi, struct kc_executor *ex, uint64_t flow,
    uint64_t budget, int policy)
{
	memset(s, 0, sizeof(*s));
	s->ex = ex;
	s->ka = s->kb = s->km = NT_TCP4;
	s->nm = 1;
	s->mkind[0] = ST_M_SMALL;
	s->attr.mirror_budget = budget;
	s->attr.mirror_policy = policy;
	st_sp_open(s, true);
	memset(cl, 0, sizeof(*cl));
	cl->name = "client";
	cl->fd = s->client;
	cl->send_sid = st_sid();
	cl->send_len = flow;
	cl->shut_after = true;
	memset(sv, 0, sizeof(*sv));
	sv->name = "server";
	sv->fd = s->server;
	sv->recv_sid = cl->send_sid;
	sv->recv_len = flow;
	sv->shut_after = true;
	mirror_peer(mi, s->mirror[0], cl->send_sid, flow);
	mi->recv_any = true;		/* what it drops leaves holes */
	atomic_store(&mi->hold, 1);
}

/* The mirror got exactly len bytes of the stream, then end of file. */
static void
check_mirror(struct st_peer *m, uint64_t len, const struct kc_splice_stats *st)
{
	KC_CHECK(atomic_load(&m->ended));
	if (atomic_load(&m->rcvd) != len || atomic_load(&m->end) != 0)
		kct_fail(__FILE__, __LINE__, "the mirror got %llu of %llu "
		    "bytes and its connection ended with %d",
		    (unsigned long long)atomic_load(&m->rcvd),
		    (unsigned long long)len, atomic_load(&m->end));
	KC_CHECK_EQ(st->mirrored, len);
	KC_CHECK_EQ(st->mirror_dropped, 0);
	KC_CHECK_EQ(st->mirror_detached, 0);
}

enum how_end { END_CLIENT_RESET, END_SERVER_RESET, END_CANCEL };

static const char *const how_name[] = {
	"the client resets", "the server resets", "kc_splice_cancel()"
};

/* One connection that ends as how says, with a mirror behind. */
static void
ends_once(struct kc_executor *ex, enum how_end how, uint64_t n)
{
	struct kc_splice_stats st;
	struct st_peer sv, mi;
	struct st_sp s;
	uint64_t sid = st_sid();
	long base = kc_socket_count();
	int status;

	memset(&s, 0, sizeof(s));
	s.ex = ex;
	s.ka = s.kb = s.km = NT_TCP4;
	s.nm = 1;
	s.mkind[0] = ST_M_SMALL;
	s.attr.mirror_budget = 4 * n;
	st_sp_open(&s, true);

	memset(&sv, 0, sizeof(sv));
	sv.name = "server";
	sv.fd = s.server;
	sv.recv_sid = sid;
	sv.recv_len = n;
	sv.recv_any = how == END_CLIENT_RESET;	/* it may be reset first */
	/* Slow: 16 KiB every millisecond, so it is behind at the end. */
	mirror_peer(&mi, s.mirror[0], sid, n);
	mi.read_chunk = 16384;
	mi.read_pause_ns = KCT_NSEC_PER_MSEC;
	st_peer_start(&sv);
	st_peer_start(&mi);

	st_raw_write(s.client, sid, 0, (size_t)n);
	switch (how) {
	case END_CLIENT_RESET:
		wait_sent(s.client);
		nt_raw_reset(s.client);
		s.client = -1;
		break;
	case END_SERVER_RESET:
		KC_CHECK_OK(shutdown(s.client, SHUT_WR));
		/* It has everything and the end of file: then the reset. */
		st_peer_join(&sv);
		KC_CHECK_EQ(atomic_load(&sv.rcvd), n);
		nt_raw_reset(s.server);
		s.server = -1;
		break;
	case END_CANCEL:
		KCT_WAIT(atomic_load(&sv.rcvd) == n, NT_WAIT_S);
		KC_CHECK_OK(kc_splice_cancel(s.sp));
		break;
	}
	status = st_sp_wait(&s);
	st_peer_join(&mi);
	if (how != END_SERVER_RESET)
		st_peer_join(&sv);
	st_sp_stats(&s, &st);
	KC_CHECK_EQ(st.spliced[KC_SPLICE_FWD] + st.copied[KC_SPLICE_FWD] <= n,
	    1);
	switch (how) {
	case END_CLIENT_RESET:
	case END_SERVER_RESET:
		KC_CHECK_EQ(status, -ECONNRESET);
		break;
	case END_CANCEL:
		KC_CHECK_EQ(status, -ECANCELED);
		break;
	}
	check_mirror(&mi, n, &st);
	st_sp_close(&s);
	nt_wait_count(base);
}

static void
ends(struct kc_executor *ex, enum how_end how)
{
	uint64_t n = kct_sanitized() ? 512 * 1024 : 2 * ST_MIB;
	unsigned i, runs = kct_sanitized() ? 3 : 8;

	if (!st_want("%s with a mirror behind", how_name[how]))
		return;
	for (i = 0; i < runs; i++)
		ends_once(ex, how, n + i * 4099);
}

/*
 * A mirror that never reads: after the end it takes nothing for its linger
 * time (200 ms here) and is given up, so done runs: detached with
 * -ETIMEDOUT, or under KC_MIRROR_DROP reset with what it held counted as
 * dropped (mirrored + mirror_dropped = what the client sent).
 */
static void
dead_mirror(struct kc_executor *ex, int policy)
{
	struct kc_splice_stats st;
	struct kc_splice_mirror_stats ms;
	struct st_peer cl, sv, mi;
	struct st_sp s;
	uint64_t n = 4 * ST_MIB;
	long base = kc_socket_count();

	if (!st_want("a mirror that never reads is let go at the end, %s",
	    policy == KC_MIRROR_DROP ? "KC_MIRROR_DROP" : "KC_MIRROR_DETACH"))
		return;
	memset(&s, 0, sizeof(s));
	s.ex = ex;
	s.ka = s.kb = s.km = NT_TCP4;
	s.nm = 1;
	s.mkind[0] = ST_M_SMALL;
	s.linger_ns = 200 * KCT_NSEC_PER_MSEC;
	s.attr.mirror_policy = policy;
	st_sp_open(&s, true);
	memset(&cl, 0, sizeof(cl));
	cl.name = "client";
	cl.fd = s.client;
	cl.send_sid = st_sid();
	cl.send_len = n;
	cl.shut_after = true;
	memset(&sv, 0, sizeof(sv));
	sv.name = "server";
	sv.fd = s.server;
	sv.recv_sid = cl.send_sid;
	sv.recv_len = n;
	sv.shut_after = true;
	mirror_peer(&mi, s.mirror[0], cl.send_sid, n);
	mi.recv_any = true;
	atomic_store(&mi.hold, 1);
	st_peer_start(&mi);
	st_peer_start(&sv);
	st_peer_start(&cl);
	st_peer_join(&cl);
	st_peer_join(&sv);
	st_peer_check_whole(&cl);
	st_peer_check_whole(&sv);
	/* done runs while the mirror still reads nothing. */
	KC_CHECK_EQ(st_sp_wait(&s), 0);
	KC_CHECK_EQ(atomic_load(&mi.rcvd), 0);
	st_sp_stats(&s, &st);
	st_stats_print("dead mirror", &st);
	st_sp_mirror(&s, 0, &ms);
	KC_CHECK_EQ(ms.written, st.mirrored);
	KC_CHECK_EQ(ms.dropped, st.mirror_dropped);
	if (policy == KC_MIRROR_DROP) {
		KC_CHECK_EQ(st.mirror_detached, 0);
		KC_CHECK_EQ(st.mirrored + st.mirror_dropped, n);
		KC_CHECK_EQ(ms.detached, 0);
	} else {
		KC_CHECK_EQ(st.mirror_detached, 1);
		KC_CHECK_EQ(atomic_load(
		    &s.ev.err[KC_SPLICE_EV_MIRROR_DETACHED]), -ETIMEDOUT);
		KC_CHECK_EQ(ms.detached, 1);
		KC_CHECK_EQ(ms.detach_err, -ETIMEDOUT);
	}
	atomic_store(&mi.hold, 0);
	st_peer_join(&mi);
	KC_CHECK_LE(atomic_load(&mi.rcvd), st.mirrored);
	st_sp_close(&s);
	nt_wait_count(base);
}

/* ---- KC_MIRROR_DROP with more lagging mirrors than the pipe pool holds */

#define DROP_SPLICES	40

static void
drop_many(struct kc_executor *ex)
{
	static struct st_sp s[DROP_SPLICES];
	static struct st_peer cl[DROP_SPLICES], sv[DROP_SPLICES],
	    mi[DROP_SPLICES];
	struct kc_splice_stats st;
	uint64_t flow = kct_sanitized() ? ST_MIB : 4 * ST_MIB;
	long base = kc_socket_count();
	unsigned i;

	if (!st_want("KC_MIRROR_DROP: %u splices, mirrors that do not read",
	    DROP_SPLICES))
		return;
	for (i = 0; i < DROP_SPLICES; i++)
		held_open(&s[i], &cl[i], &sv[i], &mi[i], ex, flow,
		    2 * ST_MIB, KC_MIRROR_DROP);
	for (i = 0; i < DROP_SPLICES; i++) {
		st_peer_start(&mi[i]);
		st_peer_start(&sv[i]);
		st_peer_start(&cl[i]);
	}
	for (i = 0; i < DROP_SPLICES; i++) {
		st_peer_join(&cl[i]);
		st_peer_join(&sv[i]);
		st_peer_check_whole(&cl[i]);
		st_peer_check_whole(&sv[i]);
	}
	/* Every primary is done while no mirror has read a byte. */
	for (i = 0; i < DROP_SPLICES; i++) {
		KC_CHECK_EQ(atomic_load(&mi[i].rcvd), 0);
		KC_CHECK_EQ(atomic_load(&s[i].ev.n[KC_SPLICE_EV_MIRROR_DETACHED]),
		    0);
		atomic_store(&mi[i].hold, 0);
	}
	for (i = 0; i < DROP_SPLICES; i++) {
		st_peer_join(&mi[i]);
		KC_CHECK_EQ(st_sp_wait(&s[i]), 0);
		st_sp_stats(&s[i], &st);
		if (i == 0)
			st_stats_print("drop", &st);
		KC_CHECK_EQ(st.mirror_detached, 0);
		KC_CHECK_EQ(atomic_load(&s[i].ev.n[KC_SPLICE_EV_MIRROR_DETACHED]),
		    0);
		/* What it was given, then end of file. */
		KC_CHECK_EQ(atomic_load(&mi[i].end), 0);
		KC_CHECK_EQ(atomic_load(&mi[i].rcvd), st.mirrored);
		KC_CHECK_EQ(st.mirrored + st.mirror_dropped, flow);
		st_sp_close(&s[i]);
	}
	nt_wait_count(base);
}

/* ---- the process-wide cap ---- */

#define CAP_SPLICES	6

/*
 * Mirrors that do not read, a budget far above the flow, and a cap of
 * 3 MiB for the process: what all mirrors hold never passes the cap (its
 * peak is checked), the primaries are whole, and past the cap the policy
 * acts: drops (counted, nothing detached, mirrored + dropped = the flow
 * per splice) or detaches (-ENOSPC).  Nothing is held afterwards.
 */
static void
cap_holds(struct kc_executor *ex, int policy)
{
	static struct st_sp s[CAP_SPLICES];
	static struct st_peer cl[CAP_SPLICES], sv[CAP_SPLICES],
	    mi[CAP_SPLICES];
	const uint64_t cap = 3 * ST_MIB;
	struct kc_mirror_mem mm;
	struct kc_splice_stats st;
	uint64_t flow = kct_sanitized() ? 2 * ST_MIB : 8 * ST_MIB;
	uint64_t dropped = 0, detached = 0;
	long base = kc_socket_count();
	unsigned i;

	if (!st_want("the cap, %s", policy == KC_MIRROR_DROP ?
	    "KC_MIRROR_DROP" : "KC_MIRROR_DETACH"))
		return;
	KC_CHECK_OK(kc_splice_mirror_cap(cap));
	KC_CHECK_OK(kc_splice_mirror_mem(&mm, KC_MIRROR_MEM_RESET_PEAK));
	KC_CHECK_EQ(mm.cap, cap);
	KC_CHECK_EQ(mm.held, 0);
	for (i = 0; i < CAP_SPLICES; i++)	/* the default budget: 0 */
		held_open(&s[i], &cl[i], &sv[i], &mi[i], ex, flow, 0, policy);
	for (i = 0; i < CAP_SPLICES; i++) {
		st_peer_start(&mi[i]);
		st_peer_start(&sv[i]);
		st_peer_start(&cl[i]);
	}
	for (i = 0; i < CAP_SPLICES; i++) {
		st_peer_join(&cl[i]);
		st_peer_join(&sv[i]);
		st_peer_check_whole(&cl[i]);
		st_peer_check_whole(&sv[i]);
	}
	KC_CHECK_OK(kc_splice_mirror_mem(&mm, 0));
	printf("    mirrors hold %llu bytes, peak %llu, cap %llu\n",
	    (unsigned long long)mm.held, (unsigned long long)mm.peak,
	    (unsigned long long)mm.cap);
	KC_CHECK_LE(mm.peak, cap);
	KC_CHECK_GT(mm.peak, 0);
	for (i = 0; i < CAP_SPLICES; i++)
		atomic_store(&mi[i].hold, 0);
	for (i = 0; i < CAP_SPLICES; i++) {
		st_peer_join(&mi[i]);
		KC_CHECK_EQ(st_sp_wait(&s[i]), 0);
		st_sp_stats(&s[i], &st);
		dropped += st.mirror_dropped;
		detached += st.mirror_detached;
		KC_CHECK_LE(atomic_load(&mi[i].rcvd), st.mirrored);
		if (policy == KC_MIRROR_DROP) {
			KC_CHECK_EQ(st.mirror_detached, 0);
			KC_CHECK_EQ(atomic_load(&mi[i].end), 0);
			KC_CHECK_EQ(atomic_load(&mi[i].rcvd), st.mirrored);
			KC_CHECK_EQ(st.mirrored + st.mirror_dropped, flow);
		} else {
			KC_CHECK_EQ(st.mirror_dropped, 0);
			if (st.mirror_detached != 0)
				KC_CHECK_EQ(atomic_load(&s[i].ev.err[
				    KC_SPLICE_EV_MIRROR_DETACHED]), -ENOSPC);
		}
		st_sp_close(&s[i]);
	}
	printf("    dropped %llu, detached %llu\n",
	    (unsigned long long)dropped, (unsigned long long)detached);
	/* 6 x the flow cannot fit in 3 MiB: the policy acted. */
	if (policy == KC_MIRROR_DROP)
		KC_CHECK_GT(dropped, 0);
	else
		KC_CHECK_GT(detached, 0);
	nt_wait_count(base);
	KC_CHECK_OK(kc_splice_mirror_mem(&mm, 0));
	KC_CHECK_EQ(mm.held, 0);
	KC_CHECK_LE(mm.peak, cap);
	KC_CHECK_OK(kc_splice_mirror_cap(0));
}

/* ---- the default budget and a mirror at a quarter of the pace ---- */

static void
quarter_pace(struct kc_executor *ex)
{
	struct kc_splice_stats st;
	struct st_peer cl, sv, mi;
	struct st_sp s;
	uint64_t up;
	const char *env = getenv("KC_MIRROR_UPLOAD_MIB");
	long base = kc_socket_count();
	struct timespec t0, t1;

	up = (kct_sanitized() ? 16 : 64) * (uint64_t)ST_MIB;
	if (env != NULL && atoi(env) > 0)
		up = (uint64_t)atoi(env) * ST_MIB;
	if (!st_want("the default budget: a mirror at a quarter of the "
	    "server's pace, %llu MiB", (unsigned long long)(up / ST_MIB)))
		return;
	memset(&s, 0, sizeof(s));
	s.ex = ex;
	s.ka = s.kb = s.km = NT_TCP4;
	s.nm = 1;
	st_sp_open(&s, true);
	memset(&cl, 0, sizeof(cl));
	cl.name = "client";
	cl.fd = s.client;
	cl.send_sid = st_sid();
	cl.send_len = up;
	cl.shut_after = true;
	memset(&sv, 0, sizeof(sv));
	sv.name = "server";
	sv.fd = s.server;
	sv.recv_sid = cl.send_sid;
	sv.recv_len = up;
	sv.shut_after = true;
	sv.read_chunk = 256 * 1024;
	sv.read_pause_ns = KCT_NSEC_PER_MSEC;
	mirror_peer(&mi, s.mirror[0], cl.send_sid, up);
	mi.read_chunk = 64 * 1024;
	mi.read_pause_ns = KCT_NSEC_PER_MSEC;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	st_peer_start(&mi);
	st_peer_start(&sv);
	st_peer_start(&cl);
	st_peer_join(&cl);
	st_peer_join(&sv);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("    primary done in %.2f s; the mirror has %llu MiB\n",
	    (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
	    (unsigned long long)(atomic_load(&mi.rcvd) / ST_MIB));
	st_peer_join(&mi);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("    mirror done in %.2f s\n",
	    (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	st_peer_check_whole(&cl);
	st_peer_check_whole(&sv);
	st_peer_check_whole(&mi);
	KC_CHECK_EQ(st_sp_wait(&s), 0);
	st_sp_stats(&s, &st);
	st_stats_print("quarter pace", &st);
	check_mirror(&mi, up, &st);
	st_sp_close(&s);
	nt_wait_count(base);
}

/* ---- held bytes past the mirror's pipe ---- */

/* Spill files this process has open. */
static int
spill_files(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	char path[300], to[256];
	ssize_t n;
	int found = 0;

	KC_CHECK(d != NULL);
	while ((e = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		n = readlink(path, to, sizeof(to) - 1);
		if (n <= 0)
			continue;
		to[n] = '\0';
		if (strstr(to, "memfd:kcsplice-mirror") != NULL)
			found++;
	}
	closedir(d);
	return found;
}

#define SPILL_PHASES	2
#define SPILL_SMALL	16		/* small writes a phase, */
#define SPILL_SMALL_LEN	300		/* of this many bytes */
#define SPILL_BULK	(8 * ST_MIB)	/* then one bulk write */

static void
spill(struct kc_executor *ex, bool no_memfd)
{
	struct kc_splice_stats st;
	struct st_peer cl, sv, mi;
	struct st_sp s;
	uint64_t flow = (SPILL_PHASES + 1) * SPILL_SMALL * SPILL_SMALL_LEN +
	    SPILL_PHASES * (uint64_t)SPILL_BULK;
	uint64_t off = 0;
	long base = kc_socket_count();
	int k, j;

	if (!st_want("a mirror that does not read, small and bulk writes in "
	    "turn%s", no_memfd ? ", memfd_create() failing" : ""))
		return;
	if (no_memfd)
		kct_deny_syscall(SYS_memfd_create, EMFILE);
	held_open(&s, &cl, &sv, &mi, ex, flow, 0, KC_MIRROR_DETACH);
	mi.recv_any = false;	/* nothing is dropped: check every byte */
	st_peer_start(&sv);
	st_peer_start(&mi);
	for (k = 0; k <= SPILL_PHASES; k++) {
		for (j = 0; j < SPILL_SMALL; j++) {
			st_raw_write(s.client, cl.send_sid, off,
			    SPILL_SMALL_LEN);
			off += SPILL_SMALL_LEN;
			kct_sleep_ns(2 * KCT_NSEC_PER_MSEC);
		}
		if (k == SPILL_PHASES)
			break;
		st_raw_write(s.client, cl.send_sid, off, SPILL_BULK);
		off += SPILL_BULK;
		KCT_WAIT(atomic_load(&sv.rcvd) == off, NT_WAIT_S);
		KC_CHECK_EQ(spill_files(), no_memfd ? 0 : 1);
	}
	KC_CHECK_EQ(off, flow);
	KC_CHECK_OK(shutdown(s.client, SHUT_WR));
	st_peer_join(&sv);
	atomic_store(&mi.hold, 0);
	st_peer_join(&mi);
	st_peer_check_whole(&sv);
	st_peer_check_whole(&mi);
	KC_CHECK_EQ(st_sp_wait(&s), 0);
	st_sp_stats(&s, &st);
	st_stats_print(no_memfd ? "no spill file" : "spill file", &st);
	/* Both kinds of region came, so both orders were tried. */
	KC_CHECK(st.copied[KC_SPLICE_FWD] > 0);
	KC_CHECK(st.spliced[KC_SPLICE_FWD] > 0);
	check_mirror(&mi, flow, &st);
	KC_CHECK_EQ(spill_files(), 0);
	st_sp_close(&s);
	nt_wait_count(base);
}

int
main(void)
{
	struct kc_executor *ex;
	long base;

	kct_begin("net-splice-mirror", 600);
	st_init();
	base = kc_socket_count();
	ex = kct_exec_soft("splice-mirror");

	ends(ex, END_CLIENT_RESET);
	ends(ex, END_SERVER_RESET);
	ends(ex, END_CANCEL);
	dead_mirror(ex, KC_MIRROR_DETACH);
	dead_mirror(ex, KC_MIRROR_DROP);
	drop_many(ex);
	cap_holds(ex, KC_MIRROR_DROP);
	cap_holds(ex, KC_MIRROR_DETACH);
	quarter_pace(ex);
	spill(ex, false);
	spill(ex, true);	/* last: its filter stays */

	nt_wait_count(base);
	kct_exec_finish(ex);
	return kct_done();
}
