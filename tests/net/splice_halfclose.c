/*
 * net-splice-halfclose: half-close is passed on, each direction on its own.
 *
 *   raw client <-> a ==splice== b <-> raw server, and two mirrors
 *
 * Client first: the client sends 4 MiB and shuts for writing; the server
 * gets them and end of file, and so does every mirror; meanwhile done has
 * not run (the other direction is open).  Then the server sends 8 MiB and
 * shuts: the client gets them all, then end of file, and done gets 0.
 *
 * Server first: the same the other way round; the mirrors keep getting the
 * client's bytes after b -> a has ended, then end of file.
 *
 * half_close_ns: the client sends 1 MiB and shuts; the server gets them and
 * end of file and then neither answers nor closes.  Done gets -ETIMEDOUT
 * (no sooner than the limit after the shutdown), the client then sees its
 * connection end (end of file or a reset) and the server's writes fail
 * (the splice closed b); the mirror got the 1 MiB and end of file.
 *
 * TCP over 127.0.0.1 and ::1, and UNIX streams.
 */
#include "splicetest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define HALF_LIMIT	(300 * KCT_NSEC_PER_MSEC)

static uint64_t first_len, second_len;

static void
open_two_mirrors(struct st_sp *s, struct kc_executor *ex, enum nt_kind k)
{
	memset(s, 0, sizeof(*s));
	s->ex = ex;
	s->ka = s->kb = s->km = k;
	s->nm = 2;
	/* Mirrors that read as fast as they can: keep them whatever. */
	s->attr.mirror_budget = 4 * (first_len + second_len);
	st_sp_open(s, true);
}

static void
mirror_init(struct st_peer *m, const char *name, int fd, uint64_t sid,
    uint64_t len)
{
	memset(m, 0, sizeof(*m));
	m->name = name;
	m->fd = fd;
	m->recv_sid = sid;
	m->recv_len = len;
}

/*
 * One side (the first) sends first_len and shuts; the other receives it
 * and end of file, then sends second_len and shuts.
 */
static void
one_way_then_other(struct kc_executor *ex, enum nt_kind k, bool client_first)
{
	struct kc_splice_stats st;
	struct st_peer first, rd, second, mi[2];
	struct st_sp s;
	uint64_t fsid = st_sid(), ssid = st_sid(), csid;
	long base = kc_socket_count();
	int ffd, sfd;
	unsigned i;

	if (!st_want("%s: the %s shuts first", nt_kind_name[k],
	    client_first ? "client" : "server"))
		return;
	open_two_mirrors(&s, ex, k);
	ffd = client_first ? s.client : s.server;
	sfd = client_first ? s.server : s.client;
	csid = client_first ? fsid : ssid;
	for (i = 0; i < 2; i++)
		mirror_init(&mi[i], i == 0 ? "mirror 0" : "mirror 1",
		    s.mirror[i], csid,
		    client_first ? first_len : second_len);

	/* The first side: sends, shuts, then gets the other's bytes. */
	memset(&first, 0, sizeof(first));
	first.name = client_first ? "client" : "server";
	first.fd = ffd;
	first.send_sid = fsid;
	first.send_len = first_len;
	first.shut_after = true;
	first.recv_sid = ssid;
	first.recv_len = second_len;
	/* The other side, phase one: receives up to end of file. */
	memset(&rd, 0, sizeof(rd));
	rd.name = client_first ? "server (reading)" : "client (reading)";
	rd.fd = sfd;
	rd.recv_sid = fsid;
	rd.recv_len = first_len;
	st_peer_start(&first);
	st_peer_start(&rd);
	for (i = 0; i < 2; i++)
		st_peer_start(&mi[i]);
	st_peer_join(&rd);
	st_peer_check_whole(&rd);
	if (client_first) {
		/* The mirrors got the client's bytes and end of file. */
		for (i = 0; i < 2; i++) {
			st_peer_join(&mi[i]);
			st_peer_check_whole(&mi[i]);
		}
	}
	/* One direction is over, the other open: done has not run. */
	KC_CHECK_EQ(atomic_load(&s.done.n), 0);
	KC_CHECK(!atomic_load(&first.ended));

	/* Phase two: the other side answers, and shuts. */
	memset(&second, 0, sizeof(second));
	second.name = client_first ? "server (writing)" : "client (writing)";
	second.fd = sfd;
	second.send_sid = ssid;
	second.send_len = second_len;
	second.shut_after = true;
	second.recv_len = 0;	/* end of file, again */
	st_peer_start(&second);
	st_peer_join(&second);
	st_peer_check_whole(&second);
	st_peer_join(&first);
	st_peer_check_whole(&first);
	if (!client_first) {
		for (i = 0; i < 2; i++) {
			st_peer_join(&mi[i]);
			st_peer_check_whole(&mi[i]);
		}
	}

	KC_CHECK_EQ(st_sp_wait(&s), 0);
	st_sp_stats(&s, &st);
	st_stats_print(nt_kind_name[k], &st);
	KC_CHECK_EQ(st.spliced[KC_SPLICE_FWD] + st.copied[KC_SPLICE_FWD],
	    client_first ? first_len : second_len);
	KC_CHECK_EQ(st.spliced[KC_SPLICE_REV] + st.copied[KC_SPLICE_REV],
	    client_first ? second_len : first_len);
	KC_CHECK_EQ(st.mirrored, 2 * (client_first ? first_len : second_len));
	KC_CHECK_EQ(st.mirror_detached, 0);
	KC_CHECK_EQ(st.mirror_dropped, 0);
	/* Both sides ended with their end of file: the first's is named. */
	st_sp_check_end(&s, KC_SPLICE_END_FIN, client_first ?
	    KC_SPLICE_SIDE_A : KC_SPLICE_SIDE_B, 0, client_first ?
	    KC_SPLICE_SIDE_A : KC_SPLICE_SIDE_B);
	for (i = 0; i < 2; i++) {
		struct kc_splice_mirror_stats ms;

		st_sp_mirror(&s, i, &ms);
		KC_CHECK_EQ(ms.written, client_first ? first_len : second_len);
		KC_CHECK_EQ(ms.dropped, 0);
		KC_CHECK_EQ(ms.detached, 0);
		KC_CHECK_EQ(ms.detach_err, 0);
	}
	st_sp_close(&s);
	nt_wait_count(base);
}

