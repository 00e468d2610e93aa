/*
 * metrics.c: a snapshot of kcsplice's counts in the Prometheus text format
 * and in OpenMetrics, and the HTTP answer that carries it (metrics.h).
 *
 * The two formats differ only in a few places: an OpenMetrics counter's
 * family is named without its "_total" (the sample keeps it), the build
 * information is of type info, and the exposition ends with "# EOF".
 * Every family has its HELP and TYPE; label values are escaped.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "metrics.h"

enum ks_err
ks_err_of(int err)
{
	switch (-err) {
	case ECONNREFUSED:
		return KS_ERR_REFUSED;
	case ETIMEDOUT:
		return KS_ERR_TIMEOUT;
	case ECONNRESET:
	case EPIPE:
		return KS_ERR_RESET;
	case EHOSTUNREACH:
	case ENETUNREACH:
	case ENOENT:
		return KS_ERR_UNREACHABLE;
	case ENOMEM:
	case ENOBUFS:
		return KS_ERR_NOMEM;
	default:
		return KS_ERR_OTHER;
	}
}

const char *
ks_err_name(enum ks_err k)
{
	static const char *const names[KS_ERR_N] = {
		[KS_ERR_REFUSED] = "refused",
		[KS_ERR_TIMEOUT] = "timeout",
		[KS_ERR_RESET] = "reset",
		[KS_ERR_UNREACHABLE] = "unreachable",
		[KS_ERR_NOMEM] = "out_of_memory",
		[KS_ERR_OTHER] = "other",
	};

	return (unsigned)k < KS_ERR_N ? names[k] : "other";
}

struct out {
	char	*buf;
	size_t	 size, len;
	bool	 om;
	bool	 full;
};

static void __attribute__((format(printf, 2, 3)))
put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->size - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->size - o->len) {
		o->full = true;
		o->buf[o->len] = '\0';	/* cut at the last whole line */
		return;
	}
	o->len += (size_t)n;
}

/*
 * HELP and TYPE of a family.  name is the sample's name; an OpenMetrics
 * counter's family is that less "_total", an info's less "_info".
 */
static void
family(struct out *o, const char *name, const char *type, const char *help)
{
	size_t n = strlen(name);

	if (o->om && strcmp(type, "counter") == 0)
		n -= strlen("_total");
	if (o->om && strcmp(type, "info") == 0)
		n -= strlen("_info");
	if (!o->om && strcmp(type, "info") == 0)
		type = "gauge";
	put(o, "# HELP %.*s %s\n# TYPE %.*s %s\n", (int)n, name, help, (int)n,
	    name, type);
}

static void
sample(struct out *o, const char *name, const char *labels, uint64_t v)
{
	if (labels != NULL && labels[0] != '\0')
		put(o, "%s{%s} %llu\n", name, labels, (unsigned long long)v);
	else
		put(o, "%s %llu\n", name, (unsigned long long)v);
}

/* A label value, escaped as both formats want: \\, \" and \n. */
static void
label_value(char *dst, size_t size, const char *s)
{
	size_t o = 0;

	for (; *s != '\0' && o + 3 < size; s++) {
		if (*s == '\\' || *s == '"') {
			dst[o++] = '\\';
			dst[o++] = *s;
		} else if (*s == '\n') {
			dst[o++] = '\\';
			dst[o++] = 'n';
		} else {
			dst[o++] = *s;
		}
	}
	dst[o] = '\0';
}

static void
counter(struct out *o, const char *name, const char *help, uint64_t v)
{
	family(o, name, "counter", help);
	sample(o, name, NULL, v);
}

static void
gauge(struct out *o, const char *name, const char *help, uint64_t v)
{
	family(o, name, "gauge", help);
	sample(o, name, NULL, v);
}

static void
connections(struct out *o, const struct ks_snapshot *s)
{
	char l[64];
	unsigned i;

	counter(o, "kcsplice_connections_total",
	    "TCP and UNIX connections let in.", s->conns);
	gauge(o, "kcsplice_connections_active",
	    "TCP and UNIX connections open now.", s->active);
	counter(o, "kcsplice_connections_refused_total",
	    "TCP and UNIX clients turned away by --max-conns.", s->refused);
	counter(o, "kcsplice_connections_denied_total",
	    "TCP clients turned away by --allow.", s->denied);
	if (s->ends_known) {
		family(o, "kcsplice_connections_ended_total", "counter",
		    "TCP and UNIX connections ended, by end reason.");
		for (i = 0; i < KS_END_N; i++) {
			snprintf(l, sizeof(l), "reason=\"%s\"",
			    ks_end_name((enum ks_end)i));
			sample(o, "kcsplice_connections_ended_total", l,
			    s->ends[i]);
		}
	}
	family(o, "kcsplice_errors_total", "counter",
	    "Connections and UDP sessions that ended with an error, by kind.");
	for (i = 0; i < KS_ERR_N; i++) {
		snprintf(l, sizeof(l), "kind=\"%s\"",
		    ks_err_name((enum ks_err)i));
		sample(o, "kcsplice_errors_total", l, s->err_kind[i]);
	}
	counter(o, "kcsplice_accept_errors_total",
	    "Times accepting a connection failed (out of descriptors, ...).",
	    s->accept_errors);
}

