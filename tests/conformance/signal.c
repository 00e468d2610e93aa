/*
 * kq-signal: EVFILT_SIGNAL conformance (kq-spec.md, "EVFILT_SIGNAL").
 *
 * Covers: data counts deliveries since the last report (exactly: every
 * delivery is counted, none twice), EV_CLEAR implied (nothing more after a
 * report); the signal is not consumed and its disposition is not changed as
 * the program sees it: a handler (sa_handler and SA_SIGINFO) still runs and
 * sigaction() still reports it, also when installed after the knote; a signal
 * blocked with sigprocmask stays pending (sigpending, then sigtimedwait takes
 * it) after the event is reported, for thread- and process-directed and
 * queued real-time signals; a SIG_IGN'd signal is counted and sigaction()
 * reports SIG_IGN; a signal sent with pthread_kill (and kill) to another
 * thread that has it unblocked with a handler is counted; bad signal numbers
 * (0, 65, 1000, huge) -> EINVAL; add, delete, delete / enable / disable of a
 * missing knote -> ENOENT, EV_ADD|EV_DISABLE, EV_DISABLE and EV_ENABLE,
 * EV_ONESHOT, EV_DISPATCH, EV_RECEIPT, udata round trip, EV_ADD modify,
 * re-adding after delete counts only new deliveries, several kqueues
 * counting the same signal, and EV_RECEIPT on the events after a modify.  Uses SIGUSR1, SIGUSR2 and SIGRTMIN and leaves
 * dispositions, mask and pending set as it found them.
 */
#include <sys/event.h>

#include "kctest.h"
#include "kqtest.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int h_count[2];		/* [0] SIGUSR1 handler, [1] other */
static atomic_int h_tid;		/* thread the last handler ran on */
static atomic_int h_info_ok;		/* SA_SIGINFO saw the right signo */

static void
on_usr1(int sig)
{
	(void)sig;
	atomic_store(&h_tid, (int)kct_gettid());
	atomic_fetch_add(&h_count[0], 1);
}

static void
on_other(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (si != NULL && si->si_signo == sig)
		atomic_fetch_add(&h_info_ok, 1);
	atomic_fetch_add(&h_count[1], 1);
}

static void
set_handler(int sig, void (*fn)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sigemptyset(&sa.sa_mask);
	KC_CHECK_OK(sigaction(sig, &sa, NULL));
}

static void
set_siginfo_handler(int sig)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_other;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	KC_CHECK_OK(sigaction(sig, &sa, NULL));
}

/* What sigaction() reports now. */
static void *
disposition(int sig, int *flags)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	KC_CHECK_OK(sigaction(sig, NULL, &sa));
	if (flags != NULL)
		*flags = sa.sa_flags;
	if (sa.sa_flags & SA_SIGINFO)
		return (void *)sa.sa_sigaction;
	return (void *)sa.sa_handler;
}

static void
mask(int how, int sig)
{
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, sig);
	KC_CHECK_OK(pthread_sigmask(how, &s, NULL));
}

static int
is_pending(int sig)
{
	sigset_t s;

	sigemptyset(&s);
	KC_CHECK_OK(sigpending(&s));
	return sigismember(&s, sig);
}

/* Take one pending (blocked) sig; it must be there. */
static void
take_pending(int sig)
{
	struct timespec zero = { 0, 0 };
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, sig);
	KC_CHECK_EQ(sigtimedwait(&s, NULL, &zero), sig);
}

#define CHANGE_OK(kq, sig, fl, ud) \
	KQT_CHANGE_OK(kq, sig, EVFILT_SIGNAL, fl, 0, 0, ud)
#define change_err(kq, sig, fl, err) \
	kqt_change_err(kq, sig, EVFILT_SIGNAL, fl, 0, 0, (void *)0x99, err)

/*
 * Collect signal events until their data adds up to want (bounded), then
 * check for a short while that no more arrive: exactly want deliveries.
 * Every event is for sig with data >= 1 and udata as given.
 */
