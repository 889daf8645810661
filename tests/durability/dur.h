/*
 * Durability suite harness: start the real queue-fs-proc the way smtpd
 * does (forked as root, request socket on fd 0, argv {"queue-proc",
 * "<all options>"}), optionally under strace, on a spool of our own.
 * Plain C, no cmocka: the programs print "PASS: name" / "FAIL: name".
 * Every wait is bounded: the socket has a receive timeout, reaping
 * gives up and SIGKILLs, and dur_setup() arms a whole-program watchdog.
 */
#ifndef QFP_DUR_H
#define QFP_DUR_H

#include <sys/types.h>

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "imsg.h"
#include "pq_client.h"
#include "proc_queue.h"
#include "qfp_test.h"

#define DUR_USER		QT_USER
#define DUR_TIMEOUT_MS		20000	/* longest wait for one answer */

struct dd {
	pid_t		 pid;		/* what we forked: daemon or strace */
	int		 sock;		/* our end of the socketpair, -1 */
	int		 status;	/* wait status of the last run */
	char		 dir[200];	/* work dir: spool/, daemon.log */
	char		 spool[256];
	char		 log[256];
	char		 opts[256];	/* options after -d -s SPOOL -u USER */
	/* non-empty: run the daemon under strace with these arguments */
	char		 strace[1024];
	int		 timeout_ms;
	struct pq_client c;
};

/*
 * Call first in main(): "PROG --exec DAEMON OPTS" is the launcher that
 * strace runs, which execs DAEMON with argv {"queue-proc", OPTS}.
 */
void	 dur_launcher(int argc, char **argv);

/* Root check, queue user, SIGPIPE ignored, watchdog of secs seconds. */
int	 dur_setup(const char *prog, unsigned secs);
/* A private loop-mounted ext4 of mb MB (NULL: none); released at exit. */
const char *dur_private_fs(unsigned mb);
void	 dur_private_fs_release(void);
const char *dur_self_path(void);
extern uid_t	dur_uid;
extern gid_t	dur_gid;

/*
 * A work dir under parent (NULL: /tmp) holding spool/ (root, 0711) and
 * daemon.log; or, with parent_is_dir, parent itself is the work dir.
 */
int	 dd_init(struct dd *, const char *parent, int parent_is_dir,
	    const char *opts);
int	 dd_start(struct dd *);		/* fork + exec, no INIT */
int	 dd_start_init(struct dd *);	/* 0 when INIT was answered */
int	 dd_wait(struct dd *, int timeout_ms);	/* status, -1 still up */
void	 dd_kill(struct dd *);		/* SIGKILL and reap */
int	 dd_stop(struct dd *);		/* close socket, reap; status */
void	 dd_cleanup(struct dd *);	/* stop, remove work dir */
int	 dd_alive(struct dd *);

/* Lines of the daemon log holding needle (and needle2 if not NULL). */
int	 log_count(const char *log, const char *needle, const char *needle2);
void	 log_tail(const char *log, int lines);

/* Files (and the rest of what tests/lib has). */
int	 write_file(const char *path, const void *buf, size_t len,
	    mode_t mode);
/* A path in the spool, in qt_pathf()'s ring of static buffers. */
#define spath(d, ...)	qt_pathf((d)->spool, __VA_ARGS__)

/* Reproducible pseudo-random numbers (xorshift). */
uint64_t rnd(void);
void	 rnd_seed(uint64_t);
uint64_t rnd_below(uint64_t n);		/* 0 .. n-1 */
void	 rnd_fill(void *buf, size_t len);
uint64_t now_us(void);

/* Results. */
void	 check(int ok, const char *name, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
void	 result(const char *name);	/* PASS or FAIL name from checks */
extern unsigned long	dur_checks, dur_failures;

#endif
