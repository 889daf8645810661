/*
 * The fs store: one function per proc-queue request.
 *
 * Durability (STORE_SYNC_FULL, see DURABILITY in queue-fs-proc(8)):
 * envelopes of an incoming message are written without a barrier; the
 * commit writes the message, makes the whole incoming directory durable
 * with one syncfs(), renames it into queue/ and syncs the bucket: two
 * fsync-class calls per message however many recipients it has (three
 * when its bucket is new).  Envelope writes to committed messages go
 * through incoming/envelope.tmp + fsync + rename + directory fsync.
 */
#include <sys/types.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proc_queue.h"
#include "store.h"
#include "walk.h"

#define EVP_TMP		"envelope.tmp"
#define ID_TRIES	20

int
store_open(struct store *s, int root_fd, enum store_sync sync, int reserve)
{
	memset(s, 0, sizeof(*s));
	s->sync = sync;
	s->reserve_pct = reserve;
	s->corrupt_fd = -1;
	s->unwritten.dfd = -1;
	s->evp_seq = arc4random();
	if ((s->queue_fd = open_dir(root_fd, "queue")) == -1) {
		log_warn("warn: queue-fs-proc: open queue/");
		return -1;
	}
	if ((s->incoming_fd = open_dir(root_fd, "incoming")) == -1) {
		log_warn("warn: queue-fs-proc: open incoming/");
		close(s->queue_fd);
		return -1;
	}
	s->corrupt_fd = open_dir(root_fd, "corrupt");
	return 0;
}

void
store_close(struct store *s)
{
	char	name[9];

	/* nothing ahead: no MESSAGE_CREATE or WALK is to come */
	s->refill = 0;
	s->ahead.wanted = 0;
	store_after_answer(s);
	if (s->spare != 0) {
		snprintf(name, sizeof(name), "%08x", s->spare);
		unlinkat(s->incoming_fd, name, AT_REMOVEDIR);
	}
	walk_free(s);
	idset_free(&s->fresh);
	free(s->ahead.buf);
	close(s->queue_fd);
	close(s->incoming_fd);
	if (s->corrupt_fd != -1)
		close(s->corrupt_fd);
}

static uint32_t
new_msgid(void)
{
	uint32_t	id;

	while ((id = arc4random()) == 0)
		;
	return id;
}

static uint64_t
new_evpid(uint32_t msgid)
{
	return (uint64_t)msgid << 32 | new_msgid();
}

/* Remember an id the walk must skip; only needed while it runs. */
static int
mark_fresh(struct store *s, uint64_t id)
{
	if (s->walk_done)
		return 0;
	if (idset_add(&s->fresh, id) == -1) {
		log_warnx("warn: queue-fs-proc: out of memory");
		return -1;
	}
	return 0;
}

/* What the walk read ahead may have changed: read it again (take_ahead). */
static void
ahead_stale(struct store *s)
{
	s->ahead.stale = 1;
}

/* Refuse new mail when less than reserve_pct of blocks or inodes is free. */
static int
have_space(struct store *s)
{
	struct statvfs	sv;

	if (s->reserve_pct == 0)
		return 1;
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
	return 1;
}

