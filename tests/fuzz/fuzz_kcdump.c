/*
 * fuzz_kcdump: kcdump's trace reader and every formatter (tools/kcdump).
 *
 * The input is read as a trace file, and again as the records after a
 * valid header (clock and rate chosen by its first byte), so that inputs
 * without the magic still reach the records.  A read must end in one of
 * the documented results with a one-line message; what it accepted must be
 * consistent (records inside the file and in time order, every tid in the
 * thread table, counts that add up, runs paired both ways).  Then the text
 * (each time format, with and without a filter made from the input), the
 * summary, the JSON and the SVG are written to memory and checked: text is
 * printable ASCII lines, JSON and SVG valid UTF-8 with no control
 * characters but newlines, ending as their format ends.  The option value
 * parsers get the input's first bytes as a string.  Anything else, or a
 * crash, aborts.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do {						\
	if (!(cond))							\
		fz_fail(__LINE__, #cond);				\
} while (0)

static void
fz_fail(int line, const char *what)
{
	fprintf(stderr, "fuzz_kcdump:%d: check failed: %s\n", line, what);
	abort();
}

/* Valid UTF-8 with no control character but \n (and \t in text). */
static void
check_utf8(const unsigned char *p, size_t n)
{
	size_t i = 0, k, len;
	uint32_t c;

	while (i < n) {
		if (p[i] < 0x80) {
			CHECK(p[i] >= 0x20 || p[i] == '\n');
			i++;
			continue;
		}
		if (p[i] >= 0xc2 && p[i] <= 0xdf) {
			len = 2;
			c = p[i] & 0x1f;
		} else if ((p[i] & 0xf0) == 0xe0) {
			len = 3;
			c = p[i] & 0x0f;
		} else {
			CHECK(p[i] >= 0xf0 && p[i] <= 0xf4);
			len = 4;
			c = p[i] & 0x07;
		}
		CHECK(i + len <= n);
		for (k = 1; k < len; k++) {
			CHECK((p[i + k] & 0xc0) == 0x80);
			c = c << 6 | (p[i + k] & 0x3f);
		}
		CHECK(!(len == 3 && c < 0x800) && !(len == 4 && c < 0x10000));
		CHECK(c <= 0x10ffff && (c < 0xd800 || c > 0xdfff));
		i += len;
	}
}

static void
check_ascii(const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		CHECK((p[i] >= 0x20 && p[i] < 0x7f) || p[i] == '\n');
	CHECK(n == 0 || p[n - 1] == '\n');
}

static bool
ends_with(const char *p, size_t n, const char *end)
{
	size_t m = strlen(end);

	return n >= m && memcmp(p + n - m, end, m) == 0;
}

enum fmt { F_TEXT_R, F_TEXT_T, F_TEXT_E, F_SUMMARY, F_JSON, F_SVG };

/* One formatter into memory; the output checked. */
static void
format(struct kd_trace *t, const struct kd_filter *f, enum fmt which)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out;
	int error = 0;

	if ((out = open_memstream(&buf, &len)) == NULL)
		return;
	switch (which) {
	case F_TEXT_R:
		error = kd_text(out, t, f, KD_TIME_REL);
		break;
	case F_TEXT_T:
		error = kd_text(out, t, f, KD_TIME_ABS);
		break;
	case F_TEXT_E:
		error = kd_text(out, t, f, KD_TIME_ELAPSED);
		break;
	case F_SUMMARY:
		error = kd_summary(out, t);
		break;
	case F_JSON:
		error = kd_json(out, t, f);
		break;
	case F_SVG:
		error = kd_svg(out, t, f);
		break;
	}
	CHECK(error == 0 || error == -ENOMEM);
	if (fclose(out) != 0 || error != 0) {
		free(buf);
		return;
	}
	switch (which) {
	case F_JSON:
		check_utf8((unsigned char *)buf, len);
		CHECK(len > 0 && buf[0] == '{' && ends_with(buf, len, "]}\n"));
		break;
	case F_SVG:
		check_utf8((unsigned char *)buf, len);
		CHECK(ends_with(buf, len, "</svg>\n"));
		break;
	default:
		check_ascii((unsigned char *)buf, len);
		break;
	}
	free(buf);
}

