/*
 * sockdgram.c: the datagram protocol of owned sockets (sock_int.h).
 *
 * Each datagram received or queued to send is a record (struct dgram)
 * with its chain and address, on the socket's so_rdg or so_sdg list;
 * boundaries are kept, a datagram too long for a reader is truncated as
 * recv(2) truncates, and one the descriptor refuses for good is dropped
 * (a datagram is never half sent).  Buffer accounting counts DGRAM_COST
 * per record beyond its bytes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "net/sock_int.h"

/* Datagram queues (so_rdg, so_sdg): the oldest first. */
static struct dgram *
dgq_first(struct kc__list *q)
{
	return KC__LIST_FIRST(q, struct dgram, d_link);
}

/* Free every datagram of q. */
static void
dgq_free(struct kc__list *q)
{
	struct kc__link *lk;

	while ((lk = kc__list_pop_head(q)) != NULL) {
		struct dgram *d = KC__LIST_ITEM(lk, struct dgram, d_link);

		kc_chain_free(&d->d_chain);
		free(d);
	}
}

static ssize_t
dgram_take(struct kc_socket *s, struct kc_chain *into, size_t max,
    struct kc_sockaddr *from)
{
	unsigned st = st_load(s);
	struct dgram *d = dgq_first(&s->so_rdg);
	size_t len;

	if (d == NULL) {
		if (st & KC_SS_ERROR)
			return __atomic_load_n(&s->so_ep.ep_error, __ATOMIC_ACQUIRE);
		return (st & KC_SS_CANTRCVMORE) ? 0 : -EAGAIN;
	}
	kc__list_remove(&s->so_rdg, &d->d_link);
	len = kc_chain_len(&d->d_chain);
	rcv_add(s, -(ssize_t)(len + DGRAM_COST));
	if (len > max) {
		/* Truncated, as recv(2) truncates: the rest is dropped. */
		struct kc_chain rest = KC_CHAIN_INITIALIZER;

		if (kc_chain_reserve(&d->d_chain, 1) == 0)
			(void)kc_chain_split(&d->d_chain, max, &rest);
		kc_chain_free(&rest);
		len = kc_chain_len(&d->d_chain);
	}
	kc_chain_concat(into, &d->d_chain);
	if (from != NULL) {
		if (d->d_hasaddr)
			*from = d->d_addr;
		else
			memset(from, 0, sizeof(*from));
	}
	kc_chain_free(&d->d_chain);	/* its spare views */
	free(d);
	return (ssize_t)len;
}

static bool
dgram_readable(const struct kc_socket *s)
{
	return !kc__list_empty(&s->so_rdg);
}

static int
dgram_send_check(const struct kc_socket *s, const struct kc_chain *c,
    const struct kc_sockaddr *to, unsigned st)
{
	if (kc_chain_len(c) > DGRAM_MAX)
		return -EMSGSIZE;
	if (to == NULL && !(st & KC_SS_CONNECTED))
		return -ENOTCONN;
	if (to != NULL && to->a.sa.sa_family != s->so_ep.ep_domain)
		return -EAFNOSUPPORT;
	return 0;
}

