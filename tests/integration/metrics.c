/*
 * metrics.c: kcsplice's metrics endpoint (--metrics), end to end.
 *
 *   metrics-load    four clients stream through kcsplice to an echoing
 *                   upstream, with a mirror, held half way by a gate: a
 *                   scrape then passes promtool check metrics (text format)
 *                   and shows the four connections open; an OpenMetrics
 *                   scrape (Prometheus's Accept header) ends in "# EOF".
 *                   Once they are done, the counters that no longer move
 *                   are exactly the stats line's (SIGUSR1): connections,
 *                   bytes each way, spliced, copied, mirror bytes (all and
 *                   the one mirror's), detached, dropped, errors, pipe
 *                   fall-backs, refused, denied; and the peers' own counts.
 *   metrics-abuse   a relay transfer (echo, hashed) runs while the metrics
 *                   port gets: garbage (400), a control byte (400), a header
 *                   past 8 KiB (431), a body (413), POST (405 with Allow),
 *                   another path (404), HTTP/2 (505); eight clients that
 *                   send nothing (each 408, and a ninth 503 meanwhile); a
 *                   client sending a byte a second (408, and closed within
 *                   the read time-out); clients that send a request and
 *                   never read (the server ends them: their side sees the
 *                   FIN unread, and a scrape still works).  The transfer is
 *                   whole both ways, kcsplice counted no error.
 *   metrics-unix    --metrics on a UNIX socket: 200, HEAD without a body,
 *                   404, 405; the socket file is removed at the stop.  A
 *                   non-loopback TCP address is refused (exit 64) unless
 *                   --metrics-public; an address in use gives exit 69.
 *
 * promtool comes from scripts/deps.sh it (Debian's prometheus); where it
 * is missing metrics-load is skipped, except where CI=true: it fails.
 */
#include "it.h"
#include "peer.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const struct pbehav echo_b = { .read = true, .echo = true,
	.fin = true };

/* "kcsplice: metrics on ADDR" from the log. */
static void
metrics_addr(struct ks *k, struct it_addr *a)
{
	char text[200];
	const char *l, *e;

	ks_wait_line(k, "kcsplice: metrics on ");
	pthread_mutex_lock(&k->mu);
	l = strstr(k->log, "kcsplice: metrics on ") +
	    strlen("kcsplice: metrics on ");
	e = strchr(l, '\n');
	snprintf(text, sizeof(text), "%.*s", (int)(e - l), l);
	pthread_mutex_unlock(&k->mu);
	if (it_addr_parse(a, text) != 0)
		IT_FAIL("bad metrics address \"%s\"", text);
	IT_CHECKF(a->ss.ss_family == AF_UNIX || it_addr_port(a) != 0,
	    "the metrics line shows port 0: %s", text);
	it_log("metrics on %s", a->text);
}

static int
dial(const struct it_addr *a)
{
	int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	IT_CHECK(fd >= 0);
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) != 0)
		IT_FAIL("connect %s: %s", a->text, strerror(errno));
	return fd;
}

static void
send_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		IT_CHECKF(w > 0, "send: %s", strerror(errno));
		p += w;
		n -= (size_t)w;
	}
}

/*
 * Read until the server's end of file, within limit_s; the bytes,
 * NUL-terminated (caller frees).  A reset after a whole answer is the
 * server's close with bytes of ours unread: what came before stands.
 */
static char *
read_all(int fd, double limit_s)
{
	uint64_t dl = it_now_ns() + (uint64_t)(it_limit(limit_s) * 1e9);
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap);
	struct pollfd pf;
	ssize_t n;

	IT_CHECK(buf != NULL);
	for (;;) {
		uint64_t now = it_now_ns();

		if (now >= dl)
			IT_FAIL("the metrics server did not end a connection "
			    "within %.0f s (%zu bytes read)", it_limit(limit_s),
			    len);
		pf.fd = fd;
		pf.events = POLLIN;
		if (poll(&pf, 1, (int)((dl - now) / 1000000u) + 1) <= 0)
			continue;
		if (len + 4096 + 1 > cap) {
			cap *= 2;
			IT_CHECK((buf = realloc(buf, cap)) != NULL);
		}
		n = recv(fd, buf + len, cap - len - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ECONNRESET && len > 0)
			break;
		IT_CHECKF(n >= 0, "recv: %s", strerror(errno));
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return buf;
}

