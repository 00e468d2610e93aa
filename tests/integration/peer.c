/*
 * peer.c: the test peers of kcsplice's integration tests (see peer.h).
 */
#include "peer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define PEER_BUFSZ	(256 * 1024)
#define PEER_ECHOSZ	(32 * 1024)
#define PEER_CHUNK	(64 * 1024)

static void *peer_thread(void *arg);

void
peer_lock(struct peer *p)
{
	pthread_mutex_lock(&p->mu);
}

void
peer_unlock(struct peer *p)
{
	pthread_mutex_unlock(&p->mu);
}

bool
peer_wait_change(struct peer *p, uint64_t deadline)
{
	struct timespec ts;
	uint64_t now = it_now_ns(), step;

	if (now >= deadline)
		return false;
	step = deadline - now < 50000000ull ? deadline - now : 50000000ull;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)step;
	while (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&p->cv, &p->mu, &ts);
	return true;
}

static void
peer_wake(struct peer *p)
{
	uint64_t one = 1;

	if (write(p->wakefd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		IT_FAIL("eventfd write: %s", strerror(errno));
}

static struct peer *
peer_new(const char *name)
{
	struct peer *p = calloc(1, sizeof(*p));

	if (p == NULL)
		IT_FAIL("out of memory");
	snprintf(p->name, sizeof(p->name), "%s", name);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->wakefd < 0)
		IT_FAIL("eventfd: %s", strerror(errno));
	p->lfd = -1;
	/* Distinct streams in every peer and connection of a test run. */
	p->seedbase = it_now_ns() * 0x9e3779b97f4a7c15ull ^
	    (uint64_t)(uintptr_t)p;
	p->buf = malloc(PEER_BUFSZ);
	if (p->buf == NULL)
		IT_FAIL("out of memory");
	return p;
}

static void
peer_run(struct peer *p)
{
	if (pthread_create(&p->thread, NULL, peer_thread, p) != 0)
		IT_FAIL("pthread_create failed");
}

static void
set_rcvbuf(int fd, int size)
{
	if (size > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size,
	    sizeof(size)) != 0)
		IT_FAIL("SO_RCVBUF: %s", strerror(errno));
}

struct peer *
peer_listen(const char *name, const char *spec, const struct pbehav *b)
{
	struct sockaddr_storage ss;
	struct it_addr a;
	struct peer *p;
	socklen_t len = sizeof(ss);
	int one = 1;

	if (it_addr_parse(&a, spec) != 0 || a.type != SOCK_STREAM)
		IT_FAIL("peer_listen: bad address %s", spec);
	p = peer_new(name);
	p->accept_b = *b;
	p->lfd = socket(a.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (p->lfd < 0)
		IT_FAIL("socket: %s", strerror(errno));
	if (a.ss.ss_family != AF_UNIX)
		setsockopt(p->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* Accepted sockets take the listener's buffer (and window scale). */
	set_rcvbuf(p->lfd, b->rcvbuf);
	if (bind(p->lfd, (struct sockaddr *)&a.ss, a.len) != 0)
		IT_FAIL("bind %s: %s", spec, strerror(errno));
	if (listen(p->lfd, 4096) != 0)
		IT_FAIL("listen %s: %s", spec, strerror(errno));
	if (getsockname(p->lfd, (struct sockaddr *)&ss, &len) != 0)
		IT_FAIL("getsockname: %s", strerror(errno));
	it_addr_from(&p->addr, SOCK_STREAM, (struct sockaddr *)&ss, len);
	peer_run(p);
	return p;
}

struct peer *
peer_client(const char *name)
{
	struct peer *p = peer_new(name);

	peer_run(p);
	return p;
}

/* With the lock held. */
static struct pconn *
conn_add(struct peer *p, int fd, const struct pbehav *b)
{
	struct pconn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		IT_FAIL("out of memory");
	if (p->nconns == p->capconns) {
		p->capconns = p->capconns ? p->capconns * 2 : 64;
		p->conns = realloc(p->conns, p->capconns * sizeof(*p->conns));
		if (p->conns == NULL)
			IT_FAIL("out of memory");
	}
	if (p->nactive == p->capactive) {
		p->capactive = p->capactive ? p->capactive * 2 : 64;
		p->active = realloc(p->active, p->capactive *
		    sizeof(*p->active));
		if (p->active == NULL)
			IT_FAIL("out of memory");
	}
	c->id = p->nconns;
	c->fd = fd;
	c->b = *b;
	c->seed = b->seed != 0 ? b->seed : pd_splitmix(p->seedbase + c->id);
	pd_hash_init(&c->rxh);
	pd_hash_init(&c->txh);
	if (!b->send_after_eof)
		c->send_at = 1;
	p->conns[p->nconns++] = c;
	p->active[p->nactive++] = c->id;
	return c;
}

struct pconn *
peer_connect(struct peer *p, const struct it_addr *a, const struct pbehav *b)
{
	struct sockaddr_storage ss;
	struct pconn *c;
	socklen_t len;
	int fd;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd < 0)
		IT_FAIL("socket: %s", strerror(errno));
	set_rcvbuf(fd, b->rcvbuf);
	if (b->bind_ip != NULL) {
		struct sockaddr_in in;

		memset(&in, 0, sizeof(in));
		in.sin_family = AF_INET;
		if (inet_pton(AF_INET, b->bind_ip, &in.sin_addr) != 1)
			IT_FAIL("bad bind_ip %s", b->bind_ip);
		if (bind(fd, (struct sockaddr *)&in, sizeof(in)) != 0)
			IT_FAIL("bind %s: %s", b->bind_ip, strerror(errno));
	}
	peer_lock(p);
	c = conn_add(p, fd, b);
	c->remote = *a;
	c->connecting = true;
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) != 0 &&
	    errno != EINPROGRESS && errno != EAGAIN) {
		c->err = errno;
		c->connecting = false;
	} else {
		len = sizeof(ss);
		if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
			it_addr_from(&c->local, SOCK_STREAM,
			    (struct sockaddr *)&ss, len);
	}
	p->kick = true;
	peer_unlock(p);
	peer_wake(p);
	return c;
}

