/*
 * net-splice-many: 500 spliced connections at once (200 under sanitizers),
 * all on one executor, then spread over two (each connection's a and b on
 * one of them, accepted for it from one listener).
 *
 * Every connection is a raw client, a accepted by a kc listener, b
 * kc_socket_connect()ed to one raw listener, and a raw server; all of them
 * are spliced before any data moves.  Then, for every connection: the
 * client sends its index and a few KiB, the server (which learns from the
 * index which connection it is) checks them and answers a few KiB more,
 * the client checks those; both shut for writing and see end of file; done
 * gets 0.  Per splice, and in the account struct they all share, the
 * counts are the bytes sent each way.
 *
 * Then 24 connections (8 under sanitizers) at once, b and the servers with
 * small kernel buffers, whose servers do not read until the pools have
 * lent pipes (holding data the destination cannot take yet), while each
 * client sends 4 MiB (1 MiB); then they read, and every stream arrives
 * whole.
 *
 * After each: kc_socket_count() is back where it was; each executor's pipe
 * pool (kc_pipe_stats(), read from the test thread) lends no pipe; and the
 * descriptors open (/proc/self/fd) are those before, plus two per pipe the
 * pools now keep idle that they did not keep before.  Once the executors
 * are destroyed, the descriptors are those before they were created: their
 * pools' pipes went with them.
 */
#include "splicetest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXN	500
#define BATCH	50

struct conn {
	struct kc_executor	*ex;
	int			 client;
	int			 server;
	struct kc_splice	*sp;
	struct nt_done		 done;
	uint64_t		 csid, ssid;
	size_t			 clen, slen;
};

static struct conn conns[MAXN];

static void
connect_batch(struct kc_executor **exs, unsigned nex, struct kc_socket *lsn,
    const struct kc_sockaddr *laddr, int slfd,
    const struct kc_sockaddr *saddr, unsigned first, unsigned n,
    struct kc_splice_stats *acct, int *srv)
{
	struct kc_splice_attr attr;
	unsigned i;

	memset(&attr, 0, sizeof(attr));
	attr.account = acct;
	for (i = first; i < first + n; i++) {
		struct conn *c = &conns[i];
		struct kc_socket *a = NULL, *b;

		c->ex = exs[i % nex];
		c->client = nt_raw_connect(laddr);
		KC_CHECK_OK(kc_socket_accept_wait(lsn, c->ex, &a,
		    NT_WAIT_S * KCT_NSEC_PER_SEC));
		KC_CHECK_PTR_EQ(kc_socket_owner(a), c->ex);
		b = nt_socket(c->ex, NT_TCP4, NULL);
		KC_CHECK_OK(kc_socket_connect(b, saddr, NULL));
		nt_done_init(&c->done, c->ex);
		c->sp = NULL;
		KC_CHECK_OK(kc_splice(&c->sp, a, b, NULL, 0, &attr,
		    &c->done.kc));
		KC_CHECK(c->sp != NULL);
	}
	/* The servers' ends, in whatever order they come. */
	for (i = 0; i < n; i++)
		srv[first + i] = nt_raw_accept(slfd);
}

