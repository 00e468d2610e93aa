/*
 * kcont/socket.h: sockets owned by one executor (netmp).
 *
 * Every socket belongs to one soft executor, its owner, which alone reads
 * and writes its descriptor and changes its buffers and state, as the
 * protocol thread does in DragonFly's netmp.  Everyone else asks by
 * message: a send from any thread or continuation is queued for the owner
 * whole (so concurrent senders never interleave inside one send); a plain
 * thread's blocking read, write, accept or connect is a message the owner
 * replies when the condition holds, or with the error.  The state bits
 * others read are one atomic word (kc_socket_state()).
 *
 * Data lives in buffer chains (kcont/buf.h).  The receive buffer is filled
 * by the owner from the descriptor up to its high-water mark (past it the
 * owner stops reading and the kernel's flow control takes over); the send
 * buffer holds what was sent but not yet written to the descriptor.  A send
 * is taken into the send buffer while the buffer is below its high-water
 * mark, whole, however large; otherwise it waits, in order, until the
 * buffer drains to its low-water mark.  Nothing is dropped.
 *
 * Upcalls are continuations waiting on the socket's queues, each fired once
 * (enqueue again for the next): KC_SO_READABLE when the receive buffer
 * reaches its low-water mark, at end of file or on an error;
 * KC_SO_WRITABLE when the send buffer is at or below its low-water mark,
 * or sending became impossible; KC_SO_CLOSED when the connection ended
 * (both directions shut, or an error) or the socket was closed.  They are
 * called with obj = the socket and status 0 or the socket's error (a
 * negative errno value), on their own executor: give them the owner (or
 * none, to run inline on the owner) so that kc_socket_recv() may be used.
 *
 * Memory ownership
 *   - struct kc_socket is the library's: kc_socket_create(),
 *     kc_socket_adopt() and accepting return one reference to the caller,
 *     which kc_socket_close() gives back.  The library keeps the socket
 *     alive while it uses it (a message in flight, an upcall or event being
 *     run, the linger after close), so closing from inside the socket's
 *     own upcall is safe.  After kc_socket_close() the caller must not use
 *     the pointer; the close's done continuation says when the memory is
 *     gone (obj is then only a name for the socket that was).
 *   - Send functions take the caller's chain: on success it is left empty
 *     (its bytes now belong to the socket); on an error returned by the
 *     call, it is untouched (handed back).  A send that fails later (the
 *     connection broke while it waited for space) is freed by the library,
 *     and its continuation gets the error.
 *   - Receive functions move bytes into the caller's chain (appended), which
 *     stays the caller's.
 *   - Continuations given for upcalls and completions stay the caller's
 *     storage and must stay valid until they have run.
 *   - struct kc_sockaddr is plain caller-owned data.
 *
 * Functions return 0, a count, or a negative errno value; nothing sets
 * errno, and no signal is raised (SIGPIPE never).  See kc_socket(3).
 */
#ifndef KCONT_SOCKET_H
#define KCONT_SOCKET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <netinet/in.h>

#include <kcont/kc.h>
#include <kcont/buf.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kc_socket;

/* An address of any family the sockets take. */
struct kc_sockaddr {
	union {
		struct sockaddr		sa;
		struct sockaddr_in	in;
		struct sockaddr_in6	in6;
		struct sockaddr_un	un;
		struct sockaddr_storage	ss;
	} a;
	socklen_t	len;
};

/*
 * Parse "127.0.0.1:8080", "[::1]:8080", "unix:/path/to/socket" or
 * "unix:@name" (Linux's abstract namespace).  Numeric only: no name look-up.
 * Port 0 asks for any free port when binding.
 * Errors: -EINVAL (it does not parse; *a is zeroed), -ENAMETOOLONG (path
 * longer than a sockaddr_un holds).
 */
KC_EXPORT int	kc_sockaddr_parse(struct kc_sockaddr *a, const char *str);

