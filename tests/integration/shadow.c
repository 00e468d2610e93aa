/*
 * shadow.c: kcsplice's mirror settings against real servers.
 *
 *   sample-redis   two redis-servers, kcsplice relaying to the first with
 *                  the second as a mirror with sample=50, and
 *                  redis-benchmark -k 0 making 1000 connections (one SET
 *                  each) through it.  The mirror must have accepted exactly
 *                  the connections kcsplice did not count as unsampled, and
 *                  between 40% and 60% of them: with 1000 independent
 *                  draws at one half the count has a standard deviation of
 *                  15.8, so 100 off is 6.3 of them, a chance below 1e-9.
 *                  The metrics say the same per mirror address.
 *   sample-client  the same servers, --sample-by client: 40 client
 *                  addresses (127.0.0.2 to 127.0.0.41) make 5 connections
 *                  each (PING, PONG).  The access log says, per connection,
 *                  whether the mirror took it: all of one address's or
 *                  none, some addresses in and some out (all 40 alike by
 *                  chance: 2 in 2^40), and the mirror accepted as many
 *                  connections as the log says it took.
 *   sample-udp     a UDP relay with a mirror taking sample=50 by client:
 *                  40 client addresses send one datagram (naming the
 *                  address) from each of two ports, 80 sessions; the
 *                  upstream gets all 80, the mirror both or neither of an
 *                  address's, some addresses in and some out, and
 *                  mirror_unsampled counts the sessions it did not get.
 *   pace-pg-turns  two PostgreSQL clusters (initdb in a temporary
 *                  directory, run as the user nobody when the test runs as
 *                  root, trust authentication on 127.0.0.1), pgbench -i on
 *                  each, then pgbench -c 4 -t 200 at sslmode=prefer through
 *                  kcsplice with the second as a mirror with pace=turns.
 *                  The mirror's postmaster is stopped (SIGSTOP) until the
 *                  primary has committed a transaction, so that the mirror
 *                  is behind the client, as a loaded one is: every
 *                  SSLRequest and startup packet has come by then.  The
 *                  mirror's tables must equal the primary's (row counts,
 *                  the balances' sums, the history's rows), no mirror
 *                  detached, and its log free of "unencrypted data".
 *   pace-pg-blind  the same without pacing: the mirror gets each startup
 *                  packet right behind the SSLRequest and refuses it
 *                  ("received unencrypted data after SSL request", once
 *                  per connection in its log), so that its history stays
 *                  empty while the primary's has every transaction.
 *
 *   record-redis   kcsplice --record in front of a redis-server while
 *                  redis-benchmark sets 1000 random keys from 8
 *                  connections; at the stop kcsplice says every connection
 *                  was recorded whole, and the recording's byte counts are
 *                  its stats line's.  The recording replayed (kcsplice --replay,
 *                  by turns) against a fresh redis-server: every connection's
 *                  replies match the recorded ones, and DEBUG DIGEST of the
 *                  two servers is the same.  A --record directory that
 *                  others may write to is refused (exit 77), one that is
 *                  not there too (73).
 *
 *   record-dns     UDP sessions (dig and dnsmasq) recorded and replayed:
 *                  see record_dns().
 *   record-full    the recording's file system full (RLIMIT_FSIZE) while
 *                  redis-benchmark runs through kcsplice: see
 *                  record_full().
 *
 *   compare-redis  kcsplice --compare in front of two redis-servers whose
 *                  keys key:000000000000 to key:000000000099 hold the same
 *                  values: redis-benchmark -t get -r 100 -P 1, then -t set
 *                  (whose replies are +OK whatever the order), through it:
 *                  every connection matched and none diverged or not
 *                  compared (metrics).  Then the keys are "xxx" on the
 *                  primary and "yyy" on the mirror and a client GETs
 *                  key:000000000007: the client gets the primary's "xxx",
 *                  the connection diverged at byte 4 ("$3\r\n" alike): the
 *                  metrics count it, the log line names the offset and
 *                  both excerpts, the access log says
 *                  mirror0_compare=diverged at 4.  It records the
 *                  connections at the same time (--record: the
 *                  upstream's replies feed both): all of them whole, the
 *                  access log says record=complete.  --compare with a UDP
 *                  LISTEN is refused (exit 64).
 *   compare-flood  a mirror that answers every connection with 4 MiB of
 *                  "+PONG\r\n" before reading anything, --compare-window
 *                  64k: each connection's PINGs get the primary's PONGs,
 *                  whole, and every connection is "not compared" (its
 *                  20 PONGs match, the rest passes the window), none
 *                  detached.
 *
 * redis-server, redis-benchmark and PostgreSQL come from scripts/deps.sh
 * it; where they are missing the scenario is skipped (fails under CI=true).
 */
#include "it.h"
#include "proc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glob.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define PLEN	256

static char base[128];

static void
base_make(void)
{
	snprintf(base, sizeof(base), "/tmp/kcit-shadow.XXXXXX");
	IT_CHECKF(mkdtemp(base) != NULL, "mkdtemp: %s", strerror(errno));
}

static int
tcp_connect(const char *from, unsigned port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	IT_CHECK(fd >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	if (from != NULL) {
		IT_CHECK(inet_pton(AF_INET, from, &a.sin_addr) == 1);
		IT_CHECKF(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0,
		    "bind %s: %s", from, strerror(errno));
	}
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	IT_CHECKF(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0,
	    "connect 127.0.0.1:%u: %s", port, strerror(errno));
	return fd;
}

/*
 * Send a request, read until the reply holds want, or with want NULL
 * until the other side closes (bounded).
 */
static char *
ask(int fd, const char *req, const char *want, char *buf, size_t size)
{
	uint64_t end = it_now_ns() + (uint64_t)(it_limit(10) * 1e9);
	struct timeval tv = { 1, 0 };
	size_t got = 0;
	ssize_t n;

	IT_CHECK(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
	    sizeof(tv)) == 0);
	IT_CHECK(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
	buf[0] = '\0';
	while (want == NULL || strstr(buf, want) == NULL) {
		IT_CHECKF(it_now_ns() < end && got + 1 < size,
		    "no \"%s\" in the reply: %s", want != NULL ? want :
		    "end", buf);
		n = read(fd, buf + got, size - 1 - got);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n == 0 && want == NULL)
			break;
		IT_CHECKF(n > 0, "reply ended: %s", buf);
		got += (size_t)n;
		buf[got] = '\0';
	}
	return buf;
}

/* ------------------------------------------------------------------ */
/* redis */

struct redis {
	unsigned	port;
	pid_t		pid;
};

