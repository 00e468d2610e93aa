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

static void
nginx_wrk_mirror(void)
{
	char nginx_bin[PATH_MAX], wrk_bin[PATH_MAX], mirror_arg[64];
	char upstream_arg[64], url[128], script[PLEN], out[PLEN];
	char plog[PLEN], mlog[PLEN];
	struct ngx prim, mir;
	struct it_stats st;
	struct ks k;
	const char *args[8], *wargv[16];
	char *ptext, *mtext, **pv, **mv;
	size_t np, nm, i, last = 0;
	uint64_t end;
	pid_t wpid;
	int wst;

	if (proc_find("nginx", nginx_bin, sizeof(nginx_bin)) == NULL)
		it_skip("nginx is not installed (scripts/deps.sh it)");
	if (proc_find("wrk", wrk_bin, sizeof(wrk_bin)) == NULL)
		it_skip("wrk is not installed (scripts/deps.sh it)");
	snprintf(base, sizeof(base), "%s/nginx", it_dir);
	IT_CHECK(mkdir(base, 0700) == 0);
	ngx_start(&prim, nginx_bin, "primary");
	ngx_start(&mir, nginx_bin, "mirror");

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

	/* Each thread numbers its requests: every path is its own. */
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
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/",
	    it_addr_port(&k.listen));
	snprintf(out, sizeof(out), "%s/wrk.out", base);
	i = 0;
	wargv[i++] = wrk_bin;
	wargv[i++] = "-t2";
	wargv[i++] = "-c50";
	wargv[i++] = "-d2s";
	wargv[i++] = "-s";
	wargv[i++] = script;
	wargv[i++] = url;
	wargv[i] = NULL;
	IT_CHECK(kill(mir.pid, SIGSTOP) == 0);
	wpid = proc_spawn(wargv, out, (uid_t)-1, (gid_t)-1);
	wst = proc_reap(wpid, it_limit(60));
	IT_CHECK(kill(mir.pid, SIGCONT) == 0);
	if (wst < 0) {
		proc_stop(wpid);
		IT_FAIL("wrk did not finish in time");
	}
	ptext = proc_slurp(out);
	it_log("wrk (status %d):\n%s", wst, ptext);
	IT_EQ(wst, 0);
	free(ptext);

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

static const struct it_case cases[] = {
	{ "nginx-wrk-mirror", nginx_wrk_mirror },
};

int
main(int argc, char **argv)
{
	return it_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
