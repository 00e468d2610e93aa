/*
 * metrics.h: kcsplice's metrics (--metrics, kcsplice(1) "METRICS").
 *
 * The counts live in main.c; ks_snapshot_take() there copies them into a
 * struct ks_snapshot, with relaxed atomic loads and the library's stats
 * calls that any thread may make, and both the statistics line and the
 * metrics endpoint print from a snapshot, so that the two never disagree.
 *
 * ks_metrics_render() writes a snapshot in the Prometheus text format
 * (0.0.4) or OpenMetrics (1.0.0): a pure function, unit-tested and checked
 * with promtool.  ks_metrics_serve() answers HTTP GET and HEAD /metrics on
 * a listening socket from a thread of its own (metricsd.c).
 */
#ifndef KCSPLICE_METRICS_H
#define KCSPLICE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kcont/splice.h>

#include "conf.h"
#include "ends.h"

/* Mirror addresses the metrics count apart, at most. */
#define KS_MIRROR_TABLE	64

/* Errors by kind: the errno a connection or a UDP session ended with. */
enum ks_err {
	KS_ERR_REFUSED = 0,	/* ECONNREFUSED */
	KS_ERR_TIMEOUT,		/* ETIMEDOUT */
	KS_ERR_RESET,		/* ECONNRESET, EPIPE */
	KS_ERR_UNREACHABLE,	/* EHOSTUNREACH, ENETUNREACH, ENOENT (a UNIX
				   path with nothing there) */
	KS_ERR_NOMEM,		/* ENOMEM, ENOBUFS */
	KS_ERR_OTHER,
	KS_ERR_N
};

/* The kind of a negative errno value, and its name in the metrics. */
enum ks_err ks_err_of(int err);
const char *ks_err_name(enum ks_err k);

/*
 * Every value the statistics line and the metrics show.  Counters since
 * start unless said otherwise.
 */
struct ks_snapshot {
	/* TCP and UNIX connections. */
	uint64_t	conns;			/* let in */
	uint64_t	active;			/* open now */
	uint64_t	refused;		/* --max-conns */
	uint64_t	denied;			/* --allow (UDP's apart) */
	uint64_t	errors;			/* ended with an error (and UDP
						   session errors) */
	uint64_t	err_kind[KS_ERR_N];	/* errors by kind; sum: errors */
	uint64_t	accept_errors;		/* accept(2) failed */
	/*
	 * Connections by end reason.  Zero, and ends_known false, until the
	 * relay attributes each end (kcsplice(1) "END REASONS"); the metrics
	 * leave the family out while ends_known is false.
	 */
	uint64_t	ends[KS_END_N];
	bool		ends_known;
	/* UDP sessions, all listeners together. */
	uint64_t	udp_active;
	uint64_t	udp_opened;
	uint64_t	udp_expired;
	uint64_t	udp_refused;		/* --udp-max-sessions */
	uint64_t	udp_denied;		/* --allow */
	/* Bytes and datagrams, every connection and session together. */
	struct kc_splice_stats bytes;
	/*
	 * Per mirror of the configuration (mirror_text[i] is its address as
	 * given): bytes written to it.  mirror_each_known is false when they
	 * cannot be told apart; the metrics then leave the family out.
	 */
	unsigned	nmirrors;
	const char	*mirror_text[KS_MAX_MIRRORS];
	uint64_t	mirror_each[KS_MAX_MIRRORS];
	bool		mirror_each_known;
	/* Mirror connections skipped while their mirror was down. */
	uint64_t	mirror_skipped;
	/*
	 * By mirror address (every mirror configured since the start, in
	 * the order first seen): what connections that have ended wrote to
	 * it, did not give it (drop policy) and how often it was detached.
	 * Counted when a connection ends; the addresses are static storage.
	 */
	unsigned	nmirror_ended;
	struct ks_mirror_ended {
		const char	*addr;
		uint64_t	 written, dropped, detached;
		uint64_t	 sampled, unsampled;	/* connections and
						   UDP sessions it took, or
						   not (its sample) */
		uint64_t	 compare[3];	/* --compare: connections
						   matched, diverged, not
						   compared */
	}		mirror_ended[KS_MIRROR_TABLE];
	/* --compare: on (the family is given), and the bytes it holds. */
	bool		compare;
	uint64_t	compare_held;
	uint64_t	mirror_unsampled;	/* all of theirs */
	/* Bytes held for mirrors, process-wide: now, peak, cap. */
	struct kc_mirror_mem mirror_mem;
	/* --record, every thread's stream together (rec_on false: the
	 * families are left out). */
	bool		rec_on;
	uint64_t	rec_files, rec_bytes, rec_held;
	uint64_t	rec_complete, rec_incomplete;	/* connections */
	uint64_t	rec_failures;		/* streams stopped by an error */
	/* The pipe pool of each thread's executor. */
	unsigned	nthreads;
	struct kc_pipe_stats pipes[KS_MAX_THREADS];
	/* The process. */
	uint64_t	fds;			/* open now */
	uint64_t	max_fds;		/* RLIMIT_NOFILE, soft */
	uint64_t	start_ms;		/* Unix time of the start, ms */
	const char	*version;
};

/* Fills *s; called from the metrics thread (ks_metrics_serve()). */
typedef void ks_snapshot_fn(struct ks_snapshot *s);

/*
 * Write s in the text format (openmetrics false) or OpenMetrics 1.0.0,
 * NUL-terminated.  Returns the length, or -ENOSPC (size too small; buf
 * then holds a cut, NUL-terminated text), -EINVAL.
 */
int	ks_metrics_render(const struct ks_snapshot *s, bool openmetrics,
	    char *buf, size_t size);

/* The Content-Type of each. */
#define KS_METRICS_TEXT_TYPE	"text/plain; version=0.0.4; charset=utf-8"
#define KS_METRICS_OM_TYPE \
	"application/openmetrics-text; version=1.0.0; charset=utf-8"

/* The endpoint's bounds (kcsplice(1) "METRICS"). */
#define KS_METRICS_CONNS	8	/* scrapes at once; more get 503 */
#define KS_METRICS_READ_MS	5000	/* the whole request must be in */
#define KS_METRICS_WRITE_MS	5000	/* the whole response must go */
#define KS_METRICS_LINGER_MS	1000	/* after it: wait for the client's
					   end, reading at most 64 KiB */
#define KS_METRICS_BODY_MAX	(256 * 1024)

/*
 * Serve GET and HEAD /metrics on fd (a listening, non-blocking stream
 * socket, which the server takes) from a new thread that calls snap for
 * every scrape.  The thread runs until the process exits, and takes no
 * signal if the caller blocked them all before.  0, or -errno (fd is then
 * still the caller's).
 */
int	ks_metrics_serve(int fd, ks_snapshot_fn *snap);

/*
 * The answer to a request: parse is what ks_http_parse() returned on in
 * (KS_HTTP_DONE with req), or the status to answer (an error of the parser,
 * or 408 at the read time-out; req then NULL).  The whole response (status
 * line, header fields, and the body but to HEAD) goes into a new buffer of
 * the caller's (*out, *outlen; free()).  snap is called only for a scrape.
 * Returns the status sent, or -ENOMEM.  No I/O: the unit test calls it.
 */
struct ks_http_req;
int	ks_metrics_answer(const char *in, const struct ks_http_req *req,
	    int parse, ks_snapshot_fn *snap, char **out, size_t *outlen);

#endif
