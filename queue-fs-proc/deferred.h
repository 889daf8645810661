/*
 * Work done after an answer is sent and before the next request is
 * read, so that smtpd does not wait for it (see REQUESTS in
 * queue-fs-proc(8)): the empty incoming/ directory the next
 * MESSAGE_CREATE hands out, the file of an envelope of an incoming
 * message that ENVELOPE_CREATE answered before writing it, and the
 * walk's read-ahead.
 * One owner, one entry point: deferred_run(), called by dispatch after
 * each answer.
 */
#ifndef QFP_DEFERRED_H
#define QFP_DEFERRED_H

#include <stddef.h>
#include <stdint.h>

#include "evcache.h"
#include "wal.h"
#include "walk.h"

struct deferred {
	int		 queue_fd;	/* the store's, not owned */
	int		 incoming_fd;	/* the store's, not owned */
	struct walk	*walk;		/* reads ahead, skips our ids */
	struct evcache	*evc;		/* the store's: envelopes' bytes */
	const struct wal *wal;		/* the running log, or NULL */
	uint32_t	 spare;		/* empty incoming/MSGID, or 0 */
	uint32_t	 withdrawn;	/* an incoming message removed, or 0 */
	int		 refill;	/* make a new spare */
	/* an incoming envelope answered but not yet written, or 0 */
	uint64_t	 evpid;
};

void	 deferred_init(struct deferred *, int queue_fd, int incoming_fd,
	    struct walk *, struct evcache *);
uint32_t deferred_take_spare(struct deferred *);
void	 deferred_envelope(struct deferred *, uint64_t evpid);
void	 deferred_run(struct deferred *);
void	 deferred_close(struct deferred *);

#endif
