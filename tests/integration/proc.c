/*
 * proc.c: the integration tests' own processes (proc.h).
 */
#include "it.h"
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

const char *
proc_find(const char *name, char *buf, size_t size)
{
	static const char *const dirs[] = { "/usr/sbin", "/usr/bin",
	    "/usr/local/sbin", "/usr/local/bin", "/sbin", "/bin" };
	size_t i;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(buf, size, "%s/%s", dirs[i], name);
		if (access(buf, X_OK) == 0)
			return buf;
	}
	return NULL;
}

const char *
proc_need(const char *name, const char *package, char *buf, size_t size)
{
	const char *ci = getenv("CI");
	char why[256];

	if (proc_find(name, buf, size) != NULL)
		return buf;
	snprintf(why, sizeof(why), "%s is not installed (package %s, "
	    "scripts/deps.sh it)", name, package);
	if (ci != NULL && strcmp(ci, "true") == 0)
		IT_FAIL("%s", why);
	it_skip(why);
}

unsigned
proc_free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	IT_CHECK(fd >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	IT_CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	IT_CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
	close(fd);
	return ntohs(a.sin_port);
}

bool
proc_listening(unsigned port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	IT_CHECK(fd >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

/* In the child: become uid/gid, if asked; never returns on failure. */
static void
become(uid_t uid, gid_t gid)
{
	if (uid == (uid_t)-1)
		return;
	if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
		_exit(126);
}

pid_t
proc_spawn(const char *const *argv, const char *out, uid_t uid, gid_t gid)
{
	pid_t pid = fork();
	int fd;

	IT_CHECK(pid >= 0);
	if (pid == 0) {
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if ((fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0644)) >= 0) {
			(void)dup2(fd, 1);
			(void)dup2(fd, 2);
		}
		become(uid, gid);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

int
proc_reap(pid_t pid, double limit_s)
{
	uint64_t end = it_now_ns() + (uint64_t)(limit_s * 1e9);
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) :
			    128 + WTERMSIG(st);
		if (r < 0 || it_now_ns() >= end)
			return -1;
		it_sleep_ms(10);
	}
}

void
proc_stop(pid_t pid)
{
	(void)kill(pid, SIGTERM);
	if (proc_reap(pid, it_limit(10)) < 0) {
		(void)kill(pid, SIGKILL);
		(void)proc_reap(pid, 10);
	}
}

int
proc_run(const char *const *argv, const char *const *env, double limit_s,
    char **out)
{
	char path[128];
	pid_t pid;
	int st, fd;
	size_t i;

	snprintf(path, sizeof(path), "%s/run.out", it_dir);
	pid = fork();
	IT_CHECK(pid >= 0);
	if (pid == 0) {
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0600)) >= 0) {
			(void)dup2(fd, 1);
			(void)dup2(fd, 2);
		}
		for (i = 0; env != NULL && env[i] != NULL; i++)
			(void)putenv((char *)env[i]);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	if ((st = proc_reap(pid, it_limit(limit_s))) < 0) {
		(void)kill(pid, SIGKILL);
		(void)proc_reap(pid, 10);
		IT_FAIL("%s did not finish within %.0f s", argv[0],
		    it_limit(limit_s));
	}
	if (out != NULL)
		*out = proc_slurp(path);
	(void)unlink(path);
	return st;
}

char *
proc_slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (f == NULL)
		return strdup("");
	IT_CHECK(fseek(f, 0, SEEK_END) == 0);
	n = ftell(f);
	IT_CHECK(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	IT_CHECK(buf != NULL);
	buf[fread(buf, 1, (size_t)n, f)] = '\0';
	fclose(f);
	return buf;
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (flag == FTW_DP)
		(void)rmdir(path);
	else
		(void)unlink(path);
	return 0;
}

void
proc_rmtree(const char *dir)
{
	(void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
