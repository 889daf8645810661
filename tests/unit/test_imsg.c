/*
 * Unit tests of common/imsg.c: the framing of both dialects on a real
 * AF_UNIX stream socketpair, fd passing, split and batched reads, bad
 * headers, and that no fd is ever leaked.  Wire bytes are checked
 * against headers built by hand (unit_util.c), not by imsg_hdr_encode().
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "imsg.h"
#include "unit_util.h"

#define PID	0x0a0b0c0dU

/* A sender and a receiver imsgbuf on the two ends of a socketpair. */
struct pair {
	int		sv[2];
	struct imsgbuf	tx;
	struct imsgbuf	rx;
};

static void
pair_open(struct pair *p, enum imsg_dialect d)
{
	xsocketpair(p->sv);
	imsgbuf_init(&p->tx, p->sv[0], d);
	/* The reader takes both dialects whatever it writes. */
	imsgbuf_init(&p->rx, p->sv[1], IMSG_DIALECT_UNKNOWN);
	p->tx.pid = PID;
}

static void
pair_close(struct pair *p)
{
	imsgbuf_clear(&p->rx);
	if (p->sv[0] != -1)
		close(p->sv[0]);
	close(p->sv[1]);
}

/* Run a test body once per dialect. */
#define BOTH(f)								\
static void f##_A(void **state) { f(IMSG_DIALECT_A); }			\
static void f##_B(void **state) { f(IMSG_DIALECT_B); }

/* A pipe with one byte in it, so that a passed read end is provable. */
static void
marked_pipe(int p[2], char c)
{
	xpipe(p);
	assert_int_equal(write(p[1], &c, 1), 1);
}

static void
assert_fd_is_pipe(int fd, int p[2], char c)
{
	char	got;

	assert_true(fd >= 0);
	assert_true(same_file(fd, p[0]));
	assert_int_equal(read(fd, &got, 1), 1);
	assert_int_equal(got, c);
}

/* Messages without an fd: the same 16 bytes in both dialects. */
static void
test_hdr_nofd_identical(void **state)
{
	static const size_t lens[] = { 16, 17, 20, 300, 4096,
	    MAX_IMSGSIZE };
	unsigned char	a[IMSG_HEADER_SIZE], b[IMSG_HEADER_SIZE];
	unsigned char	want[IMSG_HEADER_SIZE];
	size_t		i;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		assert_int_equal(imsg_hdr_encode(IMSG_DIALECT_A, 7, lens[i],
		    PID, 0, a), IMSG_HEADER_SIZE);
		assert_int_equal(imsg_hdr_encode(IMSG_DIALECT_B, 7, lens[i],
		    PID, 0, b), IMSG_HEADER_SIZE);
		mkhdr(want, 7, (uint32_t)lens[i], PID);
		assert_memory_equal(a, want, IMSG_HEADER_SIZE);
		assert_memory_equal(b, want, IMSG_HEADER_SIZE);
	}
}

/* The fd mark of each framing, as docs/PROTOCOL.md gives it. */
static void
test_hdr_fd_marks(void **state)
{
	unsigned char	got[IMSG_HEADER_SIZE], want[IMSG_HEADER_SIZE];
	uint16_t	len16, flags;
	uint32_t	v;

	imsg_hdr_encode(IMSG_DIALECT_A, 6, 20, PID, 1, got);
	memcpy(&len16, got + 4, 2);
	memcpy(&flags, got + 6, 2);
	assert_int_equal(len16, 20);
	assert_int_equal(flags, IMSGF_HASFD);
	mkhdr_a(want, 6, 20, 1, PID);
	assert_memory_equal(got, want, IMSG_HEADER_SIZE);

	imsg_hdr_encode(IMSG_DIALECT_B, 6, 20, PID, 1, got);
	memcpy(&v, got + 4, 4);
	assert_int_equal(v, 20 | 0x80000000U);
	mkhdr(want, 6, 20 | 0x80000000U, PID);
	assert_memory_equal(got, want, IMSG_HEADER_SIZE);
}

/*
 * Round trip without fd, several sizes up to the largest message: first
 * the raw bytes on the wire, then the same message through imsgbuf_get.
 */
