/*
 * recread.c: reading and printing recording files (recread.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "recread.h"

#define READ_CHUNK	(256u << 10)

struct ksr_reader {
	int		 fd;
	uint8_t		*buf;
	size_t		 cap;
	size_t		 len;		/* bytes in buf */
	size_t		 pos;		/* the next record's, in buf */
	uint64_t	 base;		/* file offset of buf[0] */
	int		 eof;
};

/* Read more after what buf holds, growing it to hold want bytes. */
static int
fill(struct ksr_reader *rd, size_t want)
{
	ssize_t n;

	if (rd->pos > 0) {
		memmove(rd->buf, rd->buf + rd->pos, rd->len - rd->pos);
		rd->len -= rd->pos;
		rd->base += rd->pos;
		rd->pos = 0;
	}
	if (want < rd->len + READ_CHUNK)
		want = rd->len + READ_CHUNK;
	if (want > rd->cap) {
		uint8_t *nb = realloc(rd->buf, want);

		if (nb == NULL)
			return -ENOMEM;
		rd->buf = nb;
		rd->cap = want;
	}
	do {
		n = read(rd->fd, rd->buf + rd->len, rd->cap - rd->len);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		rd->eof = 1;
	rd->len += (size_t)n;
	return 0;
}

void
ksr_reader_close(struct ksr_reader *rd)
{
	if (rd == NULL)
		return;
	if (rd->fd >= 0)
		close(rd->fd);
	free(rd->buf);
	free(rd);
}

int
ksr_reader_open(struct ksr_reader **rdp, const char *path,
    struct ksr_file *hdr)
{
	struct ksr_reader *rd;
	struct stat sb;
	int e;

	if ((rd = calloc(1, sizeof(*rd))) == NULL)
		return -ENOMEM;
	if ((rd->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) < 0) {
		e = -errno;
		free(rd);
		return e;
	}
	/* A FIFO or a device is not a recording: nothing read from it. */
	if (fstat(rd->fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		ksr_reader_close(rd);
		return -EINVAL;
	}
	while (rd->len < KSR_FILE_HDR && !rd->eof)
		if ((e = fill(rd, 0)) != 0) {
			ksr_reader_close(rd);
			return e;
		}
	if ((e = ksr_file_decode(rd->buf, rd->len, hdr)) != 0) {
		ksr_reader_close(rd);
		return e == -EAGAIN ? -EINVAL : e;
	}
	rd->pos = KSR_FILE_HDR;
	*rdp = rd;
	return 0;
}

int
ksr_reader_next(struct ksr_reader *rd, struct ksr_rec *rec,
    uint64_t *offset)
{
	long n;
	int e;

	for (;;) {
		if (offset != NULL)
			*offset = rd->base + rd->pos;
		n = ksr_rec_decode(rd->buf + rd->pos, rd->len - rd->pos, rec);
		if (n > 0) {
			rd->pos += (size_t)n;
			return 1;
		}
		if (n != -EAGAIN)
			return (int)n;
		if (rd->eof)
			return rd->pos == rd->len ? 0 : -EPIPE;
		/* The header says how much the record needs, if it is in. */
		if (rd->len - rd->pos >= KSR_REC_HDR) {
			uint32_t len = (uint32_t)rd->buf[rd->pos + 4] |
			    (uint32_t)rd->buf[rd->pos + 5] << 8 |
			    (uint32_t)rd->buf[rd->pos + 6] << 16 |
			    (uint32_t)rd->buf[rd->pos + 7] << 24;

			e = fill(rd, KSR_REC_HDR + (size_t)len + 8);
		} else {
			e = fill(rd, 0);
		}
		if (e != 0)
			return e;
	}
}

/* ---- printing ---------------------------------------------------- */

static void
print_time(FILE *out, uint64_t ns)
{
	time_t s = (time_t)(ns / 1000000000u);
	struct tm tm;
	char buf[32];

	gmtime_r(&s, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(out, "%s.%06" PRIu64 "Z", buf, (ns % 1000000000u) / 1000u);
}

/* Payload bytes as text: printable ASCII as is, the rest escaped. */
static void
print_bytes(FILE *out, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] == '\\')
			fputs("\\\\", out);
		else if (p[i] == '\n')
			fputs("\\n", out);
		else if (p[i] == '\r')
			fputs("\\r", out);
		else if (p[i] >= 0x20 && p[i] < 0x7f)
			fputc(p[i], out);
		else
			fprintf(out, "\\x%02x", p[i]);
	}
}

struct totals {
	uint64_t	opened, cont, complete, incomplete, lost;
	uint64_t	bytes[2];
};

