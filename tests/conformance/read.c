/*
 * kq-read: EVFILT_READ conformance (see notes/kq-spec.md, EVFILT_READ).
 *
 * On TCP and UDP (127.0.0.1), UNIX stream and datagram socketpairs, pipes,
 * FIFOs and regular files, the per-filter list: add, delete, delete of a
 * missing knote (ENOENT, also EV_ENABLE/EV_DISABLE/flags 0), enable and
 * disable, EV_ONESHOT, EV_DISPATCH (+ re-enable by EV_ENABLE and by EV_ADD),
 * EV_RECEIPT, udata round trip, modify (EV_ADD again replaces udata, fflags,
 * data and the ONESHOT/CLEAR/DISPATCH flags), EV_CLEAR, several kqueues
 * watching one descriptor.  Then:
 *   data = bytes ready (next datagram's size on datagram sockets);
 *   EV_EOF on hang-up (close, shutdown(SHUT_WR), writers gone) with the
 *   buffered bytes still counted, and still reported once drained;
 *   TCP reset (SO_LINGER {1,0} + close on the peer): EV_EOF, fflags ECONNRESET;
 *   listening TCP socket: data = connections waiting in the backlog;
 *   NOTE_LOWAT per knote (two kqueues, different low water marks; EOF
 *   overrides the mark);
 *   zero-length datagram: readable, data 0, no EV_EOF;
 *   EV_ADD|EV_DISABLE on a ready descriptor, 10^5 times, never reported;
 *   descriptor reuse: a closed descriptor's knotes are gone, the new file
 *   under the same number is never reported through them.
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

/* Expected READ data for rd right now. */
static int64_t
ready(const struct ends *e)
{
	return is_dgram(e->k) ? (int64_t)e->next : (int64_t)e->bytes;
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

/* The per-filter list on one kind of descriptor. */
static void
filter_suite(enum kind k)
{
	struct kevent ev, ch, out[4];
	struct ends e;
	int kq = kq_open(), kq2, n, i;
	bool stream = !is_dgram(k);

	printf("  filter suite: %s\n", kind_name[k]);
	make_ends(k, &e);

	/* add: nothing ready, nothing reported */
	CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ADD, 0, 0, UD1);
	expect_none(kq);
	put(&e, 5);
	ev = expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.data, 5);
	KC_CHECK_PTR_EQ(ev.udata, UD1);
	KC_CHECK(!(ev.flags & EV_ADD));	/* action bits are not returned */
	KC_CHECK_EQ(ev.flags & (EV_EOF | EV_ONESHOT | EV_CLEAR | EV_DISPATCH |
	    EV_ERROR), 0);
	/* level triggered: reported again while readable */
	ev = expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.data, 5);
	put(&e, 3);
	ev = expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.data, ready(&e));
	KC_CHECK_EQ(ev.data, stream ? 8 : 5);

	/* modify: udata replaced */
	CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ADD, 0, 0, UD2);
	ev = expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_PTR_EQ(ev.udata, UD2);
	KC_CHECK_EQ(ev.data, ready(&e));

	/* modify: fflags/data replaced (NOTE_LOWAT on, up, off) */
	if (k != K_FILE) {
		CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ADD, NOTE_LOWAT, 4, UD2);
		ev = expect_one(kq, e.rd, EVFILT_READ);
		KC_CHECK_EQ(ev.data, ready(&e));
		CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ADD, NOTE_LOWAT, 100, UD2);
		expect_none(kq);
		CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ADD, 0, 0, UD1);
		ev = expect_one(kq, e.rd, EVFILT_READ);
		KC_CHECK_PTR_EQ(ev.udata, UD1);
		KC_CHECK_EQ(ev.data, ready(&e));
	}

	/* disable / enable */
	CHANGE_OK(kq, e.rd, EVFILT_READ, EV_DISABLE, 0, 0, NULL);
	expect_none(kq);
	CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ENABLE, 0, 0, NULL);
	ev = expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.data, ready(&e));

	/* delete, then everything on the missing knote is ENOENT */
	CHANGE_OK(kq, e.rd, EVFILT_READ, EV_DELETE, 0, 0, NULL);
	expect_none(kq);
	KC_CHECK_EQ(change(kq, e.rd, EVFILT_READ, EV_DELETE, 0, 0, NULL),
	    ENOENT);
	KC_CHECK_EQ(change(kq, e.rd, EVFILT_READ, EV_ENABLE, 0, 0, NULL),
	    ENOENT);
	KC_CHECK_EQ(change(kq, e.rd, EVFILT_READ, EV_DISABLE, 0, 0, NULL),
	    ENOENT);
	KC_CHECK_EQ(change(kq, e.rd, EVFILT_READ, 0, 0, 0, NULL), ENOENT);
	/* ... also as an EV_ERROR entry when there is room */
	EV_SET(&ch, e.rd, EVFILT_READ, EV_DELETE, 0, 0, UD1);
	n = kevent(kq, &ch, 1, out, 4, &zero_ts);
	KC_CHECK_EQ(n, 1);
	KC_CHECK(out[0].flags & EV_ERROR);
	KC_CHECK_EQ(out[0].data, ENOENT);
	KC_CHECK_EQ(out[0].ident, (uintptr_t)e.rd);
	KC_CHECK_EQ(out[0].filter, EVFILT_READ);
	KC_CHECK_PTR_EQ(out[0].udata, UD1);
	/* the missing knote was not created by any of that */
	expect_none(kq);

	/* EV_ONESHOT: once, then gone */
	CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ADD | EV_ONESHOT, 0, 0, UD1);
	ev = expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK(ev.flags & EV_ONESHOT);
	KC_CHECK_EQ(ev.data, ready(&e));
	KC_CHECK_PTR_EQ(ev.udata, UD1);
	expect_none(kq);
	KC_CHECK_EQ(change(kq, e.rd, EVFILT_READ, EV_DELETE, 0, 0, NULL),
	    ENOENT);
	KC_CHECK_EQ(change(kq, e.rd, EVFILT_READ, EV_ENABLE, 0, 0, NULL),
	    ENOENT);

	/* EV_DISPATCH: once, then disabled until EV_ENABLE or EV_ADD */
	CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ADD | EV_DISPATCH, 0, 0, UD2);
	ev = expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK(ev.flags & EV_DISPATCH);
	KC_CHECK_PTR_EQ(ev.udata, UD2);
	expect_none(kq);
	CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ENABLE, 0, 0, NULL);
	ev = expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK(ev.flags & EV_DISPATCH);
	KC_CHECK_EQ(ev.data, ready(&e));
	expect_none(kq);
	/* a disabled (dispatched) knote still exists: EV_DISABLE works */
	CHANGE_OK(kq, e.rd, EVFILT_READ, EV_DISABLE, 0, 0, NULL);
	expect_none(kq);
	CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ENABLE, 0, 0, NULL);
	ev = expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK(ev.flags & EV_DISPATCH);
	expect_none(kq);
	/* EV_ADD modify re-enables a dispatched knote, still dispatching */
	CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ADD | EV_DISPATCH, 0, 0, UD1);
	ev = expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_PTR_EQ(ev.udata, UD1);
	expect_none(kq);
	/* EV_ADD without EV_DISPATCH replaces the flag: level again */
	CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ADD, 0, 0, UD2);
	ev = expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.flags & EV_DISPATCH, 0);
	ev = expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_PTR_EQ(ev.udata, UD2);
	/* EV_ADD|EV_ONESHOT on the existing knote makes it one-shot */
	CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ADD | EV_ONESHOT, 0, 0, UD1);
	ev = expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK(ev.flags & EV_ONESHOT);
	expect_none(kq);
	KC_CHECK_EQ(change(kq, e.rd, EVFILT_READ, EV_DELETE, 0, 0, NULL),
	    ENOENT);

	/* EV_RECEIPT: an EV_ERROR entry with data 0, fields copied */
	drain(&e);
	EV_SET(&ch, e.rd, EVFILT_READ, EV_ADD | EV_RECEIPT, 0, 0, UD2);
	memset(out, 0xa5, sizeof(out));
	n = kevent(kq, &ch, 1, out, 4, &zero_ts);
	KC_CHECK_EQ(n, 1);
	KC_CHECK(out[0].flags & EV_ERROR);
	KC_CHECK_EQ(out[0].data, 0);
	KC_CHECK_EQ(out[0].ident, (uintptr_t)e.rd);
	KC_CHECK_EQ(out[0].filter, EVFILT_READ);
	KC_CHECK_PTR_EQ(out[0].udata, UD2);
	expect_none(kq);
	put(&e, 6);
	ev = expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.data, 6);
	KC_CHECK_PTR_EQ(ev.udata, UD2);
	/* receipt of a delete */
	EV_SET(&ch, e.rd, EVFILT_READ, EV_DELETE | EV_RECEIPT, 0, 0, UD2);
	memset(out, 0xa5, sizeof(out));
	n = kevent(kq, &ch, 1, out, 4, &zero_ts);
	KC_CHECK_EQ(n, 1);
	KC_CHECK(out[0].flags & EV_ERROR);
	KC_CHECK_EQ(out[0].data, 0);
	KC_CHECK_EQ(out[0].ident, (uintptr_t)e.rd);
	expect_none(kq);
	/* receipt with no room: the change is applied, nothing written */
	EV_SET(&ch, e.rd, EVFILT_READ, EV_ADD | EV_RECEIPT, 0, 0, UD1);
	KC_CHECK_EQ(kevent(kq, &ch, 1, NULL, 0, NULL), 0);
	ev = expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_PTR_EQ(ev.udata, UD1);
	CHANGE_OK(kq, e.rd, EVFILT_READ, EV_DELETE, 0, 0, NULL);

	/* EV_CLEAR: reported once per new arrival */
	drain(&e);
	CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, UD1);
	expect_none(kq);
	put(&e, 5);
	ev = expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK(ev.flags & EV_CLEAR);
	KC_CHECK_EQ(ev.data, 5);
	expect_none(kq);		/* cleared, though 5 bytes wait */
	put(&e, 3);			/* new data: fires again */
	ev = expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.data, stream ? 8 : 5);
	expect_none(kq);
	drain(&e);
	expect_none(kq);
	put(&e, 2);
	ev = expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.data, 2);
	expect_none(kq);
	CHANGE_OK(kq, e.rd, EVFILT_READ, EV_DELETE, 0, 0, NULL);

	/* several kqueues on one descriptor, each with its own knote */
	drain(&e);
	kq2 = kq_open();
	CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ADD, 0, 0, UD1);
	CHANGE_OK(kq2, e.rd, EVFILT_READ, EV_ADD, 0, 0, UD2);
	expect_none(kq);
	expect_none(kq2);
	put(&e, 4);
	ev = expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_PTR_EQ(ev.udata, UD1);
	KC_CHECK_EQ(ev.data, 4);
	ev = expect_one(kq2, e.rd, EVFILT_READ);
	KC_CHECK_PTR_EQ(ev.udata, UD2);
	KC_CHECK_EQ(ev.data, 4);
	CHANGE_OK(kq, e.rd, EVFILT_READ, EV_DISABLE, 0, 0, NULL);
	expect_none(kq);
	ev = expect_one(kq2, e.rd, EVFILT_READ);	/* not disabled there */
	CHANGE_OK(kq, e.rd, EVFILT_READ, EV_DELETE, 0, 0, NULL);
	ev = expect_one(kq2, e.rd, EVFILT_READ);	/* nor deleted */
	CHANGE_OK(kq2, e.rd, EVFILT_READ, EV_ADD | EV_ONESHOT, 0, 0, UD2);
	ev = expect_one(kq2, e.rd, EVFILT_READ);
	CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ADD, 0, 0, UD1);
	ev = expect_one(kq, e.rd, EVFILT_READ);	/* kq2's oneshot: no effect */
	KC_CHECK_PTR_EQ(ev.udata, UD1);
	expect_none(kq2);
	KC_CHECK_OK(close(kq2));		/* closing one leaves the other */
	ev = expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.data, 4);
	/* a descriptor in several kqueues: many at once */
	{
		int kqs[8];

		for (i = 0; i < 8; i++) {
			kqs[i] = kq_open();
			CHANGE_OK(kqs[i], e.rd, EVFILT_READ, EV_ADD, 0, 0,
			    (void *)(uintptr_t)(i + 1));
		}
		for (i = 0; i < 8; i++) {
			ev = expect_one(kqs[i], e.rd, EVFILT_READ);
			KC_CHECK_PTR_EQ(ev.udata, (void *)(uintptr_t)(i + 1));
		}
		drain(&e);
		for (i = 0; i < 8; i++)
			expect_none(kqs[i]);
		for (i = 0; i < 8; i++)
			KC_CHECK_OK(close(kqs[i]));
	}
	expect_none(kq);

	close_ends(&e);
	KC_CHECK_OK(close(kq));
}

