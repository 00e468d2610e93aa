/*
 * net-blockread: the blocking calls of plain threads.
 *
 * kc_socket_recv_wait() in a plain thread, blocked, is woken
 *   by data (returns the count, the bytes in the chain),
 *   by end of file (returns 0, and 0 again after),
 *   by a reset of the peer (SO_LINGER {1, 0} + close: -ECONNRESET, also in
 *   kc_socket_error() and KC_SS_ERROR);
 * with a timeout and nothing coming it returns -ETIMEDOUT with nothing
 * consumed, and data sent later is all still there; on a datagram socket it
 * returns one datagram whole (zero-length ones too) and its sender.
 * kc_socket_send_wait() blocks once the socket's send buffer (small snd_hiwat)
 * and the kernel's are full, the peer not reading: with a timeout it returns
 * -ETIMEDOUT with the chain untouched; without, it completes (returning the
 * chain's length) once the peer reads, and the peer gets every byte once.
 * kc_socket_accept_wait() returns a connection owned by the executor asked
 * for, -ETIMEDOUT with none, and a connection arriving after a timed-out
 * accept is not lost.  kc_socket_connect_wait() connects, and returns
 * -ECONNREFUSED where nothing listens (TCP and UNIX).
 * The blocking calls from the owner's own thread return -EDEADLK.
 *
 * A thread "blocked" is one that called and has not returned: the test
 * leaves it a moment before waking it, and checks it had not returned
 * early; it never asserts on durations.
 */
#include "nettest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SETTLE_NS	(30 * KCT_NSEC_PER_MSEC)

struct rdjob {
	struct kc_socket	*s;
	size_t			 max;
	uint64_t		 timeout;
	struct kc_chain		 ch;
	struct kc_sockaddr	 from;
	ssize_t			 ret;
	atomic_int		 started;
	atomic_int		 finished;
	pthread_t		 t;
};

static void *
rdjob_main(void *arg)
{
	struct rdjob *j = arg;

	atomic_store(&j->started, 1);
	j->ret = kc_socket_recv_wait(j->s, &j->ch, j->max, &j->from, j->timeout);
	atomic_store(&j->finished, 1);
	return NULL;
}

/* Start a blocked read; make sure it is still blocked a moment later. */
static void
rdjob_start(struct rdjob *j, struct kc_socket *s, size_t max)
{
	memset(j, 0, sizeof(*j));
	j->s = s;
	j->max = max;
	j->timeout = KC_WAIT_FOREVER;
	kc_chain_init(&j->ch);
	j->t = kct_thread_start(rdjob_main, j);
	KCT_WAIT(atomic_load(&j->started), NT_WAIT_S);
	kct_sleep_ns(SETTLE_NS);
	if (atomic_load(&j->finished))
		kct_fail(__FILE__, __LINE__, "kc_socket_recv_wait returned %zd "
		    "with nothing to read", j->ret);
}

static ssize_t
rdjob_join(struct rdjob *j)
{
	kct_thread_join(j->t);
	KC_CHECK(atomic_load(&j->finished));
	return j->ret;
}

