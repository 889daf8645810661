/*
 * The MTA side of proc-queue, as smtpd's queue_proc.c does it: send one
 * request, read exactly one answer, check it as strictly as smtpd does.
 * Tests, benchmarks and tools drive the daemon through this.
 */
#ifndef QFP_PQ_CLIENT_H
#define QFP_PQ_CLIENT_H

#include <stdint.h>

#include "imsg.h"
#include "proc_queue.h"

/* Returned by the calls below when the exchange itself failed. */
#define PQ_EPROTO	(-2)

struct pq_client {
	struct imsgbuf	 ib;
	enum pq_error	 error;		/* why the last call said PQ_EPROTO */
	uint32_t	 answer_type;	/* type of the last answer read */
};

void	pq_client_init(struct pq_client *, int fd, enum imsg_dialect);
int	pq_call(struct pq_client *, const struct pq_request *,
	    struct pq_answer *);

int	pq_init(struct pq_client *);
int	pq_close(struct pq_client *);
int	pq_message_create(struct pq_client *, uint32_t *msgid);
int	pq_message_delete(struct pq_client *, uint32_t msgid);
int	pq_message_commit(struct pq_client *, uint32_t msgid, int fd);
int	pq_message_fd_r(struct pq_client *, uint32_t msgid);
int	pq_envelope_create(struct pq_client *, uint32_t msgid,
	    const char *evp, size_t len, uint64_t *evpid);
int	pq_envelope_delete(struct pq_client *, uint64_t evpid);
int	pq_envelope_load(struct pq_client *, uint64_t evpid, char *buf,
	    size_t size);
int	pq_envelope_update(struct pq_client *, uint64_t evpid,
	    const char *evp, size_t len);
int	pq_envelope_walk(struct pq_client *, uint64_t *evpid, char *buf,
	    size_t size);

#endif
