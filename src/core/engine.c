/*
 * engine.c: the event engine under a soft executor (see engine.h).
 *
 * The wait is epoll_pwait2(); the batch is dispatched in the order epoll
 * gave it: each source's function at once, the client's tokens together at
 * the end (one call, so the client locks once).  The engine itself takes no
 * lock: sources are the owner thread's alone, the client guards its own.
 */
#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal.h"
#include "engine.h"
#include "lockdebug.h"
#include "ownfd.h"

/* The wake-up eventfd's epoll data: neither a source nor a token. */
#define EN_WAKE_DATA	1ull

int
kc__engine_init(struct kc__engine *en, struct kc_executor *owner, bool wake)
{
	struct epoll_event ev;
	int err;

	memset(en, 0, sizeof(*en));
	en->en_owner = owner;
	en->en_wakefd = -1;
	en->en_epfd = epoll_create1(EPOLL_CLOEXEC);
	if (en->en_epfd < 0)
		return -errno;
	if ((err = kc__fd_own(en->en_epfd)) != 0) {
		kc__fd_close_own(en->en_epfd);
		en->en_epfd = -1;
		return err;
	}
	if (!wake)
		return 0;
	en->en_wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (en->en_wakefd < 0)
		goto fail;
	if (kc__fd_own(en->en_wakefd) != 0) {
		errno = ENOMEM;
		goto fail;
	}
	/* Never read: with EPOLLET every write is a new edge. */
	ev.events = EPOLLIN | EPOLLET;
	ev.data.u64 = EN_WAKE_DATA;
	if (epoll_ctl(en->en_epfd, EPOLL_CTL_ADD, en->en_wakefd, &ev) != 0)
		goto fail;
	return 0;
fail:
	err = errno;
	kc__fd_close_own(en->en_wakefd);
	kc__fd_close_own(en->en_epfd);
	en->en_epfd = en->en_wakefd = -1;
	return -err;
}

void
kc__engine_fini(struct kc__engine *en)
{
	struct kc__eclient *c = KC__LOAD(&en->en_client);
	struct kc__eio *io = KC__LOAD(&en->en_io);

	if (c != NULL)
		c->ec_close(c);
	if (io != NULL)
		io->ei_fini(io);
	kc__fd_close_own(en->en_wakefd);
	kc__fd_close_own(en->en_epfd);
	en->en_epfd = en->en_wakefd = -1;
}

/* Sources. */

