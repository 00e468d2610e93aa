/*
 * bench-echo: TCP echo servers on kcont's owned sockets, on libuv and on
 * libevent, driven by one client, all in the same process and the same run.
 *
 * The servers.  Each listens on 127.0.0.1, port 0 (the kernel picks), and
 * runs on ONE server thread, set up the way its own users are told to:
 *   kcont     one soft executor (KC_EXEC_SOFT, default attributes); a
 *             listening kc_socket owned by it; kc_socket_accept() with a
 *             continuation on that executor, which re-posts itself; each
 *             accepted socket gets a KC_SO_READABLE upcall continuation on
 *             the owner, which does kc_socket_recv(s, &chain, SIZE_MAX,
 *             NULL), kc_socket_send(s, &chain, NULL, NULL) and re-arms the
 *             upcall with kc_socket_upcall(); at end of file or on an error
 *             it calls kc_socket_close().  kcont/socket.h has no socket
 *             options (nor a way to reach the descriptor): the server runs
 *             with what the library sets, which today is TCP_NODELAY on
 *             every TCP stream socket it makes or accepts (src/net/socket.c;
 *             the header does not promise it).
 *   libuv     a uv_loop on its own thread, a uv_tcp_t listener,
 *             uv_tcp_nodelay() on every accepted handle, uv_read_start()
 *             with an alloc_cb that hands out the connection's own 64 KiB
 *             buffer; the read_cb echoes with uv_try_write() and only what
 *             it could not write goes to uv_write(), with reading stopped
 *             until that write completes (so the buffer is not reused
 *             under it).  uv_try_write() first saves uv_write()'s request
 *             and its deferred callback on every request.
 *   libevent  an event_base (epoll) on its own thread, an evconnlistener,
 *             TCP_NODELAY on every accepted descriptor, a bufferevent per
 *             connection (bufferevent_socket_new with BEV_OPT_CLOSE_ON_FREE)
 *             whose read callback moves the whole input buffer to the output
 *             with bufferevent_write_buffer(); freed at EOF or on an error.
 *
 * The client.  One thread of this process (the same code, the same thread
 * placement and the same scheduler conditions for every server; each server
 * thread and the client thread get a core each on a 2-core machine; the
 * client's CPU time is read per thread, so the server side's CPU per
 * request can be reported apart) opens C connections (100) to the server
 * under test and drives them with epoll: each connection keeps D requests
 * (1) of S bytes (64) outstanding, and sends the next as soon as the echo of
 * one has fully come back (closed loop).  Every byte echoed is compared with
 * what was sent (a pseudo-random pattern, offset per connection, so a lost,
 * duplicated or misplaced byte shows); a mismatch, an early end of file, an
 * error on a connection or a stall is a failure exit, never a number.  After
 * a warm-up, the requests completed in a timed window are counted; then the
 * client stops issuing requests, waits for every outstanding echo, closes
 * its connections and the server must see every one of them close.
 *
 * The method.  R rounds (5), each running the servers in turn (kcont,
 * libuv, libevent, kcont, ...), each set up afresh (new thread, listener,
 * connections), warmed up (0.3 s) and measured for T seconds (2).  The
 * figure per server is the median over the rounds of its requests per
 * second.  --quick (CI): 2 rounds of 0.5 s, 0.1 s warm-up.
 *
 * Output: the settings, a line per round and server, then per server the
 * median req/s, its spread, the server side's CPU microseconds and
 * voluntary context switches per request (the process's minus the client
 * thread's), then kcont's server CPU per request over each peer's (for
 * information: on a shared machine it is steadier than req/s); the last
 * line is
 *   echo: vs_libuv=<kcont req/s over libuv's> vs_libevent=<over libevent's>
 * (above 1: kcont serves more requests per second).
 *
 * Usage: bench-echo [--quick] [-s SIZE] [-d DEPTH] [-c CONNS] [--rounds R]
 *                   [-t SECONDS] [--warmup SECONDS] [--only NAME]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include <kcont.h>
#include <kcont/buf.h>
#include <kcont/socket.h>

#include "benchlib.h"

#define MAX_CONNS	1024
#define MAX_SIZE	(1u << 20)	/* -s */
#define MAX_DEPTH	64u		/* -d */
#define PERIOD		65521u		/* pattern period (prime) */
#define CHUNK		(256u * 1024)	/* most bytes one send or recv moves */
#define RBUF		65536u		/* client's read buffer */
#define UV_BUF		65536u		/* libuv server's buffer per connection */
#define STALL_S		5.0		/* no echo for this long: a failure */
#define DRAIN_S		5.0		/* outstanding echoes must be back by then */
#define CLOSE_S		5.0		/* the server must close every connection by then */

/* ------------------------------------------------------------------ */
/* Helpers                                                            */


static double
tv_s(const struct timeval *tv)
{
	return (double)tv->tv_sec + (double)tv->tv_usec * 1e-6;
}

/* A one-shot flag with a bounded wait, for start-up hand-shakes. */
struct flag {
	pthread_mutex_t	m;
	pthread_cond_t	c;
	int		set;
};

static void
flag_init(struct flag *f)
{
	pthread_condattr_t ca;

	pthread_mutex_init(&f->m, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&f->c, &ca);
	pthread_condattr_destroy(&ca);
	f->set = 0;
}

static void
flag_destroy(struct flag *f)
{
	pthread_cond_destroy(&f->c);
	pthread_mutex_destroy(&f->m);
}

static void
flag_set(struct flag *f)
{
	pthread_mutex_lock(&f->m);
	f->set = 1;
	pthread_cond_broadcast(&f->c);
	pthread_mutex_unlock(&f->m);
}

