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
 *   under the same number is never reported through them;
 *   EV_RECEIPT kept on the knote's EOF events;
 *   /dev/null (which epoll refuses) added disabled, then enabled: always
 *   ready, READ and WRITE.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Expected READ data for rd right now. */
static int64_t
ready(const struct kqt_ends *e)
{
	return kqt_is_dgram(e->k) ? (int64_t)e->next : (int64_t)e->bytes;
}

#define UD1	((void *)(uintptr_t)0x1234)
#define UD2	((void *)(uintptr_t)0xfeedfacecafebeefull)

/* The per-filter list on one kind of descriptor. */
static void
filter_suite(enum kqt_kind k)
{
	struct kevent ev, ch, out[4];
	struct kqt_ends e;
	int kq = kqt_open(), kq2, n, i;
	bool stream = !kqt_is_dgram(k);

	printf("  filter suite: %s\n", kqt_kind_name[k]);
	kqt_make_ends(k, &e);

	/* add: nothing ready, nothing reported */
	KQT_CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ADD, 0, 0, UD1);
	kqt_expect_none(kq);
	kqt_put(&e, 5);
	ev = kqt_expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.data, 5);
	KC_CHECK_PTR_EQ(ev.udata, UD1);
	KC_CHECK(!(ev.flags & EV_ADD));	/* action bits are not returned */
	KC_CHECK_EQ(ev.flags & (EV_EOF | EV_ONESHOT | EV_CLEAR | EV_DISPATCH |
	    EV_ERROR), 0);
	/* level triggered: reported again while readable */
	ev = kqt_expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.data, 5);
	kqt_put(&e, 3);
	ev = kqt_expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.data, ready(&e));
	KC_CHECK_EQ(ev.data, stream ? 8 : 5);

	/* modify: udata replaced */
	KQT_CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ADD, 0, 0, UD2);
	ev = kqt_expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_PTR_EQ(ev.udata, UD2);
	KC_CHECK_EQ(ev.data, ready(&e));

	/* modify: fflags/data replaced (NOTE_LOWAT on, up, off) */
	if (k != K_FILE) {
		KQT_CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ADD, NOTE_LOWAT, 4,
		    UD2);
		ev = kqt_expect_one(kq, e.rd, EVFILT_READ);
		KC_CHECK_EQ(ev.data, ready(&e));
		KQT_CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ADD, NOTE_LOWAT, 100,
		    UD2);
		kqt_expect_none(kq);
		KQT_CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ADD, 0, 0, UD1);
		ev = kqt_expect_one(kq, e.rd, EVFILT_READ);
		KC_CHECK_PTR_EQ(ev.udata, UD1);
		KC_CHECK_EQ(ev.data, ready(&e));
	}

	/* disable / enable */
	KQT_CHANGE_OK(kq, e.rd, EVFILT_READ, EV_DISABLE, 0, 0, NULL);
	kqt_expect_none(kq);
	KQT_CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ENABLE, 0, 0, NULL);
	ev = kqt_expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.data, ready(&e));

	/* delete, then everything on the missing knote is ENOENT */
	KQT_CHANGE_OK(kq, e.rd, EVFILT_READ, EV_DELETE, 0, 0, NULL);
	kqt_expect_none(kq);
	KC_CHECK_EQ(kqt_change(kq, e.rd, EVFILT_READ, EV_DELETE, 0, 0, NULL),
	    ENOENT);
	KC_CHECK_EQ(kqt_change(kq, e.rd, EVFILT_READ, EV_ENABLE, 0, 0, NULL),
	    ENOENT);
	KC_CHECK_EQ(kqt_change(kq, e.rd, EVFILT_READ, EV_DISABLE, 0, 0, NULL),
	    ENOENT);
	KC_CHECK_EQ(kqt_change(kq, e.rd, EVFILT_READ, 0, 0, 0, NULL), ENOENT);
	/* ... also as an EV_ERROR entry when there is room */
	EV_SET(&ch, e.rd, EVFILT_READ, EV_DELETE, 0, 0, UD1);
	n = kevent(kq, &ch, 1, out, 4, &kqt_zero_ts);
	KC_CHECK_EQ(n, 1);
	KC_CHECK(out[0].flags & EV_ERROR);
	KC_CHECK_EQ(out[0].data, ENOENT);
	KC_CHECK_EQ(out[0].ident, (uintptr_t)e.rd);
	KC_CHECK_EQ(out[0].filter, EVFILT_READ);
	KC_CHECK_PTR_EQ(out[0].udata, UD1);
	/* the missing knote was not created by any of that */
	kqt_expect_none(kq);

	/* EV_ONESHOT: once, then gone */
	KQT_CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ADD | EV_ONESHOT, 0, 0, UD1);
	ev = kqt_expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK(ev.flags & EV_ONESHOT);
	KC_CHECK_EQ(ev.data, ready(&e));
	KC_CHECK_PTR_EQ(ev.udata, UD1);
	kqt_expect_none(kq);
	KC_CHECK_EQ(kqt_change(kq, e.rd, EVFILT_READ, EV_DELETE, 0, 0, NULL),
	    ENOENT);
	KC_CHECK_EQ(kqt_change(kq, e.rd, EVFILT_READ, EV_ENABLE, 0, 0, NULL),
	    ENOENT);

	/* EV_DISPATCH: once, then disabled until EV_ENABLE or EV_ADD */
	KQT_CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ADD | EV_DISPATCH, 0, 0, UD2);
	ev = kqt_expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK(ev.flags & EV_DISPATCH);
	KC_CHECK_PTR_EQ(ev.udata, UD2);
	kqt_expect_none(kq);
	KQT_CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ENABLE, 0, 0, NULL);
	ev = kqt_expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK(ev.flags & EV_DISPATCH);
	KC_CHECK_EQ(ev.data, ready(&e));
	kqt_expect_none(kq);
	/* a disabled (dispatched) knote still exists: EV_DISABLE works */
	KQT_CHANGE_OK(kq, e.rd, EVFILT_READ, EV_DISABLE, 0, 0, NULL);
	kqt_expect_none(kq);
	KQT_CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ENABLE, 0, 0, NULL);
	ev = kqt_expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK(ev.flags & EV_DISPATCH);
	kqt_expect_none(kq);
	/* EV_ADD modify re-enables a dispatched knote, still dispatching */
	KQT_CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ADD | EV_DISPATCH, 0, 0, UD1);
	ev = kqt_expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_PTR_EQ(ev.udata, UD1);
	kqt_expect_none(kq);
	/* EV_ADD without EV_DISPATCH replaces the flag: level again */
	KQT_CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ADD, 0, 0, UD2);
	ev = kqt_expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.flags & EV_DISPATCH, 0);
	ev = kqt_expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_PTR_EQ(ev.udata, UD2);
	/* EV_ADD|EV_ONESHOT on the existing knote makes it one-shot */
	KQT_CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ADD | EV_ONESHOT, 0, 0, UD1);
	ev = kqt_expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK(ev.flags & EV_ONESHOT);
	kqt_expect_none(kq);
	KC_CHECK_EQ(kqt_change(kq, e.rd, EVFILT_READ, EV_DELETE, 0, 0, NULL),
	    ENOENT);

	/* EV_RECEIPT: an EV_ERROR entry with data 0, fields copied */
	kqt_drain(&e);
	EV_SET(&ch, e.rd, EVFILT_READ, EV_ADD | EV_RECEIPT, 0, 0, UD2);
	memset(out, 0xa5, sizeof(out));
	n = kevent(kq, &ch, 1, out, 4, &kqt_zero_ts);
	KC_CHECK_EQ(n, 1);
	KC_CHECK(out[0].flags & EV_ERROR);
	KC_CHECK_EQ(out[0].data, 0);
	KC_CHECK_EQ(out[0].ident, (uintptr_t)e.rd);
	KC_CHECK_EQ(out[0].filter, EVFILT_READ);
	KC_CHECK_PTR_EQ(out[0].udata, UD2);
	kqt_expect_none(kq);
	kqt_put(&e, 6);
	ev = kqt_expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.data, 6);
	KC_CHECK_PTR_EQ(ev.udata, UD2);
	/* receipt of a delete */
	EV_SET(&ch, e.rd, EVFILT_READ, EV_DELETE | EV_RECEIPT, 0, 0, UD2);
	memset(out, 0xa5, sizeof(out));
	n = kevent(kq, &ch, 1, out, 4, &kqt_zero_ts);
	KC_CHECK_EQ(n, 1);
	KC_CHECK(out[0].flags & EV_ERROR);
	KC_CHECK_EQ(out[0].data, 0);
	KC_CHECK_EQ(out[0].ident, (uintptr_t)e.rd);
	kqt_expect_none(kq);
	/* receipt with no room: the change is applied, nothing written */
	EV_SET(&ch, e.rd, EVFILT_READ, EV_ADD | EV_RECEIPT, 0, 0, UD1);
	KC_CHECK_EQ(kevent(kq, &ch, 1, NULL, 0, NULL), 0);
	ev = kqt_expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_PTR_EQ(ev.udata, UD1);
	KQT_CHANGE_OK(kq, e.rd, EVFILT_READ, EV_DELETE, 0, 0, NULL);

	/* EV_CLEAR: reported once per new arrival */
	kqt_drain(&e);
	KQT_CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, UD1);
	kqt_expect_none(kq);
	kqt_put(&e, 5);
	ev = kqt_expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK(ev.flags & EV_CLEAR);
	KC_CHECK_EQ(ev.data, 5);
	kqt_expect_none(kq);		/* cleared, though 5 bytes wait */
	kqt_put(&e, 3);			/* new data: fires again */
	ev = kqt_expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.data, stream ? 8 : 5);
	kqt_expect_none(kq);
	kqt_drain(&e);
	kqt_expect_none(kq);
	kqt_put(&e, 2);
	ev = kqt_expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.data, 2);
	kqt_expect_none(kq);
	KQT_CHANGE_OK(kq, e.rd, EVFILT_READ, EV_DELETE, 0, 0, NULL);

	/* several kqueues on one descriptor, each with its own knote */
	kqt_drain(&e);
	kq2 = kqt_open();
	KQT_CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ADD, 0, 0, UD1);
	KQT_CHANGE_OK(kq2, e.rd, EVFILT_READ, EV_ADD, 0, 0, UD2);
	kqt_expect_none(kq);
	kqt_expect_none(kq2);
	kqt_put(&e, 4);
	ev = kqt_expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_PTR_EQ(ev.udata, UD1);
	KC_CHECK_EQ(ev.data, 4);
	ev = kqt_expect_one(kq2, e.rd, EVFILT_READ);
	KC_CHECK_PTR_EQ(ev.udata, UD2);
	KC_CHECK_EQ(ev.data, 4);
	KQT_CHANGE_OK(kq, e.rd, EVFILT_READ, EV_DISABLE, 0, 0, NULL);
	kqt_expect_none(kq);
	/* not disabled there */
	ev = kqt_expect_one(kq2, e.rd, EVFILT_READ);
	KQT_CHANGE_OK(kq, e.rd, EVFILT_READ, EV_DELETE, 0, 0, NULL);
	ev = kqt_expect_one(kq2, e.rd, EVFILT_READ);	/* nor deleted */
	KQT_CHANGE_OK(kq2, e.rd, EVFILT_READ, EV_ADD | EV_ONESHOT, 0, 0, UD2);
	ev = kqt_expect_one(kq2, e.rd, EVFILT_READ);
	KQT_CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ADD, 0, 0, UD1);
	/* kq2's oneshot: no effect */
	ev = kqt_expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_PTR_EQ(ev.udata, UD1);
	kqt_expect_none(kq2);
	KC_CHECK_OK(close(kq2));		/* closing one leaves the other */
	ev = kqt_expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.data, 4);
	/* a descriptor in several kqueues: many at once */
	{
		int kqs[8];

		for (i = 0; i < 8; i++) {
			kqs[i] = kqt_open();
			KQT_CHANGE_OK(kqs[i], e.rd, EVFILT_READ, EV_ADD, 0, 0,
			    (void *)(uintptr_t)(i + 1));
		}
		for (i = 0; i < 8; i++) {
			ev = kqt_expect_one(kqs[i], e.rd, EVFILT_READ);
			KC_CHECK_PTR_EQ(ev.udata, (void *)(uintptr_t)(i + 1));
		}
		kqt_drain(&e);
		for (i = 0; i < 8; i++)
			kqt_expect_none(kqs[i]);
		for (i = 0; i < 8; i++)
			KC_CHECK_OK(close(kqs[i]));
	}
	kqt_expect_none(kq);

	kqt_close_ends(&e);
	KC_CHECK_OK(close(kq));
}

