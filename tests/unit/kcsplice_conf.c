/*
 * unit-kcsplice_conf: kcsplice's command-line parser (tools/kcsplice/conf.h).
 *   defaults; every option in its long, long=, short and attached forms;
 *   good and bad values for each (numbers at their bounds, sizes and seconds
 *   at overflow); addresses (tcp, udp, unix, abstract, IPv6, localhost,
 *   port 0 for LISTEN only, too long, control characters) and their
 *   formatting back; CIDR parsing and matching (v4, v6, v4-mapped, /0, /32,
 *   /128, range boundaries); the udp/stream mixing rule; operand counts;
 *   --help and --version; --metrics (tcp or unix, loopback unless
 *   --metrics-public); the error message (one line, names the argument,
 *   truncated safely); and repeated calls that leak nothing between them.
 *   The configuration file (ks_conf_file(), ks_conf_read(), ks_conf_load()):
 *   NAME VALUE and NAME=VALUE, comments, blanks, CRLF, listen and upstream,
 *   lists that accumulate, the command line winning (its lists replacing
 *   the file's), errors as FILE:LINE:, and the bounds (line, size, NUL,
 *   files that are not regular).  --compare and --compare-window: off and
 *   1m by default, the window's bounds, a UDP LISTEN refused.
 */
#include "kctest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "conffile.h"

#define SEC	1000000000ull
#define MAXARGS	200

static char errbuf[512];

/* ks_conf_parse on "kcsplice" and the arguments up to NULL. */
static int
vparse(struct ks_conf *c, va_list ap)
{
	char *argv[MAXARGS + 1];
	int argc = 0;
	const char *a;

	argv[argc++] = (char *)"kcsplice";
	while ((a = va_arg(ap, const char *)) != NULL) {
		KC_CHECK(argc < MAXARGS);
		argv[argc++] = (char *)a;
	}
	argv[argc] = NULL;
	memset(errbuf, 'X', sizeof(errbuf));
	return ks_conf_parse(c, argc, argv, errbuf, sizeof(errbuf));
}

static int parse(struct ks_conf *c, ...) __attribute__((sentinel));

static int
parse(struct ks_conf *c, ...)
{
	va_list ap;
	int r;

	va_start(ap, c);
	r = vparse(c, ap);
	va_end(ap);
	if (r == 0)
		KC_CHECK_EQ(errbuf[0], '\0');
	return r;
}

/* Must succeed. */
static void ok(struct ks_conf *c, ...) __attribute__((sentinel));

static void
ok(struct ks_conf *c, ...)
{
	va_list ap;
	int r;

	va_start(ap, c);
	r = vparse(c, ap);
	va_end(ap);
	if (r != 0)
		kct_fail(__FILE__, __LINE__, "parse failed: %s", errbuf);
	KC_CHECK_EQ(errbuf[0], '\0');
}

/* The message is one line, and nothing past its NUL was written. */
static void
check_message(void)
{
	size_t n = strnlen(errbuf, sizeof(errbuf));

	KC_CHECK(n > 0 && n < sizeof(errbuf));
	KC_CHECK(strchr(errbuf, '\n') == NULL);
	KC_CHECK(strncmp(errbuf, "kcsplice:", 9) != 0);
}

/* Must fail with 64 and a message containing want. */
static void bad(const char *want, ...) __attribute__((sentinel));

static void
bad(const char *want, ...)
{
	struct ks_conf c;
	va_list ap;
	int r;

	va_start(ap, want);
	r = vparse(&c, ap);
	va_end(ap);
	if (r != 64)
		kct_fail(__FILE__, __LINE__, "parse gave %d, not 64, "
		    "expecting \"%s\"", r, want);
	check_message();
	if (strstr(errbuf, want) == NULL)
		kct_fail(__FILE__, __LINE__, "message \"%s\" lacks \"%s\"",
		    errbuf, want);
}

static unsigned
online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 64 ? 64 : (unsigned)n;
}

static void
check_defaults(const struct ks_conf *c)
{
	KC_CHECK_EQ(c->action, KS_RUN);
	KC_CHECK_EQ(c->nmirrors, 0);
	KC_CHECK_EQ(c->mirror_budget, 1u << 30);
	KC_CHECK_EQ(c->mirror_cap, 0);
	KC_CHECK(!c->mirror_drop);
	KC_CHECK_EQ(c->mirror_retry_min_ns, 1 * SEC);
	KC_CHECK_EQ(c->mirror_retry_max_ns, 60 * SEC);
	KC_CHECK_EQ(c->threads, online_cpus());
	KC_CHECK_EQ(c->max_conns, 10000);
	KC_CHECK_EQ(c->nallow, 0);
	KC_CHECK_EQ(c->idle_ns, 300 * SEC);
	KC_CHECK_EQ(c->half_close_ns, 60 * SEC);
	KC_CHECK_EQ(c->udp_session_ns, 60 * SEC);
	KC_CHECK_EQ(c->udp_max_sessions, 4096);
	KC_CHECK_EQ(c->connect_ns, 10 * SEC);
	KC_CHECK_EQ(c->stats_ns, 0);
	KC_CHECK(!c->stats_json);
	KC_CHECK_EQ(c->shutdown_ns, 10 * SEC);
	KC_CHECK_EQ(c->pipe_size, 0);
	KC_CHECK(!c->no_splice);
	KC_CHECK_EQ(c->verbosity, 0);
}

static void
test_defaults(void)
{
	struct ks_conf c;

	memset(&c, 0xa5, sizeof(c));
	ok(&c, "tcp:127.0.0.1:0", "tcp:127.0.0.1:6379", NULL);
	check_defaults(&c);
	KC_CHECK_EQ(c.listen.kind, KS_TCP);
	KC_CHECK_EQ(c.listen.sa.a.sa.sa_family, AF_INET);
	KC_CHECK_EQ(ntohs(c.listen.sa.a.in.sin_port), 0);
	KC_CHECK(strcmp(c.listen.text, "tcp:127.0.0.1:0") == 0);
	KC_CHECK_EQ(c.upstream.kind, KS_TCP);
	KC_CHECK_EQ(ntohs(c.upstream.sa.a.in.sin_port), 6379);
	KC_CHECK(strcmp(c.upstream.text, "tcp:127.0.0.1:6379") == 0);
}

