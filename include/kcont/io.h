/*
 * kcont/io.h: file I/O whose completion runs a continuation (kc_file(3)).
 *
 * Seed 001's case for kcont: a file server whose disk completions run
 * continuations, with no thread woken per operation.  A kc_file is a
 * descriptor bound to one soft executor, its owner, whose io_uring ring
 * (one per soft executor, made on first use) carries the file's
 * operations; the ring's completions are reaped by the owner's own event
 * engine, and each runs the operation's continuation by kc_run()'s rule
 * (inline when the continuation belongs to the owner, queued on its own
 * executor otherwise).  Operations asked for while a continuation runs on
 * the owner go to the kernel together, in one system call, when the owner
 * comes back to its loop.
 *
 * Where io_uring cannot be had (ENOSYS, EPERM under seccomp, an opcode the
 * kernel lacks), the same calls work through the blocking fallback: a
 * thread executor of the library's ("kc-io", 4 threads) performs the
 * system call and triggers the continuation.  KC_FILE_FALLBACK (or the
 * environment variable KCONT_IO_FALLBACK=1) forces it.
 *
 * Requests.  Every operation takes a struct kc_file_req: the caller's
 * storage, with every field private, that the library uses from the call
 * until the operation's continuation is triggered (so that submitting
 * allocates nothing).  It may be reused, or freed, from that continuation
 * on.  The memory the operation reads or writes (buffers, iovecs, struct
 * statx) is the caller's and must stay valid until then as well.
 *
 * The continuation gets obj = the kc_file (for kc_file_open: the new file,
 * or NULL on failure) and status = the result: bytes moved (a short read at
 * end of file, or a partial write, is reported as it happened, never
 * retried behind the caller's back), 0, or -errno.
 *
 * Threads.  Any thread may call any function here.  Calls made on the
 * owner go to its ring at once; calls from elsewhere are handed to the
 * owner (a continuation, embedded in the request: no allocation).
 *
 * Lifetime (the library's one rule): kc_file_close(f, rq, done) never
 * waits and never fails for operations in flight: they complete (their
 * continuations run), then the descriptor is closed and the file freed,
 * then done runs with obj = the file's old address (a name only) and the
 * close's status.  After kc_file_close() no new operation may be started
 * on f (-EBADF while the memory lasts).
 */
#ifndef KCONT_IO_H
#define KCONT_IO_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <kcont/buf.h>
#include <kcont/kc.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kc_file;
struct statx;

/* kc_file_open() / kc_file_adopt() flags */
#define KC_FILE_FALLBACK	0x0001u	/* never io_uring: the blocking path */

/* Private: iovecs a chain write hands the kernel per system call. */
#define KC_FILE_NIOV		8

/* The caller's storage for one operation.  Every field is private. */
struct kc_file_req {
	struct kc	 fr_work;	/* hand-off to the owner or the pool */
	void		(*fr_cq)(void *, int);	/* the ring's completion */
	struct kc	*fr_done;
	struct kc_file	*fr_file;
	union {
		void		*buf;
		const void	*cbuf;
		const struct iovec *iov;
		struct statx	*stx;
	}		 fr_u;
	struct kc_chain	*fr_chain;	/* a chain read's or write's */
	const void	*fr_cursor;	/* a chain write's next view */
	uint64_t	 fr_moved;	/* a chain write's bytes so far */
	struct iovec	 fr_iov[KC_FILE_NIOV];
	uint64_t	 fr_off;
	uint64_t	 fr_len;
	int		 fr_op;
	int		 fr_arg;	/* flags, mode, iovcnt */
	int		 fr_res;
	uint32_t	 fr_state;	/* atomic */
};

/*
 * Open path (relative to dirfd, or AT_FDCWD) with open(2)'s flags (O_CLOEXEC
 * is always added) and mode, as a file owned by ex (a soft executor).  The
 * path is copied.  done gets obj = the new kc_file and status 0, or obj
 * NULL and -errno.  Errors at once: -EINVAL (ex not a soft executor, rq,
 * path or done NULL, unknown flags), -ENAMETOOLONG, -ENOMEM, -ESHUTDOWN.
 */
KC_EXPORT int	kc_file_open(struct kc_file_req *rq, struct kc_executor *ex,
		    int dirfd, const char *path, int flags, mode_t mode,
		    unsigned fflags, struct kc *done);

/*
 * Make a kc_file of a descriptor the caller has (it is the file's from now
 * on, closed by kc_file_close()).  0, -EINVAL, -EBADF, -ENOMEM.
 */
KC_EXPORT int	kc_file_adopt(struct kc_file **fp, struct kc_executor *ex,
		    int fd, unsigned fflags);

