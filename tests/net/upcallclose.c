/*
 * net-upcallclose: closing and shutting a socket from inside its own
 * upcalls, where the library must keep the socket alive until the stack
 * unwinds.  Meant for the sanitizer build: a socket freed under its own
 * upcall is a heap-use-after-free there.
 *
 *   close from inside READABLE (the upcall's continuation on the owner, and
 *   executor-less, run inline on the owner), after queueing a 100 KiB reply:
 *   the peer still gets the reply, then end of file; a CLOSED waiter fires
 *   once; also at end of file (recv returned 0);
 *   close from inside CLOSED, the connection ended by both sides shutting
 *   (status 0) and by a reset (status the error);
 *   shutdown from inside READABLE: SHUT_WR (the peer sees end of file), then
 *   SHUT_RD in the next READABLE (reads return 0 at once);
 *   close with READABLE and CLOSED continuations waiting, and a plain
 *   thread blocked in kc_socket_recv_wait(): each waiter fires exactly once,
 *   the blocked read returns -ECANCELED; WRITABLE fires at once when
 *   enqueued (the send buffer is empty);
 *   closing a listener from inside its own accept completion.
 * kc_socket_count() is back to its start after each.
 */
#include "nettest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define REPLY	(100 * 1024)

struct uc {
	struct kc_executor	*ex;
	struct kc_socket	*s;
	struct kc		 kc;
	uint64_t		 seed;
	size_t			 got;
	size_t			 want;
	int			 phase;
	atomic_int		 ran;
	atomic_int		 status;
};

/* READABLE: read want bytes, queue a reply, close. */
static void
close_in_readable_fn(void *obj, void *env, int status)
{
	struct uc *u = env;
	struct kc_chain ch = KC_CHAIN_INITIALIZER;
	ssize_t r;

	KC_CHECK_PTR_EQ(obj, u->s);
	KC_CHECK_PTR_EQ(kc_executor_current(), u->ex);
	KC_CHECK_EQ(status, 0);
	while ((r = kc_socket_recv(u->s, &ch, SIZE_MAX, NULL)) > 0)
		u->got += (size_t)r;
	kc_chain_free(&ch);
	KC_CHECK_EQ(r, -EAGAIN);
	if (u->got < u->want) {
		KC_CHECK_OK(kc_socket_upcall(u->s, KC_SO_READABLE, &u->kc));
		return;
	}
	KC_CHECK_EQ(u->got, u->want);
	nt_chain_pat(&ch, u->seed, 0, REPLY);
	KC_CHECK_OK(kc_socket_send(u->s, &ch, NULL, NULL));
	kc_chain_free(&ch);
	KC_CHECK_OK(kc_socket_close(u->s, NULL));
	/* The socket is the library's now; nothing here touches it. */
	atomic_store(&u->ran, 1);
}

static void
close_in_readable(struct kc_executor *ex, enum nt_kind k, bool inl,
    bool adopt)
{
	struct nt_done cl;
	uint8_t *buf = malloc(REPLY);
	struct uc u;
	int peer;

	KC_CHECK(buf != NULL);
	memset(&u, 0, sizeof(u));
	u.ex = ex;
	u.seed = kct_rand();
	u.want = 10;
	u.s = nt_pair(ex, k, NULL, adopt, &peer);
	KC_CHECK_OK(kc_init(&u.kc, close_in_readable_fn, &u, inl ? NULL : ex,
	    0));
	KC_CHECK_OK(kc_socket_upcall(u.s, KC_SO_READABLE, &u.kc));
	nt_done_init(&cl, ex);
	KC_CHECK_OK(kc_socket_upcall(u.s, KC_SO_CLOSED, &cl.kc));
	nt_raw_write(peer, "0123456789", 10);
	KCT_WAIT(atomic_load(&u.ran), NT_WAIT_S);
	/* What was queued before the close is still written, then EOF. */
	nt_raw_read_full(peer, buf, REPLY);
	nt_check_buf(buf, REPLY, u.seed, 0, "reply sent before close");
	nt_raw_expect_eof(peer);
	nt_done_wait(&cl);
	if (atomic_load(&cl.status) != 0 &&
	    atomic_load(&cl.status) != -ECANCELED)
		kct_fail(__FILE__, __LINE__, "CLOSED upcall status %d",
		    atomic_load(&cl.status));
	KCT_WAIT(kc_state(&u.kc) == KC_STATE_IDLE, NT_WAIT_S);
	KCT_WAIT(kc_state(&cl.kc) == KC_STATE_IDLE, NT_WAIT_S);
	KC_CHECK_EQ(atomic_load(&cl.n), 1);
	nt_raw_close(peer);
	free(buf);
}

