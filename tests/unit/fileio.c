/*
 * unit-fileio: kc_file operations on real files in a private directory,
 * through io_uring, and (unit-fileio-fallback: KCONT_IO_FALLBACK=1) through
 * the blocking fallback, with the same checks.
 *
 * Each operation's continuation runs on a soft executor; the test thread
 * starts operations (the hand-off path) and waits for their results, and
 * the model test drives 10^5 operations from the continuations themselves
 * (the owner's path, batched into the ring).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <sched.h>
#include <unistd.h>

#include <linux/falloc.h>

#include <kcont.h>

#include "kctest.h"

static struct kc_executor *ex;
static char dir[PATH_MAX];
static bool fallback;

/* One operation that the test thread waits for. */
struct op {
	struct kc_file_req	 rq;
	struct kc		 kc;
	atomic_int		 done;
	void			*obj;
	int			 status;
	struct kc_executor	*ran_on;
};

static void
op_fn(void *obj, void *env, int status)
{
	struct op *o = env;

	o->obj = obj;
	o->status = status;
	o->ran_on = kc_executor_current();
	atomic_store(&o->done, 1);
}

static void
op_init(struct op *o)
{
	memset(o, 0, sizeof(*o));
	KC_CHECK_OK(kc_init(&o->kc, op_fn, o, ex, 0));
}

static int
op_wait(struct op *o)
{
	KCT_WAIT(atomic_load(&o->done), 30);
	KC_CHECK_PTR_EQ(o->ran_on, ex);
	atomic_store(&o->done, 0);
	return o->status;
}

static struct kc_file *
open_file(const char *name, int flags, int *status)
{
	char path[PATH_MAX + 64];
	struct op o;

	op_init(&o);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	KC_CHECK_OK(kc_file_open(&o.rq, ex, AT_FDCWD, path, flags, 0600,
	    0, &o.kc));
	*status = op_wait(&o);
	if (*status == 0)
		KC_CHECK(o.obj != NULL);
	else
		KC_CHECK(o.obj == NULL);
	return o.obj;
}

static void
close_file(struct kc_file *f)
{
	struct op o;

	op_init(&o);
	KC_CHECK_OK(kc_file_close(f, &o.rq, &o.kc));
	KC_CHECK_EQ(op_wait(&o), 0);
	KC_CHECK_PTR_EQ(o.obj, f);
}

static int
do_read(struct kc_file *f, void *buf, size_t len, uint64_t off)
{
	struct op o;

	op_init(&o);
	KC_CHECK_OK(kc_file_read(&o.rq, f, buf, len, off, &o.kc));
	return op_wait(&o);
}

static int
do_write(struct kc_file *f, const void *buf, size_t len, uint64_t off)
{
	struct op o;

	op_init(&o);
	KC_CHECK_OK(kc_file_write(&o.rq, f, buf, len, off, &o.kc));
	return op_wait(&o);
}

static void
fill(uint8_t *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 31u + i * 7u + (i >> 8));
}

