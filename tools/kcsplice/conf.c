/*
 * conf.c: kcsplice's command line (conf.h, kcsplice(1)).
 *
 * A hand-written loop rather than getopt_long(3): it keeps no state between
 * calls (getopt's optind, nextchar and permutation are global), it names the
 * offending argument exactly, and it takes long options only by their full
 * names (no abbreviations, so adding an option never breaks a script).
 * Options and operands may come in any order; "--" ends the options.  The
 * first error is kept and the scan goes on, so that --help or --version
 * anywhere wins over a mistake elsewhere on the line.
 *
 * Numbers are parsed digit by digit (no strtoul, no floating point): no
 * sign, no spaces, no base prefix, nothing after the digits but the suffix
 * the value allows, and every step is checked for overflow.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "mirrorhealth.h"

#define NSEC_PER_SEC		1000000000ull
#define KS_SEC_MAX		1000000ull	/* seconds */
#define KS_COUNT_MAX		1000000000u	/* --max-conns, --udp-max-sessions */
#define KS_PIPE_MAX		(1ull << 30)	/* --pipe-size */
#define KS_REC_MIN		(64ull << 10)	/* --record-size, -budget */
#define KS_REC_MAX		(1ull << 40)
#define KS_REC_FILES_MAX	1000000u	/* --record-count */
#define KS_CMP_WIN_MIN		(4ull << 10)	/* --compare-window */
#define KS_CMP_WIN_MAX		(1ull << 30)
#define KS_UNIX_PATH_MAX	107		/* sun_path less its NUL or '@' */

#define KS_EX_USAGE		64		/* sysexits.h's EX_USAGE */

/* How much of an argument a message quotes. */
#define QUOTE_MAX		72

#define ADDR_EXPECTED \
	"expected tcp:HOST:PORT, unix:PATH or udp:HOST:PORT"

enum opt_id {
	O_MIRROR, O_BUDGET, O_CAP, O_POLICY, O_RETRY, O_THREADS, O_MAXCONNS,
	O_METRICS, O_METRICSPUB, O_ALLOW,
	O_IDLE, O_HALFCLOSE, O_UDPSESSION, O_UDPMAX, O_CONNECT, O_STATS,
	O_STATSFMT, O_SHUTDOWN, O_PIPESIZE, O_NOSPLICE, O_TRACE, O_QUIET,
	O_VERBOSE, O_HELP, O_VERSION, O_ACCESSLOG, O_LOGFMT, O_CHECK, O_CONFIG,
	O_RECORD, O_RECSIZE, O_RECCOUNT, O_RECBUDGET,
	O_SAMPLE, O_PACE, O_SAMPLEBY,
	O_COMPARE, O_CMPWINDOW,
	O_REPLAY, O_TO, O_TIMING, O_SPEED, O_IGNORE, O_IGNBYTES, O_REPORT,
	O_DUMP,
	O_NIDS
};
_Static_assert(O_NIDS <= 64, "struct parse's seen is a 64-bit set");

struct opt {
	const char	*name;		/* long name, without "--" */
	char		 letter;	/* short name, or 0 */
	enum opt_id	 id;
	const char	*arg;		/* what the value is, or NULL: a flag */
};

static const struct opt opts[] = {
	{ "mirror",		'm', O_MIRROR,		"ADDR" },
	{ "mirror-budget",	0,   O_BUDGET,		"BYTES" },
	{ "mirror-cap",		0,   O_CAP,		"BYTES" },
	{ "mirror-policy",	0,   O_POLICY,		"detach|drop" },
	{ "mirror-retry",	0,   O_RETRY,		"MIN[:MAX]" },
	{ "mirror-sample",	0,   O_SAMPLE,		"PERCENT" },
	{ "mirror-pace",	0,   O_PACE,		"none|turns" },
	{ "sample-by",		0,   O_SAMPLEBY,	"random|client" },
	{ "threads",		'j', O_THREADS,		"N" },
	{ "max-conns",		0,   O_MAXCONNS,	"N" },
	{ "metrics",		0,   O_METRICS,		"ADDR" },
	{ "metrics-public",	0,   O_METRICSPUB,	NULL },
	{ "allow",		0,   O_ALLOW,		"CIDR" },
	{ "access-log",		0,   O_ACCESSLOG,	"FILE|-" },
	{ "idle-timeout",	0,   O_IDLE,		"SEC" },
	{ "half-close-timeout",	0,   O_HALFCLOSE,	"SEC" },
	{ "udp-session-timeout", 0,  O_UDPSESSION,	"SEC" },
	{ "udp-max-sessions",	0,   O_UDPMAX,		"N" },
	{ "connect-timeout",	0,   O_CONNECT,		"SEC" },
	{ "check",		0,   O_CHECK,		NULL },
	{ "config",		'f', O_CONFIG,		"FILE" },
	{ "stats",		0,   O_STATS,		"SEC" },
	{ "stats-format",	0,   O_STATSFMT,	"text|json" },
	{ "log-format",		0,   O_LOGFMT,		"text|json" },
	{ "shutdown-timeout",	0,   O_SHUTDOWN,	"SEC" },
	{ "pipe-size",		0,   O_PIPESIZE,	"BYTES" },
	{ "no-splice",		0,   O_NOSPLICE,	NULL },
	{ "trace",		0,   O_TRACE,		"FILE" },
	{ "record",		0,   O_RECORD,		"DIR" },
	{ "record-size",	0,   O_RECSIZE,		"BYTES" },
	{ "record-count",	0,   O_RECCOUNT,	"N" },
	{ "record-budget",	0,   O_RECBUDGET,	"BYTES" },
	{ "compare",		0,   O_COMPARE,		NULL },
	{ "compare-window",	0,   O_CMPWINDOW,	"BYTES" },
	{ "replay",		0,   O_REPLAY,		"PATH" },
	{ "to",			0,   O_TO,		"ADDR" },
	{ "timing",		0,   O_TIMING,		"turns|recorded" },
	{ "speed",		0,   O_SPEED,		"X" },
	{ "ignore",		0,   O_IGNORE,		"REGEX" },
	{ "ignore-bytes",	0,   O_IGNBYTES,	"FROM-TO" },
	{ "report",		0,   O_REPORT,		"FILE" },
	{ "dump",		0,   O_DUMP,		"PATH" },
	{ "quiet",		'q', O_QUIET,		NULL },
	{ "verbose",		'v', O_VERBOSE,		NULL },
	{ "help",		'h', O_HELP,		NULL },
	{ "version",		'V', O_VERSION,		NULL },
};
#define NOPTS	(sizeof(opts) / sizeof(opts[0]))

/* One call's state: nothing outlives it. */
struct parse {
	struct ks_conf	*c;
	char		*err;
	size_t		 errlen;
	bool		 failed;	/* err holds the first error */
	enum ks_action	 action;	/* the first --help or --version */
	const char	*operand[2];
	unsigned	 noperands;
	const char	*extra;		/* the first operand past two */
	/* A configuration file (ks_conf_file()): its name, the line being
	 * read (0 on the command line), the line of each operand and
	 * mirror (0: from the command line), and whether the command line
	 * gave a list of its own (it then replaces the file's). */
	const char	*file;
	unsigned	 line;
	unsigned	 operand_line[2];
	unsigned	 mirror_line[KS_MAX_MIRRORS];
	bool		 cmdline;
	bool		 cmd_mirrors, cmd_allow;
	uint64_t	 seen;		/* bit id: the option was given */
};

/* A quoted argument for a message: one line, bounded. */
struct quote {
	char	s[QUOTE_MAX * 4 + 4];
};

static const char *
quote(struct quote *q, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;
	unsigned char ch;

	for (i = 0; s[i] != '\0' && i < QUOTE_MAX; i++) {
		ch = (unsigned char)s[i];
		if (ch < 0x20 || ch == 0x7f) {
			/* Control bytes would break the one line. */
			q->s[o++] = '\\';
			q->s[o++] = 'x';
			q->s[o++] = hex[ch >> 4];
			q->s[o++] = hex[ch & 15];
		} else {
			q->s[o++] = (char)ch;
		}
	}
	if (s[i] != '\0') {
		memcpy(q->s + o, "...", 3);
		o += 3;
	}
	q->s[o] = '\0';
	return q->s;
}

