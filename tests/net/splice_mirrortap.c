/*
 * net-splice-mirrortap: a splice's mirror tap (kc_splice_attr.mirror_tap)
 * gets what each mirror sends back, byte for byte and in order, per
 * mirror, while the primary and the mirrors still get every byte.
 *
 *   raw client <-> a ==splice== b <-> raw server
 *                        \=> mirrors (raw), each sending a stream back
 *
 *   streams: two mirrors each send a stream of their own (bulk) and shut;
 *   each mirror's calls carry exactly its stream, on the owner, and done
 *   runs after the last call.  Spliced and KC_SPLICE_COPY.
 *
 *   stop: mirror 0's tap returns non-zero on its third call: it is not
 *   called again (its later replies are thrown away, it is not detached),
 *   and mirror 1's calls go on to the end of its stream.
 *
 *   paced: a mirror paced by turns and tapped: it still gets turn k only
 *   once it has answered turn k - 1, and the tap sees its answers in order.
 *
 *   late: the client and the server end while the mirror has not answered
 *   yet; the splice waits for the mirror's replies, which the tap gets,
 *   and ends once the mirror closes.  A mirror that never closes is let go
 *   after its linger time without a byte, not counted as detached.
 */
#include "splicetest.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NM	2

struct mtap {
	struct kc_executor *ex;
	uint8_t		*buf[NM];
	size_t		 len[NM];
	size_t		 cap;
	unsigned	 calls[NM];
	unsigned	 stop_after[NM];	/* 0: never stop */
	bool		 bad;
};

static int
mtap_fn(void *arg, struct kc_splice *sp, unsigned mirror,
    const struct kc_chain *data, size_t off, size_t len)
{
	struct mtap *t = arg;

	(void)sp;
	if (kc_executor_current() != t->ex || mirror >= NM || len == 0 ||
	    off + len > kc_chain_len(data) || t->len[mirror] + len > t->cap ||
	    (t->stop_after[mirror] != 0 &&
	    t->calls[mirror] >= t->stop_after[mirror])) {
		t->bad = true;
		return 1;
	}
	KC_CHECK_EQ(kc_chain_copyout(data, off, t->buf[mirror] +
	    t->len[mirror], len), len);
	/* The test's thread reads len (paced()). */
	__atomic_store_n(&t->len[mirror], t->len[mirror] + len,
	    __ATOMIC_RELEASE);
	t->calls[mirror]++;
	return t->stop_after[mirror] != 0 &&
	    t->calls[mirror] >= t->stop_after[mirror];
}

static void
mtap_init(struct mtap *t, struct kc_executor *ex, size_t cap)
{
	unsigned i;

	memset(t, 0, sizeof(*t));
	t->ex = ex;
	t->cap = cap;
	for (i = 0; i < NM; i++) {
		t->buf[i] = malloc(cap);
		KC_CHECK(t->buf[i] != NULL);
	}
}

static void
mtap_free(struct mtap *t)
{
	unsigned i;

	for (i = 0; i < NM; i++)
		free(t->buf[i]);
}

