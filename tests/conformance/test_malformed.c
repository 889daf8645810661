/*
 * Malformed requests.  smtpd never sends one, so one means a broken or
 * foreign peer: the daemon must log what it got (type and length),
 * exit 1 without answering, and leave the spool exactly as it was.
 * The bytes are written raw: the client refuses to send such things.
 */
#include <sys/types.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

#define EXIT_MS	2000	/* a malformed request ends the daemon at once */

/* A queued message for the malformed request to aim at. */
struct target {
	uint32_t	msgid;
	uint64_t	evpids[2];
};

static void
make_target(struct qt_daemon *q, struct target *t)
{
	t->msgid = make_message(q, "Subject: target\n\nbody\n", 2, t->evpids);
}

/*
 * Send len bytes (header included) with fd, then insist: exit status 1,
 * a "malformed" log line holding word (type and length), no answer, and
 * the spool as it was.
 */
static void
expect_malformed(struct qt_daemon *q, const void *buf, size_t len, int fd,
    const char *word, const char *word2)
{
	char	*before, *after, answer[16];
	int	 rfd;

	/* let the work done after the last answer finish first */
	assert_int_equal(pq_init(&q->c), 1);
	before = spool_listing(q);
	qd_log_mark(q);
	raw_send(q, buf, len, fd);
	assert_int_equal(qd_exit_code(q, EXIT_MS), 1);
	if (!qd_log_has(q, "malformed", word, word2))
		fail_msg("no \"malformed ... %s ... %s\" line in %s",
		    word ? word : "", word2 ? word2 : "", q->log);
	/* nothing was answered: end of stream straight away */
	assert_int_equal(raw_recv(q, answer, sizeof(answer), &rfd), 0);
	assert_int_equal(rfd, -1);
	after = spool_listing(q);
	assert_string_equal(after, before);
	free(before);
	free(after);
}

/* A request of type with payload p (plen bytes), framed in dialect d. */
static size_t
build(unsigned char *buf, enum imsg_dialect d, uint32_t type,
    const void *p, size_t plen, int hasfd)
{
	raw_hdr(buf, d, type, plen, hasfd);
	if (plen > 0)
		memcpy(buf + IMSG_HEADER_SIZE, p, plen);
	return IMSG_HEADER_SIZE + plen;
}

static void
unknown_type(void **state, uint32_t type, const char *word)
{
	struct qt_daemon	*q = *state;
	struct target	 t;
	unsigned char	 buf[64];
	size_t		 n;

	make_target(q, &t);
	n = build(buf, IMSG_DIALECT_A, type, &t.msgid, 4, 0);
	expect_malformed(q, buf, n, -1, word, "payload 4 bytes");
}

static void
test_type_13(void **state)
{
	unknown_type(state, 13, "type 13");
}

static void
test_type_99(void **state)
{
	unknown_type(state, 99, "type 99");
}

/* OK and FAIL are answers, never requests. */
static void
test_type_ok_fail(void **state)
{
	unknown_type(state, PQ_OK, "type 0");
	qfp_start_init(*state);
	unknown_type(state, PQ_FAIL, "type 1");
}

/* MESSAGE_DELETE of the queued message, one byte short or long. */
static void
delete_len(void **state, size_t plen, const char *word)
{
	struct qt_daemon	*q = *state;
	struct target	 t;
	unsigned char	 buf[64], p[8];
	size_t		 n;

	make_target(q, &t);
	memset(p, 0, sizeof(p));
	memcpy(p, &t.msgid, 4);
	n = build(buf, IMSG_DIALECT_A, PQ_MESSAGE_DELETE, p, plen, 0);
	expect_malformed(q, buf, n, -1, "type 5", word);
}

static void
test_delete_3_bytes(void **state)
{
	delete_len(state, 3, "payload 3 bytes");
}

static void
test_delete_5_bytes(void **state)
{
	delete_len(state, 5, "payload 5 bytes");
}

