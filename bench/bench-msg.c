/*
 * bench-msg: message ports (kcont/msg.h) against the mutex and condition
 * variable hand-off they replace, in the same process and the same run.
 *
 * The variants:
 *   rt-kcont   request/reply between two soft executors: a continuation on
 *              A sends a message to a port on B, B's port function replies,
 *              and the reply continuation on A sends the next request.  Two
 *              messages take turns (only one is ever in flight): the reply
 *              continuation sends the one that is not running it.  One
 *              round trip is a send, a hand-off to B, a reply and a
 *              hand-off back to A.
 *   rt-cond    the same request/reply between two plain threads, done the
 *              way their users do it: one mutex, a condition variable for
 *              requests and one for replies, a request flag and a reply flag,
 *              each side waiting in a while loop.
 *   async      one-way messages: a plain thread sends as fast as it can to a
 *              port on a soft executor, messages with no reply continuation
 *              (the port's function replies, which only marks them done),
 *              taken from a ring and reused only once kc_msg_done() says so.
 *              The time runs from the first send until the port's function
 *              has taken the last message.
 *
 * The method.  Each variant runs once untimed to warm up; then, in each of R
 * rounds, every variant runs once, the order rotated each round and reversed
 * every other round so none always runs first or after the same one.  The
 * figure per variant is the median of its R runs: noise on a shared machine
 * hits every variant alike, and a median ignores the outliers.  Every run
 * checks its own result (each reply carries the request's number, nothing
 * lost or duplicated, no call failed) and the program exits with an error
 * when one is wrong, so a broken variant cannot look fast.  A run stops early
 * after CAP_S seconds (its rate is then computed from what it did), so the
 * whole program stays bounded on a slow or loaded machine.
 *
 * Output: per variant the median time per operation, the fastest run, the
 * spread, and context switches per operation (the whole process); then the
 * ratio.  The last line is the summary:
 *   msg: rtt_vs_cond=<kcont round trip / cond round trip> async_mps=<msgs/s>
 * (rtt_vs_cond below 1: kcont's round trip is faster).
 *
 * Usage: bench-msg [--quick] [-n SCALE] [--rounds R]
 *   --quick     counts x0.1 and 3 rounds (CI smoke runs, well under 10 s)
 *   -n SCALE    multiply every count by SCALE
 *   --rounds R  timed rounds (default 7)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <kcont.h>
#include <kcont/msg.h>

#include "benchlib.h"

#define WATCHDOG_S	180
#define CAP_S		2.0	/* a run stops early after this long */
#define STALL_S		20.0	/* waiting this long for a run to end: broken */
#define RING		1024u	/* async: messages in the ring (power of 2) */

/* Default counts, for about 0.2-0.5 s per run on 2 cores. */
#define N_RT_KCONT	200000ull
#define N_RT_COND	50000ull
#define N_ASYNC		2000000ull

static double scale = 1.0;
static unsigned rounds = 7;

/* ------------------------------------------------------------------ */
/* Helpers                                                            */


static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static uint64_t
scaled(uint64_t n)
{
	double v = (double)n * scale;

	return v < 1000.0 ? 1000 : (uint64_t)v;
}

static struct kc_executor *
soft_exec(const char *name)
{
	struct kc_executor *ex;
	int r;

	r = kc_executor_create(&ex, &(struct kc_executor_attr){
	    .kind = KC_EXEC_SOFT, .name = name });
	if (r != 0)
		bench_die("kc_executor_create: %s", strerror(-r));
	return ex;
}

static void
exec_finish(struct kc_executor *ex)
{
	int r;

	if ((r = kc_executor_shutdown(ex, KC_SHUTDOWN_DRAIN, NULL)) != 0)
		bench_die("kc_executor_shutdown: %s", strerror(-r));
	if ((r = kc_executor_close(ex, NULL)) != 0)
		bench_die("kc_executor_close: %s", strerror(-r));
}

/* What one run measured. */
struct sample {
	double		secs;	/* timed section */
	uint64_t	ops;	/* round trips or messages done */
	uint64_t	csw;	/* context switches during the run */
};

/* ------------------------------------------------------------------ */
/* rt-kcont: request/reply between two soft executors                 */

struct krt {
	struct kc_port	 port;		/* on B */
	struct kc_msg	 msg[2];	/* replies run on A */
	struct kc	 start;		/* on A */
	uint64_t	 n;
	uint64_t	 rts;		/* round trips completed (on A) */
	double		 t0, t1, deadline;
	_Atomic int	 errs;
	struct bench_done	 done;
};

/* B: the request's number comes back as the reply's status. */
static void
krt_port_fn(struct kc_port *port, struct kc_msg *m)
{
	struct krt *t = kc_port_env(port);

	if (kc_msg_reply(m, m->m_cmd) != 0)
		atomic_fetch_add(&t->errs, 1);
}

