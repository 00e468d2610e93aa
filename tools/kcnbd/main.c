/*
 * kcnbd: an NBD server on kcont's file I/O and owned sockets (kcnbd(1)).
 *
 * The main thread opens the exports, makes one soft executor per worker
 * (-j) and the listeners, then only takes signals (blocked in every
 * thread, taken with sigtimedwait) and prints statistics.  Each worker
 * keeps a few accept requests on every listener, so connections go round
 * the workers; a connection then lives on its worker (conn.c).
 *
 * Signals: SIGTERM or SIGINT drains (no new connections, options or
 * requests; requests in flight finish and reply; then every export is
 * fsync'd) for at most --shutdown-timeout, a second one cuts at once;
 * SIGHUP reads each export's size again, for connections made after it;
 * SIGUSR1 prints the statistics line.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "kcnbd.h"
#include "nlog.h"

#ifndef KCNBD_VERSION
#define KCNBD_VERSION "0"
#endif

#define ACCEPTS_PER_WORKER	2

struct accept_slot {
	struct kc_socket	*ls;
	struct worker		*w;
	struct kc		 done;
	struct kc		 retry;
};

static struct kn_opts opts;
static struct export *exps;
static struct worker *workers;
static struct kc_socket *lsocks[KN_MAX_LISTEN];
static char unix_paths[KN_MAX_LISTEN][sizeof(((struct sockaddr_un *)0)->sun_path)];
static bool stopping;			/* atomic */

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- exports ---- */

static int
export_size(struct export *x, uint64_t *size)
{
	struct stat sb;

	if (fstat(x->fd, &sb) != 0)
		return -errno;
	if (S_ISBLK(sb.st_mode)) {
		x->blk = true;
		if (ioctl(x->fd, BLKGETSIZE64, size) != 0)
			return -errno;
		return 0;
	}
	if (!S_ISREG(sb.st_mode))
		return -EINVAL;
	*size = (uint64_t)sb.st_size;
	return 0;
}

