/*
 * badinput.c: misbehaving clients affect nobody else, and never kcsplice.
 *
 * In every scenario a well-behaved connection is open throughout: it sends
 * the first part of its stream and gets it back before the bad clients
 * start, the rest after they did their worst; what came back is checked by
 * hash.  At the end kcsplice must stop with exit status 0 on SIGTERM.
 *
 *   bad-garbage-halfopen   garbage bytes (echoed back unchanged, as a relay
 *                          should), garbage then reset, connect and never
 *                          send, half a request then nothing, FIN at once
 *                          (EOF, no data), reset at once; the two half-open
 *                          ones are still open at SIGTERM, and kcsplice
 *                          cuts them after --shutdown-timeout and exits
 *                          75 (EX_TEMPFAIL): connections had to be cut
 *   bad-noread             a client that never reads while the upstream
 *                          sends it a lot
 *   bad-maxconns           a flood past --max-conns: every extra is closed
 *                          at once without data, refused counted and
 *                          logged; once the others leave, new ones work
 *   bad-allow              --allow 127.0.0.2/32: a client from 127.0.0.1 is
 *                          denied (closed, no data, counted, logged), one
 *                          from 127.0.0.2 is served
 */
#include "it.h"
#include "peer.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static const struct pbehav echo_b = { .read = true, .echo = true,
	.fin = true };

/* The well-behaved connection, its first part echoed back. */
static struct pconn *
good_start(struct peer *gp, struct ks *k, const char *bind_ip)
{
	uint64_t first = IT_SCALE(1u << 20, 256u << 10);
	struct pbehav b;
	struct pconn *c;

	memset(&b, 0, sizeof(b));
	b.read = true;
	b.send = IT_SCALE(8u << 20, 2u << 20);
	b.send_gated = true;
	b.send_gate = first;
	b.fin = true;
	b.bind_ip = bind_ip;
	c = peer_connect(gp, &k->listen, &b);
	PEER_WAIT(gp, c->rx >= first || c->done, 30);
	peer_lock(gp);
	IT_CHECKF(!c->done && c->rx == first, "the good connection: %s, %"
	    PRIu64 " bytes back", c->err ? strerror(c->err) : "ended", c->rx);
	peer_unlock(gp);
	return c;
}

static void
good_finish(struct peer *gp, struct pconn *c)
{
	peer_open_gates(gp);
	PEER_WAIT(gp, c->done, 60);
	peer_check_echoed(gp, 1);
	it_log("the well-behaved connection got back all its %" PRIu64
	    " bytes", c->tx);
}

static void
start(struct ks *k, struct peer *up, const char *o1, const char *v1,
    const char *o2, const char *v2)
{
	const char *args[10];
	size_t n = 0;

	if (o1 != NULL) {
		args[n++] = o1;
		args[n++] = v1;
	}
	if (o2 != NULL) {
		args[n++] = o2;
		args[n++] = v2;
	}
	args[n++] = "tcp:127.0.0.1:0";
	args[n++] = up->addr.text;
	args[n] = NULL;
	ks_start(k, args);
}

/* Ended with no data: EOF, or reset (or EPIPE while sending). */
static void
check_closed_empty(struct peer *p, const char *what)
{
	unsigned i;

	peer_lock(p);
	for (i = 0; i < p->nconns; i++) {
		struct pconn *c = p->conns[i];

		if (!c->done || c->rx != 0 || !(c->eof || c->err ==
		    ECONNRESET || c->err == EPIPE)) {
			int err = c->err;
			uint64_t rx = c->rx;
			bool done = c->done;

			peer_unlock(p);
			IT_FAIL("%s: connection %u: done %d, %" PRIu64 " bytes, "
			    "%s", what, i, done, rx, err ? strerror(err) :
			    "no error");
		}
	}
	peer_unlock(p);
}

