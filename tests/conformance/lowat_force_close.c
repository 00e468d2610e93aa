/*
 * kq-lowat_force_close: EVFILT_WRITE knotes parked below their NOTE_LOWAT
 * marks, one of them forced with EV_FORCEONESHOT, then the kqueue closed
 * (issue 13, defect 1).
 *
 * Forcing a knote that waits on the low-water list must not put it on the
 * pending list as well: closing the kqueue then drops every knote from the
 * one list it is on, and reads no knote already freed.  EVFILT_USER knotes
 * triggered after the force queue behind the forced one, so that dropping
 * them walks the pending list past it (run under ASan to see that).  A
 * second kqueue does the same and collects the forced event before
 * closing: it arrives exactly once.
 *
 * The pipes hold 64 KiB at most, so a mark of 1 MiB is never met.
 */
#include <sys/event.h>

#include "kctest.h"
#include "kqtest.h"

#include <unistd.h>

#define MARK	(1 << 20)
#define NPIPE	3
#define NUSER	16

static void
run(bool collect)
{
	struct kevent ev;
	int kq = kqt_open(), p[NPIPE][2], i;

	for (i = 0; i < NPIPE; i++) {
		KC_CHECK_OK(pipe(p[i]));
		KQT_CHANGE_OK(kq, (uintptr_t)p[i][1], EVFILT_WRITE, EV_ADD,
		    NOTE_LOWAT, MARK, NULL);
	}
	kqt_expect_none(kq);	/* all three parked */
	KQT_CHANGE_OK(kq, (uintptr_t)p[1][1], EVFILT_WRITE,
	    EV_ADD | EV_FORCEONESHOT, NOTE_LOWAT, MARK, NULL);
	if (collect) {
		ev = kqt_expect_one(kq, p[1][1], EVFILT_WRITE);
		KC_CHECK(ev.flags & EV_ONESHOT);
		kqt_expect_none_ms(kq, 30);
	}
	for (i = 0; i < NUSER; i++) {
		KQT_CHANGE_OK(kq, 100 + (uintptr_t)i, EVFILT_USER, EV_ADD, 0,
		    0, NULL);
		KQT_CHANGE_OK(kq, 100 + (uintptr_t)i, EVFILT_USER, 0,
		    NOTE_TRIGGER, 0, NULL);
	}
	KC_CHECK_OK(close(kq));
	for (i = 0; i < NPIPE; i++) {
		KC_CHECK_OK(close(p[i][0]));
		KC_CHECK_OK(close(p[i][1]));
	}
}

int
main(void)
{
	kct_begin("kq-lowat_force_close", 30);
	run(false);
	run(true);
	return kct_done();
}
