/*
 * unit-kqattach: a filter's attach makes no system call that creates or
 * inspects a kernel object while the thread holds the kqueue's lock
 * (src/kqueue/kq.h, f_prepare).
 *
 * The test program defines the C library functions that make a knote's
 * kernel objects or look at the program's descriptors: timerfd_create,
 * timerfd_settime, pidfd_open (through syscall()), inotify_init1,
 * inotify_add_watch, eventfd, signalfd making a descriptor, fstat and
 * getsockopt.  Its definitions are the ones the library (linked statically)
 * calls; each counts the call, and counts it apart when the calling thread
 * holds the lock of the kqueue under test (the debug builds' record of
 * held locks, core/lockdebug.h), then calls the C library's.  Every kind of
 * change that adds a knote, new or existing, good or failing, is applied;
 * no counted call may have been made under the lock, and each function
 * must have been called (the counting is live).
 *
 * What stays under the lock by design is not counted: epoll_ctl on the
 * kqueue's own epoll set, signalfd() changing the mask of the kqueue's own
 * signalfd, closes and inotify_rm_watch when a knote goes.
 *
 * Registered only when KC_DEBUG is on (the sanitizer builds).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/event.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/lockdebug.h"
#include "kctest.h"
#include "kqueue/kq.h"
#include "kqueue/kqapi.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

enum {
	C_TIMERFD_CREATE,
	C_TIMERFD_SETTIME,
	C_PIDFD_OPEN,
	C_INOTIFY_INIT1,
	C_INOTIFY_ADD_WATCH,
	C_EVENTFD,
	C_SIGNALFD,
	C_FSTAT,
	C_GETSOCKOPT,
	C_N
};

static const char *const call_name[C_N] = {
	"timerfd_create", "timerfd_settime", "pidfd_open", "inotify_init1",
	"inotify_add_watch", "eventfd", "signalfd (new)", "fstat",
	"getsockopt",
};

static struct kq *watched;		/* the kqueue under test */
static unsigned long calls[C_N];	/* atomic */
static unsigned long locked[C_N];	/* atomic: under watched's lock */

static void
count(int c)
{
	struct kq *kq = __atomic_load_n(&watched, __ATOMIC_ACQUIRE);

	__atomic_add_fetch(&calls[c], 1, __ATOMIC_RELAXED);
	if (kq != NULL && kc__held(&kq->kq_lock))
		__atomic_add_fetch(&locked[c], 1, __ATOMIC_RELAXED);
}

/* The next definition: the sanitizer's interceptor, or the C library's. */
static void *
next(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (p == NULL)
		abort();
	return p;
}

int
timerfd_create(int clockid, int flags)
{
	static int (*real)(int, int);

	count(C_TIMERFD_CREATE);
	if (real == NULL)
		real = (int (*)(int, int))next("timerfd_create");
	return real(clockid, flags);
}

int
timerfd_settime(int fd, int flags, const struct itimerspec *n,
    struct itimerspec *o)
{
	static int (*real)(int, int, const struct itimerspec *,
	    struct itimerspec *);

	count(C_TIMERFD_SETTIME);
	if (real == NULL)
		real = (int (*)(int, int, const struct itimerspec *,
		    struct itimerspec *))next("timerfd_settime");
	return real(fd, flags, n, o);
}

