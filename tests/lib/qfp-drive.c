/*
 * qfp-drive: the one command-line driver of the test scripts.  It runs
 * the daemon as smtpd does (tests/lib/qt_daemon) on a work dir of its
 * own, or on a given spool, and puts it through one workload
 * (tests/lib/qt_work).
 *
 *   qfp-drive [-bfKlSw] [-d dir] [-n count] [-o options] [-s spool]
 *	       [-T strace-args] [-t name] [-u user] command [arg ...]
 *
 *   lifecycles		-n message lifecycles (default 10), -f with the
 *			requests that must fail, -w then a walk across a
 *			restart, -S then SIGUSR1 (stats) and a stop by
 *			SIGTERM instead of EOF; PASS/FAIL lines named
 *			NAME-lifecycles, NAME-walk, ... (-t, default drive)
 *   sequence		the fixed sequence the ordering test traces
 *   copied SIZE		one message of SIZE bytes from a file outside the
 *			spool (copied by the daemon), then delivered
 *   count NRCPT NMSG [BODY]
 *			NMSG messages of NRCPT envelopes and BODY bytes
 *			(default 8192), then delivered
 *   fill NMSG NEVP	NMSG messages of NEVP envelopes, kept; prints
 *			"envelope EVPID" and "message MSGID" lines
 *
 *	-b	the client speaks imsg framing B (default A)
 *	-d	parent of the work dir (default $TMPDIR or /tmp)
 *	-K	sequence, copied, count, fill: end the daemon by SIGKILL, as
 *		a crash would, so that its log is left live for the next
 *		start to replay (use with -s)
 *	-l	daemonized: no -d, the daemon logs to syslog
 *	-o	extra daemon options, e.g. "-S none"
 *	-s	an existing spool to use (kept; the log is discarded)
 *	-T	run the daemon under "strace STRACE-ARGS", in the smtpd form
 *	-u	the queue user (default qfptest)
 *
 * QFP_WRAPPER="valgrind ..." runs the daemon under that command
 * (options then passed split); QFP_DAEMON overrides the daemon's path;
 * QFP_SHOWLOG shows the daemon's log even when nothing failed.  Exit
 * 0 if the workload went through and the daemon exited 0, 1 if not,
 * 2 on a usage error.
 */
#include <sys/types.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qt_daemon.h"
#include "qt_report.h"
#include "qt_work.h"

struct drive {
	struct qt_daemon	 d;
	const char		*name;		/* -t */
	const char		*parent;	/* -d */
	const char		*spool;		/* -s */
	int			 n, failures, walk, signals, crash;
};

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: qfp-drive [-bfKlSw] [-d dir] [-n count] "
	    "[-o options] [-s spool]\n"
	    "\t[-T strace-args] [-t name] [-u user] "
	    "lifecycles | sequence | copied SIZE | count NRCPT NMSG [BODY] |\n"
	    "\tfill NMSG NEVP\n");
	exit(2);
}

/* A work dir of our own, or the spool given with -s. */
static int
drive_spool(struct drive *dr)
{
	if (dr->spool == NULL)
		return qd_workdir(&dr->d, dr->parent);
	if (strlcpy(dr->d.spool, dr->spool, sizeof(dr->d.spool)) >=
	    sizeof(dr->d.spool))
		return qt_fail("%s: path too long", dr->spool);
	snprintf(dr->d.log, sizeof(dr->d.log), "/dev/null");
	return 0;
}

static int
drive_wrapper(struct drive *dr)
{
	static char	*argv[32];
	const char	*wrap = getenv("QFP_WRAPPER");
	char		*copy, *tok;
	int		 n = 0;

	if (wrap == NULL || *wrap == '\0')
		return 0;
	if ((copy = strdup(wrap)) == NULL)
		return -1;
	while ((tok = strsep(&copy, " ")) != NULL && n < 31)
		if (*tok != '\0')
			argv[n++] = tok;
	argv[n] = NULL;
	dr->d.wrapper = argv;
	return 0;
}

static const char *
drive_name(struct drive *dr, const char *what)
{
	return qt_pathf(NULL, "%s-%s", dr->name, what);
}

/* The daemon's end, by EOF or by SIGTERM: it must exit 0. */
static void
drive_end(struct drive *dr)
{
	int	r;

	if (dr->signals && dr->d.pid != -1) {
		kill(qd_target(&dr->d), SIGUSR1);
		/* one more request proves it survived the signal */
		r = qw_lifecycle(&dr->d, 1000, 0);
		qr_ok(r == 0, drive_name(dr, "sigusr1"), "%s", qt_error);
		kill(qd_target(&dr->d), SIGTERM);
		r = qd_exit_code(&dr->d, dr->d.timeout_ms * 3);
		qr_ok(r == 0, drive_name(dr, "sigterm"), "exit %d on SIGTERM",
		    r);
		return;
	}
	/* under valgrind its exit code says what valgrind found */
	qt_close(&dr->d.sock);
	r = qd_exit_code(&dr->d, dr->d.timeout_ms * 3);
	qr_ok(r == 0, drive_name(dr, "exit"), "exit %d on EOF", r);
}