/* Reads, writes, short reads at the end, past the end, extending writes. */
static void
test_rw(void)
{
	static uint8_t a[10000], b[10000];
	struct statx stx;
	struct kc_file *f;
	struct op o;
	struct iovec iov[3];
	uint8_t v1[100], v2[200], v3[300];
	int st;

	f = open_file("rw", O_RDWR | O_CREAT | O_TRUNC, &st);
	KC_CHECK_EQ(st, 0);
	KC_CHECK_EQ(kc_file_uring(f), fallback ? 0 : 1);
	KC_CHECK_GE(kc_file_fd(f), 0);
	fill(a, sizeof(a), 1);
	KC_CHECK_EQ(do_write(f, a, sizeof(a), 0), (int)sizeof(a));
	memset(b, 0, sizeof(b));
	KC_CHECK_EQ(do_read(f, b, sizeof(b), 0), (int)sizeof(b));
	KC_CHECK(memcmp(a, b, sizeof(a)) == 0);
	/* Short read at the end of file: what there was, as it was. */
	KC_CHECK_EQ(do_read(f, b, 100, 9950), 50);
	KC_CHECK(memcmp(b, a + 9950, 50) == 0);
	/* Past the end: 0. */
	KC_CHECK_EQ(do_read(f, b, 100, 20000), 0);
	/* A write that extends, leaving a hole. */
	KC_CHECK_EQ(do_write(f, a, 1000, 30000), 1000);
	op_init(&o);
	KC_CHECK_OK(kc_file_statx(&o.rq, f, STATX_SIZE, &stx, &o.kc));
	KC_CHECK_EQ(op_wait(&o), 0);
	KC_CHECK_EQ(stx.stx_size, 31000);
	KC_CHECK_EQ(do_read(f, b, 100, 15000), 100);
	KC_CHECK(b[0] == 0 && b[99] == 0);
	/* writev then readv, scattered. */
	fill(v1, sizeof(v1), 2);
	fill(v2, sizeof(v2), 3);
	fill(v3, sizeof(v3), 4);
	iov[0] = (struct iovec){ v1, sizeof(v1) };
	iov[1] = (struct iovec){ v2, sizeof(v2) };
	iov[2] = (struct iovec){ v3, sizeof(v3) };
	op_init(&o);
	KC_CHECK_OK(kc_file_writev(&o.rq, f, iov, 3, 5000, &o.kc));
	KC_CHECK_EQ(op_wait(&o), 600);
	KC_CHECK_EQ(do_read(f, b, 600, 5000), 600);
	KC_CHECK(memcmp(b, v1, 100) == 0 && memcmp(b + 100, v2, 200) == 0 &&
	    memcmp(b + 300, v3, 300) == 0);
	memset(v1, 0, sizeof(v1));
	memset(v2, 0, sizeof(v2));
	memset(v3, 0, sizeof(v3));
	op_init(&o);
	KC_CHECK_OK(kc_file_readv(&o.rq, f, iov, 3, 5000, &o.kc));
	KC_CHECK_EQ(op_wait(&o), 600);
	KC_CHECK(memcmp(b, v1, 100) == 0 && memcmp(b + 100, v2, 200) == 0 &&
	    memcmp(b + 300, v3, 300) == 0);
	/* fsync and fdatasync. */
	op_init(&o);
	KC_CHECK_OK(kc_file_sync(&o.rq, f, 0, &o.kc));
	KC_CHECK_EQ(op_wait(&o), 0);
	KC_CHECK_OK(kc_file_sync(&o.rq, f, KC_FILE_DATASYNC, &o.kc));
	KC_CHECK_EQ(op_wait(&o), 0);
	KC_CHECK_EQ(kc_file_sync(&o.rq, f, 0x80, &o.kc), -EINVAL);
	/* Punch a hole: zeros there, the size kept. */
	op_init(&o);
	KC_CHECK_OK(kc_file_fallocate(&o.rq, f, FALLOC_FL_PUNCH_HOLE |
	    FALLOC_FL_KEEP_SIZE, 0, 4096, &o.kc));
	KC_CHECK_EQ(op_wait(&o), 0);
	KC_CHECK_EQ(do_read(f, b, 4096, 0), 4096);
	KC_CHECK(b[0] == 0 && b[4095] == 0);
	KC_CHECK_EQ(do_read(f, b, 10, 4096), 10);
	KC_CHECK(memcmp(b, a + 4096, 10) == 0);
	close_file(f);
}

/* A request in use (a read of an empty pipe) cannot be started again. */
static void
test_busy(void)
{
	struct kc_file *f;
	struct op o;
	char b[8];
	int p[2];

	KC_CHECK_OK(pipe2(p, O_CLOEXEC));
	KC_CHECK_OK(kc_file_adopt(&f, ex, p[0], 0));
	op_init(&o);
	KC_CHECK_OK(kc_file_read(&o.rq, f, b, sizeof(b), 0, &o.kc));
	KC_CHECK_EQ(kc_file_read(&o.rq, f, b, sizeof(b), 0, &o.kc), -EBUSY);
	KC_CHECK_EQ(write(p[1], "abc", 3), 3);
	KC_CHECK_EQ(op_wait(&o), 3);
	close_file(f);
	close(p[1]);
}

