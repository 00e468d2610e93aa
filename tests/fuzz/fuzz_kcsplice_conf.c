/*
 * fuzz_kcsplice_conf: kcsplice's command-line parser (tools/kcsplice/conf.h).
 *
 * The input is split on NUL bytes into at most MAX_ARGS arguments.  Each
 * argument is given to ks_addr_parse(), ks_cidr_parse(), ks_size_parse(),
 * ks_sec_parse() and ks_percent_parse(): what parses must be well formed
 * and read back the same
 * (an address formats with ks_addr_format() and parses to the same address;
 * a range has its prefix in range, its host bits clear and contains its own
 * network; a size and a number of seconds print and parse to the same
 * value), and what does not parse leaves its output zeroed or untouched.
 * Then the arguments, after "kcsplice", are a command line for
 * ks_conf_parse(), twice over differently filled memory: both calls must
 * agree byte for byte (no state between calls), a success must give a
 * consistent configuration (kinds not mixed, counts and values in their
 * ranges, every address and range as above, --metrics off or a tcp or
 * unix address, on loopback unless --metrics-public), and a failure must
 * give 64 and one line of message inside the buffer, also when the buffer
 * is a few bytes long.  Anything else, or a crash, aborts.
 */
#include <arpa/inet.h>
#include <errno.h>
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

#define MAX_ARGS	64
#define ERR_LEN		512
#define SEC_MAX_NS	(1000000ull * 1000000000ull)

static const char *fz_arg;

static void
fz_fail(int line, const char *what)
{
	fprintf(stderr, "fuzz_kcsplice_conf:%d: check failed: %s (argument "
	    "\"%s\")\n", line, what, fz_arg != NULL ? fz_arg : "");
	abort();
}

static int
all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i] != 0)
			return 0;
	return 1;
}

static unsigned
port_of(const struct kc_sockaddr *sa)
{
	if (sa->a.sa.sa_family == AF_INET)
		return ntohs(sa->a.in.sin_port);
	if (sa->a.sa.sa_family == AF_INET6)
		return ntohs(sa->a.in6.sin6_port);
	return 1;
}

/* A parsed address: well formed, and reads back the same. */
static void
check_addr(const struct ks_addr *a)
{
	struct ks_addr b;
	char s[256];
	size_t tl;
	int n;

	CHECK(a->kind == KS_TCP || a->kind == KS_UNIX || a->kind == KS_UDP);
	if (a->kind == KS_UNIX)
		CHECK(a->sa.a.sa.sa_family == AF_UNIX);
	else
		CHECK(a->sa.a.sa.sa_family == AF_INET ||
		    a->sa.a.sa.sa_family == AF_INET6);
	CHECK(a->sa.len > 0 && a->sa.len <= sizeof(a->sa.a));
	tl = strnlen(a->text, sizeof(a->text));
	CHECK(tl > 0 && tl < sizeof(a->text));
	for (n = 0; n < (int)tl; n++)
		CHECK((unsigned char)a->text[n] >= 0x20 && a->text[n] != 0x7f);

	/* Its text parses to the very same struct. */
	memset(&b, 0x5a, sizeof(b));
	CHECK(ks_addr_parse(&b, a->text) == 0);
	CHECK(memcmp(a, &b, sizeof(b)) == 0);

	/* Formatted, it parses to the same address; exact room works. */
	n = ks_addr_format(a->kind, &a->sa, s, sizeof(s));
	CHECK(n > 0 && (size_t)n < sizeof(s) && strlen(s) == (size_t)n);
	memset(&b, 0x5a, sizeof(b));
	CHECK(ks_addr_parse(&b, s) == 0);
	CHECK(b.kind == a->kind);
	CHECK(b.sa.len == a->sa.len);
	CHECK(memcmp(&b.sa.a, &a->sa.a, a->sa.len) == 0);
	CHECK(ks_addr_format(a->kind, &a->sa, s, (size_t)n + 1) == n);
	CHECK(ks_addr_format(a->kind, &a->sa, s, (size_t)n) == -ENOSPC);
}

