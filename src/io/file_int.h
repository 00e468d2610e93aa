/*
 * file_int.h: what the library's other modules (the block cache,
 * sendfile) may use of a kc_file, below its public front (kcont/io.h).
 * The kc_file_* functions there are these, with the same arguments and
 * results, where both exist.
 */
#ifndef KC_IO_FILE_INT_H
#define KC_IO_FILE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kc;
struct kc_executor;
struct kc_file;
struct kc_file_req;
struct kc__ring;

/* kc_file_read() (write false) and kc_file_write() (write true). */
int	kc__file_rw(struct kc_file_req *rq, struct kc_file *f, bool write,
	    const void *buf, size_t len, uint64_t off, struct kc *done);
/* kc_file_sync(). */
int	kc__file_sync(struct kc_file_req *rq, struct kc_file *f,
	    unsigned flags, struct kc *done);
/* kc_file_fd(): the descriptor, or -EBADF once the file is closing. */
int	kc__file_fd(const struct kc_file *f);

/*
 * Count a use of f that is not a request (a sendfile in progress): its
 * close waits until every hold is released.  0, -EINVAL (not a file),
 * -EBADF (closing).  Any thread.  kc__file_release() may start the close
 * (on the calling thread), and f may be gone when it returns.
 */
int	kc__file_hold(struct kc_file *f);
void	kc__file_release(struct kc_file *f);

/* f's owner, and its ring (NULL: f uses the fallback); NULL if not a file. */
struct kc_executor *kc__file_owner(const struct kc_file *f);
struct kc__ring *kc__file_ring(const struct kc_file *f);

#endif
