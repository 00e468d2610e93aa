/* tracefile.c: see tracefile.h. */
#include "tracefile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kctest.h"

void
tf_load(struct tracefile *tf, const char *path)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 0, off;

	memset(tf, 0, sizeof(*tf));
	if (f == NULL)
		kct_fail(__FILE__, __LINE__, "cannot open %s", path);
	for (;;) {
		size_t n;

		if (tf->len == cap) {
			cap = cap ? cap * 2 : 1 << 16;
			tf->data = realloc(tf->data, cap);
			KC_CHECK(tf->data != NULL);
		}
		n = fread(tf->data + tf->len, 1, cap - tf->len, f);
		if (n == 0)
			break;
		tf->len += n;
	}
	fclose(f);
	KC_CHECK_GE(tf->len, sizeof(tf->hdr));
	memcpy(&tf->hdr, tf->data, sizeof(tf->hdr));
	KC_CHECK(memcmp(tf->hdr.th_magic, KC_TRACE_MAGIC, 8) == 0);
	KC_CHECK_EQ(tf->hdr.th_version, KC_TRACE_VERSION);
	KC_CHECK_EQ(tf->hdr.th_size, sizeof(tf->hdr));
	for (off = tf->hdr.th_size; off < tf->len;) {
		const struct kc_trace_rec *h;
		struct tf_rec *r;

		KC_CHECK_LE(off + sizeof(*h), tf->len);
		h = (const void *)(tf->data + off);
		KC_CHECK_GE(h->tr_len, sizeof(*h));
		KC_CHECK_EQ(h->tr_len % 8, 0);
		KC_CHECK_LE(off + h->tr_len, tf->len);
		tf->recs = realloc(tf->recs, (tf->nrecs + 1) * sizeof(*r));
		KC_CHECK(tf->recs != NULL);
		r = &tf->recs[tf->nrecs++];
		r->h = h;
		r->p = (const void *)(h + 1);
		r->np = (h->tr_len - sizeof(*h)) / 8;
		r->text = NULL;
		if (h->tr_type == KC_TR_THREAD_NAME ||
		    h->tr_type == KC_TR_USER) {
			KC_CHECK(memchr(r->p, 0, h->tr_len - sizeof(*h)) !=
			    NULL);
			r->text = (const char *)r->p;
		}
		off += h->tr_len;
	}
}

void
tf_free(struct tracefile *tf)
{
	free(tf->data);
	free(tf->recs);
	memset(tf, 0, sizeof(*tf));
}

size_t
tf_count(const struct tracefile *tf, unsigned type, uint32_t tid)
{
	size_t i, n = 0;

	for (i = 0; i < tf->nrecs; i++)
		if (tf->recs[i].h->tr_type == type &&
		    (tid == 0 || tf->recs[i].h->tr_tid == tid))
			n++;
	return n;
}

const struct tf_rec *
tf_find(const struct tracefile *tf, unsigned type, unsigned i, uint64_t v)
{
	size_t k;

	for (k = 0; k < tf->nrecs; k++)
		if (tf->recs[k].h->tr_type == type && tf->recs[k].np > i &&
		    tf->recs[k].p[i] == v)
			return &tf->recs[k];
	return NULL;
}

size_t
tf_tids(const struct tracefile *tf, uint32_t *tids, size_t max)
{
	size_t i, j, n = 0;

	for (i = 0; i < tf->nrecs; i++) {
		uint32_t t = tf->recs[i].h->tr_tid;

		if (tf->recs[i].h->tr_seq == KC_TRACE_SEQ_NONE)
			continue;
		for (j = 0; j < n && tids[j] != t; j++)
			;
		if (j == n && n < max)
			tids[n++] = t;
	}
	return n;
}

uint64_t
tf_gaps(const struct tracefile *tf, uint32_t tid)
{
	uint64_t next = 0, gaps = 0;
	size_t i;

	for (i = 0; i < tf->nrecs; i++) {
		const struct kc_trace_rec *h = tf->recs[i].h;

		if (h->tr_tid != tid || h->tr_seq == KC_TRACE_SEQ_NONE)
			continue;
		KC_CHECK_GE(h->tr_seq, next);	/* in order, never twice */
		gaps += h->tr_seq - next;
		next = h->tr_seq + 1;
	}
	return gaps;
}

uint64_t
tf_lossrecs(const struct tracefile *tf, uint32_t tid)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < tf->nrecs; i++)
		if (tf->recs[i].h->tr_type == KC_TR_LOSS &&
		    tf->recs[i].h->tr_tid == tid)
			n += tf->recs[i].p[0];
	return n;
}

const char *
tf_name(const struct tracefile *tf, uint32_t tid)
{
	const char *name = NULL;
	size_t i;

	for (i = 0; i < tf->nrecs; i++)
		if (tf->recs[i].h->tr_type == KC_TR_THREAD_NAME &&
		    tf->recs[i].h->tr_tid == tid)
			name = tf->recs[i].text;
	return name;
}
