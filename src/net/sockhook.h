/*
 * sockhook.h: how splice.c takes over an owned socket's descriptor.
 *
 * A hooked socket no longer reads its descriptor or reports upcalls: its
 * readiness goes to the hook, on the owner, which reads and writes the
 * descriptor itself.  The socket still does its connect, drains what its
 * own send buffer held before anything reaches the hook's write side, and
 * closes.  Everything here is for the owner's thread only.
 */
#ifndef KC_NET_SOCKHOOK_H
#define KC_NET_SOCKHOOK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/event.h>

#include <kcont/socket.h>

/* filter: EVFILT_READ, EVFILT_WRITE, or 0 (the connect finished or failed). */
typedef void kc__sock_hook_fn(struct kc_socket *s, void *arg, int filter,
    const struct kevent *kev);

/* Install (fn) or remove (NULL) the hook.  -EINVAL if listening or closed. */
int	kc__socket_hook(struct kc_socket *s, kc__sock_hook_fn *fn, void *arg);
int	kc__socket_fd(const struct kc_socket *s);
int	kc__socket_type(const struct kc_socket *s);
/* Move what the receive buffer holds (streams) to the end of into. */
void	kc__socket_take_rcv(struct kc_socket *s, struct kc_chain *into);
/*
 * Read and throw away what the peer sends, a batch at most: 0 at end of
 * file, -EAGAIN (nothing more now), -EINPROGRESS (the batch ran out; the
 * hook's read side runs again soon), or the error.
 */
int	kc__socket_discard(struct kc_socket *s);
/* Has the peer shut (an end of file that no new edge will announce)? */
bool	kc__socket_rdhup(const struct kc_socket *s);
/*
 * The hook gets EVFILT_WRITE once, at the descriptor's next write edge
 * (after_eagain: a write just found no room, so the kernel will announce
 * it) or as soon as it has room (otherwise: epoll looks afresh, a system
 * call).
 */
void	kc__socket_want_write(struct kc_socket *s, bool after_eagain);
/*
 * Stop (pause true) or resume reading: a hook that cannot use what the
 * socket receives (its destination is full) sleeps through the edges.
 * Resuming runs the hook's read side soon, which reads until EAGAIN, so
 * no edge missed meanwhile is lost.  Unhooking resumes.
 */
void	kc__socket_read_pause(struct kc_socket *s, bool pause);
/* Run the hook's read side again soon (a batch ended, data may be left). */
void	kc__socket_read_later(struct kc_socket *s);
/* Close with a reset rather than a FIN (SO_LINGER 0), and give the
 * caller's reference back. */
void	kc__socket_abort(struct kc_socket *s);
/* The socket's linger time (kc_socket_attr.linger_ns, or its default). */
uint64_t kc__socket_linger_ns(const struct kc_socket *s);
/* Record the error the hook found (state bits, kc_socket_error()). */
void	kc__socket_fail(struct kc_socket *s, int err);

#endif
