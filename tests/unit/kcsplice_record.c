/*
 * unit-kcsplice_record: kcsplice's recorder and its format
 * (tools/kcsplice/record.h, recfmt.h, recread.h), on real files.
 *
 *   the format: headers round-trip; a wrong magic, an unknown version,
 *   type or flag, a payload over the bound, non-zero padding or reserved
 *   bytes are refused; a record cut short asks for more;
 *   a model: 24 connections with bytes both ways in chunks from 1 byte to
 *   40 KB (copied and shared payloads), across many files (rotation at 64
 *   KiB): read back, each connection's streams equal what was given, the
 *   offsets count them, every file stands alone (a connection's records in
 *   a file follow its OPEN there), every END is complete, files are 0600;
 *   the budget and the process cap: a connection whose bytes do not fit
 *   loses its recording (KSR_LOST, END incomplete, counted), others go on;
 *   rotation keeps the newest files_max files and removes the stream's
 *   older ones;
 *   a full file system (RLIMIT_FSIZE): the stream fails with EFBIG, said
 *   once; later connections are counted, not recorded; a connection that
 *   ended whole but whose END lies past the limit is counted incomplete,
 *   not complete (it never reached the file);
 *   a symbolic link where the next file would be: not followed (O_EXCL,
 *   O_NOFOLLOW), the stream fails, the link's target is unchanged;
 *   --dump's printer reads the files, and says where one is cut short.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "kctest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "recfmt.h"
#include "record.h"
#include "recread.h"

static struct kc_executor *ex;
static char dir[PATH_MAX];
static int dfd;

/* ---- running on the executor ------------------------------------ */

struct call {
	struct kc	 kc;
	void		(*fn)(void *);
	void		*arg;
	atomic_int	 done;
};

static void
call_fn(void *obj, void *env, int status)
{
	struct call *c = env;

	(void)obj;
	(void)status;
	c->fn(c->arg);
	atomic_store(&c->done, 1);
}

static void
on_ex(void (*fn)(void *), void *arg)
{
	struct call c;

	memset(&c, 0, sizeof(c));
	c.fn = fn;
	c.arg = arg;
	KC_CHECK_OK(kc_init(&c.kc, call_fn, &c, ex, 0));
	KC_CHECK_OK(kc_run(&c.kc, NULL, 0));
	KCT_WAIT(atomic_load(&c.done), 30);
}

/* Written on the executor, read by the test: atomic. */
struct evs {
	atomic_int	files, failed, removed, lost;
	atomic_int	err;
};

static void
ev_fn(void *arg, enum ks_rec_ev ev, int err, const char *name)
{
	struct evs *e = arg;

	(void)name;
	switch (ev) {
	case KS_REC_EV_FILE:	atomic_fetch_add(&e->files, 1); break;
	case KS_REC_EV_FAILED:
		atomic_store(&e->err, err);
		atomic_fetch_add(&e->failed, 1);
		break;
	case KS_REC_EV_REMOVED:
		KC_CHECK_EQ(err, 0);
		atomic_fetch_add(&e->removed, 1);
		break;
	case KS_REC_EV_LOST:	atomic_fetch_add(&e->lost, 1); break;
	}
}

struct stream {
	struct ks_rec		*r;
	struct ks_rec_conf	 conf;
	const char		*prefix;
	struct evs		 ev;
	struct kc		 dkc;
	atomic_int		 ddone;
	int			 dstatus;
	struct ks_rec_stats	 st;
};

static void
dfn(void *obj, void *env, int status)
{
	struct stream *s = env;

	(void)obj;
	s->dstatus = status;
	atomic_store(&s->ddone, 1);
}

static void
create_fn(void *arg)
{
	struct stream *s = arg;

	KC_CHECK_OK(ks_rec_create(&s->r, ex, dfd, s->prefix, &s->conf,
	    ev_fn, &s->ev));
}

static void
stream_open(struct stream *s, const char *prefix, uint64_t file_max,
    unsigned files_max, uint64_t budget)
{
	memset(s, 0, sizeof(*s));
	s->prefix = prefix;
	s->conf.file_max = file_max;
	s->conf.files_max = files_max;
	s->conf.budget = budget;
	on_ex(create_fn, s);
}

static void
destroy_fn(void *arg)
{
	struct stream *s = arg;

	ks_rec_destroy(s->r, &s->st, &s->dkc);
}

