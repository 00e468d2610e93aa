/*
 * socket.c: sockets owned by one executor (kcont/socket.h).
 *
 * The owner is a soft executor.  It alone touches the descriptor, the
 * buffers and the lists of waiting requests.  The descriptor is the
 * socket's endpoint (net/endpoint.h: its source in the owner's engine, the
 * state word, connect and close with linger); the socket is the endpoint's
 * owner and, until a splice or relay is lent it, its user, whose
 * operations (sock_ep) run on the owner's thread.  Other threads reach it through the socket's
 * message port: every request (a send, a blocking read, an accept, ...) is
 * a struct sreq, which embeds the message.  The owner handles a request at
 * once when it can, or parks it on a list until the condition holds; a
 * parked blocking request is abortable, which is how its timeout works.
 *
 * The state bits others read are one atomic word.  Only the owner clears a
 * bit; other threads set KC_SS_CLOSED, KC_SS_CANTSENDMORE and
 * KC_SS_CANTRCVMORE (shutdown) and then tell the owner, as seed 003
 * describes.
 *
 * What differs between streams and datagrams is a table of operations
 * (sock_int.h): the stream's is here, the datagram's in sockdgram.c.
 *
 * Lifetime: a reference count.  The caller's reference, one for the open
 * descriptor (its source in the engine), one per request in flight, one
 * for an armed linger timer, and one held around each event the owner
 * handles, so that closing from inside an upcall frees nothing until the
 * stack unwinds.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/event.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kqueue/kqapi.h"
#include "net/sock_int.h"

#define SOCK_MAGIC	((uintptr_t)0x6b63736f636b2121ull)	/* "kcsock!!" */

#define DEF_HIWAT	(256u * 1024u)
#define DEF_LINGER	(5ull * 1000000000ull)

static long sock_live;

static kc_fn upcall_check;
static kc_fn sock_gone;
static const struct kc__ep_ops sock_ep;
static const struct kc__sock_proto sock_stream;
static struct sreq *sreq_new(struct kc_socket *s, enum sop op, struct kc *done);
static kc_port_fn port_fn;
static kc_port_abort_fn port_abort;
static void sock_input(struct kc_socket *s);
static void sock_output(struct kc_socket *s);
static void sock_finalize(struct kc_socket *s);
static void handle(struct kc_socket *s, struct sreq *r);

static inline bool
sock_valid(const struct kc_socket *s)
{
	return s != NULL && s->so_magic == (SOCK_MAGIC ^ (uintptr_t)s);
}

static void
sock_ref(struct kc_socket *s)
{
	KC__ADD(&s->so_refs, 1u);
}

/*
 * The last reference is gone.  The socket's port goes first: its drain
 * may still be running (this is often called from inside it) or be
 * queued on the owner, so the memory waits for the port's end, which
 * calls sock_gone() (on the owner, or here when the owner has stopped).
 */
static void
sock_free(struct kc_socket *s)
{
	(void)kc_port_close(&s->so_port, &s->so_gone);
}

/* The port has ended: the rest goes, then the close's done is triggered. */
static void
sock_gone(void *obj, void *env, int status)
{
	struct kc_socket *s = env;
	struct kc *done = s->so_done;
	uintptr_t name = (uintptr_t)s;	/* done's obj: only a name by then */
	int i;

	(void)obj;
	(void)status;
	(void)kc_cancel_sync(&s->so_ukc);
	kc__ep_fini(&s->so_ep);
	free(s->so_closereq);
	for (i = 0; i < 3; i++)
		(void)kc_run_all(&s->so_q[i], s, -ECANCELED);
	kc_chain_free(&s->so_rcv);
	kc_chain_free(&s->so_snd);
	s->so_proto->sp_drop(s, true);
	s->so_proto->sp_drop(s, false);
	free(s->so_scratch);
	s->so_magic = 0;
	free(s);
	__atomic_sub_fetch(&sock_live, 1, __ATOMIC_SEQ_CST);
	kc__close_done(done, name);
}

static void
sock_unref(struct kc_socket *s)
{
	if (__atomic_sub_fetch(&s->so_refs, 1u, __ATOMIC_ACQ_REL) == 0)
		sock_free(s);
}

long
kc_socket_count(void)
{
	return __atomic_load_n(&sock_live, __ATOMIC_ACQUIRE);
}

/* Buffer accounting, readable from any thread. */
/* The owner's waiting requests: a list per kind, first come first served. */
static void
rl_push(struct kc__list *l, struct sreq *r)
{
	kc__list_push_tail(l, &r->r_link);
	r->r_list = l;
	r->r_parked = true;
}

static struct sreq *
rl_first(struct kc__list *l)
{
	return KC__LIST_FIRST(l, struct sreq, r_link);
}

static void
rl_remove(struct sreq *r)
{
	kc__list_remove(r->r_list, &r->r_link);
	r->r_list = NULL;
	r->r_parked = false;
}

static struct sreq *
rl_pop(struct kc__list *l)
{
	struct sreq *r = rl_first(l);

	if (r != NULL)
		rl_remove(r);
	return r;
}

/*
 * Answer a request.  An asynchronous one runs its caller's continuation
 * from the message's reply (reply_async); a blocked caller wakes.
 */
static void
answer(struct sreq *r, int status)
{
	(void)kc_msg_reply(&r->r_msg, status);
}

static void
reply_async(void *obj, void *env, int status)
{
	struct sreq *r = obj;
	struct kc_socket *s = r->r_sock;

	(void)env;
	switch (r->r_op) {
	case OP_ACCEPT:
		if (r->r_done != NULL)
			(void)kc_run(r->r_done, r->r_new,
			    r->r_new != NULL ? 0 : (status < 0 ? status :
			    -ECANCELED));
		else if (r->r_new != NULL)
			(void)kc_socket_close(r->r_new, NULL);
		break;
	case OP_SENDFILE:
		/* *sent first; the file is held until done has been run. */
		kc__sf_reply(r);
		if (r->r_done != NULL)
			(void)kc_run(r->r_done, s, status);
		kc__sf_free(r);
		break;
	default:
		if (r->r_done != NULL)
			(void)kc_run(r->r_done, s, status > 0 ? 0 : status);
		break;
	}
	kc_chain_free(&r->r_chain);
	free(r);
	sock_unref(s);
}

/* Fire an upcall queue; the socket stays alive while they run. */
static void
upcall(struct kc_socket *s, int which, int status)
{
	(void)kc_run_all(&s->so_q[which - 1], s, status);
}

static bool
readable_now(const struct kc_socket *s)
{
	unsigned st = st_load(s);

	if (st & (KC_SS_CANTRCVMORE | KC_SS_ERROR))
		return true;
	if (st & KC_SS_LISTENING)
		return false;
	return s->so_proto->sp_readable(s);
}