static void
sockaddr_of(struct kc_sockaddr *sa, int family, const uint8_t *addr)
{
	memset(sa, 0, sizeof(*sa));
	if (family == AF_INET) {
		sa->a.in.sin_family = AF_INET;
		memcpy(&sa->a.in.sin_addr, addr, 4);
		sa->len = sizeof(sa->a.in);
	} else {
		sa->a.in6.sin6_family = AF_INET6;
		memcpy(&sa->a.in6.sin6_addr, addr, 16);
		sa->len = sizeof(sa->a.in6);
	}
}

/* A parsed range: in bounds, host bits clear, contains what it should. */
static void
check_cidr(const struct ks_cidr *c)
{
	char text[INET6_ADDRSTRLEN + 8], host[INET6_ADDRSTRLEN];
	uint8_t probe[16];
	struct kc_sockaddr sa;
	struct ks_cidr d;
	unsigned max, bit;

	CHECK(c->family == AF_INET || c->family == AF_INET6);
	max = c->family == AF_INET ? 32 : 128;
	CHECK(c->prefix <= max);
	if (c->family == AF_INET)
		CHECK(all_zero(c->addr + 4, 12));
	for (bit = c->prefix; bit < max; bit++)
		CHECK((c->addr[bit / 8] & (0x80 >> (bit % 8))) == 0);

	/* Its network is in it; so is its last address. */
	sockaddr_of(&sa, c->family, c->addr);
	CHECK(ks_cidr_match(c, &sa));
	memcpy(probe, c->addr, 16);
	for (bit = c->prefix; bit < max; bit++)
		probe[bit / 8] |= (uint8_t)(0x80 >> (bit % 8));
	sockaddr_of(&sa, c->family, probe);
	CHECK(ks_cidr_match(c, &sa));
	/* One network bit flipped: out. */
	if (c->prefix > 0) {
		memcpy(probe, c->addr, 16);
		bit = c->prefix - 1;
		probe[bit / 8] ^= (uint8_t)(0x80 >> (bit % 8));
		sockaddr_of(&sa, c->family, probe);
		CHECK(!ks_cidr_match(c, &sa));
	}
	/* An IPv4 range takes the v4-mapped form of its addresses. */
	if (c->family == AF_INET) {
		memset(probe, 0, 16);
		probe[10] = probe[11] = 0xff;
		memcpy(probe + 12, c->addr, 4);
		sockaddr_of(&sa, AF_INET6, probe);
		CHECK(ks_cidr_match(c, &sa));
	}

	/* Printed back, it parses to the same range. */
	CHECK(inet_ntop(c->family, c->addr, host, sizeof(host)) != NULL);
	snprintf(text, sizeof(text), "%s/%u", host, c->prefix);
	memset(&d, 0x5a, sizeof(d));
	CHECK(ks_cidr_parse(&d, text) == 0);
	CHECK(d.family == c->family && d.prefix == c->prefix);
	CHECK(memcmp(d.addr, c->addr, 16) == 0);
}

/* One argument to each of the small parsers. */
static void
fuzz_one(const char *s)
{
	static const struct ks_cidr zero_cidr;
	struct ks_addr a;
	struct ks_cidr c;
	uint64_t v, w;
	uint32_t pc, pw;
	char text[64];

	fz_arg = s;
	memset(&a, 0xa5, sizeof(a));
	if (ks_addr_parse(&a, s) == 0) {
		CHECK(strcmp(a.text, s) == 0);
		check_addr(&a);
	} else {
		CHECK(all_zero(&a, sizeof(a)));
	}

	memset(&c, 0xa5, sizeof(c));
	if (ks_cidr_parse(&c, s) == 0)
		check_cidr(&c);
	else
		CHECK(memcmp(&c, &zero_cidr, sizeof(c)) == 0);

	v = 0x0123456789abcdefull;
	if (ks_size_parse(&v, s) == 0) {
		snprintf(text, sizeof(text), "%llu", (unsigned long long)v);
		CHECK(ks_size_parse(&w, text) == 0 && w == v);
	} else {
		CHECK(v == 0x0123456789abcdefull);
	}

	v = 0x0123456789abcdefull;
	if (ks_sec_parse(&v, s) == 0) {
		CHECK(v <= SEC_MAX_NS);
		snprintf(text, sizeof(text), "%llu.%09llu",
		    (unsigned long long)(v / 1000000000ull),
		    (unsigned long long)(v % 1000000000ull));
		CHECK(ks_sec_parse(&w, text) == 0 && w == v);
	} else {
		CHECK(v == 0x0123456789abcdefull);
	}

	pc = 0x89abcdefu;
	if (ks_percent_parse(&pc, s) == 0) {
		CHECK(pc <= KS_SAMPLE_ALL);
		snprintf(text, sizeof(text), "%u.%02u%%", pc / 100, pc % 100);
		CHECK(ks_percent_parse(&pw, text) == 0 && pw == pc);
	} else {
		CHECK(pc == 0x89abcdefu);
	}
	fz_arg = NULL;
}

