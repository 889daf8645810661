/*
 * proc-queue codec.  Each request type has one layout: an optional fixed
 * field, optionally followed by envelope bytes, optionally with an fd.
 * Answers are laid out by the request they answer.  Lengths are exact:
 * smtpd is fatal on an answer one byte short or long, and the daemon
 * refuses a request that is.
 */
#include <string.h>

#include "proc_queue.h"

enum field { F_NONE, F_VERSION, F_MSGID, F_EVPID };

static const struct req_layout {
	const char	*name;
	enum field	 field;
	int		 has_evp;
	int		 has_fd;
} req_layout[PQ_NTYPES] = {
	[PQ_OK] =		{ "OK",			F_NONE,    0, 0 },
	[PQ_FAIL] =		{ "FAIL",		F_NONE,    0, 0 },
	[PQ_INIT] =		{ "INIT",		F_VERSION, 0, 0 },
	[PQ_CLOSE] =		{ "CLOSE",		F_NONE,    0, 0 },
	[PQ_MESSAGE_CREATE] =	{ "MESSAGE_CREATE",	F_NONE,    0, 0 },
	[PQ_MESSAGE_DELETE] =	{ "MESSAGE_DELETE",	F_MSGID,   0, 0 },
	[PQ_MESSAGE_COMMIT] =	{ "MESSAGE_COMMIT",	F_MSGID,   0, 1 },
	[PQ_MESSAGE_FD_R] =	{ "MESSAGE_FD_R",	F_MSGID,   0, 0 },
	[PQ_ENVELOPE_CREATE] =	{ "ENVELOPE_CREATE",	F_MSGID,   1, 0 },
	[PQ_ENVELOPE_DELETE] =	{ "ENVELOPE_DELETE",	F_EVPID,   0, 0 },
	[PQ_ENVELOPE_LOAD] =	{ "ENVELOPE_LOAD",	F_EVPID,   0, 0 },
	[PQ_ENVELOPE_UPDATE] =	{ "ENVELOPE_UPDATE",	F_EVPID,   1, 0 },
	[PQ_ENVELOPE_WALK] =	{ "ENVELOPE_WALK",	F_NONE,    0, 0 },
};

static size_t
field_size(enum field f)
{
	switch (f) {
	case F_VERSION:
	case F_MSGID:
		return 4;
	case F_EVPID:
		return 8;
	default:
		return 0;
	}
}

const char *
pq_type_name(uint32_t type)
{
	return type < PQ_NTYPES ? req_layout[type].name : "UNKNOWN";
}

const char *
pq_error_str(enum pq_error e)
{
	switch (e) {
	case PQ_ERR_NONE:
		return "no error";
	case PQ_ERR_TYPE:
		return "unknown type";
	case PQ_ERR_LENGTH:
		return "bad payload length";
	case PQ_ERR_FD_UNEXPECTED:
		return "unexpected fd";
	case PQ_ERR_FD_MISSING:
		return "missing fd";
	case PQ_ERR_VALUE:
		return "bad value";
	case PQ_ERR_IO:
		return "I/O error or peer gone";
	}
	return "?";
}

static int
is_request(uint32_t type)
{
	return type >= PQ_INIT && type < PQ_NTYPES;
}

enum pq_error
pq_request_decode(uint32_t type, const void *data, size_t len, int fd,
    struct pq_request *req)
{
	const struct req_layout *l;
	const unsigned char *p = data;
	size_t		 fixed;

	memset(req, 0, sizeof(*req));
	req->type = type;
	req->fd = -1;
	if (!is_request(type))
		return PQ_ERR_TYPE;
	l = &req_layout[type];
	fixed = field_size(l->field);
	if (l->has_evp ? len < fixed : len != fixed)
		return PQ_ERR_LENGTH;
	if (l->has_fd && fd == -1)
		return PQ_ERR_FD_MISSING;
	if (!l->has_fd && fd != -1)
		return PQ_ERR_FD_UNEXPECTED;

	switch (l->field) {
	case F_VERSION:
		memcpy(&req->version, p, 4);
		break;
	case F_MSGID:
		memcpy(&req->msgid, p, 4);
		break;
	case F_EVPID:
		memcpy(&req->evpid, p, 8);
		break;
	case F_NONE:
		break;
	}
	if (l->has_evp) {
		req->evp = (const char *)p + fixed;
		req->evplen = len - fixed;
	}
	req->fd = fd;
	return PQ_ERR_NONE;
}

size_t
pq_request_head(const struct pq_request *req, unsigned char head[PQ_HEAD_MAX])
{
	if (!is_request(req->type))
		return 0;
	switch (req_layout[req->type].field) {
	case F_VERSION:
		memcpy(head, &req->version, 4);
		return 4;
	case F_MSGID:
		memcpy(head, &req->msgid, 4);
		return 4;
	case F_EVPID:
		memcpy(head, &req->evpid, 8);
		return 8;
	default:
		return 0;
	}
}

