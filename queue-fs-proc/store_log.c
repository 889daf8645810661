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
 * its message and envelopes (a body kept in place is moved from
 * incoming/ into queue/ if a power failure left it there), an envelope
 * write writes it, deletions delete what is there.  The state after the
 * last record is the state smtpd was last told about.  What is left in
 * incoming/ goes to purge/ only after the replay (main.c,
 * spool_purge_incoming()).
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
	uint32_t	mark;		/* in place: body_mark(), else 0 */
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

/*
 * What replay checks, with the size, before it takes an incoming/M/
 * message left by a power failure for the body of a commit record: a
 * mark of the file's inode number and mtime, never 0 (0: a record
 * without one, from before the rescue existed).  Neither changes once
 * the message is committed: nobody writes it, a rename keeps both.
 * Another message given the same msgid after this one was delivered
 * gets another file: its body is never served under this record.
 */
static uint32_t
body_mark(const struct stat *sb)
{
	uint64_t	h;

	h = (uint64_t)sb->st_ino ^ (uint64_t)sb->st_mtim.tv_sec << 30 ^
	    (uint64_t)sb->st_mtim.tv_nsec;
	h ^= h >> 32;
	return (uint32_t)h != 0 ? (uint32_t)h : 1;
}

/*
 * Build the commit record of the incoming message dfd (body: fd; mark:
 * the body_mark() of the file in place, 0 if inline).
 */
static int
store_log_build_commit(struct store *s, uint32_t msgid, int dfd, int fd,
    const struct stat *sb, uint32_t mark)
{
	struct rec_commit	 rc;
	size_t			 head;
	char			*p;
	int			 n;

	wal_begin(&s->wal, WAL_COMMIT);
	memset(&rc, 0, sizeof(rc));
	rc.msgid = msgid;
	rc.bodylen = (uint64_t)sb->st_size;
	rc.inline_body = mark == 0;
	rc.mark = mark;
	head = wal_built(&s->wal);
	wal_add(&s->wal, &rc, sizeof(rc));
	if ((n = store_log_add_envelopes(s, dfd, msgid)) == -1)
		return -1;
	if (s->wal.toobig)
		return -1;
	/* the count, now known, into the head added above */
	rc.nevp = (uint32_t)n;
	memcpy((char *)wal_payload(&s->wal) + head, &rc, sizeof(rc));
	if (!rc.inline_body)
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
 * incoming/M/message opened (the file in place: smtpd's, renamed, or
 * our copy, not necessarily fd's) and its mark; -1 if it cannot be.
 */
static int
store_log_open_body(int dfd, uint32_t *mark)
{
	struct stat	sb;
	int		bfd;

	if ((bfd = sio_open_regular(dfd, LAYOUT_MESSAGE)) == -1)
		return -1;
	if (fstat(bfd, &sb) == -1) {
		close(bfd);
		return -1;
	}
	*mark = body_mark(&sb);
	return bfd;
}

/*
 * The commit, logged: one record with the envelopes (and the body up to
 * STORE_INLINE_MAX), synced once with the log's fdatasync(); the layout
 * moves without a barrier.
 *
 * A larger body stays where it is, on a file system that journals
 * metadata in order (s->ordered: ext4 with a journal, xfs), and costs
 * one more barrier: an fsync() of the message file, through an fd
 * opened before incoming/M moves to queue/XX/M, before the record.
 * On both file systems fsync() of a file writes its data (allocating
 * delayed blocks) and commits the journal transaction that last
 * changed its inode, with a cache flush: that is the rename of
 * temporary/M to incoming/M/message (a rename changes the source's
 * ctime: ext4_rename() marks it dirty, xfs_rename() logs it) or the
 * copy's creation and writes.  The journal commits in order, so every
 * earlier metadata change (the mkdir of incoming/M) is durable with it;
 * the move into queue/ may or may not be.  So once the record is in the
 * log the body survives a power failure at queue/XX/M/message or at
 * incoming/M/message, and replay_in_place() looks in both.
 *
 * Elsewhere (ext2, ext4 without a journal, btrfs, tmpfs: none of them
 * promises that order), or when the record would be too large for the
 * log, the commit syncs the layout itself (syncfs()) and needs no
 * record.
 */
int
store_log_commit(struct store *s, uint32_t msgid, int dfd, int fd,
    const struct stat *sb)
{
	uint32_t	mark = 0;
	int		bfd = -1, r = -1;

	if (sb->st_size > STORE_INLINE_MAX) {
		if (!s->ordered)
			return store_move_to_queue(s, msgid, dfd, MOVE_SYNCFS);
		if ((bfd = store_log_open_body(dfd, &mark)) == -1)
			return -1;
	}
	if (store_log_build_commit(s, msgid, dfd, fd, sb, mark) == -1) {
		if (s->wal.toobig)
			r = store_move_to_queue(s, msgid, dfd, MOVE_SYNCFS);
		goto done;
	}
	if (store_move_to_queue(s, msgid, dfd, MOVE_PLAIN) == -1)
		goto done;
	if (bfd != -1 && fsync(bfd) == -1)
		log_warn("warn: queue-fs-proc: commit %08x: fsync of the "
		    "message", msgid);
	else if (wal_append(&s->wal, 1) == 0) {
		r = 0;
		goto done;
	} else
		log_warn("warn: queue-fs-proc: commit %08x: writing the log",
		    msgid);
	store_unqueue(s, msgid);
done:
	if (bfd != -1)
		close(bfd);
	return r;
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

/*
 * incoming/MSGID if its message file is the body the record rc was
 * written for (same size and mark), else -1.
 */
static int
replay_incoming(struct store *s, const struct rec_commit *rc)
{
	struct layout_msgname	name;
	struct stat		sb;
	int			dfd;

	if (rc->mark == 0)
		return -1;
	layout_msgname(rc->msgid, &name);
	if ((dfd = sio_open_dir(s->incoming_fd, name.s)) == -1)
		return -1;
	if (fstatat(dfd, LAYOUT_MESSAGE, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(sb.st_mode) && (uint64_t)sb.st_size == rc->bodylen &&
	    body_mark(&sb) == rc->mark)
		return dfd;
	close(dfd);
	return -1;
}

/*
 * The message directory of a body kept in place, into *dfd: queue/XX/
 * MSGID if it holds its message file; else incoming/MSGID, moved into
 * queue/ now, when it holds the record's body (the commit's fsync made
 * it durable there, the move did not survive: see store_log_commit());
 * else -1, nothing to write: the message was being deleted.  Returns -1
 * only when the move failed.
 */
static int
replay_in_place(struct store *s, const struct rec_commit *rc, int *dfd)
{
	if ((*dfd = replay_queued(s, rc->msgid)) != -1)
		return 0;
	if ((*dfd = replay_incoming(s, rc)) == -1)
		return 0;
	log_info("info: queue-fs-proc: replay: message %08x found in "
	    "incoming/, moving it into queue/", rc->msgid);
	if (store_move_to_queue(s, rc->msgid, *dfd, MOVE_PLAIN) == 0)
		return 0;
	close(*dfd);
	*dfd = -1;
	return -1;
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
		if (replay_in_place(s, &rc, &dfd) == -1)
			return -1;
		if (dfd == -1)
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
