/*
 * ops.c: a request's operation, through the file I/O layer, and its reply
 * (kcnbd.h).
 *
 * Every operation is a kc_file call whose completion continuation (on the
 * connection's worker) goes on to the next step or builds the reply and
 * sends it: no thread waits for the disk.  The exceptions are the extent
 * map (lseek(2) with SEEK_DATA and SEEK_HOLE, for block status and for the
 * holes of a structured read) and CACHE's posix_fadvise(2): the layer has
 * no such calls, and both read in-memory state of the file system.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kcnbd.h"
#include "nlog.h"

/* Room for a reply's header in front of a read's bytes. */
#define HDR_ROOM	32u
/* Reads at least this long get their holes reported (structured). */
#define HOLE_MIN	(64u << 10)
/*
 * Reads from this size go from the file to the socket without a copy
 * (kc_socket_sendfile()); smaller ones are read into the reply.  Measured
 * with bench/nbd.sh's 1 MiB sequential reads from the page cache, the copy
 * was faster (kcnbd over nbdkit 0.93 and 0.98 copying, 0.80 to 0.86 by
 * sendfile at 256 KiB): the ring's splice from the file runs on a kernel
 * worker thread, and one pipe does not overlap the file's side with the
 * socket's.  So only large reads, where the copy's memory traffic weighs
 * most, go by sendfile.
 */
#define SENDFILE_MIN	(4u << 20)
/* At most this many chunks (reads) or extents (block status) a reply. */
#define EXTENTS_MAX	256u
/* Writing zeroes where the file system cannot punch or zero a range. */
#define ZERO_CHUNK	(1u << 20)

static const uint8_t zeroes[ZERO_CHUNK];

enum { ST_OP = 0, ST_ZERO_RANGE, ST_ZERO_WRITE, ST_SYNC };

static void op_done(void *obj, void *env, int status);

/* A small segment holding len bytes of p, appended to ch. */
static int
append_bytes(struct kc_chain *ch, const void *p, size_t len)
{
	struct kc_seg *s;
	int e;

	if ((e = kc_seg_alloc(&s, len)) != 0)
		return e;
	memcpy(kc_seg_data(s), p, len);
	e = kc_chain_append_seg(ch, s, 0, len);
	kc_seg_unref(s);
	return e;
}

void
kn_req_error(struct req *q, uint32_t error)
{
	struct kc_chain ch = KC_CHAIN_INITIALIZER;
	uint8_t b[NBD_CHUNK_SIZE + 6];
	size_t n;

	if (error != 0)
		kn_count(&q->c->w->st.errors, 1);
	/* A read's error must be a chunk once structured replies are on. */
	if (q->c->tx.structured && error != 0 &&
	    (q->r.type == NBD_CMD_READ || q->r.type == NBD_CMD_BLOCK_STATUS))
		n = nbd_error_chunk(b, error, q->r.cookie);
	else
		n = nbd_simple_reply(b, error, q->r.cookie);
	if (append_bytes(&ch, b, n) != 0) {
		/* Without memory for 26 bytes the session cannot go on. */
		kc_chain_free(&ch);
		kn_req_finish(q);
		return;
	}
	kn_req_send(q, &ch);
}

/* ---- extents ---- */

struct extent {
	uint64_t	len;
	bool		hole;
};

/*
 * The file's data and holes over [off, off + len), at most max extents.
 * With cover, the extents cover the whole range (the last one takes the
 * rest, as data: the bytes read are always right); without, they may end
 * early (block status may describe less than was asked).  A file system
 * without SEEK_HOLE, or a block device, is all data; past the file's end
 * (it shrank) reads as a hole.
 */