static void
count_exactly(int kq, int sig, int64_t want, void *udata)
{
	struct kevent ev[4];
	struct timespec ts = { 0, 100 * 1000000L };
	uint64_t dl = kct_now_ns() + 10 * KCT_NSEC_PER_SEC;
	int64_t sum = 0;
	int r, i, extra = 0;

	for (;;) {
		if (sum >= want) {
			if (extra++ == 1)
				break;
			ts.tv_nsec = 50 * 1000000L;
		}
		r = kevent(kq, NULL, 0, ev, 4, &ts);
		KC_CHECK_GE(r, 0);
		for (i = 0; i < r; i++) {
			KC_CHECK_EQ(ev[i].ident, sig);
			KC_CHECK_EQ(ev[i].filter, EVFILT_SIGNAL);
			KC_CHECK(!(ev[i].flags & EV_ERROR));
			KC_CHECK_GE(ev[i].data, 1);
			KC_CHECK_PTR_EQ(ev[i].udata, udata);
			sum += ev[i].data;
		}
		if (sum < want && kct_now_ns() > dl)
			kct_fail(__FILE__, __LINE__, "signal %d: counted %lld "
			    "of %lld deliveries", sig, (long long)sum,
			    (long long)want);
	}
	KC_CHECK_EQ(sum, want);
}

/* One event (bounded wait) with data >= 1; returns it. */
static struct kevent
get_one(int kq, int sig)
{
	struct kevent ev;

	kqt_get_one(kq, sig, EVFILT_SIGNAL, 10000, &ev);
	KC_CHECK_GE(ev.data, 1);
	return ev;
}

static void
raise_usr1(int n)
{
	int before = atomic_load(&h_count[0]), i;

	for (i = 0; i < n; i++)
		KC_CHECK_OK(raise(SIGUSR1));
	KCT_WAIT(atomic_load(&h_count[0]) == before + n, 10);
}

