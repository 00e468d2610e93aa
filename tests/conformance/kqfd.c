/*
 * kq-kqfd: the kqueue descriptor itself (see notes/kq-spec.md, General).
 *
 *   poll(), select() and epoll_wait() on a kqueue report readable exactly
 *   while events are pending: not before (timeout 0), yes once a registered
 *   pipe is readable, still yes after kevent() collected a level event, no
 *   once the pipe is drained, no while the knote is disabled;
 *   a kqueue watching another kqueue with EVFILT_READ (data >= 1);
 *   kqueue() is close-on-exec;
 *   close(kq) from the main thread wakes 3 threads blocked in kevent(NULL
 *   timeout) on it: each returns -1/EBADF (bounded wait);
 *   kevent() on the closed kqueue number -> EBADF;
 *   after fork() the child has no kqueues: kevent() on the parent's kq
 *   fails EBADF there (and a new kqueue works); the parent's is intact;
 *   closing a registered descriptor removes its knotes, in every kqueue,
 *   even while a dup of it stays open (the dup must not deliver the old
 *   knote's events); dup2()/dup3() over a registered descriptor too.
 */
#include <sys/event.h>
#include "kctest.h"
#include "kqtest.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define UD1	((void *)(uintptr_t)0x1111)
#define UD2	((void *)(uintptr_t)0x2222)

/* Is fd readable by poll(), select() and a private epoll, within ms? */
static bool
poll_readable(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int r = poll(&pfd, 1, ms);

	KC_CHECK_GE(r, 0);
	if (r == 1)
		KC_CHECK(pfd.revents & POLLIN);
	return r == 1;
}

static bool
select_readable(int fd, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	fd_set rs;
	int r;

	KC_CHECK_LT(fd, FD_SETSIZE);
	FD_ZERO(&rs);
	FD_SET(fd, &rs);
	r = select(fd + 1, &rs, NULL, NULL, &tv);
	KC_CHECK_GE(r, 0);
	if (r == 1)
		KC_CHECK(FD_ISSET(fd, &rs));
	return r == 1;
}

static bool
epoll_readable(int ep, int fd, int ms)
{
	struct epoll_event ee[2];
	int r = epoll_wait(ep, ee, 2, ms);

	KC_CHECK_GE(r, 0);
	KC_CHECK_LE(r, 1);
	if (r == 1) {
		KC_CHECK_EQ(ee[0].data.fd, fd);
		KC_CHECK(ee[0].events & EPOLLIN);
	}
	return r == 1;
}

/* All three agree: readable (waiting at most ms) or not (polled). */
static void
check_readable_(int ep, int kq, bool want, int line)
{
	int ms = want ? KQT_WAIT_MS : 0;

	if (poll_readable(kq, ms) != want)
		kct_fail(__FILE__, line, "poll: kqueue %sreadable",
		    want ? "not " : "");
	if (select_readable(kq, ms) != want)
		kct_fail(__FILE__, line, "select: kqueue %sreadable",
		    want ? "not " : "");
	if (epoll_readable(ep, kq, ms) != want)
		kct_fail(__FILE__, line, "epoll_wait: kqueue %sreadable",
		    want ? "not " : "");
}

#define check_readable(ep, kq, want) \
	check_readable_((ep), (kq), (want), __LINE__)