static int
make_iov(unsigned char *head, size_t headlen, const char *evp, size_t evplen,
    struct iovec iov[2])
{
	int	n = 0;

	if (headlen) {
		iov[n].iov_base = head;
		iov[n++].iov_len = headlen;
	}
	if (evplen) {
		iov[n].iov_base = (void *)evp;
		iov[n++].iov_len = evplen;
	}
	return n;
}

int
pq_request_iov(const struct pq_request *req, unsigned char head[PQ_HEAD_MAX],
    struct iovec iov[2])
{
	size_t	evplen = 0;

	if (is_request(req->type) && req_layout[req->type].has_evp)
		evplen = req->evplen;
	return make_iov(head, pq_request_head(req, head), req->evp, evplen,
	    iov);
}

/*
 * Answers.  r is always first where there is one; MESSAGE_CREATE and
 * ENVELOPE_CREATE add their id only on success, ENVELOPE_WALK adds the
 * evpid and exactly r envelope bytes when r > 0.
 */
size_t
pq_answer_head(const struct pq_answer *a, unsigned char head[PQ_HEAD_MAX])
{
	switch (a->to) {
	case PQ_INIT:
	case PQ_MESSAGE_FD_R:
	case PQ_ENVELOPE_LOAD:
		return 0;
	case PQ_MESSAGE_CREATE:
		memcpy(head, &a->r, 4);
		if (a->r != 1)
			return 4;
		memcpy(head + 4, &a->msgid, 4);
		return 8;
	case PQ_ENVELOPE_CREATE:
	case PQ_ENVELOPE_WALK:
		memcpy(head, &a->r, 4);
		if (a->to == PQ_ENVELOPE_CREATE ? a->r != 1 : a->r <= 0)
			return 4;
		memcpy(head + 4, &a->evpid, 8);
		return 12;
	default:
		memcpy(head, &a->r, 4);
		return 4;
	}
}

int
pq_answer_iov(const struct pq_answer *a, unsigned char head[PQ_HEAD_MAX],
    struct iovec iov[2])
{
	size_t	evplen = 0;

	/* a walk answer carries exactly r envelope bytes: r says how many */
	if (a->to == PQ_ENVELOPE_LOAD)
		evplen = a->evplen;
	else if (a->to == PQ_ENVELOPE_WALK && a->r > 0)
		evplen = (size_t)a->r;
	return make_iov(head, pq_answer_head(a, head), a->evp, evplen, iov);
}

static enum pq_error
decode_r(const unsigned char *p, size_t len, size_t *off, int *r)
{
	if (len < 4)
		return PQ_ERR_LENGTH;
	memcpy(r, p, 4);
	*off = 4;
	return PQ_ERR_NONE;
}

enum pq_error
pq_answer_decode(uint32_t to, const void *data, size_t len, int fd,
    struct pq_answer *a)
{
	const unsigned char *p = data;
	size_t		 off = 0;
	enum pq_error	 e;

	memset(a, 0, sizeof(*a));
	a->to = to;
	a->fd = -1;
	if (!is_request(to))
		return PQ_ERR_TYPE;
	if (fd != -1 && to != PQ_MESSAGE_FD_R)
		return PQ_ERR_FD_UNEXPECTED;
	a->fd = fd;

	switch (to) {
	case PQ_INIT:
	case PQ_MESSAGE_FD_R:
		return len == 0 ? PQ_ERR_NONE : PQ_ERR_LENGTH;
	case PQ_ENVELOPE_LOAD:
		a->evp = (const char *)p;
		a->evplen = len;
		return PQ_ERR_NONE;
	}
	if ((e = decode_r(p, len, &off, &a->r)) != PQ_ERR_NONE)
		return e;
	if (a->r < (to == PQ_ENVELOPE_WALK ? -1 : 0) ||
	    (to != PQ_ENVELOPE_WALK && a->r > 1))
		return PQ_ERR_VALUE;
	switch (to) {
	case PQ_MESSAGE_CREATE:
		if (a->r != 1)
			break;
		if (len != 8)
			return PQ_ERR_LENGTH;
		memcpy(&a->msgid, p + 4, 4);
		return PQ_ERR_NONE;
	case PQ_ENVELOPE_CREATE:
		if (a->r != 1)
			break;
		if (len != 12)
			return PQ_ERR_LENGTH;
		memcpy(&a->evpid, p + 4, 8);
		return PQ_ERR_NONE;
	case PQ_ENVELOPE_WALK:
		if (a->r <= 0)
			break;
		if (len != 12 + (size_t)a->r)
			return PQ_ERR_LENGTH;
		memcpy(&a->evpid, p + 4, 8);
		a->evp = (const char *)p + 12;
		a->evplen = (size_t)a->r;
		return PQ_ERR_NONE;
	}
	return off == len ? PQ_ERR_NONE : PQ_ERR_LENGTH;
}
