/*
 * reload.c: what a reload changes (reload.h).
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "reload.h"

#define NSEC_PER_SEC	1000000000ull

/* A growing list "a, b, c" in a fixed buffer: cut, never overrun. */
static void __attribute__((format(printf, 3, 4)))
add(char *buf, size_t size, const char *fmt, ...)
{
	size_t n = strnlen(buf, size);
	va_list ap;

	if (n + 1 >= size)
		return;
	if (n > 0) {
		snprintf(buf + n, size - n, ", ");
		n = strnlen(buf, size);
	}
	va_start(ap, fmt);
	vsnprintf(buf + n, size - n, fmt, ap);
	va_end(ap);
}

static const char *
sec_text(uint64_t ns, char *buf, size_t size)
{
	unsigned long long whole = ns / NSEC_PER_SEC, frac = ns % NSEC_PER_SEC;
	int digits = 9;

	if (frac == 0) {
		snprintf(buf, size, "%llu", whole);
		return buf;
	}
	while (frac % 10 == 0) {
		frac /= 10;
		digits--;
	}
	snprintf(buf, size, "%llu.%0*llu", whole, digits, frac);
	return buf;
}

static const char *
verbosity_text(int v)
{
	return v < 0 ? "quiet" : v > 0 ? "verbose" : "normal";
}

/* The mirrors, each with the settings it runs with that are not all. */
static const char *
mirrors_text(const struct ks_conf *c, char *buf, size_t size)
{
	const struct ks_mirror_set *ms;
	unsigned i;

	buf[0] = '\0';
	if (c->nmirrors == 0)
		snprintf(buf, size, "(none)");
	for (i = 0; i < c->nmirrors; i++) {
		size_t l = strnlen(buf, size);

		ms = &c->mirror_set[i];
		snprintf(buf + l, size - l, "%s%s", i ? " " : "",
		    c->mirrors[i].text);
		l = strnlen(buf, size);
		if (ms->sample != KS_SAMPLE_ALL)
			snprintf(buf + l, size - l, ",sample=%u.%02u",
			    ms->sample / 100, ms->sample % 100);
		l = strnlen(buf, size);
		if (ms->pace_turns)
			snprintf(buf + l, size - l, ",pace=turns");
	}
	return buf;
}

static const char *
cidrs_text(const struct ks_cidr *c, unsigned n, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN];
	unsigned i;

	buf[0] = '\0';
	if (n == 0)
		snprintf(buf, size, "(everyone)");
	for (i = 0; i < n; i++) {
		size_t l = strnlen(buf, size);

		if (inet_ntop(c[i].family, c[i].addr, host, sizeof(host)) ==
		    NULL)
			snprintf(host, sizeof(host), "?");
		snprintf(buf + l, size - l, "%s%s/%u", i ? " " : "", host,
		    c[i].prefix);
	}
	return buf;
}

static bool
same_addr(const struct ks_addr *a, const struct ks_addr *b)
{
	/* The parsers zero an address before filling it: no stray bytes. */
	return memcmp(a, b, sizeof(*a)) == 0;
}

static bool
same_sa(const struct ks_addr *a, const struct ks_addr *b)
{
	return a->kind == b->kind && a->sa.len == b->sa.len &&
	    memcmp(&a->sa.a, &b->sa.a, a->sa.len) == 0;
}

bool
ks_same_mirrors(const struct ks_conf *a, const struct ks_conf *b)
{
	unsigned i;

	if (a->nmirrors != b->nmirrors || memcmp(a->mirrors, b->mirrors,
	    a->nmirrors * sizeof(a->mirrors[0])) != 0)
		return false;
	/* The settings they run with, whether given or the defaults. */
	for (i = 0; i < a->nmirrors; i++)
		if (a->mirror_set[i].sample != b->mirror_set[i].sample ||
		    a->mirror_set[i].pace_turns != b->mirror_set[i].pace_turns)
			return false;
	return true;
}