static void
test_poll_kq(void)
{
	struct epoll_event ee = { .events = EPOLLIN };
	struct kevent ev;
	int kq = kqt_open(), ep, p[2], fl;

	printf("  poll/select/epoll on a kqueue\n");
	fl = fcntl(kq, F_GETFD);
	KC_CHECK_GE(fl, 0);
	KC_CHECK(fl & FD_CLOEXEC);
	ep = epoll_create1(EPOLL_CLOEXEC);
	KC_CHECK_GE(ep, 0);
	ee.data.fd = kq;
	KC_CHECK_OK(epoll_ctl(ep, EPOLL_CTL_ADD, kq, &ee));
	KC_CHECK_OK(pipe2(p, O_CLOEXEC | O_NONBLOCK));

	/* empty kqueue: not readable */
	check_readable(ep, kq, false);
	KQT_CHANGE_OK(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, UD1);
	check_readable(ep, kq, false);
	/* the pipe readable: so is the kqueue */
	KC_CHECK_EQ(write(p[1], "abc", 3), 3);
	check_readable(ep, kq, true);
	/* collecting a level event does not end it */
	ev = kqt_expect_one(kq, p[0], EVFILT_READ);
	KC_CHECK_EQ(ev.data, 3);
	check_readable(ep, kq, true);
	/* disabled: not pending */
	KQT_CHANGE_OK(kq, p[0], EVFILT_READ, EV_DISABLE, 0, 0, NULL);
	check_readable(ep, kq, false);
	KQT_CHANGE_OK(kq, p[0], EVFILT_READ, EV_ENABLE, 0, 0, NULL);
	check_readable(ep, kq, true);
	/* drained: not readable */
	kqt_drain_pipe(p[0]);
	check_readable(ep, kq, false);
	kqt_expect_none(kq);
	/* and again */
	KC_CHECK_EQ(write(p[1], "d", 1), 1);
	check_readable(ep, kq, true);
	/* a one-shot collected: nothing pending */
	KQT_CHANGE_OK(kq, p[0], EVFILT_READ, EV_ADD | EV_ONESHOT, 0, 0, UD1);
	check_readable(ep, kq, true);
	(void)kqt_expect_one(kq, p[0], EVFILT_READ);
	check_readable(ep, kq, false);
	/* deleted while the pipe is readable: not readable */
	KQT_CHANGE_OK(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, UD1);
	check_readable(ep, kq, true);
	KQT_CHANGE_OK(kq, p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL);
	check_readable(ep, kq, false);

	KC_CHECK_OK(close(ep));
	KC_CHECK_OK(close(p[0]));
	KC_CHECK_OK(close(p[1]));
	KC_CHECK_OK(close(kq));
}

/* A kqueue watching another kqueue. */
static void
test_kq_in_kq(void)
{
	struct kevent ev;
	int inner = kqt_open(), outer = kqt_open(), p[2];

	printf("  kqueue in a kqueue\n");
	KC_CHECK_OK(pipe2(p, O_CLOEXEC | O_NONBLOCK));
	KQT_CHANGE_OK(outer, inner, EVFILT_READ, EV_ADD, 0, 0, UD2);
	kqt_expect_none(outer);
	KQT_CHANGE_OK(inner, p[0], EVFILT_READ, EV_ADD, 0, 0, UD1);
	kqt_expect_none(outer);
	KC_CHECK_EQ(write(p[1], "xy", 2), 2);
	ev = kqt_expect_one(outer, inner, EVFILT_READ);
	KC_CHECK_GE(ev.data, 1);
	KC_CHECK_PTR_EQ(ev.udata, UD2);
	KC_CHECK_EQ(ev.flags & EV_EOF, 0);
	/* level: still pending until the inner event goes */
	(void)kqt_expect_one(outer, inner, EVFILT_READ);
	ev = kqt_expect_one(inner, p[0], EVFILT_READ);
	KC_CHECK_EQ(ev.data, 2);
	kqt_drain_pipe(p[0]);
	kqt_expect_none(inner);
	kqt_expect_none(outer);
	/* EV_CLEAR on the outer knote: once per new activity */
	KQT_CHANGE_OK(outer, inner, EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, UD2);
	KC_CHECK_EQ(write(p[1], "z", 1), 1);
	(void)kqt_expect_one(outer, inner, EVFILT_READ);
	kqt_expect_none(outer);
	kqt_drain_pipe(p[0]);
	KC_CHECK_OK(close(p[0]));
	KC_CHECK_OK(close(p[1]));
	KC_CHECK_OK(close(outer));
	KC_CHECK_OK(close(inner));
}

struct blocked {
	int		 kq;
	atomic_int	*entering;
	atomic_int	*returned;
	int		 r;
	int		 err;
};

static void *
blocked_main(void *arg)
{
	struct blocked *b = arg;
	struct kevent ev;

	atomic_fetch_add(b->entering, 1);
	errno = 0;
	b->r = kevent(b->kq, NULL, 0, &ev, 1, NULL);
	b->err = errno;
	atomic_fetch_add(b->returned, 1);
	return NULL;
}

