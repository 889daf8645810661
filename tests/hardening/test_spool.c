/*
 * Spool checks at start-up (spool.c), with the real daemon started as
 * smtpd starts it: a spool it must refuse makes it exit 1 before it
 * reads a request, with a line on stderr that says what is wrong and
 * the fatal line; a good one, or one it can put right, is served.
 *
 * A used spool is made as smtpd's built-in queue leaves it: the spool
 * root's (0711), queue/ incoming/ corrupt/ purge/ the queue user's with
 * group root, 0700.  Each test breaks one thing.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "hlib.h"

#define NOBODY	65534

static uid_t	quid;

static int
setup(void **state)
{
	struct passwd	*pw;

	if (qt_setup(0) == -1) {
		fprintf(stderr, "test_spool: %s\n", qt_error);
		return -1;
	}
	pw = getpwnam(QT_USER);
	quid = pw->pw_uid;
	return 0;
}

static char *
path(struct qt_daemon *h, const char *name)
{
	return qt_pathf(h->spool, "%s", name);
}

/* A used spool, daemon not started. */
static struct qt_daemon *
used_spool(void)
{
	static const char *dirs[] = { "queue", "incoming", "corrupt",
	    "purge" };
	struct qt_daemon	*h;
	size_t		 i;

	h = calloc(1, sizeof(*h));
	assert_non_null(h);
	qd_init(h, NULL);
	if (qd_workdir(h, NULL) == -1)
		fail_msg("%s", qt_error);
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		assert_int_equal(mkdir(path(h, dirs[i]), 0700), 0);
		assert_int_equal(chown(path(h, dirs[i]), quid, 0), 0);
	}
	return h;
}

/* Start on spool path sp; returns the exit code, or -1 if it serves. */
static int
run_on(struct qt_daemon *h, const char *sp)
{
	char	argv1[PATH_MAX + 64];
	int	code;

	snprintf(argv1, sizeof(argv1), "-d -s %s -u %s", sp, QT_USER);
	if (qd_start_argv1(h, argv1) == -1)
		fail_msg("%s", qt_error);
	/* a daemon that refused the spool exits before reading INIT */
	if (pq_init(&h->c) == 1) {
		assert_int_equal(qd_stop(h), 0);
		return -1;
	}
	if ((code = qd_exit_code(h, QD_TIMEOUT_MS)) == -1)
		fail_msg("daemon neither exited nor answered INIT");
	return code;
}

static void
refused(struct qt_daemon *h, const char *sp, const char *why)
{
	int	code = run_on(h, sp);

	if (code != 1)
		fail_msg("spool %s: exit %d, want 1 (%s)", sp, code, why);
	if (!qd_log_has(h, why, NULL, NULL))
		fail_msg("spool %s: no \"%s\" on stderr", sp, why);
	assert_true(qd_log_has(h, "fatal: queue-fs-proc: cannot use spool",
	    NULL, NULL));
}

static void
test_good_spool_served(void **state)
{
	struct qt_daemon	*h = used_spool();

	assert_int_equal(run_on(h, h->spool), -1);
	qd_free(h);
}

static void
test_spool_symlink(void **state)
{
	struct qt_daemon	*h = used_spool();
	char		 link[PATH_MAX];

	snprintf(link, sizeof(link), "%s.link", h->spool);
	assert_int_equal(symlink(h->spool, link), 0);
	refused(h, link, "not a symbolic link");
	unlink(link);
	qd_free(h);
}

/* "spool/": a trailing slash makes the kernel follow the last link. */
static void
test_spool_symlink_trailing_slash(void **state)
{
	struct qt_daemon	*h = used_spool();
	char		 link[PATH_MAX], slash[PATH_MAX + 1];

	snprintf(link, sizeof(link), "%s.link", h->spool);
	snprintf(slash, sizeof(slash), "%s/", link);
	assert_int_equal(symlink(h->spool, link), 0);
	refused(h, slash, "not a symbolic link");
	unlink(link);
	qd_free(h);
}

static void
test_spool_not_roots(void **state)
{
	struct qt_daemon	*h = used_spool();

	assert_int_equal(chown(h->spool, quid, 0), 0);
	refused(h, h->spool, "must be owned by uid 0");
	qd_free(h);
}

static void
test_spool_writable(void **state)
{
	static const mode_t modes[] = { 0777, 0775, 0731, 01777 };
	size_t		 i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct qt_daemon	*h = used_spool();

		assert_int_equal(chmod(h->spool, modes[i]), 0);
		refused(h, h->spool, "must not be group or world writable");
		qd_free(h);
	}
}

static void
test_queue_other_owner(void **state)
{
	struct qt_daemon	*h = used_spool();

	assert_int_equal(chown(path(h, "queue"), NOBODY, 0), 0);
	refused(h, h->spool, "must be owned by uid");
	qd_free(h);
}