static void
roundtrip_nofd(enum imsg_dialect d)
{
	static const size_t sizes[] = { 0, 1, 4, 1000, IMSG_DATA_MAX };
	static unsigned char payload[IMSG_DATA_MAX], wire[MAX_IMSGSIZE];
	unsigned char	 want[IMSG_HEADER_SIZE];
	struct pair	 p;
	struct imsg	 imsg;
	size_t		 i, j;
	int		 fd;

	for (j = 0; j < sizeof(payload); j++)
		payload[j] = (unsigned char)(j * 7 + 1);
	pair_open(&p, d);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		assert_int_equal(imsg_send(&p.tx, 100 + i, payload, sizes[i],
		    -1), 0);
		recv_raw(p.sv[1], wire, IMSG_HEADER_SIZE + sizes[i], &fd);
		assert_int_equal(fd, -1);
		mkhdr(want, 100 + i, IMSG_HEADER_SIZE + sizes[i], PID);
		assert_memory_equal(wire, want, IMSG_HEADER_SIZE);
		assert_memory_equal(wire + IMSG_HEADER_SIZE, payload,
		    sizes[i]);

		assert_int_equal(imsg_send(&p.tx, 100 + i, payload, sizes[i],
		    -1), 0);
		assert_int_equal(get_one(&p.rx, &imsg), 1);
		assert_int_equal(imsg.hdr.type, 100 + i);
		assert_int_equal(imsg.hdr.len, IMSG_HEADER_SIZE + sizes[i]);
		assert_int_equal(imsg.hdr.peerid, 0);
		assert_int_equal(imsg.hdr.pid, PID);
		assert_int_equal(imsg.datalen, sizes[i]);
		assert_memory_equal(imsg.data, payload, sizes[i]);
		assert_int_equal(imsg.fd, -1);
		assert_int_equal(imsg.fd_dialect, IMSG_DIALECT_UNKNOWN);
	}
	assert_int_equal(imsgbuf_get(&p.rx, &imsg), 0);
	pair_close(&p);
}
BOTH(roundtrip_nofd)

/* An fd-carrying message on the wire: the dialect's mark, and the fd. */
static void
fd_wire(enum imsg_dialect d)
{
	unsigned char	 wire[20], want[IMSG_HEADER_SIZE];
	uint32_t	 msgid = 0x11223344;
	struct pair	 p;
	int		 pp[2], fd;

	pair_open(&p, d);
	marked_pipe(pp, 'w');
	assert_int_equal(imsg_send(&p.tx, 6, &msgid, 4, pp[0]), 0);
	recv_raw(p.sv[1], wire, sizeof(wire), &fd);
	mkhdr_d(want, d, 6, 20, 1, PID);
	assert_memory_equal(wire, want, IMSG_HEADER_SIZE);
	assert_memory_equal(wire + IMSG_HEADER_SIZE, &msgid, 4);
	assert_fd_is_pipe(fd, pp, 'w');
	close(fd);
	close(pp[0]);
	close(pp[1]);
	pair_close(&p);
}
BOTH(fd_wire)

/* The reader hands the fd over and says which dialect marked it. */
static void
fd_receive(enum imsg_dialect d)
{
	uint32_t	 msgid = 0x55667788;
	struct pair	 p;
	struct imsg	 imsg;
	int		 pp[2], before;

	pair_open(&p, d);
	marked_pipe(pp, 'r');
	assert_int_equal(imsg_send(&p.tx, 6, &msgid, 4, pp[0]), 0);
	before = count_fds();
	assert_int_equal(get_one(&p.rx, &imsg), 1);
	assert_int_equal(imsg.hdr.type, 6);
	assert_int_equal(imsg.hdr.len, 20);	/* the mark is not a length */
	assert_int_equal(imsg.datalen, 4);
	assert_memory_equal(imsg.data, &msgid, 4);
	assert_int_equal(imsg.fd_dialect, d);
	assert_fd_is_pipe(imsg.fd, pp, 'r');
	/* smtpd's children must not inherit queue fds. */
	assert_true(fd_is_cloexec(imsg.fd));
	assert_int_equal(count_fds(), before + 1);
	assert_int_equal(p.rx.stray_fds, 0);
	close(imsg.fd);
	close(pp[0]);
	close(pp[1]);
	pair_close(&p);
}
BOTH(fd_receive)

/* Build a whole message as smtpd of dialect d would send it. */
static size_t
build_msg(unsigned char *out, enum imsg_dialect d, uint32_t type,
    const void *data, size_t len, int hasfd)
{
	mkhdr_d(out, d, type, IMSG_HEADER_SIZE + len, hasfd, PID);
	if (len > 0)
		memcpy(out + IMSG_HEADER_SIZE, data, len);
	return IMSG_HEADER_SIZE + len;
}

