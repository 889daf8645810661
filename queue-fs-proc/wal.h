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
 */
#ifndef QFP_WAL_H
#define QFP_WAL_H

#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

#define WAL_FILE_SIZE	(32 * 1024 * 1024)	/* each; the daemon's */

enum wal_type {
	WAL_DEAD = 1,		/* first record of a checkpointed file */
	WAL_COMMIT,		/* a message committed into queue/ */
	WAL_EVP_WRITE,		/* an envelope created or updated */
	WAL_EVP_DELETE,		/* an envelope deleted */
	WAL_MSG_DELETE,		/* a message deleted */
};

/* The head of every record, followed by len bytes, padded to 8. */
struct wal_head {
	uint32_t	magic;
	uint32_t	crc;	/* CRC-32C of the rest of head and payload */
	uint64_t	gen;	/* run id << 32 | use count of the file */
	uint32_t	type;
	uint32_t	len;
};

struct wal {
	off_t		 size;		/* of each file */
	size_t		 record_max;	/* head and payload */
	int		 dir_fd;	/* fs-proc/, also what syncfs() syncs */
	int		 fd[2];		/* log.0, log.1 */
	int		 cur;		/* the file appended to */
	uint64_t	 gen;		/* of the current file */
	off_t		 off;		/* where the next record goes */
	int		 dirty;		/* records written, not yet synced */
	int		 ckpt_sock;	/* to the checkpointer; -1: inline */
	int		 ckpt_busy;	/* checkpoint of the other file runs */
	int		 other_live;	/* the other file is not dead yet */
	int		 broken;	/* a write failed: recover first */
	pid_t		 ckpt_pid;
	char		*buf;		/* a record being built */
	size_t		 buflen, bufsize;
	int		 toobig;	/* it outgrew WAL_RECORD_MAX */
};

/* Called by wal_replay() for each live record, oldest first. */
typedef int (*wal_apply_fn)(void *arg, uint32_t type, const char *payload,
    size_t len);

int	wal_open(struct wal *, int spool_fd, off_t size);
int	wal_replay(struct wal *, wal_apply_fn, void *arg);
int	wal_pending(int spool_fd);
off_t	wal_existing_size(int spool_fd);
int	wal_start(struct wal *);
int	wal_spawn_checkpointer(struct wal *, int (*enter)(void));
void	wal_close(struct wal *, int checkpoint);

/* Building and appending a record; durable: fdatasync before return. */
void	wal_begin(struct wal *, uint32_t type);
void	wal_add(struct wal *, const void *, size_t);
void	*wal_reserve(struct wal *, size_t);
void	*wal_payload(struct wal *);
size_t	wal_built(const struct wal *);
int	wal_append(struct wal *, int durable);

uint32_t wal_crc32c(uint32_t crc, const void *, size_t);

#endif
