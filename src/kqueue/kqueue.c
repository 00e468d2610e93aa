/*
 * kqueue.c: kqueue objects, kevent(), the scan that activates knotes, and
 * the descriptor bookkeeping (close, dup2, fork) that FreeBSD's kernel does
 * for free.
 *
 * Locking: reg_lock guards the table from descriptor to kqueue and the list
 * of live kqueues; each kqueue's kq_lock guards its knotes.  Order: reg_lock
 * before kq_lock, and nobody waits (for a running continuation) while holding
 * reg_lock.  A continuation runs with no lock held, so it may call kevent(),
 * close() or anything else.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "kq.h"
#include "kqapi.h"
#include "../core/internal.h"
#include "../core/engine.h"
#include "../core/ownfd.h"

#define KQ_EPOLL_BATCH	64
#define LOWAT_RECHECK_NS 5000000L	/* knotes below NOTE_LOWAT */
/*
 * An epoll item of the kqueue's is a token of its engine's client
 * (core/engine.h): KC__EN_TOKEN, a generation (31 bits) and the descriptor.
 */
#define KICK_GEN	0x7fffffffu	/* the pending list's eventfd */
#define INOTIFY_GEN	0x7ffffffeu	/* the inotify descriptor */
#define SIGFD_GEN	0x7ffffffdu	/* the signalfd */
#define GEN_MAX		0x7ffffff0u
#define TOKEN(gen, fd)	(KC__EN_TOKEN | (uint64_t)(gen) << 32 | (uint32_t)(fd))
#define TOKEN_GEN(t)	((uint32_t)((t) >> 32) & 0x7fffffffu)
#define TOKEN_FD(t)	((int)(uint32_t)(t))

/*
 * What the close(), dup2() and dup3() wrappers read.  They may run in a
 * signal handler, on a thread that is inside kevent() with a kqueue's lock
 * held, so they take no lock and allocate nothing: everything here is
 * allocated beforehand (in normal context, under reg_lock or by a
 * compare-and-swap), published with atomic stores, and never freed.
 *
 * fd_dir: one slot per descriptor number, in chunks made on demand.
 */
#define SLOT_SHIFT	12
#define SLOT_CHUNK	(1 << SLOT_SHIFT)
#define SLOT_DIRN	(1 << 15)	/* 2^27 descriptors */
#define FD_LIMIT	(SLOT_DIRN * SLOT_CHUNK)

struct fdslot {
	struct kq	*fs_kq;		/* the program's kqueue descriptor */
	uint32_t	 fs_gen;	/* closes of the number while watched */
	uint32_t	 fs_watch;	/* READ/WRITE/VNODE knotes, every kqueue */
};
static struct fdslot *fd_dir[SLOT_DIRN];

/*
 * The epoll descriptor of every kqueue (ks_ep is the descriptor + 1, 0 for
 * a free slot): the wrappers take a closed descriptor out of each.
 * ks_busy counts wrappers looking at the slot, so that kq_free() does not
 * close the epoll while a wrapper may still use its number.
 */
#define KQ_SLOTS	65536
static struct {
	int		 ks_ep;
	unsigned	 ks_busy;
} kq_slots[KQ_SLOTS];
static unsigned kq_nslots;	/* slots ever used: the wrappers' bound */

/*
 * The close log: every close of a watched descriptor, in order.  Each
 * kqueue consumes it under its own lock (kq_sync) before it registers or
 * delivers anything; one that fell behind by more than the log holds looks
 * at all its knotes instead.
 */
#define CLOSE_LOG	1024
static uint64_t close_seq;
static uint64_t close_log[CLOSE_LOG];	/* seq << 32 | fd */

/* Kqueues whose program descriptor was closed, to release (kq_dnext). */
static struct kq *reg_doomed;

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned reg_live;	/* kqueues alive: close() skips work when 0 */
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;

/*
 * The C library's own entry points behind the close(), dup2() and dup3()
 * that the library wraps.  Not dlsym(RTLD_NEXT): a sanitizer runtime may
 * call our wrappers before it can serve dlsym's allocations.
 */
extern int __close(int fd);
extern int __dup2(int oldfd, int newfd);

static struct fdslot *
slot_peek(int fd)
{
	struct fdslot *c;

	if (fd < 0 || fd >= FD_LIMIT)
		return NULL;
	c = __atomic_load_n(&fd_dir[fd >> SLOT_SHIFT], __ATOMIC_ACQUIRE);
	return c == NULL ? NULL : &c[fd & (SLOT_CHUNK - 1)];
}

