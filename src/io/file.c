/*
 * file.c: file operations whose completion runs a continuation
 * (kcont/io.h, kc_file(3)).
 *
 * A request goes one of two ways, chosen when it starts:
 *
 *   - the ring: on the file's owner, an entry is prepared on the owner's
 *     ring (ring.c) and the completion, reaped there, calls ring_done()
 *     (fr_cq); from another thread the request's own continuation
 *     (fr_work) carries it to the owner first;
 *   - the fallback: fr_work runs on the library's thread executor, which
 *     makes the blocking system call and completes the request there.
 *
 * The file's word (f_word) counts requests started and not completed, and
 * has a closing bit: kc_file_close() sets the bit, and whoever brings the
 * count to zero with the bit set (the close itself, or the last
 * completion) starts the close, exactly once.  A request's continuation is
 * triggered after its count is dropped, and nothing of the request or the
 * file is touched after the trigger: the continuation may free the request,
 * start another, or close the file.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <liburing.h>

#include <kcont/io.h>

#include "core/internal.h"
#include "core/lockdebug.h"
#include "io/file_int.h"
#include "io/ring.h"
#include "kqueue/kqapi.h"

#define FILE_MAGIC	0x6b6366696c65u	/* "kcfile" */
#define W_CLOSING	(1u << 31)
#define W_COUNT		(W_CLOSING - 1)

#define RW_MAX		0x7ffff000ul	/* the kernel's limit per call */
#define SLOT_UNSET	(-1)		/* f_slot: not asked for yet */
#define SLOT_NONE	(-2)		/* f_slot: the ring has none to give */
#define POOL_THREADS	4u

/*
 * fr_state.  On the ring, fr_work first carries the request to the owner
 * (until RQ_INRING), then, at most once, a cancel: a canceller sets
 * RQ_CQUEUED (only while the request is in the ring and its completion has
 * not begun) and triggers fr_work; a completion that finds RQ_CQUEUED set
 * leaves its result in fr_res (RQ_DONE) for fr_work to deliver, so that
 * the request outlives the cancel that names it.  Both run on the owner.
 */
#define RQ_IDLE		0u
#define RQ_BUSY		1u	/* started, not completed */
#define RQ_CANCEL	2u	/* a cancel was asked for */
#define RQ_INRING	4u	/* its entry is prepared (the ring) */
#define RQ_CQUEUED	8u	/* fr_work carries a cancel to the owner */
#define RQ_DONE		16u	/* completed while RQ_CQUEUED: fr_res */
#define RQ_ENDING	32u	/* its completion has begun */

enum op { OP_OPEN = 1, OP_READ, OP_WRITE, OP_READV, OP_WRITEV, OP_SYNC,
	OP_FALLOCATE, OP_STATX, OP_CLOSE,
	OP_READC,	/* OP_READ into a chain's room, committed at the end */
	OP_WRITEC	/* OP_WRITEV of a chain, KC_FILE_NIOV views at a time */
};

struct kc_file {
	uint64_t		 f_magic;
	int			 f_fd;
	unsigned		 f_flags;
	uint32_t		 f_word;	/* atomic: count, W_CLOSING */
	struct kc_executor	*f_ex;		/* owner */
	struct kc__ring		*f_ring;	/* NULL: the fallback */
	struct kc_file_req	*f_closerq;
	int			 f_slot;	/* in f_ring's table; owner's */
	char			 f_path[];	/* kc_file_open()'s, copied */
};

static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static struct kc_executor *pool;	/* the fallback's threads */
static int pool_err;
static bool force_fallback;		/* KCONT_IO_FALLBACK=1 */

static void
pool_make(void)
{
	const char *e = getenv("KCONT_IO_FALLBACK");

	force_fallback = e != NULL && strcmp(e, "1") == 0;
	pool_err = kc_executor_create(&pool, &(struct kc_executor_attr){
	    .kind = KC_EXEC_THREAD, .nthreads = POOL_THREADS,
	    .name = "kc-io" });
}

