/*
 * Unit tests of proto/pq_client.c against a fake server.  Most tests
 * put the server's canned answer (raw bytes, hand-built header) in the
 * socket before the call, so they need no second thread: the client
 * writes its request, then finds the answer waiting.  The request is
 * then read back from the server end and checked.  One test runs a
 * real server thread through a whole conversation in each dialect.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "imsg.h"
#include "proc_queue.h"
#include "pq_client.h"
#include "unit_util.h"

#define MSGID	0x01020304U
#define EVPID	0x0102030405060708ULL
#define EVP	"version: 3\nrcpt: b@example.org\n"
#define EVPLEN	(sizeof(EVP) - 1)

#define R1	"\1\0\0\0"
#define R0	"\0\0\0\0"
#define MID	"\4\3\2\1"
#define EID	"\10\7\6\5\4\3\2\1"

struct fake {
	int			 sv[2];		/* client, server */
	struct pq_client	 c;
	struct imsgbuf		 srv;		/* reads the requests */
	int			 fds;		/* open fds at the start */
};

static void
fake_open(struct fake *f, enum imsg_dialect d)
{
	f->fds = count_fds();
	xsocketpair(f->sv);
	pq_client_init(&f->c, f->sv[0], d);
	imsgbuf_init(&f->srv, f->sv[1], IMSG_DIALECT_UNKNOWN);
}

/* Whatever happened, no fd may be left behind. */
static void
fake_close(struct fake *f)
{
	imsgbuf_clear(&f->c.ib);
	imsgbuf_clear(&f->srv);
	if (f->sv[0] != -1)
		close(f->sv[0]);
	if (f->sv[1] != -1)
		close(f->sv[1]);
	assert_int_equal(count_fds(), f->fds);
}

/* Queue an answer: type, payload, and an fd with or without a mark. */
static void
answer_raw(struct fake *f, uint32_t type, const void *data, size_t len,
    int fd, enum imsg_dialect markd, int mark)
{
	unsigned char	buf[MAX_IMSGSIZE];

	mkhdr_d(buf, markd, type, IMSG_HEADER_SIZE + len, mark, 4242);
	memcpy(buf + IMSG_HEADER_SIZE, data, len);
	send_raw(f->sv[1], buf, IMSG_HEADER_SIZE + len, fd);
}

static void
answer_ok(struct fake *f, const void *data, size_t len)
{
	answer_raw(f, PQ_OK, data, len, -1, IMSG_DIALECT_A, 0);
}

/* The request the client sent; its fd, if any, is the caller's. */
static void
take_request(struct fake *f, uint32_t type, struct pq_request *req,
    struct imsg *imsg)
{
	assert_int_equal(get_one(&f->srv, imsg), 1);
	assert_int_equal(imsg->hdr.type, type);
	assert_int_equal(pq_request_decode(imsg->hdr.type, imsg->data,
	    imsg->datalen, imsg->fd, req), PQ_ERR_NONE);
}

#define BOTH(f)								\
static void f##_A(void **state) { f(IMSG_DIALECT_A); }			\
static void f##_B(void **state) { f(IMSG_DIALECT_B); }

static void
init_close(enum imsg_dialect d)
{
	struct fake		 f;
	struct pq_request	 req;
	struct imsg		 imsg;

	fake_open(&f, d);
	answer_ok(&f, "", 0);
	assert_int_equal(pq_init(&f.c), 1);
	take_request(&f, PQ_INIT, &req, &imsg);
	assert_int_equal(req.version, PROC_QUEUE_API_VERSION);
	assert_int_equal(imsg.hdr.len, IMSG_HEADER_SIZE + 4);

	answer_ok(&f, R1, 4);
	assert_int_equal(pq_close(&f.c), 1);
	take_request(&f, PQ_CLOSE, &req, &imsg);
	answer_ok(&f, R0, 4);
	assert_int_equal(pq_close(&f.c), 0);
	take_request(&f, PQ_CLOSE, &req, &imsg);
	assert_true(nothing_pending(f.sv[1]));
	fake_close(&f);
}
BOTH(init_close)