static void
read_woken_by_data(struct kc_executor *ex, enum nt_kind k)
{
	struct rdjob j;
	uint8_t buf[1000];
	struct kc_socket *s;
	uint64_t seed = kct_rand();
	size_t got;
	ssize_t r;
	int peer;

	s = nt_pair(ex, k, NULL, false, &peer);
	rdjob_start(&j, s, SIZE_MAX);
	nt_pat_fill(buf, sizeof(buf), seed, 0);
	nt_raw_write(peer, buf, sizeof(buf));
	r = rdjob_join(&j);
	KC_CHECK_GT(r, 0);
	KC_CHECK_LE(r, (ssize_t)sizeof(buf));
	KC_CHECK_EQ(kc_chain_len(&j.ch), r);
	nt_check_chain(&j.ch, 0, (size_t)r, seed, 0, "read");
	got = (size_t)r;
	/* The rest, if the first read did not get all of it. */
	while (got < sizeof(buf)) {
		r = kc_socket_recv_wait(s, &j.ch, SIZE_MAX, NULL,
		    NT_WAIT_S * KCT_NSEC_PER_SEC);
		KC_CHECK_GT(r, 0);
		got += (size_t)r;
	}
	KC_CHECK_EQ(got, sizeof(buf));
	KC_CHECK_EQ(kc_chain_len(&j.ch), sizeof(buf));	/* appended */
	nt_check_chain(&j.ch, 0, sizeof(buf), seed, 0, "read");
	kc_chain_free(&j.ch);

	/* max is honoured: 10 bytes at a time. */
	nt_raw_write(peer, buf, 25);
	got = 0;
	while (got < 25) {
		r = kc_socket_recv_wait(s, &j.ch, 10, NULL,
		    NT_WAIT_S * KCT_NSEC_PER_SEC);
		KC_CHECK_GT(r, 0);
		KC_CHECK_LE(r, 10);
		got += (size_t)r;
		KC_CHECK_EQ(kc_chain_len(&j.ch), got);
	}
	nt_check_chain(&j.ch, 0, 25, seed, 0, "read with max");
	kc_chain_free(&j.ch);

	/* End of file wakes a blocked reader: 0, and 0 again. */
	rdjob_start(&j, s, SIZE_MAX);
	KC_CHECK_OK(shutdown(peer, SHUT_WR));
	KC_CHECK_EQ(rdjob_join(&j), 0);
	KC_CHECK_EQ(kc_chain_len(&j.ch), 0);
	KC_CHECK(kc_socket_state(s) & KC_SS_CANTRCVMORE);
	KC_CHECK_EQ(kc_socket_recv_wait(s, &j.ch, SIZE_MAX, NULL,
	    NT_WAIT_S * KCT_NSEC_PER_SEC), 0);
	KC_CHECK_EQ(kc_socket_error(s), 0);
	kc_chain_free(&j.ch);
	nt_close(s);
	nt_raw_close(peer);
}

static void
read_woken_by_reset(struct kc_executor *ex, enum nt_kind k)
{
	struct rdjob j;
	struct kc_socket *s;
	int peer;

	s = nt_pair(ex, k, NULL, true, &peer);
	rdjob_start(&j, s, SIZE_MAX);
	nt_reset_peer(k, s, peer);
	KC_CHECK_EQ(rdjob_join(&j), -ECONNRESET);
	KC_CHECK_EQ(kc_chain_len(&j.ch), 0);
	KC_CHECK_EQ(kc_socket_error(s), -ECONNRESET);
	KC_CHECK(kc_socket_state(s) & KC_SS_ERROR);
	/* The error stays: a later read reports it at once. */
	KC_CHECK_EQ(kc_socket_recv_wait(s, &j.ch, SIZE_MAX, NULL,
	    NT_WAIT_S * KCT_NSEC_PER_SEC), -ECONNRESET);
	kc_chain_free(&j.ch);
	nt_close(s);
}

static void
read_timeout(struct kc_executor *ex, enum nt_kind k)
{
	struct kc_chain ch = KC_CHAIN_INITIALIZER;
	uint8_t buf[300];
	struct kc_socket *s;
	uint64_t seed = kct_rand();
	size_t got = 0;
	ssize_t r;
	int peer;

	s = nt_pair(ex, k, NULL, false, &peer);
	KC_CHECK_EQ(kc_socket_recv_wait(s, &ch, SIZE_MAX, NULL,
	    50 * KCT_NSEC_PER_MSEC), -ETIMEDOUT);
	KC_CHECK_EQ(kc_chain_len(&ch), 0);
	KC_CHECK_EQ(kc_socket_recv_wait(s, &ch, SIZE_MAX, NULL, 0), -ETIMEDOUT);
	KC_CHECK_EQ(kc_chain_len(&ch), 0);
	/* What comes afterwards is all there, once. */
	nt_pat_fill(buf, sizeof(buf), seed, 0);
	nt_raw_write(peer, buf, sizeof(buf));
	while (got < sizeof(buf)) {
		r = kc_socket_recv_wait(s, &ch, SIZE_MAX, NULL,
		    NT_WAIT_S * KCT_NSEC_PER_SEC);
		KC_CHECK_GT(r, 0);
		got += (size_t)r;
	}
	KC_CHECK_EQ(got, sizeof(buf));
	nt_check_chain(&ch, 0, sizeof(buf), seed, 0, "read after timeout");
	kc_chain_free(&ch);
	/* With data buffered, a read returns it without waiting for more. */
	nt_raw_write(peer, buf, 10);
	KCT_WAIT(kc_socket_rcvbytes(s) == 10, NT_WAIT_S);
	KC_CHECK_EQ(kc_socket_recv_wait(s, &ch, SIZE_MAX, NULL, KC_WAIT_FOREVER),
	    10);
	KC_CHECK_EQ(kc_socket_rcvbytes(s), 0);
	kc_chain_free(&ch);
	nt_close(s);
	nt_raw_close(peer);
}

