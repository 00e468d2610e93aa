/*
 * net-sendfile-*: kc_socket_sendfile(), file ranges in an owned stream
 * socket's send queue.  One program; argv[1] names the scenario, argv[2]
 * the path: "ring" (the file has io_uring: the pipe is filled by the
 * owner's ring) or "direct" (a KC_FILE_FALLBACK file: sendfile(2)).
 *
 *   sha256     a 1 GiB file to a TCP peer whose reader is sha256sum(1);
 *              its digest is the file's, done says 1 GiB.
 *   stall      the reader stops: continuations on the owner still run,
 *              done waits; the reader resumes and gets every byte.
 *   reset      the reader resets half way: done gets -ECONNRESET or
 *              -EPIPE and *sent the bytes sent before; no SIGPIPE (not
 *              ignored here).
 *   epipe      a UNIX peer shuts its reading side: -EPIPE, no SIGPIPE.
 *   close      the socket closed behind a range in progress and one
 *              queued: the first is flushed, the second -ECANCELED.
 *   truncate   the file shrinks during the send: done reports the bytes
 *              sent, fewer than asked, which is what the reader gets.
 *   interleave threads send numbered messages while file ranges are
 *              queued between them: every message whole, in each thread's
 *              order, file ranges contiguous and in their order.
 *   fileclose  kc_file_close() during a send, and with a second range
 *              queued behind it, waits for both; both send every byte.
 *   edges      zero length, offsets at and past the end, a short file,
 *              bad arguments, after shutdown and close.
 *   big        2 GiB + a little of a sparse file: the status is capped at
 *              INT_MAX, *sent has the count.
 *   rate       1 GiB to a reader that discards, and the same through a
 *              read(2) + write(2) loop: the two rates are printed.
 *
 * Over 127.0.0.1 and UNIX streams (sha256 and rate: 127.0.0.1 only).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "nettest.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <kcont/io.h>

extern char **environ;

#define MiB		(1024ull * 1024ull)
#define GIB		(1024ull * MiB)
#define MID		(64ull * MiB)

static struct kc_executor *ex;
static bool direct;
static unsigned nfile;

/* ---- files ---- */

/*
 * A new file of size bytes; its path in path.  The pattern of seed
 * throughout, or (stamped, faster for large files) its first MiB repeated,
 * each MiB stamped with its offset, so that a lost or repeated MiB shows.
 */
static int
pat_file(char *path, size_t plen, uint64_t size, uint64_t seed, bool stamped)
{
	uint8_t *buf = malloc(MiB);
	uint64_t off;
	int fd;

	KC_CHECK(buf != NULL);
	snprintf(path, plen, "%s/f%u", nt_tmpdir(), nfile++);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	KC_CHECK(fd >= 0);
	if (stamped)
		nt_pat_fill(buf, MiB, seed, 0);
	for (off = 0; off < size; off += MiB) {
		size_t n = size - off < MiB ? (size_t)(size - off) : MiB;

		if (!stamped)
			nt_pat_fill(buf, n, seed, off);
		else if (n >= sizeof(off))
			memcpy(buf, &off, sizeof(off));
		KC_CHECK_EQ(pwrite(fd, buf, n, (off_t)off), (ssize_t)n);
	}
	free(buf);
	return fd;
}

static struct kc_file *
adopt(int fd)
{
	struct kc_file *f;

	KC_CHECK_OK(kc_file_adopt(&f, ex, fd, direct ? KC_FILE_FALLBACK : 0));
	/* The path under test is the one asked for, or the test fails. */
	KC_CHECK_EQ(kc_file_uring(f), direct ? 0 : 1);
	return f;
}

struct fclose {
	struct kc_file_req	 rq;
	struct nt_done		 d;
};

static void
file_close(struct kc_file *f)
{
	struct fclose c;

	memset(&c, 0, sizeof(c));
	nt_done_init(&c.d, ex);
	KC_CHECK_OK(kc_file_close(f, &c.rq, &c.d.kc));
	nt_done_wait(&c.d);
	KC_CHECK_EQ(atomic_load(&c.d.status), 0);
}

/* The test thread's view of a raw peer descriptor: blocking again. */
static void
set_blocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	KC_CHECK(fl >= 0);
	KC_CHECK_OK(fcntl(fd, F_SETFL, fl & ~O_NONBLOCK));
}

/* Bytes waiting in the peer's receive queue. */
static int
queued(int fd)
{
	int n = 0;

	KC_CHECK_OK(ioctl(fd, FIONREAD, &n));
	return n;
}

/* Run a continuation on ex n times, each waited for: ex is responsive. */
static void
nop(void *arg)
{
	atomic_int *c = arg;

	atomic_fetch_add(c, 1);
}

static void
ping(unsigned n)
{
	atomic_int c = 0;
	unsigned i;

	for (i = 0; i < n; i++)
		nt_on(ex, nop, &c);
	KC_CHECK_EQ(atomic_load(&c), (int)n);
}

/* ---- sha256 ---- */