/*
 * Deliver msg in pieces of the given sizes (the last one takes the
 * rest), one read per piece: imsgbuf_get must wait for the last one.
 * The fd, if any, travels with the first piece, as imsg senders do.
 */
static void
split_deliver(enum imsg_dialect d, int withfd, const size_t *pieces,
    size_t npieces)
{
	static const char payload[] = "split me";
	unsigned char	 msg[64];
	struct pair	 p;
	struct imsg	 imsg;
	size_t		 len, off, n, i;
	int		 pp[2] = { -1, -1 };

	pair_open(&p, d);
	len = build_msg(msg, d, 9, payload, sizeof(payload), withfd);
	if (withfd)
		marked_pipe(pp, 's');
	for (i = 0, off = 0; off < len; i++) {
		n = i + 1 < npieces ? pieces[i] : len - off;
		if (n > len - off)
			n = len - off;
		send_raw(p.sv[0], msg + off, n, off == 0 ? pp[0] : -1);
		assert_int_equal(imsgbuf_read(&p.rx), (ssize_t)n);
		off += n;
		if (off < len) {
			assert_int_equal(imsgbuf_get(&p.rx, &imsg), 0);
			continue;
		}
		assert_int_equal(imsgbuf_get(&p.rx, &imsg), 1);
		assert_int_equal(imsg.hdr.type, 9);
		assert_int_equal(imsg.datalen, sizeof(payload));
		assert_memory_equal(imsg.data, payload, sizeof(payload));
		if (withfd) {
			assert_int_equal(imsg.fd_dialect, d);
			assert_fd_is_pipe(imsg.fd, pp, 's');
			close(imsg.fd);
		} else
			assert_int_equal(imsg.fd, -1);
	}
	assert_int_equal(imsgbuf_get(&p.rx, &imsg), 0);
	assert_int_equal(p.rx.stray_fds, 0);
	if (withfd) {
		close(pp[0]);
		close(pp[1]);
	}
	pair_close(&p);
}

static void
split_bytewise(enum imsg_dialect d)
{
	static const size_t one[64] = {
	    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };

	split_deliver(d, 0, one, 64);
	split_deliver(d, 1, one, 64);
}
BOTH(split_bytewise)

/* Cuts inside the header, at its end, and inside the payload. */
static void
split_pieces(enum imsg_dialect d)
{
	static const size_t cuts[][3] = {
		{ 7, 13, 0 }, { 16, 0, 0 }, { 15, 1, 0 }, { 1, 20, 0 },
		{ 4, 4, 0 }, { 20, 0, 0 },
	};
	size_t	i;

	for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		split_deliver(d, 0, cuts[i], cuts[i][1] ? 3 : 2);
		split_deliver(d, 1, cuts[i], cuts[i][1] ? 3 : 2);
	}
}
BOTH(split_pieces)

/* Three messages in one write come out of one read, in order. */
static void
test_several_in_one_read(void **state)
{
	unsigned char	 buf[128];
	struct pair	 p;
	struct imsg	 imsg;
	size_t		 len = 0;
	uint32_t	 i;

	pair_open(&p, IMSG_DIALECT_A);
	len += build_msg(buf + len, IMSG_DIALECT_A, 1, "", 0, 0);
	len += build_msg(buf + len, IMSG_DIALECT_A, 2, "ab", 2, 0);
	len += build_msg(buf + len, IMSG_DIALECT_A, 3, "cdefg", 5, 0);
	send_raw(p.sv[0], buf, len, -1);
	assert_int_equal(imsgbuf_read(&p.rx), (ssize_t)len);
	for (i = 1; i <= 3; i++) {
		assert_int_equal(imsgbuf_get(&p.rx, &imsg), 1);
		assert_int_equal(imsg.hdr.type, i);
		assert_int_equal(imsg.fd, -1);
	}
	assert_int_equal(imsg.datalen, 5);
	assert_memory_equal(imsg.data, "cdefg", 5);
	assert_int_equal(imsgbuf_get(&p.rx, &imsg), 0);
	pair_close(&p);
}

static void
get_three(struct imsgbuf *ib, struct imsg m[3])
{
	int	i;

	for (i = 0; i < 3; i++) {
		assert_int_equal(get_one(ib, &m[i]), 1);
		assert_int_equal(m[i].hdr.type, (uint32_t)i + 1);
	}
}

