/*
 * bench-handoff: hand-off of work from one thread to another, kcont against
 * the patterns it replaces, all in the same process and the same run.
 *
 *  1. Throughput: one producer thread, one consumer, N operations.
 *     - kcont:  R continuations aimed at one soft executor, triggered
 *               round-robin with kc_run(); the function accounts
 *               kc_coalesced() triggers per run.
 *     - cond:   one hand-off slot under a mutex and two condition variables.
 *     - libuv:  a uv_async_t on a consumer loop; a mutex-protected intrusive
 *               queue of R pre-allocated items, swapped out by the callback.
 *     - bridge: (kcont's sleep/wakeup bridge) the same one-slot hand-off as
 *               cond, but both sides sleep in kc_wait() on a kc_queue that
 *               the other side fires with kc_run_all().
 *  2. Round trip: a continuation bounced between two soft executors, against
 *     a mutex+condvar ping-pong between two threads.
 *  3. The cost of an inline kc_run() against a plain indirect call.
 *
 * Each measurement is repeated REPS times and the best is kept.  The last
 * line of output is the machine-readable summary (one line):
 *   handoff: kcont_vs_cond=<r> kcont_vs_libuv=<r> kcont_csw_per_op=<x>
 *       inline_vs_call=<r>
 *
 * Usage: bench-handoff [-n SCALE] [--quick] [--only NAME]
 *   -n SCALE  multiply every operation count by SCALE (e.g. 0.1)
 *   --quick   same as -n 0.1 (CI smoke runs)
 *   --only    run one group (kcont cond libuv bridge rt call), for profiling
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include <kcont.h>

#include "benchlib.h"

#define REPS		3
#define NITEMS		4096u		/* R: continuations / items per producer */
#define WATCHDOG_S	120
#define DONE_TIMEOUT_S	30

/* Default operation counts, tuned for ~0.3-1 s per variant on 2 cores. */
#define N_KCONT		15000000ull
#define N_LIBUV		40000000ull
#define N_LIBUV_LIT	15000000ull
#define N_COND		20000ull
#define N_BRIDGE	15000ull
#define M_RT_KCONT	3000000ull
#define M_RT_COND	30000ull
#define K_INLINE	50000000ull
#define K_INDIRECT	300000000ull

static double scale = 1.0;

static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}
static int failures;

/* ------------------------------------------------------------------ */
/* Helpers                                                            */

static void
die(const char *what, int err)
{
	bench_die("%s: %s", what, strerror(err < 0 ? -err : err));
}

static uint64_t
scaled(uint64_t n)
{
	double v = (double)n * scale;

	if (v < 1000.0)
		v = 1000.0;
	return (uint64_t)v;
}

/* One measurement. */
struct result {
	double		secs;
	uint64_t	ops;
	uint64_t	csw;
	double		cpu;		/* CPU seconds, all threads */
	uint64_t	runs;		/* consumer function calls (kcont, libuv) */
	uint64_t	sleeps;		/* kcont executor stats */
	uint64_t	wakeups;
	uint64_t	batches;
	uint64_t	extra;		/* variant-specific (libuv: callbacks) */
	int		capped;		/* round trip stopped at RT_CAP_S */
	int		ok;
};

/* Wall time, whole-process context switches and CPU time of one run. */
struct meter {
	uint64_t	csw;
	double		cpu;
	double		t;
};

static void
meter_start(struct meter *m)
{
	m->csw = bench_csw();
	m->cpu = bench_cpu_s();
	m->t = bench_now_s();
}

static void
meter_stop(const struct meter *m, struct result *res)
{
	res->secs = bench_now_s() - m->t;
	res->csw = bench_csw() - m->csw;
	res->cpu = bench_cpu_s() - m->cpu;
}

static double
ops_per_s(const struct result *r)
{
	return r->secs > 0 ? (double)r->ops / r->secs : 0.0;
}

/* CPU time per operation, ns (spinning shows here, not in csw). */
static double
cpu_ns_per_op(const struct result *r)
{
	return r->ops ? r->cpu * 1e9 / (double)r->ops : 0.0;
}

static double
csw_per_op(const struct result *r)
{
	return r->ops ? (double)r->csw / (double)r->ops : 0.0;
}

