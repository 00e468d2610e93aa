/*
 * unit-kcsplice_replay: kcsplice --replay's engine (tools/kcsplice/
 * replay.h) against a line server of the test's own on loopback.
 *
 * The server answers each line "x" with "echo:x\r\nDate: <n>\r\n", n
 * counting its answers since it started (a field that legitimately
 * differs), and closes when the client has shut its side.  Recordings are
 * written with the format's encoders:
 *   matched: two connections of three and two turns, replayed with
 *   --ignore 'Date: [0-9]*', match; without the ignore they diverge, at
 *   the Date's value;
 *   diverged: a recorded reply that the server does not give: the offset
 *   and both excerpts are reported, the exit status is 1;
 *   byte ranges: --ignore-bytes over the differing byte makes it match;
 *   a cut connection: one whose client reset with its last line not yet
 *   answered matches, saying how many bytes past the recorded replies it
 *   did not compare; the same recording closed cleanly (client_fin)
 *   diverges there;
 *   recorded timing, sped up 4 times: the same replies;
 *   an incomplete recording (KSR_LOST) is replayed and says so;
 *   nothing listening: failed, exit status 69;
 *   the JSON report holds each connection's status and the total;
 *   a bad regular expression: 64; no recording: 66;
 *   a hostile file: 100000 connections of one OPEN each (4.8 MB of
 *   records, no data) under a 1 MiB bound: refused (66, "take more than
 *   1048576 bytes of memory"), not replayed; every connection and event
 *   counts against the bound, not only the payload; a server that floods
 *   its replies (a line "flood": writes until the client goes) ends the
 *   connection once it has sent 1 MiB past the recorded replies:
 *   diverged, and said so, not read without end;
 *   UDP: a recorded datagram session is replayed from a UDP socket to a
 *   UDP echo server of the test's (each datagram answered "echo:" and it):
 *   the same datagrams match; the same bytes recorded as one reply
 *   datagram where the server sends two diverge, and the line says so;
 *   the recorded order: connections recorded one after another (a "put"
 *   that the next one's "get" reads back), written to the files out of
 *   that order, are replayed one after another, in recorded order, by
 *   turns and with recorded timing.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "kctest.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "recfmt.h"
#include "replay.h"

static char dir[PATH_MAX];
static int lfd, ufd;
static struct kc_sockaddr srv, usrv;
static atomic_int stop, answers;
static pthread_mutex_t kept_mtx = PTHREAD_MUTEX_INITIALIZER;
static char kept[64] = "none";	/* the last "put:V"'s V */

/* ---- the line server ------------------------------------------------ */

static void *
serve_one(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[4096], line[4096], out[4200];
	size_t have = 0;
	ssize_t n;

	for (;;) {
		char *nl;

		n = read(fd, buf + have, sizeof(buf) - have);
		if (n <= 0)
			break;
		have += (size_t)n;
		while ((nl = memchr(buf, '\n', have)) != NULL) {
			size_t l = (size_t)(nl - buf);
			int m;

			memcpy(line, buf, l);
			line[l] = '\0';
			if (strcmp(line, "flood") == 0) {
				/* Until the client goes. */
				memset(out, 'F', sizeof(out));
				while (write(fd, out, sizeof(out)) > 0)
					;
				goto done;
			}
			pthread_mutex_lock(&kept_mtx);
			if (strncmp(line, "put:", 4) == 0)
				snprintf(kept, sizeof(kept), "%.60s", line + 4);
			else if (strcmp(line, "get") == 0)
				snprintf(line, sizeof(line), "%s", kept);
			pthread_mutex_unlock(&kept_mtx);
			m = snprintf(out, sizeof(out), "echo:%s\r\nDate: %d\r\n",
			    line, atomic_fetch_add(&answers, 1) + 1000);
			if (write(fd, out, (size_t)m) != m)
				goto done;
			memmove(buf, nl + 1, have - l - 1);
			have -= l + 1;
		}
	}
done:
	close(fd);
	return NULL;
}

static void *
server(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		int fd = accept(lfd, NULL, NULL);
		pthread_t t;

		if (fd < 0)
			continue;
		if (atomic_load(&stop)) {
			close(fd);
			break;
		}
		t = kct_thread_start(serve_one, (void *)(intptr_t)fd);
		pthread_detach(t);
	}
	return NULL;
}

