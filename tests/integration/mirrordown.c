/*
 * mirrordown.c: a mirror that cannot be reached is skipped, with back-off.
 *
 *   mirror-down-tcp    the mirror is a TCP port nothing listens on (kept
 *                      bound by the test, so connecting is refused): 50
 *                      connections through kcsplice (a wave of 10 at once,
 *                      then 4 more, 0.3 s apart, once it is down, so that
 *                      some connections probe it) all reach the upstream
 *                      whole; exactly one "down" line and no line per
 *                      connection; every connection either tried the
 *                      mirror (counted detached by the library) or skipped
 *                      it (mirror_skipped), and the tries are at most the
 *                      first wave plus one per back-off deadline passed.
 *                      Then the mirror starts listening: connections one
 *                      at a time until one reaches it, within the largest
 *                      wait (--mirror-retry 0.2:1) and some slack; one
 *                      "up again" line; 10 more connections are mirrored
 *                      whole (hashes), none skipped.
 *   mirror-down-unix   the same with a UNIX mirror whose path does not exist
 *                      yet (ENOENT, refused at once by connect(2)).
 *   mirror-lag-not-down two mirrors: one down, one that connects and never
 *                      reads (--mirror-budget 64k): each connection but the
 *                      first, which sends 4 KiB only, detaches
 *                      the second for its budget, logged under its own
 *                      address (the splice numbers only the mirrors a
 *                      connection has, the first being skipped), and it is
 *                      never taken for down; the first has one "down" line
 *                      and is skipped by every later connection.
 */
#include "it.h"
#include "peer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct pbehav echo_b = { .read = true, .echo = true,
	.fin = true };
static const struct pbehav sink_b = { .read = true, .fin = true };

/* The shortest wait --mirror-retry 0.2:1 may give, and the longest. */
#define WAIT_MIN_NS	150000000ull	/* 3/4 of 0.2 s */
#define WAIT_MAX_NS	1000000000ull

/* A TCP port of ours that nobody listens on: connecting is refused. */
static int
refused_port(char *addr, size_t size)
{
	struct sockaddr_in in;
	socklen_t len = sizeof(in);
	int fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	IT_CHECK(fd >= 0);
	memset(&in, 0, sizeof(in));
	in.sin_family = AF_INET;
	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	IT_CHECK(bind(fd, (struct sockaddr *)&in, sizeof(in)) == 0);
	IT_CHECK(getsockname(fd, (struct sockaddr *)&in, &len) == 0);
	snprintf(addr, size, "tcp:127.0.0.1:%u", ntohs(in.sin_port));
	return fd;
}

static void
connect_n(struct peer *cl, struct ks *k, unsigned n, uint64_t bytes)
{
	struct pbehav cb;
	unsigned i;

	memset(&cb, 0, sizeof(cb));
	cb.read = true;
	cb.send = bytes;
	cb.fin = true;
	for (i = 0; i < n; i++)
		peer_connect(cl, &k->listen, &cb);
}

/*
 * Every connection of the mirror is done and carries the stream of one
 * client connection (sent whole, in order), each a different one; and
 * every connection of must is among them.  Returns how many matched.
 */
static unsigned
check_mirrored(struct peer *mir, struct peer *const *cls, unsigned ncl,
    struct peer *must)
{
	unsigned i, j, c, matched = 0, must_found = 0;
	bool *used[4];

	IT_CHECK(ncl <= 4);
	for (c = 0; c < ncl; c++) {
		used[c] = calloc(cls[c]->nconns + 1, sizeof(bool));
		IT_CHECK(used[c] != NULL);
		peer_lock(cls[c]);
	}
	peer_lock(mir);
	for (i = 0; i < mir->nconns; i++) {
		struct pconn *m = mir->conns[i];
		bool found = false;

		IT_CHECKF(m->done && m->eof && m->err == 0, "mirror connection "
		    "%u: done %d, eof %d, error %s", i, m->done, m->eof,
		    m->err ? strerror(m->err) : "none");
		for (c = 0; c < ncl && !found; c++) {
			for (j = 0; j < cls[c]->nconns && !found; j++) {
				struct pconn *s = cls[c]->conns[j];

				if (used[c][j] || !s->done || s->tx != m->rx ||
				    s->tx_hash != m->rx_hash)
					continue;
				used[c][j] = found = true;
				if (cls[c] == must)
					must_found++;
			}
		}
		IT_CHECKF(found, "mirror connection %u: %" PRIu64 " bytes, "
		    "hash %016" PRIx64 ": no client sent that", i, m->rx,
		    m->rx_hash);
		matched++;
	}
	IT_CHECKF(must_found == must->nconns, "%u of the %u connections of %s "
	    "reached the mirror whole", must_found, must->nconns, must->name);
	peer_unlock(mir);
	for (c = 0; c < ncl; c++) {
		peer_unlock(cls[c]);
		free(used[c]);
	}
	return matched;
}

