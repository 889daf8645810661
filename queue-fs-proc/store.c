/*
 * The fs store: one function per proc-queue request.
 *
 * Durability (STORE_SYNC_FULL, see DURABILITY in queue-fs-proc(8)):
 * with the log (s->logged, the default) the layout is changed without
 * barriers and each durable request appends one record to the log,
 * synced once (records.c, wal.c; the replay and the start: recover.c).
 * Without it (no fs-proc/ directory in the spool, or the log could not
 * be made) every change is synced in the layout itself: the commit
 * makes the whole incoming directory durable with one syncfs(), renames
 * it into queue/ and syncs the bucket and incoming/; envelope writes to
 * committed messages go through incoming/envelope.tmp + fsync + rename
 * + directory fsync.  A barrier that fails stops the process
 * (sio_barrier()).
 *
 * Either way envelopes of an incoming message are written without a
 * barrier, and the commit puts the message in place by renaming smtpd's
 * temporary/MSGID when that is the fd's file, else by copying.
 */
#include <sys/types.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layout.h"
#include "log.h"
#include "msgdir.h"
#include "proc_queue.h"
#include "records.h"
#include "safeio.h"
#include "store.h"


static int
store_durable(struct store *s)
{
	return s->sync == STORE_SYNC_FULL;
}

/* Is the layout made durable by its own barriers (no log)? */
static int
store_layout_sync(struct store *s)
{
	return store_durable(s) && !s->logged;
}

/* fsync fd when the layout carries its own durability. */
static void
store_sync(struct store *s, int fd, const char *what)
{
	if (store_layout_sync(s))
		sio_barrier(fd, SIO_FSYNC, what);
}

int
store_open(struct store *s, int root_fd, enum store_sync sync, int reserve)
{
	int	i;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < STORE_BUCKETS; i++)
		s->bucket_fd[i] = -1;
	evc_init(&s->evc);
	s->sync = sync;
	s->reserve_pct = reserve;
	s->evp_seq = arc4random();
	if ((s->root_fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 0)) == -1) {
		log_warn("warn: queue-fs-proc: dup of the spool fd");
		return -1;
	}
	if ((s->queue_fd = sio_open_dir(root_fd, LAYOUT_QUEUE)) == -1) {
		log_warn("warn: queue-fs-proc: open queue/");
		goto fail;
	}
	if ((s->incoming_fd = sio_open_dir(root_fd, LAYOUT_INCOMING)) == -1) {
		log_warn("warn: queue-fs-proc: open incoming/");
		goto fail_queue;
	}
	s->corrupt_fd = sio_open_dir(root_fd, LAYOUT_CORRUPT);
	s->temporary_fd = sio_open_dir(root_fd, LAYOUT_TEMPORARY);
	walk_init(&s->walk, s->queue_fd, s->corrupt_fd, store_durable(s));
	deferred_init(&s->later, s->queue_fd, s->incoming_fd, &s->walk,
	    &s->evc);
	return 0;

fail_queue:
	close(s->queue_fd);
fail:
	close(s->root_fd);
	return -1;
}

/* A clean close: the log is checkpointed (wal_close()). */
void
store_close(struct store *s)
{
	store_close_log(s, 1);
}

/* checkpoint 0 leaves the log as a crash would, for tests of replay. */
void
store_close_log(struct store *s, int checkpoint)
{
	int	i;

	deferred_close(&s->later);
	walk_close(&s->walk);
	if (s->logged)
		wal_close(&s->wal, checkpoint);
	s->logged = 0;
	evc_free(&s->evc);
	for (i = 0; i < STORE_BUCKETS; i++)
		if (s->bucket_fd[i] != -1)
			close(s->bucket_fd[i]);
	close(s->root_fd);
	close(s->queue_fd);
	close(s->incoming_fd);
	if (s->corrupt_fd != -1)
		close(s->corrupt_fd);
	if (s->temporary_fd != -1)
		close(s->temporary_fd);
}

