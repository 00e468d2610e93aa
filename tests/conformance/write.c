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
#include "kqtest.h"

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
check_space_empty(const struct kqt_ends *e, const struct kevent *ev)
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
fill(struct kqt_ends *e)
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
drain_all(struct kqt_ends *e)
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
filter_suite(enum kqt_kind k)
{
	struct kevent ev, ch, out[4];
	struct kqt_ends e;
	int kq = kqt_open(), kq2, n, i, nr, w;
	bool file = k == K_FILE;
	bool refill = k == K_PIPE || k == K_FIFO || k == K_USTREAM ||
	    k == K_TCP;

	printf("  filter suite: %s\n", kqt_kind_name[k]);
	kqt_make_ends(k, &e);
	kqt_set_nonblock(e.wr);
	w = e.wr;

	/* add: an idle writer is writable at once */
	KQT_CHANGE_OK(kq, w, EVFILT_WRITE, EV_ADD, 0, 0, UD1);
	ev = kqt_expect_one(kq, w, EVFILT_WRITE);
	check_space_empty(&e, &ev);
	KC_CHECK_PTR_EQ(ev.udata, UD1);
	KC_CHECK(!(ev.flags & EV_ADD));	/* action bits are not returned */
	KC_CHECK_EQ(ev.flags & (EV_EOF | EV_ONESHOT | EV_CLEAR | EV_DISPATCH |
	    EV_ERROR), 0);
	/* level triggered */
	ev = kqt_expect_one(kq, w, EVFILT_WRITE);
	check_space_empty(&e, &ev);

	/* modify: udata replaced */
	KQT_CHANGE_OK(kq, w, EVFILT_WRITE, EV_ADD, 0, 0, UD2);
	ev = kqt_expect_one(kq, w, EVFILT_WRITE);
	KC_CHECK_PTR_EQ(ev.udata, UD2);

	/* modify: fflags/data replaced (NOTE_LOWAT low, unreachable, off) */
	if (!file) {
		KQT_CHANGE_OK(kq, w, EVFILT_WRITE, EV_ADD, NOTE_LOWAT, 1, UD2);
		ev = kqt_expect_one(kq, w, EVFILT_WRITE);
		check_space_empty(&e, &ev);
		KQT_CHANGE_OK(kq, w, EVFILT_WRITE, EV_ADD, NOTE_LOWAT, 1 << 30,
		    UD2);
		kqt_expect_none(kq);
		KQT_CHANGE_OK(kq, w, EVFILT_WRITE, EV_ADD, 0, 0, UD1);
		ev = kqt_expect_one(kq, w, EVFILT_WRITE);
		KC_CHECK_PTR_EQ(ev.udata, UD1);
		check_space_empty(&e, &ev);
	}

	/* disable / enable */
	KQT_CHANGE_OK(kq, w, EVFILT_WRITE, EV_DISABLE, 0, 0, NULL);
	kqt_expect_none(kq);
	KQT_CHANGE_OK(kq, w, EVFILT_WRITE, EV_ENABLE, 0, 0, NULL);
	ev = kqt_expect_one(kq, w, EVFILT_WRITE);

	/* delete, then everything on the missing knote is ENOENT */
	KQT_CHANGE_OK(kq, w, EVFILT_WRITE, EV_DELETE, 0, 0, NULL);
	kqt_expect_none(kq);
	KC_CHECK_EQ(kqt_change(kq, w, EVFILT_WRITE, EV_DELETE, 0, 0, NULL),
	    ENOENT);
	KC_CHECK_EQ(kqt_change(kq, w, EVFILT_WRITE, EV_ENABLE, 0, 0, NULL),
	    ENOENT);
	KC_CHECK_EQ(kqt_change(kq, w, EVFILT_WRITE, EV_DISABLE, 0, 0, NULL),
	    ENOENT);
	KC_CHECK_EQ(kqt_change(kq, w, EVFILT_WRITE, 0, 0, 0, NULL), ENOENT);
	/* the READ knote of the same descriptor is another knote: absent */
	KC_CHECK_EQ(kqt_change(kq, w, EVFILT_READ, EV_DELETE, 0, 0, NULL),
	    ENOENT);
	EV_SET(&ch, w, EVFILT_WRITE, EV_DELETE, 0, 0, UD1);
	n = kevent(kq, &ch, 1, out, 4, &kqt_zero_ts);
	KC_CHECK_EQ(n, 1);
	KC_CHECK(out[0].flags & EV_ERROR);
	KC_CHECK_EQ(out[0].data, ENOENT);
	KC_CHECK_EQ(out[0].ident, (uintptr_t)w);
	KC_CHECK_EQ(out[0].filter, EVFILT_WRITE);
	KC_CHECK_PTR_EQ(out[0].udata, UD1);
	kqt_expect_none(kq);

	/* EV_ONESHOT: once, then gone */
	KQT_CHANGE_OK(kq, w, EVFILT_WRITE, EV_ADD | EV_ONESHOT, 0, 0, UD1);
	ev = kqt_expect_one(kq, w, EVFILT_WRITE);
	KC_CHECK(ev.flags & EV_ONESHOT);
	KC_CHECK_PTR_EQ(ev.udata, UD1);
	check_space_empty(&e, &ev);
	kqt_expect_none(kq);
	KC_CHECK_EQ(kqt_change(kq, w, EVFILT_WRITE, EV_DELETE, 0, 0, NULL),
	    ENOENT);

	/* EV_DISPATCH: once, then disabled until EV_ENABLE or EV_ADD */
	KQT_CHANGE_OK(kq, w, EVFILT_WRITE, EV_ADD | EV_DISPATCH, 0, 0, UD2);
	ev = kqt_expect_one(kq, w, EVFILT_WRITE);
	KC_CHECK(ev.flags & EV_DISPATCH);
	KC_CHECK_PTR_EQ(ev.udata, UD2);
	kqt_expect_none(kq);
	KQT_CHANGE_OK(kq, w, EVFILT_WRITE, EV_ENABLE, 0, 0, NULL);
	ev = kqt_expect_one(kq, w, EVFILT_WRITE);
	KC_CHECK(ev.flags & EV_DISPATCH);
	kqt_expect_none(kq);
	KQT_CHANGE_OK(kq, w, EVFILT_WRITE, EV_ADD | EV_DISPATCH, 0, 0, UD1);
	ev = kqt_expect_one(kq, w, EVFILT_WRITE);
	KC_CHECK_PTR_EQ(ev.udata, UD1);
	kqt_expect_none(kq);
	KQT_CHANGE_OK(kq, w, EVFILT_WRITE, EV_ADD, 0, 0, UD2);
	ev = kqt_expect_one(kq, w, EVFILT_WRITE);
	KC_CHECK_EQ(ev.flags & EV_DISPATCH, 0);
	ev = kqt_expect_one(kq, w, EVFILT_WRITE);
	KC_CHECK_PTR_EQ(ev.udata, UD2);
	KQT_CHANGE_OK(kq, w, EVFILT_WRITE, EV_DELETE, 0, 0, NULL);

	/* EV_RECEIPT: an EV_ERROR entry with data 0 (maybe the event too) */
	EV_SET(&ch, w, EVFILT_WRITE, EV_ADD | EV_RECEIPT, 0, 0, UD2);
	memset(out, 0xa5, sizeof(out));
	n = kevent(kq, &ch, 1, out, 4, &kqt_zero_ts);
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
	ev = kqt_expect_one(kq, w, EVFILT_WRITE);
	KC_CHECK_PTR_EQ(ev.udata, UD2);
	KQT_CHANGE_OK(kq, w, EVFILT_WRITE, EV_DELETE, 0, 0, NULL);

	/* EV_CLEAR: once, then again when space is freed */
	KQT_CHANGE_OK(kq, w, EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, 0, UD1);
	ev = kqt_expect_one(kq, w, EVFILT_WRITE);
	KC_CHECK(ev.flags & EV_CLEAR);
	check_space_empty(&e, &ev);
	kqt_expect_none(kq);
	if (refill) {
		(void)fill(&e);
		if (k != K_TCP)		/* TCP acks may free space meanwhile */
			kqt_expect_none(kq);
		drain_all(&e);
		ev = kqt_expect_one(kq, w, EVFILT_WRITE);
		KC_CHECK_GT(ev.data, 0);
		KC_CHECK(ev.flags & EV_CLEAR);
		if (k != K_TCP)
			kqt_expect_none(kq);
	}
	KQT_CHANGE_OK(kq, w, EVFILT_WRITE, EV_DELETE, 0, 0, NULL);
	kqt_expect_none(kq);

	/* several kqueues on one descriptor */
	kq2 = kqt_open();
	KQT_CHANGE_OK(kq, w, EVFILT_WRITE, EV_ADD, 0, 0, UD1);
	KQT_CHANGE_OK(kq2, w, EVFILT_WRITE, EV_ADD, 0, 0, UD2);
	ev = kqt_expect_one(kq, w, EVFILT_WRITE);
	KC_CHECK_PTR_EQ(ev.udata, UD1);
	ev = kqt_expect_one(kq2, w, EVFILT_WRITE);
	KC_CHECK_PTR_EQ(ev.udata, UD2);
	KQT_CHANGE_OK(kq, w, EVFILT_WRITE, EV_DISABLE, 0, 0, NULL);
	kqt_expect_none(kq);
	(void)kqt_expect_one(kq2, w, EVFILT_WRITE);
	KQT_CHANGE_OK(kq, w, EVFILT_WRITE, EV_DELETE, 0, 0, NULL);
	(void)kqt_expect_one(kq2, w, EVFILT_WRITE);
	KQT_CHANGE_OK(kq2, w, EVFILT_WRITE, EV_ADD | EV_ONESHOT, 0, 0, UD2);
	(void)kqt_expect_one(kq2, w, EVFILT_WRITE);
	kqt_expect_none(kq2);
	KQT_CHANGE_OK(kq, w, EVFILT_WRITE, EV_ADD, 0, 0, UD1);
	ev = kqt_expect_one(kq, w, EVFILT_WRITE);
	KC_CHECK_PTR_EQ(ev.udata, UD1);
	KC_CHECK_OK(close(kq2));
	(void)kqt_expect_one(kq, w, EVFILT_WRITE);
	KQT_CHANGE_OK(kq, w, EVFILT_WRITE, EV_DELETE, 0, 0, NULL);

	kqt_close_ends(&e);
	KC_CHECK_OK(close(kq));
}