/* EV_EOF on hang-up with bytes still counted; shut says how to hang up. */
enum hangup { H_CLOSE, H_SHUTDOWN };

static void
test_eof(enum kqt_kind k, enum hangup how)
{
	struct kevent ev, ch;
	struct kqt_ends e;
	char buf[16];
	int kq = kqt_open();

	printf("  eof: %s (%s)\n", kqt_kind_name[k],
	    how == H_CLOSE ? "close" : "shutdown");
	kqt_make_ends(k, &e);
	KQT_CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ADD, 0, 0, UD1);
	kqt_put(&e, 7);
	ev = kqt_expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.flags & EV_EOF, 0);
	if (how == H_CLOSE) {
		KC_CHECK_OK(close(e.wr));
		e.wr = -1;
	} else {
		KC_CHECK_OK(shutdown(e.wr, SHUT_WR));
	}
	ev = kqt_wait_eof(kq, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.data, 7);		/* still counted */
	KC_CHECK_PTR_EQ(ev.udata, UD1);
	if (k == K_TCP || k == K_USTREAM)
		KC_CHECK_EQ(ev.fflags, 0);	/* no socket error */
	/* level: the same again */
	ev = kqt_expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK(ev.flags & EV_EOF);
	KC_CHECK_EQ(ev.data, 7);
	/* read part: the count follows */
	KC_CHECK_EQ(read(e.rd, buf, 3), 3);
	ev = kqt_expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK(ev.flags & EV_EOF);
	KC_CHECK_EQ(ev.data, 4);
	/* drained: still EOF, data 0 */
	KC_CHECK_EQ(read(e.rd, buf, sizeof(buf)), 4);
	KC_CHECK_EQ(read(e.rd, buf, sizeof(buf)), 0);
	ev = kqt_expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK(ev.flags & EV_EOF);
	KC_CHECK_EQ(ev.data, 0);
	/* EV_CLEAR on a hung-up descriptor: once */
	KQT_CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, UD2);
	ev = kqt_expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK(ev.flags & EV_EOF);
	kqt_expect_none(kq);
	/* EV_ONESHOT on it: once and gone */
	KQT_CHANGE_OK(kq, e.rd, EVFILT_READ, EV_DELETE, 0, 0, NULL);
	KQT_CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ADD | EV_ONESHOT, 0, 0, UD2);
	ev = kqt_expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK(ev.flags & EV_EOF);
	kqt_expect_none(kq);
	/* EV_RECEIPT is the knote's: the EOF event carries it. */
	EV_SET(&ch, (uintptr_t)e.rd, EVFILT_READ, EV_ADD | EV_RECEIPT, 0, 0,
	    UD1);
	KC_CHECK_EQ(kevent(kq, &ch, 1, &ev, 1, &kqt_zero_ts), 1);
	KC_CHECK_EQ(ev.flags, EV_ERROR);
	KC_CHECK_EQ(ev.data, 0);
	ev = kqt_expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.flags, EV_EOF | EV_RECEIPT);
	kqt_close_ends(&e);
	KC_CHECK_OK(close(kq));
}

