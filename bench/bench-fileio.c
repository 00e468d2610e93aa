/*
 * bench-fileio: reads of a file in the page cache through kcont's kc_file
 * (one soft executor, its io_uring), libuv's uv_fs_read (its threadpool)
 * and fio's io_uring engine, in the same run.
 *
 * The file.  SIZE bytes (1 GiB; --quick 128 MiB) written once in a
 * directory of the run's own under $TMPDIR (or /var/tmp), then read once
 * whole so that every page is in the page cache, and removed at the end.
 * The first 8 bytes of every 4 KiB block hold the block's number: the
 * reads kcont and libuv complete are checked against their offsets, every
 * one in the warm-up and after the window, one in 16 in it (the check is a
 * cache miss that fio, which checks nothing, does not pay); a wrong or
 * short read is a failure exit, never a number.
 *
 * The workloads, each at queue depth QD (64) and buffered (the page cache,
 * no O_DIRECT):
 *   rand  4 KiB reads at uniformly random 4 KiB-aligned offsets;
 *   seq   128 KiB reads at consecutive offsets, wrapping at the end.
 *
 * The contenders:
 *   kcont     one soft executor (default attributes), the file adopted
 *             with kc_file_adopt(), QD requests each with its own buffer,
 *             struct kc_file_req and continuation; each completion checks
 *             its block and calls kc_file_read() for the next offset from
 *             the continuation (the public API, as a user writes it).
 *   libuv N   uv_fs_read() on the default loop, QD requests in flight,
 *             each callback submitting the next, UV_THREADPOOL_SIZE = N:
 *             the default (4) and the number of CPUs.  The threadpool's
 *             size is fixed at its first use in a process, so each runs in
 *             a child (this program, exec'd with --child-libuv), which sets
 *             UV_THREADPOOL_SIZE before its first uv call.
 *   fio       fio's io_uring engine (a child), at the same depth and block
 *             size, set up for speed as far as it applies to buffered
 *             reads from the page cache: registered file and buffers,
 *             non-vectored reads, no random map, reduced time keeping,
 *             submissions and completions in batches (the command line is
 *             printed).  Not hipri (polled completions need O_DIRECT) nor
 *             sqthread_poll (a kernel thread polling on another CPU: two
 *             CPUs for one, where the others use one loop).  Its iops and
 *             bandwidth come from its JSON output.
 *
 * The method.  R rounds (5; --quick 1), each running every contender in
 * turn on both workloads; each run warms up W seconds (0.3; --quick 0.1)
 * and is measured for T seconds (2; --quick 0.4), then stops issuing and
 * waits for what is in flight.  A figure is the median over the rounds.
 * kcont's context switches are the process's (getrusage RUSAGE_SELF: every
 * thread, the main one blocked meanwhile, the peers in other processes)
 * over the measured window, per I/O completed in it.
 *
 * Output: the settings, a line per run (iops, MB/s, the process's CPU
 * microseconds per I/O over the window: for fio its job's usr_cpu and
 * sys_cpu, and for kcont csw per I/O, of which voluntary: sleeps; the rest
 * are preemptions by whatever else runs), the medians, kcont's CPU per random
 * read over each peer's (for information: on a shared machine it is
 * steadier than iops), and last
 *   fileio: vs_libuv=<kcont rand iops over the better libuv's>
 *     vs_fio=<over fio's> seq_vs_libuv=<kcont seq MB/s over the better
 *     libuv's> csw_per_io=<kcont rand's>
 * where "the better libuv" is the better of its two threadpool sizes, per
 * workload.
 *
 * Usage: bench-fileio [--quick] [--rounds R] [-t SECONDS] [--warmup SECONDS]
 *                     [--size MIB] [--only NAME] [-w rand|seq]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uv.h>

#include <kcont.h>
#include <kcont/io.h>

#include "benchlib.h"

#define QD		64u		/* in flight, every contender */
#define RAND_BS		4096u
#define SEQ_BS		(128u * 1024)
#define BLOCK		4096u		/* the numbered unit of the file */
#define MAX_ROUNDS	16u
#define CHECK_EVERY	32u		/* completions between clock reads */
#define VERIFY_EVERY	16u		/* in the window, reads checked: 1 in */
#define DRAIN_S		10		/* what is in flight is back by then */

enum wl { W_RAND, W_SEQ, NW };
static const char *const wl_name[NW] = { "rand", "seq" };
static const unsigned wl_bs[NW] = { RAND_BS, SEQ_BS };

static double opt_secs = 2.0, opt_warmup = 0.3;
static unsigned opt_rounds = 5;
static uint64_t opt_size = 1ull << 30;
static const char *only;
static int only_wl = -1;		/* -w: one workload */

static char dir[PATH_MAX - 32];
static char path[PATH_MAX];

