/*
 * nettest.c: helpers shared by the owned-socket tests (see nettest.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "nettest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <netinet/in.h>

const char *const nt_kind_name[NT_NKINDS] = {
	"tcp4", "tcp6", "unix-stream", "udp4", "udp6", "unix-dgram",
};

int
nt_domain(enum nt_kind k)
{
	switch (k) {
	case NT_TCP4:
	case NT_UDP4:
		return AF_INET;
	case NT_TCP6:
	case NT_UDP6:
		return AF_INET6;
	default:
		return AF_UNIX;
	}
}

int
nt_type(enum nt_kind k)
{
	return nt_is_dgram(k) ? SOCK_DGRAM : SOCK_STREAM;
}

bool
nt_is_dgram(enum nt_kind k)
{
	return k == NT_UDP4 || k == NT_UDP6 || k == NT_UNIXDG;
}

/* ---- the private directory ---- */

static char nt_dir[64];
static pthread_once_t nt_dir_once = PTHREAD_ONCE_INIT;
static atomic_uint nt_path_seq;

static void
nt_dir_remove(void)
{
	struct dirent *de;
	char path[384];
	DIR *d;

	if (nt_dir[0] == '\0' || (d = opendir(nt_dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", nt_dir, de->d_name);
		(void)unlink(path);
	}
	closedir(d);
	(void)rmdir(nt_dir);
}

static void
nt_dir_make(void)
{
	snprintf(nt_dir, sizeof(nt_dir), "/tmp/kcnet.XXXXXX");
	if (mkdtemp(nt_dir) == NULL)
		kct_fail(__FILE__, __LINE__, "mkdtemp: %s", strerror(errno));
	atexit(nt_dir_remove);
}

const char *
nt_tmpdir(void)
{
	pthread_once(&nt_dir_once, nt_dir_make);
	return nt_dir;
}

/* ---- addresses ---- */

void
nt_addr(struct kc_sockaddr *a, const char *str)
{
	int r = kc_sockaddr_parse(a, str);

	if (r != 0)
		kct_fail(__FILE__, __LINE__, "kc_sockaddr_parse(\"%s\") = %d",
		    str, r);
}

void
nt_bind_addr(enum nt_kind k, struct kc_sockaddr *a)
{
	char str[128];

	switch (nt_domain(k)) {
	case AF_INET:
		nt_addr(a, "127.0.0.1:0");
		break;
	case AF_INET6:
		nt_addr(a, "[::1]:0");
		break;
	default:
		snprintf(str, sizeof(str), "unix:%s/s%u", nt_tmpdir(),
		    atomic_fetch_add(&nt_path_seq, 1));
		nt_addr(a, str);
		break;
	}
}

bool
nt_addr_eq(const struct kc_sockaddr *a, const struct kc_sockaddr *b)
{
	char sa[256], sb[256];

	KC_CHECK_GT(kc_sockaddr_format(a, sa, sizeof(sa)), 0);
	KC_CHECK_GT(kc_sockaddr_format(b, sb, sizeof(sb)), 0);
	return strcmp(sa, sb) == 0;
}

/* ---- the library's sockets ---- */

struct kc_socket *
nt_socket(struct kc_executor *ex, enum nt_kind k,
    const struct kc_socket_attr *attr)
{
	struct kc_socket *s = NULL;

	KC_CHECK_OK(kc_socket_create(&s, ex, nt_domain(k), nt_type(k), attr));
	KC_CHECK(s != NULL);
	KC_CHECK_PTR_EQ(kc_socket_owner(s), ex);
	return s;
}

struct kc_socket *
nt_listener(struct kc_executor *ex, enum nt_kind k,
    const struct kc_socket_attr *attr, struct kc_sockaddr *bound)
{
	struct kc_socket *s = nt_socket(ex, k, attr);
	struct kc_sockaddr a;

	nt_bind_addr(k, &a);
	KC_CHECK_OK(kc_socket_bind(s, &a));
	if (!nt_is_dgram(k)) {
		KC_CHECK_OK(kc_socket_listen(s, 256));
		KC_CHECK(kc_socket_state(s) & KC_SS_LISTENING);
	}
	memset(bound, 0, sizeof(*bound));
	KC_CHECK_OK(kc_socket_name(s, bound, 0));
	KC_CHECK_EQ(bound->a.sa.sa_family, nt_domain(k));
	if (nt_domain(k) != AF_UNIX)
		KC_CHECK_NE(bound->a.in.sin_port, 0);	/* a port was chosen */
	return s;
}

struct kc_socket *
nt_pair(struct kc_executor *ex, enum nt_kind k,
    const struct kc_socket_attr *attr, bool adopt, int *peer)
{
	struct kc_sockaddr bound;
	struct kc_socket *s = NULL;
	int lfd, fd;

	KC_CHECK(!nt_is_dgram(k));
	lfd = nt_raw_listener(k, &bound);
	if (adopt) {
		fd = nt_raw_connect(&bound);
		KC_CHECK_OK(kc_socket_adopt(&s, ex, fd, attr));
		KC_CHECK(s != NULL);
	} else {
		s = nt_socket(ex, k, attr);
		KC_CHECK_OK(kc_socket_connect_wait(s, &bound,
		    NT_WAIT_S * KCT_NSEC_PER_SEC));
	}
	*peer = nt_raw_accept(lfd);
	nt_raw_close(lfd);
	KC_CHECK(kc_socket_state(s) & KC_SS_CONNECTED);
	KC_CHECK_PTR_EQ(kc_socket_owner(s), ex);
	return s;
}

void
nt_close(struct kc_socket *s)
{
	KC_CHECK_OK(kc_socket_close(s, NULL));
}

void
nt_wait_count(long base)
{
	uint64_t deadline = kct_now_ns() + NT_WAIT_S * KCT_NSEC_PER_SEC;
	unsigned i = 0;

	while (kc_socket_count() != base) {
		if (kct_now_ns() > deadline)
			kct_fail(__FILE__, __LINE__, "kc_socket_count() stays "
			    "%ld, expected %ld: sockets leaked",
			    kc_socket_count(), base);
		kct_pause(i++);
	}
}

int
nt_fd_count(void)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	d = opendir("/proc/self/fd");
	KC_CHECK(d != NULL);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* the directory's own descriptor */
}

/* ---- raw descriptors ---- */

static int
nt_raw_socket(enum nt_kind k)
{
	int fd = socket(nt_domain(k), nt_type(k) | SOCK_CLOEXEC, 0);

	if (fd < 0)
		kct_fail(__FILE__, __LINE__, "socket(%s): %s", nt_kind_name[k],
		    strerror(errno));
	return fd;
}

static void
nt_raw_bind(int fd, enum nt_kind k, struct kc_sockaddr *bound)
{
	struct kc_sockaddr a;
	int one = 1;

	nt_bind_addr(k, &a);
	if (nt_domain(k) != AF_UNIX)
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof(one));
	if (bind(fd, &a.a.sa, a.len) != 0)
		kct_fail(__FILE__, __LINE__, "bind: %s", strerror(errno));
	memset(bound, 0, sizeof(*bound));
	bound->len = sizeof(bound->a);
	if (getsockname(fd, &bound->a.sa, &bound->len) != 0)
		kct_fail(__FILE__, __LINE__, "getsockname: %s",
		    strerror(errno));
}

