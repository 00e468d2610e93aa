/*
 * udp.c: kcsplice's UDP relay keeps datagrams whole, in order, and apart per
 * client; sessions expire and are capped.
 *
 *   udp-sizes          every size from 0 to 65507 bytes (under sanitizers a
 *                      stride plus the edges), one at a time through an
 *                      echoing upstream: each comes back whole; a mirror
 *                      gets only whole datagrams, in order
 *   udp-sessions       two clients at once are two sessions: the upstream
 *                      sees two source ports, each client only its echoes
 *   udp-expire         --udp-session-timeout 0.5: the session ends (stats),
 *                      and the next datagram gets a new session (a new
 *                      source port at the upstream)
 *   udp-max-sessions   --udp-max-sessions 8: eight clients are served, a
 *                      ninth gets nothing, its datagram never reaches the
 *                      upstream; counted and logged
 *
 * Every datagram waits for its echo before the next one goes, so nothing is
 * lost by design and a missing echo is a failure.
 */
#include "it.h"
#include "peerdata.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAXDG	65507
#define NCAP	8		/* --udp-max-sessions */
#define NCAP_TEXT	"8"

/* A datagram a server received. */
struct dgrec {
	uint16_t	port;		/* source port */
	uint32_t	len;
	uint64_t	hash;
	unsigned char	head[8];
};

/* A UDP server thread: records every datagram, echoes if told. */
struct udpsrv {
	const char	*name;
	int		 fd;
	struct it_addr	 addr;
	bool		 echo;
	pthread_t	 thread;
	pthread_mutex_t	 mu;
	bool		 stop;
	struct dgrec	*recs;
	size_t		 n, cap;
	unsigned	 truncated;
	unsigned char	*buf;
};

static void *
udpsrv_thread(void *arg)
{
	struct udpsrv *s = arg;
	struct sockaddr_storage from;
	struct pd_hash h;
	struct pollfd pfd;
	struct dgrec r;
	socklen_t flen;
	ssize_t n;
	bool stop;

	for (;;) {
		pthread_mutex_lock(&s->mu);
		stop = s->stop;
		pthread_mutex_unlock(&s->mu);
		if (stop)
			break;
		pfd.fd = s->fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 20) <= 0)
			continue;
		flen = sizeof(from);
		n = recvfrom(s->fd, s->buf, MAXDG + 1, MSG_TRUNC | MSG_DONTWAIT,
		    (struct sockaddr *)&from, &flen);
		if (n < 0)
			continue;
		memset(&r, 0, sizeof(r));
		r.port = ntohs(((struct sockaddr_in *)&from)->sin_port);
		r.len = (uint32_t)n;
		if (n > MAXDG) {
			pthread_mutex_lock(&s->mu);
			s->truncated++;
			pthread_mutex_unlock(&s->mu);
			continue;
		}
		memcpy(r.head, s->buf, n < 8 ? (size_t)n : 8);
		if (!s->echo) {
			pd_hash_init(&h);
			pd_hash_update(&h, s->buf, (size_t)n);
			r.hash = pd_hash_final(&h);
		}
		pthread_mutex_lock(&s->mu);
		if (s->n == s->cap) {
			s->cap = s->cap ? s->cap * 2 : 1024;
			s->recs = realloc(s->recs, s->cap * sizeof(*s->recs));
			if (s->recs == NULL)
				IT_FAIL("out of memory");
		}
		s->recs[s->n++] = r;
		pthread_mutex_unlock(&s->mu);
		if (s->echo && sendto(s->fd, s->buf, (size_t)n, 0,
		    (struct sockaddr *)&from, flen) != n)
			IT_FAIL("%s: sendto: %s", s->name, strerror(errno));
	}
	return NULL;
}

