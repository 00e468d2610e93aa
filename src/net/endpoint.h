/*
 * endpoint.h: a descriptor on its owner's event engine.  Nothing here is
 * public.
 *
 * An endpoint is what every network object of the library builds on: it
 * owns one socket descriptor, its one edge-triggered source in the owner's
 * engine, the state word others read (KC_SS_*), the connect, the shutdown,
 * and the close with linger (shut the sending side, drop what the peer
 * still sends until it ends or the linger time runs out, then close; a
 * reset instead when aborted).  It does not buffer: what is read or written
 * is its user's business.
 *
 * Two parties use an endpoint, each through a table of operations:
 *   - its owner (the object it is embedded in: a kc_socket, a datagram
 *     relay's session), which keeps it alive (eo_hold, eo_rele) and learns
 *     when the descriptor is gone (eo_closed);
 *   - its user, which is handed readiness (eo_read, eo_write) and the
 *     connect's end.  The user is the owner until another object is lent
 *     the endpoint (kc__ep_lend: a splice, a datagram relay take over a
 *     caller's kc_socket).  While lent, the owner still learns a connect's
 *     end first, and the owner's own output (eo_pending) is written before
 *     the user is told of room.
 * Readiness is described as an edge-triggered kqueue knote would: EV_EOF
 * when the peer shut or the descriptor failed, the pending error (fetched,
 * and so cleared) in fflags.  A NULL kevent means "read on": a batch ended
 * with data perhaps left, and no new edge would say so.
 *
 * Everything runs on the owner's executor (asserted in debug builds),
 * except kc__ep_state() and kc__ep_error(), and a close after the owner
 * stopped for good (kc__ep_orphan()).
 */
#ifndef KC_NET_ENDPOINT_H
#define KC_NET_ENDPOINT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/event.h>
#include <sys/socket.h>

#include "core/engine.h"
#include "core/internal.h"
#include "core/lockdebug.h"
#include <kcont/kc.h>
#include <kcont/socket.h>

struct kc__ep;

struct kc__ep_ops {
	/* The user's. */
	void	(*eo_read)(struct kc__ep *ep, void *arg,
		    const struct kevent *kev);
	void	(*eo_write)(struct kc__ep *ep, void *arg,
		    const struct kevent *kev);
	/* The connect ended: 0, or -errno (the endpoint has failed). */
	void	(*eo_connected)(struct kc__ep *ep, void *arg, int err);
	/* The owner's (NULL in a user's table). */
	void	(*eo_hold)(void *arg);
	void	(*eo_rele)(void *arg);
	/* The owner has output of its own still to write (may be NULL). */
	bool	(*eo_pending)(void *arg);
	/* The descriptor is closed; nothing of the endpoint runs again. */
	void	(*eo_closed)(struct kc__ep *ep, void *arg);
};

struct kc__ep {
	int			 ep_fd;		/* -1 once closed */
	int			 ep_domain;
	int			 ep_type;
	uint32_t		 ep_state;	/* KC_SS_*, atomic */
	int			 ep_error;	/* atomic: the first error */
	struct kc_executor	*ep_owner;
	struct kc__engine	*ep_en;
	struct kc__esrc		 ep_src;
	const struct kc__ep_ops	*ep_own;	/* the owner */
	void			*ep_ownarg;
	const struct kc__ep_ops	*ep_user;	/* the owner, or a borrower */
	void			*ep_userarg;
	struct kc		 ep_more;	/* read on soon */
	struct kc		 ep_linger;	/* the close's deadline */
	uint64_t		 ep_linger_ns;
	/* The owner's thread alone. */
	bool			 ep_wnote;	/* a write edge is awaited */
	bool			 ep_rpaused;	/* the user sleeps through reads */
	bool			 ep_rdhup;	/* the peer shut: read to the end */
	bool			 ep_drain;	/* closing: dropping the peer's data */
	bool			 ep_abort;	/* closing with a reset */
	bool			 ep_lingering;	/* ep_linger armed */
	bool			 ep_final;	/* descriptor closed */
	bool			 ep_orphan;	/* owner stopped: closed by a caller */
};

/*
 * Runs on the endpoint's owner, or closes an orphan (see SOCK_ON_OWNER in
 * sock_int.h for why).
 */
#define KC__EP_ON_OWNER(ep)	do {					\
	if (!(ep)->ep_orphan)						\
		KC__ON_EXEC((ep)->ep_owner);				\
} while (0)