static pid_t
spawn_sha(int in, int *out)
{
	posix_spawn_file_actions_t fa;
	char *argv[] = { "sha256sum", NULL };
	int p[2];
	pid_t pid;

	KC_CHECK_OK(pipe2(p, O_CLOEXEC));
	KC_CHECK_OK(posix_spawn_file_actions_init(&fa));
	KC_CHECK_OK(posix_spawn_file_actions_adddup2(&fa, in, 0));
	KC_CHECK_OK(posix_spawn_file_actions_adddup2(&fa, p[1], 1));
	if (posix_spawnp(&pid, "sha256sum", &fa, NULL, argv, environ) != 0)
		kct_fail(__FILE__, __LINE__, "sha256sum(1) cannot be run "
		    "(coreutils)");
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	*out = p[0];
	return pid;
}

/* The digest sha256sum printed (64 hex digits). */
static void
sha_result(pid_t pid, int out, char hex[65])
{
	char line[256];
	size_t got = 0;
	ssize_t n;
	int st;

	while ((n = read(out, line + got, sizeof(line) - 1 - got)) > 0)
		got += (size_t)n;
	close(out);
	KC_CHECK_EQ(waitpid(pid, &st, 0), pid);
	KC_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	KC_CHECK_GE(got, 64);
	memcpy(hex, line, 64);
	hex[64] = '\0';
}

static void
sc_sha256(void)
{
	char path[PATH_MAX], want[65], got[65];
	struct kc_socket *s;
	struct nt_done d;
	struct kc_file *f;
	uint64_t sent = 0, t0, t1;
	int fd, peer, fout, pout;
	pid_t pf, pp;

	fd = pat_file(path, sizeof(path), GIB, kct_rand(), true);
	/* The file's digest, by a second sha256sum on the file itself. */
	pf = spawn_sha(fd, &fout);
	f = adopt(fd);
	s = nt_pair(ex, NT_TCP4, NULL, false, &peer);
	set_blocking(peer);
	pp = spawn_sha(peer, &pout);
	close(peer);		/* the child's now */
	nt_done_init(&d, ex);
	t0 = kct_now_ns();
	KC_CHECK_OK(kc_socket_sendfile(s, f, 0, GIB, &sent, &d.kc));
	nt_done_wait(&d);
	t1 = kct_now_ns();
	KC_CHECK_EQ(atomic_load(&d.status), (int)GIB);
	KC_CHECK_EQ(sent, GIB);
	KC_CHECK_PTR_EQ(atomic_load(&d.obj), s);
	KC_CHECK_PTR_EQ(atomic_load(&d.ran_on), ex);
	KC_CHECK_OK(kc_socket_shutdown(s, SHUT_WR));
	sha_result(pp, pout, got);
	sha_result(pf, fout, want);
	if (strcmp(got, want) != 0)
		kct_fail(__FILE__, __LINE__, "sha256 at the reader %s, of the "
		    "file %s", got, want);
	printf("    1 GiB, sha256 %.16s... matches; %.0f MB/s to "
	    "sha256sum(1)\n", got, (double)GIB / ((double)(t1 - t0) / 1e3));
	nt_close(s);
	file_close(f);
}

/* ---- a reader that stops ---- */

static void
sc_stall(enum nt_kind k)
{
	char path[PATH_MAX];
	uint64_t seed = kct_rand(), sent = 0;
	uint8_t *buf = malloc(MID);
	struct kc_socket *s;
	struct nt_done d;
	struct kc_file *f;
	int peer;

	KC_CHECK(buf != NULL);
	f = adopt(pat_file(path, sizeof(path), MID, seed, false));
	s = nt_pair(ex, k, NULL, false, &peer);
	nt_done_init(&d, ex);
	KC_CHECK_OK(kc_socket_sendfile(s, f, 0, MID, &sent, &d.kc));
	/* Sending has begun, and the reader reads nothing. */
	KCT_WAIT(queued(peer) > 0, NT_WAIT_S);
	/*
	 * 64 MiB cannot fit in the connection's buffers: the send is stuck
	 * on a full socket, and the owner still runs other continuations.
	 */
	ping(200);
	KC_CHECK_EQ(atomic_load(&d.n), 0);
	nt_raw_read_full(peer, buf, MID);
	nt_check_buf(buf, MID, seed, 0, "stalled send");
	nt_done_wait(&d);
	KC_CHECK_EQ(atomic_load(&d.status), (int)MID);
	KC_CHECK_EQ(sent, MID);
	nt_close(s);
	nt_raw_expect_eof(peer);
	nt_raw_close(peer);
	file_close(f);
	free(buf);
}

/* ---- a reset half way ---- */