static void fail(struct parse *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Record the first error; the scan goes on. */
static void
fail(struct parse *p, const char *fmt, ...)
{
	struct quote q;
	va_list ap;
	size_t n = 0;
	int k;

	if (p->failed)
		return;
	p->failed = true;
	if (p->err == NULL || p->errlen == 0)
		return;
	if (p->file != NULL && p->line > 0) {
		/* FILE:LINE: first, so that a long message loses its end. */
		k = snprintf(p->err, p->errlen, "%s:%u: ", quote(&q, p->file),
		    p->line);
		n = k < 0 ? 0 : (size_t)k < p->errlen ? (size_t)k :
		    p->errlen - 1;
	}
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - n, fmt, ap);
	va_end(ap);
}

/* A decimal integer from lo to hi: digits only. */
static int
parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	uint64_t v = 0;
	const char *p;

	if (*s == '\0')
		return -EINVAL;
	for (p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > hi)
			return -EINVAL;		/* also stops any overflow */
	}
	if (v < lo)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

int
ks_size_parse(uint64_t *out, const char *s)
{
	uint64_t v = 0, mul = 1, d;
	const char *p;

	if (out == NULL || s == NULL || *s < '0' || *s > '9')
		return -EINVAL;
	for (p = s; *p >= '0' && *p <= '9'; p++) {
		d = (uint64_t)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	switch (*p) {
	case '\0':
		break;
	case 'k': case 'K':
		mul = 1ull << 10;
		p++;
		break;
	case 'm': case 'M':
		mul = 1ull << 20;
		p++;
		break;
	case 'g': case 'G':
		mul = 1ull << 30;
		p++;
		break;
	default:
		return -EINVAL;
	}
	if (*p != '\0' || v > UINT64_MAX / mul)
		return -EINVAL;
	*out = v * mul;
	return 0;
}

int
ks_percent_parse(uint32_t *out, const char *s)
{
	uint32_t v = 0;
	unsigned nfrac = 0;
	const char *p;

	if (out == NULL || s == NULL || *s < '0' || *s > '9')
		return -EINVAL;
	for (p = s; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint32_t)(*p - '0');
		if (v > 100)
			return -EINVAL;		/* also stops any overflow */
	}
	v *= 100;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++) {
			if (++nfrac > 2)
				return -EINVAL;
			v += (uint32_t)(*p - '0') * (nfrac == 1 ? 10 : 1);
		}
		if (nfrac == 0)
			return -EINVAL;
	}
	if (*p == '%')
		p++;
	if (*p != '\0' || v > KS_SAMPLE_ALL)
		return -EINVAL;
	*out = v;
	return 0;
}

int
ks_sec_parse(uint64_t *ns, const char *s)
{
	uint64_t whole = 0, frac = 0;
	unsigned nfrac = 0;
	bool digits = false, rest = false;
	const char *p;

	if (ns == NULL || s == NULL)
		return -EINVAL;
	for (p = s; *p >= '0' && *p <= '9'; p++) {
		digits = true;
		/* Past the limit only "too big" matters: no overflow. */
		if (whole <= KS_SEC_MAX)
			whole = whole * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++) {
			digits = true;
			if (nfrac < 9) {
				frac = frac * 10 + (uint64_t)(*p - '0');
				nfrac++;
			} else if (*p != '0') {
				rest = true;	/* below a nanosecond */
			}
		}
	}
	if (!digits || *p != '\0')
		return -EINVAL;
	for (; nfrac < 9; nfrac++)
		frac *= 10;
	if (whole > KS_SEC_MAX ||
	    (whole == KS_SEC_MAX && (frac != 0 || rest)))
		return -EINVAL;
	/* A fraction of a nanosecond rounds up, so that no positive value
	 * becomes 0 (which means "never" for some options). */
	*ns = whole * NSEC_PER_SEC + frac + (rest ? 1 : 0);
	return 0;
}

/*
 * The address parser proper; *why says what is wrong (for messages).
 * a is zeroed on failure.
 */
static int
addr_parse(struct ks_addr *a, const char *s, const char **why)
{
	char hp[sizeof(a->text)];
	const char *rest, *colon, *q;
	size_t n;
	int r;

	*why = ADDR_EXPECTED;
	memset(a, 0, sizeof(*a));
	if (s == NULL)
		return -EINVAL;
	n = strlen(s);
	for (q = s; *q != '\0'; q++) {
		if ((unsigned char)*q < 0x20 || *q == 0x7f) {
			*why = "control characters are not allowed";
			return -EINVAL;
		}
	}
	if (strncmp(s, "unix:", 5) == 0) {
		a->kind = KS_UNIX;
		r = kc_sockaddr_parse(&a->sa, s);
		if (r == -ENAMETOOLONG)
			*why = "the path is longer than 107 bytes";
	} else {
		if (strncmp(s, "tcp:", 4) == 0)
			a->kind = KS_TCP;
		else if (strncmp(s, "udp:", 4) == 0)
			a->kind = KS_UDP;
		else
			goto bad;
		rest = s + 4;
		/* kc_sockaddr_parse() would take "unix:" here too. */
		if (strncmp(rest, "unix:", 5) == 0)
			goto bad;
		if (strncmp(rest, "localhost:", 10) == 0) {
			if (strlen(rest + 10) > 5)
				goto bad;
			snprintf(hp, sizeof(hp), "127.0.0.1:%s", rest + 10);
			rest = hp;
		}
		r = kc_sockaddr_parse(&a->sa, rest);
		if (r != 0 && rest[0] != '[' &&
		    (colon = strrchr(rest, ':')) != NULL) {
			/* A name where a number should be is worth saying. */
			for (q = rest; q < colon; q++) {
				if ((*q >= 'a' && *q <= 'z') ||
				    (*q >= 'A' && *q <= 'Z')) {
					*why = "HOST must be numeric: an IPv4 "
					    "address, an IPv6 address in "
					    "brackets, or localhost";
					break;
				}
			}
		}
	}
	if (r != 0)
		goto bad;
	if (n >= sizeof(a->text))
		goto bad;		/* cannot happen with a valid address */
	memcpy(a->text, s, n + 1);
	return 0;
bad:
	memset(a, 0, sizeof(*a));
	return -EINVAL;
}

int
ks_addr_parse(struct ks_addr *a, const char *s)
{
	const char *why;

	if (a == NULL)
		return -EINVAL;
	return addr_parse(a, s, &why);
}

static unsigned
addr_port(const struct kc_sockaddr *sa)
{
	switch (sa->a.sa.sa_family) {
	case AF_INET:
		return ntohs(sa->a.in.sin_port);
	case AF_INET6:
		return ntohs(sa->a.in6.sin6_port);
	default:
		return 1;		/* no port to be 0 */
	}
}

int
ks_addr_format(enum ks_kind kind, const struct kc_sockaddr *sa, char *buf,
    size_t size)
{
	const char *prefix;
	size_t pl;
	int family, n;

	if (sa == NULL || buf == NULL)
		return -EINVAL;
	family = sa->a.sa.sa_family;
	switch (kind) {
	case KS_TCP:
	case KS_UDP:
		if (family != AF_INET && family != AF_INET6)
			return -EINVAL;
		prefix = kind == KS_TCP ? "tcp:" : "udp:";
		break;
	case KS_UNIX:
		if (family != AF_UNIX)
			return -EINVAL;
		prefix = "";		/* kc_sockaddr_format() says unix: */
		break;
	default:
		return -EINVAL;
	}
	pl = strlen(prefix);
	if (size <= pl)
		return -ENOSPC;
	memcpy(buf, prefix, pl);
	n = kc_sockaddr_format(sa, buf + pl, size - pl);
	if (n < 0)
		return n;
	return n + (int)pl;
}