/* Run fn REPS times and keep the fastest; a failed repetition fails all. */
static struct result
best_of(const char *label, void (*fn)(struct result *, uint64_t), uint64_t n)
{
	struct result best, r;
	double rate[REPS];
	int capped[REPS], i;

	memset(&best, 0, sizeof(best));
	for (i = 0; i < REPS; i++) {
		memset(&r, 0, sizeof(r));
		fn(&r, n);
		rate[i] = ops_per_s(&r);
		capped[i] = r.capped;
		if (!r.ok) {
			fprintf(stderr, "bench-handoff: %s: repetition %d "
			    "miscounted or failed\n", label, i + 1);
			failures++;
		}
		if (i == 0 || rate[i] > ops_per_s(&best))
			best = r;
	}
	printf("%-30s %11.0f ops/s  csw/op %.4f  cpu %7.1f ns/op"
	    "  (reps:", label, ops_per_s(&best), csw_per_op(&best),
	    cpu_ns_per_op(&best));
	for (i = 0; i < REPS; i++)
		printf(" %.3g%s", rate[i], capped[i] ? "*" : "");
	printf(")\n");
	fflush(stdout);
	return best;
}

/*
 * A pre-allocated work item for the peers: called through a function
 * pointer, like a continuation.  pending counts triggers not yet run (libuv
 * peer), and tells whether the item is linked on the queue.
 */
struct item {
	struct item		*next;
	void			(*fn)(struct item *, uint64_t n);
	struct peer		*peer;
	_Atomic uint64_t	 pending;
};

struct peer {
	uint64_t	n;		/* operations to account */
	uint64_t	accounted;	/* triggers accounted by the consumer */
	uint64_t	runs;		/* item function calls */
	int		signalled;
	struct bench_done	done;
	struct item	items[NITEMS];
};

static void
item_fn(struct item *it, uint64_t n)
{
	struct peer *p = it->peer;

	p->runs++;
	p->accounted += n;
	if (p->accounted >= p->n && !p->signalled) {
		p->signalled = 1;
		bench_done_signal(&p->done);
	}
}

static struct peer *
peer_new(uint64_t n)
{
	struct peer *p = calloc(1, sizeof(*p));
	unsigned i;

	if (p == NULL)
		die("calloc", ENOMEM);
	p->n = n;
	bench_done_init(&p->done);
	for (i = 0; i < NITEMS; i++) {
		p->items[i].fn = item_fn;
		p->items[i].peer = p;
	}
	return p;
}

static void
peer_free(struct peer *p)
{
	bench_done_destroy(&p->done);
	free(p);
}

/* ------------------------------------------------------------------ */
/* 1. Throughput: kcont                                               */

struct ktp {
	uint64_t	n;
	uint64_t	accounted;
	uint64_t	runs;
	int		signalled;
	struct bench_done	done;
	struct kc	kcs[NITEMS];
	_Atomic int	busy[NITEMS];	/* strict mode: triggered, not yet run */
};

static void
ktp_fn(void *obj, void *env, int status)
{
	struct ktp *t = env;

	(void)status;
	/* Strict mode: the producer may trigger this kc again. */
	if (obj != NULL)
		atomic_store_explicit((_Atomic int *)obj, 0,
		    memory_order_release);
	t->runs++;
	t->accounted += kc_coalesced();
	if (t->accounted >= t->n && !t->signalled) {
		t->signalled = 1;
		bench_done_signal(&t->done);
	}
}

/*
 * strict: one run per trigger.  The producer triggers a continuation again
 * only after its function has run (a flag it clears), so nothing coalesces
 * and every operation is a full hand-off: a push, a claim and a call.  The
 * libuv peer's strict mode does the same with its items.
 */
static void
tp_kcont_common(struct result *res, uint64_t n, int strict)
{
	struct kc_executor_stats s0, s1;
	struct kc_executor *ex;
	struct ktp *t;
	uint64_t i, errs = 0;
	struct meter m;
	unsigned k;
	int r;

	t = calloc(1, sizeof(*t));
	if (t == NULL)
		die("calloc", ENOMEM);
	t->n = n;
	bench_done_init(&t->done);
	r = kc_executor_create(&ex, &(struct kc_executor_attr){
	    .kind = KC_EXEC_SOFT, .name = "kc-consumer" });
	if (r)
		die("kc_executor_create", r);
	for (k = 0; k < NITEMS; k++) {
		r = kc_init(&t->kcs[k], ktp_fn, t, ex, 0);
		if (r)
			die("kc_init", r);
	}
	kc_executor_stats(ex, &s0);

	meter_start(&m);
	for (i = 0; i < n; i++) {
		unsigned slot = i & (NITEMS - 1);

		if (strict) {
			while (atomic_load_explicit(&t->busy[slot],
			    memory_order_acquire))
				cpu_relax();
			atomic_store_explicit(&t->busy[slot], 1,
			    memory_order_relaxed);
		}
		if (kc_run(&t->kcs[slot], strict ? (void *)&t->busy[slot] :
		    NULL, 0) != 0)
			errs++;
	}
	r = bench_done_wait(&t->done, DONE_TIMEOUT_S);
	meter_stop(&m, res);

	/* Drained: every run has returned and been counted. */
	kc_executor_shutdown(ex, KC_SHUTDOWN_DRAIN, NULL);
	kc_executor_stats(ex, &s1);
	kc_executor_close(ex, NULL);

	res->ops = n;
	res->runs = t->runs;
	res->sleeps = s1.sleeps - s0.sleeps;
	res->wakeups = s1.wakeups - s0.wakeups;
	res->batches = s1.batches - s0.batches;
	res->ok = r == 0 && errs == 0 && t->accounted == n &&
	    s1.runs - s0.runs == t->runs;
	if (!res->ok)
		fprintf(stderr, "kcont throughput: accounted %" PRIu64 " of %"
		    PRIu64 ", %" PRIu64 " kc_run errors, runs %" PRIu64
		    " (stats say %" PRIu64 ")\n", t->accounted, n, errs,
		    t->runs, s1.runs - s0.runs);
	bench_done_destroy(&t->done);
	free(t);
}

