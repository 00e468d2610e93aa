/*
 * load.c: many connections, at once and one batch after another.
 *
 *   many-concurrent   1,000 connections (200 under sanitizers) all open at
 *                     once: each has made a round trip while every other is
 *                     still open (stats active = all), then each finishes
 *                     its exchange, checked by hash
 *   churn             after a warm-up of 200 connections, 10,000 more
 *                     (2,000 under sanitizers) in batches of 100: every
 *                     echo checked, and kcsplice's descriptors and heap
 *                     (stats fds, heap_bytes) come back to where they were
 *                     after the warm-up (fds exactly, heap within 256 KiB)
 */
#include "it.h"
#include "peer.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

static const struct pbehav echo_b = { .read = true, .echo = true,
	.fin = true };

static unsigned
count_rx_at_least(struct peer *p, uint64_t n)
{
	unsigned i, k = 0;

	for (i = 0; i < p->nconns; i++) {
		if (p->conns[i]->err != 0) {
			int err = p->conns[i]->err;

			peer_unlock(p);
			IT_FAIL("%s: connection %u failed: %s", p->name, i,
			    strerror(err));
		}
		k += p->conns[i]->rx >= n;
	}
	return k;
}

static void
many_concurrent(void)
{
	unsigned long nofile = it_raise_nofile();
	unsigned n = IT_SCALE(1000, 200), i;
	struct peer *up, *cl;
	struct it_stats st;
	struct pbehav cb;
	const char *args[4];
	struct ks k;

	/* This process holds both ends; kcsplice inherits the limit. */
	if (nofile < 2ul * n + 100) {
		n = (unsigned)((nofile - 100) / 2);
		it_log("RLIMIT_NOFILE is %lu: %u connections", nofile, n);
		IT_GE(n, 100);
	}
	up = peer_listen("upstream", "tcp:127.0.0.1:0", &echo_b);
	args[0] = "tcp:127.0.0.1:0";
	args[1] = up->addr.text;
	args[2] = NULL;
	ks_start(&k, args);

	cl = peer_client("client");
	memset(&cb, 0, sizeof(cb));
	cb.read = true;
	cb.send = 1024;
	cb.send_gated = true;	/* half now, half when all are open */
	cb.send_gate = 512;
	cb.fin = true;
	for (i = 0; i < n; i++)
		peer_connect(cl, &k.listen, &cb);
	PEER_WAIT(cl, count_rx_at_least(cl, 512) == n, 60);
	peer_lock(cl);
	IT_EQ(cl->ndone, 0);
	peer_unlock(cl);
	ks_wait_active(&k, n, &st);
	it_log("%u connections open at once, each made a round trip", n);

	peer_open_gates(cl);
	PEER_WAIT(cl, cl->ndone == n, 60);
	peer_check_echoed(cl, n);
	PEER_WAIT(up, up->ndone == n, 30);
	peer_check_same(cl, true, up, n, "client -> upstream");
	ks_wait_active(&k, 0, &st);
	IT_EQ(st.conns, n);
	IT_EQ(st.errors, 0);
	IT_EQ(st.refused, 0);
	IT_EQ(st.up_bytes, n * 1024ull);
	IT_EQ(st.down_bytes, n * 1024ull);
	ks_stop(&k);
	peer_free(cl);
	peer_free(up);
}

/* count more connections, batch at a time, each a checked echo. */
static void
batches(struct peer *cl, const struct it_addr *to, unsigned count,
    unsigned batch, uint64_t deadline)
{
	struct pbehav cb;
	unsigned done = 0, b, i, base;

	memset(&cb, 0, sizeof(cb));
	cb.read = true;
	cb.send = 256;
	cb.fin = true;
	peer_lock(cl);
	base = cl->nconns;
	peer_unlock(cl);
	while (done < count) {
		b = count - done < batch ? count - done : batch;
		for (i = 0; i < b; i++)
			peer_connect(cl, to, &cb);
		done += b;
		PEER_WAIT(cl, cl->ndone == base + done, 30);
		if (it_now_ns() > deadline)
			IT_FAIL("churn: only %u of %u connections in the time "
			    "limit", done, count);
	}
}

static void
churn(void)
{
	unsigned warm = 200, n = getenv("CHURN_N") ? (unsigned)atoi(getenv("CHURN_N")) : IT_SCALE(10000, 2000), batch = 100;
	uint64_t deadline, settle;
	struct it_stats st0, st;
	struct peer *up, *cl;
	const char *args[4];
	struct ks k;
	int64_t dheap;

	it_raise_nofile();
	up = peer_listen("upstream", "tcp:127.0.0.1:0", &echo_b);
	args[0] = "tcp:127.0.0.1:0";
	args[1] = up->addr.text;
	args[2] = NULL;
	ks_start(&k, args);
	cl = peer_client("client");
	deadline = it_now_ns() + (uint64_t)(it_limit(1000) * 1e9);

	batches(cl, &k.listen, warm, batch, deadline);
	ks_wait_active(&k, 0, &st0);
	it_log("after %u connections: fds %" PRIu64 ", heap %" PRIu64, warm,
	    st0.fds, st0.heap_bytes);
	batches(cl, &k.listen, n, batch, deadline);
	peer_check_echoed(cl, warm + n);
	PEER_WAIT(up, up->ndone == warm + n, 30);
	peer_check_same(cl, true, up, warm + n, "client -> upstream");

	/* Closing is asynchronous: let it settle, but only so long. */
	settle = it_now_ns() + (uint64_t)(it_limit(10) * 1e9);
	for (;;) {
		ks_wait_active(&k, 0, &st);
		dheap = (int64_t)st.heap_bytes - (int64_t)st0.heap_bytes;
		if (st.fds == st0.fds && dheap <= 256 * 1024 &&
		    dheap >= -256 * 1024)
			break;
		if (it_now_ns() > settle)
			IT_FAIL("after %u more connections: fds %" PRIu64
			    " (was %" PRIu64 "), heap %" PRIu64 " (was %" PRIu64
			    ", %+" PRId64 " bytes)", n, st.fds, st0.fds,
			    st.heap_bytes, st0.heap_bytes, dheap);
		it_sleep_ms(50);
	}
	it_log("after %u more: fds %" PRIu64 ", heap %" PRIu64 " (%+" PRId64
	    ")", n, st.fds, st.heap_bytes, dheap);
	IT_EQ(st.conns, warm + n);
	IT_EQ(st.errors, 0);
	ks_stop(&k);
	peer_free(cl);
	peer_free(up);
}

static const struct it_case cases[] = {
	{ "many-concurrent", many_concurrent },
	{ "churn", churn },
};

int
main(int argc, char **argv)
{
	return it_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