/* Each datagram back to its sender behind "echo:". */
static void *
udp_server(void *arg)
{
	char buf[70000];
	struct sockaddr_storage from;
	socklen_t fl;
	ssize_t n;

	(void)arg;
	while (!atomic_load(&stop)) {
		fl = sizeof(from);
		n = recvfrom(ufd, buf + 5, sizeof(buf) - 5, 0,
		    (struct sockaddr *)&from, &fl);
		if (n < 0)
			continue;
		memcpy(buf, "echo:", 5);
		(void)sendto(ufd, buf, (size_t)n + 5, 0,
		    (struct sockaddr *)&from, fl);
	}
	return NULL;
}

/* ---- writing recordings ------------------------------------------- */

struct wr {
	FILE		*f;
	uint64_t	 off[2];
};

static void
w_open(struct wr *w, const char *name)
{
	struct ksr_file fh = { .version = KSR_VERSION, .created_ns = 1,
	    .pid = 4242, .seq = 1 };
	uint8_t h[KSR_FILE_HDR];
	char p[PATH_MAX + 64];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	KC_CHECK((w->f = fopen(p, "w")) != NULL);
	ksr_file_encode(h, &fh);
	KC_CHECK_EQ(fwrite(h, 1, sizeof(h), w->f), sizeof(h));
}

static void
w_rec(struct wr *w, uint32_t type, uint64_t conn, uint64_t t,
    uint32_t flags, const char *payload)
{
	static const uint8_t zero[8];
	struct ksr_rec r = { .type = type, .len = (uint32_t)strlen(payload),
	    .conn = conn, .time_ns = t, .flags = flags };
	uint8_t h[KSR_REC_HDR];

	if (type == KSR_C2S || type == KSR_S2C) {
		r.offset = w->off[type - KSR_C2S];
		w->off[type - KSR_C2S] += r.len;
	}
	ksr_rec_encode(h, &r);
	KC_CHECK_EQ(fwrite(h, 1, sizeof(h), w->f), sizeof(h));
	KC_CHECK_EQ(fwrite(payload, 1, r.len, w->f), r.len);
	KC_CHECK_EQ(fwrite(zero, 1, ksr_pad(r.len), w->f), ksr_pad(r.len));
}

/* A conversation of lines, with the answers the server gives (dates d0..). */
static void
w_conv(struct wr *w, uint64_t conn, const char *const *lines, int n,
    const char *wrong)
{
	char ans[256];
	int i;

	w->off[0] = w->off[1] = 0;
	w_rec(w, KSR_OPEN, conn, 0, 0, "proto=tcp client=127.0.0.1:1");
	for (i = 0; i < n; i++) {
		char l[128];

		snprintf(l, sizeof(l), "%s\n", lines[i]);
		w_rec(w, KSR_C2S, conn, (uint64_t)(i + 1) * 20000000ull, 0, l);
		snprintf(ans, sizeof(ans), "echo:%s\r\nDate: %d\r\n",
		    wrong != NULL && i == n - 1 ? wrong : lines[i], 7 + i);
		w_rec(w, KSR_S2C, conn, (uint64_t)(i + 1) * 20000000ull + 1,
		    0, ans);
	}
	w_rec(w, KSR_END, conn, 100, KSR_F_COMPLETE, "reason=client_fin");
}

static void
w_close(struct wr *w)
{
	KC_CHECK_OK(fclose(w->f));
}

/* ---- running ------------------------------------------------------ */

static int run_err(struct ks_replay_opts *o, const char *input,
    char **outp, const char *want);

static int
run(struct ks_replay_opts *o, const char *input, char **outp)
{
	return run_err(o, input, outp, NULL);
}

