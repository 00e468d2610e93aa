/*
 * net-splice-dgramrelay: kc_dgram_relay_create() on a UDP listener.
 *
 *   raw clients -> listener (kc) ==relay==> upstream (a raw echo thread)
 *                                     \=> mirrors (raw receivers)
 *
 * Each exchange is one datagram and its echo, waited for, so that nothing
 * is lost by design.  The first is sent as soon as kc_dgram_relay_create()
 * has returned: from then on, what arrives on the listener is relayed.
 *
 *   Two clients (UDP over 127.0.0.1 and ::1), taking turns, datagrams of 0
 *   to 65507 bytes in strides: every reply comes back whole, to the client
 *   that sent it, from the listener's address; the upstream sees two
 *   source addresses (one session each), neither the listener's; both
 *   mirrors get every client datagram, whole and in order.  The counts:
 *   sessions 2, opened 2, datagrams both ways, mirrored bytes, nothing
 *   dropped; the account struct has the same counts; two OPEN events.
 *   The relay is destroyed with its sessions open: every socket goes (and
 *   ASan finds nothing in the asan build).
 *
 *   session_idle_ns (200 ms): after an exchange the session expires
 *   (expired 1, sessions 0, an EXPIRED event for that client); the next
 *   datagram opens a new session, from a new source address.
 *
 *   session_idle_ns (2 s), one exchange just after the relay's first
 *   half second: the session expires 2 s after that exchange, not before
 *   and at most max(10%, 100 ms) after (kc_dgram_relay(3)); a sweep once
 *   a quarter of the limit let it live up to 25% longer.
 *
 *   max_sessions 1: a second client's datagrams are dropped (refused 3,
 *   FULL events); they never reach the upstream nor bring replies; the
 *   first client goes on.
 *
 *   admit: a function that says no to one client drops its datagrams
 *   (denied 2, DENIED events), is asked once about the client it lets in,
 *   and that client goes on.
 *
 *   kc_dgram_relay_close(r, done) from a plain thread and from a
 *   continuation on the owner (where a second close is -EBADF): done runs
 *   once, after the relay has let its sockets go.
 *
 *   Two relays on two executors share one count (shared_sessions) under
 *   max_sessions 2: with a session each, neither opens another (refused);
 *   when one is destroyed its place goes to the other; the count is back
 *   to 0 at the end.
 *
 *   A datagram the listener had received (kc_socket_rcvbytes() > 0) before
 *   kc_dgram_relay_create() is relayed too, first.
 *
 *   session_begin, tap and session_end: each session's pointer comes back
 *   to tap and session_end; tap sees every datagram both ways, whole, as
 *   sent, on the owner, before the far side has it; session_end runs once
 *   a session, with 0 when it expired and -ECANCELED when the relay was
 *   closed with it open (the pointers are freed there: ASan sees no leak).
 *
 *   Bad arguments (-EINVAL, the listener still the caller's): 17 mirrors,
 *   a stream listener, no upstream.
 */
#include "splicetest.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXSRC	16

/* ---- the upstream: echoes every datagram to its sender ---- */

struct up {
	int			 fd;
	struct kc_sockaddr	 addr;
	pthread_t		 t;
	atomic_int		 stop;
	atomic_int		 count;
	pthread_mutex_t		 mu;
	struct kc_sockaddr	 src[MAXSRC];
	unsigned		 nsrc;
};

static void *
up_main(void *arg)
{
	uint8_t *buf = malloc(65536);
	struct up *u = arg;
	struct kc_sockaddr from;
	struct pollfd p;
	ssize_t n;
	unsigned i;

	KC_CHECK(buf != NULL);
	while (!atomic_load(&u->stop)) {
		p.fd = u->fd;
		p.events = POLLIN;
		p.revents = 0;
		if (poll(&p, 1, 50) <= 0)
			continue;
		memset(&from, 0, sizeof(from));
		from.len = sizeof(from.a);
		n = recvfrom(u->fd, buf, 65536, MSG_DONTWAIT | MSG_TRUNC,
		    &from.a.sa, &from.len);
		if (n < 0)
			continue;
		KC_CHECK_LE(n, 65507);
		pthread_mutex_lock(&u->mu);
		for (i = 0; i < u->nsrc; i++)
			if (nt_addr_eq(&u->src[i], &from))
				break;
		if (i == u->nsrc) {
			KC_CHECK_LT(u->nsrc, MAXSRC);
			u->src[u->nsrc++] = from;
		}
		pthread_mutex_unlock(&u->mu);
		/* Counted first: the reply may be seen at once. */
		atomic_fetch_add(&u->count, 1);
		KC_CHECK_EQ(sendto(u->fd, buf, (size_t)n, 0, &from.a.sa,
		    from.len), n);
	}
	free(buf);
	return NULL;
}

