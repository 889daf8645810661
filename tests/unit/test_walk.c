/*
 * In-process tests of ENVELOPE_WALK (store_envelope_walk, walk.c) on a
 * temporary spool, as the queue user: what it returns (exactly the
 * envelopes present when the store was opened, each message's in one
 * run, then -1), what it does about broken message directories, and
 * its read-ahead against updates and deletions.  See unit_spool.h.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "proc_queue.h"
#include "store.h"
#include "unit_spool.h"

#define T(st)		((struct us_test *)*(st))
#define S(st)		(&T(st)->store)
#define SPOOL(st)	(T(st)->spool)

#define MAXEVP		64
#define MAXCALLS	10000	/* r = 0 answers allowed before -1 */

struct walked {
	uint64_t	evpid[MAXEVP];
	char		text[MAXEVP][256];
	size_t		n;
};

/* One WALK request; a returned envelope is added to w. */
static int
walk_one(struct store *s, struct walked *w)
{
	char		buf[PQ_EVP_MAX];
	uint64_t	evpid;
	int		r;

	r = us_walk(s, &evpid, buf, sizeof(buf));
	assert_true(r >= -1);
	if (r > 0) {
		assert_true(w->n < MAXEVP);
		assert_true((size_t)r < sizeof(w->text[0]));
		w->evpid[w->n] = evpid;
		memcpy(w->text[w->n], buf, (size_t)r);
		w->text[w->n][r] = '\0';
		w->n++;
	}
	return r;
}

