/*
 * svg.c: a self-contained SVG timeline (no scripts, no external
 * references): a row per thread labelled pid/tid name, a time axis in
 * seconds since the trace's start, runs as rectangles (nested runs
 * inset), other records as small marks, and flows as arrows from where a
 * continuation was triggered or a message sent to where it ran or was
 * handled and replied.  Every rectangle, mark and arrow has a title: the
 * browser shows it as a tooltip.
 *
 * Size: runs and marks that start within a pixel of one another on the
 * same row (and depth), or overlap, are merged into one element whose
 * title counts them (within more pixels when there are too many records,
 * see kd_svg()), threads past MAX_ROWS share the last row, and past
 * KD_SVG_MAX_ELEMS elements nothing more is drawn; a note at the bottom
 * says what was merged or left out.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "map.h"
#include "output.h"

#define LABEL_W		260.0	/* the labels' column */
#define PLOT_W		1000.0
#define ROW_H		22.0
#define TOP		58.0	/* title and axis */
#define BOTTOM		40.0
#define MAX_ROWS	1000
#define MAX_DEPTH	2	/* deeper runs are drawn at this depth */
#define LABEL_MAX	40	/* bytes of a thread's name in its label */

/* A merged run rectangle or mark, waiting for its neighbours. */
struct pend {
	double		 x0, x1;
	uint64_t	 n;
	uint64_t	 first;		/* index of the first record */
	int64_t		 t0, t1;	/* time span covered */
	bool		 on;
};

struct sctx {
	struct kd_str	 s;
	FILE		*out;
	int		 error;		/* of the first failed flush */
	struct kd_trace	*t;
	const struct kd_span *sp;
	int64_t		 t0, t1;	/* the plot's time range */
	uint32_t	 nrows;
	uint64_t	 nelems;	/* drawn, of the records */
	uint64_t	 omitted;	/* records and flows not drawn */
	uint64_t	 merged;	/* records drawn merged with others */
	uint64_t	 budget;
	double		 gap;		/* elements closer than this merge */
	struct pend	*runs;		/* nrows * (MAX_DEPTH + 1) */
	struct pend	*marks;		/* nrows */
};

static double
xof(const struct sctx *c, int64_t ns)
{
	return LABEL_W + (double)(ns - c->t0) / (double)(c->t1 - c->t0) *
	    PLOT_W;
}

static double
rowtop(uint32_t row)
{
	return TOP + row * ROW_H;
}

/* Write out what is buffered when it is large. */
static void
spill(struct sctx *c)
{
	int error;

	if (c->s.len >= 65536 && (error = kd_str_flush(&c->s, c->out)) != 0 &&
	    c->error == 0)
		c->error = error;
}

static bool
take(struct sctx *c, uint64_t n)
{
	if (c->nelems >= c->budget) {
		c->omitted += n;
		return false;
	}
	c->nelems++;
	return true;
}

static const char *
mark_color(unsigned type)
{
	switch (type) {
	case KC_TR_ENQUEUE:
	case KC_TR_DEFER:
	case KC_TR_CANCEL:
	case KC_TR_RUN_END:
		return "#4e79a7";
	case KC_TR_MSG_SEND:
	case KC_TR_MSG_RECV:
	case KC_TR_MSG_REPLY:
	case KC_TR_MSG_ABORT:
		return "#b07aa1";
	case KC_TR_SOCK_CONNECT:
	case KC_TR_SOCK_ACCEPT:
	case KC_TR_SOCK_SEND:
	case KC_TR_SOCK_RECV:
	case KC_TR_SOCK_CLOSE:
		return "#59a14f";
	case KC_TR_SPLICE:
	case KC_TR_TEE:
	case KC_TR_MIRROR_DETACH:
		return "#f28e2b";
	case KC_TR_LOSS:
		return "#e15759";
	default:
		return "#79706e";
	}
}

/* A record's tooltip: type, time and details, XML-escaped. */
static void
put_title(struct sctx *c, const struct kd_rec *r, const char *extra)
{
	struct kd_str d = { 0 };
	char type[32], tbuf[KD_TIMEBUF];

	kd_type_label(type, sizeof(type), r->type);
	kd_fmt_sec(tbuf, sizeof(tbuf), r->ns);
	kd_str_printf(&d, "%s at %s s, tid %" PRIu32 ": ", type, tbuf, r->tid);
	kd_str_details(&d, r);
	if (extra != NULL)
		kd_str_puts(&d, extra);
	if (d.oom)
		c->s.oom = true;
	kd_str_puts(&c->s, "<title>");
	kd_str_esc(&c->s, d.p != NULL ? d.p : "", d.len, KD_ESC_XML);
	kd_str_puts(&c->s, "</title>");
	kd_str_free(&d);
}