static void
up_start(struct up *u, enum nt_kind k)
{
	memset(u, 0, sizeof(*u));
	pthread_mutex_init(&u->mu, NULL);
	u->fd = nt_raw_dgram(k, &u->addr);
	u->t = kct_thread_start(up_main, u);
}

static unsigned
up_nsrc(struct up *u)
{
	unsigned n;

	pthread_mutex_lock(&u->mu);
	n = u->nsrc;
	pthread_mutex_unlock(&u->mu);
	return n;
}

static struct kc_sockaddr
up_src(struct up *u, unsigned i)
{
	struct kc_sockaddr a;

	pthread_mutex_lock(&u->mu);
	KC_CHECK_LT(i, u->nsrc);
	a = u->src[i];
	pthread_mutex_unlock(&u->mu);
	return a;
}

static void
up_stop(struct up *u)
{
	atomic_store(&u->stop, 1);
	kct_thread_join(u->t);
	nt_raw_close(u->fd);
	pthread_mutex_destroy(&u->mu);
}

/* ---- events and admission ---- */

struct rec {
	atomic_int		 n[8];
	atomic_int		 bad;
	pthread_mutex_t		 mu;
	struct kc_sockaddr	 last[8];
	struct kc_sockaddr	 deny;		/* admit: no to it */
	bool			 denying;
	atomic_int		 asked_deny;
	atomic_int		 asked_other;
};

static void
rec_init(struct rec *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->mu, NULL);
}

static void
rec_event(void *arg, int event, const struct kc_sockaddr *client, int err)
{
	struct rec *r = arg;

	if (event < 1 || event > 7 || client == NULL) {
		atomic_store(&r->bad, 1);
		return;
	}
	(void)err;
	pthread_mutex_lock(&r->mu);
	r->last[event] = *client;
	pthread_mutex_unlock(&r->mu);
	atomic_fetch_add(&r->n[event], 1);
}

static int
rec_admit(void *arg, const struct kc_sockaddr *client)
{
	struct rec *r = arg;

	if (r->denying && nt_addr_eq(client, &r->deny)) {
		atomic_fetch_add(&r->asked_deny, 1);
		return -1;
	}
	atomic_fetch_add(&r->asked_other, 1);
	return 0;
}

static bool
rec_last_is(struct rec *r, int event, const struct kc_sockaddr *a)
{
	bool same;

	pthread_mutex_lock(&r->mu);
	same = nt_addr_eq(&r->last[event], a);
	pthread_mutex_unlock(&r->mu);
	return same;
}

/* ---- clients ---- */

static uint8_t rbuf[65536 + 1];

static uint64_t
dg_sid(void)
{
	return kct_rand_below(ST_REF_SIZE - 65536);
}

static void
cl_send(int fd, const struct kc_sockaddr *to, uint64_t sid, size_t len)
{
	size_t n;
	ssize_t r;

	r = sendto(fd, st_bytes(sid, 0, len, &n), len, 0, &to->a.sa, to->len);
	KC_CHECK_EQ(n, len);
	if (r != (ssize_t)len)
		kct_fail(__FILE__, __LINE__, "sendto of %zu bytes: %zd (%s)",
		    len, r, strerror(errno));
}

/* The next datagram on fd: sid's first len bytes (from *from if given). */
static void
dg_expect(int fd, uint64_t sid, size_t len, const struct kc_sockaddr *from,
    const char *what)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct kc_sockaddr got;
	ssize_t r;

	if (poll(&p, 1, NT_WAIT_S * 1000) != 1)
		kct_fail(__FILE__, __LINE__, "%s: no %zu-byte datagram after "
		    "%us", what, len, NT_WAIT_S);
	memset(&got, 0, sizeof(got));
	got.len = sizeof(got.a);
	r = recvfrom(fd, rbuf, sizeof(rbuf), MSG_TRUNC | MSG_DONTWAIT,
	    &got.a.sa, &got.len);
	if (r != (ssize_t)len)
		kct_fail(__FILE__, __LINE__, "%s: a datagram of %zd bytes, "
		    "expected %zu", what, r, len);
	st_check(rbuf, len, sid, 0, what);
	if (from != NULL && !nt_addr_eq(&got, from))
		kct_fail(__FILE__, __LINE__, "%s: from another address than "
		    "the listener's", what);
}

