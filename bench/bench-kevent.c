/*
 * bench-kevent: the classic event-library benchmark (libevent's
 * test/bench.c, with Davide Libenzi's chained writes, the one libev's author
 * also used), run on kcont's kqueue()/kevent() and on its peers, all in the
 * same process and the same run.
 *
 * The work.  N socket pairs (AF_UNIX SOCK_STREAM, bench.c's default), every
 * read end watched for readability, level-triggered.  A run writes one byte
 * into A pairs spaced evenly (pair i * N/A), then the loop runs until every
 * byte written has been read: each read callback reads one byte from its
 * pair and, while writes remain (W in all), writes one byte into the next
 * pair (index + 1, wrapping), so A chains carry W writes between them.  A
 * run is A + W callbacks, A + W one-byte reads and W one-byte writes.  As in
 * bench.c the priming writes are not timed; the timed section is the loop,
 * and the loop never blocks (bench.c's EVLOOP_ONCE | EVLOOP_NONBLOCK; the
 * data of an AF_UNIX write is queued at the peer before write() returns, so
 * a wait never finds nothing ready and blocking would change nothing but
 * the risk of hanging on a bug; --block makes every loop block instead).
 * Every variant calls the same chain_step() from its callback.
 *
 * The variants, each set up as that API's users are told to for speed:
 *   kqueue     kcont's kqueue(): one kevent() call registers N EV_ADD
 *              EVFILT_READ knotes (level-triggered, udata = the pair); the
 *              loop is kevent(kq, NULL, 0, evs, 64, &zero) and dispatch
 *              through udata, as a FreeBSD program does.
 *   epoll      raw epoll: EPOLLIN level-triggered, data.ptr = the pair,
 *              epoll_wait(ep, evs, 64, 0): the floor every epoll-based
 *              library adds its own work to.
 *   libevent   an event_base on its default epoll backend, created with
 *              EVENT_BASE_FLAG_NOLOCK and no evthread_use_pthreads() (no
 *              locking), events event_assign()ed into a preallocated array
 *              (no allocation), EV_READ | EV_PERSIST, the loop
 *              event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK) exactly
 *              as bench.c does.
 *   libev      ev_loop_new(EVBACKEND_EPOLL), preallocated ev_io watchers,
 *              the loop ev_run(loop, EVRUN_ONCE | EVRUN_NOWAIT).
 *   kcont      (continuations, kcont's extension) the same knotes with
 *              EV_KCONT and NOTE_NODATA (the continuation does not use the
 *              byte count, so it does not ask for it: kqueue(3)'s fast
 *              path, which spares a FIONREAD per event), udata = the
 *              pair's own struct kc (kc_init(kc, fn,
 *              pair, NULL, 0): immediate), which kevent() runs instead of
 *              queueing the event; the loop is kevent(kq, NULL, 0, evs, 64,
 *              &zero), which must return 0 every time.
 *   kcont-exec the knotes on a soft executor's kqueue (kc_executor_kqueue()),
 *              each kc bound to that executor: the chain runs on the
 *              executor's thread with nobody calling kevent().  A start
 *              continuation on the executor primes the pairs and reads the
 *              clock; the continuation that consumes the last byte reads it
 *              again, so the timed section matches the others'; the main
 *              thread only waits (bounded) for the completion flag.
 *   uring-poll (for information: the event engine's choice of poller)
 *              raw epoll's loop with io_uring in epoll's place: a multishot
 *              POLLIN poll per pair (liburing, io_uring_prep_poll_multishot,
 *              re-armed if the kernel ends it), the loop one
 *              io_uring_submit_and_wait() and the completions reaped from
 *              the ring; reads and writes stay system calls.  Its ratio to
 *              epoll is printed apart ("poller"), not in the summary.
 *
 * The method.  For each configuration (N, A, W) the socket pairs are made
 * once; then, in each of R rounds, every variant in turn (the order rotated
 * each round and reversed every other round, so none always runs first or
 * after the same one) is set up, runs once untimed to warm up, runs K timed
 * runs, checks that no byte is left in any pair, and is torn down.  The
 * figure per variant is the median of its R * K run times: noise on a shared
 * machine hits every variant alike, and a median ignores the outliers.  Each
 * run checks its own result (A + W callbacks, A + W bytes read, W writes, no
 * error, no spurious wake-up, the events its loop was handed: one per
 * callback, or none for the continuation variants) and the program aborts
 * when one is wrong, so that a broken variant can never look fast.  Setup
 * (registering N descriptors, then one empty non-blocking pass, as bench.c
 * does: libev only hands its watchers to epoll there) is timed apart, for
 * information: it is not in the ratios.
 *
 * Output: per configuration the median time per run of each variant (and per
 * event), its spread, its setup cost per descriptor and its waits (loop
 * iterations) per run, then the ratios.  The last two lines are the summary:
 * the continuation variants against epoll, then kqueue's time over each
 * peer's (geometric mean over the configurations); the very last line is
 *   kevent: vs_epoll=<r> vs_libevent=<r> vs_libev=<r>
 *           kcont_exec_vs_epoll=<r> kcont_exec_vs_libevent=<r>
 * (on one line; below 1: ours is faster).
 *
 * Usage: bench-kevent [--quick] [-n N] [-a A] [-w W] [--rounds R] [--runs K]
 *                     [--only NAME] [--block] [--no-pin]
 *
 * Every variant runs on one CPU: the process is pinned to the CPU it starts
 * on (--no-pin leaves it free), and the executor of kcont-exec inherits the
 * pinning, while the main thread only sleeps in a condition wait.  Unpinned,
 * on a 2-vCPU virtual machine the variant that runs on a thread of its own
 * landed on the other vCPU and came out up to 1.5x faster than raw epoll
 * with the same system calls per event (strace -c): a difference between the
 * vCPUs, not between the variants.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/*
 * libev first: its EV_READ is an enum constant, libevent's a macro of another
 * value defined over it.  Keep libev's value under a name of our own.
 */
