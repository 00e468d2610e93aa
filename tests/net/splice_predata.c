/*
 * net-splice-predata: what was there before kc_splice() goes first.
 *
 * Before the splice, b is connected (kc_socket_connect_wait()) and:
 *   - the raw client sends P bytes, and the test waits until a has read
 *     them all into its receive buffer (kc_socket_rcvbytes(a) == P);
 *   - the raw server sends R bytes, likewise into b's;
 *   - the test writes Q bytes on b and T bytes on a with kc_socket_send_wait()
 *     (taken into their send buffers before the call).
 * Then kc_splice() with one mirror, and the raw peers send the rest of
 * their streams at once and shut.  The server must receive b's Q bytes,
 * then the client's whole stream, its P early bytes first; the client a's T
 * bytes, then the server's whole stream; the mirror the client's whole
 * stream, the P early bytes included; nothing lost, doubled or reordered.
 * The counts: what the raw peers sent, per direction, with at least P and
 * R bytes copied (they were read before the splice began).
 *
 * Both at end of file before the splice: the raw client sends P bytes and
 * shuts, the raw server R bytes and shuts, and the test waits until a and b
 * hold them and their end of file.  After kc_splice() each side gets the
 * other's bytes, then end of file; the mirror the client's bytes and end
 * of file; done gets 0, and everything was copied.
 *
 * TCP over 127.0.0.1 and ::1, and UNIX streams.
 */
#include "splicetest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define P	100000u
#define R	90000u
#define Q	200000u
#define T	150000u

static uint64_t big;

/* The raw side of a and b, and their sockets, before the splice. */
static void
open_connected(struct st_sp *s, struct kc_executor *ex, enum nt_kind k)
{
	memset(s, 0, sizeof(*s));
	s->ex = ex;
	s->ka = s->kb = s->km = k;
	s->nm = 1;
	s->mkind[0] = ST_M_LISTEN;
	st_sp_client(s);
	st_sp_upstream(s);
	KC_CHECK_OK(kc_socket_connect_wait(s->b, &s->saddr,
	    NT_WAIT_S * KCT_NSEC_PER_SEC));
	s->b_connected = true;
	s->server = nt_raw_accept(s->slfd);
	nt_raw_close(s->slfd);
	s->slfd = -1;
}

static void
write_chain(struct kc_socket *so, uint64_t sid, size_t len)
{
	struct kc_chain ch = KC_CHAIN_INITIALIZER;

	st_chain(&ch, sid, 0, len);
	KC_CHECK_EQ(kc_socket_send_wait(so, &ch, NULL,
	    NT_WAIT_S * KCT_NSEC_PER_SEC), len);
	KC_CHECK_EQ(kc_chain_len(&ch), 0);
	kc_chain_free(&ch);
}

