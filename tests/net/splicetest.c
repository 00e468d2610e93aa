/*
 * splicetest.c: helpers shared by the splice tests (see splicetest.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "splicetest.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- the reference buffer ---- */

#define ST_CHUNK	(256u * 1024)

static uint8_t *st_ref;
static uint8_t st_garbage[ST_CHUNK];

void
st_init(void)
{
	uint64_t x = kct_seed() | 1, *p;
	size_t i;

	if (st_ref != NULL)
		return;
	p = malloc(ST_REF_SIZE);
	KC_CHECK(p != NULL);
	for (i = 0; i < ST_REF_SIZE / sizeof(*p); i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = x * 0x2545f4914f6cdd1dull;
	}
	st_ref = (uint8_t *)p;
	memset(st_garbage, 0xee, sizeof(st_garbage));
}

bool
st_want(const char *fmt, ...)
{
	const char *only = getenv("KC_SPLICE_ONLY");
	char name[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	if (only != NULL && *only != '\0' && strstr(name, only) == NULL)
		return false;
	printf("  %s\n", name);
	return true;
}

uint64_t
st_sid(void)
{
	return kct_rand() & (ST_REF_SIZE - 1);
}

const uint8_t *
st_bytes(uint64_t sid, uint64_t off, size_t max, size_t *lenp)
{
	size_t pos = (size_t)((sid + off) & (ST_REF_SIZE - 1));
	size_t n = ST_REF_SIZE - pos;

	KC_CHECK(st_ref != NULL);
	*lenp = n < max ? n : max;
	return st_ref + pos;
}

void
st_check_at(const char *file, int line, const void *buf, size_t len,
    uint64_t sid, uint64_t off, const char *what)
{
	const uint8_t *p = buf, *r;
	size_t n, i;

	while (len > 0) {
		r = st_bytes(sid, off, len, &n);
		if (memcmp(p, r, n) != 0) {
			for (i = 0; p[i] == r[i]; i++)
				;
			kct_fail(file, line, "%s: byte %" PRIu64 " of the "
			    "stream is %#x, expected %#x", what, off + i, p[i],
			    r[i]);
		}
		p += n;
		off += n;
		len -= n;
	}
}

void
st_raw_write(int fd, uint64_t sid, uint64_t off, size_t len)
{
	const uint8_t *r;
	size_t n;

	while (len > 0) {
		r = st_bytes(sid, off, len, &n);
		nt_raw_write(fd, r, n);
		off += n;
		len -= n;
	}
}

void
st_chain(struct kc_chain *c, uint64_t sid, uint64_t off, size_t len)
{
	const uint8_t *r;
	size_t n;

	while (len > 0) {
		r = st_bytes(sid, off, len, &n);
		KC_CHECK_OK(kc_chain_append(c, r, n));
		off += n;
		len -= n;
	}
}

/* ---- peers ---- */

/* The splice being tested, for the report of a failing peer. */
static struct st_sp *_Atomic st_current;

static void
st_sp_dump(struct st_sp *s)
{
	struct kc_splice_stats st;
	unsigned i;

	if (s == NULL || s->sp == NULL ||
	    kc_splice_stats(s->sp, &st) != 0)
		return;
	fflush(stdout);
	fprintf(stderr, "the splice: done %s (status %d); ",
	    atomic_load(&s->done.n) ? "ran" : "not run",
	    atomic_load(&s->done.status));
	for (i = 1; i < 8; i++)
		if (atomic_load(&s->ev.n[i]) != 0)
			fprintf(stderr, "event %u x%d (mirror %u, err %d); ", i,
			    atomic_load(&s->ev.n[i]),
			    atomic_load(&s->ev.mirror[i]),
			    atomic_load(&s->ev.err[i]));
	fprintf(stderr, "spliced %llu/%llu copied %llu/%llu mirrored %llu "
	    "dropped %llu detached %llu\n",
	    (unsigned long long)st.spliced[0],
	    (unsigned long long)st.spliced[1],
	    (unsigned long long)st.copied[0], (unsigned long long)st.copied[1],
	    (unsigned long long)st.mirrored,
	    (unsigned long long)st.mirror_dropped,
	    (unsigned long long)st.mirror_detached);
}

static void
st_peer_fail(struct st_peer *p, const char *why)
{
	st_sp_dump(atomic_load(&st_current));
	kct_fail(__FILE__, __LINE__, "peer %s: %s (sent %llu of %llu, "
	    "received %llu of %llu%s, receiving %s %d, send error %d)",
	    p->name, why, (unsigned long long)atomic_load(&p->sent),
	    (unsigned long long)p->send_len,
	    (unsigned long long)atomic_load(&p->rcvd),
	    (unsigned long long)p->recv_len, p->recv_any ? " (any)" : "",
	    atomic_load(&p->ended) ? "ended" : "not ended",
	    atomic_load(&p->end), atomic_load(&p->send_err));
}

static void *
st_peer_main(void *arg)
{
	struct st_peer *p = arg;
	size_t chunk = p->read_chunk != 0 ? p->read_chunk : ST_CHUNK;
	uint64_t deadline = kct_now_ns() + ST_PEER_S * KCT_NSEC_PER_SEC;
	uint8_t *buf = malloc(chunk);
	bool sending = p->send_len > 0 || p->shut_after || p->chatter;
	bool receiving = true;

	KC_CHECK(buf != NULL);
	while (sending || receiving) {
		struct pollfd pfd = { .fd = p->fd };
		uint64_t sent = atomic_load(&p->sent);
		bool want_out, want_in;
		ssize_t n;
		int r;

		if (kct_now_ns() > deadline)
			st_peer_fail(p, "timed out");
		if (p->chatter && !receiving)
			sending = false;	/* it has had its say */
		want_out = sending;
		want_in = receiving && !atomic_load(&p->hold);
		if (want_out && !p->chatter && sent == p->send_len) {
			/* All sent: shut, and stop sending. */
			if (p->shut_after && shutdown(p->fd, SHUT_WR) != 0 &&
			    errno != ENOTCONN)
				st_peer_fail(p, "shutdown failed");
			sending = false;
			continue;
		}
		if (!want_out && !want_in) {
			kct_sleep_ns(KCT_NSEC_PER_MSEC);
			continue;
		}
		pfd.events = (short)((want_out ? POLLOUT : 0) |
		    (want_in ? POLLIN : 0));
		r = poll(&pfd, 1, 100);
		if (r < 0 && errno != EINTR)
			st_peer_fail(p, "poll failed");
		if (r <= 0)
			continue;
		if (want_out && (pfd.revents & (POLLOUT | POLLERR | POLLHUP))) {
			const uint8_t *src;
			size_t len;

			if (p->chatter) {
				src = st_garbage;
				len = ST_CHUNK;
			} else if (p->garbage) {
				src = st_garbage;
				len = p->send_len - sent < ST_CHUNK ?
				    p->send_len - sent : ST_CHUNK;
			} else {
				src = st_bytes(p->send_sid, sent,
				    p->send_len - sent < ST_CHUNK ?
				    p->send_len - sent : ST_CHUNK, &len);
			}
			n = send(p->fd, src, len, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n > 0) {
				atomic_fetch_add(&p->sent, (uint64_t)n);
			} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
				atomic_store(&p->send_err, -errno);
				sending = false;
			}
		}
		if (want_in && (pfd.revents & (POLLIN | POLLERR | POLLHUP))) {
			uint64_t got = atomic_load(&p->rcvd);

			n = recv(p->fd, buf, chunk, MSG_DONTWAIT);
			if (n > 0) {
				if (!p->recv_any) {
					if (got + (uint64_t)n > p->recv_len)
						st_peer_fail(p, "more bytes "
						    "than were sent");
					st_check(buf, (size_t)n, p->recv_sid,
					    got, p->name);
				}
				atomic_fetch_add(&p->rcvd, (uint64_t)n);
				if (p->read_pause_ns != 0)
					kct_sleep_ns(p->read_pause_ns);
			} else if (n == 0) {
				atomic_store(&p->end, 0);
				atomic_store(&p->ended, 1);
				receiving = false;
			} else if (errno != EAGAIN && errno != EINTR) {
				atomic_store(&p->end, -errno);
				atomic_store(&p->ended, 1);
				receiving = false;
				/* The connection is broken: stop sending. */
				sending = false;
			}
		}
	}
	free(buf);
	atomic_store(&p->finished, 1);
	return NULL;
}