static void
clear_host_bits(uint8_t *addr, unsigned prefix, unsigned bits)
{
	unsigned i, keep;

	for (i = 0; i < bits / 8; i++) {
		keep = prefix > i * 8 ? prefix - i * 8 : 0;
		if (keep < 8)
			addr[i] &= (uint8_t)(0xff00u >> keep);
	}
}

int
ks_cidr_parse(struct ks_cidr *c, const char *s)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *hs, *he, *rest;
	unsigned max, prefix;
	size_t hl;

	if (c == NULL)
		return -EINVAL;
	memset(c, 0, sizeof(*c));
	if (s == NULL)
		return -EINVAL;
	if (s[0] == '[') {
		hs = s + 1;
		if ((he = strchr(hs, ']')) == NULL)
			goto bad;
		rest = he + 1;
	} else {
		hs = s;
		he = hs + strcspn(hs, "/");
		rest = he;
	}
	if (*rest != '\0' && *rest != '/')
		goto bad;
	hl = (size_t)(he - hs);
	if (hl == 0 || hl >= sizeof(host))
		goto bad;
	memcpy(host, hs, hl);
	host[hl] = '\0';
	if (memchr(host, ':', hl) != NULL) {
		if (inet_pton(AF_INET6, host, c->addr) != 1)
			goto bad;
		c->family = AF_INET6;
		max = 128;
	} else {
		/* Brackets are for IPv6 only. */
		if (s[0] == '[' || inet_pton(AF_INET, host, c->addr) != 1)
			goto bad;
		c->family = AF_INET;
		max = 32;
	}
	prefix = max;
	if (*rest == '/' && (rest[1] == '\0' ||
	    parse_uint(rest + 1, 0, max, &prefix) != 0))
		goto bad;
	c->prefix = prefix;
	clear_host_bits(c->addr, prefix, max);
	return 0;
bad:
	memset(c, 0, sizeof(*c));
	return -EINVAL;
}

static const uint8_t v4mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

bool
ks_addr_loopback(const struct kc_sockaddr *sa)
{
	const uint8_t *a;

	if (sa == NULL)
		return false;
	switch (sa->a.sa.sa_family) {
	case AF_UNIX:
		return true;
	case AF_INET:
		return ((const uint8_t *)&sa->a.in.sin_addr)[0] == 127;
	case AF_INET6:
		a = (const uint8_t *)&sa->a.in6.sin6_addr;
		if (memcmp(a, v4mapped, 12) == 0)
			return a[12] == 127;
		return memcmp(a, &in6addr_loopback, 16) == 0;
	default:
		return false;
	}
}

/*
 * Ranges and clients are compared as IPv6: an IPv4 address a.b.c.d is
 * ::ffff:a.b.c.d and an IPv4 range /p is ::ffff:a.b.c.d/(96 + p).  So a
 * v4-mapped client matches v4 ranges, a v4 client matches ::ffff:0:0/96,
 * and ::/0 matches everyone.
 */
bool
ks_cidr_match(const struct ks_cidr *c, const struct kc_sockaddr *sa)
{
	uint8_t net[16], host[16];
	unsigned prefix, i, bits;

	if (c == NULL || sa == NULL)
		return false;
	switch (sa->a.sa.sa_family) {
	case AF_INET:
		memcpy(host, v4mapped, 12);
		memcpy(host + 12, &sa->a.in.sin_addr, 4);
		break;
	case AF_INET6:
		memcpy(host, &sa->a.in6.sin6_addr, 16);
		break;
	default:
		return false;
	}
	switch (c->family) {
	case AF_INET:
		if (c->prefix > 32)
			return false;
		memcpy(net, v4mapped, 12);
		memcpy(net + 12, c->addr, 4);
		prefix = 96 + c->prefix;
		break;
	case AF_INET6:
		if (c->prefix > 128)
			return false;
		memcpy(net, c->addr, 16);
		prefix = c->prefix;
		break;
	default:
		return false;
	}
	for (i = 0; i < 16 && prefix > 0; i++) {
		bits = prefix < 8 ? prefix : 8;
		if (((net[i] ^ host[i]) & (uint8_t)(0xff00u >> bits)) != 0)
			return false;
		prefix -= bits;
	}
	return true;
}

static const struct opt *
find_long(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < NOPTS; i++)
		if (strlen(opts[i].name) == len &&
		    memcmp(opts[i].name, name, len) == 0)
			return &opts[i];
	return NULL;
}

static const struct opt *
find_short(char letter)
{
	size_t i;

	for (i = 0; i < NOPTS; i++)
		if (opts[i].letter != 0 && opts[i].letter == letter)
			return &opts[i];
	return NULL;
}

static void
bad_sec(struct parse *p, const struct opt *o, const char *v, bool zero_ok)
{
	struct quote q;

	fail(p, "--%s: '%s' is not a number of seconds from %s to 1000000",
	    o->name, quote(&q, v), zero_ok ? "0" : "0.000000001");
}

static void
set_sec(struct parse *p, const struct opt *o, const char *v, uint64_t *ns,
    bool zero_ok)
{
	uint64_t t;

	if (ks_sec_parse(&t, v) != 0 || (t == 0 && !zero_ok)) {
		bad_sec(p, o, v, zero_ok);
		return;
	}
	*ns = t;
}

static void
set_uint(struct parse *p, const struct opt *o, const char *v, unsigned lo,
    unsigned hi, unsigned *out)
{
	struct quote q;

	if (parse_uint(v, lo, hi, out) != 0)
		fail(p, "--%s: '%s' is not a number from %u to %u", o->name,
		    quote(&q, v), lo, hi);
}

/* MIN or MIN:MAX seconds: 0 < MIN <= MAX; MAX alone defaults to 60 or MIN. */
static void
set_retry(struct parse *p, const struct opt *o, const char *v)
{
	char min[64];
	const char *colon = strchr(v, ':');
	uint64_t lo, hi = MH_MAX_NS_DEFAULT;
	struct quote q;
	size_t n = colon != NULL ? (size_t)(colon - v) : strlen(v);

	if (n >= sizeof(min))
		goto bad;
	memcpy(min, v, n);
	min[n] = '\0';
	if (ks_sec_parse(&lo, min) != 0 || lo == 0)
		goto bad;
	if (colon != NULL) {
		if (ks_sec_parse(&hi, colon + 1) != 0 || hi < lo)
			goto bad;
	} else if (hi < lo) {
		hi = lo;
	}
	p->c->mirror_retry_min_ns = lo;
	p->c->mirror_retry_max_ns = hi;
	return;
bad:
	fail(p, "--%s: '%s' is not MIN or MIN:MAX seconds with 0 < MIN <= "
	    "MAX <= 1000000", o->name, quote(&q, v));
}

/*
 * --mirror's value: ADDR, then its own settings, each after a comma
 * (sample=PERCENT, pace=none|turns; each at most once).  The address
 * ends at the first comma: a UNIX path with a comma in it cannot be a
 * mirror.  0, or -EINVAL with the error recorded and *a zeroed.
 */