static void
tp_kcont(struct result *res, uint64_t n)
{
	tp_kcont_common(res, n, 0);
}

static void
tp_kcont_strict(struct result *res, uint64_t n)
{
	tp_kcont_common(res, n, 1);
}

/* ------------------------------------------------------------------ */
/* 1a. Throughput: one slot under a mutex and condition variables     */

struct cslot {
	pthread_mutex_t	 m;
	pthread_cond_t	 full_cv;	/* consumer waits for an item */
	pthread_cond_t	 empty_cv;	/* producer waits for the slot */
	struct item	*slot;
	struct peer	*p;
};

static void *
cond_consumer(void *arg)
{
	struct cslot *s = arg;
	struct peer *p = s->p;
	struct item *it;

	while (p->accounted < p->n) {
		pthread_mutex_lock(&s->m);
		while (s->slot == NULL)
			pthread_cond_wait(&s->full_cv, &s->m);
		it = s->slot;
		s->slot = NULL;
		pthread_mutex_unlock(&s->m);
		pthread_cond_signal(&s->empty_cv);
		it->fn(it, 1);
	}
	return NULL;
}

static void
tp_cond(struct result *res, uint64_t n)
{
	struct cslot s;
	pthread_t th;
	uint64_t i;
	struct meter m;
	int r;

	memset(&s, 0, sizeof(s));
	s.p = peer_new(n);
	pthread_mutex_init(&s.m, NULL);
	pthread_cond_init(&s.full_cv, NULL);
	pthread_cond_init(&s.empty_cv, NULL);
	r = pthread_create(&th, NULL, cond_consumer, &s);
	if (r)
		die("pthread_create", r);

	meter_start(&m);
	for (i = 0; i < n; i++) {
		struct item *it = &s.p->items[i & (NITEMS - 1)];

		pthread_mutex_lock(&s.m);
		while (s.slot != NULL)
			pthread_cond_wait(&s.empty_cv, &s.m);
		s.slot = it;
		pthread_mutex_unlock(&s.m);
		pthread_cond_signal(&s.full_cv);
	}
	r = bench_done_wait(&s.p->done, DONE_TIMEOUT_S);
	meter_stop(&m, res);

	pthread_join(th, NULL);
	res->ops = n;
	res->runs = s.p->runs;
	res->ok = r == 0 && s.p->accounted == n;
	pthread_cond_destroy(&s.empty_cv);
	pthread_cond_destroy(&s.full_cv);
	pthread_mutex_destroy(&s.m);
	peer_free(s.p);
}

/* ------------------------------------------------------------------ */
/* 1b. Throughput: libuv uv_async_t + mutex-protected intrusive queue  */

struct uvq {
	pthread_mutex_t	 m;
	struct item	*head, *tail;	/* under m */
	int		 stop;		/* under m */
	uv_loop_t	 loop;
	uv_async_t	 async;
	uint64_t	 callbacks;
	struct bench_done	 ready;
	struct peer	*p;
};

static void
uvq_cb(uv_async_t *a)
{
	struct uvq *q = a->data;
	struct item *it, *next;
	int stop;

	pthread_mutex_lock(&q->m);
	it = q->head;
	q->head = q->tail = NULL;
	stop = q->stop;
	pthread_mutex_unlock(&q->m);

	q->callbacks++;
	for (; it != NULL; it = next) {
		next = it->next;
		/* From here the producer may link it again. */
		it->fn(it, atomic_exchange(&it->pending, 0));
	}
	if (stop)
		uv_close((uv_handle_t *)&q->async, NULL);
}

