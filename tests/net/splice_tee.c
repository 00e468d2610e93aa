/*
 * net-splice-tee: what a sends is teed to mirrors.
 *
 *   raw client <-> a ==splice== b <-> raw server
 *                        \=> mirrors (kc sockets connected to raw listeners)
 *
 * Every mirror is created and kc_socket_connect()ed while the owner is held,
 * so it is still connecting when kc_splice() is called.
 *
 *   1, 2 and 3 mirrors (TCP mirrors of TCP, UNIX mirrors of TCP over ::1,
 *   UNIX mirrors of UNIX), with a budget above the stream's length: every
 *   mirror receives exactly the client's stream (8 MiB, 2 MiB under
 *   sanitizers), then end of file; the server too; the client receives the
 *   server's stream; counted: mirrored = mirrors x stream.  In the 2-mirror
 *   runs the first mirror writes 16 MiB of garbage back before the stream
 *   starts, more than the kernel buffers hold: it can do so only if the
 *   splice reads and throws it away, and none of it reaches the client
 *   (whose stream is checked byte for byte).
 *
 *   A mirror whose peer filled its socket up to the high-water mark and
 *   then the kernel's buffers, before kc_splice() (TCP and UNIX): the
 *   socket had stopped reading and no new edge comes, so the splice must
 *   read what is there at once; the peer then sends 4 MiB more of garbage,
 *   and the streams are whole.  Before, the peer stayed blocked (seen once
 *   in the 2-mirror runs above, where the race decides).
 *
 *   A mirror that never reads (small kernel buffers), a budget of
 *   256 KiB and a 32 MiB stream (8 MiB under sanitizers): the mirror is
 *   detached (mirror_detached 1, the event KC_SPLICE_EV_MIRROR_DETACHED
 *   for mirror 0 with -ENOBUFS) while the client and server exchange their
 *   streams whole and done gets 0; what the mirror got before it was cut
 *   off is the start of the stream, and its connection then ends.
 *
 *   The same with KC_MIRROR_DROP: nothing is detached, the primary is
 *   whole, mirror_dropped > 0 and KC_SPLICE_EV_MIRROR_DROPPING is reported;
 *   once the mirror reads (after the primary has finished) it gets
 *   mirrored bytes and end of file, and mirrored + mirror_dropped is the
 *   stream's length.
 *
 *   A mirror whose connection is refused (mirror 0 or 1, beside one that
 *   works), whether its connect is still in progress at kc_splice() or has
 *   failed already: it is detached, the event names it and its error
 *   (-ECONNREFUSED); the other mirror and the primary get everything.
 *   KC_SPLICE_EV_MIRROR_CONNECTED is reported once for each mirror that
 *   connected (each mirror of the 1, 2 and 3-mirror runs, the good one
 *   here), never for the refused one.
 *
 *   A mirror that keeps writing garbage back, before, during and after the
 *   stream: it still gets the whole stream (and then its connection ends,
 *   by end of file or a reset).
 *
 *   A slow mirror (64 KiB every 2 ms) with a budget above the stream's
 *   length: it gets everything; nothing dropped or detached.
 */
#include "splicetest.h"

#include <fcntl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t big;

static void
peers_init(struct st_sp *s, struct st_peer *cl, struct st_peer *sv,
    uint64_t fwd, uint64_t rev)
{
	memset(cl, 0, sizeof(*cl));
	cl->name = "client";
	cl->fd = s->client;
	cl->send_sid = st_sid();
	cl->send_len = fwd;
	cl->shut_after = true;
	memset(sv, 0, sizeof(*sv));
	sv->name = "server";
	sv->fd = s->server;
	sv->send_sid = st_sid();
	sv->send_len = rev;
	sv->shut_after = true;
	cl->recv_sid = sv->send_sid;
	cl->recv_len = rev;
	sv->recv_sid = cl->send_sid;
	sv->recv_len = fwd;
}

static void
mirror_init(struct st_peer *m, const char *name, int fd,
    const struct st_peer *cl)
{
	memset(m, 0, sizeof(*m));
	m->name = name;
	m->fd = fd;
	m->recv_sid = cl->send_sid;
	m->recv_len = cl->send_len;
}

