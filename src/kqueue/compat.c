/*
 * compat.c: libkcont-kqueue, the BSD kqueue API on Linux.
 *
 * kqueue() and kevent(), and the C library calls a FreeBSD emulation must
 * see (close, dup2, dup3, sigaction, signal), defined here and nowhere
 * else: a program gets them by linking this library
 * (pkg-config kcont-kqueue); one that links only libkcont keeps the C
 * library's.  Each is a call to the kqueue layer (kqapi.h).  close, dup2,
 * dup3 and sigaction are async-signal-safe as long as no kqueue watches
 * what they touch, and close, dup2 and dup3 always.
 */
#include <signal.h>
#include <string.h>
#include <sys/event.h>
#include <unistd.h>

#include "kqueue/kq.h"
#include "kqueue/kqapi.h"

KC__KQ_EXPORT int
kqueue(void)
{
	return kc__kqueue();
}

KC__KQ_EXPORT int
kevent(int kqfd, const struct kevent *changelist, int nchanges,
    struct kevent *eventlist, int nevents, const struct timespec *timeout)
{
	return kc__kevent(kqfd, changelist, nchanges, eventlist, nevents,
	    timeout);
}

KC__KQ_EXPORT KQ_UNSANITIZED int
close(int fd)
{
	return kc__close(fd);
}

KC__KQ_EXPORT KQ_UNSANITIZED int
dup2(int oldfd, int newfd)
{
	return kc__dup2(oldfd, newfd);
}

KC__KQ_EXPORT KQ_UNSANITIZED int
dup3(int oldfd, int newfd, int flags)
{
	return kc__dup3(oldfd, newfd, flags);
}

KC__KQ_EXPORT KQ_UNSANITIZED int
sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	return kc__sigaction(sig, act, old);
}

KC__KQ_EXPORT sighandler_t
signal(int sig, sighandler_t handler)
{
	struct sigaction sa, old;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sa.sa_flags = SA_RESTART;	/* BSD semantics, as glibc's signal() */
	if (kc__sigaction(sig, &sa, &old) != 0)
		return SIG_ERR;
	return old.sa_handler;
}
