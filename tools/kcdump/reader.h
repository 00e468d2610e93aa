/*
 * reader.h: kcont trace files (kcont-trace(5)) read from memory, for
 * kcdump(1) and its fuzz target.
 *
 * kd_open() checks the header, walks the records once to validate them
 * and to count losses, names and clock points, converts every record's
 * time to nanoseconds since the trace's start and sorts the records by
 * that time.  The formatters (kdump.h) then walk that order.  Nothing
 * here prints, exits or keeps state outside struct kd_trace.
 *
 * Memory ownership
 *   - The file's bytes are the caller's: they must outlive the trace,
 *     and kd_rec.pl and kd_thread.name point into them.
 *   - Everything else kd_open() allocates is freed by kd_close(), which
 *     may be called after any kd_open() result.
 *
 * Functions return 0 or a negative errno value.
 */
#ifndef KCDUMP_READER_H
#define KCDUMP_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kcont/trace.h>

/* The most kcdump reads: larger inputs are refused, not cut. */
#define KD_MAX_INPUT	((uint64_t)4 << 30)
/* Times are clamped to +-KD_NS_MAX, so that differences never overflow. */
#define KD_NS_MAX	(((int64_t)1 << 62) - 1)
/* The largest header a version 1 file may declare (th_size). */
#define KD_HDR_MAX	4096u

/* A record, decoded to host byte order. */
struct kd_rec {
	uint64_t	 off;		/* where it starts in the file */
	uint16_t	 len;		/* tr_len */
	uint16_t	 type;
	uint32_t	 pid;
	uint32_t	 tid;
	uint32_t	 cpu;
	uint64_t	 seq;
	uint64_t	 time;		/* tr_time, in the file's clock */
	int64_t		 ns;		/* since the trace's start */
	const uint8_t	*pl;		/* payload (in the caller's buffer) */
	size_t		 plen;		/* len - 32 */
};

/* One record in time order: where it is and when it was. */
struct kd_ent {
	int64_t		 ns;
	uint64_t	 off;
};

/*
 * What the trace says about one thread (a tr_tid).  A file may hold a
 * thread per record, so this is kept to 64 bytes: counts of records fit in
 * 32 bits (a file has at most KD_MAX_INPUT / 32 of them), name lengths in
 * 16 (a record is at most 65535 bytes).
 */
struct kd_thread {
	uint32_t	 tid;
	uint32_t	 pid;		/* of its first record */
	uint32_t	 nrec;		/* records with this tr_tid */
	uint32_t	 disorder;	/* records whose seq did not go up */
	uint64_t	 lost;		/* the sum of its KC_TR_LOSS records */
	uint64_t	 gaps;		/* sequence numbers missing */
	uint64_t	 next_seq;	/* the seq expected next */
	const uint8_t	*name;		/* its last KC_TR_THREAD_NAME in the */
	uint16_t	 namelen;	/* file (NULL: none), not terminated */
	bool		 have_seq;
	/* Scratch for a formatter's walk; each sets what it uses first. */
	bool		 shown;
	uint16_t	 cur_namelen;
	uint16_t	 row;
	const uint8_t	*cur_name;
};

/* A clock point: tr_time against CLOCK_MONOTONIC. */
struct kd_point {
	uint64_t	 time;
	uint64_t	 mono;
	uint64_t	 order;		/* file order, for a stable sort */
};

