/*
 * json.c: the Chrome trace event format (a JSON object with traceEvents),
 * which Perfetto and chrome://tracing load.
 *
 *   - A process per pid, a row per thread, named by "M" metadata events
 *     (a thread's last name in the file; "tid N" if it has none).
 *   - A run (RUN_BEGIN and its RUN_END, see spans.c) is an "X" slice named
 *     after its function; a run never ended lasts to the trace's end.
 *   - Flows: ENQUEUE and DEFER start one ("s", cat kc.flow) that ends
 *     ("f", binding to the enclosing slice) at the RUN_BEGIN with the same
 *     flow; MSG_SEND starts one (cat msg.flow) that steps ("t") through
 *     MSG_RECV (and any run carrying it) and ends at MSG_REPLY.  A flow
 *     event binds to the slice enclosing it, so each of these records is a
 *     short "X" slice of its own (up to 1 us, never past the thread's next
 *     record) and its flow event follows it at the same time.  A flow's
 *     later events are written only after its start was.
 *   - Every other record is an instant ("i", thread scope) with its
 *     fields in args.
 * Timestamps are microseconds (three decimals: ns) since the trace's start
 * (or its earliest record, if that came before).  Event order: by time,
 * and a slice before the flow event bound to it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "map.h"
#include "output.h"

#define SHORT_SLICE_NS	1000

enum { FLOW_KC = 1, FLOW_MSG = 2 };

struct jctx {
	struct kd_str	 s;
	FILE		*out;
	int64_t		 base;
	bool		 first;
};

/* ns as microseconds: "12.345". */
static void
put_us(struct kd_str *s, int64_t ns)
{
	uint64_t a = ns < 0 ? (uint64_t)-ns : (uint64_t)ns;

	kd_str_printf(s, "%s%" PRIu64 ".%03" PRIu64, ns < 0 ? "-" : "",
	    a / 1000, a % 1000);
}

static void
put_jstr(struct kd_str *s, const void *p, size_t n)
{
	kd_str_add(s, "\"", 1);
	kd_str_esc(s, p, n, KD_ESC_JSON);
	kd_str_add(s, "\"", 1);
}

/* {"ph":..,"name":..,"cat":..,"pid":..,"tid":..,"ts":..  (left open) */
static void
ev_open(struct jctx *j, const char *ph, const char *name, const char *cat,
    const struct kd_rec *r)
{
	kd_str_puts(&j->s, j->first ? "\n" : ",\n");
	j->first = false;
	kd_str_printf(&j->s, "{\"ph\":\"%s\",\"name\":", ph);
	put_jstr(&j->s, name, strlen(name));
	kd_str_printf(&j->s, ",\"cat\":\"%s\",\"pid\":%" PRIu32 ",\"tid\":%"
	    PRIu32 ",\"ts\":", cat, r->pid, r->tid);
	put_us(&j->s, r->ns - j->base);
}

static void
put_args(struct kd_str *s, const struct kd_rec *r)
{
	const struct kd_typeinfo *ti = kd_type_info(r->type);
	const uint8_t *text;
	enum kd_kind kind;
	uint64_t v;
	size_t n;
	unsigned i;

	kd_str_printf(s, ",\"args\":{\"cpu\":%" PRIu32, r->cpu);
	if (r->seq != KC_TRACE_SEQ_NONE)
		kd_str_printf(s, ",\"seq\":%" PRIu64, r->seq);
	if (ti == NULL) {
		kd_str_printf(s, ",\"type\":%u,\"len\":%u}", r->type, r->len);
		return;
	}
	for (i = 0; i < ti->nfields; i++) {
		kind = ti->f[i].kind;
		v = kd_rec_u64(r, i);
		kd_str_printf(s, ",\"%s\":", ti->f[i].name);
		if (kind == KD_TEXT) {
			n = kd_rec_text(r, &text);
			put_jstr(s, text, n);
		} else if (kind == KD_U || kind == KD_NS) {
			kd_str_printf(s, "%" PRIu64, v);
		} else if (kind == KD_I) {
			kd_str_printf(s, "%" PRId64, (int64_t)v);
		} else {
			kd_str_add(s, "\"", 1);
			kd_str_value(s, kind, v);
			kd_str_add(s, "\"", 1);
		}
	}
	if (kd_rec_short(r))
		kd_str_puts(s, ",\"short\":true");
	kd_str_add(s, "}", 1);
}