static void
dg_none(int fd, const char *what)
{
	ssize_t r = recv(fd, rbuf, sizeof(rbuf), MSG_TRUNC | MSG_DONTWAIT);

	if (r >= 0 || errno != EAGAIN)
		kct_fail(__FILE__, __LINE__, "%s: an unexpected datagram "
		    "(%zd)", what, r);
}

/* ---- a relay set-up ---- */

struct rl {
	struct kc_executor		*ex;
	enum nt_kind			 k;
	struct kc_socket		*lsn;
	struct kc_sockaddr		 laddr;
	struct up			 up;
	struct kc_dgram_relay		*r;
	struct kc_dgram_relay_attr	 attr;
	struct rec			 rec;
	int				 cl[2];
	struct kc_sockaddr		 caddr[2];
	int				 mfd[2];
	struct kc_sockaddr		 maddr[2];
	unsigned			 nm;
	bool				 deny1;	/* no to client 1 */
};

/* The listener, upstream, clients and mirrors; no relay yet. */
static void
rl_prepare(struct rl *x)
{
	unsigned i;

	x->lsn = nt_listener(x->ex, x->k, NULL, &x->laddr);
	up_start(&x->up, x->k);
	rec_init(&x->rec);
	for (i = 0; i < 2; i++)
		x->cl[i] = nt_raw_dgram(x->k, &x->caddr[i]);
	for (i = 0; i < x->nm; i++)
		x->mfd[i] = nt_raw_dgram(x->k, &x->maddr[i]);
	if (x->deny1) {
		x->rec.deny = x->caddr[1];
		x->rec.denying = true;
	}
}

static void
rl_start(struct rl *x)
{
	x->attr.mirrors = x->nm > 0 ? x->maddr : NULL;
	x->attr.nmirrors = x->nm;
	x->attr.event = rec_event;
	x->attr.admit = rec_admit;
	x->attr.arg = &x->rec;
	x->r = NULL;
	KC_CHECK_OK(kc_dgram_relay_create(&x->r, x->lsn, &x->up.addr,
	    &x->attr));
	KC_CHECK(x->r != NULL);
}

static void
rl_open(struct rl *x)
{
	rl_prepare(x);
	rl_start(x);
}

static void
rl_stats(struct rl *x, struct kc_dgram_relay_stats *st)
{
	memset(st, 0xa5, sizeof(*st));
	KC_CHECK_OK(kc_dgram_relay_stats(x->r, st));
}

/* Client i sends a datagram of len bytes and gets it back (and mirrors). */
static void
rl_exchange(struct rl *x, unsigned i, size_t len)
{
	uint64_t sid = dg_sid();
	unsigned m;

	cl_send(x->cl[i], &x->laddr, sid, len);
	dg_expect(x->cl[i], sid, len, &x->laddr, i == 0 ? "reply to client 0" :
	    "reply to client 1");
	for (m = 0; m < x->nm; m++)
		dg_expect(x->mfd[m], sid, len, NULL, "mirror");
}

/* Close the relay (waiting for its done), stop the upstream, close the
 * raw sockets. */
static void
rl_destroy(struct rl *x)
{
	struct kct_done d;
	unsigned i;

	kct_done_init(&d, NULL);
	KC_CHECK_OK(kc_dgram_relay_close(x->r, &d.d_kc));
	kct_done_wait(&d, x->r);
	/* On the owner, after its sessions' sockets were closed. */
	KC_CHECK_PTR_EQ(d.d_ran_on, x->ex);
	x->r = NULL;
	up_stop(&x->up);
	for (i = 0; i < 2; i++)
		nt_raw_close(x->cl[i]);
	for (i = 0; i < x->nm; i++)
		nt_raw_close(x->mfd[i]);
	KC_CHECK_EQ(atomic_load(&x->rec.bad), 0);
	pthread_mutex_destroy(&x->rec.mu);
}

static void
rl_close(struct rl *x, long base)
{
	rl_destroy(x);
	/* The listener and every session's sockets went with it. */
	nt_wait_count(base);
}

/* ---- the scenarios ---- */

