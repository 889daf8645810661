/*
 * ENVELOPE_WALK: one pass over queue/, one envelope per call, all
 * envelopes of a message one after another, O(1) state (three open
 * directories).  Checks the spool as it goes: what it cannot serve is
 * logged and skipped, moved to corrupt/ or removed (see walk.c).
 */
#ifndef QFP_WALK_H
#define QFP_WALK_H

#include <stddef.h>
#include <stdint.h>

struct store;

/* Most directory entries looked at per call before answering r = 0. */
#define WALK_BUDGET	256

int	walk_next(struct store *, uint64_t *evpid, char *buf, size_t size);
void	walk_free(struct store *);

#endif
