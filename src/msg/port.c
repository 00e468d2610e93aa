/*
 * port.c: message ports (kcont/msg.h).
 *
 * A port is a list under a small lock plus one continuation on the port's
 * executor that drains it.  The list holds messages waiting for the port's
 * function and abort notices (a message in hand that an abort hit, for the
 * port's abort function); a message's links are free while it is in hand,
 * so a notice costs no memory.  Senders trigger the drain only when the
 * list goes from idle to busy (P_SCHED), so a burst of sends is one wake-up.
 *
 * Everything else a message goes through is one state word, changed by
 * compare-and-swap: who replies, whether an abort got in first, and who
 * completes the message (runs its reply) are each decided by exactly one
 * successful exchange, which is what makes "exactly one reply" hold when
 * abort and reply race.  Completion needs the message out of every port
 * list: a reply that finds a notice queued leaves completion to the notice.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/internal.h"
#include "core/lockdebug.h"

#define P_LIVE		0x1u
#define P_CLOSED	0x2u
#define P_SCHED		0x4u	/* the drain continuation is triggered */

#define PORT_MAGIC	((uintptr_t)0x6b63706f72742121ull)	/* "kcport!!" */
#define MSG_MAGIC	((uintptr_t)0x6b636d7367212121ull)	/* "kcmsg!!!" */

/* m_state: 0 means idle or done (back with its sender). */
#define MS_QUEUED	0x01u	/* on a port's list, waiting for its function */
#define MS_HAND		0x02u	/* with the port's side */
#define MS_REPLYING	0x04u	/* a reply claimed it; status being written */
#define MS_REPLIED	0x08u	/* replied; completes when no notice is out */
#define MS_ABORT	0x10u	/* an abort got in before any reply */
#define MS_NOTICE	0x20u	/* an abort notice is queued or running */
#define MS_SYNC		0x40u	/* kc_msg_do(): a thread waits on the word */
#define MS_WAITING	0x80u	/* ... and sleeps on it (futex) */

#define MF_ABORTABLE	KC_MSG_ABORTABLE
#define MF_REPLYFN	0x100u	/* has a reply continuation */
#define MF_SENT		0x200u	/* has been sent at least once */

/* Messages the drain hands out per run before it yields the executor. */
#define DRAIN_BATCH	64

/* p_flags: changed under p_lock, read by some without it. */
static inline uint32_t
pf_get(const struct kc_port *p)
{
	return __atomic_load_n(&p->p_flags, __ATOMIC_ACQUIRE);
}

static inline void
pf_set(struct kc_port *p, uint32_t bits)
{
	KC__OWNED(&p->p_lock);
	__atomic_or_fetch(&p->p_flags, bits, __ATOMIC_RELEASE);
}

static inline void
pf_clear(struct kc_port *p, uint32_t bits)
{
	KC__OWNED(&p->p_lock);
	__atomic_and_fetch(&p->p_flags, ~bits, __ATOMIC_RELEASE);
}

static inline bool
port_valid(const struct kc_port *p)
{
	return p != NULL && p->p_magic == (PORT_MAGIC ^ (uintptr_t)p);
}

static inline bool
msg_valid(const struct kc_msg *m)
{
	return m != NULL && m->m_magic == (MSG_MAGIC ^ (uintptr_t)m);
}

static inline bool
msg_sent(const struct kc_msg *m)
{
	return (__atomic_load_n(&m->m_flags, __ATOMIC_ACQUIRE) & MF_SENT) != 0;
}

static void
list_append(struct kc_port *p, struct kc_msg *m)
{
	KC__OWNED(&p->p_lock);
	m->m_next = NULL;
	m->m_prev = p->p_tail;
	if (p->p_tail != NULL)
		p->p_tail->m_next = m;
	else
		p->p_head = m;
	p->p_tail = m;
}

static void
list_remove(struct kc_port *p, struct kc_msg *m)
{
	KC__OWNED(&p->p_lock);
	if (m->m_prev != NULL)
		m->m_prev->m_next = m->m_next;
	else
		p->p_head = m->m_next;
	if (m->m_next != NULL)
		m->m_next->m_prev = m->m_prev;
	else
		p->p_tail = m->m_prev;
	m->m_next = m->m_prev = NULL;
}

/*
 * Under the port's lock: make sure the drain will run.  Returns true when
 * the caller must trigger it (after unlocking).
 */
