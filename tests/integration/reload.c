/*
 * reload.c: kcsplice -f FILE, --check and SIGHUP.
 *
 *   reload-traffic   clients stream through kcsplice with a mirror while
 *                    SIGHUP comes five times: the upstream and the mirror
 *                    move to a second pair, then a third, and other
 *                    reloads change nothing or only limits, some while
 *                    every connection is sending.  Each connection's bytes
 *                    arrive whole (hashes at client, upstream and mirror),
 *                    each upstream and mirror has exactly the connections
 *                    opened while it was configured: new connections go to
 *                    the new pair, old ones stay on theirs
 *   reload-bad       a file with an error at line 3 on SIGHUP: logged with
 *                    the line, the running configuration still serves;
 *                    fixed, the next SIGHUP applies it; without -f SIGHUP
 *                    is logged and changes nothing (it used to kill
 *                    kcsplice: exit 129)
 *   reload-listen    a new listen address (TCP to UNIX to TCP): the new one
 *                    accepts, the old one refuses, a connection open on the
 *                    old one finishes whole; a UNIX socket file left is
 *                    removed; an address in use is logged and the listener
 *                    in use kept
 *   reload-mirror-names
 *                    a connection whose first mirror refused and whose
 *                    second lags past its budget after a reload replaced
 *                    both with one other: the log names the second, from
 *                    the connection's own configuration, not from the one
 *                    in force (where the index means another mirror)
 *   reload-churn     connections keep coming while SIGHUP moves the
 *                    upstream between two servers 40 times (10 under
 *                    sanitizers) and every 5th time also the listener
 *                    between two UNIX paths: every connection is echoed
 *                    whole, and the two upstreams together saw each once
 *   reload-check     --check: ok (exit 0, stdout) without opening the
 *                    listen address (taken, or a UNIX path not made), an
 *                    error with its line (exit 64), a file that is not
 *                    regular or not there; contrib/kcsplice.conf.example
 *                    passes
 */
#include "it.h"
#include "peer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static const struct pbehav echo_b = { .read = true, .echo = true,
	.fin = true };
static const struct pbehav sink_b = { .read = true };

static char conf_path[256];

