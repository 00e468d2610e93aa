/*
 * sock_int.h: what the files of owned sockets share (socket.c, the
 * endpoint and the stream protocol; sockdgram.c, the datagram protocol).
 * Nothing here is public.
 *
 * A socket's behaviour that differs between streams and datagrams is a
 * table of operations (struct kc__sock_proto), chosen at creation: how
 * the descriptor is read into the receive buffer, how a reader takes from
 * it, how a send joins the send buffer and how that is written out, what
 * a send must satisfy, and when a reader is to be woken.  Everything runs
 * on the socket's owner.
 */
#ifndef KC_NET_SOCK_INT_H
#define KC_NET_SOCK_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/engine.h"
#include "core/internal.h"
#include "core/list.h"
#include "core/lockdebug.h"
#include "net/endpoint.h"
#include "net/socklend.h"
#include <kcont/socket.h>

struct kc__sock_proto;

#define DGRAM_MAX	65507u
#define DGRAM_COST	64u	/* buffer accounting per datagram, beyond its bytes */
#define READ_BATCH	64	/* datagrams or reads per readiness event */

enum sop {
	OP_SEND = 1, OP_READ, OP_WRITE, OP_ACCEPT, OP_CONNECT, OP_SHUTDOWN,
	OP_CLOSE, OP_SENDFILE,
};

struct kc__sf;

/* A request to the owner; parked ones wait on the owner's lists. */
struct sreq {
	struct kc_msg		 r_msg;
	struct kc_socket	*r_sock;
	struct kc__link		 r_link;	/* on r_list */
	struct kc__list		*r_list;	/* the owner's list it waits on */
	enum sop		 r_op;
	bool			 r_parked;	/* on r_list, or the connect */
	bool			 r_hasaddr;
	int			 r_how;
	size_t			 r_max;
	bool			 r_taken;	/* write: the send buffer took it */
	struct kc_chain		 r_chain;	/* send, write: data; read: result */
	struct kc_sockaddr	 r_addr;	/* send to, connect to, read from */
	struct kc		*r_done;
	struct kc_executor	*r_owner;	/* accept: for whom */
	struct kc_socket	*r_new;		/* accept: the result */
	struct kc__sf		*r_sf;		/* sendfile: the file range */
	bool			 r_onowner;	/* sendfile: counted in so_sfposted */
};

/* A received or queued datagram. */
struct dgram {
	struct kc__link		 d_link;
	struct kc_chain		 d_chain;
	struct kc_sockaddr	 d_addr;
	bool			 d_hasaddr;
};

struct kc_socket {
	uintptr_t		 so_magic;
	uint32_t		 so_refs;
	struct kc__ep		 so_ep;		/* descriptor, state, connect, close */
	const struct kc__sock_proto *so_proto;	/* stream or datagram */
	struct kc_executor	*so_owner;
	struct kc_port		 so_port;
	struct kc		 so_ukc;	/* look at the upcall queues */
	struct sreq		*so_closereq;	/* made with the socket: close never fails */
	struct kc		 so_gone;	/* the port has ended: free the rest */
	struct kc		*so_done;	/* the close's done, or NULL */
	struct kc_queue		 so_q[3];	/* READABLE, WRITABLE, CLOSED */
	struct kc_socket_attr	 so_attr;

	/* The owner's alone. */
	struct kc_chain		 so_rcv;	/* stream data */
	struct kc_chain		 so_snd;
	struct kc__list		 so_rdg;	/* datagrams in */
	struct kc__list		 so_sdg;	/* datagrams out */
	size_t			 so_rcvbytes;	/* atomic for readers */
	size_t			 so_sndbytes;	/* atomic for readers */
	struct kc__list		 so_readers;	/* blocked reads */
	struct kc__list		 so_writers;	/* sends waiting for space */
	struct kc__list		 so_acceptors;
	struct sreq		*so_connreq;
	bool			 so_rstopped;	/* receive buffer full: not reading */
	bool			 so_wblocked;	/* the descriptor took no more */
	bool			 so_shutwr;	/* SHUT_WR once the send side drains */
	bool			 so_wshut;	/* the owner has taken SHUT_WR */
	bool			 so_closing;	/* flushing before the descriptor goes */
	unsigned char		*so_scratch;	/* datagram input, made when first used */
	struct kc__sf		*so_sf;		/* a sendfile being written (sendfile.c) */
	unsigned		 so_sfposted;	/* ranges the owner posted, not yet handled */
};

