/*
 * blkfuse: a FUSE file system of one file, /disk, the image of a disk
 * kept in memory, that records every write and every flush it gets,
 * in arrival order, to a trace file.  A loop device on /disk is the
 * spool's disk in tests/powercut (see README there).
 *
 *	blkfuse TRACE SIZE-MB MOUNTPOINT
 *
 * Trace records: struct rec, then len bytes of data for a write.
 * Each record carries the CLOCK_MONOTONIC time of its arrival.
 *
 * The file is opened with direct_io: the kernel keeps no page cache
 * for it, so each write of the loop device is a request here before
 * it completes, and the fsync() the loop device makes for a block
 * layer flush comes after every write completed before that flush.
 * The loop is single-threaded (-s): requests are handled, and
 * recorded, one at a time in the order they are read.
 */
#define FUSE_USE_VERSION 31

#include <sys/stat.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* record types */
#define REC_WRITE	'W'	/* data follows */
#define REC_ZERO	'Z'	/* fallocate: the range reads as zeros */
#define REC_FSYNC	'S'	/* fsync: the block layer's flush */
#define REC_CLOSE	'C'	/* flush on close(): not a barrier */

struct rec {
	uint32_t	type;
	uint32_t	len;
	uint64_t	off;
	uint64_t	ns;
};

static unsigned char	*image;
static off_t		 image_size;
static int		 trace_fd = -1;

/*
 * Append one record.  A trace that cannot be written is no trace:
 * exit, so the test sees the disk fail rather than a short trace.
 */
static void
trace(uint32_t type, off_t off, size_t len, const void *data)
{
	struct timespec	ts;
	struct rec	r = { type, (uint32_t)len, (uint64_t)off, 0 };
	struct iovec	iov[2] = {
		{ &r, sizeof(r) },
		{ (void *)(uintptr_t)data, data != NULL ? len : 0 }
	};
	size_t		want = iov[0].iov_len + iov[1].iov_len;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	r.ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	if (writev(trace_fd, iov, 2) != (ssize_t)want) {
		perror("blkfuse: trace");
		_exit(1);
	}
}

static int
bf_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	memset(st, 0, sizeof(*st));
	if (strcmp(path, "/") == 0) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
	} else if (strcmp(path, "/disk") == 0) {
		st->st_mode = S_IFREG | 0600;
		st->st_nlink = 1;
		st->st_size = image_size;
		st->st_blksize = 4096;
		st->st_blocks = image_size / 512;
	} else
		return -ENOENT;
	return 0;
}

static int
bf_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
    struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	if (strcmp(path, "/") != 0)
		return -ENOENT;
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
	fill(buf, "disk", NULL, 0, 0);
	return 0;
}

static int
bf_open(const char *path, struct fuse_file_info *fi)
{
	if (strcmp(path, "/disk") != 0)
		return -ENOENT;
	fi->direct_io = 1;	/* no page cache: see the top */
	fi->keep_cache = 0;
	return 0;
}

/* Clamp [off, off + *len) to the image; 0 past its end. */
static int
bf_range(off_t off, size_t *len)
{
	if (off < 0 || off > image_size)
		return -EINVAL;
	if ((off_t)*len > image_size - off)
		*len = (size_t)(image_size - off);
	return 0;
}

static int
bf_read(const char *path, char *buf, size_t len, off_t off,
    struct fuse_file_info *fi)
{
	if (bf_range(off, &len) != 0)
		return -EINVAL;
	memcpy(buf, image + off, len);
	return (int)len;
}

static int
bf_write(const char *path, const char *buf, size_t len, off_t off,
    struct fuse_file_info *fi)
{
	if (off + (off_t)len > image_size)
		return -ENOSPC;
	trace(REC_WRITE, off, len, buf);
	memcpy(image + off, buf, len);
	return (int)len;
}

/* Discard and zeroing by the loop device: the range reads as zeros. */
static int
bf_fallocate(const char *path, int mode, off_t off, off_t len,
    struct fuse_file_info *fi)
{
	size_t	n = (size_t)len;

	if ((mode & FALLOC_FL_KEEP_SIZE) == 0 && off + len > image_size)
		return -EOPNOTSUPP;
	if (bf_range(off, &n) != 0)
		return -EINVAL;
	trace(REC_ZERO, off, n, NULL);
	memset(image + off, 0, n);
	return 0;
}

static int
bf_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	trace(REC_FSYNC, 0, 0, NULL);
	return 0;
}

static int
bf_flush(const char *path, struct fuse_file_info *fi)
{
	trace(REC_CLOSE, 0, 0, NULL);
	return 0;
}

static const struct fuse_operations bf_ops = {
	.getattr = bf_getattr,
	.readdir = bf_readdir,
	.open = bf_open,
	.read = bf_read,
	.write = bf_write,
	.fallocate = bf_fallocate,
	.fsync = bf_fsync,
	.flush = bf_flush,
};

int
main(int argc, char *argv[])
{
	char	*fargv[] = { argv[0], "-f", "-s", "-o", "fsname=blkfuse",
		    argv[argc - 1], NULL };
	long	 mb;

	if (argc != 4 || (mb = strtol(argv[2], NULL, 10)) <= 0 || mb > 4096) {
		fprintf(stderr, "usage: blkfuse TRACE SIZE-MB MOUNTPOINT\n");
		return 2;
	}
	image_size = (off_t)mb << 20;
	if ((image = calloc(1, (size_t)image_size)) == NULL) {
		perror("blkfuse: image");
		return 1;
	}
	trace_fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_APPEND,
	    0600);
	if (trace_fd == -1) {
		perror(argv[1]);
		return 1;
	}
	return fuse_main(6, fargv, &bf_ops, NULL);
}