static void
ev_slice(struct jctx *j, const char *name, const char *cat,
    const struct kd_rec *r, int64_t dur)
{
	ev_open(j, "X", name, cat, r);
	kd_str_puts(&j->s, ",\"dur\":");
	put_us(&j->s, dur);
	put_args(&j->s, r);
	kd_str_add(&j->s, "}", 1);
}

static void
ev_flow(struct jctx *j, const char *ph, int kind, const struct kd_rec *r,
    uint64_t flow)
{
	ev_open(j, ph, kind == FLOW_KC ? "continuation" : "message",
	    kind == FLOW_KC ? "kc.flow" : "msg.flow", r);
	kd_str_printf(&j->s, ",\"id\":\"0x%" PRIx64 "\"", flow);
	if (ph[0] == 'f')
		kd_str_puts(&j->s, ",\"bp\":\"e\"");
	kd_str_add(&j->s, "}", 1);
}

static void
ev_instant(struct jctx *j, const struct kd_rec *r)
{
	char type[32];

	kd_type_label(type, sizeof(type), r->type);
	ev_open(j, "i", type, "kc", r);
	kd_str_puts(&j->s, ",\"s\":\"t\"");
	put_args(&j->s, r);
	kd_str_add(&j->s, "}", 1);
}

static void
put_meta(struct jctx *j, const char *what, uint32_t pid, uint32_t tid,
    const void *name, size_t n)
{
	kd_str_puts(&j->s, j->first ? "\n" : ",\n");
	j->first = false;
	kd_str_printf(&j->s, "{\"ph\":\"M\",\"name\":\"%s\",\"pid\":%" PRIu32
	    ",\"tid\":%" PRIu32 ",\"args\":{\"name\":", what, pid, tid);
	put_jstr(&j->s, name, n);
	kd_str_puts(&j->s, "}}");
}

/* The top of the object, and a name for every process and thread shown. */
static int
put_head(struct jctx *j, const struct kd_trace *t)
{
	const struct kd_thread *th;
	struct kd_map pids = { 0 };
	char start[KD_TIMEBUF], buf[32];
	uint64_t dummy;
	size_t n = strnlen(t->h.th_prog, sizeof(t->h.th_prog));
	uint32_t k;
	int error;

	kd_fmt_abs(start, sizeof(start), t, 0);
	kd_str_puts(&j->s, "{\"displayTimeUnit\":\"ns\",\"otherData\":{"
	    "\"program\":");
	put_jstr(&j->s, t->h.th_prog, n);
	kd_str_printf(&j->s, ",\"pid\":%" PRIu32 ",\"clock\":\"%s\","
	    "\"start\":\"%s\",\"records\":%" PRIu64 ",\"threads\":%" PRIu32
	    ",\"lost\":%" PRIu64 ",\"seq_gaps\":%" PRIu64 ",\"unknown\":%"
	    PRIu64 ",\"complete\":%s},\"traceEvents\":[", t->h.th_pid,
	    t->h.th_clock == KC_TRACE_CLOCK_TSC ? "tsc" : "monotonic", start,
	    t->nrec, t->nthreads, t->lost, t->gaps, t->nunknown,
	    t->end == t->len ? "true" : "false");
	for (k = 0; k < t->nthreads; k++) {
		th = &t->threads[k];
		if (!th->shown || kd_map_get(&pids, th->pid, &dummy))
			continue;
		if (kd_map_put(&pids, th->pid, 1) != 0) {
			kd_map_free(&pids);
			return -ENOMEM;
		}
		if (th->pid == t->h.th_pid && n > 0) {
			put_meta(j, "process_name", th->pid, th->pid,
			    t->h.th_prog, n);
		} else {
			snprintf(buf, sizeof(buf), "pid %" PRIu32, th->pid);
			put_meta(j, "process_name", th->pid, th->pid, buf,
			    strlen(buf));
		}
	}
	kd_map_free(&pids);
	for (k = 0; k < t->nthreads; k++) {
		th = &t->threads[k];
		if (!th->shown)
			continue;
		if (th->name != NULL && th->namelen > 0) {
			put_meta(j, "thread_name", th->pid, th->tid, th->name,
			    th->namelen);
		} else {
			snprintf(buf, sizeof(buf), "tid %" PRIu32, th->tid);
			put_meta(j, "thread_name", th->pid, th->tid, buf,
			    strlen(buf));
		}
		/* Out in pieces: a file may have a thread per record. */
		if (j->s.len >= 65536 &&
		    (error = kd_str_flush(&j->s, j->out)) != 0)
			return error;
	}
	return 0;
}