/* Every option, in every spelling it has. */
static void
test_options(void)
{
	struct ks_conf c;
	const char *L = "tcp:127.0.0.1:1", *U = "tcp:127.0.0.1:2";

	ok(&c, "--mirror", "tcp:127.0.0.1:3", "--mirror=unix:/tmp/m",
	    "-m", "unix:@m", "-mtcp:[::1]:4", L, U, NULL);
	KC_CHECK_EQ(c.nmirrors, 4);
	KC_CHECK(strcmp(c.mirrors[0].text, "tcp:127.0.0.1:3") == 0);
	KC_CHECK_EQ(c.mirrors[1].kind, KS_UNIX);
	KC_CHECK(strcmp(c.mirrors[1].text, "unix:/tmp/m") == 0);
	KC_CHECK_EQ(c.mirrors[2].kind, KS_UNIX);
	KC_CHECK_EQ(c.mirrors[2].sa.a.un.sun_path[0], '\0');
	KC_CHECK_EQ(c.mirrors[3].sa.a.sa.sa_family, AF_INET6);

	ok(&c, "--mirror-budget", "1", L, U, NULL);
	KC_CHECK_EQ(c.mirror_budget, 1);
	ok(&c, "--mirror-budget=8k", L, U, NULL);
	KC_CHECK_EQ(c.mirror_budget, 8192);
	ok(&c, L, "--mirror-budget", "3G", U, NULL);
	KC_CHECK_EQ(c.mirror_budget, 3ull << 30);
	ok(&c, "--mirror-cap", "64m", L, U, NULL);
	KC_CHECK_EQ(c.mirror_cap, 64ull << 20);
	KC_CHECK_EQ(c.mirror_budget, 1ull << 30);
	ok(&c, "--mirror-cap=2G", L, U, NULL);
	KC_CHECK_EQ(c.mirror_cap, 2ull << 30);

	ok(&c, "--mirror-policy", "drop", L, U, NULL);
	KC_CHECK(c.mirror_drop);
	ok(&c, "--mirror-policy=drop", "--mirror-policy=detach", L, U, NULL);
	KC_CHECK(!c.mirror_drop);

	ok(&c, "--mirror-retry", "0.5:2", L, U, NULL);
	KC_CHECK_EQ(c.mirror_retry_min_ns, SEC / 2);
	KC_CHECK_EQ(c.mirror_retry_max_ns, 2 * SEC);
	ok(&c, "--mirror-retry=5", L, U, NULL);
	KC_CHECK_EQ(c.mirror_retry_min_ns, 5 * SEC);
	KC_CHECK_EQ(c.mirror_retry_max_ns, 60 * SEC);
	/* MIN alone past the default MAX: MAX is MIN. */
	ok(&c, "--mirror-retry", "90", L, U, NULL);
	KC_CHECK_EQ(c.mirror_retry_min_ns, 90 * SEC);
	KC_CHECK_EQ(c.mirror_retry_max_ns, 90 * SEC);
	ok(&c, "--mirror-retry", "3:3", L, U, NULL);
	KC_CHECK_EQ(c.mirror_retry_min_ns, 3 * SEC);
	KC_CHECK_EQ(c.mirror_retry_max_ns, 3 * SEC);
	ok(&c, "--mirror-retry", "0.000000001:1000000", L, U, NULL);
	KC_CHECK_EQ(c.mirror_retry_min_ns, 1);
	KC_CHECK_EQ(c.mirror_retry_max_ns, 1000000 * SEC);

	ok(&c, "--threads", "1", L, U, NULL);
	KC_CHECK_EQ(c.threads, 1);
	ok(&c, "--threads=64", L, U, NULL);
	KC_CHECK_EQ(c.threads, 64);
	ok(&c, "-j", "7", L, U, NULL);
	KC_CHECK_EQ(c.threads, 7);
	ok(&c, "-j12", L, U, NULL);
	KC_CHECK_EQ(c.threads, 12);
	ok(&c, "-j", "007", L, U, NULL);
	KC_CHECK_EQ(c.threads, 7);

	ok(&c, "--max-conns", "0", L, U, NULL);
	KC_CHECK_EQ(c.max_conns, 0);
	ok(&c, "--max-conns=1000000000", L, U, NULL);
	KC_CHECK_EQ(c.max_conns, 1000000000);

	ok(&c, "--allow", "10.0.0.0/8", "--allow=::1", L, U, NULL);
	KC_CHECK_EQ(c.nallow, 2);
	KC_CHECK_EQ(c.allow[0].family, AF_INET);
	KC_CHECK_EQ(c.allow[0].prefix, 8);
	KC_CHECK_EQ(c.allow[1].family, AF_INET6);
	KC_CHECK_EQ(c.allow[1].prefix, 128);

	ok(&c, "--idle-timeout", "0", "--half-close-timeout=0", L, U, NULL);
	KC_CHECK_EQ(c.idle_ns, 0);
	KC_CHECK_EQ(c.half_close_ns, 0);
	ok(&c, "--idle-timeout=2.5", "--half-close-timeout", "0.25", L, U,
	    NULL);
	KC_CHECK_EQ(c.idle_ns, 2500000000ull);
	KC_CHECK_EQ(c.half_close_ns, 250000000ull);

	ok(&c, "--udp-session-timeout", "0.001", "--udp-max-sessions", "1",
	    "udp:127.0.0.1:1", "udp:127.0.0.1:2", NULL);
	KC_CHECK_EQ(c.udp_session_ns, 1000000);
	KC_CHECK_EQ(c.udp_max_sessions, 1);
	ok(&c, "--udp-session-timeout=1000000", "--udp-max-sessions=65536",
	    L, U, NULL);
	KC_CHECK_EQ(c.udp_session_ns, 1000000 * SEC);
	KC_CHECK_EQ(c.udp_max_sessions, 65536);

	ok(&c, "--connect-timeout", "0.5", L, U, NULL);
	KC_CHECK_EQ(c.connect_ns, SEC / 2);
	ok(&c, "--connect-timeout=3", L, U, NULL);
	KC_CHECK_EQ(c.connect_ns, 3 * SEC);

	ok(&c, "--stats", "1", L, U, NULL);
	KC_CHECK_EQ(c.stats_ns, SEC);
	ok(&c, "--stats=0", L, U, NULL);
	KC_CHECK_EQ(c.stats_ns, 0);
	ok(&c, "--stats-format", "json", L, U, NULL);
	KC_CHECK(c.stats_json);
	ok(&c, "--stats-format=json", "--stats-format=text", L, U, NULL);
	KC_CHECK(!c.stats_json);

	ok(&c, "--shutdown-timeout", "0", L, U, NULL);
	KC_CHECK_EQ(c.shutdown_ns, 0);
	ok(&c, "--shutdown-timeout=30", L, U, NULL);
	KC_CHECK_EQ(c.shutdown_ns, 30 * SEC);

	ok(&c, "--pipe-size", "64k", L, U, NULL);
	KC_CHECK_EQ(c.pipe_size, 65536);
	ok(&c, "--pipe-size=1G", L, U, NULL);
	KC_CHECK_EQ(c.pipe_size, 1u << 30);
	ok(&c, "--pipe-size=1", L, U, NULL);
	KC_CHECK_EQ(c.pipe_size, 1);

	ok(&c, "--no-splice", L, U, NULL);
	KC_CHECK(c.no_splice);

	KC_CHECK_EQ(c.trace_path[0], '\0');
	ok(&c, "--trace", "/tmp/k.kct", L, U, NULL);
	KC_CHECK(strcmp(c.trace_path, "/tmp/k.kct") == 0);
	ok(&c, "--trace=rel.kct", L, U, NULL);
	KC_CHECK(strcmp(c.trace_path, "rel.kct") == 0);
	bad("--trace: expected a file name (at most 4095 bytes)", "--trace=",
	    L, U, NULL);
	bad("option '--trace' needs a value (FILE)", L, U, "--trace", NULL);

	ok(&c, "-q", L, U, NULL);
	KC_CHECK_EQ(c.verbosity, -1);
	ok(&c, "--quiet", L, U, NULL);
	KC_CHECK_EQ(c.verbosity, -1);
	ok(&c, "-v", L, U, NULL);
	KC_CHECK_EQ(c.verbosity, 1);
	ok(&c, "--verbose", L, U, NULL);
	KC_CHECK_EQ(c.verbosity, 1);
	ok(&c, "-q", "-v", L, U, NULL);		/* the last one wins */
	KC_CHECK_EQ(c.verbosity, 1);
	ok(&c, "-vq", L, U, NULL);
	KC_CHECK_EQ(c.verbosity, -1);

	/* Clusters: flags, then one option that takes the rest or the next. */
	ok(&c, "-qj3", L, U, NULL);
	KC_CHECK_EQ(c.verbosity, -1);
	KC_CHECK_EQ(c.threads, 3);
	ok(&c, "-vm", "tcp:127.0.0.1:9", L, U, NULL);
	KC_CHECK_EQ(c.verbosity, 1);
	KC_CHECK_EQ(c.nmirrors, 1);

	/* Options after operands, and "--" ending the options. */
	ok(&c, L, U, "-j2", "--no-splice", NULL);
	KC_CHECK_EQ(c.threads, 2);
	KC_CHECK(c.no_splice);
	ok(&c, "-j", "5", "--", L, U, NULL);
	KC_CHECK_EQ(c.threads, 5);
	bad("bad address '-j2' for UPSTREAM", "--", L, "-j2", NULL);
	bad("bad address '-' for UPSTREAM", L, "-", NULL);

	/* A value may begin with '-' (the next argument is always it). */
	bad("--threads: '-1' is not a number from 1 to 64", "-j", "-1", L, U,
	    NULL);
	bad("bad address '--no-splice' for --mirror", "--mirror",
	    "--no-splice", L, U, NULL);

	/* The last of a repeated single-valued option wins. */
	ok(&c, "-j1", "-j2", "--threads=3", L, U, NULL);
	KC_CHECK_EQ(c.threads, 3);

	/* Everything at once. */
	ok(&c, "-m", "tcp:127.0.0.1:3", "--mirror-budget", "1m",
	    "--mirror-policy", "drop", "-j", "2", "--max-conns", "100",
	    "--allow", "127.0.0.0/8", "--idle-timeout", "1",
	    "--half-close-timeout", "2", "--udp-session-timeout", "3",
	    "--udp-max-sessions", "4", "--connect-timeout", "5",
	    "--stats", "6", "--stats-format", "json", "--shutdown-timeout",
	    "7", "--pipe-size", "1M", "--no-splice", "-v", L, U, NULL);
	KC_CHECK_EQ(c.nmirrors, 1);
	KC_CHECK_EQ(c.mirror_budget, 1u << 20);
	KC_CHECK(c.mirror_drop);
	KC_CHECK_EQ(c.threads, 2);
	KC_CHECK_EQ(c.max_conns, 100);
	KC_CHECK_EQ(c.nallow, 1);
	KC_CHECK_EQ(c.idle_ns, 1 * SEC);
	KC_CHECK_EQ(c.half_close_ns, 2 * SEC);
	KC_CHECK_EQ(c.udp_session_ns, 3 * SEC);
	KC_CHECK_EQ(c.udp_max_sessions, 4);
	KC_CHECK_EQ(c.connect_ns, 5 * SEC);
	KC_CHECK_EQ(c.stats_ns, 6 * SEC);
	KC_CHECK(c.stats_json);
	KC_CHECK_EQ(c.shutdown_ns, 7 * SEC);
	KC_CHECK_EQ(c.pipe_size, 1u << 20);
	KC_CHECK(c.no_splice);
	KC_CHECK_EQ(c.verbosity, 1);
}

static void
test_bad_options(void)
{
	const char *L = "tcp:127.0.0.1:1", *U = "tcp:127.0.0.1:2";

	bad("unknown option '--frob'; see kcsplice --help", "--frob", L, U,
	    NULL);
	bad("unknown option '--frob'; see kcsplice --help", "--frob=3", L, U,
	    NULL);
	bad("unknown option '-x'", "-x", L, U, NULL);
	bad("unknown option '-x'", "-qx", L, U, NULL);
	bad("unknown option '--'", "--=1", L, U, NULL);
	/* No abbreviations. */
	bad("unknown option '--thread'", "--thread", "2", L, U, NULL);
	bad("unknown option '--mirror-'", "--mirror-", "2", L, U, NULL);
	bad("unknown option '--Threads'", "--Threads", "2", L, U, NULL);
	bad("unknown option '--traces'", "--traces", "f", L, U, NULL);

	/* Missing values: at the end of the line. */
	bad("option '--threads' needs a value (N)", L, U, "--threads", NULL);
	bad("option '-j' (--threads) needs a value (N)", L, U, "-j", NULL);
	bad("option '--mirror' needs a value (ADDR)", L, U, "--mirror", NULL);
	bad("option '-m' (--mirror) needs a value", L, U, "-m", NULL);
	bad("option '--allow' needs a value (CIDR)", L, U, "--allow", NULL);
	bad("option '--stats-format' needs a value", L, U, "--stats-format",
	    NULL);
	/* Flags take none. */
	bad("option '--no-splice' takes no value", "--no-splice=1", L, U,
	    NULL);
	bad("option '--quiet' takes no value", "--quiet=", L, U, NULL);
	bad("option '--help' takes no value", "--help=1", L, U, NULL);

	/* Numbers. */
	bad("--threads: '0' is not a number from 1 to 64", "--threads", "0",
	    L, U, NULL);
	bad("--threads: '65' is not a number from 1 to 64", "-j65", L, U,
	    NULL);
	bad("--threads: '' is not a number from 1 to 64", "--threads=", L, U,
	    NULL);
	bad("--threads: '+1'", "-j", "+1", L, U, NULL);
	bad("--threads: ' 1'", "-j", " 1", L, U, NULL);
	bad("--threads: '1 '", "-j", "1 ", L, U, NULL);
	bad("--threads: '0x10'", "-j", "0x10", L, U, NULL);
	bad("--threads: '1.0'", "-j", "1.0", L, U, NULL);
	bad("--threads: '99999999999999999999999999'", "-j",
	    "99999999999999999999999999", L, U, NULL);
	bad("--max-conns: '1000000001' is not a number from 0 to 1000000000",
	    "--max-conns", "1000000001", L, U, NULL);
	bad("--max-conns: '4294967296'", "--max-conns", "4294967296", L, U,
	    NULL);
	bad("--max-conns: '-1'", "--max-conns", "-1", L, U, NULL);
	bad("--udp-max-sessions: '0' is not a number from 1 to 1000000000",
	    "--udp-max-sessions", "0", L, U, NULL);
	bad("--udp-max-sessions: '1k'", "--udp-max-sessions", "1k", L, U,
	    NULL);

	/* Sizes. */
	bad("--mirror-budget: '0' is not a size", "--mirror-budget", "0", L,
	    U, NULL);
	bad("--mirror-budget: '0k'", "--mirror-budget", "0k", L, U, NULL);
	bad("--mirror-cap: '0' is not a size", "--mirror-cap", "0", L, U,
	    NULL);
	bad("--mirror-cap: '1.5G'", "--mirror-cap", "1.5G", L, U, NULL);
	bad("option '--mirror-cap' needs a value", L, U, "--mirror-cap",
	    NULL);
	bad("--mirror-budget: '4MB'", "--mirror-budget", "4MB", L, U, NULL);
	bad("--mirror-budget: '1.5M'", "--mirror-budget", "1.5M", L, U, NULL);
	bad("--mirror-budget: '-4M'", "--mirror-budget", "-4M", L, U, NULL);
	bad("--mirror-budget: '4T'", "--mirror-budget", "4T", L, U, NULL);
	bad("--mirror-budget: 'M'", "--mirror-budget", "M", L, U, NULL);
	bad("--mirror-budget: '17179869184G'", "--mirror-budget",
	    "17179869184G", L, U, NULL);
	bad("--pipe-size: '0' is not a size from 1 byte to 1G",
	    "--pipe-size", "0", L, U, NULL);
	bad("--pipe-size: '1073741825'", "--pipe-size", "1073741825", L, U,
	    NULL);
	bad("--pipe-size: '2G'", "--pipe-size=2G", L, U, NULL);

	/* Seconds. */
	bad("--idle-timeout: '-1' is not a number of seconds from 0 to "
	    "1000000", "--idle-timeout", "-1", L, U, NULL);
	bad("--idle-timeout: '1000000.1'", "--idle-timeout", "1000000.1", L,
	    U, NULL);
	bad("--half-close-timeout: '1e3'", "--half-close-timeout", "1e3", L,
	    U, NULL);
	bad("--stats: '1s'", "--stats", "1s", L, U, NULL);
	bad("--stats: 'inf'", "--stats", "inf", L, U, NULL);
	bad("--shutdown-timeout: 'nan'", "--shutdown-timeout", "nan", L, U,
	    NULL);
	bad("--shutdown-timeout: ''", "--shutdown-timeout=", L, U, NULL);
	bad("--connect-timeout: '0' is not a number of seconds from "
	    "0.000000001 to 1000000", "--connect-timeout", "0", L, U, NULL);
	bad("--connect-timeout: '0.0'", "--connect-timeout", "0.0", L, U,
	    NULL);
	bad("--udp-session-timeout: '0'", "--udp-session-timeout", "0", L, U,
	    NULL);

	/* Words. */
	bad("--mirror-policy: 'Drop' is not detach or drop",
	    "--mirror-policy", "Drop", L, U, NULL);
	bad("--mirror-policy: ''", "--mirror-policy=", L, U, NULL);
	bad("--mirror-retry: '0' is not MIN or MIN:MAX seconds with 0 < MIN "
	    "<= MAX <= 1000000", "--mirror-retry", "0", L, U, NULL);
	bad("--mirror-retry: '2:1'", "--mirror-retry", "2:1", L, U, NULL);
	bad("--mirror-retry: '1:'", "--mirror-retry", "1:", L, U, NULL);
	bad("--mirror-retry: ':5'", "--mirror-retry", ":5", L, U, NULL);
	bad("--mirror-retry: '1:2:3'", "--mirror-retry", "1:2:3", L, U, NULL);
	bad("--mirror-retry: '1:1000001'", "--mirror-retry", "1:1000001", L, U,
	    NULL);
	bad("--mirror-retry: ''", "--mirror-retry=", L, U, NULL);
	bad("--mirror-retry: '00000000000000000000000000000000000000000000000"
	    "0000000000000000001'", "--mirror-retry",
	    "00000000000000000000000000000000000000000000000"
	    "0000000000000000001", L, U, NULL);
	bad("--stats-format: 'xml' is not text or json", "--stats-format",
	    "xml", L, U, NULL);

	/* Lists. */
	bad("--allow: bad range '10.0.0.0/33'", "--allow", "10.0.0.0/33", L,
	    U, NULL);
	bad("bad address 'tcp:127.0.0.1' for --mirror", "-m", "tcp:127.0.0.1",
	    L, U, NULL);
	bad("bad address 'tcp:127.0.0.1:0' for --mirror: port 0 is allowed "
	    "only for LISTEN", "-m", "tcp:127.0.0.1:0", L, U, NULL);

	/* The first error is the one named. */
	bad("--threads: 'x'", "-j", "x", "--frob", L, U, NULL);
	bad("unknown option '--frob'", "--frob", "-j", "x", L, U, NULL);
	bad("--threads: 'x'", "-j", "x", L, NULL);
}

