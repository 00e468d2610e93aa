/*
 * kq-threads: kevent() is thread-safe (see notes/kq-spec.md, General).
 *
 *   4 threads blocked in kevent() on one kqueue, one EV_ONESHOT event: it
 *   is delivered to exactly one of them (the others are released by a
 *   level event on a second pipe, or time out after 200 ms and wait
 *   again); 200 rounds.  The same with EV_DISPATCH (re-enabled per round).
 *   After each round nothing else is pending (the one-shot knote is gone,
 *   the dispatched one disabled though its pipe is still readable).
 *   Many threads adding/modifying/disabling/deleting distinct knotes while
 *   others collect events: no crash, no error, every event names a knote
 *   that was registered (ident and udata agree), nothing pending at the
 *   end; with EV_ONESHOT, for every knote added exactly one of "collected"
 *   and "EV_DELETE succeeded" happens.
 */
#include <sys/event.h>
#include "kctest.h"
#include "kqtest.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NWAITERS	4
#define ROUNDS		200

/* ---- one event, many waiters ---- */

struct race {
	int		kq;
	int		ev_rd, ev_wr;	/* the EV_ONESHOT/EV_DISPATCH knote */
	int		rel_rd, rel_wr;	/* a level knote that releases */
	atomic_int	round;
	atomic_int	entering;
	atomic_int	done;
	atomic_int	got;
	atomic_int	stop;
};

static void *
waiter_main(void *arg)
{
	struct race *rc = arg;
	struct timespec ts = { 0, 200 * 1000000L };
	struct kevent ev;
	uint64_t dl;
	int r, n;

	for (r = 1;; r++) {
		KCT_WAIT(atomic_load(&rc->round) >= r ||
		    atomic_load(&rc->stop), 30);
		if (atomic_load(&rc->stop))
			break;
		atomic_fetch_add(&rc->entering, 1);
		dl = kct_now_ns() + 10 * KCT_NSEC_PER_SEC;
		for (;;) {
			memset(&ev, 0xa5, sizeof(ev));
			n = kevent(rc->kq, NULL, 0, &ev, 1, &ts);
			KC_CHECK_GE(n, 0);
			KC_CHECK_LE(n, 1);
			if (n == 1) {
				KC_CHECK_EQ(ev.flags & EV_ERROR, 0);
				KC_CHECK_EQ(ev.filter, EVFILT_READ);
				if (ev.ident == (uintptr_t)rc->ev_rd) {
					atomic_fetch_add(&rc->got, 1);
					break;
				}
				KC_CHECK_EQ(ev.ident, (uintptr_t)rc->rel_rd);
				break;
			}
			if (kct_now_ns() > dl)
				kct_fail(__FILE__, __LINE__, "round %d: no event"
				    " for 10 s", r);
		}
		atomic_fetch_add(&rc->done, 1);
	}
	return NULL;
}

static void
test_one_to_one(unsigned short mode)
{
	struct race rc;
	struct kevent evs[4];
	pthread_t t[NWAITERS];
	int p[2], i, round;

	printf("  one %s event, %d waiters, %d rounds\n",
	    mode == EV_ONESHOT ? "EV_ONESHOT" : "EV_DISPATCH", NWAITERS,
	    ROUNDS);
	memset(&rc, 0, sizeof(rc));
	rc.kq = kqt_open();
	KC_CHECK_OK(pipe2(p, O_CLOEXEC | O_NONBLOCK));
	rc.ev_rd = p[0];
	rc.ev_wr = p[1];
	KC_CHECK_OK(pipe2(p, O_CLOEXEC | O_NONBLOCK));
	rc.rel_rd = p[0];
	rc.rel_wr = p[1];
	KQT_CHANGE_OK(rc.kq, rc.rel_rd, EVFILT_READ, EV_ADD, 0, 0, NULL);
	if (mode == EV_DISPATCH)
		KQT_CHANGE_OK(rc.kq, rc.ev_rd, EVFILT_READ,
		    EV_ADD | EV_DISPATCH,
		    0, 0, NULL);
	for (i = 0; i < NWAITERS; i++)
		t[i] = kct_thread_start(waiter_main, &rc);

	for (round = 1; round <= ROUNDS; round++) {
		/* arm (the pipe is empty) */
		if (mode == EV_ONESHOT)
			KQT_CHANGE_OK(rc.kq, rc.ev_rd, EVFILT_READ,
			    EV_ADD | EV_ONESHOT, 0, 0, NULL);
		else
			KQT_CHANGE_OK(rc.kq, rc.ev_rd, EVFILT_READ, EV_ENABLE,
			    0,
			    0, NULL);
		atomic_store(&rc.entering, 0);
		atomic_store(&rc.done, 0);
		atomic_store(&rc.got, 0);
		atomic_store(&rc.round, round);
		KCT_WAIT(atomic_load(&rc.entering) == NWAITERS, 10);
		if (round % 4 == 0)
			kct_sleep_ns(KCT_NSEC_PER_MSEC);	/* all blocked */
		KC_CHECK_EQ(write(rc.ev_wr, "e", 1), 1);
		KCT_WAIT(atomic_load(&rc.got) >= 1, 10);
		KC_CHECK_EQ(write(rc.rel_wr, "r", 1), 1);
		KCT_WAIT(atomic_load(&rc.done) == NWAITERS, 10);
		if (atomic_load(&rc.got) != 1)
			kct_fail(__FILE__, __LINE__, "round %d: the event was "
			    "delivered %d times", round, atomic_load(&rc.got));
		/* nothing else pending (the event's pipe is still readable) */
		kqt_drain_pipe(rc.rel_rd);
		KC_CHECK_EQ(kevent(rc.kq, NULL, 0, evs, 4, &kqt_zero_ts), 0);
		if (mode == EV_ONESHOT)
			KC_CHECK_EQ(kqt_change(rc.kq, rc.ev_rd, EVFILT_READ,
			    EV_DELETE, 0, 0, NULL), ENOENT);
		kqt_drain_pipe(rc.ev_rd);
	}
	atomic_store(&rc.stop, 1);
	for (i = 0; i < NWAITERS; i++)
		(void)kct_thread_join(t[i]);
	KC_CHECK_OK(close(rc.ev_rd));
	KC_CHECK_OK(close(rc.ev_wr));
	KC_CHECK_OK(close(rc.rel_rd));
	KC_CHECK_OK(close(rc.rel_wr));
	KC_CHECK_OK(close(rc.kq));
}

