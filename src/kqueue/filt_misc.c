/*
 * filt_misc.c: EVFILT_TIMER (a timerfd per knote), EVFILT_USER (the pending
 * list only) and EVFILT_PROC (a pidfd per knote).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kq.h"

/* EVFILT_TIMER */

#define TIMER_UNITS	(NOTE_SECONDS | NOTE_MSECONDS | NOTE_USECONDS | \
			 NOTE_NSECONDS)

/* When the system booted, on CLOCK_REALTIME, in ns since the Epoch. */
static uint64_t
boot_ns(void)
{
	struct timespec rt, up;
	uint64_t r, u;

	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_BOOTTIME, &up);
	if (rt.tv_sec < 0)
		return 0;
	r = (uint64_t)rt.tv_sec * 1000000000ull + (uint64_t)rt.tv_nsec;
	u = (uint64_t)up.tv_sec * 1000000000ull + (uint64_t)up.tv_nsec;
	return r > u ? r - u : 0;
}

static int
timer_ns(const struct kevent *kev, uint64_t *ns)
{
	unsigned units = kev->fflags & TIMER_UNITS;
	uint64_t mul;

	if (units & (units - 1))
		return EINVAL;		/* more than one unit */
	if (kev->fflags & ~(TIMER_UNITS | NOTE_ABSTIME))
		return EINVAL;
	if (kev->data < 0)
		return EINVAL;
	switch (units) {
	case NOTE_SECONDS:	mul = 1000000000ull; break;
	case NOTE_USECONDS:	mul = 1000ull; break;
	case NOTE_NSECONDS:	mul = 1ull; break;
	default:		mul = 1000000ull; break;
	}
	if ((uint64_t)kev->data > INT64_MAX / mul)
		*ns = INT64_MAX;
	else
		*ns = (uint64_t)kev->data * mul;
	/*
	 * As FreeBSD's filt_timervalidate: an absolute time before the
	 * system booted is refused.  Zero counts as one unit there, unless
	 * the timer is one-shot.
	 */
	if (kev->fflags & NOTE_ABSTIME) {
		uint64_t t = *ns;

		if (t == 0 && !(kev->flags & EV_ONESHOT))
			t = mul;
		if (t < boot_ns())
			return EINVAL;
	}
	return 0;
}

/*
 * A relative timer is EV_CLEAR of its own, as FreeBSD's filt_timerattach
 * makes it: each event counts the expirations since the last.  An
 * absolute one is not: once expired it stays triggered (level), reported
 * again until it is deleted, unless the program asked for EV_CLEAR.
 */
static void
timer_mode(struct knote *kn)
{
	if (!(kn->kn_kev.fflags & NOTE_ABSTIME))
		kn->kn_kev.flags |= EV_CLEAR;
	kn->kn_status &= ~KN_EMULATED_LT;
	if (!(kn->kn_kev.flags & EV_CLEAR))
		kn->kn_status |= KN_EMULATED_LT;
}

/* Start timerfd fd as change kev asks (timer_ns() accepted it). */
static int
timer_set(int fd, const struct kevent *kev)
{
	struct itimerspec its;
	uint64_t ns;
	int rc, flags = 0;

	if ((rc = timer_ns(kev, &ns)) != 0)
		return rc;
	memset(&its, 0, sizeof(its));
	if (ns == 0)
		ns = 1;		/* zero would disarm the timerfd */
	its.it_value.tv_sec = (time_t)(ns / 1000000000ull);
	its.it_value.tv_nsec = (long)(ns % 1000000000ull);
	if (kev->fflags & NOTE_ABSTIME)
		flags = TFD_TIMER_ABSTIME;
	else if (!(kev->flags & (EV_ONESHOT | EV_FORCEONESHOT)))
		its.it_interval = its.it_value;
	if (timerfd_settime(fd, flags, &its, NULL) != 0)
		return errno;
	return 0;
}

/*
 * Before the lock: the timer of an EV_ADD, new or replacing a knote's
 * (the clock may differ), started now.
 */
