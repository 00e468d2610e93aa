/*
 * kctest.c: the shared unit-test helpers (see kctest.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "kctest.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static const char *kct_name = "test";
static uint64_t kct_seed_value;
static atomic_uint_fast64_t kct_seed_counter;
static _Thread_local uint64_t kct_rng;

void
kct_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s:%d: FAIL [%s, seed %" PRIu64 "]: ", file, line,
	    kct_name, kct_seed_value);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	abort();
}

static void
kct_fmt_value(char *buf, size_t len, long long v)
{
	if (v < 0 && v > -4096)
		snprintf(buf, len, "%lld (-%s)", v, strerrorname_np((int)-v) ?
		    strerrorname_np((int)-v) : "?");
	else
		snprintf(buf, len, "%lld", v);
}

void
kct_fail_eq(const char *file, int line, const char *op, const char *ea,
    const char *eb, long long a, long long b)
{
	char sa[64], sb[64];

	kct_fmt_value(sa, sizeof(sa), a);
	kct_fmt_value(sb, sizeof(sb), b);
	kct_fail(file, line, "check failed: %s %s %s (%s vs %s)", ea, op, eb,
	    sa, sb);
}

static void
kct_watchdog(int sig)
{
	static const char msg[] = "FAIL: watchdog expired (test hung)\n";
	ssize_t r;

	(void)sig;
	r = write(2, msg, sizeof(msg) - 1);
	(void)r;
	abort();
}

void
kct_begin(const char *name, unsigned watchdog_s)
{
	struct sigaction sa;
	const char *s;

	kct_name = name;
	setvbuf(stdout, NULL, _IOLBF, 0);
	s = getenv("KC_SEED");
	if (s != NULL && *s != '\0')
		kct_seed_value = strtoull(s, NULL, 0);
	else
		kct_seed_value = (uint64_t)time(NULL) ^
		    ((uint64_t)getpid() << 32);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kct_watchdog;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	alarm(watchdog_s);
	printf("%s: start (seed %" PRIu64 ", KC_SEED=<n> to repeat)\n", name,
	    kct_seed_value);
}

int
kct_done(void)
{
	alarm(0);
	printf("%s: PASS\n", kct_name);
	return 0;
}

bool
kct_sanitized(void)
{
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
	return true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
	return true;
#else
	return false;
#endif
#else
	return false;
#endif
}

uint64_t
kct_now_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		kct_fail(__FILE__, __LINE__, "clock_gettime failed");
	return (uint64_t)ts.tv_sec * KCT_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

void
kct_sleep_ns(uint64_t ns)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(ns / KCT_NSEC_PER_SEC);
	ts.tv_nsec = (long)(ns % KCT_NSEC_PER_SEC);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

void
kct_pause(unsigned iteration)
{
	if (iteration < 64)
		__asm__ __volatile__("" ::: "memory");
	else if (iteration < 256)
		sched_yield();
	else
		kct_sleep_ns(50000);
}

pid_t
kct_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

uint64_t
kct_seed(void)
{
	return kct_seed_value;
}

uint64_t
kct_rand(void)
{
	uint64_t x = kct_rng;

	if (x == 0) {
		/* splitmix64 of (seed, thread number) */
		x = kct_seed_value + 0x9e3779b97f4a7c15ull *
		    (atomic_fetch_add(&kct_seed_counter, 1) + 1);
		x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
		x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
		x ^= x >> 31;
		if (x == 0)
			x = 1;
	}
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	kct_rng = x;
	return x;
}

uint64_t
kct_rand_below(uint64_t n)
{
	return n == 0 ? 0 : kct_rand() % n;
}

pthread_t
kct_thread_start(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	int r;

	r = pthread_create(&t, NULL, fn, arg);
	if (r != 0)
		kct_fail(__FILE__, __LINE__, "pthread_create: %s", strerror(r));
	return t;
}

void *
kct_thread_join(pthread_t t)
{
	void *ret = NULL;
	int r;

	r = pthread_join(t, &ret);
	if (r != 0)
		kct_fail(__FILE__, __LINE__, "pthread_join: %s", strerror(r));
	return ret;
}

struct kc_executor *
kct_exec_soft(const char *name)
{
	struct kc_executor_attr attr;
	struct kc_executor *ex = NULL;

	memset(&attr, 0, sizeof(attr));
	attr.kind = KC_EXEC_SOFT;
	attr.nthreads = 1;
	attr.name = name;
	KC_CHECK_OK(kc_executor_create(&ex, &attr));
	KC_CHECK(ex != NULL);
	return ex;
}

