/*
 * net-badinput: every documented misuse gets its documented negative errno,
 * with no crash and nothing lost.
 *
 *   addresses: strings that do not parse ("", "1.2.3.4", "1.2.3.4:", ":80",
 *   "[::1", "[::1]:99999", "256.0.0.1:80", "unix:", names, garbage bytes...)
 *   -> -EINVAL with the address zeroed; a UNIX path too long for a
 *   sockaddr_un -> -ENAMETOOLONG; kc_sockaddr_format() round trips of parsed
 *   addresses (the same string back, and the same address parsed again),
 *   its -ENOSPC at exactly one byte short, -EINVAL for an empty address;
 *   NULL arguments to every function that returns an error -> -EINVAL;
 *   kc_socket_create(): bad domain, type, lowat above hiwat, a thread
 *   executor -> -EINVAL, an executor shut down -> -ESHUTDOWN;
 *   kc_socket_adopt() of a non-socket fails and closes the descriptor;
 *   send on an unconnected TCP socket -> -ENOTCONN, a datagram without a
 *   destination -> -ENOTCONN, one above 65507 bytes -> -EMSGSIZE, each with
 *   the chain untouched (same length and bytes);
 *   kc_socket_recv() off the owner (a plain thread, another executor)
 *   -> -EPERM; accept on a socket not listening, or for a thread executor
 *   -> -EINVAL; connect when connected -> -EISCONN; shutdown with a bad how
 *   -> -EINVAL, on an unconnected socket -> -ENOTCONN; upcall with a bad
 *   queue -> -EINVAL, with a kc waiting elsewhere -> -EBUSY;
 *   inside the socket's own upcall, after kc_socket_close() (the library
 *   keeps the memory until the upcall returns): send -> -EPIPE with the chain
 *   untouched, close and shutdown and connect -> -EBADF, KC_SS_CLOSED set;
 *   a client that never reads, the server's socket with a small send buffer:
 *   the server's sends wait; meanwhile other connections on the same
 *   executor keep working; then the client goes away: the waiting sends'
 *   continuations get an error, every chain is released (wrapped segments),
 *   and the other connections still work.
 */
#include "nettest.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- addresses ---- */

static void
expect_einval(const char *str)
{
	struct kc_sockaddr a;
	static const struct kc_sockaddr zero;
	int r;

	memset(&a, 0xa5, sizeof(a));
	r = kc_sockaddr_parse(&a, str);
	if (r != -EINVAL)
		kct_fail(__FILE__, __LINE__, "kc_sockaddr_parse(\"%s\") = %d, "
		    "expected -EINVAL", str, r);
	if (memcmp(&a, &zero, sizeof(a)) != 0)
		kct_fail(__FILE__, __LINE__, "kc_sockaddr_parse(\"%s\") failed "
		    "but left the address not zeroed", str);
}

/* Parse, format: the same string; parse that again: the same address. */
static void
round_trip(const char *str, const char *canon)
{
	struct kc_sockaddr a, b;
	char buf[256], small[256];
	int n, r;

	nt_addr(&a, str);
	n = kc_sockaddr_format(&a, buf, sizeof(buf));
	if (n < 0 || strcmp(buf, canon) != 0 || (size_t)n != strlen(buf))
		kct_fail(__FILE__, __LINE__, "format(parse(\"%s\")) = %d "
		    "\"%s\", expected \"%s\"", str, n, n >= 0 ? buf : "",
		    canon);
	nt_addr(&b, buf);
	KC_CHECK_EQ(a.len, b.len);
	if (memcmp(&a.a, &b.a, a.len) != 0)
		kct_fail(__FILE__, __LINE__, "\"%s\" parsed again differs",
		    buf);
	/* Exactly big enough, and one byte short. */
	KC_CHECK_EQ(kc_sockaddr_format(&a, small, (size_t)n + 1), n);
	KC_CHECK(strcmp(small, canon) == 0);
	r = kc_sockaddr_format(&a, small, (size_t)n);
	KC_CHECK_EQ(r, -ENOSPC);
	KC_CHECK_EQ(kc_sockaddr_format(&a, small, 1), -ENOSPC);
}

