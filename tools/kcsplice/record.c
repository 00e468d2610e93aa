/*
 * record.c: kcsplice's recorder (record.h).
 *
 * A stream holds three chains: r_inflight, the batch being written (one
 * kc_file_write_chain() at a time, at the file's end; a short write goes
 * on with the rest); r_out, the records queued for the current file since
 * that batch began (the next batch); and r_next, the records for the next
 * file.  The cut between files is made when a record is queued and the
 * current file's planned size (r_plan: written, in flight and queued) has
 * reached file_max: r_next then starts with the next file's header and a
 * continuation KSR_OPEN for every connection open at that moment, and
 * every record after it goes there.  So a connection's records in a file
 * always follow its OPEN in that file, however the writes fall.  Once the
 * current file's records are all written, it is closed, the next opened,
 * and r_next becomes r_out.  One cut is pending at a time: a next file
 * that reaches its size before it is opened grows past it.
 *
 * Records are appended to r_out whole or not at all: a small one is built
 * on the stack and appended in one call, a large one in three (header,
 * shared payload, padding), and a failure part way cuts r_out back to
 * where it was (a split never allocates: every append leaves a spare).
 *
 * Held bytes are counted per batch: r_outheld for r_out, r_wheld for the
 * batch being written, given back (to the stream and the process) when the
 * batch is written whole.  A shared payload also counts the segment its
 * padding and the next header start (KC_SEG_DEFAULT): that memory is held
 * too.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "heldcap.h"
#include "record.h"

#define META_RESERVE	(1u << 20)	/* over the budget, for OPEN/LOST/END */
/*
 * A write is started once this much is queued, or WRITE_WAIT_NS after the
 * first bytes of a smaller batch: each write is a wake-up of a kernel
 * worker (a buffered write that may block is not done inline), so small
 * reads recorded one write each cost the relay's cores more than the
 * bytes do.
 */
#define WRITE_MIN	(256u << 10)
#define WRITE_WAIT_NS	(5ull * 1000 * 1000)
#define NAME_MAX_LEN	96

struct closing {
	struct kc_file_req	 cl_rq;
	struct kc		 cl_kc;
	struct ks_rec		*cl_rec;	/* set for the stream's last */
};

struct ks_rec {
	struct kc_executor	*r_ex;
	int			 r_dirfd;
	char			 r_prefix[65];
	struct ks_rec_conf	 r_conf;
	ks_rec_event_fn		*r_event;
	void			*r_arg;
	struct kc_file		*r_file;	/* NULL: opening, failed, closed */
	uint32_t		 r_seq;		/* the current file's number */
	uint64_t		 r_foff;	/* where the next batch goes */
	struct kc_chain		 r_out;
	struct kc_chain		 r_inflight;
	struct kc_chain		 r_next;	/* after the cut */
	uint64_t		 r_outheld;
	uint64_t		 r_wheld;
	uint64_t		 r_nextheld;
	/* Connections ended complete, per batch as held bytes are: they
	 * count as complete once their END is written, as incomplete if
	 * the stream fails first. */
	uint64_t		 r_outends;
	uint64_t		 r_wends;
	uint64_t		 r_nextends;
	uint64_t		 r_plan;	/* the current file's size to be */
	bool			 r_cut;		/* r_next is in use */
	bool			 r_writing;
	bool			 r_opening;
	bool			 r_destroying;
	int			 r_failed;
	struct kc_file_req	 r_wrq;
	struct kc_file_req	 r_orq;
	struct kc		 r_wkc;
	struct kc		 r_okc;
	struct kc		 r_tkc;		/* WRITE_WAIT_NS: write what is
					   queued */
	bool			 r_waiting;	/* r_tkc is armed */
	bool			 r_due;		/* write now, whatever the size */
	struct kc		*r_ddone;
	struct ks_rec_stats	*r_dlast;
	struct ks_rec_conn	*r_conns;
	uint32_t		*r_kept;	/* ring of file numbers kept */
	unsigned		 r_nkept;
	unsigned		 r_keep0;	/* the oldest's slot */
	struct ks_rec_stats	 r_st;
};

static struct ks_held rec_held;
static struct ks_rec_stats totals;	/* every stream's, atomic fields */