static struct udpsrv *
udpsrv_start(const char *name, bool echo)
{
	struct udpsrv *s = calloc(1, sizeof(*s));
	struct sockaddr_in in;
	socklen_t len = sizeof(in);
	int size = 4 << 20;

	IT_CHECK(s != NULL);
	s->name = name;
	s->echo = echo;
	s->buf = malloc(MAXDG + 1);
	IT_CHECK(s->buf != NULL);
	pthread_mutex_init(&s->mu, NULL);
	s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	IT_CHECK(s->fd >= 0);
	setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	memset(&in, 0, sizeof(in));
	in.sin_family = AF_INET;
	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	IT_CHECK(bind(s->fd, (struct sockaddr *)&in, sizeof(in)) == 0);
	IT_CHECK(getsockname(s->fd, (struct sockaddr *)&in, &len) == 0);
	it_addr_from(&s->addr, SOCK_DGRAM, (struct sockaddr *)&in, len);
	if (pthread_create(&s->thread, NULL, udpsrv_thread, s) != 0)
		IT_FAIL("pthread_create failed");
	return s;
}

static void
udpsrv_free(struct udpsrv *s)
{
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	close(s->fd);
	free(s->recs);
	free(s->buf);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* Distinct source ports seen, and whether each carried one tag only. */
static unsigned
udpsrv_ports(struct udpsrv *s, uint16_t *ports, unsigned max,
    bool *one_tag_each)
{
	unsigned char tags[64];
	unsigned np = 0, j;
	size_t i;

	*one_tag_each = true;
	pthread_mutex_lock(&s->mu);
	for (i = 0; i < s->n; i++) {
		for (j = 0; j < np; j++)
			if (ports[j] == s->recs[i].port)
				break;
		if (j == np) {
			if (np == max)
				break;
			ports[np] = s->recs[i].port;
			tags[np] = s->recs[i].head[0];
			np++;
		} else if (tags[j] != s->recs[i].head[0]) {
			*one_tag_each = false;
		}
	}
	pthread_mutex_unlock(&s->mu);
	return np;
}

static int
udp_client(const struct it_addr *to)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), size = 1 << 20;

	IT_CHECK(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (connect(fd, (const struct sockaddr *)&to->ss, to->len) != 0)
		IT_FAIL("connect %s: %s", to->text, strerror(errno));
	return fd;
}

/* Wait up to ms for a datagram; its length (or -1 for none). */
static ssize_t
udp_recv(int fd, unsigned char *buf, int ms)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	ssize_t n;

	if (poll(&pfd, 1, ms) <= 0)
		return -1;
	n = recv(fd, buf, MAXDG + 1, MSG_TRUNC | MSG_DONTWAIT);
	if (n < 0)
		IT_FAIL("recv: %s", strerror(errno));
	return n;
}

/* Send one datagram and check that exactly it comes back. */
static void
echo_one(int fd, const unsigned char *d, size_t len, unsigned char *rbuf,
    const char *what)
{
	ssize_t n;

	if (send(fd, d, len, 0) != (ssize_t)len)
		IT_FAIL("send %zu bytes: %s", len, strerror(errno));
	n = udp_recv(fd, rbuf, (int)(it_limit(5) * 1000));
	if (n < 0) {
		struct sockaddr_in me;
		socklen_t mlen = sizeof(me);

		memset(&me, 0, sizeof(me));
		getsockname(fd, (struct sockaddr *)&me, &mlen);
		IT_FAIL("%s (127.0.0.1:%u): no echo for a datagram of %zu "
		    "bytes", what, ntohs(me.sin_port), len);
	}
	if ((size_t)n != len || memcmp(rbuf, d, len) != 0)
		IT_FAIL("%s: sent %zu bytes, got back %zd bytes%s", what, len, n,
		    (size_t)n == len ? " that differ" : "");
}

