/*
 * buf.c: buffer chains over reference-counted segments (kcont/buf.h).
 *
 * A chain is a singly linked list of views; a view holds one reference to
 * its segment.  Nothing here copies bytes between chains: moving data moves
 * views, sharing adds views and references.
 *
 * Writing into a segment.  Bytes a view covers must never change, yet
 * appending should fill the free end of the last segment instead of taking
 * a new one per call.  Each segment records its fill point, s_fill: bytes
 * below it have been handed to a view (or claimed by a room), bytes above it
 * are free.  A chain may write above the fill point only while it holds the
 * segment's sole reference through its tail view and that view ends at the
 * fill point: then no other chain, room or caller can see those bytes.  The
 * sole reference also makes s_fill the writer's alone, so it needs no
 * atomics: whoever dropped the other references released them, and the
 * writer's acquire load of the count orders their accesses before its own.
 * Segments from kc_seg_alloc() and kc_seg_wrap() start full (s_fill ==
 * s_size) because their bytes are the caller's.
 *
 * Rooms.  kc_chain_room() claims the free end of the tail segment (moving
 * s_fill to the end, and taking a reference) or a new segment, so that
 * neither an append on the same chain nor a chain the tail view is split or
 * shared into can write there before kc_chain_commit().  Commit gives the
 * unused part back by lowering s_fill.  A chain holding a room keeps one
 * spare view set aside for the commit, so commit can neither allocate nor
 * fail; kc_chain_split() may not take that one.
 *
 * Memory.  Views and default-size segments are recycled through bounded
 * per-thread caches, so a steady stream of append, split, drop and free
 * calls does not reach malloc.  A thread's caches are freed by a
 * pthread key destructor when it exits; frees that happen later in the
 * thread's exit go straight to free().
 */
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../core/internal.h"

#define BUF_SEG_MAX		((size_t)1 << 30)	/* 1 GiB, documented */
#define BUF_CACHE_VIEWS		256
#define BUF_CACHE_SEGS		32
#define BUF_SPARE_KEEP		8	/* spares kept from views given up */
#define BUF_RESERVE_MAX		65536u
#define BUF_WRITE_IOV		64

#define SEG_WRAPPED		0x1u

struct kc_seg {
	unsigned		 s_refs;	/* atomic */
	unsigned		 s_flags;	/* fixed at creation */
	size_t			 s_size;
	size_t			 s_fill;	/* sole reference holder only */
	unsigned char		*s_data;
	kc_seg_release_fn	*s_release;	/* wrapped segments */
	void			*s_arg;
	struct kc_seg		*s_next;	/* thread cache link */
} __attribute__((aligned(16)));		/* the bytes follow, aligned */

struct kc_view {
	struct kc_view	*v_next;
	struct kc_seg	*v_seg;
	size_t		 v_off;
	size_t		 v_len;
};

/*
 * Per-thread caches.  BC_NEW: the destructor is not registered yet;
 * BC_LIVE: it is; BC_DEAD: the thread is exiting (or registration failed),
 * so nothing more may be cached.
 */
enum { BC_NEW, BC_LIVE, BC_DEAD };

struct buf_cache {
	struct kc_view	*bc_views;
	struct kc_seg	*bc_segs;
	unsigned	 bc_nviews;
	unsigned	 bc_nsegs;
	int		 bc_state;
};

static __thread struct buf_cache buf_tc;
static pthread_once_t buf_once = PTHREAD_ONCE_INIT;
static pthread_key_t buf_key;
static bool buf_key_ok;

static void
buf_cache_exit(void *arg)
{
	struct buf_cache *bc = arg;
	struct kc_view *v;
	struct kc_seg *s;

	bc->bc_state = BC_DEAD;
	while ((v = bc->bc_views) != NULL) {
		bc->bc_views = v->v_next;
		free(v);
	}
	while ((s = bc->bc_segs) != NULL) {
		bc->bc_segs = s->s_next;
		free(s);
	}
	bc->bc_nviews = bc->bc_nsegs = 0;
}

static void
buf_key_init(void)
{
	buf_key_ok = pthread_key_create(&buf_key, buf_cache_exit) == 0;
}

