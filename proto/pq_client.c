/*
 * proc-queue client.  Like smtpd, it treats anything but one well-formed
 * OK answer of the expected length as a broken peer (PQ_EPROTO).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "pq_client.h"

void
pq_client_init(struct pq_client *c, int fd, enum imsg_dialect dialect)
{
	memset(c, 0, sizeof(*c));
	imsgbuf_init(&c->ib, fd, dialect);
}

static int
read_answer(struct pq_client *c, struct imsg *imsg)
{
	ssize_t	n;
	int	r;

	while ((r = imsgbuf_get(&c->ib, imsg)) == 0) {
		n = imsgbuf_read(&c->ib);
		if (n == 0)
			errno = EPIPE;
		if (n <= 0)
			return -1;
	}
	return r == 1 ? 0 : -1;
}

/*
 * Send req and decode its answer into a.  The answer's envelope bytes
 * point into the client's buffer until the next call; an fd in it is
 * the caller's to close.
 */
int
pq_call(struct pq_client *c, const struct pq_request *req,
    struct pq_answer *a)
{
	unsigned char	head[PQ_HEAD_MAX];
	struct iovec	iov[2];
	struct imsg	imsg;
	int		n;

	c->error = PQ_ERR_NONE;
	c->answer_type = UINT32_MAX;
	n = pq_request_iov(req, head, iov);
	if (imsg_sendv(&c->ib, req->type, iov, n, req->fd) == -1 ||
	    read_answer(c, &imsg) == -1) {
		c->error = errno == EBADMSG ? PQ_ERR_LENGTH : PQ_ERR_IO;
		return PQ_EPROTO;
	}
	c->answer_type = imsg.hdr.type;
	if (imsg.hdr.type != PQ_OK) {
		c->error = PQ_ERR_TYPE;
	} else
		c->error = pq_answer_decode(req->type, imsg.data, imsg.datalen,
		    imsg.fd, a);
	if (c->error != PQ_ERR_NONE) {
		if (imsg.fd != -1)
			close(imsg.fd);
		return PQ_EPROTO;
	}
	return 0;
}

static int
call_r(struct pq_client *c, struct pq_request *req, struct pq_answer *a)
{
	if (pq_call(c, req, a) != 0)
		return PQ_EPROTO;
	return a->r;
}

int
pq_init(struct pq_client *c)
{
	struct pq_request	req = { .type = PQ_INIT, .fd = -1,
				    .version = PROC_QUEUE_API_VERSION };
	struct pq_answer	a;

	return pq_call(c, &req, &a) == 0 ? 1 : PQ_EPROTO;
}

int
pq_close(struct pq_client *c)
{
	struct pq_request	req = { .type = PQ_CLOSE, .fd = -1 };
	struct pq_answer	a;

	return call_r(c, &req, &a);
}

int
pq_message_create(struct pq_client *c, uint32_t *msgid)
{
	struct pq_request	req = { .type = PQ_MESSAGE_CREATE, .fd = -1 };
	struct pq_answer	a;
	int			r;

	if ((r = call_r(c, &req, &a)) == 1)
		*msgid = a.msgid;
	return r;
}

static int
msgid_call(struct pq_client *c, uint32_t type, uint32_t msgid, int fd)
{
	struct pq_request	req = { .type = type, .msgid = msgid, .fd = fd };
	struct pq_answer	a;

	return call_r(c, &req, &a);
}

int
pq_message_delete(struct pq_client *c, uint32_t msgid)
{
	return msgid_call(c, PQ_MESSAGE_DELETE, msgid, -1);
}

int
pq_message_commit(struct pq_client *c, uint32_t msgid, int fd)
{
	return msgid_call(c, PQ_MESSAGE_COMMIT, msgid, fd);
}

/* Returns the fd, -1 when the daemon answered without one, or PQ_EPROTO. */
int
pq_message_fd_r(struct pq_client *c, uint32_t msgid)
{
	struct pq_request	req = { .type = PQ_MESSAGE_FD_R,
				    .msgid = msgid, .fd = -1 };
	struct pq_answer	a;

	if (pq_call(c, &req, &a) != 0)
		return PQ_EPROTO;
	return a.fd;
}

int
pq_envelope_create(struct pq_client *c, uint32_t msgid, const char *evp,
    size_t len, uint64_t *evpid)
{
	struct pq_request	req = { .type = PQ_ENVELOPE_CREATE,
				    .msgid = msgid, .evp = evp, .evplen = len,
				    .fd = -1 };
	struct pq_answer	a;
	int			r;

	if ((r = call_r(c, &req, &a)) == 1)
		*evpid = a.evpid;
	return r;
}

static int
evpid_call(struct pq_client *c, uint32_t type, uint64_t evpid,
    const char *evp, size_t len, struct pq_answer *a)
{
	struct pq_request	req = { .type = type, .evpid = evpid,
				    .evp = evp, .evplen = len, .fd = -1 };

	return pq_call(c, &req, a) == 0 ? 0 : PQ_EPROTO;
}

int
pq_envelope_delete(struct pq_client *c, uint64_t evpid)
{
	struct pq_answer	a;

	if (evpid_call(c, PQ_ENVELOPE_DELETE, evpid, NULL, 0, &a) != 0)
		return PQ_EPROTO;
	return a.r;
}

int
pq_envelope_update(struct pq_client *c, uint64_t evpid, const char *evp,
    size_t len)
{
	struct pq_answer	a;

	if (evpid_call(c, PQ_ENVELOPE_UPDATE, evpid, evp, len, &a) != 0)
		return PQ_EPROTO;
	return a.r;
}

/* Returns the envelope length (0: failure), or PQ_EPROTO. */
int
pq_envelope_load(struct pq_client *c, uint64_t evpid, char *buf, size_t size)
{
	struct pq_answer	a;

	if (evpid_call(c, PQ_ENVELOPE_LOAD, evpid, NULL, 0, &a) != 0)
		return PQ_EPROTO;
	if (a.evplen > size) {
		c->error = PQ_ERR_LENGTH;
		return PQ_EPROTO;
	}
	memcpy(buf, a.evp, a.evplen);
	return (int)a.evplen;
}

/* Returns r as smtpd sees it: > 0 an envelope, 0 ask again, -1 done. */
int
pq_envelope_walk(struct pq_client *c, uint64_t *evpid, char *buf, size_t size)
{
	struct pq_request	req = { .type = PQ_ENVELOPE_WALK, .fd = -1 };
	struct pq_answer	a;

	if (pq_call(c, &req, &a) != 0)
		return PQ_EPROTO;
	if (a.r > 0) {
		if (a.evplen > size) {
			c->error = PQ_ERR_LENGTH;
			return PQ_EPROTO;
		}
		*evpid = a.evpid;
		memcpy(buf, a.evp, a.evplen);
	}
	return a.r;
}
