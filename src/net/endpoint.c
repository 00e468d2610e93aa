/*
 * endpoint.c: a socket descriptor on its owner's event engine (endpoint.h).
 *
 * The descriptor is one edge-triggered source, registered once: always the
 * read edges; the write edges from the first time a write or connect waits
 * (EPOLLOUT then stays in, since for a stream the kernel announces room
 * only after a write found none, and is taken out again when an edge came
 * that nobody wanted: a datagram socket's, after each send).  Waiting for
 * room and pausing reads are flags: no system call.
 *
 * Closing is in two steps the owner drives: kc__ep_linger() starts the
 * deadline while the owner flushes what it holds, kc__ep_close() shuts
 * and drains the descriptor, then closes it.  The deadline bounds both.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "kqueue/kqapi.h"
#include "net/endpoint.h"

#define EP_EV		(EPOLLIN | EPOLLRDHUP | EPOLLET)
#define DISCARD_BATCH	64	/* reads thrown away per readiness event */

static kc_fn ep_more_fn, ep_linger_fn;
static kc__esrc_fn ep_event;
static void ep_finalize(struct kc__ep *ep);

static void
hold(struct kc__ep *ep)
{
	ep->ep_own->eo_hold(ep->ep_ownarg);
}

static void
rele(struct kc__ep *ep)
{
	ep->ep_own->eo_rele(ep->ep_ownarg);
}

int
kc__ep_init(struct kc__ep *ep, struct kc_executor *owner, int fd,
    int domain, int type, unsigned state, uint64_t linger_ns,
    const struct kc__ep_ops *ops, void *arg)
{
	struct kc__engine *en = kc__exec_engine(owner);
	int r;

	if (en == NULL)
		return -EINVAL;
	memset(ep, 0, sizeof(*ep));
	ep->ep_fd = fd;
	ep->ep_domain = domain;
	ep->ep_type = type;
	ep->ep_state = state;
	ep->ep_owner = owner;
	ep->ep_en = en;
	ep->ep_own = ep->ep_user = ops;
	ep->ep_ownarg = ep->ep_userarg = arg;
	ep->ep_linger_ns = linger_ns;
	if ((r = kc_init(&ep->ep_more, ep_more_fn, ep, owner, 0)) != 0 ||
	    (r = kc_init(&ep->ep_linger, ep_linger_fn, ep, owner, 0)) != 0)
		return r;
	ep->ep_src.es_fn = ep_event;
	return kc__engine_add(en, &ep->ep_src, fd, EP_EV);
}

void
kc__ep_fini(struct kc__ep *ep)
{
	(void)kc_cancel_sync(&ep->ep_more);
	(void)kc_cancel_sync(&ep->ep_linger);
	if (ep->ep_fd >= 0) {
		kc__engine_del(ep->ep_en, &ep->ep_src);
		kc__close(ep->ep_fd);
		ep->ep_fd = -1;
	}
}

void
kc__ep_fail(struct kc__ep *ep, int err)
{
	int zero = 0;

	KC__EP_ON_OWNER(ep);
	(void)__atomic_compare_exchange_n(&ep->ep_error, &zero, err, false,
	    __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE);
	kc__ep_set(ep, KC_SS_ERROR | KC_SS_CANTSENDMORE | KC_SS_CANTRCVMORE);
	kc__ep_clear(ep, KC_SS_CONNECTING);
}

void
kc__ep_lend(struct kc__ep *ep, const struct kc__ep_ops *ops, void *arg)
{
	KC__EP_ON_OWNER(ep);
	if (ops == NULL) {
		kc__ep_read_pause(ep, false);
		ops = ep->ep_own;
		arg = ep->ep_ownarg;
	}
	ep->ep_user = ops;
	ep->ep_userarg = arg;
}

/* ------------------------------------------------------------------ */
/* Waiting for the descriptor. */

static bool
write_edges(struct kc__ep *ep)
{
	return (ep->ep_src.es_mask & EPOLLOUT) ||
	    kc__engine_mod(ep->ep_en, &ep->ep_src, EP_EV | EPOLLOUT) == 0;
}

