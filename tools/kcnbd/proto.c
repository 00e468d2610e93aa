/*
 * proto.c: the NBD negotiation and request checks (proto.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int
nbd_out_put(struct nbd_out *o, const void *p, size_t len)
{
	if (len == 0)
		return 0;
	if (o->cap - o->len < len) {
		size_t cap = o->cap != 0 ? o->cap : 256;
		uint8_t *np;

		while (cap - o->len < len)
			cap *= 2;
		if ((np = realloc(o->p, cap)) == NULL)
			return -ENOMEM;
		o->p = np;
		o->cap = cap;
	}
	memcpy(o->p + o->len, p, len);
	o->len += len;
	return 0;
}

void
nbd_out_free(struct nbd_out *o)
{
	free(o->p);
	o->p = NULL;
	o->len = o->cap = 0;
}

/* An option reply: header and data. */
static int
rep(struct nbd_out *o, uint32_t opt, uint32_t type, const void *data,
    uint32_t len)
{
	uint8_t h[20];
	int e;

	nbd_be64(h, NBD_REP_MAGIC);
	nbd_be32(h + 8, opt);
	nbd_be32(h + 12, type);
	nbd_be32(h + 16, len);
	if ((e = nbd_out_put(o, h, sizeof(h))) != 0)
		return e;
	return nbd_out_put(o, data, len);
}