/*
 * An incoming message whose envelope could not be written after its
 * answer was withdrawn from incoming/ (deferred.c): it is no longer
 * incoming, so that no envelope is taken for it and its commit fails.
 */
static void
store_forget_withdrawn(struct store *s)
{
	if (s->later.withdrawn == 0)
		return;
	evc_drop_message(&s->evc, s->later.withdrawn);
	s->later.withdrawn = 0;
}

/* Work left for after the answer, done before the next request is read. */
void
store_after_answer(struct store *s)
{
	deferred_run(&s->later);
	store_forget_withdrawn(s);
}

/* Log records appended without a sync, for store_flush() (0: none). */
int
store_unsynced(struct store *s)
{
	return s->logged && wal_unsynced(&s->wal);
}

void
store_flush(struct store *s)
{
	if (s->logged)
		wal_flush(&s->wal);
}

static uint64_t
store_new_evpid(uint32_t msgid)
{
	return (uint64_t)msgid << 32 | layout_random_id();
}

/* What is above the reserve of total, halved; 0 if nothing is. */
static uint64_t
store_headroom(uint64_t avail, uint64_t total, int pct)
{
	uint64_t	reserve = total / 100 * (uint64_t)pct;

	return avail > reserve ? (avail - reserve) / 2 : 0;
}

static int
store_read_space(struct store *s)
{
	struct statvfs	sv;

	if (fstatvfs(s->queue_fd, &sv) == -1) {
		log_warn("warn: queue-fs-proc: fstatvfs");
		return 0;
	}
	if (sv.f_blocks && sv.f_bavail * 100 < sv.f_blocks * s->reserve_pct) {
		log_warnx("warn: queue-fs-proc: not enough disk space: "
		    "%llu%% left, temporarily rejecting messages",
		    (unsigned long long)(sv.f_bavail * 100 / sv.f_blocks));
		return 0;
	}
	if (sv.f_files && sv.f_favail * 100 < sv.f_files * s->reserve_pct) {
		log_warnx("warn: queue-fs-proc: not enough inodes: "
		    "%llu%% left, temporarily rejecting messages",
		    (unsigned long long)(sv.f_favail * 100 / sv.f_files));
		return 0;
	}
	s->space.bytes = store_headroom(sv.f_bavail, sv.f_blocks,
	    s->reserve_pct) * sv.f_frsize;
	s->space.inodes = sv.f_files ? store_headroom(sv.f_favail, sv.f_files,
	    s->reserve_pct) : UINT64_MAX;
	return 1;
}

/*
 * Refuse new mail when less than reserve_pct of blocks or inodes is
 * free.  fstatvfs() is not read for every request: what it said is
 * spent as mail comes in (store_spend()), and read again once half the
 * headroom above the reserve may be gone, once a second (for other
 * writers on the file system), and at every request while short.
 */
static int
store_have_space(struct store *s)
{
	struct timespec	now;

	if (s->reserve_pct == 0)
		return 1;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	if (s->space.ok && s->space.when == now.tv_sec &&
	    s->space.bytes > 0 && s->space.inodes > 0)
		return 1;
	s->space.when = now.tv_sec;
	return s->space.ok = store_read_space(s);
}

/* What a message just taken in may have used of the headroom. */
static void
store_spend(struct store *s, uint64_t bytes, uint64_t inodes)
{
	s->space.bytes -= bytes < s->space.bytes ? bytes : s->space.bytes;
	s->space.inodes -= inodes < s->space.inodes ? inodes : s->space.inodes;
}

/*
 * The bucket directory queue/XX, created if create is set (and synced
 * then if sync is).  The fd is the store's, kept open while it runs:
 * only the store changes the layout while the daemon holds the spool,
 * and it never removes a bucket.  Not to be closed by the caller.
 */
