/*
 * fuzz_kcsplice_file: kcsplice's configuration file parser
 * (ks_conf_file(), tools/kcsplice/conf.h).
 *
 * The input is the text of the file.  Its first byte, if any, also picks
 * one of a few command lines to put on top (none, options that win over the
 * file, operands, a list that replaces the file's, --help).  Each text is
 * parsed twice over differently filled memory: both calls must agree byte
 * for byte (no state between calls); a success must give a consistent
 * configuration (kinds not mixed, counts and values in their ranges, the
 * command line's values where it gave them); a failure must give 64 and
 * one line of message inside the buffer, also when the buffer is a few
 * bytes long.  The same text behind a blank line and a comment line must
 * give the same answer, an error's line number 2 further on.  Anything
 * else, or a crash, aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "conf.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do {						\
	if (!(cond))							\
		fz_fail(__LINE__, #cond);				\
} while (0)

#define ERR_LEN		512
#define SEC_MAX_NS	(1000000ull * 1000000000ull)
#define NAME		"fuzz.conf"

static void
fz_fail(int line, const char *what)
{
	fprintf(stderr, "fuzz_kcsplice_file:%d: check failed: %s\n", line,
	    what);
	abort();
}

/* The command lines, after "kcsplice -f fuzz.conf". */
static const char *const cmdlines[][6] = {
	{ NULL },
	{ "-j", "2", "--idle-timeout=7", "-q", NULL },
	{ "tcp:127.0.0.1:0", "unix:/u", NULL },
	{ "--mirror", "tcp:127.0.0.1:9", "--allow", "::1", NULL },
	{ "--help", NULL },
};
#define NCMD	(sizeof(cmdlines) / sizeof(cmdlines[0]))

static void
check_addr(const struct ks_addr *a)
{
	size_t tl = strnlen(a->text, sizeof(a->text)), i;

	CHECK(a->kind == KS_TCP || a->kind == KS_UNIX || a->kind == KS_UDP);
	CHECK(tl > 0 && tl < sizeof(a->text));
	for (i = 0; i < tl; i++)
		CHECK((unsigned char)a->text[i] >= 0x20 && a->text[i] != 0x7f);
}

static void
check_conf(const struct ks_conf *c, unsigned cmd)
{
	bool udp;
	unsigned i;

	if (cmd == 4) {
		CHECK(c->action == KS_HELP);
		return;
	}
	CHECK(c->action == KS_RUN);
	CHECK(strcmp(c->config_path, NAME) == 0);
	check_addr(&c->listen);
	check_addr(&c->upstream);
	udp = c->listen.kind == KS_UDP;
	CHECK((c->upstream.kind == KS_UDP) == udp);
	CHECK(c->nmirrors <= KS_MAX_MIRRORS);
	for (i = 0; i < c->nmirrors; i++) {
		check_addr(&c->mirrors[i]);
		CHECK((c->mirrors[i].kind == KS_UDP) == udp);
	}
	CHECK(c->nallow <= KS_MAX_ALLOW);
	for (i = 0; i < c->nallow; i++) {
		CHECK(c->allow[i].family == AF_INET ||
		    c->allow[i].family == AF_INET6);
		CHECK(c->allow[i].prefix <=
		    (c->allow[i].family == AF_INET ? 32u : 128u));
	}
	CHECK(c->mirror_budget > 0);
	CHECK(c->threads >= 1 && c->threads <= KS_MAX_THREADS);
	CHECK(c->max_conns <= 1000000000u);
	CHECK(c->udp_max_sessions >= 1 && c->udp_max_sessions <= 1000000000u);
	CHECK(c->idle_ns <= SEC_MAX_NS);
	CHECK(c->half_close_ns <= SEC_MAX_NS);
	CHECK(c->udp_session_ns > 0 && c->udp_session_ns <= SEC_MAX_NS);
	CHECK(c->connect_ns > 0 && c->connect_ns <= SEC_MAX_NS);
	CHECK(c->stats_ns <= SEC_MAX_NS);
	CHECK(c->shutdown_ns <= SEC_MAX_NS);
	CHECK(c->pipe_size <= (1u << 30));
	CHECK(c->verbosity >= -1 && c->verbosity <= 1);
	CHECK(!c->check);
	/* The command line wins. */
	if (cmd == 1) {
		CHECK(c->threads == 2);
		CHECK(c->idle_ns == 7000000000ull);
		CHECK(c->verbosity == -1);
	} else if (cmd == 2) {
		CHECK(strcmp(c->listen.text, "tcp:127.0.0.1:0") == 0);
		CHECK(strcmp(c->upstream.text, "unix:/u") == 0);
	} else if (cmd == 3) {
		CHECK(c->nmirrors == 1 && c->nallow == 1);
		CHECK(strcmp(c->mirrors[0].text, "tcp:127.0.0.1:9") == 0);
	}
}

