/*
 * The spool layout: see layout.h.  Every buffer type is sized for the
 * longest string its maker can write, so snprintf() never truncates.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"

const char *
layout_bucket(uint32_t msgid, struct layout_bucket *b)
{
	snprintf(b->s, sizeof(b->s), "%02x", msgid >> 24);
	return b->s;
}

uint32_t
layout_random_id(void)
{
	uint32_t	id;

	while ((id = arc4random()) == 0)
		;
	return id;
}

const char *
layout_msgname(uint32_t msgid, struct layout_msgname *n)
{
	snprintf(n->s, sizeof(n->s), "%08x", msgid);
	return n->s;
}

const char *
layout_msgdir(uint32_t msgid, struct layout_msgdir *p)
{
	snprintf(p->s, sizeof(p->s), "%02x/%08x", msgid >> 24, msgid);
	return p->s;
}

const char *
layout_msgfile(uint32_t msgid, struct layout_msgfile *p)
{
	snprintf(p->s, sizeof(p->s), "%02x/%08x/%s", msgid >> 24, msgid,
	    LAYOUT_MESSAGE);
	return p->s;
}

const char *
layout_tmpfile(uint32_t msgid, struct layout_tmpfile *p)
{
	snprintf(p->s, sizeof(p->s), "%s/%08x", LAYOUT_TEMPORARY, msgid);
	return p->s;
}

const char *
layout_evpname(uint64_t evpid, struct layout_evpname *n)
{
	snprintf(n->s, sizeof(n->s), "%016llx", (unsigned long long)evpid);
	return n->s;
}

const char *
layout_evppath(uint64_t evpid, struct layout_evppath *p)
{
	uint32_t	msgid = evpid >> 32;

	snprintf(p->s, sizeof(p->s), "%02x/%08x/%016llx", msgid >> 24, msgid,
	    (unsigned long long)evpid);
	return p->s;
}

const char *
layout_inevp(uint64_t evpid, struct layout_inevp *p)
{
	snprintf(p->s, sizeof(p->s), "%08x/%016llx", (uint32_t)(evpid >> 32),
	    (unsigned long long)evpid);
	return p->s;
}

/* The try-th name to give name in corrupt/: name, name.1, name.2, ... */
const char *
layout_corrupt(const char *name, int try, struct layout_corrupt *c)
{
	if (try == 0)
		snprintf(c->s, sizeof(c->s), "%.*s", NAME_MAX, name);
	else
		snprintf(c->s, sizeof(c->s), "%.*s.%d", NAME_MAX, name, try);
	return c->s;
}

const char *
layout_purge(const char *name, uint32_t rnd, struct layout_purge *p)
{
	snprintf(p->s, sizeof(p->s), "incoming.%u.%.*s", rnd, NAME_MAX, name);
	return p->s;
}

/* Exactly digits lowercase hex digits, as every name in queue/ is made of. */
int
layout_is_hex(const char *name, size_t digits)
{
	return strlen(name) == digits &&
	    strspn(name, "0123456789abcdef") == digits;
}

int
layout_is_dot(const char *name)
{
	return strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
}

static int
layout_parse_hex(const char *name, size_t digits, uint64_t *v)
{
	if (!layout_is_hex(name, digits))
		return 0;
	*v = strtoull(name, NULL, 16);
	return 1;
}

/* A bucket name: two hex digits; *top gets the msgids' top byte. */
int
layout_parse_bucket(const char *name, uint32_t *top)
{
	uint64_t	v;

	if (!layout_parse_hex(name, LAYOUT_BUCKET_DIGITS, &v))
		return 0;
	*top = (uint32_t)v;
	return 1;
}

/* A message directory of bucket top: eight hex digits, not 0, top byte. */
int
layout_parse_msgname(const char *name, uint32_t top, uint32_t *msgid)
{
	uint64_t	v;

	if (!layout_parse_hex(name, LAYOUT_MSGID_DIGITS, &v) || v == 0 ||
	    v >> 24 != top)
		return 0;
	*msgid = (uint32_t)v;
	return 1;
}

/*
 * An envelope of msgid: sixteen hex digits, the first eight msgid, the
 * last eight not all zero.
 */
int
layout_parse_evpname(const char *name, uint32_t msgid, uint64_t *evpid)
{
	uint64_t	v;

	if (!layout_parse_hex(name, LAYOUT_EVPID_DIGITS, &v) ||
	    v >> 32 != msgid || (uint32_t)v == 0)
		return 0;
	*evpid = v;
	return 1;
}

int
layout_is_evpname(const char *name, uint32_t msgid)
{
	uint64_t	evpid;

	return layout_parse_evpname(name, msgid, &evpid);
}