static void
sc_reset(enum nt_kind k)
{
	char path[PATH_MAX];
	uint64_t seed = kct_rand(), sent = ~0ull;
	uint8_t *buf = malloc(MiB);
	struct kc_socket *s;
	struct nt_done d;
	struct kc_file *f;
	int peer, st;

	KC_CHECK(buf != NULL);
	f = adopt(pat_file(path, sizeof(path), MID, seed, false));
	s = nt_pair(ex, k, NULL, false, &peer);
	nt_done_init(&d, ex);
	KC_CHECK_OK(kc_socket_sendfile(s, f, 0, MID, &sent, &d.kc));
	nt_raw_read_full(peer, buf, MiB);
	nt_check_buf(buf, MiB, seed, 0, "before the reset");
	/* TCP: SO_LINGER 0; UNIX: closed with unread data, also a reset. */
	if (nt_domain(k) == AF_UNIX)
		nt_raw_close(peer);
	else
		nt_raw_reset(peer);
	nt_done_wait(&d);
	st = atomic_load(&d.status);
	if (st != -ECONNRESET && st != -EPIPE)
		kct_fail(__FILE__, __LINE__, "done status %d", st);
	KC_CHECK_GE(sent, MiB);
	KC_CHECK_LT(sent, MID);
	KC_CHECK(kc_socket_state(s) & KC_SS_ERROR);
	/* Later sendfiles fail at once with the socket's error. */
	KC_CHECK_EQ(kc_socket_sendfile(s, f, 0, 1, NULL, &d.kc),
	    kc_socket_error(s));
	printf("    %s: %d after %llu bytes\n", nt_kind_name[k], st,
	    (unsigned long long)sent);
	nt_close(s);
	file_close(f);
	free(buf);
}

/*
 * A UNIX stream peer that has shut its reading side: the first write fails
 * with EPIPE, and the kernel raises SIGPIPE for it, which must not reach
 * the process (the test does not ignore it).  (Shut while the sender waits
 * for room, no event would tell the sender: the peer is expected to read
 * or close.)
 */
static void
sc_epipe(void)
{
	char path[PATH_MAX];
	uint64_t seed = kct_rand(), sent = ~0ull;
	struct kc_socket *s;
	struct nt_done d;
	struct kc_file *f;
	int peer;

	f = adopt(pat_file(path, sizeof(path), MID, seed, false));
	s = nt_pair(ex, NT_UNIX, NULL, false, &peer);
	KC_CHECK_OK(shutdown(peer, SHUT_RD));
	nt_done_init(&d, ex);
	KC_CHECK_OK(kc_socket_sendfile(s, f, 0, MID, &sent, &d.kc));
	nt_done_wait(&d);
	KC_CHECK_EQ(atomic_load(&d.status), -EPIPE);
	KC_CHECK_EQ(sent, 0);
	KC_CHECK_EQ(kc_socket_error(s), -EPIPE);
	nt_close(s);
	nt_raw_close(peer);
	file_close(f);
}

/*
 * The socket is closed behind a range being sent and one queued: the
 * first is written out within the linger, like the send buffer, then the
 * peer gets the end of file; the queued one is cancelled.
 */
static void
sc_close(enum nt_kind k)
{
	char path[PATH_MAX];
	uint64_t seed = kct_rand(), s1 = 0, s2 = ~0ull;
	uint64_t len = 32 * MiB;
	uint8_t *buf = malloc(len);
	struct kc_socket *s;
	struct nt_done d1, d2, cd;
	struct kc_file *f;
	int peer;

	KC_CHECK(buf != NULL);
	f = adopt(pat_file(path, sizeof(path), len, seed, false));
	s = nt_pair(ex, k, NULL, false, &peer);
	nt_done_init(&d1, ex);
	nt_done_init(&d2, ex);
	nt_done_init(&cd, NULL);
	KC_CHECK_OK(kc_socket_sendfile(s, f, 0, len, &s1, &d1.kc));
	KC_CHECK_OK(kc_socket_sendfile(s, f, 0, MiB, &s2, &d2.kc));
	KCT_WAIT(queued(peer) > 0, NT_WAIT_S);
	KC_CHECK_OK(kc_socket_close(s, &cd.kc));
	nt_done_wait(&d2);
	KC_CHECK_EQ(atomic_load(&d2.status), -ECANCELED);
	KC_CHECK_EQ(s2, 0);
	KC_CHECK_EQ(atomic_load(&d1.n), 0);
	nt_raw_read_full(peer, buf, len);
	nt_check_buf(buf, len, seed, 0, "range flushed by the close");
	nt_raw_expect_eof(peer);
	nt_done_wait(&d1);
	KC_CHECK_EQ(atomic_load(&d1.status), (int)len);
	KC_CHECK_EQ(s1, len);
	nt_done_wait(&cd);
	nt_raw_close(peer);
	file_close(f);
	free(buf);
}

/* ---- the file shrinks ---- */

