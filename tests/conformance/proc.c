/*
 * kq-proc: EVFILT_PROC conformance (kq-spec.md, "EVFILT_PROC").
 *
 * Covers NOTE_EXIT: a forked child that exits 7 gives one event with fflags
 * NOTE_EXIT, flags EV_EOF and EV_ONESHOT, data the wait(2) status (WIFEXITED,
 * WEXITSTATUS 7), and the child is not reaped by the library (waitid WNOWAIT
 * and waitpid() still find it, with the same status); a child killed by a
 * signal (WIFSIGNALED, WTERMSIG); an already-exited zombie child; a process
 * that is not our child (a grandchild whose pid comes back through a pipe)
 * gives NOTE_EXIT with data 0; NOTE_FORK, NOTE_EXEC, NOTE_TRACK (alone or
 * with NOTE_EXIT) -> EINVAL; a nonexistent pid -> ESRCH; add, delete before
 * the exit (no event), delete / enable / disable of a missing knote ->
 * ENOENT, EV_ADD|EV_DISABLE and EV_DISABLE then EV_ENABLE (the exit is
 * delivered on enable), EV_ONESHOT (implied: gone after the event),
 * EV_DISPATCH, EV_RECEIPT, udata round trip, EV_ADD modify replacing udata,
 * EV_CLEAR, several kqueues watching one child, and one kqueue watching
 * several; as FreeBSD, EV_CLEAR set by the filter, EV_RECEIPT kept on the
 * event, and a knote modified to fflags 0 dropped at the exit without an
 * event.  Every child is reaped before the test ends.
 */
#include <sys/event.h>

#include "kctest.h"
#include "kqtest.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* A child that waits for a byte on its pipe (30 s at most), then exits. */
struct child {
	pid_t	pid;
	int	go;		/* write end */
};

static void
child_wait_exit(int rfd, int code)
{
	struct pollfd p = { .fd = rfd, .events = POLLIN };

	(void)poll(&p, 1, 30000);
	_exit(code);
}

static struct child
spawn(int code)
{
	struct child c;
	int p[2];

	KC_CHECK_OK(pipe(p));
	c.pid = fork();
	KC_CHECK_GE(c.pid, 0);
	if (c.pid == 0)
		child_wait_exit(p[0], code);
	KC_CHECK_OK(close(p[0]));
	c.go = p[1];
	return c;
}

/* Let it exit. */
static void
go(struct child *c)
{
	KC_CHECK_EQ(write(c->go, "x", 1), 1);
	KC_CHECK_OK(close(c->go));
	c->go = -1;
}

/* Wait (bounded) until pid has exited, without reaping it. */
static void
wait_zombie(pid_t pid)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	KC_CHECK_OK(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT));
	KC_CHECK_EQ(si.si_pid, pid);
}

/* Reap pid; it must still be there to reap. */
static int
reap(pid_t pid)
{
	int st = 0;

	KC_CHECK_EQ(waitpid(pid, &st, 0), pid);
	return st;
}

#define CHANGE_OK(kq, pid, fl, ff, ud) \
	KQT_CHANGE_OK(kq, (uintptr_t)(pid), EVFILT_PROC, fl, ff, 0, ud)
#define change_err(kq, pid, fl, ff, err) \
	kqt_change_err(kq, (uintptr_t)(pid), EVFILT_PROC, fl, ff, 0, \
	    (void *)0x77, err)

/* The exit event for pid (bounded wait). */
static struct kevent
get_exit(int kq, pid_t pid)
{
	struct kevent ev;

	kqt_get_one(kq, pid, EVFILT_PROC, 10000, &ev);
	KC_CHECK(ev.fflags & NOTE_EXIT);
	KC_CHECK(ev.flags & EV_EOF);
	KC_CHECK(ev.flags & EV_ONESHOT);
	return ev;
}