/* Write the configuration file whole, as an operator's editor would. */
static void IT_PRINTF(1, 2)
write_conf(const char *fmt, ...)
{
	char tmp[300], text[4096];
	va_list ap;
	int fd, n;

	va_start(ap, fmt);
	n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	IT_CHECK(n > 0 && (size_t)n < sizeof(text));
	snprintf(tmp, sizeof(tmp), "%s.new", conf_path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	IT_CHECKF(fd >= 0, "%s: %s", tmp, strerror(errno));
	IT_CHECK(write(fd, text, (size_t)n) == n);
	IT_CHECK(close(fd) == 0);
	IT_CHECKF(rename(tmp, conf_path) == 0, "rename: %s", strerror(errno));
}

/* SIGHUP, and wait for the reload's line, which must contain want. */
static void
hup(struct ks *k, const char *want)
{
	uint64_t deadline = it_now_ns() + (uint64_t)(it_limit(10) * 1e9);
	unsigned n0 = ks_count(k, "kcsplice: reload");

	ks_check_alive(k);
	IT_CHECK(kill(k->pid, SIGHUP) == 0);
	while (ks_count(k, "kcsplice: reload") == n0) {
		if (it_now_ns() > deadline)
			IT_FAIL("no reload line after SIGHUP");
		it_sleep_ms(5);
	}
	ks_check_alive(k);
	IT_CHECKF(ks_has_line(k, "kcsplice: reload", want, NULL),
	    "no reload line with \"%s\"", want);
	it_log("reloaded: %s", want);
}

static void
start_with_conf(struct ks *k)
{
	const char *args[] = { "-f", conf_path, NULL };

	ks_start(k, args);
}

/* Connections of p that have received at least n bytes (lock held). */
static unsigned
rx_at_least(struct peer *p, uint64_t n)
{
	unsigned i, k = 0;

	for (i = 0; i < p->nconns; i++)
		k += p->conns[i]->rx >= n;
	return k;
}

static struct peer *
clients(const char *name, struct ks *k, unsigned n, uint64_t bytes,
    uint64_t gate)
{
	struct peer *cl = peer_client(name);
	struct pbehav cb;
	unsigned i;

	memset(&cb, 0, sizeof(cb));
	cb.read = true;
	cb.send = bytes;
	cb.fin = true;
	cb.send_gated = gate != 0;
	cb.send_gate = gate;
	for (i = 0; i < n; i++)
		peer_connect(cl, &k->listen, &cb);
	return cl;
}

static void
check_count(struct peer *p, unsigned want)
{
	peer_lock(p);
	IT_CHECKF(p->nconns == want, "%s has %u connections, not %u", p->name,
	    p->nconns, want);
	peer_unlock(p);
}

static void
reload_traffic(void)
{
	uint64_t bytes = IT_SCALE(8u << 20, 2u << 20), gate = 256u << 10;
	unsigned n = 3, i;
	struct peer *up[3], *mir[3], *cl[3];
	struct it_stats st;
	struct ks k;
	char name[16];

	snprintf(conf_path, sizeof(conf_path), "%s/kcsplice.conf", it_dir);
	for (i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "upstream%u", i + 1);
		up[i] = peer_listen(name, "tcp:127.0.0.1:0", &echo_b);
		snprintf(name, sizeof(name), "mirror%u", i + 1);
		mir[i] = peer_listen(name, "tcp:127.0.0.1:0", &sink_b);
	}
	write_conf("# the first pair\nlisten tcp:127.0.0.1:0\n"
	    "upstream %s\nmirror %s\n", up[0]->addr.text, mir[0]->addr.text);
	start_with_conf(&k);

	/* Clients of the first pair: part of their stream, then a pause. */
	cl[0] = clients("clientA", &k, n, bytes, gate);
	PEER_WAIT(up[0], rx_at_least(up[0], gate) == n, 30);
	PEER_WAIT(mir[0], rx_at_least(mir[0], gate) == n, 30);

	write_conf("listen tcp:127.0.0.1:0\nupstream %s   # the second\n"
	    "mirror=%s\n", up[1]->addr.text, mir[1]->addr.text);
	hup(&k, up[1]->addr.text);
	IT_CHECK(ks_has_line(&k, "kcsplice: reload: upstream ",
	    mir[1]->addr.text, NULL));
	cl[1] = clients("clientB", &k, n, bytes, gate);
	PEER_WAIT(up[1], rx_at_least(up[1], gate) == n, 30);
	PEER_WAIT(mir[1], rx_at_least(mir[1], gate) == n, 30);

	write_conf("listen tcp:127.0.0.1:0\nupstream %s\nmirror %s\n"
	    "idle-timeout 120\nmax-conns 500\n", up[2]->addr.text,
	    mir[2]->addr.text);
	hup(&k, up[2]->addr.text);
	IT_CHECK(ks_has_line(&k, "kcsplice: reload: upstream ",
	    "idle-timeout 300 -> 120", "max-conns 10000 -> 500"));
	cl[2] = clients("clientC", &k, n, bytes, 0);

	/* Everyone sends the rest while the configuration goes on moving. */
	peer_open_gates(cl[0]);
	peer_open_gates(cl[1]);
	hup(&k, "no change");
	write_conf("listen tcp:127.0.0.1:0\nupstream %s\nmirror %s\n"
	    "idle-timeout 120\nmax-conns 400\n", up[2]->addr.text,
	    mir[2]->addr.text);
	hup(&k, "max-conns 500 -> 400");
	write_conf("listen tcp:127.0.0.1:0\nupstream %s\nmirror %s\n"
	    "idle-timeout 120\nmax-conns 400\nmirror-budget 512m\n",
	    up[2]->addr.text, mir[2]->addr.text);
	hup(&k, "mirror-budget 1073741824 -> 536870912");

	for (i = 0; i < 3; i++) {
		PEER_WAIT(cl[i], cl[i]->ndone == n, 120);
		PEER_WAIT(up[i], up[i]->ndone == n, 60);
		PEER_WAIT(mir[i], mir[i]->ndone == n, 60);
	}
	for (i = 0; i < 3; i++) {
		peer_check_echoed(cl[i], n);
		peer_check_same(cl[i], true, up[i], n, "client -> upstream");
		peer_check_same(cl[i], true, mir[i], n, "client -> mirror");
		check_count(up[i], n);
		check_count(mir[i], n);
	}
	it_log("%u connections a pair, each whole at client, upstream and "
	    "mirror, on the pair configured when it started", n);

	ks_wait_active(&k, 0, &st);
	IT_EQ(st.errors, 0);
	IT_EQ(st.mirror_detached, 0);
	IT_EQ(st.mirror_dropped, 0);
	IT_EQ(st.up_bytes, 3 * n * bytes);
	IT_EQ(st.down_bytes, 3 * n * bytes);
	IT_EQ(st.mirror_bytes, 3 * n * bytes);
	IT_EQ(ks_count(&k, "kcsplice: reload"), 5);
	ks_stop(&k);
	for (i = 0; i < 3; i++) {
		peer_free(cl[i]);
		peer_free(up[i]);
		peer_free(mir[i]);
	}
}