static int
mirror_parse(struct parse *p, struct ks_addr *a, struct ks_mirror_set *ms,
    const char *v)
{
	char buf[sizeof(a->text) + 1];
	const char *comma = strchr(v, ','), *set, *end, *eq, *why;
	struct quote q, q2;
	size_t n = comma != NULL ? (size_t)(comma - v) : strlen(v);
	size_t kl, vl;
	char val[16];

	memset(ms, 0, sizeof(*ms));
	if (n >= sizeof(buf)) {
		memset(a, 0, sizeof(*a));
		fail(p, "bad address '%s' for --mirror: %s", quote(&q, v),
		    ADDR_EXPECTED);
		return -EINVAL;
	}
	memcpy(buf, v, n);
	buf[n] = '\0';
	if (addr_parse(a, buf, &why) != 0) {
		fail(p, "bad address '%s' for --mirror: %s", quote(&q, v),
		    why);
		return -EINVAL;
	}
	for (set = comma; set != NULL; set = *end == ',' ? end : NULL) {
		set++;
		end = set + strcspn(set, ",");
		eq = memchr(set, '=', (size_t)(end - set));
		kl = eq != NULL ? (size_t)(eq - set) : (size_t)(end - set);
		vl = eq != NULL ? (size_t)(end - eq - 1) : 0;
		if (eq == NULL || kl == 0 || vl == 0 || vl >= sizeof(val)) {
			snprintf(buf, sizeof(buf), "%.*s",
			    (int)(end - set < QUOTE_MAX ? end - set :
			    QUOTE_MAX), set);
			fail(p, "--mirror '%s': bad setting '%s': expected "
			    "sample=PERCENT or pace=none|turns", quote(&q, v),
			    quote(&q2, buf));
			goto bad;
		}
		memcpy(val, eq + 1, vl);
		val[vl] = '\0';
		if (kl == 6 && memcmp(set, "sample", 6) == 0) {
			if (ms->sample_given) {
				fail(p, "--mirror '%s': sample given twice",
				    quote(&q, v));
				goto bad;
			}
			if (ks_percent_parse(&ms->sample, val) != 0) {
				fail(p, "--mirror '%s': sample '%s' is not a "
				    "percentage from 0 to 100 (at most two "
				    "decimals)", quote(&q, v), quote(&q2, val));
				goto bad;
			}
			ms->sample_given = true;
		} else if (kl == 4 && memcmp(set, "pace", 4) == 0) {
			if (ms->pace_given) {
				fail(p, "--mirror '%s': pace given twice",
				    quote(&q, v));
				goto bad;
			}
			if (strcmp(val, "turns") == 0)
				ms->pace_turns = true;
			else if (strcmp(val, "none") != 0) {
				fail(p, "--mirror '%s': pace '%s' is not none "
				    "or turns", quote(&q, v), quote(&q2, val));
				goto bad;
			}
			ms->pace_given = true;
		} else {
			snprintf(buf, sizeof(buf), "%.*s", (int)(kl <
			    QUOTE_MAX ? kl : QUOTE_MAX), set);
			fail(p, "--mirror '%s': unknown setting '%s' "
			    "(sample=PERCENT, pace=none|turns)", quote(&q, v),
			    quote(&q2, buf));
			goto bad;
		}
	}
	return 0;
bad:
	memset(a, 0, sizeof(*a));
	memset(ms, 0, sizeof(*ms));
	return -EINVAL;
}

/* Each mirror's settings not given take the defaults now in force. */
static void
mirror_defaults(struct ks_conf *c)
{
	unsigned i;

	for (i = 0; i < c->nmirrors; i++) {
		if (!c->mirror_set[i].sample_given)
			c->mirror_set[i].sample = c->mirror_sample;
		if (!c->mirror_set[i].pace_given)
			c->mirror_set[i].pace_turns = c->mirror_pace;
	}
}

/* The modes an option applies in: --replay's and --dump's own, and the
 * few they share with the relay; every other is the relay's alone. */
#define M_RELAY		0x1u
#define M_REPLAY	0x2u
#define M_DUMP		0x4u

static unsigned
opt_modes(enum opt_id id)
{
	switch (id) {
	case O_REPLAY: case O_TO: case O_TIMING: case O_SPEED: case O_IGNORE:
	case O_IGNBYTES: case O_REPORT:
		return M_REPLAY;
	case O_DUMP:
		return M_DUMP;
	case O_IDLE: case O_MAXCONNS:
		return M_RELAY | M_REPLAY;
	case O_QUIET: case O_VERBOSE: case O_HELP: case O_VERSION:
		return M_RELAY | M_REPLAY | M_DUMP;
	default:
		return M_RELAY;
	}
}

/*
 * A speed: digits with at most one '.', from 0.001 to 1000.  No sign, no
 * exponent, no "inf": what strtod() would take besides is refused first.
 */
static int
speed_parse(double *out, const char *s)
{
	const char *t;
	unsigned dots = 0, digits = 0;
	double v;
	char *end;

	for (t = s; *t != '\0'; t++) {
		if (*t == '.')
			dots++;
		else if (*t >= '0' && *t <= '9')
			digits++;
		else
			return -EINVAL;
	}
	if (digits == 0 || dots > 1 || t - s > 32)
		return -EINVAL;
	v = strtod(s, &end);
	if (*end != '\0' || !(v >= 0.001 && v <= 1000.0))
		return -EINVAL;
	*out = v;
	return 0;
}

/* FROM-TO, sizes (suffixes as BYTES), FROM < TO. */
static int
range_parse(uint64_t *from, uint64_t *to, const char *s)
{
	const char *dash = strchr(s, '-');
	uint64_t a, b;
	char lo[32];
	size_t n;

	if (dash == NULL || (n = (size_t)(dash - s)) >= sizeof(lo))
		return -EINVAL;
	memcpy(lo, s, n);
	lo[n] = '\0';
	if (ks_size_parse(&a, lo) != 0 || ks_size_parse(&b, dash + 1) != 0 ||
	    a >= b)
		return -EINVAL;
	*from = a;
	*to = b;
	return 0;
}

/* A size from lo to hi (range: how the message says it) into *out. */
static bool
set_size(struct parse *p, const struct opt *o, const char *v, uint64_t lo,
    uint64_t hi, const char *range, uint64_t *out)
{
	struct quote q;

	if (ks_size_parse(out, v) != 0 || *out < lo || *out > hi) {
		fail(p, "--%s: '%s' is not a size %s (suffixes k, m, g: powers "
		    "of 1024)", o->name, quote(&q, v), range);
		return false;
	}
	return true;
}

/* A path option's value into its buffer (what names it: "a file"). */
static void
set_path(struct parse *p, const struct opt *o, const char *v, char *buf,
    size_t size, const char *what)
{
	if (*v == '\0' || strlen(v) >= size)
		fail(p, "--%s: expected %s (at most %zu bytes)", o->name, what,
		    size - 1);
	else
		snprintf(buf, size, "%s", v);
}

/* One of two words: *flag false for the first, true for the second. */
static void
set_either(struct parse *p, const struct opt *o, const char *v,
    const char *no, const char *yes, bool *flag)
{
	struct quote q;

	if (strcmp(v, no) == 0)
		*flag = false;
	else if (strcmp(v, yes) == 0)
		*flag = true;
	else
		fail(p, "--%s: '%s' is not %s or %s", o->name, quote(&q, v),
		    no, yes);
}

