/*
 * nginx.c: kcsplice in front of a real nginx, with a real nginx as its
 * mirror, driven by wrk.
 *
 *   nginx-wrk-mirror  two nginx (Debian's, as this test's own processes:
 *                     daemon off, master_process off, on 127.0.0.1 ports
 *                     picked here, configuration, logs and temporary files
 *                     in the test's directory), kcsplice relaying to the
 *                     first and mirroring to the second, and wrk -t2 -c50
 *                     -d2s through kcsplice, each request with a path of
 *                     its own.  wrk resets its connections when it exits,
 *                     with requests in flight: every request kcsplice read
 *                     must still reach the mirror.  The mirror nginx is
 *                     stopped (SIGSTOP) while wrk runs and continued when
 *                     wrk has exited, so that it is far behind at the
 *                     resets, as a slower mirror would be (one that keeps
 *                     up on loopback has nothing in flight to lose, and
 *                     would not show the loss).  Once kcsplice has no
 *                     connection left, the request lines of the two access
 *                     logs, compared as multisets, are the same; nothing
 *                     was detached or dropped, and the mirror was written
 *                     at least what the upstream was.
 *   nginx-record-replay
 *                     kcsplice --record in front of an nginx while wrk
 *                     -t2 -c8 -d1s makes requests (a path each) through
 *                     it; at the stop every connection was recorded
 *                     whole, and kcsplice --dump lists them.  More than a
 *                     second later (so that every Date header differs)
 *                     kcsplice --replay against a second nginx: without
 *                     --ignore every connection diverges, in a Date
 *                     header; with --ignore 'Date: [^\r]*' every one
 *                     matches (wrk's resets with a request in flight
 *                     leave replies past the recording, not compared),
 *                     the JSON report says so, and the second nginx
 *                     logged every request the first did.
 *
 * nginx and wrk come from scripts/deps.sh it (CI installs them); where
 * they are not installed the scenario is skipped and says why.
 */
#include "it.h"
#include "proc.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PLEN		256	/* the paths here: it_dir is short */
#define MAX_LINES	1000000u

static char base[128];

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	IT_CHECKF(f != NULL, "%s: %s", path, strerror(errno));
	IT_CHECK(fputs(text, f) >= 0);
	IT_CHECK(fclose(f) == 0);
}

struct ngx {
	const char	*role;
	char		 dir[192];
	unsigned	 port;
	pid_t		 pid;
};