long
syscall(long nr, ...)
{
	static long (*real)(long, ...);
	long a[6];
	va_list ap;
	int i;

	va_start(ap, nr);
	for (i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (nr == SYS_pidfd_open)
		count(C_PIDFD_OPEN);
	if (real == NULL)
		real = (long (*)(long, ...))next("syscall");
	return real(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

int
inotify_init1(int flags)
{
	static int (*real)(int);

	count(C_INOTIFY_INIT1);
	if (real == NULL)
		real = (int (*)(int))next("inotify_init1");
	return real(flags);
}

int
inotify_add_watch(int fd, const char *path, uint32_t mask)
{
	static int (*real)(int, const char *, uint32_t);

	count(C_INOTIFY_ADD_WATCH);
	if (real == NULL)
		real = (int (*)(int, const char *, uint32_t))
		    next("inotify_add_watch");
	return real(fd, path, mask);
}

int
eventfd(unsigned int initval, int flags)
{
	static int (*real)(unsigned int, int);

	count(C_EVENTFD);
	if (real == NULL)
		real = (int (*)(unsigned int, int))next("eventfd");
	return real(initval, flags);
}

int
signalfd(int fd, const sigset_t *mask, int flags)
{
	static int (*real)(int, const sigset_t *, int);

	/* Changing an existing one's mask stays under the lock. */
	if (fd < 0)
		count(C_SIGNALFD);
	if (real == NULL)
		real = (int (*)(int, const sigset_t *, int))next("signalfd");
	return real(fd, mask, flags);
}

int
fstat(int fd, struct stat *st)
{
	static int (*real)(int, struct stat *);

	count(C_FSTAT);
	if (real == NULL)
		real = (int (*)(int, struct stat *))next("fstat");
	return real(fd, st);
}

int
getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	static int (*real)(int, int, int, void *, socklen_t *);

	count(C_GETSOCKOPT);
	if (real == NULL)
		real = (int (*)(int, int, int, void *, socklen_t *))
		    next("getsockopt");
	return real(fd, level, name, val, len);
}

/* ---- the changes ---- */

static int kqfd = -1;
static char dir[64];

static void
ev_set(struct kevent *ev, uintptr_t ident, short filter, unsigned short flags,
    unsigned fflags, int64_t data)
{
	EV_SET(ev, ident, filter, flags, fflags, data, NULL);
}

/* Apply n changes with EV_RECEIPT; each result's data into err[]. */
static void
apply(struct kevent *ch, int n, int *err)
{
	struct kevent out[16];
	int i, got;

	KC_CHECK_LE(n, 16);
	for (i = 0; i < n; i++)
		ch[i].flags |= EV_RECEIPT;
	got = kc__kevent(kqfd, ch, n, out, n, NULL);
	KC_CHECK_EQ(got, n);
	for (i = 0; i < n; i++) {
		KC_CHECK(out[i].flags & EV_ERROR);
		KC_CHECK_EQ(out[i].ident, ch[i].ident);
		KC_CHECK_EQ(out[i].filter, ch[i].filter);
		err[i] = (int)out[i].data;
	}
}

static void
timers(void)
{
	struct kevent ch[5];
	int err[5];

	/* New, modified in the same list and again, added, deleted, added. */
	ev_set(&ch[0], 1, EVFILT_TIMER, EV_ADD, 0, 60000);
	ev_set(&ch[1], 1, EVFILT_TIMER, EV_ADD, NOTE_SECONDS, 3600);
	ev_set(&ch[2], 2, EVFILT_TIMER, EV_ADD | EV_ONESHOT, 0, 50000);
	ev_set(&ch[3], 2, EVFILT_TIMER, EV_DELETE, 0, 0);
	ev_set(&ch[4], 2, EVFILT_TIMER, EV_ADD, NOTE_USECONDS, 1000000000);
	apply(ch, 5, err);
	KC_CHECK_EQ(err[0], 0);
	KC_CHECK_EQ(err[1], 0);
	KC_CHECK_EQ(err[2], 0);
	KC_CHECK_EQ(err[3], 0);
	KC_CHECK_EQ(err[4], 0);
	/* Modify an existing one; a bad one; an absolute one. */
	ev_set(&ch[0], 2, EVFILT_TIMER, EV_ADD, 0, 70000);
	ev_set(&ch[1], 3, EVFILT_TIMER, EV_ADD, NOTE_SECONDS | NOTE_USECONDS,
	    1);
	ev_set(&ch[2], 4, EVFILT_TIMER, EV_ADD | EV_ONESHOT,
	    NOTE_SECONDS | NOTE_ABSTIME, (int64_t)time(NULL) + 3600);
	apply(ch, 3, err);
	KC_CHECK_EQ(err[0], 0);
	KC_CHECK_EQ(err[1], EINVAL);
	KC_CHECK_EQ(err[2], 0);
}

static void
procs(pid_t child)
{
	struct kevent ch[4];
	int err[4];

	ev_set(&ch[0], (uintptr_t)child, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0);
	ev_set(&ch[1], (uintptr_t)child, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0);
	ev_set(&ch[2], 0x7ffffff0, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0);
	ev_set(&ch[3], (uintptr_t)child, EVFILT_PROC, EV_DELETE, 0, 0);
	apply(ch, 4, err);
	KC_CHECK_EQ(err[0], 0);
	KC_CHECK_EQ(err[1], 0);
	KC_CHECK_EQ(err[2], ESRCH);
	KC_CHECK_EQ(err[3], 0);
	ev_set(&ch[0], (uintptr_t)child, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0);
	apply(ch, 1, err);
	KC_CHECK_EQ(err[0], 0);
}

static void
vnodes(void)
{
	char path[128];
	struct kevent ch[6];
	int err[6], f1, f2, d;

	snprintf(path, sizeof(path), "%s/file", dir);
	f1 = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	KC_CHECK_GE(f1, 0);
	f2 = open(path, O_RDONLY | O_CLOEXEC);	/* the same inode */
	KC_CHECK_GE(f2, 0);
	d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	KC_CHECK_GE(d, 0);
	ev_set(&ch[0], (uintptr_t)f1, EVFILT_VNODE, EV_ADD | EV_CLEAR,
	    NOTE_WRITE, 0);
	ev_set(&ch[1], (uintptr_t)f2, EVFILT_VNODE, EV_ADD, NOTE_ATTRIB, 0);
	ev_set(&ch[2], (uintptr_t)d, EVFILT_VNODE, EV_ADD, NOTE_WRITE, 0);
	ev_set(&ch[3], (uintptr_t)f1, EVFILT_VNODE, EV_ADD, NOTE_DELETE, 0);
	ev_set(&ch[4], (uintptr_t)f2, EVFILT_VNODE, EV_DELETE, 0, 0);
	ev_set(&ch[5], (uintptr_t)f2, EVFILT_VNODE, EV_ADD, NOTE_WRITE, 0);
	apply(ch, 6, err);
	KC_CHECK_EQ(err[0], 0);
	KC_CHECK_EQ(err[1], 0);
	KC_CHECK_EQ(err[2], 0);
	KC_CHECK_EQ(err[3], 0);
	KC_CHECK_EQ(err[4], 0);
	KC_CHECK_EQ(err[5], 0);
	/* A regular file's READ knote is woken through inotify too. */
	ev_set(&ch[0], (uintptr_t)f2, EVFILT_READ, EV_ADD, 0, 0);
	apply(ch, 1, err);
	KC_CHECK_EQ(err[0], 0);
	KC_CHECK_EQ(write(f1, "x", 1), 1);
	/* Not left open: the test's descriptors go with the kqueue's. */
	KC_CHECK_OK(close(f1));
	KC_CHECK_OK(close(f2));
	KC_CHECK_OK(close(d));
	KC_CHECK_OK(unlink(path));
}

static void
signals(void)
{
	struct kevent ch[3];
	int err[3];

	/* The kqueue's first signals, in one list; then another, and again. */
	ev_set(&ch[0], SIGUSR1, EVFILT_SIGNAL, EV_ADD, 0, 0);
	ev_set(&ch[1], SIGUSR2, EVFILT_SIGNAL, EV_ADD, 0, 0);
	ev_set(&ch[2], SIGKILL, EVFILT_SIGNAL, EV_ADD, 0, 0);
	apply(ch, 3, err);
	KC_CHECK_EQ(err[0], 0);
	KC_CHECK_EQ(err[1], 0);
	KC_CHECK_EQ(err[2], EINVAL);
	ev_set(&ch[0], SIGWINCH, EVFILT_SIGNAL, EV_ADD, 0, 0);
	ev_set(&ch[1], SIGUSR1, EVFILT_SIGNAL, EV_ADD, 0, 0);
	apply(ch, 2, err);
	KC_CHECK_EQ(err[0], 0);
	KC_CHECK_EQ(err[1], 0);
}

static void
descriptors(void)
{
	struct kevent ch[6];
	int err[6], p[2], s[2], bad;

	KC_CHECK_OK(pipe2(p, O_CLOEXEC));
	KC_CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s));
	bad = dup(p[0]);
	KC_CHECK_GE(bad, 0);
	KC_CHECK_OK(close(bad));
	ev_set(&ch[0], (uintptr_t)p[0], EVFILT_READ, EV_ADD, 0, 0);
	ev_set(&ch[1], (uintptr_t)p[1], EVFILT_WRITE, EV_ADD, 0, 0);
	ev_set(&ch[2], (uintptr_t)s[0], EVFILT_READ, EV_ADD, 0, 0);
	ev_set(&ch[3], (uintptr_t)s[0], EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, 0);
	ev_set(&ch[4], (uintptr_t)bad, EVFILT_READ, EV_ADD, 0, 0);
	ev_set(&ch[5], (uintptr_t)s[0], EVFILT_READ, EV_ADD, NOTE_LOWAT, 2);
	apply(ch, 6, err);
	KC_CHECK_EQ(err[0], 0);
	KC_CHECK_EQ(err[1], 0);
	KC_CHECK_EQ(err[2], 0);
	KC_CHECK_EQ(err[3], 0);
	KC_CHECK_EQ(err[4], EBADF);
	KC_CHECK_EQ(err[5], 0);
	KC_CHECK_OK(close(p[0]));
	KC_CHECK_OK(close(p[1]));
	KC_CHECK_OK(close(s[0]));
	KC_CHECK_OK(close(s[1]));
}

