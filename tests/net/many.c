/*
 * net-many: 10,000 connections opened and closed (2,000 under sanitizers),
 * in batches of 100, through one listener feeding two executors.
 *
 * For each batch, 100 accept requests are queued on the listener (owned by
 * executor A) with kc_socket_accept(): 50 for A and 50 for B, interleaved;
 * then 100 client sockets, half owned by A and half by B, connect with
 * kc_socket_connect().  Each client sends one byte and closes when its
 * connect completes; each accepted socket reads that byte (READABLE), sees
 * end of file, and closes.  Every batch must account for 100 accepts (50 on
 * each executor, each socket owned by the executor it was asked for) and
 * 100 connects.
 *
 * At the end the descriptors (/proc/self/fd) and kc_socket_count() are back
 * where they were before the first batch, and the heap in use
 * (mallinfo2().uordblks) is within 1 MiB of what it was after the warm-up
 * batches (the first 1,000 connections, which fill the per-thread caches).  The heap check is skipped under sanitizers only: they replace
 * malloc, and mallinfo2() then does not describe the program's heap.  The
 * descriptor and count checks run in every build.
 */
#include "nettest.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#define BATCH		100
#define WARMUP		10		/* batches before the heap baseline */
#define MEM_SLACK	(1u << 20)

struct many;

struct acc {
	struct kc		 kc;
	struct kc		 rd;
	struct many		*m;
	struct kc_executor	*ex;
	struct kc_socket	*s;
	int			 got;
};

struct cli {
	struct kc		 kc;
	struct many		*m;
	struct kc_executor	*ex;
	struct kc_socket	*s;
};

struct many {
	struct kc_executor	*ex[2];
	struct kc_socket	*lsn;
	struct kc_sockaddr	 addr;
	struct acc		 acc[BATCH];
	struct cli		 cli[BATCH];
	atomic_int		 accepted[2];
	atomic_int		 served;		/* accepted sockets closed */
	atomic_int		 connected;
};

static void
acc_readable(void *obj, void *env, int status)
{
	struct acc *a = env;
	struct kc_chain ch = KC_CHAIN_INITIALIZER;
	ssize_t r;

	KC_CHECK_PTR_EQ(obj, a->s);
	KC_CHECK_PTR_EQ(kc_executor_current(), a->ex);
	KC_CHECK_EQ(status, 0);
	while ((r = kc_socket_recv(a->s, &ch, SIZE_MAX, NULL)) > 0)
		a->got += (int)r;
	kc_chain_free(&ch);
	if (r == -EAGAIN) {
		KC_CHECK_OK(kc_socket_upcall(a->s, KC_SO_READABLE, &a->rd));
		return;
	}
	KC_CHECK_EQ(r, 0);
	KC_CHECK_EQ(a->got, 1);
	KC_CHECK_OK(kc_socket_close(a->s, NULL));
	atomic_fetch_add(&a->m->served, 1);
}

static void
accepted(void *obj, void *env, int status)
{
	struct acc *a = env;

	KC_CHECK_EQ(status, 0);
	KC_CHECK(obj != NULL);
	KC_CHECK_PTR_EQ(kc_executor_current(), a->ex);
	KC_CHECK_PTR_EQ(kc_socket_owner(obj), a->ex);
	a->s = obj;
	a->got = 0;
	atomic_fetch_add(&a->m->accepted[a->ex == a->m->ex[1]], 1);
	KC_CHECK_OK(kc_socket_upcall(a->s, KC_SO_READABLE, &a->rd));
}

static void
connected(void *obj, void *env, int status)
{
	struct cli *c = env;
	struct kc_chain ch = KC_CHAIN_INITIALIZER;

	KC_CHECK_PTR_EQ(obj, c->s);
	KC_CHECK_PTR_EQ(kc_executor_current(), c->ex);
	KC_CHECK_EQ(status, 0);
	KC_CHECK_OK(kc_chain_append(&ch, "x", 1));
	KC_CHECK_OK(kc_socket_send(c->s, &ch, NULL, NULL));
	kc_chain_free(&ch);
	/* Closing writes the byte, then the end of file. */
	KC_CHECK_OK(kc_socket_close(c->s, NULL));
	atomic_fetch_add(&c->m->connected, 1);
}

