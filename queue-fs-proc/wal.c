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
 *  - the checkpoint's syncfs(): every change made to the layout before
 *    it started is durable when it returns (file data, inodes,
 *    directories; on every file system), so the records of the full
 *    file are no longer needed and it is marked dead, with a record of
 *    its own, synced.
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

int
wal_open(struct wal *w, int spool_fd, off_t size)
{
	int	i;

	memset(w, 0, sizeof(*w));
	w->size = size;
	w->record_max = (size_t)size / 2;
	w->fd[0] = w->fd[1] = w->ckpt_sock = -1;
	if ((w->dir_fd = sio_open_dir(spool_fd, LAYOUT_WAL)) == -1) {
		log_warn("warn: queue-fs-proc: open %s/", LAYOUT_WAL);
		return -1;
	}
	for (i = 0; i < 2; i++) {
		w->fd[i] = sio_open_beneath(w->dir_fd, wal_name[i],
		    O_RDWR | O_CLOEXEC, 0);
		if (w->fd[i] == -1 && errno != ENOENT) {
			log_warn("warn: queue-fs-proc: open %s/%s", LAYOUT_WAL,
			    wal_name[i]);
			wal_close(w, 0);
			return -1;
		}
	}
	return 0;
}

/*
 * Read the record at off of file i into *payload (malloc'ed); 0 when
 * there is none (end, torn, bad CRC, another gen), 1 when there is.
 * gen 0 takes the record's own gen (the first record of a file).
 */
static int
wal_read_record(struct wal *w, int i, off_t off, uint64_t gen,
    struct wal_head *h, char **payload)
{
	*payload = NULL;
	if (off + (off_t)sizeof(*h) > w->size ||
	    wal_pread_all(w->fd[i], h, sizeof(*h), off) == -1 ||
	    h->magic != WAL_MAGIC || (gen != 0 && h->gen != gen) ||
	    h->len > w->record_max ||
	    off + (off_t)sizeof(*h) + (off_t)h->len > w->size)
		return 0;
	if ((*payload = malloc(h->len + 1)) == NULL) {
		log_warn("warn: queue-fs-proc: replay");
		return -1;
	}
	if (wal_pread_all(w->fd[i], *payload, h->len,
	    off + (off_t)sizeof(*h)) == -1 || wal_head_crc(h, *payload) !=
	    h->crc) {
		free(*payload);
		*payload = NULL;
		return 0;
	}
	return 1;
}

/* The gen of a live file i, or 0 if it is dead, empty or missing. */
static uint64_t
wal_live_gen(struct wal *w, int i)
{
	struct wal_head	 h;
	char		*p;
	int		 r;

	if (w->fd[i] == -1 || (r = wal_read_record(w, i, 0, 0, &h, &p)) != 1)
		return 0;
	free(p);
	return h.type == WAL_DEAD ? 0 : h.gen;
}