static int
status_of(const char *resp)
{
	int st;

	if (sscanf(resp, "HTTP/1.1 %d ", &st) != 1)
		IT_FAIL("not an HTTP response: \"%.60s\"", resp);
	return st;
}

/* Send req on a new connection; the whole response. */
static char *
http(const struct it_addr *a, const char *req, size_t len)
{
	int fd = dial(a);
	char *r;

	send_all(fd, req, len);
	r = read_all(fd, 10);
	close(fd);
	return r;
}

static void
expect_status(const struct it_addr *a, const char *what, const char *req,
    size_t len, int want)
{
	char *r = http(a, req, len);
	int st = status_of(r);

	IT_CHECKF(st == want, "%s: status %d, not %d: %.200s", what, st, want,
	    r);
	it_log("%s: %d", what, st);
	free(r);
}

#define REQ(s)	(s), sizeof(s) - 1

/* GET /metrics: the body (caller frees the whole). */
static char *
scrape(const struct it_addr *a, bool om, char **whole)
{
	static const char text[] = "GET /metrics HTTP/1.1\r\nHost: kcsplice\r\n"
	    "User-Agent: it-metrics\r\n\r\n";
	/* Prometheus 2's. */
	static const char omreq[] = "GET /metrics HTTP/1.1\r\nHost: kcsplice"
	    "\r\nAccept: application/openmetrics-text;version=1.0.0,application"
	    "/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;"
	    "q=0.5,*/*;q=0.1\r\n\r\n";
	char *r = om ? http(a, REQ(omreq)) : http(a, REQ(text));
	char *body = strstr(r, "\r\n\r\n");
	unsigned long cl;
	const char *p;

	IT_CHECKF(status_of(r) == 200, "scrape: %.200s", r);
	IT_CHECK(body != NULL);
	body += 4;
	p = strstr(r, "\r\nContent-Length: ");
	IT_CHECK(p != NULL && p < body);
	IT_CHECK(sscanf(p, "\r\nContent-Length: %lu", &cl) == 1);
	IT_EQ(cl, strlen(body));
	IT_CHECK(strstr(r, om ? "\r\nContent-Type: application/openmetrics-"
	    "text; version=1.0.0" : "\r\nContent-Type: text/plain; "
	    "version=0.0.4") != NULL);
	*whole = r;
	return body;
}

/* The value of the sample "name{labels}" or "name" (a whole line's). */
static uint64_t
metric(const char *body, const char *sample)
{
	char want[300];
	const char *p;
	size_t n;

	n = (size_t)snprintf(want, sizeof(want), "\n%s ", sample);
	if (strncmp(body, want + 1, n - 1) == 0)
		p = body + n - 1;
	else if ((p = strstr(body, want)) != NULL)
		p += n;
	else
		IT_FAIL("no sample \"%s\" in the scrape", sample);
	return strtoull(p, NULL, 10);
}

/* The sum of every sample of a family (with any labels). */
static uint64_t
metric_sum(const char *body, const char *name)
{
	const char *line, *nl;
	size_t n = strlen(name);
	uint64_t sum = 0;
	unsigned found = 0;

	for (line = body; *line != '\0'; line = nl + 1) {
		nl = strchr(line, '\n');
		IT_CHECK(nl != NULL);
		if (strncmp(line, name, n) != 0 || (line[n] != '{' &&
		    line[n] != ' '))
			continue;
		found++;
		sum += strtoull((const char *)memrchr(line, ' ',
		    (size_t)(nl - line)) + 1, NULL, 10);
	}
	IT_CHECKF(found > 0, "no sample of %s in the scrape", name);
	return sum;
}

