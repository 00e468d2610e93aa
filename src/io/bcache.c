/*
 * bcache.c: a block cache over a kc_file, its waiters chained on the
 * blocks (kcont/bcache.h, kc_bcache(3)).
 *
 * Everything here runs on the cache's owner (the file's owner), so the
 * cache's state needs no lock: the calls check that they are made there,
 * and the block I/O's continuations (b_io, c_synckc) and the requests'
 * own (br_wait) belong to the owner.
 *
 * A request that cannot finish at once waits on a queue of continuations
 * (a kc_queue): its block's (b_waiters: its read is in flight, or it is
 * held or being written back and the request is a write, or a write
 * waits before it), or the cache's (c_spaceq: no block can be reused).
 * What ends the wait fires the whole queue (kc_run_all()): a read's
 * completion with its error, delivered as it is, or a change that may let
 * the waiters on, and then each waiter's br_wait looks again from the
 * start (rq_run) and finishes or waits again.  So there is one path for a
 * request, whatever woke it.
 *
 * Blocks that may be reused sit on lists, oldest first: free (holding no
 * file block), clean (LRU: cached, unreferenced, nothing waiting), and
 * dirty (as clean, but dirty: written back when a block is needed and no
 * clean or free one is left).  A block referenced, with I/O in flight,
 * with waiters, or whose write-back failed is on none.
 *
 * Re-entry: a continuation run inline from inside the cache (a request's
 * done) may call the cache again.  c_depth counts the calls on the
 * stack; the outermost one, in leave(), fires the space waiters and ends
 * a destroy, so that the cache is never freed under a caller.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <kcont/bcache.h>
#include <kcont/io.h>

#include "core/internal.h"
#include "core/list.h"
#include "core/lockdebug.h"
#include "io/file_int.h"

#define BCACHE_MAGIC	0x6b6362636163u	/* "kcbcac" */

enum { OP_GET = 1, OP_WRITE, OP_FLUSH, OP_DESTROY };

/* br_flags */
#define F_BUSY		0x1u	/* started, done not yet triggered */
#define F_HELD		0x2u	/* a get's reference: until the put */
#define F_RERUN		0x4u	/* counted in the stats already */
#define F_WWAIT		0x8u	/* counted in its block's b_wwait */

enum bstate { B_FREE, B_LOADING, B_VALID };
enum blist { L_NONE, L_FREE, L_CLEAN, L_DIRTY };

struct kc__bblk {
	uint64_t		 b_no;
	uint8_t			*b_data;
	struct kc__bblk		*b_hnext;	/* hash chain */
	struct kc__link		 b_link;	/* on c_lists[b_list] */
	struct kc_bcache	*b_cache;
	struct kc_queue		 b_waiters;
	struct kc_file_req	 b_rq;		/* its read or write-back */
	struct kc		 b_io;		/* ... whose done this is */
	uint32_t		 b_ref;		/* gets holding it */
	uint32_t		 b_wwait;	/* writes waiting for it */
	uint32_t		 b_wlen;	/* the write-back's length */
	uint32_t		 b_wdone;	/* ... and what is written */
	enum bstate		 b_state;
	enum blist		 b_list;
	bool			 b_dirty;
	bool			 b_wb;		/* a write-back in flight */
	bool			 b_failed;	/* its last write-back failed */
	bool			 b_inround;	/* the flush round waits for it */
};