/* 1 if set within secs. */
static int
flag_wait(struct flag *f, double secs)
{
	struct timespec ts;
	int r = 0, set;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)secs;
	pthread_mutex_lock(&f->m);
	while (!f->set && r == 0)
		r = pthread_cond_timedwait(&f->c, &f->m, &ts);
	set = f->set;
	pthread_mutex_unlock(&f->m);
	return set;
}

/* ------------------------------------------------------------------ */
/* Settings and the byte pattern                                      */

static unsigned opt_size = 64, opt_depth = 1, opt_conns = 100;
static unsigned opt_rounds = 5;
static double opt_secs = 2.0, opt_warmup = 0.3;
static const char *only;

/*
 * Byte o of connection c's stream is pat[(c * 4099 + o) % PERIOD]; pat
 * repeats its first PERIOD bytes over PERIOD + CHUNK, so any CHUNK bytes
 * of a stream are contiguous in it.
 */
static unsigned char *pat;

static void
make_pattern(void)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;
	unsigned i;

	pat = malloc(PERIOD + CHUNK);
	if (pat == NULL)
		bench_die("malloc: out of memory");
	for (i = 0; i < PERIOD; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		pat[i] = (unsigned char)(x >> 24);
	}
	for (; i < PERIOD + CHUNK; i++)
		pat[i] = pat[i - PERIOD];
}

static const unsigned char *
pat_at(unsigned c, uint64_t off)
{
	return pat + ((uint64_t)c * 4099u + off) % PERIOD;
}

/* ------------------------------------------------------------------ */
/* The servers: a common face                                         */

struct server {
	const char	*name;
	void		(*start)(struct server *);	/* sets port */
	void		(*stop)(struct server *);
	uint16_t	 port;				/* network order */
	atomic_int	 conns;				/* open on the server */
	atomic_long	 accepted;
	atomic_long	 errors;			/* unexpected failures */
	void		*priv;
};

static void
server_error(struct server *sv, const char *what, int err)
{
	atomic_fetch_add(&sv->errors, 1);
	fprintf(stderr, "bench-echo: %s server: %s: %s\n", sv->name, what,
	    strerror(err < 0 ? -err : err));
}

/* An error the peer caused by going away: not the server's fault. */
static int
peer_gone(int err)
{
	err = err < 0 ? -err : err;
	return err == ECONNRESET || err == EPIPE;
}

/* ------------------------------------------------------------------ */
/* kcont                                                              */

struct kc_srv {
	struct server		*sv;
	struct kc_executor	*ex;
	struct kc_socket	*lsn;
	struct kc		 acc;
	atomic_int		 acc_done;	/* the accept continuation stopped */
};

struct kc_conn {
	struct kc_srv		*ks;
	struct kc_socket	*s;
	struct kc		 rd;
	struct kc_chain		 chain;
};

static void
kc_conn_close(struct kc_conn *c)
{
	int r;

	kc_chain_free(&c->chain);
	if ((r = kc_socket_close(c->s, NULL)) != 0)
		server_error(c->ks->sv, "kc_socket_close", r);
	atomic_fetch_sub(&c->ks->sv->conns, 1);
	free(c);		/* c->rd waits on nothing now */
}

/* KC_SO_READABLE upcall, on the owner: echo what came, or close. */
static void
kc_conn_readable(void *obj, void *env, int status)
{
	struct kc_conn *c = env;
	ssize_t n;
	int r;

	(void)obj;
	n = kc_socket_recv(c->s, &c->chain, SIZE_MAX, NULL);
	if (n > 0) {
		r = kc_socket_send(c->s, &c->chain, NULL, NULL);
		if (r != 0) {
			if (!peer_gone(r))
				server_error(c->ks->sv, "kc_socket_send", r);
			kc_conn_close(c);
			return;
		}
	} else if (n != -EAGAIN || status != 0) {
		/* End of file (0), an error, or an upcall that carried one. */
		if (n < 0 && n != -EAGAIN && !peer_gone((int)n))
			server_error(c->ks->sv, "kc_socket_recv", (int)n);
		else if (n == -EAGAIN && !peer_gone(status))
			server_error(c->ks->sv, "upcall status", status);
		kc_conn_close(c);
		return;
	}
	if ((r = kc_socket_upcall(c->s, KC_SO_READABLE, &c->rd)) != 0) {
		server_error(c->ks->sv, "kc_socket_upcall", r);
		kc_conn_close(c);
	}
}

/* The accept continuation, on the executor: set the socket up, re-post. */
static void
kc_srv_accepted(void *obj, void *env, int status)
{
	struct kc_srv *ks = env;
	struct kc_conn *c;
	int r;

	if (status != 0 || obj == NULL) {
		if (status != -ECANCELED)
			server_error(ks->sv, "accept", status);
		atomic_store(&ks->acc_done, 1);
		return;
	}
	atomic_fetch_add(&ks->sv->accepted, 1);
	atomic_fetch_add(&ks->sv->conns, 1);
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		bench_die("calloc: out of memory");
	c->ks = ks;
	c->s = obj;
	kc_chain_init(&c->chain);
	if ((r = kc_init(&c->rd, kc_conn_readable, c, ks->ex, 0)) != 0)
		bench_die("kc_init: %s", strerror(-r));
	if ((r = kc_socket_upcall(c->s, KC_SO_READABLE, &c->rd)) != 0) {
		server_error(ks->sv, "kc_socket_upcall", r);
		kc_conn_close(c);
	}
	if ((r = kc_socket_accept(ks->lsn, ks->ex, &ks->acc)) != 0) {
		server_error(ks->sv, "kc_socket_accept (re-post)", r);
		atomic_store(&ks->acc_done, 1);
	}
}

