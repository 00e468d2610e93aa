/*
 * dgramrelay.c: a datagram relay with a session per client
 * (kcont/splice.h).
 *
 * The listener's endpoint is lent to the relay (net/socklend.h); each
 * session's descriptors are bare endpoints (net/endpoint.h) of its own, no
 * kc_socket, all on the listener's owner.  Datagrams come in by recvmmsg(2)
 * batches with their senders' addresses; each finds its session in a hash
 * table (or opens one: a descriptor connected to the upstream, and one per
 * mirror) and leaves by sendmmsg(2), runs of the same session together.  Replies come
 * back on the session's socket and go out of the listener to the client.
 * A sweep ends the idle sessions; it runs again when the first of the
 * others would expire (but never sooner than r_period after itself).
 *
 * Datagrams are never queued: a socket that cannot take one at once drops
 * it, as the network would, and the drop is counted.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/internal.h"
#include "core/list.h"
#include "core/lockdebug.h"
#include "kqueue/kqapi.h"
#include "core/siphash.h"
#include "net/endpoint.h"
#include "net/socklend.h"
#include "net/dgram.h"
#include "net/splice_int.h"
#include <kcont/dgramrelay.h>

#define RELAY_MAGIC	((uintptr_t)0x6b6364677272656cull)
#define DEF_IDLE	(60ull * 1000000000ull)
#define DEF_MAX		4096u
#define SWEEP_MIN	(50ull * 1000000ull)	/* the least between sweeps */
#define READ_ROUNDS	16

/* One of a session's descriptors: the upstream's (0) or a mirror's. */
struct sess_ep {
	struct kc__ep		 se_ep;
	struct session		*se_s;
	bool			 se_open;	/* its descriptor is open */
};

/*
 * A session lives while it is in the table or one of its endpoints still
 * holds it (s_refs, the owner's alone); the relay may be gone by then.
 */
struct session {
	struct session		*s_hnext;
	struct kc__link		 s_link;	/* on r_all */
	struct kc_dgram_relay	*s_r;		/* NULL once out of the table */
	struct kc_sockaddr	 s_client;
	uint32_t		 s_hash;
	uint32_t		 s_refs;
	uint64_t		 s_last;	/* ns of the last datagram */
	void			*s_user;	/* session_begin's */
	unsigned		 s_nep;		/* 1 + the mirrors */
	struct sess_ep		 s_ep[];
};

#define S_UP(s)		(&(s)->s_ep[0])
#define S_MIR(s, i)	(&(s)->s_ep[1 + (i)])

struct kc_dgram_relay {
	uintptr_t		 r_magic;
	struct kc_executor	*r_owner;
	struct kc_socket	*r_lis;
	struct kc__ep		*r_lep;		/* the listener's, lent to us */
	int			 r_lfd;
	struct kc_sockaddr	 r_up;
	struct kc_sockaddr	 r_mir[KC_SPLICE_MIRRORS_MAX];
	struct kc_dgram_relay_attr r_attr;
	struct session		**r_tab;
	unsigned		 r_tabsz;	/* a power of two */
	struct kc__list		 r_all;
	struct kc_dgram_relay_stats r_st;	/* relaxed atomics */
	struct kc		 r_startkc;
	struct kc		 r_sweepkc;
	struct kc		 r_stopkc;
	uint64_t		 r_period;
	uint32_t		 r_closed;	/* atomic: kc_dgram_relay_close() */
	bool			 r_orphan;	/* closed after the owner stopped */
	struct kc		*r_cdone;	/* ... its done */
	unsigned		 r_count;	/* sessions, for the cap */
	bool			 r_stopping;
};

static kc_fn start_fn, sweep_fn, stop_fn;

/* The caller's tap, with a datagram of session s. */
#define TAP(r, s, dir, p, n) do {					\
	if ((r)->r_attr.tap != NULL)					\
		(r)->r_attr.tap((r)->r_attr.arg, (s)->s_user, (dir),	\
		    (p), (n));						\
} while (0)
static const struct kc__ep_ops lis_ops, sess_ops;

#define RCOUNT(r, field, n) \
	kc__stats_add(&(r)->r_st.bytes, (r)->r_attr.account, \
	    offsetof(struct kc_splice_stats, field), (n))
