/*
 * kcdump: print a kcont trace file, after kdump(1) (kcdump(1)).
 *
 * The file's header is read and checked first, so that what is not a trace
 * is refused after 128 bytes, however long it is; then the file is read
 * whole into memory (at most KD_MAX_INPUT bytes, from a file, a pipe or
 * standard input), checked and sorted by the reader, and
 * written out by one formatter: text lines and a summary (the default),
 * the summary alone (-s), Chrome trace JSON (--json) or an SVG timeline
 * (--svg).  A file whose last record is cut short, as a killed writer
 * leaves it, is printed up to that record, and then the error is reported
 * and the exit status is 65 all the same.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "map.h"
#include "output.h"

enum mode { M_TEXT, M_SUMMARY, M_JSON, M_SVG };

enum {
	OPT_JSON = 256,
	OPT_SVG,
	OPT_FROM,
	OPT_TO
};

static const char usage_line[] =
    "usage: kcdump [-EhRsT] [-o file] [-p pid,...] [-t tid,...] "
    "[-y type,...] [--from sec] [--to sec] [--json | --svg] file\n";

static void
help(void)
{
	fputs(usage_line, stdout);
	fputs("Print a kcont trace file (kcont-trace(5)); file - is standard "
	    "input.\n"
	    "  -R            times since the trace's start (the default)\n"
	    "  -T            absolute times, ISO 8601 UTC with nanoseconds\n"
	    "  -E            times since the previous record printed\n"
	    "  -p pid,...    only these processes (repeatable)\n"
	    "  -t tid,...    only these threads (repeatable)\n"
	    "  -y type,...   only these record types, e.g. run_begin,"
	    "KC_TR_MSG_SEND\n"
	    "  --from sec    only records at or after sec since the start\n"
	    "  --to sec      only records at or before sec since the start\n"
	    "  -s            only the summary (threads, records, losses)\n"
	    "  --json        Chrome trace event JSON (Perfetto, "
	    "chrome://tracing)\n"
	    "  --svg         an SVG timeline, a row per thread\n"
	    "  -o file       write to file instead of standard output\n"
	    "  -h, --help    this help\n", stdout);
}

static int __attribute__((format(printf, 1, 2)))
usage(const char *fmt, ...)
{
	va_list ap;

	fputs("kcdump: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n", stderr);
	fputs(usage_line, stderr);
	return EX_USAGE;
}

/* Up to n bytes into p, fewer only at the end of the input: the count,
 * or -1 with errno set. */
