/*
 * opts.c: kcnbd's command line (opts.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "opts.h"

struct parse {
	struct kn_opts	*o;
	char		*err;
	size_t		 errlen;
	bool		 failed;
};

static void fail(struct parse *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
fail(struct parse *p, const char *fmt, ...)
{
	va_list ap;
	char *s;

	if (p->failed)
		return;
	p->failed = true;
	va_start(ap, fmt);
	if (p->errlen > 0)
		vsnprintf(p->err, p->errlen, fmt, ap);
	va_end(ap);
	/* Arguments quoted in it may hold anything: one line, always. */
	for (s = p->err; p->errlen > 0 && *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* Anything but a printable byte makes a log line two. */
static bool
printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static int
parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return -EINVAL;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > hi)
			return -EINVAL;
	}
	if (v < lo)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

/* NAME=PATH or NAME=PATH:ro */
static void
export_operand(struct parse *p, const char *s)
{
	struct kn_opts *o = p->o;
	struct kn_export_opt *e;
	const char *eq = strchr(s, '=');
	size_t nl, pl;
	unsigned i;

	if (eq == NULL || eq == s) {
		fail(p, "%.64s: an export is NAME=PATH or NAME=PATH:ro", s);
		return;
	}
	if (o->nexports == KN_MAX_EXPORTS) {
		fail(p, "more than %u exports", KN_MAX_EXPORTS);
		return;
	}
	if (!printable(s)) {
		fail(p, "an export may not hold control characters");
		return;
	}
	nl = (size_t)(eq - s);
	if (nl > KN_NAME_MAX) {
		fail(p, "an export name is at most %u bytes", KN_NAME_MAX);
		return;
	}
	e = &o->exports[o->nexports];
	memset(e, 0, sizeof(*e));
	memcpy(e->name, s, nl);
	pl = strlen(eq + 1);
	if (pl >= 3 && strcmp(eq + 1 + pl - 3, ":ro") == 0) {
		e->ro = true;
		pl -= 3;
	}
	if (pl == 0 || pl >= sizeof(e->path)) {
		fail(p, "export %s: the path is empty or too long", e->name);
		return;
	}
	memcpy(e->path, eq + 1, pl);
	for (i = 0; i < o->nexports; i++) {
		if (strcmp(o->exports[i].name, e->name) == 0) {
			fail(p, "export %s is named twice", e->name);
			return;
		}
	}
	o->nexports++;
}

/* One option with its value (v NULL when it takes none). */
static void
option(struct parse *p, const char *name, const char *v)
{
	struct kn_opts *o = p->o;
	uint64_t u;

	if (strcmp(name, "listen") == 0) {
		if (o->nlisten == KN_MAX_LISTEN)
			fail(p, "more than %u listening addresses",
			    KN_MAX_LISTEN);
		else if (ks_addr_parse(&o->listen[o->nlisten], v) != 0 ||
		    o->listen[o->nlisten].kind == KS_UDP)
			fail(p, "-l %.64s: expected tcp:HOST:PORT or "
			    "unix:PATH", v);
		else
			o->nlisten++;
	} else if (strcmp(name, "allow") == 0) {
		char buf[128];
		const char *s = v, *comma;

		/* A comma-separated list, or the option repeated. */
		while (!p->failed) {
			size_t n;

			comma = strchr(s, ',');
			n = comma != NULL ? (size_t)(comma - s) : strlen(s);
			if (n >= sizeof(buf) || o->nallow == KN_MAX_ALLOW) {
				fail(p, "--allow: too many or too long ranges");
				break;
			}
			memcpy(buf, s, n);
			buf[n] = '\0';
			if (ks_cidr_parse(&o->allow[o->nallow], buf) != 0) {
				fail(p, "--allow %.64s: expected ADDRESS or "
				    "ADDRESS/PREFIX", buf);
				break;
			}
			o->nallow++;
			if (comma == NULL)
				break;
			s = comma + 1;
		}
	} else if (strcmp(name, "threads") == 0) {
		if (parse_uint(v, 1, KN_MAX_THREADS, &o->threads) != 0)
			fail(p, "-j %.32s: expected 1 to %u", v,
			    KN_MAX_THREADS);
	} else if (strcmp(name, "max-conns") == 0) {
		if (parse_uint(v, 0, 1000000, &o->max_conns) != 0)
			fail(p, "--max-conns %.32s: expected 0 to 1000000", v);
	} else if (strcmp(name, "max-payload") == 0) {
		if (ks_size_parse(&u, v) != 0 || u < KN_PAYLOAD_MIN ||
		    u > KN_PAYLOAD_MAX)
			fail(p, "--max-payload %.32s: expected 64k to 256m",
			    v);
		else
			o->max_payload = (uint32_t)u;
	} else if (strcmp(name, "stats") == 0) {
		if (ks_sec_parse(&o->stats_ns, v) != 0)
			fail(p, "--stats %.32s: expected seconds", v);
	} else if (strcmp(name, "shutdown-timeout") == 0) {
		if (ks_sec_parse(&o->shutdown_ns, v) != 0)
			fail(p, "--shutdown-timeout %.32s: expected seconds",
			    v);
	} else if (strcmp(name, "handshake-timeout") == 0) {
		if (ks_sec_parse(&o->handshake_ns, v) != 0)
			fail(p, "--handshake-timeout %.32s: expected seconds",
			    v);
	} else if (strcmp(name, "read-only") == 0) {
		o->read_only = true;
	} else if (strcmp(name, "quiet") == 0) {
		o->verbosity = -1;
	} else if (strcmp(name, "verbose") == 0) {
		o->verbosity = 1;
	} else if (strcmp(name, "help") == 0) {
		o->action = KN_HELP;
	} else if (strcmp(name, "version") == 0) {
		o->action = KN_VERSION;
	}
}