static void
krt_send(struct krt *t)
{
	struct kc_msg *m = &t->msg[t->rts & 1];

	m->m_cmd = (int)(t->rts & 0x3fffffff);
	if (kc_msg_send(&t->port, m) != 0) {
		atomic_fetch_add(&t->errs, 1);
		t->t1 = bench_now_s();
		bench_done_signal(&t->done);
	}
}

/* A: the reply to round trip rts; send the next request, or stop. */
static void
krt_reply(void *obj, void *env, int status)
{
	struct krt *t = env;

	if (obj != &t->msg[t->rts & 1] ||
	    status != (int)(t->rts & 0x3fffffff))
		atomic_fetch_add(&t->errs, 1);
	t->rts++;
	if (t->rts == t->n || ((t->rts & 1023) == 0 &&
	    bench_now_s() > t->deadline)) {
		t->t1 = bench_now_s();
		bench_done_signal(&t->done);
		return;
	}
	krt_send(t);
}

static void
krt_start(void *obj, void *env, int status)
{
	struct krt *t = env;

	(void)obj;
	(void)status;
	t->t0 = bench_now_s();
	t->deadline = t->t0 + CAP_S;
	krt_send(t);
}

static struct sample
run_rt_kcont(uint64_t n)
{
	struct kc_executor *ea, *eb;
	struct sample s;
	struct krt *t;
	uint64_t csw0;
	int i, r;

	t = calloc(1, sizeof(*t));
	if (t == NULL)
		bench_die("calloc: out of memory");
	t->n = n;
	bench_done_init(&t->done);
	ea = soft_exec("msg-A");
	eb = soft_exec("msg-B");
	if ((r = kc_port_init(&t->port, eb, krt_port_fn, NULL, t)) != 0)
		bench_die("kc_port_init: %s", strerror(-r));
	for (i = 0; i < 2; i++)
		if ((r = kc_msg_init(&t->msg[i], krt_reply, t, ea, 0)) != 0)
			bench_die("kc_msg_init: %s", strerror(-r));
	if ((r = kc_init(&t->start, krt_start, t, ea, 0)) != 0)
		bench_die("kc_init: %s", strerror(-r));

	csw0 = bench_csw();
	if ((r = kc_run(&t->start, NULL, 0)) != 0)
		bench_die("kc_run: %s", strerror(-r));
	if (bench_done_wait(&t->done, (unsigned)STALL_S) != 0)
		bench_die("rt-kcont: stalled after %" PRIu64 " round trips", t->rts);
	s.csw = bench_csw() - csw0;
	s.secs = t->t1 - t->t0;
	s.ops = t->rts;

	/*
	 * B's function may still be inside kc_msg_reply(), waking A, after
	 * the last reply ran there: the port ends on B after that (its close
	 * is done there), so B is stopped first, and only then may A go.
	 */
	if ((r = kc_port_close(&t->port, NULL)) != 0)
		bench_die("kc_port_close: %d", r);
	exec_finish(eb);
	exec_finish(ea);
	if (atomic_load(&t->errs) != 0)
		bench_die("rt-kcont: %d wrong replies or failed calls",
		    atomic_load(&t->errs));
	if (s.ops == 0)
		bench_die("rt-kcont: no round trip completed");
	bench_done_destroy(&t->done);
	free(t);
	return s;
}

/* ------------------------------------------------------------------ */
/* rt-cond: the same between two threads, mutex and condition variables */

struct crt {
	pthread_mutex_t	 m;
	pthread_cond_t	 req_cv;	/* the server waits for a request */
	pthread_cond_t	 rep_cv;	/* the client waits for the reply */
	int		 req, rep, stop;	/* under m */
	uint64_t	 payload, answer;	/* under m */
};

static void *
crt_server(void *arg)
{
	struct crt *c = arg;

	pthread_mutex_lock(&c->m);
	for (;;) {
		while (!c->req && !c->stop)
			pthread_cond_wait(&c->req_cv, &c->m);
		if (!c->req)
			break;
		c->req = 0;
		c->answer = c->payload;		/* the "handler" */
		c->rep = 1;
		pthread_cond_signal(&c->rep_cv);
	}
	pthread_mutex_unlock(&c->m);
	return NULL;
}

