/*
 * filt_fd.c: EVFILT_READ and EVFILT_WRITE.
 *
 * A descriptor has one epoll item per kqueue, shared by its READ and WRITE
 * knotes.  The item is level-triggered while every knote on it is
 * level-triggered (the common case, and the fast one); as soon as one wants
 * EV_CLEAR or a low-water mark the item becomes edge-triggered, and the
 * level-triggered knotes on it are looked at again after each delivery
 * (KN_EMULATED_LT), which is how BSD kernels keep a knote queued.
 *
 * Regular files cannot be in an epoll set: they are checked from the pending
 * list, and a READ knote is woken by inotify when the file changes.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kq.h"

enum {
	FT_OTHER,	/* epoll-able, FIONREAD may or may not work */
	FT_STREAM,	/* stream or seqpacket socket */
	FT_DGRAM,	/* datagram socket */
	FT_LISTEN,	/* listening socket */
	FT_PIPE,	/* pipe or FIFO */
	FT_FILE,	/* regular file, directory, or not epoll-able */
};

static int
fd_type(int fd, bool *tcp)
{
	struct stat st;
	int v = 0;
	socklen_t len = sizeof(v);

	*tcp = false;
	if (fstat(fd, &st) != 0)
		return -1;
	if (S_ISFIFO(st.st_mode))
		return FT_PIPE;
	if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) || S_ISBLK(st.st_mode))
		return FT_FILE;
	if (!S_ISSOCK(st.st_mode))
		return FT_OTHER;
	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &v, &len) == 0 &&
	    v == IPPROTO_TCP)
		*tcp = true;
	len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == 0 && v)
		return FT_LISTEN;
	len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) != 0)
		return FT_OTHER;
	if (v == SOCK_DGRAM || v == SOCK_RAW)
		return FT_DGRAM;
	return FT_STREAM;
}

static bool
fd_is_clear(const struct knote *kn)
{
	return (kn->kn_kev.flags & EV_CLEAR) ||
	    (kn->kn_kev.fflags & NOTE_LOWAT);
}

int
kq__fd_rearm(struct kq *kq, int fd)
{
	struct kq_fdent *fe = &kq->kq_fds[fd];
	struct knote *rd = fe->fe_rd, *wr = fe->fe_wr;
	uint32_t mask = 0;
	bool et = false;

	KQ_OWNED(kq);
	if (rd != NULL && rd->kn_ftype == FT_FILE)
		rd = NULL;
	if (wr != NULL && wr->kn_ftype == FT_FILE)
		wr = NULL;
	if (rd != NULL && !(rd->kn_status & KN_DISABLED)) {
		mask |= EPOLLIN | EPOLLRDHUP;
		et |= fd_is_clear(rd);
	}
	if (wr != NULL && !(wr->kn_status & KN_DISABLED)) {
		mask |= EPOLLOUT;
		et |= fd_is_clear(wr);
	}
	if (rd != NULL) {
		rd->kn_status &= ~KN_EMULATED_LT;
		if (et && !(rd->kn_kev.flags & EV_CLEAR))
			rd->kn_status |= KN_EMULATED_LT;
	}
	if (wr != NULL) {
		wr->kn_status &= ~KN_EMULATED_LT;
		if (et && !(wr->kn_kev.flags & EV_CLEAR))
			wr->kn_status |= KN_EMULATED_LT;
	}
	if (mask != 0 && et)
		mask |= EPOLLET;
	return kq__ctl(kq, fd, mask);
}

static struct knote **
fd_slot(struct kq *kq, struct knote *kn)
{
	struct kq_fdent *fe = &kq->kq_fds[kn->kn_kev.ident];

	return kn->kn_kev.filter == EVFILT_READ ? &fe->fe_rd : &fe->fe_wr;
}

/*
 * Watch what kn's descriptor can be watched with.  A descriptor epoll
 * refuses (EPERM: /dev/null, a terminal and the like) is treated as a file,
 * always ready; epoll says so only when the item is first registered, which
 * for a knote added disabled is when it is enabled, so every path that
 * (re)registers the item comes here.
 */
static int
fd_watch(struct kq *kq, struct knote *kn)
{
	int fd = (int)kn->kn_kev.ident, rc;

	if (kn->kn_ftype != FT_FILE) {
		rc = kq__fd_rearm(kq, fd);
		if (rc != EPERM)
			return rc;	/* epoll watches it */
		kn->kn_ftype = FT_FILE;
		if ((rc = kq__fd_rearm(kq, fd)) != 0)
			return rc;
		kn->kn_status &= ~KN_EMULATED_LT;
		if (!(kn->kn_kev.flags & EV_CLEAR))
			kn->kn_status |= KN_EMULATED_LT;
		if (kn->kn_kev.filter == EVFILT_READ && kn->kn_watch == NULL)
			(void)kq__watch(kq, kn, fd, IN_MODIFY | IN_ATTRIB);
	}
	/* A file is looked at from the pending list, not by epoll. */
	if (!(kn->kn_status & KN_DISABLED))
		kq__pend(kq, kn);
	return 0;
}

