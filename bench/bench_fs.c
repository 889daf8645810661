/*
 * qfp-bench: the fresh ext4 its spools live on (see README).
 */
#include <sys/types.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

/*
 * A fresh, journaled ext4 (mkfs.ext4 defaults: data=ordered) on a loop
 * device, mounted in a private mount namespace that dies with us: the
 * spools never share a file system's history (inode allocation on a
 * journal-less ext4 slows down with every file deleted in the last
 * minutes, see README) and a crash leaves no mount behind.
 */
static int
run_cmd(const char *cmd)
{
	int	st = system(cmd);

	return st == -1 || !WIFEXITED(st) ? -1 : WEXITSTATUS(st);
}

void
fresh_fs(void)
{
	char	img[256], cmd[2048];
	long	gb = opt.fs_gb ? opt.fs_gb : (opt.walk_n > 200000 ? 16 : 4);
	long	inodes = 4 * opt.walk_n + 200000;
	int	fd;

	if (unshare(CLONE_NEWNS) == -1 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1)
		die("private mount namespace: %s", strerror(errno));
	snprintf(img, sizeof(img), "%s/qfp-bench-fs.XXXXXX", opt.tmpdir);
	if ((fd = mkstemp(img)) == -1)
		die("mkstemp %s: %s", img, strerror(errno));
	if (ftruncate(fd, (off_t)gb << 30) == -1)
		die("ftruncate %s: %s", img, strerror(errno));
	close(fd);
	snprintf(fs_mnt, sizeof(fs_mnt), "%s/qfp-bench-mnt.XXXXXX",
	    opt.tmpdir);
	if (mkdtemp(fs_mnt) == NULL)
		die("mkdtemp %s: %s", fs_mnt, strerror(errno));
	/*
	 * Direct I/O on the loop device: its backing file is not cached a
	 * second time (a 1M-envelope spool fits in the page cache once,
	 * not twice) and a flush costs what the disk's does.  noatime: a
	 * walk must not write.
	 */
	snprintf(cmd, sizeof(cmd), "mkfs.ext4 -q -F -N %ld -E "
	    "lazy_itable_init=1,lazy_journal_init=1 %s && "
	    "mount -o loop,noinit_itable,noatime %s %s && "
	    "{ losetup --direct-io=on \"$(findmnt -n -o SOURCE %s)\" || "
	    "echo '# (loop device without direct I/O)' >&2; }", inodes, img,
	    img, fs_mnt, fs_mnt);
	if (run_cmd(cmd) != 0) {
		unlink(img);
		rmdir(fs_mnt);
		die("cannot make a fresh ext4 (%s); --rootfs works without",
		    cmd);
	}
	unlink(img);		/* the loop device holds it until umount */
	progress("fresh ext4 (%ld GB, %ld inodes, journaled, noatime, loop "
	    "with direct I/O) on %s", gb, inodes, fs_mnt);
	opt.tmpdir = fs_mnt;
}

void
fresh_fs_done(void)
{
	if (fs_mnt[0] == '\0')
		return;
	if (umount(fs_mnt) == -1)
		progress("umount %s: %s", fs_mnt, strerror(errno));
	rmdir(fs_mnt);
}
