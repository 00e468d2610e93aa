/*
 * conn.c: one NBD connection, on the worker that accepted it (kcnbd.h).
 *
 * Input is pumped by the socket's READABLE upcall: bytes go to c->in, the
 * negotiation takes them step by step (proto.c), then each request header
 * is judged and its operation started at once, without waiting for the
 * ones before it; replies go out as their operations complete, in
 * whatever order that is.
 *
 * Memory per connection is bounded: a request is only read while fewer
 * than MAX_INFLIGHT are in flight and the bytes they hold plus the
 * socket's unsent bytes stay under twice the maximum payload.  Past that
 * the connection pauses (the READABLE upcall is not armed again, and the
 * kernel's flow control holds the client) until replies drain: a client
 * that never reads its replies stalls only itself.
 *
 * Lifetime: refs counts the connection's own reference (dropped when it
 * closes its socket), each request in flight and each armed upcall; the
 * last kn_conn_put() frees it.  The socket is closed only once no request
 * is in flight, so no completion ever sends on a closed socket.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kcnbd.h"
#include "nlog.h"

#define MAX_INFLIGHT	256u		/* requests per connection */
#define RECV_CHUNK	(256u << 10)	/* read at most this much ahead */

unsigned kn_conns_open;
uint32_t kn_max_payload = KN_PAYLOAD_DEF;
uint64_t kn_handshake_ns;
static uint64_t next_id;		/* atomic */

static void pump(struct conn *c);
static void conn_close(struct conn *c);

static void
conn_hold(struct conn *c)
{
	c->refs++;
}

static void
conn_put(struct conn *c)
{
	struct req *q;

	if (--c->refs != 0)
		return;
	while ((q = c->free) != NULL) {
		c->free = q->next;
		free(q);
	}
	kc_chain_free(&c->in);
	kc_chain_free(&c->out);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		c->w->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	kn_count(&c->w->st.active, (uint64_t)-1);
	free(c);
	__atomic_sub_fetch(&kn_conns_open, 1, __ATOMIC_ACQ_REL);
}

/* No more requests: close once the ones in flight have replied. */
static void
conn_end(struct conn *c, const char *why)
{
	struct req *q = c->after;

	if (!c->ending) {
		c->ending = true;
		c->why = why;
	}
	if (q != NULL) {
		/* Its payload will never come: no reply. */
		c->after = NULL;
		kn_req_finish(q);
		return;
	}
	if (c->inflight == 0)
		conn_close(c);
}

/* The handshake's timer, if it is still armed: stopped, its reference
 * dropped (on the worker: nothing else can run it meanwhile). */
static void
hs_stop(struct conn *c)
{
	if (kc_cancel_sync(&c->hs) > 0)
		conn_put(c);
}

static void
conn_close(struct conn *c)
{
	if (c->closed)
		return;
	c->closed = true;
	hs_stop(c);
	kn_log(KN_INFO, "connection %llu from %s closed: %s",
	    (unsigned long long)c->id, c->peer, c->why != NULL ? c->why :
	    "done");
	/* Armed upcalls fire with -ECANCELED and drop their references. */
	(void)kc_socket_close(c->s, NULL);
	conn_put(c);
}

static bool
over_budget(const struct conn *c)
{
	return c->inflight >= MAX_INFLIGHT ||
	    c->held + kc_socket_sndbytes(c->s) > 2 * (size_t)kn_max_payload;
}

static void
on_readable(void *obj, void *env, int status)
{
	struct conn *c = env;

	(void)obj;
	c->rd_armed = false;
	if (status != -ECANCELED && !c->closed)
		pump(c);
	conn_put(c);		/* the upcall's */
}

static void
on_writable(void *obj, void *env, int status)
{
	struct conn *c = env;

	(void)obj;
	c->wr_armed = false;
	if (status < 0 && status != -ECANCELED && !c->closed)
		conn_end(c, "send error");
	else if (status != -ECANCELED && !c->closed && c->paused &&
	    !over_budget(c)) {
		c->paused = false;
		pump(c);
	}
	conn_put(c);
}