static bool
sched_locked(struct kc_port *p)
{
	KC__OWNED(&p->p_lock);
	if (pf_get(p) & P_SCHED)
		return false;
	pf_set(p, P_SCHED);
	return true;
}

static int
sched_trigger(struct kc_port *p)
{
	return kc_defer(&p->p_kc, p, 0);
}

/*
 * The port's end, under its lock, which it lets go: the port is closed and
 * no drain is pending or running but the caller's, so nothing of the
 * library touches it again.  Its close's done is triggered last; from
 * there the storage is the caller's.
 */
static void
port_end(struct kc_port *p)
{
	struct kc *done = p->p_done;

	KC__OWNED(&p->p_lock);
	KC__DASSERT(pf_get(p) & P_CLOSED);
	p->p_done = NULL;
	p->p_magic = 0;
	__atomic_store_n(&p->p_flags, P_CLOSED, __ATOMIC_RELEASE);
	kc__unlock(&p->p_lock);
	if (done != NULL)
		(void)kc_run(done, p, 0);
}

/*
 * Under the port's lock, which it lets go: the drain that was triggered
 * will not run (its executor is shut down).  A close that came meanwhile
 * left the port's end to that drain: it ends here instead.
 */
static void
sched_release(struct kc_port *p)
{
	KC__OWNED(&p->p_lock);
	pf_clear(p, P_SCHED);
	if (pf_get(p) & P_CLOSED)
		port_end(p);
	else
		kc__unlock(&p->p_lock);
}

/*
 * The message is replied and no notice is out: give it back to its sender.
 * After the state word reads 0 the sender may reuse the message, so
 * everything needed is read before.
 */
static void
complete(struct kc_msg *m)
{
	int status = m->m_status;
	bool fn = (m->m_flags & MF_REPLYFN) != 0;
	uint32_t old;

	old = __atomic_load_n(&m->m_state, __ATOMIC_ACQUIRE);
	if (old & MS_SYNC) {
		old = KC__XCHG(&m->m_state, 0u);
		if (old & MS_WAITING)
			kc__futex_wake(&m->m_state, 1);
		return;
	}
	if (!fn) {
		KC__STORE(&m->m_state, 0u);
		return;
	}
	/* The message stays "replied" until its continuation runs. */
	{
		int r = kc_run(&m->m_kc, m, status);

		KC__ASSERT(r == 0 || r == -ESHUTDOWN || r == -ELOOP);
		if (r != 0)
			fprintf(stderr, "kcont: reply to message %p lost: %s\n",
			    (void *)m, strerror(-r));
	}
}

/* The flow of a message's send (tracing). */
static uint64_t
msg_flow(const struct kc_msg *msg)
{
	return __atomic_load_n(&msg->m_flow, __ATOMIC_RELAXED);
}

/* The reply continuation: the message is the sender's again, then its function. */
static void
reply_tramp(void *obj, void *env, int status)
{
	struct kc_msg *m = obj;
	kc_fn *fn = m->m_fn;
	void *fenv = m->m_env;

	(void)env;
	KC__STORE(&m->m_state, 0u);
	fn(m, fenv, status);
}

/*
 * The second half of a reply, or of a notice: drop the bits in clear, add
 * the ones in set; the caller completes the message if the result is
 * "replied, no notice out" and it was the one to make it so.
 */
static bool
finish(struct kc_msg *m, uint32_t clear, uint32_t set)
{
	uint32_t st = __atomic_load_n(&m->m_state, __ATOMIC_ACQUIRE), nw;

	do {
		nw = (st & ~clear) | set;
	} while (!KC__CAS(&m->m_state, &st, nw));
	return (nw & MS_REPLIED) && !(nw & (MS_NOTICE | MS_REPLYING));
}

/* Reply to a message known to be in hand; see kc_msg_reply(). */
static int
reply(struct kc_msg *m, int status)
{
	uint32_t st = __atomic_load_n(&m->m_state, __ATOMIC_ACQUIRE);
	int rc = 0;

	for (;;) {
		if (st & (MS_REPLYING | MS_REPLIED))
			return -EALREADY;
		if (!(st & MS_HAND))
			return (st & MS_QUEUED) || !msg_sent(m) ? -EINVAL :
			    -EALREADY;
		if (KC__CAS(&m->m_state, &st, st | MS_REPLYING))
			break;
	}
	/* Abort can no longer get in: it gives up on REPLYING. */
	if (st & MS_ABORT) {
		status = -ECANCELED;
		rc = -ECANCELED;
	}
	m->m_status = status;
	if (finish(m, MS_HAND | MS_REPLYING, MS_REPLIED))
		complete(m);
	return rc;
}