static void
test_bad_numbers(void)
{
	static const uintptr_t bad[] = { 0, 65, NSIG, 1000, 1u << 20,
	    UINTPTR_MAX };
	unsigned i;
	int kq = kqueue();

	KC_CHECK_GE(kq, 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		change_err(kq, bad[i], EV_ADD, EINVAL);
	change_err(kq, SIGUSR1, EV_DELETE, ENOENT);
	change_err(kq, SIGUSR1, EV_ENABLE, ENOENT);
	change_err(kq, SIGUSR1, EV_DISABLE, ENOENT);
	close(kq);
}

/* A handler still runs and is still what sigaction() reports. */
static void
test_handler(void)
{
	int kq = kqueue(), flags = 0;

	KC_CHECK_GE(kq, 0);
	set_handler(SIGUSR1, on_usr1);
	CHANGE_OK(kq, SIGUSR1, EV_ADD, (void *)0x51);
	KC_CHECK_PTR_EQ(disposition(SIGUSR1, NULL), (void *)on_usr1);
	kqt_expect_none_ms(kq, 20);
	raise_usr1(3);
	count_exactly(kq, SIGUSR1, 3, (void *)0x51);
	/* EV_CLEAR implied */
	kqt_expect_none_ms(kq, 0);
	raise_usr1(1);
	count_exactly(kq, SIGUSR1, 1, (void *)0x51);
	KC_CHECK_PTR_EQ(disposition(SIGUSR1, NULL), (void *)on_usr1);

	/* A SA_SIGINFO handler installed after the knote: runs, is reported. */
	CHANGE_OK(kq, SIGUSR2, EV_ADD, (void *)0x52);
	set_siginfo_handler(SIGUSR2);
	KC_CHECK_PTR_EQ(disposition(SIGUSR2, &flags), (void *)on_other);
	KC_CHECK(flags & SA_SIGINFO);
	atomic_store(&h_count[1], 0);
	atomic_store(&h_info_ok, 0);
	KC_CHECK_OK(raise(SIGUSR2));
	KC_CHECK_OK(raise(SIGUSR2));
	KCT_WAIT(atomic_load(&h_count[1]) == 2, 10);
	KC_CHECK_EQ(atomic_load(&h_info_ok), 2);
	count_exactly(kq, SIGUSR2, 2, (void *)0x52);
	/* Process-directed too. */
	KC_CHECK_OK(kill(getpid(), SIGUSR2));
	KCT_WAIT(atomic_load(&h_count[1]) == 3, 10);
	count_exactly(kq, SIGUSR2, 1, (void *)0x52);
	CHANGE_OK(kq, SIGUSR2, EV_DELETE, NULL);
	/* Still the program's after the knote is gone. */
	KC_CHECK_PTR_EQ(disposition(SIGUSR2, NULL), (void *)on_other);
	set_handler(SIGUSR2, SIG_DFL);
	KC_CHECK_PTR_EQ(disposition(SIGUSR2, NULL), (void *)SIG_DFL);
	CHANGE_OK(kq, SIGUSR1, EV_DELETE, NULL);
	close(kq);
}

/* A blocked signal stays pending after it is reported. */
static void
test_blocked(void)
{
	int kq = kqueue();

	KC_CHECK_GE(kq, 0);
	KC_CHECK(!is_pending(SIGUSR2));
	mask(SIG_BLOCK, SIGUSR2);
	CHANGE_OK(kq, SIGUSR2, EV_ADD, (void *)0x2);
	KC_CHECK_OK(raise(SIGUSR2));
	count_exactly(kq, SIGUSR2, 1, (void *)0x2);
	KC_CHECK(is_pending(SIGUSR2));
	KC_CHECK_PTR_EQ(disposition(SIGUSR2, NULL), (void *)SIG_DFL);
	take_pending(SIGUSR2);
	KC_CHECK(!is_pending(SIGUSR2));
	/* Process-directed, while blocked. */
	KC_CHECK_OK(kill(getpid(), SIGUSR2));
	count_exactly(kq, SIGUSR2, 1, (void *)0x2);
	KC_CHECK(is_pending(SIGUSR2));
	/* Still pending a while later (nobody took it behind our back). */
	kct_sleep_ns(20 * KCT_NSEC_PER_MSEC);
	KC_CHECK(is_pending(SIGUSR2));
	take_pending(SIGUSR2);
	CHANGE_OK(kq, SIGUSR2, EV_DELETE, NULL);
	mask(SIG_UNBLOCK, SIGUSR2);
	close(kq);
}

/*
 * Blocked, queued real-time signals: both stay queued, and the event comes.
 * A blocked signal reaches no handler, so the count is what the library can
 * see: it became pending (once here).  kqueue(3) documents that queued
 * real-time signals of one number may count as one.
 */
static void
test_blocked_queued(void)
{
	struct kevent ev;
	int kq = kqueue();

	KC_CHECK_GE(kq, 0);
	mask(SIG_BLOCK, SIGRTMIN);
	CHANGE_OK(kq, (uintptr_t)SIGRTMIN, EV_ADD, (void *)0x3);
	KC_CHECK_OK(raise(SIGRTMIN));
	KC_CHECK_OK(raise(SIGRTMIN));
	ev = get_one(kq, SIGRTMIN);
	KC_CHECK_LE(ev.data, 2);
	KC_CHECK_PTR_EQ(ev.udata, (void *)0x3);
	KC_CHECK(is_pending(SIGRTMIN));
	take_pending(SIGRTMIN);
	KC_CHECK(is_pending(SIGRTMIN));
	take_pending(SIGRTMIN);
	KC_CHECK(!is_pending(SIGRTMIN));
	CHANGE_OK(kq, (uintptr_t)SIGRTMIN, EV_DELETE, NULL);
	mask(SIG_UNBLOCK, SIGRTMIN);
	close(kq);
}

/* SIG_IGN'd signals are counted; SIG_IGN is still what is reported. */
static void
test_ignored(void)
{
	int kq = kqueue();

	KC_CHECK_GE(kq, 0);
	set_handler(SIGRTMIN, SIG_IGN);
	CHANGE_OK(kq, (uintptr_t)SIGRTMIN, EV_ADD, (void *)0x4);
	KC_CHECK_PTR_EQ(disposition(SIGRTMIN, NULL), (void *)SIG_IGN);
	KC_CHECK_OK(raise(SIGRTMIN));
	KC_CHECK_OK(raise(SIGRTMIN));
	count_exactly(kq, SIGRTMIN, 2, (void *)0x4);
	KC_CHECK_PTR_EQ(disposition(SIGRTMIN, NULL), (void *)SIG_IGN);
	KC_CHECK(!is_pending(SIGRTMIN));
	/* Ignored after the knote was added. */
	CHANGE_OK(kq, SIGUSR2, EV_ADD, (void *)0x5);
	set_handler(SIGUSR2, SIG_IGN);
	KC_CHECK_PTR_EQ(disposition(SIGUSR2, NULL), (void *)SIG_IGN);
	KC_CHECK_OK(raise(SIGUSR2));
	count_exactly(kq, SIGUSR2, 1, (void *)0x5);
	KC_CHECK(!is_pending(SIGUSR2));
	CHANGE_OK(kq, SIGUSR2, EV_DELETE, NULL);
	CHANGE_OK(kq, (uintptr_t)SIGRTMIN, EV_DELETE, NULL);
	set_handler(SIGUSR2, SIG_DFL);
	set_handler(SIGRTMIN, SIG_DFL);
	close(kq);
}

/* A signal sent to another thread, which handles it, is counted. */
struct other {
	atomic_int	tid;
	atomic_int	stop;
};

static void *
other_main(void *arg)
{
	struct other *o = arg;
	uint64_t dl = kct_now_ns() + 30 * KCT_NSEC_PER_SEC;

	mask(SIG_UNBLOCK, SIGUSR1);
	atomic_store(&o->tid, (int)kct_gettid());
	while (!atomic_load(&o->stop) && kct_now_ns() < dl)
		kct_sleep_ns(1000000);
	return NULL;
}

static void
test_other_thread(void)
{
	struct other o;
	pthread_t t;
	int kq = kqueue(), before;

	KC_CHECK_GE(kq, 0);
	memset(&o, 0, sizeof(o));
	set_handler(SIGUSR1, on_usr1);
	mask(SIG_BLOCK, SIGUSR1);		/* not on this thread */
	t = kct_thread_start(other_main, &o);
	KCT_WAIT(atomic_load(&o.tid) != 0, 10);
	CHANGE_OK(kq, SIGUSR1, EV_ADD, (void *)0x6);

	before = atomic_load(&h_count[0]);
	atomic_store(&h_tid, 0);
	KC_CHECK_OK(pthread_kill(t, SIGUSR1));
	KCT_WAIT(atomic_load(&h_count[0]) == before + 1, 10);
	KC_CHECK_EQ(atomic_load(&h_tid), atomic_load(&o.tid));
	count_exactly(kq, SIGUSR1, 1, (void *)0x6);

	/* Process-directed: only that thread can take it. */
	atomic_store(&h_tid, 0);
	KC_CHECK_OK(kill(getpid(), SIGUSR1));
	KCT_WAIT(atomic_load(&h_count[0]) == before + 2, 10);
	KC_CHECK_EQ(atomic_load(&h_tid), atomic_load(&o.tid));
	count_exactly(kq, SIGUSR1, 1, (void *)0x6);
	KC_CHECK(!is_pending(SIGUSR1));

	atomic_store(&o.stop, 1);
	kct_thread_join(t);
	CHANGE_OK(kq, SIGUSR1, EV_DELETE, NULL);
	mask(SIG_UNBLOCK, SIGUSR1);
	close(kq);
}

/* add / delete / enable / disable / ONESHOT / DISPATCH / RECEIPT / udata. */
static void
test_flags(void)
{
	struct kevent ch[2], out[2], ev;
	struct timespec zero = { 0, 0 };
	int kq = kqueue();

	KC_CHECK_GE(kq, 0);
	set_handler(SIGUSR1, on_usr1);

	/* Delete: no longer counted; re-added: counts only what follows. */
	CHANGE_OK(kq, SIGUSR1, EV_ADD, (void *)0x10);
	CHANGE_OK(kq, SIGUSR1, EV_DELETE, NULL);
	raise_usr1(1);
	kqt_expect_none_ms(kq, 50);
	change_err(kq, SIGUSR1, EV_DELETE, ENOENT);
	CHANGE_OK(kq, SIGUSR1, EV_ADD, (void *)0x11);
	kqt_expect_none_ms(kq, 50);
	raise_usr1(2);
	count_exactly(kq, SIGUSR1, 2, (void *)0x11);

	/* Modify: udata replaced. */
	CHANGE_OK(kq, SIGUSR1, EV_ADD, (void *)0x12);
	raise_usr1(1);
	count_exactly(kq, SIGUSR1, 1, (void *)0x12);

	/* Disabled: not reported; enabled: reported again. */
	CHANGE_OK(kq, SIGUSR1, EV_DISABLE, NULL);
	raise_usr1(1);
	kqt_expect_none_ms(kq, 50);
	CHANGE_OK(kq, SIGUSR1, EV_ENABLE, NULL);
	raise_usr1(1);
	ev = get_one(kq, SIGUSR1);
	KC_CHECK_PTR_EQ(ev.udata, (void *)0x12);
	kqt_expect_none_ms(kq, 20);
	CHANGE_OK(kq, SIGUSR1, EV_DELETE, NULL);

	/* Added disabled. */
	CHANGE_OK(kq, SIGUSR1, EV_ADD | EV_DISABLE, (void *)0x13);
	raise_usr1(1);
	kqt_expect_none_ms(kq, 50);
	CHANGE_OK(kq, SIGUSR1, EV_ENABLE, NULL);
	raise_usr1(1);
	ev = get_one(kq, SIGUSR1);
	KC_CHECK_PTR_EQ(ev.udata, (void *)0x13);
	CHANGE_OK(kq, SIGUSR1, EV_DELETE, NULL);

	/* EV_ONESHOT. */
	CHANGE_OK(kq, SIGUSR1, EV_ADD | EV_ONESHOT, (void *)0x14);
	raise_usr1(1);
	ev = get_one(kq, SIGUSR1);
	KC_CHECK(ev.flags & EV_ONESHOT);
	KC_CHECK_EQ(ev.data, 1);
	KC_CHECK_PTR_EQ(ev.udata, (void *)0x14);
	raise_usr1(1);
	kqt_expect_none_ms(kq, 50);
	change_err(kq, SIGUSR1, EV_DELETE, ENOENT);

	/* EV_DISPATCH. */
	CHANGE_OK(kq, SIGUSR1, EV_ADD | EV_DISPATCH, (void *)0x15);
	raise_usr1(1);
	ev = get_one(kq, SIGUSR1);
	KC_CHECK(ev.flags & EV_DISPATCH);
	KC_CHECK_EQ(ev.data, 1);
	raise_usr1(1);
	kqt_expect_none_ms(kq, 50);
	CHANGE_OK(kq, SIGUSR1, EV_ENABLE, NULL);
	raise_usr1(1);
	ev = get_one(kq, SIGUSR1);
	KC_CHECK_PTR_EQ(ev.udata, (void *)0x15);
	raise_usr1(1);
	kqt_expect_none_ms(kq, 50);
	CHANGE_OK(kq, SIGUSR1, EV_DELETE, NULL);

	/* EV_RECEIPT. */
	EV_SET(&ch[0], SIGUSR1, EVFILT_SIGNAL, EV_ADD | EV_RECEIPT, 0, 0,
	    (void *)0x16);
	EV_SET(&ch[1], 0, EVFILT_SIGNAL, EV_ADD | EV_RECEIPT, 0, 0, NULL);
	memset(out, 0, sizeof(out));
	KC_CHECK_EQ(kevent(kq, ch, 2, out, 2, &zero), 2);
	KC_CHECK_EQ(out[0].ident, SIGUSR1);
	KC_CHECK(out[0].flags & EV_ERROR);
	KC_CHECK_EQ(out[0].data, 0);
	KC_CHECK_PTR_EQ(out[0].udata, (void *)0x16);
	KC_CHECK_EQ(out[1].ident, 0);
	KC_CHECK(out[1].flags & EV_ERROR);
	KC_CHECK_EQ(out[1].data, EINVAL);
	raise_usr1(1);
	count_exactly(kq, SIGUSR1, 1, (void *)0x16);
	CHANGE_OK(kq, SIGUSR1, EV_DELETE, NULL);
	KC_CHECK_PTR_EQ(disposition(SIGUSR1, NULL), (void *)on_usr1);
	close(kq);
}

/* Several kqueues count the same deliveries. */
static void
test_several_kqueues(void)
{
	int kq1 = kqueue(), kq2 = kqueue(), kq3 = kqueue();

	KC_CHECK_GE(kq1, 0);
	KC_CHECK_GE(kq2, 0);
	KC_CHECK_GE(kq3, 0);
	set_handler(SIGUSR1, on_usr1);
	CHANGE_OK(kq1, SIGUSR1, EV_ADD, (void *)1);
	CHANGE_OK(kq2, SIGUSR1, EV_ADD, (void *)2);
	CHANGE_OK(kq3, SIGUSR1, EV_ADD, (void *)3);
	raise_usr1(2);
	count_exactly(kq1, SIGUSR1, 2, (void *)1);
	count_exactly(kq2, SIGUSR1, 2, (void *)2);
	CHANGE_OK(kq1, SIGUSR1, EV_DELETE, NULL);
	raise_usr1(1);
	kqt_expect_none_ms(kq1, 30);
	count_exactly(kq2, SIGUSR1, 1, (void *)2);
	count_exactly(kq3, SIGUSR1, 3, (void *)3);
	close(kq2);
	raise_usr1(1);
	count_exactly(kq3, SIGUSR1, 1, (void *)3);
	close(kq3);
	close(kq1);
	KC_CHECK_PTR_EQ(disposition(SIGUSR1, NULL), (void *)on_usr1);
	raise_usr1(1);		/* the handler alone, with no kqueue left */
}

/* Leave the process as we found it. */
static void
restore(void)
{
	static const int sigs[] = { SIGUSR1, SIGUSR2 };
	sigset_t s;
	unsigned i;

	for (i = 0; i < 2; i++) {
		set_handler(sigs[i], SIG_DFL);
		KC_CHECK_PTR_EQ(disposition(sigs[i], NULL), (void *)SIG_DFL);
		KC_CHECK(!is_pending(sigs[i]));
	}
	set_handler(SIGRTMIN, SIG_DFL);
	KC_CHECK_PTR_EQ(disposition(SIGRTMIN, NULL), (void *)SIG_DFL);
	KC_CHECK(!is_pending(SIGRTMIN));
	KC_CHECK_OK(pthread_sigmask(SIG_SETMASK, NULL, &s));
	KC_CHECK(!sigismember(&s, SIGUSR1));
	KC_CHECK(!sigismember(&s, SIGUSR2));
	KC_CHECK(!sigismember(&s, SIGRTMIN));
}

/*
 * A modify with EV_RECEIPT: the receipt, then events that carry the
 * knote's flags, EV_RECEIPT and the filter's own EV_CLEAR included, and no
 * action bit (issue 13, defect 12).
 */
static void
test_output_flags(void)
{
	struct kevent ch, out, ev;
	int kq = kqueue();

	KC_CHECK_GE(kq, 0);
	set_handler(SIGUSR1, on_usr1);
	CHANGE_OK(kq, SIGUSR1, EV_ADD, (void *)0x20);
	EV_SET(&ch, SIGUSR1, EVFILT_SIGNAL, EV_ADD | EV_RECEIPT, 0, 0,
	    (void *)0x21);
	KC_CHECK_EQ(kevent(kq, &ch, 1, &out, 1, &kqt_zero_ts), 1);
	KC_CHECK(out.flags & EV_ERROR);
	KC_CHECK_EQ(out.data, 0);
	raise_usr1(1);
	ev = get_one(kq, SIGUSR1);
	KC_CHECK_PTR_EQ(ev.udata, (void *)0x21);
	KC_CHECK(ev.flags & EV_RECEIPT);
	KC_CHECK(ev.flags & EV_CLEAR);
	KC_CHECK_EQ(ev.flags & (EV_ADD | EV_ENABLE | EV_ERROR), 0);
	CHANGE_OK(kq, SIGUSR1, EV_DELETE, NULL);
	close(kq);
}

int
main(void)
{
	kct_begin("kq-signal", 60);
	test_bad_numbers();
	test_handler();
	test_blocked();
	test_ignored();
	test_other_thread();
	test_flags();
	test_several_kqueues();
	test_blocked_queued();
	test_output_flags();
	restore();
	return kct_done();
}
