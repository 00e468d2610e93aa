/*
 * net-halfclose: half-close in both directions, against a raw peer.
 *
 * Ours first: 1 MiB sent (one send, taken whole) and SHUT_WR right after
 * it, while the send buffer still holds most of it: the peer reads all of
 * it, then end of file; sends after the shutdown fail -EPIPE with the chain
 * untouched, KC_SS_CANTSENDMORE is set; the peer can still send, and 512 KiB
 * from it arrive through our READABLE upcalls whole; when the peer closes
 * too, we read end of file and the CLOSED upcall fires (status 0).
 *
 * The peer's first: it sends 256 KiB and shuts for writing: our READABLE
 * fires, recv returns the data then 0, KC_SS_CANTRCVMORE is set, and further
 * READABLE upcalls fire at once (end of file holds); we can still send, from
 * inside the upcall and from a plain thread, and the peer receives it all;
 * once we close, the peer sees end of file.
 *
 * TCP over 127.0.0.1 and ::1, and UNIX streams.
 */
#include "nettest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define OURS	(1u << 20)
#define THEIRS	(512u * 1024)
#define THEIRS2	(256u * 1024)
#define REPLY	(300u * 1024)

struct hc {
	struct kc_executor	*ex;
	struct kc_socket	*s;
	struct kc		 rd;
	uint64_t		 seed;
	size_t			 want;
	size_t			 got;
	bool			 reply;		/* send REPLY at end of file */
	atomic_int		 eof;
	atomic_int		 extra;		/* READABLE after EOF fired */
};

/* Collect everything up to end of file, checking the pattern. */
static void
hc_readable(void *obj, void *env, int status)
{
	struct hc *h = env;
	struct kc_chain ch = KC_CHAIN_INITIALIZER;
	ssize_t r;

	KC_CHECK_PTR_EQ(obj, h->s);
	KC_CHECK_PTR_EQ(kc_executor_current(), h->ex);
	KC_CHECK_EQ(status, 0);
	if (atomic_load(&h->eof)) {
		/* Re-armed after end of file: it holds, so it fired at once. */
		KC_CHECK_EQ(kc_socket_recv(h->s, &ch, SIZE_MAX, NULL), 0);
		atomic_store(&h->extra, 1);
		return;
	}
	for (;;) {
		r = kc_socket_recv(h->s, &ch, SIZE_MAX, NULL);
		if (r > 0) {
			KC_CHECK_LE(h->got + (size_t)r, h->want);
			nt_check_chain(&ch, 0, (size_t)r, h->seed, h->got,
			    "data from the peer");
			kc_chain_free(&ch);
			h->got += (size_t)r;
			continue;
		}
		if (r == -EAGAIN) {
			KC_CHECK_OK(kc_socket_upcall(h->s, KC_SO_READABLE,
			    &h->rd));
			return;
		}
		KC_CHECK_EQ(r, 0);
		break;
	}
	/* End of file: after all the data, and for good. */
	KC_CHECK_EQ(h->got, h->want);
	KC_CHECK(kc_socket_state(h->s) & KC_SS_CANTRCVMORE);
	KC_CHECK_EQ(kc_socket_recv(h->s, &ch, SIZE_MAX, NULL), 0);
	if (h->reply) {
		/* Our direction still works. */
		KC_CHECK(!(kc_socket_state(h->s) & KC_SS_CANTSENDMORE));
		nt_chain_pat(&ch, h->seed + 1, 0, REPLY);
		KC_CHECK_OK(kc_socket_send(h->s, &ch, NULL, NULL));
		KC_CHECK_EQ(kc_chain_len(&ch), 0);
		kc_chain_free(&ch);
	}
	atomic_store(&h->eof, 1);
	KC_CHECK_OK(kc_socket_upcall(h->s, KC_SO_READABLE, &h->rd));
}