/* One echoed exchange through kcsplice; the upstream that took it. */
static void
exchange(struct ks *k, const struct it_addr *to, struct peer *up,
    unsigned want_total)
{
	struct peer *cl = clients("client", k, 1, 100000, 0);

	(void)to;
	PEER_WAIT(cl, cl->ndone == 1, 30);
	peer_check_echoed(cl, 1);
	PEER_WAIT(up, up->ndone == want_total, 30);
	peer_free(cl);
}

static void
reload_bad(void)
{
	struct peer *u1, *u2;
	struct ks k;
	char want[400];
	const char *args[4];

	snprintf(conf_path, sizeof(conf_path), "%s/bad.conf", it_dir);
	u1 = peer_listen("upstream1", "tcp:127.0.0.1:0", &echo_b);
	u2 = peer_listen("upstream2", "tcp:127.0.0.1:0", &echo_b);
	write_conf("listen tcp:127.0.0.1:0\nupstream %s\n", u1->addr.text);
	start_with_conf(&k);
	exchange(&k, &k.listen, u1, 1);

	/* An error at line 3: logged with its line, nothing changed. */
	write_conf("listen tcp:127.0.0.1:0\nupstream %s\nthreads zero\n",
	    u2->addr.text);
	hup(&k, "reload failed: ");
	snprintf(want, sizeof(want), "reload failed: %s:3: --threads: "
	    "'zero' is not a number", conf_path);
	IT_CHECKF(ks_has_line(&k, want, "the running configuration is kept",
	    NULL), "no \"%s\" line", want);
	exchange(&k, &k.listen, u1, 2);
	check_count(u2, 0);

	/* A file that is gone: the same. */
	IT_CHECK(unlink(conf_path) == 0);
	hup(&k, "No such file or directory; the running configuration is "
	    "kept");
	exchange(&k, &k.listen, u1, 3);

	/* Fixed: applied. */
	write_conf("listen tcp:127.0.0.1:0\nupstream %s\n", u2->addr.text);
	hup(&k, u2->addr.text);
	exchange(&k, &k.listen, u2, 1);
	check_count(u1, 3);
	ks_stop(&k);

	/* Without -f: logged, and kcsplice goes on as it was. */
	args[0] = "tcp:127.0.0.1:0";
	args[1] = u1->addr.text;
	args[2] = NULL;
	ks_start(&k, args);
	IT_CHECK(kill(k.pid, SIGHUP) == 0);
	ks_wait_line(&k, "SIGHUP: no configuration file (-f)");
	ks_check_alive(&k);
	exchange(&k, &k.listen, u1, 4);
	ks_stop(&k);
	peer_free(u1);
	peer_free(u2);
}

