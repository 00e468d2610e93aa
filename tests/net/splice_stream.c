/*
 * net-splice-stream: kc_splice() between two stream sockets, data both ways.
 *
 *   raw client <-> a ==splice== b <-> raw server
 *
 * a is accepted by a kc listener; b is created and kc_socket_connect()ed
 * while the owner is held busy, so that it is certainly still connecting
 * when kc_splice() is called.  Both raw peers send 16 MiB (4 MiB under
 * sanitizers) of pseudo-random bytes at once and shut for writing; each
 * checks what it receives byte for byte and that end of file follows it.
 * Then: done ran once, on the owner, with obj the splice and status 0; the
 * counts per direction (spliced + copied) are what was sent; with
 * KC_SPLICE_COPY nothing is spliced, without it most of it is; the pool
 * lends no pipe afterwards; the splice closed a and b (kc_socket_count()
 * is back).
 *
 * TCP over 127.0.0.1 and ::1, UNIX streams, and mixed: a UNIX and b TCP, a
 * TCP over ::1 and b UNIX (spliced from a continuation running on the
 * owner itself), a TCP and b UNIX with attr.pipe_size 64 KiB.
 */
#include "splicetest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint64_t big;

struct from_owner {
	struct st_sp	*s;
	int		 r;
};

/* On the owner: connect b and splice, as st_sp_splice() does elsewhere. */
static void
splice_on_owner(void *arg)
{
	struct from_owner *f = arg;
	struct st_sp *s = f->s;

	KC_CHECK_OK(kc_socket_connect(s->b, &s->saddr, NULL));
	f->r = kc_splice(&s->sp, s->a, s->b, NULL, 0, &s->attr, &s->done.kc);
}

static void
run(struct kc_executor *ex, enum nt_kind ka, enum nt_kind kb, unsigned flags,
    bool on_owner, size_t pipe_size)
{
	struct kc_splice_stats st;
	struct kc_pipe_stats ps0, ps;
	struct st_peer cl, sv;
	struct st_sp s;
	long base = kc_socket_count();
	unsigned d;

	if (!st_want("%s -> %s%s%s%s", nt_kind_name[ka], nt_kind_name[kb],
	    flags & KC_SPLICE_COPY ? ", KC_SPLICE_COPY" : "",
	    on_owner ? ", spliced on the owner" : "",
	    pipe_size != 0 ? ", 64 KiB pipes" : ""))
		return;
	st_pipe_stats(ex, &ps0);
	memset(&s, 0, sizeof(s));
	s.ex = ex;
	s.ka = ka;
	s.kb = kb;
	s.attr.flags = flags;
	s.attr.pipe_size = pipe_size;
	if (on_owner) {
		struct from_owner f = { .s = &s, .r = 1 };

		st_sp_client(&s);
		st_sp_upstream(&s);
		st_events_init(&s.ev, ex);
		s.attr.event = st_event_fn;
		s.attr.event_arg = &s.ev;
		nt_done_init(&s.done, ex);
		nt_on(ex, splice_on_owner, &f);
		KC_CHECK_EQ(f.r, 0);
		KC_CHECK(s.sp != NULL);
		st_sp_accept(&s);
	} else {
		st_sp_open(&s, true);
	}

	memset(&cl, 0, sizeof(cl));
	cl.name = "client";
	cl.fd = s.client;
	cl.send_sid = st_sid();
	cl.send_len = big;
	cl.shut_after = true;
	memset(&sv, 0, sizeof(sv));
	sv.name = "server";
	sv.fd = s.server;
	sv.send_sid = st_sid();
	sv.send_len = big;
	sv.shut_after = true;
	cl.recv_sid = sv.send_sid;
	cl.recv_len = big;
	sv.recv_sid = cl.send_sid;
	sv.recv_len = big;
	st_peer_start(&cl);
	st_peer_start(&sv);
	st_peer_join(&cl);
	st_peer_join(&sv);
	st_peer_check_whole(&cl);
	st_peer_check_whole(&sv);

	KC_CHECK_EQ(st_sp_wait(&s), 0);
	st_sp_stats(&s, &st);
	st_stats_print(nt_kind_name[ka], &st);
	for (d = 0; d < 2; d++) {
		KC_CHECK_EQ(st.spliced[d] + st.copied[d], big);
		if (flags & KC_SPLICE_COPY)
			KC_CHECK_EQ(st.spliced[d], 0);
		else
			KC_CHECK_GT(st.spliced[d], big / 2);
		KC_CHECK_EQ(st.datagrams[d], 0);
	}
	KC_CHECK_EQ(st.mirrored, 0);
	KC_CHECK_EQ(st.mirror_dropped, 0);
	KC_CHECK_EQ(st.mirror_detached, 0);
	KC_CHECK_EQ(st.dgram_dropped, 0);
	KC_CHECK_EQ(atomic_load(&s.ev.n[KC_SPLICE_EV_MIRROR_DETACHED]), 0);
	KC_CHECK_EQ(atomic_load(&s.ev.n[KC_SPLICE_EV_MIRROR_DROPPING]), 0);
	/* The splice closed a and b: with the raw ends closed, they go. */
	st_sp_close(&s);
	nt_wait_count(base);

	st_pipe_stats(ex, &ps);
	printf("    pipes: lent %u idle %u size %zu created %llu "
	    "fallbacks %llu\n", ps.lent, ps.idle, ps.pipe_size,
	    (unsigned long long)ps.created, (unsigned long long)ps.fallbacks);
	KC_CHECK_EQ(ps.lent, 0);
	if (!(flags & KC_SPLICE_COPY)) {
		/* Spliced bytes went through the pool's pipes. */
		KC_CHECK_GT(ps.created, 0);
		KC_CHECK_GT(ps.pipe_size, 0);
	}
	KC_CHECK_GE(ps.created, ps0.created);
	KC_CHECK_GE(ps.fallbacks, ps0.fallbacks);
}

int
main(void)
{
	struct kc_executor *ex;
	long base;

	kct_begin("net-splice-stream", 600);
	st_init();
	big = kct_sanitized() ? 4 * ST_MIB : 16 * ST_MIB;
	base = kc_socket_count();
	ex = kct_exec_soft("splice-stream");

	run(ex, NT_TCP4, NT_TCP4, 0, false, 0);
	run(ex, NT_TCP4, NT_TCP4, KC_SPLICE_COPY, false, 0);
	run(ex, NT_TCP6, NT_TCP6, 0, false, 0);
	run(ex, NT_TCP6, NT_TCP6, KC_SPLICE_COPY, false, 0);
	run(ex, NT_UNIX, NT_UNIX, 0, false, 0);
	run(ex, NT_UNIX, NT_UNIX, KC_SPLICE_COPY, false, 0);
	run(ex, NT_UNIX, NT_TCP4, 0, false, 0);
	run(ex, NT_UNIX, NT_TCP4, KC_SPLICE_COPY, false, 0);
	run(ex, NT_TCP6, NT_UNIX, 0, true, 0);
	run(ex, NT_TCP4, NT_UNIX, 0, false, 65536);

	nt_wait_count(base);
	kct_exec_finish(ex);
	return kct_done();
}