static void
set_option(struct parse *p, const struct opt *o, const char *v)
{

	struct ks_conf *c = p->c;
	struct quote q;
	const char *why;
	uint64_t size;
	unsigned i;

	p->seen |= 1ull << o->id;
	switch (o->id) {
	case O_MIRROR:
		if (p->cmdline && !p->cmd_mirrors) {
			/* The command line's mirrors replace the file's. */
			p->cmd_mirrors = true;
			memset(c->mirrors, 0, sizeof(c->mirrors));
			memset(c->mirror_set, 0, sizeof(c->mirror_set));
			c->nmirrors = 0;
		}
		if (c->nmirrors == KS_MAX_MIRRORS) {
			fail(p, "too many mirrors at '%s': at most %u",
			    quote(&q, v), KS_MAX_MIRRORS);
			return;
		}
		i = c->nmirrors;
		if (mirror_parse(p, &c->mirrors[i], &c->mirror_set[i], v) != 0)
			return;
		if (addr_port(&c->mirrors[i].sa) == 0) {
			memset(&c->mirrors[i], 0, sizeof(c->mirrors[i]));
			memset(&c->mirror_set[i], 0, sizeof(c->mirror_set[i]));
			fail(p, "bad address '%s' for --mirror: port 0 is "
			    "allowed only for LISTEN", quote(&q, v));
			return;
		}
		p->mirror_line[i] = p->line;
		c->nmirrors++;
		break;
	case O_BUDGET:
	case O_CAP:
		if (!set_size(p, o, v, 1, UINT64_MAX, "of 1 byte or more",
		    &size))
			return;
		if (o->id == O_CAP)
			c->mirror_cap = size;
		else
			c->mirror_budget = size;
		break;
	case O_POLICY:
		set_either(p, o, v, "detach", "drop", &c->mirror_drop);
		break;
	case O_RETRY:
		set_retry(p, o, v);
		break;
	case O_SAMPLE:
		if (ks_percent_parse(&c->mirror_sample, v) != 0)
			fail(p, "--%s: '%s' is not a percentage from 0 to 100 "
			    "(at most two decimals)", o->name, quote(&q, v));
		break;
	case O_PACE:
		set_either(p, o, v, "none", "turns", &c->mirror_pace);
		break;
	case O_SAMPLEBY:
		set_either(p, o, v, "random", "client", &c->sample_by_client);
		break;
	case O_THREADS:
		set_uint(p, o, v, 1, KS_MAX_THREADS, &c->threads);
		break;
	case O_MAXCONNS:
		set_uint(p, o, v, 0, KS_COUNT_MAX, &c->max_conns);
		break;
	case O_METRICS:
		if (addr_parse(&c->metrics, v, &why) != 0 ||
		    c->metrics.kind == KS_UDP) {
			memset(&c->metrics, 0, sizeof(c->metrics));
			fail(p, "bad address '%s' for --metrics: %s",
			    quote(&q, v), why != NULL && strcmp(why,
			    ADDR_EXPECTED) != 0 ? why :
			    "expected tcp:HOST:PORT or unix:PATH");
		}
		break;
	case O_METRICSPUB:
		c->metrics_public = true;
		break;
	case O_ALLOW:
		if (p->cmdline && !p->cmd_allow) {
			/* The command line's ranges replace the file's. */
			p->cmd_allow = true;
			memset(c->allow, 0, sizeof(c->allow));
			c->nallow = 0;
		}
		if (c->nallow == KS_MAX_ALLOW) {
			fail(p, "too many --allow ranges at '%s': at most %u",
			    quote(&q, v), KS_MAX_ALLOW);
			return;
		}
		if (ks_cidr_parse(&c->allow[c->nallow], v) != 0) {
			fail(p, "--%s: bad range '%s': expected ADDR or "
			    "ADDR/PREFIX, as in 10.0.0.0/8, 10.1.2.3, ::1/128 "
			    "or [::1]/128", o->name, quote(&q, v));
			return;
		}
		c->nallow++;
		break;
	case O_IDLE:
		set_sec(p, o, v, &c->idle_ns, true);
		break;
	case O_HALFCLOSE:
		set_sec(p, o, v, &c->half_close_ns, true);
		break;
	case O_UDPSESSION:
		set_sec(p, o, v, &c->udp_session_ns, false);
		break;
	case O_UDPMAX:
		set_uint(p, o, v, 1, KS_COUNT_MAX, &c->udp_max_sessions);
		break;
	case O_CONNECT:
		set_sec(p, o, v, &c->connect_ns, false);
		break;
	case O_STATS:
		set_sec(p, o, v, &c->stats_ns, true);
		break;
	case O_STATSFMT:
		set_either(p, o, v, "text", "json", &c->stats_json);
		break;
	case O_LOGFMT:
		set_either(p, o, v, "text", "json", &c->log_json);
		break;
	case O_ACCESSLOG:
		set_path(p, o, v, c->access_log, sizeof(c->access_log),
		    "a file name or -");
		break;
	case O_SHUTDOWN:
		set_sec(p, o, v, &c->shutdown_ns, true);
		break;
	case O_TRACE:
		set_path(p, o, v, c->trace_path, sizeof(c->trace_path),
		    "a file name");
		break;
	case O_RECORD:
		set_path(p, o, v, c->record_dir, sizeof(c->record_dir),
		    "a directory");
		break;
	case O_RECSIZE:
	case O_RECBUDGET:
		if (!set_size(p, o, v, KS_REC_MIN, KS_REC_MAX,
		    "from 64k to 1024g", &size))
			return;
		if (o->id == O_RECSIZE)
			c->record_size = size;
		else
			c->record_budget = size;
		break;
	case O_RECCOUNT:
		set_uint(p, o, v, 1, KS_REC_FILES_MAX, &c->record_count);
		break;
	case O_COMPARE:
		c->compare = true;
		break;
	case O_CMPWINDOW:
		if (set_size(p, o, v, KS_CMP_WIN_MIN, KS_CMP_WIN_MAX,
		    "from 4k to 1g", &size))
			c->compare_window = size;
		break;
	case O_REPLAY:
		set_path(p, o, v, c->replay_path, sizeof(c->replay_path),
		    "a recording file or directory");
		break;
	case O_DUMP:
		set_path(p, o, v, c->dump_path, sizeof(c->dump_path),
		    "a recording file or directory");
		break;
	case O_REPORT:
		set_path(p, o, v, c->report_path, sizeof(c->report_path),
		    "a file name");
		break;
	case O_TO:
		if (addr_parse(&c->replay_to, v, &why) != 0)
			fail(p, "--%s: bad address '%s': %s", o->name,
			    quote(&q, v), why);
		else if (addr_port(&c->replay_to.sa) == 0) {
			memset(&c->replay_to, 0, sizeof(c->replay_to));
			fail(p, "--%s: '%s': port 0 is no server's", o->name,
			    quote(&q, v));
		}
		break;
	case O_TIMING:
		set_either(p, o, v, "turns", "recorded", &c->timing_recorded);
		break;
	case O_SPEED:
		if (speed_parse(&c->speed, v) != 0)
			fail(p, "--%s: '%s' is not a speed from 0.001 to 1000 "
			    "(1: as recorded, 2: twice as fast)", o->name,
			    quote(&q, v));
		break;
	case O_IGNORE:
		if (c->nignore == KS_MAX_IGNORE)
			fail(p, "--%s: at most %u expressions", o->name,
			    KS_MAX_IGNORE);
		else if (*v == '\0' || strlen(v) >= sizeof(c->ignore[0]))
			fail(p, "--%s: expected a regular expression (at most "
			    "%zu bytes)", o->name, sizeof(c->ignore[0]) - 1);
		else
			snprintf(c->ignore[c->nignore++], sizeof(c->ignore[0]),
			    "%s", v);
		break;
	case O_IGNBYTES:
		if (c->nignore_bytes == KS_MAX_IGNORE)
			fail(p, "--%s: at most %u ranges", o->name,
			    KS_MAX_IGNORE);
		else if (range_parse(&c->ignore_bytes[c->nignore_bytes].from,
		    &c->ignore_bytes[c->nignore_bytes].to, v) != 0)
			fail(p, "--%s: '%s' is not FROM-TO, byte offsets with "
			    "FROM below TO (suffixes k, m, g)", o->name,
			    quote(&q, v));
		else
			c->nignore_bytes++;
		break;
	case O_NIDS:		/* not an option */
		break;
	case O_PIPESIZE:
		if (set_size(p, o, v, 1, KS_PIPE_MAX, "from 1 byte to 1G",
		    &size))
			c->pipe_size = (size_t)size;
		break;
	case O_NOSPLICE:
		c->no_splice = true;
		break;
	case O_QUIET:
		c->verbosity = -1;
		break;
	case O_VERBOSE:
		c->verbosity = 1;
		break;
	case O_HELP:
		if (p->action == KS_RUN)
			p->action = KS_HELP;
		break;
	case O_VERSION:
		if (p->action == KS_RUN)
			p->action = KS_VERSION;
		break;
	case O_CHECK:
		c->check = true;
		break;
	case O_CONFIG:
		set_path(p, o, v, c->config_path, sizeof(c->config_path),
		    "a file name");
		break;
	}
}

static void
operand(struct parse *p, const char *s)
{
	if (p->noperands < 2)
		p->operand[p->noperands] = s;
	else if (p->extra == NULL)
		p->extra = s;
	p->noperands++;
}