/*
 * Format as kc_sockaddr_parse() reads it, NUL-terminated.  Returns the
 * length, or -ENOSPC (buffer too small; nothing useful written), -EINVAL.
 */
KC_EXPORT int	kc_sockaddr_format(const struct kc_sockaddr *a, char *buf,
		    size_t size);

/* kc_socket_state() bits. */
#define KC_SS_CONNECTED		0x0001u	/* connected (streams), or has a default peer */
#define KC_SS_CANTSENDMORE	0x0002u	/* shut for sending: sends fail -EPIPE */
#define KC_SS_CANTRCVMORE	0x0004u	/* no more data will arrive (EOF) */
#define KC_SS_ERROR		0x0008u	/* the connection failed: kc_socket_error() */
#define KC_SS_LISTENING		0x0010u
#define KC_SS_CONNECTING	0x0020u
#define KC_SS_CLOSED		0x0040u	/* kc_socket_close() was called */

/* Upcall queues. */
#define KC_SO_READABLE		1
#define KC_SO_WRITABLE		2
#define KC_SO_CLOSED		3

/* Buffer limits; 0 in a field means its default. */
struct kc_socket_attr {
	size_t		rcv_hiwat;	/* stop reading at this many bytes (256 KiB) */
	size_t		rcv_lowat;	/* READABLE at this many (1) */
	size_t		snd_hiwat;	/* sends wait at this many (256 KiB) */
	size_t		snd_lowat;	/* waiting sends resume, WRITABLE fires (snd_hiwat / 2) */
	uint64_t	linger_ns;	/* close: time to flush the send buffer (5 s) */
};

/*
 * A new socket owned by owner (a soft executor): domain AF_INET, AF_INET6
 * or AF_UNIX, type SOCK_STREAM or SOCK_DGRAM.  attr may be NULL.  TCP
 * sockets (created, adopted or accepted) get TCP_NODELAY: the owner writes
 * each send at once, so Nagle's delay would only add latency.
 * Errors: -EINVAL (owner not a soft executor, bad domain or type, or lowat
 * above hiwat), -ESHUTDOWN (owner shut down), -ENOMEM, -EMFILE and what
 * socket(2) and kc_executor_kqueue() return.
 */
KC_EXPORT int	kc_socket_create(struct kc_socket **sp, struct kc_executor *owner,
		    int domain, int type, const struct kc_socket_attr *attr);

/*
 * Make a socket of a descriptor the caller has (a socket of the families and
 * types above, bound, connected or listening); the socket takes the
 * descriptor (it is closed with the socket, or by this call on failure).
 */
KC_EXPORT int	kc_socket_adopt(struct kc_socket **sp, struct kc_executor *owner,
		    int fd, const struct kc_socket_attr *attr);

/* bind(2) (with SO_REUSEADDR on TCP).  Errors: bind(2)'s, -EINVAL. */
KC_EXPORT int	kc_socket_bind(struct kc_socket *s, const struct kc_sockaddr *a);

/* listen(2) on a bound (or unbound: any port) stream socket. */
KC_EXPORT int	kc_socket_listen(struct kc_socket *s, int backlog);

/* The local or the peer's address.  Errors: getsockname(2)'s. */
KC_EXPORT int	kc_socket_name(struct kc_socket *s, struct kc_sockaddr *a,
		    int peer);

/*
 * Connect; done runs with obj = s and status 0 or the failure (for a
 * datagram socket this sets the default peer and completes at once).
 * done may be NULL: then watch kc_socket_state() or an upcall.
 * Errors: -EISCONN, -EALREADY (a connect is in progress), -EINVAL, -EBADF
 * (closed).  Failures after the call (refused, unreachable) go to done.
 */
KC_EXPORT int	kc_socket_connect(struct kc_socket *s, const struct kc_sockaddr *a,
		    struct kc *done);