static struct sample
run_rt_cond(uint64_t n)
{
	struct sample s;
	struct crt c;
	pthread_t th;
	uint64_t i, csw0, errs = 0;
	double t0, deadline;
	int r;

	memset(&c, 0, sizeof(c));
	pthread_mutex_init(&c.m, NULL);
	pthread_cond_init(&c.req_cv, NULL);
	pthread_cond_init(&c.rep_cv, NULL);
	if ((r = pthread_create(&th, NULL, crt_server, &c)) != 0)
		bench_die("pthread_create: %s", strerror(r));

	csw0 = bench_csw();
	t0 = bench_now_s();
	deadline = t0 + CAP_S;
	for (i = 0; i < n; i++) {
		pthread_mutex_lock(&c.m);
		c.payload = i;
		c.req = 1;
		pthread_cond_signal(&c.req_cv);
		while (!c.rep)
			pthread_cond_wait(&c.rep_cv, &c.m);
		c.rep = 0;
		if (c.answer != i)
			errs++;
		pthread_mutex_unlock(&c.m);
		if (((i + 1) & 1023) == 0 && bench_now_s() > deadline) {
			i++;
			break;
		}
	}
	s.secs = bench_now_s() - t0;
	s.csw = bench_csw() - csw0;
	s.ops = i;

	pthread_mutex_lock(&c.m);
	c.stop = 1;
	pthread_cond_signal(&c.req_cv);
	pthread_mutex_unlock(&c.m);
	pthread_join(th, NULL);
	pthread_cond_destroy(&c.rep_cv);
	pthread_cond_destroy(&c.req_cv);
	pthread_mutex_destroy(&c.m);
	if (errs != 0)
		bench_die("rt-cond: %" PRIu64 " wrong replies", errs);
	return s;
}

/* ------------------------------------------------------------------ */
/* async: one-way messages from a plain thread to a soft executor     */

struct kas {
	struct kc_port		 port;		/* on B */
	struct kc_msg		 ring[RING];
	_Atomic uint64_t	 handled;	/* written by B only */
	uint64_t		 expect;	/* B: the next m_cmd due */
	_Atomic int		 errs;
};

static void
kas_port_fn(struct kc_port *port, struct kc_msg *m)
{
	struct kas *a = kc_port_env(port);

	/* One at a time, in the order sent. */
	if ((uint32_t)m->m_cmd != (uint32_t)a->expect)
		atomic_fetch_add(&a->errs, 1);
	a->expect++;
	if (kc_msg_reply(m, 0) != 0)
		atomic_fetch_add(&a->errs, 1);
	atomic_store_explicit(&a->handled, a->expect, memory_order_release);
}

static struct sample
run_async(uint64_t n)
{
	struct kc_executor *eb;
	struct sample s;
	struct kas *a;
	uint64_t i, csw0, spins;
	double t0, deadline, stall;
	unsigned k;
	int r;

	a = calloc(1, sizeof(*a));
	if (a == NULL)
		bench_die("calloc: out of memory");
	eb = soft_exec("msg-B");
	if ((r = kc_port_init(&a->port, eb, kas_port_fn, NULL, a)) != 0)
		bench_die("kc_port_init: %s", strerror(-r));
	for (k = 0; k < RING; k++)
		if ((r = kc_msg_init(&a->ring[k], NULL, NULL, NULL, 0)) != 0)
			bench_die("kc_msg_init: %s", strerror(-r));

	csw0 = bench_csw();
	t0 = bench_now_s();
	deadline = t0 + CAP_S;
	stall = t0 + STALL_S;
	for (i = 0; i < n; i++) {
		struct kc_msg *m = &a->ring[i & (RING - 1)];

		/* Reuse a message only once it is back. */
		for (spins = 0; !kc_msg_done(m); spins++) {
			if (spins < 200) {
				cpu_relax();
				continue;
			}
			sched_yield();
			if ((spins & 1023) == 0 && bench_now_s() > stall)
				bench_die("async: message %" PRIu64 " never came "
				    "back", i - RING);
		}
		if (i >= RING && kc_msg_status(m) != 0)
			atomic_fetch_add(&a->errs, 1);
		m->m_cmd = (int)(uint32_t)i;
		if ((r = kc_msg_send(&a->port, m)) != 0)
			bench_die("async: kc_msg_send: %s", strerror(-r));
		if (((i + 1) & 1023) == 0 && bench_now_s() > deadline) {
			i++;
			break;
		}
	}
	/* The last one handed to the port's function ends the run. */
	for (spins = 0; atomic_load_explicit(&a->handled,
	    memory_order_acquire) < i; spins++) {
		cpu_relax();
		if ((spins & 4095) == 0 && bench_now_s() > stall)
			bench_die("async: %" PRIu64 " of %" PRIu64 " handled",
			    atomic_load(&a->handled), i);
	}
	s.secs = bench_now_s() - t0;
	s.csw = bench_csw() - csw0;
	s.ops = i;

	/* The port ends on B: stopping B waits for that. */
	if ((r = kc_port_close(&a->port, NULL)) != 0)
		bench_die("kc_port_close: %d", r);
	exec_finish(eb);
	if (atomic_load(&a->errs) != 0)
		bench_die("async: %d messages out of order, wrongly replied or "
		    "refused", atomic_load(&a->errs));
	free(a);
	return s;
}

/* ------------------------------------------------------------------ */
/* The driver                                                         */

