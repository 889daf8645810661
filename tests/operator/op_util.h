/*
 * Operator tests: start the real queue-fs-proc as smtpd's queue process
 * does (root, fork, socketpair with the child's end on fd 0, stdout and
 * stderr to a log file, argv {"queue-proc", "-d -s SPOOL -u USER ..."})
 * and talk to it through proto/pq_client.
 */
#ifndef QFP_OP_UTIL_H
#define QFP_OP_UTIL_H

#include <sys/types.h>

#include "pq_client.h"
#include "qfp_test.h"

#define OP_USER		QT_USER
#define OP_TIMEOUT_MS	5000

struct op_daemon {
	pid_t			pid;
	int			sock;
	struct pq_client	c;
};

/* The queue user exists (useradd -r -M if not); 0 or -1. */
int	op_ensure_user(const char *user);
/* A fresh spool as smtpd has it: root's, 0711; path in buf. */
int	op_make_spool(char *buf, size_t size);
/* Start the daemon (qt_daemon_path()) logging to logfd. */
int	op_start(struct op_daemon *, const char *spool, const char *user,
	    const char *extra, int logfd);
/* Close our end; the daemon's exit status (wait status), -1 on timeout. */
int	op_stop(struct op_daemon *, int timeout_ms);

#endif