/* --replay or --dump: what each needs, and nothing of the relay's. */
static void
check_tool(const struct ks_conf *c)
{
	unsigned i;

	CHECK(c->mode == KS_MODE_REPLAY || c->mode == KS_MODE_DUMP);
	CHECK(c->listen.kind == 0 && c->upstream.kind == 0);
	CHECK(c->nmirrors == 0 && c->nallow == 0 && c->metrics.kind == 0);
	CHECK(c->config_path[0] == '\0' && !c->check && !c->compare);
	CHECK(c->record_dir[0] == '\0' && c->access_log[0] == '\0' &&
	    c->trace_path[0] == '\0');
	CHECK(c->verbosity >= -1 && c->verbosity <= 1);
	if (c->mode == KS_MODE_DUMP) {
		CHECK(c->dump_path[0] != '\0' && c->replay_path[0] == '\0');
		CHECK(c->replay_to.kind == 0 && c->nignore == 0 &&
		    c->nignore_bytes == 0 && c->report_path[0] == '\0');
		return;
	}
	CHECK(c->replay_path[0] != '\0' && c->dump_path[0] == '\0');
	check_addr(&c->replay_to);
	CHECK(port_of(&c->replay_to.sa) != 0);
	CHECK(c->speed >= 0.001 && c->speed <= 1000.0);
	CHECK(c->timing_recorded || c->speed == 1.0);
	CHECK(c->idle_ns <= SEC_MAX_NS);
	CHECK(c->max_conns <= 1000000000u);
	CHECK(c->nignore <= KS_MAX_IGNORE);
	for (i = 0; i < c->nignore; i++)
		CHECK(c->ignore[i][0] != '\0' &&
		    strnlen(c->ignore[i], sizeof(c->ignore[i])) <
		    sizeof(c->ignore[i]));
	CHECK(c->nignore_bytes <= KS_MAX_IGNORE);
	for (i = 0; i < c->nignore_bytes; i++)
		CHECK(c->ignore_bytes[i].from < c->ignore_bytes[i].to);
}