static void
test_message_create(void **state)
{
	struct fake		 f;
	struct pq_request	 req;
	struct imsg		 imsg;
	uint32_t		 msgid = 0;

	fake_open(&f, IMSG_DIALECT_A);
	answer_ok(&f, R1 MID, 8);
	assert_int_equal(pq_message_create(&f.c, &msgid), 1);
	assert_int_equal(msgid, MSGID);
	take_request(&f, PQ_MESSAGE_CREATE, &req, &imsg);
	assert_int_equal(imsg.datalen, 0);

	msgid = 7;
	answer_ok(&f, R0, 4);
	assert_int_equal(pq_message_create(&f.c, &msgid), 0);
	assert_int_equal(msgid, 7);
	take_request(&f, PQ_MESSAGE_CREATE, &req, &imsg);
	fake_close(&f);
}

static void
test_message_delete(void **state)
{
	struct fake		 f;
	struct pq_request	 req;
	struct imsg		 imsg;

	fake_open(&f, IMSG_DIALECT_B);
	answer_ok(&f, R1, 4);
	assert_int_equal(pq_message_delete(&f.c, MSGID), 1);
	take_request(&f, PQ_MESSAGE_DELETE, &req, &imsg);
	assert_int_equal(req.msgid, MSGID);
	fake_close(&f);
}

/* COMMIT's fd goes out marked in the client's dialect. */
static void
message_commit(enum imsg_dialect d)
{
	struct fake		 f;
	struct pq_request	 req;
	struct imsg		 imsg;
	int			 fd;

	fake_open(&f, d);
	fd = xopen_null();
	answer_ok(&f, R1, 4);
	assert_int_equal(pq_message_commit(&f.c, MSGID, fd), 1);
	take_request(&f, PQ_MESSAGE_COMMIT, &req, &imsg);
	assert_int_equal(req.msgid, MSGID);
	assert_int_equal(imsg.fd_dialect, d);
	assert_true(same_file(req.fd, fd));
	/* The client's own fd stays the caller's. */
	assert_true(fd_is_open(fd));
	close(req.fd);
	close(fd);
	fake_close(&f);
}
BOTH(message_commit)

/* The fd answer, marked in either dialect: the reader takes both. */
static void
message_fd_r(enum imsg_dialect markd)
{
	struct fake		 f;
	struct pq_request	 req;
	struct imsg		 imsg;
	int			 pp[2], fd;
	char			 c;

	fake_open(&f, IMSG_DIALECT_A);
	xpipe(pp);
	assert_int_equal(write(pp[1], "m", 1), 1);
	answer_raw(&f, PQ_OK, "", 0, pp[0], markd, 1);
	fd = pq_message_fd_r(&f.c, MSGID);
	assert_true(fd >= 0);
	assert_true(same_file(fd, pp[0]));
	assert_int_equal(read(fd, &c, 1), 1);
	assert_int_equal(c, 'm');
	close(fd);
	take_request(&f, PQ_MESSAGE_FD_R, &req, &imsg);
	assert_int_equal(req.msgid, MSGID);

	/* No fd: the daemon could not open it, a failure but no error. */
	answer_ok(&f, "", 0);
	assert_int_equal(pq_message_fd_r(&f.c, MSGID), -1);
	take_request(&f, PQ_MESSAGE_FD_R, &req, &imsg);
	close(pp[0]);
	close(pp[1]);
	fake_close(&f);
}
BOTH(message_fd_r)