struct kc_executor *
kct_exec_thread(unsigned nthreads, const char *name)
{
	struct kc_executor_attr attr;
	struct kc_executor *ex = NULL;

	memset(&attr, 0, sizeof(attr));
	attr.kind = KC_EXEC_THREAD;
	attr.nthreads = nthreads;
	attr.name = name;
	KC_CHECK_OK(kc_executor_create(&ex, &attr));
	KC_CHECK(ex != NULL);
	return ex;
}

void
kct_exec_finish(struct kc_executor *ex)
{
	KC_CHECK_OK(kc_executor_shutdown(ex, KC_SHUTDOWN_DRAIN, NULL));
	/* Shut down: the close frees it in the call. */
	KC_CHECK_OK(kc_executor_close(ex, NULL));
}

void
kct_exec_stats(const struct kc_executor *ex, struct kc_executor_stats *st)
{
	memset(st, 0, sizeof(*st));
	KC_CHECK_OK(kc_executor_stats(ex, st));
}

static void
kct_gate_fn(void *obj, void *env, int status)
{
	struct kct_gate *g = env;
	uint64_t deadline;
	unsigned n = 0;

	(void)obj;
	(void)status;
	g->g_tid = kct_gettid();
	g->g_thread = pthread_self();
	g->g_current = kc_executor_current();
	atomic_store(&g->g_entered, 1);
	/* Spin (yielding) rather than block: legal on a soft executor. */
	deadline = kct_now_ns() + 60 * KCT_NSEC_PER_SEC;
	while (!atomic_load(&g->g_release)) {
		if (kct_now_ns() > deadline)
			kct_fail(__FILE__, __LINE__, "gate never released");
		if (n++ < 64)
			__asm__ __volatile__("" ::: "memory");
		else
			sched_yield();
	}
	atomic_store(&g->g_done, 1);
}

void
kct_gate_hold(struct kct_gate *g, struct kc_executor *ex)
{
	memset(g, 0, sizeof(*g));
	g->g_ex = ex;
	KC_CHECK_OK(kc_init(&g->g_kc, kct_gate_fn, g, ex, 0));
	KC_CHECK_OK(kc_defer(&g->g_kc, NULL, 0));
	KCT_WAIT(atomic_load(&g->g_entered), 10);
	KC_CHECK_PTR_EQ(g->g_current, ex);
}

void
kct_gate_release(struct kct_gate *g)
{
	atomic_store(&g->g_release, 1);
}

void
kct_gate_wait(struct kct_gate *g)
{
	KCT_WAIT(atomic_load(&g->g_done), 10);
	KCT_WAIT(kc_state(&g->g_kc) == KC_STATE_IDLE, 10);
}

struct kct_later {
	atomic_int	*l_flag;
	uint64_t	 l_delay;
};

static void *
kct_later_main(void *arg)
{
	struct kct_later *l = arg;

	kct_sleep_ns(l->l_delay);
	atomic_store(l->l_flag, 1);
	free(l);
	return NULL;
}

pthread_t
kct_set_later(atomic_int *flag, uint64_t delay_ns)
{
	struct kct_later *l = malloc(sizeof(*l));

	KC_CHECK(l != NULL);
	l->l_flag = flag;
	l->l_delay = delay_ns;
	return kct_thread_start(kct_later_main, l);
}

pthread_t
kct_gate_release_later(struct kct_gate *g, uint64_t delay_ns)
{
	return kct_set_later(&g->g_release, delay_ns);
}

void
kct_wait_flag(atomic_int *flag, unsigned timeout_s)
{
	KCT_WAIT(atomic_load(flag) != 0, timeout_s);
}

static void *
kct_deadman_main(void *arg)
{
	struct kct_deadman *d = arg;

	while (!atomic_load(&d->d_disarm)) {
		if (kct_now_ns() >= d->d_deadline) {
			atomic_store(&d->d_fired, 1);
			atomic_store(d->d_target, 1);
			break;
		}
		kct_sleep_ns(1000000);
	}
	return NULL;
}

void
kct_deadman_arm(struct kct_deadman *d, atomic_int *target, uint64_t delay_ns)
{
	memset(d, 0, sizeof(*d));
	d->d_target = target;
	d->d_deadline = kct_now_ns() + delay_ns;
	d->d_thread = kct_thread_start(kct_deadman_main, d);
}

bool
kct_deadman_fired(struct kct_deadman *d)
{
	return atomic_load(&d->d_fired) != 0;
}

bool
kct_deadman_disarm(struct kct_deadman *d)
{
	atomic_store(&d->d_disarm, 1);
	kct_thread_join(d->d_thread);
	return atomic_load(&d->d_fired) != 0;
}

