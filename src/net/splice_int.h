/*
 * splice_int.h: what splice.c shares with dgramrelay.c.
 */
#ifndef KC_NET_SPLICE_INT_H
#define KC_NET_SPLICE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <kcont/socket.h>

#define KC__DG_BATCH	16
#define KC__DG_SLOT	65536	/* more than any UDP datagram */

/* One per thread: recvmmsg(2) in, sendmmsg(2) out. */
struct kc__dgbatch {
	struct mmsghdr		mh[KC__DG_BATCH];
	struct iovec		iov[KC__DG_BATCH];
	struct kc_sockaddr	from[KC__DG_BATCH];
	struct mmsghdr		out[KC__DG_BATCH];
	struct iovec		oiov[KC__DG_BATCH];
	unsigned char		data[KC__DG_BATCH][KC__DG_SLOT];
};

struct kc_splice_stats;

struct kc__dgbatch *kc__dgbatch(void);
/* Entry n of the send list: len bytes at base (no address). */
void	kc__dgbatch_out(struct kc__dgbatch *b, unsigned n, void *base,
	    size_t len);
/* A snapshot of size bytes of relaxed-atomic uint64_t counters. */
void	kc__stats_load(void *dst, const void *src, size_t size);
/* Add n to the counter at offset off of st, and of account if not NULL. */
void	kc__stats_add(struct kc_splice_stats *st,
	    struct kc_splice_stats *account, size_t off, uint64_t n);
void	kc__dgbatch_arm(struct kc__dgbatch *b, bool names);
/* The datagram relay's hash of a client's address (the parts that name
 * it: family, port, host), which picks the address's session bucket. */
uint32_t kc__dgram_addr_hash(const struct kc_sockaddr *a);

#endif
