/*
 * kcont/trace.h: tracing with thread ids, and the trace file's format.
 *
 * Every thread that records gets its own ring (one writer: that thread);
 * a writer thread of the library's drains the rings into the trace file.
 * Each record names the process, the thread (gettid), the CPU, a sequence
 * number of that thread's (a gap is a loss) and a time.  With tracing off
 * a trace point is one predictable branch; with it on, a record costs tens
 * of nanoseconds.  A full ring drops records (counted, never blocking the
 * thread).  A thread that exits hands its ring to the writer: nothing it
 * committed is lost.  See kc_trace_start(3), kcdump(1) and kcont-trace(5).
 *
 * Tracing starts with kc_trace_start(), or at load time when the
 * environment has KCONT_TRACE=FILE (any program linked with the library).
 *
 * Memory ownership
 *   - The rings, the writer thread and the file belong to the library from
 *     kc_trace_start() until kc_trace_stop() (or process exit) returns.
 *   - Strings passed in (path, names, text) are copied; the caller keeps
 *     them.
 *
 * Functions return 0 or a negative errno value; nothing sets errno.
 */
#ifndef KCONT_TRACE_H
#define KCONT_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kcont/kc.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* The file format (kcont-trace(5)).  All fields little-endian. */

#define KC_TRACE_MAGIC		"KCTRACE\n"	/* 8 bytes, no NUL */
#define KC_TRACE_VERSION	1u

/* th_clock: what tr_time counts. */
#define KC_TRACE_CLOCK_MONOTONIC 1u	/* CLOCK_MONOTONIC, nanoseconds */
#define KC_TRACE_CLOCK_TSC	2u	/* the CPU's timestamp counter (see
					   th_tsc_hz and KC_TR_SYNC) */

struct kc_trace_file_header {
	char		 th_magic[8];	/* KC_TRACE_MAGIC */
	uint16_t	 th_version;	/* KC_TRACE_VERSION */
	uint16_t	 th_size;	/* bytes of this header: records
					   start here */
	uint32_t	 th_clock;	/* KC_TRACE_CLOCK_* */
	uint32_t	 th_pid;
	uint32_t	 th_flags;	/* 0 */
	uint64_t	 th_start_realtime;	/* CLOCK_REALTIME, ns */
	uint64_t	 th_start_mono;		/* CLOCK_MONOTONIC, ns */
	uint64_t	 th_start_time;		/* tr_time at the same instant */
	uint64_t	 th_tsc_hz;	/* TSC ticks a second (estimate);
					   0 with the monotonic clock */
	char		 th_prog[64];	/* program name, NUL-padded */
	uint64_t	 th_reserved;	/* 0 */
};					/* 128 bytes */

/*
 * Every record starts so.  tr_len counts the header and the payload, is a
 * multiple of 8 and at least sizeof(struct kc_trace_rec).  A reader skips
 * a record whose type it does not know by its length.
 */
struct kc_trace_rec {
	uint16_t	 tr_len;
	uint16_t	 tr_type;	/* KC_TR_* */
	uint32_t	 tr_pid;
	uint32_t	 tr_tid;	/* gettid() of the thread that recorded */
	uint32_t	 tr_cpu;	/* the CPU it ran on then */
	uint64_t	 tr_seq;	/* that thread's, from 0, one per record
					   made or dropped (KC_TR_LOSS:
					   KC_TRACE_SEQ_NONE) */
	uint64_t	 tr_time;	/* in the header's clock */
};					/* 32 bytes */

#define KC_TRACE_SEQ_NONE	UINT64_MAX

/*
 * Record types and their payloads (after the header; all uint64_t unless
 * shown).  A "flow" is an id that ties records together across threads:
 * the record that triggers a continuation or sends a message makes one
 * (KC_TRACE_FLOW(tid, seq) of its own record), and the records that run
 * the continuation or handle and reply to the message carry it.  0: none.
 */
