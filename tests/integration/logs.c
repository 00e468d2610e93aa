/*
 * logs.c: kcsplice's log lines, its access log, its end reasons and its
 * exit status (kcsplice(1): LOGGING, ACCESS LOG, END REASONS, EXIT STATUS).
 *
 * Every scenario runs kcsplice with --access-log in the private directory
 * and checks, for each connection it made, one access-log line with the
 * end reason it must have and the bytes each way the peers saw; every
 * time stamp (log lines and access-log lines) is RFC 3339 UTC with
 * milliseconds and within the scenario's wall-clock window.
 *
 *   logs-client      client FIN and client RST through an echoing upstream,
 *                    with two mirrors: the first cannot connect (a UNIX
 *                    path that is not there: detached, nothing written),
 *                    the second gets every byte the clients sent
 *   logs-upstream    upstream FIN (it sends and closes first) and upstream
 *                    RST (it resets mid-stream: a warning line says so)
 *   logs-connect     connect refused (a port nobody listens on) and connect
 *                    timeout (a listener whose backlog is full): the client
 *                    of a timeout gets end of file, and the log says so
 *   logs-timeouts    idle timeout and half-close timeout
 *   logs-drain       SIGTERM with a connection open past --shutdown-timeout:
 *                    cut (drain_cut), exit 75, and the last stats line says
 *                    active 0 and drain_cut 1; a second SIGTERM cuts at once,
 *                    exit 75 as well
 *   logs-limit       --max-conns 1: the next connections end "limit"
 *   logs-json        --log-format json -v: every stderr line and every
 *                    access-log line is a JSON object (python3 parses them)
 *                    with the fields documented; an upstream path with a
 *                    quote and a backslash comes back unchanged
 *   logs-reopen      SIGUSR2 after the access log was renamed, with
 *                    connections ending meanwhile: every line is in one of
 *                    the two files; a failed reopen keeps the old file
 *   logs-ratelimit   a burst of refused connections: the lines shown and
 *                    the counts of the ones suppressed add up to the burst
 */
#include "it.h"
#include "peer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAXLINES	512

/* ---- wall clock and time stamps ---- */

static uint64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * s starts with "YYYY-MM-DDTHH:MM:SS.mmmZ": its time in ms since the
 * epoch, which must lie in [lo, hi].
 */
static void
check_stamp(const char *s, uint64_t lo, uint64_t hi, const char *what)
{
	struct tm tm;
	char *end;
	time_t t;
	unsigned ms;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	IT_CHECKF(end != NULL && end - s == 19 && end[0] == '.' &&
	    end[1] >= '0' && end[1] <= '9' && end[2] >= '0' && end[2] <= '9' &&
	    end[3] >= '0' && end[3] <= '9' && end[4] == 'Z',
	    "%s: not an RFC 3339 UTC time with milliseconds: %.40s", what, s);
	ms = (unsigned)strtoul(end + 1, NULL, 10);
	t = timegm(&tm);
	IT_CHECKF((uint64_t)t * 1000 + ms >= lo && (uint64_t)t * 1000 + ms <= hi,
	    "%s: time %.24s is outside the test's window [%" PRIu64 ", %"
	    PRIu64 "] ms", what, s, lo, hi);
}

/* Every line of k's log: time stamp, level, "kcsplice: ", in the window. */
static unsigned
check_log_lines(struct ks *k, uint64_t lo, uint64_t hi)
{
	const char *p, *nl;
	unsigned n = 0;

	pthread_mutex_lock(&k->mu);
	for (p = k->log; p != NULL && (nl = strchr(p, '\n')) != NULL;
	    p = nl + 1) {
		const char *rest = it_log_prefix(p);

		/* The stats line, JSON (the harness asks for it). */
		if (strncmp(p, "{\"time\":\"", 9) == 0) {
			check_stamp(p + 9, lo, hi, "stats line");
			n++;
			continue;
		}
		if (rest == NULL || strncmp(rest, "kcsplice: ", 10) != 0) {
			pthread_mutex_unlock(&k->mu);
			IT_FAIL("log line without time, level and "
			    "\"kcsplice: \": %.*s", (int)(nl - p), p);
		}
		check_stamp(p, lo, hi, "log line");
		n++;
	}
	pthread_mutex_unlock(&k->mu);
	IT_GT(n, 0);
	return n;
}

/* ---- the access log ---- */

struct alog {
	char		*buf;
	char		*line[MAXLINES];
	unsigned	 n;
};

static void
alog_free(struct alog *a)
{
	free(a->buf);
	memset(a, 0, sizeof(*a));
}

