/*
 * The write-ahead log (wal.c, store_log.c), in process on a temporary
 * spool: a crash (the store closed without its exit checkpoint) and a
 * layout that lost everything the log covers must come back from the
 * log alone; a last record cut at any byte, or with any bit flipped,
 * must be ignored whole while every record before it is replayed;
 * records of a log file's earlier uses must never come back.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
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
#include "records.h"
#include "store.h"
#include "unit_spool.h"
#include "wal.h"

#define T(st)		((struct us_test *)*(st))
#define S(st)		(&T(st)->store)
#define SPOOL(st)	(T(st)->spool)

/*
 * Everything acknowledged comes back from the log alone: bodies,
 * envelopes (created, updated, added after the commit), and what was
 * deleted stays deleted.
 */
static void
test_wal_replays_lost_layout(void **state)
{
	struct us_test	*t = T(state);
	char		 body[3][128], text[256];
	uint64_t	 ev[3][2], extra;
	uint32_t	 m[3];
	int		 i;

	for (i = 0; i < 3; i++) {
		m[i] = us_message(&t->store, 2, ev[i]);
		us_content(m[i], body[i], sizeof(body[i]));
	}
	assert_int_equal(us_evp_create(&t->store, m[1], "extra", &extra), 1);
	assert_int_equal(us_evp_update(&t->store, ev[0][1], "updated"), 1);
	assert_int_equal(us_evp_delete(&t->store, ev[1][0]), 1);
	assert_int_equal(us_evp_delete(&t->store, ev[2][0]), 1);
	assert_int_equal(us_evp_delete(&t->store, ev[2][1]), 1);
	us_crash(t);
	us_lose_layout(t->spool);
	assert_false(qt_exists(us_msgdir(t->spool, m[0])));

	us_store_open(t);
	for (i = 0; i < 2; i++)
		us_assert_message(t->spool, m[i], body[i], strlen(body[i]));
	us_evp_text(ev[0][0], text, sizeof(text));
	us_assert_envelope(t->spool, ev[0][0], text);
	us_assert_envelope(t->spool, ev[0][1], "updated");
	assert_false(qt_exists(us_evpfile(t->spool, ev[1][0])));
	us_evp_text(ev[1][1], text, sizeof(text));
	us_assert_envelope(t->spool, ev[1][1], text);
	us_assert_envelope(t->spool, extra, "extra");
	assert_int_equal(qt_count_entries(us_msgdir(t->spool, m[0])), 3);
	assert_int_equal(qt_count_entries(us_msgdir(t->spool, m[1])), 3);
	assert_false(qt_exists(us_msgdir(t->spool, m[2])));

	/* the start checkpointed: a second crash replays nothing */
	us_crash(t);
	us_lose_layout(t->spool);
	us_store_open(t);
	assert_false(qt_exists(us_msgdir(t->spool, m[0])));
}

/* A clean close checkpoints: nothing is replayed after it. */
static void
test_wal_clean_close(void **state)
{
	struct us_test	*t = T(state);
	uint32_t	 msgid;

	msgid = us_message(&t->store, 1, NULL);
	us_store_close(t);
	us_lose_layout(t->spool);
	us_store_open(t);
	assert_false(qt_exists(us_msgdir(t->spool, msgid)));
}

/* The offsets of the records of a log file's current use. */
static size_t
record_offsets(const char *buf, size_t len, size_t *off, size_t max)
{
	struct wal_head	h;
	size_t		n = 0, at = 0;
	uint64_t	gen = 0;

	while (at + sizeof(h) <= len && n < max) {
		memcpy(&h, buf + at, sizeof(h));
		if (h.type == 0 || (gen != 0 && h.gen != gen))
			break;
		gen = h.gen;
		off[n++] = at;
		at += sizeof(h) + ((h.len + 7) & ~7U);
	}
	off[n] = at;
	return n;
}

struct torn {
	struct us_test	*t;
	char		*log;		/* log.0 as the crash left it */
	size_t		 len;
	size_t		 start, end;	/* its last record */
	size_t		 payload_end;	/* after it: padding, not checked */
	uint32_t	 first, last;	/* the messages */
	uint64_t	 first_evp, last_evp;
};

/*
 * Two messages; the second's commit is the last record of log.0 (after
 * the START record and the first commit).
 */