static void
half_close_limit(struct kc_executor *ex, enum nt_kind k)
{
	struct kc_splice_stats st;
	struct st_peer cl, sv, mi;
	struct st_sp s;
	uint64_t t0, len = ST_MIB;
	long base = kc_socket_count();
	int r;

	if (!st_want("%s: half_close_ns, the server never answers",
	    nt_kind_name[k]))
		return;
	memset(&s, 0, sizeof(s));
	s.ex = ex;
	s.ka = s.kb = s.km = k;
	s.nm = 1;
	s.attr.mirror_budget = 4 * len;
	s.attr.half_close_ns = HALF_LIMIT;
	/*
	 * A closing socket waits (linger_ns) for its peer's end: the server
	 * never ends, so let that be short.
	 */
	s.linger_ns = 200 * KCT_NSEC_PER_MSEC;
	st_sp_open(&s, true);

	memset(&cl, 0, sizeof(cl));
	cl.name = "client";
	cl.fd = s.client;
	cl.send_sid = st_sid();
	cl.send_len = len;
	cl.shut_after = true;
	memset(&sv, 0, sizeof(sv));
	sv.name = "server";
	sv.fd = s.server;
	sv.recv_sid = cl.send_sid;
	sv.recv_len = len;
	mirror_init(&mi, "mirror", s.mirror[0], cl.send_sid, len);
	t0 = kct_now_ns();
	st_peer_start(&cl);
	st_peer_start(&sv);
	st_peer_start(&mi);
	st_peer_join(&sv);
	st_peer_check_whole(&sv);
	st_peer_join(&mi);
	st_peer_check_whole(&mi);

	KC_CHECK_EQ(st_sp_wait(&s), -ETIMEDOUT);
	/* Not before the limit: it counts from the client's end of file. */
	KC_CHECK_GE(kct_now_ns() - t0, HALF_LIMIT);
	/* The client's connection ends; the server's writes fail. */
	st_peer_join(&cl);
	KC_CHECK_EQ(atomic_load(&cl.sent), len);
	KC_CHECK(atomic_load(&cl.ended));
	KC_CHECK_EQ(atomic_load(&cl.rcvd), 0);
	r = atomic_load(&cl.end);
	if (r != 0 && r != -ECONNRESET)
		kct_fail(__FILE__, __LINE__, "client: connection ended with "
		    "%d", r);
	r = st_raw_write_until_error(s.server);
	if (r != -EPIPE && r != -ECONNRESET)
		kct_fail(__FILE__, __LINE__, "server: writes after the end "
		    "gave %d, not an error", r);
	st_sp_stats(&s, &st);
	st_stats_print(nt_kind_name[k], &st);
	KC_CHECK_EQ(st.spliced[KC_SPLICE_FWD] + st.copied[KC_SPLICE_FWD], len);
	KC_CHECK_EQ(st.spliced[KC_SPLICE_REV] + st.copied[KC_SPLICE_REV], 0);
	st_sp_check_end(&s, KC_SPLICE_END_HALF_CLOSE_TIMEOUT, KC_SPLICE_SIDE_A,
	    -ETIMEDOUT, KC_SPLICE_SIDE_A);
	{
		struct kc_splice_mirror_stats ms;

		st_sp_mirror(&s, 0, &ms);
		KC_CHECK_EQ(ms.written, len);
		KC_CHECK_EQ(ms.detached, 0);
	}
	st_sp_close(&s);
	nt_wait_count(base);
}

int
main(void)
{
	static const enum nt_kind kinds[] = { NT_TCP4, NT_TCP6, NT_UNIX };
	struct kc_executor *ex;
	long base;
	unsigned i;

	kct_begin("net-splice-halfclose", 600);
	st_init();
	first_len = kct_sanitized() ? ST_MIB : 4 * ST_MIB;
	second_len = kct_sanitized() ? 2 * ST_MIB : 8 * ST_MIB;
	base = kc_socket_count();
	ex = kct_exec_soft("splice-halfclose");
	for (i = 0; i < 3; i++) {
		one_way_then_other(ex, kinds[i], true);
		one_way_then_other(ex, kinds[i], false);
		half_close_limit(ex, kinds[i]);
	}
	nt_wait_count(base);
	kct_exec_finish(ex);
	return kct_done();
}