/* Count n in a stream's statistics (its owner's) and the process's. */
#define ST_ADD(r, field, n) do {					\
	(r)->r_st.field += (n);						\
	__atomic_fetch_add(&totals.field, (n), __ATOMIC_RELAXED);	\
} while (0)

void
ks_rec_totals(struct ks_rec_stats *st)
{
	st->files = __atomic_load_n(&totals.files, __ATOMIC_RELAXED);
	st->bytes = __atomic_load_n(&totals.bytes, __ATOMIC_RELAXED);
	st->conns = __atomic_load_n(&totals.conns, __ATOMIC_RELAXED);
	st->complete = __atomic_load_n(&totals.complete, __ATOMIC_RELAXED);
	st->incomplete = __atomic_load_n(&totals.incomplete,
	    __ATOMIC_RELAXED);
	st->held = ks_held_now(&rec_held);
	st->failed = __atomic_load_n(&totals.failed, __ATOMIC_RELAXED);
}

void
ks_rec_cap(uint64_t cap)
{
	ks_held_cap(&rec_held, cap);
}

uint64_t
ks_rec_held_total(void)
{
	return ks_held_now(&rec_held);
}

static bool
cap_take(uint64_t n, bool force)
{
	return ks_held_take(&rec_held, n, force);
}

static void
cap_give(uint64_t n)
{
	ks_held_give(&rec_held, n);
}

static uint64_t
held(const struct ks_rec *r)
{
	return r->r_outheld + r->r_wheld + r->r_nextheld;
}

static void
event(struct ks_rec *r, enum ks_rec_ev ev, int err, const char *name)
{
	if (r->r_event != NULL)
		r->r_event(r->r_arg, ev, err, name);
}

static void
file_name(const struct ks_rec *r, uint32_t seq, char *buf, size_t len)
{
	snprintf(buf, len, "%s-%06u.kcrec", r->r_prefix, seq);
}

/* ---- queueing records ------------------------------------------- */

/*
 * May the stream take cost more bytes?  Data within the budget and the
 * cap; metadata within the budget and a reserve, whatever the cap.
 * 0, -ENOBUFS (the budget), -ENOSPC (the cap); counted when 0.
 */
static int
take(struct ks_rec *r, uint64_t cost, bool meta)
{
	uint64_t limit = r->r_conf.budget + (meta ? META_RESERVE : 0);

	if (held(r) + cost > limit)
		return -ENOBUFS;
	if (!cap_take(cost, meta))
		return -ENOSPC;
	return 0;
}

/* A record of cost bytes (size on disk: len) was queued on q. */
static void
queued(struct ks_rec *r, uint64_t cost, uint64_t len)
{
	if (r->r_cut) {
		r->r_nextheld += cost;
	} else {
		r->r_outheld += cost;
		r->r_plan += len;
	}
}

/* Cut c back to len bytes (undo a record appended in part). */
static void
cut(struct kc_chain *c, size_t len)
{
	struct kc_chain tail = KC_CHAIN_INITIALIZER;

	if (kc_chain_len(c) > len && kc_chain_split(c, len, &tail) == 0)
		kc_chain_free(&tail);
}

/*
 * Append one record to c: header h, then its payload (bytes, or len bytes
 * of src from off), then padding.  0 or -ENOMEM (c as it was).
 */
static int
append(struct kc_chain *c, const struct ksr_rec *h, const void *bytes,
    const struct kc_chain *src, size_t off)
{
	uint8_t buf[KSR_REC_HDR + KS_REC_COPY_MAX + 8];
	static const uint8_t zero[8];
	size_t was = kc_chain_len(c), pad = ksr_pad(h->len);

	ksr_rec_encode(buf, h);
	if (h->len <= KS_REC_COPY_MAX) {
		if (bytes != NULL)
			memcpy(buf + KSR_REC_HDR, bytes, h->len);
		else if (kc_chain_copyout(src, off, buf + KSR_REC_HDR,
		    h->len) != h->len)
			return -EINVAL;
		memset(buf + KSR_REC_HDR + h->len, 0, pad);
		return kc_chain_append(c, buf, KSR_REC_HDR + h->len + pad);
	}
	if (kc_chain_append(c, buf, KSR_REC_HDR) != 0 ||
	    (bytes != NULL ? kc_chain_append(c, bytes, h->len) :
	    kc_chain_share(c, src, off, h->len)) != 0 ||
	    (pad > 0 && kc_chain_append(c, zero, pad) != 0)) {
		cut(c, was);
		return -ENOMEM;
	}
	return 0;
}