static void
streams(struct kc_executor *ex, unsigned flags, size_t len, unsigned stop0)
{
	struct kc_splice_mirror_stats ms;
	struct st_peer cl, sv, mp[NM];
	struct st_sp s;
	struct mtap t;
	long base = kc_socket_count();
	uint64_t csid = st_sid(), ssid = st_sid(), msid[NM];
	unsigned i;

	if (!st_want("mirror tap, %zu bytes each way%s%s", len,
	    flags & KC_SPLICE_COPY ? ", KC_SPLICE_COPY" : "",
	    stop0 ? ", mirror 0's tap stops" : ""))
		return;
	mtap_init(&t, ex, len);
	t.stop_after[0] = stop0;
	memset(&s, 0, sizeof(s));
	s.ex = ex;
	s.ka = s.kb = s.km = NT_TCP4;
	s.nm = NM;
	s.attr.flags = flags;
	s.attr.mirror_tap = mtap_fn;
	s.attr.mirror_tap_arg = &t;
	st_sp_open(&s, true);

	memset(&cl, 0, sizeof(cl));
	cl.name = "client";
	cl.fd = s.client;
	cl.send_sid = csid;
	cl.send_len = len;
	cl.shut_after = true;
	cl.recv_sid = ssid;
	cl.recv_len = len;
	memset(&sv, 0, sizeof(sv));
	sv.name = "server";
	sv.fd = s.server;
	sv.send_sid = ssid;
	sv.send_len = len;
	sv.shut_after = true;
	sv.recv_sid = csid;
	sv.recv_len = len;
	for (i = 0; i < NM; i++) {
		msid[i] = st_sid();
		memset(&mp[i], 0, sizeof(mp[i]));
		mp[i].name = i == 0 ? "mirror 0" : "mirror 1";
		mp[i].fd = s.mirror[i];
		mp[i].send_sid = msid[i];
		/* Each its own length: the calls cannot be mixed up. */
		mp[i].send_len = len - 1000 * i;
		mp[i].shut_after = true;
		mp[i].recv_sid = csid;
		mp[i].recv_len = len;
		st_peer_start(&mp[i]);
	}
	st_peer_start(&cl);
	st_peer_start(&sv);
	st_peer_join(&cl);
	st_peer_join(&sv);
	st_peer_check_whole(&cl);
	st_peer_check_whole(&sv);
	for (i = 0; i < NM; i++) {
		st_peer_join(&mp[i]);
		st_peer_check_whole(&mp[i]);
	}
	KC_CHECK_EQ(st_sp_wait(&s), 0);
	/* done ran on the owner after the last call. */
	KC_CHECK(!t.bad);
	for (i = 0; i < NM; i++) {
		st_sp_mirror(&s, i, &ms);
		KC_CHECK_EQ(ms.detached, 0);
		KC_CHECK_EQ(ms.written, len);
		if (i == 0 && stop0 != 0) {
			KC_CHECK_EQ(t.calls[0], stop0);
			KC_CHECK_LT(t.len[0], len);
			st_check(t.buf[0], t.len[0], msid[0], 0,
			    "mirror 0's tapped replies, up to the stop");
			continue;
		}
		KC_CHECK_EQ(t.len[i], len - 1000 * i);
		st_check(t.buf[i], t.len[i], msid[i], 0,
		    i == 0 ? "mirror 0's tapped replies" :
		    "mirror 1's tapped replies");
	}
	KC_CHECK_EQ(atomic_load(&s.ev.n[KC_SPLICE_EV_MIRROR_DETACHED]), 0);
	st_sp_close(&s);
	nt_wait_count(base);
	mtap_free(&t);
}

/*
 * fd has nothing to read for a while (or fails the test): bytes sent
 * wrongly would show, and a right splice never fails it.
 */
static void
quiet(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r = poll(&p, 1, 50);

	if (r != 0)
		kct_fail(__FILE__, __LINE__, "the mirror got a turn before "
		    "its answer (%d, revents %#x)", r, (unsigned)p.revents);
}

/* Turn k of the client: 30 + k bytes of 'a' + k. */
static void
paced(struct kc_executor *ex, enum nt_kind kind)
{
	uint8_t buf[64], got[64], r[5];
	char ans[8];
	struct kc_splice_mirror_stats ms;
	struct st_sp s;
	struct mtap t;
	long base = kc_socket_count();
	unsigned k, turns = 12;
	uint64_t all = 0;

	if (!st_want("%s: a paced mirror, tapped", nt_kind_name[kind]))
		return;
	mtap_init(&t, ex, 4096);
	memset(&s, 0, sizeof(s));
	s.ex = ex;
	s.ka = s.kb = s.km = kind;
	s.nm = 1;
	s.attr.mirror_turns = 1;
	s.attr.mirror_tap = mtap_fn;
	s.attr.mirror_tap_arg = &t;
	st_sp_open(&s, true);
	/* The primary runs every turn before the mirror reads one. */
	for (k = 0; k < turns; k++) {
		memset(buf, 'a' + (int)k, 30 + k);
		nt_raw_write(s.client, buf, 30 + k);
		nt_raw_read_full(s.server, got, 30 + k);
		nt_raw_write(s.server, "reply", 5);
		nt_raw_read_full(s.client, r, 5);
		all += 30 + k;
	}
	for (k = 0; k < turns; k++) {
		nt_raw_read_full(s.mirror[0], got, 30 + k);
		memset(buf, 'a' + (int)k, 30 + k);
		KC_CHECK(memcmp(got, buf, 30 + k) == 0);
		/* Nothing more until it answers: the pacing holds. */
		quiet(s.mirror[0]);
		snprintf(ans, sizeof(ans), "ok%02u;", k);
		nt_raw_write(s.mirror[0], ans, 5);
		/* Its answer reached the tap before the next turn goes. */
		KCT_WAIT(__atomic_load_n(&t.len[0], __ATOMIC_ACQUIRE) ==
		    5 * (size_t)(k + 1), NT_WAIT_S);
	}
	KC_CHECK_OK(shutdown(s.client, SHUT_WR));
	nt_raw_expect_eof(s.server);
	KC_CHECK_OK(shutdown(s.server, SHUT_WR));
	nt_raw_expect_eof(s.client);
	nt_raw_expect_eof(s.mirror[0]);
	KC_CHECK_OK(shutdown(s.mirror[0], SHUT_WR));
	KC_CHECK_EQ(st_sp_wait(&s), 0);
	KC_CHECK(!t.bad);
	for (k = 0; k < turns; k++) {
		snprintf(ans, sizeof(ans), "ok%02u;", k);
		KC_CHECK(memcmp(t.buf[0] + 5 * k, ans, 5) == 0);
	}
	st_sp_mirror(&s, 0, &ms);
	KC_CHECK_EQ(ms.detached, 0);
	KC_CHECK_EQ(ms.written, all);
	st_sp_close(&s);
	nt_wait_count(base);
	mtap_free(&t);
}

