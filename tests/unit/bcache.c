/*
 * unit-bcache: the block cache (kc_bcache) on real files in a private
 * directory and on pipes, through io_uring, and (unit-bcache-fallback:
 * KCONT_IO_FALLBACK=1) through the blocking fallback, with the same checks.
 *
 * Every cache call is made on the cache's owner: the test thread sends
 * each step there (on_ex) and waits for the requests' continuations,
 * which belong to the owner too.
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
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <kcont.h>

#include "kctest.h"

static struct kc_executor *ex;
static char dir[PATH_MAX];

/* ---- running steps on the owner ---------------------------------- */

struct step {
	struct kc	 kc;
	void		(*fn)(void *);
	void		*arg;
	atomic_int	 done;
};

static void
step_fn(void *obj, void *env, int status)
{
	struct step *s = env;

	(void)obj;
	(void)status;
	s->fn(s->arg);
	atomic_store(&s->done, 1);
}

static void
on_ex(void (*fn)(void *), void *arg)
{
	struct step s;

	memset(&s, 0, sizeof(s));
	s.fn = fn;
	s.arg = arg;
	KC_CHECK_OK(kc_init(&s.kc, step_fn, &s, ex, 0));
	KC_CHECK_OK(kc_run(&s.kc, NULL, 0));
	KCT_WAIT(atomic_load(&s.done), 30);
	KCT_WAIT(kc_state(&s.kc) == KC_STATE_IDLE, 30);
}

/* One request the test waits for. */
struct treq {
	struct kc_bcache_req	 rq;
	struct kc		 kc;
	atomic_int		 runs;
	int			 status;
	uint32_t		 valid;
	const uint8_t		*expect;	/* what br_data must hold */
	size_t			 expect_len;
	bool			 put_in_done;
	struct kc_executor	*ran_on;
};

static void
treq_fn(void *obj, void *env, int status)
{
	struct treq *t = env;

	KC_CHECK_PTR_EQ(obj, &t->rq);
	t->status = status;
	t->ran_on = kc_executor_current();
	if (status == 0 && t->rq.br_data != NULL) {
		t->valid = t->rq.br_valid;
		if (t->expect != NULL)
			KC_CHECK(memcmp(t->rq.br_data, t->expect,
			    t->expect_len) == 0);
		if (t->put_in_done)
			KC_CHECK_OK(kc_bcache_put(&t->rq));
	}
	atomic_fetch_add(&t->runs, 1);
}

static void
treq_init(struct treq *t)
{
	memset(t, 0, sizeof(*t));
	KC_CHECK_OK(kc_init(&t->kc, treq_fn, t, ex, 0));
}

static int
treq_wait(struct treq *t)
{
	KCT_WAIT(atomic_load(&t->runs) > 0, 30);
	KC_CHECK_EQ(atomic_load(&t->runs), 1);
	KC_CHECK_PTR_EQ(t->ran_on, ex);
	atomic_store(&t->runs, 0);
	return t->status;
}

enum { C_GET, C_PUT, C_WRITE, C_FLUSH, C_DESTROY, C_STATS };

struct call {
	int			 op;
	struct kc_bcache	*c;
	struct treq		*t;
	uint64_t		 arg;
	const void		*buf;
	size_t			 len;
	int			 ret;
	struct kc_bcache_stats	 st;
};

static void
call_fn(void *arg)
{
	struct call *cl = arg;

	switch (cl->op) {
	case C_GET:
		cl->ret = kc_bcache_get(cl->c, &cl->t->rq, cl->arg, &cl->t->kc);
		break;
	case C_PUT:
		cl->ret = kc_bcache_put(&cl->t->rq);
		break;
	case C_WRITE:
		cl->ret = kc_bcache_write(cl->c, &cl->t->rq, cl->arg, cl->buf,
		    cl->len, &cl->t->kc);
		break;
	case C_FLUSH:
		cl->ret = kc_bcache_flush(cl->c, &cl->t->rq, &cl->t->kc);
		break;
	case C_DESTROY:
		cl->ret = kc_bcache_destroy(cl->c, &cl->t->rq, &cl->t->kc);
		break;
	default:
		cl->ret = kc_bcache_stats(cl->c, &cl->st);
		break;
	}
}

static int
call(int op, struct kc_bcache *c, struct treq *t, uint64_t arg,
    const void *buf, size_t len)
{
	struct call cl = { op, c, t, arg, buf, len, 0, { 0 } };

	on_ex(call_fn, &cl);
	return cl.ret;
}

static struct kc_bcache_stats
stats(struct kc_bcache *c)
{
	struct call cl = { C_STATS, c, NULL, 0, NULL, 0, 0, { 0 } };

	on_ex(call_fn, &cl);
	KC_CHECK_OK(cl.ret);
	return cl.st;
}

/* Start a get and wait for it: its status. */
static int
get_wait(struct kc_bcache *c, struct treq *t, uint64_t blk)
{
	KC_CHECK_OK(call(C_GET, c, t, blk, NULL, 0));
	return treq_wait(t);
}

static int
write_wait(struct kc_bcache *c, uint64_t off, const void *buf, size_t len)
{
	struct treq t;

	treq_init(&t);
	KC_CHECK_OK(call(C_WRITE, c, &t, off, buf, len));
	return treq_wait(&t);
}

