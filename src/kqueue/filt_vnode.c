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

int
kq__watch(struct kq *kq, struct knote *kn, int fd, uint32_t mask)
{
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
	kn->kn_wd = wd;
	kn->kn_wnext = kq->kq_watches;
	kq->kq_watches = kn;
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
			struct knote *kn;

			off += (ssize_t)sizeof(*ie) + ie->len;
			for (kn = kq->kq_watches; kn != NULL;
			    kn = kn->kn_wnext) {
				uint32_t notes, together;

				if (kn->kn_wd != ie->wd ||
				    (kn->kn_status & KN_DISABLED))
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
				/* The inode is gone: its watch went with it. */
				for (kn = kq->kq_watches; kn != NULL;
				    kn = kn->kn_wnext)
					if (kn->kn_wd == ie->wd)
						kn->kn_wd = -2;
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
