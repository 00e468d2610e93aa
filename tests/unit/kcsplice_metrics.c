/*
 * unit-kcsplice_metrics: kcsplice's metrics endpoint without sockets.
 *   The HTTP request parser (tools/kcsplice/http.h): request lines and
 *   header fields good and bad (methods, targets in origin and absolute
 *   form, versions, CR LF and bare LF, CR alone, control bytes, obs-fold,
 *   a space before the colon, Host missing or repeated, bodies refused),
 *   Accept negotiation (Prometheus's own header, q values, versions,
 *   quoted commas, malformed ranges skipped), a request arriving one byte
 *   at a time, and the bounds (KS_HTTP_MAX bytes exactly, one more, too
 *   many fields).  The answers (404, 405 with Allow, HEAD without a body,
 *   Content-Length right).  The exposition (metrics.h) of a snapshot with
 *   every value different: every sample's family has HELP and TYPE first,
 *   counters end in _total, the values are the snapshot's, label values
 *   escaped, OpenMetrics names counter families without _total and ends
 *   with "# EOF", a short buffer gives -ENOSPC.
 *
 *   unit-kcsplice_metrics --print [om] writes that snapshot's exposition
 *   on stdout, for promtool (tests/unit/CMakeLists.txt).
 */
#include "kctest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "metrics.h"

/* Parse a NUL-terminated request; the result. */
static int
parse(const char *s, struct ks_http_req *r)
{
	return ks_http_parse(s, strlen(s), r);
}

static void
expect(const char *s, int want)
{
	struct ks_http_req r;
	int got = parse(s, &r);

	if (got != want)
		kct_fail(__FILE__, __LINE__, "ks_http_parse(\"%s\") gave %d, "
		    "not %d", s, got, want);
}

/* A whole request: its method, path, version and format. */
static void
expect_req(const char *s, enum ks_http_method m, const char *path,
    unsigned minor, bool om)
{
	struct ks_http_req r;
	int got = parse(s, &r);

	if (got != KS_HTTP_DONE)
		kct_fail(__FILE__, __LINE__, "ks_http_parse(\"%s\") gave %d", s,
		    got);
	KC_CHECK_EQ(r.method, m);
	KC_CHECK_EQ(r.path_len, strlen(path));
	KC_CHECK(memcmp(s + r.path_off, path, r.path_len) == 0);
	KC_CHECK_EQ(r.minor, minor);
	if (r.openmetrics != om)
		kct_fail(__FILE__, __LINE__, "\"%s\": openmetrics %d", s,
		    r.openmetrics);
	KC_CHECK_EQ(r.len, strlen(s));
}

#define H	"Host: x\r\n"