static void
early_data(struct kc_executor *ex, enum nt_kind k)
{
	struct kc_splice_stats st;
	struct st_peer cl, sv, mi;
	struct st_sp s;
	uint64_t x = st_sid(), y = st_sid();
	uint64_t c = x + Q, sr = y + T;	/* the raw peers' streams */
	long base = kc_socket_count();

	if (!st_want("%s: early bytes both ways", nt_kind_name[k]))
		return;
	open_connected(&s, ex, k);

	/* The raw peers' first bytes, read before the splice. */
	st_raw_write(s.client, c, 0, P);
	st_raw_write(s.server, sr, 0, R);
	KCT_WAIT(kc_socket_rcvbytes(s.a) == P, NT_WAIT_S);
	KCT_WAIT(kc_socket_rcvbytes(s.b) == R, NT_WAIT_S);
	/* Our own sends, in the send buffers before the splice. */
	write_chain(s.b, x, Q);
	write_chain(s.a, y, T);

	st_sp_splice(&s, true);
	st_sp_accept(&s);

	memset(&cl, 0, sizeof(cl));
	cl.name = "client";
	cl.fd = s.client;
	cl.send_sid = c + P;
	cl.send_len = big - P;
	cl.shut_after = true;
	cl.recv_sid = y;
	cl.recv_len = T + big;
	memset(&sv, 0, sizeof(sv));
	sv.name = "server";
	sv.fd = s.server;
	sv.send_sid = sr + R;
	sv.send_len = big - R;
	sv.shut_after = true;
	sv.recv_sid = x;
	sv.recv_len = Q + big;
	memset(&mi, 0, sizeof(mi));
	mi.name = "mirror";
	mi.fd = s.mirror[0];
	mi.recv_sid = c;
	mi.recv_len = big;
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
	st_stats_print(nt_kind_name[k], &st);
	KC_CHECK_EQ(st.spliced[KC_SPLICE_FWD] + st.copied[KC_SPLICE_FWD], big);
	KC_CHECK_EQ(st.spliced[KC_SPLICE_REV] + st.copied[KC_SPLICE_REV], big);
	KC_CHECK_GE(st.copied[KC_SPLICE_FWD], P);
	KC_CHECK_GE(st.copied[KC_SPLICE_REV], R);
	KC_CHECK_EQ(st.mirrored, big);
	KC_CHECK_EQ(st.mirror_detached, 0);
	KC_CHECK_EQ(st.mirror_dropped, 0);
	st_sp_close(&s);
	nt_wait_count(base);
}

static void
both_shut(struct kc_executor *ex, enum nt_kind k)
{
	struct kc_splice_stats st;
	struct st_peer cl, sv, mi;
	struct st_sp s;
	uint64_t c = st_sid(), sr = st_sid();
	long base = kc_socket_count();

	if (!st_want("%s: both at end of file before the splice",
	    nt_kind_name[k]))
		return;
	open_connected(&s, ex, k);
	st_raw_write(s.client, c, 0, P);
	KC_CHECK_OK(shutdown(s.client, SHUT_WR));
	st_raw_write(s.server, sr, 0, R);
	KC_CHECK_OK(shutdown(s.server, SHUT_WR));
	KCT_WAIT(kc_socket_rcvbytes(s.a) == P &&
	    (kc_socket_state(s.a) & KC_SS_CANTRCVMORE), NT_WAIT_S);
	KCT_WAIT(kc_socket_rcvbytes(s.b) == R &&
	    (kc_socket_state(s.b) & KC_SS_CANTRCVMORE), NT_WAIT_S);

	st_sp_splice(&s, true);
	st_sp_accept(&s);

	memset(&cl, 0, sizeof(cl));
	cl.name = "client";
	cl.fd = s.client;
	cl.recv_sid = sr;
	cl.recv_len = R;
	memset(&sv, 0, sizeof(sv));
	sv.name = "server";
	sv.fd = s.server;
	sv.recv_sid = c;
	sv.recv_len = P;
	memset(&mi, 0, sizeof(mi));
	mi.name = "mirror";
	mi.fd = s.mirror[0];
	mi.recv_sid = c;
	mi.recv_len = P;
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
	st_stats_print(nt_kind_name[k], &st);
	KC_CHECK_EQ(st.copied[KC_SPLICE_FWD], P);
	KC_CHECK_EQ(st.copied[KC_SPLICE_REV], R);
	KC_CHECK_EQ(st.spliced[KC_SPLICE_FWD], 0);
	KC_CHECK_EQ(st.spliced[KC_SPLICE_REV], 0);
	KC_CHECK_EQ(st.mirrored, P);
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

	kct_begin("net-splice-predata", 600);
	st_init();
	big = kct_sanitized() ? 1 * ST_MIB : 4 * ST_MIB;
	base = kc_socket_count();
	ex = kct_exec_soft("splice-predata");
	for (i = 0; i < 3; i++) {
		early_data(ex, kinds[i]);
		both_shut(ex, kinds[i]);
	}
	nt_wait_count(base);
	kct_exec_finish(ex);
	return kct_done();
}