/* This thread's cache, or NULL when it must not keep anything. */
static struct buf_cache *
buf_cache(void)
{
	struct buf_cache *bc = &buf_tc;

	if (KC__LIKELY(bc->bc_state == BC_LIVE))
		return bc;
	if (bc->bc_state == BC_DEAD)
		return NULL;
	pthread_once(&buf_once, buf_key_init);
	if (!buf_key_ok || pthread_setspecific(buf_key, bc) != 0) {
		bc->bc_state = BC_DEAD;
		return NULL;
	}
	bc->bc_state = BC_LIVE;
	return bc;
}

/* malloc(3) that leaves errno alone: no function here sets errno. */
static void *
buf_malloc(size_t n)
{
	int saved = errno;
	void *p;

	p = malloc(n);
	/*
	 * A failing malloc() sets errno, but LLVM assumes malloc() leaves it
	 * alone and drops the restore as a store of the value just loaded;
	 * the barrier tells the compiler memory may have changed.
	 */
	__asm__ __volatile__("" ::: "memory");
	errno = saved;
	return p;
}

static struct kc_view *
view_get(void)
{
	struct buf_cache *bc = &buf_tc;
	struct kc_view *v;

	if ((v = bc->bc_views) != NULL) {
		bc->bc_views = v->v_next;
		bc->bc_nviews--;
		return v;
	}
	return buf_malloc(sizeof(*v));
}

static void
view_put(struct kc_view *v)
{
	struct buf_cache *bc;

	if ((bc = buf_cache()) != NULL && bc->bc_nviews < BUF_CACHE_VIEWS) {
		v->v_next = bc->bc_views;
		bc->bc_views = v;
		bc->bc_nviews++;
		return;
	}
	free(v);
}

/* A library segment of size bytes, one reference, nothing filled. */
static struct kc_seg *
seg_new(size_t size)
{
	struct buf_cache *bc = &buf_tc;
	struct kc_seg *s;

	if (size == KC_SEG_DEFAULT && (s = bc->bc_segs) != NULL) {
		bc->bc_segs = s->s_next;
		bc->bc_nsegs--;
	} else if ((s = buf_malloc(sizeof(*s) + size)) == NULL)
		return NULL;
	s->s_refs = 1;
	s->s_flags = 0;
	s->s_size = size;
	s->s_fill = 0;
	s->s_data = (unsigned char *)(s + 1);
	s->s_release = NULL;
	s->s_arg = NULL;
	s->s_next = NULL;
	return s;
}

static void
seg_destroy(struct kc_seg *s)
{
	struct buf_cache *bc;
	int saved;

	if (s->s_flags & SEG_WRAPPED) {
		if (s->s_release != NULL) {
			saved = errno;
			s->s_release(s->s_arg, s->s_data, s->s_size);
			errno = saved;
		}
		free(s);
		return;
	}
	if (s->s_size == KC_SEG_DEFAULT && (bc = buf_cache()) != NULL &&
	    bc->bc_nsegs < BUF_CACHE_SEGS) {
		s->s_next = bc->bc_segs;
		bc->bc_segs = s;
		bc->bc_nsegs++;
		return;
	}
	free(s);
}

static void
seg_ref(struct kc_seg *s)
{
	unsigned n = KC__ADD(&s->s_refs, 1);

	KC__ASSERT(n > 1);	/* 1 would mean it had been freed */
}

static void
seg_unref(struct kc_seg *s)
{
	unsigned n = KC__ADD(&s->s_refs, (unsigned)-1);

	KC__ASSERT(n != UINT_MAX);
	if (n == 0)
		seg_destroy(s);
}

/* Bytes the tail view may still be extended by, in place (see the top). */
static size_t
view_free_end(const struct kc_view *v)
{
	const struct kc_seg *s = v->v_seg;

	if (KC__LOAD(&s->s_refs) != 1 || v->v_off + v->v_len != s->s_fill)
		return 0;
	return s->s_size - s->s_fill;
}

/*
 * Chains.
 */

/* Spares set aside for kc_chain_commit() while c holds a room. */
static unsigned
chain_held(const struct kc_chain *c)
{
	return c->ch_room != NULL ? 1 : 0;
}