static void *
uvq_consumer(void *arg)
{
	struct uvq *q = arg;
	int r;

	r = uv_loop_init(&q->loop);
	if (r)
		die("uv_loop_init", r);
	r = uv_async_init(&q->loop, &q->async, uvq_cb);
	if (r)
		die("uv_async_init", r);
	q->async.data = q;
	bench_done_signal(&q->ready);
	uv_run(&q->loop, UV_RUN_DEFAULT);
	uv_loop_close(&q->loop);
	return NULL;
}

/*
 * literal: every trigger takes the queue mutex and calls uv_async_send()
 * (which itself coalesces); otherwise a trigger on an item still queued
 * skips both.
 */
static void
tp_libuv_common(struct result *res, uint64_t n, int literal, int strict)
{
	struct uvq *q;
	pthread_t th;
	uint64_t i;
	struct meter m;
	int r;

	q = calloc(1, sizeof(*q));
	if (q == NULL)
		die("calloc", ENOMEM);
	q->p = peer_new(n);
	pthread_mutex_init(&q->m, NULL);
	bench_done_init(&q->ready);
	r = pthread_create(&th, NULL, uvq_consumer, q);
	if (r)
		die("pthread_create", r);
	bench_done_wait(&q->ready, DONE_TIMEOUT_S);

	meter_start(&m);
	for (i = 0; i < n; i++) {
		struct item *it = &q->p->items[i & (NITEMS - 1)];

		/*
		 * An intrusive item can be linked only once: a trigger on an
		 * item still queued is counted on it (coalesced, as kcont
		 * does) and needs neither the lock nor a send.
		 */
		if (strict) {
			/* Wait until the consumer has run it (pending 0). */
			while (atomic_load_explicit(&it->pending,
			    memory_order_acquire) != 0)
				cpu_relax();
		}
		if (literal) {
			pthread_mutex_lock(&q->m);
			if (atomic_fetch_add(&it->pending, 1) == 0) {
				it->next = NULL;
				if (q->tail != NULL)
					q->tail->next = it;
				else
					q->head = it;
				q->tail = it;
			}
			pthread_mutex_unlock(&q->m);
			uv_async_send(&q->async);
			continue;
		}
		if (atomic_fetch_add(&it->pending, 1) != 0)
			continue;
		it->next = NULL;
		pthread_mutex_lock(&q->m);
		if (q->tail != NULL)
			q->tail->next = it;
		else
			q->head = it;
		q->tail = it;
		pthread_mutex_unlock(&q->m);
		uv_async_send(&q->async);
	}
	r = bench_done_wait(&q->p->done, DONE_TIMEOUT_S);
	meter_stop(&m, res);

	pthread_mutex_lock(&q->m);
	q->stop = 1;
	pthread_mutex_unlock(&q->m);
	uv_async_send(&q->async);
	pthread_join(th, NULL);

	res->ops = n;
	res->runs = q->p->runs;
	res->extra = q->callbacks;
	res->ok = r == 0 && q->p->accounted == n;
	bench_done_destroy(&q->ready);
	pthread_mutex_destroy(&q->m);
	peer_free(q->p);
	free(q);
}

static void
tp_libuv(struct result *res, uint64_t n)
{
	tp_libuv_common(res, n, 0, 0);
}

static void
tp_libuv_strict(struct result *res, uint64_t n)
{
	tp_libuv_common(res, n, 0, 1);
}

static void
tp_libuv_literal(struct result *res, uint64_t n)
{
	tp_libuv_common(res, n, 1, 0);
}

/* ------------------------------------------------------------------ */
/* 1c. Throughput: one slot, sleep/wakeup through kcont's bridge      */

struct bslot {
	struct item *_Atomic	 slot;
	struct kc_queue		 fullq;		/* consumer sleeps here */
	struct kc_queue		 emptyq;	/* producer sleeps here */
	struct peer		*p;
	_Atomic uint64_t	 timeouts;	/* lost wake-ups recovered */
	_Atomic uint64_t	 errs;
};

#define BRIDGE_TIMEOUT_NS	2000000000ull

/* Sleep on q until slot is (want_full ? non-NULL : NULL). */
static void
bridge_wait(struct bslot *s, struct kc_queue *q, int want_full)
{
	struct kc_waiter w;
	int r;

	for (;;) {
		if ((atomic_load(&s->slot) != NULL) == want_full)
			return;
		memset(&w, 0, sizeof(w));
		r = kc_wait_prepare(&w, q);
		if (r) {
			atomic_fetch_add(&s->errs, 1);
			return;
		}
		if ((atomic_load(&s->slot) != NULL) == want_full) {
			if (kc_wait_cancel(&w) == -EALREADY)
				(void)kc_wait(&w, 0, NULL, NULL);
			return;
		}
		r = kc_wait(&w, BRIDGE_TIMEOUT_NS, NULL, NULL);
		if (r == -ETIMEDOUT)
			atomic_fetch_add(&s->timeouts, 1);
		else if (r)
			atomic_fetch_add(&s->errs, 1);
	}
}