/* Destroy the stream and wait; its last statistics in s->st. */
static int
stream_close(struct stream *s)
{
	KC_CHECK_OK(kc_init(&s->dkc, dfn, s, ex, 0));
	on_ex(destroy_fn, s);
	KCT_WAIT(atomic_load(&s->ddone), 30);
	return s->dstatus;
}

/* The stream's files, in order: their names in names[], the count. */
static int
list_files(const char *prefix, char names[][128], int max)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t pl = strlen(prefix);
	int n = 0, i, j;

	KC_CHECK(d != NULL);
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, prefix, pl) != 0 ||
		    de->d_name[pl] != '-')
			continue;
		KC_CHECK_LT(n, max);
		KC_CHECK_LT(strlen(de->d_name), 128);
		memcpy(names[n++], de->d_name, strlen(de->d_name) + 1);
	}
	closedir(d);
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
			char t[128];

			memcpy(t, names[j], 128);
			memcpy(names[j], names[j - 1], 128);
			memcpy(names[j - 1], t, 128);
		}
	return n;
}

static void
path_of(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%.127s", dir, name);
}

/* ---- the format -------------------------------------------------- */

static void
test_format(void)
{
	struct ksr_file f = { .version = KSR_VERSION, .created_ns = 123,
	    .pid = 77, .seq = 9 }, g;
	struct ksr_rec r = { .type = KSR_C2S, .len = 5, .conn = 42,
	    .time_ns = 1000, .offset = 17, .flags = KSR_F_DGRAM }, q;
	uint8_t b[KSR_REC_HDR + 8];

	ksr_file_encode(b, &f);
	KC_CHECK_OK(ksr_file_decode(b, KSR_FILE_HDR, &g));
	KC_CHECK_EQ(g.created_ns, 123);
	KC_CHECK_EQ(g.pid, 77);
	KC_CHECK_EQ(g.seq, 9);
	KC_CHECK_EQ(ksr_file_decode(b, 10, &g), -EAGAIN);
	b[8] = 2;
	KC_CHECK_EQ(ksr_file_decode(b, KSR_FILE_HDR, &g), -EPROTONOSUPPORT);
	b[0] = 'X';
	KC_CHECK_EQ(ksr_file_decode(b, KSR_FILE_HDR, &g), -EINVAL);
	KC_CHECK_EQ(ksr_file_decode(b, 9, &g), -EINVAL);

	ksr_rec_encode(b, &r);
	memcpy(b + KSR_REC_HDR, "hello\0\0\0", 8);
	KC_CHECK_EQ(ksr_rec_decode(b, sizeof(b), &q), (long)sizeof(b));
	KC_CHECK_EQ(q.type, KSR_C2S);
	KC_CHECK_EQ(q.conn, 42);
	KC_CHECK_EQ(q.offset, 17);
	KC_CHECK_EQ(q.flags, KSR_F_DGRAM);
	KC_CHECK(memcmp(q.payload, "hello", 5) == 0);
	KC_CHECK_EQ(ksr_rec_decode(b, sizeof(b) - 1, &q), -EAGAIN);
	b[KSR_REC_HDR + 6] = 1;		/* padding not zero */
	KC_CHECK_EQ(ksr_rec_decode(b, sizeof(b), &q), -EINVAL);
	b[KSR_REC_HDR + 6] = 0;
	b[36] = 1;			/* reserved not zero */
	KC_CHECK_EQ(ksr_rec_decode(b, sizeof(b), &q), -EINVAL);
	b[36] = 0;
	r.flags = KSR_F_COMPLETE;	/* not a data flag */
	ksr_rec_encode(b, &r);
	KC_CHECK_EQ(ksr_rec_decode(b, sizeof(b), &q), -EINVAL);
	r.flags = 0;
	r.type = 9;
	ksr_rec_encode(b, &r);
	KC_CHECK_EQ(ksr_rec_decode(b, sizeof(b), &q), -EINVAL);
	r.type = KSR_S2C;
	r.len = KSR_PAYLOAD_MAX + 1;
	ksr_rec_encode(b, &r);
	KC_CHECK_EQ(ksr_rec_decode(b, sizeof(b), &q), -EINVAL);
	r.type = KSR_END;
	r.len = 0;
	r.offset = 5;			/* only data has an offset */
	ksr_rec_encode(b, &r);
	KC_CHECK_EQ(ksr_rec_decode(b, KSR_REC_HDR, &q), -EINVAL);
	KC_CHECK(strcmp(ksr_type_name(KSR_LOST), "lost") == 0);
	KC_CHECK(ksr_type_name(0) == NULL);
}

