/*
 * net-accept: one listener feeding three executors.
 *
 * 300 accept requests are queued on one listener (owned by the first
 * executor) with kc_socket_accept(), each for one of three executors (all
 * three get some; which one is random), before any client exists.  Then 300
 * clients connect one after the other, each writing its number.  Requests
 * are served in order, one connection each: request i gets client i's
 * connection (it reads i from it), owned by the executor request i named,
 * its continuation run there with status 0; every client is accounted for,
 * none twice.  Closing the listener then answers the requests still queued
 * (one per executor) with obj NULL and -ECANCELED.
 * TCP over 127.0.0.1, and UNIX streams (90 connections).
 */
#include "nettest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NEX	3

struct req {
	struct nt_done		 d;
	struct kc_executor	*ex;
};

static void
run(struct kc_executor **ex, enum nt_kind k, unsigned n)
{
	struct kc_chain ch = KC_CHAIN_INITIALIZER;
	struct kc_sockaddr addr;
	struct kc_socket *lsn, *s;
	struct req *rq = calloc(n, sizeof(*rq));
	struct req extra[NEX];
	unsigned per[NEX] = { 0 };
	uint32_t idx;
	int *fd = calloc(n, sizeof(*fd));
	unsigned i;

	KC_CHECK(rq != NULL && fd != NULL);
	printf("  %s: %u connections\n", nt_kind_name[k], n);
	lsn = nt_listener(ex[0], k, NULL, &addr);
	for (i = 0; i < n; i++) {
		rq[i].ex = ex[i < NEX ? i : kct_rand_below(NEX)];
		nt_done_init(&rq[i].d, rq[i].ex);
		KC_CHECK_OK(kc_socket_accept(lsn, rq[i].ex, &rq[i].d.kc));
	}
	for (i = 0; i < n; i++) {
		fd[i] = nt_raw_connect(&addr);
		idx = i;
		nt_raw_write(fd[i], &idx, sizeof(idx));
	}
	for (i = 0; i < n; i++) {
		nt_done_wait(&rq[i].d);
		KC_CHECK_EQ(atomic_load(&rq[i].d.status), 0);
		s = atomic_load(&rq[i].d.obj);
		KC_CHECK(s != NULL);
		KC_CHECK_PTR_EQ(atomic_load(&rq[i].d.ran_on), rq[i].ex);
		KC_CHECK_PTR_EQ(kc_socket_owner(s), rq[i].ex);
		KC_CHECK(kc_socket_state(s) & KC_SS_CONNECTED);
		while (kc_chain_len(&ch) < sizeof(idx))
			KC_CHECK_GT(kc_socket_recv_wait(s, &ch, sizeof(idx), NULL,
			    NT_WAIT_S * KCT_NSEC_PER_SEC), 0);
		KC_CHECK_EQ(kc_chain_copyout(&ch, 0, &idx, sizeof(idx)),
		    sizeof(idx));
		kc_chain_free(&ch);
		if (idx != i)
			kct_fail(__FILE__, __LINE__, "request %u got client "
			    "%u's connection: not served in order", i, idx);
		per[rq[i].ex == ex[0] ? 0 : rq[i].ex == ex[1] ? 1 : 2]++;
	}
	for (i = 0; i < NEX; i++)
		KC_CHECK_GT(per[i], 0);
	printf("    per executor: %u %u %u\n", per[0], per[1], per[2]);
	for (i = 0; i < n; i++)
		KC_CHECK_EQ(atomic_load(&rq[i].d.n), 1);

	/* Requests still queued when the listener closes: -ECANCELED. */
	for (i = 0; i < NEX; i++) {
		extra[i].ex = ex[i];
		nt_done_init(&extra[i].d, ex[i]);
		KC_CHECK_OK(kc_socket_accept(lsn, ex[i], &extra[i].d.kc));
	}
	nt_close(lsn);
	for (i = 0; i < NEX; i++) {
		nt_done_wait(&extra[i].d);
		KC_CHECK_EQ(atomic_load(&extra[i].d.status), -ECANCELED);
		KC_CHECK(atomic_load(&extra[i].d.obj) == NULL);
		KC_CHECK_PTR_EQ(atomic_load(&extra[i].d.ran_on), ex[i]);
		KCT_WAIT(kc_state(&extra[i].d.kc) == KC_STATE_IDLE, NT_WAIT_S);
		KC_CHECK_EQ(atomic_load(&extra[i].d.n), 1);
	}

	for (i = 0; i < n; i++) {
		nt_close(atomic_load(&rq[i].d.obj));
		nt_raw_expect_eof(fd[i]);
		nt_raw_close(fd[i]);
	}
	free(rq);
	free(fd);
}

int
main(void)
{
	struct kc_executor *ex[NEX];
	long base;

	kct_begin("net-accept", 300);
	base = kc_socket_count();
	ex[0] = kct_exec_soft("accept-0");
	ex[1] = kct_exec_soft("accept-1");
	ex[2] = kct_exec_soft("accept-2");
	run(ex, NT_TCP4, 300);
	nt_wait_count(base);
	run(ex, NT_UNIX, 90);
	nt_wait_count(base);
	kct_exec_finish(ex[0]);
	kct_exec_finish(ex[1]);
	kct_exec_finish(ex[2]);
	return kct_done();
}
