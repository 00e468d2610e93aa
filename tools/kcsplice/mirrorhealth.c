/*
 * mirrorhealth.c: whether each stream mirror can be reached (mirrorhealth.h).
 *
 * Each mirror's state is its epoch, one atomic word: even while it is up,
 * odd while it is down, incremented at each change.  The deadline of the
 * next probe and the skip count are atomics of their own, so that the
 * connections that skip a mirror that is down take no lock; whoever finds
 * the deadline passed takes the mirror's lock, checks again, and moves the
 * deadline before it lets go: one probe per deadline, whatever the number
 * of workers.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mirrorhealth.h"

struct mh_one {
	uint32_t	 epoch;		/* atomic: even up, odd down */
	uint64_t	 deadline;	/* atomic: down: the next probe, ns */
	uint64_t	 skipped;	/* atomic */
	uint64_t	 probes;	/* atomic */
	uint64_t	 downs;		/* atomic */
	int		 err;		/* atomic */
	pthread_mutex_t	 lock;		/* every change, and the rest: */
	uint64_t	 wait;		/* the back-off now */
	uint64_t	 since;		/* down since */
	uint64_t	 failed;	/* probes that failed since */
	uint64_t	 skipped0;	/* skipped when it went down */
	uint64_t	 rng;		/* the jitter's xorshift state */
} __attribute__((aligned(64)));

struct mh {
	unsigned	 n;
	uint64_t	 min_ns, max_ns;
	struct mh_one	*m;
};

int
mh_create(struct mh **hp, unsigned n, uint64_t min_ns, uint64_t max_ns,
    uint64_t seed)
{
	struct mh *h;
	unsigned i;

	if (hp == NULL || min_ns == 0 || max_ns < min_ns)
		return -EINVAL;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return -ENOMEM;
	if (n > 0 && (h->m = aligned_alloc(64, n * sizeof(*h->m))) == NULL) {
		free(h);
		return -ENOMEM;
	}
	if (n > 0)
		memset(h->m, 0, n * sizeof(*h->m));
	h->n = n;
	h->min_ns = min_ns;
	h->max_ns = max_ns;
	for (i = 0; i < n; i++) {
		pthread_mutex_init(&h->m[i].lock, NULL);
		/* xorshift must not start at 0. */
		h->m[i].rng = (seed + i) * 0x9e3779b97f4a7c15ull | 1;
		h->m[i].wait = min_ns;
	}
	*hp = h;
	return 0;
}

void
mh_free(struct mh *h)
{
	unsigned i;

	if (h == NULL)
		return;
	for (i = 0; i < h->n; i++)
		pthread_mutex_destroy(&h->m[i].lock);
	free(h->m);
	free(h);
}

uint64_t
mh_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* From three quarters of wait to wait; under m's lock. */
static uint64_t
jittered(struct mh_one *m, uint64_t wait)
{
	uint64_t x = m->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	m->rng = x;
	return wait - x % (wait / 4 + 1);
}

static uint32_t
epoch_of(const struct mh_one *m)
{
	return __atomic_load_n(&m->epoch, __ATOMIC_ACQUIRE);
}

enum mh_verdict
mh_admit(struct mh *h, unsigned i, uint64_t now, uint32_t *ticket)
{
	struct mh_one *m;
	enum mh_verdict v = MH_SKIP;
	uint32_t e;

	if (h == NULL || i >= h->n) {
		*ticket = 0;
		return MH_TRY;
	}
	m = &h->m[i];
	e = epoch_of(m);
	*ticket = e;
	if ((e & 1) == 0)
		return MH_TRY;
	if (now >= __atomic_load_n(&m->deadline, __ATOMIC_ACQUIRE)) {
		pthread_mutex_lock(&m->lock);
		e = epoch_of(m);
		*ticket = e;
		if ((e & 1) == 0) {
			v = MH_TRY;		/* it came back meanwhile */
		} else if (now >= m->deadline) {
			/* The next wait is set now, as if this one fails. */
			m->wait = m->wait > h->max_ns / 2 ? h->max_ns :
			    m->wait * 2;
			__atomic_store_n(&m->deadline, now + jittered(m,
			    m->wait), __ATOMIC_RELEASE);
			__atomic_add_fetch(&m->probes, 1, __ATOMIC_RELAXED);
			v = MH_PROBE;
		}
		pthread_mutex_unlock(&m->lock);
	}
	if (v == MH_SKIP)
		__atomic_add_fetch(&m->skipped, 1, __ATOMIC_RELAXED);
	return v;
}