void
kct_check_close_busy(struct kc_executor *ex, struct kct_gate *gates,
    unsigned n, struct kc *done)
{
	struct kct_deadman d[8];
	unsigned i;
	bool fired = false;
	int rc;

	KC_CHECK_LE(n, 8);
	for (i = 0; i < n; i++)
		kct_deadman_arm(&d[i], &gates[i].g_release,
		    2 * KCT_NSEC_PER_SEC);
	rc = kc_executor_close(ex, done);
	for (i = 0; i < n; i++)
		fired |= kct_deadman_fired(&d[i]);
	for (i = 0; i < n; i++)
		kct_deadman_disarm(&d[i]);
	if (fired)
		kct_fail(__FILE__, __LINE__, "kc_executor_close did not "
		    "return while a continuation was running: it returned %d "
		    "only after the test released the running continuation "
		    "2 s later (expected 0 at once)", rc);
	KC_CHECK_EQ(rc, 0);
}

unsigned
kct_tasks_named(const char *prefix)
{
	char path[300], comm[32];
	struct dirent *de;
	unsigned n = 0;
	DIR *d;
	FILE *f;

	d = opendir("/proc/self/task");
	KC_CHECK(d != NULL);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm",
		    de->d_name);
		if ((f = fopen(path, "re")) == NULL)
			continue;	/* it has just exited */
		if (fgets(comm, sizeof(comm), f) != NULL &&
		    strncmp(comm, prefix, strlen(prefix)) == 0)
			n++;
		fclose(f);
	}
	closedir(d);
	return n;
}

static void
kct_done_fn(void *obj, void *env, int status)
{
	struct kct_done *d = env;

	d->d_obj = obj;
	d->d_status = status;
	d->d_ran_on = kc_executor_current();
	d->d_sockets = kc_socket_count();
	d->d_tid = kct_gettid();
	atomic_fetch_add(&d->d_runs, 1);
	KC_CHECK_EQ(kc_run_all(&d->d_q, obj, status), 1);
}

void
kct_done_init(struct kct_done *d, struct kc_executor *ex)
{
	memset(d, 0, sizeof(*d));
	KC_CHECK_OK(kc_queue_init(&d->d_q));
	KC_CHECK_OK(kc_init(&d->d_kc, kct_done_fn, d, ex, 0));
	KC_CHECK_OK(kc_wait_prepare(&d->d_w, &d->d_q));
}

void
kct_done_wait(struct kct_done *d, const void *obj)
{
	void *got = NULL;
	int status = -1;

	KC_CHECK(!d->d_waited);
	d->d_waited = true;
	KC_CHECK_OK(kc_wait(&d->d_w, 30 * KCT_NSEC_PER_SEC, &got,
	    &status));
	KC_CHECK_PTR_EQ(got, obj);
	KC_CHECK_EQ(status, 0);
	KC_CHECK_EQ(atomic_load(&d->d_runs), 1);
	/* Exactly once: a second trigger would show within this. */
	kct_sleep_ns(20 * 1000 * 1000);
	KC_CHECK_EQ(atomic_load(&d->d_runs), 1);
	KC_CHECK_EQ(kc_state(&d->d_kc), KC_STATE_IDLE);
}

atomic_int kct_ran;

void
kct_count_fn(void *obj, void *env, int status)
{
	(void)obj;
	(void)env;
	(void)status;
	atomic_fetch_add(&kct_ran, 1);
}

void
kct_deny_syscall(long nr, int err)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		    offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (uint32_t)err),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {
		.len = (unsigned short)(sizeof(f) / sizeof(f[0])),
		.filter = f,
	};

	KC_CHECK_OK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	KC_CHECK_EQ(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
	    SECCOMP_FILTER_FLAG_TSYNC, &prog), 0);
	errno = 0;
	KC_CHECK_EQ(syscall(nr, 0, 0, 0), -1);
	KC_CHECK_EQ(errno, err);
}

void
kct_tmpdir(char *dir, size_t len, const char *name)
{
	char cwd[PATH_MAX];

	if (getcwd(cwd, sizeof(cwd)) == NULL)
		snprintf(cwd, sizeof(cwd), ".");
	if ((size_t)snprintf(dir, len, "%s/%s.XXXXXX", cwd, name) >= len)
		kct_fail(__FILE__, __LINE__, "kct_tmpdir: path too long");
	if (mkdtemp(dir) == NULL)
		kct_fail(__FILE__, __LINE__, "mkdtemp %s: %s", dir,
		    strerror(errno));
}

void
kct_rmtree(const char *dir)
{
	char cmd[PATH_MAX + 16];

	if (strchr(dir, '\'') != NULL) {
		fprintf(stderr, "kct_rmtree: not removing %s\n", dir);
		return;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}