/* As run(); what it says on err must hold want (if not NULL). */
static int
run_err(struct ks_replay_opts *o, const char *input, char **outp,
    const char *want)
{
	char *const inputs[1] = { (char *)input };
	char *ebuf = NULL;
	size_t olen = 0, elen = 0;
	FILE *out, *err;
	int rc;

	*outp = NULL;
	o->inputs = inputs;
	o->ninputs = 1;
	KC_CHECK((out = open_memstream(outp, &olen)) != NULL);
	KC_CHECK((err = open_memstream(&ebuf, &elen)) != NULL);
	rc = ks_replay_run(o, out, err);
	fclose(out);
	fclose(err);
	if (elen > 0)
		printf("replay said: %s", ebuf);
	if (want != NULL)
		KC_CHECK(ebuf != NULL && strstr(ebuf, want) != NULL);
	free(ebuf);
	return rc;
}

static void
opts(struct ks_replay_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->to = srv;
	o->timeout_ns = 20 * KCT_NSEC_PER_SEC;
}

static const char *const l3[] = { "one", "two", "three" };
static const char *const l2[] = { "alpha", "beta" };
static const char *const lz[] = { "z" };

static void
test_match(void)
{
	struct ks_replay_opts o;
	struct wr w;
	char p[PATH_MAX + 16], *out;

	w_open(&w, "a-000001.kcrec");
	w_conv(&w, 1, l3, 3, NULL);
	w_conv(&w, 2, l2, 2, NULL);
	w_close(&w);
	snprintf(p, sizeof(p), "%s", dir);

	opts(&o);
	o.ignore[o.nignore++] = "Date: [0-9]*";
	KC_CHECK_EQ(run(&o, p, &out), 0);
	KC_CHECK(strstr(out, "replay: 2 connections: 2 matched, 0 diverged")
	    != NULL);
	free(out);

	/* Without the ignore: the dates differ ("Date: 7" against 100x). */
	opts(&o);
	KC_CHECK_EQ(run(&o, p, &out), 1);
	KC_CHECK(strstr(out, "conn 1 (proto=tcp client=127.0.0.1:1): diverged "
	    "at offset 16: expected \"7\\r\\necho:two\\r\\nDat\"") != NULL);
	KC_CHECK(strstr(out, "2 diverged") != NULL);
	free(out);

	/* The same with recorded timing, four times faster. */
	opts(&o);
	o.ignore[o.nignore++] = "Date: [0-9]*";
	o.timing = KS_TIMING_RECORDED;
	o.speed = 4;
	KC_CHECK_EQ(run(&o, p, &out), 0);
	KC_CHECK(strstr(out, "2 matched") != NULL);
	free(out);
}

/* One connection of one turn, opened at t (ms) and ended 50 ms later. */
static void
w_turn(struct wr *w, uint64_t conn, uint64_t t, const char *line,
    const char *answer)
{
	char l[128], ans[256];

	t *= 1000000ull;
	w->off[0] = w->off[1] = 0;
	w_rec(w, KSR_OPEN, conn, t, 0, "proto=tcp client=127.0.0.1:1");
	snprintf(l, sizeof(l), "%s\n", line);
	w_rec(w, KSR_C2S, conn, t + 10000000ull, 0, l);
	snprintf(ans, sizeof(ans), "echo:%s\r\nDate: 1\r\n", answer);
	w_rec(w, KSR_S2C, conn, t + 20000000ull, 0, ans);
	w_rec(w, KSR_END, conn, t + 50000000ull, KSR_F_COMPLETE,
	    "reason=client_fin");
}

static void
test_order(void)
{
	struct ks_replay_opts o;
	struct wr w;
	char p[PATH_MAX + 16], *out;
	int timing;

	snprintf(p, sizeof(p), "%s/order", dir);
	KC_CHECK_OK(mkdir(p, 0700));
	/* Two workers' files: each holds every other connection, the later
	 * ones first. */
	w_open(&w, "order/b-000001.kcrec");
	w_turn(&w, 4, 400, "get", "second");
	w_turn(&w, 2, 200, "get", "first");
	w_close(&w);
	w_open(&w, "order/a-000001.kcrec");
	w_turn(&w, 3, 300, "put:second", "put:second");
	w_turn(&w, 1, 100, "put:first", "put:first");
	w_close(&w);
	for (timing = 0; timing < 2; timing++) {
		opts(&o);
		o.ignore[o.nignore++] = "Date: [0-9]*";
		o.timing = timing ? KS_TIMING_RECORDED : KS_TIMING_TURNS;
		o.speed = 2;
		KC_CHECK_EQ(run(&o, p, &out), 0);
		KC_CHECK(strstr(out, "4 connections: 4 matched") != NULL);
		/* Reported in recorded order. */
		KC_CHECK(strstr(out, "conn 1 ") < strstr(out, "conn 2 "));
		KC_CHECK(strstr(out, "conn 2 ") < strstr(out, "conn 3 "));
		KC_CHECK(strstr(out, "conn 3 ") < strstr(out, "conn 4 "));
		free(out);
	}
}