static bool
writable_now(const struct kc_socket *s)
{
	unsigned st = st_load(s);

	if (st & (KC_SS_CANTSENDMORE | KC_SS_ERROR | KC_SS_CLOSED))
		return true;
	if (is_stream(s) && !(st & KC_SS_CONNECTED))
		return false;
	return s->so_sndbytes <= s->so_attr.snd_lowat && s->so_sf == NULL &&
	    kc__list_empty(&s->so_writers);
}

static bool
closed_now(const struct kc_socket *s)
{
	unsigned st = st_load(s);

	return (st & (KC_SS_ERROR | KC_SS_CLOSED)) ||
	    ((st & KC_SS_CANTRCVMORE) && (st & KC_SS_CANTSENDMORE) &&
	    s->so_sndbytes == 0 && s->so_sf == NULL);
}

/* ------------------------------------------------------------------ */
/* Creating. */

static int
sock_new(struct kc_socket **sp, struct kc_executor *owner, int fd,
    int domain, int type, const struct kc_socket_attr *attr, unsigned state)
{
	struct kc_socket *s;
	int r, i, listening = 0;
	socklen_t sl = sizeof(listening);

	if (kc__exec_engine(owner) == NULL)
		return -EINVAL;
	if (kc__exec_closed(owner))
		return -ESHUTDOWN;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->so_proto = type == SOCK_STREAM ? &sock_stream : &kc__sock_dgram;
	s->so_owner = owner;
	s->so_refs = 2;		/* the caller's and the descriptor's */
	if (attr != NULL)
		s->so_attr = *attr;
	if (s->so_attr.rcv_hiwat == 0)
		s->so_attr.rcv_hiwat = DEF_HIWAT;
	if (s->so_attr.rcv_lowat == 0)
		s->so_attr.rcv_lowat = 1;
	if (s->so_attr.snd_hiwat == 0)
		s->so_attr.snd_hiwat = DEF_HIWAT;
	if (s->so_attr.snd_lowat == 0)
		s->so_attr.snd_lowat = s->so_attr.snd_hiwat / 2;
	if (s->so_attr.linger_ns == 0)
		s->so_attr.linger_ns = DEF_LINGER;
	if (s->so_attr.rcv_lowat > s->so_attr.rcv_hiwat ||
	    s->so_attr.snd_lowat > s->so_attr.snd_hiwat) {
		free(s);
		return -EINVAL;
	}
	for (i = 0; i < 3; i++)
		kc_queue_init(&s->so_q[i]);
	kc_chain_init(&s->so_rcv);
	kc_chain_init(&s->so_snd);
	if ((r = kc_port_init(&s->so_port, owner, port_fn, port_abort,
	    s)) != 0 ||
	    (r = kc_init(&s->so_ukc, upcall_check, s, owner, 0)) != 0 ||
	    (r = kc_init(&s->so_gone, sock_gone, s, NULL, 0)) != 0) {
		free(s);
		return r;
	}
	/* On failure below, the port has had no message: nothing to close. */
	if ((s->so_closereq = sreq_new(s, OP_CLOSE, NULL)) == NULL) {
		free(s);
		return -ENOMEM;
	}
	if (type == SOCK_STREAM && domain != AF_UNIX) {
		int one = 1;

		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &sl) == 0 &&
	    listening)
		state |= KC_SS_LISTENING;
	s->so_magic = SOCK_MAGIC ^ (uintptr_t)s;
	/* Registered last: its events may come as soon as it is. */
	r = kc__ep_init(&s->so_ep, owner, fd, domain, type, state,
	    s->so_attr.linger_ns, &sock_ep, s);
	if (r != 0) {
		s->so_magic = 0;
		free(s->so_scratch);
		free(s->so_closereq);
		free(s);
		return r;
	}
	__atomic_add_fetch(&sock_live, 1, __ATOMIC_SEQ_CST);
	*sp = s;
	return 0;
}

int
kc_socket_create(struct kc_socket **sp, struct kc_executor *owner,
    int domain, int type, const struct kc_socket_attr *attr)
{
	int fd, r;

	if (sp == NULL || owner == NULL || !kc__exec_soft(owner))
		return -EINVAL;
	if ((domain != AF_INET && domain != AF_INET6 && domain != AF_UNIX) ||
	    (type != SOCK_STREAM && type != SOCK_DGRAM))
		return -EINVAL;
	fd = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if ((r = sock_new(sp, owner, fd, domain, type, attr, 0)) != 0)
		kc__close(fd);
	return r;
}

int
kc_socket_adopt(struct kc_socket **sp, struct kc_executor *owner, int fd,
    const struct kc_socket_attr *attr)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int type = 0, r, fl;
	socklen_t tl = sizeof(type);
	unsigned st = 0;

	if (sp == NULL || owner == NULL || !kc__exec_soft(owner) || fd < 0) {
		if (fd >= 0)
			kc__close(fd);
		return -EINVAL;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
		r = errno == ENOTSOCK ? -ENOTSOCK : -errno;
		kc__close(fd);
		return r;
	}
	if ((ss.ss_family != AF_INET && ss.ss_family != AF_INET6 &&
	    ss.ss_family != AF_UNIX) ||
	    (type != SOCK_STREAM && type != SOCK_DGRAM)) {
		kc__close(fd);
		return -EINVAL;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
		r = -errno;
		kc__close(fd);
		return r;
	}
	{
		struct sockaddr_storage peer;
		socklen_t pl = sizeof(peer);

		if (getpeername(fd, (struct sockaddr *)&peer, &pl) == 0)
			st = KC_SS_CONNECTED;
	}
	if ((r = sock_new(sp, owner, fd, ss.ss_family, type, attr, st)) != 0) {
		kc__close(fd);
		return r;
	}
	return 0;
}

int
kc_socket_bind(struct kc_socket *s, const struct kc_sockaddr *a)
{
	int one = 1;

	if (!sock_valid(s) || a == NULL || a->len == 0)
		return -EINVAL;
	if (st_load(s) & KC_SS_CLOSED)
		return -EBADF;
	if (a->a.sa.sa_family != s->so_ep.ep_domain)
		return -EAFNOSUPPORT;
	if (s->so_ep.ep_domain != AF_UNIX && s->so_ep.ep_type == SOCK_STREAM)
		(void)setsockopt(so_fd(s), SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof(one));
	if (bind(so_fd(s), &a->a.sa, a->len) != 0)
		return -errno;
	return 0;
}

int
kc_socket_listen(struct kc_socket *s, int backlog)
{
	if (!sock_valid(s) || !is_stream(s))
		return -EINVAL;
	if (st_load(s) & KC_SS_CLOSED)
		return -EBADF;
	if (st_load(s) & (KC_SS_CONNECTED | KC_SS_CONNECTING))
		return -EISCONN;
	if (listen(so_fd(s), backlog) != 0)
		return -errno;
	st_set(s, KC_SS_LISTENING);
	return 0;
}

