/*
 * The fs store: smtpd's built-in spool layout, served through directory
 * fds.  Relative to the spool (the daemon's root once chrooted):
 *
 *	queue/XX/MSGID/message		message content (XX: msgid >> 24)
 *	queue/XX/MSGID/EVPID		one file per envelope
 *	incoming/MSGID/...		a message being received
 *	incoming/envelope.tmp		an envelope being written
 *	corrupt/...			what the walk found broken
 */
#ifndef QFP_STORE_H
#define QFP_STORE_H

#include <sys/types.h>
#include <stdint.h>

#include "idset.h"

enum store_sync {
	STORE_SYNC_FULL,	/* every positive answer is on stable storage */
	STORE_SYNC_NONE,	/* the built-in queue's behaviour: no fsync */
};

struct walk;

struct store {
	int		 queue_fd;
	int		 incoming_fd;
	int		 corrupt_fd;	/* -1 if there is none */
	enum store_sync	 sync;
	int		 reserve_pct;	/* refuse new mail below this % free */
	struct walk	*walk;
	int		 walk_done;
	/* ids made since start, which the walk must not return */
	struct idset	 fresh;
	unsigned long	 nsync;		/* fsync-class calls made */
	/* an empty incoming/ directory for the next MESSAGE_CREATE, or 0 */
	uint32_t	 spare;
	int		 refill;	/* make a new spare after the answer */
	/* low halves of incoming evpids: unique per message, see next_evpid */
	uint32_t	 evp_seq;
	/* the walk's next answer, read after the previous one was sent */
	struct {
		char		*buf;	/* PQ_EVP_MAX bytes while walking */
		int		 wanted;/* read it after this answer */
		int		 ready;
		int		 stale;	/* an update or delete came since */
		int		 r;	/* what walk_next() said */
		uint64_t	 evpid;
	}		 ahead;
	/* an incoming envelope answered but not yet written (dfd != -1) */
	struct {
		int		 dfd;
		uint64_t	 evpid;
		const char	*evp;	/* the request's bytes, valid until
					   the next request is read */
		size_t		 len;
	}		 unwritten;
};

#define STORE_MSGDIR_LEN	12		/* "XX/" + 8 hex digits + NUL */
#define STORE_EVPNAME_LEN	17		/* 16 hex digits + NUL */

int	store_open(struct store *, int root_fd, enum store_sync, int reserve);
void	store_close(struct store *);
void	store_after_answer(struct store *);

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

/* Shared by store.c and walk.c. */
void	msgdir_name(uint32_t msgid, char buf[STORE_MSGDIR_LEN]);
void	evp_name(uint64_t evpid, char buf[STORE_EVPNAME_LEN]);
int	open_dir(int dirfd, const char *path);
int	open_regular(int dirfd, const char *path);
ssize_t	load_envelope(int dirfd, const char *path, char *buf, size_t size);
int	msgdir_remove(struct store *, int parent_fd, const char *name);
int	msgdir_quarantine(struct store *, int parent_fd, const char *name);
int	store_sync_fd(struct store *, int fd);
int	is_hex_name(const char *name, size_t len);
int	is_evp_name(const char *name, uint32_t msgid);
int	has_envelopes(int dfd, uint32_t msgid);

#endif
