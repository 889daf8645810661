/*
 * Recovery: see recover.h.
 *
 * The start, in order, and why:
 *  1. The lock (recover_lock()), before anything touches the spool: two
 *     writers would share incoming/envelope.tmp, and a -R run on a live
 *     spool would mark the running helper's log dead.
 *  2. The log's replay (recover_log()), before anything touches
 *     incoming/, whatever -S says: a power failure can leave there a
 *     committed body kept in place, which only the replay can rescue.
 *     A log begun on an incoming/ that is gone is never replayed: the
 *     built-in queue makes a new incoming/ at every start, so another
 *     queue has served the spool since (wal.h), and the records would
 *     bring back what it delivered and roll back what it updated.  The
 *     replay runs on the same boot after a process crash too: the
 *     layout then holds every answered change already and the replay
 *     changes nothing, but after a failed barrier the kernel may have
 *     dropped pages it could not write, and only the log still has them.
 *  3. Retire the log: sync the layout (every file system of the spool),
 *     mark the files dead.  Nothing is replayed twice, whatever serves
 *     the spool next, and a start that fails later leaves no live log.
 *  4. Purge incoming/ (spool_purge_incoming()).
 *  5. With -S full, begin a new log (wal_start()) and fork the
 *     checkpointer; if the files cannot be made, the layout syncs
 *     itself (slower, said in the log).
 *
 * A log that cannot be opened or read stops the start: it may hold
 * acknowledged mail, and nothing is purged.
 *
 * The replay makes each record true again, in log order, so it may run
 * twice over the same records (a crash during replay): a commit writes
 * its message and envelopes (a body kept in place is moved from
 * incoming/ into queue/ if a power failure left it there), an envelope
 * write writes it, deletions delete what is there.  The state after the
 * last record is the state smtpd was last told about.  Records never
 * land in another message's directory: a msgid that a live record
 * names is not handed out again (deferred.c, wal_names()).
 */
#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "layout.h"
#include "log.h"
#include "records.h"
#include "recover.h"
#include "safeio.h"

/* ---- the lock ---------------------------------------------------------- */

/* The pid written in the lock file by its holder, 0 if none. */
static pid_t
recover_lock_holder(int fd)
{
	char		 buf[16];
	const char	*errstr;
	ssize_t		 n;
	long long	 pid;

	if ((n = pread(fd, buf, sizeof(buf) - 1, 0)) <= 0)
		return 0;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	pid = strtonum(buf, 1, 1 << 30, &errstr);
	return errstr == NULL ? (pid_t)pid : 0;
}

/*
 * Take the spool's lock, an flock() of fs-proc/lock, waiting up to wait
 * seconds for its holder: an exclusive lock lives as long as the open
 * file, so the helper's log checkpointer (a child that inherits the fd)
 * holds it too, and an old helper's exit checkpoint ends before a new
 * helper begins its log.  RECOVER_OWN: exclusive, the file made if
 * needed and our pid written in it (the helper, -R, -n -R);
 * RECOVER_LOOK: shared, for -n, which changes nothing (no file made,
 * nothing written).  Returns the fd (keep it open), -2 when another
 * holds it (*holder: its pid, 0 if unknown), -1 on error (errno;
 * ENOENT: no fs-proc/ or, looking, no lock file: no helper ever ran).
 */
