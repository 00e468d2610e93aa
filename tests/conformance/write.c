/*
 * kq-write: EVFILT_WRITE conformance (see notes/kq-spec.md, EVFILT_WRITE).
 *
 * On TCP and UDP (127.0.0.1), UNIX stream and datagram socketpairs, pipes,
 * FIFOs and regular files, the per-filter list: add, delete, delete of a
 * missing knote (ENOENT, also EV_ENABLE/EV_DISABLE/flags 0), enable and
 * disable, EV_ONESHOT, EV_DISPATCH (+ re-enable by EV_ENABLE and by EV_ADD),
 * EV_RECEIPT, udata round trip, modify (EV_ADD again replaces udata, fflags,
 * data and the ONESHOT/CLEAR/DISPATCH flags), EV_CLEAR (fires again when
 * space is freed after the buffer was full), several kqueues on one
 * descriptor.  Then:
 *   data = space free: > 0 on an empty socket, the pipe's capacity on an
 *   empty pipe (capacity - bytes buffered after a write), 0 on a regular
 *   file (always writable);
 *   a full pipe/FIFO is not reported; after draining it is again;
 *   EV_EOF when the pipe/FIFO reader closes, the UNIX stream peer closes,
 *   the TCP peer resets, or the TCP peer has closed and answers a send
 *   with a reset;
 *   NOTE_LOWAT per knote (two kqueues, different marks);
 *   the lost-WRITE case: READ and WRITE on one socket, both EV_CLEAR, both
 *   ready, collected with nevents 1: two calls return both, none lost.
 */
#include <sys/event.h>
#include "kctest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS		2000	/* bound for an event that must come */

enum kind { K_TCP, K_UDP, K_USTREAM, K_UDGRAM, K_PIPE, K_FIFO, K_FILE,
	K_NKINDS };

static const char *const kind_name[K_NKINDS] = {
	"tcp", "udp", "unix-stream", "unix-dgram", "pipe", "fifo", "file",
};

/* Writing to wr makes rd readable. */
struct ends {
	enum kind	k;
	int		rd;
	int		wr;
	size_t		bytes;	/* bytes queued for rd */
	size_t		next;	/* datagram kinds: size of the next datagram */
	unsigned	ndgram;	/* datagram kinds: datagrams queued */
};

static char tmpdir[64];
static unsigned tmpseq;
static const struct timespec zero_ts = { 0, 0 };

static bool
is_dgram(enum kind k)
{
	return k == K_UDP || k == K_UDGRAM;
}

static void
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	KC_CHECK_GE(fl, 0);
	KC_CHECK_OK(fcntl(fd, F_SETFL, fl | O_NONBLOCK));
}

static void
loopback(struct sockaddr_in *sin)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin->sin_port = 0;
}

/* A listening TCP socket on 127.0.0.1, its address in *sin. */
static int
tcp_listener(struct sockaddr_in *sin, int backlog)
{
	socklen_t len = sizeof(*sin);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	KC_CHECK_GE(l, 0);
	loopback(sin);
	KC_CHECK_OK(bind(l, (struct sockaddr *)sin, sizeof(*sin)));
	KC_CHECK_OK(listen(l, backlog));
	KC_CHECK_OK(getsockname(l, (struct sockaddr *)sin, &len));
	return l;
}