static void
read_datagrams(struct kc_executor *ex, enum nt_kind k)
{
	static const size_t sizes[] = { 10, 0, 20, 1, 0, 65507 };
	struct kc_sockaddr sa, ra;
	struct rdjob j;
	struct kc_socket *s;
	uint8_t *buf = malloc(65507);
	uint64_t seed = kct_rand();
	unsigned i;
	ssize_t r;
	int fd;

	KC_CHECK(buf != NULL);
	s = nt_listener(ex, k, NULL, &sa);
	fd = nt_raw_dgram(k, &ra);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		if (i == 0) {
			/* The first one wakes a blocked reader. */
			rdjob_start(&j, s, 70000);
		} else {
			memset(&j, 0, sizeof(j));
			kc_chain_init(&j.ch);
		}
		nt_pat_fill(buf, sizes[i], seed + i, 0);
		KC_CHECK_EQ(sendto(fd, buf, sizes[i], 0, &sa.a.sa, sa.len),
		    (ssize_t)sizes[i]);
		if (i == 0)
			r = rdjob_join(&j);
		else
			r = kc_socket_recv_wait(s, &j.ch, 70000, &j.from,
			    NT_WAIT_S * KCT_NSEC_PER_SEC);
		KC_CHECK_EQ(r, (ssize_t)sizes[i]);
		KC_CHECK_EQ(kc_chain_len(&j.ch), sizes[i]);
		nt_check_chain(&j.ch, 0, sizes[i], seed + i, 0, "datagram");
		KC_CHECK(nt_addr_eq(&j.from, &ra));
		kc_chain_free(&j.ch);
	}
	/* A datagram longer than max is cut to max; the rest is gone. */
	nt_pat_fill(buf, 100, seed, 0);
	KC_CHECK_EQ(sendto(fd, buf, 100, 0, &sa.a.sa, sa.len), 100);
	KC_CHECK_EQ(sendto(fd, buf, 7, 0, &sa.a.sa, sa.len), 7);
	KC_CHECK_EQ(kc_socket_recv_wait(s, &j.ch, 40, NULL,
	    NT_WAIT_S * KCT_NSEC_PER_SEC), 40);
	nt_check_chain(&j.ch, 0, 40, seed, 0, "truncated datagram");
	kc_chain_free(&j.ch);
	KC_CHECK_EQ(kc_socket_recv_wait(s, &j.ch, 40, NULL,
	    NT_WAIT_S * KCT_NSEC_PER_SEC), 7);
	kc_chain_free(&j.ch);
	nt_close(s);
	nt_raw_close(fd);
	free(buf);
}

/* The peer's reader for write_blocks(): everything, then end of file. */
struct sink {
	int			 fd;
	uint64_t		 seed;
	unsigned long long	 bytes;
};

static void *
sink_main(void *arg)
{
	struct sink *sk = arg;
	uint8_t *buf = malloc(65536);
	ssize_t n;

	KC_CHECK(buf != NULL);
	while ((n = nt_raw_read(sk->fd, buf, 65536)) > 0) {
		nt_check_buf(buf, (size_t)n, sk->seed, sk->bytes,
		    "written stream");
		sk->bytes += (unsigned long long)n;
	}
	KC_CHECK_EQ(n, 0);
	free(buf);
	return NULL;
}