/* Walk to the end: -1 comes, and stays.  Returns the r = 0 answers. */
static int
walk_all(struct store *s, struct walked *w)
{
	int	calls, r, zeros = 0;

	for (calls = 0; calls < MAXCALLS; calls++) {
		if ((r = walk_one(s, w)) == -1)
			break;
		zeros += r == 0;
	}
	assert_true(calls < MAXCALLS);
	assert_int_equal(walk_one(s, w), -1);
	return zeros;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The walked evpids are want (in any order), each once. */
static void
assert_walked(const struct walked *w, const uint64_t *want, size_t n)
{
	uint64_t	got[MAXEVP], exp[MAXEVP];
	size_t		i;

	assert_int_equal(w->n, n);
	memcpy(got, w->evpid, n * sizeof(*got));
	memcpy(exp, want, n * sizeof(*exp));
	qsort(got, n, sizeof(*got), cmp_u64);
	qsort(exp, n, sizeof(*exp), cmp_u64);
	for (i = 0; i < n; i++)
		assert_true(got[i] == exp[i]);
}

/* Each message's envelopes came one after another. */
static void
assert_grouped(const struct walked *w)
{
	size_t	i, j;

	for (i = 1; i < w->n; i++) {
		if (w->evpid[i] >> 32 == w->evpid[i - 1] >> 32)
			continue;
		/* a new message starts: it must not have been seen before */
		for (j = 0; j < i; j++)
			assert_true(w->evpid[j] >> 32 != w->evpid[i] >> 32);
	}
}

/* The texts are us_evp_text() of each evpid. */
static void
assert_texts(const struct walked *w)
{
	char	want[256];
	size_t	i;

	for (i = 0; i < w->n; i++) {
		us_evp_text(w->evpid[i], want, sizeof(want));
		assert_string_equal(w->text[i], want);
	}
}

static void
test_walk_empty(void **state)
{
	struct walked	w = { .n = 0 };

	walk_all(S(state), &w);
	assert_int_equal(w.n, 0);
}

/*
 * Exactly what was queued when the store was opened: not what is made
 * since, before the walk or during it, on new or on old messages.
 */
static void
test_walk_present_at_open(void **state)
{
	struct us_test	*t = T(state);
	struct walked	 w = { .n = 0 };
	uint64_t	 old[32], evpid;
	uint32_t	 msgid, oldmsg, incoming;
	size_t		 n = 0;
	int		 i;

	for (i = 1; i <= 6; i++) {
		oldmsg = us_message(&t->store, i % 4 + 1, old + n);
		n += (size_t)(i % 4 + 1);
	}
	us_store_close(t);
	us_store_open(t);

	/* before the walk: a new message, an envelope on an old one */
	us_message(&t->store, 3, NULL);
	assert_int_equal(us_evp_create(&t->store, oldmsg, "new", &evpid), 1);
	assert_int_equal(us_create(&t->store, &incoming), 1);
	assert_int_equal(us_evp_create(&t->store, incoming, "new", &evpid),
	    1);
	/* during it: the same, and a commit */
	assert_int_not_equal(walk_one(&t->store, &w), -1);
	msgid = us_message(&t->store, 2, NULL);
	assert_int_equal(us_evp_create(&t->store, (uint32_t)(old[0] >> 32),
	    "new", &evpid), 1);
	assert_int_equal(us_commit(&t->store, incoming, "m", 1), 1);
	walk_all(&t->store, &w);

	assert_walked(&w, old, n);
	assert_grouped(&w);
	assert_texts(&w);
	/* what was made since is there, and served */
	assert_true(qt_exists(us_msgdir(t->spool, msgid)));
	assert_true(qt_exists(us_evpfile(t->spool, evpid)));
}

/* After a restart, what the previous run made is walked. */
static void
test_walk_after_restart(void **state)
{
	struct us_test	*t = T(state);
	struct walked	 w = { .n = 0 };
	uint64_t	 evpid[3];

	us_message(&t->store, 2, evpid);
	us_message(&t->store, 1, evpid + 2);
	us_store_close(t);
	us_store_open(t);
	walk_all(&t->store, &w);
	assert_walked(&w, evpid, 3);
	assert_grouped(&w);
	assert_texts(&w);
}

/*
 * More messages than one WALK looks at (WALK_BUDGET entries): r = 0
 * answers may come, and everything is still returned once.
 */
static void
test_walk_many(void **state)
{
	struct us_test	*t = T(state);
	struct walked	 w = { .n = 0 };
	uint64_t	 evpid[MAXEVP];
	unsigned	 bucket;
	int		 i, j;

	for (i = 0; i < MAXEVP / 2; i++)
		us_message(&t->store, 2, evpid + 2 * i);
	/*
	 * A bucket of 300 entries with bogus names (skipped) and no
	 * message: more than one WALK may look at, so one says r = 0.
	 */
	for (bucket = 0; bucket < 256; bucket++) {
		for (i = 0; i < MAXEVP && evpid[i] >> 56 != bucket; i++)
			;
		if (i == MAXEVP)
			break;
	}
	assert_int_equal(mkdir(qt_pathf(t->spool, "queue/%02x", bucket), 0700),
	    0);
	for (j = 0; j < 300; j++)
		assert_int_equal(mkdir(qt_pathf(t->spool, "queue/%02x/x%03d",
		    bucket, j), 0700), 0);
	us_store_close(t);
	us_store_open(t);
	assert_true(walk_all(&t->store, &w) > 0);
	assert_walked(&w, evpid, MAXEVP);
	assert_grouped(&w);
	assert_texts(&w);
}

/* A message directory without envelopes: an interrupted deletion. */
static void
test_walk_finishes_deletion(void **state)
{
	struct us_test	*t = T(state);
	struct walked	 w = { .n = 0 };
	uint64_t	 keep, gone[2];
	uint32_t	 with_message, empty;

	us_message(&t->store, 1, &keep);
	with_message = us_message(&t->store, 1, gone);
	empty = us_message(&t->store, 1, gone + 1);
	us_store_close(t);
	/* deleted up to the message file, and up to the directory */
	assert_int_equal(unlink(us_evpfile(t->spool, gone[0])), 0);
	assert_int_equal(unlink(us_evpfile(t->spool, gone[1])), 0);
	assert_int_equal(unlink(us_msgfile(t->spool, empty)), 0);
	us_store_open(t);
	walk_all(&t->store, &w);
	assert_walked(&w, &keep, 1);
	assert_false(qt_exists(us_msgdir(t->spool, with_message)));
	assert_false(qt_exists(us_msgdir(t->spool, empty)));
	assert_int_equal(qt_count_entries(qt_pathf(t->spool, "corrupt")), 0);
}

/*
 * Envelopes without a message file cannot be delivered: the directory
 * goes to corrupt/ as it is, for the administrator.
 */
static void
test_walk_quarantines(void **state)
{
	struct us_test	*t = T(state);
	struct walked	 w = { .n = 0 };
	uint64_t	 keep, lost[2];
	uint32_t	 msgid;
	char		 want[256], *got;

	us_message(&t->store, 1, &keep);
	msgid = us_message(&t->store, 2, lost);
	us_store_close(t);
	assert_int_equal(unlink(us_msgfile(t->spool, msgid)), 0);
	us_store_open(t);
	walk_all(&t->store, &w);
	assert_walked(&w, &keep, 1);
	assert_false(qt_exists(us_msgdir(t->spool, msgid)));
	assert_int_equal(qt_count_entries(qt_pathf(t->spool, "corrupt/%08x", msgid)),
	    2);
	us_evp_text(lost[1], want, sizeof(want));
	got = us_read(qt_pathf(t->spool, "corrupt/%08x/%016llx", msgid,
	    (unsigned long long)lost[1]), NULL);
	assert_string_equal(got, want);
	free(got);
}

/*
 * Every envelope empty: what a power failure leaves of a commit never
 * acknowledged (its move into queue/ durable, not its envelopes' data).
 * It goes to corrupt/, whole; one empty envelope beside a good one is
 * only skipped.
 */
static void
test_walk_all_empty(void **state)
{
	struct us_test	*t = T(state);
	struct walked	 w = { .n = 0 };
	uint64_t	 keep[2], cut[2];
	uint32_t	 half, msgid;
	int		 i;

	half = us_message(&t->store, 2, keep);
	msgid = us_message(&t->store, 2, cut);
	us_store_close(t);
	us_write(us_evpfile(t->spool, keep[1]), "", 0, 0600);
	for (i = 0; i < 2; i++)
		us_write(us_evpfile(t->spool, cut[i]), "", 0, 0600);
	us_store_open(t);
	walk_all(&t->store, &w);
	assert_walked(&w, keep, 1);
	assert_true(qt_exists(us_msgfile(t->spool, half)));
	assert_false(qt_exists(us_msgdir(t->spool, msgid)));
	assert_int_equal(qt_count_entries(qt_pathf(t->spool, "corrupt/%08x",
	    msgid)), 3);
}

/* What cannot be served is skipped, and left where it is. */
static void
test_walk_skips(void **state)
{
	struct us_test	*t = T(state);
	struct walked	 w = { .n = 0 };
	uint64_t	 keep[2];
	uint32_t	 msgid;
	char		*dir;

	msgid = us_message(&t->store, 2, keep);
	us_store_close(t);
	dir = strdup(us_msgdir(t->spool, msgid));
	us_write(qt_pathf(dir, "%08x00000101", msgid), "", 0, 0600);
	assert_int_equal(symlink(us_evpfile(t->spool, keep[0]),
	    qt_pathf(dir, "%08x00000102", msgid)), 0);
	assert_int_equal(mkfifo(qt_pathf(dir, "%08x00000103", msgid), 0600),
	    0);
	us_write(qt_pathf(dir, "%08x00000000", msgid), "zero", 4, 0600);
	us_write(qt_pathf(dir, "notes"), "x", 1, 0600);
	us_write(qt_pathf(t->spool, "queue/stray"), "x", 1, 0600);
	us_store_open(t);
	alarm(10);			/* a blocking open fails the test */
	walk_all(&t->store, &w);
	alarm(0);
	assert_walked(&w, keep, 2);
	assert_int_equal(qt_count_entries(dir), 8);
	free(dir);
}

/*
 * The walk reads the next envelope after answering; an update that
 * comes in between is what the next WALK returns.
 */
static void
test_walk_ahead_update(void **state)
{
	struct us_test	*t = T(state);
	struct walked	 w = { .n = 0 };
	uint64_t	 evpid[8];
	char		 text[64];
	size_t		 i, j;

	us_message(&t->store, 4, evpid);
	us_message(&t->store, 4, evpid + 4);
	us_store_close(t);
	us_store_open(t);
	assert_true(walk_one(&t->store, &w) > 0);
	/* all not walked yet, the one read ahead among them */
	for (i = 0; i < 8; i++) {
		for (j = 0; j < w.n && w.evpid[j] != evpid[i]; j++)
			;
		if (j < w.n)
			continue;
		snprintf(text, sizeof(text), "updated %016llx",
		    (unsigned long long)evpid[i]);
		assert_int_equal(us_evp_update(&t->store, evpid[i], text), 1);
	}
	walk_all(&t->store, &w);
	assert_walked(&w, evpid, 8);
	for (i = 1; i < w.n; i++) {
		snprintf(text, sizeof(text), "updated %016llx",
		    (unsigned long long)w.evpid[i]);
		assert_string_equal(w.text[i], text);
	}
}

/* Likewise a deletion: the envelope read ahead is not returned. */
static void
test_walk_ahead_delete(void **state)
{
	struct us_test	*t = T(state);
	struct walked	 w = { .n = 0 };
	uint64_t	 evpid[6];
	size_t		 i, j;

	us_message(&t->store, 3, evpid);
	us_message(&t->store, 3, evpid + 3);
	us_store_close(t);
	us_store_open(t);
	assert_true(walk_one(&t->store, &w) > 0);
	for (i = 0; i < 6; i++) {
		for (j = 0; j < w.n && w.evpid[j] != evpid[i]; j++)
			;
		if (j == w.n)
			assert_int_equal(us_evp_delete(&t->store, evpid[i]), 1);
	}
	walk_all(&t->store, &w);
	assert_int_equal(w.n, 1);
}

/* And a message deleted whole (the store's MESSAGE_DELETE). */
static void
test_walk_ahead_message_delete(void **state)
{
	struct us_test	*t = T(state);
	struct walked	 w = { .n = 0 };
	uint64_t	 evpid[4];

	us_message(&t->store, 2, evpid);
	us_message(&t->store, 2, evpid + 2);
	us_store_close(t);
	us_store_open(t);
	assert_true(walk_one(&t->store, &w) > 0);
	/* the other envelope of the first message is the one read ahead */
	assert_int_equal(us_msg_delete(&t->store, (uint32_t)(w.evpid[0] >> 32)),
	    1);
	walk_all(&t->store, &w);
	assert_int_equal(w.n, 3);
	assert_true(w.evpid[1] >> 32 != w.evpid[0] >> 32);
	assert_true(w.evpid[2] >> 32 == w.evpid[1] >> 32);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		ONE(test_walk_empty),
		BOTH(test_walk_present_at_open),
		ONE(test_walk_after_restart),
		ONE(test_walk_many),
		BOTH(test_walk_finishes_deletion),
		BOTH(test_walk_quarantines),
		BOTH(test_walk_all_empty),
		ONE(test_walk_skips),
		BOTH(test_walk_ahead_update),
		BOTH(test_walk_ahead_delete),
		ONE(test_walk_ahead_message_delete),
	};

	return us_run("test_walk", tests, sizeof(tests) / sizeof(tests[0]));
}
