/*
 * replay.c: kcsplice --replay (replay.h).
 *
 * Loading: every recording file given (or found in a directory given) is
 * read with recread.c, in name order, which is each stream's order.  A
 * connection is keyed by its recorder's process id and its id; its client
 * and server bytes go to two buffers, and its data records, in order, to
 * an event list (direction, length, time).  A gap (a data record whose
 * offset is not the bytes before it), a KSR_LOST, an END without
 * KSR_F_COMPLETE, a connection whose OPEN is missing (its first file was
 * removed) or that never ended: the recording is incomplete, and the
 * connection is replayed and reported as such.
 *
 * Running: one soft executor; every connection's continuations (connect,
 * readable upcall, its timer) run there, so a connection's state needs no
 * lock.  The main thread waits for the last to finish.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <regex.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "recread.h"
#include "replay.h"

#define CONCURRENCY_DEFAULT	256u
#define MAX_BYTES_DEFAULT	(1ull << 30)
/* Replies past the recorded ones kept, at most: then it is over. */
#define REPLY_SLACK		(1u << 20)
#define EXCERPT			16
#define TICK_NS			(100 * 1000 * 1000ull)

enum rp_status {
	RP_PENDING = 0,
	RP_MATCHED,
	RP_DIVERGED,
	RP_TIMEOUT,
	RP_FAILED
};

static const char *const status_name[] = {
	"pending", "matched", "diverged", "timeout", "failed"
};

struct bytes {
	uint8_t		*p;
	size_t		 len;
	size_t		 cap;
};

struct rp_ev {
	uint8_t		 dir;		/* 0: client's, 1: server's */
	uint64_t	 t;
	size_t		 len;
};

struct rp_conn {
	struct rp_conn	*hnext;		/* the (pid, id) table's chain */
	uint32_t	 pid;
	uint64_t	 id;
	char		 meta[128];
	struct bytes	 b[2];		/* recorded: client's, server's */
	struct rp_ev	*ev;
	size_t		 nev;
	size_t		 evcap;
	bool		 opened;	/* its first OPEN was read */
	bool		 ended;
	bool		 incomplete;
	const char	*why;		/* what the recording lacks */
	char		 cut[24];	/* the end reason when the recorded
					   connection did not close cleanly
					   ("": it did, or no END) */
	bool		 dgram;
	uint64_t	 r_open;	/* recorded: opened (or first seen) */
	bool		 r_seen;	/* a record of it was read */
	uint64_t	 r_end;		/* recorded: ended (or last seen) */
	size_t		 nbefore;	/* connections recorded as ended
					   before this one opened */
	/* The replay, on the executor. */
	struct replay	*rp;
	struct kc_socket *s;
	struct kc	 kc_conn;
	struct kc	 kc_rd;
	struct kc	 kc_tick;
	size_t		 ev_next;	/* the next event to act on */
	size_t		 sent;		/* client bytes sent */
	size_t		 want;		/* server bytes before the next turn */
	struct bytes	 got;		/* the server's replies */
	size_t		*glen;		/* datagram sessions: each reply's
					   length, in order */
	size_t		 nglen, glencap;
	uint64_t	 t_start;
	uint64_t	 t_end;
	uint64_t	 t_progress;
	bool		 shut;
	bool		 done;
	enum rp_status	 status;
	int		 err;
	bool		 bounds;	/* the datagrams differ, not the
					   bytes */
	bool		 flooded;	/* it sent REPLY_SLACK more than was
					   recorded: not read further */
	size_t		 past;		/* bytes read past a cut recording's
					   end: not compared */
	/* The first difference. */
	bool		 diff;
	size_t		 diff_off;	/* in the replies read */
	size_t		 exp_off;	/* in the recorded replies */
};

struct replay {
	const struct ks_replay_opts *o;
	struct kc_executor *ex;
	struct rp_conn	**conns;
	size_t		 nconns;
	size_t		 capconns;
	struct rp_conn	**tab;		/* by (pid, id): a power of two */
	size_t		 tabsz;
	size_t		 next;		/* the next to start */
	struct rp_conn	**by_end;	/* conns by recorded end */
	size_t		 ended;		/* by_end[0..ended) have finished */
	uint64_t	 t_first;	/* the replay's start (recorded timing) */
	size_t		 active;
	size_t		 finished;
	uint64_t	 loaded;	/* bytes read */
	regex_t		 re[KS_REPLAY_IGNORE_MAX];
	unsigned	 nre;
	struct kc	 kc_start;
	pthread_mutex_t	 mtx;
	pthread_cond_t	 cv;
	bool		 all_done;
};

static uint64_t
mono_ns(void)
{
	return ks_clock_ns(CLOCK_MONOTONIC);
}

/*
 * Append n bytes; a NUL always follows them (not counted), so that the
 * regular expressions, which take the length, also meet a string's end.
 */
static int
bytes_add(struct bytes *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		uint8_t *np;

		while (cap < b->len + n + 1)
			cap *= 2;
		if ((np = realloc(b->p, cap)) == NULL)
			return -ENOMEM;
		b->p = np;
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = 0;
	return 0;
}

