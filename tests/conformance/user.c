/*
 * kq-user: EVFILT_USER conformance (kq-spec.md, "EVFILT_USER").
 *
 * Covers: EV_ADD registers without triggering, NOTE_TRIGGER triggers (also
 * with flags 0, the usual FreeBSD form), NOTE_FFNOP / NOTE_FFAND / NOTE_FFOR
 * / NOTE_FFCOPY on the stored low 24 bits (output fflags = the stored value,
 * NOTE_TRIGGER and the control bits cleared; the stored value persists across
 * retrievals; an update without NOTE_TRIGGER changes it without triggering),
 * coalescing of triggers before retrieval, EV_CLEAR (reset after retrieval)
 * against no EV_CLEAR (stays active), add, delete, delete / enable / disable
 * / trigger of a missing knote -> ENOENT, EV_ADD|EV_DISABLE, EV_DISABLE and
 * EV_ENABLE, EV_ONESHOT, EV_DISPATCH, EV_RECEIPT, udata round trip, EV_ADD
 * modify replacing udata and fflags, several kqueues with the same ident
 * (independent), output flags echoing the knote's (EV_RECEIPT included, the
 * action bits never, as FreeBSD returns kn_flags), a receipt for a new
 * knote with fflags 0, a trigger from another thread waking a thread
 * blocked in kevent(), and 10^6 cross-thread NOTE_TRIGGERs with none lost:
 * two threads play ping-pong, each with its own kqueue and EV_CLEAR user
 * knote, every trigger carrying its round number through NOTE_FFCOPY, so
 * that a lost trigger (a bounded wait expires) or a stale or duplicated one
 * (wrong round number) is caught.  Under a sanitizer 10^5 triggers.
 */
#include <sys/event.h>

#include "kctest.h"
#include "kqtest.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#define CHANGE_OK(kq, id, fl, ff, ud) \
	KQT_CHANGE_OK(kq, id, EVFILT_USER, fl, ff, 0, ud)
#define TRIGGER(kq, id, ff) \
	CHANGE_OK(kq, id, 0, NOTE_TRIGGER | (ff), NULL)
#define change_err(kq, id, fl, ff, err) \
	kqt_change_err(kq, id, EVFILT_USER, fl, ff, 0, (void *)0x77, err)

/* Exactly one user event for ident (bounded wait); returns its fflags. */
static unsigned
get_one(int kq, uintptr_t ident, struct kevent *ev)
{
	kqt_get_one(kq, ident, EVFILT_USER, 10000, ev);
	/* Control bits and NOTE_TRIGGER never appear on output. */
	KC_CHECK_EQ(ev->fflags & ~(unsigned)NOTE_FFLAGSMASK, 0);
	return ev->fflags;
}

static void
test_basic(void)
{
	struct kevent ev;
	int kq = kqueue();

	KC_CHECK_GE(kq, 0);
	CHANGE_OK(kq, 1, EV_ADD | EV_CLEAR, 0, (void *)0x1234);
	/* registered, not triggered */
	kqt_expect_none_ms(kq, 30);
	TRIGGER(kq, 1, 0);
	get_one(kq, 1, &ev);
	KC_CHECK_PTR_EQ(ev.udata, (void *)0x1234);
	KC_CHECK(ev.flags & EV_CLEAR);
	KC_CHECK(!(ev.flags & EV_ADD));	/* action bits are not returned */
	KC_CHECK_EQ(ev.fflags, 0);
	kqt_expect_none_ms(kq, 0);			/* EV_CLEAR: reset */
	/* The trigger may also ride on EV_ADD of the existing knote. */
	CHANGE_OK(kq, 1, EV_ADD | EV_CLEAR, NOTE_TRIGGER, (void *)0x1234);
	get_one(kq, 1, &ev);
	kqt_expect_none_ms(kq, 0);
	/* Delete: a trigger now fails, nothing is reported. */
	TRIGGER(kq, 1, 0);
	CHANGE_OK(kq, 1, EV_DELETE, 0, NULL);	/* also drops the pending one */
	kqt_expect_none_ms(kq, 30);
	change_err(kq, 1, EV_DELETE, 0, ENOENT);
	change_err(kq, 1, 0, NOTE_TRIGGER, ENOENT);
	change_err(kq, 2, EV_ENABLE, 0, ENOENT);
	change_err(kq, 2, EV_DISABLE, 0, ENOENT);
	change_err(kq, 2, 0, 0, ENOENT);
	/* Large idents are distinct knotes. */
	CHANGE_OK(kq, UINTPTR_MAX, EV_ADD | EV_CLEAR, 0, (void *)1);
	CHANGE_OK(kq, 0, EV_ADD | EV_CLEAR, 0, (void *)2);
	TRIGGER(kq, UINTPTR_MAX, 0);
	get_one(kq, UINTPTR_MAX, &ev);
	KC_CHECK_PTR_EQ(ev.udata, (void *)1);
	kqt_expect_none_ms(kq, 0);
	TRIGGER(kq, 0, 0);
	get_one(kq, 0, &ev);
	KC_CHECK_PTR_EQ(ev.udata, (void *)2);
	close(kq);
}