/* EV_EOF on hang-up with bytes still counted; shut says how to hang up. */
enum hangup { H_CLOSE, H_SHUTDOWN };

static void
test_eof(enum kind k, enum hangup how)
{
	struct kevent ev;
	struct ends e;
	char buf[16];
	int kq = kq_open();

	printf("  eof: %s (%s)\n", kind_name[k],
	    how == H_CLOSE ? "close" : "shutdown");
	make_ends(k, &e);
	CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ADD, 0, 0, UD1);
	put(&e, 7);
	ev = expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.flags & EV_EOF, 0);
	if (how == H_CLOSE) {
		KC_CHECK_OK(close(e.wr));
		e.wr = -1;
	} else {
		KC_CHECK_OK(shutdown(e.wr, SHUT_WR));
	}
	ev = wait_eof(kq, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.data, 7);		/* still counted */
	KC_CHECK_PTR_EQ(ev.udata, UD1);
	if (k == K_TCP || k == K_USTREAM)
		KC_CHECK_EQ(ev.fflags, 0);	/* no socket error */
	/* level: the same again */
	ev = expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK(ev.flags & EV_EOF);
	KC_CHECK_EQ(ev.data, 7);
	/* read part: the count follows */
	KC_CHECK_EQ(read(e.rd, buf, 3), 3);
	ev = expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK(ev.flags & EV_EOF);
	KC_CHECK_EQ(ev.data, 4);
	/* drained: still EOF, data 0 */
	KC_CHECK_EQ(read(e.rd, buf, sizeof(buf)), 4);
	KC_CHECK_EQ(read(e.rd, buf, sizeof(buf)), 0);
	ev = expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK(ev.flags & EV_EOF);
	KC_CHECK_EQ(ev.data, 0);
	/* EV_CLEAR on a hung-up descriptor: once */
	CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, UD2);
	ev = expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK(ev.flags & EV_EOF);
	expect_none(kq);
	/* EV_ONESHOT on it: once and gone */
	CHANGE_OK(kq, e.rd, EVFILT_READ, EV_DELETE, 0, 0, NULL);
	CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ADD | EV_ONESHOT, 0, 0, UD2);
	ev = expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK(ev.flags & EV_EOF);
	expect_none(kq);
	close_ends(&e);
	KC_CHECK_OK(close(kq));
}

