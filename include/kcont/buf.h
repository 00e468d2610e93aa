/*
 * kcont/buf.h: buffer chains, reference-counted segments shared without copy.
 *
 * A segment (struct kc_seg) is a block of bytes with a reference count: from
 * kc_seg_alloc() (the library's memory) or kc_seg_wrap() (the caller's
 * memory, handed back through a release function when the last reference
 * goes).  A chain (struct kc_chain) is a sequence of views, each a run of
 * bytes in one segment; appending, prepending, concatenating, splitting and
 * sharing move or add views and never copy the bytes.  Two chains may view
 * the same bytes: a segment's bytes must not change once a chain views them
 * (the writer of a segment appends only beyond every view of it).
 *
 * Splitting a chain inside a view needs one new view.  Every chain keeps
 * spare views for that: after any call that may allocate (append, prepend,
 * append_seg, share, reserve, room) succeeds, the chain holds at least one
 * spare, so the next kc_chain_split() on it neither allocates nor fails;
 * kc_chain_reserve() makes more.  That is what lets a split happen inside a
 * critical section.
 *
 * Memory ownership
 *   - struct kc_chain is caller-owned storage (embed it, or put it on the
 *     stack); initialise it with kc_chain_init() or KC_CHAIN_INITIALIZER.
 *     The views and spares it holds belong to it: kc_chain_free() releases
 *     them and leaves an empty chain that may be used again.
 *   - Functions that move data between chains (concat, prepend_chain, split)
 *     take the views out of the source and give them to the destination;
 *     nothing is copied or freed.  Where a function "takes" a chain, it
 *     leaves the caller's chain empty on success, and untouched on failure.
 *   - A segment lives while a reference to it does: each view holds one,
 *     kc_seg_alloc() and kc_seg_wrap() return one to the caller, kc_seg_ref()
 *     adds one and kc_seg_unref() drops one.
 *   - A chain is used by one thread at a time (no lock inside); segment
 *     reference counts are atomic, so chains on different threads may share
 *     segments.
 *
 * Functions return 0, a count, or a negative errno value; nothing sets errno.
 * See kc_chain(3).
 */
#ifndef KCONT_BUF_H
#define KCONT_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <kcont/kc.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kc_seg;
struct kc_view;

/* The size of a segment kc_chain_append() and kc_chain_room() allocate. */
#define KC_SEG_DEFAULT	16384u

struct kc_chain {
	struct kc_view	*ch_head;	/* private */
	struct kc_view	*ch_tail;	/* private */
	size_t		 ch_len;	/* private: bytes viewed */
	struct kc_view	*ch_spare;	/* private: spare views for split */
	struct kc_seg	*ch_room;	/* private: room from kc_chain_room() */
	size_t		 ch_roomoff;	/* private */
	size_t		 ch_roomlen;	/* private */
	uint32_t	 ch_nviews;	/* private */
	uint32_t	 ch_nspare;	/* private */
};

#define KC_CHAIN_INITIALIZER	{ 0, 0, 0, 0, 0, 0, 0, 0, 0 }

/* Release function of a wrapped segment: gets back what kc_seg_wrap() got. */
typedef void kc_seg_release_fn(void *arg, void *data, size_t size);

/*
 * A segment of size bytes of the library's memory, with one reference for
 * the caller.  Its bytes are uninitialised and writable.
 * Errors: -EINVAL (sp NULL, size 0 or above 1 GiB), -ENOMEM.
 */
KC_EXPORT int	kc_seg_alloc(struct kc_seg **sp, size_t size);

/*
 * A segment over the caller's memory: release(arg, data, size) is called
 * once, on whichever thread drops the last reference.  The caller must not
 * change the bytes a chain views.  Errors: -EINVAL (sp or data NULL, size 0),
 * -ENOMEM (then release is not called; data stays the caller's).
 */
KC_EXPORT int	kc_seg_wrap(struct kc_seg **sp, void *data, size_t size,
		    kc_seg_release_fn *release, void *arg);

/* Its bytes and size. */
KC_EXPORT void	*kc_seg_data(const struct kc_seg *s);
KC_EXPORT size_t kc_seg_size(const struct kc_seg *s);

/* Add or drop a reference; the last unref frees (or releases) it. */
KC_EXPORT void	kc_seg_ref(struct kc_seg *s);
KC_EXPORT void	kc_seg_unref(struct kc_seg *s);

/* Current references (a snapshot, for tests and assertions). */
KC_EXPORT unsigned kc_seg_refs(const struct kc_seg *s);

/* Initialise an empty chain.  Never allocates. */
KC_EXPORT void	kc_chain_init(struct kc_chain *c);

/*
 * Drop every view (and segment reference), spare and room: c is empty again
 * and may be used again.
 */
KC_EXPORT void	kc_chain_free(struct kc_chain *c);

/* Bytes in the chain (0 for NULL). */
static inline size_t
kc_chain_len(const struct kc_chain *c)
{
	return c != NULL ? c->ch_len : 0;
}

/*
 * Copy len bytes to the end (or the front) of c.  Appending fills the free
 * end of the last segment when only c views it, then new segments of
 * KC_SEG_DEFAULT bytes.  Errors: -EINVAL (c NULL, or data NULL with len >
 * 0), -ENOMEM (c is unchanged).
 */