struct kc__sock_proto {
	bool	sp_stream;	/* connection-oriented: a byte stream */
	/* Read a batch from the descriptor into the receive buffer. */
	void	(*sp_input)(struct kc_socket *s);
	/*
	 * Move what a reader may take (at most max bytes) into into, with
	 * the sender's address; 0 at the end, -EAGAIN for nothing yet, or
	 * the socket's error.
	 */
	ssize_t	(*sp_take)(struct kc_socket *s, struct kc_chain *into,
		    size_t max, struct kc_sockaddr *from);
	/* A reader would get something now (the receive buffer's part). */
	bool	(*sp_readable)(const struct kc_socket *s);
	/* What a send must satisfy besides the state (0 or -errno). */
	int	(*sp_send_check)(const struct kc_socket *s,
		    const struct kc_chain *c, const struct kc_sockaddr *to,
		    unsigned st);
	/* Take c into the send buffer (it is left empty): 0 or -ENOMEM. */
	int	(*sp_queue)(struct kc_socket *s, struct kc_chain *c,
		    const struct kc_sockaddr *to);
	/*
	 * Write the send buffer until it is empty or the descriptor is full
	 * (so_wblocked, a write edge awaited); false if the socket failed.
	 */
	bool	(*sp_output)(struct kc_socket *s);
	/*
	 * Free the records of the receive (rcv) or the send buffer, beyond
	 * the chains so_rcv and so_snd, which the caller frees.
	 */
	void	(*sp_drop)(struct kc_socket *s, bool rcv);
};

extern const struct kc__sock_proto kc__sock_dgram;

static inline unsigned
st_load(const struct kc_socket *s)
{
	return kc__ep_state(&s->so_ep);
}

static inline void
st_set(struct kc_socket *s, unsigned bits)
{
	kc__ep_set(&s->so_ep, bits);
}

static inline void
st_clear(struct kc_socket *s, unsigned bits)
{
	kc__ep_clear(&s->so_ep, bits);
}

/* The descriptor, and whether it is closed (owner's thread). */
static inline int
so_fd(const struct kc_socket *s)
{
	return s->so_ep.ep_fd;
}

static inline bool
so_final(const struct kc_socket *s)
{
	return s->so_ep.ep_final;
}

static inline bool
on_owner(const struct kc_socket *s)
{
	return kc_executor_current() == s->so_owner;
}

/*
 * What the comments say runs on the owner asserts it (debug builds).  The
 * one exception: a socket whose owner has stopped for good is closed by the
 * thread that closes it (orphan_close()), the owner's last work.
 */
#define SOCK_ON_OWNER(s)	KC__EP_ON_OWNER(&(s)->so_ep)

static inline bool
is_stream(const struct kc_socket *s)
{
	return s->so_proto->sp_stream;
}

static inline void
rcv_add(struct kc_socket *s, ssize_t n)
{
	__atomic_store_n(&s->so_rcvbytes, s->so_rcvbytes + (size_t)n,
	    __ATOMIC_RELAXED);
}

static inline void
snd_add(struct kc_socket *s, ssize_t n)
{
	__atomic_store_n(&s->so_sndbytes, s->so_sndbytes + (size_t)n,
	    __ATOMIC_RELAXED);
}

/* socket.c, for the protocols. */
/* The connection failed: everything waiting learns err. */
void	kc__sock_error(struct kc_socket *s, int err);
/* A batch ended with the descriptor maybe not drained: read on soon. */
static inline void
kc__sock_more_later(struct kc_socket *s)
{
	kc__ep_read_later(&s->so_ep);
}

/*
 * Sendfile (sendfile.c): a send queue entry of a file range.  While one is
 * being written (so_sf) the send buffer takes nothing more, so what was
 * queued before it goes first and what is queued after it waits on
 * so_writers.
 */
/* socket.c's, for sendfile.c. */
struct sreq *kc__sreq_new(struct kc_socket *s, enum sop op, struct kc *done);
/* Post r; one the owner posts holds back its own sends' fast path. */
int	kc__sreq_post(struct kc_socket *s, struct sreq *r);
void	kc__sreq_answer(struct sreq *r, int status);
/* Write what the send queue holds (the owner's sock_output()). */
void	kc__sock_output(struct kc_socket *s);
int	kc__sock_send_check(struct kc_socket *s, bool owner);
void	kc__sock_hold(struct kc_socket *s);
void	kc__sock_rele(struct kc_socket *s);
/* sendfile.c's, for socket.c, all on the owner. */
/* r (OP_SENDFILE) reaches the head of the queue: it becomes so_sf. */
void	kc__sf_start(struct kc_socket *s, struct sreq *r);
/*
 * Write so_sf (the send buffer is empty): true when it has ended (so_sf
 * is NULL again) or waits for the file (a ring entry in flight), with
 * so_wblocked set when the descriptor is full; false if the socket failed.
 */
bool	kc__sf_output(struct kc_socket *s);
/* The socket failed or its descriptor went: so_sf ends with err. */
void	kc__sf_fail(struct kc_socket *s, int err);
/* r is being answered (reply_async): set *sent, give back the file. */
void	kc__sf_reply(struct sreq *r);
void	kc__sf_free(struct sreq *r);

#endif /* KC_NET_SOCK_INT_H */