/* TCP reset: EV_EOF with fflags ECONNRESET. */
static void
test_tcp_reset(void)
{
	struct linger lg = { 1, 0 };
	struct kevent ev;
	int a, b, kq = kq_open();

	printf("  tcp reset\n");
	tcp_pair(&a, &b);
	set_nonblock(a);
	CHANGE_OK(kq, a, EVFILT_READ, EV_ADD, 0, 0, UD1);
	expect_none(kq);
	KC_CHECK_OK(setsockopt(b, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)));
	KC_CHECK_OK(close(b));
	ev = wait_eof(kq, a, EVFILT_READ);
	KC_CHECK_EQ(ev.fflags, ECONNRESET);
	KC_CHECK_PTR_EQ(ev.udata, UD1);
	/* still hung up afterwards (the error may have been consumed) */
	ev = expect_one(kq, a, EVFILT_READ);
	KC_CHECK(ev.flags & EV_EOF);
	KC_CHECK_OK(close(a));
	KC_CHECK_OK(close(kq));
}

/* A listening socket: data = connections in the accept queue. */
static void
test_listen_backlog(void)
{
	struct sockaddr_in sin;
	struct kevent ev[4];
	uint64_t dl;
	int l, c[3], i, n, kq = kq_open(), a;
	int64_t last = 0;

	printf("  listen backlog\n");
	l = tcp_listener(&sin, 16);
	set_nonblock(l);
	CHANGE_OK(kq, l, EVFILT_READ, EV_ADD, 0, 0, UD2);
	expect_none(kq);
	for (i = 0; i < 3; i++) {
		c[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		KC_CHECK_GE(c[i], 0);
		KC_CHECK_OK(connect(c[i], (struct sockaddr *)&sin,
		    sizeof(sin)));
	}
	/* the handshakes complete asynchronously: poll (bounded) for 3 */
	dl = kct_now_ns() + 5 * KCT_NSEC_PER_SEC;
	for (;;) {
		n = collect(kq, ev, 4, 100);
		KC_CHECK_LE(n, 1);
		if (n == 1) {
			KC_CHECK_EQ(ev[0].ident, (uintptr_t)l);
			KC_CHECK_EQ(ev[0].filter, EVFILT_READ);
			KC_CHECK_PTR_EQ(ev[0].udata, UD2);
			KC_CHECK_EQ(ev[0].flags & (EV_EOF | EV_ERROR), 0);
			KC_CHECK_GE(ev[0].data, 1);
			KC_CHECK_LE(ev[0].data, 3);
			last = ev[0].data;
			if (last == 3)
				break;
		}
		if (kct_now_ns() > dl)
			kct_fail(__FILE__, __LINE__, "listen data %jd, not 3",
			    (intmax_t)last);
	}
	/* accepting takes them off */
	a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	KC_CHECK_GE(a, 0);
	KC_CHECK_OK(close(a));
	n = collect(kq, ev, 4, WAIT_MS);
	KC_CHECK_EQ(n, 1);
	KC_CHECK_EQ(ev[0].data, 2);
	for (i = 0; i < 2; i++) {
		a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		KC_CHECK_GE(a, 0);
		KC_CHECK_OK(close(a));
	}
	expect_none(kq);
	for (i = 0; i < 3; i++)
		KC_CHECK_OK(close(c[i]));
	KC_CHECK_OK(close(l));
	KC_CHECK_OK(close(kq));
}

/* NOTE_LOWAT is per knote: two kqueues, two marks. */
static void
test_lowat(enum kind k)
{
	struct kevent ev;
	struct ends e;
	int kqa = kq_open(), kqb = kq_open();

	printf("  lowat: %s\n", kind_name[k]);
	make_ends(k, &e);
	CHANGE_OK(kqa, e.rd, EVFILT_READ, EV_ADD, NOTE_LOWAT, 10, UD1);
	CHANGE_OK(kqb, e.rd, EVFILT_READ, EV_ADD, NOTE_LOWAT, 3, UD2);
	expect_none(kqa);
	expect_none(kqb);
	put(&e, 2);
	expect_none(kqa);
	expect_none(kqb);
	put(&e, 3);				/* 5: b only */
	ev = expect_one(kqb, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.data, 5);
	KC_CHECK_PTR_EQ(ev.udata, UD2);
	expect_none(kqa);
	put(&e, 5);				/* 10: both */
	ev = expect_one(kqa, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.data, 10);
	KC_CHECK_PTR_EQ(ev.udata, UD1);
	ev = expect_one(kqb, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.data, 10);
	drain(&e);
	expect_none(kqa);
	expect_none(kqb);
	put(&e, 2);
	expect_none(kqa);
	expect_none(kqb);
	/* EOF overrides the mark */
	KC_CHECK_OK(close(e.wr));
	e.wr = -1;
	ev = wait_eof(kqa, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.data, 2);
	ev = wait_eof(kqb, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.data, 2);
	close_ends(&e);
	KC_CHECK_OK(close(kqa));
	KC_CHECK_OK(close(kqb));
}

/* A zero-length datagram: readable, data 0, no EV_EOF. */
static void
test_zero_dgram(enum kind k)
{
	struct kevent ev;
	struct ends e;
	char buf[8];
	int kq = kq_open();

	printf("  zero-length datagram: %s\n", kind_name[k]);
	memset(buf, 0, sizeof(buf));
	make_ends(k, &e);
	CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ADD, 0, 0, UD1);
	expect_none(kq);
	KC_CHECK_EQ(send(e.wr, buf, 0, 0), 0);
	ev = expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.data, 0);
	KC_CHECK_EQ(ev.flags & EV_EOF, 0);
	ev = expect_one(kq, e.rd, EVFILT_READ);	/* still there */
	KC_CHECK_EQ(ev.data, 0);
	KC_CHECK_EQ(ev.flags & EV_EOF, 0);
	KC_CHECK_EQ(recv(e.rd, buf, sizeof(buf), 0), 0);
	expect_none(kq);
	put(&e, 3);
	ev = expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.data, 3);
	KC_CHECK_EQ(ev.flags & EV_EOF, 0);
	close_ends(&e);
	KC_CHECK_OK(close(kq));
}

