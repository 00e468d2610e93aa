/*
 * net-splice-turns: a mirror paced by turns (kc_splice_attr.mirror_turns).
 *
 *   raw client <-> a ==splice== b <-> raw server
 *                        \=> mirror (raw), paced
 *
 * The client, the server and the mirror are raw descriptors driven by this
 * thread, step by step, so that what the mirror may have been sent at each
 * step is known.  "Nothing more" is checked by a short poll: bytes that
 * the splice wrongly sent would show there, and a splice that is right
 * can never fail it, whatever the timing.
 *
 *   ahead (TCP, UNIX): the client and the server run all their turns
 *   (turn k: a request of 40 + 7k bytes, a reply of 5) while the mirror
 *   reads nothing.  Then the mirror gets exactly turn 0 and nothing more
 *   until it answers; after each answer exactly the next turn.  Nothing
 *   detached; it was written every byte; it gets end of file once all is
 *   out after the client's.  A splice without the mirror paced sends
 *   turn 1 before any answer (the same run, checked the other way).
 *
 *   lockstep: each turn is sent in two writes, the server reading the
 *   first before the second is sent, and the mirror answering the turn
 *   before only after the first half: the second half, written after the
 *   mirror's turn was given, goes on to it at once (the open turn passes).
 *
 *   server first: the server greets before the client's first turn; the
 *   mirror gets nothing until it has greeted too, then turn 0.
 *
 *   budget: a mirror that never answers, turns of 4 KiB and a budget of
 *   64 KiB: the turns held for it pass the budget, it is detached
 *   (-ENOBUFS) and the primary is whole.
 */
#include "splicetest.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TURNS	24
#define QUIET_MS 50

static size_t
turn_len(unsigned k)
{
	return 40 + 7 * (size_t)k;
}

static void
turn_fill(uint8_t *buf, unsigned k, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (uint8_t)('a' + (k + i) % 26);
}

/* fd has nothing to read for a while (or fails the test). */
static void
quiet(int fd, const char *what)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r = poll(&p, 1, QUIET_MS);

	if (r != 0)
		kct_fail(__FILE__, __LINE__, "%s: readable (%d, revents %#x)",
		    what, r, (unsigned)p.revents);
}

/* Read turn k whole from fd and check it. */
static void
read_turn(int fd, unsigned k)
{
	uint8_t want[256], got[256];
	size_t n = turn_len(k);

	turn_fill(want, k, n);
	nt_raw_read_full(fd, got, n);
	if (memcmp(want, got, n) != 0)
		kct_fail(__FILE__, __LINE__, "turn %u differs", k);
}

/* One turn of the primary: the client's request, the server's reply. */
static void
primary_turn(struct st_sp *s, unsigned k)
{
	uint8_t buf[256], r[5];

	turn_fill(buf, k, turn_len(k));
	nt_raw_write(s->client, buf, turn_len(k));
	read_turn(s->server, k);
	nt_raw_write(s->server, "reply", 5);
	nt_raw_read_full(s->client, r, 5);
}

static void
open_paced(struct kc_executor *ex, struct st_sp *s, enum nt_kind k,
    bool paced)
{
	memset(s, 0, sizeof(*s));
	s->ex = ex;
	s->ka = s->kb = s->km = k;
	s->nm = 1;
	s->attr.mirror_turns = paced ? 1u : 0u;
	st_sp_open(s, true);
}

/* The client shuts, then the server: both ends see end of file. */
static void
shut_both(struct st_sp *s)
{
	KC_CHECK_OK(shutdown(s->client, SHUT_WR));
	nt_raw_expect_eof(s->server);
	KC_CHECK_OK(shutdown(s->server, SHUT_WR));
	nt_raw_expect_eof(s->client);
}

/* Both ends shut; the splice ends; the mirror gets end of file. */
static void
finish(struct st_sp *s, uint64_t mirrored)
{
	struct kc_splice_mirror_stats ms;

	shut_both(s);
	nt_raw_expect_eof(s->mirror[0]);
	KC_CHECK_EQ(st_sp_wait(s), 0);
	st_sp_mirror(s, 0, &ms);
	KC_CHECK_EQ(ms.detached, 0);
	KC_CHECK_EQ(ms.written, mirrored);
	KC_CHECK_EQ(atomic_load(&s->ev.n[KC_SPLICE_EV_MIRROR_DETACHED]), 0);
	st_sp_close(s);
}

static void
ahead(struct kc_executor *ex, enum nt_kind kind, bool paced)
{
	struct st_sp s;
	uint64_t all = 0;
	long base = kc_socket_count();
	unsigned k;

	if (!st_want("%s: the primary runs %u turns ahead, mirror %s",
	    nt_kind_name[kind], TURNS, paced ? "paced" : "not paced"))
		return;
	open_paced(ex, &s, kind, paced);
	for (k = 0; k < TURNS; k++) {
		primary_turn(&s, k);
		all += turn_len(k);
	}
	if (!paced) {
		/* Blind: it has every turn, unanswered. */
		for (k = 0; k < TURNS; k++)
			read_turn(s.mirror[0], k);
		finish(&s, all);
		nt_wait_count(base);
		return;
	}
	for (k = 0; k < TURNS; k++) {
		read_turn(s.mirror[0], k);
		quiet(s.mirror[0], "the mirror before its answer");
		nt_raw_write(s.mirror[0], "ok", 2);
	}
	finish(&s, all);
	nt_wait_count(base);
}

