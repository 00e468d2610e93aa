/*
 * peer.h: the test peers of kcsplice's integration tests.
 *
 * A peer is a thread running one poll loop over non-blocking sockets: a
 * server (a listening socket; every accepted connection behaves as the
 * peer's struct pbehav says) or a set of client connections (each with its
 * own behaviour).  A connection reads and hashes what arrives, and sends the
 * stream of its seed (peerdata.h) or echoes what arrived, ends its sending
 * side, resets, reads slowly or not at all, as told; it records what it
 * received and sent (count, hash), whether it saw EOF and the first error.
 *
 * The peer's fields are the thread's: the test reads them between
 * peer_lock() and peer_unlock(), or waits for a condition on them with
 * PEER_WAIT, which holds the lock while it evaluates the condition.
 */
#ifndef KCIT_PEER_H
#define KCIT_PEER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "it.h"
#include "peerdata.h"

/* How a connection behaves. */
struct pbehav {
	bool		 read;		/* read what arrives (else never) */
	size_t		 read_chunk;	/* at most this per read (0: 64 KiB) */
	uint64_t	 read_pause_ns;	/* wait this long after each read */
	bool		 read_gated;	/* read at most read_gate bytes ... */
	uint64_t	 read_gate;	/* ... until peer_open_gates() */
	bool		 echo;		/* send back what arrives */
	uint64_t	 send;		/* bytes of the stream to send */
	uint64_t	 seed;		/* its seed (0: a new one each conn) */
	bool		 send_gated;	/* send at most send_gate bytes ... */
	uint64_t	 send_gate;	/* ... until peer_open_gates() */
	bool		 send_after_eof; /* start sending only after EOF ... */
	uint64_t	 send_delay_ns;	/* ... and this long after it */
	bool		 fin;		/* end the sending side when all is sent
					   (echo: after EOF and all echoed) */
	bool		 reset;		/* reset once reset_after bytes came
					   and all is sent */
	uint64_t	 reset_after;
	bool		 keep;		/* stay open when done, until closed */
	int		 rcvbuf;	/* SO_RCVBUF (0: the default) */
	const char	*bind_ip;	/* client: bind this source first */
};

struct pconn {
	unsigned	 id;
	int		 fd;
	struct pbehav	 b;
	uint64_t	 seed;
	struct it_addr	 local, remote;
	/* received */
	uint64_t	 rx;
	struct pd_hash	 rxh;
	uint64_t	 rx_hash;	/* final, once done */
	bool		 eof;
	/* sent */
	uint64_t	 tx;
	struct pd_hash	 txh;
	uint64_t	 tx_hash;	/* final, once done */
	bool		 fin_sent;
	bool		 reset_sent;
	int		 err;		/* first error (errno) */
	bool		 connecting;
	bool		 done;		/* nothing more will happen */
	bool		 closed;	/* its socket is closed */
	uint64_t	 t_eof, t_done;	/* it_now_ns() */
	/* internal */
	uint64_t	 send_at;	/* 0: not scheduled */
	uint64_t	 next_read;
	unsigned char	*ebuf;
	size_t		 eoff, elen;
};

struct peer {
	char		 name[32];
	pthread_t	 thread;
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	int		 wakefd;
	int		 lfd;		/* -1 for a client peer */
	struct it_addr	 addr;		/* where it listens */
	struct pbehav	 accept_b;
	struct pconn	**conns;	/* every connection, in order */
	unsigned	 nconns, capconns;
	unsigned	*active;	/* indexes of connections not done */
	unsigned	 nactive, capactive;
	unsigned	 ndone;
	bool		 stop;
	bool		 kick;
	uint64_t	 seedbase;
	unsigned char	*buf;
};

/* A server on spec ("tcp:127.0.0.1:0", "tcp:[::1]:0", "unix:PATH"). */
struct peer *peer_listen(const char *name, const char *spec,
	    const struct pbehav *b);
/* A set of client connections. */
struct peer *peer_client(const char *name);
/* A new client connection to a (non-blocking connect). */
struct pconn *peer_connect(struct peer *p, const struct it_addr *a,
	    const struct pbehav *b);
/* Open every gate (connections now and later); peer_lock not held. */
void	peer_open_gates(struct peer *p);
/* Close one connection now (reset if it has unread data). */
void	peer_close(struct peer *p, struct pconn *c);
/* Stop the thread, close everything, free. */
void	peer_free(struct peer *p);

void	peer_lock(struct peer *p);
void	peer_unlock(struct peer *p);
/* With the lock held: wait for a change, at most until deadline (ns). */
bool	peer_wait_change(struct peer *p, uint64_t deadline);

#define PEER_WAIT(p, cond, secs) do {					\
	uint64_t pw_dl_ = it_now_ns() + (uint64_t)(it_limit(secs) * 1e9); \
	peer_lock(p);							\
	while (!(cond)) {						\
		if (!peer_wait_change((p), pw_dl_)) {			\
			peer_unlock(p);					\
			IT_FAIL("%s: timed out after %.0f s waiting "	\
			    "for %s", (p)->name, it_limit(secs), #cond); \
		}							\
	}								\
	peer_unlock(p);							\
} while (0)

/*
 * Check (peer locks taken inside) that the connections of a and b carry the
 * same multiset of (count, hash): a's sent or received (a_tx) against b's
 * received.  Only connections that are done are counted; want is how many
 * each side must have.
 */
void	peer_check_same(struct peer *a, bool a_tx, struct peer *b,
	    unsigned want, const char *what);

/* Check every done connection of a client peer got back what it sent. */
void	peer_check_echoed(struct peer *p, unsigned want);

#endif
