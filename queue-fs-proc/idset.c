/* A set of non-zero 64-bit ids: linear probing, grown at half full. */
#include <stdlib.h>
#include <string.h>

#include "idset.h"

static size_t
slot_of(uint64_t id, size_t cap)
{
	/* ids are random already; fold the halves so msgids spread too */
	return (size_t)((id ^ (id >> 32)) * 0x9e3779b97f4a7c15ULL >> 7) &
	    (cap - 1);
}

static void
insert(uint64_t *slots, size_t cap, uint64_t id)
{
	size_t	i;

	for (i = slot_of(id, cap); slots[i] != 0; i = (i + 1) & (cap - 1))
		if (slots[i] == id)
			return;
	slots[i] = id;
}

static int
grow(struct idset *s)
{
	size_t		 cap = s->cap ? s->cap * 2 : 1024, i;
	uint64_t	*slots;

	if ((slots = calloc(cap, sizeof(*slots))) == NULL)
		return -1;
	for (i = 0; i < s->cap; i++)
		if (s->slots[i] != 0)
			insert(slots, cap, s->slots[i]);
	free(s->slots);
	s->slots = slots;
	s->cap = cap;
	return 0;
}

/* Returns 0, or -1 when out of memory. */
int
idset_add(struct idset *s, uint64_t id)
{
	if (idset_has(s, id))
		return 0;
	if ((s->count + 1) * 2 > s->cap && grow(s) == -1)
		return -1;
	insert(s->slots, s->cap, id);
	s->count++;
	return 0;
}

int
idset_has(const struct idset *s, uint64_t id)
{
	size_t	i;

	if (s->cap == 0)
		return 0;
	for (i = slot_of(id, s->cap); s->slots[i] != 0;
	    i = (i + 1) & (s->cap - 1))
		if (s->slots[i] == id)
			return 1;
	return 0;
}

void
idset_free(struct idset *s)
{
	free(s->slots);
	memset(s, 0, sizeof(*s));
}