static void
lockstep(struct kc_executor *ex, enum nt_kind kind)
{
	uint8_t buf[256], r[5];
	struct st_sp s;
	uint64_t all = 0;
	long base = kc_socket_count();
	unsigned k;
	size_t n, h;

	if (!st_want("%s: turns in two writes, in lockstep with the mirror",
	    nt_kind_name[kind]))
		return;
	open_paced(ex, &s, kind, true);
	for (k = 0; k < TURNS; k++) {
		n = turn_len(k);
		h = n / 2;
		turn_fill(buf, k, n);
		nt_raw_write(s.client, buf, h);
		{
			uint8_t got[256];

			nt_raw_read_full(s.server, got, h);
			/* Given at once: it answered the turn before. */
			nt_raw_read_full(s.mirror[0], got, h);
			KC_CHECK(memcmp(got, buf, h) == 0);
			nt_raw_write(s.client, buf + h, n - h);
			nt_raw_read_full(s.server, got, n - h);
			/* The open turn passes: no answer needed. */
			nt_raw_read_full(s.mirror[0], got, n - h);
			KC_CHECK(memcmp(got, buf + h, n - h) == 0);
		}
		nt_raw_write(s.server, "reply", 5);
		nt_raw_read_full(s.client, r, 5);
		quiet(s.mirror[0], "the mirror after a whole turn");
		nt_raw_write(s.mirror[0], "ok", 2);
		all += n;
	}
	finish(&s, all);
	nt_wait_count(base);
}

static void
server_first(struct kc_executor *ex, enum nt_kind kind)
{
	struct st_sp s;
	uint8_t g[5];
	uint64_t all = 0;
	long base = kc_socket_count();
	unsigned k;

	if (!st_want("%s: the server greets first", nt_kind_name[kind]))
		return;
	open_paced(ex, &s, kind, true);
	nt_raw_write(s.server, "hello", 5);
	nt_raw_read_full(s.client, g, 5);
	for (k = 0; k < 4; k++) {
		primary_turn(&s, k);
		all += turn_len(k);
	}
	quiet(s.mirror[0], "the mirror before its greeting");
	for (k = 0; k < 4; k++) {
		nt_raw_write(s.mirror[0], k == 0 ? "hi" : "ok", 2);
		read_turn(s.mirror[0], k);
		quiet(s.mirror[0], "the mirror before its answer");
	}
	nt_raw_write(s.mirror[0], "ok", 2);
	finish(&s, all);
	nt_wait_count(base);
}

static void
budget(struct kc_executor *ex, enum nt_kind kind)
{
	uint8_t buf[4096], got[4096], r[5];
	struct kc_splice_mirror_stats ms;
	struct st_sp s;
	long base = kc_socket_count();
	unsigned k;

	if (!st_want("%s: a paced mirror that never answers, past its budget",
	    nt_kind_name[kind]))
		return;
	memset(&s, 0, sizeof(s));
	s.ex = ex;
	s.ka = s.kb = s.km = kind;
	s.nm = 1;
	s.attr.mirror_turns = 1;
	s.attr.mirror_budget = 64 * 1024;
	st_sp_open(&s, true);
	memset(buf, 'q', sizeof(buf));
	for (k = 0; k < 32; k++) {
		nt_raw_write(s.client, buf, sizeof(buf));
		nt_raw_read_full(s.server, got, sizeof(got));
		KC_CHECK(memcmp(got, buf, sizeof(buf)) == 0);
		nt_raw_write(s.server, "reply", 5);
		nt_raw_read_full(s.client, r, 5);
	}
	KCT_WAIT(atomic_load(&s.ev.n[KC_SPLICE_EV_MIRROR_DETACHED]) == 1,
	    NT_WAIT_S);
	KC_CHECK_EQ(atomic_load(&s.ev.err[KC_SPLICE_EV_MIRROR_DETACHED]),
	    -ENOBUFS);
	shut_both(&s);
	KC_CHECK_EQ(st_sp_wait(&s), 0);
	st_sp_mirror(&s, 0, &ms);
	KC_CHECK_EQ(ms.detached, 1);
	KC_CHECK_EQ(ms.detach_err, -ENOBUFS);
	/* Only the first turn was ever given. */
	KC_CHECK_EQ(ms.written, sizeof(buf));
	st_sp_close(&s);
	nt_wait_count(base);
}

int
main(void)
{
	struct kc_executor *ex;
	long base;

	kct_begin("net-splice-turns", 300);
	st_init();
	base = kc_socket_count();
	ex = kct_exec_soft("splice-turns");
	ahead(ex, NT_TCP4, true);
	ahead(ex, NT_UNIX, true);
	ahead(ex, NT_TCP4, false);
	lockstep(ex, NT_TCP4);
	lockstep(ex, NT_UNIX);
	server_first(ex, NT_TCP4);
	server_first(ex, NT_UNIX);
	budget(ex, NT_TCP4);
	nt_wait_count(base);
	kct_exec_finish(ex);
	return kct_done();
}