static void
test_request_line(void)
{
	expect_req("GET /metrics HTTP/1.1\r\n" H "\r\n", KS_HTTP_GET,
	    "/metrics", 1, false);
	expect_req("HEAD /metrics HTTP/1.1\r\n" H "\r\n", KS_HTTP_HEAD,
	    "/metrics", 1, false);
	expect_req("GET /metrics HTTP/1.0\r\n\r\n", KS_HTTP_GET, "/metrics", 0,
	    false);
	expect_req("POST /metrics HTTP/1.1\r\n" H "\r\n", KS_HTTP_OTHER,
	    "/metrics", 1, false);
	expect_req("get /metrics HTTP/1.1\r\n" H "\r\n", KS_HTTP_OTHER,
	    "/metrics", 1, false);	/* methods are case-sensitive */
	expect_req("OPTIONS * HTTP/1.1\r\n" H "\r\n", KS_HTTP_OTHER, "*", 1,
	    false);
	expect_req("GET /metrics?x=1&y HTTP/1.1\r\n" H "\r\n", KS_HTTP_GET,
	    "/metrics", 1, false);
	expect_req("GET http://127.0.0.1:9100/metrics HTTP/1.1\r\n" H "\r\n",
	    KS_HTTP_GET, "/metrics", 1, false);
	expect_req("GET HTTPS://h/metrics?q HTTP/1.1\r\n" H "\r\n",
	    KS_HTTP_GET, "/metrics", 1, false);
	expect_req("GET http://h HTTP/1.1\r\n" H "\r\n", KS_HTTP_GET, "", 1,
	    false);
	expect_req("GET / HTTP/1.1\r\n" H "\r\n", KS_HTTP_GET, "/", 1, false);
	/* Empty lines before the request line; bare LF endings. */
	expect_req("\r\n\r\nGET /metrics HTTP/1.1\r\n" H "\r\n", KS_HTTP_GET,
	    "/metrics", 1, false);
	expect_req("GET /metrics HTTP/1.1\nHost: x\n\n", KS_HTTP_GET,
	    "/metrics", 1, false);

	expect("GET  /metrics HTTP/1.1\r\n" H "\r\n", 400);
	expect("GET /metrics  HTTP/1.1\r\n" H "\r\n", 400);
	expect("GET /metrics HTTP/1.1 \r\n" H "\r\n", 400);
	expect(" GET /metrics HTTP/1.1\r\n" H "\r\n", 400);
	expect("GET\t/metrics HTTP/1.1\r\n" H "\r\n", 400);
	expect("GET /metrics\r\n" H "\r\n", 400);	/* HTTP/0.9 */
	expect("GET /metrics http/1.1\r\n" H "\r\n", 400);
	expect("GET /metrics HTTP/1.10\r\n" H "\r\n", 400);
	expect("GET /metrics HTTP/1\r\n" H "\r\n", 400);
	expect("GET /metrics HTTP/2.0\r\n" H "\r\n", 505);
	expect("GET /metrics HTTP/1.2\r\n" H "\r\n", 505);
	expect("GET /metrics HTTP/0.9\r\n" H "\r\n", 505);
	expect("GET metrics HTTP/1.1\r\n" H "\r\n", 400);
	expect("GET * HTTP/1.1\r\n" H "\r\n", 400);
	expect("GET /met#rics HTTP/1.1\r\n" H "\r\n", 400);
	expect("GET /m\x80 HTTP/1.1\r\n" H "\r\n", 400);
	expect("G(T /metrics HTTP/1.1\r\n" H "\r\n", 400);
	expect("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505);
	/* A control byte or a CR alone: at once, before the rest. */
	expect("GET /metrics HTTP/1.1\r\n\x01", 400);
	{
		struct ks_http_req r;

		KC_CHECK_EQ(ks_http_parse("GE\0T", 4, &r), 400);
		KC_CHECK_EQ(ks_http_parse("GET / HTTP/1.1\r\nHost: \0", 24,
		    &r), 400);
	}
	expect("GET /metrics HTTP/1.1\rX", 400);
	expect("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400); /* TLS */
	expect("GET /metrics HTTP/1.1\r\n\x7f", 400);
}

static void
test_fields(void)
{
	expect_req("GET /metrics HTTP/1.1\r\nHost:x\r\nX-A:  b c \t\r\n"
	    "Connection: close\r\nUser-Agent: \xc3\xa9\r\n\r\n", KS_HTTP_GET,
	    "/metrics", 1, false);
	expect_req("GET /metrics HTTP/1.1\r\nHost:\r\n\r\n", KS_HTTP_GET,
	    "/metrics", 1, false);
	expect_req("GET /metrics HTTP/1.1\r\n" H "Content-Length: 0\r\n"
	    "content-length: 00\r\n\r\n", KS_HTTP_GET, "/metrics", 1, false);
	expect("GET /metrics HTTP/1.1\r\n\r\n", 400);		/* no Host */
	expect("GET /metrics HTTP/1.1\r\n" H "HOST: y\r\n\r\n", 400);
	expect("GET /metrics HTTP/1.0\r\n" H H "\r\n", 400);
	expect("GET /metrics HTTP/1.1\r\nHost : x\r\n\r\n", 400);
	expect("GET /metrics HTTP/1.1\r\n" H " folded\r\n\r\n", 400);
	expect("GET /metrics HTTP/1.1\r\n" H "\tfolded\r\n\r\n", 400);
	expect("GET /metrics HTTP/1.1\r\n" H ": x\r\n\r\n", 400);
	expect("GET /metrics HTTP/1.1\r\n" H "X\r\n\r\n", 400);
	expect("GET /metrics HTTP/1.1\r\n" H "X-(: 1\r\n\r\n", 400);
	expect("GET /metrics HTTP/1.1\r\n" H "X: a\x01\r\n\r\n", 400);
	expect("GET /metrics HTTP/1.1\r\n" H "Content-Length: 5\r\n\r\nhello",
	    413);
	expect("GET /metrics HTTP/1.1\r\n" H "Content-Length: "
	    "99999999999999999999999999\r\n\r\n", 413);
	expect("GET /metrics HTTP/1.1\r\n" H "Content-Length: -1\r\n\r\n", 400);
	expect("GET /metrics HTTP/1.1\r\n" H "Content-Length:\r\n\r\n", 400);
	expect("GET /metrics HTTP/1.1\r\n" H "Content-Length: 1, 1\r\n\r\n",
	    400);
	expect("GET /metrics HTTP/1.1\r\n" H "Content-Length: 0\r\n"
	    "Content-Length: 1\r\n\r\n", 400);
	expect("GET /metrics HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n"
	    "\r\n0\r\n\r\n", 501);
	expect("GET /metrics HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n"
	    "Content-Length: 0\r\n\r\n", 400);
}

static void
test_accept(void)
{
	/* Prometheus 2's own. */
	expect_req("GET /metrics HTTP/1.1\r\n" H "Accept: application/"
	    "openmetrics-text;version=1.0.0,application/openmetrics-text;"
	    "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
	    "\r\n\r\n", KS_HTTP_GET, "/metrics", 1, true);
	expect_req("GET /metrics HTTP/1.1\r\n" H "Accept: text/plain;"
	    "version=0.0.4;q=0.9,application/openmetrics-text;q=0.5\r\n\r\n",
	    KS_HTTP_GET, "/metrics", 1, false);
	expect_req("GET /metrics HTTP/1.1\r\n" H "Accept: Application/"
	    "OpenMetrics-Text\r\n\r\n", KS_HTTP_GET, "/metrics", 1, true);
	expect_req("GET /metrics HTTP/1.1\r\n" H "Accept: */*\r\n\r\n",
	    KS_HTTP_GET, "/metrics", 1, false);
	expect_req("GET /metrics HTTP/1.1\r\n" H "Accept: application/"
	    "openmetrics-text;q=0\r\n\r\n", KS_HTTP_GET, "/metrics", 1, false);
	expect_req("GET /metrics HTTP/1.1\r\n" H "Accept: application/"
	    "openmetrics-text;version=0.0.1\r\n\r\n", KS_HTTP_GET, "/metrics",
	    1, false);
	/* Equal q: OpenMetrics. */
	expect_req("GET /metrics HTTP/1.1\r\n" H "Accept: text/plain;q=0.5, "
	    "application/openmetrics-text;q=0.500\r\n\r\n", KS_HTTP_GET,
	    "/metrics", 1, true);
	/* Two Accept fields count together. */
	expect_req("GET /metrics HTTP/1.1\r\n" H "Accept: text/plain;q=0.2\r\n"
	    "Accept: application/openmetrics-text;q=0.3\r\n\r\n", KS_HTTP_GET,
	    "/metrics", 1, true);
	/* A quoted comma; malformed ranges and q values are skipped. */
	expect_req("GET /metrics HTTP/1.1\r\n" H "Accept: text/plain;x=\"a,"
	    "b\";q=0.1, application/openmetrics-text\r\n\r\n", KS_HTTP_GET,
	    "/metrics", 1, true);
	expect_req("GET /metrics HTTP/1.1\r\n" H "Accept: application/"
	    "openmetrics-text;q=2\r\n\r\n", KS_HTTP_GET, "/metrics", 1, false);
	expect_req("GET /metrics HTTP/1.1\r\n" H "Accept: application/"
	    "openmetrics-text;q=0.1234\r\n\r\n", KS_HTTP_GET, "/metrics", 1,
	    false);
	expect_req("GET /metrics HTTP/1.1\r\n" H "Accept: application/"
	    "openmetrics-text junk, text/plain\r\n\r\n", KS_HTTP_GET,
	    "/metrics", 1, false);
	expect_req("GET /metrics HTTP/1.1\r\n" H "Accept: ,,;/,\"\r\n\r\n",
	    KS_HTTP_GET, "/metrics", 1, false);
	expect_req("GET /metrics HTTP/1.1\r\n" H "Accept: application/"
	    "openmetrics-text;x=\"unterminated\r\n\r\n", KS_HTTP_GET,
	    "/metrics", 1, false);
}

static void
test_bounds(void)
{
	static const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n"
	    "Accept: application/openmetrics-text\r\n\r\n";
	struct ks_http_req r;
	char *big;
	size_t i, n;

	/* One byte at a time: more, more, ..., done at the last. */
	for (i = 0; i < sizeof(req) - 1; i++) {
		n = (size_t)ks_http_parse(req, i, &r);
		if (n != KS_HTTP_MORE)
			kct_fail(__FILE__, __LINE__, "%zu bytes gave %zu", i, n);
		KC_CHECK_EQ(r.len, 0);
	}
	KC_CHECK_EQ(ks_http_parse(req, sizeof(req) - 1, &r), KS_HTTP_DONE);
	KC_CHECK(r.openmetrics);
	KC_CHECK_EQ(ks_http_parse(NULL, 0, &r), KS_HTTP_MORE);
	KC_CHECK_EQ(ks_http_parse(NULL, 1, &r), 400);
	KC_CHECK_EQ(ks_http_parse("", 0, NULL), 400);

	/* Exactly KS_HTTP_MAX bytes: taken; with one more byte of field: 431. */
	big = malloc(KS_HTTP_MAX + 64);
	KC_CHECK(big != NULL);
	n = (size_t)snprintf(big, KS_HTTP_MAX, "GET /metrics HTTP/1.1\r\n"
	    "Host: x\r\nX: ");
	memset(big + n, 'a', KS_HTTP_MAX - n - 4);
	memcpy(big + KS_HTTP_MAX - 4, "\r\n\r\n", 4);
	KC_CHECK_EQ(ks_http_parse(big, KS_HTTP_MAX, &r), KS_HTTP_DONE);
	KC_CHECK_EQ(r.len, KS_HTTP_MAX);
	/* More bytes after the request are not looked at. */
	memset(big + KS_HTTP_MAX, 0, 64);
	KC_CHECK_EQ(ks_http_parse(big, KS_HTTP_MAX + 64, &r), KS_HTTP_DONE);
	memset(big + n, 'a', KS_HTTP_MAX - n - 3);
	memcpy(big + KS_HTTP_MAX - 3, "\r\n\r\n", 4);
	KC_CHECK_EQ(ks_http_parse(big, KS_HTTP_MAX - 1, &r), KS_HTTP_MORE);
	KC_CHECK_EQ(ks_http_parse(big, KS_HTTP_MAX, &r), 431);
	KC_CHECK_EQ(ks_http_parse(big, KS_HTTP_MAX + 1, &r), 431);
	KC_CHECK_EQ(r.len, 0);
	/* A request line alone past the bound. */
	memcpy(big, "GET /", 5);
	memset(big + 5, 'a', KS_HTTP_MAX + 10);
	KC_CHECK_EQ(ks_http_parse(big, KS_HTTP_MAX + 10, &r), 431);
	/* Empty lines for ever. */
	for (i = 0; i < KS_HTTP_MAX; i += 2)
		memcpy(big + i, "\r\n", 2);
	KC_CHECK_EQ(ks_http_parse(big, KS_HTTP_MAX - 2, &r), KS_HTTP_MORE);
	KC_CHECK_EQ(ks_http_parse(big, KS_HTTP_MAX, &r), 431);
	/* KS_HTTP_FIELDS fields: taken; one more: 431. */
	n = (size_t)sprintf(big, "GET /metrics HTTP/1.1\r\n" H);
	for (i = 1; i < KS_HTTP_FIELDS; i++)
		n += (size_t)sprintf(big + n, "X-%zu: y\r\n", i);
	memcpy(big + n, "\r\n", 2);
	KC_CHECK_EQ(ks_http_parse(big, n + 2, &r), KS_HTTP_DONE);
	memcpy(big + n, "Y: z\r\n\r\n", 8);
	KC_CHECK_EQ(ks_http_parse(big, n + 8, &r), 431);
	free(big);
}

/* A snapshot with every value its own, and names that need escaping. */
static void
fill(struct ks_snapshot *s)
{
	unsigned i;

	memset(s, 0, sizeof(*s));
	s->conns = 1001;
	s->active = 1002;
	s->refused = 1003;
	s->denied = 1004;
	for (i = 0; i < KS_ERR_N; i++) {
		s->err_kind[i] = 1100 + i;
		s->errors += s->err_kind[i];
	}
	s->accept_errors = 1005;
	for (i = 0; i < KS_END_N; i++)
		s->ends[i] = 1200 + i;
	s->ends_known = true;
	s->udp_active = 1301;
	s->udp_opened = 1302;
	s->udp_expired = 1303;
	s->udp_refused = 1304;
	s->udp_denied = 1305;
	s->bytes.spliced[KC_SPLICE_FWD] = 1401;
	s->bytes.spliced[KC_SPLICE_REV] = 1402;
	s->bytes.copied[KC_SPLICE_FWD] = 1403;
	s->bytes.copied[KC_SPLICE_REV] = 1404;
	s->bytes.mirrored = 1405;
	s->bytes.mirror_dropped = 1406;
	s->bytes.mirror_detached = 1407;
	s->bytes.pipe_fallbacks = 1408;
	s->bytes.datagrams[0] = 1409;
	s->bytes.datagrams[1] = 1410;
	s->bytes.dgram_dropped = 1411;
	s->nmirrors = 2;
	s->mirror_text[0] = "tcp:127.0.0.1:6380";
	s->mirror_text[1] = "unix:/tmp/a\"b\\c";
	s->mirror_each[0] = 1501;
	s->mirror_each[1] = 1502;
	s->mirror_each_known = true;
	s->nmirror_ended = 2;
	s->mirror_ended[0].addr = "tcp:127.0.0.1:6380";
	s->mirror_ended[0].written = 1701;
	s->mirror_ended[0].dropped = 1702;
	s->mirror_ended[0].detached = 1703;
	s->mirror_ended[1].addr = "tcp:127.0.0.1:6381";
	s->mirror_ended[1].written = 1704;
	s->mirror_ended[1].dropped = 1705;
	s->mirror_ended[1].detached = 1706;
	s->compare = true;
	s->compare_held = 1901;
	s->mirror_ended[0].compare[0] = 1902;
	s->mirror_ended[1].compare[1] = 1903;
	s->mirror_ended[1].compare[2] = 1904;
	s->mirror_mem.held = 1601;
	s->mirror_mem.peak = 1602;
	s->mirror_mem.cap = 1603;
	s->nthreads = 3;
	for (i = 0; i < 3; i++) {
		s->pipes[i].lent = 1700 + i;
		s->pipes[i].idle = 1710 + i;
		s->pipes[i].created = 1720 + i;
	}
	s->fds = 1801;
	s->max_fds = 1802;
	s->start_ms = 1796581032599ull;
	s->version = "0.1.0";
}

static void
snap_fill(struct ks_snapshot *s)
{
	fill(s);
}

static unsigned snaps;

static void
snap_count(struct ks_snapshot *s)
{
	snaps++;
	fill(s);
}

/* A line "name{labels} value" or "name value" is in text. */
static void
has(const char *text, const char *line)
{
	char want[512];
	const char *p;

	snprintf(want, sizeof(want), "\n%s\n", line);
	p = strstr(text, want);
	if (p == NULL)
		kct_fail(__FILE__, __LINE__, "no line \"%s\"", line);
}

/*
 * Every sample line's family (its name, less _total for an OpenMetrics
 * counter, less _info for an info) has HELP and TYPE before it; counters'
 * samples end in _total and nothing else does.
 */
static void
check_families(const char *text, bool om)
{
	char fam[128], type[32], want[256];
	const char *line, *nl, *sp, *tp;
	size_t n;

	for (line = text; *line != '\0'; line = nl + 1) {
		nl = strchr(line, '\n');
		KC_CHECK(nl != NULL);
		if (line[0] == '#')
			continue;
		n = strcspn(line, "{ ");
		KC_CHECK(n > 0 && n < sizeof(fam));
		memcpy(fam, line, n);
		fam[n] = '\0';
		/* Find its TYPE, with or without the suffix. */
		for (sp = NULL;;) {
			snprintf(want, sizeof(want), "# TYPE %s ", fam);
			if ((sp = strstr(text, want)) != NULL && sp < line)
				break;
			n = strlen(fam);
			if (om && n > 6 && strcmp(fam + n - 6, "_total") == 0)
				fam[n - 6] = '\0';
			else if (om && n > 5 && strcmp(fam + n - 5, "_info") == 0)
				fam[n - 5] = '\0';
			else
				kct_fail(__FILE__, __LINE__, "no TYPE before "
				    "\"%.*s\"", (int)(nl - line), line);
		}
		tp = sp + strlen(want);
		n = strcspn(tp, "\n");
		KC_CHECK(n < sizeof(type));
		memcpy(type, tp, n);
		type[n] = '\0';
		snprintf(want, sizeof(want), "# HELP %s ", fam);
		KC_CHECK(strstr(text, want) != NULL && strstr(text, want) < sp);
		n = strcspn(line, "{ ");
		if (strcmp(type, "counter") == 0)
			KC_CHECK(n > 6 && memcmp(line + n - 6, "_total", 6) == 0);
		else
			KC_CHECK(!(n > 6 &&
			    memcmp(line + n - 6, "_total", 6) == 0));
		if (om)
			KC_CHECK(strcmp(type, "counter") == 0 ||
			    strcmp(type, "gauge") == 0 ||
			    strcmp(type, "info") == 0);
		else
			KC_CHECK(strcmp(type, "counter") == 0 ||
			    strcmp(type, "gauge") == 0);
	}
}

static void
test_render(void)
{
	struct ks_snapshot s;
	char *buf = malloc(KS_METRICS_BODY_MAX);
	int n, m;

	KC_CHECK(buf != NULL);
	fill(&s);
	n = ks_metrics_render(&s, false, buf + 1, KS_METRICS_BODY_MAX - 1);
	buf[0] = '\n';
	KC_CHECK_GT(n, 1000);
	KC_CHECK_EQ((size_t)n, strlen(buf + 1));
	check_families(buf + 1, false);
	KC_CHECK(strstr(buf, "# EOF") == NULL);
	has(buf, "# TYPE kcsplice_connections_total counter");
	has(buf, "kcsplice_connections_total 1001");
	has(buf, "kcsplice_connections_active 1002");
	has(buf, "kcsplice_connections_refused_total 1003");
	has(buf, "kcsplice_connections_denied_total 1004");
	has(buf, "kcsplice_connections_ended_total{reason=\"client_fin\"} 1200");
	has(buf, "kcsplice_connections_ended_total{reason=\"error\"} 1210");
	has(buf, "kcsplice_errors_total{kind=\"refused\"} 1100");
	has(buf, "kcsplice_errors_total{kind=\"other\"} 1105");
	has(buf, "kcsplice_accept_errors_total 1005");
	has(buf, "kcsplice_bytes_total{direction=\"client_to_upstream\","
	    "mode=\"spliced\"} 1401");
	has(buf, "kcsplice_bytes_total{direction=\"upstream_to_client\","
	    "mode=\"spliced\"} 1402");
	has(buf, "kcsplice_bytes_total{direction=\"client_to_upstream\","
	    "mode=\"copied\"} 1403");
	has(buf, "kcsplice_bytes_total{direction=\"upstream_to_client\","
	    "mode=\"copied\"} 1404");
	has(buf, "kcsplice_datagrams_total{direction=\"upstream_to_client\"} "
	    "1410");
	has(buf, "kcsplice_datagrams_dropped_total 1411");
	has(buf, "kcsplice_mirror_bytes_total 1405");
	has(buf, "kcsplice_per_mirror_bytes_total{mirror=\"tcp:127.0.0.1:6380\"}"
	    " 1501");
	has(buf, "kcsplice_per_mirror_bytes_total{mirror=\"unix:/tmp/a\\\"b"
	    "\\\\c\"} 1502");
	has(buf, "kcsplice_mirror_dropped_bytes_total 1406");
	has(buf, "kcsplice_mirror_detached_total 1407");
	has(buf, "kcsplice_mirror_held_bytes 1601");
	has(buf, "kcsplice_compare_total{mirror=\"tcp:127.0.0.1:6380\","
	    "result=\"matched\"} 1902");
	has(buf, "kcsplice_compare_total{mirror=\"tcp:127.0.0.1:6381\","
	    "result=\"diverged\"} 1903");
	has(buf, "kcsplice_compare_total{mirror=\"tcp:127.0.0.1:6381\","
	    "result=\"not_compared\"} 1904");
	has(buf, "kcsplice_compare_held_bytes 1901");
	has(buf, "kcsplice_mirror_held_peak_bytes 1602");
	has(buf, "kcsplice_mirror_cap_bytes 1603");
	has(buf, "kcsplice_udp_sessions_active 1301");
	has(buf, "kcsplice_udp_sessions_opened_total 1302");
	has(buf, "kcsplice_udp_sessions_expired_total 1303");
	has(buf, "kcsplice_udp_sessions_refused_total 1304");
	has(buf, "kcsplice_udp_sessions_denied_total 1305");
	has(buf, "kcsplice_pipe_fallbacks_total 1408");
	has(buf, "kcsplice_pipes{thread=\"2\",state=\"lent\"} 1702");
	has(buf, "kcsplice_pipes{thread=\"0\",state=\"idle\"} 1710");
	has(buf, "kcsplice_pipes_created_total{thread=\"1\"} 1721");
	has(buf, "process_open_fds 1801");
	has(buf, "process_max_fds 1802");
	has(buf, "process_start_time_seconds 1796581032.599");
	has(buf, "# TYPE kcsplice_build_info gauge");
	has(buf, "kcsplice_build_info{version=\"0.1.0\"} 1");

	/* Unknown ends and per-mirror counts: those families left out. */
	s.ends_known = false;
	s.mirror_each_known = false;
	m = ks_metrics_render(&s, false, buf + 1, KS_METRICS_BODY_MAX - 1);
	KC_CHECK_GT(m, 0);
	KC_CHECK_LT(m, n);
	KC_CHECK(strstr(buf, "kcsplice_connections_ended") == NULL);
	KC_CHECK(strstr(buf, "kcsplice_per_mirror") == NULL);
	check_families(buf + 1, false);

	/* OpenMetrics. */
	fill(&s);
	n = ks_metrics_render(&s, true, buf + 1, KS_METRICS_BODY_MAX - 1);
	KC_CHECK_GT(n, 1000);
	check_families(buf + 1, true);
	has(buf, "# TYPE kcsplice_connections counter");
	has(buf, "kcsplice_connections_total 1001");
	has(buf, "# TYPE kcsplice_connections_active gauge");
	has(buf, "# TYPE kcsplice_build info");
	has(buf, "kcsplice_build_info{version=\"0.1.0\"} 1");
	KC_CHECK(strcmp(buf + 1 + n - 6, "# EOF\n") == 0);
	KC_CHECK(strstr(buf, "# TYPE kcsplice_connections_total") == NULL);

	/* Too small: -ENOSPC and a NUL-terminated cut. */
	KC_CHECK_EQ(ks_metrics_render(&s, false, buf, 100), -ENOSPC);
	KC_CHECK_LT(strlen(buf), 100);
	KC_CHECK_EQ(ks_metrics_render(&s, false, buf, (size_t)m), -ENOSPC);
	KC_CHECK_EQ(ks_metrics_render(&s, false, buf, 0), -EINVAL);
	KC_CHECK_EQ(ks_metrics_render(NULL, false, buf, 10), -EINVAL);
	free(buf);

	KC_CHECK_EQ(ks_err_of(-ECONNREFUSED), KS_ERR_REFUSED);
	KC_CHECK_EQ(ks_err_of(-ETIMEDOUT), KS_ERR_TIMEOUT);
	KC_CHECK_EQ(ks_err_of(-ECONNRESET), KS_ERR_RESET);
	KC_CHECK_EQ(ks_err_of(-EPIPE), KS_ERR_RESET);
	KC_CHECK_EQ(ks_err_of(-ENOENT), KS_ERR_UNREACHABLE);
	KC_CHECK_EQ(ks_err_of(-EHOSTUNREACH), KS_ERR_UNREACHABLE);
	KC_CHECK_EQ(ks_err_of(-ENOMEM), KS_ERR_NOMEM);
	KC_CHECK_EQ(ks_err_of(-EIO), KS_ERR_OTHER);
	KC_CHECK(strcmp(ks_err_name(KS_ERR_N), "other") == 0);
}

/* The answer to in: its status; the response in *out (caller frees). */
static int
answer(const char *in, char **out, size_t *outlen)
{
	struct ks_http_req r;
	int p = parse(in, &r);

	KC_CHECK(p != KS_HTTP_MORE);
	return ks_metrics_answer(in, p == KS_HTTP_DONE ? &r : NULL, p,
	    snap_count, out, outlen);
}

static void
test_answer(void)
{
	char *out, *get;
	size_t len, getlen;
	const char *body;
	unsigned long cl;

	snaps = 0;
	KC_CHECK_EQ(answer("GET /metrics HTTP/1.1\r\n" H "\r\n", &get,
	    &getlen), 200);
	KC_CHECK_EQ(snaps, 1);
	KC_CHECK_EQ(strlen(get), getlen);
	KC_CHECK(strncmp(get, "HTTP/1.1 200 OK\r\n", 17) == 0);
	KC_CHECK(strstr(get, "\r\nContent-Type: " KS_METRICS_TEXT_TYPE
	    "\r\n") != NULL);
	KC_CHECK(strstr(get, "\r\nConnection: close\r\n") != NULL);
	body = strstr(get, "\r\n\r\n");
	KC_CHECK(body != NULL);
	body += 4;
	KC_CHECK(sscanf(strstr(get, "Content-Length: "), "Content-Length: %lu",
	    &cl) == 1);
	KC_CHECK_EQ(cl, strlen(body));
	KC_CHECK(strncmp(body, "# HELP ", 7) == 0);

	/* HEAD: the same header, no body. */
	KC_CHECK_EQ(answer("HEAD /metrics HTTP/1.0\r\n\r\n", &out, &len), 200);
	KC_CHECK_EQ(len, (size_t)(body - get));
	KC_CHECK(memcmp(out, get, len) == 0);
	free(out);
	free(get);

	KC_CHECK_EQ(answer("GET /metrics HTTP/1.1\r\n" H "Accept: application/"
	    "openmetrics-text; version=1.0.0\r\n\r\n", &out, &len), 200);
	KC_CHECK(strstr(out, "\r\nContent-Type: " KS_METRICS_OM_TYPE "\r\n") !=
	    NULL);
	KC_CHECK(strcmp(out + len - 6, "# EOF\n") == 0);
	free(out);

	snaps = 0;
	KC_CHECK_EQ(answer("GET /metric HTTP/1.1\r\n" H "\r\n", &out, &len),
	    404);
	KC_CHECK(strncmp(out, "HTTP/1.1 404 Not Found\r\n", 24) == 0);
	free(out);
	KC_CHECK_EQ(answer("GET /metrics/ HTTP/1.1\r\n" H "\r\n", &out, &len),
	    404);
	free(out);
	KC_CHECK_EQ(answer("HEAD / HTTP/1.1\r\n" H "\r\n", &out, &len), 404);
	KC_CHECK(strcmp(out + len - 4, "\r\n\r\n") == 0);	/* no body */
	free(out);
	KC_CHECK_EQ(answer("DELETE /metrics HTTP/1.1\r\n" H "\r\n", &out, &len),
	    405);
	KC_CHECK(strstr(out, "\r\nAllow: GET, HEAD\r\n") != NULL);
	free(out);
	KC_CHECK_EQ(answer("GET /metrics HTTP/1.1\r\n\r\n", &out, &len), 400);
	KC_CHECK(strncmp(out, "HTTP/1.1 400 Bad Request\r\n", 26) == 0);
	free(out);
	KC_CHECK_EQ(answer("GET /metrics HTTP/3.0\r\n\r\n", &out, &len), 505);
	free(out);
	KC_CHECK_EQ(snaps, 0);	/* only a scrape takes a snapshot */
	KC_CHECK_EQ(ks_metrics_answer("", NULL, 408, snap_count, &out, &len),
	    408);
	KC_CHECK(strncmp(out, "HTTP/1.1 408 Request Timeout\r\n", 30) == 0);
	free(out);
}

int
main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "--print") == 0) {
		struct ks_snapshot s;
		char *buf = malloc(KS_METRICS_BODY_MAX);
		int n;

		snap_fill(&s);
		n = buf == NULL ? -1 : ks_metrics_render(&s, argc > 2 &&
		    strcmp(argv[2], "om") == 0, buf, KS_METRICS_BODY_MAX);
		if (n < 0)
			return 1;
		fwrite(buf, 1, (size_t)n, stdout);
		free(buf);
		return 0;
	}
	kct_begin("unit-kcsplice_metrics", 60);
	test_request_line();
	test_fields();
	test_accept();
	test_bounds();
	test_render();
	test_answer();
	return kct_done();
}