static struct kc_executor *
pool_get(void)
{
	(void)pthread_once(&pool_once, pool_make);
	return pool;
}

static bool
file_valid(const struct kc_file *f)
{
	return f != NULL && f->f_magic == (FILE_MAGIC ^ (uintptr_t)f);
}

/* Count a new request in; -EBADF once the file is closing. */
static int
file_enter(struct kc_file *f)
{
	uint32_t w = __atomic_load_n(&f->f_word, __ATOMIC_RELAXED);

	do {
		if (w & W_CLOSING)
			return -EBADF;
	} while (!__atomic_compare_exchange_n(&f->f_word, &w, w + 1, true,
	    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));
	return 0;
}

/* Count n requests out.  True: the caller must start the close. */
static bool
file_leave(struct kc_file *f, uint32_t n)
{
	uint32_t old = __atomic_fetch_sub(&f->f_word, n, __ATOMIC_ACQ_REL);

	KC__ASSERT((old & W_COUNT) >= n);
	return old == (W_CLOSING | n);
}

static void close_start(struct kc_file *f);
static void ring_done(void *cq, int res);
static void ring_prep(struct kc_file_req *rq);

/* The request is done: its continuation runs with res. */
static void
complete(struct kc_file_req *rq, int res)
{
	struct kc_file *f = rq->fr_file;
	struct kc *done = rq->fr_done;
	void *obj = f;
	bool closing;

	switch (rq->fr_op) {
	case OP_OPEN:
		if (res >= 0) {
			f->f_fd = res;
			res = 0;
		} else {
			obj = NULL;
		}
		break;
	case OP_READC:
		if (res > 0)
			(void)kc_chain_commit(rq->fr_chain, (size_t)res);
		break;
	case OP_WRITEC:
		/* What the earlier batches wrote counts, whatever this gave. */
		if (res >= 0)
			res += (int)rq->fr_moved;
		else if (rq->fr_moved > 0)
			res = (int)rq->fr_moved;
		break;
	}
	__atomic_store_n(&rq->fr_state, RQ_IDLE, __ATOMIC_RELEASE);
	if (obj == NULL) {
		/* A failed open: the file was never the caller's. */
		f->f_magic = 0;
		free(f);
		closing = false;
	} else {
		closing = file_leave(f, 1);
	}
	(void)kc_run(done, obj, res);
	if (closing)
		close_start(f);
}

/* ---- the ring ---------------------------------------------------- */

/* A chain write's next batch of views: fr_arg iovecs of fr_len bytes. */
static void
writec_fill(struct kc_file_req *rq)
{
	size_t bytes;

	rq->fr_arg = kc__chain_iov_next(rq->fr_chain, &rq->fr_cursor,
	    rq->fr_iov, KC_FILE_NIOV, &bytes);
	rq->fr_len = bytes;
}

/*
 * A chain write's batch gave res: true if another batch is due (the batch
 * was written whole, more is left, no cancel asked for), filled in.
 */
static bool
writec_more(struct kc_file_req *rq, int res)
{
	if (res < 0 || (uint64_t)res != rq->fr_len ||
	    rq->fr_moved + (uint64_t)res >= kc_chain_len(rq->fr_chain) ||
	    (__atomic_load_n(&rq->fr_state, __ATOMIC_ACQUIRE) & RQ_CANCEL))
		return false;
	rq->fr_moved += (uint64_t)res;
	writec_fill(rq);
	return true;
}

static unsigned
ring_op(int op)
{
	switch (op) {
	case OP_OPEN:		return IORING_OP_OPENAT;
	case OP_READ:
	case OP_READC:		return IORING_OP_READ;
	case OP_WRITE:		return IORING_OP_WRITE;
	case OP_READV:		return IORING_OP_READV;
	case OP_WRITEV:
	case OP_WRITEC:		return IORING_OP_WRITEV;
	case OP_SYNC:		return IORING_OP_FSYNC;
	case OP_FALLOCATE:	return IORING_OP_FALLOCATE;
	case OP_STATX:		return IORING_OP_STATX;
	default:		return IORING_OP_LAST;
	}
}