int
store_bucket(struct store *s, uint32_t msgid, int create, int sync)
{
	struct layout_bucket	 name;
	int			*fd = &s->bucket_fd[msgid >> 24];

	if (*fd != -1)
		return *fd;
	layout_bucket(msgid, &name);
	if ((*fd = sio_open_dir(s->queue_fd, name.s)) != -1 || !create ||
	    errno != ENOENT)
		return *fd;
	if (mkdirat(s->queue_fd, name.s, 0700) == -1 && errno != EEXIST)
		return -1;
	if (sync)
		sio_barrier(s->queue_fd, SIO_FSYNC, "queue/");
	return *fd = sio_open_dir(s->queue_fd, name.s);
}

int
store_open_queued(struct store *s, uint32_t msgid)
{
	struct layout_msgname	name;
	int			bfd;

	if ((bfd = store_bucket(s, msgid, 0, 0)) == -1)
		return -1;
	return sio_open_dir(bfd, layout_msgname(msgid, &name));
}

static int
store_open_incoming(struct store *s, uint32_t msgid)
{
	struct layout_msgname	name;

	return sio_open_dir(s->incoming_fd, layout_msgname(msgid, &name));
}

static void
store_log_open_failure(const char *what, uint64_t id)
{
	if (errno == ENOENT || errno == ENOTDIR)
		log_debug("debug: queue-fs-proc: %s %llx: not found", what,
		    (unsigned long long)id);
	else
		log_warn("warn: queue-fs-proc: %s %llx", what,
		    (unsigned long long)id);
}

int
store_message_create(struct store *s, uint32_t *msgid)
{
	struct layout_msgname	name;

	if (!store_have_space(s))
		return 0;
	if ((*msgid = deferred_take_spare(&s->later)) == 0)
		return 0;
	if (evc_mark_incoming(&s->evc, *msgid) == 0)
		return 1;
	log_warn("warn: queue-fs-proc: message create %08x", *msgid);
	unlinkat(s->incoming_fd, layout_msgname(*msgid, &name), AT_REMOVEDIR);
	return 0;
}

/*
 * Copy the message from smtpd's fd into the spool: copy_file_range()
 * keeps the data in the kernel (and lets a filesystem share extents);
 * sendfile() and then read/write cover what it cannot do.
 */
static int
store_copy_message(int from, int to)
{
	char	 buf[65536];
	loff_t	 off_in = 0;
	ssize_t	 n;
	int	 how = 0;	/* 0 copy_file_range, 1 sendfile, 2 read */

	for (;;) {
		if (how == 0)
			n = copy_file_range(from, &off_in, to, NULL, 1 << 30, 0);
		else if (how == 1)
			n = sendfile(to, from, &off_in, 1 << 30);
		else if ((n = pread(from, buf, sizeof(buf), off_in)) > 0) {
			if (sio_write_all(to, buf, (size_t)n) == -1)
				return -1;
			off_in += n;
		}
		if (n == 0)
			return 0;
		if (n > 0)
			continue;
		if (errno == EINTR)
			continue;
		if (how < 2 && (errno == EXDEV || errno == EINVAL ||
		    errno == ENOSYS || errno == EOPNOTSUPP || errno == EPERM)) {
			how++;
			continue;
		}
		return -1;
	}
}

static int
store_copy_to_incoming(int dfd, int from)
{
	int	fd, saved;

	if ((fd = sio_create(dfd, LAYOUT_MESSAGE, 0)) == -1)
		return -1;
	if (store_copy_message(from, fd) == -1) {
		saved = errno;
		close(fd);
		unlinkat(dfd, LAYOUT_MESSAGE, 0);
		errno = saved;
		return -1;
	}
	return close(fd);
}

/*
 * Is temporary/name (no symbolic link) the file sb describes?  The
 * directory is held open; smtpd's start may have replaced it after the
 * store opened it (it moves temporary/ to purge/ and makes a new one),
 * so a name not found there is looked up once more in a fresh one.
 */