/* A blocking connect: 0 or the errno. */
static int
try_connect(const struct it_addr *a)
{
	int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), e;

	IT_CHECK(fd >= 0);
	e = connect(fd, (const struct sockaddr *)&a->ss, a->len) == 0 ? 0 :
	    errno;
	close(fd);
	return e;
}

/* The address in "(listening on ADDR)" of the last reload line. */
static void
listening_on(struct ks *k, struct it_addr *a)
{
	const char *p, *q, *last = NULL;
	char text[160];

	pthread_mutex_lock(&k->mu);
	for (p = k->log; p != NULL && (p = strstr(p, "(listening on ")) !=
	    NULL; p++)
		last = p;
	IT_CHECKF(last != NULL, "no \"(listening on\" in the log");
	last += strlen("(listening on ");
	q = strchr(last, ')');
	IT_CHECK(q != NULL && (size_t)(q - last) < sizeof(text));
	snprintf(text, sizeof(text), "%.*s", (int)(q - last), last);
	pthread_mutex_unlock(&k->mu);
	IT_CHECKF(it_addr_parse(a, text) == 0, "bad address %s", text);
}

static void
reload_listen(void)
{
	uint64_t bytes = IT_SCALE(4u << 20, 1u << 20), gate = 64u << 10;
	char upath[200], want[700];
	struct it_addr old, unixa, tcp2;
	struct peer *up, *held, *cl;
	struct sockaddr_in in;
	socklen_t len = sizeof(in);
	struct stat sb;
	struct ks k;
	int busy;

	snprintf(conf_path, sizeof(conf_path), "%s/listen.conf", it_dir);
	it_unix_path(upath, sizeof(upath), "new.sock");
	up = peer_listen("upstream", "tcp:127.0.0.1:0", &echo_b);
	write_conf("listen tcp:127.0.0.1:0\nupstream %s\n", up->addr.text);
	start_with_conf(&k);
	old = k.listen;

	/* A connection on the old listener, half-way through its stream. */
	held = clients("held", &k, 1, bytes, gate);
	PEER_WAIT(up, rx_at_least(up, gate) == 1, 30);

	/* TCP to UNIX. */
	write_conf("listen %s\nupstream %s\n", upath, up->addr.text);
	snprintf(want, sizeof(want), "listen tcp:127.0.0.1:0 -> %s "
	    "(listening on %s)", upath, upath);
	hup(&k, want);
	IT_CHECKF(it_addr_parse(&unixa, upath) == 0, "%s", upath);
	IT_EQ(try_connect(&old), ECONNREFUSED);
	cl = peer_client("client");
	{
		struct pbehav cb;

		memset(&cb, 0, sizeof(cb));
		cb.read = true;
		cb.send = 100000;
		cb.fin = true;
		peer_connect(cl, &unixa, &cb);
		PEER_WAIT(cl, cl->ndone == 1, 30);
		peer_check_echoed(cl, 1);
	}
	it_log("the new UNIX listener serves, the old TCP port refuses");

	/* The connection accepted on the old listener goes on, whole. */
	peer_open_gates(held);
	PEER_WAIT(held, held->ndone == 1, 60);
	peer_check_echoed(held, 1);
	it_log("the connection from the old listener finished whole");

	/* An address in use: logged, the UNIX listener kept. */
	busy = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	IT_CHECK(busy >= 0);
	memset(&in, 0, sizeof(in));
	in.sin_family = AF_INET;
	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	IT_CHECK(bind(busy, (struct sockaddr *)&in, sizeof(in)) == 0);
	IT_CHECK(listen(busy, 1) == 0);
	IT_CHECK(getsockname(busy, (struct sockaddr *)&in, &len) == 0);
	write_conf("listen tcp:127.0.0.1:%u\nupstream %s\n",
	    ntohs(in.sin_port), up->addr.text);
	hup(&k, "cannot listen on tcp:127.0.0.1:");
	IT_CHECK(ks_has_line(&k, "kcsplice: reload: cannot listen on",
	    "Address already in use, still listening on ", upath));
	IT_EQ(try_connect(&unixa), 0);
	close(busy);

	/* UNIX to TCP: the socket file made goes with its listener. */
	write_conf("listen tcp:127.0.0.1:0\nupstream %s\n", up->addr.text);
	snprintf(want, sizeof(want), "listen %s -> tcp:127.0.0.1:0", upath);
	hup(&k, want);
	listening_on(&k, &tcp2);
	IT_NE(it_addr_port(&tcp2), 0);
	IT_CHECKF(lstat(upath + 5, &sb) != 0 && errno == ENOENT,
	    "%s is still there", upath + 5);
	IT_EQ(try_connect(&unixa), ENOENT);
	k.listen = tcp2;
	exchange(&k, &tcp2, up, 4);
	it_log("back on TCP at %s; the UNIX socket file is gone", tcp2.text);
	ks_stop(&k);
	peer_free(cl);
	peer_free(held);
	peer_free(up);
}