#include <ev.h>
enum { LIBEV_READ = EV_READ };

#include <event2/event.h>
#include <event2/event_struct.h>

#include <sys/event.h>		/* kcont's <sys/event.h> (include/kqueue) */
#include <kcont.h>
#include <liburing.h>

#include "benchlib.h"

#define NEVENTS		64	/* events collected per wait */
#define WATCHDOG_S	300
#define STALL_S		10.0	/* a run that takes this long is broken */

/* ------------------------------------------------------------------ */
/* Helpers                                                            */


/* ------------------------------------------------------------------ */
/* The chain (bench.c's read_cb), shared by every variant             */

struct pair {
	int	rfd;	/* watched */
	int	wfd;	/* the previous pair writes here */
};

/* One run's state; the executor variant touches it from its thread only. */
static struct {
	struct pair	*pairs, *end;
	unsigned	 n, a, w;
	uint64_t	 count;		/* bytes read */
	uint64_t	 fired;		/* bytes written (priming + chain) */
	uint64_t	 writes;	/* chain writes left */
	uint64_t	 calls;		/* callbacks */
	uint64_t	 spurious;	/* callbacks that found nothing */
	uint64_t	 errors;
	uint64_t	 waits;		/* loop iterations (waits) */
	uint64_t	 seen;		/* events the loop was handed */
} ch;

static int block_mode;		/* --block: every loop waits */
static int no_pin;		/* --no-pin: leave the threads unpinned */

static inline void
chain_step(struct pair *p, int fd)
{
	unsigned char c;
	ssize_t n;

	ch.calls++;
	n = read(fd, &c, 1);
	if (n == 1)
		ch.count++;
	else if (n < 0 && errno == EAGAIN)
		ch.spurious++;
	else
		ch.errors++;
	if (ch.writes) {
		struct pair *q = p + 1 == ch.end ? ch.pairs : p + 1;

		if (write(q->wfd, "e", 1) != 1)
			ch.errors++;
		ch.writes--;
		ch.fired++;
	}
}

static void
run_reset(void)
{
	ch.count = ch.fired = ch.calls = ch.spurious = ch.errors = 0;
	ch.waits = ch.seen = 0;
	ch.writes = ch.w;
}

/* bench.c: one byte into A pairs spaced evenly. */
static void
prime(void)
{
	unsigned i, space = ch.n / ch.a;

	for (i = 0; i < ch.a; i++, ch.fired++)
		if (write(ch.pairs[i * space].wfd, "e", 1) != 1)
			ch.errors++;
}

/* The loop's stall guard: checked every 4096 waits. */
static inline void
stall_check(double t0, const char *who)
{
	if ((ch.waits & 4095) == 0 && bench_now_s() - t0 > STALL_S)
		bench_die("%s: stalled: %" PRIu64 " of %" PRIu64 " bytes read after "
		    "%.0f s (%" PRIu64 " waits, %" PRIu64 " events)", who,
		    ch.count, ch.fired, STALL_S, ch.waits, ch.seen);
}

/*
 * Every run's own check.  seen_expected: the loop counted the events it was
 * handed (kqueue, epoll) and they must be one per callback; kcont: none.
 */
static void
run_check(const char *who, int seen_mode)
{
	uint64_t want = (uint64_t)ch.a + ch.w;

	if (ch.count != want || ch.fired != want || ch.calls != want ||
	    ch.writes != 0 || ch.spurious != 0 || ch.errors != 0)
		bench_die("%s: wrong result: %" PRIu64 " callbacks, %" PRIu64
		    " bytes read, %" PRIu64 " written (want %" PRIu64 " each), "
		    "%" PRIu64 " writes left, %" PRIu64 " spurious, %" PRIu64
		    " errors", who, ch.calls, ch.count, ch.fired, want,
		    ch.writes, ch.spurious, ch.errors);
	if (seen_mode == 1 && ch.seen != want)
		bench_die("%s: the loop was handed %" PRIu64 " events for %" PRIu64
		    " callbacks", who, ch.seen, want);
	if (seen_mode == 2 && ch.seen != 0)
		bench_die("%s: kevent() returned %" PRIu64 " events; every knote "
		    "carries a continuation, so it must return none", who,
		    ch.seen);
}

