/*
 * benchlib.c: the helpers every benchmark shares (benchlib.h).
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "benchlib.h"

static const char *bench_prog = "bench";

static void
watchdog(int sig)
{
	static const char msg[] = ": watchdog expired, aborting\n";
	ssize_t r;

	(void)sig;
	r = write(2, bench_prog, strlen(bench_prog));
	r = write(2, msg, sizeof(msg) - 1);
	(void)r;
	_exit(3);
}

void
bench_init(const char *prog, unsigned watchdog_s)
{
	bench_prog = prog;
	if (watchdog_s != 0) {
		signal(SIGALRM, watchdog);
		alarm(watchdog_s);
	}
}

void
bench_die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s: ", bench_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

double
bench_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void
bench_sleep_s(double s)
{
	struct timespec ts;

	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

uint64_t
bench_csw(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)ru.ru_nvcsw + (uint64_t)ru.ru_nivcsw;
}

double
bench_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

void
bench_sort(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
}

double
bench_median(double *v, unsigned n)
{
	bench_sort(v, n);
	return n & 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void
bench_done_init(struct bench_done *d)
{
	pthread_condattr_t ca;

	pthread_mutex_init(&d->m, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->c, &ca);
	pthread_condattr_destroy(&ca);
	d->flag = 0;
}

void
bench_done_destroy(struct bench_done *d)
{
	pthread_cond_destroy(&d->c);
	pthread_mutex_destroy(&d->m);
}

void
bench_done_signal(struct bench_done *d)
{
	pthread_mutex_lock(&d->m);
	d->flag = 1;
	pthread_cond_signal(&d->c);
	pthread_mutex_unlock(&d->m);
}

int
bench_done_wait(struct bench_done *d, unsigned timeout_s)
{
	struct timespec ts;
	int r = 0;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)timeout_s;
	pthread_mutex_lock(&d->m);
	while (!d->flag && r == 0)
		r = pthread_cond_timedwait(&d->c, &d->m, &ts);
	r = d->flag ? 0 : -ETIMEDOUT;
	pthread_mutex_unlock(&d->m);
	return r;
}

unsigned
bench_parse_uint(const char *s, unsigned lo, unsigned hi, void (*bad)(void))
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end != '\0' || end == s || v < lo || v > hi)
		bad();
	return (unsigned)v;
}

double
bench_parse_secs(const char *s, double lo, double hi, void (*bad)(void))
{
	char *end;
	double v;

	v = strtod(s, &end);
	if (*end != '\0' || end == s || !(v >= lo) || !(v <= hi))
		bad();
	return v;
}