static int
dump_one(const char *path, unsigned flags, FILE *out, FILE *err)
{
	struct ksr_reader *rd;
	struct ksr_file fh;
	struct ksr_rec r;
	struct totals t = { 0 };
	uint64_t off;
	int e;

	if ((e = ksr_reader_open(&rd, path, &fh)) != 0) {
		fprintf(err, "kcsplice: %s: %s\n", path,
		    e == -EINVAL ? "not a kcsplice recording" :
		    e == -EPROTONOSUPPORT ? "a recording version this "
		    "kcsplice does not read" : strerror(-e));
		return 1;
	}
	fprintf(out, "%s: recording v%u, file %u of process %u, created ",
	    path, fh.version, fh.seq, fh.pid);
	print_time(out, fh.created_ns);
	fputc('\n', out);
	while ((e = ksr_reader_next(rd, &r, &off)) == 1) {
		print_time(out, r.time_ns);
		fprintf(out, " conn %" PRIu64 " %s", r.conn,
		    ksr_type_name(r.type));
		switch (r.type) {
		case KSR_C2S:
		case KSR_S2C:
			fprintf(out, " offset %" PRIu64 " len %u%s", r.offset,
			    r.len, (r.flags & KSR_F_DGRAM) ? " datagram" : "");
			t.bytes[r.type - KSR_C2S] += r.len;
			if (flags & KSR_DUMP_DATA) {
				fputs(" \"", out);
				print_bytes(out, r.payload, r.len);
				fputc('"', out);
			}
			break;
		case KSR_OPEN:
			if (r.flags & KSR_F_CONT) {
				t.cont++;
				fputs(" (continued)", out);
			} else {
				t.opened++;
			}
			/* FALLTHROUGH */
		default:
			if (r.type == KSR_END) {
				fputs((r.flags & KSR_F_COMPLETE) ?
				    " complete" : " incomplete", out);
				if (r.flags & KSR_F_COMPLETE)
					t.complete++;
				else
					t.incomplete++;
			}
			if (r.type == KSR_LOST)
				t.lost++;
			fputc(' ', out);
			print_bytes(out, r.payload, r.len);
			break;
		}
		fputc('\n', out);
	}
	fprintf(out, "%s: %" PRIu64 " connections opened, %" PRIu64
	    " continued, %" PRIu64 " ended complete, %" PRIu64
	    " incomplete, %" PRIu64 " lost; %" PRIu64 " bytes from clients, %"
	    PRIu64 " from upstreams\n", path, t.opened, t.cont, t.complete,
	    t.incomplete, t.lost, t.bytes[0], t.bytes[1]);
	ksr_reader_close(rd);
	if (e == 0)
		return 0;
	fprintf(err, "kcsplice: %s: offset %" PRIu64 ": %s\n", path, off,
	    e == -EINVAL ? "malformed record" : e == -EPIPE ?
	    "the file ends inside a record (cut short)" : strerror(-e));
	return 1;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
ksr_list_dir(const char *dir, char ***namesp, size_t *np)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL, **nn;
	size_t n = 0, cap = 0, l;
	int e = 0;

	*namesp = NULL;
	*np = 0;
	if (d == NULL)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		l = strlen(de->d_name);
		if (l < 7 || strcmp(de->d_name + l - 6, ".kcrec") != 0)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			if ((nn = realloc(names, cap * sizeof(*nn))) == NULL) {
				e = -ENOMEM;
				break;
			}
			names = nn;
		}
		if (asprintf(&names[n], "%s/%s", dir, de->d_name) < 0) {
			e = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (e != 0) {
		ksr_list_free(names, n);
		return e;
	}
	if (n > 0)
		qsort(names, n, sizeof(*names), name_cmp);
	*namesp = names;
	*np = n;
	return 0;
}

void
ksr_list_free(char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* A directory: each of its recordings, in name order. */
static int
dump_dir(const char *dir, unsigned flags, FILE *out, FILE *err)
{
	char **names;
	size_t n, i;
	int e, rc = 0;

	if ((e = ksr_list_dir(dir, &names, &n)) != 0) {
		fprintf(err, "kcsplice: %s: %s\n", dir, strerror(-e));
		return 1;
	}
	if (n == 0) {
		fprintf(err, "kcsplice: %s: no recording (*.kcrec) in it\n",
		    dir);
		rc = 1;
	}
	for (i = 0; i < n; i++)
		rc |= dump_one(names[i], flags, out, err);
	ksr_list_free(names, n);
	return rc;
}

int
ksr_dump(char *const *paths, int n, unsigned flags, FILE *out, FILE *err)
{
	struct stat sb;
	int i, rc = 0;

	for (i = 0; i < n; i++) {
		if (stat(paths[i], &sb) == 0 && S_ISDIR(sb.st_mode))
			rc |= dump_dir(paths[i], flags, out, err);
		else
			rc |= dump_one(paths[i], flags, out, err);
	}
	return rc;
}