static int
flush_wait(struct kc_bcache *c)
{
	struct treq t;

	treq_init(&t);
	KC_CHECK_OK(call(C_FLUSH, c, &t, 0, NULL, 0));
	return treq_wait(&t);
}

static int
destroy_wait(struct kc_bcache *c)
{
	struct treq t;

	treq_init(&t);
	KC_CHECK_OK(call(C_DESTROY, c, &t, 0, NULL, 0));
	return treq_wait(&t);
}

/* ---- files ------------------------------------------------------- */

struct op {
	struct kc_file_req	 rq;
	struct kc		 kc;
	atomic_int		 done;
	void			*obj;
	int			 status;
};

static void
op_fn(void *obj, void *env, int status)
{
	struct op *o = env;

	o->obj = obj;
	o->status = status;
	atomic_store(&o->done, 1);
}

static struct kc_file *
open_file(const char *name, int flags)
{
	char path[PATH_MAX + 64];
	struct op o;

	memset(&o, 0, sizeof(o));
	KC_CHECK_OK(kc_init(&o.kc, op_fn, &o, ex, 0));
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	KC_CHECK_OK(kc_file_open(&o.rq, ex, AT_FDCWD, path, flags, 0600, 0,
	    &o.kc));
	KCT_WAIT(atomic_load(&o.done), 30);
	KC_CHECK_EQ(o.status, 0);
	return o.obj;
}

static void
close_file(struct kc_file *f)
{
	struct op o;

	memset(&o, 0, sizeof(o));
	KC_CHECK_OK(kc_init(&o.kc, op_fn, &o, ex, 0));
	KC_CHECK_OK(kc_file_close(f, &o.rq, &o.kc));
	KCT_WAIT(atomic_load(&o.done), 30);
	KC_CHECK_EQ(o.status, 0);
}

static void
fill(uint8_t *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 131u + i * 7u + (i >> 8));
}

/* A file of len bytes of fill(seed), opened read-write. */
static struct kc_file *
make_file(const char *name, size_t len, unsigned seed, uint8_t **content)
{
	char path[PATH_MAX + 64];
	uint8_t *p = malloc(len + 1);
	int fd;

	KC_CHECK(p != NULL);
	fill(p, len, seed);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	KC_CHECK_GE(fd, 0);
	KC_CHECK_EQ(write(fd, p, len), (ssize_t)len);
	close(fd);
	if (content != NULL)
		*content = p;
	else
		free(p);
	return open_file(name, O_RDWR);
}

/* ---- 100 readers of one cold block ------------------------------- */

#define NREADERS	100

struct readers {
	struct kc_bcache	*c;
	struct treq		 t[NREADERS];
	uint64_t		 blk;
	int			 ret[NREADERS];
	int			 ran;		/* dones run before the last get */
};

static void
readers_start(void *arg)
{
	struct readers *r = arg;
	int i;

	for (i = 0; i < NREADERS; i++)
		r->ret[i] = kc_bcache_get(r->c, &r->t[i].rq, r->blk,
		    &r->t[i].kc);
	for (i = 0; i < NREADERS; i++)
		r->ran += atomic_load(&r->t[i].runs);
}

static void
readers_put(void *arg)
{
	struct readers *r = arg;
	int i;

	for (i = 0; i < NREADERS; i++)
		KC_CHECK_OK(kc_bcache_put(&r->t[i].rq));
}

/*
 * The block's file is a pipe: its read stays in flight until the test
 * writes, so all 100 gets find it in flight.  The test then writes two
 * blocks' worth, A then B: one read takes A; a second read of the block
 * would take B.  After the destroy (which waits for every read the cache
 * issued), the pipe must still hold B, whole: that counts the reads
 * without the cache's word for it.
 */
static void
test_readers_pipe(void)
{
	static uint8_t a[4096], b[4096], back[4096];
	struct readers *r = calloc(1, sizeof(*r));
	struct kc_bcache_stats st;
	struct kc_file *f;
	int p[2], i, n;

	KC_CHECK(r != NULL);
	fill(a, sizeof(a), 11);
	fill(b, sizeof(b), 12);
	KC_CHECK_OK(pipe2(p, O_CLOEXEC));
	KC_CHECK_OK(kc_file_adopt(&f, ex, p[0], 0));
	KC_CHECK_OK(kc_bcache_create(&r->c, f, 4096, 4));
	for (i = 0; i < NREADERS; i++) {
		treq_init(&r->t[i]);
		r->t[i].expect = a;
		r->t[i].expect_len = sizeof(a);
	}
	on_ex(readers_start, r);
	for (i = 0; i < NREADERS; i++)
		KC_CHECK_OK(r->ret[i]);
	KC_CHECK_EQ(r->ran, 0);
	st = stats(r->c);
	KC_CHECK_EQ(st.bs_reads, 1);
	KC_CHECK_EQ(st.bs_misses, 1);
	KC_CHECK_EQ(st.bs_coalesced, NREADERS - 1);
	KC_CHECK_EQ(st.bs_inflight, 1);
	KC_CHECK_EQ(write(p[1], a, sizeof(a)), (ssize_t)sizeof(a));
	KC_CHECK_EQ(write(p[1], b, sizeof(b)), (ssize_t)sizeof(b));
	for (i = 0; i < NREADERS; i++) {
		KC_CHECK_EQ(treq_wait(&r->t[i]), 0);
		KC_CHECK_EQ(r->t[i].valid, 4096);
		KC_CHECK_EQ(r->t[i].rq.br_blockno, 0);
	}
	st = stats(r->c);
	KC_CHECK_EQ(st.bs_reads, 1);
	KC_CHECK_EQ(st.bs_referenced, 1);
	KC_CHECK_EQ(st.bs_cached, 1);
	on_ex(readers_put, r);
	KC_CHECK_EQ(destroy_wait(r->c), 0);
	/* Independently: B is still in the pipe, all of it. */
	KC_CHECK_OK(ioctl(kc_file_fd(f), FIONREAD, &n));
	KC_CHECK_EQ(n, (int)sizeof(b));
	KC_CHECK_EQ(read(kc_file_fd(f), back, sizeof(back)),
	    (ssize_t)sizeof(back));
	KC_CHECK(memcmp(back, b, sizeof(b)) == 0);
	close_file(f);
	close(p[1]);
	free(r);
}

