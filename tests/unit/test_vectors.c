/*
 * The bytes real smtpds exchanged with a proc queue (tests/vectors/,
 * one JSON Lines file per imsg dialect, see its README.md), replayed
 * through the framing, the codec and the client: every request must
 * decode, every answer must decode, and our encoding of each answer
 * must be the same bytes (but for the sender's pid).
 *
 * make check-unit runs from the top of the tree, where the vectors are
 * tests/vectors; QFP_VECTORS overrides.
 */
#include <sys/types.h>
#include <sys/uio.h>

#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
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

#define VECTORS_DIR	"tests/vectors"
#define MAXVEC		1024
#define PID_OFF		12		/* the header's pid: ours differs */

struct vec {
	char		 where[128];	/* file:line, for failure messages */
	enum imsg_dialect d;
	int		 request;	/* 1: request, 0: answer */
	uint32_t	 type;		/* request type, or the one answered */
	int		 fd;		/* an fd travelled with it */
	unsigned char	*bytes;		/* header + payload */
	size_t		 len;
};

static struct vec	vecs[MAXVEC];
static size_t		nvec;
static size_t		nfiles;

/* The text right after "key": in line, or NULL. */
static const char *
json_value(const char *line, const char *key)
{
	char		 pat[32];
	const char	*p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	if ((p = strstr(line, pat)) == NULL)
		return NULL;
	p += strlen(pat);
	while (*p == ' ')
		p++;
	return p;
}

/* A string value: its start and length, without the quotes. */
static int
json_string(const char *line, const char *key, const char **s, size_t *len)
{
	const char	*p, *e;

	if ((p = json_value(line, key)) == NULL || *p != '"')
		return -1;
	if ((e = strchr(++p, '"')) == NULL)
		return -1;
	*s = p;
	*len = (size_t)(e - p);
	return 0;
}

static int
parse_line(const char *line, struct vec *v)
{
	const char	*s, *num;
	size_t		 len;
	ssize_t		 n;

	if (json_string(line, "framing", &s, &len) == -1 || len != 1 ||
	    (*s != 'A' && *s != 'B'))
		return -1;
	v->d = *s == 'A' ? IMSG_DIALECT_A : IMSG_DIALECT_B;
	if (json_string(line, "dir", &s, &len) == -1)
		return -1;
	v->request = len == 7 && strncmp(s, "request", 7) == 0;
	if (!v->request && !(len == 6 && strncmp(s, "answer", 6) == 0))
		return -1;
	num = json_value(line, v->request ? "type" : "to");
	if (num == NULL || *num < '0' || *num > '9')
		return -1;
	v->type = (uint32_t)strtoul(num, NULL, 10);
	if ((s = json_value(line, "fd")) == NULL)
		return -1;
	v->fd = strncmp(s, "true", 4) == 0;
	if (!v->fd && strncmp(s, "false", 5) != 0)
		return -1;
	if (json_string(line, "hex", &s, &len) == -1 ||
	    (n = hex_decode(s, len, &v->bytes)) < IMSG_HEADER_SIZE)
		return -1;
	v->len = (size_t)n;
	return 0;
}

static int
load_file(const char *path)
{
	char		 line[65536];
	FILE		*f;
	int		 lineno = 0;

	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (line[0] == '\n')
			continue;
		if (nvec == MAXVEC || parse_line(line, &vecs[nvec]) == -1) {
			fprintf(stderr, "%s:%d: cannot parse\n", path, lineno);
			fclose(f);
			return -1;
		}
		snprintf(vecs[nvec].where, sizeof(vecs[nvec].where), "%s:%d",
		    path, lineno);
		nvec++;
	}
	fclose(f);
	return 0;
}

static int
load_vectors(void **state)
{
	const char	*dir;
	char		 pat[1024];
	glob_t		 g;
	size_t		 i;

	if ((dir = getenv("QFP_VECTORS")) == NULL)
		dir = VECTORS_DIR;
	snprintf(pat, sizeof(pat), "%s/*.jsonl", dir);
	if (glob(pat, 0, NULL, &g) != 0) {
		fprintf(stderr, "no vectors in %s (set QFP_VECTORS)\n", dir);
		return -1;
	}
	for (i = 0; i < g.gl_pathc; i++)
		if (load_file(g.gl_pathv[i]) == -1) {
			globfree(&g);
			return -1;
		}
	nfiles = g.gl_pathc;
	globfree(&g);
	return 0;
}