static void
timer_prepare(struct kq *kq, const struct kevent *kev, struct kq_prep *kp)
{
	uint64_t ns;
	int fd, rc;

	(void)kq;
	KQ_NOTOWNED(kq);
	if ((rc = timer_ns(kev, &ns)) != 0) {
		kp->kp_err = rc;
		return;
	}
	fd = timerfd_create((kev->fflags & NOTE_ABSTIME) ?
	    CLOCK_REALTIME : CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (fd < 0) {
		kp->kp_err = errno;
		return;
	}
	kp->kp_fd = kp->kp_slot = fd;
	if (kq__mark_own(fd) != 0)
		kp->kp_err = ENOMEM;
	else
		kp->kp_err = timer_set(fd, kev);
}

/*
 * Under the lock: the descriptor prepared in kp (a timerfd, a pidfd)
 * becomes kn's, in the epoll set unless kn is disabled.
 */
static int
take_fd(struct kq *kq, struct knote *kn, struct kq_prep *kp)
{
	int rc;

	KQ_OWNED(kq);
	if ((rc = kq__own_fd(kq, kn, kp->kp_fd,
	    (kn->kn_status & KN_DISABLED) ? 0 : EPOLLIN)) != 0)
		return rc;
	kp->kp_fd = -1;
	return 0;
}

static int
timer_attach(struct kq *kq, struct knote *kn, struct kq_prep *kp)
{
	if (kp->kp_err != 0)
		return kp->kp_err;
	timer_mode(kn);
	return take_fd(kq, kn, kp);
}

static void
timer_detach(struct kq *kq, struct knote *kn)
{
	(void)kq;
	(void)kn;	/* kq__drop_own() closes the timerfd */
}

static int
timer_touch(struct kq *kq, struct knote *kn, const struct kevent *kev,
    struct kq_prep *kp)
{
	int old = kn->kn_ifd, rc;

	KQ_OWNED(kq);
	if (kp == NULL)
		return ENOMEM;	/* nothing could be prepared */
	if (kp->kp_err != 0)
		return kp->kp_err;
	/* The prepared timer replaces the knote's, closed after the unlock. */
	if ((rc = take_fd(kq, kn, kp)) != 0) {
		kn->kn_ifd = old;
		return rc;
	}
	if (old >= 0) {
		kq__own_fd_drop(kq, kn, old);
		kp->kp_fd = old;
	}
	kn->kn_kev.fflags = kev->fflags;
	kn->kn_kev.data = kev->data;
	kn->kn_count = 0;
	timer_mode(kn);
	return 0;
}

static bool
timer_event(struct kq *kq, struct knote *kn, uint32_t ev, struct kevent *out)
{
	uint64_t n = 0;

	(void)kq;
	(void)ev;
	if (read(kn->kn_ifd, &n, sizeof(n)) == sizeof(n))
		kn->kn_count += (int64_t)n;
	if (kn->kn_count == 0)
		return false;
	out->data = kn->kn_count;
	out->fflags = 0;
	return true;
}

static void
timer_clear(struct kq *kq, struct knote *kn)
{
	(void)kq;
	if (kn->kn_kev.flags & EV_CLEAR)
		kn->kn_count = 0;
}

static int
timer_arm(struct kq *kq, struct knote *kn, bool on)
{
	if (kn->kn_ifd < 0)
		return 0;
	if (on && kn->kn_count > 0)
		kq__pend(kq, kn);
	return kq__ctl(kq, kn->kn_ifd, on ? EPOLLIN : 0);
}

const struct kq_filtops kq__filt_timer = {
	.f_filter = EVFILT_TIMER,
	.f_prepare = timer_prepare,
	.f_attach = timer_attach,
	.f_detach = timer_detach,
	.f_touch = timer_touch,
	.f_event = timer_event,
	.f_clear = timer_clear,
	.f_arm = timer_arm,
};

/* EVFILT_USER */

static void
user_fflags(struct knote *kn, unsigned ff)
{
	unsigned v = ff & NOTE_FFLAGSMASK;

	switch (ff & NOTE_FFCTRLMASK) {
	case NOTE_FFAND:	kn->kn_fflags &= v; break;
	case NOTE_FFOR:		kn->kn_fflags |= v; break;
	case NOTE_FFCOPY:	kn->kn_fflags = v; break;
	default:		break;
	}
}

static void
user_mode(struct knote *kn)
{
	kn->kn_status &= ~KN_EMULATED_LT;
	if (!(kn->kn_kev.flags & EV_CLEAR))
		kn->kn_status |= KN_EMULATED_LT;
}

static int
user_touch(struct kq *kq, struct knote *kn, const struct kevent *kev,
    struct kq_prep *kp)
{
	(void)kp;
	user_fflags(kn, kev->fflags);
	if (kev->flags & EV_ADD)
		kn->kn_kev.data = kev->data;
	user_mode(kn);
	if (kev->fflags & NOTE_TRIGGER) {
		kn->kn_status |= KN_TRIGGERED;
		if (!(kn->kn_status & KN_DISABLED))
			kq__pend(kq, kn);
	}
	return 0;
}

static int
user_attach(struct kq *kq, struct knote *kn, struct kq_prep *kp)
{
	struct kevent kev = kn->kn_kev;

	(void)kp;	/* nothing made: the pending list is all it needs */

	kn->kn_fflags = 0;
	kev.flags |= EV_ADD;
	return user_touch(kq, kn, &kev, NULL);
}

static void
user_detach(struct kq *kq, struct knote *kn)
{
	(void)kq;
	(void)kn;
}

static bool
user_event(struct kq *kq, struct knote *kn, uint32_t ev, struct kevent *out)
{
	(void)kq;
	(void)ev;
	if (!(kn->kn_status & KN_TRIGGERED))
		return false;
	out->fflags = kn->kn_fflags;
	out->data = kn->kn_kev.data;
	return true;
}

static void
user_clear(struct kq *kq, struct knote *kn)
{
	(void)kq;
	if (kn->kn_kev.flags & EV_CLEAR)
		kn->kn_status &= ~KN_TRIGGERED;
}

static int
user_arm(struct kq *kq, struct knote *kn, bool on)
{
	if (on && (kn->kn_status & KN_TRIGGERED))
		kq__pend(kq, kn);
	return 0;
}

const struct kq_filtops kq__filt_user = {
	.f_filter = EVFILT_USER,
	.f_attach = user_attach,
	.f_detach = user_detach,
	.f_touch = user_touch,
	.f_event = user_event,
	.f_clear = user_clear,
	.f_arm = user_arm,
};

/* EVFILT_PROC */

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

static int
proc_check(const struct kevent *kev)
{
	if (kev->fflags & (NOTE_FORK | NOTE_EXEC | NOTE_TRACK | NOTE_TRACKERR |
	    NOTE_CHILD))
		return EINVAL;
	if (kev->ident == 0 || kev->ident > INT32_MAX)
		return ESRCH;
	return 0;
}

/* Before the lock: the pidfd of an EV_ADD. */
static void
proc_prepare(struct kq *kq, const struct kevent *kev, struct kq_prep *kp)
{
	int fd, rc;

	(void)kq;
	KQ_NOTOWNED(kq);
	if ((rc = proc_check(kev)) != 0) {
		kp->kp_err = rc;
		return;
	}
	fd = (int)syscall(SYS_pidfd_open, (pid_t)kev->ident, 0);
	if (fd < 0) {
		kp->kp_err = errno == EINVAL ? ESRCH : errno;
		return;
	}
	kp->kp_fd = kp->kp_slot = fd;
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
		kp->kp_err = errno;
	else if (kq__mark_own(fd) != 0)
		kp->kp_err = ENOMEM;
}

static int
proc_attach(struct kq *kq, struct knote *kn, struct kq_prep *kp)
{
	if (kp->kp_err != 0)
		return kp->kp_err;
	kn->kn_kev.flags |= EV_CLEAR;	/* as FreeBSD's filt_procattach */
	return take_fd(kq, kn, kp);
}

static void
proc_detach(struct kq *kq, struct knote *kn)
{
	(void)kq;
	(void)kn;
}

static int
proc_touch(struct kq *kq, struct knote *kn, const struct kevent *kev,
    struct kq_prep *kp)
{
	int rc;

	(void)kp;	/* the knote's pidfd serves */

	if ((rc = proc_check(kev)) != 0)
		return rc;
	kn->kn_kev.fflags = kev->fflags;
	kn->kn_kev.data = kev->data;
	kn->kn_kev.flags |= EV_CLEAR;
	if (!(kn->kn_status & KN_DISABLED))
		return kq__ctl_again(kq, kn->kn_ifd);
	return 0;
}

static bool
proc_event(struct kq *kq, struct knote *kn, uint32_t ev, struct kevent *out)
{
	siginfo_t si;

	(void)kq;
	if (ev == 0 && !(kq__fd_poll(kn->kn_ifd) & EPOLLIN))
		return false;	/* from the pending list: not exited yet */
	if (!(kn->kn_kev.fflags & NOTE_EXIT)) {
		/*
		 * Nothing it watches happened, and nothing more will: as
		 * FreeBSD's filt_proc, drop it without an event.
		 */
		kn->kn_status |= KN_DROP;
		return false;
	}
	out->data = 0;
	memset(&si, 0, sizeof(si));
	/* Our child: its status, leaving it to be reaped by the program. */
	if (waitid((idtype_t)P_PIDFD, (id_t)kn->kn_ifd, &si,
	    WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid != 0) {
		switch (si.si_code) {
		case CLD_EXITED:
			out->data = (si.si_status & 0xff) << 8;
			break;
		case CLD_KILLED:
			out->data = si.si_status & 0x7f;
			break;
		case CLD_DUMPED:
			out->data = (si.si_status & 0x7f) | 0x80;
			break;
		default:
			break;
		}
	}
	out->fflags = kn->kn_kev.fflags & NOTE_EXIT;
	out->flags |= EV_EOF | EV_ONESHOT;
	kn->kn_kev.flags |= EV_ONESHOT;
	return true;
}

static int
proc_arm(struct kq *kq, struct knote *kn, bool on)
{
	return kq__ctl(kq, kn->kn_ifd, on ? EPOLLIN : 0);
}

const struct kq_filtops kq__filt_proc = {
	.f_filter = EVFILT_PROC,
	.f_prepare = proc_prepare,
	.f_attach = proc_attach,
	.f_detach = proc_detach,
	.f_touch = proc_touch,
	.f_event = proc_event,
	.f_arm = proc_arm,
};