static void
addresses(void)
{
	static const char *const bad[] = {
		"", "1.2.3.4", "1.2.3.4:", ":80", "[::1", "[::1]:99999",
		"256.0.0.1:80", "unix:", "1.2.3.4:65536", "1.2.3.4:-1",
		"1.2.3.4:80x", "1.2.3.4:x80", "[::1]", "[::1]:", "[::1]80",
		"::1:80", "[1.2.3.4]:80", "[::g]:80", "localhost:80",
		"1.2.3.4.5:80", "[]:80", "unix", "tcp:1.2.3.4:80", ":",
		"[", "]", "[]", "1.2.3.4::80",
	};
	struct kc_sockaddr a;
	char str[512], buf[256];
	unsigned i, j, len;
	size_t max;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_einval(bad[i]);

	/* Garbage: random bytes, never a "unix:" prefix. */
	for (i = 0; i < 2000; i++) {
		len = 1 + (unsigned)kct_rand_below(40);
		for (j = 0; j < len; j++)
			str[j] = (char)(1 + kct_rand_below(255));
		str[0] = (char)(0x80 | (unsigned char)str[0]);
		str[len] = '\0';
		expect_einval(str);
	}
	/* Garbage after a valid prefix. */
	for (i = 0; i < 500; i++) {
		snprintf(str, sizeof(str), "127.0.0.1:80");
		len = (unsigned)strlen(str);
		str[len] = (char)(0x80 | kct_rand_below(128));
		str[len + 1] = '\0';
		expect_einval(str);
	}

	/* Parsed values. */
	nt_addr(&a, "127.0.0.1:8080");
	KC_CHECK_EQ(a.a.sa.sa_family, AF_INET);
	KC_CHECK_EQ(a.len, sizeof(struct sockaddr_in));
	KC_CHECK_EQ(ntohs(a.a.in.sin_port), 8080);
	KC_CHECK_EQ(ntohl(a.a.in.sin_addr.s_addr), 0x7f000001);
	nt_addr(&a, "[::1]:443");
	KC_CHECK_EQ(a.a.sa.sa_family, AF_INET6);
	KC_CHECK_EQ(a.len, sizeof(struct sockaddr_in6));
	KC_CHECK_EQ(ntohs(a.a.in6.sin6_port), 443);
	KC_CHECK(memcmp(&a.a.in6.sin6_addr, &in6addr_loopback,
	    sizeof(in6addr_loopback)) == 0);
	nt_addr(&a, "unix:/tmp/x.sock");
	KC_CHECK_EQ(a.a.sa.sa_family, AF_UNIX);
	KC_CHECK(strcmp(a.a.un.sun_path, "/tmp/x.sock") == 0);
	KC_CHECK_GE(a.len, offsetof(struct sockaddr_un, sun_path) + 11);
	nt_addr(&a, "unix:@kcont-test");
	KC_CHECK_EQ(a.a.sa.sa_family, AF_UNIX);
	KC_CHECK_EQ(a.a.un.sun_path[0], '\0');
	KC_CHECK(memcmp(a.a.un.sun_path + 1, "kcont-test", 10) == 0);
	/* Abstract names are counted, not NUL-terminated. */
	KC_CHECK_EQ(a.len, offsetof(struct sockaddr_un, sun_path) + 11);

	round_trip("127.0.0.1:8080", "127.0.0.1:8080");
	round_trip("0.0.0.0:0", "0.0.0.0:0");
	round_trip("255.255.255.255:65535", "255.255.255.255:65535");
	round_trip("[::1]:8080", "[::1]:8080");
	round_trip("[::]:0", "[::]:0");
	round_trip("[2001:db8::1]:443", "[2001:db8::1]:443");
	round_trip("[2001:DB8:0:0:0:0:0:1]:443", "[2001:db8::1]:443");
	round_trip("[::ffff:1.2.3.4]:80", "[::ffff:1.2.3.4]:80");
	round_trip("unix:/tmp/x.sock", "unix:/tmp/x.sock");
	round_trip("unix:@kcont-test", "unix:@kcont-test");

	/* The longest path that fits, and longer ones. */
	max = sizeof(a.a.un.sun_path) - 1;	/* with its NUL */
	memcpy(str, "unix:/", 6);
	memset(str + 6, 'p', max - 1);
	str[5 + max] = '\0';
	KC_CHECK_EQ(strlen(str + 5), max);
	round_trip(str, str);
	memset(str + 6, 'p', 200);
	str[206] = '\0';
	KC_CHECK_EQ(kc_sockaddr_parse(&a, str), -ENAMETOOLONG);
	memcpy(str, "unix:@", 6);	/* abstract: 200 bytes of name */
	KC_CHECK_EQ(kc_sockaddr_parse(&a, str), -ENAMETOOLONG);

	/* Formatting what is not an address. */
	memset(&a, 0, sizeof(a));
	KC_CHECK_EQ(kc_sockaddr_format(&a, buf, sizeof(buf)), -EINVAL);
	a.a.sa.sa_family = AF_APPLETALK;
	a.len = sizeof(a.a.sa);
	KC_CHECK_EQ(kc_sockaddr_format(&a, buf, sizeof(buf)), -EINVAL);

	/* NULLs. */
	KC_CHECK_EQ(kc_sockaddr_parse(NULL, "1.2.3.4:5"), -EINVAL);
	KC_CHECK_EQ(kc_sockaddr_parse(&a, NULL), -EINVAL);
	nt_addr(&a, "1.2.3.4:5");
	KC_CHECK_EQ(kc_sockaddr_format(NULL, buf, sizeof(buf)), -EINVAL);
	KC_CHECK_EQ(kc_sockaddr_format(&a, NULL, sizeof(buf)), -EINVAL);
}

