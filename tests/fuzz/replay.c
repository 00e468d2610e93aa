/*
 * replay.c: a main() for a libFuzzer target, so that every build runs it
 * without libFuzzer (and with whatever sanitizer the build has).
 *
 *   <target>-replay [file | directory] ...
 *
 * runs each file given (every regular file of a directory, e.g. a corpus
 * or crash files), then KC_FUZZ_RUNS (default 20000) pseudo-random inputs
 * of 0 to 4096 bytes from a fixed seed, so that a run is repeatable.  The
 * target aborts on a failure; replay then names the input it was running
 * and saves a random one as replay-crash-<n> in the current directory, to
 * be given back to replay or to the fuzzer.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REPLAY_RUNS	20000ul
#define REPLAY_MAXLEN	4096

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int	LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static unsigned long nfiles;

/* The input running, for the SIGABRT handler. */
static const char *volatile cur_path;
static volatile unsigned long cur_run;
static const uint8_t *volatile cur_data;
static volatile size_t cur_len;

static void
say(const char *s)
{
	ssize_t n = write(STDERR_FILENO, s, strlen(s));

	(void)n;
}

/* Async-signal-safe: decimal digits of v into buf. */
static char *
utoa(unsigned long v, char *buf, size_t size)
{
	char *p = buf + size;

	*--p = '\0';
	do
		*--p = (char)('0' + v % 10);
	while ((v /= 10) != 0 && p > buf);
	return p;
}

static void
on_abort(int sig)
{
	char num[32], name[64];
	const char *n;
	int fd;
	ssize_t w;

	say("replay: failed on ");
	if (cur_path != NULL) {
		say(cur_path);
	} else {
		n = utoa(cur_run, num, sizeof(num));
		strcpy(name, "replay-crash-");
		strcat(name, n);
		say("random input ");
		say(n);
		fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0) {
			w = write(fd, cur_data, cur_len);
			(void)w;
			close(fd);
			say(", saved as ");
			say(name);
		}
	}
	say("\n");
	signal(sig, SIG_DFL);
	raise(sig);
}

static int
run_file(const char *path)
{
	FILE *f;
	uint8_t *buf = NULL, *nbuf;
	size_t len = 0, cap = 0, n;

	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (len == cap) {
			cap = cap != 0 ? 2 * cap : 65536;
			if ((nbuf = realloc(buf, cap)) == NULL) {
				fprintf(stderr, "replay: %s: out of memory\n",
				    path);
				free(buf);
				fclose(f);
				return -1;
			}
			buf = nbuf;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "replay: %s: read error\n", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	cur_path = path;
	/* A copy of exactly len bytes, so that ASan sees any overread. */
	nbuf = malloc(len > 0 ? len : 1);
	if (nbuf == NULL) {
		free(buf);
		return -1;
	}
	memcpy(nbuf, buf, len);
	free(buf);
	LLVMFuzzerTestOneInput(nbuf, len);
	cur_path = NULL;
	free(nbuf);
	nfiles++;
	return 0;
}

static int
run_path(const char *path)
{
	struct stat st;
	struct dirent *de;
	DIR *d;
	char *sub;
	int error = 0;

	if (stat(path, &st) != 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path);
	if ((d = opendir(path)) == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (asprintf(&sub, "%s/%s", path, de->d_name) < 0) {
			error = -1;
			break;
		}
		if (stat(sub, &st) == 0 && S_ISREG(st.st_mode) &&
		    run_file(sub) != 0)
			error = -1;
		free(sub);
	}
	closedir(d);
	return error;
}

static uint64_t
xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

int
main(int argc, char **argv)
{
	static uint8_t buf[REPLAY_MAXLEN];
	uint8_t *data;
	uint64_t seed = 0x6b636f6e74667a31ull;	/* fixed: runs repeat */
	unsigned long runs = REPLAY_RUNS, i;
	const char *env;
	size_t len, k;
	int a, error = 0;

	signal(SIGABRT, on_abort);
	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	if ((env = getenv("KC_FUZZ_RUNS")) != NULL && *env != '\0')
		runs = strtoul(env, NULL, 0);
	for (a = 1; a < argc; a++)
		if (run_path(argv[a]) != 0)
			error = 1;
	for (i = 0; i < runs; i++) {
		len = (size_t)(xorshift(&seed) % (REPLAY_MAXLEN + 1));
		for (k = 0; k < len; k++)
			buf[k] = (uint8_t)(xorshift(&seed) >> 24);
		/* Exactly len bytes of heap, as libFuzzer gives. */
		if ((data = malloc(len > 0 ? len : 1)) == NULL) {
			fprintf(stderr, "replay: out of memory\n");
			return 1;
		}
		memcpy(data, buf, len);
		cur_run = i;
		cur_data = data;
		cur_len = len;
		LLVMFuzzerTestOneInput(data, len);
		free(data);
	}
	printf("replay: %lu file(s), %lu random input(s)%s\n", nfiles, runs,
	    error ? ", but some files could not be read" : ", all passed");
	return error;
}
