/*
 * Request dispatch.  Every request is checked before it touches the
 * spool: its framing (imsg.c), its length, type and fd (proc_queue.c),
 * then its ids here (0 is never a valid msgid or evpid half: r = 0).
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dispatch.h"
#include "log.h"

static int
valid_msgid(uint32_t msgid, const char *what)
{
	if (msgid != 0)
		return 1;
	log_warnx("warn: queue-fs-proc: %s: msgid 0 refused", what);
	return 0;
}

static int
valid_evpid(uint64_t evpid, const char *what)
{
	if ((evpid >> 32) != 0 && (uint32_t)evpid != 0)
		return 1;
	log_warnx("warn: queue-fs-proc: %s: evpid %016llx refused", what,
	    (unsigned long long)evpid);
	return 0;
}

/* Run one request on the store; fills the answer, returns success. */
static int
run(struct daemon *d, struct pq_request *req, struct pq_answer *a)
{
	struct store	*s = &d->store;
	const char	*name = pq_type_name(req->type);

	a->r = 0;
	switch (req->type) {
	case PQ_INIT:
		return 1;
	case PQ_CLOSE:
		a->r = 1;
		break;
	case PQ_MESSAGE_CREATE:
		a->r = store_message_create(s, &a->msgid);
		break;
	case PQ_MESSAGE_DELETE:
		if (valid_msgid(req->msgid, name))
			a->r = store_message_delete(s, req->msgid);
		break;
	case PQ_MESSAGE_COMMIT:
		if (valid_msgid(req->msgid, name))
			a->r = store_message_commit(s, req->msgid, req->fd);
		if (a->r == 1)
			stats_commit_path(&d->stats,
			    s->commit_path == STORE_COMMIT_RENAMED);
		break;
	case PQ_MESSAGE_FD_R:
		a->fd = -1;
		if (valid_msgid(req->msgid, name))
			a->fd = store_message_fd_r(s, req->msgid);
		return a->fd != -1;
	case PQ_ENVELOPE_CREATE:
		if (valid_msgid(req->msgid, name))
			a->r = store_envelope_create(s, req->msgid, req->evp,
			    req->evplen, &a->evpid);
		break;
	case PQ_ENVELOPE_DELETE:
		if (valid_evpid(req->evpid, name))
			a->r = store_envelope_delete(s, req->evpid);
		break;
	case PQ_ENVELOPE_LOAD:
		a->evp = d->evpbuf;
		if (valid_evpid(req->evpid, name))
			a->evplen = store_envelope_load(s, req->evpid,
			    d->evpbuf, sizeof(d->evpbuf));
		return a->evplen != 0;
	case PQ_ENVELOPE_UPDATE:
		if (valid_evpid(req->evpid, name))
			a->r = store_envelope_update(s, req->evpid, req->evp,
			    req->evplen);
		break;
	case PQ_ENVELOPE_WALK:
		a->evp = d->evpbuf;
		a->r = store_envelope_walk(s, &a->evpid, d->evpbuf,
		    sizeof(d->evpbuf));
		if (a->r > 0)
			a->evplen = (size_t)a->r;
		return a->r != 0;
	}
	return a->r == 1;
}

static int
answer(struct daemon *d, struct pq_answer *a)
{
	unsigned char	head[PQ_HEAD_MAX];
	struct iovec	iov[2];
	int		n, fd = -1, r;

	if (a->to == PQ_MESSAGE_FD_R && a->fd != -1) {
		/* the one answer with an fd: frame it in the peer's dialect */
		d->ib.dialect = framing_dialect(&d->framing);
		fd = a->fd;
	}
	n = pq_answer_iov(a, head, iov);
	r = imsg_sendv(&d->ib, PQ_OK, iov, n, fd);
	if (r == -1)
		log_warn("warn: queue-fs-proc: sending %s answer",
		    pq_type_name(a->to));
	return r;
}

/* Message bytes, for the statistics of FD_R. */
static uint64_t
file_size(int fd)
{
	struct stat	sb;

	return fstat(fd, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

/* Returns 0, or -1 when the daemon must stop (malformed request). */
int
dispatch(struct daemon *d, struct imsg *imsg)
{
	struct pq_request	req;
	struct pq_answer	a;
	enum pq_error		e;
	uint64_t		start = stats_now_us(), bytes;
	int			ok, r;

	e = pq_request_decode(imsg->hdr.type, imsg->data, imsg->datalen,
	    imsg->fd, &req);
	if (e == PQ_ERR_NONE && req.type == PQ_INIT &&
	    req.version != PROC_QUEUE_API_VERSION)
		e = PQ_ERR_VALUE;
	if (e != PQ_ERR_NONE) {
		log_warnx("warn: queue-fs-proc: malformed request: type %u "
		    "(%s), payload %zu bytes%s: %s", imsg->hdr.type,
		    pq_type_name(imsg->hdr.type), imsg->datalen,
		    imsg->fd != -1 ? ", with fd" : "", pq_error_str(e));
		if (imsg->fd != -1)
			close(imsg->fd);
		return -1;
	}
	if (imsg->fd != -1)
		framing_saw(&d->framing, imsg->fd_dialect);

	memset(&a, 0, sizeof(a));
	a.to = req.type;
	a.fd = -1;
	ok = run(d, &req, &a);
	r = answer(d, &a);
	/* the statistics' bytes, after the answer: smtpd waits for that */
	bytes = req.evplen + a.evplen;
	if (ok && req.type == PQ_MESSAGE_COMMIT)
		bytes = d->store.commit_bytes;
	else if (ok && a.fd != -1)
		bytes = file_size(a.fd);
	if (req.fd != -1)
		close(req.fd);
	if (a.fd != -1)
		close(a.fd);
	stats_record(&d->stats, req.type, ok, bytes, start);
	store_after_answer(&d->store);
	return r;
}

enum input_state
daemon_input(struct daemon *d)
{
	struct imsg	imsg;
	ssize_t		n;
	int		r;

	if ((n = imsgbuf_read(&d->ib)) == 0)
		return INPUT_EOF;
	if (n == -1) {
		if (errno == EAGAIN)
			return INPUT_MORE;
		log_warn("warn: queue-fs-proc: read");
		return INPUT_BROKEN;
	}
	while ((r = imsgbuf_get(&d->ib, &imsg)) == 1) {
		if (imsg.unclaimed_fd) {
			log_warnx("warn: queue-fs-proc: malformed request: "
			    "type %u (%s), payload %zu bytes: an fd it does "
			    "not announce", imsg.hdr.type,
			    pq_type_name(imsg.hdr.type), imsg.datalen);
			if (imsg.fd != -1)
				close(imsg.fd);
			return INPUT_BROKEN;
		}
		if (dispatch(d, &imsg) == -1)
			return INPUT_BROKEN;
	}
	if (r == -1) {
		log_warnx("warn: queue-fs-proc: malformed imsg header "
		    "(%zu bytes buffered)", d->ib.rlen - d->ib.rpos);
		return INPUT_BROKEN;
	}
	return INPUT_MORE;
}
