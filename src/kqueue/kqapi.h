/*
 * kqapi.h: the kqueue layer's entry points for the rest of the library and
 * for libkcont-kqueue's public front (compat.c).
 *
 * libkcont replaces no C library function: the BSD calls (kqueue, kevent)
 * and the wrappers a FreeBSD emulation needs (close, dup2, dup3,
 * sigaction, signal) are defined only in libkcont-kqueue, each a call to
 * the function here.  The library's own layers call these directly, never
 * the public names, so they behave the same in a program that links only
 * libkcont.  They are exported from libkcont.so (default visibility) for
 * libkcont-kqueue alone: not part of the API, no promise kept to anyone
 * else.  Each follows its system call's convention (-1 and errno).
 */
#ifndef KC_KQAPI_H
#define KC_KQAPI_H

#include <signal.h>

struct kevent;
struct timespec;

#define KC__KQ_EXPORT	__attribute__((visibility("default")))

KC__KQ_EXPORT int kc__kqueue(void);
KC__KQ_EXPORT int kc__kevent(int kqfd, const struct kevent *changelist,
    int nchanges, struct kevent *eventlist, int nevents,
    const struct timespec *timeout);

/*
 * The kqueue object behind a descriptor, held (NULL: not a kqueue), and
 * let go.  Not exported: the unit test of the kqueue's locking rules
 * reaches its object this way.
 */
struct kq;
struct kq *kc__kq_hold(int kqfd);
void	kc__kq_release(struct kq *kq);

/*
 * close, dup2 and dup3 that first tell every kqueue that the descriptor
 * (newfd for the dups) is going: its knotes go with it, as on FreeBSD.
 * Async-signal-safe: no lock taken, nothing allocated.
 */
KC__KQ_EXPORT int kc__close(int fd);
KC__KQ_EXPORT int kc__dup2(int oldfd, int newfd);
KC__KQ_EXPORT int kc__dup3(int oldfd, int newfd, int flags);

/*
 * sigaction as the program sees it while a kqueue watches the signal: the
 * program's disposition is kept and reported, the kernel keeps the
 * library's.
 */
KC__KQ_EXPORT int kc__sigaction(int sig, const struct sigaction *act,
    struct sigaction *old);

#endif