void
kc__ep_want_write(struct kc__ep *ep, bool after_eagain)
{
	KC__EP_ON_OWNER(ep);
	if (ep->ep_wnote || ep->ep_final)
		return;
	if (!after_eagain && (ep->ep_src.es_mask & EPOLLOUT)) {
		/* Room may be there already: epoll looks afresh. */
		if (kc__engine_rearm(ep->ep_en, &ep->ep_src) != 0)
			return;
	} else if (!write_edges(ep)) {
		return;
	}
	ep->ep_wnote = true;
}

void
kc__ep_read_later(struct kc__ep *ep)
{
	hold(ep);
	if (kc_defer(&ep->ep_more, ep, 0) != 0)
		rele(ep);
}

void
kc__ep_read_pause(struct kc__ep *ep, bool pause)
{
	KC__EP_ON_OWNER(ep);
	if (ep->ep_rpaused == pause || ep->ep_final)
		return;
	ep->ep_rpaused = pause;
	/* Edges that came while paused were not acted on: read now. */
	if (!pause)
		kc__ep_read_later(ep);
}

int
kc__ep_discard(struct kc__ep *ep)
{
	static __thread char sink[16384];
	int i;

	KC__EP_ON_OWNER(ep);
	for (i = 0; i < DISCARD_BATCH; i++) {
		ssize_t n = recv(ep->ep_fd, sink, sizeof(sink),
		    MSG_DONTWAIT | MSG_TRUNC);

		if (n > 0 || (n < 0 && errno == EINTR))
			continue;
		return n == 0 ? 0 : -errno;
	}
	kc__ep_read_later(ep);
	return -EINPROGRESS;
}

/* ------------------------------------------------------------------ */
/* Connecting. */

int
kc__ep_connect(struct kc__ep *ep, const struct kc_sockaddr *a)
{
	unsigned st = kc__ep_state(ep);
	int e;

	KC__EP_ON_OWNER(ep);
	if (st & KC_SS_CLOSED)
		return -EBADF;
	if (st & KC_SS_CONNECTING)
		return -EALREADY;
	if ((st & KC_SS_CONNECTED) && kc__ep_stream(ep))
		return -EISCONN;
	if (st & KC_SS_LISTENING)
		return -EINVAL;
	if (a->a.sa.sa_family != ep->ep_domain)
		return -EAFNOSUPPORT;
	if (connect(ep->ep_fd, &a->a.sa, a->len) == 0) {
		(void)KC__TR3(KC_TR_SOCK_CONNECT, ep->ep_ownarg, ep->ep_fd, 0);
		kc__ep_set(ep, KC_SS_CONNECTED);
		return 0;
	}
	if (errno == EINPROGRESS) {
		kc__ep_set(ep, KC_SS_CONNECTING);
		kc__ep_want_write(ep, true);
		return 1;
	}
	/* Refused at once (a UNIX path nobody listens on): failed. */
	e = -errno;
	(void)KC__TR3(KC_TR_SOCK_CONNECT, ep->ep_ownarg, ep->ep_fd,
	    (int64_t)e);
	kc__ep_fail(ep, e);
	return e;
}

/*
 * An edge came while connecting: find out how it ended, and tell the
 * owner, then a borrower.  The kqueue-style event may carry the error,
 * already fetched.
 */