/* After a variant's runs: every pair must be empty. */
static void
check_drained(const char *who)
{
	unsigned i;
	char c;

	for (i = 0; i < ch.n; i++)
		if (recv(ch.pairs[i].rfd, &c, 1, MSG_DONTWAIT) != -1 ||
		    errno != EAGAIN)
			bench_die("%s: pair %u still holds data after the runs", who,
			    i);
}

/*
 * One timed run, the same for every variant that drives its own loop: prime
 * the chain, call step (one wait of the variant's loop, with its dispatch)
 * until every byte fired has been read, then check the result.
 */
static double
timed_chain(const char *who, int seen_mode, void (*step)(void))
{
	double t0;

	run_reset();
	prime();
	t0 = bench_now_s();
	while (ch.count != ch.fired) {
		step();
		ch.waits++;
		stall_check(t0, who);
	}
	t0 = bench_now_s() - t0;
	run_check(who, seen_mode);
	return t0;
}

/* ------------------------------------------------------------------ */
/* kqueue: kcont's kqueue()/kevent(), plain knotes                    */

static const struct timespec zero_ts = { 0, 0 };

static int kq_fd = -1;
static struct kevent *kq_changes;
static struct kevent kq_evs[NEVENTS];

/* One kevent() call registers every pair; 0 or an errno. */
static int
kq_register(int kq, unsigned short flags, unsigned fflags, struct kc *kcs)
{
	unsigned i;

	for (i = 0; i < ch.n; i++)
		EV_SET(&kq_changes[i], ch.pairs[i].rfd, EVFILT_READ,
		    EV_ADD | flags, fflags, 0, kcs ? (void *)&kcs[i] :
		    (void *)&ch.pairs[i]);
	if (kevent(kq, kq_changes, (int)ch.n, NULL, 0, NULL) != 0)
		return errno;
	return 0;
}

static int
kqueue_setup(void)
{
	int r;

	kq_fd = kqueue();
	if (kq_fd < 0)
		bench_die("kqueue: %s", strerror(errno));
	if ((r = kq_register(kq_fd, 0, 0, NULL)) != 0)
		bench_die("kqueue: registering %u knotes: %s", ch.n, strerror(r));
	return 0;
}

static void
kqueue_step(void)
{
	const struct timespec *tmo = block_mode ? NULL : &zero_ts;
	int i, n;

	n = kevent(kq_fd, NULL, 0, kq_evs, NEVENTS, tmo);
	if (n < 0)
		bench_die("kqueue: kevent: %s", strerror(errno));
	ch.seen += (unsigned)n;
	for (i = 0; i < n; i++) {
		struct kevent *e = &kq_evs[i];

		if (e->filter != EVFILT_READ || (e->flags & EV_ERROR))
			bench_die("kqueue: unexpected event: filter %d "
			    "flags %#x data %" PRId64, e->filter,
			    e->flags, e->data);
		chain_step(e->udata, (int)e->ident);
	}
}

static double
kqueue_run(void)
{
	return timed_chain("kqueue", 1, kqueue_step);
}

/* After setup, with nothing ready: one empty pass (bench.c does one). */
static void
kqueue_flush(void)
{
	if (kevent(kq_fd, NULL, 0, kq_evs, NEVENTS, &zero_ts) != 0)
		bench_die("kevent: an event with nothing written");
}

static void
kqueue_teardown(void)
{
	if (close(kq_fd) != 0)
		bench_die("kqueue: close: %s", strerror(errno));
	kq_fd = -1;
}

/* ------------------------------------------------------------------ */
/* epoll                                                              */

static int ep_fd = -1;
static struct epoll_event ep_evs[NEVENTS];

static int
epoll_setup(void)
{
	struct epoll_event e;
	unsigned i;

	ep_fd = epoll_create1(EPOLL_CLOEXEC);
	if (ep_fd < 0)
		bench_die("epoll_create1: %s", strerror(errno));
	for (i = 0; i < ch.n; i++) {
		e.events = EPOLLIN;
		e.data.ptr = &ch.pairs[i];
		if (epoll_ctl(ep_fd, EPOLL_CTL_ADD, ch.pairs[i].rfd, &e) != 0)
			bench_die("epoll_ctl: %s", strerror(errno));
	}
	return 0;
}

static void
epoll_step(void)
{
	int i, n;

	n = epoll_wait(ep_fd, ep_evs, NEVENTS, block_mode ? -1 : 0);
	if (n < 0)
		bench_die("epoll_wait: %s", strerror(errno));
	ch.seen += (unsigned)n;
	for (i = 0; i < n; i++) {
		struct pair *p = ep_evs[i].data.ptr;

		chain_step(p, p->rfd);
	}
}

static double
epoll_run(void)
{
	return timed_chain("epoll", 1, epoll_step);
}

static void
epoll_flush(void)
{
	if (epoll_wait(ep_fd, ep_evs, NEVENTS, 0) != 0)
		bench_die("epoll_wait: an event with nothing written");
}

static void
epoll_teardown(void)
{
	close(ep_fd);
	ep_fd = -1;
}

/* ------------------------------------------------------------------ */
/* uring-poll: io_uring as the poller (for the event engine's choice)  */

