/*
 * sendfile.c: kc_socket_sendfile(), a file range as an entry of an owned
 * stream socket's send queue (kcont/socket.h).
 *
 * The call holds the file (kc__file_hold: its close waits) and posts a
 * request to the socket's owner, which queues it with the sends, in
 * order.  When it reaches the head of the queue it becomes the socket's
 * so_sf: the send buffer takes nothing more until it has ended, so the
 * bytes queued before it are written first and the sends queued after it
 * wait on so_writers (socket.c).  Once the send buffer is empty the owner
 * moves the range, in one of two ways:
 *
 *   - ring (the file has io_uring, and so has the owner, with
 *     IORING_OP_SPLICE): one of the owner's pipes (pipepool.c) is filled
 *     from the file by a ring entry, which the kernel runs off the owner's
 *     thread when a page must be read from the disk, and its completion
 *     comes back to the owner's engine; the owner then splices the pipe
 *     into the socket, non-blocking, and asks for the next fill once the
 *     pipe is empty.  The owner never waits for the disk.
 *   - direct (the file uses the fallback, or no pipe or ring can be had):
 *     sendfile(2) into the non-blocking socket on the owner.  Page-cache
 *     hits cost one system call per chunk; a cold page is read with the
 *     owner's thread waiting for it.
 *
 * In both, a full socket (EAGAIN) waits for the socket's next write edge,
 * and a long range yields to the owner's other work every SF_BATCH bytes,
 * so a reader that stops reading or a fast one never starves the
 * executor.  splice(2) and sendfile(2) into a socket whose peer has gone
 * raise SIGPIPE (they have no MSG_NOSIGNAL); the owner is a thread of the
 * library's, which blocks every signal (executor.c), so it stays pending
 * there and is never delivered.
 *
 * Everything after the call runs on the owner.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include <liburing.h>

#include "io/file_int.h"
#include "io/ring.h"
#include "net/pipe.h"
#include "net/sock_int.h"

#define SF_BATCH	(4u * 1024u * 1024u)	/* bytes before yielding */
#define SF_CHUNK	0x7ffff000u		/* sendfile(2)'s largest */

struct kc__sf {
	kc__rcq_fn		*sf_cq;		/* the fill's completion (ring) */
	struct kc_socket	*sf_sock;
	struct sreq		*sf_req;
	struct kc_file		*sf_file;
	uint64_t		*sf_sentp;
	uint64_t		 sf_off;	/* next byte of the file to move */
	uint64_t		 sf_left;	/* bytes still to move into the socket */
	uint64_t		 sf_sent;	/* bytes the socket took */
	struct kc__ring		*sf_ring;	/* NULL: sendfile(2) */
	struct kc__pipe		*sf_pipe;
	size_t			 sf_inpipe;	/* filled, not yet spliced out */
	int			 sf_fd;		/* the file's descriptor */
	int			 sf_err;	/* a detached entry's end */
	bool			 sf_busy;	/* a fill is in flight */
	bool			 sf_eof;	/* the file ended */
	bool			 sf_detached;	/* ended while the fill was out */
};

static kc__rcq_fn sf_filled;

/* Errors of the connection, not of the file (sendfile(2) gives both). */
static bool
conn_error(int err)
{
	switch (err) {
	case EPIPE:
	case ECONNRESET:
	case ECONNABORTED:
	case ENOTCONN:
	case ETIMEDOUT:
	case EHOSTUNREACH:
	case EHOSTDOWN:
	case ENETUNREACH:
	case ENETDOWN:
	case ENETRESET:
		return true;
	}
	return false;
}

/*
 * The entry has ended (no fill in flight): the request is answered, which
 * frees it and sf (reply_async); neither may be touched after.
 */
static void
sf_end(struct kc__sf *sf, int err)
{
	int status;

	if (sf->sf_sock->so_sf == sf)
		sf->sf_sock->so_sf = NULL;
	if (err < 0)
		status = err;
	else
		status = sf->sf_sent > INT_MAX ? INT_MAX : (int)sf->sf_sent;
	if (sf->sf_pipe != NULL) {
		kc__pipe_put(sf->sf_pipe, sf->sf_inpipe == 0);
		sf->sf_pipe = NULL;
	}
	kc__sreq_answer(sf->sf_req, status);
}

