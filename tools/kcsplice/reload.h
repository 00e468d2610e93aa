/*
 * reload.h: what a reload of kcsplice's configuration changes (SIGHUP,
 * kcsplice(1) "RELOADING").
 *
 * Pure functions over two configurations: no I/O, no state, no allocation.
 */
#ifndef KCSPLICE_RELOAD_H
#define KCSPLICE_RELOAD_H

#include <stdbool.h>

#include "conf.h"

struct ks_reload {
	char		changed[1536];	/* "upstream A -> B, stats 0 -> 5" */
	char		restart[768];	/* "threads 4 -> 2, pipe-size ..." */
	unsigned	nchanged;
	unsigned	nrestart;
	bool		listen_changed;	/* a stream listener to replace */
};

/*
 * Compare the running configuration old with next, a new parse of the
 * command line and the file.  What cannot change while kcsplice runs is
 * put back in next from old and listed in r->restart: threads, trace,
 * pipe-size; a listener turned from UDP to TCP or UNIX or back (with the
 * upstream and the mirrors that go with it); for a UDP listener, its
 * address, the upstream, the mirrors, udp-session-timeout and
 * udp-max-sessions (each UDP listener's relay has them for good).  What
 * changes is listed in r->changed, values old -> new.  A stream listener
 * moving to another address is not listed: r->listen_changed says so, and
 * the caller, who opens the new listener, says how that went.  Lists are
 * cut (never overrun) when they do not fit.
 */
/*
 * Do a and b list the same mirrors, in the same order, running with the
 * same sample and pacing (whether their own or the defaults)?
 */
bool	ks_same_mirrors(const struct ks_conf *a, const struct ks_conf *b);

void	ks_reload_diff(const struct ks_conf *old, struct ks_conf *next,
	    struct ks_reload *r);

#endif
