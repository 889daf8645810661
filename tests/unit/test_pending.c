/*
 * The layout of a logged commit written later, or never (pending.c,
 * store_settle()), in process on a temporary spool: until it is due the
 * message is served from memory and incoming/; mail delivered before
 * then leaves nothing in queue/; a crash, a checkpoint and a clean exit
 * each leave every acknowledged message in the layout, and nothing
 * deleted comes back.  The delay is a minute here, not the other unit
 * tests' 0, so nothing settles unless the test makes it.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <fcntl.h>
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

/* A committed message with two envelopes, its layout pending. */
static uint32_t
pending_message(void **state, uint64_t *evpid, char *body, size_t size)
{
	uint32_t	msgid;

	/* longer than any test runs: nothing settles by time */
	S(state)->pend.delay_ms = 60000;
	assert_int_equal(us_create(S(state), &msgid), 1);
	assert_int_equal(us_evp_create(S(state), msgid, "evp one", &evpid[0]),
	    1);
	assert_int_equal(us_evp_create(S(state), msgid, "evp two", &evpid[1]),
	    1);
	us_content(msgid, body, size);
	assert_int_equal(us_commit(S(state), msgid, body, strlen(body)), 1);
	assert_true(pending_has(&S(state)->pend, msgid));
	assert_false(qt_exists(us_msgdir(SPOOL(state), msgid)));
	return msgid;
}

static void
assert_evp(void **state, uint64_t evpid, const char *want)
{
	char	buf[PQ_EVP_MAX];

	assert_int_equal(us_evp_load(S(state), evpid, buf, sizeof(buf)),
	    strlen(want));
	assert_memory_equal(buf, want, strlen(want));
}

static void
assert_body(void **state, uint32_t msgid, const char *want)
{
	char	*got;
	size_t	 len;
	int	 fd;

	assert_true((fd = us_fd_r(S(state), msgid)) != -1);
	got = us_read_fd(fd, &len);
	close(fd);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(got, want, len);
	free(got);
}

/*
 * Pending: served (loads, the body, an update, a bounce's new envelope)
 * without its layout; then settled with what it holds by then.
 */
static void
test_pending_served_then_settled(void **state)
{
	char		body[256];
	uint64_t	evpid[2], bounce;
	uint32_t	msgid = pending_message(state, evpid, body,
			    sizeof(body));

	assert_evp(state, evpid[0], "evp one");
	assert_body(state, msgid, body);
	assert_int_equal(us_evp_update(S(state), evpid[1], "evp two, later"),
	    1);
	assert_int_equal(us_evp_create(S(state), msgid, "bounce", &bounce), 1);
	assert_evp(state, evpid[1], "evp two, later");
	assert_false(qt_exists(us_msgdir(SPOOL(state), msgid)));

	store_settle(S(state), 1);
	assert_false(store_unsettled(S(state)));
	assert_false(qt_exists(us_incoming(SPOOL(state), msgid)));
	assert_int_equal(qt_count_entries(us_msgdir(SPOOL(state), msgid)), 4);
	free(us_read(us_evpfile(SPOOL(state), evpid[1]), NULL));
	assert_evp(state, evpid[1], "evp two, later");
	assert_evp(state, bounce, "bounce");
	assert_body(state, msgid, body);
}

/*
 * Delivered before its turn: nothing ever reaches queue/, incoming/ is
 * cleared, and after a crash the replay does not bring it back.
 */
