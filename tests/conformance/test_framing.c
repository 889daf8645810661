/*
 * Which dialect the one fd-carrying answer (MESSAGE_FD_R) is framed in:
 * the peer's, as its MESSAGE_COMMIT showed it; the configured one with
 * -F; and, before any commit in auto mode, the guess from the peer's
 * binary, A when it is not smtpd (this test program is not).
 *
 * No string in this file may look like smtpd's version literal: the
 * daemon reads it from its parent's binary, which is this program.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "framing.h"

#define BODY	"Subject: framing\n\nbody\n"

static int
setup_auto_B(void **state)
{
	return setup_with(state, OPTS_FAST, IMSG_DIALECT_B);
}

static void
set_opts(struct qt_daemon *q, const char *opts)
{
	snprintf(q->opts, sizeof(q->opts), "%s", opts);
}

static void
test_auto_follows_commit_A(void **state)
{
	struct qt_daemon	*q = *state;
	uint32_t	 msgid;

	msgid = make_message(q, BODY, 1, NULL);
	assert_fd_r_dialect(q, msgid, IMSG_DIALECT_A, BODY);
	assert_alive(q);
}

static void
test_auto_follows_commit_B(void **state)
{
	struct qt_daemon	*q = *state;
	uint32_t	 msgid;
	int		 fd;

	msgid = make_message(q, BODY, 1, NULL);
	assert_fd_r_dialect(q, msgid, IMSG_DIALECT_B, BODY);
	/* and the client, reading as smtpd 7.7 does, gets the fd */
	assert_true((fd = pq_message_fd_r(&q->c, msgid)) >= 0);
	close(fd);
	assert_alive(q);
}

/* Forced B: no commit needed to know. */
static void
test_forced_B_no_commit(void **state)
{
	struct qt_daemon	*q = *state;
	uint32_t	 msgid;

	msgid = make_message(q, BODY, 1, NULL);
	set_opts(q, OPTS_FAST " -F B");
	qfp_restart(q);
	assert_fd_r_dialect(q, msgid, IMSG_DIALECT_B, BODY);
	assert_alive(q);
}

static void
test_forced_A_no_commit(void **state)
{
	struct qt_daemon	*q = *state;
	uint32_t	 msgid;

	msgid = make_message(q, BODY, 1, NULL);
	set_opts(q, OPTS_FAST " -F A");
	qfp_restart(q);
	assert_fd_r_dialect(q, msgid, IMSG_DIALECT_A, BODY);
	assert_alive(q);
}

/*
 * smtpd restarted with mail queued reads it before committing anything:
 * auto mode has only the peer's binary to go by, which is not smtpd
 * here, so A.  What the previous run learnt (B) does not carry over;
 * a B commit in this run then switches the answer to B.
 */
static void
test_auto_restart_defaults_A(void **state)
{
	struct qt_daemon	*q = *state;
	uint32_t	 old, msgid;

	old = make_message(q, BODY, 1, NULL);
	assert_fd_r_dialect(q, old, IMSG_DIALECT_B, BODY);
	qfp_restart(q);
	assert_fd_r_dialect(q, old, IMSG_DIALECT_A, BODY);

	msgid = make_message(q, "new\n", 1, NULL);
	assert_fd_r_dialect(q, msgid, IMSG_DIALECT_B, "new\n");
	assert_fd_r_dialect(q, old, IMSG_DIALECT_B, BODY);
	assert_alive(q);
}

/* A failed FD_R is an empty OK without fd, the same in both dialects. */
static void
test_fd_r_failure_header(void **state)
{
	struct qt_daemon	*q = *state;
	unsigned char	 hdr[IMSG_HEADER_SIZE];
	uint32_t	 msgid, type, v;

	msgid = make_message(q, BODY, 1, NULL);
	assert_int_equal(fd_r_raw(q, msgid ^ 0x00ff00ff, hdr), -1);
	memcpy(&type, hdr, 4);
	memcpy(&v, hdr + 4, 4);
	assert_int_equal(type, PQ_OK);
	assert_int_equal(v, IMSG_HEADER_SIZE);
	assert_alive(q);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_auto_follows_commit_A),
		cmocka_unit_test_setup_teardown(test_auto_follows_commit_B,
		    setup_auto_B, teardown),
		TEST(test_forced_B_no_commit),
		TEST(test_forced_A_no_commit),
		cmocka_unit_test_setup_teardown(test_auto_restart_defaults_A,
		    setup_auto_B, teardown),
		cmocka_unit_test_setup_teardown(test_fd_r_failure_header,
		    setup_auto_B, teardown),
	};

	return cmocka_run_group_tests(tests, qt_group_setup, NULL);
}
