/*
 * What the durability programs share beyond tests/lib: the daemon is
 * tests/lib's qt_daemon (under strace where a test asks), results go
 * through qt_report ("PASS: name" / "FAIL: name: why").  Every wait is
 * bounded: the socket has receive and send timeouts, reaping gives up
 * and SIGKILLs, and dur_setup() arms a whole-program watchdog.
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
#include "qt_daemon.h"
#include "qt_report.h"

#define DUR_USER		QT_USER
#define DUR_TIMEOUT_MS		20000	/* longest wait for one answer */

/*
 * Root check, queue user, SIGPIPE ignored, stdout line-buffered, and a
 * watchdog of secs seconds that kills the daemons and fails the program.
 */
int	 dur_setup(const char *prog, unsigned secs);
/* A private loop-mounted ext4 of mb MB (NULL: none); released at exit. */
const char *dur_private_fs(unsigned mb);
void	 dur_private_fs_release(void);
extern uid_t	dur_uid;
extern gid_t	dur_gid;

/* A stopped daemon handle on a fresh work dir under parent (NULL: /tmp). */
int	 dur_daemon(struct qt_daemon *, const char *parent, const char *opts);
/* Lines of the daemon log holding needle (and needle2 if not NULL). */
int	 dur_log_count(const char *log, const char *needle,
	    const char *needle2);

/* Files (and the rest of what tests/lib has). */
int	 write_file(const char *path, const void *buf, size_t len,
	    mode_t mode);

/* Reproducible pseudo-random numbers (xorshift). */
uint64_t rnd(void);
void	 rnd_seed(uint64_t);
uint64_t rnd_below(uint64_t n);		/* 0 .. n-1 */
void	 rnd_fill(void *buf, size_t len);

#endif