static void
mirror_down(bool unix_mirror)
{
	const unsigned wave = 10, nconn = 50, nlate = 10;
	const uint64_t bytes = 65536;
	struct peer *up, *mir, *cl, *cl2, *cl3, *cls[2];
	struct it_stats st, st_up;
	char maddr[160], want[256];
	uint64_t t0, t1, elapsed, bound;
	unsigned i, n;
	struct ks k;
	const char *args[10];
	int hold = -1;

	if (unix_mirror)
		it_unix_path(maddr, sizeof(maddr), "mirror.sock");
	else
		hold = refused_port(maddr, sizeof(maddr));
	up = peer_listen("upstream", "tcp:127.0.0.1:0", &echo_b);
	args[0] = "--mirror-retry";
	args[1] = "0.2:1";
	args[2] = "-m";
	args[3] = maddr;
	args[4] = "tcp:127.0.0.1:0";
	args[5] = up->addr.text;
	args[6] = NULL;
	ks_start(&k, args);

	/* A first wave at once: all may try the mirror before it is down. */
	t0 = it_now_ns();
	cl = peer_client("client");
	connect_n(cl, &k, wave, bytes);
	snprintf(want, sizeof(want), "kcsplice: mirror %s down: ", maddr);
	ks_wait_line(&k, want);
	for (n = wave; n < nconn; n += wave) {
		/* Spread over a few deadlines: some connections probe. */
		it_sleep_ms(300);
		connect_n(cl, &k, wave, bytes);
		PEER_WAIT(cl, cl->ndone == n + wave, 30);
	}
	PEER_WAIT(cl, cl->ndone == nconn, 30);
	elapsed = it_now_ns() - t0;
	peer_check_echoed(cl, nconn);
	PEER_WAIT(up, up->ndone == nconn, 30);
	peer_check_same(cl, true, up, nconn, "client -> upstream");
	it_log("%u connections whole past a mirror that is down", nconn);

	ks_wait_active(&k, 0, &st);
	/* Every connection tried the mirror (and lost it) or skipped it. */
	IT_EQ(st.mirror_detached + st.mirror_skipped, nconn);
	IT_EQ(st.mirror_bytes, 0);
	/* Tries: the first wave, and one probe per deadline at most. */
	bound = wave + 1 + elapsed / WAIT_MIN_NS;
	it_log("mirror tried %" PRIu64 " times, skipped %" PRIu64 " times in "
	    "%.2f s (at most %" PRIu64 " tries allowed)", st.mirror_detached,
	    st.mirror_skipped, (double)elapsed / 1e9, bound);
	IT_LE(st.mirror_detached, bound);
	IT_GE(st.mirror_detached, 1);
	IT_EQ(ks_count(&k, want), 1);
	/* No line per connection: the error is in the one "down" line. */
	IT_EQ(ks_count(&k, unix_mirror ? "No such file or directory" :
	    "Connection refused"), 1);
	IT_EQ(ks_count(&k, " up again"), 0);
	/* Failed probes are logged only with -v. */
	IT_EQ(ks_count(&k, " still down"), 0);

	/* The mirror starts: one connection at a time until it is tried. */
	if (hold >= 0)
		close(hold);
	mir = peer_listen("mirror", maddr, &sink_b);
	t1 = it_now_ns();
	cl2 = peer_client("client2");
	for (n = 1; ; n++) {
		bool reached;

		connect_n(cl2, &k, 1, bytes);
		PEER_WAIT(cl2, cl2->ndone == n, 30);
		peer_lock(mir);
		reached = mir->nconns > 0;
		peer_unlock(mir);
		if (reached || ks_has_line(&k, " up again", NULL, NULL))
			break;
		IT_CHECKF(it_now_ns() - t1 < WAIT_MAX_NS +
		    (uint64_t)(it_limit(5) * 1e9), "the mirror was not tried "
		    "within %.1f s of its start (%u connections since)",
		    (double)WAIT_MAX_NS / 1e9 + it_limit(5), n);
		it_sleep_ms(20);
	}
	it_log("the mirror was tried %.2f s after it started, by connection "
	    "%u since", (double)(it_now_ns() - t1) / 1e9, n);
	snprintf(want, sizeof(want), "kcsplice: mirror %s up again after ",
	    maddr);
	ks_wait_line(&k, want);
	ks_stats(&k, &st_up);

	/* Back: later connections are mirrored whole, and none skips it. */
	cl3 = peer_client("client3");
	connect_n(cl3, &k, nlate, bytes);
	PEER_WAIT(cl3, cl3->ndone == nlate, 30);
	peer_check_echoed(cl3, nlate);
	PEER_WAIT(mir, mir->nconns >= nlate + 1 && mir->ndone == mir->nconns,
	    30);
	cls[0] = cl2;
	cls[1] = cl3;
	i = check_mirrored(mir, cls, 2, cl3);
	it_log("the mirror got %u streams whole, the %u late ones among them",
	    i, nlate);
	ks_wait_active(&k, 0, &st);
	IT_EQ(st.mirror_skipped, st_up.mirror_skipped);
	IT_EQ(st.mirror_bytes, (uint64_t)i * bytes);
	IT_EQ(ks_count(&k, want), 1);
	snprintf(want, sizeof(want), "kcsplice: mirror %s down: ", maddr);
	IT_EQ(ks_count(&k, want), 1);
	ks_stop(&k);
	peer_free(cl);
	peer_free(cl2);
	peer_free(cl3);
	peer_free(mir);
	peer_free(up);
}