int
main(void)
{
	pid_t child;
	int i, p[2], bad = 0;

	snprintf(dir, sizeof(dir), "/tmp/kqattach.XXXXXX");
	KC_CHECK(mkdtemp(dir) != NULL);
	KC_CHECK_OK(pipe(p));
	child = fork();
	KC_CHECK_GE(child, 0);
	if (child == 0) {
		char c;

		close(p[1]);
		(void)!read(p[0], &c, 1);	/* until the parent is done */
		_exit(0);
	}
	close(p[0]);

	kqfd = kc__kqueue();
	KC_CHECK_GE(kqfd, 0);
	__atomic_store_n(&watched, kc__kq_hold(kqfd), __ATOMIC_RELEASE);
	KC_CHECK(watched != NULL);

	timers();
	procs(child);
	vnodes();
	signals();
	descriptors();

	for (i = 0; i < C_N; i++) {
		printf("  %-18s %4lu calls, %lu under the kqueue's lock\n",
		    call_name[i], calls[i], locked[i]);
		if (locked[i] != 0 || calls[i] == 0)
			bad = 1;
	}
	KC_CHECK_EQ(bad, 0);

	kc__kq_release(__atomic_exchange_n(&watched, NULL, __ATOMIC_ACQ_REL));
	KC_CHECK_OK(kc__close(kqfd));
	KC_CHECK_OK(close(p[1]));
	KC_CHECK_EQ(waitpid(child, NULL, 0), child);
	KC_CHECK_OK(rmdir(dir));
	printf("unit-kqattach: ok\n");
	return 0;
}
