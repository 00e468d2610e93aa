/*
 * mirrorhealth.h: whether each stream mirror of kcsplice can be reached,
 * shared by all its workers (kcsplice(1), "MIRRORS THAT ARE DOWN").
 *
 * A mirror is up until a connect to it fails for want of reaching it
 * (refused, unreachable, no such UNIX path, timed out: mh_unreachable()).
 * Then it is down: new connections skip it without a connect attempt, and
 * each skip is counted, until its deadline; the first new connection past
 * the deadline, and only that one, tries it (a probe), and the next
 * deadline is set at once, as if the probe would fail.  A connect that
 * succeeds brings the mirror up.  The wait starts at min_ns and doubles
 * after each deadline, up to max_ns; each wait is taken at random between
 * three quarters of it and the whole of it, so that kcsplice processes
 * started together do not probe in step, and it never exceeds max_ns.
 *
 * Every attempt is given a ticket by mh_admit() and reports its outcome
 * with it: a failure of an attempt admitted before the mirror went down
 * (or before it came back) is stale and changes nothing, so that the many
 * connections in flight when a mirror dies give one transition, not one
 * each.
 *
 * Threads: every function may be called from any thread.  mh_admit() of a
 * mirror that is up, or down and not due, is a few atomic loads and one
 * atomic add; transitions and probes take the mirror's lock.  Times are
 * CLOCK_MONOTONIC nanoseconds given by the caller (mh_now()), so that a
 * test can drive the clock.
 *
 * Memory: mh_create() allocates the table, mh_free() frees it; the caller
 * frees it only once no thread uses it.
 */
#ifndef KCSPLICE_MIRRORHEALTH_H
#define KCSPLICE_MIRRORHEALTH_H

#include <stdbool.h>
#include <stdint.h>

/* The default back-off: 1 s, doubling, up to 60 s (--mirror-retry). */
#define MH_MIN_NS_DEFAULT	1000000000ull
#define MH_MAX_NS_DEFAULT	60000000000ull

struct mh;

/* What mh_admit() says a new connection does with a mirror. */
enum mh_verdict {
	MH_TRY = 0,		/* up: connect */
	MH_PROBE,		/* down, and this connection tries it */
	MH_SKIP			/* down: leave it out (counted) */
};

/* What an outcome changed. */
enum mh_change {
	MH_SAME = 0,		/* nothing (stale, or up already) */
	MH_DOWN,		/* it went down now */
	MH_UP,			/* it came back now */
	MH_PROBE_FAILED		/* a probe failed; still down */
};

/* What the log lines say about a change. */
struct mh_info {
	uint64_t	next_ns;	/* down: the wait to the next probe */
	uint64_t	down_ns;	/* up: how long it was down */
	uint64_t	probes;		/* up: the probes that failed */
	uint64_t	skipped;	/* up: connections that skipped it */
};

/* A snapshot, for statistics and metrics. */
struct mh_stat {
	bool		down;
	uint64_t	skipped;	/* since start */
	uint64_t	probes;		/* since start */
	uint64_t	downs;		/* times it went down */
	int		err;		/* the error that took it down (or 0) */
};

/*
 * A table for n mirrors (n may be 0), all up, with waits from min_ns to
 * max_ns (0 < min_ns <= max_ns); seed drives the jitter.  0, -EINVAL or
 * -ENOMEM.
 */
int	mh_create(struct mh **hp, unsigned n, uint64_t min_ns, uint64_t max_ns,
	    uint64_t seed);
void	mh_free(struct mh *h);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t mh_now(void);

/*
 * A new connection would use mirror i at now: MH_TRY or MH_PROBE (connect,
 * and report the outcome with *ticket) or MH_SKIP (counted).
 */
enum mh_verdict mh_admit(struct mh *h, unsigned i, uint64_t now,
	    uint32_t *ticket);

/*
 * The attempt of ticket could not reach mirror i (err, negative).  *info
 * (may be NULL) is filled for MH_DOWN and MH_PROBE_FAILED.
 */
enum mh_change mh_failed(struct mh *h, unsigned i, uint32_t ticket, int err,
	    uint64_t now, struct mh_info *info);

/* An attempt connected to mirror i.  *info is filled for MH_UP. */
enum mh_change mh_connected(struct mh *h, unsigned i, uint64_t now,
	    struct mh_info *info);

/* Is err a failure to reach a mirror (as opposed to one of a connection)? */
bool	mh_unreachable(int err);

/* Mirror i's counts; 0, or -EINVAL (no such mirror). */
int	mh_stat(const struct mh *h, unsigned i, struct mh_stat *st);
/* The skips of every mirror together. */
uint64_t mh_skipped_total(const struct mh *h);

/*
 * The table of kcsplice's stream mirrors, for the statistics and metrics
 * of other files (mh_stat(mh_process(), i, &st)): set once at start;
 * NULL before, and for a UDP relay.
 */
void	mh_set_process(struct mh *h);
struct mh *mh_process(void);

#endif