static kc_fn port_drain;

int
kc_port_init(struct kc_port *port, struct kc_executor *exec, kc_port_fn *fn,
    kc_port_abort_fn *abort, void *env)
{
	int r;

	if (port == NULL || exec == NULL || fn == NULL)
		return -EINVAL;
	if (port_valid(port) && (pf_get(port) & P_LIVE))
		return -EBUSY;
	memset(port, 0, sizeof(*port));
	r = kc_init(&port->p_kc, port_drain, NULL, exec, 0);
	if (r != 0)
		return r;
	port->p_exec = exec;
	port->p_fn = fn;
	port->p_abort = abort;
	port->p_env = env;
	__atomic_store_n(&port->p_flags, P_LIVE, __ATOMIC_RELEASE);
	port->p_magic = PORT_MAGIC ^ (uintptr_t)port;
	return 0;
}

void *
kc_port_env(const struct kc_port *port)
{
	return port_valid(port) ? port->p_env : NULL;
}

/* An abort notice reached the port's executor (or the port's end). */
static void
notice_run(struct kc_port *p, struct kc_msg *m, bool call)
{
	uint32_t st = __atomic_load_n(&m->m_state, __ATOMIC_ACQUIRE);

	if (call && p->p_abort != NULL &&
	    !(st & (MS_REPLYING | MS_REPLIED)))
		p->p_abort(p, m);
	if (finish(m, MS_NOTICE, 0))
		complete(m);
}

/*
 * The port's drain, on its executor: hands queued messages to the port's
 * function, and ends a closed port (port_end()) when it finds it closed,
 * which a close that saw it triggered counts on.
 */
static void
port_drain(void *obj, void *env, int status)
{
	struct kc_port *p = obj;
	int n;

	(void)env;
	(void)status;
	KC__ON_EXEC(p->p_exec);
	for (n = 0; n < DRAIN_BATCH; n++) {
		struct kc_msg *m;
		uint32_t st;

		kc__lock(&p->p_lock);
		if (pf_get(p) & P_CLOSED) {
			port_end(p);
			return;
		}
		m = p->p_head;
		if (m == NULL) {
			pf_clear(p, P_SCHED);
			kc__unlock(&p->p_lock);
			return;
		}
		list_remove(p, m);
		st = __atomic_load_n(&m->m_state, __ATOMIC_ACQUIRE);
		if (st & MS_QUEUED) {
			/* Aborts and drops take queued messages under this lock. */
			while (!KC__CAS(&m->m_state, &st,
			    (st & ~MS_QUEUED) | MS_HAND))
				;
			kc__unlock(&p->p_lock);
			(void)KC__TR4(KC_TR_MSG_RECV, p, m, (int64_t)m->m_cmd,
			    msg_flow(m));
			p->p_fn(p, m);
		} else {
			kc__unlock(&p->p_lock);
			notice_run(p, m, true);
		}
	}
	/* More may wait: let the executor run other work first. */
	if (sched_trigger(p) != 0) {
		kc__lock(&p->p_lock);
		sched_release(p);
	}
}

/*
 * Close: no message gets in any more, and the queued ones are replied
 * -ESHUTDOWN here.  The port ends (port_end(), which triggers done) in
 * its drain, on its executor: the drain already triggered or running when
 * it finds the port closed, or one triggered here.  So done never runs
 * while the port's function runs, and a close from inside the function
 * returns to it with the port intact.  Only when the executor is shut
 * down, and so will run nothing of the port again, does it end here.
 */
int
kc_port_close(struct kc_port *port, struct kc *done)
{
	struct kc_msg *m, *next;
	bool kick;

	if (!port_valid(port) || !(pf_get(port) & P_LIVE))
		return -EINVAL;
	kc__lock(&port->p_lock);
	if (pf_get(port) & P_CLOSED) {
		kc__unlock(&port->p_lock);
		return -EBADF;
	}
	pf_set(port, P_CLOSED);
	port->p_done = done;
	m = port->p_head;
	port->p_head = port->p_tail = NULL;
	kick = sched_locked(port);
	kc__unlock(&port->p_lock);

	for (; m != NULL; m = next) {
		uint32_t st = __atomic_load_n(&m->m_state, __ATOMIC_ACQUIRE);

		next = m->m_next;
		m->m_next = m->m_prev = NULL;
		if (st & MS_QUEUED) {
			while (!KC__CAS(&m->m_state, &st,
			    (st & ~MS_QUEUED) | MS_HAND))
				;
			(void)reply(m, -ESHUTDOWN);
		} else {
			notice_run(port, m, false);
		}
	}
	if (kick && sched_trigger(port) != 0) {
		kc__lock(&port->p_lock);
		sched_release(port);
	}
	return 0;
}

