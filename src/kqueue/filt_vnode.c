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
	kq->kq_nwatch--;
	w->w_wd = -1;
}

/* Room for one more live watch: 0 or ENOMEM. */
static int
watch_room(struct kq *kq)
{
	struct kq_watch **t, *w, *next;
	size_t i, n, old = kq->kq_wtsize;

	if (kq->kq_nwatch < old)
		return 0;
	n = old ? old * 2 : 16;
	if ((t = calloc(n, sizeof(*t))) == NULL)
		return ENOMEM;
	for (i = 0; i < old; i++) {
		for (w = kq->kq_wtab[i]; w != NULL; w = next) {
			next = w->w_hnext;
			w->w_hnext = t[(size_t)w->w_wd & (n - 1)];
			t[(size_t)w->w_wd & (n - 1)] = w;
		}
	}
	free(kq->kq_wtab);
	kq->kq_wtab = t;
	kq->kq_wtsize = n;
	return 0;
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
		(void)inotify_rm_watch(kq->kq_inotify, w->w_wd);
		watch_unhash(kq, w);
	}
	free(w);
}

int
kq__watch(struct kq *kq, struct knote *kn, int fd, uint32_t mask)
{
	struct kq_watch *w;
	char path[64];
	int wd, rc;

	(void)mask;	/* one watch per inode serves every knote on it */
	if (kq->kq_inotify < 0) {
		kq->kq_inotify = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (kq->kq_inotify < 0)
			return errno;
		if ((rc = kq__special_fd(kq, kq->kq_inotify, false)) != 0) {
			kq__sys_close(kq->kq_inotify);
			kq->kq_inotify = -1;
			return rc;
		}
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	wd = inotify_add_watch(kq->kq_inotify, path, VN_WATCH);
	if (wd < 0)
		return errno == ENOENT ? EBADF : errno;
	if ((w = watch_find(kq, wd)) == NULL) {
		if ((rc = watch_room(kq)) != 0 ||
		    (w = calloc(1, sizeof(*w))) == NULL) {
			/* Nobody else has this wd: the watch goes again. */
			(void)inotify_rm_watch(kq->kq_inotify, wd);
			return rc != 0 ? rc : ENOMEM;
		}
		w->w_wd = wd;
		w->w_hnext = *watch_slot(kq, wd);
		*watch_slot(kq, wd) = w;
		kq->kq_nwatch++;
	}
	kc__list_push_tail(&w->w_knotes, &kn->kn_wlink);
	kn->kn_watch = w;
	return 0;
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
	while ((len = read(kq->kq_inotify, buf, sizeof(buf))) > 0) {
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

static int
vnode_attach(struct kq *kq, struct knote *kn)
{
	struct stat st;
	int fd = (int)kn->kn_kev.ident;

	if (fstat(fd, &st) != 0)
		return EBADF;
	if (S_ISSOCK(st.st_mode) || S_ISFIFO(st.st_mode))
		return EINVAL;
	kn->kn_size = st.st_size;
	kn->kn_nlink = st.st_nlink;
	kn->kn_fflags = 0;
	if (!(kn->kn_kev.flags & EV_CLEAR))
		kn->kn_status |= KN_EMULATED_LT;
	return kq__watch(kq, kn, fd, VN_WATCH);
}

static void
vnode_detach(struct kq *kq, struct knote *kn)
{
	(void)kq;
	(void)kn;	/* kq__drop_own() takes the watch away */
}

static int
vnode_touch(struct kq *kq, struct knote *kn, const struct kevent *kev)
{
	(void)kq;
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
	.f_attach = vnode_attach,
	.f_detach = vnode_detach,
	.f_touch = vnode_touch,
	.f_event = vnode_event,
	.f_clear = vnode_clear,
	.f_arm = vnode_arm,
};
