/*
 * kqtest.c: helpers shared by the kqueue conformance tests (see kqtest.h).
 */
#include "kqtest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

const struct timespec kqt_zero_ts = { 0, 0 };

const char *const kqt_kind_name[K_NKINDS] = {
	"tcp", "udp", "unix-stream", "unix-dgram", "pipe", "fifo", "file",
};

char kqt_tmpdir[64];
static unsigned tmpseq;

/* ---- the kqueue calls ---- */

int
kqt_open(void)
{
	int kq = kqueue();

	KC_CHECK_GE(kq, 0);
	return kq;
}

int
kqt_change(int kq, uintptr_t ident, short filter, unsigned short flags,
    unsigned int fflags, int64_t data, void *udata)
{
	struct kevent kev;
	int r;

	EV_SET(&kev, ident, filter, flags, fflags, data, udata);
	errno = 0;
	r = kevent(kq, &kev, 1, NULL, 0, NULL);
	if (r == 0)
		return 0;
	KC_CHECK_EQ(r, -1);
	KC_CHECK_NE(errno, 0);
	return errno;
}

void
kqt_change_err(int kq, uintptr_t ident, short filter, unsigned short flags,
    unsigned int fflags, int64_t data, void *udata, int err)
{
	struct kevent kev, out;
	struct timespec zero = { 0, 0 };

	EV_SET(&kev, ident, filter, flags, fflags, data, udata);
	memset(&out, 0, sizeof(out));
	KC_CHECK_EQ(kevent(kq, &kev, 1, &out, 1, &zero), 1);
	KC_CHECK(out.flags & EV_ERROR);
	KC_CHECK_EQ(out.data, err);
	KC_CHECK_EQ(out.ident, ident);
	KC_CHECK_EQ(out.filter, filter);
	errno = 0;
	KC_CHECK_EQ(kevent(kq, &kev, 1, NULL, 0, NULL), -1);
	KC_CHECK_EQ(errno, err);
}

int
kqt_collect(int kq, struct kevent *ev, int n, long ms)
{
	struct timespec ts;
	int r;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	memset(ev, 0xa5, sizeof(*ev) * (size_t)n);
	r = kevent(kq, NULL, 0, ev, n, &ts);
	KC_CHECK_GE(r, 0);
	KC_CHECK_LE(r, n);
	return r;
}

struct kevent
kqt_expect_one_at(const char *file, int line, int kq, uintptr_t ident,
    short filter, long ms)
{
	struct kevent ev[4];
	int n = kqt_collect(kq, ev, 4, ms);

	if (n != 1 || ev[0].ident != ident || ev[0].filter != filter ||
	    (ev[0].flags & EV_ERROR) != 0)
		kct_fail(file, line, "expected one event (ident %ju, filter "
		    "%d), got %d (first: ident %ju filter %d flags %#x data "
		    "%jd)", (uintmax_t)ident, filter, n,
		    (uintmax_t)ev[0].ident, ev[0].filter, ev[0].flags,
		    (intmax_t)ev[0].data);
	return ev[0];
}

void
kqt_expect_none_at(const char *file, int line, int kq, long ms)
{
	struct kevent ev[4];
	int n = kqt_collect(kq, ev, 4, ms);

	if (n != 0)
		kct_fail(file, line, "expected no event, got %d (first: "
		    "ident %ju filter %d flags %#x data %jd)", n,
		    (uintmax_t)ev[0].ident, ev[0].filter, ev[0].flags,
		    (intmax_t)ev[0].data);
}

void
kqt_get_one_at(const char *file, int line, int kq, uintptr_t ident,
    short filter, long ms, struct kevent *ev)
{
	int n;

	memset(ev, 0, sizeof(*ev));
	n = kqt_collect(kq, ev, 1, ms);
	if (n != 1 || ev->ident != ident || ev->filter != filter ||
	    (ev->flags & EV_ERROR) != 0)
		kct_fail(file, line, "expected one event (ident %ju, filter "
		    "%d) within %ld ms, got %d (ident %ju filter %d flags %#x "
		    "data %jd)", (uintmax_t)ident, filter, ms, n,
		    (uintmax_t)ev->ident, ev->filter, ev->flags,
		    (intmax_t)ev->data);
}