static void
bytes(struct out *o, const struct ks_snapshot *s)
{
	static const char *const dir[2] = {
		[KC_SPLICE_FWD] = "client_to_upstream",
		[KC_SPLICE_REV] = "upstream_to_client",
	};
	char l[96];
	unsigned d;

	family(o, "kcsplice_bytes_total", "counter",
	    "Bytes delivered, by direction and by how: spliced by splice(2) "
	    "or copied through user space.");
	for (d = 0; d < 2; d++) {
		snprintf(l, sizeof(l), "direction=\"%s\",mode=\"spliced\"",
		    dir[d]);
		sample(o, "kcsplice_bytes_total", l, s->bytes.spliced[d]);
		snprintf(l, sizeof(l), "direction=\"%s\",mode=\"copied\"",
		    dir[d]);
		sample(o, "kcsplice_bytes_total", l, s->bytes.copied[d]);
	}
	family(o, "kcsplice_datagrams_total", "counter",
	    "UDP datagrams delivered, by direction.");
	for (d = 0; d < 2; d++) {
		snprintf(l, sizeof(l), "direction=\"%s\"", dir[d]);
		sample(o, "kcsplice_datagrams_total", l,
		    s->bytes.datagrams[d]);
	}
	counter(o, "kcsplice_datagrams_dropped_total",
	    "UDP datagrams that could not be delivered.",
	    s->bytes.dgram_dropped);
}

static void
mirrors(struct out *o, const struct ks_snapshot *s)
{
	char l[340], v[260];
	unsigned i;

	counter(o, "kcsplice_mirror_bytes_total",
	    "Bytes written to mirrors, all mirrors together.",
	    s->bytes.mirrored);
	if (s->mirror_each_known && s->nmirrors > 0) {
		family(o, "kcsplice_per_mirror_bytes_total", "counter",
		    "Bytes written to each mirror of the configuration.");
		for (i = 0; i < s->nmirrors && i < KS_MAX_MIRRORS; i++) {
			label_value(v, sizeof(v), s->mirror_text[i] != NULL ?
			    s->mirror_text[i] : "");
			snprintf(l, sizeof(l), "mirror=\"%s\"", v);
			sample(o, "kcsplice_per_mirror_bytes_total", l,
			    s->mirror_each[i]);
		}
	}
	if (s->nmirror_ended > 0) {
		static const char *const fam[5][2] = {
			{ "kcsplice_mirror_ended_written_bytes_total",
			  "Bytes written to each mirror address by connections "
			  "that have ended." },
			{ "kcsplice_mirror_ended_dropped_bytes_total",
			  "Bytes each mirror address did not get (drop policy), "
			  "connections that have ended." },
			{ "kcsplice_mirror_ended_detached_total",
			  "Times each mirror address was detached from a "
			  "connection that has ended." },
			{ "kcsplice_mirror_sampled_total",
			  "Connections and UDP sessions each mirror address "
			  "took (in its sample)." },
			{ "kcsplice_mirror_unsampled_total",
			  "Connections and UDP sessions each mirror address "
			  "did not take (not in its sample)." },
		};
		const uint64_t *val;
		unsigned f;

		for (f = 0; f < 5; f++) {
			family(o, fam[f][0], "counter", fam[f][1]);
			for (i = 0; i < s->nmirror_ended &&
			    i < KS_MIRROR_TABLE; i++) {
				const struct ks_mirror_ended *m =
				    &s->mirror_ended[i];

				label_value(v, sizeof(v), m->addr != NULL ?
				    m->addr : "");
				snprintf(l, sizeof(l), "mirror=\"%s\"", v);
				val = f == 0 ? &m->written : f == 1 ?
				    &m->dropped : f == 2 ? &m->detached :
				    f == 3 ? &m->sampled : &m->unsampled;
				sample(o, fam[f][0], l, *val);
			}
		}
	}
	if (s->compare) {
		static const char *const res[3] = {
			"matched", "diverged", "not_compared"
		};
		unsigned r;

		family(o, "kcsplice_compare_total", "counter",
		    "Connections that ended, by mirror address and how its "
		    "replies compared with the upstream's (--compare).");
		for (i = 0; i < s->nmirror_ended && i < KS_MIRROR_TABLE; i++) {
			label_value(v, sizeof(v), s->mirror_ended[i].addr !=
			    NULL ? s->mirror_ended[i].addr : "");
			for (r = 0; r < 3; r++) {
				snprintf(l, sizeof(l), "mirror=\"%s\","
				    "result=\"%s\"", v, res[r]);
				sample(o, "kcsplice_compare_total", l,
				    s->mirror_ended[i].compare[r]);
			}
		}
		gauge(o, "kcsplice_compare_held_bytes",
		    "Bytes held for --compare now, all connections.",
		    s->compare_held);
	}
	counter(o, "kcsplice_mirror_dropped_bytes_total",
	    "Bytes not sent to a mirror (--mirror-policy drop, UDP).",
	    s->bytes.mirror_dropped);
	counter(o, "kcsplice_mirror_detached_total",
	    "Mirror connections detached.", s->bytes.mirror_detached);
	counter(o, "kcsplice_mirror_skipped_total",
	    "Mirror connections not tried: the mirror was down (back-off).",
	    s->mirror_skipped);
	gauge(o, "kcsplice_mirror_held_bytes",
	    "Bytes held for mirrors now (their lag), all together.",
	    s->mirror_mem.held);
	gauge(o, "kcsplice_mirror_held_peak_bytes",
	    "The most bytes held for mirrors at once since start.",
	    s->mirror_mem.peak);
	gauge(o, "kcsplice_mirror_cap_bytes",
	    "The cap on bytes held for mirrors (--mirror-cap).",
	    s->mirror_mem.cap);
}

