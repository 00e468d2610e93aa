/*
 * kq-lowat_force_delete: an EVFILT_WRITE knote parked below its NOTE_LOWAT
 * mark, then forced with EV_FORCEONESHOT, then deleted (issue 13, defect 1).
 *
 * The knote waits on the kqueue's low-water list; EV_FORCEONESHOT must
 * move it to the pending list, never put it on both.  The forced event is
 * delivered exactly once, with EV_ONESHOT, and the knote is gone after it.
 * Forced and then deleted before delivery, it must leave no trace: a later
 * activation of another knote goes through the pending list and must not
 * touch the deleted one's memory (run under ASan to see that).
 *
 * The pipe holds 64 KiB at most, so a mark of 1 MiB is never met.
 */
#include <sys/event.h>

#include "kctest.h"
#include "kqtest.h"

#include <errno.h>
#include <unistd.h>

#define MARK	(1 << 20)
#define UD	((void *)0x10a7)

/* Add the knote and let a scan park it on the low-water list. */
static void
park(int kq, int fd)
{
	KQT_CHANGE_OK(kq, (uintptr_t)fd, EVFILT_WRITE, EV_ADD, NOTE_LOWAT,
	    MARK, UD);
	kqt_expect_none(kq);
}

/* Forced while parked: delivered once, then deleted. */
static void
test_forced_delivered(void)
{
	struct kevent ev;
	int kq = kqt_open(), p[2];

	KC_CHECK_OK(pipe(p));
	park(kq, p[1]);
	KQT_CHANGE_OK(kq, (uintptr_t)p[1], EVFILT_WRITE,
	    EV_ADD | EV_FORCEONESHOT, NOTE_LOWAT, MARK, UD);
	ev = kqt_expect_one(kq, p[1], EVFILT_WRITE);
	KC_CHECK(ev.flags & EV_ONESHOT);
	KC_CHECK_PTR_EQ(ev.udata, UD);
	/* Once only, and the knote went with it. */
	kqt_expect_none_ms(kq, 30);
	kqt_change_err(kq, (uintptr_t)p[1], EVFILT_WRITE, EV_DELETE, 0, 0,
	    NULL, ENOENT);
	KC_CHECK_OK(close(kq));
	KC_CHECK_OK(close(p[0]));
	KC_CHECK_OK(close(p[1]));
}

/* Forced while parked, deleted before delivery: the lists stay sound. */
static void
test_forced_deleted(void)
{
	struct kevent ev;
	int kq = kqt_open(), p[2];

	KC_CHECK_OK(pipe(p));
	park(kq, p[1]);
	KQT_CHANGE_OK(kq, (uintptr_t)p[1], EVFILT_WRITE,
	    EV_ADD | EV_FORCEONESHOT, NOTE_LOWAT, MARK, UD);
	KQT_CHANGE_OK(kq, (uintptr_t)p[1], EVFILT_WRITE, EV_DELETE, 0, 0,
	    NULL);
	/* Another knote through the pending list after the deleted one. */
	KQT_CHANGE_OK(kq, 7, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL);
	KQT_CHANGE_OK(kq, 7, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
	ev = kqt_expect_one(kq, 7, EVFILT_USER);
	KC_CHECK_EQ(ev.flags & EV_ERROR, 0);
	kqt_expect_none(kq);
	KC_CHECK_OK(close(kq));
	KC_CHECK_OK(close(p[0]));
	KC_CHECK_OK(close(p[1]));
}

int
main(void)
{
	kct_begin("kq-lowat_force_delete", 30);
	test_forced_deleted();
	test_forced_delivered();
	return kct_done();
}