static uint64_t
cost_of(uint32_t len)
{
	uint64_t n = KSR_REC_HDR + len + ksr_pad(len);

	return len > KS_REC_COPY_MAX ? n + KC_SEG_DEFAULT : n;
}

static uint64_t now_ns(void);

/*
 * The file header for file seq, and a continuation OPEN for each open
 * connection, on c; the bytes they take.  0 or -ENOMEM.
 */
static int
file_prefix(struct ks_rec *r, struct kc_chain *c, uint32_t seq,
    uint64_t *lenp)
{
	struct ksr_file fh = { .version = KSR_VERSION };
	struct ks_rec_conn *k;
	uint8_t hdr[KSR_FILE_HDR];
	uint64_t t = now_ns(), len = KSR_FILE_HDR;
	int e;

	fh.created_ns = t;
	fh.pid = (uint32_t)getpid();
	fh.seq = seq;
	ksr_file_encode(hdr, &fh);
	e = kc_chain_append(c, hdr, sizeof(hdr));
	for (k = r->r_conns; k != NULL && e == 0; k = k->rc_next) {
		struct ksr_rec h = { .type = KSR_OPEN, .len = k->rc_metalen,
		    .conn = k->rc_id, .time_ns = t, .flags = KSR_F_CONT };

		e = append(c, &h, k->rc_meta, NULL, 0);
		len += KSR_REC_HDR + h.len + ksr_pad(h.len);
	}
	*lenp = len;
	return e;
}

/*
 * Where the next record goes: r_out, or, once the current file has its
 * size (the cut made now if need be), r_next.
 */
static struct kc_chain *
queue(struct ks_rec *r)
{
	uint64_t len;

	if (!r->r_cut && r->r_plan >= r->r_conf.file_max) {
		if (file_prefix(r, &r->r_next, r->r_seq + 1, &len) != 0) {
			kc_chain_free(&r->r_next);
			return &r->r_out;	/* cut at the next record */
		}
		(void)cap_take(len, true);
		r->r_nextheld = len;
		r->r_cut = true;
	}
	return r->r_cut ? &r->r_next : &r->r_out;
}

/* Queue a metadata record (OPEN, LOST, END); 0 or -errno. */
static int
queue_meta(struct ks_rec *r, uint32_t type, uint64_t id, uint64_t t,
    uint32_t flags, const char *meta, size_t len)
{
	struct ksr_rec h = { .type = type, .len = (uint32_t)len, .conn = id,
	    .time_ns = t, .flags = flags };
	uint64_t cost = cost_of(h.len);
	int e;

	if ((e = take(r, cost, true)) != 0)
		return e;
	if ((e = append(queue(r), &h, meta != NULL ? meta : "", NULL,
	    0)) != 0) {
		cap_give(cost);
		return e;
	}
	queued(r, cost, KSR_REC_HDR + h.len + ksr_pad(h.len));
	return 0;
}

static void write_next(struct ks_rec *r);

static uint64_t
now_ns(void)
{
	return ks_clock_ns(CLOCK_REALTIME);
}

/* c's recording stops here (err: why), said in the stream. */
static void
lose(struct ks_rec_conn *c, int err)
{
	struct ks_rec *r = c->rc_rec;
	char why[32];
	int n;

	if (c->rc_lost)
		return;
	c->rc_lost = true;
	c->rc_lerr = err;
	if (r->r_failed != 0)
		return;
	n = snprintf(why, sizeof(why), "reason=%s",
	    err == -ENOSPC ? "cap" : err == -ENOBUFS ? "budget" : "memory");
	(void)queue_meta(r, KSR_LOST, c->rc_id, now_ns(), 0, why, (size_t)n);
	event(r, KS_REC_EV_LOST, err, NULL);
	write_next(r);
}