int
kc_socket_name(struct kc_socket *s, struct kc_sockaddr *a, int peer)
{
	int r;

	if (!sock_valid(s) || a == NULL)
		return -EINVAL;
	if (st_load(s) & KC_SS_CLOSED)
		return -EBADF;
	memset(a, 0, sizeof(*a));
	a->len = sizeof(a->a);
	r = peer ? getpeername(so_fd(s), &a->a.sa, &a->len) :
	    getsockname(so_fd(s), &a->a.sa, &a->len);
	return r == 0 ? 0 : -errno;
}

unsigned
kc_socket_state(const struct kc_socket *s)
{
	return sock_valid(s) ? st_load(s) : 0;
}

int
kc_socket_error(const struct kc_socket *s)
{
	return sock_valid(s) ? __atomic_load_n(&s->so_ep.ep_error, __ATOMIC_ACQUIRE) :
	    -EINVAL;
}

size_t
kc_socket_rcvbytes(const struct kc_socket *s)
{
	return sock_valid(s) ? __atomic_load_n(&s->so_rcvbytes,
	    __ATOMIC_RELAXED) : 0;
}

size_t
kc_socket_sndbytes(const struct kc_socket *s)
{
	return sock_valid(s) ? __atomic_load_n(&s->so_sndbytes,
	    __ATOMIC_RELAXED) : 0;
}

struct kc_executor *
kc_socket_owner(const struct kc_socket *s)
{
	return sock_valid(s) ? s->so_owner : NULL;
}

/* ------------------------------------------------------------------ */
/* The owner: errors, input, output. */

/* Answer every parked request of a list with status. */
static void
fail_list(struct kc__list *l, int status)
{
	struct sreq *r;

	while ((r = rl_pop(l)) != NULL)
		answer(r, status);
}

static void serve_readers(struct kc_socket *s);

/* The connection failed: everything waiting learns it. */
void
kc__sock_error(struct kc_socket *s, int err)
{
	int zero = 0;

	SOCK_ON_OWNER(s);
	(void)__atomic_compare_exchange_n(&s->so_ep.ep_error, &zero, err, false,
	    __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE);
	st_set(s, KC_SS_ERROR | KC_SS_CANTSENDMORE | KC_SS_CANTRCVMORE);
	st_clear(s, KC_SS_CONNECTING);
	s->so_rstopped = false;
	kc_chain_free(&s->so_snd);
	s->so_proto->sp_drop(s, false);
	__atomic_store_n(&s->so_sndbytes, 0, __ATOMIC_RELAXED);
	kc__sf_fail(s, err);
	fail_list(&s->so_writers, err);
	fail_list(&s->so_acceptors, err);
	if (s->so_connreq != NULL) {
		struct sreq *r = s->so_connreq;

		s->so_connreq = NULL;
		answer(r, err);
	}
	serve_readers(s);
	upcall(s, KC_SO_READABLE, err);
	upcall(s, KC_SO_WRITABLE, err);
	upcall(s, KC_SO_CLOSED, err);
	if (s->so_closing)
		sock_finalize(s);
}

/* Move what a reader may take from the receive buffer; see recv. */
static ssize_t
take(struct kc_socket *s, struct kc_chain *into, size_t max,
    struct kc_sockaddr *from)
{
	SOCK_ON_OWNER(s);
	return s->so_proto->sp_take(s, into, max, from);
}

static void
serve_readers(struct kc_socket *s)
{
	struct sreq *r;

	while ((r = rl_first(&s->so_readers)) != NULL) {
		ssize_t n = take(s, &r->r_chain, r->r_max,
		    r->r_hasaddr ? &r->r_addr : NULL);

		if (n == -EAGAIN)
			break;
		(void)rl_pop(&s->so_readers);
		answer(r, (int)(n > INT32_MAX ? INT32_MAX : n));
	}
}

/* After the receive buffer lost bytes: read again if it had stopped. */
static void
rcv_drained(struct kc_socket *s)
{
	if (s->so_rstopped && s->so_rcvbytes < s->so_attr.rcv_hiwat) {
		s->so_rstopped = false;
		sock_input(s);
	}
}

static void
accept_ready(struct kc_socket *s)
{
	struct sreq *r;

	while ((r = rl_first(&s->so_acceptors)) != NULL) {
		struct kc_socket *ns;
		int fd, err;

		fd = accept4(so_fd(s), NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			err = errno;
			if (err == EAGAIN || err == EINTR)
				return;
			if (err == ECONNABORTED || err == EPROTO)
				continue;
			/* EMFILE and the like: the request learns it. */
			(void)rl_pop(&s->so_acceptors);
			answer(r, -err);
			continue;
		}
		err = sock_new(&ns, r->r_owner, fd, s->so_ep.ep_domain, SOCK_STREAM,
		    &s->so_attr, KC_SS_CONNECTED);
		(void)rl_pop(&s->so_acceptors);
		if (err != 0) {
			kc__close(fd);
			answer(r, err);
			continue;
		}
		(void)KC__TR3(KC_TR_SOCK_ACCEPT, s, ns, fd);
		r->r_new = ns;
		answer(r, 0);
	}
}

static void
stream_input(struct kc_socket *s)
{
	int i;

	for (i = 0; i < READ_BATCH; i++) {
		struct iovec iov;
		size_t want;
		ssize_t n;

		if (s->so_rcvbytes >= s->so_attr.rcv_hiwat) {
			s->so_rstopped = true;
			return;
		}
		want = s->so_attr.rcv_hiwat - s->so_rcvbytes;
		if ((n = kc_chain_room(&s->so_rcv, 0, &iov)) != 0)
			return;		/* no memory: the next edge retries */
		if (iov.iov_len > want)
			iov.iov_len = want;
		n = read(so_fd(s), iov.iov_base, iov.iov_len);
		if (n < 0)
			n = -errno;
		if (n > 0) {
			(void)KC__TR3(KC_TR_SOCK_RECV, s, so_fd(s), n);
			(void)kc_chain_commit(&s->so_rcv, (size_t)n);
			rcv_add(s, n);
			/*
			 * A short read took all there was: the next edge says
			 * more.  Not so once the peer has shut: no edge will
			 * come for the end of file.
			 */
			if ((size_t)n < iov.iov_len && !s->so_ep.ep_rdhup)
				return;
			continue;
		}
		if (n == 0) {
			st_set(s, KC_SS_CANTRCVMORE);
			return;
		}
		if (n == -EAGAIN || n == -EINTR)
			return;
		kc__sock_error(s, (int)n);
		return;
	}
	kc__sock_more_later(s);
}

/* The stream protocol: the receive and send buffers are byte chains. */

static ssize_t
stream_take(struct kc_socket *s, struct kc_chain *into, size_t max,
    struct kc_sockaddr *from)
{
	unsigned st = st_load(s);
	ssize_t n;