static void
test_exit_status(void)
{
	struct child c = spawn(7);
	struct kevent ev;
	siginfo_t si;
	int kq = kqueue();

	KC_CHECK_GE(kq, 0);
	CHANGE_OK(kq, c.pid, EV_ADD, NOTE_EXIT, (void *)0x70);
	kqt_expect_none_ms(kq, 30);			/* still running */
	go(&c);
	ev = get_exit(kq, c.pid);
	KC_CHECK_PTR_EQ(ev.udata, (void *)0x70);
	KC_CHECK(WIFEXITED((int)ev.data));
	KC_CHECK_EQ(WEXITSTATUS((int)ev.data), 7);
	/* Once, and gone. */
	kqt_expect_none_ms(kq, 30);
	change_err(kq, c.pid, EV_DELETE, 0, ENOENT);
	/* Not reaped: still waitable, with the same status. */
	memset(&si, 0, sizeof(si));
	KC_CHECK_OK(waitid(P_PID, (id_t)c.pid, &si,
	    WEXITED | WNOHANG | WNOWAIT));
	KC_CHECK_EQ(si.si_pid, c.pid);
	KC_CHECK_EQ(si.si_code, CLD_EXITED);
	KC_CHECK_EQ(si.si_status, 7);
	KC_CHECK_EQ(reap(c.pid), (int)ev.data);
	close(kq);
}

static void
test_killed(void)
{
	struct child c = spawn(0);
	struct kevent ev;
	int kq = kqueue();

	KC_CHECK_GE(kq, 0);
	CHANGE_OK(kq, c.pid, EV_ADD, NOTE_EXIT, NULL);
	KC_CHECK_OK(kill(c.pid, SIGKILL));
	ev = get_exit(kq, c.pid);
	KC_CHECK(WIFSIGNALED((int)ev.data));
	KC_CHECK_EQ(WTERMSIG((int)ev.data), SIGKILL);
	KC_CHECK_EQ(reap(c.pid), (int)ev.data);
	KC_CHECK_OK(close(c.go));

	c = spawn(0);
	CHANGE_OK(kq, c.pid, EV_ADD, NOTE_EXIT, NULL);
	KC_CHECK_OK(kill(c.pid, SIGTERM));
	ev = get_exit(kq, c.pid);
	KC_CHECK(WIFSIGNALED((int)ev.data));
	KC_CHECK_EQ(WTERMSIG((int)ev.data), SIGTERM);
	KC_CHECK_EQ(reap(c.pid), (int)ev.data);
	KC_CHECK_OK(close(c.go));
	close(kq);
}

static void
test_zombie(void)
{
	struct child c = spawn(3);
	struct kevent ev;
	int kq = kqueue();

	KC_CHECK_GE(kq, 0);
	go(&c);
	wait_zombie(c.pid);
	CHANGE_OK(kq, c.pid, EV_ADD, NOTE_EXIT, (void *)0x3);
	ev = get_exit(kq, c.pid);
	KC_CHECK_PTR_EQ(ev.udata, (void *)0x3);
	KC_CHECK(WIFEXITED((int)ev.data));
	KC_CHECK_EQ(WEXITSTATUS((int)ev.data), 3);
	kqt_expect_none_ms(kq, 30);
	KC_CHECK_EQ(reap(c.pid), (int)ev.data);
	close(kq);
}

/*
 * Not our child: the child forks a grandchild, sends its pid back, waits
 * for it and exits 0.  The grandchild exits 5 when told.
 */
static void
test_not_child(void)
{
	struct kevent ev;
	int pp[2], gp[2], kq = kqueue();
	pid_t child, gpid = 0;

	KC_CHECK_GE(kq, 0);
	KC_CHECK_OK(pipe(pp));
	KC_CHECK_OK(pipe(gp));
	child = fork();
	KC_CHECK_GE(child, 0);
	if (child == 0) {
		pid_t g = fork();

		if (g < 0)
			_exit(99);
		if (g == 0)
			child_wait_exit(gp[0], 5);
		if (write(pp[1], &g, sizeof(g)) != (ssize_t)sizeof(g))
			_exit(98);
		(void)waitpid(g, NULL, 0);
		_exit(0);
	}
	KC_CHECK_OK(close(pp[1]));
	KC_CHECK_OK(close(gp[0]));
	KC_CHECK_EQ(read(pp[0], &gpid, sizeof(gpid)), (ssize_t)sizeof(gpid));
	KC_CHECK_GT(gpid, 0);
	KC_CHECK_NE(gpid, child);
	CHANGE_OK(kq, gpid, EV_ADD, NOTE_EXIT, (void *)0x5);
	kqt_expect_none_ms(kq, 30);
	KC_CHECK_EQ(write(gp[1], "x", 1), 1);
	ev = get_exit(kq, gpid);
	KC_CHECK_PTR_EQ(ev.udata, (void *)0x5);
	KC_CHECK_EQ(ev.data, 0);
	kqt_expect_none_ms(kq, 30);
	KC_CHECK_EQ(reap(child), 0);		/* exit 0 after reaping g */
	KC_CHECK_OK(close(pp[0]));
	KC_CHECK_OK(close(gp[1]));
	close(kq);
}