/* ---- creating ---- */

static void
creating(struct kc_executor *ex)
{
	struct kc_socket_attr attr;
	struct kc_executor *pool, *dead;
	struct kc_socket *s = NULL;
	int p[2];

	KC_CHECK_EQ(kc_socket_create(NULL, ex, AF_INET, SOCK_STREAM, NULL),
	    -EINVAL);
	KC_CHECK_EQ(kc_socket_create(&s, NULL, AF_INET, SOCK_STREAM, NULL),
	    -EINVAL);
	KC_CHECK_EQ(kc_socket_create(&s, ex, AF_PACKET, SOCK_STREAM, NULL),
	    -EINVAL);
	KC_CHECK_EQ(kc_socket_create(&s, ex, AF_INET, SOCK_RAW, NULL),
	    -EINVAL);
	KC_CHECK_EQ(kc_socket_create(&s, ex, AF_INET, SOCK_SEQPACKET, NULL),
	    -EINVAL);
	KC_CHECK_EQ(kc_socket_create(&s, ex, 12345, SOCK_DGRAM, NULL),
	    -EINVAL);
	memset(&attr, 0, sizeof(attr));
	attr.rcv_hiwat = 1000;
	attr.rcv_lowat = 2000;
	KC_CHECK_EQ(kc_socket_create(&s, ex, AF_INET, SOCK_STREAM, &attr),
	    -EINVAL);
	memset(&attr, 0, sizeof(attr));
	attr.snd_hiwat = 1000;
	attr.snd_lowat = 2000;
	KC_CHECK_EQ(kc_socket_create(&s, ex, AF_INET, SOCK_STREAM, &attr),
	    -EINVAL);

	/* Owners must be soft executors that are running. */
	pool = kct_exec_thread(2, "bad-pool");
	KC_CHECK_EQ(kc_socket_create(&s, pool, AF_INET, SOCK_STREAM, NULL),
	    -EINVAL);
	kct_exec_finish(pool);
	dead = kct_exec_soft("bad-dead");
	KC_CHECK_OK(kc_executor_shutdown(dead, KC_SHUTDOWN_DRAIN, NULL));
	KC_CHECK_EQ(kc_socket_create(&s, dead, AF_INET, SOCK_STREAM, NULL),
	    -ESHUTDOWN);
	KC_CHECK_OK(kc_executor_close(dead, NULL));

	/* adopt: not a socket; the call closes the descriptor anyway. */
	KC_CHECK_OK(pipe2(p, O_CLOEXEC));
	KC_CHECK_LT(kc_socket_adopt(&s, ex, p[0], NULL), 0);
	KC_CHECK_EQ(fcntl(p[0], F_GETFD), -1);
	KC_CHECK_EQ(errno, EBADF);
	close(p[1]);
	KC_CHECK_LT(kc_socket_adopt(&s, ex, -1, NULL), 0);
	KC_CHECK_EQ(kc_socket_adopt(NULL, ex, -1, NULL), -EINVAL);
}

