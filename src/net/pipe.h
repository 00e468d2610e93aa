/*
 * pipe.h: the pipe pool splice.c borrows from (one per soft executor: a
 * soft executor is one thread, so the pool is the thread's).
 */
#ifndef KC_NET_PIPE_H
#define KC_NET_PIPE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/list.h"

struct kc__pipe {
	int		 p_rd;
	int		 p_wr;
	size_t		 p_size;	/* its capacity */
	struct kc__link	 p_link;	/* on the thread's idle list */
};

/*
 * Lend a pipe of (about) want bytes, 0 for the largest allowed.  NULL when
 * none can be had within the limits: the caller copies instead, and the
 * fall-back is counted.
 */
struct kc__pipe *kc__pipe_get(size_t want);
/* Give one back: kept only if empty is true (nothing left in it). */
void	kc__pipe_put(struct kc__pipe *p, bool empty);
/* The largest pipe size the system allows (probed once). */
size_t	kc__pipe_max(void);

#endif
