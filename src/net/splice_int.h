/*
 * splice_int.h: what the splice's files share (splice.c: the splice, its
 * stream directions and its mirrors; splicedgram.c: its datagram
 * directions), and the counting dgramrelay.c shares with them.  Nothing
 * here is public; everything but the counters is for the splice's owner.
 */
#ifndef KC_NET_SPLICE_INT_H
#define KC_NET_SPLICE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/list.h"
#include <kcont/kc.h>
#include <kcont/socket.h>
#include <kcont/splice.h>

struct kc__ep;
struct kc__pipe;

#define PUMP_BATCH	16	/* regions or batches per readiness event */

enum { FWD = KC_SPLICE_FWD, REV = KC_SPLICE_REV };

struct dir {
	struct kc_socket	*d_src;
	struct kc_socket	*d_dst;
	struct kc__ep		*d_sep;		/* their endpoints */
	struct kc__ep		*d_dep;
	int			 d_sfd;
	int			 d_dfd;
	unsigned		 d_idx;
	struct kc__pipe		*d_pipe;
	size_t			 d_plen;	/* bytes in d_pipe */
	struct kc_chain		 d_pend;	/* copied bytes, before the pipe's */
	struct kc__list		 d_q;		/* datagrams waiting */
	int			 d_rerr;	/* the source's error, from its knote */
	bool			 d_eof;		/* the source has ended */
	bool			 d_done;	/* and the destination is shut */
	bool			 d_copy;	/* this direction cannot splice */
	bool			 d_small;	/* copying small messages */
	bool			 d_drained;	/* a short copy read took all */
	bool			 d_bigread;	/* the last copy read was full */
	bool			 d_wblocked;	/* the destination is full: wait
						   for its write edge, not the
						   source's read edges */
	bool			 d_rdhup;	/* the source has shut: no edge will
						   come for its end of file */
	unsigned		 d_smallrun;	/* small spliced regions in a row */
};

/*
 * What a mirror holds goes out in this order: its spill file's bytes
 * [m_sprd, m_spwr), its pipe's m_plen, then its chain m_back.  A region
 * is teed to the pipe; when the pipe is full its bytes move to the end of
 * the spill file (a memfd) first, by one kernel copy into page cache
 * pages that sendfile(2) later hands to the socket without another.  The
 * chain (user memory) is what a copied region, or a region no pipe or
 * spill file could take, is shared into; a spliced region that comes
 * while the chain holds bytes first moves the pipe's and the chain's bytes
 * to the spill file, so that it can be teed after them.
 */
struct mirror {
	struct kc_socket	*m_sock;	/* NULL once let go */
	struct kc__ep		*m_ep;		/* its endpoint */
	int			 m_fd;
	int			 m_spfd;	/* spill file, -1 none */
	uint64_t		 m_sprd;	/* its next byte to send */
	uint64_t		 m_spwr;	/* its end */
	uint64_t		 m_sptrim;	/* freed below this */
	struct kc__pipe		*m_pipe;
	size_t			 m_plen;
	struct kc_chain		 m_back;	/* after the pipe's bytes */
	uint64_t		 m_held;	/* bytes counted against the cap */
	uint64_t		 m_out;		/* bytes written to its socket */
	uint64_t		 m_seen;	/* m_out at the last linger check */
	bool			 m_eof;		/* shut it once drained */
	bool			 m_shut;
	bool			 m_dropping;
	bool			 m_draining;	/* the splice ended: its last bytes */
	bool			 m_detached;	/* and why: */
	int			 m_derr;
	uint64_t		 m_dropped;	/* bytes it did not get */
	bool			 m_connected;	/* its connect was seen to succeed */
	/*
	 * Turn pacing (splice.c, "Turns"): m_hold holds what it was not
	 * given yet, whole turns (their lengths in m_turns[m_t0..m_nt))
	 * then the open turn's m_open bytes.
	 */
	bool			 m_paced;
	bool			 m_passing;	/* the open turn was given: its
						   bytes go on as they come */
	bool			 m_free;	/* the first turn needs no answer */
	struct kc_chain		 m_hold;
	size_t			*m_turns;
	unsigned		 m_t0, m_nt, m_tcap;
	size_t			 m_open;
	uint64_t		 m_ans;		/* answers seen */
	uint64_t		 m_given;	/* m_ans at the last give */
	uint64_t		 m_want;	/* m_out once that give is out */
	/* attr.mirror_tap: its replies go to the tap while m_tap. */
	bool			 m_tap;
	bool			 m_rdone;	/* its replies ended (end of file) */
	uint64_t		 m_rin;		/* reply bytes read */
	uint64_t		 m_rseen;	/* m_rin at the last linger check */
};