/*
 * The connection ended under us (a reset, a peer gone while replies
 * wait): seen even while it is paused and reads nothing.
 */
static void
on_closed(void *obj, void *env, int status)
{
	struct conn *c = env;

	(void)obj;
	c->cl_armed = false;
	if (status != -ECANCELED && !c->closed)
		conn_end(c, "the connection ended");
	conn_put(c);
}

static void
on_handshake_timeout(void *obj, void *env, int status)
{
	struct conn *c = env;

	(void)obj;
	(void)status;
	if (c->phase == PH_NEG && !c->closed) {
		kn_log(KN_INFO, "connection %llu from %s: no export chosen "
		    "within --handshake-timeout", (unsigned long long)c->id,
		    c->peer);
		conn_end(c, "handshake timeout");
	}
	conn_put(c);		/* the timer's */
}

static void
arm(struct conn *c, int which)
{
	bool *armed;
	struct kc *kc;

	switch (which) {
	case KC_SO_READABLE:
		armed = &c->rd_armed;
		kc = &c->rd;
		break;
	case KC_SO_WRITABLE:
		armed = &c->wr_armed;
		kc = &c->wr;
		break;
	default:
		armed = &c->cl_armed;
		kc = &c->cl;
		break;
	}
	if (*armed || c->closed)
		return;
	*armed = true;
	conn_hold(c);
	if (kc_socket_upcall(c->s, which, kc) != 0) {
		*armed = false;
		conn_put(c);
		conn_end(c, "cannot wait on the socket");
	}
}

/* Send bytes (negotiation replies). */
static int
send_bytes(struct conn *c, const void *p, size_t len)
{
	struct kc_chain ch = KC_CHAIN_INITIALIZER;
	int e;

	if (len == 0)
		return 0;
	if ((e = kc_chain_append(&ch, p, len)) != 0 ||
	    (e = kc_socket_send(c->s, &ch, NULL, NULL)) != 0)
		kc_chain_free(&ch);
	return e;
}

static void
start_tx(struct conn *c)
{
	struct worker *w = c->w;
	const struct nbd_export *e;

	c->xi = (unsigned)c->neg.export;
	e = &w->ne[c->xi];
	c->f = w->files[c->xi];
	c->fd = kc_file_fd(c->f);
	c->tx.size = e->size;
	c->tx.max_payload = kn_max_payload;
	c->tx.tflags = nbd_tflags(&w->xt, e, &c->neg);
	c->tx.structured = c->neg.structured;
	c->tx.meta = c->neg.meta && c->neg.meta_export == c->neg.export;
	c->phase = PH_TX;
	hs_stop(c);
	kn_log(KN_INFO, "connection %llu: export %s (%llu bytes%s%s%s)",
	    (unsigned long long)c->id, e->name,
	    (unsigned long long)e->size, e->ro ? ", read-only" : "",
	    c->tx.structured ? ", structured replies" : "",
	    c->tx.meta ? ", base:allocation" : "");
}

/* One negotiation step, if its bytes are here: 1 done, 0 more, -1 end. */
static int
neg_input(struct conn *c)
{
	struct nbd_out out = { 0, 0, 0 };
	size_t need = nbd_neg_need(&c->neg);
	uint8_t small[64], *buf = small;
	int r;

	if (kc_chain_len(&c->in) < need)
		return 0;
	if (need > sizeof(small) && (buf = malloc(need)) == NULL) {
		conn_end(c, "out of memory");
		return -1;
	}
	(void)kc_chain_copyout(&c->in, 0, buf, need);
	(void)kc_chain_drop(&c->in, need);
	r = nbd_neg_step(&c->neg, &c->w->xt, buf, need, &out);
	if (buf != small)
		free(buf);
	if (r >= 0 && send_bytes(c, out.p, out.len) != 0)
		r = -EPIPE;
	nbd_out_free(&out);
	switch (r) {
	case NBD_NEG_MORE:
		return 1;
	case NBD_NEG_GO:
		start_tx(c);
		return 1;
	case NBD_NEG_CLOSE:
		conn_end(c, c->neg.opt == NBD_OPT_ABORT && c->neg.options > 0 ?
		    "NBD_OPT_ABORT" : "negotiation failed");
		return -1;
	default:
		conn_end(c, r == -ENOMEM ? "out of memory" :
		    "cannot send");
		return -1;
	}
}