/* TCP reset: EV_EOF with fflags ECONNRESET. */
static void
test_tcp_reset(void)
{
	struct linger lg = { 1, 0 };
	struct kevent ev;
	int a, b, kq = kqt_open();

	printf("  tcp reset\n");
	kqt_tcp_pair(&a, &b);
	kqt_set_nonblock(a);
	KQT_CHANGE_OK(kq, a, EVFILT_READ, EV_ADD, 0, 0, UD1);
	kqt_expect_none(kq);
	KC_CHECK_OK(setsockopt(b, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)));
	KC_CHECK_OK(close(b));
	ev = kqt_wait_eof(kq, a, EVFILT_READ);
	KC_CHECK_EQ(ev.fflags, ECONNRESET);
	KC_CHECK_PTR_EQ(ev.udata, UD1);
	/* still hung up afterwards (the error may have been consumed) */
	ev = kqt_expect_one(kq, a, EVFILT_READ);
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
	int l, c[3], i, n, kq = kqt_open(), a;
	int64_t last = 0;

	printf("  listen backlog\n");
	l = kqt_tcp_listener(&sin, 16);
	kqt_set_nonblock(l);
	KQT_CHANGE_OK(kq, l, EVFILT_READ, EV_ADD, 0, 0, UD2);
	kqt_expect_none(kq);
	for (i = 0; i < 3; i++) {
		c[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		KC_CHECK_GE(c[i], 0);
		KC_CHECK_OK(connect(c[i], (struct sockaddr *)&sin,
		    sizeof(sin)));
	}
	/* the handshakes complete asynchronously: poll (bounded) for 3 */
	dl = kct_now_ns() + 5 * KCT_NSEC_PER_SEC;
	for (;;) {
		n = kqt_collect(kq, ev, 4, 100);
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
	n = kqt_collect(kq, ev, 4, KQT_WAIT_MS);
	KC_CHECK_EQ(n, 1);
	KC_CHECK_EQ(ev[0].data, 2);
	for (i = 0; i < 2; i++) {
		a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		KC_CHECK_GE(a, 0);
		KC_CHECK_OK(close(a));
	}
	kqt_expect_none(kq);
	for (i = 0; i < 3; i++)
		KC_CHECK_OK(close(c[i]));
	KC_CHECK_OK(close(l));
	KC_CHECK_OK(close(kq));
}

/* NOTE_LOWAT is per knote: two kqueues, two marks. */
static void
test_lowat(enum kqt_kind k)
{
	struct kevent ev;
	struct kqt_ends e;
	int kqa = kqt_open(), kqb = kqt_open();

	printf("  lowat: %s\n", kqt_kind_name[k]);
	kqt_make_ends(k, &e);
	KQT_CHANGE_OK(kqa, e.rd, EVFILT_READ, EV_ADD, NOTE_LOWAT, 10, UD1);
	KQT_CHANGE_OK(kqb, e.rd, EVFILT_READ, EV_ADD, NOTE_LOWAT, 3, UD2);
	kqt_expect_none(kqa);
	kqt_expect_none(kqb);
	kqt_put(&e, 2);
	kqt_expect_none(kqa);
	kqt_expect_none(kqb);
	kqt_put(&e, 3);				/* 5: b only */
	ev = kqt_expect_one(kqb, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.data, 5);
	KC_CHECK_PTR_EQ(ev.udata, UD2);
	kqt_expect_none(kqa);
	kqt_put(&e, 5);				/* 10: both */
	ev = kqt_expect_one(kqa, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.data, 10);
	KC_CHECK_PTR_EQ(ev.udata, UD1);
	ev = kqt_expect_one(kqb, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.data, 10);
	kqt_drain(&e);
	kqt_expect_none(kqa);
	kqt_expect_none(kqb);
	kqt_put(&e, 2);
	kqt_expect_none(kqa);
	kqt_expect_none(kqb);
	/* EOF overrides the mark */
	KC_CHECK_OK(close(e.wr));
	e.wr = -1;
	ev = kqt_wait_eof(kqa, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.data, 2);
	ev = kqt_wait_eof(kqb, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.data, 2);
	kqt_close_ends(&e);
	KC_CHECK_OK(close(kqa));
	KC_CHECK_OK(close(kqb));
}

/* A zero-length datagram: readable, data 0, no EV_EOF. */
static void
test_zero_dgram(enum kqt_kind k)
{
	struct kevent ev;
	struct kqt_ends e;
	char buf[8];
	int kq = kqt_open();

	printf("  zero-length datagram: %s\n", kqt_kind_name[k]);
	memset(buf, 0, sizeof(buf));
	kqt_make_ends(k, &e);
	KQT_CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ADD, 0, 0, UD1);
	kqt_expect_none(kq);
	KC_CHECK_EQ(send(e.wr, buf, 0, 0), 0);
	ev = kqt_expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.data, 0);
	KC_CHECK_EQ(ev.flags & EV_EOF, 0);
	ev = kqt_expect_one(kq, e.rd, EVFILT_READ);	/* still there */
	KC_CHECK_EQ(ev.data, 0);
	KC_CHECK_EQ(ev.flags & EV_EOF, 0);
	KC_CHECK_EQ(recv(e.rd, buf, sizeof(buf), 0), 0);
	kqt_expect_none(kq);
	kqt_put(&e, 3);
	ev = kqt_expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.data, 3);
	KC_CHECK_EQ(ev.flags & EV_EOF, 0);
	kqt_close_ends(&e);
	KC_CHECK_OK(close(kq));
}