/* ------------------------------------------------------------------ */
/* The workload, shared by kcont and libuv                            */

/* Where the next read goes: a PRNG or a cursor. */
struct gen {
	enum wl		 wl;
	uint64_t	 x;		/* xorshift state */
	uint64_t	 next;		/* seq: the next offset */
	uint64_t	 size;
};

static void
gen_init(struct gen *g, enum wl wl, uint64_t size)
{
	g->wl = wl;
	g->x = 0x9e3779b97f4a7c15ull;
	g->next = 0;
	g->size = size;
}

static uint64_t
gen_next(struct gen *g)
{
	uint64_t off;

	if (g->wl == W_RAND) {
		g->x ^= g->x << 13;
		g->x ^= g->x >> 7;
		g->x ^= g->x << 17;
		return (g->x % (g->size / RAND_BS)) * RAND_BS;
	}
	off = g->next;
	g->next += SEQ_BS;
	if (g->next + SEQ_BS > g->size)
		g->next = 0;
	return off;
}

/* Does buf (a read of len bytes at off) hold the file's blocks there? */
static int
block_ok(const void *buf, uint64_t off, unsigned len)
{
	const unsigned char *p = buf;
	uint64_t v;
	unsigned i;

	for (i = 0; i < len; i += BLOCK) {
		memcpy(&v, p + i, sizeof(v));
		if (v != (off + i) / BLOCK)
			return 0;
	}
	return 1;
}

/*
 * A run's measured window: the completions and time from the warm-up's end
 * to the window's end, and the process's context switches over it.
 */
struct window {
	double		 t_win, t_end;	/* when it opens, closes */
	int		 phase;		/* 0 warm-up, 1 window, 2 stopping */
	uint64_t	 ops;		/* completed, whole run */
	uint64_t	 ops0, ops1;
	double		 t0, t1;
	uint64_t	 csw0, csw1;
	uint64_t	 vcsw0, vcsw1;	/* voluntary: sleeps */
	double		 cpu0, cpu1;
	unsigned	 tick;
};

/*
 * Is this completion's data to be checked?  Every one outside the window;
 * in it, one in VERIFY_EVERY: the check reads the buffer the kernel (or
 * libuv's worker) has just written, a cache miss that fio, which checks
 * nothing, does not pay.
 */
static int
window_verify(const struct window *w)
{
	return w->phase != 1 || w->ops % VERIFY_EVERY == 0;
}

/*
 * The process's context switches (all, and the voluntary ones: sleeps)
 * and CPU seconds, every thread, in one getrusage().
 */
static void
usage_now(uint64_t *csw, uint64_t *vcsw, double *cpu)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	*vcsw = (uint64_t)ru.ru_nvcsw;
	*csw = *vcsw + (uint64_t)ru.ru_nivcsw;
	*cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* After each completion: move through the phases.  True: stop issuing. */
static int
window_step(struct window *w)
{
	double t;

	w->ops++;
	if (w->phase == 2)
		return 1;
	if (++w->tick < CHECK_EVERY)
		return 0;
	w->tick = 0;
	t = bench_now_s();
	if (w->phase == 0 && t >= w->t_win) {
		w->phase = 1;
		w->ops0 = w->ops;
		w->t0 = t;
		usage_now(&w->csw0, &w->vcsw0, &w->cpu0);
	} else if (w->phase == 1 && t >= w->t_end) {
		w->phase = 2;
		w->ops1 = w->ops;
		w->t1 = t;
		usage_now(&w->csw1, &w->vcsw1, &w->cpu1);
		return 1;
	}
	return 0;
}

/* A result: per second over the window. */
struct result {
	double		 iops;
	double		 mbps;		/* 10^6 bytes per second */
	double		 csw_per_io;	/* kcont only */
	double		 vcsw_per_io;	/* of which voluntary */
	double		 cpu_us;	/* the process's CPU per I/O */
};

static struct result
window_result(const struct window *w, unsigned bs, const char *who)
{
	struct result r;
	double secs = w->t1 - w->t0;
	uint64_t n = w->ops1 - w->ops0;

	if (w->phase != 2 || n == 0 || secs <= 0)
		bench_die("%s: no read completed in the window", who);
	r.iops = (double)n / secs;
	r.mbps = r.iops * bs / 1e6;
	r.csw_per_io = (double)(w->csw1 - w->csw0) / (double)n;
	r.vcsw_per_io = (double)(w->vcsw1 - w->vcsw0) / (double)n;
	r.cpu_us = (w->cpu1 - w->cpu0) * 1e6 / (double)n;
	return r;
}

/* ------------------------------------------------------------------ */
/* kcont                                                              */

struct ks_run;