/* ---- the connections' list ------------------------------------- */

static void
conn_link(struct ks_rec *r, struct ks_rec_conn *c)
{
	c->rc_prev = NULL;
	c->rc_next = r->r_conns;
	if (r->r_conns != NULL)
		r->r_conns->rc_prev = c;
	r->r_conns = c;
}

static void
conn_unlink(struct ks_rec *r, struct ks_rec_conn *c)
{
	if (c->rc_prev != NULL)
		c->rc_prev->rc_next = c->rc_next;
	else
		r->r_conns = c->rc_next;
	if (c->rc_next != NULL)
		c->rc_next->rc_prev = c->rc_prev;
	c->rc_next = c->rc_prev = NULL;
}

/* ---- files ------------------------------------------------------ */

/* The stream goes: its last statistics, then done. */
static void
stream_free(struct ks_rec *r, int err)
{
	if (r->r_failed == 0 && err < 0)
		r->r_failed = err;
	if (r->r_dlast != NULL) {
		ks_rec_stats(r, r->r_dlast);
		r->r_dlast->failed = r->r_failed;
	}
	/* On the owner: a wait armed, or fired and queued, never runs. */
	(void)kc_cancel(&r->r_tkc);
	kc_chain_free(&r->r_out);
	kc_chain_free(&r->r_inflight);
	kc_chain_free(&r->r_next);
	if (r->r_ddone != NULL)
		(void)kc_run(r->r_ddone, NULL, r->r_failed);
	free(r->r_kept);
	free(r);
}

static void
close_fn(void *obj, void *env, int status)
{
	struct closing *cl = env;
	struct ks_rec *r = cl->cl_rec;

	(void)obj;
	free(cl);
	if (r != NULL)
		stream_free(r, status);	/* its last file is closed */
}

/*
 * Close f in the background; last: the stream goes once it is closed.
 * A close that cannot be asked for (no memory) leaves the descriptor
 * open rather than block.
 */
static void
file_close(struct ks_rec *r, struct kc_file *f, bool last)
{
	struct closing *cl = calloc(1, sizeof(*cl));

	if (cl != NULL) {
		cl->cl_rec = last ? r : NULL;
		if (kc_init(&cl->cl_kc, close_fn, cl, r->r_ex, 0) == 0 &&
		    (f == NULL || kc_file_close(f, &cl->cl_rq, &cl->cl_kc) == 0)) {
			if (f == NULL)
				(void)kc_run(&cl->cl_kc, NULL, 0);
			return;
		}
		free(cl);
	}
	if (last)
		stream_free(r, -ENOMEM);
}

/* Keep seq; remove the stream's oldest beyond files_max. */
static void
keep(struct ks_rec *r, uint32_t seq)
{
	unsigned max = r->r_conf.files_max;
	char name[NAME_MAX_LEN];

	if (r->r_nkept == max) {
		file_name(r, r->r_kept[r->r_keep0], name, sizeof(name));
		event(r, KS_REC_EV_REMOVED,
		    unlinkat(r->r_dirfd, name, 0) == 0 ? 0 : -errno, name);
		r->r_kept[r->r_keep0] = seq;
		r->r_keep0 = (r->r_keep0 + 1) % max;
		return;
	}
	r->r_kept[(r->r_keep0 + r->r_nkept++) % max] = seq;
}

/* Stop the stream: err says why.  Not while a write is in flight. */
static void
fail(struct ks_rec *r, int err)
{
	struct ks_rec_conn *c;
	char name[NAME_MAX_LEN];

	if (r->r_failed != 0)
		return;
	r->r_failed = err;
	r->r_st.failed = err;
	__atomic_fetch_add(&totals.failed, 1, __ATOMIC_RELAXED);
	/* What ended complete and is not written never will be. */
	ST_ADD(r, incomplete, r->r_outends + r->r_wends + r->r_nextends);
	r->r_outends = r->r_wends = r->r_nextends = 0;
	for (c = r->r_conns; c != NULL; c = c->rc_next) {
		c->rc_lost = true;
		c->rc_lerr = err;
	}
	kc_chain_free(&r->r_out);
	kc_chain_free(&r->r_inflight);
	kc_chain_free(&r->r_next);
	cap_give(held(r));
	r->r_outheld = r->r_wheld = r->r_nextheld = 0;
	r->r_cut = false;
	file_name(r, r->r_seq, name, sizeof(name));
	event(r, KS_REC_EV_FAILED, err, name);
	if (r->r_file != NULL) {
		file_close(r, r->r_file, false);
		r->r_file = NULL;
	}
}