static int
free_vectors(void **state)
{
	size_t	i;

	for (i = 0; i < nvec; i++)
		free(vecs[i].bytes);
	return 0;
}

/*
 * The files are what tests/vectors/README.md promises: request/answer
 * pairs, one dialect per file, both dialects, every request type in
 * each.
 */
static void
test_vectors_complete(void **state)
{
	unsigned int	 seen[3][PQ_NTYPES];
	size_t		 i;
	int		 walk_end = 0;
	int32_t		 r;

	memset(seen, 0, sizeof(seen));
	assert_true(nfiles >= 2);
	assert_true(nvec > 0 && nvec % 2 == 0);
	for (i = 0; i < nvec; i += 2) {
		assert_true(vecs[i].request);
		assert_false(vecs[i + 1].request);
		assert_int_equal(vecs[i + 1].type, vecs[i].type);
		assert_int_equal(vecs[i + 1].d, vecs[i].d);
		assert_true(vecs[i].type < PQ_NTYPES);
		seen[vecs[i].d][vecs[i].type]++;
		if (vecs[i].type == PQ_ENVELOPE_WALK &&
		    vecs[i + 1].len == IMSG_HEADER_SIZE + 4) {
			memcpy(&r, vecs[i + 1].bytes + IMSG_HEADER_SIZE, 4);
			walk_end += r == -1;
		}
	}
	for (i = PQ_INIT; i < PQ_NTYPES; i++) {
		assert_true(seen[IMSG_DIALECT_A][i] > 0);
		assert_true(seen[IMSG_DIALECT_B][i] > 0);
	}
	assert_true(walk_end >= 2);
}

/* Deliver one vector to a fresh reader, a dummy fd where one travelled. */
static void
deliver(const struct vec *v, struct imsg *imsg, int sv[2],
    struct imsgbuf *rx, int *dummy)
{
	xsocketpair(sv);
	imsgbuf_init(rx, sv[1], IMSG_DIALECT_UNKNOWN);
	*dummy = v->fd ? xopen_null() : -1;
	send_raw(sv[0], v->bytes, v->len, *dummy);
	assert_int_equal(get_one(rx, imsg), 1);
	assert_int_equal(imsg->hdr.len, v->len);
	assert_int_equal(imsg->datalen, v->len - IMSG_HEADER_SIZE);
	if (v->fd) {
		/* The framing detector tells A from B by the mark. */
		assert_int_equal(imsg->fd_dialect, v->d);
		assert_true(same_file(imsg->fd, *dummy));
	} else
		assert_int_equal(imsg->fd, -1);
	assert_int_equal(rx->stray_fds, 0);
}

static void
undeliver(int sv[2], struct imsgbuf *rx, struct imsg *imsg, int dummy)
{
	if (imsg->fd != -1)
		close(imsg->fd);
	if (dummy != -1)
		close(dummy);
	imsgbuf_clear(rx);
	close(sv[0]);
	close(sv[1]);
}

static void
test_requests(void **state)
{
	unsigned char		 buf[MAX_IMSGSIZE], head[PQ_HEAD_MAX];
	struct iovec		 iov[2];
	struct pq_request	 req;
	struct imsgbuf		 rx;
	struct imsg		 imsg;
	const struct vec	*v;
	size_t			 i, len;
	int			 sv[2], dummy, n, k, before;

	before = count_fds();
	for (i = 0; i < nvec; i++) {
		if (!(v = &vecs[i])->request)
			continue;
		print_message("  %s %s\n", v->where, pq_type_name(v->type));
		deliver(v, &imsg, sv, &rx, &dummy);
		assert_int_equal(imsg.hdr.type, v->type);
		assert_int_equal(pq_request_decode(imsg.hdr.type, imsg.data,
		    imsg.datalen, imsg.fd, &req), PQ_ERR_NONE);

		/* Encoding it again, with its pid, gives the same bytes. */
		n = pq_request_iov(&req, head, iov);
		len = IMSG_HEADER_SIZE;
		for (k = 0; k < n; k++) {
			memcpy(buf + len, iov[k].iov_base, iov[k].iov_len);
			len += iov[k].iov_len;
		}
		imsg_hdr_encode(v->d, req.type, len, imsg.hdr.pid,
		    req.fd != -1, buf);
		assert_int_equal(len, v->len);
		assert_memory_equal(buf, v->bytes, len);
		undeliver(sv, &rx, &imsg, dummy);
	}
	assert_int_equal(count_fds(), before);
}