static void
connect_done(struct kc__ep *ep, const struct kevent *kev)
{
	int err = 0;
	socklen_t el = sizeof(err);

	if (kev != NULL && (kev->flags & EV_EOF) && kev->fflags != 0)
		err = (int)kev->fflags;
	else if (getsockopt(ep->ep_fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
		err = errno;
	if (err == 0) {
		struct sockaddr_storage peer;
		socklen_t pl = sizeof(peer);

		if (getpeername(ep->ep_fd, (struct sockaddr *)&peer,
		    &pl) != 0) {
			/*
			 * Not connected.  A hang-up means it failed (the error
			 * was fetched already); otherwise it goes on.
			 */
			if (kev == NULL || !(kev->flags & EV_EOF)) {
				kc__ep_want_write(ep, true);
				return;
			}
			err = ECONNREFUSED;
		}
	}
	(void)KC__TR3(KC_TR_SOCK_CONNECT, ep->ep_ownarg, ep->ep_fd,
	    (int64_t)-err);
	if (err != 0) {
		kc__ep_fail(ep, -err);
	} else {
		kc__ep_clear(ep, KC_SS_CONNECTING);
		kc__ep_set(ep, KC_SS_CONNECTED);
	}
	ep->ep_own->eo_connected(ep, ep->ep_ownarg, -err);
	if (ep->ep_user != ep->ep_own && !ep->ep_final)
		ep->ep_user->eo_connected(ep, ep->ep_userarg, -err);
}

/* ------------------------------------------------------------------ */
/* Readiness, on the owner, from its engine. */

static void
dispatch_read(struct kc__ep *ep, const struct kevent *kev)
{
	if (ep->ep_drain) {
		int r = ep->ep_final ? -EAGAIN : kc__ep_discard(ep);

		if (r != -EAGAIN && r != -EINPROGRESS)
			ep_finalize(ep);
		return;
	}
	if (ep->ep_final)
		return;
	if (kev != NULL && (kev->flags & EV_EOF)) {
		ep->ep_rdhup = true;
		if (kc__ep_state(ep) & KC_SS_CONNECTING) {
			/* A failed connect: this event has the error. */
			connect_done(ep, kev);
			return;
		}
	}
	/* Nothing to read before the connect ends. */
	if (kc__ep_state(ep) & KC_SS_CONNECTING)
		return;
	ep->ep_user->eo_read(ep, ep->ep_userarg, kev);
}

static void
dispatch_write(struct kc__ep *ep, const struct kevent *kev)
{
	ep->ep_wnote = false;	/* once per wait */
	if (kc__ep_state(ep) & KC_SS_CONNECTING) {
		connect_done(ep, kev);
		return;
	}
	/* A borrower writes once the owner's own output has gone. */
	if (ep->ep_user != ep->ep_own && ep->ep_own->eo_pending != NULL &&
	    ep->ep_own->eo_pending(ep->ep_ownarg)) {
		ep->ep_own->eo_write(ep, ep->ep_ownarg, kev);
		if (ep->ep_final || ep->ep_own->eo_pending(ep->ep_ownarg))
			return;
	}
	ep->ep_user->eo_write(ep, ep->ep_userarg, kev);
}

/*
 * Each direction is handed what an edge-triggered READ or WRITE knote
 * would have said, the read side first, as a kqueue delivers two knotes
 * of one descriptor.
 */
static void
ep_event(struct kc__esrc *src, uint32_t ev)
{
	struct kc__ep *ep = (struct kc__ep *)(void *)((char *)src -
	    offsetof(struct kc__ep, ep_src));
	bool conn = kc__ep_stream(ep) &&
	    !(kc__ep_state(ep) & KC_SS_LISTENING);
	struct kevent kev;
	int err = 0;

	KC__EP_ON_OWNER(ep);
	hold(ep);
	if (ev & EPOLLERR) {
		socklen_t el = sizeof(err);

		if (getsockopt(ep->ep_fd, SOL_SOCKET, SO_ERROR, &err,
		    &el) != 0)
			err = errno;
	}
	memset(&kev, 0, sizeof(kev));
	kev.ident = (uintptr_t)ep->ep_fd;
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		kev.filter = EVFILT_READ;
		kev.data = (ev & EPOLLIN) ? 1 : 0;
		kev.fflags = (unsigned)err;
		if ((conn && (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))) ||
		    err != 0)
			kev.flags = EV_EOF;
		if (!ep->ep_rpaused || ep->ep_drain)
			dispatch_read(ep, &kev);
		else if (kev.flags & EV_EOF)
			ep->ep_rdhup = true;	/* read to the end on resuming */
	}
	if ((ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) && !ep->ep_final) {
		if (ep->ep_wnote) {
			kev.filter = EVFILT_WRITE;
			kev.data = (ev & EPOLLOUT) ? 1 : 0;
			kev.fflags = (unsigned)err;
			kev.flags = (ev & (EPOLLHUP | EPOLLERR)) ? EV_EOF : 0;
			dispatch_write(ep, &kev);
		} else if (!(ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP |
		    EPOLLERR))) {
			/* A write edge nobody waits for: stop them. */
			(void)kc__engine_mod(ep->ep_en, &ep->ep_src, EP_EV);
		}
	}
	rele(ep);
}