static void
test_limits(void)
{
	char *argv[2 * 70 + 4], text[70][32], want[128];
	struct ks_conf c;
	int argc, i, r;

	/* KS_MAX_MIRRORS (the library's KC_SPLICE_MIRRORS_MAX), then one more. */
	argc = 0;
	argv[argc++] = (char *)"kcsplice";
	for (i = 0; i <= KS_MAX_MIRRORS; i++) {
		snprintf(text[i], sizeof(text[i]), "tcp:127.0.0.1:%d", 100 + i);
		argv[argc++] = (char *)"-m";
		argv[argc++] = text[i];
	}
	argv[argc++] = (char *)"tcp:127.0.0.1:1";
	argv[argc++] = (char *)"tcp:127.0.0.1:2";
	r = ks_conf_parse(&c, argc, argv, errbuf, sizeof(errbuf));
	KC_CHECK_EQ(r, 64);
	snprintf(want, sizeof(want), "too many mirrors at '%s': at most %u",
	    text[KS_MAX_MIRRORS], KS_MAX_MIRRORS);
	KC_CHECK(strstr(errbuf, want) != NULL);
	/* Without the last. */
	argv[argc - 4] = argv[argc - 2];
	argv[argc - 3] = argv[argc - 1];
	r = ks_conf_parse(&c, argc - 2, argv, errbuf, sizeof(errbuf));
	KC_CHECK_EQ(r, 0);
	KC_CHECK_EQ(c.nmirrors, KS_MAX_MIRRORS);
	KC_CHECK_EQ(KS_MAX_MIRRORS, KC_SPLICE_MIRRORS_MAX);
	for (i = 0; i < KS_MAX_MIRRORS; i++) {
		KC_CHECK(strcmp(c.mirrors[i].text, text[i]) == 0);
		KC_CHECK_EQ(ntohs(c.mirrors[i].sa.a.in.sin_port), 100 + i);
	}

	/* 64 ranges, then 65. */
	argc = 0;
	argv[argc++] = (char *)"kcsplice";
	for (i = 0; i < 65; i++) {
		snprintf(text[i], sizeof(text[i]), "10.%d.0.0/16", i);
		argv[argc++] = (char *)"--allow";
		argv[argc++] = text[i];
	}
	argv[argc++] = (char *)"tcp:127.0.0.1:1";
	argv[argc++] = (char *)"tcp:127.0.0.1:2";
	r = ks_conf_parse(&c, argc, argv, errbuf, sizeof(errbuf));
	KC_CHECK_EQ(r, 64);
	KC_CHECK(strstr(errbuf, "too many --allow ranges at '10.64.0.0/16': "
	    "at most 64") != NULL);
	argv[129] = argv[131];
	argv[130] = argv[132];
	r = ks_conf_parse(&c, argc - 2, argv, errbuf, sizeof(errbuf));
	KC_CHECK_EQ(r, 0);
	KC_CHECK_EQ(c.nallow, 64);
	for (i = 0; i < 64; i++) {
		KC_CHECK_EQ(c.allow[i].prefix, 16);
		KC_CHECK_EQ(c.allow[i].addr[1], i);
	}
}

static void
test_operands(void)
{
	struct ks_conf c;

	bad("missing LISTEN and UPSTREAM addresses", NULL);
	bad("missing LISTEN and UPSTREAM addresses", "-j2", NULL);
	bad("missing UPSTREAM address after 'tcp:127.0.0.1:1'",
	    "tcp:127.0.0.1:1", NULL);
	bad("unexpected operand 'tcp:127.0.0.1:3': only LISTEN and UPSTREAM",
	    "tcp:127.0.0.1:1", "tcp:127.0.0.1:2", "tcp:127.0.0.1:3",
	    "tcp:127.0.0.1:4", NULL);
	bad("bad address '' for LISTEN", "", "tcp:127.0.0.1:2", NULL);

	/* --help and --version need no operands, and win over mistakes. */
	KC_CHECK_EQ(parse(&c, "--help", NULL), 0);
	KC_CHECK_EQ(c.action, KS_HELP);
	KC_CHECK_EQ(parse(&c, "-h", NULL), 0);
	KC_CHECK_EQ(c.action, KS_HELP);
	KC_CHECK_EQ(parse(&c, "--version", NULL), 0);
	KC_CHECK_EQ(c.action, KS_VERSION);
	KC_CHECK_EQ(parse(&c, "-V", NULL), 0);
	KC_CHECK_EQ(c.action, KS_VERSION);
	KC_CHECK_EQ(parse(&c, "--frob", "-j0", "x", "y", "z", "--help", NULL),
	    0);
	KC_CHECK_EQ(c.action, KS_HELP);
	KC_CHECK_EQ(errbuf[0], '\0');
	KC_CHECK_EQ(parse(&c, "-qV", "tcp:1:2", NULL), 0);
	KC_CHECK_EQ(c.action, KS_VERSION);
	KC_CHECK_EQ(parse(&c, "--version", "--help", NULL), 0);
	KC_CHECK_EQ(c.action, KS_VERSION);
	KC_CHECK_EQ(parse(&c, "-h", "-V", NULL), 0);
	KC_CHECK_EQ(c.action, KS_HELP);
	/* After "--" it is an operand, and a value is not an option. */
	bad("bad address '--help' for UPSTREAM", "tcp:127.0.0.1:1", "--",
	    "--help", NULL);
	bad("bad address '-h' for --mirror", "-m", "-h", "tcp:127.0.0.1:1",
	    "tcp:127.0.0.1:2", NULL);

	/* argc of 0 or 1, a NULL argv. */
	KC_CHECK_EQ(ks_conf_parse(&c, 0, NULL, errbuf, sizeof(errbuf)), 64);
	check_message();
	{
		char *argv[] = { (char *)"kcsplice", NULL };

		KC_CHECK_EQ(ks_conf_parse(&c, 1, argv, errbuf,
		    sizeof(errbuf)), 64);
		check_message();
		KC_CHECK_EQ(ks_conf_parse(&c, 0, argv, errbuf,
		    sizeof(errbuf)), 64);
	}
	/* An argv shorter than argc says: NULL ends it. */
	{
		char *argv[] = { (char *)"kcsplice", (char *)"tcp:127.0.0.1:1",
		    (char *)"tcp:127.0.0.1:2", NULL };

		KC_CHECK_EQ(ks_conf_parse(&c, 10, argv, errbuf,
		    sizeof(errbuf)), 0);
	}
}

static void
check_addr_roundtrip(const struct ks_addr *a)
{
	struct ks_addr b;
	char s[160];
	int n;

	n = ks_addr_format(a->kind, &a->sa, s, sizeof(s));
	KC_CHECK(n > 0);
	KC_CHECK_EQ(strlen(s), n);
	KC_CHECK_OK(ks_addr_parse(&b, s));
	KC_CHECK_EQ(b.kind, a->kind);
	KC_CHECK_EQ(b.sa.len, a->sa.len);
	KC_CHECK(memcmp(&b.sa.a, &a->sa.a, a->sa.len) == 0);
	KC_CHECK(strcmp(b.text, s) == 0);
	/* Exactly enough room, and one byte short. */
	KC_CHECK_EQ(ks_addr_format(a->kind, &a->sa, s, (size_t)n + 1), n);
	KC_CHECK_EQ(ks_addr_format(a->kind, &a->sa, s, (size_t)n), -ENOSPC);
}

static void
good_addr(const char *s, enum ks_kind kind, int family, unsigned port,
    const char *formatted)
{
	struct ks_addr a;
	char f[160];

	memset(&a, 0xa5, sizeof(a));
	if (ks_addr_parse(&a, s) != 0)
		kct_fail(__FILE__, __LINE__, "address \"%s\" did not parse", s);
	KC_CHECK_EQ(a.kind, kind);
	KC_CHECK_EQ(a.sa.a.sa.sa_family, family);
	KC_CHECK(strcmp(a.text, s) == 0);
	if (family == AF_INET)
		KC_CHECK_EQ(ntohs(a.sa.a.in.sin_port), port);
	if (family == AF_INET6)
		KC_CHECK_EQ(ntohs(a.sa.a.in6.sin6_port), port);
	KC_CHECK(ks_addr_format(kind, &a.sa, f, sizeof(f)) > 0);
	if (strcmp(f, formatted) != 0)
		kct_fail(__FILE__, __LINE__, "\"%s\" formats as \"%s\", "
		    "not \"%s\"", s, f, formatted);
	check_addr_roundtrip(&a);
}

