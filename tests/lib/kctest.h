/*
 * kctest.h: the small helper library shared by kcont's unit tests.
 *
 * Every check that fails prints file:line, the expression and the values, and
 * aborts: a test executable exits 0 only if every check held.  Every wait is
 * bounded (KCT_WAIT), and kct_begin() arms a watchdog so that a test that
 * hangs dies with a message even when it is run outside ctest.
 */
#ifndef KCTEST_H
#define KCTEST_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <pthread.h>
#include <sys/types.h>

#include <kcont.h>

#define KCT_NORETURN __attribute__((noreturn))
#define KCT_PRINTF(a, b) __attribute__((format(printf, a, b)))

KCT_NORETURN KCT_PRINTF(3, 4)
void	kct_fail(const char *file, int line, const char *fmt, ...);
void	kct_fail_eq(const char *file, int line, const char *op,
	    const char *ea, const char *eb, long long a, long long b);

#define KC_CHECK(cond) do {						\
	if (!(cond))							\
		kct_fail(__FILE__, __LINE__, "check failed: %s", #cond); \
} while (0)

#define KCT_CMP_(a, op, b) do {						\
	long long kct_a_ = (long long)(a);				\
	long long kct_b_ = (long long)(b);				\
	if (!(kct_a_ op kct_b_))					\
		kct_fail_eq(__FILE__, __LINE__, #op, #a, #b, kct_a_, kct_b_); \
} while (0)

#define KC_CHECK_EQ(a, b)	KCT_CMP_(a, ==, b)
#define KC_CHECK_NE(a, b)	KCT_CMP_(a, !=, b)
#define KC_CHECK_GE(a, b)	KCT_CMP_(a, >=, b)
#define KC_CHECK_LE(a, b)	KCT_CMP_(a, <=, b)
#define KC_CHECK_GT(a, b)	KCT_CMP_(a, >, b)
#define KC_CHECK_LT(a, b)	KCT_CMP_(a, <, b)
/* An API call that must return 0. */
#define KC_CHECK_OK(expr)	KCT_CMP_(expr, ==, 0)

#define KC_CHECK_PTR_EQ(a, b) do {					\
	const void *kct_pa_ = (const void *)(a);			\
	const void *kct_pb_ = (const void *)(b);			\
	if (kct_pa_ != kct_pb_)						\
		kct_fail(__FILE__, __LINE__, "check failed: %s == %s "	\
		    "(%p vs %p)", #a, #b, kct_pa_, kct_pb_);		\
} while (0)

/* Poll cond (every ~50us) for at most timeout_s seconds, else fail. */
#define KCT_WAIT(cond, timeout_s) do {					\
	uint64_t kct_dl_ = kct_now_ns() +				\
	    (uint64_t)(timeout_s) * 1000000000ull;			\
	unsigned kct_n_ = 0;						\
	while (!(cond)) {						\
		if (kct_now_ns() > kct_dl_)				\
			kct_fail(__FILE__, __LINE__,			\
			    "timed out after %us waiting for: %s",	\
			    (unsigned)(timeout_s), #cond);		\
		kct_pause(kct_n_++);					\
	}								\
} while (0)

#define KCT_NSEC_PER_MSEC	1000000ull
#define KCT_NSEC_PER_SEC	1000000000ull

/* Start a test: name it, arm a watchdog (seconds), seed the RNG. */
void	kct_begin(const char *name, unsigned watchdog_s);
/* Print PASS and return 0, for main() to return. */
int	kct_done(void);

/* True in an ASan or TSan build (use only to size stress loops). */
bool	kct_sanitized(void);

/*
 * From now on the system call nr fails with err in every thread of the
 * process (a seccomp filter, which stays): to test the paths taken where a
 * kernel or a policy refuses it.
 */
void	kct_deny_syscall(long nr, int err);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t kct_now_ns(void);
void	kct_sleep_ns(uint64_t ns);
/* Back off inside a polling loop: spin, then yield, then sleep 50us. */
void	kct_pause(unsigned iteration);
pid_t	kct_gettid(void);

/* A per-thread xorshift generator, seeded from the test seed. */
uint64_t kct_rand(void);
/* Uniform in [0, n). */
uint64_t kct_rand_below(uint64_t n);
uint64_t kct_seed(void);

/* Threads that must start; joined with kct_thread_join. */
pthread_t kct_thread_start(void *(*fn)(void *), void *arg);
void	*kct_thread_join(pthread_t t);