static void
reload_mirror_names(void)
{
	uint64_t bytes = IT_SCALE(16u << 20, 8u << 20), gate = 64u << 10;
	struct peer *up, *stalled, *m2, *cl;
	char none[200], want[300];
	struct pbehav hb;
	struct it_stats st;
	struct ks k;

	snprintf(conf_path, sizeof(conf_path), "%s/names.conf", it_dir);
	it_unix_path(none, sizeof(none), "nobody-listens.sock");
	memset(&hb, 0, sizeof(hb));
	hb.keep = true;		/* never reads, stays open */
	hb.rcvbuf = 4096;
	up = peer_listen("upstream", "tcp:127.0.0.1:0", &echo_b);
	stalled = peer_listen("stalled", "tcp:127.0.0.1:0", &hb);
	m2 = peer_listen("mirror2", "tcp:127.0.0.1:0", &sink_b);
	write_conf("listen tcp:127.0.0.1:0\nupstream %s\nmirror %s\n"
	    "mirror %s\nmirror-budget 256k\n", up->addr.text, none,
	    stalled->addr.text);
	start_with_conf(&k);
	cl = clients("client", &k, 1, bytes, gate);
	PEER_WAIT(up, rx_at_least(up, gate) == 1, 30);
	/* Unreachable: the mirror is down (its back-off), said once. */
	snprintf(want, sizeof(want), "mirror %s down: ", none);
	ks_wait_line(&k, want);

	write_conf("listen tcp:127.0.0.1:0\nupstream %s\nmirror %s\n"
	    "mirror-budget 256k\n", up->addr.text, m2->addr.text);
	hup(&k, m2->addr.text);
	peer_open_gates(cl);
	PEER_WAIT(cl, cl->ndone == 1, 60);
	peer_check_echoed(cl, 1);
	PEER_WAIT(up, up->ndone == 1, 30);
	peer_check_same(cl, true, up, 1, "client -> upstream");

	ks_wait_line(&k, " detached: budget");
	snprintf(want, sizeof(want), "kcsplice: mirror %s detached: budget "
	    "262144 bytes exceeded", stalled->addr.text);
	IT_CHECKF(ks_has_line(&k, want, NULL, NULL), "no \"%s\" line", want);
	IT_EQ(ks_count(&k, " detached: budget"), 1);
	check_count(m2, 0);
	ks_wait_active(&k, 0, &st);
	IT_EQ(st.mirror_detached, 2);
	ks_stop(&k);
	peer_free(cl);
	peer_free(up);
	peer_free(stalled);
	peer_free(m2);
}

