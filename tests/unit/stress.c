/*
 * unit-stress: 10^6 triggers from 4 producer threads onto 1024 pooled kcs
 * spread over two soft executors and a thread executor, while 2 threads
 * cancel at random and continuations trigger other kcs from inside (inline
 * when the target is their own executor).  Every trigger is accounted for
 * exactly once, and nothing runs twice.
 *
 * Exact accounting.  Each slot (one kc) numbers its triggers 0, 1, 2, ...
 * under a per-slot lock and passes the number as obj.  A run receives the
 * first coalesced trigger's obj and kc_coalesced() = c, so it stands for the
 * contiguous range [first, first + c).  A canceller calls kc_cancel (or
 * kc_cancel_sync) under the same lock; when it returns a count n >= 1, the
 * cancelled pending instance holds the slot's latest trigger (no trigger can
 * slip in while the lock is held), so it is exactly [count - n, count): we
 * record that.  Afterwards the run ranges and the cancelled ranges must tile
 * [0, count) exactly: no overlap (nothing ran twice, no cancelled trigger
 * ran), no gap (nothing lost), every cancel used once with the size it
 * reported.  Then
 *   sum over runs of kc_coalesced() + sum of cancel counts == triggers.
 * Continuations only ever trylock a slot, so nothing blocks on an executor.
 *
 * Size: KC_STRESS_TRIGGERS (default 1000000) producer triggers in total.
 */
#include "kctest.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NSLOTS		1024
#define NPROD		4
#define NCANC		2
#define NEXEC		3
#define CHAIN_ONE_IN	8		/* a run triggers another slot 1 in 8 */

struct slot {
	struct kc		*kc;
	struct kc_executor	*ex;
	int			 idx;
	pthread_mutex_t		 lock;
	uint64_t		 next;		/* triggers so far (locked) */
	struct cancelrec	*cends;		/* cancelled instances */
	uint32_t		 ncends, capcends;
};

struct cancelrec {
	uint64_t	end;		/* the slot's trigger count then */
	uint64_t	n;		/* what kc_cancel returned */
};

struct runrec {
	uint32_t	slot;
	uint32_t	c;
	uint64_t	first;
};

static struct slot slots[NSLOTS];
static struct kc_executor *exs[NEXEC];
static struct runrec *runlog;
static uint64_t runlog_cap;
static atomic_uint_fast64_t nruns;
static atomic_uint_fast64_t chain_triggers;
static uint64_t chain_cap;
static atomic_int stop_chain;
static atomic_int inflight;
static atomic_uint_fast64_t chain_inline_seen;

static void *
seq_obj(uint64_t seq)
{
	return (void *)(uintptr_t)(seq + 1);
}

/* Caller holds s->lock; n is what kc_cancel(_sync) returned (>= 1). */
static void
record_cancel(struct slot *s, int n)
{
	KC_CHECK_GE(n, 1);
	KC_CHECK_LE((uint64_t)n, s->next);
	if (s->ncends == s->capcends) {
		s->capcends = s->capcends ? 2 * s->capcends : 16;
		s->cends = realloc(s->cends,
		    s->capcends * sizeof(*s->cends));
		KC_CHECK(s->cends != NULL);
	}
	s->cends[s->ncends].end = s->next;
	s->cends[s->ncends].n = (uint64_t)n;
	s->ncends++;
}

static void
stress_fn(void *obj, void *env, int status)
{
	struct slot *s = env;
	uint32_t c = kc_coalesced();
	uint64_t first = (uint64_t)(uintptr_t)obj - 1;
	uint64_t i;

	atomic_fetch_add(&inflight, 1);
	KC_CHECK(obj != NULL);
	KC_CHECK_GE(c, 1);
	KC_CHECK_EQ(status, s->idx);
	KC_CHECK_PTR_EQ(kc_executor_current(), s->ex);
	KC_CHECK(kc_state(s->kc) & KC_STATE_RUNNING);
	i = atomic_fetch_add(&nruns, 1);
	KC_CHECK_LT(i, runlog_cap);
	runlog[i].slot = (uint32_t)s->idx;
	runlog[i].c = c;
	runlog[i].first = first;

	/* sometimes trigger another slot from inside (never blocking) */
	if (!atomic_load(&stop_chain) && kct_rand_below(CHAIN_ONE_IN) == 0 &&
	    atomic_load(&chain_triggers) < chain_cap) {
		struct slot *t = &slots[kct_rand_below(NSLOTS)];

		if (pthread_mutex_trylock(&t->lock) == 0) {
			uint64_t seq = t->next++;

			if (t->ex == s->ex)
				atomic_fetch_add(&chain_inline_seen, 1);
			KC_CHECK_OK(kc_run(t->kc, seq_obj(seq), t->idx));
			atomic_fetch_add(&chain_triggers, 1);
			pthread_mutex_unlock(&t->lock);
		}
	}
	atomic_fetch_sub(&inflight, 1);
}