/*
 * Name the file by its slot in the ring's table of registered files,
 * asked for on the file's first operation there, when it has one.
 */
static void
ring_fixed(struct kc_file *f, struct io_uring_sqe *sqe)
{
	if (f->f_slot == SLOT_UNSET) {
		f->f_slot = kc__ring_file_add(f->f_ring, f->f_fd);
		if (f->f_slot < 0)
			f->f_slot = SLOT_NONE;
	}
	if (f->f_slot >= 0) {
		sqe->fd = f->f_slot;
		sqe->flags |= IOSQE_FIXED_FILE;
	}
}

/* Prepare rq's entry; on the owner. */
static void
ring_start(struct kc_file_req *rq)
{
	uint32_t st = __atomic_load_n(&rq->fr_state, __ATOMIC_ACQUIRE);

	KC__ON_EXEC(rq->fr_file->f_ex);
	do {
		if (st & RQ_CANCEL) {
			/* Cancelled before it reached the ring. */
			complete(rq, -ECANCELED);
			return;
		}
	} while (!__atomic_compare_exchange_n(&rq->fr_state, &st,
	    st | RQ_INRING, true, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
	ring_prep(rq);
}

/* Prepare rq's entry (again, for a chain write's next batch). */
static void
ring_prep(struct kc_file_req *rq)
{
	struct kc_file *f = rq->fr_file;
	struct io_uring_sqe *sqe;

	rq->fr_cq = ring_done;
	sqe = kc__ring_sqe(f->f_ring, &rq->fr_cq);
	switch (rq->fr_op) {
	case OP_OPEN:
		io_uring_prep_openat(sqe, (int)rq->fr_off, f->f_path,
		    rq->fr_arg | O_CLOEXEC, (mode_t)rq->fr_len);
		break;
	case OP_READ:
	case OP_READC:
		io_uring_prep_read(sqe, f->f_fd, rq->fr_u.buf,
		    (unsigned)rq->fr_len, rq->fr_off);
		break;
	case OP_WRITE:
		io_uring_prep_write(sqe, f->f_fd, rq->fr_u.cbuf,
		    (unsigned)rq->fr_len, rq->fr_off);
		break;
	case OP_READV:
		io_uring_prep_readv(sqe, f->f_fd, rq->fr_u.iov,
		    (unsigned)rq->fr_arg, rq->fr_off);
		break;
	case OP_WRITEV:
		io_uring_prep_writev(sqe, f->f_fd, rq->fr_u.iov,
		    (unsigned)rq->fr_arg, rq->fr_off);
		break;
	case OP_WRITEC:
		io_uring_prep_writev(sqe, f->f_fd, rq->fr_iov,
		    (unsigned)rq->fr_arg, rq->fr_off + rq->fr_moved);
		break;
	case OP_SYNC:
		io_uring_prep_fsync(sqe, f->f_fd,
		    (rq->fr_arg & KC_FILE_DATASYNC) ? IORING_FSYNC_DATASYNC : 0);
		break;
	case OP_FALLOCATE:
		io_uring_prep_fallocate(sqe, f->f_fd, rq->fr_arg, rq->fr_off,
		    rq->fr_len);
		break;
	case OP_STATX:
		io_uring_prep_statx(sqe, f->f_fd, "", AT_EMPTY_PATH,
		    (unsigned)rq->fr_arg, rq->fr_u.stx);
		break;
	}
	/* statx takes a descriptor, never a slot; an open has neither. */
	if (rq->fr_op != OP_OPEN && rq->fr_op != OP_STATX)
		ring_fixed(f, sqe);
}

/* The ring's completion of rq's entry (fr_cq); on the owner. */
static void
ring_done(void *cq, int res)
{
	struct kc_file_req *rq = (struct kc_file_req *)(void *)
	    ((char *)cq - offsetof(struct kc_file_req, fr_cq));
	uint32_t st;

	if (rq->fr_op == OP_WRITEC && writec_more(rq, res)) {
		/* A cancel asked from now on names the next batch's entry. */
		ring_prep(rq);
		return;
	}
	st = __atomic_load_n(&rq->fr_state, __ATOMIC_ACQUIRE);

	do {
		if (st & RQ_CQUEUED) {
			/* A cancel is on its way: it delivers this. */
			rq->fr_res = res;
			__atomic_or_fetch(&rq->fr_state, RQ_DONE,
			    __ATOMIC_RELEASE);
			return;
		}
	} while (!__atomic_compare_exchange_n(&rq->fr_state, &st,
	    st | RQ_ENDING, true, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
	complete(rq, res);
}

/*
 * fr_work on the owner: the request came from another thread (not yet in
 * the ring), or a cancel for it (in the ring).
 */
static void
ring_work_fn(void *obj, void *env, int status)
{
	struct kc_file_req *rq = env;
	struct io_uring_sqe *sqe;
	uint32_t st = __atomic_load_n(&rq->fr_state, __ATOMIC_ACQUIRE);

	(void)obj;
	(void)status;
	if ((st & RQ_INRING) == 0) {
		ring_start(rq);
		return;
	}
	KC__ASSERT(st & RQ_CQUEUED);
	if (st & RQ_DONE) {
		complete(rq, rq->fr_res);
		return;
	}
	sqe = kc__ring_sqe_quiet(rq->fr_file->f_ring);
	io_uring_prep_cancel64(sqe, kc__ring_ud(&rq->fr_cq), 0);
	/* The owner's: no completion can come between these. */
	__atomic_and_fetch(&rq->fr_state, ~RQ_CQUEUED, __ATOMIC_RELEASE);
}

/* ---- the fallback ------------------------------------------------ */

static int
sys_result(ssize_t n)
{
	return n < 0 ? -errno : (int)n;
}

/*
 * The offset is ignored where the descriptor has none (a pipe, a socket, a
 * character device), as io_uring does: pread(2) there is ESPIPE.
 */
static ssize_t
xfer(const struct kc_file_req *rq, int fd)
{
	off_t off = (off_t)rq->fr_off;
	ssize_t n;
	int i;

	for (i = 0; i < 2; i++) {
		switch (rq->fr_op) {
		case OP_READ:
		case OP_READC:
			n = i ? read(fd, rq->fr_u.buf, rq->fr_len) :
			    pread(fd, rq->fr_u.buf, rq->fr_len, off);
			break;
		case OP_WRITE:
			n = i ? write(fd, rq->fr_u.cbuf, rq->fr_len) :
			    pwrite(fd, rq->fr_u.cbuf, rq->fr_len, off);
			break;
		case OP_READV:
			n = i ? readv(fd, rq->fr_u.iov, rq->fr_arg) :
			    preadv(fd, rq->fr_u.iov, rq->fr_arg, off);
			break;
		case OP_WRITEC:
			n = i ? writev(fd, rq->fr_iov, rq->fr_arg) :
			    pwritev(fd, rq->fr_iov, rq->fr_arg,
			    off + (off_t)rq->fr_moved);
			break;
		default:
			n = i ? writev(fd, rq->fr_u.iov, rq->fr_arg) :
			    pwritev(fd, rq->fr_u.iov, rq->fr_arg, off);
			break;
		}
		if (n >= 0 || errno != ESPIPE)
			break;
	}
	return n;
}

/* fr_work on the pool: the blocking call, then the completion. */
static void
fallback_fn(void *obj, void *env, int status)
{
	struct kc_file_req *rq = env;
	struct kc_file *f = rq->fr_file;
	int res;

	(void)obj;
	(void)status;
	if (__atomic_load_n(&rq->fr_state, __ATOMIC_ACQUIRE) & RQ_CANCEL) {
		complete(rq, -ECANCELED);
		return;
	}
	switch (rq->fr_op) {
	case OP_OPEN:
		res = sys_result(openat((int)rq->fr_off, f->f_path,
		    rq->fr_arg | O_CLOEXEC, (mode_t)rq->fr_len));
		break;
	case OP_READ:
	case OP_WRITE:
	case OP_READV:
	case OP_WRITEV:
	case OP_READC:
		res = sys_result(xfer(rq, f->f_fd));
		break;
	case OP_WRITEC:
		do {
			res = sys_result(xfer(rq, f->f_fd));
		} while (writec_more(rq, res));
		break;
	case OP_SYNC:
		res = sys_result((rq->fr_arg & KC_FILE_DATASYNC) ?
		    fdatasync(f->f_fd) : fsync(f->f_fd));
		break;
	case OP_FALLOCATE:
		res = sys_result(fallocate(f->f_fd, rq->fr_arg,
		    (off_t)rq->fr_off, (off_t)rq->fr_len));
		break;
	case OP_STATX:
		res = sys_result(statx(f->f_fd, "", AT_EMPTY_PATH,
		    (unsigned)rq->fr_arg, rq->fr_u.stx));
		break;
	default:
		res = -EINVAL;
	}
	complete(rq, res);
}

/* ---- starting a request ------------------------------------------ */

static bool
on_owner(const struct kc_file *f)
{
	struct kc__runner *r = kc__self;

	return r != NULL && r->r_exec == f->f_ex;
}

/*
 * Start rq (filled in, counted in the file, RQ_BUSY).  0, or -ESHUTDOWN /
 * -ENOMEM with the request undone.
 */
static int
start(struct kc_file_req *rq)
{
	struct kc_file *f = rq->fr_file;
	int e;

	if (f->f_ring != NULL && kc__ring_has_op(f->f_ring,
	    ring_op(rq->fr_op))) {
		/* Also what a cancel of it will use. */
		e = kc_init(&rq->fr_work, ring_work_fn, rq, f->f_ex, 0);
		if (e == 0 && on_owner(f)) {
			ring_start(rq);
			return 0;
		}
	} else {
		struct kc_executor *p = pool_get();

		e = p != NULL ? kc_init(&rq->fr_work, fallback_fn, rq, p, 0) :
		    pool_err;
	}
	if (e == 0)
		e = kc_run(&rq->fr_work, NULL, 0);
	return e;
}

/* Claim rq and count it in f; fill the common fields. */
static int
claim(struct kc_file_req *rq, struct kc_file *f, int op, struct kc *done)
{
	uint32_t idle = RQ_IDLE;
	int e;

	if (rq == NULL || done == NULL || !file_valid(f))
		return -EINVAL;
	if (!__atomic_compare_exchange_n(&rq->fr_state, &idle, RQ_BUSY, false,
	    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		return -EBUSY;
	if ((e = file_enter(f)) != 0) {
		__atomic_store_n(&rq->fr_state, RQ_IDLE, __ATOMIC_RELEASE);
		return e;
	}
	rq->fr_file = f;
	rq->fr_done = done;
	rq->fr_op = op;
	rq->fr_res = 0;
	return 0;
}

/* start(), and undo the claim if it could not. */
static int
launch(struct kc_file_req *rq)
{
	struct kc_file *f = rq->fr_file;
	int e = start(rq);

	if (e != 0) {
		__atomic_store_n(&rq->fr_state, RQ_IDLE, __ATOMIC_RELEASE);
		if (file_leave(f, 1))
			close_start(f);
	}
	return e;
}

static struct kc_file *
file_new(struct kc_executor *ex, unsigned fflags, size_t pathlen, int *err)
{
	struct kc_file *f;
	int e;

	if (!kc__exec_soft(ex)) {
		*err = -EINVAL;
		return NULL;
	}
	if ((f = calloc(1, sizeof(*f) + pathlen + 1)) == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	f->f_magic = FILE_MAGIC ^ (uintptr_t)f;
	f->f_fd = -1;
	f->f_flags = fflags;
	f->f_ex = ex;
	f->f_slot = SLOT_UNSET;
	(void)pthread_once(&pool_once, pool_make);
	if ((fflags & KC_FILE_FALLBACK) == 0 && !force_fallback)
		f->f_ring = kc__ring_of(ex, &e);
	return f;
}

int
kc_file_open(struct kc_file_req *rq, struct kc_executor *ex, int dirfd,
    const char *path, int flags, mode_t mode, unsigned fflags,
    struct kc *done)
{
	struct kc_file *f;
	size_t len;
	int e;

	if (rq == NULL || path == NULL || done == NULL || ex == NULL ||
	    (fflags & ~KC_FILE_FALLBACK) != 0)
		return -EINVAL;
	if ((len = strnlen(path, PATH_MAX)) == PATH_MAX)
		return -ENAMETOOLONG;
	if (kc__exec_closed(ex))
		return -ESHUTDOWN;
	if ((f = file_new(ex, fflags, len, &e)) == NULL)
		return e;
	memcpy(f->f_path, path, len + 1);
	if ((e = claim(rq, f, OP_OPEN, done)) != 0) {
		free(f);
		return e;
	}
	rq->fr_off = (uint64_t)(int64_t)dirfd;
	rq->fr_arg = flags;
	rq->fr_len = mode;
	if ((e = start(rq)) != 0) {
		__atomic_store_n(&rq->fr_state, RQ_IDLE, __ATOMIC_RELEASE);
		f->f_magic = 0;
		free(f);
	}
	return e;
}

int
kc_file_adopt(struct kc_file **fp, struct kc_executor *ex, int fd,
    unsigned fflags)
{
	struct kc_file *f;
	int e;

	if (fp == NULL || ex == NULL || (fflags & ~KC_FILE_FALLBACK) != 0)
		return -EINVAL;
	if (fd < 0 || fcntl(fd, F_GETFD) < 0)
		return -EBADF;
	if ((f = file_new(ex, fflags, 0, &e)) == NULL)
		return e;
	f->f_fd = fd;
	*fp = f;
	return 0;
}

int
kc__file_fd(const struct kc_file *f)
{
	if (!file_valid(f) ||
	    (__atomic_load_n(&f->f_word, __ATOMIC_ACQUIRE) & W_CLOSING))
		return -EBADF;
	return f->f_fd;
}

int
kc_file_fd(const struct kc_file *f)
{
	return kc__file_fd(f);
}

int
kc__file_hold(struct kc_file *f)
{
	return file_valid(f) ? file_enter(f) : -EINVAL;
}

void
kc__file_release(struct kc_file *f)
{
	if (file_leave(f, 1))
		close_start(f);
}

struct kc_executor *
kc__file_owner(const struct kc_file *f)
{
	return file_valid(f) ? f->f_ex : NULL;
}

struct kc__ring *
kc__file_ring(const struct kc_file *f)
{
	return file_valid(f) ? f->f_ring : NULL;
}

int
kc__file_rw(struct kc_file_req *rq, struct kc_file *f, bool write,
    const void *buf, size_t len, uint64_t off, struct kc *done)
{
	int e;

	if (buf == NULL && len > 0)
		return -EINVAL;
	if (len > RW_MAX || off > (uint64_t)INT64_MAX)
		return -EINVAL;
	if ((e = claim(rq, f, write ? OP_WRITE : OP_READ, done)) != 0)
		return e;
	rq->fr_u.cbuf = buf;
	rq->fr_len = len;
	rq->fr_off = off;
	return launch(rq);
}

int
kc_file_read(struct kc_file_req *rq, struct kc_file *f, void *buf, size_t len,
    uint64_t off, struct kc *done)
{
	return kc__file_rw(rq, f, false, buf, len, off, done);
}

int
kc_file_write(struct kc_file_req *rq, struct kc_file *f, const void *buf,
    size_t len, uint64_t off, struct kc *done)
{
	return kc__file_rw(rq, f, true, buf, len, off, done);
}

static int
rwv(struct kc_file_req *rq, struct kc_file *f, int op,
    const struct iovec *iov, int iovcnt, uint64_t off, struct kc *done)
{
	int e;

	if (iov == NULL || iovcnt < 1 || iovcnt > IOV_MAX ||
	    off > (uint64_t)INT64_MAX)
		return -EINVAL;
	if ((e = claim(rq, f, op, done)) != 0)
		return e;
	rq->fr_u.iov = iov;
	rq->fr_arg = iovcnt;
	rq->fr_off = off;
	return launch(rq);
}

int
kc_file_readv(struct kc_file_req *rq, struct kc_file *f,
    const struct iovec *iov, int iovcnt, uint64_t off, struct kc *done)
{
	return rwv(rq, f, OP_READV, iov, iovcnt, off, done);
}

int
kc_file_writev(struct kc_file_req *rq, struct kc_file *f,
    const struct iovec *iov, int iovcnt, uint64_t off, struct kc *done)
{
	return rwv(rq, f, OP_WRITEV, iov, iovcnt, off, done);
}

int
kc__file_sync(struct kc_file_req *rq, struct kc_file *f, unsigned flags,
    struct kc *done)
{
	int e;

	if ((flags & ~KC_FILE_DATASYNC) != 0)
		return -EINVAL;
	if ((e = claim(rq, f, OP_SYNC, done)) != 0)
		return e;
	rq->fr_arg = (int)flags;
	return launch(rq);
}

int
kc_file_read_chain(struct kc_file_req *rq, struct kc_file *f,
    struct kc_chain *into, size_t len, uint64_t off, struct kc *done)
{
	struct iovec room;
	int e;

	if (into == NULL || len == 0 ||
	    off > (uint64_t)INT64_MAX)
		return -EINVAL;
	/* Taken before the claim: a failure leaves nothing to undo. */
	if ((e = kc_chain_room(into, len, &room)) != 0)
		return e;
	if ((e = claim(rq, f, OP_READC, done)) != 0)
		return e;
	rq->fr_chain = into;
	rq->fr_u.buf = room.iov_base;
	rq->fr_len = len;
	rq->fr_off = off;
	return launch(rq);
}

int
kc_file_write_chain(struct kc_file_req *rq, struct kc_file *f,
    const struct kc_chain *from, uint64_t off, struct kc *done)
{
	int e;

	if (from == NULL || kc_chain_len(from) > RW_MAX ||
	    off > (uint64_t)INT64_MAX)
		return -EINVAL;
	if ((e = claim(rq, f, OP_WRITEC, done)) != 0)
		return e;
	/* Unchanged: only read, through the iovecs. */
	rq->fr_chain = (struct kc_chain *)(uintptr_t)from;
	rq->fr_cursor = NULL;
	rq->fr_moved = 0;
	rq->fr_off = off;
	writec_fill(rq);
	return launch(rq);
}

int
kc_file_sync(struct kc_file_req *rq, struct kc_file *f, unsigned flags,
    struct kc *done)
{
	return kc__file_sync(rq, f, flags, done);
}

int
kc_file_fallocate(struct kc_file_req *rq, struct kc_file *f, int mode,
    uint64_t off, uint64_t len, struct kc *done)
{
	int e;

	if (off > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX)
		return -EINVAL;
	if ((e = claim(rq, f, OP_FALLOCATE, done)) != 0)
		return e;
	rq->fr_arg = mode;
	rq->fr_off = off;
	rq->fr_len = len;
	return launch(rq);
}

int
kc_file_statx(struct kc_file_req *rq, struct kc_file *f, unsigned mask,
    struct statx *stx, struct kc *done)
{
	int e;

	if (stx == NULL)
		return -EINVAL;
	if ((e = claim(rq, f, OP_STATX, done)) != 0)
		return e;
	rq->fr_u.stx = stx;
	rq->fr_arg = (int)mask;
	return launch(rq);
}

int
kc_file_cancel(struct kc_file_req *rq)
{
	uint32_t st, want;

	if (rq == NULL)
		return -EINVAL;
	st = __atomic_load_n(&rq->fr_state, __ATOMIC_ACQUIRE);
	do {
		if ((st & RQ_BUSY) == 0 || (st & RQ_ENDING))
			return -ENOENT;
		if (st & RQ_CANCEL)
			return 0;
		want = st | RQ_CANCEL;
		/*
		 * In the ring (and not an open: its file is freed if it
		 * fails, so nothing may wait on the file for it), the owner
		 * sends the cancel; before, the flag stops it.
		 */
		if ((st & RQ_INRING) && rq->fr_op != OP_OPEN)
			want |= RQ_CQUEUED;
	} while (!__atomic_compare_exchange_n(&rq->fr_state, &st, want, true,
	    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
	if (want & RQ_CQUEUED) {
		/* The request waits for this run before it completes. */
		(void)kc_run(&rq->fr_work, NULL, 0);
		return 0;
	}
	/*
	 * Not in the ring yet, or the fallback: a request whose fr_work is
	 * still queued (for the owner or the pool) is taken off and completes
	 * here; one being started sees the flag before its entry or its
	 * system call, or finishes.
	 */
	if (kc_cancel(&rq->fr_work) > 0)
		complete(rq, -ECANCELED);
	return 0;
}

/* ---- closing ----------------------------------------------------- */

/* On the owner or the pool: close the descriptor, free, then done. */
static void
close_fn(void *obj, void *env, int status)
{
	struct kc_file *f = env;
	struct kc_file_req *rq = f->f_closerq;
	struct kc *done = rq->fr_done;
	uintptr_t name = (uintptr_t)f;
	int res = 0;

	(void)obj;
	(void)status;
	/*
	 * The ring's table lets the file go first.  Off the owner (it has
	 * shut down) the ring is gone, or going with its table.
	 */
	if (f->f_slot >= 0 && on_owner(f))
		kc__ring_file_del(f->f_ring, f->f_slot);
	if (f->f_fd >= 0 && kc__close(f->f_fd) != 0)
		res = -errno;
	f->f_magic = 0;
	free(f);
	__atomic_store_n(&rq->fr_state, RQ_IDLE, __ATOMIC_RELEASE);
	kc__close_done_status(done, name, res);
}

/* Every request has completed and the file is closing: close it. */
static void
close_start(struct kc_file *f)
{
	struct kc_file_req *rq = f->f_closerq;
	struct kc_executor *ex = f->f_ring != NULL ? f->f_ex : pool_get();

	/*
	 * On the owner (whose ring is idle for this file) or the pool, so
	 * that a slow close never runs on whoever completed last.
	 */
	if (ex == NULL || kc_init(&rq->fr_work, close_fn, f, ex, 0) != 0 ||
	    kc_run(&rq->fr_work, NULL, 0) != 0)
		close_fn(NULL, f, 0);	/* no executor left: here */
}

int
kc_file_close(struct kc_file *f, struct kc_file_req *rq, struct kc *done)
{
	struct kc_file_req *none = NULL;
	uint32_t idle = RQ_IDLE, old;

	if (rq == NULL || !file_valid(f))
		return -EINVAL;
	if (!__atomic_compare_exchange_n(&rq->fr_state, &idle, RQ_BUSY, false,
	    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		return -EBUSY;
	rq->fr_op = OP_CLOSE;
	rq->fr_done = done;
	rq->fr_file = f;
	/* The first close names its request, before the bit is set. */
	if (!__atomic_compare_exchange_n(&f->f_closerq, &none, rq, false,
	    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
		__atomic_store_n(&rq->fr_state, RQ_IDLE, __ATOMIC_RELEASE);
		return -EBADF;
	}
	old = __atomic_fetch_or(&f->f_word, W_CLOSING, __ATOMIC_ACQ_REL);
	if ((old & W_COUNT) == 0)
		close_start(f);
	return 0;
}

int
kc_file_uring(const struct kc_file *f)
{
	if (!file_valid(f))
		return -EINVAL;
	return f->f_ring != NULL;
}