int
nbd_neg_start(struct nbd_neg *n, struct nbd_out *out)
{
	uint8_t g[18];

	memset(n, 0, sizeof(*n));
	n->state = NBD_NEG_CFLAGS;
	n->meta_export = -1;
	n->export = -1;
	nbd_be64(g, NBD_MAGIC);
	nbd_be64(g + 8, NBD_IHAVEOPT);
	nbd_be16(g + 16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	return nbd_out_put(out, g, sizeof(g));
}

size_t
nbd_neg_need(const struct nbd_neg *n)
{
	switch (n->state) {
	case NBD_NEG_CFLAGS:
		return 4;
	case NBD_NEG_OPTHDR:
		return NBD_OPTHDR_SIZE;
	case NBD_NEG_OPTDATA:
		return n->optlen;
	default:
		return 0;
	}
}

uint16_t
nbd_tflags(const struct nbd_exports *x, const struct nbd_export *e,
    const struct nbd_neg *n)
{
	uint16_t f = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH |
	    NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_CACHE;

	if (e->ro)
		f |= NBD_FLAG_READ_ONLY;
	else
		f |= NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES;
	if (n->structured)
		f |= NBD_FLAG_SEND_DF;
	if (x->multi_conn)
		f |= NBD_FLAG_CAN_MULTI_CONN;
	return f;
}

/* The export a name names ("" is the first), or -1. */
static int
find_export(const struct nbd_exports *x, const uint8_t *name, uint32_t len)
{
	unsigned i;

	if (x->n == 0)
		return -1;
	if (len == 0)
		return 0;
	for (i = 0; i < x->n; i++)
		if (strlen(x->e[i].name) == len &&
		    memcmp(x->e[i].name, name, len) == 0)
			return (int)i;
	return -1;
}

static int
opt_info(struct nbd_neg *n, const struct nbd_exports *x, const uint8_t *p,
    uint32_t len, struct nbd_out *o)
{
	const struct nbd_export *e;
	uint32_t namelen;
	uint16_t nreq, k;
	uint8_t b[14];
	bool want_name = false;
	int i, r;

	if (len < 6)
		return rep(o, n->opt, NBD_REP_ERR_INVALID, NULL, 0);
	namelen = nbd_get32(p);
	if (namelen > len - 6 || namelen > NBD_NAME_MAX)
		return rep(o, n->opt, NBD_REP_ERR_INVALID, NULL, 0);
	nreq = nbd_get16(p + 4 + namelen);
	if ((uint32_t)nreq * 2 != len - 6 - namelen)
		return rep(o, n->opt, NBD_REP_ERR_INVALID, NULL, 0);
	if ((i = find_export(x, p + 4, namelen)) < 0)
		return rep(o, n->opt, NBD_REP_ERR_UNKNOWN, NULL, 0);
	e = &x->e[i];
	for (k = 0; k < nreq; k++)
		if (nbd_get16(p + 6 + namelen + 2u * k) == NBD_INFO_NAME)
			want_name = true;
	/* NBD_INFO_EXPORT always; the block sizes always (minimum 1). */
	nbd_be16(b, NBD_INFO_EXPORT);
	nbd_be64(b + 2, e->size);
	nbd_be16(b + 10, nbd_tflags(x, e, n));
	if ((r = rep(o, n->opt, NBD_REP_INFO, b, 12)) != 0)
		return r;
	nbd_be16(b, NBD_INFO_BLOCK_SIZE);
	nbd_be32(b + 2, NBD_BLOCK_MIN);
	nbd_be32(b + 6, NBD_BLOCK_PREF);
	nbd_be32(b + 10, x->max_payload);
	if ((r = rep(o, n->opt, NBD_REP_INFO, b, 14)) != 0)
		return r;
	if (want_name) {
		size_t nl = strlen(e->name);
		struct nbd_out t = { 0, 0, 0 };

		nbd_be16(b, NBD_INFO_NAME);
		if ((r = nbd_out_put(&t, b, 2)) != 0 ||
		    (r = nbd_out_put(&t, e->name, nl)) != 0 ||
		    (r = rep(o, n->opt, NBD_REP_INFO, t.p, (uint32_t)t.len))
		    != 0) {
			nbd_out_free(&t);
			return r;
		}
		nbd_out_free(&t);
	}
	if ((r = rep(o, n->opt, NBD_REP_ACK, NULL, 0)) != 0)
		return r;
	if (n->opt == NBD_OPT_GO) {
		n->export = i;
		n->state = NBD_NEG_DONE;
		return NBD_NEG_GO;
	}
	return NBD_NEG_MORE;
}

static int
opt_list(struct nbd_neg *n, const struct nbd_exports *x, uint32_t len,
    struct nbd_out *o)
{
	unsigned i;
	int r;

	if (len != 0)
		return rep(o, n->opt, NBD_REP_ERR_INVALID, NULL, 0);
	for (i = 0; i < x->n; i++) {
		size_t nl = strlen(x->e[i].name);
		uint8_t h[20 + 4];

		nbd_be64(h, NBD_REP_MAGIC);
		nbd_be32(h + 8, n->opt);
		nbd_be32(h + 12, NBD_REP_SERVER);
		nbd_be32(h + 16, (uint32_t)(4 + nl));
		nbd_be32(h + 20, (uint32_t)nl);
		if ((r = nbd_out_put(o, h, sizeof(h))) != 0 ||
		    (r = nbd_out_put(o, x->e[i].name, nl)) != 0)
			return r;
	}
	return rep(o, n->opt, NBD_REP_ACK, NULL, 0);
}

/*
 * LIST_META_CONTEXT and SET_META_CONTEXT: export name, then queries.
 * Only base:allocation exists; "base:" in a list names it too.
 */
static int
opt_meta(struct nbd_neg *n, const struct nbd_exports *x, const uint8_t *p,
    uint32_t len, struct nbd_out *o)
{
	bool set = n->opt == NBD_OPT_SET_META_CONTEXT, match = false;
	uint32_t namelen, nq, q, at, ql, bl = sizeof(NBD_META_BASE) - 1;
	uint8_t b[4 + sizeof(NBD_META_BASE)];
	int i, r;

	if (set && !n->structured)
		return rep(o, n->opt, NBD_REP_ERR_INVALID, NULL, 0);
	if (len < 8)
		return rep(o, n->opt, NBD_REP_ERR_INVALID, NULL, 0);
	namelen = nbd_get32(p);
	if (namelen > len - 8 || namelen > NBD_NAME_MAX)
		return rep(o, n->opt, NBD_REP_ERR_INVALID, NULL, 0);
	nq = nbd_get32(p + 4 + namelen);
	/* Check the whole shape before answering anything. */
	at = 8 + namelen;
	for (q = 0; q < nq; q++) {
		if (len - at < 4)
			return rep(o, n->opt, NBD_REP_ERR_INVALID, NULL, 0);
		ql = nbd_get32(p + at);
		if (ql > len - at - 4 || ql > NBD_NAME_MAX)
			return rep(o, n->opt, NBD_REP_ERR_INVALID, NULL, 0);
		if ((ql == bl && memcmp(p + at + 4, NBD_META_BASE, bl) == 0) ||
		    (!set && ql == 5 && memcmp(p + at + 4, "base:", 5) == 0))
			match = true;
		at += 4 + ql;
	}
	if (at != len)
		return rep(o, n->opt, NBD_REP_ERR_INVALID, NULL, 0);
	if ((i = find_export(x, p + 4, namelen)) < 0) {
		if (set) {
			n->meta = false;
			n->meta_export = -1;
		}
		return rep(o, n->opt, NBD_REP_ERR_UNKNOWN, NULL, 0);
	}
	if (!set && nq == 0)
		match = true;
	if (set) {
		n->meta = match;
		n->meta_export = i;
	}
	if (match) {
		nbd_be32(b, set ? NBD_META_BASE_ID : 0);
		memcpy(b + 4, NBD_META_BASE, bl);
		if ((r = rep(o, n->opt, NBD_REP_META_CONTEXT, b, 4 + bl)) != 0)
			return r;
	}
	return rep(o, n->opt, NBD_REP_ACK, NULL, 0);
}

/* NBD_OPT_EXPORT_NAME: no error can be sent; an unknown name closes. */
static int
opt_export_name(struct nbd_neg *n, const struct nbd_exports *x,
    const uint8_t *p, uint32_t len, struct nbd_out *o)
{
	static const uint8_t zeroes[124];
	uint8_t b[10];
	int i, r;

	if (len > NBD_NAME_MAX || (i = find_export(x, p, len)) < 0 ||
	    x->shutdown) {
		n->state = NBD_NEG_CLOSED;
		return NBD_NEG_CLOSE;
	}
	nbd_be64(b, x->e[i].size);
	nbd_be16(b + 8, nbd_tflags(x, &x->e[i], n));
	if ((r = nbd_out_put(o, b, sizeof(b))) != 0 ||
	    (!n->no_zeroes &&
	    (r = nbd_out_put(o, zeroes, sizeof(zeroes))) != 0))
		return r;
	n->export = i;
	n->state = NBD_NEG_DONE;
	return NBD_NEG_GO;
}

static int
option(struct nbd_neg *n, const struct nbd_exports *x, const uint8_t *p,
    uint32_t len, struct nbd_out *o)
{
	int r;

	n->state = NBD_NEG_OPTHDR;
	if (n->opt == NBD_OPT_EXPORT_NAME)
		return opt_export_name(n, x, p, len, o);
	if (n->opt == NBD_OPT_ABORT) {
		r = rep(o, n->opt, NBD_REP_ACK, NULL, 0);
		n->state = NBD_NEG_CLOSED;
		return r != 0 ? r : NBD_NEG_CLOSE;
	}
	if (x->shutdown)
		r = rep(o, n->opt, NBD_REP_ERR_SHUTDOWN, NULL, 0);
	else switch (n->opt) {
	case NBD_OPT_LIST:
		r = opt_list(n, x, len, o);
		break;
	case NBD_OPT_INFO:
	case NBD_OPT_GO:
		r = opt_info(n, x, p, len, o);
		break;
	case NBD_OPT_STRUCTURED_REPLY:
		if (len != 0)
			r = rep(o, n->opt, NBD_REP_ERR_INVALID, NULL, 0);
		else {
			n->structured = true;
			r = rep(o, n->opt, NBD_REP_ACK, NULL, 0);
		}
		break;
	case NBD_OPT_LIST_META_CONTEXT:
	case NBD_OPT_SET_META_CONTEXT:
		r = opt_meta(n, x, p, len, o);
		break;
	default:
		/* STARTTLS, extended headers and the rest. */
		r = rep(o, n->opt, NBD_REP_ERR_UNSUP, NULL, 0);
		break;
	}
	return r;
}

int
nbd_neg_step(struct nbd_neg *n, const struct nbd_exports *x,
    const uint8_t *p, size_t len, struct nbd_out *out)
{
	uint32_t cf;

	if (len != nbd_neg_need(n) || n->state == NBD_NEG_DONE ||
	    n->state == NBD_NEG_CLOSED)
		return -EINVAL;
	switch (n->state) {
	case NBD_NEG_CFLAGS:
		cf = nbd_get32(p);
		if ((cf & ~(uint32_t)(NBD_FLAG_C_FIXED_NEWSTYLE |
		    NBD_FLAG_C_NO_ZEROES)) != 0) {
			n->state = NBD_NEG_CLOSED;
			return NBD_NEG_CLOSE;
		}
		n->no_zeroes = (cf & NBD_FLAG_C_NO_ZEROES) != 0;
		n->state = NBD_NEG_OPTHDR;
		return NBD_NEG_MORE;
	case NBD_NEG_OPTHDR:
		if (nbd_get64(p) != NBD_IHAVEOPT ||
		    nbd_get32(p + 12) > NBD_OPT_MAX) {
			n->state = NBD_NEG_CLOSED;
			return NBD_NEG_CLOSE;
		}
		n->opt = nbd_get32(p + 8);
		n->optlen = nbd_get32(p + 12);
		n->options++;
		if (n->optlen > 0) {
			n->state = NBD_NEG_OPTDATA;
			return NBD_NEG_MORE;
		}
		return option(n, x, p, 0, out);
	case NBD_NEG_OPTDATA:
		return option(n, x, p, n->optlen, out);
	default:
		return -EINVAL;
	}
}

int
nbd_req_parse(const uint8_t b[NBD_REQ_SIZE], struct nbd_req *r)
{
	if (nbd_get32(b) != NBD_REQUEST_MAGIC)
		return -EPROTO;
	r->flags = nbd_get16(b + 4);
	r->type = nbd_get16(b + 6);
	r->cookie = nbd_get64(b + 8);
	r->off = nbd_get64(b + 16);
	r->len = nbd_get32(b + 24);
	return 0;
}

/* The command flags each command may carry, given the export's flags. */
static uint16_t
allowed_flags(uint16_t type, const struct nbd_tx *t)
{
	switch (type) {
	case NBD_CMD_READ:
		return (t->tflags & NBD_FLAG_SEND_DF) != 0 ?
		    NBD_CMD_FLAG_DF : 0;
	case NBD_CMD_WRITE:
	case NBD_CMD_TRIM:
		return NBD_CMD_FLAG_FUA;
	case NBD_CMD_WRITE_ZEROES:
		return NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE;
	case NBD_CMD_BLOCK_STATUS:
		return NBD_CMD_FLAG_REQ_ONE;
	default:
		return 0;
	}
}

static void
verdict(struct nbd_verdict *v, int action, uint32_t error)
{
	v->action = action;
	v->error = error;
}

void
nbd_req_check(const struct nbd_req *r, const struct nbd_tx *t,
    struct nbd_verdict *v)
{
	bool ro = (t->tflags & NBD_FLAG_READ_ONLY) != 0;
	bool past = r->off > t->size || r->len > t->size - r->off;

	v->payload = r->type == NBD_CMD_WRITE ? r->len : 0;
	verdict(v, NBD_DO_OP, 0);
	if (r->type >= NBD_CMD_N) {
		verdict(v, NBD_DO_ERROR, NBD_EINVAL);
		return;
	}
	if ((r->flags & ~allowed_flags(r->type, t)) != 0) {
		verdict(v, NBD_DO_ERROR, NBD_EINVAL);
		return;
	}
	switch (r->type) {
	case NBD_CMD_DISC:
		verdict(v, NBD_DO_DISC, 0);
		return;
	case NBD_CMD_FLUSH:
		return;
	case NBD_CMD_READ:
		if (r->len > t->max_payload)
			verdict(v, NBD_DO_ERROR,
			    (r->flags & NBD_CMD_FLAG_DF) != 0 ?
			    NBD_EOVERFLOW : NBD_EINVAL);
		else if (r->len == 0 || past)
			verdict(v, NBD_DO_ERROR, NBD_EINVAL);
		return;
	case NBD_CMD_WRITE:
	case NBD_CMD_WRITE_ZEROES:
		if (ro)
			verdict(v, NBD_DO_ERROR, NBD_EPERM);
		else if (r->type == NBD_CMD_WRITE && r->len > t->max_payload)
			verdict(v, NBD_DO_ERROR, NBD_EINVAL);
		else if (r->len == 0)
			verdict(v, NBD_DO_ERROR, NBD_EINVAL);
		else if (past)
			verdict(v, NBD_DO_ERROR, NBD_ENOSPC);
		return;
	case NBD_CMD_TRIM:
		if (ro)
			verdict(v, NBD_DO_ERROR, NBD_EPERM);
		else if (r->len == 0 || past)
			verdict(v, NBD_DO_ERROR, NBD_EINVAL);
		return;
	case NBD_CMD_CACHE:
		if (r->len == 0 || past)
			verdict(v, NBD_DO_ERROR, NBD_EINVAL);
		return;
	case NBD_CMD_BLOCK_STATUS:
		if (!t->meta || r->len == 0 || past)
			verdict(v, NBD_DO_ERROR, NBD_EINVAL);
		return;
	}
}

size_t
nbd_simple_reply(uint8_t b[NBD_SIMPLE_SIZE], uint32_t error, uint64_t cookie)
{
	nbd_be32(b, NBD_SIMPLE_REPLY_MAGIC);
	nbd_be32(b + 4, error);
	nbd_be64(b + 8, cookie);
	return NBD_SIMPLE_SIZE;
}

size_t
nbd_chunk(uint8_t b[NBD_CHUNK_SIZE], uint16_t flags, uint16_t type,
    uint64_t cookie, uint32_t len)
{
	nbd_be32(b, NBD_STRUCTURED_REPLY_MAGIC);
	nbd_be16(b + 4, flags);
	nbd_be16(b + 6, type);
	nbd_be64(b + 8, cookie);
	nbd_be32(b + 16, len);
	return NBD_CHUNK_SIZE;
}

size_t
nbd_error_chunk(uint8_t b[NBD_CHUNK_SIZE + 6], uint32_t error,
    uint64_t cookie)
{
	nbd_chunk(b, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR, cookie, 6);
	nbd_be32(b + NBD_CHUNK_SIZE, error);
	nbd_be16(b + NBD_CHUNK_SIZE + 4, 0);
	return NBD_CHUNK_SIZE + 6;
}

uint32_t
nbd_errno(int err)
{
	switch (-err) {
	case EPERM:
	case EACCES:
	case EROFS:
		return NBD_EPERM;
	case ENOMEM:
		return NBD_ENOMEM;
	case EINVAL:
		return NBD_EINVAL;
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
		return NBD_ENOSPC;
	case EOVERFLOW:
		return NBD_EOVERFLOW;
	case EOPNOTSUPP:
		return NBD_ENOTSUP;
	case ESHUTDOWN:
		return NBD_ESHUTDOWN;
	default:
		return NBD_EIO;
	}
}