static int
write_all(int fd, const char *buf, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		if ((n = write(fd, buf, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The bucket directory queue/XX, created if create is set. */
static int
open_bucket(struct store *s, uint32_t msgid, int create)
{
	char	name[3];
	int	fd;

	snprintf(name, sizeof(name), "%02x", msgid >> 24);
	if ((fd = open_dir(s->queue_fd, name)) != -1 || !create ||
	    errno != ENOENT)
		return fd;
	if (mkdirat(s->queue_fd, name, 0700) == -1 && errno != EEXIST)
		return -1;
	if (store_sync_fd(s, s->queue_fd) == -1)
		return -1;
	return open_dir(s->queue_fd, name);
}

static int
open_queued(struct store *s, uint32_t msgid)
{
	char	path[STORE_MSGDIR_LEN];

	msgdir_name(msgid, path);
	return open_dir(s->queue_fd, path);
}

static int
open_incoming(struct store *s, uint32_t msgid)
{
	char	name[9];

	snprintf(name, sizeof(name), "%08x", msgid);
	return open_dir(s->incoming_fd, name);
}

static void
log_open_failure(const char *what, uint64_t id)
{
	if (errno == ENOENT || errno == ENOTDIR)
		log_debug("debug: queue-fs-proc: %s %llx: not found", what,
		    (unsigned long long)id);
	else
		log_warn("warn: queue-fs-proc: %s %llx", what,
		    (unsigned long long)id);
}

/*
 * Make an empty incoming/MSGID for a future MESSAGE_CREATE, so that the
 * request itself is answered without file system work.
 */
static int
make_spare(struct store *s)
{
	char		 name[9], path[STORE_MSGDIR_LEN];
	struct stat	 sb;
	uint32_t	 msgid;
	int		 i;

	for (i = 0; i < ID_TRIES; i++) {
		msgid = new_msgid();
		/* a queued message of that id would collide at commit */
		msgdir_name(msgid, path);
		if (fstatat(s->queue_fd, path, &sb, AT_SYMLINK_NOFOLLOW) == 0)
			continue;
		if (errno != ENOENT) {
			log_warn("warn: queue-fs-proc: stat queue/%s", path);
			return -1;
		}
		snprintf(name, sizeof(name), "%08x", msgid);
		if (mkdirat(s->incoming_fd, name, 0700) == 0) {
			if (mark_fresh(s, (uint64_t)msgid << 32) == -1) {
				unlinkat(s->incoming_fd, name, AT_REMOVEDIR);
				return -1;
			}
			s->spare = msgid;
			return 0;
		}
		if (errno != EEXIST) {
			log_warn("warn: queue-fs-proc: mkdir incoming/%s", name);
			return -1;
		}
	}
	log_warnx("warn: queue-fs-proc: could not allocate a msgid");
	return -1;
}

int
store_message_create(struct store *s, uint32_t *msgid)
{
	if (!have_space(s))
		return 0;
	if (s->spare == 0 && make_spare(s) == -1)
		return 0;
	*msgid = s->spare;
	s->spare = 0;
	s->refill = 1;
	return 1;
}

/*
 * Copy the message from smtpd's fd into the spool: copy_file_range()
 * keeps the data in the kernel (and lets a filesystem share extents);
 * sendfile() and then read/write cover what it cannot do.
 */
static int
copy_message(int from, int to)
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
			if (write_all(to, buf, (size_t)n) == -1)
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
write_message_file(struct store *s, int dfd, int from)
{
	int	fd, saved;

	fd = openat(dfd, "message", O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd == -1)
		return -1;
	if (copy_message(from, fd) == -1) {
		saved = errno;
		close(fd);
		unlinkat(dfd, "message", 0);
		errno = saved;
		return -1;
	}
	return close(fd);
}

/*
 * Move incoming/MSGID to queue/XX/MSGID.  In full sync mode one syncfs()
 * first makes the message and all its envelopes durable, and the bucket
 * fsync after the rename makes the move durable.
 */
static int
move_to_queue(struct store *s, uint32_t msgid, int dfd)
{
	char	name[9];
	int	bfd, r;

	if (s->sync == STORE_SYNC_FULL) {
		s->nsync++;
		if (syncfs(dfd) == -1)
			return -1;
	}
	if ((bfd = open_bucket(s, msgid, 1)) == -1)
		return -1;
	snprintf(name, sizeof(name), "%08x", msgid);
	r = renameat2(s->incoming_fd, name, bfd, name, RENAME_NOREPLACE);
	if (r == 0)
		r = store_sync_fd(s, bfd);
	close(bfd);
	return r;
}

int
store_message_commit(struct store *s, uint32_t msgid, int fd)
{
	struct stat	sb;
	int		dfd;

	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		log_warnx("warn: queue-fs-proc: commit %08x: fd is not a "
		    "regular file", msgid);
		return 0;
	}
	if (!have_space(s))
		return 0;
	if ((dfd = open_incoming(s, msgid)) == -1) {
		log_open_failure("commit: incoming message", msgid);
		return 0;
	}
	if (write_message_file(s, dfd, fd) == -1) {
		log_warn("warn: queue-fs-proc: commit %08x: writing message",
		    msgid);
		close(dfd);
		return 0;
	}
	if (move_to_queue(s, msgid, dfd) == -1) {
		log_warn("warn: queue-fs-proc: commit %08x: moving to queue",
		    msgid);
		unlinkat(dfd, "message", 0);
		close(dfd);
		return 0;
	}
	close(dfd);
	return 1;
}

int
store_message_delete(struct store *s, uint32_t msgid)
{
	char	name[9], bucket[3];
	int	bfd, r;

	ahead_stale(s);
	snprintf(name, sizeof(name), "%08x", msgid);
	if (msgdir_remove(s, s->incoming_fd, name) == 0)
		return 1;
	if (errno != ENOENT) {
		log_warn("warn: queue-fs-proc: delete incoming/%s", name);
		return 0;
	}
	snprintf(bucket, sizeof(bucket), "%02x", msgid >> 24);
	if ((bfd = open_dir(s->queue_fd, bucket)) == -1) {
		log_open_failure("delete: message", msgid);
		return 0;
	}
	r = msgdir_remove(s, bfd, name);
	if (r == -1)
		log_open_failure("delete: message", msgid);
	close(bfd);
	return r == 0;
}

int
store_message_fd_r(struct store *s, uint32_t msgid)
{
	char	path[STORE_MSGDIR_LEN + sizeof("/message")];
	int	fd;

	msgdir_name(msgid, path);
	strlcat(path, "/message", sizeof(path));
	if ((fd = open_regular(s->queue_fd, path)) == -1)
		log_open_failure("fd_r: message", msgid);
	return fd;
}

/*
 * The low half of an incoming envelope's id: a counter from a random
 * start, so the ids of one message differ without looking at its
 * directory (the answer goes out before the file is written); O_EXCL
 * still checks it when the file is written.
 */
static uint64_t
next_evpid(struct store *s, uint32_t msgid)
{
	if (++s->evp_seq == 0)
		s->evp_seq = 1;
	return (uint64_t)msgid << 32 | s->evp_seq;
}

/*
 * Write the incoming envelope answered last.  Nobody can read it before
 * the next request, and it becomes durable with the commit's barrier.
 * If it cannot be written, the message is withdrawn from incoming/ so
 * that its commit fails (r = 0) and smtpd tempfails the mail: answering
 * r = 1 before writing never costs an accepted mail.
 */
static void
write_unwritten(struct store *s)
{
	char	name[STORE_EVPNAME_LEN], msgname[9];
	int	fd, r = -1, saved;

	evp_name(s->unwritten.evpid, name);
	fd = openat(s->unwritten.dfd, name, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd != -1) {
		r = write_all(fd, s->unwritten.evp, s->unwritten.len);
		if (close(fd) == -1)
			r = -1;
	}
	saved = errno;
	close(s->unwritten.dfd);
	s->unwritten.dfd = -1;
	if (r == 0)
		return;
	errno = saved;
	log_warn("warn: queue-fs-proc: envelope %016llx: writing it, "
	    "withdrawing its incoming message",
	    (unsigned long long)s->unwritten.evpid);
	snprintf(msgname, sizeof(msgname), "%08x",
	    (uint32_t)(s->unwritten.evpid >> 32));
	if (msgdir_remove(s, s->incoming_fd, msgname) == -1)
		fatalx("fatal: queue-fs-proc: cannot withdraw incoming/%s, "
		    "exiting so that it is never committed", msgname);
}

/* Write incoming/envelope.tmp, durable in full sync mode. */
static int
write_evp_tmp(struct store *s, const char *evp, size_t len)
{
	int	fd;

	fd = openat(s->incoming_fd, EVP_TMP, O_WRONLY | O_CREAT | O_TRUNC |
	    O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1)
		return -1;
	if (write_all(fd, evp, len) == -1 || store_sync_fd(s, fd) == -1) {
		close(fd);
		unlinkat(s->incoming_fd, EVP_TMP, 0);
		return -1;
	}
	return close(fd);
}

/*
 * Put incoming/envelope.tmp in place as dfd/name: atomically, so a
 * reader sees the old envelope or the new one, never a mix.  noreplace
 * makes it fail with EEXIST rather than overwrite (for creation).
 */
static int
install_evp_tmp(struct store *s, int dfd, const char *name, int noreplace)
{
	if (renameat2(s->incoming_fd, EVP_TMP, dfd, name,
	    noreplace ? RENAME_NOREPLACE : 0) == -1)
		return -1;
	return store_sync_fd(s, dfd);
}

static int
create_queued_evp(struct store *s, int dfd, uint32_t msgid,
    const char *evp, size_t len, uint64_t *evpid)
{
	char	name[STORE_EVPNAME_LEN];
	int	i;

	if (write_evp_tmp(s, evp, len) == -1)
		return -1;
	for (i = 0; i < ID_TRIES; i++) {
		*evpid = new_evpid(msgid);
		evp_name(*evpid, name);
		if (mark_fresh(s, *evpid) == -1)
			break;
		if (install_evp_tmp(s, dfd, name, 1) == 0)
			return 0;
		if (errno != EEXIST)
			break;
	}
	unlinkat(s->incoming_fd, EVP_TMP, 0);
	return -1;
}

static int
evp_size_ok(const char *what, uint64_t id, size_t len)
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

	if (!evp_size_ok("envelope create", msgid, len))
		return 0;
	if (s->unwritten.dfd != -1)	/* the caller skipped after_answer */
		write_unwritten(s);
	if ((dfd = open_incoming(s, msgid)) != -1) {
		/* answered now, written by store_after_answer() */
		*evpid = next_evpid(s, msgid);
		s->unwritten.dfd = dfd;
		s->unwritten.evpid = *evpid;
		s->unwritten.evp = evp;
		s->unwritten.len = len;
		return 1;
	}
	if ((dfd = open_queued(s, msgid)) != -1)
		r = create_queued_evp(s, dfd, msgid, evp, len, evpid);
	else {
		log_open_failure("envelope create: message", msgid);
		return 0;
	}
	if (r == -1)
		log_warn("warn: queue-fs-proc: envelope create for %08x",
		    msgid);
	close(dfd);
	return r == 0;
}

/*
 * Delete one envelope; when it was the last, the message goes too.  The
 * count is read from the directory, not kept in memory, so this holds
 * for messages queued before a restart and never walked.
 */
int
store_envelope_delete(struct store *s, uint64_t evpid)
{
	char		 name[STORE_EVPNAME_LEN], msgname[9];
	uint32_t	 msgid = evpid >> 32;
	int		 dfd, bfd, left;

	ahead_stale(s);
	if ((dfd = open_queued(s, msgid)) == -1) {
		log_open_failure("envelope delete", evpid);
		return 0;
	}
	evp_name(evpid, name);
	if (unlinkat(dfd, name, 0) == -1) {
		log_open_failure("envelope delete", evpid);
		close(dfd);
		return 0;
	}
	if ((left = has_envelopes(dfd, msgid)) != 0) {
		left = left == 1 ? store_sync_fd(s, dfd) : -1;
		close(dfd);
		return left == 0;
	}
	close(dfd);
	if ((bfd = open_bucket(s, msgid, 0)) == -1)
		return 0;
	snprintf(msgname, sizeof(msgname), "%08x", msgid);
	left = msgdir_remove(s, bfd, msgname);
	close(bfd);
	return left == 0;
}

/* Returns the envelope's length; 0 when there is none to serve. */
size_t
store_envelope_load(struct store *s, uint64_t evpid, char *buf, size_t size)
{
	char	path[STORE_MSGDIR_LEN + 1 + STORE_EVPNAME_LEN];
	ssize_t	n;

	msgdir_name(evpid >> 32, path);
	path[STORE_MSGDIR_LEN - 1] = '/';
	evp_name(evpid, path + STORE_MSGDIR_LEN);
	if ((n = load_envelope(s->queue_fd, path, buf, size)) == -1) {
		log_open_failure("envelope load", evpid);
		return 0;
	}
	return (size_t)n;
}

int
store_envelope_update(struct store *s, uint64_t evpid, const char *evp,
    size_t len)
{
	char		name[STORE_EVPNAME_LEN];
	struct stat	sb;
	int		dfd, r = -1;

	ahead_stale(s);
	if (!evp_size_ok("envelope update", evpid, len))
		return 0;
	if ((dfd = open_queued(s, evpid >> 32)) == -1) {
		log_open_failure("envelope update", evpid);
		return 0;
	}
	/* an update must not bring a deleted envelope back */
	evp_name(evpid, name);
	if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) == -1 ||
	    !S_ISREG(sb.st_mode)) {
		log_open_failure("envelope update", evpid);
		close(dfd);
		return 0;
	}
	if (write_evp_tmp(s, evp, len) == 0) {
		if ((r = install_evp_tmp(s, dfd, name, 0)) == -1)
			unlinkat(s->incoming_fd, EVP_TMP, 0);
	}
	if (r == -1)
		log_warn("warn: queue-fs-proc: envelope update %016llx",
		    (unsigned long long)evpid);
	close(dfd);
	return r == 0;
}