/*
 * Raw epoll's loop with io_uring in epoll's place: a multishot poll per
 * descriptor (re-armed if the kernel ends it), one io_uring_submit_and_wait
 * per wait, completions reaped from the ring.  The reads and writes stay
 * system calls, as in every other variant: this measures the poller alone.
 */
static struct io_uring ur;
static int ur_up;

static void
ur_arm(struct pair *p)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ur);

	if (sqe == NULL) {
		(void)io_uring_submit(&ur);
		sqe = io_uring_get_sqe(&ur);
		if (sqe == NULL)
			bench_die("uring-poll: no submission entry");
	}
	io_uring_prep_poll_multishot(sqe, p->rfd, POLLIN);
	io_uring_sqe_set_data(sqe, p);
}

static int
uring_setup(void)
{
	unsigned i;
	int r;

	r = io_uring_queue_init(1024, &ur, 0);
	if (r < 0)
		bench_die("io_uring_queue_init: %s", strerror(-r));
	ur_up = 1;
	for (i = 0; i < ch.n; i++)
		ur_arm(&ch.pairs[i]);
	if ((r = io_uring_submit(&ur)) < 0)
		bench_die("io_uring_submit: %s", strerror(-r));
	return 0;
}

static void
uring_step(void)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	int r;

	r = io_uring_submit_and_wait(&ur, block_mode ? 1 : 0);
	if (r < 0 && r != -EINTR && r != -EAGAIN && r != -ETIME)
		bench_die("io_uring_submit_and_wait: %s", strerror(-r));
	io_uring_for_each_cqe(&ur, head, cqe) {
		struct pair *p = io_uring_cqe_get_data(cqe);

		n++;
		if (cqe->res < 0)
			bench_die("uring-poll: poll failed: %s",
			    strerror(-cqe->res));
		if (!(cqe->flags & IORING_CQE_F_MORE))
			ur_arm(p);	/* the kernel ended this multishot */
		chain_step(p, p->rfd);
		if (n == NEVENTS)
			break;
	}
	io_uring_cq_advance(&ur, n);
	ch.seen += n;
}

static double
uring_run(void)
{
	return timed_chain("uring-poll", 1, uring_step);
}

static void
uring_flush(void)
{
	if (io_uring_submit_and_wait(&ur, 0) < 0 || io_uring_cq_ready(&ur))
		bench_die("uring-poll: a completion with nothing written");
}

static void
uring_teardown(void)
{
	if (ur_up)
		io_uring_queue_exit(&ur);
	ur_up = 0;
}

/* ------------------------------------------------------------------ */
/* libevent                                                           */

static struct event_base *le_base;
static struct event *le_evs;

static void
le_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	chain_step(arg, fd);
}

static int
libevent_setup(void)
{
	struct event_config *cfg;
	unsigned i;

	cfg = event_config_new();
	if (cfg == NULL)
		bench_die("event_config_new failed");
	event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
	le_base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (le_base == NULL)
		bench_die("event_base_new_with_config failed");
	if (strcmp(event_base_get_method(le_base), "epoll") != 0)
		bench_die("libevent: backend is %s, not epoll (libev's libevent "
		    "emulation linked in libevent's place?)",
		    event_base_get_method(le_base));
	for (i = 0; i < ch.n; i++) {
		if (event_assign(&le_evs[i], le_base, ch.pairs[i].rfd,
		    EV_READ | EV_PERSIST, le_cb, &ch.pairs[i]) != 0 ||
		    event_add(&le_evs[i], NULL) != 0)
			bench_die("libevent: event_assign/event_add failed");
	}
	return 0;
}

static void
libevent_step(void)
{
	if (event_base_loop(le_base,
	    EVLOOP_ONCE | (block_mode ? 0 : EVLOOP_NONBLOCK)) != 0)
		bench_die("libevent: event_base_loop failed");
}

static double
libevent_run(void)
{
	return timed_chain("libevent", 0, libevent_step);
}

static void
libevent_flush(void)
{
	if (event_base_loop(le_base, EVLOOP_ONCE | EVLOOP_NONBLOCK) != 0)
		bench_die("libevent: event_base_loop failed");
}

static void
libevent_teardown(void)
{
	unsigned i;

	for (i = 0; i < ch.n; i++)
		event_del(&le_evs[i]);
	event_base_free(le_base);
	le_base = NULL;
}

/* ------------------------------------------------------------------ */
/* libev                                                              */

static struct ev_loop *lv_loop;
static ev_io *lv_ios;

static void
lv_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	chain_step(w->data, w->fd);
}

static int
libev_setup(void)
{
	unsigned i;

	lv_loop = ev_loop_new(EVBACKEND_EPOLL);
	if (lv_loop == NULL)
		bench_die("ev_loop_new(EVBACKEND_EPOLL) failed");
	for (i = 0; i < ch.n; i++) {
		ev_io_init(&lv_ios[i], lv_cb, ch.pairs[i].rfd, LIBEV_READ);
		lv_ios[i].data = &ch.pairs[i];
		ev_io_start(lv_loop, &lv_ios[i]);
	}
	return 0;
}

static void
libev_step(void)
{
	ev_run(lv_loop, EVRUN_ONCE | (block_mode ? 0 : EVRUN_NOWAIT));
}

