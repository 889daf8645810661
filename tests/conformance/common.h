/*
 * What every conformance test file includes: cmocka (which wants its
 * prerequisites first), the harness, and the set-up/tear-down pairs.
 */
#ifndef QFP_CONFORMANCE_COMMON_H
#define QFP_CONFORMANCE_COMMON_H

#include <sys/types.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

/* Options every test run uses unless it says otherwise. */
#define OPTS_FAST	"-S none"

/* A daemon in the given framing mode, the client in a dialect. */
static inline int
setup_with(void **state, const char *opts, enum imsg_dialect d)
{
	*state = qfp_new(opts, d);
	return 0;
}

static inline int
setup_default(void **state)
{
	return setup_with(state, OPTS_FAST, IMSG_DIALECT_A);
}

static inline int
teardown(void **state)
{
	qfp_free(*state);
	return 0;
}

#define TEST(f)	cmocka_unit_test_setup_teardown(f, setup_default, teardown)

/* The daemon is still up and still answers. */
static inline void
assert_alive(struct qt_daemon *q)
{
	assert_true(qd_alive(q));
	assert_int_equal(pq_close(&q->c), 1);
}

static inline void
assert_bytes(const char *got, size_t gotlen, const char *want,
    size_t wantlen)
{
	assert_non_null(got);
	assert_int_equal(gotlen, wantlen);
	assert_memory_equal(got, want, wantlen);
}

#endif
