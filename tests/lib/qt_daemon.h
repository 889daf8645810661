/*
 * The one daemon handle of every suite, the benchmark and the driver:
 * the real queue-fs-proc started as smtpd's queue process starts it
 * (qt_spawn()), on a work dir of its own holding spool/ and daemon.log,
 * talked to through proto/pq_client.
 *
 * Plain C, no cmocka: functions that can fail return -1 and leave a
 * reason in qt_error.  The conformance harness turns those into failed
 * cmocka tests; the others print them.
 */
#ifndef QT_DAEMON_H
#define QT_DAEMON_H

#include <sys/types.h>

#include <limits.h>
#include <stdint.h>

#include "imsg.h"
#include "pq_client.h"
#include "qfp_test.h"

#define QD_TIMEOUT_MS	10000	/* default wait for an answer or an exit */

struct qt_daemon {
	pid_t			 pid;		/* what we forked, -1: none */
	int			 sock;		/* our end, -1 when closed */
	int			 status;	/* wait status, last run */
	enum imsg_dialect	 dialect;	/* the client's framing */
	int			 timeout_ms;	/* answers, exits */
	char			 dir[256];	/* work dir, removed */
	char			 spool[288];
	char			 log[288];	/* daemon's stdout, stderr */
	long			 logmark;	/* where qd_log_has() starts */
	char			 opts[256];	/* after -d -s SPOOL -u USER */
	const char		*user;		/* NULL: QT_USER */
	const char		*daemon;	/* NULL: qt_daemon_path() */
	int			 syslog;	/* no -d: daemon uses syslog */
	/*
	 * Run under this command (valgrind ...): argv[0] is then the
	 * binary's path, so the options are passed split.  NULL: none.
	 */
	char *const		*wrapper;
	/*
	 * Not empty: run under "strace STRACE", which runs this program's
	 * qd_launcher(), which execs the daemon in the smtpd form.
	 */
	char			 strace[1024];
	struct pq_client	 c;
};

/*
 * Call first in main() of a program that sets d->strace: "PROG --exec
 * DAEMON ARGV1" execs DAEMON with argv {"queue-proc", ARGV1}.
 */
void	qd_launcher(int argc, char **argv);
/* A stopped handle with opts (NULL: none); no spool yet. */
void	qd_init(struct qt_daemon *, const char *opts);
/*
 * A work dir PARENT/qfp-XXXXXX (parent NULL: $TMPDIR or /tmp) holding
 * spool/ (root's, 0711, as smtpd makes it) and an empty daemon.log.
 */
int	qd_workdir(struct qt_daemon *, const char *parent);
/* The same in dir as it is (dir not removed by qd_cleanup()). */
int	qd_workdir_at(struct qt_daemon *, const char *dir);

/*
 * qd_init(), qd_workdir(NULL), qd_start_init() in one, on the heap:
 * NULL (qt_error set, nothing left behind) if any fails.
 */
struct qt_daemon *qd_new(const char *opts, enum imsg_dialect,
	    int timeout_ms);
void	qd_free(struct qt_daemon *);		/* qd_cleanup(), free */

int	qd_start(struct qt_daemon *);		/* no INIT */
/* Start with an exact option string (a spool check's own -s). */
int	qd_start_argv1(struct qt_daemon *, const char *argv1);
int	qd_start_init(struct qt_daemon *);	/* start, INIT answered */
/* Wait status; -1 if it still runs after timeout_ms (or an error). */
int	qd_wait(struct qt_daemon *, int timeout_ms);
/* Exit code (128 + signal); -1 if it still runs after timeout_ms. */
int	qd_exit_code(struct qt_daemon *, int timeout_ms);
/* smtpd going away: close our end; exit code, -1 if it had to be killed. */
int	qd_stop(struct qt_daemon *);
void	qd_kill(struct qt_daemon *);		/* SIGKILL, reap */
int	qd_alive(struct qt_daemon *);
/* Stop if running, remove the work dir (kept if QFP_KEEP is set). */
void	qd_cleanup(struct qt_daemon *);
/* The daemon's pid: d->pid, or the wrapper's child. */
pid_t	qd_target(struct qt_daemon *);
/* From a signal handler: SIGKILL every daemon started and not reaped. */
void	qd_kill_all(void);

/* Log lines since the last qd_log_mark() holding every word not NULL. */
void	qd_log_mark(struct qt_daemon *);
int	qd_log_has(struct qt_daemon *, const char *, const char *,
	    const char *);
void	qd_log_show(struct qt_daemon *, int lines);	/* 0: all, indented */

/*
 * The message file as smtpd hands it over at MESSAGE_COMMIT: the
 * spool's temporary/MSGID (made, with temporary/ 0700, as the queue
 * user's), mode 0600, opened read-only; -1 (qt_error) on failure.  After
 * the answer smtpd unlinks that name and ignores the result: so does
 * qd_smtpd_unlink().
 */
int	qd_smtpd_message(struct qt_daemon *, uint32_t msgid, const void *,
	    size_t);
void	qd_smtpd_unlink(struct qt_daemon *, uint32_t msgid);

/* A path in the spool, in qt_pathf()'s ring of static buffers. */
#define qd_path(d, ...)		qt_pathf((d)->spool, __VA_ARGS__)

#endif
