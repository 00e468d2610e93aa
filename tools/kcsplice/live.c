/*
 * live.c: kcsplice's running configuration (live.h).
 *
 * The mutex makes "load the pointer, take a reference" one step against
 * "swap the pointer, drop the published reference": without it a reader
 * could load the old pointer, the publisher drop the last reference and
 * free it, and the reader then increment freed memory.
 */
#include <pthread.h>
#include <stdlib.h>

#include "live.h"

static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ks_live *live_cur;	/* under live_mu */
static uint64_t live_gen;		/* under live_mu */

struct ks_live *
ks_live_new(void)
{
	struct ks_live *l;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	l->refs = 1;			/* to be the published reference */
	return l;
}

void
ks_live_publish(struct ks_live *l)
{
	struct ks_live *old;

	pthread_mutex_lock(&live_mu);
	l->gen = ++live_gen;
	old = live_cur;
	live_cur = l;
	pthread_mutex_unlock(&live_mu);
	ks_live_put(old);
}

struct ks_live *
ks_live_get(void)
{
	struct ks_live *l;

	pthread_mutex_lock(&live_mu);
	l = live_cur;
	if (l != NULL)
		__atomic_add_fetch(&l->refs, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&live_mu);
	return l;
}

void
ks_live_put(struct ks_live *l)
{
	if (l != NULL && __atomic_sub_fetch(&l->refs, 1, __ATOMIC_ACQ_REL) ==
	    0)
		free(l);
}