static ssize_t
read_full(int fd, void *p, size_t n)
{
	size_t got = 0;
	ssize_t r;

	while (got < n) {
		r = read(fd, (uint8_t *)p + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/*
 * The whole input into *bufp (malloc'ed; at least one byte allocated), its
 * header checked before anything past it is read.  0, or an exit status
 * after a one-line message.
 */
static int
read_input(const char *path, const char *name, uint8_t **bufp, size_t *lenp)
{
	struct kc_trace_file_header h;
	uint8_t hdr[sizeof(h)];
	struct stat st;
	uint8_t *buf = NULL, *nbuf;
	size_t len = 0, cap;
	char err[160];
	ssize_t n;
	int fd, rc = 0;

	if (strcmp(path, "-") == 0)
		fd = STDIN_FILENO;
	else if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		goto noinput;
	if (fstat(fd, &st) != 0)
		goto noinput;
	if (S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		goto noinput;
	}
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > KD_MAX_INPUT)
		goto toobig;
	/* The header alone first: a file of anything else, or a pipe that
	   never ends, is refused before the rest is read or stored. */
	if ((n = read_full(fd, hdr, sizeof(hdr))) < 0)
		goto noinput;
	len = (size_t)n;
	if (kd_check_header(hdr, len, len < sizeof(hdr), &h, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "kcdump: %s: %s\n", name, err);
		rc = EX_DATAERR;
		goto out;
	}
	cap = S_ISREG(st.st_mode) && (uint64_t)st.st_size > len ?
	    (size_t)st.st_size + 1 : 65536;
	if ((buf = malloc(cap)) == NULL) {
		fprintf(stderr, "kcdump: %s: out of memory\n", name);
		rc = EX_OSERR;
		goto out;
	}
	memcpy(buf, hdr, len);
	for (;;) {
		if (len == cap || buf == NULL) {
			if (buf != NULL)
				cap = cap <= KD_MAX_INPUT / 2 ? 2 * cap :
				    (size_t)KD_MAX_INPUT + 1;
			if ((nbuf = realloc(buf, cap)) == NULL) {
				fprintf(stderr, "kcdump: %s: out of memory\n",
				    name);
				rc = EX_OSERR;
				goto out;
			}
			buf = nbuf;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto noinput;
		if (n == 0)
			break;
		len += (size_t)n;
		if ((uint64_t)len > KD_MAX_INPUT)
			goto toobig;
	}
	*bufp = buf;
	*lenp = len;
	buf = NULL;
	goto out;
noinput:
	fprintf(stderr, "kcdump: %s: %s\n", name, strerror(errno));
	rc = EX_NOINPUT;
	goto out;
toobig:
	fprintf(stderr, "kcdump: %s: larger than %llu bytes, the most kcdump "
	    "reads\n", name, (unsigned long long)KD_MAX_INPUT);
	rc = EX_DATAERR;
out:
	if (fd > STDIN_FILENO)
		close(fd);
	free(buf);
	return rc;
}

static int
parse_args(int argc, char **argv, struct kd_filter *f, enum mode *mode,
    enum kd_timefmt *tf, const char **outpath, bool *helped)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "svg", no_argument, NULL, OPT_SVG },
		{ "from", required_argument, NULL, OPT_FROM },
		{ "to", required_argument, NULL, OPT_TO },
		{ NULL, 0, NULL, 0 }
	};
	char err[160], show[64];
	bool summary = false;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":ERTsho:p:t:y:", longopts,
	    NULL)) != -1) {
		switch (c) {
		case 'E':
			*tf = KD_TIME_ELAPSED;
			break;
		case 'R':
			*tf = KD_TIME_REL;
			break;
		case 'T':
			*tf = KD_TIME_ABS;
			break;
		case 's':
			summary = true;
			break;
		case 'h':
			*helped = true;
			return 0;
		case 'o':
			*outpath = optarg;
			break;
		case 'p':
		case 't':
			if (kd_filter_ids(c == 'p' ? &f->pids : &f->tids,
			    c == 'p' ? &f->npids : &f->ntids, optarg, err,
			    sizeof(err)) != 0)
				return usage("-%c: %s", c, err);
			break;
		case 'y':
			if (kd_filter_types(f, optarg, err, sizeof(err)) != 0)
				return usage("-y: %s", err);
			break;
		case OPT_FROM:
		case OPT_TO:
			if (kd_parse_sec(optarg, c == OPT_FROM ? &f->from_ns :
			    &f->to_ns) != 0) {
				kd_printable(show, sizeof(show), optarg);
				return usage("%s: '%s' is not a number of "
				    "seconds", c == OPT_FROM ? "--from" :
				    "--to", show);
			}
			if (c == OPT_FROM)
				f->has_from = true;
			else
				f->has_to = true;
			break;
		case OPT_JSON:
		case OPT_SVG:
			if (*mode != M_TEXT)
				return usage("%s", "--json and --svg exclude "
				    "each other");
			*mode = c == OPT_JSON ? M_JSON : M_SVG;
			break;
		case ':':
			kd_printable(show, sizeof(show), argv[optind - 1]);
			return usage("option '%s' needs a value", show);
		case '?':
		default:
			if (optopt != 0) {
				char o[3] = { '-', (char)optopt, '\0' };

				kd_printable(show, sizeof(show), o);
			} else {
				kd_printable(show, sizeof(show),
				    argv[optind - 1]);
			}
			return usage("unknown option '%s'", show);
		}
	}
	if (summary)
		*mode = M_SUMMARY;
	if (argc - optind != 1)
		return usage("%s", argc - optind == 0 ? "no file given" :
		    "one file only");
	return 0;
}

