/*
 * live.h: kcsplice's running configuration, as the threads read it.
 *
 * A snapshot is a struct ks_conf that never changes once published: a
 * reload publishes a new one and the old one lives on as long as someone
 * holds it.  A connection takes a reference when it starts and drops it
 * when it ends, so that it keeps its upstream, mirrors and limits for its
 * whole life and never sees half of one configuration and half of
 * another.  Getting a reference takes a mutex held for a pointer load and
 * an increment (once per connection); dropping it is one atomic decrement.
 *
 * Memory: ks_live_new() allocates a snapshot; the last ks_live_put()
 * frees it.
 */
#ifndef KCSPLICE_LIVE_H
#define KCSPLICE_LIVE_H

#include <stdint.h>

#include "conf.h"

struct ks_live {
	unsigned	refs;		/* atomic */
	uint64_t	gen;		/* 1 for the first, then one a reload */
	struct ks_conf	c;
};

/*
 * A new snapshot, not yet published, holding one reference (NULL: out of
 * memory); its c is the caller's to fill until ks_live_publish(), which
 * takes that reference and drops the previous snapshot's.
 */
struct ks_live *ks_live_new(void);
void	ks_live_publish(struct ks_live *l);
/* A reference to the current snapshot (NULL before the first publish). */
struct ks_live *ks_live_get(void);
/* Drop a reference (l may be NULL). */
void	ks_live_put(struct ks_live *l);

#endif