static void
torn_setup(struct us_test *t, struct torn *tn)
{
	size_t		off[64], n;
	struct wal_head	h;

	tn->t = t;
	tn->first = us_plain_message(&t->store, "first rcpt", "first body", 10,
	    &tn->first_evp);
	tn->last = us_plain_message(&t->store, "last rcpt", "last body", 9,
	    &tn->last_evp);
	us_crash(t);
	tn->log = us_read(qt_pathf(t->spool, "fs-proc/log.0"), &tn->len);
	n = record_offsets(tn->log, tn->len, off, 63);
	assert_int_equal(n, 3);
	tn->start = off[n - 1];
	tn->end = off[n];
	memcpy(&h, tn->log + tn->start, sizeof(h));
	tn->payload_end = tn->start + sizeof(h) + h.len;
	assert_true(tn->end - tn->start > 64);
}

/*
 * Replay log.0 as given over an empty layout; returns whether the last
 * message came back (and checks it whole if so, the first always).
 */
static int
torn_replay(struct torn *tn, const char *log)
{
	struct us_test	*t = tn->t;
	int		 back;

	us_write(qt_pathf(t->spool, "fs-proc/log.0"), log, tn->len, 0600);
	us_lose_layout(t->spool);
	us_store_open(t);
	us_assert_message(t->spool, tn->first, "first body", 10);
	us_assert_envelope(t->spool, tn->first_evp, "first rcpt");
	back = qt_exists(us_msgdir(t->spool, tn->last));
	if (back) {
		us_assert_message(t->spool, tn->last, "last body", 9);
		us_assert_envelope(t->spool, tn->last_evp, "last rcpt");
	}
	assert_int_equal(qt_count_entries(qt_pathf(t->spool, "corrupt")), 0);
	us_crash(t);
	return back;
}

/*
 * A power failure while the last record was written: the disk holds
 * the record up to any byte, then zeros (the log's fill) or garbage.
 * Only the whole record brings its message back.
 */
static void
test_wal_torn_last_record(void **state)
{
	struct torn	 tn;
	char		*log;
	size_t		 cut;

	torn_setup(T(state), &tn);
	assert_non_null(log = malloc(tn.len));
	for (cut = tn.start; cut <= tn.end; cut++) {
		memcpy(log, tn.log, tn.len);
		memset(log + cut, 0, tn.end - cut);
		assert_int_equal(torn_replay(&tn, log),
		    cut >= tn.payload_end);
		memcpy(log, tn.log, tn.len);
		memset(log + cut, 0xa5, tn.end - cut);
		assert_int_equal(torn_replay(&tn, log),
		    cut >= tn.payload_end);
	}
	free(log);
	free(tn.log);
}

/* Any one bit flipped in the last record: it is refused whole. */
static void
test_wal_bit_flips(void **state)
{
	struct torn	 tn;
	char		*log;
	size_t		 at;
	int		 bit;

	torn_setup(T(state), &tn);
	assert_non_null(log = malloc(tn.len));
	for (at = tn.start; at < tn.end; at++)
		for (bit = 0; bit < 8; bit++) {
			memcpy(log, tn.log, tn.len);
			log[at] ^= (char)(1 << bit);
			/* the padding after the payload carries nothing */
			assert_int_equal(torn_replay(&tn, log),
			    at >= tn.payload_end);
		}
	free(log);
	free(tn.log);
}

/*
 * Through many switches between the two files (checkpoints inline: no
 * checkpointer here), then a crash: what is queued is there, whole, and
 * nothing deleted comes back from a file's earlier uses.
 */
static void
test_wal_wraps(void **state)
{
	struct us_test	*t = T(state);
	char		 body[2048], evp[64];
	uint64_t	 evpid[200];
	uint32_t	 msgid[200];
	int		 i;

	for (i = 0; i < 200; i++) {
		memset(body, 'a' + i % 26, sizeof(body));
		snprintf(evp, sizeof(evp), "rcpt %d", i);
		msgid[i] = us_plain_message(&t->store, evp, body, sizeof(body),
		    &evpid[i]);
		if (i % 2)
			assert_int_equal(us_evp_delete(&t->store,
			    evpid[i - 1]), 1);
	}
	us_crash(t);
	us_store_open(t);
	for (i = 0; i < 200; i++) {
		if (i % 2 == 0) {
			assert_false(qt_exists(us_msgdir(t->spool,
			    msgid[i])));
			continue;
		}
		memset(body, 'a' + i % 26, sizeof(body));
		snprintf(evp, sizeof(evp), "rcpt %d", i);
		us_assert_message(t->spool, msgid[i], body, sizeof(body));
		us_assert_envelope(t->spool, evpid[i], evp);
	}
}