static void
write_blocks(struct kc_executor *ex, enum nt_kind k)
{
	struct kc_socket_attr attr;
	struct kc_chain ch = KC_CHAIN_INITIALIZER;
	struct kc_socket *s;
	struct sink sk;
	pthread_t t;
	uint64_t seed = kct_rand();
	unsigned long long off = 0;
	const size_t chunk = 65536;
	ssize_t r;
	int peer;

	memset(&attr, 0, sizeof(attr));
	attr.snd_hiwat = 16384;
	s = nt_pair(ex, k, &attr, false, &peer);
	/*
	 * The peer does not read: once the kernel's buffers are full the
	 * socket's send buffer stays above its mark and a write waits.
	 */
	for (;;) {
		if (off > 512ull << 20)
			kct_fail(__FILE__, __LINE__, "kc_socket_send_wait never "
			    "blocked (%llu bytes taken, peer not reading)",
			    off);
		kc_chain_init(&ch);
		nt_chain_pat(&ch, seed, off, chunk);
		r = kc_socket_send_wait(s, &ch, NULL, 200 * KCT_NSEC_PER_MSEC);
		if (r == -ETIMEDOUT)
			break;
		KC_CHECK_EQ(r, (ssize_t)chunk);
		KC_CHECK_EQ(kc_chain_len(&ch), 0);
		kc_chain_free(&ch);
		off += chunk;
	}
	/* Timed out: the chain is the caller's, untouched. */
	KC_CHECK_EQ(kc_chain_len(&ch), chunk);
	nt_check_chain(&ch, 0, chunk, seed, off, "chain after -ETIMEDOUT");
	KC_CHECK_GE(kc_socket_sndbytes(s), 1);

	/* Now the peer reads; the same chain, waiting, goes through. */
	memset(&sk, 0, sizeof(sk));
	sk.fd = peer;
	sk.seed = seed;
	t = kct_thread_start(sink_main, &sk);
	r = kc_socket_send_wait(s, &ch, NULL, KC_WAIT_FOREVER);
	KC_CHECK_EQ(r, (ssize_t)chunk);
	KC_CHECK_EQ(kc_chain_len(&ch), 0);
	kc_chain_free(&ch);
	off += chunk;
	/* Closing flushes the send buffer (within linger_ns), then EOF. */
	nt_close(s);
	kct_thread_join(t);
	KC_CHECK_EQ(sk.bytes, off);
	nt_raw_close(peer);
	printf("    write blocked after %llu bytes\n", off - chunk);
}

/* A plain thread blocked in kc_socket_accept_wait(). */
struct ajob {
	struct kc_socket	*lsn;
	struct kc_executor	*owner;
	struct kc_socket	*ns;
	int			 ret;
	atomic_int		 started;
	atomic_int		 finished;
};

static void *
ajob_main(void *arg)
{
	struct ajob *j = arg;

	atomic_store(&j->started, 1);
	j->ret = kc_socket_accept_wait(j->lsn, j->owner, &j->ns,
	    KC_WAIT_FOREVER);
	atomic_store(&j->finished, 1);
	return NULL;
}