static const char *
promtool(void)
{
	static const char *const paths[] = { "/usr/bin/promtool",
	    "/usr/local/bin/promtool", "/bin/promtool" };
	const char *ci = getenv("CI");
	size_t i;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (access(paths[i], X_OK) == 0)
			return paths[i];
	if (ci != NULL && strcmp(ci, "true") == 0)
		IT_FAIL("promtool is missing (scripts/deps.sh it installs "
		    "the prometheus package)");
	it_skip("promtool is not installed (scripts/deps.sh it)");
}

/* promtool check metrics on body: must pass. */
static void
promtool_check(const char *tool, const char *body)
{
	char path[PATH_MAX], out[PATH_MAX], cmd[3 * PATH_MAX];
	FILE *f;
	int st;

	snprintf(path, sizeof(path), "%s/scrape.txt", it_dir);
	snprintf(out, sizeof(out), "%s/promtool.out", it_dir);
	IT_CHECK((f = fopen(path, "w")) != NULL);
	IT_CHECK(fputs(body, f) >= 0);
	IT_CHECK(fclose(f) == 0);
	snprintf(cmd, sizeof(cmd), "%s check metrics < %s > %s 2>&1", tool,
	    path, out);
	st = system(cmd);
	if (st != 0) {
		char msg[2048] = "";
		size_t n = 0;

		if ((f = fopen(out, "r")) != NULL) {
			n = fread(msg, 1, sizeof(msg) - 1, f);
			fclose(f);
		}
		msg[n] = '\0';
		IT_FAIL("promtool check metrics failed (status %d): %s", st,
		    msg);
	}
	unlink(path);
	unlink(out);
	it_log("promtool check metrics: ok");
}

