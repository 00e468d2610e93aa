/*
 * fuzz_kcnbd_proto: kcnbd's NBD negotiation, request checks and command
 * line (tools/kcnbd/proto.h, opts.h).
 *
 * The first byte picks what the rest is.  Bit 0 clear: the bytes a client
 * sends, fed through nbd_neg_need()/nbd_neg_step() as the server does
 * (with bit 1 set, each option header's magic is made right first, so
 * that random bytes reach the options), then, once an export is chosen,
 * 28-byte request headers (bit 1: with the right magic) judged by
 * nbd_req_check().  Every step must give one of its answers; every reply
 * must be well formed (magic, option, lengths that add up, ending in an
 * ACK or an error); an export chosen must exist; a request let through
 * must be inside the export, under the maximum payload, with only flags
 * its command takes, and no write on a read-only export; a write's
 * payload is always accounted.  Bit 0 set: a command line (arguments
 * separated by NUL bytes) for kn_opts_parse(), which must return 0 or 64,
 * with a message for 64 and at least one export for 0.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opts.h"
#include "proto.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_kcnbd_proto:%d: check failed: %s\n", \
		    __LINE__, #cond);					\
		abort();						\
	}								\
} while (0)

static const struct nbd_export exports[] = {
	{ "disk", 1u << 20, false },
	{ "ro", 4096, true },
	{ "big", UINT64_MAX - 5, false },
};

/* The replies of one option: well formed, the last one final. */
static void
check_replies(const struct nbd_out *o, uint32_t opt, int r)
{
	size_t at = 0;
	uint32_t type = 0;

	while (at < o->len) {
		uint32_t len;

		CHECK(o->len - at >= 20);
		CHECK(nbd_get64(o->p + at) == NBD_REP_MAGIC);
		CHECK(nbd_get32(o->p + at + 8) == opt);
		type = nbd_get32(o->p + at + 12);
		len = nbd_get32(o->p + at + 16);
		CHECK(o->len - at - 20 >= len);
		if (type == NBD_REP_INFO) {
			CHECK(len >= 2);
			if (nbd_get16(o->p + at + 20) == NBD_INFO_EXPORT)
				CHECK(len == 12);
			if (nbd_get16(o->p + at + 20) == NBD_INFO_BLOCK_SIZE)
				CHECK(len == 14);
		}
		if (type == NBD_REP_SERVER)
			CHECK(len >= 4 && nbd_get32(o->p + at + 20) == len - 4);
		if (type == NBD_REP_META_CONTEXT)
			CHECK(len == 4 + strlen(NBD_META_BASE));
		at += 20 + len;
		/* Only the last reply is final. */
		if (at < o->len)
			CHECK(type == NBD_REP_INFO || type == NBD_REP_SERVER ||
			    type == NBD_REP_META_CONTEXT);
	}
	if (o->len > 0)
		CHECK(type == NBD_REP_ACK || (type & 0x80000000u) != 0);
	if (r == NBD_NEG_MORE)
		CHECK(o->len > 0);
}

static void
requests(const uint8_t *p, size_t n, const struct nbd_exports *x,
    const struct nbd_neg *neg, bool fix)
{
	const struct nbd_export *e = &x->e[neg->export];
	struct nbd_tx t;
	uint8_t b[NBD_REQ_SIZE];

	t.size = e->size;
	t.max_payload = x->max_payload;
	t.tflags = nbd_tflags(x, e, neg);
	t.structured = neg->structured;
	t.meta = neg->meta && neg->meta_export == neg->export;
	CHECK((t.tflags & NBD_FLAG_HAS_FLAGS) != 0);
	CHECK(((t.tflags & NBD_FLAG_READ_ONLY) != 0) == e->ro);
	while (n >= NBD_REQ_SIZE) {
		struct nbd_req r;
		struct nbd_verdict v;

		memcpy(b, p, sizeof(b));
		if (fix)
			nbd_be32(b, NBD_REQUEST_MAGIC);
		p += NBD_REQ_SIZE;
		n -= NBD_REQ_SIZE;
		if (nbd_req_parse(b, &r) != 0) {
			CHECK(nbd_get32(b) != NBD_REQUEST_MAGIC);
			return;
		}
		nbd_req_check(&r, &t, &v);
		CHECK(v.payload == (r.type == NBD_CMD_WRITE ? r.len : 0));
		if (v.action == NBD_DO_ERROR) {
			CHECK(v.error == NBD_EINVAL || v.error == NBD_EPERM ||
			    v.error == NBD_ENOSPC || v.error == NBD_EOVERFLOW);
			continue;
		}
		if (v.action == NBD_DO_DISC) {
			CHECK(r.type == NBD_CMD_DISC);
			return;
		}
		CHECK(v.action == NBD_DO_OP);
		CHECK(r.type < NBD_CMD_N && r.type != NBD_CMD_DISC);
		if (r.type == NBD_CMD_FLUSH)
			continue;
		CHECK(r.len > 0 && r.off <= t.size && r.len <= t.size - r.off);
		if (r.type == NBD_CMD_READ || r.type == NBD_CMD_WRITE)
			CHECK(r.len <= t.max_payload);
		if (r.type == NBD_CMD_WRITE || r.type == NBD_CMD_TRIM ||
		    r.type == NBD_CMD_WRITE_ZEROES)
			CHECK(!e->ro);
		if (r.type == NBD_CMD_BLOCK_STATUS)
			CHECK(t.meta);
		if (r.type == NBD_CMD_READ)
			CHECK((r.flags & ~NBD_CMD_FLAG_DF) == 0);
		if ((r.flags & NBD_CMD_FLAG_DF) != 0)
			CHECK(t.structured);
	}
}