static void
accept_waits(struct kc_executor *a, struct kc_executor *b, enum nt_kind k)
{
	struct kc_chain ch = KC_CHAIN_INITIALIZER;
	struct kc_sockaddr addr, peer_name, local;
	struct kc_socket *lsn, *ns = NULL;
	struct ajob j;
	pthread_t t;
	int fd;

	lsn = nt_listener(a, k, NULL, &addr);

	/* No connection: -ETIMEDOUT. */
	KC_CHECK_EQ(kc_socket_accept_wait(lsn, b, &ns,
	    30 * KCT_NSEC_PER_MSEC), -ETIMEDOUT);
	/* The connection that comes next is not lost to the timed-out one. */
	fd = nt_raw_connect(&addr);
	ns = NULL;
	KC_CHECK_OK(kc_socket_accept_wait(lsn, b, &ns,
	    NT_WAIT_S * KCT_NSEC_PER_SEC));
	KC_CHECK(ns != NULL);
	KC_CHECK_PTR_EQ(kc_socket_owner(ns), b);
	KC_CHECK(kc_socket_state(ns) & KC_SS_CONNECTED);
	nt_raw_write(fd, "hello", 5);
	KC_CHECK_EQ(kc_socket_recv_wait(ns, &ch, SIZE_MAX, NULL,
	    NT_WAIT_S * KCT_NSEC_PER_SEC), 5);
	kc_chain_free(&ch);
	if (k != NT_UNIX) {
		/* The peer's address is the raw socket's. */
		memset(&local, 0, sizeof(local));
		local.len = sizeof(local.a);
		KC_CHECK_OK(getsockname(fd, &local.a.sa, &local.len));
		KC_CHECK_OK(kc_socket_name(ns, &peer_name, 1));
		KC_CHECK(nt_addr_eq(&peer_name, &local));
	}
	nt_close(ns);
	nt_raw_expect_eof(fd);
	nt_raw_close(fd);

	/* A blocked accept_wait is woken by a connection. */
	memset(&j, 0, sizeof(j));
	j.lsn = lsn;
	j.owner = b;
	t = kct_thread_start(ajob_main, &j);
	KCT_WAIT(atomic_load(&j.started), NT_WAIT_S);
	kct_sleep_ns(SETTLE_NS);
	KC_CHECK(!atomic_load(&j.finished));
	fd = nt_raw_connect(&addr);
	kct_thread_join(t);
	KC_CHECK_EQ(j.ret, 0);
	KC_CHECK(j.ns != NULL);
	KC_CHECK_PTR_EQ(kc_socket_owner(j.ns), b);
	nt_close(j.ns);
	nt_raw_close(fd);
	nt_close(lsn);
}

static void
connect_waits(struct kc_executor *ex)
{
	struct kc_sockaddr addr, name, bogus;
	struct kc_socket *s;
	char path[256];
	int lfd, peer;

	/* Connects to a listener: CONNECTED, and the peer is the listener. */
	lfd = nt_raw_listener(NT_TCP4, &addr);
	s = nt_socket(ex, NT_TCP4, NULL);
	KC_CHECK_OK(kc_socket_connect_wait(s, &addr,
	    NT_WAIT_S * KCT_NSEC_PER_SEC));
	KC_CHECK(kc_socket_state(s) & KC_SS_CONNECTED);
	KC_CHECK(!(kc_socket_state(s) & KC_SS_CONNECTING));
	KC_CHECK_OK(kc_socket_name(s, &name, 1));
	KC_CHECK(nt_addr_eq(&name, &addr));
	peer = nt_raw_accept(lfd);
	/* Connected already. */
	KC_CHECK_EQ(kc_socket_connect_wait(s, &addr,
	    NT_WAIT_S * KCT_NSEC_PER_SEC), -EISCONN);
	nt_close(s);
	nt_raw_expect_eof(peer);
	nt_raw_close(peer);
	nt_raw_close(lfd);

	/* Refused: a port held by a socket that does not listen. */
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	KC_CHECK_GE(lfd, 0);
	nt_addr(&bogus, "127.0.0.1:0");
	KC_CHECK_OK(bind(lfd, &bogus.a.sa, bogus.len));
	bogus.len = sizeof(bogus.a);
	KC_CHECK_OK(getsockname(lfd, &bogus.a.sa, &bogus.len));
	s = nt_socket(ex, NT_TCP4, NULL);
	KC_CHECK_EQ(kc_socket_connect_wait(s, &bogus,
	    NT_WAIT_S * KCT_NSEC_PER_SEC), -ECONNREFUSED);
	KC_CHECK(!(kc_socket_state(s) & KC_SS_CONNECTED));
	nt_close(s);
	nt_raw_close(lfd);

	/* UNIX: a path bound by a socket not listening is refused too. */
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	KC_CHECK_GE(lfd, 0);
	nt_bind_addr(NT_UNIX, &bogus);
	KC_CHECK_OK(bind(lfd, &bogus.a.sa, bogus.len));
	s = nt_socket(ex, NT_UNIX, NULL);
	KC_CHECK_EQ(kc_socket_connect_wait(s, &bogus,
	    NT_WAIT_S * KCT_NSEC_PER_SEC), -ECONNREFUSED);
	nt_close(s);
	nt_raw_close(lfd);
	/* And a path that does not exist is connect(2)'s ENOENT. */
	snprintf(path, sizeof(path), "unix:%s/nobody", nt_tmpdir());
	nt_addr(&bogus, path);
	s = nt_socket(ex, NT_UNIX, NULL);
	KC_CHECK_EQ(kc_socket_connect_wait(s, &bogus,
	    NT_WAIT_S * KCT_NSEC_PER_SEC), -ENOENT);
	nt_close(s);
}