/* ---- the model --------------------------------------------------- */

#define NCONN	24
#define STREAM_MAX	(600u * 1024)

struct mconn {
	struct ks_rec_conn	 rc;
	uint8_t			*sent[2];
	size_t			 len[2];
	bool			 ended;
};

struct model {
	struct stream		 s;
	struct mconn		 c[NCONN];
	unsigned		 step;
};

static void
model_step(void *arg)
{
	struct model *m = arg;
	unsigned i, k;

	for (k = 0; k < 40; k++) {
		struct mconn *c;
		struct kc_chain ch = KC_CHAIN_INITIALIZER;
		uint8_t buf[40000];
		size_t n, j;
		int d;

		i = (unsigned)kct_rand_below(NCONN);
		c = &m->c[i];
		if (c->ended)
			continue;
		if (c->sent[0] == NULL) {
			char meta[64];

			snprintf(meta, sizeof(meta), "proto=tcp client=c%u", i);
			KC_CHECK_OK(ks_rec_begin(m->s.r, &c->rc, 1000 + i,
			    meta));
			c->sent[0] = malloc(STREAM_MAX);
			c->sent[1] = malloc(STREAM_MAX);
			KC_CHECK(c->sent[0] != NULL && c->sent[1] != NULL);
		}
		d = (int)kct_rand_below(2);
		switch (kct_rand_below(4)) {
		case 0:	n = 1 + kct_rand_below(16); break;
		case 1:	n = 1 + kct_rand_below(2000); break;
		case 2:	n = KS_REC_COPY_MAX + 1 + kct_rand_below(20000); break;
		default: n = 1 + kct_rand_below(sizeof(buf)); break;
		}
		if (c->len[d] + n > STREAM_MAX ||
		    (m->step > 20 && kct_rand_below(8) == 0)) {
			ks_rec_end(&c->rc, kct_now_ns(), "reason=fin");
			c->ended = true;
			continue;
		}
		for (j = 0; j < n; j++)
			buf[j] = (uint8_t)kct_rand();
		/* Offset 3 into a chain: only its part is recorded. */
		KC_CHECK_OK(kc_chain_append(&ch, "abc", 3));
		KC_CHECK_OK(kc_chain_append(&ch, buf, n));
		KC_CHECK_OK(ks_rec_data(&c->rc, d ? KSR_S2C : KSR_C2S,
		    kct_now_ns(), &ch, 3, n));
		kc_chain_free(&ch);
		memcpy(c->sent[d] + c->len[d], buf, n);
		c->len[d] += n;
	}
	m->step++;
}

static void
model_end(void *arg)
{
	struct model *m = arg;
	unsigned i;

	for (i = 0; i < NCONN; i++)
		if (m->c[i].sent[0] != NULL && !m->c[i].ended) {
			ks_rec_end(&m->c[i].rc, kct_now_ns(), "reason=fin");
			m->c[i].ended = true;
		}
}