static void
sc_truncate(enum nt_kind k)
{
	char path[PATH_MAX];
	uint64_t seed = kct_rand(), sent = 0, got = 0, deadline;
	uint8_t *buf = malloc(MID);
	struct kc_socket *s;
	struct nt_done d;
	struct kc_file *f;
	ssize_t n;
	int peer, fd;

	KC_CHECK(buf != NULL);
	fd = pat_file(path, sizeof(path), MID, seed, false);
	f = adopt(fd);
	s = nt_pair(ex, k, NULL, false, &peer);
	nt_done_init(&d, ex);
	KC_CHECK_OK(kc_socket_sendfile(s, f, 0, MID, &sent, &d.kc));
	nt_raw_read_full(peer, buf, MiB);
	got = MiB;
	/* The connection's buffers hold far less than 31 MiB more. */
	KC_CHECK_OK(truncate(path, MID / 2));
	KC_CHECK_EQ(atomic_load(&d.n), 0);
	/*
	 * Read until done has run and every byte it counts is here.  The
	 * reader may take the last bytes before the owner learns the file
	 * ended, so a read never waits long: a blocking one would wait for
	 * bytes that never come.
	 */
	deadline = kct_now_ns() + (uint64_t)NT_WAIT_S * KCT_NSEC_PER_SEC;
	while (!(atomic_load(&d.n) > 0 && got == sent)) {
		struct pollfd pf = { .fd = peer, .events = POLLIN };

		KC_CHECK_LT(kct_now_ns(), deadline);
		if (poll(&pf, 1, 10) <= 0)
			continue;
		n = nt_raw_read(peer, buf + got, MID - got);
		if (n <= 0)
			break;
		got += (uint64_t)n;
	}
	KC_CHECK_EQ(queued(peer), 0);
	nt_done_wait(&d);
	KC_CHECK_EQ(atomic_load(&d.status), (int)sent);
	KC_CHECK_GE(sent, MID / 2);
	KC_CHECK_LT(sent, MID);
	/* The reader has every byte sent, and nothing else. */
	KC_CHECK_OK(kc_socket_shutdown(s, SHUT_WR));
	while ((n = nt_raw_read(peer, buf + got, MID - got)) > 0)
		got += (uint64_t)n;
	KC_CHECK_EQ(n, 0);
	KC_CHECK_EQ(got, sent);
	nt_check_buf(buf, MID / 2, seed, 0, "truncated file's bytes");
	printf("    %s: %llu of %llu bytes, the file cut to %llu\n",
	    nt_kind_name[k], (unsigned long long)sent,
	    (unsigned long long)MID, (unsigned long long)(MID / 2));
	nt_close(s);
	nt_raw_close(peer);
	file_close(f);
	free(buf);
}

/* ---- interleaving with kc_socket_send() ---- */

#define IL_THREADS	4
#define IL_MSGS		150
#define IL_FRAME	(64u * 1024u)	/* a file frame */
#define IL_NFRAMES	256u		/* 16 MiB of file */
#define IL_RANGE	4u		/* frames per sendfile */
#define IL_SF		(IL_NFRAMES / IL_RANGE)
#define IL_SFTID	IL_THREADS	/* the sendfile thread's messages */
#define IL_FILE		0xf11eu

struct frame {
	uint32_t	 tid;		/* IL_FILE for a file frame */
	uint32_t	 seq;
	uint32_t	 len;		/* of the payload */
	uint32_t	 magic;
};

#define IL_MAGIC	0x5e4df11eu

static uint64_t il_seed;
static struct kc_socket *il_sock;
static struct kc_file *il_file;

static uint64_t
fseed(uint32_t tid, uint32_t seq)
{
	return il_seed ^ ((uint64_t)tid << 40) ^ seq;
}

static void
msg_send(uint32_t tid, uint32_t seq, uint32_t len)
{
	struct kc_chain c = KC_CHAIN_INITIALIZER;
	struct frame h = { tid, seq, len, IL_MAGIC };

	KC_CHECK_OK(kc_chain_append(&c, &h, sizeof(h)));
	nt_chain_pat(&c, fseed(tid, seq), 0, len);
	KC_CHECK_OK(kc_socket_send(il_sock, &c, NULL, NULL));
	kc_chain_free(&c);
}

static void *
il_sender(void *arg)
{
	uint32_t tid = (uint32_t)(uintptr_t)arg, i;

	for (i = 0; i < IL_MSGS; i++) {
		/* Mostly small, now and then above the high-water mark. */
		uint32_t len = i % 37 == 5 ? 300u * 1024u :
		    (uint32_t)kct_rand_below(8192) + 1;

		msg_send(tid, i, len);
	}
	return NULL;
}

static struct nt_done il_done[IL_SF];
static uint64_t il_sent[IL_SF];

static void *
il_sendfiler(void *arg)
{
	uint32_t i;

	(void)arg;
	for (i = 0; i < IL_SF; i++) {
		KC_CHECK_OK(kc_socket_sendfile(il_sock, il_file,
		    (uint64_t)i * IL_RANGE * IL_FRAME, IL_RANGE * IL_FRAME,
		    &il_sent[i], &il_done[i].kc));
		/* Says how many file frames must have come before it. */
		msg_send(IL_SFTID, i, 16);
	}
	return NULL;
}

static void
read_frame(int peer, struct frame *h, uint8_t *payload)
{
	nt_raw_read_full(peer, h, sizeof(*h));
	KC_CHECK_EQ(h->magic, IL_MAGIC);
	KC_CHECK_LE(h->len, 300u * 1024u);
	nt_raw_read_full(peer, payload, h->len);
}

