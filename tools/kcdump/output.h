/*
 * output.h: kcdump's formatters (text, summary, Chrome JSON, SVG) and
 * what they share: the record filter, a growable string with escaping,
 * time and detail formatting, and the pairing of runs.
 *
 * A formatter walks the trace in time order and writes to the caller's
 * stream; it returns 0, -EIO when the stream has an error, or -ENOMEM.
 * It never closes the stream.  Formatters use the scratch fields of
 * struct kd_thread (cur_name, row, shown), so a trace is formatted by one
 * of them at a time.
 */
#ifndef KCDUMP_OUTPUT_H
#define KCDUMP_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "reader.h"

/* ------------------------------------------------------------------ */
/* The filter: every part given must match (AND); lists match any. */

#define KD_FILTER_MAXIDS	4096

struct kd_filter {
	uint32_t	*pids;		/* -p; malloc'ed, kd_filter_free() */
	size_t		 npids;
	uint32_t	*tids;		/* -t */
	size_t		 ntids;
	bool		 has_types;	/* -y */
	uint64_t	 types[65536 / 64];
	bool		 has_from;	/* --from, ns since the start */
	int64_t		 from_ns;
	bool		 has_to;	/* --to */
	int64_t		 to_ns;
};

/*
 * Add a comma-separated list of decimal ids (0 to 4294967295) to *v.
 * 0, or -EINVAL with a one-line message in err (no newline), -ENOMEM.
 */
int	kd_filter_ids(uint32_t **v, size_t *n, const char *list, char *err,
	    size_t errlen);
/* Add a comma-separated list of type names (kd_type_lookup()). */
int	kd_filter_types(struct kd_filter *f, const char *list, char *err,
	    size_t errlen);
/* Decimal seconds ("1.5", "-0.25", ".001") to ns.  0 or -EINVAL. */
int	kd_parse_sec(const char *s, int64_t *ns);
bool	kd_filter_match(const struct kd_filter *f, const struct kd_rec *r);
/* s for a message: at most size - 1 bytes, anything not printable ASCII
 * as '?', cut with "..." when longer. */
void	kd_printable(char *dst, size_t size, const char *s);
void	kd_filter_free(struct kd_filter *f);

/* ------------------------------------------------------------------ */
/* A growable string; on a failed allocation it stops growing and says so
 * in oom. */

struct kd_str {
	char		*p;
	size_t		 len;
	size_t		 cap;
	bool		 oom;
};

enum kd_esc {
	KD_ESC_TEXT,	/* printable ASCII; \\ \" and \xNN for the rest */
	KD_ESC_WORD,	/* KD_ESC_TEXT, and a space as \x20 too */
	KD_ESC_JSON,	/* inside a JSON string: valid UTF-8 kept */
	KD_ESC_XML	/* XML character data or attribute: valid UTF-8 kept */
};

void	kd_str_add(struct kd_str *s, const void *p, size_t n);
void	kd_str_puts(struct kd_str *s, const char *p);
void	kd_str_printf(struct kd_str *s, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	kd_str_esc(struct kd_str *s, const void *p, size_t n, enum kd_esc how);
/* Write s out and empty it: 0 or -EIO, -ENOMEM if it ran out. */
int	kd_str_flush(struct kd_str *s, FILE *out);
void	kd_str_free(struct kd_str *s);

/* ------------------------------------------------------------------ */
/* Formatting pieces. */

#define KD_TIMEBUF	48

/* ns as seconds with nine decimals: "0.000123456", "-1.000000000". */
void	kd_fmt_sec(char *buf, size_t size, int64_t ns);
/* The wall time of ns since the start: ISO 8601 UTC with ns. */
void	kd_fmt_abs(char *buf, size_t size, const struct kd_trace *t,
	    int64_t ns);
/* "RUN_BEGIN", or "UNKNOWN_200" for a type kcdump does not know. */
void	kd_type_label(char *buf, size_t size, unsigned type);
/* A flow as tid:seq ("-" for none). */
void	kd_fmt_flow(char *buf, size_t size, uint64_t flow);
/* A record's details, "name=value ..." in printable ASCII. */
void	kd_str_details(struct kd_str *s, const struct kd_rec *r);
/* A field's value as details show it (not KD_TEXT). */
void	kd_str_value(struct kd_str *s, enum kd_kind kind, uint64_t v);

/* ------------------------------------------------------------------ */
/* Runs paired, for the timelines: one entry per record in time order. */

#define KD_SPAN_RUN	0x1	/* a RUN_BEGIN */
#define KD_SPAN_OPEN	0x2	/* a RUN_BEGIN never ended (end: the last
				   time in the trace) */
#define KD_SPAN_ENDS	0x4	/* a RUN_END that ended a RUN_BEGIN */
#define KD_SPAN_SCAN	64	/* how deep a RUN_END looks for its kc */

struct kd_span {
	int64_t		 end;	/* RUN_BEGIN: when the run ended; other
				   records: the thread's next record (or the
				   record's own time if none) */
	uint64_t	 peer;	/* RUN_BEGIN: its RUN_END, RUN_END: its
				   RUN_BEGIN (index), else UINT64_MAX */
	uint32_t	 depth;	/* RUN_BEGIN: runs open below it */
	uint32_t	 flags;	/* KD_SPAN_* */
};

/*
 * Pair every RUN_END with the latest open RUN_BEGIN of its thread that has
 * its kc (runs nest when a continuation runs inline): runs opened inside
 * it and not ended end with it.  *sp gets t->nrec entries (free()).
 * 0 or -ENOMEM.
 */
int	kd_spans(const struct kd_trace *t, struct kd_span **sp);

/* ------------------------------------------------------------------ */
/* The formatters. */

enum kd_timefmt {
	KD_TIME_REL,		/* -R: since the trace's start */
	KD_TIME_ABS,		/* -T: wall clock, UTC */
	KD_TIME_ELAPSED		/* -E: since the previous record printed */
};

/* SVG: at most this many drawn elements; more are merged or counted. */
#define KD_SVG_MAX_ELEMS	20000

int	kd_text(FILE *out, struct kd_trace *t, const struct kd_filter *f,
	    enum kd_timefmt tf);
int	kd_summary(FILE *out, const struct kd_trace *t);
int	kd_json(FILE *out, struct kd_trace *t, const struct kd_filter *f);
int	kd_svg(FILE *out, struct kd_trace *t, const struct kd_filter *f);

#endif /* KCDUMP_OUTPUT_H */