void
peer_open_gates(struct peer *p)
{
	unsigned i;

	peer_lock(p);
	p->accept_b.read_gated = false;
	p->accept_b.send_gated = false;
	for (i = 0; i < p->nconns; i++) {
		p->conns[i]->b.read_gated = false;
		p->conns[i]->b.send_gated = false;
	}
	p->kick = true;
	peer_unlock(p);
	peer_wake(p);
}

/* With the lock held: the connection is over. */
static void
conn_finish(struct peer *p, struct pconn *c, bool close_it)
{
	if (!c->done) {
		c->done = true;
		c->t_done = it_now_ns();
		c->rx_hash = pd_hash_final(&c->rxh);
		c->tx_hash = pd_hash_final(&c->txh);
		p->ndone++;
		free(c->ebuf);
		c->ebuf = NULL;
		c->elen = 0;
	}
	if (close_it && !c->closed) {
		close(c->fd);
		c->closed = true;
	}
}

void
peer_close(struct peer *p, struct pconn *c)
{
	peer_lock(p);
	conn_finish(p, c, true);
	p->kick = true;
	peer_unlock(p);
	peer_wake(p);
}

static bool
conn_started(const struct pconn *c, uint64_t now)
{
	return c->send_at != 0 && now >= c->send_at;
}

/* Bytes the connection may send now (stream or echo). */
static uint64_t
conn_sendable(const struct pconn *c, uint64_t now)
{
	uint64_t lim;

	if (c->b.echo)
		return c->elen;
	if (!conn_started(c, now))
		return 0;
	lim = c->b.send;
	if (c->b.send_gated && c->b.send_gate < lim)
		lim = c->b.send_gate;
	return c->tx < lim ? lim - c->tx : 0;
}

static bool
conn_sent_all(const struct pconn *c)
{
	if (c->b.echo)
		return c->eof && c->elen == 0;
	return c->tx >= c->b.send;
}

static bool
conn_wants_read(const struct pconn *c, uint64_t now)
{
	if (!c->b.read || c->eof || c->err != 0 || c->connecting)
		return false;
	if (c->b.read_gated && c->rx >= c->b.read_gate)
		return false;
	if (c->b.echo && c->elen >= PEER_ECHOSZ)
		return false;
	return now >= c->next_read;
}

