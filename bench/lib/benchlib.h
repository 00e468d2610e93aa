/*
 * benchlib.h: what every benchmark under bench/ needs besides its own
 * workload: a fatal error, a watchdog that ends a run that hangs, clocks and
 * process counters, a median, and a one-shot completion flag.
 */
#ifndef KC_BENCHLIB_H
#define KC_BENCHLIB_H

#include <pthread.h>
#include <stdint.h>

/*
 * Name the program for messages, and end the process (exit 3) if it still
 * runs after watchdog_s seconds (0: no watchdog).
 */
void	bench_init(const char *prog, unsigned watchdog_s);

/* "prog: message" on stderr, exit 2. */
void	bench_die(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

/*
 * s as a decimal integer in [lo, hi]; anything else calls bad (the
 * program's usage(), which does not return).
 */
unsigned bench_parse_uint(const char *s, unsigned lo, unsigned hi,
	    void (*bad)(void));

/* s as seconds (a decimal number) in [lo, hi]; anything else calls bad. */
double	bench_parse_secs(const char *s, double lo, double hi,
	    void (*bad)(void));

/* CLOCK_MONOTONIC, seconds. */
double	bench_now_s(void);
/* Sleep s seconds (restarted after signals). */
void	bench_sleep_s(double s);
/* Voluntary + involuntary context switches of the whole process. */
uint64_t bench_csw(void);
/* User + system CPU seconds of the whole process. */
double	bench_cpu_s(void);
/* Sort v[0..n) ascending. */
void	bench_sort(double *v, unsigned n);
/* The median of v[0..n) (n > 0); sorts v. */
double	bench_median(double *v, unsigned n);

/* A one-shot completion flag: signalled once per measurement, never hot. */
struct bench_done {
	pthread_mutex_t	m;
	pthread_cond_t	c;
	int		flag;
};

void	bench_done_init(struct bench_done *d);
void	bench_done_destroy(struct bench_done *d);
void	bench_done_signal(struct bench_done *d);
/* 0 when signalled, -ETIMEDOUT after timeout_s seconds. */
int	bench_done_wait(struct bench_done *d, unsigned timeout_s);

#endif /* KC_BENCHLIB_H */