/* The same on a regular file, then 100 hits; a short last block. */
static void
test_readers_file(void)
{
	struct readers *r = calloc(1, sizeof(*r));
	struct kc_bcache_stats st;
	struct kc_file *f;
	uint8_t *content;
	struct treq t;
	int i;

	KC_CHECK(r != NULL);
	/* 5 blocks of 1 KiB and 100 bytes. */
	f = make_file("readers", 5 * 1024 + 100, 3, &content);
	KC_CHECK_OK(kc_bcache_create(&r->c, f, 1024, 8));
	r->blk = 3;
	for (i = 0; i < NREADERS; i++) {
		treq_init(&r->t[i]);
		r->t[i].expect = content + 3 * 1024;
		r->t[i].expect_len = 1024;
	}
	on_ex(readers_start, r);
	KC_CHECK_EQ(r->ran, 0);
	for (i = 0; i < NREADERS; i++) {
		KC_CHECK_OK(r->ret[i]);
		KC_CHECK_EQ(treq_wait(&r->t[i]), 0);
		KC_CHECK_EQ(r->t[i].valid, 1024);
	}
	st = stats(r->c);
	KC_CHECK_EQ(st.bs_reads, 1);
	KC_CHECK_EQ(st.bs_coalesced, NREADERS - 1);
	on_ex(readers_put, r);
	/* Now cached: 100 hits, each done run inside its get. */
	on_ex(readers_start, r);
	KC_CHECK_EQ(r->ran, NREADERS);
	for (i = 0; i < NREADERS; i++)
		KC_CHECK_EQ(treq_wait(&r->t[i]), 0);
	on_ex(readers_put, r);
	st = stats(r->c);
	KC_CHECK_EQ(st.bs_reads, 1);
	KC_CHECK_EQ(st.bs_hits, NREADERS);
	/* The short block at the end, and one past it. */
	treq_init(&t);
	t.expect = content + 5 * 1024;
	t.expect_len = 100;
	KC_CHECK_EQ(get_wait(r->c, &t, 5), 0);
	KC_CHECK_EQ(t.valid, 100);
	KC_CHECK(t.rq.br_data[100] == 0 && t.rq.br_data[1023] == 0);
	KC_CHECK_OK(call(C_PUT, NULL, &t, 0, NULL, 0));
	treq_init(&t);
	KC_CHECK_EQ(get_wait(r->c, &t, 9), 0);
	KC_CHECK_EQ(t.valid, 0);
	KC_CHECK_OK(call(C_PUT, NULL, &t, 0, NULL, 0));
	/* Reading past the end did not move it. */
	treq_init(&t);
	KC_CHECK_EQ(get_wait(r->c, &t, 5), 0);
	KC_CHECK_EQ(t.valid, 100);
	KC_CHECK_OK(call(C_PUT, NULL, &t, 0, NULL, 0));
	KC_CHECK_EQ(destroy_wait(r->c), 0);
	close_file(f);
	free(content);
	free(r);
}

/* A failed read: all 100 waiters get the error; nothing is cached. */
static void
test_read_error(void)
{
	struct readers *r = calloc(1, sizeof(*r));
	struct kc_bcache_stats st;
	struct kc_file *f;
	struct treq t;
	int i;

	KC_CHECK(r != NULL);
	/* Made read-write: this test opens it again, write-only. */
	close_file(make_file("wronly", 8192, 4, NULL));
	f = open_file("wronly", O_WRONLY);
	KC_CHECK_OK(kc_bcache_create(&r->c, f, 4096, 4));
	for (i = 0; i < NREADERS; i++)
		treq_init(&r->t[i]);
	on_ex(readers_start, r);
	KC_CHECK_EQ(r->ran, 0);
	for (i = 0; i < NREADERS; i++) {
		KC_CHECK_OK(r->ret[i]);
		KC_CHECK_EQ(treq_wait(&r->t[i]), -EBADF);
		KC_CHECK(r->t[i].rq.br_data == NULL);
	}
	st = stats(r->c);
	KC_CHECK_EQ(st.bs_reads, 1);
	KC_CHECK_EQ(st.bs_read_errors, 1);
	KC_CHECK_EQ(st.bs_cached, 0);
	KC_CHECK_EQ(st.bs_referenced, 0);
	/* Not cached: the next get reads again, and fails again. */
	treq_init(&t);
	KC_CHECK_EQ(get_wait(r->c, &t, 0), -EBADF);
	KC_CHECK_EQ(stats(r->c).bs_reads, 2);
	/* Putting what a failed get never held is refused. */
	KC_CHECK_EQ(call(C_PUT, NULL, &t, 0, NULL, 0), -EINVAL);
	KC_CHECK_EQ(destroy_wait(r->c), 0);
	close_file(f);
	free(r);
}