/* EV_ADD|EV_DISABLE on a ready descriptor, many times: never reported. */
static void
test_add_disabled_loop(void)
{
	struct kevent ch, out[4];
	unsigned i, iters = kct_sanitized() ? 10000 : 100000;
	struct ends e;
	int kq = kq_open(), n;

	printf("  EV_ADD|EV_DISABLE x %u\n", iters);
	make_ends(K_PIPE, &e);
	put(&e, 1);
	for (i = 0; i < iters; i++) {
		if (i & 1) {
			/* the add and the poll in one call */
			EV_SET(&ch, e.rd, EVFILT_READ, EV_ADD | EV_DISABLE, 0,
			    0, UD1);
			n = kevent(kq, &ch, 1, out, 4, &zero_ts);
		} else {
			CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ADD | EV_DISABLE,
			    0, 0, UD1);
			n = kevent(kq, NULL, 0, out, 4, &zero_ts);
		}
		if (n != 0)
			kct_fail(__FILE__, __LINE__, "iteration %u: %d events"
			    " (flags %#x data %jd)", i, n, out[0].flags,
			    (intmax_t)out[0].data);
		CHANGE_OK(kq, e.rd, EVFILT_READ, EV_DELETE, 0, 0, NULL);
	}
	/* and the descriptor is still fine for a normal knote */
	CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ADD | EV_DISABLE, 0, 0, UD2);
	expect_none(kq);
	CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ENABLE, 0, 0, NULL);
	(void)expect_one(kq, e.rd, EVFILT_READ);
	close_ends(&e);
	KC_CHECK_OK(close(kq));
}

