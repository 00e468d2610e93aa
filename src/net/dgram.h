/*
 * dgram.h: datagrams in batches, for everything that forwards them (the
 * splice's datagram direction, the datagram relay).  Nothing here is
 * public.  The owned socket's datagram protocol is sockdgram.c.
 *
 * A batch is per thread (a soft executor's): recvmmsg(2) fills it, and
 * its send list, pointing into what was read, goes out by sendmmsg(2).
 * Datagrams are never queued by the senders here: what a descriptor will
 * not take at once is dropped, as the network would, and counted.
 */
#ifndef KC_NET_DGRAM_H
#define KC_NET_DGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <kcont/socket.h>

#define KC__DG_BATCH	16
#define KC__DG_SLOT	65536	/* more than any UDP datagram */

struct kc__dgbatch {
	struct mmsghdr		mh[KC__DG_BATCH];
	struct iovec		iov[KC__DG_BATCH];
	struct kc_sockaddr	from[KC__DG_BATCH];
	struct mmsghdr		out[KC__DG_BATCH];
	struct iovec		oiov[KC__DG_BATCH];
	unsigned char		data[KC__DG_BATCH][KC__DG_SLOT];
};

/* The calling thread's batch (made when first asked), or NULL. */
struct kc__dgbatch *kc__dgbatch(void);
/* Prepare the batch for recvmmsg(2), with the senders' names or not. */
void	kc__dgbatch_arm(struct kc__dgbatch *b, bool names);
/* Entry n of the send list: len bytes at base (no address). */
void	kc__dgbatch_out(struct kc__dgbatch *b, unsigned n, void *base,
	    size_t len);

/* What kc__dg_send_all() did. */
struct kc__dgsent {
	uint64_t	ds_sent;	/* datagrams */
	uint64_t	ds_bytes;	/* their bytes */
	uint64_t	ds_lost;	/* datagrams dropped */
	uint64_t	ds_lostbytes;
};

/*
 * sendmmsg(2) out[0..n-1] to fd, without waiting: a datagram the
 * descriptor will not take (full, refused, gone) is dropped and the next
 * one tried.  The counts are added to *ds.
 */
void	kc__dg_send_all(int fd, struct mmsghdr *out, unsigned n,
	    struct kc__dgsent *ds);

/* The datagram relay's hash of a client's address (the parts that name
 * it: family, port, host), which picks the address's session bucket. */
uint32_t kc__dgram_addr_hash(const struct kc_sockaddr *a);

#endif
