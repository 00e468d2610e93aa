/*
 * record.h: kcsplice's recorder (--record DIR): each connection's traffic
 * both ways, with the time of each read, in files of the recording format
 * (recfmt.h, kcsplice-record(5)), written through the library's file layer
 * (kcont/io.h) so that the worker never waits for the disk.
 *
 * One stream per worker: its connections' records go, in the order they
 * are given, to the stream's current file, <prefix>-<n>.kcrec in the
 * directory, created new (O_EXCL, O_NOFOLLOW, mode 0600); once a file has
 * reached file_max bytes, the next batch starts file n + 1, which begins
 * with a KSR_OPEN (KSR_F_CONT) for every connection still open, so that
 * each file stands alone; beyond files_max files the stream's oldest is
 * removed.
 *
 * Never slowing the primary: records are queued (a small payload copied,
 * a large one shared without a copy) and written one batch at a time, in
 * the background.  What a stream holds that is not yet written counts
 * against its budget and against the process-wide cap (ks_rec_cap()); a
 * connection whose next bytes would pass either loses its recording from
 * there: a KSR_LOST record, nothing more of its data, its KSR_END without
 * KSR_F_COMPLETE, and it is counted.  A write that fails (the file system
 * full, RLIMIT_FSIZE) fails the stream: every open connection is counted
 * incomplete, and nothing more is recorded by that stream (the event says
 * so once).  Nothing is ever cut silently.
 *
 * Threads: a stream and its connections belong to one soft executor (the
 * worker's), and every call is made there.  Memory: ks_rec_create()
 * allocates the stream, ks_rec_destroy() frees it once its last write and
 * its file's close are done; struct ks_rec_conn is the caller's storage,
 * from ks_rec_begin() to ks_rec_end().
 */
#ifndef KCSPLICE_RECORD_H
#define KCSPLICE_RECORD_H

#include <stdbool.h>
#include <stdint.h>

#include <kcont.h>

#include "recfmt.h"

struct ks_rec;

#define KS_REC_FILE_MAX_DEFAULT	(256ull << 20)	/* --record-size */
#define KS_REC_FILES_DEFAULT	16u		/* --record-count */
#define KS_REC_BUDGET_DEFAULT	(64ull << 20)	/* --record-budget */
#define KS_REC_COPY_MAX		8192u		/* smaller payloads are copied */

struct ks_rec_conf {
	uint64_t	file_max;	/* rotate past this (0: the default) */
	unsigned	files_max;	/* keep this many (0: the default) */
	uint64_t	budget;		/* unwritten bytes held (0: default) */
};

/* What a stream tells the tool (on its executor), for logs. */
enum ks_rec_ev {
	KS_REC_EV_FILE = 1,	/* a new file: name */
	KS_REC_EV_FAILED,	/* the stream stopped: err, name */
	KS_REC_EV_REMOVED,	/* an old file removed (err: 0 or why not) */
	KS_REC_EV_LOST		/* a connection's recording stopped: err
				   -ENOBUFS (budget) or -ENOSPC (the cap) */
};
typedef void ks_rec_event_fn(void *arg, enum ks_rec_ev ev, int err,
    const char *name);

struct ks_rec_stats {
	uint64_t	files;		/* files created */
	uint64_t	bytes;		/* bytes written to them */
	uint64_t	conns;		/* connections begun */
	uint64_t	complete;	/* ended with nothing lost, and
					   written (END included) */
	uint64_t	incomplete;	/* ended (or open at a failure) with a
					   loss, or never recorded, or ended
					   whole but not written when the
					   stream failed */
	uint64_t	held;		/* bytes not yet written, now */
	int		failed;		/* 0, or the error that stopped it */
};

/* A connection's part; the caller's storage, every field private. */
struct ks_rec_conn {
	struct ks_rec		*rc_rec;	/* NULL: not recorded */
	struct ks_rec_conn	*rc_next;	/* the stream's open ones */
	struct ks_rec_conn	*rc_prev;
	uint64_t		 rc_id;
	uint64_t		 rc_off[2];	/* bytes recorded, C2S and S2C */
	bool			 rc_lost;
	int			 rc_lerr;	/* why */
	uint16_t		 rc_metalen;
	char			 rc_meta[384];	/* its OPEN's payload */
};

/* The process-wide cap on bytes held by every stream (0: no cap). */
void	ks_rec_cap(uint64_t cap);
uint64_t ks_rec_held_total(void);

/*
 * A stream on ex writing into the directory dirfd (the caller's; it must
 * outlive the stream) as prefix-<n>.kcrec (prefix: 1 to 64 characters of
 * [A-Za-z0-9._-]).  The first file is opened now, in the background; its
 * failure fails the stream (the event says why).  0, -EINVAL, -ENOMEM.
 */
int	ks_rec_create(struct ks_rec **rp, struct kc_executor *ex, int dirfd,
	    const char *prefix, const struct ks_rec_conf *conf,
	    ks_rec_event_fn *event, void *arg);

/*
 * Begin recording a connection (id unique in the process; meta: its
 * "key=value ..." words, at most 383 bytes).  A stream that has failed,
 * or is over its budget or the cap, records nothing of it: c is then
 * counted incomplete, and the other calls on it do nothing.  Returns 0 or
 * the reason it is not recorded (-EIO failed, -ENOBUFS, -ENOSPC).
 */
int	ks_rec_begin(struct ks_rec *r, struct ks_rec_conn *c, uint64_t id,
	    const char *meta);

/*
 * Record len bytes of chain src from off (a stream's), read at time_ns, in
 * direction dir (KSR_C2S or KSR_S2C).  src is only read: small payloads
 * are copied, larger ones shared.  0, or why the connection's recording
 * stopped now or before.
 */
int	ks_rec_data(struct ks_rec_conn *c, uint32_t dir, uint64_t time_ns,
	    const struct kc_chain *src, size_t off, size_t len);
/*
 * Record one datagram of len bytes (at most KSR_PAYLOAD_MAX: a larger one
 * stops the recording, -ENOBUFS), copied; as ks_rec_data() otherwise.
 */
int	ks_rec_dgram(struct ks_rec_conn *c, uint32_t dir, uint64_t time_ns,
	    const void *data, size_t len);

/*
 * The connection ended (meta: its END payload: reason, byte counts); c's
 * storage is the caller's again on return.
 */
void	ks_rec_end(struct ks_rec_conn *c, uint64_t time_ns, const char *meta);

/* Was nothing of c lost (so far)? */
bool	ks_rec_complete(const struct ks_rec_conn *c);

/* A stream's statistics; on its owner. */
void	ks_rec_stats(const struct ks_rec *r, struct ks_rec_stats *st);
/*
 * Every stream's together since the start, from any thread (failed: how
 * many streams stopped on an error; held: ks_rec_held_total()).
 */
void	ks_rec_totals(struct ks_rec_stats *st);

/*
 * Write what is held, close the file, free the stream, then trigger done
 * (may be NULL) with obj NULL and status 0 or the stream's error; its
 * last statistics go to *last (the caller's; may be NULL) before that.
 * Connections still open are ended first (KSR_END "reason=shutdown").
 */
void	ks_rec_destroy(struct ks_rec *r, struct ks_rec_stats *last,
	    struct kc *done);

#endif