static void
batch(struct many *m, unsigned b)
{
	struct acc *a;
	struct cli *c;
	unsigned i;
	int want = (int)(BATCH * (b + 1));

	for (i = 0; i < BATCH; i++) {
		a = &m->acc[i];
		KC_CHECK_EQ(kc_state(&a->kc), KC_STATE_IDLE);
		KC_CHECK_EQ(kc_state(&a->rd), KC_STATE_IDLE);
		KC_CHECK_OK(kc_socket_accept(m->lsn, a->ex, &a->kc));
	}
	for (i = 0; i < BATCH; i++) {
		c = &m->cli[i];
		KC_CHECK_EQ(kc_state(&c->kc), KC_STATE_IDLE);
		c->s = nt_socket(c->ex, NT_TCP4, NULL);
		KC_CHECK_OK(kc_socket_connect(c->s, &m->addr, &c->kc));
	}
	KCT_WAIT(atomic_load(&m->connected) == want, NT_WAIT_S);
	KCT_WAIT(atomic_load(&m->served) == want, NT_WAIT_S);
	KC_CHECK_EQ(atomic_load(&m->accepted[0]), want / 2);
	KC_CHECK_EQ(atomic_load(&m->accepted[1]), want / 2);
	for (i = 0; i < BATCH; i++) {
		KCT_WAIT(kc_state(&m->acc[i].kc) == KC_STATE_IDLE, NT_WAIT_S);
		KCT_WAIT(kc_state(&m->acc[i].rd) == KC_STATE_IDLE, NT_WAIT_S);
		KCT_WAIT(kc_state(&m->cli[i].kc) == KC_STATE_IDLE, NT_WAIT_S);
	}
}

static void
wait_fds(int base)
{
	uint64_t deadline = kct_now_ns() + NT_WAIT_S * KCT_NSEC_PER_SEC;
	unsigned i = 0;

	while (nt_fd_count() != base) {
		if (kct_now_ns() > deadline)
			kct_fail(__FILE__, __LINE__, "%d descriptors open, "
			    "%d before: descriptors leaked", nt_fd_count(),
			    base);
		kct_pause(i++);
	}
}

int
main(void)
{
	struct many *m;
	struct mallinfo2 mi;
	size_t warm = 0, end;
	long base_count;
	int base_fds;
	unsigned i, b, nbatch;

	kct_begin("net-many", 900);
	base_count = kc_socket_count();
	m = calloc(1, sizeof(*m));
	KC_CHECK(m != NULL);
	m->ex[0] = kct_exec_soft("many-a");
	m->ex[1] = kct_exec_soft("many-b");
	m->lsn = nt_listener(m->ex[0], NT_TCP4, NULL, &m->addr);
	for (i = 0; i < BATCH; i++) {
		m->acc[i].m = m;
		m->acc[i].ex = m->ex[i & 1];
		KC_CHECK_OK(kc_init(&m->acc[i].kc, accepted, &m->acc[i],
		    m->acc[i].ex, 0));
		KC_CHECK_OK(kc_init(&m->acc[i].rd, acc_readable, &m->acc[i],
		    m->acc[i].ex, 0));
		m->cli[i].m = m;
		m->cli[i].ex = m->ex[(i >> 1) & 1];
		KC_CHECK_OK(kc_init(&m->cli[i].kc, connected, &m->cli[i],
		    m->cli[i].ex, 0));
	}
	/* Executors and listener are up: this is the baseline. */
	base_fds = nt_fd_count();
	nbatch = (kct_sanitized() ? 2000 : 10000) / BATCH;
	for (b = 0; b < nbatch; b++) {
		batch(m, b);
		if (b == WARMUP - 1) {
			/*
			 * After warm-up batches: the per-thread caches of
			 * segments and views (kc_chain(3)) have filled, so
			 * what they hold does not count as growth.
			 */
			nt_wait_count(base_count + 1);
			wait_fds(base_fds);
			mi = mallinfo2();
			warm = mi.uordblks;
		}
		if (b % 20 == 19) {
			mi = mallinfo2();
			printf("  %u connections, heap in use %zu\n",
			    (b + 1) * BATCH, mi.uordblks);
		}
	}
	nt_wait_count(base_count + 1);	/* the listener remains */
	wait_fds(base_fds);
	if (!kct_sanitized()) {
		mi = mallinfo2();
		end = mi.uordblks;
		printf("  heap in use: %zu after warm-up, %zu at the end\n",
		    warm, end);
		if (end > warm + MEM_SLACK)
			kct_fail(__FILE__, __LINE__, "heap in use grew from "
			    "%zu to %zu bytes over %u connections", warm, end,
			    nbatch * BATCH);
	} else {
		printf("  heap check skipped: a sanitizer replaces malloc\n");
	}
	nt_close(m->lsn);
	nt_wait_count(base_count);
	kct_exec_finish(m->ex[0]);
	kct_exec_finish(m->ex[1]);
	free(m);
	return kct_done();
}