static void
test_envelope_create(void **state)
{
	struct fake		 f;
	struct pq_request	 req;
	struct imsg		 imsg;
	uint64_t		 evpid = 0;

	fake_open(&f, IMSG_DIALECT_B);
	answer_ok(&f, R1 EID, 12);
	assert_int_equal(pq_envelope_create(&f.c, MSGID, EVP, EVPLEN,
	    &evpid), 1);
	assert_int_equal(evpid, EVPID);
	take_request(&f, PQ_ENVELOPE_CREATE, &req, &imsg);
	assert_int_equal(req.msgid, MSGID);
	assert_int_equal(req.evplen, EVPLEN);
	assert_memory_equal(req.evp, EVP, EVPLEN);

	evpid = 9;
	answer_ok(&f, R0, 4);
	assert_int_equal(pq_envelope_create(&f.c, MSGID, EVP, EVPLEN,
	    &evpid), 0);
	assert_int_equal(evpid, 9);
	take_request(&f, PQ_ENVELOPE_CREATE, &req, &imsg);
	fake_close(&f);
}

static void
test_envelope_delete_update(void **state)
{
	struct fake		 f;
	struct pq_request	 req;
	struct imsg		 imsg;

	fake_open(&f, IMSG_DIALECT_A);
	answer_ok(&f, R1, 4);
	assert_int_equal(pq_envelope_delete(&f.c, EVPID), 1);
	take_request(&f, PQ_ENVELOPE_DELETE, &req, &imsg);
	assert_int_equal(req.evpid, EVPID);

	answer_ok(&f, R0, 4);
	assert_int_equal(pq_envelope_update(&f.c, EVPID, EVP, EVPLEN), 0);
	take_request(&f, PQ_ENVELOPE_UPDATE, &req, &imsg);
	assert_int_equal(req.evpid, EVPID);
	assert_int_equal(req.evplen, EVPLEN);
	assert_memory_equal(req.evp, EVP, EVPLEN);
	fake_close(&f);
}

static void
test_envelope_load(void **state)
{
	struct fake		 f;
	struct pq_request	 req;
	struct imsg		 imsg;
	char			 buf[64];

	fake_open(&f, IMSG_DIALECT_A);
	answer_ok(&f, EVP, EVPLEN);
	assert_int_equal(pq_envelope_load(&f.c, EVPID, buf, sizeof(buf)),
	    EVPLEN);
	assert_memory_equal(buf, EVP, EVPLEN);
	take_request(&f, PQ_ENVELOPE_LOAD, &req, &imsg);
	assert_int_equal(req.evpid, EVPID);

	answer_ok(&f, "", 0);
	assert_int_equal(pq_envelope_load(&f.c, EVPID, buf, sizeof(buf)), 0);
	take_request(&f, PQ_ENVELOPE_LOAD, &req, &imsg);

	/* Larger than the caller's struct envelope: smtpd is fatal. */
	answer_ok(&f, EVP, EVPLEN);
	assert_int_equal(pq_envelope_load(&f.c, EVPID, buf, EVPLEN - 1),
	    PQ_EPROTO);
	assert_int_equal(f.c.error, PQ_ERR_LENGTH);
	take_request(&f, PQ_ENVELOPE_LOAD, &req, &imsg);
	fake_close(&f);
}

static void
test_envelope_walk(void **state)
{
	struct fake		 f;
	struct pq_request	 req;
	struct imsg		 imsg;
	uint64_t		 evpid = 0;
	char			 buf[64];

	fake_open(&f, IMSG_DIALECT_B);
	answer_ok(&f, "\5\0\0\0" EID "hello", 17);
	assert_int_equal(pq_envelope_walk(&f.c, &evpid, buf, sizeof(buf)), 5);
	assert_int_equal(evpid, EVPID);
	assert_memory_equal(buf, "hello", 5);
	take_request(&f, PQ_ENVELOPE_WALK, &req, &imsg);
	assert_int_equal(imsg.datalen, 0);

	answer_ok(&f, R0, 4);
	assert_int_equal(pq_envelope_walk(&f.c, &evpid, buf, sizeof(buf)), 0);
	answer_ok(&f, "\377\377\377\377", 4);
	assert_int_equal(pq_envelope_walk(&f.c, &evpid, buf, sizeof(buf)),
	    -1);
	answer_ok(&f, "\5\0\0\0" EID "hello", 17);
	assert_int_equal(pq_envelope_walk(&f.c, &evpid, buf, 4), PQ_EPROTO);
	assert_int_equal(f.c.error, PQ_ERR_LENGTH);
	fake_close(&f);
}

