/*
 * conffile.h: reading kcsplice's configuration file (-f FILE) and putting
 * it together with the command line, at start, for --check and on SIGHUP.
 *
 * Nothing here prints or exits; messages go to the caller's buffer as in
 * conf.h.  Memory: ks_conf_read() returns a buffer the caller frees.
 */
#ifndef KCSPLICE_CONFFILE_H
#define KCSPLICE_CONFFILE_H

#include <stddef.h>

#include "conf.h"

/*
 * Read the file at path: it must be a regular file (a FIFO, a device or a
 * directory is refused without blocking) of at most KS_FILE_MAX bytes.
 * Returns 0 with *text (malloc'ed, NUL after the len bytes; the file may
 * hold NULs, which ks_conf_file() refuses), or 64 with "PATH: why" in err.
 */
int	ks_conf_read(const char *path, char **text, size_t *len, char *err,
	    size_t errlen);

/*
 * The whole configuration: ks_conf_parse(), then, with -f FILE,
 * ks_conf_read() and ks_conf_file().  0 or 64 with the message (for the
 * file, "FILE:LINE: ..." or "FILE: ...").
 */
int	ks_conf_load(struct ks_conf *c, int argc, char *const argv[],
	    char *err, size_t errlen);

#endif