static int
drive_lifecycles(struct drive *dr)
{
	int	i, r;

	for (i = 0, r = 0; i < dr->n && r == 0; i++)
		r = qw_lifecycle(&dr->d, (unsigned)i, dr->failures);
	qr_ok(r == 0, drive_name(dr, "lifecycles"), "%s", qt_error);
	if (r == 0 && dr->walk)
		qr_ok(qw_walk_cycle(&dr->d, 5) == 0, drive_name(dr, "walk"),
		    "%s", qt_error);
	drive_end(dr);
	return qr_summary();
}

/*
 * sequence, copied, count, fill: every request answered, the daemon
 * exits 0 (or, with -K, is killed).
 */
static int
drive_requests(struct drive *dr, int argc, char **argv)
{
	int	bad, st;

	if (strcmp(argv[0], "sequence") == 0 && argc == 1)
		bad = qw_sequence(&dr->d);
	else if (strcmp(argv[0], "copied") == 0 && argc == 2)
		bad = qw_copied(&dr->d, (size_t)strtoul(argv[1], NULL, 10));
	else if (strcmp(argv[0], "count") == 0 && (argc == 3 || argc == 4))
		bad = qw_count(&dr->d, atoi(argv[1]), atoi(argv[2]),
		    argc == 4 ? strtoul(argv[3], NULL, 10) : 8192);
	else if (strcmp(argv[0], "fill") == 0 && argc == 3)
		bad = qw_fill(&dr->d, atoi(argv[1]), atoi(argv[2]));
	else
		usage();
	if (bad != 0)
		fprintf(stderr, "qfp-drive: %s: %d requests failed%s%s\n",
		    argv[0], bad < 0 ? 1 : bad, bad < 0 ? ": " : "",
		    bad < 0 ? qt_error : "");
	if (dr->crash) {
		qd_kill(&dr->d);
		return bad != 0;
	}
	if ((st = qd_stop(&dr->d)) != 0) {
		fprintf(stderr, "qfp-drive: daemon exit %d\n", st);
		bad = 1;
	}
	return bad != 0;
}

int
main(int argc, char **argv)
{
	struct drive	 dr = { .name = "drive", .n = 10 };
	int		 ch, r;

	qd_launcher(argc, argv);
	qd_init(&dr.d, NULL);
	while ((ch = getopt(argc, argv, "bd:fKln:o:Ss:T:t:u:w")) != -1) {
		switch (ch) {
		case 'b':
			dr.d.dialect = IMSG_DIALECT_B;
			break;
		case 'd':
			dr.parent = optarg;
			break;
		case 'f':
			dr.failures = 1;
			break;
		case 'K':
			dr.crash = 1;
			break;
		case 'l':
			dr.d.syslog = 1;
			break;
		case 'n':
			dr.n = atoi(optarg);
			break;
		case 'o':
			snprintf(dr.d.opts, sizeof(dr.d.opts), "%s", optarg);
			break;
		case 'S':
			dr.signals = 1;
			break;
		case 's':
			dr.spool = optarg;
			break;
		case 'T':
			snprintf(dr.d.strace, sizeof(dr.d.strace), "%s",
			    optarg);
			break;
		case 't':
			dr.name = optarg;
			break;
		case 'u':
			dr.d.user = optarg;
			break;
		case 'w':
			dr.walk = 1;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	if (qt_setup(1) == -1 || (dr.d.user != NULL &&
	    qt_user(dr.d.user, NULL, NULL) == -1) || drive_wrapper(&dr) == -1 ||
	    drive_spool(&dr) == -1) {
		qr_fail(drive_name(&dr, "setup"), "%s", qt_error);
		return 1;
	}
	if (qd_start_init(&dr.d) == -1) {
		qr_fail(drive_name(&dr, "start"), "%s", qt_error);
		qd_log_show(&dr.d, 0);
		qd_cleanup(&dr.d);
		return 1;
	}
	if (strcmp(argv[0], "lifecycles") == 0 && argc == 1)
		r = drive_lifecycles(&dr);
	else
		r = drive_requests(&dr, argc, argv);
	if (r != 0 || getenv("QFP_SHOWLOG") != NULL)
		qd_log_show(&dr.d, 0);
	if (dr.spool == NULL)
		qd_cleanup(&dr.d);
	else
		qd_stop(&dr.d);
	return r;
}
