/*
 * filt_vnode.c: EVFILT_VNODE on inotify, and the inotify watches that wake
 * READ knotes on regular files.
 *
 * A kqueue has one inotify descriptor, made when the first watch is needed.
 * The watch is taken on /proc/self/fd/N, which names the open file itself,
 * whatever its path is now.  What inotify says is turned into NOTE_ bits;
 * the size and the link count are compared with what was last seen, to tell
 * EXTEND from TRUNCATE and LINK from DELETE.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kq.h"

#define VN_WATCH	(IN_MODIFY | IN_ATTRIB | IN_MOVE_SELF | \
			 IN_DELETE_SELF | IN_OPEN | IN_CLOSE_WRITE | \
			 IN_CLOSE_NOWRITE | IN_ACCESS | IN_CREATE | \
			 IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO)

#define VN_NOTES	(NOTE_DELETE | NOTE_WRITE | NOTE_EXTEND | \
			 NOTE_ATTRIB | NOTE_LINK | NOTE_RENAME | NOTE_REVOKE | \
			 NOTE_OPEN | NOTE_CLOSE | NOTE_CLOSE_WRITE | \
			 NOTE_READ | NOTE_TRUNCATE)

/*
 * The live watches, by wd.  inotify hands out wds counting up, so a
 * watch's chain is its wd modulo the table's size.
 */
static struct kq_watch **
watch_slot(struct kq *kq, int wd)
{
	return &kq->kq_wtab[(size_t)wd & (kq->kq_wtsize - 1)];
}

static struct kq_watch *
watch_find(struct kq *kq, int wd)
{
	struct kq_watch *w;

	if (kq->kq_wtsize == 0)
		return NULL;
	for (w = *watch_slot(kq, wd); w != NULL; w = w->w_hnext)
		if (w->w_wd == wd)
			return w;
	return NULL;
}

static void
watch_unhash(struct kq *kq, struct kq_watch *w)
{
	struct kq_watch **pp;

	for (pp = watch_slot(kq, w->w_wd); *pp != w; pp = &(*pp)->w_hnext)
		;
	*pp = w->w_hnext;
	__atomic_store_n(&kq->kq_nwatch, kq->kq_nwatch - 1, __ATOMIC_RELAXED);
	w->w_wd = -1;
}

static void
watch_hash(struct kq *kq, struct kq_watch *w, int wd)
{
	w->w_wd = wd;
	w->w_hnext = *watch_slot(kq, wd);
	*watch_slot(kq, wd) = w;
	__atomic_store_n(&kq->kq_nwatch, kq->kq_nwatch + 1, __ATOMIC_RELAXED);
}

/*
 * Move the watches into the empty table t of n chains, which replaces the
 * kqueue's; the old table is returned, for the caller to free.
 */
static struct kq_watch **
watch_move(struct kq *kq, struct kq_watch **t, size_t n)
{
	struct kq_watch **old = kq->kq_wtab, *w, *next;
	size_t i;

	for (i = 0; i < kq->kq_wtsize; i++) {
		for (w = kq->kq_wtab[i]; w != NULL; w = next) {
			next = w->w_hnext;
			w->w_hnext = t[(size_t)w->w_wd & (n - 1)];
			t[(size_t)w->w_wd & (n - 1)] = w;
		}
	}
	kq->kq_wtab = t;
	__atomic_store_n(&kq->kq_wtsize, n, __ATOMIC_RELAXED);
	return old;
}

/*
 * Room for one more live watch: 0 or ENOMEM.  Made before the lock as a
 * rule (kq__wtab_make); here only if that fell short.
 */
static int
watch_room(struct kq *kq)
{
	struct kq_watch **t;
	size_t n, old = kq->kq_wtsize;

	if (kq->kq_nwatch < old)
		return 0;
	n = old ? old * 2 : 16;
	if ((t = calloc(n, sizeof(*t))) == NULL)
		return ENOMEM;
	free(watch_move(kq, t, n));
	return 0;
}

struct kq_watch **
kq__wtab_make(struct kq *kq, size_t nadd, size_t *sizep)
{
	size_t need, size;
	struct kq_watch **t;

	KQ_NOTOWNED(kq);
	size = __atomic_load_n(&kq->kq_wtsize, __ATOMIC_RELAXED);
	need = __atomic_load_n(&kq->kq_nwatch, __ATOMIC_RELAXED) + nadd;
	if (need <= size)
		return NULL;
	for (size = size ? size : 16; size < need; size *= 2)
		;
	if ((t = calloc(size, sizeof(*t))) != NULL)
		*sizep = size;
	return t;
}