static void
conn_error(struct pconn *c, int err)
{
	if (c->err == 0)
		c->err = err;
}

static void
conn_read(struct peer *p, struct pconn *c, uint64_t now)
{
	size_t want;
	ssize_t n;
	int rounds;

	for (rounds = 0; rounds < 16 && conn_wants_read(c, now); rounds++) {
		want = c->b.read_chunk ? c->b.read_chunk : PEER_CHUNK;
		if (want > PEER_BUFSZ)
			want = PEER_BUFSZ;
		if (c->b.read_gated && c->b.read_gate - c->rx < want)
			want = (size_t)(c->b.read_gate - c->rx);
		if (c->b.echo) {
			if (c->ebuf == NULL) {
				c->ebuf = malloc(PEER_ECHOSZ);
				if (c->ebuf == NULL)
					IT_FAIL("out of memory");
			}
			if (c->eoff > 0) {
				memmove(c->ebuf, c->ebuf + c->eoff, c->elen);
				c->eoff = 0;
			}
			if (PEER_ECHOSZ - c->elen < want)
				want = PEER_ECHOSZ - c->elen;
		}
		n = recv(c->fd, p->buf, want, 0);
		if (n > 0) {
			pd_hash_update(&c->rxh, p->buf, (size_t)n);
			c->rx += (uint64_t)n;
			if (c->b.echo) {
				memcpy(c->ebuf + c->elen, p->buf, (size_t)n);
				c->elen += (size_t)n;
			}
			if (c->b.read_pause_ns > 0) {
				c->next_read = now + c->b.read_pause_ns;
				break;
			}
			continue;
		}
		if (n == 0) {
			c->eof = true;
			c->t_eof = now;
			if (c->b.send_after_eof)
				c->send_at = now + c->b.send_delay_ns + 1;
			break;
		}
		if (errno != EAGAIN && errno != EINTR)
			conn_error(c, errno);
		break;
	}
}

static void
conn_write(struct peer *p, struct pconn *c, uint64_t now)
{
	uint64_t can;
	size_t k;
	ssize_t n;
	int rounds;

	for (rounds = 0; rounds < 16 && c->err == 0; rounds++) {
		can = conn_sendable(c, now);
		if (can == 0)
			break;
		k = can < PEER_CHUNK ? (size_t)can : PEER_CHUNK;
		if (c->b.echo) {
			n = send(c->fd, c->ebuf + c->eoff, k, MSG_NOSIGNAL);
		} else {
			pd_fill(c->seed, c->tx, p->buf, k);
			n = send(c->fd, p->buf, k, MSG_NOSIGNAL);
		}
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				conn_error(c, errno);
			break;
		}
		pd_hash_update(&c->txh, c->b.echo ? c->ebuf + c->eoff : p->buf,
		    (size_t)n);
		c->tx += (uint64_t)n;
		if (c->b.echo) {
			c->eoff += (size_t)n;
			c->elen -= (size_t)n;
		}
	}
}

/* Everything due on one connection. */
static void
conn_io(struct peer *p, struct pconn *c, short revents, uint64_t now)
{
	struct sockaddr_storage ss;
	struct linger lg;
	socklen_t len;
	int err;

	if (c->done)
		return;
	if (c->connecting) {
		if (!(revents & (POLLOUT | POLLERR | POLLHUP)))
			return;
		err = 0;
		len = sizeof(err);
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		c->connecting = false;
		if (err != 0) {
			conn_error(c, err);
		} else {
			len = sizeof(ss);
			if (getsockname(c->fd, (struct sockaddr *)&ss, &len) ==
			    0)
				it_addr_from(&c->local, SOCK_STREAM,
				    (struct sockaddr *)&ss, len);
		}
	}
	if (c->err == 0 && (revents & (POLLIN | POLLHUP | POLLERR)))
		conn_read(p, c, now);
	if (c->err == 0)
		conn_write(p, c, now);
	if (c->err == 0 && c->b.fin && !c->fin_sent && conn_sent_all(c) &&
	    conn_started(c, now)) {
		shutdown(c->fd, SHUT_WR);
		c->fin_sent = true;
	}
	if (c->err == 0 && c->b.reset && c->rx >= c->b.reset_after &&
	    conn_sent_all(c)) {
		lg.l_onoff = 1;
		lg.l_linger = 0;
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		c->reset_sent = true;
		conn_finish(p, c, true);
		return;
	}
	if (c->err != 0) {
		conn_finish(p, c, !c->b.keep);
		return;
	}
	if ((!c->b.read || c->eof) && conn_sent_all(c) &&
	    (!c->b.fin || c->fin_sent))
		conn_finish(p, c, !c->b.keep);
}