/* ---- NULLs and wrong states on sockets ---- */

struct recv_try {
	struct kc_socket	*s;
	ssize_t			 r;
	size_t			 len;
};

static void
recv_try_fn(void *arg)
{
	struct recv_try *t = arg;
	struct kc_chain ch = KC_CHAIN_INITIALIZER;

	t->r = kc_socket_recv(t->s, &ch, SIZE_MAX, NULL);
	t->len = kc_chain_len(&ch);
	kc_chain_free(&ch);
}

static void
recv_null_fn(void *arg)
{
	struct recv_try *t = arg;

	t->r = kc_socket_recv(t->s, NULL, SIZE_MAX, NULL);
}

static void
misuse(struct kc_executor *ex, struct kc_executor *other)
{
	struct kc_chain ch = KC_CHAIN_INITIALIZER;
	struct kc_sockaddr addr, a;
	struct kc_socket *s, *u, *d, *lsn, *ns = NULL;
	struct kc_executor *pool;
	struct recv_try t;
	struct nt_done k1, k2;
	struct kc kc;
	uint8_t *big;
	char tmp[4];
	int peer, fd;

	/* NULL sockets. */
	nt_addr(&a, "127.0.0.1:1");
	KC_CHECK_EQ(kc_socket_bind(NULL, &a), -EINVAL);
	KC_CHECK_EQ(kc_socket_listen(NULL, 5), -EINVAL);
	KC_CHECK_EQ(kc_socket_name(NULL, &a, 0), -EINVAL);
	KC_CHECK_EQ(kc_socket_connect(NULL, &a, NULL), -EINVAL);
	KC_CHECK_EQ(kc_socket_accept(NULL, ex, NULL), -EINVAL);
	KC_CHECK_OK(kc_chain_append(&ch, "abc", 3));
	KC_CHECK_EQ(kc_socket_send(NULL, &ch, NULL, NULL), -EINVAL);
	KC_CHECK_EQ(kc_chain_len(&ch), 3);
	KC_CHECK_EQ(kc_socket_recv(NULL, &ch, 1, NULL), -EINVAL);
	KC_CHECK_EQ(kc_socket_upcall(NULL, KC_SO_READABLE, NULL), -EINVAL);
	KC_CHECK_EQ(kc_socket_recv_wait(NULL, &ch, 1, NULL, 0), -EINVAL);
	KC_CHECK_EQ(kc_socket_send_wait(NULL, &ch, NULL, 0), -EINVAL);
	KC_CHECK_EQ(kc_chain_len(&ch), 3);
	KC_CHECK_EQ(kc_socket_accept_wait(NULL, ex, &ns, 0), -EINVAL);
	KC_CHECK_EQ(kc_socket_connect_wait(NULL, &a, 0), -EINVAL);
	KC_CHECK_EQ(kc_socket_shutdown(NULL, SHUT_RDWR), -EINVAL);
	KC_CHECK_EQ(kc_socket_close(NULL, NULL), -EINVAL);

	/* NULL arguments on a live, connected socket. */
	s = nt_pair(ex, NT_TCP4, NULL, true, &peer);
	KC_CHECK_EQ(kc_socket_bind(s, NULL), -EINVAL);
	KC_CHECK_EQ(kc_socket_name(s, NULL, 0), -EINVAL);
	KC_CHECK_EQ(kc_socket_connect(s, NULL, NULL), -EINVAL);
	KC_CHECK_EQ(kc_socket_send(s, NULL, NULL, NULL), -EINVAL);
	KC_CHECK_EQ(kc_socket_upcall(s, KC_SO_READABLE, NULL), -EINVAL);
	KC_CHECK_EQ(kc_socket_recv_wait(s, NULL, 1, NULL, 0), -EINVAL);
	KC_CHECK_EQ(kc_socket_send_wait(s, NULL, NULL, 0), -EINVAL);
	KC_CHECK_EQ(kc_socket_connect_wait(s, NULL, 0), -EINVAL);
	memset(&t, 0, sizeof(t));
	t.s = s;
	nt_on(ex, recv_null_fn, &t);
	KC_CHECK_EQ(t.r, -EINVAL);

	/* Bad values. */
	nt_done_init(&k1, ex);
	KC_CHECK_EQ(kc_socket_upcall(s, 0, &k1.kc), -EINVAL);
	KC_CHECK_EQ(kc_socket_upcall(s, 4, &k1.kc), -EINVAL);
	KC_CHECK_EQ(kc_socket_upcall(s, -1, &k1.kc), -EINVAL);
	KC_CHECK_EQ(kc_socket_shutdown(s, 7), -EINVAL);
	KC_CHECK_EQ(kc_socket_shutdown(s, -1), -EINVAL);
	KC_CHECK_EQ(kc_socket_connect(s, &a, NULL), -EISCONN);
	/* A kc waiting on one queue cannot wait on another. */
	KC_CHECK_OK(kc_socket_upcall(s, KC_SO_READABLE, &k1.kc));
	KC_CHECK_EQ(kc_socket_upcall(s, KC_SO_CLOSED, &k1.kc), -EBUSY);
	KC_CHECK_EQ(kc_socket_upcall(s, KC_SO_READABLE, &k1.kc), -EBUSY);
	memset(&kc, 0, sizeof(kc));	/* not initialised */
	KC_CHECK_EQ(kc_socket_upcall(s, KC_SO_READABLE, &kc), -EINVAL);

	/* recv off the owner: a plain thread, and another executor. */
	nt_raw_write(peer, "data", 4);
	KCT_WAIT(kc_socket_rcvbytes(s) == 4, NT_WAIT_S);
	nt_done_wait(&k1);	/* READABLE fired */
	KC_CHECK_EQ(atomic_load(&k1.status), 0);
	t.r = 0;
	recv_try_fn(&t);
	KC_CHECK_EQ(t.r, -EPERM);
	KC_CHECK_EQ(t.len, 0);
	nt_on(other, recv_try_fn, &t);
	KC_CHECK_EQ(t.r, -EPERM);
	KC_CHECK_EQ(t.len, 0);
	KC_CHECK_EQ(kc_socket_rcvbytes(s), 4);	/* nothing consumed */
	nt_on(ex, recv_try_fn, &t);
	KC_CHECK_EQ(t.r, 4);
	KC_CHECK_EQ(t.len, 4);
	nt_on(ex, recv_try_fn, &t);
	KC_CHECK_EQ(t.r, -EAGAIN);
	nt_close(s);
	nt_raw_close(peer);

	/* Unconnected: sends, shutdown, accept. */
	u = nt_socket(ex, NT_TCP4, NULL);
	KC_CHECK_EQ(kc_socket_send(u, &ch, NULL, NULL), -ENOTCONN);
	KC_CHECK_EQ(kc_chain_len(&ch), 3);
	KC_CHECK_EQ(kc_chain_copyout(&ch, 0, tmp, 3), 3);
	KC_CHECK(memcmp(tmp, "abc", 3) == 0);
	KC_CHECK_EQ(kc_socket_send_wait(u, &ch, NULL, 0), -ENOTCONN);
	KC_CHECK_EQ(kc_chain_len(&ch), 3);
	KC_CHECK_EQ(kc_socket_shutdown(u, SHUT_WR), -ENOTCONN);
	nt_done_init(&k2, ex);
	KC_CHECK_EQ(kc_socket_accept(u, ex, &k2.kc), -EINVAL);
	KC_CHECK_EQ(kc_socket_accept_wait(u, ex, &ns, 0), -EINVAL);
	KC_CHECK_EQ(kc_state(&k2.kc), KC_STATE_IDLE);
	nt_close(u);

	/* Accept for a thread executor, or from a datagram socket. */
	lsn = nt_listener(ex, NT_TCP4, NULL, &addr);
	pool = kct_exec_thread(1, "bad-pool2");
	KC_CHECK_EQ(kc_socket_accept(lsn, pool, &k2.kc), -EINVAL);
	KC_CHECK_EQ(kc_socket_accept(lsn, NULL, &k2.kc), -EINVAL);
	KC_CHECK_EQ(kc_state(&k2.kc), KC_STATE_IDLE);
	kct_exec_finish(pool);
	/* A listener is not connected. */
	KC_CHECK_EQ(kc_socket_send(lsn, &ch, NULL, NULL), -ENOTCONN);
	KC_CHECK_EQ(kc_chain_len(&ch), 3);
	/* Closing it answers a pending accept -ECANCELED, obj NULL. */
	KC_CHECK_OK(kc_socket_accept(lsn, other, &k2.kc));
	nt_close(lsn);
	nt_done_wait(&k2);
	KC_CHECK_EQ(atomic_load(&k2.status), -ECANCELED);
	KC_CHECK(atomic_load(&k2.obj) == NULL);
	KC_CHECK_PTR_EQ(atomic_load(&k2.ran_on), ex);	/* the kc's executor */

	/* Datagrams: no destination; too large. */
	d = nt_socket(ex, NT_UDP4, NULL);
	KC_CHECK_EQ(kc_socket_send(d, &ch, NULL, NULL), -ENOTCONN);
	KC_CHECK_EQ(kc_chain_len(&ch), 3);
	KC_CHECK_EQ(kc_socket_accept(d, ex, &k2.kc), -EINVAL);
	KC_CHECK_LT(kc_socket_listen(d, 5), 0);
	kc_chain_free(&ch);
	fd = nt_raw_dgram(NT_UDP4, &addr);
	big = malloc(65508);
	KC_CHECK(big != NULL);
	nt_pat_fill(big, 65508, 7, 0);
	KC_CHECK_OK(kc_chain_append(&ch, big, 65508));
	KC_CHECK_EQ(kc_socket_send(d, &ch, &addr, NULL), -EMSGSIZE);
	KC_CHECK_EQ(kc_chain_len(&ch), 65508);
	nt_check_chain(&ch, 0, 65508, 7, 0, "chain after -EMSGSIZE");
	/* One byte less is a datagram, and arrives whole. */
	KC_CHECK_EQ(kc_chain_drop(&ch, 1), 1);
	KC_CHECK_OK(kc_socket_send(d, &ch, &addr, NULL));
	KC_CHECK_EQ(kc_chain_len(&ch), 0);
	nt_raw_wait(fd, POLLIN, NT_WAIT_S);
	KC_CHECK_EQ(recv(fd, big, 65508, 0), 65507);
	nt_check_buf(big, 65507, 7, 1, "largest datagram");
	kc_chain_free(&ch);
	free(big);
	nt_raw_close(fd);
	nt_close(d);
}