static void
ngx_start(struct ngx *n, const char *bin, const char *role)
{
	char conf[PLEN], path[PLEN], out[PLEN], text[4096];
	const char *argv[8];
	static const char *const tmp[] = { "body", "proxy", "fastcgi",
	    "uwsgi", "scgi" };
	uint64_t end;
	size_t i;

	n->role = role;
	snprintf(n->dir, sizeof(n->dir), "%s/%s", base, role);
	IT_CHECK(mkdir(n->dir, 0700) == 0);
	for (i = 0; i < sizeof(tmp) / sizeof(tmp[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", n->dir, tmp[i]);
		IT_CHECK(mkdir(path, 0700) == 0);
	}
	n->port = proc_free_port();
	/*
	 * One process, in the foreground; every file in its directory.  A
	 * connection keeps going as long as wrk's does (keepalive_requests),
	 * so that the mirror's connection never closes before the primary's.
	 */
	snprintf(text, sizeof(text),
	    "daemon off;\n"
	    "master_process off;\n"
	    "worker_processes 1;\n"
	    "pid %1$s/nginx.pid;\n"
	    "error_log %1$s/error.log notice;\n"
	    "events { worker_connections 1024; }\n"
	    "http {\n"
	    "  log_format req '$request';\n"
	    "  access_log %1$s/access.log req;\n"
	    "  client_body_temp_path %1$s/body;\n"
	    "  proxy_temp_path %1$s/proxy;\n"
	    "  fastcgi_temp_path %1$s/fastcgi;\n"
	    "  uwsgi_temp_path %1$s/uwsgi;\n"
	    "  scgi_temp_path %1$s/scgi;\n"
	    "  keepalive_requests 1000000000;\n"
	    "  keepalive_timeout 300s;\n"
	    "  server {\n"
	    "    listen 127.0.0.1:%2$u;\n"
	    "    location / { return 200 \"ok\\n\"; }\n"
	    "  }\n"
	    "}\n", n->dir, n->port);
	snprintf(conf, sizeof(conf), "%s/nginx.conf", n->dir);
	write_file(conf, text);
	snprintf(out, sizeof(out), "%s/stderr", n->dir);
	argv[0] = bin;
	argv[1] = "-p";
	argv[2] = n->dir;
	argv[3] = "-e";
	snprintf(path, sizeof(path), "%s/error.log", n->dir);
	argv[4] = path;
	argv[5] = "-c";
	argv[6] = conf;
	argv[7] = NULL;
	n->pid = proc_spawn(argv, out, (uid_t)-1, (gid_t)-1);
	end = it_now_ns() + (uint64_t)(it_limit(20) * 1e9);
	while (!proc_listening(n->port)) {
		int st = proc_reap(n->pid, 0.05);

		if (st >= 0 || it_now_ns() > end) {
			char *e = proc_slurp(path), *o = proc_slurp(out);

			if (st < 0)
				proc_stop(n->pid);
			IT_FAIL("nginx (%s) did not start (status %d): %s %s",
			    role, st, o, e);
		}
	}
	it_log("nginx %s on 127.0.0.1:%u", role, n->port);
}

static int
cmp_line(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The lines of text, sorted (they point into text). */
static char **
lines(char *text, size_t *np)
{
	char **v = calloc(MAX_LINES, sizeof(*v));
	size_t n = 0;
	char *p, *nl;

	IT_CHECK(v != NULL);
	for (p = text; *p != '\0' && n < MAX_LINES; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL)
			break;
		*nl = '\0';
		v[n++] = p;
	}
	qsort(v, n, sizeof(*v), cmp_line);
	*np = n;
	return v;
}

static size_t
count_lines(const char *path)
{
	char *t = proc_slurp(path);
	size_t n = 0;
	const char *p;

	for (p = t; (p = strchr(p, '\n')) != NULL; p++)
		n++;
	free(t);
	return n;
}

/* wrk's path (in wrk_bin, PATH_MAX) and two nginx: a primary and one
 * in role; skipped where either program is missing. */
static void
ngx_pair(char *wrk_bin, struct ngx *prim, struct ngx *other,
    const char *role)
{
	char nginx_bin[PATH_MAX];

	if (proc_find("nginx", nginx_bin, sizeof(nginx_bin)) == NULL)
		it_skip("nginx is not installed (scripts/deps.sh it)");
	if (proc_find("wrk", wrk_bin, PATH_MAX) == NULL)
		it_skip("wrk is not installed (scripts/deps.sh it)");
	snprintf(base, sizeof(base), "%s/nginx", it_dir);
	IT_CHECK(mkdir(base, 0700) == 0);
	ngx_start(prim, nginx_bin, "primary");
	ngx_start(other, nginx_bin, role);
}

/*
 * wrk -t2 with conns and secs against 127.0.0.1:port, each thread
 * numbering its requests so that every path is its own; cont (if not 0)
 * is sent SIGCONT once wrk has ended.  It must exit 0.
 */
static void
wrk_run(const char *wrk_bin, unsigned port, const char *conns,
    const char *secs, pid_t cont)
{
	char url[128], script[PLEN], out[PLEN], *text;
	const char *wargv[] = { wrk_bin, "-t2", conns, secs, "-s", script,
	    url, NULL };
	pid_t wpid;
	int wst;

	snprintf(script, sizeof(script), "%s/paths.lua", base);
	write_file(script,
	    "tid = 0\n"
	    "count = 0\n"
	    "local threads = 0\n"
	    "function setup(thread)\n"
	    "  threads = threads + 1\n"
	    "  thread:set(\"tid\", threads)\n"
	    "end\n"
	    "function request()\n"
	    "  count = count + 1\n"
	    "  return wrk.format(\"GET\", \"/t\" .. tid .. \"/r\" .. count)\n"
	    "end\n");
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", port);
	snprintf(out, sizeof(out), "%s/wrk.out", base);
	wpid = proc_spawn(wargv, out, (uid_t)-1, (gid_t)-1);
	wst = proc_reap(wpid, it_limit(60));
	if (cont != 0)
		IT_CHECK(kill(cont, SIGCONT) == 0);
	if (wst < 0) {
		proc_stop(wpid);
		IT_FAIL("wrk did not finish in time");
	}
	text = proc_slurp(out);
	it_log("wrk (status %d):\n%s", wst, text);
	IT_EQ(wst, 0);
	free(text);
}

static void
nginx_wrk_mirror(void)
{
	char wrk_bin[PATH_MAX], mirror_arg[64];
	char upstream_arg[64], plog[PLEN], mlog[PLEN];
	struct ngx prim, mir;
	struct it_stats st;
	struct ks k;
	const char *args[8];
	char *ptext, *mtext, **pv, **mv;
	size_t np, nm, i, last = 0;
	uint64_t end;

	ngx_pair(wrk_bin, &prim, &mir, "mirror");

	snprintf(mirror_arg, sizeof(mirror_arg), "tcp:127.0.0.1:%u",
	    mir.port);
	snprintf(upstream_arg, sizeof(upstream_arg), "tcp:127.0.0.1:%u",
	    prim.port);
	memset(&k, 0, sizeof(k));
	args[0] = "--mirror";
	args[1] = mirror_arg;
	args[2] = "tcp:127.0.0.1:0";
	args[3] = upstream_arg;
	args[4] = NULL;
	ks_start(&k, args);

	/* The mirror stopped while wrk runs (see above). */
	IT_CHECK(kill(mir.pid, SIGSTOP) == 0);
	wrk_run(wrk_bin, it_addr_port(&k.listen), "-c50", "-d2s", mir.pid);

	/* Every connection, with its mirror's, is over: the mirror has had
	 * every request kcsplice read (or kcsplice gave it up). */
	ks_wait_active(&k, 0, &st);
	/* The mirror may still be answering its last requests: wait until
	 * both logs have stopped growing and agree in size (bounded). */
	snprintf(plog, sizeof(plog), "%s/access.log", prim.dir);
	snprintf(mlog, sizeof(mlog), "%s/access.log", mir.dir);
	end = it_now_ns() + (uint64_t)(it_limit(20) * 1e9);
	for (;;) {
		np = count_lines(plog);
		nm = count_lines(mlog);
		if ((np == nm && nm == last) || it_now_ns() > end)
			break;
		last = nm;
		it_sleep_ms(300);
	}
	ks_stats(&k, &st);
	it_log("primary log %zu requests, mirror log %zu; up_bytes %llu "
	    "mirror_bytes %llu detached %llu dropped %llu", np, nm,
	    (unsigned long long)st.up_bytes,
	    (unsigned long long)st.mirror_bytes,
	    (unsigned long long)st.mirror_detached,
	    (unsigned long long)st.mirror_dropped);
	ks_stop(&k);
	proc_stop(prim.pid);
	proc_stop(mir.pid);

	ptext = proc_slurp(plog);
	mtext = proc_slurp(mlog);
	pv = lines(ptext, &np);
	mv = lines(mtext, &nm);
	IT_GT(np, 100);
	for (i = 0; i < np && i < nm; i++)
		if (strcmp(pv[i], mv[i]) != 0)
			break;
	IT_CHECKF(np == nm && i == np, "the access logs differ: primary %zu "
	    "requests, mirror %zu; first difference (sorted) at %zu: "
	    "primary '%s', mirror '%s'", np, nm, i, i < np ? pv[i] : "",
	    i < nm ? mv[i] : "");
	IT_EQ(st.mirror_detached, 0);
	IT_EQ(st.mirror_dropped, 0);
	IT_GE(st.mirror_bytes, st.up_bytes);
	free(pv);
	free(mv);
	free(ptext);
	free(mtext);
	proc_rmtree(base);
}

/* Every line of sub (sorted) is in super (sorted), as many times. */
static bool
lines_within(char **sub, size_t nsub, char **super, size_t nsuper)
{
	size_t i = 0, j = 0;

	while (i < nsub && j < nsuper) {
		int c = strcmp(sub[i], super[j]);

		if (c < 0)
			return false;
		j++;
		if (c == 0)
			i++;
	}
	return i == nsub;
}

/* "replay: N connections: ..." of a replay's output: N. */
static unsigned long
replayed(const char *out)
{
	const char *p = strstr(out, " connections: ");
	unsigned long n;

	while (p != NULL && p > out && p[-1] != '\n')
		p--;
	IT_CHECKF(p != NULL && sscanf(p, "replay: %lu connections", &n) == 1,
	    "no total line: %s", out);
	return n;
}

/* The lines of out holding s (and t, if not NULL). */
static unsigned long
count_with(const char *out, const char *s, const char *t)
{
	const char *p, *nl;
	unsigned long n = 0;
	size_t len;

	for (p = out; *p != '\0'; p = *nl ? nl + 1 : nl) {
		nl = strchr(p, '\n');
		if (nl == NULL)
			nl = p + strlen(p);
		len = (size_t)(nl - p);
		if (memmem(p, len, s, strlen(s)) != NULL &&
		    (t == NULL || memmem(p, len, t, strlen(t)) != NULL))
			n++;
	}
	return n;
}

static void
nginx_record_replay(void)
{
	char wrk_bin[PATH_MAX], upstream_arg[64];
	char to_arg[64], dir[PLEN], report[PLEN], want[160], plog[PLEN];
	char rlog[PLEN];
	struct ngx prim, fresh;
	struct it_stats st;
	struct ks k;
	char *text, *rtext, **pv, **rv, *err;
	size_t np, nr, i;
	unsigned long n;
	int r;

	ngx_pair(wrk_bin, &prim, &fresh, "replayed");
	snprintf(dir, sizeof(dir), "%s/rec", base);
	IT_CHECK(mkdir(dir, 0700) == 0);
	snprintf(upstream_arg, sizeof(upstream_arg), "tcp:127.0.0.1:%u",
	    prim.port);
	{
		const char *args[] = { "-j", "2", "--record", dir,
		    "tcp:127.0.0.1:0", upstream_arg, NULL };

		ks_start(&k, args);
		k.keep_log = true;
	}
	wrk_run(wrk_bin, it_addr_port(&k.listen), "-c8", "-d1s", 0);
	ks_wait_active(&k, 0, &st);
	ks_stop(&k);
	snprintf(want, sizeof(want), "record: %llu connections recorded "
	    "whole, 0 incomplete", (unsigned long long)st.conns);
	IT_CHECKF(ks_has_line(&k, want, NULL, NULL), "no \"%s\" in its log: "
	    "%s", want, k.log);
	ks_free_log(&k);
	it_log("wrk made %llu connections", (unsigned long long)st.conns);

	/* --dump: every connection opened and ended complete. */
	{
		const char *args[] = { "--dump", dir, NULL };

		r = it_run(args, it_limit(30), &text, &err);
		IT_CHECKF(r == 0, "--dump: status %d: %s", r, err);
		IT_CHECK(strstr(text, " open proto=tcp client=127.0.0.1:") !=
		    NULL);
		IT_CHECK(strstr(text, " end complete reason=") != NULL);
		free(text);
		free(err);
	}

	/* Every Date the replay gets is a second past the recorded ones. */
	it_sleep_ms(1100);
	snprintf(to_arg, sizeof(to_arg), "tcp:127.0.0.1:%u", fresh.port);
	{
		const char *args[] = { "--replay", dir, "--to", to_arg, NULL };

		unsigned long quiet;

		r = it_run(args, it_limit(60), &text, &err);
		n = replayed(text);
		/* wrk's first connection sends nothing: it matches. */
		quiet = count_with(text, ": matched; sent 0, received 0 of 0 "
		    "recorded", NULL);
		IT_CHECKF(r == 1 && n == st.conns && n > quiet &&
		    count_with(text, ": diverged at offset ", " GMT") ==
		    n - quiet, "replay without --ignore: status %d: %s %s", r,
		    text, err);
		free(text);
		free(err);
	}
	snprintf(report, sizeof(report), "%s/report.json", base);
	{
		const char *args[] = { "--replay", dir, "--to", to_arg,
		    "--ignore", "Date: [^\r]*", "--report", report, NULL };

		r = it_run(args, it_limit(60), &text, &err);
		n = replayed(text);
		snprintf(want, sizeof(want), "replay: %lu connections: %lu "
		    "matched, 0 diverged", n, n);
		IT_CHECK(n == count_with(text, ": matched; sent ", NULL));
		IT_CHECKF(r == 0 && n == st.conns && strstr(text, want) != NULL,
		    "replay with --ignore: status %d: %s %s", r, text, err);
		it_log("%s", text);
		free(text);
		free(err);
	}
	text = proc_slurp(report);
	snprintf(want, sizeof(want), "\"total\":{\"matched\":%lu,"
	    "\"diverged\":0,", n);
	IT_CHECKF(strstr(text, want) != NULL, "report: %s", text);
	free(text);

	proc_stop(prim.pid);
	proc_stop(fresh.pid);
	snprintf(plog, sizeof(plog), "%s/access.log", prim.dir);
	snprintf(rlog, sizeof(rlog), "%s/access.log", fresh.dir);
	text = proc_slurp(plog);
	rtext = proc_slurp(rlog);
	pv = lines(text, &np);
	rv = lines(rtext, &nr);
	it_log("primary logged %zu requests; the replayed one %zu (twice "
	    "replayed)", np, nr);
	IT_GT(np, 100);
	/* Replayed twice: every request of the primary's is there twice. */
	{
		char **twice = calloc(2 * np + 1, sizeof(*twice));

		IT_CHECK(twice != NULL);
		for (i = 0; i < np; i++)
			twice[2 * i] = twice[2 * i + 1] = pv[i];
		IT_CHECKF(lines_within(twice, 2 * np, rv, nr), "a request the "
		    "primary logged is not twice in the replayed one's log");
		free(twice);
	}
	free(pv);
	free(rv);
	free(text);
	free(rtext);
	proc_rmtree(base);
}

static const struct it_case cases[] = {
	{ "nginx-wrk-mirror", nginx_wrk_mirror },
	{ "nginx-record-replay", nginx_record_replay },
};

int
main(int argc, char **argv)
{
	return it_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
