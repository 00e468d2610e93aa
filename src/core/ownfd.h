/*
 * ownfd.h: which descriptors are the library's own (epoll sets, eventfds,
 * timerfds, pidfds, inotify and signalfds it made for itself).  Nothing
 * here is public.
 *
 * The kqueue layer refuses a knote on one (kqueue(3), ERRORS: EBADF), as
 * FreeBSD's kernel would never let a program name them.  Marks are one bit
 * per descriptor number in chunks made on demand and never freed, so a
 * look-up takes no lock and is async-signal-safe.
 */
#ifndef KC_CORE_OWNFD_H
#define KC_CORE_OWNFD_H

#include <stdbool.h>

/* Mark fd as the library's (normal context): 0 or -ENOMEM. */
int	kc__fd_own(int fd);
/* fd stops being the library's: call before it is closed. */
void	kc__fd_disown(int fd);
/* Is fd the library's?  Async-signal-safe. */
bool	kc__fd_is_own(int fd);
/* Close one of the library's descriptors with the raw system call. */
void	kc__fd_close_own(int fd);

#endif /* KC_CORE_OWNFD_H */