static void
bad_addr(const char *s)
{
	struct ks_addr a;
	static const struct ks_addr zero;

	memset(&a, 0xa5, sizeof(a));
	if (ks_addr_parse(&a, s) != -EINVAL)
		kct_fail(__FILE__, __LINE__, "address \"%s\" parsed", s);
	KC_CHECK(memcmp(&a, &zero, sizeof(a)) == 0);
}

static void
test_addresses(void)
{
	char path[200];
	struct ks_addr a;
	struct ks_conf c;

	good_addr("tcp:127.0.0.1:80", KS_TCP, AF_INET, 80,
	    "tcp:127.0.0.1:80");
	good_addr("tcp:0.0.0.0:0", KS_TCP, AF_INET, 0, "tcp:0.0.0.0:0");
	good_addr("tcp:255.255.255.255:65535", KS_TCP, AF_INET, 65535,
	    "tcp:255.255.255.255:65535");
	good_addr("tcp:localhost:6379", KS_TCP, AF_INET, 6379,
	    "tcp:127.0.0.1:6379");
	good_addr("udp:localhost:53", KS_UDP, AF_INET, 53, "udp:127.0.0.1:53");
	good_addr("tcp:[::1]:8080", KS_TCP, AF_INET6, 8080, "tcp:[::1]:8080");
	good_addr("tcp:[::]:0", KS_TCP, AF_INET6, 0, "tcp:[::]:0");
	good_addr("udp:[2001:db8::1]:53", KS_UDP, AF_INET6, 53,
	    "udp:[2001:db8::1]:53");
	good_addr("tcp:[::ffff:10.1.2.3]:1", KS_TCP, AF_INET6, 1,
	    "tcp:[::ffff:10.1.2.3]:1");
	good_addr("tcp:[0000:0000:0000:0000:0000:0000:0000:0001]:1", KS_TCP,
	    AF_INET6, 1, "tcp:[::1]:1");
	good_addr("udp:10.0.0.1:00053", KS_UDP, AF_INET, 53,
	    "udp:10.0.0.1:53");
	good_addr("unix:/tmp/kcsplice.sock", KS_UNIX, AF_UNIX, 0,
	    "unix:/tmp/kcsplice.sock");
	good_addr("unix:relative", KS_UNIX, AF_UNIX, 0, "unix:relative");
	good_addr("unix:@kcsplice", KS_UNIX, AF_UNIX, 0, "unix:@kcsplice");
	good_addr("unix:/tmp/with space:colon", KS_UNIX, AF_UNIX, 0,
	    "unix:/tmp/with space:colon");

	/* The longest path and abstract name, and one byte more. */
	memset(path, 0, sizeof(path));
	memcpy(path, "unix:/", 6);
	memset(path + 6, 'p', 106);
	good_addr(path, KS_UNIX, AF_UNIX, 0, path);
	path[112] = 'p';
	bad_addr(path);
	memset(path, 0, sizeof(path));
	memcpy(path, "unix:@", 6);
	memset(path + 6, 'n', 107);
	good_addr(path, KS_UNIX, AF_UNIX, 0, path);
	path[113] = 'n';
	bad_addr(path);
	bad("bad address 'unix:@nnn", "--", path, "tcp:127.0.0.1:1", NULL);
	KC_CHECK(strstr(errbuf, "the path is longer than 107 bytes") != NULL);
	KC_CHECK(strstr(errbuf, "...'") != NULL);	/* quoted, cut */

	bad_addr("");
	bad_addr("tcp:");
	bad_addr("tcp:1.2.3:80");
	bad_addr("tcp:1.2.3.4");
	bad_addr("tcp:1.2.3.4:");
	bad_addr("tcp:1.2.3.4:65536");
	bad_addr("tcp:1.2.3.4:-1");
	bad_addr("tcp:1.2.3.4:+1");
	bad_addr("tcp:1.2.3.4:8 ");
	bad_addr("tcp:1.2.3.4:http");
	bad_addr("tcp: 1.2.3.4:80");
	bad_addr("tcp:01.2.3.4:80");
	bad_addr("tcp:256.1.1.1:80");
	bad_addr("tcp:::1:80");
	bad_addr("tcp:[::1]");
	bad_addr("tcp:[::1]80");
	bad_addr("tcp:[::1:80");
	bad_addr("tcp:[1.2.3.4]:80");
	bad_addr("tcp:[fe80::1%lo]:80");
	bad_addr("tcp:example.com:80");
	bad_addr("tcp:LOCALHOST:80");
	bad_addr("tcp:localhost");
	bad_addr("tcp:localhost:");
	bad_addr("tcp:localhost:123456");
	bad_addr("tcp:localhost:1234567890123");
	bad_addr("tcp:unix:/tmp/x");
	bad_addr("udp:unix:@x");
	bad_addr("TCP:1.2.3.4:80");
	bad_addr("sctp:1.2.3.4:80");
	bad_addr("1.2.3.4:80");
	bad_addr("[::1]:80");
	bad_addr("unix:");
	bad_addr("unix:@");
	bad_addr("unix:/tmp/a\nb");
	bad_addr("unix:/tmp/a\tb");
	bad_addr("unix:/tmp/a\x7f");
	bad_addr("tcp:1.2.3.4:80\n");
	KC_CHECK_EQ(ks_addr_parse(&a, NULL), -EINVAL);
	KC_CHECK_EQ(ks_addr_parse(NULL, "tcp:1.2.3.4:80"), -EINVAL);

	/* Formatting: the kind must fit the family. */
	KC_CHECK_OK(ks_addr_parse(&a, "unix:/x"));
	KC_CHECK_EQ(ks_addr_format(KS_TCP, &a.sa, path, sizeof(path)),
	    -EINVAL);
	KC_CHECK_OK(ks_addr_parse(&a, "tcp:1.2.3.4:5"));
	KC_CHECK_EQ(ks_addr_format(KS_UNIX, &a.sa, path, sizeof(path)),
	    -EINVAL);
	KC_CHECK_EQ(ks_addr_format((enum ks_kind)0, &a.sa, path,
	    sizeof(path)), -EINVAL);
	KC_CHECK_EQ(ks_addr_format(KS_UDP, &a.sa, path, sizeof(path)), 13);
	KC_CHECK(strcmp(path, "udp:1.2.3.4:5") == 0);
	KC_CHECK_EQ(ks_addr_format(KS_UDP, &a.sa, path, 4), -ENOSPC);
	KC_CHECK_EQ(ks_addr_format(KS_UDP, &a.sa, path, 0), -ENOSPC);
	KC_CHECK_EQ(ks_addr_format(KS_UDP, NULL, path, 10), -EINVAL);

	/* The contract's message, word for word. */
	bad("bad address 'tcp:1.2.3:80' for LISTEN: expected tcp:HOST:PORT, "
	    "unix:PATH or udp:HOST:PORT", "tcp:1.2.3:80", "tcp:127.0.0.1:2",
	    NULL);
	bad("bad address 'tcp:example.com:80' for UPSTREAM: HOST must be "
	    "numeric", "tcp:127.0.0.1:1", "tcp:example.com:80", NULL);
	bad("bad address 'unix:/a\\x0ab' for LISTEN: control characters",
	    "unix:/a\nb", "unix:/b", NULL);

	/* Port 0: LISTEN only. */
	ok(&c, "tcp:[::1]:0", "tcp:[::1]:1", NULL);
	ok(&c, "udp:127.0.0.1:0", "udp:127.0.0.1:1", NULL);
	bad("bad address 'tcp:127.0.0.1:0' for UPSTREAM: port 0 is allowed "
	    "only for LISTEN", "tcp:127.0.0.1:1", "tcp:127.0.0.1:0", NULL);
	bad("bad address 'udp:[::1]:0' for UPSTREAM: port 0", "udp:[::1]:1",
	    "udp:[::1]:0", NULL);
}

/* The udp/stream mixing rule. */
static void
test_mixing(void)
{
	struct ks_conf c;

	ok(&c, "tcp:127.0.0.1:1", "unix:/u", "-m", "unix:@m", "-m",
	    "tcp:[::1]:3", NULL);
	KC_CHECK_EQ(c.listen.kind, KS_TCP);
	KC_CHECK_EQ(c.upstream.kind, KS_UNIX);
	ok(&c, "unix:/l", "tcp:127.0.0.1:1", NULL);
	KC_CHECK_EQ(c.listen.kind, KS_UNIX);
	ok(&c, "udp:127.0.0.1:1", "udp:[::1]:2", "-m", "udp:127.0.0.1:3",
	    NULL);
	KC_CHECK_EQ(c.listen.kind, KS_UDP);
	KC_CHECK_EQ(c.mirrors[0].kind, KS_UDP);

	bad("cannot mix udp with tcp/unix: LISTEN 'udp:127.0.0.1:1', "
	    "UPSTREAM 'tcp:127.0.0.1:2'", "udp:127.0.0.1:1",
	    "tcp:127.0.0.1:2", NULL);
	bad("cannot mix udp with tcp/unix: LISTEN 'tcp:127.0.0.1:1', "
	    "UPSTREAM 'udp:127.0.0.1:2'", "tcp:127.0.0.1:1",
	    "udp:127.0.0.1:2", NULL);
	bad("cannot mix udp with tcp/unix: LISTEN 'unix:/l', UPSTREAM "
	    "'udp:127.0.0.1:2'", "unix:/l", "udp:127.0.0.1:2", NULL);
	bad("cannot mix udp with tcp/unix: LISTEN 'udp:127.0.0.1:1', "
	    "--mirror 'unix:/m'", "-m", "udp:127.0.0.1:3", "-m", "unix:/m",
	    "udp:127.0.0.1:1", "udp:127.0.0.1:2", NULL);
	bad("cannot mix udp with tcp/unix: LISTEN 'tcp:127.0.0.1:1', "
	    "--mirror 'udp:127.0.0.1:3'", "-m", "udp:127.0.0.1:3",
	    "tcp:127.0.0.1:1", "tcp:127.0.0.1:2", NULL);
}

static void
good_cidr(const char *s, int family, unsigned prefix, const char *net)
{
	struct ks_cidr c;
	uint8_t want[16];

	memset(&c, 0xa5, sizeof(c));
	if (ks_cidr_parse(&c, s) != 0)
		kct_fail(__FILE__, __LINE__, "range \"%s\" did not parse", s);
	KC_CHECK_EQ(c.family, family);
	KC_CHECK_EQ(c.prefix, prefix);
	memset(want, 0, sizeof(want));
	KC_CHECK_EQ(inet_pton(family, net, want), 1);
	if (memcmp(c.addr, want, sizeof(want)) != 0)
		kct_fail(__FILE__, __LINE__, "range \"%s\": network is not %s",
		    s, net);
}

static void
bad_cidr(const char *s)
{
	static const struct ks_cidr zero;
	struct ks_cidr c;

	memset(&c, 0xa5, sizeof(c));
	if (ks_cidr_parse(&c, s) != -EINVAL)
		kct_fail(__FILE__, __LINE__, "range \"%s\" parsed", s);
	KC_CHECK(memcmp(&c, &zero, sizeof(c)) == 0);
}

/* Does the range match the address (as "1.2.3.4:5" or "[::1]:5")? */
static bool
match(const char *range, const char *addr)
{
	struct kc_sockaddr sa;
	struct ks_cidr c;

	if (ks_cidr_parse(&c, range) != 0)
		kct_fail(__FILE__, __LINE__, "range \"%s\" did not parse",
		    range);
	if (kc_sockaddr_parse(&sa, addr) != 0)
		kct_fail(__FILE__, __LINE__, "\"%s\" did not parse", addr);
	return ks_cidr_match(&c, &sa);
}