static int
open_exports(void)
{
	unsigned i;
	int e;

	if ((exps = calloc(opts.nexports, sizeof(*exps))) == NULL)
		return -ENOMEM;
	for (i = 0; i < opts.nexports; i++) {
		struct export *x = &exps[i];

		memcpy(x->name, opts.exports[i].name, sizeof(x->name));
		memcpy(x->path, opts.exports[i].path, sizeof(x->path));
		x->ro = opts.exports[i].ro || opts.read_only;
		x->fd = open(x->path, (x->ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
		if (x->fd < 0) {
			e = -errno;
			fprintf(stderr, "kcnbd: export %s: %s: %s\n", x->name,
			    x->path, strerror(-e));
			return e;
		}
		if ((e = export_size(x, &x->size)) != 0) {
			fprintf(stderr, "kcnbd: export %s: %s: %s\n", x->name,
			    x->path, e == -EINVAL ?
			    "not a regular file or a block device" :
			    strerror(-e));
			return e;
		}
	}
	return 0;
}

/* ---- workers ---- */

static void
reload_fn(void *obj, void *env, int status)
{
	struct worker *w = env;
	unsigned i;

	(void)obj;
	(void)status;
	for (i = 0; i < opts.nexports; i++)
		w->ne[i].size = __atomic_load_n(&w->newsize[i],
		    __ATOMIC_RELAXED);
}

static void
drain_fn(void *obj, void *env, int status)
{
	(void)obj;
	(void)status;
	kn_conn_drain(env);
}

static int
make_workers(void)
{
	struct kc_executor_attr ea;
	unsigned i, k;
	int e;

	if ((workers = calloc(opts.threads, sizeof(*workers))) == NULL)
		return -ENOMEM;
	for (i = 0; i < opts.threads; i++) {
		struct worker *w = &workers[i];

		memset(&ea, 0, sizeof(ea));
		ea.kind = KC_EXEC_SOFT;
		ea.name = "kcnbd";
		if ((e = kc_executor_create(&w->ex, &ea)) != 0)
			return e;
		w->idx = i;
		w->files = calloc(opts.nexports, sizeof(*w->files));
		w->ne = calloc(opts.nexports, sizeof(*w->ne));
		w->newsize = calloc(opts.nexports, sizeof(*w->newsize));
		if (w->files == NULL || w->ne == NULL || w->newsize == NULL)
			return -ENOMEM;
		for (k = 0; k < opts.nexports; k++) {
			int fd = fcntl(exps[k].fd, F_DUPFD_CLOEXEC, 0);

			if (fd < 0)
				return -errno;
			if ((e = kc_file_adopt(&w->files[k], w->ex, fd,
			    0)) != 0) {
				close(fd);
				return e;
			}
			w->ne[k].name = exps[k].name;
			w->ne[k].size = exps[k].size;
			w->ne[k].ro = exps[k].ro;
		}
		w->xt.e = w->ne;
		w->xt.n = opts.nexports;
		w->xt.max_payload = opts.max_payload;
		/*
		 * Every worker's descriptor is the same file: fsync(2) of
		 * any of them flushes what every connection wrote.
		 */
		w->xt.multi_conn = true;
		(void)kc_init(&w->reload, reload_fn, w, w->ex, 0);
		(void)kc_init(&w->drain, drain_fn, w, w->ex, 0);
	}
	return 0;
}

/* ---- listening ---- */

static void accept_again(struct accept_slot *a);

static bool
allowed(const struct kc_sockaddr *sa)
{
	unsigned i;

	if (opts.nallow == 0 || sa->a.sa.sa_family == AF_UNIX)
		return true;
	for (i = 0; i < opts.nallow; i++)
		if (ks_cidr_match(&opts.allow[i], sa))
			return true;
	return false;
}

static void
accepted(void *obj, void *env, int status)
{
	struct accept_slot *a = env;
	struct kc_socket *s = obj;
	struct kc_sockaddr sa;
	char peer[112];
	unsigned n;

	if (status == -ECANCELED)
		return;
	if (status != 0) {
		kn_log(KN_ERROR, "accept: %s", strerror(-status));
		(void)kc_defer_after(&a->retry, 50000000ull, NULL, 0);
		return;
	}
	if (__atomic_load_n(&stopping, __ATOMIC_ACQUIRE)) {
		(void)kc_socket_close(s, NULL);
		return;
	}
	if (kc_socket_name(s, &sa, 1) != 0)
		memset(&sa, 0, sizeof(sa));
	if (!allowed(&sa)) {
		kn_count(&a->w->st.denied, 1);
		if (kc_sockaddr_format(&sa, peer, sizeof(peer)) < 0)
			snprintf(peer, sizeof(peer), "?");
		kn_log(KN_WARNING, "connection from %s denied (--allow)",
		    peer);
		(void)kc_socket_close(s, NULL);
	} else {
		n = __atomic_add_fetch(&kn_conns_open, 1, __ATOMIC_ACQ_REL);
		if (opts.max_conns != 0 && n > opts.max_conns) {
			__atomic_sub_fetch(&kn_conns_open, 1, __ATOMIC_ACQ_REL);
			kn_count(&a->w->st.refused, 1);
			kn_log(KN_WARNING, "connection refused: %u open "
			    "(--max-conns)", opts.max_conns);
			(void)kc_socket_close(s, NULL);
		} else
			kn_conn_start(a->w, s);
	}
	accept_again(a);
}

static void
retry_fn(void *obj, void *env, int status)
{
	(void)obj;
	(void)status;
	accept_again(env);
}

static void
accept_again(struct accept_slot *a)
{
	if (__atomic_load_n(&stopping, __ATOMIC_ACQUIRE))
		return;
	if (kc_socket_accept(a->ls, a->w->ex, &a->done) != 0)
		(void)kc_defer_after(&a->retry, 50000000ull, NULL, 0);
}

/*
 * A UNIX socket file left by a run that is gone (nothing answers on it)
 * is removed; anything else at the path is left alone and refused.
 */
static int
unix_stale(const char *path, const struct kc_sockaddr *sa)
{
	struct stat sb;
	int fd, e = 0;

	if (lstat(path, &sb) != 0)
		return 0;
	if (!S_ISSOCK(sb.st_mode))
		return -EEXIST;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	if (connect(fd, &sa->a.sa, sa->len) == 0)
		e = -EADDRINUSE;
	else if (errno == ECONNREFUSED)
		e = unlink(path) == 0 ? 0 : -errno;
	else
		e = -errno;
	close(fd);
	return e;
}

static int
listen_on(unsigned i)
{
	struct ks_addr *a = &opts.listen[i];
	struct kc_sockaddr bound;
	char text[160];
	int e, fam = a->sa.a.sa.sa_family;

	if (fam == AF_UNIX && a->sa.a.un.sun_path[0] != '\0') {
		if ((e = unix_stale(a->sa.a.un.sun_path, &a->sa)) != 0)
			return e;
	}
	if ((e = kc_socket_create(&lsocks[i], workers[0].ex, fam, SOCK_STREAM,
	    NULL)) != 0)
		return e;
	if ((e = kc_socket_bind(lsocks[i], &a->sa)) != 0 ||
	    (e = kc_socket_listen(lsocks[i], 4096)) != 0)
		return e;
	if (fam == AF_UNIX && a->sa.a.un.sun_path[0] != '\0')
		snprintf(unix_paths[i], sizeof(unix_paths[i]), "%s",
		    a->sa.a.un.sun_path);
	if (kc_socket_name(lsocks[i], &bound, 0) != 0 ||
	    ks_addr_format(a->kind, &bound, text, sizeof(text)) < 0)
		snprintf(text, sizeof(text), "%s", a->text);
	kn_log_always("listening on %s", text);
	return 0;
}

static int
start_accepting(void)
{
	unsigned i, k, n = opts.nlisten * opts.threads * ACCEPTS_PER_WORKER;
	struct accept_slot *slots = calloc(n, sizeof(*slots));

	if (slots == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		struct accept_slot *a = &slots[i];

		k = i % opts.threads;
		a->ls = lsocks[i / (opts.threads * ACCEPTS_PER_WORKER)];
		a->w = &workers[k];
		(void)kc_init(&a->done, accepted, a, a->w->ex, 0);
		(void)kc_init(&a->retry, retry_fn, a, a->w->ex, 0);
		accept_again(a);
	}
	return 0;
}

static void
unix_remove(void)
{
	unsigned i;

	for (i = 0; i < KN_MAX_LISTEN; i++)
		if (unix_paths[i][0] != '\0')
			(void)unlink(unix_paths[i]);
}

/* ---- statistics ---- */

static void
print_stats(void)
{
	struct kn_stats t;
	struct rusage ru;
	uint64_t *tp = (uint64_t *)&t;
	unsigned i, k;

	memset(&t, 0, sizeof(t));
	for (i = 0; i < opts.threads; i++) {
		const uint64_t *wp = (const uint64_t *)&workers[i].st;

		for (k = 0; k < sizeof(t) / sizeof(uint64_t); k++)
			tp[k] += __atomic_load_n(&wp[k], __ATOMIC_RELAXED);
	}
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		memset(&ru, 0, sizeof(ru));
	kn_log_always("stats conns=%llu active=%llu refused=%llu "
	    "denied=%llu reqs=%llu reads=%llu writes=%llu read_bytes=%llu "
	    "write_bytes=%llu flushes=%llu trims=%llu zeroes=%llu "
	    "caches=%llu block_status=%llu holes=%llu sendfile=%llu "
	    "errors=%llu csw=%ld vcsw=%ld",
	    (unsigned long long)t.conns, (unsigned long long)t.active,
	    (unsigned long long)t.refused, (unsigned long long)t.denied,
	    (unsigned long long)t.reqs, (unsigned long long)t.reads,
	    (unsigned long long)t.writes, (unsigned long long)t.read_bytes,
	    (unsigned long long)t.write_bytes, (unsigned long long)t.flushes,
	    (unsigned long long)t.trims, (unsigned long long)t.zeroes,
	    (unsigned long long)t.caches, (unsigned long long)t.block_status,
	    (unsigned long long)t.holes, (unsigned long long)t.sendfiles,
	    (unsigned long long)t.errors,
	    ru.ru_nvcsw + ru.ru_nivcsw, ru.ru_nvcsw);
}

/* ---- signals ---- */

static void
taken_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR1);
}

