/*
 * log.h: kcsplice's log lines and its access log (kcsplice(1), "LOGGING"
 * and "ACCESS LOG").
 *
 * Every log line goes to stderr with one write(2), and starts with an
 * RFC 3339 time stamp in UTC with milliseconds and a level:
 *
 *   2026-12-06T17:40:01.123Z warning kcsplice: upstream ...: ... (conn 7)
 *
 * or, with --log-format json, is one JSON object with the same fields
 * ("time", "level", "msg") and the structured ones the line has ("conn",
 * "client", "upstream", "mirror", "reason", "suppressed").  The levels are
 * error, warning, notice and info; -q shows errors only (and the listening
 * line), the default adds warnings and notices, -v info.
 *
 * Lines of one kind (enum lk) are rate-limited: at most LOG_BURST a
 * second per kind; what is held back is counted and told, on the next
 * line of that kind shown or by ks_log_flush() once its second is over.
 *
 * Threads: every function may be called from any thread (a mutex guards
 * the counts; settings are atomics).  Memory: nothing is kept from the
 * caller's strings past the call.
 */
#ifndef KCSPLICE_LOG_H
#define KCSPLICE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "conf.h"
#include "ends.h"

enum ks_level {
	KS_LOG_ERROR = 0,
	KS_LOG_WARNING,
	KS_LOG_NOTICE,
	KS_LOG_INFO,
	KS_LOG_N
};

/*
 * Kinds of lines, each with its own rate limit and its level (logk()):
 * LK_INFO (not limited; shown even with -q: the listening line), LK_NOTE
 * (notice; not limited), LK_ERROR (error; not limited), the others
 * warnings but LK_CONN (info: a connection's own lines) and LK_ACCESS
 * (errors writing the access log); LK_COMPARE: --compare's divergences.
 */
enum lk {
	LK_INFO, LK_NOTE, LK_REFUSED, LK_DENIED, LK_UPSTREAM, LK_MIRROR,
	LK_UDP, LK_CONN, LK_ERROR, LK_ACCESS, LK_COMPARE, LK_N
};

/* A line's structured fields (JSON only; the text says them in words). */
struct ks_logf {
	uint64_t	 conn;		/* 0: none */
	const char	*client;	/* NULL: none, for each */
	const char	*upstream;
	const char	*mirror;
	const char	*reason;
};

/* --log-format json, and -q / -v (conf's verbosity).  Any time. */
void	ks_log_set(bool json, int verbosity);
bool	ks_log_json(void);

void	logk(enum lk kind, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	logkf(enum lk kind, enum ks_level level, const struct ks_logf *f,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * For each kind whose second is over with lines held back, one line that
 * says how many ("kcsplice: 37 more upstream messages suppressed").
 * Called by the main thread about once a second.
 */
void	ks_log_flush(void);

/*
 * A stats line: text ("stats conns=..." after the time stamp, level and
 * "kcsplice: "), or JSON (fields: "\"conns\":1,..." without braces, put
 * after "time", "level" and "msg":"stats").  Never rate-limited.
 */
void	ks_log_stats(bool json, const char *body);

/* "2026-12-06T17:40:01.123Z" (24 characters) into buf; its length. */
size_t	ks_time_format(char *buf, size_t size, const struct timespec *ts);

/*
 * Append s as a JSON string (quotes included) at buf + *off, within size:
 * quote, backslash and every control character escaped, bytes that are
 * not UTF-8 replaced by U+FFFD.  Truncated (still a closed string) when
 * it does not fit; *off moves past what was written.
 */
void	ks_json_str(char *buf, size_t size, size_t *off, const char *s);

/* ---- the access log (--access-log) ---- */

/* One finished connection. */
struct ks_access {
	struct timespec	 start;		/* CLOCK_REALTIME at accept */
	uint64_t	 duration_ms;
	uint64_t	 conn;		/* 0: refused before it had one */
	const char	*client;
	const char	*listen;
	const char	*upstream;	/* NULL: none was tried */
	uint64_t	 up, down;	/* client to upstream, and back */
	unsigned	 nmirrors;
	struct ks_access_mirror {
		const char	*addr;
		uint64_t	 written, dropped;
		const char	*detached;	/* NULL, or why: "budget" ... */
		bool		 unsampled;	/* not in its sample: no leg */
		const char	*compare;	/* --compare: its result, or
						   NULL: none ("-") */
		bool		 has_off;	/* diverged: at compare_off */
		uint64_t	 compare_off;
	} m[KS_MAX_MIRRORS];
	bool		 compared;	/* --compare: the fields are given */
	enum ks_end	 end;
	int		 err;		/* -errno for KS_END_ERROR, or 0 */
	const char	*record;	/* --record: "complete", "incomplete"
					   or "no"; NULL: not recording */
};

/*
 * Open the access log: "-" is stdout; otherwise the file, created 0640 if
 * missing, opened O_APPEND and O_NOFOLLOW; it must be a regular file, a
 * FIFO or a character device (-EINVAL otherwise: left alone).  0 or -errno.
 */
int	ks_alog_open(const char *path);
/*
 * Open the same path again (SIGUSR2, after a rotation) and put it in place
 * of the old descriptor with dup2(2): lines being written go to the old
 * file, later ones to the new; none is lost.  On failure the old file is
 * kept and -errno returned.  stdout is not reopened (0).
 */
int	ks_alog_reopen(void);
bool	ks_alog_on(void);
/* One line, one write(2); text or JSON as ks_log_json() says. */
void	ks_alog_write(const struct ks_access *a);

#endif