static void
bad_garbage_halfopen(void)
{
	struct peer *up, *gp, *garb, *misc;
	struct pconn *good, *idle, *half, *fin;
	unsigned ngarb = 20, i;
	struct pbehav b;
	struct it_stats st;
	struct ks k;

	up = peer_listen("upstream", "tcp:127.0.0.1:0", &echo_b);
	start(&k, up, "--shutdown-timeout", "1", NULL, NULL);
	k.keep_log = true;
	gp = peer_client("good");
	good = good_start(gp, &k, NULL);

	/* Garbage: random bytes, ended; they come back as they went. */
	garb = peer_client("garbage");
	memset(&b, 0, sizeof(b));
	b.read = true;
	b.send = 4096;
	b.fin = true;
	for (i = 0; i < ngarb; i++)
		peer_connect(garb, &k.listen, &b);

	misc = peer_client("misc");
	/* Garbage, then a reset at once. */
	memset(&b, 0, sizeof(b));
	b.send = 4096;
	b.reset = true;
	for (i = 0; i < 5; i++)
		peer_connect(misc, &k.listen, &b);
	/* A reset right after connecting. */
	memset(&b, 0, sizeof(b));
	b.reset = true;
	for (i = 0; i < 5; i++)
		peer_connect(misc, &k.listen, &b);
	/* Connect and never send. */
	memset(&b, 0, sizeof(b));
	b.read = true;
	b.keep = true;
	idle = peer_connect(misc, &k.listen, &b);
	/* Half a request, then nothing. */
	b.send = 100;
	half = peer_connect(misc, &k.listen, &b);
	/* FIN at once. */
	memset(&b, 0, sizeof(b));
	b.read = true;
	b.fin = true;
	fin = peer_connect(misc, &k.listen, &b);

	PEER_WAIT(garb, garb->ndone == ngarb, 30);
	peer_check_echoed(garb, ngarb);
	PEER_WAIT(misc, fin->done && half->rx == 100, 30);
	peer_lock(misc);
	IT_CHECKF(fin->eof && fin->err == 0 && fin->rx == 0,
	    "FIN at once: eof %d, %s, %" PRIu64 " bytes", fin->eof,
	    fin->err ? strerror(fin->err) : "no error", fin->rx);
	IT_CHECK(pd_hash_final(&half->rxh) == pd_hash_final(&half->txh));
	IT_CHECKF(!idle->done && !half->done,
	    "a half-open connection was closed early");
	peer_unlock(misc);
	ks_check_alive(&k);
	it_log("garbage echoed, half-open connections still open");

	good_finish(gp, good);
	ks_wait_active(&k, 2, &st);
	IT_EQ(st.refused, 0);

	ks_kill(&k, SIGTERM);
	ks_wait_exit(&k, 75);
	IT_CHECK(ks_has_line(&k, "kcsplice: stopping: 2 connection", NULL,
	    NULL));
	IT_CHECK(ks_has_line(&k, "kcsplice: stopped: 2 connections cut", NULL,
	    NULL));
	ks_free_log(&k);
	/* kcsplice closed them on its way out. */
	PEER_WAIT(misc, idle->done && half->done, 10);
	it_log("kcsplice cut the half-open connections and exited 75");
	peer_free(garb);
	peer_free(misc);
	peer_free(gp);
	peer_free(up);
}


static void
bad_noread(void)
{
	struct peer *up, *gp, *nr;
	struct pconn *good, *c;
	struct pbehav b;
	struct it_stats st;
	struct ks k;

	up = peer_listen("upstream", "tcp:127.0.0.1:0", &echo_b);
	start(&k, up, NULL, NULL, NULL, NULL);
	gp = peer_client("good");
	good = good_start(gp, &k, NULL);

	/* Sends and sends, never reads: the echo piles up toward it. */
	nr = peer_client("noread");
	memset(&b, 0, sizeof(b));
	b.send = 1ull << 30;
	b.keep = true;
	c = peer_connect(nr, &k.listen, &b);
	PEER_WAIT(nr, c->tx >= (1u << 20) || c->done, 30);
	/* The upstream's second connection is the non-reader's. */
	PEER_WAIT(up, up->nconns == 2 && up->conns[1]->tx >= (512u << 10),
	    30);
	peer_lock(nr);
	IT_CHECKF(!c->done, "the non-reading client failed: %s",
	    strerror(c->err));
	peer_unlock(nr);
	it_log("the upstream sent 512 KiB and more to a client that never "
	    "reads");

	good_finish(gp, good);
	ks_check_alive(&k);
	peer_close(nr, c);
	PEER_WAIT(up, up->ndone == 2, 30);
	ks_wait_active(&k, 0, &st);
	ks_stop(&k);
	peer_free(nr);
	peer_free(gp);
	peer_free(up);
}