int
recover_lock(int spool_fd, int how, int wait, pid_t *holder)
{
	struct timespec	ts = { 0, 100 * 1000 * 1000 };
	char		buf[16];
	int		fd, tries = wait * 10, said = 0;

	*holder = 0;
	if ((fd = sio_open_beneath(spool_fd, LAYOUT_WAL "/" RECOVER_LOCK,
	    how == RECOVER_OWN ? O_RDWR | O_CREAT : O_RDONLY, 0600)) == -1)
		return -1;
	while (flock(fd, (how == RECOVER_OWN ? LOCK_EX : LOCK_SH) |
	    LOCK_NB) == -1) {
		if (errno != EWOULDBLOCK && errno != EINTR)
			goto fail;
		*holder = recover_lock_holder(fd);
		if (tries-- <= 0) {
			close(fd);
			return -2;
		}
		if (!said++)
			log_info("info: queue-fs-proc: waiting for pid %d to "
			    "release the spool", (int)*holder);
		nanosleep(&ts, NULL);
	}
	*holder = 0;
	if (how == RECOVER_LOOK)
		return fd;
	snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) == -1 ||
	    pwrite(fd, buf, strlen(buf), 0) != (ssize_t)strlen(buf))
		goto fail;
	return fd;

fail:
	close(fd);
	return -1;
}

/*
 * Say on standard output, where -n and -R report, why they cannot work
 * on the spool (lock: recover_lock()'s -1 or -2).
 */
void
recover_refused(const char *spool, int lock, pid_t holder)
{
	if (lock == -2)
		printf("queue-fs-proc: spool %s is in use by queue-fs-proc "
		    "pid %d: stop it first\n", spool, (int)holder);
	else
		printf("queue-fs-proc: spool %s: cannot take its lock %s/%s: "
		    "%s\n", spool, LAYOUT_WAL, RECOVER_LOCK, strerror(errno));
}

/* ---- the replay -------------------------------------------------------- */

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
	int			bfd;

	if ((bfd = store_bucket(s, msgid, 1, 0)) == -1)
		return -1;
	layout_msgname(msgid, &name);
	if (mkdirat(bfd, name.s, 0700) == -1 && errno != EEXIST)
		return -1;
	return sio_open_dir(bfd, name.s);
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
	    rec_body_mark(&sb) == rc->mark)
		return dfd;
	close(dfd);
	return -1;
}

/*
 * The message directory of a body kept in place, into *dfd: queue/XX/
 * MSGID if it holds its message file; else incoming/MSGID, moved into
 * queue/ now, when it holds the record's body (the commit's fsync made
 * it durable there, the move did not survive: see store_commit_logged());
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



/* ---- the start --------------------------------------------------------- */

/*
 * Open the log and make the layout whole from it: replay a live log
 * (set a stale one aside), make the layout durable and mark the files
 * dead.  1: the log is open (s->wal), 0: there is none (no fs-proc/),
 * -1: it cannot be read or replayed.
 */
static int
recover_log(struct store *s, off_t size)
{
	if (wal_open(&s->wal, s->root_fd, size) == -1) {
		if (errno == ENOENT)
			return 0;
		log_warnx("warn: queue-fs-proc: cannot open the log: it may "
		    "hold acknowledged mail, stopping");
		return -1;
	}
	/* replayed changes are made durable by the retire, not one by one */
	s->logged = 1;
	if (wal_replay(&s->wal, replay_record, s) == -1) {
		log_warnx("warn: queue-fs-proc: cannot replay the log: it may "
		    "hold acknowledged mail, stopping");
		s->logged = 0;
		wal_close(&s->wal, 0);
		return -1;
	}
	wal_retire(&s->wal);
	s->logged = 0;
	return 1;
}

/* Begin a new log (-S full with fs-proc/); else the layout syncs itself. */
static void
recover_begin_log(struct store *s, int ordered, int (*enter_sandbox)(void))
{
	if (wal_start(&s->wal) == -1) {
		log_warnx("warn: queue-fs-proc: cannot begin a new log: every "
		    "durable request syncs the spool itself (slower)");
		wal_close(&s->wal, 0);
		return;
	}
	s->logged = 1;
	s->ordered = ordered;
	s->later.wal = &s->wal;
	/* before the sandbox, which forbids fork(); it enters its own */
	if (enter_sandbox != NULL &&
	    wal_spawn_checkpointer(&s->wal, enter_sandbox) == -1)
		log_warnx("warn: queue-fs-proc: no checkpointer process: "
		    "checkpoints will delay requests");
}