static struct req *
req_new(struct conn *c)
{
	struct req *q = c->free;

	if (q != NULL) {
		c->free = q->next;
		c->nfree--;
	} else if ((q = malloc(sizeof(*q))) == NULL)
		return NULL;
	memset(q, 0, offsetof(struct req, iov1));
	q->c = c;
	q->r = c->hdr;
	kc_chain_init(&q->data);
	q->iov = q->iov1;
	q->next = NULL;
	c->inflight++;
	conn_hold(c);
	return q;
}

/* A header judged: start its operation or its error reply. */
static int
request(struct conn *c)
{
	struct nbd_verdict v;
	struct req *q;

	nbd_req_check(&c->hdr, &c->tx, &v);
	kn_count(&c->w->st.reqs, 1);
	if (v.action == NBD_DO_DISC) {
		conn_end(c, "NBD_CMD_DISC");
		return -1;
	}
	if ((q = req_new(c)) == NULL) {
		conn_end(c, "out of memory");
		return -1;
	}
	if (v.action == NBD_DO_ERROR) {
		/*
		 * A refused write's payload is read and dropped first: a
		 * reply before it would come while the client still sends
		 * the request.
		 */
		c->discard = v.payload;
		if (c->discard > 0) {
			c->after = q;
			c->after_error = v.error;
		} else
			kn_req_error(q, v.error);
		return 1;
	}
	if (v.payload > 0) {
		/* Move the payload out of c->in, without a copy. */
		if (kc_chain_reserve(&q->data, 1) != 0) {
			kn_req_error(q, NBD_ENOMEM);
			c->discard = v.payload;
			return 1;
		}
		kc_chain_concat(&q->data, &c->in);
		if (kc_chain_split(&q->data, v.payload, &c->in) != 0) {
			/* Cannot happen: a spare was reserved. */
			kc_chain_concat(&c->in, &q->data);
			kn_req_error(q, NBD_ENOMEM);
			c->discard = v.payload;
			return 1;
		}
		q->held = v.payload;
		c->held += q->held;
	}
	kn_req_start(q);
	return 1;
}

/* One transmission step: 1 done, 0 more bytes needed, -1 end. */
static int
tx_input(struct conn *c)
{
	uint8_t b[NBD_REQ_SIZE];
	size_t n;

	if (c->discard > 0) {
		struct req *q;

		n = kc_chain_drop(&c->in, c->discard);
		c->discard -= n;
		if (c->discard > 0)
			return 0;
		if ((q = c->after) != NULL) {
			c->after = NULL;
			kn_req_error(q, c->after_error);
		}
		return 1;
	}
	if (!c->have_hdr) {
		if (kc_chain_len(&c->in) < NBD_REQ_SIZE)
			return 0;
		(void)kc_chain_copyout(&c->in, 0, b, sizeof(b));
		(void)kc_chain_drop(&c->in, sizeof(b));
		if (nbd_req_parse(b, &c->hdr) != 0) {
			kn_log(KN_WARNING, "connection %llu from %s: a request "
			    "without the request magic: closing",
			    (unsigned long long)c->id, c->peer);
			conn_end(c, "bad request magic");
			return -1;
		}
		c->have_hdr = true;
	}
	/* A write's payload must be whole first (bounded by the check). */
	if (c->hdr.type == NBD_CMD_WRITE && c->hdr.len <= kn_max_payload &&
	    kc_chain_len(&c->in) < c->hdr.len)
		return 0;
	c->have_hdr = false;
	return request(c);
}

