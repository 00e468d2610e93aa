/*
 * kq-sigsafe: close(), dup2() and dup3() are async-signal-safe, also while
 * the thread they interrupt is inside kevent().
 *
 *   A helper thread sends SIGUSR1 to the main thread again and again while
 *   it calls kevent() (registrations and zero-timeout scans, so most of the
 *   time is spent with the kqueue's state in use).  The handler dup()s a
 *   pipe, dup2()s and dup3()s over the copy and closes it, and the first
 *   time it also closes a descriptor that has a READ knote with data
 *   waiting.  Every handler must return: a watchdog thread reports a
 *   handler that does not (a deadlock on the library's locks) and aborts.
 *
 *   The close from the handler still has FreeBSD's effect: a kevent() call
 *   that starts after the close returned never reports the closed
 *   descriptor's knote, and a new descriptor with the same number starts
 *   with no knotes.
 */
#include <sys/event.h>

#include "kctest.h"
#include "kqtest.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define UDA		((void *)(uintptr_t)0xa0a0)
#define UDV		((void *)(uintptr_t)0x7777)
#define MAX_ITER	200000		/* kevent() calls at most */
#define WANT_SIGNALS	300		/* handlers that ran in kevent() */
#define SEND_MAX	2000000		/* signals the sender sends at most */
#define LOOP_S		20		/* bound on the main loop, seconds */
#define WATCHDOG_S	40		/* a handler that never returns */

static int g_spare = -1;		/* pipe end the handler copies */
/*
 * What only the main thread and its own handler share is volatile
 * sig_atomic_t, as C says (the handler interrupts that thread, and
 * SIGUSR1 is blocked while it runs).  Not C11 atomics: ThreadSanitizer
 * takes a lock of its own inside an atomic operation, and a handler that
 * interrupts the main thread there and touches the same variable waits on
 * that lock for ever (seen: the main thread's atomic store to g_in_kevent,
 * the handler's load of it, both in __tsan_atomic32_*).  What the sender
 * and the watchdog threads read stays atomic.
 */
static volatile sig_atomic_t g_victim = -1;	/* the handler closes it */
static volatile sig_atomic_t g_victim_closed;	/* its close() returned */
static volatile sig_atomic_t g_handled;		/* handlers that returned */
static volatile sig_atomic_t g_in_kevent;	/* main thread in kevent() */
static volatile sig_atomic_t g_handled_in_kevent; /* handlers run there */
static atomic_int g_in_handler;		/* a handler has not returned */
static atomic_int g_done;		/* the main loop ended */

static void
on_usr1(int sig)
{
	int saved = errno, d, v;

	(void)sig;
	atomic_store(&g_in_handler, 1);
	d = dup(g_spare);
	if (d >= 0) {
		(void)dup2(g_spare, d);
		(void)dup3(g_spare, d, O_CLOEXEC);
		(void)close(d);
	}
	v = g_victim;
	g_victim = -1;
	if (v >= 0) {
		(void)close(v);
		g_victim_closed = 1;
	}
	if (g_in_kevent)
		g_handled_in_kevent++;
	atomic_store(&g_in_handler, 0);
	g_handled++;
	errno = saved;
}

int
main(void)
{
	struct kevent ch[2], ev[8];
	int kq, a[2], v[2], s[2], vnum, i, n, iter = 0;
	uint64_t end;

	kct_begin("kq-sigsafe", WATCHDOG_S + 20);

	kq = kqt_open();
	KC_CHECK_OK(pipe(a));
	KC_CHECK_OK(pipe(v));
	KC_CHECK_OK(pipe(s));
	g_spare = s[0];
	KC_CHECK_EQ(write(a[1], "x", 1), 1);
	KC_CHECK_EQ(write(v[1], "v", 1), 1);
	KQT_CHANGE_OK(kq, (uintptr_t)v[0], EVFILT_READ, EV_ADD, 0, 0, UDV);
	vnum = v[0];
	g_victim = v[0];

	kqt_storm_start(SIGUSR1, on_usr1, SEND_MAX, &g_done, &g_in_handler,
	    WATCHDOG_S, "kq-sigsafe: a signal handler's close()/dup2()/"
	    "dup3() did not return while its thread was in kevent() "
	    "(deadlock)",
	    "kq-sigsafe: the main loop hung");
	printf("  signals with close()/dup2()/dup3() while in kevent()\n");
	end = kct_now_ns() + LOOP_S * KCT_NSEC_PER_SEC;
	while (iter < MAX_ITER && kct_now_ns() < end &&
	    (g_handled_in_kevent < WANT_SIGNALS ||
	    g_victim >= 0)) {
		/* Seen before the call: the close returned before it began. */
		bool closed = g_victim_closed != 0;

		EV_SET(&ch[0], (uintptr_t)a[0], EVFILT_READ, EV_ADD, 0, 0,
		    UDA);
		EV_SET(&ch[1], (uintptr_t)a[0], EVFILT_WRITE,
		    (iter & 1) ? EV_DELETE : EV_ADD, 0, 0, UDA);
		g_in_kevent = 1;
		n = kevent(kq, ch, (iter & 3) == 3 ? 2 : 1, ev, 8,
		    &kqt_zero_ts);
		g_in_kevent = 0;
		KC_CHECK_GE(n, 0);
		for (i = 0; i < n; i++) {
			if (ev[i].flags & EV_ERROR) {
				/* WRITE on a read end; deleting what is gone */
				KC_CHECK(ev[i].data == EINVAL ||
				    ev[i].data == ENOENT || ev[i].data == 0);
				continue;
			}
			if (closed)
				KC_CHECK(ev[i].udata != UDV);
		}
		iter++;
	}
	atomic_store(&g_done, 1);
	kqt_storm_stop();
	printf("  %d kevent() calls, %d handlers (%d inside kevent())\n",
	    iter, g_handled, g_handled_in_kevent);
	KC_CHECK(g_victim_closed);
	KC_CHECK_GE(g_handled_in_kevent, 1);

	/* The number again, on a readable pipe: the old knote is gone. */
	KC_CHECK_EQ(dup2(a[0], vnum), vnum);
	n = kqt_collect(kq, ev, 8, 0);
	for (i = 0; i < n; i++)
		KC_CHECK(ev[i].udata != UDV);
	kqt_change_err(kq, (uintptr_t)vnum, EVFILT_READ, EV_DELETE, 0, 0,
	    NULL, ENOENT);

	signal(SIGUSR1, SIG_DFL);
	KC_CHECK_OK(close(vnum));
	KC_CHECK_OK(close(v[1]));
	KC_CHECK_OK(close(a[0]));
	KC_CHECK_OK(close(a[1]));
	KC_CHECK_OK(close(s[0]));
	KC_CHECK_OK(close(s[1]));
	KC_CHECK_OK(close(kq));
	return kct_done();
}