struct kd_trace {
	const uint8_t	*buf;
	size_t		 len;
	struct kc_trace_file_header h;	/* decoded */
	uint64_t	 end;		/* where reading stopped: len, or the
					   offset of the bad record */
	uint64_t	 nrec;		/* good records, all in ents[] */
	struct kd_ent	*ents;		/* sorted by (ns, off) */
	struct kd_thread *threads;	/* sorted by tid */
	uint32_t	 nthreads;
	struct kd_point	*pts;		/* TSC: sorted by time, distinct */
	size_t		 npts;
	uint64_t	 nsync;		/* KC_TR_SYNC records */
	uint64_t	 nunknown;	/* records of unknown types */
	uint64_t	 nshort;	/* known types with a short payload */
	uint64_t	 lost;		/* over every thread (saturating) */
	uint64_t	 gaps;
	int64_t		 first_ns;	/* earliest and latest record */
	int64_t		 last_ns;	/* (0 and 0 without records) */
	char		 err[160];	/* why kd_open() did not return 0 */
};

/*
 * Read the trace in buf[0..len).  0: every byte read.  -EBADMSG: the
 * records before t->end are read and usable, and the one at t->end is bad
 * (err says how; typically the last record of a writer that was killed).
 * -EINVAL: the file is not a trace kcdump can read (err says why; nothing
 * usable).  -EFBIG: len is over KD_MAX_INPUT.  -ENOMEM.
 */
int	kd_open(struct kd_trace *t, const void *buf, size_t len);
/*
 * Check a file's header as kd_open() does, before the rest is read: buf
 * holds the file's first len bytes, and whole says whether that is all of
 * it.  Give it at least the 128 bytes of a version 1 header, or the whole
 * file if it is shorter.  0 with *h decoded, or -EINVAL with err set to the
 * message kd_open() would give.
 */
int	kd_check_header(const void *buf, size_t len, bool whole,
	    struct kc_trace_file_header *h, char *err, size_t errsize);
void	kd_close(struct kd_trace *t);

/* The record at off, a record kd_open() accepted (e.g. ents[i].off). */
void	kd_rec_get(const struct kd_trace *t, uint64_t off, struct kd_rec *r);
/* The i-th record in time order (i < t->nrec). */
void	kd_rec_at(const struct kd_trace *t, uint64_t i, struct kd_rec *r);
/* The thread of tid, or NULL. */
struct kd_thread *kd_thread_find(const struct kd_trace *t, uint32_t tid);
/* tr_time in the file's clock to ns since the start (clamped). */
int64_t	kd_time_ns(const struct kd_trace *t, uint64_t time);

/* Payload field i (uint64_t each); 0 past the payload's end. */
uint64_t kd_rec_u64(const struct kd_rec *r, unsigned i);
/* The text of THREAD_NAME and USER: up to its NUL or the payload's end. */
size_t	kd_rec_text(const struct kd_rec *r, const uint8_t **p);

/* ------------------------------------------------------------------ */
/* Record types. */

enum kd_kind {
	KD_PTR = 1,	/* an address: hex */
	KD_U,		/* an unsigned count */
	KD_I,		/* a signed number (fd) */
	KD_ERR,		/* 0 or an errno value, negative or not */
	KD_FLOW,	/* KC_TRACE_FLOW(tid, seq) */
	KD_DIR,		/* 0 a->b, 1 b->a */
	KD_NS,		/* a duration in ns */
	KD_FILTER,	/* a kqueue filter (EVFILT_*) */
	KD_HEX,		/* flags */
	KD_TEXT		/* the whole payload: NUL-terminated text */
};

#define KD_MAXFIELDS	6

struct kd_field {
	const char	*name;
	enum kd_kind	 kind;
};

struct kd_typeinfo {
	const char	*name;		/* without KC_TR_ */
	unsigned	 nfields;
	struct kd_field	 f[KD_MAXFIELDS];
};

/* The type's description, or NULL for a type kcdump does not know. */
const struct kd_typeinfo *kd_type_info(unsigned type);
/* A known type whose payload is shorter than its fields. */
bool	kd_rec_short(const struct kd_rec *r);
/*
 * A type by name, case-insensitive, with or without "KC_TR_", or as a
 * decimal number (1 to 65535, known or not).  The type, or -EINVAL.
 */
int	kd_type_lookup(const char *name);

#endif /* KCDUMP_READER_H */
