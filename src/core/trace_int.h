/*
 * Trace points inside the library (see src/core/trace.c, kcont/trace.h).
 *
 * KC__TRn(type, ...) makes a record with n uint64_t payload fields when
 * tracing is on and evaluates to its flow id (KC_TRACE_FLOW of the record),
 * or to 0 when tracing is off.  Off, a trace point is one load of a hidden
 * flag and one branch that is predicted not taken; the arguments are not
 * evaluated.
 */
#ifndef KC_CORE_TRACE_INT_H
#define KC_CORE_TRACE_INT_H

#include <stdint.h>

#include <kcont/trace.h>

extern int kc__trace_flag;	/* non-zero while tracing is on */

uint64_t kc__trace_rec(unsigned type, unsigned n, uint64_t a, uint64_t b,
	    uint64_t c, uint64_t d, uint64_t e);
/* A record whose payload is NUL-terminated text (THREAD_NAME, USER). */
void	kc__trace_text(unsigned type, const char *text);
/* Record the calling thread's name (after it changed). */
void	kc__trace_thread_named(void);

/* As a payload value: the record's own flow id goes there. */
#define KC__TR_MYFLOW	(~(uint64_t)0 - 1)

#define KC__TRACING() \
	__builtin_expect(__atomic_load_n(&kc__trace_flag, __ATOMIC_RELAXED), 0)

#define KC__TRU(x)	((uint64_t)(uintptr_t)(x))
#define KC__TR(t, n, a, b, c, d, e) \
	(KC__TRACING() ? kc__trace_rec((t), (n), (a), (b), (c), (d), (e)) : 0)
#define KC__TR1(t, a) \
	KC__TR(t, 1, KC__TRU(a), 0, 0, 0, 0)
#define KC__TR2(t, a, b) \
	KC__TR(t, 2, KC__TRU(a), KC__TRU(b), 0, 0, 0)
#define KC__TR3(t, a, b, c) \
	KC__TR(t, 3, KC__TRU(a), KC__TRU(b), KC__TRU(c), 0, 0)
#define KC__TR4(t, a, b, c, d) \
	KC__TR(t, 4, KC__TRU(a), KC__TRU(b), KC__TRU(c), KC__TRU(d), 0)
#define KC__TR5(t, a, b, c, d, e) \
	KC__TR(t, 5, KC__TRU(a), KC__TRU(b), KC__TRU(c), KC__TRU(d), \
	    KC__TRU(e))

#endif /* KC_CORE_TRACE_INT_H */