/* ---- LRU, waiting for space, writes waiting for readers ---------- */

/* Get and put blk; 'h' if it was a hit, 'm' if a miss. */
static char
touch(struct kc_bcache *c, uint64_t blk, const uint8_t *content)
{
	struct kc_bcache_stats before = stats(c), after;
	struct treq t;

	treq_init(&t);
	t.expect = content + blk * 4096;
	t.expect_len = 4096;
	KC_CHECK_EQ(get_wait(c, &t, blk), 0);
	KC_CHECK_OK(call(C_PUT, NULL, &t, 0, NULL, 0));
	after = stats(c);
	KC_CHECK_EQ(after.bs_hits + after.bs_misses,
	    before.bs_hits + before.bs_misses + 1);
	return after.bs_hits > before.bs_hits ? 'h' : 'm';
}

static void
test_lru(void)
{
	/* Blocks touched, and whether each must hit (4 blocks cached). */
	static const struct { int blk; char want; } seq[] = {
		{ 0, 'm' }, { 1, 'm' }, { 2, 'm' }, { 3, 'm' },
		{ 0, 'h' },		/* released order: 1 2 3 0 */
		{ 4, 'm' },		/* evicts 1: 2 3 0 4 */
		{ 2, 'h' }, { 3, 'h' }, { 0, 'h' }, { 4, 'h' },	/* 2 3 0 4 */
		{ 1, 'm' },		/* evicts 2: 3 0 4 1 */
		{ 2, 'm' },		/* evicts 3: 0 4 1 2 */
		{ 0, 'h' },		/* 4 1 2 0 */
		{ 3, 'm' },		/* evicts 4: 1 2 0 3 */
		{ 4, 'm' },		/* evicts 1 */
		{ 1, 'm' },		/* evicts 2 */
	};
	struct kc_bcache *c;
	struct kc_file *f;
	uint8_t *content;
	size_t i;

	f = make_file("lru", 8 * 4096, 5, &content);
	KC_CHECK_OK(kc_bcache_create(&c, f, 4096, 4));
	for (i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
		char got = touch(c, (uint64_t)seq[i].blk, content);

		if (got != seq[i].want)
			kct_fail(__FILE__, __LINE__, "step %zu, block %d: %c, "
			    "want %c", i, seq[i].blk, got, seq[i].want);
	}
	KC_CHECK_EQ(stats(c).bs_evictions, 6);
	KC_CHECK_EQ(stats(c).bs_cached, 4);
	KC_CHECK_EQ(destroy_wait(c), 0);
	close_file(f);
	free(content);
}

/*
 * Every block held: a get waits (does not fail) until one is put.  A
 * write to a held block waits until it is put; a get after the write
 * waits behind it and sees what it wrote.
 */
static void
test_full_and_write_wait(void)
{
	struct kc_bcache *c;
	struct kc_file *f;
	struct treq t0, t1, t2, w, g;
	uint8_t *content, x[100];

	f = make_file("full", 4 * 4096, 6, &content);
	KC_CHECK_OK(kc_bcache_create(&c, f, 4096, 2));
	treq_init(&t0);
	treq_init(&t1);
	treq_init(&t2);
	KC_CHECK_EQ(get_wait(c, &t0, 0), 0);
	KC_CHECK_EQ(get_wait(c, &t1, 1), 0);
	t2.expect = content + 2 * 4096;
	t2.expect_len = 4096;
	KC_CHECK_OK(call(C_GET, c, &t2, 2, NULL, 0));
	/* Nothing will free a block until the test puts one: it waits. */
	KC_CHECK_EQ(stats(c).bs_space_waits, 1);
	KC_CHECK_EQ(atomic_load(&t2.runs), 0);
	KC_CHECK_EQ(call(C_GET, c, &t2, 2, NULL, 0), -EBUSY);
	KC_CHECK_OK(call(C_PUT, NULL, &t0, 0, NULL, 0));
	KC_CHECK_EQ(treq_wait(&t2), 0);
	KC_CHECK_EQ(stats(c).bs_evictions, 1);
	/* A write to held block 1 waits for its put. */
	memset(x, 'w', sizeof(x));
	treq_init(&w);
	KC_CHECK_OK(call(C_WRITE, c, &w, 4096 + 50, x, sizeof(x)));
	treq_init(&g);
	g.put_in_done = true;
	KC_CHECK_OK(call(C_GET, c, &g, 1, NULL, 0));
	KC_CHECK_EQ(atomic_load(&w.runs), 0);
	KC_CHECK_EQ(atomic_load(&g.runs), 0);
	KC_CHECK_OK(call(C_PUT, NULL, &t1, 0, NULL, 0));
	KC_CHECK_EQ(treq_wait(&w), (int)sizeof(x));
	memcpy(content + 4096 + 50, x, sizeof(x));
	g.expect = content + 4096;
	g.expect_len = 4096;
	KC_CHECK_EQ(treq_wait(&g), 0);
	KC_CHECK_OK(call(C_PUT, NULL, &t2, 0, NULL, 0));
	KC_CHECK_EQ(stats(c).bs_dirty, 1);
	/* The destroy writes it back. */
	KC_CHECK_EQ(destroy_wait(c), 0);
	{
		uint8_t back[4 * 4096];

		KC_CHECK_EQ(pread(kc_file_fd(f), back, sizeof(back), 0),
		    (ssize_t)sizeof(back));
		KC_CHECK(memcmp(back, content, sizeof(back)) == 0);
	}
	close_file(f);
	free(content);
}