static void *
bridge_consumer(void *arg)
{
	struct bslot *s = arg;
	struct peer *p = s->p;
	struct item *it;

	while (p->accounted < p->n && atomic_load(&s->errs) == 0) {
		bridge_wait(s, &s->fullq, 1);
		it = atomic_exchange(&s->slot, NULL);
		if (it == NULL)
			continue;
		if (kc_run_all(&s->emptyq, NULL, 0) < 0)
			atomic_fetch_add(&s->errs, 1);
		it->fn(it, 1);
	}
	return NULL;
}

static void
tp_bridge(struct result *res, uint64_t n)
{
	struct bslot s;
	pthread_t th;
	uint64_t i;
	struct meter m;
	int r;

	memset(&s, 0, sizeof(s));
	s.p = peer_new(n);
	kc_queue_init(&s.fullq);
	kc_queue_init(&s.emptyq);
	r = pthread_create(&th, NULL, bridge_consumer, &s);
	if (r)
		die("pthread_create", r);

	meter_start(&m);
	for (i = 0; i < n && atomic_load(&s.errs) == 0; i++) {
		bridge_wait(&s, &s.emptyq, 0);
		atomic_store(&s.slot, &s.p->items[i & (NITEMS - 1)]);
		if (kc_run_all(&s.fullq, NULL, 0) < 0)
			atomic_fetch_add(&s.errs, 1);
	}
	r = atomic_load(&s.errs) ? -EIO : bench_done_wait(&s.p->done, DONE_TIMEOUT_S);
	meter_stop(&m, res);

	pthread_join(th, NULL);
	res->ops = n;
	res->runs = s.p->runs;
	res->extra = atomic_load(&s.timeouts);
	res->ok = r == 0 && s.p->accounted == n && atomic_load(&s.errs) == 0;
	if (atomic_load(&s.timeouts) || atomic_load(&s.errs))
		fprintf(stderr, "bridge: %" PRIu64 " wait timeouts (lost "
		    "wake-ups), %" PRIu64 " errors\n",
		    atomic_load(&s.timeouts), atomic_load(&s.errs));
	peer_free(s.p);
}

/* ------------------------------------------------------------------ */
/* 2. Round trip: kcont between two soft executors                    */

/*
 * Round trips stop early after RT_CAP_S seconds (checked every 1024) so that
 * a slow run stays bounded; ops/s is computed from the rounds done.
 */
#define RT_CAP_S	2.0

struct krt {
	uint64_t	m;
	uint64_t	a_runs;
	uint64_t	rounds;		/* completed when done is signalled */
	double		deadline;
	int		capped;
	_Atomic uint64_t errs;
	struct kc	a, b;
	struct bench_done	done;
};

static void
krt_a(void *obj, void *env, int status)
{
	struct krt *t = env;

	(void)obj;
	(void)status;
	if (kc_coalesced() != 1)
		atomic_fetch_add(&t->errs, 1);
	/* The first run starts the ping-pong; each later one ends a round. */
	if (t->a_runs++ == t->m || ((t->a_runs & 1023) == 0 &&
	    bench_now_s() > t->deadline)) {
		t->rounds = t->a_runs - 1;
		t->capped = t->rounds != t->m;
		bench_done_signal(&t->done);
		return;
	}
	if (kc_run(&t->b, NULL, 0) != 0) {
		atomic_fetch_add(&t->errs, 1);
		bench_done_signal(&t->done);
	}
}

static void
krt_b(void *obj, void *env, int status)
{
	struct krt *t = env;

	(void)obj;
	(void)status;
	if (kc_coalesced() != 1)
		atomic_fetch_add(&t->errs, 1);
	if (kc_run(&t->a, NULL, 0) != 0) {
		atomic_fetch_add(&t->errs, 1);
		bench_done_signal(&t->done);
	}
}

