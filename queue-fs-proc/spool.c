/*
 * Spool set-up and privilege drop.  Facts kept from the built-in queue
 * (queue_fs.c, util.c): queue/ and incoming/ are owned by the queue user
 * and group 0 with mode 0700, the spool itself by root; what incoming/
 * holds at start goes to purge/, since unfinished messages die with the
 * process that received them: after the log's replay, which may move a
 * committed one from there into queue/ (spool_purge_incoming()).
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>

#include <linux/magic.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layout.h"
#include "log.h"
#include "safeio.h"
#include "spool.h"

/* The queue user: as named, else _smtpq (OpenBSD), else opensmtpq (Debian). */
int
spool_user(const char *name, struct spool_user *u)
{
	static const char *defaults[] = { "_smtpq", "opensmtpq" };
	struct passwd	*pw = NULL;
	size_t		 i;

	if (name != NULL)
		pw = getpwnam(name);
	for (i = 0; name == NULL && pw == NULL && i < 2; i++)
		pw = getpwnam(defaults[i]);
	if (pw == NULL) {
		log_warnx("warn: queue-fs-proc: unknown queue user %s",
		    name ? name : "(_smtpq or opensmtpq)");
		return -1;
	}
	strlcpy(u->name, pw->pw_name, sizeof(u->name));
	u->uid = pw->pw_uid;
	u->gid = pw->pw_gid;
	return 0;
}

void
spool_rules(struct spool_rules *r, const struct spool_user *u,
    int privileged)
{
	r->privileged = privileged;
	if (privileged) {
		r->uid = u->uid;
		r->gid = u->gid;
		r->top_gid = 0;
	} else {
		r->uid = geteuid();
		r->gid = getegid();
		r->top_gid = (gid_t)-1;
	}
}

/*
 * What is wrong with an entry (lstat'ed) that must be owned by uid, and
 * gid unless it is -1, with the given mode, or any mode that is not
 * group or world writable when mode is 0.  SPOOL_NOT_DIR is for the
 * callers that want a directory.
 */
int
spool_faults(const struct stat *sb, uid_t uid, gid_t gid, mode_t mode)
{
	int	f = 0;

	if (!S_ISDIR(sb->st_mode))
		f |= SPOOL_NOT_DIR;
	if (sb->st_uid != uid)
		f |= SPOOL_BAD_UID;
	if (gid != (gid_t)-1 && sb->st_gid != gid)
		f |= SPOOL_BAD_GID;
	if (sb->st_mode & 022)
		f |= SPOOL_WRITABLE;
	if (mode != 0 && (sb->st_mode & 07777) != mode)
		f |= SPOOL_BAD_MODE;
	return f;
}

/* The spool itself: root's (or, unprivileged, the user's own). */
int
spool_root_faults(const struct stat *sb, const struct spool_rules *r)
{
	int	f = spool_faults(sb, 0, (gid_t)-1, 0);

	if (!r->privileged && sb->st_uid == r->uid)
		f &= ~SPOOL_BAD_UID;
	return f;
}

/* purge/, queue/, incoming/, corrupt/. */
int
spool_top_faults(const struct stat *sb, const struct spool_rules *r)
{
	return spool_faults(sb, r->uid, r->top_gid, SPOOL_DIR_MODE);
}

/*
 * Make one of the spool's directories: 1 when made, 0 when it was
 * there, -1 when mkdir failed and -2 when its owner or mode could not
 * be set (errno says why).
 */
int
spool_make_dir(int spool_fd, const char *name, const struct spool_rules *r)
{
	if (mkdirat(spool_fd, name, SPOOL_DIR_MODE) == -1)
		return errno == EEXIST ? 0 : -1;
	if (r->privileged && fchownat(spool_fd, name, r->uid, r->top_gid,
	    AT_SYMLINK_NOFOLLOW) == -1)
		return -2;
	if (fchmodat(spool_fd, name, SPOOL_DIR_MODE, 0) == -1)
		return -2;
	return 1;
}