static void
phase(struct kc_executor **exs, unsigned nex, unsigned n, bool check_fds)
{
	struct kc_pipe_stats ps0[2], ps;
	struct kc_splice_stats acct, st;
	struct kc_sockaddr laddr, saddr;
	struct kc_socket *lsn;
	static int srv[MAXN];
	uint64_t fwd = 0, rev = 0;
	uint8_t *buf;
	long base = kc_socket_count();
	int base_fds, slfd, idle0 = 0, idle = 0;
	unsigned i, e;
	uint32_t idx;
	size_t len;

	if (!st_want("%u connections over %u executor%s", n, nex,
	    nex > 1 ? "s" : ""))
		return;
	buf = malloc(16384);
	KC_CHECK(buf != NULL);
	for (e = 0; e < nex; e++) {
		st_pipe_stats(exs[e], &ps0[e]);
		KC_CHECK_EQ(ps0[e].lent, 0);
		idle0 += (int)ps0[e].idle;
	}
	base_fds = nt_fd_count();
	memset(&acct, 0, sizeof(acct));
	lsn = nt_listener(exs[0], NT_TCP4, NULL, &laddr);
	slfd = nt_raw_listener(NT_TCP4, &saddr);
	memset(conns, 0, sizeof(conns));
	for (i = 0; i < n; i += BATCH)
		connect_batch(exs, nex, lsn, &laddr, slfd, &saddr, i,
		    n - i < BATCH ? n - i : BATCH, &acct, srv);
	nt_close(lsn);
	nt_raw_close(slfd);

	/* Every client sends its index and its bytes. */
	for (i = 0; i < n; i++) {
		struct conn *c = &conns[i];

		c->csid = st_sid();
		c->ssid = st_sid();
		c->clen = 100 + (i * 37) % 4000;
		c->slen = 200 + (i * 53) % 8000;
		c->server = -1;
		idx = i;
		nt_raw_write(c->client, &idx, sizeof(idx));
		while (c->clen > 0) {
			const uint8_t *p = st_bytes(c->csid, 0, c->clen, &len);

			if (len == c->clen) {
				nt_raw_write(c->client, p, len);
				break;
			}
			c->csid = st_sid();	/* it wrapped: another */
		}
		fwd += sizeof(idx) + c->clen;
	}
	/* Every server learns which it is, checks, answers. */
	for (i = 0; i < n; i++) {
		struct conn *c;

		nt_raw_read_full(srv[i], &idx, sizeof(idx));
		KC_CHECK_LT(idx, n);
		c = &conns[idx];
		KC_CHECK_EQ(c->server, -1);
		c->server = srv[i];
		nt_raw_read_full(c->server, buf, c->clen);
		st_check(buf, c->clen, c->csid, 0, "client to server");
		for (;;) {
			const uint8_t *p = st_bytes(c->ssid, 0, c->slen, &len);

			if (len == c->slen) {
				nt_raw_write(c->server, p, len);
				break;
			}
			c->ssid = st_sid();
		}
		rev += c->slen;
	}
	for (i = 0; i < n; i++) {
		struct conn *c = &conns[i];

		nt_raw_read_full(c->client, buf, c->slen);
		st_check(buf, c->slen, c->ssid, 0, "server to client");
		KC_CHECK_OK(shutdown(c->client, SHUT_WR));
	}
	for (i = 0; i < n; i++) {
		struct conn *c = &conns[i];

		nt_raw_expect_eof(c->server);
		KC_CHECK_OK(shutdown(c->server, SHUT_WR));
	}
	for (i = 0; i < n; i++) {
		struct conn *c = &conns[i];

		nt_raw_expect_eof(c->client);
		nt_done_wait(&c->done);
		KC_CHECK_EQ(atomic_load(&c->done.status), 0);
		KC_CHECK_PTR_EQ(atomic_load(&c->done.obj), c->sp);
		KC_CHECK_PTR_EQ(atomic_load(&c->done.ran_on), c->ex);
		KC_CHECK_OK(kc_splice_stats(c->sp, &st));
		KC_CHECK_EQ(st.spliced[KC_SPLICE_FWD] +
		    st.copied[KC_SPLICE_FWD], sizeof(idx) + c->clen);
		KC_CHECK_EQ(st.spliced[KC_SPLICE_REV] +
		    st.copied[KC_SPLICE_REV], c->slen);
		KC_CHECK_EQ(atomic_load(&c->done.n), 1);
		KC_CHECK_OK(kc_splice_close(c->sp, NULL));
		nt_raw_close(c->client);
		nt_raw_close(c->server);
	}
	KC_CHECK_EQ(__atomic_load_n(&acct.spliced[KC_SPLICE_FWD],
	    __ATOMIC_RELAXED) + __atomic_load_n(&acct.copied[KC_SPLICE_FWD],
	    __ATOMIC_RELAXED), fwd);
	KC_CHECK_EQ(__atomic_load_n(&acct.spliced[KC_SPLICE_REV],
	    __ATOMIC_RELAXED) + __atomic_load_n(&acct.copied[KC_SPLICE_REV],
	    __ATOMIC_RELAXED), rev);
	st_stats_print("account", &acct);

	/* Everything went back. */
	nt_wait_count(base);
	for (e = 0; e < nex; e++) {
		st_pipe_stats(exs[e], &ps);
		printf("    executor %u: pipes lent %u idle %u created %llu "
		    "fallbacks %llu\n", e, ps.lent, ps.idle,
		    (unsigned long long)ps.created,
		    (unsigned long long)ps.fallbacks);
		KC_CHECK_EQ(ps.lent, 0);
		idle += (int)ps.idle;
	}
	if (check_fds)
		KC_CHECK_EQ(nt_fd_count(), base_fds + 2 * (idle - idle0));
	free(buf);
}

