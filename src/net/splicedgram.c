/*
 * splicedgram.c: a splice's datagram directions (kcont/splice.h).
 *
 * Each readiness event reads batches of datagrams from the source with
 * recvmmsg(2) (net/dgram.h), tees each batch to the mirrors, and sends it
 * to the destination with sendmmsg(2).  Unlike the datagram relay, a
 * splice keeps order and loses nothing to a full destination: what it
 * will not take waits in the direction's queue (d_q), in order, and the
 * source is not read until the queue is out.  A mirror never holds the
 * primary back: what it will not take is dropped and counted.  A datagram
 * longer than a batch's slot is dropped and counted (it was truncated).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/internal.h"
#include "net/dgram.h"
#include "net/endpoint.h"
#include "net/socklend.h"
#include "net/splice_int.h"

/* A datagram waiting for its destination to take it. */
struct dgq {
	struct kc__link	 q_link;
	size_t		 q_len;
	unsigned char	 q_data[];
};

static int
dq_push(struct dir *d, const void *data, size_t len)
{
	struct dgq *q = malloc(sizeof(*q) + len);

	if (q == NULL)
		return -ENOMEM;
	q->q_len = len;
	if (len > 0)
		memcpy(q->q_data, data, len);
	kc__list_push_tail(&d->d_q, &q->q_link);
	return 0;
}

void
kc__splice_dq_free(struct dir *d)
{
	struct kc__link *lk;

	while ((lk = kc__list_pop_head(&d->d_q)) != NULL)
		free(KC__LIST_ITEM(lk, struct dgq, q_link));
}

/* Send what waits, in order: 1 all out, 0 the destination is full. */
static int
dq_flush(struct kc_splice *sp, struct dir *d)
{
	struct dgq *q;

	while ((q = KC__LIST_FIRST(&d->d_q, struct dgq, q_link)) != NULL) {
		ssize_t n = send(d->d_dfd, q->q_data, q->q_len,
		    MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == ENOBUFS)) {
			kc__ep_want_write(d->d_dep, errno == EAGAIN);
			return 0;
		}
		if (n < 0)
			COUNT(sp, dgram_dropped, 1);
		else
			COUNT_DIR(sp, datagrams, d->d_idx, 1);
		kc__list_remove(&d->d_q, &q->q_link);
		free(q);
	}
	return 1;
}

/* Tee a batch to the datagram mirrors: what one cannot take is dropped. */
static void
dg_mirror(struct kc_splice *sp, struct kc__dgbatch *b, unsigned n)
{
	unsigned i;

	for (i = 0; i < sp->sp_nm; i++) {
		struct kc__dgsent ds = { 0, 0, 0, 0 };

		if (!kc__splice_mirror_ready(sp, &sp->sp_m[i]))
			continue;
		kc__dg_send_all(sp->sp_m[i].m_fd, b->out, n, &ds);
		sp->sp_m[i].m_out += ds.ds_bytes;
		sp->sp_m[i].m_dropped += ds.ds_lostbytes;
		COUNT(sp, mirrored, ds.ds_bytes);
		COUNT(sp, mirror_dropped, ds.ds_lostbytes);
	}
}

void
kc__splice_pump_dgram(struct kc_splice *sp, struct dir *d)
{
	struct kc__dgbatch *b;
	int i;

	if (dq_flush(sp, d) == 0)
		return;
	if ((b = kc__dgbatch()) == NULL) {
		kc__ep_read_later(d->d_sep);
		return;
	}
	for (i = 0; i < PUMP_BATCH; i++) {
		unsigned n, k, j;
		int got;

		kc__dgbatch_arm(b, false);
		got = recvmmsg(d->d_sfd, b->mh, KC__DG_BATCH, MSG_DONTWAIT,
		    NULL);
		if (got < 0) {
			if (errno == EINTR || errno == ECONNREFUSED)
				continue;
			if (errno != EAGAIN)
				kc__splice_end(sp, KC_SPLICE_END_RESET,
				    d->d_idx == FWD ? KC_SPLICE_SIDE_A :
				    KC_SPLICE_SIDE_B, -errno);
			return;
		}
		if (got == 0)
			return;
		/* Keep only whole datagrams; the send list points at them. */
		for (n = 0, j = 0; j < (unsigned)got; j++) {
			if (b->mh[j].msg_hdr.msg_flags & MSG_TRUNC) {
				COUNT(sp, dgram_dropped, 1);
				continue;
			}
			kc__dgbatch_out(b, n, b->iov[j].iov_base,
			    b->mh[j].msg_len);
			sp->sp_moved += b->mh[j].msg_len + 1;
			n++;
		}
		if (d->d_idx == FWD && sp->sp_nm > 0)
			dg_mirror(sp, b, n);
		for (k = 0; k < n; ) {
			int sent = sendmmsg(d->d_dfd, b->out + k, n - k,
			    MSG_DONTWAIT | MSG_NOSIGNAL);

			if (sent > 0) {
				COUNT_DIR(sp, datagrams, d->d_idx,
				    (uint64_t)sent);
				for (j = k; j < k + (unsigned)sent; j++) {
					COUNT_DIR(sp, copied, d->d_idx,
					    b->out[j].msg_len);
					(void)KC__TR4(KC_TR_SPLICE, sp,
					    d->d_idx, 0, b->out[j].msg_len);
				}
				k += (unsigned)sent;
				continue;
			}
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == ENOBUFS) {
				bool full = errno == EAGAIN;

				/* Keep the rest, in order; read no more. */
				for (; k < n; k++) {
					struct iovec *v =
					    b->out[k].msg_hdr.msg_iov;

					if (dq_push(d, v->iov_base,
					    v->iov_len) != 0)
						COUNT(sp, dgram_dropped, 1);
				}
				kc__ep_want_write(d->d_dep, full);
				return;
			}
			COUNT(sp, dgram_dropped, 1);
			k++;
		}
		if ((unsigned)got < KC__DG_BATCH)
			return;
	}
	kc__ep_read_later(d->d_sep);
}

/* Datagrams the source read itself before the splice: they go first. */
void
kc__splice_dg_early(struct kc_splice *sp, struct dir *d)
{
	struct kc_chain c = KC_CHAIN_INITIALIZER;
	unsigned char *buf = NULL;
	ssize_t n;

	while ((n = kc__socket_take(d->d_src, &c, KC__DG_SLOT, NULL)) >= 0) {
		if (buf == NULL && (buf = malloc(KC__DG_SLOT)) == NULL) {
			COUNT(sp, dgram_dropped, 1);
			kc_chain_free(&c);
			continue;
		}
		(void)kc_chain_copyout(&c, 0, buf, (size_t)n);
		kc_chain_free(&c);
		if (dq_push(d, buf, (size_t)n) != 0)
			COUNT(sp, dgram_dropped, 1);
	}
	kc_chain_free(&c);
	free(buf);
}