/* ---- loading ----------------------------------------------------- */

static size_t
conn_hash(uint32_t pid, uint64_t id)
{
	uint64_t h = (id ^ ((uint64_t)pid << 32)) * 0x9e3779b97f4a7c15ull;

	return (size_t)(h ^ (h >> 29));
}

/* Twice the buckets once there are as many connections as buckets. */
static int
tab_grow(struct replay *rp)
{
	size_t sz = rp->tabsz ? 2 * rp->tabsz : 1024, i;
	struct rp_conn **t = calloc(sz, sizeof(*t)), *c;

	if (t == NULL)
		return -ENOMEM;
	for (i = 0; i < rp->nconns; i++) {
		c = rp->conns[i];
		c->hnext = t[conn_hash(c->pid, c->id) & (sz - 1)];
		t[conn_hash(c->pid, c->id) & (sz - 1)] = c;
	}
	free(rp->tab);
	rp->tab = t;
	rp->tabsz = sz;
	return 0;
}

/*
 * The connection (pid, id), made if need be; NULL: out of memory, or
 * (*efbig) past max_bytes.  Every connection and event counts against
 * max_bytes as its payload does, so that a hostile file of tiny records
 * cannot make the replay take many times the bound.
 */
static struct rp_conn *
conn_find(struct replay *rp, uint32_t pid, uint64_t id, bool *efbig)
{
	struct rp_conn *c, **nc;
	size_t b;

	if (rp->tabsz > 0)
		for (c = rp->tab[conn_hash(pid, id) & (rp->tabsz - 1)];
		    c != NULL; c = c->hnext)
			if (c->pid == pid && c->id == id)
				return c;
	if (rp->loaded + sizeof(*c) > rp->o->max_bytes) {
		*efbig = true;
		return NULL;
	}
	if (rp->nconns >= rp->tabsz && tab_grow(rp) != 0)
		return NULL;
	if (rp->nconns == rp->capconns) {
		size_t cap = rp->capconns ? 2 * rp->capconns : 64;

		if ((nc = realloc(rp->conns, cap * sizeof(*nc))) == NULL)
			return NULL;
		rp->conns = nc;
		rp->capconns = cap;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	rp->loaded += sizeof(*c);
	c->pid = pid;
	c->id = id;
	c->rp = rp;
	b = conn_hash(pid, id) & (rp->tabsz - 1);
	c->hnext = rp->tab[b];
	rp->tab[b] = c;
	rp->conns[rp->nconns++] = c;
	return c;
}

static void
lacks(struct rp_conn *c, const char *why)
{
	if (!c->incomplete) {
		c->incomplete = true;
		c->why = why;
	}
}

/*
 * The END's "reason=" (kcsplice's end reasons): unless one side closed
 * cleanly (client_fin, upstream_fin), the upstream's replies may have been
 * cut short, as when a client resets with a request in flight: a reply
 * longer than the recorded one is then not a divergence past its end.
 */
static void
end_reason(struct rp_conn *c, const struct ksr_rec *r)
{
	const char *p = (const char *)r->payload, *e = p + r->len, *v;
	size_t n, k;

	for (v = p; v + 7 <= e; v++)
		if ((v == p || v[-1] == ' ') && memcmp(v, "reason=", 7) == 0)
			break;
	if (v + 7 > e)
		return;		/* no reason: compared whole */
	v += 7;
	for (n = 0; v + n < e && v[n] != ' '; n++)
		;
	if ((n == 10 && memcmp(v, "client_fin", 10) == 0) ||
	    (n == 12 && memcmp(v, "upstream_fin", 12) == 0))
		return;
	for (k = 0; k < n && n < sizeof(c->cut); k++)
		if (!((v[k] >= 'a' && v[k] <= 'z') ||
		    (v[k] >= '0' && v[k] <= '9') || v[k] == '_'))
			break;
	if (n == 0 || n >= sizeof(c->cut) || k < n)
		v = "other", n = 5;	/* the file's bytes, not a name */
	snprintf(c->cut, sizeof(c->cut), "%.*s", (int)n, v);
}

static int
load_rec(struct replay *rp, uint32_t pid, const struct ksr_rec *r)
{
	bool efbig = false;
	struct rp_conn *c = conn_find(rp, pid, r->conn, &efbig);
	struct rp_ev *ne;
	int d;

	if (c == NULL)
		return efbig ? -EFBIG : -ENOMEM;
	if (!c->r_seen || r->time_ns < c->r_open)
		c->r_open = r->time_ns;
	c->r_seen = true;
	if (r->time_ns > c->r_end)
		c->r_end = r->time_ns;
	switch (r->type) {
	case KSR_OPEN:
		if (!(r->flags & KSR_F_CONT)) {
			c->opened = true;
			c->r_open = r->time_ns;
			snprintf(c->meta, sizeof(c->meta), "%.*s",
			    (int)r->len, (const char *)r->payload);
		} else if (!c->opened && c->nev == 0 && c->meta[0] == '\0') {
			snprintf(c->meta, sizeof(c->meta), "%.*s",
			    (int)r->len, (const char *)r->payload);
		}
		return 0;
	case KSR_LOST:
		lacks(c, "lost bytes");
		return 0;
	case KSR_END:
		c->ended = true;
		if (!(r->flags & KSR_F_COMPLETE))
			lacks(c, "incomplete");
		end_reason(c, r);
		return 0;
	default:
		break;
	}
	d = r->type == KSR_S2C;
	if (r->flags & KSR_F_DGRAM)
		c->dgram = true;
	if (r->offset != c->b[d].len) {
		lacks(c, "a gap");
		return 0;	/* the bytes after a gap are not this stream's */
	}
	if (rp->loaded + r->len > rp->o->max_bytes)
		return -EFBIG;
	rp->loaded += r->len;
	if (bytes_add(&c->b[d], r->payload, r->len) != 0)
		return -ENOMEM;
	if (c->nev > 0 && c->ev[c->nev - 1].dir == d && !c->dgram) {
		/* Consecutive reads one way: one write, the first's time. */
		c->ev[c->nev - 1].len += r->len;
		return 0;
	}
	if (rp->loaded + sizeof(*ne) > rp->o->max_bytes)
		return -EFBIG;
	rp->loaded += sizeof(*ne);
	if (c->nev == c->evcap) {
		size_t cap = c->evcap ? 2 * c->evcap : 16;

		if ((ne = realloc(c->ev, cap * sizeof(*ne))) == NULL)
			return -ENOMEM;
		c->ev = ne;
		c->evcap = cap;
	}
	c->ev[c->nev++] = (struct rp_ev){ .dir = (uint8_t)d, .t = r->time_ns,
	    .len = r->len };
	return 0;
}

static int
load_file(struct replay *rp, const char *path, FILE *err)
{
	struct ksr_reader *rd;
	struct ksr_file fh;
	struct ksr_rec r;
	uint64_t off;
	int e;

	if ((e = ksr_reader_open(&rd, path, &fh)) != 0) {
		fprintf(err, "kcsplice: %s: %s\n", path, e == -EINVAL ?
		    "not a kcsplice recording" : strerror(-e));
		return e;
	}
	while ((e = ksr_reader_next(rd, &r, &off)) == 1)
		if ((e = load_rec(rp, fh.pid, &r)) != 0)
			break;
	ksr_reader_close(rd);
	if (e == 0)
		return 0;
	if (e == -EFBIG)
		fprintf(err, "kcsplice: %s: the recordings take more than %"
		    PRIu64 " bytes of memory to replay: not replayed\n", path,
		    rp->o->max_bytes);
	else
		fprintf(err, "kcsplice: %s: offset %" PRIu64 ": %s\n", path,
		    off, e == -EINVAL ? "malformed record" : e == -EPIPE ?
		    "the file ends inside a record (cut short): the rest is "
		    "not replayed" : strerror(-e));
	/* A file cut short: what came before it stands. */
	return e == -EPIPE ? 0 : e;
}

/* Every *.kcrec of dir, in name order. */
static int
load_dir(struct replay *rp, const char *dir, FILE *err, int *nfiles)
{
	char **names;
	size_t n, i;
	int e;

	if ((e = ksr_list_dir(dir, &names, &n)) != 0) {
		fprintf(err, "kcsplice: %s: %s\n", dir, strerror(-e));
		return e;
	}
	for (i = 0; i < n && e == 0; i++)
		if ((e = load_file(rp, names[i], err)) == 0)
			(*nfiles)++;
	ksr_list_free(names, n);
	return e;
}

/* ---- comparing --------------------------------------------------- */

/*
 * The bytes of s kept after the ignored parts are taken out (each regular
 * expression's matches, each byte range), with, for each kept byte, its
 * offset in s.
 */
static int
keep_of(struct replay *rp, const struct bytes *s, struct bytes *kept,
    size_t **where)
{
	const struct ks_replay_opts *o = rp->o;
	uint8_t *drop = calloc(s->len + 1, 1);
	size_t i, n = 0;
	unsigned k;

	if (drop == NULL)
		return -ENOMEM;
	for (k = 0; k < o->nignore_bytes; k++)
		for (i = o->ignore_bytes[k].from;
		    i < o->ignore_bytes[k].to && i < s->len; i++)
			drop[i] = 1;
	for (k = 0; k < rp->nre; k++) {
		regmatch_t m;
		size_t at = 0;

		while (at < s->len) {
			m.rm_so = (regoff_t)at;
			m.rm_eo = (regoff_t)s->len;
			if (regexec(&rp->re[k], (const char *)s->p, 1, &m,
			    REG_STARTEND | (at > 0 ? REG_NOTBOL : 0)) != 0)
				break;
			for (i = (size_t)m.rm_so; i < (size_t)m.rm_eo; i++)
				drop[i] = 1;
			at = m.rm_eo > m.rm_so ? (size_t)m.rm_eo :
			    (size_t)m.rm_so + 1;
		}
	}
	kept->p = malloc(s->len + 1);
	*where = malloc((s->len + 1) * sizeof(**where));
	if (kept->p == NULL || *where == NULL) {
		free(kept->p);
		free(*where);
		free(drop);
		return -ENOMEM;
	}
	for (i = 0; i < s->len; i++)
		if (!drop[i]) {
			kept->p[n] = s->p[i];
			(*where)[n++] = i;
		}
	(*where)[n] = s->len;
	kept->len = n;
	free(drop);
	return 0;
}

/*
 * A datagram session whose reply bytes match: the datagrams must too,
 * length by length; the first that differs is the divergence.
 */
static void
bounds(struct rp_conn *c)
{
	size_t e = 0, g = 0, off = 0;

	for (;;) {
		while (e < c->nev && c->ev[e].dir != 1)
			e++;
		if (e == c->nev || g == c->nglen) {
			if (e == c->nev && g == c->nglen)
				return;
			break;
		}
		if (c->ev[e].len != c->glen[g])
			break;
		off += c->glen[g];
		e++;
		g++;
	}
	c->status = RP_DIVERGED;
	c->diff = true;
	c->diff_off = c->exp_off = off;
	c->bounds = true;
}

/* Compare c's replies with the recorded ones; sets status and diff. */
static void
compare(struct rp_conn *c)
{
	struct bytes ek = { 0 }, gk = { 0 };
	size_t *ew = NULL, *gw = NULL, i;

	if (keep_of(c->rp, &c->b[1], &ek, &ew) != 0 ||
	    keep_of(c->rp, &c->got, &gk, &gw) != 0) {
		c->status = RP_FAILED;
		c->err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < ek.len && i < gk.len && ek.p[i] == gk.p[i]; i++)
		;
	if (i == ek.len && i == gk.len) {
		c->status = RP_MATCHED;
		if (c->dgram)
			bounds(c);
		goto out;
	}
	if (i == ek.len && c->cut[0] != '\0' && !c->incomplete) {
		/* The recording stops where its connection was cut. */
		c->status = RP_MATCHED;
		c->past = c->got.len - gw[i];
		goto out;
	}
	c->status = RP_DIVERGED;
	c->diff = true;
	c->exp_off = ew[i];
	c->diff_off = gw[i];
out:
	free(ek.p);
	free(gk.p);
	free(ew);
	free(gw);
}

/* ---- running ----------------------------------------------------- */

static void start_some(struct replay *rp);

static void
finish(struct rp_conn *c, enum rp_status st, int err)
{
	struct replay *rp = c->rp;

	if (c->done)
		return;
	c->done = true;
	c->t_end = mono_ns();
	(void)kc_cancel(&c->kc_tick);
	if (st == RP_PENDING) {
		compare(c);
	} else {
		c->status = st;
		c->err = err;
	}
	if (c->s != NULL) {
		(void)kc_socket_close(c->s, NULL);
		c->s = NULL;
	}
	rp->active--;
	rp->finished++;
	while (rp->ended < rp->nconns && rp->by_end[rp->ended]->done)
		rp->ended++;
	start_some(rp);
}

/* Send the client's next n recorded bytes (a datagram's: one datagram). */
static void
send_bytes(struct rp_conn *c, size_t n)
{
	struct kc_chain ch = KC_CHAIN_INITIALIZER;
	int e;

	if ((e = kc_chain_append(&ch, c->b[0].p + c->sent, n)) != 0 ||
	    (e = kc_socket_send(c->s, &ch, NULL, NULL)) != 0) {
		kc_chain_free(&ch);
		finish(c, RP_FAILED, e);
		return;
	}
	kc_chain_free(&ch);	/* its spare views */
	c->sent += n;
	c->t_progress = mono_ns();
}

/*
 * Every client write is sent: a stream is shut for sending, and its end
 * of file ends it; a datagram session, which has no end, ends once as
 * many reply bytes as were recorded have come (or at the idle limit).
 */
static void
sent_all(struct rp_conn *c)
{
	if (c->dgram) {
		if (c->got.len >= c->b[1].len)
			finish(c, RP_PENDING, 0);
		return;
	}
	if (!c->shut) {
		c->shut = true;
		(void)kc_socket_shutdown(c->s, SHUT_WR);
	}
}

/* Turns: send what the server has answered the turns before of. */
static void
turn_next(struct rp_conn *c)
{
	while (!c->done && c->got.len >= c->want) {
		size_t first = c->ev_next;

		if (c->ev_next == c->nev) {
			sent_all(c);
			return;
		}
		while (c->ev_next < c->nev && c->ev[c->ev_next].dir == 0)
			c->ev_next++;
		/* A stream's turn is one write; datagrams go one by one. */
		if (c->dgram) {
			for (; first < c->ev_next && !c->done; first++)
				send_bytes(c, c->ev[first].len);
		} else if (c->ev_next > first) {
			size_t n = 0;

			for (; first < c->ev_next; first++)
				n += c->ev[first].len;
			send_bytes(c, n);
		}
		while (c->ev_next < c->nev && c->ev[c->ev_next].dir == 1)
			c->want += c->ev[c->ev_next++].len;
	}
}

/* Recorded timing: send every write that is due; the timer for the next. */
static void
timed_next(struct rp_conn *c, uint64_t now)
{
	const struct ks_replay_opts *o = c->rp->o;
	uint64_t t0 = c->r_open;

	while (!c->done && c->ev_next < c->nev) {
		struct rp_ev *ev = &c->ev[c->ev_next];
		uint64_t due = c->t_start + (uint64_t)((double)(ev->t - t0) /
		    o->speed);

		if (ev->dir == 1) {
			c->ev_next++;
			continue;
		}
		if (due > now)
			return;		/* the tick comes back for it */
		c->ev_next++;
		send_bytes(c, ev->len);
	}
	if (!c->done)
		sent_all(c);
}

static int
glen_add(struct rp_conn *c, size_t n)
{
	if (c->nglen == c->glencap) {
		size_t cap = c->glencap ? 2 * c->glencap : 16;
		size_t *ng = realloc(c->glen, cap * sizeof(*ng));

		if (ng == NULL)
			return -ENOMEM;
		c->glen = ng;
		c->glencap = cap;
	}
	c->glen[c->nglen++] = n;
	return 0;
}

static void
rd_fn(void *obj, void *env, int status)
{
	struct rp_conn *c = env;
	struct kc_chain ch = KC_CHAIN_INITIALIZER;
	uint8_t buf[16384];
	ssize_t n;

	(void)obj;
	(void)status;
	if (c->done)
		return;
	for (;;) {
		size_t k, len;

		n = kc_socket_recv(c->s, &ch, SIZE_MAX, NULL);
		if (n < 0 || (n == 0 && !c->dgram))
			break;
		if (c->dgram && glen_add(c, (size_t)n) != 0) {
			kc_chain_free(&ch);
			finish(c, RP_FAILED, -ENOMEM);
			return;
		}
		for (k = 0, len = kc_chain_len(&ch); k < len;) {
			size_t m = kc_chain_copyout(&ch, k, buf, sizeof(buf));

			if (bytes_add(&c->got, buf, m) != 0) {
				kc_chain_free(&ch);
				finish(c, RP_FAILED, -ENOMEM);
				return;
			}
			k += m;
		}
		kc_chain_free(&ch);
		c->t_progress = mono_ns();
		if (c->got.len > c->b[1].len + REPLY_SLACK) {
			/*
			 * A server sending far more than was recorded: what
			 * it sent decides already; more is not read.
			 */
			c->flooded = true;
			finish(c, RP_PENDING, 0);
			return;
		}
	}
	kc_chain_free(&ch);
	if (n == 0) {
		finish(c, RP_PENDING, 0);	/* the server ended: compare */
		return;
	}
	if (n != -EAGAIN) {
		/* A reset: what came before it is still compared. */
		c->err = (int)n;
		finish(c, RP_PENDING, 0);
		return;
	}
	if (c->rp->o->timing == KS_TIMING_TURNS)
		turn_next(c);
	else if (c->dgram && c->ev_next == c->nev)
		sent_all(c);
	if (!c->done && kc_socket_upcall(c->s, KC_SO_READABLE, &c->kc_rd) != 0)
		finish(c, RP_FAILED, -EIO);
}

/* The idle limit, and recorded timing's sends. */
static void
tick_fn(void *obj, void *env, int status)
{
	struct rp_conn *c = env;
	const struct ks_replay_opts *o = c->rp->o;
	uint64_t now = mono_ns(), next = TICK_NS;

	(void)obj;
	(void)status;
	if (c->done)
		return;
	if (o->timing == KS_TIMING_RECORDED) {
		timed_next(c, now);
		if (c->done)
			return;
		if (c->ev_next < c->nev) {
			uint64_t t0 = c->r_open;
			uint64_t due = c->t_start + (uint64_t)((double)
			    (c->ev[c->ev_next].t - t0) / o->speed);

			if (due > now && due - now < next)
				next = due - now;
			c->t_progress = now;	/* waiting on purpose */
		}
	}
	if (now > c->t_progress && now - c->t_progress >= o->timeout_ns) {
		finish(c, RP_TIMEOUT, -ETIMEDOUT);
		return;
	}
	(void)kc_defer_after(&c->kc_tick, next, NULL, 0);
}

static void
conn_fn(void *obj, void *env, int status)
{
	struct rp_conn *c = env;

	(void)obj;
	if (status != 0) {
		finish(c, RP_FAILED, status);
		return;
	}
	c->t_progress = mono_ns();
	if (kc_socket_upcall(c->s, KC_SO_READABLE, &c->kc_rd) != 0) {
		finish(c, RP_FAILED, -EIO);
		return;
	}
	if (c->rp->o->timing == KS_TIMING_TURNS)
		turn_next(c);
	else
		timed_next(c, c->t_progress);
}

static void
conn_start(struct rp_conn *c)
{
	struct replay *rp = c->rp;
	int e;

	rp->active++;
	c->t_start = c->t_progress = mono_ns();
	if ((e = kc_init(&c->kc_conn, conn_fn, c, rp->ex, 0)) != 0 ||
	    (e = kc_init(&c->kc_rd, rd_fn, c, rp->ex, 0)) != 0 ||
	    (e = kc_init(&c->kc_tick, tick_fn, c, rp->ex, 0)) != 0 ||
	    (e = kc_socket_create(&c->s, rp->ex, rp->o->to.a.sa.sa_family,
	    c->dgram ? SOCK_DGRAM : SOCK_STREAM, NULL)) != 0) {
		finish(c, RP_FAILED, e);
		return;
	}
	(void)kc_defer_after(&c->kc_tick, TICK_NS, NULL, 0);
	if ((e = kc_socket_connect(c->s, &rp->o->to, &c->kc_conn)) != 0)
		finish(c, RP_FAILED, e);
}

/*
 * Connections start in their recorded order, and as they overlapped: by
 * turns, one starts once every connection recorded as ended before it
 * opened has finished here (so that what one changed on the server is
 * there for the next, as it was); with recorded timing, at its recorded
 * time after the first's, divided by the speed.  At most concurrency at
 * once either way.
 */
static void
start_some(struct replay *rp)
{
	const struct ks_replay_opts *o = rp->o;
	struct rp_conn *c;
	uint64_t now, due;

	while (rp->next < rp->nconns && rp->active < o->concurrency) {
		c = rp->conns[rp->next];
		if (o->timing == KS_TIMING_TURNS) {
			if (c->nbefore > rp->ended)
				break;		/* a finish comes back */
		} else {
			now = mono_ns();
			due = rp->t_first + (uint64_t)((double)(c->r_open -
			    rp->conns[0]->r_open) / o->speed);
			if (due > now) {
				(void)kc_defer_after(&rp->kc_start, due - now,
				    NULL, 0);
				break;
			}
		}
		rp->next++;
		conn_start(c);
	}
	if (rp->finished == rp->nconns) {
		pthread_mutex_lock(&rp->mtx);
		rp->all_done = true;
		pthread_cond_signal(&rp->cv);
		pthread_mutex_unlock(&rp->mtx);
	}
}

static void
start_fn(void *obj, void *env, int status)
{
	struct replay *rp = env;

	(void)obj;
	(void)status;
	if (rp->t_first == 0)
		rp->t_first = mono_ns();
	start_some(rp);
}

static int
open_cmp(const void *a, const void *b)
{
	const struct rp_conn *x = *(struct rp_conn *const *)a;
	const struct rp_conn *y = *(struct rp_conn *const *)b;

	if (x->r_open != y->r_open)
		return x->r_open < y->r_open ? -1 : 1;
	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static int
end_cmp(const void *a, const void *b)
{
	const struct rp_conn *x = *(struct rp_conn *const *)a;
	const struct rp_conn *y = *(struct rp_conn *const *)b;

	if (x->r_end != y->r_end)
		return x->r_end < y->r_end ? -1 : 1;
	return open_cmp(a, b);
}

/* The recorded order: conns by opening, by_end by ending, and each one's
 * count of connections that ended before it opened. */
static int
order(struct replay *rp)
{
	size_t i, lo, hi, mid;

	if ((rp->by_end = calloc(rp->nconns, sizeof(*rp->by_end))) == NULL)
		return -ENOMEM;
	qsort(rp->conns, rp->nconns, sizeof(*rp->conns), open_cmp);
	memcpy(rp->by_end, rp->conns, rp->nconns * sizeof(*rp->by_end));
	qsort(rp->by_end, rp->nconns, sizeof(*rp->by_end), end_cmp);
	for (i = 0; i < rp->nconns; i++) {
		/* The first in by_end not ended before conns[i] opened. */
		for (lo = 0, hi = rp->nconns; lo < hi; ) {
			mid = lo + (hi - lo) / 2;
			if (rp->by_end[mid]->r_end < rp->conns[i]->r_open)
				lo = mid + 1;
			else
				hi = mid;
		}
		rp->conns[i]->nbefore = lo;
	}
	return 0;
}

/* ---- reporting --------------------------------------------------- */

static void
hex_of(FILE *f, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		fprintf(f, "%02x", p[i]);
}

/* Text with everything not printable escaped; json: JSON's escapes. */
static void
text_of(FILE *f, const uint8_t *p, size_t n, bool json)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] == '"' || p[i] == '\\')
			fprintf(f, "\\%c", p[i]);
		else if (p[i] >= 0x20 && p[i] < 0x7f)
			fputc(p[i], f);
		else if (json)
			fprintf(f, "\\u%04x", p[i]);
		else if (p[i] == '\n')
			fputs("\\n", f);
		else if (p[i] == '\r')
			fputs("\\r", f);
		else
			fprintf(f, "\\x%02x", p[i]);
	}
}

