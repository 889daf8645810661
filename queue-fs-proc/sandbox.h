/*
 * The sandbox the daemon serves requests in, on top of the chroot into
 * the spool and the drop to the queue user (spool.c):
 *
 *   - no new privileges (PR_SET_NO_NEW_PRIVS): no set-id or file
 *     capability execve could give any back;
 *   - no capabilities: effective, permitted and inheritable sets zero,
 *     the bounding set emptied while still root (sandbox_bound());
 *   - RLIMIT_NPROC 0 (no fork), RLIMIT_CORE 0 and not dumpable (no core
 *     file of mail in the spool, no ptrace by the queue user);
 *   - a seccomp filter allowing only the system calls the daemon makes
 *     once started (sandbox.c lists them and says why the others fail
 *     with EPERM rather than kill).
 *
 * -X leaves the seccomp filter out, for debugging only (valgrind runs
 * inside the process and needs system calls of its own); the rest
 * stays.
 */
#ifndef QFP_SANDBOX_H
#define QFP_SANDBOX_H

/*
 * As root, before the privilege drop: empty the capability bounding
 * set.  0 on success or when this process may not change it (no
 * CAP_SETPCAP: a container); -1 on an unexpected error.  The same
 * with or without -X (disabled is for symmetry, unused).
 */
int	sandbox_bound(int disabled);

/*
 * Once, after the privilege drop and before the first request.  -1
 * (errno set, a warning logged) when any step fails: the daemon must
 * not serve without it.  If disabled (-X), all but the seccomp filter.
 */
int	sandbox_enter(int disabled);

#endif
