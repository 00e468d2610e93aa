/*
 * ring.c: one io_uring per soft executor (ring.h).
 *
 * Made on first use under ring_mtx (rare), attached to the executor's
 * engine once.  An executor where io_uring cannot be had gets a ring
 * record that says so (r_ok false, r_err why), so that the answer is asked
 * of the kernel once, and the file layer falls back.
 *
 * Entries in flight are counted (r_inflight, the owner's): the executor's
 * drain waits for them (ei_busy), so that every operation's continuation
 * runs.  When the engine goes (the executor's threads have stopped), what
 * is still in flight, which only a hand-back shutdown leaves, is cancelled
 * and waited for, and its completions are delivered as any other.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <liburing.h>

#include "core/engine.h"
#include "core/internal.h"
#include "core/lockdebug.h"
#include "core/ownfd.h"
#include "io/ring.h"

#define RING_ENTRIES	256u
#define REAP_BATCH	64u
#define QUIET_TAG	((uint64_t)1)	/* user data of an entry not reported */
#define RING_FILES	1024u		/* slots for registered files */

struct kc__ring {
	struct kc__eio		 r_io;		/* first: the engine's view */
	struct kc__esrc		 r_src;		/* the ring's descriptor */
	struct kc_executor	*r_ex;
	struct io_uring		 r_ring;
	struct kc		 r_flush;	/* submits the batch */
	bool			 r_ok;
	bool			 r_flushing;	/* r_flush is queued */
	int			 r_err;		/* why not, if !r_ok */
	unsigned		 r_inflight;	/* entries not yet reaped */
	uint8_t			 r_ops[(IORING_OP_LAST + 7) / 8];
	/* Registered files: free slots, the owner's (0 if no table). */
	unsigned		 r_nfree;
	uint16_t		 r_free[RING_FILES];
};

static pthread_mutex_t ring_mtx = PTHREAD_MUTEX_INITIALIZER;

/* Hand the prepared entries to the kernel; on the owner. */
static void
ring_submit(struct kc__ring *r)
{
	int n;

	do {
		n = io_uring_submit(&r->r_ring);
	} while (n == -EINTR);
	/*
	 * -EBUSY and -EAGAIN: the completion queue is full or memory is short;
	 * the entries stay in the submission queue and go with the next
	 * submit, which the reaping that frees room is followed by.
	 */
}

static unsigned ring_reap(struct kc__ring *r);

static void
ring_flush_fn(void *obj, void *env, int status)
{
	struct kc__ring *r = env;

	(void)obj;
	(void)status;
	r->r_flushing = false;
	ring_submit(r);
	/*
	 * What completed within the submit (a read from the page cache does)
	 * is delivered now, not after a round through the engine's wait.
	 */
	(void)ring_reap(r);
}

/* Give a completion to the function its user data names. */
static void
ring_deliver(uint64_t ud, int res)
{
	kc__rcq_fn **cq = (kc__rcq_fn **)(uintptr_t)ud;

	(*cq)(cq, res);
}

/* Take what has completed; on the owner. */
static unsigned
ring_reap(struct kc__ring *r)
{
	struct io_uring_cqe *cqes[REAP_BATCH];
	unsigned i, n, total = 0;

	KC__ON_EXEC(r->r_ex);
	for (;;) {
		n = io_uring_peek_batch_cqe(&r->r_ring, cqes, REAP_BATCH);
		if (n == 0)
			break;
		for (i = 0; i < n; i++) {
			uint64_t ud = cqes[i]->user_data;
			int res = cqes[i]->res;

			/* Seen: the entry may be reused from here on. */
			io_uring_cqe_seen(&r->r_ring, cqes[i]);
			r->r_inflight--;
			if (ud & QUIET_TAG)
				continue;
			/* May start more operations, or close the file. */
			ring_deliver(ud, res);
		}
		total += n;
	}
	/* Entries left waiting for room in the completion queue. */
	if (total > 0 && io_uring_sq_ready(&r->r_ring) > 0 && !r->r_flushing)
		ring_submit(r);
	return total;
}

static void
ring_event(struct kc__esrc *src, uint32_t events)
{
	struct kc__ring *r = (struct kc__ring *)(void *)
	    ((char *)src - offsetof(struct kc__ring, r_src));

	(void)events;
	(void)ring_reap(r);
}

static bool
ring_busy(struct kc__eio *io)
{
	struct kc__ring *r = (struct kc__ring *)(void *)io;

	return r->r_ok && (r->r_inflight > 0 || r->r_flushing);
}

/*
 * The engine is going: the owner's threads have stopped, so this thread
 * is the only one here.  Whatever is still in flight is cancelled and
 * reaped, and its continuations triggered (on executors still running;
 * on this one, which has stopped, kc_run() refuses them, as it refuses
 * any continuation after a hand-back).
 */
static void
ring_fini(struct kc__eio *io)
{
	struct kc__ring *r = (struct kc__ring *)(void *)io;

	if (r->r_ok) {
		if (r->r_inflight > 0) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&r->r_ring);

			if (sqe != NULL) {
				io_uring_prep_cancel64(sqe, 0,
				    IORING_ASYNC_CANCEL_ANY);
				sqe->user_data = QUIET_TAG;
				r->r_inflight++;
			}
		}
		while (r->r_inflight > 0) {
			struct io_uring_cqe *cqe;
			uint64_t ud;
			int res;

			ring_submit(r);
			if (io_uring_wait_cqe(&r->r_ring, &cqe) != 0)
				break;
			ud = cqe->user_data;
			res = cqe->res;
			io_uring_cqe_seen(&r->r_ring, cqe);
			r->r_inflight--;
			if ((ud & QUIET_TAG) == 0)
				ring_deliver(ud, res);
		}
		kc__fd_disown(r->r_ring.ring_fd);
		io_uring_queue_exit(&r->r_ring);
	}
	free(r);
}