/* Errors, each reaching the continuation (or refused at once). */
static void
test_errors(void)
{
	struct kc_file *f, *d;
	struct op o;
	char b[16];
	int st;

	/* ENOENT: no file, obj NULL. */
	KC_CHECK(open_file("nonexistent", O_RDONLY, &st) == NULL);
	KC_CHECK_EQ(st, -ENOENT);
	/* EBADF: writing to a file opened read-only. */
	f = open_file("rw", O_RDONLY, &st);
	KC_CHECK_EQ(st, 0);
	KC_CHECK_EQ(do_write(f, "x", 1, 0), -EBADF);
	close_file(f);
	/* EISDIR: reading a directory. */
	d = open_file(".", O_RDONLY | O_DIRECTORY, &st);
	KC_CHECK_EQ(st, 0);
	KC_CHECK_EQ(do_read(d, b, sizeof(b), 0), -EISDIR);
	close_file(d);
	/* EINVAL at once: bad arguments; EBADF after close. */
	f = open_file("rw", O_RDONLY, &st);
	op_init(&o);
	KC_CHECK_EQ(kc_file_read(&o.rq, f, NULL, 10, 0, &o.kc), -EINVAL);
	KC_CHECK_EQ(kc_file_read(&o.rq, f, b, 10, 0, NULL), -EINVAL);
	KC_CHECK_EQ(kc_file_read(NULL, f, b, 10, 0, &o.kc), -EINVAL);
	KC_CHECK_EQ(kc_file_read(&o.rq, f, b, 0x80000000ul, 0, &o.kc),
	    -EINVAL);
	KC_CHECK_EQ(kc_file_readv(&o.rq, f, NULL, 1, 0, &o.kc), -EINVAL);
	KC_CHECK_EQ(kc_file_open(&o.rq, ex, AT_FDCWD, "x", 0, 0, 0x100,
	    &o.kc), -EINVAL);
	close_file(f);
}

/* RLIMIT_FSIZE: a write past it gives EFBIG (and SIGXFSZ, ignored). */
static void
test_efbig(void)
{
	struct rlimit old, lim;
	struct kc_file *f;
	char b[8192];
	int st;

	memset(b, 'z', sizeof(b));
	f = open_file("big", O_RDWR | O_CREAT | O_TRUNC, &st);
	KC_CHECK_EQ(st, 0);
	KC_CHECK_OK(getrlimit(RLIMIT_FSIZE, &old));
	lim = old;
	lim.rlim_cur = 4096;
	KC_CHECK_OK(setrlimit(RLIMIT_FSIZE, &lim));
	KC_CHECK_EQ(do_write(f, b, 4096, 4096), -EFBIG);
	/* Within the limit, a write that crosses it is cut short. */
	KC_CHECK_EQ(do_write(f, b, 8192, 0), 4096);
	KC_CHECK_OK(setrlimit(RLIMIT_FSIZE, &old));
	close_file(f);
}

/*
 * Buffer chains: a read appends to the chain (short at the end, nothing
 * past it); a write of a chain of many views (several batches of
 * KC_FILE_NIOV) lands whole and in order; under RLIMIT_FSIZE a chain
 * write that crosses the limit reports what was written.
 */
