/*
 * filt_signal.c: EVFILT_SIGNAL.
 *
 * FreeBSD records every attempt to deliver a signal, whatever its
 * disposition, without consuming it.  Linux has no such hook, so while a
 * signal is watched the library's own handler sits in front of the
 * program's: it counts, wakes the kqueues (an eventfd per signal, never
 * closed, so that the handler can write to it at any moment), then does what
 * the program's disposition says: calls its handler, ignores, or takes the
 * default action.  sigaction() and signal() are wrapped so that the program
 * keeps seeing, and setting, its own disposition.
 *
 * A blocked signal never reaches a handler: it stays pending, as it must.
 * Each kqueue that watches signals also holds a signalfd, edge-triggered and
 * never read, whose wake-ups say that a signal was generated; a watched
 * signal that became pending then counts once.
 *
 * SIGCHLD set to SIG_IGN is left alone (it also means "reap my children"),
 * and is not counted, as FreeBSD does not count it.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "core/internal.h"
#include "kq.h"
#include "kqapi.h"

#define NSIGS	65

/* The C library's sigaction behind the wrapper (see kqueue.c on dlsym). */
extern int __sigaction(int, const struct sigaction *, struct sigaction *);

/*
 * sig_lock guards sigs[] (but count and efd, which the handler reads and
 * writes atomically) and sig_nwatched's changes.  sigaction() takes it,
 * and sigaction() is async-signal-safe, so it is not a mutex: it is taken
 * with every signal blocked on the taking thread, so that no handler ever
 * runs on a thread that holds it, and a handler that calls sigaction()
 * only waits for another thread, which runs on and lets it go.  Held for a
 * few stores and at most two system calls; nothing is allocated under it.
 */
static int sig_lock;
static unsigned sig_nwatched;	/* signals with our handler in place */

static struct {
	struct sigaction prog;		/* the program's disposition */
	uint64_t	 count;		/* deliveries seen by the handler */
	int		 efd;		/* eventfd, -1 until needed */
	unsigned	 watchers;	/* knotes, in every kqueue */
	bool		 installed;	/* our handler is in place */
} sigs[NSIGS] = { [0 ... NSIGS - 1] = { .efd = -1 } };

static void
sig_lock_take(sigset_t *saved)
{
	sigset_t all;

	KC__NOTOWNED(&sig_lock);
	sigfillset(&all);
	(void)pthread_sigmask(SIG_SETMASK, &all, saved);
	while (__atomic_exchange_n(&sig_lock, 1, __ATOMIC_ACQUIRE) != 0)
		(void)sched_yield();
	kc__held_add(&sig_lock);
}

static void
sig_lock_drop(const sigset_t *saved)
{
	kc__held_del(&sig_lock);	/* which asserts it was held */
	__atomic_store_n(&sig_lock, 0, __ATOMIC_RELEASE);
	(void)pthread_sigmask(SIG_SETMASK, saved, NULL);
}

static int
sys_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	return __sigaction(sig, act, old);
}

static bool
default_ignores(int sig)
{
	return sig == SIGCHLD || sig == SIGURG || sig == SIGWINCH ||
	    sig == SIGCONT;
}