#define RCOUNT_DIR(r, field, d, n) \
	kc__stats_add(&(r)->r_st.bytes, (r)->r_attr.account, \
	    offsetof(struct kc_splice_stats, field) + (d) * sizeof(uint64_t), \
	    (n))

static void
stat_add(uint64_t *p, int64_t n)
{
	__atomic_add_fetch(p, (uint64_t)n, __ATOMIC_RELAXED);
}

static void
event(struct kc_dgram_relay *r, int ev, const struct kc_sockaddr *client,
    int err)
{
	if (r->r_attr.event != NULL)
		r->r_attr.event(r->r_attr.arg, ev, client, err);
}

/* ------------------------------------------------------------------ */
/* Sessions. */

/* A place under the cap: this relay's, or the one several relays share. */
static bool
cap_take(struct kc_dgram_relay *r)
{
	unsigned *c = r->r_attr.shared_sessions != NULL ?
	    r->r_attr.shared_sessions : &r->r_count;
	unsigned old = __atomic_load_n(c, __ATOMIC_RELAXED);

	do {
		if (old >= r->r_attr.max_sessions)
			return false;
	} while (!__atomic_compare_exchange_n(c, &old, old + 1, true,
	    __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	return true;
}

static void
cap_give(struct kc_dgram_relay *r)
{
	__atomic_sub_fetch(r->r_attr.shared_sessions != NULL ?
	    r->r_attr.shared_sessions : &r->r_count, 1, __ATOMIC_RELAXED);
}

/* The parts of an address that name a client: family, port, host. */
static size_t
addr_key(const struct kc_sockaddr *a, const void **p)
{
	switch (a->a.sa.sa_family) {
	case AF_INET:
		*p = &a->a.in.sin_port;
		return sizeof(a->a.in.sin_port) + sizeof(a->a.in.sin_addr);
	case AF_INET6:
		/* port, flowinfo, address: the flow label may differ */
		*p = &a->a.in6.sin6_addr;
		return sizeof(a->a.in6.sin6_addr);
	default:
		*p = &a->a;
		return a->len;
	}
}

/*
 * Keyed (src/core/siphash.h) with this process's key: with an unkeyed
 * hash, whoever picks the source addresses and ports of the datagrams can
 * pick their buckets, and make every datagram walk one long chain.
 */
uint32_t
kc__dgram_addr_hash(const struct kc_sockaddr *a)
{
	unsigned char b[sizeof(a->a) + sizeof(a->a.in6.sin6_port)];
	const void *v;
	size_t n = addr_key(a, &v);

	/* A length past the address's union reads no further than it. */
	if (n > sizeof(a->a))
		n = sizeof(a->a);
	memcpy(b, v, n);
	if (a->a.sa.sa_family == AF_INET6) {
		memcpy(b + n, &a->a.in6.sin6_port, sizeof(a->a.in6.sin6_port));
		n += sizeof(a->a.in6.sin6_port);
	}
	return (uint32_t)kc__siphash(kc__hash_key(), b, n);
}

static bool
addr_same(const struct kc_sockaddr *a, const struct kc_sockaddr *b)
{
	const void *pa, *pb;
	size_t na, nb;

	if (a->a.sa.sa_family != b->a.sa.sa_family)
		return false;
	na = addr_key(a, &pa);
	nb = addr_key(b, &pb);
	if (na != nb || memcmp(pa, pb, na) != 0)
		return false;
	return a->a.sa.sa_family != AF_INET6 ||
	    a->a.in6.sin6_port == b->a.in6.sin6_port;
}

static struct session *
sess_find(struct kc_dgram_relay *r, const struct kc_sockaddr *a, uint32_t h)
{
	struct session *s;

	for (s = r->r_tab[h & (r->r_tabsz - 1)]; s != NULL; s = s->s_hnext)
		if (s->s_hash == h && addr_same(&s->s_client, a))
			return s;
	return NULL;
}

static void
sess_rele(struct session *s)
{
	unsigned i;

	if (--s->s_refs > 0)
		return;
	for (i = 0; i < s->s_nep; i++)
		if (s->s_ep[i].se_s != NULL)
			kc__ep_fini(&s->s_ep[i].se_ep);
	free(s);
}
/*
 * Out of the table (err: why, for session_end); the memory goes once its
 * endpoints let go.
 */
static void
sess_free(struct kc_dgram_relay *r, struct session *s, int err)
{
	struct session **pp = &r->r_tab[s->s_hash & (r->r_tabsz - 1)];
	unsigned i;

	if (r->r_attr.session_end != NULL)
		r->r_attr.session_end(r->r_attr.arg, s->s_user, err);

	while (*pp != s)
		pp = &(*pp)->s_hnext;
	*pp = s->s_hnext;
	kc__list_remove(&r->r_all, &s->s_link);
	s->s_r = NULL;
	stat_add(&r->r_st.sessions, -1);
	cap_give(r);
	/* The table's reference keeps s while its descriptors close. */
	for (i = 0; i < s->s_nep; i++) {
		if (!s->s_ep[i].se_open)
			continue;
		if (r->r_orphan)
			kc__ep_orphan(&s->s_ep[i].se_ep);
		kc__ep_close(&s->s_ep[i].se_ep);
	}
	sess_rele(s);
}
/* The session's endpoint se, its descriptor connected to a. */
static int
sess_ep(struct kc_dgram_relay *r, struct session *s, struct sess_ep *se,
    const struct kc_sockaddr *a)
{
	int fd, e;

	/* Connected before anything is sent: a datagram socket does it now. */
	fd = socket(a->a.sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, &a->a.sa, a->len) != 0) {
		e = -errno;
		kc__close(fd);
		return e;
	}
	se->se_s = s;
	if ((e = kc__ep_init(&se->se_ep, r->r_owner, fd, a->a.sa.sa_family,
	    SOCK_DGRAM, KC_SS_CONNECTED, 0, &sess_ops, se)) != 0) {
		se->se_s = NULL;	/* nothing to finish */
		kc__close(fd);
		return e;
	}
	se->se_open = true;
	s->s_refs++;		/* the descriptor's */
	return 0;
}
static struct session *
sess_open(struct kc_dgram_relay *r, const struct kc_sockaddr *a, uint32_t h)
{
	struct session *s;
	uint32_t pick;
	unsigned i;
	int e;

	if (r->r_attr.admit != NULL && r->r_attr.admit(r->r_attr.arg, a) != 0) {
		stat_add(&r->r_st.denied, 1);
		event(r, KC_DGRAM_EV_DENIED, a, 0);
		return NULL;
	}
	if (!cap_take(r)) {
		stat_add(&r->r_st.refused, 1);
		event(r, KC_DGRAM_EV_FULL, a, 0);
		return NULL;
	}
	s = calloc(1, sizeof(*s) + (1 + r->r_attr.nmirrors) *
	    sizeof(s->s_ep[0]));
	if (s == NULL) {
		cap_give(r);
		event(r, KC_DGRAM_EV_ERROR, a, -ENOMEM);
		return NULL;
	}
	s->s_r = r;
	s->s_client = *a;
	s->s_hash = h;
	s->s_last = kc__now();
	s->s_refs = 1;		/* the table's */
	s->s_nep = 1 + r->r_attr.nmirrors;
	if ((e = sess_ep(r, s, S_UP(s), &r->r_up)) != 0) {
		cap_give(r);
		free(s);
		event(r, KC_DGRAM_EV_ERROR, a, e);
		return NULL;
	}
	/* A mirror that cannot be had is left out, not the session. */
	pick = r->r_attr.mirror_pick != NULL ?
	    r->r_attr.mirror_pick(r->r_attr.arg, a) : UINT32_MAX;
	for (i = 0; i < r->r_attr.nmirrors; i++)
		if (pick & (1u << i))
			(void)sess_ep(r, s, S_MIR(s, i), &r->r_mir[i]);
	s->s_hnext = r->r_tab[h & (r->r_tabsz - 1)];
	r->r_tab[h & (r->r_tabsz - 1)] = s;
	kc__list_push_head(&r->r_all, &s->s_link);
	stat_add(&r->r_st.sessions, 1);
	stat_add(&r->r_st.opened, 1);
	event(r, KC_DGRAM_EV_OPEN, a, 0);
	if (r->r_attr.session_begin != NULL)
		s->s_user = r->r_attr.session_begin(r->r_attr.arg, a);
	return s;
}

/* ------------------------------------------------------------------ */
/* Moving datagrams. */

/* sendmmsg(2) all of out[0..n-1] to fd; what it will not take is dropped. */
static void
send_all(struct kc_dgram_relay *r, int fd, struct mmsghdr *out, unsigned n,
    int dir, bool mirror)
{
	struct kc__dgsent ds = { 0, 0, 0, 0 };

	kc__dg_send_all(fd, out, n, &ds);
	if (mirror) {
		RCOUNT(r, mirrored, ds.ds_bytes);
		RCOUNT(r, mirror_dropped, ds.ds_lostbytes);
		return;
	}
	RCOUNT_DIR(r, copied, dir, ds.ds_bytes);
	RCOUNT_DIR(r, datagrams, dir, ds.ds_sent);
	RCOUNT(r, dgram_dropped, ds.ds_lost);
}
/* Client datagrams from the listener to their sessions. */
static void
lis_input(struct kc_dgram_relay *r)
{
	struct kc__dgbatch *b = kc__dgbatch();
	int round;

	if (b == NULL) {
		kc__ep_read_later(r->r_lep);
		return;
	}
	for (round = 0; round < READ_ROUNDS; round++) {
		struct session *ss[KC__DG_BATCH];
		uint64_t now;
		unsigned n = 0, j, i, k;
		int got;

		kc__dgbatch_arm(b, true);
		got = recvmmsg(r->r_lfd, b->mh, KC__DG_BATCH, MSG_DONTWAIT,
		    NULL);
		if (got <= 0) {
			if (got < 0 && errno == EINTR)
				continue;
			return;
		}
		now = kc__now();
		for (j = 0; j < (unsigned)got; j++) {
			struct kc_sockaddr *from = &b->from[j];
			struct session *s;
			uint32_t h;

			if (b->mh[j].msg_hdr.msg_flags & MSG_TRUNC) {
				RCOUNT(r, dgram_dropped, 1);
				continue;
			}
			from->len = b->mh[j].msg_hdr.msg_namelen;
			h = kc__dgram_addr_hash(from);
			if ((s = sess_find(r, from, h)) == NULL &&
			    (s = sess_open(r, from, h)) == NULL) {
				RCOUNT(r, dgram_dropped, 1);
				continue;
			}
			s->s_last = now;
			kc__dgbatch_out(b, n, b->iov[j].iov_base,
			    b->mh[j].msg_len);
			TAP(r, s, KC_SPLICE_FWD, b->iov[j].iov_base,
			    b->mh[j].msg_len);
			ss[n++] = s;
		}
		/* Runs of one session's datagrams go out together. */
		for (i = 0; i < n; i = k) {
			struct session *s = ss[i];
			unsigned mi;

			for (k = i + 1; k < n && ss[k] == s; k++)
				;
			for (mi = 0; mi < r->r_attr.nmirrors; mi++)
				if (S_MIR(s, mi)->se_open)
					send_all(r,
					    S_MIR(s, mi)->se_ep.ep_fd,
					    b->out + i, k - i, 0, true);
			send_all(r, S_UP(s)->se_ep.ep_fd, b->out + i,
			    k - i,
			    KC_SPLICE_FWD, false);
		}
		if ((unsigned)got < KC__DG_BATCH)
			return;
	}
	kc__ep_read_later(r->r_lep);
}

/* Replies from the upstream to the session's client. */
static void
up_input(struct kc_dgram_relay *r, struct session *s)
{
	struct kc__dgbatch *b = kc__dgbatch();
	int round;

	if (b == NULL) {
		kc__ep_read_later(&S_UP(s)->se_ep);
		return;
	}
	for (round = 0; round < READ_ROUNDS; round++) {
		unsigned n = 0, j;
		int got;

		kc__dgbatch_arm(b, false);
		got = recvmmsg(S_UP(s)->se_ep.ep_fd, b->mh, KC__DG_BATCH, MSG_DONTWAIT,
		    NULL);
		if (got <= 0) {
			if (got < 0 && errno == EINTR)
				continue;
			/* ECONNREFUSED: the upstream is not there (yet). */
			return;
		}
		s->s_last = kc__now();
		for (j = 0; j < (unsigned)got; j++) {
			if (b->mh[j].msg_hdr.msg_flags & MSG_TRUNC) {
				RCOUNT(r, dgram_dropped, 1);
				continue;
			}
			kc__dgbatch_out(b, n, b->iov[j].iov_base,
			    b->mh[j].msg_len);
			TAP(r, s, KC_SPLICE_REV, b->iov[j].iov_base,
			    b->mh[j].msg_len);
			b->out[n].msg_hdr.msg_name = &s->s_client.a;
			b->out[n].msg_hdr.msg_namelen = s->s_client.len;
			n++;
		}
		send_all(r, r->r_lfd, b->out, n, KC_SPLICE_REV, false);
		if ((unsigned)got < KC__DG_BATCH)
			return;
	}
	kc__ep_read_later(&S_UP(s)->se_ep);
}

/* What a mirror sends back is read and thrown away. */
static void
mirror_input(struct sess_ep *se)
{
	static __thread char sink[512];
	int i;

	for (i = 0; i < READ_ROUNDS * KC__DG_BATCH; i++) {
		ssize_t n = recv(se->se_ep.ep_fd, sink, sizeof(sink),
		    MSG_DONTWAIT | MSG_TRUNC);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != ECONNREFUSED)
			return;
	}
	kc__ep_read_later(&se->se_ep);
}
static void
sess_read(struct kc__ep *ep, void *arg, const struct kevent *kev)
{
	struct sess_ep *se = arg;
	struct session *s = se->se_s;
	struct kc_dgram_relay *r = s->s_r;

	(void)ep;
	(void)kev;
	/* Out of the table: closing, nothing more is read. */
	if (r == NULL || r->r_stopping)
		return;
	KC__ON_EXEC(r->r_owner);
	if (se == S_UP(s))
		up_input(r, s);
	else
		mirror_input(se);
}