struct kc_bcache {
	uint64_t		 c_magic;
	struct kc_file		*c_file;
	struct kc_executor	*c_ex;
	uint64_t		 c_size;	/* the file's, as the cache has it */
	uint32_t		 c_bsize;
	unsigned		 c_bshift;
	uint32_t		 c_nblocks;
	unsigned		 c_hshift;
	struct kc__bblk		**c_hash;
	struct kc__bblk		*c_blocks;
	uint8_t			*c_data;
	struct kc__list		 c_lists[4];	/* by enum blist */
	struct kc_queue		 c_spaceq;	/* requests waiting for a block */
	bool			 c_spacewake;	/* fire c_spaceq on the way out */
	unsigned		 c_depth;	/* calls on the stack */
	uint64_t		 c_pending;	/* requests not completed */
	uint32_t		 c_refs;
	uint32_t		 c_io;		/* reads, writes, syncs */
	uint32_t		 c_nwb;
	uint32_t		 c_nloading;
	uint32_t		 c_nfailed;	/* dirty, write-back failed */
	int			 c_wberr;	/* the last write-back error */
	bool			 c_unsynced;	/* written since the last sync */
	/* Flushes: one round at a time, the next one's members queued. */
	struct kc_bcache_req	*c_fqhead, *c_fqtail;
	struct kc_bcache_req	*c_round;
	bool			 c_inround;
	uint32_t		 c_roundleft;
	int			 c_rounderr;
	struct kc_file_req	 c_syncrq;
	struct kc		 c_synckc;
	/* Destroy. */
	struct kc_bcache_req	*c_destroyrq;
	bool			 c_destroying;
	bool			 c_finalround;
	bool			 c_finish;
	int			 c_finisherr;
	struct kc_bcache_stats	 c_st;
};

static void	rq_run(struct kc_bcache *, struct kc_bcache_req *);
static void	round_start(struct kc_bcache *);
static void	round_written(struct kc_bcache *);
static void	wake(struct kc_bcache *, struct kc__bblk *);

static bool
cache_valid(const struct kc_bcache *c)
{
	return c != NULL && c->c_magic == (BCACHE_MAGIC ^ (uintptr_t)c);
}

static bool
on_owner(const struct kc_bcache *c)
{
	return kc__on_exec(c->c_ex);
}

static void
enter(struct kc_bcache *c)
{
	c->c_depth++;
}

static void	leave(struct kc_bcache *);

/* ---- lists and the hash ------------------------------------------ */

static void
list_del(struct kc_bcache *c, struct kc__bblk *b)
{
	if (b->b_list == L_NONE)
		return;
	kc__list_remove(&c->c_lists[b->b_list], &b->b_link);
	b->b_list = L_NONE;
}

/* The oldest block on list l, or NULL. */
static struct kc__bblk *
list_first(struct kc_bcache *c, enum blist l)
{
	return KC__LIST_FIRST(&c->c_lists[l], struct kc__bblk, b_link);
}

/*
 * Put b where its state says (the tail of a list is the most recently
 * released end).  A block that may now be reused wakes the space waiters.
 */
static void
place(struct kc_bcache *c, struct kc__bblk *b)
{
	enum blist l = L_NONE;

	list_del(c, b);
	if (b->b_state == B_FREE)
		l = L_FREE;
	else if (b->b_state == B_VALID && b->b_ref == 0 && !b->b_wb &&
	    kc_queue_empty(&b->b_waiters)) {
		if (!b->b_dirty)
			l = L_CLEAN;
		else if (!b->b_failed)
			l = L_DIRTY;
	}
	if (l != L_NONE) {
		b->b_list = l;
		kc__list_push_tail(&c->c_lists[l], &b->b_link);
		c->c_spacewake = true;
	}
}

static size_t
hash_slot(const struct kc_bcache *c, uint64_t no)
{
	return (size_t)((no * 0x9e3779b97f4a7c15ull) >> c->c_hshift);
}

static struct kc__bblk *
hash_find(const struct kc_bcache *c, uint64_t no)
{
	struct kc__bblk *b;

	for (b = c->c_hash[hash_slot(c, no)]; b != NULL; b = b->b_hnext)
		if (b->b_no == no)
			return b;
	return NULL;
}

static void
hash_add(struct kc_bcache *c, struct kc__bblk *b)
{
	struct kc__bblk **p = &c->c_hash[hash_slot(c, b->b_no)];

	b->b_hnext = *p;
	*p = b;
}

