/*
 * unit-kcsplice_reload: what a reload of kcsplice's configuration changes
 * (tools/kcsplice/reload.h) and the snapshots connections hold (live.h).
 *   changes listed old -> new; what needs a restart kept from the running
 *   configuration and listed apart (threads, pipe-size, trace; a UDP
 *   listener's addresses and session limits; a listener turned from UDP
 *   to TCP); a stream listener's move flagged for the caller; the same
 *   socket under another spelling kept as it was; and snapshots that live
 *   as long as a reference, read by threads while others are published.
 */
#include "kctest.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "live.h"
#include "reload.h"

#define SEC	1000000000ull

static struct ks_conf *
conf_of(const char *text, ...) __attribute__((sentinel));

/* A configuration from file text and command-line arguments. */
static struct ks_conf *
conf_of(const char *text, ...)
{
	struct ks_conf *c = malloc(sizeof(*c));
	char *argv[16], err[512];
	const char *a;
	va_list ap;
	int argc = 0;

	KC_CHECK(c != NULL);
	argv[argc++] = (char *)"kcsplice";
	va_start(ap, text);
	while ((a = va_arg(ap, const char *)) != NULL && argc < 15)
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;
	if (ks_conf_file(c, argc, argv, "t.conf", text, strlen(text), err,
	    sizeof(err)) != 0)
		kct_fail(__FILE__, __LINE__, "parse: %s", err);
	return c;
}

static void
has(const char *list, const char *want)
{
	if (strstr(list, want) == NULL)
		kct_fail(__FILE__, __LINE__, "\"%s\" lacks \"%s\"", list,
		    want);
}

#define TCP	"listen tcp:127.0.0.1:7000\nupstream tcp:127.0.0.1:1\n"
#define UDP	"listen udp:127.0.0.1:7000\nupstream udp:127.0.0.1:1\n"

static void
test_nothing(void)
{
	struct ks_conf *a = conf_of(TCP "mirror tcp:127.0.0.1:2\n", NULL);
	struct ks_conf *b = conf_of(TCP "mirror tcp:127.0.0.1:2\n", NULL);
	struct ks_reload r;

	ks_reload_diff(a, b, &r);
	KC_CHECK_EQ(r.nchanged, 0);
	KC_CHECK_EQ(r.nrestart, 0);
	KC_CHECK(!r.listen_changed);
	KC_CHECK_EQ(r.changed[0], '\0');
	KC_CHECK(memcmp(a, b, sizeof(*a)) == 0);

	/* The same socket spelt otherwise: kept as the logs showed it. */
	free(b);
	b = conf_of("listen tcp:localhost:7000\nupstream tcp:127.0.0.1:1\n"
	    "mirror tcp:127.0.0.1:2\n", NULL);
	ks_reload_diff(a, b, &r);
	KC_CHECK(!r.listen_changed);
	KC_CHECK_EQ(r.nchanged, 0);
	KC_CHECK(strcmp(b->listen.text, "tcp:127.0.0.1:7000") == 0);
	free(a);
	free(b);
}