static void
reload_sizes(void)
{
	unsigned i, k;

	for (k = 0; k < opts.nexports; k++) {
		uint64_t size;
		int e;

		if ((e = export_size(&exps[k], &size)) != 0) {
			kn_log(KN_ERROR, "SIGHUP: export %s: %s: %s (size "
			    "kept)", exps[k].name, exps[k].path,
			    strerror(-e));
			continue;
		}
		if (size != exps[k].size)
			kn_log(KN_NOTICE, "SIGHUP: export %s: %llu bytes, "
			    "was %llu", exps[k].name,
			    (unsigned long long)size,
			    (unsigned long long)exps[k].size);
		exps[k].size = size;
		for (i = 0; i < opts.threads; i++)
			__atomic_store_n(&workers[i].newsize[k], size,
			    __ATOMIC_RELAXED);
	}
	for (i = 0; i < opts.threads; i++)
		(void)kc_run(&workers[i].reload, NULL, 0);
}

/* Flush every export; 0 or the first error. */
static int
sync_all(void)
{
	unsigned k;
	int e = 0;

	for (k = 0; k < opts.nexports; k++) {
		if (!exps[k].ro && fsync(exps[k].fd) != 0 && e == 0) {
			e = -errno;
			kn_log(KN_ERROR, "export %s: fsync: %s", exps[k].name,
			    strerror(errno));
		}
	}
	return e;
}

