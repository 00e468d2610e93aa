/*
 * net-echo: echo between sockets owned by different executors.
 *
 * The server's sockets belong to executor A (a listener whose accept
 * continuation re-posts itself, and a READABLE upcall per connection that
 * moves what kc_socket_recv() gives into kc_socket_send()); the client's
 * belong to executor B (connect continuation, sends, READABLE upcalls).
 *
 *   streams (TCP over 127.0.0.1 and ::1, UNIX): two clients at once, each
 *   sends 1 MiB in chunks of varied sizes (1 byte to 512 KiB) and checks the
 *   1 MiB that comes back byte for byte, then closes; the server sees end of
 *   file and closes its side;
 *   datagrams (UDP over 127.0.0.1 and ::1, UNIX datagram): many datagrams of
 *   varied sizes (0 bytes, 1 byte ... 65507 bytes) echoed one for one: each
 *   comes back whole, as one datagram of its own size, in order, from the
 *   server's address; once through a default peer (connect) and once with
 *   an address on every send.  The client keeps a bounded window of
 *   datagrams in flight, so the kernel never has to drop one.
 *
 * Afterwards kc_socket_count() is back where it started.
 */
#include "nettest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- the server, on executor A ---- */

struct srv {
	struct kc_executor	*ex;
	enum nt_kind		 k;
	struct kc_socket	*lsn;
	struct kc_sockaddr	 addr;
	struct kc		 acc;		/* stream: accept continuation */
	struct kc		 rd;		/* datagram: READABLE upcall */
	bool			 stopping;	/* touched on A only */
	atomic_int		 stopped;
	atomic_int		 accepted;
	atomic_int		 closed;
	atomic_llong		 bytes;
	atomic_int		 dgrams;
};

struct sconn {
	struct kc		 rd;
	struct kc_socket	*s;
	struct srv		*srv;
};

static void
srv_conn_readable(void *obj, void *env, int status)
{
	struct sconn *c = env;
	struct kc_chain ch;
	ssize_t r;

	(void)status;
	KC_CHECK_PTR_EQ(obj, c->s);
	KC_CHECK_PTR_EQ(kc_executor_current(), c->srv->ex);
	for (;;) {
		kc_chain_init(&ch);
		r = kc_socket_recv(c->s, &ch, SIZE_MAX, NULL);
		if (r > 0) {
			KC_CHECK_EQ(kc_chain_len(&ch), r);
			KC_CHECK_OK(kc_socket_send(c->s, &ch, NULL, NULL));
			KC_CHECK_EQ(kc_chain_len(&ch), 0);	/* taken */
			kc_chain_free(&ch);
			atomic_fetch_add(&c->srv->bytes, r);
			continue;
		}
		KC_CHECK_EQ(kc_chain_len(&ch), 0);
		kc_chain_free(&ch);
		if (r == -EAGAIN) {
			KC_CHECK_OK(kc_socket_upcall(c->s, KC_SO_READABLE,
			    &c->rd));
			return;
		}
		/* The client closes once it has its bytes back: end of file. */
		KC_CHECK_EQ(r, 0);
		KC_CHECK(kc_socket_state(c->s) & KC_SS_CANTRCVMORE);
		nt_close(c->s);
		atomic_fetch_add(&c->srv->closed, 1);
		free(c);
		return;
	}
}