/*
 * Accept one connection on a listening socket for owner (a soft executor;
 * any, not only the listener's): done runs with obj = the new socket
 * (a reference for the caller) and status 0, or obj NULL and a negative
 * errno value (-ECANCELED when the listener is closed first).  Requests from
 * any number of executors queue on the listener and are served in order,
 * one connection each, so one listener can feed them all.
 * Errors: -EINVAL (not listening, owner not soft), -EBADF (closed), -ENOMEM.
 */
KC_EXPORT int	kc_socket_accept(struct kc_socket *s, struct kc_executor *owner,
		    struct kc *done);

/*
 * Send chain (to may be NULL; for a datagram socket without a default peer
 * it names the destination; one call is one datagram).  Works from any
 * thread and any continuation.  The chain is taken whole, after every send
 * queued before it; done (may be NULL) runs with obj = s when the send
 * buffer took it (status 0), or when it failed (the chain is then freed).
 * Errors (chain untouched): -EPIPE (shut for sending, or closed),
 * -ENOTCONN (not connected, no to), -EMSGSIZE (a datagram above 65507
 * bytes), -EINVAL, -ENOMEM, and the socket's error if it has one.
 */
KC_EXPORT int	kc_socket_send(struct kc_socket *s, struct kc_chain *chain,
		    const struct kc_sockaddr *to, struct kc *done);

/*
 * Send length bytes of file f from offset off on stream socket s, without
 * copying them through user space (on the owner: the file's pages go to
 * the socket through a pipe).  It is an entry of the send queue like a
 * kc_socket_send(): it goes after every send queued before it and before
 * every send queued after it, from any thread, and no send is split.
 * done runs with obj = s when it has ended, and status:
 *   - the bytes sent (capped at INT_MAX: *sent has the exact count): all of
 *     length, or fewer when the file ended first (it is shorter than
 *     off + length, or shrank during the send), as a short read; 0 for a
 *     length of 0 or an offset at or past the end of the file;
 *   - or a negative errno value: -ECONNRESET or -EPIPE (the peer reset or
 *     closed the connection half way), the socket's error, -ECANCELED (the
 *     socket was closed before the entry was reached, or its linger ran
 *     out), or the file's read error (-EIO ...).
 * sent (may be NULL) is set, before done runs, to the bytes handed to the
 * connection, whatever the status: after an error, what went before it.
 * length may be any 64-bit count: a status above INT_MAX is read in *sent.
 * The send holds f: a kc_file_close() meanwhile waits until done has run
 * (f must not be closed before this call returns).  sent and done are the
 * caller's storage and must stay valid until done has run.  The owner
 * moves the bytes: a ring entry fills one of its pipes from the file when
 * f uses io_uring (a read from the disk never stops the owner), else
 * sendfile(2), which waits for it; see kc_socket(3).
 * Errors at once (done will not run): -EINVAL (a NULL socket, file or
 * done, a datagram socket, off + length past 2^63 - 1), -EBADF (the file is
 * closing), -EPIPE (shut for sending or closed), -ENOTCONN, the socket's
 * error, -ENOMEM.
 */
struct kc_file;
KC_EXPORT int	kc_socket_sendfile(struct kc_socket *s, struct kc_file *f,
		    uint64_t off, uint64_t length, uint64_t *sent,
		    struct kc *done);

/*
 * On the owner only (in an upcall, typically): move up to max bytes from
 * the receive buffer to the end of into (a datagram socket: the next
 * datagram whole, or truncated to max; from gets its sender if not NULL).
 * Returns the bytes moved; 0 at end of file (nothing buffered, no more
 * coming); -EAGAIN (nothing yet), the socket's error once the data before
 * it is consumed, -EPERM (not called on the owner), -EINVAL.
 */
KC_EXPORT ssize_t kc_socket_recv(struct kc_socket *s, struct kc_chain *into,
		    size_t max, struct kc_sockaddr *from);

