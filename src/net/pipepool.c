/*
 * pipepool.c: pipes for splice(2), one pool per soft executor.
 *
 * A pipe is lent only while data is in it and is taken back only empty, so
 * a few pipes serve many connections.  Pipe memory counts against the
 * user's pipe page limit (pipe-user-pages-soft): past it the kernel gives
 * new pipes a single page and refuses to grow them, which would hurt every
 * other program of the same user.  The pools of a process therefore keep,
 * between them, to half of that limit; when a pipe cannot be had within it
 * (or the kernel refuses), the caller copies and the fall-back is counted.
 *
 * kc_pipe_stats() names the executor whose pool it reads, and may be called
 * from any thread: each pool is on a list by executor (under pools_mtx,
 * which a thread takes when its pool is first used and when it exits), and
 * its counters are written by the owner with relaxed atomic stores and read
 * with relaxed atomic loads, each on its own (a snapshot, not one instant).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/lockdebug.h"
#include "kqueue/kqapi.h"
#include "net/pipe.h"
#include <kcont/splice.h>

#define MIN_PIPE	(64u * 1024u)
#define IDLE_MAX	16u

/* The counters are the owner's to write, anyone's to read (atomic). */
struct pool {
	struct kc__list	 idle;		/* newest first */
	unsigned	 nidle;
	unsigned	 lent;
	size_t		 size;		/* of the newest idle pipe, or 0 */
	uint64_t	 fallbacks;
	uint64_t	 created;
	bool		 keyed;
	struct kc_executor *ex;		/* whose pool (NULL: a plain thread) */
	struct kc__link	 link;		/* on pools, once keyed */
};

static __thread struct pool pool;
static struct kc__list pools;		/* every keyed pool, under pools_mtx */
static pthread_mutex_t pools_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t pool_key;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static size_t pipe_max;		/* bytes */
static long page_budget;	/* pages all pools may hold; <= 0: no limit */
static long pages_held;		/* atomic */
static long page_size;

static long
read_long(const char *path, long dflt)
{
	FILE *f = fopen(path, "re");
	long v;

	if (f == NULL)
		return dflt;
	if (fscanf(f, "%ld", &v) != 1)
		v = dflt;
	fclose(f);
	return v;
}

static void
pipe_close(struct kc__pipe *p)
{
	kc__close(p->p_rd);
	kc__close(p->p_wr);
	__atomic_sub_fetch(&pages_held, (long)(p->p_size / (size_t)page_size),
	    __ATOMIC_RELAXED);
	free(p);
}

#define POOL_SET(field, v)	__atomic_store_n(&pool.field, (v), __ATOMIC_RELAXED)
#define POOL_GET(p, field)	__atomic_load_n(&(p)->field, __ATOMIC_RELAXED)

/* The newest idle pipe's size, for kc_pipe_stats(). */
static void
pool_note_size(void)
{
	struct kc__pipe *p = KC__LIST_FIRST(&pool.idle, struct kc__pipe,
	    p_link);

	POOL_SET(size, p != NULL ? p->p_size : 0);
}

/* The thread ends: its pool leaves the list, and its idle pipes go. */
static void
pool_exit(void *arg)
{
	struct kc__link *lk;

	(void)arg;
	kc__mtx_lock(&pools_mtx);
	kc__list_remove(&pools, &pool.link);
	kc__mtx_unlock(&pools_mtx);
	while ((lk = kc__list_pop_head(&pool.idle)) != NULL)
		pipe_close(KC__LIST_ITEM(lk, struct kc__pipe, p_link));
	pool.nidle = 0;
}

static void
pool_setup(void)
{
	long soft, max;

	page_size = sysconf(_SC_PAGESIZE);
	if (page_size <= 0)
		page_size = 4096;
	max = read_long("/proc/sys/fs/pipe-max-size", 1048576);
	if (max < (long)MIN_PIPE)
		max = MIN_PIPE;
	pipe_max = (size_t)max;
	soft = read_long("/proc/sys/fs/pipe-user-pages-soft", 16384);
	page_budget = soft > 0 ? soft / 2 : 0;
	(void)pthread_key_create(&pool_key, pool_exit);
}

size_t
kc__pipe_max(void)
{
	(void)pthread_once(&pool_once, pool_setup);
	return pipe_max;
}