static double
libev_run(void)
{
	return timed_chain("libev", 0, libev_step);
}

/* libev hands its watchers to epoll here, not in ev_io_start(). */
static void
libev_flush(void)
{
	ev_run(lv_loop, EVRUN_ONCE | EVRUN_NOWAIT);
}

static void
libev_teardown(void)
{
	unsigned i;

	for (i = 0; i < ch.n; i++)
		ev_io_stop(lv_loop, &lv_ios[i]);
	ev_loop_destroy(lv_loop);
	lv_loop = NULL;
}

/* ------------------------------------------------------------------ */
/* kcont: EV_KCONT knotes, immediate continuations, run by kevent()   */

static struct kc *kc_arr;

static void
kcont_fn(void *obj, void *env, int status)
{
	const struct kevent *e = obj;

	if (status != 0 || e == NULL || e->filter != EVFILT_READ) {
		ch.errors++;
		return;
	}
	chain_step(env, (int)e->ident);
}

static int
kcont_setup(void)
{
	unsigned i;
	int r;

	for (i = 0; i < ch.n; i++)
		if ((r = kc_init(&kc_arr[i], kcont_fn, &ch.pairs[i], NULL,
		    0)) != 0)
			bench_die("kc_init: %s", strerror(-r));
	kq_fd = kqueue();
	if (kq_fd < 0)
		bench_die("kqueue: %s", strerror(errno));
	if ((r = kq_register(kq_fd, EV_KCONT, NOTE_NODATA, kc_arr)) != 0)
		bench_die("kcont: registering %u EV_KCONT knotes: %s", ch.n,
		    strerror(r));
	return 0;
}

/*
 * A zero timeout: each call collects what is ready, runs the continuations
 * and returns, as bench.c's EVLOOP_NONBLOCK.  (With a timeout, kevent() goes
 * on running continuations until the time is up, since no event is ever
 * returned; --block uses 1 ms and so over-counts up to 1 ms per run.)
 */
static void
kcont_step(void)
{
	static const struct timespec ms1 = { 0, 1000000 };
	int n;

	n = kevent(kq_fd, NULL, 0, kq_evs, NEVENTS,
	    block_mode ? &ms1 : &zero_ts);
	if (n < 0)
		bench_die("kcont: kevent: %s", strerror(errno));
	ch.seen += (unsigned)n;
}

static double
kcont_run(void)
{
	return timed_chain("kcont", 2, kcont_step);
}

static void
kcont_teardown(void)
{
	if (close(kq_fd) != 0)
		bench_die("kcont: close: %s", strerror(errno));
	kq_fd = -1;
}

/* ------------------------------------------------------------------ */
/* kcont-exec: EV_KCONT knotes on a soft executor's kqueue            */

static struct {
	struct kc_executor	*ex;
	int			 kq;
	struct kc		 start;
	pthread_mutex_t		 m;
	pthread_cond_t		 c;
	int			 done;		/* under m */
	double			 t0, t1;	/* set on the executor */
	uint64_t		 coalesced;	/* runs standing for > 1 */
} kx;

static void
kx_done(void)
{
	kx.t1 = bench_now_s();
	pthread_mutex_lock(&kx.m);
	kx.done = 1;
	pthread_cond_signal(&kx.c);
	pthread_mutex_unlock(&kx.m);
}

/* On the executor: prime, then start the clock (bench.c's order). */
static void
kx_start_fn(void *obj, void *env, int status)
{
	(void)obj;
	(void)env;
	(void)status;
	prime();
	kx.t0 = bench_now_s();
}

static void
kx_fn(void *obj, void *env, int status)
{
	const struct kevent *e = obj;

	if (kc_coalesced() != 1)
		kx.coalesced++;
	if (status != 0 || e == NULL || e->filter != EVFILT_READ)
		ch.errors++;
	else
		chain_step(env, (int)e->ident);
	if (ch.count == ch.fired && ch.writes == 0)
		kx_done();
}

static int
kcont_exec_setup(void)
{
	pthread_condattr_t ca;
	unsigned i;
	int r;

	r = kc_executor_create(&kx.ex, &(struct kc_executor_attr){
	    .kind = KC_EXEC_SOFT, .name = "kc-bench-kevent" });
	if (r)
		bench_die("kc_executor_create: %s", strerror(-r));
	kx.kq = kc_executor_kqueue(kx.ex);
	if (kx.kq < 0) {
		printf("  (kcont-exec: kc_executor_kqueue: %s; variant "
		    "skipped)\n", strerror(-kx.kq));
		goto fail;
	}
	if ((r = kc_init(&kx.start, kx_start_fn, NULL, kx.ex, 0)) != 0)
		bench_die("kc_init: %s", strerror(-r));
	for (i = 0; i < ch.n; i++)
		if ((r = kc_init(&kc_arr[i], kx_fn, &ch.pairs[i], kx.ex,
		    0)) != 0)
			bench_die("kc_init: %s", strerror(-r));
	if ((r = kq_register(kx.kq, EV_KCONT, NOTE_NODATA, kc_arr)) != 0) {
		printf("  (kcont-exec: registering %u EV_KCONT knotes: %s; "
		    "variant skipped)\n", ch.n, strerror(r));
		goto fail;
	}
	pthread_mutex_init(&kx.m, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&kx.c, &ca);
	pthread_condattr_destroy(&ca);
	kx.coalesced = 0;
	return 0;
fail:
	kc_executor_shutdown(kx.ex, KC_SHUTDOWN_DRAIN, NULL);
	kc_executor_close(kx.ex, NULL);
	kx.ex = NULL;
	return -1;
}

