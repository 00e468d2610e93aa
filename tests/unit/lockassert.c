/*
 * unit-lockassert: debug builds assert the locking and thread rules the
 * code documents (src/core/lockdebug.h), and the assertions are live.
 *
 * Each case runs twice in a child process, through the library's internal
 * entry points: once breaking the rule on purpose, where the child must
 * die of the library's panic (SIGABRT, with the assertion's text on its
 * standard error, printed after the child said it got that far), and once
 * keeping it, where the same call must succeed.  The rules:
 *
 *   - kq__find() runs under the kqueue's lock (KQ_OWNED);
 *   - taking a lock the thread already holds panics rather than deadlocks;
 *   - releasing a lock the thread does not hold panics;
 *   - a knote's continuation runs with no lock held: kevent() called with
 *     one held (here a kc_queue's) panics before the continuation runs;
 *   - the socket internals splice.c uses run on the socket's owner
 *     (kc__socket_take_rcv() from another thread panics; from a
 *     continuation on the owner it runs).
 *
 * Registered only when KC_DEBUG is on (the sanitizer builds); with the
 * assertions compiled out every "breaking" child exits 0 and the test fails.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/event.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/lockdebug.h"
#include "kctest.h"
#include "kqueue/kq.h"
#include "kqueue/kqapi.h"
#include "net/socklend.h"

#define SAID	"lockassert: reached\n"

/* Tell the parent that the set-up worked and the rule is about to break. */
static void
reached(void)
{
	(void)!write(2, SAID, strlen(SAID));
}