static void
check_message(const char *err, size_t errlen)
{
	size_t n = strnlen(err, errlen), i;

	CHECK(n < errlen);
	for (i = 0; i < n; i++)
		CHECK(err[i] != '\n' && err[i] != '\r');
}

/* The line number of "fuzz.conf:N: ...", or 0. */
static unsigned long
line_of(const char *err)
{
	if (strncmp(err, NAME ":", strlen(NAME ":")) != 0)
		return 0;
	return strtoul(err + strlen(NAME ":"), NULL, 10);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char head[] = "\n# moved two lines down\n";
	char *argv[10], *err1, *err2, *small, *moved;
	const char *text = (const char *)data;
	struct ks_conf *c1, *c2;
	unsigned cmd = size > 0 ? data[0] % NCMD : 0;
	size_t smalllen;
	int argc = 0, r1, r2, i;

	c1 = malloc(sizeof(*c1));
	c2 = malloc(sizeof(*c2));
	err1 = malloc(ERR_LEN);
	err2 = malloc(ERR_LEN);
	moved = malloc(size + sizeof(head));
	if (c1 == NULL || c2 == NULL || err1 == NULL || err2 == NULL ||
	    moved == NULL)
		goto out;
	argv[argc++] = (char *)"kcsplice";
	argv[argc++] = (char *)"-f";
	argv[argc++] = (char *)NAME;
	for (i = 0; cmdlines[cmd][i] != NULL; i++)
		argv[argc++] = (char *)cmdlines[cmd][i];
	argv[argc] = NULL;

	memset(c1, 0xa5, sizeof(*c1));
	memset(c2, 0x5a, sizeof(*c2));
	memset(err1, 'X', ERR_LEN);
	memset(err2, 'Y', ERR_LEN);
	r1 = ks_conf_file(c1, argc, argv, NAME, text, size, err1, ERR_LEN);
	r2 = ks_conf_file(c2, argc, argv, NAME, text, size, err2, ERR_LEN);
	CHECK(r1 == r2);
	CHECK(memcmp(c1, c2, sizeof(*c1)) == 0);
	check_message(err1, ERR_LEN);
	CHECK(strcmp(err1, err2) == 0);
	if (r1 == 0) {
		CHECK(err1[0] == '\0');
		check_conf(c1, cmd);
	} else {
		CHECK(r1 == 64);
		CHECK(err1[0] != '\0');
	}

	/* Two lines more in front: the same, errors two lines further. */
	memcpy(moved, head, sizeof(head) - 1);
	if (size > 0)
		memcpy(moved + sizeof(head) - 1, data, size);
	r2 = ks_conf_file(c2, argc, argv, NAME, moved, size + sizeof(head) - 1,
	    err2, ERR_LEN);
	CHECK(r2 == r1);
	if (r1 == 0)
		CHECK(memcmp(c1, c2, sizeof(*c1)) == 0);
	else if (line_of(err1) != 0)
		CHECK(line_of(err2) == line_of(err1) + 2);

	/* A buffer of a few bytes, exactly allocated: cut, never overrun. */
	smalllen = 1 + size % 24;
	if ((small = malloc(smalllen)) != NULL) {
		r2 = ks_conf_file(c2, argc, argv, NAME, text, size, small,
		    smalllen);
		CHECK(r2 == r1);
		check_message(small, smalllen);
		CHECK(strncmp(small, err1, smalllen - 1) == 0);
		free(small);
	}
	CHECK(ks_conf_file(c2, argc, argv, NAME, text, size, NULL, 0) == r1);
out:
	free(moved);
	free(err2);
	free(err1);
	free(c2);
	free(c1);
	return 0;
}