/* One malformed answer and what the client must say about it. */
struct bad {
	const char	*name;
	uint32_t	 to;		/* the call made */
	uint32_t	 type;		/* answer type */
	const char	*data;
	size_t		 len;
	enum pq_error	 want;
};

static const struct bad bads[] = {
	{ "FAIL answer", PQ_CLOSE, PQ_FAIL, R1, 4, PQ_ERR_TYPE },
	{ "INIT-typed answer", PQ_CLOSE, PQ_INIT, R1, 4, PQ_ERR_TYPE },
	{ "answer type 99", PQ_INIT, 99, "", 0, PQ_ERR_TYPE },
	{ "CLOSE short", PQ_CLOSE, PQ_OK, R1, 3, PQ_ERR_LENGTH },
	{ "CLOSE long", PQ_CLOSE, PQ_OK, R1 "\0", 5, PQ_ERR_LENGTH },
	{ "CLOSE empty", PQ_CLOSE, PQ_OK, "", 0, PQ_ERR_LENGTH },
	{ "INIT not empty", PQ_INIT, PQ_OK, R1, 4, PQ_ERR_LENGTH },
	{ "MESSAGE_CREATE r=1 short", PQ_MESSAGE_CREATE, PQ_OK, R1, 4,
	    PQ_ERR_LENGTH },
	{ "MESSAGE_CREATE r=0 long", PQ_MESSAGE_CREATE, PQ_OK, R0 MID, 8,
	    PQ_ERR_LENGTH },
	{ "ENVELOPE_CREATE r=1 short", PQ_ENVELOPE_CREATE, PQ_OK, R1 MID, 8,
	    PQ_ERR_LENGTH },
	{ "MESSAGE_DELETE r=2", PQ_MESSAGE_DELETE, PQ_OK, "\2\0\0\0", 4,
	    PQ_ERR_VALUE },
	{ "ENVELOPE_WALK r=-2", PQ_ENVELOPE_WALK, PQ_OK, "\376\377\377\377",
	    4, PQ_ERR_VALUE },
	{ "ENVELOPE_WALK r=5, 3 bytes", PQ_ENVELOPE_WALK, PQ_OK,
	    "\5\0\0\0" EID "abc", 15, PQ_ERR_LENGTH },
	{ "MESSAGE_FD_R not empty", PQ_MESSAGE_FD_R, PQ_OK, R1, 4,
	    PQ_ERR_LENGTH },
};

/* A request of type t with harmless fields. */
static void
request_of(uint32_t t, struct pq_request *req, int fd)
{
	memset(req, 0, sizeof(*req));
	req->type = t;
	req->version = PROC_QUEUE_API_VERSION;
	req->msgid = MSGID;
	req->evpid = EVPID;
	req->evp = EVP;
	req->evplen = EVPLEN;
	req->fd = t == PQ_MESSAGE_COMMIT ? fd : -1;
}

static void
test_bad_answers(void **state)
{
	const struct bad	*b;
	struct fake		 f;
	struct pq_request	 req;
	struct pq_answer	 a;
	size_t			 i;

	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		b = &bads[i];
		print_message("  %s\n", b->name);
		fake_open(&f, IMSG_DIALECT_A);
		request_of(b->to, &req, -1);
		answer_raw(&f, b->type, b->data, b->len, -1, IMSG_DIALECT_A,
		    0);
		assert_int_equal(pq_call(&f.c, &req, &a), PQ_EPROTO);
		assert_int_equal(f.c.error, b->want);
		if (b->want == PQ_ERR_TYPE)
			assert_int_equal(f.c.answer_type, b->type);
		fake_close(&f);
	}
}