/* Datagrams are never queued: no write waits, no connect is pending. */
static void
no_write(struct kc__ep *ep, void *arg, const struct kevent *kev)
{
	(void)ep;
	(void)arg;
	(void)kev;
}

static void
no_connect(struct kc__ep *ep, void *arg, int err)
{
	(void)ep;
	(void)arg;
	(void)err;
}

static void
sess_hold(void *arg)
{
	struct sess_ep *se = arg;

	se->se_s->s_refs++;
}

static void
sess_unhold(void *arg)
{
	struct sess_ep *se = arg;

	sess_rele(se->se_s);
}

static void
sess_closed(struct kc__ep *ep, void *arg)
{
	struct sess_ep *se = arg;

	(void)ep;
	se->se_open = false;
	sess_rele(se->se_s);
}

static const struct kc__ep_ops sess_ops = {
	.eo_read = sess_read,
	.eo_write = no_write,
	.eo_connected = no_connect,
	.eo_hold = sess_hold,
	.eo_rele = sess_unhold,
	.eo_closed = sess_closed,
};
static void
lis_read(struct kc__ep *ep, void *arg, const struct kevent *kev)
{
	struct kc_dgram_relay *r = arg;

	KC__ON_EXEC(r->r_owner);
	(void)ep;
	(void)kev;
	if (!r->r_stopping)
		lis_input(r);
}