static void
check_primary(struct st_sp *s, struct kc_splice_stats *st, uint64_t fwd,
    uint64_t rev)
{
	KC_CHECK_EQ(st->spliced[KC_SPLICE_FWD] + st->copied[KC_SPLICE_FWD],
	    fwd);
	KC_CHECK_EQ(st->spliced[KC_SPLICE_REV] + st->copied[KC_SPLICE_REV],
	    rev);
	KC_CHECK_EQ(atomic_load(&s->ev.bad), 0);
}

/*
 * Run the client and the server (the mirrors' peers run already), then
 * check that every stream arrived whole, each mirror got the client's, and
 * nothing was dropped or detached; close the splice.
 */
static void
streams_whole(struct st_sp *s, struct st_peer *cl, struct st_peer *sv,
    struct st_peer *mi, unsigned nm, const char *what)
{
	struct kc_splice_stats st;
	unsigned i;

	st_peer_start(cl);
	st_peer_start(sv);
	st_peer_join(cl);
	st_peer_join(sv);
	for (i = 0; i < nm; i++)
		st_peer_join(&mi[i]);
	st_peer_check_whole(cl);
	st_peer_check_whole(sv);
	for (i = 0; i < nm; i++)
		st_peer_check_whole(&mi[i]);
	KC_CHECK_EQ(st_sp_wait(s), 0);
	st_sp_stats(s, &st);
	st_stats_print(what, &st);
	check_primary(s, &st, big, ST_MIB);
	KC_CHECK_EQ(st.mirrored, nm * big);
	KC_CHECK_EQ(st.mirror_dropped, 0);
	KC_CHECK_EQ(st.mirror_detached, 0);
	KC_CHECK_EQ(atomic_load(&s->ev.n[KC_SPLICE_EV_MIRROR_DETACHED]), 0);
	KC_CHECK_EQ(atomic_load(&s->ev.n[KC_SPLICE_EV_MIRROR_DROPPING]), 0);
	KC_CHECK_EQ(atomic_load(&s->ev.n[KC_SPLICE_EV_MIRROR_CONNECTED]), nm);
	st_sp_close(s);
}

static void
some_mirrors(struct kc_executor *ex, enum nt_kind k, enum nt_kind km,
    unsigned nm)
{
	static const char *const names[] = { "mirror 0", "mirror 1",
	    "mirror 2" };
	struct st_peer cl, sv, mi[3];
	struct st_sp s;
	long base = kc_socket_count();
	bool garbage = nm == 2;
	unsigned i;

	if (!st_want("%u %s mirror%s of %s%s", nm, nt_kind_name[km],
	    nm > 1 ? "s" : "", nt_kind_name[k],
	    garbage ? ", mirror 0 writes garbage back" : ""))
		return;
	memset(&s, 0, sizeof(s));
	s.ex = ex;
	s.ka = s.kb = k;
	s.km = km;
	s.nm = nm;
	/*
	 * Mirrors that read as fast as they can may still lag behind a fast
	 * primary (a mirror never slows it): a budget above the stream's
	 * length keeps them all.
	 */
	s.attr.mirror_budget = 2 * big;
	st_sp_open(&s, true);
	peers_init(&s, &cl, &sv, big, ST_MIB);
	for (i = 0; i < nm; i++)
		mirror_init(&mi[i], names[i], s.mirror[i], &cl);
	if (garbage) {
		/*
		 * More than the kernel buffers hold, all of it before the
		 * stream starts: the splice must read it (and drop it).
		 */
		mi[0].garbage = true;
		mi[0].send_len = 16 * ST_MIB;
		mi[0].shut_after = true;
	}
	for (i = 0; i < nm; i++)
		st_peer_start(&mi[i]);
	if (garbage)
		KCT_WAIT(atomic_load(&mi[0].sent) == 16 * ST_MIB, NT_WAIT_S);
	streams_whole(&s, &cl, &sv, mi, nm, "tee");
	nt_wait_count(base);
}

