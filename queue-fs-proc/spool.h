/*
 * Start-up on the spool, as root, before any request is read: check or
 * create queue/, incoming/ and corrupt/ exactly as the built-in queue
 * wants them (owner the queue user, group root, mode 0700), move the
 * what incoming/ holds to purge/ where smtpd clears it, then chroot
 * into the spool and become the queue user for good.
 */
#ifndef QFP_SPOOL_H
#define QFP_SPOOL_H

#include <sys/types.h>

#define SPOOL_DEFAULT	"/var/spool/smtpd"

struct spool_user {
	char	name[64];
	uid_t	uid;
	gid_t	gid;
};

int	spool_user(const char *name, struct spool_user *);
int	spool_prepare(const char *path, const struct spool_user *, int privileged);
int	spool_chroot(int spool_fd, const char *path);
int	spool_drop(const struct spool_user *);

#endif
