/*
 * kcont/splice.h: splice and tee between owned sockets.
 *
 * kc_splice() joins two sockets owned by the same soft executor: what
 * arrives on a goes to b and what arrives on b goes to a, and everything a
 * sends is also teed to any number of mirrors, until both directions have
 * ended.  It runs as continuations on the owner, driven by the sockets'
 * readiness (seed 000's splice and tee built from socket upcalls): no thread
 * waits for it.
 *
 * Streams (TCP, UNIX) move data with splice(2) through a pipe taken from
 * the owner's pool (see below) and copy it to mirrors' own pipes with tee(2):
 * each region is teed to every mirror exactly once, then spliced out to the
 * primary.  Bytes that cannot go that way are copied through user space:
 * those already read into a socket's receive buffer before the splice began
 * (they go first), a mirror's backlog while it is connecting or slow, and
 * everything when no pipe can be had or KC_SPLICE_COPY is asked for.  The
 * statistics count spliced and copied bytes apart.
 *
 * Datagram sockets (UDP, UNIX datagram, connected) keep every boundary:
 * batches of recvmmsg(2) and sendmmsg(2), never a pipe.
 *
 * Half-close is forwarded on every leg: when a reaches end of file, b and
 * every mirror are shut for writing once they have everything; the other
 * direction goes on, for at most half_close_ns.  A reset or an error on one
 * side resets the other (an upstream's reset reaches the client).
 *
 * A mirror never slows the primary.  A mirror that lags by more than its
 * budget (bytes teed to it and not yet taken by its socket), or whose next
 * bytes would take what all mirrors of the process hold past the cap
 * (kc_splice_mirror_cap()), is detached (KC_MIRROR_DETACH, the default:
 * reset, counted) or has what does not fit dropped (KC_MIRROR_DROP: its
 * stream then has holes; counted in bytes; it is never detached for
 * lagging).  A mirror that fails (refused, reset) is detached.  What
 * mirrors send back is read and thrown away, unless attr.mirror_tap is
 * set (below).
 *
 * Turn pacing (attr.mirror_turns, streams): a turn is what is read from a
 * in one stretch between two reads of b's replies (everything a sends
 * before b's next bytes are read).  A paced mirror is given a turn only
 * once it has sent some bytes back since the previous turn was all
 * written to its socket (the first turn at once, unless b spoke first:
 * then once the mirror has spoken); a turn given goes on to the mirror as
 * it comes until b's next reply is read.  What waits is held in memory,
 * against the mirror's budget and the cap like any lag; the primary never
 * waits.  For protocols whose servers check that the client waited for
 * an answer (PostgreSQL's SSLRequest, greeting protocols).
 *
 * However the splice ends (end of file, a reset either side, an error, a
 * timeout, a cancel), each mirror still attached gets every byte read from
 * a for it, then its end of file, and only then is closed; at a reset, what
 * a's socket still holds is read for the mirrors first.  done waits for
 * that; a mirror that takes nothing for its socket's linger time
 * (kc_socket_attr) is reset: detached, or under KC_MIRROR_DROP its last
 * bytes are counted as dropped.
 *
 * The pipe pool: one per soft executor.  It probes the largest pipe size
 * the system allows (F_SETPIPE_SZ up to /proc/sys/fs/pipe-max-size), keeps
 * its pipes within a share of the per-user pipe page limit
 * (/proc/sys/fs/pipe-user-pages-soft), lends a pipe only while data is in
 * it and takes back only empty pipes (one with bytes left in it is closed).
 * When none can be had, the data is copied and the fall-back counted.
 *
 * Memory ownership
 *   - struct kc_splice is the library's: kc_splice() returns it,
 *     kc_splice_close() gives it back.  The memory goes once both the
 *     splice's done has run and it has been closed; the close's done says
 *     when (obj is then only a name for the splice that was).
 *   - kc_splice() takes the caller's references to a, b and the mirrors
 *     when it succeeds: the splice closes them all when it ends (after done
 *     has run, the caller must not use them).  When it fails they are
 *     untouched and still the caller's.
 *   - The attr structure is copied; the account counters it points to are
 *     the caller's and must outlive every splice using them.
 *   - done and the event callbacks are the caller's storage.
 *
 * Functions return 0 or a negative errno value; nothing sets errno.  See
 * kc_splice(3).
 */
