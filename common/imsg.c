/*
 * imsg framing for both dialects (see imsg.h).
 *
 * Where an fd belongs: the kernel hands an fd to the recvmsg() that
 * returns the first bytes of the sendmsg() that carried it, and a
 * stream recvmsg() never returns data past that sendmsg's, so the fd
 * belongs to a message that starts inside the chunk it came with.  Each
 * received fd is remembered with the stream offsets of its chunk; a
 * message that claims an fd takes the one whose chunk holds its first
 * byte, and an fd whose chunk has been parsed without a claim is closed.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "imsg.h"

void
imsgbuf_init(struct imsgbuf *ib, int fd, enum imsg_dialect dialect)
{
	memset(ib, 0, sizeof(*ib));
	ib->fd = fd;
	ib->dialect = dialect;
	ib->pid = (uint32_t)getpid();
}

const char *
imsg_dialect_name(enum imsg_dialect d)
{
	switch (d) {
	case IMSG_DIALECT_A:
		return "A";
	case IMSG_DIALECT_B:
		return "B";
	default:
		return "unknown";
	}
}

static void
rfd_drop_first(struct imsgbuf *ib)
{
	memmove(&ib->fds[0], &ib->fds[1], (ib->nfds - 1) * sizeof(ib->fds[0]));
	ib->nfds--;
}

/* Close fds whose chunk lies wholly before stream offset off. */
static void
rfd_close_before(struct imsgbuf *ib, uint64_t off)
{
	while (ib->nfds > 0 && ib->fds[0].end <= off) {
		close(ib->fds[0].fd);
		ib->stray_fds++;
		rfd_drop_first(ib);
	}
}

static int
rfd_claim(struct imsgbuf *ib, uint64_t off)
{
	int	fd;

	rfd_close_before(ib, off);
	if (ib->nfds == 0 || ib->fds[0].start > off)
		return -1;
	fd = ib->fds[0].fd;
	rfd_drop_first(ib);
	return fd;
}

static void
rfd_add(struct imsgbuf *ib, int fd, uint64_t start, uint64_t end)
{
	if (ib->nfds == IMSGBUF_MAXFDS) {
		close(fd);
		ib->stray_fds++;
		return;
	}
	ib->fds[ib->nfds].fd = fd;
	ib->fds[ib->nfds].start = start;
	ib->fds[ib->nfds].end = end;
	ib->nfds++;
}

static void
take_cmsg_fds(struct imsgbuf *ib, struct msghdr *msg, uint64_t start,
    uint64_t end)
{
	struct cmsghdr	*cm;
	size_t		 i, n;
	int		 fd;

	for (cm = CMSG_FIRSTHDR(msg); cm != NULL; cm = CMSG_NXTHDR(msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
			rfd_add(ib, fd, start, end);
		}
	}
}

/*
 * One recvmsg(): returns the number of bytes read, 0 at end of stream,
 * -1 with errno set (EAGAIN included).
 */
ssize_t
imsgbuf_read(struct imsgbuf *ib)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * IMSGBUF_MAXFDS)];
	} cmsgbuf;
	struct msghdr	 msg;
	struct iovec	 iov;
	ssize_t		 n;
	uint64_t	 start;

	if (ib->rpos > 0) {
		memmove(ib->rbuf, ib->rbuf + ib->rpos, ib->rlen - ib->rpos);
		ib->rlen -= ib->rpos;
		ib->rpos = 0;
	}
	if (ib->rlen == sizeof(ib->rbuf)) {
		errno = ENOBUFS;
		return -1;
	}

	memset(&msg, 0, sizeof(msg));
	iov.iov_base = ib->rbuf + ib->rlen;
	iov.iov_len = sizeof(ib->rbuf) - ib->rlen;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cmsgbuf.buf;
	msg.msg_controllen = sizeof(cmsgbuf.buf);

	do {
		n = recvmsg(ib->fd, &msg, MSG_CMSG_CLOEXEC);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;

	start = ib->roff + (ib->rlen - ib->rpos);
	take_cmsg_fds(ib, &msg, start, start + (uint64_t)n);
	/* at end of stream, buffered messages may still claim their fds */
	if (n == 0)
		ib->eof = 1;
	ib->rlen += (size_t)n;
	return n;
}

/*
 * Decode the u32 at offset 4 in either dialect: the length without its
 * fd mark, whether an fd travels, and which dialect said so.
 */
static int
decode_len(uint32_t v, uint32_t *len, int *hasfd, enum imsg_dialect *d)
{
	*hasfd = 0;
	*d = IMSG_DIALECT_UNKNOWN;
	if (v & IMSG_FD_MARK) {
		*len = v & ~IMSG_FD_MARK;
		*hasfd = 1;
		*d = IMSG_DIALECT_B;
	} else if (v > 0xffff) {
		/* Dialect A: u16 len, u16 flags (host order, little end). */
		if ((v >> 16) != IMSGF_HASFD)
			return -1;
		*len = v & 0xffff;
		*hasfd = 1;
		*d = IMSG_DIALECT_A;
	} else
		*len = v;
	if (*len < IMSG_HEADER_SIZE || *len > MAX_IMSGSIZE)
		return -1;
	return 0;
}

/*
 * Returns 1 and fills imsg when a whole message is buffered, 0 when more
 * bytes are needed, -1 (errno EBADMSG) on a malformed header or an fd
 * mark without an fd.
 */