	if (s->so_rcvbytes == 0) {
		if (st & KC_SS_ERROR)
			return __atomic_load_n(&s->so_ep.ep_error, __ATOMIC_ACQUIRE);
		return (st & KC_SS_CANTRCVMORE) ? 0 : -EAGAIN;
	}
	if (max > (size_t)SSIZE_MAX)
		max = SSIZE_MAX;
	if (max >= s->so_rcvbytes) {
		n = (ssize_t)s->so_rcvbytes;
		kc_chain_concat(into, &s->so_rcv);
	} else {
		struct kc_chain rest = KC_CHAIN_INITIALIZER;

		/* The first max bytes go; so_rcv keeps the rest. */
		if (kc_chain_reserve(&s->so_rcv, 1) != 0)
			return -ENOMEM;
		(void)kc_chain_split(&s->so_rcv, max, &rest);
		kc_chain_concat(into, &s->so_rcv);
		kc_chain_concat(&s->so_rcv, &rest);
		kc_chain_free(&rest);
		n = (ssize_t)max;
	}
	rcv_add(s, -n);
	if (from != NULL)
		memset(from, 0, sizeof(*from));
	return n;
}

static bool
stream_readable(const struct kc_socket *s)
{
	return s->so_rcvbytes >= s->so_attr.rcv_lowat && s->so_rcvbytes > 0;
}

static int
stream_send_check(const struct kc_socket *s, const struct kc_chain *c,
    const struct kc_sockaddr *to, unsigned st)
{
	(void)s;
	(void)c;
	(void)to;
	if (!(st & (KC_SS_CONNECTED | KC_SS_CONNECTING)))
		return -ENOTCONN;
	return 0;
}

static int
stream_queue(struct kc_socket *s, struct kc_chain *c,
    const struct kc_sockaddr *to)
{
	size_t len = kc_chain_len(c);

	(void)to;
	kc_chain_concat(&s->so_snd, c);
	snd_add(s, (ssize_t)len);
	return 0;
}

static bool
stream_output(struct kc_socket *s)
{
	while (s->so_sndbytes > 0) {
		ssize_t n = kc_chain_write(&s->so_snd, so_fd(s));

		if (n > 0) {
			(void)KC__TR3(KC_TR_SOCK_SEND, s, so_fd(s), n);
			snd_add(s, -n);
			continue;
		}
		if (n == -EAGAIN) {
			s->so_wblocked = true;
			kc__ep_want_write(&s->so_ep, true);
			break;
		}
		if (n == -EINTR)
			continue;
		kc__sock_error(s, n == 0 ? -EPIPE : (int)n);
		return false;
	}
	/* A file range goes once the bytes queued before it have. */
	if (s->so_sf != NULL && !s->so_wblocked)
		return kc__sf_output(s);
	return true;
}

/* A stream keeps no records: its buffers are the chains alone. */
static void
stream_drop(struct kc_socket *s, bool rcv)
{
	(void)s;
	(void)rcv;
}

static const struct kc__sock_proto sock_stream = {
	.sp_stream = true,
	.sp_input = stream_input,
	.sp_take = stream_take,
	.sp_readable = stream_readable,
	.sp_send_check = stream_send_check,
	.sp_queue = stream_queue,
	.sp_output = stream_output,
	.sp_drop = stream_drop,
};

static void
sock_input(struct kc_socket *s)
{
	unsigned st = st_load(s);

	SOCK_ON_OWNER(s);
	if (so_final(s))
		return;
	if (st & KC_SS_LISTENING) {
		accept_ready(s);
		return;
	}
	if (st & (KC_SS_CANTRCVMORE | KC_SS_ERROR))
		return;
	/* An unconnected stream socket reports a hang-up: nothing to read. */
	if (is_stream(s) && !(st & KC_SS_CONNECTED))
		return;
	s->so_proto->sp_input(s);
	if (so_final(s))
		return;
	serve_readers(s);
	if (readable_now(s))
		upcall(s, KC_SO_READABLE, kc_socket_error(s));
	if (closed_now(s))
		upcall(s, KC_SO_CLOSED, kc_socket_error(s));
}

/*
 * Take a send into the send buffer (the caller checked for room): a
 * stream's bytes join the buffer, a datagram becomes a record.  0, or
 * -ENOMEM with the chain untouched.
 */
static int
admit(struct kc_socket *s, struct kc_chain *c, const struct kc_sockaddr *to)
{
	SOCK_ON_OWNER(s);
	return s->so_proto->sp_queue(s, c, to);
}

/* A request's send into the buffer, answered with its length or the error. */
static bool
admit_req(struct kc_socket *s, struct sreq *r)
{
	size_t len = kc_chain_len(&r->r_chain);
	int e = admit(s, &r->r_chain, r->r_hasaddr ? &r->r_addr : NULL);

	if (e != 0) {
		answer(r, e);
		return false;
	}
	r->r_taken = true;
	answer(r, (int)(len > INT32_MAX ? INT32_MAX : len));
	return true;
}

static bool
has_room(const struct kc_socket *s)
{
	return s->so_sf == NULL && s->so_sndbytes < s->so_attr.snd_hiwat;
}

/* Admit waiting sends while there is room; true if any was. */
static bool
admit_writers(struct kc_socket *s)
{
	struct sreq *r;
	bool any = false;

	if (kc__list_empty(&s->so_writers) ||
	    s->so_sndbytes > s->so_attr.snd_lowat)
		return false;
	while ((r = rl_first(&s->so_writers)) != NULL && has_room(s)) {
		(void)rl_pop(&s->so_writers);
		if (r->r_op == OP_SENDFILE) {
			kc__sf_start(s, r);
			any = true;
		} else if (admit_req(s, r)) {
			any = true;
		}
	}
	return any;
}

static void
sock_output(struct kc_socket *s)
{
	SOCK_ON_OWNER(s);
	if (so_final(s) || (st_load(s) & KC_SS_ERROR))
		return;
	if (is_stream(s) && !(st_load(s) & KC_SS_CONNECTED))
		return;
	s->so_wblocked = false;
	for (;;) {
		if (!s->so_proto->sp_output(s))
			return;
		if (s->so_wblocked || !admit_writers(s))
			break;
	}
	if (s->so_sndbytes == 0 && s->so_sf == NULL &&
	    kc__list_empty(&s->so_writers)) {
		if (s->so_shutwr) {
			s->so_shutwr = false;
			kc__ep_shutdown(&s->so_ep, SHUT_WR);
		}
		if (s->so_closing) {
			sock_finalize(s);
			return;
		}
	}
	if (writable_now(s))
		upcall(s, KC_SO_WRITABLE, kc_socket_error(s));
	if (closed_now(s))
		upcall(s, KC_SO_CLOSED, kc_socket_error(s));
}

/* ------------------------------------------------------------------ */
/* The endpoint's events, when the socket is its user (and its owner). */