static unsigned
map_extents(int fd, uint64_t off, uint64_t len, struct extent *x,
    unsigned max, bool cover)
{
	uint64_t end = off + len, pos = off;
	unsigned n = 0;

	while (pos < end) {
		off_t d, h;
		bool hole;
		uint64_t next;

		d = lseek(fd, (off_t)pos, SEEK_DATA);
		if (d < 0) {
			hole = errno == ENXIO;
			next = end;
		} else if ((uint64_t)d > pos) {
			hole = true;
			next = (uint64_t)d;
		} else {
			h = lseek(fd, (off_t)pos, SEEK_HOLE);
			hole = false;
			next = h < 0 ? end : (uint64_t)h;
		}
		if (next > end || next <= pos)
			next = end;
		if (n > 0 && x[n - 1].hole == hole) {
			x[n - 1].len += next - pos;
		} else if (n == max) {
			break;
		} else if (cover && n + 1 == max) {
			x[n].len = end - pos;
			x[n].hole = false;
			n++;
			break;
		} else {
			x[n].len = next - pos;
			x[n].hole = hole;
			n++;
		}
		pos = next;
	}
	return n;
}

/* ---- reads ---- */

static void
read_reply(struct req *q)
{
	struct conn *c = q->c;
	struct kc_chain ch = KC_CHAIN_INITIALIZER;
	uint8_t *base = kc_seg_data(q->seg), *d = base + HDR_ROOM;
	uint32_t len = q->r.len;
	struct extent x[EXTENTS_MAX];
	unsigned n = 1, i;
	uint64_t at;
	bool one = true;
	int e = 0;

	kn_count(&c->w->st.reads, 1);
	kn_count(&c->w->st.read_bytes, len);
	if (!c->tx.structured) {
		nbd_simple_reply(d - NBD_SIMPLE_SIZE, 0, q->r.cookie);
		e = kc_chain_append_seg(&ch, q->seg, HDR_ROOM - NBD_SIMPLE_SIZE,
		    NBD_SIMPLE_SIZE + len);
		goto send;
	}
	if ((q->r.flags & NBD_CMD_FLAG_DF) == 0 && len >= HOLE_MIN) {
		n = map_extents(c->fd, q->r.off, len, x, EXTENTS_MAX, true);
		one = n == 0 || (n == 1 && !x[0].hole);
	}
	if (one) {
		/* One data chunk: its header in the room before the bytes. */
		nbd_chunk(d - 28, NBD_REPLY_FLAG_DONE,
		    NBD_REPLY_TYPE_OFFSET_DATA, q->r.cookie, 8 + len);
		nbd_be64(d - 8, q->r.off);
		e = kc_chain_append_seg(&ch, q->seg, HDR_ROOM - 28, 28 + len);
		goto send;
	}
	/* Data chunks view the bytes read; holes are a header each. */
	kn_count(&c->w->st.holes, 1);
	for (i = 0, at = 0; i < n && e == 0; i++) {
		uint8_t h[NBD_CHUNK_SIZE + 12];
		uint16_t fl = i + 1 == n ? NBD_REPLY_FLAG_DONE : 0;

		if (x[i].hole) {
			nbd_chunk(h, fl, NBD_REPLY_TYPE_OFFSET_HOLE,
			    q->r.cookie, 12);
			nbd_be64(h + NBD_CHUNK_SIZE, q->r.off + at);
			nbd_be32(h + NBD_CHUNK_SIZE + 8, (uint32_t)x[i].len);
			e = append_bytes(&ch, h, sizeof(h));
		} else {
			nbd_chunk(h, fl, NBD_REPLY_TYPE_OFFSET_DATA,
			    q->r.cookie, (uint32_t)(8 + x[i].len));
			nbd_be64(h + NBD_CHUNK_SIZE, q->r.off + at);
			if ((e = append_bytes(&ch, h, NBD_CHUNK_SIZE + 8)) == 0)
				e = kc_chain_append_seg(&ch, q->seg,
				    HDR_ROOM + at, x[i].len);
		}
		at += x[i].len;
	}
send:
	if (e != 0) {
		kc_chain_free(&ch);
		kn_req_error(q, NBD_ENOMEM);
		return;
	}
	kn_req_send(q, &ch);
}