static void
late(struct kc_executor *ex, bool closes)
{
	uint8_t got[16], r[5];
	struct kc_splice_mirror_stats ms;
	struct st_sp s;
	struct mtap t;
	long base = kc_socket_count();

	if (!st_want("the mirror answers after the primary ended%s",
	    closes ? "" : ", and never closes"))
		return;
	mtap_init(&t, ex, 4096);
	memset(&s, 0, sizeof(s));
	s.ex = ex;
	s.ka = s.kb = s.km = NT_TCP4;
	s.nm = 1;
	s.linger_ns = 300000000ull;
	s.attr.mirror_tap = mtap_fn;
	s.attr.mirror_tap_arg = &t;
	st_sp_open(&s, true);
	nt_raw_write(s.client, "question", 8);
	nt_raw_read_full(s.server, got, 8);
	nt_raw_write(s.server, "reply", 5);
	nt_raw_read_full(s.client, r, 5);
	KC_CHECK_OK(shutdown(s.client, SHUT_WR));
	nt_raw_expect_eof(s.server);
	KC_CHECK_OK(shutdown(s.server, SHUT_WR));
	nt_raw_expect_eof(s.client);
	/* The primary has ended; the mirror has not answered yet. */
	nt_raw_read_full(s.mirror[0], got, 8);
	KC_CHECK(memcmp(got, "question", 8) == 0);
	nt_raw_expect_eof(s.mirror[0]);
	KC_CHECK_EQ(atomic_load(&s.done.n), 0);
	nt_raw_write(s.mirror[0], "late answer", 11);
	if (closes)
		KC_CHECK_OK(shutdown(s.mirror[0], SHUT_WR));
	KC_CHECK_EQ(st_sp_wait(&s), 0);
	KC_CHECK(!t.bad);
	KC_CHECK_EQ(t.len[0], 11);
	KC_CHECK(memcmp(t.buf[0], "late answer", 11) == 0);
	st_sp_mirror(&s, 0, &ms);
	KC_CHECK_EQ(ms.detached, 0);
	KC_CHECK_EQ(ms.dropped, 0);
	KC_CHECK_EQ(ms.written, 8);
	KC_CHECK_EQ(atomic_load(&s.ev.n[KC_SPLICE_EV_MIRROR_DETACHED]), 0);
	st_sp_close(&s);
	nt_wait_count(base);
	mtap_free(&t);
}

int
main(void)
{
	struct kc_executor *ex;
	size_t big;
	long base;

	kct_begin("net-splice-mirrortap", 600);
	st_init();
	big = kct_sanitized() ? 2 * ST_MIB : 8 * ST_MIB;
	base = kc_socket_count();
	ex = kct_exec_soft("splice-mirrortap");

	streams(ex, 0, big, 0);
	streams(ex, KC_SPLICE_COPY, big, 0);
	streams(ex, 0, 3000 + 1000, 0);
	streams(ex, 0, big, 3);
	paced(ex, NT_TCP4);
	paced(ex, NT_UNIX);
	late(ex, true);
	late(ex, false);

	nt_wait_count(base);
	kct_exec_finish(ex);
	return kct_done();
}