static void
redis_start(struct redis *r, const char *bin, const char *name)
{
	char port[16], out[PLEN], file[64];
	const char *argv[24];
	uint64_t end;
	int n = 0;

	r->port = proc_free_port();
	snprintf(port, sizeof(port), "%u", r->port);
	snprintf(out, sizeof(out), "%s/%s.log", base, name);
	snprintf(file, sizeof(file), "%s.rdb", name);
	argv[n++] = bin;
	argv[n++] = "--port";
	argv[n++] = port;
	argv[n++] = "--bind";
	argv[n++] = "127.0.0.1";
	argv[n++] = "--save";
	argv[n++] = "";
	argv[n++] = "--appendonly";
	argv[n++] = "no";
	argv[n++] = "--dir";
	argv[n++] = base;
	argv[n++] = "--dbfilename";
	argv[n++] = file;
	argv[n++] = "--daemonize";
	argv[n++] = "no";
	argv[n++] = "--protected-mode";
	argv[n++] = "no";
	/* DEBUG DIGEST, from loopback (record-redis compares data sets). */
	argv[n++] = "--enable-debug-command";
	argv[n++] = "local";
	argv[n] = NULL;
	r->pid = proc_spawn(argv, out, (uid_t)-1, (gid_t)-1);
	end = it_now_ns() + (uint64_t)(it_limit(20) * 1e9);
	while (!proc_listening(r->port)) {
		int st = proc_reap(r->pid, 0.05);

		if (st >= 0 || it_now_ns() > end) {
			char *o = proc_slurp(out);

			if (st < 0)
				proc_stop(r->pid);
			IT_FAIL("redis %s did not start (status %d): %s", name,
			    st, o);
		}
	}
	it_log("redis %s on 127.0.0.1:%u", name, r->port);
}

/*
 * Connections the server has accepted, not counting the one that asks
 * (it is counted before it can ask).
 */
static uint64_t
redis_conns(const struct redis *r)
{
	char buf[8192];
	const char *p;
	int fd = tcp_connect(NULL, r->port);

	ask(fd, "INFO stats\r\n", "instantaneous_ops_per_sec", buf,
	    sizeof(buf));
	close(fd);
	p = strstr(buf, "total_connections_received:");
	IT_CHECKF(p != NULL, "INFO stats: %s", buf);
	return strtoull(p + strlen("total_connections_received:"), NULL,
	    10) - 1;
}

static void
servers(struct redis *up, struct redis *mir, char *bin, size_t size)
{
	base_make();
	proc_need("redis-server", "redis-server", bin, size);
	redis_start(up, bin, "primary");
	redis_start(mir, bin, "mirror");
}

static void
servers_stop(struct redis *up, struct redis *mir)
{
	proc_stop(up->pid);
	proc_stop(mir->pid);
	proc_rmtree(base);
}

/* The value of "name{labels}" (or "name", labels NULL) on the metrics
 * page (a GET on port). */
static uint64_t
metric_of(unsigned port, const char *name, const char *labels)
{
	static char buf[1 << 20];
	char pat[256];
	const char *p;
	int fd = tcp_connect(NULL, port);

	ask(fd, "GET /metrics HTTP/1.0\r\n\r\n", NULL, buf, sizeof(buf));
	close(fd);
	snprintf(pat, sizeof(pat), "\n%s%s%s%s ", name, labels != NULL ? "{" :
	    "", labels != NULL ? labels : "", labels != NULL ? "}" : "");
	p = strstr(buf, pat);
	IT_CHECKF(p != NULL, "no %s in the metrics", pat + 1);
	return strtoull(p + strlen(pat), NULL, 10);
}

/* The value of metric for mirror. */
static uint64_t
metric(unsigned port, const char *name, const char *mirror)
{
	char l[160];

	snprintf(l, sizeof(l), "mirror=\"%s\"", mirror);
	return metric_of(port, name, l);
}

/*
 * redis-benchmark against 127.0.0.1:port with 8 connections, SET only,
 * quiet, and the options in more (NULL-terminated); it must succeed.
 */
static void
redis_bench(const char *bench, unsigned port, const char *const *more)
{
	const char *argv[24];
	char pt[16], *out;
	int n = 0, r;

	snprintf(pt, sizeof(pt), "%u", port);
	argv[n++] = bench;
	argv[n++] = "-h";
	argv[n++] = "127.0.0.1";
	argv[n++] = "-p";
	argv[n++] = pt;
	argv[n++] = "-c";
	argv[n++] = "8";
	argv[n++] = "-t";
	argv[n++] = "set";
	argv[n++] = "-q";
	while (*more != NULL && n < 23)
		argv[n++] = *more++;
	argv[n] = NULL;
	r = proc_run(argv, NULL, 120, &out);
	IT_CHECKF(r == 0, "redis-benchmark: status %d: %s", r, out);
	free(out);
}

static void
sample_redis(void)
{
	struct redis up, mir;
	struct it_stats st;
	struct ks k;
	char bin[PLEN], bench[PLEN], up_a[64], mir_a[96], mport[64];
	char mtext[64];
	uint64_t up0, mir0, upn, mirn;
	unsigned conns = 1000, metrics_port;

	servers(&up, &mir, bin, sizeof(bin));
	proc_need("redis-benchmark", "redis-tools", bench, sizeof(bench));
	snprintf(up_a, sizeof(up_a), "tcp:127.0.0.1:%u", up.port);
	snprintf(mtext, sizeof(mtext), "tcp:127.0.0.1:%u", mir.port);
	snprintf(mir_a, sizeof(mir_a), "%s,sample=50", mtext);
	metrics_port = proc_free_port();
	snprintf(mport, sizeof(mport), "tcp:127.0.0.1:%u", metrics_port);
	{
		const char *args[] = { "-j", "2", "--metrics", mport, "-m",
		    mir_a, "tcp:127.0.0.1:0", up_a, NULL };

		ks_start(&k, args);
	}
	up0 = redis_conns(&up);
	mir0 = redis_conns(&mir);
	{
		const char *more[] = { "-n", "1000", "-k", "0", NULL };

		redis_bench(bench, it_addr_port(&k.listen), more);
	}
	ks_wait_active(&k, 0, &st);
	upn = redis_conns(&up) - up0 - 1;	/* less the first ask */
	mirn = redis_conns(&mir) - mir0 - 1;
	it_log("%llu connections through kcsplice, the primary accepted "
	    "%llu, the mirror %llu, %llu not in its sample",
	    (unsigned long long)st.conns, (unsigned long long)upn,
	    (unsigned long long)mirn, (unsigned long long)st.mirror_unsampled);
	IT_GE(st.conns, conns);
	IT_EQ(upn, st.conns);
	IT_EQ(mirn + st.mirror_unsampled, st.conns);
	IT_GE(mirn * 100, st.conns * 40);
	IT_LE(mirn * 100, st.conns * 60);
	IT_EQ(st.mirror_detached, 0);
	IT_EQ(metric(metrics_port, "kcsplice_mirror_sampled_total", mtext),
	    mirn);
	IT_EQ(metric(metrics_port, "kcsplice_mirror_unsampled_total", mtext),
	    st.mirror_unsampled);
	ks_stop(&k);
	servers_stop(&up, &mir);
}

/* --record DIR refused: the exit status, and the message. */
static void
refused(const char *dir, const char *listen, int want, const char *msg)
{
	const char *argv[] = { it_kcsplice, "--record", dir, listen,
	    strncmp(listen, "udp", 3) == 0 ? "udp:127.0.0.1:9" :
	    "tcp:127.0.0.1:9", NULL };
	char *out;
	int r = proc_run(argv, NULL, 20, &out);

	IT_CHECKF(r == want && strstr(out, msg) != NULL,
	    "--record %s: status %d (want %d): %s", dir, r, want, out);
	free(out);
}

