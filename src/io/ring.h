/*
 * ring.h: one io_uring per soft executor, for the file layer (file.c).
 * Nothing here is public.
 *
 * The ring is made on first use, from any thread, and attached to the
 * executor's engine (core/engine.h, struct kc__eio): its descriptor is one
 * of the engine's sources, so completions are reaped on the executor's own
 * thread, in its loop, with no hand-off.  Only that thread touches the
 * submission queue: it prepares entries as continuations ask, and a
 * continuation of the ring's own (r_flush), queued behind the work already
 * queued when the first entry of a batch is prepared, hands them all to the
 * kernel in one io_uring_enter(2).
 */
#ifndef KC_IO_RING_H
#define KC_IO_RING_H

#include <stdbool.h>
#include <stdint.h>

struct kc_executor;
struct kc__ring;
struct io_uring_sqe;

/*
 * An entry's completion: the entry's user data is the address of a
 * pointer to one of these, kept in the caller's request (for a file
 * request, fr_cq), and the ring calls it as (*cq)(cq, res) on the ring's
 * executor.  So the ring knows no layer above it: files, the block cache
 * and sendfile each give their own.
 */
typedef void kc__rcq_fn(void *cq, int res);

/*
 * ex's ring (made now if it has none): NULL if ex is not a soft executor
 * or io_uring cannot be had there (then *err says why: -ENOSYS, -EPERM,
 * -ENOMEM ...).  Any thread.
 */
struct kc__ring *kc__ring_of(struct kc_executor *ex, int *err);

/* Does the kernel know this IORING_OP_*?  Any thread. */
bool	kc__ring_has_op(const struct kc__ring *r, unsigned op);

/*
 * A submission entry whose completion goes to *cq (its user data set),
 * submitted at the end of the batch; counted in flight until its
 * completion has been given to *cq.  On the ring's executor only.  Never
 * NULL: a full queue is submitted first.  *cq must stay valid, and must
 * not change, until then.
 */
struct io_uring_sqe *kc__ring_sqe(struct kc__ring *r, kc__rcq_fn **cq);
/* As kc__ring_sqe(), for an entry whose completion is ignored (a cancel). */
struct io_uring_sqe *kc__ring_sqe_quiet(struct kc__ring *r);

/*
 * A slot for fd in the ring's table of registered files, or -1 (the table
 * is full, or the kernel has none).  An entry that names the slot
 * (IOSQE_FIXED_FILE) spares the kernel a descriptor lookup and a reference
 * taken and dropped per operation.  The table holds the file open until
 * the slot is given back, which kc__ring_file_del() does, and must do
 * before fd is closed.  On the ring's executor only.
 */
int	kc__ring_file_add(struct kc__ring *r, int fd);
void	kc__ring_file_del(struct kc__ring *r, int slot);

/* The user data that names cq, for a cancel of its entry. */
static inline unsigned long long
kc__ring_ud(kc__rcq_fn **cq)
{
	return (unsigned long long)(uintptr_t)cq;
}

#endif
