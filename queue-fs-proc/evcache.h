/*
 * The envelopes the daemon holds in memory, by evpid.
 *
 * Pinned: an envelope of an incoming message, answered by
 * ENVELOPE_CREATE and written to incoming/ after the answer (deferred.c),
 * kept here too until MESSAGE_COMMIT builds its log record from it (no
 * file is read back) or MESSAGE_DELETE drops it.
 *
 * Clean: a copy of what the layout holds, so that ENVELOPE_LOAD and
 * ENVELOPE_UPDATE need not read or stat the file.  Every change of a
 * queued envelope goes through the store while the daemon holds the
 * spool's lock, so a clean entry is never older than its file.  Clean
 * entries are bounded (EVC_CLEAN_MAX bytes) and the oldest go first.
 *
 * Each incoming message also has a marker entry, evpid MSGID << 32 (the
 * low half 0 is never a real envelope's): the message was handed out by
 * MESSAGE_CREATE and is not yet committed or deleted.
 */
#ifndef QFP_EVCACHE_H
#define QFP_EVCACHE_H

#include <sys/queue.h>
#include <sys/tree.h>

#include <stddef.h>
#include <stdint.h>

#define EVC_CLEAN_MAX	(16 * 1024 * 1024)	/* bytes of clean entries */
#define EVC_PINNED_MAX	(256 * 1024 * 1024)	/* bytes of pinned ones */

struct evc_entry {
	RB_ENTRY(evc_entry)	 tree;
	TAILQ_ENTRY(evc_entry)	 age;	/* clean entries, oldest first */
	uint64_t		 evpid;
	size_t			 len;
	int			 pinned;
	char			 data[];
};

RB_HEAD(evc_tree, evc_entry);
int	evc_cmp(const struct evc_entry *, const struct evc_entry *);
RB_PROTOTYPE(evc_tree, evc_entry, tree, evc_cmp);
TAILQ_HEAD(evc_age, evc_entry);

struct evcache {
	struct evc_tree	 tree;
	struct evc_age	 age;
	size_t		 clean_bytes;
	size_t		 pinned_bytes;
};

void		  evc_init(struct evcache *);
void		  evc_free(struct evcache *);
struct evc_entry *evc_get(struct evcache *, uint64_t evpid);
int		  evc_put(struct evcache *, uint64_t evpid, const char *,
		    size_t, int pinned);
void		  evc_del(struct evcache *, uint64_t evpid);

int		  evc_mark_incoming(struct evcache *, uint32_t msgid);
int		  evc_is_incoming(struct evcache *, uint32_t msgid);
struct evc_entry *evc_first_of(struct evcache *, uint32_t msgid);
struct evc_entry *evc_next_of(struct evcache *, struct evc_entry *);
int		  evc_committed(struct evcache *, uint32_t msgid);
void		  evc_drop_message(struct evcache *, uint32_t msgid);

#endif