static void
record_refused(void)
{
	char dir[PLEN];

	base_make();
	snprintf(dir, sizeof(dir), "%s/open", base);
	IT_CHECK(mkdir(dir, 0700) == 0 && chmod(dir, 0777) == 0);
	refused(dir, "tcp:127.0.0.1:0", 77, "only it may write to");
	snprintf(dir, sizeof(dir), "%s/none", base);
	refused(dir, "tcp:127.0.0.1:0", 73, "No such file or directory");
	proc_rmtree(base);
}

/* DEBUG DIGEST of the server on port. */
static void
redis_digest(unsigned port, char *out, size_t size)
{
	char buf[512], *p;
	int fd = tcp_connect(NULL, port);

	ask(fd, "DEBUG DIGEST\r\n", "\r\n", buf, sizeof(buf));
	close(fd);
	IT_CHECKF(buf[0] == '+', "DEBUG DIGEST: %s", buf);
	if ((p = strchr(buf, '\r')) != NULL)
		*p = '\0';
	snprintf(out, size, "%.63s", buf + 1);
}

static void
record_redis(void)
{
	struct redis up, fresh;
	struct it_stats st;
	struct ks k;
	char bin[PLEN], bench[PLEN], up_a[64], to_a[64], dir[PLEN], d1[64],
	    d2[64], line[128], *rep, *err;
	int r;

	servers(&up, &fresh, bin, sizeof(bin));
	proc_need("redis-benchmark", "redis-tools", bench, sizeof(bench));
	snprintf(dir, sizeof(dir), "%s/rec", base);
	IT_CHECK(mkdir(dir, 0700) == 0);
	snprintf(up_a, sizeof(up_a), "tcp:127.0.0.1:%u", up.port);
	{
		const char *args[] = { "-j", "2", "--record", dir,
		    "--record-size", "256k", "tcp:127.0.0.1:0", up_a, NULL };

		ks_start(&k, args);
		k.keep_log = true;
	}
	{
		const char *more[] = { "-n", "4000", "-r", "1000", "-d", "100",
		    NULL };

		redis_bench(bench, it_addr_port(&k.listen), more);
	}
	ks_wait_active(&k, 0, &st);
	ks_stop(&k);
	snprintf(line, sizeof(line), "record: %llu connections recorded "
	    "whole, 0 incomplete", (unsigned long long)st.conns);
	IT_CHECKF(ks_has_line(&k, line, NULL, NULL), "no \"%s\" in its log: "
	    "%s", line, k.log);
	ks_free_log(&k);

	snprintf(to_a, sizeof(to_a), "tcp:127.0.0.1:%u", fresh.port);
	{
		const char *args[] = { "--replay", dir, "--to", to_a,
		    "--idle-timeout", "20", NULL };

		r = it_run(args, it_limit(60), &rep, &err);
	}
	snprintf(line, sizeof(line), "replay: %llu connections: %llu matched",
	    (unsigned long long)st.conns, (unsigned long long)st.conns);
	IT_CHECKF(r == 0 && strstr(rep, line) != NULL, "replay status %d: %s "
	    "%s", r, rep, err);
	free(rep);
	free(err);
	redis_digest(up.port, d1, sizeof(d1));
	redis_digest(fresh.port, d2, sizeof(d2));
	it_log("DEBUG DIGEST: primary %s, replayed %s", d1, d2);
	IT_CHECKF(strcmp(d1, d2) == 0 && strspn(d1, "0") != strlen(d1),
	    "the digests differ or the data set is empty: %s %s", d1, d2);
	servers_stop(&up, &fresh);
	record_refused();
}

/* SET calls the server has answered (INFO commandstats). */
static uint64_t
redis_sets(unsigned port)
{
	char buf[8192];
	const char *p;
	int fd = tcp_connect(NULL, port);

	ask(fd, "INFO commandstats\r\n", "\r\n\r\n", buf, sizeof(buf));
	close(fd);
	p = strstr(buf, "cmdstat_set:calls=");
	IT_CHECKF(p != NULL, "INFO commandstats: %s", buf);
	return strtoull(p + strlen("cmdstat_set:calls="), NULL, 10);
}

/*
 * The recording's file system full while traffic runs: kcsplice started
 * under RLIMIT_FSIZE (each file at most 192 KiB; --record-size above it),
 * redis-benchmark makes 20000 SETs of 100 bytes through it, some 3 MB
 * to record.  The primary is unaffected (every SET reaches redis, the
 * benchmark succeeds, kcsplice still relays a new connection); the
 * threads' recordings stop, logged; at the stop kcsplice exits 0 and says
 * how many connections are incomplete (some, and with the whole ones all
 * of them); the metrics count them; --dump reads what was written.
 */
static void
record_full(void)
{
	struct redis up;
	struct rlimit old, lim;
	struct it_stats st;
	struct ks k;
	char bin[PLEN], bench[PLEN], up_a[64], dir[PLEN], mport[16], buf[64];
	char line[128], alog[PLEN], *out, *err;
	unsigned long long whole, part;
	const char *p;
	int r, fd;

	base_make();
	proc_need("redis-server", "redis-server", bin, sizeof(bin));
	proc_need("redis-benchmark", "redis-tools", bench, sizeof(bench));
	redis_start(&up, bin, "primary");
	snprintf(dir, sizeof(dir), "%s/rec", base);
	IT_CHECK(mkdir(dir, 0700) == 0);
	snprintf(alog, sizeof(alog), "%s/access.log", base);
	snprintf(up_a, sizeof(up_a), "tcp:127.0.0.1:%u", up.port);
	snprintf(mport, sizeof(mport), "%u", proc_free_port());
	snprintf(line, sizeof(line), "tcp:127.0.0.1:%s", mport);
	/* kcsplice inherits the limit; this process goes back to its own. */
	IT_CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
	lim = old;
	lim.rlim_cur = 192 << 10;
	IT_CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
	{
		const char *args[] = { "-j", "2", "--record", dir,
		    "--record-size", "1m", "--metrics", line, "--access-log",
		    alog, "tcp:127.0.0.1:0", up_a, NULL };

		ks_start(&k, args);
		k.keep_log = true;
	}
	IT_CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
	{
		const char *more[] = { "-n", "20000", "-d", "100", NULL };

		redis_bench(bench, it_addr_port(&k.listen), more);
	}
	IT_EQ(redis_sets(up.port), 20000);
	ks_wait_active(&k, 0, &st);
	ks_check_alive(&k);
	IT_CHECKF(ks_has_line(&k, "record: ", "File too large",
	    "records nothing more"), "no failed recording in its log: %s",
	    k.log);
	/* Still relaying. */
	fd = tcp_connect(NULL, it_addr_port(&k.listen));
	ask(fd, "PING\r\n", "\r\n", buf, sizeof(buf));
	close(fd);
	IT_CHECKF(strcmp(buf, "+PONG\r\n") == 0, "PING: %s", buf);
	ks_wait_active(&k, 0, &st);
	IT_GE(metric_of((unsigned)atoi(mport), "kcsplice_record_stream_failures"
	    "_total", NULL), 1);
	IT_GE(metric_of((unsigned)atoi(mport), "kcsplice_record_connections"
	    "_total", "result=\"incomplete\""), 1);
	ks_stop(&k);
	/* "record: N connection(s) recorded whole, M incomplete; ..." */
	p = strstr(k.log, " recorded whole, ");
	while (p != NULL && p > k.log && p[-1] != ':')
		p--;
	IT_CHECKF(p != NULL && sscanf(p, " %llu connection", &whole) == 1 &&
	    sscanf(strstr(p, " recorded whole, "), " recorded whole, %llu "
	    "incomplete", &part) == 1, "no record line at the stop: %s", k.log);
	it_log("%llu connections: %llu recorded whole, %llu incomplete",
	    (unsigned long long)st.conns, whole, part);
	IT_GE(part, 1);
	IT_EQ(whole + part, st.conns);
	ks_free_log(&k);
	/* The access log: connections open at the failure are incomplete;
	 * the PING's, the last to end, was not recorded at all. */
	out = proc_slurp(alog);
	IT_CHECKF(strstr(out, " record=incomplete") != NULL &&
	    (p = strrchr(out, '\n')) != NULL, "access log: %s", out);
	while (p > out && p[-1] != '\n')
		p--;
	IT_CHECKF(strstr(p, " record=no") != NULL, "access log: %s", out);
	free(out);
	{
		const char *args[] = { "--dump", dir, NULL };

		/* 0, or 65 where a file ends inside a record: not a crash. */
		r = it_run(args, it_limit(30), &out, &err);
		IT_CHECKF((r == 0 || r == 65) && strstr(out,
		    " connections opened") != NULL, "--dump: %d: %s", r, err);
		free(out);
		free(err);
	}
	proc_stop(up.pid);
	proc_rmtree(base);
}

