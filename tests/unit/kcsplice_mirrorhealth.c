/*
 * unit-kcsplice_mirrorhealth: kcsplice's mirror back-off state machine
 * (tools/kcsplice/mirrorhealth.h), on a clock the test sets.
 *   a failure takes a mirror down once, however many attempts in flight
 *   fail with it (stale tickets change nothing); while down, admissions
 *   before the deadline are skipped and counted, the first at or past it
 *   probes and the next deadline is set at once; the waits double from MIN
 *   up to MAX, each between 3/4 and the whole of its step; a failed probe
 *   keeps it down; a connect brings it up with how long it was down, the
 *   failed probes and the skips; another mirror is not touched; threads
 *   racing at a deadline give exactly one probe; which errors mean
 *   "cannot be reached"; bad arguments.
 */
#include "kctest.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "mirrorhealth.h"

#define SEC	1000000000ull

static void
test_args(void)
{
	struct mh *h;
	struct mh_stat st;
	uint32_t t;

	KC_CHECK_EQ(mh_create(&h, 1, 0, SEC, 1), -EINVAL);
	KC_CHECK_EQ(mh_create(&h, 1, 2 * SEC, SEC, 1), -EINVAL);
	KC_CHECK_EQ(mh_create(NULL, 1, SEC, SEC, 1), -EINVAL);
	KC_CHECK_OK(mh_create(&h, 0, SEC, SEC, 1));
	/* No such mirror: always tried, never changed. */
	KC_CHECK_EQ(mh_admit(h, 0, 0, &t), MH_TRY);
	KC_CHECK_EQ(mh_failed(h, 0, t, -ECONNREFUSED, 0, NULL), MH_SAME);
	KC_CHECK_EQ(mh_stat(h, 0, &st), -EINVAL);
	KC_CHECK_EQ(mh_skipped_total(h), 0);
	mh_free(h);
	/* No table (UDP): the same. */
	KC_CHECK_EQ(mh_admit(NULL, 0, 0, &t), MH_TRY);
	KC_CHECK_EQ(mh_connected(NULL, 0, 0, NULL), MH_SAME);
	mh_free(NULL);
}

static void
test_unreachable(void)
{
	static const int yes[] = { ECONNREFUSED, ENOENT, EHOSTUNREACH,
	    ENETUNREACH, ETIMEDOUT, EACCES, EAGAIN };
	static const int no[] = { ENOBUFS, ENOSPC, ECONNRESET, EPIPE,
	    ECANCELED, ENOMEM, EMFILE, 0 };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		KC_CHECK(mh_unreachable(-yes[i]));
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		KC_CHECK(!mh_unreachable(-no[i]));
}

/* Skip until the deadline, which must lie in [lo, hi]; probe there. */
static uint64_t
probe_at(struct mh *h, unsigned i, uint64_t lo, uint64_t hi, uint32_t *t)
{
	uint64_t now;
	uint32_t u;

	/* Just before the earliest allowed deadline: skipped. */
	if (lo > 0)
		KC_CHECK_EQ(mh_admit(h, i, lo - 1, &u), MH_SKIP);
	/* Step by 1 ms: the first admission let through is the probe. */
	for (now = lo; now <= hi; now += 1000000)
		if (mh_admit(h, i, now, t) != MH_SKIP)
			break;
	KC_CHECK_LE(now, hi);
	/* Exactly one: the next one at the same time is skipped. */
	KC_CHECK_EQ(mh_admit(h, i, now, &u), MH_SKIP);
	return now;
}