static void
negotiate(const uint8_t *p, size_t n, bool fix)
{
	struct nbd_exports x = { exports, 3, 1u << 16, true, false };
	struct nbd_out out = { 0, 0, 0 };
	struct nbd_neg neg;
	int r = NBD_NEG_MORE;

	x.shutdown = n > 0 && (p[0] & 0x80) != 0 && (p[0] & 0x40) != 0;
	CHECK(nbd_neg_start(&neg, &out) == 0);
	CHECK(out.len == 18 && nbd_get64(out.p) == NBD_MAGIC);
	while (r == NBD_NEG_MORE) {
		size_t need = nbd_neg_need(&neg);
		uint8_t *buf;
		enum nbd_neg_state was = neg.state;
		bool hdr = was == NBD_NEG_OPTHDR;

		CHECK(need > 0 && need <= NBD_OPT_MAX);
		if (n < need)
			break;
		if ((buf = malloc(need)) == NULL)
			break;
		memcpy(buf, p, need);
		if (hdr && fix)
			nbd_be64(buf, NBD_IHAVEOPT);
		p += need;
		n -= need;
		out.len = 0;
		r = nbd_neg_step(&neg, &x, buf, need, &out);
		free(buf);
		CHECK(r == NBD_NEG_MORE || r == NBD_NEG_GO ||
		    r == NBD_NEG_CLOSE);
		if (was == NBD_NEG_CFLAGS ||
		    (r == NBD_NEG_MORE && neg.state == NBD_NEG_OPTDATA))
			CHECK(out.len == 0);	/* flags, or a header alone */
		else if (r == NBD_NEG_GO && neg.opt == NBD_OPT_EXPORT_NAME)
			CHECK(out.len == (neg.no_zeroes ? 10u : 134u));
		else if (r == NBD_NEG_MORE || r == NBD_NEG_GO ||
		    neg.opt == NBD_OPT_ABORT)
			check_replies(&out, neg.opt, r);
		if (r == NBD_NEG_GO) {
			CHECK(neg.export >= 0 && neg.export < 3);
			CHECK(!x.shutdown);
			CHECK(neg.state == NBD_NEG_DONE);
			CHECK(nbd_neg_need(&neg) == 0);
			requests(p, n, &x, &neg, fix);
		}
		if (r == NBD_NEG_CLOSE)
			CHECK(neg.state == NBD_NEG_CLOSED &&
			    nbd_neg_need(&neg) == 0);
	}
	nbd_out_free(&out);
}

static struct kn_opts opts;

static void
command_line(const uint8_t *p, size_t n)
{
	char *text = malloc(n + 1), *argv[64], err[256];
	int argc = 0, r;
	size_t i, start = 0;

	if (text == NULL)
		return;
	memcpy(text, p, n);
	text[n] = '\0';
	argv[argc++] = (char *)"kcnbd";
	for (i = 0; i <= n && argc < 63; i++) {
		if (text[i] == '\0') {
			argv[argc++] = text + start;
			start = i + 1;
		}
	}
	argv[argc] = NULL;
	r = kn_opts_parse(&opts, argc, argv, err, sizeof(err));
	CHECK(r == 0 || r == 64);
	if (r == 64)
		CHECK(err[0] != '\0' && strchr(err, '\n') == NULL);
	else if (opts.action == KN_RUN) {
		CHECK(opts.nexports >= 1 && opts.nlisten >= 1);
		CHECK(opts.max_payload >= KN_PAYLOAD_MIN &&
		    opts.max_payload <= KN_PAYLOAD_MAX);
		for (i = 0; i < opts.nexports; i++)
			CHECK(opts.exports[i].name[0] != '\0' &&
			    opts.exports[i].path[0] != '\0');
	}
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if ((data[0] & 1) != 0)
		command_line(data + 1, size - 1);
	else
		negotiate(data + 1, size - 1, (data[0] & 2) != 0);
	return 0;
}
