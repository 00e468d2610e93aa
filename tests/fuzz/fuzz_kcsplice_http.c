/*
 * fuzz_kcsplice_http: the request parser of kcsplice's metrics endpoint
 * (tools/kcsplice/http.h) and the answer made of what it parsed.
 *
 * The input is the bytes a client sent.  ks_http_parse() must give one of
 * its answers (more, done, 400, 413, 431, 501, 505), the same twice over,
 * with *req zeroed unless done; more only below KS_HTTP_MAX bytes.  A
 * request it takes lies inside the input and the bound (its path too), and
 * every shorter prefix of it is "more" (the first empty line ends it, and
 * nothing before it was wrong), while the request alone parses to the same.
 * Then ks_metrics_answer() must give a well-formed response: a status line
 * with the status it returned, a header ending in an empty line, a
 * Content-Length equal to the body's length (no body for HEAD), and a
 * snapshot taken only for a GET or HEAD of /metrics.  Anything else, or a
 * crash, aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "metrics.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_kcsplice_http:%d: check failed: %s\n", \
		    __LINE__, #cond);					\
		abort();						\
	}								\
} while (0)

static unsigned snaps;

static void
snap(struct ks_snapshot *s)
{
	memset(s, 0, sizeof(*s));
	s->conns = 7;
	s->nthreads = 1;
	s->version = "fuzz";
	snaps++;
}

static bool
all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n-- > 0)
		if (*b++ != 0)
			return false;
	return true;
}

static void
check_answer(const char *in, const struct ks_http_req *req, int r)
{
	char *out, *end, status[32];
	size_t outlen, hl;
	unsigned long cl;
	const char *p;
	bool scrape;
	int st;

	snaps = 0;
	st = ks_metrics_answer(in, req, r, snap, &out, &outlen);
	if (st < 0)
		return;			/* out of memory */
	scrape = r == KS_HTTP_DONE && req->method != KS_HTTP_OTHER &&
	    req->path_len == 8 && memcmp(in + req->path_off, "/metrics", 8) == 0;
	CHECK(snaps == (scrape ? 1u : 0u));
	CHECK(st == (scrape ? 200 : r == KS_HTTP_DONE ?
	    (req->method == KS_HTTP_OTHER ? 405 : 404) : r));
	snprintf(status, sizeof(status), "HTTP/1.1 %d ", st);
	CHECK(strncmp(out, status, strlen(status)) == 0);
	CHECK(strlen(out) == outlen);
	end = strstr(out, "\r\n\r\n");
	CHECK(end != NULL);
	hl = (size_t)(end - out) + 4;
	p = strstr(out, "\r\nContent-Length: ");
	CHECK(p != NULL && p < end);
	CHECK(sscanf(p, "\r\nContent-Length: %lu", &cl) == 1);
	if (r == KS_HTTP_DONE && req->method == KS_HTTP_HEAD)
		CHECK(outlen == hl);
	else
		CHECK(outlen - hl == cl);
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ks_http_req r, r2;
	char *in;
	int a, b;

	/* An exact copy, so that a read past it is caught. */
	if ((in = malloc(size > 0 ? size : 1)) == NULL)
		return 0;
	memcpy(in, data, size);
	memset(&r, 0xa5, sizeof(r));
	a = ks_http_parse(in, size, &r);
	CHECK(a == KS_HTTP_MORE || a == KS_HTTP_DONE || a == 400 || a == 413 ||
	    a == 431 || a == 501 || a == 505);
	memset(&r2, 0x5a, sizeof(r2));
	b = ks_http_parse(in, size, &r2);
	CHECK(a == b);
	CHECK(memcmp(&r, &r2, sizeof(r)) == 0);
	if (a != KS_HTTP_DONE)
		CHECK(all_zero(&r, sizeof(r)));
	if (a == KS_HTTP_MORE)
		CHECK(size < KS_HTTP_MAX);
	if (a == KS_HTTP_DONE) {
		CHECK(r.len > 0 && r.len <= size && r.len <= KS_HTTP_MAX);
		CHECK(r.path_off + r.path_len <= r.len);
		CHECK(r.minor <= 1);
		CHECK(r.method == KS_HTTP_GET || r.method == KS_HTTP_HEAD ||
		    r.method == KS_HTTP_OTHER);
		/* The request alone: the same; shorter: more. */
		CHECK(ks_http_parse(in, r.len, &r2) == KS_HTTP_DONE);
		CHECK(memcmp(&r, &r2, sizeof(r)) == 0);
		CHECK(ks_http_parse(in, r.len - 1, &r2) == KS_HTTP_MORE);
		CHECK(ks_http_parse(in, r.len / 2, &r2) == KS_HTTP_MORE);
		check_answer(in, &r, a);
	} else if (a != KS_HTTP_MORE) {
		check_answer(in, NULL, a);
	}
	free(in);
	return 0;
}
