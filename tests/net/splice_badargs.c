/*
 * net-splice-badargs: what kc_splice() refuses, and that a refusal leaves
 * every socket the caller's and usable.
 *
 * -EINVAL for: a and b of different owners; a mirror of another owner; a
 * listening socket as a, as b or as a mirror; a stream with a datagram
 * socket (either way round, and as a mirror); the same socket twice (a as
 * b, a or b as a mirror, a mirror twice); 17 mirrors; NULL for spp, a, b,
 * or mirrors with nmirrors > 0; an unknown mirror_policy or flag.  After
 * each refusal the sockets are untouched: data still goes both ways
 * through a and b (kc_socket_send_wait() and kc_socket_recv_wait()
 * against their raw peers), and kc_socket_close() on each succeeds (it
 * would fail on a socket the splice had taken and closed).
 *
 * 16 mirrors are not too many: each gets the client's bytes.
 *
 * kc_splice_close() while the splice runs: 0 at once, it is cancelled (done
 * gets -ECANCELED), the close's done runs once, after done has returned,
 * and a second close before then is -EBADF.  done may call
 * kc_splice_close() itself (as kc_splice(3)'s example does): the close's
 * done then runs after done has returned.
 * NULL to kc_splice_cancel(), kc_splice_stats(), kc_splice_close() and
 * kc_pipe_stats(): -EINVAL, as is a NULL st or a thread executor to
 * kc_pipe_stats().
 */
#include "splicetest.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MIRRORS	(KC_SPLICE_MIRRORS_MAX + 1)

/* A stream socket owned by ex, accepted from a raw client (*raw). */
static struct kc_socket *
accepted(struct kc_executor *ex, int *raw)
{
	struct st_sp s;

	memset(&s, 0, sizeof(s));
	s.ex = ex;
	s.ka = NT_TCP4;
	st_sp_client(&s);
	*raw = s.client;
	return s.a;
}

/* s's connection to raw still works both ways. */
static void
usable(struct kc_socket *s, int raw, const char *what)
{
	struct kc_chain ch = KC_CHAIN_INITIALIZER;
	uint8_t buf[64];

	KC_CHECK(!(kc_socket_state(s) & (KC_SS_CLOSED | KC_SS_ERROR |
	    KC_SS_CANTSENDMORE | KC_SS_CANTRCVMORE)));
	KC_CHECK_OK(kc_chain_append(&ch, what, strlen(what)));
	KC_CHECK_EQ(kc_socket_send_wait(s, &ch, NULL,
	    NT_WAIT_S * KCT_NSEC_PER_SEC), strlen(what));
	kc_chain_free(&ch);
	memset(buf, 0, sizeof(buf));
	nt_raw_read_full(raw, buf, strlen(what));
	KC_CHECK_OK(memcmp(buf, what, strlen(what)));
	nt_raw_write(raw, "pong", 4);
	KC_CHECK_EQ(kc_socket_recv_wait(s, &ch, 4, NULL,
	    NT_WAIT_S * KCT_NSEC_PER_SEC), 4);
	KC_CHECK_EQ(kc_chain_copyout(&ch, 0, buf, 4), 4);
	KC_CHECK_OK(memcmp(buf, "pong", 4));
	kc_chain_free(&ch);
}

struct pair {
	struct kc_socket	*a, *b;
	int			 ra, rb;
};

static void
pair_open(struct pair *p, struct kc_executor *exa, struct kc_executor *exb)
{
	p->a = accepted(exa, &p->ra);
	p->b = accepted(exb, &p->rb);
}

static void
pair_check_close(struct pair *p, const char *what)
{
	usable(p->a, p->ra, what);
	usable(p->b, p->rb, what);
	nt_close(p->a);
	nt_close(p->b);
	nt_raw_close(p->ra);
	nt_raw_close(p->rb);
}

/* kc_splice() must refuse: -EINVAL, *spp untouched, done never run. */
static void
refused(struct kc_socket *a, struct kc_socket *b,
    struct kc_socket *const *m, unsigned nm, const struct kc_splice_attr *attr,
    const char *what)
{
	struct kc_splice *sp = NULL;
	struct nt_done d;
	int r;

	nt_done_init(&d, NULL);
	r = kc_splice(&sp, a, b, m, nm, attr, &d.kc);
	if (r != -EINVAL)
		kct_fail(__FILE__, __LINE__, "kc_splice() with %s: %d, "
		    "expected -EINVAL", what, r);
	KC_CHECK_EQ(atomic_load(&d.n), 0);
	KC_CHECK_EQ(kc_state(&d.kc), KC_STATE_IDLE);
}