/*
 * Before the lock: what the descriptor is, and the inotify watch that wakes
 * a READ knote on a regular file (as in fd_attach, if it can be had).
 */
static void
fd_prepare(struct kq *kq, const struct kevent *kev, struct kq_prep *kp)
{
	int fd = (int)kev->ident;

	KQ_NOTOWNED(kq);
	kp->kp_ftype = fd_type(fd, &kp->kp_tcp);
	if (kp->kp_ftype < 0) {
		kp->kp_err = EBADF;
		return;
	}
	if (kp->kp_ftype == FT_FILE && kev->filter == EVFILT_READ)
		(void)kq__watch_prepare(kq, kp, fd);
}

static int
fd_attach(struct kq *kq, struct knote *kn, struct kq_prep *kp)
{
	int fd = (int)kn->kn_kev.ident, rc;
	struct kq_fdent *fe;

	KQ_OWNED(kq);
	if (kp->kp_err != 0)
		return kp->kp_err;
	kn->kn_ftype = kp->kp_ftype;
	kn->kn_nlink = kp->kp_tcp;	/* TCP: backlog from TCP_INFO */
	/* Make room in the table (kq__ctl would, but the slot comes first). */
	if ((rc = kq__ctl(kq, fd, 0)) != 0)
		return rc;
	fe = &kq->kq_fds[fd];
	if (fe->fe_own != NULL)
		return EBADF;	/* one of the library's own descriptors */
	*fd_slot(kq, kn) = kn;
	if (kn->kn_ftype == FT_FILE) {
		if (!(kn->kn_kev.flags & EV_CLEAR))
			kn->kn_status |= KN_EMULATED_LT;
		if (kp->kp_wd >= 0)
			(void)kq__watch_install(kq, kn, kp);
		if (!(kn->kn_status & KN_DISABLED))
			kq__pend(kq, kn);
		return 0;
	}
	if ((rc = fd_watch(kq, kn)) != 0)
		*fd_slot(kq, kn) = NULL;
	return rc;
}

static void
fd_detach(struct kq *kq, struct knote *kn)
{
	int fd = (int)kn->kn_kev.ident;

	if (fd >= kq->kq_nfds || *fd_slot(kq, kn) != kn)
		return;
	*fd_slot(kq, kn) = NULL;
	(void)kq__fd_rearm(kq, fd);
}

static int
fd_arm(struct kq *kq, struct knote *kn, bool on)
{
	if (on)
		return fd_watch(kq, kn);
	if (kn->kn_ftype == FT_FILE)
		return 0;
	return kq__fd_rearm(kq, (int)kn->kn_kev.ident);
}

static int
fd_touch(struct kq *kq, struct knote *kn, const struct kevent *kev,
    struct kq_prep *kp)
{
	(void)kp;	/* the knote knows its descriptor already */
	kn->kn_kev.fflags = kev->fflags;
	kn->kn_kev.data = kev->data;
	if (kn->kn_ftype == FT_FILE) {
		kn->kn_status &= ~KN_EMULATED_LT;
		if (!(kn->kn_kev.flags & EV_CLEAR))
			kn->kn_status |= KN_EMULATED_LT;
	}
	if (kn->kn_status & KN_DISABLED)
		return 0;
	/* Re-registering makes epoll look at the descriptor again. */
	if (kn->kn_ftype != FT_FILE) {
		int rc, fd = (int)kn->kn_kev.ident;
		uint32_t mask = kq->kq_fds[fd].fe_mask;

		if ((rc = kq__fd_rearm(kq, fd)) == EPERM)
			return fd_watch(kq, kn);
		if (rc != 0)
			return rc;
		if (mask == kq->kq_fds[fd].fe_mask && mask != 0)
			return kq__ctl_again(kq, fd);
		return 0;
	}
	kq__pend(kq, kn);
	return 0;
}

static int
sock_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		return 0;
	return err;
}

static int64_t
backlog(int fd, bool tcp, uint32_t ev)
{
	if (tcp) {
		struct tcp_info ti;
		socklen_t len = sizeof(ti);

		if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0)
			return ti.tcpi_unacked;
	}
	/* Elsewhere the kernel does not tell: at least one is waiting. */
	return (ev & EPOLLIN) ? 1 : 0;
}

static bool
filt_read_event(struct kq *kq, struct knote *kn, uint32_t ev,
    struct kevent *out)
{
	int fd = (int)kn->kn_kev.ident, n = 0;
	int64_t data = 0;
	bool eof = false, ready;