static void
two_clients(struct kc_executor *ex, enum nt_kind k)
{
	struct kc_dgram_relay_stats st;
	struct kc_splice_stats acct;
	struct rl x;
	uint64_t bytes = 0, n = 0;
	long base = kc_socket_count();
	size_t sz;
	unsigned i;

	if (!st_want("%s: two clients, two mirrors", nt_kind_name[k]))
		return;
	memset(&x, 0, sizeof(x));
	memset(&acct, 0, sizeof(acct));
	x.ex = ex;
	x.k = k;
	x.nm = 2;
	x.attr.account = &acct;
	rl_open(&x);
	for (sz = 0; sz <= 65507 + 4093; sz += 4093) {
		size_t len = sz > 65507 ? 65507 : sz;

		for (i = 0; i < 2; i++) {
			rl_exchange(&x, i, len);
			bytes += len;
			n++;
		}
	}
	rl_exchange(&x, 0, 1);
	rl_exchange(&x, 1, 0);
	bytes += 1;
	n += 2;
	/* Two sessions: the upstream saw two addresses, not the listener's. */
	KC_CHECK_EQ(up_nsrc(&x.up), 2);
	for (i = 0; i < 2; i++) {
		struct kc_sockaddr a = up_src(&x.up, i);

		KC_CHECK(!nt_addr_eq(&a, &x.laddr));
	}
	KC_CHECK_EQ(atomic_load(&x.up.count), n);
	/* Counted when delivered: the last reply may still be counted. */
	KCT_WAIT(kc_dgram_relay_stats(x.r, &st) == 0 &&
	    st.bytes.datagrams[KC_SPLICE_REV] == n, NT_WAIT_S);
	rl_stats(&x, &st);
	st_stats_print(nt_kind_name[k], &st.bytes);
	KC_CHECK_EQ(st.sessions, 2);
	KC_CHECK_EQ(st.opened, 2);
	KC_CHECK_EQ(st.expired, 0);
	KC_CHECK_EQ(st.refused, 0);
	KC_CHECK_EQ(st.denied, 0);
	KC_CHECK_EQ(st.bytes.datagrams[KC_SPLICE_FWD], n);
	KC_CHECK_EQ(st.bytes.datagrams[KC_SPLICE_REV], n);
	KC_CHECK_EQ(st.bytes.mirrored, 2 * bytes);
	KC_CHECK_EQ(st.bytes.mirror_dropped, 0);
	KC_CHECK_EQ(st.bytes.dgram_dropped, 0);
	KC_CHECK_EQ(atomic_load(&x.rec.n[KC_DGRAM_EV_OPEN]), 2);
	KC_CHECK_EQ(atomic_load(&x.rec.n[KC_DGRAM_EV_EXPIRED]), 0);
	KC_CHECK_EQ(atomic_load(&x.rec.asked_other), 2);
	/* The account got the same counts. */
	KC_CHECK_EQ(__atomic_load_n(&acct.datagrams[KC_SPLICE_FWD],
	    __ATOMIC_RELAXED), n);
	KC_CHECK_EQ(__atomic_load_n(&acct.datagrams[KC_SPLICE_REV],
	    __ATOMIC_RELAXED), n);
	KC_CHECK_EQ(__atomic_load_n(&acct.mirrored, __ATOMIC_RELAXED),
	    2 * bytes);
	/* Destroyed with both sessions open. */
	rl_close(&x, base);
}

static void
expiry(struct kc_executor *ex, enum nt_kind k)
{
	struct kc_dgram_relay_stats st;
	struct rl x;
	long base = kc_socket_count();

	if (!st_want("%s: session_idle_ns", nt_kind_name[k]))
		return;
	memset(&x, 0, sizeof(x));
	x.ex = ex;
	x.k = k;
	x.attr.session_idle_ns = 200 * KCT_NSEC_PER_MSEC;
	rl_open(&x);
	rl_exchange(&x, 0, 100);
	KC_CHECK_EQ(up_nsrc(&x.up), 1);
	/* No datagram either way: it expires. */
	KCT_WAIT(kc_dgram_relay_stats(x.r, &st) == 0 && st.expired == 1,
	    NT_WAIT_S);
	rl_stats(&x, &st);
	KC_CHECK_EQ(st.sessions, 0);
	KC_CHECK_EQ(st.opened, 1);
	KCT_WAIT(atomic_load(&x.rec.n[KC_DGRAM_EV_EXPIRED]) == 1, NT_WAIT_S);
	KC_CHECK(rec_last_is(&x.rec, KC_DGRAM_EV_EXPIRED, &x.caddr[0]));
	/* A new datagram: a new session, from a new address. */
	rl_exchange(&x, 0, 200);
	KC_CHECK_EQ(up_nsrc(&x.up), 2);
	rl_stats(&x, &st);
	KC_CHECK_EQ(st.opened, 2);
	KC_CHECK_EQ(atomic_load(&x.rec.n[KC_DGRAM_EV_OPEN]), 2);
	rl_close(&x, base);
}