/* The fd of the 2nd of 3 messages, each its own sendmsg(). */
static void
fd_second_of_three(enum imsg_dialect d)
{
	struct pair	 p;
	struct imsg	 m[3];
	int		 pp[2];

	pair_open(&p, d);
	marked_pipe(pp, '2');
	assert_int_equal(imsg_send(&p.tx, 1, "one", 3, -1), 0);
	assert_int_equal(imsg_send(&p.tx, 2, "two", 3, pp[0]), 0);
	assert_int_equal(imsg_send(&p.tx, 3, "three", 5, -1), 0);
	get_three(&p.rx, m);
	assert_int_equal(m[0].fd, -1);
	assert_int_equal(m[1].fd_dialect, d);
	assert_fd_is_pipe(m[1].fd, pp, '2');
	assert_int_equal(m[2].fd, -1);
	assert_int_equal(p.rx.stray_fds, 0);
	close(m[1].fd);
	close(pp[0]);
	close(pp[1]);
	pair_close(&p);
}
BOTH(fd_second_of_three)

/* The same, but all three bytes and the fd in one sendmsg() and read. */
static void
fd_second_of_three_one_chunk(enum imsg_dialect d)
{
	unsigned char	 buf[128];
	struct pair	 p;
	struct imsg	 m[3];
	size_t		 len = 0;
	int		 pp[2];

	pair_open(&p, d);
	marked_pipe(pp, 'c');
	len += build_msg(buf + len, d, 1, "one", 3, 0);
	len += build_msg(buf + len, d, 2, "two", 3, 1);
	len += build_msg(buf + len, d, 3, "three", 5, 0);
	send_raw(p.sv[0], buf, len, pp[0]);
	assert_int_equal(imsgbuf_read(&p.rx), (ssize_t)len);
	get_three(&p.rx, m);
	assert_int_equal(m[0].fd, -1);
	assert_fd_is_pipe(m[1].fd, pp, 'c');
	assert_int_equal(m[1].fd_dialect, d);
	assert_int_equal(m[2].fd, -1);
	assert_int_equal(p.rx.stray_fds, 0);
	close(m[1].fd);
	close(pp[0]);
	close(pp[1]);
	pair_close(&p);
}
BOTH(fd_second_of_three_one_chunk)

/* Two fd messages back to back: each gets its own fd, not the other's. */
static void
fd_two_messages(enum imsg_dialect d)
{
	struct pair	 p;
	struct imsg	 m1, m2;
	int		 p1[2], p2[2];

	pair_open(&p, d);
	marked_pipe(p1, '1');
	marked_pipe(p2, '2');
	assert_int_equal(imsg_send(&p.tx, 1, NULL, 0, p1[0]), 0);
	assert_int_equal(imsg_send(&p.tx, 2, NULL, 0, p2[0]), 0);
	assert_int_equal(get_one(&p.rx, &m1), 1);
	assert_int_equal(get_one(&p.rx, &m2), 1);
	assert_fd_is_pipe(m1.fd, p1, '1');
	assert_fd_is_pipe(m2.fd, p2, '2');
	close(m1.fd);
	close(m2.fd);
	close(p1[0]);
	close(p1[1]);
	close(p2[0]);
	close(p2[1]);
	pair_close(&p);
}
BOTH(fd_two_messages)

/* Each header is refused, whatever follows it. */
static void
test_bad_lengths(void **state)
{
	static const uint32_t bad[] = {
		0, 15, MAX_IMSGSIZE + 1, 0xffff,
		/* dialect B marks */
		IMSG_FD_MARK | 0, IMSG_FD_MARK | 15,
		IMSG_FD_MARK | (MAX_IMSGSIZE + 1), 0xffffffffU,
		/* dialect A: bad len with the flag, or other flags */
		(1U << 16) | 0, (1U << 16) | 15, (2U << 16) | 20,
		(3U << 16) | 20, (0x100U << 16) | 20, (0x8001U << 16) | 20,
	};
	unsigned char	 hdr[IMSG_HEADER_SIZE];
	struct pair	 p;
	struct imsg	 imsg;
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		pair_open(&p, IMSG_DIALECT_A);
		mkhdr(hdr, 2, bad[i], PID);
		send_raw(p.sv[0], hdr, sizeof(hdr), -1);
		assert_int_equal(imsgbuf_read(&p.rx), IMSG_HEADER_SIZE);
		errno = 0;
		assert_int_equal(imsgbuf_get(&p.rx, &imsg), -1);
		assert_int_equal(errno, EBADMSG);
		pair_close(&p);
	}
}