/*
 * The walk reads one envelope ahead: right after answering a WALK, the
 * next one is read (store_after_answer), so the next WALK is answered at
 * once.  Only an ENVELOPE_UPDATE or a deletion can change what was read
 * ahead (everything created since start is skipped anyway); after one,
 * the envelope is read again, and skipped if it is gone.
 */
static void
read_ahead(struct store *s)
{
	if (s->ahead.buf == NULL && (s->ahead.buf = malloc(PQ_EVP_MAX)) ==
	    NULL)
		return;		/* the next WALK reads for itself */
	s->ahead.r = walk_next(s, &s->ahead.evpid, s->ahead.buf, PQ_EVP_MAX);
	s->ahead.ready = 1;
	s->ahead.stale = 0;
}

static int
take_ahead(struct store *s, uint64_t *evpid, char *buf, size_t size)
{
	size_t	n;

	s->ahead.ready = 0;
	if (s->ahead.r <= 0)
		return s->ahead.r;
	if (s->ahead.stale) {
		if ((n = store_envelope_load(s, s->ahead.evpid, buf, size)) == 0)
			return walk_next(s, evpid, buf, size);
		*evpid = s->ahead.evpid;
		return (int)n;
	}
	if ((size_t)s->ahead.r > size)
		return 0;
	memcpy(buf, s->ahead.buf, (size_t)s->ahead.r);
	*evpid = s->ahead.evpid;
	return s->ahead.r;
}

/* r > 0: an envelope of r bytes; 0: nothing this time; -1: walk over. */
int
store_envelope_walk(struct store *s, uint64_t *evpid, char *buf, size_t size)
{
	int	r;

	if (s->walk_done)
		return -1;
	if (s->ahead.ready)
		r = take_ahead(s, evpid, buf, size);
	else
		r = walk_next(s, evpid, buf, size);
	if (r == -1) {
		walk_free(s);
		idset_free(&s->fresh);
		free(s->ahead.buf);
		s->ahead.buf = NULL;
		s->walk_done = 1;
		return -1;
	}
	s->ahead.wanted = 1;
	return r;
}

/* Work left for after the answer, done before the next request is read. */
void
store_after_answer(struct store *s)
{
	if (s->unwritten.dfd != -1)
		write_unwritten(s);
	if (s->refill) {
		s->refill = 0;
		if (s->spare == 0)
			(void)make_spare(s);
	}
	if (s->ahead.wanted) {
		s->ahead.wanted = 0;
		read_ahead(s);
	}
}