static void
hash_del(struct kc_bcache *c, struct kc__bblk *b)
{
	struct kc__bblk **p = &c->c_hash[hash_slot(c, b->b_no)];

	while (*p != b)
		p = &(*p)->b_hnext;
	*p = b->b_hnext;
	b->b_hnext = NULL;
}

/* The block drops its file block (evicted, or its read failed). */
static void
blk_forget(struct kc_bcache *c, struct kc__bblk *b)
{
	if (b->b_state == B_VALID)
		c->c_st.bs_cached--;
	hash_del(c, b);
	b->b_state = B_FREE;
}

/* Bytes of the file in block no, as the cache has the file's size. */
static uint32_t
blk_valid(const struct kc_bcache *c, uint64_t no)
{
	uint64_t start = no << c->c_bshift;

	if (c->c_size <= start)
		return 0;
	return c->c_size - start >= c->c_bsize ? c->c_bsize :
	    (uint32_t)(c->c_size - start);
}

static void
set_failed(struct kc_bcache *c, struct kc__bblk *b, bool failed)
{
	if (b->b_failed == failed)
		return;
	b->b_failed = failed;
	if (failed)
		c->c_nfailed++;
	else
		c->c_nfailed--;
}

static void
set_dirty(struct kc_bcache *c, struct kc__bblk *b, bool dirty)
{
	if (b->b_dirty == dirty)
		return;
	b->b_dirty = dirty;
	if (dirty)
		c->c_st.bs_dirty++;
	else
		c->c_st.bs_dirty--;
}

/* ---- block I/O --------------------------------------------------- */

/* Write (the rest of) b's write-back.  0, or the error at once. */
static int
wb_issue(struct kc_bcache *c, struct kc__bblk *b)
{
	int e;

	e = kc__file_rw(&b->b_rq, c->c_file, true, b->b_data + b->b_wdone,
	    b->b_wlen - b->b_wdone, (b->b_no << c->c_bshift) + b->b_wdone,
	    &b->b_io);
	if (e == 0) {
		c->c_io++;
		c->c_nwb++;
	}
	return e;
}

/* Start writing b back (dirty, valid, no write-back in flight). */
static int
wb_start(struct kc_bcache *c, struct kc__bblk *b)
{
	int e;

	list_del(c, b);
	b->b_wb = true;
	set_failed(c, b, false);
	set_dirty(c, b, false);
	b->b_wlen = blk_valid(c, b->b_no);
	b->b_wdone = 0;
	c->c_st.bs_writebacks++;
	if ((e = wb_issue(c, b)) != 0) {
		b->b_wb = false;
		set_failed(c, b, true);
		set_dirty(c, b, true);
		c->c_st.bs_write_errors++;
		c->c_wberr = e;
		place(c, b);
	}
	return e;
}

/* A write-back's step completed with res (bytes, or -errno). */
static void
wb_done(struct kc_bcache *c, struct kc__bblk *b, int res)
{
	if (res > 0 && b->b_wdone + (uint32_t)res < b->b_wlen) {
		/* Written in part: the rest, which reports its own error. */
		b->b_wdone += (uint32_t)res;
		if ((res = wb_issue(c, b)) == 0)
			return;
	} else if (res == 0 && b->b_wlen > 0) {
		res = -EIO;	/* no progress, and no error to say why */
	}
	b->b_wb = false;
	if (res < 0) {
		set_failed(c, b, true);
		set_dirty(c, b, true);
		c->c_st.bs_write_errors++;
		c->c_wberr = res;
	} else {
		c->c_unsynced = true;
	}
	place(c, b);
	c->c_spacewake = true;	/* a failed block may leave the cache stuck */
	if (b->b_inround) {
		b->b_inround = false;
		if (res < 0 && c->c_rounderr == 0)
			c->c_rounderr = res;
		if (--c->c_roundleft == 0)
			round_written(c);
	}
	wake(c, b);
}

