/*
 * What every test suite needs to run the real queue-fs-proc the way
 * smtpd's queue process does (forked as root, the request socket on
 * fd 0, stdout and stderr to a log, every other fd closed, argv
 * {"queue-proc", "<all options>"}) on a spool of its own, and to look
 * at that spool and log afterwards.
 *
 * Plain C, no cmocka: the cmocka suites assert on the results, the
 * others print them.  Functions that can fail return -1 (or NULL) and
 * leave a reason in qt_error.  Each suite keeps its own daemon struct
 * and passes the fields these functions work on.
 */
#ifndef QFP_TEST_H
#define QFP_TEST_H

#include <sys/types.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define QT_USER		"qfptest"	/* the queue user of every suite */

extern char	qt_error[512];
/* Format a reason into qt_error; returns -1. */
int	qt_fail(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));

uint64_t	 qt_now_ns(void);		/* CLOCK_MONOTONIC */
uint64_t	 qt_now_ms(void);
const char	*qt_daemon_path(void);	/* $QFP_DAEMON or the built one */

/* The user exists (useradd -r -M if not); uid and gid may be NULL. */
int	qt_user(const char *name, uid_t *uid, gid_t *gid);
/*
 * Root, the daemon built (if check_daemon), QT_USER there, SIGPIPE
 * ignored so that a dead daemon fails a send instead of the test.
 */
int	qt_setup(int check_daemon);
/* cmocka group set-up: qt_setup(1), the reason on stderr. */
int	qt_group_setup(void **state);

/*
 * smtpd's spool: root's, mode 0711 whatever the umask.  path is a
 * mkdtemp(3) template (filled in) if it ends in XXXXXX, else made as is.
 */
int	qt_spool_new(char *path);
int	qt_log_new(char *template);	/* an empty file, mkstemp(3) */
int	qt_rmtree(const char *path);	/* never follows symbolic links */

/* ---- the daemon -------------------------------------------------------- */

/* "[-d ]-s SPOOL -u USER[ OPTS]": the one option string smtpd passes. */
void	qt_options(char *buf, size_t size, int debug, const char *spool,
	    const char *user, const char *opts);

struct qt_spawn {
	const char	*daemon;	/* NULL: qt_daemon_path() */
	const char	*argv1;		/* all options, see qt_options() */
	int		 logfd;		/* the child's stdout and stderr */
	int		 timeout_ms;	/* receive, send timeouts, our end */
	/*
	 * Runs in the child, fds in place, before smtpd's execv: it may
	 * exec a wrapper instead (strace, valgrind).  NULL: none.
	 */
	void		(*exec)(const struct qt_spawn *);
	void		*arg;		/* for exec */
};

/* Fork and exec; our end of the socketpair goes to *sock. */
pid_t	qt_spawn(const struct qt_spawn *, int *sock);
/*
 * Reap *pid within timeout_ms: 0, *status set and *pid -1; or -1 with
 * errno ETIMEDOUT if it still runs (or waitpid's error).
 */
int	qt_wait(pid_t *pid, int *status, int timeout_ms);
/* SIGKILL and reap (-1 if it will not die, in D state for a minute). */
int	qt_kill(pid_t *pid, int *status);
/*
 * smtpd going away: close our end and let the daemon exit within
 * timeout_ms; -1 if it had to be killed.
 */
int	qt_stop(pid_t *pid, int *sock, int *status, int timeout_ms);
int	qt_exit_code(int status);	/* exit code, or 128 + signal */
void	qt_close(int *fd);		/* close if open, mark closed */
int	qt_proc_root(pid_t, char *buf, size_t size);	/* /proc/PID/root */
/* A /proc/PID/status field's value ("Seccomp" -> "2"), or NULL. */
const char *qt_proc_status(pid_t, const char *field);
/* One sendmsg() of buf, with fd (if not -1) attached: raw requests. */
ssize_t	qt_send(int sock, const void *buf, size_t len, int fd);
#define QT_MAXFDS	32		/* fds in one qt_send_fds() */
ssize_t	qt_send_fds(int sock, const void *buf, size_t len, const int *fds,
	    int nfds);
ssize_t	qt_recv(int sock, void *buf, size_t len, int *fd);

/* ---- files ------------------------------------------------------------- */

/* All of a file, NUL added (not counted); NULL if it cannot be read. */
char	*qt_read_fd(int fd, size_t *len);	/* from where fd is */
char	*qt_pread_fd(int fd, size_t *len);	/* from 0, offset kept */
char	*qt_read_file(const char *path, size_t *len);	/* no links */
/* smtpd's copy of a message: unlinked, read-only (dir NULL: /tmp). */
int	qt_tmp_message(const char *dir, const void *buf, size_t len);
int	qt_exists(const char *path);		/* lstat(2) */
/* Entries of a directory but . and .., -1 if it cannot be opened. */
int	qt_count_entries(const char *dir);
/* Only those named prefix + something, namelen long (0: any length). */
int	qt_count_named(const char *dir, const char *prefix, size_t namelen);
/* Entries that are not empty directories (incoming/ in use). */
int	qt_count_nonempty(const char *dir);
/*
 * Lines of a log from offset from on holding every word not NULL.
 */
int	qt_log_count(const char *log, long from, const char *w1,
	    const char *w2, const char *w3);

/*
 * "DIR/formatted" (dir NULL: "formatted") in one of a ring of static
 * buffers: for paths in checks and messages.
 */
char	*qt_pathf(const char *dir, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
char	*qt_vpathf(const char *dir, const char *fmt, va_list)
	    __attribute__((format(printf, 2, 0)));
char	*qt_msgdir(uint32_t msgid);	/* "queue/XX/MSGID", own ring */
char	*qt_evpfile(uint64_t evpid);	/* "queue/XX/MSGID/EVPID" */

#endif
