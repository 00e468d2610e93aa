/*
 * kcq.c: object queues (kcont's kcq), the continuations waiting on one object.
 *
 * Adding is a lock-free push onto a singly linked stack.  Taking continuations
 * off (firing, or removing a cancelled one) holds the queue's small lock, so
 * that a remover never walks a list that a firer has just detached; pushers
 * touch only the head and their own node, so they need no lock.
 */
#include "internal.h"

static bool
kcq_valid(const struct kc_queue *q)
{
	return q != NULL && q->kq_magic == KC_QUEUE_MAGIC;
}

int
kc_queue_init(struct kc_queue *q)
{
	if (q == NULL)
		return -EINVAL;
	q->kq_head = NULL;
	q->kq_lock = 0;
	q->kq_magic = KC_QUEUE_MAGIC;
	return 0;
}

int
kc_queue_empty(const struct kc_queue *q)
{
	return !kcq_valid(q) || KC__LOAD(&q->kq_head) == NULL;
}

static void
kcq_push(struct kc_queue *q, struct kc *kc)
{
	struct kc *head = KC__LOAD_RELAXED(&q->kq_head);

	do {
		kc->kc_next = head;
	} while (!KC__CAS(&q->kq_head, &head, kc));
}

int
kc_enqueue(struct kc_queue *q, struct kc *kc)
{
	uint64_t w;

	if (!kcq_valid(q) || !kc__valid(kc))
		return -EINVAL;
	for (;;) {
		w = kc__word_stable(kc);
		if (KC__LOC(w) != KC__LOC_NONE)
			return -EBUSY;
		/* BUSY until pushed, so a canceller finds it on the queue. */
		if (KC__CAS(&kc->kc_word, &w,
		    KC__LOC_KCQ | KC__ARMED | KC__BUSY))
			break;
	}
	kc->kc_where = q;
	kcq_push(q, kc);
	KC__STORE(&kc->kc_word, KC__LOC_KCQ | KC__ARMED);
	return 0;
}

