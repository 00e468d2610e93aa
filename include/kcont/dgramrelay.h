/*
 * kcont/dgramrelay.h: a datagram relay with a session per client.
 *
 * Datagrams arriving on a listener (an unconnected datagram socket) are
 * relayed to an upstream from a socket of their own per client address (a
 * session) and teed to mirrors; what the upstream sends back to a session
 * goes to its client from the listener.  It runs on the listener's owner
 * (a soft executor), as continuations; the datagrams move in batches of
 * recvmmsg(2) and sendmmsg(2), as in a datagram splice (kcont/splice.h),
 * and are counted in the same struct kc_splice_stats.
 *
 * Memory ownership
 *   - struct kc_dgram_relay is the library's: kc_dgram_relay_create()
 *     returns it, kc_dgram_relay_close() gives it back; the close's done
 *     says when the memory is gone (obj is then only a name).
 *   - The relay takes the caller's reference to the listener when it is
 *     created, and closes it when it ends; the sessions' sockets are its
 *     own.  When creation fails the listener is still the caller's.
 *   - The attr structure and the mirror addresses are copied; the account
 *     counters and shared_sessions it points to are the caller's and must
 *     outlive the relay.
 *
 * Functions return 0 or a negative errno value; nothing sets errno.  See
 * kc_dgram_relay_create(3).
 */
#ifndef KCONT_DGRAMRELAY_H
#define KCONT_DGRAMRELAY_H

#include <stddef.h>
#include <stdint.h>

#include <kcont/kc.h>
#include <kcont/socket.h>
#include <kcont/splice.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kc_dgram_relay;

/*
 * A datagram relay: datagrams arriving on listener (an unconnected
 * datagram socket) are relayed to upstream from a socket of their own per
 * client address (a session), and teed to the mirrors; what upstream sends
 * back to a session goes to its client from the listener.  Boundaries and
 * order are kept.  A session ends after session_idle_ns with no datagram
 * either way; past max_sessions a datagram from a new client is dropped
 * (counted).  admit (may be NULL) is asked about each new client: 0 lets
 * it in, anything else drops its datagram (counted as denied).  The relay
 * takes the caller's reference to listener.  Mirrors of a datagram relay
 * never wait: a datagram a mirror cannot take at once is dropped for it.
 */
struct kc_dgram_relay_attr {
	uint64_t	session_idle_ns;	/* 60 s */
	unsigned	max_sessions;		/* 4096 */
	const struct kc_sockaddr *mirrors;	/* copied; up to
						   KC_SPLICE_MIRRORS_MAX */
	unsigned	nmirrors;
	struct kc_splice_stats *account;	/* or NULL */
	unsigned	*shared_sessions;	/* several relays' count (or NULL):
						   max_sessions caps their sum */
	int		(*admit)(void *arg, const struct kc_sockaddr *client);
	void		(*event)(void *arg, int event,
			    const struct kc_sockaddr *client, int err);
	void		*arg;
	/*
	 * Which mirrors a new session is teed to (or NULL: all): asked once
	 * a session is admitted, bit i for mirrors[i]; a mirror whose bit
	 * is clear has no socket in that session.
	 */
	uint32_t	(*mirror_pick)(void *arg,
			    const struct kc_sockaddr *client);
	/*
	 * A session's own state for the caller, and what it carries (each
	 * may be NULL; all are called on the owner, or, for a relay closed
	 * once its owner has stopped, by the closing thread, when nothing of
	 * the owner runs any more).  session_begin once a
	 * session is open: what it returns (the caller's; NULL allowed) is
	 * given to tap and session_end.  tap with each datagram the session
	 * carries, as it is read and before it is sent on: dir
	 * KC_SPLICE_FWD (the client's) or KC_SPLICE_REV (the upstream's
	 * reply); data is lent for the call.  session_end once, when the
	 * session ends: err 0 (idle for session_idle_ns) or -ECANCELED (the
	 * relay was closed); after it, the pointer is not used again.
	 */
	void		*(*session_begin)(void *arg,
			    const struct kc_sockaddr *client);
	void		(*tap)(void *arg, void *session, int dir,
			    const void *data, size_t len);
	void		(*session_end)(void *arg, void *session, int err);
};

/* kc_dgram_relay_attr.event events. */
#define KC_DGRAM_EV_OPEN	1	/* a session began */
#define KC_DGRAM_EV_EXPIRED	2	/* a session ended: idle */
#define KC_DGRAM_EV_FULL	3	/* dropped: max_sessions reached */
#define KC_DGRAM_EV_DENIED	4	/* dropped: admit said no */
#define KC_DGRAM_EV_ERROR	5	/* a session's socket failed (err) */

struct kc_dgram_relay_stats {
	uint64_t	sessions;	/* open now */
	uint64_t	opened;
	uint64_t	expired;
	uint64_t	refused;	/* max_sessions */
	uint64_t	denied;		/* admit */
	struct kc_splice_stats bytes;
};

KC_EXPORT int	kc_dgram_relay_create(struct kc_dgram_relay **rp,
		    struct kc_socket *listener,
		    const struct kc_sockaddr *upstream,
		    const struct kc_dgram_relay_attr *attr);
KC_EXPORT int	kc_dgram_relay_stats(const struct kc_dgram_relay *r,
		    struct kc_dgram_relay_stats *st);
/*
 * End every session, close the listener and give the relay back, from any
 * thread or continuation (the relay's own admit and event functions
 * included); it never waits.  The work is queued on the owner, so done
 * (may be NULL) is triggered once, with obj = r and status 0, from the
 * owner once the relay has let its sockets go and its memory is freed (at
 * once, from this call, when the owner is shut down).  Errors: -EINVAL
 * (not a relay), -EBADF (closed already; the pointer is good for that
 * answer only until the first close's done has run).
 */
KC_EXPORT int	kc_dgram_relay_close(struct kc_dgram_relay *r,
		    struct kc *done);

#ifdef __cplusplus
}
#endif

#endif /* KCONT_DGRAMRELAY_H */