/*
 * As net-splice-reset's idle_on_time: looks every 2 ms; one that finds the
 * session not yet expired at t proves it expired after t, one that finds it
 * expired proves it did before.  The exchange comes 520 ms after the relay
 * started, just after where the old quarter-period sweep looked, so that
 * the old code was late by nearly a whole period (480 ms) every time.
 */
static void
expiry_on_time(struct kc_executor *ex, enum nt_kind k)
{
	const uint64_t idle = 2000 * KCT_NSEC_PER_MSEC;
	const uint64_t slack = idle / 10 > 100 * KCT_NSEC_PER_MSEC ?
	    idle / 10 : 100 * KCT_NSEC_PER_MSEC;
	struct kc_dgram_relay_stats st;
	struct rl x;
	long base = kc_socket_count();
	uint64_t t0, tw, tr, last_not = 0, seen = 0;
	unsigned looks;

	if (!st_want("%s: session_idle_ns, expiry on time", nt_kind_name[k]))
		return;
	memset(&x, 0, sizeof(x));
	x.ex = ex;
	x.k = k;
	x.attr.session_idle_ns = idle;
	rl_open(&x);
	t0 = kct_now_ns();
	kct_sleep_ns(520 * KCT_NSEC_PER_MSEC);
	tw = kct_now_ns();
	rl_exchange(&x, 0, 100);
	tr = kct_now_ns();
	/* Bounded: three limits after the exchange at most. */
	for (looks = 0; looks < 3 * idle / (2 * KCT_NSEC_PER_MSEC); looks++) {
		uint64_t t;

		KC_CHECK_OK(kc_dgram_relay_stats(x.r, &st));
		t = kct_now_ns();
		if (st.expired != 0) {
			seen = t;
			break;
		}
		last_not = t;
		kct_sleep_ns(2 * KCT_NSEC_PER_MSEC);
	}
	KC_CHECK(seen != 0);
	printf("    exchange at %.3f s, expired between %.3f s and %.3f s\n",
	    (double)(tw - t0) / 1e9, (double)(last_not - t0) / 1e9,
	    (double)(seen - t0) / 1e9);
	KC_CHECK_EQ(st.expired, 1);
	KC_CHECK_GE(seen, tw + idle);
	KC_CHECK_LE(last_not, tr + idle + slack);
	rl_close(&x, base);
}

static void
full(struct kc_executor *ex, enum nt_kind k)
{
	struct kc_dgram_relay_stats st;
	struct rl x;
	long base = kc_socket_count();
	unsigned i;

	if (!st_want("%s: max_sessions 1", nt_kind_name[k]))
		return;
	memset(&x, 0, sizeof(x));
	x.ex = ex;
	x.k = k;
	x.attr.max_sessions = 1;
	rl_open(&x);
	rl_exchange(&x, 0, 100);
	for (i = 0; i < 3; i++)
		cl_send(x.cl[1], &x.laddr, dg_sid(), 300);
	/* Client 0's next exchange comes after client 1's datagrams. */
	rl_exchange(&x, 0, 100);
	rl_stats(&x, &st);
	KC_CHECK_EQ(st.refused, 3);
	KC_CHECK_EQ(st.sessions, 1);
	KC_CHECK_EQ(st.opened, 1);
	KC_CHECK_GE(atomic_load(&x.rec.n[KC_DGRAM_EV_FULL]), 1);
	KC_CHECK(rec_last_is(&x.rec, KC_DGRAM_EV_FULL, &x.caddr[1]));
	KC_CHECK_EQ(up_nsrc(&x.up), 1);
	KC_CHECK_EQ(atomic_load(&x.up.count), 2);
	dg_none(x.cl[1], "client 1, refused");
	rl_close(&x, base);
}