/* EV_ADD|EV_DISABLE on a ready descriptor, many times: never reported. */
static void
test_add_disabled_loop(void)
{
	struct kevent ch, out[4];
	unsigned i, iters = kct_sanitized() ? 10000 : 100000;
	struct kqt_ends e;
	int kq = kqt_open(), n;

	printf("  EV_ADD|EV_DISABLE x %u\n", iters);
	kqt_make_ends(K_PIPE, &e);
	kqt_put(&e, 1);
	for (i = 0; i < iters; i++) {
		if (i & 1) {
			/* the add and the poll in one call */
			EV_SET(&ch, e.rd, EVFILT_READ, EV_ADD | EV_DISABLE, 0,
			    0, UD1);
			n = kevent(kq, &ch, 1, out, 4, &kqt_zero_ts);
		} else {
			KQT_CHANGE_OK(kq, e.rd, EVFILT_READ,
			    EV_ADD | EV_DISABLE,
			    0, 0, UD1);
			n = kevent(kq, NULL, 0, out, 4, &kqt_zero_ts);
		}
		if (n != 0)
			kct_fail(__FILE__, __LINE__, "iteration %u: %d events"
			    " (flags %#x data %jd)", i, n, out[0].flags,
			    (intmax_t)out[0].data);
		KQT_CHANGE_OK(kq, e.rd, EVFILT_READ, EV_DELETE, 0, 0, NULL);
	}
	/* and the descriptor is still fine for a normal knote */
	KQT_CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ADD | EV_DISABLE, 0, 0, UD2);
	kqt_expect_none(kq);
	KQT_CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ENABLE, 0, 0, NULL);
	(void)kqt_expect_one(kq, e.rd, EVFILT_READ);
	kqt_close_ends(&e);
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
	int p[2], s[2], x, fd, kq = kqt_open();

	printf("  descriptor reuse (%s at close)\n",
	    ready_at_close ? "ready" : "idle");
	KC_CHECK_OK(pipe2(p, O_CLOEXEC));
	x = p[0];
	KQT_CHANGE_OK(kq, x, EVFILT_READ, EV_ADD, 0, 0, UD1);
	if (ready_at_close) {
		KC_CHECK_EQ(write(p[1], "a", 1), 1);
		(void)kqt_expect_one(kq, x, EVFILT_READ);
	}
	KC_CHECK_OK(close(x));
	if (ready_at_close)
		kqt_expect_none(kq);
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
	KC_CHECK_EQ(kqt_collect(kq, ev, 4, 200), 0);
	KC_CHECK_EQ(kqt_change(kq, x, EVFILT_READ, EV_DELETE, 0, 0, NULL),
	    ENOENT);
	KC_CHECK_EQ(kqt_change(kq, x, EVFILT_READ, EV_ENABLE, 0, 0, NULL),
	    ENOENT);
	KC_CHECK_EQ(kqt_collect(kq, ev, 4, 0), 0);
	/* re-added: the new file, the new udata */
	KQT_CHANGE_OK(kq, x, EVFILT_READ, EV_ADD, 0, 0, UD2);
	ev[0] = kqt_expect_one(kq, x, EVFILT_READ);
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
	struct kqt_ends e;
	int kq = kqt_open();

	printf("  file offset\n");
	kqt_make_ends(K_FILE, &e);
	kqt_put(&e, 10);
	KQT_CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ADD, 0, 0, UD1);
	ev = kqt_expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.data, 10);
	KC_CHECK_EQ(lseek(e.rd, 4, SEEK_SET), 4);
	ev = kqt_expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.data, 6);
	KC_CHECK_EQ(lseek(e.rd, 0, SEEK_END), 10);
	kqt_expect_none(kq);
	kqt_put(&e, 5);
	ev = kqt_expect_one(kq, e.rd, EVFILT_READ);
	KC_CHECK_EQ(ev.data, 5);
	kqt_close_ends(&e);
	KC_CHECK_OK(close(kq));
}