static void
sc_interleave(enum nt_kind k)
{
	char path[PATH_MAX];
	uint32_t next[IL_THREADS + 1] = { 0 }, fnext = 0, i;
	uint8_t *buf = malloc(IL_NFRAMES * IL_FRAME), *payload;
	unsigned msgs = 0, want = IL_THREADS * IL_MSGS + IL_SF;
	pthread_t t[IL_THREADS + 1];
	struct frame h;
	int fd, peer;

	KC_CHECK(buf != NULL);
	payload = malloc(300u * 1024u);
	KC_CHECK(payload != NULL);
	il_seed = kct_rand();
	/* The file: frames like the messages', tid IL_FILE. */
	for (i = 0; i < IL_NFRAMES; i++) {
		struct frame fh = { IL_FILE, i, IL_FRAME - sizeof(fh),
			IL_MAGIC };

		memcpy(buf + (size_t)i * IL_FRAME, &fh, sizeof(fh));
		nt_pat_fill(buf + (size_t)i * IL_FRAME + sizeof(fh),
		    IL_FRAME - sizeof(fh), fseed(IL_FILE, i), 0);
	}
	snprintf(path, sizeof(path), "%s/il%u", nt_tmpdir(), nfile++);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	KC_CHECK(fd >= 0);
	KC_CHECK_EQ(write(fd, buf, IL_NFRAMES * IL_FRAME),
	    (ssize_t)(IL_NFRAMES * IL_FRAME));
	il_file = adopt(fd);
	il_sock = nt_pair(ex, k, NULL, false, &peer);
	for (i = 0; i < IL_SF; i++)
		nt_done_init(&il_done[i], NULL);
	for (i = 0; i < IL_THREADS; i++)
		t[i] = kct_thread_start(il_sender, (void *)(uintptr_t)i);
	t[IL_THREADS] = kct_thread_start(il_sendfiler, NULL);
	while (msgs < want || fnext < IL_NFRAMES) {
		read_frame(peer, &h, payload);
		if (h.tid == IL_FILE) {
			/* File frames in order; a range is never split. */
			KC_CHECK_EQ(h.seq, fnext);
			KC_CHECK_EQ(h.len, IL_FRAME - sizeof(h));
			nt_check_buf(payload, h.len, fseed(IL_FILE, h.seq), 0,
			    "file frame");
			fnext++;
			if (fnext % IL_RANGE != 0) {
				read_frame(peer, &h, payload);
				KC_CHECK_EQ(h.tid, IL_FILE);
				KC_CHECK_EQ(h.seq, fnext);
				nt_check_buf(payload, h.len,
				    fseed(IL_FILE, h.seq), 0, "file frame");
				fnext++;
				while (fnext % IL_RANGE != 0) {
					read_frame(peer, &h, payload);
					KC_CHECK_EQ(h.tid, IL_FILE);
					KC_CHECK_EQ(h.seq, fnext);
					fnext++;
				}
			}
			continue;
		}
		KC_CHECK_LE(h.tid, IL_SFTID);
		KC_CHECK_EQ(h.seq, next[h.tid]);
		nt_check_buf(payload, h.len, fseed(h.tid, h.seq), 0,
		    "message");
		next[h.tid]++;
		msgs++;
		/* The sendfile thread's range i went before its message i. */
		if (h.tid == IL_SFTID)
			KC_CHECK_EQ(fnext, (h.seq + 1) * IL_RANGE);
	}
	for (i = 0; i <= IL_THREADS; i++)
		(void)kct_thread_join(t[i]);
	for (i = 0; i < IL_SF; i++) {
		nt_done_wait(&il_done[i]);
		KC_CHECK_EQ(atomic_load(&il_done[i].status),
		    (int)(IL_RANGE * IL_FRAME));
		KC_CHECK_EQ(il_sent[i], IL_RANGE * IL_FRAME);
	}
	printf("    %s: %u messages and %u file ranges in order\n",
	    nt_kind_name[k], msgs - IL_SF, IL_SF);
	nt_close(il_sock);
	nt_raw_close(peer);
	file_close(il_file);
	free(payload);
	free(buf);
}

/* ---- closing the file during a send ---- */

static atomic_int order;
static atomic_int sf_at, sf2_at, close_at;

static void
mark(void *obj, void *env, int status)
{
	atomic_int *at = env;

	(void)obj;
	(void)status;
	atomic_store(at, atomic_fetch_add(&order, 1) + 1);
}

static void
sc_fileclose(enum nt_kind k)
{
	char path[PATH_MAX];
	uint64_t seed = kct_rand(), sent = 0, sent2 = 0;
	uint8_t *buf = malloc(MID);
	struct kc_file_req rq = { 0 };
	struct kc_socket *s;
	struct kc_file *f;
	struct kc sfk, sf2k, clk;
	int peer;

	KC_CHECK(buf != NULL);
	atomic_store(&order, 0);
	atomic_store(&sf_at, 0);
	atomic_store(&sf2_at, 0);
	atomic_store(&close_at, 0);
	KC_CHECK_OK(kc_init(&sfk, mark, &sf_at, ex, 0));
	KC_CHECK_OK(kc_init(&sf2k, mark, &sf2_at, ex, 0));
	KC_CHECK_OK(kc_init(&clk, mark, &close_at, ex, 0));
	f = adopt(pat_file(path, sizeof(path), MID, seed, false));
	s = nt_pair(ex, k, NULL, false, &peer);
	KC_CHECK_OK(kc_socket_sendfile(s, f, 0, MID, &sent, &sfk));
	/* A second range, queued behind: it starts after the close began. */
	KC_CHECK_OK(kc_socket_sendfile(s, f, 1000, MiB, &sent2, &sf2k));
	KCT_WAIT(queued(peer) > 0, NT_WAIT_S);
	KC_CHECK_OK(kc_file_close(f, &rq, &clk));
	/* The file is closing (its memory lasts: the send holds it). */
	KC_CHECK_EQ(kc_socket_sendfile(s, f, 0, 1, NULL, &clk), -EBADF);
	/* The close waits for the send, which waits for the reader. */
	ping(100);
	KC_CHECK_EQ(atomic_load(&close_at), 0);
	KC_CHECK_EQ(atomic_load(&sf_at), 0);
	nt_raw_read_full(peer, buf, MID);
	nt_check_buf(buf, MID, seed, 0, "send during the close");
	nt_raw_read_full(peer, buf, MiB);
	nt_check_buf(buf, MiB, seed, 1000, "range queued before the close");
	KCT_WAIT(atomic_load(&close_at) != 0, NT_WAIT_S);
	KC_CHECK_EQ(atomic_load(&sf_at), 1);
	KC_CHECK_EQ(atomic_load(&sf2_at), 2);
	KC_CHECK_EQ(atomic_load(&close_at), 3);
	KC_CHECK_EQ(sent, MID);
	KC_CHECK_EQ(sent2, MiB);
	nt_close(s);
	nt_raw_close(peer);
	free(buf);
}

