/*
 * sample.h: which connections (or UDP sessions) a mirror takes
 * (--mirror-sample, a mirror's sample=PERCENT, --sample-by; kcsplice(1)).
 *
 * A mirror sampling p percent takes a connection when a number drawn
 * uniformly from 0 to 9999 falls below p hundredths.  At random, the
 * number comes from a keyed pseudorandom function (SipHash-2-4, the
 * process's random key) of a per-worker counter: each worker has a stream
 * of its own and needs no lock.  By client, it comes from the same
 * function of the client's IP address (not its port) and the mirror's
 * address, so that one client is always in or always out for that mirror
 * while the process runs (a reload keeps the key; a restart draws another,
 * as nothing outside the process may predict which clients are in).  UNIX
 * clients have no address: they are sampled at random.
 *
 * No allocation, no I/O; the counter is the caller's (one per worker).
 */
#ifndef KCSPLICE_SAMPLE_H
#define KCSPLICE_SAMPLE_H

#include <stdbool.h>
#include <stdint.h>

#include <kcont/socket.h>

/* A worker's draws: its index keeps its stream apart from the others'. */
struct ks_rng {
	uint64_t	stream;
	uint64_t	next;
};

void	ks_rng_init(struct ks_rng *r, unsigned worker);

/*
 * Does mirror (its address text) take this connection?  sample is in
 * hundredths of a percent (KS_SAMPLE_ALL: always, 0: never; neither
 * draws).
 */
bool	ks_sample_take(struct ks_rng *r, uint32_t sample, bool by_client,
	    const struct kc_sockaddr *client, const char *mirror);

#endif
