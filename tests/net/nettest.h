/*
 * nettest.h: helpers shared by the owned-socket tests (the programs in tests/net), on
 * top of kctest.h.
 *
 * Every helper checks what it does and aborts on a failure, like the kctest
 * checks.  Raw descriptors ("raw peers") are plain sockets driven with
 * system calls, so that a test can watch one side of a connection without
 * relying on the library for it; every wait on them is bounded (poll).
 * Addresses are 127.0.0.1, ::1 and UNIX paths in a private mkdtemp
 * directory, removed at exit.
 */
#ifndef NETTEST_H
#define NETTEST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <sys/types.h>

#include <kcont.h>
#include <kcont/buf.h>
#include <kcont/socket.h>

#include "kctest.h"

/* Bound for anything that must happen (seconds). */
#define NT_WAIT_S	30

/* ---- kinds of sockets ---- */

enum nt_kind { NT_TCP4, NT_TCP6, NT_UNIX, NT_UDP4, NT_UDP6, NT_UNIXDG,
	NT_NKINDS };

extern const char *const nt_kind_name[NT_NKINDS];

int	nt_domain(enum nt_kind k);
int	nt_type(enum nt_kind k);
bool	nt_is_dgram(enum nt_kind k);

/*
 * An address to bind a new socket of kind k to: port 0 on the loopback
 * address, or a fresh path in the test's directory.
 */
void	nt_bind_addr(enum nt_kind k, struct kc_sockaddr *a);

/* Parse str, which must parse. */
void	nt_addr(struct kc_sockaddr *a, const char *str);

/* The test's private directory (made on first use, removed at exit). */
const char *nt_tmpdir(void);

/* Same address?  (Compares the formatted forms.) */
bool	nt_addr_eq(const struct kc_sockaddr *a, const struct kc_sockaddr *b);

/* ---- the library's sockets ---- */

/* Create a socket of kind k owned by ex. */
struct kc_socket *nt_socket(struct kc_executor *ex, enum nt_kind k,
	    const struct kc_socket_attr *attr);

/* A bound (and, for streams, listening) socket of kind k; its address. */
struct kc_socket *nt_listener(struct kc_executor *ex, enum nt_kind k,
	    const struct kc_socket_attr *attr, struct kc_sockaddr *bound);

/*
 * A stream socket of kind k owned by ex, connected to a raw peer (*peer).
 * adopt: the connection is made with system calls and the socket adopted
 * (kc_socket_adopt); otherwise it is created and connected with
 * kc_socket_connect_wait() from the calling (plain) thread.
 */
struct kc_socket *nt_pair(struct kc_executor *ex, enum nt_kind k,
	    const struct kc_socket_attr *attr, bool adopt, int *peer);

/* Close s (must succeed). */
void	nt_close(struct kc_socket *s);

/* Wait (bounded) until kc_socket_count() is back to base. */
void	nt_wait_count(long base);

/* Descriptors open in the process (/proc/self/fd). */
int	nt_fd_count(void);

/* ---- raw descriptors ---- */

/* Bound (to nt_bind_addr(k)) and listening; its address in *bound. */
int	nt_raw_listener(enum nt_kind k, struct kc_sockaddr *bound);
/* A bound datagram socket; its address in *bound. */
int	nt_raw_dgram(enum nt_kind k, struct kc_sockaddr *bound);
/* Blocking connect to a. */
int	nt_raw_connect(const struct kc_sockaddr *a);
/* Accept one connection (bounded wait). */
int	nt_raw_accept(int lfd);
/* Wait (bounded) until fd has one of events; fail otherwise. */
void	nt_raw_wait(int fd, short events, unsigned timeout_s);
/* Send all of buf (bounded waits). */
void	nt_raw_write(int fd, const void *buf, size_t len);
/* Read what is there, after waiting (bounded) for something: 0 at EOF,
 * -errno on an error. */
