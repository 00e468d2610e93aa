/*
 * net-splice-dgram: kc_splice() between connected datagram sockets.
 *
 *   raw client <-> a ==splice== b <-> raw server      (and a mirror)
 *
 * a and b are bound datagram sockets connected to raw datagram sockets,
 * which are connected back.  Datagrams of 0, 1, 1000 and 65507 bytes (and a
 * few sizes between) go each way, one at a time (each waited for, so that
 * nothing is lost by design): each arrives whole, as one datagram of its
 * own size, in order, with the bytes sent.  Then a burst of 32 small
 * datagrams each way (8 with a mirror: a UNIX datagram mirror queues only
 * 10) arrives in order.  The counts: datagrams[] per
 * direction is what was sent, nothing dropped.  A mirror (a connected
 * datagram socket to a raw receiver) gets every client datagram, in order,
 * whole, and none of the server's.
 *
 * The splice ends with kc_splice_cancel() (done gets -ECANCELED) or, in
 * the other runs, with idle_ns (-ETIMEDOUT); its sockets are closed.
 *
 * UDP over 127.0.0.1 and ::1, and UNIX datagram sockets (bound to paths in
 * a private directory).
 */
#include "splicetest.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BURST	32

static uint8_t rbuf[65536 + 1];

/* A datagram socket owned by ex, bound and connected to a raw one. */
static struct kc_socket *
dg_pair(struct kc_executor *ex, enum nt_kind k, int *raw)
{
	struct kc_sockaddr sa, ra;
	struct kc_socket *s = nt_socket(ex, k, NULL);

	nt_bind_addr(k, &sa);
	KC_CHECK_OK(kc_socket_bind(s, &sa));
	memset(&sa, 0, sizeof(sa));
	KC_CHECK_OK(kc_socket_name(s, &sa, 0));
	*raw = nt_raw_dgram(k, &ra);
	KC_CHECK_OK(kc_socket_connect_wait(s, &ra,
	    NT_WAIT_S * KCT_NSEC_PER_SEC));
	KC_CHECK(kc_socket_state(s) & KC_SS_CONNECTED);
	KC_CHECK_OK(connect(*raw, &sa.a.sa, sa.len));
	return s;
}

/* A datagram's bytes: a run of the reference buffer that does not wrap. */
static uint64_t
dg_sid(void)
{
	return kct_rand_below(ST_REF_SIZE - 65536);
}

static void
dg_send(int fd, uint64_t sid, size_t len)
{
	size_t n;
	ssize_t r;

	r = send(fd, st_bytes(sid, 0, len, &n), len, 0);
	KC_CHECK_EQ(n, len);
	if (r != (ssize_t)len)
		kct_fail(__FILE__, __LINE__, "send of a %zu-byte datagram: "
		    "%zd (%s)", len, r, strerror(errno));
}

/* The next datagram on fd must be sid's first len bytes. */
static void
dg_expect(int fd, uint64_t sid, size_t len, const char *what)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t r;

	if (poll(&p, 1, NT_WAIT_S * 1000) != 1)
		kct_fail(__FILE__, __LINE__, "%s: no %zu-byte datagram after "
		    "%us", what, len, NT_WAIT_S);
	r = recv(fd, rbuf, sizeof(rbuf), MSG_TRUNC | MSG_DONTWAIT);
	if (r != (ssize_t)len)
		kct_fail(__FILE__, __LINE__, "%s: a datagram of %zd bytes "
		    "(%s), expected %zu", what, r, r < 0 ? strerror(errno) : "",
		    len);
	st_check(rbuf, len, sid, 0, what);
}

/* Nothing waits on fd. */
static void
dg_none(int fd, const char *what)
{
	ssize_t r = recv(fd, rbuf, sizeof(rbuf), MSG_TRUNC | MSG_DONTWAIT);

	if (r >= 0 || errno != EAGAIN)
		kct_fail(__FILE__, __LINE__, "%s: an unexpected datagram "
		    "(%zd)", what, r);
}