/* A mirror that does not read while 32 MiB flow; detach or drop. */
static void
stuck_mirror(struct kc_executor *ex, enum nt_kind k, int policy)
{
	struct kc_splice_stats st;
	struct st_peer cl, sv, mi;
	struct st_sp s;
	uint64_t flow = kct_sanitized() ? 8 * ST_MIB : 32 * ST_MIB;
	long base = kc_socket_count();
	int status;

	if (!st_want("%s: a mirror that does not read, %s", nt_kind_name[k],
	    policy == KC_MIRROR_DROP ? "KC_MIRROR_DROP" : "KC_MIRROR_DETACH"))
		return;
	memset(&s, 0, sizeof(s));
	s.ex = ex;
	s.ka = s.kb = s.km = k;
	s.nm = 1;
	s.mkind[0] = ST_M_SMALL;
	s.attr.mirror_budget = 256 * 1024;
	s.attr.mirror_policy = policy;
	st_sp_open(&s, true);
	peers_init(&s, &cl, &sv, flow, 2 * ST_MIB);
	mirror_init(&mi, "stuck mirror", s.mirror[0], &cl);
	atomic_store(&mi.hold, 1);
	if (policy == KC_MIRROR_DROP)
		mi.recv_any = true;	/* it has holes */
	st_peer_start(&cl);
	st_peer_start(&sv);
	st_peer_start(&mi);
	/* The primary finishes while the mirror does not read. */
	st_peer_join(&cl);
	st_peer_join(&sv);
	st_peer_check_whole(&cl);
	st_peer_check_whole(&sv);
	KC_CHECK_EQ(atomic_load(&mi.rcvd), 0);
	if (policy == KC_MIRROR_DETACH) {
		KC_CHECK_EQ(st_sp_wait(&s), 0);
		KCT_WAIT(atomic_load(&s.ev.n[KC_SPLICE_EV_MIRROR_DETACHED]) ==
		    1, NT_WAIT_S);
	}
	/* Now it reads: what it was owed, or a cut-off start, and the end. */
	atomic_store(&mi.hold, 0);
	st_peer_join(&mi);
	KC_CHECK(atomic_load(&mi.ended));
	status = st_sp_wait(&s);
	KC_CHECK_EQ(status, 0);
	st_sp_stats(&s, &st);
	st_stats_print("stuck mirror", &st);
	check_primary(&s, &st, flow, 2 * ST_MIB);
	if (policy == KC_MIRROR_DETACH) {
		KC_CHECK_EQ(st.mirror_detached, 1);
		KC_CHECK_EQ(st.mirror_dropped, 0);
		KC_CHECK_EQ(atomic_load(&s.ev.n[KC_SPLICE_EV_MIRROR_DETACHED]),
		    1);
		KC_CHECK_EQ(atomic_load(
		    &s.ev.err[KC_SPLICE_EV_MIRROR_DETACHED]), -ENOBUFS);
		KC_CHECK_EQ(atomic_load(
		    &s.ev.mirror[KC_SPLICE_EV_MIRROR_DETACHED]), 0);
		KC_CHECK_EQ(atomic_load(&s.ev.n[KC_SPLICE_EV_MIRROR_DROPPING]),
		    0);
		/* Cut off: a start of the stream, checked by the peer. */
		KC_CHECK_LT(atomic_load(&mi.rcvd), flow);
		KC_CHECK_LE(atomic_load(&mi.rcvd), st.mirrored);
	} else {
		KC_CHECK_EQ(st.mirror_detached, 0);
		KC_CHECK_GT(st.mirror_dropped, 0);
		KC_CHECK_GE(atomic_load(&s.ev.n[KC_SPLICE_EV_MIRROR_DROPPING]),
		    1);
		KC_CHECK_EQ(atomic_load(
		    &s.ev.mirror[KC_SPLICE_EV_MIRROR_DROPPING]), 0);
		KC_CHECK_EQ(atomic_load(&s.ev.n[KC_SPLICE_EV_MIRROR_DETACHED]),
		    0);
		/* Not detached: all it was owed, then end of file. */
		KC_CHECK_EQ(atomic_load(&mi.end), 0);
		KC_CHECK_EQ(atomic_load(&mi.rcvd), st.mirrored);
		KC_CHECK_EQ(st.mirrored + st.mirror_dropped, flow);
	}
	st_sp_close(&s);
	nt_wait_count(base);
}