int
kc_msg_init(struct kc_msg *msg, kc_fn *fn, void *env,
    struct kc_executor *exec, unsigned flags)
{
	int r;

	if (msg == NULL || (flags & ~KC_MSG_ABORTABLE) != 0)
		return -EINVAL;
	if (msg_valid(msg) &&
	    (__atomic_load_n(&msg->m_state, __ATOMIC_ACQUIRE) != 0 ||
	    (kc_state(&msg->m_kc) & KC_STATE_PENDING)))
		return -EBUSY;
	memset(msg, 0, sizeof(*msg));
	if (fn != NULL) {
		r = kc_init(&msg->m_kc, reply_tramp, NULL, exec, 0);
		if (r != 0)
			return r;
		msg->m_fn = fn;
		msg->m_env = env;
		flags |= MF_REPLYFN;
	}
	msg->m_flags = flags;
	msg->m_magic = MSG_MAGIC ^ (uintptr_t)msg;
	return 0;
}

/*
 * Put a message on p's list: its state must be from (give or take a
 * sleeping waiter's bit), and becomes QUEUED plus sync.
 */
static int
enqueue(struct kc_port *p, struct kc_msg *m, uint32_t from, uint32_t sync)
{
	uint32_t st;
	bool kick;
	int r;

	kc__lock(&p->p_lock);
	if (pf_get(p) & P_CLOSED) {
		kc__unlock(&p->p_lock);
		return -ESHUTDOWN;
	}
	st = __atomic_load_n(&m->m_state, __ATOMIC_ACQUIRE);
	do {
		if ((st & ~MS_WAITING) != (from & ~MS_WAITING)) {
			kc__unlock(&p->p_lock);
			return (st & MS_ABORT) ? -ECANCELED : -EBUSY;
		}
	} while (!KC__CAS(&m->m_state, &st,
	    MS_QUEUED | sync | (st & MS_WAITING)));
	m->m_port = p;
	__atomic_or_fetch(&m->m_flags, MF_SENT, __ATOMIC_RELEASE);
	list_append(p, m);
	kick = sched_locked(p);
	kc__unlock(&p->p_lock);
	if (kick && (r = sched_trigger(p)) != 0) {
		/* The executor is shut down: take it back. */
		kc__lock(&p->p_lock);
		st = __atomic_load_n(&m->m_state, __ATOMIC_ACQUIRE);
		if (st & MS_QUEUED) {
			list_remove(p, m);
			while (!KC__CAS(&m->m_state, &st,
			    (from & ~MS_WAITING) | (st & MS_WAITING)))
				;
			sched_release(p);
			return r;
		}
		sched_release(p);
	}
	return 0;
}

static int
send_checks(struct kc_port *port, struct kc_msg *msg)
{
	if (!msg_valid(msg))
		return -EINVAL;
	if (!port_valid(port))
		return (port != NULL && port->p_magic == 0) ? -ESHUTDOWN :
		    -EINVAL;
	/* Its reply may still be running: re-sending from there is usual. */
	if (__atomic_load_n(&msg->m_state, __ATOMIC_ACQUIRE) != 0 ||
	    ((msg->m_flags & MF_REPLYFN) &&
	    (kc_state(&msg->m_kc) & KC_STATE_PENDING)))
		return -EBUSY;
	return 0;
}

/* A send's record: its flow goes with the message to its handling and reply. */
static void
trace_send(struct kc_port *port, struct kc_msg *msg)
{
	__atomic_store_n(&msg->m_flow, kc__trace_rec(KC_TR_MSG_SEND, 4,
	    KC__TRU(port), KC__TRU(msg), (uint64_t)(int64_t)msg->m_cmd,
	    KC__TR_MYFLOW, 0), __ATOMIC_RELAXED);
}

int
kc_msg_send(struct kc_port *port, struct kc_msg *msg)
{
	int r = send_checks(port, msg);

	if (r != 0)
		return r;
	if (KC__TRACING())
		trace_send(port, msg);
	return enqueue(port, msg, 0, 0);
}

