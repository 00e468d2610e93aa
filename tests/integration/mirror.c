/*
 * mirror.c: mirrors that do not keep up never hold the primary back.
 *
 *   mirror-stalled   a mirror that never reads: the primary finishes with
 *                    every byte, the mirror is detached (log line, stats)
 *   mirror-slow      a mirror that reads nothing until the primary is done,
 *                    then slowly, within a budget large enough: it still
 *                    gets every byte, and nothing is detached or dropped
 *   mirror-drop      --mirror-policy drop, a small budget, a stalled mirror:
 *                    the primary is whole, the excess is dropped and counted
 *                    (log line, stats), the mirror is not detached and gets
 *                    what was kept, then EOF
 */
#include "it.h"
#include "peer.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const struct pbehav echo_b = { .read = true, .echo = true,
	.fin = true };

static void
start(struct ks *k, struct peer *up, struct peer *mir, const char *o1,
    const char *v1, const char *o2, const char *v2)
{
	const char *args[12];
	size_t n = 0;

	if (o1 != NULL) {
		args[n++] = o1;
		args[n++] = v1;
	}
	if (o2 != NULL) {
		args[n++] = o2;
		args[n++] = v2;
	}
	args[n++] = "--mirror";
	args[n++] = mir->addr.text;
	args[n++] = "tcp:127.0.0.1:0";
	args[n++] = up->addr.text;
	args[n] = NULL;
	ks_start(k, args);
}

static struct peer *
clients(struct ks *k, unsigned n, uint64_t bytes)
{
	struct peer *cl = peer_client("client");
	struct pbehav cb;
	unsigned i;

	memset(&cb, 0, sizeof(cb));
	cb.read = true;
	cb.send = bytes;
	cb.fin = true;
	for (i = 0; i < n; i++)
		peer_connect(cl, &k->listen, &cb);
	return cl;
}

static uint64_t
rx_sum(struct peer *p)
{
	uint64_t sum = 0;
	unsigned i;

	peer_lock(p);
	for (i = 0; i < p->nconns; i++)
		sum += p->conns[i]->rx;
	peer_unlock(p);
	return sum;
}

static void
mirror_stalled(void)
{
	uint64_t bytes = IT_SCALE(32u << 20, 8u << 20);
	struct peer *up, *mir, *cl;
	struct pbehav hb;
	struct it_stats st;
	struct ks k;

	memset(&hb, 0, sizeof(hb));
	hb.keep = true;		/* never reads, stays open */
	hb.rcvbuf = 4096;
	up = peer_listen("upstream", "tcp:127.0.0.1:0", &echo_b);
	mir = peer_listen("mirror", "tcp:127.0.0.1:0", &hb);
	start(&k, up, mir, "--mirror-budget", "256k", NULL, NULL);

	cl = clients(&k, 1, bytes);
	PEER_WAIT(cl, cl->ndone == 1, 60);
	peer_check_echoed(cl, 1);
	PEER_WAIT(up, up->ndone == 1, 30);
	peer_check_same(cl, true, up, 1, "client -> upstream");
	it_log("the primary finished whole past a mirror that never reads");

	ks_wait_line(&k, " detached");
	IT_CHECKF(ks_has_line(&k, "kcsplice: mirror ", mir->addr.text,
	    " detached"), "no \"mirror %s detached\" line", mir->addr.text);
	ks_wait_active(&k, 0, &st);
	IT_EQ(st.mirror_detached, 1);
	IT_EQ(st.mirror_dropped, 0);
	IT_EQ(st.up_bytes, bytes);
	IT_EQ(st.down_bytes, bytes);
	IT_LT(st.mirror_bytes, bytes);
	ks_stop(&k);
	peer_free(cl);
	peer_free(up);
	peer_free(mir);
}