static const struct kc__ep_ops lis_ops = {
	.eo_read = lis_read,
	.eo_write = no_write,
	.eo_connected = no_connect,
};
/* ------------------------------------------------------------------ */
/* Time and the end. */

static void
sweep_fn(void *obj, void *env, int status)
{
	struct kc_dgram_relay *r = env;
	struct session *s;
	struct kc__link *lk;
	uint64_t now = kc__now(), idle = r->r_attr.session_idle_ns;
	uint64_t wait = idle;	/* a session opened from now on */

	KC__ON_EXEC(r->r_owner);
	(void)obj;
	(void)status;
	if (r->r_stopping)
		return;
	KC__LIST_FOREACH(s, lk, &r->r_all, struct session, s_link) {
		uint64_t quiet = now > s->s_last ? now - s->s_last : 0;

		if (quiet >= idle) {
			struct kc_sockaddr client = s->s_client;

			sess_free(r, s, 0);
			stat_add(&r->r_st.expired, 1);
			event(r, KC_DGRAM_EV_EXPIRED, &client, 0);
		} else if (idle - quiet < wait) {
			wait = idle - quiet;
		}
	}
	/*
	 * A sweep once a fixed period let a session live up to a period too
	 * long; this one comes when the first session is due, at most
	 * r_period late, but not so often that walking the sessions costs.
	 */
	if (wait < r->r_period)
		wait = r->r_period;
	(void)kc_defer_after(&r->r_sweepkc, wait, NULL, 0);
}

