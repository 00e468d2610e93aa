/*
 * kq-badinput: kevent() with bad input (see notes/kq-spec.md, Errors).
 *
 *   unknown filters (-100, 0, 5, -14, SHRT_MIN, SHRT_MAX) and the
 *   unsupported ones (AIO, PROCDESC, FS, LIO, SENDFILE, EMPTY) -> EINVAL;
 *   EV_DELETE / EV_ENABLE / EV_DISABLE / flags 0 on a missing knote ->
 *   ENOENT (READ, WRITE, USER, TIMER);
 *   READ/WRITE/VNODE on a negative, huge or closed descriptor -> EBADF;
 *   NULL changelist with nchanges > 0, NULL eventlist with nevents > 0 ->
 *   EFAULT; nchanges < 0 or nevents < 0 -> EINVAL;
 *   timeouts with tv_nsec >= 1e9 (2e9), tv_nsec < 0, tv_sec < 0 -> EINVAL;
 *   a huge tv_sec waits (no error) and returns the event when it comes;
 *   kevent() on a pipe, a regular file, a plain epoll descriptor, -1, a
 *   huge number or a closed number -> EBADF;
 *   nevents 0 applies the changes and returns at once, even timeout NULL;
 *   changelist errors come back as EV_ERROR entries (data = errno, other
 *   fields copied) in order while there is room, and processing goes on
 *   (later good changes are applied); with no room, -1 with that errno;
 *   EV_RECEIPT and errors mixed;
 *   random changes (no EV_KCONT): never a crash, only the documented
 *   errors, and the kqueue still works afterwards.
 */
#include <sys/event.h>
#include "kctest.h"
#include "kqtest.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define UD1	((void *)(uintptr_t)0xabcd)
#define UD2	((void *)(uintptr_t)0xbcde)

/*
 * The one change, with room for its error: one EV_ERROR entry, data = the
 * errno, the other fields copied; returns that errno.
 */
static int
change_entry(int kq, uintptr_t ident, short filter, unsigned short flags,
    unsigned int fflags, int64_t data, void *udata)
{
	struct kevent kev, out[2];
	int n;

	EV_SET(&kev, ident, filter, flags, fflags, data, udata);
	memset(out, 0xa5, sizeof(out));
	n = kevent(kq, &kev, 1, out, 2, &kqt_zero_ts);
	KC_CHECK_EQ(n, 1);
	KC_CHECK(out[0].flags & EV_ERROR);
	KC_CHECK_EQ(out[0].ident, ident);
	KC_CHECK_EQ(out[0].filter, filter);
	KC_CHECK_PTR_EQ(out[0].udata, udata);
	return (int)out[0].data;
}

/* kevent() itself fails with want. */
#define KEVENT_FAILS(want, ...) do {					\
	errno = 0;							\
	KC_CHECK_EQ(kevent(__VA_ARGS__), -1);				\
	KC_CHECK_EQ(errno, (want));					\
} while (0)

static int
closed_fd(void)
{
	int p[2];

	KC_CHECK_OK(pipe2(p, O_CLOEXEC));
	KC_CHECK_OK(close(p[1]));
	KC_CHECK_OK(close(p[0]));
	return p[0];
}

static void
test_filters(int kq, int fd)
{
	static const short bad[] = {
		-100, 0, 5, -14, SHRT_MIN, SHRT_MAX,
		EVFILT_AIO, EVFILT_PROCDESC, EVFILT_FS, EVFILT_LIO,
		EVFILT_SENDFILE, EVFILT_EMPTY,
	};
	unsigned i;

	printf("  unknown and unsupported filters\n");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		KC_CHECK_EQ(kqt_change(kq, fd, bad[i], EV_ADD, 0, 0, UD1),
		    EINVAL);
		KC_CHECK_EQ(change_entry(kq, fd, bad[i], EV_ADD, 0, 0, UD1),
		    EINVAL);
		KC_CHECK_EQ(kqt_change(kq, fd, bad[i], EV_DELETE, 0, 0, UD1),
		    EINVAL);
	}
}

