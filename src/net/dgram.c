/*
 * dgram.c: datagrams in batches (net/dgram.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "net/dgram.h"

static pthread_key_t dg_key;
static pthread_once_t dg_once = PTHREAD_ONCE_INIT;
static __thread struct kc__dgbatch *dg_batch;

static void
dg_exit(void *p)
{
	free(p);
	dg_batch = NULL;
}

static void
dg_setup(void)
{
	(void)pthread_key_create(&dg_key, dg_exit);
}

struct kc__dgbatch *
kc__dgbatch(void)
{
	struct kc__dgbatch *b = dg_batch;
	unsigned i;

	if (b != NULL)
		return b;
	(void)pthread_once(&dg_once, dg_setup);
	if ((b = malloc(sizeof(*b))) == NULL)
		return NULL;
	for (i = 0; i < KC__DG_BATCH; i++) {
		b->iov[i].iov_base = b->data[i];
		b->iov[i].iov_len = KC__DG_SLOT;
	}
	dg_batch = b;
	(void)pthread_setspecific(dg_key, b);
	return b;
}

void
kc__dgbatch_arm(struct kc__dgbatch *b, bool names)
{
	unsigned i;

	memset(b->mh, 0, sizeof(b->mh));
	for (i = 0; i < KC__DG_BATCH; i++) {
		b->iov[i].iov_len = KC__DG_SLOT;
		b->mh[i].msg_hdr.msg_iov = &b->iov[i];
		b->mh[i].msg_hdr.msg_iovlen = 1;
		if (names) {
			b->mh[i].msg_hdr.msg_name = &b->from[i].a;
			b->mh[i].msg_hdr.msg_namelen = sizeof(b->from[i].a);
		}
	}
}

void
kc__dgbatch_out(struct kc__dgbatch *b, unsigned n, void *base, size_t len)
{
	memset(&b->out[n], 0, sizeof(b->out[n]));
	b->oiov[n].iov_base = base;
	b->oiov[n].iov_len = len;
	b->out[n].msg_hdr.msg_iov = &b->oiov[n];
	b->out[n].msg_hdr.msg_iovlen = 1;
}

void
kc__dg_send_all(int fd, struct mmsghdr *out, unsigned n,
    struct kc__dgsent *ds)
{
	unsigned k = 0, j;

	while (k < n) {
		int sent = sendmmsg(fd, out + k, n - k,
		    MSG_DONTWAIT | MSG_NOSIGNAL);

		if (sent > 0) {
			for (j = k; j < k + (unsigned)sent; j++)
				ds->ds_bytes += out[j].msg_len;
			ds->ds_sent += (unsigned)sent;
			k += (unsigned)sent;
			continue;
		}
		if (errno == EINTR)
			continue;
		ds->ds_lost++;
		ds->ds_lostbytes += out[k].msg_hdr.msg_iov->iov_len;
		k++;
	}
}
