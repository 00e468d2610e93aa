/*
 * net-close: kc_socket_close(s, done), the one lifetime rule for sockets.
 * done runs exactly once, with obj = the socket and status 0, when the
 * library has let go of it: the peer has had everything the send buffer
 * held (the linger), the descriptor is closed and the memory freed, so
 * kc_socket_count() inside done no longer counts it.
 *
 *   from a plain thread, after a 256 KiB send the peer has not read yet:
 *   close returns at once, done waits for the peer to read it all, and a
 *   plain thread waits for done with kcont/wait.h;
 *   from inside the socket's own READABLE upcall, done aimed at another
 *   executor, and inline (no executor): a second close there is -EBADF;
 *   NULL done: the socket still goes;
 *   the owner shut down: the close is done in the call, done inline.
 */
#include "nettest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BIG	(256 * 1024)

/* From a plain thread, while the linger still has bytes to write. */
static void
close_plain(struct kc_executor *ex, enum nt_kind k)
{
	struct kc_socket_attr attr;
	struct kc_chain ch = KC_CHAIN_INITIALIZER;
	struct kc_socket *s;
	struct kct_done d;
	long base = kc_socket_count();
	uint8_t *buf;
	int peer;

	memset(&attr, 0, sizeof(attr));
	attr.snd_hiwat = 4 * BIG;
	s = nt_pair(ex, k, &attr, false, &peer);
	nt_chain_pat(&ch, 7, 0, BIG);
	KC_CHECK_EQ(kc_socket_send_wait(s, &ch, NULL,
	    NT_WAIT_S * KCT_NSEC_PER_SEC), BIG);
	kc_chain_free(&ch);	/* empty, but it keeps spare views */
	kct_done_init(&d, NULL);
	KC_CHECK_OK(kc_socket_close(s, &d.d_kc));
	/* Lingering: the bytes are not all out, so no done yet. */
	kct_sleep_ns(20 * KCT_NSEC_PER_MSEC);
	KC_CHECK_EQ(atomic_load(&d.d_runs), 0);
	KC_CHECK_EQ(kc_socket_count(), base + 1);
	buf = malloc(BIG);
	KC_CHECK(buf != NULL);
	nt_raw_read_full(peer, buf, BIG);
	nt_check_buf(buf, BIG, 7, 0, "lingered bytes");
	free(buf);
	nt_raw_expect_eof(peer);
	/* The close reads until the peer ends too. */
	KC_CHECK_OK(shutdown(peer, SHUT_WR));
	kct_done_wait(&d, s);
	KC_CHECK_EQ(d.d_sockets, base);
	KC_CHECK_EQ(kc_socket_count(), base);
	nt_raw_close(peer);
}

struct inup {
	struct kc_executor	*ex;
	struct kc_socket	*s;
	struct kc		 kc;
	struct kct_done		 done;
	bool			 inline_done;
	atomic_int		 close1, close2;
	atomic_int		 ran;
};

/* READABLE: close with done, then close again. */
static void
close_in_readable_fn(void *obj, void *env, int status)
{
	struct inup *u = env;

	(void)status;
	KC_CHECK_PTR_EQ(obj, u->s);
	atomic_store(&u->close1, kc_socket_close(u->s, &u->done.d_kc));
	/* The upcall holds the socket: the pointer is still good here. */
	atomic_store(&u->close2, kc_socket_close(u->s, NULL));
	/* done waits for the upcall to return, at least. */
	KC_CHECK_EQ(atomic_load(&u->done.d_runs), 0);
	atomic_store(&u->ran, 1);
}

static void
close_in_upcall(struct kc_executor *ex, struct kc_executor *other,
    enum nt_kind k, bool inline_done)
{
	struct inup u;
	long base = kc_socket_count();
	int peer;

	memset(&u, 0, sizeof(u));
	u.ex = ex;
	u.s = nt_pair(ex, k, NULL, false, &peer);
	kct_done_init(&u.done, inline_done ? NULL : other);
	KC_CHECK_OK(kc_init(&u.kc, close_in_readable_fn, &u,
	    inline_done ? NULL : ex, 0));
	KC_CHECK_OK(kc_socket_upcall(u.s, KC_SO_READABLE, &u.kc));
	nt_raw_write(peer, "x", 1);
	nt_raw_expect_eof(peer);
	KC_CHECK_OK(shutdown(peer, SHUT_WR));
	kct_done_wait(&u.done, u.s);
	KC_CHECK_EQ(atomic_load(&u.ran), 1);
	KC_CHECK_EQ(atomic_load(&u.close1), 0);
	KC_CHECK_EQ(atomic_load(&u.close2), -EBADF);
	KC_CHECK_EQ(u.done.d_sockets, base);
	KC_CHECK_PTR_EQ(u.done.d_ran_on, inline_done ? ex : other);
	nt_raw_close(peer);
	KC_CHECK_EQ(kc_socket_count(), base);
}

/* NULL done: the socket goes all the same. */
static void
close_null(struct kc_executor *ex, enum nt_kind k)
{
	long base = kc_socket_count();
	struct kc_socket *s;
	int peer;

	s = nt_pair(ex, k, NULL, false, &peer);
	KC_CHECK_OK(kc_socket_close(s, NULL));
	nt_raw_expect_eof(peer);
	nt_raw_close(peer);
	nt_wait_count(base);
}

/* The owner has stopped: the closing thread does it all, done inline. */
static void
close_orphan(enum nt_kind k)
{
	struct kc_executor *ex = kct_exec_soft("net-close-orph");
	long base = kc_socket_count();
	struct kc_socket *s;
	struct kct_done d;
	int peer;

	s = nt_pair(ex, k, NULL, false, &peer);
	KC_CHECK_OK(kc_executor_shutdown(ex, KC_SHUTDOWN_DRAIN, NULL));
	kct_done_init(&d, NULL);
	KC_CHECK_OK(kc_socket_close(s, &d.d_kc));
	KC_CHECK_EQ(atomic_load(&d.d_runs), 1);
	KC_CHECK_EQ(d.d_tid, kct_gettid());
	kct_done_wait(&d, s);
	KC_CHECK_EQ(d.d_sockets, base);
	nt_raw_expect_eof(peer);
	nt_raw_close(peer);
	KC_CHECK_OK(kc_executor_close(ex, NULL));
}

int
main(void)
{
	struct kc_executor *ex, *other;
	enum nt_kind kinds[] = { NT_TCP4, NT_UNIX };
	long base;
	unsigned i;

	kct_begin("net-close", 240);
	base = kc_socket_count();
	ex = kct_exec_soft("net-close");
	other = kct_exec_soft("net-close-2");
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		close_plain(ex, kinds[i]);
		close_in_upcall(ex, other, kinds[i], false);
		close_in_upcall(ex, other, kinds[i], true);
		close_null(ex, kinds[i]);
		close_orphan(kinds[i]);
	}
	KC_CHECK_EQ(kc_socket_count(), base);
	kct_exec_finish(ex);
	kct_exec_finish(other);
	return kct_done();
}
