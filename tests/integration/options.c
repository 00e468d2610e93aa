/*
 * options.c: kcsplice's command line, as the contract gives it.
 *
 *   options-bad       a table of bad invocations: each exits 64 (EX_USAGE)
 *                     with exactly one line on stderr, "kcsplice: ..."
 *   options-in-use    LISTEN already taken (TCP and UDP): exit 69
 *                     (EX_UNAVAILABLE), one line naming the address
 *   options-help      --help and -h: exit 0, usage on stdout listing every
 *                     option; --version: "kcsplice VERSION"; and the table's
 *                     base invocation, with --opt=VALUE forms, does run
 */
#include "it.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kcont/splice.h>

#define L	"tcp:127.0.0.1:0"
#define U	"tcp:127.0.0.1:9"

static const char *const bad[][8] = {
	{ "--frob", L, U },
	{ "-Z", L, U },
	{ "--mirror-budgetx", "4M", L, U },
	{ L, U, "--mirror" },
	{ L, U, "--stats" },
	{ L, U, "-j" },
	{ "tcp:1.2.3:80", U },
	{ "tcp:127.0.0.1", U },
	{ "tcp:127.0.0.1:70000", U },
	{ "tcp:127.0.0.1:-1", U },
	{ "tcp:[::1:80", U },
	{ "tcp:example.com:80", U },
	{ "http:127.0.0.1:80", U },
	{ "unix:", U },
	{ L, "foo:bar" },
	{ L, "tcp:127.0.0.1:0" },
	{ L, "tcp:127.0.0.1:" },
	{ "--mirror", "tcp:127.0.0.1:x", L, U },
	{ "--mirror", "tcp:127.0.0.1:0", L, U },
	{ "--allow", "10.0.0.0/33", L, U },
	{ "--allow", "1.2.3.4/x", L, U },
	{ "--allow", "::1/129", L, U },
	{ "--allow", "garbage", L, U },
	{ "--allow", "300.1.1.1", L, U },
	{ "--allow", "10.0.0.0/", L, U },
	{ "--threads", "0", L, U },
	{ "--threads", "65", L, U },
	{ "--threads", "abc", L, U },
	{ "-j", "1x", L, U },
	{ "--max-conns", "-1", L, U },
	{ "--max-conns", "12abc", L, U },
	{ "--max-conns=", L, U },
	{ "--mirror-budget", "0", L, U },
	{ "--mirror-budget", "4X", L, U },
	{ "--mirror-budget", "-5", L, U },
	{ "--mirror-policy", "maybe", L, U },
	{ "--idle-timeout", "-1", L, U },
	{ "--half-close-timeout", "abc", L, U },
	{ "--udp-session-timeout", "1e7", L, U },
	{ "--connect-timeout", "", L, U },
	{ "--stats", "1e7", L, U },
	{ "--stats-format", "xml", L, U },
	{ "--shutdown-timeout", "x1", L, U },
	{ "--udp-max-sessions", "x", L, U },
	{ "--pipe-size", "big", L, U },
	{ NULL },				/* no operands */
	{ L },					/* one */
	{ L, U, "tcp:127.0.0.1:10" },		/* three */
	{ "udp:127.0.0.1:0", U },
	{ L, "udp:127.0.0.1:9" },
	{ "--mirror", "tcp:127.0.0.1:10", "udp:127.0.0.1:0",
	    "udp:127.0.0.1:9" },
	{ "--mirror", "udp:127.0.0.1:10", L, U },
	{ "unix:/nonexistent/kcit.sock", "udp:127.0.0.1:9" },
};

/* Exactly one line, starting "kcsplice: ". */
static bool
one_line(const char *err)
{
	size_t n = strlen(err);

	/* A command-line error is a bare line; a later one has a time. */
	return n > 10 && (strncmp(err, "kcsplice: ", 10) == 0 ||
	    it_log_prefix(err) != NULL) && err[n - 1] == '\n' &&
	    strchr(err, '\n') == err + n - 1;
}

static void
describe(char *buf, size_t size, const char *const *args)
{
	size_t off = 0, i;

	buf[0] = '\0';
	for (i = 0; args[i] != NULL && off < size; i++)
		off += (size_t)snprintf(buf + off, size - off, "%s'%s'",
		    i ? " " : "", args[i]);
}