/* How much to read ahead now. */
static size_t
want(const struct conn *c)
{
	size_t have = kc_chain_len(&c->in);

	if (c->discard > 0)
		return c->discard < RECV_CHUNK ? (size_t)c->discard :
		    RECV_CHUNK;
	if (c->have_hdr && c->hdr.type == NBD_CMD_WRITE &&
	    c->hdr.len > have && c->hdr.len - have > RECV_CHUNK)
		return c->hdr.len - have;
	return RECV_CHUNK;
}

static void
pump(struct conn *c)
{
	ssize_t n;
	int r;

	conn_hold(c);
	while (!c->ending && !c->closed) {
		if (c->phase == PH_TX && over_budget(c)) {
			c->paused = true;
			/* Replies in flight resume it; else the socket. */
			arm(c, KC_SO_WRITABLE);
			break;
		}
		r = c->phase == PH_NEG ? neg_input(c) : tx_input(c);
		if (r < 0)
			break;
		if (r > 0)
			continue;
		n = kc_socket_recv(c->s, &c->in, want(c), NULL);
		if (n > 0)
			continue;
		if (n == -EAGAIN) {
			arm(c, KC_SO_READABLE);
			break;
		}
		if (n == 0)
			conn_end(c, c->have_hdr || c->discard > 0 ||
			    kc_chain_len(&c->in) > 0 ?
			    "the client closed in the middle of a request" :
			    "the client closed");
		else
			conn_end(c, "receive error");
		break;
	}
	conn_put(c);
}

/* The socket took a batch (or failed it): finish its requests. */
static void
batch_sent(void *obj, void *env, int status)
{
	struct req *q = env, *next;
	struct conn *c = q->c;

	(void)obj;
	if (status != 0 && !c->ending)
		conn_end(c, "send failed");
	for (; q != NULL; q = next) {
		next = q->next;
		kn_req_finish(q);
	}
}

/*
 * Send the replies gathered: one kc_socket_send(), so one write for all
 * the completions one pass of the worker ran, and one wake-up of the
 * client for them.
 */
static void
flush_now(struct conn *c)
{
	struct req *q = c->batch;

	if (q == NULL)
		return;
	c->batch = c->batch_tail = NULL;
	(void)kc_init(&q->sent, batch_sent, q, c->w->ex, 0);
	if (kc_socket_send(c->s, &c->out, NULL, &q->sent) != 0) {
		kc_chain_free(&c->out);
		batch_sent(NULL, q, -EPIPE);
	}
}

static void
flush_fn(void *obj, void *env, int status)
{
	struct conn *c = env;

	(void)obj;
	(void)status;
	c->flush_armed = false;
	flush_now(c);
	conn_put(c);
}

void
kn_req_send(struct req *q, struct kc_chain *ch)
{
	struct conn *c = q->c;

	kc_chain_concat(&c->out, ch);
	q->next = NULL;
	if (c->batch_tail != NULL)
		c->batch_tail->next = q;
	else
		c->batch = q;
	c->batch_tail = q;
	if (c->flush_armed)
		return;
	/* After the continuations already queued on the worker. */
	c->flush_armed = true;
	conn_hold(c);
	if (kc_defer(&c->flush, NULL, 0) != 0) {
		c->flush_armed = false;
		flush_now(c);
		conn_put(c);
	}
}

/* A sendfile reply's range was sent, or failed part way. */
static void
sendfile_done(void *obj, void *env, int status)
{
	struct req *q = env;
	struct conn *c = q->c;

	(void)obj;
	if (q->sfsent != q->r.len && !c->ending)
		conn_end(c, status < 0 ? "send failed" :
		    "the file ended inside a read's reply");
	kn_req_finish(q);
}

