/*
 * it.c: the harness of kcsplice's integration tests (see it.h).
 */
#include "it.h"
#include "conf.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

const char *it_kcsplice;
bool it_sanitized;
char it_dir[64];

static const char *it_case_name = "?";
static uint64_t it_t0;

/* Running kcsplice processes, killed if the test fails. */
#define IT_MAXPROCS	8
static pthread_mutex_t it_procs_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ks *it_procs[IT_MAXPROCS];
static atomic_int it_failing;

/*
 * In a ThreadSanitizer build: a failing test leaves by _exit with its peer
 * threads running, which is not a leak worth a report.
 */
const char *__tsan_default_options(void)
	__attribute__((visibility("default")));

const char *
__tsan_default_options(void)
{
	return "report_thread_leaks=0";
}

uint64_t
it_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void
it_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

double
it_limit(double normal_s)
{
	return it_sanitized ? normal_s * 4 : normal_s;
}

void
it_log(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "[%s %6.2fs] %s\n", it_case_name,
	    (double)(it_now_ns() - it_t0) / 1e9, buf);
}

static void
it_rmdir(void)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *d;

	if (it_dir[0] == '\0' || (d = opendir(it_dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", it_dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(it_dir);
}

static void
it_dump_log(struct ks *k)
{
	const char *p;
	size_t n;
	int i;

	/* The failing thread may hold nothing; others may be stuck. */
	for (i = 0; i < 100 && pthread_mutex_trylock(&k->mu) != 0; i++)
		it_sleep_ms(10);
	n = k->loglen;
	p = k->log;
	if (n > 8000) {
		p += n - 8000;
		n = 8000;
	}
	fprintf(stderr, "----- kcsplice (pid %d) stderr%s -----\n%.*s"
	    "----- end of kcsplice stderr -----\n", (int)k->pid,
	    n < k->loglen ? ", last 8000 bytes" : "", (int)n, p ? p : "");
	if (i < 100)
		pthread_mutex_unlock(&k->mu);
}

void
it_fail_at(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	int i;

	if (atomic_exchange(&it_failing, 1) != 0) {
		/* Another thread is failing the test: let it finish. */
		for (;;)
			pause();
	}
	fflush(stdout);
	fprintf(stderr, "%s:%d: FAIL [%s after %.2f s]: ", file, line,
	    it_case_name, (double)(it_now_ns() - it_t0) / 1e9);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	for (i = 0; i < IT_MAXPROCS; i++) {
		struct ks *k = it_procs[i];

		if (k == NULL)
			continue;
		kill(k->pid, SIGKILL);
		waitpid(k->pid, NULL, 0);
		it_dump_log(k);
	}
	fflush(stderr);
	it_rmdir();
	_exit(1);
}

void
it_skip(const char *why)
{
	it_log("SKIP: %s", why);
	it_rmdir();
	exit(77);
}

static void *
it_watchdog(void *arg)
{
	unsigned secs = *(unsigned *)arg;

	it_sleep_ms(secs * 1000);
	IT_FAIL("watchdog: the scenario did not finish within %u s", secs);
}

unsigned long
it_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		IT_FAIL("getrlimit: %s", strerror(errno));
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (rl.rlim_cur > 1048576)
			rl.rlim_cur = 1048576;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur == RLIM_INFINITY ? 1048576ul :
	    (unsigned long)rl.rlim_cur;
}

int
it_main(int argc, char **argv, const struct it_case *cases, size_t ncases)
{
	static unsigned watchdog_s;
	const char *s;
	pthread_t wd;
	size_t i;

	if (argc != 3) {
		fprintf(stderr, "usage: %s KCSPLICE SCENARIO\nscenarios:",
		    argv[0]);
		for (i = 0; i < ncases; i++)
			fprintf(stderr, " %s", cases[i].name);
		fputc('\n', stderr);
		return 64;
	}
	it_t0 = it_now_ns();
	it_kcsplice = argv[1];
	it_case_name = argv[2];
	s = getenv("KCIT_SANITIZE");
	it_sanitized = s != NULL && *s != '\0';
	s = getenv("KCIT_WATCHDOG");
	watchdog_s = s != NULL && atoi(s) > 0 ? (unsigned)atoi(s) :
	    (it_sanitized ? 400 : 150);
	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < ncases; i++)
		if (strcmp(cases[i].name, argv[2]) == 0)
			break;
	if (i == ncases)
		IT_FAIL("no scenario '%s'", argv[2]);
	if (access(it_kcsplice, X_OK) != 0)
		IT_FAIL("%s: %s", it_kcsplice, strerror(errno));
	snprintf(it_dir, sizeof(it_dir), "/tmp/kcit.XXXXXX");
	if (mkdtemp(it_dir) == NULL) {
		it_dir[0] = '\0';
		IT_FAIL("mkdtemp: %s", strerror(errno));
	}
	if (pthread_create(&wd, NULL, it_watchdog, &watchdog_s) != 0)
		IT_FAIL("pthread_create failed");
	pthread_detach(wd);
	it_log("start%s", it_sanitized ? " (sanitizer build: scaled down)" :
	    "");
	cases[i].fn();
	it_rmdir();
	it_log("PASS");
	return 0;
}