static void
sig_handler(int sig, siginfo_t *info, void *uctx)
{
	int saved = errno;
	uint64_t one = 1;
	struct sigaction prog;

	if (sig <= 0 || sig >= NSIGS)
		return;
	__atomic_add_fetch(&sigs[sig].count, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&sigs[sig].efd, __ATOMIC_ACQUIRE) >= 0)
		(void)!write(sigs[sig].efd, &one, sizeof(one));
	prog = sigs[sig].prog;
	if (prog.sa_handler == SIG_IGN) {
		/* Counted; nothing else. */
	} else if (prog.sa_handler == SIG_DFL) {
		if (!default_ignores(sig)) {
			/* The default action: put it back and let it act. */
			struct sigaction dfl;
			sigset_t set;

			memset(&dfl, 0, sizeof(dfl));
			dfl.sa_handler = SIG_DFL;
			sys_sigaction(sig, &dfl, NULL);
			sigemptyset(&set);
			sigaddset(&set, sig);
			pthread_sigmask(SIG_UNBLOCK, &set, NULL);
			raise(sig);
			/* A stop signal returns here on SIGCONT. */
			kq__tls_user_signal = 1;
		}
	} else {
		kq__tls_user_signal = 1;
		if (prog.sa_flags & SA_RESETHAND) {
			memset(&sigs[sig].prog, 0, sizeof(sigs[sig].prog));
			sigs[sig].prog.sa_handler = SIG_DFL;
		}
		if (prog.sa_flags & SA_SIGINFO)
			prog.sa_sigaction(sig, info, uctx);
		else
			prog.sa_handler(sig);
	}
	errno = saved;
}

static int
sig_install(int sig)
{
	struct sigaction sa;

	KC__OWNED(&sig_lock);
	if (sigs[sig].installed)
		return 0;
	if (sys_sigaction(sig, NULL, &sigs[sig].prog) != 0)
		return errno;
	if (sig == SIGCHLD && sigs[sig].prog.sa_handler == SIG_IGN)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sig_handler;
	sa.sa_mask = sigs[sig].prog.sa_mask;
	sa.sa_flags = SA_SIGINFO | (sigs[sig].prog.sa_flags &
	    (SA_RESTART | SA_ONSTACK | SA_NOCLDSTOP | SA_NOCLDWAIT));
	/* Before the handler: sigaction() must look up the disposition. */
	__atomic_add_fetch(&sig_nwatched, 1, __ATOMIC_SEQ_CST);
	if (sys_sigaction(sig, &sa, NULL) != 0) {
		__atomic_sub_fetch(&sig_nwatched, 1, __ATOMIC_SEQ_CST);
		return errno;
	}
	sigs[sig].installed = true;
	return 0;
}

static void
sig_uninstall(int sig)
{
	KC__OWNED(&sig_lock);
	if (!sigs[sig].installed)
		return;
	sys_sigaction(sig, &sigs[sig].prog, NULL);
	sigs[sig].installed = false;
	__atomic_sub_fetch(&sig_nwatched, 1, __ATOMIC_SEQ_CST);
}

/* The wrappers: the program sees and sets its own disposition. */

static int
sigaction_watched(int sig, const struct sigaction *act, struct sigaction *old)
{
	sigset_t saved;
	int rc;

	sig_lock_take(&saved);
	if (!sigs[sig].installed) {
		rc = sys_sigaction(sig, act, old);
		sig_lock_drop(&saved);
		return rc;
	}
	if (old != NULL)
		*old = sigs[sig].prog;
	if (act != NULL) {
		sigs[sig].prog = *act;
		if (sig == SIGCHLD && act->sa_handler == SIG_IGN) {
			/* It must reach the kernel: it changes reaping. */
			sig_uninstall(sig);
			sys_sigaction(sig, act, NULL);
		}
	}
	sig_lock_drop(&saved);
	return 0;
}

KQ_UNSANITIZED int
kc__sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	if (sig <= 0 || sig >= NSIGS ||
	    __atomic_load_n(&sig_nwatched, __ATOMIC_ACQUIRE) == 0)
		return __sigaction(sig, act, old);
	return sigaction_watched(sig, act, old);
}

/* The filter. */

static int
sig_watch(int sig)
{
	sigset_t saved;
	int rc = 0, fd;

	sig_lock_take(&saved);
	if (sigs[sig].efd < 0) {
		fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (fd < 0) {
			rc = errno;
			goto out;
		}
		__atomic_store_n(&sigs[sig].efd, fd, __ATOMIC_RELEASE);
	}
	if (sigs[sig].watchers++ == 0 && (rc = sig_install(sig)) != 0)
		sigs[sig].watchers--;
out:
	sig_lock_drop(&saved);
	return rc;
}