/* The extremes that are allowed: a bare header, the largest message. */
static void
test_edge_lengths(void **state)
{
	static unsigned char	buf[MAX_IMSGSIZE];
	struct pair		p;
	struct imsg		imsg;

	pair_open(&p, IMSG_DIALECT_A);
	mkhdr(buf, 3, IMSG_HEADER_SIZE, PID);
	send_raw(p.sv[0], buf, IMSG_HEADER_SIZE, -1);
	assert_int_equal(get_one(&p.rx, &imsg), 1);
	assert_int_equal(imsg.datalen, 0);
	mkhdr(buf, 3, MAX_IMSGSIZE, PID);
	send_raw(p.sv[0], buf, MAX_IMSGSIZE, -1);
	assert_int_equal(get_one(&p.rx, &imsg), 1);
	assert_int_equal(imsg.datalen, IMSG_DATA_MAX);
	pair_close(&p);
}

/* A bad header that came with an fd: the fd is closed by the clear. */
static void
test_bad_length_with_fd(void **state)
{
	unsigned char	 hdr[IMSG_HEADER_SIZE];
	struct pair	 p;
	struct imsg	 imsg;
	int		 pp[2], before;

	pair_open(&p, IMSG_DIALECT_B);
	xpipe(pp);
	mkhdr(hdr, 6, IMSG_FD_MARK | 15, PID);
	send_raw(p.sv[0], hdr, sizeof(hdr), pp[0]);
	close(pp[0]);
	before = count_fds();
	assert_int_equal(imsgbuf_read(&p.rx), IMSG_HEADER_SIZE);
	assert_int_equal(imsgbuf_get(&p.rx, &imsg), -1);
	assert_int_equal(errno, EBADMSG);
	imsgbuf_clear(&p.rx);
	assert_int_equal(count_fds(), before);
	assert_true(pipe_reader_gone(pp[1]));
	close(pp[1]);
	pair_close(&p);
}

/* A mark says an fd travels, but none did. */
static void
mark_without_fd(enum imsg_dialect d)
{
	unsigned char	 buf[64];
	struct pair	 p;
	struct imsg	 imsg;
	size_t		 len;

	pair_open(&p, d);
	len = build_msg(buf, d, 6, "\1\2\3\4", 4, 1);
	send_raw(p.sv[0], buf, len, -1);
	assert_int_equal(imsgbuf_read(&p.rx), (ssize_t)len);
	errno = 0;
	assert_int_equal(imsgbuf_get(&p.rx, &imsg), -1);
	assert_int_equal(errno, EBADMSG);
	pair_close(&p);
}
BOTH(mark_without_fd)

/*
 * An fd sent with a message that has no mark: the reader owns it for a
 * while (the kernel installed it), then must close it, not leak it.
 */
static void
test_stray_fd_closed(void **state)
{
	unsigned char	 buf[64];
	struct pair	 p;
	struct imsg	 imsg;
	size_t		 len;
	int		 pp[2], before, probe;

	pair_open(&p, IMSG_DIALECT_A);
	xpipe(pp);
	len = build_msg(buf, IMSG_DIALECT_A, 3, NULL, 0, 0);
	send_raw(p.sv[0], buf, len, pp[0]);
	close(pp[0]);
	before = count_fds();
	probe = lowest_free_fd();
	assert_int_equal(imsgbuf_read(&p.rx), (ssize_t)len);
	/* Received, where the kernel puts it, and close-on-exec. */
	assert_true(fd_is_open(probe));
	assert_true(fd_is_cloexec(probe));
	assert_int_equal(count_fds(), before + 1);

	assert_int_equal(imsgbuf_get(&p.rx, &imsg), 1);
	assert_int_equal(imsg.fd, -1);
	assert_false(fd_is_open(probe));
	assert_int_equal(count_fds(), before);
	assert_int_equal(p.rx.stray_fds, 1);
	assert_true(pipe_reader_gone(pp[1]));
	close(pp[1]);
	pair_close(&p);
}

/* More fds than the reader has room for, all with one unmarked message. */
static void
test_many_stray_fds(void **state)
{
	unsigned char	 buf[64];
	struct pair	 p;
	struct imsg	 imsg;
	size_t		 len;
	int		 fds[20], pp[2], before, i;

	pair_open(&p, IMSG_DIALECT_B);
	xpipe(pp);
	for (i = 0; i < 20; i++)
		assert_true((fds[i] = dup(pp[0])) >= 0);
	len = build_msg(buf, IMSG_DIALECT_B, 3, NULL, 0, 0);
	send_raw_fds(p.sv[0], buf, len, fds, 20);
	for (i = 0; i < 20; i++)
		close(fds[i]);
	close(pp[0]);
	before = count_fds();
	assert_int_equal(imsgbuf_read(&p.rx), (ssize_t)len);
	assert_int_equal(imsgbuf_get(&p.rx, &imsg), 1);
	assert_int_equal(imsg.fd, -1);
	assert_int_equal(count_fds(), before);
	assert_true(p.rx.stray_fds >= 1);
	assert_true(pipe_reader_gone(pp[1]));
	close(pp[1]);
	pair_close(&p);
}