/* A batch ended with the descriptor maybe not drained: read on. */
static void
ep_more_fn(void *obj, void *env, int status)
{
	struct kc__ep *ep = env;
	uint32_t n = kc_coalesced();

	KC__EP_ON_OWNER(ep);
	(void)obj;
	(void)status;
	hold(ep);
	if (ep->ep_drain || !ep->ep_rpaused)
		dispatch_read(ep, NULL);
	while (n-- > 0)
		rele(ep);
	rele(ep);
}

/* ------------------------------------------------------------------ */
/* Shutting and closing. */

void
kc__ep_shutdown(struct kc__ep *ep, int how)
{
	KC__EP_ON_OWNER(ep);
	if (ep->ep_fd >= 0)
		(void)shutdown(ep->ep_fd, how);
}

void
kc__ep_linger(struct kc__ep *ep)
{
	KC__EP_ON_OWNER(ep);
	if (ep->ep_lingering || ep->ep_final)
		return;
	hold(ep);
	ep->ep_lingering = true;
	if (kc_defer_after(&ep->ep_linger, ep->ep_linger_ns, ep, 0) != 0) {
		/* No deadline to be had (the owner shut down): no waiting. */
		ep->ep_lingering = false;
		rele(ep);
	}
}

void
kc__ep_abort(struct kc__ep *ep)
{
	struct linger lg = { 1, 0 };

	KC__EP_ON_OWNER(ep);
	ep->ep_abort = true;
	if (ep->ep_fd >= 0)
		(void)setsockopt(ep->ep_fd, SOL_SOCKET, SO_LINGER, &lg,
		    sizeof(lg));
}

/*
 * A graceful close of a stream: closing while the peer's data is still
 * unread would make the kernel answer with a reset and throw away what we
 * sent and it has not read.  So shut our side (the peer gets all of it,
 * then end of file) and read and drop its data until it ends too, for at
 * most the linger time.  True while that goes on.
 */
static bool
draining(struct kc__ep *ep)
{
	unsigned st = kc__ep_state(ep);
	int r;

	if (ep->ep_abort || (st & KC_SS_ERROR))
		return false;
	if (!ep->ep_drain) {
		if (!kc__ep_stream(ep) || !(st & KC_SS_CONNECTED) ||
		    (st & KC_SS_LISTENING))
			return false;
		ep->ep_drain = true;
		(void)shutdown(ep->ep_fd, SHUT_WR);
	}
	r = kc__ep_discard(ep);
	if (r != -EAGAIN && r != -EINPROGRESS)
		return false;
	kc__ep_linger(ep);
	return ep->ep_lingering;
}

/* The descriptor goes, and the owner learns it. */
static void
ep_finalize(struct kc__ep *ep)
{
	if (ep->ep_final)
		return;
	ep->ep_final = true;
	(void)KC__TR2(KC_TR_SOCK_CLOSE, ep->ep_ownarg, ep->ep_fd);
	kc__engine_del(ep->ep_en, &ep->ep_src);
	kc__close(ep->ep_fd);
	ep->ep_fd = -1;
	if (ep->ep_lingering && kc_cancel(&ep->ep_linger) > 0) {
		ep->ep_lingering = false;
		rele(ep);
	}
	ep->ep_own->eo_closed(ep, ep->ep_ownarg);
}

void
kc__ep_close(struct kc__ep *ep)
{
	KC__EP_ON_OWNER(ep);
	if (ep->ep_final || draining(ep))
		return;
	ep_finalize(ep);
}

/* The deadline passed: the peer would not take it all; reset. */
static void
ep_linger_fn(void *obj, void *env, int status)
{
	struct kc__ep *ep = env;

	KC__EP_ON_OWNER(ep);
	(void)obj;
	(void)status;
	ep->ep_lingering = false;
	if (!ep->ep_final) {
		kc__ep_abort(ep);
		ep_finalize(ep);
	}
	rele(ep);
}

void
kc__ep_orphan(struct kc__ep *ep)
{
	ep->ep_orphan = true;
}