/*
 * A read: into a segment with room for the reply's header in front, so
 * that the usual reply is one view of one segment.  This is where
 * kc_socket_sendfile() goes once the library has it: a read with no holes
 * to report can send its header and then the file's bytes from the page
 * cache, and this buffer, the read and the copy go away.
 */
static void
read_start(struct req *q)
{
	struct conn *c = q->c;
	int e;

	if (q->seg == NULL) {
		if (kc_seg_alloc(&q->seg, HDR_ROOM + (size_t)q->r.len) != 0) {
			kn_req_error(q, NBD_ENOMEM);
			return;
		}
		q->held += q->r.len;
		c->held += q->r.len;
	}
	e = kc_file_read(&q->fr, c->f, (uint8_t *)kc_seg_data(q->seg) +
	    HDR_ROOM + q->pos, q->r.len - q->pos, q->r.off + q->pos,
	    &q->done);
	if (e != 0)
		kn_req_error(q, nbd_errno(e));
}

/*
 * A large read whose reply is one run of data (a simple reply, or one
 * data chunk: no hole in the range, or DF) goes by sendfile.  False: it
 * did not start (the caller reads the usual way).
 */
static bool
read_sendfile(struct req *q)
{
	struct conn *c = q->c;
	struct kc_chain ch = KC_CHAIN_INITIALIZER;
	struct extent x[2];
	uint8_t h[NBD_CHUNK_SIZE + 8];
	unsigned n;

	if (c->tx.structured) {
		if ((q->r.flags & NBD_CMD_FLAG_DF) == 0) {
			n = map_extents(c->fd, q->r.off, q->r.len, x, 2, true);
			if (n != 1 || x[0].hole)
				return false;
		}
		nbd_chunk(h, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_OFFSET_DATA,
		    q->r.cookie, 8 + q->r.len);
		nbd_be64(h + NBD_CHUNK_SIZE, q->r.off);
		if (append_bytes(&ch, h, NBD_CHUNK_SIZE + 8) != 0)
			return false;
	} else {
		nbd_simple_reply(h, 0, q->r.cookie);
		if (append_bytes(&ch, h, NBD_SIMPLE_SIZE) != 0)
			return false;
	}
	if (kn_req_sendfile(q, &ch, q->r.off, q->r.len) != 0) {
		kc_chain_free(&ch);
		return false;
	}
	kn_count(&c->w->st.reads, 1);
	kn_count(&c->w->st.read_bytes, q->r.len);
	kn_count(&c->w->st.sendfiles, 1);
	return true;
}

static void
read_done(struct req *q, int status)
{
	uint8_t *d = (uint8_t *)kc_seg_data(q->seg) + HDR_ROOM;

	if (status < 0) {
		kn_req_error(q, nbd_errno(status));
		return;
	}
	if (status == 0) {
		/* The file ended before the export: zeroes. */
		memset(d + q->pos, 0, q->r.len - q->pos);
		q->pos = q->r.len;
	} else
		q->pos += (uint64_t)status;
	if (q->pos < q->r.len)
		read_start(q);
	else
		read_reply(q);
}

/* ---- writes ---- */

static int
write_iov(struct req *q)
{
	size_t bytes = 0;
	int n;

	n = kc_chain_iov(&q->data, q->iov1, 8, &bytes);
	if (n < 0)
		return n;
	if (bytes == q->r.len) {
		q->niov = n;
		return 0;
	}
	if ((q->iov_alloc = calloc(IOV_MAX, sizeof(*q->iov))) == NULL)
		return -ENOMEM;
	q->iov = q->iov_alloc;
	n = kc_chain_iov(&q->data, q->iov, IOV_MAX, &bytes);
	if (n < 0)
		return n;
	if (bytes != q->r.len) {
		/* More views than IOV_MAX: one contiguous copy. */
		if ((q->flat = malloc(q->r.len)) == NULL)
			return -ENOMEM;
		(void)kc_chain_copyout(&q->data, 0, q->flat, q->r.len);
		q->iov[0].iov_base = q->flat;
		q->iov[0].iov_len = q->r.len;
		n = 1;
	}
	q->niov = n;
	return 0;
}