/* The slot of fd, made if need be (normal context only); NULL: ENOMEM. */
static struct fdslot *
slot_get(int fd)
{
	struct fdslot *c, *exp = NULL, *s = slot_peek(fd);

	if (s != NULL || fd < 0 || fd >= FD_LIMIT)
		return s;
	c = calloc(SLOT_CHUNK, sizeof(*c));
	if (c == NULL)
		return NULL;
	if (!__atomic_compare_exchange_n(&fd_dir[fd >> SLOT_SHIFT], &exp, c,
	    false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		free(c);	/* another thread made it first */
	return slot_peek(fd);
}

int
kq__mark_own(int fd)
{
	return -kc__fd_own(fd);
}

int
kq__sys_close(int fd)
{
	/* Before the close: after it, the number may be the program's. */
	kc__fd_disown(fd);
	return __close(fd);
}

/* Has the descriptor kn watches been closed since kn was added? */
static bool
kn_stale(const struct knote *kn)
{
	struct fdslot *fs = slot_peek((int)kn->kn_kev.ident);

	return fs != NULL &&
	    __atomic_load_n(&fs->fs_gen, __ATOMIC_ACQUIRE) != kn->kn_cgen;
}

void
kq__lock(struct kq *kq)
{
	kc__mtx_lock(&kq->kq_lock);
}

void
kq__unlock(struct kq *kq)
{
	kc__mtx_unlock(&kq->kq_lock);
}

/* Registry. */

static void reg_atfork_prepare(void);
static void reg_atfork_parent(void);
static void reg_atfork_child(void);

static void
reg_init(void)
{
	pthread_atfork(reg_atfork_prepare, reg_atfork_parent, reg_atfork_child);
}

/* Give kq a slot in the wrappers' list; under reg_lock. */
static int
reg_add(struct kq *kq, int fd)
{
	struct fdslot *fs;
	unsigned i;

	KC__OWNED(&reg_lock);
	if ((fs = slot_get(fd)) == NULL)
		return ENOMEM;
	for (i = 0; i < KQ_SLOTS; i++)
		if (__atomic_load_n(&kq_slots[i].ks_ep, __ATOMIC_RELAXED) == 0)
			break;
	if (i == KQ_SLOTS)
		return EMFILE;
	kq->kq_slot = i;
	__atomic_store_n(&kq_slots[i].ks_ep, kq->kq_fd + 1, __ATOMIC_SEQ_CST);
	if (i >= kq_nslots)
		__atomic_store_n(&kq_nslots, i + 1, __ATOMIC_RELEASE);
	/* A stale entry: its descriptor was closed behind the library's back. */
	__atomic_store_n(&fs->fs_kq, kq, __ATOMIC_RELEASE);
	__atomic_add_fetch(&reg_live, 1, __ATOMIC_SEQ_CST);
	return 0;
}

static void kq_put(struct kq *kq);

/*
 * Release the kqueues whose program descriptor a wrapper closed (it could
 * not: that frees memory).  A kq_get() that found one before the wrapper
 * took it out of the table took its reference under reg_lock, so the
 * table's reference goes only after reg_lock has been taken once.
 */
static void
reg_reap(void)
{
	struct kq *kq, *next;

	if (__atomic_load_n(&reg_doomed, __ATOMIC_RELAXED) == NULL)
		return;
	kq = __atomic_exchange_n(&reg_doomed, NULL, __ATOMIC_ACQ_REL);
	kc__mtx_lock(&reg_lock);
	kc__mtx_unlock(&reg_lock);
	for (; kq != NULL; kq = next) {
		next = kq->kq_dnext;
		kq_put(kq);
	}
}

static struct kq *
kq_get(int fd)
{
	struct fdslot *fs;
	struct kq *kq = NULL;

	reg_reap();
	kc__mtx_lock(&reg_lock);
	if ((fs = slot_peek(fd)) != NULL &&
	    (kq = __atomic_load_n(&fs->fs_kq, __ATOMIC_ACQUIRE)) != NULL)
		__atomic_add_fetch(&kq->kq_refs, 1, __ATOMIC_RELAXED);
	kc__mtx_unlock(&reg_lock);
	return kq;
}

static void kq_free(struct kq *kq);
static void kq_engine_leave(struct kq *kq);

static void
kq_put(struct kq *kq)
{
	if (__atomic_sub_fetch(&kq->kq_refs, 1, __ATOMIC_ACQ_REL) == 0)
		kq_free(kq);
}

/* Hash of knotes by (ident, filter). */

static size_t
kn_hash(uintptr_t ident, short filter, size_t size)
{
	uint64_t h = (uint64_t)ident * 0x9e3779b97f4a7c15ull ^
	    (uint64_t)(uint16_t)filter * 0xc2b2ae3d27d4eb4full;

	return (size_t)(h >> 17) & (size - 1);
}

struct knote *
kq__find(struct kq *kq, uintptr_t ident, short filter)
{
	struct knote *kn;

	KQ_OWNED(kq);
	if (kq->kq_hsize == 0)
		return NULL;
	for (kn = kq->kq_hash[kn_hash(ident, filter, kq->kq_hsize)];
	    kn != NULL; kn = kn->kn_hnext)
		if (kn->kn_kev.ident == ident && kn->kn_kev.filter == filter)
			return kn;
	return NULL;
}

/*
 * Move every knote into the empty table h of size buckets, which replaces
 * the kqueue's; the old table is returned, for the caller to free (after
 * the unlock, if it can).
 */
static struct knote **
hash_move(struct kq *kq, struct knote **h, size_t size)
{
	struct knote **old = kq->kq_hash, *k, *next;
	size_t i;

	KQ_OWNED(kq);
	for (i = 0; i < kq->kq_hsize; i++) {
		for (k = kq->kq_hash[i]; k != NULL; k = next) {
			size_t b = kn_hash(k->kn_kev.ident, k->kn_kev.filter,
			    size);

			next = k->kn_hnext;
			k->kn_hnext = h[b];
			h[b] = k;
		}
	}
	kq->kq_hash = h;
	__atomic_store_n(&kq->kq_hsize, size, __ATOMIC_RELAXED);
	return old;
}

static int
hash_insert(struct kq *kq, struct knote *kn)
{
	struct knote **h;
	size_t i, size;

	/* Made before the lock as a rule (kq_room); here only if it fell short. */
	if (kq->kq_count + 1 > kq->kq_hsize) {
		size = kq->kq_hsize ? kq->kq_hsize * 2 : 64;
		h = calloc(size, sizeof(*h));
		if (h == NULL)
			return ENOMEM;
		free(hash_move(kq, h, size));
	}
	i = kn_hash(kn->kn_kev.ident, kn->kn_kev.filter, kq->kq_hsize);
	kn->kn_hnext = kq->kq_hash[i];
	kq->kq_hash[i] = kn;
	__atomic_store_n(&kq->kq_count, kq->kq_count + 1, __ATOMIC_RELAXED);
	if (kq->kq_en != NULL)
		kc__engine_count(kq->kq_en, 1);
	return 0;
}

static void
hash_remove(struct kq *kq, struct knote *kn)
{
	struct knote **pp;

	pp = &kq->kq_hash[kn_hash(kn->kn_kev.ident, kn->kn_kev.filter,
	    kq->kq_hsize)];
	for (; *pp != NULL; pp = &(*pp)->kn_hnext) {
		if (*pp == kn) {
			*pp = kn->kn_hnext;
			__atomic_store_n(&kq->kq_count, kq->kq_count - 1,
			    __ATOMIC_RELAXED);
			if (kq->kq_en != NULL)
				kc__engine_count(kq->kq_en, -1);
			return;
		}
	}
}

/* The pending list and the eventfd that makes it visible to epoll. */

static void
kick_sync(struct kq *kq)
{
	uint64_t v = 1;

	KQ_OWNED(kq);
	if (kq->kq_closed)
		return;		/* stays readable: every waiter must see it */
	if (!kc__list_empty(&kq->kq_pending) && !kq->kq_kicked) {
		if (write(kq->kq_kick, &v, sizeof(v)) == sizeof(v))
			kq->kq_kicked = true;
	} else if (kc__list_empty(&kq->kq_pending) && kq->kq_kicked) {
		if (read(kq->kq_kick, &v, sizeof(v)) == sizeof(v) ||
		    errno == EAGAIN)
			kq->kq_kicked = false;
		/*
		 * A close() of the program's descriptor sets kq_dead, then
		 * writes the eventfd: if that write was just read, kq_dead is
		 * seen here, and the eventfd is made readable again.
		 */
		if (__atomic_load_n(&kq->kq_dead, __ATOMIC_SEQ_CST)) {
			kq->kq_closed = true;
			v = 1;
			if (write(kq->kq_kick, &v, sizeof(v)) == sizeof(v))
				kq->kq_kicked = true;
		}
	}
}

/*
 * Debug builds check the two lists whole once per scan and when the kqueue
 * goes (each knote moved is checked as it moves, in queue_leave): each knote
 * on a list says it is on that one, none is on both or twice, and the
 * pending list's tail is its last link.  The walks are bounded by the knote
 * count, so a cycle is caught rather than followed for ever.
 */
#ifdef KC_DEBUG
static void
queue_check(struct kq *kq)
{
	struct kc__link *lk, *prev = NULL;
	struct knote *kn;
	size_t n = 0;

	for (lk = kq->kq_pending.first; lk != NULL; prev = lk, lk = lk->next) {
		kn = KC__LIST_ITEM(lk, struct knote, kn_plink);
		KC__ASSERT(lk->prev == prev);
		KC__ASSERT(kn->kn_queue == KNQ_PENDING);
		KC__ASSERT(!(kn->kn_status & KN_DELETED));
		KC__ASSERT(n++ <= kq->kq_count);
	}
	KC__ASSERT(kq->kq_pending.last == prev);
	for (n = 0, kn = KC__LIST_FIRST(&kq->kq_lowat, struct knote, kn_plink);
	    kn != NULL; kn = KC__LIST_NEXT(kn, struct knote, kn_plink)) {
		KC__ASSERT(kn->kn_queue == KNQ_LOWAT);
		KC__ASSERT(!(kn->kn_status & KN_DELETED));
		KC__ASSERT(n++ <= kq->kq_count);
	}
}
#else
#define queue_check(kq)	do { } while (0)
#endif

/* Take kn off the list it is on, if any. */
static void
queue_leave(struct kq *kq, struct knote *kn)
{
	KQ_OWNED(kq);
	switch (kn->kn_queue) {
	case KNQ_LOWAT:
		kc__list_remove(&kq->kq_lowat, &kn->kn_plink);
		break;
	case KNQ_PENDING:
		kc__list_remove(&kq->kq_pending, &kn->kn_plink);
		break;
	case KNQ_NONE:
		return;
	}
	kn->kn_queue = KNQ_NONE;
}

void
kq__pend(struct kq *kq, struct knote *kn)
{
	KQ_OWNED(kq);
	if (kn->kn_queue == KNQ_PENDING || (kn->kn_status & KN_DELETED))
		return;
	/* From the low-water list: the pending list looks at it sooner. */
	queue_leave(kq, kn);
	kn->kn_queue = KNQ_PENDING;
	kc__list_push_tail(&kq->kq_pending, &kn->kn_plink);
}

void
kq__lowat_wait(struct kq *kq, struct knote *kn)
{
	KQ_OWNED(kq);
	/* On the pending list it is looked at sooner anyway. */
	if (kn->kn_queue != KNQ_NONE || (kn->kn_status & KN_DELETED))
		return;
	kn->kn_queue = KNQ_LOWAT;
	kc__list_push_tail(&kq->kq_lowat, &kn->kn_plink);
}

/* Give the low-water knotes another look (from the pending list). */
static void
lowat_recheck(struct kq *kq)
{
	struct knote *kn;

	while ((kn = KC__LIST_FIRST(&kq->kq_lowat, struct knote,
	    kn_plink)) != NULL)
		kq__pend(kq, kn);
}

/* Epoll items. */

static struct kq_fdent *
fdent(struct kq *kq, int fd, bool create)
{
	if (fd < 0)
		return NULL;
	if (fd >= kq->kq_nfds) {
		struct kq_fdent *t;
		int n = kq->kq_nfds ? kq->kq_nfds : 64;

		if (!create)
			return NULL;
		while (n <= fd)
			n *= 2;
		/*
		 * Made before the lock as a rule (kq_room); here for the
		 * descriptors a filter makes, or if that fell short.
		 */
		t = realloc(kq->kq_fds, (size_t)n * sizeof(*t));
		if (t == NULL)
			return NULL;
		memset(t + kq->kq_nfds, 0, (size_t)(n - kq->kq_nfds) *
		    sizeof(*t));
		kq->kq_fds = t;
		__atomic_store_n(&kq->kq_nfds, n, __ATOMIC_RELAXED);
	}
	return &kq->kq_fds[fd];
}

int
kq__ctl(struct kq *kq, int fd, uint32_t events)
{
	struct kq_fdent *fe;
	int op, rc;

	KQ_OWNED(kq);
	if ((fe = fdent(kq, fd, true)) == NULL)
		return ENOMEM;
	if (events == fe->fe_mask)
		return 0;
	if (events == 0) {
		rc = kc__engine_ctl(kq->kq_en, EPOLL_CTL_DEL, fd, 0,
		    TOKEN(fe->fe_gen, fd));
		if (rc != 0 && rc != -ENOENT && rc != -EBADF)
			return -rc;
		fe->fe_mask = 0;
		return 0;
	}
	if (fe->fe_mask == 0) {
		if (++kq->kq_gen >= GEN_MAX)
			kq->kq_gen = 1;
		fe->fe_gen = kq->kq_gen;
	}
	op = fe->fe_mask == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
	rc = kc__engine_ctl(kq->kq_en, op, fd, events, TOKEN(fe->fe_gen, fd));
	if (rc != 0) {
		/* The descriptor was closed and reopened behind our back. */
		if (op == EPOLL_CTL_MOD && rc == -ENOENT)
			op = EPOLL_CTL_ADD;
		else if (op == EPOLL_CTL_ADD && rc == -EEXIST)
			op = EPOLL_CTL_MOD;
		else
			return -rc;
		rc = kc__engine_ctl(kq->kq_en, op, fd, events,
		    TOKEN(fe->fe_gen, fd));
		if (rc != 0)
			return -rc;
	}
	fe->fe_mask = events;
	return 0;
}

int
kq__ctl_again(struct kq *kq, int fd)
{
	struct kq_fdent *fe;

	KQ_OWNED(kq);
	fe = fdent(kq, fd, false);
	if (fe == NULL || fe->fe_mask == 0)
		return 0;
	return -kc__engine_ctl(kq->kq_en, EPOLL_CTL_MOD, fd, fe->fe_mask,
	    TOKEN(fe->fe_gen, fd));
}

int
kq__own_fd(struct kq *kq, struct knote *kn, int ifd, uint32_t events)
{
	struct kq_fdent *fe;
	int rc;

	KQ_OWNED(kq);
	fe = fdent(kq, ifd, true);
	if (fe == NULL || kq__mark_own(ifd) != 0)
		return ENOMEM;
	fe->fe_own = kn;
	fe->fe_rd = fe->fe_wr = NULL;
	fe->fe_mask = 0;
	kn->kn_ifd = ifd;
	rc = kq__ctl(kq, ifd, events);
	if (rc != 0) {
		fe->fe_own = NULL;
		kn->kn_ifd = -1;
	}
	return rc;
}

void
kq__own_fd_drop(struct kq *kq, struct knote *kn, int ifd)
{
	struct kq_fdent *fe;

	KQ_OWNED(kq);
	fe = fdent(kq, ifd, false);
	if (fe != NULL && fe->fe_own == kn) {
		kq__ctl(kq, ifd, 0);
		fe->fe_own = NULL;
	}
}

void
kq__drop_own(struct kq *kq, struct knote *kn)
{
	struct kq_fdent *fe;

	KQ_OWNED(kq);
	if (kn->kn_ifd >= 0) {
		fe = fdent(kq, kn->kn_ifd, false);
		if (fe != NULL && fe->fe_own == kn) {
			kq__ctl(kq, kn->kn_ifd, 0);
			fe->fe_own = NULL;
		}
		kq__sys_close(kn->kn_ifd);
		kn->kn_ifd = -1;
	}
	if (kn->kn_watch != NULL)
		kq__unwatch(kq, kn);
}

int
kq__special_fd(struct kq *kq, int fd, bool signalfd)
{
	if (kq__mark_own(fd) != 0)
		return ENOMEM;
	return -kc__engine_ctl(kq->kq_en, EPOLL_CTL_ADD, fd,
	    EPOLLIN | (signalfd ? EPOLLET : 0),
	    TOKEN(signalfd ? SIGFD_GEN : INOTIFY_GEN, fd));
}

/* The descriptor's readiness now, as epoll bits. */
uint32_t
kq__fd_poll(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT | POLLRDHUP };
	uint32_t ev = 0;

	if (poll(&p, 1, 0) <= 0)
		return 0;
	if (p.revents & POLLIN)
		ev |= EPOLLIN;
	if (p.revents & POLLOUT)
		ev |= EPOLLOUT;
	if (p.revents & POLLRDHUP)
		ev |= EPOLLRDHUP;
	if (p.revents & POLLHUP)
		ev |= EPOLLHUP;
	if (p.revents & POLLERR)
		ev |= EPOLLERR;
	return ev;
}

/* Knotes. */

static const struct kq_filtops *
filtops(short filter)
{
	switch (filter) {
	case EVFILT_READ:	return &kq__filt_read;
	case EVFILT_WRITE:	return &kq__filt_write;
	case EVFILT_TIMER:	return &kq__filt_timer;
	case EVFILT_USER:	return &kq__filt_user;
	case EVFILT_PROC:	return &kq__filt_proc;
	case EVFILT_SIGNAL:	return &kq__filt_signal;
	case EVFILT_VNODE:	return &kq__filt_vnode;
	default:		return NULL;
	}
}

static void
kn_free(struct knote *kn)
{
	KC__DASSERT(kn->kn_queue == KNQ_NONE);
	free(kn);
}

/* Take kn off every list and let its filter go; free it unless it runs. */
static void
kn_drop(struct kq *kq, struct knote *kn)
{
	KQ_OWNED(kq);
	if (kn->kn_fop->f_isfd)
		__atomic_sub_fetch(&slot_peek((int)kn->kn_kev.ident)->fs_watch,
		    1, __ATOMIC_SEQ_CST);
	hash_remove(kq, kn);
	queue_leave(kq, kn);
	kn->kn_fop->f_detach(kq, kn);
	kq__drop_own(kq, kn);
	kn->kn_status |= KN_DELETED;
	if (!(kn->kn_status & KN_RUNNING))
		kn_free(kn);
}

/*
 * Delete kn, waiting for its continuation to return if another thread runs
 * it (a barrier: after this the continuation neither runs nor will run).
 * May drop and retake the lock; returns false if kn went away meanwhile.
 */
static bool
kn_delete(struct kq *kq, struct knote *kn)
{
	uintptr_t ident = kn->kn_kev.ident;
	short filter = kn->kn_kev.filter;

	KQ_OWNED(kq);
	while (kn->kn_status & KN_RUNNING &&
	    !pthread_equal(kn->kn_runner, pthread_self())) {
		/* Nobody waits for a continuation holding reg_lock. */
		KC__NOTOWNED(&reg_lock);
		kc__cond_wait(&kq->kq_cond, &kq->kq_lock);
		if ((kn = kq__find(kq, ident, filter)) == NULL)
			return false;
	}
	kn_drop(kq, kn);
	return true;
}

/*
 * Descriptor fd was closed (or replaced by dup2): drop the READ, WRITE and
 * VNODE knotes on it that are older than the close.  The wrapper already
 * took fd out of this kqueue's epoll set, so the item is forgotten here
 * without a call: fd may be another file by now, or one of the library's.
 */
static void
fd_forget(struct kq *kq, int fd)
{
	static const short fdfilt[] = { EVFILT_READ, EVFILT_WRITE,
	    EVFILT_VNODE };
	struct knote *gone[3];
	struct kq_fdent *fe;
	bool rearm = false;
	size_t i, n = 0;

	KQ_OWNED(kq);
	for (i = 0; i < sizeof(fdfilt) / sizeof(fdfilt[0]); i++) {
		struct knote *kn = kq__find(kq, (uintptr_t)fd, fdfilt[i]);

		if (kn != NULL && kn_stale(kn))
			gone[n++] = kn;
	}
	if (n == 0)
		return;
	fe = fdent(kq, fd, false);
	if (fe != NULL && fe->fe_own == NULL) {
		bool rd = fe->fe_rd != NULL && kn_stale(fe->fe_rd);
		bool wr = fe->fe_wr != NULL && kn_stale(fe->fe_wr);

		if (rd)
			fe->fe_rd = NULL;
		if (wr)
			fe->fe_wr = NULL;
		if (fe->fe_rd == NULL && fe->fe_wr == NULL)
			fe->fe_mask = 0;
		else if (rd || wr)
			rearm = true;	/* one knote is on the new file */
	}
	for (i = 0; i < n; i++)
		kn_drop(kq, gone[i]);
	if (rearm)
		(void)kq__fd_rearm(kq, fd);
}

/* Look at every knote: the close log lost some closes. */
static void
fd_forget_all(struct kq *kq)
{
	struct knote *kn;
	size_t i;

	for (i = 0; i < kq->kq_hsize; i++) {
again:
		for (kn = kq->kq_hash[i]; kn != NULL; kn = kn->kn_hnext) {
			if (kn->kn_fop->f_isfd && kn_stale(kn)) {
				fd_forget(kq, (int)kn->kn_kev.ident);
				goto again;
			}
		}
	}
}

/*
 * Catch up with the wrappers, under kq's lock, before registering or
 * delivering anything: a close of the program's kqueue descriptor, and
 * the closes of watched descriptors in the close log.
 */
static void
kq_sync(struct kq *kq)
{
	uint64_t cur = __atomic_load_n(&close_seq, __ATOMIC_ACQUIRE), i;

	KQ_OWNED(kq);
	if (__atomic_load_n(&kq->kq_dead, __ATOMIC_ACQUIRE))
		kq->kq_closed = true;
	if (cur == kq->kq_cseq)
		return;
	if (cur - kq->kq_cseq > CLOSE_LOG) {
		fd_forget_all(kq);
	} else {
		for (i = kq->kq_cseq; i < cur; i++) {
			uint64_t e = __atomic_load_n(&close_log[i % CLOSE_LOG],
			    __ATOMIC_ACQUIRE);

			if ((uint32_t)(e >> 32) != (uint32_t)i) {
				/* Not written yet, or written over. */
				fd_forget_all(kq);
				break;
			}
			fd_forget(kq, (int)(uint32_t)e);
		}
	}
	kq->kq_cseq = cur;
}

static int
check_kc(struct kq *kq, const struct kevent *kev)
{
	struct kc *kc = kev->udata;

	if (!kc__valid(kc))
		return EINVAL;
	if (kc->kc_exec != NULL && kc->kc_exec != kq->kq_exec)
		return EINVAL;
	return 0;
}

/*
 * The knotes a changelist's EV_ADDs may need, made before the kqueue's
 * lock is taken (FreeBSD's kqueue_register allocates first, "to prevent
 * waiting with locks"), linked through kn_hnext.  A short list (memory ran
 * out) makes the adds past it fail with ENOMEM.
 */
static struct knote *
kn_prealloc(const struct kevent *changes, int n)
{
	struct knote *list = NULL, *kn;
	int i;

	for (i = 0; i < n; i++) {
		if (!(changes[i].flags & EV_ADD))
			continue;
		if ((kn = calloc(1, sizeof(*kn))) == NULL)
			break;
		kn->kn_hnext = list;
		list = kn;
	}
	return list;
}

/* Free what kn_prealloc() made and no change used (after the unlock). */
static void
kn_prefree(struct knote *list)
{
	struct knote *next;

	for (; list != NULL; list = next) {
		next = list->kn_hnext;
		free(list);
	}
}

/*
 * Before the lock: what attaching change kev will need (struct kq_prep).
 * For a descriptor, also the count that makes a close visible (fs_watch)
 * and the close generation after it, which kn_register took under the
 * lock before: a close from here on makes the new knote stale.
 */
static void
kn_prepare(struct kq *kq, const struct kevent *kev, struct kq_prep *kp)
{
	const struct kq_filtops *fop = filtops(kev->filter);
	struct fdslot *fs;
	int fd = (int)kev->ident;

	KQ_NOTOWNED(kq);
	kp->kp_fop = fop;
	kp->kp_ident = kev->ident;
	kp->kp_fd = kp->kp_slot = kp->kp_sigfd = kp->kp_wd = -1;
	if (fop == NULL)
		return;		/* EINVAL under the lock */
	if (fop->f_isfd) {
		if (kev->ident > INT_MAX)
			return;	/* EBADF under the lock */
		if ((fs = slot_get(fd)) == NULL) {
			kp->kp_err = fcntl(fd, F_GETFD) < 0 ? EBADF : ENOMEM;
			return;
		}
		__atomic_add_fetch(&fs->fs_watch, 1, __ATOMIC_SEQ_CST);
		kp->kp_counted = true;
		kp->kp_cgen = __atomic_load_n(&fs->fs_gen, __ATOMIC_SEQ_CST);
	}
	if (fop->f_prepare != NULL)
		fop->f_prepare(kq, kev, kp);
}

/* After the unlock: release what kn_prepare() made and nobody took. */
static void
kn_unprepare(struct kq_prep *kp)
{
	KC__DASSERT(kp->kp_wd < 0);
	if (kp->kp_fd >= 0)
		kq__sys_close(kp->kp_fd);
	if (kp->kp_sigfd >= 0)
		kq__sys_close(kp->kp_sigfd);
	free(kp->kp_watch);
	if (kp->kp_counted)
		__atomic_sub_fetch(&slot_peek((int)kp->kp_ident)->fs_watch, 1,
		    __ATOMIC_SEQ_CST);
	if (kp->kp_fop != NULL && kp->kp_fop->f_release != NULL)
		kp->kp_fop->f_release(kp);
}

/*
 * What a changelist may need, made before the kqueue's lock is taken:
 * knotes for its EV_ADDs (kn_prealloc()), a preparation per EV_ADD, in
 * the changes' order (kn_prepare(): each change with EV_ADD takes the
 * next, so a list that adds, deletes and adds one knote gives each add
 * its own), and a bigger knote hash, descriptor table and inotify watch
 * table if its adds may outgrow them.  The sizes are read without the
 * lock; kq_room_install(), under it, takes what is still needed;
 * kq_room_settle(), under it before the unlock, lets go of the watches no
 * knote took; kq_room_free(), after the unlock, frees and closes what was
 * left or replaced.
 */
struct kq_room {
	struct knote	 *rm_spares;
	struct kq_prep	 *rm_preps;
	int		  rm_nprep;	/* made */
	int		  rm_next;	/* the next change's */
	struct knote	**rm_hash;
	size_t		  rm_hsize;
	struct kq_fdent	 *rm_fds;
	int		  rm_nfds;
	struct kq_watch	**rm_wtab;
	size_t		  rm_wtsize;
};

static void
kq_room_make(struct kq *kq, const struct kevent *changes, int n,
    struct kq_room *rm)
{
	struct kq_prep *kp;
	size_t adds = 0, watches = 0, need, size;
	int i, maxfd = -1, nfds;

	KQ_NOTOWNED(kq);
	memset(rm, 0, sizeof(*rm));
	for (i = 0; i < n; i++)
		if (changes[i].flags & EV_ADD)
			adds++;
	if (adds == 0)
		return;
	rm->rm_spares = kn_prealloc(changes, n);
	/* None made (memory ran out): every add fails with ENOMEM. */
	if ((rm->rm_preps = calloc(adds, sizeof(*rm->rm_preps))) == NULL)
		return;
	for (i = 0; i < n; i++) {
		if (!(changes[i].flags & EV_ADD))
			continue;
		kp = &rm->rm_preps[rm->rm_nprep++];
		kn_prepare(kq, &changes[i], kp);
		/* Only an open descriptor makes the table grow. */
		if (kp->kp_counted && kp->kp_err == 0 &&
		    (int)kp->kp_ident > maxfd)
			maxfd = (int)kp->kp_ident;
		if (kp->kp_slot > maxfd)
			maxfd = kp->kp_slot;
		if (kp->kp_watch != NULL)
			watches++;
	}
	size = __atomic_load_n(&kq->kq_hsize, __ATOMIC_RELAXED);
	need = __atomic_load_n(&kq->kq_count, __ATOMIC_RELAXED) + adds;
	if (need > size) {
		for (size = size ? size : 64; size < need; size *= 2)
			;
		if ((rm->rm_hash = calloc(size, sizeof(*rm->rm_hash))) != NULL)
			rm->rm_hsize = size;
	}
	nfds = __atomic_load_n(&kq->kq_nfds, __ATOMIC_RELAXED);
	if (maxfd >= nfds) {
		for (nfds = nfds ? nfds : 64; nfds <= maxfd; nfds *= 2)
			;
		if ((rm->rm_fds = calloc((size_t)nfds,
		    sizeof(*rm->rm_fds))) != NULL)
			rm->rm_nfds = nfds;
	}
	if (watches > 0)
		rm->rm_wtab = kq__wtab_make(kq, watches, &rm->rm_wtsize);
}

static void
kq_room_install(struct kq *kq, struct kq_room *rm)
{
	KQ_OWNED(kq);
	if (rm->rm_hash != NULL && rm->rm_hsize > kq->kq_hsize)
		rm->rm_hash = hash_move(kq, rm->rm_hash, rm->rm_hsize);
	if (rm->rm_fds != NULL && rm->rm_nfds > kq->kq_nfds) {
		struct kq_fdent *old = kq->kq_fds;

		if (kq->kq_nfds > 0)
			memcpy(rm->rm_fds, old,
			    (size_t)kq->kq_nfds * sizeof(*old));
		kq->kq_fds = rm->rm_fds;
		__atomic_store_n(&kq->kq_nfds, rm->rm_nfds, __ATOMIC_RELAXED);
		rm->rm_fds = old;
	}
	if (rm->rm_wtab != NULL)
		rm->rm_wtab = kq__wtab_install(kq, rm->rm_wtab, rm->rm_wtsize);
}

/* The preparation of the next change with EV_ADD, if there is one. */
static struct kq_prep *
kq_room_prep(struct kq_room *rm)
{
	return rm->rm_next < rm->rm_nprep ? &rm->rm_preps[rm->rm_next++] :
	    NULL;
}

/* Before the unlock: the inotify watches made for nothing go. */
static void
kq_room_settle(struct kq *kq, struct kq_room *rm)
{
	int i;

	KQ_OWNED(kq);
	for (i = 0; i < rm->rm_nprep; i++)
		if (rm->rm_preps[i].kp_wd >= 0)
			kq__watch_settle(kq, &rm->rm_preps[i]);
}

static void
kq_room_free(struct kq_room *rm)
{
	int i;

	for (i = 0; i < rm->rm_nprep; i++)
		kn_unprepare(&rm->rm_preps[i]);
	free(rm->rm_preps);
	kn_prefree(rm->rm_spares);
	free(rm->rm_hash);
	free(rm->rm_fds);
	free(rm->rm_wtab);
	memset(rm, 0, sizeof(*rm));
}

/* A new knote that failed goes back to the spares, as it was made. */
static void
kn_unspare(struct knote *kn, struct knote **spares)
{
	KC__DASSERT(kn->kn_queue == KNQ_NONE && kn->kn_watch == NULL);
	memset(kn, 0, sizeof(*kn));
	kn->kn_hnext = *spares;
	*spares = kn;
}

/*
 * Apply one change.  *rfflags is the fflags of its receipt: the change's,
 * or 0 once a new knote is made for it, as FreeBSD's kqueue_register clears
 * them when it copies the change into a new knote.  A new knote is taken
 * from *spares (kn_prealloc()), and one that fails goes back there.  kp is
 * what kn_prepare() made for the change (NULL if it has no EV_ADD, or
 * memory ran out): a new knote's attach installs it, an existing knote's
 * touch may take from it.
 */
static int
kn_register(struct kq *kq, const struct kevent *kev, unsigned *rfflags,
    struct knote **spares, struct kq_prep *kp)
{
	const struct kq_filtops *fop = filtops(kev->filter);
	struct fdslot *fs = NULL;
	struct knote *kn;
	bool badf;
	int rc;

	KQ_OWNED(kq);
	if (fop == NULL)
		return EINVAL;
	if (fop->f_isfd && kev->ident > INT_MAX)
		return EBADF;
	if (fop->f_isfd) {
		/* An add's slot was made before the lock (kn_prepare). */
		if (kp != NULL && !kp->kp_counted)
			return kp->kp_err;	/* it could not be */
		if ((fs = slot_peek((int)kev->ident)) != NULL) {
			/* Knotes of a closed descriptor with this number go. */
			fd_forget(kq, (int)kev->ident);
		} else if (kev->flags & EV_ADD) {
			return fcntl((int)kev->ident, F_GETFD) < 0 ? EBADF :
			    ENOMEM;
		}
	}
	kn = kq__find(kq, kev->ident, kev->filter);
	if (kn == NULL && fop->f_isfd) {
		/*
		 * A knote that exists names an open descriptor (closing one
		 * drops its knotes), so only a new one needs to know.  An add
		 * knows from its preparation (a close since makes the knote
		 * stale, below).
		 */
		if (kp != NULL)
			badf = kp->kp_err == EBADF;
		else
			badf = fcntl((int)kev->ident, F_GETFD) < 0;
		if (badf)
			return EBADF;
	}
	if (kn == NULL) {
		if (!(kev->flags & EV_ADD))
			return ENOENT;
		if (kev->flags & EV_DELETE)
			return ENOENT;
		/* Not the program's: the library's own (kqueue(3), ERRORS). */
		if (fop->f_isfd && kc__fd_is_own((int)kev->ident))
			return EBADF;
		if (kev->flags & EV_KCONT) {
			if ((rc = check_kc(kq, kev)) != 0)
				return rc;
		} else if (kq->kq_exec != NULL) {
			return EINVAL;
		}
		*rfflags = 0;
		/* Memory ran out before the lock. */
		if ((kn = *spares) == NULL || kp == NULL)
			return ENOMEM;
		*spares = kn->kn_hnext;
		kn->kn_hnext = NULL;
		kn->kn_kev = *kev;
		kn->kn_kev.flags &= KN_KEPT_FLAGS;
		if (kev->flags & EV_FORCEONESHOT)
			kn->kn_kev.flags |= EV_ONESHOT;
		kn->kn_fop = fop;
		kn->kn_ifd = -1;
		kn->kn_kc = (kev->flags & EV_KCONT) ? kev->udata : NULL;
		if (kev->flags & EV_DISABLE)
			kn->kn_status |= KN_DISABLED;
		if ((rc = hash_insert(kq, kn)) != 0) {
			kn_unspare(kn, spares);
			return rc;
		}
		if (fs != NULL) {
			/*
			 * Counted before epoll has an item for it, so that a
			 * close() from then on takes the item out; the
			 * generation read after, so that any close from then
			 * on makes the knote stale.  kn_prepare() did both:
			 * the count is the knote's now.
			 */
			KC__DASSERT(kp->kp_counted);
			kp->kp_counted = false;
			kn->kn_cgen = kp->kp_cgen;
		}
		if ((rc = fop->f_attach(kq, kn, kp)) != 0) {
			hash_remove(kq, kn);
			queue_leave(kq, kn);
			kq__drop_own(kq, kn);
			if (fs != NULL)
				__atomic_sub_fetch(&fs->fs_watch, 1,
				    __ATOMIC_SEQ_CST);
			kn_unspare(kn, spares);
			return rc;
		}
		if (fs != NULL && kn_stale(kn)) {
			/* Closed meanwhile by another thread. */
			fd_forget(kq, (int)kev->ident);
			return EBADF;
		}
		if (kev->flags & EV_FORCEONESHOT) {
			kn->kn_status |= KN_FORCED;
			kq__pend(kq, kn);
		}
		return 0;
	}
	if (kev->flags & EV_DELETE)
		return kn_delete(kq, kn) ? 0 : ENOENT;
	if (kev->flags & EV_ADD) {
		unsigned short keep = kev->flags & KN_KEPT_FLAGS;
		unsigned short oflags = kn->kn_kev.flags;
		void *oudata = kn->kn_kev.udata;
		struct kc *okc = kn->kn_kc;

		if ((kev->flags & EV_KCONT) && (rc = check_kc(kq, kev)) != 0)
			return rc;
		if (!(kev->flags & EV_KCONT) && kq->kq_exec != NULL)
			return EINVAL;
		if (kev->flags & EV_FORCEONESHOT)
			keep |= EV_ONESHOT;
		kn->kn_kev.flags = keep;
		kn->kn_kc = (kev->flags & EV_KCONT) ? kev->udata : NULL;
		kn->kn_kev.udata = kev->udata;
		if ((rc = fop->f_touch(kq, kn, kev, kp)) != 0) {
			/* A modification that fails leaves the knote as it was. */
			kn->kn_kev.flags = oflags;
			kn->kn_kev.udata = oudata;
			kn->kn_kc = okc;
			return rc;
		}
		if (kev->flags & EV_FORCEONESHOT) {
			kn->kn_status |= KN_FORCED;
			kq__pend(kq, kn);
		}
	} else if (kn->kn_kev.filter == EVFILT_USER &&
	    (kev->fflags & (NOTE_TRIGGER | NOTE_FFCTRLMASK))) {
		/* NOTE_TRIGGER and fflags changes need no EV_ADD. */
		if ((rc = fop->f_touch(kq, kn, kev, NULL)) != 0)
			return rc;
	}
	if ((kev->flags & EV_DISABLE) && !(kn->kn_status & KN_DISABLED)) {
		kn->kn_status |= KN_DISABLED;
		queue_leave(kq, kn);
		if ((rc = fop->f_arm(kq, kn, false)) != 0)
			return rc;
	}
	/* EV_ADD implies enable, also on a knote that exists. */
	if ((kev->flags & (EV_ENABLE | EV_ADD)) && !(kev->flags & EV_DISABLE) &&
	    (kn->kn_status & KN_DISABLED)) {
		kn->kn_status &= ~KN_DISABLED;
		if (kn->kn_status & KN_FORCED)
			kq__pend(kq, kn);	/* still owed its event */
		if ((rc = fop->f_arm(kq, kn, true)) != 0)
			return rc;
	}
	return 0;
}

/* The scan. */

struct scan {
	struct kevent	*out;
	int		 n, nout;
	uint32_t	 id;		/* kq_scanid of this scan */
};

/* A level-triggered knote delivered now: look at it again next time. */
static void
requeue(struct kq *kq, struct scan *s, struct knote *kn)
{
	kq__pend(kq, kn);
	kn->kn_scan = s->id;
}

/* kn is awake (ev: the epoll bits, 0 from the pending list).  Deliver it. */
static void
activate(struct kq *kq, struct knote *kn, uint32_t ev, struct scan *s)
{
	struct kevent kev;
	unsigned short flags = kn->kn_kev.flags;

	KQ_OWNED(kq);
	if (kn->kn_status & (KN_DISABLED | KN_DELETED))
		return;
	if (kn->kn_fop->f_isfd && kn_stale(kn)) {
		/* Its descriptor was closed: never delivered again. */
		fd_forget(kq, (int)kn->kn_kev.ident);
		return;
	}
	if (kn->kn_kc == NULL && kn->kn_dscan == s->id && s->id != 0)
		return;		/* in this caller's list already */
	if (kn->kn_queue == KNQ_PENDING)
		return;		/* it will be seen from the list */
	if ((kn->kn_status & KN_RUNNING) ||
	    (s->n >= s->nout && kn->kn_kc == NULL)) {
		/*
		 * Not now: keep the activation (an edge is not seen twice).
		 * From the list it is looked at afresh (ev 0).
		 */
		if (kn->kn_status & KN_RUNNING)
			requeue(kq, s, kn);
		else
			kq__pend(kq, kn);
		return;
	}
	memset(&kev, 0, sizeof(kev));
	kev.ident = kn->kn_kev.ident;
	kev.filter = kn->kn_kev.filter;
	kev.udata = kn->kn_kev.udata;
	/*
	 * The knote's own flags, as FreeBSD returns them: EV_RECEIPT
	 * included, the action bits never (the knote does not keep them).
	 */
	kev.flags = flags & KN_KEPT_FLAGS;
	if (!kn->kn_fop->f_event(kq, kn, ev, &kev)) {
		if (kn->kn_status & KN_DROP) {
			/* Done without an event (FreeBSD's EV_DROP). */
			kn_drop(kq, kn);
			return;
		}
		/* EV_FORCEONESHOT: delivered once whether ready or not. */
		if (!(kn->kn_status & KN_FORCED))
			return;
	}
	kn->kn_status &= ~KN_FORCED;	/* owed one event: this one */
	(void)KC__TR5(KC_TR_KNOTE, kev.ident, (int64_t)kev.filter, kev.flags,
	    kev.data, kn->kn_kc);
	flags = kn->kn_kev.flags;	/* a filter may add EV_ONESHOT */
	if (flags & EV_ONESHOT) {
		/* Deleted below, after the run. */
	} else {
		if (flags & EV_DISPATCH) {
			kn->kn_status |= KN_DISABLED;
			kn->kn_fop->f_arm(kq, kn, false);
		}
		if (kn->kn_fop->f_clear != NULL)
			kn->kn_fop->f_clear(kq, kn);
		if ((kn->kn_status & KN_EMULATED_LT) &&
		    !(kn->kn_status & KN_DISABLED))
			requeue(kq, s, kn);
	}
	if (kn->kn_kc != NULL) {
		struct kc *kc = kn->kn_kc;

		kn->kn_status |= KN_RUNNING;
		kn->kn_runner = pthread_self();
		if (flags & EV_ONESHOT) {
			/* Off every list now: only this run is left. */
			kn_drop(kq, kn);
		}
		kq__unlock(kq);
		/* A continuation runs with no lock held (see the top). */
		KC__UNLOCKED();
		kc__trigger_inline(kc, &kev, 0);
		kq__lock(kq);
		kn->kn_status &= ~KN_RUNNING;
		pthread_cond_broadcast(&kq->kq_cond);
		if (kn->kn_status & KN_DELETED)
			kn_free(kn);
		return;
	}
	s->out[s->n++] = kev;
	kn->kn_dscan = s->id;
	if (flags & EV_ONESHOT)
		kn_drop(kq, kn);
}

static void
dispatch(struct kq *kq, const struct epoll_event *e, struct scan *s)
{
	int fd = TOKEN_FD(e->data.u64);
	uint32_t gen = TOKEN_GEN(e->data.u64);
	struct kq_fdent *fe;
	struct knote *kn;

	KQ_OWNED(kq);
	if (gen == KICK_GEN)
		return;		/* the pending list: the caller looks at it */
	if (gen == INOTIFY_GEN) {
		kq__inotify_read(kq);
		return;
	}
	if (gen == SIGFD_GEN) {
		kq__sigfd_note(kq);
		return;
	}
	fe = fdent(kq, fd, false);
	if (fe == NULL || fe->fe_gen != gen || fe->fe_mask == 0)
		return;		/* stale: deleted after epoll saw it */
	if ((kn = fe->fe_own) != NULL) {
		activate(kq, kn, e->events, s);
		return;
	}
	if ((kn = fe->fe_rd) != NULL &&
	    (e->events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		activate(kq, kn, e->events, s);
	/* A continuation may have changed the table. */
	fe = fdent(kq, fd, false);
	if (fe != NULL && fe->fe_gen == gen && (kn = fe->fe_wr) != NULL &&
	    (e->events & (EPOLLOUT | EPOLLHUP | EPOLLERR)))
		activate(kq, kn, e->events, s);
}

/*
 * Deliver from the pending list, one knote at a time from its head, so that
 * a continuation that deletes other knotes never leaves us a stale pointer.
 * At most the knotes there at the start are taken (plus what continuations
 * add meanwhile, bounded), so a knote that re-queues itself cannot hold us.
 */
static void
drain_pending(struct kq *kq, struct scan *s)
{
	struct kc__link *lk;
	struct knote *kn;
	size_t budget = 0;

	KQ_OWNED(kq);
	queue_check(kq);
	KC__LIST_FOREACH(kn, lk, &kq->kq_pending, struct knote, kn_plink)
		budget++;
	budget += KQ_EPOLL_BATCH;
	while (budget-- > 0 && (kn = KC__LIST_FIRST(&kq->kq_pending,
	    struct knote, kn_plink)) != NULL &&
	    !kq->kq_closed) {
		if (kn->kn_kc == NULL &&
		    (s->n >= s->nout || kn->kn_scan == s->id))
			break;	/* full, or already delivered by this scan */
		queue_leave(kq, kn);
		activate(kq, kn, 0, s);
	}
}

/* A signal handler of the program's own ran on this thread (filt_signal.c). */
__thread int kq__tls_user_signal;

int
kq__scan(struct kq *kq, struct kevent *out, int nout,
    const struct timespec *timeout)
{
	struct epoll_event evs[KQ_EPOLL_BATCH];
	struct scan s = { .out = out, .nout = nout };
	uint64_t deadline = 0;
	bool forever = timeout == NULL, polled = false, zero = false;
	int i, m, rc = 0;

	if (!forever) {
		if (timeout->tv_sec > 100000000)	/* years: for ever */
			forever = true;
		else if (timeout->tv_sec == 0 && timeout->tv_nsec == 0)
			zero = true;	/* a poll: no clock to read */
		else
			deadline = kc__now() +
			    (uint64_t)timeout->tv_sec * 1000000000ull +
			    (uint64_t)timeout->tv_nsec;
	}
	kq__lock(kq);
	s.id = ++kq->kq_scanid;
	for (;;) {
		struct timespec tmo, *tp = NULL;
		uint64_t now;
		int want;

		kq_sync(kq);
		if (kq->kq_closed) {
			rc = EBADF;
			break;
		}
		if (!kc__list_empty(&kq->kq_lowat))
			lowat_recheck(kq);
		if (!kc__list_empty(&kq->kq_pending))
			drain_pending(kq, &s);
		if (s.n >= nout || (s.n > 0 && polled))
			break;
		if (s.n > 0 || zero) {
			if (zero && polled)
				break;
			tmo.tv_sec = tmo.tv_nsec = 0;
			tp = &tmo;
		} else if (!forever) {
			now = kc__now();
			if (now >= deadline) {
				if (polled)
					break;
				now = deadline;
			}
			tmo.tv_sec = (time_t)((deadline - now) / 1000000000ull);
			tmo.tv_nsec = (long)((deadline - now) % 1000000000ull);
			tp = &tmo;
		}
		if (!kc__list_empty(&kq->kq_lowat) && s.n == 0 && (tp == NULL ||
		    tmo.tv_sec > 0 || tmo.tv_nsec > LOWAT_RECHECK_NS)) {
			/* Space freed by a reader wakes nobody: look again. */
			tmo.tv_sec = 0;
			tmo.tv_nsec = LOWAT_RECHECK_NS;
			tp = &tmo;
		}
		/* Pending work left (a running knote): check back soon. */
		kick_sync(kq);
		want = nout - s.n;
		if (want > KQ_EPOLL_BATCH || want <= 0)
			want = KQ_EPOLL_BATCH;
		kq__unlock(kq);
		m = kc__engine_poll(kq->kq_en, evs, want, tp);
		kq__lock(kq);
		polled = true;
		if (m < 0) {
			if (m == -EINTR) {
				if (kq__tls_user_signal) {
					kq__tls_user_signal = 0;
					if (s.n == 0)
						rc = EINTR;
					break;
				}
				continue;
			}
			rc = -m;
			break;
		}
		for (i = 0; i < m && !kq->kq_closed; i++)
			dispatch(kq, &evs[i], &s);
	}
	kick_sync(kq);
	kq__unlock(kq);
	if (s.n > 0)
		return s.n;
	return rc == 0 ? 0 : -rc;
}

/* Creation and destruction. */

/*
 * A kqueue on engine en (an executor's), or on an engine of its own (en
 * NULL: kqueue()).  *fdp gets the program's descriptor.
 */
static struct kq *
kq_create(struct kc__engine *en, int *fdp)
{
	pthread_condattr_t ca;
	struct kq *kq;
	int ufd, err;

	pthread_once(&reg_once, reg_init);
	reg_reap();
	kq = calloc(1, sizeof(*kq));
	if (kq == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	kq->kq_fd = kq->kq_kick = kq->kq_inotify = kq->kq_sigfd = -1;
	kq->kq_ufd = -1;
	kq->kq_refs = 1;
	pthread_mutex_init(&kq->kq_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&kq->kq_cond, &ca);
	pthread_condattr_destroy(&ca);
	if (en == NULL) {
		if ((err = kc__engine_init(&kq->kq_own, NULL, false)) != 0) {
			errno = -err;
			goto fail;
		}
		en = &kq->kq_own;
	}
	kq->kq_en = en;
	kq->kq_exec = en->en_owner;
	kq->kq_fd = en->en_epfd;
	kq->kq_kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (kq->kq_kick < 0)
		goto fail;
	if ((err = kc__engine_ctl(en, EPOLL_CTL_ADD, kq->kq_kick, EPOLLIN,
	    TOKEN(KICK_GEN, kq->kq_kick))) != 0) {
		errno = -err;
		goto fail;
	}
	/*
	 * The program gets its own descriptor for the same epoll instance:
	 * however it closes it, the library's stays valid until the last
	 * thread has left kevent().
	 */
	ufd = fcntl(kq->kq_fd, F_DUPFD_CLOEXEC, 0);
	if (ufd < 0)
		goto fail;
	/* An executor's descriptor is the library's, as are the others. */
	if ((err = kq__mark_own(kq->kq_kick)) != 0 ||
	    (kq->kq_exec != NULL && (err = kq__mark_own(ufd)) != 0)) {
		kq__sys_close(ufd);
		errno = err;
		goto fail;
	}
	kq->kq_cseq = __atomic_load_n(&close_seq, __ATOMIC_ACQUIRE);
	kc__mtx_lock(&reg_lock);
	err = reg_add(kq, ufd);
	kc__mtx_unlock(&reg_lock);
	if (err != 0) {
		kq__sys_close(ufd);
		errno = err;
		goto fail;
	}
	kq->kq_slotted = true;
	kq->kq_ufd = ufd;
	*fdp = ufd;
	return kq;
fail:
	err = errno;
	if (kq->kq_kick >= 0)
		kq__sys_close(kq->kq_kick);
	kq_engine_leave(kq);
	pthread_mutex_destroy(&kq->kq_lock);
	pthread_cond_destroy(&kq->kq_cond);
	free(kq);
	errno = err;
	return NULL;
}

/*
 * Out of the wrappers' list before the epoll descriptor is closed, and no
 * wrapper still looking at its number (they never block).
 */
static void
kq_unslot(struct kq *kq)
{
	if (!kq->kq_slotted)
		return;
	kc__mtx_lock(&reg_lock);
	__atomic_store_n(&kq_slots[kq->kq_slot].ks_ep, 0, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&kq_slots[kq->kq_slot].ks_busy,
	    __ATOMIC_SEQ_CST) != 0)
		sched_yield();
	__atomic_sub_fetch(&reg_live, 1, __ATOMIC_SEQ_CST);
	kc__mtx_unlock(&reg_lock);
	kq->kq_slotted = false;
}

/*
 * Let go of the engine: its epoll descriptor stops being one of ours, and
 * an engine of the kqueue's own is closed.  Nothing reaches the engine
 * afterwards (kq_en NULL).
 */
static void
kq_engine_leave(struct kq *kq)
{
	if (kq->kq_en == NULL)
		return;
	if (kq->kq_en == &kq->kq_own)
		kc__engine_fini(&kq->kq_own);
	kq->kq_en = NULL;
	kq->kq_fd = -1;
}

/* Drop every knote (the kqueue is closed: none can be added). */
static void
kq_drop_all(struct kq *kq)
{
	struct knote *kn;
	size_t i;

	kq__lock(kq);
	queue_check(kq);
	for (i = 0; i < kq->kq_hsize; i++) {
		while ((kn = kq->kq_hash[i]) != NULL)
			kn_drop(kq, kn);
	}
	KC__DASSERT(kc__list_empty(&kq->kq_pending) &&
	    kc__list_empty(&kq->kq_lowat));
	kq__unlock(kq);
}

static void
kq_free(struct kq *kq)
{
	kq_drop_all(kq);
	kq_unslot(kq);
	KC__DASSERT(kq->kq_nwatch == 0);
	free(kq->kq_wtab);
	if (kq->kq_inotify >= 0)
		kq__sys_close(kq->kq_inotify);
	if (kq->kq_sigfd >= 0)
		kq__sys_close(kq->kq_sigfd);
	kq__sys_close(kq->kq_kick);
	kq_engine_leave(kq);
	free(kq->kq_hash);
	free(kq->kq_fds);
	pthread_mutex_destroy(&kq->kq_lock);
	pthread_cond_destroy(&kq->kq_cond);
	free(kq);
}

/*
 * An executor's kqueue goes: wake every thread in kevent() on it (they
 * return EBADF) and let the knotes go with the last.  Under reg_lock.
 */
static void
kq_close_locked(struct kq *kq)
{
	uint64_t v = 1;

	KC__OWNED(&reg_lock);
	kq__lock(kq);
	kq->kq_closed = true;
	if (write(kq->kq_kick, &v, sizeof(v)) == sizeof(v))
		kq->kq_kicked = true;
	kq__unlock(kq);
}

/*
 * Descriptor fd is about to be closed, or replaced by dup2() or dup3():
 * the part of FreeBSD's close() that the kernel does for kqueues.  Called
 * from the wrappers, possibly in a signal handler: no lock, no allocation,
 * only atomics on memory that is never freed, and system calls that are
 * async-signal-safe (epoll_ctl, write).
 *
 * If fd is the program's kqueue descriptor, the kqueue is marked dead and
 * its eventfd written, which wakes every thread in kevent() on it; the
 * memory goes later (reg_reap), from a normal call.
 *
 * If knotes watch fd (fs_watch), the close generation of the number is
 * increased, the close is logged and fd is taken out of every kqueue's
 * epoll set while it still names the file (after the close, an item whose
 * file stays open through a dup could not be removed any more).  Each
 * kqueue then drops the knotes under its own lock.
 *
 * Why a close() that returned before a kevent() call began is seen by that
 * call: the generation and the log are written with release (or stronger)
 * order before __close() returns; kevent() reads them with acquire order
 * under the kqueue's lock (kq_sync) before it registers or delivers, and
 * compares the generation again before each delivery (activate), so a
 * close that happens during the call is seen there too.  A registration
 * counts itself in fs_watch (sequentially consistent) before epoll has an
 * item, then reads the generation, and checks it again after: a close
 * racing it either sees the count and removes the item, or makes the new
 * knote stale, which its registration then reports as EBADF.
 */
static void
fd_closing(int fd)
{
	struct fdslot *fs = slot_peek(fd);
	struct kq *kq;
	uint64_t seq, v = 1;
	unsigned i, n;

	if (fs == NULL)
		return;
	kq = __atomic_load_n(&fs->fs_kq, __ATOMIC_ACQUIRE);
	if (kq != NULL && kq->kq_exec == NULL &&
	    __atomic_compare_exchange_n(&fs->fs_kq, &kq, NULL, false,
	    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		struct kq *head;

		__atomic_store_n(&kq->kq_dead, 1, __ATOMIC_SEQ_CST);
		(void)!write(kq->kq_kick, &v, sizeof(v));
		head = __atomic_load_n(&reg_doomed, __ATOMIC_RELAXED);
		do
			kq->kq_dnext = head;
		while (!__atomic_compare_exchange_n(&reg_doomed, &head, kq,
		    true, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
	}
	if (__atomic_load_n(&fs->fs_watch, __ATOMIC_SEQ_CST) == 0)
		return;
	__atomic_add_fetch(&fs->fs_gen, 1, __ATOMIC_SEQ_CST);
	seq = __atomic_fetch_add(&close_seq, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&close_log[seq % CLOSE_LOG],
	    (uint64_t)(uint32_t)seq << 32 | (uint32_t)fd, __ATOMIC_RELEASE);
	n = __atomic_load_n(&kq_nslots, __ATOMIC_ACQUIRE);
	for (i = 0; i < n; i++) {
		int ep;

		__atomic_add_fetch(&kq_slots[i].ks_busy, 1, __ATOMIC_SEQ_CST);
		ep = __atomic_load_n(&kq_slots[i].ks_ep, __ATOMIC_SEQ_CST);
		if (ep > 0)
			(void)epoll_ctl(ep - 1, EPOLL_CTL_DEL, fd, NULL);
		__atomic_sub_fetch(&kq_slots[i].ks_busy, 1, __ATOMIC_SEQ_CST);
	}
}

/* fork(): the child has no kqueues. */

static void
reg_atfork_prepare(void)
{
	kc__mtx_lock(&reg_lock);
}

static void
reg_atfork_parent(void)
{
	kc__mtx_unlock(&reg_lock);
}

static void
reg_atfork_child(void)
{
	unsigned c, i;

	/*
	 * Other threads' state is gone with them: close the descriptors and
	 * leave the memory (a lock may have been held across fork()).  The
	 * epoll instances are shared with the parent: the wrappers must not
	 * touch them from here on.
	 */
	for (i = 0; i < KQ_SLOTS; i++)
		kq_slots[i].ks_ep = 0;
	kq_nslots = 0;
	for (c = 0; c < SLOT_DIRN; c++) {
		struct fdslot *chunk = fd_dir[c];

		if (chunk == NULL)
			continue;
		for (i = 0; i < SLOT_CHUNK; i++) {
			chunk[i].fs_watch = 0;
			if (chunk[i].fs_kq == NULL)
				continue;
			chunk[i].fs_kq = NULL;
			kq__sys_close((int)(c << SLOT_SHIFT | i));
		}
	}
	reg_doomed = NULL;
	reg_live = 0;
	kc__mtx_unlock(&reg_lock);
}

/* The API. */

int
kc__kqueue(void)
{
	int fd;

	if (kq_create(NULL, &fd) == NULL)
		return -1;
	return fd;
}

int
kc__kevent(int kqfd, const struct kevent *changelist, int nchanges,
    struct kevent *eventlist, int nevents, const struct timespec *timeout)
{
	struct kq_room room = { 0 };
	struct kq *kq;
	unsigned rff;
	int i, n = 0, rc;

	if ((kq = kq_get(kqfd)) == NULL) {
		errno = EBADF;
		return -1;
	}
	if (nchanges < 0 || nevents < 0) {
		rc = EINVAL;
		goto fail;
	}
	if ((nchanges > 0 && changelist == NULL) ||
	    (nevents > 0 && eventlist == NULL)) {
		rc = EFAULT;
		goto fail;
	}
	if (timeout != NULL && (timeout->tv_sec < 0 || timeout->tv_nsec < 0 ||
	    timeout->tv_nsec >= 1000000000L)) {
		rc = EINVAL;
		goto fail;
	}
	if (nchanges > 0) {
		kq_room_make(kq, changelist, nchanges, &room);
		kq__lock(kq);
		kq_room_install(kq, &room);
		kq_sync(kq);
		for (i = 0; i < nchanges; i++) {
			const struct kevent *kev = &changelist[i];

			if (kq->kq_closed) {
				rc = EBADF;
				kq_room_settle(kq, &room);
				kq__unlock(kq);
				goto fail;
			}
			rff = kev->fflags;
			rc = kn_register(kq, kev, &rff, &room.rm_spares,
			    (kev->flags & EV_ADD) ? kq_room_prep(&room) : NULL);
			if (rc != 0 || (kev->flags & EV_RECEIPT)) {
				if (n < nevents) {
					eventlist[n] = *kev;
					eventlist[n].fflags = rff;
					eventlist[n].flags = EV_ERROR;
					eventlist[n].data = rc;
					n++;
				} else if (rc != 0) {
					kick_sync(kq);
					kq_room_settle(kq, &room);
					kq__unlock(kq);
					goto fail;
				}
			}
		}
		kick_sync(kq);
		kq_room_settle(kq, &room);
		kq__unlock(kq);
		kq_room_free(&room);
		/* An executor asleep on its futex must start polling. */
		if (kq->kq_exec != NULL)
			kc__exec_poke(kq->kq_exec);
	}
	/* An executor's kqueue runs its knotes itself: nothing to collect. */
	if (n > 0 || nevents == 0 || kq->kq_exec != NULL) {
		kq_put(kq);
		return n;
	}
	rc = kq__scan(kq, eventlist, nevents, timeout);
	kq_put(kq);
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	return rc;
fail:
	kq_room_free(&room);
	kq_put(kq);
	errno = rc;
	return -1;
}

struct kq *
kc__kq_hold(int kqfd)
{
	return kq_get(kqfd);
}

void
kc__kq_release(struct kq *kq)
{
	if (kq != NULL)
		kq_put(kq);
}

/* Descriptor calls the library must see. */

/*
 * With no kqueue alive these are the C library's calls and nothing else; the
 * loads are relaxed, since a kqueue made concurrently by another thread
 * cannot yet hold this descriptor.  Async-signal-safe: see fd_closing().
 */
static int
close_slow(int fd)
{
	int saved = errno;

	fd_closing(fd);
	errno = saved;
	return __close(fd);
}

static void
dup_slow(int oldfd, int newfd)
{
	int saved = errno;

	if (oldfd != newfd && newfd >= 0 && fcntl(oldfd, F_GETFD) >= 0)
		fd_closing(newfd);
	errno = saved;
}

KQ_UNSANITIZED int
kc__close(int fd)
{
	if (fd >= 0 && __atomic_load_n(&reg_live, __ATOMIC_RELAXED) != 0)
		return close_slow(fd);
	return __close(fd);
}

KQ_UNSANITIZED int
kc__dup2(int oldfd, int newfd)
{
	if (__atomic_load_n(&reg_live, __ATOMIC_RELAXED) != 0)
		dup_slow(oldfd, newfd);
	return __dup2(oldfd, newfd);
}

KQ_UNSANITIZED int
kc__dup3(int oldfd, int newfd, int flags)
{
	if (__atomic_load_n(&reg_live, __ATOMIC_RELAXED) != 0)
		dup_slow(oldfd, newfd);
	return (int)syscall(SYS_dup3, oldfd, newfd, flags);
}

/*
 * Executors: a soft executor's kqueue is the client of its engine
 * (core/engine.h), made the first time it is asked for.  The engine hands
 * it the batch's tokens on the executor's thread; nobody else collects
 * from it (kc__kevent() applies changes and returns).
 */

#define KQ_OF_CLIENT(c) \
	((struct kq *)(void *)((char *)(c) - offsetof(struct kq, kq_client)))

static void
kq_client_events(struct kc__eclient *c, const struct epoll_event *evs, int n)
{
	struct kq *kq = KQ_OF_CLIENT(c);
	struct scan s = { .out = NULL, .nout = 0 };
	int i;

	KC__ON_EXEC(kq->kq_exec);
	reg_reap();
	kq__lock(kq);
	kq_sync(kq);
	s.id = ++kq->kq_scanid;
	for (i = 0; i < n && !kq->kq_closed; i++)
		dispatch(kq, &evs[i], &s);
	if (!kc__list_empty(&kq->kq_pending) && !kq->kq_closed)
		drain_pending(kq, &s);
	kick_sync(kq);
	kq__unlock(kq);
}

/*
 * The executor goes (its threads have stopped): the program's descriptor
 * is closed, threads in kevent() on it return EBADF, the knotes go now and
 * the kqueue lets go of the engine; the memory goes with the last holder.
 */
static void
kq_client_close(struct kc__eclient *c)
{
	struct kq *kq = KQ_OF_CLIENT(c);
	struct fdslot *fs = slot_peek(kq->kq_ufd);

	kc__mtx_lock(&reg_lock);
	if (fs != NULL && __atomic_load_n(&fs->fs_kq, __ATOMIC_ACQUIRE) == kq) {
		__atomic_store_n(&fs->fs_kq, NULL, __ATOMIC_RELEASE);
		kq_close_locked(kq);
	}
	kc__mtx_unlock(&reg_lock);
	kq__sys_close(kq->kq_ufd);
	kq_drop_all(kq);
	kq_unslot(kq);
	kq__lock(kq);
	kq_engine_leave(kq);
	kq__unlock(kq);
	kq_put(kq);
}

int
kc_executor_kqueue(struct kc_executor *ex)
{
	static pthread_mutex_t make_lock = PTHREAD_MUTEX_INITIALIZER;
	struct kc__engine *en;
	struct kc__eclient *c;
	struct kq *kq;
	int fd, rc = 0;

	if (ex == NULL || (en = kc__exec_engine(ex)) == NULL)
		return -EINVAL;
	if ((c = KC__LOAD(&en->en_client)) != NULL)
		return KQ_OF_CLIENT(c)->kq_ufd;
	kc__mtx_lock(&make_lock);
	if ((c = KC__LOAD(&en->en_client)) == NULL) {
		if ((kq = kq_create(en, &fd)) == NULL) {
			rc = errno == EMFILE || errno == ENFILE ? -errno :
			    -ENOMEM;
		} else {
			(void)fd;
			kq->kq_client.ec_events = kq_client_events;
			kq->kq_client.ec_close = kq_client_close;
			rc = kc__engine_set_client(en, &kq->kq_client);
			KC__ASSERT(rc == 0);	/* under make_lock */
			c = &kq->kq_client;
		}
	}
	kc__mtx_unlock(&make_lock);
	return rc != 0 ? rc : KQ_OF_CLIENT(c)->kq_ufd;
}