/* ---- concurrent changes while others collect ---- */

#define NMUT		4
#define NCOL		2
#define NSLOT		8

struct churn {
	int		kq;
	bool		oneshot;
	int		rd[NMUT][NSLOT];
	int		wr[NMUT][NSLOT];
	atomic_long	adds[NMUT][NSLOT];
	atomic_long	deleted[NMUT][NSLOT];	/* EV_DELETE returned 0 */
	atomic_long	received[NMUT][NSLOT];
	atomic_int	mutators_done;
	unsigned	iters;
};

struct mut_arg {
	struct churn	*ch;
	int		 id;
};

/* udata: the slot, so that a collector can check the ident. */
static void *
slot_udata(int id, int s)
{
	return (void *)(uintptr_t)(0x10000 + id * NSLOT + s);
}

static void *
mutator_main(void *arg)
{
	struct mut_arg *ma = arg;
	struct churn *ch = ma->ch;
	int id = ma->id, s, e;
	unsigned it;
	uintptr_t fd;

	for (it = 0; it < ch->iters; it++) {
		s = (int)(it % NSLOT);
		fd = (uintptr_t)ch->rd[id][s];
		if (ch->oneshot) {
			KQT_CHANGE_OK(ch->kq, fd, EVFILT_READ,
			    EV_ADD | EV_ONESHOT,
			    0, 0, slot_udata(id, s));
			atomic_fetch_add(&ch->adds[id][s], 1);
			if (kct_rand_below(4) == 0)
				sched_yield();
			e = kqt_change(ch->kq, fd, EVFILT_READ, EV_DELETE, 0, 0,
			    NULL);
			if (e == 0)
				atomic_fetch_add(&ch->deleted[id][s], 1);
			else
				KC_CHECK_EQ(e, ENOENT);
			continue;
		}
		KQT_CHANGE_OK(ch->kq, fd, EVFILT_READ, EV_ADD, 0, 0,
		    slot_udata(id, s));
		atomic_fetch_add(&ch->adds[id][s], 1);
		switch (kct_rand_below(4)) {
		case 0:
			KQT_CHANGE_OK(ch->kq, fd, EVFILT_READ, EV_DISABLE, 0, 0,
			    NULL);
			KQT_CHANGE_OK(ch->kq, fd, EVFILT_READ, EV_ENABLE, 0, 0,
			    NULL);
			break;
		case 1:	/* modify: same udata, now EV_CLEAR */
			KQT_CHANGE_OK(ch->kq, fd, EVFILT_READ,
			    EV_ADD | EV_CLEAR,
			    0, 0, slot_udata(id, s));
			break;
		case 2:
			sched_yield();
			break;
		default:
			break;
		}
		KQT_CHANGE_OK(ch->kq, fd, EVFILT_READ, EV_DELETE, 0, 0, NULL);
		atomic_fetch_add(&ch->deleted[id][s], 1);
	}
	atomic_fetch_add(&ch->mutators_done, 1);
	return NULL;
}