/* "one" answered, "two" sent and not answered before the end, reason. */
static void
test_cut(const char *reason, int want)
{
	struct ks_replay_opts o;
	struct wr w;
	char p[PATH_MAX + 64], name[64], end[64], *out;

	snprintf(p, sizeof(p), "%s/cut-%s", dir, reason);
	KC_CHECK_OK(mkdir(p, 0700));
	snprintf(name, sizeof(name), "cut-%s/a-000001.kcrec", reason);
	w_open(&w, name);
	w.off[0] = w.off[1] = 0;
	w_rec(&w, KSR_OPEN, 1, 1, 0, "proto=tcp client=127.0.0.1:3");
	w_rec(&w, KSR_C2S, 1, 2, 0, "one\n");
	w_rec(&w, KSR_S2C, 1, 3, 0, "echo:one\r\nDate: 1\r\n");
	w_rec(&w, KSR_C2S, 1, 4, 0, "two\n");
	snprintf(end, sizeof(end), "reason=%s c2s=8 s2c=19", reason);
	w_rec(&w, KSR_END, 1, 5, KSR_F_COMPLETE, end);
	w_close(&w);
	opts(&o);
	o.ignore[o.nignore++] = "Date: [0-9]*";
	KC_CHECK_EQ(run(&o, p, &out), want);
	if (want == 0)
		KC_CHECK(strstr(out, "matched; sent 8, received ") != NULL &&
		    strstr(out, " bytes past the recorded replies not compared "
		    "(the recorded connection ended: client_rst)") != NULL);
	else
		KC_CHECK(strstr(out, "diverged at offset ") != NULL);
	free(out);
}

static void
test_udp(void)
{
	struct ks_replay_opts o;
	struct wr w;
	char p[PATH_MAX + 16], *out;

	snprintf(p, sizeof(p), "%s/udp", dir);
	KC_CHECK_OK(mkdir(p, 0700));
	w_open(&w, "udp/a-000001.kcrec");
	w.off[0] = w.off[1] = 0;
	w_rec(&w, KSR_OPEN, 1, 1, 0, "proto=udp client=127.0.0.1:4");
	w_rec(&w, KSR_C2S, 1, 2, KSR_F_DGRAM, "ab");
	w_rec(&w, KSR_S2C, 1, 3, KSR_F_DGRAM, "echo:ab");
	w_rec(&w, KSR_C2S, 1, 4, KSR_F_DGRAM, "c");
	w_rec(&w, KSR_S2C, 1, 5, KSR_F_DGRAM, "echo:c");
	w_rec(&w, KSR_END, 1, 6, KSR_F_COMPLETE, "reason=idle_timeout");
	/* Two datagrams at once; their replies recorded as one. */
	w.off[0] = w.off[1] = 0;
	w_rec(&w, KSR_OPEN, 2, 7, 0, "proto=udp client=127.0.0.1:5");
	w_rec(&w, KSR_C2S, 2, 8, KSR_F_DGRAM, "x");
	w_rec(&w, KSR_C2S, 2, 9, KSR_F_DGRAM, "y");
	w_rec(&w, KSR_S2C, 2, 10, KSR_F_DGRAM, "echo:xecho:y");
	w_rec(&w, KSR_END, 2, 11, KSR_F_COMPLETE, "reason=idle_timeout");
	w_close(&w);
	opts(&o);
	o.to = usrv;
	KC_CHECK_EQ(run(&o, p, &out), 1);
	KC_CHECK(strstr(out, "conn 1 (proto=udp client=127.0.0.1:4): matched; "
	    "sent 3, received 13 of 13 recorded") != NULL);
	KC_CHECK(strstr(out, "conn 2 (proto=udp client=127.0.0.1:5): diverged "
	    "at offset 0 (the same bytes, in other datagrams)") != NULL);
	free(out);
}

