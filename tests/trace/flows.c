/*
 * trace-flows: three soft executors and two plain threads, traced.
 *
 *   plain-1 triggers ten continuations on e1 (ENQUEUE on plain-1, RUN on
 *   e1, the same flow); each sends a message to a port on e2 (SEND on e1,
 *   RECV and REPLY on e2, one flow), whose reply runs on e1.
 *   plain-2 triggers a continuation on e3 and arms a timer on e3 while e3
 *   is held busy, then exits; both run after it has gone (its THREAD_EXIT
 *   comes before their RUN_BEGIN), traced with plain-2's flows.
 *
 * The file must hold records from at least those five thread ids, each
 * named, and flows that match what was done.
 */
#include "kctest.h"
#include "tracefile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NSEND	10

static struct kc_executor *e1, *e2, *e3;
static pid_t tid_e1, tid_e2, tid_e3, tid_p1, tid_p2;
static struct kc_port port;
static atomic_int replies, late_runs;

struct job {
	struct kc	 kc;
	struct kc_msg	 msg;
};
static struct job jobs[NSEND];
static struct kc late_kc, timer_kc;

static void
reply_fn(void *obj, void *env, int status)
{
	(void)obj;
	(void)env;
	KC_CHECK_EQ(status, 7);
	atomic_fetch_add(&replies, 1);
}

static void
job_fn(void *obj, void *env, int status)
{
	struct job *j = env;

	(void)obj;
	(void)status;
	tid_e1 = kct_gettid();
	KC_CHECK_OK(kc_msg_init(&j->msg, reply_fn, j, e1, 0));
	j->msg.m_cmd = (int)(j - jobs);
	KC_CHECK_OK(kc_msg_send(&port, &j->msg));
}

static void
port_fn(struct kc_port *p, struct kc_msg *m)
{
	(void)p;
	tid_e2 = kct_gettid();
	KC_CHECK_OK(kc_msg_reply(m, 7));
}

static void
late_fn(void *obj, void *env, int status)
{
	(void)obj;
	(void)env;
	(void)status;
	tid_e3 = kct_gettid();
	atomic_fetch_add(&late_runs, 1);
}

static void *
plain1(void *arg)
{
	int i;

	(void)arg;
	KC_CHECK_OK(kc_trace_thread_name("plain-1"));
	tid_p1 = kct_gettid();
	for (i = 0; i < NSEND; i++)
		KC_CHECK_OK(kc_run(&jobs[i].kc, NULL, 0));
	return NULL;
}

static void *
plain2(void *arg)
{
	(void)arg;
	KC_CHECK_OK(kc_trace_thread_name("plain-2"));
	tid_p2 = kct_gettid();
	KC_CHECK_OK(kc_run(&late_kc, NULL, 0));
	KC_CHECK_OK(kc_defer_after(&timer_kc, 1000000, NULL, 0));
	return NULL;		/* gone before either runs */
}

/* The record of tid, of type, whose flow word (index fi) is flow. */
static const struct tf_rec *
flow_rec(const struct tracefile *tf, unsigned type, unsigned fi,
    uint64_t flow, uint32_t tid)
{
	size_t k;

	for (k = 0; k < tf->nrecs; k++) {
		const struct tf_rec *r = &tf->recs[k];

		if (r->h->tr_type == type && r->np > fi && r->p[fi] == flow &&
		    r->h->tr_tid == tid)
			return r;
	}
	return NULL;
}