static size_t
excerpt_len(size_t off, size_t len)
{
	return off >= len ? 0 : len - off < EXCERPT ? len - off : EXCERPT;
}

static void
report_line(FILE *out, const struct rp_conn *c)
{
	fprintf(out, "replay: conn %" PRIu64 " (%s): %s", c->id, c->meta,
	    status_name[c->status]);
	if (c->status == RP_FAILED || c->status == RP_TIMEOUT)
		fprintf(out, " (%s)", strerror(-c->err));
	if (c->diff) {
		size_t el = excerpt_len(c->exp_off, c->b[1].len);
		size_t gl = excerpt_len(c->diff_off, c->got.len);

		fprintf(out, " at offset %zu", c->diff_off);
		if (c->exp_off != c->diff_off)
			fprintf(out, " (%zu in the recording)", c->exp_off);
		if (c->bounds)
			fputs(" (the same bytes, in other datagrams)", out);
		if (c->flooded)
			fprintf(out, " (the server sent over %u bytes past "
			    "the recorded replies; no more was read)",
			    REPLY_SLACK);
		fputs(": expected \"", out);
		text_of(out, c->b[1].p + c->exp_off, el, false);
		fputs("\" (", out);
		hex_of(out, c->b[1].p + c->exp_off, el);
		fputs("), got \"", out);
		text_of(out, c->got.p + c->diff_off, gl, false);
		fputs("\" (", out);
		hex_of(out, c->got.p + c->diff_off, gl);
		fputc(')', out);
	}
	fprintf(out, "; sent %zu, received %zu of %zu recorded, %.3f s",
	    c->sent, c->got.len, c->b[1].len,
	    (double)(c->t_end - c->t_start) / 1e9);
	if (c->past > 0)
		fprintf(out, "; %zu bytes past the recorded replies not "
		    "compared (the recorded connection ended: %s)", c->past,
		    c->cut);
	if (c->incomplete)
		fprintf(out, "; the recording is incomplete (%s)", c->why);
	fputc('\n', out);
}

