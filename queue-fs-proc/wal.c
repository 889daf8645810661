/*
 * The write-ahead log: see wal.h.
 *
 * What each barrier relies on:
 *  - the fdatasync() of a record: the log files are written in full
 *    with zeros (and synced) before use, so a record overwrites
 *    allocated, written blocks and changes no metadata that fdatasync
 *    must write (the mtime is not needed to read it back).  On ext4
 *    and xfs that is a write of our blocks and a cache flush, however
 *    much dirty data other programs have; on any file system it is
 *    enough for the record to be read back after a power failure.
 *  - a record ends at its CRC: a torn write or garbage fails it, and
 *    a record is acknowledged only after the fdatasync that covers it
 *    and every record before it, so nothing acknowledged lies past the
 *    first bad record.  Stale records of an earlier use of a file have
 *    another gen (its high half is random per run).
 *  - the checkpoint's syncfs(), of every file system that holds
 *    queue/, incoming/ or fs-proc/ (one of them may be a mount point of
 *    its own): every change made to the layout before it started is
 *    durable when it returns (file data, inodes, directories; on every
 *    file system), so the records of the full file are no longer needed
 *    and it is marked dead, with a record of its own, synced.
 *  - a barrier that fails stops the process (sio_barrier()): nothing is
 *    marked dead and nothing answered after it; the next start replays.
 */
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "idset.h"
#include "layout.h"
#include "log.h"
#include "safeio.h"
#include "wal.h"

#define WAL_MAGIC	0x4c504651	/* "QFPL" */
#define WAL_ALIGN	8
#define WAL_FILL_CHUNK	(1024 * 1024)

static const char *const wal_name[2] = { "log.0", "log.1" };