static int
store_is_temporary(struct store *s, const char *name, const struct stat *sb)
{
	struct stat	here;

	if (s->temporary_fd == -1 || fstatat(s->temporary_fd, name, &here,
	    AT_SYMLINK_NOFOLLOW) == -1) {
		if (s->temporary_fd != -1 && errno != ENOENT)
			return 0;
		/* not there: look in temporary/ as it is now */
		if (s->temporary_fd != -1)
			close(s->temporary_fd);
		s->temporary_fd = sio_open_dir(s->root_fd, LAYOUT_TEMPORARY);
		if (s->temporary_fd == -1 || fstatat(s->temporary_fd, name,
		    &here, AT_SYMLINK_NOFOLLOW) == -1)
			return 0;
	}
	return S_ISREG(here.st_mode) && here.st_dev == sb->st_dev &&
	    here.st_ino == sb->st_ino;
}

/*
 * Rename smtpd's temporary/MSGID to incoming/MSGID/message when it is
 * the very file smtpd handed over (sb: its fstat), as the built-in fs
 * backend does; returns 1 if renamed, 0 if the file must be copied.
 *
 * smtpd waits for our answer, so the name cannot change between the
 * check and the rename.  After the answer smtpd unlinks temporary/MSGID
 * and ignores the result: that name no longer exists (ENOENT), and an
 * unlink removes a name, never the inode now linked in incoming/ or
 * queue/, so the race loses nothing.  The msgid is ours and unused until
 * the message is deleted, so no other message can be given that name
 * in between.  A symlink, another file (replaced, another spool or file
 * system) or no temporary/ at all: copy.
 */
static int
store_rename_temporary(struct store *s, uint32_t msgid, int dfd,
    const struct stat *sb)
{
	struct layout_msgname	name;

	layout_msgname(msgid, &name);
	if (!store_is_temporary(s, name.s, sb))
		return 0;
	if (renameat2(s->temporary_fd, name.s, dfd, LAYOUT_MESSAGE,
	    RENAME_NOREPLACE) == 0)
		return 1;
	if (errno != EXDEV)
		log_warn("warn: queue-fs-proc: commit %08x: rename %s/%s, "
		    "copying instead", msgid, LAYOUT_TEMPORARY, name.s);
	else if (!s->said_exdev) {
		/* a layout choice of the admin's, not a fault: said once */
		log_info("info: queue-fs-proc: temporary/ is on another file "
		    "system than incoming/: every commit copies the message");
		s->said_exdev = 1;
	}
	return 0;
}

static int
store_write_message(struct store *s, uint32_t msgid, int dfd, int from,
    const struct stat *sb)
{
	s->commit_path = STORE_COMMIT_RENAMED;
	if (store_rename_temporary(s, msgid, dfd, sb))
		return 0;
	s->commit_path = STORE_COMMIT_COPIED;
	return store_copy_to_incoming(dfd, from);
}

/*
 * Move incoming/MSGID (dfd) to queue/XX/MSGID.  MOVE_SYNCFS: one
 * syncfs() first makes the message and all its envelopes durable; after
 * the rename the fsync of the bucket makes the new entry durable and
 * that of incoming/ the old one's removal (without a journal, ext2 or
 * ext4 without one, either may reach the disk alone: both entries after
 * a crash, and the start's purge of incoming/ would take one).
 * MOVE_PLAIN: no barrier (the log's, store_commit_logged(), covers it).
 */
int
store_move_to_queue(struct store *s, uint32_t msgid, int dfd,
    enum store_move how)
{
	struct layout_msgname	name;
	int			bfd, r;

	if (how == MOVE_SYNCFS)
		sio_barrier(dfd, SIO_SYNCFS, "the spool");
	if ((bfd = store_bucket(s, msgid, 1, how == MOVE_SYNCFS)) == -1)
		return -1;
	layout_msgname(msgid, &name);
	r = renameat2(s->incoming_fd, name.s, bfd, name.s, RENAME_NOREPLACE);
	if (r == 0 && how == MOVE_SYNCFS) {
		sio_barrier(bfd, SIO_FSYNC, "a bucket of queue/");
		sio_barrier(s->incoming_fd, SIO_FSYNC, "incoming/");
	}
	return r;
}

