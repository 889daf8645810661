/*
 * Symlink-safe opens, whole-file reads and full writes: see safeio.h.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include <linux/openat2.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "safeio.h"

int
sio_open_beneath(int dirfd, const char *path, int flags, mode_t mode)
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

int
sio_open_dir(int dirfd, const char *path)
{
	return sio_open_beneath(dirfd, path, O_RDONLY | O_DIRECTORY, 0);
}

/* A directory stream of dirfd/path; NULL with errno on failure. */
DIR *
sio_opendir(int dirfd, const char *path)
{
	DIR	*d;
	int	 fd, saved;

	if ((fd = sio_open_dir(dirfd, path)) == -1)
		return NULL;
	if ((d = fdopendir(fd)) == NULL) {
		saved = errno;
		close(fd);
		errno = saved;
	}
	return d;
}

/*
 * A stream of the directory dfd with an offset of its own: a dup()
 * would share, and move, the caller's directory offset.
 */
DIR *
sio_reopendir(int dfd)
{
	return sio_opendir(dfd, ".");
}

/*
 * Open a regular file for reading.  O_NONBLOCK keeps a planted FIFO from
 * blocking the open; anything but a regular file is refused (EFTYPE is
 * not Linux's, so EINVAL).
 */
int
sio_open_regular(int dirfd, const char *path)
{
	struct stat	sb;
	int		fd;

	if ((fd = sio_open_beneath(dirfd, path, O_RDONLY | O_NONBLOCK,
	    0)) == -1)
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
 * Create dirfd/name for writing, mode 0600: a new file when excl is set
 * (EEXIST if there is one), else truncated.  name is one component, so
 * O_NOFOLLOW is all it takes.
 */
int
sio_create(int dirfd, const char *name, int excl)
{
	return openat(dirfd, name, O_WRONLY | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC | (excl ? O_EXCL : O_TRUNC), 0600);
}

/*
 * Read the whole regular file dirfd/path into buf.  Returns its length,
 * or -1 with errno: ENOENT, ELOOP (a symlink), EINVAL (not a regular
 * file), ENODATA (empty), EFBIG (larger than size), or an I/O error.
 */
ssize_t
sio_read_file(int dirfd, const char *path, char *buf, size_t size)
{
	size_t	got = 0;
	ssize_t	n;
	char	extra;
	int	fd, saved;

	if ((fd = sio_open_regular(dirfd, path)) == -1)
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
sio_write_all(int fd, const void *buf, size_t len)
{
	const char	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * fsync(), fdatasync() or syncfs() of fd; what names it in the message.
 * One that fails stops the process, as PostgreSQL does: the kernel
 * reports a writeback error once per open file, and may have dropped
 * the pages it could not write, so a retry can "succeed" over lost data
 * ("fsyncgate").  Nothing is answered after it; the next start replays
 * the log, which holds everything acknowledged.
 */
void
sio_barrier(int fd, enum sio_barrier how, const char *what)
{
	static const char *const name[] = { "fsync", "fdatasync", "syncfs" };
	int	r;

	if (how == SIO_FSYNC)
		r = fsync(fd);
	else if (how == SIO_FDATASYNC)
		r = fdatasync(fd);
	else
		r = syncfs(fd);
	if (r == -1)
		fatal("fatal: queue-fs-proc: %s of %s failed: stopping, the "
		    "next start replays the log", name[how], what);
}