/* A dnsmasq of the test's own on 127.0.0.1, answering for kc.test from
 * its command line; a.kc.test is addr. */
static pid_t
dns_start(const char *bin, unsigned port, const char *addr, const char *name)
{
	char p[32], rec[64], out[PLEN];
	const char *argv[] = { bin, "--keep-in-foreground", p,
	    "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv",
	    "--no-hosts", "--conf-file=/dev/null", "--pid-file=",
	    "--local=/kc.test/", rec, "--txt-record=t.kc.test,hello",
	    "--log-facility=-", NULL };
	uint64_t end = it_now_ns() + (uint64_t)(it_limit(20) * 1e9);
	char *text;
	pid_t pid;
	bool up;

	snprintf(p, sizeof(p), "--port=%u", port);
	snprintf(rec, sizeof(rec), "--host-record=a.kc.test,%s", addr);
	snprintf(out, sizeof(out), "%s/%s.log", base, name);
	pid = proc_spawn(argv, out, (uid_t)-1, (gid_t)-1);
	/* Up once it logs that it started (it binds before that). */
	for (;;) {
		text = proc_slurp(out);
		up = strstr(text, "started, version") != NULL;
		free(text);
		if (up)
			break;
		if (proc_reap(pid, 0.05) >= 0 || it_now_ns() > end) {
			text = proc_slurp(out);
			IT_FAIL("dnsmasq %s did not start: %s", name, text);
		}
	}
	it_log("dnsmasq %s on 127.0.0.1:%u", name, port);
	return pid;
}

/* dig @127.0.0.1 -p port name type: its status is 0. */
static void
dig_one(const char *bin, unsigned port, const char *name, const char *type)
{
	char p[16], *out;
	const char *argv[] = { bin, "@127.0.0.1", "-p", p, name, type,
	    "+tries=1", "+time=5", NULL };
	int r;

	snprintf(p, sizeof(p), "%u", port);
	r = proc_run(argv, NULL, 30, &out);
	IT_CHECKF(r == 0 && strstr(out, "status: ") != NULL, "dig %s: %d: %s",
	    name, r, out);
	free(out);
}

/*
 * UDP sessions recorded and replayed: dig makes 9 queries (each from a
 * port of its own: a session each) through kcsplice --record to a
 * dnsmasq; once they expired, kcsplice stops with 9 recorded whole;
 * --dump shows UDP datagrams; --replay against the same dnsmasq matches
 * every one, and against a second one whose a.kc.test differs, the
 * sessions that asked for it diverge (exit 1), the others match.
 */
static void
record_dns(void)
{
	static const char *const q[][2] = {
		{ "a.kc.test", "A" }, { "t.kc.test", "TXT" },
		{ "nx.kc.test", "A" },
	};
	char bin[PLEN], dig[PLEN], dir[PLEN], up_a[64], to_a[64], line[96];
	unsigned up_port, other_port, i;
	struct it_stats st;
	struct ks k;
	pid_t up, other;
	char *out, *err;
	int r;

	base_make();
	proc_need("dnsmasq", "dnsmasq-base", bin, sizeof(bin));
	proc_need("dig", "bind9-dnsutils", dig, sizeof(dig));
	up_port = proc_free_port();
	other_port = proc_free_port();
	up = dns_start(bin, up_port, "127.0.0.5", "primary");
	other = dns_start(bin, other_port, "127.0.0.6", "other");
	snprintf(dir, sizeof(dir), "%s/rec", base);
	IT_CHECK(mkdir(dir, 0700) == 0);
	snprintf(up_a, sizeof(up_a), "udp:127.0.0.1:%u", up_port);
	{
		const char *args[] = { "-j", "2", "--record", dir,
		    "--udp-session-timeout", "0.5", "udp:127.0.0.1:0", up_a,
		    NULL };

		ks_start(&k, args);
		k.keep_log = true;
	}
	for (i = 0; i < 9; i++)
		dig_one(dig, it_addr_port(&k.listen), q[i % 3][0], q[i % 3][1]);
	ks_wait_active(&k, 0, &st);
	IT_EQ(st.conns, 9);
	{
		uint64_t end = it_now_ns() + (uint64_t)(it_limit(20) * 1e9);

		do {
			ks_stats(&k, &st);
			if (st.udp_sessions == 0)
				break;
			it_sleep_ms(100);
		} while (it_now_ns() < end);
		IT_EQ(st.udp_sessions, 0);
	}
	ks_stop(&k);
	IT_CHECKF(ks_has_line(&k, "record: 9 connections recorded whole, 0 "
	    "incomplete", NULL, NULL), "no record line: %s", k.log);
	ks_free_log(&k);
	{
		const char *args[] = { "--dump", dir, NULL };

		r = it_run(args, it_limit(30), &out, &err);
		IT_CHECKF(r == 0 && strstr(out, " open proto=udp ") != NULL &&
		    strstr(out, " datagram") != NULL && strstr(out,
		    "end complete reason=idle_timeout") != NULL, "--dump: %d: "
		    "%s %s", r, out, err);
		free(out);
		free(err);
	}
	snprintf(to_a, sizeof(to_a), "udp:127.0.0.1:%u", up_port);
	{
		const char *args[] = { "--replay", dir, "--to", to_a, NULL };

		r = it_run(args, it_limit(60), &out, &err);
		IT_CHECKF(r == 0 && strstr(out, "replay: 9 connections: 9 "
		    "matched") != NULL, "replay: %d: %s %s", r, out, err);
		free(out);
		free(err);
	}
	snprintf(to_a, sizeof(to_a), "udp:127.0.0.1:%u", other_port);
	{
		const char *args[] = { "--replay", dir, "--to", to_a, NULL };

		r = it_run(args, it_limit(60), &out, &err);
		snprintf(line, sizeof(line), "replay: 9 connections: 6 matched, "
		    "3 diverged");
		IT_CHECKF(r == 1 && strstr(out, line) != NULL, "replay against "
		    "the other: %d: %s %s", r, out, err);
		free(out);
		free(err);
	}
	proc_stop(up);
	proc_stop(other);
	proc_rmtree(base);
}