void
ks_reload_diff(const struct ks_conf *old, struct ks_conf *next,
    struct ks_reload *r)
{
	char a[1024], b[1024];
	bool udp = old->listen.kind == KS_UDP;
	bool was_udp, is_udp;

	memset(r, 0, sizeof(*r));
#define CHANGED(...) do {						\
	add(r->changed, sizeof(r->changed), __VA_ARGS__);		\
	r->nchanged++;							\
} while (0)
#define RESTART(...) do {						\
	add(r->restart, sizeof(r->restart), __VA_ARGS__);		\
	r->nrestart++;							\
} while (0)

	/* The addresses. */
	was_udp = old->listen.kind == KS_UDP;
	is_udp = next->listen.kind == KS_UDP;
	if (was_udp != is_udp) {
		RESTART("listen %s -> %s (with its upstream and mirrors)",
		    old->listen.text, next->listen.text);
		next->listen = old->listen;
		next->upstream = old->upstream;
		memcpy(next->mirrors, old->mirrors, sizeof(next->mirrors));
		memcpy(next->mirror_set, old->mirror_set,
		    sizeof(next->mirror_set));
		next->nmirrors = old->nmirrors;
	} else if (!same_sa(&old->listen, &next->listen)) {
		if (udp) {
			RESTART("listen %s -> %s", old->listen.text,
			    next->listen.text);
			next->listen = old->listen;
		} else {
			r->listen_changed = true;
		}
	} else {
		/* The same socket: keep its text as the logs showed it. */
		next->listen = old->listen;
	}
	if (!same_addr(&old->upstream, &next->upstream)) {
		if (udp) {
			RESTART("upstream %s -> %s", old->upstream.text,
			    next->upstream.text);
			next->upstream = old->upstream;
		} else {
			CHANGED("upstream %s -> %s", old->upstream.text,
			    next->upstream.text);
		}
	}
	if (!ks_same_mirrors(old, next)) {
		mirrors_text(old, a, sizeof(a));
		mirrors_text(next, b, sizeof(b));
		if (udp) {
			RESTART("mirrors %s -> %s", a, b);
			memcpy(next->mirrors, old->mirrors,
			    sizeof(next->mirrors));
			memcpy(next->mirror_set, old->mirror_set,
			    sizeof(next->mirror_set));
			next->nmirrors = old->nmirrors;
		} else {
			CHANGED("mirrors %s -> %s", a, b);
		}
	}
	if (old->nallow != next->nallow || memcmp(old->allow, next->allow,
	    old->nallow * sizeof(old->allow[0])) != 0) {
		CHANGED("allow %s -> %s",
		    cidrs_text(old->allow, old->nallow, a, sizeof(a)),
		    cidrs_text(next->allow, next->nallow, b, sizeof(b)));
	}

	/* Numbers that apply to new connections, or at once. */
	if (old->mirror_budget != next->mirror_budget)
		CHANGED("mirror-budget %llu -> %llu",
		    (unsigned long long)old->mirror_budget,
		    (unsigned long long)next->mirror_budget);
	if (old->mirror_cap != next->mirror_cap)
		CHANGED("mirror-cap %llu -> %llu (0: the default)",
		    (unsigned long long)old->mirror_cap,
		    (unsigned long long)next->mirror_cap);
	if (old->mirror_drop != next->mirror_drop)
		CHANGED("mirror-policy %s -> %s",
		    old->mirror_drop ? "drop" : "detach",
		    next->mirror_drop ? "drop" : "detach");
	if (old->sample_by_client != next->sample_by_client)
		CHANGED("sample-by %s -> %s",
		    old->sample_by_client ? "client" : "random",
		    next->sample_by_client ? "client" : "random");
	if (old->max_conns != next->max_conns)
		CHANGED("max-conns %u -> %u", old->max_conns, next->max_conns);