/*
 * Let b's waiters look again (after a change that may let them on), and
 * put b on its list if none stays.
 */
static void
wake(struct kc_bcache *c, struct kc__bblk *b)
{
	if (!kc_queue_empty(&b->b_waiters))
		(void)kc_run_all(&b->b_waiters, NULL, 0);
	if (b->b_list == L_NONE)
		place(c, b);
}

/* b's read completed with res (bytes, or -errno). */
static void
read_done(struct kc_bcache *c, struct kc__bblk *b, int res)
{
	uint64_t end;

	c->c_nloading--;
	if (res < 0) {
		c->c_st.bs_read_errors++;
		hash_del(c, b);
		b->b_state = B_FREE;
		place(c, b);
		/* Every waiter gets the error; the block is not cached. */
		(void)kc_run_all(&b->b_waiters, NULL, res);
		return;
	}
	if ((uint32_t)res < c->c_bsize)
		memset(b->b_data + res, 0, c->c_bsize - (uint32_t)res);
	end = (b->b_no << c->c_bshift) + (uint32_t)res;
	if (res > 0 && end > c->c_size)
		c->c_size = end;	/* the file grew under the cache */
	b->b_state = B_VALID;
	c->c_st.bs_cached++;
	wake(c, b);
}

/* b_io: a block's read or write-back completed, on the owner. */
static void
blk_io_fn(void *obj, void *env, int status)
{
	struct kc__bblk *b = env;
	struct kc_bcache *c = b->b_cache;

	(void)obj;
	KC__ON_EXEC(c->c_ex);
	enter(c);
	c->c_io--;
	if (b->b_state == B_LOADING) {
		read_done(c, b, status);
	} else {
		c->c_nwb--;
		wb_done(c, b, status);
	}
	leave(c);
}

/*
 * A block to hold file block no (hashed, B_LOADING), or NULL: *err 0 to
 * wait for one, or the error that keeps every block from being reused.
 */
static struct kc__bblk *
blk_alloc(struct kc_bcache *c, uint64_t no, int *err)
{
	struct kc__bblk *b;

	*err = 0;
	if ((b = list_first(c, L_FREE)) == NULL &&
	    (b = list_first(c, L_CLEAN)) != NULL) {
		blk_forget(c, b);
		c->c_st.bs_evictions++;
	}
	if (b == NULL) {
		/* Only dirty blocks could go: write the oldest back. */
		if ((b = list_first(c, L_DIRTY)) != NULL) {
			(void)wb_start(c, b);
			return NULL;
		}
		/*
		 * No block will come back: every one is dirty and failed to
		 * be written back (only a flush tries them again).
		 */
		if (c->c_nfailed == c->c_nblocks && c->c_nwb == 0)
			*err = c->c_wberr != 0 ? c->c_wberr : -EIO;
		return NULL;
	}
	list_del(c, b);
	b->b_no = no;
	b->b_state = B_LOADING;
	hash_add(c, b);
	return b;
}

/* ---- requests ---------------------------------------------------- */

/* rq's reference goes; its block may be reused, or let waiters on. */
static void
rq_release(struct kc_bcache *c, struct kc_bcache_req *rq)
{
	struct kc__bblk *b = rq->br_blk;

	rq->br_flags = 0;
	rq->br_data = NULL;
	c->c_refs--;
	if (--b->b_ref == 0) {
		c->c_st.bs_referenced--;
		wake(c, b);
	}
}

/* rq is done: trigger its continuation with status. */
static void
rq_complete(struct kc_bcache *c, struct kc_bcache_req *rq, int status)
{
	struct kc__bblk *b = rq->br_blk;

	c->c_pending--;
	if (rq->br_op == OP_GET && status == 0) {
		rq->br_flags = F_HELD;
		rq->br_data = b->b_data;
		rq->br_valid = blk_valid(c, b->b_no);
		if (kc_run(rq->br_done, rq, 0) != 0)
			rq_release(c, rq);	/* nobody will put it */
		return;
	}
	rq->br_flags = 0;
	(void)kc_run(rq->br_done, rq, status);
}

