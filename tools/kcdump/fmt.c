/*
 * fmt.c: what kcdump's formatters share: a growable string, escaping for
 * a terminal, JSON and XML, times, flows and the details of a record.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "output.h"

/* ------------------------------------------------------------------ */
/* The string. */

static bool
str_room(struct kd_str *s, size_t n)
{
	size_t ncap;
	char *np;

	if (s->oom)
		return false;
	if (s->cap - s->len > n)
		return true;
	ncap = s->cap != 0 ? s->cap : 256;
	while (ncap - s->len <= n) {
		if (ncap > SIZE_MAX / 2) {
			s->oom = true;
			return false;
		}
		ncap *= 2;
	}
	if ((np = realloc(s->p, ncap)) == NULL) {
		s->oom = true;
		return false;
	}
	s->p = np;
	s->cap = ncap;
	return true;
}

void
kd_str_add(struct kd_str *s, const void *p, size_t n)
{
	if (!str_room(s, n))
		return;
	memcpy(s->p + s->len, p, n);
	s->len += n;
	s->p[s->len] = '\0';
}

void
kd_str_puts(struct kd_str *s, const char *p)
{
	kd_str_add(s, p, strlen(p));
}

void
kd_str_printf(struct kd_str *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!str_room(s, 128))
		return;
	va_start(ap, fmt);
	n = vsnprintf(s->p + s->len, s->cap - s->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= s->cap - s->len) {
		if (!str_room(s, (size_t)n))
			return;
		va_start(ap, fmt);
		vsnprintf(s->p + s->len, s->cap - s->len, fmt, ap);
		va_end(ap);
	}
	s->len += (size_t)n;
}

int
kd_str_flush(struct kd_str *s, FILE *out)
{
	int error = 0;

	if (s->oom)
		error = -ENOMEM;
	else if (s->len > 0 && fwrite(s->p, 1, s->len, out) != s->len)
		error = -EIO;
	s->len = 0;
	return error;
}

void
kd_str_free(struct kd_str *s)
{
	free(s->p);
	memset(s, 0, sizeof(*s));
}

/* ------------------------------------------------------------------ */
/* Escaping. */

/* The length of the valid UTF-8 sequence at p (1 to 4), or 0. */
static size_t
utf8_len(const uint8_t *p, size_t n, uint32_t *cp)
{
	uint32_t c;
	size_t len, i;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		c = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3;
		c = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		c = p[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
	    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

#define REPLACEMENT	"\xef\xbf\xbd"	/* U+FFFD */

static void
esc_text(struct kd_str *s, const uint8_t *p, size_t n, bool word)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] == '\\')
			kd_str_add(s, "\\\\", 2);
		else if (p[i] == '"')
			kd_str_add(s, "\\\"", 2);
		else if (p[i] > 0x20 && p[i] < 0x7f)
			kd_str_add(s, &p[i], 1);
		else if (p[i] == ' ' && !word)
			kd_str_add(s, " ", 1);
		else
			kd_str_printf(s, "\\x%02x", p[i]);
	}
}

static void
esc_json(struct kd_str *s, const uint8_t *p, size_t n)
{
	uint32_t cp;
	size_t i, l;

	for (i = 0; i < n; i += l) {
		l = 1;
		if (p[i] == '"' || p[i] == '\\') {
			kd_str_printf(s, "\\%c", p[i]);
		} else if (p[i] < 0x20) {
			kd_str_printf(s, "\\u%04x", p[i]);
		} else if (p[i] < 0x80) {
			kd_str_add(s, &p[i], 1);
		} else if ((l = utf8_len(p + i, n - i, &cp)) != 0) {
			kd_str_add(s, p + i, l);
		} else {
			kd_str_puts(s, "\\ufffd");
			l = 1;
		}
	}
}

static void
esc_xml(struct kd_str *s, const uint8_t *p, size_t n)
{
	uint32_t cp;
	size_t i, l;

	for (i = 0; i < n; i += l) {
		l = 1;
		switch (p[i]) {
		case '&':
			kd_str_puts(s, "&amp;");
			continue;
		case '<':
			kd_str_puts(s, "&lt;");
			continue;
		case '>':
			kd_str_puts(s, "&gt;");
			continue;
		case '"':
			kd_str_puts(s, "&quot;");
			continue;
		case '\'':
			kd_str_puts(s, "&#39;");
			continue;
		case '\t':
		case '\n':
		case '\r':
			kd_str_printf(s, "&#%u;", p[i]);
			continue;
		}
		if (p[i] < 0x20) {
			/* Not even a character reference may name these. */
			kd_str_puts(s, REPLACEMENT);
		} else if (p[i] < 0x80) {
			kd_str_add(s, &p[i], 1);
		} else if ((l = utf8_len(p + i, n - i, &cp)) != 0 &&
		    cp != 0xfffe && cp != 0xffff) {
			kd_str_add(s, p + i, l);
		} else {
			kd_str_puts(s, REPLACEMENT);
			l = l != 0 ? l : 1;
		}
	}
}

void
kd_str_esc(struct kd_str *s, const void *p, size_t n, enum kd_esc how)
{
	switch (how) {
	case KD_ESC_TEXT:
	case KD_ESC_WORD:
		esc_text(s, p, n, how == KD_ESC_WORD);
		break;
	case KD_ESC_JSON:
		esc_json(s, p, n);
		break;
	case KD_ESC_XML:
		esc_xml(s, p, n);
		break;
	}
}