/*
 * The endpoint fetched (and so cleared) the socket's pending error into
 * fflags: it is ours to report, a read would no longer see it.
 */
static bool
ev_error(struct kc_socket *s, const struct kevent *kev)
{
	if (kev == NULL || !(kev->flags & EV_EOF) || kev->fflags == 0 ||
	    (st_load(s) & (KC_SS_LISTENING | KC_SS_CONNECTING)) || so_final(s))
		return false;
	if (is_stream(s)) {
		/*
		 * Data that arrived before the reset is still delivered: read
		 * it, then fail the socket (readers get the data first).
		 */
		if (!(st_load(s) & (KC_SS_CANTRCVMORE | KC_SS_ERROR)) &&
		    (st_load(s) & KC_SS_CONNECTED))
			stream_input(s);
		if (!(st_load(s) & KC_SS_ERROR))
			kc__sock_error(s, -(int)kev->fflags);
		return true;
	}
	return false;
}

static void
sock_ep_read(struct kc__ep *ep, void *arg, const struct kevent *kev)
{
	struct kc_socket *s = arg;

	(void)ep;
	SOCK_ON_OWNER(s);
	if (!ev_error(s, kev))
		sock_input(s);
}

/*
 * Room to write.  While the endpoint is lent this runs first, for what the
 * send buffer held before, and the borrower sees the descriptor's error.
 */
static void
sock_ep_write(struct kc__ep *ep, void *arg, const struct kevent *kev)
{
	struct kc_socket *s = arg;

	SOCK_ON_OWNER(s);
	if (ep->ep_user == ep->ep_own && ev_error(s, kev))
		return;
	if (s->so_wblocked || s->so_sndbytes > 0 || s->so_sf != NULL)
		sock_output(s);
}

static void
sock_ep_connected(struct kc__ep *ep, void *arg, int err)
{
	struct kc_socket *s = arg;
	struct sreq *r = s->so_connreq;

	(void)ep;
	SOCK_ON_OWNER(s);
	s->so_connreq = NULL;
	if (err != 0) {
		kc__sock_error(s, err);
		if (r != NULL)
			answer(r, err);
		return;
	}
	if (r != NULL)
		answer(r, 0);
	sock_output(s);
}

static void
sock_ep_hold(void *arg)
{
	sock_ref(arg);
}

static void
sock_ep_rele(void *arg)
{
	sock_unref(arg);
}

static bool
sock_ep_pending(void *arg)
{
	const struct kc_socket *s = arg;

	return (s->so_sndbytes > 0 || s->so_sf != NULL) &&
	    !(st_load(s) & KC_SS_ERROR);
}

/* The descriptor is gone, and the descriptor's reference with it. */
static void
sock_ep_closed(struct kc__ep *ep, void *arg)
{
	struct kc_socket *s = arg;

	(void)ep;
	kc_chain_free(&s->so_snd);
	__atomic_store_n(&s->so_sndbytes, 0, __ATOMIC_RELAXED);
	kc__sf_fail(s, kc__ep_error(ep) != 0 ? kc__ep_error(ep) : -ECANCELED);
	sock_unref(s);
}

static const struct kc__ep_ops sock_ep = {
	.eo_read = sock_ep_read,
	.eo_write = sock_ep_write,
	.eo_connected = sock_ep_connected,
	.eo_hold = sock_ep_hold,
	.eo_rele = sock_ep_rele,
	.eo_pending = sock_ep_pending,
	.eo_closed = sock_ep_closed,
};
/* Someone else added an upcall: fire what holds now. */
static void
upcall_check(void *obj, void *env, int status)
{
	struct kc_socket *s = env;
	uint32_t n = kc_coalesced();

	SOCK_ON_OWNER(s);
	(void)obj;
	(void)status;
	sock_ref(s);
	if (readable_now(s))
		upcall(s, KC_SO_READABLE, kc_socket_error(s));
	if (writable_now(s))
		upcall(s, KC_SO_WRITABLE, kc_socket_error(s));
	if (closed_now(s))
		upcall(s, KC_SO_CLOSED, kc_socket_error(s));
	while (n-- > 0)
		sock_unref(s);
	sock_unref(s);
}

/* ------------------------------------------------------------------ */
/* Requests, on the owner. */

/*
 * Can this send go?  At call time the state word decides; the owner,
 * handling requests in order, goes by what it has itself taken (a shutdown
 * or close requested after a send must not fail that send).
 */
static int
send_check(struct kc_socket *s, struct kc_chain *c,
    const struct kc_sockaddr *to, bool owner)
{
	unsigned st = st_load(s);

	if (owner ? s->so_closing : (st & KC_SS_CLOSED))
		return -EPIPE;
	if (st & KC_SS_ERROR)
		return kc_socket_error(s);
	if (owner ? s->so_wshut : (st & KC_SS_CANTSENDMORE))
		return -EPIPE;
	return s->so_proto->sp_send_check(s, c, to, st);
}

/* A send on the owner: into the buffer, or park r (which has the data). */
static void
do_send(struct kc_socket *s, struct sreq *r)
{
	int e = send_check(s, &r->r_chain, r->r_hasaddr ? &r->r_addr : NULL,
	    true);

	if (e != 0) {
		answer(r, e);
		return;
	}
	if (!kc__list_empty(&s->so_writers) || !has_room(s)) {
		rl_push(&s->so_writers, r);
		return;
	}
	if (admit_req(s, r) && !s->so_wblocked)
		sock_output(s);
}

/* A file range: after what is queued, or at once (sendfile.c). */
static void
do_sendfile(struct kc_socket *s, struct sreq *r)
{
	int e = send_check(s, NULL, NULL, true);

	if (e != 0) {
		answer(r, e);
		return;
	}
	if (!kc__list_empty(&s->so_writers) || s->so_sf != NULL) {
		rl_push(&s->so_writers, r);
		return;
	}
	kc__sf_start(s, r);
	if (!s->so_wblocked)
		sock_output(s);
}

static void
do_read(struct kc_socket *s, struct sreq *r)
{
	ssize_t n;

	if (!kc__list_empty(&s->so_readers)) {
		rl_push(&s->so_readers, r);
		return;
	}
	n = take(s, &r->r_chain, r->r_max, r->r_hasaddr ? &r->r_addr : NULL);
	if (n == -EAGAIN) {
		rl_push(&s->so_readers, r);
		return;
	}
	answer(r, (int)(n > INT32_MAX ? INT32_MAX : n));
	rcv_drained(s);
}