ssize_t	nt_raw_read(int fd, void *buf, size_t len);
/* Read exactly len bytes (fails on EOF or error first). */
void	nt_raw_read_full(int fd, void *buf, size_t len);
/* Expect end of file next (fails on data). */
void	nt_raw_expect_eof(int fd);
/* Reset the connection: SO_LINGER {1, 0} and close. */
void	nt_raw_reset(int fd);
/*
 * Make s's connection fail with ECONNRESET by closing its raw peer: TCP by
 * nt_raw_reset(); a UNIX stream socket is reset only by closing with
 * unread data, so s first sends the peer a byte it never reads.
 */
void	nt_reset_peer(enum nt_kind k, struct kc_socket *s, int peer);
void	nt_raw_close(int fd);

/* ---- byte patterns ---- */

/*
 * Byte off of the stream named by seed: not periodic over any length a test
 * uses, so a lost, repeated or reordered run of bytes shows.
 */
static inline uint8_t
nt_pat(uint64_t seed, uint64_t off)
{
	uint64_t x = (off + 1) * 0x9e3779b97f4a7c15ull ^ seed;

	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ull;
	return (uint8_t)(x >> 40 ^ x >> 13);
}

void	nt_pat_fill(void *buf, size_t len, uint64_t seed, uint64_t off);
/* Append len bytes of the pattern, from off, to c. */
void	nt_chain_pat(struct kc_chain *c, uint64_t seed, uint64_t off,
	    size_t len);

/*
 * Bytes [coff, coff + len) of c (or buf) must be the pattern from off; the
 * failure names what and the first differing offset.
 */
#define nt_check_chain(c, coff, len, seed, off, what)			\
	nt_check_chain_at(__FILE__, __LINE__, (c), (coff), (len), (seed),	\
	    (off), (what))
#define nt_check_buf(buf, len, seed, off, what)				\
	nt_check_buf_at(__FILE__, __LINE__, (buf), (len), (seed), (off),	\
	    (what))
void	nt_check_chain_at(const char *file, int line, const struct kc_chain *c,
	    size_t coff, size_t len, uint64_t seed, uint64_t off,
	    const char *what);
void	nt_check_buf_at(const char *file, int line, const void *buf,
	    size_t len, uint64_t seed, uint64_t off, const char *what);

/* A copy of c's bytes (malloc'ed; free it). */
uint8_t	*nt_chain_bytes(const struct kc_chain *c);

/* ---- continuations that record how they ran ---- */

/*
 * A continuation that records obj, status, the executor it ran on and how
 * many times it ran.  Once n is seen nonzero the library no longer touches
 * the kc (it was made idle before the call), so it may be reused.
 */
struct nt_done {
	struct kc			 kc;
	void *_Atomic			 obj;
	atomic_int			 status;
	struct kc_executor *_Atomic	 ran_on;
	atomic_int			 n;
};

void	nt_done_init(struct nt_done *d, struct kc_executor *ex);
/* Wait (bounded) until it has run at least once. */
void	nt_done_wait(struct nt_done *d);

/* ---- a plain thread blocked in kc_socket_recv_wait() ---- */

/*
 * nt_blocked_start() starts a thread that reads (at most SIZE_MAX bytes,
 * waiting up to timeout_ns) from s and waits until it has begun; its
 * result is in ret once finished is set, and nt_blocked_join() joins it.
 * A read that returns an error must leave its chain empty.
 */
struct nt_blocked {
	struct kc_socket	*s;
	uint64_t		 timeout_ns;
	ssize_t			 ret;
	atomic_int		 started;
	atomic_int		 finished;
	pthread_t		 t;
};

void	nt_blocked_start(struct nt_blocked *b, struct kc_socket *s,
	    uint64_t timeout_ns);
void	nt_blocked_join(struct nt_blocked *b);

/* ---- running a function on an executor ---- */

/* Run fn(arg) on ex and wait (bounded) until it has returned. */
void	nt_on(struct kc_executor *ex, void (*fn)(void *), void *arg);

#endif /* NETTEST_H */
