/*
 * kcont/msg.h: message ports, after DragonFly's LWKT messages.
 *
 * A port is an inbox served by one executor: every message sent to it is
 * handed to the port's function on that executor, one at a time in the
 * order sent.  A message embeds a continuation, its reply: the port's
 * function (or whoever it passes the message to) calls kc_msg_reply()
 * exactly once, and the reply continuation runs with the message and the
 * reply's status.
 *
 *   kc_msg_send()     asynchronous: queue, return; the reply comes later
 *   kc_msg_do()       synchronous: send and wait for the reply, or run the
 *                     port's function inline when the caller already runs
 *                     the port's executor
 *   kc_msg_reply()    exactly once per message sent
 *   kc_msg_forward()  pass a message in hand to another port, unreplied
 *   kc_msg_drop()     take back a message still queued (never handled,
 *                     never replied)
 *   kc_msg_abort()    for KC_MSG_ABORTABLE messages: the reply, which comes
 *                     exactly once, is either the one already made or
 *                     -ECANCELED
 *
 * A plain thread (no executor) may send, and may wait in kc_msg_do().  A
 * soft executor that waits in kc_msg_do() blocks its thread: a chain of
 * soft executors each waiting on the next's port that comes back to the
 * first would never end, so kc_msg_do() reports that cycle (to stderr,
 * naming the executors) and fails with -EDEADLK instead of waiting.
 *
 * Memory ownership
 *   - struct kc_port and struct kc_msg are caller-owned storage; a message
 *     is usually embedded at the start of a larger request structure.
 *     Initialising either never allocates, nor does sending or replying.
 *   - From kc_msg_send() (or kc_msg_do()) until its reply continuation is
 *     called (or kc_msg_do() returns, or kc_msg_drop() succeeds) the
 *     message belongs to the library and the port's side: the sender must
 *     not free, move or re-send it.  The reply continuation may free it.
 *   - The port's function gets the message "in hand": it owns it until it
 *     replies or forwards it.  After kc_msg_reply() it must not touch it.
 *   - kc_port_close() replies -ESHUTDOWN to messages still queued (so
 *     their senders get them, and anything they carry, back); messages in
 *     hand at that moment stay with their handlers, who must still reply
 *     them (or forward them), and may do so after the port's storage is
 *     gone.  The storage stays the library's until the close's done
 *     continuation is called: from there the caller may free or reuse it.
 *     Only kc_msg_abort() needs the port a message is in hand at: do not
 *     abort such a message once its port's close is done.
 *
 * Functions return 0 or a negative errno value; nothing sets errno.
 * See kc_msg(3).
 */
#ifndef KCONT_MSG_H
#define KCONT_MSG_H

#include <stdint.h>

#include <kcont/kc.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kc_port;
struct kc_msg;

/* The port's function: runs on the port's executor with a message in hand. */
typedef void kc_port_fn(struct kc_port *port, struct kc_msg *msg);

/*
 * The port's abort function (optional): runs on the port's executor when
 * kc_msg_abort() hits a message this port's side holds in hand (a request
 * parked until some condition holds).  It should reply the message (any
 * reply now carries -ECANCELED) unless the work is done.  A reply racing
 * the abort may get in just before it runs: its own reply then returns
 * -EALREADY, which is harmless.  The message stays valid during the call.
 */
typedef void kc_port_abort_fn(struct kc_port *port, struct kc_msg *msg);

struct kc_port {
	struct kc		 p_kc;		/* private: drains the queue */
	struct kc_msg		*p_head;	/* private */
	struct kc_msg		*p_tail;	/* private */
	struct kc_executor	*p_exec;	/* private */
	kc_port_fn		*p_fn;		/* private */
	kc_port_abort_fn	*p_abort;	/* private */
	void			*p_env;		/* private: kc_port_env() */
	uint32_t		 p_lock;	/* private */
	uint32_t		 p_flags;	/* private */
	struct kc		*p_done;	/* private: its close's done */
	uintptr_t		 p_magic;	/* private */
};

struct kc_msg {
	struct kc		 m_kc;		/* private: the reply */
	struct kc_msg		*m_next;	/* private */
	struct kc_msg		*m_prev;	/* private */
	struct kc_port		*m_port;	/* private: where it is or was */
	uint32_t		 m_state;	/* private */
	uint32_t		 m_flags;	/* private */
	int			 m_status;	/* private: the reply's status */
	int			 m_cmd;		/* the caller's: a command code */
	kc_fn			*m_fn;		/* private: the reply's function */
	void			*m_env;		/* private */
	uintptr_t		 m_magic;	/* private */
	uint64_t		 m_flow;	/* private: tracing */
};

/* kc_msg_init() flags. */
#define KC_MSG_ABORTABLE	0x0001u	/* kc_msg_abort() may be used */