static void
test_missing(int kq, int fd)
{
	static const unsigned short fl[] = { EV_DELETE, EV_ENABLE, EV_DISABLE,
		0 };
	static const short filt[] = { EVFILT_READ, EVFILT_WRITE, EVFILT_USER,
		EVFILT_TIMER };
	unsigned i, j;
	uintptr_t id;

	printf("  missing knotes\n");
	for (i = 0; i < sizeof(filt) / sizeof(filt[0]); i++)
		for (j = 0; j < sizeof(fl) / sizeof(fl[0]); j++) {
			id = (filt[i] == EVFILT_READ ||
			    filt[i] == EVFILT_WRITE) ? (uintptr_t)fd : 4242;
			KC_CHECK_EQ(kqt_change(kq, id, filt[i], fl[j], 0, 0,
			    NULL), ENOENT);
			KC_CHECK_EQ(change_entry(kq, id, filt[i], fl[j], 0, 0,
			    UD2), ENOENT);
		}
	/* READ registered: WRITE on the same descriptor is still missing */
	KQT_CHANGE_OK(kq, fd, EVFILT_READ, EV_ADD, 0, 0, NULL);
	KC_CHECK_EQ(kqt_change(kq, fd, EVFILT_WRITE, EV_DELETE, 0, 0, NULL),
	    ENOENT);
	KQT_CHANGE_OK(kq, fd, EVFILT_READ, EV_DELETE, 0, 0, NULL);
}

static void
test_bad_idents(int kq)
{
	static const short filt[] = { EVFILT_READ, EVFILT_WRITE,
		EVFILT_VNODE };
	uintptr_t ids[6];
	unsigned i, j;

	printf("  bad descriptors in changes\n");
	ids[0] = (uintptr_t)-1;
	ids[1] = (uintptr_t)-5;
	ids[2] = (uintptr_t)INT_MAX;
	ids[3] = (uintptr_t)1 << 40;
	ids[4] = 1000000;
	ids[5] = (uintptr_t)closed_fd();
	for (i = 0; i < sizeof(filt) / sizeof(filt[0]); i++)
		for (j = 0; j < sizeof(ids) / sizeof(ids[0]); j++) {
			unsigned int ff = filt[i] == EVFILT_VNODE ?
			    NOTE_WRITE : 0;

			KC_CHECK_EQ(kqt_change(kq, ids[j], filt[i], EV_ADD, ff,
			    0, UD1), EBADF);
			KC_CHECK_EQ(change_entry(kq, ids[j], filt[i], EV_ADD,
			    ff, 0, UD1), EBADF);
		}
}

static void
test_bad_args(int kq, int fd)
{
	struct kevent ch, ev[2];
	struct timespec ts;

	printf("  bad arguments\n");
	EV_SET(&ch, fd, EVFILT_READ, EV_ADD, 0, 0, NULL);
	KEVENT_FAILS(EFAULT, kq, NULL, 1, ev, 2, &kqt_zero_ts);
	KEVENT_FAILS(EFAULT, kq, NULL, 1, NULL, 0, &kqt_zero_ts);
	KEVENT_FAILS(EFAULT, kq, NULL, 0, NULL, 1, &kqt_zero_ts);
	KEVENT_FAILS(EINVAL, kq, &ch, -1, ev, 2, &kqt_zero_ts);
	KEVENT_FAILS(EINVAL, kq, NULL, -1, NULL, 0, &kqt_zero_ts);
	KEVENT_FAILS(EINVAL, kq, NULL, 0, ev, -1, &kqt_zero_ts);
	KEVENT_FAILS(EINVAL, kq, NULL, INT_MIN, ev, 2, &kqt_zero_ts);
	KEVENT_FAILS(EINVAL, kq, NULL, 0, ev, INT_MIN, &kqt_zero_ts);
	/* none of that registered anything */
	KC_CHECK_EQ(kqt_change(kq, fd, EVFILT_READ, EV_DELETE, 0, 0, NULL),
	    ENOENT);

	ts.tv_sec = 0;
	ts.tv_nsec = 2000000000L;
	KEVENT_FAILS(EINVAL, kq, NULL, 0, ev, 2, &ts);
	ts.tv_nsec = 1000000000L;
	KEVENT_FAILS(EINVAL, kq, NULL, 0, ev, 2, &ts);
	ts.tv_nsec = -1;
	KEVENT_FAILS(EINVAL, kq, NULL, 0, ev, 2, &ts);
	ts.tv_sec = -1;
	ts.tv_nsec = 0;
	KEVENT_FAILS(EINVAL, kq, NULL, 0, ev, 2, &ts);
	ts.tv_sec = LONG_MIN;
	KEVENT_FAILS(EINVAL, kq, NULL, 0, ev, 2, &ts);
	/* edge values that are fine */
	ts.tv_sec = 0;
	ts.tv_nsec = 999999999L;
	KC_CHECK_EQ(kevent(kq, NULL, 0, NULL, 0, &ts), 0);
	ts.tv_nsec = 1;
	KC_CHECK_EQ(kevent(kq, NULL, 0, ev, 2, &ts), 0);
}