static void
srv_accepted(void *obj, void *env, int status)
{
	struct srv *srv = env;
	struct kc_socket *s = obj;
	struct sconn *c;

	KC_CHECK_PTR_EQ(kc_executor_current(), srv->ex);
	if (status == -ECANCELED) {
		/* The listener was closed (srv_stop_fn). */
		KC_CHECK(srv->stopping);
		KC_CHECK(s == NULL);
		atomic_store(&srv->stopped, 1);
		return;
	}
	KC_CHECK_EQ(status, 0);
	KC_CHECK(s != NULL);
	KC_CHECK_PTR_EQ(kc_socket_owner(s), srv->ex);
	KC_CHECK(kc_socket_state(s) & KC_SS_CONNECTED);
	c = calloc(1, sizeof(*c));
	KC_CHECK(c != NULL);
	c->s = s;
	c->srv = srv;
	KC_CHECK_OK(kc_init(&c->rd, srv_conn_readable, c, srv->ex, 0));
	KC_CHECK_OK(kc_socket_upcall(s, KC_SO_READABLE, &c->rd));
	atomic_fetch_add(&srv->accepted, 1);
	if (!srv->stopping)
		KC_CHECK_OK(kc_socket_accept(srv->lsn, srv->ex, &srv->acc));
}

static void
srv_dgram_readable(void *obj, void *env, int status)
{
	struct srv *srv = env;
	struct kc_sockaddr from;
	struct kc_chain ch;
	ssize_t r;

	(void)status;
	KC_CHECK_PTR_EQ(obj, srv->lsn);
	KC_CHECK_PTR_EQ(kc_executor_current(), srv->ex);
	if (srv->stopping)
		return;
	for (;;) {
		kc_chain_init(&ch);
		memset(&from, 0, sizeof(from));
		r = kc_socket_recv(srv->lsn, &ch, 65536, &from);
		if (r >= 0) {
			/* A zero-length datagram is a datagram too. */
			KC_CHECK_EQ(kc_chain_len(&ch), r);
			KC_CHECK_EQ(from.a.sa.sa_family, nt_domain(srv->k));
			KC_CHECK_OK(kc_socket_send(srv->lsn, &ch, &from, NULL));
			KC_CHECK_EQ(kc_chain_len(&ch), 0);
			kc_chain_free(&ch);
			atomic_fetch_add(&srv->bytes, r);
			atomic_fetch_add(&srv->dgrams, 1);
			continue;
		}
		kc_chain_free(&ch);
		KC_CHECK_EQ(r, -EAGAIN);
		KC_CHECK_OK(kc_socket_upcall(srv->lsn, KC_SO_READABLE,
		    &srv->rd));
		return;
	}
}

static void
srv_start(struct srv *srv, struct kc_executor *ex, enum nt_kind k)
{
	memset(srv, 0, sizeof(*srv));
	srv->ex = ex;
	srv->k = k;
	srv->lsn = nt_listener(ex, k, NULL, &srv->addr);
	if (nt_is_dgram(k)) {
		KC_CHECK_OK(kc_init(&srv->rd, srv_dgram_readable, srv, ex, 0));
		KC_CHECK_OK(kc_socket_upcall(srv->lsn, KC_SO_READABLE,
		    &srv->rd));
	} else {
		KC_CHECK_OK(kc_init(&srv->acc, srv_accepted, srv, ex, 0));
		KC_CHECK_OK(kc_socket_accept(srv->lsn, ex, &srv->acc));
	}
}

/*
 * Close the listener on A itself, so that no accept continuation can be
 * using the pointer meanwhile.  Its pending accept request (or READABLE
 * upcall) is answered -ECANCELED.
 */
static void
srv_stop_fn(void *arg)
{
	struct srv *srv = arg;

	srv->stopping = true;
	nt_close(srv->lsn);
}

static void
srv_stop(struct srv *srv)
{
	nt_on(srv->ex, srv_stop_fn, srv);
	if (nt_is_dgram(srv->k)) {
		/* Its upcall fires once, with -ECANCELED. */
		KCT_WAIT(kc_state(&srv->rd) == KC_STATE_IDLE, NT_WAIT_S);
	} else {
		KCT_WAIT(atomic_load(&srv->stopped), NT_WAIT_S);
		KCT_WAIT(kc_state(&srv->acc) == KC_STATE_IDLE, NT_WAIT_S);
	}
}

/* ---- stream clients, on executor B ---- */

#define ECHO_BYTES	(1u << 20)

