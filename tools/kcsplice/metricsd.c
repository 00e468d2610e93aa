/*
 * metricsd.c: the metrics endpoint's server (metrics.h).
 *
 * A plain thread with poll(2), not a soft executor with owned sockets: it
 * shares nothing with the relay's executors (no run queue, no pipe pool,
 * no socket count, no spinning before sleep), reads exactly the bytes it
 * asks for into its own bounded buffer (an owned socket would read ahead
 * up to its high-water mark), and every wait it does is one poll(2) with
 * the nearest deadline.  The relay's threads never wait for it: the
 * snapshot is relaxed atomic loads and the library's any-thread stats
 * calls (main.c's ks_snapshot_take()).
 *
 * Each connection: read the request (at most KS_HTTP_MAX bytes, within
 * KS_METRICS_READ_MS of the accept), answer at once when the parser has a
 * request or an error (408 at the deadline), write the answer without
 * blocking within KS_METRICS_WRITE_MS, shut the sending side and wait up to
 * KS_METRICS_LINGER_MS for the client's end (reading and discarding at most
 * 64 KiB, so that closing does not reset a client whose request had more
 * bytes than were read before it read the answer), then close.  At most
 * KS_METRICS_CONNS connections at once; one more is answered 503 with a
 * single non-blocking write and closed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "metrics.h"

#define LINGER_MAX	(64 * 1024)
#define ACCEPT_PAUSE_MS	100	/* after EMFILE and the like */

enum mc_state { MC_FREE = 0, MC_READ, MC_WRITE, MC_LINGER };

struct mconn {
	enum mc_state	 st;
	int		 fd;
	uint64_t	 deadline;	/* ms, CLOCK_MONOTONIC */
	char		 in[KS_HTTP_MAX];
	size_t		 inlen;
	char		*out;
	size_t		 outlen, outoff;
	size_t		 discarded;
};

struct server {
	int		 lfd;
	uint64_t	 accept_at;	/* 0, or when to accept again */
	ks_snapshot_fn	*snap;
	struct mconn	 c[KS_METRICS_CONNS];
};

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void
mc_close(struct mconn *c)
{
	close(c->fd);
	free(c->out);
	c->out = NULL;
	c->fd = -1;
	c->st = MC_FREE;
}

/* The answer is ready: write it from now on. */
static void
mc_answer(struct server *sv, struct mconn *c, const struct ks_http_req *req,
    int parse)
{
	if (ks_metrics_answer(c->in, req, parse, sv->snap, &c->out,
	    &c->outlen) < 0) {
		mc_close(c);
		return;
	}
	c->outoff = 0;
	c->st = MC_WRITE;
	c->deadline = now_ms() + KS_METRICS_WRITE_MS;
}

static void
mc_read(struct server *sv, struct mconn *c)
{
	struct ks_http_req req;
	ssize_t n;
	int r;

	n = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen,
	    MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		mc_close(c);
		return;
	}
	if (n == 0) {
		/* The client ended its side before a whole request. */
		if (c->inlen == 0)
			mc_close(c);
		else
			mc_answer(sv, c, NULL, 400);
		return;
	}
	c->inlen += (size_t)n;
	r = ks_http_parse(c->in, c->inlen, &req);
	if (r == KS_HTTP_MORE)
		return;
	mc_answer(sv, c, r == KS_HTTP_DONE ? &req : NULL, r);
}

static void
mc_write(struct mconn *c)
{
	ssize_t n;

	while (c->outoff < c->outlen) {
		n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff,
		    MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			mc_close(c);
			return;
		}
		c->outoff += (size_t)n;
	}
	free(c->out);
	c->out = NULL;
	(void)shutdown(c->fd, SHUT_WR);
	c->st = MC_LINGER;
	c->discarded = 0;
	c->deadline = now_ms() + KS_METRICS_LINGER_MS;
}

static void
mc_linger(struct mconn *c)
{
	char buf[4096];
	ssize_t n;

	for (;;) {
		n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0 || (c->discarded += (size_t)n) > LINGER_MAX) {
			mc_close(c);
			return;
		}
	}
}