struct prod {
	int		id;
	uint64_t	count;
	atomic_int	*go;
};

/*
 * Cancel calls so far, all cancellers.  Producers yield while cancels lag
 * behind one per TRIGGERS_PER_CANCEL of their own triggers, so that on two
 * cores cancels really interleave with triggers instead of landing after the
 * producers are done.
 */
#define TRIGGERS_PER_CANCEL	50
static atomic_uint_fast64_t cancel_calls;

static void *
prod_main(void *arg)
{
	struct prod *p = arg;
	uint64_t i;

	kct_wait_flag(p->go, 10);
	for (i = 0; i < p->count; i++) {
		uint64_t r = kct_rand();
		struct slot *s;
		uint64_t seq;
		int rc;

		/* round-robin over the pool, sometimes a random slot */
		if (r & 0x10)
			s = &slots[(p->id + i * NPROD) % NSLOTS];
		else
			s = &slots[(r >> 8) % NSLOTS];
		pthread_mutex_lock(&s->lock);
		seq = s->next++;
		if (r & 1)
			rc = kc_run(s->kc, seq_obj(seq), s->idx);
		else
			rc = kc_defer(s->kc, seq_obj(seq), s->idx);
		KC_CHECK_OK(rc);
		pthread_mutex_unlock(&s->lock);
		while (atomic_load(&cancel_calls) * TRIGGERS_PER_CANCEL <
		    i * NPROD)
			sched_yield();
	}
	return NULL;
}

struct canc {
	atomic_int	*go;
	atomic_int	*done;
	uint64_t	 calls, ok, inprogress, already, sync_calls;
};

static void *
canc_main(void *arg)
{
	struct canc *c = arg;

	kct_wait_flag(c->go, 10);
	while (!atomic_load(c->done)) {
		uint64_t r = kct_rand();
		struct slot *s = &slots[(r >> 8) % NSLOTS];
		int rc;

		pthread_mutex_lock(&s->lock);
		if ((r & 63) == 0) {
			rc = kc_cancel_sync(s->kc);
			c->sync_calls++;
			KC_CHECK(rc >= 1 || rc == -EALREADY);
			KC_CHECK_EQ(kc_state(s->kc), KC_STATE_IDLE);
		} else {
			rc = kc_cancel(s->kc);
			KC_CHECK(rc >= 1 || rc == -EINPROGRESS ||
			    rc == -EALREADY);
		}
		if (rc >= 1)
			record_cancel(s, rc);
		pthread_mutex_unlock(&s->lock);
		atomic_fetch_add(&cancel_calls, 1);
		c->calls++;
		if (rc >= 1)
			c->ok++;
		else if (rc == -EINPROGRESS)
			c->inprogress++;
		else
			c->already++;
		if ((r & 0x300) == 0)
			sched_yield();
	}
	return NULL;
}

static int
cmp_first(const void *a, const void *b)
{
	const struct runrec *x = a, *y = b;

	return x->first < y->first ? -1 : x->first > y->first;
}

/*
 * Check that slot s's run ranges and cancelled ranges tile [0, next).
 * runs are s's records sorted by first.  Returns cancelled triggers.
 */
