/*
 * bench-trace: what a trace point costs.
 *
 * One loop body (a multiply-add into a global), run three ways in the same
 * process, in alternating rounds:
 *   base  the body alone;
 *   off   the body and one of the library's trace points (a two-word
 *         record, as a continuation's run end makes), tracing off;
 *   on    the same with tracing on, into a file in $TMPDIR (or /tmp), the
 *         thread's ring big enough that nothing is dropped (checked).
 * Each figure is the median over the rounds of (loop - base) / iterations.
 * The last line is
 *   trace: on_ns_per_event=X off_overhead_ns=Y
 * --quick runs fewer and shorter rounds (CI).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "benchlib.h"
#include "core/trace_int.h"

static uint64_t sink;

__attribute__((noinline)) static void
loop_base(uint64_t n)
{
	uint64_t i;

	for (i = 0; i < n; i++) {
		sink = sink * 6364136223846793005ull + i;
		__asm__ volatile("" ::: "memory");
	}
}

__attribute__((noinline)) static void
loop_traced(uint64_t n)
{
	uint64_t i;

	for (i = 0; i < n; i++) {
		sink = sink * 6364136223846793005ull + i;
		(void)KC__TR2(KC_TR_RUN_END, i, sink);
		__asm__ volatile("" ::: "memory");
	}
}

static double
timed(void (*fn)(uint64_t), uint64_t n)
{
	double t0 = bench_now_s();

	fn(n);
	return bench_now_s() - t0;
}

int
main(int argc, char **argv)
{
	struct kc_trace_attr at = { .ring_bytes = (size_t)256 << 20 };
	struct kc_trace_stats st;
	const char *tmp = getenv("TMPDIR");
	unsigned rounds = 7, r;
	uint64_t n_off = 200000000, n_on = 4000000;
	double on[16], off[16];
	char path[4096];
	int fd, rc;

	bench_init("bench-trace", 300);
	if (argc > 1 && strcmp(argv[1], "--quick") == 0) {
		rounds = 3;
		n_off = 50000000;
		n_on = 1000000;
	} else if (argc > 1) {
		fprintf(stderr, "usage: bench-trace [--quick]\n");
		return 64;
	}
	snprintf(path, sizeof(path), "%s/bench-trace-XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if ((fd = mkstemp(path)) < 0)
		bench_die("mkstemp %s: %s", path, strerror(errno));
	close(fd);

	/* Warm up: code, and every page of the ring once. */
	loop_base(n_off / 10);
	loop_traced(n_off / 10);
	if ((rc = kc_trace_start(path, &at)) != 0)
		bench_die("kc_trace_start: %s", strerror(-rc));
	loop_traced(n_on);
	if ((rc = kc_trace_stop()) != 0)
		bench_die("kc_trace_stop: %s", strerror(-rc));

	for (r = 0; r < rounds; r++) {
		double b, t;

		/* Off: against the same loop without the trace point. */
		b = timed(loop_base, n_off);
		t = timed(loop_traced, n_off);
		off[r] = (t - b) * 1e9 / (double)n_off;

		/* On: every record kept. */
		if ((rc = kc_trace_start(path, &at)) != 0)
			bench_die("kc_trace_start: %s", strerror(-rc));
		b = timed(loop_base, n_on);
		t = timed(loop_traced, n_on);
		if ((rc = kc_trace_stats(&st)) != 0)
			bench_die("kc_trace_stats: %s", strerror(-rc));
		if ((rc = kc_trace_stop()) != 0)
			bench_die("kc_trace_stop: %s", strerror(-rc));
		if (st.lost != 0)
			bench_die("round %u dropped %llu records: the ring is "
			    "too small for the measurement", r,
			    (unsigned long long)st.lost);
		if (st.records < n_on)
			bench_die("round %u kept %llu records of %llu", r,
			    (unsigned long long)st.records,
			    (unsigned long long)n_on);
		on[r] = (t - b) * 1e9 / (double)n_on;
		printf("round %u: on %.2f ns/record, off %+.3f ns/point\n", r,
		    on[r], off[r]);
	}
	unlink(path);
	printf("trace: on_ns_per_event=%.2f off_overhead_ns=%.3f\n",
	    bench_median(on, rounds), bench_median(off, rounds));
	return 0;
}