static void
options_bad(void)
{
	char what[512], *out, *err;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		describe(what, sizeof(what), bad[i]);
		rc = it_run(bad[i], 10, &out, &err);
		IT_CHECKF(rc == 64, "kcsplice %s: exit %d, not 64; stderr: %s",
		    what, rc, err);
		IT_CHECKF(one_line(err), "kcsplice %s: stderr is not one "
		    "\"kcsplice: \" line: \"%s\"", what, err);
		it_log("%s -> 64: %.*s", what, (int)strlen(err) - 1, err);
		free(out);
		free(err);
	}
	/* KC_SPLICE_MIRRORS_MAX + 1 mirrors: one too many. */
	{
		const char *args[2 * (KC_SPLICE_MIRRORS_MAX + 1) + 3];
		size_t n = 0;

		for (i = 0; i < KC_SPLICE_MIRRORS_MAX + 1; i++) {
			args[n++] = "-m";
			args[n++] = "tcp:127.0.0.1:10";
		}
		args[n++] = L;
		args[n++] = U;
		args[n] = NULL;
		rc = it_run(args, 10, &out, &err);
		IT_CHECKF(rc == 64,
		    "too many mirrors: exit %d, not 64; stderr: %s", rc, err);
		IT_CHECKF(one_line(err), "too many mirrors: stderr \"%s\"", err);
		it_log("too many mirrors -> 64: %.*s", (int)strlen(err) - 1, err);
		free(out);
		free(err);
	}
}

static void
in_use(int type)
{
	struct sockaddr_in in;
	socklen_t len = sizeof(in);
	char laddr[64], port[16], *out, *err;
	const char *args[4];
	int fd, rc;

	fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	IT_CHECK(fd >= 0);
	memset(&in, 0, sizeof(in));
	in.sin_family = AF_INET;
	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	IT_CHECK(bind(fd, (struct sockaddr *)&in, sizeof(in)) == 0);
	if (type == SOCK_STREAM)
		IT_CHECK(listen(fd, 8) == 0);
	IT_CHECK(getsockname(fd, (struct sockaddr *)&in, &len) == 0);
	snprintf(port, sizeof(port), "%u", ntohs(in.sin_port));
	snprintf(laddr, sizeof(laddr), "%s:127.0.0.1:%s",
	    type == SOCK_STREAM ? "tcp" : "udp", port);
	args[0] = laddr;
	args[1] = type == SOCK_STREAM ? U : "udp:127.0.0.1:9";
	args[2] = NULL;
	rc = it_run(args, 10, &out, &err);
	IT_CHECKF(rc == 69, "LISTEN %s in use: exit %d, not 69; stderr: %s",
	    laddr, rc, err);
	IT_CHECKF(one_line(err), "LISTEN %s in use: stderr \"%s\"", laddr,
	    err);
	IT_CHECKF(strstr(err, port) != NULL, "the line does not name port %s:"
	    " %s", port, err);
	it_log("%s in use -> 69: %.*s", laddr, (int)strlen(err) - 1, err);
	free(out);
	free(err);
	close(fd);
}

static void
options_in_use(void)
{
	in_use(SOCK_STREAM);
	in_use(SOCK_DGRAM);
}

static void
options_help(void)
{
	static const char *const opts[] = {
		"--mirror", "--mirror-budget", "--mirror-policy", "--threads",
		"--max-conns", "--allow", "--idle-timeout",
		"--half-close-timeout", "--udp-session-timeout",
		"--udp-max-sessions", "--connect-timeout", "--stats",
		"--stats-format", "--shutdown-timeout", "--pipe-size",
		"--no-splice", "--quiet", "--verbose", "--help", "--version",
	};
	static const char *const help[][2] = { { "--help" }, { "-h" } };
	const char *args[2] = { "--version", NULL };
	const char *run[16];
	char *out, *err;
	struct ks k;
	size_t i, j;
	int rc;

	for (j = 0; j < 2; j++) {
		rc = it_run(help[j], 10, &out, &err);
		IT_CHECKF(rc == 0, "%s: exit %d; stderr: %s", help[j][0], rc,
		    err);
		for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
			IT_CHECKF(strstr(out, opts[i]) != NULL,
			    "%s does not list %s", help[j][0], opts[i]);
		free(out);
		free(err);
	}
	rc = it_run(args, 10, &out, &err);
	IT_CHECKF(rc == 0, "--version: exit %d; stderr: %s", rc, err);
	IT_CHECKF(strncmp(out, "kcsplice ", 9) == 0, "--version printed \"%s\"",
	    out);
	it_log("--version: %.*s", (int)strcspn(out, "\n"), out);
	free(out);
	free(err);

	/* The base of the bad table runs, in both option forms. */
	i = 0;
	run[i++] = "--max-conns=5";
	run[i++] = "--idle-timeout";
	run[i++] = "0.5";
	run[i++] = "--mirror-budget=1M";
	run[i++] = "-j";
	run[i++] = "2";
	run[i++] = "--allow=127.0.0.0/8";
	run[i++] = "--allow";
	run[i++] = "[::1]/128";
	run[i++] = L;
	run[i++] = U;
	run[i] = NULL;
	ks_start(&k, run);
	ks_stop(&k);
}

static const struct it_case cases[] = {
	{ "options-bad", options_bad },
	{ "options-in-use", options_in_use },
	{ "options-help", options_help },
};

int
main(int argc, char **argv)
{
	return it_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