static void
test_cidr(void)
{
	struct kc_sockaddr sa;
	struct ks_cidr c;

	good_cidr("127.0.0.0/8", AF_INET, 8, "127.0.0.0");
	good_cidr("10.1.2.3", AF_INET, 32, "10.1.2.3");
	good_cidr("10.1.2.3/32", AF_INET, 32, "10.1.2.3");
	good_cidr("10.1.2.3/0", AF_INET, 0, "0.0.0.0");
	good_cidr("10.1.2.255/25", AF_INET, 25, "10.1.2.128");
	good_cidr("10.1.2.255/31", AF_INET, 31, "10.1.2.254");
	good_cidr("255.255.255.255/1", AF_INET, 1, "128.0.0.0");
	good_cidr("192.168.77.1/20", AF_INET, 20, "192.168.64.0");
	good_cidr("10.0.0.0/08", AF_INET, 8, "10.0.0.0");
	good_cidr("::1/128", AF_INET6, 128, "::1");
	good_cidr("::1", AF_INET6, 128, "::1");
	good_cidr("[::1]/128", AF_INET6, 128, "::1");
	good_cidr("[::1]", AF_INET6, 128, "::1");
	good_cidr("::/0", AF_INET6, 0, "::");
	good_cidr("[2001:db8::ffff]/0", AF_INET6, 0, "::");
	good_cidr("::ffff:0:0/96", AF_INET6, 96, "::ffff:0:0");
	good_cidr("2001:db8:abcd:1234::1/48", AF_INET6, 48, "2001:db8:abcd::");
	good_cidr("2001:db8::ff/121", AF_INET6, 121, "2001:db8::80");
	good_cidr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/127", AF_INET6,
	    127, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe");

	bad_cidr("");
	bad_cidr("/8");
	bad_cidr("10.0.0.0/");
	bad_cidr("10.0.0.0/33");
	bad_cidr("10.0.0.0/-1");
	bad_cidr("10.0.0.0/+8");
	bad_cidr("10.0.0.0/8/8");
	bad_cidr("10.0.0.0/8 ");
	bad_cidr("10.0.0.0/0x8");
	bad_cidr("10.0.0/8");
	bad_cidr("10.0.0.0.0/8");
	bad_cidr("[10.0.0.0]/8");
	bad_cidr("::1/129");
	bad_cidr("::1/999999999999999999999");
	bad_cidr("[::1");
	bad_cidr("[::1]128");
	bad_cidr("[::1]/");
	bad_cidr("[]/0");
	bad_cidr("::1]/8");
	bad_cidr("localhost");
	bad_cidr("fe80::1%lo/64");
	bad_cidr("1.2.3.4:80");
	KC_CHECK_EQ(ks_cidr_parse(&c, NULL), -EINVAL);
	KC_CHECK_EQ(ks_cidr_parse(NULL, "1.2.3.4"), -EINVAL);

	/* IPv4, its boundaries. */
	KC_CHECK(match("10.0.0.0/8", "10.0.0.0:1"));
	KC_CHECK(match("10.0.0.0/8", "10.255.255.255:1"));
	KC_CHECK(!match("10.0.0.0/8", "9.255.255.255:1"));
	KC_CHECK(!match("10.0.0.0/8", "11.0.0.0:1"));
	KC_CHECK(match("192.168.64.0/20", "192.168.79.255:1"));
	KC_CHECK(!match("192.168.64.0/20", "192.168.80.0:1"));
	KC_CHECK(!match("192.168.64.0/20", "192.168.63.255:1"));
	KC_CHECK(match("10.1.2.3", "10.1.2.3:1"));
	KC_CHECK(!match("10.1.2.3", "10.1.2.2:1"));
	KC_CHECK(!match("10.1.2.3/32", "10.1.2.4:1"));
	KC_CHECK(match("10.1.2.3/31", "10.1.2.2:1"));
	KC_CHECK(!match("10.1.2.3/31", "10.1.2.4:1"));
	KC_CHECK(match("0.0.0.0/0", "1.2.3.4:1"));
	KC_CHECK(match("0.0.0.0/0", "255.255.255.255:1"));
	KC_CHECK(match("128.0.0.0/1", "255.0.0.0:1"));
	KC_CHECK(!match("128.0.0.0/1", "127.255.255.255:1"));
	/* A v4-mapped client matches IPv4 ranges. */
	KC_CHECK(match("127.0.0.0/8", "[::ffff:127.0.0.1]:1"));
	KC_CHECK(match("10.1.2.3", "[::ffff:10.1.2.3]:1"));
	KC_CHECK(!match("10.1.2.3", "[::ffff:10.1.2.4]:1"));
	KC_CHECK(match("0.0.0.0/0", "[::ffff:1.2.3.4]:1"));
	/* ... and only a v4-mapped one: no real IPv6 client does. */
	KC_CHECK(!match("0.0.0.0/0", "[::1]:1"));
	KC_CHECK(!match("0.0.0.0/0", "[::]:1"));
	KC_CHECK(!match("0.0.0.0/0", "[::1.2.3.4]:1"));	/* v4-compatible */
	KC_CHECK(!match("0.0.0.0/0", "[2001:db8::1]:1"));
	KC_CHECK(!match("0.0.0.0/0", "[::fffe:1.2.3.4]:1"));
	/* IPv6. */
	KC_CHECK(match("::1/128", "[::1]:1"));
	KC_CHECK(!match("::1/128", "[::2]:1"));
	KC_CHECK(!match("::1/128", "[::]:1"));
	KC_CHECK(!match("::1/128", "127.0.0.1:1"));
	KC_CHECK(match("[::1]", "[::1]:1"));
	KC_CHECK(match("::/0", "[2001:db8::1]:1"));
	KC_CHECK(match("::/0", "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:1"));
	KC_CHECK(match("2001:db8::/32", "[2001:db8:ffff:ffff:ffff:ffff:ffff:"
	    "ffff]:1"));
	KC_CHECK(!match("2001:db8::/32", "[2001:db9::]:1"));
	KC_CHECK(!match("2001:db8::/32", "[2001:db7:ffff::]:1"));
	KC_CHECK(match("2001:db8::80/121", "[2001:db8::ff]:1"));
	KC_CHECK(!match("2001:db8::80/121", "[2001:db8::7f]:1"));
	KC_CHECK(!match("2001:db8::80/121", "[2001:db8::100]:1"));
	KC_CHECK(match("ffff::/1", "[8000::]:1"));
	KC_CHECK(!match("ffff::/1", "[7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:1"));
	/* IPv4 clients against v6 ranges that hold the mapped space. */
	KC_CHECK(match("::ffff:0:0/96", "1.2.3.4:1"));
	KC_CHECK(match("::ffff:0:0/96", "[::ffff:1.2.3.4]:1"));
	KC_CHECK(!match("::ffff:0:0/96", "[::1]:1"));
	KC_CHECK(match("::ffff:10.0.0.0/104", "10.9.8.7:1"));
	KC_CHECK(!match("::ffff:10.0.0.0/104", "11.9.8.7:1"));
	KC_CHECK(match("::/0", "1.2.3.4:1"));
	KC_CHECK(!match("::1/128", "0.0.0.1:1"));

	/* UNIX clients and nonsense are never in a range. */
	KC_CHECK_OK(ks_cidr_parse(&c, "0.0.0.0/0"));
	KC_CHECK_OK(kc_sockaddr_parse(&sa, "unix:/x"));
	KC_CHECK(!ks_cidr_match(&c, &sa));
	memset(&sa, 0, sizeof(sa));
	KC_CHECK(!ks_cidr_match(&c, &sa));
	KC_CHECK(!ks_cidr_match(NULL, &sa));
	KC_CHECK(!ks_cidr_match(&c, NULL));
	c.prefix = 33;
	KC_CHECK_OK(kc_sockaddr_parse(&sa, "1.2.3.4:5"));
	KC_CHECK(!ks_cidr_match(&c, &sa));
	memset(&c, 0, sizeof(c));
	KC_CHECK(!ks_cidr_match(&c, &sa));

	/* Through the command line. */
	bad("--allow: bad range '10.0.0.0/8x': expected ADDR or ADDR/PREFIX",
	    "--allow", "10.0.0.0/8x", "tcp:127.0.0.1:1", "tcp:127.0.0.1:2",
	    NULL);
}

static void
size_is(const char *s, uint64_t want)
{
	uint64_t v = 12345;

	if (ks_size_parse(&v, s) != 0)
		kct_fail(__FILE__, __LINE__, "size \"%s\" did not parse", s);
	if (v != want)
		kct_fail(__FILE__, __LINE__, "size \"%s\" is %llu, not %llu",
		    s, (unsigned long long)v, (unsigned long long)want);
}

static void
size_bad(const char *s)
{
	uint64_t v = 12345;

	if (ks_size_parse(&v, s) != -EINVAL)
		kct_fail(__FILE__, __LINE__, "size \"%s\" parsed", s);
	KC_CHECK_EQ(v, 12345);		/* untouched */
}

static void
sec_is(const char *s, uint64_t want)
{
	uint64_t v = 12345;

	if (ks_sec_parse(&v, s) != 0)
		kct_fail(__FILE__, __LINE__, "seconds \"%s\" did not parse", s);
	if (v != want)
		kct_fail(__FILE__, __LINE__, "seconds \"%s\" are %llu ns, not "
		    "%llu", s, (unsigned long long)v,
		    (unsigned long long)want);
}

static void
sec_bad(const char *s)
{
	uint64_t v = 12345;

	if (ks_sec_parse(&v, s) != -EINVAL)
		kct_fail(__FILE__, __LINE__, "seconds \"%s\" parsed", s);
	KC_CHECK_EQ(v, 12345);
}