static void
kcont_start(struct server *sv)
{
	struct kc_srv *ks;
	struct kc_sockaddr a;
	int r;

	ks = calloc(1, sizeof(*ks));
	if (ks == NULL)
		bench_die("calloc: out of memory");
	ks->sv = sv;
	sv->priv = ks;
	r = kc_executor_create(&ks->ex, &(struct kc_executor_attr){
	    .kind = KC_EXEC_SOFT, .name = "kc-echo" });
	if (r)
		bench_die("kcont: kc_executor_create: %s", strerror(-r));
	if ((r = kc_socket_create(&ks->lsn, ks->ex, AF_INET, SOCK_STREAM,
	    NULL)) != 0)
		bench_die("kcont: kc_socket_create: %s", strerror(-r));
	if ((r = kc_sockaddr_parse(&a, "127.0.0.1:0")) != 0)
		bench_die("kcont: kc_sockaddr_parse: %s", strerror(-r));
	if ((r = kc_socket_bind(ks->lsn, &a)) != 0)
		bench_die("kcont: kc_socket_bind: %s", strerror(-r));
	if ((r = kc_socket_listen(ks->lsn, 128)) != 0)
		bench_die("kcont: kc_socket_listen: %s", strerror(-r));
	if ((r = kc_socket_name(ks->lsn, &a, 0)) != 0)
		bench_die("kcont: kc_socket_name: %s", strerror(-r));
	if (a.a.sa.sa_family != AF_INET || a.a.in.sin_port == 0)
		bench_die("kcont: the listener has no IPv4 port");
	sv->port = a.a.in.sin_port;
	if ((r = kc_init(&ks->acc, kc_srv_accepted, ks, ks->ex, 0)) != 0)
		bench_die("kc_init: %s", strerror(-r));
	if ((r = kc_socket_accept(ks->lsn, ks->ex, &ks->acc)) != 0)
		bench_die("kcont: kc_socket_accept: %s", strerror(-r));
}

static void
kcont_stop(struct server *sv)
{
	struct kc_srv *ks = sv->priv;
	double t0;
	long left;
	int r;

	if ((r = kc_socket_close(ks->lsn, NULL)) != 0)
		bench_die("kcont: kc_socket_close (listener): %s", strerror(-r));
	/* The pending accept is answered -ECANCELED on the executor. */
	t0 = bench_now_s();
	while (!atomic_load(&ks->acc_done)) {
		if (bench_now_s() - t0 > CLOSE_S)
			bench_die("kcont: the accept continuation did not get "
			    "-ECANCELED within %.0f s of closing the listener",
			    CLOSE_S);
		bench_sleep_s(0.001);
	}
	if ((r = kc_executor_shutdown(ks->ex, KC_SHUTDOWN_DRAIN, NULL)) != 0)
		bench_die("kcont: kc_executor_shutdown: %s", strerror(-r));
	if ((r = kc_executor_close(ks->ex, NULL)) != 0)
		bench_die("kcont: kc_executor_close: %s", strerror(-r));
	left = kc_socket_count();
	if (left != 0)
		fprintf(stderr, "bench-echo: kcont: %ld socket(s) still alive "
		    "after the executor was shut down\n", left);
	free(ks);
	sv->priv = NULL;
}

/* ------------------------------------------------------------------ */
/* libuv                                                              */

struct uv_srv {
	struct server	*sv;
	pthread_t	 th;
	uv_loop_t	 loop;
	uv_tcp_t	 lsn;
	uv_async_t	 stop;
	struct flag	 ready;
	int		 err;		/* start-up failure (a UV_ code) */
	const char	*what;
};

struct uv_conn {
	uv_tcp_t	 tcp;		/* first: the handle is the conn */
	uv_write_t	 wreq;
	struct uv_srv	*us;
	char		 buf[UV_BUF];
};

static void
uv_conn_closed(uv_handle_t *h)
{
	struct uv_conn *c = h->data;

	atomic_fetch_sub(&c->us->sv->conns, 1);
	free(c);
}

static void
uv_conn_close(struct uv_conn *c)
{
	if (!uv_is_closing((uv_handle_t *)&c->tcp))
		uv_close((uv_handle_t *)&c->tcp, uv_conn_closed);
}

static void
uv_conn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct uv_conn *c = h->data;

	(void)hint;
	*buf = uv_buf_init(c->buf, sizeof(c->buf));
}

static void uv_conn_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

static void
uv_conn_written(uv_write_t *req, int status)
{
	struct uv_conn *c = req->data;
	int r;

	if (status == UV_ECANCELED)		/* closing */
		return;
	if (status < 0) {
		if (status != UV_EPIPE && status != UV_ECONNRESET)
			server_error(c->us->sv, "uv_write", -status);
		uv_conn_close(c);
		return;
	}
	if ((r = uv_read_start((uv_stream_t *)&c->tcp, uv_conn_alloc,
	    uv_conn_read)) != 0) {
		server_error(c->us->sv, "uv_read_start", -r);
		uv_conn_close(c);
	}
}

static void
uv_conn_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct uv_conn *c = st->data;
	uv_buf_t b;
	int w, r;

	if (nread == 0)			/* EAGAIN */
		return;
	if (nread < 0) {
		if (nread != UV_EOF && nread != UV_ECONNRESET)
			server_error(c->us->sv, "read", (int)-nread);
		uv_conn_close(c);
		return;
	}
	b = uv_buf_init(buf->base, (unsigned)nread);
	w = uv_try_write(st, &b, 1);
	if (w == nread)
		return;
	if (w == UV_EAGAIN)
		w = 0;
	if (w < 0) {
		if (w != UV_EPIPE && w != UV_ECONNRESET)
			server_error(c->us->sv, "uv_try_write", -w);
		uv_conn_close(c);
		return;
	}
	/* The rest: stop reading (the buffer is in use) until it is written. */
	uv_read_stop(st);
	b = uv_buf_init(buf->base + w, (unsigned)(nread - w));
	c->wreq.data = c;
	if ((r = uv_write(&c->wreq, st, &b, 1, uv_conn_written)) != 0) {
		server_error(c->us->sv, "uv_write", -r);
		uv_conn_close(c);
	}
}