static void
mirror_down_tcp(void)
{
	mirror_down(false);
}

static void
mirror_down_unix(void)
{
	mirror_down(true);
}

static void
mirror_lag_not_down(void)
{
	const unsigned nconn = 4;
	const uint64_t bytes = IT_SCALE(8u << 20, 4u << 20);
	struct peer *up, *stalled, *cl;
	struct pbehav hb;
	struct it_stats st;
	char down[64], want[256];
	struct ks k;
	const char *args[12];
	unsigned n;
	int hold;

	hold = refused_port(down, sizeof(down));
	memset(&hb, 0, sizeof(hb));
	hb.keep = true;		/* never reads, stays open */
	hb.rcvbuf = 4096;
	up = peer_listen("upstream", "tcp:127.0.0.1:0", &echo_b);
	stalled = peer_listen("stalled", "tcp:127.0.0.1:0", &hb);
	args[0] = "--mirror-retry";
	args[1] = "60";		/* no probe during the test */
	args[2] = "--mirror-budget";
	args[3] = "64k";
	args[4] = "-m";
	args[5] = down;
	args[6] = "-m";
	args[7] = stalled->addr.text;
	args[8] = "tcp:127.0.0.1:0";
	args[9] = up->addr.text;
	args[10] = NULL;
	ks_start(&k, args);

	cl = peer_client("client");
	snprintf(want, sizeof(want), "kcsplice: mirror %s down: ", down);
	/*
	 * The first connection sends little: a mirror still connecting
	 * holds what comes meanwhile, and past its budget it would be
	 * detached before its refusal came (seen under ASan), which tells
	 * nothing about whether it can be reached.
	 */
	for (n = 1; n <= nconn; n++) {
		connect_n(cl, &k, 1, n == 1 ? 4096 : bytes);
		PEER_WAIT(cl, cl->ndone == n, 60);
		if (n == 1)
			ks_wait_line(&k, want);
	}
	peer_check_echoed(cl, nconn);
	PEER_WAIT(up, up->ndone == nconn, 30);
	peer_check_same(cl, true, up, nconn, "client -> upstream");
	ks_wait_active(&k, 0, &st);

	/* The first is down once, then skipped by both later connections. */
	IT_EQ(ks_count(&k, want), 1);
	IT_EQ(st.mirror_skipped, nconn - 1);
	/* The second lagged on each big one: detached, under its name. */
	snprintf(want, sizeof(want), "kcsplice: mirror %s detached: budget ",
	    stalled->addr.text);
	IT_EQ(ks_count(&k, want), nconn - 1);
	snprintf(want, sizeof(want), "kcsplice: mirror %s detached", down);
	IT_EQ(ks_count(&k, want), 0);
	/* ... and it is not down. */
	snprintf(want, sizeof(want), "kcsplice: mirror %s down",
	    stalled->addr.text);
	IT_EQ(ks_count(&k, want), 0);
	IT_EQ(ks_count(&k, " down: "), 1);
	IT_EQ(st.mirror_detached, 1 + nconn - 1);
	ks_stop(&k);
	close(hold);
	peer_free(cl);
	peer_free(stalled);
	peer_free(up);
}

static const struct it_case cases[] = {
	{ "mirror-down-tcp", mirror_down_tcp },
	{ "mirror-down-unix", mirror_down_unix },
	{ "mirror-lag-not-down", mirror_lag_not_down },
};

int
main(int argc, char **argv)
{
	return it_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
