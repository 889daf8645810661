/*
 * The real daemon, started as smtpd starts it, seen from outside once
 * it has answered INIT: who it runs as, what it may still do, where its
 * root is; then every request path under the seccomp filter (an
 * allow-list gap would turn into an r = 0 or a missing answer here),
 * syslog under the filter, signals, and no fd left behind by 100
 * lifecycles, failures included.
 */
#include <sys/types.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
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

static struct qt_daemon *
start(const char *opts, enum imsg_dialect dialect)
{
	struct qt_daemon	*h;

	if ((h = qd_new(opts, dialect, QD_TIMEOUT_MS)) == NULL)
		fail_msg("%s", qt_error);
	return h;
}

static void
expect_field(pid_t pid, const char *field, const char *want)
{
	const char	*v = qt_proc_status(pid, field);

	if (v == NULL || strcmp(v, want) != 0)
		fail_msg("/proc/%ld/status %s: \"%s\", want \"%s\"", (long)pid,
		    field, v ? v : "(none)", want);
}

/* Uid, Gid, NoNewPrivs, Seccomp, capabilities, root, limits. */
static void
test_status_after_init(void **state)
{
	struct qt_daemon	*h = start(NULL, IMSG_DIALECT_A);
	struct passwd	*pw = getpwnam(QT_USER);
	char		 want[64], root[PATH_MAX], path[64];
	int		 nproc = 0, core = 0;
	struct stat	 sb;

	assert_non_null(pw);
	snprintf(want, sizeof(want), "%u\t%u\t%u\t%u", (unsigned)pw->pw_uid,
	    (unsigned)pw->pw_uid, (unsigned)pw->pw_uid, (unsigned)pw->pw_uid);
	expect_field(h->pid, "Uid", want);
	snprintf(want, sizeof(want), "%u\t%u\t%u\t%u", (unsigned)pw->pw_gid,
	    (unsigned)pw->pw_gid, (unsigned)pw->pw_gid, (unsigned)pw->pw_gid);
	expect_field(h->pid, "Gid", want);
	snprintf(want, sizeof(want), "%u", (unsigned)pw->pw_gid);
	expect_field(h->pid, "Groups", want);
	expect_field(h->pid, "NoNewPrivs", "1");
	expect_field(h->pid, "Seccomp", "2");
	expect_field(h->pid, "CapInh", "0000000000000000");
	expect_field(h->pid, "CapPrm", "0000000000000000");
	expect_field(h->pid, "CapEff", "0000000000000000");
	expect_field(h->pid, "CapBnd", "0000000000000000");
	expect_field(h->pid, "CapAmb", "0000000000000000");

	/* chrooted into the spool, cwd its root */
	assert_int_equal(qt_proc_root(h->pid, root, sizeof(root)), 0);
	assert_string_equal(root, h->spool);
	snprintf(path, sizeof(path), "/proc/%ld/cwd", (long)h->pid);
	assert_int_equal(stat(path, &sb), 0);
	{
		struct stat	ssb;

		assert_int_equal(stat(h->spool, &ssb), 0);
		assert_true(sb.st_ino == ssb.st_ino && sb.st_dev == ssb.st_dev);
	}
	/* no children, no core, not dumpable (its /proc files are root's) */
	assert_int_equal(hd_limits_zero(h->pid, &nproc, &core), 0);
	assert_true(nproc);
	assert_true(core);
	snprintf(path, sizeof(path), "/proc/%ld/status", (long)h->pid);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_uid, 0);
	/* it still serves */
	if (qw_lifecycle(h, 1, 0) == -1)
		fail_msg("%s", qt_error);
	assert_int_equal(qd_stop(h), 0);
	qd_free(h);
}

/* -X: no system call filter; privileges, chroot, the rest all the same. */
static void
test_no_filter_option(void **state)
{
	struct qt_daemon	*h = start("-X", IMSG_DIALECT_A);
	char		 root[PATH_MAX];

	expect_field(h->pid, "Seccomp", "0");
	expect_field(h->pid, "NoNewPrivs", "1");
	expect_field(h->pid, "CapEff", "0000000000000000");
	expect_field(h->pid, "CapBnd", "0000000000000000");
	assert_int_equal(qt_proc_root(h->pid, root, sizeof(root)), 0);
	assert_string_equal(root, h->spool);
	assert_true(strcmp(qt_proc_status(h->pid, "Uid"), "0\t0\t0\t0") != 0);
	assert_true(qd_log_has(h, "system call filter disabled", NULL, NULL));
	assert_int_equal(qd_stop(h), 0);
	qd_free(h);
}

