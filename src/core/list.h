/*
 * list.h: the library's one intrusive list.  Nothing here is public.
 *
 * A list is a head (first, last) and a link (next, prev) embedded in each
 * element; both ends are NULL-terminated, so a zeroed head is an empty list
 * and a zeroed link is an unlinked element (calloc'd objects need no
 * initialising).  Every operation is O(1), removal included, and touches no
 * memory but the links involved.  The list does not own its elements and
 * takes no lock: its owner's rules say who may change it.
 */
#ifndef KC_CORE_LIST_H
#define KC_CORE_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct kc__link {
	struct kc__link	*next;
	struct kc__link	*prev;
};

struct kc__list {
	struct kc__link	*first;
	struct kc__link	*last;
};

/* The element that holds link lk as its member named member. */
#define KC__LIST_ITEM(lk, type, member)					\
	((type *)(void *)((char *)(lk) - offsetof(type, member)))

/* The element after (or first in l), or NULL: typed walks. */
#define KC__LIST_FIRST(l, type, member)					\
	((l)->first != NULL ? KC__LIST_ITEM((l)->first, type, member) : NULL)
#define KC__LIST_NEXT(e, type, member)					\
	((e)->member.next != NULL ?					\
	    KC__LIST_ITEM((e)->member.next, type, member) : NULL)

/*
 * Walk l; the body may unlink (or free) the current element, not others.
 * tmp is a struct kc__link * the caller declares.
 */
#define KC__LIST_FOREACH(e, tmp, l, type, member)			\
	for ((tmp) = (l)->first;					\
	    (tmp) != NULL && ((e) = KC__LIST_ITEM((tmp), type, member),	\
	    (tmp) = (tmp)->next, 1);)

static inline bool
kc__list_empty(const struct kc__list *l)
{
	return l->first == NULL;
}

static inline void
kc__list_push_tail(struct kc__list *l, struct kc__link *lk)
{
	lk->next = NULL;
	lk->prev = l->last;
	if (l->last != NULL)
		l->last->next = lk;
	else
		l->first = lk;
	l->last = lk;
}

static inline void
kc__list_push_head(struct kc__list *l, struct kc__link *lk)
{
	lk->prev = NULL;
	lk->next = l->first;
	if (l->first != NULL)
		l->first->prev = lk;
	else
		l->last = lk;
	l->first = lk;
}

/* Unlink lk, which must be on l. */
static inline void
kc__list_remove(struct kc__list *l, struct kc__link *lk)
{
	if (lk->prev != NULL)
		lk->prev->next = lk->next;
	else
		l->first = lk->next;
	if (lk->next != NULL)
		lk->next->prev = lk->prev;
	else
		l->last = lk->prev;
	lk->next = lk->prev = NULL;
}

/* Unlink and return the first link, or NULL. */
static inline struct kc__link *
kc__list_pop_head(struct kc__list *l)
{
	struct kc__link *lk = l->first;

	if (lk != NULL)
		kc__list_remove(l, lk);
	return lk;
}

/* Move every element of from to the end of to; from becomes empty. */
static inline void
kc__list_concat(struct kc__list *to, struct kc__list *from)
{
	if (from->first == NULL)
		return;
	if (to->last != NULL) {
		to->last->next = from->first;
		from->first->prev = to->last;
	} else {
		to->first = from->first;
	}
	to->last = from->last;
	from->first = from->last = NULL;
}

#endif /* KC_CORE_LIST_H */