/* Insist on the rules for the spool (top = 0) or one of its directories. */
static int
spool_check_dir(int parent, const char *name, const char *path, int top,
    const struct spool_rules *r)
{
	struct stat	sb;
	int		f;

	if (fstatat(parent, name, &sb, AT_SYMLINK_NOFOLLOW) == -1) {
		log_warn("warn: queue-fs-proc: %s", path);
		return -1;
	}
	f = top ? spool_top_faults(&sb, r) : spool_root_faults(&sb, r);
	if (f & SPOOL_NOT_DIR)
		log_warnx("warn: queue-fs-proc: %s must be a directory, not a "
		    "symbolic link or file", path);
	else if ((f & (SPOOL_BAD_UID | SPOOL_BAD_GID)) && top)
		log_warnx("warn: queue-fs-proc: %s must be owned by uid %u "
		    "gid %u (is %u:%u)", path, (unsigned)r->uid,
		    (unsigned)r->top_gid, (unsigned)sb.st_uid,
		    (unsigned)sb.st_gid);
	else if (f & SPOOL_BAD_UID)
		log_warnx("warn: queue-fs-proc: %s must be owned by uid %u "
		    "(is %u)", path, r->privileged ? 0 : (unsigned)r->uid,
		    (unsigned)sb.st_uid);
	else if (f & SPOOL_WRITABLE)
		log_warnx("warn: queue-fs-proc: %s must not be group or world "
		    "writable", path);
	else if (f & SPOOL_BAD_MODE)
		log_warnx("warn: queue-fs-proc: %s must have mode %o (has %o)",
		    path, (unsigned)SPOOL_DIR_MODE,
		    (unsigned)(sb.st_mode & 07777));
	return f == 0 ? 0 : -1;
}

/* Create a directory of the spool if missing, then insist it is right. */
static int
spool_ensure_dir(int spool, const char *spath, const char *name,
    const struct spool_rules *r)
{
	char	path[PATH_MAX];
	int	made;

	snprintf(path, sizeof(path), "%s/%s", spath, name);
	if ((made = spool_make_dir(spool, name, r)) == -1) {
		log_warn("warn: queue-fs-proc: mkdir %s", path);
		return -1;
	}
	if (made == -2) {
		log_warn("warn: queue-fs-proc: chown or chmod %s", path);
		return -1;
	}
	return spool_check_dir(spool, name, path, 1, r);
}

/*
 * Move what incoming/ holds, the unfinished messages of the previous
 * run, into purge/, where smtpd removes it.  The built-in queue renames
 * incoming/ itself and makes a new one; moving the entries instead
 * needs no new inode, so a full file system cannot stop the start.
 *
 * Called after the log's replay (store_start_log()), never before: a
 * power failure can leave a committed body kept in place in incoming/
 * (store_log_commit()), and the replay moves it into queue/.  What is
 * left is a message whose commit was never answered.  Called as the
 * queue user, who owns incoming/ and purge/; spath names the spool in
 * messages.
 */
int
spool_purge_incoming(int spool, const char *spath)
{
	struct layout_purge	 dest;
	struct dirent		*dp;
	DIR			*dir;
	int			 ifd, pfd, i, r, moved = 0, ret = 0;

	if ((pfd = sio_open_dir(spool, LAYOUT_PURGE)) == -1)
		return -1;
	if ((dir = sio_opendir(spool, LAYOUT_INCOMING)) == NULL) {
		close(pfd);
		return -1;
	}
	ifd = dirfd(dir);
	while ((dp = readdir(dir)) != NULL) {
		if (layout_is_dot(dp->d_name))
			continue;
		for (i = 0, r = -1; i < 20 && r == -1; i++) {
			r = renameat2(ifd, dp->d_name, pfd,
			    layout_purge(dp->d_name, arc4random(), &dest),
			    RENAME_NOREPLACE);
			if (r == -1 && errno != EEXIST)
				break;
		}
		if (r == -1) {
			log_warn("warn: queue-fs-proc: cannot move "
			    "%s/incoming/%s to purge/", spath, dp->d_name);
			ret = -1;
		} else
			moved++;
	}
	closedir(dir);
	close(pfd);
	if (moved)
		log_info("info: queue-fs-proc: moved %d unfinished item(s) of "
		    "incoming/ to purge/", moved);
	return ret;
}