/*
 * The start, as the queue user, after the lock: see the top of this
 * file.  enter_sandbox: what the checkpointer runs first; NULL: no
 * checkpointer, checkpoints run inline (tests).  -1: the spool must not
 * be served.
 */
int
recover_start(struct store *s, off_t log_size, int ordered,
    const char *spool, int (*enter_sandbox)(void))
{
	int	have_log;

	if ((have_log = recover_log(s, log_size)) == -1)
		return -1;
	if (spool_purge_incoming(s->root_fd, spool) == -1)
		return -1;
	if (s->sync != STORE_SYNC_FULL) {
		if (have_log)
			wal_close(&s->wal, 0);
		return 0;
	}
	if (!have_log) {
		log_warnx("warn: queue-fs-proc: no log (no %s/): every durable "
		    "request syncs the spool itself (slower)", LAYOUT_WAL);
		return 0;
	}
	recover_begin_log(s, ordered, enter_sandbox);
	return 0;
}

/*
 * Replay and retire the log of spool_fd, nothing else: in a child, as
 * the queue user when we are root, so that what it writes is the queue
 * user's.  The caller holds the lock.
 */
int
recover_offline(int spool_fd, const struct spool_user *u)
{
	struct store	s;
	pid_t		pid;
	int		status, r;

	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		if ((geteuid() == 0 && spool_drop(u) == -1) ||
		    store_open(&s, spool_fd, STORE_SYNC_FULL, 0) == -1)
			_exit(1);
		if ((r = recover_log(&s, WAL_FILE_SIZE)) == 1)
			wal_close(&s.wal, 0);
		store_close(&s);
		_exit(r == -1);
	}
	if (waitpid(pid, &status, 0) == -1 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status) == 0 ? 0 : -1;
}

/*
 * -R: replay and retire the log of the spool, then exit; 0 when there
 * was nothing to do (no spool yet, no log, a dead one).  What the
 * opensmtpd.service drop-in runs before smtpd starts, whatever queue
 * it is given: the built-in queue's start would move a body that only
 * the replay can rescue out of incoming/.
 */
int
recover_command(const char *spool, const char *user)
{
	struct spool_user	u;
	pid_t			holder;
	int			fd, lock, live, stale, r = 1;

	if (geteuid() == 0 && spool_user(user, &u) == -1)
		return 1;
	/* O_PATH: the queue user may search the spool (0711), not read it */
	if ((fd = open(spool, O_PATH | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1 && errno == ENOENT) {
		printf("queue-fs-proc: no spool %s: nothing to replay\n", spool);
		return 0;
	}
	if (fd == -1) {
		fprintf(stderr, "queue-fs-proc: %s: %s\n", spool,
		    strerror(errno));
		return 1;
	}
	if ((lock = recover_lock(fd, RECOVER_OWN, 0, &holder)) == -1 &&
	    errno == ENOENT) {
		printf("queue-fs-proc: %s: no log: nothing to replay\n", spool);
		r = 0;
	} else if (lock < 0)
		recover_refused(spool, lock, holder);
	else if ((live = wal_pending(fd, &stale)) == -1)
		fprintf(stderr, "queue-fs-proc: %s: cannot read the log: "
		    "%s\n", spool, strerror(errno));
	else if (live == 0 && stale == 0) {
		printf("queue-fs-proc: %s: nothing to replay\n", spool);
		r = 0;
	} else if (recover_offline(fd, &u) == -1)
		fprintf(stderr, "queue-fs-proc: %s: cannot replay the log "
		    "(see the mail log)\n", spool);
	else {
		printf("queue-fs-proc: %s: log replayed and retired%s\n",
		    spool, stale ? " (a stale one set aside)" : "");
		r = 0;
	}
	if (lock >= 0)
		close(lock);
	close(fd);
	return r;
}