/* READABLE until end of file, then close. */
static void
close_at_eof_fn(void *obj, void *env, int status)
{
	struct uc *u = env;
	struct kc_chain ch = KC_CHAIN_INITIALIZER;
	ssize_t r;

	KC_CHECK_PTR_EQ(obj, u->s);
	KC_CHECK_EQ(status, 0);
	while ((r = kc_socket_recv(u->s, &ch, SIZE_MAX, NULL)) > 0)
		u->got += (size_t)r;
	kc_chain_free(&ch);
	if (r == -EAGAIN) {
		KC_CHECK_OK(kc_socket_upcall(u->s, KC_SO_READABLE, &u->kc));
		return;
	}
	KC_CHECK_EQ(r, 0);
	KC_CHECK_EQ(u->got, u->want);
	KC_CHECK(kc_socket_state(u->s) & KC_SS_CANTRCVMORE);
	KC_CHECK_OK(kc_socket_close(u->s, NULL));
	atomic_store(&u->ran, 1);
}

static void
close_at_eof(struct kc_executor *ex, enum nt_kind k, bool inl)
{
	struct uc u;
	int peer;

	memset(&u, 0, sizeof(u));
	u.ex = ex;
	u.want = 5;
	u.s = nt_pair(ex, k, NULL, false, &peer);
	KC_CHECK_OK(kc_init(&u.kc, close_at_eof_fn, &u, inl ? NULL : ex, 0));
	KC_CHECK_OK(kc_socket_upcall(u.s, KC_SO_READABLE, &u.kc));
	nt_raw_write(peer, "abcde", 5);
	KC_CHECK_OK(shutdown(peer, SHUT_WR));
	KCT_WAIT(atomic_load(&u.ran), NT_WAIT_S);
	nt_raw_expect_eof(peer);
	nt_raw_close(peer);
}

/* CLOSED: check why, then close. */
static void
close_in_closed_fn(void *obj, void *env, int status)
{
	struct uc *u = env;
	unsigned st;

	KC_CHECK_PTR_EQ(obj, u->s);
	KC_CHECK_PTR_EQ(kc_executor_current(), u->ex);
	st = kc_socket_state(u->s);
	if (u->phase == 0) {
		/* Both directions shut. */
		KC_CHECK_EQ(status, 0);
		KC_CHECK(st & KC_SS_CANTSENDMORE);
		KC_CHECK(st & KC_SS_CANTRCVMORE);
	} else {
		KC_CHECK_LT(status, 0);
		KC_CHECK_EQ(status, kc_socket_error(u->s));
		KC_CHECK(st & KC_SS_ERROR);
	}
	atomic_store(&u->status, status);
	KC_CHECK_OK(kc_socket_close(u->s, NULL));
	atomic_store(&u->ran, 1);
}

static void
close_in_closed(struct kc_executor *ex, enum nt_kind k, bool reset,
    bool inl)
{
	struct uc u;
	int peer;

	memset(&u, 0, sizeof(u));
	u.ex = ex;
	u.phase = reset;
	u.s = nt_pair(ex, k, NULL, true, &peer);
	KC_CHECK_OK(kc_init(&u.kc, close_in_closed_fn, &u, inl ? NULL : ex,
	    0));
	KC_CHECK_OK(kc_socket_upcall(u.s, KC_SO_CLOSED, &u.kc));
	if (reset) {
		nt_reset_peer(k, u.s, peer);
	} else {
		KC_CHECK_OK(kc_socket_shutdown(u.s, SHUT_WR));
		nt_raw_expect_eof(peer);
		KC_CHECK(!atomic_load(&u.ran));	/* one direction only */
		nt_raw_close(peer);
	}
	KCT_WAIT(atomic_load(&u.ran), NT_WAIT_S);
	if (reset && k != NT_UNIX)
		KC_CHECK_EQ(atomic_load(&u.status), -ECONNRESET);
}