static void
open_fn(void *obj, void *env, int status)
{
	struct ks_rec *r = env;
	char name[NAME_MAX_LEN];

	r->r_opening = false;
	if (obj == NULL) {
		fail(r, status < 0 ? status : -EIO);
		write_next(r);
		return;
	}
	r->r_file = obj;
	r->r_foff = 0;
	ST_ADD(r, files, 1);
	file_name(r, r->r_seq, name, sizeof(name));
	keep(r, r->r_seq);
	event(r, KS_REC_EV_FILE, 0, name);
	write_next(r);
}

/* Open the stream's next file, in the background. */
static void
open_next(struct ks_rec *r)
{
	char name[NAME_MAX_LEN];
	int e;

	r->r_seq++;
	file_name(r, r->r_seq, name, sizeof(name));
	r->r_opening = true;
	e = kc_file_open(&r->r_orq, r->r_ex, r->r_dirfd, name,
	    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY, 0600, 0,
	    &r->r_okc);
	if (e != 0) {
		r->r_opening = false;
		fail(r, e);
	}
}

/* ---- writing ----------------------------------------------------- */

/* Nothing in flight or queued: a stream being destroyed goes. */
static void
finish(struct ks_rec *r)
{
	struct kc_file *f = r->r_file;

	r->r_file = NULL;
	file_close(r, f, true);
}

static void
write_next(struct ks_rec *r)
{
	int e;

	if (r->r_writing || r->r_opening)
		return;
	if (r->r_failed != 0 || r->r_file == NULL) {
		if (r->r_destroying)
			finish(r);
		return;
	}
	if (kc_chain_len(&r->r_inflight) == 0) {
		if (kc_chain_len(&r->r_out) == 0 && r->r_cut) {
			/* The current file is written: the next one. */
			file_close(r, r->r_file, false);
			r->r_file = NULL;
			kc_chain_concat(&r->r_out, &r->r_next);
			r->r_outheld = r->r_nextheld;
			r->r_nextheld = 0;
			r->r_outends = r->r_nextends;
			r->r_nextends = 0;
			r->r_plan = kc_chain_len(&r->r_out);
			r->r_cut = false;
			open_next(r);
			if (r->r_failed != 0)
				write_next(r);
			return;
		}
		if (kc_chain_len(&r->r_out) == 0) {
			if (r->r_destroying)
				finish(r);
			return;
		}
		if (kc_chain_len(&r->r_out) < WRITE_MIN && !r->r_due &&
		    !r->r_destroying && !r->r_cut) {
			/* A small batch: it waits for more, a little. */
			if (!r->r_waiting && kc_defer_after(&r->r_tkc,
			    WRITE_WAIT_NS, NULL, 0) == 0)
				r->r_waiting = true;
			if (r->r_waiting)
				return;
		}
		r->r_due = false;
		kc_chain_concat(&r->r_inflight, &r->r_out);
		r->r_wheld = r->r_outheld;
		r->r_outheld = 0;
		r->r_wends = r->r_outends;
		r->r_outends = 0;
	}
	r->r_writing = true;
	e = kc_file_write_chain(&r->r_wrq, r->r_file, &r->r_inflight,
	    r->r_foff, &r->r_wkc);
	if (e != 0) {
		r->r_writing = false;
		fail(r, e);
		write_next(r);
	}
}

static void
wait_fn(void *obj, void *env, int status)
{
	struct ks_rec *r = env;

	(void)obj;
	(void)status;
	r->r_waiting = false;
	r->r_due = true;
	write_next(r);
}