/* The descriptor (still the file's), or -EBADF after kc_file_close(). */
KC_EXPORT int	kc_file_fd(const struct kc_file *f);

/*
 * pread/pwrite at off into/from caller memory.  len is at most 2 GiB - 4
 * KiB per call (the kernel's limit); more is -EINVAL.  Errors at once:
 * -EINVAL (a NULL argument), -EBADF (the file is closing), -EBUSY (rq in
 * use), -ESHUTDOWN (the owner has shut down); every other error reaches
 * done.
 */
KC_EXPORT int	kc_file_read(struct kc_file_req *rq, struct kc_file *f,
		    void *buf, size_t len, uint64_t off, struct kc *done);
KC_EXPORT int	kc_file_write(struct kc_file_req *rq, struct kc_file *f,
		    const void *buf, size_t len, uint64_t off, struct kc *done);
/* preadv/pwritev: iov[0..iovcnt-1] (1 to IOV_MAX) stays the caller's. */
KC_EXPORT int	kc_file_readv(struct kc_file_req *rq, struct kc_file *f,
		    const struct iovec *iov, int iovcnt, uint64_t off,
		    struct kc *done);
KC_EXPORT int	kc_file_writev(struct kc_file_req *rq, struct kc_file *f,
		    const struct iovec *iov, int iovcnt, uint64_t off,
		    struct kc *done);

/*
 * Buffer chains (kcont/buf.h).  The chain is the library's from the call
 * until done runs: the caller must not touch it meanwhile.
 *
 * kc_file_read_chain: read up to len bytes at off into the end of into, in
 * one read into the chain's room (kc_chain_room(); a room of len bytes
 * taken beforehand means the call allocates nothing).  The bytes read are
 * added to the chain before done runs; status: the bytes read (short at
 * end of file, 0 past it) or -errno (nothing added).  len: 1 to 1 GiB.
 *
 * kc_file_write_chain: write all of from at off; from is unchanged (drop
 * what was written with kc_chain_drop()).  The chain's views go to the
 * kernel KC_FILE_NIOV at a time, each batch when the one before was written
 * whole; status: the bytes written, fewer than the chain's length when a
 * write was short or failed after some bytes (what the file took, as
 * write(2) reports it; the rest was not tried), or -errno when nothing
 * was written.  The chain: at most 2 GiB - 4 KiB.
 */
KC_EXPORT int	kc_file_read_chain(struct kc_file_req *rq, struct kc_file *f,
		    struct kc_chain *into, size_t len, uint64_t off,
		    struct kc *done);
KC_EXPORT int	kc_file_write_chain(struct kc_file_req *rq, struct kc_file *f,
		    const struct kc_chain *from, uint64_t off, struct kc *done);

/* fsync, or fdatasync with KC_FILE_DATASYNC. */
#define KC_FILE_DATASYNC	0x0001u
KC_EXPORT int	kc_file_sync(struct kc_file_req *rq, struct kc_file *f,
		    unsigned flags, struct kc *done);

/* fallocate(2): mode FALLOC_FL_* (FALLOC_FL_PUNCH_HOLE | _KEEP_SIZE ...). */
KC_EXPORT int	kc_file_fallocate(struct kc_file_req *rq, struct kc_file *f,
		    int mode, uint64_t off, uint64_t len, struct kc *done);

/* statx(2) of the file itself (AT_EMPTY_PATH) into *stx, fields mask. */
KC_EXPORT int	kc_file_statx(struct kc_file_req *rq, struct kc_file *f,
		    unsigned mask, struct statx *stx, struct kc *done);

/*
 * Ask for rq's operation to stop.  Any thread.  0: asked (the operation's
 * continuation still runs once: -ECANCELED if it was stopped in time, its
 * result otherwise); -ENOENT: rq is not in flight (finished, or never
 * started).  A read or write the kernel has begun may finish anyway.
 */
KC_EXPORT int	kc_file_cancel(struct kc_file_req *rq);

/*
 * Close f, after every operation in flight has completed (see above).
 * rq is the close's own storage; done (may be NULL) gets obj = the file's
 * old address and the close's status.  -EINVAL, -EBADF (closed already).
 */
KC_EXPORT int	kc_file_close(struct kc_file *f, struct kc_file_req *rq,
		    struct kc *done);

/*
 * Does f's I/O go through its owner's io_uring (1) or the fallback (0)?
 * -EINVAL.
 */
KC_EXPORT int	kc_file_uring(const struct kc_file *f);

#ifdef __cplusplus
}
#endif

#endif /* KCONT_IO_H */
