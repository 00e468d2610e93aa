/*
 * kcnbd.h: what kcnbd's files share: the exports, the workers, the
 * connections and their requests (kcnbd(1)).
 *
 * Threads.  One soft executor per worker (-j).  A connection belongs to
 * the worker that accepted it: its socket is owned by that executor, and
 * every continuation of the connection (upcalls, file completions, send
 * completions) is aimed at it, so a connection's state is touched by one
 * thread only and needs no lock.  Each worker has its own kc_file of each
 * export (a dup(2) of one descriptor), so that file operations go to the
 * worker's own ring without a hand-off.  The main thread does no I/O
 * after start: it takes signals and prints statistics.
 */
#ifndef KCNBD_H
#define KCNBD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <kcont.h>

#include "opts.h"
#include "proto.h"

struct worker;

struct export {
	char		 name[KN_NAME_MAX + 1];
	char		 path[PATH_MAX];
	bool		 ro;
	bool		 blk;		/* a block device */
	int		 fd;		/* the main thread's: size, fsync */
	uint64_t	 size;		/* at start, or the last SIGHUP */
};

/* Counters, one set per worker (written by it, read by the main thread). */
struct kn_stats {
	uint64_t	conns, refused, denied, active;
	uint64_t	reqs, reads, writes, read_bytes, write_bytes;
	uint64_t	flushes, trims, zeroes, caches, block_status;
	uint64_t	errors, holes;
	uint64_t	sendfiles;	/* reads sent file to socket, no copy */
};

struct worker {
	struct kc_executor	*ex;
	unsigned		 idx;
	struct kc_file		**files;	/* one per export */
	struct nbd_export	*ne;		/* this worker's export table */
	struct nbd_exports	 xt;
	uint64_t		*newsize;	/* atomic: SIGHUP's sizes */
	struct kc		 reload;	/* takes newsize */
	struct kc		 drain;		/* SIGTERM: end every connection */
	struct conn		*conns;		/* this worker's, for drain */
	struct kn_stats		 st;		/* atomic adds */
};

/* A request in flight, from its header to its reply's send. */
struct req {
	struct conn		*c;
	struct nbd_req		 r;
	struct kc_file_req	 fr;
	struct kc		 done;		/* file operation completion */
	struct kc		 sent;		/* the socket took the reply */
	uint64_t		 sfsent;	/* a sendfile read's bytes sent */
	struct kc_seg		*seg;		/* a read's bytes, headers in front */
	struct kc_chain		 data;		/* a write's payload */
	struct iovec		*iov;		/* over data, advanced as written */
	int			 niov;
	struct iovec		*iov_alloc;	/* more than iov1 holds */
	void			*flat;		/* data made contiguous, if needed */
	uint64_t		 pos;		/* bytes done */
	size_t			 held;		/* bytes this request holds */
	int			 stage;
	struct req		*next;		/* a reply batch, or the free list */
	struct iovec		 iov1[8];	/* last: not cleared on reuse */
};

enum phase { PH_NEG = 0, PH_TX };

struct conn {
	struct worker		*w;
	struct kc_socket	*s;
	uint64_t		 id;
	char			 peer[112];
	unsigned		 refs;		/* worker thread only */
	struct kc		 rd;		/* READABLE upcall */
	struct kc		 wr;		/* WRITABLE upcall */
	struct kc		 cl;		/* CLOSED upcall */
	struct kc		 hs;		/* --handshake-timeout */
	bool			 rd_armed, wr_armed, cl_armed;
	struct kc_chain		 in;		/* received, not yet parsed */
	enum phase		 phase;
	struct nbd_neg		 neg;
	unsigned		 xi;		/* the export, in transmission */
	struct kc_file		*f;
	int			 fd;		/* f's, for SEEK_DATA and fadvise */
	struct nbd_tx		 tx;
	uint64_t		 discard;	/* payload bytes to drop */
	struct req		*after;		/* replied once they are */
	uint32_t		 after_error;
	bool			 have_hdr;	/* hdr read, payload awaited */
	struct nbd_req		 hdr;
	unsigned		 inflight;
	size_t			 held;		/* bytes requests hold */
	bool			 paused;	/* over budget: not reading */
	bool			 ending;	/* no more requests */
	bool			 closed;	/* the socket is closed */
	const char		*why;		/* why it ended */
	struct conn		*next, *prev;	/* the worker's list */
	struct req		*free;
	unsigned		 nfree;
	/* Replies made in one pass of the worker, sent as one. */
	struct kc_chain		 out;
	struct req		*batch, *batch_tail;
	struct kc		 flush;
	bool			 flush_armed;
};

/* conn.c: a connection, from accept to close. */
void	kn_conn_start(struct worker *w, struct kc_socket *s);
void	kn_conn_drain(struct worker *w);
extern unsigned kn_conns_open;		/* atomic */
extern uint32_t kn_max_payload;
extern uint64_t kn_handshake_ns;	/* 0: no limit */

/* ops.c: a request's operation and reply. */
void	kn_req_start(struct req *q);
void	kn_req_error(struct req *q, uint32_t error);
/*
 * The reply chain is ready (taken): it goes out with the other replies of
 * this pass of the worker, and the request is freed when the socket took
 * them.
 */
void	kn_req_send(struct req *q, struct kc_chain *ch);
/*
 * A read's reply whose bytes go from the file to the socket without a
 * copy: the replies gathered so far go first, then hdr (taken), then len
 * bytes of the connection's file from off (kc_socket_sendfile()).  A
 * range that could not be sent whole ends the connection, whose reply
 * promised those bytes.  0, or -errno with nothing sent.
 */
int	kn_req_sendfile(struct req *q, struct kc_chain *hdr, uint64_t off,
	    uint32_t len);
void	kn_req_finish(struct req *q);

static inline void
kn_count(uint64_t *p, uint64_t n)
{
	__atomic_add_fetch(p, n, __ATOMIC_RELAXED);
}

#endif
