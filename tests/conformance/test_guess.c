/*
 * Auto framing before any commit, when the peer's binary is smtpd 7.7:
 * the daemon reads the version literal from its parent's executable
 * (this program, which carries one like smtpd's "smtpd -h" output) and
 * must answer MESSAGE_FD_R in B.  A program of its own, so that the
 * literal does not change what the other tests see.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "framing.h"

/* what smtpd 7.7.0p0's binary holds; "used" keeps it in the image */
static const char smtpd_version[] __attribute__((used)) =
    "version: OpenSMTPD 7.7.0p0";

#define BODY	"Subject: guess\n\nbody\n"

static int
setup_verbose(void **state)
{
	return setup_with(state, OPTS_FAST " -v", IMSG_DIALECT_A);
}

static void
test_guess_B_from_peer_binary(void **state)
{
	struct qt_daemon	*q = *state;
	uint32_t	 msgid;

	/* no commit in the run that serves FD_R */
	msgid = make_message(q, BODY, 1, NULL);
	assert_fd_r_dialect(q, msgid, IMSG_DIALECT_A, BODY);
	qd_log_mark(q);
	qfp_restart(q);
	assert_true(qd_log_has(q, "7.7.0p0", "dialect B", NULL));
	assert_fd_r_dialect(q, msgid, IMSG_DIALECT_B, BODY);
	assert_alive(q);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_guess_B_from_peer_binary,
		    setup_verbose, teardown),
	};

	return cmocka_run_group_tests(tests, qt_group_setup, NULL);
}