static void
rq_wait(struct kc_queue *q, struct kc_bcache_req *rq)
{
	int e = kc_enqueue(q, &rq->br_wait);

	KC__ASSERT(e == 0);
}

/* The stats count a request once, on its first look. */
static void
rq_count(struct kc_bcache_req *rq, uint64_t *ctr)
{
	if ((rq->br_flags & F_RERUN) == 0) {
		(*ctr)++;
		rq->br_flags |= F_RERUN;
	}
}

/* Copy a write into b (valid, unheld, not being written back). */
static void
write_apply(struct kc_bcache *c, struct kc__bblk *b,
    struct kc_bcache_req *rq)
{
	uint64_t end = (b->b_no << c->c_bshift) + rq->br_off + rq->br_len;

	memcpy(b->b_data + rq->br_off, rq->br_src, rq->br_len);
	if (end > c->c_size)
		c->c_size = end;
	set_failed(c, b, false);
	set_dirty(c, b, true);
	place(c, b);
	rq_complete(c, rq, (int)rq->br_len);
}

/*
 * Look at rq's block and finish rq or make it wait: the one path of a get
 * or a write, at the start and after every wake-up.
 */
static void
rq_run(struct kc_bcache *c, struct kc_bcache_req *rq)
{
	bool write = rq->br_op == OP_WRITE;
	struct kc__bblk *b = hash_find(c, rq->br_blockno);
	int e;

	if (b != NULL && b->b_state == B_LOADING) {
		rq_count(rq, &c->c_st.bs_coalesced);
		rq->br_blk = b;
		rq_wait(&b->b_waiters, rq);
		return;
	}
	if (b != NULL) {
		rq_count(rq, &c->c_st.bs_hits);
		rq->br_blk = b;
		if (write && (b->b_ref > 0 || b->b_wb)) {
			b->b_wwait++;
			rq->br_flags |= F_WWAIT;
			rq_wait(&b->b_waiters, rq);
		} else if (write) {
			write_apply(c, b, rq);
		} else if (b->b_wwait > 0) {
			/* Behind a write: in order. */
			rq_wait(&b->b_waiters, rq);
		} else {
			list_del(c, b);
			b->b_ref++;
			if (b->b_ref == 1)
				c->c_st.bs_referenced++;
			c->c_refs++;
			rq_complete(c, rq, 0);
		}
		return;
	}
	if ((b = blk_alloc(c, rq->br_blockno, &e)) == NULL) {
		if (e != 0) {
			rq_complete(c, rq, e);
			return;
		}
		rq_count(rq, &c->c_st.bs_space_waits);
		rq_wait(&c->c_spaceq, rq);
		return;
	}
	rq->br_flags |= F_RERUN;
	c->c_st.bs_misses++;
	rq->br_blk = b;
	if (write && ((rq->br_off == 0 && rq->br_len == c->c_bsize) ||
	    blk_valid(c, b->b_no) == 0)) {
		/* All of it is written, or it is past the end: no read. */
		if (rq->br_len < c->c_bsize)
			memset(b->b_data, 0, c->c_bsize);
		b->b_state = B_VALID;
		c->c_st.bs_cached++;
		write_apply(c, b, rq);
		return;
	}
	c->c_st.bs_reads++;
	e = kc__file_rw(&b->b_rq, c->c_file, false, b->b_data, c->c_bsize,
	    b->b_no << c->c_bshift, &b->b_io);
	if (e != 0) {
		c->c_st.bs_read_errors++;
		hash_del(c, b);
		b->b_state = B_FREE;
		place(c, b);
		rq_complete(c, rq, e);
		return;
	}
	c->c_io++;
	c->c_nloading++;
	rq_wait(&b->b_waiters, rq);
}