/*
 * The descriptor number of a registered (ready or not) file is closed and
 * reused by a socket: the old knote is gone (ENOENT) and never reports.
 */
static void
test_fd_reuse(bool ready_at_close)
{
	struct kevent ev[4];
	int p[2], s[2], x, fd, kq = kq_open();

	printf("  descriptor reuse (%s at close)\n",
	    ready_at_close ? "ready" : "idle");
	KC_CHECK_OK(pipe2(p, O_CLOEXEC));
	x = p[0];
	CHANGE_OK(kq, x, EVFILT_READ, EV_ADD, 0, 0, UD1);
	if (ready_at_close) {
		KC_CHECK_EQ(write(p[1], "a", 1), 1);
		(void)expect_one(kq, x, EVFILT_READ);
	}
	KC_CHECK_OK(close(x));
	if (ready_at_close)
		expect_none(kq);
	KC_CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s));
	if (s[1] == x) {
		s[1] = s[0];
		s[0] = x;
	} else if (s[0] != x) {
		fd = fcntl(s[0], F_DUPFD_CLOEXEC, x);
		KC_CHECK_EQ(fd, x);
		KC_CHECK_OK(close(s[0]));
		s[0] = x;
	}
	KC_CHECK_EQ(write(s[1], "bb", 2), 2);
	KC_CHECK_EQ(collect(kq, ev, 4, 200), 0);
	KC_CHECK_EQ(change(kq, x, EVFILT_READ, EV_DELETE, 0, 0, NULL), ENOENT);
	KC_CHECK_EQ(change(kq, x, EVFILT_READ, EV_ENABLE, 0, 0, NULL), ENOENT);
	KC_CHECK_EQ(collect(kq, ev, 4, 0), 0);
	/* re-added: the new file, the new udata */
	CHANGE_OK(kq, x, EVFILT_READ, EV_ADD, 0, 0, UD2);
	ev[0] = expect_one(kq, x, EVFILT_READ);
	KC_CHECK_PTR_EQ(ev[0].udata, UD2);
	KC_CHECK_EQ(ev[0].data, 2);
	KC_CHECK_EQ(ev[0].flags & EV_EOF, 0);
	KC_CHECK_OK(close(p[1]));
	KC_CHECK_OK(close(s[0]));
	KC_CHECK_OK(close(s[1]));
	KC_CHECK_OK(close(kq));
}