struct cli {
	struct kc_executor	*ex;
	struct kc_socket	*s;
	struct kc		 conn;
	struct kc		 rd;
	uint64_t		 seed;
	size_t			 total;
	size_t			 sent;
	size_t			 rcvd;
	unsigned		 chunks;
	atomic_int		 done;
};

static void
cli_readable(void *obj, void *env, int status)
{
	struct cli *c = env;
	struct kc_chain ch;
	ssize_t r;

	KC_CHECK_PTR_EQ(obj, c->s);
	KC_CHECK_PTR_EQ(kc_executor_current(), c->ex);
	KC_CHECK_EQ(status, 0);
	for (;;) {
		kc_chain_init(&ch);
		r = kc_socket_recv(c->s, &ch, SIZE_MAX, NULL);
		if (r == -EAGAIN) {
			kc_chain_free(&ch);
			KC_CHECK_OK(kc_socket_upcall(c->s, KC_SO_READABLE,
			    &c->rd));
			return;
		}
		if (r <= 0)
			kct_fail(__FILE__, __LINE__, "client recv %zd after "
			    "%zu of %zu bytes", r, c->rcvd, c->total);
		KC_CHECK_EQ(kc_chain_len(&ch), r);
		KC_CHECK_LE(c->rcvd + (size_t)r, c->total);
		nt_check_chain(&ch, 0, (size_t)r, c->seed, c->rcvd,
		    "echoed stream");
		kc_chain_free(&ch);
		c->rcvd += (size_t)r;
		if (c->rcvd == c->total) {
			nt_close(c->s);
			atomic_store(&c->done, 1);
			return;
		}
	}
}

static void
cli_connected(void *obj, void *env, int status)
{
	struct cli *c = env;
	struct kc_chain ch;
	size_t n, max;

	KC_CHECK_PTR_EQ(obj, c->s);
	KC_CHECK_PTR_EQ(kc_executor_current(), c->ex);
	KC_CHECK_EQ(status, 0);
	KC_CHECK(kc_socket_state(c->s) & KC_SS_CONNECTED);
	KC_CHECK_OK(kc_init(&c->rd, cli_readable, c, c->ex, 0));
	KC_CHECK_OK(kc_socket_upcall(c->s, KC_SO_READABLE, &c->rd));
	/*
	 * Every send is queued whole, in order, whether the send buffer
	 * takes it now or it waits for space: send it all at once.
	 */
	while (c->sent < c->total) {
		max = kct_rand_below(8) == 0 ? 512 * 1024 : 65536;
		n = 1 + kct_rand_below(max);
		if (n > c->total - c->sent)
			n = c->total - c->sent;
		kc_chain_init(&ch);
		nt_chain_pat(&ch, c->seed, c->sent, n);
		KC_CHECK_OK(kc_socket_send(c->s, &ch, NULL, NULL));
		KC_CHECK_EQ(kc_chain_len(&ch), 0);
		kc_chain_free(&ch);
		c->sent += n;
		c->chunks++;
	}
}

static void
stream_echo(struct kc_executor *a, struct kc_executor *b, enum nt_kind k)
{
	struct cli cl[2];
	struct srv srv;
	long base = kc_socket_count();
	unsigned i;

	printf("  stream echo: %s\n", nt_kind_name[k]);
	srv_start(&srv, a, k);
	for (i = 0; i < 2; i++) {
		memset(&cl[i], 0, sizeof(cl[i]));
		cl[i].ex = b;
		cl[i].seed = kct_rand();
		cl[i].total = ECHO_BYTES;
		cl[i].s = nt_socket(b, k, NULL);
		KC_CHECK_OK(kc_init(&cl[i].conn, cli_connected, &cl[i], b, 0));
		KC_CHECK_OK(kc_socket_connect(cl[i].s, &srv.addr,
		    &cl[i].conn));
	}
	for (i = 0; i < 2; i++) {
		KCT_WAIT(atomic_load(&cl[i].done), 120);
		KC_CHECK_EQ(cl[i].rcvd, ECHO_BYTES);
	}
	KCT_WAIT(atomic_load(&srv.closed) == 2, NT_WAIT_S);
	KC_CHECK_EQ(atomic_load(&srv.accepted), 2);
	KC_CHECK_EQ(atomic_load(&srv.bytes), 2 * (long long)ECHO_BYTES);
	srv_stop(&srv);
	nt_wait_count(base);
	printf("    2 x %u bytes each way, %u + %u chunks\n", ECHO_BYTES,
	    cl[0].chunks, cl[1].chunks);
}