static void
start(struct ks *k, struct udpsrv *up, struct udpsrv *mir, const char *o1,
    const char *v1)
{
	const char *args[10];
	size_t n = 0;

	if (o1 != NULL) {
		args[n++] = o1;
		args[n++] = v1;
	}
	if (mir != NULL) {
		args[n++] = "--mirror";
		args[n++] = mir->addr.text;
	}
	args[n++] = "udp:127.0.0.1:0";
	args[n++] = up->addr.text;
	args[n] = NULL;
	ks_start(k, args);
	IT_EQ(k->listen.type, SOCK_DGRAM);
}

/* The datagram of size len in the sizes test: a window on a random block. */
static const unsigned char *
sized(const unsigned char *block, size_t len)
{
	return block + (len * 7919u) % 65536u;
}

static void
udp_sizes(void)
{
	unsigned char *block, *rbuf;
	struct udpsrv *up, *mir;
	struct it_stats st;
	uint64_t sum = 0, prev;
	size_t len, count = 0, i, nm;
	struct pd_hash h;
	struct ks k;
	int fd;

	block = malloc(65536 + MAXDG);
	rbuf = malloc(MAXDG + 1);
	IT_CHECK(block != NULL && rbuf != NULL);
	pd_fill(it_now_ns(), 0, block, 65536 + MAXDG);
	up = udpsrv_start("upstream", true);
	mir = udpsrv_start("mirror", false);
	start(&k, up, mir, NULL, NULL);
	fd = udp_client(&k.listen);

	for (len = 0; len <= MAXDG; len++) {
		if (it_sanitized && len % 97 != 0 && len > 2 &&
		    len < MAXDG - 2 && len != 1472 && len != 1473 &&
		    len != 65535 - 28 - 8)
			continue;
		echo_one(fd, sized(block, len), len, rbuf, "udp-sizes");
		sum += len;
		count++;
	}
	it_log("%zu datagrams (%" PRIu64 " bytes) came back whole", count, sum);

	/* The upstream got each once, in order, from one session. */
	pthread_mutex_lock(&up->mu);
	IT_EQ(up->n, count);
	IT_EQ(up->truncated, 0);
	for (i = 1; i < up->n; i++) {
		IT_EQ(up->recs[i].port, up->recs[0].port);
		IT_GT(up->recs[i].len, up->recs[i - 1].len);
	}
	pthread_mutex_unlock(&up->mu);

	/* The mirror: whole datagrams, in order (some may be dropped). */
	it_sleep_ms(200);
	pthread_mutex_lock(&mir->mu);
	nm = mir->n;
	IT_EQ(mir->truncated, 0);
	prev = 0;
	for (i = 0; i < mir->n; i++) {
		struct dgrec *r = &mir->recs[i];

		pd_hash_init(&h);
		pd_hash_update(&h, sized(block, r->len), r->len);
		IT_CHECKF(r->hash == pd_hash_final(&h), "mirror: datagram %zu "
		    "(%u bytes) is not the one sent", i, r->len);
		if (i > 0)
			IT_CHECKF(r->len > prev, "mirror: datagram of %u bytes "
			    "after one of %" PRIu64, r->len, prev);
		prev = r->len;
	}
	pthread_mutex_unlock(&mir->mu);
	IT_GT(nm, 0);
	it_log("the mirror got %zu of them, whole and in order", nm);

	ks_stats(&k, &st);
	IT_EQ(st.udp_sessions, 1);
	IT_EQ(st.conns, 1);
	IT_EQ(st.up_bytes, sum);
	IT_EQ(st.down_bytes, sum);
	ks_stop(&k);
	close(fd);
	udpsrv_free(up);
	udpsrv_free(mir);
	free(block);
	free(rbuf);
}

static void
tagged(unsigned char *d, size_t len, char tag, unsigned seq)
{
	memset(d, 0, len);
	d[0] = (unsigned char)tag;
	memcpy(d + 1, &seq, sizeof(seq));
	pd_fill((uint64_t)tag * 1000003u + seq, 0, d + 8, len - 8);
}