static void
test_changes(void)
{
	struct ks_conf *a = conf_of(TCP "mirror tcp:127.0.0.1:2\n"
	    "allow 10.0.0.0/8\n", NULL);
	struct ks_conf *b = conf_of("listen tcp:127.0.0.1:7001\n"
	    "upstream tcp:127.0.0.1:3\nmirror tcp:127.0.0.1:4\n"
	    "mirror unix:@m\nallow ::1\nmirror-budget 1m\nmirror-cap 2m\n"
	    "mirror-policy drop\nmax-conns 5\nidle-timeout 0.25\n"
	    "half-close-timeout 2\nconnect-timeout 3\nstats 1.5\n"
	    "stats-format json\nshutdown-timeout 4\nno-splice\nverbose\n"
	    "udp-max-sessions 9\nudp-session-timeout 8\n", NULL);
	struct ks_reload r;

	ks_reload_diff(a, b, &r);
	KC_CHECK(r.listen_changed);
	KC_CHECK(strcmp(b->listen.text, "tcp:127.0.0.1:7001") == 0);
	KC_CHECK_EQ(r.nrestart, 0);
	KC_CHECK_EQ(r.nchanged, 17);
	has(r.changed, "upstream tcp:127.0.0.1:1 -> tcp:127.0.0.1:3");
	has(r.changed, "mirrors tcp:127.0.0.1:2 -> tcp:127.0.0.1:4 unix:@m");
	has(r.changed, "allow 10.0.0.0/8 -> ::1/128");
	has(r.changed, "mirror-budget 1073741824 -> 1048576");
	has(r.changed, "mirror-cap 0 -> 2097152");
	has(r.changed, "mirror-policy detach -> drop");
	has(r.changed, "max-conns 10000 -> 5");
	has(r.changed, "idle-timeout 300 -> 0.25");
	has(r.changed, "half-close-timeout 60 -> 2");
	has(r.changed, "connect-timeout 10 -> 3");
	has(r.changed, "stats 0 -> 1.5");
	has(r.changed, "stats-format text -> json");
	has(r.changed, "shutdown-timeout 10 -> 4");
	has(r.changed, "no-splice off -> on");
	has(r.changed, "log normal -> verbose");
	has(r.changed, "udp-max-sessions 4096 -> 9");
	has(r.changed, "udp-session-timeout 60 -> 8");
	/* Applied: next keeps its new values. */
	KC_CHECK_EQ(b->nmirrors, 2);
	KC_CHECK_EQ(b->idle_ns, SEC / 4);

	/* No mirrors, no ranges. */
	free(a);
	a = conf_of(TCP, NULL);
	free(b);
	b = conf_of(TCP "mirror tcp:127.0.0.1:2\nallow 10.0.0.0/8\n", NULL);
	ks_reload_diff(b, a, &r);
	has(r.changed, "mirrors tcp:127.0.0.1:2 -> (none)");
	has(r.changed, "allow 10.0.0.0/8 -> (everyone)");
	free(a);
	free(b);
}

static void
test_restart(void)
{
	struct ks_conf *a = conf_of(TCP "threads 2\npipe-size 64k\n", NULL);
	struct ks_conf *b = conf_of(TCP "threads 3\npipe-size 128k\n"
	    "trace /tmp/x\nidle-timeout 5\n", NULL);
	struct ks_reload r;

	ks_reload_diff(a, b, &r);
	KC_CHECK_EQ(r.nchanged, 1);
	KC_CHECK_EQ(r.nrestart, 3);
	has(r.restart, "threads 2 -> 3");
	has(r.restart, "pipe-size 65536 -> 131072");
	has(r.restart, "trace '' -> '/tmp/x'");
	KC_CHECK_EQ(b->threads, 2);
	KC_CHECK_EQ(b->pipe_size, 65536);
	KC_CHECK_EQ(b->trace_path[0], '\0');
	KC_CHECK_EQ(b->idle_ns, 5 * SEC);
	free(a);
	free(b);

	/* A UDP listener's relays keep their addresses and limits. */
	a = conf_of(UDP "mirror udp:127.0.0.1:2\n", NULL);
	b = conf_of("listen udp:127.0.0.1:7001\nupstream udp:127.0.0.1:3\n"
	    "udp-max-sessions 9\nudp-session-timeout 8\nallow ::1\n", NULL);
	ks_reload_diff(a, b, &r);
	KC_CHECK(!r.listen_changed);
	KC_CHECK_EQ(r.nrestart, 5);
	KC_CHECK_EQ(r.nchanged, 1);
	has(r.changed, "allow");
	has(r.restart, "listen udp:127.0.0.1:7000 -> udp:127.0.0.1:7001");
	has(r.restart, "upstream udp:127.0.0.1:1 -> udp:127.0.0.1:3");
	has(r.restart, "mirrors udp:127.0.0.1:2 -> (none)");
	KC_CHECK(strcmp(b->listen.text, a->listen.text) == 0);
	KC_CHECK(strcmp(b->upstream.text, a->upstream.text) == 0);
	KC_CHECK_EQ(b->nmirrors, 1);
	KC_CHECK_EQ(b->udp_max_sessions, 4096);
	KC_CHECK_EQ(b->udp_session_ns, 60 * SEC);
	free(b);

	/* UDP to TCP: the whole set of addresses stays. */
	b = conf_of(TCP "mirror tcp:127.0.0.1:2\n", NULL);
	ks_reload_diff(a, b, &r);
	KC_CHECK(!r.listen_changed);
	KC_CHECK_EQ(r.nrestart, 1);
	has(r.restart, "listen udp:127.0.0.1:7000 -> tcp:127.0.0.1:7000 "
	    "(with its upstream and mirrors)");
	KC_CHECK_EQ(b->listen.kind, KS_UDP);
	KC_CHECK_EQ(b->upstream.kind, KS_UDP);
	KC_CHECK_EQ(b->mirrors[0].kind, KS_UDP);
	free(a);
	free(b);
}

