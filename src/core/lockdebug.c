/*
 * lockdebug.c: the locks each thread holds, for the assertions of debug
 * builds (lockdebug.h).  Built only with KC_DEBUG.
 *
 * A short list per thread, written by that thread alone.  A signal handler
 * may interrupt an update and take and release a lock before it returns
 * (sigaction() takes the signal table's), so every update is ordered for
 * it: adding counts the new slot before filling it, so that a handler's
 * entry goes above it; removing fills the hole with the top entry, empties
 * the top slot and only then uncounts it, so that a handler adds above
 * everything still counted.  A handler's updates are whole by the time it
 * returns, and a slot that is not counted is empty, so a handler never
 * sees another lock's entry as its own.  The handler runs on the same
 * thread: ordering the compiler's stores (signal fences) is enough.
 */
#include "core/lockdebug.h"

#define HELD_MAX	16	/* the library nests a few at most */

static __thread struct {
	const void	*h_lock[HELD_MAX];
	unsigned	 h_n;
} held;

void
kc__held_add(const void *lock)
{
	unsigned n = held.h_n;

	if (n == HELD_MAX)
		kc__panic(__FILE__, __LINE__, "a thread holds too many locks");
	held.h_n = n + 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	held.h_lock[n] = lock;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

void
kc__held_del(const void *lock)
{
	unsigned n = held.h_n, i = n;

	while (i > 0 && held.h_lock[i - 1] != lock)
		i--;
	if (i == 0)
		kc__panic(__FILE__, __LINE__,
		    "a thread releases a lock it does not hold");
	held.h_lock[i - 1] = held.h_lock[n - 1];
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	held.h_lock[n - 1] = NULL;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	held.h_n = n - 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

bool
kc__held(const void *lock)
{
	unsigned i;

	for (i = held.h_n; i > 0; i--)
		if (held.h_lock[i - 1] == lock)
			return true;
	return false;
}

unsigned
kc__held_count(void)
{
	return held.h_n;
}