#define NCLIENTS	40
#define PER_CLIENT	5

static void
sample_client(void)
{
	struct redis up, mir;
	struct it_stats st;
	struct ks k;
	char bin[PLEN], up_a[64], mir_a[96], alog[PLEN], from[32], buf[256];
	char *log, *line, *save;
	unsigned yes[NCLIENTS], no[NCLIENTS], i, j, in = 0, out = 0;
	uint64_t mir0, mirn, taken = 0;

	servers(&up, &mir, bin, sizeof(bin));
	snprintf(up_a, sizeof(up_a), "tcp:127.0.0.1:%u", up.port);
	snprintf(mir_a, sizeof(mir_a), "tcp:127.0.0.1:%u,sample=50",
	    mir.port);
	snprintf(alog, sizeof(alog), "%s/access.log", base);
	{
		const char *args[] = { "-j", "2", "--sample-by", "client",
		    "--access-log", alog, "-m", mir_a, "tcp:127.0.0.1:0", up_a,
		    NULL };

		ks_start(&k, args);
	}
	mir0 = redis_conns(&mir);
	for (j = 0; j < PER_CLIENT; j++) {
		for (i = 0; i < NCLIENTS; i++) {
			int fd;

			snprintf(from, sizeof(from), "127.0.0.%u", i + 2);
			fd = tcp_connect(from, it_addr_port(&k.listen));
			ask(fd, "PING\r\n", "+PONG\r\n", buf, sizeof(buf));
			close(fd);
		}
	}
	ks_wait_active(&k, 0, &st);
	mirn = redis_conns(&mir) - mir0 - 1;
	ks_stop(&k);
	memset(yes, 0, sizeof(yes));
	memset(no, 0, sizeof(no));
	log = proc_slurp(alog);
	for (line = strtok_r(log, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		const char *c = strstr(line, " client=127.0.0.");
		unsigned ip;

		IT_CHECKF(c != NULL, "access log line: %s", line);
		ip = (unsigned)strtoul(c + strlen(" client=127.0.0."), NULL,
		    10);
		IT_CHECKF(ip >= 2 && ip < NCLIENTS + 2, "client: %s", line);
		if (strstr(line, " mirror0_sampled=yes") != NULL)
			yes[ip - 2]++;
		else if (strstr(line, " mirror0_sampled=no") != NULL)
			no[ip - 2]++;
		else
			IT_FAIL("no mirror0_sampled: %s", line);
	}
	free(log);
	for (i = 0; i < NCLIENTS; i++) {
		IT_CHECKF((yes[i] == PER_CLIENT && no[i] == 0) ||
		    (no[i] == PER_CLIENT && yes[i] == 0), "127.0.0.%u: %u "
		    "connections taken by the mirror, %u not", i + 2, yes[i],
		    no[i]);
		if (yes[i] > 0)
			in++;
		else
			out++;
		taken += yes[i];
	}
	it_log("%u client addresses in the mirror's sample, %u out; the "
	    "mirror accepted %llu connections", in, out,
	    (unsigned long long)mirn);
	IT_GT(in, 0);
	IT_GT(out, 0);
	IT_EQ(mirn, taken);
	IT_EQ(st.mirror_unsampled, out * PER_CLIENT);
	servers_stop(&up, &mir);
}

/* A UDP socket bound to 127.0.0.1 (port 0: any), or to from. */
static int
udp_bound(const char *from, unsigned *port)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	struct timeval tv = { 0, 200000 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	IT_CHECK(fd >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	IT_CHECK(inet_pton(AF_INET, from != NULL ? from : "127.0.0.1",
	    &a.sin_addr) == 1);
	IT_CHECKF(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0, "bind: %s",
	    strerror(errno));
	IT_CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
	IT_CHECK(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
	    sizeof(tv)) == 0);
	if (port != NULL)
		*port = ntohs(a.sin_port);
	return fd;
}

/* Receive datagrams on fd until want have come (bounded); each counted
 * by the client number it names. */
static void
udp_collect(int fd, unsigned want, unsigned *per, const char *who)
{
	uint64_t end = it_now_ns() + (uint64_t)(it_limit(10) * 1e9);
	unsigned got = 0, c;
	char buf[64];
	ssize_t n;

	while (got < want) {
		IT_CHECKF(it_now_ns() < end, "%s got %u datagrams of %u", who,
		    got, want);
		n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		IT_CHECKF(n > 0, "%s: recv: %s", who, strerror(errno));
		buf[n] = '\0';
		IT_CHECKF(sscanf(buf, "client %u", &c) == 1 && c < NCLIENTS,
		    "%s got \"%s\"", who, buf);
		per[c]++;
		got++;
	}
}

static void
sample_udp(void)
{
	unsigned upc[NCLIENTS], mirc[NCLIENTS], up_port, mir_port, i, j, in = 0;
	unsigned out = 0, taken = 0;
	char up_a[64], mir_a[96], from[32], msg[32];
	struct sockaddr_in to;
	struct it_stats st;
	struct ks k;
	int up, mir, cl[2 * NCLIENTS];

	up = udp_bound(NULL, &up_port);
	mir = udp_bound(NULL, &mir_port);
	snprintf(up_a, sizeof(up_a), "udp:127.0.0.1:%u", up_port);
	snprintf(mir_a, sizeof(mir_a), "udp:127.0.0.1:%u,sample=50",
	    mir_port);
	{
		const char *args[] = { "-j", "2", "--sample-by", "client",
		    "-m", mir_a, "udp:127.0.0.1:0", up_a, NULL };

		ks_start(&k, args);
	}
	memset(&to, 0, sizeof(to));
	to.sin_family = AF_INET;
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	to.sin_port = htons(it_addr_port(&k.listen));
	for (j = 0; j < 2; j++) {
		for (i = 0; i < NCLIENTS; i++) {
			int *fd = &cl[j * NCLIENTS + i];
			int len;

			snprintf(from, sizeof(from), "127.0.0.%u", i + 2);
			*fd = udp_bound(from, NULL);
			len = snprintf(msg, sizeof(msg), "client %u", i);
			IT_CHECK(sendto(*fd, msg, (size_t)len, 0,
			    (struct sockaddr *)&to, sizeof(to)) == len);
		}
	}
	memset(upc, 0, sizeof(upc));
	memset(mirc, 0, sizeof(mirc));
	udp_collect(up, 2 * NCLIENTS, upc, "the upstream");
	ks_stats(&k, &st);
	IT_EQ(st.conns, 2 * NCLIENTS);
	IT_LE(st.mirror_unsampled, 2 * NCLIENTS);
	udp_collect(mir, 2 * NCLIENTS - (unsigned)st.mirror_unsampled, mirc,
	    "the mirror");
	for (i = 0; i < NCLIENTS; i++) {
		IT_EQ(upc[i], 2);
		IT_CHECKF(mirc[i] == 0 || mirc[i] == 2, "127.0.0.%u: the "
		    "mirror got %u of its 2 sessions", i + 2, mirc[i]);
		if (mirc[i] > 0)
			in++;
		else
			out++;
		taken += mirc[i];
	}
	it_log("UDP: %u client addresses in the mirror's sample, %u out",
	    in, out);
	IT_GT(in, 0);
	IT_GT(out, 0);
	IT_EQ(taken + st.mirror_unsampled, 2 * NCLIENTS);
	ks_stop(&k);
	for (i = 0; i < 2 * NCLIENTS; i++)
		close(cl[i]);
	close(up);
	close(mir);
}

/* ------------------------------------------------------------------ */
/* PostgreSQL */

struct pg {
	const char	*name;
	char		 dir[PLEN];
	char		 log[PLEN];
	unsigned	 port;
	pid_t		 pid;
};

static char pgbin[128];	/* its bin directory */
static uid_t pg_uid = (uid_t)-1;
static gid_t pg_gid = (gid_t)-1;

/* A PostgreSQL bin directory, and whom the server runs as. */
static void
pg_find(void)
{
	const char *ci = getenv("CI");
	struct passwd *pw;
	glob_t g;

	if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) != 0 ||
	    g.gl_pathc == 0 ||
	    strlen(g.gl_pathv[g.gl_pathc - 1]) >= sizeof(pgbin)) {
		if (ci != NULL && strcmp(ci, "true") == 0)
			IT_FAIL("PostgreSQL is not installed (package "
			    "postgresql, scripts/deps.sh it)");
		it_skip("PostgreSQL is not installed (package postgresql, "
		    "scripts/deps.sh it)");
	}
	/* Any installed version will do: the last in glob(3)'s order. */
	snprintf(pgbin, sizeof(pgbin), "%s", g.gl_pathv[g.gl_pathc - 1]);
	*strrchr(pgbin, '/') = '\0';
	globfree(&g);
	if (geteuid() == 0) {
		/* initdb and postgres refuse to run as root. */
		pw = getpwnam("nobody");
		IT_CHECKF(pw != NULL, "no user nobody to run PostgreSQL as");
		pg_uid = pw->pw_uid;
		pg_gid = pw->pw_gid;
		IT_CHECK(chown(base, pg_uid, pg_gid) == 0);
	}
}

