/*
 * ownfd.c: the marks of the library's own descriptors (see ownfd.h).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ownfd.h"

#define OWN_SHIFT	15			/* 32,768 descriptors a chunk */
#define OWN_CHUNK	(1u << OWN_SHIFT)
#define OWN_DIRN	(1u << 12)		/* 2^27 descriptors */
#define OWN_LIMIT	((uint64_t)OWN_DIRN * OWN_CHUNK)

static uint64_t *own_dir[OWN_DIRN];

static uint64_t *
own_word(int fd, bool create)
{
	uint64_t *c, *exp = NULL;

	if (fd < 0 || (uint64_t)fd >= OWN_LIMIT)
		return NULL;
	c = __atomic_load_n(&own_dir[fd >> OWN_SHIFT], __ATOMIC_ACQUIRE);
	if (c == NULL && create) {
		c = calloc(OWN_CHUNK / 64, sizeof(*c));
		if (c == NULL)
			return NULL;
		if (!__atomic_compare_exchange_n(&own_dir[fd >> OWN_SHIFT],
		    &exp, c, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			free(c);	/* another thread made it first */
			c = exp;
		}
	}
	return c == NULL ? NULL : &c[(fd & (OWN_CHUNK - 1)) / 64];
}

int
kc__fd_own(int fd)
{
	uint64_t *w = own_word(fd, true);

	if (w == NULL)
		return -ENOMEM;
	__atomic_or_fetch(w, 1ull << (fd % 64), __ATOMIC_RELEASE);
	return 0;
}

void
kc__fd_disown(int fd)
{
	uint64_t *w = own_word(fd, false);

	if (w != NULL)
		__atomic_and_fetch(w, ~(1ull << (fd % 64)), __ATOMIC_RELEASE);
}

bool
kc__fd_is_own(int fd)
{
	uint64_t *w = own_word(fd, false);

	return w != NULL &&
	    (__atomic_load_n(w, __ATOMIC_ACQUIRE) & (1ull << (fd % 64)));
}

void
kc__fd_close_own(int fd)
{
	if (fd < 0)
		return;
	/* Before the close: after it, the number may be the program's. */
	kc__fd_disown(fd);
	(void)syscall(SYS_close, fd);
}