/* Drop bytes written from the front of the iovecs. */
static void
iov_advance(struct req *q, size_t n)
{
	while (n > 0 && q->niov > 0) {
		if (n < q->iov[0].iov_len) {
			q->iov[0].iov_base = (uint8_t *)q->iov[0].iov_base + n;
			q->iov[0].iov_len -= n;
			return;
		}
		n -= q->iov[0].iov_len;
		q->iov++;
		q->niov--;
	}
}

static void
write_next(struct req *q)
{
	int e = kc_file_writev(&q->fr, q->c->f, q->iov, q->niov,
	    q->r.off + q->pos, &q->done);

	if (e != 0)
		kn_req_error(q, nbd_errno(e));
}

/* FUA: the data on stable storage before the reply. */
static void
sync_or_reply(struct req *q)
{
	int e;

	if ((q->r.flags & NBD_CMD_FLAG_FUA) == 0) {
		kn_req_error(q, 0);
		return;
	}
	q->stage = ST_SYNC;
	if ((e = kc_file_sync(&q->fr, q->c->f, KC_FILE_DATASYNC,
	    &q->done)) != 0)
		kn_req_error(q, nbd_errno(e));
}

static void
zero_write_next(struct req *q)
{
	uint64_t n = q->r.len - q->pos;
	int e;

	if (n > ZERO_CHUNK)
		n = ZERO_CHUNK;
	q->stage = ST_ZERO_WRITE;
	if ((e = kc_file_write(&q->fr, q->c->f, zeroes, (size_t)n,
	    q->r.off + q->pos, &q->done)) != 0)
		kn_req_error(q, nbd_errno(e));
}

static void
fallocate_step(struct req *q, int mode)
{
	int e = kc_file_fallocate(&q->fr, q->c->f, mode, q->r.off, q->r.len,
	    &q->done);

	if (e != 0)
		kn_req_error(q, nbd_errno(e));
}

/* ---- block status ---- */

static void
block_status(struct req *q)
{
	struct conn *c = q->c;
	struct kc_chain ch = KC_CHAIN_INITIALIZER;
	struct extent x[EXTENTS_MAX];
	uint8_t b[NBD_CHUNK_SIZE + 4 + 8 * EXTENTS_MAX];
	unsigned n, i;
	size_t len;

	kn_count(&c->w->st.block_status, 1);
	n = map_extents(c->fd, q->r.off, q->r.len, x,
	    (q->r.flags & NBD_CMD_FLAG_REQ_ONE) != 0 ? 1 : EXTENTS_MAX, false);
	if (n == 0) {
		kn_req_error(q, NBD_EINVAL);
		return;
	}
	len = 4 + 8 * (size_t)n;
	nbd_chunk(b, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_BLOCK_STATUS,
	    q->r.cookie, (uint32_t)len);
	nbd_be32(b + NBD_CHUNK_SIZE, NBD_META_BASE_ID);
	for (i = 0; i < n; i++) {
		nbd_be32(b + NBD_CHUNK_SIZE + 4 + 8 * i, (uint32_t)x[i].len);
		nbd_be32(b + NBD_CHUNK_SIZE + 8 + 8 * i, x[i].hole ?
		    NBD_STATE_HOLE | NBD_STATE_ZERO : 0);
	}
	if (append_bytes(&ch, b, NBD_CHUNK_SIZE + len) != 0) {
		kc_chain_free(&ch);
		kn_req_error(q, NBD_ENOMEM);
		return;
	}
	kn_req_send(q, &ch);
}

/* ---- dispatch ---- */