/* Addresses. */

int
it_addr_parse(struct it_addr *a, const char *text)
{
	struct ks_addr ka;

	memset(a, 0, sizeof(*a));
	snprintf(a->text, sizeof(a->text), "%s", text);
	if (ks_addr_parse(&ka, text) != 0)
		return -1;
	a->type = ka.kind == KS_UDP ? SOCK_DGRAM : SOCK_STREAM;
	memcpy(&a->ss, &ka.sa.a.ss, sizeof(a->ss));
	a->len = ka.sa.len;
	return 0;
}

void
it_addr_from(struct it_addr *a, int type, const struct sockaddr *sa,
    socklen_t len)
{
	struct kc_sockaddr ksa;
	enum ks_kind kind = sa->sa_family == AF_UNIX ? KS_UNIX :
	    type == SOCK_DGRAM ? KS_UDP : KS_TCP;

	memset(a, 0, sizeof(*a));
	if (len > sizeof(a->ss))
		len = sizeof(a->ss);
	memcpy(&a->ss, sa, len);
	a->len = len;
	a->type = type;
	memset(&ksa, 0, sizeof(ksa));
	memcpy(&ksa.a, sa, len);
	ksa.len = len;
	/* An unnamed UNIX socket (a client's) has no text of its own. */
	if (ks_addr_format(kind, &ksa, a->text, sizeof(a->text)) < 0)
		snprintf(a->text, sizeof(a->text), "%s",
		    kind == KS_UNIX ? "unix:" : "?");
}