/* Until the two upstreams have total connections (done ones). */
static void
wait_upstreams(struct peer *up[2], unsigned total, bool done)
{
	uint64_t dl = it_now_ns() + (uint64_t)(it_limit(60) * 1e9);
	unsigned n, i;

	for (;;) {
		for (n = 0, i = 0; i < 2; i++) {
			peer_lock(up[i]);
			n += done ? up[i]->ndone : up[i]->nconns;
			peer_unlock(up[i]);
		}
		if (n == total)
			return;
		if (it_now_ns() > dl)
			IT_FAIL("%u of %u connections reached an upstream%s",
			    n, total, done ? " and ended" : "");
		it_sleep_ms(2);
	}
}

static void
reload_churn(void)
{
	unsigned nreload = IT_SCALE(40, 10), batch = 8, i, j, total = 0;
	uint64_t bytes = 64u << 10, sum = 0;
	char path[2][200], want[400];
	struct it_addr at;
	struct peer *up[2], *cl;
	struct pbehav cb;
	struct it_stats st;
	struct ks k;
	unsigned where = 0;

	snprintf(conf_path, sizeof(conf_path), "%s/churn.conf", it_dir);
	it_unix_path(path[0], sizeof(path[0]), "a.sock");
	it_unix_path(path[1], sizeof(path[1]), "b.sock");
	up[0] = peer_listen("upstream1", "tcp:127.0.0.1:0", &echo_b);
	up[1] = peer_listen("upstream2", "tcp:127.0.0.1:0", &echo_b);
	write_conf("listen %s\nupstream %s\n", path[0], up[0]->addr.text);
	start_with_conf(&k);
	IT_CHECK(it_addr_parse(&at, path[0]) == 0);
	cl = peer_client("client");
	memset(&cb, 0, sizeof(cb));
	cb.read = true;
	cb.send = bytes;
	cb.fin = true;
	for (i = 1; i <= nreload; i++) {
		for (j = 0; j < batch; j++)
			peer_connect(cl, &at, &cb);
		total += batch;
		if (i % 5 == 0) {
			/*
			 * Connections still in the old listener's queue
			 * when it closes are reset: let these be accepted.
			 */
			wait_upstreams(up, total, false);
			where ^= 1;
		}
		write_conf("listen %s\nupstream %s\n", path[where],
		    up[i % 2]->addr.text);
		snprintf(want, sizeof(want), "upstream %s -> %s",
		    up[(i + 1) % 2]->addr.text, up[i % 2]->addr.text);
		hup(&k, want);
		IT_CHECK(it_addr_parse(&at, path[where]) == 0);
	}
	PEER_WAIT(cl, cl->ndone == total, 120);
	peer_check_echoed(cl, total);
	wait_upstreams(up, total, true);
	for (i = 0; i < 2; i++) {
		peer_lock(up[i]);
		for (j = 0; j < up[i]->nconns; j++)
			sum += up[i]->conns[j]->rx;
		peer_unlock(up[i]);
	}
	IT_EQ(sum, (uint64_t)total * bytes);
	IT_EQ(ks_count(&k, "(listening on unix:"), nreload / 5);
	ks_wait_active(&k, 0, &st);
	IT_EQ(st.errors, 0);
	IT_EQ(st.conns, total);
	it_log("%u connections over %u reloads, each echoed whole", total,
	    nreload);
	ks_stop(&k);
	peer_free(cl);
	peer_free(up[0]);
	peer_free(up[1]);
}

static void
expect(const char *const *args, int status, const char *out_want,
    const char *err_want)
{
	char *out, *err;
	int r = it_run(args, 10, &out, &err);

	IT_CHECKF(r == status, "exit %d, not %d; stderr: %s", r, status, err);
	if (out_want != NULL)
		IT_CHECKF(strcmp(out, out_want) == 0, "stdout \"%s\", not "
		    "\"%s\"", out, out_want);
	if (err_want != NULL)
		IT_CHECKF(strstr(err, err_want) != NULL && strchr(err, '\n') ==
		    err + strlen(err) - 1, "stderr \"%s\" lacks \"%s\" or is "
		    "not one line", err, err_want);
	else
		IT_CHECKF(err[0] == '\0', "stderr: %s", err);
	free(out);
	free(err);
}