static void
alog_read(const char *path, struct alog *a)
{
	FILE *f = fopen(path, "r");
	size_t cap = 1 << 16, len = 0, r;
	char *p;

	memset(a, 0, sizeof(*a));
	a->buf = malloc(cap);
	IT_CHECK(a->buf != NULL);
	if (f != NULL) {
		while ((r = fread(a->buf + len, 1, cap - len - 1, f)) > 0) {
			len += r;
			if (len + 1 == cap) {
				cap *= 2;
				IT_CHECK((a->buf = realloc(a->buf, cap)) !=
				    NULL);
			}
		}
		fclose(f);
	}
	a->buf[len] = '\0';
	/* Only whole lines. */
	for (p = a->buf; *p != '\0'; ) {
		char *nl = strchr(p, '\n');

		if (nl == NULL)
			break;
		*nl = '\0';
		IT_CHECKF(a->n < MAXLINES, "too many access-log lines");
		a->line[a->n++] = p;
		p = nl + 1;
	}
}

/* Wait (bounded) until path has at least want lines; read them. */
static void
alog_wait(const char *path, unsigned want, struct alog *a)
{
	uint64_t deadline = it_now_ns() + (uint64_t)(it_limit(15) * 1e9);

	for (;;) {
		alog_read(path, a);
		if (a->n >= want)
			return;
		if (it_now_ns() > deadline)
			IT_FAIL("%s: %u lines, waited for %u", path, a->n, want);
		alog_free(a);
		it_sleep_ms(20);
	}
}

/* The value of " key=" in a text line (up to a space), or NULL. */
static const char *
field(const char *line, const char *key, char *out, size_t size)
{
	char pat[64];
	const char *p;
	size_t n;

	snprintf(pat, sizeof(pat), " %s=", key);
	if ((p = strstr(line, pat)) == NULL)
		return NULL;
	p += strlen(pat);
	n = strcspn(p, " ");
	if (n >= size)
		n = size - 1;
	memcpy(out, p, n);
	out[n] = '\0';
	return out;
}

static uint64_t
field_u(const char *line, const char *key)
{
	char v[64], *end;
	uint64_t x;

	IT_CHECKF(field(line, key, v, sizeof(v)) != NULL, "no %s= in: %s",
	    key, line);
	x = strtoull(v, &end, 10);
	IT_CHECKF(end != v && *end == '\0', "%s=%s is not a number: %s", key,
	    v, line);
	return x;
}

/* Lines whose end= is end. */
static unsigned
alog_count(const struct alog *a, const char *end)
{
	char v[64];
	unsigned i, n = 0;

	for (i = 0; i < a->n; i++)
		if (field(a->line[i], "end", v, sizeof(v)) != NULL &&
		    strcmp(v, end) == 0)
			n++;
	return n;
}

/*
 * The line of the connection from client (its "client=" text) must say
 * end, and up and down bytes; its time stamp is in [lo, hi].
 */
static const char *
alog_check(const struct alog *a, const char *client, const char *end,
    uint64_t up, uint64_t down, uint64_t lo, uint64_t hi)
{
	char v[160];
	unsigned i;

	for (i = 0; i < a->n; i++) {
		const char *l = a->line[i];

		if (field(l, "client", v, sizeof(v)) == NULL ||
		    strcmp(v, client) != 0)
			continue;
		check_stamp(l, lo, hi, "access-log line");
		IT_CHECKF(field(l, "end", v, sizeof(v)) != NULL &&
		    strcmp(v, end) == 0, "client %s: end=%s, not %s: %s",
		    client, v, end, l);
		IT_CHECKF(field_u(l, "bytes_up") == up, "client %s: bytes_up "
		    "%" PRIu64 ", not %" PRIu64 ": %s", client,
		    field_u(l, "bytes_up"), up, l);
		IT_CHECKF(field_u(l, "bytes_down") == down, "client %s: "
		    "bytes_down %" PRIu64 ", not %" PRIu64 ": %s", client,
		    field_u(l, "bytes_down"), down, l);
		(void)field_u(l, "conn");
		(void)field_u(l, "duration_ms");
		return l;
	}
	IT_FAIL("no access-log line for client %s", client);
}

/* The client text kcsplice writes for a client connection c. */
static const char *
client_text(const struct pconn *c, char *buf, size_t size)
{
	const char *t = c->local.text;
	size_t n;

	/* "tcp:127.0.0.1:40000" -> "127.0.0.1:40000" */
	if (strncmp(t, "tcp:", 4) == 0)
		t += 4;
	n = strlen(t);

	if (n >= size)
		n = size - 1;
	memcpy(buf, t, n);
	buf[n] = '\0';
	return buf;
}

static void
alog_path(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", it_dir, name);
}