struct kq_watch **
kq__wtab_install(struct kq *kq, struct kq_watch **t, size_t size)
{
	KQ_OWNED(kq);
	if (size <= kq->kq_wtsize)
		return t;
	return watch_move(kq, t, size);
}

/* Remove watch wd of the kqueue's inotify descriptor (under the lock). */
static void
watch_rm(struct kq *kq, int wd)
{
	(void)inotify_rm_watch(__atomic_load_n(&kq->kq_inotify,
	    __ATOMIC_RELAXED), wd);
	/*
	 * A watch made before the lock may be this one, which it cannot
	 * tell: the count makes its install add it again.
	 */
	__atomic_add_fetch(&kq->kq_wepoch, 1, __ATOMIC_RELEASE);
}

void
kq__unwatch(struct kq *kq, struct knote *kn)
{
	struct kq_watch *w = kn->kn_watch;

	KQ_OWNED(kq);
	kc__list_remove(&w->w_knotes, &kn->kn_wlink);
	kn->kn_watch = NULL;
	if (!kc__list_empty(&w->w_knotes))
		return;		/* another knote on the same inode */
	if (w->w_wd >= 0) {
		watch_rm(kq, w->w_wd);
		watch_unhash(kq, w);
	}
	free(w);
}

/* The kqueue's inotify descriptor, made if need be; -1 and errno. */
static int
inotify_fd(struct kq *kq)
{
	int fd, cur = __atomic_load_n(&kq->kq_inotify, __ATOMIC_ACQUIRE);

	if (cur >= 0)
		return cur;
	if ((fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0)
		return -1;
	if (kq__mark_own(fd) != 0) {
		kq__sys_close(fd);
		errno = ENOMEM;
		return -1;
	}
	if (!__atomic_compare_exchange_n(&kq->kq_inotify, &cur, fd, false,
	    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		kq__sys_close(fd);	/* another thread's came first */
		return cur;
	}
	return fd;
}

/* Under the lock: the kqueue's inotify descriptor is in its epoll set. */
static int
inotify_poll(struct kq *kq)
{
	int rc;

	KQ_OWNED(kq);
	if (kq->kq_ipolled)
		return 0;
	rc = kq__special_fd(kq, __atomic_load_n(&kq->kq_inotify,
	    __ATOMIC_ACQUIRE), false);
	if (rc == 0)
		kq->kq_ipolled = true;
	return rc;
}

/* Add kn to the watch wd (found, or w made into it); w NULL: none made. */
static int
watch_join(struct kq *kq, struct knote *kn, int wd, struct kq_watch **wp)
{
	struct kq_watch *w;
	int rc;

	if ((w = watch_find(kq, wd)) == NULL) {
		if ((w = *wp) == NULL)
			return ENOMEM;
		if ((rc = watch_room(kq)) != 0)
			return rc;
		*wp = NULL;
		memset(w, 0, sizeof(*w));
		watch_hash(kq, w, wd);
	}
	kc__list_push_tail(&w->w_knotes, &kn->kn_wlink);
	kn->kn_watch = w;
	return 0;
}

int
kq__watch(struct kq *kq, struct knote *kn, int fd, uint32_t mask)
{
	struct kq_watch *w = NULL;
	char path[64];
	int wd, rc, ifd;

	(void)mask;	/* one watch per inode serves every knote on it */
	KQ_OWNED(kq);
	if ((ifd = inotify_fd(kq)) < 0)
		return errno;
	if ((rc = inotify_poll(kq)) != 0)
		return rc;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	wd = inotify_add_watch(ifd, path, VN_WATCH);
	if (wd < 0)
		return errno == ENOENT ? EBADF : errno;
	if (watch_find(kq, wd) == NULL && (w = calloc(1, sizeof(*w))) == NULL)
		rc = ENOMEM;
	else
		rc = watch_join(kq, kn, wd, &w);
	if (rc != 0 && watch_find(kq, wd) == NULL)
		watch_rm(kq, wd);	/* nobody else has this wd */
	free(w);
	return rc;
}

int
kq__watch_prepare(struct kq *kq, struct kq_prep *kp, int fd)
{
	char path[64];
	int ifd, wd;

	KQ_NOTOWNED(kq);
	if ((ifd = inotify_fd(kq)) < 0)
		return errno;
	kp->kp_wepoch = __atomic_load_n(&kq->kq_wepoch, __ATOMIC_ACQUIRE);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	wd = inotify_add_watch(ifd, path, VN_WATCH);
	if (wd < 0)
		return errno == ENOENT ? EBADF : errno;
	kp->kp_wd = wd;
	/* For a wd the kqueue has no watch for; freed if it has. */
	if ((kp->kp_watch = calloc(1, sizeof(*kp->kp_watch))) == NULL)
		return ENOMEM;
	return 0;
}

int
kq__watch_install(struct kq *kq, struct knote *kn, struct kq_prep *kp)
{
	char path[64];
	int rc, wd;

	KQ_OWNED(kq);
	if (kp->kp_wd < 0)
		return EINVAL;
	if ((rc = inotify_poll(kq)) != 0)
		return rc;
	if (__atomic_load_n(&kq->kq_wepoch, __ATOMIC_ACQUIRE) !=
	    kp->kp_wepoch) {
		/*
		 * A watch was removed since kp_wd was made, maybe this one
		 * (every knote on the file went meanwhile): add it again,
		 * which gives the same wd if it is still there.
		 */
		snprintf(path, sizeof(path), "/proc/self/fd/%d",
		    (int)kn->kn_kev.ident);
		wd = inotify_add_watch(__atomic_load_n(&kq->kq_inotify,
		    __ATOMIC_RELAXED), path, VN_WATCH);
		if (wd < 0)
			return errno == ENOENT ? EBADF : errno;
		if (wd != kp->kp_wd && watch_find(kq, kp->kp_wd) == NULL)
			watch_rm(kq, kp->kp_wd);
		kp->kp_wd = wd;
		kp->kp_wepoch = __atomic_load_n(&kq->kq_wepoch,
		    __ATOMIC_ACQUIRE);
	}
	if ((rc = watch_join(kq, kn, kp->kp_wd, &kp->kp_watch)) != 0)
		return rc;	/* kp_wd goes with the call's others */
	kp->kp_wd = -1;
	return 0;
}

void
kq__watch_settle(struct kq *kq, struct kq_prep *kp)
{
	KQ_OWNED(kq);
	/*
	 * A wd the kqueue has a watch for is that watch's (the same inode);
	 * one it has none for was made for this change alone.
	 */
	if (kp->kp_wd >= 0 && watch_find(kq, kp->kp_wd) == NULL)
		watch_rm(kq, kp->kp_wd);
	kp->kp_wd = -1;
}

/*
 * The notes one inotify event stands for.  *together gets those of them
 * that FreeBSD posts as one hint: a write that extends the file
 * (NOTE_WRITE|NOTE_EXTEND), or a subdirectory made or removed
 * (NOTE_WRITE|NOTE_LINK on the directory); every other note is a hint of
 * its own.
 */
static uint32_t
vnode_notes(struct knote *kn, uint32_t mask, uint32_t *together)
{
	struct stat st;
	uint32_t notes = 0;
	int fd = (int)kn->kn_kev.ident;
	bool have = fstat(fd, &st) == 0;

	*together = 0;
	if (mask & (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO)) {
		notes |= NOTE_WRITE;	/* a directory's entries changed */
		if (mask & IN_ISDIR)
			notes |= NOTE_LINK;
		*together = notes;
	}
	if (mask & IN_MODIFY)
		notes |= NOTE_WRITE;
	if (have && !S_ISDIR(st.st_mode) && st.st_size != kn->kn_size) {
		notes |= st.st_size > kn->kn_size ? NOTE_EXTEND :
		    NOTE_TRUNCATE;
		kn->kn_size = st.st_size;
	}
	if ((notes & (NOTE_WRITE | NOTE_EXTEND)) == (NOTE_WRITE | NOTE_EXTEND))
		*together |= NOTE_WRITE | NOTE_EXTEND;
	if (mask & IN_ATTRIB) {
		if (have && st.st_nlink != kn->kn_nlink) {
			notes |= NOTE_LINK;
			if (st.st_nlink == 0)
				notes |= NOTE_DELETE;
			kn->kn_nlink = st.st_nlink;
		} else if (!(notes & (NOTE_EXTEND | NOTE_TRUNCATE))) {
			notes |= NOTE_ATTRIB;
		}
	}
	if (mask & IN_DELETE_SELF)
		notes |= NOTE_DELETE;
	if (mask & IN_MOVE_SELF)
		notes |= NOTE_RENAME;
	if (mask & IN_UNMOUNT)
		notes |= NOTE_REVOKE;
	if (mask & IN_OPEN)
		notes |= NOTE_OPEN;
	if (mask & IN_CLOSE_WRITE)
		notes |= NOTE_CLOSE_WRITE;
	if (mask & IN_CLOSE_NOWRITE)
		notes |= NOTE_CLOSE;
	if (mask & IN_ACCESS)
		notes |= NOTE_READ;
	return notes;
}

void
kq__inotify_read(struct kq *kq)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t len, off;

	KQ_OWNED(kq);
	while ((len = read(__atomic_load_n(&kq->kq_inotify, __ATOMIC_RELAXED),
	    buf, sizeof(buf))) > 0) {
		for (off = 0; off < len; ) {
			const struct inotify_event *ie =
			    (const struct inotify_event *)(buf + off);
			struct kq_watch *w;
			struct kc__link *lk;
			struct knote *kn;

			off += (ssize_t)sizeof(*ie) + ie->len;
			if ((w = watch_find(kq, ie->wd)) == NULL)
				continue;	/* removed since */
			KC__LIST_FOREACH(kn, lk, &w->w_knotes, struct knote,
			    kn_wlink) {
				uint32_t notes, together;

				if (kn->kn_status & KN_DISABLED)
					continue;
				if (kn->kn_kev.filter != EVFILT_VNODE) {
					kq__pend(kq, kn);	/* a file grew */
					continue;
				}
				/* In a directory, only its entries matter. */
				notes = vnode_notes(kn, ie->len == 0 ? ie->mask :
				    ie->mask & (IN_CREATE | IN_DELETE |
				    IN_MOVED_FROM | IN_MOVED_TO | IN_ISDIR),
				    &together);
				/*
				 * As FreeBSD's filt_vfsvnode: a hint that holds
				 * a watched note is reported whole.
				 */
				notes = (notes & ~together & kn->kn_kev.fflags) |
				    ((together & kn->kn_kev.fflags) ? together :
				    0);
				if (notes == 0)
					continue;
				kn->kn_fflags |= notes;
				kq__pend(kq, kn);
			}
			if (ie->mask & IN_IGNORED) {
				/*
				 * The inode is gone: its watch went with it,
				 * and its wd may be handed out again.
				 */
				watch_unhash(kq, w);
			}
		}
	}
}

/* Before the lock: what the file is, and its inotify watch. */
static void
vnode_prepare(struct kq *kq, const struct kevent *kev, struct kq_prep *kp)
{
	struct stat st;
	int fd = (int)kev->ident;

	KQ_NOTOWNED(kq);
	if (fstat(fd, &st) != 0) {
		kp->kp_err = EBADF;
		return;
	}
	if (S_ISSOCK(st.st_mode) || S_ISFIFO(st.st_mode)) {
		kp->kp_err = EINVAL;
		return;
	}
	kp->kp_size = st.st_size;
	kp->kp_nlink = st.st_nlink;
	kp->kp_err = kq__watch_prepare(kq, kp, fd);
}

static int
vnode_attach(struct kq *kq, struct knote *kn, struct kq_prep *kp)
{
	KQ_OWNED(kq);
	if (kp->kp_err != 0)
		return kp->kp_err;
	kn->kn_size = kp->kp_size;
	kn->kn_nlink = kp->kp_nlink;
	kn->kn_fflags = 0;
	if (!(kn->kn_kev.flags & EV_CLEAR))
		kn->kn_status |= KN_EMULATED_LT;
	return kq__watch_install(kq, kn, kp);
}

static void
vnode_detach(struct kq *kq, struct knote *kn)
{
	(void)kq;
	(void)kn;	/* kq__drop_own() takes the watch away */
}

static int
vnode_touch(struct kq *kq, struct knote *kn, const struct kevent *kev,
    struct kq_prep *kp)
{
	(void)kq;
	(void)kp;	/* the knote's watch serves */
	kn->kn_kev.fflags = kev->fflags & VN_NOTES;
	kn->kn_kev.data = kev->data;
	kn->kn_status &= ~KN_EMULATED_LT;
	if (!(kn->kn_kev.flags & EV_CLEAR))
		kn->kn_status |= KN_EMULATED_LT;
	return 0;
}

static bool
vnode_event(struct kq *kq, struct knote *kn, uint32_t ev, struct kevent *out)
{
	(void)kq;
	(void)ev;
	if (kn->kn_fflags == 0)
		return false;
	out->fflags = kn->kn_fflags;
	out->data = 0;
	if (kn->kn_fflags & NOTE_REVOKE)
		out->flags |= EV_EOF;
	return true;
}

static void
vnode_clear(struct kq *kq, struct knote *kn)
{
	(void)kq;
	if (kn->kn_kev.flags & EV_CLEAR)
		kn->kn_fflags = 0;
}

static int
vnode_arm(struct kq *kq, struct knote *kn, bool on)
{
	if (on && kn->kn_fflags != 0)
		kq__pend(kq, kn);
	return 0;
}

const struct kq_filtops kq__filt_vnode = {
	.f_filter = EVFILT_VNODE,
	.f_isfd = true,
	.f_prepare = vnode_prepare,
	.f_attach = vnode_attach,
	.f_detach = vnode_detach,
	.f_touch = vnode_touch,
	.f_event = vnode_event,
	.f_clear = vnode_clear,
	.f_arm = vnode_arm,
};