/* "--name", "--name=value" or "--name value"; returns the args used. */
static int
long_option(struct parse *p, int argc, char *const argv[], int i)
{
	const char *arg = argv[i] + 2, *eq;
	const struct opt *o;
	struct quote q;
	size_t len;

	eq = strchr(arg, '=');
	len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
	if ((o = find_long(arg, len)) == NULL) {
		char name[QUOTE_MAX + 3];

		snprintf(name, sizeof(name), "--%.*s",
		    (int)(len < QUOTE_MAX ? len : QUOTE_MAX), arg);
		fail(p, "unknown option '%s'; see kcsplice --help",
		    quote(&q, name));
		return 1;
	}
	if (o->arg == NULL) {
		if (eq != NULL)
			fail(p, "option '--%s' takes no value", o->name);
		else
			set_option(p, o, NULL);
		return 1;
	}
	if (eq != NULL) {
		set_option(p, o, eq + 1);
		return 1;
	}
	if (i + 1 >= argc || argv[i + 1] == NULL) {
		fail(p, "option '--%s' needs a value (%s); see kcsplice --help",
		    o->name, o->arg);
		return 1;
	}
	set_option(p, o, argv[i + 1]);
	return 2;
}

/* "-qv", "-j4", "-j 4", "-qm ADDR"; returns the args used. */
static int
short_options(struct parse *p, int argc, char *const argv[], int i)
{
	const char *s = argv[i] + 1;
	const struct opt *o;
	struct quote q;
	char name[3];

	for (; *s != '\0'; s++) {
		if ((o = find_short(*s)) == NULL) {
			name[0] = '-';
			name[1] = *s;
			name[2] = '\0';
			fail(p, "unknown option '%s'; see kcsplice --help",
			    quote(&q, name));
			continue;
		}
		if (o->arg == NULL) {
			set_option(p, o, NULL);
			continue;
		}
		if (s[1] != '\0') {
			set_option(p, o, s + 1);
			return 1;
		}
		if (i + 1 >= argc || argv[i + 1] == NULL) {
			fail(p, "option '-%c' (--%s) needs a value (%s); "
			    "see kcsplice --help", o->letter, o->name, o->arg);
			return 1;
		}
		set_option(p, o, argv[i + 1]);
		return 2;
	}
	return 1;
}

static void
set_defaults(struct ks_conf *c)
{
	long ncpu;

	memset(c, 0, sizeof(*c));
	c->action = KS_RUN;
	c->mirror_budget = 1ull << 30;
	c->mirror_sample = KS_SAMPLE_ALL;
	c->mirror_retry_min_ns = MH_MIN_NS_DEFAULT;
	c->mirror_retry_max_ns = MH_MAX_NS_DEFAULT;
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu < 1)
		ncpu = 1;
	if (ncpu > KS_MAX_THREADS)
		ncpu = KS_MAX_THREADS;
	c->threads = (unsigned)ncpu;
	c->max_conns = 10000;
	c->idle_ns = 300 * NSEC_PER_SEC;
	c->half_close_ns = 60 * NSEC_PER_SEC;
	c->udp_session_ns = 60 * NSEC_PER_SEC;
	c->udp_max_sessions = 4096;
	c->connect_ns = 10 * NSEC_PER_SEC;
	c->shutdown_ns = 10 * NSEC_PER_SEC;
	c->record_size = 256ull << 20;
	c->record_count = 16;
	c->record_budget = 64ull << 20;
	c->compare_window = 1ull << 20;
	c->speed = 1.0;
}

static void
operand_addr(struct parse *p, struct ks_addr *a, const char *s,
    const char *role, bool port0_ok)
{
	struct quote q;
	const char *why;

	if (addr_parse(a, s, &why) != 0) {
		fail(p, "bad address '%s' for %s: %s", quote(&q, s), role, why);
		return;
	}
	if (!port0_ok && addr_port(&a->sa) == 0) {
		memset(a, 0, sizeof(*a));
		fail(p, "bad address '%s' for %s: port 0 is allowed only for "
		    "LISTEN", quote(&q, s), role);
	}
}

/* udp on every side, or on none. */
static void
check_mixing(struct parse *p)
{
	const struct ks_conf *c = p->c;
	bool udp = c->listen.kind == KS_UDP;
	struct quote q1, q2;
	unsigned i;

	/* An address's text is as it was given. */
	if ((c->upstream.kind == KS_UDP) != udp) {
		p->line = p->operand_line[1];
		fail(p, "cannot mix udp with tcp/unix: LISTEN '%s', UPSTREAM "
		    "'%s'", quote(&q1, c->listen.text),
		    quote(&q2, c->upstream.text));
		return;
	}
	if (udp && c->compare) {
		fail(p, "--compare compares TCP and UNIX connections' replies, "
		    "not UDP sessions' (LISTEN '%s')",
		    quote(&q1, c->listen.text));
		return;
	}
	for (i = 0; i < c->nmirrors; i++) {
		if ((c->mirrors[i].kind == KS_UDP) != udp) {
			p->line = p->mirror_line[i];
			fail(p, "cannot mix udp with tcp/unix: LISTEN '%s', "
			    "--mirror '%s'", quote(&q1, c->listen.text),
			    quote(&q2, c->mirrors[i].text));
			return;
		}
		if (udp && c->mirror_set[i].pace_turns) {
			p->line = p->mirror_line[i];
			fail(p, "--mirror '%s': pace=turns is for tcp and unix "
			    "mirrors (a udp mirror has no turns)",
			    quote(&q2, c->mirrors[i].text));
			return;
		}
	}
}

/* ------------------------------------------------------------------ */
/* The configuration file: the same options, one a line. */

static bool
blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

/* A "listen ADDR" or "upstream ADDR" line. */
static void
file_operand(struct parse *p, unsigned which, const char *v)
{
	static const char *const names[2] = { "listen", "upstream" };
	struct ks_addr *a = which == 0 ? &p->c->listen : &p->c->upstream;

	if (p->operand_line[which] != 0) {
		fail(p, "'%s' given twice (first at line %u)", names[which],
		    p->operand_line[which]);
		return;
	}
	p->operand_line[which] = p->line;
	operand_addr(p, a, v, which == 0 ? "LISTEN" : "UPSTREAM",
	    which == 0);
}

/*
 * One line, NUL-terminated, without its newline: NAME, NAME VALUE or
 * NAME=VALUE (blanks around '=' allowed), a comment from a '#' at the
 * start or after a blank, blank lines.  The value is the rest of the line,
 * blanks at its ends removed.
 */
static void
file_line(struct parse *p, char *s)
{
	const struct opt *o;
	struct quote q;
	char *name, *v, *e;
	size_t nlen;

	while (blank(*s))
		s++;
	for (e = s; *e != '\0'; e++)
		if (*e == '#' && (e == s || blank(e[-1])))
			break;
	while (e > s && blank(e[-1]))
		e--;
	*e = '\0';
	if (*s == '\0')
		return;
	name = s;
	while (*s != '\0' && !blank(*s) && *s != '=')
		s++;
	nlen = (size_t)(s - name);
	while (blank(*s))
		s++;
	if (*s == '=') {
		s++;
		while (blank(*s))
			s++;
	}
	v = s;
	name[nlen] = '\0';
	if (nlen == 0) {
		fail(p, "expected NAME, NAME VALUE or NAME=VALUE");
		return;
	}
	if (strcmp(name, "listen") == 0 || strcmp(name, "upstream") == 0) {
		if (*v == '\0')
			fail(p, "'%s' needs a value (ADDR)", name);
		else
			file_operand(p, name[0] == 'l' ? 0 : 1, v);
		return;
	}
	if ((o = find_long(name, nlen)) == NULL) {
		fail(p, "unknown option '%s'; see kcsplice --help",
		    quote(&q, name));
		return;
	}
	if (o->id == O_HELP || o->id == O_VERSION || o->id == O_CHECK ||
	    o->id == O_CONFIG || (opt_modes(o->id) & M_RELAY) == 0) {
		fail(p, "'%s' belongs on the command line, not in a file",
		    o->name);
		return;
	}
	if (o->arg == NULL) {
		if (*v != '\0')
			fail(p, "'%s' takes no value", o->name);
		else
			set_option(p, o, NULL);
		return;
	}
	if (*v == '\0') {
		fail(p, "'%s' needs a value (%s)", o->name, o->arg);
		return;
	}
	set_option(p, o, v);
}