#ifdef KC_DEBUG
static void
chain_check(const struct kc_chain *c)
{
	const struct kc_view *v, *last = NULL;
	size_t len = 0;
	uint32_t n = 0;

	for (v = c->ch_head; v != NULL; v = v->v_next) {
		KC__ASSERT(v->v_len > 0);
		KC__ASSERT(v->v_off + v->v_len <= v->v_seg->s_size);
		len += v->v_len;
		n++;
		last = v;
	}
	KC__ASSERT(last == c->ch_tail && len == c->ch_len &&
	    n == c->ch_nviews);
	for (n = 0, v = c->ch_spare; v != NULL; v = v->v_next)
		n++;
	KC__ASSERT(n == c->ch_nspare && c->ch_nspare >= chain_held(c));
	KC__ASSERT(c->ch_room == NULL ||
	    c->ch_roomoff + c->ch_roomlen == c->ch_room->s_size);
}
#else
#define chain_check(c)	do { } while (0)
#endif

static struct kc_view *
chain_pop_spare(struct kc_chain *c)
{
	struct kc_view *v = c->ch_spare;

	KC__ASSERT(v != NULL);
	c->ch_spare = v->v_next;
	c->ch_nspare--;
	v->v_next = NULL;
	return v;
}

/* Keep a view c no longer needs as a spare, up to a few; cache the rest. */
static void
chain_give_view(struct kc_chain *c, struct kc_view *v)
{
	if (c->ch_nspare < BUF_SPARE_KEEP + chain_held(c)) {
		v->v_next = c->ch_spare;
		c->ch_spare = v;
		c->ch_nspare++;
	} else
		view_put(v);
}

/*
 * Make c hold at least n spares.  On failure the spares already made stay:
 * they do not change what c views.
 */
static int
chain_spares(struct kc_chain *c, size_t n)
{
	struct kc_view *v;

	while (c->ch_nspare < n) {
		if ((v = view_get()) == NULL)
			return -ENOMEM;
		v->v_next = c->ch_spare;
		c->ch_spare = v;
		c->ch_nspare++;
	}
	return 0;
}

static void
chain_room_release(struct kc_chain *c)
{
	struct kc_seg *s = c->ch_room;

	if (s == NULL)
		return;
	/* The claim reached the end; give it all back. */
	s->s_fill = c->ch_roomoff;
	c->ch_room = NULL;
	c->ch_roomoff = c->ch_roomlen = 0;
	seg_unref(s);
}

/*
 * Link the list head..tail (n views, len bytes) after c's last view.  Two
 * views meeting in the same segment become one, so that splitting and
 * joining again leaves the chain as it was (and its tail writable).
 */
static void
chain_link_back(struct kc_chain *c, struct kc_view *head,
    struct kc_view *tail, uint32_t n, size_t len)
{
	struct kc_view *t = c->ch_tail, *next;

	if (head == NULL)
		return;
	c->ch_len += len;
	if (t != NULL && t->v_seg == head->v_seg &&
	    t->v_off + t->v_len == head->v_off) {
		t->v_len += head->v_len;
		next = head->v_next;
		seg_unref(head->v_seg);		/* t holds another */
		if (head == tail)
			tail = t;
		chain_give_view(c, head);
		head = next;
		n--;
		if (head == NULL)
			return;
	}
	if (t != NULL)
		t->v_next = head;
	else
		c->ch_head = head;
	c->ch_tail = tail;
	tail->v_next = NULL;
	c->ch_nviews += n;
}

/* Link head..tail before c's first view, joining views as above. */
static void
chain_link_front(struct kc_chain *c, struct kc_view *head,
    struct kc_view *tail, uint32_t n, size_t len)
{
	struct kc_view *h = c->ch_head;

	if (head == NULL)
		return;
	if (h == NULL) {
		chain_link_back(c, head, tail, n, len);
		return;
	}
	c->ch_len += len;
	if (tail->v_seg == h->v_seg && tail->v_off + tail->v_len == h->v_off) {
		/* Grow the caller's last view backwards over h; drop h. */
		tail->v_len += h->v_len;
		tail->v_next = h->v_next;
		if (c->ch_tail == h)
			c->ch_tail = tail;
		seg_unref(h->v_seg);
		chain_give_view(c, h);
		n--;
	} else
		tail->v_next = h;
	c->ch_head = head;
	c->ch_nviews += n;
}

/* Empty c's list (its views have moved elsewhere); spares and room stay. */
static void
chain_clear(struct kc_chain *c)
{
	c->ch_head = c->ch_tail = NULL;
	c->ch_len = 0;
	c->ch_nviews = 0;
}