static void
test_model(void)
{
	static char names[4096][128];
	static struct model m;
	uint8_t *got[NCONN][2];
	size_t glen[NCONN][2];
	bool opened[NCONN], ended[NCONN], here[NCONN];
	unsigned i, s;
	uint64_t total = 0;
	int n, f, e;

	memset(&m, 0, sizeof(m));
	memset(glen, 0, sizeof(glen));
	memset(opened, 0, sizeof(opened));
	memset(ended, 0, sizeof(ended));
	stream_open(&m.s, "model", 64 * 1024, 4000, 0);
	for (s = 0; s < 60; s++)
		on_ex(model_step, &m);
	on_ex(model_end, &m);
	KC_CHECK_OK(stream_close(&m.s));
	KC_CHECK_EQ(m.s.ev.failed, 0);
	KC_CHECK_EQ(m.s.ev.lost, 0);
	KC_CHECK_EQ(m.s.st.incomplete, 0);
	/*
	 * Past 64 KiB the next records start a new file, and the files that
	 * follow are as many as the writes allow (one cut waits at a time):
	 * at least two, how many more depends on the disk.
	 */
	KC_CHECK_GE(m.s.st.files, 2);
	KC_CHECK_EQ(ks_rec_held_total(), 0);

	for (i = 0; i < NCONN; i++) {
		got[i][0] = malloc(STREAM_MAX);
		got[i][1] = malloc(STREAM_MAX);
	}
	n = list_files("model", names, 4096);
	KC_CHECK_EQ((uint64_t)n, m.s.st.files);
	for (f = 0; f < n; f++) {
		struct ksr_reader *rd;
		struct ksr_file fh;
		struct ksr_rec r;
		struct stat sb;
		char p[PATH_MAX + 130];

		path_of(names[f], p, sizeof(p));
		KC_CHECK_OK(stat(p, &sb));
		KC_CHECK_EQ(sb.st_mode & 0777, 0600);
		KC_CHECK_OK(ksr_reader_open(&rd, p, &fh));
		KC_CHECK_EQ(fh.seq, (uint32_t)f + 1);
		memset(here, 0, sizeof(here));
		while ((e = ksr_reader_next(rd, &r, NULL)) == 1) {
			unsigned c = (unsigned)(r.conn - 1000);
			int d;

			KC_CHECK_LT(c, NCONN);
			if (r.type == KSR_OPEN) {
				KC_CHECK(!here[c]);
				here[c] = true;
				if (r.flags & KSR_F_CONT) {
					KC_CHECK(opened[c]);
				} else {
					KC_CHECK(!opened[c]);
					opened[c] = true;
				}
				continue;
			}
			/* Each file stands alone. */
			if (!here[c])
				fprintf(stderr, "file %d conn %u type %u\n",
				    f, c, r.type);
			KC_CHECK(here[c]);
			KC_CHECK(!ended[c]);
			if (r.type == KSR_END) {
				KC_CHECK(r.flags & KSR_F_COMPLETE);
				ended[c] = true;
				continue;
			}
			KC_CHECK(r.type == KSR_C2S || r.type == KSR_S2C);
			d = r.type == KSR_S2C;
			KC_CHECK_EQ(r.offset, glen[c][d]);
			KC_CHECK_LE(glen[c][d] + r.len, STREAM_MAX);
			memcpy(got[c][d] + glen[c][d], r.payload, r.len);
			glen[c][d] += r.len;
		}
		KC_CHECK_EQ(e, 0);
		ksr_reader_close(rd);
		total += (uint64_t)sb.st_size;
	}
	KC_CHECK_EQ(total, m.s.st.bytes);
	for (i = 0; i < NCONN; i++) {
		if (m.c[i].sent[0] == NULL)
			continue;
		KC_CHECK(opened[i] && ended[i]);
		for (s = 0; s < 2; s++) {
			KC_CHECK_EQ(glen[i][s], m.c[i].len[s]);
			KC_CHECK(memcmp(got[i][s], m.c[i].sent[s],
			    m.c[i].len[s]) == 0);
		}
		free(m.c[i].sent[0]);
		free(m.c[i].sent[1]);
	}
	for (i = 0; i < NCONN; i++) {
		free(got[i][0]);
		free(got[i][1]);
	}
}

/* ---- budget, cap, rotation, failure, safety ---------------------- */

struct one {
	struct stream		*s;
	struct ks_rec_conn	 c, c2;
	size_t			 n;
	int			 rc, rc2;
};

static void
one_fn(void *arg)
{
	struct one *o = arg;
	struct kc_chain ch = KC_CHAIN_INITIALIZER;
	static uint8_t buf[100000];

	memset(buf, 'b', sizeof(buf));
	KC_CHECK_OK(kc_chain_append(&ch, buf, o->n));
	KC_CHECK_OK(ks_rec_begin(o->s->r, &o->c, 1, "proto=tcp"));
	KC_CHECK_OK(ks_rec_begin(o->s->r, &o->c2, 2, "proto=tcp"));
	o->rc = ks_rec_data(&o->c, KSR_C2S, 1, &ch, 0, o->n);
	KC_CHECK_EQ(ks_rec_data(&o->c, KSR_C2S, 2, &ch, 0, 10), o->rc);
	/* The other connection still records. */
	o->rc2 = ks_rec_data(&o->c2, KSR_S2C, 3, &ch, 0, 1000);
	KC_CHECK(ks_rec_complete(&o->c2));
	KC_CHECK_EQ(ks_rec_complete(&o->c), o->rc == 0);
	ks_rec_end(&o->c, 4, "reason=fin");
	ks_rec_end(&o->c2, 4, "reason=fin");
	kc_chain_free(&ch);
}