/* What kd_open() accepted must hold together. */
static void
check_trace(const struct kd_trace *t)
{
	const struct kd_thread *th;
	struct kd_span *sp;
	struct kd_rec r;
	uint64_t i, nrec = 0, lost = 0;
	const uint8_t *text;
	uint32_t k, *seen;

	CHECK(t->end >= t->h.th_size && t->end <= t->len);
	for (k = 0; k < t->nthreads; k++) {
		th = &t->threads[k];
		CHECK(k == 0 || t->threads[k - 1].tid < th->tid);
		CHECK(th->nrec > 0);
		nrec += th->nrec;
		lost = lost + th->lost < lost ? UINT64_MAX : lost + th->lost;
	}
	CHECK(nrec == t->nrec);
	CHECK(lost == t->lost);
	/* Each thread's count is that of the records in ents[] with its tid. */
	if ((seen = calloc(t->nthreads + 1, sizeof(*seen))) == NULL)
		return;
	for (i = 0; i < t->nrec; i++) {
		kd_rec_at(t, i, &r);
		CHECK(r.off >= t->h.th_size && r.off + r.len <= t->end);
		CHECK(r.len >= 32 && r.len % 8 == 0);
		CHECK(r.ns >= -KD_NS_MAX && r.ns <= KD_NS_MAX);
		CHECK(i == 0 || t->ents[i - 1].ns <= r.ns);
		CHECK(r.ns == kd_time_ns(t, r.time));
		th = kd_thread_find(t, r.tid);
		CHECK(th != NULL);
		seen[th - t->threads]++;
		CHECK(kd_rec_text(&r, &text) <= r.plen);
	}
	for (k = 0; k < t->nthreads; k++)
		CHECK(seen[k] == t->threads[k].nrec);
	free(seen);
	CHECK(t->nrec == 0 || (t->first_ns == t->ents[0].ns &&
	    t->last_ns == t->ents[t->nrec - 1].ns));
	if (kd_spans(t, &sp) != 0)
		return;
	for (i = 0; i < t->nrec; i++) {
		kd_rec_at(t, i, &r);
		if (sp[i].flags & KD_SPAN_RUN) {
			CHECK(r.type == KC_TR_RUN_BEGIN && sp[i].end >= r.ns);
			CHECK(sp[i].peer == UINT64_MAX ||
			    sp[sp[i].peer].peer == i);
		} else if (sp[i].flags & KD_SPAN_ENDS) {
			CHECK(r.type == KC_TR_RUN_END && sp[i].peer < i);
			CHECK(sp[sp[i].peer].end == r.ns);
		} else {
			CHECK(sp[i].end >= r.ns);
		}
	}
	free(sp);
}

/* A filter from the trace and the input: its first record's tid and
 * type, and a time window. */
static void
make_filter(struct kd_filter *f, const struct kd_trace *t, const uint8_t *d,
    size_t n)
{
	char err[160], list[32];
	struct kd_rec r;

	memset(f, 0, sizeof(*f));
	if (t->nrec == 0)
		return;
	kd_rec_at(t, t->nrec / 2, &r);
	snprintf(list, sizeof(list), "%u,%u", r.tid, r.pid);
	if (n > 0 && (d[n - 1] & 1))
		CHECK(kd_filter_ids(&f->tids, &f->ntids, list, err,
		    sizeof(err)) == 0);
	if (n > 0 && (d[n - 1] & 2))
		CHECK(kd_filter_ids(&f->pids, &f->npids, list, err,
		    sizeof(err)) == 0);
	if (n > 0 && (d[n - 1] & 4)) {
		f->types[r.type / 64] |= (uint64_t)1 << (r.type % 64);
		f->has_types = true;
	}
	if (n > 0 && (d[n - 1] & 8)) {
		f->has_from = true;
		f->from_ns = r.ns;
		f->has_to = true;
		f->to_ns = t->last_ns;
	}
}