static void
uv_srv_connection(uv_stream_t *lsn, int status)
{
	struct uv_srv *us = lsn->data;
	struct uv_conn *c;
	int r;

	if (status < 0) {
		server_error(us->sv, "listen", -status);
		return;
	}
	c = malloc(sizeof(*c));
	if (c == NULL)
		bench_die("malloc: out of memory");
	c->us = us;
	if ((r = uv_tcp_init(&us->loop, &c->tcp)) != 0)
		bench_die("libuv: uv_tcp_init: %s", uv_strerror(r));
	c->tcp.data = c;
	atomic_fetch_add(&us->sv->conns, 1);
	if ((r = uv_accept(lsn, (uv_stream_t *)&c->tcp)) != 0) {
		server_error(us->sv, "uv_accept", -r);
		uv_conn_close(c);
		return;
	}
	atomic_fetch_add(&us->sv->accepted, 1);
	if ((r = uv_tcp_nodelay(&c->tcp, 1)) != 0)
		server_error(us->sv, "uv_tcp_nodelay", -r);
	if ((r = uv_read_start((uv_stream_t *)&c->tcp, uv_conn_alloc,
	    uv_conn_read)) != 0) {
		server_error(us->sv, "uv_read_start", -r);
		uv_conn_close(c);
	}
}

static void
uv_walk_close(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (uv_is_closing(h))
		return;
	/* Connections carry their conn in data; the others now NULL. */
	if (h->data != NULL)
		uv_close(h, uv_conn_closed);
	else
		uv_close(h, NULL);
}

static void
uv_srv_stop_cb(uv_async_t *a)
{
	struct uv_srv *us = a->data;

	/* Mark the non-connection handles before walking. */
	us->lsn.data = NULL;
	us->stop.data = NULL;
	uv_walk(&us->loop, uv_walk_close, NULL);
}

static void *
uv_srv_main(void *arg)
{
	struct uv_srv *us = arg;
	struct sockaddr_in sin;
	int len = sizeof(sin), r;

	pthread_setname_np(pthread_self(), "uv-echo");
	if ((r = uv_loop_init(&us->loop)) != 0) {
		us->what = "uv_loop_init";
		goto fail;
	}
	if ((r = uv_tcp_init(&us->loop, &us->lsn)) != 0) {
		us->what = "uv_tcp_init";
		goto fail;
	}
	us->lsn.data = us;
	if ((r = uv_ip4_addr("127.0.0.1", 0, &sin)) != 0 ||
	    (r = uv_tcp_bind(&us->lsn, (const struct sockaddr *)&sin, 0)) != 0) {
		us->what = "uv_tcp_bind";
		goto fail;
	}
	if ((r = uv_listen((uv_stream_t *)&us->lsn, 128,
	    uv_srv_connection)) != 0) {
		us->what = "uv_listen";
		goto fail;
	}
	if ((r = uv_tcp_getsockname(&us->lsn, (struct sockaddr *)&sin,
	    &len)) != 0) {
		us->what = "uv_tcp_getsockname";
		goto fail;
	}
	us->sv->port = sin.sin_port;
	if ((r = uv_async_init(&us->loop, &us->stop, uv_srv_stop_cb)) != 0) {
		us->what = "uv_async_init";
		goto fail;
	}
	us->stop.data = us;
	flag_set(&us->ready);
	uv_run(&us->loop, UV_RUN_DEFAULT);
	if ((r = uv_loop_close(&us->loop)) != 0)
		bench_die("libuv: uv_loop_close: %s", uv_strerror(r));
	return NULL;
fail:
	us->err = r;
	flag_set(&us->ready);
	return NULL;
}

static void
libuv_start(struct server *sv)
{
	struct uv_srv *us;
	int r;

	us = calloc(1, sizeof(*us));
	if (us == NULL)
		bench_die("calloc: out of memory");
	us->sv = sv;
	sv->priv = us;
	flag_init(&us->ready);
	if ((r = pthread_create(&us->th, NULL, uv_srv_main, us)) != 0)
		bench_die("pthread_create: %s", strerror(r));
	if (!flag_wait(&us->ready, CLOSE_S))
		bench_die("libuv: the server thread did not start");
	if (us->err)
		bench_die("libuv: %s: %s", us->what, uv_strerror(us->err));
}

static void
libuv_stop(struct server *sv)
{
	struct uv_srv *us = sv->priv;
	int r;

	if ((r = uv_async_send(&us->stop)) != 0)
		bench_die("libuv: uv_async_send: %s", uv_strerror(r));
	pthread_join(us->th, NULL);
	flag_destroy(&us->ready);
	free(us);
	sv->priv = NULL;
}

/* ------------------------------------------------------------------ */
/* libevent                                                           */

struct le_conn {
	struct bufferevent	*bev;
	struct le_srv		*ls;
	struct le_conn		*prev, *next;
};

struct le_srv {
	struct server		*sv;
	pthread_t		 th;
	struct event_base	*base;
	struct evconnlistener	*lsn;
	struct event		*stop_ev;
	int			 stop_fd;	/* an eventfd: main -> loop */
	struct le_conn		*head;
	struct flag		 ready;
	const char		*err;
};

static void
le_conn_free(struct le_conn *c)
{
	struct le_srv *ls = c->ls;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		ls->head = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	bufferevent_free(c->bev);
	atomic_fetch_sub(&ls->sv->conns, 1);
	free(c);
}

static void
le_conn_read(struct bufferevent *bev, void *arg)
{
	struct le_conn *c = arg;

	if (bufferevent_write_buffer(bev, bufferevent_get_input(bev)) != 0) {
		server_error(c->ls->sv, "bufferevent_write_buffer", EIO);
		le_conn_free(c);
	}
}