/* Take a committed message back out of queue/ (its log record failed). */
static void
store_unqueue(struct store *s, uint32_t msgid)
{
	struct layout_msgname	name;
	int			bfd;

	if ((bfd = store_bucket(s, msgid, 0, 0)) == -1 ||
	    msgdir_remove(bfd, layout_msgname(msgid, &name), 0) == -1)
		log_warn("warn: queue-fs-proc: commit %08x: cannot take it "
		    "back out of queue/", msgid);
}

/*
 * The commit, logged: one record with the envelopes (and the body up to
 * REC_INLINE_MAX), synced once with the log's fdatasync(); the layout
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
 * incoming/M/message, and the replay (recover.c) looks in both.
 *
 * Elsewhere (ext2, ext4 without a journal, btrfs, tmpfs: none of them
 * promises that order), or when the record would be too large for the
 * log, the commit syncs the layout itself (syncfs()) and needs no
 * record.
 */
static int
store_commit_logged(struct store *s, uint32_t msgid, int dfd, int fd,
    const struct stat *sb)
{
	uint32_t	mark = 0;
	int		bfd = -1, r = -1;

	if (sb->st_size > REC_INLINE_MAX) {
		if (!s->ordered)
			return store_move_to_queue(s, msgid, dfd, MOVE_SYNCFS);
		if ((bfd = rec_open_body(dfd, &mark)) == -1)
			return -1;
	}
	if (rec_build_commit(&s->wal, msgid, &s->evc, fd, sb, mark) == -1) {
		if (s->wal.toobig)
			r = store_move_to_queue(s, msgid, dfd, MOVE_SYNCFS);
		goto done;
	}
	if (store_move_to_queue(s, msgid, dfd, MOVE_PLAIN) == -1)
		goto done;
	if (bfd != -1)
		sio_barrier(bfd, SIO_FSYNC, "a message kept in place");
	if (wal_append(&s->wal, msgid, 1) == 0) {
		r = 0;
		goto done;
	}
	log_warn("warn: queue-fs-proc: commit %08x: writing the log", msgid);
	store_unqueue(s, msgid);
done:
	if (bfd != -1)
		close(bfd);
	return r;
}


/*
 * On any failure after the message is in incoming/ (renamed or copied)
 * it is unlinked there and the answer is r = 0: smtpd tempfails the
 * mail, which was never acknowledged, and deletes it.
 */
int
store_message_commit(struct store *s, uint32_t msgid, int fd)
{
	struct stat	sb;
	int		dfd, r, nevp, ok = 0;

	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		log_warnx("warn: queue-fs-proc: commit %08x: fd is not a "
		    "regular file", msgid);
		return 0;
	}
	if (!store_have_space(s))
		return 0;
	if ((dfd = store_open_incoming(s, msgid)) == -1) {
		store_log_open_failure("commit: incoming message", msgid);
		return 0;
	}
	if (store_write_message(s, msgid, dfd, fd, &sb) == -1) {
		log_warn("warn: queue-fs-proc: commit %08x: writing message",
		    msgid);
		goto done;
	}
	if (s->logged)
		r = store_commit_logged(s, msgid, dfd, fd, &sb);
	else
		r = store_move_to_queue(s, msgid, dfd, store_durable(s) ?
		    MOVE_SYNCFS : MOVE_PLAIN);
	if (r == -1) {
		log_warn("warn: queue-fs-proc: commit %08x: moving to queue",
		    msgid);
		unlinkat(dfd, LAYOUT_MESSAGE, 0);
		goto done;
	}
	nevp = evc_committed(&s->evc, msgid);
	s->commit_bytes = (uint64_t)sb.st_size;
	store_spend(s, (uint64_t)sb.st_size + 4096 * (uint64_t)(nevp + 1),
	    (uint64_t)nevp + 2);
	ok = 1;