/* A started kcsplice with an access log. */
static void
start(struct ks *k, const char *alog, const char *const *extra)
{
	const char *args[40];
	size_t n = 0, i;

	args[n++] = "--access-log";
	args[n++] = alog;
	for (i = 0; extra[i] != NULL && n + 1 < 40; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	ks_start(k, args);
	k->keep_log = true;
}

static const struct pbehav echo_b = { .read = true, .echo = true,
	.fin = true };

/* ---- scenarios ---- */

static void
logs_client(void)
{
	struct peer *up, *mir, *cl;
	struct pconn *fin[3], *rst[2];
	struct pbehav b, mb;
	struct alog a;
	struct it_stats st;
	struct ks k;
	char path[300], missing[300], cbuf[64];
	uint64_t lo = wall_ms(), hi, n = 10000;
	unsigned i;
	const char *l;

	alog_path(path, sizeof(path), "access.log");
	snprintf(missing, sizeof(missing), "unix:%s/not-there", it_dir);
	up = peer_listen("upstream", "tcp:127.0.0.1:0", &echo_b);
	memset(&mb, 0, sizeof(mb));
	mb.read = true;
	mir = peer_listen("mirror", "tcp:127.0.0.1:0", &mb);
	{
		const char *extra[] = { "-m", missing, "-m", mir->addr.text,
		    "tcp:127.0.0.1:0", up->addr.text, NULL };

		start(&k, path, extra);
	}
	cl = peer_client("client");
	memset(&b, 0, sizeof(b));
	b.read = true;
	b.send = n;
	b.fin = true;
	for (i = 0; i < 3; i++)
		fin[i] = peer_connect(cl, &k.listen, &b);
	memset(&b, 0, sizeof(b));
	b.read = true;
	b.send = n;
	b.reset = true;
	b.reset_after = n;	/* once all came back */
	for (i = 0; i < 2; i++)
		rst[i] = peer_connect(cl, &k.listen, &b);
	PEER_WAIT(cl, cl->ndone == 5, 30);
	ks_wait_active(&k, 0, &st);
	PEER_WAIT(mir, mir->ndone == 5, 30);
	alog_wait(path, 5, &a);
	hi = wall_ms();
	IT_EQ(a.n, 5);
	peer_lock(cl);
	for (i = 0; i < 3; i++) {
		IT_CHECK(fin[i]->eof && fin[i]->rx == n);
		l = alog_check(&a, client_text(fin[i], cbuf, sizeof(cbuf)),
		    "client_fin", n, n, lo, hi);
		/*
		 * Mirror 0 never connected: refused, then down (skipped in
		 * its back-off); mirror 1 got every byte.
		 */
		IT_EQ(field_u(l, "mirror0_written"), 0);
		IT_CHECK(strstr(l, " mirror0_detached=refused") != NULL ||
		    strstr(l, " mirror0_detached=down") != NULL);
		IT_EQ(field_u(l, "mirror1_written"), n);
		IT_EQ(field_u(l, "mirror1_dropped"), 0);
		IT_CHECK(strstr(l, " mirror1_detached=no") != NULL);
		IT_CHECK(strstr(l, " upstream=") != NULL);
	}
	for (i = 0; i < 2; i++) {
		IT_CHECK(rst[i]->reset_sent && rst[i]->rx == n);
		alog_check(&a, client_text(rst[i], cbuf, sizeof(cbuf)),
		    "client_rst", n, n, lo, hi);
	}
	peer_unlock(cl);
	ks_stats(&k, &st);
	ks_stop(&k);
	check_log_lines(&k, lo, wall_ms());
	IT_CHECK(ks_has_line(&k, "\"client_fin\":3", "\"client_rst\":2",
	    NULL));
	ks_free_log(&k);
	it_log("3 client_fin and 2 client_rst lines, bytes and mirrors right");
	alog_free(&a);
	peer_free(cl);
	peer_free(mir);
	peer_free(up);
}

static void
logs_upstream(void)
{
	struct peer *up, *cl;
	struct pconn *c;
	struct pbehav ub, b;
	struct alog a;
	struct it_stats st;
	struct ks k;
	char path[300], cbuf[64];
	uint64_t lo = wall_ms(), hi, urx;

	/* Upstream FIN: it sends 5000 bytes and closes at once. */
	alog_path(path, sizeof(path), "fin.log");
	memset(&ub, 0, sizeof(ub));
	ub.read = true;
	ub.send = 5000;
	ub.fin = true;
	up = peer_listen("upstream", "tcp:127.0.0.1:0", &ub);
	{
		const char *extra[] = { "tcp:127.0.0.1:0", up->addr.text,
		    NULL };

		start(&k, path, extra);
	}
	cl = peer_client("client");
	memset(&b, 0, sizeof(b));
	b.read = true;
	b.send_after_eof = true;	/* close only after the upstream */
	b.fin = true;
	c = peer_connect(cl, &k.listen, &b);
	PEER_WAIT(cl, c->done, 30);
	alog_wait(path, 1, &a);
	hi = wall_ms();
	IT_EQ(c->rx, 5000);
	alog_check(&a, client_text(c, cbuf, sizeof(cbuf)), "upstream_fin", 0,
	    5000, lo, hi);
	alog_free(&a);
	ks_wait_active(&k, 0, &st);
	ks_stop(&k);
	check_log_lines(&k, lo, wall_ms());
	ks_free_log(&k);
	peer_free(cl);
	peer_free(up);

	/* Upstream RST: 4 KiB, then a reset once the client's bytes came. */
	alog_path(path, sizeof(path), "rst.log");
	memset(&ub, 0, sizeof(ub));
	ub.read = true;
	ub.send = 4096;
	ub.reset = true;
	ub.reset_after = 1000;
	up = peer_listen("upstream", "tcp:127.0.0.1:0", &ub);
	{
		const char *extra[] = { "tcp:127.0.0.1:0", up->addr.text,
		    NULL };

		start(&k, path, extra);
	}
	cl = peer_client("client");
	memset(&b, 0, sizeof(b));
	b.read = true;
	b.send = 1000;
	c = peer_connect(cl, &k.listen, &b);
	PEER_WAIT(cl, c->done, 30);
	PEER_WAIT(up, up->ndone == 1, 30);
	alog_wait(path, 1, &a);
	hi = wall_ms();
	IT_CHECKF(c->err == ECONNRESET, "client: %s, not reset",
	    c->err ? strerror(c->err) : "no error");
	peer_lock(up);
	urx = up->conns[0]->rx;
	peer_unlock(up);
	IT_EQ(urx, 1000);
	alog_check(&a, client_text(c, cbuf, sizeof(cbuf)), "upstream_rst",
	    1000, 4096, lo, hi);
	alog_free(&a);
	ks_wait_line(&k, "reset the connection mid-stream");
	IT_CHECK(ks_has_line(&k, " warning kcsplice: upstream ", up->addr.text,
	    "reset the connection mid-stream"));
	ks_wait_active(&k, 0, &st);
	ks_stop(&k);
	check_log_lines(&k, lo, wall_ms());
	ks_free_log(&k);
	it_log("upstream_fin and upstream_rst lines right, the reset logged");
	peer_free(cl);
	peer_free(up);
}

/*
 * A TCP listener whose backlog is full: a connect to it stays in progress.
 * *filler is the connection that fills it.  Fails the test if this kernel
 * completes such a connect anyway (Linux does not).
 */
static int
full_listener(char *text, size_t size, int *filler)
{
	struct sockaddr_in in;
	socklen_t len = sizeof(in);
	struct pollfd p;
	int lfd, probe;

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	IT_CHECK(lfd >= 0);
	memset(&in, 0, sizeof(in));
	in.sin_family = AF_INET;
	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	IT_CHECK(bind(lfd, (struct sockaddr *)&in, sizeof(in)) == 0);
	IT_CHECK(getsockname(lfd, (struct sockaddr *)&in, &len) == 0);
	IT_CHECK(listen(lfd, 0) == 0);
	*filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	IT_CHECK(*filler >= 0);
	IT_CHECK(connect(*filler, (struct sockaddr *)&in, sizeof(in)) == 0);
	probe = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	IT_CHECK(probe >= 0);
	IT_CHECKF(connect(probe, (struct sockaddr *)&in, sizeof(in)) != 0 &&
	    errno == EINPROGRESS, "a connect to a full backlog did not stay "
	    "in progress");
	p.fd = probe;
	p.events = POLLOUT;
	p.revents = 0;
	IT_CHECKF(poll(&p, 1, 200) == 0, "a connect to a full backlog "
	    "completed: this kernel cannot make a connect time out on "
	    "loopback");
	close(probe);
	snprintf(text, size, "tcp:127.0.0.1:%u", ntohs(in.sin_port));
	return lfd;
}

static void
logs_connect(void)
{
	struct sockaddr_in in;
	socklen_t len = sizeof(in);
	struct peer *cl;
	struct pconn *c[2];
	struct pbehav b;
	struct alog a;
	struct it_stats st;
	struct ks k;
	char path[300], upaddr[64], cbuf[64];
	uint64_t lo = wall_ms(), hi;
	int fd, filler;
	unsigned i;

	/* Refused: a port that is ours but not listening. */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	IT_CHECK(fd >= 0);
	memset(&in, 0, sizeof(in));
	in.sin_family = AF_INET;
	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	IT_CHECK(bind(fd, (struct sockaddr *)&in, sizeof(in)) == 0);
	IT_CHECK(getsockname(fd, (struct sockaddr *)&in, &len) == 0);
	snprintf(upaddr, sizeof(upaddr), "tcp:127.0.0.1:%u",
	    ntohs(in.sin_port));
	alog_path(path, sizeof(path), "refused.log");
	{
		const char *extra[] = { "tcp:127.0.0.1:0", upaddr, NULL };

		start(&k, path, extra);
	}
	cl = peer_client("client");
	memset(&b, 0, sizeof(b));
	b.read = true;
	b.send = 100;
	for (i = 0; i < 2; i++)
		c[i] = peer_connect(cl, &k.listen, &b);
	PEER_WAIT(cl, cl->ndone == 2, 30);
	alog_wait(path, 2, &a);
	hi = wall_ms();
	for (i = 0; i < 2; i++)
		alog_check(&a, client_text(c[i], cbuf, sizeof(cbuf)),
		    "connect_refused", 0, 0, lo, hi);
	alog_free(&a);
	ks_wait_active(&k, 0, &st);
	ks_stop(&k);
	check_log_lines(&k, lo, wall_ms());
	IT_CHECK(ks_has_line(&k, " warning kcsplice: upstream ", upaddr,
	    "Connection refused"));
	ks_free_log(&k);
	peer_free(cl);
	close(fd);

	/* Timeout: the upstream's backlog is full. */
	fd = full_listener(upaddr, sizeof(upaddr), &filler);
	alog_path(path, sizeof(path), "timeout.log");
	{
		const char *extra[] = { "--connect-timeout", "0.3",
		    "tcp:127.0.0.1:0", upaddr, NULL };

		start(&k, path, extra);
	}
	cl = peer_client("client");
	memset(&b, 0, sizeof(b));
	b.read = true;
	b.send = 100;
	c[0] = peer_connect(cl, &k.listen, &b);
	PEER_WAIT(cl, c[0]->done, 30);
	alog_wait(path, 1, &a);
	hi = wall_ms();
	/* The client got an end of file, and the log says "closed". */
	IT_CHECKF(c[0]->eof && c[0]->err == 0, "client: eof %d, %s",
	    c[0]->eof, c[0]->err ? strerror(c[0]->err) : "no error");
	alog_check(&a, client_text(c[0], cbuf, sizeof(cbuf)),
	    "connect_timeout", 0, 0, lo, hi);
	alog_free(&a);
	ks_wait_active(&k, 0, &st);
	ks_stop(&k);
	check_log_lines(&k, lo, wall_ms());
	IT_CHECK(ks_has_line(&k, " warning kcsplice: upstream ", upaddr,
	    "--connect-timeout 0.3 s (conn 1, client"));
	IT_CHECK(!ks_has_line(&k, "reset)", NULL, NULL));
	ks_free_log(&k);
	it_log("connect_refused and connect_timeout lines right");
	peer_free(cl);
	close(filler);
	close(fd);
}

static void
logs_timeouts(void)
{
	struct peer *up, *cl;
	struct pconn *c;
	struct pbehav b, ub;
	struct alog a;
	struct it_stats st;
	struct ks k;
	char path[300], cbuf[64];
	uint64_t lo = wall_ms(), hi;

	/* Idle: 100 bytes there and back, then silence. */
	memset(&ub, 0, sizeof(ub));
	ub.read = true;
	ub.echo = true;
	up = peer_listen("upstream", "tcp:127.0.0.1:0", &ub);
	alog_path(path, sizeof(path), "idle.log");
	{
		const char *extra[] = { "--idle-timeout", "0.3",
		    "tcp:127.0.0.1:0", up->addr.text, NULL };

		start(&k, path, extra);
	}
	cl = peer_client("client");
	memset(&b, 0, sizeof(b));
	b.read = true;
	b.send = 100;
	c = peer_connect(cl, &k.listen, &b);
	PEER_WAIT(cl, c->done, 30);
	alog_wait(path, 1, &a);
	hi = wall_ms();
	IT_EQ(c->rx, 100);
	alog_check(&a, client_text(c, cbuf, sizeof(cbuf)), "idle_timeout",
	    100, 100, lo, hi);
	alog_free(&a);
	ks_wait_active(&k, 0, &st);
	ks_stop(&k);
	check_log_lines(&k, lo, wall_ms());
	/* An idle connection blames nobody. */
	IT_CHECK(!ks_has_line(&k, "kcsplice: upstream", NULL, NULL));
	ks_free_log(&k);
	peer_free(cl);
	peer_free(up);

	/* Half-close: the client sends and closes; the upstream never does. */
	memset(&ub, 0, sizeof(ub));
	ub.read = true;
	ub.keep = true;
	up = peer_listen("upstream", "tcp:127.0.0.1:0", &ub);
	alog_path(path, sizeof(path), "half.log");
	{
		const char *extra[] = { "--half-close-timeout", "0.3",
		    "tcp:127.0.0.1:0", up->addr.text, NULL };

		start(&k, path, extra);
	}
	cl = peer_client("client");
	memset(&b, 0, sizeof(b));
	b.read = true;
	b.send = 300;
	b.fin = true;
	c = peer_connect(cl, &k.listen, &b);
	PEER_WAIT(cl, c->done, 30);
	alog_wait(path, 1, &a);
	hi = wall_ms();
	alog_check(&a, client_text(c, cbuf, sizeof(cbuf)),
	    "half_close_timeout", 300, 0, lo, hi);
	alog_free(&a);
	ks_wait_active(&k, 0, &st);
	ks_stop(&k);
	check_log_lines(&k, lo, wall_ms());
	ks_free_log(&k);
	it_log("idle_timeout and half_close_timeout lines right");
	peer_free(cl);
	peer_free(up);
}

/* The last stats line of k's log (JSON), copied into buf. */
static void
last_stats(struct ks *k, char *buf, size_t size)
{
	const char *p, *last = NULL;

	pthread_mutex_lock(&k->mu);
	for (p = k->log; p != NULL && (p = strstr(p, "\"conns\":")) != NULL;
	    p++)
		last = p;
	if (last != NULL) {
		while (last > k->log && last[-1] != '\n')
			last--;
		snprintf(buf, size, "%.*s", (int)strcspn(last, "\n"), last);
	}
	pthread_mutex_unlock(&k->mu);
	IT_CHECKF(last != NULL, "no stats line");
}

static void
drain_one(bool second_signal)
{
	struct peer *up, *cl;
	struct pconn *c;
	struct pbehav b, ub;
	struct alog a;
	struct it_stats st;
	struct ks k;
	char path[300], cbuf[64], line[2048];
	uint64_t lo = wall_ms(), hi;

	memset(&ub, 0, sizeof(ub));
	ub.read = true;
	ub.echo = true;
	up = peer_listen("upstream", "tcp:127.0.0.1:0", &ub);
	alog_path(path, sizeof(path), second_signal ? "cut2.log" : "cut.log");
	{
		const char *extra[] = { "--shutdown-timeout",
		    second_signal ? "60" : "0.3", "tcp:127.0.0.1:0",
		    up->addr.text, NULL };

		start(&k, path, extra);
	}
	cl = peer_client("client");
	memset(&b, 0, sizeof(b));
	b.read = true;
	b.send = 200;
	b.keep = true;
	c = peer_connect(cl, &k.listen, &b);
	PEER_WAIT(cl, c->rx == 200, 30);
	ks_wait_active(&k, 1, &st);
	ks_kill(&k, SIGTERM);
	if (second_signal) {
		ks_wait_line(&k, "kcsplice: stopping: 1 connection open");
		ks_kill(&k, SIGTERM);
	}
	ks_wait_exit(&k, 75);
	alog_wait(path, 1, &a);
	hi = wall_ms();
	alog_check(&a, client_text(c, cbuf, sizeof(cbuf)), "drain_cut", 200,
	    200, lo, hi);
	alog_free(&a);
	/* The last stats line is true: nothing open, one cut. */
	last_stats(&k, line, sizeof(line));
	IT_CHECKF(strstr(line, "\"active\":0,") != NULL &&
	    strstr(line, "\"drain_cut\":1") != NULL, "last stats line: %s",
	    line);
	check_stamp(strstr(line, "\"time\":\"") + 8, lo, wall_ms(),
	    "stats line");
	IT_CHECK(ks_has_line(&k, "kcsplice: stopped: 1 connection cut", NULL,
	    NULL));
	check_log_lines(&k, lo, wall_ms());
	ks_free_log(&k);
	PEER_WAIT(cl, c->done, 10);
	it_log("%s: drain_cut, exit 75, last stats: active 0, drain_cut 1",
	    second_signal ? "second SIGTERM" : "drain timed out");
	peer_free(cl);
	peer_free(up);
}

static void
logs_drain(void)
{
	drain_one(false);
	drain_one(true);
}

static void
logs_limit(void)
{
	struct peer *up, *cl;
	struct pconn *held, *c[3];
	struct pbehav b;
	struct alog a;
	struct it_stats st;
	struct ks k;
	char path[300], cbuf[64];
	uint64_t lo = wall_ms(), hi;
	unsigned i;
	const char *l;

	up = peer_listen("upstream", "tcp:127.0.0.1:0", &echo_b);
	alog_path(path, sizeof(path), "limit.log");
	{
		const char *extra[] = { "--max-conns", "1", "tcp:127.0.0.1:0",
		    up->addr.text, NULL };

		start(&k, path, extra);
	}
	cl = peer_client("client");
	memset(&b, 0, sizeof(b));
	b.read = true;
	b.send = 10;
	b.keep = true;
	held = peer_connect(cl, &k.listen, &b);
	PEER_WAIT(cl, held->rx == 10, 30);
	memset(&b, 0, sizeof(b));
	b.read = true;
	for (i = 0; i < 3; i++)
		c[i] = peer_connect(cl, &k.listen, &b);
	PEER_WAIT(cl, c[0]->done && c[1]->done && c[2]->done, 30);
	alog_wait(path, 3, &a);
	hi = wall_ms();
	for (i = 0; i < 3; i++) {
		l = alog_check(&a, client_text(c[i], cbuf, sizeof(cbuf)),
		    "limit", 0, 0, lo, hi);
		IT_CHECK(strstr(l, " upstream=- ") != NULL);
	}
	alog_free(&a);
	ks_stats(&k, &st);
	IT_EQ(st.refused, 3);
	peer_close(cl, held);
	ks_wait_active(&k, 0, &st);
	ks_stop(&k);
	check_log_lines(&k, lo, wall_ms());
	IT_CHECK(ks_has_line(&k, "\"limit\":3", NULL, NULL));
	ks_free_log(&k);
	it_log("3 limit lines right");
	peer_free(cl);
	peer_free(up);
}

/* Run python3 -c prog args...; its exit status. */
static int
python(const char *prog, const char *a1, const char *a2)
{
	const char *argv[] = { "python3", "-c", prog, a1, a2, NULL };
	pid_t pid;
	int r, status;

	r = posix_spawnp(&pid, "python3", NULL, NULL, (char *const *)argv,
	    environ);
	IT_CHECKF(r == 0, "python3: %s (scripts/deps.sh installs it)",
	    strerror(r));
	IT_CHECK(waitpid(pid, &status, 0) == pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static const char check_log_py[] =
"import json, re, sys\n"
"stamp = re.compile(r'^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z$')\n"
"n = 0\n"
"for line in open(sys.argv[1], encoding='utf-8'):\n"
"    o = json.loads(line)\n"
"    assert stamp.match(o['time']), line\n"
"    if o.get('msg') == 'stats':\n"
"        assert isinstance(o['ends'], dict) and 'client_fin' in o['ends'], line\n"
"        continue\n"
"    assert o['level'] in ('error', 'warning', 'notice', 'info'), line\n"
"    assert isinstance(o['msg'], str), line\n"
"    if 'conn' in o:\n"
"        assert isinstance(o['conn'], int), line\n"
"        assert o.get('upstream') == sys.argv[2], line\n"
"        n += 1\n"
"    if o['msg'].startswith('listening on '):\n"
"        assert sys.argv[2] in o['msg'], line\n"
"assert n >= 2, n\n";

static const char check_alog_py[] =
"import json, sys\n"
"lines = open(sys.argv[1], encoding='utf-8').read().splitlines()\n"
"assert len(lines) == 2, lines\n"
"for line in lines:\n"
"    o = json.loads(line)\n"
"    for k in ('time', 'conn', 'client', 'listen', 'upstream', "
"'duration_ms', 'bytes_up', 'bytes_down', 'end', 'mirrors'):\n"
"        assert k in o, (k, line)\n"
"    assert o['upstream'] == sys.argv[2], line\n"
"    assert o['end'] == 'client_fin', line\n"
"    assert o['bytes_up'] == 3000 and o['bytes_down'] == 3000, line\n"
"    assert o['mirrors'] == [], line\n";

static void
logs_json(void)
{
	struct peer *up, *cl;
	struct pbehav b;
	struct alog a;
	struct it_stats st;
	struct ks k;
	char path[300], logp[300], upspec[300];
	uint64_t lo = wall_ms();
	unsigned i;
	FILE *f;

	/* A path with a quote and a backslash: JSON must escape both. */
	snprintf(upspec, sizeof(upspec), "unix:%s/up\"st\\ream", it_dir);
	up = peer_listen("upstream", upspec, &echo_b);
	alog_path(path, sizeof(path), "json.log");
	{
		const char *extra[] = { "--log-format", "json", "-v",
		    "tcp:127.0.0.1:0", upspec, NULL };

		start(&k, path, extra);
	}
	cl = peer_client("client");
	memset(&b, 0, sizeof(b));
	b.read = true;
	b.send = 3000;
	b.fin = true;
	for (i = 0; i < 2; i++)
		peer_connect(cl, &k.listen, &b);
	PEER_WAIT(cl, cl->ndone == 2, 30);
	alog_wait(path, 2, &a);
	alog_free(&a);
	ks_wait_active(&k, 0, &st);
	ks_stop(&k);
	/* Time stamps are checked by python's pattern; here the window. */
	{
		const char *p;

		pthread_mutex_lock(&k.mu);
		for (p = k.log; (p = strstr(p, "{\"time\":\"")) != NULL; p++)
			check_stamp(p + 9, lo, wall_ms(), "JSON log line");
		pthread_mutex_unlock(&k.mu);
	}
	alog_path(logp, sizeof(logp), "stderr.json");
	f = fopen(logp, "w");
	IT_CHECK(f != NULL);
	fputs(k.log, f);
	fclose(f);
	ks_free_log(&k);
	IT_CHECKF(python(check_log_py, logp, upspec) == 0,
	    "stderr: not every line is a JSON log object (see above)");
	IT_CHECKF(python(check_alog_py, path, upspec) == 0,
	    "access log: not every line is the JSON object expected");
	it_log("every log and access-log line is JSON with its fields");
	peer_free(cl);
	peer_free(up);
}

static void
logs_reopen(void)
{
	struct peer *up, *cl;
	struct pbehav b;
	struct alog a1, a2;
	struct it_stats st;
	struct ks k;
	char path[300], old[300];
	unsigned i, total = IT_SCALE(300, 100);
	uint64_t t0;

	up = peer_listen("upstream", "tcp:127.0.0.1:0", &echo_b);
	alog_path(path, sizeof(path), "rot.log");
	alog_path(old, sizeof(old), "rot.log.1");
	{
		const char *extra[] = { "-j", "2", "tcp:127.0.0.1:0",
		    up->addr.text, NULL };

		start(&k, path, extra);
	}
	cl = peer_client("client");
	memset(&b, 0, sizeof(b));
	b.read = true;
	b.send = 100;
	b.fin = true;
	/* Connections end all along; the rotation comes in the middle. */
	t0 = it_now_ns();
	for (i = 0; i < total; i++) {
		peer_connect(cl, &k.listen, &b);
		if (i == total / 2) {
			IT_CHECK(rename(path, old) == 0);
			ks_kill(&k, SIGUSR2);
		}
		if (i % 20 == 19)
			PEER_WAIT(cl, cl->ndone + 10 >= i, 30);
	}
	PEER_WAIT(cl, cl->ndone == total, 60);
	ks_wait_active(&k, 0, &st);
	ks_wait_line(&k, "access log");
	alog_read(old, &a1);
	alog_read(path, &a2);
	IT_CHECKF(a1.n + a2.n == total, "%u + %u lines, not %u", a1.n, a2.n,
	    total);
	IT_GT(a1.n, 0);
	IT_GT(a2.n, 0);
	IT_EQ(alog_count(&a1, "client_fin") + alog_count(&a2, "client_fin"),
	    total);
	it_log("%u lines before the reopen, %u after (%.2f s)", a1.n, a2.n,
	    (double)(it_now_ns() - t0) / 1e9);
	alog_free(&a1);
	alog_free(&a2);
	IT_CHECK(ks_has_line(&k, "notice kcsplice: access log ", path,
	    "reopened"));

	/* A reopen that fails (the path is now a directory) keeps the old. */
	IT_CHECK(rename(path, old) == 0);
	IT_CHECK(mkdir(path, 0700) == 0);
	ks_kill(&k, SIGUSR2);
	ks_wait_line(&k, "cannot reopen");
	IT_CHECK(ks_has_line(&k, "error kcsplice: access log ", path,
	    "cannot reopen"));
	peer_connect(cl, &k.listen, &b);
	PEER_WAIT(cl, cl->ndone == total + 1, 30);
	alog_wait(old, a2.n + 1, &a1);
	alog_free(&a1);
	IT_CHECK(rmdir(path) == 0);
	ks_stop(&k);
	ks_free_log(&k);
	it_log("a failed reopen is logged and the old file kept");
	peer_free(cl);
	peer_free(up);
}

/* Shown lines plus what they say was suppressed. */
static unsigned
refused_told(struct ks *k)
{
	const char *p, *nl;
	unsigned n = 0;

	pthread_mutex_lock(&k->mu);
	for (p = k->log; p != NULL && (nl = strchr(p, '\n')) != NULL;
	    p = nl + 1) {
		const char *q;
		unsigned x;

		if ((q = strstr(p, "kcsplice: refused ")) != NULL && q < nl) {
			n++;
			if ((q = strstr(p, "(and ")) != NULL && q < nl &&
			    sscanf(q, "(and %u more like it)", &x) == 1)
				n += x;
		} else if ((q = strstr(p, "kcsplice: ")) != NULL && q < nl &&
		    sscanf(q, "kcsplice: %u more refused message", &x) == 1) {
			n += x;
		}
	}
	pthread_mutex_unlock(&k->mu);
	return n;
}

static void
logs_ratelimit(void)
{
	struct peer *up, *cl;
	struct pconn *held;
	struct pbehav b;
	struct alog a;
	struct it_stats st;
	struct ks k;
	char path[300];
	unsigned i, burst = 60;
	uint64_t deadline;

	up = peer_listen("upstream", "tcp:127.0.0.1:0", &echo_b);
	alog_path(path, sizeof(path), "burst.log");
	{
		const char *extra[] = { "--max-conns", "1", "tcp:127.0.0.1:0",
		    up->addr.text, NULL };

		start(&k, path, extra);
	}
	cl = peer_client("client");
	memset(&b, 0, sizeof(b));
	b.read = true;
	b.send = 10;
	b.keep = true;
	held = peer_connect(cl, &k.listen, &b);
	PEER_WAIT(cl, held->rx == 10, 30);
	memset(&b, 0, sizeof(b));
	b.read = true;
	for (i = 0; i < burst; i++)
		peer_connect(cl, &k.listen, &b);
	PEER_WAIT(cl, cl->ndone == burst, 30);
	/* The access log is never rate-limited. */
	alog_wait(path, burst, &a);
	IT_EQ(alog_count(&a, "limit"), burst);
	alog_free(&a);
	/* Shown and suppressed add up, once the summary came (bounded). */
	deadline = it_now_ns() + (uint64_t)(it_limit(10) * 1e9);
	while (refused_told(&k) < burst && it_now_ns() < deadline)
		it_sleep_ms(50);
	IT_EQ(refused_told(&k), burst);
	IT_LT(ks_count(&k, "kcsplice: refused "), burst);
	ks_stats(&k, &st);
	IT_EQ(st.refused, burst);
	peer_close(cl, held);
	ks_wait_active(&k, 0, &st);
	ks_stop(&k);
	it_log("%u refused: %u lines shown, the rest counted",
	    burst, ks_count(&k, "kcsplice: refused "));
	ks_free_log(&k);
	peer_free(cl);
	peer_free(up);
}

static const struct it_case cases[] = {
	{ "logs-client", logs_client },
	{ "logs-upstream", logs_upstream },
	{ "logs-connect", logs_connect },
	{ "logs-timeouts", logs_timeouts },
	{ "logs-drain", logs_drain },
	{ "logs-limit", logs_limit },
	{ "logs-json", logs_json },
	{ "logs-reopen", logs_reopen },
	{ "logs-ratelimit", logs_ratelimit },
};

int
main(int argc, char **argv)
{
	return it_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