/* Datagrams the listener read itself before the relay had it. */
static void
lis_early(struct kc_dgram_relay *r)
{
	struct kc_chain c = KC_CHAIN_INITIALIZER;
	struct kc_sockaddr from;
	ssize_t n;

	while ((n = kc__socket_take(r->r_lis, &c, KC__DG_SLOT, &from)) >= 0) {
		struct kc__dgbatch *b = kc__dgbatch();
		struct session *s;
		uint32_t h = kc__dgram_addr_hash(&from);
		unsigned mi;

		if (b == NULL || (size_t)n > KC__DG_SLOT ||
		    ((s = sess_find(r, &from, h)) == NULL &&
		    (s = sess_open(r, &from, h)) == NULL)) {
			RCOUNT(r, dgram_dropped, 1);
			kc_chain_free(&c);
			continue;
		}
		s->s_last = kc__now();
		(void)kc_chain_copyout(&c, 0, b->data[0], (size_t)n);
		kc_chain_free(&c);
		kc__dgbatch_out(b, 0, b->data[0], (size_t)n);
		TAP(r, s, KC_SPLICE_FWD, b->data[0], (size_t)n);
		for (mi = 0; mi < r->r_attr.nmirrors; mi++)
			if (S_MIR(s, mi)->se_open)
				send_all(r, S_MIR(s, mi)->se_ep.ep_fd,
				    b->out, 1, 0, true);
		send_all(r, S_UP(s)->se_ep.ep_fd, b->out, 1,
		    KC_SPLICE_FWD, false);
	}
	kc_chain_free(&c);
}