int
kc__engine_add(struct kc__engine *en, struct kc__esrc *src, int fd,
    uint32_t events)
{
	struct epoll_event ev;

	KC__DASSERT(((uintptr_t)src & KC__EN_TOKEN) == 0);
	src->es_mask = events;
	/*
	 * Published with a release that the dispatch's acquire pairs with:
	 * what the caller set up before registering (on any thread) is seen
	 * by the engine's thread, as the epoll system calls order it anyway.
	 */
	__atomic_store_n(&src->es_fd, fd, __ATOMIC_RELEASE);
	ev.events = events;
	ev.data.ptr = src;
	if (epoll_ctl(en->en_epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		__atomic_store_n(&src->es_fd, -1, __ATOMIC_RELAXED);
		return -errno;
	}
	/* An owner asleep on its futex must now sleep in the engine. */
	if (KC__ADD(&en->en_nreg, 1) == 1 && !kc__on_exec(en->en_owner))
		kc__exec_poke(en->en_owner);
	return 0;
}

int
kc__engine_mod(struct kc__engine *en, struct kc__esrc *src, uint32_t events)
{
	struct epoll_event ev;

	KC__ON_EXEC(en->en_owner);
	if (events == src->es_mask)
		return 0;
	ev.events = events;
	ev.data.ptr = src;
	if (epoll_ctl(en->en_epfd, EPOLL_CTL_MOD, src->es_fd, &ev) != 0)
		return -errno;
	src->es_mask = events;
	return 0;
}

int
kc__engine_rearm(struct kc__engine *en, struct kc__esrc *src)
{
	struct epoll_event ev;

	KC__ON_EXEC(en->en_owner);
	ev.events = src->es_mask;
	ev.data.ptr = src;
	return epoll_ctl(en->en_epfd, EPOLL_CTL_MOD, src->es_fd, &ev) == 0 ?
	    0 : -errno;
}

void
kc__engine_del(struct kc__engine *en, struct kc__esrc *src)
{
	int i;

	KC__DASSERT(kc__on_exec(en->en_owner) || kc__exec_closed(en->en_owner));
	if (src->es_fd < 0)
		return;
	/* The descriptor may be closed already: epoll then forgot it. */
	(void)epoll_ctl(en->en_epfd, EPOLL_CTL_DEL, src->es_fd, NULL);
	for (i = en->en_next; i < en->en_n; i++)
		if (en->en_batch[i].data.ptr == src)
			en->en_batch[i].data.u64 = 0;
	__atomic_store_n(&src->es_fd, -1, __ATOMIC_RELAXED);
	src->es_mask = 0;
	KC__ADD(&en->en_nreg, -1);
}

/* The client. */

int
kc__engine_set_client(struct kc__engine *en, struct kc__eclient *c)
{
	struct kc__eclient *none = NULL;

	return KC__CAS(&en->en_client, &none, c) ? 0 : -EEXIST;
}

int
kc__engine_ctl(struct kc__engine *en, int op, int fd, uint32_t events,
    uint64_t token)
{
	struct epoll_event ev;

	KC__DASSERT(token & KC__EN_TOKEN);
	ev.events = events;
	ev.data.u64 = token;
	return epoll_ctl(en->en_epfd, op, fd, &ev) == 0 ? 0 : -errno;
}

void
kc__engine_count(struct kc__engine *en, int delta)
{
	__atomic_add_fetch(&en->en_nreg, (unsigned)delta, __ATOMIC_SEQ_CST);
}

int
kc__engine_set_io(struct kc__engine *en, struct kc__eio *io)
{
	struct kc__eio *none = NULL;

	return KC__CAS(&en->en_io, &none, io) ? 0 : -EEXIST;
}

struct kc__eio *
kc__engine_io(const struct kc__engine *en)
{
	return KC__LOAD(&en->en_io);
}

bool
kc__engine_io_busy(const struct kc__engine *en)
{
	struct kc__eio *io = KC__LOAD(&en->en_io);

	KC__ON_EXEC(en->en_owner);
	return io != NULL && io->ei_busy(io);
}

bool
kc__engine_busy(const struct kc__engine *en)
{
	/*
	 * Sequentially consistent, so that an owner announcing its sleep and
	 * a first registration's maker (kc__engine_add) see one another; on
	 * x86 it is a plain load.
	 */
	return __atomic_load_n(&en->en_nreg, __ATOMIC_SEQ_CST) != 0;
}

/* Waiting. */

int
kc__engine_poll(struct kc__engine *en, struct epoll_event *evs, int n,
    const struct timespec *timeout)
{
	int m = epoll_pwait2(en->en_epfd, evs, n, timeout, NULL);

	return m >= 0 ? m : -errno;
}

int
kc__engine_run(struct kc__engine *en, const struct timespec *timeout,
    uint32_t *sleeping)
{
	struct epoll_event evs[KC__EN_BATCH];
	struct kc__eclient *c;
	struct kc__esrc *src;
	int i, m, ntok = 0;

	KC__ON_EXEC(en->en_owner);
	m = epoll_pwait2(en->en_epfd, evs, KC__EN_BATCH, timeout, NULL);
	if (sleeping != NULL) {
		__atomic_store_n(sleeping, 0, __ATOMIC_SEQ_CST);
		(void)KC__TR1(KC_TR_EXEC_WAKE, en->en_owner);
	}
	if (m <= 0)
		return 0;
	en->en_batch = evs;
	en->en_n = m;
	for (i = 0; i < m; i++) {
		uint64_t d = evs[i].data.u64;

		if (d & KC__EN_TOKEN) {
			evs[ntok++] = evs[i];	/* ntok <= i: already seen */
			continue;
		}
		if (d == 0 || d == EN_WAKE_DATA)
			continue;	/* removed meanwhile, or a wake-up */
		src = evs[i].data.ptr;
		if (__atomic_load_n(&src->es_fd, __ATOMIC_ACQUIRE) < 0)
			continue;	/* see kc__engine_add */
		en->en_next = i + 1;
		src->es_fn(src, evs[i].events);
	}
	en->en_batch = NULL;
	en->en_next = en->en_n = 0;
	if (ntok > 0 && (c = KC__LOAD(&en->en_client)) != NULL)
		c->ec_events(c, evs, ntok);
	return m;
}

void
kc__engine_wake(struct kc__engine *en)
{
	uint64_t one = 1;

	(void)!write(en->en_wakefd, &one, sizeof(one));
}