static void
rt_kcont(struct result *res, uint64_t m)
{
	struct kc_executor *ea, *eb;
	struct kc_executor_stats sa0, sa1, sb0, sb1;
	struct krt *t;
	struct meter mt;
	int r;

	t = calloc(1, sizeof(*t));
	if (t == NULL)
		die("calloc", ENOMEM);
	t->m = m;
	bench_done_init(&t->done);
	r = kc_executor_create(&ea, &(struct kc_executor_attr){
	    .kind = KC_EXEC_SOFT, .name = "kc-ping" });
	if (r)
		die("kc_executor_create", r);
	r = kc_executor_create(&eb, &(struct kc_executor_attr){
	    .kind = KC_EXEC_SOFT, .name = "kc-pong" });
	if (r)
		die("kc_executor_create", r);
	if ((r = kc_init(&t->a, krt_a, t, ea, 0)) != 0 ||
	    (r = kc_init(&t->b, krt_b, t, eb, 0)) != 0)
		die("kc_init", r);
	kc_executor_stats(ea, &sa0);
	kc_executor_stats(eb, &sb0);

	meter_start(&mt);
	t->deadline = mt.t + RT_CAP_S;
	r = kc_run(&t->a, NULL, 0);
	if (r == 0)
		r = bench_done_wait(&t->done, DONE_TIMEOUT_S);
	meter_stop(&mt, res);

	kc_executor_shutdown(ea, KC_SHUTDOWN_DRAIN, NULL);
	kc_executor_shutdown(eb, KC_SHUTDOWN_DRAIN, NULL);
	kc_executor_stats(ea, &sa1);
	kc_executor_stats(eb, &sb1);
	kc_executor_close(ea, NULL);
	kc_executor_close(eb, NULL);

	res->ops = t->rounds;
	res->runs = t->a_runs;
	res->capped = t->capped;
	res->sleeps = (sa1.sleeps - sa0.sleeps) + (sb1.sleeps - sb0.sleeps);
	res->wakeups = (sa1.wakeups - sa0.wakeups) + (sb1.wakeups - sb0.wakeups);
	res->ok = r == 0 && t->rounds > 0 && t->a_runs == t->rounds + 1 &&
	    atomic_load(&t->errs) == 0;
	bench_done_destroy(&t->done);
	free(t);
}

/* 2a. Round trip: mutex+condvar ping-pong between two threads */

struct cpp {
	pthread_mutex_t	m;
	pthread_cond_t	cv[2];
	int		turn;		/* whose move: 0 main, 1 helper */
	int		stop;
};

static void *
cpp_helper(void *arg)
{
	struct cpp *c = arg;

	for (;;) {
		pthread_mutex_lock(&c->m);
		while (c->turn != 1 && !c->stop)
			pthread_cond_wait(&c->cv[1], &c->m);
		if (c->stop) {
			pthread_mutex_unlock(&c->m);
			break;
		}
		c->turn = 0;
		pthread_mutex_unlock(&c->m);
		pthread_cond_signal(&c->cv[0]);
	}
	return NULL;
}

static void
rt_cond(struct result *res, uint64_t m)
{
	struct cpp c;
	pthread_t th;
	uint64_t i, done = 0;
	struct meter mt;
	int r;

	memset(&c, 0, sizeof(c));
	pthread_mutex_init(&c.m, NULL);
	pthread_cond_init(&c.cv[0], NULL);
	pthread_cond_init(&c.cv[1], NULL);
	r = pthread_create(&th, NULL, cpp_helper, &c);
	if (r)
		die("pthread_create", r);

	meter_start(&mt);
	for (i = 0; i < m; i++) {
		pthread_mutex_lock(&c.m);
		c.turn = 1;
		pthread_cond_signal(&c.cv[1]);
		while (c.turn != 0)
			pthread_cond_wait(&c.cv[0], &c.m);
		pthread_mutex_unlock(&c.m);
		done++;
		if ((done & 1023) == 0 && bench_now_s() > mt.t + RT_CAP_S)
			break;
	}
	meter_stop(&mt, res);
	pthread_mutex_lock(&c.m);
	c.stop = 1;
	pthread_mutex_unlock(&c.m);
	pthread_cond_signal(&c.cv[1]);
	pthread_join(th, NULL);
	res->ops = done;
	res->capped = done != m;
	res->ok = done > 0;
	pthread_cond_destroy(&c.cv[1]);
	pthread_cond_destroy(&c.cv[0]);
	pthread_mutex_destroy(&c.m);
}

/* ------------------------------------------------------------------ */
/* 3. Inline kc_run against a plain indirect call                     */

static void
count_fn(void *obj, void *env, int status)
{
	(void)obj;
	(void)status;
	(*(uint64_t *)env)++;
}

static void
inline_immediate(struct result *res, uint64_t k)
{
	struct kc kc;
	uint64_t cnt = 0, i, errs = 0;
	double t0;
	int r;

	r = kc_init(&kc, count_fn, &cnt, NULL, 0);
	if (r)
		die("kc_init", r);
	t0 = bench_now_s();
	for (i = 0; i < k; i++)
		if (kc_run(&kc, NULL, 0) != 0)
			errs++;
	res->secs = bench_now_s() - t0;
	res->ops = k;
	res->ok = cnt == k && errs == 0;
}

struct ionexec {
	uint64_t	k;
	uint64_t	cnt;
	uint64_t	errs;
	double		secs;
	struct kc	inner;
	struct bench_done	done;
};