/* ---- errors at once ---------------------------------------------- */

struct args {
	struct kc_bcache	*c;
	struct treq		 t;
};

static void
args_on_ex(void *arg)
{
	struct args *a = arg;
	struct kc_bcache_stats st;
	char b[8];

	KC_CHECK_EQ(kc_bcache_get(NULL, &a->t.rq, 0, &a->t.kc), -EINVAL);
	KC_CHECK_EQ(kc_bcache_get(a->c, NULL, 0, &a->t.kc), -EINVAL);
	KC_CHECK_EQ(kc_bcache_get(a->c, &a->t.rq, 0, NULL), -EINVAL);
	KC_CHECK_EQ(kc_bcache_get(a->c, &a->t.rq, UINT64_MAX, &a->t.kc),
	    -EINVAL);
	KC_CHECK_EQ(kc_bcache_write(a->c, &a->t.rq, 4000, b, 200, &a->t.kc),
	    -EINVAL);
	KC_CHECK_EQ(kc_bcache_write(a->c, &a->t.rq, 0, b, 0, &a->t.kc),
	    -EINVAL);
	KC_CHECK_EQ(kc_bcache_write(a->c, &a->t.rq, 0, NULL, 1, &a->t.kc),
	    -EINVAL);
	KC_CHECK_EQ(kc_bcache_flush(a->c, NULL, &a->t.kc), -EINVAL);
	KC_CHECK_EQ(kc_bcache_put(NULL), -EINVAL);
	KC_CHECK_EQ(kc_bcache_stats(a->c, NULL), -EINVAL);
	KC_CHECK_EQ(kc_bcache_stats(a->c, &st), 0);
}

static void
test_args(void)
{
	struct args a;
	struct kc_bcache *c;
	struct kc_bcache_stats st;
	struct kc_file *f;

	f = make_file("args", 4096, 7, NULL);
	KC_CHECK_EQ(kc_bcache_create(&c, f, 1000, 4), -EINVAL);
	KC_CHECK_EQ(kc_bcache_create(&c, f, 256, 4), -EINVAL);
	KC_CHECK_EQ(kc_bcache_create(&c, f, 2u << 20, 4), -EINVAL);
	KC_CHECK_EQ(kc_bcache_create(&c, f, 4096, 0), -EINVAL);
	KC_CHECK_EQ(kc_bcache_create(&c, NULL, 4096, 4), -EINVAL);
	KC_CHECK_EQ(kc_bcache_create(NULL, f, 4096, 4), -EINVAL);
	KC_CHECK_OK(kc_bcache_create(&c, f, 4096, 4));
	memset(&a, 0, sizeof(a));
	a.c = c;
	treq_init(&a.t);
	/* Not on the owner. */
	KC_CHECK_EQ(kc_bcache_get(c, &a.t.rq, 0, &a.t.kc), -EPERM);
	KC_CHECK_EQ(kc_bcache_stats(c, &st), -EPERM);
	on_ex(args_on_ex, &a);
	KC_CHECK_EQ(destroy_wait(c), 0);
	close_file(f);
}

/* ---- flush errors ------------------------------------------------ */

/*
 * RLIMIT_FSIZE: the write-back of a block past it fails with EFBIG; the
 * flush reports it and the block stays dirty; with the limit lifted, the
 * next flush writes it.
 */
static void
test_flush_efbig(void)
{
	struct rlimit old, lim;
	struct kc_bcache_stats st;
	struct kc_bcache *c;
	struct kc_file *f;
	uint8_t x[4096], back[4096];

	fill(x, sizeof(x), 8);
	f = make_file("efbig", 0, 8, NULL);
	KC_CHECK_OK(kc_bcache_create(&c, f, 4096, 4));
	KC_CHECK_EQ(write_wait(c, 4096, x, sizeof(x)), (int)sizeof(x));
	KC_CHECK_EQ(stats(c).bs_reads, 0);	/* a whole block: no read */
	KC_CHECK_OK(getrlimit(RLIMIT_FSIZE, &old));
	lim = old;
	lim.rlim_cur = 4096;
	KC_CHECK_OK(setrlimit(RLIMIT_FSIZE, &lim));
	KC_CHECK_EQ(flush_wait(c), -EFBIG);
	st = stats(c);
	KC_CHECK_EQ(st.bs_dirty, 1);
	KC_CHECK_EQ(st.bs_write_errors, 1);
	KC_CHECK_EQ(flush_wait(c), -EFBIG);
	KC_CHECK_OK(setrlimit(RLIMIT_FSIZE, &old));
	KC_CHECK_EQ(flush_wait(c), 0);
	st = stats(c);
	KC_CHECK_EQ(st.bs_dirty, 0);
	KC_CHECK_EQ(st.bs_writebacks, 3);
	KC_CHECK_GE(st.bs_syncs, 1);
	KC_CHECK_EQ(pread(kc_file_fd(f), back, sizeof(back), 4096),
	    (ssize_t)sizeof(back));
	KC_CHECK(memcmp(back, x, sizeof(x)) == 0);
	/* Dirty again, and a destroy that cannot write it says so. */
	KC_CHECK_EQ(write_wait(c, 8192, x, 10), 10);
	KC_CHECK_OK(setrlimit(RLIMIT_FSIZE, &lim));
	KC_CHECK_EQ(destroy_wait(c), -EFBIG);
	KC_CHECK_OK(setrlimit(RLIMIT_FSIZE, &old));
	close_file(f);
}