static void
check(const char *path)
{
	struct tracefile tf;
	uint32_t tids[64];
	size_t n, k, enq = 0, sends = 0;
	const struct tf_rec *ex, *run;
	pid_t want[5] = { tid_e1, tid_e2, tid_e3, tid_p1, tid_p2 };
	const char *names[5] = { "e1", "e2", "e3", "plain-1", "plain-2" };
	int i;

	tf_load(&tf, path);
	KC_CHECK_EQ(tf.hdr.th_pid, getpid());
	n = tf_tids(&tf, tids, 64);
	KC_CHECK_GE(n, 5);
	for (i = 0; i < 5; i++) {
		const char *nm = tf_name(&tf, (uint32_t)want[i]);

		KC_CHECK(nm != NULL);
		if (strcmp(nm, names[i]) != 0)
			kct_fail(__FILE__, __LINE__, "tid %d named %s, not %s",
			    (int)want[i], nm, names[i]);
		KC_CHECK_EQ(tf_gaps(&tf, (uint32_t)want[i]), 0);
	}
	for (k = 0; k < tf.nrecs; k++) {
		const struct tf_rec *r = &tf.recs[k];
		const struct tf_rec *rv, *rp;

		/* plain-1's triggers run on e1, with their flow. */
		if (r->h->tr_type == KC_TR_ENQUEUE &&
		    r->h->tr_tid == (uint32_t)tid_p1) {
			KC_CHECK_NE(r->p[3], 0);
			KC_CHECK_EQ(r->p[3],
			    KC_TRACE_FLOW(r->h->tr_tid, r->h->tr_seq));
			run = flow_rec(&tf, KC_TR_RUN_BEGIN, 3, r->p[3],
			    (uint32_t)tid_e1);
			KC_CHECK(run != NULL);
			KC_CHECK_EQ(run->p[0], r->p[0]);	/* the kc */
			KC_CHECK_GE(run->h->tr_time, r->h->tr_time);
			enq++;
		}
		/* e1's sends are handled and replied on e2. */
		if (r->h->tr_type == KC_TR_MSG_SEND) {
			KC_CHECK_EQ(r->h->tr_tid, (uint32_t)tid_e1);
			KC_CHECK_PTR_EQ((void *)(uintptr_t)r->p[0], &port);
			rv = flow_rec(&tf, KC_TR_MSG_RECV, 3, r->p[3],
			    (uint32_t)tid_e2);
			rp = flow_rec(&tf, KC_TR_MSG_REPLY, 3, r->p[3],
			    (uint32_t)tid_e2);
			KC_CHECK(rv != NULL && rp != NULL);
			KC_CHECK_EQ(rv->p[1], r->p[1]);		/* the msg */
			KC_CHECK_EQ(rv->p[2], r->p[2]);		/* its cmd */
			KC_CHECK_EQ((int64_t)rp->p[2], 7);	/* status */
			KC_CHECK_GE(rv->h->tr_time, r->h->tr_time);
			KC_CHECK_GE(rp->h->tr_time, rv->h->tr_time);
			sends++;
		}
	}
	KC_CHECK_EQ(enq, NSEND);
	KC_CHECK_EQ(sends, NSEND);
	/* plain-2 left before its work ran; the work is traced anyway. */
	ex = NULL;
	for (k = 0; k < tf.nrecs; k++)
		if (tf.recs[k].h->tr_type == KC_TR_THREAD_EXIT &&
		    tf.recs[k].h->tr_tid == (uint32_t)tid_p2)
			ex = &tf.recs[k];
	KC_CHECK(ex != NULL);
	for (k = 0; k < tf.nrecs; k++) {
		const struct tf_rec *r = &tf.recs[k];

		if ((r->h->tr_type != KC_TR_ENQUEUE &&
		    r->h->tr_type != KC_TR_DEFER) ||
		    r->h->tr_tid != (uint32_t)tid_p2)
			continue;
		KC_CHECK_LT(r->h->tr_seq, ex->h->tr_seq);
		run = flow_rec(&tf, KC_TR_RUN_BEGIN, 3, r->p[3],
		    (uint32_t)tid_e3);
		KC_CHECK(run != NULL);
		KC_CHECK_GT(run->h->tr_time, ex->h->tr_time);
		enq++;
	}
	KC_CHECK_EQ(enq, NSEND + 2);
	tf_free(&tf);
}

int
main(void)
{
	char path[] = "/tmp/kc-trace-flows-XXXXXX";
	struct kc_trace_stats st;
	struct kct_done pd;
	struct kct_gate gate;
	pthread_t t1, t2;
	int fd, i;

	kct_begin("trace-flows", 60);
	fd = mkstemp(path);
	KC_CHECK_GE(fd, 0);
	close(fd);
	KC_CHECK_OK(kc_trace_start(path, NULL));
	KC_CHECK_EQ(kc_trace_start(path, NULL), -EALREADY);
	KC_CHECK(kc_trace_enabled());
	e1 = kct_exec_soft("e1");
	e2 = kct_exec_soft("e2");
	e3 = kct_exec_soft("e3");
	KC_CHECK_OK(kc_port_init(&port, e2, port_fn, NULL, NULL));
	for (i = 0; i < NSEND; i++)
		KC_CHECK_OK(kc_init(&jobs[i].kc, job_fn, &jobs[i], e1, 0));
	KC_CHECK_OK(kc_init(&late_kc, late_fn, NULL, e3, 0));
	KC_CHECK_OK(kc_init(&timer_kc, late_fn, NULL, e3, 0));

	memset(&gate, 0, sizeof(gate));
	kct_gate_hold(&gate, e3);	/* e3 runs nothing until released */
	t1 = kct_thread_start(plain1, NULL);
	t2 = kct_thread_start(plain2, NULL);
	kct_thread_join(t1);
	kct_thread_join(t2);		/* plain-2 is gone */
	KCT_WAIT(atomic_load(&replies) == NSEND, 10);
	KC_CHECK_EQ(atomic_load(&late_runs), 0);
	kct_gate_release(&gate);
	kct_gate_wait(&gate);
	KCT_WAIT(atomic_load(&late_runs) == 2, 10);

	KC_CHECK_OK(kc_trace_stats(&st));
	KC_CHECK_EQ(st.lost, 0);
	KC_CHECK_GE(st.threads, 5);
	kct_done_init(&pd, NULL);
	KC_CHECK_OK(kc_port_close(&port, &pd.d_kc));
	kct_done_wait(&pd, &port);
	kct_exec_finish(e1);
	kct_exec_finish(e2);
	kct_exec_finish(e3);
	KC_CHECK_OK(kc_trace_stop());
	KC_CHECK_EQ(kc_trace_stop(), -ENOENT);
	KC_CHECK(!kc_trace_enabled());
	check(path);
	unlink(path);
	return kct_done();
}