int
nt_raw_listener(enum nt_kind k, struct kc_sockaddr *bound)
{
	int fd = nt_raw_socket(k);

	nt_raw_bind(fd, k, bound);
	if (listen(fd, 256) != 0)
		kct_fail(__FILE__, __LINE__, "listen: %s", strerror(errno));
	return fd;
}

int
nt_raw_dgram(enum nt_kind k, struct kc_sockaddr *bound)
{
	int fd = nt_raw_socket(k);

	KC_CHECK(nt_is_dgram(k));
	nt_raw_bind(fd, k, bound);
	return fd;
}

int
nt_raw_connect(const struct kc_sockaddr *a)
{
	int fd = socket(a->a.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	KC_CHECK_GE(fd, 0);
	if (connect(fd, &a->a.sa, a->len) != 0)
		kct_fail(__FILE__, __LINE__, "connect: %s", strerror(errno));
	return fd;
}

void
nt_raw_wait(int fd, short events, unsigned timeout_s)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r;

	do
		r = poll(&p, 1, (int)timeout_s * 1000);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		kct_fail(__FILE__, __LINE__, "poll: %s", strerror(errno));
	if (r == 0)
		kct_fail(__FILE__, __LINE__, "descriptor %d not ready (events "
		    "%#x) after %us", fd, (unsigned)events, timeout_s);
}