/* The convenience calls say PQ_EPROTO too, not a bogus r. */
static void
test_bad_answers_wrappers(void **state)
{
	struct fake	f;
	uint32_t	msgid;
	uint64_t	evpid;
	char		buf[64];

	fake_open(&f, IMSG_DIALECT_A);
	answer_raw(&f, PQ_FAIL, "", 0, -1, IMSG_DIALECT_A, 0);
	assert_int_equal(pq_init(&f.c), PQ_EPROTO);
	answer_ok(&f, "\2\0\0\0", 4);
	assert_int_equal(pq_close(&f.c), PQ_EPROTO);
	answer_ok(&f, R1, 4);
	assert_int_equal(pq_message_create(&f.c, &msgid), PQ_EPROTO);
	answer_ok(&f, R1 "\0\0\0\0", 8);
	assert_int_equal(pq_message_delete(&f.c, MSGID), PQ_EPROTO);
	answer_ok(&f, R1, 4);
	assert_int_equal(pq_envelope_create(&f.c, MSGID, EVP, EVPLEN,
	    &evpid), PQ_EPROTO);
	answer_ok(&f, "", 0);
	assert_int_equal(pq_envelope_delete(&f.c, EVPID), PQ_EPROTO);
	answer_ok(&f, "", 0);
	assert_int_equal(pq_envelope_update(&f.c, EVPID, EVP, EVPLEN),
	    PQ_EPROTO);
	answer_raw(&f, PQ_FAIL, "", 0, -1, IMSG_DIALECT_A, 0);
	assert_int_equal(pq_envelope_load(&f.c, EVPID, buf, sizeof(buf)),
	    PQ_EPROTO);
	answer_ok(&f, "", 0);
	assert_int_equal(pq_envelope_walk(&f.c, &evpid, buf, sizeof(buf)),
	    PQ_EPROTO);
	answer_ok(&f, R1, 4);
	assert_int_equal(pq_message_fd_r(&f.c, MSGID), PQ_EPROTO);
	fake_close(&f);
}

/* A header no dialect allows, or a mark without its fd. */
static void
test_bad_framing(void **state)
{
	unsigned char	 hdr[IMSG_HEADER_SIZE];
	struct fake	 f;

	fake_open(&f, IMSG_DIALECT_B);
	mkhdr(hdr, PQ_OK, 15, 1);
	send_raw(f.sv[1], hdr, sizeof(hdr), -1);
	assert_int_equal(pq_close(&f.c), PQ_EPROTO);
	fake_close(&f);

	fake_open(&f, IMSG_DIALECT_B);
	answer_raw(&f, PQ_OK, "", 0, -1, IMSG_DIALECT_B, 1);
	assert_int_equal(pq_message_fd_r(&f.c, MSGID), PQ_EPROTO);
	fake_close(&f);
}

/* The server went away: before the request, or without answering. */
static void
test_peer_gone(void **state)
{
	struct fake	f;

	fake_open(&f, IMSG_DIALECT_A);
	close(f.sv[1]);
	f.sv[1] = -1;
	assert_int_equal(pq_close(&f.c), PQ_EPROTO);
	fake_close(&f);

	fake_open(&f, IMSG_DIALECT_A);
	assert_int_equal(shutdown(f.sv[1], SHUT_WR), 0);
	assert_int_equal(pq_close(&f.c), PQ_EPROTO);
	fake_close(&f);

	/* Half an answer, then end of stream. */
	fake_open(&f, IMSG_DIALECT_A);
	send_raw(f.sv[1], R1 R1, 8, -1);
	assert_int_equal(shutdown(f.sv[1], SHUT_WR), 0);
	assert_int_equal(pq_close(&f.c), PQ_EPROTO);
	fake_close(&f);
}

/*
 * An fd on an answer that takes none is refused and closed at once:
 * smtpd must not collect fds from a broken helper, nor may we.
 */