struct ks_slot {
	struct kc_file_req	 rq;
	struct kc		 kc;
	struct ks_run		*run;
	uint64_t		 off;
	unsigned char		*buf;
};

struct ks_run {
	struct kc_file		*f;
	struct gen		 g;
	struct window		 w;
	unsigned		 bs;
	unsigned		 inflight;
	uint64_t		 errors;	/* failed or wrong reads */
	int			 first_err;
	struct kc		 start;
	struct bench_done	 done;
	struct ks_slot		 slot[QD];
};

static struct kc_executor *ks_ex;
static struct kc_file *ks_file;

static void
ks_fail(struct ks_run *run, int err)
{
	if (run->errors++ == 0)
		run->first_err = err;
}

static int
ks_issue(struct ks_slot *s)
{
	struct ks_run *run = s->run;

	s->off = gen_next(&run->g);
	return kc_file_read(&s->rq, run->f, s->buf, run->bs, s->off, &s->kc);
}

/* A read's continuation, on the executor: check it, start the next. */
static void
ks_read_done(void *obj, void *env, int status)
{
	struct ks_slot *s = env;
	struct ks_run *run = s->run;
	int e;

	(void)obj;
	if (status != (int)run->bs)
		ks_fail(run, status < 0 ? status : -EIO);
	else if (window_verify(&run->w) && !block_ok(s->buf, s->off, run->bs))
		ks_fail(run, -EILSEQ);
	if (!window_step(&run->w) && run->errors == 0) {
		if ((e = ks_issue(s)) == 0)
			return;
		ks_fail(run, e);
	}
	if (--run->inflight == 0)
		bench_done_signal(&run->done);
}

/* On the executor: the first QD reads, so that they go in one batch. */
static void
ks_start(void *obj, void *env, int status)
{
	struct ks_run *run = env;
	unsigned i;
	int e;

	(void)obj;
	(void)status;
	for (i = 0; i < QD; i++) {
		run->inflight++;
		if ((e = ks_issue(&run->slot[i])) != 0) {
			ks_fail(run, e);
			run->inflight--;
			break;
		}
	}
	if (run->inflight == 0)
		bench_done_signal(&run->done);
}

static void
ks_setup(void)
{
	int fd, e;

	e = kc_executor_create(&ks_ex, &(struct kc_executor_attr){
	    .kind = KC_EXEC_SOFT, .name = "kc-fileio" });
	if (e != 0)
		bench_die("kcont: kc_executor_create: %s", strerror(-e));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		bench_die("open %s: %s", path, strerror(errno));
	if ((e = kc_file_adopt(&ks_file, ks_ex, fd, 0)) != 0)
		bench_die("kcont: kc_file_adopt: %s", strerror(-e));
	if (kc_file_uring(ks_file) != 1)
		bench_die("kcont: the file is not on io_uring (the blocking "
		    "fallback would be measured)");
}

static void
ks_teardown(void)
{
	struct kc_file_req rq;
	int e;

	memset(&rq, 0, sizeof(rq));
	if ((e = kc_file_close(ks_file, &rq, NULL)) != 0)
		bench_die("kcont: kc_file_close: %s", strerror(-e));
	/* The drain waits for the close, which uses rq until it is done. */
	if ((e = kc_executor_shutdown(ks_ex, KC_SHUTDOWN_DRAIN, NULL)) != 0)
		bench_die("kcont: kc_executor_shutdown: %s", strerror(-e));
	if ((e = kc_executor_close(ks_ex, NULL)) != 0)
		bench_die("kcont: kc_executor_close: %s", strerror(-e));
}

static struct result
ks_measure(enum wl wl)
{
	struct ks_run *run;
	struct result res;
	unsigned i;
	double t;
	int e;

	if ((run = calloc(1, sizeof(*run))) == NULL)
		bench_die("calloc: out of memory");
	run->f = ks_file;
	run->bs = wl_bs[wl];
	gen_init(&run->g, wl, opt_size);
	bench_done_init(&run->done);
	for (i = 0; i < QD; i++) {
		struct ks_slot *s = &run->slot[i];

		s->run = run;
		if (posix_memalign((void **)&s->buf, 4096, run->bs) != 0)
			bench_die("posix_memalign: out of memory");
		if ((e = kc_init(&s->kc, ks_read_done, s, ks_ex, 0)) != 0)
			bench_die("kc_init: %s", strerror(-e));
	}
	if ((e = kc_init(&run->start, ks_start, run, ks_ex, 0)) != 0)
		bench_die("kc_init: %s", strerror(-e));
	t = bench_now_s();
	run->w.t_win = t + opt_warmup;
	run->w.t_end = run->w.t_win + opt_secs;
	if ((e = kc_run(&run->start, NULL, 0)) != 0)
		bench_die("kcont: kc_run: %s", strerror(-e));
	if (bench_done_wait(&run->done,
	    (unsigned)(opt_warmup + opt_secs) + DRAIN_S) != 0)
		bench_die("kcont: reads still in flight %d s after the window",
		    DRAIN_S);
	if (run->errors != 0)
		bench_die("kcont %s: %" PRIu64 " failed or wrong read(s), the "
		    "first: %s", wl_name[wl], run->errors,
		    strerror(-run->first_err));
	res = window_result(&run->w, run->bs, "kcont");
	bench_done_destroy(&run->done);
	for (i = 0; i < QD; i++)
		free(run->slot[i].buf);
	free(run);
	return res;
}