void
kc__sf_start(struct kc_socket *s, struct sreq *r)
{
	struct kc__sf *sf = r->r_sf;
	int e;

	SOCK_ON_OWNER(s);
	KC__ASSERT(s->so_sf == NULL);
	s->so_sf = sf;
	if (sf->sf_left == 0)
		return;		/* kc__sf_output() ends it, in its turn */
	if (kc__file_ring(sf->sf_file) != NULL &&
	    (sf->sf_ring = kc__ring_of(s->so_owner, &e)) != NULL &&
	    kc__ring_has_op(sf->sf_ring, IORING_OP_SPLICE) &&
	    (sf->sf_pipe = kc__pipe_get(0)) != NULL)
		return;
	sf->sf_ring = NULL;
}

/* Ask the ring to fill the (empty) pipe from the file. */
static void
sf_fill(struct kc__sf *sf)
{
	struct io_uring_sqe *sqe;
	uint64_t len = sf->sf_left;

	if (len > sf->sf_pipe->p_size)
		len = sf->sf_pipe->p_size;
	sqe = kc__ring_sqe(sf->sf_ring, &sf->sf_cq);
	/*
	 * Blocking on the pipe is not an issue: it is empty and at most its
	 * capacity is asked for, and nothing else writes to it.
	 */
	io_uring_prep_splice(sqe, sf->sf_fd, (int64_t)sf->sf_off,
	    sf->sf_pipe->p_wr, -1, (unsigned)len, SPLICE_F_MOVE);
	sf->sf_busy = true;
	kc__sock_hold(sf->sf_sock);
}

/* The socket took no more (or the batch is spent): wait for room. */
static bool
sf_wait_room(struct kc_socket *s, bool after_eagain)
{
	s->so_wblocked = true;
	kc__ep_want_write(&s->so_ep, after_eagain);
	return true;
}

/* One step of the direct path: >0 moved, 0 end of file, -errno. */
static ssize_t
sf_direct(struct kc__sf *sf, int sfd)
{
	off_t off = (off_t)sf->sf_off;
	size_t len = sf->sf_left > SF_CHUNK ? SF_CHUNK : (size_t)sf->sf_left;
	ssize_t n = sendfile(sfd, sf->sf_fd, &off, len);

	return n >= 0 ? n : -errno;
}

bool
kc__sf_output(struct kc_socket *s)
{
	struct kc__sf *sf = s->so_sf;
	uint64_t moved = 0;
	ssize_t n;
	bool ok = true;

	SOCK_ON_OWNER(s);
	KC__ASSERT(sf != NULL);
	for (;;) {
		if (moved >= SF_BATCH) {
			ok = sf_wait_room(s, false);
			break;
		}
		if (sf->sf_inpipe > 0) {
			n = splice(sf->sf_pipe->p_rd, NULL, so_fd(s), NULL,
			    sf->sf_inpipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0) {
				sf->sf_inpipe -= (size_t)n;
				sf->sf_sent += (uint64_t)n;
				moved += (uint64_t)n;
				continue;
			}
			n = n < 0 ? -errno : -EPIPE;
		} else if (sf->sf_busy) {
			break;		/* the fill's completion goes on */
		} else if (sf->sf_left == 0 || sf->sf_eof) {
			sf_end(sf, 0);
			break;
		} else if (sf->sf_ring != NULL) {
			sf_fill(sf);
			break;
		} else {
			n = sf_direct(sf, so_fd(s));
			if (n > 0) {
				sf->sf_off += (uint64_t)n;
				sf->sf_left -= (uint64_t)n;
				sf->sf_sent += (uint64_t)n;
				moved += (uint64_t)n;
				continue;
			}
			if (n == 0) {
				sf->sf_eof = true;	/* shorter than asked */
				continue;
			}
			if (!conn_error((int)-n) && n != -EAGAIN &&
			    n != -EINTR) {
				sf_end(sf, (int)n);	/* the file's error */
				break;
			}
		}
		/* The socket's answer. */
		if (n == -EINTR)
			continue;
		if (n == -EAGAIN) {
			ok = sf_wait_room(s, true);
			break;
		}
		kc__sock_error(s, (int)n);	/* ends sf with it */
		ok = false;
		break;
	}
	return ok;
}