int
nt_raw_accept(int lfd)
{
	int fd;

	nt_raw_wait(lfd, POLLIN, NT_WAIT_S);
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		kct_fail(__FILE__, __LINE__, "accept: %s", strerror(errno));
	return fd;
}

void
nt_raw_write(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		nt_raw_wait(fd, POLLOUT, NT_WAIT_S);
		n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			kct_fail(__FILE__, __LINE__, "send: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

ssize_t
nt_raw_read(int fd, void *buf, size_t len)
{
	ssize_t n;

	for (;;) {
		nt_raw_wait(fd, POLLIN, NT_WAIT_S);
		n = recv(fd, buf, len, MSG_DONTWAIT);
		if (n >= 0)
			return n;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
	}
}

void
nt_raw_read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		n = nt_raw_read(fd, p, len);
		if (n == 0)
			kct_fail(__FILE__, __LINE__, "end of file with %zu bytes "
			    "still expected", len);
		if (n < 0)
			kct_fail(__FILE__, __LINE__, "recv: %s with %zu bytes "
			    "still expected", strerror((int)-n), len);
		p += n;
		len -= (size_t)n;
	}
}

void
nt_raw_expect_eof(int fd)
{
	char c;
	ssize_t n = nt_raw_read(fd, &c, 1);

	if (n != 0)
		kct_fail(__FILE__, __LINE__, "expected end of file, got %zd",
		    n);
}

void
nt_raw_reset(int fd)
{
	struct linger l = { .l_onoff = 1, .l_linger = 0 };

	KC_CHECK_OK(setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l)));
	nt_raw_close(fd);
}

void
nt_reset_peer(enum nt_kind k, struct kc_socket *s, int peer)
{
	struct kc_chain ch = KC_CHAIN_INITIALIZER;

	if (nt_domain(k) == AF_UNIX) {
		KC_CHECK_OK(kc_chain_append(&ch, "r", 1));
		KC_CHECK_OK(kc_socket_send(s, &ch, NULL, NULL));
		kc_chain_free(&ch);
		nt_raw_wait(peer, POLLIN, NT_WAIT_S);
		nt_raw_close(peer);
	} else {
		nt_raw_reset(peer);
	}
}

void
nt_raw_close(int fd)
{
	KC_CHECK_OK(close(fd));
}

/* ---- byte patterns ---- */

void
nt_pat_fill(void *buf, size_t len, uint64_t seed, uint64_t off)
{
	uint8_t *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = nt_pat(seed, off + i);
}

void
nt_chain_pat(struct kc_chain *c, uint64_t seed, uint64_t off, size_t len)
{
	uint8_t buf[16384];
	size_t n;

	while (len > 0) {
		n = len < sizeof(buf) ? len : sizeof(buf);
		nt_pat_fill(buf, n, seed, off);
		KC_CHECK_OK(kc_chain_append(c, buf, n));
		off += n;
		len -= n;
	}
}

void
nt_check_buf_at(const char *file, int line, const void *buf, size_t len,
    uint64_t seed, uint64_t off, const char *what)
{
	const uint8_t *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != nt_pat(seed, off + i))
			kct_fail(file, line, "%s: byte %llu of the stream is "
			    "%#x, expected %#x", what,
			    (unsigned long long)(off + i), p[i],
			    nt_pat(seed, off + i));
}

