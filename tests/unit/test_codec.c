/*
 * Unit tests of proto/proc_queue.c: every request and answer layout of
 * docs/PROTOCOL.md, encoded and decoded, and every malformed payload
 * refused with the right reason.  Expected bytes are written out by hand.
 */
#include <sys/uio.h>

#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "imsg.h"
#include "proc_queue.h"
#include "unit_util.h"

#define MSGID	0xa1b2c3d4U
#define EVPID	0xa1b2c3d4e5f60718ULL
#define EVP	"version: 3\nrcpt: a@example.org\n"
#define EVPLEN	(sizeof(EVP) - 1)

/* Join the iovecs of an encoding into buf; returns the length. */
static size_t
flatten(const struct iovec *iov, int n, unsigned char *buf)
{
	size_t	len = 0;
	int	i;

	assert_true(n >= 0 && n <= 2);
	for (i = 0; i < n; i++) {
		/* Empty pieces would cost smtpd nothing but show a bug. */
		assert_true(iov[i].iov_len > 0);
		memcpy(buf + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	return len;
}

static size_t
encode_request(const struct pq_request *req, unsigned char *buf)
{
	unsigned char	head[PQ_HEAD_MAX];
	struct iovec	iov[2];

	return flatten(iov, pq_request_iov(req, head, iov), buf);
}

static size_t
encode_answer(const struct pq_answer *a, unsigned char *buf)
{
	unsigned char	head[PQ_HEAD_MAX];
	struct iovec	iov[2];

	return flatten(iov, pq_answer_iov(a, head, iov), buf);
}

/* A request as smtpd would build it, and its payload length. */
static size_t
sample_request(uint32_t type, struct pq_request *req, int fd)
{
	memset(req, 0, sizeof(*req));
	req->type = type;
	req->fd = -1;
	switch (type) {
	case PQ_INIT:
		req->version = PROC_QUEUE_API_VERSION;
		return 4;
	case PQ_MESSAGE_COMMIT:
		req->fd = fd;
		/* FALLTHROUGH */
	case PQ_MESSAGE_DELETE:
	case PQ_MESSAGE_FD_R:
		req->msgid = MSGID;
		return 4;
	case PQ_ENVELOPE_CREATE:
		req->msgid = MSGID;
		req->evp = EVP;
		req->evplen = EVPLEN;
		return 4 + EVPLEN;
	case PQ_ENVELOPE_DELETE:
	case PQ_ENVELOPE_LOAD:
		req->evpid = EVPID;
		return 8;
	case PQ_ENVELOPE_UPDATE:
		req->evpid = EVPID;
		req->evp = EVP;
		req->evplen = EVPLEN;
		return 8 + EVPLEN;
	default:
		return 0;
	}
}

/* The payload of the sample request, laid out as docs/PROTOCOL.md says. */
static size_t
expected_request(uint32_t type, unsigned char *buf)
{
	uint32_t	v = PROC_QUEUE_API_VERSION, m = MSGID;
	uint64_t	e = EVPID;

	switch (type) {
	case PQ_INIT:
		memcpy(buf, &v, 4);
		return 4;
	case PQ_MESSAGE_DELETE:
	case PQ_MESSAGE_COMMIT:
	case PQ_MESSAGE_FD_R:
		memcpy(buf, &m, 4);
		return 4;
	case PQ_ENVELOPE_CREATE:
		memcpy(buf, &m, 4);
		memcpy(buf + 4, EVP, EVPLEN);
		return 4 + EVPLEN;
	case PQ_ENVELOPE_DELETE:
	case PQ_ENVELOPE_LOAD:
		memcpy(buf, &e, 8);
		return 8;
	case PQ_ENVELOPE_UPDATE:
		memcpy(buf, &e, 8);
		memcpy(buf + 8, EVP, EVPLEN);
		return 8 + EVPLEN;
	default:
		return 0;
	}
}

static void
test_request_roundtrip(void **state)
{
	unsigned char		 buf[256], want[256];
	struct pq_request	 req, got;
	size_t			 len;
	uint32_t		 t;
	int			 fd;

	fd = xopen_null();
	for (t = PQ_INIT; t < PQ_NTYPES; t++) {
		len = sample_request(t, &req, fd);
		assert_int_equal(encode_request(&req, buf), len);
		assert_int_equal(expected_request(t, want), len);
		assert_memory_equal(buf, want, len);
		assert_int_equal(pq_request_decode(t, buf, len, req.fd, &got),
		    PQ_ERR_NONE);
		assert_int_equal(got.type, t);
		assert_int_equal(got.version, req.version);
		assert_int_equal(got.msgid, req.msgid);
		assert_int_equal(got.evpid, req.evpid);
		assert_int_equal(got.evplen, req.evplen);
		if (got.evplen > 0)
			assert_memory_equal(got.evp, EVP, got.evplen);
		assert_int_equal(got.fd, req.fd);
	}
	close(fd);
}

/* An envelope may be empty; it still has its id in front. */
static void
test_request_empty_envelope(void **state)
{
	unsigned char		 buf[8] = { 0 };
	struct pq_request	 req;

	assert_int_equal(pq_request_decode(PQ_ENVELOPE_CREATE, buf, 4, -1,
	    &req), PQ_ERR_NONE);
	assert_int_equal(req.evplen, 0);
	assert_int_equal(pq_request_decode(PQ_ENVELOPE_UPDATE, buf, 8, -1,
	    &req), PQ_ERR_NONE);
	assert_int_equal(req.evplen, 0);
}

static void
test_request_bad_type(void **state)
{
	static const uint32_t bad[] = { PQ_OK, PQ_FAIL, 13, 99, 0xffffffffU };
	unsigned char		 buf[16] = { 0 };
	struct pq_request	 req;
	size_t			 i, len;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		for (len = 0; len <= 8; len += 4)
			assert_int_equal(pq_request_decode(bad[i], buf, len,
			    -1, &req), PQ_ERR_TYPE);
}

/* Fixed-length requests: one byte short and one byte long. */
static void
test_request_bad_length(void **state)
{
	unsigned char		 buf[256];
	struct pq_request	 req, got;
	size_t			 len;
	uint32_t		 t;
	int			 fd;

	fd = xopen_null();
	memset(buf, 0, sizeof(buf));
	for (t = PQ_INIT; t < PQ_NTYPES; t++) {
		len = sample_request(t, &req, fd);
		if (t == PQ_ENVELOPE_CREATE || t == PQ_ENVELOPE_UPDATE)
			continue;
		if (len > 0)
			assert_int_equal(pq_request_decode(t, buf, len - 1,
			    req.fd, &got), PQ_ERR_LENGTH);
		assert_int_equal(pq_request_decode(t, buf, len + 1, req.fd,
		    &got), PQ_ERR_LENGTH);
	}
	for (len = 0; len < 4; len++)
		assert_int_equal(pq_request_decode(PQ_ENVELOPE_CREATE, buf, len,
		    -1, &got), PQ_ERR_LENGTH);
	for (len = 0; len < 8; len++)
		assert_int_equal(pq_request_decode(PQ_ENVELOPE_UPDATE, buf, len,
		    -1, &got), PQ_ERR_LENGTH);
	close(fd);
}

/*
 * Only MESSAGE_COMMIT carries an fd.  A refused decode leaves the fd
 * out of req: the caller still owns it and must close it.
 */
static void
test_request_fd(void **state)
{
	unsigned char		 buf[256];
	struct pq_request	 req, got;
	size_t			 len;
	uint32_t		 t;
	int			 fd;

	fd = xopen_null();
	for (t = PQ_INIT; t < PQ_NTYPES; t++) {
		len = sample_request(t, &req, fd);
		encode_request(&req, buf);
		if (t == PQ_MESSAGE_COMMIT) {
			assert_int_equal(pq_request_decode(t, buf, len, -1,
			    &got), PQ_ERR_FD_MISSING);
			continue;
		}
		assert_int_equal(pq_request_decode(t, buf, len, fd, &got),
		    PQ_ERR_FD_UNEXPECTED);
		assert_int_equal(got.fd, -1);
	}
	assert_true(fd_is_open(fd));
	close(fd);
}

/* One answer shape: what to encode, the bytes, and the decoded fields. */
struct answer_case {
	const char	*name;
	uint32_t	 to;
	int		 r;
	uint32_t	 msgid;
	uint64_t	 evpid;
	const char	*evp;
	size_t		 evplen;
	const char	*bytes;		/* the payload, as smtpd expects it */
	size_t		 len;
};

#define R1	"\1\0\0\0"
#define R0	"\0\0\0\0"
#define RM1	"\377\377\377\377"
#define MID	"\xd4\xc3\xb2\xa1"
#define EID	"\x18\x07\xf6\xe5\xd4\xc3\xb2\xa1"

static const struct answer_case answers[] = {
	{ "INIT", PQ_INIT, 0, 0, 0, NULL, 0, "", 0 },
	{ "CLOSE 1", PQ_CLOSE, 1, 0, 0, NULL, 0, R1, 4 },
	{ "CLOSE 0", PQ_CLOSE, 0, 0, 0, NULL, 0, R0, 4 },
	{ "MESSAGE_CREATE 1", PQ_MESSAGE_CREATE, 1, MSGID, 0, NULL, 0,
	    R1 MID, 8 },
	{ "MESSAGE_CREATE 0", PQ_MESSAGE_CREATE, 0, 0, 0, NULL, 0, R0, 4 },
	{ "MESSAGE_DELETE 1", PQ_MESSAGE_DELETE, 1, 0, 0, NULL, 0, R1, 4 },
	{ "MESSAGE_COMMIT 1", PQ_MESSAGE_COMMIT, 1, 0, 0, NULL, 0, R1, 4 },
	{ "MESSAGE_COMMIT 0", PQ_MESSAGE_COMMIT, 0, 0, 0, NULL, 0, R0, 4 },
	{ "MESSAGE_FD_R", PQ_MESSAGE_FD_R, 0, 0, 0, NULL, 0, "", 0 },
	{ "ENVELOPE_CREATE 1", PQ_ENVELOPE_CREATE, 1, 0, EVPID, NULL, 0,
	    R1 EID, 12 },
	{ "ENVELOPE_CREATE 0", PQ_ENVELOPE_CREATE, 0, 0, 0, NULL, 0, R0, 4 },
	{ "ENVELOPE_DELETE 1", PQ_ENVELOPE_DELETE, 1, 0, 0, NULL, 0, R1, 4 },
	{ "ENVELOPE_LOAD", PQ_ENVELOPE_LOAD, 0, 0, 0, EVP, EVPLEN, EVP,
	    EVPLEN },
	{ "ENVELOPE_LOAD empty", PQ_ENVELOPE_LOAD, 0, 0, 0, NULL, 0, "", 0 },
	{ "ENVELOPE_UPDATE 1", PQ_ENVELOPE_UPDATE, 1, 0, 0, NULL, 0, R1, 4 },
	{ "ENVELOPE_UPDATE 0", PQ_ENVELOPE_UPDATE, 0, 0, 0, NULL, 0, R0, 4 },
	{ "ENVELOPE_WALK 3", PQ_ENVELOPE_WALK, 3, 0, EVPID, "abc", 3,
	    "\3\0\0\0" EID "abc", 15 },
	{ "ENVELOPE_WALK 0", PQ_ENVELOPE_WALK, 0, 0, 0, NULL, 0, R0, 4 },
	{ "ENVELOPE_WALK -1", PQ_ENVELOPE_WALK, -1, 0, 0, NULL, 0, RM1, 4 },
};

static void
test_answer_shapes(void **state)
{
	const struct answer_case *c;
	unsigned char		 buf[256];
	struct pq_answer	 a, got;
	size_t			 i;

	for (i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
		c = &answers[i];
		print_message("  %s\n", c->name);
		memset(&a, 0, sizeof(a));
		a.to = c->to;
		a.r = c->r;
		a.msgid = c->msgid;
		a.evpid = c->evpid;
		a.evp = c->evp;
		a.evplen = c->evplen;
		a.fd = -1;
		assert_int_equal(encode_answer(&a, buf), c->len);
		assert_memory_equal(buf, c->bytes, c->len);

		assert_int_equal(pq_answer_decode(c->to, c->bytes, c->len, -1,
		    &got), PQ_ERR_NONE);
		assert_int_equal(got.to, c->to);
		assert_int_equal(got.r, c->r);
		assert_int_equal(got.msgid, c->msgid);
		assert_int_equal(got.evpid, c->evpid);
		assert_int_equal(got.evplen, c->evplen);
		if (c->evplen > 0)
			assert_memory_equal(got.evp, c->evp, c->evplen);
		assert_int_equal(got.fd, -1);
	}
}

/* The only answer with an fd; no fd there means failure, not an error. */
static void
test_answer_fd_r(void **state)
{
	struct pq_answer	a;
	int			fd;

	fd = xopen_null();
	assert_int_equal(pq_answer_decode(PQ_MESSAGE_FD_R, "", 0, fd, &a),
	    PQ_ERR_NONE);
	assert_int_equal(a.fd, fd);
	assert_int_equal(pq_answer_decode(PQ_MESSAGE_FD_R, "", 0, -1, &a),
	    PQ_ERR_NONE);
	assert_int_equal(a.fd, -1);
	assert_int_equal(pq_answer_decode(PQ_MESSAGE_FD_R, R1, 4, fd, &a),
	    PQ_ERR_LENGTH);
	close(fd);
}

static void
test_answer_fd_unexpected(void **state)
{
	const struct answer_case *c;
	struct pq_answer	 a;
	size_t			 i;
	int			 fd;

	fd = xopen_null();
	for (i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
		c = &answers[i];
		if (c->to == PQ_MESSAGE_FD_R)
			continue;
		assert_int_equal(pq_answer_decode(c->to, c->bytes, c->len, fd,
		    &a), PQ_ERR_FD_UNEXPECTED);
		assert_int_equal(a.fd, -1);
	}
	close(fd);
}

static void
test_answer_bad_to(void **state)
{
	static const uint32_t bad[] = { PQ_OK, PQ_FAIL, 13, 99 };
	struct pq_answer	a;
	size_t			i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(pq_answer_decode(bad[i], R1, 4, -1, &a),
		    PQ_ERR_TYPE);
}

/* A payload that must be refused, and why. */
struct bad_answer {
	const char	*name;
	uint32_t	 to;
	const char	*bytes;
	size_t		 len;
	enum pq_error	 want;
};

static const struct bad_answer bad_answers[] = {
	{ "INIT not empty", PQ_INIT, R1, 4, PQ_ERR_LENGTH },
	{ "CLOSE empty", PQ_CLOSE, "", 0, PQ_ERR_LENGTH },
	{ "CLOSE 3 bytes", PQ_CLOSE, R1, 3, PQ_ERR_LENGTH },
	{ "CLOSE 5 bytes", PQ_CLOSE, R1 "\0", 5, PQ_ERR_LENGTH },
	{ "CLOSE r=2", PQ_CLOSE, "\2\0\0\0", 4, PQ_ERR_VALUE },
	{ "CLOSE r=-1", PQ_CLOSE, RM1, 4, PQ_ERR_VALUE },
	{ "MESSAGE_CREATE r=1 no msgid", PQ_MESSAGE_CREATE, R1, 4,
	    PQ_ERR_LENGTH },
	{ "MESSAGE_CREATE r=1 9 bytes", PQ_MESSAGE_CREATE, R1 MID "\0", 9,
	    PQ_ERR_LENGTH },
	{ "MESSAGE_CREATE r=0 with msgid", PQ_MESSAGE_CREATE, R0 MID, 8,
	    PQ_ERR_LENGTH },
	{ "MESSAGE_CREATE r=2", PQ_MESSAGE_CREATE, "\2\0\0\0" MID, 8,
	    PQ_ERR_VALUE },
	{ "MESSAGE_DELETE 2 bytes", PQ_MESSAGE_DELETE, R1, 2, PQ_ERR_LENGTH },
	{ "MESSAGE_COMMIT r=2", PQ_MESSAGE_COMMIT, "\2\0\0\0", 4,
	    PQ_ERR_VALUE },
	{ "MESSAGE_COMMIT r=-1", PQ_MESSAGE_COMMIT, RM1, 4, PQ_ERR_VALUE },
	{ "MESSAGE_COMMIT 8 bytes", PQ_MESSAGE_COMMIT, R1 R0, 8,
	    PQ_ERR_LENGTH },
	{ "ENVELOPE_CREATE r=1 8 bytes", PQ_ENVELOPE_CREATE, R1 MID, 8,
	    PQ_ERR_LENGTH },
	{ "ENVELOPE_CREATE r=1 no evpid", PQ_ENVELOPE_CREATE, R1, 4,
	    PQ_ERR_LENGTH },
	{ "ENVELOPE_CREATE r=0 with evpid", PQ_ENVELOPE_CREATE, R0 EID, 12,
	    PQ_ERR_LENGTH },
	{ "ENVELOPE_CREATE r=1 13 bytes", PQ_ENVELOPE_CREATE, R1 EID "\0", 13,
	    PQ_ERR_LENGTH },
	{ "ENVELOPE_DELETE r=2", PQ_ENVELOPE_DELETE, "\2\0\0\0", 4,
	    PQ_ERR_VALUE },
	{ "ENVELOPE_UPDATE 0 bytes", PQ_ENVELOPE_UPDATE, "", 0,
	    PQ_ERR_LENGTH },
	{ "ENVELOPE_UPDATE r=0x100", PQ_ENVELOPE_UPDATE, "\0\1\0\0", 4,
	    PQ_ERR_VALUE },
	{ "ENVELOPE_WALK r=-2", PQ_ENVELOPE_WALK, "\376\377\377\377", 4,
	    PQ_ERR_VALUE },
	{ "ENVELOPE_WALK r=5, 3 bytes", PQ_ENVELOPE_WALK,
	    "\5\0\0\0" EID "abc", 15, PQ_ERR_LENGTH },
	{ "ENVELOPE_WALK r=5, 6 bytes", PQ_ENVELOPE_WALK,
	    "\5\0\0\0" EID "abcdef", 18, PQ_ERR_LENGTH },
	{ "ENVELOPE_WALK r=5, no evpid", PQ_ENVELOPE_WALK, "\5\0\0\0abcde",
	    9, PQ_ERR_LENGTH },
	{ "ENVELOPE_WALK payload of 3", PQ_ENVELOPE_WALK, R1, 3,
	    PQ_ERR_LENGTH },
	{ "ENVELOPE_WALK r=-1 with evpid", PQ_ENVELOPE_WALK, RM1 EID, 12,
	    PQ_ERR_LENGTH },
	{ "ENVELOPE_WALK r=0 with evpid", PQ_ENVELOPE_WALK, R0 EID, 12,
	    PQ_ERR_LENGTH },
	{ "ENVELOPE_WALK r=INT_MAX", PQ_ENVELOPE_WALK,
	    "\377\377\377\177" EID "abc", 15, PQ_ERR_LENGTH },
};

static void
test_answer_refused(void **state)
{
	const struct bad_answer	*c;
	struct pq_answer	 a;
	size_t			 i;

	for (i = 0; i < sizeof(bad_answers) / sizeof(bad_answers[0]); i++) {
		c = &bad_answers[i];
		print_message("  %s\n", c->name);
		assert_int_equal(pq_answer_decode(c->to, c->bytes, c->len, -1,
		    &a), c->want);
	}
}

/*
 * The largest envelope each message may carry fills MAX_IMSGSIZE
 * exactly, and PQ_EVP_MAX fits all of them: constants, so the compiler
 * checks them.
 */
_Static_assert(IMSG_HEADER_SIZE + 4 + PQ_EVP_MAX_CREATE == MAX_IMSGSIZE,
    "PQ_EVP_MAX_CREATE does not fill an imsg");
_Static_assert(IMSG_HEADER_SIZE + 8 + PQ_EVP_MAX_UPDATE == MAX_IMSGSIZE,
    "PQ_EVP_MAX_UPDATE does not fill an imsg");
_Static_assert(IMSG_HEADER_SIZE + PQ_EVP_MAX_LOAD == MAX_IMSGSIZE,
    "PQ_EVP_MAX_LOAD does not fill an imsg");
_Static_assert(IMSG_HEADER_SIZE + 12 + PQ_EVP_MAX_WALK == MAX_IMSGSIZE,
    "PQ_EVP_MAX_WALK does not fill an imsg");
_Static_assert(PQ_EVP_MAX <= PQ_EVP_MAX_CREATE &&
    PQ_EVP_MAX <= PQ_EVP_MAX_UPDATE && PQ_EVP_MAX <= PQ_EVP_MAX_LOAD &&
    PQ_EVP_MAX <= PQ_EVP_MAX_WALK, "PQ_EVP_MAX exceeds an answer's room");

/* A walk answer with the largest envelope goes out and decodes. */
static void
test_walk_max_over_socket(void **state)
{
	static char		 evp[PQ_EVP_MAX_WALK + 1];
	unsigned char		 head[PQ_HEAD_MAX];
	struct iovec		 iov[2];
	struct imsgbuf		 tx, rx;
	struct imsg		 imsg;
	struct pq_answer	 a, got;
	int			 sv[2], n;

	memset(evp, 'e', sizeof(evp));
	xsocketpair(sv);
	imsgbuf_init(&tx, sv[0], IMSG_DIALECT_B);
	imsgbuf_init(&rx, sv[1], IMSG_DIALECT_B);
	memset(&a, 0, sizeof(a));
	a.to = PQ_ENVELOPE_WALK;
	a.evpid = EVPID;
	a.evp = evp;
	a.r = PQ_EVP_MAX_WALK;
	a.evplen = PQ_EVP_MAX_WALK;
	n = pq_answer_iov(&a, head, iov);
	assert_int_equal(imsg_sendv(&tx, PQ_OK, iov, n, -1), 0);
	assert_int_equal(get_one(&rx, &imsg), 1);
	assert_int_equal(imsg.hdr.len, MAX_IMSGSIZE);
	assert_int_equal(pq_answer_decode(PQ_ENVELOPE_WALK, imsg.data,
	    imsg.datalen, imsg.fd, &got), PQ_ERR_NONE);
	assert_int_equal(got.evplen, PQ_EVP_MAX_WALK);
	assert_int_equal(got.evpid, EVPID);

	/* One byte more does not fit in a message at all. */
	a.r = PQ_EVP_MAX_WALK + 1;
	a.evplen = PQ_EVP_MAX_WALK + 1;
	n = pq_answer_iov(&a, head, iov);
	assert_int_equal(imsg_sendv(&tx, PQ_OK, iov, n, -1), -1);
	close(sv[0]);
	close(sv[1]);
}

static void
test_names(void **state)
{
	uint32_t	t;

	assert_string_equal(pq_type_name(PQ_OK), "OK");
	assert_string_equal(pq_type_name(PQ_MESSAGE_COMMIT),
	    "MESSAGE_COMMIT");
	assert_string_equal(pq_type_name(PQ_ENVELOPE_WALK), "ENVELOPE_WALK");
	assert_string_equal(pq_type_name(13), "UNKNOWN");
	assert_string_equal(pq_type_name(0xffffffffU), "UNKNOWN");
	for (t = 0; t < PQ_NTYPES; t++)
		assert_non_null(pq_type_name(t));
	assert_string_equal(pq_error_str(PQ_ERR_NONE), "no error");
	assert_string_equal(pq_error_str(PQ_ERR_FD_MISSING), "missing fd");
	assert_string_equal(pq_error_str((enum pq_error)42), "?");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_roundtrip),
		cmocka_unit_test(test_request_empty_envelope),
		cmocka_unit_test(test_request_bad_type),
		cmocka_unit_test(test_request_bad_length),
		cmocka_unit_test(test_request_fd),
		cmocka_unit_test(test_answer_shapes),
		cmocka_unit_test(test_answer_fd_r),
		cmocka_unit_test(test_answer_fd_unexpected),
		cmocka_unit_test(test_answer_bad_to),
		cmocka_unit_test(test_answer_refused),
		cmocka_unit_test(test_walk_max_over_socket),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