static void
udp_sessions(void)
{
	unsigned char d[1000], rbuf[MAXDG + 1];
	struct udpsrv *up;
	struct it_stats st;
	uint16_t ports[8];
	struct ks k;
	unsigned i, np;
	bool one;
	int a, b;

	up = udpsrv_start("upstream", true);
	start(&k, up, NULL, NULL, NULL);
	a = udp_client(&k.listen);
	b = udp_client(&k.listen);
	for (i = 0; i < 20; i++) {
		tagged(d, sizeof(d), 'A', i);
		echo_one(a, d, sizeof(d) - i, rbuf, "client A");
		tagged(d, sizeof(d), 'B', i);
		echo_one(b, d, sizeof(d) - i, rbuf, "client B");
	}
	/* Both in flight at once: each gets its own back. */
	for (i = 20; i < 40; i++) {
		unsigned char e[1000];
		ssize_t n;

		tagged(d, sizeof(d), 'A', i);
		tagged(e, sizeof(e), 'B', i);
		IT_CHECK(send(a, d, sizeof(d), 0) == (ssize_t)sizeof(d));
		IT_CHECK(send(b, e, sizeof(e), 0) == (ssize_t)sizeof(e));
		n = udp_recv(a, rbuf, (int)(it_limit(5) * 1000));
		IT_CHECKF(n == (ssize_t)sizeof(d) && memcmp(rbuf, d, sizeof(d))
		    == 0, "client A: datagram %u not echoed as sent", i);
		n = udp_recv(b, rbuf, (int)(it_limit(5) * 1000));
		IT_CHECKF(n == (ssize_t)sizeof(e) && memcmp(rbuf, e, sizeof(e))
		    == 0, "client B: datagram %u not echoed as sent", i);
	}
	np = udpsrv_ports(up, ports, 8, &one);
	IT_EQ(np, 2);
	IT_CHECKF(one, "the upstream got A's and B's datagrams from one port");
	IT_NE(ports[0], ports[1]);
	it_log("two clients, two sessions (upstream ports %u and %u)",
	    ports[0], ports[1]);
	ks_stats(&k, &st);
	IT_EQ(st.udp_sessions, 2);
	IT_EQ(st.conns, 2);
	ks_stop(&k);
	close(a);
	close(b);
	udpsrv_free(up);
}

static uint16_t
last_port(struct udpsrv *s)
{
	uint16_t p;

	pthread_mutex_lock(&s->mu);
	IT_GT(s->n, 0);
	p = s->recs[s->n - 1].port;
	pthread_mutex_unlock(&s->mu);
	return p;
}

static void
udp_expire(void)
{
	unsigned char d[100], rbuf[MAXDG + 1];
	struct udpsrv *up;
	struct it_stats st;
	struct sockaddr_in in;
	uint16_t p1, p2;
	uint64_t deadline;
	struct ks k;
	int a, hold;

	up = udpsrv_start("upstream", true);
	start(&k, up, NULL, "--udp-session-timeout", "0.5");
	a = udp_client(&k.listen);
	tagged(d, sizeof(d), 'A', 0);
	echo_one(a, d, sizeof(d), rbuf, "client A");
	p1 = last_port(up);
	ks_stats(&k, &st);
	IT_EQ(st.udp_sessions, 1);

	deadline = it_now_ns() + (uint64_t)(it_limit(10) * 1e9);
	for (;;) {
		ks_stats(&k, &st);
		if (st.udp_expired >= 1 && st.udp_sessions == 0)
			break;
		if (it_now_ns() > deadline)
			IT_FAIL("the session did not expire: udp_expired %"
			    PRIu64 ", udp_sessions %" PRIu64, st.udp_expired,
			    st.udp_sessions);
		it_sleep_ms(100);
	}
	IT_EQ(st.udp_expired, 1);
	it_log("the session expired");

	/* Take the old port, so that a new session cannot have it again. */
	hold = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	IT_CHECK(hold >= 0);
	memset(&in, 0, sizeof(in));
	in.sin_family = AF_INET;
	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	in.sin_port = htons(p1);
	if (bind(hold, (struct sockaddr *)&in, sizeof(in)) != 0)
		it_log("note: cannot take port %u again (%s)", p1,
		    strerror(errno));

	tagged(d, sizeof(d), 'A', 1);
	echo_one(a, d, sizeof(d), rbuf, "client A after expiry");
	p2 = last_port(up);
	IT_NE(p1, p2);
	it_log("a new session: upstream port %u, then %u", p1, p2);
	ks_stats(&k, &st);
	IT_EQ(st.conns, 2);
	IT_EQ(st.udp_sessions, 1);
	IT_EQ(st.udp_expired, 1);
	ks_stop(&k);
	close(a);
	close(hold);
	udpsrv_free(up);
}