static void
test_numbers(void)
{
	size_is("0", 0);
	size_is("1", 1);
	size_is("4M", 4u << 20);
	size_is("4m", 4u << 20);
	size_is("1k", 1024);
	size_is("1K", 1024);
	size_is("2g", 2ull << 30);
	size_is("2G", 2ull << 30);
	size_is("0G", 0);
	size_is("000012", 12);
	size_is("18446744073709551615", UINT64_MAX);
	size_is("18014398509481983k", UINT64_MAX - 1023);
	size_is("17592186044415M", UINT64_MAX - ((1ull << 20) - 1));
	size_is("17179869183G", UINT64_MAX - ((1ull << 30) - 1));
	size_bad("18446744073709551616");
	size_bad("99999999999999999999999999");
	size_bad("18014398509481984k");
	size_bad("17592186044416M");
	size_bad("17179869184G");
	size_bad("");
	size_bad("k");
	size_bad("-1");
	size_bad("+1");
	size_bad(" 1");
	size_bad("1 ");
	size_bad("1kk");
	size_bad("1KB");
	size_bad("1KiB");
	size_bad("1b");
	size_bad("1T");
	size_bad("1.5k");
	size_bad("0x10");
	size_bad(NULL);
	KC_CHECK_EQ(ks_size_parse(NULL, "1"), -EINVAL);

	sec_is("0", 0);
	sec_is("0.0", 0);
	sec_is("000", 0);
	sec_is("1", SEC);
	sec_is("2", 2 * SEC);
	sec_is("0.5", SEC / 2);
	sec_is(".5", SEC / 2);
	sec_is("5.", 5 * SEC);
	sec_is("1.25", 1250000000ull);
	sec_is("0.1", 100000000ull);
	sec_is("0.000000001", 1);
	sec_is("0.123456789", 123456789);
	sec_is("0.1234567891", 123456790);	/* rounds up */
	sec_is("0.1234567890000", 123456789);	/* zeros are exact */
	sec_is("0.0000000001", 1);		/* never 0 for a positive value */
	sec_is("0.00000000000000000000", 0);
	sec_is("300", 300 * SEC);
	sec_is("999999.999999999", 999999999999999ull);
	sec_is("999999.9999999999", 1000000 * SEC);
	sec_is("1000000", 1000000 * SEC);
	sec_is("1000000.000000000000", 1000000 * SEC);
	sec_is("0001000000", 1000000 * SEC);
	sec_bad("1000000.000000001");
	sec_bad("1000000.0000000001");
	sec_bad("1000001");
	sec_bad("10000000");
	sec_bad("99999999999999999999999999999");
	sec_bad("18446744073.709551616");
	sec_bad("");
	sec_bad(".");
	sec_bad("-0");
	sec_bad("-1");
	sec_bad("+1");
	sec_bad("1e3");
	sec_bad("1E3");
	sec_bad("1s");
	sec_bad("1.2.3");
	sec_bad("1..2");
	sec_bad(" 1");
	sec_bad("1 ");
	sec_bad("inf");
	sec_bad("nan");
	sec_bad("0x1");
	sec_bad("1,5");
	sec_bad(NULL);
	KC_CHECK_EQ(ks_sec_parse(NULL, "1"), -EINVAL);
}

/* Messages: always terminated inside errlen, one line, any errlen. */
static void
test_messages(void)
{
	char *argv[] = { (char *)"kcsplice", (char *)"--threads",
	    (char *)"0", (char *)"tcp:127.0.0.1:1", (char *)"tcp:127.0.0.1:2",
	    NULL };
	char *nasty[] = { (char *)"kcsplice", (char *)"--mirror-policy",
	    (char *)"a\nb\rc\x1b[31m\x1f\x7f\x80", (char *)"x", (char *)"y", NULL };
	char small[16], big[4096];
	struct ks_conf c;
	size_t n;

	memset(small, 'X', sizeof(small));
	KC_CHECK_EQ(ks_conf_parse(&c, 5, argv, small, sizeof(small)), 64);
	KC_CHECK_EQ(strlen(small), sizeof(small) - 1);
	KC_CHECK(strncmp(small, "--threads: '0' ", 15) == 0);
	memset(small, 'X', sizeof(small));
	KC_CHECK_EQ(ks_conf_parse(&c, 5, argv, small, 1), 64);
	KC_CHECK_EQ(small[0], '\0');
	KC_CHECK_EQ(small[1], 'X');
	KC_CHECK_EQ(ks_conf_parse(&c, 5, argv, small, 0), 64);
	KC_CHECK_EQ(small[1], 'X');
	KC_CHECK_EQ(ks_conf_parse(&c, 5, argv, NULL, 100), 64);
	KC_CHECK_EQ(ks_conf_parse(NULL, 5, argv, big, sizeof(big)), 64);
	KC_CHECK(big[0] != '\0');

	/* The brief's example, word for word. */
	KC_CHECK_EQ(ks_conf_parse(&c, 5, argv, big, sizeof(big)), 64);
	KC_CHECK(strcmp(big, "--threads: '0' is not a number from 1 to 64")
	    == 0);

	/* Control characters are shown escaped: one line. */
	KC_CHECK_EQ(ks_conf_parse(&c, 5, nasty, big, sizeof(big)), 64);
	KC_CHECK(strcmp(big, "--mirror-policy: 'a\\x0ab\\x0dc\\x1b[31m\\x1f\\x7f\x80' is "
	    "not detach or drop") == 0);

	/* A long argument is cut in the message. */
	{
		char *arg = malloc(100000);
		char *av[] = { (char *)"kcsplice", arg, (char *)"y", NULL };

		KC_CHECK(arg != NULL);
		memset(arg, '\n', 99999);
		arg[99999] = '\0';
		KC_CHECK_EQ(ks_conf_parse(&c, 3, av, big, sizeof(big)), 64);
		n = strlen(big);
		KC_CHECK(n < 400);
		KC_CHECK(strchr(big, '\n') == NULL);
		KC_CHECK(strstr(big, "...'") != NULL);
		memset(arg, '-', 99999);
		KC_CHECK_EQ(ks_conf_parse(&c, 3, av, big, sizeof(big)), 64);
		KC_CHECK(strlen(big) < 400);
		KC_CHECK(strstr(big, "unknown option '---") != NULL);
		free(arg);
	}
}

/* Calls are independent: nothing from one shows in the next. */
static void
test_repeat(void)
{
	struct ks_conf a, b;
	char first[sizeof(errbuf)];
	int i;

	ok(&a, "-m", "tcp:127.0.0.1:3", "--allow", "10.0.0.0/8", "-j3",
	    "--stats-format=json", "--mirror-policy=drop", "-q", "--no-splice",
	    "tcp:127.0.0.1:1", "tcp:127.0.0.1:2", NULL);
	KC_CHECK_EQ(a.nmirrors, 1);
	ok(&b, "tcp:127.0.0.1:1", "tcp:127.0.0.1:2", NULL);
	check_defaults(&b);

	/* After a failure in the middle of a cluster or a value. */
	bad("unknown option '-x'", "-qx", "tcp:127.0.0.1:1", NULL);
	ok(&b, "-j", "2", "tcp:127.0.0.1:1", "tcp:127.0.0.1:2", NULL);
	KC_CHECK_EQ(b.threads, 2);
	KC_CHECK_EQ(b.verbosity, 0);
	bad("option '-j' (--threads) needs a value", "-j", NULL);
	ok(&b, "-q", "tcp:127.0.0.1:1", "tcp:127.0.0.1:2", NULL);
	KC_CHECK_EQ(b.threads, online_cpus());
	KC_CHECK_EQ(b.verbosity, -1);
	KC_CHECK_EQ(parse(&b, "--help", NULL), 0);
	ok(&b, "tcp:127.0.0.1:1", "tcp:127.0.0.1:2", NULL);
	check_defaults(&b);

	/* The same line gives the same bytes, however often. */
	memset(&a, 0x5a, sizeof(a));
	ok(&a, "-m", "unix:@m", "--allow", "::1", "--allow", "10.0.0.0/8",
	    "tcp:[::1]:0", "unix:/u", NULL);
	for (i = 0; i < 2000; i++) {
		memset(&b, i & 0xff, sizeof(b));
		ok(&b, "-m", "unix:@m", "--allow", "::1", "--allow",
		    "10.0.0.0/8", "tcp:[::1]:0", "unix:/u", NULL);
		KC_CHECK(memcmp(&a, &b, sizeof(a)) == 0);
	}
	bad("--stats: 'x'", "--stats", "x", "tcp:1.2.3.4:1", NULL);
	memcpy(first, errbuf, sizeof(first));
	for (i = 0; i < 2000; i++) {
		bad("--stats: 'x'", "--stats", "x", "tcp:1.2.3.4:1", NULL);
		KC_CHECK(strcmp(first, errbuf) == 0);
	}
}

/* ks_conf_file on text, then "kcsplice" and the arguments up to NULL. */
static int ftext(struct ks_conf *c, const char *text, size_t len, ...)
    __attribute__((sentinel));

static int
ftext(struct ks_conf *c, const char *text, size_t len, ...)
{
	char *argv[MAXARGS + 1];
	int argc = 0;
	const char *a;
	va_list ap;

	argv[argc++] = (char *)"kcsplice";
	argv[argc++] = (char *)"-f";
	argv[argc++] = (char *)"t.conf";
	va_start(ap, len);
	while ((a = va_arg(ap, const char *)) != NULL) {
		KC_CHECK(argc < MAXARGS);
		argv[argc++] = (char *)a;
	}
	va_end(ap);
	argv[argc] = NULL;
	memset(errbuf, 'X', sizeof(errbuf));
	return ks_conf_file(c, argc, argv, "t.conf", text, len, errbuf,
	    sizeof(errbuf));
}

#define FOK(c, text, ...) do {						\
	if (ftext((c), (text), strlen(text), __VA_ARGS__) != 0)	\
		kct_fail(__FILE__, __LINE__, "file parse failed: %s",	\
		    errbuf);						\
	KC_CHECK_EQ(errbuf[0], '\0');					\
} while (0)

#define FBAD(want, text, ...) do {					\
	struct ks_conf fb_c_;						\
	int fb_r_ = ftext(&fb_c_, (text), strlen(text), __VA_ARGS__);	\
	if (fb_r_ != 64)						\
		kct_fail(__FILE__, __LINE__, "file parse gave %d, not 64, " \
		    "expecting \"%s\"", fb_r_, (want));			\
	check_message();						\
	if (strstr(errbuf, (want)) == NULL)				\
		kct_fail(__FILE__, __LINE__, "message \"%s\" lacks \"%s\"", \
		    errbuf, (want));					\
} while (0)

#define LU	"listen tcp:127.0.0.1:0\nupstream tcp:127.0.0.1:2\n"

static void
test_file_syntax(void)
{
	struct ks_conf c;

	/* The operands alone: everything else is the default. */
	FOK(&c, LU, NULL);
	KC_CHECK_EQ(c.listen.kind, KS_TCP);
	KC_CHECK(strcmp(c.listen.text, "tcp:127.0.0.1:0") == 0);
	KC_CHECK(strcmp(c.upstream.text, "tcp:127.0.0.1:2") == 0);
	KC_CHECK(strcmp(c.config_path, "t.conf") == 0);
	KC_CHECK_EQ(c.nmirrors, 0);
	KC_CHECK_EQ(c.idle_ns, 300 * SEC);

	/* NAME VALUE, NAME=VALUE, NAME = VALUE, tabs, comments, CRLF. */
	FOK(&c, "# a comment\n"
	    "\n"
	    "   \t\n"
	    "  listen\ttcp:127.0.0.1:0   # where\n"
	    "upstream=tcp:127.0.0.1:2\r\n"
	    "threads = 3\n"
	    "idle-timeout\t=\t0.5\n"
	    "mirror unix:@m#1   # '#' inside a value stays\n"
	    "mirror=tcp:127.0.0.1:4\n"
	    "\t# an indented comment\n"
	    "allow 10.0.0.0/8\n"
	    "allow ::1\n"
	    "mirror-policy drop\n"
	    "stats-format json\n"
	    "no-splice\n"
	    "verbose   \n"
	    "trace /tmp/a b#c.trace # the comment\n"
	    "mirror-budget 4k", NULL);
	KC_CHECK_EQ(c.threads, 3);
	KC_CHECK_EQ(c.idle_ns, SEC / 2);
	KC_CHECK_EQ(c.nmirrors, 2);
	KC_CHECK(strcmp(c.mirrors[0].text, "unix:@m#1") == 0);
	KC_CHECK(strcmp(c.mirrors[1].text, "tcp:127.0.0.1:4") == 0);
	KC_CHECK_EQ(c.nallow, 2);
	KC_CHECK(c.mirror_drop);
	KC_CHECK(c.stats_json);
	KC_CHECK(c.no_splice);
	KC_CHECK_EQ(c.verbosity, 1);
	KC_CHECK(strcmp(c.trace_path, "/tmp/a b#c.trace") == 0);
	KC_CHECK_EQ(c.mirror_budget, 4096);

	/* The last line without a newline, repeated options: last wins. */
	FOK(&c, LU "threads 2\nthreads 5", NULL);
	KC_CHECK_EQ(c.threads, 5);
	FOK(&c, LU "quiet\nverbose\nquiet\n", NULL);
	KC_CHECK_EQ(c.verbosity, -1);

	/* An empty file with the operands on the command line. */
	FOK(&c, "", "tcp:127.0.0.1:0", "unix:/u", NULL);
	KC_CHECK_EQ(c.upstream.kind, KS_UNIX);
	FOK(&c, "# nothing but a comment\n\n", "tcp:127.0.0.1:0", "unix:/u",
	    NULL);
}