/* NOTE_FF* on the stored low 24 bits. */
static void
test_fflags_ops(void)
{
	struct kevent ev;
	int kq = kqueue();

	KC_CHECK_GE(kq, 0);
	CHANGE_OK(kq, 5, EV_ADD | EV_CLEAR, 0, NULL);
	TRIGGER(kq, 5, NOTE_FFCOPY | 0x123456);
	KC_CHECK_EQ(get_one(kq, 5, &ev), 0x123456);
	/* Stored value persists across retrievals. */
	TRIGGER(kq, 5, NOTE_FFNOP);
	KC_CHECK_EQ(get_one(kq, 5, &ev), 0x123456);
	TRIGGER(kq, 5, NOTE_FFOR | 0x000f00);
	KC_CHECK_EQ(get_one(kq, 5, &ev), 0x123f56);
	TRIGGER(kq, 5, NOTE_FFAND | 0x00ff00);
	KC_CHECK_EQ(get_one(kq, 5, &ev), 0x003f00);
	/* FFNOP ignores the input bits. */
	TRIGGER(kq, 5, NOTE_FFNOP | 0xabcdef);
	KC_CHECK_EQ(get_one(kq, 5, &ev), 0x003f00);
	/* All 24 bits. */
	TRIGGER(kq, 5, NOTE_FFCOPY | 0xffffff);
	KC_CHECK_EQ(get_one(kq, 5, &ev), 0xffffff);
	TRIGGER(kq, 5, NOTE_FFAND | 0x800001);
	KC_CHECK_EQ(get_one(kq, 5, &ev), 0x800001);
	TRIGGER(kq, 5, NOTE_FFCOPY);
	KC_CHECK_EQ(get_one(kq, 5, &ev), 0);
	TRIGGER(kq, 5, NOTE_FFOR | 0x10);
	KC_CHECK_EQ(get_one(kq, 5, &ev), 0x10);
	/* An update without NOTE_TRIGGER changes the value, no event. */
	CHANGE_OK(kq, 5, 0, NOTE_FFCOPY | 0x42, NULL);
	kqt_expect_none_ms(kq, 20);
	TRIGGER(kq, 5, NOTE_FFNOP);
	KC_CHECK_EQ(get_one(kq, 5, &ev), 0x42);
	/* Ops between triggers combine before retrieval (coalesced). */
	TRIGGER(kq, 5, NOTE_FFCOPY | 0x1);
	TRIGGER(kq, 5, NOTE_FFOR | 0x2);
	TRIGGER(kq, 5, NOTE_FFOR | 0x4);
	CHANGE_OK(kq, 5, 0, NOTE_FFAND | 0x6, NULL);
	KC_CHECK_EQ(get_one(kq, 5, &ev), 0x6);
	kqt_expect_none_ms(kq, 0);
	/* EV_ADD modify with FFCOPY replaces the stored value (and udata). */
	CHANGE_OK(kq, 5, EV_ADD | EV_CLEAR, NOTE_FFCOPY | 0x999, (void *)0x99);
	kqt_expect_none_ms(kq, 0);
	TRIGGER(kq, 5, 0);
	KC_CHECK_EQ(get_one(kq, 5, &ev), 0x999);
	KC_CHECK_PTR_EQ(ev.udata, (void *)0x99);
	close(kq);
}