/* Read one file of prefix: the types of its records in order. */
static int
types_of(const char *prefix, uint32_t *types, uint32_t *flags, int max)
{
	char names[4][128], p[PATH_MAX + 130];
	struct ksr_reader *rd;
	struct ksr_file fh;
	struct ksr_rec r;
	int n = 0, e;

	KC_CHECK_EQ(list_files(prefix, names, 4), 1);
	path_of(names[0], p, sizeof(p));
	KC_CHECK_OK(ksr_reader_open(&rd, p, &fh));
	while ((e = ksr_reader_next(rd, &r, NULL)) == 1 && n < max) {
		types[n] = r.type;
		flags[n++] = r.flags;
	}
	KC_CHECK_EQ(e, 0);
	ksr_reader_close(rd);
	return n;
}

static void
test_budget(void)
{
	struct stream s;
	struct one o;
	uint32_t t[16], fl[16];
	int n;

	/* 100 KB against a 50 KB budget: conn 1 lost, conn 2 complete. */
	stream_open(&s, "budget", 0, 0, 50000);
	memset(&o, 0, sizeof(o));
	o.s = &s;
	o.n = 100000;
	on_ex(one_fn, &o);
	KC_CHECK_EQ(o.rc, -ENOBUFS);
	KC_CHECK_OK(o.rc2);
	KC_CHECK_OK(stream_close(&s));
	KC_CHECK_EQ(s.ev.lost, 1);
	KC_CHECK_EQ(s.st.incomplete, 1);
	KC_CHECK_EQ(s.st.complete, 1);
	n = types_of("budget", t, fl, 16);
	KC_CHECK_EQ(n, 6);
	KC_CHECK_EQ(t[0], KSR_OPEN);
	KC_CHECK_EQ(t[1], KSR_OPEN);
	KC_CHECK_EQ(t[2], KSR_LOST);
	KC_CHECK_EQ(t[3], KSR_S2C);
	KC_CHECK_EQ(t[4], KSR_END);
	KC_CHECK_EQ(fl[4], 0);			/* conn 1: incomplete */
	KC_CHECK_EQ(t[5], KSR_END);
	KC_CHECK_EQ(fl[5], KSR_F_COMPLETE);	/* conn 2 */

	/* The process's cap: -ENOSPC. */
	ks_rec_cap(30000);
	stream_open(&s, "cap", 0, 0, 0);
	memset(&o, 0, sizeof(o));
	o.s = &s;
	o.n = 40000;
	on_ex(one_fn, &o);
	ks_rec_cap(0);
	KC_CHECK_EQ(o.rc, -ENOSPC);
	KC_CHECK_OK(o.rc2);
	KC_CHECK_OK(stream_close(&s));
	KC_CHECK_EQ(s.st.incomplete, 1);
	KC_CHECK_EQ(ks_rec_held_total(), 0);
}

static void
rot_fn(void *arg)
{
	struct one *o = arg;
	struct kc_chain ch = KC_CHAIN_INITIALIZER;
	static uint8_t buf[3000];

	memset(buf, 'r', sizeof(buf));
	KC_CHECK_OK(kc_chain_append(&ch, buf, sizeof(buf)));
	if (o->n == 0)
		KC_CHECK_OK(ks_rec_begin(o->s->r, &o->c, 7, "proto=tcp"));
	if (o->n < 40) {
		o->rc = ks_rec_data(&o->c, KSR_C2S, o->n, &ch, 0,
		    sizeof(buf));
		/* A stream that failed says why, to every later call. */
		KC_CHECK(o->rc == 0 || o->rc == -EFBIG);
		if (o->rc != 0)
			o->rc2++;
	} else
		ks_rec_end(&o->c, o->n, "reason=fin");
	kc_chain_free(&ch);
}

static void
held_fn(void *arg)
{
	struct stream *s = arg;

	ks_rec_stats(s->r, &s->st);
}

/* Until the stream has written all it was given (bounded). */
static void
wait_written(struct stream *s)
{
	uint64_t end = kct_now_ns() + 30 * KCT_NSEC_PER_SEC;

	for (;;) {
		on_ex(held_fn, s);
		if (s->st.held == 0)
			return;
		KC_CHECK_LT(kct_now_ns(), end);
		kct_sleep_ns(KCT_NSEC_PER_MSEC);
	}
}