static int
report_json(const struct replay *rp, const char *path, const size_t *count,
    FILE *err)
{
	struct stat sb;
	FILE *f = NULL;
	size_t i, k;
	int fd;

	/* Never through a symbolic link, never into what is not a file. */
	fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC |
	    O_NONBLOCK, 0644);
	if (fd >= 0 && (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))) {
		close(fd);
		fd = -1;
		errno = EINVAL;
	}
	if (fd >= 0 && ftruncate(fd, 0) != 0) {
		close(fd);
		fd = -1;
	}
	if (fd >= 0 && (f = fdopen(fd, "w")) == NULL)
		close(fd);
	if (f == NULL) {
		fprintf(err, "kcsplice: --report %s: %s\n", path,
		    errno == ELOOP ? "a symbolic link: refused, left alone" :
		    errno == EINVAL ? "not a regular file: refused, left alone" :
		    strerror(errno));
		return EX_CANTCREAT;
	}
	fputs("{\"connections\":[", f);
	for (i = 0; i < rp->nconns; i++) {
		const struct rp_conn *c = rp->conns[i];

		fprintf(f, "%s{\"id\":%" PRIu64 ",\"pid\":%u,\"meta\":\"",
		    i ? "," : "", c->id, c->pid);
		text_of(f, (const uint8_t *)c->meta, strlen(c->meta), true);
		fprintf(f, "\",\"status\":\"%s\",\"sent\":%zu,"
		    "\"received\":%zu,\"expected\":%zu,\"seconds\":%.6f,"
		    "\"recording_complete\":%s", status_name[c->status],
		    c->sent, c->got.len, c->b[1].len,
		    (double)(c->t_end - c->t_start) / 1e9,
		    c->incomplete ? "false" : "true");
		if (c->status == RP_FAILED || c->status == RP_TIMEOUT)
			fprintf(f, ",\"error\":\"%s\"", strerror(-c->err));
		if (c->cut[0] != '\0')
			fprintf(f, ",\"recorded_end\":\"%s\","
			    "\"not_compared\":%zu", c->cut, c->past);
		if (c->diff) {
			size_t el = excerpt_len(c->exp_off, c->b[1].len);
			size_t gl = excerpt_len(c->diff_off, c->got.len);

			fprintf(f, ",\"divergence\":{\"offset\":%zu,"
			    "\"expected_offset\":%zu,\"expected_hex\":\"",
			    c->diff_off, c->exp_off);
			hex_of(f, c->b[1].p + c->exp_off, el);
			fputs("\",\"got_hex\":\"", f);
			hex_of(f, c->got.p + c->diff_off, gl);
			fputs("\",\"expected_text\":\"", f);
			text_of(f, c->b[1].p + c->exp_off, el, true);
			fputs("\",\"got_text\":\"", f);
			text_of(f, c->got.p + c->diff_off, gl, true);
			fputs("\"}", f);
		}
		fputc('}', f);
	}
	fputs("],\"total\":{", f);
	for (k = RP_MATCHED; k <= RP_FAILED; k++)
		fprintf(f, "%s\"%s\":%zu", k > RP_MATCHED ? "," : "",
		    status_name[k], count[k]);
	fprintf(f, ",\"connections\":%zu}}\n", rp->nconns);
	if (fclose(f) != 0) {
		fprintf(err, "kcsplice: --report %s: %s\n", path,
		    strerror(errno));
		return EX_CANTCREAT;
	}
	return 0;
}