/* Add [off, off + len) of s at the end of c, taking a spare and a reference. */
static void
chain_add(struct kc_chain *c, struct kc_seg *s, size_t off, size_t len)
{
	struct kc_view *t = c->ch_tail, *v;

	if (t != NULL && t->v_seg == s && t->v_off + t->v_len == off) {
		t->v_len += len;
		c->ch_len += len;
		return;
	}
	seg_ref(s);
	v = chain_pop_spare(c);
	v->v_seg = s;
	v->v_off = off;
	v->v_len = len;
	chain_link_back(c, v, v, 1, len);
}

/* Take n new default segments, all or none, onto *listp. */
static int
segs_get(size_t n, struct kc_seg **listp)
{
	struct kc_seg *s, *list = NULL;

	while (n-- > 0) {
		if ((s = seg_new(KC_SEG_DEFAULT)) == NULL) {
			while ((s = list) != NULL) {
				list = s->s_next;
				seg_destroy(s);
			}
			return -ENOMEM;
		}
		s->s_next = list;
		list = s;
	}
	*listp = list;
	return 0;
}

static size_t
segs_for(size_t len)
{
	return len / KC_SEG_DEFAULT + (len % KC_SEG_DEFAULT != 0);
}

int
kc_seg_alloc(struct kc_seg **sp, size_t size)
{
	struct kc_seg *s;

	if (sp == NULL)
		return -EINVAL;
	*sp = NULL;
	if (size == 0 || size > BUF_SEG_MAX)
		return -EINVAL;
	if ((s = seg_new(size)) == NULL)
		return -ENOMEM;
	s->s_fill = size;	/* the caller's bytes: never appended to */
	*sp = s;
	return 0;
}

int
kc_seg_wrap(struct kc_seg **sp, void *data, size_t size,
    kc_seg_release_fn *release, void *arg)
{
	struct kc_seg *s;

	if (sp == NULL)
		return -EINVAL;
	*sp = NULL;
	if (data == NULL || size == 0)
		return -EINVAL;
	if ((s = buf_malloc(sizeof(*s))) == NULL)
		return -ENOMEM;
	s->s_refs = 1;
	s->s_flags = SEG_WRAPPED;
	s->s_size = size;
	s->s_fill = size;
	s->s_data = data;
	s->s_release = release;
	s->s_arg = arg;
	s->s_next = NULL;
	*sp = s;
	return 0;
}

void *
kc_seg_data(const struct kc_seg *s)
{
	return s != NULL ? s->s_data : NULL;
}

size_t
kc_seg_size(const struct kc_seg *s)
{
	return s != NULL ? s->s_size : 0;
}

void
kc_seg_ref(struct kc_seg *s)
{
	if (s != NULL)
		seg_ref(s);
}

void
kc_seg_unref(struct kc_seg *s)
{
	if (s != NULL)
		seg_unref(s);
}

unsigned
kc_seg_refs(const struct kc_seg *s)
{
	return s != NULL ? KC__LOAD(&s->s_refs) : 0;
}

void
kc_chain_init(struct kc_chain *c)
{
	if (c == NULL)
		return;
	memset(c, 0, sizeof(*c));
}

void
kc_chain_free(struct kc_chain *c)
{
	struct kc_view *v;

	if (c == NULL)
		return;
	chain_room_release(c);
	while ((v = c->ch_head) != NULL) {
		c->ch_head = v->v_next;
		seg_unref(v->v_seg);
		view_put(v);
	}
	while ((v = c->ch_spare) != NULL) {
		c->ch_spare = v->v_next;
		view_put(v);
	}
	memset(c, 0, sizeof(*c));
}

