/*
 * compare.h: kcsplice --compare, each mirror's replies against the
 * upstream's on the same connection (kcsplice(1), "LIVE COMPARISON").
 *
 * A connection has one struct ks_cmp; the upstream's replies (the splice's
 * tap, KC_SPLICE_REV) and each mirror's (its mirror tap) are fed to it as
 * they are read.  Per mirror, the two streams are compared byte by byte as
 * far as both have come; what one side has sent past the other is held (a
 * copy) until the other catches up.  What is held, every mirror of the
 * connection together (the upstream's bytes count once for each mirror
 * that still waits for them), may not pass the connection's window, nor
 * take the process's held bytes (ks_cmp_held()) past the cap
 * (ks_cmp_cap(): kcsplice gives it the mirrors' cap, --mirror-cap): the
 * mirror whose bytes would pass either is "not compared" from there, and
 * what it held is let go.  The first byte that differs makes the mirror
 * "diverged" (its offset and a short excerpt of both sides kept), and
 * nothing more of it is held.  At the end, a mirror still comparing is
 * "matched" when both sides ended at the same length, "diverged" (at the
 * shorter one's length) when one side is a strict prefix of the other,
 * and "not compared" when the caller says its stream had holes (detached,
 * bytes dropped).
 *
 * Nothing here parses what the peers send: bytes are compared, never
 * interpreted.
 *
 * Threads: a struct ks_cmp is used by one thread at a time (the
 * connection's worker); the process-wide count is atomic.  Memory: the
 * caller owns struct ks_cmp (embed it); ks_cmp_free() lets go of what it
 * holds.  Chains given to it are only read during the call.
 */
#ifndef KCSPLICE_COMPARE_H
#define KCSPLICE_COMPARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kcont/buf.h>
#include <kcont/splice.h>

#define KS_CMP_MIRRORS		KC_SPLICE_MIRRORS_MAX
#define KS_CMP_EXCERPT		16	/* bytes of each side kept */
#define KS_CMP_WINDOW_DEF	(1ull << 20)	/* --compare-window */

enum ks_cmp_result {
	KS_CMP_COMPARING = 0,	/* not decided yet */
	KS_CMP_MATCHED,
	KS_CMP_DIVERGED,
	KS_CMP_NOT_COMPARED,
	KS_CMP_RESULT_N
};

/* "matched", "diverged", "not_compared" ("comparing" for the first). */
const char	*ks_cmp_result_name(enum ks_cmp_result r);

/* Where a mirror diverged, and what each side had there. */
struct ks_cmp_diff {
	uint64_t	off;		/* first byte that differs */
	size_t		up_n, mi_n;	/* excerpt lengths (0: that side
					   ended there) */
	uint8_t		up[KS_CMP_EXCERPT];
	uint8_t		mi[KS_CMP_EXCERPT];
};

struct ks_cmp_mirror {
	enum ks_cmp_result cm_result;
	bool		 cm_overflow;	/* not compared: the window or cap */
	struct kc_chain	 cm_held[2];	/* [0]: upstream's, [1]: mirror's,
					   beyond the other's (one empty) */
	uint64_t	 cm_off;	/* bytes compared equal */
	struct ks_cmp_diff cm_diff;	/* when diverged */
};

struct ks_cmp {
	unsigned	 nm;
	unsigned	 active;	/* mirrors still comparing */
	uint64_t	 window;
	uint64_t	 held;		/* all its mirrors' held bytes */
	struct ks_cmp_mirror m[KS_CMP_MIRRORS];
};

/* A connection with nm mirrors (at most KS_CMP_MIRRORS), window bytes. */
void	ks_cmp_init(struct ks_cmp *c, unsigned nm, uint64_t window);

/*
 * len bytes of data from off: the upstream's replies, or mirror i's.
 * Return true when no more of that stream is wanted: for the upstream, no
 * mirror compares any more; for a mirror, its comparison is decided.
 */
bool	ks_cmp_upstream(struct ks_cmp *c, const struct kc_chain *data,
	    size_t off, size_t len);
bool	ks_cmp_mirror(struct ks_cmp *c, unsigned i,
	    const struct kc_chain *data, size_t off, size_t len);
/* The same from a plain buffer (the unit test's way in). */
bool	ks_cmp_feed(struct ks_cmp *c, int side, unsigned i, const void *buf,
	    size_t len);	/* side 0: upstream (i ignored), 1: mirror i */

/*
 * Mirror i's stream had holes (detached, bytes dropped): what it answered
 * is not what the client sent, so it is not compared, whatever it was so
 * far; what it held is let go.
 */
void	ks_cmp_abandon(struct ks_cmp *c, unsigned i);

/*
 * The end: mirror i's result (whole: its stream had no holes), decided
 * now if it was not; *d (may be NULL) gets where it diverged.
 */
enum ks_cmp_result ks_cmp_end(struct ks_cmp *c, unsigned i, bool whole,
	    struct ks_cmp_diff *d);

void	ks_cmp_free(struct ks_cmp *c);

/*
 * The process-wide cap on held bytes (0: none) and what is held now, all
 * connections together.  Any thread.
 */
void	ks_cmp_cap(uint64_t cap);
uint64_t ks_cmp_held(void);

/*
 * An excerpt for a log line: hex, a space, then the bytes as text in
 * double quotes (a byte that is not printable ASCII, a quote or a
 * backslash shown as '.'); "(end)" for none.  NUL-terminated, cut to size.
 */
void	ks_cmp_excerpt(char *buf, size_t size, const uint8_t *b, size_t n);

#endif
