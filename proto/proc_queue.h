/*
 * The proc-queue protocol of OpenSMTPD (PROC_QUEUE_API_VERSION 2):
 * message types and one decode/encode pair for requests and for answers,
 * with the exact payload lengths smtpd sends and expects.
 */
#ifndef QFP_PROC_QUEUE_H
#define QFP_PROC_QUEUE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "imsg.h"

#define PROC_QUEUE_API_VERSION	2

enum pq_type {
	PQ_OK = 0,
	PQ_FAIL,
	PQ_INIT,
	PQ_CLOSE,
	PQ_MESSAGE_CREATE,
	PQ_MESSAGE_DELETE,
	PQ_MESSAGE_COMMIT,
	PQ_MESSAGE_FD_R,
	PQ_ENVELOPE_CREATE,
	PQ_ENVELOPE_DELETE,
	PQ_ENVELOPE_LOAD,
	PQ_ENVELOPE_UPDATE,
	PQ_ENVELOPE_WALK,
	PQ_NTYPES
};

/*
 * The largest envelope each message can carry: a request with a msgid
 * (ENVELOPE_CREATE) or evpid (ENVELOPE_UPDATE) before it, and the
 * ENVELOPE_WALK answer with r and an evpid before it.
 */
#define PQ_EVP_MAX_CREATE	(IMSG_DATA_MAX - 4)
#define PQ_EVP_MAX_UPDATE	(IMSG_DATA_MAX - 8)
#define PQ_EVP_MAX_LOAD		(IMSG_DATA_MAX)
#define PQ_EVP_MAX_WALK		(IMSG_DATA_MAX - 4 - 8)
/* What the store accepts and serves: it must fit every message above. */
#define PQ_EVP_MAX		PQ_EVP_MAX_WALK

/* A decoded request; which fields are set depends on type. */
struct pq_request {
	uint32_t	 type;
	uint32_t	 version;	/* INIT */
	uint32_t	 msgid;		/* MESSAGE_*, ENVELOPE_CREATE */
	uint64_t	 evpid;		/* ENVELOPE_DELETE, _LOAD, _UPDATE */
	const char	*evp;		/* ENVELOPE_CREATE, _UPDATE */
	size_t		 evplen;
	int		 fd;		/* MESSAGE_COMMIT */
};

/* A decoded answer; to is the request type it answers. */
struct pq_answer {
	uint32_t	 to;
	int		 r;
	uint32_t	 msgid;		/* MESSAGE_CREATE, r == 1 */
	uint64_t	 evpid;		/* ENVELOPE_CREATE r == 1, WALK r > 0 */
	const char	*evp;		/* ENVELOPE_LOAD, WALK r > 0 */
	size_t		 evplen;
	int		 fd;		/* MESSAGE_FD_R */
};

/* Why a decode failed, for the log line. */
enum pq_error {
	PQ_ERR_NONE = 0,
	PQ_ERR_TYPE,		/* not a known request type */
	PQ_ERR_LENGTH,		/* payload length wrong for the type */
	PQ_ERR_FD_UNEXPECTED,	/* an fd with a type that takes none */
	PQ_ERR_FD_MISSING,	/* no fd where one must be */
	PQ_ERR_VALUE,		/* a field outside what the type allows */
	PQ_ERR_IO,		/* the exchange failed: I/O error, peer gone */
};

const char *pq_type_name(uint32_t type);
const char *pq_error_str(enum pq_error);

/*
 * Encoding is split in two so that nothing is copied: *_head() writes
 * the fixed fields (at most PQ_HEAD_MAX bytes) and returns their length;
 * the envelope bytes, if the message has any, follow as their own iovec.
 * pq_*_iov() builds the iovecs (head, then evp) and returns their count.
 */
#define PQ_HEAD_MAX	12

enum pq_error pq_request_decode(uint32_t type, const void *data, size_t len,
	    int fd, struct pq_request *);
size_t	pq_request_head(const struct pq_request *,
	    unsigned char head[PQ_HEAD_MAX]);
int	pq_request_iov(const struct pq_request *,
	    unsigned char head[PQ_HEAD_MAX], struct iovec iov[2]);

enum pq_error pq_answer_decode(uint32_t to, const void *data, size_t len,
	    int fd, struct pq_answer *);
size_t	pq_answer_head(const struct pq_answer *,
	    unsigned char head[PQ_HEAD_MAX]);
int	pq_answer_iov(const struct pq_answer *,
	    unsigned char head[PQ_HEAD_MAX], struct iovec iov[2]);

#endif
