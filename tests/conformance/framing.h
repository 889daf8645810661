/*
 * The MESSAGE_FD_R answer on the wire.  The client's reader accepts both
 * dialects, so these read the answer raw and look at its header: that
 * is what decides whether smtpd gets the fd (see docs/PROTOCOL.md, Framing).
 */
#ifndef QFP_CONFORMANCE_FRAMING_H
#define QFP_CONFORMANCE_FRAMING_H

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

/* Send MESSAGE_FD_R; the answer's header and fd (-1 if none). */
static inline int
fd_r_raw(struct qt_daemon *q, uint32_t msgid,
    unsigned char hdr[IMSG_HEADER_SIZE])
{
	int	fd;

	/* no fd in the request: its bytes are the same in A and B */
	assert_int_equal(imsg_send(&q->c.ib, PQ_MESSAGE_FD_R, &msgid, 4, -1),
	    0);
	assert_int_equal(raw_recv(q, hdr, IMSG_HEADER_SIZE, &fd),
	    IMSG_HEADER_SIZE);
	return fd;
}

static inline void
assert_fd_r_header(const unsigned char hdr[IMSG_HEADER_SIZE],
    enum imsg_dialect d)
{
	uint32_t	type, v, peerid;
	uint16_t	len16, flags;

	memcpy(&type, hdr, 4);
	memcpy(&v, hdr + 4, 4);
	memcpy(&len16, hdr + 4, 2);
	memcpy(&flags, hdr + 6, 2);
	memcpy(&peerid, hdr + 8, 4);
	assert_int_equal(type, PQ_OK);
	assert_int_equal(peerid, 0);
	if (d == IMSG_DIALECT_A) {
		assert_int_equal(len16, IMSG_HEADER_SIZE);
		assert_int_equal(flags, IMSGF_HASFD);
	} else
		assert_int_equal(v, IMSG_FD_MARK | IMSG_HEADER_SIZE);
}

/* FD_R of msgid answers in dialect d with an fd reading content. */
static inline void
assert_fd_r_dialect(struct qt_daemon *q, uint32_t msgid, enum imsg_dialect d,
    const char *content)
{
	unsigned char	 hdr[IMSG_HEADER_SIZE];
	size_t		 len;
	char		*got;
	int		 fd;

	fd = fd_r_raw(q, msgid, hdr);
	assert_fd_r_header(hdr, d);
	assert_true(fd >= 0);
	got = qt_pread_fd(fd, &len);
	close(fd);
	assert_bytes(got, len, content, strlen(content));
	free(got);
}

#endif