static void
metrics_load(void)
{
	const char *tool = promtool();
	uint64_t bytes = IT_SCALE(16u << 20, 4u << 20);
	unsigned nconn = 4, i;
	struct peer *up, *mir, *cl;
	struct it_addr ma;
	struct it_stats st;
	struct pbehav cb;
	const char *args[10];
	char mirror_sample[256], *whole, *body;
	struct ks k;

	up = peer_listen("upstream", "tcp:127.0.0.1:0", &echo_b);
	mir = peer_listen("mirror", "tcp:127.0.0.1:0", &echo_b);
	args[0] = "--metrics";
	args[1] = "tcp:127.0.0.1:0";
	args[2] = "-j2";
	args[3] = "--mirror";
	args[4] = mir->addr.text;
	args[5] = "tcp:127.0.0.1:0";
	args[6] = up->addr.text;
	args[7] = NULL;
	ks_start(&k, args);
	metrics_addr(&k, &ma);

	cl = peer_client("client");
	memset(&cb, 0, sizeof(cb));
	cb.read = true;
	cb.send = bytes;
	cb.fin = true;
	cb.send_gated = true;		/* half now, half at the gate */
	cb.send_gate = bytes / 2;
	for (i = 0; i < nconn; i++)
		peer_connect(cl, &k.listen, &cb);
	/* Under load: every half echoed back, the rest held. */
	PEER_WAIT(cl, cl->nconns == nconn && cl->conns[0]->rx >= bytes / 2 &&
	    cl->conns[1]->rx >= bytes / 2 && cl->conns[2]->rx >= bytes / 2 &&
	    cl->conns[3]->rx >= bytes / 2, 60);
	/*
	 * A worker counts bytes just after its write returns, so the client
	 * may have read the last of them before they are counted: scrape
	 * again (bounded) until they are.
	 */
	{
		uint64_t end = it_now_ns() + (uint64_t)(it_limit(10) * 1e9);

		for (;;) {
			body = scrape(&ma, false, &whole);
			if (metric_sum(body, "kcsplice_bytes_total") >=
			    nconn * bytes || it_now_ns() > end)
				break;
			free(whole);
			it_sleep_ms(20);
		}
	}
	promtool_check(tool, body);
	IT_EQ(metric(body, "kcsplice_connections_active"), nconn);
	IT_EQ(metric(body, "kcsplice_connections_total"), nconn);
	IT_GE(metric_sum(body, "kcsplice_bytes_total"), nconn * bytes);
	IT_EQ(metric(body, "kcsplice_mirror_cap_bytes") > 0, 1);
	IT_EQ(metric(body, "process_open_fds") > 0, 1);
	IT_CHECK(strstr(body, "\nkcsplice_build_info{version=\"") != NULL);
	IT_CHECK(strstr(body, "# EOF") == NULL);
	free(whole);
	body = scrape(&ma, true, &whole);
	IT_CHECK(strlen(body) > 6 &&
	    strcmp(body + strlen(body) - 6, "# EOF\n") == 0);
	IT_CHECK(strstr(body, "\n# TYPE kcsplice_connections counter\n") !=
	    NULL);
	IT_EQ(metric(body, "kcsplice_connections_total"), nconn);
	free(whole);

	peer_open_gates(cl);
	PEER_WAIT(cl, cl->ndone == nconn, 120);
	peer_check_echoed(cl, nconn);
	PEER_WAIT(mir, mir->ndone == nconn, 60);
	peer_check_same(cl, true, mir, nconn, "client -> mirror");
	ks_wait_active(&k, 0, &st);

	/* Quiescent: the metrics and the stats line agree exactly. */
	body = scrape(&ma, false, &whole);
	promtool_check(tool, body);
	IT_EQ(metric(body, "kcsplice_connections_active"), st.active);
	IT_EQ(metric(body, "kcsplice_connections_total"), st.conns);
	IT_EQ(st.conns, nconn);
	IT_EQ(metric(body, "kcsplice_bytes_total{direction=\"client_to_"
	    "upstream\",mode=\"spliced\"}") + metric(body, "kcsplice_bytes_"
	    "total{direction=\"client_to_upstream\",mode=\"copied\"}"),
	    st.up_bytes);
	IT_EQ(metric(body, "kcsplice_bytes_total{direction=\"upstream_to_"
	    "client\",mode=\"spliced\"}") + metric(body, "kcsplice_bytes_"
	    "total{direction=\"upstream_to_client\",mode=\"copied\"}"),
	    st.down_bytes);
	IT_EQ(st.up_bytes, nconn * bytes);
	IT_EQ(st.down_bytes, nconn * bytes);
	IT_EQ(metric(body, "kcsplice_bytes_total{direction=\"client_to_"
	    "upstream\",mode=\"spliced\"}") + metric(body, "kcsplice_bytes_"
	    "total{direction=\"upstream_to_client\",mode=\"spliced\"}"),
	    st.spliced);
	IT_EQ(metric(body, "kcsplice_bytes_total{direction=\"client_to_"
	    "upstream\",mode=\"copied\"}") + metric(body, "kcsplice_bytes_"
	    "total{direction=\"upstream_to_client\",mode=\"copied\"}"),
	    st.copied);
	IT_EQ(metric(body, "kcsplice_mirror_bytes_total"), st.mirror_bytes);
	IT_EQ(st.mirror_bytes, nconn * bytes);
	snprintf(mirror_sample, sizeof(mirror_sample),
	    "kcsplice_per_mirror_bytes_total{mirror=\"%s\"}", mir->addr.text);
	IT_EQ(metric(body, mirror_sample), st.mirror_bytes);
	/* Every connection has ended: the per-address count is all of it. */
	snprintf(mirror_sample, sizeof(mirror_sample),
	    "kcsplice_mirror_ended_written_bytes_total{mirror=\"%s\"}",
	    mir->addr.text);
	IT_EQ(metric(body, mirror_sample), st.mirror_bytes);
	IT_EQ(metric(body, "kcsplice_mirror_detached_total"),
	    st.mirror_detached);
	IT_EQ(metric(body, "kcsplice_mirror_dropped_bytes_total"),
	    st.mirror_dropped);
	IT_EQ(metric_sum(body, "kcsplice_errors_total"), st.errors);
	IT_EQ(metric(body, "kcsplice_pipe_fallbacks_total"),
	    st.pipe_fallbacks);
	IT_EQ(metric(body, "kcsplice_connections_refused_total"), st.refused);
	IT_EQ(metric(body, "kcsplice_connections_denied_total"), st.denied);
	IT_EQ(metric(body, "kcsplice_udp_sessions_active"), st.udp_sessions);
	IT_EQ(metric(body, "kcsplice_udp_sessions_expired_total"),
	    st.udp_expired);
	IT_EQ(metric(body, "kcsplice_mirror_held_bytes"), 0);
	IT_EQ(metric_sum(body, "kcsplice_pipes_created_total") > 0, 1);
	it_log("the scrape matches the stats line: conns %" PRIu64 ", up %"
	    PRIu64 ", down %" PRIu64 ", mirror %" PRIu64, st.conns,
	    st.up_bytes, st.down_bytes, st.mirror_bytes);
	free(whole);
	ks_stop(&k);
	peer_free(cl);
	peer_free(up);
	peer_free(mir);
}

