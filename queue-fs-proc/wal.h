/*
 * The write-ahead log of the durable mode (see DURABILITY in
 * queue-fs-proc(8)).
 *
 * Two files, fs-proc/log.0 and fs-proc/log.1 in the spool, each
 * WAL_FILE_SIZE bytes written with zeros when made, so that a record
 * written into them changes no metadata: its fdatasync() writes our own
 * bytes and flushes the disk cache, and waits for nobody else's data.
 *
 * A durable request appends one record (a head with a CRC-32C, then its
 * payload) and syncs it once; the spool layout is then changed without
 * a barrier.  When a file is full the log goes on in the other one and a
 * checkpoint makes the layout durable (syncfs(), in a child process so
 * that smtpd does not wait for it), after which the full file is marked
 * dead.  At start the live files are replayed in order, oldest first; a
 * record that is torn or fails its CRC ends a file.
 *
 * A live file begins with a WAL_START record that names the incoming/
 * directory the log was begun with.  smtpd's built-in queue makes a new
 * incoming/ at every start, so a log whose incoming/ is gone was left
 * before another queue served the spool: it is older than the spool and
 * never replayed (recover.c).
 */
#ifndef QFP_WAL_H
#define QFP_WAL_H

#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

#include "idset.h"

#define WAL_FILE_SIZE	(32 * 1024 * 1024)	/* each; the daemon's */
/* A record appended without a sync is synced within this (wal_flush()). */
#define WAL_FLUSH_MS	50

enum wal_type {
	WAL_DEAD = 1,		/* first record of a checkpointed file */
	WAL_COMMIT,		/* a message committed into queue/ */
	WAL_EVP_WRITE,		/* an envelope created or updated */
	WAL_EVP_DELETE,		/* an envelope deleted */
	WAL_MSG_DELETE,		/* a message deleted */
	WAL_START,		/* first record of a live file: struct wal_stamp */
};

/* The head of every record, followed by len bytes, padded to 8. */
struct wal_head {
	uint32_t	magic;
	uint32_t	crc;	/* CRC-32C of the rest of head and payload */
	uint64_t	gen;	/* run id << 32 | use count of the file */
	uint32_t	type;
	uint32_t	len;
};

/* Which incoming/ a log was begun with (a reused inode has another btime). */
struct wal_stamp {
	uint64_t	ino;
	int64_t		btime_sec;
	uint32_t	btime_nsec;
	uint32_t	has_btime;
};

/* What a log file holds (wal_file_state()). */
enum wal_state {
	WAL_EMPTY,		/* missing, dead, or nothing valid */
	WAL_LIVE,		/* records of this spool's incoming/ */
	WAL_STALE,		/* records of an incoming/ that is gone */
	WAL_LEGACY,		/* records of a version without WAL_START */
};

struct wal {
	off_t		 size;		/* of each file this run makes */
	off_t		 fsize[2];	/* of each file as found: replay's */
	size_t		 record_max;	/* head and payload */
	int		 dir_fd;	/* fs-proc/ */
	int		 sync_fd[3];	/* one per file system of the spool */
	int		 nsync;
	struct wal_stamp stamp;		/* of incoming/ now */
	int		 fd[2];		/* log.0, log.1 */
	int		 cur;		/* the file appended to */
	uint64_t	 gen;		/* of the current file */
	off_t		 off;		/* where the next record goes */
	int		 dirty;		/* records written, not yet synced */
	int		 ckpt_sock;	/* to the checkpointer; -1: inline */
	int		 ckpt_busy;	/* checkpoint of the other file runs */
	pid_t		 ckpt_pid;
	struct idset	 named[2];	/* msgids named by each file's records */
	char		*buf;		/* a record being built */
	size_t		 buflen, bufsize;
	int		 toobig;	/* it outgrew record_max */
};

/* Called by wal_replay() for each live record, oldest first. */
typedef int (*wal_apply_fn)(void *arg, uint32_t type, const char *payload,
    size_t len);

int	wal_open(struct wal *, int spool_fd, off_t size);
int	wal_file_state(struct wal *, int i, uint64_t *gen, off_t *first);
int	wal_replay(struct wal *, wal_apply_fn, void *arg);
int	wal_pending(int spool_fd, int *stale);
void	wal_retire(struct wal *);
int	wal_start(struct wal *);
int	wal_spawn_checkpointer(struct wal *, int (*enter)(void));
void	wal_close(struct wal *, int checkpoint);
int	wal_names(const struct wal *, uint32_t msgid);

/* Building and appending a record; durable: fdatasync before return. */
void	wal_begin(struct wal *, uint32_t type);
void	wal_add(struct wal *, const void *, size_t);
void	*wal_reserve(struct wal *, size_t);
void	*wal_payload(struct wal *);
size_t	wal_built(const struct wal *);
int	wal_append(struct wal *, uint32_t msgid, int durable);
int	wal_unsynced(const struct wal *);
void	wal_flush(struct wal *);

uint32_t wal_crc32c(uint32_t crc, const void *, size_t);

#endif