/* ---- edges ---- */

static int
sf_wait(struct kc_socket *s, struct kc_file *f, uint64_t off, uint64_t len,
    uint64_t *sent)
{
	struct nt_done d;

	nt_done_init(&d, ex);
	*sent = ~0ull;
	KC_CHECK_OK(kc_socket_sendfile(s, f, off, len, sent, &d.kc));
	nt_done_wait(&d);
	KC_CHECK_PTR_EQ(atomic_load(&d.obj), s);
	return atomic_load(&d.status);
}

/* From a continuation on the owner: a range, then a send behind it. */
struct onowner {
	struct kc_socket	*s;
	struct kc_file		*f;
	struct nt_done		*d;
	uint64_t		*sent;
	uint64_t		 seed;
};

static void
on_owner_send(void *arg)
{
	struct onowner *o = arg;
	struct kc_chain c = KC_CHAIN_INITIALIZER;

	KC_CHECK_OK(kc_socket_sendfile(o->s, o->f, 100, 3000, o->sent,
	    &o->d->kc));
	nt_chain_pat(&c, o->seed + 1, 0, 700);
	KC_CHECK_OK(kc_socket_send(o->s, &c, NULL, NULL));
	kc_chain_free(&c);
}

static void
sc_edges(enum nt_kind k)
{
	char path[PATH_MAX];
	uint64_t seed = kct_rand(), sent;
	uint8_t buf[5000];
	struct kc_socket *s, *dg;
	struct kc_file *f;
	struct nt_done d;
	int peer;

	f = adopt(pat_file(path, sizeof(path), 5000, seed, false));
	s = nt_pair(ex, k, NULL, false, &peer);
	nt_done_init(&d, ex);
	/* Zero length, at or past the end of the file: done with 0. */
	KC_CHECK_EQ(sf_wait(s, f, 0, 0, &sent), 0);
	KC_CHECK_EQ(sent, 0);
	KC_CHECK_EQ(sf_wait(s, f, 5000, 100, &sent), 0);
	KC_CHECK_EQ(sent, 0);
	KC_CHECK_EQ(sf_wait(s, f, 1ull << 40, 100, &sent), 0);
	KC_CHECK_EQ(sent, 0);
	/* Asked for more than there is: a short count. */
	KC_CHECK_EQ(sf_wait(s, f, 1000, 1ull << 40, &sent), 4000);
	KC_CHECK_EQ(sent, 4000);
	/* A 64-bit length is taken; sent may be NULL. */
	KC_CHECK_OK(kc_socket_sendfile(s, f, 4990, (uint64_t)INT64_MAX - 4990,
	    NULL,
	    &d.kc));
	nt_done_wait(&d);
	KC_CHECK_EQ(atomic_load(&d.status), 10);
	nt_raw_read_full(peer, buf, 4010);
	nt_check_buf(buf, 4000, seed, 1000, "short file");
	nt_check_buf(buf + 4000, 10, seed, 4990, "file's last bytes");
	/* On the owner, the send made after the range goes after it. */
	nt_done_init(&d, ex);
	nt_on(ex, on_owner_send, &(struct onowner){ s, f, &d, &sent, seed });
	nt_raw_read_full(peer, buf, 3700);
	nt_check_buf(buf, 3000, seed, 100, "range sent on the owner");
	nt_check_buf(buf + 3000, 700, seed + 1, 0, "send behind it");
	nt_done_wait(&d);
	KC_CHECK_EQ(atomic_load(&d.status), 3000);
	KC_CHECK_EQ(sent, 3000);
	/* Bad arguments, at once. */
	KC_CHECK_EQ(kc_socket_sendfile(NULL, f, 0, 1, NULL, &d.kc), -EINVAL);
	KC_CHECK_EQ(kc_socket_sendfile(s, NULL, 0, 1, NULL, &d.kc), -EINVAL);
	KC_CHECK_EQ(kc_socket_sendfile(s, f, 0, 1, NULL, NULL), -EINVAL);
	KC_CHECK_EQ(kc_socket_sendfile(s, (struct kc_file *)(void *)s, 0, 1,
	    NULL, &d.kc), -EINVAL);
	KC_CHECK_EQ(kc_socket_sendfile(s, f, (uint64_t)INT64_MAX, 1, NULL,
	    &d.kc), -EINVAL);
	KC_CHECK_EQ(kc_socket_sendfile(s, f, 1ull << 63, 0, NULL, &d.kc),
	    -EINVAL);
	dg = nt_socket(ex, k == NT_UNIX ? NT_UNIXDG : NT_UDP4, NULL);
	KC_CHECK_EQ(kc_socket_sendfile(dg, f, 0, 1, NULL, &d.kc), -EINVAL);
	nt_close(dg);
	/* After a shutdown for sending: -EPIPE at once. */
	KC_CHECK_OK(kc_socket_shutdown(s, SHUT_WR));
	KC_CHECK_EQ(kc_socket_sendfile(s, f, 0, 1, NULL, &d.kc), -EPIPE);
	nt_raw_expect_eof(peer);
	KC_CHECK_EQ(atomic_load(&d.n), 1);
	nt_close(s);
	nt_raw_close(peer);
	file_close(f);
}

