/*
 * recfmt.h: kcsplice's recording format, version 1 (kcsplice-record(5)):
 * what the recorder writes (record.c) and what --dump and --replay read.
 *
 * A recording file is a file header followed by records, every field
 * little-endian, every record starting at a multiple of 8 bytes:
 *
 *   file header (32 bytes)
 *     0  magic "KCSPLREC"
 *     8  u16 version (1)
 *    10  u16 header length (32)
 *    12  u32 flags (0)
 *    16  u64 creation time, CLOCK_REALTIME ns
 *    24  u32 process id of the recorder
 *    28  u32 file number in its stream (1, 2, ...)
 *
 *   record (a 40-byte header, then len bytes of payload, then zeros to a
 *   multiple of 8)
 *     0  u32 type (KSR_*)
 *     4  u32 len
 *     8  u64 connection id (unique in the recorder's process)
 *    16  u64 time, CLOCK_REALTIME ns (of the read, for data)
 *    24  u64 offset: data: the bytes of this direction recorded before
 *        these; otherwise 0
 *    32  u32 flags (KSR_F_*)
 *    36  u32 0
 *
 * Types:
 *   KSR_OPEN   a connection (or UDP session) begins, or goes on in a new
 *              file (KSR_F_CONT); payload: "key=value" words separated by
 *              spaces (proto, client, listen, upstream)
 *   KSR_C2S    bytes the client sent (KSR_F_DGRAM: one datagram, whole)
 *   KSR_S2C    bytes the upstream sent back
 *   KSR_LOST   recording of this connection stopped here: the recorder
 *              fell behind (its budget or the process cap) or could not
 *              write; payload "reason=..."; no data follows for it
 *   KSR_END    the connection ended; payload as KSR_OPEN's (reason, c2s,
 *              s2c: bytes relayed); KSR_F_COMPLETE when every byte relayed
 *              both ways is in the recording
 *
 * Nothing here allocates; the parsers take untrusted bytes.
 */
#ifndef KCSPLICE_RECFMT_H
#define KCSPLICE_RECFMT_H

#include <stddef.h>
#include <stdint.h>

#define KSR_MAGIC		"KCSPLREC"
#define KSR_VERSION		1
#define KSR_FILE_HDR		32
#define KSR_REC_HDR		40
#define KSR_PAYLOAD_MAX		(64u << 20)	/* a reader refuses more */
#define KSR_META_MAX		1024u		/* OPEN, LOST, END payloads */

enum ksr_type {
	KSR_OPEN = 1,
	KSR_C2S = 2,
	KSR_S2C = 3,
	KSR_LOST = 4,
	KSR_END = 5
};

#define KSR_F_CONT	0x1u	/* KSR_OPEN: begun in an earlier file */
#define KSR_F_DGRAM	0x2u	/* data: one datagram */
#define KSR_F_COMPLETE	0x4u	/* KSR_END: nothing was lost */
#define KSR_F_ALL	0x7u

struct ksr_file {
	uint16_t	version;
	uint64_t	created_ns;
	uint32_t	pid;
	uint32_t	seq;
};

struct ksr_rec {
	uint32_t	type;
	uint32_t	len;
	uint64_t	conn;
	uint64_t	time_ns;
	uint64_t	offset;
	uint32_t	flags;
	const uint8_t	*payload;	/* len bytes, inside the input */
};

/* Encode a file header into out[KSR_FILE_HDR]. */
void	ksr_file_encode(uint8_t *out, const struct ksr_file *f);
/*
 * Decode a file header: 0, -EAGAIN (fewer than KSR_FILE_HDR bytes),
 * -EINVAL (not a recording), -EPROTONOSUPPORT (a version this reader does
 * not know).
 */
int	ksr_file_decode(const uint8_t *in, size_t len, struct ksr_file *f);

/* Encode a record's header into out[KSR_REC_HDR] (payload not included). */
void	ksr_rec_encode(uint8_t *out, const struct ksr_rec *r);
/* Zero bytes after a payload of len bytes: 0..7. */
size_t	ksr_pad(size_t len);
/*
 * Decode the record at in: the bytes it takes (header, payload, padding),
 * -EAGAIN (it does not fit in len yet: more to read, or a truncated file
 * at its end), -EINVAL (a malformed record: unknown type or flags, a
 * payload over the bounds, non-zero reserved field or padding).
 */
long	ksr_rec_decode(const uint8_t *in, size_t len, struct ksr_rec *r);

/* The type's name ("open", "c2s", ...), or NULL. */
const char *ksr_type_name(uint32_t type);

#endif