static unsigned
count_rx(struct peer *p, uint64_t n)
{
	unsigned i, k = 0;

	for (i = 0; i < p->nconns; i++)
		k += p->conns[i]->rx == n;
	return k;
}

static void
bad_maxconns(void)
{
	unsigned nheld = 8, nextra = IT_SCALE(50, 20), i;
	struct peer *up, *gp, *held, *extra, *late;
	struct pconn *good;
	struct pbehav b;
	struct it_stats st;
	struct ks k;

	up = peer_listen("upstream", "tcp:127.0.0.1:0", &echo_b);
	start(&k, up, "--max-conns", "9", NULL, NULL);
	gp = peer_client("good");
	good = good_start(gp, &k, NULL);

	held = peer_client("held");
	memset(&b, 0, sizeof(b));
	b.read = true;
	b.send = 10;
	b.keep = true;
	for (i = 0; i < nheld; i++)
		peer_connect(held, &k.listen, &b);
	PEER_WAIT(held, count_rx(held, 10) == nheld, 30);
	ks_wait_active(&k, nheld + 1, &st);
	it_log("%u connections open: at --max-conns", nheld + 1);

	extra = peer_client("extra");
	memset(&b, 0, sizeof(b));
	b.read = true;
	b.send = 10;
	for (i = 0; i < nextra; i++)
		peer_connect(extra, &k.listen, &b);
	PEER_WAIT(extra, extra->ndone == nextra, 30);
	check_closed_empty(extra, "a connection past --max-conns");
	ks_wait_line(&k, "max-conns 9 reached");
	IT_CHECK(ks_has_line(&k, "kcsplice: refused 127.0.0.1:",
	    "max-conns 9 reached", NULL));
	ks_stats(&k, &st);
	IT_EQ(st.refused, nextra);
	IT_EQ(st.active, nheld + 1);
	it_log("%u extra connections refused", nextra);

	good_finish(gp, good);
	peer_free(held);
	ks_wait_active(&k, 0, &st);
	/* The slots are free again. */
	late = peer_client("late");
	memset(&b, 0, sizeof(b));
	b.read = true;
	b.send = 1000;
	b.fin = true;
	for (i = 0; i < nheld; i++)
		peer_connect(late, &k.listen, &b);
	PEER_WAIT(late, late->ndone == nheld, 30);
	peer_check_echoed(late, nheld);
	ks_stats(&k, &st);
	IT_EQ(st.refused, nextra);
	ks_stop(&k);
	peer_free(late);
	peer_free(extra);
	peer_free(gp);
	peer_free(up);
}

static void
bad_allow(void)
{
	struct peer *up, *gp, *den;
	struct pconn *good;
	struct pbehav b;
	struct it_stats st;
	struct ks k;

	up = peer_listen("upstream", "tcp:127.0.0.1:0", &echo_b);
	start(&k, up, "--allow", "127.0.0.2/32", NULL, NULL);
	gp = peer_client("good");
	good = good_start(gp, &k, "127.0.0.2");

	den = peer_client("denied");
	memset(&b, 0, sizeof(b));
	b.read = true;
	b.send = 10;
	peer_connect(den, &k.listen, &b);
	PEER_WAIT(den, den->ndone == 1, 30);
	check_closed_empty(den, "a client outside --allow");
	ks_wait_line(&k, "not in --allow");
	IT_CHECK(ks_has_line(&k, "kcsplice: denied 127.0.0.1:",
	    "not in --allow", NULL));
	IT_CHECK(!ks_has_line(&k, "kcsplice: denied 127.0.0.2:", NULL, NULL));
	ks_stats(&k, &st);
	IT_EQ(st.denied, 1);
	it_log("the client from 127.0.0.1 was denied");

	good_finish(gp, good);
	PEER_WAIT(up, up->ndone == 1, 30);
	peer_lock(up);
	IT_EQ(up->nconns, 1);
	peer_unlock(up);
	ks_wait_active(&k, 0, &st);
	IT_EQ(st.denied, 1);
	ks_stop(&k);
	peer_free(den);
	peer_free(gp);
	peer_free(up);
}

static const struct it_case cases[] = {
	{ "bad-garbage-halfopen", bad_garbage_halfopen },
	{ "bad-noread", bad_noread },
	{ "bad-maxconns", bad_maxconns },
	{ "bad-allow", bad_allow },
};

int
main(int argc, char **argv)
{
	return it_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