/* The peer has ended its side: our socket is in CLOSE_WAIT. */
static bool
fin_seen(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	IT_CHECK(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0);
	return ti.tcpi_state == TCP_CLOSE_WAIT;
}

#define SILENT	8	/* KS_METRICS_CONNS */

static void
metrics_abuse(void)
{
	uint64_t bytes = IT_SCALE(64u << 20, 8u << 20), t0;
	struct peer *up, *cl;
	struct it_addr ma;
	struct it_stats st;
	struct pbehav cb;
	const char *args[8];
	char *big, *r, *whole;
	int silent[SILENT], nr[5], fd, busy, st503, small = 2048;
	unsigned i;
	size_t n;
	struct ks k;

	up = peer_listen("upstream", "tcp:127.0.0.1:0", &echo_b);
	args[0] = "--metrics";
	args[1] = "tcp:127.0.0.1:0";
	args[2] = "-j2";
	args[3] = "tcp:127.0.0.1:0";
	args[4] = up->addr.text;
	args[5] = NULL;
	ks_start(&k, args);
	metrics_addr(&k, &ma);

	cl = peer_client("client");
	memset(&cb, 0, sizeof(cb));
	cb.read = true;
	cb.send = bytes;
	cb.fin = true;
	cb.send_gated = true;
	cb.send_gate = bytes / 4;
	peer_connect(cl, &k.listen, &cb);
	PEER_WAIT(cl, cl->nconns == 1 && cl->conns[0]->rx >= bytes / 4, 60);
	it_log("relay transfer under way: %" PRIu64 " bytes each way",
	    bytes);

	expect_status(&ma, "garbage", REQ("garbage\r\n\r\n"), 400);
	expect_status(&ma, "a NUL byte", REQ("GET /\0 HTTP/1.1"), 400);
	expect_status(&ma, "HTTP/2", REQ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
	    505);
	expect_status(&ma, "a body", REQ("GET /metrics HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 5\r\n\r\nhello"), 413);
	expect_status(&ma, "POST", REQ("POST /metrics HTTP/1.1\r\nHost: x\r\n"
	    "\r\n"), 405);
	expect_status(&ma, "another path", REQ("GET /metricz HTTP/1.1\r\n"
	    "Host: x\r\n\r\n"), 404);
	/* 16 KiB of header: 431 after 8 KiB (the rest read and dropped). */
	big = malloc(16384);
	IT_CHECK(big != NULL);
	n = (size_t)snprintf(big, 16384, "GET /metrics HTTP/1.1\r\nHost: x\r\n"
	    "X-Big: ");
	memset(big + n, 'a', 16384 - n);
	expect_status(&ma, "16 KiB of header", big, 16384, 431);
	free(big);

	/* The transfer goes on while the rest is tried. */
	peer_open_gates(cl);

	/* Every slot taken by a client that says nothing: a ninth, 503. */
	for (i = 0; i < SILENT; i++)
		silent[i] = dial(&ma);
	fd = dial(&ma);
	r = read_all(fd, 10);
	busy = status_of(r);
	IT_CHECKF(busy == 503, "a ninth scrape: %d, not 503", busy);
	free(r);
	close(fd);
	it_log("%u silent clients hold every slot: a ninth got 503", SILENT);
	/*
	 * A slot may still have been held by the last client above (the
	 * server waits a moment for its end): one silent client may have got
	 * 503 too.
	 */
	for (i = 0, n = 0; i < SILENT; i++) {
		r = read_all(silent[i], 15);
		st503 = status_of(r);
		IT_CHECKF(st503 == 408 || st503 == 503, "silent client: %d",
		    st503);
		n += st503 == 408;
		free(r);
		close(silent[i]);
	}
	IT_GE(n, SILENT - 1);
	it_log("%zu silent clients got 408 and were closed", n);
	(void)scrape(&ma, false, &whole);
	free(whole);

	/* A byte a second: 408 and closed within the read time-out. */
	{
		static const char slow[] = "GET /metrics HTTP/1.1\r\nHost: x"
		    "\r\n\r\n";
		struct pollfd pf;

		fd = dial(&ma);
		t0 = it_now_ns();
		for (i = 0; i < sizeof(slow) - 1; i++) {
			send_all(fd, slow + i, 1);
			pf.fd = fd;
			pf.events = POLLIN;
			if (poll(&pf, 1, 1000) > 0)
				break;
			IT_CHECKF(it_now_ns() - t0 < (uint64_t)(it_limit(15) *
			    1e9), "the slow client was not cut off");
		}
		IT_CHECKF(i < sizeof(slow) - 1, "the slow client sent its "
		    "whole request at a byte a second");
		r = read_all(fd, 10);
		IT_EQ(status_of(r), 408);
		free(r);
		close(fd);
		it_log("slow client: 408 after %u bytes, %.1f s", i + 1,
		    (double)(it_now_ns() - t0) / 1e9);
	}

	/*
	 * Requests never read: the server writes its answer without waiting
	 * for them and ends them (three see its FIN unread); two with a
	 * receive buffer too small for the answer hold nothing up either.
	 */
	for (i = 0; i < 5; i++) {
		nr[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		IT_CHECK(nr[i] >= 0);
		if (i >= 3)
			IT_CHECK(setsockopt(nr[i], SOL_SOCKET, SO_RCVBUF,
			    &small, sizeof(small)) == 0);
		if (connect(nr[i], (const struct sockaddr *)&ma.ss, ma.len) != 0)
			IT_FAIL("connect: %s", strerror(errno));
		send_all(nr[i], REQ("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"));
	}
	t0 = it_now_ns();
	for (i = 0; i < 3; i++) {
		while (!fin_seen(nr[i])) {
			IT_CHECKF(it_now_ns() - t0 < (uint64_t)(it_limit(15) *
			    1e9), "a client that never reads was not ended");
			it_sleep_ms(20);
		}
	}
	it_log("3 clients that never read saw the server's end");
	(void)scrape(&ma, false, &whole);
	free(whole);
	for (i = 0; i < 5; i++) {
		r = read_all(nr[i], 15);
		IT_EQ(status_of(r), 200);
		free(r);
		close(nr[i]);
	}
	it_log("the scrape went on meanwhile; each got its 200");

	PEER_WAIT(cl, cl->ndone == 1, 120);
	peer_check_echoed(cl, 1);
	PEER_WAIT(up, up->ndone == 1, 30);
	peer_check_same(cl, true, up, 1, "client -> upstream");
	ks_wait_active(&k, 0, &st);
	IT_EQ(st.conns, 1);
	IT_EQ(st.errors, 0);
	IT_EQ(st.up_bytes, bytes);
	IT_EQ(st.down_bytes, bytes);
	it_log("the relay transfer was whole both ways");
	ks_stop(&k);
	peer_free(cl);
	peer_free(up);
}

static void
metrics_unix(void)
{
	struct it_addr ma;
	struct peer *up;
	struct stat sb;
	const char *args[8];
	char maddr[200], port[64], *r, *out, *err;
	struct ks k;
	int st, fd;

	up = peer_listen("upstream", "tcp:127.0.0.1:0", &echo_b);
	it_unix_path(maddr, sizeof(maddr), "metrics.sock");
	args[0] = "--metrics";
	args[1] = maddr;
	args[2] = "tcp:127.0.0.1:0";
	args[3] = up->addr.text;
	args[4] = NULL;
	ks_start(&k, args);
	metrics_addr(&k, &ma);
	IT_CHECK(strcmp(ma.text, maddr) == 0);

	r = http(&ma, REQ("GET /metrics HTTP/1.0\r\n\r\n"));
	IT_EQ(status_of(r), 200);
	IT_CHECK(strstr(r, "\nkcsplice_connections_total 0\n") != NULL);
	free(r);
	r = http(&ma, REQ("HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n"));
	IT_EQ(status_of(r), 200);
	IT_CHECK(strcmp(r + strlen(r) - 4, "\r\n\r\n") == 0);
	free(r);
	expect_status(&ma, "GET /", REQ("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
	    404);
	r = http(&ma, REQ("PUT /metrics HTTP/1.1\r\nHost: x\r\n\r\n"));
	IT_EQ(status_of(r), 405);
	IT_CHECK(strstr(r, "\r\nAllow: GET, HEAD\r\n") != NULL);
	free(r);
	ks_stop(&k);
	IT_CHECKF(lstat(maddr + 5, &sb) != 0 && errno == ENOENT,
	    "the metrics socket file was left at %s", maddr + 5);
	it_log("the metrics socket file was removed at the stop");

	/* Not loopback: refused, unless insisted on. */
	args[0] = "--metrics";
	args[1] = "tcp:0.0.0.0:0";
	args[2] = "tcp:127.0.0.1:0";
	args[3] = up->addr.text;
	args[4] = NULL;
	st = it_run(args, 10, &out, &err);
	IT_EQ(st, 64);
	IT_CHECKF(strstr(err, "kcsplice: --metrics: 'tcp:0.0.0.0:0' is not a "
	    "loopback address; add --metrics-public") != NULL, "stderr: %s",
	    err);
	free(out);
	free(err);

	/* An address in use: exit 69, before the relay starts. */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	{
		struct sockaddr_in in;
		socklen_t len = sizeof(in);

		memset(&in, 0, sizeof(in));
		in.sin_family = AF_INET;
		in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		IT_CHECK(bind(fd, (struct sockaddr *)&in, sizeof(in)) == 0);
		IT_CHECK(listen(fd, 1) == 0);
		IT_CHECK(getsockname(fd, (struct sockaddr *)&in, &len) == 0);
		snprintf(port, sizeof(port), "tcp:127.0.0.1:%u",
		    ntohs(in.sin_port));
	}
	args[1] = port;
	st = it_run(args, 10, &out, &err);
	IT_EQ(st, 69);
	IT_CHECKF(strstr(err, "kcsplice: cannot serve metrics on ") != NULL &&
	    strstr(err, "listening on") == NULL, "stderr: %s", err);
	free(out);
	free(err);
	close(fd);
	peer_free(up);
}

static const struct it_case cases[] = {
	{ "metrics-load", metrics_load },
	{ "metrics-abuse", metrics_abuse },
	{ "metrics-unix", metrics_unix },
};

int
main(int argc, char **argv)
{
	return it_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