static void
fd_on_wrong_answer(enum imsg_dialect markd)
{
	static const struct {
		uint32_t	 to, type;
		const char	*data;
		size_t		 len;
		enum pq_error	 want;
	} cases[] = {
		{ PQ_CLOSE, PQ_OK, R1, 4, PQ_ERR_FD_UNEXPECTED },
		{ PQ_MESSAGE_COMMIT, PQ_OK, R1, 4, PQ_ERR_FD_UNEXPECTED },
		{ PQ_ENVELOPE_LOAD, PQ_OK, EVP, EVPLEN, PQ_ERR_FD_UNEXPECTED },
		{ PQ_INIT, PQ_OK, "", 0, PQ_ERR_FD_UNEXPECTED },
		{ PQ_MESSAGE_FD_R, PQ_FAIL, "", 0, PQ_ERR_TYPE },
		{ PQ_MESSAGE_FD_R, PQ_OK, R1, 4, PQ_ERR_LENGTH },
	};
	struct fake		 f;
	struct pq_request	 req;
	struct pq_answer	 a;
	size_t			 i;
	int			 pp[2], cfd;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fake_open(&f, IMSG_DIALECT_A);
		xpipe(pp);
		cfd = xopen_null();
		request_of(cases[i].to, &req, cfd);
		answer_raw(&f, cases[i].type, cases[i].data, cases[i].len,
		    pp[0], markd, 1);
		close(pp[0]);
		assert_int_equal(pq_call(&f.c, &req, &a), PQ_EPROTO);
		assert_int_equal(f.c.error, cases[i].want);
		assert_true(pipe_reader_gone(pp[1]));
		close(pp[1]);
		close(cfd);
		fake_close(&f);
	}
}
BOTH(fd_on_wrong_answer)

/* An fd with no mark at all: the answer stands, the fd is dropped. */
static void
test_stray_fd_on_answer(void **state)
{
	struct fake	f;
	int		pp[2];

	fake_open(&f, IMSG_DIALECT_B);
	xpipe(pp);
	answer_raw(&f, PQ_OK, R1, 4, pp[0], IMSG_DIALECT_B, 0);
	close(pp[0]);
	assert_int_equal(pq_close(&f.c), 1);
	assert_int_equal(f.c.ib.stray_fds, 1);
	assert_true(pipe_reader_gone(pp[1]));
	close(pp[1]);
	fake_close(&f);
}

/*
 * A whole conversation with a server thread that decodes each request
 * with the codec and answers through imsg_sendv.  The thread records
 * what it saw; only the main thread asserts (cmocka is not
 * thread-safe).
 */
struct server {
	int			 fd;
	enum imsg_dialect	 d;
	int			 nreq;
	int			 errors;
	int			 commit_fd_ok;
	int			 pipe_r;	/* served on FD_R */
};

static void
serve_one(struct server *s, struct imsgbuf *ib, struct imsg *imsg)
{
	static const char	 walkevp[] = "walked";
	unsigned char		 head[PQ_HEAD_MAX];
	struct iovec		 iov[2];
	struct pq_request	 req;
	struct pq_answer	 a;
	int			 n;

	if (pq_request_decode(imsg->hdr.type, imsg->data, imsg->datalen,
	    imsg->fd, &req) != PQ_ERR_NONE) {
		s->errors++;
		if (imsg->fd != -1)
			close(imsg->fd);
		return;
	}
	memset(&a, 0, sizeof(a));
	a.to = req.type;
	a.r = 1;
	a.fd = -1;
	switch (req.type) {
	case PQ_MESSAGE_CREATE:
		a.msgid = MSGID;
		break;
	case PQ_MESSAGE_COMMIT:
		s->commit_fd_ok = imsg->fd_dialect == s->d;
		close(req.fd);
		break;
	case PQ_MESSAGE_FD_R:
		a.fd = s->pipe_r;
		break;
	case PQ_ENVELOPE_CREATE:
		a.evpid = EVPID;
		break;
	case PQ_ENVELOPE_LOAD:
		a.evp = EVP;
		a.evplen = EVPLEN;
		break;
	case PQ_ENVELOPE_WALK:
		a.r = s->nreq % 2 ? (int)sizeof(walkevp) - 1 : -1;
		a.evpid = EVPID;
		a.evp = walkevp;
		a.evplen = sizeof(walkevp) - 1;
		break;
	}
	n = pq_answer_iov(&a, head, iov);
	if (imsg_sendv(ib, PQ_OK, iov, n, a.fd) == -1)
		s->errors++;
	s->nreq++;
}