static void
pg_tool(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", pgbin, name);
}

static void
pg_start(struct pg *p, const char *name)
{
	char bin[PLEN], port[16], out[PLEN], sock[PLEN + 4];
	const char *argv[24];
	uint64_t end;
	int st;

	p->name = name;
	snprintf(p->dir, sizeof(p->dir), "%s/%s", base, name);
	snprintf(p->log, sizeof(p->log), "%s/%s.log", base, name);
	snprintf(out, sizeof(out), "%s/%s-initdb.log", base, name);
	pg_tool(bin, sizeof(bin), "initdb");
	argv[0] = bin;
	argv[1] = "-D";
	argv[2] = p->dir;
	argv[3] = "-A";
	argv[4] = "trust";
	argv[5] = "-U";
	argv[6] = "postgres";
	argv[7] = "--no-sync";
	argv[8] = NULL;
	st = proc_reap(proc_spawn(argv, out, pg_uid, pg_gid), it_limit(120));
	if (st != 0) {
		char *o = proc_slurp(out);

		IT_FAIL("initdb %s: status %d: %s", name, st, o);
	}
	p->port = proc_free_port();
	snprintf(port, sizeof(port), "%u", p->port);
	snprintf(sock, sizeof(sock), "%s", p->dir);
	pg_tool(bin, sizeof(bin), "postgres");
	argv[0] = bin;
	argv[1] = "-D";
	argv[2] = p->dir;
	argv[3] = "-p";
	argv[4] = port;
	argv[5] = "-k";
	argv[6] = sock;
	argv[7] = "-c";
	argv[8] = "listen_addresses=127.0.0.1";
	argv[9] = "-c";
	argv[10] = "fsync=off";
	argv[11] = "-c";
	argv[12] = "synchronous_commit=off";
	argv[13] = "-c";
	argv[14] = "full_page_writes=off";
	argv[15] = NULL;
	p->pid = proc_spawn(argv, p->log, pg_uid, pg_gid);
	end = it_now_ns() + (uint64_t)(it_limit(30) * 1e9);
	while (!proc_listening(p->port)) {
		st = proc_reap(p->pid, 0.05);
		if (st >= 0 || it_now_ns() > end) {
			char *o = proc_slurp(p->log);

			if (st < 0)
				proc_stop(p->pid);
			IT_FAIL("postgres %s did not start (status %d): %s",
			    name, st, o);
		}
	}
	it_log("postgres %s on 127.0.0.1:%u", name, p->port);
}

/* A connection string to port at sslmode=prefer (libpq's default). */
static void
pg_conninfo(char *buf, size_t size, unsigned port)
{
	snprintf(buf, size, "host=127.0.0.1 port=%u user=postgres "
	    "dbname=postgres sslmode=prefer", port);
}

/* psql's answer to one query, its blanks at the end taken off. */
static char *
pg_query(unsigned port, const char *sql)
{
	char bin[PLEN], ci[256], *out;
	const char *argv[] = { bin, "-X", "-A", "-t", "-d", ci, "-c", sql,
	    NULL };
	size_t n;
	int r;

	pg_tool(bin, sizeof(bin), "psql");
	pg_conninfo(ci, sizeof(ci), port);
	r = proc_run(argv, NULL, 60, &out);
	IT_CHECKF(r == 0, "psql %s: status %d: %s", sql, r, out);
	n = strlen(out);
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
		out[--n] = '\0';
	return out;
}

static void
pg_init(const struct pg *p)
{
	char bin[PLEN], ci[256], *out;
	const char *argv[] = { bin, "-i", "-q", ci, NULL };
	int r;

	pg_tool(bin, sizeof(bin), "pgbench");
	pg_conninfo(ci, sizeof(ci), p->port);
	r = proc_run(argv, NULL, 120, &out);
	IT_CHECKF(r == 0, "pgbench -i on %s: status %d: %s", p->name, r, out);
	free(out);
}

static unsigned
count_in(const char *text, const char *s)
{
	unsigned n = 0;

	while ((text = strstr(text, s)) != NULL) {
		n++;
		text += strlen(s);
	}
	return n;
}

