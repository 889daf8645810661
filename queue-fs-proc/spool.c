/*
 * Spool set-up and privilege drop.  Facts kept from the built-in queue
 * (queue_fs.c, util.c): queue/ and incoming/ are owned by the queue user
 * and group 0 with mode 0700, the spool itself by root; what incoming/
 * holds at start goes to purge/, since unfinished messages die with the
 * process that received them.
 */
#include <sys/types.h>
#include <sys/stat.h>

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

#include "log.h"
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

static int
check_dir(int parent, const char *name, const char *path, uid_t uid,
    gid_t gid, mode_t mode)
{
	struct stat	sb;

	if (fstatat(parent, name, &sb, AT_SYMLINK_NOFOLLOW) == -1) {
		log_warn("warn: queue-fs-proc: %s", path);
		return -1;
	}
	if (S_ISLNK(sb.st_mode) || !S_ISDIR(sb.st_mode)) {
		log_warnx("warn: queue-fs-proc: %s must be a directory, not a "
		    "symbolic link or file", path);
		return -1;
	}
	if (sb.st_uid != uid || (gid != (gid_t)-1 && sb.st_gid != gid)) {
		log_warnx("warn: queue-fs-proc: %s must be owned by uid %u "
		    "gid %u (is %u:%u)", path, (unsigned)uid, (unsigned)gid,
		    (unsigned)sb.st_uid, (unsigned)sb.st_gid);
		return -1;
	}
	if (sb.st_mode & 022) {
		log_warnx("warn: queue-fs-proc: %s must not be group or world "
		    "writable", path);
		return -1;
	}
	if (mode && (sb.st_mode & 07777) != mode) {
		log_warnx("warn: queue-fs-proc: %s must have mode %o (has %o)",
		    path, (unsigned)mode, (unsigned)(sb.st_mode & 07777));
		return -1;
	}
	return 0;
}

/* Create dir (owner uid:gid, 0700) if missing, then insist it is right. */
static int
ensure_dir(int spool, const char *spath, const char *name, uid_t uid,
    gid_t gid, int privileged)
{
	char	path[1024];

	snprintf(path, sizeof(path), "%s/%s", spath, name);
	if (mkdirat(spool, name, 0700) == 0) {
		if (privileged && fchownat(spool, name, uid, gid,
		    AT_SYMLINK_NOFOLLOW) == -1) {
			log_warn("warn: queue-fs-proc: chown %s", path);
			return -1;
		}
		if (fchmodat(spool, name, 0700, 0) == -1)
			return -1;
	} else if (errno != EEXIST) {
		log_warn("warn: queue-fs-proc: mkdir %s", path);
		return -1;
	}
	return check_dir(spool, name, path, uid, gid, 0700);
}

/*
 * Move what incoming/ holds, the unfinished messages of the previous
 * run, into purge/, where smtpd removes it.  The built-in queue renames
 * incoming/ itself and makes a new one; moving the entries instead
 * needs no new inode, so a full file system cannot stop the start.
 */
static int
purge_incoming(int spool, const char *spath)
{
	struct dirent	*dp;
	DIR		*dir;
	char		 dest[300];
	int		 ifd, pfd, i, r, moved = 0, ret = 0;

	if ((pfd = openat(spool, "purge", O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1)
		return -1;
	if ((ifd = openat(spool, "incoming", O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1 || (dir = fdopendir(ifd)) == NULL) {
		if (ifd != -1)
			close(ifd);
		close(pfd);
		return -1;
	}
	while ((dp = readdir(dir)) != NULL) {
		if (strcmp(dp->d_name, ".") == 0 || strcmp(dp->d_name, "..") == 0)
			continue;
		for (i = 0, r = -1; i < 20 && r == -1; i++) {
			snprintf(dest, sizeof(dest), "incoming.%u.%.255s",
			    arc4random(), dp->d_name);
			r = renameat2(ifd, dp->d_name, pfd, dest,
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
 * Returns an fd of the checked spool.  Unprivileged (tests by hand) the
 * directories must belong to the user running the daemon instead.
 */
int
spool_prepare(const char *path, const struct spool_user *u, int privileged)
{
	uid_t	uid = privileged ? u->uid : geteuid();
	gid_t	gid = privileged ? 0 : getegid();
	char	spool[PATH_MAX];
	size_t	len;
	int	fd;

	/* "link/" would resolve the link: check the name itself */
	if ((len = strlcpy(spool, path, sizeof(spool))) >= sizeof(spool)) {
		log_warnx("warn: queue-fs-proc: spool path too long");
		return -1;
	}
	while (len > 1 && spool[len - 1] == '/')
		spool[--len] = '\0';
	path = spool;
	if (check_dir(AT_FDCWD, path, path, privileged ? 0 : uid,
	    (gid_t)-1, 0) == -1)
		return -1;
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		log_warn("warn: queue-fs-proc: %s", path);
		return -1;
	}
	if (ensure_dir(fd, path, "purge", uid, gid, privileged) == -1 ||
	    ensure_dir(fd, path, "queue", uid, gid, privileged) == -1 ||
	    ensure_dir(fd, path, "incoming", uid, gid, privileged) == -1 ||
	    purge_incoming(fd, path) == -1 ||
	    ensure_dir(fd, path, "corrupt", uid, gid, privileged) == -1) {
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
