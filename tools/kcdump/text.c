/*
 * text.c: kcdump's default output, after kdump(1): one line per record in
 * time order, then the summary of the trace and of its losses.
 *
 *     PID    TID NAME                    TIME TYPE DETAILS
 *    4242   4243 kc-exec-0        0.000004000 RUN_BEGIN kc=0x1000 ...
 *
 * A thread's name is that of its latest THREAD_NAME record so far in time
 * order (shown or not): a thread renamed shows each name from then on.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "output.h"

#define NAME_WIDTH	15

int
kd_text(FILE *out, struct kd_trace *t, const struct kd_filter *f,
    enum kd_timefmt tf)
{
	struct kd_str s = { 0 };
	struct kd_thread *th;
	struct kd_rec r;
	char tbuf[KD_TIMEBUF], type[32];
	int64_t prev = 0;
	bool first = true;
	uint64_t i;
	uint32_t k;
	size_t at;
	int error = 0;

	for (k = 0; k < t->nthreads; k++) {
		t->threads[k].cur_name = NULL;
		t->threads[k].cur_namelen = 0;
	}
	kd_str_printf(&s, "%5s %6s %-*s %12s %s %s\n", "PID", "TID",
	    NAME_WIDTH, "NAME", "TIME", "TYPE", "DETAILS");
	for (i = 0; i < t->nrec; i++) {
		kd_rec_at(t, i, &r);
		th = kd_thread_find(t, r.tid);
		if (r.type == KC_TR_THREAD_NAME)
			th->cur_namelen = (uint16_t)kd_rec_text(&r,
			    &th->cur_name);
		if (!kd_filter_match(f, &r))
			continue;
		switch (tf) {
		case KD_TIME_ABS:
			kd_fmt_abs(tbuf, sizeof(tbuf), t, r.ns);
			break;
		case KD_TIME_ELAPSED:
			kd_fmt_sec(tbuf, sizeof(tbuf), first ? 0 : r.ns - prev);
			break;
		case KD_TIME_REL:
		default:
			kd_fmt_sec(tbuf, sizeof(tbuf), r.ns);
			break;
		}
		first = false;
		prev = r.ns;
		kd_str_printf(&s, "%5" PRIu32 " %6" PRIu32 " ", r.pid, r.tid);
		at = s.len;
		if (th->cur_name != NULL && th->cur_namelen > 0)
			kd_str_esc(&s, th->cur_name, th->cur_namelen,
			    KD_ESC_WORD);
		else
			kd_str_puts(&s, "-");
		while (s.len - at < NAME_WIDTH && !s.oom)
			kd_str_add(&s, " ", 1);
		kd_type_label(type, sizeof(type), r.type);
		kd_str_printf(&s, " %12s %s ", tbuf, type);
		at = s.len;
		kd_str_details(&s, &r);
		if (s.len == at && s.len > 0)
			s.len--;	/* no details, no space after */
		kd_str_add(&s, "\n", 1);
		if (s.len >= 65536 && (error = kd_str_flush(&s, out)) != 0)
			goto out;
	}
	error = kd_str_flush(&s, out);
out:
	kd_str_free(&s);
	if (error == 0 && ferror(out))
		error = -EIO;
	return error;
}

static const char *
clock_name(uint32_t clock)
{
	return clock == KC_TRACE_CLOCK_TSC ? "tsc" : "monotonic";
}

int
kd_summary(FILE *out, const struct kd_trace *t)
{
	const struct kd_thread *th;
	struct kd_str s = { 0 };
	char start[KD_TIMEBUF], span[KD_TIMEBUF];
	size_t n, at;
	uint32_t k;
	int error;

	n = strnlen(t->h.th_prog, sizeof(t->h.th_prog));
	kd_fmt_abs(start, sizeof(start), t, 0);
	kd_fmt_sec(span, sizeof(span), t->last_ns - t->first_ns);
	kd_str_puts(&s, "trace: ");
	kd_str_esc(&s, t->h.th_prog, n, KD_ESC_WORD);
	kd_str_printf(&s, ", pid %" PRIu32 ", clock %s", t->h.th_pid,
	    clock_name(t->h.th_clock));
	if (t->h.th_clock == KC_TRACE_CLOCK_TSC)
		kd_str_printf(&s, " (%" PRIu64 " Hz, %zu points)",
		    (uint64_t)t->h.th_tsc_hz, t->npts);
	kd_str_printf(&s, ", start %s, %" PRIu64 " records over %s s\n",
	    start, t->nrec, span);
	for (k = 0; k < t->nthreads; k++) {
		th = &t->threads[k];
		kd_str_printf(&s, "thread %5" PRIu32 " %6" PRIu32 " ",
		    th->pid, th->tid);
		at = s.len;
		if (th->name != NULL && th->namelen > 0)
			kd_str_esc(&s, th->name, th->namelen, KD_ESC_WORD);
		else
			kd_str_puts(&s, "-");
		while (s.len - at < NAME_WIDTH && !s.oom)
			kd_str_add(&s, " ", 1);
		kd_str_printf(&s, " %" PRIu32 " records, lost %" PRIu64
		    " records (seq gaps %" PRIu64 ")", th->nrec, th->lost,
		    th->gaps);
		if (th->disorder > 0)
			kd_str_printf(&s, ", %" PRIu32 " out of order",
			    th->disorder);
		kd_str_add(&s, "\n", 1);
		/* A line per thread: out in pieces, not held whole (a file
		   may have as many threads as records). */
		if (s.len >= 65536 && (error = kd_str_flush(&s, out)) != 0) {
			kd_str_free(&s);
			return error;
		}
	}
	kd_str_printf(&s, "total: %" PRIu64 " records, %" PRIu32 " threads, "
	    "lost %" PRIu64 " records (seq gaps %" PRIu64 "), %" PRIu64
	    " unknown", t->nrec, t->nthreads, t->lost, t->gaps, t->nunknown);
	if (t->nshort > 0)
		kd_str_printf(&s, ", %" PRIu64 " short", t->nshort);
	if (t->end < t->len)
		kd_str_printf(&s, ", stopped at offset %" PRIu64 " of %zu",
		    t->end, t->len);
	kd_str_add(&s, "\n", 1);
	error = kd_str_flush(&s, out);
	kd_str_free(&s);
	if (error == 0 && ferror(out))
		error = -EIO;
	return error;
}
