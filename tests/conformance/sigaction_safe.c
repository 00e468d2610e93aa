/*
 * kq-sigaction_safe: sigaction() (and signal()) are async-signal-safe, also
 * for a signal a kqueue watches, whose disposition the library keeps for
 * the program.
 *
 *   A kqueue watches SIGUSR2 (EVFILT_SIGNAL), so sigaction(SIGUSR2) goes
 *   through the library's record of the program's disposition.  The main
 *   thread sets and reads that disposition again and again while a helper
 *   thread sends it SIGUSR1, whose handler also reads and sets SIGUSR2's
 *   disposition (and calls signal()).  Every handler must return: a
 *   watchdog thread reports one that does not (a deadlock on the library's
 *   lock, taken by the thread the handler interrupted) and aborts.
 *
 *   Afterwards the watch still works as FreeBSD's does: SIGUSR2 raised is
 *   counted by the knote and runs the handler the program set last, and
 *   sigaction() reports that handler.
 */
#include <sys/event.h>

#include "kctest.h"
#include "kqtest.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_ITER	5000000		/* sigaction() pairs at most */
#define WANT_SIGNALS	2000		/* handlers that ran */
#define SEND_MAX	4000000		/* signals the sender sends at most */
#define LOOP_S		20		/* bound on the main loop, seconds */
#define WATCHDOG_S	40		/* a handler that never returns */

/*
 * What only the main thread and its own handlers share is volatile
 * sig_atomic_t, as C says, not a C11 atomic: ThreadSanitizer takes a lock
 * of its own inside an atomic operation, and a handler that interrupts the
 * thread there and touches the same variable waits on it for ever (see
 * sigsafe.c).  The watchdog thread's g_in_handler stays atomic.
 */
static volatile sig_atomic_t g_handled;	/* handlers that returned */
static volatile sig_atomic_t g_usr2;	/* SIGUSR2 handlers that ran */
static atomic_int g_in_handler;		/* a handler has not returned */
static atomic_int g_done;		/* the main loop ended */

static void
on_usr2_a(int sig)
{
	(void)sig;
	g_usr2++;
}

static void
on_usr2_b(int sig)
{
	(void)sig;
	g_usr2++;
}

static void
on_usr1(int sig)
{
	struct sigaction sa, old;
	int saved = errno;

	(void)sig;
	atomic_store(&g_in_handler, 1);
	(void)sigaction(SIGUSR2, NULL, &old);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = old.sa_handler == on_usr2_a ? on_usr2_b : on_usr2_a;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGUSR2, &sa, NULL);
	(void)signal(SIGUSR2, sa.sa_handler);
	atomic_store(&g_in_handler, 0);
	g_handled++;
	errno = saved;
}

int
main(void)
{
	struct sigaction sa, old;
	struct kevent ev;
	int kq, iter = 0, before;
	uint64_t end;

	kct_begin("kq-sigaction_safe", WATCHDOG_S + 20);
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = on_usr2_a;
	KC_CHECK_OK(sigaction(SIGUSR2, &sa, NULL));

	kq = kqt_open();
	KQT_CHANGE_OK(kq, SIGUSR2, EVFILT_SIGNAL, EV_ADD, 0, 0, NULL);

	kqt_storm_start(SIGUSR1, on_usr1, SEND_MAX, &g_done, &g_in_handler,
	    WATCHDOG_S, "kq-sigaction_safe: a signal handler's sigaction() did not "
	    "return (deadlock)",
	    "kq-sigaction_safe: the main loop hung");
	printf("  signals whose handlers call sigaction() while their thread "
	    "is in it\n");
	end = kct_now_ns() + LOOP_S * KCT_NSEC_PER_SEC;
	while (iter < MAX_ITER && kct_now_ns() < end &&
	    g_handled < WANT_SIGNALS) {
		KC_CHECK_OK(sigaction(SIGUSR2, NULL, &old));
		KC_CHECK(old.sa_handler == on_usr2_a ||
		    old.sa_handler == on_usr2_b);
		sa.sa_handler = (iter & 1) ? on_usr2_a : on_usr2_b;
		KC_CHECK_OK(sigaction(SIGUSR2, &sa, NULL));
		iter++;
	}
	atomic_store(&g_done, 1);
	kqt_storm_stop();
	printf("  %d sigaction() pairs, %d handlers\n", iter,
	    g_handled);
	KC_CHECK_GE(g_handled, 1);

	/* The watch and the program's disposition are both still right. */
	KC_CHECK_OK(sigaction(SIGUSR1, NULL, &old));
	KC_CHECK(old.sa_handler == on_usr1);
	sa.sa_handler = on_usr2_b;
	KC_CHECK_OK(sigaction(SIGUSR2, &sa, NULL));
	KC_CHECK_OK(sigaction(SIGUSR2, NULL, &old));
	KC_CHECK(old.sa_handler == on_usr2_b);
	before = g_usr2;
	KC_CHECK_OK(raise(SIGUSR2));
	KC_CHECK_EQ(g_usr2, before + 1);
	KC_CHECK_EQ(kqt_collect(kq, &ev, 1, 1000), 1);
	KC_CHECK_EQ(ev.filter, EVFILT_SIGNAL);
	KC_CHECK_EQ(ev.ident, SIGUSR2);
	KC_CHECK_GE(ev.data, 1);

	signal(SIGUSR1, SIG_DFL);
	KC_CHECK_OK(close(kq));
	signal(SIGUSR2, SIG_DFL);
	return kct_done();
}