static void
test_diverge(void)
{
	struct ks_replay_opts o;
	struct wr w;
	char p[PATH_MAX + 64], rp[PATH_MAX + 64], *out, *json;
	FILE *f;
	long n;

	KC_CHECK_OK(mkdir(strcat(strcpy(p, dir), "/div"), 0700));
	snprintf(p, sizeof(p), "%s/div", dir);
	w_open(&w, "div/b-000001.kcrec");
	w_conv(&w, 5, l2, 2, "gamma");
	w_rec(&w, KSR_OPEN, 6, 0, 0, "proto=tcp client=127.0.0.1:2");
	w.off[0] = w.off[1] = 0;
	w_rec(&w, KSR_C2S, 6, 1, 0, "x\n");
	w_rec(&w, KSR_LOST, 6, 2, 0, "reason=budget");
	w_rec(&w, KSR_END, 6, 3, 0, "reason=fin");
	w_close(&w);

	opts(&o);
	o.ignore[o.nignore++] = "Date: [0-9]*";
	snprintf(rp, sizeof(rp), "%s/report.json", dir);
	o.report = rp;
	KC_CHECK_EQ(run(&o, p, &out), 1);
	/*
	 * "echo:alpha\r\nDate: 10NN\r\necho:" is 29 bytes; the recording's
	 * "echo:alpha\r\nDate: 7\r\necho:" 26.
	 */
	KC_CHECK(strstr(out, "conn 5 (proto=tcp client=127.0.0.1:1): diverged "
	    "at offset 29 (26 in the recording): expected \"gamma\\r\\nDate: 8\\r\\n\" "
	    "(67616d6d610d0a446174653a20380d0a), got \"beta\\r\\nDate: ")
	    != NULL);
	KC_CHECK(strstr(out, "conn 6 (proto=tcp client=127.0.0.1:2): "
	    "diverged") != NULL);
	KC_CHECK(strstr(out, "the recording is incomplete (lost bytes)") !=
	    NULL);
	free(out);
	KC_CHECK((f = fopen(rp, "r")) != NULL);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	json = calloc(1, (size_t)n + 1);
	KC_CHECK_EQ(fread(json, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	KC_CHECK(strstr(json, "\"id\":5,\"pid\":4242") != NULL);
	KC_CHECK(strstr(json, "\"status\":\"diverged\"") != NULL);
	KC_CHECK(strstr(json, "\"expected_text\":\"gamma\\u000d\\u000a") !=
	    NULL);
	KC_CHECK(strstr(json, "\"recording_complete\":false") != NULL);
	KC_CHECK(strstr(json, "\"total\":{\"matched\":0,\"diverged\":2,"
	    "\"timeout\":0,\"failed\":0,"
	    "\"connections\":2}") != NULL);
	free(json);

	/* Byte ranges: "echo:x" recorded, "echo:z" answered: byte 5. */
	KC_CHECK_OK(mkdir(strcat(strcpy(p, dir), "/range"), 0700));
	w_open(&w, "range/c-000001.kcrec");
	w_conv(&w, 9, lz, 1, "x");
	w_close(&w);
	opts(&o);
	o.ignore[o.nignore++] = "Date: [0-9]*";
	KC_CHECK_EQ(run(&o, p, &out), 1);
	KC_CHECK(strstr(out, "diverged at offset 5: expected \"x") != NULL);
	free(out);
	o.ignore_bytes[0].from = 5;
	o.ignore_bytes[0].to = 6;
	o.nignore_bytes = 1;
	KC_CHECK_EQ(run(&o, p, &out), 0);
	KC_CHECK(strstr(out, "conn 9 (proto=tcp client=127.0.0.1:1): matched")
	    != NULL);
	free(out);

	test_cut("client_rst", 0);
	test_cut("client_fin", 1);
}

static void
test_hostile(void)
{
	struct ks_replay_opts o;
	struct wr w;
	char p[PATH_MAX + 32], *out;
	uint64_t i;

	snprintf(p, sizeof(p), "%s/hostile", dir);
	KC_CHECK_OK(mkdir(p, 0700));
	w_open(&w, "hostile/a-000001.kcrec");
	for (i = 1; i <= 100000; i++)
		w_rec(&w, KSR_OPEN, i, i, 0, "x");
	w_close(&w);
	opts(&o);
	o.max_bytes = 1u << 20;
	KC_CHECK_EQ(run_err(&o, p, &out, "take more than 1048576 bytes of "
	    "memory to replay: not replayed"), 66);
	free(out);

	snprintf(p, sizeof(p), "%s/flood", dir);
	KC_CHECK_OK(mkdir(p, 0700));
	w_open(&w, "flood/a-000001.kcrec");
	w.off[0] = w.off[1] = 0;
	w_rec(&w, KSR_OPEN, 1, 1, 0, "proto=tcp client=127.0.0.1:6");
	w_rec(&w, KSR_C2S, 1, 2, 0, "flood\n");
	w_rec(&w, KSR_S2C, 1, 3, 0, "FFFF");
	w_rec(&w, KSR_END, 1, 4, KSR_F_COMPLETE, "reason=client_fin");
	w_close(&w);
	opts(&o);
	KC_CHECK_EQ(run(&o, p, &out), 1);
	KC_CHECK(strstr(out, "diverged at offset 4 (the server sent over "
	    "1048576 bytes past the recorded replies; no more was read): "
	    "expected \"\" (), got \"FFFFFFFFFFFFFFFF\"") != NULL);
	free(out);
}

static void
test_errors(void)
{
	struct ks_replay_opts o;
	char p[PATH_MAX + 16], *out;
	int fd;

	snprintf(p, sizeof(p), "%s/a-000001.kcrec", dir);
	/* Nothing listens: a port bound and closed. */
	opts(&o);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	KC_CHECK_OK(kc_sockaddr_parse(&o.to, "127.0.0.1:0"));
	KC_CHECK_OK(bind(fd, &o.to.a.sa, o.to.len));
	KC_CHECK_OK(getsockname(fd, &o.to.a.sa, &o.to.len));
	close(fd);
	KC_CHECK_EQ(run(&o, p, &out), 69);
	KC_CHECK(strstr(out, "failed (Connection refused)") != NULL);
	free(out);

	opts(&o);
	o.ignore[o.nignore++] = "([";
	KC_CHECK_EQ(run(&o, p, &out), 64);
	free(out);
	opts(&o);
	KC_CHECK_EQ(run(&o, "/dev/null", &out), 66);
	free(out);
}

int
main(void)
{
	pthread_t t, ut;
	int one = 1;

	kct_begin("unit-kcsplice_replay", 240);
	signal(SIGPIPE, SIG_IGN);
	kct_tmpdir(dir, sizeof(dir), "kcreplay");
	KC_CHECK_OK(kc_sockaddr_parse(&srv, "127.0.0.1:0"));
	KC_CHECK((lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0);
	(void)setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	KC_CHECK_OK(bind(lfd, &srv.a.sa, srv.len));
	KC_CHECK_OK(listen(lfd, 64));
	KC_CHECK_OK(getsockname(lfd, &srv.a.sa, &srv.len));
	t = kct_thread_start(server, NULL);
	KC_CHECK_OK(kc_sockaddr_parse(&usrv, "127.0.0.1:0"));
	KC_CHECK((ufd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) >= 0);
	KC_CHECK_OK(bind(ufd, &usrv.a.sa, usrv.len));
	KC_CHECK_OK(getsockname(ufd, &usrv.a.sa, &usrv.len));
	{
		struct timeval tv = { 0, 100000 };

		KC_CHECK_OK(setsockopt(ufd, SOL_SOCKET, SO_RCVTIMEO, &tv,
		    sizeof(tv)));
	}
	ut = kct_thread_start(udp_server, NULL);
	test_match();
	test_diverge();
	test_errors();
	test_order();
	test_udp();
	test_hostile();
	atomic_store(&stop, 1);
	kct_thread_join(ut);
	close(ufd);
	shutdown(lfd, SHUT_RDWR);
	{
		/* Wake the accept. */
		int c = socket(AF_INET, SOCK_STREAM, 0);

		(void)connect(c, &srv.a.sa, srv.len);
		close(c);
	}
	kct_thread_join(t);
	close(lfd);
	kct_rmtree(dir);
	return kct_done();
}
