/*
 * libFuzzer harness: the imsg reader (common/imsg.c) in both framings,
 * through a real socketpair so that chunking and SCM_RIGHTS fds behave
 * as the kernel makes them.
 *
 * Input: records [ctrl u8][len u16 big-endian][bytes] (mkseeds.py).
 * Each record is one sendmsg(); ctrl bit 0 attaches an fd, bit 1 a
 * second one, bit 2 reads (imsgbuf_read + imsgbuf_get until 0/-1)
 * after it, bit 3 sends the chunk in two sendmsg() calls.  A record
 * longer than what is left takes what is left.  At the end the writer
 * shuts down and the reader reads to end of stream.
 *
 * Checked besides ASan/UBSan: every message returned is within the
 * buffer and of a legal length, every fd it carries is open; each one
 * is sent back with imsg_sendv() in the dialect that carried it and
 * read back identical; no fd is left open once the buffer is cleared.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_fds.h"
#include "imsg.h"


static int	devnull = -1;
static int	baseline = -1;

static void
send_chunk(int s, const uint8_t *p, size_t len, int nfds)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(2 * sizeof(int))];
	} cm;
	struct msghdr	 msg;
	struct cmsghdr	*c;
	struct iovec	 iov;
	int		 fds[2] = { -1, -1 }, i;
	ssize_t		 n;

	memset(&msg, 0, sizeof(msg));
	iov.iov_base = (void *)p;
	iov.iov_len = len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (nfds > 0 && len > 0) {
		for (i = 0; i < nfds; i++)
			if ((fds[i] = dup(devnull)) == -1)
				abort();
		memset(&cm, 0, sizeof(cm));
		msg.msg_control = cm.buf;
		msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	while (iov.iov_len > 0) {
		n = sendmsg(s, &msg, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			abort();	/* the buffer is far larger than 40000 */
		msg.msg_control = NULL;
		msg.msg_controllen = 0;
		iov.iov_base = (char *)iov.iov_base + n;
		iov.iov_len -= (size_t)n;
	}
	for (i = 0; i < nfds; i++)
		if (fds[i] != -1)
			close(fds[i]);
}

/* Send the message back in its dialect and read it back: same bytes. */
static void
round_trip(const struct imsg *m)
{
	struct imsgbuf	 w, r;
	struct imsg	 back;
	int		 sv[2], got;
	enum imsg_dialect d = m->fd != -1 ? m->fd_dialect : IMSG_DIALECT_B;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		abort();
	imsgbuf_init(&w, sv[0], d);
	imsgbuf_init(&r, sv[1], IMSG_DIALECT_A);
	if (imsg_send(&w, m->hdr.type, m->data, m->datalen, m->fd) == -1)
		abort();
	close(sv[0]);
	while ((got = imsgbuf_get(&r, &back)) == 0)
		if (imsgbuf_read(&r) <= 0)
			abort();
	if (got != 1 || back.hdr.type != m->hdr.type ||
	    back.datalen != m->datalen ||
	    memcmp(back.data, m->data, m->datalen) != 0 ||
	    (back.fd != -1) != (m->fd != -1) ||
	    (m->fd != -1 && back.fd_dialect != d))
		abort();
	if (back.fd != -1)
		close(back.fd);
	imsgbuf_clear(&r);
	close(sv[1]);
}

static int
check(struct imsgbuf *ib, const struct imsg *m)
{
	const unsigned char *p = m->data;
	unsigned	sum = 0;
	size_t		i;

	if (m->hdr.len < IMSG_HEADER_SIZE || m->hdr.len > MAX_IMSGSIZE ||
	    m->datalen != m->hdr.len - IMSG_HEADER_SIZE ||
	    p < ib->rbuf || p + m->datalen > ib->rbuf + sizeof(ib->rbuf))
		abort();
	for (i = 0; i < m->datalen; i++)
		sum += p[i];
	if (m->fd != -1) {
		if (fcntl(m->fd, F_GETFD) == -1)
			abort();
		if (m->fd_dialect != IMSG_DIALECT_A &&
		    m->fd_dialect != IMSG_DIALECT_B)
			abort();
	}
	return (int)(sum & 1);
}

/* Read what is there; returns -1 once the stream is broken or over. */
static int
drain(struct imsgbuf *ib)
{
	struct imsg	m;
	ssize_t		n;
	int		r;

	for (;;) {
		n = imsgbuf_read(ib);
		if (n == -1 && errno == EAGAIN)
			return 0;
		if (n == -1)
			return -1;
		while ((r = imsgbuf_get(ib, &m)) == 1) {
			(void)check(ib, &m);
			round_trip(&m);
			if (m.fd != -1)
				close(m.fd);
		}
		if (r == -1 || n == 0)
			return -1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imsgbuf	*ib;
	size_t		 off = 0, len;
	int		 sv[2], ctrl, broken = 0;

	if (devnull == -1 && (devnull = open("/dev/null", O_RDONLY |
	    O_CLOEXEC)) == -1)
		abort();
	/* libFuzzer opens and closes fds of its own between inputs */
	baseline = fuzz_fd_count();
	if ((ib = malloc(sizeof(*ib))) == NULL)
		abort();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		abort();
	if (fcntl(sv[0], F_SETFL, O_NONBLOCK) == -1)
		abort();
	/* a big enough send buffer for 40000 bytes without a reader */
	len = 1 << 20;
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &len, sizeof(int));
	imsgbuf_init(ib, sv[0], IMSG_DIALECT_A);

	while (off + 3 <= size && !broken) {
		ctrl = data[off];
		len = (size_t)data[off + 1] << 8 | data[off + 2];
		off += 3;
		if (len > size - off)
			len = size - off;
		if (ctrl & 8 && len > 1) {
			send_chunk(sv[1], data + off, len / 2, ctrl & 3 ?
			    1 : 0);
			send_chunk(sv[1], data + off + len / 2, len - len / 2,
			    (ctrl & 3) == 3 ? 1 : 0);
		} else
			send_chunk(sv[1], data + off, len, (ctrl & 1) +
			    ((ctrl >> 1) & 1));
		off += len;
		if (ctrl & 4)
			broken = drain(ib) == -1;
	}
	shutdown(sv[1], SHUT_WR);
	while (!broken && drain(ib) == 0)
		;
	imsgbuf_clear(ib);
	close(sv[0]);
	close(sv[1]);
	free(ib);
	fuzz_fd_check("fuzz_imsg", baseline);
	return 0;
}
