/*
 * socklend.h: what an owned socket gives the objects built on it (splice.c,
 * dgramrelay.c).  Nothing here is public; everything is for the socket's
 * owner's thread, except kc__socket_ep().
 *
 * Such an object is lent the socket's endpoint (net/endpoint.h) and from
 * then on reads and writes the descriptor itself, through the endpoint's
 * calls: the socket no longer reads it or reports upcalls.  The socket
 * still finishes its connect, writes what its own send buffer held before
 * the borrower is told of room, and closes.
 */
#ifndef KC_NET_SOCKLEND_H
#define KC_NET_SOCKLEND_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <kcont/socket.h>

struct kc__ep;
struct kc__ep_ops;

/* The socket's endpoint, or NULL if s is not a live socket.  Any thread. */
struct kc__ep *kc__socket_ep(const struct kc_socket *s);
/*
 * Lend the endpoint to ops/arg, or take it back (ops NULL).  -EINVAL if
 * listening or closed.  A socket that had stopped reading at its
 * high-water mark left data no new edge will announce: the borrower's
 * read side runs once soon.
 */
int	kc__socket_lend(struct kc_socket *s, const struct kc__ep_ops *ops,
	    void *arg);
/* Move what the receive buffer holds (streams) to the end of into. */
void	kc__socket_take_rcv(struct kc_socket *s, struct kc_chain *into);
/*
 * Take what a reader would get from the receive buffer (at most max
 * bytes, one datagram), as kc_socket_recv(): the length, 0 at the end,
 * -EAGAIN, or the error.
 */
ssize_t	kc__socket_take(struct kc_socket *s, struct kc_chain *into,
	    size_t max, struct kc_sockaddr *from);
/* shutdown as kc_socket_shutdown() on the owner: SHUT_WR once drained. */
void	kc__socket_shutdown(struct kc_socket *s, int how);
/*
 * Close, giving the caller's reference back: gracefully (from any thread,
 * as kc_socket_close()), or (abort, on the owner) with a reset rather than
 * a FIN and nothing more flushed.
 */
void	kc__socket_close(struct kc_socket *s, bool abort);

#endif