static void
simple_cases(struct kc_executor *ex, struct kc_executor *ex2)
{
	struct kc_splice_attr attr;
	struct kc_pipe_stats ps;
	struct kc_executor *pool;
	struct kc_sockaddr la, da;
	struct kc_socket *lsn, *dg, *m[2];
	struct pair p;
	struct nt_done d;
	long base = kc_socket_count();
	int raw;

	if (!st_want("refusals"))
		return;
	pair_open(&p, ex, ex2);
	refused(p.a, p.b, NULL, 0, NULL, "a and b of different owners");
	pair_check_close(&p, "owners");

	pair_open(&p, ex, ex);
	m[0] = accepted(ex2, &raw);
	refused(p.a, p.b, m, 1, NULL, "a mirror of another owner");
	usable(m[0], raw, "mirror");
	nt_close(m[0]);
	nt_raw_close(raw);
	pair_check_close(&p, "mirror owner");

	pair_open(&p, ex, ex);
	lsn = nt_listener(ex, NT_TCP4, NULL, &la);
	refused(p.a, lsn, NULL, 0, NULL, "a listening b");
	refused(lsn, p.b, NULL, 0, NULL, "a listening a");
	m[0] = lsn;
	refused(p.a, p.b, m, 1, NULL, "a listening mirror");
	nt_close(lsn);
	pair_check_close(&p, "listening");

	pair_open(&p, ex, ex);
	dg = nt_socket(ex, NT_UDP4, NULL);
	nt_bind_addr(NT_UDP4, &da);
	KC_CHECK_OK(kc_socket_bind(dg, &da));
	KC_CHECK_OK(kc_socket_name(dg, &da, 0));
	KC_CHECK_OK(kc_socket_connect_wait(dg, &da,
	    NT_WAIT_S * KCT_NSEC_PER_SEC));
	refused(p.a, dg, NULL, 0, NULL, "a stream a and a datagram b");
	refused(dg, p.b, NULL, 0, NULL, "a datagram a and a stream b");
	m[0] = dg;
	refused(p.a, p.b, m, 1, NULL, "a datagram mirror of streams");
	nt_close(dg);
	pair_check_close(&p, "kinds");

	pair_open(&p, ex, ex);
	refused(p.a, p.a, NULL, 0, NULL, "a as b");
	m[0] = p.a;
	refused(p.a, p.b, m, 1, NULL, "a as a mirror");
	m[0] = p.b;
	refused(p.a, p.b, m, 1, NULL, "b as a mirror");
	m[0] = m[1] = accepted(ex, &raw);
	refused(p.a, p.b, m, 2, NULL, "a mirror twice");
	usable(m[0], raw, "mirror");
	nt_close(m[0]);
	nt_raw_close(raw);
	pair_check_close(&p, "twice");

	pair_open(&p, ex, ex);
	refused(p.a, p.b, NULL, 1, NULL, "mirrors NULL, nmirrors 1");
	refused(p.a, NULL, NULL, 0, NULL, "b NULL");
	refused(NULL, p.b, NULL, 0, NULL, "a NULL");
	nt_done_init(&d, NULL);
	KC_CHECK_EQ(kc_splice(NULL, p.a, p.b, NULL, 0, NULL, &d.kc), -EINVAL);
	memset(&attr, 0, sizeof(attr));
	attr.mirror_policy = 2;
	refused(p.a, p.b, NULL, 0, &attr, "mirror_policy 2");
	attr.mirror_policy = -1;
	refused(p.a, p.b, NULL, 0, &attr, "mirror_policy -1");
	memset(&attr, 0, sizeof(attr));
	attr.flags = 0x8000u;
	refused(p.a, p.b, NULL, 0, &attr, "an unknown flag");
	pair_check_close(&p, "nulls");

	KC_CHECK_EQ(kc_splice_cancel(NULL), -EINVAL);
	KC_CHECK_EQ(kc_splice_close(NULL, NULL), -EINVAL);
	KC_CHECK_EQ(kc_splice_stats(NULL, NULL), -EINVAL);
	KC_CHECK_EQ(kc_pipe_stats(NULL, &ps), -EINVAL);
	KC_CHECK_EQ(kc_pipe_stats(ex, NULL), -EINVAL);
	pool = kct_exec_thread(1, "splice-bad-pool");
	KC_CHECK_EQ(kc_pipe_stats(pool, &ps), -EINVAL);
	kct_exec_finish(pool);
	nt_wait_count(base);
}

