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
#include <sys/stat.h>

#define SPOOL_DEFAULT	"/var/spool/smtpd"

#define SPOOL_DIR_MODE	0700
#define SPOOL_FILE_MODE	0600

struct spool_user {
	char	name[64];
	uid_t	uid;
	gid_t	gid;
};

/*
 * Who owns what, for the daemon at start and for -n alike.  As root:
 * the spool itself is root's, purge/ queue/ incoming/ corrupt/ the queue
 * user's and group 0's.  Run by another user (tests by hand, or the
 * queue user running -n): that user is taken for the queue user, the
 * spool may be root's or that user's, and groups are not checked.
 */
struct spool_rules {
	int	privileged;
	uid_t	uid;		/* the queue user */
	gid_t	gid;		/* its group: for what is in queue/ */
	gid_t	top_gid;	/* group of purge/ etc., (gid_t)-1: any */
};

/* What spool_faults() finds wrong with an entry. */
#define SPOOL_NOT_DIR	0x01	/* a symbolic link or not a directory */
#define SPOOL_BAD_UID	0x02
#define SPOOL_BAD_GID	0x04
#define SPOOL_WRITABLE	0x08	/* group or world writable */
#define SPOOL_BAD_MODE	0x10

void	spool_rules(struct spool_rules *, const struct spool_user *,
	    int privileged);
int	spool_faults(const struct stat *, uid_t, gid_t, mode_t);
int	spool_root_faults(const struct stat *, const struct spool_rules *);
int	spool_top_faults(const struct stat *, const struct spool_rules *);
int	spool_make_dir(int spool_fd, const char *name,
	    const struct spool_rules *);

int	spool_user(const char *name, struct spool_user *);
int	spool_prepare(const char *path, const struct spool_user *, int privileged);
int	spool_purge_incoming(int spool_fd, const char *path);
int	spool_chroot(int spool_fd, const char *path);
int	spool_drop(const struct spool_user *);
int	spool_journaled(int spool_fd);

#endif