static void
test_file_cmdline_wins(void)
{
	struct ks_conf c;

	/* Single values: the command line's. */
	FOK(&c, LU "threads 3\nidle-timeout 7\nmirror-policy drop\n"
	    "stats-format json\nquiet\n", "-j", "2", "--idle-timeout=9",
	    "--mirror-policy", "detach", "-v", NULL);
	KC_CHECK_EQ(c.threads, 2);
	KC_CHECK_EQ(c.idle_ns, 9 * SEC);
	KC_CHECK(!c.mirror_drop);
	KC_CHECK(c.stats_json);		/* not on the command line */
	KC_CHECK_EQ(c.verbosity, 1);

	/* Options given before -f on the command line win as well. */
	{
		char *argv[] = { (char *)"kcsplice", (char *)"-j4",
		    (char *)"-f", (char *)"t.conf", NULL };
		const char *t = LU "threads 3\n";

		KC_CHECK_EQ(ks_conf_file(&c, 4, argv, "t.conf", t, strlen(t),
		    errbuf, sizeof(errbuf)), 0);
		KC_CHECK_EQ(c.threads, 4);
	}

	/* Lists: the file's accumulate; the command line's replace them. */
	FOK(&c, LU "mirror tcp:127.0.0.1:3\nmirror tcp:127.0.0.1:4\n"
	    "allow 10.0.0.0/8\nallow 10.1.0.0/16\n", NULL);
	KC_CHECK_EQ(c.nmirrors, 2);
	KC_CHECK_EQ(c.nallow, 2);
	FOK(&c, LU "mirror tcp:127.0.0.1:3\nmirror tcp:127.0.0.1:4\n"
	    "allow 10.0.0.0/8\n", "-m", "tcp:127.0.0.1:5", "--mirror",
	    "tcp:127.0.0.1:6", NULL);
	KC_CHECK_EQ(c.nmirrors, 2);
	KC_CHECK(strcmp(c.mirrors[0].text, "tcp:127.0.0.1:5") == 0);
	KC_CHECK(strcmp(c.mirrors[1].text, "tcp:127.0.0.1:6") == 0);
	KC_CHECK_EQ(c.nallow, 1);	/* not on the command line: kept */
	FOK(&c, LU "mirror tcp:127.0.0.1:3\nallow 10.0.0.0/8\n"
	    "allow 10.1.0.0/16\n", "--allow", "::1", NULL);
	KC_CHECK_EQ(c.nallow, 1);
	KC_CHECK_EQ(c.allow[0].family, AF_INET6);
	KC_CHECK_EQ(c.nmirrors, 1);

	/* The operands on the command line replace listen and upstream. */
	FOK(&c, LU, "unix:/l", "tcp:127.0.0.1:7", NULL);
	KC_CHECK(strcmp(c.listen.text, "unix:/l") == 0);
	KC_CHECK(strcmp(c.upstream.text, "tcp:127.0.0.1:7") == 0);
	/* ... also where the file's would not do. */
	FOK(&c, "listen udp:127.0.0.1:0\nupstream udp:127.0.0.1:2\n",
	    "tcp:127.0.0.1:0", "tcp:127.0.0.1:7", NULL);
	KC_CHECK_EQ(c.listen.kind, KS_TCP);

	/* --help on the command line wins over a bad file. */
	KC_CHECK_EQ(ftext(&c, "frob 1\n", 7, "--help", NULL), 0);
	KC_CHECK_EQ(c.action, KS_HELP);
}

static void
test_file_errors(void)
{
	char *big, *line;
	struct ks_conf c;
	size_t n;

	FBAD("t.conf:3: unknown option 'frob'", LU "frob 1\n", NULL);
	FBAD("t.conf:4: --threads: '0' is not a number from 1 to 64",
	    LU "\nthreads 0\n", NULL);
	FBAD("t.conf:3: 'no-splice' takes no value", LU "no-splice yes\n",
	    NULL);
	FBAD("t.conf:3: 'threads' needs a value (N)", LU "threads\n", NULL);
	FBAD("t.conf:3: 'threads' needs a value (N)", LU "threads =  # x\n",
	    NULL);
	FBAD("t.conf:3: 'listen' given twice (first at line 1)",
	    LU "listen tcp:127.0.0.1:5\n", NULL);
	FBAD("t.conf:2: 'upstream' needs a value", "listen tcp:127.0.0.1:0\n"
	    "upstream\n", NULL);
	FBAD("t.conf:1: bad address 'tcp:1.2.3:4' for LISTEN",
	    "listen tcp:1.2.3:4\nupstream tcp:127.0.0.1:2\n", NULL);
	FBAD("t.conf:2: bad address 'tcp:127.0.0.1:0' for UPSTREAM: port 0",
	    "listen tcp:127.0.0.1:0\nupstream tcp:127.0.0.1:0\n", NULL);
	FBAD("t.conf:3: 'help' belongs on the command line", LU "help\n",
	    NULL);
	FBAD("t.conf:3: 'config' belongs on the command line",
	    LU "config x\n", NULL);
	FBAD("t.conf:3: 'check' belongs on the command line", LU "check\n",
	    NULL);
	FBAD("t.conf:3: unknown option 'm'", LU "m tcp:127.0.0.1:3\n", NULL);
	FBAD("t.conf:3: unknown option '--threads'", LU "--threads 2\n",
	    NULL);
	FBAD("t.conf:3: expected NAME", LU "= 2\n", NULL);
	FBAD("t.conf:3: bad address 'tcp:127.0.0.1:x' for --mirror",
	    LU "mirror tcp:127.0.0.1:x\n", NULL);
	FBAD("t.conf:4: cannot mix udp with tcp/unix", "listen "
	    "udp:127.0.0.1:0\nupstream udp:127.0.0.1:2\n\nmirror "
	    "tcp:127.0.0.1:3\n", NULL);
	FBAD("t.conf:2: cannot mix udp with tcp/unix", "listen "
	    "udp:127.0.0.1:0\nupstream tcp:127.0.0.1:2\n", NULL);
	/* The first error is the one told. */
	FBAD("t.conf:3: unknown option 'a'", LU "a\nb\n", NULL);
	/* Missing operands, or one on the command line. */
	FBAD("t.conf: no 'upstream' line", "listen tcp:127.0.0.1:0\n", NULL);
	FBAD("t.conf: no 'listen' line", "", NULL);
	FBAD("with --config, give LISTEN and UPSTREAM both", LU,
	    "tcp:127.0.0.1:0", NULL);
	/* The command line's own errors, without a line number. */
	FBAD("unknown option '--frob'", LU, "--frob", NULL);
	KC_CHECK(strstr(errbuf, "t.conf") == NULL);

	/* A NUL: at its line, and nothing after it read. */
	{
		static const char t[] = "listen tcp:127.0.0.1:0\nupstr\0eam x\n"
		    "frob\n";

		KC_CHECK_EQ(ftext(&c, t, sizeof(t) - 1, NULL), 64);
		KC_CHECK(strstr(errbuf, "t.conf:2: a NUL byte") != NULL);
	}

	/* A line at the bound is read; one byte more is an error. */
	line = malloc(KS_LINE_MAX + 64);
	KC_CHECK(line != NULL);
	n = (size_t)snprintf(line, KS_LINE_MAX + 64, LU "mirror-budget 1");
	memset(line + n, ' ', KS_LINE_MAX - strlen("mirror-budget 1"));
	n += KS_LINE_MAX - strlen("mirror-budget 1");
	line[n] = '\0';
	KC_CHECK_EQ(ftext(&c, line, n, NULL), 0);
	line[n++] = ' ';
	line[n] = '\0';
	KC_CHECK_EQ(ftext(&c, line, n, NULL), 64);
	KC_CHECK(strstr(errbuf, "t.conf:3: a line longer than 8192 bytes") !=
	    NULL);
	free(line);

	/* The whole text at the bound is read; one byte more is refused. */
	big = malloc(KS_FILE_MAX + 1);
	KC_CHECK(big != NULL);
	memset(big, '\n', KS_FILE_MAX + 1);
	memcpy(big, LU, strlen(LU));
	KC_CHECK_EQ(ftext(&c, big, KS_FILE_MAX, NULL), 0);
	KC_CHECK_EQ(ftext(&c, big, KS_FILE_MAX + 1, NULL), 64);
	KC_CHECK(strstr(errbuf, "t.conf: larger than 1048576 bytes") != NULL);
	free(big);

	/* A long file name: the line number is still there. */
	{
		char name[600], *argv[] = { (char *)"kcsplice", NULL };

		memset(name, 'n', sizeof(name) - 1);
		name[sizeof(name) - 1] = '\0';
		KC_CHECK_EQ(ks_conf_file(&c, 1, argv, name, "frob\n", 5,
		    errbuf, sizeof(errbuf)), 64);
		check_message();
		KC_CHECK(strstr(errbuf, "...:1: unknown option") != NULL);
	}
	/* A small buffer: cut, never overrun. */
	{
		char small[8], *argv[] = { (char *)"kcsplice", NULL };

		memset(small, 'X', sizeof(small));
		KC_CHECK_EQ(ks_conf_file(&c, 1, argv, "t.conf", "frob\n", 5,
		    small, sizeof(small)), 64);
		KC_CHECK_EQ(strlen(small), sizeof(small) - 1);
		KC_CHECK(strncmp(small, "t.conf:", 7) == 0);
		KC_CHECK_EQ(ks_conf_file(&c, 1, argv, "t.conf", "frob\n", 5,
		    NULL, 0), 64);
	}
}

/* -f on the command line alone: the operands may wait for the file. */
static void
test_file_cmdline(void)
{
	struct ks_conf c;

	ok(&c, "-f", "x.conf", NULL);
	KC_CHECK(strcmp(c.config_path, "x.conf") == 0);
	KC_CHECK_EQ(c.listen.kind, 0);
	KC_CHECK(!c.check);
	ok(&c, "--config=x.conf", "--check", NULL);
	KC_CHECK(c.check);
	ok(&c, "-qf", "x.conf", "tcp:127.0.0.1:0", "tcp:127.0.0.1:1", NULL);
	KC_CHECK_EQ(c.listen.kind, KS_TCP);
	KC_CHECK_EQ(c.verbosity, -1);
	ok(&c, "--check", "tcp:127.0.0.1:0", "tcp:127.0.0.1:1", NULL);
	KC_CHECK(c.check);
	KC_CHECK_EQ(c.config_path[0], '\0');
	bad("with --config, give LISTEN and UPSTREAM both", "-f", "x",
	    "tcp:127.0.0.1:0", NULL);
	bad("option '-f' (--config) needs a value", "-f", NULL);
	bad("--config: expected a file name", "--config=", NULL);
	bad("missing LISTEN and UPSTREAM", "--check", NULL);
}

