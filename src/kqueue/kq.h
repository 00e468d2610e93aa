/*
 * kq.h: what the kqueue files share.  Nothing here is public.
 *
 * A kqueue is an epoll descriptor (the one the program holds, so poll() and
 * epoll on it see exactly what is ready) plus, in user space, its knotes.
 * Every filter is a const table of operations (attach, detach, touch, event)
 * as in the BSD kernels, with a prepare step before them: what attach needs
 * (a descriptor, a watch, memory) is made before the kqueue's lock is
 * taken, and attach installs it under the lock.  Sources that the kernel
 * can watch are epoll items:
 * the program's descriptor for READ and WRITE (one item per descriptor,
 * shared by its two knotes), an internal timerfd, pidfd, eventfd or inotify
 * descriptor for the others.  What the kernel cannot watch (EVFILT_USER, and
 * events that did not fit in the caller's list) waits on the pending list,
 * which keeps an eventfd in the epoll set readable while it is not empty.
 *
 * Activating a knote runs its continuation (NetBSD's kcont idea): the default
 * one copies the event to the caller's list; EV_KCONT puts the program's own
 * struct kc there instead.
 */
#ifndef KC_KQUEUE_KQ_H
#define KC_KQUEUE_KQ_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

#include <sys/event.h>
#include <kcont.h>

#include "core/list.h"
#include "core/engine.h"
#include "core/lockdebug.h"

struct kq;
struct knote;

/*
 * The wrappers of close(), dup2(), dup3() and sigaction() are called by
 * sanitizer runtimes while they start, before they can serve instrumented
 * code: their fast paths are not instrumented, and the rest is elsewhere.
 */
#define KQ_UNSANITIZED \
	__attribute__((no_sanitize("thread", "address", "undefined")))

/* Status bits of a knote, under its kqueue's lock. */
#define KN_DISABLED	0x01u	/* EV_DISABLE, or EV_DISPATCH after delivery */
#define KN_FORCED	0x02u	/* EV_FORCEONESHOT: delivered even if not ready */
#define KN_DELETED	0x04u	/* detached; freed when its runner returns */
#define KN_RUNNING	0x08u	/* its continuation runs (kn_runner) */
#define KN_TRIGGERED	0x10u	/* EVFILT_USER: NOTE_TRIGGER seen */
#define KN_EMULATED_LT	0x20u	/* level-triggered over an edge source */
#define KN_DROP		0x40u	/* f_event: delete it without an event */

/*
 * The list a knote waits on.  The pending list and the low-water list share
 * the link kn_plink, so a knote is on one of them at most: this one value
 * says which, and only kqueue.c moves a knote between them.
 */
enum kn_queue {
	KNQ_NONE,
	KNQ_PENDING,	/* the pending list: looked at by the next scan */
	KNQ_LOWAT,	/* the low-water list: looked at every few ms */
};

/* The user's flags a knote keeps. */
#define KN_KEPT_FLAGS	(EV_ONESHOT | EV_CLEAR | EV_DISPATCH | EV_RECEIPT | \
			 EV_KCONT)

/*
 * What a filter makes for one EV_ADD before the kqueue's lock is taken
 * (f_prepare): the kernel objects and memory its attach needs, and what
 * it learnt of the change's descriptor.  One per EV_ADD of a changelist,
 * in order, owned by the call (kqueue.c, kq_room).  Under the lock,
 * f_attach (or f_touch, for an existing knote) takes what it uses, setting
 * the field back to -1, 0 or NULL; whatever is left (the knote existed,
 * the change failed or was never reached, the kqueue had a watch or a
 * signalfd already) is released after the unlock.
 */