static void
tcp_pair(int *a, int *b)
{
	struct sockaddr_in sin;
	int l = tcp_listener(&sin, 4), one = 1;

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

static void
udp_pair(int *a, int *b)
{
	struct sockaddr_in sa, sb;
	socklen_t len;

	*a = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	*b = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	KC_CHECK_GE(*a, 0);
	KC_CHECK_GE(*b, 0);
	loopback(&sa);
	loopback(&sb);
	KC_CHECK_OK(bind(*a, (struct sockaddr *)&sa, sizeof(sa)));
	KC_CHECK_OK(bind(*b, (struct sockaddr *)&sb, sizeof(sb)));
	len = sizeof(sa);
	KC_CHECK_OK(getsockname(*a, (struct sockaddr *)&sa, &len));
	len = sizeof(sb);
	KC_CHECK_OK(getsockname(*b, (struct sockaddr *)&sb, &len));
	KC_CHECK_OK(connect(*a, (struct sockaddr *)&sb, sizeof(sb)));
	KC_CHECK_OK(connect(*b, (struct sockaddr *)&sa, sizeof(sa)));
}

static void
make_ends(enum kind k, struct ends *e)
{
	char path[128];
	int fds[2];

	memset(e, 0, sizeof(*e));
	e->k = k;
	switch (k) {
	case K_TCP:
		tcp_pair(&fds[0], &fds[1]);
		break;
	case K_UDP:
		udp_pair(&fds[0], &fds[1]);
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
		snprintf(path, sizeof(path), "%s/fifo%u", tmpdir, tmpseq++);
		KC_CHECK_OK(mkfifo(path, 0600));
		fds[0] = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		KC_CHECK_GE(fds[0], 0);
		fds[1] = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		KC_CHECK_GE(fds[1], 0);
		KC_CHECK_OK(unlink(path));
		break;
	case K_FILE:
		snprintf(path, sizeof(path), "%s/file%u", tmpdir, tmpseq++);
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
	set_nonblock(e->rd);
}

static void
close_ends(struct ends *e)
{
	if (e->rd >= 0)
		KC_CHECK_OK(close(e->rd));
	if (e->wr >= 0)
		KC_CHECK_OK(close(e->wr));
	e->rd = e->wr = -1;
}

static int
inq(int fd)
{
	int v = -1;

	KC_CHECK_OK(ioctl(fd, FIONREAD, &v));
	return v;
}

/*
 * Write n bytes (one datagram on datagram kinds) and wait (bounded) until
 * the kernel shows them at rd, so that kevent() sees settled state.
 */
static void
put(struct ends *e, size_t n)
{
	char buf[4096];
	struct pollfd pfd;

	KC_CHECK_LE(n, sizeof(buf));
	memset(buf, 'x', n);
	KC_CHECK_EQ(write(e->wr, buf, n), (ssize_t)n);
	e->bytes += n;
	if (is_dgram(e->k)) {
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
	KCT_WAIT((size_t)inq(e->rd) >= e->bytes, 5);
}

/* Read everything buffered at rd. */
static void
drain(struct ends *e)
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
		if (r == 0 && (!is_dgram(e->k) || inq(e->rd) == 0))
			break;
	}
	KC_CHECK_LT(i, 100000);
	e->bytes = e->next = 0;
	e->ndgram = 0;
}

static int
kq_open(void)
{
	int kq = kqueue();

	KC_CHECK_GE(kq, 0);
	return kq;
}

/* Apply one change with no eventlist: 0 or the errno. */
static int
change(int kq, uintptr_t ident, short filter, unsigned short flags,
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

#define CHANGE_OK(...)	KC_CHECK_EQ(change(__VA_ARGS__), 0)

/* Collect up to n events, waiting at most ms milliseconds (0: poll). */
static int
collect(int kq, struct kevent *ev, int n, long ms)
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

/* Exactly one event is ready (waiting at most WAIT_MS), for (ident, filter). */
static struct kevent
expect_one_(int kq, uintptr_t ident, short filter, int line)
{
	struct kevent ev[4];
	int n = collect(kq, ev, 4, WAIT_MS);

	if (n != 1 || ev[0].ident != ident || ev[0].filter != filter ||
	    (ev[0].flags & EV_ERROR) != 0)
		kct_fail(__FILE__, line, "expected one event (ident %ju, filter "
		    "%d), got %d (first: ident %ju filter %d flags %#x data "
		    "%jd)", (uintmax_t)ident, filter, n,
		    (uintmax_t)ev[0].ident, ev[0].filter, ev[0].flags,
		    (intmax_t)ev[0].data);
	return ev[0];
}

#define expect_one(kq, ident, filter) \
	expect_one_((kq), (uintptr_t)(ident), (filter), __LINE__)

/* No event is ready (polls). */
static void
expect_none_(int kq, int line)
{
	struct kevent ev[4];
	int n = collect(kq, ev, 4, 0);

	if (n != 0)
		kct_fail(__FILE__, line, "expected no event, got %d (first: "
		    "ident %ju filter %d flags %#x data %jd)", n,
		    (uintmax_t)ev[0].ident, ev[0].filter, ev[0].flags,
		    (intmax_t)ev[0].data);
}

#define expect_none(kq)	expect_none_((kq), __LINE__)

/* Wait (bounded) for an event for (ident, filter) carrying EV_EOF. */
static struct kevent
wait_eof(int kq, uintptr_t ident, short filter)
{
	struct kevent ev[4];
	uint64_t dl = kct_now_ns() + 5 * KCT_NSEC_PER_SEC;
	int i, n;

	while (kct_now_ns() < dl) {
		n = collect(kq, ev, 4, 100);
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

#define UD1	((void *)(uintptr_t)0x1234)
#define UD2	((void *)(uintptr_t)0xfeedfacecafebeefull)

static int
pipe_cap(int fd)
{
	int c = fcntl(fd, F_GETPIPE_SZ);

	KC_CHECK_GT(c, 0);
	return c;
}

/* A WRITE event's data on an idle writer (nothing buffered). */
static void
check_space_empty(const struct ends *e, const struct kevent *ev)
{
	if (e->k == K_FILE)
		KC_CHECK_EQ(ev->data, 0);
	else if (e->k == K_PIPE || e->k == K_FIFO)
		KC_CHECK_EQ(ev->data, pipe_cap(e->wr));
	else
		KC_CHECK_GT(ev->data, 0);
}

/* Write to the non-blocking wr until it would block (bounded). */
static size_t
fill(struct ends *e)
{
	static char buf[65536];
	size_t total = 0, chunk = sizeof(buf);
	unsigned i;
	ssize_t r;

	for (i = 0; i < 200000 && chunk > 0; i++) {
		r = write(e->wr, buf, chunk);
		if (r < 0) {
			KC_CHECK(errno == EAGAIN || errno == EWOULDBLOCK);
			chunk = chunk > 4096 ? 4096 : chunk > 1 ? 1 : 0;
			continue;
		}
		total += (size_t)r;
	}
	KC_CHECK_EQ(chunk, 0);
	e->bytes += total;
	return total;
}

/* Read (bounded) every byte written so far on a stream kind. */
static void
drain_all(struct ends *e)
{
	static char buf[65536];
	uint64_t dl = kct_now_ns() + 10 * KCT_NSEC_PER_SEC;
	struct pollfd pfd;
	size_t got = 0;
	ssize_t r;

	while (got < e->bytes) {
		r = read(e->rd, buf, sizeof(buf));
		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		KC_CHECK_EQ(r, -1);
		KC_CHECK(errno == EAGAIN || errno == EWOULDBLOCK);
		if (kct_now_ns() > dl)
			kct_fail(__FILE__, __LINE__, "drained %zu of %zu", got,
			    e->bytes);
		pfd.fd = e->rd;
		pfd.events = POLLIN;
		(void)poll(&pfd, 1, 100);
	}
	KC_CHECK_EQ(got, e->bytes);
	e->bytes = e->next = 0;
	e->ndgram = 0;
}

/* The per-filter list on one kind of descriptor. */
static void
filter_suite(enum kind k)
{
	struct kevent ev, ch, out[4];
	struct ends e;
	int kq = kq_open(), kq2, n, i, nr, w;
	bool file = k == K_FILE;
	bool refill = k == K_PIPE || k == K_FIFO || k == K_USTREAM ||
	    k == K_TCP;

	printf("  filter suite: %s\n", kind_name[k]);
	make_ends(k, &e);
	set_nonblock(e.wr);
	w = e.wr;

	/* add: an idle writer is writable at once */
	CHANGE_OK(kq, w, EVFILT_WRITE, EV_ADD, 0, 0, UD1);
	ev = expect_one(kq, w, EVFILT_WRITE);
	check_space_empty(&e, &ev);
	KC_CHECK_PTR_EQ(ev.udata, UD1);
	KC_CHECK(!(ev.flags & EV_ADD));	/* action bits are not returned */
	KC_CHECK_EQ(ev.flags & (EV_EOF | EV_ONESHOT | EV_CLEAR | EV_DISPATCH |
	    EV_ERROR), 0);
	/* level triggered */
	ev = expect_one(kq, w, EVFILT_WRITE);
	check_space_empty(&e, &ev);

	/* modify: udata replaced */
	CHANGE_OK(kq, w, EVFILT_WRITE, EV_ADD, 0, 0, UD2);
	ev = expect_one(kq, w, EVFILT_WRITE);
	KC_CHECK_PTR_EQ(ev.udata, UD2);

	/* modify: fflags/data replaced (NOTE_LOWAT low, unreachable, off) */
	if (!file) {
		CHANGE_OK(kq, w, EVFILT_WRITE, EV_ADD, NOTE_LOWAT, 1, UD2);
		ev = expect_one(kq, w, EVFILT_WRITE);
		check_space_empty(&e, &ev);
		CHANGE_OK(kq, w, EVFILT_WRITE, EV_ADD, NOTE_LOWAT, 1 << 30,
		    UD2);
		expect_none(kq);
		CHANGE_OK(kq, w, EVFILT_WRITE, EV_ADD, 0, 0, UD1);
		ev = expect_one(kq, w, EVFILT_WRITE);
		KC_CHECK_PTR_EQ(ev.udata, UD1);
		check_space_empty(&e, &ev);
	}

	/* disable / enable */
	CHANGE_OK(kq, w, EVFILT_WRITE, EV_DISABLE, 0, 0, NULL);
	expect_none(kq);
	CHANGE_OK(kq, w, EVFILT_WRITE, EV_ENABLE, 0, 0, NULL);
	ev = expect_one(kq, w, EVFILT_WRITE);

	/* delete, then everything on the missing knote is ENOENT */
	CHANGE_OK(kq, w, EVFILT_WRITE, EV_DELETE, 0, 0, NULL);
	expect_none(kq);
	KC_CHECK_EQ(change(kq, w, EVFILT_WRITE, EV_DELETE, 0, 0, NULL),
	    ENOENT);
	KC_CHECK_EQ(change(kq, w, EVFILT_WRITE, EV_ENABLE, 0, 0, NULL),
	    ENOENT);
	KC_CHECK_EQ(change(kq, w, EVFILT_WRITE, EV_DISABLE, 0, 0, NULL),
	    ENOENT);
	KC_CHECK_EQ(change(kq, w, EVFILT_WRITE, 0, 0, 0, NULL), ENOENT);
	/* the READ knote of the same descriptor is another knote: absent */
	KC_CHECK_EQ(change(kq, w, EVFILT_READ, EV_DELETE, 0, 0, NULL), ENOENT);
	EV_SET(&ch, w, EVFILT_WRITE, EV_DELETE, 0, 0, UD1);
	n = kevent(kq, &ch, 1, out, 4, &zero_ts);
	KC_CHECK_EQ(n, 1);
	KC_CHECK(out[0].flags & EV_ERROR);
	KC_CHECK_EQ(out[0].data, ENOENT);
	KC_CHECK_EQ(out[0].ident, (uintptr_t)w);
	KC_CHECK_EQ(out[0].filter, EVFILT_WRITE);
	KC_CHECK_PTR_EQ(out[0].udata, UD1);
	expect_none(kq);

	/* EV_ONESHOT: once, then gone */
	CHANGE_OK(kq, w, EVFILT_WRITE, EV_ADD | EV_ONESHOT, 0, 0, UD1);
	ev = expect_one(kq, w, EVFILT_WRITE);
	KC_CHECK(ev.flags & EV_ONESHOT);
	KC_CHECK_PTR_EQ(ev.udata, UD1);
	check_space_empty(&e, &ev);
	expect_none(kq);
	KC_CHECK_EQ(change(kq, w, EVFILT_WRITE, EV_DELETE, 0, 0, NULL),
	    ENOENT);

	/* EV_DISPATCH: once, then disabled until EV_ENABLE or EV_ADD */
	CHANGE_OK(kq, w, EVFILT_WRITE, EV_ADD | EV_DISPATCH, 0, 0, UD2);
	ev = expect_one(kq, w, EVFILT_WRITE);
	KC_CHECK(ev.flags & EV_DISPATCH);
	KC_CHECK_PTR_EQ(ev.udata, UD2);
	expect_none(kq);
	CHANGE_OK(kq, w, EVFILT_WRITE, EV_ENABLE, 0, 0, NULL);
	ev = expect_one(kq, w, EVFILT_WRITE);
	KC_CHECK(ev.flags & EV_DISPATCH);
	expect_none(kq);
	CHANGE_OK(kq, w, EVFILT_WRITE, EV_ADD | EV_DISPATCH, 0, 0, UD1);
	ev = expect_one(kq, w, EVFILT_WRITE);
	KC_CHECK_PTR_EQ(ev.udata, UD1);
	expect_none(kq);
	CHANGE_OK(kq, w, EVFILT_WRITE, EV_ADD, 0, 0, UD2);
	ev = expect_one(kq, w, EVFILT_WRITE);
	KC_CHECK_EQ(ev.flags & EV_DISPATCH, 0);
	ev = expect_one(kq, w, EVFILT_WRITE);
	KC_CHECK_PTR_EQ(ev.udata, UD2);
	CHANGE_OK(kq, w, EVFILT_WRITE, EV_DELETE, 0, 0, NULL);

	/* EV_RECEIPT: an EV_ERROR entry with data 0 (maybe the event too) */
	EV_SET(&ch, w, EVFILT_WRITE, EV_ADD | EV_RECEIPT, 0, 0, UD2);
	memset(out, 0xa5, sizeof(out));
	n = kevent(kq, &ch, 1, out, 4, &zero_ts);
	KC_CHECK_GE(n, 1);
	KC_CHECK_LE(n, 2);
	for (i = nr = 0; i < n; i++) {
		KC_CHECK_EQ(out[i].ident, (uintptr_t)w);
		KC_CHECK_EQ(out[i].filter, EVFILT_WRITE);
		KC_CHECK_PTR_EQ(out[i].udata, UD2);
		if (out[i].flags & EV_ERROR) {
			KC_CHECK_EQ(out[i].data, 0);
			nr++;
		}
	}
	KC_CHECK_EQ(nr, 1);
	ev = expect_one(kq, w, EVFILT_WRITE);
	KC_CHECK_PTR_EQ(ev.udata, UD2);
	CHANGE_OK(kq, w, EVFILT_WRITE, EV_DELETE, 0, 0, NULL);

	/* EV_CLEAR: once, then again when space is freed */
	CHANGE_OK(kq, w, EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, 0, UD1);
	ev = expect_one(kq, w, EVFILT_WRITE);
	KC_CHECK(ev.flags & EV_CLEAR);
	check_space_empty(&e, &ev);
	expect_none(kq);
	if (refill) {
		(void)fill(&e);
		if (k != K_TCP)		/* TCP acks may free space meanwhile */
			expect_none(kq);
		drain_all(&e);
		ev = expect_one(kq, w, EVFILT_WRITE);
		KC_CHECK_GT(ev.data, 0);
		KC_CHECK(ev.flags & EV_CLEAR);
		if (k != K_TCP)
			expect_none(kq);
	}
	CHANGE_OK(kq, w, EVFILT_WRITE, EV_DELETE, 0, 0, NULL);
	expect_none(kq);

	/* several kqueues on one descriptor */
	kq2 = kq_open();
	CHANGE_OK(kq, w, EVFILT_WRITE, EV_ADD, 0, 0, UD1);
	CHANGE_OK(kq2, w, EVFILT_WRITE, EV_ADD, 0, 0, UD2);
	ev = expect_one(kq, w, EVFILT_WRITE);
	KC_CHECK_PTR_EQ(ev.udata, UD1);
	ev = expect_one(kq2, w, EVFILT_WRITE);
	KC_CHECK_PTR_EQ(ev.udata, UD2);
	CHANGE_OK(kq, w, EVFILT_WRITE, EV_DISABLE, 0, 0, NULL);
	expect_none(kq);
	(void)expect_one(kq2, w, EVFILT_WRITE);
	CHANGE_OK(kq, w, EVFILT_WRITE, EV_DELETE, 0, 0, NULL);
	(void)expect_one(kq2, w, EVFILT_WRITE);
	CHANGE_OK(kq2, w, EVFILT_WRITE, EV_ADD | EV_ONESHOT, 0, 0, UD2);
	(void)expect_one(kq2, w, EVFILT_WRITE);
	expect_none(kq2);
	CHANGE_OK(kq, w, EVFILT_WRITE, EV_ADD, 0, 0, UD1);
	ev = expect_one(kq, w, EVFILT_WRITE);
	KC_CHECK_PTR_EQ(ev.udata, UD1);
	KC_CHECK_OK(close(kq2));
	(void)expect_one(kq, w, EVFILT_WRITE);
	CHANGE_OK(kq, w, EVFILT_WRITE, EV_DELETE, 0, 0, NULL);

	close_ends(&e);
	KC_CHECK_OK(close(kq));
}

/* A full pipe/FIFO is not writable; data follows the space free. */
static void
test_full(enum kind k)
{
	struct kevent ev, evs[4];
	struct ends e;
	char buf[4096];
	int kq = kq_open(), cap;

	printf("  full: %s\n", kind_name[k]);
	make_ends(k, &e);
	set_nonblock(e.wr);
	cap = pipe_cap(e.wr);
	CHANGE_OK(kq, e.wr, EVFILT_WRITE, EV_ADD, 0, 0, UD1);
	ev = expect_one(kq, e.wr, EVFILT_WRITE);
	KC_CHECK_EQ(ev.data, cap);
	put(&e, 100);
	ev = expect_one(kq, e.wr, EVFILT_WRITE);
	KC_CHECK_EQ(ev.data, cap - 100);
	drain_all(&e);
	ev = expect_one(kq, e.wr, EVFILT_WRITE);
	KC_CHECK_EQ(ev.data, cap);
	(void)fill(&e);			/* from empty: every page full */
	KC_CHECK_EQ(inq(e.rd), cap);
	expect_none(kq);
	KC_CHECK_EQ(collect(kq, evs, 4, 100), 0);
	/* one page read: that much space */
	KC_CHECK_EQ(read(e.rd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	e.bytes -= sizeof(buf);
	ev = expect_one(kq, e.wr, EVFILT_WRITE);
	KC_CHECK_EQ(ev.data, (int64_t)sizeof(buf));
	drain_all(&e);
	ev = expect_one(kq, e.wr, EVFILT_WRITE);
	KC_CHECK_EQ(ev.data, cap);
	/* full again, then drained: EV_DISPATCH re-enabled meanwhile */
	CHANGE_OK(kq, e.wr, EVFILT_WRITE, EV_ADD | EV_DISPATCH, 0, 0, UD2);
	(void)expect_one(kq, e.wr, EVFILT_WRITE);
	(void)fill(&e);
	CHANGE_OK(kq, e.wr, EVFILT_WRITE, EV_ENABLE, 0, 0, NULL);
	expect_none(kq);
	drain_all(&e);
	ev = expect_one(kq, e.wr, EVFILT_WRITE);
	KC_CHECK_EQ(ev.data, cap);
	expect_none(kq);
	close_ends(&e);
	KC_CHECK_OK(close(kq));
}

enum hangup { H_CLOSE, H_RESET, H_CLOSE_SEND };

/* EV_EOF on WRITE when the other side is gone. */
static void
test_eof(enum kind k, enum hangup how)
{
	static const char *const hname[] = { "close", "reset", "close+send" };
	struct linger lg = { 1, 0 };
	struct kevent ev;
	struct ends e;
	int kq = kq_open();

	printf("  eof: %s (%s)\n", kind_name[k], hname[how]);
	make_ends(k, &e);
	set_nonblock(e.wr);
	CHANGE_OK(kq, e.wr, EVFILT_WRITE, EV_ADD, 0, 0, UD1);
	ev = expect_one(kq, e.wr, EVFILT_WRITE);
	KC_CHECK_EQ(ev.flags & EV_EOF, 0);
	if (how == H_RESET)
		KC_CHECK_OK(setsockopt(e.rd, SOL_SOCKET, SO_LINGER, &lg,
		    sizeof(lg)));
	KC_CHECK_OK(close(e.rd));
	e.rd = -1;
	if (how == H_CLOSE_SEND) {
		/* the peer is closed: it answers this with a reset */
		struct pollfd pfd = { .fd = e.wr, .events = POLLRDHUP };

		KC_CHECK_EQ(poll(&pfd, 1, 5000), 1);	/* its FIN is in */
		KC_CHECK_EQ(send(e.wr, "x", 1, MSG_NOSIGNAL), 1);
	}
	ev = wait_eof(kq, e.wr, EVFILT_WRITE);
	KC_CHECK_PTR_EQ(ev.udata, UD1);
	/* level: still */
	ev = expect_one(kq, e.wr, EVFILT_WRITE);
	KC_CHECK(ev.flags & EV_EOF);
	/* a new knote on it sees it at once */
	CHANGE_OK(kq, e.wr, EVFILT_WRITE, EV_DELETE, 0, 0, NULL);
	CHANGE_OK(kq, e.wr, EVFILT_WRITE, EV_ADD | EV_ONESHOT, 0, 0, UD2);
	ev = expect_one(kq, e.wr, EVFILT_WRITE);
	KC_CHECK(ev.flags & EV_EOF);
	KC_CHECK_PTR_EQ(ev.udata, UD2);
	expect_none(kq);
	close_ends(&e);
	KC_CHECK_OK(close(kq));
}

/* NOTE_LOWAT per knote on a pipe: two kqueues, two marks. */
static void
test_lowat_pipe(void)
{
	struct kevent ev;
	struct ends e;
	int kqa = kq_open(), kqb = kq_open(), cap;

	printf("  lowat: pipe\n");
	make_ends(K_PIPE, &e);
	set_nonblock(e.wr);
	cap = pipe_cap(e.wr);
	CHANGE_OK(kqa, e.wr, EVFILT_WRITE, EV_ADD, NOTE_LOWAT, cap, UD1);
	CHANGE_OK(kqb, e.wr, EVFILT_WRITE, EV_ADD, NOTE_LOWAT, cap / 2, UD2);
	ev = expect_one(kqa, e.wr, EVFILT_WRITE);
	KC_CHECK_EQ(ev.data, cap);
	ev = expect_one(kqb, e.wr, EVFILT_WRITE);
	KC_CHECK_EQ(ev.data, cap);
	put(&e, 100);
	expect_none(kqa);
	ev = expect_one(kqb, e.wr, EVFILT_WRITE);
	KC_CHECK_EQ(ev.data, cap - 100);
	KC_CHECK_PTR_EQ(ev.udata, UD2);
	drain_all(&e);
	ev = expect_one(kqa, e.wr, EVFILT_WRITE);
	KC_CHECK_EQ(ev.data, cap);
	KC_CHECK_PTR_EQ(ev.udata, UD1);
	(void)expect_one(kqb, e.wr, EVFILT_WRITE);
	CHANGE_OK(kqa, e.wr, EVFILT_WRITE, EV_ADD, NOTE_LOWAT, cap + 1, UD1);
	expect_none(kqa);
	(void)expect_one(kqb, e.wr, EVFILT_WRITE);
	close_ends(&e);
	KC_CHECK_OK(close(kqa));
	KC_CHECK_OK(close(kqb));
}

/* NOTE_LOWAT per knote on a socket: an unreachable mark, a small one. */
static void
test_lowat_socket(enum kind k)
{
	struct kevent ev;
	struct ends e;
	int kqa = kq_open(), kqb = kq_open();

	printf("  lowat: %s\n", kind_name[k]);
	make_ends(k, &e);
	CHANGE_OK(kqa, e.wr, EVFILT_WRITE, EV_ADD, NOTE_LOWAT, 1 << 30, UD1);
	CHANGE_OK(kqb, e.wr, EVFILT_WRITE, EV_ADD, NOTE_LOWAT, 1, UD2);
	ev = expect_one(kqb, e.wr, EVFILT_WRITE);
	KC_CHECK_GT(ev.data, 0);
	expect_none(kqa);
	CHANGE_OK(kqa, e.wr, EVFILT_WRITE, EV_ADD, NOTE_LOWAT, 1024, UD1);
	ev = expect_one(kqa, e.wr, EVFILT_WRITE);
	KC_CHECK_GE(ev.data, 1024);
	close_ends(&e);
	KC_CHECK_OK(close(kqa));
	KC_CHECK_OK(close(kqb));
}

/*
 * The lost-WRITE case: READ and WRITE on one socket, both EV_CLEAR, the
 * socket readable and writable, collected one at a time: both arrive.
 */
static void
test_lost_write(enum kind k, bool ready_first)
{
	struct kevent ch[2], ev[4];
	struct ends e;
	int kq = kq_open(), i, n, s;
	unsigned seen = 0, bit;
	uint64_t dl;

	printf("  lost write: %s (%s)\n", kind_name[k],
	    ready_first ? "readable before registration" : "after");
	make_ends(k, &e);
	s = e.rd;
	if (ready_first)
		put(&e, 5);
	EV_SET(&ch[0], s, EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, UD1);
	EV_SET(&ch[1], s, EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, 0, UD2);
	KC_CHECK_EQ(kevent(kq, ch, 2, NULL, 0, NULL), 0);
	if (!ready_first)
		put(&e, 5);
	for (i = 0; i < 2; i++) {
		n = collect(kq, ev, 1, WAIT_MS);
		KC_CHECK_EQ(n, 1);
		KC_CHECK_EQ(ev[0].ident, (uintptr_t)s);
		KC_CHECK_EQ(ev[0].flags & EV_ERROR, 0);
		if (ev[0].filter == EVFILT_READ) {
			bit = 1;
			KC_CHECK_PTR_EQ(ev[0].udata, UD1);
			KC_CHECK_EQ(ev[0].data, 5);
		} else {
			KC_CHECK_EQ(ev[0].filter, EVFILT_WRITE);
			bit = 2;
			KC_CHECK_PTR_EQ(ev[0].udata, UD2);
			KC_CHECK_GT(ev[0].data, 0);
		}
		if (seen & bit)
			kct_fail(__FILE__, __LINE__, "filter %d twice, the "
			    "other lost", ev[0].filter);
		seen |= bit;
	}
	KC_CHECK_EQ(seen, 3u);
	expect_none(kq);
	/* new data: READ again (a WRITE alongside is not checked) */
	put(&e, 3);
	dl = kct_now_ns() + 5 * KCT_NSEC_PER_SEC;
	for (seen = 0; !(seen & 1);) {
		if (kct_now_ns() > dl)
			kct_fail(__FILE__, __LINE__, "no READ after new data");
		n = collect(kq, ev, 1, 100);
		if (n == 1 && ev[0].filter == EVFILT_READ) {
			KC_CHECK_EQ(ev[0].data, 8);
			seen |= 1;
		}
	}
	drain(&e);
	close_ends(&e);
	KC_CHECK_OK(close(kq));
}

int
main(void)
{
	int k;

	kct_begin("kq-write", 100);
	signal(SIGPIPE, SIG_IGN);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/kq-write.XXXXXX");
	KC_CHECK(mkdtemp(tmpdir) != NULL);

	for (k = 0; k < K_NKINDS; k++)
		filter_suite((enum kind)k);

	test_full(K_PIPE);
	test_full(K_FIFO);
	test_eof(K_PIPE, H_CLOSE);
	test_eof(K_FIFO, H_CLOSE);
	test_eof(K_USTREAM, H_CLOSE);
	test_eof(K_TCP, H_RESET);
	test_eof(K_TCP, H_CLOSE_SEND);
	test_lowat_pipe();
	test_lowat_socket(K_USTREAM);
	test_lowat_socket(K_TCP);
	test_lowat_socket(K_UDP);
	test_lost_write(K_TCP, true);
	test_lost_write(K_TCP, false);
	test_lost_write(K_USTREAM, true);
	test_lost_write(K_USTREAM, false);

	KC_CHECK_OK(rmdir(tmpdir));
	return kct_done();
}
