/*
 * splicetest.h: helpers shared by the splice, tee and datagram relay tests
 * (tests/net/splice_*.c), on top of nettest.h.
 *
 * Streams are runs of one reference buffer of 16 MiB of pseudo-random bytes
 * (made once from the test seed): stream sid's byte i is
 * st_ref[(sid + i) mod 16 MiB].  Senders send straight from the buffer and
 * receivers compare with memcmp, so that tens of MiB can be checked byte
 * for byte cheaply, also under sanitizers.  Two streams with different sids
 * differ everywhere a test looks, so a byte of the wrong stream shows.
 *
 * A peer (struct st_peer) is a raw descriptor driven by a thread of its own,
 * full duplex with poll(2): it sends a stream (or garbage) and receives and
 * checks another until end of file or an error, all within ST_PEER_S.  The
 * main thread sets a test up, starts peers and checks what they saw.
 *
 * A splice set-up (struct st_sp) is the usual picture:
 *
 *   client (raw) <-> a (accepted by a kc listener) ==splice== b <-> server
 *                                                     \=> mirrors (raw)
 *
 * where b and the mirrors are created with kc_socket_create() and
 * kc_socket_connect() and are still connecting when kc_splice() is called.
 */
#ifndef SPLICETEST_H
#define SPLICETEST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>

#include <kcont.h>
#include <kcont/splice.h>
#include <kcont/dgramrelay.h>

#include "nettest.h"

#define ST_MIB		(1u << 20)
#define ST_PEER_S	(2 * NT_WAIT_S)	/* a peer's whole life */
#define ST_REF_SIZE	(16u << 20)

/* Fill the reference buffer (once; kct_begin() must have run). */
void	st_init(void);

/*
 * Run the scenario named (printf) fmt?  Yes, unless KC_SPLICE_ONLY is set
 * and the name does not contain it (to repeat one scenario, say
 * KC_SPLICE_ONLY=DROP).  Prints the name when yes.
 */
KCT_PRINTF(1, 2)
bool	st_want(const char *fmt, ...);

/* A fresh stream id. */
uint64_t st_sid(void);

/* The next at most max bytes of stream sid from off, without wrapping. */
const uint8_t *st_bytes(uint64_t sid, uint64_t off, size_t max, size_t *lenp);

/* buf[0, len) must be stream sid's bytes from off. */
#define st_check(buf, len, sid, off, what)				\
	st_check_at(__FILE__, __LINE__, (buf), (len), (sid), (off), (what))
void	st_check_at(const char *file, int line, const void *buf, size_t len,
	    uint64_t sid, uint64_t off, const char *what);

/* Write len bytes of stream sid from off to raw fd (bounded waits). */
void	st_raw_write(int fd, uint64_t sid, uint64_t off, size_t len);

/* Append len bytes of stream sid from off to c. */
void	st_chain(struct kc_chain *c, uint64_t sid, uint64_t off, size_t len);

/* ---- peers ---- */

struct st_peer {
	/* Set before st_peer_start(); zero means "not". */
	const char	*name;
	int		 fd;
	uint64_t	 send_sid;
	uint64_t	 send_len;
	bool		 garbage;	/* send 0xee bytes */
	bool		 chatter;	/* garbage until recv ends */
	bool		 shut_after;	/* SHUT_WR once all is sent */
	uint64_t	 recv_sid;
	uint64_t	 recv_len;	/* expected; more fails */
	bool		 recv_any;	/* no check (has holes) */
	size_t		 read_chunk;	/* 0: 256 KiB */
	uint64_t	 read_pause_ns;	/* sleep after a read */
	atomic_int	 hold;		/* nonzero: no reading */

	/* Results. */
	pthread_t	 thread;
	atomic_ullong	 sent;
	atomic_ullong	 rcvd;
	atomic_int	 send_err;	/* a send's -errno, or 0 */
	atomic_int	 ended;		/* receiving ended, */
	atomic_int	 end;		/* with 0 (EOF) or -errno */
	atomic_int	 finished;
};

void	st_peer_start(struct st_peer *p);
/* Wait (bounded) for the thread to finish and join it. */
void	st_peer_join(struct st_peer *p);
/* Got all of recv_len, then end of file; sent all of send_len. */
void	st_peer_check_whole(struct st_peer *p);

/* ---- raw helpers ---- */

/* A raw listener whose accepted sockets have a small receive buffer. */
int	st_raw_listener_small(enum nt_kind k, struct kc_sockaddr *bound,
	    int rcvbuf);