/* End of stream with half a message and its fd pending. */
static void
eof_closes_pending(enum imsg_dialect d)
{
	unsigned char	 buf[64];
	struct pair	 p;
	struct imsg	 imsg;
	int		 pp[2], before;

	pair_open(&p, d);
	xpipe(pp);
	build_msg(buf, d, 6, "\1\2\3\4", 4, 1);
	send_raw(p.sv[0], buf, 10, pp[0]);
	close(pp[0]);
	close(p.sv[0]);
	p.sv[0] = -1;
	before = count_fds();
	assert_int_equal(imsgbuf_read(&p.rx), 10);
	assert_int_equal(imsgbuf_get(&p.rx, &imsg), 0);
	assert_int_equal(count_fds(), before + 1);
	/* the fd may still be claimed by what is buffered ... */
	assert_int_equal(imsgbuf_read(&p.rx), 0);
	assert_int_equal(count_fds(), before + 1);
	/* ... but the message is cut short for good: get closes it */
	assert_int_equal(imsgbuf_get(&p.rx, &imsg), 0);
	assert_int_equal(count_fds(), before);
	assert_int_equal(p.rx.stray_fds, 1);
	assert_true(pipe_reader_gone(pp[1]));
	close(pp[1]);
	pair_close(&p);
}
BOTH(eof_closes_pending)

static void
test_eof_empty(void **state)
{
	struct pair	p;

	pair_open(&p, IMSG_DIALECT_A);
	close(p.sv[0]);
	p.sv[0] = -1;
	assert_int_equal(imsgbuf_read(&p.rx), 0);
	pair_close(&p);
}

static void
test_read_would_block(void **state)
{
	struct pair	p;

	pair_open(&p, IMSG_DIALECT_A);
	assert_int_equal(fcntl(p.sv[1], F_SETFL, O_NONBLOCK), 0);
	errno = 0;
	assert_int_equal(imsgbuf_read(&p.rx), -1);
	assert_int_equal(errno, EAGAIN);
	pair_close(&p);
}

/* A whole message and its fd, read but never taken: clear closes it. */
static void
test_clear_closes_fds(void **state)
{
	struct pair	 p;
	struct imsg	 imsg;
	int		 pp[2], before;

	pair_open(&p, IMSG_DIALECT_A);
	xpipe(pp);
	assert_int_equal(imsg_send(&p.tx, 6, "\1\2\3\4", 4, pp[0]), 0);
	close(pp[0]);
	before = count_fds();
	assert_int_equal(imsgbuf_read(&p.rx), 20);
	assert_int_equal(count_fds(), before + 1);
	imsgbuf_clear(&p.rx);
	assert_int_equal(count_fds(), before);
	assert_true(pipe_reader_gone(pp[1]));
	assert_int_equal(imsgbuf_get(&p.rx, &imsg), 0);
	close(pp[1]);
	pair_close(&p);
}

/* Nothing over MAX_IMSGSIZE leaves, and nothing at all is written. */
static void
test_send_too_big(void **state)
{
	static unsigned char	big[IMSG_DATA_MAX + 1];
	struct iovec		iov[2];
	struct pair		p;

	pair_open(&p, IMSG_DIALECT_B);
	errno = 0;
	assert_int_equal(imsg_send(&p.tx, 1, big, sizeof(big), -1), -1);
	assert_int_equal(errno, ERANGE);
	iov[0].iov_base = big;
	iov[0].iov_len = IMSG_DATA_MAX;
	iov[1].iov_base = big;
	iov[1].iov_len = 1;
	errno = 0;
	assert_int_equal(imsg_sendv(&p.tx, 1, iov, 2, -1), -1);
	assert_int_equal(errno, ERANGE);
	assert_true(nothing_pending(p.sv[1]));
	pair_close(&p);
}