/* 17 mirrors are refused, 16 are fine (and each gets the bytes). */
static void
mirror_count(struct kc_executor *ex)
{
	struct kc_splice_stats st;
	struct st_peer cl, sv, mi[MIRRORS];
	struct st_sp s;
	long base = kc_socket_count();
	unsigned i;

	if (!st_want("17 mirrors refused, 16 taken"))
		return;
	memset(&s, 0, sizeof(s));
	s.ex = ex;
	s.ka = s.kb = s.km = NT_TCP4;
	s.nm = MIRRORS;
	st_sp_client(&s);
	st_sp_upstream(&s);
	KC_CHECK_OK(kc_socket_connect_wait(s.b, &s.saddr,
	    NT_WAIT_S * KCT_NSEC_PER_SEC));
	s.b_connected = true;
	s.server = nt_raw_accept(s.slfd);
	nt_raw_close(s.slfd);
	s.slfd = -1;
	for (i = 0; i < MIRRORS; i++) {
		KC_CHECK_OK(kc_socket_connect_wait(s.m[i], &s.maddr[i],
		    NT_WAIT_S * KCT_NSEC_PER_SEC));
		s.m_connected[i] = true;
	}
	refused(s.a, s.b, s.m, MIRRORS, NULL, "17 mirrors");
	usable(s.a, s.client, "17");
	usable(s.b, s.server, "17");
	/* The last stays ours; KC_SPLICE_MIRRORS_MAX go to the splice. */
	nt_close(s.m[KC_SPLICE_MIRRORS_MAX]);
	s.nm = KC_SPLICE_MIRRORS_MAX;
	st_sp_splice(&s, false);
	st_sp_accept(&s);
	nt_raw_close(s.mlfd[KC_SPLICE_MIRRORS_MAX]);
	memset(&cl, 0, sizeof(cl));
	cl.name = "client";
	cl.fd = s.client;
	cl.send_sid = st_sid();
	cl.send_len = 256 * 1024;
	cl.shut_after = true;
	memset(&sv, 0, sizeof(sv));
	sv.name = "server";
	sv.fd = s.server;
	sv.recv_sid = cl.send_sid;
	sv.recv_len = cl.send_len;
	sv.shut_after = true;
	st_peer_start(&cl);
	st_peer_start(&sv);
	for (i = 0; i < KC_SPLICE_MIRRORS_MAX; i++) {
		memset(&mi[i], 0, sizeof(mi[i]));
		mi[i].name = "mirror";
		mi[i].fd = s.mirror[i];
		mi[i].recv_sid = cl.send_sid;
		mi[i].recv_len = cl.send_len;
		st_peer_start(&mi[i]);
	}
	st_peer_join(&cl);
	st_peer_join(&sv);
	st_peer_check_whole(&cl);
	st_peer_check_whole(&sv);
	for (i = 0; i < KC_SPLICE_MIRRORS_MAX; i++) {
		st_peer_join(&mi[i]);
		st_peer_check_whole(&mi[i]);
	}
	KC_CHECK_EQ(st_sp_wait(&s), 0);
	st_sp_stats(&s, &st);
	KC_CHECK_EQ(st.mirror_detached, 0);
	st_sp_close(&s);
	nt_wait_count(base);
}

/* A splice's done that notes whether the close's done ran before it. */
struct spdone {
	struct kc		 kc;
	struct kct_done		*cd;
	atomic_int		 status;
	atomic_int		 runs;
	atomic_int		 cd_runs_then;	/* close's done runs at the end */
	atomic_int		 closed;	/* kc_splice_close() from here + 1 */
	bool			 close_here;
	struct kc_splice	*sp;
};

static void
spdone_fn(void *obj, void *env, int status)
{
	struct spdone *f = env;

	atomic_store(&f->status, status);
	if (f->close_here) {
		atomic_store(&f->closed, kc_splice_close(obj,
		    &f->cd->d_kc) + 1);
		/* Not freed under done: the close's done waits for it. */
		KC_CHECK_OK(kc_splice_stats(obj, &(struct kc_splice_stats){0}));
	}
	/* Give a close's done that would wrongly run now a chance to. */
	kct_sleep_ns(5 * KCT_NSEC_PER_MSEC);
	atomic_store(&f->cd_runs_then, atomic_load(&f->cd->d_runs));
	atomic_fetch_add(&f->runs, 1);
}