void
nt_check_chain_at(const char *file, int line, const struct kc_chain *c,
    size_t coff, size_t len, uint64_t seed, uint64_t off, const char *what)
{
	uint8_t buf[16384];
	size_t n, got;

	if (coff + len > kc_chain_len(c))
		kct_fail(file, line, "%s: chain holds %zu bytes, expected at "
		    "least %zu", what, kc_chain_len(c), coff + len);
	while (len > 0) {
		n = len < sizeof(buf) ? len : sizeof(buf);
		got = kc_chain_copyout(c, coff, buf, n);
		if (got != n)
			kct_fail(file, line, "%s: kc_chain_copyout gave %zu of "
			    "%zu bytes", what, got, n);
		nt_check_buf_at(file, line, buf, n, seed, off, what);
		coff += n;
		off += n;
		len -= n;
	}
}

uint8_t *
nt_chain_bytes(const struct kc_chain *c)
{
	size_t len = kc_chain_len(c);
	uint8_t *p = malloc(len + 1);

	KC_CHECK(p != NULL);
	KC_CHECK_EQ(kc_chain_copyout(c, 0, p, len), len);
	return p;
}

/* ---- recording continuations ---- */

static void
nt_done_fn(void *obj, void *env, int status)
{
	struct nt_done *d = env;

	atomic_store(&d->obj, obj);
	atomic_store(&d->status, status);
	atomic_store(&d->ran_on, kc_executor_current());
	/* Last: once n is seen the kc may be reused. */
	atomic_fetch_add(&d->n, 1);
}

void
nt_done_init(struct nt_done *d, struct kc_executor *ex)
{
	memset(d, 0, sizeof(*d));
	KC_CHECK_OK(kc_init(&d->kc, nt_done_fn, d, ex, 0));
}

void
nt_done_wait(struct nt_done *d)
{
	KCT_WAIT(atomic_load(&d->n) > 0, NT_WAIT_S);
}

/* ---- running a function on an executor ---- */

struct nt_on {
	struct kc	 kc;
	void		(*fn)(void *);
	void		*arg;
	atomic_int	 done;
};

static void
nt_on_fn(void *obj, void *env, int status)
{
	struct nt_on *o = env;

	(void)obj;
	(void)status;
	o->fn(o->arg);
	atomic_store(&o->done, 1);
}

void
nt_on(struct kc_executor *ex, void (*fn)(void *), void *arg)
{
	struct nt_on o;

	memset(&o, 0, sizeof(o));
	o.fn = fn;
	o.arg = arg;
	KC_CHECK_OK(kc_init(&o.kc, nt_on_fn, &o, ex, 0));
	KC_CHECK_OK(kc_run(&o.kc, NULL, 0));
	KCT_WAIT(atomic_load(&o.done), NT_WAIT_S);
	/* The kc was idle before its function ran: o may go now. */
}

/* A plain thread blocked in kc_socket_recv_wait(). */

static void *
blocked_main(void *arg)
{
	struct nt_blocked *b = arg;
	struct kc_chain ch = KC_CHAIN_INITIALIZER;

	atomic_store(&b->started, 1);
	b->ret = kc_socket_recv_wait(b->s, &ch, SIZE_MAX, NULL, b->timeout_ns);
	if (b->ret < 0)
		KC_CHECK_EQ(kc_chain_len(&ch), 0);
	kc_chain_free(&ch);
	atomic_store(&b->finished, 1);
	return NULL;
}

void
nt_blocked_start(struct nt_blocked *b, struct kc_socket *s,
    uint64_t timeout_ns)
{
	memset(b, 0, sizeof(*b));
	b->s = s;
	b->timeout_ns = timeout_ns;
	b->t = kct_thread_start(blocked_main, b);
	KCT_WAIT(atomic_load(&b->started), NT_WAIT_S);
}

void
nt_blocked_join(struct nt_blocked *b)
{
	kct_thread_join(b->t);
}