static void
ionexec_outer(void *obj, void *env, int status)
{
	struct ionexec *t = env;
	uint64_t i;
	double t0;

	(void)obj;
	(void)status;
	t0 = bench_now_s();
	for (i = 0; i < t->k; i++)
		if (kc_run(&t->inner, NULL, 0) != 0)
			t->errs++;
	t->secs = bench_now_s() - t0;
	bench_done_signal(&t->done);
}

static void
inline_onexec(struct result *res, uint64_t k)
{
	struct kc_executor_stats s0, s1;
	struct kc_executor *ex;
	struct ionexec t;
	struct kc outer;
	int r;

	memset(&t, 0, sizeof(t));
	t.k = k;
	bench_done_init(&t.done);
	r = kc_executor_create(&ex, &(struct kc_executor_attr){
	    .kind = KC_EXEC_SOFT, .name = "kc-inline" });
	if (r)
		die("kc_executor_create", r);
	if ((r = kc_init(&t.inner, count_fn, &t.cnt, ex, 0)) != 0 ||
	    (r = kc_init(&outer, ionexec_outer, &t, ex, 0)) != 0)
		die("kc_init", r);
	kc_executor_stats(ex, &s0);
	r = kc_run(&outer, NULL, 0);
	if (r == 0)
		r = bench_done_wait(&t.done, DONE_TIMEOUT_S);
	kc_executor_shutdown(ex, KC_SHUTDOWN_DRAIN, NULL);
	kc_executor_stats(ex, &s1);
	kc_executor_close(ex, NULL);
	res->secs = t.secs;
	res->ops = k;
	res->extra = s1.inline_runs - s0.inline_runs;
	res->ok = r == 0 && t.cnt == k && t.errs == 0;
	bench_done_destroy(&t.done);
}

static void
indirect_call(struct result *res, uint64_t k)
{
	kc_fn *volatile fp = count_fn;
	uint64_t cnt = 0, i;
	double t0;

	t0 = bench_now_s();
	for (i = 0; i < k; i++)
		fp(NULL, &cnt, 0);
	res->secs = bench_now_s() - t0;
	res->ops = k;
	res->ok = cnt == k;
}

static double
ns_per(const struct result *r)
{
	return r->ops ? r->secs * 1e9 / (double)r->ops : 0.0;
}

static struct result
best_ns(const char *label, void (*fn)(struct result *, uint64_t), uint64_t k,
    int show_inline)
{
	struct result best, r;
	int i;

	memset(&best, 0, sizeof(best));
	for (i = 0; i < REPS; i++) {
		memset(&r, 0, sizeof(r));
		fn(&r, k);
		if (!r.ok) {
			fprintf(stderr, "bench-handoff: %s: repetition %d "
			    "miscounted or failed\n", label, i + 1);
			failures++;
		}
		if (i == 0 || ns_per(&r) < ns_per(&best))
			best = r;
	}
	printf("%-30s %8.2f ns/call  (%" PRIu64 " calls", label,
	    ns_per(&best), k);
	if (show_inline)
		printf(", executor counted %" PRIu64 " inline runs", best.extra);
	printf(")\n");
	fflush(stdout);
	return best;
}

/* ------------------------------------------------------------------ */

static const char *only;	/* --only NAME: run one group (profiling) */

static int
want(const char *name)
{
	return only == NULL || strcmp(only, name) == 0;
}

