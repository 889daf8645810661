/*
 * The fs store: smtpd's built-in spool layout (layout.h), served
 * through directory fds, one function per proc-queue request.
 */
#ifndef QFP_STORE_H
#define QFP_STORE_H

#include <sys/types.h>
#include <sys/stat.h>
#include <stdint.h>
#include <time.h>

#include "deferred.h"
#include "evcache.h"
#include "wal.h"
#include "walk.h"

enum store_sync {
	STORE_SYNC_FULL,	/* every positive answer is on stable storage */
	STORE_SYNC_NONE,	/* the built-in queue's behaviour: no fsync */
};

/* How a commit put the message into the spool. */
enum store_commit_path {
	STORE_COMMIT_RENAMED,	/* smtpd's temporary/MSGID, renamed */
	STORE_COMMIT_COPIED,	/* copied from the fd */
};

#define STORE_BUCKETS	256	/* queue/00 to queue/ff */

/* What fstatvfs() said, spent as mail is taken in (store_have_space()). */
struct store_space {
	time_t		 when;		/* CLOCK_MONOTONIC_COARSE seconds */
	int		 ok;
	uint64_t	 bytes;		/* headroom above the reserve, halved */
	uint64_t	 inodes;
};

struct store {
	int		 root_fd;	/* the spool */
	int		 queue_fd;
	int		 incoming_fd;
	int		 corrupt_fd;	/* -1 if there is none */
	int		 temporary_fd;	/* smtpd's temporary/, -1 if none */
	int		 bucket_fd[STORE_BUCKETS];	/* -1: not open yet */
	struct evcache	 evc;		/* envelopes held in memory */
	struct store_space space;
	enum store_sync	 sync;
	int		 reserve_pct;	/* refuse new mail below this % free */
	/* low halves of incoming evpids: unique per message, see next_evpid */
	uint32_t	 evp_seq;
	struct walk	 walk;
	struct deferred	 later;		/* work after the answer */
	/* how the last successful MESSAGE_COMMIT put its message in place */
	enum store_commit_path commit_path;
	uint64_t	 commit_bytes;	/* and its size, for the statistics */
	int		 said_exdev;	/* logged that temporary/ is elsewhere */
	struct wal	 wal;
	/* the log covers the layout's changes: while it runs, and during
	 * the replay (the retire's syncfs() makes them durable) */
	int		 logged;
	int		 ordered;	/* the fs journals metadata in order */
};

int	store_open(struct store *, int root_fd, enum store_sync, int reserve);
void	store_close(struct store *);
void	store_close_log(struct store *, int checkpoint);
void	store_after_answer(struct store *);
int	store_unsynced(struct store *);
void	store_flush(struct store *);

int	store_message_create(struct store *, uint32_t *msgid);
int	store_message_commit(struct store *, uint32_t msgid, int fd);
int	store_message_delete(struct store *, uint32_t msgid);
int	store_message_fd_r(struct store *, uint32_t msgid);
int	store_envelope_create(struct store *, uint32_t msgid, const char *,
	    size_t, uint64_t *evpid);
int	store_envelope_delete(struct store *, uint64_t evpid);
size_t	store_envelope_load(struct store *, uint64_t evpid, char *, size_t);
int	store_envelope_update(struct store *, uint64_t evpid, const char *,
	    size_t);
int	store_envelope_walk(struct store *, uint64_t *evpid, char *, size_t);


/* The layout's primitives, for the replay (recover.c). */
enum store_move { MOVE_PLAIN, MOVE_SYNCFS };

int	store_move_to_queue(struct store *, uint32_t msgid, int dfd,
	    enum store_move);
int	store_bucket(struct store *, uint32_t msgid, int create, int sync);
int	store_open_queued(struct store *, uint32_t msgid);
int	store_put_file(struct store *, int dfd, const char *name,
	    const char *, size_t, int noreplace);
int	store_unlink_envelope(struct store *, uint64_t evpid);
int	store_remove_message(struct store *, uint32_t msgid);

#endif