/*
 * Returns an fd of the checked spool (the rules: see spool_rules in
 * spool.h).
 */
int
spool_prepare(const char *path, const struct spool_user *u, int privileged)
{
	struct spool_rules	r;
	char			spool[PATH_MAX];
	size_t			len;
	int			fd;

	spool_rules(&r, u, privileged);
	/* "link/" would resolve the link: check the name itself */
	if ((len = strlcpy(spool, path, sizeof(spool))) >= sizeof(spool)) {
		log_warnx("warn: queue-fs-proc: spool path too long");
		return -1;
	}
	while (len > 1 && spool[len - 1] == '/')
		spool[--len] = '\0';
	path = spool;
	if (spool_check_dir(AT_FDCWD, path, path, 0, &r) == -1)
		return -1;
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		log_warn("warn: queue-fs-proc: %s", path);
		return -1;
	}
	if (spool_ensure_dir(fd, path, LAYOUT_PURGE, &r) == -1 ||
	    spool_ensure_dir(fd, path, LAYOUT_QUEUE, &r) == -1 ||
	    spool_ensure_dir(fd, path, LAYOUT_INCOMING, &r) == -1 ||
	    spool_ensure_dir(fd, path, LAYOUT_WAL, &r) == -1 ||
	    spool_ensure_dir(fd, path, LAYOUT_CORRUPT, &r) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

int
spool_chroot(int spool_fd, const char *path)
{
	if (fchdir(spool_fd) == -1 || chroot(".") == -1 || chdir("/") == -1) {
		log_warn("warn: queue-fs-proc: chroot %s", path);
		return -1;
	}
	return 0;
}

/* Become the queue user, irrevocably. */
int
spool_drop(const struct spool_user *u)
{
	if (setgroups(1, &u->gid) == -1 ||
	    setresgid(u->gid, u->gid, u->gid) == -1 ||
	    setresuid(u->uid, u->uid, u->uid) == -1) {
		log_warn("warn: queue-fs-proc: cannot drop to user %s", u->name);
		return -1;
	}
	if (setuid(0) != -1 || getuid() != u->uid || geteuid() != u->uid) {
		log_warnx("warn: queue-fs-proc: could regain root, refusing "
		    "to run");
		return -1;
	}
	return 0;
}

/*
 * Does the spool's file system journal its metadata in order, so that
 * committing the journal up to one change commits every earlier one
 * (store_log_commit() relies on it for bodies kept in place)?  xfs
 * always does; ext4 when it has a journal, which shows as
 * /proc/fs/jbd2/DEV-8 (ext2 and ext4 without a journal do not: same
 * magic).  Anything else: no.  Asked before the chroot (/proc, /sys).
 */
int
spool_journaled(int spool_fd)
{
	struct statfs	sf;
	struct stat	sb;
	char		link[PATH_MAX], path[PATH_MAX + 32], *dev;
	ssize_t		n;

	if (fstatfs(spool_fd, &sf) == -1 || fstat(spool_fd, &sb) == -1)
		return 0;
	if (sf.f_type == XFS_SUPER_MAGIC)
		return 1;
	if (sf.f_type != EXT4_SUPER_MAGIC)
		return 0;
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u",
	    major(sb.st_dev), minor(sb.st_dev));
	if ((n = readlink(path, link, sizeof(link) - 1)) == -1)
		return 0;
	link[n] = '\0';
	dev = strrchr(link, '/') ? strrchr(link, '/') + 1 : link;
	snprintf(path, sizeof(path), "/proc/fs/jbd2/%s-8", dev);
	return access(path, F_OK) == 0;
}
