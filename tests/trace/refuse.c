/*
 * trace-refuse: kc_trace_start() (and KCONT_TRACE=FILE, the same path)
 * writes only to a regular file that is new or the caller's own.  Each of
 * these is refused, and nothing about it changes (content, size, mode,
 * owner, inode, mtime):
 *   - a FIFO with a reader (EINVAL) and one without (EINVAL; the call does
 *     not block);
 *   - a symbolic link to a file of the caller (ELOOP; link and target);
 *   - a character device: as root a copy of /dev/null made with mknod(2)
 *     in the test's directory, otherwise /dev/null itself (EINVAL);
 *   - a file of another user: as root, a 0666 file owned by nobody; and a
 *     0666 file of root's, tried by a child that has become nobody (EPERM).
 *     These need root, which CI has; elsewhere they are reported as not
 *     run, and the cases above still run;
 *   - KCONT_TRACE naming the FIFO with a reader: the program starts without
 *     tracing, and the FIFO is untouched.
 */
#include "kctest.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#define CONTENT	"someone's bytes, not a trace\n"

static char dir[] = "/tmp/kc-trace-refuse-XXXXXX";

/* What must not change about a path (lstat: the link itself). */
struct snap {
	struct stat	sb;
	char		data[128];
	ssize_t		len;		/* -1: not read (not a regular file) */
};

static void
snap_take(const char *path, struct snap *s)
{
	int fd;

	memset(s, 0, sizeof(*s));
	KC_CHECK_OK(lstat(path, &s->sb));
	s->len = -1;
	if (S_ISREG(s->sb.st_mode)) {
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		KC_CHECK_GE(fd, 0);
		s->len = read(fd, s->data, sizeof(s->data));
		KC_CHECK_GE(s->len, 0);
		close(fd);
	}
}

static void
snap_same(const char *path, const struct snap *a)
{
	struct snap b;

	snap_take(path, &b);
	KC_CHECK_EQ(b.sb.st_ino, a->sb.st_ino);
	KC_CHECK_EQ(b.sb.st_dev, a->sb.st_dev);
	KC_CHECK_EQ(b.sb.st_mode, a->sb.st_mode);
	KC_CHECK_EQ(b.sb.st_uid, a->sb.st_uid);
	KC_CHECK_EQ(b.sb.st_gid, a->sb.st_gid);
	KC_CHECK_EQ(b.sb.st_size, a->sb.st_size);
	KC_CHECK_EQ(b.sb.st_rdev, a->sb.st_rdev);
	KC_CHECK_EQ(b.sb.st_mtim.tv_sec, a->sb.st_mtim.tv_sec);
	KC_CHECK_EQ(b.sb.st_mtim.tv_nsec, a->sb.st_mtim.tv_nsec);
	KC_CHECK_EQ(b.len, a->len);
	if (a->len > 0)
		KC_CHECK(memcmp(a->data, b.data, (size_t)a->len) == 0);
}

static void
make_file(const char *path, mode_t mode)
{
	int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, mode);

	KC_CHECK_GE(fd, 0);
	KC_CHECK_OK(fchmod(fd, mode));
	KC_CHECK_EQ(write(fd, CONTENT, strlen(CONTENT)),
	    (ssize_t)strlen(CONTENT));
	close(fd);
}

/*
 * kc_trace_start(path) in a child, which a blocked open would hang: it
 * reports the call's result as its exit status (the errno), and an alarm
 * ends it if the call does not return.
 */
static int
start_in_child(const char *path, uid_t uid, gid_t gid)
{
	pid_t pid;
	int status, rc;

	fflush(stdout);
	pid = fork();
	KC_CHECK_GE(pid, 0);
	if (pid == 0) {
		alarm(5);
		if (gid != (gid_t)-1 && (setgroups(0, NULL) != 0 ||
		    setgid(gid) != 0 || setuid(uid) != 0))
			_exit(200);
		rc = kc_trace_start(path, NULL);
		if (rc == 0)
			(void)kc_trace_stop();
		_exit(rc == 0 ? 0 : rc < 0 && -rc < 200 ? -rc : 201);
	}
	KC_CHECK_EQ(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status)) {
		printf("    %s: the call did not return (signal %d)\n", path,
		    WTERMSIG(status));
		return -1000;
	}
	KC_CHECK(WIFEXITED(status));
	KC_CHECK(WEXITSTATUS(status) != 200);
	return -WEXITSTATUS(status);
}

static void
refused(const char *what, const char *path, int want)
{
	struct snap s;
	int rc;

	printf("  %s: %s\n", what, path);
	snap_take(path, &s);
	rc = kc_trace_start(path, NULL);
	if (rc == 0)
		(void)kc_trace_stop();
	printf("    -> %d (%s)\n", rc, rc < 0 ? strerror(-rc) : "started");
	KC_CHECK_EQ(rc, want);
	KC_CHECK(!kc_trace_enabled());
	snap_same(path, &s);
}

