/*
 * recread.h: reading a recording file (recfmt.h) record by record, and
 * printing it (kcsplice --dump).  The file is untrusted: every malformed
 * byte is an error with its offset, never a crash.
 *
 * Memory: ksr_reader_open() allocates the reader (and its buffer, which
 * grows to the largest record, at most KSR_PAYLOAD_MAX and a header);
 * ksr_reader_close() frees it.  A record's payload points into the buffer
 * and holds until the next ksr_reader_next().
 */
#ifndef KCSPLICE_RECREAD_H
#define KCSPLICE_RECREAD_H

#include <stdint.h>
#include <stdio.h>

#include "recfmt.h"

struct ksr_reader;

/*
 * Open path and read its header.  0; -errno from open(2) or read(2);
 * -EINVAL (not a recording, or not a regular file), -EPROTONOSUPPORT.
 */
int	ksr_reader_open(struct ksr_reader **rdp, const char *path,
	    struct ksr_file *hdr);
/*
 * The next record: 1 (in *rec), 0 at the end of the file, -EINVAL (a
 * malformed record), -EPIPE (the file ends inside a record: a recording
 * cut short, as by a crash), or -errno from read(2).  *offset (may be
 * NULL) gets the record's offset in the file, or the bad one's.
 */
int	ksr_reader_next(struct ksr_reader *rd, struct ksr_rec *rec,
	    uint64_t *offset);
void	ksr_reader_close(struct ksr_reader *rd);

/* ksr_dump() flags */
#define KSR_DUMP_DATA	0x1u	/* print payloads (escaped text) too */

/*
 * The recordings (*.kcrec) of directory dir, as "dir/name" in name order:
 * *namesp gets an array of *np strings (NULL and 0 for none), the
 * caller's, freed with ksr_list_free().  0, or -errno (opendir(3),
 * -ENOMEM).
 */
int	ksr_list_dir(const char *dir, char ***namesp, size_t *np);
void	ksr_list_free(char **names, size_t n);

/*
 * Print the recording files (or directories of them) paths[0..n-1] to out: a line per record, then
 * per file a summary (connections opened, ended complete and not, bytes
 * each way).  Errors go to err with the file and offset.  Returns 0 when
 * every file read whole, else 1.
 */
int	ksr_dump(char *const *paths, int n, unsigned flags, FILE *out,
	    FILE *err);

#endif