/* Coalescing; EV_CLEAR against no EV_CLEAR. */
static void
test_coalesce_clear(void)
{
	struct kevent ev[4];
	int kq = kqueue(), i;

	KC_CHECK_GE(kq, 0);
	CHANGE_OK(kq, 1, EV_ADD | EV_CLEAR, 0, NULL);
	for (i = 0; i < 10; i++)
		TRIGGER(kq, 1, 0);
	KC_CHECK_EQ(kqt_collect(kq, ev, 4, 10000), 1);	/* one event */
	KC_CHECK_EQ(ev[0].ident, 1);
	kqt_expect_none_ms(kq, 20);
	/* Fires again on a new trigger, once per retrieval. */
	for (i = 0; i < 5; i++) {
		TRIGGER(kq, 1, 0);
		get_one(kq, 1, &ev[0]);
		kqt_expect_none_ms(kq, 0);
	}

	/* Without EV_CLEAR a triggered user event stays active. */
	CHANGE_OK(kq, 2, EV_ADD, 0, (void *)0x2);
	kqt_expect_none_ms(kq, 0);
	TRIGGER(kq, 2, 0);
	for (i = 0; i < 3; i++) {
		get_one(kq, 2, &ev[0]);
		KC_CHECK_PTR_EQ(ev[0].udata, (void *)0x2);
	}
	/* Disabling stops it; enabling brings it back (still triggered). */
	CHANGE_OK(kq, 2, EV_DISABLE, 0, NULL);
	kqt_expect_none_ms(kq, 30);
	CHANGE_OK(kq, 2, EV_ENABLE, 0, NULL);
	get_one(kq, 2, &ev[0]);
	CHANGE_OK(kq, 2, EV_DELETE, 0, NULL);
	kqt_expect_none_ms(kq, 0);
	close(kq);
}

/* EV_ADD|EV_DISABLE, EV_DISABLE/EV_ENABLE, ONESHOT, DISPATCH, RECEIPT. */
static void
test_flags(void)
{
	struct kevent ch[4], out[4], ev;
	struct timespec zero = { 0, 0 };
	int kq = kqueue(), r, i;

	KC_CHECK_GE(kq, 0);
	/* Added disabled, triggered: delivered only after EV_ENABLE. */
	CHANGE_OK(kq, 1, EV_ADD | EV_CLEAR | EV_DISABLE, 0, (void *)0x11);
	TRIGGER(kq, 1, NOTE_FFCOPY | 0x11);
	kqt_expect_none_ms(kq, 30);
	CHANGE_OK(kq, 1, EV_ENABLE, 0, NULL);
	KC_CHECK_EQ(get_one(kq, 1, &ev), 0x11);
	KC_CHECK_PTR_EQ(ev.udata, (void *)0x11);
	/* Disabled after the trigger, before retrieval: not delivered. */
	TRIGGER(kq, 1, 0);
	CHANGE_OK(kq, 1, EV_DISABLE, 0, NULL);
	kqt_expect_none_ms(kq, 30);
	CHANGE_OK(kq, 1, EV_ENABLE, 0, NULL);
	get_one(kq, 1, &ev);
	kqt_expect_none_ms(kq, 0);
	CHANGE_OK(kq, 1, EV_DELETE, 0, NULL);

	/* EV_ONESHOT: delivered once, then deleted. */
	CHANGE_OK(kq, 2, EV_ADD | EV_ONESHOT, 0, (void *)0x22);
	TRIGGER(kq, 2, 0);
	TRIGGER(kq, 2, 0);
	get_one(kq, 2, &ev);
	KC_CHECK(ev.flags & EV_ONESHOT);
	KC_CHECK_PTR_EQ(ev.udata, (void *)0x22);
	kqt_expect_none_ms(kq, 20);
	change_err(kq, 2, 0, NOTE_TRIGGER, ENOENT);
	change_err(kq, 2, EV_DELETE, 0, ENOENT);

	/* EV_DISPATCH: once, then disabled until EV_ENABLE. */
	CHANGE_OK(kq, 3, EV_ADD | EV_DISPATCH | EV_CLEAR, 0, (void *)0x33);
	for (i = 0; i < 4; i++) {
		TRIGGER(kq, 3, NOTE_FFCOPY | (unsigned)i);
		KC_CHECK_EQ(get_one(kq, 3, &ev), (unsigned)i);
		KC_CHECK(ev.flags & EV_DISPATCH);
		KC_CHECK_PTR_EQ(ev.udata, (void *)0x33);
		TRIGGER(kq, 3, NOTE_FFCOPY | (unsigned)(100 + i));
		kqt_expect_none_ms(kq, 20);		/* disabled */
		CHANGE_OK(kq, 3, EV_ENABLE, 0, NULL);
		/* The trigger made while disabled is delivered now. */
		KC_CHECK_EQ(get_one(kq, 3, &ev), (unsigned)(100 + i));
		CHANGE_OK(kq, 3, EV_ENABLE, 0, NULL);
		kqt_expect_none_ms(kq, 0);
	}
	/* Without EV_CLEAR, DISPATCH still gives one event per enable. */
	CHANGE_OK(kq, 4, EV_ADD | EV_DISPATCH, 0, NULL);
	TRIGGER(kq, 4, 0);
	for (i = 0; i < 3; i++) {
		get_one(kq, 4, &ev);
		kqt_expect_none_ms(kq, 20);
		CHANGE_OK(kq, 4, EV_ENABLE, 0, NULL);
	}
	CHANGE_OK(kq, 4, EV_DELETE, 0, NULL);
	CHANGE_OK(kq, 3, EV_DELETE, 0, NULL);
	kqt_expect_none_ms(kq, 0);

	/* EV_RECEIPT, mixed with a failing change, in order. */
	EV_SET(&ch[0], 7, EVFILT_USER, EV_ADD | EV_CLEAR | EV_RECEIPT, 0, 0,
	    (void *)0x7);
	EV_SET(&ch[1], 8, EVFILT_USER, EV_DELETE, 0, 0, (void *)0x8);
	EV_SET(&ch[2], 7, EVFILT_USER, EV_RECEIPT, NOTE_TRIGGER, 0, NULL);
	EV_SET(&ch[3], 9, EVFILT_USER, EV_ADD, 0, 0, NULL);
	memset(out, 0, sizeof(out));
	r = kevent(kq, ch, 4, out, 3, &zero);
	KC_CHECK_EQ(r, 3);
	KC_CHECK_EQ(out[0].ident, 7);
	KC_CHECK_EQ(out[0].filter, EVFILT_USER);
	KC_CHECK(out[0].flags & EV_ERROR);
	KC_CHECK_EQ(out[0].data, 0);
	KC_CHECK_PTR_EQ(out[0].udata, (void *)0x7);
	KC_CHECK_EQ(out[1].ident, 8);
	KC_CHECK(out[1].flags & EV_ERROR);
	KC_CHECK_EQ(out[1].data, ENOENT);
	KC_CHECK_EQ(out[2].ident, 7);
	KC_CHECK(out[2].flags & EV_ERROR);
	KC_CHECK_EQ(out[2].data, 0);
	/* The fourth change (no receipt) was applied too; the trigger holds. */
	get_one(kq, 7, &ev);
	KC_CHECK_PTR_EQ(ev.udata, (void *)0x7);
	kqt_expect_none_ms(kq, 0);
	CHANGE_OK(kq, 9, EV_DELETE, 0, NULL);
	/* A failing change with no room: -1 and errno. */
	EV_SET(&ch[0], 10, EVFILT_USER, EV_DELETE, 0, 0, NULL);
	EV_SET(&ch[1], 11, EVFILT_USER, EV_ADD, 0, 0, NULL);
	errno = 0;
	r = kevent(kq, ch, 2, NULL, 0, NULL);
	KC_CHECK_EQ(r, -1);
	KC_CHECK_EQ(errno, ENOENT);
	(void)kqt_change(kq, 11, EVFILT_USER, EV_DELETE, 0, 0, NULL);
	CHANGE_OK(kq, 7, EV_DELETE, 0, NULL);
	close(kq);
}