enum mh_change
mh_failed(struct mh *h, unsigned i, uint32_t ticket, int err, uint64_t now,
    struct mh_info *info)
{
	struct mh_one *m;
	enum mh_change c = MH_SAME;
	uint64_t d;
	uint32_t e;

	if (h == NULL || i >= h->n)
		return MH_SAME;
	m = &h->m[i];
	pthread_mutex_lock(&m->lock);
	e = epoch_of(m);
	if (e == ticket && (e & 1) == 0) {
		m->wait = h->min_ns;
		m->since = now;
		m->failed = 0;
		m->skipped0 = __atomic_load_n(&m->skipped, __ATOMIC_RELAXED);
		__atomic_store_n(&m->err, err, __ATOMIC_RELAXED);
		__atomic_add_fetch(&m->downs, 1, __ATOMIC_RELAXED);
		__atomic_store_n(&m->deadline, now + jittered(m, m->wait),
		    __ATOMIC_RELEASE);
		/* The deadline is in place before anyone sees it down. */
		__atomic_store_n(&m->epoch, e + 1, __ATOMIC_RELEASE);
		c = MH_DOWN;
	} else if (e == ticket) {
		/* Only probes are let through while it is down. */
		m->failed++;
		__atomic_store_n(&m->err, err, __ATOMIC_RELAXED);
		c = MH_PROBE_FAILED;
	}
	if (c != MH_SAME && info != NULL) {
		memset(info, 0, sizeof(*info));
		d = m->deadline;
		info->next_ns = d > now ? d - now : 0;
	}
	pthread_mutex_unlock(&m->lock);
	return c;
}

enum mh_change
mh_connected(struct mh *h, unsigned i, uint64_t now, struct mh_info *info)
{
	struct mh_one *m;
	enum mh_change c = MH_SAME;
	uint32_t e;

	if (h == NULL || i >= h->n)
		return MH_SAME;
	m = &h->m[i];
	/* Up and staying up is the common case: no lock. */
	if ((epoch_of(m) & 1) == 0)
		return MH_SAME;
	pthread_mutex_lock(&m->lock);
	e = epoch_of(m);
	if (e & 1) {
		if (info != NULL) {
			memset(info, 0, sizeof(*info));
			info->down_ns = now > m->since ? now - m->since : 0;
			info->probes = m->failed;
			info->skipped = __atomic_load_n(&m->skipped,
			    __ATOMIC_RELAXED) - m->skipped0;
		}
		m->wait = h->min_ns;
		__atomic_store_n(&m->err, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&m->epoch, e + 1, __ATOMIC_RELEASE);
		c = MH_UP;
	}
	pthread_mutex_unlock(&m->lock);
	return c;
}

bool
mh_unreachable(int err)
{
	switch (-err) {
	case ECONNREFUSED:	/* nothing listens there */
	case ENOENT:		/* no such UNIX socket */
	case ENOTDIR:
	case EACCES:
	case EPERM:
	case EHOSTUNREACH:
	case ENETUNREACH:
	case EHOSTDOWN:
	case ENETDOWN:
	case EADDRNOTAVAIL:
	case ETIMEDOUT:		/* no answer to the connect */
	case EAGAIN:		/* a UNIX listener's backlog is full */
		return true;
	default:
		return false;
	}
}

int
mh_stat(const struct mh *h, unsigned i, struct mh_stat *st)
{
	const struct mh_one *m;

	if (h == NULL || st == NULL || i >= h->n)
		return -EINVAL;
	m = &h->m[i];
	st->down = (epoch_of(m) & 1) != 0;
	st->skipped = __atomic_load_n(&m->skipped, __ATOMIC_RELAXED);
	st->probes = __atomic_load_n(&m->probes, __ATOMIC_RELAXED);
	st->downs = __atomic_load_n(&m->downs, __ATOMIC_RELAXED);
	st->err = __atomic_load_n(&m->err, __ATOMIC_RELAXED);
	return 0;
}

uint64_t
mh_skipped_total(const struct mh *h)
{
	uint64_t sum = 0;
	unsigned i;

	if (h == NULL)
		return 0;
	for (i = 0; i < h->n; i++)
		sum += __atomic_load_n(&h->m[i].skipped, __ATOMIC_RELAXED);
	return sum;
}

static struct mh *mh_proc;		/* atomic */

void
mh_set_process(struct mh *h)
{
	__atomic_store_n(&mh_proc, h, __ATOMIC_RELEASE);
}

struct mh *
mh_process(void)
{
	return __atomic_load_n(&mh_proc, __ATOMIC_ACQUIRE);
}