static void
sig_unwatch(int sig)
{
	sigset_t saved;

	sig_lock_take(&saved);
	if (--sigs[sig].watchers == 0)
		sig_uninstall(sig);
	sig_lock_drop(&saved);
}

/*
 * Make kq's signalfd (made before the lock, by signal_prepare) say when any
 * of its signals is generated: a change of its mask, under the lock, when
 * the signals watched are not those it has.
 */
static int
sigfd_update(struct kq *kq)
{
	sigset_t set;
	int sig;

	KQ_OWNED(kq);
	if (kq->kq_sigfd < 0 || kq->kq_sigfdmask == kq->kq_sigmask)
		return 0;
	sigemptyset(&set);
	for (sig = 1; sig < NSIGS; sig++)
		if (kq->kq_sigmask & (1ull << (sig - 1)))
			sigaddset(&set, sig);
	if (signalfd(kq->kq_sigfd, &set, 0) < 0)
		return errno;
	kq->kq_sigfdmask = kq->kq_sigmask;
	return 0;
}

void
kq__sigfd_note(struct kq *kq)
{
	struct knote *kn;
	sigset_t pend;
	int sig;

	KQ_OWNED(kq);
	if (sigpending(&pend) != 0)
		return;
	for (sig = 1; sig < NSIGS; sig++) {
		bool now;

		if (!(kq->kq_sigmask & (1ull << (sig - 1))))
			continue;
		kn = kq__find(kq, (uintptr_t)sig, EVFILT_SIGNAL);
		if (kn == NULL)
			continue;
		now = sigismember(&pend, sig) == 1;
		if (now && kn->kn_size == 0) {
			kn->kn_count++;
			if (!(kn->kn_status & KN_DISABLED))
				kq__pend(kq, kn);
		}
		kn->kn_size = now;
	}
}

static bool
signal_valid(uintptr_t ident)
{
	return ident != 0 && ident < NSIGS && ident != SIGKILL &&
	    ident != SIGSTOP;
}

/*
 * Before the lock: the signal counted as watched (our handler in place, its
 * eventfd made), and the kqueue's signalfd if it has none yet.
 */
static void
signal_prepare(struct kq *kq, const struct kevent *kev, struct kq_prep *kp)
{
	int sig = (int)kev->ident, rc, fd;
	sigset_t set;

	KQ_NOTOWNED(kq);
	if (!signal_valid(kev->ident)) {
		kp->kp_err = EINVAL;
		return;
	}
	if ((rc = sig_watch(sig)) != 0) {
		kp->kp_err = rc;
		return;
	}
	kp->kp_sig = sig;
	kp->kp_slot = __atomic_load_n(&sigs[sig].efd, __ATOMIC_ACQUIRE);
	/* Not under sig_lock, which allocates nothing. */
	if (kq__mark_own(kp->kp_slot) != 0) {
		kp->kp_err = ENOMEM;
		return;
	}
	if (__atomic_load_n(&kq->kq_sigfd, __ATOMIC_ACQUIRE) >= 0)
		return;
	sigemptyset(&set);
	sigaddset(&set, sig);
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0) {
		kp->kp_err = errno;
		return;
	}
	kp->kp_sigfd = fd;
	if (kq__mark_own(fd) != 0)
		kp->kp_err = ENOMEM;
}

/* After the unlock: a signal no knote took is not watched for it. */
static void
signal_release(struct kq_prep *kp)
{
	if (kp->kp_sig != 0)
		sig_unwatch(kp->kp_sig);
	kp->kp_sig = 0;
}