/* Closed while it runs: cancelled, the close's done after done. */
static void
close_busy(struct kc_executor *ex, struct kc_executor *other)
{
	struct st_sp s;
	struct spdone f;
	struct kct_done cd;
	struct kct_gate g;
	long base = kc_socket_count();
	char c;

	if (!st_want("kc_splice_close() while it runs"))
		return;
	memset(&s, 0, sizeof(s));
	memset(&f, 0, sizeof(f));
	s.ex = ex;
	s.ka = s.kb = s.km = NT_UNIX;
	st_sp_client(&s);
	st_sp_upstream(&s);
	kct_done_init(&cd, other);
	f.cd = &cd;
	KC_CHECK_OK(kc_init(&f.kc, spdone_fn, &f, other, 0));
	KC_CHECK_OK(kc_socket_connect(s.b, &s.saddr, NULL));
	KC_CHECK_OK(kc_splice(&f.sp, s.a, s.b, NULL, 0, NULL, &f.kc));
	s.server = nt_raw_accept(s.slfd);
	nt_raw_close(s.slfd);
	s.slfd = -1;
	/* It runs. */
	nt_raw_write(s.client, "abc", 3);
	{
		char buf[3];

		nt_raw_read_full(s.server, buf, 3);
		KC_CHECK_OK(memcmp(buf, "abc", 3));
	}
	KC_CHECK_EQ(atomic_load(&f.runs), 0);
	/* done's executor held: the splice cannot go yet. */
	kct_gate_hold(&g, other);
	KC_CHECK_OK(kc_splice_close(f.sp, &cd.d_kc));
	/* Before its done has run the pointer is still good: -EBADF. */
	KC_CHECK_EQ(kc_splice_close(f.sp, NULL), -EBADF);
	kct_gate_release(&g);
	kct_gate_wait(&g);
	kct_done_wait(&cd, f.sp);
	KC_CHECK_EQ(atomic_load(&f.runs), 1);
	KC_CHECK_EQ(atomic_load(&f.status), -ECANCELED);
	KC_CHECK_EQ(atomic_load(&f.cd_runs_then), 0);
	KC_CHECK_PTR_EQ(cd.d_ran_on, other);
	/* A cancel resets both sides. */
	KC_CHECK_LE(nt_raw_read(s.client, &c, 1), 0);
	KC_CHECK_LE(nt_raw_read(s.server, &c, 1), 0);
	nt_raw_close(s.client);
	nt_raw_close(s.server);
	nt_wait_count(base);
}

/* Closed from inside done: the close's done runs after done returned. */
static void
close_in_done(struct kc_executor *ex)
{
	struct st_sp s;
	struct spdone f;
	struct kct_done cd;
	long base = kc_socket_count();
	char c;

	if (!st_want("kc_splice_close() from done"))
		return;
	memset(&s, 0, sizeof(s));
	memset(&f, 0, sizeof(f));
	s.ex = ex;
	s.ka = s.kb = s.km = NT_TCP4;
	st_sp_client(&s);
	st_sp_upstream(&s);
	kct_done_init(&cd, NULL);
	f.cd = &cd;
	f.close_here = true;
	KC_CHECK_OK(kc_init(&f.kc, spdone_fn, &f, ex, 0));
	KC_CHECK_OK(kc_socket_connect(s.b, &s.saddr, NULL));
	KC_CHECK_OK(kc_splice(&f.sp, s.a, s.b, NULL, 0, NULL, &f.kc));
	s.server = nt_raw_accept(s.slfd);
	nt_raw_close(s.slfd);
	nt_raw_write(s.client, "x", 1);
	KC_CHECK_OK(shutdown(s.client, SHUT_WR));
	KC_CHECK_EQ(nt_raw_read(s.server, &c, 1), 1);
	KC_CHECK_EQ(c, 'x');
	nt_raw_expect_eof(s.server);
	KC_CHECK_OK(shutdown(s.server, SHUT_WR));
	nt_raw_expect_eof(s.client);
	kct_done_wait(&cd, f.sp);
	KC_CHECK_EQ(atomic_load(&f.status), 0);
	KC_CHECK_EQ(atomic_load(&f.closed) - 1, 0);
	KC_CHECK_EQ(atomic_load(&f.cd_runs_then), 0);
	KC_CHECK_PTR_EQ(cd.d_ran_on, ex);
	nt_raw_close(s.client);
	nt_raw_close(s.server);
	nt_wait_count(base);
}

int
main(void)
{
	struct kc_executor *ex, *ex2;
	long base;

	kct_begin("net-splice-badargs", 300);
	st_init();
	base = kc_socket_count();
	ex = kct_exec_soft("splice-bad-a");
	ex2 = kct_exec_soft("splice-bad-b");
	simple_cases(ex, ex2);
	mirror_count(ex);
	close_busy(ex, ex2);
	close_in_done(ex);
	nt_wait_count(base);
	kct_exec_finish(ex);
	kct_exec_finish(ex2);
	return kct_done();
}
