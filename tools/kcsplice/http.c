/*
 * http.c: the request parser of kcsplice's metrics endpoint (http.h).
 *
 * Line by line over what has arrived: every complete line is checked when
 * it is seen, so that a malformed request is answered as soon as its bad
 * line is in, and a control byte anywhere (but tab, CR and LF) at once,
 * without waiting for the rest.  Nothing is copied: the request points into
 * the caller's bytes.
 */
#include <stdint.h>
#include <string.h>

#include "http.h"

/* Accept's q values, in thousandths; -1: no media range of that kind. */
struct accept {
	int	om;
	int	text;
};

/* What the header fields said. */
struct fields {
	unsigned	nfields;
	unsigned	nhost;
	bool		has_length;
	uint64_t	length;
	bool		chunked;	/* any Transfer-Encoding */
	struct accept	acc;
};

static bool
is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool
is_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static unsigned char
lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* Case-insensitive: the n bytes at p are the NUL-terminated s. */
static bool
same(const char *p, size_t n, const char *s)
{
	size_t i;

	if (strlen(s) != n)
		return false;
	for (i = 0; i < n; i++)
		if (lower((unsigned char)p[i]) != lower((unsigned char)s[i]))
			return false;
	return true;
}

/*
 * The line starting at pos: *eol is where its content ends (before CR LF
 * or LF), *next where the next line starts.  0, LINE_MORE (no end of line
 * yet) or 400 (a control byte, or a CR not followed by LF).
 */
#define LINE_MORE	(-1)

