/* Operator tests: see op_util.h. */
#include <sys/types.h>

#include <signal.h>
#include <stdio.h>

#include "op_util.h"

int
op_ensure_user(const char *user)
{
	if (qt_user(user, NULL, NULL) == -1) {
		fprintf(stderr, "%s\n", qt_error);
		return -1;
	}
	return 0;
}

int
op_make_spool(char *buf, size_t size)
{
	snprintf(buf, size, "/tmp/qfp-op-spool.XXXXXX");
	return qt_spool_new(buf);
}

int
op_start(struct op_daemon *d, const char *spool, const char *user,
    const char *extra, int logfd)
{
	struct qt_spawn	sp = { .logfd = logfd, .timeout_ms = OP_TIMEOUT_MS };
	char		opts[512];

	qt_options(opts, sizeof(opts), 1, spool, user, extra);
	sp.argv1 = opts;
	/* a dead daemon must fail a send, not kill the test */
	signal(SIGPIPE, SIG_IGN);
	if ((d->pid = qt_spawn(&sp, &d->sock)) == -1)
		return -1;
	pq_client_init(&d->c, d->sock, IMSG_DIALECT_A);
	return 0;
}

int
op_stop(struct op_daemon *d, int timeout_ms)
{
	int	st;

	if (qt_stop(&d->pid, &d->sock, &st, timeout_ms) == -1)
		return -1;
	return st;
}