/* ---- using the socket inside its own upcall, after closing it ---- */

struct after {
	struct kc_socket	*s;
	struct kc		 kc;
	struct kc_sockaddr	 addr;
	int			 close1, close2, shut, conn, send;
	size_t			 chlen;
	unsigned		 state;
	atomic_int		 ran;
};

static void
after_close_fn(void *obj, void *env, int status)
{
	struct after *af = env;
	struct kc_chain ch = KC_CHAIN_INITIALIZER;

	KC_CHECK_PTR_EQ(obj, af->s);
	KC_CHECK_EQ(status, 0);
	af->close1 = kc_socket_close(af->s, NULL);
	/* The memory stays until this upcall returns. */
	af->state = kc_socket_state(af->s);
	KC_CHECK_OK(kc_chain_append(&ch, "late", 4));
	af->send = kc_socket_send(af->s, &ch, NULL, NULL);
	af->chlen = kc_chain_len(&ch);
	kc_chain_free(&ch);
	af->shut = kc_socket_shutdown(af->s, SHUT_WR);
	af->conn = kc_socket_connect(af->s, &af->addr, NULL);
	af->close2 = kc_socket_close(af->s, NULL);
	atomic_store(&af->ran, 1);
}

static void
after_close(struct kc_executor *ex)
{
	struct after af;
	int peer;

	memset(&af, 0, sizeof(af));
	af.s = nt_pair(ex, NT_TCP4, NULL, false, &peer);
	nt_addr(&af.addr, "127.0.0.1:1");
	KC_CHECK_OK(kc_init(&af.kc, after_close_fn, &af, ex, 0));
	KC_CHECK_OK(kc_socket_upcall(af.s, KC_SO_READABLE, &af.kc));
	nt_raw_write(peer, "x", 1);
	KCT_WAIT(atomic_load(&af.ran), NT_WAIT_S);
	KC_CHECK_EQ(af.close1, 0);
	KC_CHECK(af.state & KC_SS_CLOSED);
	KC_CHECK_EQ(af.send, -EPIPE);
	KC_CHECK_EQ(af.chlen, 4);
	KC_CHECK_EQ(af.shut, -EBADF);
	KC_CHECK_EQ(af.conn, -EBADF);
	KC_CHECK_EQ(af.close2, -EBADF);
	nt_raw_expect_eof(peer);
	nt_raw_close(peer);
}