/* Mirror bad is refused, the other one works. */
static void
refused_mirror(struct kc_executor *ex, enum nt_kind k, unsigned bad,
    bool failed_first)
{
	struct kc_splice_stats st;
	struct st_peer cl, sv, mi;
	struct st_sp s;
	unsigned good = bad ^ 1;
	long base = kc_socket_count();

	if (!st_want("%s: a refused mirror %u (%s)", nt_kind_name[k], bad,
	    failed_first ? "failed before kc_splice()" : "still connecting"))
		return;
	memset(&s, 0, sizeof(s));
	s.ex = ex;
	s.ka = s.kb = s.km = k;
	s.nm = 2;
	/* The good mirror must get everything, however late its reader runs. */
	s.attr.mirror_budget = 2 * big;
	s.mkind[bad] = ST_M_REFUSE;
	s.mkind[good] = ST_M_LISTEN;
	st_sp_client(&s);
	st_sp_upstream(&s);
	if (failed_first) {
		/* Its connect has failed before the call. */
		KC_CHECK_EQ(kc_socket_connect_wait(s.m[bad], &s.maddr[bad],
		    NT_WAIT_S * KCT_NSEC_PER_SEC), -ECONNREFUSED);
		KC_CHECK(kc_socket_state(s.m[bad]) & KC_SS_ERROR);
		s.m_connected[bad] = true;
	}
	st_sp_splice(&s, true);
	st_sp_accept(&s);
	peers_init(&s, &cl, &sv, big, ST_MIB);
	mirror_init(&mi, "the good mirror", s.mirror[good], &cl);
	st_peer_start(&cl);
	st_peer_start(&sv);
	st_peer_start(&mi);
	st_peer_join(&cl);
	st_peer_join(&sv);
	st_peer_join(&mi);
	st_peer_check_whole(&cl);
	st_peer_check_whole(&sv);
	st_peer_check_whole(&mi);
	KC_CHECK_EQ(st_sp_wait(&s), 0);
	st_sp_stats(&s, &st);
	st_stats_print("refused mirror", &st);
	check_primary(&s, &st, big, ST_MIB);
	KC_CHECK_EQ(st.mirror_detached, 1);
	KC_CHECK_EQ(st.mirrored, big);
	KC_CHECK_EQ(atomic_load(&s.ev.n[KC_SPLICE_EV_MIRROR_DETACHED]), 1);
	KC_CHECK_EQ(atomic_load(&s.ev.err[KC_SPLICE_EV_MIRROR_DETACHED]),
	    -ECONNREFUSED);
	KC_CHECK_EQ(atomic_load(&s.ev.mirror[KC_SPLICE_EV_MIRROR_DETACHED]),
	    bad);
	/* The good one connected, the refused one never did. */
	KC_CHECK_EQ(atomic_load(&s.ev.n[KC_SPLICE_EV_MIRROR_CONNECTED]), 1);
	KC_CHECK_EQ(atomic_load(&s.ev.mirror[KC_SPLICE_EV_MIRROR_CONNECTED]),
	    good);
	st_sp_close(&s);
	nt_wait_count(base);
}

/*
 * A mirror that keeps sending while the stream flows and after it ends:
 * it still gets the whole stream.
 */