static void
udp_max_sessions(void)
{
	unsigned char d[100], rbuf[MAXDG + 1];
	struct udpsrv *up;
	struct it_stats st;
	uint16_t ports[NCAP + 2];
	uint64_t deadline;
	struct ks k;
	unsigned np, i;
	size_t j;
	bool one;
	int cl[NCAP], c;

	up = udpsrv_start("upstream", true);
	start(&k, up, NULL, "--udp-max-sessions", NCAP_TEXT);
	/* As many clients as the cap: each is served. */
	for (i = 0; i < NCAP; i++) {
		cl[i] = udp_client(&k.listen);
		tagged(d, sizeof(d), (char)('A' + i), 0);
		echo_one(cl[i], d, sizeof(d), rbuf, "a client within the cap");
	}
	ks_stats(&k, &st);
	IT_EQ(st.udp_sessions, NCAP);
	IT_EQ(st.refused, 0);

	/* One more: refused. */
	c = udp_client(&k.listen);
	tagged(d, sizeof(d), 'Z', 0);
	IT_CHECK(send(c, d, sizeof(d), 0) == (ssize_t)sizeof(d));
	deadline = it_now_ns() + (uint64_t)(it_limit(10) * 1e9);
	for (;;) {
		ks_stats(&k, &st);
		if (st.refused >= 1)
			break;
		if (it_now_ns() > deadline)
			IT_FAIL("a session past the cap was not refused (refused %"
			    PRIu64 ", udp_sessions %" PRIu64 ")", st.refused,
			    st.udp_sessions);
		it_sleep_ms(20);
	}
	IT_EQ(st.refused, 1);
	IT_EQ(st.udp_sessions, NCAP);
	ks_wait_line(&k, "session cap " NCAP_TEXT " reached");
	/* The others still work; the extra got nothing, and the upstream
	 * never saw its datagram. */
	for (i = 0; i < NCAP; i++) {
		tagged(d, sizeof(d), (char)('A' + i), 1);
		echo_one(cl[i], d, sizeof(d), rbuf, "a client within the cap");
	}
	IT_CHECKF(udp_recv(c, rbuf, 300) < 0,
	    "the client past the cap got a datagram");
	np = udpsrv_ports(up, ports, NCAP + 2, &one);
	IT_EQ(np, NCAP);
	IT_CHECK(one);
	pthread_mutex_lock(&up->mu);
	for (j = 0; j < up->n; j++)
		IT_CHECKF(up->recs[j].head[0] != 'Z',
		    "the upstream got the refused client's datagram");
	pthread_mutex_unlock(&up->mu);
	it_log("the client past the cap was refused");
	ks_stop(&k);
	for (i = 0; i < NCAP; i++)
		close(cl[i]);
	close(c);
	udpsrv_free(up);
}

static const struct it_case cases[] = {
	{ "udp-sizes", udp_sizes },
	{ "udp-sessions", udp_sessions },
	{ "udp-expire", udp_expire },
	{ "udp-max-sessions", udp_max_sessions },
};

int
main(int argc, char **argv)
{
	return it_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