static void
fuzz_trace(const uint8_t *data, size_t size, const uint8_t *orig,
    size_t osize)
{
	struct kd_filter f;
	struct kd_trace t;
	int error;

	error = kd_open(&t, data, size);
	CHECK(error == 0 || error == -EBADMSG || error == -EINVAL ||
	    error == -ENOMEM);
	CHECK(error == 0 || (strnlen(t.err, sizeof(t.err)) > 0 &&
	    strnlen(t.err, sizeof(t.err)) < sizeof(t.err) &&
	    strchr(t.err, '\n') == NULL));
	CHECK(error != 0 || t.end == t.len);
	if (error == 0 || error == -EBADMSG) {
		CHECK(error == 0 || t.end < t.len);
		check_trace(&t);
		format(&t, NULL, F_TEXT_R);
		format(&t, NULL, F_SUMMARY);
		format(&t, NULL, F_JSON);
		format(&t, NULL, F_SVG);
		make_filter(&f, &t, orig, osize);
		format(&t, &f, F_TEXT_T);
		format(&t, &f, F_TEXT_E);
		format(&t, &f, F_JSON);
		format(&t, &f, F_SVG);
		kd_filter_free(&f);
	}
	kd_close(&t);
}

/* The option parsers on a string. */
static void
fuzz_options(const char *s)
{
	struct kd_filter f;
	char err[160], back[64];
	int64_t ns, ns2;
	int type;

	memset(&f, 0, sizeof(f));
	err[0] = '\0';
	if (kd_filter_ids(&f.tids, &f.ntids, s, err, sizeof(err)) != 0)
		CHECK(err[0] != '\0' && strchr(err, '\n') == NULL);
	err[0] = '\0';
	if (kd_filter_types(&f, s, err, sizeof(err)) != 0)
		CHECK(err[0] != '\0' && strchr(err, '\n') == NULL);
	kd_filter_free(&f);
	if ((type = kd_type_lookup(s)) >= 0)
		CHECK(type >= 1 && type <= 65535);
	if (kd_parse_sec(s, &ns) == 0) {
		CHECK(ns >= -KD_NS_MAX && ns <= KD_NS_MAX);
		kd_fmt_sec(back, sizeof(back), ns);
		CHECK(kd_parse_sec(back, &ns2) == 0 && ns2 == ns);
	}
}

static void
put_le(uint8_t *p, uint64_t v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kc_trace_file_header *h = NULL;
	uint8_t *buf;
	char opt[65];
	size_t n;

	/* As it is; exactly size bytes of heap, so overreads show. */
	if ((buf = malloc(size > 0 ? size : 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	fuzz_trace(buf, size, data, size);
	free(buf);

	/* Its bytes after the first as the records of a good header. */
	if (size > 0 && (buf = malloc(sizeof(*h) + size - 1)) != NULL) {
		memset(buf, 0, sizeof(*h));
		memcpy(buf, KC_TRACE_MAGIC, 8);
		put_le(buf + offsetof(struct kc_trace_file_header, th_version),
		    KC_TRACE_VERSION, 2);
		put_le(buf + offsetof(struct kc_trace_file_header, th_size),
		    sizeof(*h), 2);
		put_le(buf + offsetof(struct kc_trace_file_header, th_clock),
		    data[0] & 1 ? KC_TRACE_CLOCK_TSC :
		    KC_TRACE_CLOCK_MONOTONIC, 4);
		put_le(buf + offsetof(struct kc_trace_file_header,
		    th_start_realtime), 1700000000000000000ull, 8);
		put_le(buf + offsetof(struct kc_trace_file_header,
		    th_start_mono), (uint64_t)(data[0] >> 4) << 28, 8);
		put_le(buf + offsetof(struct kc_trace_file_header,
		    th_start_time), (uint64_t)(data[0] & 0x0c) << 30, 8);
		put_le(buf + offsetof(struct kc_trace_file_header, th_tsc_hz),
		    data[0] & 2 ? 0 : 2400000000ull, 8);
		memcpy(buf + offsetof(struct kc_trace_file_header, th_prog),
		    "fuzz", 4);
		memcpy(buf + sizeof(*h), data + 1, size - 1);
		fuzz_trace(buf, sizeof(*h) + size - 1, data, size);
		free(buf);
	}

	n = size < sizeof(opt) - 1 ? size : sizeof(opt) - 1;
	memcpy(opt, data, n);
	opt[n] = '\0';
	fuzz_options(opt);
	return 0;
}