static void *
collector_main(void *arg)
{
	struct churn *ch = arg;
	struct timespec ts = { 0, 10 * 1000000L };
	struct kevent ev[16];
	int n, i, id, s;
	uintptr_t u;
	uint64_t dl = kct_now_ns() + 60 * KCT_NSEC_PER_SEC;

	while (atomic_load(&ch->mutators_done) < NMUT) {
		if (kct_now_ns() > dl)
			kct_fail(__FILE__, __LINE__, "mutators did not finish");
		n = kevent(ch->kq, NULL, 0, ev, 16, &ts);
		KC_CHECK_GE(n, 0);
		KC_CHECK_LE(n, 16);
		for (i = 0; i < n; i++) {
			KC_CHECK_EQ(ev[i].flags & EV_ERROR, 0);
			KC_CHECK_EQ(ev[i].filter, EVFILT_READ);
			u = (uintptr_t)ev[i].udata;
			KC_CHECK_GE(u, 0x10000);
			KC_CHECK_LT(u, 0x10000 + NMUT * NSLOT);
			id = (int)((u - 0x10000) / NSLOT);
			s = (int)((u - 0x10000) % NSLOT);
			KC_CHECK_EQ(ev[i].ident, (uintptr_t)ch->rd[id][s]);
			KC_CHECK_EQ(ev[i].data, 1);
			atomic_fetch_add(&ch->received[id][s], 1);
		}
	}
	return NULL;
}

static void
test_churn(bool oneshot)
{
	struct churn *ch = calloc(1, sizeof(*ch));
	struct mut_arg ma[NMUT];
	pthread_t tm[NMUT], tc[NCOL];
	struct kevent evs[4];
	long adds = 0, recv = 0;
	int i, s, p[2];

	KC_CHECK(ch != NULL);
	ch->kq = kqt_open();
	ch->oneshot = oneshot;
	ch->iters = kct_sanitized() ? 500 : 4000;
	printf("  churn: %d threads x %u add/delete%s, %d collectors\n", NMUT,
	    ch->iters, oneshot ? " (EV_ONESHOT)" : "", NCOL);
	for (i = 0; i < NMUT; i++)
		for (s = 0; s < NSLOT; s++) {
			KC_CHECK_OK(pipe2(p, O_CLOEXEC | O_NONBLOCK));
			ch->rd[i][s] = p[0];
			ch->wr[i][s] = p[1];
			KC_CHECK_EQ(write(p[1], "x", 1), 1);	/* ready */
		}
	for (i = 0; i < NCOL; i++)
		tc[i] = kct_thread_start(collector_main, ch);
	for (i = 0; i < NMUT; i++) {
		ma[i].ch = ch;
		ma[i].id = i;
		tm[i] = kct_thread_start(mutator_main, &ma[i]);
	}
	for (i = 0; i < NMUT; i++)
		(void)kct_thread_join(tm[i]);
	for (i = 0; i < NCOL; i++)
		(void)kct_thread_join(tc[i]);
	/* everything deleted or delivered: nothing pending, nothing left */
	KC_CHECK_EQ(kevent(ch->kq, NULL, 0, evs, 4, &kqt_zero_ts), 0);
	for (i = 0; i < NMUT; i++)
		for (s = 0; s < NSLOT; s++) {
			KC_CHECK_EQ(kqt_change(ch->kq, (uintptr_t)ch->rd[i][s],
			    EVFILT_READ, EV_DELETE, 0, 0, NULL), ENOENT);
			KC_CHECK_EQ(atomic_load(&ch->adds[i][s]),
			    (long)(ch->iters / NSLOT +
			    ((unsigned)s < ch->iters % NSLOT)));
			if (oneshot) {
				/* each add: collected once, or deleted */
				KC_CHECK_EQ(atomic_load(&ch->received[i][s]) +
				    atomic_load(&ch->deleted[i][s]),
				    atomic_load(&ch->adds[i][s]));
			} else {
				KC_CHECK_EQ(atomic_load(&ch->deleted[i][s]),
				    atomic_load(&ch->adds[i][s]));
			}
			adds += atomic_load(&ch->adds[i][s]);
			recv += atomic_load(&ch->received[i][s]);
			KC_CHECK_OK(close(ch->rd[i][s]));
			KC_CHECK_OK(close(ch->wr[i][s]));
		}
	printf("    %ld adds, %ld events collected\n", adds, recv);
	KC_CHECK_OK(close(ch->kq));
	free(ch);
}

int
main(void)
{
	kct_begin("kq-threads", 110);
	signal(SIGPIPE, SIG_IGN);

	test_one_to_one(EV_ONESHOT);
	test_one_to_one(EV_DISPATCH);
	test_churn(false);
	test_churn(true);
	return kct_done();
}
