/*
 * clock.h: the clocks kcsplice's modules read, in nanoseconds.  The tool
 * keeps its own (the library's is internal): CLOCK_MONOTONIC for limits
 * and durations, CLOCK_REALTIME for what is written down (recordings).
 */
#ifndef KCSPLICE_CLOCK_H
#define KCSPLICE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t
ks_clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
