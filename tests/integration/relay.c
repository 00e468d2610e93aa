/*
 * relay.c: kcsplice relays random data both ways, whole and unmixed, over
 * every family, with 0, 1 and 2 mirrors; and a late reply after half-close.
 *
 *   tcp-m0, tcp-m1, tcp-m2   TCP -> TCP with 0, 1, 2 mirrors
 *   tcp-nosplice             the same through user space (--no-splice)
 *   tcp6                     [::1] -> [::1], one mirror
 *   unix-to-tcp              UNIX listen -> TCP upstream, UNIX mirror
 *   tcp-to-unix              TCP listen -> UNIX upstream, TCP mirror
 *   late-reply               the upstream answers 50 MB two seconds after
 *                            the client's FIN reached it
 *
 * Each client connection sends its own pseudo-random stream and ends its
 * sending side; the upstream echoes; the checks are by count and hash at
 * the client (what came back), the upstream and every mirror (what
 * arrived), and kcsplice's stats must account for every byte.
 */
#include "it.h"
#include "peer.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

struct relay_cfg {
	const char	*listen;	/* kcsplice's LISTEN */
	const char	*upstream;	/* where the upstream peer listens */
	const char	*mirrors[2];	/* where the mirror peers listen */
	unsigned	 nmirrors;
	bool		 no_splice;
};

static const struct pbehav echo_b = { .read = true, .echo = true,
	.fin = true };
static const struct pbehav sink_b = { .read = true };

static void
check_all_eof(struct peer *p)
{
	unsigned i;

	peer_lock(p);
	for (i = 0; i < p->nconns; i++) {
		struct pconn *c = p->conns[i];

		if (!c->eof || c->err != 0) {
			peer_unlock(p);
			IT_FAIL("%s: connection %u ended without a clean EOF "
			    "(eof %d, error %s)", p->name, i, c->eof,
			    c->err ? strerror(c->err) : "none");
		}
	}
	peer_unlock(p);
}

static void
run_relay(const struct relay_cfg *rc)
{
	unsigned nconn = IT_SCALE(8, 4), i, m;
	uint64_t bytes = IT_SCALE(4u << 20, 1u << 20), total;
	struct peer *up, *mir[2], *cl;
	const char *args[16];
	char want[256];
	struct it_stats st;
	struct pbehav cb;
	struct ks k;
	size_t n = 0;

	total = (uint64_t)nconn * bytes;
	up = peer_listen("upstream", rc->upstream, &echo_b);
	if (rc->no_splice)
		args[n++] = "--no-splice";
	for (m = 0; m < rc->nmirrors; m++) {
		mir[m] = peer_listen(m == 0 ? "mirror0" : "mirror1",
		    rc->mirrors[m], &sink_b);
		args[n++] = "--mirror";
		args[n++] = mir[m]->addr.text;
	}
	args[n++] = rc->listen;
	args[n++] = up->addr.text;
	args[n] = NULL;
	ks_start(&k, args);
	snprintf(want, sizeof(want), ", upstream %s, %u mirror", up->addr.text,
	    rc->nmirrors);
	IT_CHECKF(strstr(k.listen_line, want) != NULL,
	    "listening line \"%s\" lacks \"%s\"", k.listen_line, want);

	cl = peer_client("client");
	memset(&cb, 0, sizeof(cb));
	cb.read = true;
	cb.send = bytes;
	cb.fin = true;
	for (i = 0; i < nconn; i++)
		peer_connect(cl, &k.listen, &cb);
	PEER_WAIT(cl, cl->ndone == nconn, 60);
	peer_check_echoed(cl, nconn);
	it_log("%u clients got back their %" PRIu64 " bytes each", nconn,
	    bytes);

	PEER_WAIT(up, up->ndone == nconn, 30);
	peer_check_same(cl, true, up, nconn, "client -> upstream");
	check_all_eof(up);
	for (m = 0; m < rc->nmirrors; m++) {
		PEER_WAIT(mir[m], mir[m]->ndone == nconn, 30);
		peer_check_same(cl, true, mir[m], nconn, "client -> mirror");
		check_all_eof(mir[m]);
	}
	it_log("upstream and %u mirror(s) got every byte", rc->nmirrors);

	ks_wait_active(&k, 0, &st);
	IT_EQ(st.conns, nconn);
	IT_EQ(st.up_bytes, total);
	IT_EQ(st.down_bytes, total);
	IT_EQ(st.mirror_bytes, total * rc->nmirrors);
	IT_EQ(st.spliced + st.copied, st.up_bytes + st.down_bytes);
	if (rc->no_splice)
		IT_EQ(st.spliced, 0);
	IT_EQ(st.errors, 0);
	IT_EQ(st.refused, 0);
	IT_EQ(st.denied, 0);
	IT_EQ(st.mirror_detached, 0);
	IT_EQ(st.mirror_dropped, 0);
	IT_EQ(st.udp_sessions, 0);
	ks_stop(&k);
	peer_free(cl);
	peer_free(up);
	for (m = 0; m < rc->nmirrors; m++)
		peer_free(mir[m]);
}

static void
tcp_m0(void)
{
	struct relay_cfg rc = { "tcp:127.0.0.1:0", "tcp:127.0.0.1:0",
		{ NULL, NULL }, 0, false };

	run_relay(&rc);
}