/* The tooltip of an element that stands for p->n records (what). */
static void
merged_title(struct sctx *c, const struct pend *p, const char *what)
{
	char a[KD_TIMEBUF], b[KD_TIMEBUF];

	c->merged += p->n;
	kd_fmt_sec(a, sizeof(a), p->t0);
	kd_fmt_sec(b, sizeof(b), p->t1);
	kd_str_printf(&c->s, "<title>%" PRIu64 " %s from %s s to %s s "
	    "(merged)</title>", p->n, what, a, b);
}

static void
flush_run(struct sctx *c, uint32_t row, unsigned depth)
{
	struct pend *p = &c->runs[row * (MAX_DEPTH + 1) + depth];
	static const char *const fill[] = { "#4e79a7", "#76b7b2", "#edc948" };
	char a[KD_TIMEBUF], extra[96];
	struct kd_rec r;
	double w;

	if (!p->on)
		return;
	p->on = false;
	if (!take(c, p->n))
		return;
	w = p->x1 - p->x0 < 1.0 ? 1.0 : p->x1 - p->x0;
	kd_str_printf(&c->s, "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" "
	    "height=\"%.1f\" fill=\"%s\">", p->x0,
	    rowtop(row) + 2 + 3.0 * depth, w, ROW_H - 4 - 6.0 * depth,
	    fill[depth]);
	kd_rec_at(c->t, p->first, &r);
	if (p->n == 1) {
		kd_fmt_sec(a, sizeof(a), p->t1 - p->t0);
		snprintf(extra, sizeof(extra), ", for %s s%s", a,
		    c->sp[p->first].flags & KD_SPAN_OPEN ?
		    " (no RUN_END)" : "");
		put_title(c, &r, extra);
	} else {
		merged_title(c, p, "runs");
	}
	kd_str_puts(&c->s, "</rect>\n");
	spill(c);
}

static void
flush_mark(struct sctx *c, uint32_t row)
{
	struct pend *p = &c->marks[row];
	struct kd_rec r;

	if (!p->on)
		return;
	p->on = false;
	if (!take(c, p->n))
		return;
	kd_rec_at(c->t, p->first, &r);
	kd_str_printf(&c->s, "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" "
	    "height=\"7\" fill=\"%s\">", p->x0 - 0.75,
	    rowtop(row) + ROW_H - 9, p->x1 - p->x0 + 1.5,
	    p->n == 1 ? mark_color(r.type) : "#333333");
	if (p->n == 1)
		put_title(c, &r, NULL);
	else
		merged_title(c, p, "records");
	kd_str_puts(&c->s, "</rect>\n");
	spill(c);
}

/* Does an element from x0 join the pending one?  Elements of a lane then
 * start at least gap apart. */
static bool
joins(const struct pend *p, double gap, double x0)
{
	return p->on && (x0 < p->x0 + gap || x0 <= p->x1);
}

static void
add_pend(struct pend *p, double gap, double x0, double x1, uint64_t i,
    int64_t t0, int64_t t1)
{
	if (joins(p, gap, x0)) {
		if (x1 > p->x1)
			p->x1 = x1;
		if (t1 > p->t1)
			p->t1 = t1;
		p->n++;
		return;
	}
	p->on = true;
	p->x0 = x0;
	p->x1 = x1;
	p->t0 = t0;
	p->t1 = t1;
	p->n = 1;
	p->first = i;
}