/* The blocking calls on the owner's own thread: -EDEADLK, at once. */
struct deadlk {
	struct kc_socket	*s;
	struct kc_socket	*fresh;	/* not connected */
	struct kc_socket	*lsn;
	struct kc_sockaddr	 addr;
	ssize_t			 rd, wr;
	int			 acc, conn;
	size_t			 chlen;
};

static void
deadlk_fn(void *arg)
{
	struct deadlk *d = arg;
	struct kc_chain ch = KC_CHAIN_INITIALIZER;
	struct kc_socket *ns = NULL;

	d->rd = kc_socket_recv_wait(d->s, &ch, SIZE_MAX, NULL, KC_WAIT_FOREVER);
	KC_CHECK_OK(kc_chain_append(&ch, "x", 1));
	d->wr = kc_socket_send_wait(d->s, &ch, NULL, KC_WAIT_FOREVER);
	d->chlen = kc_chain_len(&ch);
	kc_chain_free(&ch);
	d->acc = kc_socket_accept_wait(d->lsn, kc_executor_current(), &ns,
	    KC_WAIT_FOREVER);
	d->conn = kc_socket_connect_wait(d->fresh, &d->addr, KC_WAIT_FOREVER);
}

static void
owner_deadlock(struct kc_executor *ex)
{
	struct deadlk d;
	int peer;

	memset(&d, 0, sizeof(d));
	d.s = nt_pair(ex, NT_TCP4, NULL, true, &peer);
	d.lsn = nt_listener(ex, NT_TCP4, NULL, &d.addr);
	d.fresh = nt_socket(ex, NT_TCP4, NULL);
	nt_on(ex, deadlk_fn, &d);
	KC_CHECK_EQ(d.rd, -EDEADLK);
	KC_CHECK_EQ(d.wr, -EDEADLK);
	KC_CHECK_EQ(d.chlen, 1);	/* untouched */
	KC_CHECK_EQ(d.acc, -EDEADLK);
	KC_CHECK_EQ(d.conn, -EDEADLK);
	nt_close(d.s);
	nt_close(d.fresh);
	nt_close(d.lsn);
	nt_raw_close(peer);
}

int
main(void)
{
	static const enum nt_kind streams[] = { NT_TCP4, NT_TCP6, NT_UNIX };
	struct kc_executor *a, *b;
	long base;
	unsigned i;

	kct_begin("net-blockread", 600);
	base = kc_socket_count();
	a = kct_exec_soft("blk-a");
	b = kct_exec_soft("blk-b");
	for (i = 0; i < 3; i++) {
		printf("  %s\n", nt_kind_name[streams[i]]);
		read_woken_by_data(a, streams[i]);
		read_woken_by_reset(a, streams[i]);
		read_timeout(a, streams[i]);
		write_blocks(a, streams[i]);
		accept_waits(a, b, streams[i]);
		nt_wait_count(base);
	}
	printf("  datagrams\n");
	read_datagrams(a, NT_UDP4);
	read_datagrams(a, NT_UDP6);
	read_datagrams(a, NT_UNIXDG);
	printf("  connect_wait\n");
	connect_waits(a);
	printf("  -EDEADLK on the owner\n");
	owner_deadlock(a);
	nt_wait_count(base);
	kct_exec_finish(a);
	kct_exec_finish(b);
	return kct_done();
}