/*
 * Only dirty blocks left, and their write-backs fail: a get that needs a
 * block writes them back one at a time, and when every block has failed
 * it gets the error instead of waiting for ever; a flush with the limit
 * lifted writes them, and the get then succeeds.
 */
static void
test_pressure_fail(void)
{
	struct rlimit old, lim;
	struct kc_bcache_stats st;
	struct kc_bcache *c;
	struct kc_file *f;
	uint8_t x[4096];
	struct treq t;

	fill(x, sizeof(x), 13);
	f = make_file("pressure", 0, 13, NULL);
	KC_CHECK_OK(kc_bcache_create(&c, f, 4096, 2));
	KC_CHECK_EQ(write_wait(c, 0, x, sizeof(x)), (int)sizeof(x));
	KC_CHECK_EQ(write_wait(c, 4096, x, sizeof(x)), (int)sizeof(x));
	KC_CHECK_OK(getrlimit(RLIMIT_FSIZE, &old));
	lim = old;
	lim.rlim_cur = 0;
	KC_CHECK_OK(setrlimit(RLIMIT_FSIZE, &lim));
	treq_init(&t);
	KC_CHECK_EQ(get_wait(c, &t, 5), -EFBIG);
	st = stats(c);
	KC_CHECK_EQ(st.bs_writebacks, 2);
	KC_CHECK_EQ(st.bs_write_errors, 2);
	KC_CHECK_EQ(st.bs_dirty, 2);
	KC_CHECK_EQ(st.bs_space_waits, 1);
	KC_CHECK_OK(setrlimit(RLIMIT_FSIZE, &old));
	KC_CHECK_EQ(flush_wait(c), 0);
	KC_CHECK_EQ(get_wait(c, &t, 5), 0);
	KC_CHECK_EQ(t.valid, 0);
	KC_CHECK_OK(call(C_PUT, NULL, &t, 0, NULL, 0));
	KC_CHECK_EQ(destroy_wait(c), 0);
	{
		uint8_t back[8192];

		KC_CHECK_EQ(pread(kc_file_fd(f), back, sizeof(back), 0),
		    (ssize_t)sizeof(back));
		KC_CHECK(memcmp(back, x, 4096) == 0 &&
		    memcmp(back + 4096, x, 4096) == 0);
	}
	close_file(f);
}

/*
 * A get whose done cannot be triggered (its executor has shut down) does
 * not keep the block: the cache releases the reference itself, for a hit
 * and for a request that waited for the read.
 */
static void
test_dead_done(void)
{
	struct kc_executor *dead = kct_exec_soft("kc-bcache-dead");
	struct kc_bcache_stats st;
	struct kc_bcache *c;
	struct kc_file *f;
	struct treq t, t2;

	KC_CHECK_OK(kc_executor_shutdown(dead, KC_SHUTDOWN_DRAIN, NULL));
	f = make_file("dead", 8192, 14, NULL);
	KC_CHECK_OK(kc_bcache_create(&c, f, 4096, 2));
	treq_init(&t);
	KC_CHECK_EQ(get_wait(c, &t, 0), 0);
	treq_init(&t2);
	KC_CHECK_OK(kc_init(&t2.kc, treq_fn, &t2, dead, 0));
	KC_CHECK_OK(call(C_GET, c, &t2, 0, NULL, 0));	/* a hit */
	KC_CHECK_OK(call(C_PUT, NULL, &t, 0, NULL, 0));
	KC_CHECK_OK(call(C_GET, c, &t2, 1, NULL, 0));	/* a read */
	treq_init(&t);
	KC_CHECK_EQ(get_wait(c, &t, 1), 0);	/* after the one above */
	KC_CHECK_OK(call(C_PUT, NULL, &t, 0, NULL, 0));
	KC_CHECK_EQ(atomic_load(&t2.runs), 0);
	st = stats(c);
	KC_CHECK_EQ(st.bs_referenced, 0);
	KC_CHECK_EQ(st.bs_reads, 2);
	KC_CHECK_EQ(destroy_wait(c), 0);
	close_file(f);
	KC_CHECK_OK(kc_executor_close(dead, NULL));
}

/* ---- destroy while reads are in flight --------------------------- */

struct dinfl {
	struct kc_bcache	*c;
	struct treq		 t[10];
	struct treq		 d, late;
	int			 ret, late_ret;
};

static void
dinfl_start(void *arg)
{
	struct dinfl *d = arg;
	int i;

	for (i = 0; i < 10; i++)
		KC_CHECK_OK(kc_bcache_get(d->c, &d->t[i].rq, 0, &d->t[i].kc));
	d->ret = kc_bcache_destroy(d->c, &d->d.rq, &d->d.kc);
	d->late_ret = kc_bcache_get(d->c, &d->late.rq, 1, &d->late.kc);
}