/* ---- the run ----------------------------------------------------- */

static void
replay_free(struct replay *rp)
{
	size_t i;
	unsigned k;

	for (i = 0; i < rp->nconns; i++) {
		struct rp_conn *c = rp->conns[i];

		free(c->b[0].p);
		free(c->b[1].p);
		free(c->got.p);
		free(c->glen);
		free(c->ev);
		free(c);
	}
	free(rp->conns);
	free(rp->tab);
	free(rp->by_end);
	for (k = 0; k < rp->nre; k++)
		regfree(&rp->re[k]);
	pthread_mutex_destroy(&rp->mtx);
	pthread_cond_destroy(&rp->cv);
}

int
ks_replay_run(const struct ks_replay_opts *oin, FILE *out, FILE *err)
{
	struct ks_replay_opts o = *oin;
	struct kc_executor_attr ea;
	struct replay rp;
	size_t count[RP_FAILED + 1] = { 0 }, i;
	struct stat sb;
	int nfiles = 0, e = 0, rc;
	unsigned k;

	if (o.concurrency == 0)
		o.concurrency = CONCURRENCY_DEFAULT;
	if (o.max_bytes == 0)
		o.max_bytes = MAX_BYTES_DEFAULT;
	if (!(o.speed > 0))
		o.speed = 1;
	if (o.timeout_ns == 0)
		o.timeout_ns = 10000000000ull;
	memset(&rp, 0, sizeof(rp));
	rp.o = &o;
	pthread_mutex_init(&rp.mtx, NULL);
	pthread_cond_init(&rp.cv, NULL);
	for (k = 0; k < o.nignore; k++) {
		char msg[128];
		int r = regcomp(&rp.re[k], o.ignore[k], REG_EXTENDED);

		if (r != 0) {
			regerror(r, &rp.re[k], msg, sizeof(msg));
			fprintf(err, "kcsplice: --ignore '%s': %s\n",
			    o.ignore[k], msg);
			replay_free(&rp);
			return EX_USAGE;
		}
		rp.nre++;
	}
	for (i = 0; i < (size_t)o.ninputs && e == 0; i++) {
		if (stat(o.inputs[i], &sb) == 0 && S_ISDIR(sb.st_mode))
			e = load_dir(&rp, o.inputs[i], err, &nfiles);
		else if ((e = load_file(&rp, o.inputs[i], err)) == 0)
			nfiles++;
	}
	if (e != 0 || nfiles == 0 || rp.nconns == 0) {
		if (e == 0)
			fprintf(err, "kcsplice: --replay: no recorded "
			    "connection found\n");
		replay_free(&rp);
		return EX_NOINPUT;
	}
	if (order(&rp) != 0) {
		fprintf(err, "kcsplice: --replay: out of memory\n");
		replay_free(&rp);
		return EX_OSERR;
	}
	for (i = 0; i < rp.nconns; i++) {
		struct rp_conn *c = rp.conns[i];

		if (!c->opened)
			lacks(c, "its beginning is not in the files");
		if (!c->ended)
			lacks(c, "it had not ended");
	}
	memset(&ea, 0, sizeof(ea));
	ea.kind = KC_EXEC_SOFT;
	ea.name = "kcsplice-replay";
	if (kc_executor_create(&rp.ex, &ea) != 0) {
		fprintf(err, "kcsplice: --replay: no executor\n");
		replay_free(&rp);
		return EX_OSERR;
	}
	(void)kc_init(&rp.kc_start, start_fn, &rp, rp.ex, 0);
	(void)kc_run(&rp.kc_start, NULL, 0);
	pthread_mutex_lock(&rp.mtx);
	while (!rp.all_done)
		pthread_cond_wait(&rp.cv, &rp.mtx);
	pthread_mutex_unlock(&rp.mtx);
	(void)kc_executor_shutdown(rp.ex, KC_SHUTDOWN_DRAIN, NULL);
	(void)kc_executor_close(rp.ex, NULL);

	for (i = 0; i < rp.nconns; i++) {
		report_line(out, rp.conns[i]);
		count[rp.conns[i]->status]++;
	}
	fprintf(out, "replay: %zu connections: %zu matched, %zu diverged, "
	    "%zu timed out, %zu failed\n", rp.nconns, count[RP_MATCHED],
	    count[RP_DIVERGED], count[RP_TIMEOUT], count[RP_FAILED]);
	rc = count[RP_MATCHED] == rp.nconns ? 0 :
	    count[RP_FAILED] == rp.nconns ? EX_UNAVAILABLE : 1;
	if (o.report != NULL && (e = report_json(&rp, o.report, count,
	    err)) != 0)
		rc = e;
	replay_free(&rp);
	return rc;
}