#ifndef KCONT_SPLICE_H
#define KCONT_SPLICE_H

#include <stddef.h>
#include <stdint.h>

#include <kcont/kc.h>
#include <kcont/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kc_splice;

/* The most mirrors one splice (or datagram relay) tees to. */
#define KC_SPLICE_MIRRORS_MAX	16

/* Directions in struct kc_splice_stats. */
#define KC_SPLICE_FWD	0	/* a to b (client to upstream; mirrored) */
#define KC_SPLICE_REV	1	/* b to a */

/*
 * Bytes counted when they are delivered to the destination socket.  Read
 * with kc_splice_stats(); also added to attr.account (relaxed atomic adds),
 * so that one struct can total many splices.
 */
struct kc_splice_stats {
	uint64_t	spliced[2];	/* by splice(2), per direction */
	uint64_t	copied[2];	/* through user space, per direction */
	uint64_t	mirrored;	/* written to mirrors' sockets, all of them */
	uint64_t	mirror_dropped;	/* not sent to a mirror (drop policy) */
	uint64_t	mirror_detached; /* mirrors detached */
	uint64_t	pipe_fallbacks;	/* no pipe could be had: copied */
	uint64_t	datagrams[2];	/* datagram splices: per direction */
	uint64_t	dgram_dropped;	/* datagrams not delivered */
};

#define KC_MIRROR_DETACH	0
#define KC_MIRROR_DROP		1

/* kc_splice_attr.flags */
#define KC_SPLICE_COPY		0x0001u	/* never splice(2)/tee(2): copy */

/* Events reported to attr.event (for logs). */
#define KC_SPLICE_EV_MIRROR_DETACHED	1	/* err: -ENOBUFS (budget), -ENOSPC
						   (the cap), -ETIMEDOUT (idle
						   for its linger time at the
						   end) or the error */
#define KC_SPLICE_EV_MIRROR_DROPPING	2	/* first drop since it last kept
						   up; err -ENOBUFS or -ENOSPC */
#define KC_SPLICE_EV_MIRROR_CONNECTED	3	/* its connect succeeded (seen
						   once, at the latest when it
						   is first written); err 0 */

typedef void kc_splice_event_fn(void *arg, struct kc_splice *sp, int event,
    unsigned mirror, int err);

/*
 * A tap (stream splices): called on the owner with every byte the splice
 * reads, either way, as it is read, before it is written on: len bytes of
 * data from byte off, read from side dir's source (KC_SPLICE_FWD: a's,
 * KC_SPLICE_REV: b's).  data is the library's and only lent for the call:
 * the tap copies what it keeps, or shares it (kc_chain_share()).  Bytes
 * the splice moves by splice(2) are copied out of the pipe for it (tee(2)
 * to a scratch pipe, then read), a cost paid only while a tap is set.
 * Returning non-zero stops the calls for this splice (and their cost);
 * what the tap does never slows or changes the data's way to the other
 * side.  Datagram splices do not call it.
 */
typedef int kc_splice_tap_fn(void *arg, struct kc_splice *sp, int dir,
    const struct kc_chain *data, size_t off, size_t len);

/*
 * A mirror tap (stream splices): called on the owner with what mirror
 * (its index in kc_splice()'s mirrors) sends back, in order, as it is
 * read: len bytes of data from byte off, lent for the call only, as for
 * the tap.  Without one, a mirror's replies are read and thrown away; with
 * one, they are read into memory for the call (at most 1 MiB a readiness
 * event, then the owner reads again later) and freed after it.  Returning
 * non-zero stops the calls for that mirror only: its later replies are
 * thrown away again.  Turn pacing (mirror_turns) counts the replies the
 * same either way.  While a mirror is tapped, the splice's end waits for
 * the mirror's replies to end too: after its last bytes and its end of
 * file, it is closed once it closes its side, or once it has sent nothing
 * for its socket's linger time (then reset, not counted as detached), so
 * that the tap sees every reply to what it was given.  A mirror detached,
 * or with bytes dropped, gave replies to a stream with holes: the tap
 * learns of it from attr.event and kc_splice_mirror_stats().  Datagram
 * splices and relays do not call it (their mirrors' datagrams are thrown
 * away).
 */
typedef int kc_splice_mirror_tap_fn(void *arg, struct kc_splice *sp,
    unsigned mirror, const struct kc_chain *data, size_t off, size_t len);