/* A full pipe/FIFO is not writable; data follows the space free. */
static void
test_full(enum kqt_kind k)
{
	struct kevent ev, evs[4];
	struct kqt_ends e;
	char buf[4096];
	int kq = kqt_open(), cap;

	printf("  full: %s\n", kqt_kind_name[k]);
	kqt_make_ends(k, &e);
	kqt_set_nonblock(e.wr);
	cap = pipe_cap(e.wr);
	KQT_CHANGE_OK(kq, e.wr, EVFILT_WRITE, EV_ADD, 0, 0, UD1);
	ev = kqt_expect_one(kq, e.wr, EVFILT_WRITE);
	KC_CHECK_EQ(ev.data, cap);
	kqt_put(&e, 100);
	ev = kqt_expect_one(kq, e.wr, EVFILT_WRITE);
	KC_CHECK_EQ(ev.data, cap - 100);
	drain_all(&e);
	ev = kqt_expect_one(kq, e.wr, EVFILT_WRITE);
	KC_CHECK_EQ(ev.data, cap);
	(void)fill(&e);			/* from empty: every page full */
	KC_CHECK_EQ(kqt_inq(e.rd), cap);
	kqt_expect_none(kq);
	KC_CHECK_EQ(kqt_collect(kq, evs, 4, 100), 0);
	/* one page read: that much space */
	KC_CHECK_EQ(read(e.rd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	e.bytes -= sizeof(buf);
	ev = kqt_expect_one(kq, e.wr, EVFILT_WRITE);
	KC_CHECK_EQ(ev.data, (int64_t)sizeof(buf));
	drain_all(&e);
	ev = kqt_expect_one(kq, e.wr, EVFILT_WRITE);
	KC_CHECK_EQ(ev.data, cap);
	/* full again, then drained: EV_DISPATCH re-enabled meanwhile */
	KQT_CHANGE_OK(kq, e.wr, EVFILT_WRITE, EV_ADD | EV_DISPATCH, 0, 0, UD2);
	(void)kqt_expect_one(kq, e.wr, EVFILT_WRITE);
	(void)fill(&e);
	KQT_CHANGE_OK(kq, e.wr, EVFILT_WRITE, EV_ENABLE, 0, 0, NULL);
	kqt_expect_none(kq);
	drain_all(&e);
	ev = kqt_expect_one(kq, e.wr, EVFILT_WRITE);
	KC_CHECK_EQ(ev.data, cap);
	kqt_expect_none(kq);
	kqt_close_ends(&e);
	KC_CHECK_OK(close(kq));
}

enum hangup { H_CLOSE, H_RESET, H_CLOSE_SEND };

/* EV_EOF on WRITE when the other side is gone. */
static void
test_eof(enum kqt_kind k, enum hangup how)
{
	static const char *const hname[] = { "close", "reset", "close+send" };
	struct linger lg = { 1, 0 };
	struct kevent ev;
	struct kqt_ends e;
	int kq = kqt_open();

	printf("  eof: %s (%s)\n", kqt_kind_name[k], hname[how]);
	kqt_make_ends(k, &e);
	kqt_set_nonblock(e.wr);
	KQT_CHANGE_OK(kq, e.wr, EVFILT_WRITE, EV_ADD, 0, 0, UD1);
	ev = kqt_expect_one(kq, e.wr, EVFILT_WRITE);
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
	ev = kqt_wait_eof(kq, e.wr, EVFILT_WRITE);
	KC_CHECK_PTR_EQ(ev.udata, UD1);
	/* level: still */
	ev = kqt_expect_one(kq, e.wr, EVFILT_WRITE);
	KC_CHECK(ev.flags & EV_EOF);
	/* a new knote on it sees it at once */
	KQT_CHANGE_OK(kq, e.wr, EVFILT_WRITE, EV_DELETE, 0, 0, NULL);
	KQT_CHANGE_OK(kq, e.wr, EVFILT_WRITE, EV_ADD | EV_ONESHOT, 0, 0, UD2);
	ev = kqt_expect_one(kq, e.wr, EVFILT_WRITE);
	KC_CHECK(ev.flags & EV_EOF);
	KC_CHECK_PTR_EQ(ev.udata, UD2);
	kqt_expect_none(kq);
	kqt_close_ends(&e);
	KC_CHECK_OK(close(kq));
}

/* NOTE_LOWAT per knote on a pipe: two kqueues, two marks. */
static void
test_lowat_pipe(void)
{
	struct kevent ev;
	struct kqt_ends e;
	int kqa = kqt_open(), kqb = kqt_open(), cap;

	printf("  lowat: pipe\n");
	kqt_make_ends(K_PIPE, &e);
	kqt_set_nonblock(e.wr);
	cap = pipe_cap(e.wr);
	KQT_CHANGE_OK(kqa, e.wr, EVFILT_WRITE, EV_ADD, NOTE_LOWAT, cap, UD1);
	KQT_CHANGE_OK(kqb, e.wr, EVFILT_WRITE, EV_ADD, NOTE_LOWAT, cap / 2,
	    UD2);
	ev = kqt_expect_one(kqa, e.wr, EVFILT_WRITE);
	KC_CHECK_EQ(ev.data, cap);
	ev = kqt_expect_one(kqb, e.wr, EVFILT_WRITE);
	KC_CHECK_EQ(ev.data, cap);
	kqt_put(&e, 100);
	kqt_expect_none(kqa);
	ev = kqt_expect_one(kqb, e.wr, EVFILT_WRITE);
	KC_CHECK_EQ(ev.data, cap - 100);
	KC_CHECK_PTR_EQ(ev.udata, UD2);
	drain_all(&e);
	ev = kqt_expect_one(kqa, e.wr, EVFILT_WRITE);
	KC_CHECK_EQ(ev.data, cap);
	KC_CHECK_PTR_EQ(ev.udata, UD1);
	(void)kqt_expect_one(kqb, e.wr, EVFILT_WRITE);
	KQT_CHANGE_OK(kqa, e.wr, EVFILT_WRITE, EV_ADD, NOTE_LOWAT, cap + 1,
	    UD1);
	kqt_expect_none(kqa);
	(void)kqt_expect_one(kqb, e.wr, EVFILT_WRITE);
	kqt_close_ends(&e);
	KC_CHECK_OK(close(kqa));
	KC_CHECK_OK(close(kqb));
}

/* NOTE_LOWAT per knote on a socket: an unreachable mark, a small one. */
static void
test_lowat_socket(enum kqt_kind k)
{
	struct kevent ev;
	struct kqt_ends e;
	int kqa = kqt_open(), kqb = kqt_open();

	printf("  lowat: %s\n", kqt_kind_name[k]);
	kqt_make_ends(k, &e);
	KQT_CHANGE_OK(kqa, e.wr, EVFILT_WRITE, EV_ADD, NOTE_LOWAT, 1 << 30,
	    UD1);
	KQT_CHANGE_OK(kqb, e.wr, EVFILT_WRITE, EV_ADD, NOTE_LOWAT, 1, UD2);
	ev = kqt_expect_one(kqb, e.wr, EVFILT_WRITE);
	KC_CHECK_GT(ev.data, 0);
	kqt_expect_none(kqa);
	KQT_CHANGE_OK(kqa, e.wr, EVFILT_WRITE, EV_ADD, NOTE_LOWAT, 1024, UD1);
	ev = kqt_expect_one(kqa, e.wr, EVFILT_WRITE);
	KC_CHECK_GE(ev.data, 1024);
	kqt_close_ends(&e);
	KC_CHECK_OK(close(kqa));
	KC_CHECK_OK(close(kqb));
}

/*
 * The lost-WRITE case: READ and WRITE on one socket, both EV_CLEAR, the
 * socket readable and writable, collected one at a time: both arrive.
 */
static void
test_lost_write(enum kqt_kind k, bool ready_first)
{
	struct kevent ch[2], ev[4];
	struct kqt_ends e;
	int kq = kqt_open(), i, n, s;
	unsigned seen = 0, bit;
	uint64_t dl;

	printf("  lost write: %s (%s)\n", kqt_kind_name[k],
	    ready_first ? "readable before registration" : "after");
	kqt_make_ends(k, &e);
	s = e.rd;
	if (ready_first)
		kqt_put(&e, 5);
	EV_SET(&ch[0], s, EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, UD1);
	EV_SET(&ch[1], s, EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, 0, UD2);
	KC_CHECK_EQ(kevent(kq, ch, 2, NULL, 0, NULL), 0);
	if (!ready_first)
		kqt_put(&e, 5);
	for (i = 0; i < 2; i++) {
		n = kqt_collect(kq, ev, 1, KQT_WAIT_MS);
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
	kqt_expect_none(kq);
	/* new data: READ again (a WRITE alongside is not checked) */
	kqt_put(&e, 3);
	dl = kct_now_ns() + 5 * KCT_NSEC_PER_SEC;
	for (seen = 0; !(seen & 1);) {
		if (kct_now_ns() > dl)
			kct_fail(__FILE__, __LINE__, "no READ after new data");
		n = kqt_collect(kq, ev, 1, 100);
		if (n == 1 && ev[0].filter == EVFILT_READ) {
			KC_CHECK_EQ(ev[0].data, 8);
			seen |= 1;
		}
	}
	kqt_drain(&e);
	kqt_close_ends(&e);
	KC_CHECK_OK(close(kq));
}

int
main(void)
{
	int k;

	kct_begin("kq-write", 100);
	signal(SIGPIPE, SIG_IGN);
	snprintf(kqt_tmpdir, sizeof(kqt_tmpdir), "/tmp/kq-write.XXXXXX");
	KC_CHECK(mkdtemp(kqt_tmpdir) != NULL);

	for (k = 0; k < K_NKINDS; k++)
		filter_suite((enum kqt_kind)k);

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

	KC_CHECK_OK(rmdir(kqt_tmpdir));
	return kct_done();
}