done:
	close(dfd);
	return ok;
}

/* Remove queue/XX/MSGID; -1 with errno ENOENT if it is not there. */
int
store_remove_message(struct store *s, uint32_t msgid)
{
	struct layout_msgname	name;
	int			bfd;

	if ((bfd = store_bucket(s, msgid, 0, 0)) == -1)
		return -1;
	return msgdir_remove(bfd, layout_msgname(msgid, &name),
	    store_layout_sync(s));
}

int
store_message_delete(struct store *s, uint32_t msgid)
{
	struct layout_msgname	name;

	walk_changed(&s->walk);
	evc_drop_message(&s->evc, msgid);
	layout_msgname(msgid, &name);
	if (msgdir_remove(s->incoming_fd, name.s, store_layout_sync(s)) == 0)
		return 1;
	if (errno != ENOENT) {
		log_warn("warn: queue-fs-proc: delete incoming/%s", name.s);
		return 0;
	}
	if (store_remove_message(s, msgid) == -1) {
		store_log_open_failure("delete: message", msgid);
		return 0;
	}
	if (s->logged)
		(void)rec_delete(&s->wal, WAL_MSG_DELETE, msgid);
	return 1;
}

int
store_message_fd_r(struct store *s, uint32_t msgid)
{
	struct layout_msgfile	path;
	int			fd;

	fd = sio_open_regular(s->queue_fd, layout_msgfile(msgid, &path));
	if (fd == -1)
		store_log_open_failure("fd_r: message", msgid);
	return fd;
}

/*
 * The low half of an incoming envelope's id: a counter from a random
 * start, so the ids of one message differ without looking at its
 * directory (the answer goes out before the file is written); O_EXCL
 * still checks it when the file is written.
 */
static uint64_t
store_next_evpid(struct store *s, uint32_t msgid)
{
	if (++s->evp_seq == 0)
		s->evp_seq = 1;
	return (uint64_t)msgid << 32 | s->evp_seq;
}

/* Write incoming/envelope.tmp, synced if the layout syncs itself. */
static int
store_write_evp_tmp(struct store *s, const char *evp, size_t len)
{
	int	fd;

	if ((fd = sio_create(s->incoming_fd, LAYOUT_EVP_TMP, 0)) == -1)
		return -1;
	if (sio_write_all(fd, evp, len) == -1) {
		close(fd);
		unlinkat(s->incoming_fd, LAYOUT_EVP_TMP, 0);
		return -1;
	}
	store_sync(s, fd, "incoming/envelope.tmp");
	return close(fd);
}

/*
 * Put incoming/envelope.tmp in place as dfd/name: atomically, so a
 * reader sees the old envelope or the new one, never a mix.  noreplace
 * makes it fail with EEXIST rather than overwrite (for creation).
 */
static int
store_install_evp_tmp(struct store *s, int dfd, const char *name,
    int noreplace)
{
	if (renameat2(s->incoming_fd, LAYOUT_EVP_TMP, dfd, name,
	    noreplace ? RENAME_NOREPLACE : 0) == -1)
		return -1;
	store_sync(s, dfd, "a message directory");
	return 0;
}

/* Write dfd/name atomically (through incoming/envelope.tmp). */
int
store_put_file(struct store *s, int dfd, const char *name, const char *buf,
    size_t len, int noreplace)
{
	if (store_write_evp_tmp(s, buf, len) == -1)
		return -1;
	if (store_install_evp_tmp(s, dfd, name, noreplace) == 0)
		return 0;
	unlinkat(s->incoming_fd, LAYOUT_EVP_TMP, 0);
	return -1;
}

/* Logged: the new envelope is in the layout, now in the log too. */
static int
store_log_new_evp(struct store *s, int dfd, uint64_t evpid, const char *evp,
    size_t len)
{
	struct layout_evpname	name;

	if (!s->logged || rec_evp(&s->wal, evpid, evp, len, 1) == 0)
		return 0;
	unlinkat(dfd, layout_evpname(evpid, &name), 0);
	return -1;
}