/* The ring filled the pipe (res bytes) or failed. */
static void
sf_filled(void *cq, int res)
{
	struct kc__sf *sf = (struct kc__sf *)(void *)
	    ((char *)cq - offsetof(struct kc__sf, sf_cq));
	struct kc_socket *s = sf->sf_sock;

	SOCK_ON_OWNER(s);
	sf->sf_busy = false;
	if (res > 0) {
		sf->sf_inpipe += (size_t)res;
		sf->sf_off += (uint64_t)res;
		sf->sf_left -= (uint64_t)res;
	} else if (res == 0) {
		sf->sf_eof = true;
	}
	if (sf->sf_detached) {
		sf_end(sf, sf->sf_err);
	} else if (res < 0 && res != -EINTR && res != -EAGAIN) {
		sf_end(sf, res);		/* the file's error */
		kc__sock_output(s);		/* the sends after it */
	} else {
		kc__sock_output(s);
	}
	kc__sock_rele(s);
}

void
kc__sf_fail(struct kc_socket *s, int err)
{
	struct kc__sf *sf = s->so_sf;

	SOCK_ON_OWNER(s);
	if (sf == NULL)
		return;
	s->so_sf = NULL;
	if (sf->sf_busy) {
		/* The pipe is the kernel's until the fill completes. */
		sf->sf_detached = true;
		sf->sf_err = err;
		return;
	}
	sf_end(sf, err);
}

void
kc__sf_reply(struct sreq *r)
{
	struct kc__sf *sf = r->r_sf;

	if (sf == NULL)
		return;
	if (sf->sf_sentp != NULL)
		*sf->sf_sentp = sf->sf_sent;
}

void
kc__sf_free(struct sreq *r)
{
	struct kc__sf *sf = r->r_sf;

	if (sf == NULL)
		return;
	r->r_sf = NULL;
	kc__file_release(sf->sf_file);
	free(sf);
}

int
kc_socket_sendfile(struct kc_socket *s, struct kc_file *f, uint64_t off,
    uint64_t length, uint64_t *sent, struct kc *done)
{
	struct kc__sf *sf;
	struct sreq *r;
	int e, fd;

	if (s == NULL || kc_socket_owner(s) == NULL || f == NULL ||
	    done == NULL || kc__file_owner(f) == NULL)
		return -EINVAL;
	if (!is_stream(s) || off > (uint64_t)INT64_MAX ||
	    length > (uint64_t)INT64_MAX - off)
		return -EINVAL;
	if ((e = kc__sock_send_check(s, false)) != 0)
		return e;
	if ((sf = malloc(sizeof(*sf))) == NULL)
		return -ENOMEM;
	if ((r = kc__sreq_new(s, OP_SENDFILE, done)) == NULL) {
		free(sf);
		return -ENOMEM;
	}
	/*
	 * The descriptor is taken now: a close started later waits for the
	 * hold, but kc__file_fd() would say -EBADF from then on.
	 */
	if ((e = kc__file_hold(f)) != 0) {
		free(r);
		free(sf);
		return e;
	}
	if ((fd = kc__file_fd(f)) < 0) {
		kc__file_release(f);
		free(r);
		free(sf);
		return fd;
	}
	*sf = (struct kc__sf){ .sf_cq = sf_filled, .sf_sock = s, .sf_req = r,
	    .sf_file = f, .sf_sentp = sent, .sf_off = off, .sf_left = length,
	    .sf_fd = fd };
	r->r_sf = sf;
	if ((e = kc__sreq_post(s, r)) != 0) {
		kc__file_release(f);
		free(r);
		free(sf);
		return e;
	}
	return 0;
}
