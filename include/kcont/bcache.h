/*
 * kcont/bcache.h: a block cache over a kc_file whose waiters are
 * continuations chained on the block (kc_bcache(3)).
 *
 * Seed 001's struct buf: a block being read carries the queue of the
 * continuations waiting for it (a kc_queue); a second reader of the block
 * while its read is in flight joins that queue instead of reading again,
 * and when the read completes the queue is fired (kc_run_all()): every
 * waiter runs, with the block or the read's error.
 *
 * A cache has a fixed block size (a power of two, 512 B to 1 MiB) and a
 * fixed number of blocks, all allocated by kc_bcache_create(): its memory
 * is bounded and a hit allocates nothing.  Blocks that are clean and
 * unreferenced are reused least recently released first (LRU).  Writes are
 * copied into blocks and written back by kc_bcache_flush() (then the file
 * is synced), by kc_bcache_destroy(), or one at a time when a block is
 * needed and only dirty ones could be reused.  A request that needs a
 * block while every block is referenced or has I/O in flight waits (it
 * does not fail) until one is released.
 *
 * Threads.  A cache belongs to its file's owner (a soft executor), and
 * every call but kc_bcache_create() is made on that executor's thread (in
 * a continuation of it): -EPERM otherwise.  Continuations are triggered
 * by kc_run()'s rule, inline when they belong to the owner (possibly
 * before the call that started them returns), queued on their own
 * executor otherwise.
 *
 * Memory ownership
 *   - The cache is allocated by kc_bcache_create() and freed by
 *     kc_bcache_destroy(), after which its done runs.  The file stays the
 *     caller's, but its close waits until the cache is destroyed.
 *   - struct kc_bcache_req is the caller's storage for one operation,
 *     used by the library from the call until its done is triggered, and,
 *     for a get that succeeded, until kc_bcache_put(): the request holds
 *     the reference.  It may be freed or reused after that.
 *   - A get's block data (br_data) is the cache's: read it, never write
 *     it, and never after kc_bcache_put().  While any request holds the
 *     block, its bytes do not change (a write to it waits).
 *   - A write's source bytes are the caller's and must stay valid until
 *     its done runs.
 */
#ifndef KCONT_BCACHE_H
#define KCONT_BCACHE_H

#include <stddef.h>
#include <stdint.h>

#include <kcont/kc.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kc_bcache;
struct kc_file;
struct kc__bblk;

#define KC_BCACHE_BSIZE_MIN	512u
#define KC_BCACHE_BSIZE_MAX	(1u << 20)
#define KC_BCACHE_NBLOCKS_MAX	(1u << 20)

/*
 * The caller's storage for one operation.  After a get's done has run
 * with status 0, and until kc_bcache_put(), the first three fields say
 * what the request holds; every other field is private.
 */
struct kc_bcache_req {
	const uint8_t		*br_data;	/* the block: block size bytes */
	uint32_t		 br_valid;	/* bytes of the file in it */
	uint64_t		 br_blockno;
	/* private */
	struct kc		 br_wait;	/* on a block's or the cache's queue */
	struct kc		*br_done;
	struct kc_bcache	*br_cache;
	struct kc__bblk		*br_blk;
	struct kc_bcache_req	*br_next;	/* a flush round's members */
	const void		*br_src;
	uint32_t		 br_off;
	uint32_t		 br_len;
	int			 br_op;
	uint32_t		 br_flags;
};

struct kc_bcache_stats {
	uint64_t	bs_hits;	/* gets and writes that found the block */
	uint64_t	bs_misses;	/* ... that found it absent */
	uint64_t	bs_coalesced;	/* ... that found its read in flight */
	uint64_t	bs_reads;	/* block reads issued */
	uint64_t	bs_read_errors;
	uint64_t	bs_writebacks;	/* block writes issued */
	uint64_t	bs_write_errors;
	uint64_t	bs_evictions;	/* cached blocks dropped for others */
	uint64_t	bs_space_waits;	/* requests that waited for a block */
	uint64_t	bs_flushes;	/* flush rounds */
	uint64_t	bs_syncs;	/* file syncs issued */
	uint32_t	bs_nblocks;
	uint32_t	bs_block_size;
	uint32_t	bs_cached;	/* blocks that hold a file block */
	uint32_t	bs_dirty;
	uint32_t	bs_referenced;	/* blocks held by requests */
	uint32_t	bs_inflight;	/* reads, writes and syncs */
};

/*
 * A cache of nblocks blocks of block_size bytes over f, owned by f's
 * owner.  The file's size is taken now (fstat); the cache assumes it is
 * the file's only writer.  Any thread.  Errors: -EINVAL (cp or f NULL,
 * block_size not a power of two in range, nblocks 0 or over
 * KC_BCACHE_NBLOCKS_MAX), -EBADF (f closing), -ENOMEM.
 */
KC_EXPORT int	kc_bcache_create(struct kc_bcache **cp, struct kc_file *f,
		    size_t block_size, unsigned nblocks);

/*
 * Get block blockno.  done gets obj = rq and status 0, with br_data,
 * br_valid (block size, less at the end of the file, 0 past it) and
 * br_blockno set and a reference held by rq until kc_bcache_put(rq); or
 * the read's -errno (every request waiting for that read gets it, and the
 * block is not cached).  Errors at once: -EINVAL, -EPERM (not on the
 * owner), -EBUSY (rq in use), -ESHUTDOWN (the cache is being destroyed).
 */
KC_EXPORT int	kc_bcache_get(struct kc_bcache *c, struct kc_bcache_req *rq,
		    uint64_t blockno, struct kc *done);

/* Release the reference a get gave rq.  -EINVAL (rq holds none), -EPERM. */
KC_EXPORT int	kc_bcache_put(struct kc_bcache_req *rq);

/*
 * Copy len bytes from buf into the cache at file offset off, within one
 * block (off % block size + len <= block size, len >= 1), and mark the
 * block dirty; a block not cached is read first unless the write covers
 * all of it.  The write waits while the block is held by a get or being
 * written back.  done gets obj = rq and status len, or -errno (the read's).
 * Errors at once as kc_bcache_get().
 */
KC_EXPORT int	kc_bcache_write(struct kc_bcache *c, struct kc_bcache_req *rq,
		    uint64_t off, const void *buf, size_t len, struct kc *done);

/*
 * Write back every block dirty now, then sync the file.  done gets obj =
 * rq and status 0, or the first error of the write-backs (a block whose
 * write-back failed stays dirty, for the next flush) or of the sync.
 * Errors at once as kc_bcache_get().
 */
KC_EXPORT int	kc_bcache_flush(struct kc_bcache *c, struct kc_bcache_req *rq,
		    struct kc *done);

/*
 * Destroy c: no new request is accepted; once every request has completed,
 * every reference is put and no I/O is in flight, dirty blocks are written
 * back and the file synced, c is freed (the file is released), then done
 * (may be NULL) gets obj = rq and the flush's status (dirty blocks that
 * could not be written are lost, and that status says so).  Errors at
 * once: -EINVAL, -EPERM, -EBUSY, -ESHUTDOWN (destroyed already).
 */
KC_EXPORT int	kc_bcache_destroy(struct kc_bcache *c,
		    struct kc_bcache_req *rq, struct kc *done);

/* Counters and gauges, on the owner.  -EINVAL, -EPERM. */
KC_EXPORT int	kc_bcache_stats(const struct kc_bcache *c,
		    struct kc_bcache_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* KCONT_BCACHE_H */