/* Detach the whole queue and return it oldest first. */
static struct kc *
kcq_take_all(struct kc_queue *q)
{
	struct kc *list, *fifo = NULL, *next;

	/*
	 * Look with a read-modify-write, not a load: the caller's store of the
	 * condition a waiter checks after kc_wait_prepare() must not pass it,
	 * or the waiter could sleep on a queue we saw empty.  An RMW on the
	 * head joins the waiter's push in one modification order, so one of
	 * the two always sees the other (a fence would do on the hardware, but
	 * ThreadSanitizer cannot model fences).
	 */
	list = KC__LOAD_RELAXED(&q->kq_head);
	while (!__atomic_compare_exchange_n(&q->kq_head, &list, list, false,
	    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		;
	if (list == NULL)
		return NULL;
	kc__lock(&q->kq_lock);
	list = KC__XCHG(&q->kq_head, NULL);
	kc__unlock(&q->kq_lock);
	for (; list != NULL; list = next) {
		next = list->kc_next;
		list->kc_next = fifo;
		fifo = list;
	}
	return fifo;
}

/* Detach the oldest continuation, or NULL. */
static struct kc *
kcq_take_oldest(struct kc_queue *q)
{
	struct kc *head, *p, *prev;

	kc__lock(&q->kq_lock);
	for (;;) {
		head = KC__LOAD(&q->kq_head);
		if (head == NULL || head->kc_next != NULL)
			break;
		/* The only one: a push may race with taking the head. */
		if (KC__CAS(&q->kq_head, &head, NULL)) {
			kc__unlock(&q->kq_lock);
			return head;
		}
	}
	if (head == NULL) {
		kc__unlock(&q->kq_lock);
		return NULL;
	}
	/* Pushers never touch nodes below the head: unlink the tail. */
	for (prev = head, p = head->kc_next; p->kc_next != NULL;
	    prev = p, p = p->kc_next)
		;
	prev->kc_next = NULL;
	kc__unlock(&q->kq_lock);
	return p;
}

void
kc__kcq_unlink(struct kc_queue *q, struct kc *kc)
{
	struct kc *head, *p;
	bool found = false;
	uint64_t w;

	kc__lock(&q->kq_lock);
	for (;;) {
		head = KC__LOAD(&q->kq_head);
		if (head == kc) {
			if (!KC__CAS(&q->kq_head, &head, kc->kc_next))
				continue;
			found = true;
			break;
		}
		for (p = head; p != NULL && p->kc_next != kc; p = p->kc_next)
			;
		if (p != NULL) {
			p->kc_next = kc->kc_next;
			found = true;
		}
		break;
	}
	kc__unlock(&q->kq_lock);
	if (!found)
		return;		/* a firer holds it and will unlink it */
	do
		w = kc__word_stable(kc);
	while (!kc__unlink_cancelled(kc, w));
}

/*
 * Trigger one continuation detached from q.  Returns 1 if it ran or was
 * queued on its executor, 0 if it had been cancelled (now unlinked), or a
 * negative errno when it could not be triggered, in which case it is back on
 * q, waiting.
 */
static int
kcq_fire(struct kc_queue *q, struct kc *kc, void *obj, int status)
{
	struct kc_executor *ex = kc->kc_exec;
	struct kc__runner *r;
	struct kc_pool *pool;
	uint64_t w, busy;
	bool here;
	int rc;

	for (;;) {
		w = kc__word_stable(kc);
		KC__ASSERT(KC__LOC(w) == KC__LOC_KCQ);
		if (!(w & KC__ARMED)) {
			if (kc__unlink_cancelled(kc, w))
				return 0;
			continue;
		}
		r = kc__self;
		here = ex == NULL || (r != NULL && r->r_exec == ex);
		if (here) {
			r = kc__runner_get();
			if (r->r_depth >= KC_INLINE_DEPTH_MAX) {
				if (ex == NULL) {
					busy = KC__LOC_KCQ | KC__ARMED | KC__BUSY;
					if (!KC__CAS(&kc->kc_word, &w, busy))
						continue;
					rc = -ELOOP;
					goto put_back;
				}
				here = false;
			}
		}
		if (here) {
			pool = (kc->kc_flags & KC_AUTOFREE) ? kc->kc_pool : NULL;
			kc__publish(r, kc);
			if (!KC__CAS(&kc->kc_word, &w, KC__LOC_NONE)) {
				kc__unpublish(r, r->r_depth);
				continue;
			}
			kc__invoke(r, kc, kc->kc_fn, kc->kc_env, obj, status, 1,
			    pool);
			return 1;
		}
		busy = KC__LOC_RUNQ | KC__ARMED | KC__BUSY;
		if (!KC__CAS(&kc->kc_word, &w, busy))
			continue;
		KC__STORE_RELAXED(&kc->kc_obj, obj);
		KC__STORE_RELAXED(&kc->kc_status, status);
		rc = kc__exec_push(ex, kc, busy & ~KC__BUSY);
		if (rc == 0)
			return 1;
		KC__STORE(&kc->kc_word, KC__LOC_KCQ | KC__ARMED | KC__BUSY);
		goto put_back;
	}
put_back:
	/* We hold BUSY on the detached kc: put it back. */
	kc->kc_where = q;
	kcq_push(q, kc);
	KC__STORE(&kc->kc_word, KC__LOC_KCQ | KC__ARMED);
	return rc;
}

int
kc_run_all(struct kc_queue *q, void *obj, int status)
{
	struct kc *kc, *next;
	int n = 0, rc, err = 0;

	if (!kcq_valid(q))
		return -EINVAL;
	for (kc = kcq_take_all(q); kc != NULL; kc = next) {
		/* Read the link first: once fired, kc may be freed. */
		next = kc->kc_next;
		rc = kcq_fire(q, kc, obj, status);
		if (rc > 0)
			n++;
		else if (rc < 0 && err == 0)
			err = rc;
	}
	return err != 0 ? err : n;
}

int
kc_run_one(struct kc_queue *q, void *obj, int status)
{
	struct kc *kc;
	int rc;

	if (!kcq_valid(q))
		return -EINVAL;
	while ((kc = kcq_take_oldest(q)) != NULL) {
		rc = kcq_fire(q, kc, obj, status);
		if (rc != 0)
			return rc;
	}
	return 0;
}