/* A successful parse: a configuration the tool can run. */
static void
check_conf(const struct ks_conf *c)
{
	bool udp;
	unsigned i;

	CHECK(c->action == KS_RUN || c->action == KS_HELP ||
	    c->action == KS_VERSION);
	if (c->action != KS_RUN)
		return;
	if (c->mode != KS_MODE_RELAY) {
		check_tool(c);
		return;
	}
	CHECK(c->replay_path[0] == '\0' && c->dump_path[0] == '\0');
	CHECK(c->replay_to.kind == 0 && c->nignore == 0 &&
	    c->nignore_bytes == 0 && c->report_path[0] == '\0');
	CHECK(!c->timing_recorded && c->speed == 1.0);
	if (c->listen.kind == 0) {
		/* -f FILE: the operands wait for the file. */
		CHECK(c->config_path[0] != '\0');
		CHECK(all_zero(&c->listen, sizeof(c->listen)));
		CHECK(all_zero(&c->upstream, sizeof(c->upstream)));
	} else {
		check_addr(&c->listen);
		check_addr(&c->upstream);
		CHECK(port_of(&c->upstream.sa) != 0);
	}
	udp = c->listen.kind == KS_UDP;
	if (c->listen.kind != 0)
		CHECK((c->upstream.kind == KS_UDP) == udp);
	CHECK(c->nmirrors <= KS_MAX_MIRRORS);
	for (i = 0; i < c->nmirrors; i++) {
		check_addr(&c->mirrors[i]);
		CHECK((c->mirrors[i].kind == KS_UDP) == udp);
		CHECK(port_of(&c->mirrors[i].sa) != 0);
		/* Its settings, given or the defaults, in range; no comma
		 * left in the address. */
		CHECK(c->mirror_set[i].sample <= KS_SAMPLE_ALL);
		CHECK(c->mirror_set[i].sample_given ||
		    c->mirror_set[i].sample == c->mirror_sample);
		CHECK(c->mirror_set[i].pace_given ||
		    c->mirror_set[i].pace_turns == c->mirror_pace);
		CHECK(!udp || !c->mirror_set[i].pace_turns);
		CHECK(strchr(c->mirrors[i].text, ',') == NULL);
	}
	for (; i < KS_MAX_MIRRORS; i++)
		CHECK(all_zero(&c->mirror_set[i], sizeof(c->mirror_set[i])));
	CHECK(c->mirror_sample <= KS_SAMPLE_ALL);
	CHECK(c->nallow <= KS_MAX_ALLOW);
	for (i = 0; i < c->nallow; i++)
		check_cidr(&c->allow[i]);
	CHECK(c->mirror_budget > 0);
	CHECK(c->mirror_retry_min_ns > 0);
	CHECK(c->mirror_retry_min_ns <= c->mirror_retry_max_ns);
	CHECK(c->mirror_retry_max_ns <= SEC_MAX_NS);
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
	/* --metrics: off, or tcp or unix; on loopback unless public. */
	if (c->metrics.kind != 0) {
		check_addr(&c->metrics);
		CHECK(c->metrics.kind == KS_TCP || c->metrics.kind == KS_UNIX);
		CHECK(c->metrics_public || ks_addr_loopback(&c->metrics.sa));
	} else {
		CHECK(all_zero(&c->metrics, sizeof(c->metrics)));
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[MAX_ARGS + 2], *buf, *err1, *err2, *small;
	struct ks_conf *c1, *c2;
	size_t off, len, smalllen;
	int argc = 0, r1, r2, i;

	/* The input and a NUL; each NUL in it ends an argument. */
	buf = malloc(size + 1);
	c1 = malloc(sizeof(*c1));
	c2 = malloc(sizeof(*c2));
	err1 = malloc(ERR_LEN);
	err2 = malloc(ERR_LEN);
	if (buf == NULL || c1 == NULL || c2 == NULL || err1 == NULL ||
	    err2 == NULL)
		goto out;
	memcpy(buf, data, size);
	buf[size] = '\0';
	argv[argc++] = (char *)"kcsplice";
	for (off = 0; off <= size && argc < MAX_ARGS + 1; off += len + 1) {
		len = strlen(buf + off);
		argv[argc++] = buf + off;
		fuzz_one(buf + off);
	}
	argv[argc] = NULL;

	/* Twice, over different garbage: the same answer. */
	memset(c1, 0xa5, sizeof(*c1));
	memset(c2, 0x5a, sizeof(*c2));
	memset(err1, 'X', ERR_LEN);
	memset(err2, 'Y', ERR_LEN);
	r1 = ks_conf_parse(c1, argc, argv, err1, ERR_LEN);
	r2 = ks_conf_parse(c2, argc, argv, err2, ERR_LEN);
	CHECK(r1 == r2);
	CHECK(memcmp(c1, c2, sizeof(*c1)) == 0);
	check_message(err1, ERR_LEN);
	CHECK(strcmp(err1, err2) == 0);
	if (r1 == 0) {
		CHECK(err1[0] == '\0');
		check_conf(c1);
	} else {
		CHECK(r1 == 64);
		CHECK(err1[0] != '\0');
	}

	/* A buffer of a few bytes, exactly allocated: cut, never overrun. */
	smalllen = 1 + size % 24;
	if ((small = malloc(smalllen)) != NULL) {
		r2 = ks_conf_parse(c2, argc, argv, small, smalllen);
		CHECK(r2 == r1);
		check_message(small, smalllen);
		CHECK(strncmp(small, err1, smalllen - 1) == 0);
		free(small);
	}
	CHECK(ks_conf_parse(c2, argc, argv, NULL, 0) == r1);
	for (i = 0; i < argc; i++)
		CHECK(argv[i] != NULL);
out:
	free(err2);
	free(err1);
	free(c2);
	free(c1);
	free(buf);
	return 0;
}