/* Many mirrors with long names: the lists are cut, not overrun. */
static void
test_long(void)
{
	char text[4096];
	struct ks_conf *a, *b;
	struct ks_reload r;
	size_t n;
	int i;

	n = (size_t)snprintf(text, sizeof(text), TCP);
	for (i = 0; i < KS_MAX_MIRRORS; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		    "mirror unix:/a/very/long/path/to/a/mirror/socket/number/"
		    "%02d/of/the/sixteen/mirrors/allowed.sock\n", i);
	a = conf_of(TCP, NULL);
	b = conf_of(text, "--allow", "::1", NULL);
	ks_reload_diff(a, b, &r);
	KC_CHECK_LT(strlen(r.changed), sizeof(r.changed));
	KC_CHECK_EQ(r.nchanged, 2);
	KC_CHECK(strncmp(r.changed, "mirrors (none) -> unix:/a", 25) == 0);
	free(a);
	free(b);
}

/* Readers take and drop snapshots while new ones are published. */
static unsigned stop_readers;

static void *
reader(void *arg)
{
	uint64_t last = 0, *seen = arg;
	struct ks_live *l;

	while (!__atomic_load_n(&stop_readers, __ATOMIC_ACQUIRE)) {
		l = ks_live_get();
		KC_CHECK(l != NULL);
		/* Whole: its fields agree with its generation. */
		KC_CHECK_EQ(l->c.max_conns, (unsigned)l->gen);
		KC_CHECK_EQ(l->c.idle_ns, l->gen * SEC);
		KC_CHECK_GE(l->gen, last);
		last = l->gen;
		ks_live_put(l);
		(*seen)++;
	}
	return NULL;
}

static void
test_live(void)
{
	uint64_t seen[3] = { 0, 0, 0 };
	struct ks_live *l, *held;
	pthread_t t[3];
	unsigned i, n = kct_sanitized() ? 2000 : 20000;

	l = ks_live_new();
	KC_CHECK(l != NULL);
	KC_CHECK_EQ(l->refs, 1);
	l->c.max_conns = 1;
	l->c.idle_ns = SEC;
	ks_live_publish(l);
	held = ks_live_get();
	KC_CHECK_PTR_EQ(held, l);
	KC_CHECK_EQ(held->gen, 1);
	for (i = 0; i < 3; i++)
		KC_CHECK_OK(pthread_create(&t[i], NULL, reader, &seen[i]));
	for (i = 2; i <= n; i++) {
		l = ks_live_new();
		KC_CHECK(l != NULL);
		l->c.max_conns = i;
		l->c.idle_ns = i * SEC;
		ks_live_publish(l);
	}
	__atomic_store_n(&stop_readers, 1, __ATOMIC_RELEASE);
	for (i = 0; i < 3; i++)
		KC_CHECK_OK(pthread_join(t[i], NULL));
	/* The first is still whole: it was held all along. */
	KC_CHECK_EQ(held->gen, 1);
	KC_CHECK_EQ(held->c.max_conns, 1);
	KC_CHECK_EQ(held->refs, 1);
	ks_live_put(held);
	l = ks_live_get();
	KC_CHECK_EQ(l->gen, n);
	KC_CHECK_EQ(l->refs, 2);
	ks_live_put(l);
	ks_live_put(NULL);
}

int
main(void)
{
	kct_begin("unit-kcsplice_reload", 60);
	test_nothing();
	test_changes();
	test_restart();
	test_long();
	test_live();
	return kct_done();
}
