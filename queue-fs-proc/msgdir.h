/*
 * What is done to a message directory as a whole, by the store, the
 * walk and the spool check: count its envelopes, remove it, set it
 * aside in corrupt/.  durable: fsync the directory that changed (the
 * store's -S full); 0 leaves it to the kernel's write-back.
 */
#ifndef QFP_MSGDIR_H
#define QFP_MSGDIR_H

#include <stdint.h>

#include "layout.h"

int	msgdir_has_envelopes(int dfd, uint32_t msgid, int need_data);
int	msgdir_remove(int parent_fd, const char *name, int durable);
int	msgdir_quarantine(int parent_fd, const char *name, int corrupt_fd,
	    int durable, struct layout_corrupt *dest);

#endif