static const char *const tables_sql =
    "select (select count(*) from pgbench_accounts), "
    "(select sum(abalance) from pgbench_accounts), "
    "(select sum(tbalance) from pgbench_tellers), "
    "(select sum(bbalance) from pgbench_branches), "
    "(select count(*) from pgbench_history)";

static void
pace_pg(bool paced)
{
	struct pg up, mir;
	struct it_stats st;
	struct ks k;
	char bin[PLEN], ci[256], up_a[64], mir_a[96], out[PLEN], tx[16];
	char *a, *b, *h, *mlog;
	const char *bargs[16];
	unsigned txns = IT_SCALE(200, 50);
	uint64_t end;
	pid_t bench;
	int r, n = 0;

	base_make();
	pg_find();
	pg_start(&up, "primary");
	pg_start(&mir, "mirror");
	pg_init(&up);
	pg_init(&mir);
	snprintf(up_a, sizeof(up_a), "tcp:127.0.0.1:%u", up.port);
	snprintf(mir_a, sizeof(mir_a), "tcp:127.0.0.1:%u,pace=%s", mir.port,
	    paced ? "turns" : "none");
	{
		const char *args[] = { "-j", "2", "-m", mir_a,
		    "tcp:127.0.0.1:0", up_a, NULL };

		ks_start(&k, args);
	}
	/* The mirror behind the client (see above). */
	IT_CHECK(kill(mir.pid, SIGSTOP) == 0);
	pg_tool(bin, sizeof(bin), "pgbench");
	pg_conninfo(ci, sizeof(ci), it_addr_port(&k.listen));
	snprintf(tx, sizeof(tx), "%u", txns);
	snprintf(out, sizeof(out), "%s/pgbench.out", base);
	bargs[n++] = bin;
	bargs[n++] = "-c";
	bargs[n++] = "4";
	bargs[n++] = "-t";
	bargs[n++] = tx;
	bargs[n++] = "-n";		/* no vacuum first */
	bargs[n++] = ci;
	bargs[n] = NULL;
	bench = proc_spawn(bargs, out, (uid_t)-1, (gid_t)-1);
	end = it_now_ns() + (uint64_t)(it_limit(60) * 1e9);
	for (;;) {
		h = pg_query(up.port, "select count(*) from pgbench_history");
		r = atoi(h);
		free(h);
		if (r > 0)
			break;
		if (it_now_ns() > end || proc_reap(bench, 0.02) >= 0) {
			(void)kill(mir.pid, SIGCONT);
			h = proc_slurp(out);
			IT_FAIL("pgbench committed nothing: %s", h);
		}
	}
	IT_CHECK(kill(mir.pid, SIGCONT) == 0);
	r = proc_reap(bench, it_limit(120));
	h = proc_slurp(out);
	IT_CHECKF(r == 0, "pgbench: status %d: %s", r, h);
	free(h);
	ks_wait_active(&k, 0, &st);
	ks_stop(&k);
	a = pg_query(up.port, tables_sql);
	b = pg_query(mir.port, tables_sql);
	mlog = proc_slurp(mir.log);
	it_log("primary: %s; mirror: %s; mirror detached %llu times; %u "
	    "\"unencrypted data\" lines in the mirror's log", a, b,
	    (unsigned long long)st.mirror_detached,
	    count_in(mlog, "received unencrypted data after SSL request"));
	h = pg_query(up.port, "select count(*) from pgbench_history");
	IT_EQ(strtoul(h, NULL, 10), 4 * txns);
	free(h);
	if (paced) {
		IT_CHECKF(strcmp(a, b) == 0, "the mirror's tables differ: "
		    "primary %s, mirror %s", a, b);
		IT_EQ(st.mirror_detached, 0);
		IT_EQ(count_in(mlog, "unencrypted data"), 0);
	} else {
		h = pg_query(mir.port, "select count(*) from pgbench_history");
		IT_CHECKF(strcmp(h, "0") == 0, "the blind mirror's history "
		    "has %s rows", h);
		free(h);
		/* pgbench's first connection and its 4 clients. */
		IT_GE(count_in(mlog,
		    "received unencrypted data after SSL request"), 4);
	}
	free(a);
	free(b);
	free(mlog);
	proc_stop(up.pid);
	proc_stop(mir.pid);
	proc_rmtree(base);
}

static void
pace_pg_turns(void)
{
	pace_pg(true);
}

static void
pace_pg_blind(void)
{
	pace_pg(false);
}

/* ------------------------------------------------------------------ */
/* --compare */

/* kcsplice_compare_total for mirror and result (metrics on port). */
static uint64_t
compare_count(unsigned port, const char *mirror, const char *result)
{
	char l[192];

	snprintf(l, sizeof(l), "mirror=\"%s\",result=\"%s\"", mirror, result);
	return metric_of(port, "kcsplice_compare_total", l);
}

/* Set key:000000000000 to key:000000000099 to value on the server. */
static void
redis_fill(unsigned port, const char *value)
{
	char req[8192], buf[1024];
	size_t o = 0;
	unsigned i;
	int fd = tcp_connect(NULL, port);

	for (i = 0; i < 100; i++)
		o += (size_t)snprintf(req + o, sizeof(req) - o,
		    "SET key:%012u %s\r\n", i, value);
	snprintf(req + o, sizeof(req) - o, "PING\r\n");
	ask(fd, req, "+PONG\r\n", buf, sizeof(buf));
	close(fd);
}