static const struct {
	const char	*name;
	char		 letter;
	bool		 arg;
} opts[] = {
	{ "listen", 'l', true },
	{ "allow", 0, true },
	{ "threads", 'j', true },
	{ "max-conns", 0, true },
	{ "max-payload", 0, true },
	{ "stats", 0, true },
	{ "shutdown-timeout", 0, true },
	{ "handshake-timeout", 0, true },
	{ "read-only", 'r', false },
	{ "quiet", 'q', false },
	{ "verbose", 'v', false },
	{ "help", 'h', false },
	{ "version", 'V', false },
};
#define NOPTS	(sizeof(opts) / sizeof(opts[0]))

int
kn_opts_parse(struct kn_opts *o, int argc, char *const argv[], char *err,
    size_t errlen)
{
	struct parse p = { o, err, errlen, false };
	bool dashdash = false;
	long ncpu;
	int i;
	size_t k;

	memset(o, 0, sizeof(*o));
	if (errlen > 0)
		err[0] = '\0';
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	o->threads = ncpu < 1 ? 1 : ncpu > 8 ? 8 : (unsigned)ncpu;
	o->max_conns = 1000;
	o->max_payload = KN_PAYLOAD_DEF;
	o->shutdown_ns = 10000000000ull;
	o->handshake_ns = 10000000000ull;
	for (i = 1; i < argc && !p.failed; i++) {
		const char *a = argv[i], *v = NULL;

		if (a == NULL)
			break;
		if (dashdash || a[0] != '-' || a[1] == '\0') {
			export_operand(&p, a);
			continue;
		}
		if (strcmp(a, "--") == 0) {
			dashdash = true;
			continue;
		}
		if (a[1] == '-') {
			const char *eq = strchr(a + 2, '=');
			size_t n = eq != NULL ? (size_t)(eq - a - 2) :
			    strlen(a + 2);

			for (k = 0; k < NOPTS; k++)
				if (strlen(opts[k].name) == n &&
				    strncmp(opts[k].name, a + 2, n) == 0)
					break;
			if (k == NOPTS) {
				fail(&p, "unknown option %.64s", a);
				break;
			}
			if (opts[k].arg) {
				if (eq != NULL)
					v = eq + 1;
				else if (i + 1 < argc && argv[i + 1] != NULL)
					v = argv[++i];
				else {
					fail(&p, "--%s needs a value",
					    opts[k].name);
					break;
				}
			} else if (eq != NULL) {
				fail(&p, "--%s takes no value", opts[k].name);
				break;
			}
			option(&p, opts[k].name, v);
			continue;
		}
		/* Short options, bundled: -qv, -l ADDR, -lADDR. */
		for (a++; *a != '\0' && !p.failed; a++) {
			for (k = 0; k < NOPTS; k++)
				if (opts[k].letter == *a)
					break;
			if (k == NOPTS) {
				fail(&p, "unknown option -%c", *a);
				break;
			}
			if (opts[k].arg) {
				if (a[1] != '\0')
					v = a + 1;
				else if (i + 1 < argc && argv[i + 1] != NULL)
					v = argv[++i];
				else {
					fail(&p, "-%c needs a value", *a);
					break;
				}
				option(&p, opts[k].name, v);
				break;
			}
			option(&p, opts[k].name, NULL);
		}
	}
	if (p.failed)
		return 64;
	if (o->action != KN_RUN)
		return 0;
	if (o->nexports == 0) {
		fail(&p, "no export: give NAME=PATH");
		return 64;
	}
	if (o->nlisten == 0)
		(void)ks_addr_parse(&o->listen[o->nlisten++],
		    "tcp:127.0.0.1:10809");
	return 0;
}

void
kn_usage(FILE *f)
{
	fputs("usage: kcnbd [-hqrVv] [-j threads] [-l address] "
	    "[--allow cidr,...]\n"
	    "             [--max-conns n] [--max-payload size] "
	    "[--stats seconds]\n"
	    "             [--handshake-timeout seconds] "
	    "[--shutdown-timeout seconds]\n"
	    "             name=path[:ro] ...\n"
	    "  -l, --listen ADDR       tcp:HOST:PORT or unix:PATH (repeat; "
	    "default\n"
	    "                          tcp:127.0.0.1:10809)\n"
	    "  -j, --threads N         worker threads (default: CPUs, at "
	    "most 8)\n"
	    "  -r, --read-only         every export read-only\n"
	    "      --allow CIDR,...    only these TCP clients\n"
	    "      --max-conns N       connections at once (default 1000; "
	    "0: no cap)\n"
	    "      --max-payload SIZE  largest read or write (default 32m)\n"
	    "      --stats SECONDS     a statistics line this often\n"
	    "      --shutdown-timeout SECONDS  drain time on SIGTERM "
	    "(default 10)\n"
	    "      --handshake-timeout SECONDS  time to choose an export "
	    "(default 10;\n"
	    "                          0: none)\n"
	    "  -q, --quiet  -v, --verbose  -h, --help  -V, --version\n", f);
}