static uint64_t
verify_slot(struct slot *s, struct runrec *runs, uint64_t nr)
{
	uint64_t p = 0, ri = 0, ci = 0, cancelled = 0;

	while (p < s->next) {
		if (ri < nr && runs[ri].first == p) {
			p += runs[ri].c;
			if (p > s->next)
				kct_fail(__FILE__, __LINE__, "slot %d: run "
				    "[%" PRIu64 ", +%u) past its %" PRIu64
				    " triggers", s->idx, runs[ri].first,
				    runs[ri].c, s->next);
			ri++;
			continue;
		}
		/* not a run here: must be a cancelled instance [p, end) */
		if (ci >= s->ncends || s->cends[ci].end <= p)
			kct_fail(__FILE__, __LINE__, "slot %d: trigger %" PRIu64
			    " neither ran nor was cancelled (next run at %"
			    PRIu64 ", next cancel end %" PRIu64 ")", s->idx, p,
			    ri < nr ? runs[ri].first : UINT64_MAX,
			    ci < s->ncends ? s->cends[ci].end : UINT64_MAX);
		if (ri < nr && runs[ri].first < s->cends[ci].end)
			kct_fail(__FILE__, __LINE__, "slot %d: run at %" PRIu64
			    " inside a cancelled instance [%" PRIu64 ", %"
			    PRIu64 ")", s->idx, runs[ri].first, p,
			    s->cends[ci].end);
		if (s->cends[ci].end - p != s->cends[ci].n)
			kct_fail(__FILE__, __LINE__, "slot %d: kc_cancel "
			    "returned %" PRIu64 " for the instance [%" PRIu64
			    ", %" PRIu64 ") of %" PRIu64 " triggers", s->idx,
			    s->cends[ci].n, p, s->cends[ci].end,
			    s->cends[ci].end - p);
		cancelled += s->cends[ci].n;
		p = s->cends[ci++].end;
	}
	if (ri != nr)
		kct_fail(__FILE__, __LINE__, "slot %d: run [%" PRIu64 ", +%u) "
		    "overlaps another or was never triggered (%" PRIu64
		    " triggers)", s->idx, runs[ri].first, runs[ri].c, s->next);
	if (ci != s->ncends)
		kct_fail(__FILE__, __LINE__, "slot %d: kc_cancel returned %"
		    PRIu64 " with the instance ending at %" PRIu64 " but that "
		    "run happened or was already cancelled", s->idx,
		    s->cends[ci].n, s->cends[ci].end);
	KC_CHECK_EQ(p, s->next);
	return cancelled;
}