/* Executors that must be created, and a clean drain + destroy. */
/*
 * A new directory of the test's own, <cwd>/<name>.XXXXXX (dir gets its
 * path, len >= PATH_MAX), and its removal with all it holds.
 */
void	kct_tmpdir(char *dir, size_t len, const char *name);
void	kct_rmtree(const char *dir);

struct kc_executor *kct_exec_soft(const char *name);
struct kc_executor *kct_exec_thread(unsigned nthreads, const char *name);
void	kct_exec_finish(struct kc_executor *ex);
void	kct_exec_stats(const struct kc_executor *ex,
	    struct kc_executor_stats *st);

/*
 * A gate: a continuation that holds its executor's thread busy by spinning on
 * an atomic flag (it never blocks, so it is allowed on a soft executor) until
 * the test releases it.  It records the thread it ran on.
 */
struct kct_gate {
	struct kc		 g_kc;
	struct kc_executor	*g_ex;
	atomic_int		 g_entered;
	atomic_int		 g_release;
	atomic_int		 g_done;
	pid_t			 g_tid;
	pthread_t		 g_thread;
	struct kc_executor	*g_current;	/* kc_executor_current() inside */
};

/* Send a gate to ex and wait (bounded) until it runs there. */
void	kct_gate_hold(struct kct_gate *g, struct kc_executor *ex);
/*
 * Let it return; kct_gate_wait waits (bounded) until it has and its kc is
 * idle (after which its storage may go).
 */
void	kct_gate_release(struct kct_gate *g);
void	kct_gate_wait(struct kct_gate *g);
/* Release the gate from another thread after delay_ns (join the result). */
pthread_t kct_gate_release_later(struct kct_gate *g, uint64_t delay_ns);

/* Set *flag to 1 after delay_ns from a new thread (join the result). */
pthread_t kct_set_later(atomic_int *flag, uint64_t delay_ns);

/*
 * A dead man's switch: unless disarmed within delay_ns, a helper thread sets
 * *target to 1 (e.g. a gate's release flag, so that a library call that
 * wrongly waits for the gate cannot hang the test) and records that it did.
 */
struct kct_deadman {
	pthread_t	 d_thread;
	atomic_int	*d_target;
	uint64_t	 d_deadline;
	atomic_int	 d_disarm;
	atomic_int	 d_fired;
};
void	kct_deadman_arm(struct kct_deadman *d, atomic_int *target,
	    uint64_t delay_ns);
/* Has it fired yet? */
bool	kct_deadman_fired(struct kct_deadman *d);
/* Stop it (joins the helper); returns whether it had fired. */
bool	kct_deadman_disarm(struct kct_deadman *d);

/*
 * kc_executor_close(ex, done) while gates[0..n) hold all of ex's threads
 * (and perhaps with work queued) must return 0 at once, without waiting
 * for them; a dead man's switch releases the gates after 2 s so that a
 * close that waits cannot hang the test, and that is reported.  The
 * gates are still held when it returns.
 */
void	kct_check_close_busy(struct kc_executor *ex, struct kct_gate *gates,
	    unsigned n, struct kc *done);

/* Threads of this process whose name (comm) begins with prefix. */
unsigned kct_tasks_named(const char *prefix);

/*
 * A close's done continuation that a plain thread waits for, with the wait
 * helpers (kcont/wait.h): its function counts its runs, records the thread
 * and executor it ran on, and fires a queue that a waiter, prepared by
 * kct_done_init(), sleeps on.  ex is done's executor (NULL: inline).
 */
struct kct_done {
	struct kc		 d_kc;
	struct kc_queue		 d_q;
	struct kc_waiter	 d_w;
	atomic_int		 d_runs;
	void			*d_obj;
	int			 d_status;
	struct kc_executor	*d_ran_on;	/* kc_executor_current() inside */
	long			 d_sockets;	/* kc_socket_count() inside */
	pid_t			 d_tid;
	bool			 d_waited;
};
void	kct_done_init(struct kct_done *d, struct kc_executor *ex);
/*
 * Wait (bounded) until done has run; check that it ran once, with status 0
 * and obj, and that it does not run again within a short while.
 */
void	kct_done_wait(struct kct_done *d, const void *obj);

/* Block (bounded by timeout_s) until *flag becomes nonzero. */
void	kct_wait_flag(atomic_int *flag, unsigned timeout_s);

/* A continuation function that only counts its runs in kct_ran. */
extern atomic_int kct_ran;
void	kct_count_fn(void *obj, void *env, int status);

#endif /* KCTEST_H */