/* Every request type with a payload length it cannot have. */
static void
test_wrong_lengths(void **state)
{
	static const struct {
		uint32_t	type;
		size_t		plen;
	} bad[] = {
		{ PQ_INIT, 0 }, { PQ_INIT, 8 }, { PQ_CLOSE, 4 },
		{ PQ_MESSAGE_CREATE, 4 }, { PQ_MESSAGE_COMMIT, 0 },
		{ PQ_MESSAGE_FD_R, 8 }, { PQ_ENVELOPE_CREATE, 3 },
		{ PQ_ENVELOPE_DELETE, 4 }, { PQ_ENVELOPE_DELETE, 9 },
		{ PQ_ENVELOPE_LOAD, 7 }, { PQ_ENVELOPE_UPDATE, 7 },
		{ PQ_ENVELOPE_WALK, 1 },
	};
	struct qt_daemon	*q = *state;
	struct target	 t;
	unsigned char	 buf[64], p[16];
	char		 word[32], word2[32];
	size_t		 i, n;
	int		 fd;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (i > 0)
			qfp_start_init(q);
		make_target(q, &t);
		memset(p, 0, sizeof(p));
		memcpy(p, &t.evpids[0], 8);
		/* a commit gets its fd so that only the length is wrong */
		fd = bad[i].type == PQ_MESSAGE_COMMIT ? tmp_message("x", 1) :
		    -1;
		n = build(buf, IMSG_DIALECT_A, bad[i].type, p, bad[i].plen,
		    fd != -1);
		snprintf(word, sizeof(word), "type %u ", bad[i].type);
		snprintf(word2, sizeof(word2), "payload %zu bytes",
		    bad[i].plen);
		expect_malformed(q, buf, n, fd, word, word2);
		if (fd != -1)
			close(fd);
	}
}

/* MESSAGE_FD_R carries no fd; one that does is not smtpd's. */
static void
fd_r_with_fd(void **state, enum imsg_dialect d)
{
	struct qt_daemon	*q = *state;
	struct target	 t;
	unsigned char	 buf[64];
	size_t		 n;
	int		 fd;

	make_target(q, &t);
	fd = tmp_message("x", 1);
	n = build(buf, d, PQ_MESSAGE_FD_R, &t.msgid, 4, 1);
	expect_malformed(q, buf, n, fd, "type 7", "with fd");
	close(fd);
}

static void
test_fd_r_with_fd_A(void **state)
{
	fd_r_with_fd(state, IMSG_DIALECT_A);
}

static void
test_fd_r_with_fd_B(void **state)
{
	fd_r_with_fd(state, IMSG_DIALECT_B);
}

/* MESSAGE_COMMIT of an incoming message, but no fd. */
static void
test_commit_without_fd(void **state)
{
	struct qt_daemon	*q = *state;
	unsigned char	 buf[64];
	uint32_t	 msgid;
	uint64_t	 evpid;
	size_t		 n;

	assert_int_equal(pq_message_create(&q->c, &msgid), 1);
	assert_int_equal(pq_envelope_create(&q->c, msgid, "e", 1, &evpid), 1);
	n = build(buf, IMSG_DIALECT_A, PQ_MESSAGE_COMMIT, &msgid, 4, 0);
	expect_malformed(q, buf, n, -1, "type 6", "payload 4 bytes");
	assert_false(spool_exists(q, "%s", msgdir(msgid)));
}

/* The header says an fd comes, none does: broken framing. */
static void
test_commit_fd_flag_no_fd(void **state)
{
	struct qt_daemon	*q = *state;
	unsigned char	 buf[64];
	uint32_t	 msgid;
	size_t		 n;

	assert_int_equal(pq_message_create(&q->c, &msgid), 1);
	n = build(buf, IMSG_DIALECT_B, PQ_MESSAGE_COMMIT, &msgid, 4, 1);
	expect_malformed(q, buf, n, -1, NULL, NULL);
}