static void
ours_first(struct kc_executor *ex, enum nt_kind k, bool adopt)
{
	struct kc_chain ch = KC_CHAIN_INITIALIZER;
	struct nt_done cl;
	uint8_t *buf = malloc(OURS);
	struct hc h;
	int peer;

	KC_CHECK(buf != NULL);
	memset(&h, 0, sizeof(h));
	h.ex = ex;
	h.seed = kct_rand();
	h.want = THEIRS;
	h.s = nt_pair(ex, k, NULL, adopt, &peer);
	nt_done_init(&cl, ex);
	KC_CHECK_OK(kc_socket_upcall(h.s, KC_SO_CLOSED, &cl.kc));
	KC_CHECK_OK(kc_init(&h.rd, hc_readable, &h, ex, 0));
	KC_CHECK_OK(kc_socket_upcall(h.s, KC_SO_READABLE, &h.rd));

	nt_chain_pat(&ch, h.seed + 2, 0, OURS);
	KC_CHECK_OK(kc_socket_send(h.s, &ch, NULL, NULL));
	kc_chain_free(&ch);
	KC_CHECK_OK(kc_socket_shutdown(h.s, SHUT_WR));
	KC_CHECK(kc_socket_state(h.s) & KC_SS_CANTSENDMORE);
	/* Sends after the shutdown fail, the chain handed back. */
	nt_chain_pat(&ch, h.seed + 3, 0, 100);
	KC_CHECK_EQ(kc_socket_send(h.s, &ch, NULL, NULL), -EPIPE);
	KC_CHECK_EQ(kc_chain_len(&ch), 100);
	nt_check_chain(&ch, 0, 100, h.seed + 3, 0, "chain after -EPIPE");
	KC_CHECK_EQ(kc_socket_send_wait(h.s, &ch, NULL,
	    NT_WAIT_S * KCT_NSEC_PER_SEC), -EPIPE);
	KC_CHECK_EQ(kc_chain_len(&ch), 100);
	kc_chain_free(&ch);

	/* The peer gets all of it, then end of file. */
	nt_raw_read_full(peer, buf, OURS);
	nt_check_buf(buf, OURS, h.seed + 2, 0, "data before SHUT_WR");
	nt_raw_expect_eof(peer);
	/* It can still send to us: one direction only is shut. */
	KC_CHECK(!(kc_socket_state(h.s) & KC_SS_CANTRCVMORE));
	KC_CHECK_EQ(atomic_load(&cl.n), 0);
	nt_pat_fill(buf, THEIRS, h.seed, 0);
	nt_raw_write(peer, buf, THEIRS);
	nt_raw_close(peer);
	KCT_WAIT(atomic_load(&h.eof), NT_WAIT_S);
	KCT_WAIT(atomic_load(&h.extra), NT_WAIT_S);
	/* Both directions shut now: the connection has ended. */
	nt_done_wait(&cl);
	KC_CHECK_EQ(atomic_load(&cl.status), 0);
	KC_CHECK_EQ(kc_socket_error(h.s), 0);
	nt_close(h.s);
	KCT_WAIT(kc_state(&cl.kc) == KC_STATE_IDLE, NT_WAIT_S);
	KC_CHECK_EQ(atomic_load(&cl.n), 1);
	free(buf);
}

static void
theirs_first(struct kc_executor *ex, enum nt_kind k, bool adopt)
{
	struct kc_chain ch = KC_CHAIN_INITIALIZER;
	uint8_t *buf = malloc(THEIRS2 > REPLY ? THEIRS2 : REPLY);
	struct hc h;
	int peer;

	KC_CHECK(buf != NULL);
	memset(&h, 0, sizeof(h));
	h.ex = ex;
	h.seed = kct_rand();
	h.want = THEIRS2;
	h.reply = true;
	h.s = nt_pair(ex, k, NULL, adopt, &peer);
	KC_CHECK_OK(kc_init(&h.rd, hc_readable, &h, ex, 0));
	KC_CHECK_OK(kc_socket_upcall(h.s, KC_SO_READABLE, &h.rd));

	nt_pat_fill(buf, THEIRS2, h.seed, 0);
	nt_raw_write(peer, buf, THEIRS2);
	KC_CHECK_OK(shutdown(peer, SHUT_WR));
	KCT_WAIT(atomic_load(&h.eof), NT_WAIT_S);
	KCT_WAIT(atomic_load(&h.extra), NT_WAIT_S);
	KC_CHECK(kc_socket_state(h.s) & KC_SS_CANTRCVMORE);
	KC_CHECK(!(kc_socket_state(h.s) & KC_SS_CANTSENDMORE));
	/* The reply sent from the upcall arrives... */
	nt_raw_read_full(peer, buf, REPLY);
	nt_check_buf(buf, REPLY, h.seed + 1, 0, "reply after their SHUT_WR");
	/* ...and so does one sent from this plain thread. */
	nt_chain_pat(&ch, h.seed + 4, 0, 1000);
	KC_CHECK_EQ(kc_socket_send_wait(h.s, &ch, NULL,
	    NT_WAIT_S * KCT_NSEC_PER_SEC), 1000);
	kc_chain_free(&ch);
	nt_raw_read_full(peer, buf, 1000);
	nt_check_buf(buf, 1000, h.seed + 4, 0, "write after their SHUT_WR");
	nt_close(h.s);
	nt_raw_expect_eof(peer);
	nt_raw_close(peer);
	free(buf);
}

int
main(void)
{
	static const enum nt_kind kinds[] = { NT_TCP4, NT_TCP6, NT_UNIX };
	struct kc_executor *ex;
	long base;
	unsigned i, r, n;

	kct_begin("net-halfclose", 600);
	base = kc_socket_count();
	ex = kct_exec_soft("halfclose");
	n = kct_sanitized() ? 2 : 6;
	for (i = 0; i < 3; i++) {
		printf("  %s\n", nt_kind_name[kinds[i]]);
		for (r = 0; r < n; r++) {
			ours_first(ex, kinds[i], r & 1);
			theirs_first(ex, kinds[i], r & 1);
		}
		nt_wait_count(base);
	}
	kct_exec_finish(ex);
	return kct_done();
}
