/*
 * Helpers shared by the unit tests (see unit_util.h).  Failures inside
 * a helper fail the calling test through cmocka's assertions.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "imsg.h"
#include "qfp_test.h"
#include "unit_util.h"


void
xsocketpair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
}

void
xpipe(int p[2])
{
	assert_int_equal(pipe(p), 0);
}

int
xopen_null(void)
{
	int	fd;

	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

void
send_raw_fds(int s, const void *buf, size_t len, const int *fds, int nfds)
{
	assert_true(nfds >= 0 && nfds <= QT_MAXFDS);
	/* Small messages on an idle socketpair go out whole, in one skb. */
	assert_int_equal(qt_send_fds(s, buf, len, fds, nfds), (ssize_t)len);
}

void
send_raw(int s, const void *buf, size_t len, int fd)
{
	send_raw_fds(s, buf, len, &fd, fd == -1 ? 0 : 1);
}

void
recv_raw(int s, void *buf, size_t len, int *fd)
{
	assert_int_equal(qt_recv(s, buf, len, fd), (ssize_t)len);
}

int
nothing_pending(int s)
{
	char	c;

	return recv(s, &c, 1, MSG_DONTWAIT | MSG_PEEK) == -1 &&
	    errno == EAGAIN;
}

void
mkhdr(unsigned char out[IMSG_HEADER_SIZE], uint32_t type, uint32_t v,
    uint32_t pid)
{
	uint32_t	zero = 0;

	memcpy(out, &type, 4);
	memcpy(out + 4, &v, 4);
	memcpy(out + 8, &zero, 4);
	memcpy(out + 12, &pid, 4);
}

void
mkhdr_a(unsigned char out[IMSG_HEADER_SIZE], uint32_t type, uint16_t len,
    uint16_t flags, uint32_t pid)
{
	mkhdr(out, type, 0, pid);
	memcpy(out + 4, &len, 2);
	memcpy(out + 6, &flags, 2);
}

void
mkhdr_d(unsigned char out[IMSG_HEADER_SIZE], enum imsg_dialect d,
    uint32_t type, uint32_t len, int hasfd, uint32_t pid)
{
	if (d == IMSG_DIALECT_B)
		mkhdr(out, type, len | (hasfd ? IMSG_FD_MARK : 0), pid);
	else
		mkhdr_a(out, type, (uint16_t)len, hasfd ? IMSGF_HASFD : 0,
		    pid);
}

int
get_one(struct imsgbuf *ib, struct imsg *imsg)
{
	int	r;

	while ((r = imsgbuf_get(ib, imsg)) == 0)
		if (imsgbuf_read(ib) <= 0)
			return 0;
	return r;
}

int
count_fds(void)
{
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	d = opendir("/proc/self/fd");
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* The kernel gives a received fd the lowest free number. */
int
lowest_free_fd(void)
{
	int	fd;

	fd = xopen_null();
	close(fd);
	return fd;
}

int
fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}

int
fd_is_cloexec(int fd)
{
	int	fl;

	return (fl = fcntl(fd, F_GETFD)) != -1 && (fl & FD_CLOEXEC);
}

int
same_file(int a, int b)
{
	struct stat	sa, sb;

	if (fstat(a, &sa) == -1 || fstat(b, &sb) == -1)
		return 0;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/*
 * A pipe's write end polls POLLERR once no process holds the read end:
 * the end-to-end proof that a passed fd was really closed.
 */
int
pipe_reader_gone(int wfd)
{
	struct pollfd	pfd = { .fd = wfd, .events = POLLOUT };

	return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLERR);
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

ssize_t
hex_decode(const char *hex, size_t hexlen, unsigned char **out)
{
	unsigned char	*b;
	size_t		 i;
	int		 hi, lo;

	if (hexlen % 2 != 0 || (b = malloc(hexlen / 2 + 1)) == NULL)
		return -1;
	for (i = 0; i < hexlen / 2; i++) {
		if ((hi = hexval(hex[2 * i])) == -1 ||
		    (lo = hexval(hex[2 * i + 1])) == -1) {
			free(b);
			return -1;
		}
		b[i] = (unsigned char)(hi << 4 | lo);
	}
	*out = b;
	return (ssize_t)(hexlen / 2);
}