uint16_t
it_addr_port(const struct it_addr *a)
{
	if (a->ss.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
	if (a->ss.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
	return 0;
}

void
it_unix_path(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "unix:%s/%s", it_dir, name);
}

bool
it_have_ipv6(void)
{
	struct sockaddr_in6 in6;
	int fd, r;

	fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	memset(&in6, 0, sizeof(in6));
	in6.sin6_family = AF_INET6;
	in6.sin6_addr = in6addr_loopback;
	r = bind(fd, (struct sockaddr *)&in6, sizeof(in6));
	close(fd);
	return r == 0;
}

/* kcsplice. */

static void
ks_register(struct ks *k, bool add)
{
	int i;

	pthread_mutex_lock(&it_procs_mu);
	for (i = 0; i < IT_MAXPROCS; i++) {
		if (add && it_procs[i] == NULL) {
			it_procs[i] = k;
			break;
		}
		if (!add && it_procs[i] == k) {
			it_procs[i] = NULL;
			break;
		}
	}
	pthread_mutex_unlock(&it_procs_mu);
	if (add && i == IT_MAXPROCS)
		IT_FAIL("too many kcsplice processes");
}

static void *
ks_reader(void *arg)
{
	struct ks *k = arg;
	bool verbose = getenv("KCIT_VERBOSE") != NULL;
	char buf[4096];
	ssize_t n;

	for (;;) {
		n = read(k->errfd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (verbose)
			fprintf(stderr, "%.*s", (int)n, buf);
		pthread_mutex_lock(&k->mu);
		if (k->loglen + (size_t)n + 1 > k->logcap) {
			size_t cap = (k->loglen + (size_t)n + 1) * 2;
			char *nl = realloc(k->log, cap);

			if (nl == NULL) {
				pthread_mutex_unlock(&k->mu);
				IT_FAIL("out of memory");
			}
			k->log = nl;
			k->logcap = cap;
		}
		memcpy(k->log + k->loglen, buf, (size_t)n);
		k->loglen += (size_t)n;
		k->log[k->loglen] = '\0';
		pthread_cond_broadcast(&k->cv);
		pthread_mutex_unlock(&k->mu);
	}
	pthread_mutex_lock(&k->mu);
	k->log_eof = true;
	pthread_cond_broadcast(&k->cv);
	pthread_mutex_unlock(&k->mu);
	return NULL;
}

/* Wait on k->cv (held) until deadline; false when it passed. */
static bool
ks_wait(struct ks *k, uint64_t deadline)
{
	struct timespec ts;
	uint64_t now = it_now_ns(), step;

	if (now >= deadline)
		return false;
	/* The condition variable uses CLOCK_REALTIME; wait in short steps. */
	step = deadline - now < 50000000ull ? deadline - now : 50000000ull;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(step / 1000000000ull);
	ts.tv_nsec += (long)(step % 1000000000ull);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&k->cv, &k->mu, &ts);
	return true;
}

/*
 * Call fn on each complete line of the log (held), from line number first;
 * stops when fn returns true.  Returns the number of lines seen.
 */
static unsigned
ks_lines(struct ks *k, bool (*fn)(const char *line, size_t len, void *arg),
    void *arg)
{
	const char *p = k->log, *end, *nl;
	unsigned n = 0;

	if (p == NULL)
		return 0;
	end = p + k->loglen;
	while (p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		n++;
		if (fn != NULL && fn(p, (size_t)(nl - p), arg))
			break;
		p = nl + 1;
	}
	return n;
}

struct ks_match {
	const char	*s[3];
	unsigned	 count;
	const char	*last;
	size_t		 lastlen;
};

static bool
ks_match_line(const char *line, size_t len, void *arg)
{
	struct ks_match *m = arg;
	int i;

	for (i = 0; i < 3 && m->s[i] != NULL; i++)
		if (memmem(line, len, m->s[i], strlen(m->s[i])) == NULL)
			return false;
	m->count++;
	m->last = line;
	m->lastlen = len;
	return false;
}

static unsigned
ks_count_locked(struct ks *k, const char *a, const char *b, const char *c)
{
	struct ks_match m = { { a, b, c }, 0, NULL, 0 };

	ks_lines(k, ks_match_line, &m);
	return m.count;
}

unsigned
ks_count(struct ks *k, const char *s)
{
	unsigned n;

	pthread_mutex_lock(&k->mu);
	n = ks_count_locked(k, s, NULL, NULL);
	pthread_mutex_unlock(&k->mu);
	return n;
}

bool
ks_has_line(struct ks *k, const char *a, const char *b, const char *c)
{
	unsigned n;

	pthread_mutex_lock(&k->mu);
	n = ks_count_locked(k, a, b, c);
	pthread_mutex_unlock(&k->mu);
	return n > 0;
}

void
ks_wait_line(struct ks *k, const char *s)
{
	uint64_t deadline = it_now_ns() + (uint64_t)(it_limit(10) * 1e9);
	bool found;

	pthread_mutex_lock(&k->mu);
	while (!(found = ks_count_locked(k, s, NULL, NULL) > 0) &&
	    !k->log_eof && ks_wait(k, deadline))
		;
	pthread_mutex_unlock(&k->mu);
	if (!found)
		IT_FAIL("kcsplice never logged a line with \"%s\"", s);
}

void
ks_check_alive(struct ks *k)
{
	int status;
	pid_t r = waitpid(k->pid, &status, WNOHANG);

	if (r == 0)
		return;
	if (r == k->pid) {
		k->running = false;
		if (WIFSIGNALED(status))
			IT_FAIL("kcsplice died of signal %d (%s)",
			    WTERMSIG(status), strsignal(WTERMSIG(status)));
		IT_FAIL("kcsplice exited with status %d while it should run",
		    WEXITSTATUS(status));
	}
	IT_FAIL("waitpid: %s", strerror(errno));
}

static void
spawn_attr(posix_spawnattr_t *attr)
{
	sigset_t none, def;

	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigaddset(&def, SIGTERM);
	sigaddset(&def, SIGINT);
	sigaddset(&def, SIGUSR1);
	sigaddset(&def, SIGUSR2);
	sigaddset(&def, SIGHUP);
	posix_spawnattr_init(attr);
	posix_spawnattr_setsigmask(attr, &none);
	posix_spawnattr_setsigdefault(attr, &def);
	posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF);
}