void
st_peer_start(struct st_peer *p)
{
	KC_CHECK_GE(p->fd, 0);
	if (p->name == NULL)
		p->name = "peer";
	atomic_store(&p->sent, 0);
	atomic_store(&p->rcvd, 0);
	atomic_store(&p->send_err, 0);
	atomic_store(&p->ended, 0);
	atomic_store(&p->end, 0);
	atomic_store(&p->finished, 0);
	p->thread = kct_thread_start(st_peer_main, p);
}

void
st_peer_join(struct st_peer *p)
{
	KCT_WAIT(atomic_load(&p->finished), ST_PEER_S + 10);
	kct_thread_join(p->thread);
}

void
st_peer_check_whole(struct st_peer *p)
{
	if (atomic_load(&p->sent) != p->send_len ||
	    atomic_load(&p->send_err) != 0)
		st_peer_fail(p, "did not send everything");
	if (!atomic_load(&p->ended) || atomic_load(&p->end) != 0)
		st_peer_fail(p, "did not end with end of file");
	if (!p->recv_any && atomic_load(&p->rcvd) != p->recv_len)
		st_peer_fail(p, "end of file before everything arrived");
}

/* ---- raw helpers ---- */

static int
st_raw_bound(enum nt_kind k, struct kc_sockaddr *bound, int rcvbuf)
{
	struct kc_sockaddr a;
	int fd, one = 1;

	fd = socket(nt_domain(k), nt_type(k) | SOCK_CLOEXEC, 0);
	KC_CHECK_GE(fd, 0);
	if (nt_domain(k) != AF_UNIX)
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof(one));
	if (rcvbuf > 0)
		KC_CHECK_OK(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
		    sizeof(rcvbuf)));
	nt_bind_addr(k, &a);
	if (bind(fd, &a.a.sa, a.len) != 0)
		kct_fail(__FILE__, __LINE__, "bind: %s", strerror(errno));
	memset(bound, 0, sizeof(*bound));
	bound->len = sizeof(bound->a);
	KC_CHECK_OK(getsockname(fd, &bound->a.sa, &bound->len));
	return fd;
}