static void
test_chain(void)
{
	static uint8_t data[100000], back[100000];
	struct kc_chain c = KC_CHAIN_INITIALIZER, w = KC_CHAIN_INITIALIZER;
	struct rlimit old, lim;
	struct kc_file *f;
	struct op o;
	size_t off;
	int st, i;

	fill(data, sizeof(data), 5);
	f = open_file("chain", O_RDWR | O_CREAT | O_TRUNC, &st);
	KC_CHECK_EQ(st, 0);
	KC_CHECK_EQ(pwrite(kc_file_fd(f), data, sizeof(data), 0),
	    (ssize_t)sizeof(data));
	KC_CHECK_OK(kc_chain_append(&c, "hdr", 3));
	op_init(&o);
	KC_CHECK_OK(kc_file_read_chain(&o.rq, f, &c, 40000, 10, &o.kc));
	KC_CHECK_EQ(op_wait(&o), 40000);
	KC_CHECK_EQ(kc_chain_len(&c), 40003);
	KC_CHECK_EQ(kc_chain_copyout(&c, 0, back, 40003), 40003);
	KC_CHECK(memcmp(back, "hdr", 3) == 0);
	KC_CHECK(memcmp(back + 3, data + 10, 40000) == 0);
	/* Short at the end of the file, then nothing. */
	KC_CHECK_OK(kc_file_read_chain(&o.rq, f, &c, 4096,
	    sizeof(data) - 100, &o.kc));
	KC_CHECK_EQ(op_wait(&o), 100);
	KC_CHECK_EQ(kc_chain_len(&c), 40103);
	KC_CHECK_OK(kc_file_read_chain(&o.rq, f, &c, 4096, sizeof(data) + 5,
	    &o.kc));
	KC_CHECK_EQ(op_wait(&o), 0);
	KC_CHECK_EQ(kc_chain_len(&c), 40103);
	KC_CHECK_EQ(kc_file_read_chain(&o.rq, f, &c, 0, 0, &o.kc), -EINVAL);
	KC_CHECK_EQ(kc_file_read_chain(&o.rq, f, NULL, 1, 0, &o.kc), -EINVAL);
	kc_chain_free(&c);

	/* 37 views of different sizes, each its own segment. */
	for (off = 0, i = 0; i < 37; i++) {
		struct kc_seg *sg;
		size_t n = 100 + (size_t)i * 97;

		KC_CHECK_OK(kc_seg_alloc(&sg, n));
		memcpy(kc_seg_data(sg), data + off, n);
		KC_CHECK_OK(kc_chain_append_seg(&w, sg, 0, n));
		kc_seg_unref(sg);
		off += n;
	}
	KC_CHECK_OK(kc_file_write_chain(&o.rq, f, &w, 50000, &o.kc));
	KC_CHECK_EQ(op_wait(&o), (int)off);
	KC_CHECK_EQ(kc_chain_len(&w), off);	/* unchanged */
	KC_CHECK_EQ(pread(kc_file_fd(f), back, off, 50000), (ssize_t)off);
	KC_CHECK(memcmp(back, data, off) == 0);
	/* An empty chain writes nothing. */
	KC_CHECK_OK(kc_file_write_chain(&o.rq, f, &c, 0, &o.kc));
	KC_CHECK_EQ(op_wait(&o), 0);

	/* Crossing RLIMIT_FSIZE: the batches before count, then EFBIG. */
	KC_CHECK_OK(getrlimit(RLIMIT_FSIZE, &old));
	lim = old;
	lim.rlim_cur = 150000;
	KC_CHECK_OK(setrlimit(RLIMIT_FSIZE, &lim));
	KC_CHECK_OK(kc_file_write_chain(&o.rq, f, &w, 140000, &o.kc));
	KC_CHECK_EQ(op_wait(&o), 10000);
	KC_CHECK_OK(kc_file_write_chain(&o.rq, f, &w, 150000, &o.kc));
	KC_CHECK_EQ(op_wait(&o), -EFBIG);
	KC_CHECK_OK(setrlimit(RLIMIT_FSIZE, &old));
	KC_CHECK_EQ(pread(kc_file_fd(f), back, 10000, 140000), 10000);
	KC_CHECK(memcmp(back, data, 10000) == 0);
	kc_chain_free(&w);
	close_file(f);
}

/*
 * O_DIRECT: a misaligned buffer is EINVAL from the kernel, reported; an
 * aligned one works.  The test directory's file system must take
 * O_DIRECT (ext4, xfs, tmpfs since Linux 6.6 do).
 */
static void
test_direct(void)
{
	struct kc_file *f;
	uint8_t *p = NULL;
	int st;

	f = open_file("direct", O_RDWR | O_CREAT | O_TRUNC | O_DIRECT, &st);
	if (st != 0)
		fprintf(stderr, "O_DIRECT open in %s: %s\n", dir,
		    strerror(-st));
	KC_CHECK_EQ(st, 0);
	KC_CHECK_OK(posix_memalign((void **)&p, 4096, 3 * 4096));
	fill(p, 3 * 4096, 9);
	KC_CHECK_EQ(do_write(f, p, 8192, 0), 8192);
	KC_CHECK_EQ(do_write(f, p + 1, 4096, 0), -EINVAL);
	KC_CHECK_EQ(do_read(f, p + 1, 4096, 0), -EINVAL);
	KC_CHECK_EQ(do_read(f, p + 8192, 4096, 4096), 4096);
	KC_CHECK(memcmp(p + 8192, p + 4096, 4096) == 0);
	free(p);
	close_file(f);
}

/* /dev/full: every write is ENOSPC, from the kernel, through the layer. */
static void
test_devfull(void)
{
	struct kc_file *f;
	struct op o;
	int st;

	op_init(&o);
	KC_CHECK_OK(kc_file_open(&o.rq, ex, AT_FDCWD, "/dev/full", O_WRONLY,
	    0, 0, &o.kc));
	KC_CHECK_EQ(op_wait(&o), 0);
	f = o.obj;
	KC_CHECK_EQ(do_write(f, "x", 1, 0), -ENOSPC);
	close_file(f);
	(void)st;
}

