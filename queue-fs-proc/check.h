/*
 * Check mode (queue-fs-proc -n [-R]): read a spool without changing it
 * and report on standard output what it holds (messages, envelopes,
 * bytes, the oldest envelope) and every problem, one line each with its
 * path.  With repair set, broken message directories and misplaced
 * entries are moved to corrupt/ (never deleted) and owners and modes
 * are set back; then the spool is checked again.
 *
 * Runs as root or as the queue user, without chroot and without the
 * daemon's socket; nothing is followed through a symbolic link.
 * Returns the exit code: 0 when the spool is clean (after repair, when
 * repairing), 1 otherwise.
 */
#ifndef QFP_CHECK_H
#define QFP_CHECK_H

int	spool_check(const char *spool, const char *user, int repair);

#endif