/*
 * A log file's records from its earlier use lie behind its current ones:
 * commits of the same size line them up, so only their gen tells them
 * apart.  Replayed, the old commit of x[1] would undo its update.
 */
static void
test_wal_stale_records(void **state)
{
	struct us_test	*t = T(state);
	char		 body[10000];
	uint64_t	 xe[6], e;
	uint32_t	 x[6];
	int		 i;

	memset(body, 'x', sizeof(body));
	/* six fill log.0, six more log.1, the seventh goes back to log.0 */
	for (i = 0; i < 6; i++)
		x[i] = us_plain_message(&t->store, "rcpt 0", body, sizeof(body),
		    &xe[i]);
	for (i = 0; i < 6; i++)
		us_plain_message(&t->store, "rcpt 1", body, sizeof(body), &e);
	assert_int_equal(us_evp_update(&t->store, xe[1], "updated"), 1);
	us_plain_message(&t->store, "rcpt 2", body, sizeof(body), &e);
	us_crash(t);
	us_store_open(t);
	us_assert_envelope(t->spool, xe[1], "updated");
	us_assert_message(t->spool, x[1], body, sizeof(body));
}

/*
 * A body above the inline limit stays in place; its envelopes come
 * back from the record.  A record too big for the log: the commit syncs
 * the layout itself and needs none.
 */
static void
test_wal_large(void **state)
{
	struct us_test	*t = T(state);
	char		*body, *evp;
	uint64_t	 e1, e[3];
	uint32_t	 big, wide;
	size_t		 blen = REC_INLINE_MAX + 1;
	int		 i;

	assert_non_null(body = malloc(blen));
	memset(body, 'b', blen);
	big = us_plain_message(&t->store, "big rcpt", body, blen, &e1);
	assert_non_null(evp = malloc(PQ_EVP_MAX + 1));
	memset(evp, 'e', PQ_EVP_MAX);
	evp[PQ_EVP_MAX] = '\0';
	assert_int_equal(us_create(&t->store, &wide), 1);
	for (i = 0; i < 3; i++)
		assert_int_equal(us_evp_create(&t->store, wide, evp, &e[i]),
		    1);
	assert_int_equal(us_commit(&t->store, wide, "w", 1), 1);
	us_crash(t);
	/* the envelope files lost their data, the message file did not */
	us_write(us_evpfile(t->spool, e1), "", 0, 0600);
	us_store_open(t);
	us_assert_message(t->spool, big, body, blen);
	us_assert_envelope(t->spool, e1, "big rcpt");
	for (i = 0; i < 3; i++)
		us_assert_envelope(t->spool, e[i], evp);
	free(body);
	free(evp);
}

/*
 * The in-place commit's record is in the log, its body in incoming/M
 * (the move into queue/ lost): after the restart the message and its
 * envelopes are served from queue/, incoming/M is gone.
 */
static void
test_wal_large_move_lost(void **state)
{
	struct us_test		*t = T(state);
	static const char *const text[2] = { "rcpt a", "rcpt b" };
	char			*body;
	uint64_t		 e[2];
	uint32_t		 msgid;
	size_t			 blen;
	int			 i;

	body = us_big_body(&blen, 'm');
	assert_int_equal(us_create(&t->store, &msgid), 1);
	for (i = 0; i < 2; i++)
		assert_int_equal(us_evp_create(&t->store, msgid, text[i],
		    &e[i]), 1);
	assert_int_equal(us_commit(&t->store, msgid, body, blen), 1);
	us_crash(t);
	us_undo_move(t->spool, msgid, e, 2);
	assert_false(qt_exists(us_msgdir(t->spool, msgid)));
	us_store_open(t);
	assert_false(qt_exists(us_incoming(t->spool, msgid)));
	us_assert_served(&t->store, msgid, body, blen, e, text, 2);
	/* and it stays queued across a clean restart */
	us_store_close(t);
	us_store_open(t);
	us_assert_served(&t->store, msgid, body, blen, e, text, 2);
	free(body);
}