struct later_write {
	int		fd;
	uint64_t	delay_ns;
};

static void *
later_write_main(void *arg)
{
	struct later_write *lw = arg;

	kct_sleep_ns(lw->delay_ns);
	KC_CHECK_EQ(write(lw->fd, "w", 1), 1);
	return NULL;
}

/* A huge tv_sec is "for ever", not an error or an overflow. */
static void
test_huge_timeout(int kq)
{
	struct later_write lw;
	struct kevent ev[2];
	struct timespec ts;
	pthread_t t;
	int p[2], n;

	printf("  huge timeouts\n");
	KC_CHECK_OK(pipe2(p, O_CLOEXEC | O_NONBLOCK));
	KQT_CHANGE_OK(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, UD1);
	ts.tv_sec = (time_t)LONG_MAX;
	ts.tv_nsec = 999999999L;
	/* nevents 0: back at once */
	KC_CHECK_EQ(kevent(kq, NULL, 0, NULL, 0, &ts), 0);
	/* ready: returns it */
	KC_CHECK_EQ(write(p[1], "a", 1), 1);
	n = kevent(kq, NULL, 0, ev, 2, &ts);
	KC_CHECK_EQ(n, 1);
	KC_CHECK_EQ(ev[0].ident, (uintptr_t)p[0]);
	KC_CHECK_EQ(read(p[0], ev, 1), 1);
	/* not ready: waits until it is (the watchdog bounds this) */
	lw.fd = p[1];
	lw.delay_ns = 50 * KCT_NSEC_PER_MSEC;
	t = kct_thread_start(later_write_main, &lw);
	n = kevent(kq, NULL, 0, ev, 2, &ts);
	KC_CHECK_EQ(n, 1);
	KC_CHECK_EQ(ev[0].ident, (uintptr_t)p[0]);
	KC_CHECK_PTR_EQ(ev[0].udata, UD1);
	(void)kct_thread_join(t);
	/* other large values */
	ts.tv_sec = (time_t)INT_MAX;
	ts.tv_nsec = 0;
	n = kevent(kq, NULL, 0, ev, 2, &ts);
	KC_CHECK_EQ(n, 1);
	ts.tv_sec = (time_t)1 << 40;
	n = kevent(kq, NULL, 0, ev, 2, &ts);
	KC_CHECK_EQ(n, 1);
	KC_CHECK_OK(close(p[0]));
	KC_CHECK_OK(close(p[1]));
}