static void
dgram_input(struct kc_socket *s)
{
	int i;

	if (s->so_scratch == NULL &&
	    (s->so_scratch = malloc(DGRAM_MAX + 1)) == NULL)
		return;		/* the next edge retries */
	for (i = 0; i < READ_BATCH; i++) {
		struct dgram *d;
		struct kc_seg *seg;
		struct msghdr mh;
		struct iovec iov;
		ssize_t n;

		if (s->so_rcvbytes >= s->so_attr.rcv_hiwat) {
			s->so_rstopped = true;
			return;
		}
		d = calloc(1, sizeof(*d));
		if (d == NULL)
			return;
		memset(&mh, 0, sizeof(mh));
		iov.iov_base = s->so_scratch;
		iov.iov_len = DGRAM_MAX + 1;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_name = &d->d_addr.a;
		mh.msg_namelen = sizeof(d->d_addr.a);
		n = recvmsg(so_fd(s), &mh, MSG_DONTWAIT);
		if (n < 0) {
			int err = errno;

			free(d);
			if (err == EAGAIN || err == EINTR)
				return;
			/* An ICMP error on a connected datagram socket. */
			if (err == ECONNREFUSED)
				continue;
			kc__sock_error(s, -err);
			return;
		}
		(void)KC__TR3(KC_TR_SOCK_RECV, s, so_fd(s), n);
		d->d_addr.len = mh.msg_namelen;
		d->d_hasaddr = mh.msg_namelen > 0;
		kc_chain_init(&d->d_chain);
		if (n > 0) {
			if (kc_seg_alloc(&seg, (size_t)n) != 0) {
				free(d);
				return;
			}
			memcpy(kc_seg_data(seg), s->so_scratch, (size_t)n);
			if (kc_chain_append_seg(&d->d_chain, seg, 0,
			    (size_t)n) != 0) {
				kc_seg_unref(seg);
				free(d);
				return;
			}
			kc_seg_unref(seg);
		}
		kc__list_push_tail(&s->so_rdg, &d->d_link);
		rcv_add(s, n + DGRAM_COST);
	}
	kc__sock_more_later(s);
}

static int
dgram_queue(struct kc_socket *s, struct kc_chain *c,
    const struct kc_sockaddr *to)
{
	struct dgram *d = calloc(1, sizeof(*d));
	size_t len = kc_chain_len(c);

	if (d == NULL)
		return -ENOMEM;
	kc_chain_init(&d->d_chain);
	kc_chain_concat(&d->d_chain, c);
	if (to != NULL) {
		d->d_addr = *to;
		d->d_hasaddr = true;
	}
	kc__list_push_tail(&s->so_sdg, &d->d_link);
	snd_add(s, (ssize_t)(len + DGRAM_COST));
	return 0;
}

static bool
dgram_output(struct kc_socket *s)
{
	struct dgram *d;

	while ((d = dgq_first(&s->so_sdg)) != NULL) {
		struct iovec iov[64];
		struct msghdr mh;
		size_t len = kc_chain_len(&d->d_chain), bytes;
		ssize_t n;
		int niov = kc_chain_iov(&d->d_chain, iov, 64, &bytes);

		if (bytes < len) {
			(void)kc_chain_copyout(&d->d_chain, 0, s->so_scratch,
			    len);
			iov[0].iov_base = s->so_scratch;
			iov[0].iov_len = len;
			niov = 1;
		}
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = iov;
		mh.msg_iovlen = (size_t)niov;
		if (d->d_hasaddr) {
			mh.msg_name = &d->d_addr.a;
			mh.msg_namelen = d->d_addr.len;
		}
		n = sendmsg(so_fd(s), &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == ENOBUFS)) {
			s->so_wblocked = true;
			/* ENOBUFS is no full buffer: no edge will say it passed. */
			kc__ep_want_write(&s->so_ep, errno == EAGAIN);
			return true;
		}
		if (n < 0 && errno == EINTR)
			continue;
		/* Sent, or refused for good (a datagram is never half sent). */
		if (n >= 0)
			(void)KC__TR3(KC_TR_SOCK_SEND, s, so_fd(s), n);
		kc__list_remove(&s->so_sdg, &d->d_link);
		snd_add(s, -(ssize_t)(len + DGRAM_COST));
		kc_chain_free(&d->d_chain);
		free(d);
	}
	return true;
}

static void
dgram_drop(struct kc_socket *s, bool rcv)
{
	dgq_free(rcv ? &s->so_rdg : &s->so_sdg);
}

const struct kc__sock_proto kc__sock_dgram = {
	.sp_stream = false,
	.sp_input = dgram_input,
	.sp_take = dgram_take,
	.sp_readable = dgram_readable,
	.sp_send_check = dgram_send_check,
	.sp_queue = dgram_queue,
	.sp_output = dgram_output,
	.sp_drop = dgram_drop,
};