/* The inotify watches the process holds: "inotify wd:" lines of every
   inotify descriptor's fdinfo. */
static int
inotify_watches(void)
{
	char path[64], link[64], line[256];
	int fd, n = 0;
	ssize_t len;
	FILE *f;

	for (fd = 0; fd < 1024; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if ((len = readlink(path, link, sizeof(link) - 1)) < 0)
			continue;
		link[len] = '\0';
		if (strcmp(link, "anon_inode:inotify") != 0)
			continue;
		snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		while (fgets(line, sizeof(line), f) != NULL)
			n += strncmp(line, "inotify wd:", 11) == 0;
		fclose(f);
	}
	return n;
}

/*
 * Knotes on one file share one inotify watch (READ on two descriptors of
 * it, and a VNODE knote): each delete leaves the others woken by growth,
 * and the watch goes with the last of them.
 */
static void
test_file_shared_watch(void)
{
	struct kevent ev, evs[4];
	struct kqt_ends e;
	char path[64];
	int kq = kqt_open(), rd2, base;

	printf("  file: one watch shared by its knotes\n");
	kqt_make_ends(K_FILE, &e);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", e.rd);
	rd2 = open(path, O_RDONLY | O_CLOEXEC);
	KC_CHECK_GE(rd2, 0);
	base = inotify_watches();
	KQT_CHANGE_OK(kq, e.rd, EVFILT_READ, EV_ADD, 0, 0, UD1);
	KQT_CHANGE_OK(kq, rd2, EVFILT_READ, EV_ADD, 0, 0, UD2);
	KQT_CHANGE_OK(kq, e.rd, EVFILT_VNODE, EV_ADD | EV_CLEAR, NOTE_WRITE,
	    0, UD1);
	kqt_expect_none(kq);
	KC_CHECK_EQ(inotify_watches(), base + 1);
	KQT_CHANGE_OK(kq, e.rd, EVFILT_READ, EV_DELETE, 0, 0, NULL);
	KC_CHECK_EQ(inotify_watches(), base + 1);
	kqt_put(&e, 5);
	/* Both, in either order (a kqueue does not promise one). */
	KC_CHECK_EQ(kqt_collect(kq, evs, 4, 2000), 2);
	if (evs[0].filter != EVFILT_VNODE) {
		ev = evs[0];
		evs[0] = evs[1];
		evs[1] = ev;
	}
	KC_CHECK_EQ(evs[0].ident, (uintptr_t)e.rd);
	KC_CHECK_EQ(evs[0].filter, EVFILT_VNODE);
	KC_CHECK(evs[0].fflags & NOTE_WRITE);
	KC_CHECK_EQ(evs[1].ident, (uintptr_t)rd2);
	KC_CHECK_EQ(evs[1].filter, EVFILT_READ);
	KC_CHECK_PTR_EQ(evs[1].udata, UD2);
	KC_CHECK_EQ(evs[1].data, 5);
	KQT_CHANGE_OK(kq, e.rd, EVFILT_VNODE, EV_DELETE, 0, 0, NULL);
	KC_CHECK_EQ(lseek(rd2, 0, SEEK_END), 5);
	kqt_expect_none(kq);
	kqt_put(&e, 3);
	ev = kqt_expect_one(kq, rd2, EVFILT_READ);
	KC_CHECK_EQ(ev.data, 3);
	KC_CHECK_EQ(inotify_watches(), base + 1);
	KQT_CHANGE_OK(kq, rd2, EVFILT_READ, EV_DELETE, 0, 0, NULL);
	KC_CHECK_EQ(inotify_watches(), base);
	KC_CHECK_OK(close(rd2));
	kqt_close_ends(&e);
	KC_CHECK_OK(close(kq));
}