/* READABLE: SHUT_WR the first time, SHUT_RD the second. */
static void
shutdown_in_readable_fn(void *obj, void *env, int status)
{
	struct uc *u = env;
	struct kc_chain ch = KC_CHAIN_INITIALIZER;
	ssize_t r;

	KC_CHECK_PTR_EQ(obj, u->s);
	KC_CHECK_EQ(status, 0);
	if (u->phase == 0) {
		while ((r = kc_socket_recv(u->s, &ch, SIZE_MAX, NULL)) > 0)
			u->got += (size_t)r;
		KC_CHECK_EQ(r, -EAGAIN);
		kc_chain_free(&ch);
		if (u->got < 3) {
			KC_CHECK_OK(kc_socket_upcall(u->s, KC_SO_READABLE,
			    &u->kc));
			return;
		}
		KC_CHECK_OK(kc_socket_shutdown(u->s, SHUT_WR));
		KC_CHECK(kc_socket_state(u->s) & KC_SS_CANTSENDMORE);
		u->phase = 1;
		KC_CHECK_OK(kc_socket_upcall(u->s, KC_SO_READABLE, &u->kc));
		atomic_store(&u->ran, 1);
		return;
	}
	/* Data came again: drop it unread. */
	KC_CHECK_OK(kc_socket_shutdown(u->s, SHUT_RD));
	KC_CHECK_EQ(kc_socket_recv(u->s, &ch, SIZE_MAX, NULL), 0);
	KC_CHECK_EQ(kc_chain_len(&ch), 0);
	KC_CHECK(kc_socket_state(u->s) & KC_SS_CANTRCVMORE);
	KC_CHECK_EQ(kc_socket_rcvbytes(u->s), 0);
	u->phase = 2;
	atomic_store(&u->ran, 2);
}

static void
shutdown_in_readable(struct kc_executor *ex, enum nt_kind k)
{
	struct uc u;
	int peer;

	memset(&u, 0, sizeof(u));
	u.ex = ex;
	u.s = nt_pair(ex, k, NULL, false, &peer);
	KC_CHECK_OK(kc_init(&u.kc, shutdown_in_readable_fn, &u, ex, 0));
	KC_CHECK_OK(kc_socket_upcall(u.s, KC_SO_READABLE, &u.kc));
	nt_raw_write(peer, "abc", 3);
	KCT_WAIT(atomic_load(&u.ran) == 1, NT_WAIT_S);
	nt_raw_expect_eof(peer);
	nt_raw_write(peer, "defg", 4);
	KCT_WAIT(atomic_load(&u.ran) == 2, NT_WAIT_S);
	KCT_WAIT(kc_state(&u.kc) == KC_STATE_IDLE, NT_WAIT_S);
	nt_close(u.s);
	nt_raw_close(peer);
}

