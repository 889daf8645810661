/*
 * The store's records in the write-ahead log (wal.h), and their replay
 * into the layout at start.
 *
 * Payloads (host byte order: the log never leaves this machine):
 *	WAL_COMMIT	struct rec_commit, nevp x (struct rec_evp, bytes),
 *			then the body if inline
 *	WAL_EVP_WRITE	struct rec_evp, bytes
 *	WAL_EVP_DELETE	uint64_t evpid
 *	WAL_MSG_DELETE	uint64_t msgid
 *
 * Replay makes each record true again, in log order, so it may run
 * twice over the same records (a crash during replay): a commit writes
 * its message and envelopes, an envelope write writes it, deletions
 * delete what is there.  The state after the last record is the state
 * smtpd was last told about.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layout.h"
#include "log.h"
#include "msgdir.h"
#include "safeio.h"
#include "store.h"

struct rec_commit {
	uint32_t	msgid;
	uint32_t	nevp;
	uint64_t	bodylen;	/* in the record if inline */
	uint32_t	inline_body;
	uint32_t	zero;
};

struct rec_evp {
	uint64_t	evpid;
	uint32_t	len;
	uint32_t	zero;
};

/* Add the envelope dfd/name of evpid to the record being built. */
static int
store_log_add_evp_file(struct store *s, int dfd, const char *name,
    uint64_t evpid)
{
	struct rec_evp	 re;
	struct stat	 sb;
	char		*p;
	ssize_t		 n;
	int		 fd, r = -1;

	if ((fd = sio_open_regular(dfd, name)) == -1)
		return -1;
	if (fstat(fd, &sb) == -1 || sb.st_size > PQ_EVP_MAX)
		goto done;
	memset(&re, 0, sizeof(re));
	re.evpid = evpid;
	re.len = (uint32_t)sb.st_size;
	wal_add(&s->wal, &re, sizeof(re));
	if ((p = wal_reserve(&s->wal, re.len)) == NULL)
		goto done;
	if ((n = pread(fd, p, re.len, 0)) == (ssize_t)re.len)
		r = 0;
	else if (n != -1)
		errno = EIO;
done:
	close(fd);
	return r;
}

/* Add every envelope of the incoming message dfd; their count or -1. */
static int
store_log_add_envelopes(struct store *s, int dfd, uint32_t msgid)
{
	struct dirent	*dp;
	DIR		*dir;
	uint64_t	 evpid;
	int		 n = 0;

	if ((dir = sio_reopendir(dfd)) == NULL)
		return -1;
	while ((dp = readdir(dir)) != NULL) {
		if (!layout_parse_evpname(dp->d_name, msgid, &evpid))
			continue;
		if (store_log_add_evp_file(s, dfd, dp->d_name, evpid) == -1) {
			n = -1;
			break;
		}
		n++;
	}
	closedir(dir);
	return n;
}

/* Build the commit record of the incoming message dfd (body: fd). */
static int
store_log_build_commit(struct store *s, uint32_t msgid, int dfd, int fd,
    const struct stat *sb, int inline_body)
{
	struct rec_commit	 rc;
	size_t			 head;
	char			*p;
	int			 n;

	wal_begin(&s->wal, WAL_COMMIT);
	memset(&rc, 0, sizeof(rc));
	rc.msgid = msgid;
	rc.bodylen = (uint64_t)sb->st_size;
	rc.inline_body = inline_body;
	head = wal_built(&s->wal);
	wal_add(&s->wal, &rc, sizeof(rc));
	if ((n = store_log_add_envelopes(s, dfd, msgid)) == -1)
		return -1;
	if (s->wal.toobig)
		return -1;
	/* the count, now known, into the head added above */
	rc.nevp = (uint32_t)n;
	memcpy((char *)wal_payload(&s->wal) + head, &rc, sizeof(rc));
	if (!inline_body)
		return 0;
	if ((p = wal_reserve(&s->wal, rc.bodylen)) == NULL)
		return -1;
	if (pread(fd, p, rc.bodylen, 0) != (ssize_t)rc.bodylen) {
		errno = EIO;
		return -1;
	}
	return 0;
}

