/*
 * sys/event.h: the BSD kqueue API on Linux, as kcont provides it.
 *
 * Installed apart from the system headers (in <includedir>/kcont-kqueue);
 * `pkg-config --cflags --libs kcont-kqueue` puts it on the include path, so a
 * program written for FreeBSD builds unmodified.  struct kevent has FreeBSD's
 * current layout, and every constant has FreeBSD's value.  kqueue(3) and
 * kevent(3) say exactly where this implementation differs from FreeBSD.
 *
 * Memory: kevent() reads the changelist and writes the eventlist, both owned
 * by the caller, and keeps neither.  udata is never dereferenced, except
 * under the EV_KCONT extension below, where it names the caller's struct kc,
 * which must stay valid until the knote is gone.
 */
#ifndef KCONT_COMPAT_SYS_EVENT_H
#define KCONT_COMPAT_SYS_EVENT_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/queue.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EVFILT_READ		(-1)
#define EVFILT_WRITE		(-2)
#define EVFILT_AIO		(-3)	/* not supported: EINVAL */
#define EVFILT_VNODE		(-4)
#define EVFILT_PROC		(-5)
#define EVFILT_SIGNAL		(-6)
#define EVFILT_TIMER		(-7)
#define EVFILT_PROCDESC		(-8)	/* not supported: EINVAL */
#define EVFILT_FS		(-9)	/* not supported: EINVAL */
#define EVFILT_LIO		(-10)	/* not supported: EINVAL */
#define EVFILT_USER		(-11)
#define EVFILT_SENDFILE		(-12)	/* not supported: EINVAL */
#define EVFILT_EMPTY		(-13)	/* not supported: EINVAL */
#define EVFILT_SYSCOUNT		13

struct kevent {
	uintptr_t	ident;		/* identifier for this event */
	short		filter;		/* filter for event */
	unsigned short	flags;		/* action flags for kqueue */
	unsigned int	fflags;		/* filter flag value */
	int64_t		data;		/* filter data value */
	void		*udata;		/* opaque user data identifier */
	uint64_t	ext[4];		/* extensions */
};

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 199901L
#define EV_SET(kevp_, a, b, c, d, e, f) do {				\
	*(kevp_) = (struct kevent){					\
	    .ident = (a),						\
	    .filter = (b),						\
	    .flags = (c),						\
	    .fflags = (d),						\
	    .data = (e),						\
	    .udata = (f),						\
	    .ext = { 0 },						\
	};								\
} while (0)
#else
#define EV_SET(kevp_, a, b, c, d, e, f) do {				\
	struct kevent *kc_kevp__ = (kevp_);				\
	kc_kevp__->ident = (a);						\
	kc_kevp__->filter = (b);					\
	kc_kevp__->flags = (c);						\
	kc_kevp__->fflags = (d);					\
	kc_kevp__->data = (e);						\
	kc_kevp__->udata = (f);						\
	kc_kevp__->ext[0] = kc_kevp__->ext[1] = 0;			\
	kc_kevp__->ext[2] = kc_kevp__->ext[3] = 0;			\
} while (0)
#endif

/* actions */
#define EV_ADD		0x0001		/* add event to kq (implies enable) */
#define EV_DELETE	0x0002		/* delete event from kq */
#define EV_ENABLE	0x0004		/* enable event */
#define EV_DISABLE	0x0008		/* disable event (not reported) */
#define EV_FORCEONESHOT	0x0100		/* enable _ONESHOT and force trigger */

/* flags */
#define EV_ONESHOT	0x0010		/* only report one occurrence */
#define EV_CLEAR	0x0020		/* clear event state after reporting */
#define EV_RECEIPT	0x0040		/* force EV_ERROR on success, data=0 */
#define EV_DISPATCH	0x0080		/* disable event after reporting */

/*
 * kcont's extension: udata is a struct kc * (see kcont/kc.h) that runs on
 * each activation instead of the event being queued.  It is called with obj
 * pointing at the activation's struct kevent (valid during the call) and
 * status 0, in the thread that collects the activation: the soft executor
 * that polls the kqueue, or a thread in kevent().  See kevent(3).
 */