static void
denied(struct kc_executor *ex, enum nt_kind k)
{
	struct kc_dgram_relay_stats st;
	struct rl x;
	long base = kc_socket_count();
	unsigned i;

	if (!st_want("%s: admit says no to one client", nt_kind_name[k]))
		return;
	memset(&x, 0, sizeof(x));
	x.ex = ex;
	x.k = k;
	x.deny1 = true;
	rl_open(&x);
	rl_exchange(&x, 0, 100);
	for (i = 0; i < 2; i++)
		cl_send(x.cl[1], &x.laddr, dg_sid(), 300);
	rl_exchange(&x, 0, 100);
	rl_exchange(&x, 0, 0);
	rl_stats(&x, &st);
	KC_CHECK_EQ(st.denied, 2);
	KC_CHECK_EQ(st.sessions, 1);
	KC_CHECK_EQ(st.opened, 1);
	KC_CHECK_GE(atomic_load(&x.rec.n[KC_DGRAM_EV_DENIED]), 1);
	KC_CHECK(rec_last_is(&x.rec, KC_DGRAM_EV_DENIED, &x.caddr[1]));
	KC_CHECK_GE(atomic_load(&x.rec.asked_deny), 1);
	/* Asked once about the client it let in. */
	KC_CHECK_EQ(atomic_load(&x.rec.asked_other), 1);
	KC_CHECK_EQ(up_nsrc(&x.up), 1);
	KC_CHECK_EQ(atomic_load(&x.up.count), 3);
	dg_none(x.cl[1], "client 1, denied");
	rl_close(&x, base);
}

/* A datagram the listener had received before the relay was made. */
static void
early(struct kc_executor *ex, enum nt_kind k)
{
	struct rl x;
	uint64_t sid = dg_sid();
	long base = kc_socket_count();

	if (!st_want("%s: a datagram there before kc_dgram_relay_create()",
	    nt_kind_name[k]))
		return;
	memset(&x, 0, sizeof(x));
	x.ex = ex;
	x.k = k;
	rl_prepare(&x);
	cl_send(x.cl[0], &x.laddr, sid, 500);
	KCT_WAIT(kc_socket_rcvbytes(x.lsn) > 0, NT_WAIT_S);
	rl_start(&x);
	dg_expect(x.cl[0], sid, 500, &x.laddr, "reply to the early datagram");
	rl_exchange(&x, 0, 600);
	rl_close(&x, base);
}

/* Two relays, on two executors, share one cap of 2 sessions. */
static void
shared_cap(struct kc_executor *ex, struct kc_executor *ex2)
{
	struct kc_dgram_relay_stats st;
	struct rl x, y;
	unsigned shared = 0;
	long base = kc_socket_count();

	if (!st_want("two relays share max_sessions 2 (shared_sessions)"))
		return;
	memset(&x, 0, sizeof(x));
	x.ex = ex;
	x.k = NT_UDP4;
	x.attr.max_sessions = 2;
	x.attr.shared_sessions = &shared;
	y = x;
	y.ex = ex2;
	rl_open(&x);
	rl_open(&y);
	rl_exchange(&x, 0, 10);
	rl_exchange(&y, 0, 20);
	KC_CHECK_EQ(__atomic_load_n(&shared, __ATOMIC_RELAXED), 2);
	/* Each has one session, and neither may open another. */
	cl_send(x.cl[1], &x.laddr, dg_sid(), 30);
	cl_send(y.cl[1], &y.laddr, dg_sid(), 40);
	rl_exchange(&x, 0, 50);
	rl_exchange(&y, 0, 60);
	rl_stats(&x, &st);
	KC_CHECK_EQ(st.sessions, 1);
	KC_CHECK_EQ(st.refused, 1);
	rl_stats(&y, &st);
	KC_CHECK_EQ(st.sessions, 1);
	KC_CHECK_EQ(st.refused, 1);
	KC_CHECK_GE(atomic_load(&x.rec.n[KC_DGRAM_EV_FULL]), 1);
	KC_CHECK_GE(atomic_load(&y.rec.n[KC_DGRAM_EV_FULL]), 1);
	dg_none(x.cl[1], "relay 1, client 1, refused");
	dg_none(y.cl[1], "relay 2, client 1, refused");
	KC_CHECK_EQ(__atomic_load_n(&shared, __ATOMIC_RELAXED), 2);
	/* The first relay goes: its place is the second's. */
	rl_destroy(&x);
	KC_CHECK_EQ(__atomic_load_n(&shared, __ATOMIC_RELAXED), 1);
	rl_exchange(&y, 1, 70);
	rl_stats(&y, &st);
	KC_CHECK_EQ(st.sessions, 2);
	KC_CHECK_EQ(__atomic_load_n(&shared, __ATOMIC_RELAXED), 2);
	rl_close(&y, base);
	KC_CHECK_EQ(__atomic_load_n(&shared, __ATOMIC_RELAXED), 0);
}