static void
le_conn_event(struct bufferevent *bev, short what, void *arg)
{
	struct le_conn *c = arg;
	int err = EVUTIL_SOCKET_ERROR();

	(void)bev;
	if (what & BEV_EVENT_ERROR) {
		if (!peer_gone(err))
			server_error(c->ls->sv, "bufferevent", err);
		le_conn_free(c);
	} else if (what & BEV_EVENT_EOF) {
		le_conn_free(c);
	}
}

static void
le_srv_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct le_srv *ls = arg;
	struct le_conn *c;
	int one = 1;

	(void)l;
	(void)sa;
	(void)salen;
	atomic_fetch_add(&ls->sv->accepted, 1);
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
		server_error(ls->sv, "setsockopt(TCP_NODELAY)", errno);
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		bench_die("calloc: out of memory");
	c->ls = ls;
	c->bev = bufferevent_socket_new(ls->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
		bench_die("libevent: bufferevent_socket_new failed");
	c->next = ls->head;
	if (ls->head != NULL)
		ls->head->prev = c;
	ls->head = c;
	atomic_fetch_add(&ls->sv->conns, 1);
	bufferevent_setcb(c->bev, le_conn_read, NULL, le_conn_event, c);
	if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) != 0) {
		server_error(ls->sv, "bufferevent_enable", EIO);
		le_conn_free(c);
	}
}

static void
le_srv_error(struct evconnlistener *l, void *arg)
{
	struct le_srv *ls = arg;

	(void)l;
	server_error(ls->sv, "evconnlistener", EVUTIL_SOCKET_ERROR());
}

/* Main asked to stop: free everything; the loop then has nothing left. */
static void
le_srv_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct le_srv *ls = arg;

	(void)fd;
	(void)what;
	while (ls->head != NULL)
		le_conn_free(ls->head);
	evconnlistener_free(ls->lsn);
	ls->lsn = NULL;
	event_free(ls->stop_ev);
	ls->stop_ev = NULL;
	event_base_loopbreak(ls->base);
}

static void *
le_srv_main(void *arg)
{
	struct le_srv *ls = arg;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	pthread_setname_np(pthread_self(), "ev-echo");
	ls->base = event_base_new();
	if (ls->base == NULL) {
		ls->err = "event_base_new failed";
		goto fail;
	}
	if (strcmp(event_base_get_method(ls->base), "epoll") != 0) {
		ls->err = "the backend is not epoll";
		goto fail;
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = 0;
	ls->lsn = evconnlistener_new_bind(ls->base, le_srv_accept, ls,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 128,
	    (struct sockaddr *)&sin, sizeof(sin));
	if (ls->lsn == NULL) {
		ls->err = "evconnlistener_new_bind failed";
		goto fail;
	}
	evconnlistener_set_error_cb(ls->lsn, le_srv_error);
	if (getsockname(evconnlistener_get_fd(ls->lsn),
	    (struct sockaddr *)&sin, &len) != 0) {
		ls->err = "getsockname failed";
		goto fail;
	}
	ls->sv->port = sin.sin_port;
	ls->stop_ev = event_new(ls->base, ls->stop_fd, EV_READ,
	    le_srv_stop_cb, ls);
	if (ls->stop_ev == NULL || event_add(ls->stop_ev, NULL) != 0) {
		ls->err = "event_new/event_add (stop) failed";
		goto fail;
	}
	flag_set(&ls->ready);
	if (event_base_dispatch(ls->base) < 0)
		bench_die("libevent: event_base_dispatch failed");
	event_base_free(ls->base);
	ls->base = NULL;
	return NULL;
fail:
	flag_set(&ls->ready);
	return NULL;
}

static void
libevent_start(struct server *sv)
{
	struct le_srv *ls;
	int r;

	ls = calloc(1, sizeof(*ls));
	if (ls == NULL)
		bench_die("calloc: out of memory");
	ls->sv = sv;
	sv->priv = ls;
	ls->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ls->stop_fd < 0)
		bench_die("eventfd: %s", strerror(errno));
	flag_init(&ls->ready);
	if ((r = pthread_create(&ls->th, NULL, le_srv_main, ls)) != 0)
		bench_die("pthread_create: %s", strerror(r));
	if (!flag_wait(&ls->ready, CLOSE_S))
		bench_die("libevent: the server thread did not start");
	if (ls->err != NULL)
		bench_die("libevent: %s", ls->err);
}

static void
libevent_stop(struct server *sv)
{
	struct le_srv *ls = sv->priv;
	uint64_t one = 1;

	if (write(ls->stop_fd, &one, sizeof(one)) != sizeof(one))
		bench_die("libevent: eventfd write: %s", strerror(errno));
	pthread_join(ls->th, NULL);
	close(ls->stop_fd);
	flag_destroy(&ls->ready);
	free(ls);
	sv->priv = NULL;
}

/* ------------------------------------------------------------------ */
/* The client                                                         */

struct cconn {
	int		 fd;
	unsigned	 idx;
	int		 out;		/* EPOLLOUT armed */
	uint64_t	 tx;		/* bytes sent */
	uint64_t	 target;	/* bytes to have sent */
	uint64_t	 rx;		/* bytes echoed and checked */
};

struct client {
	struct server	*sv;
	struct cconn	*cc;
	int		 ep;
	/* Results. */
	uint64_t	 reqs;		/* completed in the window */
	double		 secs;		/* the window's length */
	double		 srv_cpu;	/* server-side CPU seconds in it */
	double		 srv_vcsw;	/* server-side voluntary switches */
	double		 cli_cpu;
	uint64_t	 total;		/* requests completed, whole run */
};

