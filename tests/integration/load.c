/*
 * load.c: many connections, at once and one batch after another.
 *
 *   many-concurrent   1,000 connections (200 under sanitizers) all open at
 *                     once: each has made a round trip while every other is
 *                     still open (stats active = all), then each finishes
 *                     its exchange, checked by hash
 *   churn             after a warm-up of 200 connections, 10,000 more
 *                     (2,000 under sanitizers) in batches of 100, in two
 *                     halves: every echo checked; after each half
 *                     kcsplice's descriptors (stats fds) are exactly where
 *                     they were after the warm-up, and its heap
 *                     (heap_bytes) within 256 KiB plus what kcont's bounded
 *                     buffer caches may hold (about 1 MiB for -j 2): a leak
 *                     of ~130 bytes a connection shows
 */
#include "it.h"
#include "peer.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

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

/*
 * The heap a correct kcsplice may hold past its connections: kcont keeps
 * freed buffer segments (16 KiB) and views in bounded per-thread caches
 * (src/msg/buf.c: 32 segments and 256 views a thread), whose fill wanders
 * with which thread frees what; kcsplice runs with -j 2 here.
 */
#define CHURN_THREADS	2
#define CACHE_BOUND	(CHURN_THREADS * (32 * (16384 + 128) + 256 * 64))
#define HEAP_SLACK	(CACHE_BOUND + (256 << 10))

/*
 * kcsplice's descriptors and heap once every connection so far is closed;
 * closing is asynchronous, so let them settle (bounded) toward want_fds and
 * a heap within HEAP_SLACK of want_heap, and return what they are.
 */
static void
settled(struct ks *k, const struct it_stats *want, struct it_stats *st)
{
	uint64_t deadline = it_now_ns() + (uint64_t)(it_limit(10) * 1e9);

	for (;;) {
		ks_wait_active(k, 0, st);
		if (st->fds == want->fds && (int64_t)st->heap_bytes -
		    (int64_t)want->heap_bytes <= HEAP_SLACK)
			return;
		if (it_now_ns() > deadline)
			return;
		it_sleep_ms(50);
	}
}

static void
check_back(const struct it_stats *st0, const struct it_stats *st,
    unsigned after)
{
	int64_t d = (int64_t)st->heap_bytes - (int64_t)st0->heap_bytes;

	it_log("after %u more: fds %" PRIu64 ", heap %" PRIu64 " (%+" PRId64
	    ")", after, st->fds, st->heap_bytes, d);
	IT_CHECKF(st->fds == st0->fds, "after %u more connections kcsplice "
	    "has %" PRIu64 " descriptors, not %" PRIu64, after, st->fds,
	    st0->fds);
	IT_CHECKF(d <= HEAP_SLACK, "after %u more connections kcsplice's "
	    "heap grew %" PRId64 " bytes (allowed: %d of caches and 256 KiB)",
	    after, d, CACHE_BOUND);
}

static void
churn(void)
{
	unsigned warm = 200, n = IT_SCALE(10000, 2000), batch = 100;
	struct it_stats st0, st1, st2;
	struct peer *up, *cl;
	const char *args[6];
	uint64_t deadline;
	struct ks k;

	it_raise_nofile();
	up = peer_listen("upstream", "tcp:127.0.0.1:0", &echo_b);
	args[0] = "-j";
	args[1] = "2";
	args[2] = "tcp:127.0.0.1:0";
	args[3] = up->addr.text;
	args[4] = NULL;
	ks_start(&k, args);
	cl = peer_client("client");
	deadline = it_now_ns() + (uint64_t)(it_limit(100) * 1e9);

	batches(cl, &k.listen, warm, batch, deadline);
	ks_wait_active(&k, 0, &st0);
	it_log("after %u connections: fds %" PRIu64 ", heap %" PRIu64, warm,
	    st0.fds, st0.heap_bytes);
	batches(cl, &k.listen, n / 2, batch, deadline);
	settled(&k, &st0, &st1);
	check_back(&st0, &st1, n / 2);
	batches(cl, &k.listen, n - n / 2, batch, deadline);
	settled(&k, &st0, &st2);
	check_back(&st0, &st2, n);

	peer_check_echoed(cl, warm + n);
	PEER_WAIT(up, up->ndone == warm + n, 30);
	peer_check_same(cl, true, up, warm + n, "client -> upstream");
	IT_EQ(st2.conns, warm + n);
	IT_EQ(st2.errors, 0);
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