int
main(void)
{
	struct kc_pool *pool = NULL;
	struct prod prods[NPROD];
	struct canc cancs[NCANC];
	pthread_t pt[NPROD], ct[NCANC];
	atomic_int go = 0, canc_done = 0;
	uint64_t total, triggers = 0, run_triggers = 0, cancelled = 0;
	uint64_t n, i, *off, *fill, stat_runs = 0, cancels_ok = 0;
	uint64_t coalesced_runs = 0;
	struct runrec *sorted;
	const char *env;
	uint64_t t0;
	int j;

	kct_begin("unit-stress", 110);
	total = 1000000;
	env = getenv("KC_STRESS_TRIGGERS");
	if (env != NULL && *env != '\0')
		total = strtoull(env, NULL, 0);
	KC_CHECK_GE(total, NPROD);
	chain_cap = total / 8;
	runlog_cap = total + chain_cap + 4096;	/* cap overshoot slack */
	runlog = calloc(runlog_cap, sizeof(*runlog));
	KC_CHECK(runlog != NULL);

	exs[0] = kct_exec_soft("st-soft0");
	exs[1] = kct_exec_soft("st-soft1");
	exs[2] = kct_exec_thread(2, "st-thr");
	KC_CHECK_OK(kc_pool_create(&pool, NSLOTS));
	for (j = 0; j < NSLOTS; j++) {
		struct slot *s = &slots[j];

		s->idx = j;
		s->ex = exs[j % NEXEC];
		KC_CHECK_EQ(pthread_mutex_init(&s->lock, NULL), 0);
		KC_CHECK_OK(kc_alloc(pool, &s->kc, stress_fn, s, s->ex, 0));
	}
	KC_CHECK_EQ(kc_pool_inuse(pool), NSLOTS);

	t0 = kct_now_ns();
	for (j = 0; j < NPROD; j++) {
		prods[j].id = j;
		prods[j].count = total / NPROD + (j < (int)(total % NPROD));
		prods[j].go = &go;
		pt[j] = kct_thread_start(prod_main, &prods[j]);
	}
	for (j = 0; j < NCANC; j++) {
		memset(&cancs[j], 0, sizeof(cancs[j]));
		cancs[j].go = &go;
		cancs[j].done = &canc_done;
		ct[j] = kct_thread_start(canc_main, &cancs[j]);
	}
	atomic_store(&go, 1);
	for (j = 0; j < NPROD; j++)
		kct_thread_join(pt[j]);
	atomic_store(&canc_done, 1);
	for (j = 0; j < NCANC; j++)
		kct_thread_join(ct[j]);

	/* settle: stop chaining, let running functions finish, cancel_sync */
	atomic_store(&stop_chain, 1);
	KCT_WAIT(atomic_load(&inflight) == 0, 30);
	for (j = 0; j < NSLOTS; j++) {
		struct slot *s = &slots[j];
		int rc;

		pthread_mutex_lock(&s->lock);
		rc = kc_cancel_sync(s->kc);
		KC_CHECK(rc >= 1 || rc == -EALREADY);
		if (rc >= 1)
			record_cancel(s, rc);
		KC_CHECK_EQ(kc_state(s->kc), KC_STATE_IDLE);
		pthread_mutex_unlock(&s->lock);
	}
	for (j = 0; j < NSLOTS; j++)
		KC_CHECK_EQ(kc_state(slots[j].kc), KC_STATE_IDLE);
	/* drain and collect stats: nothing may run after the settle */
	n = atomic_load(&nruns);
	for (j = 0; j < NEXEC; j++) {
		struct kc_executor_stats st;

		KC_CHECK_OK(kc_executor_shutdown(exs[j], KC_SHUTDOWN_DRAIN,
		    NULL));
		kct_exec_stats(exs[j], &st);
		stat_runs += st.runs + st.inline_runs;
	}
	KC_CHECK_EQ(atomic_load(&nruns), n);
	KC_CHECK_EQ(stat_runs, n);
	printf("%" PRIu64 " producer triggers, %" PRIu64 " chained; %" PRIu64
	    " runs in %.2f s\n", total, atomic_load(&chain_triggers), n,
	    (double)(kct_now_ns() - t0) / 1e9);

	/* group the run records by slot, sort each by first trigger */
	off = calloc(NSLOTS + 1, sizeof(*off));
	fill = calloc(NSLOTS, sizeof(*fill));
	sorted = malloc((n ? n : 1) * sizeof(*sorted));
	KC_CHECK(off != NULL && fill != NULL && sorted != NULL);
	for (i = 0; i < n; i++) {
		KC_CHECK_LT(runlog[i].slot, NSLOTS);
		off[runlog[i].slot + 1]++;
	}
	for (j = 0; j < NSLOTS; j++)
		off[j + 1] += off[j];
	for (i = 0; i < n; i++) {
		uint32_t sl = runlog[i].slot;

		sorted[off[sl] + fill[sl]++] = runlog[i];
		run_triggers += runlog[i].c;
		if (runlog[i].c > 1)
			coalesced_runs++;
	}
	for (j = 0; j < NSLOTS; j++) {
		struct slot *s = &slots[j];

		qsort(sorted + off[j], off[j + 1] - off[j], sizeof(*sorted),
		    cmp_first);
		cancelled += verify_slot(s, sorted + off[j],
		    off[j + 1] - off[j]);
		triggers += s->next;
		cancels_ok += s->ncends;
	}
	for (j = 0; j < NCANC; j++)
		printf("canceller %d: %" PRIu64 " calls (%" PRIu64
		    " cancel_sync): %" PRIu64 " cancelled, %" PRIu64
		    " in progress, %" PRIu64 " already\n", j, cancs[j].calls,
		    cancs[j].sync_calls, cancs[j].ok, cancs[j].inprogress,
		    cancs[j].already);
	printf("triggers %" PRIu64 " = run %" PRIu64 " (in %" PRIu64
	    " runs, %" PRIu64 " coalesced) + cancelled %" PRIu64 " (%" PRIu64
	    " instances); %" PRIu64 " chain triggers aimed at own executor\n",
	    triggers, run_triggers, n, coalesced_runs, cancelled, cancels_ok,
	    atomic_load(&chain_inline_seen));

	KC_CHECK_EQ(triggers, total + atomic_load(&chain_triggers));
	KC_CHECK_EQ(run_triggers + cancelled, triggers);
	/*
	 * Not vacuous: cancels (both kinds) really raced with triggers, and
	 * coalescing happened.
	 */
	KC_CHECK_GE(atomic_load(&cancel_calls), total / TRIGGERS_PER_CANCEL);
	KC_CHECK_GT(cancels_ok, 0);
	KC_CHECK_GT(cancs[0].sync_calls + cancs[1].sync_calls, 0);
	KC_CHECK_GT(coalesced_runs, 0);
	KC_CHECK_GT(atomic_load(&chain_triggers), 0);

	for (j = 0; j < NSLOTS; j++) {
		KC_CHECK_OK(kc_free(slots[j].kc));
		pthread_mutex_destroy(&slots[j].lock);
		free(slots[j].cends);
	}
	KC_CHECK_EQ(kc_pool_inuse(pool), 0);
	KC_CHECK_OK(kc_pool_destroy(pool));
	for (j = 0; j < NEXEC; j++)
		KC_CHECK_OK(kc_executor_close(exs[j], NULL));
	free(off);
	free(fill);
	free(sorted);
	free(runlog);
	return kct_done();
}