/* udata round trip and EV_ADD modify. */
static void
test_udata_modify(void)
{
	struct kevent ev;
	int kq = kqueue();

	KC_CHECK_GE(kq, 0);
	CHANGE_OK(kq, 3, EV_ADD | EV_CLEAR, 0,
	    (void *)(uintptr_t)0x8000000000000001ull);
	TRIGGER(kq, 3, 0);
	get_one(kq, 3, &ev);
	KC_CHECK_PTR_EQ(ev.udata, (void *)(uintptr_t)0x8000000000000001ull);
	/* Modify: new udata; a pending trigger survives the modify. */
	TRIGGER(kq, 3, 0);
	CHANGE_OK(kq, 3, EV_ADD | EV_CLEAR, 0, (void *)0xbeef);
	get_one(kq, 3, &ev);
	KC_CHECK_PTR_EQ(ev.udata, (void *)0xbeef);
	kqt_expect_none_ms(kq, 0);
	/* Modify to ONESHOT: replaced flags. */
	CHANGE_OK(kq, 3, EV_ADD | EV_ONESHOT, 0, (void *)0xcafe);
	TRIGGER(kq, 3, 0);
	get_one(kq, 3, &ev);
	KC_CHECK(ev.flags & EV_ONESHOT);
	KC_CHECK_PTR_EQ(ev.udata, (void *)0xcafe);
	change_err(kq, 3, EV_DELETE, 0, ENOENT);
	/* A NULL udata round trip. */
	CHANGE_OK(kq, 4, EV_ADD | EV_ONESHOT, 0, NULL);
	TRIGGER(kq, 4, 0);
	get_one(kq, 4, &ev);
	KC_CHECK_PTR_EQ(ev.udata, NULL);
	close(kq);
}