#define SEC_FIELD(field, name) do {					\
	if (old->field != next->field)					\
		CHANGED(name " %s -> %s", sec_text(old->field, a,	\
		    sizeof(a)), sec_text(next->field, b, sizeof(b)));	\
} while (0)
	SEC_FIELD(idle_ns, "idle-timeout");
	SEC_FIELD(half_close_ns, "half-close-timeout");
	SEC_FIELD(connect_ns, "connect-timeout");
	SEC_FIELD(stats_ns, "stats");
	SEC_FIELD(shutdown_ns, "shutdown-timeout");
	if (old->udp_session_ns != next->udp_session_ns) {
		if (udp) {
			RESTART("udp-session-timeout %s -> %s",
			    sec_text(old->udp_session_ns, a, sizeof(a)),
			    sec_text(next->udp_session_ns, b, sizeof(b)));
			next->udp_session_ns = old->udp_session_ns;
		} else {
			SEC_FIELD(udp_session_ns, "udp-session-timeout");
		}
	}
#undef SEC_FIELD
	if (old->udp_max_sessions != next->udp_max_sessions) {
		if (udp) {
			RESTART("udp-max-sessions %u -> %u",
			    old->udp_max_sessions, next->udp_max_sessions);
			next->udp_max_sessions = old->udp_max_sessions;
		} else {
			CHANGED("udp-max-sessions %u -> %u",
			    old->udp_max_sessions, next->udp_max_sessions);
		}
	}
	if (old->stats_json != next->stats_json)
		CHANGED("stats-format %s -> %s",
		    old->stats_json ? "json" : "text",
		    next->stats_json ? "json" : "text");
	if (old->no_splice != next->no_splice)
		CHANGED("no-splice %s -> %s", old->no_splice ? "on" : "off",
		    next->no_splice ? "on" : "off");
	if (old->compare != next->compare)
		CHANGED("compare %s -> %s", old->compare ? "on" : "off",
		    next->compare ? "on" : "off");
	if (old->compare_window != next->compare_window)
		CHANGED("compare-window %llu -> %llu",
		    (unsigned long long)old->compare_window,
		    (unsigned long long)next->compare_window);
	if (old->verbosity != next->verbosity)
		CHANGED("log %s -> %s", verbosity_text(old->verbosity),
		    verbosity_text(next->verbosity));
	if (old->log_json != next->log_json)
		CHANGED("log-format %s -> %s", old->log_json ? "json" : "text",
		    next->log_json ? "json" : "text");
	/*
	 * The access log's file is reopened by SIGUSR2 (rotation); another
	 * file needs a restart.
	 */
	if (strcmp(old->access_log, next->access_log) != 0) {
		RESTART("access-log %s -> %s", old->access_log[0] != '\0' ?
		    old->access_log : "off", next->access_log[0] != '\0' ?
		    next->access_log : "off");
		memcpy(next->access_log, old->access_log,
		    sizeof(next->access_log));
	}

	/* What only a restart changes: kept. */
	if (old->threads != next->threads) {
		RESTART("threads %u -> %u", old->threads, next->threads);
		next->threads = old->threads;
	}
	if (old->pipe_size != next->pipe_size) {
		RESTART("pipe-size %zu -> %zu", old->pipe_size,
		    next->pipe_size);
		next->pipe_size = old->pipe_size;
	}
	if (strcmp(old->trace_path, next->trace_path) != 0) {
		RESTART("trace '%s' -> '%s'", old->trace_path,
		    next->trace_path);
		memcpy(next->trace_path, old->trace_path,
		    sizeof(next->trace_path));
	}
	if (strcmp(old->record_dir, next->record_dir) != 0 ||
	    old->record_size != next->record_size ||
	    old->record_count != next->record_count ||
	    old->record_budget != next->record_budget) {
		RESTART("record '%s' -> '%s'", old->record_dir,
		    next->record_dir);
		memcpy(next->record_dir, old->record_dir,
		    sizeof(next->record_dir));
		next->record_size = old->record_size;
		next->record_count = old->record_count;
		next->record_budget = old->record_budget;
	}
#undef CHANGED
#undef RESTART
}
