/*
 * paths.c: what kcsplice does with a unix: LISTEN path that is there.
 *
 *   unix-path   A regular file, a symbolic link to a file, a symbolic link
 *               to a live socket, and a live socket (another listener) at
 *               the path: kcsplice exits 69 (EX_UNAVAILABLE) with one
 *               "kcsplice: " line naming the path, and the file, the link
 *               and its target are unchanged (inode, mode, size, mtime,
 *               content); the other listener still takes connections.  A
 *               stale socket file (its listener gone) is replaced, and the
 *               socket file is gone once kcsplice has stopped (SIGTERM).
 */
#include "it.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define U	"tcp:127.0.0.1:9"
#define CONTENT	"not a socket: a file that must stay\n"

struct snap {
	struct stat	sb;
	char		data[128];
	ssize_t		len;
};

static void
snap_take(const char *path, struct snap *s)
{
	int fd;

	memset(s, 0, sizeof(*s));
	IT_CHECKF(lstat(path, &s->sb) == 0, "lstat %s: %s", path,
	    strerror(errno));
	s->len = -1;
	if (S_ISREG(s->sb.st_mode)) {
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		IT_CHECK(fd >= 0);
		s->len = read(fd, s->data, sizeof(s->data));
		close(fd);
	}
}

static void
snap_same(const char *path, const struct snap *a)
{
	struct snap b;

	snap_take(path, &b);
	IT_EQ(b.sb.st_ino, a->sb.st_ino);
	IT_EQ(b.sb.st_mode, a->sb.st_mode);
	IT_EQ(b.sb.st_size, a->sb.st_size);
	IT_EQ(b.sb.st_mtim.tv_sec, a->sb.st_mtim.tv_sec);
	IT_EQ(b.sb.st_mtim.tv_nsec, a->sb.st_mtim.tv_nsec);
	IT_EQ(b.len, a->len);
	if (a->len > 0)
		IT_CHECK(memcmp(a->data, b.data, (size_t)a->len) == 0);
}

static void
fill_un(struct sockaddr_un *un, const char *path)
{
	memset(un, 0, sizeof(*un));
	un->sun_family = AF_UNIX;
	IT_CHECK(strlen(path) < sizeof(un->sun_path));
	strcpy(un->sun_path, path);
}

/* A raw socket bound at path, listening if listening. */
static int
bound_at(const char *path, bool listening)
{
	struct sockaddr_un un;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	IT_CHECK(fd >= 0);
	fill_un(&un, path);
	IT_CHECKF(bind(fd, (struct sockaddr *)&un, sizeof(un)) == 0,
	    "bind %s: %s", path, strerror(errno));
	if (listening)
		IT_CHECK(listen(fd, 8) == 0);
	return fd;
}

/* The listener on lfd at path still takes a connection. */
static void
still_listening(int lfd, const char *path)
{
	struct sockaddr_un un;
	int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), a;

	IT_CHECK(c >= 0);
	fill_un(&un, path);
	IT_CHECKF(connect(c, (struct sockaddr *)&un, sizeof(un)) == 0,
	    "the other listener at %s: %s", path, strerror(errno));
	a = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	IT_CHECK(a >= 0);
	close(a);
	close(c);
}

/* kcsplice unix:path must refuse to start; the things named stay. */
static void
refused(const char *what, const char *path, const char *other)
{
	char listen[300], *out, *err;
	const char *args[3];
	struct snap s, t;
	size_t n;
	int rc;

	snap_take(path, &s);
	if (other != NULL)
		snap_take(other, &t);
	snprintf(listen, sizeof(listen), "unix:%s", path);
	args[0] = listen;
	args[1] = U;
	args[2] = NULL;
	rc = it_run(args, 10, &out, &err);
	n = strlen(err);
	IT_CHECKF(rc == 69 || rc == 73, "%s: exit %d, not 69 or 73; stderr: "
	    "%s", what, rc, err);
	IT_CHECKF(n > 10 && it_log_prefix(err) != NULL &&
	    strchr(err, '\n') == err + n - 1, "%s: stderr is not one "
	    "\"TIME error kcsplice: \" line: \"%s\"", what, err);
	IT_CHECKF(strstr(err, path) != NULL, "%s: the line does not name %s",
	    what, path);
	it_log("%s -> %d: %.*s", what, rc, (int)n - 1, err);
	snap_same(path, &s);
	if (other != NULL)
		snap_same(other, &t);
	free(out);
	free(err);
}

static void
unix_path(void)
{
	char file[256], link[256], sock[256], link2[256], stale[256];
	const char *args[3];
	char listen[300];
	struct sockaddr_un un;
	struct stat sb, old;
	struct ks k;
	int fd, lfd;

	snprintf(file, sizeof(file), "%s/file", it_dir);
	snprintf(link, sizeof(link), "%s/link", it_dir);
	snprintf(sock, sizeof(sock), "%s/live.sock", it_dir);
	snprintf(link2, sizeof(link2), "%s/link-to-live", it_dir);
	snprintf(stale, sizeof(stale), "%s/stale.sock", it_dir);

	fd = open(file, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
	IT_CHECK(fd >= 0);
	IT_EQ(write(fd, CONTENT, strlen(CONTENT)), strlen(CONTENT));
	close(fd);
	refused("a regular file", file, NULL);

	IT_CHECK(symlink(file, link) == 0);
	refused("a symbolic link to a file", link, file);

	lfd = bound_at(sock, true);
	IT_CHECK(symlink(sock, link2) == 0);
	refused("a symbolic link to a live socket", link2, sock);
	still_listening(lfd, sock);
	refused("a live socket", sock, NULL);
	still_listening(lfd, sock);
	close(lfd);

	/* A stale socket: bound, never listening, closed. */
	close(bound_at(stale, false));
	IT_CHECK(lstat(stale, &old) == 0 && S_ISSOCK(old.st_mode));
	snprintf(listen, sizeof(listen), "unix:%s", stale);
	args[0] = listen;
	args[1] = U;
	args[2] = NULL;
	ks_start(&k, args);
	/* Inode numbers are reused at once: a connect tells. */
	IT_CHECK(lstat(stale, &sb) == 0 && S_ISSOCK(sb.st_mode));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	IT_CHECK(fd >= 0);
	fill_un(&un, stale);
	IT_CHECKF(connect(fd, (struct sockaddr *)&un, sizeof(un)) == 0,
	    "kcsplice at %s: %s", stale, strerror(errno));
	close(fd);
	it_log("a stale socket: replaced, kcsplice listens there");
	ks_stop(&k);
	IT_CHECKF(lstat(stale, &sb) != 0 && errno == ENOENT,
	    "%s is still there after kcsplice stopped", stale);
	it_log("gone after SIGTERM");
}

int
main(int argc, char **argv)
{
	static const struct it_case cases[] = {
		{ "unix-path", unix_path },
	};

	return it_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