static int
run(void)
{
	sigset_t set;
	uint64_t next_stats = 0, deadline = 0;
	bool draining = false;
	unsigned i;

	taken_signals(&set);
	if (opts.stats_ns != 0)
		next_stats = now_ns() + opts.stats_ns;
	for (;;) {
		struct timespec ts;
		uint64_t now = now_ns(), wait = 1000000000ull;
		int sig;

		if (next_stats != 0) {
			if (now >= next_stats) {
				print_stats();
				next_stats = now + opts.stats_ns;
			}
			if (next_stats - now < wait)
				wait = next_stats - now;
		}
		if (draining) {
			if (__atomic_load_n(&kn_conns_open,
			    __ATOMIC_ACQUIRE) == 0)
				break;
			if (now >= deadline) {
				kn_log(KN_NOTICE, "stopping: %u connections "
				    "still open after the drain: leaving "
				    "them", __atomic_load_n(&kn_conns_open,
				    __ATOMIC_ACQUIRE));
				(void)sync_all();
				return EX_TEMPFAIL;
			}
			if (wait > 20000000ull)
				wait = 20000000ull;
		}
		ts.tv_sec = (time_t)(wait / 1000000000ull);
		ts.tv_nsec = (long)(wait % 1000000000ull);
		sig = sigtimedwait(&set, NULL, &ts);
		if (sig < 0)
			continue;
		if (sig == SIGUSR1) {
			print_stats();
			continue;
		}
		if (sig == SIGHUP) {
			if (!draining)
				reload_sizes();
			continue;
		}
		if (draining) {
			kn_log(KN_NOTICE, "stopping at once: %u connections "
			    "open", __atomic_load_n(&kn_conns_open,
			    __ATOMIC_ACQUIRE));
			(void)sync_all();
			return EX_TEMPFAIL;
		}
		draining = true;
		__atomic_store_n(&stopping, true, __ATOMIC_RELEASE);
		for (i = 0; i < opts.threads; i++)
			(void)kc_run(&workers[i].drain, NULL, 0);
		kn_log(KN_NOTICE, "stopping: %u connection%s open, waiting up "
		    "to %.1f s", __atomic_load_n(&kn_conns_open,
		    __ATOMIC_ACQUIRE), __atomic_load_n(&kn_conns_open,
		    __ATOMIC_ACQUIRE) == 1 ? "" : "s",
		    (double)opts.shutdown_ns / 1e9);
		deadline = now_ns() + opts.shutdown_ns;
	}
	if (opts.verbosity >= 0)
		print_stats();
	if (sync_all() != 0)
		return EX_IOERR;
	kn_log(KN_NOTICE, "stopped");
	return EX_OK;
}

int
main(int argc, char **argv)
{
	char err[512];
	sigset_t set;
	unsigned i;
	int r;

	r = kn_opts_parse(&opts, argc, argv, err, sizeof(err));
	if (r != 0) {
		fprintf(stderr, "kcnbd: %s\n", err);
		kn_usage(stderr);
		return r;
	}
	if (opts.action == KN_HELP) {
		kn_usage(stdout);
		return EX_OK;
	}
	if (opts.action == KN_VERSION) {
		printf("kcnbd %s\n", KCNBD_VERSION);
		return EX_OK;
	}
	kn_log_set(opts.verbosity);
	kn_max_payload = opts.max_payload;
	kn_handshake_ns = opts.handshake_ns;
	taken_signals(&set);
	sigaddset(&set, SIGPIPE);
	(void)pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (open_exports() != 0)
		return EX_NOINPUT;
	if ((r = make_workers()) != 0) {
		fprintf(stderr, "kcnbd: cannot start the workers: %s\n",
		    strerror(-r));
		_exit(EX_OSERR);
	}
	for (i = 0; i < opts.nlisten; i++) {
		if ((r = listen_on(i)) != 0) {
			fprintf(stderr, "kcnbd: cannot listen on %s: %s\n",
			    opts.listen[i].text, r == -EEXIST ?
			    "there is a file that is not a socket (left "
			    "alone)" : strerror(-r));
			unix_remove();
			_exit(EX_UNAVAILABLE);
		}
	}
	for (i = 0; i < opts.nexports; i++)
		kn_log(KN_NOTICE, "export %s%s: %s, %llu bytes%s", exps[i].name,
		    i == 0 ? " (default)" : "", exps[i].path,
		    (unsigned long long)exps[i].size,
		    exps[i].ro ? ", read-only" : "");
	if ((r = start_accepting()) != 0) {
		unix_remove();
		_exit(EX_OSERR);
	}
	r = run();
	unix_remove();
	kn_log(KN_INFO, "exit %d", r);
	/* Workers may still hold sockets being closed: just go. */
	_exit(r);
}