static void
reload_check(void)
{
	const char *args[8];
	char want[700], upath[200], example[512];
	struct sockaddr_in in;
	socklen_t len = sizeof(in);
	struct stat sb;
	int busy;

	snprintf(conf_path, sizeof(conf_path), "%s/check.conf", it_dir);

	/* Good, with the listen address taken: nothing is bound. */
	busy = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	IT_CHECK(busy >= 0);
	memset(&in, 0, sizeof(in));
	in.sin_family = AF_INET;
	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	IT_CHECK(bind(busy, (struct sockaddr *)&in, sizeof(in)) == 0);
	IT_CHECK(listen(busy, 1) == 0);
	IT_CHECK(getsockname(busy, (struct sockaddr *)&in, &len) == 0);
	write_conf("# good\nlisten tcp:127.0.0.1:%u\nupstream "
	    "tcp:127.0.0.1:9\nmirror tcp:127.0.0.1:10\n", ntohs(in.sin_port));
	args[0] = "-f";
	args[1] = conf_path;
	args[2] = "--check";
	args[3] = NULL;
	expect(args, 0, "kcsplice: configuration ok\n", NULL);
	close(busy);

	/* A UNIX listen path is not made. */
	it_unix_path(upath, sizeof(upath), "check.sock");
	write_conf("listen %s\nupstream tcp:127.0.0.1:9\n", upath);
	expect(args, 0, "kcsplice: configuration ok\n", NULL);
	IT_CHECK(lstat(upath + 5, &sb) != 0 && errno == ENOENT);

	/* Bad at line 3, and with the command line's help. */
	write_conf("listen tcp:127.0.0.1:0\nupstream tcp:127.0.0.1:9\n"
	    "idle-timeout soon\n");
	snprintf(want, sizeof(want), "kcsplice: %s:3: --idle-timeout: "
	    "'soon' is not a number of seconds", conf_path);
	expect(args, 64, "", want);
	args[3] = "--idle-timeout=5";
	args[4] = NULL;
	expect(args, 64, "", want);	/* the file is checked all the same */
	write_conf("listen tcp:127.0.0.1:0\nupstream tcp:127.0.0.1:9\n");
	expect(args, 0, "kcsplice: configuration ok\n", NULL);

	/* The command line alone. */
	args[0] = "--check";
	args[1] = "tcp:127.0.0.1:0";
	args[2] = "tcp:127.0.0.1:9";
	args[3] = NULL;
	expect(args, 0, "kcsplice: configuration ok\n", NULL);
	args[2] = "tcp:127.0.0.1:0";
	expect(args, 64, "", "kcsplice: bad address 'tcp:127.0.0.1:0' for "
	    "UPSTREAM");

	/* Not a regular file; not there. */
	args[0] = "-f";
	args[1] = "/dev/null";
	args[2] = "--check";
	args[3] = NULL;
	expect(args, 64, "", "kcsplice: /dev/null: not a regular file");
	args[1] = it_dir;
	expect(args, 64, "", ": not a regular file");
	snprintf(want, sizeof(want), "%s/none.conf", it_dir);
	args[1] = want;
	expect(args, 64, "", "none.conf: No such file or directory");

	/* The example shipped with the source. */
	snprintf(example, sizeof(example), "%s/contrib/kcsplice.conf.example",
	    KCIT_SOURCE_DIR);
	args[1] = example;
	expect(args, 0, "kcsplice: configuration ok\n", NULL);
	it_log("--check: ok, errors with their line, nothing opened");
}

static const struct it_case cases[] = {
	{ "reload-traffic", reload_traffic },
	{ "reload-bad", reload_bad },
	{ "reload-listen", reload_listen },
	{ "reload-mirror-names", reload_mirror_names },
	{ "reload-churn", reload_churn },
	{ "reload-check", reload_check },
};

int
main(int argc, char **argv)
{
	return it_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