/*
 * A descriptor epoll cannot watch (/dev/null) is always ready, also when
 * its knote is added disabled and enabled later (issue 13, defect 4).
 */
static void
test_unwatchable_enable(void)
{
	struct kevent ev;
	int kq = kqt_open(), rd, wr;

	rd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	wr = open("/dev/null", O_WRONLY | O_CLOEXEC);
	KC_CHECK_GE(rd, 0);
	KC_CHECK_GE(wr, 0);
	KQT_CHANGE_OK(kq, rd, EVFILT_READ, EV_ADD | EV_DISABLE, 0, 0, UD1);
	KQT_CHANGE_OK(kq, wr, EVFILT_WRITE, EV_ADD | EV_DISABLE, 0, 0, UD2);
	kqt_expect_none(kq);
	/* Each always ready, level-triggered: one at a time. */
	KQT_CHANGE_OK(kq, rd, EVFILT_READ, EV_ENABLE, 0, 0, NULL);
	ev = kqt_expect_one(kq, rd, EVFILT_READ);
	KC_CHECK_PTR_EQ(ev.udata, UD1);
	ev = kqt_expect_one(kq, rd, EVFILT_READ);
	KQT_CHANGE_OK(kq, rd, EVFILT_READ, EV_DISABLE, 0, 0, NULL);
	kqt_expect_none(kq);
	KQT_CHANGE_OK(kq, wr, EVFILT_WRITE, EV_ENABLE, 0, 0, NULL);
	ev = kqt_expect_one(kq, wr, EVFILT_WRITE);
	KC_CHECK_PTR_EQ(ev.udata, UD2);
	KQT_CHANGE_OK(kq, wr, EVFILT_WRITE, EV_DELETE, 0, 0, NULL);
	kqt_expect_none(kq);
	/* Modified while disabled: EV_ADD enables it, still always ready. */
	KQT_CHANGE_OK(kq, rd, EVFILT_READ, EV_ADD, 0, 0, UD2);
	ev = kqt_expect_one(kq, rd, EVFILT_READ);
	KC_CHECK_PTR_EQ(ev.udata, UD2);
	KC_CHECK_OK(close(rd));
	KC_CHECK_OK(close(wr));
	KC_CHECK_OK(close(kq));
}

int
main(void)
{
	int k;

	kct_begin("kq-read", 100);
	signal(SIGPIPE, SIG_IGN);
	snprintf(kqt_tmpdir, sizeof(kqt_tmpdir), "/tmp/kq-read.XXXXXX");
	KC_CHECK(mkdtemp(kqt_tmpdir) != NULL);

	for (k = 0; k < K_NKINDS; k++)
		filter_suite((enum kqt_kind)k);

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
	test_file_shared_watch();
	test_fd_reuse(false);
	test_fd_reuse(true);
	test_add_disabled_loop();

	KC_CHECK_OK(rmdir(kqt_tmpdir));
	test_unwatchable_enable();
	return kct_done();
}