static void
chatty_mirror(struct kc_executor *ex, enum nt_kind k)
{
	struct kc_splice_stats st;
	struct st_peer cl, sv, mi;
	struct st_sp s;
	long base = kc_socket_count();
	int end;

	if (!st_want("%s: a mirror that keeps talking", nt_kind_name[k]))
		return;
	memset(&s, 0, sizeof(s));
	s.ex = ex;
	s.ka = s.kb = s.km = k;
	s.nm = 1;
	s.attr.mirror_budget = 2 * big;
	st_sp_open(&s, true);
	peers_init(&s, &cl, &sv, big, ST_MIB);
	mirror_init(&mi, "chatty mirror", s.mirror[0], &cl);
	mi.chatter = true;	/* until its stream has ended */
	st_peer_start(&mi);
	KCT_WAIT(atomic_load(&mi.sent) >= 2 * ST_MIB, NT_WAIT_S);
	st_peer_start(&cl);
	st_peer_start(&sv);
	st_peer_join(&cl);
	st_peer_join(&sv);
	st_peer_check_whole(&cl);
	st_peer_check_whole(&sv);
	KC_CHECK_EQ(st_sp_wait(&s), 0);
	/* It got everything, then its connection ended. */
	st_peer_join(&mi);
	st_sp_stats(&s, &st);
	st_stats_print("chatty mirror", &st);
	KC_CHECK(atomic_load(&mi.ended));
	end = atomic_load(&mi.end);
	if (atomic_load(&mi.rcvd) != big)
		kct_fail(__FILE__, __LINE__, "the mirror got %llu of %llu "
		    "bytes (its connection ended with %d, its sends with %d)",
		    (unsigned long long)atomic_load(&mi.rcvd),
		    (unsigned long long)big, end,
		    atomic_load(&mi.send_err));
	if (end != 0 && end != -ECONNRESET)
		kct_fail(__FILE__, __LINE__, "the mirror's connection ended "
		    "with %d", end);
	check_primary(&s, &st, big, ST_MIB);
	KC_CHECK_EQ(st.mirrored, big);
	KC_CHECK_EQ(st.mirror_detached, 0);
	st_sp_close(&s);
	nt_wait_count(base);
}

static void
slow_mirror(struct kc_executor *ex, enum nt_kind k)
{
	struct kc_splice_stats st;
	struct st_peer cl, sv, mi;
	struct st_sp s;
	long base = kc_socket_count();

	if (!st_want("%s: a slow mirror within its budget", nt_kind_name[k]))
		return;
	memset(&s, 0, sizeof(s));
	s.ex = ex;
	s.ka = s.kb = s.km = k;
	s.nm = 1;
	s.mkind[0] = ST_M_SMALL;
	s.attr.mirror_budget = 2 * big;
	st_sp_open(&s, true);
	peers_init(&s, &cl, &sv, big, ST_MIB);
	mirror_init(&mi, "slow mirror", s.mirror[0], &cl);
	mi.read_chunk = 65536;
	mi.read_pause_ns = 2 * KCT_NSEC_PER_MSEC;
	st_peer_start(&cl);
	st_peer_start(&sv);
	st_peer_start(&mi);
	st_peer_join(&cl);
	st_peer_join(&sv);
	st_peer_join(&mi);
	st_peer_check_whole(&cl);
	st_peer_check_whole(&sv);
	st_peer_check_whole(&mi);
	KC_CHECK_EQ(st_sp_wait(&s), 0);
	st_sp_stats(&s, &st);
	st_stats_print("slow mirror", &st);
	check_primary(&s, &st, big, ST_MIB);
	KC_CHECK_EQ(st.mirrored, big);
	KC_CHECK_EQ(st.mirror_dropped, 0);
	KC_CHECK_EQ(st.mirror_detached, 0);
	KC_CHECK_EQ(atomic_load(&s.ev.n[KC_SPLICE_EV_MIRROR_DETACHED]), 0);
	KC_CHECK_EQ(atomic_load(&s.ev.n[KC_SPLICE_EV_MIRROR_DROPPING]), 0);
	st_sp_close(&s);
	nt_wait_count(base);
}

/*
 * A mirror whose peer filled every buffer before the splice began: its
 * socket had read up to its high-water mark and stopped, and the kernel's
 * buffers are full, so no new edge will come.  The splice must read (and
 * drop) what is there, or the peer never gets to send again.
 */