static void
test_sendv_iovecs(void **state)
{
	struct iovec	 iov[8];
	struct pair	 p;
	struct imsg	 imsg;
	int		 i;

	pair_open(&p, IMSG_DIALECT_A);
	for (i = 0; i < 8; i++) {
		iov[i].iov_base = (void *)"abcdefgh";
		iov[i].iov_len = (size_t)i;
	}
	/* Header plus 7 pieces is all it has room for. */
	errno = 0;
	assert_int_equal(imsg_sendv(&p.tx, 1, iov, 8, -1), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(imsg_sendv(&p.tx, 1, iov + 1, 7, -1), 0);
	assert_int_equal(get_one(&p.rx, &imsg), 1);
	assert_int_equal(imsg.datalen, 1 + 2 + 3 + 4 + 5 + 6 + 7);
	assert_memory_equal(imsg.data, "aababcabcd", 10);
	pair_close(&p);
}

/*
 * The fd of message 2 comes in a read that starts inside message 1
 * (the reader had taken only the start of message 1 before).
 */
static void
fd_chunk_starts_in_previous(enum imsg_dialect d)
{
	unsigned char	 buf[128];
	struct pair	 p;
	struct imsg	 m1, m2;
	size_t		 len = 0;
	int		 pp[2];

	pair_open(&p, d);
	marked_pipe(pp, 'p');
	len += build_msg(buf + len, d, 1, "0123456789abcdef0123", 20, 0);
	len += build_msg(buf + len, d, 2, "\1\2\3\4", 4, 1);
	send_raw(p.sv[0], buf, 10, -1);
	assert_int_equal(imsgbuf_read(&p.rx), 10);
	assert_int_equal(imsgbuf_get(&p.rx, &m1), 0);
	send_raw(p.sv[0], buf + 10, len - 10, pp[0]);
	assert_int_equal(imsgbuf_read(&p.rx), (ssize_t)len - 10);
	assert_int_equal(imsgbuf_get(&p.rx, &m1), 1);
	assert_int_equal(m1.fd, -1);
	assert_int_equal(imsgbuf_get(&p.rx, &m2), 1);
	assert_int_equal(m2.hdr.type, 2);
	assert_fd_is_pipe(m2.fd, pp, 'p');
	assert_int_equal(p.rx.stray_fds, 0);
	close(m2.fd);
	close(pp[0]);
	close(pp[1]);
	pair_close(&p);
}
BOTH(fd_chunk_starts_in_previous)

/* Two marked messages and their two fds in one sendmsg(): in order. */
static void
two_fds_one_chunk(enum imsg_dialect d)
{
	unsigned char	 buf[64];
	struct pair	 p;
	struct imsg	 m1, m2;
	size_t		 len = 0;
	int		 p1[2], p2[2], fds[2];

	pair_open(&p, d);
	marked_pipe(p1, '1');
	marked_pipe(p2, '2');
	len += build_msg(buf + len, d, 1, NULL, 0, 1);
	len += build_msg(buf + len, d, 2, NULL, 0, 1);
	fds[0] = p1[0];
	fds[1] = p2[0];
	send_raw_fds(p.sv[0], buf, len, fds, 2);
	assert_int_equal(get_one(&p.rx, &m1), 1);
	assert_int_equal(get_one(&p.rx, &m2), 1);
	assert_fd_is_pipe(m1.fd, p1, '1');
	assert_fd_is_pipe(m2.fd, p2, '2');
	close(m1.fd);
	close(m2.fd);
	close(p1[0]);
	close(p1[1]);
	close(p2[0]);
	close(p2[1]);
	pair_close(&p);
}
BOTH(two_fds_one_chunk)

/*
 * A stray fd, then a message with its own fd, both read before either
 * is parsed: the stray must not be handed to the second message.
 */
static void
test_stray_then_claimed(void **state)
{
	unsigned char	 buf[64];
	struct pair	 p;
	struct imsg	 m1, m2;
	size_t		 len;
	int		 ps[2], pc[2];

	pair_open(&p, IMSG_DIALECT_B);
	marked_pipe(ps, 's');
	marked_pipe(pc, 'c');
	len = build_msg(buf, IMSG_DIALECT_B, 1, NULL, 0, 0);
	send_raw(p.sv[0], buf, len, ps[0]);
	len = build_msg(buf, IMSG_DIALECT_B, 2, NULL, 0, 1);
	send_raw(p.sv[0], buf, len, pc[0]);
	close(ps[0]);
	/* The kernel stops a read after an fd: one read per message. */
	assert_int_equal(imsgbuf_read(&p.rx), IMSG_HEADER_SIZE);
	assert_int_equal(imsgbuf_read(&p.rx), IMSG_HEADER_SIZE);
	assert_int_equal(imsgbuf_get(&p.rx, &m1), 1);
	assert_int_equal(m1.fd, -1);
	assert_int_equal(imsgbuf_get(&p.rx, &m2), 1);
	assert_fd_is_pipe(m2.fd, pc, 'c');
	assert_int_equal(p.rx.stray_fds, 1);
	assert_true(pipe_reader_gone(ps[1]));
	close(m2.fd);
	close(ps[1]);
	close(pc[0]);
	close(pc[1]);
	pair_close(&p);
}

/*
 * Largest messages through a non-blocking socket with a small send
 * buffer: imsg_sendv must resume partial writes (the fd only on the
 * first) and wait for room.  A thread reads; only main asserts.
 */
struct slow_reader {
	struct imsgbuf	 rx;
	int		 n, fdok, bad;
	int		 pipe_r;
};

static void *
slow_reader_main(void *arg)
{
	struct slow_reader *sr = arg;
	struct imsg	 imsg;
	const unsigned char *d;
	size_t		 i;

	while (get_one(&sr->rx, &imsg) == 1) {
		d = imsg.data;
		for (i = 0; i < imsg.datalen; i++)
			if (d[i] != (unsigned char)(i + imsg.hdr.type))
				sr->bad++;
		if (imsg.datalen != IMSG_DATA_MAX)
			sr->bad++;
		if (imsg.hdr.type == 2)
			sr->fdok = imsg.fd != -1 &&
			    same_file(imsg.fd, sr->pipe_r);
		else if (imsg.fd != -1)
			sr->bad++;
		if (imsg.fd != -1)
			close(imsg.fd);
		sr->n++;
	}
	return NULL;
}

static void
sendv_partial_writes(enum imsg_dialect d)
{
	static unsigned char	 data[3][IMSG_DATA_MAX];
	static struct slow_reader sr;
	struct imsgbuf		 tx;
	pthread_t		 th;
	size_t			 i;
	int			 sv[2], pp[2], sz = 1024, t;

	xsocketpair(sv);
	xpipe(pp);
	assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz,
	    sizeof(sz)), 0);
	assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	imsgbuf_init(&tx, sv[0], d);
	memset(&sr, 0, sizeof(sr));
	imsgbuf_init(&sr.rx, sv[1], IMSG_DIALECT_UNKNOWN);
	sr.pipe_r = pp[0];
	for (t = 0; t < 3; t++)
		for (i = 0; i < IMSG_DATA_MAX; i++)
			data[t][i] = (unsigned char)(i + t + 1);
	assert_int_equal(pthread_create(&th, NULL, slow_reader_main, &sr), 0);
	for (t = 0; t < 3; t++)
		assert_int_equal(imsg_send(&tx, t + 1, data[t], IMSG_DATA_MAX,
		    t == 1 ? pp[0] : -1), 0);
	close(sv[0]);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(sr.n, 3);
	assert_int_equal(sr.bad, 0);
	assert_true(sr.fdok);
	assert_int_equal(sr.rx.stray_fds, 0);
	imsgbuf_clear(&sr.rx);
	close(sv[1]);
	close(pp[0]);
	close(pp[1]);
}
BOTH(sendv_partial_writes)