static void
lifecycles(const char *opts, enum imsg_dialect dialect, int n)
{
	struct qt_daemon	*h = start(opts, dialect);
	int		 i;

	expect_field(h->pid, "Seccomp", "2");
	for (i = 0; i < n; i++)
		if (qw_lifecycle(h, (unsigned)i, 1) == -1)
			fail_msg("lifecycle %d (%s): %s", i, opts, qt_error);
	if (qw_walk_cycle(h, 10) == -1)
		fail_msg("walk (%s): %s", opts, qt_error);
	expect_field(h->pid, "Seccomp", "2");
	assert_int_equal(qd_stop(h), 0);
	assert_false(qd_log_has(h, "Operation not permitted", NULL, NULL));
	qd_free(h);
}

/* Every request, failures, walk after restart: -S full (fsync, syncfs). */
static void
test_requests_full_sync_a(void **state)
{
	lifecycles("-S full", IMSG_DIALECT_A, 20);
}

static void
test_requests_no_sync_b(void **state)
{
	lifecycles("-S none -F B", IMSG_DIALECT_B, 20);
}

/* libevent's signal path (pipe, read) under the filter. */
static void
test_signals(void **state)
{
	struct qt_daemon	*h = start("-S full", IMSG_DIALECT_A);
	int		 code;

	kill(h->pid, SIGUSR1);
	if (qw_lifecycle(h, 7, 0) == -1)
		fail_msg("after SIGUSR1: %s", qt_error);
	kill(h->pid, SIGTERM);
	code = qd_exit_code(h, QD_TIMEOUT_MS);
	assert_int_equal(code, 0);
	assert_true(qd_log_has(h, "SIGUSR1", NULL, NULL));
	assert_true(qd_log_has(h, "signal 15", NULL, NULL));
	qd_free(h);
}

/*
 * Daemonized (no -d), the daemon logs to syslog through the socket it
 * connected before the chroot.  A private mount namespace gets its own
 * /dev with our socket as /dev/log; messages logged after the sandbox
 * was entered (request warnings) must arrive.
 */
/*
 * The syslog daemon of the namespace: reads /dev/log into a file until
 * it gets END_MARK (a full unix datagram queue would block the daemon's
 * send(), as with a real syslogd that stopped reading).
 */
#define END_MARK	"qfp-test-end"

static void __attribute__((noreturn))
syslogd(int s, int out)
{
	char	msg[4096];
	ssize_t	n;

	for (;;) {
		if ((n = recv(s, msg, sizeof(msg) - 1, 0)) <= 0)
			_exit(1);
		msg[n] = '\0';
		if (strcmp(msg, END_MARK) == 0)
			_exit(0);
		msg[n] = '\n';
		if (write(out, msg, (size_t)n + 1) != n + 1)
			_exit(1);
	}
}

static int
syslog_child(void)
{
	struct sockaddr_un	 sun;
	struct qt_daemon	 h;
	char			 logfile[] = "/tmp/qfp-syslog.XXXXXX";
	char			 line[4096];
	int			 s, i, out, st, got_sandbox = 0, got_warning = 0;
	pid_t			 reader;
	FILE			*f;

	if (unshare(CLONE_NEWNS) == -1 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1 ||
	    mount("qfp-dev", "/dev", "tmpfs", 0, "mode=0755") == -1) {
		printf("syslog: namespace: %s\n", strerror(errno));
		return 77;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strlcpy(sun.sun_path, "/dev/log", sizeof(sun.sun_path));
	if ((s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(s, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    chmod("/dev/log", 0666) == -1 || (out = mkstemp(logfile)) == -1) {
		printf("syslog: /dev/log: %s\n", strerror(errno));
		return 1;
	}
	if ((reader = fork()) == -1)
		return 1;
	if (reader == 0)
		syslogd(s, out);
	close(out);

	qd_init(&h, "-v -S full");
	h.syslog = 1;
	if (qd_workdir(&h, NULL) == -1 || qd_start_init(&h) == -1) {
		printf("syslog: %s\n", qt_error);
		return 1;
	}
	for (i = 0; i < 3; i++)
		if (qw_lifecycle(&h, (unsigned)i, 1) == -1) {
			printf("syslog: lifecycle: %s\n", qt_error);
			return 1;
		}
	if (strcmp(qt_proc_status(h.pid, "Seccomp"), "2") != 0) {
		printf("syslog: daemon not sandboxed\n");
		return 1;
	}
	if (qd_stop(&h) != 0) {
		printf("syslog: daemon exit not 0\n");
		return 1;
	}
	qd_cleanup(&h);
	if (sendto(s, END_MARK, strlen(END_MARK), 0, (struct sockaddr *)&sun,
	    sizeof(sun)) == -1 || waitpid(reader, &st, 0) != reader ||
	    !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		printf("syslog: reader failed\n");
		return 1;
	}
	if ((f = fopen(logfile, "r")) == NULL)
		return 1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strstr(line, "queue-fs-proc[") == NULL)
			continue;
		got_sandbox |= strstr(line, "sandbox entered") != NULL;
		got_warning |= strstr(line, "msgid 0 refused") != NULL;
	}
	fclose(f);
	unlink(logfile);
	if (!got_sandbox || !got_warning) {
		printf("syslog: missing messages (sandbox entered %d, request "
		    "warning %d)\n", got_sandbox, got_warning);
		return 1;
	}
	return 0;
}

static void
test_syslog_under_filter(void **state)
{
	pid_t	pid;
	int	st;

	fflush(stdout);
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		int	r = syslog_child();

		fflush(stdout);
		_exit(r);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) == 77)
		skip();
	assert_int_equal(WEXITSTATUS(st), 0);
}