/*
 * Make kc wait on one of the socket's upcall queues (KC_SO_*).  If the
 * condition holds already it fires at once.  Errors: -EINVAL, -EBUSY (kc is
 * pending elsewhere).
 */
KC_EXPORT int	kc_socket_upcall(struct kc_socket *s, int which, struct kc *kc);

/*
 * Blocking calls for plain threads: each is a message to the owner, replied
 * when the condition holds, or with the error.  timeout_ns: KC_WAIT_FOREVER
 * for none; when it passes they return -ETIMEDOUT with nothing consumed.
 * Not from the owner's own thread (-EDEADLK).
 *
 * kc_socket_recv_wait: like kc_socket_recv() but waits for data, end of file
 *   (returns 0) or an error (-ECONNRESET and so on).
 * kc_socket_send_wait: like kc_socket_send() but waits until the send buffer
 *   takes the chain; returns its length.  On an error the chain is untouched.
 * kc_socket_accept_wait: waits for a connection, for owner.
 * kc_socket_connect_wait: connects and waits for the outcome.
 */
KC_EXPORT ssize_t kc_socket_recv_wait(struct kc_socket *s,
		    struct kc_chain *into, size_t max, struct kc_sockaddr *from,
		    uint64_t timeout_ns);
KC_EXPORT ssize_t kc_socket_send_wait(struct kc_socket *s,
		    struct kc_chain *chain, const struct kc_sockaddr *to,
		    uint64_t timeout_ns);
KC_EXPORT int	kc_socket_accept_wait(struct kc_socket *s,
		    struct kc_executor *owner, struct kc_socket **newp,
		    uint64_t timeout_ns);
KC_EXPORT int	kc_socket_connect_wait(struct kc_socket *s,
		    const struct kc_sockaddr *a, uint64_t timeout_ns);

/*
 * Shut one or both directions (SHUT_RD, SHUT_WR, SHUT_RDWR), from any
 * thread.  SHUT_WR takes effect after what the send buffer holds is
 * written (the peer gets everything, then end of file); sends after it fail
 * with -EPIPE.  SHUT_RD drops what is buffered and makes reads return 0.
 * Errors: -EINVAL, -ENOTCONN, -EBADF (closed).
 */
KC_EXPORT int	kc_socket_shutdown(struct kc_socket *s, int how);

/*
 * Close and give back the caller's reference, from any thread or
 * continuation (the socket's own upcalls included); it never waits.  What
 * the send buffer holds is still written, for at most linger_ns, then the
 * descriptor is closed; sends still waiting for space, blocked calls and
 * accept requests are answered -ECANCELED; continuations still waiting on
 * upcall queues fire once with -ECANCELED.  done (may be NULL) is
 * triggered once, with obj = s and status 0, when the library will never
 * touch the socket again: after the linger, the descriptor closed and the
 * memory freed (kc_socket_count() no longer counts it).
 * Errors: -EINVAL (not a socket), -EBADF (closed already; the pointer is
 * good for that answer only until the first close's done has run).
 */
KC_EXPORT int	kc_socket_close(struct kc_socket *s, struct kc *done);

/* KC_SS_* bits (an atomic snapshot; any thread). */
KC_EXPORT unsigned kc_socket_state(const struct kc_socket *s);

/* The socket's error: 0 or a negative errno value (any thread). */
KC_EXPORT int	kc_socket_error(const struct kc_socket *s);

/* Bytes in the receive and send buffers (snapshots; any thread). */
KC_EXPORT size_t kc_socket_rcvbytes(const struct kc_socket *s);
KC_EXPORT size_t kc_socket_sndbytes(const struct kc_socket *s);

/* The owning executor. */
KC_EXPORT struct kc_executor *kc_socket_owner(const struct kc_socket *s);

/* Sockets alive in the process (created or accepted, not yet freed). */
KC_EXPORT long	kc_socket_count(void);

#ifdef __cplusplus
}
#endif

#endif /* KCONT_SOCKET_H */
