/*
 * kq-changelist: one changelist that adds, deletes and adds again, mixes
 * good and failing changes, or runs out of room for its errors gives
 * exactly FreeBSD's results, in order; what a change needed and did not
 * use is not kept (no descriptor is left open).
 *
 * Covers: EV_ADD, EV_DELETE, EV_ADD of one timer ident in one call (the
 * knote of the last add is the one that fires: its udata and period), the
 * same for a VNODE knote (its inotify watch survives the delete between,
 * a write is seen), a PROC knote and a SIGNAL knote; EV_ADD then EV_ADD
 * (the second modifies the first: one knote, the second's udata); delete,
 * add, delete, delete (ENOENT, 0, 0, ENOENT); with EV_RECEIPT, a list of
 * good changes and failing ones (a PROC of a pid that does not exist:
 * ESRCH; NOTE_FORK: EINVAL; two timer units: EINVAL; a closed descriptor:
 * EBADF; SIGKILL: EINVAL), each result with the change's ident, filter and
 * udata, flags EV_ERROR, data the error, fflags the change's unless a knote
 * was made for it (FreeBSD clears them when it copies the change into a new
 * knote), and every good change applied; with no room for an error, -1 and
 * that errno, the changes before it applied and those after not, the
 * errors before it in the eventlist; and threads adding and deleting VNODE
 * knotes of one file on one kqueue while another adds one, writes and
 * expects the event, many times.
 */
#include <sys/event.h>

#include "kctest.h"
#include "kqtest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[64];

static const char *
path(const char *name)
{
	static char buf[128];

	snprintf(buf, sizeof(buf), "%s/%s", dir, name);
	return buf;
}

/* Open descriptors of the process. */
static int
nfds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	KC_CHECK(d != NULL);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	KC_CHECK_OK(closedir(d));
	return n;
}

/* A pid that names no process: a child of ours, reaped. */
static pid_t
dead_pid(void)
{
	pid_t pid = fork();

	KC_CHECK_GE(pid, 0);
	if (pid == 0)
		_exit(0);
	KC_CHECK_EQ(waitpid(pid, NULL, 0), pid);
	return pid;
}

static void
set(struct kevent *ev, uintptr_t ident, short filter, unsigned short flags,
    unsigned fflags, int64_t data, uintptr_t udata)
{
	EV_SET(ev, ident, filter, flags, fflags, data, (void *)udata);
}

/* The receipt for ch: its ident, filter, udata; EV_ERROR, err, fflags. */
static void
receipt_at(int line, const struct kevent *out, const struct kevent *ch,
    int err, unsigned fflags)
{
	if (out->ident != ch->ident || out->filter != ch->filter ||
	    out->udata != ch->udata || out->flags != EV_ERROR ||
	    out->data != err || out->fflags != fflags)
		kct_fail(__FILE__, line, "receipt: ident %ju filter %d flags "
		    "%#x data %jd fflags %#x udata %p; expected ident %ju "
		    "filter %d data %d fflags %#x udata %p",
		    (uintmax_t)out->ident, out->filter, out->flags,
		    (intmax_t)out->data, out->fflags, out->udata,
		    (uintmax_t)ch->ident, ch->filter, err, fflags, ch->udata);
}
#define receipt(out, ch, err, ff)	receipt_at(__LINE__, out, ch, err, ff)

/* Apply n changes (EV_RECEIPT on each): n results. */
static void
apply(int kq, struct kevent *ch, int n, struct kevent *out)
{
	int i;

	for (i = 0; i < n; i++)
		ch[i].flags |= EV_RECEIPT;
	memset(out, 0, (size_t)n * sizeof(*out));
	KC_CHECK_EQ(kevent(kq, ch, n, out, n, &kqt_zero_ts), n);
}

/* The knote (ident, filter) exists: deleting it works, once. */
static void
gone_after_delete(int kq, uintptr_t ident, short filter)
{
	KC_CHECK_EQ(kqt_change(kq, ident, filter, EV_DELETE, 0, 0, NULL), 0);
	KC_CHECK_EQ(kqt_change(kq, ident, filter, EV_DELETE, 0, 0, NULL),
	    ENOENT);
}

static void
absent(int kq, uintptr_t ident, short filter)
{
	KC_CHECK_EQ(kqt_change(kq, ident, filter, EV_DELETE, 0, 0, NULL),
	    ENOENT);
}