static void
test_queue_other_group(void **state)
{
	struct qt_daemon	*h = used_spool();

	assert_int_equal(chown(path(h, "queue"), quid, NOBODY), 0);
	refused(h, h->spool, "must be owned by uid");
	qd_free(h);
}

static void
test_queue_mode(void **state)
{
	static const mode_t modes[] = { 0777, 0770, 0755, 0711 };
	size_t		 i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct qt_daemon	*h = used_spool();

		assert_int_equal(chmod(path(h, "queue"), modes[i]), 0);
		refused(h, h->spool, modes[i] & 022 ?
		    "must not be group or world writable" : "must have mode");
		qd_free(h);
	}
}

static void
test_queue_symlink(void **state)
{
	struct qt_daemon	*h = used_spool();
	char		 elsewhere[PATH_MAX];

	snprintf(elsewhere, sizeof(elsewhere), "%s.q", h->spool);
	assert_int_equal(mkdir(elsewhere, 0700), 0);
	assert_int_equal(chown(elsewhere, quid, 0), 0);
	assert_int_equal(rmdir(path(h, "queue")), 0);
	assert_int_equal(symlink(elsewhere, path(h, "queue")), 0);
	refused(h, h->spool, "not a symbolic link");
	rmdir(elsewhere);
	qd_free(h);
}

static void
test_queue_file(void **state)
{
	struct qt_daemon	*h = used_spool();
	int		 fd;

	assert_int_equal(rmdir(path(h, "queue")), 0);
	assert_true((fd = open(path(h, "queue"), O_CREAT | O_WRONLY,
	    0600)) >= 0);
	close(fd);
	refused(h, h->spool, "must be a directory");
	qd_free(h);
}

static void
test_purge_corrupt_symlink(void **state)
{
	static const char *names[] = { "purge", "corrupt" };
	char		 elsewhere[PATH_MAX];
	size_t		 i;

	for (i = 0; i < 2; i++) {
		struct qt_daemon	*h = used_spool();

		snprintf(elsewhere, sizeof(elsewhere), "%s.x", h->spool);
		assert_int_equal(mkdir(elsewhere, 0700), 0);
		assert_int_equal(chown(elsewhere, quid, 0), 0);
		assert_int_equal(rmdir(path(h, names[i])), 0);
		assert_int_equal(symlink(elsewhere, path(h, names[i])), 0);
		refused(h, h->spool, "not a symbolic link");
		rmdir(elsewhere);
		qd_free(h);
	}
}

/*
 * incoming/ is checked like queue/ (the issue: refuse a spool whose
 * queue/ or incoming/ is a link, foreign or writable by others); what it
 * holds is moved to purge/ only once it passed.
 */
static void
check_incoming_refused(struct qt_daemon *h, const char *why)
{
	refused(h, h->spool, why);
}

static void
test_incoming_world_writable(void **state)
{
	struct qt_daemon	*h = used_spool();

	assert_int_equal(chmod(path(h, "incoming"), 0777), 0);
	check_incoming_refused(h, "must not be group or world writable");
	qd_free(h);
}

static void
test_incoming_other_owner(void **state)
{
	struct qt_daemon	*h = used_spool();

	assert_int_equal(chown(path(h, "incoming"), NOBODY, NOBODY), 0);
	check_incoming_refused(h, "must be owned by");
	qd_free(h);
}

static void
test_incoming_symlink(void **state)
{
	struct qt_daemon	*h = used_spool();
	char		 elsewhere[PATH_MAX];
	struct stat	 sb;

	snprintf(elsewhere, sizeof(elsewhere), "%s.i", h->spool);
	assert_int_equal(mkdir(elsewhere, 0777), 0);
	assert_int_equal(rmdir(path(h, "incoming")), 0);
	assert_int_equal(symlink(elsewhere, path(h, "incoming")), 0);
	check_incoming_refused(h, "not a symbolic link");
	/* the link's target was left alone */
	assert_int_equal(stat(elsewhere, &sb), 0);
	rmdir(elsewhere);
	qd_free(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_spool_served),
		cmocka_unit_test(test_spool_symlink),
		cmocka_unit_test(test_spool_symlink_trailing_slash),
		cmocka_unit_test(test_spool_not_roots),
		cmocka_unit_test(test_spool_writable),
		cmocka_unit_test(test_queue_other_owner),
		cmocka_unit_test(test_queue_other_group),
		cmocka_unit_test(test_queue_mode),
		cmocka_unit_test(test_queue_symlink),
		cmocka_unit_test(test_queue_file),
		cmocka_unit_test(test_purge_corrupt_symlink),
		cmocka_unit_test(test_incoming_world_writable),
		cmocka_unit_test(test_incoming_other_owner),
		cmocka_unit_test(test_incoming_symlink),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