/* Run fn in a child; its exit status, and what it wrote on stderr. */
static int
in_child(void (*fn)(void), char *err, size_t errlen)
{
	int p[2], status;
	size_t len = 0;
	ssize_t n;
	pid_t pid;

	KC_CHECK_OK(pipe(p));
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	KC_CHECK_GE(pid, 0);
	if (pid == 0) {
		close(p[0]);
		if (dup2(p[1], 2) < 0)
			_exit(120);
		fn();
		_exit(0);
	}
	close(p[1]);
	while (len < errlen - 1 &&
	    (n = read(p[0], err + len, errlen - 1 - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		KC_CHECK_GT(n, 0);
		len += (size_t)n;
	}
	err[len] = '\0';
	close(p[0]);
	while (waitpid(pid, &status, 0) < 0)
		KC_CHECK_EQ(errno, EINTR);
	return status;
}

/* Breaking the rule: the library's panic, naming what failed. */
static void
expect_panic(const char *name, void (*fn)(void), const char *what)
{
	char err[8192];
	const char *at;
	int status = in_child(fn, err, sizeof(err));

	printf("  %s, broken: %s", name, WIFSIGNALED(status) ?
	    strsignal(WTERMSIG(status)) : "exited");
	if (WIFEXITED(status))
		printf(" %d", WEXITSTATUS(status));
	printf("\n%s", err);
	KC_CHECK(WIFSIGNALED(status));
	KC_CHECK_EQ(WTERMSIG(status), SIGABRT);
	at = strstr(err, SAID);
	KC_CHECK(at != NULL);
	at = strstr(at, "kcont: ");
	KC_CHECK(at != NULL);
	KC_CHECK(strstr(at, what) != NULL);
}

/* Keeping it: the same call succeeds. */
static void
expect_clean(const char *name, void (*fn)(void))
{
	char err[8192];
	int status = in_child(fn, err, sizeof(err));

	printf("  %s, kept: %s\n%s", name, WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0 ? "ok" : "FAILED", err);
	KC_CHECK(WIFEXITED(status));
	KC_CHECK_EQ(WEXITSTATUS(status), 0);
	KC_CHECK(strstr(err, SAID) != NULL);
	KC_CHECK(strstr(err, "kcont: ") == NULL);
}

/* ---- kq_lock ---- */

static struct kq *
make_kq(void)
{
	struct kq *kq;
	int fd;

	fd = kc__kqueue();
	KC_CHECK_GE(fd, 0);
	kq = kc__kq_hold(fd);
	KC_CHECK(kq != NULL);
	return kq;
}

static void
find_unlocked(void)
{
	struct kq *kq = make_kq();

	reached();
	(void)kq__find(kq, 1, EVFILT_USER);
}

static void
find_locked(void)
{
	struct kq *kq = make_kq();

	reached();
	kq__lock(kq);
	KC_CHECK(kq__find(kq, 1, EVFILT_USER) == NULL);
	kq__unlock(kq);
}

/* ---- taking a lock twice, releasing one not held ---- */

static void
lock_twice(void)
{
	struct kq *kq = make_kq();

	kq__lock(kq);
	reached();
	kq__lock(kq);		/* would deadlock */
}

static void
lock_once(void)
{
	struct kq *kq = make_kq();

	reached();
	kq__lock(kq);
	kq__unlock(kq);
	kq__lock(kq);
	kq__unlock(kq);
}

static void
unlock_unheld(void)
{
	struct kc_queue q = KC_QUEUE_INITIALIZER;

	reached();
	kc__unlock(&q.kq_lock);
}

static void
unlock_held(void)
{
	struct kc_queue q = KC_QUEUE_INITIALIZER;

	reached();
	kc__lock(&q.kq_lock);
	KC_CHECK(kc__held(&q.kq_lock));
	kc__unlock(&q.kq_lock);
	KC_CHECK(!kc__held(&q.kq_lock));
	KC_CHECK_EQ(kc__held_count(), 0);
}

/* ---- a knote's continuation runs with no lock held ---- */

static int knote_ran;

static void
knote_fn(void *obj, void *env, int status)
{
	(void)obj;
	(void)env;
	(void)status;
	knote_ran++;
}

/* An EV_KCONT user knote, triggered; collecting it runs knote_fn. */
static void
collect_knote(bool hold)
{
	static const struct timespec zero;
	struct kc_queue q = KC_QUEUE_INITIALIZER;
	struct kevent ch[2], out;
	struct kc kc;
	int kq;

	KC_CHECK_OK(kc_init(&kc, knote_fn, NULL, NULL, 0));
	kq = kc__kqueue();
	KC_CHECK_GE(kq, 0);
	EV_SET(&ch[0], 1, EVFILT_USER, EV_ADD | EV_CLEAR | EV_KCONT, 0, 0,
	    &kc);
	EV_SET(&ch[1], 1, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
	KC_CHECK_EQ(kc__kevent(kq, ch, 2, NULL, 0, NULL), 0);
	if (hold)
		kc__lock(&q.kq_lock);
	reached();
	KC_CHECK_EQ(kc__kevent(kq, NULL, 0, &out, 1, &zero), 0);
	if (hold)
		kc__unlock(&q.kq_lock);
	KC_CHECK_EQ(knote_ran, 1);
	kc__close(kq);
}

static void
knote_with_lock(void)
{
	collect_knote(true);
}

static void
knote_without_lock(void)
{
	collect_knote(false);
}

/* ---- the socket's owner ---- */

struct owned {
	struct kc		 kc;
	struct kc_socket	*s;
	atomic_int		 done;
};

static void
take_fn(void *obj, void *env, int status)
{
	struct owned *o = env;
	struct kc_chain c = KC_CHAIN_INITIALIZER;

	(void)obj;
	(void)status;
	kc__socket_take_rcv(o->s, &c);
	kc_chain_free(&c);
	atomic_store(&o->done, 1);
}

static void
take_rcv(bool on_owner)
{
	struct kc_chain c = KC_CHAIN_INITIALIZER;
	struct kc_executor *ex = kct_exec_soft("lockassert");
	struct owned o;
	int sv[2];

	memset(&o, 0, sizeof(o));
	KC_CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	KC_CHECK_OK(kc_socket_adopt(&o.s, ex, sv[0], NULL));
	reached();
	if (on_owner) {
		KC_CHECK_OK(kc_init(&o.kc, take_fn, &o, ex, 0));
		KC_CHECK_OK(kc_run(&o.kc, NULL, 0));
		kct_wait_flag(&o.done, 10);
	} else {
		kc__socket_take_rcv(o.s, &c);	/* not the owner's thread */
	}
	KC_CHECK_OK(kc_socket_close(o.s, NULL));
	close(sv[1]);
	kct_exec_finish(ex);
}

static void
take_elsewhere(void)
{
	take_rcv(false);
}

static void
take_on_owner(void)
{
	take_rcv(true);
}

int
main(void)
{
	kct_begin("unit-lockassert", 120);

	expect_panic("kq__find without kq_lock", find_unlocked,
	    "kc__held(&(kq)->kq_lock)");
	expect_clean("kq__find with kq_lock", find_locked);

	expect_panic("kq_lock taken twice", lock_twice, "!kc__held(m)");
	expect_clean("kq_lock taken in turn", lock_once);

	expect_panic("futex lock released, not held", unlock_unheld,
	    "releases a lock it does not hold");
	expect_clean("futex lock released, held", unlock_held);

	expect_panic("knote continuation, a lock held", knote_with_lock,
	    "kc__held_count() == 0");
	expect_clean("knote continuation, no lock held", knote_without_lock);

	expect_panic("socket internal off its owner", take_elsewhere,
	    "kc__on_exec((&(s)->so_ep)->ep_owner)");
	expect_clean("socket internal on its owner", take_on_owner);
	return kct_done();
}