static void
compare_redis(void)
{
	struct redis up, mir;
	struct it_stats st;
	struct ks k;
	char bin[PLEN], bench[PLEN], up_a[64], mtext[64], mport[64],
	    alog[PLEN], rdir[PLEN], buf[256], *text;
	unsigned metrics_port;
	uint64_t conns;
	int fd, r;

	servers(&up, &mir, bin, sizeof(bin));
	proc_need("redis-benchmark", "redis-tools", bench, sizeof(bench));
	redis_fill(up.port, "xxx");
	redis_fill(mir.port, "xxx");
	snprintf(up_a, sizeof(up_a), "tcp:127.0.0.1:%u", up.port);
	snprintf(mtext, sizeof(mtext), "tcp:127.0.0.1:%u", mir.port);
	snprintf(alog, sizeof(alog), "%s/access.log", base);
	metrics_port = proc_free_port();
	snprintf(mport, sizeof(mport), "tcp:127.0.0.1:%u", metrics_port);
	/* Recording too: the upstream's replies feed both through one tap. */
	snprintf(rdir, sizeof(rdir), "%s/rec", base);
	IT_CHECK(mkdir(rdir, 0700) == 0);
	{
		const char *args[] = { "-j", "2", "--compare", "--metrics",
		    mport, "--access-log", alog, "-m", mtext, "--record", rdir,
		    "tcp:127.0.0.1:0", up_a, NULL };

		ks_start(&k, args);
		k.keep_log = true;
	}
	{
		const char *get[] = { "-t", "get", "-n", "2000", "-r",
		    "100", "-P", "1", NULL };
		const char *set[] = { "-n", "2000", "-r", "100", "-P", "1",
		    NULL };

		redis_bench(bench, it_addr_port(&k.listen), get);
		redis_bench(bench, it_addr_port(&k.listen), set);
	}
	ks_wait_active(&k, 0, &st);
	conns = st.conns;
	it_log("identical data: %llu connections, matched %llu, diverged "
	    "%llu, not compared %llu", (unsigned long long)conns,
	    (unsigned long long)compare_count(metrics_port, mtext, "matched"),
	    (unsigned long long)compare_count(metrics_port, mtext, "diverged"),
	    (unsigned long long)compare_count(metrics_port, mtext,
	    "not_compared"));
	IT_GE(conns, 8);
	IT_EQ(st.mirror_detached, 0);
	IT_EQ(compare_count(metrics_port, mtext, "matched"), conns);
	IT_EQ(compare_count(metrics_port, mtext, "diverged"), 0);
	IT_EQ(compare_count(metrics_port, mtext, "not_compared"), 0);
	IT_EQ(ks_count(&k, "diverged from the upstream"), 0);

	/* The mirror's data differs: one GET of it. */
	redis_fill(up.port, "xxx");
	redis_fill(mir.port, "yyy");
	fd = tcp_connect(NULL, it_addr_port(&k.listen));
	ask(fd, "GET key:000000000007\r\n", "\r\nxxx\r\n", buf, sizeof(buf));
	IT_CHECKF(strcmp(buf, "$3\r\nxxx\r\n") == 0, "the client got: %s",
	    buf);
	close(fd);
	ks_wait_active(&k, 0, &st);
	IT_EQ(st.conns, conns + 1);
	IT_EQ(compare_count(metrics_port, mtext, "diverged"), 1);
	IT_EQ(compare_count(metrics_port, mtext, "matched"), conns);
	snprintf(buf, sizeof(buf), "compare: mirror %s diverged from the "
	    "upstream at byte 4", mtext);
	ks_wait_line(&k, buf);
	IT_CHECKF(ks_has_line(&k, buf, "upstream 7878780d0a \"xxx..\"",
	    "mirror 7979790d0a \"yyy..\""), "no excerpts in: %s", k.log);
	ks_stop(&k);
	snprintf(buf, sizeof(buf), "record: %llu connections recorded whole, "
	    "0 incomplete", (unsigned long long)conns + 1);
	IT_CHECKF(ks_has_line(&k, buf, NULL, NULL), "no \"%s\" in: %s", buf,
	    k.log);
	ks_free_log(&k);
	text = proc_slurp(alog);
	IT_CHECKF(strstr(text, "mirror0_compare=diverged "
	    "mirror0_compare_offset=4 record=complete") != NULL &&
	    strstr(text, "mirror0_compare=matched mirror0_compare_offset=-")
	    != NULL, "access log: %s", text);
	free(text);
	servers_stop(&up, &mir);
	{
		const char *argv[] = { it_kcsplice, "--compare",
		    "udp:127.0.0.1:0", "udp:127.0.0.1:9", NULL };
		char *out;

		r = proc_run(argv, NULL, 20, &out);
		IT_CHECKF(r == 64 && strstr(out, "--compare compares TCP and "
		    "UNIX connections' replies, not UDP sessions'") != NULL,
		    "--compare with udp: status %d: %s", r, out);
		free(out);
	}
}

#define FLOOD		(4u << 20)
#define FLOOD_CONNS	3

/*
 * The flooding mirror, in a child: each connection gets FLOOD bytes at
 * once, then is read until it ends.
 */
static void
flood_serve(int lfd)
{
	static char pongs[65534], sink[65536];
	size_t sent;
	ssize_t n;
	int fd;

	/* Gone with the test, whatever way it ends. */
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGPIPE, SIG_IGN);
	for (sent = 0; sent < sizeof(pongs); sent += 7)
		memcpy(pongs + sent, "+PONG\r\n", 7);
	for (;;) {
		if ((fd = accept(lfd, NULL, NULL)) < 0)
			continue;
		for (sent = 0; sent < FLOOD; sent += (size_t)n)
			if ((n = write(fd, pongs, sizeof(pongs))) <= 0)
				break;
		while (read(fd, sink, sizeof(sink)) > 0)
			;
		close(fd);
	}
}

static void
compare_flood(void)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	struct redis up;
	struct it_stats st;
	struct ks k;
	char bin[PLEN], up_a[64], mtext[64], mport[64], buf[256];
	unsigned metrics_port, c, i;
	pid_t child;
	int lfd, fd;

	base_make();
	proc_need("redis-server", "redis-server", bin, sizeof(bin));
	redis_start(&up, bin, "primary");
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	IT_CHECK(lfd >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	IT_CHECK(bind(lfd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    listen(lfd, 16) == 0 &&
	    getsockname(lfd, (struct sockaddr *)&a, &alen) == 0);
	if ((child = fork()) == 0) {
		flood_serve(lfd);
		_exit(0);
	}
	IT_CHECK(child > 0);
	close(lfd);
	snprintf(up_a, sizeof(up_a), "tcp:127.0.0.1:%u", up.port);
	snprintf(mtext, sizeof(mtext), "tcp:127.0.0.1:%u",
	    (unsigned)ntohs(a.sin_port));
	metrics_port = proc_free_port();
	snprintf(mport, sizeof(mport), "tcp:127.0.0.1:%u", metrics_port);
	{
		const char *args[] = { "--compare", "--compare-window", "64k",
		    "--metrics", mport, "-m", mtext, "tcp:127.0.0.1:0", up_a,
		    NULL };

		ks_start(&k, args);
	}
	memset(&st, 0, sizeof(st));
	for (c = 0; c < FLOOD_CONNS; c++) {
		fd = tcp_connect(NULL, it_addr_port(&k.listen));
		for (i = 0; i < 20; i++) {
			ask(fd, "PING\r\n", "\r\n", buf, sizeof(buf));
			IT_CHECKF(strcmp(buf, "+PONG\r\n") == 0,
			    "the client got: %s", buf);
		}
		close(fd);
		ks_wait_active(&k, 0, &st);
	}
	IT_EQ(st.conns, FLOOD_CONNS);
	IT_EQ(st.mirror_detached, 0);
	IT_EQ(compare_count(metrics_port, mtext, "not_compared"),
	    FLOOD_CONNS);
	IT_EQ(compare_count(metrics_port, mtext, "matched"), 0);
	IT_EQ(compare_count(metrics_port, mtext, "diverged"), 0);
	ks_stop(&k);
	kill(child, SIGKILL);
	IT_CHECK(proc_reap(child, 10) >= 0);
	proc_stop(up.pid);
	proc_rmtree(base);
}

int
main(int argc, char **argv)
{
	static const struct it_case cases[] = {
		{ "sample-redis", sample_redis },
		{ "sample-client", sample_client },
		{ "sample-udp", sample_udp },
		{ "pace-pg-turns", pace_pg_turns },
		{ "pace-pg-blind", pace_pg_blind },
		{ "record-redis", record_redis },
		{ "record-full", record_full },
		{ "record-dns", record_dns },
		{ "compare-redis", compare_redis },
		{ "compare-flood", compare_flood },
	};

	return it_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