static void
cc_arm(struct client *cl, struct cconn *c, int out)
{
	struct epoll_event e;

	if (c->out == out)
		return;
	e.events = EPOLLIN | (out ? EPOLLOUT : 0);
	e.data.ptr = c;
	if (epoll_ctl(cl->ep, EPOLL_CTL_MOD, c->fd, &e) != 0)
		bench_die("client: epoll_ctl: %s", strerror(errno));
	c->out = out;
}

/* Send towards c->target; arm EPOLLOUT if the socket is full. */
static void
cc_send(struct client *cl, struct cconn *c)
{
	ssize_t n;
	size_t len;

	while (c->tx < c->target) {
		len = c->target - c->tx;
		if (len > CHUNK)
			len = CHUNK;
		n = send(c->fd, pat_at(c->idx, c->tx), len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN)
				break;
			if (errno == EINTR)
				continue;
			bench_die("%s: client connection %u lost: send: %s",
			    cl->sv->name, c->idx, strerror(errno));
		}
		c->tx += (uint64_t)n;
	}
	cc_arm(cl, c, c->tx < c->target);
}

/* Read, check and count the echo; returns the requests it completed. */
static uint64_t
cc_recv(struct client *cl, struct cconn *c, unsigned char *buf)
{
	uint64_t done = 0, s = opt_size;
	ssize_t n;

	for (;;) {
		n = recv(c->fd, buf, RBUF, 0);
		if (n < 0) {
			if (errno == EAGAIN)
				break;
			if (errno == EINTR)
				continue;
			bench_die("%s: client connection %u lost: recv: %s",
			    cl->sv->name, c->idx, strerror(errno));
		}
		if (n == 0)
			bench_die("%s: client connection %u lost: the server closed "
			    "it after echoing %" PRIu64 " of %" PRIu64 " bytes",
			    cl->sv->name, c->idx, c->rx, c->tx);
		if (c->rx + (uint64_t)n > c->tx)
			bench_die("%s: connection %u: %zd bytes echoed at offset %"
			    PRIu64 ", but only %" PRIu64 " were sent",
			    cl->sv->name, c->idx, n, c->rx, c->tx);
		if (memcmp(buf, pat_at(c->idx, c->rx), (size_t)n) != 0) {
			ssize_t i;

			for (i = 0; i < n && buf[i] == pat_at(c->idx,
			    c->rx)[i]; i++)
				;
			bench_die("%s: connection %u: echoed byte at offset %"
			    PRIu64 " is %#x, sent %#x", cl->sv->name, c->idx,
			    c->rx + (uint64_t)i, buf[i],
			    pat_at(c->idx, c->rx)[i]);
		}
		done += (c->rx + (uint64_t)n) / s - c->rx / s;
		c->rx += (uint64_t)n;
		if ((size_t)n < RBUF)
			break;
	}
	return done;
}

static int
connect_one(uint16_t port)
{
	struct sockaddr_in sin;
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		bench_die("client: socket: %s", strerror(errno));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = port;
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0)
		bench_die("client: connect 127.0.0.1:%u: %s", ntohs(port),
		    strerror(errno));
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
		bench_die("client: TCP_NODELAY: %s", strerror(errno));
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0)
		bench_die("client: O_NONBLOCK: %s", strerror(errno));
	return fd;
}

/* Process-minus-this-thread CPU and voluntary switches, this instant. */
struct snap {
	double		t, proc_cpu, thr_cpu;
	long		proc_vcsw, thr_vcsw;
	uint64_t	total;
};

static void
snap_take(struct snap *sn, uint64_t total)
{
	struct rusage rp, rt;

	getrusage(RUSAGE_SELF, &rp);
	getrusage(RUSAGE_THREAD, &rt);
	sn->t = bench_now_s();
	sn->proc_cpu = tv_s(&rp.ru_utime) + tv_s(&rp.ru_stime);
	sn->thr_cpu = tv_s(&rt.ru_utime) + tv_s(&rt.ru_stime);
	sn->proc_vcsw = rp.ru_nvcsw;
	sn->thr_vcsw = rt.ru_nvcsw;
	sn->total = total;
}