struct kq_prep {
	const struct kq_filtops *kp_fop;	/* the change's, or NULL */
	uintptr_t	 kp_ident;	/* the change's ident */
	int		 kp_err;	/* attach fails with it */
	int		 kp_fd;		/* timerfd or pidfd, or -1; touch puts
					   the one it replaced here */
	int		 kp_slot;	/* internal descriptor the knote's table
					   entry will be for, or -1 */
	int		 kp_sigfd;	/* a first signalfd, or -1 */
	int		 kp_sig;	/* signal counted as watched, or 0 */
	int		 kp_wd;		/* watch on kq_inotify, or -1 */
	uint64_t	 kp_wepoch;	/* kq_wepoch before kp_wd was made */
	struct kq_watch	*kp_watch;	/* for kp_wd if the kqueue has none */
	bool		 kp_counted;	/* in its descriptor's fs_watch */
	uint32_t	 kp_cgen;	/* then the close generation */
	int		 kp_ftype;	/* READ/WRITE: what the fd is */
	bool		 kp_tcp;	/* READ/WRITE: a TCP socket */
	int64_t		 kp_size;	/* VNODE: the file's size */
	uint64_t	 kp_nlink;	/* VNODE: its link count */
};

struct kq_filtops {
	short	f_filter;
	bool	f_isfd;		/* ident is a descriptor of the program's */
	/*
	 * Before the kqueue's lock, for a change with EV_ADD (the knote may
	 * exist already): make into kp what attach or touch will install; an
	 * error goes to kp_err.  NULL: the filter makes nothing.
	 */
	void	(*f_prepare)(struct kq *kq, const struct kevent *kev,
		    struct kq_prep *kp);
	/* After the unlock: let go what f_prepare made and nobody took. */
	void	(*f_release)(struct kq_prep *kp);
	/* Set up what the new knote watches from kp; 0 or an errno. */
	int	(*f_attach)(struct kq *kq, struct knote *kn,
		    struct kq_prep *kp);
	/* Undo attach; the knote is off every list. */
	void	(*f_detach)(struct kq *kq, struct knote *kn);
	/*
	 * EV_ADD on an existing knote (kp: what was prepared for the change,
	 * NULL if memory ran out), or NOTE_TRIGGER (kp NULL); 0 or an errno.
	 */
	int	(*f_touch)(struct kq *kq, struct knote *kn,
		    const struct kevent *kev, struct kq_prep *kp);
	/*
	 * Is the knote active?  ev holds the epoll bits that woke it (0 when it
	 * is re-checked from the pending list).  Fills out (ident, filter,
	 * udata are set already) and returns true if it is to be delivered.
	 */
	bool	(*f_event)(struct kq *kq, struct knote *kn, uint32_t ev,
		    struct kevent *out);
	/* After delivery: reset the state EV_CLEAR (or its equivalent) clears. */
	void	(*f_clear)(struct kq *kq, struct knote *kn);
	/* Enable or disable the source; 0 or an errno. */
	int	(*f_arm)(struct kq *kq, struct knote *kn, bool on);
};

/*
 * One inotify watch (one per inode: inotify gives the same wd for every
 * descriptor of a file) and the knotes it wakes.  Hashed by wd while the
 * watch is live; once inotify drops it (IN_IGNORED: the inode is gone) it
 * leaves the table, wd -1, and is freed with its last knote.
 */
struct kq_watch {
	struct kq_watch		*w_hnext;	/* hash chain */
	int			 w_wd;		/* -1: gone */
	struct kc__list		 w_knotes;	/* by kn_wlink */
};

struct knote {
	struct kevent		 kn_kev;	/* as registered (sfflags, sdata) */
	const struct kq_filtops	*kn_fop;
	struct knote		*kn_hnext;	/* hash chain */
	struct kc__link		 kn_plink;	/* pending or low-water list */
	enum kn_queue		 kn_queue;	/* which of them, if any */
	struct kq_watch		*kn_watch;	/* its inotify watch, or NULL */
	struct kc__link		 kn_wlink;	/* on kn_watch's knotes */
	uint32_t		 kn_status;
	int			 kn_ifd;	/* internal descriptor, or -1 */
	int			 kn_ftype;	/* READ/WRITE: what the fd is */
	int64_t			 kn_count;	/* timer, signal: since reported */
	uint64_t		 kn_seen;	/* signal: handler count seen */
	uint32_t		 kn_fflags;	/* user, vnode: output fflags */
	int64_t			 kn_size;	/* vnode: last size seen */
	uint64_t		 kn_nlink;	/* vnode: last link count */
	struct kc		*kn_kc;		/* EV_KCONT */
	pthread_t		 kn_runner;	/* thread in kn_kc */
	uint32_t		 kn_scan;	/* scan that last re-queued it */
	uint32_t		 kn_dscan;	/* scan that last delivered it */
	uint32_t		 kn_cgen;	/* READ/WRITE/VNODE: the ident's
						   close generation at EV_ADD */
};