/* ------------------------------------------------------------------ */
/* libuv, in a child process                                          */

struct uv_slot {
	uv_fs_t		 req;
	uint64_t	 off;
	uv_buf_t	 b;
};

struct uv_run {
	uv_file		 fd;
	struct gen	 g;
	struct window	 w;
	unsigned	 bs;
	uint64_t	 errors;
	long		 first_err;
	struct uv_slot	 slot[QD];
};

static struct uv_run uvr;

static void uv_read_done(uv_fs_t *req);

static int
uv_issue(struct uv_slot *s)
{
	s->off = gen_next(&uvr.g);
	return uv_fs_read(uv_default_loop(), &s->req, uvr.fd, &s->b, 1,
	    (int64_t)s->off, uv_read_done);
}

static void
uv_fail(long err)
{
	if (uvr.errors++ == 0)
		uvr.first_err = err;
}

static void
uv_read_done(uv_fs_t *req)
{
	struct uv_slot *s = req->data;
	ssize_t n = req->result;
	int e;

	uv_fs_req_cleanup(req);
	if (n != (ssize_t)uvr.bs)
		uv_fail(n < 0 ? (long)n : -EIO);
	else if (window_verify(&uvr.w) && !block_ok(s->b.base, s->off,
	    uvr.bs))
		uv_fail(-EILSEQ);
	if (!window_step(&uvr.w) && uvr.errors == 0) {
		s->req.data = s;
		if ((e = uv_issue(s)) != 0)
			uv_fail(e);
	}
}

/*
 * --child-libuv THREADS WL: run one libuv measurement and print
 * "ops OPS secs SECS" on stdout.  THREADS 0: libuv's default.
 */