/* Regular files: data = size - offset; growth re-fires. */
static void
test_file_offset(void)
{
	struct kevent ev;
	struct ends e;
	int kq = kq_open();

	printf("  file offset\n");
	make_ends(K_FILE, &e);
	put(&e, 10);
	CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ADD, 0, 0, UD1);
	ev = expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.data, 10);
	KC_CHECK_EQ(lseek(e.rd, 4, SEEK_SET), 4);
	ev = expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.data, 6);
	KC_CHECK_EQ(lseek(e.rd, 0, SEEK_END), 10);
	expect_none(kq);
	put(&e, 5);
	ev = expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.data, 5);
	close_ends(&e);
	KC_CHECK_OK(close(kq));
}

int
main(void)
{
	int k;

	kct_begin("kq-read", 100);
	signal(SIGPIPE, SIG_IGN);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/kq-read.XXXXXX");
	KC_CHECK(mkdtemp(tmpdir) != NULL);

	for (k = 0; k < K_NKINDS; k++)
		filter_suite((enum kind)k);

	test_eof(K_TCP, H_CLOSE);
	test_eof(K_TCP, H_SHUTDOWN);
	test_eof(K_USTREAM, H_CLOSE);
	test_eof(K_USTREAM, H_SHUTDOWN);
	test_eof(K_PIPE, H_CLOSE);
	test_eof(K_FIFO, H_CLOSE);
	test_tcp_reset();
	test_listen_backlog();
	test_lowat(K_TCP);
	test_lowat(K_USTREAM);
	test_lowat(K_PIPE);
	test_zero_dgram(K_UDP);
	test_zero_dgram(K_UDGRAM);
	test_file_offset();
	test_fd_reuse(false);
	test_fd_reuse(true);
	test_add_disabled_loop();

	KC_CHECK_OK(rmdir(tmpdir));
	return kct_done();
}