static void
record(struct out *o, const struct ks_snapshot *s)
{
	if (!s->rec_on)
		return;
	family(o, "kcsplice_record_connections_total", "counter",
	    "Connections whose recording ended: complete (every byte and its "
	    "end written) or incomplete.");
	sample(o, "kcsplice_record_connections_total", "result=\"complete\"",
	    s->rec_complete);
	sample(o, "kcsplice_record_connections_total",
	    "result=\"incomplete\"", s->rec_incomplete);
	counter(o, "kcsplice_record_bytes_total",
	    "Bytes written to recording files.", s->rec_bytes);
	counter(o, "kcsplice_record_files_total",
	    "Recording files created.", s->rec_files);
	gauge(o, "kcsplice_record_held_bytes",
	    "Bytes recorded and not yet written, all threads together.",
	    s->rec_held);
	counter(o, "kcsplice_record_stream_failures_total",
	    "Threads whose recording stopped on an error (a write or a file "
	    "that failed).", s->rec_failures);
}

static void
udp(struct out *o, const struct ks_snapshot *s)
{
	gauge(o, "kcsplice_udp_sessions_active", "UDP sessions open now.",
	    s->udp_active);
	counter(o, "kcsplice_udp_sessions_opened_total", "UDP sessions begun.",
	    s->udp_opened);
	counter(o, "kcsplice_udp_sessions_expired_total",
	    "UDP sessions ended by --udp-session-timeout.", s->udp_expired);
	counter(o, "kcsplice_udp_sessions_refused_total",
	    "UDP clients turned away by --udp-max-sessions.", s->udp_refused);
	counter(o, "kcsplice_udp_sessions_denied_total",
	    "UDP clients turned away by --allow.", s->udp_denied);
}

static void
pipes(struct out *o, const struct ks_snapshot *s)
{
	char l[64];
	unsigned i, n = s->nthreads < KS_MAX_THREADS ? s->nthreads :
	    KS_MAX_THREADS;

	counter(o, "kcsplice_pipe_fallbacks_total",
	    "Times no pipe could be had for splice(2): the bytes were copied.",
	    s->bytes.pipe_fallbacks);
	family(o, "kcsplice_pipes", "gauge",
	    "Pipes of each thread's pool, lent to a splice now or idle.");
	for (i = 0; i < n; i++) {
		snprintf(l, sizeof(l), "thread=\"%u\",state=\"lent\"", i);
		sample(o, "kcsplice_pipes", l, s->pipes[i].lent);
		snprintf(l, sizeof(l), "thread=\"%u\",state=\"idle\"", i);
		sample(o, "kcsplice_pipes", l, s->pipes[i].idle);
	}
	family(o, "kcsplice_pipes_created_total", "counter",
	    "Pipes each thread's pool made.");
	for (i = 0; i < n; i++) {
		snprintf(l, sizeof(l), "thread=\"%u\"", i);
		sample(o, "kcsplice_pipes_created_total", l,
		    s->pipes[i].created);
	}
}