/*
 * Put the data of incoming/M/message on the disk: the file in place,
 * which is smtpd's (renamed) or our copy, not necessarily fd's.
 */
static int
store_log_write_body(int dfd)
{
	int	fd, r;

	if ((fd = sio_open_regular(dfd, LAYOUT_MESSAGE)) == -1)
		return -1;
	r = sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WAIT_BEFORE |
	    SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
	close(fd);
	return r;
}

/*
 * The commit, logged: one record with the envelopes (and the body up to
 * STORE_INLINE_MAX), synced once; the layout moves without a barrier.
 *
 * A larger body stays where it is and is synced in place, on a file
 * system that journals metadata in order (ext4 with a journal, xfs):
 * sync_file_range(WAIT_BEFORE | WRITE | WAIT_AFTER) puts its data on
 * the disk (blocks allocated, unwritten extents converted) without a
 * cache flush; the renames into queue/ follow, and the fsync() of the
 * bucket commits the journal transaction of the last rename, which
 * takes every earlier metadata change with it and flushes the disk
 * cache before its commit block.  Elsewhere, or when the record would
 * be too large for the log, the commit syncs the layout itself
 * (syncfs()) and needs no record.
 */
int
store_log_commit(struct store *s, uint32_t msgid, int dfd, int fd,
    const struct stat *sb)
{
	int	inline_body = sb->st_size <= STORE_INLINE_MAX;

	if (!inline_body && !s->ordered)
		return store_move_to_queue(s, msgid, dfd, MOVE_SYNCFS);
	if (store_log_build_commit(s, msgid, dfd, fd, sb, inline_body) ==
	    -1) {
		if (!s->wal.toobig)
			return -1;
		return store_move_to_queue(s, msgid, dfd, MOVE_SYNCFS);
	}
	if (!inline_body && store_log_write_body(dfd) == -1)
		return -1;
	if (store_move_to_queue(s, msgid, dfd, inline_body ? MOVE_PLAIN :
	    MOVE_SYNC_BUCKET) == -1)
		return -1;
	if (wal_append(&s->wal, 1) == 0)
		return 0;
	log_warn("warn: queue-fs-proc: commit %08x: writing the log", msgid);
	store_unqueue(s, msgid);
	return -1;
}

/* An envelope created or updated: durable on return. */
int
store_log_evp(struct store *s, uint64_t evpid, const char *evp, size_t len)
{
	struct rec_evp	re;

	memset(&re, 0, sizeof(re));
	re.evpid = evpid;
	re.len = (uint32_t)len;
	wal_begin(&s->wal, WAL_EVP_WRITE);
	wal_add(&s->wal, &re, sizeof(re));
	wal_add(&s->wal, evp, len);
	if (wal_append(&s->wal, 1) == 0)
		return 0;
	log_warn("warn: queue-fs-proc: envelope %016llx: writing the log",
	    (unsigned long long)evpid);
	return -1;
}

/*
 * A deletion: written, not synced; the next synced record takes it
 * along.  Lost in a power failure before that, the mail comes back and
 * is delivered again: never lost.
 */
int
store_log_id(struct store *s, uint32_t type, uint64_t id)
{
	wal_begin(&s->wal, type);
	wal_add(&s->wal, &id, sizeof(id));
	if (wal_append(&s->wal, 0) == 0)
		return 0;
	log_warn("warn: queue-fs-proc: deletion of %llx: writing the log",
	    (unsigned long long)id);
	return -1;
}

/* Replay: the payload being read, and what is left of it. */
struct rec_reader {
	const char	*p;
	size_t		 left;
};

static const void *
rec_take(struct rec_reader *rd, size_t len)
{
	const char	*p = rd->p;

	if (len > rd->left)
		return NULL;
	rd->p += len;
	rd->left -= len;
	return p;
}

/* Write an envelope record into the message directory dfd. */
static int
replay_evp(struct store *s, int dfd, struct rec_reader *rd)
{
	struct layout_evpname	 name;
	struct rec_evp		 re;
	const void		*h, *evp;

	if ((h = rec_take(rd, sizeof(re))) == NULL)
		return -1;
	memcpy(&re, h, sizeof(re));
	if ((evp = rec_take(rd, re.len)) == NULL)
		return -1;
	return store_put_file(s, dfd, layout_evpname(re.evpid, &name), evp,
	    re.len, 0);
}