int
imsgbuf_get(struct imsgbuf *ib, struct imsg *imsg)
{
	const unsigned char *p = ib->rbuf + ib->rpos;
	size_t		 avail = ib->rlen - ib->rpos;
	unsigned long	 strays;
	uint32_t	 v, len;
	int		 hasfd;
	enum imsg_dialect d;

	if (avail < IMSG_HEADER_SIZE) {
		rfd_close_before(ib, ib->eof ? UINT64_MAX : ib->roff);
		return 0;
	}
	memcpy(&v, p + 4, sizeof(v));
	if (decode_len(v, &len, &hasfd, &d) == -1) {
		errno = EBADMSG;
		return -1;
	}
	if (avail < len) {
		/* after end of stream an incomplete message never completes */
		rfd_close_before(ib, ib->eof ? UINT64_MAX : ib->roff);
		return 0;
	}

	memset(imsg, 0, sizeof(*imsg));
	memcpy(&imsg->hdr.type, p, 4);
	imsg->hdr.len = len;
	memcpy(&imsg->hdr.peerid, p + 8, 4);
	memcpy(&imsg->hdr.pid, p + 12, 4);
	imsg->data = p + IMSG_HEADER_SIZE;
	imsg->datalen = len - IMSG_HEADER_SIZE;
	imsg->fd = -1;
	if (hasfd) {
		if ((imsg->fd = rfd_claim(ib, ib->roff)) == -1) {
			errno = EBADMSG;
			return -1;
		}
		imsg->fd_dialect = d;
	}
	ib->rpos += len;
	ib->roff += len;
	/*
	 * An fd whose chunk ends within this message can no longer be
	 * claimed: it came with this message's sendmsg() without the
	 * header announcing it (or as a second fd).  Close it and say so.
	 */
	strays = ib->stray_fds;
	rfd_close_before(ib, ib->roff);
	imsg->unclaimed_fd = ib->stray_fds != strays;
	return 1;
}

/* Drop buffered bytes and close any fd not yet claimed. */
void
imsgbuf_clear(struct imsgbuf *ib)
{
	rfd_close_before(ib, UINT64_MAX);
	ib->roff += ib->rlen - ib->rpos;
	ib->rpos = ib->rlen = 0;
}

size_t
imsg_hdr_encode(enum imsg_dialect d, uint32_t type, size_t len, uint32_t pid,
    int hasfd, unsigned char out[IMSG_HEADER_SIZE])
{
	uint32_t	v, zero = 0;
	uint16_t	len16, flags;

	memcpy(out, &type, 4);
	if (d == IMSG_DIALECT_B) {
		v = (uint32_t)len | (hasfd ? IMSG_FD_MARK : 0);
		memcpy(out + 4, &v, 4);
	} else {
		len16 = (uint16_t)len;
		flags = hasfd ? IMSGF_HASFD : 0;
		memcpy(out + 4, &len16, 2);
		memcpy(out + 6, &flags, 2);
	}
	memcpy(out + 8, &zero, 4);
	memcpy(out + 12, &pid, 4);
	return IMSG_HEADER_SIZE;
}

static int
wait_writable(int fd)
{
	struct pollfd	pfd = { .fd = fd, .events = POLLOUT };

	for (;;) {
		if (poll(&pfd, 1, -1) == 1)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

/*
 * Write one whole message, header then iov, with the fd (if not -1) on
 * the first sendmsg().  Blocks until done: the peer waits for exactly
 * this answer, and it is at most MAX_IMSGSIZE bytes.
 */
int
imsg_sendv(struct imsgbuf *ib, uint32_t type, const struct iovec *iov,
    int iovcnt, int fd)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cmsgbuf;
	unsigned char	 hdr[IMSG_HEADER_SIZE];
	struct iovec	 v[8];
	struct msghdr	 msg;
	struct cmsghdr	*cm;
	size_t		 len = IMSG_HEADER_SIZE;
	ssize_t		 n;
	int		 i, nv;

	if (iovcnt < 0 || iovcnt > 7) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	if (len > MAX_IMSGSIZE) {
		errno = ERANGE;
		return -1;
	}
	imsg_hdr_encode(ib->dialect, type, len, ib->pid, fd != -1, hdr);
	v[0].iov_base = hdr;
	v[0].iov_len = sizeof(hdr);
	if (iovcnt > 0)
		memcpy(&v[1], iov, (size_t)iovcnt * sizeof(*iov));
	nv = iovcnt + 1;

	memset(&msg, 0, sizeof(msg));
	if (fd != -1) {
		memset(&cmsgbuf, 0, sizeof(cmsgbuf));
		msg.msg_control = cmsgbuf.buf;
		msg.msg_controllen = sizeof(cmsgbuf.buf);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	for (i = 0; i < nv;) {
		msg.msg_iov = &v[i];
		msg.msg_iovlen = nv - i;
		n = sendmsg(ib->fd, &msg, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN && wait_writable(ib->fd) == 0)
				continue;
			return -1;
		}
		/* The fd went with the first bytes. */
		msg.msg_control = NULL;
		msg.msg_controllen = 0;
		while (i < nv && (size_t)n >= v[i].iov_len)
			n -= (ssize_t)v[i++].iov_len;
		if (i < nv) {
			v[i].iov_base = (char *)v[i].iov_base + n;
			v[i].iov_len -= (size_t)n;
		}
	}
	return 0;
}

int
imsg_send(struct imsgbuf *ib, uint32_t type, const void *data, size_t len,
    int fd)
{
	struct iovec	iov = { .iov_base = (void *)data, .iov_len = len };

	return imsg_sendv(ib, type, &iov, len ? 1 : 0, fd);
}