static void
test_pending_delivered_early(void **state)
{
	char		body[256];
	uint64_t	evpid[2], other[2];
	uint32_t	msgid = pending_message(state, evpid, body,
			    sizeof(body)), gone;

	assert_int_equal(us_evp_delete(S(state), evpid[0]), 1);
	assert_true(qt_exists(us_incoming(SPOOL(state), msgid)));
	assert_int_equal(us_evp_delete(S(state), evpid[1]), 1);
	assert_false(store_unsettled(S(state)));
	assert_false(qt_exists(us_incoming(SPOOL(state), msgid)));
	assert_false(qt_exists(us_msgdir(SPOOL(state), msgid)));
	/* unknown now, as in the layout */
	assert_int_equal(us_evp_delete(S(state), evpid[0]), 0);
	assert_int_equal(us_fd_r(S(state), msgid), -1);

	/* and one rolled back by MESSAGE_DELETE */
	gone = pending_message(state, other, body, sizeof(body));
	assert_int_equal(us_msg_delete(S(state), gone), 1);
	assert_false(qt_exists(us_incoming(SPOOL(state), gone)));

	us_crash(T(state));
	us_lose_layout(SPOOL(state));
	us_store_open(T(state));
	assert_false(qt_exists(us_msgdir(SPOOL(state), msgid)));
	assert_false(qt_exists(us_msgdir(SPOOL(state), gone)));
	assert_int_equal(us_count_files(qt_pathf(SPOOL(state), "queue")), 0);
}

/* A crash with the layout pending: the replay writes it from the log. */
static void
test_pending_crash(void **state)
{
	char		body[256];
	uint64_t	evpid[2];
	uint32_t	msgid = pending_message(state, evpid, body,
			    sizeof(body));

	assert_int_equal(us_evp_update(S(state), evpid[0], "evp one, later"),
	    1);
	us_crash(T(state));
	us_store_open(T(state));
	assert_false(qt_exists(us_incoming(SPOOL(state), msgid)));
	assert_int_equal(qt_count_entries(us_msgdir(SPOOL(state), msgid)), 3);
	assert_evp(state, evpid[0], "evp one, later");
	assert_evp(state, evpid[1], "evp two");
	assert_body(state, msgid, body);
}

/* A clean exit writes the layout: no log is needed to serve the spool. */
static void
test_pending_clean_exit(void **state)
{
	char		body[256];
	uint64_t	evpid[2];
	uint32_t	msgid = pending_message(state, evpid, body,
			    sizeof(body));

	us_store_close(T(state));
	assert_false(qt_exists(us_incoming(SPOOL(state), msgid)));
	assert_int_equal(qt_count_entries(us_msgdir(SPOOL(state), msgid)), 3);
	assert_true(qt_exists(us_evpfile(SPOOL(state), evpid[1])));
}

/*
 * A checkpoint retires a log file only with the layout of its commits
 * written: enough pending commits to switch the log settle them all.
 */
static void
test_pending_checkpoint(void **state)
{
	char		body[256];
	uint64_t	evpid[2];
	uint32_t	first, msgid = 0;
	int		i;

	first = pending_message(state, evpid, body, sizeof(body));
	for (i = 0; i < 2000 && pending_has(&S(state)->pend, first); i++)
		msgid = pending_message(state, evpid, body, sizeof(body));
	assert_false(pending_has(&S(state)->pend, first));
	assert_int_equal(qt_count_entries(us_msgdir(SPOOL(state), first)), 3);
	assert_true(pending_has(&S(state)->pend, msgid));
}

/* Past PENDING_MAX pending messages, the oldest is due at once. */
static void
test_pending_bounded(void **state)
{
	struct pending	p;
	uint32_t	id;

	(void)state;
	pending_init(&p, 60000);
	for (id = 1; id <= PENDING_MAX; id++)
		assert_int_equal(pending_add(&p, id), 0);
	assert_int_equal(pending_next_due(&p, 0), 0);
	assert_int_equal(pending_add(&p, PENDING_MAX + 1), 0);
	assert_int_equal(pending_next_due(&p, 0), 1);
	pending_del(&p, 1);
	assert_int_equal(pending_next_due(&p, 0), 0);
	assert_int_equal(pending_next_due(&p, 1), 2);
	pending_free(&p);
	assert_int_equal(p.count, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		US_TEST(test_pending_served_then_settled, log),
		US_TEST(test_pending_delivered_early, log),
		US_TEST(test_pending_crash, log),
		US_TEST(test_pending_clean_exit, log),
		US_TEST(test_pending_checkpoint, log),
		cmocka_unit_test(test_pending_bounded),
	};

	return us_run("test_pending", tests, sizeof(tests) / sizeof(tests[0]));
}
