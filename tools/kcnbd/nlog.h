/*
 * nlog.h: kcnbd's log lines (kcnbd(1), "LOGGING").
 *
 * Each line goes to stderr with one write(2): an RFC 3339 time stamp in
 * UTC with milliseconds (kcsplice's format), the level, "kcnbd:" and the
 * message.  -q shows errors only (and the listening lines), the default
 * adds warnings and notices, -v info (a line per connection).  Any thread.
 */
#ifndef KCNBD_NLOG_H
#define KCNBD_NLOG_H

enum kn_level { KN_ERROR = 0, KN_WARNING, KN_NOTICE, KN_INFO };

void	kn_log_set(int verbosity);
/* Shown at this level?  (To skip formatting what would not be shown.) */
int	kn_log_on(enum kn_level level);
void	kn_log(enum kn_level level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* The listening lines: shown even with -q. */
void	kn_log_always(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));

#endif