/* ---- a status above INT_MAX ---- */

static void *sink_main(void *arg);

struct sink {
	int		 fd;
	uint64_t	 want;
	uint64_t	 got;
};

static void
sc_big(void)
{
	char path[PATH_MAX];
	uint64_t size = 2 * GIB + MiB + 17, sent = 0;
	struct kc_socket *s;
	struct nt_done d;
	struct kc_file *f;
	struct sink k;
	pthread_t t;
	int fd, peer;

	/* Sparse: its pages are zeros, made by the kernel. */
	snprintf(path, sizeof(path), "%s/big%u", nt_tmpdir(), nfile++);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	KC_CHECK(fd >= 0);
	KC_CHECK_OK(ftruncate(fd, (off_t)size));
	f = adopt(fd);
	s = nt_pair(ex, NT_TCP4, NULL, false, &peer);
	set_blocking(peer);
	k = (struct sink){ peer, size, 0 };
	t = kct_thread_start(sink_main, &k);
	nt_done_init(&d, ex);
	KC_CHECK_OK(kc_socket_sendfile(s, f, 0, UINT64_MAX / 4, &sent, &d.kc));
	nt_done_wait(&d);
	(void)kct_thread_join(t);
	/* The status is capped; *sent has the count. */
	KC_CHECK_EQ(atomic_load(&d.status), INT_MAX);
	KC_CHECK_EQ(sent, size);
	KC_CHECK_EQ(k.got, size);
	KC_CHECK_OK(kc_socket_shutdown(s, SHUT_WR));
	nt_raw_expect_eof(peer);
	nt_close(s);
	nt_raw_close(peer);
	file_close(f);
}

/* ---- rates ---- */

static void *
sink_main(void *arg)
{
	struct sink *k = arg;
	uint8_t *buf = malloc(MiB);
	ssize_t n;

	KC_CHECK(buf != NULL);
	while (k->got < k->want) {
		n = read(k->fd, buf, MiB);
		KC_CHECK_GT(n, 0);
		k->got += (uint64_t)n;
	}
	free(buf);
	return NULL;
}

/* CPU time (user + system) of the process, or of the calling thread. */
static uint64_t
cpu_ns(int who)
{
	struct rusage ru;

	KC_CHECK_OK(getrusage(who, &ru));
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) *
	    1000000000ull + ((uint64_t)ru.ru_utime.tv_usec +
	    (uint64_t)ru.ru_stime.tv_usec) * 1000ull;
}

static void
owner_cpu(void *arg)
{
	*(uint64_t *)arg = cpu_ns(RUSAGE_THREAD);
}

struct cost {
	uint64_t	 wall;		/* ns */
	uint64_t	 cpu;		/* the process's, ns */
	uint64_t	 owner;		/* the owner thread's, ns */
	uint64_t	 maxwait;	/* longest a continuation waited, ns */
};

/*
 * Send the file to a reader that discards; meanwhile the test thread runs
 * continuations on the owner one after another.  The time taken, and the
 * longest a continuation waited for the owner.
 */
static void
rate_send(struct kc_file *f, struct cost *c, bool ping_owner)
{
	struct kc_socket *s;
	struct sink k;
	struct nt_done d;
	uint64_t sent = 0, o0, o1, maxwait = 0;
	atomic_int n = 0;
	pthread_t t;
	int peer;

	s = nt_pair(ex, NT_TCP4, NULL, false, &peer);
	set_blocking(peer);
	k = (struct sink){ peer, GIB, 0 };
	t = kct_thread_start(sink_main, &k);
	nt_done_init(&d, ex);
	nt_on(ex, owner_cpu, &o0);
	c->cpu = cpu_ns(RUSAGE_SELF);
	c->wall = kct_now_ns();
	KC_CHECK_OK(kc_socket_sendfile(s, f, 0, GIB, &sent, &d.kc));
	while (ping_owner && atomic_load(&d.n) == 0) {
		uint64_t a = kct_now_ns(), b;

		nt_on(ex, nop, &n);
		b = kct_now_ns() - a;
		if (b > maxwait)
			maxwait = b;
	}
	nt_done_wait(&d);
	(void)kct_thread_join(t);
	c->wall = kct_now_ns() - c->wall;
	c->cpu = cpu_ns(RUSAGE_SELF) - c->cpu;
	nt_on(ex, owner_cpu, &o1);
	c->owner = o1 - o0;
	c->maxwait = maxwait;
	KC_CHECK_EQ(atomic_load(&d.status), (int)GIB);
	KC_CHECK_EQ(sent, GIB);
	KC_CHECK_EQ(k.got, GIB);
	nt_close(s);
	nt_raw_close(peer);
}