/* Pass 1: runs and marks. */
static void
draw_records(struct sctx *c, const struct kd_filter *f)
{
	const struct kd_span *sp = c->sp;
	struct kd_thread *th;
	struct kd_rec r, b;
	struct pend *p;
	uint64_t i;
	unsigned depth;
	uint32_t row, k;
	double x;

	for (i = 0; i < c->t->nrec; i++) {
		kd_rec_at(c->t, i, &r);
		if (!kd_filter_match(f, &r))
			continue;
		th = kd_thread_find(c->t, r.tid);
		row = th->row;
		x = xof(c, r.ns);
		if (r.type == KC_TR_RUN_BEGIN) {
			depth = sp[i].depth > MAX_DEPTH ? MAX_DEPTH :
			    sp[i].depth;
			p = &c->runs[row * (MAX_DEPTH + 1) + depth];
			if (p->on && !joins(p, c->gap, x))
				flush_run(c, row, depth);
			add_pend(p, c->gap, x, xof(c, sp[i].end), i, r.ns,
			    sp[i].end);
			continue;
		}
		if (r.type == KC_TR_RUN_END && (sp[i].flags & KD_SPAN_ENDS)) {
			kd_rec_at(c->t, sp[i].peer, &b);
			if (kd_filter_match(f, &b))
				continue;	/* drawn with its run */
		}
		p = &c->marks[row];
		if (p->on && !joins(p, c->gap, x))
			flush_mark(c, row);
		add_pend(p, c->gap, x, x, i, r.ns, r.ns);
	}
	for (row = 0; row < c->nrows; row++) {
		for (k = 0; k <= MAX_DEPTH; k++)
			flush_run(c, row, k);
		flush_mark(c, row);
	}
}

/* Pass 2: flows, from the record that made them (or carried them last:
 * a MSG_RECV for its MSG_REPLY) to each record that carries them on; the
 * map holds the index of that record. */
static int
draw_flows(struct sctx *c, const struct kd_filter *f)
{
	struct kd_map src = { 0 };
	struct kd_rec r, a;
	struct kd_thread *th, *ta;
	uint64_t i, v, flow;
	double x1, y1, x2, y2;
	char fa[32];
	int error = 0;

	for (i = 0; i < c->t->nrec; i++) {
		kd_rec_at(c->t, i, &r);
		if (r.type != KC_TR_ENQUEUE && r.type != KC_TR_DEFER &&
		    r.type != KC_TR_RUN_BEGIN && r.type != KC_TR_MSG_SEND &&
		    r.type != KC_TR_MSG_RECV && r.type != KC_TR_MSG_REPLY)
			continue;
		if ((flow = kd_rec_u64(&r, 3)) == 0 ||
		    !kd_filter_match(f, &r))
			continue;
		if (r.type != KC_TR_ENQUEUE && r.type != KC_TR_DEFER &&
		    r.type != KC_TR_MSG_SEND && kd_map_get(&src, flow, &v)) {
			kd_rec_at(c->t, v, &a);
			ta = kd_thread_find(c->t, a.tid);
			th = kd_thread_find(c->t, r.tid);
			if (take(c, 1)) {
				x1 = xof(c, a.ns);
				y1 = rowtop(ta->row) + ROW_H / 2;
				x2 = xof(c, r.ns);
				y2 = rowtop(th->row) + ROW_H / 2;
				kd_str_printf(&c->s, "<path d=\"M%.2f,%.1f ",
				    x1, y1);
				if (ta->row == th->row)
					kd_str_printf(&c->s, "Q%.2f,%.1f ",
					    (x1 + x2) / 2, y1 - ROW_H);
				else
					kd_str_puts(&c->s, "L");
				kd_fmt_flow(fa, sizeof(fa), flow);
				kd_str_printf(&c->s, "%.2f,%.1f\" "
				    "fill=\"none\" stroke=\"#e15759\" "
				    "stroke-width=\"1\" marker-end="
				    "\"url(#arrow)\"><title>flow %s: tid %"
				    PRIu32 " to tid %" PRIu32 "</title></path>"
				    "\n", x2, y2, fa, a.tid, r.tid);
			}
		}
		/* Where the flow goes on from. */
		if (r.type != KC_TR_RUN_BEGIN && r.type != KC_TR_MSG_REPLY &&
		    (error = kd_map_put(&src, flow, i)) != 0)
			break;
		spill(c);
	}
	kd_map_free(&src);
	return error;
}