void
ks_start(struct ks *k, const char *const *args)
{
	const char *argv[64];
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	uint64_t deadline;
	const char *l, *e;
	char text[160];
	int pfd[2], r;
	size_t i, n = 0;

	memset(k, 0, sizeof(*k));
	pthread_mutex_init(&k->mu, NULL);
	pthread_cond_init(&k->cv, NULL);
	argv[n++] = it_kcsplice;
	argv[n++] = "--stats-format";
	argv[n++] = "json";
	for (i = 0; args[i] != NULL; i++) {
		if (n + 2 > sizeof(argv) / sizeof(argv[0]))
			IT_FAIL("too many arguments");
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	if (pipe2(pfd, O_CLOEXEC) != 0)
		IT_FAIL("pipe2: %s", strerror(errno));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
	spawn_attr(&attr);
	r = posix_spawn(&k->pid, it_kcsplice, &fa, &attr, (char *const *)argv,
	    environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(pfd[1]);
	if (r != 0)
		IT_FAIL("posix_spawn %s: %s", it_kcsplice, strerror(r));
	k->errfd = pfd[0];
	k->running = true;
	ks_register(k, true);
	{
		char cmd[1024];
		size_t off = 0;

		for (i = 0; i < n && off < sizeof(cmd); i++)
			off += (size_t)snprintf(cmd + off, sizeof(cmd) - off,
			    "%s%s", i ? " " : "", argv[i]);
		it_log("started: %s", cmd);
	}
	if (pthread_create(&k->reader, NULL, ks_reader, k) != 0)
		IT_FAIL("pthread_create failed");

	deadline = it_now_ns() + (uint64_t)(it_limit(10) * 1e9);
	pthread_mutex_lock(&k->mu);
	for (;;) {
		/* "kcsplice: listening on ..." or, in JSON, in "msg". */
		l = k->log != NULL ? strstr(k->log, "listening on ") : NULL;
		if (l != NULL && strchr(l, '\n') != NULL)
			break;
		if (k->log_eof || !ks_wait(k, deadline)) {
			pthread_mutex_unlock(&k->mu);
			ks_check_alive(k);
			IT_FAIL("kcsplice did not print its listening line");
		}
	}
	e = strchr(l, '\n');
	snprintf(k->listen_line, sizeof(k->listen_line), "%.*s",
	    (int)(e - l), l);
	pthread_mutex_unlock(&k->mu);
	l = k->listen_line + strlen("listening on ");
	e = strstr(l, ", upstream ");
	if (e == NULL || (size_t)(e - l) >= sizeof(text))
		IT_FAIL("cannot read the listening line: %s", k->listen_line);
	snprintf(text, sizeof(text), "%.*s", (int)(e - l), l);
	if (it_addr_parse(&k->listen, text) != 0)
		IT_FAIL("bad address in the listening line: %s",
		    k->listen_line);
	if (it_addr_port(&k->listen) == 0 && k->listen.ss.ss_family != AF_UNIX)
		IT_FAIL("the listening line shows port 0: %s", k->listen_line);
}

static bool
json_line(const char *line, size_t len, void *arg)
{
	struct ks_match *m = arg;

	/* The stats line is JSON ("--stats-format json" comes first). */
	if (memmem(line, len, "\"conns\":", 8) != NULL) {
		m->count++;
		m->last = line;
		m->lastlen = len;
	}
	return false;
}

static void
stats_parse(const char *line, size_t len, struct it_stats *st)
{
	static const struct {
		const char	*key;
		size_t		 off;
	} keys[] = {
#define K(f) { #f, offsetof(struct it_stats, f) }
		K(conns), K(active), K(refused), K(denied), K(up_bytes),
		K(down_bytes), K(spliced), K(copied), K(mirror_bytes),
		K(mirror_detached), K(mirror_dropped), K(errors),
		K(udp_sessions), K(udp_expired), K(pipe_fallbacks), K(fds),
		K(heap_bytes), K(mirror_skipped), K(mirror_unsampled),
#undef K
	};
	char buf[2048], pat[64];
	const char *p;
	char *end;
	size_t i;

	snprintf(buf, sizeof(buf), "%.*s", (int)len, line);
	memset(st, 0, sizeof(*st));
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		snprintf(pat, sizeof(pat), "\"%s\":", keys[i].key);
		p = strstr(buf, pat);
		if (p == NULL)
			IT_FAIL("stats line without \"%s\": %s", keys[i].key,
			    buf);
		p += strlen(pat);
		errno = 0;
		*(uint64_t *)(void *)((char *)st + keys[i].off) =
		    strtoull(p, &end, 10);
		if (end == p || errno != 0 || *p == '-')
			IT_FAIL("stats line: bad \"%s\": %s", keys[i].key, buf);
	}
}

void
ks_stats(struct ks *k, struct it_stats *st)
{
	struct ks_match m;
	uint64_t deadline;
	unsigned n0;

	ks_check_alive(k);
	pthread_mutex_lock(&k->mu);
	memset(&m, 0, sizeof(m));
	ks_lines(k, json_line, &m);
	n0 = m.count;
	pthread_mutex_unlock(&k->mu);
	if (kill(k->pid, SIGUSR1) != 0)
		IT_FAIL("kill SIGUSR1: %s", strerror(errno));
	deadline = it_now_ns() + (uint64_t)(it_limit(10) * 1e9);
	pthread_mutex_lock(&k->mu);
	for (;;) {
		memset(&m, 0, sizeof(m));
		ks_lines(k, json_line, &m);
		if (m.count > n0)
			break;
		if (k->log_eof || !ks_wait(k, deadline)) {
			pthread_mutex_unlock(&k->mu);
			ks_check_alive(k);
			IT_FAIL("no json stats line after SIGUSR1");
		}
	}
	{
		char line[2048];

		snprintf(line, sizeof(line), "%.*s", (int)m.lastlen, m.last);
		pthread_mutex_unlock(&k->mu);
		stats_parse(line, strlen(line), st);
	}
}

void
ks_wait_active(struct ks *k, uint64_t want, struct it_stats *st)
{
	uint64_t deadline = it_now_ns() + (uint64_t)(it_limit(15) * 1e9);

	for (;;) {
		ks_stats(k, st);
		if (st->active == want)
			return;
		if (it_now_ns() > deadline)
			IT_FAIL("kcsplice stats: active=%" PRIu64 ", waited for "
			    "%" PRIu64, st->active, want);
		it_sleep_ms(20);
	}
}

void
ks_kill(struct ks *k, int sig)
{
	ks_check_alive(k);
	if (kill(k->pid, sig) != 0)
		IT_FAIL("kill %s: %s", strsignal(sig), strerror(errno));
}

void
ks_stop(struct ks *k)
{
	ks_kill(k, SIGTERM);
	ks_wait_exit(k, 0);
}

void
ks_wait_exit(struct ks *k, int want)
{
	uint64_t deadline = it_now_ns() + (uint64_t)(it_limit(30) * 1e9);
	int status = 0;
	pid_t r;

	while ((r = waitpid(k->pid, &status, WNOHANG)) == 0) {
		if (it_now_ns() > deadline)
			IT_FAIL("kcsplice did not exit within %.0f s of SIGTERM",
			    it_limit(30));
		it_sleep_ms(10);
	}
	if (r != k->pid)
		IT_FAIL("waitpid: %s", strerror(errno));
	k->running = false;
	if (WIFSIGNALED(status))
		IT_FAIL("kcsplice died of signal %d (%s) after SIGTERM",
		    WTERMSIG(status), strsignal(WTERMSIG(status)));
	if (WEXITSTATUS(status) != want)
		IT_FAIL("kcsplice exited %d after SIGTERM, not %d",
		    WEXITSTATUS(status), want);
	pthread_join(k->reader, NULL);
	ks_register(k, false);
	close(k->errfd);
	it_log("kcsplice stopped: exit %d", want);
	if (!k->keep_log)
		ks_free_log(k);
}

void
ks_free_log(struct ks *k)
{
	free(k->log);
	k->log = NULL;
	k->loglen = 0;
	pthread_mutex_destroy(&k->mu);
	pthread_cond_destroy(&k->cv);
}

const char *
it_log_prefix(const char *line)
{
	static const char *const levels[] = { "error ", "warning ",
	    "notice ", "info " };
	static const char pat[] = "dddd-dd-ddTdd:dd:dd.dddZ ";
	size_t i;

	for (i = 0; pat[i] != '\0'; i++) {
		if (pat[i] == 'd' ? (line[i] < '0' || line[i] > '9') :
		    line[i] != pat[i])
			return NULL;
	}
	line += i;
	for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (strncmp(line, levels[i], strlen(levels[i])) == 0)
			return line + strlen(levels[i]);
	return NULL;
}

/* One-shot runs. */

struct sink {
	char	*buf;
	size_t	 len, cap;
};

static void
sink_add(struct sink *s, const char *p, size_t n)
{
	if (s->len + n + 1 > s->cap) {
		s->cap = (s->len + n + 1) * 2;
		s->buf = realloc(s->buf, s->cap);
		if (s->buf == NULL)
			IT_FAIL("out of memory");
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	s->buf[s->len] = '\0';
}

int
it_run(const char *const *args, double timeout_s, char **out, char **err)
{
	const char *argv[64];
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	struct sink so = { NULL, 0, 0 }, se = { NULL, 0, 0 };
	struct pollfd pfd[2];
	uint64_t deadline;
	int po[2], pe[2], r, status;
	char buf[4096];
	size_t i, n = 0;
	ssize_t k;
	pid_t pid;

	argv[n++] = it_kcsplice;
	for (i = 0; args[i] != NULL && n + 1 < 64; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	if (pipe2(po, O_CLOEXEC) != 0 || pipe2(pe, O_CLOEXEC) != 0)
		IT_FAIL("pipe2: %s", strerror(errno));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, po[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
	spawn_attr(&attr);
	r = posix_spawn(&pid, it_kcsplice, &fa, &attr, (char *const *)argv,
	    environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(po[1]);
	close(pe[1]);
	if (r != 0)
		IT_FAIL("posix_spawn %s: %s", it_kcsplice, strerror(r));
	sink_add(&so, "", 0);
	sink_add(&se, "", 0);
	deadline = it_now_ns() + (uint64_t)(it_limit(timeout_s) * 1e9);
	pfd[0].fd = po[0];
	pfd[1].fd = pe[0];
	while (pfd[0].fd >= 0 || pfd[1].fd >= 0) {
		if (it_now_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			IT_FAIL("kcsplice %s... did not exit within %.0f s",
			    argv[1] ? argv[1] : "", it_limit(timeout_s));
		}
		pfd[0].events = pfd[1].events = POLLIN;
		if (poll(pfd, 2, 50) <= 0)
			continue;
		for (i = 0; i < 2; i++) {
			if (pfd[i].fd < 0 || pfd[i].revents == 0)
				continue;
			k = read(pfd[i].fd, buf, sizeof(buf));
			if (k > 0) {
				sink_add(i == 0 ? &so : &se, buf, (size_t)k);
			} else if (k == 0 || errno != EINTR) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
			}
		}
	}
	while ((r = waitpid(pid, &status, WNOHANG)) == 0) {
		if (it_now_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			IT_FAIL("kcsplice did not exit within %.0f s",
			    it_limit(timeout_s));
		}
		it_sleep_ms(5);
	}
	*out = so.buf;
	*err = se.buf;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