	(void)kq;
	if (kn->kn_ftype == FT_FILE) {
		struct stat st;
		off_t off;

		if (fstat(fd, &st) != 0)
			return false;
		off = lseek(fd, 0, SEEK_CUR);
		if (S_ISREG(st.st_mode) && off >= 0)
			data = st.st_size > off ? st.st_size - off : 0;
		out->data = data;
		return data > 0 || (kn->kn_kev.fflags & NOTE_FILE_POLL) ||
		    !S_ISREG(st.st_mode);
	}
	if (ev == 0)		/* from the pending list: look now */
		ev = kq__fd_poll(fd);
	if (kn->kn_kev.fflags & NOTE_NODATA) {
		data = (ev & EPOLLIN) ? 1 : 0;	/* ready; the count unasked */
	} else if (kn->kn_ftype == FT_LISTEN) {
		data = backlog(fd, kn->kn_nlink != 0, ev);
	} else if (ioctl(fd, FIONREAD, &n) == 0) {
		data = n;
	} else if (ev & EPOLLIN) {
		data = 1;	/* a kqueue, an eventfd: ready, size unknown */
	}
	switch (kn->kn_ftype) {
	case FT_STREAM:
		eof = (ev & (EPOLLRDHUP | EPOLLHUP)) != 0;
		break;
	case FT_PIPE:
	case FT_OTHER:
		eof = (ev & EPOLLHUP) != 0;
		break;
	default:
		break;
	}
	if ((ev & EPOLLERR) && kn->kn_ftype != FT_PIPE &&
	    kn->kn_ftype != FT_OTHER) {
		out->fflags = (unsigned)sock_error(fd);
		if (kn->kn_ftype == FT_STREAM || out->fflags != 0)
			eof = true;
	}
	if (eof)
		out->flags |= EV_EOF;
	out->data = data;
	if ((kn->kn_kev.fflags & NOTE_LOWAT) && !eof &&
	    data < (kn->kn_kev.data > 0 ? kn->kn_kev.data : 1))
		return false;	/* more data is an edge: no need to look */
	ready = eof || data > 0;
	/* A zero-length datagram: readable, nothing to read, not EOF. */
	if (!ready && (ev & EPOLLIN) &&
	    (kn->kn_ftype == FT_DGRAM || kn->kn_ftype == FT_OTHER))
		ready = true;
	return ready;
}

static bool
filt_write_event(struct kq *kq, struct knote *kn, uint32_t ev,
    struct kevent *out)
{
	int fd = (int)kn->kn_kev.ident, n = 0, size = 0;
	socklen_t len = sizeof(size);
	int64_t space = 0;
	bool eof = false;

	(void)kq;
	if (kn->kn_ftype == FT_FILE) {
		out->data = 0;
		return true;
	}
	if (ev == 0)		/* from the pending list: look now */
		ev = kq__fd_poll(fd);
	if (kn->kn_kev.fflags & NOTE_NODATA) {
		space = (ev & EPOLLOUT) ? 1 : 0;	/* room; how much unasked */
		eof = (ev & (EPOLLHUP | EPOLLERR)) != 0;
		if ((ev & EPOLLERR) && kn->kn_ftype != FT_PIPE &&
		    kn->kn_ftype != FT_OTHER)
			out->fflags = (unsigned)sock_error(fd);
	} else if (kn->kn_ftype == FT_PIPE) {
		size = fcntl(fd, F_GETPIPE_SZ);
		if (size > 0 && ioctl(fd, FIONREAD, &n) == 0)
			space = size - n;
		eof = (ev & EPOLLERR) != 0;
	} else if (kn->kn_ftype != FT_OTHER) {
		if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, &len) == 0 &&
		    ioctl(fd, SIOCOUTQ, &n) == 0)
			space = size - n;
		eof = (ev & EPOLLHUP) != 0;
		if (ev & EPOLLERR) {
			out->fflags = (unsigned)sock_error(fd);
			eof = true;
		}
	} else {
		eof = (ev & (EPOLLHUP | EPOLLERR)) != 0;
	}
	if (space < 0)
		space = 0;
	out->data = space;
	if (eof) {
		out->flags |= EV_EOF;
		return true;
	}
	if (!(ev & EPOLLOUT))
		return false;
	if ((kn->kn_kev.fflags & NOTE_LOWAT) &&
	    space < (kn->kn_kev.data > 0 ? kn->kn_kev.data : 1)) {
		if (!(kn->kn_kev.flags & EV_CLEAR))
			kq__lowat_wait(kq, kn);
		return false;
	}
	return true;
}

const struct kq_filtops kq__filt_read = {
	.f_filter = EVFILT_READ,
	.f_isfd = true,
	.f_prepare = fd_prepare,
	.f_attach = fd_attach,
	.f_detach = fd_detach,
	.f_touch = fd_touch,
	.f_event = filt_read_event,
	.f_arm = fd_arm,
};

const struct kq_filtops kq__filt_write = {
	.f_filter = EVFILT_WRITE,
	.f_isfd = true,
	.f_prepare = fd_prepare,
	.f_attach = fd_attach,
	.f_detach = fd_detach,
	.f_touch = fd_touch,
	.f_event = filt_write_event,
	.f_arm = fd_arm,
};