static void
run(struct kc_executor *ex, enum nt_kind k, bool mirror, bool idle)
{
	static const size_t sizes[] = { 0, 1, 1000, 65507, 0, 17, 4096,
	    32768, 65507, 1 };
	struct kc_splice_stats st;
	struct kc_sockaddr maddr;
	struct kc_socket *mirrors[1];
	struct st_sp s;
	uint64_t sids[BURST], fwd_bytes = 0;
	long base = kc_socket_count();
	unsigned i, nsz = sizeof(sizes) / sizeof(sizes[0]);
	/*
	 * A UNIX datagram receiver queues only net.unix.max_dgram_qlen (10)
	 * datagrams, and a mirror never waits: with a mirror, bursts stay
	 * below that.
	 */
	unsigned burst = mirror ? 8 : BURST;
	int mraw = -1;

	if (!st_want("%s%s, ended by %s", nt_kind_name[k],
	    mirror ? " with a mirror" : "", idle ? "idle_ns" : "cancel"))
		return;
	memset(&s, 0, sizeof(s));
	s.ex = ex;
	s.ka = s.kb = s.km = k;
	s.a = dg_pair(ex, k, &s.client);
	s.b = dg_pair(ex, k, &s.server);
	s.b_connected = true;
	s.slfd = -1;
	if (mirror) {
		/* A mirror: connected to a raw receiver. */
		mirrors[0] = nt_socket(ex, k, NULL);
		mraw = nt_raw_dgram(k, &maddr);
		if (k == NT_UNIXDG) {
			struct kc_sockaddr self;

			nt_bind_addr(k, &self);
			KC_CHECK_OK(kc_socket_bind(mirrors[0], &self));
		}
		KC_CHECK_OK(kc_socket_connect_wait(mirrors[0], &maddr,
		    NT_WAIT_S * KCT_NSEC_PER_SEC));
		s.nm = 1;
		s.m[0] = mirrors[0];
		s.m_connected[0] = true;
		s.mirror[0] = mraw;
		s.mlfd[0] = -1;
	}
	if (idle)
		s.attr.idle_ns = 300 * KCT_NSEC_PER_MSEC;
	st_sp_splice(&s, true);

	/* One at a time, each way. */
	for (i = 0; i < nsz; i++) {
		uint64_t f = dg_sid(), r = dg_sid();

		dg_send(s.client, f, sizes[i]);
		dg_expect(s.server, f, sizes[i], "client to server");
		if (mirror)
			dg_expect(mraw, f, sizes[i], "mirror");
		fwd_bytes += sizes[i];
		dg_send(s.server, r, sizes[nsz - 1 - i]);
		dg_expect(s.client, r, sizes[nsz - 1 - i], "server to client");
	}
	/* A burst each way: small enough for every buffer. */
	for (i = 0; i < burst; i++) {
		sids[i] = dg_sid();
		dg_send(s.client, sids[i], i * 7);
		fwd_bytes += i * 7;
	}
	for (i = 0; i < burst; i++)
		dg_expect(s.server, sids[i], i * 7, "burst to server");
	if (mirror)
		for (i = 0; i < burst; i++)
			dg_expect(mraw, sids[i], i * 7, "burst to mirror");
	for (i = 0; i < burst; i++) {
		sids[i] = dg_sid();
		dg_send(s.server, sids[i], 200 - i);
	}
	for (i = 0; i < burst; i++)
		dg_expect(s.client, sids[i], 200 - i, "burst to client");
	/* The mirror got the client's datagrams only. */
	if (mirror)
		dg_none(mraw, "mirror");

	/* Counted when delivered: the last may still be being counted. */
	KCT_WAIT(kc_splice_stats(s.sp, &st) == 0 &&
	    st.datagrams[KC_SPLICE_FWD] == nsz + burst &&
	    st.datagrams[KC_SPLICE_REV] == nsz + burst, NT_WAIT_S);
	if (!idle)
		KC_CHECK_OK(kc_splice_cancel(s.sp));
	KC_CHECK_EQ(st_sp_wait(&s), idle ? -ETIMEDOUT : -ECANCELED);
	st_sp_stats(&s, &st);
	st_stats_print(nt_kind_name[k], &st);
	KC_CHECK_EQ(st.datagrams[KC_SPLICE_FWD], nsz + burst);
	KC_CHECK_EQ(st.datagrams[KC_SPLICE_REV], nsz + burst);
	KC_CHECK_EQ(st.dgram_dropped, 0);
	KC_CHECK_EQ(st.spliced[KC_SPLICE_FWD], 0);
	KC_CHECK_EQ(st.spliced[KC_SPLICE_REV], 0);
	if (mirror) {
		KC_CHECK_EQ(st.mirrored, fwd_bytes);
		KC_CHECK_EQ(st.mirror_dropped, 0);
		KC_CHECK_EQ(st.mirror_detached, 0);
	}
	st_sp_close(&s);
	nt_wait_count(base);
}

int
main(void)
{
	static const enum nt_kind kinds[] = { NT_UDP4, NT_UDP6, NT_UNIXDG };
	struct kc_executor *ex;
	long base;
	unsigned i;

	kct_begin("net-splice-dgram", 600);
	st_init();
	base = kc_socket_count();
	ex = kct_exec_soft("splice-dgram");
	for (i = 0; i < 3; i++) {
		run(ex, kinds[i], false, false);
		run(ex, kinds[i], true, true);
	}
	nt_wait_count(base);
	kct_exec_finish(ex);
	return kct_done();
}