struct close_on_owner {
	struct kc_dgram_relay	*r;
	struct kct_done		 d;
	int			 rc1, rc2;
};

static void
destroy_fn(void *arg)
{
	struct close_on_owner *c = arg;

	c->rc1 = kc_dgram_relay_close(c->r, &c->d.d_kc);
	/* The close is queued behind this: the pointer is still good. */
	c->rc2 = kc_dgram_relay_close(c->r, NULL);
	KC_CHECK_EQ(atomic_load(&c->d.d_runs), 0);
}

static void
destroy_on_owner(struct kc_executor *ex, enum nt_kind k)
{
	struct close_on_owner c;
	struct rl x;
	long base = kc_socket_count();
	unsigned i;

	if (!st_want("%s: destroyed on the owner", nt_kind_name[k]))
		return;
	memset(&x, 0, sizeof(x));
	x.ex = ex;
	x.k = k;
	x.nm = 1;
	rl_open(&x);
	rl_exchange(&x, 0, 1000);
	rl_exchange(&x, 1, 1000);
	c.r = x.r;
	kct_done_init(&c.d, NULL);
	nt_on(ex, destroy_fn, &c);
	KC_CHECK_OK(c.rc1);
	KC_CHECK_EQ(c.rc2, -EBADF);
	kct_done_wait(&c.d, x.r);
	KC_CHECK_PTR_EQ(c.d.d_ran_on, ex);
	nt_wait_count(base);
	up_stop(&x.up);
	for (i = 0; i < 2; i++)
		nt_raw_close(x.cl[i]);
	nt_raw_close(x.mfd[0]);
	pthread_mutex_destroy(&x.rec.mu);
}

/* ---- session hooks ---- */

struct hsess {
	unsigned		 idx;		/* which client */
	unsigned		 n[2];		/* datagrams, by direction */
	size_t			 bytes[2];
};

struct hooks {
	struct kc_executor	*ex;
	const struct kc_sockaddr *caddr;	/* the two clients' */
	atomic_int		 begun, ended, ended_idle, ended_cancel;
	atomic_int		 bad;
	_Atomic uint64_t	 sid;		/* what the clients send now */
	atomic_uint		 n[2];		/* datagrams tapped */
};

static void *
h_begin(void *arg, const struct kc_sockaddr *client)
{
	struct hooks *h = arg;
	struct hsess *hs = calloc(1, sizeof(*hs));

	if (hs == NULL || kc_executor_current() != h->ex)
		atomic_store(&h->bad, 1);
	if (hs != NULL)
		hs->idx = nt_addr_eq(client, &h->caddr[0]) ? 0 : 1;
	atomic_fetch_add(&h->begun, 1);
	return hs;
}

static void
h_tap(void *arg, void *session, int dir, const void *data, size_t len)
{
	struct hooks *h = arg;
	struct hsess *hs = session;

	if (hs == NULL || (dir != KC_SPLICE_FWD && dir != KC_SPLICE_REV) ||
	    kc_executor_current() != h->ex) {
		atomic_store(&h->bad, 1);
		return;
	}
	/* Both ways the same bytes: the upstream echoes. */
	st_check(data, len, atomic_load(&h->sid), 0, "tapped datagram");
	hs->n[dir]++;
	hs->bytes[dir] += len;
	atomic_fetch_add(&h->n[dir], 1);
}

static void
h_end(void *arg, void *session, int err)
{
	struct hooks *h = arg;
	struct hsess *hs = session;

	if (hs == NULL || kc_executor_current() != h->ex ||
	    hs->n[0] != hs->n[1] || hs->bytes[0] != hs->bytes[1])
		atomic_store(&h->bad, 1);
	if (err == 0)
		atomic_fetch_add(&h->ended_idle, 1);
	else if (err == -ECANCELED)
		atomic_fetch_add(&h->ended_cancel, 1);
	else
		atomic_store(&h->bad, 1);
	atomic_fetch_add(&h->ended, 1);
	free(hs);
}

static void
hooks_exchange(struct rl *x, struct hooks *h, unsigned i, size_t len)
{
	uint64_t sid = dg_sid();

	atomic_store(&h->sid, sid);
	cl_send(x->cl[i], &x->laddr, sid, len);
	dg_expect(x->cl[i], sid, len, &x->laddr, "reply (hooks)");
}

