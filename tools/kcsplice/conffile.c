/*
 * conffile.c: reading kcsplice's configuration file (conffile.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conffile.h"

#define KS_EX_USAGE	64

int
ks_conf_read(const char *path, char **text, size_t *len, char *err,
    size_t errlen)
{
	struct stat sb;
	size_t got = 0;
	ssize_t n;
	char *buf;
	int fd, e;

	*text = NULL;
	*len = 0;
	/* O_NONBLOCK: opening a FIFO must not wait for a writer. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		snprintf(err, errlen, "%.200s: %s", path, strerror(errno));
		return KS_EX_USAGE;
	}
	if (fstat(fd, &sb) != 0) {
		e = errno;
		close(fd);
		snprintf(err, errlen, "%.200s: %s", path, strerror(e));
		return KS_EX_USAGE;
	}
	if (!S_ISREG(sb.st_mode)) {
		close(fd);
		snprintf(err, errlen, "%.200s: not a regular file", path);
		return KS_EX_USAGE;
	}
	if (sb.st_size > (off_t)KS_FILE_MAX) {
		close(fd);
		snprintf(err, errlen, "%.200s: larger than %u bytes", path,
		    KS_FILE_MAX);
		return KS_EX_USAGE;
	}
	if ((buf = malloc(KS_FILE_MAX + 2)) == NULL) {
		close(fd);
		snprintf(err, errlen, "%.200s: out of memory", path);
		return KS_EX_USAGE;
	}
	/* Up to one byte past the limit: a file that grew is refused too. */
	while (got <= KS_FILE_MAX) {
		n = read(fd, buf + got, KS_FILE_MAX + 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = errno;
			close(fd);
			free(buf);
			snprintf(err, errlen, "%.200s: %s", path, strerror(e));
			return KS_EX_USAGE;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (got > KS_FILE_MAX) {
		free(buf);
		snprintf(err, errlen, "%.200s: larger than %u bytes", path,
		    KS_FILE_MAX);
		return KS_EX_USAGE;
	}
	buf[got] = '\0';
	*text = buf;
	*len = got;
	return 0;
}

int
ks_conf_load(struct ks_conf *c, int argc, char *const argv[], char *err,
    size_t errlen)
{
	char path[sizeof(c->config_path)];
	size_t len;
	char *text;
	int r;

	r = ks_conf_parse(c, argc, argv, err, errlen);
	if (r != 0 || c->action != KS_RUN || c->config_path[0] == '\0')
		return r;
	memcpy(path, c->config_path, sizeof(path));
	if ((r = ks_conf_read(path, &text, &len, err, errlen)) != 0)
		return r;
	r = ks_conf_file(c, argc, argv, path, text, len, err, errlen);
	free(text);
	return r;
}