int
st_raw_listener_small(enum nt_kind k, struct kc_sockaddr *bound, int rcvbuf)
{
	int fd = st_raw_bound(k, bound, rcvbuf);

	KC_CHECK_OK(listen(fd, 1024));
	return fd;
}

struct kc_socket *
st_socket(struct kc_executor *ex, enum nt_kind k, int sndbuf,
    const struct kc_socket_attr *attr)
{
	struct kc_socket *so = NULL;
	int fd;

	if (sndbuf == 0)
		return nt_socket(ex, k, attr);
	fd = socket(nt_domain(k), nt_type(k) | SOCK_CLOEXEC, 0);
	KC_CHECK_GE(fd, 0);
	KC_CHECK_OK(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf,
	    sizeof(sndbuf)));
	KC_CHECK_OK(kc_socket_adopt(&so, ex, fd, attr));
	KC_CHECK_PTR_EQ(kc_socket_owner(so), ex);
	return so;
}

int
st_raw_refuser(enum nt_kind k, struct kc_sockaddr *bound)
{
	KC_CHECK(!nt_is_dgram(k));
	return st_raw_bound(k, bound, 0);
}

int
st_raw_drain(int fd, uint64_t *bytes)
{
	char buf[65536];
	ssize_t n;

	for (;;) {
		n = nt_raw_read(fd, buf, sizeof(buf));
		if (n <= 0)
			return (int)n;
		if (bytes != NULL)
			*bytes += (uint64_t)n;
	}
}