struct kc_splice {
	uintptr_t		 sp_magic;
	struct kc_executor	*sp_owner;
	struct kc_socket	*sp_a;
	struct kc_socket	*sp_b;
	struct dir		 sp_dir[2];
	struct mirror		 sp_m[KC_SPLICE_MIRRORS_MAX];
	unsigned		 sp_nm;
	bool			 sp_dgram;
	struct kc_splice_attr	 sp_attr;
	struct kc_splice_stats	 sp_st;		/* relaxed atomics: read anywhere */
	struct kc		*sp_done;
	struct kc		 sp_firekc;	/* runs done on its executor */
	struct kc		*sp_cdone;	/* the close's done */
	uint32_t		 sp_life;	/* atomic: SPL_* */
	struct kc		 sp_startkc;
	struct kc		 sp_cancelkc;
	struct kc		 sp_idlekc;
	struct kc		 sp_halfkc;
	struct kc		 sp_connkc;
	struct kc		 sp_lingerkc;	/* mirrors draining: their limit */
	unsigned		 sp_mleft;	/* mirrors still draining */
	uint64_t		 sp_linger_ns;	/* their limit without progress */
	uint64_t		 sp_moved;	/* bytes read, both ways: idle check */
	uint64_t		 sp_seen;	/* sp_moved at sp_active */
	uint64_t		 sp_active;	/* kc__now() of the last read */
	int			 sp_status;
	struct kc_splice_end	 sp_end;	/* written once, before done */
	bool			 sp_bup;	/* b's connect succeeded */
	bool			 sp_paced;	/* some mirror is paced by turns */
	unsigned		 sp_busy;
	bool			 sp_ended;
	bool			 sp_fired;	/* atomic */
	bool			 sp_cancelled;	/* atomic: one cancel queued */
	bool			 sp_tap_on;	/* attr.tap set, not stopped */
};

/* A snapshot of size bytes of relaxed-atomic uint64_t counters. */
void	kc__stats_load(void *dst, const void *src, size_t size);
/* Add n to the counter at offset off of st, and of account if not NULL. */
void	kc__stats_add(struct kc_splice_stats *st,
	    struct kc_splice_stats *account, size_t off, uint64_t n);

static inline void
count(struct kc_splice *sp, size_t off, uint64_t n)
{
	kc__stats_add(&sp->sp_st, sp->sp_attr.account, off, n);
}

#define COUNT(sp, field, n) \
	count((sp), offsetof(struct kc_splice_stats, field), (n))
#define COUNT_DIR(sp, field, d, n) \
	count((sp), offsetof(struct kc_splice_stats, field) + \
	    (d) * sizeof(uint64_t), (n))

/* splice.c */
/*
 * End the splice with status (0, or -errno); once, later calls do nothing.
 * how and side say what ended it (kc_splice_end_info()); a reset of b
 * before its connect succeeded is its connect's failure.
 */
void	kc__splice_end(struct kc_splice *sp, int how, int side, int status);
/* Is mirror m connected and well?  A failed one is detached. */
bool	kc__splice_mirror_ready(struct kc_splice *sp, struct mirror *m);

/* splicedgram.c */
/* Move what d's source has, as datagrams, until it has none or the
 * destination is full. */
void	kc__splice_pump_dgram(struct kc_splice *sp, struct dir *d);
/* Datagrams d's source socket read itself before the splice go first. */
void	kc__splice_dg_early(struct kc_splice *sp, struct dir *d);
/* Free the datagrams waiting for d's destination. */
void	kc__splice_dq_free(struct dir *d);

#endif
