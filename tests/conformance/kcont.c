/*
 * kq-kcont: the EV_KCONT extension, continuations on knotes (kq-spec.md,
 * "EV_KCONT").
 *
 * Covers: a knote with EV_KCONT and udata = struct kc * runs the kc on each
 * activation instead of queueing an event (kevent() returns no event for it,
 * and does return the plain knotes' events beside it), called as fn(obj, env,
 * 0) with obj the activation's struct kevent, on the thread that calls
 * kevent() (a plain kqueue: kc_executor_current() NULL there), never inside a
 * kevent() with nevents 0; exactly once per activation under EV_ONESHOT,
 * EV_DISPATCH (re-enabled N times -> N more runs, on a pipe that stays
 * readable) and EV_CLEAR (N triggers each collected before the next -> N
 * runs, also with the triggers made from another thread); from inside the
 * continuation: delete itself, re-arm itself (EV_ENABLE, and EV_ADD modify,
 * after EV_DISPATCH), close its descriptor, add other knotes (plain and
 * EV_KCONT), close the kqueue (the kevent() driving it returns -1 EBADF or
 * the events so far, without waiting out its timeout; other threads blocked
 * on it return -1 EBADF at once; no crash, no leak); EV_DELETE from another
 * thread is a barrier (when it returns the continuation has finished, its
 * writes are visible, its kc is idle, and it never runs again), also
 * racing the activation, and on a soft executor's kqueue; a kc bound to
 * another executor -> EINVAL; the soft executor's kqueue
 * (kc_executor_kqueue): knotes run on the executor's thread with
 * kc_executor_current() == ex and nobody calling kevent() to collect, for a
 * kc bound to ex and an immediate one, and a kevent() that asks to collect
 * there returns no event and runs nothing (the executor runs it), EV_ADD without EV_KCONT -> EINVAL,
 * kc_executor_kqueue on a thread executor -> -EINVAL; and add, delete,
 * delete of a missing knote -> ENOENT, EV_ADD|EV_DISABLE, EV_DISABLE /
 * EV_ENABLE, EV_RECEIPT, EV_ADD modify replacing the kc, and several
 * kqueues with EV_KCONT knotes on one descriptor.
 */
#include <sys/event.h>
#include <kcont.h>

#include "kctest.h"
#include "kqtest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MS	KCT_NSEC_PER_MSEC

enum act {
	ACT_NONE,
	ACT_DELETE_SELF,
	ACT_ENABLE_SELF,	/* until limit runs */
	ACT_READD_SELF,		/* EV_ADD|EV_DISPATCH|EV_KCONT, until limit */
	ACT_CLOSE_FD,
	ACT_ADD_OTHER,
	ACT_CLOSE_KQ,
	ACT_SLOW,		/* started, payload, 'slow_ns' busy, finished */
};

struct probe {
	struct kc		 kc;
	enum act		 act;
	int			 kq;		/* the knote's kqueue */
	int			 fd;		/* ACT_CLOSE_FD */
	int			 limit;
	struct probe		*other;		/* ACT_ADD_OTHER's EV_KCONT */
	uint64_t		 slow_ns;
	bool			 slow_sleep;	/* sleep (else spin) */
	atomic_int		 runs;
	atomic_int		 started;
	atomic_int		 finished;
	int			 payload;	/* plain: the barrier's witness */
	/*
	 * What the last run saw, under rec_mtx: an activation caused by a
	 * write(2) to a pipe orders the run after the writer in the kernel,
	 * where ThreadSanitizer cannot see it.
	 */
	pthread_mutex_t		 rec_mtx;
	struct rec {
		struct kevent		 last;	/* copy of *obj */
		int			 status;
		int			 rc, err;	/* of the action */
		pthread_t		 thread;
		struct kc_executor	*cur;
	} rec;
};

static struct rec
snap(struct probe *p)
{
	struct rec r;

	KC_CHECK_OK(pthread_mutex_lock(&p->rec_mtx));
	r = p->rec;
	KC_CHECK_OK(pthread_mutex_unlock(&p->rec_mtx));
	return r;
}

#define LAST(p)		(snap(p).last)
#define RC(p)		(snap(p).rc)

static int
kev1(int kq, uintptr_t ident, short filter, unsigned short flags,
    unsigned fflags, void *udata)
{
	struct kevent kev;

	EV_SET(&kev, ident, filter, flags, fflags, 0, udata);
	return kevent(kq, &kev, 1, NULL, 0, NULL);
}

