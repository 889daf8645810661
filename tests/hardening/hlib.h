/*
 * Hardening test helpers: what /proc says about a daemon that
 * tests/lib's qt_daemon started.  Plain C, no cmocka.
 */
#ifndef QFP_HLIB_H
#define QFP_HLIB_H

#include <sys/types.h>

#include "qt_daemon.h"
#include "qt_work.h"

int	hd_count_fds(pid_t);			/* entries of /proc/PID/fd */
int	hd_count_fds_but_buckets(pid_t);	/* without queue/XX's */
int	hd_limits_zero(pid_t, int *nproc, int *core);	/* /proc/PID/limits */
char	*hd_list_fds(pid_t);			/* "0 -> socket:[..]\n..." */

#endif