/* A file in the test's directory. */
static void
write_file(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	KC_CHECK(fd >= 0);
	KC_CHECK_EQ(write(fd, text, len), (ssize_t)len);
	KC_CHECK_OK(close(fd));
}

static void
test_file_read(void)
{
	char dir[] = "/tmp/kcconf.XXXXXX", path[128], fifo[128], *text;
	char *argv[5];
	struct ks_conf c;
	size_t len;
	char *big;

	KC_CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/k.conf", dir);
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	write_file(path, LU "threads 2\n", strlen(LU "threads 2\n"));
	KC_CHECK_EQ(ks_conf_read(path, &text, &len, errbuf, sizeof(errbuf)),
	    0);
	KC_CHECK_EQ(len, strlen(LU "threads 2\n"));
	KC_CHECK(strcmp(text, LU "threads 2\n") == 0);
	free(text);

	/* ks_conf_load: the file, and the command line on top. */
	argv[0] = (char *)"kcsplice";
	argv[1] = (char *)"-f";
	argv[2] = path;
	argv[3] = (char *)"-j3";
	argv[4] = NULL;
	KC_CHECK_EQ(ks_conf_load(&c, 3, argv, errbuf, sizeof(errbuf)), 0);
	KC_CHECK_EQ(c.threads, 2);
	KC_CHECK_EQ(ks_conf_load(&c, 4, argv, errbuf, sizeof(errbuf)), 0);
	KC_CHECK_EQ(c.threads, 3);
	write_file(path, LU "\nthreads 99\n", strlen(LU "\nthreads 99\n"));
	KC_CHECK_EQ(ks_conf_load(&c, 3, argv, errbuf, sizeof(errbuf)), 64);
	KC_CHECK(strstr(errbuf, "/k.conf:4: --threads: '99'") != NULL);

	/* Not there, a directory, a FIFO (without waiting for a writer). */
	KC_CHECK_EQ(ks_conf_read(fifo, &text, &len, errbuf, sizeof(errbuf)),
	    64);
	KC_CHECK(strstr(errbuf, "No such file or directory") != NULL);
	KC_CHECK(text == NULL);
	KC_CHECK_EQ(ks_conf_read(dir, &text, &len, errbuf, sizeof(errbuf)),
	    64);
	KC_CHECK(strstr(errbuf, ": not a regular file") != NULL);
	KC_CHECK_OK(mkfifo(fifo, 0600));
	KC_CHECK_EQ(ks_conf_read(fifo, &text, &len, errbuf, sizeof(errbuf)),
	    64);
	KC_CHECK(strstr(errbuf, "/fifo: not a regular file") != NULL);
	KC_CHECK_EQ(ks_conf_read("/dev/zero", &text, &len, errbuf,
	    sizeof(errbuf)), 64);
	KC_CHECK(strstr(errbuf, "not a regular file") != NULL);
	argv[2] = fifo;
	KC_CHECK_EQ(ks_conf_load(&c, 3, argv, errbuf, sizeof(errbuf)), 64);

	/* At the size bound, and one byte over. */
	big = malloc(KS_FILE_MAX + 1);
	KC_CHECK(big != NULL);
	memset(big, '#', KS_FILE_MAX + 1);
	write_file(path, big, KS_FILE_MAX);
	KC_CHECK_EQ(ks_conf_read(path, &text, &len, errbuf, sizeof(errbuf)),
	    0);
	KC_CHECK_EQ(len, KS_FILE_MAX);
	free(text);
	write_file(path, big, KS_FILE_MAX + 1);
	KC_CHECK_EQ(ks_conf_read(path, &text, &len, errbuf, sizeof(errbuf)),
	    64);
	KC_CHECK(strstr(errbuf, "larger than 1048576 bytes") != NULL);
	free(big);

	/* NULs are read, and refused by the parser at their line. */
	write_file(path, "listen tcp:127.0.0.1:0\n\n\0", 25);
	argv[2] = path;
	KC_CHECK_EQ(ks_conf_load(&c, 3, argv, errbuf, sizeof(errbuf)), 64);
	KC_CHECK(strstr(errbuf, "k.conf:3: a NUL byte") != NULL);

	unlink(path);
	unlink(fifo);
	KC_CHECK_OK(rmdir(dir));
}

/* The file's parse keeps no state either. */
static void
test_file_repeat(void)
{
	static const char t[] = LU "mirror tcp:127.0.0.1:3\nallow ::1\n"
	    "threads 2\nquiet\n";
	struct ks_conf a, b;
	int i;

	memset(&a, 0x5a, sizeof(a));
	FOK(&a, t, NULL);
	for (i = 0; i < 200; i++) {
		memset(&b, i & 0xff, sizeof(b));
		FOK(&b, t, NULL);
		KC_CHECK(memcmp(&a, &b, sizeof(a)) == 0);
		FBAD("t.conf:3: unknown option", LU "x\n", NULL);
	}
}

static void
test_usage(void)
{
	static const char *const words[] = {
		"--mirror", "-m,", "--mirror-budget", "default 1G", "--mirror-cap",
		"--mirror-policy", "detach|drop", "--mirror-retry MIN[:MAX]",
		"default 1:60", "--threads", "-j,",
		"online CPUs", "--max-conns", "default 10000", "--allow",
		"--metrics ADDR", "--metrics-public",
		"--idle-timeout", "default 300", "--half-close-timeout",
		"--udp-session-timeout", "--udp-max-sessions", "default 4096",
		"--connect-timeout", "default 10", "--stats ", "--stats-format",
		"text|json", "--shutdown-timeout", "--pipe-size",
		"--no-splice", "--trace FILE", "--quiet", "-q,", "--verbose",
		"-v,", "--help",
		"-h,", "--version", "-V,", "tcp:HOST:PORT", "unix:PATH",
		"unix:@NAME", "udp:HOST:PORT", "LISTEN UPSTREAM",
		"-f, --config FILE", "--check", "SIGHUP",
	};
	char *text = NULL, *line;
	size_t len = 0, i;
	FILE *f;

	f = open_memstream(&text, &len);
	KC_CHECK(f != NULL);
	ks_usage(f);
	KC_CHECK_OK(fclose(f));
	KC_CHECK(len > 500);
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strstr(text, words[i]) == NULL)
			kct_fail(__FILE__, __LINE__, "--help lacks \"%s\"",
			    words[i]);
	/* Fits a terminal. */
	for (line = text; *line != '\0'; ) {
		char *nl = strchr(line, '\n');

		KC_CHECK(nl != NULL);
		KC_CHECK_LE(nl - line, 79);
		line = nl + 1;
	}
	free(text);
}

/* --metrics: tcp or unix; loopback only unless --metrics-public. */
static void
test_metrics(void)
{
	const char *L = "tcp:127.0.0.1:1", *U = "tcp:127.0.0.1:2";
	struct ks_conf c;

	ok(&c, L, U, NULL);
	KC_CHECK_EQ(c.metrics.kind, 0);
	KC_CHECK(!c.metrics_public);
	ok(&c, "--metrics", "tcp:127.0.0.1:9100", L, U, NULL);
	KC_CHECK_EQ(c.metrics.kind, KS_TCP);
	KC_CHECK(strcmp(c.metrics.text, "tcp:127.0.0.1:9100") == 0);
	ok(&c, "--metrics=tcp:127.0.0.1:0", L, U, NULL);	/* port 0 */
	ok(&c, "--metrics", "tcp:127.255.0.9:9100", L, U, NULL);
	ok(&c, "--metrics", "tcp:localhost:9100", L, U, NULL);
	ok(&c, "--metrics", "tcp:[::1]:9100", L, U, NULL);
	ok(&c, "--metrics", "tcp:[::ffff:127.0.0.1]:9100", L, U, NULL);
	ok(&c, "--metrics", "unix:/run/kcsplice.metrics", L, U, NULL);
	KC_CHECK_EQ(c.metrics.kind, KS_UNIX);
	ok(&c, "--metrics", "unix:@kcsplice-metrics", L, U, NULL);
	bad("--metrics: 'tcp:0.0.0.0:9100' is not a loopback address; add "
	    "--metrics-public", "--metrics", "tcp:0.0.0.0:9100", L, U, NULL);
	bad("is not a loopback address", "--metrics", "tcp:10.1.2.3:9100", L,
	    U, NULL);
	bad("is not a loopback address", "--metrics", "tcp:[::]:9100", L, U,
	    NULL);
	bad("is not a loopback address", "--metrics", "tcp:[::2]:9100", L, U,
	    NULL);
	bad("is not a loopback address", "--metrics",
	    "tcp:[::ffff:10.0.0.1]:9100", L, U, NULL);
	ok(&c, "--metrics", "tcp:0.0.0.0:9100", "--metrics-public", L, U,
	    NULL);
	KC_CHECK(c.metrics_public);
	ok(&c, "--metrics-public", "--metrics", "tcp:[::]:9100", L, U, NULL);
	bad("bad address 'udp:127.0.0.1:9100' for --metrics: expected "
	    "tcp:HOST:PORT or unix:PATH", "--metrics", "udp:127.0.0.1:9100",
	    L, U, NULL);
	bad("bad address 'http://x' for --metrics", "--metrics", "http://x",
	    L, U, NULL);
	bad("HOST must be numeric", "--metrics", "tcp:example.org:80", L, U,
	    NULL);
	bad("option '--metrics' needs a value", L, U, "--metrics", NULL);
	bad("option '--metrics-public' takes no value", "--metrics-public=1",
	    L, U, NULL);
}

static void
test_compare(void)
{
	struct ks_conf c;

	ok(&c, "tcp:127.0.0.1:1", "tcp:127.0.0.1:2", NULL);
	KC_CHECK(!c.compare);
	KC_CHECK_EQ(c.compare_window, 1u << 20);
	ok(&c, "--compare", "--compare-window", "4k", "tcp:127.0.0.1:1",
	    "unix:/u", NULL);
	KC_CHECK(c.compare);
	KC_CHECK_EQ(c.compare_window, 4096);
	ok(&c, "--compare-window=1g", "tcp:127.0.0.1:1", "tcp:127.0.0.1:2",
	    NULL);
	KC_CHECK_EQ(c.compare_window, 1u << 30);
	bad("--compare-window: '4095' is not a size from 4k to 1g",
	    "--compare-window", "4095", "tcp:127.0.0.1:1", "tcp:127.0.0.1:2",
	    NULL);
	bad("--compare-window: '1025m' is not a size from 4k to 1g",
	    "--compare-window", "1025m", "tcp:127.0.0.1:1",
	    "tcp:127.0.0.1:2", NULL);
	bad("--compare compares TCP and UNIX connections' replies, not UDP "
	    "sessions' (LISTEN 'udp:127.0.0.1:1')", "--compare",
	    "udp:127.0.0.1:1", "udp:127.0.0.1:2", NULL);
}

int
main(void)
{
	kct_begin("unit-kcsplice_conf", 60);
	test_compare();
	test_metrics();
	test_defaults();
	test_options();
	test_bad_options();
	test_limits();
	test_operands();
	test_addresses();
	test_mixing();
	test_cidr();
	test_numbers();
	test_messages();
	test_repeat();
	test_file_syntax();
	test_file_cmdline_wins();
	test_file_errors();
	test_file_cmdline();
	test_file_read();
	test_file_repeat();
	test_usage();
	return kct_done();
}