/* One per descriptor number the epoll set holds an item for. */
struct kq_fdent {
	struct knote		*fe_rd;		/* EVFILT_READ on the fd */
	struct knote		*fe_wr;		/* EVFILT_WRITE on the fd */
	struct knote		*fe_own;	/* internal descriptor's knote */
	uint32_t		 fe_gen;	/* epoll data carries it */
	uint32_t		 fe_mask;	/* epoll events registered, 0: none */
};

struct kq {
	int			 kq_fd;		/* its engine's epoll descriptor */
	int			 kq_ufd;	/* the program's (a duplicate) */
	struct kc__engine	*kq_en;		/* kq_own, an executor's, NULL */
	struct kc__engine	 kq_own;	/* kqueue(): its own engine */
	struct kc__eclient	 kq_client;	/* an executor's: its engine's */
	bool			 kq_slotted;	/* in the wrappers' list */
	int			 kq_kick;	/* eventfd: pending list not empty */
	pthread_mutex_t		 kq_lock;
	pthread_cond_t		 kq_cond;	/* a continuation returned */
	unsigned		 kq_refs;	/* table + threads inside */
	bool			 kq_closed;
	int			 kq_dead;	/* atomic: close() of the program's
						   descriptor; kq_closed follows */
	struct kq		*kq_dnext;	/* closed, awaiting release */
	unsigned		 kq_slot;	/* in the wrappers' list of epolls */
	uint64_t		 kq_cseq;	/* closes seen (the close log) */
	bool			 kq_kicked;	/* kq_kick holds a count */
	struct kc_executor	*kq_exec;	/* owner, or NULL */
	uint32_t		 kq_gen;
	uint32_t		 kq_scanid;

	struct knote		**kq_hash;
	size_t			 kq_hsize;	/* power of two */
	size_t			 kq_count;	/* written under kq_lock */

	struct kq_fdent		*kq_fds;
	int			 kq_nfds;

	struct kc__list		 kq_pending;	/* looked at by the next scan */
	struct kc__list		 kq_lowat;	/* below NOTE_LOWAT, re-checked */

	/*
	 * kq_inotify is made before the lock and published by a
	 * compare-and-swap; kq_wepoch, kq_sigfd, kq_wtsize and kq_nwatch
	 * are written under the lock and read before it (atomic loads and
	 * stores).
	 */
	int			 kq_inotify;	/* -1 until a watch is needed */
	bool			 kq_ipolled;	/* kq_inotify is in epoll */
	uint64_t		 kq_wepoch;	/* inotify_rm_watch calls */
	struct kq_watch		**kq_wtab;	/* live watches by wd */
	size_t			 kq_wtsize;	/* power of two, or 0 */
	size_t			 kq_nwatch;
	int			 kq_sigfd;	/* signalfd for blocked signals */
	uint64_t		 kq_sigmask;	/* signals watched (bit n-1) */
	uint64_t		 kq_sigfdmask;	/* the mask kq_sigfd has */
};

/*
 * The calling thread holds, or does not hold, kq's lock (debug builds; see
 * core/lockdebug.h).  Every function that reads or changes kq's knotes,
 * its lists or its descriptor table runs under the lock.
 */
#define KQ_OWNED(kq)	KC__OWNED(&(kq)->kq_lock)
#define KQ_NOTOWNED(kq)	KC__NOTOWNED(&(kq)->kq_lock)

/* kqueue.c */
void	kq__lock(struct kq *kq);
void	kq__unlock(struct kq *kq);
/*
 * Raw close(2), past the library's own close(), of one of the library's
 * own descriptors (it stops being one).
 */
int	kq__sys_close(int fd);

/*
 * fd is one of the library's own descriptors: no knote may watch it
 * (EBADF).  0 or ENOMEM.
 */