/*
 * Each 3000-byte record written before the next is given: the files are
 * cut as their sizes say (two records a file), not as fast as the disk.
 */
static void
test_rotation(void)
{
	char names[64][128];
	struct stream s;
	struct one o;
	int n;

	stream_open(&s, "rot", 4096, 3, 0);
	memset(&o, 0, sizeof(o));
	o.s = &s;
	for (o.n = 0; o.n <= 40; o.n++) {
		on_ex(rot_fn, &o);
		wait_written(&s);
	}
	KC_CHECK_EQ(o.rc2, 0);
	KC_CHECK_OK(stream_close(&s));
	KC_CHECK_GE(s.st.files, 19);
	KC_CHECK_EQ(s.ev.removed, (int)s.st.files - 3);
	n = list_files("rot", names, 64);
	KC_CHECK_EQ(n, 3);
	/* The newest three. */
	KC_CHECK_EQ((uint64_t)atoi(names[2] + 4), s.st.files);
	KC_CHECK_EQ((uint64_t)atoi(names[0] + 4), s.st.files - 2);
}

/* A stream named name, its files limited to 20000 bytes (the old limit
 * in *old), and o set for it. */
static void
fsize_stream(struct stream *s, struct one *o, const char *name,
    struct rlimit *old)
{
	struct rlimit lim;

	KC_CHECK_OK(getrlimit(RLIMIT_FSIZE, old));
	lim = *old;
	lim.rlim_cur = 20000;
	KC_CHECK_OK(setrlimit(RLIMIT_FSIZE, &lim));
	stream_open(s, name, 0, 0, 0);
	memset(o, 0, sizeof(*o));
	o->s = s;
}

static void
test_fsize(void)
{
	struct rlimit old;
	struct stream s;
	struct one o;

	fsize_stream(&s, &o, "fsize", &old);
	for (o.n = 0; o.n < 40; o.n++)
		on_ex(rot_fn, &o);
	/*
	 * The writes are the stream's, in the background: wait for the one
	 * that fails (under the limit still), then a later call is told.
	 */
	KCT_WAIT(atomic_load(&s.ev.failed) == 1, 30);
	o.n = 39;
	on_ex(rot_fn, &o);
	KC_CHECK_OK(setrlimit(RLIMIT_FSIZE, &old));
	KC_CHECK_GT(o.rc2, 0);
	KC_CHECK_EQ(s.ev.failed, 1);
	KC_CHECK_EQ(s.ev.err, -EFBIG);
	memset(&o.c2, 0, sizeof(o.c2));
	KC_CHECK_EQ(stream_close(&s), -EFBIG);
	KC_CHECK_EQ(s.st.failed, -EFBIG);
	KC_CHECK_LE(s.st.bytes, 20000);
	KC_CHECK_EQ(ks_rec_held_total(), 0);
}

/* One connection of 30000 bytes, begun and ended in one call. */
static void
big_conn_fn(void *arg)
{
	struct one *o = arg;
	struct kc_chain ch = KC_CHAIN_INITIALIZER;
	static uint8_t buf[3000];
	int i;

	KC_CHECK_OK(kc_chain_append(&ch, buf, sizeof(buf)));
	KC_CHECK_OK(ks_rec_begin(o->s->r, &o->c, 9, "proto=tcp"));
	for (i = 0; i < 10; i++)
		KC_CHECK_OK(ks_rec_data(&o->c, KSR_C2S, (uint64_t)i, &ch, 0,
		    sizeof(buf)));
	KC_CHECK(ks_rec_complete(&o->c));
	ks_rec_end(&o->c, 11, "reason=client_fin");
	kc_chain_free(&ch);
}

static void
test_unwritten_end(void)
{
	struct rlimit old;
	struct stream s;
	struct one o;

	fsize_stream(&s, &o, "unwritten", &old);
	on_ex(big_conn_fn, &o);
	KCT_WAIT(atomic_load(&s.ev.failed) == 1, 30);
	KC_CHECK_OK(setrlimit(RLIMIT_FSIZE, &old));
	KC_CHECK_EQ(stream_close(&s), -EFBIG);
	KC_CHECK_EQ(s.st.conns, 1);
	KC_CHECK_EQ(s.st.complete, 0);
	KC_CHECK_EQ(s.st.incomplete, 1);
	KC_CHECK_EQ(ks_rec_held_total(), 0);
}