/* Same ident on several kqueues: independent knotes. */
static void
test_several_kqueues(void)
{
	struct kevent ev;
	int kq1 = kqueue(), kq2 = kqueue();

	KC_CHECK_GE(kq1, 0);
	KC_CHECK_GE(kq2, 0);
	CHANGE_OK(kq1, 42, EV_ADD | EV_CLEAR, 0, (void *)1);
	CHANGE_OK(kq2, 42, EV_ADD | EV_CLEAR, 0, (void *)2);
	TRIGGER(kq1, 42, NOTE_FFCOPY | 0x10);
	get_one(kq1, 42, &ev);
	KC_CHECK_PTR_EQ(ev.udata, (void *)1);
	KC_CHECK_EQ(ev.fflags, 0x10);
	kqt_expect_none_ms(kq2, 30);
	TRIGGER(kq2, 42, NOTE_FFCOPY | 0x20);
	get_one(kq2, 42, &ev);
	KC_CHECK_PTR_EQ(ev.udata, (void *)2);
	KC_CHECK_EQ(ev.fflags, 0x20);
	kqt_expect_none_ms(kq1, 0);
	CHANGE_OK(kq1, 42, EV_DELETE, 0, NULL);
	TRIGGER(kq2, 42, 0);
	get_one(kq2, 42, &ev);
	KC_CHECK_EQ(ev.fflags, 0x20);
	close(kq1);
	TRIGGER(kq2, 42, 0);
	get_one(kq2, 42, &ev);
	close(kq2);
}

/* A thread blocked in kevent() is woken by a trigger from another thread. */
struct waker {
	int		kq;
	atomic_int	blocked;
	atomic_int	got;
	struct kevent	ev;
};

static void *
waiter_main(void *arg)
{
	struct waker *w = arg;
	struct timespec ts = { 20, 0 };
	int r;

	atomic_store(&w->blocked, 1);
	r = kevent(w->kq, NULL, 0, &w->ev, 1, &ts);
	atomic_store(&w->got, r);
	return NULL;
}

static void
test_wake(void)
{
	struct waker w;
	pthread_t t;
	int i;

	memset(&w, 0, sizeof(w));
	w.kq = kqueue();
	KC_CHECK_GE(w.kq, 0);
	CHANGE_OK(w.kq, 9, EV_ADD | EV_CLEAR, 0, (void *)0x9);
	for (i = 0; i < 3; i++) {
		atomic_store(&w.blocked, 0);
		atomic_store(&w.got, -2);
		t = kct_thread_start(waiter_main, &w);
		KCT_WAIT(atomic_load(&w.blocked), 10);
		kct_sleep_ns(20 * KCT_NSEC_PER_MSEC);	/* let it block */
		TRIGGER(w.kq, 9, NOTE_FFCOPY | (unsigned)(i + 1));
		kct_thread_join(t);
		KC_CHECK_EQ(atomic_load(&w.got), 1);
		KC_CHECK_EQ(w.ev.ident, 9);
		KC_CHECK_EQ(w.ev.fflags, (unsigned)(i + 1));
	}
	close(w.kq);
}

/* Ping-pong: 2 * ROUNDS cross-thread triggers, none lost. */
struct pong {
	int		kq_a, kq_b;
	unsigned	rounds;
	atomic_uint	b_seen;
};

static void
pp_wait(int kq, uintptr_t ident, unsigned round)
{
	struct kevent ev;
	struct timespec ts = { 10, 0 };
	int r;

	memset(&ev, 0, sizeof(ev));
	r = kevent(kq, NULL, 0, &ev, 1, &ts);
	if (r != 1)
		kct_fail(__FILE__, __LINE__, "round %u: trigger lost "
		    "(kevent returned %d)", round, r);
	KC_CHECK_EQ(ev.ident, ident);
	KC_CHECK_EQ(ev.filter, EVFILT_USER);
	if (ev.fflags != (round & NOTE_FFLAGSMASK))
		kct_fail(__FILE__, __LINE__, "round %u: got fflags %#x, a "
		    "stale or duplicated trigger", round, ev.fflags);
}