static void
do_connect(struct kc_socket *s, struct sreq *r)
{
	int before = kc__ep_error(&s->so_ep);
	int e = kc__ep_connect(&s->so_ep, &r->r_addr);

	if (e == 1) {
		s->so_connreq = r;
		return;
	}
	/* Refused at once: the endpoint failed, so does the socket. */
	if (e < 0 && before == 0 && kc__ep_error(&s->so_ep) != 0)
		kc__sock_error(s, e);
	answer(r, e);
	if (e == 0)
		sock_output(s);
}
static void
shut_local(struct kc_socket *s, int how)
{
	SOCK_ON_OWNER(s);
	if (how == SHUT_RD || how == SHUT_RDWR) {
		st_set(s, KC_SS_CANTRCVMORE);
		kc_chain_free(&s->so_rcv);
		s->so_proto->sp_drop(s, true);
		__atomic_store_n(&s->so_rcvbytes, 0, __ATOMIC_RELAXED);
		s->so_rstopped = false;
		kc__ep_shutdown(&s->so_ep, SHUT_RD);
		serve_readers(s);
		upcall(s, KC_SO_READABLE, 0);
	}
	if (how == SHUT_WR || how == SHUT_RDWR) {
		st_set(s, KC_SS_CANTSENDMORE);
		s->so_shutwr = true;
		s->so_wshut = true;
		sock_output(s);
	}
}

/* Close, on the owner: the caller's reference is dropped by the caller. */
static void
close_local(struct kc_socket *s)
{
	SOCK_ON_OWNER(s);
	if (s->so_closing || so_final(s))
		return;
	s->so_closing = true;
	st_set(s, KC_SS_CLOSED | KC_SS_CANTRCVMORE);
	kc_chain_free(&s->so_rcv);
	__atomic_store_n(&s->so_rcvbytes, 0, __ATOMIC_RELAXED);
	fail_list(&s->so_readers, -ECANCELED);
	fail_list(&s->so_writers, -ECANCELED);
	fail_list(&s->so_acceptors, -ECANCELED);
	if (s->so_connreq != NULL) {
		struct sreq *r = s->so_connreq;

		s->so_connreq = NULL;
		answer(r, -ECANCELED);
	}
	upcall(s, KC_SO_READABLE, -ECANCELED);
	upcall(s, KC_SO_WRITABLE, -ECANCELED);
	upcall(s, KC_SO_CLOSED, -ECANCELED);
	if (so_final(s))
		return;
	/* A socket still connecting flushes once connected. */
	if ((s->so_sndbytes == 0 && s->so_sf == NULL) ||
	    (st_load(s) & KC_SS_ERROR) ||
	    !(st_load(s) & (KC_SS_CONNECTED | KC_SS_CONNECTING))) {
		sock_finalize(s);
		return;
	}
	/* Flush what the send buffer holds, for at most linger_ns. */
	s->so_shutwr = true;
	kc__ep_linger(&s->so_ep);
	if (!s->so_ep.ep_lingering) {
		sock_finalize(s);
		return;
	}
	sock_output(s);
}

/* The send side is flushed (or given up): the endpoint closes. */
static void
sock_finalize(struct kc_socket *s)
{
	SOCK_ON_OWNER(s);
	kc__ep_close(&s->so_ep);
}
static void
handle(struct kc_socket *s, struct sreq *r)
{
	SOCK_ON_OWNER(s);
	switch (r->r_op) {
	case OP_SEND:
	case OP_WRITE:
		if (so_final(s) || s->so_closing) {
			answer(r, -EPIPE);
			return;
		}
		do_send(s, r);
		return;
	case OP_SENDFILE:
		if (r->r_onowner)
			s->so_sfposted--;
		if (so_final(s) || s->so_closing) {
			answer(r, -EPIPE);
			return;
		}
		do_sendfile(s, r);
		return;
	case OP_READ:
		if (s->so_closing) {
			answer(r, -EBADF);
			return;
		}
		do_read(s, r);
		return;
	case OP_ACCEPT:
		if (s->so_closing || so_final(s)) {
			answer(r, -ECANCELED);
			return;
		}
		rl_push(&s->so_acceptors, r);
		accept_ready(s);
		return;
	case OP_CONNECT:
		if (s->so_closing || so_final(s)) {
			answer(r, -EBADF);
			return;
		}
		do_connect(s, r);
		return;
	case OP_SHUTDOWN:
		if (!so_final(s))
			shut_local(s, r->r_how);
		answer(r, 0);
		return;
	case OP_CLOSE:
		close_local(s);
		answer(r, 0);
		return;
	}
	answer(r, -EINVAL);
}

static void
port_fn(struct kc_port *port, struct kc_msg *msg)
{
	struct kc_socket *s = kc_port_env(port);
	struct sreq *r = (struct sreq *)msg;

	sock_ref(s);
	handle(s, r);
	sock_unref(s);
}

/* A blocked call timed out: take its request off whatever list holds it. */
static void
port_abort(struct kc_port *port, struct kc_msg *msg)
{
	struct kc_socket *s = kc_port_env(port);
	struct sreq *r = (struct sreq *)msg;

	SOCK_ON_OWNER(s);
	if (!r->r_parked)
		return;
	if (r->r_list != NULL) {
		rl_remove(r);
		answer(r, -ECANCELED);
		return;
	}
	if (s->so_connreq == r) {
		s->so_connreq = NULL;
		r->r_parked = false;
		answer(r, -ECANCELED);
	}
}

/* ------------------------------------------------------------------ */
/* The calls. */

static struct sreq *
sreq_new(struct kc_socket *s, enum sop op, struct kc *done)
{
	struct sreq *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	if (kc_msg_init(&r->r_msg, reply_async, NULL, NULL, 0) != 0) {
		free(r);
		return NULL;
	}
	kc_chain_init(&r->r_chain);
	r->r_sock = s;
	r->r_op = op;
	r->r_done = done;
	return r;
}

/* Send an asynchronous request; on failure it is freed and -EPIPE returned. */
static int
sreq_post(struct kc_socket *s, struct sreq *r)
{
	int e;

	sock_ref(s);
	if ((e = kc_msg_send(&s->so_port, &r->r_msg)) != 0) {
		sock_unref(s);
		return e == -ESHUTDOWN ? -EPIPE : e;
	}
	return 0;
}

/* A blocking request: a message to the owner, waited for. */
static int
sreq_wait(struct kc_socket *s, struct sreq *r, uint64_t timeout_ns)
{
	int e;

	if (on_owner(s))
		return -EDEADLK;
	if ((e = kc_msg_init(&r->r_msg, NULL, NULL, NULL,
	    KC_MSG_ABORTABLE)) != 0)
		return e;
	r->r_sock = s;
	sock_ref(s);
	e = kc_msg_do(&s->so_port, &r->r_msg, timeout_ns);
	/* A timeout aborts the message; a close cancels it. */
	if (e == -ECANCELED && !(st_load(s) & KC_SS_CLOSED))
		e = -ETIMEDOUT;
	sock_unref(s);
	if (e == -ESHUTDOWN)
		e = -EBADF;
	return e;
}

