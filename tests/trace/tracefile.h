/*
 * tracefile.h: read a trace file whole, for the trace tests (a reader of
 * their own, independent of kcdump's, so that each checks the other).
 */
#ifndef KC_TESTS_TRACEFILE_H
#define KC_TESTS_TRACEFILE_H

#include <stddef.h>
#include <stdint.h>

#include <kcont/trace.h>

struct tf_rec {
	const struct kc_trace_rec *h;
	const uint64_t	*p;		/* payload words */
	unsigned	 np;		/* how many */
	const char	*text;		/* THREAD_NAME, USER: NUL-terminated */
};

struct tracefile {
	unsigned char	*data;
	size_t		 len;
	struct kc_trace_file_header hdr;
	struct tf_rec	*recs;
	size_t		 nrecs;
};

/* Load and check path (every record in bounds); fails the test if not. */
void	tf_load(struct tracefile *tf, const char *path);
void	tf_free(struct tracefile *tf);
/* Records of one type (and tid, 0: any); returns how many, fills out[]. */
size_t	tf_count(const struct tracefile *tf, unsigned type, uint32_t tid);
/* The first record of type whose payload word i is v, or NULL. */
const struct tf_rec *tf_find(const struct tracefile *tf, unsigned type,
	    unsigned i, uint64_t v);
/* Distinct thread ids in records made by traced threads. */
size_t	tf_tids(const struct tracefile *tf, uint32_t *tids, size_t max);
/* Records missing from tid's sequence (gaps), and its LOSS total. */
uint64_t tf_gaps(const struct tracefile *tf, uint32_t tid);
uint64_t tf_lossrecs(const struct tracefile *tf, uint32_t tid);
/* The thread name recorded for tid, or NULL. */
const char *tf_name(const struct tracefile *tf, uint32_t tid);

#endif
