/*
 * fuzz_kcsplice_rec: kcsplice's recording reader (tools/kcsplice/recfmt.h,
 * recread.h) on hostile files.
 *
 * The input is a recording file's bytes.  Decoded in memory, record by
 * record, every record taken must lie inside the input, start on a
 * multiple of 8, encode back to the very header bytes it came from, and
 * carry a payload within the bounds; the walk ends at the input's end, a
 * record cut short (-EAGAIN), or a malformed one (-EINVAL).  The same
 * bytes as a file (a memfd) read by ksr_reader_next() give the same
 * records and the same end (-EAGAIN there is -EPIPE, a cut file), and
 * ksr_dump() says the file is whole exactly when the walk reached the end.
 * Anything else, or a crash, aborts.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "recfmt.h"
#include "recread.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_kcsplice_rec:%d: check failed: %s\n", \
		    __LINE__, #cond);					\
		abort();						\
	}								\
} while (0)

#define MAXREC	4096

static struct ksr_rec recs[MAXREC];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ksr_reader *rd;
	struct ksr_file fh, fh2;
	struct ksr_rec r;
	uint8_t hdr[KSR_REC_HDR];
	char path[64], *paths[1];
	size_t pos, n = 0, i;
	int e, fe, fd;
	long t = 0;
	FILE *null;

	fe = ksr_file_decode(data, size, &fh);
	if (fe == 0) {
		for (pos = KSR_FILE_HDR; pos < size && n < MAXREC; pos += (size_t)t) {
			t = ksr_rec_decode(data + pos, size - pos, &r);
			if (t < 0)
				break;
			CHECK(pos % 8 == 0);
			CHECK((size_t)t <= size - pos && t % 8 == 0);
			CHECK((size_t)t == KSR_REC_HDR + r.len + ksr_pad(r.len));
			CHECK(r.payload == data + pos + KSR_REC_HDR);
			CHECK(ksr_type_name(r.type) != NULL);
			CHECK((r.flags & ~KSR_F_ALL) == 0);
			ksr_rec_encode(hdr, &r);
			CHECK(memcmp(hdr, data + pos, KSR_REC_HDR) == 0);
			recs[n++] = r;
		}
		if (n == MAXREC)
			return 0;	/* the file walk below would go on */
		CHECK(pos == size || t == -EAGAIN || t == -EINVAL);
		if (pos == size)
			t = 0;
	}

	/* The same bytes as a file. */
	fd = memfd_create("fuzz-rec", MFD_CLOEXEC);
	CHECK(fd >= 0);
	CHECK(size == 0 || write(fd, data, size) == (ssize_t)size);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	e = ksr_reader_open(&rd, path, &fh2);
	CHECK(e == (fe == -EAGAIN ? -EINVAL : fe));
	if (e == 0) {
		CHECK(fh2.seq == fh.seq && fh2.pid == fh.pid &&
		    fh2.created_ns == fh.created_ns);
		for (i = 0; (e = ksr_reader_next(rd, &r, NULL)) == 1; i++) {
			CHECK(i < n);
			CHECK(r.type == recs[i].type && r.len == recs[i].len &&
			    r.conn == recs[i].conn &&
			    r.offset == recs[i].offset &&
			    r.flags == recs[i].flags &&
			    memcmp(r.payload, recs[i].payload, r.len) == 0);
		}
		CHECK(i == n);
		CHECK(e == (t == -EAGAIN ? -EPIPE : (int)t));
		ksr_reader_close(rd);
	}
	paths[0] = path;
	null = fopen("/dev/null", "w");
	CHECK(null != NULL);
	CHECK(ksr_dump(paths, 1, KSR_DUMP_DATA, null, null) ==
	    (fe == 0 && t == 0 ? 0 : 1));
	fclose(null);
	close(fd);
	return 0;
}