static void
prefilled_mirror(struct kc_executor *ex, enum nt_kind k)
{
	static char junk[65536];
	struct st_peer cl, sv, mi;
	struct st_sp s;
	long base = kc_socket_count();
	size_t hiwat;
	int fl;

	if (!st_want("%s: a mirror whose peer filled every buffer first",
	    nt_kind_name[k]))
		return;
	memset(&s, 0, sizeof(s));
	s.ex = ex;
	s.ka = s.kb = s.km = k;
	s.nm = 1;
	s.attr.mirror_budget = 2 * big;
	st_sp_client(&s);
	st_sp_upstream(&s);
	KC_CHECK_OK(kc_socket_connect_wait(s.m[0], &s.maddr[0],
	    NT_WAIT_S * KCT_NSEC_PER_SEC));
	s.m_connected[0] = true;
	s.mirror[0] = nt_raw_accept(s.mlfd[0]);
	nt_raw_close(s.mlfd[0]);
	s.mlfd[0] = -1;
	/* Fill: the socket stops at its mark, then the kernel's buffers. */
	hiwat = 256 * 1024;	/* the default rcv_hiwat */
	fl = fcntl(s.mirror[0], F_GETFL);
	KC_CHECK_OK(fcntl(s.mirror[0], F_SETFL, fl | O_NONBLOCK));
	memset(junk, 0xee, sizeof(junk));
	for (;;) {
		ssize_t n = write(s.mirror[0], junk, sizeof(junk));

		if (n > 0)
			continue;
		KC_CHECK(n < 0 && errno == EAGAIN);
		if (kc_socket_rcvbytes(s.m[0]) >= hiwat)
			break;
		kct_sleep_ns(KCT_NSEC_PER_MSEC);	/* it is still reading */
	}
	KC_CHECK_OK(fcntl(s.mirror[0], F_SETFL, fl));
	st_sp_splice(&s, false);
	s.server = nt_raw_accept(s.slfd);
	nt_raw_close(s.slfd);
	s.slfd = -1;
	peers_init(&s, &cl, &sv, big, ST_MIB);
	mirror_init(&mi, "prefilled mirror", s.mirror[0], &cl);
	mi.garbage = true;
	mi.send_len = 4 * ST_MIB;
	mi.shut_after = true;
	st_peer_start(&mi);
	KCT_WAIT(atomic_load(&mi.sent) == 4 * ST_MIB, NT_WAIT_S);
	streams_whole(&s, &cl, &sv, &mi, 1, "prefilled");
	nt_wait_count(base);
}

int
main(void)
{
	struct kc_executor *ex;
	long base;
	unsigned n;

	kct_begin("net-splice-tee", 600);
	st_init();
	big = kct_sanitized() ? 2 * ST_MIB : 8 * ST_MIB;
	base = kc_socket_count();
	ex = kct_exec_soft("splice-tee");

	for (n = 1; n <= 3; n++)
		some_mirrors(ex, NT_TCP4, NT_TCP4, n);
	some_mirrors(ex, NT_TCP6, NT_UNIX, 2);
	some_mirrors(ex, NT_UNIX, NT_UNIX, 3);
	prefilled_mirror(ex, NT_TCP4);
	prefilled_mirror(ex, NT_UNIX);

	stuck_mirror(ex, NT_TCP4, KC_MIRROR_DETACH);
	stuck_mirror(ex, NT_TCP4, KC_MIRROR_DROP);
	stuck_mirror(ex, NT_UNIX, KC_MIRROR_DETACH);
	stuck_mirror(ex, NT_UNIX, KC_MIRROR_DROP);

	refused_mirror(ex, NT_TCP4, 0, false);
	refused_mirror(ex, NT_UNIX, 1, false);
	refused_mirror(ex, NT_TCP4, 1, true);
	refused_mirror(ex, NT_UNIX, 0, true);

	chatty_mirror(ex, NT_TCP4);
	chatty_mirror(ex, NT_UNIX);

	slow_mirror(ex, NT_TCP4);
	slow_mirror(ex, NT_UNIX);

	nt_wait_count(base);
	kct_exec_finish(ex);
	return kct_done();
}