int
kc_chain_append(struct kc_chain *c, const void *data, size_t len)
{
	const unsigned char *p = data;
	struct kc_view *t;
	struct kc_seg *list, *s;
	size_t take, rest, nseg, n;
	int error;

	if (c == NULL || (data == NULL && len > 0))
		return -EINVAL;
	t = c->ch_tail;
	take = t != NULL ? view_free_end(t) : 0;
	if (take > len)
		take = len;
	rest = len - take;
	nseg = segs_for(rest);
	/* Everything that can fail comes first: c stays as it was. */
	if ((error = chain_spares(c, nseg + 1 + chain_held(c))) != 0)
		return error;
	if ((error = segs_get(nseg, &list)) != 0)
		return error;

	if (take > 0) {
		s = t->v_seg;
		memcpy(s->s_data + s->s_fill, p, take);
		s->s_fill += take;
		t->v_len += take;
		c->ch_len += take;
		p += take;
	}
	while ((s = list) != NULL) {
		list = s->s_next;
		s->s_next = NULL;
		n = rest < KC_SEG_DEFAULT ? rest : KC_SEG_DEFAULT;
		memcpy(s->s_data, p, n);
		s->s_fill = n;
		chain_add(c, s, 0, n);
		seg_unref(s);		/* the view holds it now */
		p += n;
		rest -= n;
	}
	chain_check(c);
	return 0;
}

int
kc_chain_prepend(struct kc_chain *c, const void *data, size_t len)
{
	const unsigned char *p = data;
	struct kc_view *head = NULL, *tail = NULL, *v;
	struct kc_seg *list, *s;
	size_t nseg, n, rest = len;
	int error;

	if (c == NULL || (data == NULL && len > 0))
		return -EINVAL;
	nseg = segs_for(len);
	if ((error = chain_spares(c, nseg + 1 + chain_held(c))) != 0)
		return error;
	if ((error = segs_get(nseg, &list)) != 0)
		return error;

	/* Fill the new segments in order, then put the lot in front. */
	while ((s = list) != NULL) {
		list = s->s_next;
		s->s_next = NULL;
		n = rest < KC_SEG_DEFAULT ? rest : KC_SEG_DEFAULT;
		memcpy(s->s_data, p, n);
		s->s_fill = n;
		v = chain_pop_spare(c);
		v->v_seg = s;		/* takes the new segment's reference */
		v->v_off = 0;
		v->v_len = n;
		if (tail != NULL)
			tail->v_next = v;
		else
			head = v;
		tail = v;
		p += n;
		rest -= n;
	}
	chain_link_front(c, head, tail, (uint32_t)nseg, len);
	chain_check(c);
	return 0;
}

int
kc_chain_append_seg(struct kc_chain *c, struct kc_seg *s, size_t off,
    size_t len)
{
	int error;

	if (c == NULL || s == NULL || len == 0 || off > s->s_size ||
	    len > s->s_size - off)
		return -EINVAL;
	if ((error = chain_spares(c, 2 + chain_held(c))) != 0)
		return error;
	chain_add(c, s, off, len);
	chain_check(c);
	return 0;
}

int
kc_chain_share(struct kc_chain *dst, const struct kc_chain *src, size_t off,
    size_t len)
{
	const struct kc_view *v, *first;
	size_t pos, skip, n, left, count;
	int error;

	if (dst == NULL || src == NULL || dst == src || off > src->ch_len ||
	    len > src->ch_len - off)
		return -EINVAL;
	/* Find the view holding byte off, and count the views to copy. */
	for (pos = 0, v = src->ch_head; v != NULL && pos + v->v_len <= off;
	    v = v->v_next)
		pos += v->v_len;
	first = v;
	skip = off - pos;
	for (count = 0, left = len + skip; left > 0; v = v->v_next) {
		count++;
		left -= left < v->v_len ? left : v->v_len;
	}
	if ((error = chain_spares(dst, count + 1 + chain_held(dst))) != 0)
		return error;

	for (v = first, left = len; left > 0; v = v->v_next, skip = 0) {
		n = v->v_len - skip;
		if (n > left)
			n = left;
		chain_add(dst, v->v_seg, v->v_off + skip, n);
		left -= n;
	}
	chain_check(dst);
	return 0;
}

void
kc_chain_concat(struct kc_chain *dst, struct kc_chain *src)
{
	if (dst == NULL || src == NULL || dst == src)
		return;
	chain_link_back(dst, src->ch_head, src->ch_tail, src->ch_nviews,
	    src->ch_len);
	chain_clear(src);
	chain_check(dst);
	chain_check(src);
}

void
kc_chain_prepend_chain(struct kc_chain *dst, struct kc_chain *src)
{
	if (dst == NULL || src == NULL || dst == src)
		return;
	chain_link_front(dst, src->ch_head, src->ch_tail, src->ch_nviews,
	    src->ch_len);
	chain_clear(src);
	chain_check(dst);
	chain_check(src);
}

