/*
 * proto.h: kcnbd's side of the NBD protocol (kcnbd(1); the protocol is the
 * NBD project's doc/proto.md): the fixed newstyle negotiation as a state
 * machine fed bytes, the request header's parser and the checks that say
 * what a request gets, and the reply encoders.
 *
 * Nothing here does I/O, keeps global state or trusts its input: the
 * server and the fuzz target (tests/fuzz/fuzz_kcnbd_proto.c) drive the
 * same functions.  Memory: struct nbd_out is the caller's and holds a
 * buffer this file grows with realloc() (nbd_out_free() gives it back);
 * the export table is the caller's and is only read.
 */
#ifndef KCNBD_PROTO_H
#define KCNBD_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Magics. */
#define NBD_MAGIC		0x4e42444d41474943ull	/* "NBDMAGIC" */
#define NBD_IHAVEOPT		0x49484156454f5054ull	/* "IHAVEOPT" */
#define NBD_REP_MAGIC		0x0003e889045565a9ull
#define NBD_REQUEST_MAGIC	0x25609513u
#define NBD_SIMPLE_REPLY_MAGIC	0x67446698u
#define NBD_STRUCTURED_REPLY_MAGIC 0x668e33efu

/* Handshake flags (server) and client flags. */
#define NBD_FLAG_FIXED_NEWSTYLE	0x0001u
#define NBD_FLAG_NO_ZEROES	0x0002u
#define NBD_FLAG_C_FIXED_NEWSTYLE 0x0001u
#define NBD_FLAG_C_NO_ZEROES	0x0002u

/* Options. */
#define NBD_OPT_EXPORT_NAME	1u
#define NBD_OPT_ABORT		2u
#define NBD_OPT_LIST		3u
#define NBD_OPT_STARTTLS	5u
#define NBD_OPT_INFO		6u
#define NBD_OPT_GO		7u
#define NBD_OPT_STRUCTURED_REPLY 8u
#define NBD_OPT_LIST_META_CONTEXT 9u
#define NBD_OPT_SET_META_CONTEXT 10u

/* Option replies. */
#define NBD_REP_ACK		1u
#define NBD_REP_SERVER		2u
#define NBD_REP_INFO		3u
#define NBD_REP_META_CONTEXT	4u
#define NBD_REP_ERR_UNSUP	0x80000001u
#define NBD_REP_ERR_POLICY	0x80000002u
#define NBD_REP_ERR_INVALID	0x80000003u
#define NBD_REP_ERR_UNKNOWN	0x80000006u
#define NBD_REP_ERR_SHUTDOWN	0x80000007u
#define NBD_REP_ERR_TOO_BIG	0x80000009u

/* NBD_REP_INFO types. */
#define NBD_INFO_EXPORT		0u
#define NBD_INFO_NAME		1u
#define NBD_INFO_DESCRIPTION	2u
#define NBD_INFO_BLOCK_SIZE	3u

/* Transmission flags. */
#define NBD_FLAG_HAS_FLAGS	0x0001u
#define NBD_FLAG_READ_ONLY	0x0002u
#define NBD_FLAG_SEND_FLUSH	0x0004u
#define NBD_FLAG_SEND_FUA	0x0008u
#define NBD_FLAG_SEND_TRIM	0x0020u
#define NBD_FLAG_SEND_WRITE_ZEROES 0x0040u
#define NBD_FLAG_SEND_DF	0x0080u
#define NBD_FLAG_CAN_MULTI_CONN	0x0100u
#define NBD_FLAG_SEND_CACHE	0x0400u

/* Commands and their flags. */
#define NBD_CMD_READ		0u
#define NBD_CMD_WRITE		1u
#define NBD_CMD_DISC		2u
#define NBD_CMD_FLUSH		3u
#define NBD_CMD_TRIM		4u
#define NBD_CMD_CACHE		5u
#define NBD_CMD_WRITE_ZEROES	6u
#define NBD_CMD_BLOCK_STATUS	7u
#define NBD_CMD_N		8u

#define NBD_CMD_FLAG_FUA	0x0001u
#define NBD_CMD_FLAG_NO_HOLE	0x0002u
#define NBD_CMD_FLAG_DF		0x0004u
#define NBD_CMD_FLAG_REQ_ONE	0x0008u

/* Structured reply chunks. */
#define NBD_REPLY_FLAG_DONE	0x0001u
#define NBD_REPLY_TYPE_NONE	0u
#define NBD_REPLY_TYPE_OFFSET_DATA 1u
#define NBD_REPLY_TYPE_OFFSET_HOLE 2u
#define NBD_REPLY_TYPE_BLOCK_STATUS 5u
#define NBD_REPLY_TYPE_ERROR	0x8001u

/* base:allocation's extent flags. */
#define NBD_STATE_HOLE		0x1u
#define NBD_STATE_ZERO		0x2u

/* Error values on the wire. */
#define NBD_EPERM		1u
#define NBD_EIO			5u
#define NBD_ENOMEM		12u
#define NBD_EINVAL		22u
#define NBD_ENOSPC		28u
#define NBD_EOVERFLOW		75u
#define NBD_ENOTSUP		95u
#define NBD_ESHUTDOWN		108u

/* Sizes on the wire. */
#define NBD_REQ_SIZE		28u
#define NBD_SIMPLE_SIZE		16u
#define NBD_CHUNK_SIZE		20u
#define NBD_OPTHDR_SIZE		16u
#define NBD_OPT_MAX		65536u	/* longer option data: disconnect */
#define NBD_NAME_MAX		4096u

/* The one metadata context, and its id in SET_META_CONTEXT's reply. */
#define NBD_META_BASE		"base:allocation"
#define NBD_META_BASE_ID	1u