static void
peer_accept(struct peer *p)
{
	struct sockaddr_storage ss;
	struct pconn *c;
	socklen_t len;
	int fd;

	for (;;) {
		len = sizeof(ss);
		fd = accept4(p->lfd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EINTR ||
			    errno == ECONNABORTED)
				return;
			IT_FAIL("%s: accept: %s", p->name, strerror(errno));
		}
		c = conn_add(p, fd, &p->accept_b);
		it_addr_from(&c->remote, SOCK_STREAM, (struct sockaddr *)&ss,
		    len);
		len = sizeof(ss);
		if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
			it_addr_from(&c->local, SOCK_STREAM,
			    (struct sockaddr *)&ss, len);
		conn_io(p, c, 0, it_now_ns());
	}
}

static void *
peer_thread(void *arg)
{
	struct peer *p = arg;
	struct pollfd *pfd = NULL;
	unsigned *map = NULL;
	size_t cap = 0, n, i, j, base;
	uint64_t now, wake, v;
	bool kick;
	int timeout, r;

	peer_lock(p);
	while (!p->stop) {
		if (cap < p->nactive + 2) {
			cap = (p->nactive + 2) * 2;
			pfd = realloc(pfd, cap * sizeof(*pfd));
			map = realloc(map, cap * sizeof(*map));
			if (pfd == NULL || map == NULL)
				IT_FAIL("out of memory");
		}
		now = it_now_ns();
		wake = now + 100000000ull;
		n = 0;
		pfd[n].fd = p->wakefd;
		pfd[n].events = POLLIN;
		n++;
		if (p->lfd >= 0) {
			pfd[n].fd = p->lfd;
			pfd[n].events = POLLIN;
			n++;
		}
		base = n;
		for (i = 0; i < p->nactive; i++) {
			struct pconn *c = p->conns[p->active[i]];
			short ev = 0;

			if (c->connecting)
				ev |= POLLOUT;
			else if (conn_wants_read(c, now))
				ev |= POLLIN;
			else if (c->b.read && !c->eof && now < c->next_read &&
			    c->next_read < wake)
				wake = c->next_read;
			if (!c->connecting && conn_sendable(c, now) > 0)
				ev |= POLLOUT;
			if (!c->b.echo && c->send_at > now && c->send_at < wake)
				wake = c->send_at;
			if (ev == 0)
				continue;
			pfd[n].fd = c->fd;
			pfd[n].events = ev;
			pfd[n].revents = 0;
			map[n] = p->active[i];
			n++;
		}
		timeout = (int)((wake - now) / 1000000ull) + 1;
		peer_unlock(p);
		r = poll(pfd, n, timeout);
		peer_lock(p);
		if (r < 0 && errno != EINTR)
			IT_FAIL("%s: poll: %s", p->name, strerror(errno));
		if (p->stop)
			break;
		if (r > 0 && (pfd[0].revents & POLLIN))
			(void)read(p->wakefd, &v, sizeof(v));
		kick = p->kick;
		p->kick = false;
		now = it_now_ns();
		if (r > 0 && p->lfd >= 0 && (pfd[1].revents & POLLIN))
			peer_accept(p);
		for (i = base; r > 0 && i < n; i++)
			if (pfd[i].revents != 0)
				conn_io(p, p->conns[map[i]], pfd[i].revents,
				    now);
		/* Timers that came due, and whatever the test changed. */
		for (i = 0; i < p->nactive; i++) {
			struct pconn *c = p->conns[p->active[i]];

			if (c->connecting)
				continue;
			if (kick || (c->send_at > 1 && c->send_at <= now &&
			    c->tx == 0) || (c->next_read != 0 &&
			    c->next_read <= now))
				conn_io(p, c, kick ? POLLIN : 0, now);
		}
		for (i = j = 0; i < p->nactive; i++)
			if (!p->conns[p->active[i]]->done)
				p->active[j++] = p->active[i];
		p->nactive = (unsigned)j;
		pthread_cond_broadcast(&p->cv);
	}
	peer_unlock(p);
	free(pfd);
	free(map);
	return NULL;
}