/* br_wait: rq was woken, on the owner; status < 0 is its read's error. */
static void
rq_wake_fn(void *obj, void *env, int status)
{
	struct kc_bcache_req *rq = env;
	struct kc_bcache *c = rq->br_cache;

	(void)obj;
	KC__ON_EXEC(c->c_ex);
	enter(c);
	if (rq->br_flags & F_WWAIT) {
		rq->br_blk->b_wwait--;
		rq->br_flags &= ~F_WWAIT;
	}
	if (status < 0)
		rq_complete(c, rq, status);
	else
		rq_run(c, rq);
	leave(c);
}

/* The checks every call makes, and rq made ready for op. */
static int
rq_begin(struct kc_bcache *c, struct kc_bcache_req *rq, int op,
    struct kc *done)
{
	int e;

	if (!cache_valid(c) || rq == NULL || (done == NULL && op != OP_DESTROY))
		return -EINVAL;
	if (!on_owner(c))
		return -EPERM;
	if (c->c_destroying)
		return -ESHUTDOWN;
	if (rq->br_flags & (F_BUSY | F_HELD))
		return -EBUSY;
	if ((e = kc_init(&rq->br_wait, rq_wake_fn, rq, c->c_ex, 0)) != 0)
		return e;
	rq->br_cache = c;
	rq->br_done = done;
	rq->br_blk = NULL;
	rq->br_next = NULL;
	rq->br_data = NULL;
	rq->br_valid = 0;
	rq->br_op = op;
	rq->br_flags = F_BUSY;
	c->c_pending++;
	return 0;
}

int
kc_bcache_get(struct kc_bcache *c, struct kc_bcache_req *rq,
    uint64_t blockno, struct kc *done)
{
	int e;

	if (cache_valid(c) && blockno > (uint64_t)INT64_MAX >> c->c_bshift)
		return -EINVAL;
	if ((e = rq_begin(c, rq, OP_GET, done)) != 0)
		return e;
	rq->br_blockno = blockno;
	enter(c);
	rq_run(c, rq);
	leave(c);
	return 0;
}

int
kc_bcache_put(struct kc_bcache_req *rq)
{
	struct kc_bcache *c;

	if (rq == NULL || (rq->br_flags & F_HELD) == 0 ||
	    !cache_valid(rq->br_cache))
		return -EINVAL;
	c = rq->br_cache;
	if (!on_owner(c))
		return -EPERM;
	enter(c);
	rq_release(c, rq);
	leave(c);
	return 0;
}

int
kc_bcache_write(struct kc_bcache *c, struct kc_bcache_req *rq, uint64_t off,
    const void *buf, size_t len, struct kc *done)
{
	int e;

	if (!cache_valid(c) || buf == NULL || len == 0 || len > c->c_bsize ||
	    off > (uint64_t)INT64_MAX - len ||
	    (off & (c->c_bsize - 1)) + len > c->c_bsize)
		return -EINVAL;
	if ((e = rq_begin(c, rq, OP_WRITE, done)) != 0)
		return e;
	rq->br_blockno = off >> c->c_bshift;
	rq->br_off = (uint32_t)(off & (c->c_bsize - 1));
	rq->br_len = (uint32_t)len;
	rq->br_src = buf;
	enter(c);
	rq_run(c, rq);
	leave(c);
	return 0;
}

/* ---- flushes ----------------------------------------------------- */

/* The round is over: tell its members, and start the next round. */
static void
round_end(struct kc_bcache *c, int status)
{
	struct kc_bcache_req *rq = c->c_round, *next;
	int err = c->c_rounderr != 0 ? c->c_rounderr : status;

	c->c_round = NULL;
	c->c_inround = false;
	if (c->c_fqhead != NULL)
		round_start(c);
	for (; rq != NULL; rq = next) {
		next = rq->br_next;
		if (rq->br_op == OP_DESTROY) {
			/* leave() frees the cache, then runs its done. */
			c->c_finish = true;
			c->c_finisherr = err;
			continue;
		}
		rq_complete(c, rq, err);
	}
}