/* ---- a client that never reads ---- */

#define SLOW_CHUNK	(256u * 1024)
#define SLOW_MAX	512

static atomic_int slow_released;

static void
slow_release(void *arg, void *data, size_t size)
{
	(void)arg;
	(void)size;
	free(data);
	atomic_fetch_add(&slow_released, 1);
}

/* Another connection on the same executor still echoes through us. */
static void
still_works(struct kc_socket *s, int peer, uint64_t seed)
{
	struct kc_chain ch = KC_CHAIN_INITIALIZER;
	uint8_t buf[777];

	nt_chain_pat(&ch, seed, 0, sizeof(buf));
	KC_CHECK_EQ(kc_socket_send_wait(s, &ch, NULL,
	    NT_WAIT_S * KCT_NSEC_PER_SEC), (ssize_t)sizeof(buf));
	nt_raw_read_full(peer, buf, sizeof(buf));
	nt_check_buf(buf, sizeof(buf), seed, 0, "other connection");
	nt_raw_write(peer, buf, sizeof(buf));
	while (kc_chain_len(&ch) < sizeof(buf))
		KC_CHECK_GT(kc_socket_recv_wait(s, &ch, sizeof(buf), NULL,
		    NT_WAIT_S * KCT_NSEC_PER_SEC), 0);
	nt_check_chain(&ch, 0, sizeof(buf), seed, 0, "echo back");
	kc_chain_free(&ch);
}