static void
file_text(struct parse *p, const char *text, size_t len)
{
	char line[KS_LINE_MAX + 1];
	const char *s = text, *end = text + len, *nl, *nul;
	size_t n;

	p->line = 0;
	if (len > KS_FILE_MAX) {
		struct quote q;

		fail(p, "%s: larger than %u bytes", quote(&q, p->file),
		    KS_FILE_MAX);
		return;
	}
	if ((nul = memchr(text, '\0', len)) != NULL) {
		/* Not text: say where, and read no line of it. */
		for (p->line = 1, s = text; s < nul; s++)
			if (*s == '\n')
				p->line++;
		fail(p, "a NUL byte: not a text file");
		return;
	}
	while (s < end) {
		p->line++;
		nl = memchr(s, '\n', (size_t)(end - s));
		n = (size_t)((nl != NULL ? nl : end) - s);
		if (n > KS_LINE_MAX) {
			fail(p, "a line longer than %u bytes", KS_LINE_MAX);
		} else {
			memcpy(line, s, n);
			line[n] = '\0';
			file_line(p, line);
		}
		s = nl != NULL ? nl + 1 : end;
	}
	p->line = 0;
}

/* Every option given applies in the mode (named "--NAME", or NULL for
 * the relay). */
static void
check_modes(struct parse *p, unsigned mode, const char *name)
{
	unsigned i;

	for (i = 0; i < NOPTS && !p->failed; i++) {
		if ((p->seen & (1ull << opts[i].id)) == 0 ||
		    (opt_modes(opts[i].id) & mode) != 0)
			continue;
		if (name != NULL)
			fail(p, "--%s does not apply with --%s", opts[i].name,
			    name);
		else
			fail(p, "--%s applies only with --%s", opts[i].name,
			    (opt_modes(opts[i].id) & M_REPLAY) != 0 ?
			    "replay" : "dump");
	}
}

/* --replay or --dump: no operands, no relay options, and what each
 * needs. */
static int
parse_tool(struct parse *p)
{
	struct ks_conf *c = p->c;
	const char *name;
	struct quote q;

	if (c->replay_path[0] != '\0' && c->dump_path[0] != '\0')
		fail(p, "--replay and --dump: give one of them");
	c->mode = c->replay_path[0] != '\0' ? KS_MODE_REPLAY : KS_MODE_DUMP;
	name = c->mode == KS_MODE_REPLAY ? "replay" : "dump";
	if (!p->failed && p->noperands > 0)
		fail(p, "--%s takes no LISTEN or UPSTREAM ('%s')", name,
		    quote(&q, p->operand[0]));
	if (!p->failed)
		check_modes(p, c->mode == KS_MODE_REPLAY ? M_REPLAY : M_DUMP,
		    name);
	if (!p->failed && c->mode == KS_MODE_REPLAY &&
	    c->replay_to.kind == 0)
		fail(p, "--replay needs --to ADDR, the server to replay "
		    "against");
	if (!p->failed && c->mode == KS_MODE_REPLAY && c->speed != 1.0 &&
	    !c->timing_recorded)
		fail(p, "--speed applies only with --timing recorded");
	if (c->mode == KS_MODE_REPLAY) {
		if ((p->seen & (1ull << O_IDLE)) == 0)
			c->idle_ns = 10 * NSEC_PER_SEC;
		if ((p->seen & (1ull << O_MAXCONNS)) == 0)
			c->max_conns = 256;
	}
	return p->failed ? KS_EX_USAGE : 0;
}

/*
 * The file's text (file != NULL) with the command line on top, or the
 * command line alone.
 */
static int
parse_all(struct ks_conf *c, int argc, char *const argv[], const char *file,
    const char *text, size_t len, char *err, size_t errlen)
{
	struct parse p;
	struct quote q;
	bool options = true;
	const char *a;
	int i;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (c == NULL) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "no configuration to fill");
		return KS_EX_USAGE;
	}
	set_defaults(c);
	memset(&p, 0, sizeof(p));
	p.c = c;
	p.err = err;
	p.errlen = errlen;
	p.action = KS_RUN;
	if (argv == NULL)
		argc = 0;
	if (file != NULL) {
		p.file = file;
		if (text == NULL && len > 0)
			fail(&p, "%s: no text", file);
		else if (text != NULL)
			file_text(&p, text, len);
	}

	p.cmdline = true;
	for (i = 1; i < argc && argv[i] != NULL; ) {
		a = argv[i];
		if (options && a[0] == '-' && a[1] == '-' && a[2] == '\0') {
			options = false;
			i++;
		} else if (options && a[0] == '-' && a[1] == '-') {
			i += long_option(&p, argc, argv, i);
		} else if (options && a[0] == '-' && a[1] != '\0') {
			i += short_options(&p, argc, argv, i);
		} else {
			operand(&p, a);
			i++;
		}
	}

	mirror_defaults(c);
	if (p.action != KS_RUN) {
		/* --help and --version win over any mistake. */
		if (err != NULL && errlen > 0)
			err[0] = '\0';
		c->action = p.action;
		return 0;
	}
	if (c->replay_path[0] != '\0' || c->dump_path[0] != '\0')
		return parse_tool(&p);
	if (!p.failed && c->config_path[0] != '\0' && p.noperands == 1)
		fail(&p, "with --config, give LISTEN and UPSTREAM both on the "
		    "command line or both in the file ('listen' and "
		    "'upstream' lines)");
	if (!p.failed && c->config_path[0] != '\0' && p.noperands == 0 &&
	    file == NULL) {
		/* The operands may be in the file, read later. */
		return 0;
	}
	if (!p.failed && p.noperands == 0 && file != NULL) {
		/* The file's, parsed as they came. */
		if (p.operand_line[0] == 0 || p.operand_line[1] == 0)
			fail(&p, "%s: no '%s' line, and no LISTEN and UPSTREAM "
			    "on the command line", quote(&q, file),
			    p.operand_line[0] == 0 ? "listen" : "upstream");
		if (!p.failed)
			check_mixing(&p);
		return p.failed ? KS_EX_USAGE : 0;
	}
	if (!p.failed) {
		if (p.noperands == 0)
			fail(&p, "missing LISTEN and UPSTREAM addresses; see "
			    "kcsplice --help");
		else if (p.noperands == 1)
			fail(&p, "missing UPSTREAM address after '%s'; see "
			    "kcsplice --help", quote(&q, p.operand[0]));
		else if (p.noperands > 2)
			fail(&p, "unexpected operand '%s': only LISTEN and "
			    "UPSTREAM are given", quote(&q, p.extra));
	}
	if (!p.failed) {
		/* The command line's replace the file's. */
		p.operand_line[0] = p.operand_line[1] = 0;
		operand_addr(&p, &c->listen, p.operand[0], "LISTEN", true);
		operand_addr(&p, &c->upstream, p.operand[1], "UPSTREAM",
		    false);
	}
	if (!p.failed)
		check_mixing(&p);
	if (!p.failed)
		check_modes(&p, M_RELAY, NULL);
	if (!p.failed && c->metrics.kind == KS_TCP && !c->metrics_public &&
	    !ks_addr_loopback(&c->metrics.sa))
		fail(&p, "--metrics: '%s' is not a loopback address; add "
		    "--metrics-public to serve the metrics there",
		    quote(&q, c->metrics.text));
	return p.failed ? KS_EX_USAGE : 0;
}

int
ks_conf_parse(struct ks_conf *c, int argc, char *const argv[], char *err,
    size_t errlen)
{
	return parse_all(c, argc, argv, NULL, NULL, 0, err, errlen);
}