/* One record's events.  0 or -ENOMEM. */
static int
put_record(struct jctx *j, const struct kd_trace *t, const struct kd_filter *f,
    const struct kd_span *sp, uint64_t i, const struct kd_rec *r,
    struct kd_map *flows)
{
	struct kd_rec b;
	char type[32], name[48];
	uint64_t flow, kind;
	int64_t dur;

	kd_type_label(type, sizeof(type), r->type);
	switch (r->type) {
	case KC_TR_RUN_BEGIN:
		snprintf(name, sizeof(name), "fn 0x%" PRIx64, kd_rec_u64(r, 1));
		ev_slice(j, name, "run", r, sp[i].end - r->ns);
		flow = kd_rec_u64(r, 3);
		if (flow != 0 && kd_map_get(flows, flow, &kind))
			ev_flow(j, kind == FLOW_KC ? "f" : "t", (int)kind, r,
			    flow);
		return 0;
	case KC_TR_RUN_END:
		if (sp[i].flags & KD_SPAN_ENDS) {
			/* Shown as its run's slice, if that is shown. */
			kd_rec_at(t, sp[i].peer, &b);
			if (kd_filter_match(f, &b))
				return 0;
		}
		ev_instant(j, r);
		return 0;
	case KC_TR_ENQUEUE:
	case KC_TR_DEFER:
	case KC_TR_MSG_SEND:
	case KC_TR_MSG_RECV:
	case KC_TR_MSG_REPLY:
		break;
	default:
		ev_instant(j, r);
		return 0;
	}

	/* A flow point: a short slice, then its flow event. */
	dur = sp[i].end - r->ns;
	if (dur > SHORT_SLICE_NS)
		dur = SHORT_SLICE_NS;
	ev_slice(j, type, r->type <= KC_TR_DEFER ? "kc" : "msg", r, dur);
	flow = kd_rec_u64(r, 3);
	if (flow == 0)
		return 0;
	switch (r->type) {
	case KC_TR_ENQUEUE:
	case KC_TR_DEFER:
		ev_flow(j, "s", FLOW_KC, r, flow);
		return kd_map_put(flows, flow, FLOW_KC);
	case KC_TR_MSG_SEND:
		ev_flow(j, "s", FLOW_MSG, r, flow);
		return kd_map_put(flows, flow, FLOW_MSG);
	case KC_TR_MSG_RECV:
	case KC_TR_MSG_REPLY:
		if (kd_map_get(flows, flow, &kind) && kind == FLOW_MSG)
			ev_flow(j, r->type == KC_TR_MSG_RECV ? "t" : "f",
			    FLOW_MSG, r, flow);
		return 0;
	}
	return 0;
}

int
kd_json(FILE *out, struct kd_trace *t, const struct kd_filter *f)
{
	struct jctx j = { .out = out, .first = true };
	struct kd_map flows = { 0 };
	struct kd_span *sp = NULL;
	struct kd_rec r;
	uint64_t i;
	uint32_t k;
	int error;

	if ((error = kd_spans(t, &sp)) != 0)
		return error;
	for (k = 0; k < t->nthreads; k++)
		t->threads[k].shown = false;
	for (i = 0; i < t->nrec; i++) {
		kd_rec_at(t, i, &r);
		if (kd_filter_match(f, &r))
			kd_thread_find(t, r.tid)->shown = true;
	}
	j.base = t->first_ns < 0 ? t->first_ns : 0;
	if ((error = put_head(&j, t)) != 0)
		goto out;
	for (i = 0; i < t->nrec; i++) {
		kd_rec_at(t, i, &r);
		if (!kd_filter_match(f, &r))
			continue;
		if ((error = put_record(&j, t, f, sp, i, &r, &flows)) != 0)
			goto out;
		if (j.s.len >= 65536 && (error = kd_str_flush(&j.s, out)) != 0)
			goto out;
	}
	kd_str_puts(&j.s, "\n]}\n");
	error = kd_str_flush(&j.s, out);
out:
	kd_str_free(&j.s);
	kd_map_free(&flows);
	free(sp);
	if (error == 0 && ferror(out))
		error = -EIO;
	return error;
}
