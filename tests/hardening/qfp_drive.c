/*
 * qfp_drive: run the daemon as smtpd does and put it through message
 * lifecycles, for scripts (valgrind, strace).  Prints "PASS: name" or
 * "FAIL: name" lines (tests/run-suite.sh counts them).
 *
 *   qfp_drive [-bflsw] [-n count] [-o options] [-t name]
 *	-n	lifecycles to run (default 10)
 *	-b	the client speaks imsg framing B (default A)
 *	-f	include the requests that must fail (hd_lifecycle)
 *	-l	daemonized: no -d, the daemon logs to syslog
 *	-w	then a walk: messages kept, daemon restarted, walked back
 *	-s	send SIGUSR1 (stats) and stop with SIGTERM instead of EOF
 *	-o	extra daemon options, e.g. "-S full" or "-X"
 *	-t	test name prefix for the PASS/FAIL lines
 *
 * QFP_WRAPPER="valgrind --leak-check=full ..." runs the daemon under
 * that command (options are then passed split, not in argv[1]).
 * QFP_DAEMON overrides the daemon's path.  The daemon's log is printed
 * on failure or when QFP_SHOWLOG is set.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hlib.h"

static const char *name = "drive";
static int failed;

static void
result(int ok, const char *what)
{
	printf("%s: %s-%s%s%s\n", ok ? "PASS" : "FAIL", name, what,
	    ok ? "" : ": ", ok ? "" : qt_error);
	fflush(stdout);
	if (!ok)
		failed = 1;
}

static void
show_log(struct hd *h)
{
	char	 line[2048];
	FILE	*f;

	if ((f = fopen(h->log, "r")) == NULL)
		return;
	printf("--- daemon log %s\n", h->log);
	while (fgets(line, sizeof(line), f) != NULL)
		fputs(line, stdout);
	printf("--- end of log\n");
	fclose(f);
}

int
main(int argc, char **argv)
{
	struct hd	 h;
	const char	*opts = "", *wrap = getenv("QFP_WRAPPER");
	char		*wargv[32], *wcopy, *tok;
	int		 ch, n = 10, fails = 0, walk = 0, sig = 0, i, r, nw = 0;

	memset(&h, 0, sizeof(h));
	h.pid = -1;
	h.sock = -1;
	while ((ch = getopt(argc, argv, "bfln:o:st:w")) != -1) {
		switch (ch) {
		case 'b':
			h.dialect = IMSG_DIALECT_B;
			break;
		case 'f':
			fails = 1;
			break;
		case 'l':
			h.syslog = 1;
			break;
		case 'n':
			n = atoi(optarg);
			break;
		case 'o':
			opts = optarg;
			break;
		case 's':
			sig = 1;
			break;
		case 't':
			name = optarg;
			break;
		case 'w':
			walk = 1;
			break;
		default:
			fprintf(stderr, "usage: qfp_drive [-bflsw] [-n count] "
			    "[-o options] [-t name]\n");
			return 2;
		}
	}
	if (wrap != NULL && *wrap != '\0') {
		wcopy = strdup(wrap);
		while ((tok = strsep(&wcopy, " ")) != NULL && nw < 31)
			if (*tok != '\0')
				wargv[nw++] = tok;
		wargv[nw] = NULL;
		h.wrapper = wargv;
	}
	if (qt_setup(0) == -1 || hd_spool_new(&h) == -1) {
		result(0, "setup");
		return 1;
	}
	if (hd_start_init(&h, opts) == -1) {
		result(0, "start");
		show_log(&h);
		hd_free(&h);
		return 1;
	}
	for (i = 0, r = 0; i < n && r == 0; i++)
		r = hd_lifecycle(&h, (unsigned)i, fails);
	result(r == 0, "lifecycles");
	if (r == 0 && walk)
		result(hd_walk_cycle(&h, opts, 5) == 0, "walk");
	if (sig && h.pid != -1) {
		kill(hd_target(&h), SIGUSR1);
		/* one more request proves it survived the signal */
		r = hd_lifecycle(&h, 1000, 0);
		result(r == 0, "sigusr1");
		kill(hd_target(&h), SIGTERM);
		r = hd_wait(&h, HD_TIMEOUT_MS * 3);
		snprintf(qt_error, sizeof(qt_error), "exit %d on SIGTERM", r);
		result(r == 0, "sigterm");
	} else {
		/* valgrind's own exit code says what it found */
		if (h.sock != -1)
			close(h.sock);
		h.sock = -1;
		r = hd_wait(&h, HD_TIMEOUT_MS * 3);
		snprintf(qt_error, sizeof(qt_error), "exit %d on EOF", r);
		result(r == 0, "exit");
	}
	if (failed || getenv("QFP_SHOWLOG") != NULL)
		show_log(&h);
	hd_free(&h);
	return failed;
}