/*
 * A socket of kind k owned by ex whose kernel send buffer is sndbuf bytes
 * (made raw, then kc_socket_adopt()ed), so that a destination that does
 * not read pushes back soon whatever the system's defaults; 0: nt_socket().
 * attr may be NULL.
 */
struct kc_socket *st_socket(struct kc_executor *ex, enum nt_kind k,
	    int sndbuf, const struct kc_socket_attr *attr);
/*
 * A raw stream socket bound to an address of kind k and not listening:
 * connecting to it is refused (keep it open meanwhile).
 */
int	st_raw_refuser(enum nt_kind k, struct kc_sockaddr *bound);
/* Read and drop until end of file or an error (bounded): 0 or -errno. */
int	st_raw_drain(int fd, uint64_t *bytes);
/* Write until a send fails (bounded): the -errno. */
int	st_raw_write_until_error(int fd);

/* ---- events ---- */

struct st_events {
	struct kc_executor *ex;		/* they must run here */
	struct kc_splice *_Atomic sp;	/* and name this splice */
	atomic_int	 n[8];
	atomic_int	 err[8];	/* the last err per event */
	atomic_uint	 mirror[8];	/* its mirror */
	atomic_int	 bad;		/* one ran wrong */
};

void	st_events_init(struct st_events *e, struct kc_executor *ex);
kc_splice_event_fn st_event_fn;

/* ---- a stream splice set-up ---- */

#define ST_MAXM	17

enum st_mirror_kind {
	ST_M_LISTEN,		/* a raw listener accepts it */
	ST_M_SMALL,		/* the same, small kernel buffers both ends */
	ST_M_REFUSE,		/* the connection is refused */
};

struct st_sp {
	struct kc_executor	*ex;
	enum nt_kind		 ka, kb, km;
	struct kc_socket	*a, *b, *m[ST_MAXM];
	unsigned		 nm;
	enum st_mirror_kind	 mkind[ST_MAXM];
	int			 client, server, mirror[ST_MAXM];
	int			 slfd, mlfd[ST_MAXM];
	struct kc_sockaddr	 saddr, maddr[ST_MAXM];
	int			 small;		/* b's, server's buffers */
	uint64_t		 linger_ns;	/* a's, b's, mirrors' */
	bool			 b_connected;	/* by the test */
	bool			 m_connected[ST_MAXM];
	struct kc_splice_attr	 attr;
	struct kc_splice	*sp;
	struct nt_done		 done;
	struct st_events	 ev;
};

/*
 * Client side: a kc listener of kind ka on s->ex, a raw client connected to
 * it, a accepted (kc_socket_accept_wait()).
 */
void	st_sp_client(struct st_sp *s);
/*
 * Upstream side: a raw listener of kind kb, b created and kc_socket_connect()
 * started (not waited for); the mirrors likewise, per mkind[].
 */
void	st_sp_upstream(struct st_sp *s);
/*
 * kc_splice() with s->attr (its event set to st_event_fn on s->ev), the
 * done continuation on s->ex.  held: the owner is held by a gate meanwhile,
 * so that b and the mirrors are certainly still connecting.
 */
void	st_sp_splice(struct st_sp *s, bool held);
/* Accept the server's and the mirrors' connections (raw). */
void	st_sp_accept(struct st_sp *s);
/* All of the above, in order. */
void	st_sp_open(struct st_sp *s, bool held);
/* Wait for done; check it ran once on the owner, with obj the splice. */
int	st_sp_wait(struct st_sp *s);
/*
 * After st_sp_wait(): kc_splice_end_info() must say how, side and err
 * (fin_first too, unless it is -2: any).
 */
void	st_sp_check_end(struct st_sp *s, int how, int side, int err,
	    int fin_first);
/* After st_sp_wait(): mirror i's account. */
void	st_sp_mirror(struct st_sp *s, unsigned i,
	    struct kc_splice_mirror_stats *ms);
/* Stats (must succeed), and printed. */
void	st_sp_stats(struct st_sp *s, struct kc_splice_stats *st);
void	st_stats_print(const char *what, const struct kc_splice_stats *st);
/* kc_splice_close() (waiting for its done) and close the raw descriptors. */
void	st_sp_close(struct st_sp *s);

/* The pipe pool's stats of ex (read on ex). */
void	st_pipe_stats(struct kc_executor *ex, struct kc_pipe_stats *ps);

#endif /* SPLICETEST_H */