static void *
client_main(void *arg)
{
	struct client *cl = arg;
	struct epoll_event *evs, e;
	struct snap s0, s1;
	unsigned char *buf;
	uint64_t total = 0, per = (uint64_t)opt_size * opt_depth;
	double t_start, t_win, t_end, t_last, t;
	unsigned i, left;
	int phase = 0, n, k;	/* 0 warm-up, 1 window, 2 drain */

	pthread_setname_np(pthread_self(), "echo-client");
	buf = malloc(RBUF);
	evs = calloc(opt_conns, sizeof(*evs));
	cl->cc = calloc(opt_conns, sizeof(*cl->cc));
	if (buf == NULL || evs == NULL || cl->cc == NULL)
		bench_die("client: out of memory");
	cl->ep = epoll_create1(EPOLL_CLOEXEC);
	if (cl->ep < 0)
		bench_die("client: epoll_create1: %s", strerror(errno));
	for (i = 0; i < opt_conns; i++) {
		struct cconn *c = &cl->cc[i];

		c->idx = i;
		c->fd = connect_one(cl->sv->port);
		e.events = EPOLLIN;
		e.data.ptr = c;
		if (epoll_ctl(cl->ep, EPOLL_CTL_ADD, c->fd, &e) != 0)
			bench_die("client: epoll_ctl: %s", strerror(errno));
	}
	/* Prime: D requests on every connection. */
	for (i = 0; i < opt_conns; i++) {
		cl->cc[i].target = per;
		cc_send(cl, &cl->cc[i]);
	}

	t_start = t_last = bench_now_s();
	t_win = t_start + opt_warmup;
	t_end = t_win + opt_secs;
	memset(&s0, 0, sizeof(s0));
	left = opt_conns;
	for (;;) {
		n = epoll_wait(cl->ep, evs, (int)opt_conns, 100);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			bench_die("client: epoll_wait: %s", strerror(errno));
		}
		for (k = 0; k < n; k++) {
			struct cconn *c = evs[k].data.ptr;
			uint64_t done;

			if (evs[k].events & EPOLLIN) {
				done = cc_recv(cl, c, buf);
				total += done;
				if (phase < 2) {
					/* Closed loop: refill what completed. */
					c->target = (c->rx / opt_size) *
					    opt_size + per;
				} else if (done && c->rx == c->target) {
					left--;
				}
			} else if (evs[k].events & (EPOLLERR | EPOLLHUP)) {
				bench_die("%s: client connection %u lost (epoll "
				    "events %#x)", cl->sv->name, c->idx,
				    evs[k].events);
			}
			if (c->tx < c->target)
				cc_send(cl, c);
		}
		t = bench_now_s();
		if (n > 0)
			t_last = t;
		else if (t - t_last > STALL_S)
			bench_die("%s: no echo for %.0f s (%" PRIu64 " requests "
			    "done)", cl->sv->name, STALL_S, total);
		if (phase == 0 && t >= t_win) {
			snap_take(&s0, total);
			phase = 1;
		} else if (phase == 1 && t >= t_end) {
			snap_take(&s1, total);
			phase = 2;
			/* Stop issuing; wait for what is outstanding. */
			t_last = t;
			for (i = 0, left = 0; i < opt_conns; i++)
				if (cl->cc[i].rx != cl->cc[i].target)
					left++;
		}
		if (phase == 2) {
			if (left == 0)
				break;
			if (t - t_last > DRAIN_S)
				bench_die("%s: %u connection(s) still waiting for "
				    "their echo %.0f s after the window",
				    cl->sv->name, left, DRAIN_S);
		}
	}
	for (i = 0; i < opt_conns; i++) {
		struct cconn *c = &cl->cc[i];

		if (c->rx != c->tx || c->tx != c->target)
			bench_die("%s: connection %u: %" PRIu64 " sent, %" PRIu64
			    " echoed at the end", cl->sv->name, i, c->tx,
			    c->rx);
		close(c->fd);
	}
	close(cl->ep);
	cl->reqs = s1.total - s0.total;
	cl->secs = s1.t - s0.t;
	cl->cli_cpu = s1.thr_cpu - s0.thr_cpu;
	cl->srv_cpu = (s1.proc_cpu - s0.proc_cpu) - cl->cli_cpu;
	cl->srv_vcsw = (double)((s1.proc_vcsw - s0.proc_vcsw) -
	    (s1.thr_vcsw - s0.thr_vcsw));
	cl->total = total;
	free(cl->cc);
	cl->cc = NULL;
	free(evs);
	free(buf);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* The driver                                                         */

enum { S_KCONT, S_LIBUV, S_LIBEVENT, NS };

static struct server servers[NS] = {
	[S_KCONT] = { .name = "kcont", .start = kcont_start,
	    .stop = kcont_stop },
	[S_LIBUV] = { .name = "libuv", .start = libuv_start,
	    .stop = libuv_stop },
	[S_LIBEVENT] = { .name = "libevent", .start = libevent_start,
	    .stop = libevent_stop },
};

struct sample {
	double	rps;
	double	cpu_us;		/* server side, per request */
	double	vcsw;		/* server side, per request */
	double	cli_cpu_us;	/* client, per request */
	uint64_t total;	/* requests, warm-up and drain included */
};

static int
want(int s)
{
	return only == NULL || strcmp(only, servers[s].name) == 0;
}

static struct sample
measure(struct server *sv)
{
	struct client cl;
	struct sample sm;
	pthread_t th;
	double t0;
	int r;

	atomic_store(&sv->conns, 0);
	atomic_store(&sv->accepted, 0);
	sv->start(sv);
	memset(&cl, 0, sizeof(cl));
	cl.sv = sv;
	if ((r = pthread_create(&th, NULL, client_main, &cl)) != 0)
		bench_die("pthread_create: %s", strerror(r));
	pthread_join(th, NULL);

	/* The client has closed everything: the server must follow. */
	t0 = bench_now_s();
	while (atomic_load(&sv->conns) != 0 ||
	    atomic_load(&sv->accepted) != (long)opt_conns) {
		if (bench_now_s() - t0 > CLOSE_S)
			bench_die("%s: %d connection(s) still open on the server "
			    "(%ld accepted of %u) %.0f s after the client "
			    "closed them", sv->name, atomic_load(&sv->conns),
			    atomic_load(&sv->accepted), opt_conns, CLOSE_S);
		bench_sleep_s(0.001);
	}
	sv->stop(sv);
	if (atomic_load(&sv->errors) != 0)
		bench_die("%s: the server met %ld unexpected error(s)", sv->name,
		    atomic_load(&sv->errors));
	if (cl.reqs == 0 || cl.secs <= 0)
		bench_die("%s: no request completed in the window", sv->name);
	sm.rps = (double)cl.reqs / cl.secs;
	sm.cpu_us = cl.srv_cpu * 1e6 / (double)cl.reqs;
	sm.vcsw = cl.srv_vcsw / (double)cl.reqs;
	sm.cli_cpu_us = cl.cli_cpu * 1e6 / (double)cl.reqs;
	sm.total = cl.total;
	return sm;
}