/* Write the chosen output: 0, -EIO or -ENOMEM. */
static int
write_out(FILE *out, struct kd_trace *t, const struct kd_filter *f,
    enum mode mode, enum kd_timefmt tf)
{
	int error;

	switch (mode) {
	case M_SUMMARY:
		return kd_summary(out, t);
	case M_JSON:
		return kd_json(out, t, f);
	case M_SVG:
		return kd_svg(out, t, f);
	case M_TEXT:
	default:
		if ((error = kd_text(out, t, f, tf)) != 0)
			return error;
		if (fputs("\n", out) == EOF)
			return -EIO;
		return kd_summary(out, t);
	}
}

int
main(int argc, char **argv)
{
	struct kd_filter f;
	struct kd_trace t;
	enum mode mode = M_TEXT;
	enum kd_timefmt tf = KD_TIME_REL;
	const char *outpath = NULL, *path, *name;
	uint8_t *buf = NULL;
	size_t len = 0;
	FILE *out = stdout;
	bool helped = false, tail;
	int rc, error;

	memset(&f, 0, sizeof(f));
	memset(&t, 0, sizeof(t));
	if ((rc = parse_args(argc, argv, &f, &mode, &tf, &outpath,
	    &helped)) != 0)
		goto out;
	if (helped) {
		help();
		rc = fflush(stdout) == 0 ? EX_OK : EX_IOERR;
		goto out;
	}
	path = argv[optind];
	name = strcmp(path, "-") == 0 ? "stdin" : path;
	if ((rc = read_input(path, name, &buf, &len)) != 0)
		goto out;

	error = kd_open(&t, buf, len);
	if (error == -ENOMEM) {
		fprintf(stderr, "kcdump: %s: out of memory\n", name);
		rc = EX_OSERR;
		goto out;
	}
	if (error != 0 && error != -EBADMSG) {
		fprintf(stderr, "kcdump: %s: %s\n", name, t.err);
		rc = EX_DATAERR;
		goto out;
	}
	tail = error == -EBADMSG;

	if (outpath != NULL && (out = fopen(outpath, "we")) == NULL) {
		fprintf(stderr, "kcdump: %s: %s\n", outpath, strerror(errno));
		out = stdout;
		rc = EX_CANTCREAT;
		goto out;
	}
	error = write_out(out, &t, &f, mode, tf);
	if (error == 0 && fflush(out) != 0)
		error = -EIO;
	if (out != stdout && fclose(out) != 0 && error == 0)
		error = -EIO;
	out = stdout;
	if (error == -ENOMEM) {
		fprintf(stderr, "kcdump: out of memory\n");
		rc = EX_OSERR;
		goto out;
	}
	if (error != 0) {
		fprintf(stderr, "kcdump: %s: write error: %s\n",
		    outpath != NULL ? outpath : "stdout", strerror(errno));
		rc = EX_IOERR;
		goto out;
	}
	if (tail) {
		fprintf(stderr, "kcdump: %s: %s\n", name, t.err);
		rc = EX_DATAERR;
		goto out;
	}
	rc = EX_OK;
out:
	/* The work the hash tables did, for the tests that bound it by the
	   number of records (kcdump(1), ENVIRONMENT). */
	if (getenv("KCDUMP_STATS") != NULL)
		fprintf(stderr, "kcdump: stats: %llu records, %llu map probes\n",
		    (unsigned long long)t.nrec,
		    (unsigned long long)kd_map_probes());
	if (out != stdout)
		fclose(out);
	kd_close(&t);
	kd_filter_free(&f);
	free(buf);
	return rc;
}
