/*
 * kq-timer: EVFILT_TIMER conformance (kq-spec.md, "EVFILT_TIMER").
 *
 * Covers: every unit (NOTE_SECONDS, NOTE_MSECONDS, NOTE_USECONDS,
 * NOTE_NSECONDS, and milliseconds when no unit is given), one-shot and
 * periodic timers, NOTE_ABSTIME in each unit (CLOCK_REALTIME since the Epoch;
 * expires once and, without EV_CLEAR, stays triggered; a past time fires at
 * once; a time before the system booted is EINVAL), relative timers
 * reported with EV_CLEAR of their own and EV_RECEIPT kept after a modify,
 * "never early" (CLOCK_MONOTONIC for
 * relative timers, CLOCK_REALTIME for absolute ones: the expirations reported
 * never exceed the time elapsed), data counting the expirations missed while
 * nobody collected (lower bound only), EV_ADD on an existing timer restarting
 * it and replacing fflags (unit), data (period) and udata, two units ->
 * EINVAL, data < 0 -> EINVAL, add, delete, delete / enable / disable /
 * flags 0 of a missing knote -> ENOENT, EV_ADD|EV_DISABLE, EV_DISABLE and
 * EV_ENABLE, EV_ONESHOT, EV_DISPATCH, EV_RECEIPT, udata round trip,
 * EV_CLEAR, and several kqueues using the same timer ident independently.
 *
 * Only lower bounds on time are asserted; every wait is bounded.
 */
#include <sys/event.h>

#include "kctest.h"
#include "kqtest.h"

#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MS	KCT_NSEC_PER_MSEC

#define CHANGE_OK(kq, id, fl, ff, d, ud) \
	KQT_CHANGE_OK(kq, id, EVFILT_TIMER, fl, ff, d, ud)
#define change_err(kq, id, fl, ff, d, err) \
	kqt_change_err(kq, id, EVFILT_TIMER, fl, ff, d, (void *)0x5a, err)

/* Exactly one timer event for ident within a generous bound. */
static void
get_one(int kq, uintptr_t ident, struct kevent *ev)
{
	kqt_get_one(kq, ident, EVFILT_TIMER, 10000, ev);
	KC_CHECK_GE(ev->data, 1);
}

