/*
 * net-splice-tap: a splice's tap (kc_splice_attr.tap) sees every byte the
 * splice reads, both ways, in order, while both sides still get every
 * byte.
 *
 *   raw client <-> a ==splice== b <-> raw server, client and server each
 *   sending a stream and shutting: the tap's two streams are byte for byte
 *   what the client and the server sent; the calls run on the owner, each
 *   lends a chain only for the call.  Spliced (bulk) and copied
 *   (KC_SPLICE_COPY) paths, with and without a mirror (which still gets
 *   the client's stream whole), and bytes the client sent before the
 *   splice began (already in a's receive buffer) come first.
 *
 *   A tap that returns non-zero is not called again for that splice, and
 *   the data still flows whole.
 */
#include "splicetest.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tap {
	struct kc_executor *ex;
	uint8_t		*buf[2];
	size_t		 len[2];
	size_t		 cap;
	unsigned	 calls;
	unsigned	 stop_after;	/* 0: never stop */
	bool		 bad;
};

static int
tap_fn(void *arg, struct kc_splice *sp, int dir, const struct kc_chain *data,
    size_t off, size_t len)
{
	struct tap *t = arg;

	(void)sp;
	if (kc_executor_current() != t->ex || (dir != KC_SPLICE_FWD &&
	    dir != KC_SPLICE_REV) || off + len > kc_chain_len(data) ||
	    t->len[dir] + len > t->cap) {
		t->bad = true;
		return 1;
	}
	KC_CHECK_EQ(kc_chain_copyout(data, off, t->buf[dir] + t->len[dir],
	    len), len);
	t->len[dir] += len;
	t->calls++;
	return t->stop_after != 0 && t->calls >= t->stop_after;
}

static void
run(struct kc_executor *ex, unsigned flags, unsigned nm, size_t len,
    size_t early, unsigned stop_after)
{
	struct kc_splice_stats st;
	struct st_peer cl, sv, mp;
	struct st_sp s;
	struct tap t;
	long base = kc_socket_count();
	uint64_t csid = st_sid(), ssid = st_sid();

	if (!st_want("tap, %zu bytes each way%s%s%s%s", len,
	    flags & KC_SPLICE_COPY ? ", KC_SPLICE_COPY" : "",
	    nm ? ", a mirror" : "", early ? ", bytes before the splice" : "",
	    stop_after ? ", the tap stops" : ""))
		return;
	memset(&t, 0, sizeof(t));
	t.ex = ex;
	t.cap = len;
	t.stop_after = stop_after;
	t.buf[0] = malloc(len);
	t.buf[1] = malloc(len);
	KC_CHECK(t.buf[0] != NULL && t.buf[1] != NULL);
	memset(&s, 0, sizeof(s));
	s.ex = ex;
	s.ka = s.kb = s.km = NT_TCP4;
	s.nm = nm;
	s.attr.flags = flags;
	s.attr.tap = tap_fn;
	s.attr.tap_arg = &t;
	st_sp_client(&s);
	if (early > 0) {
		/* In a's receive buffer before the splice takes it. */
		st_raw_write(s.client, csid, 0, early);
		KCT_WAIT(kc_socket_rcvbytes(s.a) >= early, NT_WAIT_S);
	}
	st_sp_upstream(&s);
	st_sp_splice(&s, true);
	st_sp_accept(&s);

	memset(&cl, 0, sizeof(cl));
	cl.name = "client";
	cl.fd = s.client;
	cl.send_sid = csid;
	cl.send_len = len - early;
	cl.shut_after = true;
	cl.recv_sid = ssid;
	cl.recv_len = len;
	memset(&sv, 0, sizeof(sv));
	sv.name = "server";
	sv.fd = s.server;
	sv.send_sid = ssid;
	sv.send_len = len;
	sv.shut_after = true;
	sv.recv_sid = csid;
	sv.recv_len = len;
	if (early > 0) {
		/* The client's stream goes on after its early bytes. */
		cl.send_sid = csid + early;
	}
	memset(&mp, 0, sizeof(mp));
	if (nm > 0) {
		mp.name = "mirror";
		mp.fd = s.mirror[0];
		mp.recv_sid = csid;
		mp.recv_len = len;
		st_peer_start(&mp);
	}
	st_peer_start(&cl);
	st_peer_start(&sv);
	st_peer_join(&cl);
	st_peer_join(&sv);
	st_peer_check_whole(&cl);
	st_peer_check_whole(&sv);
	if (nm > 0) {
		st_peer_join(&mp);
		st_peer_check_whole(&mp);
	}
	KC_CHECK_EQ(st_sp_wait(&s), 0);
	st_sp_stats(&s, &st);
	/* The tap takes copies: the primary still splices in bulk. */
	if (!(flags & KC_SPLICE_COPY) && len >= ST_MIB)
		KC_CHECK_GT(st.spliced[0] + st.spliced[1], len / 2);
	KC_CHECK_EQ(st.spliced[0] + st.copied[0], len);
	KC_CHECK_EQ(st.spliced[1] + st.copied[1], len);
	/* done ran on the owner after the last tap call. */
	KC_CHECK(!t.bad);
	if (stop_after != 0) {
		KC_CHECK_EQ(t.calls, stop_after);
		KC_CHECK_LT(t.len[0] + t.len[1], 2 * len);
	} else {
		KC_CHECK_EQ(t.len[0], len);
		KC_CHECK_EQ(t.len[1], len);
		st_check(t.buf[0], len, csid, 0, "the tap's client stream");
		st_check(t.buf[1], len, ssid, 0, "the tap's server stream");
	}
	st_sp_close(&s);
	nt_wait_count(base);
	free(t.buf[0]);
	free(t.buf[1]);
}

int
main(void)
{
	struct kc_executor *ex;
	size_t big;
	long base;

	kct_begin("net-splice-tap", 600);
	st_init();
	big = kct_sanitized() ? 2 * ST_MIB : 8 * ST_MIB;
	base = kc_socket_count();
	ex = kct_exec_soft("splice-tap");

	run(ex, 0, 0, big, 0, 0);
	run(ex, KC_SPLICE_COPY, 0, big, 0, 0);
	run(ex, 0, 1, big, 0, 0);
	run(ex, KC_SPLICE_COPY, 1, big, 0, 0);
	run(ex, 0, 0, 3000, 0, 0);
	run(ex, 0, 1, big, 1000, 0);
	run(ex, 0, 0, big, 0, 3);

	nt_wait_count(base);
	kct_exec_finish(ex);
	return kct_done();
}