static void
process(struct out *o, const struct ks_snapshot *s)
{
	char l[160], v[128];

	gauge(o, "process_open_fds", "Open file descriptors.", s->fds);
	gauge(o, "process_max_fds",
	    "The most file descriptors the process may open.", s->max_fds);
	family(o, "process_start_time_seconds", "gauge",
	    "When the process started, in seconds since the Unix epoch.");
	put(o, "process_start_time_seconds %llu.%03u\n",
	    (unsigned long long)(s->start_ms / 1000),
	    (unsigned)(s->start_ms % 1000));
	family(o, "kcsplice_build_info", "info", "The version of kcsplice.");
	label_value(v, sizeof(v), s->version != NULL ? s->version : "");
	snprintf(l, sizeof(l), "version=\"%s\"", v);
	sample(o, "kcsplice_build_info", l, 1);
}

int
ks_metrics_render(const struct ks_snapshot *s, bool openmetrics, char *buf,
    size_t size)
{
	struct out o;

	if (s == NULL || buf == NULL || size == 0)
		return -EINVAL;
	memset(&o, 0, sizeof(o));
	o.buf = buf;
	o.size = size;
	o.om = openmetrics;
	buf[0] = '\0';
	connections(&o, s);
	bytes(&o, s);
	mirrors(&o, s);
	record(&o, s);
	udp(&o, s);
	pipes(&o, s);
	process(&o, s);
	if (openmetrics)
		put(&o, "# EOF\n");
	return o.full ? -ENOSPC : (int)o.len;
}

/* The response: status line and header; body (may be NULL) unless HEAD. */
static int
response(int status, const char *type, const char *extra, const char *body,
    size_t blen, bool head, char **out, size_t *outlen)
{
	char hdr[512];
	int hl;
	char *r;

	hl = snprintf(hdr, sizeof(hdr), "HTTP/1.1 %d %s\r\n"
	    "Content-Type: %s\r\nContent-Length: %zu\r\n%s"
	    "Connection: close\r\n\r\n", status, ks_http_reason(status), type,
	    blen, extra);
	if (hl < 0 || (size_t)hl >= sizeof(hdr))
		return -ENOMEM;
	if (head)
		blen = 0;
	if ((r = malloc((size_t)hl + blen + 1)) == NULL)
		return -ENOMEM;
	memcpy(r, hdr, (size_t)hl);
	if (blen > 0)
		memcpy(r + hl, body, blen);
	r[(size_t)hl + blen] = '\0';
	*out = r;
	*outlen = (size_t)hl + blen;
	return status;
}

static int
error_response(int status, bool head, char **out, size_t *outlen)
{
	char body[96];
	int n;

	n = snprintf(body, sizeof(body), "%d %s\n", status,
	    ks_http_reason(status));
	return response(status, "text/plain; charset=utf-8", status == 405 ?
	    "Allow: GET, HEAD\r\n" : "", body, (size_t)n, head, out, outlen);
}

int
ks_metrics_answer(const char *in, const struct ks_http_req *req, int parse,
    ks_snapshot_fn *snap, char **out, size_t *outlen)
{
	struct ks_snapshot *s;
	char *body;
	bool head;
	int n, r;

	*out = NULL;
	*outlen = 0;
	if (parse != KS_HTTP_DONE || req == NULL || in == NULL)
		return error_response(parse == KS_HTTP_DONE ? 500 : parse,
		    false, out, outlen);
	head = req->method == KS_HTTP_HEAD;
	if (req->method == KS_HTTP_OTHER)
		return error_response(405, false, out, outlen);
	if (req->path_len != 8 || memcmp(in + req->path_off, "/metrics", 8) != 0)
		return error_response(404, head, out, outlen);
	s = calloc(1, sizeof(*s));
	body = malloc(KS_METRICS_BODY_MAX);
	if (s == NULL || body == NULL) {
		free(s);
		free(body);
		return -ENOMEM;
	}
	snap(s);
	n = ks_metrics_render(s, req->openmetrics, body, KS_METRICS_BODY_MAX);
	if (n < 0)
		r = error_response(500, head, out, outlen);
	else
		r = response(200, req->openmetrics ? KS_METRICS_OM_TYPE :
		    KS_METRICS_TEXT_TYPE, "", body, (size_t)n, head, out,
		    outlen);
	free(body);
	free(s);
	return r;
}