static void
fifo_cases(const char *fifo)
{
	struct snap s;
	char buf[64];
	int rfd, rc;

	KC_CHECK_OK(mkfifo(fifo, 0666));
	KC_CHECK_OK(chmod(fifo, 0666));
	/* No reader: must neither block nor change it. */
	printf("  a FIFO without a reader: %s\n", fifo);
	snap_take(fifo, &s);
	rc = start_in_child(fifo, (uid_t)-1, (gid_t)-1);
	printf("    -> %d\n", rc);
	KC_CHECK_EQ(rc, -EINVAL);
	snap_same(fifo, &s);
	/* A reader: nothing may reach it. */
	rfd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	KC_CHECK_GE(rfd, 0);
	refused("a FIFO with a reader", fifo, -EINVAL);
	KC_CHECK_EQ(read(rfd, buf, sizeof(buf)), 0);
	close(rfd);
}

static void
env_case(const char *self, const char *fifo)
{
	struct snap s;
	char buf[64];
	pid_t pid;
	int rfd, status;

	printf("  KCONT_TRACE=%s (a FIFO with a reader)\n", fifo);
	rfd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	KC_CHECK_GE(rfd, 0);
	snap_take(fifo, &s);
	fflush(stdout);
	pid = fork();
	KC_CHECK_GE(pid, 0);
	if (pid == 0) {
		alarm(5);
		setenv("KCONT_TRACE", fifo, 1);
		execl(self, self, "child", (char *)NULL);
		_exit(127);
	}
	KC_CHECK_EQ(waitpid(pid, &status, 0), pid);
	KC_CHECK(WIFEXITED(status));
	KC_CHECK_EQ(WEXITSTATUS(status), 0);	/* it ran, not tracing */
	KC_CHECK_EQ(read(rfd, buf, sizeof(buf)), 0);
	snap_same(fifo, &s);
	close(rfd);
}

static void
other_user_cases(void)
{
	struct passwd *pw = getpwnam("nobody");
	struct snap s;
	char path[PATH_MAX];
	int rc;

	if (geteuid() != 0 || pw == NULL || pw->pw_uid == 0) {
		printf("  NOT RUN: files of another user (needs root and a "
		    "'nobody' user; CI runs as root)\n");
		return;
	}
	/* Root, and a file of nobody's: not rewritten, not chmodded. */
	snprintf(path, sizeof(path), "%s/nobodys.kct", dir);
	make_file(path, 0666);
	KC_CHECK_OK(chown(path, pw->pw_uid, pw->pw_gid));
	refused("as root, a 0666 file of nobody's", path, -EPERM);
	/* Nobody, and a 0666 file of root's: not truncated. */
	snprintf(path, sizeof(path), "%s/roots.kct", dir);
	make_file(path, 0666);
	printf("  as nobody, a 0666 file of root's: %s\n", path);
	snap_take(path, &s);
	rc = start_in_child(path, pw->pw_uid, pw->pw_gid);
	printf("    -> %d\n", rc);
	KC_CHECK_EQ(rc, -EPERM);
	snap_same(path, &s);
}

static void
device_case(void)
{
	struct stat null;
	char path[PATH_MAX];

	KC_CHECK_OK(stat("/dev/null", &null));
	KC_CHECK(S_ISCHR(null.st_mode));
	if (geteuid() != 0) {
		/* Unprivileged, /dev/null itself cannot be changed anyway. */
		refused("/dev/null itself (not root)", "/dev/null", -EINVAL);
		return;
	}
	/* As root, a copy: /dev/null itself must not be risked. */
	snprintf(path, sizeof(path), "%s/null", dir);
	KC_CHECK_OK(mknod(path, S_IFCHR | 0666, null.st_rdev));
	KC_CHECK_OK(chmod(path, 0666));
	refused("as root, a copy of /dev/null", path, -EINVAL);
}

int
main(int argc, char **argv)
{
	char fifo[PATH_MAX], link[PATH_MAX], target[PATH_MAX];
	char self[PATH_MAX];
	struct snap t;
	ssize_t n;

	/* KCONT_TRACE's program: it must start, untraced. */
	if (argc > 1 && strcmp(argv[1], "child") == 0)
		return kc_trace_enabled() || getenv("KCONT_TRACE") != NULL;
	kct_begin("trace-refuse", 60);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	KC_CHECK_GT(n, 0);
	self[n] = '\0';
	KC_CHECK(mkdtemp(dir) != NULL);
	/* Nobody must reach the files in it. */
	KC_CHECK_OK(chmod(dir, 0755));

	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	fifo_cases(fifo);
	env_case(self, fifo);

	snprintf(target, sizeof(target), "%s/mine", dir);
	snprintf(link, sizeof(link), "%s/link", dir);
	make_file(target, 0644);
	KC_CHECK_OK(symlink(target, link));
	snap_take(target, &t);
	refused("a symbolic link to a file of the caller's", link, -ELOOP);
	snap_same(target, &t);

	device_case();
	other_user_cases();

	/* And the caller's own file is still taken, truncated, made 0600. */
	printf("  the caller's own file: %s\n", target);
	KC_CHECK_OK(kc_trace_start(target, NULL));
	KC_CHECK_OK(kc_trace_stop());
	snap_take(target, &t);
	KC_CHECK_EQ(t.sb.st_mode & 07777, 0600);
	KC_CHECK(t.len > 0 && memcmp(t.data, CONTENT, 8) != 0);

	{
		char cmd[PATH_MAX + 16];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		KC_CHECK_OK(system(cmd));
	}
	return kct_done();
}