/* ---- datagram clients, on executor B ---- */

#define DG_WINDOW	16
#define DG_WINDOW_BYTES	(96 * 1024)

struct dcli {
	struct kc_executor	*ex;
	struct kc_socket	*s;
	struct kc_sockaddr	 srv;
	bool			 connected;
	struct kc		 start;
	struct kc		 rd;
	uint64_t		 seed;
	unsigned		 n;
	size_t			*sizes;
	unsigned		 next_send;
	unsigned		 next_recv;
	size_t			 out_bytes;
	unsigned		 zeros;
	atomic_int		 done;
};

static void
dcli_pump(struct dcli *c)
{
	struct kc_chain ch;
	size_t sz;

	while (c->next_send < c->n) {
		sz = c->sizes[c->next_send];
		if (c->next_send != c->next_recv &&
		    (c->next_send - c->next_recv >= DG_WINDOW ||
		    c->out_bytes + sz > DG_WINDOW_BYTES))
			break;
		kc_chain_init(&ch);
		nt_chain_pat(&ch, c->seed + c->next_send, 0, sz);
		KC_CHECK_OK(kc_socket_send(c->s, &ch,
		    c->connected ? NULL : &c->srv, NULL));
		KC_CHECK_EQ(kc_chain_len(&ch), 0);
		kc_chain_free(&ch);
		c->out_bytes += sz;
		c->next_send++;
	}
}

static void
dcli_readable(void *obj, void *env, int status)
{
	struct dcli *c = env;
	struct kc_sockaddr from;
	struct kc_chain ch;
	ssize_t r;
	size_t sz;

	KC_CHECK_PTR_EQ(obj, c->s);
	KC_CHECK_PTR_EQ(kc_executor_current(), c->ex);
	KC_CHECK_EQ(status, 0);
	for (;;) {
		kc_chain_init(&ch);
		memset(&from, 0, sizeof(from));
		r = kc_socket_recv(c->s, &ch, 70000, &from);
		if (r == -EAGAIN) {
			kc_chain_free(&ch);
			dcli_pump(c);
			KC_CHECK_OK(kc_socket_upcall(c->s, KC_SO_READABLE,
			    &c->rd));
			return;
		}
		KC_CHECK_GE(r, 0);
		KC_CHECK_LT(c->next_recv, c->next_send);
		sz = c->sizes[c->next_recv];
		if ((size_t)r != sz)
			kct_fail(__FILE__, __LINE__, "datagram %u came back "
			    "with %zd bytes, sent %zu", c->next_recv, r, sz);
		KC_CHECK_EQ(kc_chain_len(&ch), sz);
		nt_check_chain(&ch, 0, sz, c->seed + c->next_recv, 0,
		    "echoed datagram");
		KC_CHECK(nt_addr_eq(&from, &c->srv));
		kc_chain_free(&ch);
		if (sz == 0)
			c->zeros++;
		c->out_bytes -= sz;
		if (++c->next_recv == c->n) {
			nt_close(c->s);
			atomic_store(&c->done, 1);
			return;
		}
	}
}

