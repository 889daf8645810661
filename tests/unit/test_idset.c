/*
 * Unit tests of the id set (idset.h): membership, growth past its
 * first table, duplicates, ids that fold to the same slot, and free.
 * No spool is involved; the program runs as the queue user like the
 * other in-process tests (unit_spool.h).
 */
#include <stdint.h>
#include <stdlib.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "idset.h"
#include "unit_spool.h"

/* Distinct non-zero ids, spread like evpids: msgid << 32 | random. */
static uint64_t
id_of(uint64_t i)
{
	uint64_t	x = (i + 1) * 0x9e3779b97f4a7c15ULL;

	return (x ^ (x >> 29)) | 1;
}

static void
test_empty(void **state)
{
	struct idset	s = { 0 };

	assert_false(idset_has(&s, 1));
	assert_false(idset_has(&s, UINT64_MAX));
	idset_free(&s);
	assert_int_equal(s.count, 0);
}

static void
test_add_has(void **state)
{
	struct idset	s = { 0 };
	uint64_t	i;

	for (i = 0; i < 100; i++)
		assert_int_equal(idset_add(&s, id_of(i)), 0);
	assert_int_equal(s.count, 100);
	for (i = 0; i < 100; i++)
		assert_true(idset_has(&s, id_of(i)));
	for (i = 100; i < 1000; i++)
		assert_false(idset_has(&s, id_of(i)));
	assert_true(idset_add(&s, UINT64_MAX) == 0 &&
	    idset_has(&s, UINT64_MAX));
	assert_false(idset_has(&s, UINT64_MAX - 1));
	idset_free(&s);
}

/* Far past the first table: nothing lost while it grows. */
static void
test_growth(void **state)
{
	struct idset	s = { 0 };
	uint64_t	i, n = 100000;

	for (i = 0; i < n; i++) {
		assert_int_equal(idset_add(&s, id_of(i)), 0);
		/* kept at most half full, a power of two */
		assert_true(s.count * 2 <= s.cap);
		assert_int_equal(s.cap & (s.cap - 1), 0);
	}
	assert_int_equal(s.count, n);
	for (i = 0; i < n; i++)
		assert_true(idset_has(&s, id_of(i)));
	for (i = n; i < 2 * n; i++)
		assert_false(idset_has(&s, id_of(i)));
	idset_free(&s);
}

static void
test_duplicates(void **state)
{
	struct idset	s = { 0 };
	uint64_t	i;
	int		round;

	for (round = 0; round < 3; round++)
		for (i = 0; i < 2000; i++)
			assert_int_equal(idset_add(&s, id_of(i)), 0);
	assert_int_equal(s.count, 2000);
	for (i = 0; i < 2000; i++)
		assert_true(idset_has(&s, id_of(i)));
	idset_free(&s);
}

/*
 * Ids of one message differ only in their low half, msgids only in
 * their high half, and an evpid whose halves are equal folds to 0:
 * all of them collide in slots, none may hide another.
 */
static void
test_collisions(void **state)
{
	struct idset	s = { 0 };
	uint64_t	i;

	for (i = 1; i <= 3000; i++) {
		assert_int_equal(idset_add(&s, 0xabcd0000ULL << 32 | i), 0);
		assert_int_equal(idset_add(&s, i << 32), 0);
		assert_int_equal(idset_add(&s, i << 32 | i), 0);
	}
	assert_int_equal(s.count, 9000);
	for (i = 1; i <= 3000; i++) {
		assert_true(idset_has(&s, 0xabcd0000ULL << 32 | i));
		assert_true(idset_has(&s, i << 32));
		assert_true(idset_has(&s, i << 32 | i));
		assert_false(idset_has(&s, 0xabcd0001ULL << 32 | i));
		assert_false(idset_has(&s, (i + 3000) << 32));
	}
	idset_free(&s);
}

/* free empties the set, and it can be used again. */
static void
test_idset_free(void **state)
{
	struct idset	s = { 0 };
	uint64_t	i;

	for (i = 0; i < 5000; i++)
		assert_int_equal(idset_add(&s, id_of(i)), 0);
	idset_free(&s);
	assert_null(s.slots);
	assert_int_equal(s.cap, 0);
	assert_int_equal(s.count, 0);
	for (i = 0; i < 5000; i++)
		assert_false(idset_has(&s, id_of(i)));
	assert_int_equal(idset_add(&s, id_of(7)), 0);
	assert_true(idset_has(&s, id_of(7)));
	assert_false(idset_has(&s, id_of(8)));
	assert_int_equal(s.count, 1);
	idset_free(&s);
	idset_free(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_add_has),
		cmocka_unit_test(test_growth),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_collisions),
		cmocka_unit_test(test_idset_free),
	};

	return us_run("test_idset", tests, sizeof(tests) / sizeof(tests[0]));
}