/*
 * Set up ep for fd (non-blocking, close-on-exec), owned by arg through
 * ops, with state (KC_SS_* it starts with), and register it: events may
 * come on the owner as soon as this returns.  linger_ns bounds a graceful
 * close.  From any thread; 0 or -errno (fd is the caller's then).
 */
int	kc__ep_init(struct kc__ep *ep, struct kc_executor *owner, int fd,
	    int domain, int type, unsigned state, uint64_t linger_ns,
	    const struct kc__ep_ops *ops, void *arg);

static inline unsigned
kc__ep_state(const struct kc__ep *ep)
{
	return __atomic_load_n(&ep->ep_state, __ATOMIC_ACQUIRE);
}

static inline void
kc__ep_set(struct kc__ep *ep, unsigned bits)
{
	__atomic_or_fetch(&ep->ep_state, bits, __ATOMIC_SEQ_CST);
}

static inline void
kc__ep_clear(struct kc__ep *ep, unsigned bits)
{
	__atomic_and_fetch(&ep->ep_state, ~bits, __ATOMIC_SEQ_CST);
}

/* The first error recorded (negative), or 0.  Any thread. */
static inline int
kc__ep_error(const struct kc__ep *ep)
{
	return __atomic_load_n(&ep->ep_error, __ATOMIC_ACQUIRE);
}

static inline bool
kc__ep_stream(const struct kc__ep *ep)
{
	return ep->ep_type == SOCK_STREAM;
}

/* Record err (the first one wins) and the failed state bits. */
void	kc__ep_fail(struct kc__ep *ep, int err);

/*
 * Lend the endpoint to a user (ops, arg), or give it back to its owner
 * (ops NULL), which also resumes reading.  The owner decides whether it may
 * be lent.
 */
void	kc__ep_lend(struct kc__ep *ep, const struct kc__ep_ops *ops,
	    void *arg);

/*
 * The user gets eo_write once, at the descriptor's next write edge
 * (after_eagain: a write just found no room, so the kernel will announce
 * it) or as soon as it has room (otherwise: epoll looks afresh, a system
 * call).
 */
void	kc__ep_want_write(struct kc__ep *ep, bool after_eagain);
/*
 * Stop (true) or resume reading: a user that cannot take what comes (its
 * destination is full) sleeps through the edges.  Resuming reads on soon,
 * so no edge missed meanwhile is lost.
 */
void	kc__ep_read_pause(struct kc__ep *ep, bool pause);
/* Run the user's read side again soon (a batch ended, data may be left). */
void	kc__ep_read_later(struct kc__ep *ep);
/* Has the peer shut (an end of file that no new edge will announce)? */
static inline bool
kc__ep_rdhup(const struct kc__ep *ep)
{
	return ep->ep_rdhup;
}

/*
 * Read and throw away what the peer sends, a batch at most: 0 at end of
 * file, -EAGAIN (nothing more now), -EINPROGRESS (the batch ran out; the
 * user's read side runs again soon), or the error.
 */
int	kc__ep_discard(struct kc__ep *ep);

/*
 * Connect to a (the state must allow it; checked here): 0 when connected at
 * once, 1 in progress (eo_connected tells the end), or -errno; a refusal
 * at once leaves the endpoint failed.
 */
int	kc__ep_connect(struct kc__ep *ep, const struct kc_sockaddr *a);
/* shutdown(2) of the descriptor (the caller keeps the state bits). */
void	kc__ep_shutdown(struct kc__ep *ep, int how);

/*
 * Start the close's deadline (once; later calls keep the first): when it
 * passes with the descriptor still open, the close becomes a reset.
 */
void	kc__ep_linger(struct kc__ep *ep);
/* Close with a reset (SO_LINGER 0) rather than a FIN, when it closes. */
void	kc__ep_abort(struct kc__ep *ep);
/*
 * Close: a connected stream shuts its sending side and drops what the peer
 * still sends until it ends, within the linger time; then the descriptor
 * goes and the owner's eo_closed runs (perhaps before this returns).
 */
void	kc__ep_close(struct kc__ep *ep);
/* The owner has stopped for good: the caller's thread may close ep. */
void	kc__ep_orphan(struct kc__ep *ep);
/*
 * The owner frees the memory: the endpoint's continuations are cancelled
 * (waiting for one that runs), and a descriptor still open is closed.
 */
void	kc__ep_fini(struct kc__ep *ep);

#endif /* KC_NET_ENDPOINT_H */