static void
test_errors(void)
{
	static const unsigned bad[] = { NOTE_FORK, NOTE_EXEC, NOTE_TRACK,
	    NOTE_EXIT | NOTE_FORK, NOTE_EXIT | NOTE_EXEC,
	    NOTE_EXIT | NOTE_TRACK, NOTE_FORK | NOTE_EXEC | NOTE_TRACK };
	struct child c = spawn(0);
	unsigned i;
	pid_t gone;
	int kq = kqueue();

	KC_CHECK_GE(kq, 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		change_err(kq, c.pid, EV_ADD, bad[i], EINVAL);
	change_err(kq, c.pid, EV_DELETE, 0, ENOENT);
	change_err(kq, c.pid, EV_ENABLE, 0, ENOENT);
	change_err(kq, c.pid, EV_DISABLE, 0, ENOENT);
	go(&c);
	i = (unsigned)reap(c.pid);
	KC_CHECK(WIFEXITED((int)i));

	/* A pid that no longer exists: ESRCH. */
	gone = c.pid;
	if (kill(gone, 0) == -1 && errno == ESRCH)
		change_err(kq, gone, EV_ADD, NOTE_EXIT, ESRCH);
	KC_CHECK(kill(INT_MAX, 0) == -1 && errno == ESRCH);
	change_err(kq, INT_MAX, EV_ADD, NOTE_EXIT, ESRCH);
	change_err(kq, INT_MAX, EV_DELETE, 0, ENOENT);
	close(kq);
}

static void
test_flags(void)
{
	struct kevent ch[2], out[2], ev;
	struct timespec zero = { 0, 0 };
	struct child c;
	int kq = kqueue();

	KC_CHECK_GE(kq, 0);

	/* Deleted before the exit: no event. */
	c = spawn(1);
	CHANGE_OK(kq, c.pid, EV_ADD, NOTE_EXIT, NULL);
	CHANGE_OK(kq, c.pid, EV_DELETE, 0, NULL);
	change_err(kq, c.pid, EV_DELETE, 0, ENOENT);
	go(&c);
	wait_zombie(c.pid);
	kqt_expect_none_ms(kq, 100);
	reap(c.pid);

	/* Added disabled: nothing until EV_ENABLE, then the exit. */
	c = spawn(2);
	CHANGE_OK(kq, c.pid, EV_ADD | EV_DISABLE, NOTE_EXIT, (void *)0x21);
	go(&c);
	wait_zombie(c.pid);
	kqt_expect_none_ms(kq, 100);
	CHANGE_OK(kq, c.pid, EV_ENABLE, 0, NULL);
	ev = get_exit(kq, c.pid);
	KC_CHECK_PTR_EQ(ev.udata, (void *)0x21);
	KC_CHECK_EQ(WEXITSTATUS((int)ev.data), 2);
	KC_CHECK_EQ(reap(c.pid), (int)ev.data);

	/* Disabled after the add; modify replaces udata. */
	c = spawn(4);
	CHANGE_OK(kq, c.pid, EV_ADD, NOTE_EXIT, (void *)0x40);
	CHANGE_OK(kq, c.pid, EV_DISABLE, 0, NULL);
	CHANGE_OK(kq, c.pid, EV_ADD | EV_DISABLE, NOTE_EXIT, (void *)0x41);
	go(&c);
	wait_zombie(c.pid);
	kqt_expect_none_ms(kq, 100);
	CHANGE_OK(kq, c.pid, EV_ENABLE, 0, NULL);
	ev = get_exit(kq, c.pid);
	KC_CHECK_PTR_EQ(ev.udata, (void *)0x41);
	KC_CHECK_EQ(WEXITSTATUS((int)ev.data), 4);
	kqt_expect_none_ms(kq, 30);
	KC_CHECK_EQ(reap(c.pid), (int)ev.data);

	/* EV_ONESHOT, EV_DISPATCH, EV_CLEAR: one event each. */
	{
		static const unsigned short fl[] = { EV_ONESHOT, EV_DISPATCH,
		    EV_CLEAR };
		unsigned i;

		for (i = 0; i < 3; i++) {
			c = spawn(10 + (int)i);
			CHANGE_OK(kq, c.pid, EV_ADD | fl[i], NOTE_EXIT,
			    (void *)(uintptr_t)(0x100 + i));
			go(&c);
			ev = get_exit(kq, c.pid);
			KC_CHECK(ev.flags & fl[i]);
			KC_CHECK_PTR_EQ(ev.udata,
			    (void *)(uintptr_t)(0x100 + i));
			KC_CHECK_EQ(WEXITSTATUS((int)ev.data), 10 + (int)i);
			kqt_expect_none_ms(kq, 50);
			if (fl[i] == EV_DISPATCH) {
				/* Nothing more to report, even enabled. */
				if (kqt_change(kq, (uintptr_t)c.pid,
				    EVFILT_PROC, EV_ENABLE, 0, 0, NULL) == 0)
					kqt_expect_none_ms(kq, 50);
			}
			KC_CHECK_EQ(reap(c.pid), (int)ev.data);
		}
	}

	/* EV_RECEIPT. */
	c = spawn(6);
	EV_SET(&ch[0], (uintptr_t)c.pid, EVFILT_PROC, EV_ADD | EV_RECEIPT,
	    NOTE_EXIT, 0, (void *)0x60);
	EV_SET(&ch[1], (uintptr_t)c.pid, EVFILT_PROC, EV_ADD | EV_RECEIPT,
	    NOTE_FORK, 0, NULL);
	memset(out, 0, sizeof(out));
	KC_CHECK_EQ(kevent(kq, ch, 2, out, 2, &zero), 2);
	KC_CHECK_EQ(out[0].ident, (uintptr_t)c.pid);
	KC_CHECK(out[0].flags & EV_ERROR);
	KC_CHECK_EQ(out[0].data, 0);
	KC_CHECK_PTR_EQ(out[0].udata, (void *)0x60);
	KC_CHECK(out[1].flags & EV_ERROR);
	KC_CHECK_EQ(out[1].data, EINVAL);
	go(&c);
	ev = get_exit(kq, c.pid);
	/* The failed modify left the knote as it was. */
	KC_CHECK_PTR_EQ(ev.udata, (void *)0x60);
	KC_CHECK_EQ(WEXITSTATUS((int)ev.data), 6);
	KC_CHECK_EQ(reap(c.pid), (int)ev.data);

	/* A full-width udata. */
	c = spawn(8);
	CHANGE_OK(kq, c.pid, EV_ADD, NOTE_EXIT,
	    (void *)(uintptr_t)0xa5a5a5a5f00dfaceull);
	go(&c);
	ev = get_exit(kq, c.pid);
	KC_CHECK_PTR_EQ(ev.udata, (void *)(uintptr_t)0xa5a5a5a5f00dfaceull);
	KC_CHECK_EQ(reap(c.pid), (int)ev.data);
	close(kq);
}

/* Several kqueues watch one child; one kqueue watches several children. */
static void
test_several(void)
{
	struct child c = spawn(9), cs[4];
	struct kevent ev;
	int kq1 = kqueue(), kq2 = kqueue(), i, st;
	unsigned seen = 0;

	KC_CHECK_GE(kq1, 0);
	KC_CHECK_GE(kq2, 0);
	CHANGE_OK(kq1, c.pid, EV_ADD, NOTE_EXIT, (void *)1);
	CHANGE_OK(kq2, c.pid, EV_ADD, NOTE_EXIT, (void *)2);
	go(&c);
	ev = get_exit(kq1, c.pid);
	KC_CHECK_PTR_EQ(ev.udata, (void *)1);
	KC_CHECK_EQ(WEXITSTATUS((int)ev.data), 9);
	st = (int)ev.data;
	ev = get_exit(kq2, c.pid);
	KC_CHECK_PTR_EQ(ev.udata, (void *)2);
	KC_CHECK_EQ((int)ev.data, st);
	KC_CHECK_EQ(reap(c.pid), st);

	/* One deleted on kq1: kq2 still reports. */
	c = spawn(1);
	CHANGE_OK(kq1, c.pid, EV_ADD, NOTE_EXIT, (void *)1);
	CHANGE_OK(kq2, c.pid, EV_ADD, NOTE_EXIT, (void *)2);
	CHANGE_OK(kq1, c.pid, EV_DELETE, 0, NULL);
	go(&c);
	ev = get_exit(kq2, c.pid);
	kqt_expect_none_ms(kq1, 50);
	KC_CHECK_EQ(reap(c.pid), (int)ev.data);

	for (i = 0; i < 4; i++) {
		cs[i] = spawn(20 + i);
		CHANGE_OK(kq1, cs[i].pid, EV_ADD, NOTE_EXIT,
		    (void *)(uintptr_t)i);
	}
	for (i = 3; i >= 0; i--)
		go(&cs[i]);
	for (i = 0; i < 4; i++) {
		struct timespec ts = { 10, 0 };
		unsigned k;

		KC_CHECK_EQ(kevent(kq1, NULL, 0, &ev, 1, &ts), 1);
		k = (unsigned)(uintptr_t)ev.udata;
		KC_CHECK_LT(k, 4);
		KC_CHECK(!(seen & (1u << k)));
		seen |= 1u << k;
		KC_CHECK_EQ(ev.ident, (uintptr_t)cs[k].pid);
		KC_CHECK_EQ(WEXITSTATUS((int)ev.data), 20 + (int)k);
	}
	kqt_expect_none_ms(kq1, 30);
	for (i = 0; i < 4; i++) {
		st = reap(cs[i].pid);
		KC_CHECK_EQ(WEXITSTATUS(st), 20 + i);
	}
	close(kq1);
	close(kq2);
}

/*
 * As FreeBSD's filt_procattach and filt_proc (issue 13, defects 12 and 13):
 * the knote gets EV_CLEAR of its own, the event carries the knote's flags
 * (EV_RECEIPT included, no action bits), and a knote modified to watch no
 * note is dropped at the exit without an event.
 */
static void
test_freebsd_flags(void)
{
	struct kevent ch, out, ev;
	struct child c;
	int kq = kqt_open();

	c = spawn(3);
	CHANGE_OK(kq, c.pid, EV_ADD, NOTE_EXIT, NULL);
	go(&c);
	ev = get_exit(kq, c.pid);
	KC_CHECK(ev.flags & EV_CLEAR);
	KC_CHECK_EQ(ev.flags & (EV_ADD | EV_ENABLE | EV_RECEIPT), 0);
	KC_CHECK_EQ(reap(c.pid), (int)ev.data);

	c = spawn(4);
	EV_SET(&ch, (uintptr_t)c.pid, EVFILT_PROC, EV_ADD | EV_RECEIPT,
	    NOTE_EXIT, 0, NULL);
	KC_CHECK_EQ(kevent(kq, &ch, 1, &out, 1, &kqt_zero_ts), 1);
	KC_CHECK(out.flags & EV_ERROR);
	KC_CHECK_EQ(out.data, 0);
	go(&c);
	ev = get_exit(kq, c.pid);
	KC_CHECK(ev.flags & EV_RECEIPT);
	KC_CHECK(ev.flags & EV_CLEAR);
	KC_CHECK_EQ(reap(c.pid), (int)ev.data);

	/* fflags 0: the exit is not reported, and the knote is gone. */
	c = spawn(5);
	CHANGE_OK(kq, c.pid, EV_ADD, NOTE_EXIT, NULL);
	CHANGE_OK(kq, c.pid, EV_ADD, 0, NULL);
	go(&c);
	wait_zombie(c.pid);
	kqt_expect_none_ms(kq, 100);
	change_err(kq, c.pid, EV_DELETE, 0, ENOENT);
	KC_CHECK_EQ(WEXITSTATUS(reap(c.pid)), 5);
	KC_CHECK_OK(close(kq));
}

int
main(void)
{
	kct_begin("kq-proc", 60);
	test_exit_status();
	test_killed();
	test_zombie();
	test_not_child();
	test_errors();
	test_flags();
	test_several();
	test_freebsd_flags();
	/* Every child was reaped. */
	errno = 0;
	KC_CHECK_EQ(waitpid(-1, NULL, WNOHANG), -1);
	KC_CHECK_EQ(errno, ECHILD);
	return kct_done();
}