/* 0 in a field means its default. */
struct kc_splice_attr {
	uint64_t	mirror_budget;	/* bytes a mirror may lag (1 GiB) */
	int		mirror_policy;	/* KC_MIRROR_DETACH (default) or _DROP */
	unsigned	flags;		/* KC_SPLICE_* */
	uint64_t	half_close_ns;	/* the other direction's limit (none) */
	uint64_t	idle_ns;	/* no byte either way: end, -ETIMEDOUT (none) */
	uint64_t	connect_ns;	/* b still connecting: end, -ETIMEDOUT (none) */
	size_t		pipe_size;	/* wanted pipe size (the largest allowed) */
	struct kc_splice_stats *account; /* also add the counts here (or NULL) */
	kc_splice_event_fn *event;	/* mirror events, on the owner (or NULL) */
	void		*event_arg;
	kc_splice_tap_fn *tap;		/* every byte read (or NULL) */
	void		*tap_arg;
	uint32_t	mirror_turns;	/* bit i: mirror i is paced by turns
					   (streams only; none) */
	kc_splice_mirror_tap_fn *mirror_tap; /* mirrors' replies (or NULL:
					   thrown away) */
	void		*mirror_tap_arg;
};

/*
 * Splice a and b (both stream or both connected datagram sockets) and tee
 * what a sends to mirrors[0..nmirrors-1] (same kind; up to
 * KC_SPLICE_MIRRORS_MAX).  Every
 * socket must be owned by the same soft executor; b and the mirrors may
 * still be connecting (data for them waits, within the budget for mirrors;
 * a mirror that fails to connect is detached).  It may be called from any
 * thread; the splice starts on the owner.  done runs on the owner, once,
 * when both directions have ended or on the first error: obj = the splice,
 * status 0, the error (-ECONNRESET, -ETIMEDOUT, the connect error of b) or
 * -ECANCELED (kc_splice_cancel()).
 * Errors: -EINVAL (mixed kinds or owners, a socket listening or closed,
 * too many mirrors, bad attr: mirror_turns naming a mirror beyond
 * nmirrors, or set for datagram sockets), -ENOMEM.
 */
KC_EXPORT int	kc_splice(struct kc_splice **spp, struct kc_socket *a,
		    struct kc_socket *b, struct kc_socket *const *mirrors,
		    unsigned nmirrors, const struct kc_splice_attr *attr,
		    struct kc *done);

/* End at once (both sides reset, done gets -ECANCELED once the mirrors
 * have their last bytes, as above); any thread. */
KC_EXPORT int	kc_splice_cancel(struct kc_splice *sp);

/* A snapshot of the counts; any thread, any time before kc_splice_close(). */
KC_EXPORT int	kc_splice_stats(const struct kc_splice *sp,
		    struct kc_splice_stats *st);

/*
 * How the splice ended, for logs and statistics: what ended it first, and
 * on which side.  side is KC_SPLICE_SIDE_A (a: a relay's client),
 * KC_SPLICE_SIDE_B (b: its upstream) or KC_SPLICE_SIDE_NONE (a limit of
 * the whole splice, a cancel).  err is the status done got.
 *
 *   KC_SPLICE_END_FIN       both directions ended; side's end of file came
 *                           first (the other's followed)
 *   KC_SPLICE_END_RESET     side reset or failed (err: -ECONNRESET, -EPIPE,
 *                           or the socket's error)
 *   KC_SPLICE_END_CONNECT   b's connect failed (err: -ECONNREFUSED,
 *                           -ENOENT, -ETIMEDOUT from the kernel, ...)
 *   KC_SPLICE_END_CONNECT_TIMEOUT  b still connecting after connect_ns
 *   KC_SPLICE_END_IDLE_TIMEOUT     no byte either way for idle_ns
 *   KC_SPLICE_END_HALF_CLOSE_TIMEOUT  side's end of file came, and the
 *                           other direction ran out half_close_ns
 *   KC_SPLICE_END_CANCEL    kc_splice_cancel() or kc_splice_close()
 *   KC_SPLICE_END_ERROR     the splice's own failure (err: -EBADF, -ENOMEM)
 *
 * fin_first is the side whose end of file came first, whatever ended the
 * splice (KC_SPLICE_SIDE_NONE: neither's came).
 */