/* CRC-32C (Castagnoli), reflected, table-driven. */
uint32_t
wal_crc32c(uint32_t crc, const void *data, size_t len)
{
	static uint32_t		 table[256];
	const unsigned char	*p = data;
	uint32_t		 c;
	int			 i, j;

	if (table[1] == 0)
		for (i = 0; i < 256; i++) {
			for (c = (uint32_t)i, j = 0; j < 8; j++)
				c = c & 1 ? (c >> 1) ^ 0x82f63b78 : c >> 1;
			table[i] = c;
		}
	crc = ~crc;
	while (len--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static uint32_t
wal_head_crc(const struct wal_head *h, const char *payload)
{
	size_t	skip = offsetof(struct wal_head, gen);

	return wal_crc32c(wal_crc32c(0, (const char *)h + skip,
	    sizeof(*h) - skip), payload, h->len);
}

static size_t
wal_padded(size_t len)
{
	return (len + WAL_ALIGN - 1) & ~(size_t)(WAL_ALIGN - 1);
}

static int
wal_pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	const char	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		if ((n = pwrite(fd, p, len, off)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
wal_pread_all(int fd, void *buf, size_t len, off_t off)
{
	ssize_t	n;

	while (len > 0) {
		if ((n = pread(fd, buf, len, off)) <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			if (n == 0)
				errno = EIO;
			return -1;
		}
		buf = (char *)buf + n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The identity of incoming/ (see wal.h): its inode and birth time. */
static int
wal_stamp_of(int dfd, struct wal_stamp *st)
{
	struct statx	sx;

	memset(st, 0, sizeof(*st));
	if (statx(dfd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW,
	    STATX_INO | STATX_BTIME, &sx) == -1)
		return -1;
	st->ino = sx.stx_ino;
	if (sx.stx_mask & STATX_BTIME) {
		st->has_btime = 1;
		st->btime_sec = sx.stx_btime.tv_sec;
		st->btime_nsec = sx.stx_btime.tv_nsec;
	}
	return 0;
}

/*
 * Keep fd for the checkpoint's syncfs() if its file system is not one
 * of those kept already; else close it.
 */
static int
wal_add_sync_fd(struct wal *w, int fd, dev_t *devs)
{
	struct stat	sb;
	int		i;

	if (fstat(fd, &sb) == -1) {
		close(fd);
		return -1;
	}
	for (i = 0; i < w->nsync; i++)
		if (devs[i] == sb.st_dev) {
			close(fd);
			return 0;
		}
	devs[w->nsync] = sb.st_dev;
	w->sync_fd[w->nsync++] = fd;
	return 0;
}

/*
 * The file systems the checkpoint syncs: queue/'s first (the layout),
 * then incoming/'s and fs-proc/'s where they differ; and the stamp of
 * incoming/.
 */
static int
wal_open_layout(struct wal *w, int spool_fd)
{
	static const char *const dirs[] = { LAYOUT_QUEUE, LAYOUT_INCOMING,
	    LAYOUT_WAL };
	dev_t	devs[3];
	size_t	i;
	int	fd;

	for (i = 0; i < 3; i++) {
		if ((fd = sio_open_dir(spool_fd, dirs[i])) == -1) {
			log_warn("warn: queue-fs-proc: open %s/", dirs[i]);
			return -1;
		}
		if (i == 1 && wal_stamp_of(fd, &w->stamp) == -1) {
			log_warn("warn: queue-fs-proc: statx %s/", dirs[i]);
			close(fd);
			return -1;
		}
		if (wal_add_sync_fd(w, fd, devs) == -1)
			return -1;
	}
	return 0;
}

/*
 * Open the log under spool_fd; size: of the files this run will make.
 * -1 with errno ENOENT when there is no fs-proc/ (no log: the layout
 * syncs itself), with another errno when the log cannot be opened: it
 * may hold acknowledged mail, so that must stop a start.
 */
int
wal_open(struct wal *w, int spool_fd, off_t size)
{
	struct stat	sb;
	int		i, saved;

	memset(w, 0, sizeof(*w));
	w->size = size;
	w->record_max = (size_t)size / 2;
	w->fd[0] = w->fd[1] = w->ckpt_sock = -1;
	if ((w->dir_fd = sio_open_dir(spool_fd, LAYOUT_WAL)) == -1) {
		if (errno != ENOENT)
			log_warn("warn: queue-fs-proc: open %s/", LAYOUT_WAL);
		return -1;
	}
	if (wal_open_layout(w, spool_fd) == -1)
		goto fail;
	for (i = 0; i < 2; i++) {
		w->fd[i] = sio_open_beneath(w->dir_fd, wal_name[i],
		    O_RDWR | O_CLOEXEC, 0);
		if (w->fd[i] == -1 && errno == ENOENT)
			continue;
		if (w->fd[i] == -1 || fstat(w->fd[i], &sb) == -1) {
			log_warn("warn: queue-fs-proc: open %s/%s", LAYOUT_WAL,
			    wal_name[i]);
			goto fail;
		}
		w->fsize[i] = sb.st_size;
	}
	return 0;

fail:
	saved = errno;
	wal_close(w, 0);
	errno = saved == ENOENT ? EIO : saved;
	return -1;
}

/*
 * Read the record at off of file i into *payload (malloc'ed); 0 when
 * there is none (end, torn, bad CRC, another gen), 1 when there is, -1
 * when the file cannot be read: never taken for its end, since what
 * lies past an I/O error may be acknowledged mail.  gen 0 takes the
 * record's own gen (the first record of a file).  Each file is read
 * with its own size, whatever -L says now.
 */
static int
wal_read_record(struct wal *w, int i, off_t off, uint64_t gen,
    struct wal_head *h, char **payload)
{
	off_t	size = w->fsize[i];

	*payload = NULL;
	if (off + (off_t)sizeof(*h) > size)
		return 0;
	if (wal_pread_all(w->fd[i], h, sizeof(*h), off) == -1)
		goto fail;
	if (h->magic != WAL_MAGIC || (gen != 0 && h->gen != gen) ||
	    h->len > (size_t)size / 2 ||
	    off + (off_t)sizeof(*h) + (off_t)h->len > size)
		return 0;
	if ((*payload = malloc(h->len + 1)) == NULL) {
		log_warn("warn: queue-fs-proc: replay");
		return -1;
	}
	if (wal_pread_all(w->fd[i], *payload, h->len,
	    off + (off_t)sizeof(*h)) == -1) {
		free(*payload);
		*payload = NULL;
		goto fail;
	}
	if (wal_head_crc(h, *payload) == h->crc)
		return 1;
	free(*payload);
	*payload = NULL;
	return 0;

fail:
	log_warn("warn: queue-fs-proc: reading %s/%s at %lld", LAYOUT_WAL,
	    wal_name[i], (long long)off);
	return -1;
}

static int
wal_stamp_equal(const struct wal_stamp *a, const struct wal_stamp *b)
{
	return a->ino == b->ino && a->has_btime == b->has_btime &&
	    a->btime_sec == b->btime_sec && a->btime_nsec == b->btime_nsec;
}

/*
 * What file i holds (enum wal_state), -1 if it cannot be read.  For a
 * live file, *gen and *first: the gen of its records and the offset of
 * the first one to replay.
 */
int
wal_file_state(struct wal *w, int i, uint64_t *gen, off_t *first)
{
	struct wal_head	 h;
	struct wal_stamp st;
	char		*p;
	int		 r, state;

	*gen = 0;
	*first = 0;
	if (w->fd[i] == -1)
		return WAL_EMPTY;
	if ((r = wal_read_record(w, i, 0, 0, &h, &p)) != 1)
		return r == 0 ? WAL_EMPTY : -1;
	if (h.type == WAL_DEAD)
		state = WAL_EMPTY;
	else if (h.type != WAL_START)
		state = WAL_LEGACY;
	else if (h.len != sizeof(st))
		state = WAL_EMPTY;
	else {
		memcpy(&st, p, sizeof(st));
		state = wal_stamp_equal(&st, &w->stamp) ? WAL_LIVE : WAL_STALE;
		*first = (off_t)(sizeof(h) + wal_padded(h.len));
	}
	free(p);
	if (state != WAL_EMPTY)
		*gen = h.gen;
	return state;
}

static int
wal_replay_file(struct wal *w, int i, uint64_t gen, off_t off,
    wal_apply_fn apply, void *arg)
{
	struct wal_head	 h;
	char		*p;
	int		 r, n = 0;

	while ((r = wal_read_record(w, i, off, gen, &h, &p)) == 1) {
		r = apply(arg, h.type, p, h.len);
		free(p);
		if (r == -1)
			return -1;
		off += (off_t)(sizeof(h) + wal_padded(h.len));
		n++;
	}
	if (r == -1)
		return -1;
	log_info("info: queue-fs-proc: replayed %d records of %s/%s",
	    n, LAYOUT_WAL, wal_name[i]);
	return 0;
}

/*
 * A log begun on an incoming/ that is gone: another queue started on
 * the spool since (smtpd's built-in queue makes a new incoming/ at every
 * start) and has served, delivered and updated what these records
 * describe.  Applying them would bring delivered mail back and roll
 * updates back, so they are not; the file is kept, not destroyed.
 */
static int
wal_set_aside(struct wal *w, int i)
{
	char	stale[32];

	snprintf(stale, sizeof(stale), "%s.stale", wal_name[i]);
	log_warnx("warn: queue-fs-proc: %s/%s was begun before another "
	    "queue served the spool (incoming/ is not the same): its "
	    "records are not replayed; kept as %s/%s", LAYOUT_WAL,
	    wal_name[i], LAYOUT_WAL, stale);
	if (renameat(w->dir_fd, wal_name[i], w->dir_fd, stale) == -1) {
		log_warn("warn: queue-fs-proc: rename %s/%s", LAYOUT_WAL,
		    wal_name[i]);
		return -1;
	}
	close(w->fd[i]);
	w->fd[i] = -1;
	w->fsize[i] = 0;
	return 0;
}

/*
 * Apply the records of the live files, the older file first; set stale
 * files aside.  -1 if a file cannot be read or a record not applied.
 */
int
wal_replay(struct wal *w, wal_apply_fn apply, void *arg)
{
	uint64_t	gen[2];
	off_t		first[2];
	int		state[2], order, i, k;

	for (i = 0; i < 2; i++) {
		if ((state[i] = wal_file_state(w, i, &gen[i],
		    &first[i])) == -1)
			return -1;
		if (state[i] == WAL_STALE && wal_set_aside(w, i) == -1)
			return -1;
		if (state[i] == WAL_LEGACY)
			log_info("info: queue-fs-proc: %s/%s was written by "
			    "an earlier version: replaying it", LAYOUT_WAL,
			    wal_name[i]);
		if (state[i] == WAL_STALE)
			gen[i] = 0;
	}
	/* both live: same run (start kills both), compare use counts */
	order = gen[1] != 0 && (gen[0] == 0 ||
	    (uint32_t)gen[1] < (uint32_t)gen[0]);
	for (i = 0; i < 2; i++) {
		k = order ^ i;
		if (gen[k] != 0 && wal_replay_file(w, k, gen[k], first[k],
		    apply, arg) == -1)
			return -1;
	}
	return 0;
}

/*
 * How many log files under spool_fd hold live records (0, 1 or 2), for
 * the spool check; *stale: how many are stale.  -1 if there is no log
 * (errno ENOENT) or it cannot be read.  Reads only.
 */
int
wal_pending(int spool_fd, int *stale)
{
	struct wal	w;
	uint64_t	gen;
	off_t		first;
	int		i, st, n = 0;

	*stale = 0;
	if (wal_open(&w, spool_fd, 0) == -1)
		return -1;
	for (i = 0; i < 2 && n != -1; i++) {
		if ((st = wal_file_state(&w, i, &gen, &first)) == -1)
			n = -1;
		else if (st == WAL_STALE)
			(*stale)++;
		else if (st != WAL_EMPTY)
			n++;
	}
	wal_close(&w, 0);
	if (n == -1)
		errno = EIO;
	return n;
}

/* Mark file i dead: its records are all in the durable layout. */
static void
wal_kill(struct wal *w, int i)
{
	struct wal_head	h;

	memset(&h, 0, sizeof(h));
	h.magic = WAL_MAGIC;
	h.type = WAL_DEAD;
	h.crc = wal_head_crc(&h, NULL);
	if (wal_pwrite_all(w->fd[i], &h, sizeof(h), 0) == -1)
		fatal("fatal: queue-fs-proc: marking %s/%s checkpointed",
		    LAYOUT_WAL, wal_name[i]);
	sio_barrier(w->fd[i], SIO_FDATASYNC, "the log");
}

/* Make every change made to the layout so far durable. */
static void
wal_sync_layout(struct wal *w)
{
	int	i;

	for (i = 0; i < w->nsync; i++)
		sio_barrier(w->sync_fd[i], SIO_SYNCFS, "the spool");
}

/* Make the layout durable, then drop file i. */
static void
wal_checkpoint(struct wal *w, int i)
{
	wal_sync_layout(w);
	wal_kill(w, i);
}

/*
 * After the replay: make the layout durable and mark every file that
 * holds records dead.  The log is retired: whatever starts next, this
 * queue or another, needs no replay.  With nothing to retire (a clean
 * stop, a fresh spool), no barrier: -S none starts without one.
 */
void
wal_retire(struct wal *w)
{
	uint64_t	gen;
	off_t		first;
	int		i, live[2];

	for (i = 0; i < 2; i++)
		live[i] = wal_file_state(w, i, &gen, &first) > WAL_EMPTY;
	if (!live[0] && !live[1])
		return;
	wal_sync_layout(w);
	for (i = 0; i < 2; i++)
		if (live[i])
			wal_kill(w, i);
}

/* Make log file i: w->size bytes of written zeros, synced. */
static int
wal_make_file(struct wal *w, int i)
{
	char		 tmp[16];
	static char	 zero[WAL_FILL_CHUNK];
	off_t		 off;
	int		 fd;

	snprintf(tmp, sizeof(tmp), "%s.new", wal_name[i]);
	(void)unlinkat(w->dir_fd, tmp, 0);
	if ((fd = sio_create(w->dir_fd, tmp, 1)) == -1)
		goto fail;
	for (off = 0; off < w->size; off += WAL_FILL_CHUNK)
		if (wal_pwrite_all(fd, zero, (size_t)(w->size - off <
		    WAL_FILL_CHUNK ? w->size - off : WAL_FILL_CHUNK),
		    off) == -1)
			goto fail_fd;
	sio_barrier(fd, SIO_FSYNC, "a new log file");
	if (renameat(w->dir_fd, tmp, w->dir_fd, wal_name[i]) == -1)
		goto fail_fd;
	sio_barrier(w->dir_fd, SIO_FSYNC, "fs-proc/");
	if (w->fd[i] != -1)
		close(w->fd[i]);
	w->fd[i] = fd;
	w->fsize[i] = w->size;
	return 0;

fail_fd:
	close(fd);
	(void)unlinkat(w->dir_fd, tmp, 0);
fail:
	log_warn("warn: queue-fs-proc: making %s/%s", LAYOUT_WAL, wal_name[i]);
	return -1;
}

/*
 * The first record of a file in use: the stamp of incoming/.  Not
 * synced: the file's next durable record takes it along.
 */
static void
wal_write_start(struct wal *w)
{
	struct {
		struct wal_head		h;
		struct wal_stamp	st;
	} rec;

	memset(&rec, 0, sizeof(rec));
	rec.h.magic = WAL_MAGIC;
	rec.h.gen = w->gen;
	rec.h.type = WAL_START;
	rec.h.len = sizeof(rec.st);
	rec.st = w->stamp;
	rec.h.crc = wal_head_crc(&rec.h, (const char *)&rec.st);
	if (wal_pwrite_all(w->fd[w->cur], &rec, sizeof(rec), w->off) == -1)
		fatal("fatal: queue-fs-proc: writing %s/%s", LAYOUT_WAL,
		    wal_name[w->cur]);
	w->off += (off_t)sizeof(rec);
	w->dirty = 1;
}

/*
 * After wal_retire(): make sure both files are there in full and begin
 * a new run's log in log.0.  -1 if the files cannot be made: the log is
 * retired already, the layout syncs itself from now on.
 */
int
wal_start(struct wal *w)
{
	struct stat	sb;
	int		i;

	for (i = 0; i < 2; i++) {
		if (w->fd[i] != -1 && fstat(w->fd[i], &sb) == -1)
			return -1;
		if ((w->fd[i] == -1 || !S_ISREG(sb.st_mode) ||
		    sb.st_size != w->size || sb.st_blocks * 512 < w->size) &&
		    wal_make_file(w, i) == -1)
			return -1;
	}
	w->gen = (uint64_t)arc4random() << 32 | 1;
	w->cur = 0;
	w->off = 0;
	wal_write_start(w);
	return 0;
}

/*
 * The checkpointer: one request (a file index) at a time, until EOF.
 * A failed barrier ends it (sio_barrier()), and so the helper.
 */
static void __attribute__((noreturn))
wal_checkpointer(struct wal *w)
{
	unsigned char	i, r = 1;

	for (;;) {
		if (read(w->ckpt_sock, &i, 1) != 1 || i > 1)
			_exit(0);
		wal_checkpoint(w, i);
		if (write(w->ckpt_sock, &r, 1) != 1)
			_exit(0);
	}
}

/*
 * Fork the checkpointer (before the sandbox: it forbids fork).  In the
 * child, enter() (the sandbox) then serve checkpoints; never returns.
 * -1: no child, checkpoints run inline.  The child keeps the spool's
 * lock (recover.c) as long as it lives: its fd is inherited.
 */
int
wal_spawn_checkpointer(struct wal *w, int (*enter)(void))
{
	pid_t	parent = getpid();
	int	sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("warn: queue-fs-proc: checkpointer socketpair");
		return -1;
	}
	switch (w->ckpt_pid = fork()) {
	case -1:
		log_warn("warn: queue-fs-proc: checkpointer fork");
		close(sv[0]);
		close(sv[1]);
		return -1;
	case 0:
		close(sv[0]);
		close(STDIN_FILENO);	/* smtpd's socket is the parent's */
		w->ckpt_sock = sv[1];
		(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
		setproctitle("log checkpointer");
		/* the parent died before prctl(): reparented, maybe not to
		 * init, and holding the spool's lock for nobody */
		if (getppid() != parent || enter() == -1)
			_exit(1);
		wal_checkpointer(w);
	}
	close(sv[1]);
	w->ckpt_sock = sv[0];
	return 0;
}

/*
 * Wait for the running checkpoint.  A checkpointer that is gone may
 * have died of a failed syncfs(), whose error it took with it (the
 * kernel reports it once per open file, and the fds are shared): a
 * checkpoint here would "succeed" over lost data, so stop instead.
 */
static void
wal_ckpt_wait(struct wal *w)
{
	unsigned char	r;
	ssize_t		n;

	w->ckpt_busy = 0;
	while ((n = read(w->ckpt_sock, &r, 1)) == -1 && errno == EINTR)
		;
	if (n != 1 || r != 1)
		fatalx("fatal: queue-fs-proc: the log checkpointer is gone: "
		    "stopping, the next start replays the log");
}

/* Checkpoint file i, in the checkpointer if there is one. */
static void
wal_ckpt_request(struct wal *w, int i)
{
	unsigned char	c = (unsigned char)i;

	if (w->ckpt_sock != -1 && write(w->ckpt_sock, &c, 1) == 1)
		w->ckpt_busy = 1;
	else
		wal_checkpoint(w, i);
}

/*
 * Go on in the other file.  It must be dead first: if its checkpoint
 * still runs, wait for it (the log is full: smtpd waits too).  The full
 * file gets its checkpoint.  Msgids that only the other file's records
 * named may be handed out again (wal_names()).
 */
static void
wal_switch(struct wal *w)
{
	if (w->ckpt_busy)
		wal_ckpt_wait(w);
	wal_flush(w);
	wal_ckpt_request(w, w->cur);
	w->cur ^= 1;
	w->off = 0;
	w->gen++;
	idset_free(&w->named[w->cur]);
	wal_write_start(w);
}

/* Does a record of a live file name msgid?  Then it is not reused. */
int
wal_names(const struct wal *w, uint32_t msgid)
{
	return idset_has(&w->named[0], msgid) ||
	    idset_has(&w->named[1], msgid);
}

void
wal_begin(struct wal *w, uint32_t type)
{
	struct wal_head	h;

	memset(&h, 0, sizeof(h));
	h.type = type;
	w->buflen = 0;
	w->toobig = 0;
	wal_add(w, &h, sizeof(h));
}

/* Room for len more bytes of payload, or NULL (too big, no memory). */
void *
wal_reserve(struct wal *w, size_t len)
{
	size_t	 need, size;
	char	*p;

	if (w->toobig || len > w->record_max - w->buflen) {
		w->toobig = 1;
		return NULL;
	}
	need = wal_padded(w->buflen + len);
	if (need > w->bufsize) {
		for (size = w->bufsize ? w->bufsize : 65536; size < need;)
			size *= 2;
		if ((p = realloc(w->buf, size)) == NULL) {
			w->toobig = 1;
			return NULL;
		}
		w->buf = p;
		w->bufsize = size;
	}
	p = w->buf + w->buflen;
	w->buflen += len;
	return p;
}

void
wal_add(struct wal *w, const void *data, size_t len)
{
	void	*p;

	if ((p = wal_reserve(w, len)) != NULL)
		memcpy(p, data, len);
}

/* The payload built so far, to patch in place. */
void *
wal_payload(struct wal *w)
{
	return w->buf + sizeof(struct wal_head);
}

/* The payload bytes built so far. */
size_t
wal_built(const struct wal *w)
{
	return w->buflen - sizeof(struct wal_head);
}

/*
 * Append the record built since wal_begin(), a record of msgid.
 * durable: it and every record before it are on stable storage on
 * return.  Otherwise the next durable record (or wal_close()) takes it
 * along.  -1 only when the record outgrew the log (EFBIG): a failed
 * write or sync stops the process, since the file's pages are in doubt
 * and a record acknowledged later must not sit behind them.
 */
int
wal_append(struct wal *w, uint32_t msgid, int durable)
{
	struct wal_head	*h;
	size_t		 len;

	if (w->toobig) {
		errno = EFBIG;
		return -1;
	}
	len = wal_padded(w->buflen);
	memset(w->buf + w->buflen, 0, len - w->buflen);
	if (w->off + (off_t)len > w->size)
		wal_switch(w);
	/* out of memory: smtpd would be, too; never reuse such a msgid */
	if (idset_add(&w->named[w->cur], msgid) == -1)
		fatal("fatal: queue-fs-proc: the log's msgid set");
	h = (struct wal_head *)w->buf;
	h->magic = WAL_MAGIC;
	h->gen = w->gen;
	h->len = (uint32_t)wal_built(w);
	h->crc = wal_head_crc(h, w->buf + sizeof(*h));
	w->dirty = 1;
	if (wal_pwrite_all(w->fd[w->cur], w->buf, len, w->off) == -1)
		fatal("fatal: queue-fs-proc: writing %s/%s", LAYOUT_WAL,
		    wal_name[w->cur]);
	w->off += (off_t)len;
	if (durable)
		wal_flush(w);
	return 0;
}

/* Records written and not yet synced? */
int
wal_unsynced(const struct wal *w)
{
	return w->dirty;
}

/*
 * Sync what was appended and not yet synced: a durable record at once,
 * the current file before the log goes on in the other, and updates and
 * deletions from the main loop, at most WAL_FLUSH_MS after such a
 * record when no durable record has taken them along meanwhile.
 */
void
wal_flush(struct wal *w)
{
	if (!w->dirty)
		return;
	sio_barrier(w->fd[w->cur], SIO_FDATASYNC, "the log");
	w->dirty = 0;
}

/*
 * At a clean exit (checkpoint set), the layout is made durable and both
 * files dead: the spool needs no replay, whichever queue serves it next.
 * Otherwise (a failed start, or a test's crash) the log stays as it is.
 */
void
wal_close(struct wal *w, int checkpoint)
{
	int	i;

	if (checkpoint && w->gen != 0) {
		if (w->ckpt_busy)
			wal_ckpt_wait(w);
		wal_sync_layout(w);
		wal_kill(w, 0);
		wal_kill(w, 1);
	}
	for (i = 0; i < 2; i++) {
		if (w->fd[i] != -1)
			close(w->fd[i]);
		idset_free(&w->named[i]);
	}
	for (i = 0; i < w->nsync; i++)
		close(w->sync_fd[i]);
	if (w->ckpt_sock != -1)
		close(w->ckpt_sock);
	if (w->dir_fd != -1)
		close(w->dir_fd);
	free(w->buf);
	memset(w, 0, sizeof(*w));
	w->fd[0] = w->fd[1] = w->dir_fd = w->ckpt_sock = -1;
}
