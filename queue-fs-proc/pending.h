/*
 * Messages committed through the log whose layout is not written yet.
 *
 * A logged commit with its body in the record (store_commit_logged())
 * is durable once its record is synced; its envelopes stay in memory
 * (evcache.h, pinned) and its directory in incoming/, holding the
 * message file only.  The layout (the envelope files, the move into
 * queue/) is written PENDING_DELAY_MS later, in store_settle(), or
 * never: a message whose envelopes are all delivered before then is
 * removed from incoming/ with nothing written to queue/.  Every pending
 * message is settled before a checkpoint retires the log file that
 * holds its record, and at a clean exit; after a crash the replay
 * writes the layout from the record.
 */
#ifndef QFP_PENDING_H
#define QFP_PENDING_H

#include <sys/queue.h>
#include <sys/tree.h>

#include <stddef.h>
#include <stdint.h>

#define PENDING_DELAY_MS	1000	/* commit to layout, at most */
#define PENDING_MAX		4096	/* messages; past it the oldest settle */

struct pending_msg {
	RB_ENTRY(pending_msg)	 tree;
	TAILQ_ENTRY(pending_msg) age;	/* oldest first */
	uint32_t		 msgid;
	uint64_t		 due_ms;	/* CLOCK_MONOTONIC */
};

RB_HEAD(pending_tree, pending_msg);
TAILQ_HEAD(pending_age, pending_msg);
int	pending_cmp(const struct pending_msg *, const struct pending_msg *);
RB_PROTOTYPE(pending_tree, pending_msg, tree, pending_cmp);

struct pending {
	struct pending_tree	 tree;
	struct pending_age	 age;
	size_t			 count;
	uint64_t		 delay_ms;
};

void	pending_init(struct pending *, uint64_t delay_ms);
int	pending_add(struct pending *, uint32_t msgid);
int	pending_has(struct pending *, uint32_t msgid);
void	pending_del(struct pending *, uint32_t msgid);
uint32_t pending_next_due(struct pending *, int all);
void	pending_free(struct pending *);
uint64_t pending_now_ms(void);

#endif
