/*
 * recfmt.c: encoding and decoding kcsplice's recording format (recfmt.h).
 */
#include <errno.h>
#include <string.h>

#include "recfmt.h"

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void
put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}

static uint32_t
get32(const uint8_t *p)
{
	return get16(p) | (uint32_t)get16(p + 2) << 16;
}

static uint64_t
get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

void
ksr_file_encode(uint8_t *out, const struct ksr_file *f)
{
	memcpy(out, KSR_MAGIC, 8);
	put16(out + 8, KSR_VERSION);
	put16(out + 10, KSR_FILE_HDR);
	put32(out + 12, 0);
	put64(out + 16, f->created_ns);
	put32(out + 24, f->pid);
	put32(out + 28, f->seq);
}

int
ksr_file_decode(const uint8_t *in, size_t len, struct ksr_file *f)
{
	if (len < KSR_FILE_HDR)
		return len >= 8 && memcmp(in, KSR_MAGIC, 8) != 0 ? -EINVAL :
		    -EAGAIN;
	if (memcmp(in, KSR_MAGIC, 8) != 0)
		return -EINVAL;
	f->version = get16(in + 8);
	if (f->version != KSR_VERSION)
		return -EPROTONOSUPPORT;
	if (get16(in + 10) != KSR_FILE_HDR || get32(in + 12) != 0)
		return -EINVAL;
	f->created_ns = get64(in + 16);
	f->pid = get32(in + 24);
	f->seq = get32(in + 28);
	return 0;
}

void
ksr_rec_encode(uint8_t *out, const struct ksr_rec *r)
{
	put32(out, r->type);
	put32(out + 4, r->len);
	put64(out + 8, r->conn);
	put64(out + 16, r->time_ns);
	put64(out + 24, r->offset);
	put32(out + 32, r->flags);
	put32(out + 36, 0);
}

size_t
ksr_pad(size_t len)
{
	return (8 - (len & 7)) & 7;
}

/* Which flags each type may carry, and its payload's bound. */
static int
rec_check(const struct ksr_rec *r)
{
	switch (r->type) {
	case KSR_OPEN:
		return (r->flags & ~KSR_F_CONT) == 0 &&
		    r->len <= KSR_META_MAX && r->offset == 0 ? 0 : -EINVAL;
	case KSR_C2S:
	case KSR_S2C:
		return (r->flags & ~KSR_F_DGRAM) == 0 &&
		    r->len <= KSR_PAYLOAD_MAX ? 0 : -EINVAL;
	case KSR_LOST:
		return r->flags == 0 && r->len <= KSR_META_MAX &&
		    r->offset == 0 ? 0 : -EINVAL;
	case KSR_END:
		return (r->flags & ~KSR_F_COMPLETE) == 0 &&
		    r->len <= KSR_META_MAX && r->offset == 0 ? 0 : -EINVAL;
	default:
		return -EINVAL;
	}
}

long
ksr_rec_decode(const uint8_t *in, size_t len, struct ksr_rec *r)
{
	size_t total, i;

	memset(r, 0, sizeof(*r));
	if (len < KSR_REC_HDR)
		return -EAGAIN;
	r->type = get32(in);
	r->len = get32(in + 4);
	r->conn = get64(in + 8);
	r->time_ns = get64(in + 16);
	r->offset = get64(in + 24);
	r->flags = get32(in + 32);
	if (get32(in + 36) != 0 || rec_check(r) != 0) {
		memset(r, 0, sizeof(*r));
		return -EINVAL;
	}
	total = KSR_REC_HDR + r->len + ksr_pad(r->len);
	if (len < total) {
		memset(r, 0, sizeof(*r));
		return -EAGAIN;
	}
	for (i = KSR_REC_HDR + r->len; i < total; i++)
		if (in[i] != 0) {
			memset(r, 0, sizeof(*r));
			return -EINVAL;
		}
	r->payload = in + KSR_REC_HDR;
	return (long)total;
}

const char *
ksr_type_name(uint32_t type)
{
	switch (type) {
	case KSR_OPEN:	return "open";
	case KSR_C2S:	return "c2s";
	case KSR_S2C:	return "s2c";
	case KSR_LOST:	return "lost";
	case KSR_END:	return "end";
	default:	return NULL;
	}
}