/*
 * Initialise a port served by exec (a soft or thread executor): fn gets
 * every message, abort (may be NULL) gets aborted messages in hand, env is
 * the caller's (kc_port_env()).  Never allocates.
 * Errors: -EINVAL (port, exec or fn NULL), -EBUSY (port is live).
 */
KC_EXPORT int	kc_port_init(struct kc_port *port, struct kc_executor *exec,
		    kc_port_fn *fn, kc_port_abort_fn *abort, void *env);

/*
 * Close the port, from any thread or continuation (the port's own function
 * included); it never waits.  Later sends fail with -ESHUTDOWN and queued
 * messages are replied -ESHUTDOWN at once.  done (may be NULL) is
 * triggered once, with obj = port and status 0, when the library will
 * never touch the port again: on the port's executor, after its function
 * has returned for the last time (at once, from this call, if that
 * executor is shut down).  From then on the caller may free or reuse the
 * storage.  Errors: -EINVAL (not a live port: never initialised, or its
 * close is done), -EBADF (closed already; done not yet run).
 */
KC_EXPORT int	kc_port_close(struct kc_port *port, struct kc *done);

/* The env given to kc_port_init(). */
KC_EXPORT void	*kc_port_env(const struct kc_port *port);

/*
 * Initialise a message whose reply runs fn(msg, env, status) on exec (NULL:
 * on the thread that replies).  fn may be NULL for a message only ever used
 * with kc_msg_do(), or one whose sender needs no word back (its reply just
 * marks it done: kc_msg_done()).  Never allocates.
 * Errors: -EINVAL (unknown flags), -EBUSY (msg is in flight).
 */
KC_EXPORT int	kc_msg_init(struct kc_msg *msg, kc_fn *fn, void *env,
		    struct kc_executor *exec, unsigned flags);

/*
 * Queue msg on port; the port's function gets it later on the port's
 * executor (never inline, even from that executor).
 * Errors: -EINVAL (not initialised), -EBUSY (already in flight),
 * -ESHUTDOWN (port closed, or its executor shut down: msg is not sent).
 */
KC_EXPORT int	kc_msg_send(struct kc_port *port, struct kc_msg *msg);

/*
 * Send and wait for the reply; returns the reply's status.  When the caller
 * runs the port's executor the port's function is called inline, and the
 * call returns at once if it replied inline.  timeout_ns (KC_WAIT_FOREVER
 * for none) needs KC_MSG_ABORTABLE: when it passes the message is aborted
 * and the call still waits for the one reply (-ECANCELED, or the reply that
 * won the race).  The message's reply continuation is not called.
 * Errors: as kc_msg_send(), -EDEADLK (a cycle of soft executors waiting on
 * one another; nothing sent), -EINVAL (a timeout on a message that is not
 * abortable).
 */
KC_EXPORT int	kc_msg_do(struct kc_port *port, struct kc_msg *msg,
		    uint64_t timeout_ns);

/*
 * Reply to a message in hand with status (by convention a count or 0 for
 * success, a negative errno value for failure).
 * Returns 0 when that status was delivered; -ECANCELED when an abort came
 * first: the reply was made with -ECANCELED instead, and whatever the
 * handler meant to hand over stays with it (put it back); -EALREADY when
 * the message was replied already (nothing happens; a bug in the caller);
 * -EINVAL when msg is not a message in flight.
 */
KC_EXPORT int	kc_msg_reply(struct kc_msg *msg, int status);

/*
 * Pass a message in hand to another port without replying.  An aborted
 * message is replied -ECANCELED instead (and -ECANCELED returned).
 * Errors: -EINVAL, -ESHUTDOWN (that port is closed: the message is still in
 * the caller's hand).
 */
KC_EXPORT int	kc_msg_forward(struct kc_msg *msg, struct kc_port *port);

/*
 * Take back a message that is still queued: it is never handled and never
 * replied, and belongs to the caller again.
 * Errors: -EBUSY (already handed to the port's function, or replied: the
 * reply comes as usual), -EINVAL (not in flight).
 */
KC_EXPORT int	kc_msg_drop(struct kc_msg *msg);

/*
 * Abort a KC_MSG_ABORTABLE message.  Returns 0 when the abort took: the
 * reply carries -ECANCELED (a queued message is replied at once, unhandled;
 * a message in hand goes to the port's abort function); -EALREADY when it
 * was replied first (that reply stands).  Either way exactly one reply is
 * made.  Errors: -EINVAL (not abortable, not initialised, not in flight).
 */
KC_EXPORT int	kc_msg_abort(struct kc_msg *msg);

/* For the handler: nonzero if an abort has hit this message. */
KC_EXPORT int	kc_msg_aborted(const struct kc_msg *msg);

/* Nonzero once the message is replied and back with its sender (or idle). */
KC_EXPORT int	kc_msg_done(const struct kc_msg *msg);

/* The status of the last reply (valid once kc_msg_done()). */
KC_EXPORT int	kc_msg_status(const struct kc_msg *msg);

#ifdef __cplusplus
}
#endif

#endif /* KCONT_MSG_H */