static void
ring_probe(struct kc__ring *r)
{
	struct io_uring_probe *p = io_uring_get_probe_ring(&r->r_ring);
	unsigned op;

	if (p == NULL)
		return;		/* no probe: nothing is assumed known */
	for (op = 0; op < IORING_OP_LAST; op++)
		if (io_uring_opcode_supported(p, (int)op))
			r->r_ops[op / 8] |= (uint8_t)(1u << (op % 8));
	io_uring_free_probe(p);
}

/* A new ring for ex, or a record that says why there is none. */
static struct kc__ring *
ring_make(struct kc_executor *ex, struct kc__engine *en)
{
	struct io_uring_params pr;
	struct kc__ring *r;
	int e;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->r_io.ei_busy = ring_busy;
	r->r_io.ei_fini = ring_fini;
	r->r_ex = ex;
	r->r_src.es_fn = ring_event;
	r->r_src.es_fd = -1;
	memset(&pr, 0, sizeof(pr));
	/* Room for twice the entries in completions: fewer overflows. */
	pr.flags = IORING_SETUP_CQSIZE;
	pr.cq_entries = 2 * RING_ENTRIES;
	e = io_uring_queue_init_params(RING_ENTRIES, &r->r_ring, &pr);
	if (e != 0) {
		r->r_err = e;
		return r;
	}
	ring_probe(r);
	/* A sparse table for the files (none on a kernel without one). */
	if (io_uring_register_files_sparse(&r->r_ring, RING_FILES) == 0) {
		unsigned i;

		for (i = 0; i < RING_FILES; i++)
			r->r_free[i] = (uint16_t)(RING_FILES - 1 - i);
		r->r_nfree = RING_FILES;
	}
	if ((e = kc_init(&r->r_flush, ring_flush_fn, r, ex, 0)) != 0 ||
	    (e = kc__engine_add(en, &r->r_src, r->r_ring.ring_fd,
	    EPOLLIN)) != 0) {
		io_uring_queue_exit(&r->r_ring);
		r->r_err = e;
		return r;
	}
	(void)kc__fd_own(r->r_ring.ring_fd);
	r->r_ok = true;
	return r;
}

struct kc__ring *
kc__ring_of(struct kc_executor *ex, int *err)
{
	struct kc__engine *en;
	struct kc__eio *io;
	struct kc__ring *r;

	if (ex == NULL || (en = kc__exec_engine(ex)) == NULL) {
		*err = -EINVAL;
		return NULL;
	}
	if ((io = kc__engine_io(en)) == NULL) {
		kc__mtx_lock(&ring_mtx);
		if ((io = kc__engine_io(en)) == NULL) {
			r = ring_make(ex, en);
			if (r != NULL && kc__engine_set_io(en, &r->r_io) == 0)
				io = &r->r_io;
		}
		kc__mtx_unlock(&ring_mtx);
		if (io == NULL) {
			*err = -ENOMEM;
			return NULL;
		}
	}
	r = (struct kc__ring *)(void *)io;
	if (!r->r_ok) {
		*err = r->r_err;
		return NULL;
	}
	return r;
}

bool
kc__ring_has_op(const struct kc__ring *r, unsigned op)
{
	return op < IORING_OP_LAST && (r->r_ops[op / 8] & (1u << (op % 8)));
}

struct io_uring_sqe *
kc__ring_sqe_quiet(struct kc__ring *r)
{
	struct io_uring_sqe *sqe;

	KC__ON_EXEC(r->r_ex);
	while ((sqe = io_uring_get_sqe(&r->r_ring)) == NULL) {
		/* Full: hand the queue over now, and reap to make room. */
		ring_submit(r);
		(void)ring_reap(r);
		if (io_uring_sq_space_left(&r->r_ring) == 0)
			(void)io_uring_submit_and_wait(&r->r_ring, 1);
	}
	r->r_inflight++;
	if (!r->r_flushing) {
		r->r_flushing = true;
		/* Behind what is queued now: their entries join this batch. */
		if (kc_defer(&r->r_flush, NULL, 0) != 0) {
			r->r_flushing = false;
			ring_submit(r);
		}
	}
	io_uring_sqe_set_data64(sqe, QUIET_TAG);
	return sqe;
}

struct io_uring_sqe *
kc__ring_sqe(struct kc__ring *r, kc__rcq_fn **cq)
{
	struct io_uring_sqe *sqe = kc__ring_sqe_quiet(r);

	KC__ASSERT(((uintptr_t)cq & QUIET_TAG) == 0 && *cq != NULL);
	io_uring_sqe_set_data64(sqe, kc__ring_ud(cq));
	return sqe;
}

int
kc__ring_file_add(struct kc__ring *r, int fd)
{
	unsigned slot;

	KC__ON_EXEC(r->r_ex);
	if (r->r_nfree == 0)
		return -1;
	slot = r->r_free[--r->r_nfree];
	if (io_uring_register_files_update(&r->r_ring, slot, &fd, 1) != 1) {
		r->r_free[r->r_nfree++] = (uint16_t)slot;
		return -1;
	}
	return (int)slot;
}

void
kc__ring_file_del(struct kc__ring *r, int slot)
{
	int none = -1;

	KC__ON_EXEC(r->r_ex);
	KC__ASSERT(slot >= 0 && (unsigned)slot < RING_FILES &&
	    r->r_nfree < RING_FILES);
	(void)io_uring_register_files_update(&r->r_ring, (unsigned)slot,
	    &none, 1);
	r->r_free[r->r_nfree++] = (uint16_t)slot;
}
