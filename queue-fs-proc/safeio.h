/*
 * Opens, reads and writes that follow no symbolic link, on plain
 * directory fds.  Paths are resolved beneath a directory fd with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), or, on kernels before
 * 5.6, with O_NOFOLLOW on the last component (the daemon is chrooted
 * into the spool then, so a link cannot lead out of it).  Every fd made
 * here is close-on-exec.
 */
#ifndef QFP_SAFEIO_H
#define QFP_SAFEIO_H

#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <stddef.h>

int	sio_open_beneath(int dirfd, const char *path, int flags, mode_t);
int	sio_open_dir(int dirfd, const char *path);
DIR	*sio_opendir(int dirfd, const char *path);
DIR	*sio_reopendir(int dfd);
int	sio_open_regular(int dirfd, const char *path);
int	sio_create(int dirfd, const char *name, int excl);
ssize_t	sio_read_file(int dirfd, const char *path, char *buf,
	    size_t size);
int	sio_write_all(int fd, const void *buf, size_t len);

/* Write barriers: one that fails stops the process (sio_barrier()). */
enum sio_barrier { SIO_FSYNC, SIO_FDATASYNC, SIO_SYNCFS };

void	sio_barrier(int fd, enum sio_barrier, const char *what);

#endif