static void
session_hooks(struct kc_executor *ex, enum nt_kind k)
{
	static const size_t sizes[] = { 0, 1, 1400, 65507 };
	struct hooks h;
	struct rl x;
	long base = kc_socket_count();
	size_t i;

	if (!st_want("%s: session hooks", nt_kind_name[k]))
		return;
	memset(&x, 0, sizeof(x));
	memset(&h, 0, sizeof(h));
	x.ex = ex;
	x.k = k;
	x.attr.session_idle_ns = 200 * KCT_NSEC_PER_MSEC;
	rl_prepare(&x);
	h.ex = ex;
	h.caddr = x.caddr;
	x.attr.session_begin = h_begin;
	x.attr.tap = h_tap;
	x.attr.session_end = h_end;
	x.attr.arg = &h;	/* no event recorder: rl_start() is not used */
	KC_CHECK_OK(kc_dgram_relay_create(&x.r, x.lsn, &x.up.addr, &x.attr));
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		hooks_exchange(&x, &h, i % 2, sizes[i]);
	KC_CHECK_EQ(atomic_load(&h.begun), 2);
	KC_CHECK_EQ(atomic_load(&h.n[KC_SPLICE_FWD]), 4);
	/* The last reply may be read before its tap returns: wait. */
	KCT_WAIT(atomic_load(&h.n[KC_SPLICE_REV]) == 4, NT_WAIT_S);
	/* Both expire: session_end with 0, once each. */
	KCT_WAIT(atomic_load(&h.ended_idle) == 2, NT_WAIT_S);
	/* One more session, open at the close. */
	hooks_exchange(&x, &h, 0, 10);
	KC_CHECK_EQ(atomic_load(&h.begun), 3);
	rl_destroy(&x);
	nt_wait_count(base);
	KC_CHECK_EQ(atomic_load(&h.ended_cancel), 1);
	KC_CHECK_EQ(atomic_load(&h.ended), 3);
	KC_CHECK_EQ(atomic_load(&h.bad), 0);
}

static void
bad_args(struct kc_executor *ex)
{
	struct kc_dgram_relay_attr attr;
	struct kc_sockaddr m[17], laddr, up;
	struct kc_dgram_relay *r = NULL;
	struct kc_socket *lsn, *stream;
	unsigned i;

	if (!st_want("bad arguments"))
		return;
	lsn = nt_listener(ex, NT_UDP4, NULL, &laddr);
	nt_addr(&up, "127.0.0.1:9");
	memset(&attr, 0, sizeof(attr));
	for (i = 0; i < 17; i++)
		nt_addr(&m[i], "127.0.0.1:9");
	attr.mirrors = m;
	attr.nmirrors = 17;
	KC_CHECK_EQ(kc_dgram_relay_create(&r, lsn, &up, &attr), -EINVAL);
	attr.nmirrors = 1;
	attr.mirrors = NULL;
	KC_CHECK_EQ(kc_dgram_relay_create(&r, lsn, &up, &attr), -EINVAL);
	KC_CHECK_EQ(kc_dgram_relay_create(&r, lsn, NULL, NULL), -EINVAL);
	KC_CHECK_EQ(kc_dgram_relay_create(NULL, lsn, &up, NULL), -EINVAL);
	KC_CHECK_EQ(kc_dgram_relay_create(&r, NULL, &up, NULL), -EINVAL);
	stream = nt_listener(ex, NT_TCP4, NULL, &laddr);
	KC_CHECK_EQ(kc_dgram_relay_create(&r, stream, &up, NULL), -EINVAL);
	KC_CHECK(r == NULL);
	/* Still the caller's. */
	nt_close(stream);
	nt_close(lsn);
}

int
main(void)
{
	struct kc_executor *ex, *ex2;
	long base;

	kct_begin("net-splice-dgramrelay", 600);
	st_init();
	base = kc_socket_count();
	ex = kct_exec_soft("splice-relay");
	ex2 = kct_exec_soft("splice-relay-2");
	two_clients(ex, NT_UDP4);
	two_clients(ex, NT_UDP6);
	expiry(ex, NT_UDP4);
	expiry_on_time(ex, NT_UDP4);
	full(ex, NT_UDP4);
	denied(ex, NT_UDP6);
	destroy_on_owner(ex, NT_UDP4);
	early(ex, NT_UDP4);
	shared_cap(ex, ex2);
	session_hooks(ex, NT_UDP4);
	bad_args(ex);
	nt_wait_count(base);
	kct_exec_finish(ex);
	kct_exec_finish(ex2);
	return kct_done();
}