int
kc_socket_send(struct kc_socket *s, struct kc_chain *chain,
    const struct kc_sockaddr *to, struct kc *done)
{
	struct sreq *r;
	int e;

	if (!sock_valid(s) || chain == NULL)
		return -EINVAL;
	if ((e = send_check(s, chain, to, false)) != 0)
		return e;
	if (on_owner(s) && kc__list_empty(&s->so_writers) && has_room(s) &&
	    !s->so_closing && s->so_sfposted == 0) {
		/*
		 * The fast path: straight into the buffer, written now (not
		 * past a range the owner posted and has not yet handled).
		 */
		if ((e = admit(s, chain, to)) != 0)
			return e;
		if (!s->so_wblocked)
			sock_output(s);	/* a connecting stream waits inside */
		if (done != NULL)
			(void)kc_run(done, s, 0);
		return 0;
	}
	if ((r = sreq_new(s, OP_SEND, done)) == NULL)
		return -ENOMEM;
	if (to != NULL) {
		r->r_addr = *to;
		r->r_hasaddr = true;
	}
	kc_chain_concat(&r->r_chain, chain);
	/* Elsewhere, or behind sends already waiting: a request, in order. */
	if ((e = sreq_post(s, r)) != 0) {
		kc_chain_concat(chain, &r->r_chain);
		free(r);
		return e;
	}
	return 0;
}

ssize_t
kc_socket_recv(struct kc_socket *s, struct kc_chain *into, size_t max,
    struct kc_sockaddr *from)
{
	if (!sock_valid(s) || into == NULL)
		return -EINVAL;
	if (!on_owner(s))
		return -EPERM;
	if (s->so_closing)
		return -EBADF;
	return kc__socket_take(s, into, max, from);
}

int
kc_socket_upcall(struct kc_socket *s, int which, struct kc *kc)
{
	bool now;
	int e;

	if (!sock_valid(s) || which < KC_SO_READABLE || which > KC_SO_CLOSED)
		return -EINVAL;
	if ((e = kc_enqueue(&s->so_q[which - 1], kc)) != 0)
		return e;
	if (!on_owner(s)) {
		/* The owner looks: the buffers are its alone. */
		sock_ref(s);
		if (kc_run(&s->so_ukc, s, 0) != 0)
			sock_unref(s);
		return 0;
	}
	switch (which) {
	case KC_SO_READABLE:
		now = readable_now(s);
		break;
	case KC_SO_WRITABLE:
		now = writable_now(s);
		break;
	default:
		now = closed_now(s);
		break;
	}
	if (now)
		upcall(s, which, kc_socket_error(s));
	return 0;
}

int
kc_socket_connect(struct kc_socket *s, const struct kc_sockaddr *a,
    struct kc *done)
{
	struct sreq *r;
	int e;

	if (!sock_valid(s) || a == NULL || a->len == 0)
		return -EINVAL;
	if (st_load(s) & KC_SS_CLOSED)
		return -EBADF;
	if (st_load(s) & KC_SS_CONNECTING)
		return -EALREADY;
	if ((st_load(s) & KC_SS_CONNECTED) && is_stream(s))
		return -EISCONN;
	if (a->a.sa.sa_family != s->so_ep.ep_domain)
		return -EAFNOSUPPORT;
	/* Connecting is rare: always a request, answered on the owner. */
	if ((r = sreq_new(s, OP_CONNECT, done)) == NULL)
		return -ENOMEM;
	r->r_addr = *a;
	if ((e = sreq_post(s, r)) != 0) {
		free(r);
		return e == -EPIPE ? -EBADF : e;
	}
	return 0;
}

int
kc_socket_accept(struct kc_socket *s, struct kc_executor *owner,
    struct kc *done)
{
	struct sreq *r;
	int e;

	if (!sock_valid(s) || owner == NULL || !kc__exec_soft(owner))
		return -EINVAL;
	if (st_load(s) & KC_SS_CLOSED)
		return -EBADF;
	if (!(st_load(s) & KC_SS_LISTENING))
		return -EINVAL;
	if ((r = sreq_new(s, OP_ACCEPT, done)) == NULL)
		return -ENOMEM;
	r->r_owner = owner;
	if ((e = sreq_post(s, r)) != 0) {
		free(r);
		return e == -EPIPE ? -EBADF : e;
	}
	return 0;
}

ssize_t
kc_socket_recv_wait(struct kc_socket *s, struct kc_chain *into, size_t max,
    struct kc_sockaddr *from, uint64_t timeout_ns)
{
	struct sreq r;
	int e;

	if (!sock_valid(s) || into == NULL)
		return -EINVAL;
	memset(&r, 0, sizeof(r));
	kc_chain_init(&r.r_chain);
	r.r_op = OP_READ;
	r.r_max = max > INT32_MAX ? INT32_MAX : max;
	r.r_hasaddr = from != NULL;
	e = sreq_wait(s, &r, timeout_ns);
	if (kc_chain_len(&r.r_chain) > 0 || (e >= 0 && !is_stream(s))) {
		/* Data reached us, even if the timeout raced it. */
		e = (int)kc_chain_len(&r.r_chain);
		kc_chain_concat(into, &r.r_chain);
		if (from != NULL)
			*from = r.r_addr;
	}
	kc_chain_free(&r.r_chain);
	return e;
}

ssize_t
kc_socket_send_wait(struct kc_socket *s, struct kc_chain *chain,
    const struct kc_sockaddr *to, uint64_t timeout_ns)
{
	struct sreq r;
	size_t len;
	int e;

	if (!sock_valid(s) || chain == NULL)
		return -EINVAL;
	if ((e = send_check(s, chain, to, false)) != 0)
		return e;
	memset(&r, 0, sizeof(r));
	kc_chain_init(&r.r_chain);
	r.r_op = OP_WRITE;
	if (to != NULL) {
		r.r_addr = *to;
		r.r_hasaddr = true;
	}
	len = kc_chain_len(chain);
	kc_chain_concat(&r.r_chain, chain);
	e = sreq_wait(s, &r, timeout_ns);
	if (!r.r_taken)		/* not taken: the caller gets its chain back */
		kc_chain_prepend_chain(chain, &r.r_chain);
	kc_chain_free(&r.r_chain);	/* spare views */
	if (r.r_taken)
		return (ssize_t)len;	/* taken, even if the timeout raced it */
	return e >= 0 ? -EIO : e;
}

int
kc_socket_accept_wait(struct kc_socket *s, struct kc_executor *owner,
    struct kc_socket **newp, uint64_t timeout_ns)
{
	struct sreq r;
	int e;

	if (!sock_valid(s) || owner == NULL || newp == NULL ||
	    !kc__exec_soft(owner))
		return -EINVAL;
	if (!(st_load(s) & KC_SS_LISTENING))
		return -EINVAL;
	memset(&r, 0, sizeof(r));
	kc_chain_init(&r.r_chain);
	r.r_op = OP_ACCEPT;
	r.r_owner = owner;
	e = sreq_wait(s, &r, timeout_ns);
	if (r.r_new != NULL) {
		*newp = r.r_new;
		return 0;
	}
	*newp = NULL;
	return e == 0 ? -EIO : e;
}