int
ks_conf_file(struct ks_conf *c, int argc, char *const argv[],
    const char *file, const char *text, size_t len, char *err, size_t errlen)
{
	return parse_all(c, argc, argv, file != NULL ? file : "(config)",
	    text, len, err, errlen);
}

void
ks_usage(FILE *f)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	if (ncpu < 1)
		ncpu = 1;
	if (ncpu > KS_MAX_THREADS)
		ncpu = KS_MAX_THREADS;
	fprintf(f,
"usage: kcsplice [options] LISTEN UPSTREAM\n"
"       kcsplice [options] -f FILE [LISTEN UPSTREAM]\n"
"       kcsplice --replay PATH --to ADDR [replay options]\n"
"       kcsplice [-v] --dump PATH\n"
"\n"
"Relay each connection (or UDP session) accepted on LISTEN to UPSTREAM, and\n"
"copy every byte a client sends to each mirror; what mirrors send back is\n"
"read and thrown away, and a mirror never slows the primary.\n"
"\n"
"Addresses (LISTEN, UPSTREAM, --mirror):\n"
"  tcp:HOST:PORT   HOST an IPv4 address (127.0.0.1), an IPv6 address in\n"
"                  brackets ([::1]) or localhost; PORT 1 to 65535 (0 for\n"
"                  LISTEN: any free port)\n"
"  unix:PATH       a UNIX stream socket; unix:@NAME: abstract namespace\n"
"  udp:HOST:PORT   as tcp; udp on every side or on none\n"
"\n"
"Options:\n"
"  -m, --mirror ADDR[,SET...]   mirror client-to-upstream bytes to ADDR\n"
"                               (repeatable, at most %u); its own settings:\n"
"                               sample=PERCENT, pace=none|turns\n"
"      --mirror-budget BYTES    bytes a mirror may lag the primary\n"
"                               (default 1G)\n"
"      --mirror-cap BYTES       bytes all mirrors together may lag\n"
"                               (default: a quarter of physical memory)\n"
"      --mirror-policy detach|drop\n"
"                               past the budget or the cap, detach the\n"
"                               mirror or drop what does not fit (default\n"
"                               detach)\n"
"      --mirror-retry MIN[:MAX] a mirror that cannot be reached is\n"
"                               skipped, and tried again after MIN seconds,\n"
"                               doubling up to MAX (default 1:60)\n"
"      --mirror-sample PERCENT  the share of connections (or UDP sessions)\n"
"                               a mirror takes, whole (default 100)\n"
"      --sample-by random|client\n"
"                               choose them at random, or by client\n"
"                               address: always in or always out\n"
"                               (default random)\n"
"      --mirror-pace none|turns give a mirror each client turn only once\n"
"                               it answered the last, for protocols that\n"
"                               negotiate (PostgreSQL) (default none)\n"
"  -j, --threads N              threads, 1 to %u (default: online CPUs, "
"here %ld)\n"
"      --max-conns N            concurrent connections, 0 = no cap\n"
"                               (default 10000)\n"
"      --metrics ADDR           serve Prometheus metrics over HTTP at\n"
"                               ADDR/metrics (tcp: on loopback, or unix:)\n"
"      --metrics-public         allow --metrics on an address that is not\n"
"                               loopback\n"
"      --allow CIDR             let in only TCP and UDP clients in these\n"
"                               ranges (repeatable, at most %u; default:\n"
"                               everyone); 10.0.0.0/8, 10.1.2.3, ::1/128\n"
"      --idle-timeout SEC       end a connection silent both ways for SEC,\n"
"                               0 = never (default 300)\n"
"      --half-close-timeout SEC after one direction ended, the other may go\n"
"                               on SEC more, 0 = forever (default 60)\n"
"      --udp-session-timeout SEC\n"
"                               end a UDP session silent for SEC\n"
"                               (default 60)\n"
"      --udp-max-sessions N     UDP sessions at once (default 4096)\n"
"      --connect-timeout SEC    upstream connect limit (default 10)\n"
"      --stats SEC              a stats line on stderr every SEC, 0 = off\n"
"                               (default 0)\n"
"      --stats-format text|json (default text)\n"
"      --log-format text|json   log lines (and the access log) as text or\n"
"                               one JSON object a line (default text)\n"
"      --access-log FILE|-      a line per finished connection to FILE\n"
"                               (mode 0640, reopened on SIGUSR2) or stdout\n"
"      --shutdown-timeout SEC   after SIGINT or SIGTERM, let connections\n"
"                               finish for SEC (default 10)\n"
"      --pipe-size BYTES        splice pipe size, up to 1G (default: the\n"
"                               largest allowed)\n"
"      --no-splice              copy through user space only (no splice or\n"
"                               tee)\n"
"      --trace FILE             trace every thread into FILE (mode 0600);\n"
"                               read it with kcdump(1)\n"
"      --record DIR             record every connection and UDP session,\n"
"                               both ways, with the time of each read, in\n"
"                               files in DIR (kcsplice-record(5)); never\n"
"                               slows the primary\n"
"      --record-size BYTES      start a new file past BYTES (default 256m)\n"
"      --record-count N         keep the newest N files of each worker\n"
"                               (default 16)\n"
"      --record-budget BYTES    bytes a worker's recording may hold not yet\n"
"                               written; past it a connection's recording\n"
"                               stops, marked incomplete (default 64m)\n"
"      --compare                compare each mirror's replies with the\n"
"                               upstream's, per connection: matched,\n"
"                               diverged (logged) or not compared\n"
"      --compare-window BYTES   bytes a connection may hold for it, waiting\n"
"                               for the slower side (default 1m)\n"
"\n"
"Replaying and printing recordings (PATH: a file or a directory of them):\n"
"      --replay PATH            play the recorded client streams against\n"
"                               --to and report whether the replies match\n"
"                               the recorded ones (exit 0: all matched)\n"
"      --to ADDR                the server to replay against (tcp:, udp:\n"
"                               or unix:; the recording says which\n"
"                               sessions are UDP)\n"
"      --timing turns|recorded  send each turn once the last was answered,\n"
"                               or at the recorded times (default turns)\n"
"      --speed X                with --timing recorded: X times as fast\n"
"                               (default 1)\n"
"      --ignore REGEX           leave out of the comparison what matches\n"
"                               (POSIX extended; repeatable, at most %u)\n"
"      --ignore-bytes FROM-TO   leave out these offsets of each connection's\n"
"                               replies (repeatable, at most %u)\n"
"      --report FILE            write the results as JSON to FILE too\n"
"      --idle-timeout SEC, --max-conns N\n"
"                               with --replay: a connection silent both\n"
"                               ways ends (default 10); connections at\n"
"                               once, 0 = all (default 256)\n"
"      --dump PATH              print a recording, a line per record; with\n"
"                               -v, the bytes too\n"
"\n"
"  -f, --config FILE            read options from FILE too, one a line\n"
"                               (NAME VALUE, listen ADDR, upstream ADDR,\n"
"                               # comments); the command line wins;\n"
"                               SIGHUP reads it again\n"
"      --check                  check the configuration, print\n"
"                               \"configuration ok\" or the error, exit\n"
"  -q, --quiet                  log only errors\n"
"  -v, --verbose                log each connection opened and closed\n"
"  -h, --help                   print this help and exit\n"
"  -V, --version                print the version and exit\n"
"\n"
"SEC takes decimals (0.5) up to 1000000; BYTES takes the suffixes k, m\n"
"and g (powers of 1024); N is a decimal integer.  A long option's value\n"
"may follow it or an '=' (--threads=4).  SIGUSR1 prints a stats line at\n"
"once; SIGHUP re-reads -f FILE; SIGUSR2 reopens the access log; SIGINT\n"
"or SIGTERM stops after a drain, a second one at once.\n"
"See kcsplice(1).\n",
	    KS_MAX_MIRRORS, KS_MAX_THREADS, ncpu, KS_MAX_ALLOW, KS_MAX_IGNORE,
	    KS_MAX_IGNORE);
}