static double
kcont_exec_run(void)
{
	struct timespec dl;
	int r;

	/*
	 * The executor is idle (the last run's final continuation set done
	 * under the mutex we take below), so the reset is seen by it.
	 */
	run_reset();
	pthread_mutex_lock(&kx.m);
	kx.done = 0;
	pthread_mutex_unlock(&kx.m);
	if ((r = kc_run(&kx.start, NULL, 0)) != 0)
		bench_die("kcont-exec: kc_run: %s", strerror(-r));

	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += (time_t)STALL_S;
	pthread_mutex_lock(&kx.m);
	r = 0;
	while (!kx.done && r == 0)
		r = pthread_cond_timedwait(&kx.c, &kx.m, &dl);
	r = kx.done;
	pthread_mutex_unlock(&kx.m);
	if (!r)
		bench_die("kcont-exec: stalled: %" PRIu64 " of %" PRIu64 " bytes read "
		    "after %.0f s", ch.count, ch.fired, STALL_S);
	run_check("kcont-exec", 0);
	if (kx.coalesced)
		bench_die("kcont-exec: %" PRIu64 " runs stood for coalesced "
		    "activations", kx.coalesced);
	return kx.t1 - kx.t0;
}

static void
kcont_exec_teardown(void)
{
	int r;

	if ((r = kc_executor_shutdown(kx.ex, KC_SHUTDOWN_DRAIN, NULL)) != 0)
		bench_die("kc_executor_shutdown: %s", strerror(-r));
	if ((r = kc_executor_close(kx.ex, NULL)) != 0)
		bench_die("kc_executor_close: %s", strerror(-r));
	kx.ex = NULL;
	pthread_cond_destroy(&kx.c);
	pthread_mutex_destroy(&kx.m);
}

/* ------------------------------------------------------------------ */
/* The driver                                                         */

struct variant {
	const char	*name;
	int		(*setup)(void);
	void		(*flush)(void);	/* one empty pass, or NULL */
	double		(*run)(void);
	void		(*teardown)(void);
};

enum { V_KQUEUE, V_EPOLL, V_LIBEVENT, V_LIBEV, V_KCONT, V_KCONT_EXEC,
    V_URING, NV };

static const struct variant variants[NV] = {
	[V_KQUEUE] = { "kqueue", kqueue_setup, kqueue_flush, kqueue_run,
	    kqueue_teardown },
	[V_EPOLL] = { "epoll", epoll_setup, epoll_flush, epoll_run,
	    epoll_teardown },
	[V_LIBEVENT] = { "libevent", libevent_setup, libevent_flush,
	    libevent_run, libevent_teardown },
	[V_LIBEV] = { "libev", libev_setup, libev_flush, libev_run,
	    libev_teardown },
	[V_KCONT] = { "kcont", kcont_setup, kqueue_flush, kcont_run,
	    kcont_teardown },
	[V_KCONT_EXEC] = { "kcont-exec", kcont_exec_setup, NULL,
	    kcont_exec_run, kcont_exec_teardown },
	[V_URING] = { "uring-poll", uring_setup, uring_flush, uring_run,
	    uring_teardown },
};

struct config {
	unsigned	n, a, w;
};

/* What one configuration gave a variant. */
struct vstat {
	double		median, min, q1, q3;	/* seconds per run */
	double		waits;			/* waits per run */
	double		setup;			/* seconds per registration */
	int		have;
};

static const char *only;
static int disabled[NV];	/* setup failed: the variant is not available */
static unsigned rounds = 24, runs_per = 8;

static int
want(int v)
{
	return only == NULL || strcmp(only, variants[v].name) == 0;
}

static void
make_pairs(unsigned n)
{
	unsigned i;
	int sv[2];

	ch.pairs = calloc(n, sizeof(*ch.pairs));
	if (ch.pairs == NULL)
		bench_die("calloc: out of memory");
	for (i = 0; i < n; i++) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0, sv) != 0)
			bench_die("socketpair (pair %u of %u): %s", i, n,
			    strerror(errno));
		ch.pairs[i].rfd = sv[0];
		ch.pairs[i].wfd = sv[1];
	}
	ch.n = n;
	ch.end = ch.pairs + n;
}

static void
free_pairs(void)
{
	unsigned i;

	for (i = 0; i < ch.n; i++) {
		close(ch.pairs[i].rfd);
		close(ch.pairs[i].wfd);
	}
	free(ch.pairs);
	ch.pairs = ch.end = NULL;
	ch.n = 0;
}