static void *
server_main(void *arg)
{
	struct server	*s = arg;
	struct imsgbuf	*ib;
	struct imsg	 imsg;

	/* Too big for a thread's comfort on the stack. */
	static struct imsgbuf	ibs[2];

	ib = &ibs[s->d == IMSG_DIALECT_B];
	imsgbuf_init(ib, s->fd, s->d);
	while (get_one(ib, &imsg) == 1)
		serve_one(s, ib, &imsg);
	imsgbuf_clear(ib);
	return NULL;
}

static void
conversation(enum imsg_dialect d)
{
	struct pq_client	 c;
	struct server		 s;
	pthread_t		 th;
	uint32_t		 msgid;
	uint64_t		 evpid;
	char			 buf[64];
	int			 sv[2], pp[2], fd, before;

	before = count_fds();
	xsocketpair(sv);
	xpipe(pp);
	assert_int_equal(write(pp[1], "x", 1), 1);
	memset(&s, 0, sizeof(s));
	s.fd = sv[1];
	s.d = d;
	s.pipe_r = pp[0];
	assert_int_equal(pthread_create(&th, NULL, server_main, &s), 0);
	pq_client_init(&c, sv[0], d);

	assert_int_equal(pq_init(&c), 1);
	assert_int_equal(pq_message_create(&c, &msgid), 1);
	assert_int_equal(msgid, MSGID);
	assert_int_equal(pq_envelope_create(&c, msgid, EVP, EVPLEN, &evpid),
	    1);
	assert_int_equal(evpid, EVPID);
	fd = xopen_null();
	assert_int_equal(pq_message_commit(&c, msgid, fd), 1);
	close(fd);
	fd = pq_message_fd_r(&c, msgid);
	assert_true(fd >= 0);
	assert_true(same_file(fd, pp[0]));
	close(fd);
	assert_int_equal(pq_envelope_load(&c, evpid, buf, sizeof(buf)),
	    EVPLEN);
	assert_memory_equal(buf, EVP, EVPLEN);
	assert_int_equal(pq_envelope_update(&c, evpid, EVP, EVPLEN), 1);
	assert_int_equal(pq_envelope_walk(&c, &evpid, buf, sizeof(buf)), 6);
	assert_memory_equal(buf, "walked", 6);
	assert_int_equal(pq_envelope_walk(&c, &evpid, buf, sizeof(buf)), -1);
	assert_int_equal(pq_envelope_delete(&c, evpid), 1);
	assert_int_equal(pq_close(&c), 1);

	close(sv[0]);		/* the server sees end of stream and stops */
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(s.errors, 0);
	assert_int_equal(s.nreq, 11);
	assert_true(s.commit_fd_ok);
	assert_int_equal(c.ib.stray_fds, 0);
	close(sv[1]);
	close(pp[0]);
	close(pp[1]);
	assert_int_equal(count_fds(), before);
}
BOTH(conversation)

#define T(f)	cmocka_unit_test(f)
#define T2(f)	cmocka_unit_test(f##_A), cmocka_unit_test(f##_B)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T2(init_close),
		T(test_message_create),
		T(test_message_delete),
		T2(message_commit),
		T2(message_fd_r),
		T(test_envelope_create),
		T(test_envelope_delete_update),
		T(test_envelope_load),
		T(test_envelope_walk),
		T(test_bad_answers),
		T(test_bad_answers_wrappers),
		T(test_bad_framing),
		T(test_peer_gone),
		T2(fd_on_wrong_answer),
		T(test_stray_fd_on_answer),
		T2(conversation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