void
peer_free(struct peer *p)
{
	unsigned i;

	peer_lock(p);
	p->stop = true;
	peer_unlock(p);
	peer_wake(p);
	pthread_join(p->thread, NULL);
	for (i = 0; i < p->nconns; i++) {
		struct pconn *c = p->conns[i];

		if (!c->closed)
			close(c->fd);
		free(c->ebuf);
		free(c);
	}
	if (p->lfd >= 0) {
		close(p->lfd);
		if (p->addr.ss.ss_family == AF_UNIX && p->addr.text[5] != '@')
			unlink(p->addr.text + 5);
	}
	close(p->wakefd);
	free(p->conns);
	free(p->active);
	free(p->buf);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p);
}

struct pair {
	uint64_t	bytes, hash;
};

static int
pair_cmp(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;

	if (x->bytes != y->bytes)
		return x->bytes < y->bytes ? -1 : 1;
	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return 0;
}

static struct pair *
pairs_of(struct peer *p, bool tx, unsigned *n)
{
	struct pair *v;
	unsigned i;

	peer_lock(p);
	v = calloc(p->nconns + 1, sizeof(*v));
	if (v == NULL)
		IT_FAIL("out of memory");
	*n = 0;
	for (i = 0; i < p->nconns; i++) {
		struct pconn *c = p->conns[i];

		if (!c->done)
			continue;
		v[*n].bytes = tx ? c->tx : c->rx;
		v[*n].hash = tx ? c->tx_hash : c->rx_hash;
		(*n)++;
	}
	peer_unlock(p);
	qsort(v, *n, sizeof(*v), pair_cmp);
	return v;
}

void
peer_check_same(struct peer *a, bool a_tx, struct peer *b, unsigned want,
    const char *what)
{
	struct pair *va, *vb;
	unsigned na, nb, i;

	va = pairs_of(a, a_tx, &na);
	vb = pairs_of(b, false, &nb);
	IT_CHECKF(na == want, "%s: %s has %u finished connections, not %u",
	    what, a->name, na, want);
	IT_CHECKF(nb == want, "%s: %s has %u finished connections, not %u",
	    what, b->name, nb, want);
	for (i = 0; i < want; i++)
		IT_CHECKF(va[i].bytes == vb[i].bytes && va[i].hash == vb[i].hash,
		    "%s: what %s %s differs from what %s received (sorted "
		    "entry %u: %llu bytes hash %016llx vs %llu bytes hash "
		    "%016llx)", what, a->name, a_tx ? "sent" : "received",
		    b->name, i, (unsigned long long)va[i].bytes,
		    (unsigned long long)va[i].hash,
		    (unsigned long long)vb[i].bytes,
		    (unsigned long long)vb[i].hash);
	free(va);
	free(vb);
}

void
peer_check_echoed(struct peer *p, unsigned want)
{
	unsigned i, n = 0;

	peer_lock(p);
	for (i = 0; i < p->nconns; i++) {
		struct pconn *c = p->conns[i];

		if (!c->done)
			continue;
		n++;
		if (c->err != 0 || !c->eof || c->tx != c->b.send ||
		    c->rx != c->tx || c->rx_hash != c->tx_hash) {
			peer_unlock(p);
			IT_FAIL("%s: connection %u: error %s, eof %d, sent %llu "
			    "of %llu, got back %llu, hashes %s", p->name, c->id,
			    c->err ? strerror(c->err) : "none", c->eof,
			    (unsigned long long)c->tx,
			    (unsigned long long)c->b.send,
			    (unsigned long long)c->rx,
			    c->rx_hash == c->tx_hash ? "equal" : "differ");
		}
	}
	peer_unlock(p);
	IT_CHECKF(n == want, "%s: %u connections finished, not %u", p->name, n,
	    want);
}