/*
 * A full file system: a 64 KiB tmpfs mounted in a mount namespace of a
 * child's own (made before any thread exists; root, or an unprivileged
 * user namespace).  A write that crosses the end is short; the next is
 * ENOSPC; a write within what is allocated still works.  The child
 * reports through its exit status.
 */
static int
enospc_child(const char *mnt)
{
	struct kc_executor *cex;
	struct kc_file *f;
	struct op o;
	static char b[128 * 1024];
	char path[PATH_MAX + 32];
	int st, n;

	if (unshare(getuid() == 0 ? CLONE_NEWNS :
	    CLONE_NEWUSER | CLONE_NEWNS) != 0) {
		fprintf(stderr, "enospc: unshare: %s\n", strerror(errno));
		return 2;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mount("kcfile", mnt, "tmpfs", 0, "size=64k") != 0) {
		fprintf(stderr, "enospc: mount: %s\n", strerror(errno));
		return 3;
	}
	cex = ex = kct_exec_soft("kc-fileio-nospc");
	snprintf(path, sizeof(path), "%s/full", mnt);
	memset(b, 'q', sizeof(b));
	op_init(&o);
	KC_CHECK_OK(kc_file_open(&o.rq, ex, AT_FDCWD, path,
	    O_RDWR | O_CREAT, 0600, 0, &o.kc));
	KC_CHECK_EQ(op_wait(&o), 0);
	f = o.obj;
	n = do_write(f, b, sizeof(b), 0);
	KC_CHECK(n > 0 && n < (int)sizeof(b));
	KC_CHECK_EQ(do_write(f, b, 4096, (uint64_t)n), -ENOSPC);
	KC_CHECK_EQ(do_write(f, b, 100, 0), 100);
	close_file(f);
	kct_exec_finish(cex);
	(void)st;
	return kct_done();
}

static void
test_enospc(void)
{
	char mnt[PATH_MAX + 16];
	pid_t pid;
	int ws;

	snprintf(mnt, sizeof(mnt), "%s/small", dir);
	KC_CHECK_OK(mkdir(mnt, 0700));
	fflush(NULL);
	KC_CHECK((pid = fork()) >= 0);
	if (pid == 0)
		_exit(enospc_child(mnt));
	KC_CHECK_EQ(waitpid(pid, &ws, 0), pid);
	KC_CHECK(WIFEXITED(ws));
	KC_CHECK_EQ(WEXITSTATUS(ws), 0);
}

/*
 * Cancel: five reads of empty pipes are pending (the fallback's four
 * threads each blocked in one, the fifth queued behind them); the fifth is
 * cancelled and reports -ECANCELED; the others get the bytes written later.
 */
static void
test_cancel(void)
{
	struct kc_file *f[5];
	struct op o[5];
	int p[5][2], i;
	char b[5][8];

	for (i = 0; i < 5; i++) {
		KC_CHECK_OK(pipe2(p[i], O_CLOEXEC));
		KC_CHECK_OK(kc_file_adopt(&f[i], ex, p[i][0], 0));
		op_init(&o[i]);
	}
	for (i = 0; i < 5; i++)
		KC_CHECK_OK(kc_file_read(&o[i].rq, f[i], b[i], sizeof(b[i]),
		    0, &o[i].kc));
	/* Give the reads time to be taken (the test is right either way). */
	kct_sleep_ns(50 * KCT_NSEC_PER_MSEC);
	KC_CHECK_OK(kc_file_cancel(&o[4].rq));
	KC_CHECK_EQ(op_wait(&o[4]), -ECANCELED);
	KC_CHECK_EQ(kc_file_cancel(&o[4].rq), -ENOENT);
	for (i = 0; i < 4; i++) {
		KC_CHECK_EQ(write(p[i][1], "hello", 5), 5);
		KC_CHECK_EQ(op_wait(&o[i]), 5);
		KC_CHECK(memcmp(b[i], "hello", 5) == 0);
	}
	for (i = 0; i < 5; i++) {
		close_file(f[i]);
		close(p[i][1]);
	}
}

/* Close while operations are in flight: they finish first, then done. */
struct closing {
	struct op	 reads[16];
	struct op	 cl;
	atomic_int	 order;		/* reads done when close's done ran */
};

