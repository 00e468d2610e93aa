/*
 * spans.c: runs paired with their ends, and how long each record lasts on
 * its thread's timeline, for the JSON and SVG formatters.
 *
 * A thread's runs nest (a continuation triggered on its own executor runs
 * at once, inside the run that triggered it), so each thread has a stack
 * of open runs.  A RUN_END closes the nearest open run with its kc among
 * the top KD_SPAN_SCAN (a bound, so that a hostile file cannot make this
 * quadratic); runs above it were never ended and end with it, so that the
 * slices still nest.  A RUN_END with no such run is left unpaired.
 */
#include <errno.h>
#include <stdlib.h>

#include "output.h"

struct tstack {
	uint64_t	*v;		/* indices of open RUN_BEGINs */
	size_t		 n;
	size_t		 cap;
	uint64_t	 last;		/* the thread's latest record */
	bool		 have_last;
};

static int
push(struct tstack *st, uint64_t i)
{
	uint64_t *nv;
	size_t ncap;

	if (st->n == st->cap) {
		ncap = st->cap != 0 ? 2 * st->cap : 8;
		if ((nv = realloc(st->v, ncap * sizeof(*nv))) == NULL)
			return -ENOMEM;
		st->v = nv;
		st->cap = ncap;
	}
	st->v[st->n++] = i;
	return 0;
}

static void
run_end(const struct kd_trace *t, struct kd_span *sp, struct tstack *st,
    uint64_t i, const struct kd_rec *r)
{
	struct kd_rec b;
	uint64_t kc = kd_rec_u64(r, 0);
	size_t j, k, lim = st->n > KD_SPAN_SCAN ? st->n - KD_SPAN_SCAN : 0;

	for (j = st->n; j > lim; j--) {
		kd_rec_at(t, st->v[j - 1], &b);
		if (kd_rec_u64(&b, 0) == kc)
			break;
	}
	if (j == lim)
		return;
	for (k = j - 1; k < st->n; k++) {
		sp[st->v[k]].end = r->ns;
		sp[st->v[k]].flags &= ~(uint32_t)KD_SPAN_OPEN;
	}
	sp[st->v[j - 1]].peer = i;
	sp[i].peer = st->v[j - 1];
	sp[i].flags |= KD_SPAN_ENDS;
	st->n = j - 1;
}

int
kd_spans(const struct kd_trace *t, struct kd_span **out)
{
	struct kd_span *sp;
	struct tstack *sts, *st;
	struct kd_thread *th;
	struct kd_rec r;
	uint64_t i;
	uint32_t k;
	int error = 0;

	*out = NULL;
	if (t->nrec == 0)
		return 0;
	sp = malloc(t->nrec * sizeof(*sp));
	sts = calloc(t->nthreads, sizeof(*sts));
	if (sp == NULL || sts == NULL) {
		error = -ENOMEM;
		goto out;
	}
	for (i = 0; i < t->nrec; i++) {
		kd_rec_at(t, i, &r);
		th = kd_thread_find(t, r.tid);	/* every tid has one */
		st = &sts[th - t->threads];
		if (st->have_last && !(sp[st->last].flags & KD_SPAN_RUN))
			sp[st->last].end = r.ns;
		st->last = i;
		st->have_last = true;
		sp[i].end = r.ns;
		sp[i].peer = UINT64_MAX;
		sp[i].depth = 0;
		sp[i].flags = 0;
		if (r.type == KC_TR_RUN_BEGIN) {
			sp[i].end = t->last_ns;
			sp[i].depth = st->n > UINT32_MAX ? UINT32_MAX :
			    (uint32_t)st->n;
			sp[i].flags = KD_SPAN_RUN | KD_SPAN_OPEN;
			if ((error = push(st, i)) != 0)
				goto out;
		} else if (r.type == KC_TR_RUN_END) {
			run_end(t, sp, st, i, &r);
		}
	}
	*out = sp;
	sp = NULL;
out:
	if (sts != NULL)
		for (k = 0; k < t->nthreads; k++)
			free(sts[k].v);
	free(sts);
	free(sp);
	return error;
}