/* Axis ticks at 1, 2 or 5 times a power of ten nanoseconds. */
static void
draw_axis(struct sctx *c, double bottom)
{
	static const uint64_t mult[] = { 1, 2, 5 };
	uint64_t span = (uint64_t)(c->t1 - c->t0), step = 1, p10 = 1;
	char lab[KD_TIMEBUF], *dot;
	int64_t tick;
	unsigned m, dec, dig;
	double x;

	for (;;) {
		for (m = 0; m < 3; m++) {
			step = mult[m] * p10;
			if (step >= span / 8)
				goto found;
		}
		p10 *= 10;
	}
found:
	/* Decimals a label needs: nine, less the step's zeros. */
	for (dec = 9, dig = 1; dig < step && dec > 0 && step % (dig * 10) == 0;
	    dig *= 10)
		dec--;
	tick = c->t0 / (int64_t)step * (int64_t)step;
	if (tick < c->t0)
		tick += (int64_t)step;
	for (; tick <= c->t1; tick += (int64_t)step) {
		x = xof(c, tick);
		kd_fmt_sec(lab, sizeof(lab), tick);
		if ((dot = strchr(lab, '.')) != NULL)
			dot[dec > 0 ? dec + 1 : 0] = '\0';
		kd_str_printf(&c->s, "<line x1=\"%.2f\" y1=\"%.1f\" "
		    "x2=\"%.2f\" y2=\"%.1f\" stroke=\"#cccccc\" "
		    "stroke-width=\"0.5\"/>\n<text x=\"%.2f\" y=\"%.1f\" "
		    "text-anchor=\"middle\">%s</text>\n", x, TOP - 4, x,
		    bottom, x, TOP - 8, lab);
	}
	kd_str_printf(&c->s, "<text x=\"%.1f\" y=\"%.1f\">time (s)</text>\n",
	    8.0, TOP - 8);
}

static void
draw_rows(struct sctx *c, uint32_t nshown)
{
	struct kd_thread *th;
	uint32_t k;
	size_t n;

	for (k = 0; k < c->t->nthreads; k++) {
		th = &c->t->threads[k];
		if (!th->shown)
			continue;
		kd_str_printf(&c->s, "<rect x=\"0\" y=\"%.1f\" width=\"%.1f\" "
		    "height=\"%.1f\" fill=\"%s\"/>\n", rowtop(th->row),
		    LABEL_W + PLOT_W + 20, ROW_H,
		    th->row % 2 ? "#ffffff" : "#f2f2f2");
		kd_str_printf(&c->s, "<text x=\"4\" y=\"%.1f\">",
		    rowtop(th->row) + ROW_H / 2 + 4);
		if (th->row == MAX_ROWS - 1 && nshown > MAX_ROWS) {
			/* The last row is shared by the rest. */
			kd_str_printf(&c->s, "%" PRIu32 " more threads"
			    "</text>\n", nshown - (MAX_ROWS - 1));
			return;
		}
		kd_str_printf(&c->s, "%" PRIu32 "/%" PRIu32 " ", th->pid,
		    th->tid);
		if (th->name != NULL && th->namelen > 0) {
			n = th->namelen > LABEL_MAX ? LABEL_MAX : th->namelen;
			kd_str_esc(&c->s, th->name, n, KD_ESC_XML);
		} else {
			kd_str_puts(&c->s, "-");
		}
		kd_str_puts(&c->s, "</text>\n");
		spill(c);
	}
}

/* Rows for the threads with a record shown, and the time range. */
static uint32_t
layout(struct sctx *c, const struct kd_filter *f, uint64_t *nrecs)
{
	struct kd_thread *th;
	struct kd_rec r;
	uint32_t k, nshown = 0;
	uint64_t i;
	bool any = false;
	int64_t end;

	for (k = 0; k < c->t->nthreads; k++)
		c->t->threads[k].shown = false;
	for (i = 0; i < c->t->nrec; i++) {
		kd_rec_at(c->t, i, &r);
		if (!kd_filter_match(f, &r))
			continue;
		kd_thread_find(c->t, r.tid)->shown = true;
		(*nrecs)++;
		end = r.type == KC_TR_RUN_BEGIN ? c->sp[i].end : r.ns;
		if (!any || r.ns < c->t0)
			c->t0 = r.ns;
		if (!any || end > c->t1)
			c->t1 = end;
		any = true;
	}
	if (!any)
		c->t0 = c->t1 = 0;
	/* From the trace's start, unless that squeezes the records. */
	if ((f == NULL || !f->has_from) && c->t0 > 0 &&
	    c->t0 <= (c->t1 - c->t0) / 4)
		c->t0 = 0;
	if (c->t1 - c->t0 < 1000)
		c->t1 = c->t0 + 1000;
	for (k = 0; k < c->t->nthreads; k++) {
		th = &c->t->threads[k];
		if (!th->shown)
			continue;
		/* MAX_ROWS fits a row's 16 bits. */
		th->row = (uint16_t)(nshown < MAX_ROWS - 1 ? nshown :
		    MAX_ROWS - 1);
		nshown++;
	}
	c->nrows = nshown < MAX_ROWS ? nshown : MAX_ROWS;
	return nshown;
}