static void
test_backoff(void)
{
	struct mh_info in;
	struct mh_stat st;
	struct mh *h;
	uint64_t now, skipped0, waits[] = { 2, 4, 8, 8, 8 };
	uint32_t t0, t1, t2, t;
	unsigned k;

	KC_CHECK_OK(mh_create(&h, 2, SEC, 8 * SEC, 42));
	/* Three connections try it while it is up. */
	KC_CHECK_EQ(mh_admit(h, 0, 0, &t0), MH_TRY);
	KC_CHECK_EQ(mh_admit(h, 0, 0, &t1), MH_TRY);
	KC_CHECK_EQ(mh_admit(h, 1, 0, &t2), MH_TRY);
	KC_CHECK_OK(mh_stat(h, 0, &st));
	KC_CHECK(!st.down);

	/* The first failure takes it down; the others in flight are stale. */
	KC_CHECK_EQ(mh_failed(h, 0, t0, -ECONNREFUSED, 10, &in), MH_DOWN);
	KC_CHECK_GE(in.next_ns, SEC * 3 / 4);
	KC_CHECK_LE(in.next_ns, SEC);
	KC_CHECK_EQ(mh_failed(h, 0, t1, -ECONNREFUSED, 20, &in), MH_SAME);
	KC_CHECK_OK(mh_stat(h, 0, &st));
	KC_CHECK(st.down);
	KC_CHECK_EQ(st.downs, 1);
	KC_CHECK_EQ(st.err, -ECONNREFUSED);
	/* Mirror 1 is untouched. */
	KC_CHECK_EQ(mh_admit(h, 1, 30, &t), MH_TRY);
	KC_CHECK_OK(mh_stat(h, 1, &st));
	KC_CHECK(!st.down);

	/* Down: skipped and counted until the deadline. */
	for (k = 0; k < 100; k++)
		KC_CHECK_EQ(mh_admit(h, 0, 10 + k * 1000, &t), MH_SKIP);
	KC_CHECK_OK(mh_stat(h, 0, &st));
	KC_CHECK_EQ(st.skipped, 100);
	KC_CHECK_EQ(st.probes, 0);
	skipped0 = st.skipped;

	/* The first probe, then each wait doubles up to 8 s. */
	now = probe_at(h, 0, 10 + SEC * 3 / 4, 10 + SEC, &t);
	for (k = 0; k < sizeof(waits) / sizeof(waits[0]); k++) {
		uint64_t w = waits[k] * SEC;

		KC_CHECK_EQ(mh_failed(h, 0, t, -ECONNREFUSED, now + 5, &in),
		    MH_PROBE_FAILED);
		KC_CHECK_GE(in.next_ns + 5, w * 3 / 4);
		KC_CHECK_LE(in.next_ns + 5, w);
		/* A second report of the same probe changes nothing more. */
		now = probe_at(h, 0, now + w * 3 / 4, now + w, &t);
	}
	KC_CHECK_OK(mh_stat(h, 0, &st));
	KC_CHECK_EQ(st.probes, 1 + sizeof(waits) / sizeof(waits[0]));
	KC_CHECK(st.down);

	/* The last probe connects: up, with what happened meanwhile. */
	KC_CHECK_EQ(mh_connected(h, 0, now + 100, &in), MH_UP);
	KC_CHECK_EQ(in.down_ns, now + 100 - 10);
	KC_CHECK_EQ(in.probes, sizeof(waits) / sizeof(waits[0]));
	KC_CHECK_OK(mh_stat(h, 0, &st));
	KC_CHECK(!st.down);
	KC_CHECK_EQ(in.skipped, st.skipped);
	KC_CHECK_GE(in.skipped, skipped0);
	KC_CHECK_EQ(mh_connected(h, 0, now + 200, &in), MH_SAME);
	/* Late reports of attempts from before are stale: still up. */
	KC_CHECK_EQ(mh_failed(h, 0, t, -ECONNREFUSED, now + 300, &in), MH_SAME);
	KC_CHECK_EQ(mh_failed(h, 0, t1, -ECONNREFUSED, now + 300, &in),
	    MH_SAME);
	KC_CHECK_EQ(mh_admit(h, 0, now + 400, &t), MH_TRY);

	/* Down again: the wait starts again from MIN. */
	KC_CHECK_EQ(mh_failed(h, 0, t, -ENOENT, now + 500, &in), MH_DOWN);
	KC_CHECK_LE(in.next_ns, SEC);
	KC_CHECK_OK(mh_stat(h, 0, &st));
	KC_CHECK_EQ(st.downs, 2);
	KC_CHECK_EQ(st.err, -ENOENT);
	/* Mirror 1 still never went down. */
	KC_CHECK_EQ(mh_failed(h, 1, t2, -ECONNREFUSED, now, &in), MH_DOWN);
	KC_CHECK_EQ(mh_skipped_total(h), st.skipped);
	/* What other files read it by. */
	KC_CHECK(mh_process() == NULL);
	mh_set_process(h);
	KC_CHECK(mh_process() == h);
	KC_CHECK_OK(mh_stat(mh_process(), 0, &st));
	KC_CHECK_EQ(st.downs, 2);
	mh_set_process(NULL);
	mh_free(h);
}