static void
usage(void)
{
	fprintf(stderr, "usage: bench-handoff [-n SCALE] [--quick] [--only NAME]\n"
	    "  -n SCALE     multiply every operation count by SCALE (> 0)\n"
	    "  --quick      same as -n 0.1\n"
	    "  --only NAME  run one group (kcont cond libuv bridge rt call),\n"
	    "               e.g. under perf; the summary line is then partial\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct result kc_tp, kc_co, cond_tp, uv_tp, uv_co, kc_rt, cond_rt;
	double inline_vs_call = 0;
	int i;

	memset(&kc_tp, 0, sizeof(kc_tp));
	memset(&kc_co, 0, sizeof(kc_co));
	memset(&uv_co, 0, sizeof(uv_co));
	cond_tp = uv_tp = kc_rt = cond_rt = kc_tp;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			scale = 0.1;
		} else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
			char *end;

			scale = strtod(argv[++i], &end);
			if (*end != '\0' || !(scale > 0.0) || scale > 1000.0)
				usage();
		} else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
			only = argv[++i];
		} else {
			usage();
		}
	}
	bench_init("bench-handoff", WATCHDOG_S);
	setvbuf(stdout, NULL, _IOLBF, 0);

	printf("bench-handoff: %ld CPUs, best of %d, R=%u, scale %g "
	    "(tp: throughput, rt: round trip, *: stopped at %.0f s)\n",
	    sysconf(_SC_NPROCESSORS_ONLN), REPS, NITEMS, scale, RT_CAP_S);

	/*
	 * One producer thread -> one consumer thread.  The summary compares
	 * the strict runs, one run per trigger, where neither side can gain
	 * by coalescing; the coalescing runs follow for information (their
	 * ratio favours whichever consumer falls further behind, since a
	 * coalesced trigger is a single atomic add on both sides).
	 */
	if (want("kcont")) {
		kc_tp = best_of("tp kcont strict (run/trigger)",
		    tp_kcont_strict, scaled(N_KCONT));
		kc_co = best_of("tp kcont coalescing", tp_kcont,
		    scaled(N_KCONT));
		printf("   kcont: %" PRIu64 " runs for %" PRIu64 " triggers "
		    "(%.2f triggers/run, %.1f%% coalesced), %" PRIu64
		    " sleeps, %" PRIu64 " wakeups\n", kc_co.runs, kc_co.ops,
		    kc_co.runs ? (double)kc_co.ops / (double)kc_co.runs : 0.0,
		    kc_co.ops ? 100.0 * (double)(kc_co.ops - kc_co.runs) /
		    (double)kc_co.ops : 0.0, kc_co.sleeps, kc_co.wakeups);
	}
	if (want("cond"))
		cond_tp = best_of("tp cond one-slot mutex+condvar", tp_cond,
		    scaled(N_COND));
	if (want("libuv")) {
		uv_tp = best_of("tp libuv strict (run/trigger)",
		    tp_libuv_strict, scaled(N_KCONT));
		uv_co = best_of("tp libuv coalescing", tp_libuv,
		    scaled(N_LIBUV));
		(void)best_of("tp libuv lock+send every op", tp_libuv_literal,
		    scaled(N_LIBUV_LIT));
		printf("   libuv: %" PRIu64 " item runs for %" PRIu64
		    " triggers (%.2f triggers/run), %" PRIu64 " async "
		    "callbacks; lock+send variant not in summary\n",
		    uv_co.runs, uv_co.ops, uv_co.runs ? (double)uv_co.ops /
		    (double)uv_co.runs : 0.0, uv_co.extra);
		if (ops_per_s(&uv_co) > 0)
			printf("   coalescing ratio (information only): "
			    "kcont/libuv %.2f\n", ops_per_s(&kc_co) /
			    ops_per_s(&uv_co));
	}
	if (want("bridge"))
		(void)best_of("tp bridge one-slot kc_wait", tp_bridge,
		    scaled(N_BRIDGE));

	/* Round trips between two threads. */
	if (want("rt")) {
		kc_rt = best_of("rt kcont two soft executors", rt_kcont,
		    scaled(M_RT_KCONT));
		cond_rt = best_of("rt cond mutex+condvar", rt_cond,
		    scaled(M_RT_COND));
		printf("   round trips: kcont/cond x%.2f, csw/rt kcont %.4f "
		    "cond %.4f; kcont %" PRIu64 " sleeps %" PRIu64
		    " wakeups\n", ops_per_s(&cond_rt) > 0 ?
		    ops_per_s(&kc_rt) / ops_per_s(&cond_rt) : 0.0,
		    csw_per_op(&kc_rt), csw_per_op(&cond_rt), kc_rt.sleeps,
		    kc_rt.wakeups);
	}

	/* The cost of one call. */
	if (want("call")) {
		struct result imm, own, ind;

		imm = best_ns("call kc_run immediate kc", inline_immediate,
		    scaled(K_INLINE), 0);
		own = best_ns("call kc_run inline on own exec", inline_onexec,
		    scaled(K_INLINE), 1);
		ind = best_ns("call indirect (volatile fp)", indirect_call,
		    scaled(K_INDIRECT), 0);
		/* The slower of the two inline runs, over the plain call. */
		if (ns_per(&ind) > 0)
			inline_vs_call = (ns_per(&imm) > ns_per(&own) ?
			    ns_per(&imm) : ns_per(&own)) / ns_per(&ind);
	}

	if (failures)
		fprintf(stderr, "bench-handoff: %d failed measurement(s)\n",
		    failures);
	printf("handoff: kcont_vs_cond=%.2f kcont_vs_libuv=%.2f "
	    "kcont_csw_per_op=%.4g inline_vs_call=%.2f\n",
	    ops_per_s(&cond_tp) > 0 ? ops_per_s(&kc_tp) / ops_per_s(&cond_tp) : 0.0,
	    ops_per_s(&uv_tp) > 0 ? ops_per_s(&kc_tp) / ops_per_s(&uv_tp) : 0.0,
	    csw_per_op(&kc_tp), inline_vs_call);
	return failures ? 1 : 0;
}