static void
test_dialect_names(void **state)
{
	assert_string_equal(imsg_dialect_name(IMSG_DIALECT_A), "A");
	assert_string_equal(imsg_dialect_name(IMSG_DIALECT_B), "B");
	assert_string_equal(imsg_dialect_name(IMSG_DIALECT_UNKNOWN),
	    "unknown");
}

#define T(f)	cmocka_unit_test(f)
#define T2(f)	cmocka_unit_test(f##_A), cmocka_unit_test(f##_B)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_hdr_nofd_identical),
		T(test_hdr_fd_marks),
		T2(roundtrip_nofd),
		T2(fd_wire),
		T2(fd_receive),
		T2(split_bytewise),
		T2(split_pieces),
		T(test_several_in_one_read),
		T2(fd_second_of_three),
		T2(fd_second_of_three_one_chunk),
		T2(fd_two_messages),
		T(test_bad_lengths),
		T(test_edge_lengths),
		T(test_bad_length_with_fd),
		T2(mark_without_fd),
		T(test_stray_fd_closed),
		T(test_many_stray_fds),
		T2(eof_closes_pending),
		T(test_eof_empty),
		T(test_read_would_block),
		T(test_clear_closes_fds),
		T(test_send_too_big),
		T(test_sendv_iovecs),
		T2(fd_chunk_starts_in_previous),
		T2(two_fds_one_chunk),
		T(test_stray_then_claimed),
		T2(sendv_partial_writes),
		T(test_dialect_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