/*
 * A soft executor about to wait on to's port: refuse if to waits, through
 * others, on self.  The chain is read without locks: each link is an
 * executor that is blocked, so it changes only when one of them is replied.
 */
static int
deadlock_check(struct kc_executor *self, struct kc_executor *to)
{
	struct kc_executor *e = to;
	int hops;

	for (hops = 0; e != NULL && hops < 1024; hops++) {
		if (e == self) {
			fprintf(stderr, "kcont: kc_msg_do: executor \"%s\" would "
			    "wait on executor \"%s\", which waits (through %d) "
			    "on \"%s\": deadlock refused\n", kc__exec_name(self),
			    kc__exec_name(to), hops, kc__exec_name(self));
			return -EDEADLK;
		}
		if (!kc__exec_soft(e))
			return 0;
		e = __atomic_load_n(kc__exec_waitsfor(e), __ATOMIC_ACQUIRE);
	}
	return 0;
}

/* Wait until the message is done; deadline 0 means none.  -ETIMEDOUT. */
static int
wait_done(struct kc_msg *m, uint64_t deadline)
{
	uint32_t st;
	int spins;

	for (spins = 0; spins < 2000; spins++) {
		if (__atomic_load_n(&m->m_state, __ATOMIC_ACQUIRE) == 0)
			return 0;
		kc__cpu_relax();
	}
	for (;;) {
		st = __atomic_load_n(&m->m_state, __ATOMIC_ACQUIRE);
		if (st == 0)
			return 0;
		if (!(st & MS_WAITING) &&
		    !KC__CAS(&m->m_state, &st, st | MS_WAITING))
			continue;
		if (deadline != 0 && kc__now() >= deadline)
			return -ETIMEDOUT;
		(void)kc__futex_wait(&m->m_state, st | MS_WAITING, deadline);
	}
}

int
kc_msg_do(struct kc_port *port, struct kc_msg *msg, uint64_t timeout_ns)
{
	struct kc_executor *self = kc_executor_current(), **edge = NULL;
	uint64_t deadline = 0;
	int r = send_checks(port, msg);

	if (r != 0)
		return r;
	if (timeout_ns != KC_WAIT_FOREVER) {
		if (!(msg->m_flags & MF_ABORTABLE))
			return -EINVAL;
		deadline = kc__now() + timeout_ns;
		if (deadline == 0)
			deadline = 1;
	}
	if (KC__TRACING())
		trace_send(port, msg);
	if (self != NULL && self == port->p_exec && kc__exec_soft(self)) {
		/* The caller runs the port's executor: hand it over inline. */
		uint32_t st = 0;

		if (pf_get(port) & P_CLOSED)
			return -ESHUTDOWN;
		if (!KC__CAS(&msg->m_state, &st, MS_HAND | MS_SYNC))
			return -EBUSY;
		msg->m_port = port;
		(void)KC__TR4(KC_TR_MSG_RECV, port, msg, (int64_t)msg->m_cmd,
		    msg_flow(msg));
		port->p_fn(port, msg);
	} else {
		if (self != NULL && kc__exec_soft(self)) {
			edge = kc__exec_waitsfor(self);
			KC__STORE(edge, port->p_exec);
			if ((r = deadlock_check(self, port->p_exec)) != 0) {
				KC__STORE(edge, NULL);
				return r;
			}
		}
		if ((r = enqueue(port, msg, 0, MS_SYNC)) != 0) {
			if (edge != NULL)
				KC__STORE(edge, NULL);
			return r;
		}
	}
	if (wait_done(msg, deadline) == -ETIMEDOUT) {
		(void)kc_msg_abort(msg);
		(void)wait_done(msg, 0);
	}
	if (edge != NULL)
		KC__STORE(edge, NULL);
	return msg->m_status;
}

int
kc_msg_reply(struct kc_msg *msg, int status)
{
	if (!msg_valid(msg))
		return -EINVAL;
	(void)KC__TR4(KC_TR_MSG_REPLY, msg->m_port, msg, (int64_t)status,
	    msg_flow(msg));
	return reply(msg, status);
}