static void
cost_print(const char *what, const struct cost *c)
{
	printf("    %-24s %5.0f MB/s, cpu %.2f s (sender %.2f s), a "
	    "continuation waited %.1f ms at most\n", what,
	    (double)GIB / ((double)c->wall / 1e3), (double)c->cpu / 1e9,
	    (double)c->owner / 1e9, (double)c->maxwait / 1e6);
}

static void
sc_rate(void)
{
	char path[PATH_MAX];
	uint8_t *buf = malloc(256 * 1024);
	struct kc_file *f;
	struct kc_sockaddr a;
	struct sink k;
	struct cost cold, warm, rw = { 0 };
	uint64_t off;
	pthread_t t;
	int fd, lfd, w, r;

	KC_CHECK(buf != NULL);
	fd = pat_file(path, sizeof(path), GIB, kct_rand(), true);
	f = adopt(fd);
	/* Out of the page cache first: every page is read from the disk. */
	KC_CHECK_OK(fdatasync(fd));
	KC_CHECK_OK(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED));
	rate_send(f, &cold, true);
	rate_send(f, &warm, false);

	/* The same bytes by pread(2) and write(2), blocking, 256 KiB. */
	lfd = nt_raw_listener(NT_TCP4, &a);
	w = nt_raw_connect(&a);
	r = nt_raw_accept(lfd);
	set_blocking(r);
	set_blocking(w);
	k = (struct sink){ r, GIB, 0 };
	t = kct_thread_start(sink_main, &k);
	rw.cpu = cpu_ns(RUSAGE_SELF);
	rw.owner = cpu_ns(RUSAGE_THREAD);
	rw.wall = kct_now_ns();
	for (off = 0; off < GIB; off += 256 * 1024) {
		size_t done = 0;

		KC_CHECK_EQ(pread(kc_file_fd(f), buf, 256 * 1024, (off_t)off),
		    256 * 1024);
		while (done < 256 * 1024) {
			ssize_t n = write(w, buf + done, 256 * 1024 - done);

			KC_CHECK_GT(n, 0);
			done += (size_t)n;
		}
	}
	(void)kct_thread_join(t);
	rw.wall = kct_now_ns() - rw.wall;
	rw.cpu = cpu_ns(RUSAGE_SELF) - rw.cpu;
	rw.owner = cpu_ns(RUSAGE_THREAD) - rw.owner;
	printf("    1 GiB to a reader that discards (%s):\n",
	    direct ? "sendfile(2)" : "ring splice");
	cost_print("cold, pinged, sendfile", &cold);
	cost_print("warm, kc_socket_sendfile", &warm);
	cost_print("warm, pread+write loop", &rw);
	nt_raw_close(w);
	nt_raw_close(r);
	nt_raw_close(lfd);
	file_close(f);
	free(buf);
}

int
main(int argc, char **argv)
{
	static const enum nt_kind kinds[] = { NT_TCP4, NT_UNIX };
	char name[128];
	const char *sc;
	long base;
	unsigned i;

	if (argc != 3 || (strcmp(argv[2], "ring") != 0 &&
	    strcmp(argv[2], "direct") != 0)) {
		fprintf(stderr, "usage: net-sendfile scenario ring|direct\n");
		return 2;
	}
	sc = argv[1];
	direct = strcmp(argv[2], "direct") == 0;
	snprintf(name, sizeof(name), "net-sendfile-%s-%s", sc, argv[2]);
	kct_begin(name, 600);
	base = kc_socket_count();
	ex = kct_exec_soft("sendfile");
	if (strcmp(sc, "sha256") == 0)
		sc_sha256();
	else if (strcmp(sc, "big") == 0)
		sc_big();
	else if (strcmp(sc, "epipe") == 0)
		sc_epipe();
	else if (strcmp(sc, "rate") == 0)
		sc_rate();
	else
		for (i = 0; i < 2; i++) {
			if (strcmp(sc, "stall") == 0)
				sc_stall(kinds[i]);
			else if (strcmp(sc, "reset") == 0)
				sc_reset(kinds[i]);
			else if (strcmp(sc, "truncate") == 0)
				sc_truncate(kinds[i]);
			else if (strcmp(sc, "interleave") == 0)
				sc_interleave(kinds[i]);
			else if (strcmp(sc, "fileclose") == 0)
				sc_fileclose(kinds[i]);
			else if (strcmp(sc, "close") == 0)
				sc_close(kinds[i]);
			else if (strcmp(sc, "edges") == 0)
				sc_edges(kinds[i]);
			else
				kct_fail(__FILE__, __LINE__, "no scenario %s",
				    sc);
			nt_wait_count(base);
		}
	nt_wait_count(base);
	kct_exec_finish(ex);
	return kct_done();
}