static int
wal_replay_file(struct wal *w, int i, uint64_t gen, wal_apply_fn apply,
    void *arg)
{
	struct wal_head	 h;
	off_t		 off = 0;
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
 * How many log files under spool_fd hold live records (0, 1 or 2), for
 * the spool check; -1 if there is no log.  Reads only.
 */
int
wal_pending(int spool_fd)
{
	struct wal	w;
	struct stat	sb;
	int		i, n = 0;

	if (wal_open(&w, spool_fd, 0) == -1)
		return -1;
	for (i = 0; i < 2; i++)
		if (w.fd[i] != -1 && fstat(w.fd[i], &sb) == 0) {
			w.size = sb.st_size;
			w.record_max = (size_t)sb.st_size / 2;
			n += wal_live_gen(&w, i) != 0;
		}
	wal_close(&w, 0);
	return n;
}

/* The size of the existing log files, 0 if there are none. */
off_t
wal_existing_size(int spool_fd)
{
	struct stat	sb;
	int		dfd, r;

	if ((dfd = sio_open_dir(spool_fd, LAYOUT_WAL)) == -1)
		return 0;
	r = fstatat(dfd, wal_name[0], &sb, AT_SYMLINK_NOFOLLOW);
	close(dfd);
	return r == 0 && S_ISREG(sb.st_mode) ? sb.st_size : 0;
}

/* Apply the records of the live files, the older file first. */
int
wal_replay(struct wal *w, wal_apply_fn apply, void *arg)
{
	uint64_t	gen[2];
	int		first, i;

	gen[0] = wal_live_gen(w, 0);
	gen[1] = wal_live_gen(w, 1);
	/* both live: same run (start kills both), compare use counts */
	first = gen[1] != 0 && (gen[0] == 0 ||
	    (uint32_t)gen[1] < (uint32_t)gen[0]);
	for (i = 0; i < 2; i++) {
		int	k = first ^ i;

		if (gen[k] != 0 && wal_replay_file(w, k, gen[k], apply,
		    arg) == -1)
			return -1;
	}
	return 0;
}

/* Mark file i dead: its records are all in the durable layout. */
static int
wal_kill(struct wal *w, int i)
{
	struct wal_head	h;

	memset(&h, 0, sizeof(h));
	h.magic = WAL_MAGIC;
	h.type = WAL_DEAD;
	h.crc = wal_head_crc(&h, NULL);
	if (wal_pwrite_all(w->fd[i], &h, sizeof(h), 0) == -1 ||
	    fdatasync(w->fd[i]) == -1) {
		log_warn("warn: queue-fs-proc: marking %s/%s checkpointed",
		    LAYOUT_WAL, wal_name[i]);
		return -1;
	}
	return 0;
}

/* Make the layout durable, then drop file i. */
static int
wal_checkpoint(struct wal *w, int i)
{
	if (syncfs(w->dir_fd) == -1) {
		log_warn("warn: queue-fs-proc: checkpoint: syncfs");
		return -1;
	}
	return wal_kill(w, i);
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
	if (fsync(fd) == -1 || renameat(w->dir_fd, tmp, w->dir_fd,
	    wal_name[i]) == -1 || fsync(w->dir_fd) == -1)
		goto fail_fd;
	if (w->fd[i] != -1)
		close(w->fd[i]);
	w->fd[i] = fd;
	return 0;

fail_fd:
	close(fd);
	(void)unlinkat(w->dir_fd, tmp, 0);
fail:
	log_warn("warn: queue-fs-proc: making %s/%s", LAYOUT_WAL, wal_name[i]);
	return -1;
}

/*
 * After the replay: make the layout durable, make sure both files are
 * there in full, mark both dead and begin a new run's log in log.0.
 */
int
wal_start(struct wal *w)
{
	struct stat	sb;
	int		i;

	if (syncfs(w->dir_fd) == -1) {
		log_warn("warn: queue-fs-proc: syncfs after replay");
		return -1;
	}
	for (i = 0; i < 2; i++) {
		if (w->fd[i] != -1 && fstat(w->fd[i], &sb) == -1)
			return -1;
		if ((w->fd[i] == -1 || !S_ISREG(sb.st_mode) ||
		    sb.st_size != w->size || sb.st_blocks * 512 < w->size) &&
		    wal_make_file(w, i) == -1)
			return -1;
		if (wal_kill(w, i) == -1)
			return -1;
	}
	w->gen = (uint64_t)arc4random() << 32 | 1;
	w->cur = 0;
	w->off = 0;
	return 0;
}

/* The checkpointer: one request (a file index) at a time, until EOF. */
static void __attribute__((noreturn))
wal_checkpointer(struct wal *w)
{
	unsigned char	i, r;

	for (;;) {
		if (read(w->ckpt_sock, &i, 1) != 1 || i > 1)
			_exit(0);
		r = wal_checkpoint(w, i) == 0;
		if (write(w->ckpt_sock, &r, 1) != 1)
			_exit(0);
	}
}

/*
 * Fork the checkpointer (before the sandbox: it forbids fork).  In the
 * child, enter() (the sandbox) then serve checkpoints; never returns.
 * -1: no child, checkpoints run inline.
 */
int
wal_spawn_checkpointer(struct wal *w, int (*enter)(void))
{
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
		if (getppid() == 1 || enter() == -1)
			_exit(1);
		wal_checkpointer(w);
	}
	close(sv[1]);
	w->ckpt_sock = sv[0];
	return 0;
}

