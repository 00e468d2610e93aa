/*
 * nlog.c: kcnbd's log lines (nlog.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "nlog.h"

static int verbosity;		/* atomic */

static const char *const names[] = { "error", "warning", "notice", "info" };

void
kn_log_set(int v)
{
	__atomic_store_n(&verbosity, v, __ATOMIC_RELAXED);
}

int
kn_log_on(enum kn_level level)
{
	int v = __atomic_load_n(&verbosity, __ATOMIC_RELAXED);

	if (level == KN_ERROR)
		return 1;
	if (level == KN_INFO)
		return v > 0;
	return v >= 0;
}

static void
vlog(enum kn_level level, const char *fmt, va_list ap)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;
	int n, m;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line),
	    "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s kcnbd: ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L, names[level]);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, (size_t)n);
}

void
kn_log(enum kn_level level, const char *fmt, ...)
{
	va_list ap;

	if (!kn_log_on(level))
		return;
	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}

void
kn_log_always(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(KN_NOTICE, fmt, ap);
	va_end(ap);
}