static struct closing *closing_now;

static void
close_done_fn(void *obj, void *env, int status)
{
	struct closing *c = env;
	int i, n = 0;

	for (i = 0; i < 16; i++)
		n += atomic_load(&c->reads[i].done);
	atomic_store(&c->order, n);
	op_fn(obj, &c->cl, status);
}

static void
test_close_inflight(void)
{
	static uint8_t buf[16][4096];
	struct closing *c = calloc(1, sizeof(*c));
	struct kc_file *f;
	int st, i;

	KC_CHECK(c != NULL);
	closing_now = c;
	f = open_file("rw", O_RDONLY, &st);
	KC_CHECK_EQ(st, 0);
	for (i = 0; i < 16; i++) {
		op_init(&c->reads[i]);
		KC_CHECK_OK(kc_file_read(&c->reads[i].rq, f, buf[i], 4096,
		    (uint64_t)i * 4096, &c->reads[i].kc));
	}
	memset(&c->cl, 0, sizeof(c->cl));
	KC_CHECK_OK(kc_init(&c->cl.kc, close_done_fn, c, ex, 0));
	KC_CHECK_OK(kc_file_close(f, &c->cl.rq, &c->cl.kc));
	KC_CHECK_EQ(op_wait(&c->cl), 0);
	KC_CHECK_EQ(atomic_load(&c->order), 16);
	for (i = 0; i < 16; i++)
		KC_CHECK_GE(c->reads[i].status, 0);
	free(c);
}

/*
 * 10^5 random reads and writes against a model, driven from the
 * continuations on the owner (the ring's batched path): NINFLIGHT at once,
 * each on a block no other one in flight touches.  Each request is
 * allocated by the test and freed by its own continuation.
 */
#define MBLOCKS		256
#define MBLOCK		4096
#define NINFLIGHT	32

struct model {
	struct kc_file	*f;
	uint8_t		*mem;		/* what the file must hold */
	bool		 busy[MBLOCKS];
	uint64_t	 left, running, mismatches, errors, ops;
	atomic_int	 finished;
};

struct mreq {
	struct kc_file_req	 rq;
	struct kc		 kc;
	struct model		*m;
	unsigned		 blk, off, len;
	bool			 write;
	uint8_t			 buf[MBLOCK];
};

static void model_next(struct model *m);

static void
mreq_done(void *obj, void *env, int status)
{
	struct mreq *q = env;
	struct model *m = q->m;

	(void)obj;
	if (status != (int)q->len)
		m->errors++;
	else if (!q->write && memcmp(q->buf, m->mem + q->blk * MBLOCK + q->off,
	    q->len) != 0)
		m->mismatches++;
	m->busy[q->blk] = false;
	m->running--;
	free(q);		/* its own request */
	model_next(m);
}

static void
model_next(struct model *m)
{
	while (m->left > 0 && m->running < NINFLIGHT) {
		struct mreq *q = calloc(1, sizeof(*q));
		unsigned blk;

		KC_CHECK(q != NULL);
		do {
			blk = (unsigned)kct_rand_below(MBLOCKS);
		} while (m->busy[blk]);
		q->m = m;
		q->blk = blk;
		q->off = (unsigned)kct_rand_below(MBLOCK);
		q->len = 1 + (unsigned)kct_rand_below(MBLOCK - q->off);
		q->write = kct_rand_below(2) == 0;
		KC_CHECK_OK(kc_init(&q->kc, mreq_done, q, ex, 0));
		m->busy[blk] = true;
		m->running++;
		m->left--;
		m->ops++;
		if (q->write) {
			fill(q->buf, q->len, (unsigned)m->ops);
			memcpy(m->mem + blk * MBLOCK + q->off, q->buf, q->len);
			KC_CHECK_OK(kc_file_write(&q->rq, m->f, q->buf, q->len,
			    (uint64_t)blk * MBLOCK + q->off, &q->kc));
		} else {
			KC_CHECK_OK(kc_file_read(&q->rq, m->f, q->buf, q->len,
			    (uint64_t)blk * MBLOCK + q->off, &q->kc));
		}
	}
	if (m->left == 0 && m->running == 0)
		atomic_store(&m->finished, 1);
}

static void
model_start(void *obj, void *env, int status)
{
	(void)obj;
	(void)status;
	model_next(env);
}