static void
start_fn(void *obj, void *env, int status)
{
	struct kc_dgram_relay *r = env;

	KC__ON_EXEC(r->r_owner);
	(void)obj;
	(void)status;
	if (r->r_stopping)
		return;
	if (kc__socket_lend(r->r_lis, &lis_ops, r) != 0)
		return;
	lis_early(r);
	(void)kc_defer_after(&r->r_sweepkc, r->r_period, NULL, 0);
	lis_input(r);
}

static void
stop_local(struct kc_dgram_relay *r)
{
	if (r->r_stopping)
		return;
	r->r_stopping = true;
	(void)kc_cancel(&r->r_startkc);
	(void)kc_cancel(&r->r_sweepkc);
	while (!kc__list_empty(&r->r_all))
		sess_free(r, KC__LIST_FIRST(&r->r_all, struct session, s_link),
		    -ECANCELED);
	if (!r->r_orphan)
		(void)kc__socket_lend(r->r_lis, NULL, NULL);
	kc__socket_close(r->r_lis, false);
	r->r_lis = NULL;
}

/* Stopped: nothing of the owner's refers to r any more; it goes. */
static void
relay_free(struct kc_dgram_relay *r)
{
	struct kc *cdone = r->r_cdone;
	uintptr_t name = (uintptr_t)r;

	(void)kc_cancel_sync(&r->r_startkc);
	(void)kc_cancel_sync(&r->r_sweepkc);
	r->r_magic = 0;
	free(r->r_tab);
	free(r);
	kc__close_done(cdone, name);
}

/*
 * The close, on the owner: always queued, so that it never frees the
 * relay under one of its own endpoint operations or callbacks.
 */
static void
stop_fn(void *obj, void *env, int status)
{
	struct kc_dgram_relay *r = env;

	KC__ON_EXEC(r->r_owner);
	(void)obj;
	(void)status;
	stop_local(r);
	relay_free(r);
}