static void
run_config(const struct config *cf, struct vstat st[NV])
{
	double *samples[NV], *setups[NV], t;
	uint64_t waits[NV];
	unsigned cnt[NV], r, k, j;
	int v;

	make_pairs(cf->n);
	ch.a = cf->a;
	ch.w = cf->w;
	kq_changes = calloc(cf->n, sizeof(*kq_changes));
	le_evs = calloc(cf->n, sizeof(*le_evs));
	lv_ios = calloc(cf->n, sizeof(*lv_ios));
	kc_arr = calloc(cf->n, sizeof(*kc_arr));
	if (kq_changes == NULL || le_evs == NULL || lv_ios == NULL ||
	    kc_arr == NULL)
		bench_die("calloc: out of memory");
	for (v = 0; v < NV; v++) {
		samples[v] = calloc((size_t)rounds * runs_per, sizeof(double));
		setups[v] = calloc(rounds, sizeof(double));
		if (samples[v] == NULL || setups[v] == NULL)
			bench_die("calloc: out of memory");
		cnt[v] = 0;
		waits[v] = 0;
	}

	for (r = 0; r < rounds; r++) {
		for (j = 0; j < NV; j++) {
			/* Rotated each round, and reversed every other one. */
			v = (int)((r & 1 ? NV - 1 - j + r : j + r) % NV);
			if (!want(v) || disabled[v])
				continue;
			t = bench_now_s();
			if (variants[v].setup() != 0) {
				disabled[v] = 1;	/* not available */
				continue;
			}
			if (variants[v].flush != NULL)
				variants[v].flush();
			setups[v][r] = (bench_now_s() - t) / cf->n;
			(void)variants[v].run();	/* warm-up */
			for (k = 0; k < runs_per; k++) {
				samples[v][cnt[v]++] = variants[v].run();
				waits[v] += ch.waits;
			}
			check_drained(variants[v].name);
			variants[v].teardown();
		}
	}

	printf("N=%u A=%u W=%u (%u events/run, %u x %u runs per variant):\n",
	    cf->n, cf->a, cf->w, cf->a + cf->w, rounds, runs_per);
	for (v = 0; v < NV; v++) {
		double *s = samples[v];
		unsigned c = cnt[v];

		memset(&st[v], 0, sizeof(st[v]));
		if (c == 0)
			continue;
		st[v].have = 1;
		st[v].median = bench_median(s, c);
		st[v].min = s[0];
		st[v].q1 = s[c / 4];
		st[v].q3 = s[(3 * c) / 4];
		st[v].waits = (double)waits[v] / c;
		bench_sort(setups[v], c / runs_per);
		st[v].setup = setups[v][c / runs_per / 2];
		printf("  %-10s %8.1f us/run %6.3f us/event  min %8.1f  "
		    "iqr %3.0f%%  setup %5.2f us/fd", variants[v].name,
		    st[v].median * 1e6, st[v].median * 1e6 / (cf->a + cf->w),
		    st[v].min * 1e6, 100.0 * (st[v].q3 - st[v].q1) /
		    st[v].median, st[v].setup * 1e6);
		if (v != V_KCONT_EXEC)
			printf("  %5.1f waits/run", st[v].waits);
		printf("\n");
	}
	for (v = 0; v < NV; v++) {
		free(samples[v]);
		free(setups[v]);
	}
	free(kc_arr);
	free(lv_ios);
	free(le_evs);
	free(kq_changes);
	kc_arr = NULL;
	lv_ios = NULL;
	le_evs = NULL;
	kq_changes = NULL;
	free_pairs();
}

static double
ratio(const struct vstat *st, int a, int b)
{
	return st[a].have && st[b].have && st[b].median > 0 ?
	    st[a].median / st[b].median : 0.0;
}

static void
raise_nofile(unsigned nmax)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)nmax * 2 + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		bench_die("getrlimit: %s", strerror(errno));
	if (rl.rlim_cur >= need)
		return;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
		bench_die("%u pairs need %lu descriptors; the hard limit is %lu",
		    nmax, (unsigned long)need, (unsigned long)rl.rlim_max);
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		bench_die("setrlimit(RLIMIT_NOFILE): %s", strerror(errno));
}