static int
signal_attach(struct kq *kq, struct knote *kn, struct kq_prep *kp)
{
	int sig = (int)kn->kn_kev.ident, rc, efd = kp->kp_slot;
	uint64_t bit;

	KQ_OWNED(kq);
	if (kp->kp_err != 0)
		return kp->kp_err;
	bit = 1ull << (sig - 1);
	kn->kn_seen = __atomic_load_n(&sigs[sig].count, __ATOMIC_SEQ_CST);
	kn->kn_kev.flags |= EV_CLEAR;
	if (kq->kq_sigfd < 0) {
		/*
		 * The kqueue's first signal: its signalfd was made for it
		 * (one made for a change that came second is closed).
		 */
		KC__DASSERT(kp->kp_sigfd >= 0);
		if ((rc = kq__special_fd(kq, kp->kp_sigfd, true)) != 0)
			return rc;
		__atomic_store_n(&kq->kq_sigfd, kp->kp_sigfd,
		    __ATOMIC_RELEASE);
		kq->kq_sigfdmask = bit;
		kp->kp_sigfd = -1;
	}
	kq->kq_sigmask |= bit;
	if ((rc = sigfd_update(kq)) != 0 ||
	    (rc = kq__own_fd(kq, kn, efd, (kn->kn_status & KN_DISABLED) ?
	    0 : EPOLLIN | EPOLLET)) != 0) {
		kq->kq_sigmask &= ~bit;
		return rc;
	}
	/* The eventfd is shared and never closed: not the knote's to close. */
	kn->kn_ifd = -1;
	kp->kp_sig = 0;		/* the knote's: signal_detach lets it go */
	return 0;
}

static void
signal_detach(struct kq *kq, struct knote *kn)
{
	int sig = (int)kn->kn_kev.ident;
	int efd = sigs[sig].efd;

	if (efd < kq->kq_nfds && kq->kq_fds[efd].fe_own == kn) {
		kq__ctl(kq, efd, 0);
		kq->kq_fds[efd].fe_own = NULL;
	}
	kq->kq_sigmask &= ~(1ull << (sig - 1));
	(void)sigfd_update(kq);
	sig_unwatch(sig);
}

static int
signal_touch(struct kq *kq, struct knote *kn, const struct kevent *kev,
    struct kq_prep *kp)
{
	(void)kq;
	(void)kp;	/* the signal is watched already */
	kn->kn_kev.fflags = kev->fflags;
	kn->kn_kev.data = kev->data;
	kn->kn_kev.flags |= EV_CLEAR;
	return 0;
}

static bool
signal_event(struct kq *kq, struct knote *kn, uint32_t ev, struct kevent *out)
{
	int sig = (int)kn->kn_kev.ident;
	uint64_t now = __atomic_load_n(&sigs[sig].count, __ATOMIC_SEQ_CST);

	(void)kq;
	(void)ev;
	kn->kn_count += (int64_t)(now - kn->kn_seen);
	kn->kn_seen = now;
	if (kn->kn_count == 0)
		return false;
	out->data = kn->kn_count;
	out->flags |= EV_CLEAR;
	return true;
}

static void
signal_clear(struct kq *kq, struct knote *kn)
{
	(void)kq;
	kn->kn_count = 0;
	/*
	 * Forget that it was pending: the program may take it (sigwait)
	 * without our seeing, and the next one must count.
	 */
	kn->kn_size = 0;
}

static int
signal_arm(struct kq *kq, struct knote *kn, bool on)
{
	int efd = sigs[kn->kn_kev.ident].efd;

	if (on && kn->kn_count > 0)
		kq__pend(kq, kn);
	return kq__ctl(kq, efd, on ? EPOLLIN | EPOLLET : 0);
}

const struct kq_filtops kq__filt_signal = {
	.f_filter = EVFILT_SIGNAL,
	.f_prepare = signal_prepare,
	.f_release = signal_release,
	.f_attach = signal_attach,
	.f_detach = signal_detach,
	.f_touch = signal_touch,
	.f_event = signal_event,
	.f_clear = signal_clear,
	.f_arm = signal_arm,
};
