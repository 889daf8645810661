/*
 * The store's records in the write-ahead log (wal.h): their format,
 * shared by the writer (records.c) and the replay (recover.c).
 *
 * Payloads (host byte order: the log never leaves this machine):
 *	WAL_COMMIT	struct rec_commit, nevp x (struct rec_evp, bytes),
 *			then the body if inline
 *	WAL_EVP_WRITE	struct rec_evp, bytes
 *	WAL_EVP_DELETE	uint64_t evpid
 *	WAL_MSG_DELETE	uint64_t msgid
 */
#ifndef QFP_RECORDS_H
#define QFP_RECORDS_H

#include <sys/types.h>
#include <sys/stat.h>
#include <stdint.h>

#include "evcache.h"
#include "wal.h"

struct rec_commit {
	uint32_t	msgid;
	uint32_t	nevp;
	uint64_t	bodylen;	/* in the record if inline */
	uint32_t	inline_body;
	uint32_t	mark;		/* in place: rec_body_mark(), else 0 */
};

struct rec_evp {
	uint64_t	evpid;
	uint32_t	len;
	uint32_t	zero;
};

/* Bodies up to this size go into the commit's record. */
#define REC_INLINE_MAX	(64 * 1024)

uint32_t rec_body_mark(const struct stat *);
int	rec_open_body(int dfd, uint32_t *mark);
int	rec_build_commit(struct wal *, uint32_t msgid, struct evcache *,
	    int fd, const struct stat *, uint32_t mark);
int	rec_evp(struct wal *, uint64_t evpid, const char *, size_t,
	    int durable);
int	rec_delete(struct wal *, uint32_t type, uint64_t id);

#endif
