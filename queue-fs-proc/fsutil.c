/*
 * File system helpers shared by the store, the walk and the spool check.
 * Nothing here follows a symbolic link: paths are resolved beneath a
 * directory fd with openat2(RESOLVE_NO_SYMLINKS), or, on kernels before
 * 5.6, with O_NOFOLLOW on the last component (the daemon is chrooted
 * into the spool then, so a link cannot lead out of it).
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include <linux/openat2.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "store.h"

static int
open_beneath(int dirfd, const char *path, int flags, mode_t mode)
{
	static int	 have_openat2 = 1;
	struct open_how	 how;
	int		 fd;

	flags |= O_CLOEXEC | O_NOFOLLOW;
	if (have_openat2) {
		memset(&how, 0, sizeof(how));
		how.flags = (uint64_t)flags;
		how.mode = (flags & O_CREAT) ? mode : 0;
		how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
		    RESOLVE_NO_MAGICLINKS;
		fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
		if (fd != -1 || errno != ENOSYS)
			return fd;
		have_openat2 = 0;
	}
	return openat(dirfd, path, flags, mode);
}

void
msgdir_name(uint32_t msgid, char buf[STORE_MSGDIR_LEN])
{
	snprintf(buf, STORE_MSGDIR_LEN, "%02x/%08x", msgid >> 24, msgid);
}

void
evp_name(uint64_t evpid, char buf[STORE_EVPNAME_LEN])
{
	snprintf(buf, STORE_EVPNAME_LEN, "%016llx", (unsigned long long)evpid);
}

/* Exactly len lowercase hex digits, as every name in queue/ is made of. */
int
is_hex_name(const char *name, size_t len)
{
	return strlen(name) == len &&
	    strspn(name, "0123456789abcdef") == len;
}

/* An envelope file name: 16 lowercase hex digits, the first 8 = msgid. */
int
is_evp_name(const char *name, uint32_t msgid)
{
	char	want[9];

	if (!is_hex_name(name, 16))
		return 0;
	snprintf(want, sizeof(want), "%08x", msgid);
	return memcmp(name, want, 8) == 0 && strcmp(name + 8, "00000000") != 0;
}

/* Does the message directory still hold an envelope? */
int
has_envelopes(int dfd, uint32_t msgid)
{
	struct dirent	*dp;
	DIR		*dir;
	int		 fd, found = 0;

	/* a dup() would share, and move, the caller's directory offset */
	fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || (dir = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	while (!found && (dp = readdir(dir)) != NULL)
		found = is_evp_name(dp->d_name, msgid);
	closedir(dir);
	return found;
}

int
open_dir(int dirfd, const char *path)
{
	return open_beneath(dirfd, path, O_RDONLY | O_DIRECTORY, 0);
}

/*
 * Open a regular file for reading.  O_NONBLOCK keeps a planted FIFO from
 * blocking the open; anything but a regular file is refused (EFTYPE is
 * not Linux's, so EINVAL).
 */
int
open_regular(int dirfd, const char *path)
{
	struct stat	sb;
	int		fd;

	if ((fd = open_beneath(dirfd, path, O_RDONLY | O_NONBLOCK, 0)) == -1)
		return -1;
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    fcntl(fd, F_SETFL, 0) == -1) {
		if (!S_ISREG(sb.st_mode))
			errno = EINVAL;
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Read the whole envelope file dirfd/path into buf.  Returns its length,
 * or -1 with errno: ENOENT, ELOOP (a symlink), EINVAL (not a regular
 * file), ENODATA (empty), EFBIG (larger than size), or an I/O error.
 */
ssize_t
load_envelope(int dirfd, const char *path, char *buf, size_t size)
{
	size_t	got = 0;
	ssize_t	n;
	char	extra;
	int	fd, saved;

	if ((fd = open_regular(dirfd, path)) == -1)
		return -1;
	for (;;) {
		/* one byte past size tells "too large" from "exactly size" */
		struct iovec iov[2] = {
			{ buf + got, size - got }, { &extra, 1 }
		};

		if ((n = readv(fd, iov, 2)) == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got > size) {
			n = -1;
			errno = EFBIG;
			break;
		}
	}
	saved = errno;
	close(fd);
	errno = saved;
	if (n == -1)
		return -1;
	if (got == 0) {
		errno = ENODATA;
		return -1;
	}
	return (ssize_t)got;
}

int
store_sync_fd(struct store *s, int fd)
{
	if (s->sync == STORE_SYNC_NONE)
		return 0;
	s->nsync++;
	return fsync(fd);
}

/*
 * Remove a message directory: envelopes first, then the message, then
 * the directory, so an interruption leaves at worst a message without
 * envelopes, which the walk finishes removing.
 */
int
msgdir_remove(struct store *s, int parent_fd, const char *name)
{
	struct dirent	*dp;
	DIR		*dir;
	int		 dfd, ret = 0;

	if ((dfd = open_dir(parent_fd, name)) == -1)
		return -1;
	if ((dir = fdopendir(dfd)) == NULL) {
		close(dfd);
		return -1;
	}
	while ((dp = readdir(dir)) != NULL) {
		if (strcmp(dp->d_name, ".") == 0 ||
		    strcmp(dp->d_name, "..") == 0 ||
		    strcmp(dp->d_name, "message") == 0)
			continue;
		if (unlinkat(dfd, dp->d_name, 0) == -1 && errno != ENOENT) {
			log_warn("warn: queue-fs-proc: unlink %s/%s", name,
			    dp->d_name);
			ret = -1;
		}
	}
	if (unlinkat(dfd, "message", 0) == -1 && errno != ENOENT) {
		log_warn("warn: queue-fs-proc: unlink %s/message", name);
		ret = -1;
	}
	closedir(dir);
	if (unlinkat(parent_fd, name, AT_REMOVEDIR) == -1) {
		log_warn("warn: queue-fs-proc: rmdir %s", name);
		return -1;
	}
	if (store_sync_fd(s, parent_fd) == -1)
		ret = -1;
	return ret;
}

/*
 * Move a broken message directory into corrupt/ (never delete mail that
 * might be someone's only copy); the name gets a suffix if taken.
 */
int
msgdir_quarantine(struct store *s, int parent_fd, const char *name)
{
	char	dest[64];
	int	i;

	if (s->corrupt_fd == -1) {
		log_warnx("warn: queue-fs-proc: no corrupt/ directory, "
		    "leaving %s in place", name);
		return -1;
	}
	for (i = 0; i < 100; i++) {
		if (i == 0)
			snprintf(dest, sizeof(dest), "%s", name);
		else
			snprintf(dest, sizeof(dest), "%s.%d", name, i);
		if (renameat2(parent_fd, name, s->corrupt_fd, dest,
		    RENAME_NOREPLACE) == 0) {
			log_warnx("warn: queue-fs-proc: moved %s to corrupt/%s",
			    name, dest);
			if (store_sync_fd(s, s->corrupt_fd) == -1)
				return -1;
			return 0;
		}
		if (errno != EEXIST)
			break;
	}
	log_warn("warn: queue-fs-proc: cannot move %s to corrupt/", name);
	return -1;
}