/*
 * 100 lifecycles with their failures (bad msgids, unknown ids, a
 * rollback) and a walk in the middle leave the fd count where it was,
 * but for the bucket directories the store keeps open.
 */
static void
test_no_fd_leak(void **state)
{
	struct qt_daemon	*h = start("-S full", IMSG_DIALECT_A);
	char		 before[4096];
	int		 n0, n1, i;

	n0 = hd_count_fds_but_buckets(h->pid);
	snprintf(before, sizeof(before), "%s", hd_list_fds(h->pid));
	assert_true(n0 > 0);
	for (i = 0; i < 100; i++) {
		if (qw_lifecycle(h, (unsigned)i, 1) == -1)
			fail_msg("lifecycle %d: %s", i, qt_error);
		if (i == 50) {
			char		buf[PQ_EVP_MAX];
			uint64_t	evpid;
			int		r;

			/* a walk on an empty queue, to its end */
			while ((r = pq_envelope_walk(&h->c, &evpid, buf,
			    sizeof(buf))) == 0)
				;
			assert_int_equal(r, -1);
		}
	}
	n1 = hd_count_fds_but_buckets(h->pid);
	if (n1 != n0)
		fail_msg("fds: %d before, %d after 100 lifecycles\nbefore:\n%s"
		    "after:\n%s", n0, n1, before, hd_list_fds(h->pid));
	assert_int_equal(qd_stop(h), 0);
	qd_free(h);
}

/*
 * Raw requests with fds: one the header does not announce (a
 * MESSAGE_CREATE with an fd attached) and one announced by a request
 * that takes none (MESSAGE_FD_R with the fd mark): both malformed, the
 * daemon exits 1 without answering, the spool untouched.
 */
static void
stray_fd(enum imsg_dialect d, uint32_t type, int announce)
{
	struct qt_daemon	*h = start(NULL, d);
	unsigned char	 req[IMSG_HEADER_SIZE + 4];
	uint32_t	 msgid = 0x12345678;
	size_t		 len = IMSG_HEADER_SIZE;
	char		 c;
	int		 fd, n0;

	if (qw_lifecycle(h, 3, 1) == -1)
		fail_msg("%s", qt_error);
	n0 = hd_count_fds(h->pid);
	assert_true(n0 > 0);
	if (type == PQ_MESSAGE_FD_R) {
		memcpy(req + IMSG_HEADER_SIZE, &msgid, 4);
		len += 4;
	}
	imsg_hdr_encode(d, type, len, (uint32_t)getpid(), announce, req);
	assert_true((fd = qt_tmp_message(NULL, "stray", 5)) >= 0);
	assert_int_equal(qt_send(h->sock, req, len, fd), (ssize_t)len);
	close(fd);
	assert_int_equal(qd_exit_code(h, QD_TIMEOUT_MS), 1);
	/* no answer came before the end of the stream */
	assert_int_equal(recv(h->sock, &c, 1, MSG_DONTWAIT), 0);
	assert_true(qd_log_has(h, "malformed request", NULL, NULL));
	qd_free(h);
}

static void
test_stray_fd_unannounced(void **state)
{
	stray_fd(IMSG_DIALECT_A, PQ_MESSAGE_CREATE, 0);
	stray_fd(IMSG_DIALECT_B, PQ_MESSAGE_CREATE, 0);
}

static void
test_stray_fd_announced(void **state)
{
	stray_fd(IMSG_DIALECT_A, PQ_MESSAGE_FD_R, 1);
	stray_fd(IMSG_DIALECT_B, PQ_MESSAGE_FD_R, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_after_init),
		cmocka_unit_test(test_no_filter_option),
		cmocka_unit_test(test_requests_full_sync_a),
		cmocka_unit_test(test_requests_no_sync_b),
		cmocka_unit_test(test_signals),
		cmocka_unit_test(test_syslog_under_filter),
		cmocka_unit_test(test_no_fd_leak),
		cmocka_unit_test(test_stray_fd_unannounced),
		cmocka_unit_test(test_stray_fd_announced),
	};

	return cmocka_run_group_tests(tests, qt_group_setup, NULL);
}