static void
test_add_delete_add_timer(int kq)
{
	struct kevent ch[3], out[3], ev;

	set(&ch[0], 1, EVFILT_TIMER, EV_ADD, NOTE_SECONDS, 3600, 0xa);
	set(&ch[1], 1, EVFILT_TIMER, EV_DELETE, 0, 0, 0xb);
	set(&ch[2], 1, EVFILT_TIMER, EV_ADD | EV_ONESHOT, NOTE_MSECONDS, 1,
	    0xc);
	apply(kq, ch, 3, out);
	receipt(&out[0], &ch[0], 0, 0);		/* a new knote: fflags 0 */
	receipt(&out[1], &ch[1], 0, 0);
	receipt(&out[2], &ch[2], 0, 0);
	/* The third change's timer: 1 ms, its udata, one-shot. */
	kqt_get_one(kq, 1, EVFILT_TIMER, KQT_WAIT_MS, &ev);
	KC_CHECK_PTR_EQ(ev.udata, (void *)0xc);
	KC_CHECK_GE(ev.data, 1);
	KC_CHECK(ev.flags & EV_ONESHOT);
	absent(kq, 1, EVFILT_TIMER);
}

static void
test_add_add_timer(int kq)
{
	struct kevent ch[2], out[2], ev;

	set(&ch[0], 2, EVFILT_TIMER, EV_ADD, NOTE_SECONDS, 3600, 0xa);
	set(&ch[1], 2, EVFILT_TIMER, EV_ADD | EV_ONESHOT, NOTE_MSECONDS, 1,
	    0xb);
	apply(kq, ch, 2, out);
	receipt(&out[0], &ch[0], 0, 0);
	/* A modification: the receipt keeps the change's fflags. */
	receipt(&out[1], &ch[1], 0, NOTE_MSECONDS);
	kqt_get_one(kq, 2, EVFILT_TIMER, KQT_WAIT_MS, &ev);
	KC_CHECK_PTR_EQ(ev.udata, (void *)0xb);
	/* One knote, gone with its one-shot event. */
	absent(kq, 2, EVFILT_TIMER);
}

static void
test_delete_add_delete(int kq)
{
	struct kevent ch[4], out[4];

	set(&ch[0], 3, EVFILT_TIMER, EV_DELETE, 0, 0, 0);
	set(&ch[1], 3, EVFILT_TIMER, EV_ADD, 0, 60000, 0);
	set(&ch[2], 3, EVFILT_TIMER, EV_DELETE, 0, 0, 0);
	set(&ch[3], 3, EVFILT_TIMER, EV_DELETE, 0, 0, 0);
	apply(kq, ch, 4, out);
	receipt(&out[0], &ch[0], ENOENT, 0);
	receipt(&out[1], &ch[1], 0, 0);
	receipt(&out[2], &ch[2], 0, 0);
	receipt(&out[3], &ch[3], ENOENT, 0);
	absent(kq, 3, EVFILT_TIMER);
}