#define KC_SPLICE_SIDE_NONE	(-1)
#define KC_SPLICE_SIDE_A	0
#define KC_SPLICE_SIDE_B	1

#define KC_SPLICE_END_NONE		0	/* not ended yet */
#define KC_SPLICE_END_FIN		1
#define KC_SPLICE_END_RESET		2
#define KC_SPLICE_END_CONNECT		3
#define KC_SPLICE_END_CONNECT_TIMEOUT	4
#define KC_SPLICE_END_IDLE_TIMEOUT	5
#define KC_SPLICE_END_HALF_CLOSE_TIMEOUT 6
#define KC_SPLICE_END_CANCEL		7
#define KC_SPLICE_END_ERROR		8

struct kc_splice_end {
	int		how;		/* KC_SPLICE_END_* */
	int		side;		/* KC_SPLICE_SIDE_* */
	int		err;		/* 0 or -errno: done's status */
	int		fin_first;	/* KC_SPLICE_SIDE_* */
};

/*
 * One mirror's account (mirror: its index in kc_splice()'s mirrors), final
 * once done has run: bytes written to its socket, bytes it did not get
 * (the drop policy, or its last bytes when it took none for its linger
 * time), and whether it was detached and why (detach_err as in
 * KC_SPLICE_EV_MIRROR_DETACHED; 0 when it was not).
 */
struct kc_splice_mirror_stats {
	uint64_t	written;
	uint64_t	dropped;
	int		detached;	/* 0 or 1 */
	int		detach_err;
};

/*
 * Both may be called once done has run (from done itself, or from any
 * thread after it) and before kc_splice_close(); they copy what the owner
 * wrote before it ran done, so they take no lock.  Errors: -EINVAL (not a
 * splice, the pointer NULL, mirror out of range), -EBUSY (done has not run
 * yet: the end is not known and the counts still move).
 */
KC_EXPORT int	kc_splice_end_info(const struct kc_splice *sp,
		    struct kc_splice_end *end);
KC_EXPORT int	kc_splice_mirror_stats(const struct kc_splice *sp,
		    unsigned mirror, struct kc_splice_mirror_stats *st);

/*
 * Give the splice back, from any thread or continuation (its own done
 * included); it never waits.  A splice still running is cancelled, as by
 * kc_splice_cancel().  done (may be NULL) is triggered once, with obj = sp
 * and status 0, when the library will never touch the splice again: after
 * the splice's own done has run (returned, when the close is called from
 * inside it) and the memory is freed.  Errors: -EINVAL (not a splice),
 * -EBADF (closed already; the pointer is good for that answer only until
 * the first close's done has run).
 */
KC_EXPORT int	kc_splice_close(struct kc_splice *sp, struct kc *done);

/*
 * Bytes held for mirrors in the whole process (teed to a mirror and not yet
 * taken by its socket, in its pipe or in memory), against the cap: no
 * region is given to a mirror if it would take held past cap.  The cap is
 * by default a quarter of the machine's physical memory (at least 64 MiB);
 * kc_splice_mirror_cap() sets it (0: the default again), for every splice
 * at once, from any thread.  peak is the highest held has been (since the
 * last KC_MIRROR_MEM_RESET_PEAK).
 */
struct kc_mirror_mem {
	uint64_t	cap;
	uint64_t	held;
	uint64_t	peak;
};
#define KC_MIRROR_MEM_RESET_PEAK	0x0001u	/* then peak = held */
KC_EXPORT int	kc_splice_mirror_cap(uint64_t cap);
KC_EXPORT int	kc_splice_mirror_mem(struct kc_mirror_mem *st, unsigned flags);

/*
 * The pipe pool of ex (a soft executor): pipes lent now, pipes idle, the
 * size they have, and the fall-backs so far.  Any thread may ask: the
 * owner writes each counter atomically and this reads each atomically, so
 * the fields are each exact but not all of one instant.  An executor that
 * has not spliced yet has no pool: all zero, pipe_size the largest allowed.
 * Errors: -EINVAL (ex NULL or not a soft executor, st NULL).
 */
struct kc_pipe_stats {
	unsigned	lent;
	unsigned	idle;
	size_t		pipe_size;
	uint64_t	fallbacks;
	uint64_t	created;
};
KC_EXPORT int	kc_pipe_stats(struct kc_executor *ex,
		    struct kc_pipe_stats *st);

#ifdef __cplusplus
}
#endif

#endif