int
kc_socket_connect_wait(struct kc_socket *s, const struct kc_sockaddr *a,
    uint64_t timeout_ns)
{
	struct sreq r;
	int e;

	if (!sock_valid(s) || a == NULL || a->len == 0)
		return -EINVAL;
	memset(&r, 0, sizeof(r));
	kc_chain_init(&r.r_chain);
	r.r_op = OP_CONNECT;
	r.r_addr = *a;
	e = sreq_wait(s, &r, timeout_ns);
	if (e == -ETIMEDOUT && (st_load(s) & KC_SS_CONNECTED))
		e = 0;
	return e;
}

int
kc_socket_shutdown(struct kc_socket *s, int how)
{
	struct sreq *r;
	unsigned st;

	if (!sock_valid(s) ||
	    (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR))
		return -EINVAL;
	st = st_load(s);
	if (st & KC_SS_CLOSED)
		return -EBADF;
	if (is_stream(s) && !(st & KC_SS_CONNECTED))
		return -ENOTCONN;
	if (on_owner(s)) {
		shut_local(s, how);
		return 0;
	}
	/* Set the bits now, so that later calls see them; the owner acts. */
	if (how != SHUT_RD)
		st_set(s, KC_SS_CANTSENDMORE);
	if ((r = sreq_new(s, OP_SHUTDOWN, NULL)) == NULL)
		return -ENOMEM;
	r->r_how = how;
	if (sreq_post(s, r) != 0) {
		free(r);
		return -EBADF;
	}
	return 0;
}

/*
 * Close a socket whose owner refused the close request: it was shut down.
 * Once kc__exec_stopped() says the owner has stopped for good, none of its
 * continuations will ever run again, so this thread does the owner's close
 * itself: what was parked fails with -ECANCELED, the upcalls' waiters are
 * triggered with it (on the stopped owner those triggers fail), what the
 * send buffer holds is dropped (no timer of the owner can linger for it),
 * and the descriptor goes.
 */
static void
orphan_close(struct kc_socket *s)
{
	if (!kc__exec_stopped(s->so_owner))
		return;		/* refusing, never stopped: leave it alone */
	kc__ep_orphan(&s->so_ep);
	sock_ref(s);
	close_local(s);
	sock_unref(s);
}

static int
sock_close(struct kc_socket *s, struct kc *done)
{
	struct sreq *r;
	unsigned st;

	st = __atomic_fetch_or(&s->so_ep.ep_state, KC_SS_CLOSED,
	    __ATOMIC_SEQ_CST);
	if (st & KC_SS_CLOSED)
		return -EBADF;
	/* Read where the last reference goes (sock_gone()), after this. */
	s->so_done = done;
	if (on_owner(s)) {
		sock_ref(s);
		close_local(s);
		sock_unref(s);
	} else {
		/*
		 * The request was made with the socket, so only an owner that
		 * refuses work (shut down) makes the post fail.
		 */
		r = s->so_closereq;
		s->so_closereq = NULL;
		KC__ASSERT(r != NULL);
		if (sreq_post(s, r) != 0) {
			s->so_closereq = r;	/* freed with the socket */
			orphan_close(s);
		}
	}
	sock_unref(s);
	return 0;
}

int
kc_socket_close(struct kc_socket *s, struct kc *done)
{
	if (!sock_valid(s))
		return -EINVAL;
	return sock_close(s, done);
}

/* ------------------------------------------------------------------ */
/* For the objects a socket is lent to (net/socklend.h). */

struct kc__ep *
kc__socket_ep(const struct kc_socket *s)
{
	return sock_valid(s) ? (struct kc__ep *)&s->so_ep : NULL;
}

int
kc__socket_lend(struct kc_socket *s, const struct kc__ep_ops *ops, void *arg)
{
	if (!sock_valid(s) || !on_owner(s))
		return -EINVAL;
	if (ops != NULL && ((st_load(s) & KC_SS_LISTENING) || s->so_closing ||
	    so_final(s)))
		return -EINVAL;
	kc__ep_lend(&s->so_ep, ops, arg);
	/*
	 * A socket that stopped reading at its high-water mark left data in
	 * the kernel that no new edge will announce (the peer may be blocked
	 * on full buffers): the borrower's read side runs once to take it.
	 */
	if (s->so_rstopped && ops != NULL)
		kc__sock_more_later(s);
	s->so_rstopped = false;
	return 0;
}

ssize_t
kc__socket_take(struct kc_socket *s, struct kc_chain *into, size_t max,
    struct kc_sockaddr *from)
{
	ssize_t n = take(s, into, max, from);

	if (n > 0)
		rcv_drained(s);
	return n;
}

void
kc__socket_shutdown(struct kc_socket *s, int how)
{
	SOCK_ON_OWNER(s);
	if (!so_final(s))
		shut_local(s, how);
}

void
kc__socket_close(struct kc_socket *s, bool abort)
{
	if (abort) {
		SOCK_ON_OWNER(s);
		/* Nothing is flushed: a reset is what the peer is to see. */
		kc__ep_abort(&s->so_ep);
		kc_chain_free(&s->so_snd);
		__atomic_store_n(&s->so_sndbytes, 0, __ATOMIC_RELAXED);
		kc__sf_fail(s, -ECANCELED);
	}
	(void)sock_close(s, NULL);
}


void
kc__socket_take_rcv(struct kc_socket *s, struct kc_chain *into)
{
	SOCK_ON_OWNER(s);
	if (!is_stream(s) || s->so_rcvbytes == 0)
		return;
	kc_chain_concat(into, &s->so_rcv);
	__atomic_store_n(&s->so_rcvbytes, 0, __ATOMIC_RELAXED);
}


/* ------------------------------------------------------------------ */
/* For sendfile.c (sock_int.h). */

struct sreq *
kc__sreq_new(struct kc_socket *s, enum sop op, struct kc *done)
{
	return sreq_new(s, op, done);
}

int
kc__sreq_post(struct kc_socket *s, struct sreq *r)
{
	int e;

	if ((r->r_onowner = on_owner(s)))
		s->so_sfposted++;
	if ((e = sreq_post(s, r)) != 0 && r->r_onowner)
		s->so_sfposted--;
	return e;
}

void
kc__sreq_answer(struct sreq *r, int status)
{
	answer(r, status);
}

void
kc__sock_output(struct kc_socket *s)
{
	sock_output(s);
}

int
kc__sock_send_check(struct kc_socket *s, bool owner)
{
	return send_check(s, NULL, NULL, owner);
}

void
kc__sock_hold(struct kc_socket *s)
{
	sock_ref(s);
}

void
kc__sock_rele(struct kc_socket *s)
{
	sock_unref(s);
}
