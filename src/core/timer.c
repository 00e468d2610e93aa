/*
 * timer.c: the timer heap, an intrusive pairing heap ordered by deadline.
 *
 * Intrusive so that arming a timer never allocates; a pairing heap because
 * insert is O(1), removing any node is O(log n) amortised, and it needs only
 * three links per node.  kc_heap[] holds them: the first child, the next
 * sibling, and the previous node (the parent for a first child, otherwise the
 * left sibling).  The caller serialises access (the executor's timer lock).
 */
#include "internal.h"

#define CHILD(n)	((n)->kc_heap[0])
#define NEXT(n)		((n)->kc_heap[1])
#define PREV(n)		((n)->kc_heap[2])

static struct kc *
meld(struct kc *a, struct kc *b)
{
	struct kc *t;

	if (a == NULL)
		return b;
	if (b == NULL)
		return a;
	if (b->kc_deadline < a->kc_deadline) {
		t = a;
		a = b;
		b = t;
	}
	/* b becomes a's first child. */
	NEXT(b) = CHILD(a);
	if (CHILD(a) != NULL)
		PREV(CHILD(a)) = b;
	PREV(b) = a;
	CHILD(a) = b;
	NEXT(a) = PREV(a) = NULL;
	return a;
}

/*
 * Meld a list of siblings into one heap: pair them left to right, then meld
 * the pairs right to left.  Iterative, so deep lists cannot exhaust the stack.
 */
static struct kc *
merge_pairs(struct kc *first)
{
	struct kc *a, *b, *rest, *pairs = NULL, *h;

	while (first != NULL) {
		a = first;
		b = NEXT(a);
		rest = b != NULL ? NEXT(b) : NULL;
		NEXT(a) = PREV(a) = NULL;
		if (b != NULL)
			NEXT(b) = PREV(b) = NULL;
		h = meld(a, b);
		/* Stack the pair through PREV, a free link on a root. */
		PREV(h) = pairs;
		pairs = h;
		first = rest;
	}
	h = NULL;
	while (pairs != NULL) {
		a = pairs;
		pairs = PREV(a);
		PREV(a) = NULL;
		h = meld(h, a);
	}
	return h;
}

void
kc__heap_insert(struct kc__heap *h, struct kc *kc)
{
	CHILD(kc) = NEXT(kc) = PREV(kc) = NULL;
	h->h_root = meld(h->h_root, kc);
	h->h_count++;
}

void
kc__heap_remove(struct kc__heap *h, struct kc *kc)
{
	struct kc *sub;

	KC__DASSERT(h->h_count > 0);
	if (kc == h->h_root) {
		h->h_root = merge_pairs(CHILD(kc));
	} else {
		/* Cut kc (with its subtree) out of its sibling list. */
		if (CHILD(PREV(kc)) == kc)
			CHILD(PREV(kc)) = NEXT(kc);
		else
			NEXT(PREV(kc)) = NEXT(kc);
		if (NEXT(kc) != NULL)
			PREV(NEXT(kc)) = PREV(kc);
		sub = merge_pairs(CHILD(kc));
		h->h_root = meld(h->h_root, sub);
	}
	CHILD(kc) = NEXT(kc) = PREV(kc) = NULL;
	h->h_count--;
}

struct kc *
kc__heap_min(const struct kc__heap *h)
{
	return h->h_root;
}
