/*
 * null-proc: a proc-queue helper that keeps nothing on disk, for
 * e2e-bench's ceiling row only.  It answers every request from memory
 * (envelopes in a tree, each committed message as the fd smtpd sent) with
 * one blocking read and one write per request, so its rate is what any
 * proc-queue helper could reach on this smtpd and machine if its store
 * cost nothing: the price of the protocol itself.  Mail it takes is lost
 * when it exits.  Never install it for real use.
 *
 * usage: smtpd -B queue=null-proc, with this program installed as
 * PATH_LIBEXEC/queue-null-proc (e2e-bench does so in a private mount).
 */
#include <sys/resource.h>
#include <sys/tree.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imsg.h"
#include "proc_queue.h"

struct held {
	RB_ENTRY(held)	 tree;
	uint64_t	 id;		/* evpid, or msgid for a message */
	int		 fd;		/* a committed message's, else -1 */
	size_t		 len;
	char		 evp[];
};

int	held_cmp(const struct held *, const struct held *);

int
held_cmp(const struct held *a, const struct held *b)
{
	return a->id < b->id ? -1 : a->id > b->id;
}

RB_HEAD(held_tree, held);
RB_PROTOTYPE(held_tree, held, tree, held_cmp);
RB_GENERATE(held_tree, held, tree, held_cmp);

/* envelopes by evpid; messages by msgid (ids below 2^32) */
static struct held_tree	 envelopes = RB_INITIALIZER(&envelopes);
static struct held_tree	 messages = RB_INITIALIZER(&messages);

static struct held *
held_find(struct held_tree *t, uint64_t id)
{
	struct held	key;

	key.id = id;
	return RB_FIND(held_tree, t, &key);
}

static struct held *
held_add(struct held_tree *t, uint64_t id, const char *evp, size_t len)
{
	struct held	*h;

	if ((h = malloc(sizeof(*h) + len)) == NULL)
		return NULL;
	h->id = id;
	h->fd = -1;
	h->len = len;
	if (len)
		memcpy(h->evp, evp, len);
	if (RB_INSERT(held_tree, t, h) != NULL) {
		free(h);
		return NULL;
	}
	return h;
}

static void
held_del(struct held_tree *t, struct held *h)
{
	RB_REMOVE(held_tree, t, h);
	if (h->fd != -1)
		close(h->fd);
	free(h);
}

static struct held *
first_envelope(uint32_t msgid)
{
	struct held	 key, *h;

	key.id = (uint64_t)msgid << 32;
	h = RB_NFIND(held_tree, &envelopes, &key);
	return h != NULL && h->id >> 32 == msgid ? h : NULL;
}

/* A message goes with its last envelope, as in the fs layout. */
static void
drop_if_empty(uint32_t msgid)
{
	struct held	*m;

	if (first_envelope(msgid) == NULL &&
	    (m = held_find(&messages, msgid)) != NULL)
		held_del(&messages, m);
}

static uint32_t
new_id32(void)
{
	uint32_t	id;

	while ((id = arc4random()) == 0)
		;
	return id;
}

static void
run(struct pq_request *q, struct pq_answer *a)
{
	struct held	*h;
	char		 path[64];

	switch (q->type) {
	case PQ_INIT:
		break;
	case PQ_CLOSE:
		a->r = 1;
		break;
	case PQ_MESSAGE_CREATE:
		do
			a->msgid = new_id32();
		while (held_find(&messages, a->msgid) != NULL);
		a->r = held_add(&messages, a->msgid, NULL, 0) != NULL;
		break;
	case PQ_MESSAGE_DELETE:		/* a rollback: its envelopes go too */
		while ((h = first_envelope(q->msgid)) != NULL)
			held_del(&envelopes, h);
		if ((h = held_find(&messages, q->msgid)) != NULL) {
			held_del(&messages, h);
			a->r = 1;
		}
		break;
	case PQ_MESSAGE_COMMIT:
		if ((h = held_find(&messages, q->msgid)) != NULL) {
			h->fd = q->fd;		/* kept: smtpd unlinks the name */
			q->fd = -1;
			a->r = 1;
		}
		break;
	case PQ_MESSAGE_FD_R:
		/* a file description of its own, at offset 0 */
		if ((h = held_find(&messages, q->msgid)) != NULL &&
		    h->fd != -1) {
			snprintf(path, sizeof(path), "/proc/self/fd/%d", h->fd);
			a->fd = open(path, O_RDONLY | O_CLOEXEC);
		}
		break;
	case PQ_ENVELOPE_CREATE:
		if (held_find(&messages, q->msgid) == NULL)
			break;
		do
			a->evpid = (uint64_t)q->msgid << 32 | new_id32();
		while (held_find(&envelopes, a->evpid) != NULL);
		a->r = held_add(&envelopes, a->evpid, q->evp, q->evplen) !=
		    NULL;
		break;
	case PQ_ENVELOPE_DELETE:
		if ((h = held_find(&envelopes, q->evpid)) != NULL) {
			held_del(&envelopes, h);
			drop_if_empty(q->evpid >> 32);
			a->r = 1;
		}
		break;
	case PQ_ENVELOPE_LOAD:
		if ((h = held_find(&envelopes, q->evpid)) != NULL) {
			a->evp = h->evp;
			a->evplen = h->len;
		}
		break;
	case PQ_ENVELOPE_UPDATE:
		if ((h = held_find(&envelopes, q->evpid)) == NULL)
			break;
		held_del(&envelopes, h);
		a->r = held_add(&envelopes, q->evpid, q->evp, q->evplen) !=
		    NULL;
		break;
	case PQ_ENVELOPE_WALK:
		a->r = 0;		/* nothing was queued before us */
		break;
	}
}

int
main(void)
{
	struct imsgbuf		*ib;
	struct imsg		 imsg;
	struct pq_request	 q;
	struct pq_answer	 a;
	struct iovec		 iov[2];
	unsigned char		 head[PQ_HEAD_MAX];
	struct rlimit		 rl;
	enum imsg_dialect	 dialect = IMSG_DIALECT_A;
	ssize_t			 n;
	int			 iovcnt;

	/* one fd per queued message */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if ((ib = malloc(sizeof(*ib))) == NULL)
		return 1;
	imsgbuf_init(ib, 0, dialect);
	for (;;) {
		if ((n = imsgbuf_read(ib)) == 0)
			return 0;
		if (n == -1 && errno != EINTR && errno != EAGAIN) {
			perror("null-proc: read");
			return 1;
		}
		while (imsgbuf_get(ib, &imsg) == 1) {
			if (pq_request_decode(imsg.hdr.type, imsg.data,
			    imsg.datalen, imsg.fd, &q) != PQ_ERR_NONE) {
				fprintf(stderr, "null-proc: bad request %u\n",
				    imsg.hdr.type);
				return 1;
			}
			if (imsg.fd != -1 && imsg.fd_dialect)
				dialect = imsg.fd_dialect;
			memset(&a, 0, sizeof(a));
			a.to = q.type;
			a.fd = -1;
			run(&q, &a);
			ib->dialect = dialect;	/* for an FD_R answer */
			iovcnt = pq_answer_iov(&a, head, iov);
			if (imsg_sendv(ib, PQ_OK, iov, iovcnt, a.fd) == -1) {
				perror("null-proc: write");
				return 1;
			}
			if (a.fd != -1)
				close(a.fd);
			if (q.fd != -1)
				close(q.fd);
		}
	}
}
