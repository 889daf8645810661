/*
 * The envelopes held in memory: see evcache.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "evcache.h"
#include "log.h"

int
evc_cmp(const struct evc_entry *a, const struct evc_entry *b)
{
	return a->evpid < b->evpid ? -1 : a->evpid > b->evpid;
}

RB_GENERATE(evc_tree, evc_entry, tree, evc_cmp);

void
evc_init(struct evcache *c)
{
	RB_INIT(&c->tree);
	TAILQ_INIT(&c->age);
	c->clean_bytes = 0;
	c->pinned_bytes = 0;
}

static void
evc_remove(struct evcache *c, struct evc_entry *e)
{
	RB_REMOVE(evc_tree, &c->tree, e);
	if (e->pinned)
		c->pinned_bytes -= e->len;
	else {
		TAILQ_REMOVE(&c->age, e, age);
		c->clean_bytes -= e->len;
	}
	free(e);
}

void
evc_free(struct evcache *c)
{
	struct evc_entry	*e;

	while ((e = RB_MIN(evc_tree, &c->tree)) != NULL)
		evc_remove(c, e);
}

struct evc_entry *
evc_get(struct evcache *c, uint64_t evpid)
{
	struct evc_entry	key;

	key.evpid = evpid;
	return RB_FIND(evc_tree, &c->tree, &key);
}

void
evc_del(struct evcache *c, uint64_t evpid)
{
	struct evc_entry	*e;

	if ((e = evc_get(c, evpid)) != NULL)
		evc_remove(c, e);
}

/* A clean entry joins the end of the age list; the oldest go. */
static void
evc_make_clean(struct evcache *c, struct evc_entry *e)
{
	struct evc_entry	*old;

	e->pinned = 0;
	TAILQ_INSERT_TAIL(&c->age, e, age);
	c->clean_bytes += e->len;
	while (c->clean_bytes > EVC_CLEAN_MAX &&
	    (old = TAILQ_FIRST(&c->age)) != e)
		evc_remove(c, old);
}

/*
 * Hold evpid's envelope, replacing what was held.  -1 (what was held
 * is kept) when memory or the pinned bound runs out: a pinned envelope
 * is then refused, a clean one merely not cached.
 */
int
evc_put(struct evcache *c, uint64_t evpid, const char *buf, size_t len,
    int pinned)
{
	struct evc_entry	*e;

	if (pinned && c->pinned_bytes + len > EVC_PINNED_MAX) {
		log_warnx("warn: queue-fs-proc: incoming envelopes hold %zu "
		    "bytes of memory, refusing more", c->pinned_bytes);
		errno = ENOMEM;
		return -1;
	}
	if ((e = malloc(sizeof(*e) + len)) == NULL)
		return -1;
	evc_del(c, evpid);
	e->evpid = evpid;
	e->len = len;
	memcpy(e->data, buf, len);
	RB_INSERT(evc_tree, &c->tree, e);
	if (pinned) {
		e->pinned = 1;
		c->pinned_bytes += len;
	} else
		evc_make_clean(c, e);
	return 0;
}

/* The marker of an incoming message: see evcache.h. */
int
evc_mark_incoming(struct evcache *c, uint32_t msgid)
{
	return evc_put(c, (uint64_t)msgid << 32, "", 0, 1);
}

int
evc_is_incoming(struct evcache *c, uint32_t msgid)
{
	return evc_get(c, (uint64_t)msgid << 32) != NULL;
}

/* The first of msgid's entries from e on, or NULL. */
static struct evc_entry *
evc_of_message(struct evc_entry *e, uint32_t msgid)
{
	return e != NULL && e->evpid >> 32 == msgid ? e : NULL;
}

/* msgid's first envelope (not its marker), or NULL. */
struct evc_entry *
evc_first_of(struct evcache *c, uint32_t msgid)
{
	struct evc_entry	key;

	key.evpid = (uint64_t)msgid << 32 | 1;
	return evc_of_message(RB_NFIND(evc_tree, &c->tree, &key), msgid);
}

struct evc_entry *
evc_next_of(struct evcache *c, struct evc_entry *e)
{
	return evc_of_message(RB_NEXT(evc_tree, &c->tree, e),
	    (uint32_t)(e->evpid >> 32));
}

/*
 * msgid is committed: its envelopes are the layout's now, and clean.
 * Returns how many there were.
 */
int
evc_committed(struct evcache *c, uint32_t msgid)
{
	struct evc_entry	*e, *next;
	int			 n = 0;

	evc_del(c, (uint64_t)msgid << 32);
	for (e = evc_first_of(c, msgid); e != NULL; e = next) {
		next = evc_next_of(c, e);
		if (e->pinned) {
			c->pinned_bytes -= e->len;
			evc_make_clean(c, e);
			n++;
		}
	}
	return n;
}

/* Forget everything of msgid: its marker and every envelope. */
void
evc_drop_message(struct evcache *c, uint32_t msgid)
{
	struct evc_entry	*e;

	evc_del(c, (uint64_t)msgid << 32);
	while ((e = evc_first_of(c, msgid)) != NULL)
		evc_remove(c, e);
}