KC_EXPORT int	kc_chain_append(struct kc_chain *c, const void *data,
		    size_t len);
KC_EXPORT int	kc_chain_prepend(struct kc_chain *c, const void *data,
		    size_t len);

/*
 * View bytes [off, off + len) of segment s at the end of c, sharing them:
 * c takes its own reference, the caller keeps its own.
 * Errors: -EINVAL (range outside the segment, len 0), -ENOMEM.
 */
KC_EXPORT int	kc_chain_append_seg(struct kc_chain *c, struct kc_seg *s,
		    size_t off, size_t len);

/*
 * View bytes [off, off + len) of src at the end of dst without copying (the
 * segments are shared; src is unchanged).  dst and src must differ.
 * Errors: -EINVAL (range outside src, or dst == src), -ENOMEM (dst is
 * unchanged).
 */
KC_EXPORT int	kc_chain_share(struct kc_chain *dst, const struct kc_chain *src,
		    size_t off, size_t len);

/*
 * Move all of src to the end (or the front) of dst; src is left empty (its
 * spares and room stay with it).  Nothing happens if dst == src or either
 * is NULL.
 */
KC_EXPORT void	kc_chain_concat(struct kc_chain *dst, struct kc_chain *src);
KC_EXPORT void	kc_chain_prepend_chain(struct kc_chain *dst,
		    struct kc_chain *src);

/*
 * Split c at byte off: c keeps [0, off), and [off, len) moves to the end of
 * tail.  Never allocates: a cut inside a view takes one of c's spares.
 * Errors: -EINVAL (off > len, or tail == c), -ENOBUFS (a view must be cut
 * and c has no spare; nothing moved).
 */
KC_EXPORT int	kc_chain_split(struct kc_chain *c, size_t off,
		    struct kc_chain *tail);

/*
 * Make sure c holds at least n spare views (at least one when n is 0).
 * Errors: -EINVAL (c NULL, n above 65536), -ENOMEM.
 */
KC_EXPORT int	kc_chain_reserve(struct kc_chain *c, unsigned n);

/*
 * Copy up to len bytes starting at byte off into buf; the chain is
 * unchanged.  Returns the number copied (0 when off >= length, or c or buf
 * is NULL).
 */
KC_EXPORT size_t kc_chain_copyout(const struct kc_chain *c, size_t off,
		    void *buf, size_t len);

/*
 * Drop up to len bytes from the front; returns how many were dropped (0 when
 * c is NULL).
 */
KC_EXPORT size_t kc_chain_drop(struct kc_chain *c, size_t len);

/*
 * Describe the first bytes of c in at most max iovecs (for writev or
 * sendmsg); returns the number of iovecs filled, and the bytes they cover
 * in *bytesp when bytesp is not NULL.  The iovecs stay valid until c is
 * next changed.  Errors: -EINVAL (c NULL, max < 0, iov NULL with max > 0).
 */
KC_EXPORT int	kc_chain_iov(const struct kc_chain *c, struct iovec *iov,
		    int max, size_t *bytesp);

/*
 * Writable room at the end of c for reading into: at least min bytes (1 if
 * min is 0), in the free end of the last segment when only c views it, else
 * in a new segment of max(min, KC_SEG_DEFAULT) bytes that c holds.  *iov
 * describes the room; nothing is added to the chain until kc_chain_commit().
 * c keeps the room until a commit or kc_chain_free(), whatever else is done
 * to c meanwhile; calling kc_chain_room() again returns the same room when
 * it is large enough, else gives it up for a new one.
 * Errors: -EINVAL (c or iov NULL, min above 1 GiB), -ENOMEM.
 */
KC_EXPORT int	kc_chain_room(struct kc_chain *c, size_t min,
		    struct iovec *iov);

/*
 * Add the first n bytes of the room the last kc_chain_room() gave to the end
 * of c; the rest of the room is given up.  Never allocates.  n == 0 adds
 * nothing and keeps the room.  Errors: -EINVAL (n larger than that room, or
 * no room taken).
 */
KC_EXPORT int	kc_chain_commit(struct kc_chain *c, size_t n);

/*
 * read(2) up to max bytes from fd into the end of c (one readv into the
 * room); returns the bytes read, 0 at end of file, or -errno (-EAGAIN on a
 * non-blocking descriptor with nothing to read; -EINVAL when c is NULL or
 * max is 0).  The room stays with c when nothing was read.
 */
KC_EXPORT ssize_t kc_chain_read(struct kc_chain *c, int fd, size_t max);

/*
 * writev(2) the front of c to fd and drop what was written; returns the
 * bytes written (0 when c is empty) or -errno.  MSG_NOSIGNAL semantics on
 * sockets: a peer that is gone gives -EPIPE (or -ECONNRESET), never SIGPIPE.
 * A pipe is written with writev(2), and SIGPIPE is not blocked for it.
 */
KC_EXPORT ssize_t kc_chain_write(struct kc_chain *c, int fd);

#ifdef __cplusplus
}
#endif

#endif /* KCONT_BUF_H */