/* The block sizes advertised: any alignment, 4 KiB preferred. */
#define NBD_BLOCK_MIN		1u
#define NBD_BLOCK_PREF		4096u

/* One export as the negotiation sees it. */
struct nbd_export {
	const char	*name;		/* NUL-terminated, at most NBD_NAME_MAX */
	uint64_t	 size;
	bool		 ro;
};

/* What the negotiation serves: exports[0] is also the default (""). */
struct nbd_exports {
	const struct nbd_export	*e;
	unsigned		 n;
	uint32_t		 max_payload;	/* advertised maximum block size */
	bool			 multi_conn;	/* flush covers every connection */
	bool			 shutdown;	/* options get NBD_REP_ERR_SHUTDOWN */
};

/* A growable output buffer. */
struct nbd_out {
	uint8_t	*p;
	size_t	 len;
	size_t	 cap;
};

int	nbd_out_put(struct nbd_out *o, const void *p, size_t len);
void	nbd_out_free(struct nbd_out *o);

/* Negotiation state. */
enum nbd_neg_state {
	NBD_NEG_CFLAGS = 0,	/* the client's 32-bit flags */
	NBD_NEG_OPTHDR,		/* an option's 16-byte header */
	NBD_NEG_OPTDATA,	/* its data */
	NBD_NEG_DONE,		/* transmission: export chosen */
	NBD_NEG_CLOSED		/* the session ends */
};

struct nbd_neg {
	enum nbd_neg_state state;
	uint32_t	opt;		/* the option being read */
	uint32_t	optlen;
	bool		no_zeroes;
	bool		structured;	/* NBD_OPT_STRUCTURED_REPLY done */
	bool		meta;		/* base:allocation selected ... */
	int		meta_export;	/* ... for this export (-1: none) */
	int		export;		/* chosen (NBD_NEG_DONE) */
	unsigned	options;	/* options seen */
};

/* What nbd_neg_step() asks of the server. */
#define NBD_NEG_MORE	0	/* send out, read nbd_neg_need() more bytes */
#define NBD_NEG_GO	1	/* send out, then transmission on n->export */
#define NBD_NEG_CLOSE	2	/* send out, then close */

/* Start: the server's greeting (18 bytes) into out. */
int	nbd_neg_start(struct nbd_neg *n, struct nbd_out *out);

/* Bytes the next step takes (0 once done or closed). */
size_t	nbd_neg_need(const struct nbd_neg *n);

/*
 * Take exactly nbd_neg_need() bytes (len must be that), append the replies
 * to out, and say what follows: NBD_NEG_MORE, NBD_NEG_GO, NBD_NEG_CLOSE,
 * or -ENOMEM (out could not grow) or -EINVAL (len is not what was needed).
 */
int	nbd_neg_step(struct nbd_neg *n, const struct nbd_exports *x,
	    const uint8_t *p, size_t len, struct nbd_out *out);

/* The transmission flags of export e for a session in state n. */
uint16_t nbd_tflags(const struct nbd_exports *x, const struct nbd_export *e,
	    const struct nbd_neg *n);

/* A request header. */
struct nbd_req {
	uint16_t	flags;
	uint16_t	type;
	uint64_t	cookie;
	uint64_t	off;
	uint32_t	len;
};

/* Parse 28 bytes: 0, or -EPROTO (bad magic: the session must end). */
int	nbd_req_parse(const uint8_t b[NBD_REQ_SIZE], struct nbd_req *r);

/* What a transmission session has: the export and what was negotiated. */
struct nbd_tx {
	uint64_t	size;
	uint32_t	max_payload;
	uint16_t	tflags;
	bool		structured;
	bool		meta;
};

/* nbd_req_check()'s verdicts. */
#define NBD_DO_OP	0	/* perform it */
#define NBD_DO_ERROR	1	/* reply with the error (after the payload) */
#define NBD_DO_DISC	2	/* NBD_CMD_DISC: finish in flight, close */

struct nbd_verdict {
	int		action;
	uint32_t	error;		/* NBD_E*, for NBD_DO_ERROR */
	uint32_t	payload;	/* payload bytes that follow the header */
};

/*
 * Judge a request by the protocol alone: unknown commands and flags,
 * flags not advertised, a read-only export, lengths over max_payload,
 * ranges past the end, block status without a context.  A write's
 * payload follows its header whatever the verdict, and is to be read
 * (and dropped, for an error).
 */
void	nbd_req_check(const struct nbd_req *r, const struct nbd_tx *t,
	    struct nbd_verdict *v);

/* Encoders: big-endian headers into b; each returns its size. */
size_t	nbd_simple_reply(uint8_t b[NBD_SIMPLE_SIZE], uint32_t error,
	    uint64_t cookie);
size_t	nbd_chunk(uint8_t b[NBD_CHUNK_SIZE], uint16_t flags, uint16_t type,
	    uint64_t cookie, uint32_t len);
/* An error chunk (DONE) with no message: 20 + 6 bytes. */
size_t	nbd_error_chunk(uint8_t b[NBD_CHUNK_SIZE + 6], uint32_t error,
	    uint64_t cookie);

/* The NBD error value for a -errno of the host. */
uint32_t nbd_errno(int err);

/* Big-endian helpers. */
static inline void
nbd_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void
nbd_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void
nbd_be64(uint8_t *p, uint64_t v)
{
	nbd_be32(p, (uint32_t)(v >> 32));
	nbd_be32(p + 4, (uint32_t)v);
}

static inline uint16_t
nbd_get16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static inline uint32_t
nbd_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t
nbd_get64(const uint8_t *p)
{
	return (uint64_t)nbd_get32(p) << 32 | nbd_get32(p + 4);
}

#endif