/* Wait for the running checkpoint; 0 if it succeeded. */
static int
wal_ckpt_wait(struct wal *w)
{
	unsigned char	r;
	ssize_t		n;

	w->ckpt_busy = 0;
	while ((n = read(w->ckpt_sock, &r, 1)) == -1 && errno == EINTR)
		;
	if (n == 1)
		return r == 1 ? 0 : -1;
	log_warnx("warn: queue-fs-proc: the checkpointer is gone, "
	    "checkpointing inline from now on");
	close(w->ckpt_sock);
	w->ckpt_sock = -1;
	return -1;
}

static int
wal_ckpt_request(struct wal *w, int i)
{
	unsigned char	c = (unsigned char)i;

	if (w->ckpt_sock != -1 && write(w->ckpt_sock, &c, 1) == 1) {
		w->ckpt_busy = 1;
		return 0;
	}
	return wal_checkpoint(w, i);
}

/*
 * Go on in the other file.  It must be dead first: if its checkpoint
 * still runs, wait for it (the log is full: smtpd waits too); if that
 * failed, checkpoint it here.  The full file gets its checkpoint.
 */
static int
wal_free_other(struct wal *w)
{
	if (w->ckpt_busy && wal_ckpt_wait(w) == 0)
		w->other_live = 0;
	if (w->other_live && wal_checkpoint(w, w->cur ^ 1) == -1)
		return -1;
	w->other_live = 0;
	return 0;
}

static int
wal_switch(struct wal *w)
{
	if (wal_free_other(w) == -1)
		return -1;
	if (w->dirty && fdatasync(w->fd[w->cur]) == -1)
		return -1;
	w->dirty = 0;
	w->other_live = 1;
	if (wal_ckpt_request(w, w->cur) == 0 && !w->ckpt_busy)
		w->other_live = 0;
	w->cur ^= 1;
	w->off = 0;
	w->gen++;
	return 0;
}

/*
 * After a failed write or sync the file's pages are in doubt: a record
 * we acknowledge later must not sit behind them.  Checkpoint
 * everything, kill both files and begin again at the start of one.
 */
static int
wal_recover(struct wal *w)
{
	if (wal_free_other(w) == -1 || wal_checkpoint(w, w->cur) == -1)
		return -1;
	log_info("info: queue-fs-proc: log checkpointed after an error, "
	    "going on");
	w->broken = 0;
	w->dirty = 0;
	w->off = 0;
	w->gen++;
	return 0;
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
 * Append the record built since wal_begin().  durable: it and every
 * record before it are on stable storage on return.  Otherwise the
 * next durable record (or wal_close()) takes it along.
 */
int
wal_append(struct wal *w, int durable)
{
	struct wal_head	*h;
	size_t		 len;

	if (w->toobig) {
		errno = EFBIG;
		return -1;
	}
	if (w->broken && wal_recover(w) == -1)
		return -1;
	len = wal_padded(w->buflen);
	memset(w->buf + w->buflen, 0, len - w->buflen);
	if (w->off + (off_t)len > w->size && wal_switch(w) == -1)
		return -1;
	h = (struct wal_head *)w->buf;
	h->magic = WAL_MAGIC;
	h->gen = w->gen;
	h->len = (uint32_t)wal_built(w);
	h->crc = wal_head_crc(h, w->buf + sizeof(*h));
	w->dirty = 1;
	if (wal_pwrite_all(w->fd[w->cur], w->buf, len, w->off) == -1 ||
	    (durable && fdatasync(w->fd[w->cur]) == -1)) {
		w->broken = 1;
		return -1;
	}
	w->off += (off_t)len;
	if (durable)
		w->dirty = 0;
	return 0;
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

	if (checkpoint && w->gen != 0 && (syncfs(w->dir_fd) == -1 ||
	    wal_kill(w, 0) == -1 || wal_kill(w, 1) == -1))
		log_warnx("warn: queue-fs-proc: the log could not be "
		    "checkpointed at exit: it is replayed at the next start");
	for (i = 0; i < 2; i++)
		if (w->fd[i] != -1)
			close(w->fd[i]);
	if (w->ckpt_sock != -1)
		close(w->ckpt_sock);
	if (w->dir_fd != -1)
		close(w->dir_fd);
	free(w->buf);
	memset(w, 0, sizeof(*w));
	w->fd[0] = w->fd[1] = w->dir_fd = w->ckpt_sock = -1;
}