/* ------------------------------------------------------------------ */
/* Times, types, flows, values. */

void
kd_fmt_sec(char *buf, size_t size, int64_t ns)
{
	/* |ns| <= KD_NS_MAX: negating is safe. */
	uint64_t a = ns < 0 ? (uint64_t)-ns : (uint64_t)ns;

	snprintf(buf, size, "%s%" PRIu64 ".%09" PRIu64, ns < 0 ? "-" : "",
	    a / 1000000000u, a % 1000000000u);
}

void
kd_fmt_abs(char *buf, size_t size, const struct kd_trace *t, int64_t ns)
{
	__int128 wall = (__int128)t->h.th_start_realtime + ns;
	int64_t sec = (int64_t)(wall / 1000000000), frac;
	char date[40];
	struct tm tm;
	time_t tt;

	frac = (int64_t)(wall - (__int128)sec * 1000000000);
	if (frac < 0) {
		sec--;
		frac += 1000000000;
	}
	tt = (time_t)sec;
	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		snprintf(buf, size, "@%" PRId64 ".%09" PRId64, sec, frac);
		return;
	}
	snprintf(buf, size, "%s.%09" PRId64 "Z", date, frac);
}

void
kd_type_label(char *buf, size_t size, unsigned type)
{
	const struct kd_typeinfo *ti = kd_type_info(type);

	if (ti != NULL)
		snprintf(buf, size, "%s", ti->name);
	else
		snprintf(buf, size, "UNKNOWN_%u", type);
}

void
kd_fmt_flow(char *buf, size_t size, uint64_t flow)
{
	uint32_t low = (uint32_t)flow;

	if (flow == 0)
		snprintf(buf, size, "-");
	else if (low == 0)
		snprintf(buf, size, "0x%" PRIx64, flow);
	else
		snprintf(buf, size, "%" PRIu32 ":%" PRIu32,
		    (uint32_t)(flow >> 32), low - 1);
}

static const char *const filters[] = {
	NULL, "EVFILT_READ", "EVFILT_WRITE", "EVFILT_AIO", "EVFILT_VNODE",
	"EVFILT_PROC", "EVFILT_SIGNAL", "EVFILT_TIMER", "EVFILT_PROCDESC",
	"EVFILT_FS", "EVFILT_LIO", "EVFILT_USER", "EVFILT_SENDFILE",
	"EVFILT_EMPTY",
};

static void
str_err(struct kd_str *s, uint64_t v)
{
	int64_t e = (int64_t)v;
	const char *name = NULL;

	/* Errors are negative errno values; anything else is a number. */
	if (e < 0 && e > -4096)
		name = strerrorname_np((int)-e);
	if (name != NULL)
		kd_str_printf(s, "-%s", name);
	else
		kd_str_printf(s, "%" PRId64, e);
}

void
kd_str_value(struct kd_str *s, enum kd_kind kind, uint64_t v)
{
	char buf[32];
	int16_t filt;

	switch (kind) {
	case KD_PTR:
	case KD_HEX:
		kd_str_printf(s, "0x%" PRIx64, v);
		break;
	case KD_I:
		kd_str_printf(s, "%" PRId64, (int64_t)v);
		break;
	case KD_ERR:
		str_err(s, v);
		break;
	case KD_FLOW:
		kd_fmt_flow(buf, sizeof(buf), v);
		kd_str_puts(s, buf);
		break;
	case KD_DIR:
		if (v <= 1)
			kd_str_puts(s, v == 0 ? "a->b" : "b->a");
		else
			kd_str_printf(s, "%" PRIu64, v);
		break;
	case KD_NS:
		kd_str_printf(s, "%" PRIu64 "ns", v);
		break;
	case KD_FILTER:
		filt = (int16_t)(uint16_t)v;
		if (filt < 0 && -filt < (int)(sizeof(filters) /
		    sizeof(filters[0])))
			kd_str_puts(s, filters[-filt]);
		else
			kd_str_printf(s, "%d", filt);
		break;
	case KD_U:
	case KD_TEXT:
	default:
		kd_str_printf(s, "%" PRIu64, v);
		break;
	}
}

void
kd_str_details(struct kd_str *s, const struct kd_rec *r)
{
	const struct kd_typeinfo *ti = kd_type_info(r->type);
	const uint8_t *text;
	size_t n;
	unsigned i;

	if (ti == NULL) {
		kd_str_printf(s, "len=%u", r->len);
		return;
	}
	for (i = 0; i < ti->nfields; i++) {
		kd_str_printf(s, "%s%s=", i > 0 ? " " : "", ti->f[i].name);
		if (ti->f[i].kind == KD_TEXT) {
			n = kd_rec_text(r, &text);
			kd_str_add(s, "\"", 1);
			kd_str_esc(s, text, n, KD_ESC_TEXT);
			kd_str_add(s, "\"", 1);
		} else {
			kd_str_value(s, ti->f[i].kind, kd_rec_u64(r, i));
		}
	}
	if (kd_rec_short(r))
		kd_str_puts(s, " (short record)");
}