static void
write_fn(void *obj, void *env, int status)
{
	struct ks_rec *r = env;

	(void)obj;
	r->r_writing = false;
	if (status <= 0) {
		fail(r, status < 0 ? status : -EIO);
		write_next(r);
		return;
	}
	(void)kc_chain_drop(&r->r_inflight, (size_t)status);
	r->r_foff += (uint64_t)status;
	ST_ADD(r, bytes, (uint64_t)status);
	if (kc_chain_len(&r->r_inflight) == 0) {
		cap_give(r->r_wheld);
		r->r_wheld = 0;
		ST_ADD(r, complete, r->r_wends);
		r->r_wends = 0;
	}
	write_next(r);
}

/* ---- the interface ----------------------------------------------- */

static bool
prefix_ok(const char *p)
{
	size_t n = 0;

	for (; p[n] != '\0'; n++)
		if (!((p[n] >= 'a' && p[n] <= 'z') ||
		    (p[n] >= 'A' && p[n] <= 'Z') ||
		    (p[n] >= '0' && p[n] <= '9') ||
		    p[n] == '.' || p[n] == '_' || p[n] == '-'))
			return false;
	return n >= 1 && n <= 64 && p[0] != '.';
}

int
ks_rec_create(struct ks_rec **rp, struct kc_executor *ex, int dirfd,
    const char *prefix, const struct ks_rec_conf *conf,
    ks_rec_event_fn *ev, void *arg)
{
	struct ks_rec *r;

	if (rp == NULL || ex == NULL || dirfd < 0 || prefix == NULL ||
	    !prefix_ok(prefix))
		return -EINVAL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return -ENOMEM;
	r->r_ex = ex;
	r->r_dirfd = dirfd;
	snprintf(r->r_prefix, sizeof(r->r_prefix), "%s", prefix);
	if (conf != NULL)
		r->r_conf = *conf;
	if (r->r_conf.file_max == 0)
		r->r_conf.file_max = KS_REC_FILE_MAX_DEFAULT;
	if (r->r_conf.files_max == 0)
		r->r_conf.files_max = KS_REC_FILES_DEFAULT;
	if (r->r_conf.budget == 0)
		r->r_conf.budget = KS_REC_BUDGET_DEFAULT;
	r->r_event = ev;
	r->r_arg = arg;
	kc_chain_init(&r->r_out);
	kc_chain_init(&r->r_inflight);
	kc_chain_init(&r->r_next);
	if ((r->r_kept = calloc(r->r_conf.files_max,
	    sizeof(*r->r_kept))) == NULL ||
	    kc_init(&r->r_wkc, write_fn, r, ex, 0) != 0 ||
	    kc_init(&r->r_okc, open_fn, r, ex, 0) != 0 ||
	    kc_init(&r->r_tkc, wait_fn, r, ex, 0) != 0) {
		free(r->r_kept);
		free(r);
		return -ENOMEM;
	}
	/* The first file's header, queued before anything. */
	if (file_prefix(r, &r->r_out, 1, &r->r_plan) != 0) {
		kc_chain_free(&r->r_out);
		free(r->r_kept);
		free(r);
		return -ENOMEM;
	}
	(void)cap_take(r->r_plan, true);
	r->r_outheld = r->r_plan;
	open_next(r);
	*rp = r;
	return 0;
}

int
ks_rec_begin(struct ks_rec *r, struct ks_rec_conn *c, uint64_t id,
    const char *meta)
{
	size_t n = meta != NULL ? strlen(meta) : 0;
	int e;

	memset(c, 0, sizeof(*c));
	ST_ADD(r, conns, 1);
	if (n >= sizeof(c->rc_meta))
		n = sizeof(c->rc_meta) - 1;
	e = r->r_failed != 0 ? -EIO :
	    queue_meta(r, KSR_OPEN, id, now_ns(), 0, meta, n);
	if (e != 0) {
		ST_ADD(r, incomplete, 1);
		return e;
	}
	c->rc_rec = r;
	c->rc_id = id;
	c->rc_metalen = (uint16_t)n;
	if (n > 0)
		memcpy(c->rc_meta, meta, n);
	conn_link(r, c);
	write_next(r);
	return 0;
}