int
kc_chain_split(struct kc_chain *c, size_t off, struct kc_chain *tail)
{
	struct kc_view *v, *prev = NULL, *nv;
	size_t pos = 0, cut;
	uint32_t kept = 0;

	if (c == NULL || tail == NULL || tail == c || off > c->ch_len)
		return -EINVAL;
	if (off == c->ch_len)
		return 0;
	if (off == 0) {
		kc_chain_concat(tail, c);
		return 0;
	}
	for (v = c->ch_head; pos + v->v_len <= off; v = v->v_next) {
		pos += v->v_len;
		prev = v;
		kept++;
	}
	if (pos < off) {
		/* Byte off is inside v: cut v in two, with a spare. */
		if (c->ch_nspare <= chain_held(c))
			return -ENOBUFS;
		cut = off - pos;
		nv = chain_pop_spare(c);
		nv->v_seg = v->v_seg;
		nv->v_off = v->v_off + cut;
		nv->v_len = v->v_len - cut;
		nv->v_next = v->v_next;
		seg_ref(v->v_seg);
		v->v_len = cut;
		v->v_next = nv;
		if (c->ch_tail == v)
			c->ch_tail = nv;
		c->ch_nviews++;
		prev = v;
		kept++;
	}
	/* prev ends at off; everything after it moves. */
	nv = prev->v_next;
	chain_link_back(tail, nv, c->ch_tail, c->ch_nviews - kept,
	    c->ch_len - off);
	prev->v_next = NULL;
	c->ch_tail = prev;
	c->ch_nviews = kept;
	c->ch_len = off;
	chain_check(c);
	chain_check(tail);
	return 0;
}

int
kc_chain_reserve(struct kc_chain *c, unsigned n)
{
	if (c == NULL || n > BUF_RESERVE_MAX)
		return -EINVAL;
	return chain_spares(c, (n > 0 ? n : 1) + chain_held(c));
}

size_t
kc_chain_copyout(const struct kc_chain *c, size_t off, void *buf, size_t len)
{
	const struct kc_view *v;
	unsigned char *p = buf;
	size_t pos = 0, skip, n, done = 0;

	if (c == NULL || buf == NULL || off >= c->ch_len)
		return 0;
	if (len > c->ch_len - off)
		len = c->ch_len - off;
	for (v = c->ch_head; pos + v->v_len <= off; v = v->v_next)
		pos += v->v_len;
	for (skip = off - pos; done < len; v = v->v_next, skip = 0) {
		n = v->v_len - skip;
		if (n > len - done)
			n = len - done;
		memcpy(p + done, v->v_seg->s_data + v->v_off + skip, n);
		done += n;
	}
	return done;
}

size_t
kc_chain_drop(struct kc_chain *c, size_t len)
{
	struct kc_view *v;
	size_t done = 0;

	if (c == NULL)
		return 0;
	if (len > c->ch_len)
		len = c->ch_len;
	while (done < len) {
		v = c->ch_head;
		if (v->v_len > len - done) {
			v->v_off += len - done;
			v->v_len -= len - done;
			done = len;
			break;
		}
		done += v->v_len;
		c->ch_head = v->v_next;
		c->ch_nviews--;
		seg_unref(v->v_seg);
		chain_give_view(c, v);
	}
	if (c->ch_head == NULL)
		c->ch_tail = NULL;
	c->ch_len -= done;
	chain_check(c);
	return done;
}

int
kc_chain_iov(const struct kc_chain *c, struct iovec *iov, int max,
    size_t *bytesp)
{
	const void *cursor = NULL;
	size_t bytes;
	int n;

	if (c == NULL || max < 0 || (iov == NULL && max > 0))
		return -EINVAL;
	n = kc__chain_iov_next(c, &cursor, iov, max, &bytes);
	if (bytesp != NULL)
		*bytesp = bytes;
	return n;
}

int
kc__chain_iov_next(const struct kc_chain *c, const void **cursor,
    struct iovec *iov, int max, size_t *bytesp)
{
	const struct kc_view *v = *cursor != NULL ? *cursor : c->ch_head;
	size_t bytes = 0;
	int n;

	for (n = 0; v != NULL && n < max; v = v->v_next, n++) {
		iov[n].iov_base = v->v_seg->s_data + v->v_off;
		iov[n].iov_len = v->v_len;
		bytes += v->v_len;
	}
	*cursor = v;
	*bytesp = bytes;
	return n;
}