struct kevent
kqt_wait_eof(int kq, uintptr_t ident, short filter)
{
	struct kevent ev[4];
	uint64_t dl = kct_now_ns() + 5 * KCT_NSEC_PER_SEC;
	int i, n;

	while (kct_now_ns() < dl) {
		n = kqt_collect(kq, ev, 4, 100);
		for (i = 0; i < n; i++) {
			KC_CHECK_EQ(ev[i].flags & EV_ERROR, 0);
			if (ev[i].ident == ident && ev[i].filter == filter &&
			    (ev[i].flags & EV_EOF))
				return ev[i];
		}
	}
	kct_fail(__FILE__, __LINE__, "no EV_EOF for ident %ju filter %d",
	    (uintmax_t)ident, filter);
}

void
kqt_drain_pipe(int fd)
{
	char buf[256];
	unsigned i;

	for (i = 0; i < 1000; i++)
		if (read(fd, buf, sizeof(buf)) <= 0)
			break;
	KC_CHECK_LT(i, 1000);
}

/* ---- descriptors ---- */

bool
kqt_is_dgram(enum kqt_kind k)
{
	return k == K_UDP || k == K_UDGRAM;
}

void
kqt_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	KC_CHECK_GE(fl, 0);
	KC_CHECK_OK(fcntl(fd, F_SETFL, fl | O_NONBLOCK));
}

void
kqt_loopback(struct sockaddr_in *sin)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin->sin_port = 0;
}

int
kqt_tcp_listener(struct sockaddr_in *sin, int backlog)
{
	socklen_t len = sizeof(*sin);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	KC_CHECK_GE(l, 0);
	kqt_loopback(sin);
	KC_CHECK_OK(bind(l, (struct sockaddr *)sin, sizeof(*sin)));
	KC_CHECK_OK(listen(l, backlog));
	KC_CHECK_OK(getsockname(l, (struct sockaddr *)sin, &len));
	return l;
}

void
kqt_tcp_pair(int *a, int *b)
{
	struct sockaddr_in sin;
	int l = kqt_tcp_listener(&sin, 4), one = 1;

	*b = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	KC_CHECK_GE(*b, 0);
	KC_CHECK_OK(connect(*b, (struct sockaddr *)&sin, sizeof(sin)));
	*a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	KC_CHECK_GE(*a, 0);
	KC_CHECK_OK(close(l));
	KC_CHECK_OK(setsockopt(*a, IPPROTO_TCP, TCP_NODELAY, &one,
	    sizeof(one)));
	KC_CHECK_OK(setsockopt(*b, IPPROTO_TCP, TCP_NODELAY, &one,
	    sizeof(one)));
}

void
kqt_udp_pair(int *a, int *b)
{
	struct sockaddr_in sa, sb;
	socklen_t len;

	*a = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	*b = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	KC_CHECK_GE(*a, 0);
	KC_CHECK_GE(*b, 0);
	kqt_loopback(&sa);
	kqt_loopback(&sb);
	KC_CHECK_OK(bind(*a, (struct sockaddr *)&sa, sizeof(sa)));
	KC_CHECK_OK(bind(*b, (struct sockaddr *)&sb, sizeof(sb)));
	len = sizeof(sa);
	KC_CHECK_OK(getsockname(*a, (struct sockaddr *)&sa, &len));
	len = sizeof(sb);
	KC_CHECK_OK(getsockname(*b, (struct sockaddr *)&sb, &len));
	KC_CHECK_OK(connect(*a, (struct sockaddr *)&sb, sizeof(sb)));
	KC_CHECK_OK(connect(*b, (struct sockaddr *)&sa, sizeof(sa)));
}

void
kqt_make_ends(enum kqt_kind k, struct kqt_ends *e)
{
	char path[128];
	int fds[2];

	memset(e, 0, sizeof(*e));
	e->k = k;
	switch (k) {
	case K_TCP:
		kqt_tcp_pair(&fds[0], &fds[1]);
		break;
	case K_UDP:
		kqt_udp_pair(&fds[0], &fds[1]);
		break;
	case K_USTREAM:
		KC_CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
		    fds));
		break;
	case K_UDGRAM:
		KC_CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0,
		    fds));
		break;
	case K_PIPE:
		KC_CHECK_OK(pipe2(fds, O_CLOEXEC));
		break;
	case K_FIFO:
		snprintf(path, sizeof(path), "%s/fifo%u", kqt_tmpdir,
		    tmpseq++);
		KC_CHECK_OK(mkfifo(path, 0600));
		fds[0] = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		KC_CHECK_GE(fds[0], 0);
		fds[1] = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		KC_CHECK_GE(fds[1], 0);
		KC_CHECK_OK(unlink(path));
		break;
	case K_FILE:
		snprintf(path, sizeof(path), "%s/file%u", kqt_tmpdir,
		    tmpseq++);
		fds[1] = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND |
		    O_CLOEXEC, 0600);
		KC_CHECK_GE(fds[1], 0);
		fds[0] = open(path, O_RDONLY | O_CLOEXEC);
		KC_CHECK_GE(fds[0], 0);
		KC_CHECK_OK(unlink(path));
		break;
	default:
		kct_fail(__FILE__, __LINE__, "bad kind %d", (int)k);
	}
	e->rd = fds[0];
	e->wr = fds[1];
	kqt_set_nonblock(e->rd);
}