static bool
take_pages(long n)
{
	long old = __atomic_load_n(&pages_held, __ATOMIC_RELAXED);

	do {
		if (page_budget > 0 && old + n > page_budget)
			return false;
	} while (!__atomic_compare_exchange_n(&pages_held, &old, old + n,
	    true, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	return true;
}

static struct kc__pipe *
pipe_new(size_t want)
{
	struct kc__pipe *p;
	int fds[2];
	size_t size;
	int got;

	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0)
		return NULL;
	/* The largest size within the budget that the kernel grants. */
	for (size = want; size >= MIN_PIPE; size /= 2) {
		if (!take_pages((long)(size / (size_t)page_size)))
			continue;
		got = fcntl(fds[1], F_SETPIPE_SZ, (int)size);
		if (got >= (int)size) {
			/* The kernel rounds up to a power of two pages. */
			if ((size_t)got > size)
				(void)take_pages((long)(((size_t)got - size) /
				    (size_t)page_size));
			size = (size_t)got;
			goto ok;
		}
		__atomic_sub_fetch(&pages_held, (long)(size / (size_t)page_size),
		    __ATOMIC_RELAXED);
		if (got < 0 && errno != EPERM && errno != EBUSY)
			break;
	}
	kc__close(fds[0]);
	kc__close(fds[1]);
	return NULL;
ok:
	if ((p = malloc(sizeof(*p))) == NULL) {
		__atomic_sub_fetch(&pages_held, (long)(size / (size_t)page_size),
		    __ATOMIC_RELAXED);
		kc__close(fds[0]);
		kc__close(fds[1]);
		return NULL;
	}
	p->p_rd = fds[0];
	p->p_wr = fds[1];
	p->p_size = size;
	POOL_SET(created, pool.created + 1);
	return p;
}

struct kc__pipe *
kc__pipe_get(size_t want)
{
	struct kc__pipe *p;

	(void)pthread_once(&pool_once, pool_setup);
	if (!pool.keyed) {
		/* Any non-NULL value: the destructor runs at thread exit. */
		(void)pthread_setspecific(pool_key, &pool);
		pool.keyed = true;
		pool.ex = kc_executor_current();
		kc__mtx_lock(&pools_mtx);
		kc__list_push_head(&pools, &pool.link);
		kc__mtx_unlock(&pools_mtx);
	}
	if (want == 0 || want > pipe_max)
		want = pipe_max;
	if (want < MIN_PIPE)
		want = MIN_PIPE;
	if ((p = KC__LIST_FIRST(&pool.idle, struct kc__pipe, p_link)) != NULL &&
	    p->p_size >= want / 2) {
		kc__list_remove(&pool.idle, &p->p_link);
		POOL_SET(nidle, pool.nidle - 1);
		pool_note_size();
	} else if ((p = pipe_new(want)) == NULL) {
		POOL_SET(fallbacks, pool.fallbacks + 1);
		return NULL;
	}
	POOL_SET(lent, pool.lent + 1);
	return p;
}

void
kc__pipe_put(struct kc__pipe *p, bool empty)
{
	if (p == NULL)
		return;
	POOL_SET(lent, pool.lent - 1);
	if (!empty || pool.nidle >= IDLE_MAX) {
		pipe_close(p);
		return;
	}
	kc__list_push_head(&pool.idle, &p->p_link);
	POOL_SET(nidle, pool.nidle + 1);
	pool_note_size();
}

int
kc_pipe_stats(struct kc_executor *ex, struct kc_pipe_stats *st)
{
	const struct pool *pl = NULL;
	struct kc__link *lk;
	size_t size = 0;

	if (ex == NULL || st == NULL || !kc__exec_soft(ex))
		return -EINVAL;
	(void)pthread_once(&pool_once, pool_setup);
	memset(st, 0, sizeof(*st));
	kc__mtx_lock(&pools_mtx);
	for (lk = pools.first; lk != NULL; lk = lk->next) {
		pl = KC__LIST_ITEM(lk, struct pool, link);
		if (pl->ex == ex)
			break;
		pl = NULL;
	}
	if (pl != NULL) {
		st->lent = POOL_GET(pl, lent);
		st->idle = POOL_GET(pl, nidle);
		size = POOL_GET(pl, size);
		st->fallbacks = POOL_GET(pl, fallbacks);
		st->created = POOL_GET(pl, created);
	}
	kc__mtx_unlock(&pools_mtx);
	st->pipe_size = size != 0 ? size : pipe_max;
	return 0;
}