static uint64_t
real_ns(void)
{
	struct timespec ts;

	KC_CHECK_OK(clock_gettime(CLOCK_REALTIME, &ts));
	return (uint64_t)ts.tv_sec * KCT_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* Each unit, one-shot: fires once, not before its period. */
static void
test_units(void)
{
	static const struct {
		unsigned	fflags;
		int64_t		data;
		uint64_t	ns;
	} u[] = {
		{ 0, 60, 60 * MS },			/* default: ms */
		{ NOTE_MSECONDS, 70, 70 * MS },
		{ NOTE_USECONDS, 80000, 80 * MS },
		{ NOTE_NSECONDS, 90 * (int64_t)MS, 90 * MS },
		{ NOTE_SECONDS, 1, KCT_NSEC_PER_SEC },
	};
	struct kevent ev;
	unsigned i;
	int kq = kqueue();

	KC_CHECK_GE(kq, 0);
	for (i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
		uint64_t t0 = kct_now_ns(), t1;

		CHANGE_OK(kq, 100 + i, EV_ADD | EV_ONESHOT, u[i].fflags,
		    u[i].data, (void *)(uintptr_t)(0x1000 + i));
		get_one(kq, 100 + i, &ev);
		t1 = kct_now_ns();
		KC_CHECK_GE(t1 - t0, u[i].ns);		/* never early */
		KC_CHECK_PTR_EQ(ev.udata, (void *)(uintptr_t)(0x1000 + i));
		KC_CHECK(ev.flags & EV_ONESHOT);
		KC_CHECK_EQ(ev.data, 1);
		/* One-shot: gone now, and it does not fire again. */
		change_err(kq, 100 + i, EV_DELETE, 0, 0, ENOENT);
		kqt_expect_none_ms(kq, 30);
	}
	/* Zero period fires (at once). */
	CHANGE_OK(kq, 7, EV_ADD | EV_ONESHOT, 0, 0, NULL);
	get_one(kq, 7, &ev);
	close(kq);
}

/*
 * Periodic in each unit: the sum of data reported by time t never exceeds
 * (t - t0) / period.
 */
static void
test_periodic_never_early(void)
{
	static const struct {
		unsigned	fflags;
		int64_t		data;
		uint64_t	ns;
	} u[] = {
		{ 0, 15, 15 * MS },
		{ NOTE_MSECONDS, 20, 20 * MS },
		{ NOTE_USECONDS, 25000, 25 * MS },
		{ NOTE_NSECONDS, 15 * (int64_t)MS, 15 * MS },
	};
	struct kevent ev;
	unsigned i, k;
	int kq = kqueue();

	KC_CHECK_GE(kq, 0);
	for (i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
		uint64_t t0 = kct_now_ns(), total = 0;

		CHANGE_OK(kq, 1, EV_ADD, u[i].fflags, u[i].data, NULL);
		for (k = 0; k < 5; k++) {
			get_one(kq, 1, &ev);
			total += (uint64_t)ev.data;
			KC_CHECK_LE(total * u[i].ns, kct_now_ns() - t0);
			KC_CHECK(!(ev.flags & EV_ONESHOT));
		}
		CHANGE_OK(kq, 1, EV_DELETE, 0, 0, NULL);
		/* Deleted: nothing more, even if one was queued. */
		kqt_expect_none_ms(kq, 3 * u[i].ns / MS);
	}
	/* One second period, checked once. */
	{
		uint64_t t0 = kct_now_ns();

		CHANGE_OK(kq, 2, EV_ADD, NOTE_SECONDS, 1, NULL);
		get_one(kq, 2, &ev);
		KC_CHECK_GE(kct_now_ns() - t0, KCT_NSEC_PER_SEC);
		KC_CHECK_LE((uint64_t)ev.data * KCT_NSEC_PER_SEC,
		    kct_now_ns() - t0);
		CHANGE_OK(kq, 2, EV_DELETE, 0, 0, NULL);
	}
	close(kq);
}

/*
 * data counts expirations that nobody collected.  Never early: the n-th
 * expiration is at least n periods after the add, so the running total of
 * data never exceeds the time since the add divided by the period.
 */
static void
test_data_counts(void)
{
	struct kevent ev;
	uint64_t t0, total;
	int kq = kqueue();

	KC_CHECK_GE(kq, 0);
	t0 = kct_now_ns();
	CHANGE_OK(kq, 3, EV_ADD, NOTE_MSECONDS, 20, NULL);
	kct_sleep_ns(120 * MS);				/* six periods */
	get_one(kq, 3, &ev);
	KC_CHECK_GE(ev.data, 4);
	total = (uint64_t)ev.data;
	KC_CHECK_LE(total * 20 * MS, kct_now_ns() - t0);
	/* Reported: the count starts again from zero. */
	kct_sleep_ns(100 * MS);				/* five periods */
	get_one(kq, 3, &ev);
	KC_CHECK_GE(ev.data, 3);
	total += (uint64_t)ev.data;
	KC_CHECK_LE(total * 20 * MS, kct_now_ns() - t0);
	CHANGE_OK(kq, 3, EV_DELETE, 0, 0, NULL);
	close(kq);
}

/* NOTE_ABSTIME in every unit. */
static void
test_abstime(void)
{
	struct kevent ev;
	uint64_t now, target_ns;
	int kq = kqueue();
	int64_t data;
	int unit;

	KC_CHECK_GE(kq, 0);
	for (unit = 0; unit < 5; unit++) {
		unsigned ff = NOTE_ABSTIME;

		now = real_ns();
		switch (unit) {
		case 0:		/* no unit: milliseconds */
			data = (int64_t)((now + 150 * MS) / MS);
			target_ns = (uint64_t)data * MS;
			break;
		case 1:
			ff |= NOTE_MSECONDS;
			data = (int64_t)((now + 150 * MS) / MS);
			target_ns = (uint64_t)data * MS;
			break;
		case 2:
			ff |= NOTE_USECONDS;
			data = (int64_t)((now + 150 * MS) / 1000);
			target_ns = (uint64_t)data * 1000;
			break;
		case 3:
			ff |= NOTE_NSECONDS;
			data = (int64_t)(now + 150 * MS);
			target_ns = (uint64_t)data;
			break;
		default:
			ff |= NOTE_SECONDS;
			data = (int64_t)(now / KCT_NSEC_PER_SEC + 1);
			target_ns = (uint64_t)data * KCT_NSEC_PER_SEC;
			break;
		}
		CHANGE_OK(kq, 20 + (uintptr_t)unit, EV_ADD, ff, data,
		    (void *)0xab5);
		get_one(kq, 20 + (uintptr_t)unit, &ev);
		KC_CHECK_GE(real_ns(), target_ns);	/* never early */
		KC_CHECK_PTR_EQ(ev.udata, (void *)0xab5);
		/*
		 * No EV_CLEAR of its own (FreeBSD's filt_timerattach sets it
		 * for relative timers only): it stays triggered, reported
		 * again with the one expiration it had.
		 */
		KC_CHECK_EQ(ev.flags & EV_CLEAR, 0);
		KC_CHECK_EQ(ev.data, 1);
		get_one(kq, 20 + (uintptr_t)unit, &ev);
		KC_CHECK_EQ(ev.data, 1);
		(void)kqt_change(kq, 20 + (uintptr_t)unit, EVFILT_TIMER,
		    EV_DELETE, 0, 0, NULL);
	}
	/* A time in the past fires at once (bounded wait). */
	now = real_ns();
	CHANGE_OK(kq, 30, EV_ADD, NOTE_ABSTIME | NOTE_SECONDS,
	    (int64_t)(now / KCT_NSEC_PER_SEC) - 10, NULL);
	get_one(kq, 30, &ev);
	(void)kqt_change(kq, 30, EVFILT_TIMER, EV_DELETE, 0, 0, NULL);
	/* Before the system booted: EINVAL, as filt_timervalidate says. */
	change_err(kq, 31, EV_ADD, NOTE_ABSTIME, 1, EINVAL);	/* 1970 */
	change_err(kq, 31, EV_ADD, NOTE_ABSTIME | NOTE_SECONDS, 0, EINVAL);
	kqt_expect_none_ms(kq, 100);
	/* With EV_CLEAR given: reported once. */
	now = real_ns();
	CHANGE_OK(kq, 32, EV_ADD | EV_CLEAR, NOTE_ABSTIME | NOTE_SECONDS,
	    (int64_t)(now / KCT_NSEC_PER_SEC) - 10, NULL);
	get_one(kq, 32, &ev);
	KC_CHECK(ev.flags & EV_CLEAR);
	kqt_expect_none_ms(kq, 100);
	close(kq);
}

/* EV_ADD on an existing timer restarts it and replaces fflags/data/udata. */
static void
test_modify(void)
{
	struct kevent ev;
	uint64_t t0, t1;
	int kq = kqueue();

	KC_CHECK_GE(kq, 0);
	/* 100 s, then modified to 40 ms (unit, period and udata replaced). */
	CHANGE_OK(kq, 5, EV_ADD, NOTE_SECONDS, 100, (void *)0xa);
	t0 = kct_now_ns();
	CHANGE_OK(kq, 5, EV_ADD, NOTE_MSECONDS, 40, (void *)0xb);
	get_one(kq, 5, &ev);
	KC_CHECK_GE(kct_now_ns() - t0, 40 * MS);
	KC_CHECK_PTR_EQ(ev.udata, (void *)0xb);
	/* Periodic: again. */
	get_one(kq, 5, &ev);
	KC_CHECK_PTR_EQ(ev.udata, (void *)0xb);
	/* Modify to one-shot ns. */
	CHANGE_OK(kq, 5, EV_ADD | EV_ONESHOT, NOTE_NSECONDS, 30 * (int64_t)MS,
	    (void *)0xc);
	/* Drain anything that was already queued before the modify. */
	while (kqt_collect(kq, &ev, 1, 0) == 1)
		KC_CHECK(ev.ident == 5);
	get_one(kq, 5, &ev);
	KC_CHECK_PTR_EQ(ev.udata, (void *)0xc);
	KC_CHECK(ev.flags & EV_ONESHOT);
	change_err(kq, 5, EV_DELETE, 0, 0, ENOENT);

	/*
	 * Restart: a 300 ms timer modified 150 ms after it was armed fires
	 * no earlier than 300 ms after the modify.
	 */
	CHANGE_OK(kq, 6, EV_ADD | EV_ONESHOT, 0, 300, NULL);
	kct_sleep_ns(150 * MS);
	t1 = kct_now_ns();
	CHANGE_OK(kq, 6, EV_ADD | EV_ONESHOT, 0, 300, NULL);
	get_one(kq, 6, &ev);
	KC_CHECK_GE(kct_now_ns() - t1, 300 * MS);
	/* Restarted periodic: the count after a modify starts from zero. */
	CHANGE_OK(kq, 6, EV_ADD, 0, 20, NULL);
	kct_sleep_ns(100 * MS);
	t1 = kct_now_ns();
	CHANGE_OK(kq, 6, EV_ADD, 0, 200, NULL);
	while (kqt_collect(kq, &ev, 1, 0) == 1)
		;
	get_one(kq, 6, &ev);
	KC_CHECK_GE(kct_now_ns() - t1, 200 * MS);
	KC_CHECK_LE((uint64_t)ev.data * 200 * MS, kct_now_ns() - t1);
	CHANGE_OK(kq, 6, EV_DELETE, 0, 0, NULL);
	close(kq);
}

static void
test_errors(void)
{
	static const unsigned two[] = {
		NOTE_SECONDS | NOTE_MSECONDS,
		NOTE_MSECONDS | NOTE_USECONDS,
		NOTE_USECONDS | NOTE_NSECONDS,
		NOTE_SECONDS | NOTE_NSECONDS,
		NOTE_SECONDS | NOTE_MSECONDS | NOTE_USECONDS | NOTE_NSECONDS,
		NOTE_ABSTIME | NOTE_SECONDS | NOTE_USECONDS,
	};
	unsigned i;
	int kq = kqueue();

	KC_CHECK_GE(kq, 0);
	for (i = 0; i < sizeof(two) / sizeof(two[0]); i++)
		change_err(kq, 9, EV_ADD, two[i], 10, EINVAL);
	change_err(kq, 9, EV_ADD, 0, -1, EINVAL);
	change_err(kq, 9, EV_ADD, NOTE_SECONDS, -5, EINVAL);
	change_err(kq, 9, EV_ADD, NOTE_NSECONDS, INT64_MIN, EINVAL);
	change_err(kq, 9, EV_ADD | EV_ONESHOT, NOTE_USECONDS, -1000, EINVAL);
	/* None of the failed adds left a knote behind. */
	change_err(kq, 9, EV_DELETE, 0, 0, ENOENT);
	/* A failed modify leaves the timer as it was (still there). */
	CHANGE_OK(kq, 10, EV_ADD, NOTE_SECONDS, 100, NULL);
	change_err(kq, 10, EV_ADD, NOTE_SECONDS | NOTE_MSECONDS, 1, EINVAL);
	change_err(kq, 10, EV_ADD, 0, -1, EINVAL);
	CHANGE_OK(kq, 10, EV_DELETE, 0, 0, NULL);
	/* Missing knotes. */
	change_err(kq, 11, EV_DELETE, 0, 0, ENOENT);
	change_err(kq, 11, EV_ENABLE, 0, 0, ENOENT);
	change_err(kq, 11, EV_DISABLE, 0, 0, ENOENT);
	change_err(kq, 11, 0, 0, 0, ENOENT);
	close(kq);
}

/* add, delete, disable, enable, ONESHOT, DISPATCH, RECEIPT, CLEAR. */
static void
test_flags(void)
{
	struct kevent ch[3], out[4], ev;
	struct timespec zero = { 0, 0 };
	uint64_t t0;
	int kq = kqueue(), r, i;

	KC_CHECK_GE(kq, 0);

	/* Delete before it fires: never fires. */
	CHANGE_OK(kq, 1, EV_ADD | EV_ONESHOT, 0, 40, NULL);
	CHANGE_OK(kq, 1, EV_DELETE, 0, 0, NULL);
	kqt_expect_none_ms(kq, 150);
	change_err(kq, 1, EV_DELETE, 0, 0, ENOENT);

	/* Added disabled: never delivered until enabled. */
	CHANGE_OK(kq, 2, EV_ADD | EV_DISABLE, 0, 20, (void *)0x22);
	kqt_expect_none_ms(kq, 150);
	CHANGE_OK(kq, 2, EV_ENABLE, 0, 0, NULL);
	get_one(kq, 2, &ev);
	KC_CHECK_PTR_EQ(ev.udata, (void *)0x22);
	/* Disabled while running: nothing, not even an already queued one. */
	kct_sleep_ns(50 * MS);
	CHANGE_OK(kq, 2, EV_DISABLE, 0, 0, NULL);
	kqt_expect_none_ms(kq, 150);
	CHANGE_OK(kq, 2, EV_ENABLE, 0, 0, NULL);
	get_one(kq, 2, &ev);
	CHANGE_OK(kq, 2, EV_DELETE, 0, 0, NULL);

	/* EV_DISPATCH: once, then disabled until EV_ENABLE. */
	CHANGE_OK(kq, 3, EV_ADD | EV_DISPATCH, 0, 15, (void *)0x33);
	for (i = 0; i < 3; i++) {
		get_one(kq, 3, &ev);
		KC_CHECK(ev.flags & EV_DISPATCH);
		KC_CHECK_PTR_EQ(ev.udata, (void *)0x33);
		kqt_expect_none_ms(kq, 100);
		CHANGE_OK(kq, 3, EV_ENABLE, 0, 0, NULL);
	}
	get_one(kq, 3, &ev);
	CHANGE_OK(kq, 3, EV_DELETE, 0, 0, NULL);
	kqt_expect_none_ms(kq, 50);

	/* EV_RECEIPT: an EV_ERROR entry with data 0, then the timer fires. */
	EV_SET(&ch[0], 4, EVFILT_TIMER, EV_ADD | EV_ONESHOT | EV_RECEIPT, 0,
	    30, (void *)0x44);
	EV_SET(&ch[1], 5, EVFILT_TIMER, EV_DELETE | EV_RECEIPT, 0, 0, NULL);
	EV_SET(&ch[2], 6, EVFILT_TIMER, EV_ADD | EV_RECEIPT, 0, 10000,
	    (void *)0x66);
	memset(out, 0, sizeof(out));
	r = kevent(kq, ch, 3, out, 4, &zero);
	KC_CHECK_EQ(r, 3);
	KC_CHECK_EQ(out[0].ident, 4);
	KC_CHECK_EQ(out[0].filter, EVFILT_TIMER);
	KC_CHECK(out[0].flags & EV_ERROR);
	KC_CHECK_EQ(out[0].data, 0);
	KC_CHECK_PTR_EQ(out[0].udata, (void *)0x44);
	KC_CHECK_EQ(out[1].ident, 5);
	KC_CHECK(out[1].flags & EV_ERROR);
	KC_CHECK_EQ(out[1].data, ENOENT);
	KC_CHECK_EQ(out[2].ident, 6);
	KC_CHECK(out[2].flags & EV_ERROR);
	KC_CHECK_EQ(out[2].data, 0);
	get_one(kq, 4, &ev);
	KC_CHECK(!(ev.flags & EV_ERROR));
	KC_CHECK_PTR_EQ(ev.udata, (void *)0x44);
	CHANGE_OK(kq, 6, EV_DELETE, 0, 0, NULL);
	/* Receipt with no room is not an error. */
	EV_SET(&ch[0], 7, EVFILT_TIMER, EV_ADD | EV_RECEIPT, 0, 10000, NULL);
	KC_CHECK_EQ(kevent(kq, ch, 1, NULL, 0, NULL), 0);
	CHANGE_OK(kq, 7, EV_DELETE, 0, 0, NULL);

	/* udata: a full-width pointer value survives. */
	CHANGE_OK(kq, 8, EV_ADD | EV_ONESHOT, 0, 5,
	    (void *)(uintptr_t)0xfedcba9876543210ull);
	get_one(kq, 8, &ev);
	KC_CHECK_PTR_EQ(ev.udata, (void *)(uintptr_t)0xfedcba9876543210ull);

	/* EV_CLEAR: state reset after retrieval, fires again later. */
	t0 = kct_now_ns();
	CHANGE_OK(kq, 9, EV_ADD | EV_CLEAR, 0, 250, NULL);
	get_one(kq, 9, &ev);
	KC_CHECK(ev.flags & EV_CLEAR);
	KC_CHECK_EQ(kqt_collect(kq, &ev, 1, 0), 0);		/* reset */
	get_one(kq, 9, &ev);
	KC_CHECK_LE((uint64_t)2 * 250 * MS, kct_now_ns() - t0);
	CHANGE_OK(kq, 9, EV_DELETE, 0, 0, NULL);

	/* Many timers in one kqueue, each reported by its own ident. */
	for (i = 0; i < 16; i++)
		CHANGE_OK(kq, 1000 + (uintptr_t)i, EV_ADD | EV_ONESHOT, 0,
		    10 + i, (void *)(uintptr_t)(i + 1));
	{
		unsigned seen = 0;
		uint64_t dl = kct_now_ns() + 10 * KCT_NSEC_PER_SEC;

		while (seen != 0xffffu && kct_now_ns() < dl) {
			r = kqt_collect(kq, out, 4, 100);
			for (int j = 0; j < r; j++) {
				unsigned b = (unsigned)(out[j].ident - 1000);

				KC_CHECK_LT(b, 16);
				KC_CHECK(!(seen & (1u << b)));
				KC_CHECK_PTR_EQ(out[j].udata,
				    (void *)(uintptr_t)(b + 1));
				seen |= 1u << b;
			}
		}
		KC_CHECK_EQ(seen, 0xffffu);
	}
	kqt_expect_none_ms(kq, 50);
	close(kq);
}

/* Several kqueues with the same timer ident are independent. */
static void
test_several_kqueues(void)
{
	struct kevent ev;
	int kq1 = kqueue(), kq2 = kqueue(), kq3 = kqueue();
	uint64_t t0;

	KC_CHECK_GE(kq1, 0);
	KC_CHECK_GE(kq2, 0);
	KC_CHECK_GE(kq3, 0);
	t0 = kct_now_ns();
	CHANGE_OK(kq1, 1, EV_ADD | EV_ONESHOT, 0, 30, (void *)1);
	CHANGE_OK(kq2, 1, EV_ADD | EV_ONESHOT, 0, 60, (void *)2);
	CHANGE_OK(kq3, 1, EV_ADD | EV_ONESHOT, 0, 30, (void *)3);
	/* Deleting kq3's does not touch the others. */
	CHANGE_OK(kq3, 1, EV_DELETE, 0, 0, NULL);
	get_one(kq1, 1, &ev);
	KC_CHECK_PTR_EQ(ev.udata, (void *)1);
	KC_CHECK_GE(kct_now_ns() - t0, 30 * MS);
	get_one(kq2, 1, &ev);
	KC_CHECK_PTR_EQ(ev.udata, (void *)2);
	KC_CHECK_GE(kct_now_ns() - t0, 60 * MS);
	kqt_expect_none_ms(kq3, 100);
	kqt_expect_none_ms(kq1, 10);
	kqt_expect_none_ms(kq2, 10);
	/* Closing one kqueue leaves the other's timer running. */
	CHANGE_OK(kq1, 2, EV_ADD, 0, 10, NULL);
	CHANGE_OK(kq2, 2, EV_ADD, 0, 10, NULL);
	KC_CHECK_OK(close(kq1));
	get_one(kq2, 2, &ev);
	get_one(kq2, 2, &ev);
	close(kq2);
	close(kq3);
}

/*
 * The flags of a delivered timer event are the knote's (issue 13, defects
 * 12 and 13): EV_CLEAR set by the filter on a relative timer, EV_RECEIPT
 * kept, also after a modify, and never an action bit.
 */
static void
test_output_flags(void)
{
	struct kevent ch, out, ev;
	int kq = kqueue();

	KC_CHECK_GE(kq, 0);
	CHANGE_OK(kq, 1, EV_ADD, 0, 10, NULL);
	get_one(kq, 1, &ev);
	KC_CHECK(ev.flags & EV_CLEAR);
	KC_CHECK_EQ(ev.flags & (EV_ADD | EV_ENABLE | EV_RECEIPT | EV_ONESHOT),
	    0);
	/* Modified with EV_RECEIPT: a receipt, then events that keep it. */
	EV_SET(&ch, 1, EVFILT_TIMER, EV_ADD | EV_RECEIPT, NOTE_MSECONDS, 20,
	    (void *)0x3c);
	KC_CHECK_EQ(kevent(kq, &ch, 1, &out, 1, &kqt_zero_ts), 1);
	KC_CHECK(out.flags & EV_ERROR);
	KC_CHECK_EQ(out.data, 0);
	get_one(kq, 1, &ev);
	KC_CHECK(ev.flags & EV_RECEIPT);
	KC_CHECK(ev.flags & EV_CLEAR);
	KC_CHECK_EQ(ev.flags & (EV_ADD | EV_ERROR), 0);
	KC_CHECK_PTR_EQ(ev.udata, (void *)0x3c);
	close(kq);
}

int
main(void)
{
	kct_begin("kq-timer", 90);
	test_errors();
	test_units();
	test_periodic_never_early();
	test_data_counts();
	test_abstime();
	test_modify();
	test_flags();
	test_several_kqueues();
	test_output_flags();
	return kct_done();
}
