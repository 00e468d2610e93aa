/*
 * unit-claim: an executor that has popped a pending continuation and read
 * its state word, but not yet claimed it, while other threads trigger and
 * cancel it.  Whatever happens in that window, the run that follows (if
 * any) is the one the word stands for when the executor claims it: that
 * instance's first obj and status, and its count; a cancelled trigger never
 * runs, and a trigger that was accepted is never lost.
 *
 * The window is forced, not hoped for: debug builds let a test hook into
 * the executor's dispatch between reading a kc's word and claiming it
 * (kc__dispatch_hook), and the hook holds the executor's thread there
 * while the test thread acts.  Registered only in debug builds.
 *
 * The cases that failed before: a trigger A is queued; in the window a
 * second trigger B coalesces into it, kc_cancel() returns 2 (A and B), and
 * a third trigger C re-arms the kc in place, which leaves its word exactly
 * as the executor read it (armed, nothing coalesced).  The executor's
 * compare-and-swap then succeeded and it ran with the obj and status it had
 * read before the window, A's, and a count of 1: A was both cancelled and
 * run, and C was lost.  Seen in unit-stress as "kc_cancel returned 2 for
 * the instance [n, n + 1) of 1 triggers": there A was trigger n - 1,
 * which the test had seen run, B trigger n, and C, n + 1, never ran.  The
 * same without B, and with a second cancel and re-arm.
 */
#include "kctest.h"

#include <errno.h>
#include <string.h>

#include "core/internal.h"

/* Records the last run: a case expects one at most. */
struct rec {
	struct kc	kc;
	atomic_int	runs;
	void		*obj;
	int		status;
	uint32_t	coalesced;
};

static void
rec_fn(void *obj, void *env, int status)
{
	struct rec *r = env;

	r->obj = obj;
	r->status = status;
	r->coalesced = kc_coalesced();
	atomic_fetch_add(&r->runs, 1);
}

/* The hook: holds the executor once, for the kc named in hold_kc. */
static struct kc *_Atomic hold_kc;
static atomic_int held, release;

static void
hold_hook(struct kc *kc)
{
	struct kc *want = kc;

	/* Only the first pass for that kc: its retry must go through. */
	if (!atomic_compare_exchange_strong(&hold_kc, &want, NULL))
		return;
	atomic_store(&held, 1);
	KCT_WAIT(atomic_load(&release), 10);
}

static void
tag_fn(void *obj, void *env, int status)
{
	(void)obj;
	(void)status;
	atomic_store((atomic_int *)env, 1);
}

/* Wait until ex has run everything queued before now (one FIFO thread). */
static void
fence(struct kc_executor *ex)
{
	struct kc k;
	atomic_int ran = 0;

	KC_CHECK_OK(kc_init(&k, tag_fn, &ran, ex, 0));
	KC_CHECK_OK(kc_defer(&k, NULL, 0));
	KCT_WAIT(atomic_load(&ran), 10);
	KC_CHECK_EQ(kc_cancel_sync(&k), -EALREADY);
}

/*
 * One case: trigger A from this (plain) thread, so that it is queued; once
 * the executor holds it in the window, act: a letter triggers with itself
 * as obj and status, '-' cancels.  What kc_cancel() returns and what runs
 * afterwards follow from kc.h alone: a trigger coalesces into a pending
 * run or starts one, a cancel returns the pending run's triggers and ends
 * it, and the pending run left at the end runs once, with its first
 * trigger's obj, standing for all of its triggers.
 */
static void
window_case(struct kc_executor *ex, const char *acts)
{
	struct rec r;
	const char *a;
	int first = 'A', pending = 1;

	memset(&r, 0, sizeof(r));
	atomic_store(&held, 0);
	atomic_store(&release, 0);
	atomic_store(&hold_kc, &r.kc);
	KC_CHECK_OK(kc_init(&r.kc, rec_fn, &r, ex, 0));
	KC_CHECK_OK(kc_run(&r.kc, (void *)(uintptr_t)'A', 'A'));
	KCT_WAIT(atomic_load(&held), 10);
	/* Popped and its word read, not yet claimed: still pending. */
	KC_CHECK_EQ(kc_state(&r.kc), KC_STATE_PENDING);

	for (a = acts; *a != '\0'; a++) {
		if (*a == '-') {
			KC_CHECK_EQ(kc_cancel(&r.kc), pending);
			pending = 0;
			continue;
		}
		KC_CHECK_OK(kc_run(&r.kc, (void *)(uintptr_t)*a, *a));
		if (pending++ == 0)
			first = *a;
	}

	atomic_store(&release, 1);
	fence(ex);
	KCT_WAIT(kc_state(&r.kc) == KC_STATE_IDLE, 10);
	KC_CHECK(atomic_load(&hold_kc) == NULL);
	printf("  A then %-8s runs %d", acts, atomic_load(&r.runs));
	if (atomic_load(&r.runs) > 0)
		printf(": obj %c, status %c, coalesced %u", (int)(uintptr_t)r.obj,
		    r.status, r.coalesced);
	printf("\n");
	if (pending == 0) {
		KC_CHECK_EQ(atomic_load(&r.runs), 0);
		KC_CHECK_EQ(kc_cancel(&r.kc), -EALREADY);
		return;
	}
	KC_CHECK_EQ(atomic_load(&r.runs), 1);
	KC_CHECK_PTR_EQ(r.obj, (void *)(uintptr_t)first);
	KC_CHECK_EQ(r.status, first);
	KC_CHECK_EQ(r.coalesced, (uint32_t)pending);
}

int
main(void)
{
	static const char *const cases[] = {
		/* The word the executor read changes: its claim retries. */
		"BC",		/* coalesced: A's run, for 3 */
		"B-",		/* cancelled: nothing runs */
		"B-CD",		/* re-armed, then coalesced: C's, for 2 */
		"BC-DEF",	/* D's, for 3 */
		"-C-",		/* nothing runs */
		/*
		 * The word ends as the executor read it (armed, nothing
		 * coalesced), and its claim succeeds.  Before, each ran A,
		 * cancelled, and lost the new trigger.
		 */
		"-C",		/* C's run */
		"B-C",		/* C's, after a cancel of 2: unit-stress's
				   "returned 2 for ... of 1 triggers" */
		"-C-D",		/* D's */
	};
	struct kc_executor *ex;
	unsigned i;
	int soft;

	kct_begin("unit-claim", 60);
	__atomic_store_n(&kc__dispatch_hook, hold_hook, __ATOMIC_RELEASE);
	for (soft = 1; soft >= 0; soft--) {
		ex = soft ? kct_exec_soft("cl-soft") : kct_exec_thread(1,
		    "cl-thr");
		printf("%s executor:\n", soft ? "soft" : "thread");
		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			window_case(ex, cases[i]);
		kct_exec_finish(ex);
	}
	__atomic_store_n(&kc__dispatch_hook, NULL, __ATOMIC_RELEASE);
	return kct_done();
}