/* Our answer, through imsg_sendv in the vector's dialect, as raw bytes. */
static void
reencode_answer(const struct vec *v, const struct pq_answer *a)
{
	unsigned char	 buf[MAX_IMSGSIZE], head[PQ_HEAD_MAX];
	struct iovec	 iov[2];
	struct imsgbuf	 tx;
	int		 sv[2], fd, n;

	xsocketpair(sv);
	imsgbuf_init(&tx, sv[0], v->d);
	n = pq_answer_iov(a, head, iov);
	assert_int_equal(imsg_sendv(&tx, PQ_OK, iov, n, a->fd), 0);
	recv_raw(sv[1], buf, v->len, &fd);
	assert_true(nothing_pending(sv[1]));
	assert_memory_equal(buf, v->bytes, PID_OFF);
	assert_memory_equal(buf + PID_OFF + 4, v->bytes + PID_OFF + 4,
	    v->len - PID_OFF - 4);
	assert_int_equal(fd != -1, v->fd);
	if (fd != -1)
		close(fd);
	close(sv[0]);
	close(sv[1]);
}

static void
test_answers(void **state)
{
	struct pq_answer	 a;
	struct imsgbuf		 rx;
	struct imsg		 imsg;
	const struct vec	*v;
	size_t			 i;
	int			 sv[2], dummy, before;

	before = count_fds();
	for (i = 0; i < nvec; i++) {
		if ((v = &vecs[i])->request)
			continue;
		print_message("  %s answer to %s\n", v->where,
		    pq_type_name(v->type));
		deliver(v, &imsg, sv, &rx, &dummy);
		assert_int_equal(imsg.hdr.type, PQ_OK);
		assert_int_equal(pq_answer_decode(v->type, imsg.data,
		    imsg.datalen, imsg.fd, &a), PQ_ERR_NONE);
		reencode_answer(v, &a);
		undeliver(sv, &rx, &imsg, dummy);
	}
	assert_int_equal(count_fds(), before);
}

/*
 * The client, speaking each vector's dialect, sends each request byte
 * for byte as smtpd did and accepts the answer smtpd accepted.
 */
static void
replay_pair(const struct vec *rq, const struct vec *an)
{
	unsigned char		 buf[MAX_IMSGSIZE];
	struct pq_client	 c;
	struct pq_request	 req;
	struct pq_answer	 a;
	int			 sv[2], afd, dummy;

	xsocketpair(sv);
	pq_client_init(&c, sv[0], rq->d);
	dummy = xopen_null();
	assert_int_equal(pq_request_decode(rq->type, rq->bytes +
	    IMSG_HEADER_SIZE, rq->len - IMSG_HEADER_SIZE,
	    rq->fd ? dummy : -1, &req), PQ_ERR_NONE);
	/* The answer waits in the socket before the request is sent. */
	send_raw(sv[1], an->bytes, an->len, an->fd ? dummy : -1);

	assert_int_equal(pq_call(&c, &req, &a), 0);
	assert_int_equal(c.error, PQ_ERR_NONE);
	assert_int_equal(c.answer_type, PQ_OK);
	if (an->fd) {
		assert_true(same_file(a.fd, dummy));
		close(a.fd);
	} else
		assert_int_equal(a.fd, -1);

	recv_raw(sv[1], buf, rq->len, &afd);
	assert_true(nothing_pending(sv[1]));
	assert_memory_equal(buf, rq->bytes, PID_OFF);
	assert_memory_equal(buf + PID_OFF + 4, rq->bytes + PID_OFF + 4,
	    rq->len - PID_OFF - 4);
	assert_int_equal(afd != -1, rq->fd);
	if (afd != -1) {
		assert_true(same_file(afd, dummy));
		close(afd);
	}
	assert_int_equal(c.ib.stray_fds, 0);
	close(dummy);
	close(sv[0]);
	close(sv[1]);
}

static void
test_client_replay(void **state)
{
	size_t	i;
	int	before;

	before = count_fds();
	for (i = 0; i + 1 < nvec; i += 2) {
		print_message("  %s %s\n", vecs[i].where,
		    pq_type_name(vecs[i].type));
		replay_pair(&vecs[i], &vecs[i + 1]);
	}
	assert_int_equal(count_fds(), before);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors_complete),
		cmocka_unit_test(test_requests),
		cmocka_unit_test(test_answers),
		cmocka_unit_test(test_client_replay),
	};

	return cmocka_run_group_tests(tests, load_vectors, free_vectors);
}