int
kc_chain_room(struct kc_chain *c, size_t min, struct iovec *iov)
{
	struct kc_seg *s;
	size_t need = min > 0 ? min : 1;
	int error;

	if (c == NULL || iov == NULL || min > BUF_SEG_MAX)
		return -EINVAL;
	/* One spare for the commit, one for a split. */
	if ((error = chain_spares(c, 2)) != 0)
		return error;
	if (c->ch_room == NULL || c->ch_roomlen < need) {
		chain_room_release(c);
		if (c->ch_tail != NULL && view_free_end(c->ch_tail) >= need) {
			s = c->ch_tail->v_seg;
			seg_ref(s);
			c->ch_roomoff = s->s_fill;
		} else {
			s = seg_new(need > KC_SEG_DEFAULT ? need :
			    KC_SEG_DEFAULT);
			if (s == NULL)
				return -ENOMEM;
			c->ch_roomoff = 0;
		}
		/* Claim the rest of the segment (see the top of the file). */
		c->ch_roomlen = s->s_size - c->ch_roomoff;
		s->s_fill = s->s_size;
		c->ch_room = s;
	}
	iov->iov_base = c->ch_room->s_data + c->ch_roomoff;
	iov->iov_len = c->ch_roomlen;
	chain_check(c);
	return 0;
}

int
kc_chain_commit(struct kc_chain *c, size_t n)
{
	struct kc_seg *s;
	struct kc_view *t, *v;
	size_t off;

	if (c == NULL || c->ch_room == NULL || n > c->ch_roomlen)
		return -EINVAL;
	if (n == 0)
		return 0;	/* nothing to add; the room stays */
	s = c->ch_room;
	off = c->ch_roomoff;
	s->s_fill = off + n;	/* the rest is free again */
	t = c->ch_tail;
	if (t != NULL && t->v_seg == s && t->v_off + t->v_len == off) {
		t->v_len += n;
		c->ch_len += n;
		seg_unref(s);	/* t holds another */
	} else {
		/* The spare set aside by kc_chain_room(); the room's ref. */
		v = chain_pop_spare(c);
		v->v_seg = s;
		v->v_off = off;
		v->v_len = n;
		chain_link_back(c, v, v, 1, n);
	}
	c->ch_room = NULL;
	c->ch_roomoff = c->ch_roomlen = 0;
	chain_check(c);
	return 0;
}

ssize_t
kc__chain_read(struct kc_chain *c, int fd, size_t min, size_t max,
    bool *full)
{
	struct iovec iov;
	ssize_t n;
	int error, saved;

	if (c == NULL || max == 0)
		return -EINVAL;
	if ((error = kc_chain_room(c, min, &iov)) != 0)
		return error;
	if (iov.iov_len > max)
		iov.iov_len = max;
	saved = errno;
	n = readv(fd, &iov, 1);
	if (n < 0) {
		n = -errno;
		errno = saved;
		return n;
	}
	errno = saved;
	if (n > 0) {
		error = kc_chain_commit(c, (size_t)n);
		KC__ASSERT(error == 0);	/* n fits the room just taken */
	}
	if (full != NULL)
		*full = (size_t)n == iov.iov_len;
	return n;
}

ssize_t
kc_chain_read(struct kc_chain *c, int fd, size_t max)
{
	return kc__chain_read(c, fd, 0, max, NULL);
}

ssize_t
kc_chain_write(struct kc_chain *c, int fd)
{
	struct iovec iov[BUF_WRITE_IOV];
	struct msghdr msg;
	ssize_t n;
	int cnt, saved;

	if (c == NULL)
		return -EINVAL;
	if (c->ch_len == 0)
		return 0;
	cnt = kc_chain_iov(c, iov, BUF_WRITE_IOV, NULL);
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = (size_t)cnt;
	saved = errno;
	/* sendmsg() for MSG_NOSIGNAL; anything that is not a socket, writev. */
	n = sendmsg(fd, &msg, MSG_NOSIGNAL);
	if (n < 0 && errno == ENOTSOCK)
		n = writev(fd, iov, cnt);
	if (n < 0)
		n = -errno;
	errno = saved;
	if (n > 0)
		kc_chain_drop(c, (size_t)n);
	return n;
}