static void
never_reads(struct kc_executor *ex)
{
	struct kc_socket_attr attr;
	struct nt_done *d = calloc(SLOW_MAX, sizeof(*d));
	struct kc_socket *srv, *other;
	struct kc_chain ch;
	struct kc_seg *seg;
	unsigned i, n, waiting;
	int client, opeer, failed;
	uint8_t *p;

	KC_CHECK(d != NULL);
	atomic_store(&slow_released, 0);
	memset(&attr, 0, sizeof(attr));
	attr.snd_hiwat = 32768;
	srv = nt_pair(ex, NT_TCP4, &attr, false, &client);
	other = nt_pair(ex, NT_TCP4, NULL, true, &opeer);

	/*
	 * Send until a send's continuation does not come: the kernel's
	 * buffers and ours are full, and it waits for space that never comes.
	 */
	for (n = 0;; n++) {
		if (n == SLOW_MAX)
			kct_fail(__FILE__, __LINE__, "%u sends of %u bytes all "
			    "taken with the peer not reading", n, SLOW_CHUNK);
		p = malloc(SLOW_CHUNK);
		KC_CHECK(p != NULL);
		memset(p, (int)n, SLOW_CHUNK);
		KC_CHECK_OK(kc_seg_wrap(&seg, p, SLOW_CHUNK, slow_release,
		    NULL));
		kc_chain_init(&ch);
		KC_CHECK_OK(kc_chain_append_seg(&ch, seg, 0, SLOW_CHUNK));
		kc_seg_unref(seg);
		nt_done_init(&d[n], ex);
		KC_CHECK_OK(kc_socket_send(srv, &ch, NULL, &d[n].kc));
		KC_CHECK_EQ(kc_chain_len(&ch), 0);
		kc_chain_free(&ch);
		/* Generous: only a send with no room left waits this long. */
		{
			uint64_t dl = kct_now_ns() + 5 * KCT_NSEC_PER_SEC;
			unsigned it = 0;

			while (atomic_load(&d[n].n) == 0 && kct_now_ns() < dl)
				kct_pause(it++);
		}
		if (atomic_load(&d[n].n) == 0)
			break;
		KC_CHECK_EQ(atomic_load(&d[n].status), 0);
	}
	/* Two more behind it: they wait too, in order. */
	for (i = 1; i <= 2; i++) {
		p = malloc(SLOW_CHUNK);
		KC_CHECK(p != NULL);
		memset(p, 0x77, SLOW_CHUNK);
		KC_CHECK_OK(kc_seg_wrap(&seg, p, SLOW_CHUNK, slow_release,
		    NULL));
		kc_chain_init(&ch);
		KC_CHECK_OK(kc_chain_append_seg(&ch, seg, 0, SLOW_CHUNK));
		kc_seg_unref(seg);
		nt_done_init(&d[n + i], ex);
		KC_CHECK_OK(kc_socket_send(srv, &ch, NULL, &d[n + i].kc));
		kc_chain_free(&ch);
	}
	waiting = 3;
	printf("    a send waits after %u were taken\n", n);

	/* The executor is not stuck behind the waiting sends. */
	still_works(other, opeer, kct_rand());

	/* The client goes away; the waiting sends fail. */
	nt_raw_reset(client);
	failed = 0;
	for (i = n; i < n + waiting; i++) {
		nt_done_wait(&d[i]);
		KC_CHECK_LT(atomic_load(&d[i].status), 0);
		KC_CHECK_PTR_EQ(atomic_load(&d[i].obj), srv);
		failed++;
	}
	KC_CHECK_EQ(failed, 3);
	KC_CHECK_LT(kc_socket_error(srv), 0);
	still_works(other, opeer, kct_rand());
	nt_close(srv);
	/* Every chain is released: the failed ones and the taken ones. */
	KCT_WAIT(atomic_load(&slow_released) == (int)(n + waiting),
	    NT_WAIT_S);
	for (i = 0; i < n + waiting; i++) {
		KCT_WAIT(kc_state(&d[i].kc) == KC_STATE_IDLE, NT_WAIT_S);
		KC_CHECK_EQ(atomic_load(&d[i].n), 1);
	}
	still_works(other, opeer, kct_rand());
	nt_close(other);
	nt_raw_close(opeer);
	free(d);
}

int
main(void)
{
	struct kc_executor *ex, *other;
	long base;

	kct_begin("net-badinput", 300);
	base = kc_socket_count();
	printf("  addresses\n");
	addresses();
	ex = kct_exec_soft("bad-a");
	other = kct_exec_soft("bad-b");
	printf("  creating\n");
	creating(ex);
	nt_wait_count(base);
	printf("  misuse\n");
	misuse(ex, other);
	nt_wait_count(base);
	printf("  after close, inside the upcall\n");
	after_close(ex);
	nt_wait_count(base);
	printf("  a client that never reads\n");
	never_reads(ex);
	nt_wait_count(base);
	kct_exec_finish(ex);
	kct_exec_finish(other);
	return kct_done();
}