/* Another API version: smtpd and helper would not understand each other. */
static void
test_init_version_3(void **state)
{
	struct qt_daemon	*q = *state;
	unsigned char	 buf[64];
	uint32_t	 version = 3;
	size_t		 n;

	/* as the first request of a new daemon, as smtpd would send it */
	make_message(q, "x\n", 1, NULL);
	assert_int_equal(qd_stop(q), 0);
	qfp_start(q);
	qfp_wait_ready(q);
	n = build(buf, IMSG_DIALECT_A, PQ_INIT, &version, 4, 0);
	expect_malformed(q, buf, n, -1, "type 2", "payload 4 bytes");
}

/* Headers no imsg peer writes: too short, too long. */
static void
test_bad_header(void **state)
{
	struct qt_daemon	*q = *state;
	unsigned char	 buf[IMSG_HEADER_SIZE];
	uint32_t	 len;

	make_message(q, "x\n", 1, NULL);
	raw_hdr(buf, IMSG_DIALECT_A, PQ_CLOSE, 0, 0);
	len = 8;
	memcpy(buf + 4, &len, 4);
	expect_malformed(q, buf, sizeof(buf), -1, NULL, NULL);

	qfp_start_init(q);
	len = MAX_IMSGSIZE + 1;
	memcpy(buf + 4, &len, 4);
	expect_malformed(q, buf, sizeof(buf), -1, NULL, NULL);
}

/*
 * An fd that comes with a message whose header does not claim it
 * (INIT-like, no fd flag): an fd where none belongs, as malformed as
 * a claimed one.
 */
static void
test_stray_fd_init(void **state)
{
	struct qt_daemon	*q = *state;
	unsigned char	 buf[64];
	uint32_t	 version = PROC_QUEUE_API_VERSION;
	size_t		 n;
	int		 fd;

	make_message(q, "x\n", 1, NULL);
	fd = tmp_message("x", 1);
	n = build(buf, IMSG_DIALECT_A, PQ_INIT, &version, 4, 0);
	expect_malformed(q, buf, n, fd, NULL, NULL);
	close(fd);
}

/* The same with a request that would change the spool. */
static void
test_stray_fd_delete(void **state)
{
	struct qt_daemon	*q = *state;
	struct target	 t;
	unsigned char	 buf[64];
	size_t		 n;
	int		 fd;

	make_target(q, &t);
	fd = tmp_message("x", 1);
	n = build(buf, IMSG_DIALECT_A, PQ_ENVELOPE_DELETE, &t.evpids[0], 8,
	    0);
	expect_malformed(q, buf, n, fd, NULL, NULL);
	close(fd);
}

/* The claimed variant: INIT with the fd flag and an fd. */
static void
test_init_with_fd(void **state)
{
	struct qt_daemon	*q = *state;
	unsigned char	 buf[64];
	uint32_t	 version = PROC_QUEUE_API_VERSION;
	size_t		 n;
	int		 fd;

	make_message(q, "x\n", 1, NULL);
	fd = tmp_message("x", 1);
	n = build(buf, IMSG_DIALECT_A, PQ_INIT, &version, 4, 1);
	expect_malformed(q, buf, n, fd, "type 2", "with fd");
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_type_13),
		TEST(test_type_99),
		TEST(test_type_ok_fail),
		TEST(test_delete_3_bytes),
		TEST(test_delete_5_bytes),
		TEST(test_wrong_lengths),
		TEST(test_fd_r_with_fd_A),
		TEST(test_fd_r_with_fd_B),
		TEST(test_commit_without_fd),
		TEST(test_commit_fd_flag_no_fd),
		TEST(test_init_version_3),
		TEST(test_bad_header),
		TEST(test_init_with_fd),
		TEST(test_stray_fd_init),
		TEST(test_stray_fd_delete),
	};

	return cmocka_run_group_tests(tests, qt_group_setup, NULL);
}