static int
store_create_queued_evp(struct store *s, int dfd, uint32_t msgid,
    const char *evp, size_t len, uint64_t *evpid)
{
	struct layout_evpname	name;
	int			i;

	if (store_write_evp_tmp(s, evp, len) == -1)
		return -1;
	for (i = 0; i < LAYOUT_ID_TRIES; i++) {
		*evpid = store_new_evpid(msgid);
		if (walk_skip(&s->walk, *evpid) == -1)
			break;
		if (store_install_evp_tmp(s, dfd, layout_evpname(*evpid,
		    &name), 1) == 0)
			return store_log_new_evp(s, dfd, *evpid, evp, len);
		if (errno != EEXIST)
			break;
	}
	unlinkat(s->incoming_fd, LAYOUT_EVP_TMP, 0);
	return -1;
}

static int
store_evp_size_ok(const char *what, uint64_t id, size_t len)
{
	if (len == 0 || len > PQ_EVP_MAX) {
		log_warnx("warn: queue-fs-proc: %s %llx: envelope of %zu "
		    "bytes refused (1 to %d)", what, (unsigned long long)id,
		    len, PQ_EVP_MAX);
		return 0;
	}
	return 1;
}

int
store_envelope_create(struct store *s, uint32_t msgid, const char *evp,
    size_t len, uint64_t *evpid)
{
	int	dfd, r;

	if (!store_evp_size_ok("envelope create", msgid, len))
		return 0;
	if (evc_is_incoming(&s->evc, msgid)) {
		/*
		 * held in memory, from where store_after_answer() writes
		 * its file and the commit builds its record
		 */
		*evpid = store_next_evpid(s, msgid);
		if (evc_put(&s->evc, *evpid, evp, len, 1) == -1) {
			log_warn("warn: queue-fs-proc: envelope create for "
			    "%08x", msgid);
			return 0;
		}
		deferred_envelope(&s->later, *evpid);
		store_forget_withdrawn(s);	/* an earlier one's */
		return 1;
	}
	if ((dfd = store_open_queued(s, msgid)) == -1) {
		store_log_open_failure("envelope create: message", msgid);
		return 0;
	}
	if ((r = store_create_queued_evp(s, dfd, msgid, evp, len,
	    evpid)) == -1)
		log_warn("warn: queue-fs-proc: envelope create for %08x",
		    msgid);
	else
		(void)evc_put(&s->evc, *evpid, evp, len, 0);
	close(dfd);
	return r == 0;
}

/*
 * Unlink one envelope of a queued message; when it was the last, the
 * message goes too.  The count is read from the directory, not kept in
 * memory, so this holds for messages queued before a restart and never
 * walked.  -1 only when the envelope was not unlinked: once it is, the
 * deletion is done, and a message left without envelopes by a failure
 * after it is the walk's to remove (walk.c), as after a crash.
 */
int
store_unlink_envelope(struct store *s, uint64_t evpid)
{
	struct layout_evpname	name;
	uint32_t		msgid = evpid >> 32;
	int			dfd, left;

	walk_changed(&s->walk);
	if ((dfd = store_open_queued(s, msgid)) == -1)
		return -1;
	if (unlinkat(dfd, layout_evpname(evpid, &name), 0) == -1) {
		close(dfd);
		return -1;
	}
	if ((left = msgdir_has_envelopes(dfd, msgid, 0)) == 1)
		store_sync(s, dfd, "a message directory");
	close(dfd);
	if (left != 0)
		return 0;
	/* the last one: the message goes too */
	if (store_remove_message(s, msgid) == -1)
		log_warn("warn: queue-fs-proc: envelope delete %016llx: "
		    "removing its message", (unsigned long long)evpid);
	return 0;
}