void
kqt_close_ends(struct kqt_ends *e)
{
	if (e->rd >= 0)
		KC_CHECK_OK(close(e->rd));
	if (e->wr >= 0)
		KC_CHECK_OK(close(e->wr));
	e->rd = e->wr = -1;
}

int
kqt_inq(int fd)
{
	int v = -1;

	KC_CHECK_OK(ioctl(fd, FIONREAD, &v));
	return v;
}

void
kqt_put(struct kqt_ends *e, size_t n)
{
	char buf[4096];
	struct pollfd pfd;

	KC_CHECK_LE(n, sizeof(buf));
	memset(buf, 'x', n);
	KC_CHECK_EQ(write(e->wr, buf, n), (ssize_t)n);
	e->bytes += n;
	if (kqt_is_dgram(e->k)) {
		if (e->ndgram++ == 0) {
			e->next = n;
			pfd.fd = e->rd;
			pfd.events = POLLIN;
			KC_CHECK_EQ(poll(&pfd, 1, 5000), 1);
		}
		/* a later datagram leaves "next" alone */
		return;
	}
	if (e->k == K_FILE)
		return;		/* the offset may have moved: nothing to wait */
	KCT_WAIT((size_t)kqt_inq(e->rd) >= e->bytes, 5);
}

void
kqt_drain(struct kqt_ends *e)
{
	char buf[4096];
	unsigned i;
	ssize_t r;

	for (i = 0; i < 100000; i++) {
		r = read(e->rd, buf, sizeof(buf));
		if (r < 0) {
			KC_CHECK(errno == EAGAIN || errno == EWOULDBLOCK);
			break;
		}
		/* a datagram kind can give 0 for an empty datagram; EOF */
		if (r == 0 && (!kqt_is_dgram(e->k) || kqt_inq(e->rd) == 0))
			break;
	}
	KC_CHECK_LT(i, 100000);
	e->bytes = e->next = 0;
	e->ndgram = 0;
}

/* ---- signal storms ---- */

static struct {
	pthread_t	 target, sender, watchdog;
	int		 sig;
	unsigned	 max, timeout_s;
	atomic_int	*stop, *in_handler;
	const char	*dead, *hung;
} storm;

static void *
storm_send(void *arg)
{
	unsigned i;

	(void)arg;
	for (i = 0; i < storm.max && !atomic_load(storm.stop); i++) {
		if (pthread_kill(storm.target, storm.sig) != 0)
			break;
		kct_pause(i % 64);
	}
	return NULL;
}

static void
storm_say(const char *what)
{
	ssize_t r;

	r = write(2, "FAIL: ", 6);
	r = write(2, what, strlen(what));
	r = write(2, "\n", 1);
	(void)r;
}

static void *
storm_watch(void *arg)
{
	uint64_t deadline = kct_now_ns() +
	    storm.timeout_s * KCT_NSEC_PER_SEC;

	(void)arg;
	while (!atomic_load(storm.stop)) {
		if (kct_now_ns() > deadline) {
			storm_say(atomic_load(storm.in_handler) ? storm.dead :
			    storm.hung);
			abort();
		}
		kct_sleep_ns(10 * KCT_NSEC_PER_MSEC);
	}
	return NULL;
}

void
kqt_storm_start(int sig, void (*handler)(int), unsigned max,
    atomic_int *stop, atomic_int *in_handler, unsigned timeout_s,
    const char *dead, const char *hung)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	KC_CHECK_OK(sigaction(sig, &sa, NULL));
	storm.target = pthread_self();
	storm.sig = sig;
	storm.max = max;
	storm.stop = stop;
	storm.in_handler = in_handler;
	storm.timeout_s = timeout_s;
	storm.dead = dead;
	storm.hung = hung;
	storm.watchdog = kct_thread_start(storm_watch, NULL);
	storm.sender = kct_thread_start(storm_send, NULL);
}

void
kqt_storm_stop(void)
{
	kct_thread_join(storm.sender);
	kct_thread_join(storm.watchdog);
}