/*
 * A body in incoming/M whose commit has no record in the log (the crash
 * came before the answer): never queued.
 */
static void
test_wal_large_not_committed(void **state)
{
	struct us_test	*t = T(state);
	char		*body;
	uint64_t	 e;
	uint32_t	 msgid, other;
	size_t		 blen;

	body = us_big_body(&blen, 'n');
	/* a committed message, so that the log is not empty */
	other = us_plain_message(&t->store, "rcpt o", body, blen, &e);
	assert_int_equal(us_create(&t->store, &msgid), 1);
	assert_int_equal(us_evp_create(&t->store, msgid, "rcpt n", &e), 1);
	/* what the commit does before its record: the body put in place */
	us_write(qt_pathf(t->spool, "incoming/%08x/message", msgid), body,
	    blen, 0600);
	us_crash(t);
	us_store_open(t);
	assert_false(qt_exists(us_msgdir(t->spool, msgid)));
	assert_int_equal(us_fd_r(&t->store, msgid), -1);
	us_assert_message(t->spool, other, body, blen);
	free(body);
}

/*
 * The record of a message that was delivered (its MESSAGE_DELETE record
 * lost to the power failure), and a new message given the same msgid,
 * uncommitted, whose body of the same size is in incoming/M: replay
 * must not queue that body under the old record's envelopes.
 */
static void
test_wal_large_msgid_reused(void **state)
{
	struct us_test	*t = T(state);
	char		*body, *other;
	uint64_t	 e;
	uint32_t	 msgid;
	size_t		 blen;

	body = us_big_body(&blen, 'o');
	other = us_big_body(&blen, 'p');
	msgid = us_plain_message(&t->store, "rcpt old", body, blen, &e);
	us_crash(t);
	assert_int_equal(qt_rmtree(us_msgdir(t->spool, msgid)), 0);
	assert_int_equal(mkdir(us_incoming(t->spool, msgid), 0700), 0);
	us_write(qt_pathf(t->spool, "incoming/%08x/message", msgid), other,
	    blen, 0600);
	us_store_open(t);
	assert_false(qt_exists(us_msgdir(t->spool, msgid)));
	assert_int_equal(us_fd_r(&t->store, msgid), -1);
	free(body);
	free(other);
}

/*
 * The spool check (-n) tells of a log with live records, and -R
 * replays it: the way back to the built-in queue after a power failure.
 */
static void
test_wal_check_replays(void **state)
{
	struct us_test	*t = T(state);
	char		 body[128], *out;
	uint64_t	 evpid;
	uint32_t	 msgid;

	msgid = us_message(&t->store, 1, &evpid);
	us_content(msgid, body, sizeof(body));
	us_crash(t);
	us_lose_layout(t->spool);
	assert_int_equal(us_check(t->spool, 0, &out), 1);
	assert_non_null(strstr(out, "fs-proc: the log holds records"));
	free(out);
	assert_false(qt_exists(us_msgdir(t->spool, msgid)));

	assert_int_equal(us_check(t->spool, 1, &out), 0);
	assert_non_null(strstr(out, "replayed: "));
	free(out);
	us_assert_message(t->spool, msgid, body, strlen(body));
	assert_int_equal(us_check(t->spool, 0, &out), 0);
	free(out);
	/* checkpointed: nothing left to replay */
	us_lose_layout(t->spool);
	assert_int_equal(us_check(t->spool, 0, &out), 0);
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		US_TEST(test_wal_replays_lost_layout, log),
		US_TEST(test_wal_clean_close, log),
		US_TEST(test_wal_torn_last_record, log),
		US_TEST(test_wal_bit_flips, log),
		US_TEST(test_wal_wraps, log),
		US_TEST(test_wal_stale_records, log),
		US_TEST(test_wal_large, log),
		US_TEST(test_wal_large_move_lost, log),
		US_TEST(test_wal_large_not_committed, log),
		US_TEST(test_wal_large_msgid_reused, log),
		US_TEST(test_wal_check_replays, log),
	};

	return us_run("test_wal", tests, sizeof(tests) / sizeof(tests[0]));
}
