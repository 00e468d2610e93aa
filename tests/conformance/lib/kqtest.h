/*
 * kqtest.h: helpers shared by the kqueue conformance tests
 * (the *.c files of tests/conformance), on top of kctest.h.
 *
 * Every helper checks what it does and aborts on a failure, like the kctest
 * checks; the kqt_expect_* macros report the caller's file:line.
 */
#ifndef KQTEST_H
#define KQTEST_H

#include <sys/event.h>
#include <netinet/in.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "kctest.h"

#define KQT_WAIT_MS	2000	/* bound for an event that must come */

extern const struct timespec kqt_zero_ts;

/* ---- the kqueue calls ---- */

int	kqt_open(void);

/* Apply one change with no eventlist: 0 or the errno. */
int	kqt_change(int kq, uintptr_t ident, short filter,
	    unsigned short flags, unsigned int fflags, int64_t data,
	    void *udata);
#define KQT_CHANGE_OK(...)	KC_CHECK_EQ(kqt_change(__VA_ARGS__), 0)

/*
 * The change fails with err: as an EV_ERROR entry (data err, ident and
 * filter copied), and as -1/errno.
 */
void	kqt_change_err(int kq, uintptr_t ident, short filter,
	    unsigned short flags, unsigned int fflags, int64_t data,
	    void *udata, int err);

/* Collect up to n events, waiting at most ms milliseconds (0: poll). */
int	kqt_collect(int kq, struct kevent *ev, int n, long ms);

/* Exactly one event is ready (waiting at most ms), for (ident, filter). */
struct kevent kqt_expect_one_at(const char *file, int line, int kq,
	    uintptr_t ident, short filter, long ms);
#define kqt_expect_one(kq, ident, filter)				\
	kqt_expect_one_at(__FILE__, __LINE__, (kq), (uintptr_t)(ident),	\
	    (filter), KQT_WAIT_MS)

/* No event arrives within ms milliseconds (0: polls). */
void	kqt_expect_none_at(const char *file, int line, int kq, long ms);
#define kqt_expect_none(kq)	kqt_expect_none_at(__FILE__, __LINE__, (kq), 0)
#define kqt_expect_none_ms(kq, ms) \
	kqt_expect_none_at(__FILE__, __LINE__, (kq), (long)(ms))

/*
 * Exactly one event within ms milliseconds, for (ident, filter) and without
 * EV_ERROR, into *ev.
 */
void	kqt_get_one_at(const char *file, int line, int kq, uintptr_t ident,
	    short filter, long ms, struct kevent *ev);
#define kqt_get_one(kq, ident, filter, ms, ev)				\
	kqt_get_one_at(__FILE__, __LINE__, (kq), (uintptr_t)(ident),	\
	    (filter), (ms), (ev))

/* Wait (bounded) for an event for (ident, filter) carrying EV_EOF. */
struct kevent kqt_wait_eof(int kq, uintptr_t ident, short filter);

/* Read a pipe until it is empty (bounded). */
void	kqt_drain_pipe(int fd);

/* ---- descriptors: the "ends" of each kind ---- */

enum kqt_kind { K_TCP, K_UDP, K_USTREAM, K_UDGRAM, K_PIPE, K_FIFO, K_FILE,
	K_NKINDS };

extern const char *const kqt_kind_name[K_NKINDS];

/* Writing to wr makes rd readable. */
struct kqt_ends {
	enum kqt_kind	k;
	int		rd;
	int		wr;
	size_t		bytes;	/* bytes queued for rd */
	size_t		next;	/* datagram kinds: size of the next datagram */
	unsigned	ndgram;	/* datagram kinds: datagrams queued */
};

/* Where FIFOs and files are made (the test makes and removes it). */
extern char kqt_tmpdir[64];

bool	kqt_is_dgram(enum kqt_kind k);
void	kqt_set_nonblock(int fd);
void	kqt_loopback(struct sockaddr_in *sin);
/* A listening TCP socket on 127.0.0.1, its address in *sin. */
int	kqt_tcp_listener(struct sockaddr_in *sin, int backlog);
void	kqt_tcp_pair(int *a, int *b);
void	kqt_udp_pair(int *a, int *b);
void	kqt_make_ends(enum kqt_kind k, struct kqt_ends *e);
void	kqt_close_ends(struct kqt_ends *e);
/* FIONREAD */
int	kqt_inq(int fd);
/*
 * Write n bytes (one datagram on datagram kinds) and wait (bounded) until
 * the kernel shows them at rd, so that kevent() sees settled state.
 */
void	kqt_put(struct kqt_ends *e, size_t n);
/* Read everything buffered at rd. */
void	kqt_drain(struct kqt_ends *e);

/* ---- signals that interrupt a thread, for async-signal-safety tests ---- */

/*
 * Install handler for sig (SA_RESTART), then start a thread that sends sig
 * to the calling thread again and again (at most max times, pausing a
 * little between them) until *stop is set, and one that aborts the process
 * after timeout_s seconds unless *stop is set by then, saying
 * "FAIL: <dead>" if *in_handler is set (a handler did not return) and
 * "FAIL: <hung>" if not.  kqt_storm_stop() joins both once the caller has
 * set *stop.
 */
void	kqt_storm_start(int sig, void (*handler)(int), unsigned max,
	    atomic_int *stop, atomic_int *in_handler, unsigned timeout_s,
	    const char *dead, const char *hung);
void	kqt_storm_stop(void);

#endif /* KQTEST_H */