static void
test_destroy_inflight(void)
{
	static uint8_t a[4096];
	struct dinfl *d = calloc(1, sizeof(*d));
	struct kc_file *f;
	int p[2], i;

	KC_CHECK(d != NULL);
	fill(a, sizeof(a), 9);
	KC_CHECK_OK(pipe2(p, O_CLOEXEC));
	KC_CHECK_OK(kc_file_adopt(&f, ex, p[0], 0));
	KC_CHECK_OK(kc_bcache_create(&d->c, f, 4096, 2));
	for (i = 0; i < 10; i++) {
		treq_init(&d->t[i]);
		d->t[i].put_in_done = true;	/* the done puts it */
		d->t[i].expect = a;
		d->t[i].expect_len = sizeof(a);
	}
	treq_init(&d->d);
	treq_init(&d->late);
	on_ex(dinfl_start, d);
	KC_CHECK_OK(d->ret);
	KC_CHECK_EQ(d->late_ret, -ESHUTDOWN);
	/* The destroy waits for the read, which waits for the test. */
	kct_sleep_ns(20 * KCT_NSEC_PER_MSEC);
	KC_CHECK_EQ(atomic_load(&d->d.runs), 0);
	KC_CHECK_EQ(write(p[1], a, sizeof(a)), (ssize_t)sizeof(a));
	for (i = 0; i < 10; i++)
		KC_CHECK_EQ(treq_wait(&d->t[i]), 0);
	KC_CHECK_EQ(treq_wait(&d->d), 0);
	/* The file's close no longer waits for the cache. */
	close_file(f);
	close(p[1]);
	free(d);
}

/* ---- random reads and writes against a model --------------------- */

#define MBSIZE		1024u
#define MBLOCKS		64u
#define MCACHE		8u
#define MINFLIGHT	16u

struct model {
	struct kc_bcache	*c;
	uint8_t			*mem;		/* what the file must hold */
	uint64_t		 size;		/* and its size */
	uint64_t		 size_done;	/* by the writes done */
	unsigned		 readers[MBLOCKS + 2];
	bool			 writing[MBLOCKS + 2];
	uint64_t		 left, running, ops, mismatches, errors;
	uint64_t		 flushes;
	bool			 flushing;
	struct treq		 fl;
	atomic_int		 finished;
};

struct mreq {
	struct kc_bcache_req	 rq;	/* first: the done's obj */
	struct kc		 kc;
	struct model		*m;
	uint64_t		 blk;
	unsigned		 off, len;
	uint32_t		 valid0;	/* the least it may be */
	uint64_t		 end;		/* a write's */
	bool			 write;
	uint8_t			 buf[MBSIZE];
};

static void model_next(struct model *);

static uint32_t
model_valid(uint64_t size, uint64_t blk)
{
	uint64_t start = blk * MBSIZE;

	if (size <= start)
		return 0;
	return size - start >= MBSIZE ? MBSIZE : (uint32_t)(size - start);
}

static void
mreq_done(void *obj, void *env, int status)
{
	struct mreq *q = env;
	struct model *m = q->m;

	KC_CHECK_PTR_EQ(obj, &q->rq);
	if (q->write) {
		if (status != (int)q->len)
			m->errors++;
		if (q->end > m->size_done)
			m->size_done = q->end;
	} else if (status != 0) {
		m->errors++;
	} else {
		/*
		 * Writes to later blocks in flight during this read may or
		 * may not have grown the file when it was delivered: the
		 * valid length lies between what the writes done when it
		 * started and all the writes started make it.  The bytes
		 * past it are zeros in both.
		 */
		if (q->rq.br_valid < q->valid0 ||
		    q->rq.br_valid > model_valid(m->size, q->blk) ||
		    memcmp(q->rq.br_data, m->mem + q->blk * MBSIZE,
		    MBSIZE) != 0) {
			if (m->mismatches == 0)
				fprintf(stderr, "block %u: valid %u, model "
				    "%u..%u\n", (unsigned)q->blk,
				    q->rq.br_valid, q->valid0,
				    model_valid(m->size, q->blk));
			m->mismatches++;
		}
		KC_CHECK_OK(kc_bcache_put(&q->rq));
	}
	if (q->write)
		m->writing[q->blk] = false;
	else
		m->readers[q->blk]--;
	m->running--;
	free(q);		/* its own request */
	model_next(m);
}

static void
model_flushed(void *obj, void *env, int status)
{
	struct model *m = env;

	(void)obj;
	if (status != 0)
		m->errors++;
	m->flushing = false;
	m->flushes++;
	model_next(m);
}