static void
test_model(void)
{
	static uint8_t disk[MBLOCKS * MBLOCK];
	struct model m;
	struct kc start;
	struct kc_file *f;
	int st;

	memset(&m, 0, sizeof(m));
	m.mem = calloc(MBLOCKS, MBLOCK);
	KC_CHECK(m.mem != NULL);
	f = open_file("model", O_RDWR | O_CREAT | O_TRUNC, &st);
	KC_CHECK_EQ(st, 0);
	KC_CHECK_OK(ftruncate(kc_file_fd(f), MBLOCKS * MBLOCK));
	m.f = f;
	m.left = kct_sanitized() ? 20000 : 100000;
	KC_CHECK_OK(kc_init(&start, model_start, &m, ex, 0));
	KC_CHECK_OK(kc_run(&start, NULL, 0));
	KCT_WAIT(atomic_load(&m.finished), 120);
	KC_CHECK_EQ(m.errors, 0);
	KC_CHECK_EQ(m.mismatches, 0);
	/* The file's content, read back with the C library, is the model's. */
	KC_CHECK_EQ(pread(kc_file_fd(f), disk, sizeof(disk), 0),
	    (ssize_t)sizeof(disk));
	KC_CHECK(memcmp(disk, m.mem, sizeof(disk)) == 0);
	close_file(f);
	free(m.mem);
}

/*
 * A closed file is let go of: files on the ring are named by a slot in its
 * table of registered files, which holds them open until the slot is given
 * back.  The write end of a pipe, written through the file and closed,
 * gives the reader the bytes and then end of file (not EAGAIN: a file
 * still held).  More files at once than the table has slots (1024) work
 * too, on their descriptors, and the slots serve again after the closes.
 */
#define NSLOTFILES	1100

static void
test_slots(void)
{
	static int p[NSLOTFILES][2];
	static struct kc_file *f[NSLOTFILES];
	struct rlimit rl;
	char b[8];
	int round, i;

	KC_CHECK_OK(pipe2(p[0], O_CLOEXEC | O_NONBLOCK));
	KC_CHECK_OK(kc_file_adopt(&f[0], ex, p[0][1], 0));
	KC_CHECK_EQ(do_write(f[0], "abc", 3, 0), 3);
	close_file(f[0]);
	KC_CHECK_EQ(read(p[0][0], b, sizeof(b)), 3);
	KC_CHECK_EQ(read(p[0][0], b, sizeof(b)), 0);
	close(p[0][0]);

	KC_CHECK_OK(getrlimit(RLIMIT_NOFILE, &rl));
	if (rl.rlim_cur < 2 * NSLOTFILES + 64) {
		rl.rlim_cur = 2 * NSLOTFILES + 64;
		KC_CHECK_OK(setrlimit(RLIMIT_NOFILE, &rl));
	}
	for (round = 0; round < 2; round++) {
		for (i = 0; i < NSLOTFILES; i++) {
			KC_CHECK_OK(pipe2(p[i], O_CLOEXEC | O_NONBLOCK));
			KC_CHECK_OK(kc_file_adopt(&f[i], ex, p[i][1], 0));
			KC_CHECK_EQ(do_write(f[i], &i, sizeof(i), 0),
			    (int)sizeof(i));
		}
		for (i = 0; i < NSLOTFILES; i++) {
			int v = -1;

			close_file(f[i]);
			KC_CHECK_EQ(read(p[i][0], &v, sizeof(v)),
			    (ssize_t)sizeof(v));
			KC_CHECK_EQ(v, i);
			KC_CHECK_EQ(read(p[i][0], b, sizeof(b)), 0);
			close(p[i][0]);
		}
	}
}

int
main(void)
{
	const char *e = getenv("KCONT_IO_FALLBACK");

	kct_begin("unit-fileio", 240);
	fallback = e != NULL && strcmp(e, "1") == 0;
	signal(SIGXFSZ, SIG_IGN);
	kct_tmpdir(dir, sizeof(dir), "kcfile");
	/* Before any executor: the child may make a namespace. */
	test_enospc();
	ex = kct_exec_soft("kc-fileio");
	test_rw();
	test_busy();
	test_errors();
	test_efbig();
	test_devfull();
	test_chain();
	test_direct();
	test_cancel();
	test_close_inflight();
	test_model();
	test_slots();
	kct_exec_finish(ex);
	kct_rmtree(dir);
	return kct_done();
}