int	kq__mark_own(int fd);
/*
 * Park kn until its low-water mark may be met (checked every few ms), unless
 * it is on the pending list already.
 */
void	kq__lowat_wait(struct kq *kq, struct knote *kn);
/*
 * Put kn on the pending list (it is checked again at the next scan), taking
 * it off the low-water list if it is there.
 */
void	kq__pend(struct kq *kq, struct knote *kn);
/* Epoll item for descriptor fd: set its events (0 removes it). */
int	kq__ctl(struct kq *kq, int fd, uint32_t events);
/* Register fd's item again, so that epoll looks at it afresh. */
int	kq__ctl_again(struct kq *kq, int fd);
/* Attach an internal descriptor that belongs to kn to the epoll set. */
int	kq__own_fd(struct kq *kq, struct knote *kn, int ifd, uint32_t events);
/*
 * Take internal descriptor ifd, which kn had, out of the epoll set: it is
 * the caller's to close (after the unlock).
 */
void	kq__own_fd_drop(struct kq *kq, struct knote *kn, int ifd);
/* Release kn's internal descriptor and inotify watch, if any. */
void	kq__drop_own(struct kq *kq, struct knote *kn);
/* Descriptor fd's readiness now (poll(2) with no wait), as epoll bits. */
uint32_t kq__fd_poll(int fd);
/* Find the knote (ident, filter). */
struct knote *kq__find(struct kq *kq, uintptr_t ident, short filter);
/*
 * Watch the file that fd names with inotify for kn; mask is IN_*.  Under
 * the lock: for what was not prepared (see kq__watch_prepare).
 */
int	kq__watch(struct kq *kq, struct knote *kn, int fd, uint32_t mask);
/*
 * Before the lock: the kqueue's inotify descriptor (made if need be) and
 * a watch on the file fd names into kp (kp_wd, kp_watch).  0 or an errno.
 */
int	kq__watch_prepare(struct kq *kq, struct kq_prep *kp, int fd);
/* Under it: put kn on the watch kp holds.  0 or an errno. */
int	kq__watch_install(struct kq *kq, struct knote *kn, struct kq_prep *kp);
/* Under it: a watch kp made that no knote took goes (kp_wd -1). */
void	kq__watch_settle(struct kq *kq, struct kq_prep *kp);
/*
 * Before the lock: a watch table with room for nadd more watches, or NULL
 * if the kqueue's has room (sizes read without the lock); *sizep its size.
 */
struct kq_watch **kq__wtab_make(struct kq *kq, size_t nadd, size_t *sizep);
/*
 * Under it: take table t if it is still bigger than the kqueue's.  Returns
 * the table to free after the unlock (the old one, or t).
 */
struct kq_watch **kq__wtab_install(struct kq *kq, struct kq_watch **t,
	    size_t size);
/* Take kn off its watch, removing the watch with its last knote. */
void	kq__unwatch(struct kq *kq, struct knote *kn);
/* Add the kqueue's inotify descriptor or signalfd to its epoll set. */
int	kq__special_fd(struct kq *kq, int fd, bool signalfd);
/* A signal handler of the program's own ran on this thread. */
extern __thread int kq__tls_user_signal;

/* The filters. */
extern const struct kq_filtops kq__filt_read;
extern const struct kq_filtops kq__filt_write;
extern const struct kq_filtops kq__filt_timer;
extern const struct kq_filtops kq__filt_user;
extern const struct kq_filtops kq__filt_proc;
extern const struct kq_filtops kq__filt_signal;
extern const struct kq_filtops kq__filt_vnode;

/* filt_fd.c: recompute the epoll item of descriptor fd from its knotes. */
int	kq__fd_rearm(struct kq *kq, int fd);
/* filt_vnode.c: read the inotify descriptor, pend the knotes it names. */
void	kq__inotify_read(struct kq *kq);
/* filt_signal.c: the signalfd saw a signal generated. */
void	kq__sigfd_note(struct kq *kq);

/* Collect activations: run continuations, fill out[]; see kqueue.c. */
int	kq__scan(struct kq *kq, struct kevent *out, int nout,
	    const struct timespec *timeout);

#endif /* KC_KQUEUE_KQ_H */