static int
child_libuv(const char *threads, const char *wls)
{
	struct result res;
	unsigned i;
	double t;
	int e;

	/* Before the first uv call: the threadpool reads it once. */
	if (strcmp(threads, "0") == 0)
		unsetenv("UV_THREADPOOL_SIZE");
	else if (setenv("UV_THREADPOOL_SIZE", threads, 1) != 0)
		bench_die("setenv: %s", strerror(errno));
	uvr.bs = strcmp(wls, "seq") == 0 ? SEQ_BS : RAND_BS;
	gen_init(&uvr.g, uvr.bs == SEQ_BS ? W_SEQ : W_RAND, opt_size);
	if ((uvr.fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		bench_die("open %s: %s", path, strerror(errno));
	for (i = 0; i < QD; i++) {
		void *p;

		if (posix_memalign(&p, 4096, uvr.bs) != 0)
			bench_die("posix_memalign: out of memory");
		uvr.slot[i].b = uv_buf_init(p, uvr.bs);
	}
	t = bench_now_s();
	uvr.w.t_win = t + opt_warmup;
	uvr.w.t_end = uvr.w.t_win + opt_secs;
	for (i = 0; i < QD; i++) {
		uvr.slot[i].req.data = &uvr.slot[i];
		if ((e = uv_issue(&uvr.slot[i])) != 0)
			bench_die("libuv: uv_fs_read: %s", uv_strerror(e));
	}
	if ((e = uv_run(uv_default_loop(), UV_RUN_DEFAULT)) != 0)
		bench_die("libuv: uv_run: %d", e);
	if (uvr.errors != 0)
		bench_die("libuv %s: %" PRIu64 " failed or wrong read(s), the "
		    "first: %s", wls, uvr.errors,
		    strerror((int)-uvr.first_err));
	res = window_result(&uvr.w, uvr.bs, "libuv");
	printf("ops %" PRIu64 " secs %.6f cpu %.6f iops %.1f\n",
	    uvr.w.ops1 - uvr.w.ops0, uvr.w.t1 - uvr.w.t0,
	    uvr.w.cpu1 - uvr.w.cpu0, res.iops);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Children: run one, collect its standard output                     */

static char self[PATH_MAX];

/* Run argv (execvp), return its standard output (malloc'd); die on failure. */
static char *
run_child(char *const argv[])
{
	size_t len = 0, cap = 65536;
	char *out;
	pid_t pid;
	ssize_t n;
	int p[2], st;

	if ((out = malloc(cap)) == NULL)
		bench_die("malloc: out of memory");
	if (pipe2(p, O_CLOEXEC) != 0)
		bench_die("pipe2: %s", strerror(errno));
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) < 0)
		bench_die("fork: %s", strerror(errno));
	if (pid == 0) {
		if (dup2(p[1], 1) < 0)
			_exit(127);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	for (;;) {
		if (len + 1 >= cap) {
			cap *= 2;
			if ((out = realloc(out, cap)) == NULL)
				bench_die("realloc: out of memory");
		}
		n = read(p[0], out + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	out[len] = '\0';
	close(p[0]);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			bench_die("waitpid: %s", strerror(errno));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		bench_die("%s failed (%s %d)%s%s", argv[0],
		    WIFEXITED(st) ? "exit" : "signal",
		    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st),
		    WIFEXITED(st) && WEXITSTATUS(st) == 127 ?
		    ": not found (scripts/deps.sh bench installs fio)" : "",
		    "");
	return out;
}

static struct result
uv_measure(enum wl wl, unsigned threads)
{
	char th[16], size[32], secs[32], warm[32];
	char *argv[] = { self, "--child-libuv", th, (char *)wl_name[wl],
	    "--size-bytes", size, path, "-t", secs, "--warmup", warm, NULL };
	struct result r;
	uint64_t ops;
	double s, cpu;
	char *out;

	snprintf(th, sizeof(th), "%u", threads);
	snprintf(size, sizeof(size), "%" PRIu64, opt_size);
	snprintf(secs, sizeof(secs), "%.3f", opt_secs);
	snprintf(warm, sizeof(warm), "%.3f", opt_warmup);
	out = run_child(argv);
	if (sscanf(out, "ops %" SCNu64 " secs %lf cpu %lf", &ops, &s,
	    &cpu) != 3 || ops == 0 || s <= 0)
		bench_die("libuv child: unexpected output: %.200s", out);
	free(out);
	r.iops = (double)ops / s;
	r.mbps = r.iops * wl_bs[wl] / 1e6;
	r.csw_per_io = r.vcsw_per_io = 0;
	r.cpu_us = cpu * 1e6 / (double)ops;
	return r;
}

/* ------------------------------------------------------------------ */
/* fio                                                                */

#define FIO_NARGS	32
#define FIO_ARGLEN	(PATH_MAX + 32)

static void
fio_argv(char **argv, char bufs[][FIO_ARGLEN], enum wl wl)
{
	int a = 0, b = 0;

#define ARG(...) do {							\
	snprintf(bufs[b], sizeof(bufs[b]), __VA_ARGS__);		\
	argv[a++] = bufs[b++];						\
} while (0)
	ARG("fio");
	ARG("--name=kc-fileio-%s", wl_name[wl]);
	ARG("--filename=%s", path);
	ARG("--size=%" PRIu64, opt_size);
	ARG("--ioengine=io_uring");
	ARG("--rw=%s", wl == W_RAND ? "randread" : "read");
	ARG("--bs=%u", wl_bs[wl]);
	ARG("--iodepth=%u", QD);
	ARG("--iodepth_batch_submit=%u", QD / 4);
	ARG("--iodepth_batch_complete_min=1");
	ARG("--iodepth_batch_complete_max=%u", QD);
	ARG("--direct=0");
	ARG("--invalidate=0");		/* keep the warm page cache */
	ARG("--fixedbufs=1");
	ARG("--registerfiles=1");
	ARG("--nonvectored=1");
	ARG("--norandommap=1");
	ARG("--randrepeat=0");
	ARG("--gtod_reduce=1");
	ARG("--numjobs=1");
	ARG("--time_based=1");
	ARG("--ramp_time=%ums", (unsigned)(opt_warmup * 1000));
	ARG("--runtime=%ums", (unsigned)(opt_secs * 1000));
	ARG("--output-format=json");
	argv[a] = NULL;
#undef ARG
}

/* The number after "key" : in s, or -1. */
static double
json_num(const char *s, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\"", key);
	if ((p = strstr(s, pat)) == NULL)
		return -1;
	p += strlen(pat);
	while (*p == ' ' || *p == ':' || *p == '\t')
		p++;
	return strtod(p, NULL);
}

static struct result
fio_measure(enum wl wl)
{
	char bufs[FIO_NARGS][FIO_ARGLEN], *argv[FIO_NARGS + 1], *out, *job;
	char *rd;
	struct result r;
	double err, ios, ms, usr, sys;

	fio_argv(argv, bufs, wl);
	out = run_child(argv);
	/* jobs[0]: its "error", then the "read" section's figures. */
	if ((job = strstr(out, "\"jobs\"")) == NULL ||
	    (err = json_num(job, "error")) < 0 ||
	    (rd = strstr(job, "\"read\"")) == NULL)
		bench_die("fio: no job in its JSON output: %.300s", out);
	if (err != 0)
		bench_die("fio: the job failed (error %.0f)", err);
	r.iops = json_num(rd, "iops");
	r.mbps = json_num(rd, "bw_bytes") / 1e6;
	r.csw_per_io = r.vcsw_per_io = 0;
	/* Its CPU: percentages of the job's run time. */
	ios = json_num(rd, "total_ios");
	ms = json_num(job, "job_runtime");
	usr = json_num(job, "usr_cpu");
	sys = json_num(job, "sys_cpu");
	if (!(r.iops > 0) || !(r.mbps > 0) || !(ios > 0) || !(ms > 0) ||
	    usr < 0 || sys < 0)
		bench_die("fio: no iops, bandwidth or CPU figures in its JSON "
		    "output");
	r.cpu_us = (usr + sys) / 100 * ms * 1e3 / ios;
	free(out);
	return r;
}

static void
fio_print_cmd(enum wl wl)
{
	char bufs[FIO_NARGS][FIO_ARGLEN], *argv[FIO_NARGS + 1];
	int i;

	fio_argv(argv, bufs, wl);
	printf("  fio %s:", wl_name[wl]);
	for (i = 0; argv[i] != NULL; i++)
		printf(" %s", argv[i]);
	printf("\n");
}

/* ------------------------------------------------------------------ */
/* The file                                                           */

static void
cleanup(void)
{
	if (path[0] != '\0' && unlink(path) != 0 && errno != ENOENT)
		fprintf(stderr, "bench-fileio: unlink %s: %s\n", path,
		    strerror(errno));
	if (dir[0] != '\0' && rmdir(dir) != 0 && errno != ENOENT)
		fprintf(stderr, "bench-fileio: rmdir %s: %s\n", dir,
		    strerror(errno));
	path[0] = dir[0] = '\0';
}

static void
on_signal(int sig)
{
	cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Write the numbered file, then read it all once: in the page cache. */
static void
make_file(void)
{
	const size_t chunk = 1u << 20;
	unsigned char *b;
	uint64_t off, v;
	size_t i;
	ssize_t n;
	int fd;

	if ((b = malloc(chunk)) == NULL)
		bench_die("malloc: out of memory");
	if ((fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		bench_die("open %s: %s", path, strerror(errno));
	for (off = 0; off < opt_size; off += chunk) {
		for (i = 0; i < chunk; i += 8) {
			v = (off + i) % BLOCK == 0 ? (off + i) / BLOCK :
			    (off + i) * 0x9e3779b97f4a7c15ull;
			memcpy(b + i, &v, 8);
		}
		if ((n = pwrite(fd, b, chunk, (off_t)off)) != (ssize_t)chunk)
			bench_die("write %s: %s", path,
			    n < 0 ? strerror(errno) : "short write");
	}
	/* Warm: every page read once (and checked). */
	for (off = 0; off < opt_size; off += chunk) {
		if ((n = pread(fd, b, chunk, (off_t)off)) != (ssize_t)chunk)
			bench_die("read %s: %s", path,
			    n < 0 ? strerror(errno) : "short read");
		if (!block_ok(b, off, (unsigned)chunk))
			bench_die("read %s: wrong content at %" PRIu64, path,
			    off);
	}
	close(fd);
	free(b);
}

/* ------------------------------------------------------------------ */
/* The driver                                                         */

enum { C_KCONT, C_UVDEF, C_UVCPU, C_FIO, NC };
static const char *const c_name[NC] = { "kcont", "libuv-4", "libuv-cpus",
	"fio" };

static void
usage(void)
{
	fprintf(stderr, "usage: bench-fileio [--quick] [--rounds R] "
	    "[-t SECONDS] [--warmup SECONDS]\n"
	    "                    [--size MIB] [--only NAME] [-w rand|seq]\n"
	    "  --quick         128 MiB file, 1 round of 0.4 s after 0.1 s "
	    "warm-up (CI)\n"
	    "  --rounds R      rounds (default 5)\n"
	    "  -t SECONDS      measured window per run (default 2)\n"
	    "  --warmup SECS   warm-up before each window (default 0.3)\n"
	    "  --size MIB      the file's size (default 1024)\n"
	    "  --only NAME     run one contender (kcont libuv-4 libuv-cpus "
	    "fio),\n"
	    "                  e.g. under perf; the summary is then partial\n"
	    "  -w rand|seq     run one workload (the summary is then "
	    "partial)\n");
	exit(2);
}

static int
want(int c)
{
	return only == NULL || strcmp(only, c_name[c]) == 0;
}

static double
ratio(double a, double b)
{
	return b > 0 ? a / b : 0.0;
}

int
main(int argc, char **argv)
{
	struct result res[NC][NW][MAX_ROUNDS];
	double iops[MAX_ROUNDS], mbps[MAX_ROUNDS], csw[MAX_ROUNDS];
	double cpu[MAX_ROUNDS], med_cpu[NC][NW];
	double med_iops[NC][NW], med_mbps[NC][NW], med_csw[NW];
	const char *child = NULL, *child_wl = NULL, *tmp;
	unsigned r, cpus, budget;
	int i, c, w, quick = 0, set_rounds = 0, set_secs = 0, set_warm = 0;
	int set_size = 0;
	ssize_t n;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			quick = 1;
		} else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
			opt_rounds = bench_parse_uint(argv[++i], 1, MAX_ROUNDS,
			    usage);
			set_rounds = 1;
		} else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc) {
			opt_secs = bench_parse_secs(argv[++i], 0.05, 60.0,
			    usage);
			set_secs = 1;
		} else if (strcmp(argv[i], "--warmup") == 0 && i + 1 < argc) {
			opt_warmup = bench_parse_secs(argv[++i], 0.0, 10.0,
			    usage);
			set_warm = 1;
		} else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc) {
			opt_size = (uint64_t)bench_parse_uint(argv[++i], 1,
			    1u << 20, usage) << 20;
			set_size = 1;
		} else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
			only = argv[++i];
		} else if (strcmp(argv[i], "-w") == 0 && i + 1 < argc) {
			i++;
			for (only_wl = 0; only_wl < NW &&
			    strcmp(argv[i], wl_name[only_wl]); only_wl++)
				;
			if (only_wl == NW)
				usage();
		} else if (strcmp(argv[i], "--child-libuv") == 0 &&
		    i + 2 < argc) {
			child = argv[++i];
			child_wl = argv[++i];
		} else if (strcmp(argv[i], "--size-bytes") == 0 &&
		    i + 2 < argc) {
			/* The child's: the file is the parent's. */
			opt_size = strtoull(argv[++i], NULL, 10);
			snprintf(path, sizeof(path), "%s", argv[++i]);
		} else {
			usage();
		}
	}
	if (child != NULL) {
		bench_init("bench-fileio (libuv child)",
		    (unsigned)(opt_warmup + opt_secs) + DRAIN_S + 30);
		if (path[0] == '\0' || opt_size < SEQ_BS ||
		    (strcmp(child_wl, "rand") && strcmp(child_wl, "seq")))
			usage();
		return child_libuv(child, child_wl);
	}
	if (only != NULL) {
		for (c = 0; c < NC && strcmp(only, c_name[c]); c++)
			;
		if (c == NC)
			usage();
	}
	if (quick) {
		if (!set_rounds)
			opt_rounds = 1;
		if (!set_secs)
			opt_secs = 0.4;
		if (!set_warm)
			opt_warmup = 0.1;
		if (!set_size)
			opt_size = 128u << 20;
	}
	budget = (unsigned)(opt_rounds * NC * NW * (opt_warmup + opt_secs +
	    DRAIN_S + 5)) + (unsigned)(opt_size >> 24) + 60;
	bench_init("bench-fileio", budget);
	setvbuf(stdout, NULL, _IOLBF, 0);
	cpus = (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) <= 0)
		bench_die("readlink /proc/self/exe: %s", strerror(errno));
	self[n] = '\0';

	tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/bench-fileio.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/var/tmp");
	if (mkdtemp(dir) == NULL)
		bench_die("mkdtemp %s: %s", dir, strerror(errno));
	snprintf(path, sizeof(path), "%s/data", dir);
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	make_file();

	printf("bench-fileio: %u CPUs, %s; file %s, %" PRIu64 " MiB in the "
	    "page cache (written and read once); buffered reads, %u in "
	    "flight per contender: rand = %u KiB at random %u KiB-aligned "
	    "offsets, seq = %u KiB consecutive; %u round(s) x %.2f s per run "
	    "after %.2f s warm-up%s\n", cpus, quick ? "quick" : "full", path,
	    opt_size >> 20, QD, RAND_BS / 1024, RAND_BS / 1024, SEQ_BS / 1024,
	    opt_rounds, opt_secs, opt_warmup,
	    quick ? " (quick: smaller file, shorter runs)" : "");
	printf("  kcont: one soft executor, kc_file_read() from each "
	    "completion's continuation\n");
	printf("  libuv %s: uv_fs_read() on the default loop, "
	    "UV_THREADPOOL_SIZE=4 (default) and =%u (CPUs), each in a child "
	    "process\n", uv_version_string(), cpus);
	if (want(C_FIO)) {
		/* Before anything is measured: fio must be there. */
		char *fv[] = { "fio", "--version", NULL }, *v = run_child(fv);

		v[strcspn(v, "\n")] = '\0';
		printf("  %s, io_uring engine:\n", v);
		free(v);
	}
	fio_print_cmd(W_RAND);
	fio_print_cmd(W_SEQ);

	ks_setup();
	for (r = 0; r < opt_rounds; r++) {
		for (w = 0; w < NW; w++) {
			for (c = 0; c < NC; c++) {
				struct result *x = &res[c][w][r];

				if (!want(c) || (only_wl >= 0 && w != only_wl))
					continue;
				switch (c) {
				case C_KCONT:
					*x = ks_measure((enum wl)w);
					break;
				case C_UVDEF:
					*x = uv_measure((enum wl)w, 0);
					break;
				case C_UVCPU:
					*x = uv_measure((enum wl)w, cpus);
					break;
				default:
					*x = fio_measure((enum wl)w);
					break;
				}
				printf("  round %u %-4s %-10s %10.0f iops "
				    "%8.1f MB/s %6.3f us cpu/io", r + 1,
				    wl_name[w],
				    c_name[c], x->iops, x->mbps, x->cpu_us);
				if (c == C_KCONT)
					printf("  %.5f csw/io (%.5f "
					    "voluntary)", x->csw_per_io,
					    x->vcsw_per_io);
				printf("\n");
			}
		}
	}
	ks_teardown();

	printf("medians over %u round(s):\n", opt_rounds);
	for (w = 0; w < NW; w++) {
		med_csw[w] = 0;
		for (c = 0; c < NC; c++) {
			med_iops[c][w] = med_mbps[c][w] = med_cpu[c][w] = 0;
			if (!want(c) || (only_wl >= 0 && w != only_wl))
				continue;
			for (r = 0; r < opt_rounds; r++) {
				iops[r] = res[c][w][r].iops;
				mbps[r] = res[c][w][r].mbps;
				csw[r] = res[c][w][r].csw_per_io;
				cpu[r] = res[c][w][r].cpu_us;
			}
			med_iops[c][w] = bench_median(iops, opt_rounds);
			med_mbps[c][w] = bench_median(mbps, opt_rounds);
			med_cpu[c][w] = bench_median(cpu, opt_rounds);
			printf("  %-4s %-10s %10.0f iops %8.1f MB/s %6.3f us "
			    "cpu/io", wl_name[w], c_name[c], med_iops[c][w],
			    med_mbps[c][w], med_cpu[c][w]);
			if (c == C_KCONT) {
				med_csw[w] = bench_median(csw, opt_rounds);
				printf("  %.5f csw/io", med_csw[w]);
			}
			printf("\n");
		}
	}
	cleanup();
	{
		double uv_rand = med_iops[C_UVDEF][W_RAND] >
		    med_iops[C_UVCPU][W_RAND] ? med_iops[C_UVDEF][W_RAND] :
		    med_iops[C_UVCPU][W_RAND];
		double uv_seq = med_mbps[C_UVDEF][W_SEQ] >
		    med_mbps[C_UVCPU][W_SEQ] ? med_mbps[C_UVDEF][W_SEQ] :
		    med_mbps[C_UVCPU][W_SEQ];

		printf("vs_libuv and seq_vs_libuv are against the better of "
		    "libuv's two threadpool sizes (%s for rand, %s for seq)\n",
		    med_iops[C_UVDEF][W_RAND] >= med_iops[C_UVCPU][W_RAND] ?
		    "4" : "CPUs",
		    med_mbps[C_UVDEF][W_SEQ] >= med_mbps[C_UVCPU][W_SEQ] ?
		    "4" : "CPUs");
		/* Information: steadier than iops on a shared machine. */
		printf("cpu per random read, kcont's over: libuv-4 %.2f, "
		    "libuv-cpus %.2f, fio %.2f (below 1: kcont spends less)\n",
		    ratio(med_cpu[C_KCONT][W_RAND], med_cpu[C_UVDEF][W_RAND]),
		    ratio(med_cpu[C_KCONT][W_RAND], med_cpu[C_UVCPU][W_RAND]),
		    ratio(med_cpu[C_KCONT][W_RAND], med_cpu[C_FIO][W_RAND]));
		printf("fileio: vs_libuv=%.2f vs_fio=%.2f seq_vs_libuv=%.2f "
		    "csw_per_io=%.4f\n",
		    ratio(med_iops[C_KCONT][W_RAND], uv_rand),
		    ratio(med_iops[C_KCONT][W_RAND], med_iops[C_FIO][W_RAND]),
		    ratio(med_mbps[C_KCONT][W_SEQ], uv_seq), med_csw[W_RAND]);
	}
	return 0;
}