int
kn_req_sendfile(struct req *q, struct kc_chain *hdr, uint64_t off,
    uint32_t len)
{
	struct conn *c = q->c;
	int e;

	/* In order: what this pass gathered, the header, the range. */
	flush_now(c);
	q->sfsent = 0;
	(void)kc_init(&q->sent, sendfile_done, q, c->w->ex, 0);
	if ((e = kc_socket_send(c->s, hdr, NULL, NULL)) != 0)
		return e;
	if ((e = kc_socket_sendfile(c->s, c->f, off, len, &q->sfsent,
	    &q->sent)) != 0) {
		/* The header went: the reply cannot be taken back. */
		if (!c->ending)
			conn_end(c, "send failed");
		kn_req_finish(q);
	}
	return 0;
}

void
kn_req_finish(struct req *q)
{
	struct conn *c = q->c;

	kc_chain_free(&q->data);
	if (q->seg != NULL)
		kc_seg_unref(q->seg);
	free(q->iov_alloc);
	free(q->flat);
	c->held -= q->held;
	c->inflight--;
	if (c->nfree < 32) {
		q->next = c->free;
		c->free = q;
		c->nfree++;
	} else
		free(q);
	if (c->ending) {
		if (c->inflight == 0)
			conn_close(c);
	} else if (c->paused && !over_budget(c)) {
		c->paused = false;
		pump(c);
	}
	conn_put(c);		/* the request's */
}

void
kn_conn_start(struct worker *w, struct kc_socket *s)
{
	struct kc_sockaddr sa;
	struct nbd_out out = { 0, 0, 0 };
	struct conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		__atomic_sub_fetch(&kn_conns_open, 1, __ATOMIC_ACQ_REL);
		(void)kc_socket_close(s, NULL);
		kn_log(KN_ERROR, "cannot serve a connection: out of memory");
		return;
	}
	c->w = w;
	c->s = s;
	c->refs = 1;
	c->id = __atomic_add_fetch(&next_id, 1, __ATOMIC_RELAXED);
	kc_chain_init(&c->in);
	kc_chain_init(&c->out);
	(void)kc_init(&c->flush, flush_fn, c, w->ex, 0);
	(void)kc_init(&c->rd, on_readable, c, w->ex, 0);
	(void)kc_init(&c->wr, on_writable, c, w->ex, 0);
	(void)kc_init(&c->cl, on_closed, c, w->ex, 0);
	(void)kc_init(&c->hs, on_handshake_timeout, c, w->ex, 0);
	if (kc_socket_name(s, &sa, 1) != 0 ||
	    kc_sockaddr_format(&sa, c->peer, sizeof(c->peer)) < 0)
		snprintf(c->peer, sizeof(c->peer), "?");
	if (sa.a.sa.sa_family == AF_UNIX)
		snprintf(c->peer, sizeof(c->peer), "unix");
	c->next = w->conns;
	if (w->conns != NULL)
		w->conns->prev = c;
	w->conns = c;
	kn_count(&w->st.conns, 1);
	kn_count(&w->st.active, 1);
	kn_log(KN_INFO, "connection %llu from %s", (unsigned long long)c->id,
	    c->peer);
	if (nbd_neg_start(&c->neg, &out) != 0 ||
	    send_bytes(c, out.p, out.len) != 0)
		conn_end(c, "cannot send the greeting");
	else {
		conn_hold(c);
		arm(c, KC_SO_CLOSED);
		/* A client that never chooses an export is let go. */
		if (kn_handshake_ns != 0) {
			conn_hold(c);
			if (kc_defer_after(&c->hs, kn_handshake_ns, NULL, 0) !=
			    0)
				conn_put(c);
		}
		pump(c);
		conn_put(c);
	}
	nbd_out_free(&out);
}

/* SIGTERM, on the worker: no new options or requests; finish, close. */
void
kn_conn_drain(struct worker *w)
{
	struct conn *c, *next;

	w->xt.shutdown = true;
	for (c = w->conns; c != NULL; c = next) {
		next = c->next;
		conn_hold(c);
		conn_end(c, "shutting down");
		next = c->next;
		conn_put(c);
	}
}