static void
probe_fn(void *obj, void *env, int status)
{
	struct probe *p = env;
	const struct kevent *kev = obj;
	struct kevent ch[2];
	struct rec r;
	uint64_t dl;

	memset(&r, 0, sizeof(r));
	r.last = *kev;
	r.status = status;
	r.thread = pthread_self();
	r.cur = kc_executor_current();
	switch (p->act) {
	case ACT_NONE:
		break;
	case ACT_DELETE_SELF:
		r.rc = kev1(p->kq, kev->ident, kev->filter, EV_DELETE, 0,
		    NULL);
		r.err = errno;
		break;
	case ACT_ENABLE_SELF:
		if (atomic_load(&p->runs) + 1 < p->limit) {
			r.rc = kev1(p->kq, kev->ident, kev->filter,
			    EV_ENABLE, 0, NULL);
			r.err = errno;
		}
		break;
	case ACT_READD_SELF:
		if (atomic_load(&p->runs) + 1 < p->limit) {
			r.rc = kev1(p->kq, kev->ident, kev->filter,
			    EV_ADD | EV_DISPATCH | EV_KCONT, 0, &p->kc);
			r.err = errno;
		}
		break;
	case ACT_CLOSE_FD:
		r.rc = close(p->fd);
		r.err = errno;
		break;
	case ACT_ADD_OTHER:
		EV_SET(&ch[0], 77, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0,
		    (void *)0x77);
		EV_SET(&ch[1], 77, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
		r.rc = kevent(p->kq, ch, 2, NULL, 0, NULL);
		EV_SET(&ch[0], 78, EVFILT_USER, EV_ADD | EV_CLEAR | EV_KCONT,
		    0, 0, &p->other->kc);
		EV_SET(&ch[1], 78, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
		r.rc |= kevent(p->kq, ch, 2, NULL, 0, NULL);
		r.err = errno;
		break;
	case ACT_CLOSE_KQ:
		r.rc = close(p->kq);
		r.err = errno;
		break;
	case ACT_SLOW:
		atomic_store(&p->started, 1);
		p->payload = 42 + atomic_load(&p->runs);
		if (p->slow_sleep) {
			kct_sleep_ns(p->slow_ns);
		} else {
			dl = kct_now_ns() + p->slow_ns;
			while (kct_now_ns() < dl)
				__asm__ __volatile__("" ::: "memory");
		}
		atomic_store(&p->finished, 1);
		break;
	}
	KC_CHECK_OK(pthread_mutex_lock(&p->rec_mtx));
	p->rec = r;
	KC_CHECK_OK(pthread_mutex_unlock(&p->rec_mtx));
	atomic_fetch_add(&p->runs, 1);
}

static struct probe *
probe_new(enum act act, int kq, struct kc_executor *ex)
{
	struct probe *p = calloc(1, sizeof(*p));

	KC_CHECK(p != NULL);
	p->act = act;
	p->kq = kq;
	p->fd = -1;
	KC_CHECK_OK(pthread_mutex_init(&p->rec_mtx, NULL));
	KC_CHECK_OK(kc_init(&p->kc, probe_fn, p, ex, 0));
	return p;
}

#define CHANGE_OK(kq, id, filt, fl, ff, ud) \
	KC_CHECK_EQ(kev1(kq, id, filt, fl, ff, ud), 0)

#define change_err(kq, id, filt, fl, ff, ud, err) \
	kqt_change_err(kq, id, filt, fl, ff, 0, ud, err)

/* One kevent() call collecting for ms; returns the number of events. */
static int
drive(int kq, unsigned ms)
{
	struct kevent ev[8];
	struct timespec ts;
	int r;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	r = kevent(kq, NULL, 0, ev, 8, &ts);
	KC_CHECK_GE(r, 0);
	return r;
}

/* Drive (no plain events expected) until p has run target times. */
static void
drive_until(int kq, struct probe *p, int target)
{
	uint64_t dl = kct_now_ns() + 10 * KCT_NSEC_PER_SEC;

	while (atomic_load(&p->runs) < target) {
		if (kct_now_ns() > dl)
			kct_fail(__FILE__, __LINE__, "continuation ran %d "
			    "times, waited for %d", atomic_load(&p->runs),
			    target);
		KC_CHECK_EQ(drive(kq, 1), 0);
	}
	KC_CHECK_EQ(atomic_load(&p->runs), target);
}

static int
mkpipe(int p[2])
{
	KC_CHECK_OK(pipe2(p, O_CLOEXEC | O_NONBLOCK));
	return p[0];
}

/* Runs instead of queueing; on the kevent() caller's thread. */
struct driver {
	int		kq;
	atomic_int	stop;
	pthread_t	self;
};

static void *
driver_main(void *arg)
{
	struct driver *d = arg;
	struct kevent ev[4];
	struct timespec ts = { 0, 10 * 1000000L };
	uint64_t dl = kct_now_ns() + 60 * KCT_NSEC_PER_SEC;

	d->self = pthread_self();
	while (!atomic_load(&d->stop) && kct_now_ns() < dl)
		KC_CHECK_EQ(kevent(d->kq, NULL, 0, ev, 4, &ts), 0);
	return NULL;
}

static void
test_basic(void)
{
	struct probe *p;
	struct kevent ev[4];
	struct timespec ts = { 0, 20 * 1000000L };
	struct driver d;
	pthread_t t;
	int kq = kqueue(), r, i, seen2 = 0;

	KC_CHECK_GE(kq, 0);
	p = probe_new(ACT_NONE, kq, NULL);
	CHANGE_OK(kq, 1, EVFILT_USER, EV_ADD | EV_CLEAR | EV_KCONT, 0, &p->kc);
	KC_CHECK_EQ(drive(kq, 20), 0);
	KC_CHECK_EQ(atomic_load(&p->runs), 0);
	/* A trigger applied with nevents 0 does not run it. */
	CHANGE_OK(kq, 1, EVFILT_USER, 0, NOTE_TRIGGER | NOTE_FFCOPY | 0x55,
	    NULL);
	KC_CHECK_EQ(atomic_load(&p->runs), 0);
	KC_CHECK_EQ(kevent(kq, NULL, 0, NULL, 0, NULL), 0);
	KC_CHECK_EQ(atomic_load(&p->runs), 0);
	drive_until(kq, p, 1);
	KC_CHECK_EQ(LAST(p).ident, 1);
	KC_CHECK_EQ(LAST(p).filter, EVFILT_USER);
	KC_CHECK_EQ(LAST(p).fflags, 0x55);
	KC_CHECK(LAST(p).flags & EV_CLEAR);
	KC_CHECK_EQ(snap(p).status, 0);
	KC_CHECK(pthread_equal(snap(p).thread, pthread_self()));
	KC_CHECK_PTR_EQ(snap(p).cur, NULL);
	KC_CHECK_EQ(drive(kq, 20), 0);			/* cleared */
	KC_CHECK_EQ(atomic_load(&p->runs), 1);

	/* Beside a plain knote: only the plain one comes back as an event. */
	CHANGE_OK(kq, 2, EVFILT_USER, EV_ADD | EV_CLEAR, 0, (void *)0x2);
	CHANGE_OK(kq, 1, EVFILT_USER, 0, NOTE_TRIGGER, NULL);
	CHANGE_OK(kq, 2, EVFILT_USER, 0, NOTE_TRIGGER, NULL);
	{
		uint64_t dl = kct_now_ns() + 10 * KCT_NSEC_PER_SEC;

		while (!seen2 || atomic_load(&p->runs) < 2) {
			KC_CHECK(kct_now_ns() < dl);
			r = kevent(kq, NULL, 0, ev, 4, &ts);
			KC_CHECK_GE(r, 0);
			for (i = 0; i < r; i++) {
				KC_CHECK_EQ(ev[i].ident, 2);
				KC_CHECK_PTR_EQ(ev[i].udata, (void *)0x2);
				seen2++;
			}
		}
	}
	KC_CHECK_EQ(seen2, 1);
	KC_CHECK_EQ(atomic_load(&p->runs), 2);
	KC_CHECK_EQ(drive(kq, 20), 0);

	/* Collected by another thread: runs there. */
	memset(&d, 0, sizeof(d));
	d.kq = kq;
	t = kct_thread_start(driver_main, &d);
	CHANGE_OK(kq, 1, EVFILT_USER, 0, NOTE_TRIGGER, NULL);
	KCT_WAIT(atomic_load(&p->runs) == 3, 10);
	atomic_store(&d.stop, 1);
	kct_thread_join(t);
	KC_CHECK(pthread_equal(snap(p).thread, t));
	KC_CHECK_PTR_EQ(snap(p).cur, NULL);

	/* Delete; missing; the kc may go once the knote is gone. */
	CHANGE_OK(kq, 1, EVFILT_USER, EV_DELETE, 0, NULL);
	change_err(kq, 1, EVFILT_USER, EV_DELETE, 0, NULL, ENOENT);
	change_err(kq, 1, EVFILT_USER, 0, NOTE_TRIGGER, NULL, ENOENT);
	change_err(kq, 1, EVFILT_USER, EV_ENABLE, 0, NULL, ENOENT);
	KC_CHECK_EQ(kc_state(&p->kc), KC_STATE_IDLE);
	free(p);
	KC_CHECK_EQ(drive(kq, 20), 0);
	CHANGE_OK(kq, 2, EVFILT_USER, EV_DELETE, 0, NULL);
	close(kq);
}

/* ONESHOT, DISPATCH, CLEAR: exactly once per activation. */
static void
test_once_per_activation(void)
{
	struct probe *p;
	int kq = kqueue(), pp[2], i, n, want;

	KC_CHECK_GE(kq, 0);

	/* EV_ONESHOT on a readable pipe: once, then gone. */
	p = probe_new(ACT_NONE, kq, NULL);
	mkpipe(pp);
	KC_CHECK_EQ(write(pp[1], "abc", 3), 3);
	CHANGE_OK(kq, (uintptr_t)pp[0], EVFILT_READ,
	    EV_ADD | EV_ONESHOT | EV_KCONT, 0, &p->kc);
	drive_until(kq, p, 1);
	KC_CHECK_EQ(LAST(p).ident, (uintptr_t)pp[0]);
	KC_CHECK_EQ(LAST(p).filter, EVFILT_READ);
	KC_CHECK_EQ(LAST(p).data, 3);
	KC_CHECK(LAST(p).flags & EV_ONESHOT);
	KC_CHECK_EQ(drive(kq, 30), 0);
	KC_CHECK_EQ(atomic_load(&p->runs), 1);
	change_err(kq, (uintptr_t)pp[0], EVFILT_READ, EV_DELETE, 0, NULL,
	    ENOENT);
	free(p);			/* fired ONESHOT and returned: gone */
	/* EV_ONESHOT user knote: triggers coalesce into one run. */
	p = probe_new(ACT_NONE, kq, NULL);
	CHANGE_OK(kq, 3, EVFILT_USER, EV_ADD | EV_ONESHOT | EV_KCONT, 0,
	    &p->kc);
	CHANGE_OK(kq, 3, EVFILT_USER, 0, NOTE_TRIGGER, NULL);
	CHANGE_OK(kq, 3, EVFILT_USER, 0, NOTE_TRIGGER, NULL);
	drive_until(kq, p, 1);
	KC_CHECK_EQ(drive(kq, 30), 0);
	KC_CHECK_EQ(atomic_load(&p->runs), 1);
	change_err(kq, 3, EVFILT_USER, 0, NOTE_TRIGGER, NULL, ENOENT);
	free(p);

	/*
	 * EV_DISPATCH on a pipe that stays readable: one run, then nothing
	 * until EV_ENABLE; re-enabled N times -> N more runs.
	 */
	p = probe_new(ACT_NONE, kq, NULL);
	n = 20;
	CHANGE_OK(kq, (uintptr_t)pp[0], EVFILT_READ,
	    EV_ADD | EV_DISPATCH | EV_KCONT, 0, &p->kc);
	for (i = 0; i <= n; i++) {
		drive_until(kq, p, i + 1);
		KC_CHECK(LAST(p).flags & EV_DISPATCH);
		KC_CHECK_EQ(LAST(p).data, 3);
		KC_CHECK_EQ(drive(kq, 20), 0);
		KC_CHECK_EQ(atomic_load(&p->runs), i + 1);
		if (i < n)
			CHANGE_OK(kq, (uintptr_t)pp[0], EVFILT_READ,
			    EV_ENABLE, 0, NULL);
	}
	KC_CHECK_EQ(drive(kq, 30), 0);
	KC_CHECK_EQ(atomic_load(&p->runs), n + 1);
	CHANGE_OK(kq, (uintptr_t)pp[0], EVFILT_READ, EV_DELETE, 0, NULL);
	free(p);

	/*
	 * EV_DISPATCH|EV_CLEAR user knote: a trigger while disabled is run
	 * once on EV_ENABLE; an enable with nothing triggered runs nothing.
	 */
	p = probe_new(ACT_NONE, kq, NULL);
	CHANGE_OK(kq, 4, EVFILT_USER, EV_ADD | EV_DISPATCH | EV_CLEAR |
	    EV_KCONT, 0, &p->kc);
	for (i = 0, want = 0; i < n; i++) {
		CHANGE_OK(kq, 4, EVFILT_USER, 0, NOTE_TRIGGER, NULL);
		drive_until(kq, p, ++want);
		CHANGE_OK(kq, 4, EVFILT_USER, 0, NOTE_TRIGGER, NULL);
		KC_CHECK_EQ(drive(kq, 10), 0);		/* disabled */
		KC_CHECK_EQ(atomic_load(&p->runs), want);
		CHANGE_OK(kq, 4, EVFILT_USER, EV_ENABLE, 0, NULL);
		drive_until(kq, p, ++want);		/* the pending one */
		CHANGE_OK(kq, 4, EVFILT_USER, EV_ENABLE, 0, NULL);
		KC_CHECK_EQ(drive(kq, 10), 0);
		KC_CHECK_EQ(atomic_load(&p->runs), want);
	}
	CHANGE_OK(kq, 4, EVFILT_USER, EV_DELETE, 0, NULL);
	free(p);

	/* EV_CLEAR: N separate triggers, each collected -> N runs. */
	p = probe_new(ACT_NONE, kq, NULL);
	n = 500;
	CHANGE_OK(kq, 5, EVFILT_USER, EV_ADD | EV_CLEAR | EV_KCONT, 0, &p->kc);
	for (i = 0; i < n; i++) {
		CHANGE_OK(kq, 5, EVFILT_USER, 0,
		    NOTE_TRIGGER | NOTE_FFCOPY | (unsigned)i, NULL);
		drive_until(kq, p, i + 1);
		KC_CHECK_EQ(LAST(p).fflags, (unsigned)i);
	}
	KC_CHECK_EQ(drive(kq, 30), 0);
	KC_CHECK_EQ(atomic_load(&p->runs), n);
	CHANGE_OK(kq, 5, EVFILT_USER, EV_DELETE, 0, NULL);
	free(p);

	/* EV_CLEAR on a pipe: each new write is one activation. */
	p = probe_new(ACT_NONE, kq, NULL);
	CHANGE_OK(kq, (uintptr_t)pp[0], EVFILT_READ,
	    EV_ADD | EV_CLEAR | EV_KCONT, 0, &p->kc);
	drive_until(kq, p, 1);			/* the 3 bytes there */
	for (i = 0; i < 20; i++) {
		KC_CHECK_EQ(write(pp[1], "x", 1), 1);
		drive_until(kq, p, i + 2);
		KC_CHECK_EQ(LAST(p).data, 3 + i + 1);
	}
	KC_CHECK_EQ(drive(kq, 30), 0);
	KC_CHECK_EQ(atomic_load(&p->runs), 21);
	CHANGE_OK(kq, (uintptr_t)pp[0], EVFILT_READ, EV_DELETE, 0, NULL);
	free(p);
	KC_CHECK_OK(close(pp[0]));
	KC_CHECK_OK(close(pp[1]));
	close(kq);
}

/* EV_CLEAR, triggered from another thread each time the last run is seen. */
struct trig {
	int		 kq;
	int		 n;
	struct probe	*p;
};

static void *
trig_main(void *arg)
{
	struct trig *t = arg;
	int i;

	for (i = 0; i < t->n; i++) {
		CHANGE_OK(t->kq, 6, EVFILT_USER, 0,
		    NOTE_TRIGGER | NOTE_FFCOPY | (unsigned)i, NULL);
		KCT_WAIT(atomic_load(&t->p->runs) == i + 1, 10);
	}
	return NULL;
}

static void
test_cross_thread_clear(void)
{
	struct trig tr;
	pthread_t t;
	uint64_t dl = kct_now_ns() + 30 * KCT_NSEC_PER_SEC;
	int kq = kqueue();

	KC_CHECK_GE(kq, 0);
	tr.kq = kq;
	tr.n = kct_sanitized() ? 500 : 2000;
	tr.p = probe_new(ACT_NONE, kq, NULL);
	CHANGE_OK(kq, 6, EVFILT_USER, EV_ADD | EV_CLEAR | EV_KCONT, 0,
	    &tr.p->kc);
	t = kct_thread_start(trig_main, &tr);
	while (atomic_load(&tr.p->runs) < tr.n) {
		KC_CHECK(kct_now_ns() < dl);
		KC_CHECK_EQ(drive(kq, 10), 0);
	}
	kct_thread_join(t);
	KC_CHECK_EQ(drive(kq, 30), 0);
	KC_CHECK_EQ(atomic_load(&tr.p->runs), tr.n);
	KC_CHECK_EQ(LAST(tr.p).fflags, (unsigned)(tr.n - 1));
	CHANGE_OK(kq, 6, EVFILT_USER, EV_DELETE, 0, NULL);
	free(tr.p);
	close(kq);
}

/* What a continuation may do to its own knote and kqueue. */
static void
test_inside(void)
{
	struct probe *p, *q;
	struct kevent ev[4];
	struct timespec ts = { 0, 10 * 1000000L };
	int kq = kqueue(), pp[2], r, i, seen;

	KC_CHECK_GE(kq, 0);

	/* Delete itself (user knote, and a level-triggered pipe). */
	p = probe_new(ACT_DELETE_SELF, kq, NULL);
	CHANGE_OK(kq, 1, EVFILT_USER, EV_ADD | EV_CLEAR | EV_KCONT, 0, &p->kc);
	CHANGE_OK(kq, 1, EVFILT_USER, 0, NOTE_TRIGGER, NULL);
	drive_until(kq, p, 1);
	KC_CHECK_EQ(RC(p), 0);
	change_err(kq, 1, EVFILT_USER, 0, NOTE_TRIGGER, NULL, ENOENT);
	KC_CHECK_EQ(drive(kq, 20), 0);
	KC_CHECK_EQ(atomic_load(&p->runs), 1);
	free(p);
	p = probe_new(ACT_DELETE_SELF, kq, NULL);
	mkpipe(pp);
	KC_CHECK_EQ(write(pp[1], "a", 1), 1);
	CHANGE_OK(kq, (uintptr_t)pp[0], EVFILT_READ, EV_ADD | EV_KCONT, 0,
	    &p->kc);
	drive_until(kq, p, 1);
	KC_CHECK_EQ(RC(p), 0);
	KC_CHECK_EQ(drive(kq, 30), 0);		/* still readable, gone */
	KC_CHECK_EQ(atomic_load(&p->runs), 1);
	change_err(kq, (uintptr_t)pp[0], EVFILT_READ, EV_DELETE, 0, NULL,
	    ENOENT);
	free(p);

	/* Re-arm itself with EV_ENABLE after EV_DISPATCH: 5 runs, no more. */
	p = probe_new(ACT_ENABLE_SELF, kq, NULL);
	p->limit = 5;
	CHANGE_OK(kq, (uintptr_t)pp[0], EVFILT_READ,
	    EV_ADD | EV_DISPATCH | EV_KCONT, 0, &p->kc);
	drive_until(kq, p, 5);
	KC_CHECK_EQ(RC(p), 0);
	KC_CHECK_EQ(drive(kq, 30), 0);
	KC_CHECK_EQ(atomic_load(&p->runs), 5);
	CHANGE_OK(kq, (uintptr_t)pp[0], EVFILT_READ, EV_DELETE, 0, NULL);
	free(p);
	/* ... and with EV_ADD modify. */
	p = probe_new(ACT_READD_SELF, kq, NULL);
	p->limit = 4;
	CHANGE_OK(kq, (uintptr_t)pp[0], EVFILT_READ,
	    EV_ADD | EV_DISPATCH | EV_KCONT, 0, &p->kc);
	drive_until(kq, p, 4);
	KC_CHECK_EQ(RC(p), 0);
	KC_CHECK_EQ(drive(kq, 30), 0);
	KC_CHECK_EQ(atomic_load(&p->runs), 4);
	CHANGE_OK(kq, (uintptr_t)pp[0], EVFILT_READ, EV_DELETE, 0, NULL);
	free(p);

	/* Close its own descriptor: the knote goes with it. */
	p = probe_new(ACT_CLOSE_FD, kq, NULL);
	p->fd = pp[0];
	CHANGE_OK(kq, (uintptr_t)pp[0], EVFILT_READ, EV_ADD | EV_KCONT, 0,
	    &p->kc);
	drive_until(kq, p, 1);
	KC_CHECK_EQ(RC(p), 0);
	KC_CHECK_EQ(drive(kq, 30), 0);
	KC_CHECK_EQ(atomic_load(&p->runs), 1);
	errno = 0;
	KC_CHECK_EQ(kev1(kq, (uintptr_t)pp[0], EVFILT_READ, EV_DELETE, 0,
	    NULL), -1);
	KC_CHECK(errno == EBADF || errno == ENOENT);
	free(p);
	KC_CHECK_OK(close(pp[1]));

	/* Add other knotes: a plain one (an event) and an EV_KCONT one. */
	p = probe_new(ACT_ADD_OTHER, kq, NULL);
	q = probe_new(ACT_NONE, kq, NULL);
	p->other = q;
	CHANGE_OK(kq, 1, EVFILT_USER, EV_ADD | EV_ONESHOT | EV_KCONT, 0,
	    &p->kc);
	CHANGE_OK(kq, 1, EVFILT_USER, 0, NOTE_TRIGGER, NULL);
	seen = 0;
	{
		uint64_t dl = kct_now_ns() + 10 * KCT_NSEC_PER_SEC;

		while (!seen || atomic_load(&q->runs) < 1) {
			KC_CHECK(kct_now_ns() < dl);
			r = kevent(kq, NULL, 0, ev, 4, &ts);
			KC_CHECK_GE(r, 0);
			for (i = 0; i < r; i++) {
				KC_CHECK_EQ(ev[i].ident, 77);
				KC_CHECK_EQ(ev[i].filter, EVFILT_USER);
				KC_CHECK_PTR_EQ(ev[i].udata, (void *)0x77);
				seen++;
			}
		}
	}
	KC_CHECK_EQ(RC(p), 0);
	KC_CHECK_EQ(atomic_load(&p->runs), 1);
	KC_CHECK_EQ(seen, 1);
	KC_CHECK_EQ(atomic_load(&q->runs), 1);
	KC_CHECK_EQ(LAST(q).ident, 78);
	KC_CHECK_EQ(drive(kq, 20), 0);
	CHANGE_OK(kq, 77, EVFILT_USER, EV_DELETE, 0, NULL);
	CHANGE_OK(kq, 78, EVFILT_USER, EV_DELETE, 0, NULL);
	free(p);
	free(q);
	close(kq);
}

/* Close the kqueue from inside a continuation. */
#define CLOSE_WAIT_S	15	/* kevent() timeout while the kqueue closes */
#define CLOSE_BOUND_S	5	/* it must return well before that */

struct blocker {
	int		kq;
	atomic_int	entered;
	pthread_t	self;
	int		r, err;
	uint64_t	t_ret;
};

static void *
blocker_main(void *arg)
{
	struct blocker *b = arg;
	struct kevent ev[4];
	struct timespec ts = { CLOSE_WAIT_S, 0 };

	b->self = pthread_self();
	atomic_store(&b->entered, 1);
	b->r = kevent(b->kq, NULL, 0, ev, 4, &ts);
	b->err = errno;
	b->t_ret = kct_now_ns();
	return NULL;
}

/* A kevent() call on a kqueue closed meanwhile returned, not timed out. */
static void
check_returned(const char *who, uint64_t t0, uint64_t t1)
{
	if (t1 - t0 >= CLOSE_BOUND_S * KCT_NSEC_PER_SEC)
		kct_fail(__FILE__, __LINE__, "%s: kevent() went on waiting "
		    "(%.1f s of its %d s timeout) after a continuation closed "
		    "the kqueue", who, (double)(t1 - t0) / 1e9, CLOSE_WAIT_S);
}

static void
test_close_kq_inside(void)
{
	struct probe *p;
	struct kevent ev[4];
	struct timespec ts = { CLOSE_WAIT_S, 0 };
	struct blocker b[2];
	pthread_t t[2];
	uint64_t t0;
	int kq, pp[2], r, i, other;

	/* Driven by this thread, with other knotes registered too. */
	kq = kqueue();
	KC_CHECK_GE(kq, 0);
	p = probe_new(ACT_CLOSE_KQ, kq, NULL);
	mkpipe(pp);
	CHANGE_OK(kq, (uintptr_t)pp[0], EVFILT_READ, EV_ADD, 0, NULL);
	{
		struct kevent tm;

		EV_SET(&tm, 9, EVFILT_TIMER, EV_ADD, NOTE_SECONDS, 60, NULL);
		KC_CHECK_EQ(kevent(kq, &tm, 1, NULL, 0, NULL), 0);
	}
	CHANGE_OK(kq, 2, EVFILT_USER, EV_ADD | EV_CLEAR, 0, NULL);
	CHANGE_OK(kq, 1, EVFILT_USER, EV_ADD | EV_CLEAR | EV_KCONT, 0, &p->kc);
	CHANGE_OK(kq, 1, EVFILT_USER, 0, NOTE_TRIGGER, NULL);
	errno = 0;
	t0 = kct_now_ns();
	r = kevent(kq, NULL, 0, ev, 4, &ts);
	KC_CHECK(r >= 0 || errno == EBADF);
	check_returned("the driving thread", t0, kct_now_ns());
	KC_CHECK_EQ(atomic_load(&p->runs), 1);
	KC_CHECK_EQ(RC(p), 0);
	errno = 0;
	KC_CHECK_EQ(kevent(kq, NULL, 0, ev, 4, &ts), -1);
	KC_CHECK_EQ(errno, EBADF);
	KC_CHECK_EQ(fcntl(kq, F_GETFD), -1);
	free(p);

	/* Two threads blocked on it: the one that does not run it: EBADF. */
	kq = kqueue();
	KC_CHECK_GE(kq, 0);
	p = probe_new(ACT_CLOSE_KQ, kq, NULL);
	CHANGE_OK(kq, (uintptr_t)pp[0], EVFILT_READ, EV_ADD, 0, NULL);
	CHANGE_OK(kq, 1, EVFILT_USER, EV_ADD | EV_CLEAR | EV_KCONT, 0, &p->kc);
	for (i = 0; i < 2; i++) {
		memset(&b[i], 0, sizeof(b[i]));
		b[i].kq = kq;
		t[i] = kct_thread_start(blocker_main, &b[i]);
	}
	KCT_WAIT(atomic_load(&b[0].entered) && atomic_load(&b[1].entered), 10);
	kct_sleep_ns(50 * MS);			/* let them block */
	t0 = kct_now_ns();
	CHANGE_OK(kq, 1, EVFILT_USER, 0, NOTE_TRIGGER, NULL);
	kct_thread_join(t[0]);
	kct_thread_join(t[1]);
	check_returned("blocked thread 0", t0, b[0].t_ret);
	check_returned("blocked thread 1", t0, b[1].t_ret);
	KC_CHECK_EQ(atomic_load(&p->runs), 1);
	KC_CHECK_EQ(RC(p), 0);
	if (pthread_equal(snap(p).thread, t[0]))
		other = 1;
	else {
		KC_CHECK(pthread_equal(snap(p).thread, t[1]));
		other = 0;
	}
	KC_CHECK_EQ(b[other].r, -1);
	KC_CHECK_EQ(b[other].err, EBADF);
	KC_CHECK(b[1 - other].r >= 0 || b[1 - other].err == EBADF);
	free(p);
	KC_CHECK_OK(close(pp[0]));
	KC_CHECK_OK(close(pp[1]));
}

/* EV_DELETE from another thread waits for a running continuation. */
static void
barrier_rounds(int kq, struct probe *p, bool driven)
{
	int i, before;

	/* A continuation running for ~50 ms while EV_DELETE comes. */
	for (i = 0; i < 4; i++) {
		before = atomic_load(&p->runs);
		atomic_store(&p->started, 0);
		atomic_store(&p->finished, 0);
		p->payload = 0;
		p->slow_ns = 50 * MS;
		CHANGE_OK(kq, 1, EVFILT_USER, EV_ADD | EV_CLEAR | EV_KCONT, 0,
		    &p->kc);
		CHANGE_OK(kq, 1, EVFILT_USER, 0, NOTE_TRIGGER, NULL);
		KCT_WAIT(atomic_load(&p->started), 10);
		CHANGE_OK(kq, 1, EVFILT_USER, EV_DELETE, 0, NULL);
		KC_CHECK_EQ(atomic_load(&p->finished), 1);
		KC_CHECK_EQ(p->payload, 42 + before);	/* plain read */
		KC_CHECK_EQ(atomic_load(&p->runs), before + 1);
		KC_CHECK_EQ(kc_state(&p->kc), KC_STATE_IDLE);
		change_err(kq, 1, EVFILT_USER, 0, NOTE_TRIGGER, NULL, ENOENT);
		kct_sleep_ns(20 * MS);
		KC_CHECK_EQ(atomic_load(&p->runs), before + 1);
	}
	/* Never triggered: never runs. */
	before = atomic_load(&p->runs);
	CHANGE_OK(kq, 1, EVFILT_USER, EV_ADD | EV_CLEAR | EV_KCONT, 0, &p->kc);
	CHANGE_OK(kq, 1, EVFILT_USER, EV_DELETE, 0, NULL);
	kct_sleep_ns(20 * MS);
	KC_CHECK_EQ(atomic_load(&p->runs), before);
	/* Racing the activation: when EV_DELETE returns, done or never. */
	p->slow_ns = 200 * 1000;
	for (i = 0; i < 100; i++) {
		int s, f;

		atomic_store(&p->started, 0);
		atomic_store(&p->finished, 0);
		CHANGE_OK(kq, 1, EVFILT_USER, EV_ADD | EV_CLEAR | EV_KCONT, 0,
		    &p->kc);
		CHANGE_OK(kq, 1, EVFILT_USER, 0, NOTE_TRIGGER, NULL);
		if (i & 1)
			kct_sleep_ns(kct_rand_below(300) * 1000);
		CHANGE_OK(kq, 1, EVFILT_USER, EV_DELETE, 0, NULL);
		s = atomic_load(&p->started);
		f = atomic_load(&p->finished);
		KC_CHECK_EQ(s, f);
		KC_CHECK_EQ(kc_state(&p->kc), KC_STATE_IDLE);
		if (i % 10 == 0 || !driven) {
			kct_sleep_ns(2 * MS);
			KC_CHECK_EQ(atomic_load(&p->started), s);
		}
	}
}

static void
test_delete_barrier(void)
{
	struct driver d;
	struct probe *p;
	pthread_t t;
	int kq = kqueue();

	/* Plain kqueue, a thread driving it; the continuation sleeps. */
	KC_CHECK_GE(kq, 0);
	p = probe_new(ACT_SLOW, kq, NULL);
	p->slow_sleep = true;
	memset(&d, 0, sizeof(d));
	d.kq = kq;
	t = kct_thread_start(driver_main, &d);
	barrier_rounds(kq, p, true);
	atomic_store(&d.stop, 1);
	kct_thread_join(t);
	free(p);
	close(kq);
}

static void
test_delete_barrier_soft(void)
{
	struct kc_executor *ex;
	struct probe *p;
	int kq;

	/* A soft executor's kqueue; the continuation spins (must not block). */
	ex = kct_exec_soft("kq-barrier");
	kq = kc_executor_kqueue(ex);
	KC_CHECK_GE(kq, 0);
	p = probe_new(ACT_SLOW, kq, ex);
	barrier_rounds(kq, p, false);
	kct_exec_finish(ex);
	free(p);
}

/* The kc's executor must be NULL or the soft executor owning the kqueue. */
static void
test_wrong_executor(void)
{
	struct kc_executor *thr, *s1, *s2;
	struct probe *pt, *p1, *p2, *pn;
	int kq = kqueue(), k1, k2, pp[2];

	KC_CHECK_GE(kq, 0);
	thr = kct_exec_thread(2, "kq-thr");
	s1 = kct_exec_soft("kq-s1");
	s2 = kct_exec_soft("kq-s2");
	KC_CHECK_EQ(kc_executor_kqueue(thr), -EINVAL);
	k1 = kc_executor_kqueue(s1);
	k2 = kc_executor_kqueue(s2);
	KC_CHECK_GE(k1, 0);
	KC_CHECK_GE(k2, 0);
	KC_CHECK_NE(k1, k2);
	KC_CHECK_EQ(kc_executor_kqueue(s1), k1);	/* the same one */
	pt = probe_new(ACT_NONE, kq, thr);
	p1 = probe_new(ACT_NONE, kq, s1);
	p2 = probe_new(ACT_NONE, kq, s2);
	pn = probe_new(ACT_NONE, kq, NULL);
	mkpipe(pp);

	/* Plain kqueue: only immediate kcs. */
	change_err(kq, 1, EVFILT_USER, EV_ADD | EV_KCONT, 0, &pt->kc, EINVAL);
	change_err(kq, 1, EVFILT_USER, EV_ADD | EV_KCONT, 0, &p1->kc, EINVAL);
	change_err(kq, (uintptr_t)pp[0], EVFILT_READ, EV_ADD | EV_KCONT, 0,
	    &pt->kc, EINVAL);
	change_err(kq, 1, EVFILT_USER, EV_DELETE, 0, NULL, ENOENT);
	/* A modify to a bad kc fails and leaves the knote as it was. */
	CHANGE_OK(kq, 1, EVFILT_USER, EV_ADD | EV_CLEAR | EV_KCONT, 0,
	    &pn->kc);
	change_err(kq, 1, EVFILT_USER, EV_ADD | EV_CLEAR | EV_KCONT, 0,
	    &pt->kc, EINVAL);
	CHANGE_OK(kq, 1, EVFILT_USER, 0, NOTE_TRIGGER, NULL);
	drive_until(kq, pn, 1);
	CHANGE_OK(kq, 1, EVFILT_USER, EV_DELETE, 0, NULL);

	/* s1's kqueue: s1's kcs and immediate ones; not s2's, not thr's. */
	change_err(k1, 1, EVFILT_USER, EV_ADD | EV_KCONT, 0, &p2->kc, EINVAL);
	change_err(k1, 1, EVFILT_USER, EV_ADD | EV_KCONT, 0, &pt->kc, EINVAL);
	change_err(k2, (uintptr_t)pp[0], EVFILT_READ, EV_ADD | EV_KCONT, 0,
	    &p1->kc, EINVAL);
	/* Without EV_KCONT: EINVAL. */
	change_err(k1, 2, EVFILT_USER, EV_ADD, 0, NULL, EINVAL);
	change_err(k1, (uintptr_t)pp[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0,
	    NULL, EINVAL);
	change_err(k1, 3, EVFILT_TIMER, EV_ADD, 0, NULL, EINVAL);
	change_err(k1, 2, EVFILT_USER, EV_DELETE, 0, NULL, ENOENT);
	CHANGE_OK(k1, 1, EVFILT_USER, EV_ADD | EV_KCONT, 0, &p1->kc);
	/* Nor may an EV_KCONT knote there be modified into a plain one. */
	change_err(k1, 1, EVFILT_USER, EV_ADD, 0, NULL, EINVAL);
	CHANGE_OK(k1, 1, EVFILT_USER, EV_DELETE, 0, NULL);

	KC_CHECK_OK(close(pp[0]));
	KC_CHECK_OK(close(pp[1]));
	kct_exec_finish(thr);
	kct_exec_finish(s1);
	kct_exec_finish(s2);
	free(pt);
	free(p1);
	free(p2);
	free(pn);
	close(kq);
}

/* A soft executor's kqueue runs its knotes on the executor's thread. */
static void
test_soft_kqueue(void)
{
	struct kc_executor *ex;
	struct probe *p, *q, *o;
	struct kevent ch, out, evs[4];
	struct timespec zero = { 0, 0 }, tmo = { 0, 200 * MS };
	struct kct_gate gate;
	int kq, pp[2], i;

	ex = kct_exec_soft("kq-soft");
	kq = kc_executor_kqueue(ex);
	KC_CHECK_GE(kq, 0);
	p = probe_new(ACT_NONE, kq, ex);
	mkpipe(pp);
	CHANGE_OK(kq, (uintptr_t)pp[0], EVFILT_READ,
	    EV_ADD | EV_CLEAR | EV_KCONT, 0, &p->kc);
	kct_sleep_ns(20 * MS);
	KC_CHECK_EQ(atomic_load(&p->runs), 0);
	/* Nobody calls kevent() to collect. */
	KC_CHECK_EQ(write(pp[1], "x", 1), 1);
	KCT_WAIT(atomic_load(&p->runs) == 1, 10);
	KC_CHECK_PTR_EQ(snap(p).cur, ex);
	KC_CHECK(!pthread_equal(snap(p).thread, pthread_self()));
	KC_CHECK_EQ(LAST(p).ident, (uintptr_t)pp[0]);
	KC_CHECK_EQ(LAST(p).filter, EVFILT_READ);
	KC_CHECK_EQ(LAST(p).data, 1);
	KC_CHECK_EQ(snap(p).status, 0);
	KC_CHECK_EQ(write(pp[1], "yyy", 3), 3);
	KCT_WAIT(atomic_load(&p->runs) == 2, 10);
	KC_CHECK_EQ(LAST(p).data, 4);
	KC_CHECK_PTR_EQ(snap(p).cur, ex);
	kct_sleep_ns(20 * MS);
	KC_CHECK_EQ(atomic_load(&p->runs), 2);		/* EV_CLEAR */

	/* An immediate kc on the soft kqueue runs on ex's thread too. */
	q = probe_new(ACT_NONE, kq, NULL);
	CHANGE_OK(kq, 5, EVFILT_USER, EV_ADD | EV_CLEAR | EV_KCONT, 0, &q->kc);
	for (i = 0; i < 50; i++) {
		CHANGE_OK(kq, 5, EVFILT_USER, 0,
		    NOTE_TRIGGER | NOTE_FFCOPY | (unsigned)i, NULL);
		KCT_WAIT(atomic_load(&q->runs) == i + 1, 10);
		KC_CHECK_EQ(LAST(q).fflags, (unsigned)i);
		KC_CHECK_PTR_EQ(snap(q).cur, ex);
		KC_CHECK(pthread_equal(snap(q).thread, snap(p).thread));
	}

	/* Modify: the new kc runs instead of the old. */
	o = probe_new(ACT_NONE, kq, ex);
	CHANGE_OK(kq, 5, EVFILT_USER, EV_ADD | EV_CLEAR | EV_KCONT, 0, &o->kc);
	CHANGE_OK(kq, 5, EVFILT_USER, 0, NOTE_TRIGGER, NULL);
	KCT_WAIT(atomic_load(&o->runs) == 1, 10);
	kct_sleep_ns(10 * MS);
	KC_CHECK_EQ(atomic_load(&q->runs), 50);
	KC_CHECK_PTR_EQ(snap(o).cur, ex);

	/*
	 * Nobody else collects: while ex is busy, a kevent() that asks for
	 * events on its kqueue returns none and runs nothing; the activation
	 * stays the executor's.
	 */
	memset(&gate, 0, sizeof(gate));
	kct_gate_hold(&gate, ex);
	CHANGE_OK(kq, 5, EVFILT_USER, 0, NOTE_TRIGGER, NULL);
	KC_CHECK_EQ(kevent(kq, NULL, 0, evs, 4, &tmo), 0);
	KC_CHECK_EQ(atomic_load(&o->runs), 1);
	kct_gate_release(&gate);
	kct_gate_wait(&gate);
	KCT_WAIT(atomic_load(&o->runs) == 2, 10);
	KC_CHECK_PTR_EQ(snap(o).cur, ex);

	/* EV_DISPATCH on the soft kqueue: one run per enable. */
	CHANGE_OK(kq, (uintptr_t)pp[0], EVFILT_READ,
	    EV_ADD | EV_DISPATCH | EV_KCONT, 0, &p->kc);
	KCT_WAIT(atomic_load(&p->runs) == 3, 10);	/* 4 bytes are there */
	for (i = 0; i < 10; i++) {
		kct_sleep_ns(5 * MS);
		KC_CHECK_EQ(atomic_load(&p->runs), 3 + i);
		CHANGE_OK(kq, (uintptr_t)pp[0], EVFILT_READ, EV_ENABLE, 0,
		    NULL);
		KCT_WAIT(atomic_load(&p->runs) == 4 + i, 10);
	}
	/* EV_DISABLE then EV_ENABLE. */
	kct_sleep_ns(5 * MS);
	CHANGE_OK(kq, (uintptr_t)pp[0], EVFILT_READ,
	    EV_ADD | EV_KCONT | EV_DISABLE, 0, &p->kc);
	kct_sleep_ns(30 * MS);
	KC_CHECK_EQ(atomic_load(&p->runs), 13);
	CHANGE_OK(kq, (uintptr_t)pp[0], EVFILT_READ, EV_DELETE, 0, NULL);

	/* EV_ONESHOT there. */
	CHANGE_OK(kq, (uintptr_t)pp[0], EVFILT_READ,
	    EV_ADD | EV_ONESHOT | EV_KCONT, 0, &p->kc);
	KCT_WAIT(atomic_load(&p->runs) == 14, 10);
	kct_sleep_ns(20 * MS);
	KC_CHECK_EQ(atomic_load(&p->runs), 14);
	change_err(kq, (uintptr_t)pp[0], EVFILT_READ, EV_DELETE, 0, NULL,
	    ENOENT);

	/* EV_RECEIPT there. */
	EV_SET(&ch, 6, EVFILT_USER, EV_ADD | EV_CLEAR | EV_KCONT | EV_RECEIPT,
	    0, 0, &p->kc);
	memset(&out, 0, sizeof(out));
	KC_CHECK_EQ(kevent(kq, &ch, 1, &out, 1, &zero), 1);
	KC_CHECK(out.flags & EV_ERROR);
	KC_CHECK_EQ(out.data, 0);
	KC_CHECK_EQ(out.ident, 6);
	CHANGE_OK(kq, 6, EVFILT_USER, EV_DELETE, 0, NULL);

	/* Delete from inside, on ex. */
	q->act = ACT_DELETE_SELF;
	CHANGE_OK(kq, 7, EVFILT_USER, EV_ADD | EV_CLEAR | EV_KCONT, 0, &q->kc);
	CHANGE_OK(kq, 7, EVFILT_USER, 0, NOTE_TRIGGER, NULL);
	KCT_WAIT(atomic_load(&q->runs) == 51, 10);
	KC_CHECK_EQ(RC(q), 0);
	change_err(kq, 7, EVFILT_USER, 0, NOTE_TRIGGER, NULL, ENOENT);

	CHANGE_OK(kq, 5, EVFILT_USER, EV_DELETE, 0, NULL);
	KC_CHECK_OK(close(pp[0]));
	KC_CHECK_OK(close(pp[1]));
	kct_exec_finish(ex);
	free(p);
	free(q);
	free(o);
}

/* Standard knote operations with EV_KCONT on a plain kqueue. */
static void
test_flags(void)
{
	struct probe *a, *b;
	struct kevent ch[2], out[2];
	struct timespec zero = { 0, 0 };
	int kq = kqueue(), kq2 = kqueue(), pp[2], want;

	KC_CHECK_GE(kq, 0);
	KC_CHECK_GE(kq2, 0);
	a = probe_new(ACT_NONE, kq, NULL);
	b = probe_new(ACT_NONE, kq2, NULL);
	mkpipe(pp);
	KC_CHECK_EQ(write(pp[1], "x", 1), 1);

	/* Added disabled on a ready pipe: no run until enabled. */
	CHANGE_OK(kq, (uintptr_t)pp[0], EVFILT_READ,
	    EV_ADD | EV_CLEAR | EV_DISABLE | EV_KCONT, 0, &a->kc);
	KC_CHECK_EQ(drive(kq, 30), 0);
	KC_CHECK_EQ(atomic_load(&a->runs), 0);
	CHANGE_OK(kq, (uintptr_t)pp[0], EVFILT_READ, EV_ENABLE, 0, NULL);
	drive_until(kq, a, 1);
	/* Disabled: new data does not run it. */
	CHANGE_OK(kq, (uintptr_t)pp[0], EVFILT_READ, EV_DISABLE, 0, NULL);
	KC_CHECK_EQ(write(pp[1], "x", 1), 1);
	KC_CHECK_EQ(drive(kq, 30), 0);
	KC_CHECK_EQ(atomic_load(&a->runs), 1);
	/* Enabled: may run for the data that came meanwhile; new data does. */
	CHANGE_OK(kq, (uintptr_t)pp[0], EVFILT_READ, EV_ENABLE, 0, NULL);
	KC_CHECK_EQ(drive(kq, 30), 0);
	want = atomic_load(&a->runs);
	KC_CHECK(want == 1 || want == 2);
	KC_CHECK_EQ(write(pp[1], "x", 1), 1);
	drive_until(kq, a, ++want);
	KC_CHECK_EQ(drive(kq, 20), 0);
	KC_CHECK_EQ(atomic_load(&a->runs), want);

	/* Several kqueues, each with its own kc on the same descriptor. */
	CHANGE_OK(kq2, (uintptr_t)pp[0], EVFILT_READ,
	    EV_ADD | EV_CLEAR | EV_KCONT, 0, &b->kc);
	drive_until(kq2, b, 1);
	KC_CHECK_EQ(write(pp[1], "x", 1), 1);
	drive_until(kq, a, ++want);
	drive_until(kq2, b, 2);
	KC_CHECK_EQ(LAST(b).data, 4);
	KC_CHECK_EQ(LAST(a).data, 4);
	/* Deleting one leaves the other. */
	CHANGE_OK(kq2, (uintptr_t)pp[0], EVFILT_READ, EV_DELETE, 0, NULL);
	KC_CHECK_EQ(write(pp[1], "x", 1), 1);
	drive_until(kq, a, ++want);
	KC_CHECK_EQ(drive(kq2, 20), 0);
	KC_CHECK_EQ(atomic_load(&b->runs), 2);
	change_err(kq2, (uintptr_t)pp[0], EVFILT_READ, EV_DELETE, 0, NULL,
	    ENOENT);

	/* Modify: b replaces a on kq. */
	CHANGE_OK(kq, (uintptr_t)pp[0], EVFILT_READ,
	    EV_ADD | EV_CLEAR | EV_KCONT, 0, &b->kc);
	KC_CHECK_EQ(write(pp[1], "x", 1), 1);
	drive_until(kq, b, 3);
	KC_CHECK_EQ(drive(kq, 20), 0);
	KC_CHECK_EQ(atomic_load(&a->runs), want);

	/* EV_RECEIPT: a receipt, not a run. */
	EV_SET(&ch[0], 9, EVFILT_USER, EV_ADD | EV_CLEAR | EV_KCONT |
	    EV_RECEIPT, 0, 0, &a->kc);
	EV_SET(&ch[1], 10, EVFILT_USER, EV_DELETE | EV_KCONT, 0, 0, &a->kc);
	memset(out, 0, sizeof(out));
	KC_CHECK_EQ(kevent(kq, ch, 2, out, 2, &zero), 2);
	KC_CHECK_EQ(out[0].ident, 9);
	KC_CHECK(out[0].flags & EV_ERROR);
	KC_CHECK_EQ(out[0].data, 0);
	KC_CHECK_EQ(out[1].ident, 10);
	KC_CHECK(out[1].flags & EV_ERROR);
	KC_CHECK_EQ(out[1].data, ENOENT);
	KC_CHECK_EQ(atomic_load(&a->runs), want);
	CHANGE_OK(kq, 9, EVFILT_USER, 0, NOTE_TRIGGER, NULL);
	drive_until(kq, a, ++want);
	KC_CHECK_EQ(LAST(a).ident, 9);

	/* A timer with EV_KCONT: runs, with the expiration count. */
	CHANGE_OK(kq, 11, EVFILT_TIMER, EV_ADD | EV_ONESHOT | EV_KCONT, 0,
	    &a->kc);
	drive_until(kq, a, ++want);
	KC_CHECK_EQ(LAST(a).ident, 11);
	KC_CHECK_EQ(LAST(a).filter, EVFILT_TIMER);
	KC_CHECK_EQ(LAST(a).data, 1);

	/* Closing the descriptor drops its EV_KCONT knote. */
	KC_CHECK_OK(close(pp[0]));
	KC_CHECK_EQ(drive(kq, 20), 0);
	KC_CHECK_EQ(atomic_load(&b->runs), 3);
	CHANGE_OK(kq, 9, EVFILT_USER, EV_DELETE, 0, NULL);
	KC_CHECK_OK(close(pp[1]));
	free(b);			/* its knote went with the descriptor */
	close(kq);			/* the kqueue's knotes go with it */
	close(kq2);
	free(a);
}

int
main(void)
{
	kct_begin("kq-kcont", 100);
	test_basic();
	test_once_per_activation();
	test_cross_thread_clear();
	test_inside();
	test_close_kq_inside();
	test_delete_barrier();
	test_wrong_executor();
	test_flags();
	test_soft_kqueue();
	test_delete_barrier_soft();
	return kct_done();
}