/* ------------------------------------------------------------------ */
/* The calls. */

int
kc_dgram_relay_create(struct kc_dgram_relay **rp, struct kc_socket *listener,
    const struct kc_sockaddr *upstream,
    const struct kc_dgram_relay_attr *attr)
{
	struct kc_dgram_relay *r;
	struct kc_executor *owner;
	struct kc__ep *lep;
	unsigned i;
	int e;

	if (rp == NULL || listener == NULL || upstream == NULL)
		return -EINVAL;
	if ((lep = kc__socket_ep(listener)) == NULL ||
	    !kc__exec_soft(owner = lep->ep_owner) ||
	    lep->ep_type != SOCK_DGRAM || (kc__ep_state(lep) & KC_SS_CLOSED))
		return -EINVAL;
	if (attr != NULL && (attr->nmirrors > KC_SPLICE_MIRRORS_MAX ||
	    (attr->nmirrors > 0 && attr->mirrors == NULL)))
		return -EINVAL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return -ENOMEM;
	if (attr != NULL)
		r->r_attr = *attr;
	if (r->r_attr.session_idle_ns == 0)
		r->r_attr.session_idle_ns = DEF_IDLE;
	if (r->r_attr.max_sessions == 0)
		r->r_attr.max_sessions = DEF_MAX;
	for (i = 0; i < r->r_attr.nmirrors; i++)
		r->r_mir[i] = attr->mirrors[i];
	r->r_attr.mirrors = NULL;
	r->r_up = *upstream;
	r->r_owner = owner;
	r->r_lis = listener;
	r->r_lep = lep;
	r->r_lfd = lep->ep_fd;
	/* Expiry within 5% or 50 ms of the limit (kc_dgram_relay(3)). */
	r->r_period = r->r_attr.session_idle_ns / 20;
	if (r->r_period < SWEEP_MIN)
		r->r_period = SWEEP_MIN;
	for (r->r_tabsz = 64; r->r_tabsz < r->r_attr.max_sessions &&
	    r->r_tabsz < (1u << 20); r->r_tabsz *= 2)
		;
	if ((r->r_tab = calloc(r->r_tabsz, sizeof(*r->r_tab))) == NULL) {
		free(r);
		return -ENOMEM;
	}
	if ((e = kc_init(&r->r_startkc, start_fn, r, owner, 0)) != 0 ||
	    (e = kc_init(&r->r_sweepkc, sweep_fn, r, owner, 0)) != 0 ||
	    (e = kc_init(&r->r_stopkc, stop_fn, r, owner, 0)) != 0 ||
	    (e = kc_defer(&r->r_startkc, NULL, 0)) != 0) {
		free(r->r_tab);
		free(r);
		return e;
	}
	r->r_magic = RELAY_MAGIC ^ (uintptr_t)r;
	*rp = r;
	return 0;
}

static bool
relay_valid(const struct kc_dgram_relay *r)
{
	return r != NULL && r->r_magic == (RELAY_MAGIC ^ (uintptr_t)r);
}

int
kc_dgram_relay_stats(const struct kc_dgram_relay *r,
    struct kc_dgram_relay_stats *st)
{
	if (!relay_valid(r) || st == NULL)
		return -EINVAL;
	kc__stats_load(st, &r->r_st, sizeof(*st));
	return 0;
}

int
kc_dgram_relay_close(struct kc_dgram_relay *r, struct kc *done)
{
	if (!relay_valid(r))
		return -EINVAL;
	if (__atomic_exchange_n(&r->r_closed, 1u, __ATOMIC_ACQ_REL) != 0)
		return -EBADF;
	r->r_cdone = done;
	if (kc_defer(&r->r_stopkc, NULL, 0) == 0)
		return 0;
	/*
	 * The owner refuses work: shut down.  Once it has stopped (a shutdown
	 * in progress is waited for), nothing of it runs any more and this
	 * thread does the owner's part.
	 */
	(void)kc__exec_stopped(r->r_owner);
	r->r_orphan = true;
	stop_local(r);
	relay_free(r);
	return 0;
}