static void
mirror_slow(void)
{
	uint64_t bytes = IT_SCALE(8u << 20, 2u << 20), got;
	unsigned nconn = 2;
	struct peer *up, *mir, *cl;
	struct pbehav sb;
	struct it_stats st;
	struct ks k;

	memset(&sb, 0, sizeof(sb));
	sb.read = true;
	sb.read_gated = true;	/* 64 KiB, then nothing until the gate opens */
	sb.read_gate = 65536;
	sb.read_chunk = 65536;	/* then 64 KiB every 5 ms */
	sb.read_pause_ns = 5000000;
	up = peer_listen("upstream", "tcp:127.0.0.1:0", &echo_b);
	mir = peer_listen("mirror", "tcp:127.0.0.1:0", &sb);
	start(&k, up, mir, "--mirror-budget", "64M", NULL, NULL);

	cl = clients(&k, nconn, bytes);
	PEER_WAIT(cl, cl->ndone == nconn, 60);
	peer_check_echoed(cl, nconn);
	got = rx_sum(mir);
	it_log("primary done; the mirror has read %" PRIu64 " of %" PRIu64
	    " bytes", got, nconn * bytes);
	/* The primary finished while the mirror could not have kept up. */
	IT_LE(got, nconn * 65536u);

	peer_open_gates(mir);
	PEER_WAIT(mir, mir->ndone == nconn, 120);
	peer_check_same(cl, true, mir, nconn, "client -> slow mirror");
	peer_lock(mir);
	IT_CHECK(mir->conns[0]->eof && mir->conns[0]->err == 0);
	IT_CHECK(mir->conns[1]->eof && mir->conns[1]->err == 0);
	peer_unlock(mir);
	it_log("the slow mirror got every byte");

	ks_wait_active(&k, 0, &st);
	IT_EQ(st.mirror_detached, 0);
	IT_EQ(st.mirror_dropped, 0);
	IT_EQ(st.mirror_bytes, nconn * bytes);
	IT_EQ(st.up_bytes, nconn * bytes);
	IT_EQ(st.errors, 0);
	ks_stop(&k);
	peer_free(cl);
	peer_free(up);
	peer_free(mir);
}

static void
mirror_drop(void)
{
	uint64_t bytes = IT_SCALE(16u << 20, 8u << 20), got;
	struct peer *up, *mir, *cl;
	struct pbehav sb;
	struct it_stats st;
	struct pconn *m;
	struct ks k;

	memset(&sb, 0, sizeof(sb));
	sb.read = true;
	sb.read_gated = true;	/* stalled until the gate opens */
	sb.read_gate = 0;
	sb.rcvbuf = 4096;
	up = peer_listen("upstream", "tcp:127.0.0.1:0", &echo_b);
	mir = peer_listen("mirror", "tcp:127.0.0.1:0", &sb);
	start(&k, up, mir, "--mirror-policy", "drop", "--mirror-budget",
	    "64k");

	cl = clients(&k, 1, bytes);
	PEER_WAIT(cl, cl->ndone == 1, 60);
	peer_check_echoed(cl, 1);
	PEER_WAIT(up, up->ndone == 1, 30);
	peer_check_same(cl, true, up, 1, "client -> upstream");
	it_log("the primary finished whole past a stalled mirror");

	ks_wait_line(&k, " dropping");
	IT_CHECKF(ks_has_line(&k, "kcsplice: mirror ", mir->addr.text,
	    " dropping"), "no \"mirror %s dropping\" line", mir->addr.text);
	ks_stats(&k, &st);
	IT_GT(st.mirror_dropped, 0);
	IT_LE(st.mirror_dropped, bytes);
	IT_EQ(st.mirror_detached, 0);

	/* Let the mirror read: it gets what was kept, then EOF. */
	peer_open_gates(mir);
	PEER_WAIT(mir, mir->ndone == 1, 60);
	m = mir->conns[0];
	peer_lock(mir);
	IT_CHECKF(m->eof && m->err == 0, "mirror: eof %d, error %s", m->eof,
	    m->err ? strerror(m->err) : "none");
	got = m->rx;
	peer_unlock(mir);
	ks_wait_active(&k, 0, &st);
	it_log("mirror got %" PRIu64 " bytes, %" PRIu64 " dropped, of %"
	    PRIu64, got, st.mirror_dropped, bytes);
	IT_EQ(st.mirror_detached, 0);
	IT_GT(st.mirror_dropped, 0);
	IT_EQ(st.mirror_bytes, got);
	/* Every byte was either delivered or dropped. */
	IT_EQ(got + st.mirror_dropped, bytes);
	IT_EQ(st.up_bytes, bytes);
	IT_EQ(st.down_bytes, bytes);
	ks_stop(&k);
	peer_free(cl);
	peer_free(up);
	peer_free(mir);
}

static const struct it_case cases[] = {
	{ "mirror-stalled", mirror_stalled },
	{ "mirror-slow", mirror_slow },
	{ "mirror-drop", mirror_drop },
};

int
main(int argc, char **argv)
{
	return it_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