enum kc_trace_type {
	KC_TR_ENQUEUE = 1,	/* kc, fn, exec, flow: queued to run later */
	KC_TR_DEFER,		/* kc, fn, exec, flow, delay_ns: armed */
	KC_TR_RUN_BEGIN,	/* kc, fn, exec, flow: its function starts */
	KC_TR_RUN_END,		/* kc, fn */
	KC_TR_CANCEL,		/* kc, flow */
	KC_TR_EXEC_WAKE,	/* exec: its thread woke up */
	KC_TR_EXEC_SLEEP,	/* exec: its thread goes to sleep */
	KC_TR_KNOTE,		/* ident, filter, flags, data, kc */
	KC_TR_MSG_SEND,		/* port, msg, cmd, flow */
	KC_TR_MSG_RECV,		/* port, msg, cmd, flow: handling starts */
	KC_TR_MSG_REPLY,	/* port, msg, status, flow */
	KC_TR_MSG_ABORT,	/* port, msg, flow */
	KC_TR_SOCK_CONNECT,	/* sock, fd, error */
	KC_TR_SOCK_ACCEPT,	/* listener, sock, fd */
	KC_TR_SOCK_SEND,	/* sock, fd, bytes */
	KC_TR_SOCK_RECV,	/* sock, fd, bytes */
	KC_TR_SOCK_CLOSE,	/* sock, fd */
	KC_TR_SPLICE,		/* splice, dir (0 a->b, 1 b->a), spliced,
				   copied: bytes moved by one step */
	KC_TR_TEE,		/* splice, mirror, bytes: teed or copied */
	KC_TR_MIRROR_DETACH,	/* splice, mirror, error, bytes left unsent */
	KC_TR_THREAD_NAME,	/* char name[]: NUL-terminated, padded */
	KC_TR_USER,		/* char text[]: NUL-terminated, padded */
	KC_TR_LOSS,		/* lost: records the ring dropped since the
				   last KC_TR_LOSS of that thread (written
				   by the writer thread for it) */
	KC_TR_SYNC,		/* time, mono_ns: the clock against
				   CLOCK_MONOTONIC (the writer thread) */
	KC_TR_THREAD_EXIT,	/* (none): the thread's last record */
	KC_TR_NTYPES
};

#define KC_TRACE_FLOW(tid, seq) \
	(((uint64_t)(uint32_t)(tid) << 32) | (uint32_t)((seq) + 1))

/* The largest record: header and payload. */
#define KC_TRACE_REC_MAX	256

/* ------------------------------------------------------------------ */
/* The API. */

struct kc_trace_attr {
	size_t		 ring_bytes;	/* per thread; 0: 1 MiB.  Rounded up
					   to a power of two, at least 4 KiB */
	uint32_t	 flush_ms;	/* writer's period; 0: 10 ms */
	uint32_t	 flags;		/* KC_TRACE_* */
};

#define KC_TRACE_MONOTONIC	0x0001u	/* use CLOCK_MONOTONIC, not the TSC */

struct kc_trace_stats {
	uint64_t	 records;	/* committed */
	uint64_t	 lost;		/* dropped by full rings */
	uint64_t	 bytes;		/* written to the file */
	uint32_t	 threads;	/* rings ever made */
};

/*
 * Start tracing into path (created or truncated, mode 0600).  -EALREADY
 * if tracing is on.  attr may be NULL.
 */
KC_EXPORT int	kc_trace_start(const char *path,
		    const struct kc_trace_attr *attr);
/* Stop: every ring is drained, the file closed.  -ENOENT if it was off. */
KC_EXPORT int	kc_trace_stop(void);
/* Write out what the rings hold now (as the writer would). */
KC_EXPORT int	kc_trace_flush(void);
KC_EXPORT int	kc_trace_stats(struct kc_trace_stats *st);
/* Name the calling thread in the trace (also in its comm, 15 bytes). */
KC_EXPORT int	kc_trace_thread_name(const char *name);
/* A record of the caller's: free text, truncated to fit one record. */
KC_EXPORT int	kc_trace_user(const char *fmt, ...)
		    __attribute__((format(printf, 1, 2)));

/* Is tracing on?  (The library's own trace points test a flag inline.) */
KC_EXPORT bool	kc_trace_enabled(void);

#ifdef __cplusplus
}
#endif

#endif /* KCONT_TRACE_H */
