/*
 * ENVELOPE_WALK: one pass over queue/, one envelope per call, all
 * envelopes of a message one after another, O(1) state (three open
 * directories).  Checks the spool as it goes: what it cannot serve is
 * logged and skipped, moved to corrupt/ or removed (see walk.c).
 *
 * Only what existed when the daemon started is returned: the store
 * names every id it creates meanwhile with walk_skip().  The walk reads
 * one envelope ahead: walk_read_ahead(), run after the answer, reads
 * what the next walk_next() returns; walk_changed() says an update or
 * deletion came since, which makes it read that envelope again.
 */
#ifndef QFP_WALK_H
#define QFP_WALK_H

#include <stddef.h>
#include <stdint.h>

#include "idset.h"

/* Most directory entries looked at per call before answering r = 0. */
#define WALK_BUDGET	256

struct walk_dirs;

struct walk {
	int		 queue_fd;	/* the store's, not owned */
	int		 corrupt_fd;	/* the store's, -1 if none */
	int		 durable;	/* fsync what it removes */
	int		 done;		/* -1 was returned: no more */
	struct idset	 fresh;		/* ids made since start */
	struct walk_dirs *dirs;		/* open while walking */
	/* the next answer, read after the previous one was sent */
	struct {
		char	*buf;		/* PQ_EVP_MAX bytes */
		int	 wanted;	/* read it after this answer */
		int	 ready;
		int	 stale;		/* changed since it was read */
		int	 r;		/* what the step said */
		uint64_t evpid;
	}		 ahead;
};

void	walk_init(struct walk *, int queue_fd, int corrupt_fd, int durable);
int	walk_skip(struct walk *, uint64_t id);
void	walk_changed(struct walk *);
int	walk_next(struct walk *, uint64_t *evpid, char *buf, size_t size);
void	walk_read_ahead(struct walk *);
void	walk_close(struct walk *);

#endif