static void
usage(void)
{
	fprintf(stderr, "usage: bench-echo [--quick] [-s SIZE] [-d DEPTH] "
	    "[-c CONNS] [--rounds R]\n"
	    "                  [-t SECONDS] [--warmup SECONDS] [--only NAME]\n"
	    "  --quick         2 rounds of 0.5 s, 0.1 s warm-up (CI)\n"
	    "  -s SIZE         request size in bytes (default 64, at most %u)\n"
	    "  -d DEPTH        requests outstanding per connection (default 1)\n"
	    "  -c CONNS        connections (default 100)\n"
	    "  --rounds R      rounds of interleaved servers (default 5)\n"
	    "  -t SECONDS      timed window per server per round (default 2)\n"
	    "  --warmup SECS   warm-up before each window (default 0.3)\n"
	    "  --only NAME     run one server (kcont libuv libevent), e.g. under\n"
	    "                  perf; the summary is then partial\n", MAX_SIZE);
	exit(2);
}

int
main(int argc, char **argv)
{
	double rps[NS][64], cpu[NS][64], vcsw[NS][64], ccpu[NS][64];
	double med[NS], t;
	struct rlimit rl;
	unsigned r, budget;
	int i, s, quick = 0, set_rounds = 0, set_secs = 0, set_warm = 0;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			quick = 1;
		} else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc) {
			opt_size = bench_parse_uint(argv[++i],
			    1, MAX_SIZE, usage);
		} else if (strcmp(argv[i], "-d") == 0 && i + 1 < argc) {
			opt_depth = bench_parse_uint(argv[++i],
			    1, MAX_DEPTH, usage);
		} else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			opt_conns = bench_parse_uint(argv[++i],
			    1, MAX_CONNS, usage);
		} else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
			opt_rounds = bench_parse_uint(argv[++i], 1, 64, usage);
			set_rounds = 1;
		} else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc) {
			opt_secs = bench_parse_secs(argv[++i], 0.05, 60.0,
			    usage);
			set_secs = 1;
		} else if (strcmp(argv[i], "--warmup") == 0 && i + 1 < argc) {
			opt_warmup = bench_parse_secs(argv[++i], 0.0, 10.0,
			    usage);
			set_warm = 1;
		} else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
			only = argv[++i];
		} else {
			usage();
		}
	}
	if (only != NULL) {
		for (s = 0; s < NS && strcmp(only, servers[s].name); s++)
			;
		if (s == NS)
			usage();
	}
	if (quick) {
		if (!set_rounds)
			opt_rounds = 2;
		if (!set_secs)
			opt_secs = 0.5;
		if (!set_warm)
			opt_warmup = 0.1;
	}
	/* Client and server ends of every connection, plus some. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur < (rlim_t)opt_conns * 2 + 64) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			bench_die("setrlimit(RLIMIT_NOFILE): %s", strerror(errno));
	}
	/* Bounded: every server-round has its window, warm-up and limits. */
	budget = (unsigned)(opt_rounds * NS * (opt_warmup + opt_secs +
	    STALL_S + DRAIN_S + 2 * CLOSE_S)) + 60;
	bench_init("bench-echo", budget);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	make_pattern();

	printf("bench-echo: %ld CPUs, TCP over 127.0.0.1, %u connections, "
	    "%u-byte requests, %u outstanding per connection; %u rounds x "
	    "%.2f s per server after %.2f s warm-up, servers interleaved; "
	    "libuv %s, libevent %s\n", sysconf(_SC_NPROCESSORS_ONLN),
	    opt_conns, opt_size, opt_depth, opt_rounds, opt_secs, opt_warmup,
	    uv_version_string(), event_get_version());

	for (r = 0; r < opt_rounds; r++) {
		for (s = 0; s < NS; s++) {
			struct sample sm;

			if (!want(s))
				continue;
			t = bench_now_s();
			sm = measure(&servers[s]);
			rps[s][r] = sm.rps;
			cpu[s][r] = sm.cpu_us;
			vcsw[s][r] = sm.vcsw;
			ccpu[s][r] = sm.cli_cpu_us;
			printf("  round %u %-8s %10.0f req/s  server %6.2f us "
			    "cpu/req %6.3f vcsw/req  client %5.2f us cpu/req"
			    "  (%" PRIu64 " in all, %.2f s)\n", r + 1,
			    servers[s].name, sm.rps, sm.cpu_us, sm.vcsw,
			    sm.cli_cpu_us, sm.total, bench_now_s() - t);
		}
	}

	printf("medians over %u rounds (req/s; server side cpu and voluntary "
	    "context switches per request; min-max req/s):\n", opt_rounds);
	for (s = 0; s < NS; s++) {
		double lo, hi;

		med[s] = 0.0;
		if (!want(s))
			continue;
		med[s] = bench_median(rps[s], opt_rounds);
		lo = rps[s][0];
		hi = rps[s][opt_rounds - 1];
		printf("  %-8s %10.0f req/s  server %6.2f us cpu/req  %6.3f "
		    "vcsw/req  client %5.2f us cpu/req  (%.0f-%.0f)\n",
		    servers[s].name, med[s], bench_median(cpu[s], opt_rounds),
		    bench_median(vcsw[s], opt_rounds), bench_median(ccpu[s], opt_rounds),
		    lo, hi);
	}
	/* Information: the server side's CPU per request, kcont's over each. */
	printf("server cpu per request: kcont/libuv=%.2f kcont/libevent=%.2f "
	    "(above 1: kcont spends more)\n",
	    want(S_KCONT) && want(S_LIBUV) ? bench_median(cpu[S_KCONT], opt_rounds) /
	    bench_median(cpu[S_LIBUV], opt_rounds) : 0.0,
	    want(S_KCONT) && want(S_LIBEVENT) ?
	    bench_median(cpu[S_KCONT], opt_rounds) /
	    bench_median(cpu[S_LIBEVENT], opt_rounds) : 0.0);
	printf("echo: vs_libuv=%.2f vs_libevent=%.2f\n",
	    med[S_LIBUV] > 0 ? med[S_KCONT] / med[S_LIBUV] : 0.0,
	    med[S_LIBEVENT] > 0 ? med[S_KCONT] / med[S_LIBEVENT] : 0.0);
	return 0;
}