int
kc_msg_forward(struct kc_msg *msg, struct kc_port *port)
{
	uint32_t st;
	int r;

	if (!msg_valid(msg) || port == NULL)
		return -EINVAL;
	if (!port_valid(port))
		return port->p_magic == 0 ? -ESHUTDOWN : -EINVAL;
	st = __atomic_load_n(&msg->m_state, __ATOMIC_ACQUIRE);
	if (!(st & MS_HAND) || (st & (MS_REPLYING | MS_REPLIED)))
		return -EINVAL;
	if (!(st & MS_ABORT)) {
		r = enqueue(port, msg, st, st & MS_SYNC);
		if (r != -ECANCELED)
			return r;
	}
	/* An abort got in: the only answer left is -ECANCELED. */
	(void)reply(msg, -ECANCELED);
	return -ECANCELED;
}

int
kc_msg_drop(struct kc_msg *msg)
{
	struct kc_port *p;
	uint32_t st;

	if (!msg_valid(msg))
		return -EINVAL;
	st = __atomic_load_n(&msg->m_state, __ATOMIC_ACQUIRE);
	if (st == 0)
		return -EINVAL;
	if (!(st & MS_QUEUED))
		return -EBUSY;
	p = msg->m_port;
	kc__lock(&p->p_lock);
	st = __atomic_load_n(&msg->m_state, __ATOMIC_ACQUIRE);
	if (!(st & MS_QUEUED)) {
		kc__unlock(&p->p_lock);
		return -EBUSY;
	}
	list_remove(p, msg);
	KC__STORE(&msg->m_state, 0u);
	kc__unlock(&p->p_lock);
	return 0;
}

int
kc_msg_abort(struct kc_msg *msg)
{
	struct kc_port *p;
	uint32_t st;
	bool kick;

	if (!msg_valid(msg) || !(msg->m_flags & MF_ABORTABLE))
		return -EINVAL;
	(void)KC__TR3(KC_TR_MSG_ABORT, msg->m_port, msg, msg_flow(msg));
	st = __atomic_load_n(&msg->m_state, __ATOMIC_ACQUIRE);
	for (;;) {
		if (st == 0 && !msg_sent(msg))
			return -EINVAL;
		if (st == 0 || (st & (MS_REPLYING | MS_REPLIED)))
			return -EALREADY;
		if (st & MS_ABORT)
			return 0;
		if (st & MS_QUEUED) {
			/* Take it off the list and answer it here. */
			p = msg->m_port;
			kc__lock(&p->p_lock);
			st = __atomic_load_n(&msg->m_state, __ATOMIC_ACQUIRE);
			if (!(st & MS_QUEUED)) {
				kc__unlock(&p->p_lock);
				continue;
			}
			list_remove(p, msg);
			KC__STORE(&msg->m_state,
			    (st & ~MS_QUEUED) | MS_HAND | MS_ABORT);
			kc__unlock(&p->p_lock);
			(void)reply(msg, -ECANCELED);
			return 0;
		}
		/* In hand. */
		p = msg->m_port;
		if (p->p_abort == NULL) {
			if (KC__CAS(&msg->m_state, &st, st | MS_ABORT))
				return 0;
			continue;
		}
		if (KC__CAS(&msg->m_state, &st, st | MS_ABORT | MS_NOTICE))
			break;
	}
	/* Tell the port's side; the notice holds completion back. */
	kc__lock(&p->p_lock);
	if (pf_get(p) & P_CLOSED) {
		kc__unlock(&p->p_lock);
		notice_run(p, msg, false);
		return 0;
	}
	list_append(p, msg);
	kick = sched_locked(p);
	kc__unlock(&p->p_lock);
	if (kick && sched_trigger(p) != 0) {
		bool closed;

		kc__lock(&p->p_lock);
		/* A close meanwhile took the notice off and ran it. */
		closed = (pf_get(p) & P_CLOSED) != 0;
		if (!closed)
			list_remove(p, msg);
		sched_release(p);
		if (!closed)
			notice_run(p, msg, false);
	}
	return 0;
}

int
kc_msg_aborted(const struct kc_msg *msg)
{
	return msg_valid(msg) &&
	    (__atomic_load_n(&msg->m_state, __ATOMIC_ACQUIRE) & MS_ABORT) != 0;
}

int
kc_msg_done(const struct kc_msg *msg)
{
	return msg_valid(msg) &&
	    __atomic_load_n(&msg->m_state, __ATOMIC_ACQUIRE) == 0;
}

int
kc_msg_status(const struct kc_msg *msg)
{
	return msg_valid(msg) ? msg->m_status : -EINVAL;
}