void
kn_req_start(struct req *q)
{
	struct conn *c = q->c;
	struct kn_stats *st = &c->w->st;
	int e;

	(void)kc_init(&q->done, op_done, q, c->w->ex, 0);
	q->stage = ST_OP;
	switch (q->r.type) {
	case NBD_CMD_READ:
		if (q->r.len >= SENDFILE_MIN && read_sendfile(q))
			return;
		read_start(q);
		return;
	case NBD_CMD_WRITE:
		kn_count(&st->writes, 1);
		kn_count(&st->write_bytes, q->r.len);
		if ((e = write_iov(q)) != 0)
			kn_req_error(q, nbd_errno(e));
		else
			write_next(q);
		return;
	case NBD_CMD_FLUSH:
		kn_count(&st->flushes, 1);
		q->stage = ST_SYNC;
		if ((e = kc_file_sync(&q->fr, c->f, KC_FILE_DATASYNC,
		    &q->done)) != 0)
			kn_req_error(q, nbd_errno(e));
		return;
	case NBD_CMD_TRIM:
		kn_count(&st->trims, 1);
		fallocate_step(q, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE);
		return;
	case NBD_CMD_WRITE_ZEROES:
		kn_count(&st->zeroes, 1);
		if ((q->r.flags & NBD_CMD_FLAG_NO_HOLE) != 0) {
			q->stage = ST_ZERO_RANGE;
			fallocate_step(q, FALLOC_FL_ZERO_RANGE |
			    FALLOC_FL_KEEP_SIZE);
		} else
			fallocate_step(q, FALLOC_FL_PUNCH_HOLE |
			    FALLOC_FL_KEEP_SIZE);
		return;
	case NBD_CMD_CACHE:
		kn_count(&st->caches, 1);
		(void)posix_fadvise(c->fd, (off_t)q->r.off, (off_t)q->r.len,
		    POSIX_FADV_WILLNEED);
		kn_req_error(q, 0);
		return;
	case NBD_CMD_BLOCK_STATUS:
		block_status(q);
		return;
	default:
		kn_req_error(q, NBD_EINVAL);	/* nbd_req_check() stops these */
		return;
	}
}

/* Every file operation's completion, on the connection's worker. */
static void
op_done(void *obj, void *env, int status)
{
	struct req *q = env;

	(void)obj;
	if (q->stage == ST_SYNC) {
		kn_req_error(q, status < 0 ? nbd_errno(status) : 0);
		return;
	}
	switch (q->r.type) {
	case NBD_CMD_READ:
		read_done(q, status);
		return;
	case NBD_CMD_WRITE:
		if (status < 0) {
			kn_req_error(q, nbd_errno(status));
			return;
		}
		q->pos += (uint64_t)status;
		if (q->pos >= q->r.len)
			sync_or_reply(q);
		else if (status == 0)
			kn_req_error(q, NBD_EIO);
		else {
			iov_advance(q, (size_t)status);
			write_next(q);
		}
		return;
	case NBD_CMD_TRIM:
		/* A trim is advice: a file system that cannot punch is fine. */
		if (status < 0 && status != -EOPNOTSUPP) {
			kn_req_error(q, nbd_errno(status));
			return;
		}
		sync_or_reply(q);
		return;
	case NBD_CMD_WRITE_ZEROES:
		if (q->stage == ST_ZERO_WRITE) {
			if (status <= 0) {
				kn_req_error(q, status < 0 ?
				    nbd_errno(status) : NBD_EIO);
				return;
			}
			q->pos += (uint64_t)status;
			if (q->pos < q->r.len)
				zero_write_next(q);
			else
				sync_or_reply(q);
			return;
		}
		if (status == -EOPNOTSUPP || status == -EINVAL) {
			/* Punching, then zeroing a range, may not be had. */
			if (q->stage == ST_OP) {
				q->stage = ST_ZERO_RANGE;
				fallocate_step(q, FALLOC_FL_ZERO_RANGE |
				    FALLOC_FL_KEEP_SIZE);
			} else
				zero_write_next(q);
			return;
		}
		if (status < 0) {
			kn_req_error(q, nbd_errno(status));
			return;
		}
		sync_or_reply(q);
		return;
	default:
		kn_req_error(q, status < 0 ? nbd_errno(status) : 0);
		return;
	}
}