int
kd_svg(FILE *out, struct kd_trace *t, const struct kd_filter *f)
{
	struct sctx c = { .t = t, .out = out };
	struct kd_span *sp = NULL;
	double width = LABEL_W + PLOT_W + 20, height, bottom, lanes, room;
	uint64_t nrecs = 0;
	uint32_t nshown;
	size_t n;
	int error;

	if ((error = kd_spans(t, &sp)) != 0)
		return error;
	c.sp = sp;
	nshown = layout(&c, f, &nrecs);
	c.runs = calloc((size_t)c.nrows * (MAX_DEPTH + 1) + 1,
	    sizeof(*c.runs));
	c.marks = calloc((size_t)c.nrows + 1, sizeof(*c.marks));
	if (c.runs == NULL || c.marks == NULL) {
		error = -ENOMEM;
		goto out;
	}
	bottom = rowtop(c.nrows);
	height = bottom + BOTTOM;
	/* The rows and axis are drawn whatever happens; the records get
	   what is left of the budget. */
	c.budget = KD_SVG_MAX_ELEMS - (uint64_t)c.nrows * 2 - 64;
	/*
	 * Elements of one lane (a row's runs at one depth, or its marks)
	 * start more than gap pixels apart, so a lane has at most
	 * PLOT_W / gap + 1 of them: with more records than three quarters of
	 * the budget, widen the gap until the lanes fit in that, leaving the
	 * rest to the flows.
	 */
	c.gap = 1.0;
	lanes = (double)c.nrows * (MAX_DEPTH + 2);
	room = (double)c.budget * 3 / 4;
	if ((double)nrecs > room)
		c.gap = room > 2 * lanes ? lanes * PLOT_W / (room - lanes) :
		    2 * PLOT_W;
	if (c.gap < 1.0)
		c.gap = 1.0;

	n = strnlen(t->h.th_prog, sizeof(t->h.th_prog));
	kd_str_printf(&c.s, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" "
	    "width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
	    "font-family=\"monospace\" font-size=\"11\">\n<title>kcdump: ",
	    width, height, width, height);
	kd_str_esc(&c.s, t->h.th_prog, n, KD_ESC_XML);
	kd_str_printf(&c.s, " (pid %" PRIu32 ")</title>\n<defs><marker "
	    "id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" "
	    "markerWidth=\"6\" markerHeight=\"6\" orient=\"auto\"><path "
	    "d=\"M0,0 L10,5 L0,10 z\" fill=\"#e15759\"/></marker></defs>\n"
	    "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" "
	    "fill=\"#ffffff\"/>\n<text x=\"8\" y=\"16\" font-size=\"13\">",
	    t->h.th_pid, width, height);
	kd_str_esc(&c.s, t->h.th_prog, n, KD_ESC_XML);
	kd_str_printf(&c.s, ", pid %" PRIu32 ": %" PRIu64 " records, %"
	    PRIu32 " threads, lost %" PRIu64 " records (seq gaps %" PRIu64
	    ")%s</text>\n", t->h.th_pid, t->nrec, t->nthreads, t->lost,
	    t->gaps, t->end < t->len ? ", file cut short" : "");
	draw_rows(&c, nshown);
	draw_axis(&c, bottom);
	draw_records(&c, f);
	if ((error = draw_flows(&c, f)) != 0 || (error = c.error) != 0)
		goto out;
	if (c.merged > 0 || c.omitted > 0 || nshown > MAX_ROWS)
		kd_str_printf(&c.s, "<text x=\"8\" y=\"%.1f\">%" PRIu64
		    " records merged into shared marks, %" PRIu64 " records or "
		    "flows not drawn (at most %d elements)</text>\n",
		    bottom + 24, c.merged, c.omitted, KD_SVG_MAX_ELEMS);
	kd_str_puts(&c.s, "</svg>\n");
	error = kd_str_flush(&c.s, out);
out:
	kd_str_free(&c.s);
	free(c.runs);
	free(c.marks);
	free(sp);
	if (error == 0 && ferror(out))
		error = -EIO;
	return error;
}