static void
close_with_waiters(struct kc_executor *ex, enum nt_kind k)
{
	struct nt_done rd, cl, wr;
	struct nt_blocked b;
	struct kc_socket *s;
	int peer, st;

	s = nt_pair(ex, k, NULL, true, &peer);
	nt_done_init(&rd, ex);
	nt_done_init(&cl, NULL);
	nt_done_init(&wr, ex);
	KC_CHECK_OK(kc_socket_upcall(s, KC_SO_READABLE, &rd.kc));
	KC_CHECK_OK(kc_socket_upcall(s, KC_SO_CLOSED, &cl.kc));
	/* The send buffer is empty: WRITABLE holds, it fires at once. */
	KC_CHECK_OK(kc_socket_upcall(s, KC_SO_WRITABLE, &wr.kc));
	nt_done_wait(&wr);
	KC_CHECK_EQ(atomic_load(&wr.status), 0);
	KC_CHECK_PTR_EQ(atomic_load(&wr.obj), s);
	KC_CHECK_PTR_EQ(atomic_load(&wr.ran_on), ex);

	nt_blocked_start(&b, s, KC_WAIT_FOREVER);
	kct_sleep_ns(20 * KCT_NSEC_PER_MSEC);
	KC_CHECK(!atomic_load(&b.finished));
	KC_CHECK_EQ(atomic_load(&rd.n), 0);
	KC_CHECK_EQ(atomic_load(&cl.n), 0);

	nt_close(s);
	nt_blocked_join(&b);
	KC_CHECK_EQ(b.ret, -ECANCELED);
	nt_done_wait(&rd);
	nt_done_wait(&cl);
	KC_CHECK_EQ(atomic_load(&rd.status), -ECANCELED);
	KC_CHECK_PTR_EQ(atomic_load(&rd.ran_on), ex);
	st = atomic_load(&cl.status);
	if (st != 0 && st != -ECANCELED)
		kct_fail(__FILE__, __LINE__, "CLOSED waiter status %d", st);
	nt_raw_expect_eof(peer);
	nt_raw_close(peer);
	KCT_WAIT(kc_state(&rd.kc) == KC_STATE_IDLE, NT_WAIT_S);
	KCT_WAIT(kc_state(&cl.kc) == KC_STATE_IDLE, NT_WAIT_S);
	KC_CHECK_EQ(atomic_load(&rd.n), 1);
	KC_CHECK_EQ(atomic_load(&cl.n), 1);
	KC_CHECK_EQ(atomic_load(&wr.n), 1);
}

/* Closing a listener from inside its own accept completion. */
struct lc {
	struct kc_executor	*ex;
	struct kc_socket	*lsn;
	struct kc		 kc;
	atomic_int		 ran;
};

static void
close_listener_fn(void *obj, void *env, int status)
{
	struct lc *l = env;

	KC_CHECK_EQ(status, 0);
	KC_CHECK(obj != NULL);
	KC_CHECK_PTR_EQ(kc_socket_owner(obj), l->ex);
	KC_CHECK_OK(kc_socket_close(obj, NULL));
	KC_CHECK_OK(kc_socket_close(l->lsn, NULL));
	atomic_store(&l->ran, 1);
}

static void
close_listener_in_accept(struct kc_executor *ex, enum nt_kind k)
{
	struct kc_sockaddr addr;
	struct lc l;
	int fd;

	memset(&l, 0, sizeof(l));
	l.ex = ex;
	l.lsn = nt_listener(ex, k, NULL, &addr);
	KC_CHECK_OK(kc_init(&l.kc, close_listener_fn, &l, ex, 0));
	KC_CHECK_OK(kc_socket_accept(l.lsn, ex, &l.kc));
	fd = nt_raw_connect(&addr);
	KCT_WAIT(atomic_load(&l.ran), NT_WAIT_S);
	nt_raw_expect_eof(fd);
	nt_raw_close(fd);
	KCT_WAIT(kc_state(&l.kc) == KC_STATE_IDLE, NT_WAIT_S);
}

int
main(void)
{
	static const enum nt_kind kinds[] = { NT_TCP4, NT_TCP6, NT_UNIX };
	struct kc_executor *ex;
	long base;
	unsigned i, n, r;

	kct_begin("net-upcallclose", 600);
	base = kc_socket_count();
	ex = kct_exec_soft("upcallclose");
	n = kct_sanitized() ? 10 : 40;
	for (i = 0; i < 3; i++) {
		printf("  %s\n", nt_kind_name[kinds[i]]);
		for (r = 0; r < n; r++) {
			close_in_readable(ex, kinds[i], r & 1, r & 2);
			close_at_eof(ex, kinds[i], r & 1);
			close_in_closed(ex, kinds[i], false, r & 1);
			close_in_closed(ex, kinds[i], true, r & 1);
			shutdown_in_readable(ex, kinds[i]);
			close_with_waiters(ex, kinds[i]);
			close_listener_in_accept(ex, kinds[i]);
		}
		nt_wait_count(base);
	}
	kct_exec_finish(ex);
	return kct_done();
}