int
st_raw_write_until_error(int fd)
{
	uint64_t deadline = kct_now_ns() + 10 * KCT_NSEC_PER_SEC;
	char buf[1024];
	ssize_t n;

	memset(buf, 'w', sizeof(buf));
	while (kct_now_ns() < deadline) {
		n = send(fd, buf, sizeof(buf), MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		kct_sleep_ns(2 * KCT_NSEC_PER_MSEC);
	}
	return 0;
}

/* ---- events ---- */

void
st_events_init(struct st_events *e, struct kc_executor *ex)
{
	unsigned i;

	e->ex = ex;
	atomic_store(&e->sp, NULL);
	for (i = 0; i < 8; i++) {
		atomic_store(&e->n[i], 0);
		atomic_store(&e->err[i], 0);
		atomic_store(&e->mirror[i], 0);
	}
	atomic_store(&e->bad, 0);
}

void
st_event_fn(void *arg, struct kc_splice *sp, int event, unsigned mirror,
    int err)
{
	struct st_events *e = arg;
	struct kc_splice *want = atomic_load(&e->sp);

	if (kc_executor_current() != e->ex || (want != NULL && sp != want) ||
	    event < 1 || event > 7) {
		fprintf(stderr, "event %d (mirror %u, err %d) on %p for %p: "
		    "wrong\n", event, mirror, err,
		    (void *)kc_executor_current(), (void *)sp);
		atomic_store(&e->bad, 1);
		return;
	}
	atomic_store(&e->err[event], err);
	atomic_store(&e->mirror[event], mirror);
	atomic_fetch_add(&e->n[event], 1);
}

/* ---- a stream splice set-up ---- */

/* The attributes of the splice's sockets: NULL, or a linger time. */
static const struct kc_socket_attr *
st_sp_attr(const struct st_sp *s, struct kc_socket_attr *attr)
{
	if (s->linger_ns == 0)
		return NULL;
	memset(attr, 0, sizeof(*attr));
	attr->linger_ns = s->linger_ns;
	return attr;
}

void
st_sp_client(struct st_sp *s)
{
	struct kc_socket_attr attr;
	struct kc_sockaddr laddr;
	struct kc_socket *lsn;

	/* Accepted sockets get the listener's attributes. */
	lsn = nt_listener(s->ex, s->ka, st_sp_attr(s, &attr), &laddr);
	s->client = nt_raw_connect(&laddr);
	s->a = NULL;
	KC_CHECK_OK(kc_socket_accept_wait(lsn, s->ex, &s->a,
	    NT_WAIT_S * KCT_NSEC_PER_SEC));
	KC_CHECK(s->a != NULL);
	KC_CHECK_PTR_EQ(kc_socket_owner(s->a), s->ex);
	nt_close(lsn);
}

void
st_sp_upstream(struct st_sp *s)
{
	struct kc_socket_attr attr;
	const struct kc_socket_attr *ap = st_sp_attr(s, &attr);
	unsigned i;

	if (s->small != 0)
		s->slfd = st_raw_listener_small(s->kb, &s->saddr, s->small);
	else
		s->slfd = nt_raw_listener(s->kb, &s->saddr);
	s->server = -1;
	s->b = st_socket(s->ex, s->kb, s->small, ap);
	for (i = 0; i < s->nm; i++) {
		s->mirror[i] = -1;
		switch (s->mkind[i]) {
		case ST_M_LISTEN:
			s->mlfd[i] = nt_raw_listener(s->km, &s->maddr[i]);
			s->m[i] = st_socket(s->ex, s->km, 0, ap);
			break;
		case ST_M_SMALL:
			s->mlfd[i] = st_raw_listener_small(s->km,
			    &s->maddr[i], 16384);
			s->m[i] = st_socket(s->ex, s->km, 32768, ap);
			break;
		case ST_M_REFUSE:
			s->mlfd[i] = st_raw_refuser(s->km, &s->maddr[i]);
			s->m[i] = st_socket(s->ex, s->km, 0, ap);
			break;
		}
	}
}

void
st_sp_splice(struct st_sp *s, bool held)
{
	struct kct_deadman dm;
	struct kct_gate g;
	unsigned i;
	int r;

	st_events_init(&s->ev, s->ex);
	s->attr.event = st_event_fn;
	s->attr.event_arg = &s->ev;
	nt_done_init(&s->done, s->ex);
	if (held) {
		kct_gate_hold(&g, s->ex);
		/* kc_splice() must not wait for the owner: it is busy. */
		kct_deadman_arm(&dm, &g.g_release, 5 * KCT_NSEC_PER_SEC);
	}
	if (!s->b_connected)
		KC_CHECK_OK(kc_socket_connect(s->b, &s->saddr, NULL));
	for (i = 0; i < s->nm; i++)
		if (!s->m_connected[i])
			KC_CHECK_OK(kc_socket_connect(s->m[i], &s->maddr[i],
			    NULL));
	s->sp = NULL;
	r = kc_splice(&s->sp, s->a, s->b, s->m, s->nm, &s->attr,
	    &s->done.kc);
	if (held && r == 0) {
		struct kc_splice_end e;
		struct kc_splice_mirror_stats ms;

		/* Not started, so not ended: nothing to tell yet. */
		KC_CHECK_EQ(kc_splice_end_info(s->sp, &e), -EBUSY);
		if (s->nm > 0)
			KC_CHECK_EQ(kc_splice_mirror_stats(s->sp, 0, &ms),
			    -EBUSY);
	}
	if (held) {
		if (kct_deadman_disarm(&dm))
			kct_fail(__FILE__, __LINE__, "kc_splice() waited for "
			    "the owner (held by a gate)");
		kct_gate_release(&g);
		kct_gate_wait(&g);
	}
	KC_CHECK_EQ(r, 0);
	KC_CHECK(s->sp != NULL);
	atomic_store(&s->ev.sp, s->sp);
	atomic_store(&st_current, s);
}

void
st_sp_accept(struct st_sp *s)
{
	unsigned i;

	if (s->server < 0) {
		s->server = nt_raw_accept(s->slfd);
		nt_raw_close(s->slfd);
		s->slfd = -1;
	}
	for (i = 0; i < s->nm; i++) {
		if (s->mkind[i] == ST_M_REFUSE)
			continue;
		s->mirror[i] = nt_raw_accept(s->mlfd[i]);
		nt_raw_close(s->mlfd[i]);
		s->mlfd[i] = -1;
	}
}

void
st_sp_open(struct st_sp *s, bool held)
{
	st_sp_client(s);
	st_sp_upstream(s);
	st_sp_splice(s, held);
	st_sp_accept(s);
}

int
st_sp_wait(struct st_sp *s)
{
	nt_done_wait(&s->done);
	KC_CHECK_EQ(atomic_load(&s->done.n), 1);
	KC_CHECK_PTR_EQ(atomic_load(&s->done.obj), s->sp);
	KC_CHECK_PTR_EQ(atomic_load(&s->done.ran_on), s->ex);
	return atomic_load(&s->done.status);
}

void
st_sp_check_end(struct st_sp *s, int how, int side, int err, int fin_first)
{
	struct kc_splice_end e;

	memset(&e, 0xa5, sizeof(e));
	KC_CHECK_OK(kc_splice_end_info(s->sp, &e));
	printf("    end: how %d side %d err %d fin_first %d\n", e.how, e.side,
	    e.err, e.fin_first);
	KC_CHECK_EQ(e.how, how);
	KC_CHECK_EQ(e.side, side);
	KC_CHECK_EQ(e.err, err);
	if (fin_first != -2)
		KC_CHECK_EQ(e.fin_first, fin_first);
	KC_CHECK_EQ(kc_splice_end_info(s->sp, NULL), -EINVAL);
}

void
st_sp_mirror(struct st_sp *s, unsigned i, struct kc_splice_mirror_stats *ms)
{
	memset(ms, 0xa5, sizeof(*ms));
	KC_CHECK_OK(kc_splice_mirror_stats(s->sp, i, ms));
	KC_CHECK_EQ(kc_splice_mirror_stats(s->sp, s->nm, ms), -EINVAL);
}

void
st_stats_print(const char *what, const struct kc_splice_stats *st)
{
	printf("    %s: spliced %" PRIu64 "/%" PRIu64 " copied %" PRIu64
	    "/%" PRIu64 " mirrored %" PRIu64 " dropped %" PRIu64
	    " detached %" PRIu64 " fallbacks %" PRIu64 " dgrams %" PRIu64
	    "/%" PRIu64 " dgram_dropped %" PRIu64 "\n", what,
	    st->spliced[0], st->spliced[1], st->copied[0], st->copied[1],
	    st->mirrored, st->mirror_dropped, st->mirror_detached,
	    st->pipe_fallbacks, st->datagrams[0], st->datagrams[1],
	    st->dgram_dropped);
}

void
st_sp_stats(struct st_sp *s, struct kc_splice_stats *st)
{
	memset(st, 0xa5, sizeof(*st));
	KC_CHECK_OK(kc_splice_stats(s->sp, st));
}

void
st_sp_close(struct st_sp *s)
{
	unsigned i;

	KC_CHECK_EQ(atomic_load(&s->done.n), 1);
	KC_CHECK_EQ(atomic_load(&s->ev.bad), 0);
	atomic_store(&st_current, NULL);
	{
		struct kct_done cd;

		/* done has run: the close frees it at once, done inline. */
		kct_done_init(&cd, NULL);
		KC_CHECK_OK(kc_splice_close(s->sp, &cd.d_kc));
		kct_done_wait(&cd, s->sp);
	}
	s->sp = NULL;
	if (s->client >= 0)
		nt_raw_close(s->client);
	if (s->server >= 0)
		nt_raw_close(s->server);
	if (s->slfd >= 0)
		nt_raw_close(s->slfd);
	for (i = 0; i < s->nm; i++) {
		if (s->mirror[i] >= 0)
			nt_raw_close(s->mirror[i]);
		if (s->mlfd[i] >= 0)
			nt_raw_close(s->mlfd[i]);
	}
	s->client = s->server = s->slfd = -1;
}

/* ---- the pipe pool ---- */

/* Read from the calling (plain) thread: kc_pipe_stats() takes any. */
void
st_pipe_stats(struct kc_executor *ex, struct kc_pipe_stats *ps)
{
	memset(ps, 0xa5, sizeof(*ps));
	KC_CHECK_OK(kc_pipe_stats(ex, ps));
}
