/*
 * engine.h: the event engine a soft executor owns.  Nothing here is public.
 *
 * An engine is one epoll instance and the loop that waits on it: the
 * executor's sleep when it has registrations is kc__engine_run(), and what
 * is ready runs right there, on the executor's thread, with no hand-off and
 * no lock of the engine's.  Two kinds of registration share the epoll set:
 *
 *   - sources (struct kc__esrc), embedded in the object that owns the
 *     descriptor; epoll's data is the source's address, and the engine
 *     calls its function with the epoll bits.  Sources are changed and
 *     removed only on the engine's own thread (the executor's), which is
 *     also the only thread that dispatches, so removing one in the middle
 *     of a batch takes it out of the rest of the batch and its memory may
 *     go at once.
 *   - the items of the engine's one client (an executor's kqueue, which
 *     has its own rules: any thread changes its knotes, under its lock):
 *     epoll's data is a token, a 64-bit value with KC__EN_TOKEN set that
 *     only the client reads.  The engine hands each batch's tokens to the
 *     client at once, so it takes its lock once a batch.
 *
 * The engine keeps no timers: its owner passes the wait's limit (the
 * executor's next timer).  User triggers are continuations (kc_trigger);
 * signals, process exits and file changes are descriptors (signalfd,
 * pidfd, inotify) that their owner registers like any other.
 *
 * Descriptors the engine makes are closed with the raw system call, never
 * through the kqueue layer's close().
 */
#ifndef KC_CORE_ENGINE_H
#define KC_CORE_ENGINE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <time.h>

struct kc_executor;

#define KC__EN_TOKEN	(1ull << 63)	/* epoll data that is a client's */
#define KC__EN_BATCH	64		/* events taken per wait */

struct kc__esrc;
/* events: the epoll bits that were ready. */
typedef void kc__esrc_fn(struct kc__esrc *src, uint32_t events);

struct kc__esrc {
	kc__esrc_fn	*es_fn;
	int		 es_fd;		/* -1: not registered */
	uint32_t	 es_mask;	/* epoll events registered */
};

struct kc__eclient {
	/* A batch's token events, in the order epoll gave them. */
	void	(*ec_events)(struct kc__eclient *c,
		    const struct epoll_event *evs, int n);
	/* The engine is going away (its owner's thread has stopped). */
	void	(*ec_close)(struct kc__eclient *c);
};

/*
 * The file layer's ring, attached to the engine of the executor it serves
 * (src/io/ring.c): the core knows only these two questions.
 */
struct kc__eio {
	/* Operations in flight, whose completions a drain must wait for. */
	bool	(*ei_busy)(struct kc__eio *io);
	/* The engine is going away (its owner's threads have stopped). */
	void	(*ei_fini)(struct kc__eio *io);
};

struct kc__engine {
	int			 en_epfd;
	int			 en_wakefd;	/* eventfd; -1 if none */
	unsigned		 en_nreg;	/* atomic: registrations */
	struct kc__eclient	*en_client;	/* atomic: set once, or NULL */
	struct kc__eio		*en_io;		/* atomic: set once, or NULL */
	struct kc_executor	*en_owner;	/* for traces and assertions */
	/* The batch being dispatched (owner's thread only). */
	struct epoll_event	*en_batch;
	int			 en_next, en_n;
};

/*
 * Make an engine: its epoll set and, if wake, the eventfd that
 * kc__engine_wake() writes.  0 or -errno.
 */
int	kc__engine_init(struct kc__engine *en, struct kc_executor *owner,
	    bool wake);
/* Tell the client, then close the engine's descriptors. */
void	kc__engine_fini(struct kc__engine *en);

/*
 * Sources.  kc__engine_add registers src (es_fn set) for fd with events
 * (epoll bits, EPOLLET allowed), from any thread: src may be called on the
 * engine's thread as soon as it returns, so what it reaches must be ready.
 * On the engine's own thread: change its events; re-arm it (epoll looks at
 * the descriptor afresh, so an edge-triggered source that is ready now is
 * called again); remove it, also from another thread once the owner has
 * shut down (nothing is dispatched any more).  A removed source is never
 * called again, even for events of the batch being dispatched.  0 or
 * -errno.
 */
int	kc__engine_add(struct kc__engine *en, struct kc__esrc *src, int fd,
	    uint32_t events);
int	kc__engine_mod(struct kc__engine *en, struct kc__esrc *src,
	    uint32_t events);
int	kc__engine_rearm(struct kc__engine *en, struct kc__esrc *src);
void	kc__engine_del(struct kc__engine *en, struct kc__esrc *src);

/*
 * The client: set it (once; -EEXIST if another is set), change one of its
 * items (EPOLL_CTL_*; token must have KC__EN_TOKEN set), and count its
 * registrations (delta +1 or -1), which decide whether the owner sleeps
 * in the engine.  kc__engine_ctl returns 0 or -errno, any thread.
 */
int	kc__engine_set_client(struct kc__engine *en, struct kc__eclient *c);
int	kc__engine_ctl(struct kc__engine *en, int op, int fd, uint32_t events,
	    uint64_t token);
void	kc__engine_count(struct kc__engine *en, int delta);

/*
 * The file layer's attachment: set it once (-EEXIST if one is set), read
 * it (NULL if none).  Any thread.
 */
int	kc__engine_set_io(struct kc__engine *en, struct kc__eio *io);
struct kc__eio *kc__engine_io(const struct kc__engine *en);
/* Has the attachment operations in flight?  The owner's thread. */
bool	kc__engine_io_busy(const struct kc__engine *en);

/* Anything registered?  Any thread. */
bool	kc__engine_busy(const struct kc__engine *en);

/*
 * Wait up to timeout (NULL: for ever) and dispatch what is ready; returns
 * the number of events (0 on timeout or interruption).  sleeping (may be
 * NULL) is the owner's "asleep in the engine" word, cleared as soon as the
 * wait returns, before anything runs, so that work triggered from here on
 * does not write the wake-up eventfd.  On the engine's own thread.
 */
int	kc__engine_run(struct kc__engine *en, const struct timespec *timeout,
	    uint32_t *sleeping);

/*
 * Wait without dispatching (for a client whose own callers collect: a
 * kqueue's kevent()).  Returns the count or -errno.  Any thread.
 */
int	kc__engine_poll(struct kc__engine *en, struct epoll_event *evs, int n,
	    const struct timespec *timeout);

/* Make a kc__engine_run() in progress, or the next one, return.  Any thread. */
void	kc__engine_wake(struct kc__engine *en);

/* A soft executor's engine; NULL for a thread executor (executor.c). */
struct kc__engine *kc__exec_engine(struct kc_executor *ex);

#endif /* KC_CORE_ENGINE_H */