static int
line_end(const unsigned char *b, size_t len, size_t pos, size_t *eol,
    size_t *next)
{
	size_t i;

	for (i = pos; i < len; i++) {
		unsigned char c = b[i];

		if (c == '\n') {
			*eol = i;
			*next = i + 1;
			return 0;
		}
		if (c == '\r') {
			if (i + 1 == len)
				return LINE_MORE;
			if (b[i + 1] != '\n')
				return 400;
			*eol = i;
			*next = i + 2;
			return 0;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return 400;
	}
	return LINE_MORE;
}

/* A run of tchars from *p (before end); false if none. */
static bool
token(const unsigned char *b, size_t *p, size_t end)
{
	size_t s = *p;

	while (*p < end && is_tchar(b[*p]))
		(*p)++;
	return *p > s;
}

static int
request_line(const unsigned char *b, size_t pos, size_t eol,
    struct ks_http_req *r)
{
	size_t p = pos, ms, me, ts, te, q;
	const unsigned char *v;

	ms = p;
	if (!token(b, &p, eol) || p >= eol || b[p] != ' ')
		return 400;
	me = p++;
	ts = p;
	while (p < eol && b[p] > 0x20 && b[p] < 0x7f)
		p++;
	te = p;
	if (te == ts || p >= eol || b[p] != ' ')
		return 400;
	p++;
	if (eol - p != 8)
		return 400;
	v = b + p;
	if (memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' ||
	    v[6] != '.' || v[7] < '0' || v[7] > '9')
		return 400;
	if (v[5] != '1' || v[7] > '1')
		return 505;
	r->minor = (unsigned)(v[7] - '0');

	if (me - ms == 3 && memcmp(b + ms, "GET", 3) == 0)
		r->method = KS_HTTP_GET;
	else if (me - ms == 4 && memcmp(b + ms, "HEAD", 4) == 0)
		r->method = KS_HTTP_HEAD;
	else
		r->method = KS_HTTP_OTHER;

	if (b[ts] == '/') {
		q = ts;			/* origin form */
	} else if (te - ts >= 7 && (same((const char *)b + ts, 7, "http://") ||
	    (te - ts >= 8 && same((const char *)b + ts, 8, "https://")))) {
		/* Absolute form: the path follows the authority. */
		q = ts + (lower(b[ts + 4]) == 's' ? 8 : 7);
		while (q < te && b[q] != '/' && b[q] != '?')
			q++;
	} else if (r->method == KS_HTTP_OTHER) {
		/* "*", authority form: answered 405 whatever they say. */
		r->path_off = ts;
		r->path_len = te - ts;
		return 0;
	} else {
		return 400;
	}
	r->path_off = q;
	while (q < te && b[q] != '?') {
		if (b[q] == '#')
			return 400;	/* a fragment is never sent */
		q++;
	}
	r->path_len = q - r->path_off;
	return 0;
}

/* qvalue = "0" [ "." 0*3DIGIT ] / "1" [ "." 0*3("0") ], in thousandths. */
static bool
qvalue(const unsigned char *b, size_t s, size_t e, int *q)
{
	int v, scale = 100;
	size_t i;

	if (s >= e || (b[s] != '0' && b[s] != '1'))
		return false;
	v = (b[s] - '0') * 1000;
	if (s + 1 == e)
		goto ok;
	if (b[s + 1] != '.' || e - s > 5)
		return false;
	for (i = s + 2; i < e; i++) {
		if (b[i] < '0' || b[i] > '9')
			return false;
		v += (b[i] - '0') * scale;
		scale /= 10;
	}
	if (v > 1000)
		return false;
ok:
	*q = v;
	return true;
}

/* Past the next comma that is not inside a quoted string. */
static size_t
skip_range(const unsigned char *b, size_t p, size_t end)
{
	bool quoted = false;

	for (; p < end; p++) {
		if (quoted && b[p] == '\\' && p + 1 < end)
			p++;
		else if (b[p] == '"')
			quoted = !quoted;
		else if (!quoted && b[p] == ',')
			return p + 1;
	}
	return end;
}

/* A parameter value: a token or a quoted string; its span in *vs, *ve. */
static bool
param_value(const unsigned char *b, size_t *p, size_t end, size_t *vs,
    size_t *ve)
{
	if (*p < end && b[*p] == '"') {
		for ((*p)++, *vs = *p; *p < end && b[*p] != '"'; (*p)++)
			if (b[*p] == '\\' && *p + 1 < end)
				(*p)++;
		if (*p >= end)
			return false;
		*ve = (*p)++;
		return true;
	}
	*vs = *p;
	if (!token(b, p, end))
		return false;
	*ve = *p;
	return true;
}

/*
 * One Accept field's value (s..e): the best q for OpenMetrics 1.0.0 and for
 * the text format.  A malformed media range is skipped.
 */
static void
accept_value(const unsigned char *b, size_t s, size_t e, struct accept *a)
{
	size_t p = s, ts, te, ss, se, ns, ne, vs, ve, vers = 0, vere = 0;
	const char *t, *st;
	bool has_version;
	int q, *best;

	while (p < e) {
		while (p < e && (is_ows(b[p]) || b[p] == ','))
			p++;
		if (p >= e)
			break;
		ts = p;
		if (!token(b, &p, e) || p >= e || b[p] != '/')
			goto bad;
		te = p++;
		ss = p;
		if (!token(b, &p, e))
			goto bad;
		se = p;
		q = 1000;
		has_version = false;
		for (;;) {
			while (p < e && is_ows(b[p]))
				p++;
			if (p >= e || b[p] != ';')
				break;
			p++;
			while (p < e && is_ows(b[p]))
				p++;
			ns = p;
			if (!token(b, &p, e))
				goto bad;
			ne = p;
			if (p >= e || b[p] != '=')
				goto bad;
			p++;
			if (!param_value(b, &p, e, &vs, &ve))
				goto bad;
			if (same((const char *)b + ns, ne - ns, "q")) {
				if (!qvalue(b, vs, ve, &q))
					goto bad;
			} else if (same((const char *)b + ns, ne - ns,
			    "version")) {
				has_version = true;
				vers = vs;
				vere = ve;
			}
		}
		if (p < e && b[p] != ',')
			goto bad;
		t = (const char *)b + ts;
		st = (const char *)b + ss;
		best = NULL;
		if (same(t, te - ts, "application") &&
		    same(st, se - ss, "openmetrics-text") && (!has_version ||
		    same((const char *)b + vers, vere - vers, "1.0.0")))
			best = &a->om;
		else if ((same(t, te - ts, "text") && same(st, se - ss,
		    "plain") && (!has_version || same((const char *)b + vers,
		    vere - vers, "0.0.4"))) || (same(t, te - ts, "text") &&
		    same(st, se - ss, "*")) || (same(t, te - ts, "*") &&
		    same(st, se - ss, "*")))
			best = &a->text;
		if (best != NULL && q > *best)
			*best = q;
		continue;
bad:
		p = skip_range(b, p, e);
	}
}

/* Content-Length: 1*DIGIT; past 10^15 it only matters that it is not 0. */
static int
content_length(const unsigned char *b, size_t s, size_t e, struct fields *f)
{
	uint64_t v = 0;
	size_t i;

	if (s == e)
		return 400;
	for (i = s; i < e; i++) {
		if (b[i] < '0' || b[i] > '9')
			return 400;
		if (v < 1000000000000000ull)
			v = v * 10 + (uint64_t)(b[i] - '0');
	}
	if (f->has_length && f->length != v)
		return 400;
	f->has_length = true;
	f->length = v;
	return 0;
}

static int
field(const unsigned char *b, size_t pos, size_t eol, struct fields *f)
{
	size_t p = pos, ne, vs, ve;

	if (++f->nfields > KS_HTTP_FIELDS)
		return 431;
	/* A leading space is obs-fold or garbage: refused either way. */
	if (!token(b, &p, eol) || p >= eol || b[p] != ':')
		return 400;
	ne = p++;
	while (p < eol && is_ows(b[p]))
		p++;
	vs = p;
	ve = eol;
	while (ve > vs && is_ows(b[ve - 1]))
		ve--;
	if (same((const char *)b + pos, ne - pos, "host"))
		f->nhost++;
	else if (same((const char *)b + pos, ne - pos, "content-length"))
		return content_length(b, vs, ve, f);
	else if (same((const char *)b + pos, ne - pos, "transfer-encoding"))
		f->chunked = true;
	else if (same((const char *)b + pos, ne - pos, "accept"))
		accept_value(b, vs, ve, &f->acc);
	return 0;
}

int
ks_http_parse(const char *buf, size_t len, struct ks_http_req *req)
{
	const unsigned char *b = (const unsigned char *)buf;
	struct ks_http_req r;
	struct fields f;
	size_t pos = 0, eol, next;
	bool have_line = false;
	int e;

	if (req == NULL)
		return 400;
	memset(req, 0, sizeof(*req));
	if (buf == NULL)
		return len == 0 ? KS_HTTP_MORE : 400;
	if (len > KS_HTTP_MAX)
		len = KS_HTTP_MAX;
	memset(&r, 0, sizeof(r));
	memset(&f, 0, sizeof(f));
	f.acc.om = f.acc.text = -1;
	for (;;) {
		if ((e = line_end(b, len, pos, &eol, &next)) == LINE_MORE)
			return len == KS_HTTP_MAX ? 431 : KS_HTTP_MORE;
		if (e != 0)
			return e;
		if (!have_line) {
			/* Empty lines before the request line are skipped. */
			if (eol > pos) {
				if ((e = request_line(b, pos, eol, &r)) != 0)
					return e;
				have_line = true;
			}
		} else if (eol == pos) {
			break;
		} else if ((e = field(b, pos, eol, &f)) != 0) {
			return e;
		}
		pos = next;
	}
	if (f.nhost > 1 || (r.minor == 1 && f.nhost == 0))
		return 400;
	if (f.chunked)
		return f.has_length ? 400 : 501;
	if (f.has_length && f.length != 0)
		return 413;
	r.openmetrics = f.acc.om > 0 && f.acc.om >= f.acc.text;
	r.len = next;
	*req = r;
	return KS_HTTP_DONE;
}

const char *
ks_http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}