/* One more than KS_METRICS_CONNS: a 503 if it fits at once, and close. */
static void
refuse(int fd)
{
	static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Length: 24\r\nConnection: close\r\n\r\n"
	    "503 Service Unavailable\n";

	(void)send(fd, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
}

static void
accept_some(struct server *sv)
{
	unsigned i, k;
	int fd;

	for (k = 0; k < 2 * KS_METRICS_CONNS; k++) {
		fd = accept4(sv->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				sv->accept_at = now_ms() + ACCEPT_PAUSE_MS;
			return;
		}
		for (i = 0; i < KS_METRICS_CONNS; i++)
			if (sv->c[i].st == MC_FREE)
				break;
		if (i == KS_METRICS_CONNS) {
			refuse(fd);
			continue;
		}
		sv->c[i].st = MC_READ;
		sv->c[i].fd = fd;
		sv->c[i].inlen = 0;
		sv->c[i].deadline = now_ms() + KS_METRICS_READ_MS;
	}
}

static void *
serve(void *arg)
{
	struct server *sv = arg;
	struct pollfd pf[KS_METRICS_CONNS + 1];
	struct mconn *c;
	uint64_t now, next;
	unsigned i;
	int timeout;

	for (;;) {
		now = now_ms();
		next = UINT64_MAX;
		if (sv->accept_at != 0 && now >= sv->accept_at)
			sv->accept_at = 0;
		pf[0].fd = sv->accept_at == 0 ? sv->lfd : -1;
		pf[0].events = POLLIN;
		if (sv->accept_at != 0)
			next = sv->accept_at;
		for (i = 0; i < KS_METRICS_CONNS; i++) {
			c = &sv->c[i];
			pf[i + 1].fd = c->st == MC_FREE ? -1 : c->fd;
			pf[i + 1].events = c->st == MC_WRITE ? POLLOUT : POLLIN;
			pf[i + 1].revents = 0;
			if (c->st != MC_FREE && c->deadline < next)
				next = c->deadline;
		}
		timeout = next == UINT64_MAX ? -1 : next <= now ? 0 :
		    (int)(next - now);
		if (poll(pf, KS_METRICS_CONNS + 1, timeout) < 0 &&
		    errno != EINTR) {
			/* Cannot happen with valid arguments: do not spin. */
			(void)poll(NULL, 0, ACCEPT_PAUSE_MS);
			continue;
		}
		now = now_ms();
		for (i = 0; i < KS_METRICS_CONNS; i++) {
			c = &sv->c[i];
			if (c->st == MC_FREE)
				continue;
			if (pf[i + 1].revents != 0) {
				if (c->st == MC_READ)
					mc_read(sv, c);
				else if (c->st == MC_WRITE)
					mc_write(c);
				else
					mc_linger(c);
			}
			if (c->st == MC_FREE || now < c->deadline)
				continue;
			/* Its time is up. */
			if (c->st == MC_READ)
				mc_answer(sv, c, NULL, 408);
			else
				mc_close(c);
			if (c->st == MC_WRITE)
				mc_write(c);	/* 408: one try, at once */
			if (c->st == MC_WRITE)
				c->deadline = now;	/* and no more */
		}
		if (pf[0].fd >= 0 && (pf[0].revents & POLLIN) != 0)
			accept_some(sv);
	}
	return NULL;
}

int
ks_metrics_serve(int fd, ks_snapshot_fn *snap)
{
	pthread_attr_t attr;
	struct server *sv;
	pthread_t t;
	unsigned i;
	int e;

	if (fd < 0 || snap == NULL)
		return -EINVAL;
	if ((sv = calloc(1, sizeof(*sv))) == NULL)
		return -ENOMEM;
	sv->lfd = fd;
	sv->snap = snap;
	for (i = 0; i < KS_METRICS_CONNS; i++)
		sv->c[i].fd = -1;
	(void)pthread_attr_init(&attr);
	(void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	e = pthread_create(&t, &attr, serve, sv);
	(void)pthread_attr_destroy(&attr);
	if (e != 0) {
		free(sv);
		return -e;
	}
	(void)pthread_setname_np(t, "kcsplice/metric");
	return 0;
}