static void
begin_after_fail(void *arg)
{
	struct one *o = arg;

	KC_CHECK_EQ(ks_rec_begin(o->s->r, &o->c, 1, "x=1"), -EIO);
	KC_CHECK(!ks_rec_complete(&o->c));
}

static void
test_symlink(void)
{
	char target[PATH_MAX + 32], link[PATH_MAX + 32], b[8];
	struct stream s;
	struct one o;
	int fd;

	snprintf(target, sizeof(target), "%s/target", dir);
	snprintf(link, sizeof(link), "%s/evil-000001.kcrec", dir);
	fd = open(target, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	KC_CHECK(fd >= 0);
	KC_CHECK_EQ(write(fd, "keep", 4), 4);
	close(fd);
	KC_CHECK_OK(symlink(target, link));
	stream_open(&s, "evil", 0, 0, 0);
	KCT_WAIT(s.ev.failed == 1, 30);
	KC_CHECK_EQ(s.ev.err, -EEXIST);
	memset(&o, 0, sizeof(o));
	o.s = &s;
	on_ex(begin_after_fail, &o);
	KC_CHECK_EQ(stream_close(&s), -EEXIST);
	KC_CHECK_EQ(s.st.incomplete, 1);
	fd = open(target, O_RDONLY);
	KC_CHECK_EQ(read(fd, b, sizeof(b)), 4);
	KC_CHECK(memcmp(b, "keep", 4) == 0);
	close(fd);
}

static void
test_dump(void)
{
	char names[8][128], p[PATH_MAX + 130], cut[PATH_MAX + 32];
	char *paths[1], *buf = NULL, *ebuf = NULL;
	size_t blen = 0, elen = 0;
	struct stat sb;
	FILE *out, *err;
	int in, outfd;
	ssize_t n;
	char b[65536];

	KC_CHECK_EQ(list_files("budget", names, 8), 1);
	path_of(names[0], p, sizeof(p));
	paths[0] = p;
	out = open_memstream(&buf, &blen);
	err = open_memstream(&ebuf, &elen);
	KC_CHECK_OK(ksr_dump(paths, 1, KSR_DUMP_DATA, out, err));
	fclose(out);
	fclose(err);
	KC_CHECK(strstr(buf, "2 connections opened, 0 continued, 1 ended "
	    "complete, 1 incomplete, 1 lost; 0 bytes from clients, 1000 "
	    "from upstreams") != NULL);
	KC_CHECK(strstr(buf, "conn 1 lost reason=budget") != NULL);
	KC_CHECK_EQ(elen, 0);
	free(buf);
	free(ebuf);

	/* The same, cut inside its last record. */
	KC_CHECK_OK(stat(p, &sb));
	snprintf(cut, sizeof(cut), "%s/cut.kcrec", dir);
	in = open(p, O_RDONLY);
	outfd = open(cut, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	n = read(in, b, sizeof(b));
	KC_CHECK_EQ(n, sb.st_size);
	KC_CHECK_EQ(write(outfd, b, (size_t)n - 5), n - 5);
	close(in);
	close(outfd);
	paths[0] = cut;
	buf = ebuf = NULL;
	out = open_memstream(&buf, &blen);
	err = open_memstream(&ebuf, &elen);
	KC_CHECK_EQ(ksr_dump(paths, 1, 0, out, err), 1);
	fclose(out);
	fclose(err);
	KC_CHECK(strstr(ebuf, "cut short") != NULL);
	free(buf);
	free(ebuf);
	/* Not a recording. */
	paths[0] = (char *)"/dev/null";
	out = fopen("/dev/null", "w");
	err = open_memstream(&ebuf, &elen);
	KC_CHECK_EQ(ksr_dump(paths, 1, 0, out, err), 1);
	fclose(out);
	fclose(err);
	KC_CHECK(strstr(ebuf, "not a kcsplice recording") != NULL);
	free(ebuf);
}

int
main(void)
{
	kct_begin("unit-kcsplice_record", 240);
	signal(SIGXFSZ, SIG_IGN);
	kct_tmpdir(dir, sizeof(dir), "kcrec");
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	KC_CHECK(dfd >= 0);
	ex = kct_exec_soft("kc-record");
	test_format();
	test_model();
	test_budget();
	test_rotation();
	test_fsize();
	test_unwritten_end();
	test_symlink();
	test_dump();
	kct_exec_finish(ex);
	close(dfd);
	kct_rmtree(dir);
	return kct_done();
}
