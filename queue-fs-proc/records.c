/*
 * Writing the store's records (records.h) into the log: each function
 * builds one record from what the layout or the request holds and
 * appends it.  The layout itself is the store's (store.c); the replay
 * is recover.c's.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evcache.h"
#include "layout.h"
#include "log.h"
#include "proc_queue.h"
#include "records.h"
#include "safeio.h"

/* Add one envelope to the record being built: struct rec_evp, bytes. */
static void
rec_add_evp(struct wal *w, uint64_t evpid, const char *evp, size_t len)
{
	struct rec_evp	re;

	memset(&re, 0, sizeof(re));
	re.evpid = evpid;
	re.len = (uint32_t)len;
	wal_add(w, &re, sizeof(re));
	wal_add(w, evp, len);
}

/* Add msgid's envelopes, held in memory until its commit; their count. */
static uint32_t
rec_add_envelopes(struct wal *w, struct evcache *c, uint32_t msgid)
{
	struct evc_entry	*e;
	uint32_t		 n = 0;

	for (e = evc_first_of(c, msgid); e != NULL; e = evc_next_of(c, e)) {
		rec_add_evp(w, e->evpid, e->data, e->len);
		n++;
	}
	return n;
}

/*
 * What replay checks, with the size, before it takes an incoming/M/
 * message left by a power failure for the body of a commit record: a
 * mark of the file's inode number and mtime, never 0 (0: a record
 * without one, from before the rescue existed).  Neither changes once
 * the message is committed: nobody writes it, a rename keeps both.
 * Another message given the same msgid after this one was delivered
 * gets another file: its body is never served under this record.
 */
uint32_t
rec_body_mark(const struct stat *sb)
{
	uint64_t	h;

	h = (uint64_t)sb->st_ino ^ (uint64_t)sb->st_mtim.tv_sec << 30 ^
	    (uint64_t)sb->st_mtim.tv_nsec;
	h ^= h >> 32;
	return (uint32_t)h != 0 ? (uint32_t)h : 1;
}

/*
 * Build the commit record of the incoming message msgid (envelopes: the
 * cache's; body: fd; mark: the rec_body_mark() of the file in place, 0
 * if inline); appended by the store once the message is in queue/
 * (store_commit_logged()).
 */
int
rec_build_commit(struct wal *w, uint32_t msgid, struct evcache *c, int fd,
    const struct stat *sb, uint32_t mark)
{
	struct rec_commit	 rc;
	size_t			 head;
	char			*p;

	wal_begin(w, WAL_COMMIT);
	memset(&rc, 0, sizeof(rc));
	rc.msgid = msgid;
	rc.bodylen = (uint64_t)sb->st_size;
	rc.inline_body = mark == 0;
	rc.mark = mark;
	head = wal_built(w);
	wal_add(w, &rc, sizeof(rc));
	rc.nevp = rec_add_envelopes(w, c, msgid);
	if (w->toobig)
		return -1;
	/* the count, now known, into the head added above */
	memcpy((char *)wal_payload(w) + head, &rc, sizeof(rc));
	if (!rc.inline_body)
		return 0;
	if ((p = wal_reserve(w, rc.bodylen)) == NULL)
		return -1;
	if (pread(fd, p, rc.bodylen, 0) != (ssize_t)rc.bodylen) {
		errno = EIO;
		return -1;
	}
	return 0;
}

/*
 * incoming/M/message opened (the file in place: smtpd's, renamed, or
 * our copy, not necessarily fd's) and its mark; -1 if it cannot be.
 */
int
rec_open_body(int dfd, uint32_t *mark)
{
	struct stat	sb;
	int		bfd;

	if ((bfd = sio_open_regular(dfd, LAYOUT_MESSAGE)) == -1)
		return -1;
	if (fstat(bfd, &sb) == -1) {
		close(bfd);
		return -1;
	}
	*mark = rec_body_mark(&sb);
	return bfd;
}

/*
 * An envelope created (durable: synced before return) or updated (not:
 * see store_envelope_update()).
 */
int
rec_evp(struct wal *w, uint64_t evpid, const char *evp, size_t len,
    int durable)
{
	wal_begin(w, WAL_EVP_WRITE);
	rec_add_evp(w, evpid, evp, len);
	if (wal_append(w, evpid >> 32, durable) == 0)
		return 0;
	log_warn("warn: queue-fs-proc: envelope %016llx: writing the log",
	    (unsigned long long)evpid);
	return -1;
}

/*
 * A deletion: written, not synced; the next synced record takes it
 * along, or wal_flush() within WAL_FLUSH_MS.  Lost in a power failure
 * before that, the mail comes back and is delivered again: never lost.
 */
int
rec_delete(struct wal *w, uint32_t type, uint64_t id)
{
	wal_begin(w, type);
	wal_add(w, &id, sizeof(id));
	if (wal_append(w, type == WAL_EVP_DELETE ? id >> 32 : (uint32_t)id,
	    0) == 0)
		return 0;
	log_warn("warn: queue-fs-proc: deletion of %llx: writing the log",
	    (unsigned long long)id);
	return -1;
}
