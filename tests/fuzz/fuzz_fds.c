/* File descriptor accounting shared by the fuzz harnesses. */
#include <sys/types.h>
#include <sys/syscall.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_fds.h"

#define MAX_FD_PROBE	256

static void
list_fds(void)
{
	char	link[64], target[256];
	ssize_t	n;
	int	fd;

	for (fd = 0; fd < MAX_FD_PROBE; fd++) {
		if (fcntl(fd, F_GETFD) == -1)
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		if ((n = readlink(link, target, sizeof(target) - 1)) == -1)
			n = 0;
		target[n] = '\0';
		fprintf(stderr, "  fd %d -> %s\n", fd, target);
	}
}

/* Open fds, from /proc/self/fd: a few system calls, not MAX_FD_PROBE. */
int
fuzz_fd_count(void)
{
	char	buf[8192];
	long	n, off;
	int	dfd, count = 0;

	if ((dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		abort();
	while ((n = syscall(SYS_getdents64, dfd, buf, sizeof(buf))) > 0)
		for (off = 0; off < n;) {
			unsigned short reclen;

			memcpy(&reclen, buf + off + 16, sizeof(reclen));
			if (buf[off + 19] != '.')
				count++;
			off += reclen;
		}
	close(dfd);
	return count - 1;	/* not dfd itself */
}

void
fuzz_fd_check(const char *harness, int baseline)
{
	int	n;

	if ((n = fuzz_fd_count()) == baseline)
		return;
	fprintf(stderr, "%s: fd leak: %d open, %d before\n", harness, n,
	    baseline);
	list_fds();
	abort();
}
