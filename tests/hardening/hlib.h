/*
 * Hardening test helpers: run the real daemon as smtpd does (root,
 * socketpair on fd 0, argv {"queue-proc", "-d -s SPOOL -u USER ..."},
 * every other fd closed), optionally under a wrapper (valgrind, strace),
 * drive it with pq_client, and look at it through /proc.
 *
 * No cmocka here: the CLI driver (qfp_drive) uses it too.  Functions
 * that can fail return -1 and leave a reason in qt_error.
 */
#ifndef QFP_HLIB_H
#define QFP_HLIB_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "imsg.h"
#include "pq_client.h"
#include "qfp_test.h"

#define HD_USER		QT_USER
#define HD_TIMEOUT_MS	10000

struct hd {
	pid_t			 pid;		/* -1: not running */
	int			 sock;		/* our end, -1 when closed */
	int			 status;	/* wait status once exited */
	enum imsg_dialect	 dialect;
	char			 spool[64];
	char			 log[64];	/* daemon's stdout+stderr */
	const char		*daemon;	/* path of the binary */
	char *const		*wrapper;	/* argv prefix, NULL: none */
	int			 syslog;	/* no -d: log to syslog */
	struct pq_client	 c;
};


/* A fresh spool as smtpd's: root's, 0711 (in $TMPDIR or /tmp). */
int	hd_spool_new(struct hd *);

/* Start on h->spool with "-d -s SPOOL -u qfptest OPTS" (no -d if
 * h->syslog); no INIT. */
int	hd_start(struct hd *, const char *opts);
/* Start with an exact option string (spool checks use their own -s). */
int	hd_start_raw(struct hd *, const char *argv1);
int	hd_start_init(struct hd *, const char *opts);	/* start, INIT */
int	hd_wait(struct hd *, int timeout_ms);	/* exit code, 128+sig, -1 */
int	hd_stop(struct hd *);		/* close socket, wait: exit code */
void	hd_kill(struct hd *);
void	hd_free(struct hd *);		/* kill if running, rm spool, log */

/* /proc/PID/status field value ("Seccomp" -> "2"), or NULL. */
const char *hd_status(pid_t, const char *field);
int	hd_count_fds(pid_t);			/* entries of /proc/PID/fd */
int	hd_limits_zero(pid_t, int *nproc, int *core);	/* /proc/PID/limits */
/* The daemon's pid: h->pid, or the wrapper's child (strace). */
pid_t	hd_target(struct hd *);
char	*hd_list_fds(pid_t);			/* "0 -> socket:[..]\n..." */
int	hd_log_has(struct hd *, const char *word);

/*
 * One conformance-like message lifecycle: create, 2 envelopes while
 * incoming, commit (sync per daemon options), fd_r and compare, a third
 * envelope once queued, load, update, load again, delete all three
 * (the message goes with the last one).  With failures set, also the
 * requests that must fail with r = 0 and leave no trace: commit of an
 * unknown msgid and of msgid 0, fd_r of an unknown msgid, load and
 * delete of unknown evpids, and a rollback (create, envelope, delete).
 * Returns 0, or -1 with qt_error set.
 */
int	hd_lifecycle(struct hd *, unsigned seed, int failures);

/*
 * Make n messages with 2 envelopes each (kept), restart the daemon,
 * walk them all back, compare, delete them.  Returns 0 or -1.
 */
int	hd_walk_cycle(struct hd *, const char *opts, int n);

#endif