/* c_synckc: the round's sync completed. */
static void
sync_fn(void *obj, void *env, int status)
{
	struct kc_bcache *c = env;

	(void)obj;
	KC__ON_EXEC(c->c_ex);
	enter(c);
	c->c_io--;
	round_end(c, status);
	leave(c);
}

/*
 * Every write-back the round waited for is done: sync the file if
 * anything was written since the last sync, then end the round.
 */
static void
round_written(struct kc_bcache *c)
{
	int e;

	if (!c->c_unsynced) {
		round_end(c, 0);
		return;
	}
	c->c_unsynced = false;
	c->c_st.bs_syncs++;
	if ((e = kc__file_sync(&c->c_syncrq, c->c_file, 0,
	    &c->c_synckc)) != 0) {
		round_end(c, e);
		return;
	}
	c->c_io++;
}

/*
 * Start a round for the flushes queued: write back every dirty block
 * (failed ones again) and wait for those being written back already.
 */
static void
round_start(struct kc_bcache *c)
{
	struct kc__bblk *b;
	uint32_t i;

	c->c_round = c->c_fqhead;
	c->c_fqhead = c->c_fqtail = NULL;
	c->c_inround = true;
	c->c_rounderr = 0;
	c->c_roundleft = 0;
	c->c_st.bs_flushes++;
	for (i = 0; i < c->c_nblocks; i++) {
		b = &c->c_blocks[i];
		if (b->b_state != B_VALID)
			continue;
		if (b->b_dirty && !b->b_wb && wb_start(c, b) != 0) {
			if (c->c_rounderr == 0)
				c->c_rounderr = c->c_wberr;
			continue;
		}
		if (b->b_wb) {
			b->b_inround = true;
			c->c_roundleft++;
		}
	}
	if (c->c_roundleft == 0)
		round_written(c);
}

static void
flush_add(struct kc_bcache *c, struct kc_bcache_req *rq)
{
	if (c->c_fqtail != NULL)
		c->c_fqtail->br_next = rq;
	else
		c->c_fqhead = rq;
	c->c_fqtail = rq;
	if (!c->c_inround)
		round_start(c);
}

int
kc_bcache_flush(struct kc_bcache *c, struct kc_bcache_req *rq,
    struct kc *done)
{
	int e;

	if ((e = rq_begin(c, rq, OP_FLUSH, done)) != 0)
		return e;
	enter(c);
	flush_add(c, rq);
	leave(c);
	return 0;
}

/* ---- the way out, and destroy ------------------------------------ */

static void
finish(struct kc_bcache *c)
{
	struct kc_bcache_req *rq = c->c_destroyrq;
	struct kc *done = rq->br_done;
	int err = c->c_finisherr;

	kc__file_release(c->c_file);
	c->c_magic = 0;
	free(c->c_data);
	free(c->c_hash);
	free(c->c_blocks);
	free(c);
	rq->br_flags = 0;
	if (done != NULL)
		(void)kc_run(done, rq, err);
}

/*
 * Leave a call.  The outermost one fires the space waiters while blocks
 * were freed, and, when a destroy waits and nothing is left, flushes for
 * the last time and frees the cache.
 */
static void
leave(struct kc_bcache *c)
{
	if (c->c_depth > 1) {
		c->c_depth--;
		return;
	}
	for (;;) {
		if (c->c_spacewake && !kc_queue_empty(&c->c_spaceq)) {
			c->c_spacewake = false;
			(void)kc_run_all(&c->c_spaceq, NULL, 0);
			continue;
		}
		if (c->c_destroying && !c->c_finalround && c->c_pending == 0 &&
		    c->c_refs == 0 && c->c_io == 0 && !c->c_inround) {
			c->c_finalround = true;
			flush_add(c, c->c_destroyrq);
			continue;
		}
		break;
	}
	c->c_spacewake = false;
	c->c_depth = 0;
	if (c->c_finish)
		finish(c);
}