static void
dcli_start(void *obj, void *env, int status)
{
	struct dcli *c = env;

	KC_CHECK_PTR_EQ(obj, c->s);
	KC_CHECK_PTR_EQ(kc_executor_current(), c->ex);
	KC_CHECK_EQ(status, 0);
	if (c->connected)
		KC_CHECK(kc_socket_state(c->s) & KC_SS_CONNECTED);
	KC_CHECK_OK(kc_init(&c->rd, dcli_readable, c, c->ex, 0));
	dcli_pump(c);
	KC_CHECK_OK(kc_socket_upcall(c->s, KC_SO_READABLE, &c->rd));
}

static size_t
dg_size(unsigned i)
{
	uint64_t r = kct_rand_below(100);

	/* The first few: the edges. */
	switch (i) {
	case 0: return 0;
	case 1: return 1;
	case 2: return 65507;	/* the largest UDP datagram over IPv4 */
	case 3: return 0;
	case 4: return 0;
	}
	if (r < 10)
		return 0;
	if (r < 40)
		return 1 + kct_rand_below(64);
	if (r < 80)
		return 65 + kct_rand_below(4032);
	if (r < 95)
		return 4097 + kct_rand_below(28672);
	return 32769 + kct_rand_below(65507 - 32769 + 1);
}

static void
dgram_echo(struct kc_executor *a, struct kc_executor *b, enum nt_kind k,
    bool connected, unsigned n)
{
	struct kc_sockaddr self;
	struct dcli c;
	struct srv srv;
	long base = kc_socket_count();
	unsigned i;

	printf("  datagram echo: %s, %s, %u datagrams\n", nt_kind_name[k],
	    connected ? "default peer" : "address on each send", n);
	srv_start(&srv, a, k);
	memset(&c, 0, sizeof(c));
	c.ex = b;
	c.srv = srv.addr;
	c.connected = connected;
	c.seed = kct_rand();
	c.n = n;
	c.sizes = calloc(n, sizeof(*c.sizes));
	KC_CHECK(c.sizes != NULL);
	for (i = 0; i < n; i++)
		c.sizes[i] = dg_size(i);
	c.s = nt_socket(b, k, NULL);
	/* Bound, so that the server has an address to answer (UNIX). */
	nt_bind_addr(k, &self);
	KC_CHECK_OK(kc_socket_bind(c.s, &self));
	KC_CHECK_OK(kc_init(&c.start, dcli_start, &c, b, 0));
	if (connected)
		KC_CHECK_OK(kc_socket_connect(c.s, &srv.addr, &c.start));
	else
		KC_CHECK_OK(kc_run(&c.start, c.s, 0));
	KCT_WAIT(atomic_load(&c.done), 120);
	KC_CHECK_EQ(c.next_recv, n);
	/* The server counts after it sends: its last count may trail. */
	KCT_WAIT(atomic_load(&srv.dgrams) == (int)n, NT_WAIT_S);
	KC_CHECK_GE(c.zeros, 3);
	srv_stop(&srv);
	nt_wait_count(base);
	free(c.sizes);
}

int
main(void)
{
	struct kc_executor *a, *b;
	long base;
	unsigned n;

	kct_begin("net-echo", 600);
	base = kc_socket_count();
	a = kct_exec_soft("echo-srv");
	b = kct_exec_soft("echo-cli");

	stream_echo(a, b, NT_TCP4);
	stream_echo(a, b, NT_TCP6);
	stream_echo(a, b, NT_UNIX);

	n = kct_sanitized() ? 500 : 2000;
	dgram_echo(a, b, NT_UDP4, true, n);
	dgram_echo(a, b, NT_UDP4, false, n);
	dgram_echo(a, b, NT_UDP6, true, n);
	dgram_echo(a, b, NT_UDP6, false, n);
	dgram_echo(a, b, NT_UNIXDG, true, n);
	dgram_echo(a, b, NT_UNIXDG, false, n);

	nt_wait_count(base);
	kct_exec_finish(a);
	kct_exec_finish(b);
	return kct_done();
}
