/*
 * Messages whose layout is not written yet: see pending.h.
 */
#include <stdlib.h>
#include <time.h>

#include "pending.h"

int
pending_cmp(const struct pending_msg *a, const struct pending_msg *b)
{
	return a->msgid < b->msgid ? -1 : a->msgid > b->msgid;
}

RB_GENERATE(pending_tree, pending_msg, tree, pending_cmp);

uint64_t
pending_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void
pending_init(struct pending *p, uint64_t delay_ms)
{
	RB_INIT(&p->tree);
	TAILQ_INIT(&p->age);
	p->count = 0;
	p->delay_ms = delay_ms;
}

static struct pending_msg *
pending_find(struct pending *p, uint32_t msgid)
{
	struct pending_msg	key;

	key.msgid = msgid;
	return RB_FIND(pending_tree, &p->tree, &key);
}

/* -1 when out of memory: the caller writes the layout at once. */
int
pending_add(struct pending *p, uint32_t msgid)
{
	struct pending_msg	*m;

	if ((m = malloc(sizeof(*m))) == NULL)
		return -1;
	m->msgid = msgid;
	m->due_ms = pending_now_ms() + p->delay_ms;
	if (RB_INSERT(pending_tree, &p->tree, m) != NULL) {
		free(m);	/* already pending */
		return 0;
	}
	TAILQ_INSERT_TAIL(&p->age, m, age);
	p->count++;
	return 0;
}

int
pending_has(struct pending *p, uint32_t msgid)
{
	return p->count > 0 && pending_find(p, msgid) != NULL;
}

void
pending_del(struct pending *p, uint32_t msgid)
{
	struct pending_msg	*m;

	if ((m = pending_find(p, msgid)) == NULL)
		return;
	RB_REMOVE(pending_tree, &p->tree, m);
	TAILQ_REMOVE(&p->age, m, age);
	p->count--;
	free(m);
}

/*
 * The oldest pending message if it is due (or if all is set, or there
 * are more than PENDING_MAX), else 0.
 */
uint32_t
pending_next_due(struct pending *p, int all)
{
	struct pending_msg	*m;

	if ((m = TAILQ_FIRST(&p->age)) == NULL)
		return 0;
	if (all || p->count > PENDING_MAX || m->due_ms <= pending_now_ms())
		return m->msgid;
	return 0;
}

void
pending_free(struct pending *p)
{
	struct pending_msg	*m;

	while ((m = TAILQ_FIRST(&p->age)) != NULL)
		pending_del(p, m->msgid);
}