/* A back-off whose MIN is its MAX: every wait is within [3/4, 1] of it. */
static void
test_flat(void)
{
	struct mh_info in;
	struct mh *h;
	uint64_t now;
	uint32_t t;
	unsigned k;

	KC_CHECK_OK(mh_create(&h, 1, 4 * SEC, 4 * SEC, 7));
	KC_CHECK_EQ(mh_admit(h, 0, 0, &t), MH_TRY);
	KC_CHECK_EQ(mh_failed(h, 0, t, -ETIMEDOUT, 0, &in), MH_DOWN);
	now = 0;
	for (k = 0; k < 20; k++) {
		now = probe_at(h, 0, now + 3 * SEC, now + 4 * SEC, &t);
		KC_CHECK_EQ(mh_failed(h, 0, t, -ETIMEDOUT, now, &in),
		    MH_PROBE_FAILED);
	}
	mh_free(h);
}

/* Threads that all find the deadline passed: one probe between them. */
struct racer {
	struct mh	*h;
	uint64_t	 now;
	unsigned	 probes, skips;
	pthread_barrier_t *go;
};

static void *
race(void *arg)
{
	struct racer *r = arg;
	uint32_t t;
	unsigned k;

	pthread_barrier_wait(r->go);
	for (k = 0; k < 2000; k++) {
		switch (mh_admit(r->h, 0, r->now, &t)) {
		case MH_PROBE:
			r->probes++;
			break;
		case MH_SKIP:
			r->skips++;
			break;
		default:
			break;
		}
	}
	return NULL;
}

static void
test_race(void)
{
	enum { NT = 4 };
	struct racer r[NT];
	pthread_t th[NT];
	pthread_barrier_t go;
	struct mh_info in;
	struct mh_stat st;
	struct mh *h;
	unsigned i, probes = 0, skips = 0, round;
	uint32_t t;

	KC_CHECK_OK(mh_create(&h, 1, SEC, 2 * SEC, 3));
	KC_CHECK_EQ(mh_admit(h, 0, 0, &t), MH_TRY);
	KC_CHECK_EQ(mh_failed(h, 0, t, -ECONNREFUSED, 0, &in), MH_DOWN);
	for (round = 1; round <= 5; round++) {
		KC_CHECK_OK(pthread_barrier_init(&go, NULL, NT));
		for (i = 0; i < NT; i++) {
			memset(&r[i], 0, sizeof(r[i]));
			r[i].h = h;
			/* Past any deadline set so far. */
			r[i].now = round * 10 * SEC;
			r[i].go = &go;
			KC_CHECK_OK(pthread_create(&th[i], NULL, race, &r[i]));
		}
		probes = skips = 0;
		for (i = 0; i < NT; i++) {
			KC_CHECK_OK(pthread_join(th[i], NULL));
			probes += r[i].probes;
			skips += r[i].skips;
		}
		pthread_barrier_destroy(&go);
		KC_CHECK_EQ(probes, 1);
		KC_CHECK_EQ(skips, NT * 2000 - 1);
	}
	KC_CHECK_OK(mh_stat(h, 0, &st));
	KC_CHECK_EQ(st.probes, 5);
	KC_CHECK_EQ(st.skipped, 5 * (NT * 2000 - 1));
	mh_free(h);
}

int
main(void)
{
	kct_begin("unit-kcsplice_mirrorhealth", 60);
	test_args();
	test_unreachable();
	test_backoff();
	test_flat();
	test_race();
	return kct_done();
}
