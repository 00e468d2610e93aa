/*
 * net-reset: the peer resets the connection in the middle of a large send.
 *
 * One kc_socket_send() of 64 MiB (a wrapped segment: the test learns when
 * the library lets go of it), taken whole into the empty send buffer, and a
 * second send of 1 MiB waiting behind it.  The raw peer reads 64 KiB
 * (checking them) and resets (SO_LINGER {1, 0} + close, with unread data).
 * Then: no crash and no SIGPIPE (the test does not ignore it); the first
 * send's continuation had reported 0; the waiting send's continuation gets
 * the error and the library releases its chain; the error shows in
 * kc_socket_error() and KC_SS_ERROR and comes to a CLOSED upcall; later
 * sends and writes fail with the chain untouched; after closing, the 64 MiB
 * are released and kc_socket_count() is back.
 * TCP over 127.0.0.1 and ::1, and UNIX streams.
 */
#include "nettest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BIG		(64u << 20)
#define SECOND		(1u << 20)
#define PEEK		(64u * 1024)

static atomic_int released[2];

static void
release_fn(void *arg, void *data, size_t size)
{
	atomic_int *flag = arg;

	KC_CHECK(data != NULL);
	KC_CHECK(size == BIG || size == SECOND);
	free(data);
	KC_CHECK_EQ(atomic_fetch_add(flag, 1), 0);	/* once */
}

/* A chain of one wrapped segment of size bytes, pattern at the front. */
static void
wrapped_chain(struct kc_chain *ch, size_t size, uint64_t seed,
    atomic_int *flag)
{
	struct kc_seg *seg = NULL;
	uint8_t *p = malloc(size);
	size_t pat = size < (1u << 20) ? size : (1u << 20);

	KC_CHECK(p != NULL);
	nt_pat_fill(p, pat, seed, 0);
	memset(p + pat, 0x5a, size - pat);
	KC_CHECK_OK(kc_seg_wrap(&seg, p, size, release_fn, flag));
	kc_chain_init(ch);
	KC_CHECK_OK(kc_chain_append_seg(ch, seg, 0, size));
	kc_seg_unref(seg);	/* the chain's reference remains */
	KC_CHECK_EQ(atomic_load(flag), 0);
}

static bool
is_broken(int err)
{
	return err == -ECONNRESET || err == -EPIPE;
}

static void
run(struct kc_executor *ex, enum nt_kind k, bool adopt)
{
	struct kc_chain big, second, later;
	struct nt_done d1, d2, cl;
	struct kc_socket *s;
	uint8_t *peek = malloc(PEEK);
	uint64_t seed = kct_rand();
	int peer, err, r;

	KC_CHECK(peek != NULL);
	atomic_store(&released[0], 0);
	atomic_store(&released[1], 0);
	s = nt_pair(ex, k, NULL, adopt, &peer);
	nt_done_init(&d1, ex);
	nt_done_init(&d2, NULL);
	nt_done_init(&cl, ex);
	KC_CHECK_OK(kc_socket_upcall(s, KC_SO_CLOSED, &cl.kc));

	wrapped_chain(&big, BIG, seed, &released[0]);
	KC_CHECK_OK(kc_socket_send(s, &big, NULL, &d1.kc));
	KC_CHECK_EQ(kc_chain_len(&big), 0);
	kc_chain_free(&big);
	/* Taken whole into the empty send buffer, however large. */
	nt_done_wait(&d1);
	KC_CHECK_EQ(atomic_load(&d1.status), 0);
	KC_CHECK_PTR_EQ(atomic_load(&d1.obj), s);
	/* Behind it, above the high-water mark: this one waits. */
	wrapped_chain(&second, SECOND, seed + 1, &released[1]);
	KC_CHECK_OK(kc_socket_send(s, &second, NULL, &d2.kc));
	KC_CHECK_EQ(kc_chain_len(&second), 0);
	kc_chain_free(&second);

	nt_raw_read_full(peer, peek, PEEK);
	nt_check_buf(peek, PEEK, seed, 0, "start of the large send");
	nt_raw_reset(peer);

	/* The failure reaches the CLOSED upcall and the waiting send. */
	nt_done_wait(&cl);
	err = atomic_load(&cl.status);
	if (!is_broken(err))
		kct_fail(__FILE__, __LINE__, "CLOSED upcall status %d", err);
	KC_CHECK_PTR_EQ(atomic_load(&cl.ran_on), ex);
	KC_CHECK_EQ(kc_socket_error(s), err);
	KC_CHECK(kc_socket_state(s) & KC_SS_ERROR);
	nt_done_wait(&d2);
	KC_CHECK_LT(atomic_load(&d2.status), 0);
	KC_CHECK_PTR_EQ(atomic_load(&d2.obj), s);
	/* The library freed the failed send's chain. */
	KCT_WAIT(atomic_load(&released[1]) == 1, NT_WAIT_S);

	/* Later sends fail at once, the chain handed back untouched. */
	kc_chain_init(&later);
	nt_chain_pat(&later, seed + 2, 0, 5000);
	r = kc_socket_send(s, &later, NULL, NULL);
	if (!is_broken(r))
		kct_fail(__FILE__, __LINE__, "send after reset: %d", r);
	KC_CHECK_EQ(kc_chain_len(&later), 5000);
	nt_check_chain(&later, 0, 5000, seed + 2, 0, "chain of a failed send");
	r = (int)kc_socket_send_wait(s, &later, NULL, NT_WAIT_S * KCT_NSEC_PER_SEC);
	if (!is_broken(r))
		kct_fail(__FILE__, __LINE__, "write after reset: %d", r);
	KC_CHECK_EQ(kc_chain_len(&later), 5000);
	nt_check_chain(&later, 0, 5000, seed + 2, 0, "chain of a failed write");
	kc_chain_free(&later);
	/* Reads give the error too (nothing is buffered). */
	KC_CHECK_EQ(kc_socket_recv_wait(s, &later, SIZE_MAX, NULL,
	    NT_WAIT_S * KCT_NSEC_PER_SEC), err);
	KC_CHECK_EQ(kc_chain_len(&later), 0);

	nt_close(s);
	KCT_WAIT(atomic_load(&released[0]) == 1, NT_WAIT_S);
	KCT_WAIT(kc_state(&d2.kc) == KC_STATE_IDLE, NT_WAIT_S);
	KCT_WAIT(kc_state(&cl.kc) == KC_STATE_IDLE, NT_WAIT_S);
	KC_CHECK_EQ(atomic_load(&d1.n), 1);
	KC_CHECK_EQ(atomic_load(&d2.n), 1);
	KC_CHECK_EQ(atomic_load(&cl.n), 1);
	free(peek);
	printf("    %s: error %d\n", nt_kind_name[k], err);
}

int
main(void)
{
	static const enum nt_kind kinds[] = { NT_TCP4, NT_TCP6, NT_UNIX };
	struct kc_executor *ex;
	long base;
	unsigned i, r, n;

	kct_begin("net-reset", 600);
	base = kc_socket_count();
	ex = kct_exec_soft("reset");
	n = kct_sanitized() ? 1 : 3;
	for (i = 0; i < 3; i++)
		for (r = 0; r < n; r++) {
			run(ex, kinds[i], r & 1);
			nt_wait_count(base);
		}
	kct_exec_finish(ex);
	return kct_done();
}