static void *
pong_main(void *arg)
{
	struct pong *p = arg;
	unsigned i;

	for (i = 0; i < p->rounds; i++) {
		pp_wait(p->kq_b, 2, i);
		atomic_store(&p->b_seen, i + 1);
		TRIGGER(p->kq_a, 1, NOTE_FFCOPY | (i & NOTE_FFLAGSMASK));
	}
	return NULL;
}

static void
test_pingpong(void)
{
	struct pong p;
	pthread_t t;
	uint64_t t0;
	unsigned i;

	memset(&p, 0, sizeof(p));
	/* 10^6 triggers (10^5 under a sanitizer), two per round. */
	p.rounds = kct_sanitized() ? 50000 : 500000;
	p.kq_a = kqueue();
	p.kq_b = kqueue();
	KC_CHECK_GE(p.kq_a, 0);
	KC_CHECK_GE(p.kq_b, 0);
	CHANGE_OK(p.kq_a, 1, EV_ADD | EV_CLEAR, 0, NULL);
	CHANGE_OK(p.kq_b, 2, EV_ADD | EV_CLEAR, 0, NULL);
	t0 = kct_now_ns();
	t = kct_thread_start(pong_main, &p);
	for (i = 0; i < p.rounds; i++) {
		TRIGGER(p.kq_b, 2, NOTE_FFCOPY | (i & NOTE_FFLAGSMASK));
		pp_wait(p.kq_a, 1, i);
	}
	kct_thread_join(t);
	KC_CHECK_EQ(atomic_load(&p.b_seen), p.rounds);
	/* Nothing extra is left over on either side. */
	kqt_expect_none_ms(p.kq_a, 10);
	kqt_expect_none_ms(p.kq_b, 10);
	printf("kq-user: %u cross-thread triggers in %.2f s\n", 2 * p.rounds,
	    (double)(kct_now_ns() - t0) / 1e9);
	close(p.kq_a);
	close(p.kq_b);
}

/* Output flags are the knote's flags, EV_ADD included (FreeBSD). */
static void
test_output_flags(void)
{
	struct kevent ev;
	int kq = kqueue();

	KC_CHECK_GE(kq, 0);
	CHANGE_OK(kq, 1, EV_ADD | EV_CLEAR, 0, NULL);
	TRIGGER(kq, 1, 0);
	get_one(kq, 1, &ev);
	KC_CHECK(ev.flags & EV_CLEAR);
	KC_CHECK(!(ev.flags & EV_ADD));	/* action bits are not returned */
	KC_CHECK(!(ev.flags & (EV_DELETE | EV_ENABLE | EV_DISABLE)));
	close(kq);
}

/*
 * The knote's flags on its events, EV_RECEIPT included, also after a bare
 * NOTE_TRIGGER (issue 13, defect 12); a receipt for a new knote has fflags
 * 0 as FreeBSD's has, while one for a modify echoes the change (defect 16).
 */
static void
test_receipt_flags(void)
{
	struct kevent ch, out, ev;
	int kq = kqueue();

	KC_CHECK_GE(kq, 0);
	EV_SET(&ch, 2, EVFILT_USER, EV_ADD | EV_CLEAR | EV_RECEIPT,
	    NOTE_FFCOPY | 0x15, 0, (void *)0x2a);
	memset(&out, 0, sizeof(out));
	KC_CHECK_EQ(kevent(kq, &ch, 1, &out, 1, &kqt_zero_ts), 1);
	KC_CHECK_EQ(out.ident, 2);
	KC_CHECK_EQ(out.filter, EVFILT_USER);
	KC_CHECK_EQ(out.flags, EV_ERROR);
	KC_CHECK_EQ(out.data, 0);
	KC_CHECK_EQ(out.fflags, 0);
	KC_CHECK_PTR_EQ(out.udata, (void *)0x2a);
	TRIGGER(kq, 2, 0);
	KC_CHECK_EQ(get_one(kq, 2, &ev), 0x15);
	KC_CHECK(ev.flags & EV_RECEIPT);
	KC_CHECK(ev.flags & EV_CLEAR);
	KC_CHECK_EQ(ev.flags & (EV_ADD | EV_ERROR), 0);
	kqt_expect_none(kq);
	close(kq);
}

int
main(void)
{
	kct_begin("kq-user", 110);
	test_basic();
	test_fflags_ops();
	test_coalesce_clear();
	test_flags();
	test_udata_modify();
	test_several_kqueues();
	test_wake();
	test_pingpong();
	test_output_flags();
	test_receipt_flags();
	return kct_done();
}