#define EV_KCONT	0x0800

#define EV_SYSFLAGS	0xF000		/* reserved by system */
#define EV_DROP		0x1000		/* note should be dropped */
#define EV_FLAG1	0x2000		/* filter-specific flag */
#define EV_FLAG2	0x4000		/* filter-specific flag */

/* returned values */
#define EV_EOF		0x8000		/* EOF detected */
#define EV_ERROR	0x4000		/* error, data contains errno */

/* EVFILT_USER: the top two bits of fflags say how the low 24 apply. */
#define NOTE_FFNOP	0x00000000	/* ignore input fflags */
#define NOTE_FFAND	0x40000000	/* AND fflags */
#define NOTE_FFOR	0x80000000	/* OR fflags */
#define NOTE_FFCOPY	0xc0000000	/* copy fflags */
#define NOTE_FFCTRLMASK	0xc0000000	/* masks for operations */
#define NOTE_FFLAGSMASK	0x00ffffff
#define NOTE_TRIGGER	0x01000000	/* trigger the event for output */

/* EVFILT_READ, EVFILT_WRITE */
#define NOTE_LOWAT	0x0001		/* low water mark */
#define NOTE_FILE_POLL	0x0002		/* behave like poll() */
/*
 * kcont's extension: do not compute data (the bytes readable, the room to
 * write); report 1 when ready.  Saves a system call or two per event for a
 * reader that reads until a short read or EAGAIN anyway.
 */
#define NOTE_NODATA	0x00010000

/* EVFILT_VNODE */
#define NOTE_DELETE	0x0001		/* vnode was removed */
#define NOTE_WRITE	0x0002		/* data contents changed */
#define NOTE_EXTEND	0x0004		/* size increased */
#define NOTE_ATTRIB	0x0008		/* attributes changed */
#define NOTE_LINK	0x0010		/* link count changed */
#define NOTE_RENAME	0x0020		/* vnode was renamed */
#define NOTE_REVOKE	0x0040		/* vnode access was revoked */
#define NOTE_OPEN	0x0080		/* vnode was opened */
#define NOTE_CLOSE	0x0100		/* file closed, fd did not allow write */
#define NOTE_CLOSE_WRITE 0x0200		/* file closed, fd did allow write */
#define NOTE_READ	0x0400		/* file was read */
/* kcont's extension (OpenBSD's name; FreeBSD has no truncate note). */
#define NOTE_TRUNCATE	0x0800		/* size decreased */

/* EVFILT_PROC */
#define NOTE_EXIT	0x80000000	/* process exited */
#define NOTE_FORK	0x40000000	/* process forked */
#define NOTE_EXEC	0x20000000	/* process exec'd */
#define NOTE_PCTRLMASK	0xf0000000	/* mask for hint bits */
#define NOTE_PDATAMASK	0x000fffff	/* mask for pid */
#define NOTE_TRACK	0x00000001	/* follow across forks */
#define NOTE_TRACKERR	0x00000002	/* could not track child */
#define NOTE_CHILD	0x00000004	/* am a child process */

/* EVFILT_TIMER */
#define NOTE_SECONDS	0x00000001	/* data is seconds */
#define NOTE_MSECONDS	0x00000002	/* data is milliseconds */
#define NOTE_USECONDS	0x00000004	/* data is microseconds */
#define NOTE_NSECONDS	0x00000008	/* data is nanoseconds */
#define NOTE_ABSTIME	0x00000010	/* timeout is absolute */

struct timespec;

__attribute__((visibility("default")))
int	kqueue(void);
__attribute__((visibility("default")))
int	kevent(int kq, const struct kevent *changelist, int nchanges,
	    struct kevent *eventlist, int nevents,
	    const struct timespec *timeout);

#ifdef __cplusplus
}
#endif

#endif /* KCONT_COMPAT_SYS_EVENT_H */