/*
 * queue/XX/MSGID if it holds its message file, else -1.  Without it the
 * message was being deleted (a deletion takes the envelopes first, then
 * the message file, then the directory), so nothing is written into it:
 * envelopes without a message cannot be delivered.
 */
static int
replay_queued(struct store *s, uint32_t msgid)
{
	struct stat	sb;
	int		dfd;

	if ((dfd = store_open_queued(s, msgid)) == -1)
		return -1;
	if (fstatat(dfd, LAYOUT_MESSAGE, &sb, AT_SYMLINK_NOFOLLOW) == 0)
		return dfd;
	close(dfd);
	return -1;
}

/* Open or make queue/XX/MSGID. */
static int
replay_msgdir(struct store *s, uint32_t msgid)
{
	struct layout_msgname	name;
	int			bfd, dfd;

	if ((bfd = store_open_bucket(s, msgid, 1, 0)) == -1)
		return -1;
	layout_msgname(msgid, &name);
	if (mkdirat(bfd, name.s, 0700) == -1 && errno != EEXIST)
		dfd = -1;
	else
		dfd = sio_open_dir(bfd, name.s);
	close(bfd);
	return dfd;
}

static int
replay_commit(struct store *s, struct rec_reader *rd)
{
	struct rec_commit	 rc;
	const void		*h, *body;
	uint32_t		 i;
	int			 dfd, r = 0;

	if ((h = rec_take(rd, sizeof(rc))) == NULL)
		return -1;
	memcpy(&rc, h, sizeof(rc));
	if (!rc.inline_body) {
		/* in place: durable in queue/ before its record */
		if ((dfd = replay_queued(s, rc.msgid)) == -1)
			return 0;
	} else if ((dfd = replay_msgdir(s, rc.msgid)) == -1)
		return -1;
	for (i = 0; i < rc.nevp && r == 0; i++)
		r = replay_evp(s, dfd, rd);
	if (r == 0 && rc.inline_body) {
		if ((body = rec_take(rd, rc.bodylen)) == NULL)
			r = -1;
		else
			r = store_put_file(s, dfd, LAYOUT_MESSAGE, body,
			    rc.bodylen, 0);
	}
	close(dfd);
	return r;
}

static int
replay_evp_write(struct store *s, struct rec_reader *rd)
{
	struct rec_evp	re;
	int		dfd, r;

	if (rd->left < sizeof(re))
		return -1;
	memcpy(&re, rd->p, sizeof(re));
	/* no message: it was deleted later */
	if ((dfd = replay_queued(s, re.evpid >> 32)) == -1)
		return 0;
	r = replay_evp(s, dfd, rd);
	close(dfd);
	return r;
}

/* Apply one record; -1 only when the layout could not be changed. */
static int
replay_record(void *arg, uint32_t type, const char *payload, size_t len)
{
	struct store		*s = arg;
	struct rec_reader	 rd = { payload, len };
	const void		*p;
	uint64_t		 id;
	int			 r;

	switch (type) {
	case WAL_COMMIT:
		r = replay_commit(s, &rd);
		break;
	case WAL_EVP_WRITE:
		r = replay_evp_write(s, &rd);
		break;
	case WAL_EVP_DELETE:
	case WAL_MSG_DELETE:
		if ((p = rec_take(&rd, sizeof(id))) == NULL) {
			r = -1;
			break;
		}
		memcpy(&id, p, sizeof(id));
		if (type == WAL_EVP_DELETE)
			r = store_unlink_envelope(s, id);
		else
			r = store_remove_message(s, (uint32_t)id);
		/* already gone: the deletion was in the layout already */
		if (r == -1 && (errno == ENOENT || errno == ENOTDIR))
			r = 0;
		break;
	default:
		errno = EINVAL;
		r = -1;
	}
	if (r == -1)
		log_warn("warn: queue-fs-proc: replaying a record of type %u",
		    type);
	return r;
}

int
store_replay(struct store *s)
{
	return wal_replay(&s->wal, replay_record, s);
}