static unsigned
lent_now(struct kc_executor **exs)
{
	struct kc_pipe_stats ps;
	unsigned e, lent = 0;

	for (e = 0; e < 2; e++) {
		st_pipe_stats(exs[e], &ps);
		lent += ps.lent;
	}
	return lent;
}

/* Many streams at once, the servers holding back: pipes stay lent. */
static void
held(struct kc_executor **exs, unsigned n, uint64_t len)
{
	struct kc_pipe_stats ps0[2], ps;
	struct st_peer *cl, *sv;
	struct st_sp *s;
	long base = kc_socket_count();
	int base_fds, idle0 = 0, idle = 0;
	unsigned i, e, lent;

	if (!st_want("%u streams of %llu bytes, servers holding back", n,
	    (unsigned long long)len))
		return;
	cl = calloc(n, sizeof(*cl));
	sv = calloc(n, sizeof(*sv));
	s = calloc(n, sizeof(*s));
	KC_CHECK(cl != NULL && sv != NULL && s != NULL);
	for (e = 0; e < 2; e++) {
		st_pipe_stats(exs[e], &ps0[e]);
		idle0 += (int)ps0[e].idle;
	}
	base_fds = nt_fd_count();
	for (i = 0; i < n; i++) {
		s[i].ex = exs[i & 1];
		s[i].ka = s[i].kb = s[i].km = i % 3 == 2 ? NT_UNIX : NT_TCP4;
		/* b and the server buffer little: the pipes must hold on. */
		s[i].small = 32768;
		st_sp_open(&s[i], false);
		cl[i].name = "client";
		cl[i].fd = s[i].client;
		cl[i].send_sid = st_sid();
		cl[i].send_len = len;
		cl[i].shut_after = true;
		sv[i].name = "server";
		sv[i].fd = s[i].server;
		sv[i].recv_sid = cl[i].send_sid;
		sv[i].recv_len = len;
		sv[i].shut_after = true;
		atomic_store(&sv[i].hold, 1);
		st_peer_start(&cl[i]);
		st_peer_start(&sv[i]);
	}
	/* Pipes lent, holding what b cannot take yet. */
	KCT_WAIT((lent = lent_now(exs)) > 0, NT_WAIT_S);
	printf("    pipes lent at once: %u\n", lent);
	for (i = 0; i < n; i++)
		atomic_store(&sv[i].hold, 0);
	for (i = 0; i < n; i++) {
		st_peer_join(&cl[i]);
		st_peer_join(&sv[i]);
		st_peer_check_whole(&cl[i]);
		st_peer_check_whole(&sv[i]);
		KC_CHECK_EQ(st_sp_wait(&s[i]), 0);
		st_sp_close(&s[i]);
	}
	nt_wait_count(base);
	for (e = 0; e < 2; e++) {
		st_pipe_stats(exs[e], &ps);
		printf("    executor %u: pipes lent %u idle %u created %llu "
		    "fallbacks %llu\n", e, ps.lent, ps.idle,
		    (unsigned long long)ps.created,
		    (unsigned long long)ps.fallbacks);
		KC_CHECK_EQ(ps.lent, 0);
		idle += (int)ps.idle;
	}
	KC_CHECK_EQ(nt_fd_count(), base_fds + 2 * (idle - idle0));
	free(cl);
	free(sv);
	free(s);
}

int
main(void)
{
	struct kc_executor *exs[2];
	long base;
	unsigned n;
	int fds0;

	kct_begin("net-splice-many", 600);
	st_init();
	n = kct_sanitized() ? 200 : MAXN;
	base = kc_socket_count();
	fds0 = nt_fd_count();
	exs[0] = kct_exec_soft("splice-many-a");
	exs[1] = kct_exec_soft("splice-many-b");
	/*
	 * A few first, so that what each executor makes once (its kqueue,
	 * say) is there before the descriptors are counted.
	 */
	phase(exs, 2, 4, false);
	phase(exs, 1, n, true);
	phase(exs, 2, n, true);
	if (kct_sanitized())
		held(exs, 8, ST_MIB);
	else
		held(exs, 24, 4 * ST_MIB);
	nt_wait_count(base);
	kct_exec_finish(exs[0]);
	kct_exec_finish(exs[1]);
	/* The executors took their pools' pipes (and all else) with them. */
	KC_CHECK_EQ(nt_fd_count(), fds0);
	return kct_done();
}