/* One data record of n bytes (from bytes, or src at off); 0 or the loss. */
static int
rec_one(struct ks_rec_conn *c, uint32_t dir, uint64_t time_ns,
    const void *bytes, const struct kc_chain *src, size_t off, size_t n,
    uint32_t flags)
{
	struct ks_rec *r = c->rc_rec;
	struct ksr_rec h;
	uint64_t cost;
	int e;

	h = (struct ksr_rec){ .type = dir, .len = (uint32_t)n,
	    .conn = c->rc_id, .time_ns = time_ns,
	    .offset = c->rc_off[dir - KSR_C2S], .flags = flags };
	cost = cost_of(h.len);
	if ((e = take(r, cost, false)) != 0) {
		lose(c, e);
		return e;
	}
	if ((e = append(queue(r), &h, bytes, src, off)) != 0) {
		cap_give(cost);
		lose(c, e);
		return e;
	}
	queued(r, cost, KSR_REC_HDR + h.len + ksr_pad(h.len));
	c->rc_off[dir - KSR_C2S] += n;
	return 0;
}

int
ks_rec_data(struct ks_rec_conn *c, uint32_t dir, uint64_t time_ns,
    const struct kc_chain *src, size_t off, size_t len)
{
	struct ks_rec *r = c->rc_rec;
	int e;

	if (r == NULL)
		return -EIO;
	if ((dir != KSR_C2S && dir != KSR_S2C) || src == NULL ||
	    off > kc_chain_len(src) || len > kc_chain_len(src) - off)
		return -EINVAL;
	if (r->r_failed != 0)
		return r->r_failed;
	if (c->rc_lost)
		return c->rc_lerr;
	while (len > 0) {
		/* A stream's bytes beyond a record's bound: several. */
		size_t n = len < KSR_PAYLOAD_MAX ? len : KSR_PAYLOAD_MAX;

		if ((e = rec_one(c, dir, time_ns, NULL, src, off, n, 0)) != 0)
			return e;
		off += n;
		len -= n;
	}
	write_next(c->rc_rec);
	return 0;
}

int
ks_rec_dgram(struct ks_rec_conn *c, uint32_t dir, uint64_t time_ns,
    const void *data, size_t len)
{
	struct ks_rec *r = c->rc_rec;
	int e;

	if (r == NULL)
		return -EIO;
	if ((dir != KSR_C2S && dir != KSR_S2C) || (data == NULL && len > 0))
		return -EINVAL;
	if (r->r_failed != 0)
		return r->r_failed;
	if (c->rc_lost)
		return c->rc_lerr;
	if (len > KSR_PAYLOAD_MAX) {
		lose(c, -ENOBUFS);
		return -ENOBUFS;
	}
	if ((e = rec_one(c, dir, time_ns, data, NULL, 0, len,
	    KSR_F_DGRAM)) != 0)
		return e;
	write_next(r);
	return 0;
}

void
ks_rec_end(struct ks_rec_conn *c, uint64_t time_ns, const char *meta)
{
	struct ks_rec *r = c->rc_rec;
	size_t n = meta != NULL ? strlen(meta) : 0;

	if (r == NULL)
		return;
	if (n > KSR_META_MAX)
		n = KSR_META_MAX;
	if (r->r_failed == 0 && queue_meta(r, KSR_END, c->rc_id, time_ns,
	    c->rc_lost ? 0 : KSR_F_COMPLETE, meta, n) != 0)
		c->rc_lost = true;	/* no END: not complete */
	if (c->rc_lost)
		ST_ADD(r, incomplete, 1);
	else if (r->r_cut)
		r->r_nextends++;	/* complete once written */
	else
		r->r_outends++;
	conn_unlink(r, c);
	c->rc_rec = NULL;
	write_next(r);
}

bool
ks_rec_complete(const struct ks_rec_conn *c)
{
	return c->rc_rec != NULL && !c->rc_lost;
}

void
ks_rec_stats(const struct ks_rec *r, struct ks_rec_stats *st)
{
	*st = r->r_st;
	st->held = held(r);
}

void
ks_rec_destroy(struct ks_rec *r, struct ks_rec_stats *last, struct kc *done)
{
	if (r == NULL)
		return;
	r->r_ddone = done;
	r->r_dlast = last;
	while (r->r_conns != NULL)
		ks_rec_end(r->r_conns, now_ns(), "reason=shutdown");
	r->r_destroying = true;
	write_next(r);
}
