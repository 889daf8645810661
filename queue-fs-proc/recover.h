/*
 * Recovery: the one owner of a spool, the start sequence and the log's
 * replay (see RECOVERY in queue-fs-proc(8)).  A start, from main():
 *
 *   recover_lock()	take the spool's lock (fs-proc/lock), held by the
 *			helper and its log checkpointer for their
 *			lifetime: -n, -R and a second helper are refused
 *			while it is held
 *   recover_start()	replay the log (or set a stale one aside), retire
 *			it, purge incoming/, begin a new log and fork the
 *			checkpointer
 *
 * and recover_offline() is the same replay and retire for -R and -n -R.
 * Calls go one way: from here into the store's layout primitives
 * (store.h) and the log (wal.h), never back.
 */
#ifndef QFP_RECOVER_H
#define QFP_RECOVER_H

#include <sys/types.h>

#include "spool.h"
#include "store.h"

#define RECOVER_LOCK		"lock"	/* in fs-proc/ */
#define RECOVER_LOCK_WAIT	30	/* seconds a new helper waits */

enum { RECOVER_LOOK, RECOVER_OWN };	/* recover_lock()'s how */

int	recover_lock(int spool_fd, int how, int wait, pid_t *holder);
void	recover_refused(const char *spool, int lock, pid_t holder);
int	recover_start(struct store *, off_t log_size, int ordered,
	    const char *spool, int (*enter_sandbox)(void));
int	recover_offline(int spool_fd, const struct spool_user *);
int	recover_command(const char *spool, const char *user);

#endif