static void
test_add_delete_add_vnode(int kq)
{
	struct kevent ch[3], out[3], ev;
	int fd;

	fd = open(path("v"), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	KC_CHECK_GE(fd, 0);
	set(&ch[0], (uintptr_t)fd, EVFILT_VNODE, EV_ADD, NOTE_ATTRIB, 0, 0xa);
	set(&ch[1], (uintptr_t)fd, EVFILT_VNODE, EV_DELETE, 0, 0, 0xb);
	set(&ch[2], (uintptr_t)fd, EVFILT_VNODE, EV_ADD | EV_CLEAR, NOTE_WRITE,
	    0, 0xc);
	apply(kq, ch, 3, out);
	receipt(&out[0], &ch[0], 0, 0);
	receipt(&out[1], &ch[1], 0, 0);
	receipt(&out[2], &ch[2], 0, 0);
	/* The watch of the last add is live, though the delete removed one. */
	KC_CHECK_EQ(write(fd, "x", 1), 1);
	kqt_get_one(kq, fd, EVFILT_VNODE, KQT_WAIT_MS, &ev);
	KC_CHECK_PTR_EQ(ev.udata, (void *)0xc);
	KC_CHECK(ev.fflags & NOTE_WRITE);
	gone_after_delete(kq, (uintptr_t)fd, EVFILT_VNODE);
	KC_CHECK_OK(close(fd));
	KC_CHECK_OK(unlink(path("v")));
}

static void
test_add_delete_add_proc_signal(int kq)
{
	struct kevent ch[6], out[6], ev;
	struct sigaction sa;
	int p[2];
	pid_t pid;

	KC_CHECK_OK(pipe(p));
	pid = fork();
	KC_CHECK_GE(pid, 0);
	if (pid == 0) {
		char c;

		close(p[1]);
		(void)!read(p[0], &c, 1);
		_exit(3);
	}
	KC_CHECK_OK(close(p[0]));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	KC_CHECK_OK(sigaction(SIGUSR1, &sa, NULL));
	set(&ch[0], (uintptr_t)pid, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, 0xa);
	set(&ch[1], SIGUSR1, EVFILT_SIGNAL, EV_ADD, 0, 0, 0xa);
	set(&ch[2], (uintptr_t)pid, EVFILT_PROC, EV_DELETE, 0, 0, 0xb);
	set(&ch[3], SIGUSR1, EVFILT_SIGNAL, EV_DELETE, 0, 0, 0xb);
	set(&ch[4], (uintptr_t)pid, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, 0xc);
	set(&ch[5], SIGUSR1, EVFILT_SIGNAL, EV_ADD, 0, 0, 0xc);
	apply(kq, ch, 6, out);
	receipt(&out[0], &ch[0], 0, 0);
	receipt(&out[1], &ch[1], 0, 0);
	receipt(&out[2], &ch[2], 0, 0);
	receipt(&out[3], &ch[3], 0, 0);
	receipt(&out[4], &ch[4], 0, 0);
	receipt(&out[5], &ch[5], 0, 0);
	/* The signal is still watched: the delete between let nothing go. */
	KC_CHECK_OK(kill(getpid(), SIGUSR1));
	kqt_get_one(kq, SIGUSR1, EVFILT_SIGNAL, KQT_WAIT_MS, &ev);
	KC_CHECK_PTR_EQ(ev.udata, (void *)0xc);
	KC_CHECK_EQ(ev.data, 1);
	gone_after_delete(kq, SIGUSR1, EVFILT_SIGNAL);
	KC_CHECK_EQ(write(p[1], "x", 1), 1);
	kqt_get_one(kq, (uintptr_t)pid, EVFILT_PROC, KQT_WAIT_MS, &ev);
	KC_CHECK_PTR_EQ(ev.udata, (void *)0xc);
	KC_CHECK_EQ(ev.fflags, NOTE_EXIT);
	KC_CHECK(WIFEXITED(ev.data) && WEXITSTATUS(ev.data) == 3);
	absent(kq, (uintptr_t)pid, EVFILT_PROC);
	KC_CHECK_OK(close(p[1]));
	KC_CHECK_EQ(waitpid(pid, NULL, 0), pid);
	sa.sa_handler = SIG_DFL;
	KC_CHECK_OK(sigaction(SIGUSR1, &sa, NULL));
}

static void
test_receipts(int kq)
{
	struct kevent ch[10], out[10];
	int fd, bad, p[2];
	pid_t nopid = dead_pid();

	fd = open(path("r"), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	KC_CHECK_GE(fd, 0);
	KC_CHECK_OK(pipe(p));
	bad = dup(p[0]);
	KC_CHECK_GE(bad, 0);
	KC_CHECK_OK(close(bad));
	set(&ch[0], 10, EVFILT_TIMER, EV_ADD, NOTE_SECONDS, 3600, 1);
	set(&ch[1], (uintptr_t)nopid, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, 2);
	set(&ch[2], (uintptr_t)fd, EVFILT_VNODE, EV_ADD, NOTE_WRITE, 0, 3);
	set(&ch[3], (uintptr_t)getpid(), EVFILT_PROC, EV_ADD,
	    NOTE_EXIT | NOTE_FORK, 0, 4);
	set(&ch[4], (uintptr_t)bad, EVFILT_READ, EV_ADD, NOTE_LOWAT, 1, 5);
	set(&ch[5], SIGUSR2, EVFILT_SIGNAL, EV_ADD, 0, 0, 6);
	set(&ch[6], (uintptr_t)p[0], EVFILT_READ, EV_ADD, 0, 0, 7);
	set(&ch[7], 11, EVFILT_TIMER, EV_ADD, NOTE_SECONDS | NOTE_MSECONDS,
	    1, 8);
	set(&ch[8], SIGKILL, EVFILT_SIGNAL, EV_ADD, 0, 0, 9);
	set(&ch[9], 10, EVFILT_TIMER, EV_ADD, NOTE_USECONDS, 5, 10);
	apply(kq, ch, 10, out);
	receipt(&out[0], &ch[0], 0, 0);
	receipt(&out[1], &ch[1], ESRCH, 0);
	receipt(&out[2], &ch[2], 0, 0);
	receipt(&out[3], &ch[3], EINVAL, 0);
	/* Refused before a knote was made: the change's fflags. */
	receipt(&out[4], &ch[4], EBADF, NOTE_LOWAT);
	receipt(&out[5], &ch[5], 0, 0);
	receipt(&out[6], &ch[6], 0, 0);
	receipt(&out[7], &ch[7], EINVAL, 0);
	receipt(&out[8], &ch[8], EINVAL, 0);
	receipt(&out[9], &ch[9], 0, NOTE_USECONDS);	/* modified */
	gone_after_delete(kq, 10, EVFILT_TIMER);
	absent(kq, (uintptr_t)nopid, EVFILT_PROC);
	gone_after_delete(kq, (uintptr_t)fd, EVFILT_VNODE);
	absent(kq, (uintptr_t)getpid(), EVFILT_PROC);
	gone_after_delete(kq, SIGUSR2, EVFILT_SIGNAL);
	gone_after_delete(kq, (uintptr_t)p[0], EVFILT_READ);
	absent(kq, 11, EVFILT_TIMER);
	KC_CHECK_OK(close(fd));
	KC_CHECK_OK(close(p[0]));
	KC_CHECK_OK(close(p[1]));
	KC_CHECK_OK(unlink(path("r")));
}

static void
test_no_room(int kq)
{
	struct kevent ch[5], out[2];
	pid_t nopid = dead_pid();
	int fd;

	fd = open(path("n"), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	KC_CHECK_GE(fd, 0);
	/* No eventlist: the first error ends the call. */
	set(&ch[0], 20, EVFILT_TIMER, EV_ADD, 0, 60000, 0);
	set(&ch[1], (uintptr_t)nopid, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, 0);
	set(&ch[2], 21, EVFILT_TIMER, EV_ADD, 0, 60000, 0);
	set(&ch[3], (uintptr_t)fd, EVFILT_VNODE, EV_ADD, NOTE_WRITE, 0, 0);
	set(&ch[4], SIGUSR2, EVFILT_SIGNAL, EV_ADD, 0, 0, 0);
	errno = 0;
	KC_CHECK_EQ(kevent(kq, ch, 5, NULL, 0, NULL), -1);
	KC_CHECK_EQ(errno, ESRCH);
	gone_after_delete(kq, 20, EVFILT_TIMER);
	absent(kq, 21, EVFILT_TIMER);
	absent(kq, (uintptr_t)fd, EVFILT_VNODE);
	absent(kq, SIGUSR2, EVFILT_SIGNAL);
	/* Room for one error: the second ends the call. */
	set(&ch[0], (uintptr_t)nopid, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, 1);
	set(&ch[1], 22, EVFILT_TIMER, EV_ADD, 0, 60000, 2);
	set(&ch[2], 23, EVFILT_TIMER, EV_ADD, NOTE_SECONDS | NOTE_USECONDS,
	    1, 3);
	set(&ch[3], 24, EVFILT_TIMER, EV_ADD, 0, 60000, 4);
	set(&ch[4], (uintptr_t)fd, EVFILT_VNODE, EV_ADD, NOTE_WRITE, 0, 5);
	memset(out, 0, sizeof(out));
	errno = 0;
	KC_CHECK_EQ(kevent(kq, ch, 5, out, 1, &kqt_zero_ts), -1);
	KC_CHECK_EQ(errno, EINVAL);
	receipt(&out[0], &ch[0], ESRCH, 0);
	gone_after_delete(kq, 22, EVFILT_TIMER);
	absent(kq, 23, EVFILT_TIMER);
	absent(kq, 24, EVFILT_TIMER);
	absent(kq, (uintptr_t)fd, EVFILT_VNODE);
	KC_CHECK_OK(close(fd));
	KC_CHECK_OK(unlink(path("n")));
}

/* ---- VNODE knotes of one file added and deleted by several threads ---- */

#define RACE_ROUNDS	300

static int race_kq;
static atomic_int race_stop;

/* Add and delete knotes on fd (the file the main thread watches). */
static void *
churn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	struct kevent ch[3];

	while (!atomic_load(&race_stop)) {
		set(&ch[0], (uintptr_t)fd, EVFILT_VNODE, EV_ADD | EV_CLEAR,
		    NOTE_ATTRIB, 0, 0);
		set(&ch[1], (uintptr_t)fd, EVFILT_VNODE, EV_DELETE, 0, 0, 0);
		KC_CHECK_EQ(kevent(race_kq, ch, 2, NULL, 0, NULL), 0);
	}
	return NULL;
}

static void
test_vnode_threads(void)
{
	pthread_t t[2];
	struct kevent ch, ev[4];
	int fd, f1, f2, i, j, n;
	bool seen;

	race_kq = kqt_open();
	fd = open(path("t"), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	KC_CHECK_GE(fd, 0);
	f1 = open(path("t"), O_RDONLY | O_CLOEXEC);
	KC_CHECK_GE(f1, 0);
	f2 = open(path("t"), O_RDONLY | O_CLOEXEC);
	KC_CHECK_GE(f2, 0);
	atomic_store(&race_stop, 0);
	KC_CHECK_OK(pthread_create(&t[0], NULL, churn, (void *)(intptr_t)f1));
	KC_CHECK_OK(pthread_create(&t[1], NULL, churn, (void *)(intptr_t)f2));
	for (i = 0; i < RACE_ROUNDS; i++) {
		set(&ch, (uintptr_t)fd, EVFILT_VNODE, EV_ADD | EV_CLEAR,
		    NOTE_WRITE, 0, 0);
		KC_CHECK_EQ(kevent(race_kq, &ch, 1, NULL, 0, NULL), 0);
		KC_CHECK_EQ(write(fd, "x", 1), 1);
		for (seen = false, j = 0; !seen && j < 50; j++) {
			n = kqt_collect(race_kq, ev, 4, 100);
			while (n-- > 0)
				if (ev[n].ident == (uintptr_t)fd &&
				    (ev[n].fflags & NOTE_WRITE))
					seen = true;
		}
		KC_CHECK(seen);
		set(&ch, (uintptr_t)fd, EVFILT_VNODE, EV_DELETE, 0, 0, 0);
		KC_CHECK_EQ(kevent(race_kq, &ch, 1, NULL, 0, NULL), 0);
	}
	atomic_store(&race_stop, 1);
	KC_CHECK_OK(pthread_join(t[0], NULL));
	KC_CHECK_OK(pthread_join(t[1], NULL));
	KC_CHECK_OK(close(f2));
	KC_CHECK_OK(close(f1));
	KC_CHECK_OK(close(fd));
	KC_CHECK_OK(unlink(path("t")));
	KC_CHECK_OK(close(race_kq));
}

int
main(void)
{
	struct kevent ch[3];
	int kq, fd, before;

	kct_begin("kq-changelist", 100);
	snprintf(dir, sizeof(dir), "/tmp/kq-changelist-XXXXXX");
	KC_CHECK(mkdtemp(dir) != NULL);
	kq = kqt_open();
	/*
	 * What a kqueue keeps once made (its inotify descriptor, its
	 * signalfd, a watched signal's eventfd) is made first, so that the
	 * count of open descriptors says whether a change left one behind.
	 */
	fd = open(path("w"), O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
	KC_CHECK_GE(fd, 0);
	set(&ch[0], (uintptr_t)fd, EVFILT_VNODE, EV_ADD, NOTE_WRITE, 0, 0);
	set(&ch[1], SIGUSR1, EVFILT_SIGNAL, EV_ADD, 0, 0, 0);
	set(&ch[2], SIGUSR2, EVFILT_SIGNAL, EV_ADD, 0, 0, 0);
	KC_CHECK_EQ(kevent(kq, ch, 3, NULL, 0, NULL), 0);
	gone_after_delete(kq, (uintptr_t)fd, EVFILT_VNODE);
	gone_after_delete(kq, SIGUSR1, EVFILT_SIGNAL);
	gone_after_delete(kq, SIGUSR2, EVFILT_SIGNAL);
	KC_CHECK_OK(close(fd));
	KC_CHECK_OK(unlink(path("w")));
	before = nfds();

	test_add_delete_add_timer(kq);
	test_add_add_timer(kq);
	test_delete_add_delete(kq);
	test_add_delete_add_vnode(kq);
	test_add_delete_add_proc_signal(kq);
	test_receipts(kq);
	test_no_room(kq);
	KC_CHECK_EQ(nfds(), before);
	KC_CHECK_OK(close(kq));

	test_vnode_threads();
	KC_CHECK_OK(rmdir(dir));
	return kct_done();
}