static void
usage(void)
{
	fprintf(stderr, "usage: bench-kevent [--quick] [-n N] [-a A] [-w W] "
	    "[--rounds R] [--runs K]\n"
	    "                    [--only NAME] [--block] [--no-pin]\n"
	    "  --quick      fewer rounds and runs (CI smoke runs)\n"
	    "  -n, -a, -w   one configuration: N pairs, A active, W writes\n"
	    "               (default: the built-in configurations)\n"
	    "  --rounds R   rounds of interleaved variants (default 24)\n"
	    "  --runs K     timed runs per variant per round (default 8)\n"
	    "  --only NAME  run one variant (kqueue epoll libevent libev "
	    "kcont kcont-exec),\n"
	    "               e.g. under perf; the summary is then partial\n"
	    "  --block      loops block in their wait instead of polling\n"
	    "  --no-pin     do not pin the process to the CPU it starts on\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	/* bench.c is reported for N 100 to 10000, A 1 and 100. */
	static const struct config defaults[] = {
		{ 1000, 1, 1000 },
		{ 1000, 100, 1000 },
		{ 5000, 100, 1000 },
	};
	struct config one = { 1000, 1, 1000 }, cfs[8];
	struct vstat st[8][NV];
	int ncf = 0, have_one = 0, quick = 0, set_rounds = 0, set_runs = 0;
	int i, v;
	unsigned nmax = 0;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			quick = 1;
		} else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
			one.n = bench_parse_uint(argv[++i], 1, 1000000, usage);
			have_one = 1;
		} else if (strcmp(argv[i], "-a") == 0 && i + 1 < argc) {
			one.a = bench_parse_uint(argv[++i], 1, 1000000, usage);
			have_one = 1;
		} else if (strcmp(argv[i], "-w") == 0 && i + 1 < argc) {
			one.w = bench_parse_uint(argv[++i],
			    0, 100000000, usage);
			have_one = 1;
		} else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
			rounds = bench_parse_uint(argv[++i], 1, 10000, usage);
			set_rounds = 1;
		} else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
			runs_per = bench_parse_uint(argv[++i],
			    1, 100000, usage);
			set_runs = 1;
		} else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
			only = argv[++i];
		} else if (strcmp(argv[i], "--block") == 0) {
			block_mode = 1;
		} else if (strcmp(argv[i], "--no-pin") == 0) {
			no_pin = 1;
		} else {
			usage();
		}
	}
	if (only != NULL) {
		for (v = 0; v < NV && strcmp(only, variants[v].name); v++)
			;
		if (v == NV)
			usage();
	}
	if (quick && !set_rounds)
		rounds = 4;
	if (quick && !set_runs)
		runs_per = 4;
	if (have_one) {
		if (one.a > one.n)
			bench_die("-a %u: more active pairs than pairs (%u)", one.a,
			    one.n);
		cfs[ncf++] = one;
	} else {
		for (i = 0; i < (int)(sizeof(defaults) / sizeof(defaults[0]));
		    i++)
			cfs[ncf++] = defaults[i];
	}
	for (i = 0; i < ncf; i++)
		if (cfs[i].n > nmax)
			nmax = cfs[i].n;
	raise_nofile(nmax);
	bench_init("bench-kevent", WATCHDOG_S);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!no_pin) {
		cpu_set_t cs;
		int cpu = sched_getcpu();

		CPU_ZERO(&cs);
		CPU_SET(cpu >= 0 ? cpu : 0, &cs);
		if (sched_setaffinity(0, sizeof(cs), &cs) != 0)
			bench_die("sched_setaffinity: %s", strerror(errno));
		printf("bench-kevent: every variant pinned to CPU %d\n",
		    cpu >= 0 ? cpu : 0);
	}

	printf("bench-kevent: %ld CPUs, AF_UNIX stream socketpairs, %s loops, "
	    "%d events/wait; median of %u rounds x %u runs, variants "
	    "interleaved; libevent %s, libev %d.%d\n",
	    sysconf(_SC_NPROCESSORS_ONLN), block_mode ? "blocking" :
	    "non-blocking", NEVENTS, rounds, runs_per, event_get_version(),
	    ev_version_major(), ev_version_minor());

	for (i = 0; i < ncf; i++) {
		run_config(&cfs[i], st[i]);
		printf("  ratios (time over time): kqueue/epoll=%.2f "
		    "kqueue/libevent=%.2f kqueue/libev=%.2f "
		    "kcont/epoll=%.2f kcont-exec/epoll=%.2f "
		    "uring-poll/epoll=%.2f\n",
		    ratio(st[i], V_KQUEUE, V_EPOLL),
		    ratio(st[i], V_KQUEUE, V_LIBEVENT),
		    ratio(st[i], V_KQUEUE, V_LIBEV),
		    ratio(st[i], V_KCONT, V_EPOLL),
		    ratio(st[i], V_KCONT_EXEC, V_EPOLL),
		    ratio(st[i], V_URING, V_EPOLL));
	}

	/* Geometric means over the configurations, per ratio. */
	{
		static const int num[] = { V_KQUEUE, V_KQUEUE, V_KQUEUE,
		    V_KCONT, V_KCONT_EXEC, V_KCONT_EXEC, V_URING };
		static const int den[] = { V_EPOLL, V_LIBEVENT, V_LIBEV,
		    V_EPOLL, V_EPOLL, V_LIBEVENT, V_EPOLL };
		double gm[7];
		int q;

		for (q = 0; q < 7; q++) {
			double s = 0.0;
			int c = 0;

			for (i = 0; i < ncf; i++) {
				double x = ratio(st[i], num[q], den[q]);

				if (x > 0) {
					s += log(x);
					c++;
				}
			}
			gm[q] = c ? exp(s / c) : 0.0;
		}
		printf("continuations: kcont_vs_epoll=%.2f "
		    "kcont_exec_vs_epoll=%.2f\n", gm[3], gm[4]);
		printf("poller (information): uring_poll_vs_epoll=%.2f\n",
		    gm[6]);
		printf("kevent: vs_epoll=%.2f vs_libevent=%.2f vs_libev=%.2f "
		    "kcont_exec_vs_epoll=%.2f kcont_exec_vs_libevent=%.2f\n",
		    gm[0], gm[1], gm[2], gm[4], gm[5]);
	}
	return 0;
}