/* close(kq) wakes the threads blocked in kevent() on it with EBADF. */
static void
test_close_wakes(void)
{
	struct blocked b[3];
	pthread_t t[3];
	atomic_int entering = 0, returned = 0;
	struct kevent ev;
	int kq = kqt_open(), p[2], i;

	printf("  close(kq) wakes blocked threads\n");
	KC_CHECK_OK(pipe2(p, O_CLOEXEC));
	KQT_CHANGE_OK(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, UD1);
	for (i = 0; i < 3; i++) {
		b[i].kq = kq;
		b[i].entering = &entering;
		b[i].returned = &returned;
		b[i].r = 12345;
		t[i] = kct_thread_start(blocked_main, &b[i]);
	}
	KCT_WAIT(atomic_load(&entering) == 3, 5);
	kct_sleep_ns(100 * KCT_NSEC_PER_MSEC);	/* let them block */
	KC_CHECK_EQ(atomic_load(&returned), 0);
	/* no descriptor is created until they are back: kq stays unused */
	KC_CHECK_OK(close(kq));
	KCT_WAIT(atomic_load(&returned) == 3, 5);
	for (i = 0; i < 3; i++) {
		(void)kct_thread_join(t[i]);
		KC_CHECK_EQ(b[i].r, -1);
		KC_CHECK_EQ(b[i].err, EBADF);
	}
	/* the closed number */
	errno = 0;
	KC_CHECK_EQ(kevent(kq, NULL, 0, &ev, 1, &kqt_zero_ts), -1);
	KC_CHECK_EQ(errno, EBADF);
	errno = 0;
	EV_SET(&ev, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	KC_CHECK_EQ(kevent(kq, &ev, 1, NULL, 0, NULL), -1);
	KC_CHECK_EQ(errno, EBADF);
	KC_CHECK_OK(close(p[0]));
	KC_CHECK_OK(close(p[1]));
}

/* After fork() the child has no kqueues. */
static void
test_fork(void)
{
	struct kevent ev;
	int kq = kqt_open(), p[2], status = -1;
	uint64_t dl;
	pid_t pid, w;

	printf("  fork\n");
	KC_CHECK_OK(pipe2(p, O_CLOEXEC));
	KQT_CHANGE_OK(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, UD1);
	KC_CHECK_EQ(write(p[1], "q", 1), 1);
	(void)kqt_expect_one(kq, p[0], EVFILT_READ);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	KC_CHECK_GE(pid, 0);
	if (pid == 0) {
		struct kevent cev;
		int r, kq2;

		/* only plain calls here: report through the exit status */
		alarm(10);
		errno = 0;
		r = kevent(kq, NULL, 0, &cev, 1, &kqt_zero_ts);
		if (r != -1)
			_exit(10 + (r > 0 ? 1 : 0));
		if (errno != EBADF)
			_exit(20);
		EV_SET(&cev, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
		errno = 0;
		if (kevent(kq, &cev, 1, NULL, 0, NULL) != -1 || errno != EBADF)
			_exit(30);
		/* a new kqueue in the child works */
		kq2 = kqueue();
		if (kq2 < 0)
			_exit(40);
		EV_SET(&cev, p[0], EVFILT_READ, EV_ADD, 0, 0, UD2);
		if (kevent(kq2, &cev, 1, NULL, 0, NULL) != 0)
			_exit(41);
		memset(&cev, 0, sizeof(cev));
		{
			struct timespec ts = { 2, 0 };

			r = kevent(kq2, NULL, 0, &cev, 1, &ts);
		}
		if (r != 1 || cev.ident != (uintptr_t)p[0] ||
		    cev.udata != UD2 || cev.data != 1)
			_exit(42);
		_exit(0);
	}
	dl = kct_now_ns() + 10 * KCT_NSEC_PER_SEC;
	for (;;) {
		w = waitpid(pid, &status, WNOHANG);
		KC_CHECK_GE(w, 0);
		if (w == pid)
			break;
		if (kct_now_ns() > dl) {
			kill(pid, SIGKILL);
			kct_fail(__FILE__, __LINE__, "child did not exit");
		}
		kct_sleep_ns(5 * KCT_NSEC_PER_MSEC);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		kct_fail(__FILE__, __LINE__, "child: %s %d (10/11: kevent on "
		    "the parent's kq did not fail; 20: errno not EBADF; 30: "
		    "change on it; 4x: new kqueue in the child)",
		    WIFEXITED(status) ? "exit" : "signal",
		    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	/* the parent's kqueue is intact */
	ev = kqt_expect_one(kq, p[0], EVFILT_READ);
	KC_CHECK_PTR_EQ(ev.udata, UD1);
	KC_CHECK_EQ(ev.data, 1);
	KC_CHECK_OK(close(p[0]));
	KC_CHECK_OK(close(p[1]));
	KC_CHECK_OK(close(kq));
}

/*
 * Closing a registered descriptor removes its knotes (in every kqueue), even
 * though a dup keeps the file open: the dup does not deliver the old knote.
 */
static void
test_close_with_dup(void)
{
	struct kevent ev, evs[4];
	int kq = kqt_open(), kq2 = kqt_open(), p[2], d, d2, e;

	printf("  close of a registered descriptor, a dup open\n");
	KC_CHECK_OK(pipe2(p, O_CLOEXEC | O_NONBLOCK));
	KQT_CHANGE_OK(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, UD1);
	KQT_CHANGE_OK(kq2, p[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, UD1);
	KQT_CHANGE_OK(kq, p[1], EVFILT_WRITE, EV_ADD | EV_DISPATCH, 0, 0, UD2);
	/* dispatched: off now */
	ev = kqt_expect_one(kq, p[1], EVFILT_WRITE);
	d = dup(p[0]);
	KC_CHECK_GE(d, 0);
	KC_CHECK_OK(close(p[0]));
	KC_CHECK_EQ(write(p[1], "abc", 3), 3);
	KC_CHECK_EQ(kqt_collect(kq, evs, 4, 200), 0);
	KC_CHECK_EQ(kqt_collect(kq2, evs, 4, 0), 0);
	/* a closed number: EBADF (FreeBSD looks the descriptor up first) */
	e = kqt_change(kq, p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL);
	KC_CHECK(e == EBADF || e == ENOENT);
	/* the dup registered in its own right */
	KQT_CHANGE_OK(kq, d, EVFILT_READ, EV_ADD, 0, 0, UD2);
	ev = kqt_expect_one(kq, d, EVFILT_READ);
	KC_CHECK_EQ(ev.data, 3);
	KC_CHECK_PTR_EQ(ev.udata, UD2);
	/* the number p[0] reused (by a dup of the same pipe): still nothing */
	KC_CHECK_EQ(dup2(d, p[0]), p[0]);
	KC_CHECK_EQ(kqt_collect(kq2, evs, 4, 100), 0);
	(void)kqt_expect_one(kq, d, EVFILT_READ);
	KC_CHECK_EQ(kqt_change(kq, p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL),
	    ENOENT);
	KC_CHECK_EQ(kqt_change(kq2, p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL),
	    ENOENT);

	/* the write side's disabled (dispatched) knote goes with close too */
	d2 = dup(p[1]);
	KC_CHECK_GE(d2, 0);
	KC_CHECK_OK(close(p[1]));
	/* the same file back under the same number: no knote there */
	KC_CHECK_EQ(dup2(d2, p[1]), p[1]);
	KC_CHECK_EQ(kqt_change(kq, p[1], EVFILT_WRITE, EV_ENABLE, 0, 0, NULL),
	    ENOENT);
	KC_CHECK_EQ(kqt_collect(kq, evs, 4, 0), 1);		/* d only */
	KC_CHECK_EQ(evs[0].ident, (uintptr_t)d);
	KC_CHECK_OK(close(p[1]));
	KC_CHECK_OK(close(d2));
	KC_CHECK_OK(close(d));
	KC_CHECK_OK(close(p[0]));
	KC_CHECK_OK(close(kq));
	KC_CHECK_OK(close(kq2));
}

/* dup2()/dup3() over a registered descriptor removes its knotes. */
static void
test_dup2_over(bool use_dup3)
{
	struct kevent evs[4], ev;
	int kq = kqt_open(), p[2], s[2];

	printf("  %s over a registered descriptor\n",
	    use_dup3 ? "dup3" : "dup2");
	KC_CHECK_OK(pipe2(p, O_CLOEXEC | O_NONBLOCK));
	KC_CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s));
	KQT_CHANGE_OK(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, UD1);
	KC_CHECK_EQ(write(p[1], "a", 1), 1);
	(void)kqt_expect_one(kq, p[0], EVFILT_READ);
	if (use_dup3)
		KC_CHECK_EQ(dup3(s[0], p[0], O_CLOEXEC), p[0]);
	else
		KC_CHECK_EQ(dup2(s[0], p[0]), p[0]);
	KC_CHECK_EQ(write(s[1], "bc", 2), 2);
	KC_CHECK_EQ(kqt_collect(kq, evs, 4, 200), 0);
	KC_CHECK_EQ(kqt_change(kq, p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL),
	    ENOENT);
	KQT_CHANGE_OK(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, UD2);
	ev = kqt_expect_one(kq, p[0], EVFILT_READ);
	KC_CHECK_EQ(ev.data, 2);
	KC_CHECK_PTR_EQ(ev.udata, UD2);
	KC_CHECK_OK(close(p[0]));
	KC_CHECK_OK(close(p[1]));
	KC_CHECK_OK(close(s[0]));
	KC_CHECK_OK(close(s[1]));
	KC_CHECK_OK(close(kq));
}

int
main(void)
{
	kct_begin("kq-kqfd", 60);
	signal(SIGPIPE, SIG_IGN);

	test_poll_kq();
	test_kq_in_kq();
	test_close_wakes();
	test_fork();
	test_close_with_dup();
	test_dup2_over(false);
	test_dup2_over(true);
	return kct_done();
}
