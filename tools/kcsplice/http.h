/*
 * http.h: the request parser of kcsplice's metrics endpoint (metrics.h).
 *
 * A pure function: the bytes received so far in, a parsed request or the
 * status to answer out.  It reads the request line and the header section
 * only (never a body), keeps no state between calls and allocates nothing,
 * so that the server may call it again on every read and the fuzz target
 * (tests/fuzz/fuzz_kcsplice_http.c) on any input.
 *
 * What it takes (RFC 9112, strictly where it matters for safety):
 *   - empty lines (CRLF or LF) before the request line are skipped;
 *   - request-line = method SP request-target SP HTTP-version, one space
 *     each; method a token; the target in origin form ("/metrics?x") or
 *     absolute form ("http://host/metrics"), visible ASCII only; version
 *     HTTP/1.0 or HTTP/1.1 (another HTTP/d.d: 505);
 *   - header fields "name: value", name a token directly followed by the
 *     colon, value without control characters but tab; a line folded onto
 *     the previous one (obs-fold) is refused;
 *   - lines end with CRLF or a bare LF; a CR alone is refused;
 *   - HTTP/1.1 needs exactly one Host field, HTTP/1.0 at most one;
 *   - a body is refused: Content-Length other than 0 gives 413, any
 *     Transfer-Encoding 501; a malformed or repeated differing
 *     Content-Length 400;
 *   - Accept is read for content negotiation only: OpenMetrics when a media
 *     range application/openmetrics-text has a q above 0 and at least that
 *     of text/plain, text/ * and * / * (a malformed range is skipped, never
 *     an error).
 * Every other field is skipped.  The whole header section must fit in
 * KS_HTTP_MAX bytes with at most KS_HTTP_FIELDS fields, else 431.
 */
#ifndef KCSPLICE_HTTP_H
#define KCSPLICE_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#define KS_HTTP_MAX	8192	/* bytes: request line and header section */
#define KS_HTTP_FIELDS	64	/* header fields */

/* ks_http_parse()'s answer when the request is not complete yet. */
#define KS_HTTP_MORE	0
/* ... and when it is: the bytes it took are in req->len. */
#define KS_HTTP_DONE	1

enum ks_http_method { KS_HTTP_GET = 1, KS_HTTP_HEAD, KS_HTTP_OTHER };

struct ks_http_req {
	enum ks_http_method	method;
	size_t			path_off;	/* the path in the input, without
						   query or fragment */
	size_t			path_len;
	unsigned		minor;		/* HTTP/1.minor: 0 or 1 */
	bool			openmetrics;	/* Accept prefers it */
	size_t			len;		/* bytes up to the empty line */
};

/*
 * Parse the len bytes at buf (not NUL-terminated; any bytes).  Returns
 * KS_HTTP_DONE with *req filled, KS_HTTP_MORE when what is there is a valid
 * beginning and more is needed (never once len reaches KS_HTTP_MAX), or the
 * HTTP status to answer: 400, 413, 431, 501 or 505.  *req is zeroed unless
 * the answer is KS_HTTP_DONE.
 */
int	ks_http_parse(const char *buf, size_t len, struct ks_http_req *req);

/* The reason phrase of a status it or the server uses ("Not Found"). */
const char *ks_http_reason(int status);

#endif