static void
model_next(struct model *m)
{
	while (m->left > 0 && m->running < MINFLIGHT) {
		struct mreq *q;
		uint64_t blk, end;

		if (!m->flushing && kct_rand_below(200) == 0) {
			m->flushing = true;
			KC_CHECK_OK(kc_bcache_flush(m->c, &m->fl.rq,
			    &m->fl.kc));
			continue;
		}
		q = calloc(1, sizeof(*q));
		KC_CHECK(q != NULL);
		/*
		 * Reads of a block may overlap (they coalesce); a write has
		 * its block to itself, so that the model knows the order.
		 */
		q->write = kct_rand_below(2) == 0;
		do {
			blk = kct_rand_below(q->write ? MBLOCKS : MBLOCKS + 2);
		} while (m->writing[blk] || (q->write && m->readers[blk] > 0));
		q->m = m;
		q->blk = blk;
		KC_CHECK_OK(kc_init(&q->kc, mreq_done, q, ex, 0));
		if (q->write)
			m->writing[blk] = true;
		else
			m->readers[blk]++;
		m->running++;
		m->left--;
		m->ops++;
		if (!q->write) {
			q->valid0 = model_valid(m->size_done, blk);
			KC_CHECK_OK(kc_bcache_get(m->c, &q->rq, blk, &q->kc));
			continue;
		}
		q->off = (unsigned)kct_rand_below(MBSIZE);
		q->len = 1 + (unsigned)kct_rand_below(MBSIZE - q->off);
		if (kct_rand_below(8) == 0) {
			q->off = 0;
			q->len = MBSIZE;
		}
		fill(q->buf, q->len, (unsigned)m->ops);
		memcpy(m->mem + blk * MBSIZE + q->off, q->buf, q->len);
		end = blk * MBSIZE + q->off + q->len;
		if (end > m->size)
			m->size = end;
		q->end = end;
		KC_CHECK_OK(kc_bcache_write(m->c, &q->rq, blk * MBSIZE + q->off,
		    q->buf, q->len, &q->kc));
	}
	if (m->left == 0 && m->running == 0 && !m->flushing)
		atomic_store(&m->finished, 1);
}

static void
model_start(void *arg)
{
	model_next(arg);
}

static void
test_model(void)
{
	struct kc_bcache_stats st;
	struct model *m = calloc(1, sizeof(*m));
	struct kc_file *f;
	uint8_t *content, *disk;
	struct stat sb;

	KC_CHECK(m != NULL);
	/* Not a whole number of blocks: the last one is short. */
	m->size = (MBLOCKS - 8) * MBSIZE - 300;
	f = make_file("model", m->size, 10, &content);
	m->mem = calloc(MBLOCKS + 2, MBSIZE);
	disk = calloc(MBLOCKS + 2, MBSIZE);
	KC_CHECK(m->mem != NULL && disk != NULL);
	memcpy(m->mem, content, m->size);
	m->size_done = m->size;
	KC_CHECK_OK(kc_bcache_create(&m->c, f, MBSIZE, MCACHE));
	treq_init(&m->fl);
	KC_CHECK_OK(kc_init(&m->fl.kc, model_flushed, m, ex, 0));
	m->left = kct_sanitized() ? 20000 : 100000;
	on_ex(model_start, m);
	KCT_WAIT(atomic_load(&m->finished), 120);
	KC_CHECK_EQ(m->errors, 0);
	KC_CHECK_EQ(m->mismatches, 0);
	st = stats(m->c);
	KC_CHECK_GT(st.bs_evictions, 0);
	KC_CHECK_GT(st.bs_writebacks, 0);
	KC_CHECK_GT(st.bs_coalesced, 0);
	KC_CHECK_GT(st.bs_space_waits, 0);
	KC_CHECK_GT(m->flushes, 0);
	printf("model: %llu ops, %llu hits, %llu misses, %llu coalesced, "
	    "%llu reads, %llu write-backs, %llu evictions, %llu space waits, "
	    "%llu flushes\n", (unsigned long long)m->ops,
	    (unsigned long long)st.bs_hits, (unsigned long long)st.bs_misses,
	    (unsigned long long)st.bs_coalesced,
	    (unsigned long long)st.bs_reads,
	    (unsigned long long)st.bs_writebacks,
	    (unsigned long long)st.bs_evictions,
	    (unsigned long long)st.bs_space_waits,
	    (unsigned long long)st.bs_flushes);
	KC_CHECK_EQ(flush_wait(m->c), 0);
	KC_CHECK_EQ(stats(m->c).bs_dirty, 0);
	/* The file, read back with the C library, is the model. */
	KC_CHECK_OK(fstat(kc_file_fd(f), &sb));
	KC_CHECK_EQ(sb.st_size, (off_t)m->size);
	KC_CHECK_EQ(pread(kc_file_fd(f), disk, m->size, 0), (ssize_t)m->size);
	KC_CHECK(memcmp(disk, m->mem, m->size) == 0);
	KC_CHECK_EQ(destroy_wait(m->c), 0);
	close_file(f);
	free(content);
	free(disk);
	free(m->mem);
	free(m);
}

static void
cleanup(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

int
main(void)
{
	char cwd[PATH_MAX - 32];

	kct_begin("unit-bcache", 240);
	signal(SIGXFSZ, SIG_IGN);
	snprintf(dir, sizeof(dir), "%s/kcbcache.XXXXXX",
	    getcwd(cwd, sizeof(cwd)) != NULL ? cwd : ".");
	KC_CHECK(mkdtemp(dir) != NULL);
	ex = kct_exec_soft("kc-bcache");
	test_args();
	test_readers_pipe();
	test_readers_file();
	test_read_error();
	test_lru();
	test_full_and_write_wait();
	test_flush_efbig();
	test_pressure_fail();
	test_dead_done();
	test_destroy_inflight();
	test_model();
	kct_exec_finish(ex);
	cleanup();
	return kct_done();
}