/* Logged: the deletion is in the layout, now in the log too, unsynced. */
int
store_envelope_delete(struct store *s, uint64_t evpid)
{
	evc_del(&s->evc, evpid);
	if (store_unlink_envelope(s, evpid) == -1) {
		store_log_open_failure("envelope delete", evpid);
		return 0;
	}
	if (s->logged)
		(void)rec_delete(&s->wal, WAL_EVP_DELETE, evpid);
	return 1;
}

/*
 * Returns the envelope's length; 0 when there is none to serve.  A
 * queued envelope the store wrote this run may be held in memory and
 * is served from there (an incoming one, pinned, is not queued yet:
 * smtpd cannot load it).
 */
size_t
store_envelope_load(struct store *s, uint64_t evpid, char *buf, size_t size)
{
	struct layout_evppath	 path;
	struct evc_entry	*e;
	ssize_t			 n;

	if ((e = evc_get(&s->evc, evpid)) != NULL && !e->pinned &&
	    e->len <= size) {
		memcpy(buf, e->data, e->len);
		return e->len;
	}
	n = sio_read_file(s->queue_fd, layout_evppath(evpid, &path), buf,
	    size);
	if (n == -1) {
		store_log_open_failure("envelope load", evpid);
		return 0;
	}
	return (size_t)n;
}

/*
 * Is the queued envelope evpid (dfd/name) there?  One held in memory
 * is: every deletion goes through the store and forgets it.
 */
static int
store_holds_evp(struct store *s, int dfd, uint64_t evpid, const char *name)
{
	struct evc_entry	*e;
	struct stat		 sb;

	if ((e = evc_get(&s->evc, evpid)) != NULL && !e->pinned)
		return 1;
	return fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(sb.st_mode);
}

/*
 * The layout first, then (logged) the record: a failed update changed
 * nothing and left nothing for the replay to apply; one that is
 * answered is in the log.  Between the two the update is not yet
 * answered, so either envelope is right after a crash there.
 *
 * The record is not synced before the answer: the next commit's sync
 * takes it along, or the main loop's store_flush() within WAL_FLUSH_MS
 * (as PostgreSQL's asynchronous commit).  An update is smtpd's note of
 * a failed attempt (retry count, last error, time of the last delay
 * notice): one lost in a power failure in that window is an attempt
 * made again early, never a mail lost or delivered twice, and it saves
 * a barrier per delivery attempt while the next hop is down.
 */
int
store_envelope_update(struct store *s, uint64_t evpid, const char *evp,
    size_t len)
{
	struct layout_evpname	name;
	int			dfd, r = -1;

	walk_changed(&s->walk);
	if (!store_evp_size_ok("envelope update", evpid, len))
		return 0;
	if ((dfd = store_open_queued(s, evpid >> 32)) == -1) {
		store_log_open_failure("envelope update", evpid);
		return 0;
	}
	/* an update must not bring a deleted envelope back */
	layout_evpname(evpid, &name);
	if (!store_holds_evp(s, dfd, evpid, name.s)) {
		store_log_open_failure("envelope update", evpid);
		goto done;
	}
	evc_del(&s->evc, evpid);
	if ((r = store_put_file(s, dfd, name.s, evp, len, 0)) == -1)
		log_warn("warn: queue-fs-proc: envelope update %016llx",
		    (unsigned long long)evpid);
	else if (s->logged && rec_evp(&s->wal, evpid, evp, len, 0) == -1)
		fatalx("fatal: queue-fs-proc: envelope update %016llx: the "
		    "layout holds it, the log does not: stopping",
		    (unsigned long long)evpid);
	else
		(void)evc_put(&s->evc, evpid, evp, len, 0);
done:
	close(dfd);
	return r == 0;
}

/* r > 0: an envelope of r bytes; 0: nothing this time; -1: walk over. */
int
store_envelope_walk(struct store *s, uint64_t *evpid, char *buf, size_t size)
{
	return walk_next(&s->walk, evpid, buf, size);
}