struct variant {
	const char	*name;
	const char	*what;
	const char	*unit;		/* per operation */
	struct sample	(*run)(uint64_t n);
	uint64_t	 n;
};

enum { V_RT_KCONT, V_RT_COND, V_ASYNC, NV };

static struct variant variants[NV] = {
	[V_RT_KCONT] = { "rt-kcont", "request/reply, two soft executors",
	    "rt", run_rt_kcont, N_RT_KCONT },
	[V_RT_COND] = { "rt-cond", "request/reply, mutex+condvar threads",
	    "rt", run_rt_cond, N_RT_COND },
	[V_ASYNC] = { "async", "one-way sends, thread -> soft executor",
	    "msg", run_async, N_ASYNC },
};

struct vstat {
	double	median, min, q1, q3;	/* seconds per operation */
	double	csw;			/* context switches per op (median run) */
	int	capped;			/* runs stopped at CAP_S */
};

static void
usage(void)
{
	fprintf(stderr, "usage: bench-msg [--quick] [-n SCALE] [--rounds R]\n"
	    "  --quick     counts x0.1 and 3 rounds (CI smoke runs)\n"
	    "  -n SCALE    multiply every count by SCALE (> 0)\n"
	    "  --rounds R  timed rounds, variants interleaved (default 7)\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct vstat st[NV];
	double *per[NV], *cswp[NV];
	int quick = 0, set_rounds = 0, i, v;
	unsigned r, j;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			quick = 1;
		} else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
			char *end;

			scale = strtod(argv[++i], &end);
			if (*end != '\0' || !(scale > 0.0) || scale > 1000.0)
				usage();
		} else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
			char *end;
			unsigned long x = strtoul(argv[++i], &end, 10);

			if (*end != '\0' || x < 1 || x > 1000)
				usage();
			rounds = (unsigned)x;
			set_rounds = 1;
		} else {
			usage();
		}
	}
	if (quick) {
		scale *= 0.1;
		if (!set_rounds)
			rounds = 3;
	}
	bench_init("bench-msg", WATCHDOG_S);
	setvbuf(stdout, NULL, _IOLBF, 0);

	printf("bench-msg: %ld CPUs, median of %u rounds, variants "
	    "interleaved, scale %g, runs capped at %.0f s\n",
	    sysconf(_SC_NPROCESSORS_ONLN), rounds, scale, CAP_S);
	for (v = 0; v < NV; v++) {
		variants[v].n = scaled(variants[v].n);
		per[v] = calloc(rounds, sizeof(double));
		cswp[v] = calloc(rounds, sizeof(double));
		if (per[v] == NULL || cswp[v] == NULL)
			bench_die("calloc: out of memory");
		memset(&st[v], 0, sizeof(st[v]));
		/* Warm-up, untimed: a tenth of a run. */
		(void)variants[v].run(variants[v].n / 10 > 1000 ?
		    variants[v].n / 10 : 1000);
	}

	for (r = 0; r < rounds; r++) {
		for (j = 0; j < NV; j++) {
			struct sample s;

			/* Rotated each round, and reversed every other one. */
			v = (int)((r & 1 ? NV - 1 - j + r : j + r) % NV);
			s = variants[v].run(variants[v].n);
			per[v][r] = s.secs / (double)s.ops;
			cswp[v][r] = (double)s.csw / (double)s.ops;
			if (s.ops < variants[v].n)
				st[v].capped++;
		}
	}

	for (v = 0; v < NV; v++) {
		double *p = per[v];
		unsigned c = rounds;

		st[v].median = bench_median(p, c);
		bench_sort(cswp[v], c);
		st[v].min = p[0];
		st[v].q1 = p[c / 4];
		st[v].q3 = p[(3 * c) / 4];
		st[v].csw = cswp[v][c / 2];
		printf("  %-9s %-38s %8.3f us/%-3s min %8.3f  iqr %3.0f%%  "
		    "csw/%s %.3f  (%" PRIu64 "/run%s)\n", variants[v].name,
		    variants[v].what, st[v].median * 1e6, variants[v].unit,
		    st[v].min * 1e6, 100.0 * (st[v].q3 - st[v].q1) /
		    st[v].median, variants[v].unit, st[v].csw, variants[v].n,
		    st[v].capped ? ", some capped" : "");
		free(per[v]);
		free(cswp[v]);
	}
	printf("  round trips: kcont %.0f/s, cond %.0f/s; async: %.0f msgs/s\n",
	    1.0 / st[V_RT_KCONT].median, 1.0 / st[V_RT_COND].median,
	    1.0 / st[V_ASYNC].median);
	printf("msg: rtt_vs_cond=%.2f async_mps=%.0f\n",
	    st[V_RT_KCONT].median / st[V_RT_COND].median,
	    1.0 / st[V_ASYNC].median);
	return 0;
}