/* kevent() on descriptors that are not kqueues. */
static void
test_not_kqueue(void)
{
	char path[] = "/tmp/kq-badinput.XXXXXX";
	struct kevent ch, ev[2];
	int p[2], f, ep, fds[4], i;

	printf("  kevent on non-kqueue descriptors\n");
	KC_CHECK_OK(pipe2(p, O_CLOEXEC));
	f = mkstemp(path);
	KC_CHECK_GE(f, 0);
	KC_CHECK_OK(unlink(path));
	ep = epoll_create1(EPOLL_CLOEXEC);
	KC_CHECK_GE(ep, 0);
	fds[0] = p[0];
	fds[1] = p[1];
	fds[2] = f;
	fds[3] = ep;
	EV_SET(&ch, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	for (i = 0; i < 4; i++) {
		KEVENT_FAILS(EBADF, fds[i], NULL, 0, ev, 2, &kqt_zero_ts);
		KEVENT_FAILS(EBADF, fds[i], &ch, 1, NULL, 0, &kqt_zero_ts);
		KEVENT_FAILS(EBADF, fds[i], NULL, 0, NULL, 0, NULL);
	}
	KEVENT_FAILS(EBADF, -1, NULL, 0, ev, 2, &kqt_zero_ts);
	KEVENT_FAILS(EBADF, -1, &ch, 1, NULL, 0, NULL);
	KEVENT_FAILS(EBADF, INT_MIN, NULL, 0, ev, 2, &kqt_zero_ts);
	KEVENT_FAILS(EBADF, INT_MAX, NULL, 0, ev, 2, &kqt_zero_ts);
	KEVENT_FAILS(EBADF, 1000000, NULL, 0, ev, 2, &kqt_zero_ts);
	KEVENT_FAILS(EBADF, closed_fd(), NULL, 0, ev, 2, &kqt_zero_ts);
	KEVENT_FAILS(EBADF, closed_fd(), &ch, 1, NULL, 0, NULL);
	/* the pipe is still an ordinary pipe */
	KC_CHECK_EQ(write(p[1], "k", 1), 1);
	KC_CHECK_EQ(read(p[0], ev, 1), 1);
	KC_CHECK_OK(close(p[0]));
	KC_CHECK_OK(close(p[1]));
	KC_CHECK_OK(close(f));
	KC_CHECK_OK(close(ep));
}

static void *
nevents0_main(void *arg)
{
	atomic_int *flag = arg;
	int kq = kqt_open(), p[2];
	struct kevent ch;

	KC_CHECK_OK(pipe2(p, O_CLOEXEC));
	EV_SET(&ch, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	KC_CHECK_EQ(kevent(kq, NULL, 0, NULL, 0, NULL), 0);
	KC_CHECK_EQ(kevent(kq, &ch, 1, NULL, 0, NULL), 0);
	KC_CHECK_EQ(write(p[1], "n", 1), 1);
	KC_CHECK_EQ(kevent(kq, NULL, 0, NULL, 0, NULL), 0);
	KC_CHECK_EQ(kevent(kq, &ch, 1, NULL, 0, NULL), 0);	/* modify */
	KC_CHECK_OK(close(p[0]));
	KC_CHECK_OK(close(p[1]));
	KC_CHECK_OK(close(kq));
	atomic_store(flag, 1);
	return NULL;
}

/* nevents 0 with timeout NULL returns at once. */
static void
test_nevents0(void)
{
	atomic_int flag = 0;
	pthread_t t;

	printf("  nevents 0, timeout NULL\n");
	t = kct_thread_start(nevents0_main, &flag);
	KCT_WAIT(atomic_load(&flag) == 1, 5);
	(void)kct_thread_join(t);
}

/* Errors are entries, in order, and processing goes on. */
static void
test_error_entries(int kq)
{
	struct kevent ch[6], out[8], ev[4];
	int pa[2], pb[2], pc[2], cfd, n, i;
	bool seen_a = false, seen_b = false;

	printf("  EV_ERROR entries\n");
	KC_CHECK_OK(pipe2(pa, O_CLOEXEC | O_NONBLOCK));
	KC_CHECK_OK(pipe2(pb, O_CLOEXEC | O_NONBLOCK));
	KC_CHECK_OK(pipe2(pc, O_CLOEXEC | O_NONBLOCK));
	cfd = closed_fd();
	EV_SET(&ch[0], pa[0], EVFILT_READ, EV_ADD, 0, 0, UD1);
	EV_SET(&ch[1], pa[0], -100, EV_ADD, 7, 8, (void *)(uintptr_t)1);
	EV_SET(&ch[2], pb[0], EVFILT_READ, EV_ADD, 0, 0, UD2);
	EV_SET(&ch[3], pc[0], EVFILT_READ, EV_DELETE, 0, 0,
	    (void *)(uintptr_t)2);
	EV_SET(&ch[4], cfd, EVFILT_READ, EV_ADD, 0, 0, (void *)(uintptr_t)3);
	EV_SET(&ch[5], pc[0], EVFILT_WRITE, EV_ENABLE, 0, 0,
	    (void *)(uintptr_t)4);
	memset(out, 0xa5, sizeof(out));
	n = kevent(kq, ch, 6, out, 8, &kqt_zero_ts);
	KC_CHECK_EQ(n, 4);
	KC_CHECK(out[0].flags & EV_ERROR);
	KC_CHECK_EQ(out[0].data, EINVAL);
	KC_CHECK_EQ(out[0].ident, (uintptr_t)pa[0]);
	KC_CHECK_EQ(out[0].filter, -100);
	KC_CHECK_EQ(out[0].fflags, 7u);
	KC_CHECK_PTR_EQ(out[0].udata, (void *)(uintptr_t)1);
	KC_CHECK(out[1].flags & EV_ERROR);
	KC_CHECK_EQ(out[1].data, ENOENT);
	KC_CHECK_EQ(out[1].ident, (uintptr_t)pc[0]);
	KC_CHECK_PTR_EQ(out[1].udata, (void *)(uintptr_t)2);
	KC_CHECK(out[2].flags & EV_ERROR);
	KC_CHECK_EQ(out[2].data, EBADF);
	KC_CHECK_EQ(out[2].ident, (uintptr_t)cfd);
	KC_CHECK_PTR_EQ(out[2].udata, (void *)(uintptr_t)3);
	KC_CHECK(out[3].flags & EV_ERROR);
	KC_CHECK_EQ(out[3].data, ENOENT);
	KC_CHECK_EQ(out[3].filter, EVFILT_WRITE);
	KC_CHECK_PTR_EQ(out[3].udata, (void *)(uintptr_t)4);
	/* the good changes on either side of the errors were applied */
	KC_CHECK_EQ(kqt_collect(kq, ev, 4, 0), 0);
	KC_CHECK_EQ(write(pa[1], "a", 1), 1);
	KC_CHECK_EQ(write(pb[1], "b", 1), 1);
	for (i = 0; i < 20 && !(seen_a && seen_b); i++) {
		int j, m = kqt_collect(kq, ev, 4, KQT_WAIT_MS / 10);

		for (j = 0; j < m; j++) {
			KC_CHECK_EQ(ev[j].flags & EV_ERROR, 0);
			if (ev[j].ident == (uintptr_t)pa[0]) {
				KC_CHECK_PTR_EQ(ev[j].udata, UD1);
				seen_a = true;
			} else {
				KC_CHECK_EQ(ev[j].ident, (uintptr_t)pb[0]);
				KC_CHECK_PTR_EQ(ev[j].udata, UD2);
				seen_b = true;
			}
		}
	}
	KC_CHECK(seen_a && seen_b);

	/* exactly as much room as errors */
	EV_SET(&ch[0], pa[0], -100, EV_ADD, 0, 0, NULL);
	EV_SET(&ch[1], pc[0], EVFILT_READ, EV_DELETE, 0, 0, NULL);
	n = kevent(kq, ch, 2, out, 2, &kqt_zero_ts);
	KC_CHECK_EQ(n, 2);
	KC_CHECK_EQ(out[0].data, EINVAL);
	KC_CHECK_EQ(out[1].data, ENOENT);

	/* no room: -1 with the error */
	EV_SET(&ch[0], pa[0], -100, EV_ADD, 0, 0, NULL);
	KEVENT_FAILS(EINVAL, kq, ch, 1, NULL, 0, &kqt_zero_ts);
	EV_SET(&ch[0], pc[0], EVFILT_READ, EV_DELETE, 0, 0, NULL);
	KEVENT_FAILS(ENOENT, kq, ch, 1, NULL, 0, NULL);
	EV_SET(&ch[0], cfd, EVFILT_READ, EV_ADD, 0, 0, NULL);
	KEVENT_FAILS(EBADF, kq, ch, 1, out, 0, &kqt_zero_ts);

	/* EV_RECEIPT and errors mixed: one entry per change, in order */
	EV_SET(&ch[0], pc[0], EVFILT_READ, EV_ADD | EV_RECEIPT, 0, 0, UD1);
	EV_SET(&ch[1], pc[0], -100, EV_ADD | EV_RECEIPT, 0, 0, UD2);
	EV_SET(&ch[2], pc[0], EVFILT_READ, EV_DELETE | EV_RECEIPT, 0, 0, UD1);
	EV_SET(&ch[3], pc[0], EVFILT_READ, EV_DELETE | EV_RECEIPT, 0, 0, UD2);
	memset(out, 0xa5, sizeof(out));
	n = kevent(kq, ch, 4, out, 8, &kqt_zero_ts);
	KC_CHECK_EQ(n, 4);
	for (i = 0; i < 4; i++) {
		KC_CHECK(out[i].flags & EV_ERROR);
		KC_CHECK_EQ(out[i].ident, (uintptr_t)pc[0]);
	}
	KC_CHECK_EQ(out[0].data, 0);
	KC_CHECK_EQ(out[1].data, EINVAL);
	KC_CHECK_EQ(out[2].data, 0);
	KC_CHECK_EQ(out[3].data, ENOENT);
	KC_CHECK_PTR_EQ(out[1].udata, UD2);

	KQT_CHANGE_OK(kq, pa[0], EVFILT_READ, EV_DELETE, 0, 0, NULL);
	KQT_CHANGE_OK(kq, pb[0], EVFILT_READ, EV_DELETE, 0, 0, NULL);
	KC_CHECK_OK(close(pa[0]));
	KC_CHECK_OK(close(pa[1]));
	KC_CHECK_OK(close(pb[0]));
	KC_CHECK_OK(close(pb[1]));
	KC_CHECK_OK(close(pc[0]));
	KC_CHECK_OK(close(pc[1]));
}

/* Random changes: only documented errors, never a crash. */
static void
test_fuzz(void)
{
	static const short filt[] = { EVFILT_READ, EVFILT_WRITE, EVFILT_USER,
		EVFILT_TIMER, EVFILT_VNODE, -100, 0, 1, EVFILT_AIO,
		EVFILT_EMPTY };
	struct kevent ch[4], out[8];
	uintptr_t ids[6];
	unsigned i, iters = kct_sanitized() ? 500 : 3000;
	int kq = kqt_open(), p[2], n, j, nch, nev;

	printf("  random changes x %u\n", iters);
	KC_CHECK_OK(pipe2(p, O_CLOEXEC | O_NONBLOCK));
	KC_CHECK_EQ(write(p[1], "f", 1), 1);
	ids[0] = (uintptr_t)p[0];
	ids[1] = (uintptr_t)p[1];
	ids[2] = (uintptr_t)closed_fd();
	ids[3] = (uintptr_t)-1;
	ids[4] = 77;
	ids[5] = (uintptr_t)1 << 33;
	for (i = 0; i < iters; i++) {
		nch = (int)kct_rand_below(5);
		for (j = 0; j < nch; j++) {
			unsigned short fl = (unsigned short)kct_rand();
			short f = filt[kct_rand_below(sizeof(filt) /
			    sizeof(filt[0]))];
			unsigned int ff = (unsigned int)kct_rand();
			int64_t data;

			/* udata is no kc; no system/output bits */
			fl &= (unsigned short)~(EV_KCONT | EV_SYSFLAGS);
			if (f == EVFILT_TIMER) {
				/* a real unit and a sane period, mostly */
				ff &= kct_rand_below(4) == 0 ? 0xff : 0x0f;
				data = (int64_t)kct_rand_below(200) - 10;
			} else {
				data = (int64_t)kct_rand_below(1 << 20) - 100;
			}
			EV_SET(&ch[j], ids[kct_rand_below(6)], f, fl, ff, data,
			    (void *)(uintptr_t)kct_rand());
		}
		nev = (int)kct_rand_below(9);
		errno = 0;
		n = kevent(kq, nch ? ch : NULL, nch, nev ? out : NULL, nev,
		    &kqt_zero_ts);
		if (n < 0) {
			KC_CHECK_EQ(n, -1);
			if (errno != EINVAL && errno != ENOENT &&
			    errno != EBADF)
				kct_fail(__FILE__, __LINE__, "iteration %u: "
				    "errno %d", i, errno);
			continue;
		}
		KC_CHECK_LE(n, nev);
		for (j = 0; j < n; j++)
			if (out[j].flags & EV_ERROR)
				KC_CHECK(out[j].data == 0 ||
				    out[j].data == EINVAL ||
				    out[j].data == ENOENT ||
				    out[j].data == EBADF);
	}
	/* still a working kqueue (a fresh knote: the old may be disabled) */
	n = kqt_change(kq, p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL);
	KC_CHECK(n == 0 || n == ENOENT);
	KQT_CHANGE_OK(kq, p[0], EVFILT_READ, EV_ADD | EV_ONESHOT, 0, 0, UD1);
	for (i = 0; i < 1000; i++) {
		n = kqt_collect(kq, out, 8, 10);
		for (j = 0; j < n; j++)
			if (out[j].ident == (uintptr_t)p[0] &&
			    out[j].filter == EVFILT_READ &&
			    out[j].udata == UD1)
				break;
		if (j < n)
			break;
	}
	KC_CHECK_LT(i, 1000);
	KC_CHECK_OK(close(kq));
	KC_CHECK_OK(close(p[0]));
	KC_CHECK_OK(close(p[1]));
}

int
main(void)
{
	int kq, p[2];

	kct_begin("kq-badinput", 60);
	signal(SIGPIPE, SIG_IGN);
	kq = kqt_open();
	KC_CHECK_OK(pipe2(p, O_CLOEXEC | O_NONBLOCK));

	test_filters(kq, p[0]);
	test_missing(kq, p[0]);
	test_bad_idents(kq);
	test_bad_args(kq, p[0]);
	test_huge_timeout(kq);
	test_not_kqueue();
	test_nevents0();
	test_error_entries(kq);
	test_fuzz();

	KC_CHECK_OK(close(p[0]));
	KC_CHECK_OK(close(p[1]));
	KC_CHECK_OK(close(kq));
	return kct_done();
}