static void
tcp_m1(void)
{
	struct relay_cfg rc = { "tcp:127.0.0.1:0", "tcp:127.0.0.1:0",
		{ "tcp:127.0.0.1:0", NULL }, 1, false };

	run_relay(&rc);
}

static void
tcp_m2(void)
{
	struct relay_cfg rc = { "tcp:127.0.0.1:0", "tcp:127.0.0.1:0",
		{ "tcp:127.0.0.1:0", "tcp:127.0.0.1:0" }, 2, false };

	run_relay(&rc);
}

static void
tcp_nosplice(void)
{
	struct relay_cfg rc = { "tcp:127.0.0.1:0", "tcp:127.0.0.1:0",
		{ "tcp:127.0.0.1:0", NULL }, 1, true };

	run_relay(&rc);
}

static void
tcp6(void)
{
	struct relay_cfg rc = { "tcp:[::1]:0", "tcp:[::1]:0",
		{ "tcp:[::1]:0", NULL }, 1, false };

	if (!it_have_ipv6())
		it_skip("this machine cannot bind [::1]");
	run_relay(&rc);
}

static void
unix_to_tcp(void)
{
	char l[128], m[128];
	struct relay_cfg rc = { l, "tcp:127.0.0.1:0", { m, NULL }, 1, false };

	it_unix_path(l, sizeof(l), "listen.sock");
	it_unix_path(m, sizeof(m), "mirror.sock");
	run_relay(&rc);
}

static void
tcp_to_unix(void)
{
	char u[128];
	struct relay_cfg rc = { "tcp:127.0.0.1:0", u, { "tcp:127.0.0.1:0",
		NULL }, 1, false };

	it_unix_path(u, sizeof(u), "upstream.sock");
	run_relay(&rc);
}

/*
 * The client sends a little and ends its sending side; the upstream reads to
 * EOF, waits 2 s and only then sends a large reply and ends.  The reply
 * must arrive whole at the client, which meanwhile had half-closed.
 */
static void
late_reply(void)
{
	uint64_t reply = IT_SCALE(50000000u, 16000000u), req = 65536;
	struct pbehav ub, cb;
	struct peer *up, *mir, *cl;
	struct pconn *c, *u;
	struct it_stats st;
	struct ks k;
	const char *args[8];

	memset(&ub, 0, sizeof(ub));
	ub.read = true;
	ub.send = reply;
	ub.send_after_eof = true;
	ub.send_delay_ns = 2000000000ull;
	ub.fin = true;
	up = peer_listen("upstream", "tcp:127.0.0.1:0", &ub);
	mir = peer_listen("mirror", "tcp:127.0.0.1:0", &sink_b);
	args[0] = "--mirror";
	args[1] = mir->addr.text;
	args[2] = "tcp:127.0.0.1:0";
	args[3] = up->addr.text;
	args[4] = NULL;
	ks_start(&k, args);

	cl = peer_client("client");
	memset(&cb, 0, sizeof(cb));
	cb.read = true;
	cb.send = req;
	cb.fin = true;
	c = peer_connect(cl, &k.listen, &cb);
	PEER_WAIT(up, up->nconns == 1 && up->conns[0]->eof, 20);
	it_log("the upstream saw the client's FIN; it replies in 2 s");
	PEER_WAIT(cl, c->done, 90);
	PEER_WAIT(up, up->ndone == 1, 30);
	u = up->conns[0];
	peer_lock(cl);
	peer_lock(up);
	IT_CHECKF(c->err == 0, "client: %s", strerror(c->err));
	IT_CHECK(c->fin_sent);
	IT_CHECK(c->eof);
	IT_EQ(c->tx, req);
	IT_EQ(u->rx, req);
	IT_CHECKF(u->rx_hash == c->tx_hash, "the upstream got other bytes");
	IT_CHECK(u->eof);
	IT_CHECK(u->err == 0);
	IT_EQ(u->tx, reply);
	IT_EQ(c->rx, reply);
	IT_CHECKF(c->rx_hash == u->tx_hash, "the reply arrived changed");
	/* The reply left only after the EOF had arrived (2 s later). */
	IT_CHECK(u->t_eof != 0 && c->t_done > u->t_eof);
	peer_unlock(up);
	peer_unlock(cl);
	it_log("%" PRIu64 " bytes of late reply arrived whole", reply);

	PEER_WAIT(mir, mir->ndone == 1, 30);
	peer_check_same(cl, true, mir, 1, "client -> mirror");
	check_all_eof(mir);

	ks_wait_active(&k, 0, &st);
	IT_EQ(st.up_bytes, req);
	IT_EQ(st.down_bytes, reply);
	IT_EQ(st.mirror_bytes, req);
	IT_EQ(st.errors, 0);
	ks_stop(&k);
	peer_free(cl);
	peer_free(up);
	peer_free(mir);
}

static const struct it_case cases[] = {
	{ "tcp-m0", tcp_m0 },
	{ "tcp-m1", tcp_m1 },
	{ "tcp-m2", tcp_m2 },
	{ "tcp-nosplice", tcp_nosplice },
	{ "tcp6", tcp6 },
	{ "unix-to-tcp", unix_to_tcp },
	{ "tcp-to-unix", tcp_to_unix },
	{ "late-reply", late_reply },
};

int
main(int argc, char **argv)
{
	return it_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
