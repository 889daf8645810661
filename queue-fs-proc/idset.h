/*
 * A set of 64-bit ids (open addressing).  The store records here every
 * message and envelope it creates while the start-up walk is running, so
 * the walk returns only what existed when the daemon started, whatever
 * the clock did; the set is freed when the walk ends.
 */
#ifndef QFP_IDSET_H
#define QFP_IDSET_H

#include <stddef.h>
#include <stdint.h>

struct idset {
	uint64_t	*slots;		/* 0 = empty; ids are never 0 */
	size_t		 cap;		/* power of two, or 0 */
	size_t		 count;
};

int	idset_add(struct idset *, uint64_t id);
int	idset_has(const struct idset *, uint64_t id);
void	idset_free(struct idset *);

#endif