int
kc_bcache_destroy(struct kc_bcache *c, struct kc_bcache_req *rq,
    struct kc *done)
{
	int e;

	if ((e = rq_begin(c, rq, OP_DESTROY, done)) != 0)
		return e;
	c->c_pending--;		/* not a request the destroy waits for */
	c->c_destroying = true;
	c->c_destroyrq = rq;
	enter(c);
	leave(c);
	return 0;
}

int
kc_bcache_stats(const struct kc_bcache *c, struct kc_bcache_stats *st)
{
	if (!cache_valid(c) || st == NULL)
		return -EINVAL;
	if (!on_owner(c))
		return -EPERM;
	*st = c->c_st;
	st->bs_inflight = c->c_io;
	return 0;
}

/* ---- create ------------------------------------------------------ */

int
kc_bcache_create(struct kc_bcache **cp, struct kc_file *f, size_t block_size,
    unsigned nblocks)
{
	struct kc_bcache *c;
	struct stat sb;
	size_t nh;
	uint32_t i;
	int e, fd;

	if (cp == NULL || f == NULL || block_size < KC_BCACHE_BSIZE_MIN ||
	    block_size > KC_BCACHE_BSIZE_MAX ||
	    (block_size & (block_size - 1)) != 0 || nblocks == 0 ||
	    nblocks > KC_BCACHE_NBLOCKS_MAX)
		return -EINVAL;
	if (kc__file_owner(f) == NULL)
		return -EINVAL;
	if ((fd = kc__file_fd(f)) < 0)
		return fd;
	if (fstat(fd, &sb) != 0)
		return -errno;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -ENOMEM;
	c->c_bsize = (uint32_t)block_size;
	c->c_bshift = (unsigned)__builtin_ctzl(block_size);
	c->c_nblocks = nblocks;
	/* Twice as many chains as blocks: short chains. */
	for (nh = 2, c->c_hshift = 63; nh < 2 * (size_t)nblocks; nh <<= 1)
		c->c_hshift--;
	c->c_hash = calloc(nh, sizeof(*c->c_hash));
	c->c_blocks = calloc(nblocks, sizeof(*c->c_blocks));
	/* Aligned to the block (at most a page): O_DIRECT can use it. */
	if (posix_memalign((void **)&c->c_data, block_size < 4096 ?
	    block_size : 4096, (size_t)nblocks * block_size) != 0)
		c->c_data = NULL;
	if (c->c_hash == NULL || c->c_blocks == NULL || c->c_data == NULL) {
		e = -ENOMEM;
		goto fail;
	}
	if ((e = kc__file_hold(f)) != 0)
		goto fail;
	c->c_file = f;
	c->c_ex = kc__file_owner(f);
	c->c_size = S_ISREG(sb.st_mode) && sb.st_size > 0 ?
	    (uint64_t)sb.st_size : 0;
	(void)kc_queue_init(&c->c_spaceq);
	(void)kc_init(&c->c_synckc, sync_fn, c, c->c_ex, 0);
	for (i = 0; i < nblocks; i++) {
		struct kc__bblk *b = &c->c_blocks[i];

		b->b_cache = c;
		b->b_data = c->c_data + (size_t)i * block_size;
		(void)kc_queue_init(&b->b_waiters);
		(void)kc_init(&b->b_io, blk_io_fn, b, c->c_ex, 0);
		b->b_list = L_FREE;
		kc__list_push_tail(&c->c_lists[L_FREE], &b->b_link);
	}
	c->c_st.bs_nblocks = nblocks;
	c->c_st.bs_block_size = (uint32_t)block_size;
	c->c_magic = BCACHE_MAGIC ^ (uintptr_t)c;
	*cp = c;
	return 0;
fail:
	free(c->c_data);
	free(c->c_blocks);
	free(c->c_hash);
	free(c);
	return e;
}
