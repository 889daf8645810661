/*
 * ENVELOPE_WALK and restarts: a new daemon on a spool made by an earlier
 * one returns exactly the envelopes that were there, message by message,
 * and nothing created or deleted while it walks; deletions and the
 * incoming/ purge behave the same whether or not the spool was walked.
 */
#include <sys/types.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

#define NMSG		12
#define NEVP		4
#define MAX_CALLS	100000	/* r = 0 answers allowed before giving up */

/* What the spool holds: evpid, bytes (by seed), and whether walked. */
struct expect {
	uint64_t	evpid;
	uint32_t	seed;
	int		gone;		/* deleted: must not be walked */
	int		seen;
};

struct walkstate {
	struct expect	 e[NMSG * NEVP];
	uint32_t	 msgids[NMSG];
	int		 n;
	uint32_t	 last;		/* msgid of the last envelope walked */
	int		 changes;	/* times the msgid changed */
	int		 returned;
};

static void
fill_spool(struct qt_daemon *q, struct walkstate *w)
{
	uint64_t	evpids[NEVP];
	uint32_t	seed;
	int		i, j;

	memset(w, 0, sizeof(*w));
	for (i = 0; i < NMSG; i++) {
		seed = 1000 + (uint32_t)(i * NEVP);
		w->msgids[i] = make_message_seed(q, "Subject: walk\n\nx\n",
		    NEVP, evpids, seed);
		for (j = 0; j < NEVP; j++) {
			w->e[w->n].evpid = evpids[j];
			w->e[w->n].seed = seed + (uint32_t)j;
			w->n++;
		}
	}
}

static struct expect *
find(struct walkstate *w, uint64_t evpid)
{
	int	i;

	for (i = 0; i < w->n; i++)
		if (w->e[i].evpid == evpid)
			return &w->e[i];
	return NULL;
}

/*
 * One walk step as smtpd does it (r = 0: ask again).  Checks what came
 * back; returns r (> 0 or -1).
 */
static int
walk_step(struct qt_daemon *q, struct walkstate *w)
{
	char		 buf[PQ_EVP_MAX], *want;
	struct expect	*e;
	uint64_t	 evpid;
	size_t		 len;
	int		 r, calls = 0;

	while ((r = pq_envelope_walk(&q->c, &evpid, buf, sizeof(buf))) == 0)
		assert_true(++calls < MAX_CALLS);
	if (r == -1)
		return r;
	assert_true(r > 0);
	e = find(w, evpid);
	if (e == NULL)
		fail_msg("walk returned %016llx, not in the spool at start",
		    (unsigned long long)evpid);
	assert_false(e->gone);
	assert_false(e->seen);
	e->seen = 1;
	want = evp_text(e->seed, &len);
	assert_bytes(buf, (size_t)r, want, len);
	free(want);
	if (w->returned++ > 0 && (uint32_t)(evpid >> 32) != w->last)
		w->changes++;
	w->last = evpid >> 32;
	return r;
}

/* The first step of a walk over a spool that is not empty. */
static void
walk_first(struct qt_daemon *q, struct walkstate *w)
{
	if (walk_step(q, w) == -1)
		fail_msg("walk over at once, with %d envelopes in the spool",
		    w->n);
}

/* The walk is over: everything due was seen once, and it stays over. */
static void
walk_finish(struct qt_daemon *q, struct walkstate *w, int nmsg)
{
	char		buf[64];
	uint64_t	evpid;
	int		i, due = 0;

	while (walk_step(q, w) != -1)
		;
	for (i = 0; i < w->n; i++) {
		if (!w->e[i].gone && !w->e[i].seen)
			fail_msg("envelope %016llx was not walked",
			    (unsigned long long)w->e[i].evpid);
		due += !w->e[i].gone;
	}
	assert_int_equal(w->returned, due);
	/* smtpd groups consecutive envelopes: each message in one run */
	assert_true(w->changes <= nmsg - 1);
	for (i = 0; i < 3; i++)
		assert_int_equal(pq_envelope_walk(&q->c, &evpid, buf,
		    sizeof(buf)), -1);
}

static void
test_walk_all(void **state)
{
	struct qt_daemon		*q = *state;
	struct walkstate	 w;
	uint32_t		 msgid;
	char			 buf[64];
	uint64_t		 evpid;

	fill_spool(q, &w);
	qfp_restart(q);
	walk_finish(q, &w, NMSG);
	assert_int_equal(w.changes, NMSG - 1);

	/* new mail after the end does not revive the walk */
	msgid = make_message(q, "x\n", 2, NULL);
	assert_int_not_equal(msgid, 0);
	assert_int_equal(pq_envelope_walk(&q->c, &evpid, buf, sizeof(buf)),
	    -1);
	assert_alive(q);
}

/* Has the walk returned nothing of message i yet? */
static int
unreached(struct walkstate *w, int i)
{
	int	j;

	if (w->msgids[i] == w->last)
		return 0;
	for (j = 0; j < NEVP; j++)
		if (w->e[i * NEVP + j].seen)
			return 0;
	return 1;
}

static int
count_unreached(struct walkstate *w)
{
	int	i, n = 0;

	for (i = 0; i < NMSG; i++)
		n += unreached(w, i);
	return n;
}

/* A message the walk has not reached, other than skip. */
static int
unreached_msg(struct walkstate *w, int skip)
{
	int	i;

	for (i = 0; i < NMSG; i++)
		if (i != skip && unreached(w, i))
			return i;
	fail_msg("no message left unreached");
	return -1;
}

/*
 * What smtpd does while the walk loads its scheduler: new mail, new
 * envelopes on old mail (bounces), all of it reaches the scheduler by
 * the normal path, so the walk must not return it a second time.
 */
static void
test_walk_skips_new(void **state)
{
	struct qt_daemon		*q = *state;
	struct walkstate	 w;
	uint64_t		 evpid, fresh[2];
	uint32_t		 msgid;
	int			 i, k, fd;

	fill_spool(q, &w);
	qfp_restart(q);

	/* after start, before the first WALK */
	make_message(q, "new\n", 2, NULL);
	assert_int_equal(pq_envelope_create(&q->c, w.msgids[NMSG - 1], "b", 1,
	    &evpid), 1);
	walk_first(q, &w);

	/* during the walk, on a message being walked and on later ones */
	assert_int_equal(pq_envelope_create(&q->c, w.last, "b", 1, &evpid), 1);
	for (i = 0; i < NMSG; i++)
		assert_int_equal(pq_envelope_create(&q->c, w.msgids[i], "c", 1,
		    &evpid), 1);
	assert_int_equal(pq_message_create(&q->c, &msgid), 1);
	assert_int_equal(pq_envelope_create(&q->c, msgid, "d", 1, &fresh[0]),
	    1);
	/* interleaved, one new thing per step, until two are left */
	for (k = 0; count_unreached(&w) > 2 && walk_step(q, &w) > 0; k++) {
		if (k % 3 == 0)
			make_message(q, "new\n", 1, NULL);
		else
			assert_int_equal(pq_envelope_create(&q->c,
			    w.msgids[unreached_msg(&w, -1)], "e", 1, &evpid),
			    1);
	}
	/* a burst larger than the walk's per-call budget, unreached */
	i = unreached_msg(&w, -1);
	for (k = 0; k < 300; k++)
		assert_int_equal(pq_envelope_create(&q->c, w.msgids[i], "f", 1,
		    &evpid), 1);
	fd = tmp_message("x\n", 2);
	assert_int_equal(pq_message_commit(&q->c, msgid, fd), 1);
	close(fd);
	assert_int_equal(pq_envelope_create(&q->c, msgid, "g", 1, &fresh[1]),
	    1);
	walk_finish(q, &w, NMSG);
	assert_alive(q);
}

/*
 * The walk reads one envelope ahead.  Updates and deletions that come
 * in between must show: every envelope not walked yet is changed, every
 * other one updated, the rest deleted.
 */
static void
test_walk_sees_changes(void **state)
{
	struct qt_daemon		*q = *state;
	struct walkstate	 w;
	struct expect		*e;
	char			*evp;
	size_t			 len;
	int			 i;

	fill_spool(q, &w);
	qfp_restart(q);
	walk_first(q, &w);
	for (i = 0; i < w.n; i++) {
		e = &w.e[i];
		if (e->seen)
			continue;
		if (i % 2 == 0) {
			e->seed += 5000;
			evp = evp_text(e->seed, &len);
			assert_int_equal(pq_envelope_update(&q->c, e->evpid,
			    evp, len), 1);
			free(evp);
		} else {
			assert_int_equal(pq_envelope_delete(&q->c, e->evpid),
			    1);
			e->gone = 1;
		}
	}
	walk_finish(q, &w, NMSG);
	assert_alive(q);
}

/* Deleted before the walk reached it: not returned. */
static void
test_walk_skips_deleted(void **state)
{
	struct qt_daemon		*q = *state;
	struct walkstate	 w;
	int			 y, z, j;

	fill_spool(q, &w);
	qfp_restart(q);
	walk_first(q, &w);

	/* one envelope of message y, every envelope of message z */
	y = unreached_msg(&w, -1);
	z = unreached_msg(&w, y);
	assert_int_equal(pq_envelope_delete(&q->c, w.e[y * NEVP + 1].evpid),
	    1);
	w.e[y * NEVP + 1].gone = 1;
	for (j = 0; j < NEVP; j++) {
		assert_int_equal(pq_envelope_delete(&q->c,
		    w.e[z * NEVP + j].evpid), 1);
		w.e[z * NEVP + j].gone = 1;
	}
	assert_false(spool_exists(q, "%s", msgdir(w.msgids[z])));
	walk_finish(q, &w, NMSG - 1);
	assert_alive(q);
}

/*
 * smtpd deletes envelopes of mail queued before a restart whatever the
 * walk did: the last one must take the message with it all the same.
 */
static void
test_last_delete_after_restart(void **state)
{
	struct qt_daemon	*q = *state;
	uint64_t	 evpids[2];
	uint32_t	 msgid;

	msgid = make_message(q, "Subject: x\n\ny\n", 2, evpids);
	qfp_restart(q);
	assert_int_equal(pq_envelope_delete(&q->c, evpids[0]), 1);
	assert_true(spool_exists(q, "%s/message", msgdir(msgid)));
	assert_int_equal(pq_envelope_delete(&q->c, evpids[1]), 1);
	assert_false(spool_exists(q, "%s", msgdir(msgid)));
	assert_alive(q);
}

/*
 * Was incoming/<name> moved into purge/?  It goes there as
 * purge/incoming.<random>.<name>, with its contents.
 */
static int
purged(struct qt_daemon *q, const char *name, const char *inside)
{
	struct dirent	*dp;
	DIR		*d;
	size_t		 nlen = strlen(name), len;
	int		 found = 0;

	assert_non_null(d = opendir(spool_path(q, "purge")));
	while (!found && (dp = readdir(d)) != NULL) {
		len = strlen(dp->d_name);
		found = strncmp(dp->d_name, "incoming.", 9) == 0 &&
		    len > nlen && dp->d_name[len - nlen - 1] == '.' &&
		    strcmp(dp->d_name + len - nlen, name) == 0 &&
		    spool_exists(q, "purge/%s/%s", dp->d_name, inside);
	}
	closedir(d);
	return found;
}

/* A killed daemon's half-received mail is moved out at the next start. */
static void
test_incoming_purged(void **state)
{
	struct qt_daemon	*q = *state;
	uint64_t	 evpids[2], evpid;
	uint32_t	 msgid, inmsgid;
	char		 buf[256], name[16], evpname[17];
	int		 fd;

	msgid = make_message(q, "queued\n", 2, evpids);
	assert_int_equal(pq_message_create(&q->c, &inmsgid), 1);
	assert_int_equal(pq_envelope_create(&q->c, inmsgid, "e", 1, &evpid),
	    1);
	/* the envelope is written after its answer: wait for that */
	assert_int_equal(pq_init(&q->c), 1);
	qd_kill(q);
	assert_true(spool_exists(q, "incoming/%08x/%016llx", inmsgid,
	    (unsigned long long)evpid));

	qfp_start_init(q);
	assert_int_equal(spool_count_incoming(q), 0);
	snprintf(name, sizeof(name), "%08x", inmsgid);
	snprintf(evpname, sizeof(evpname), "%016llx", (unsigned long long)evpid);
	assert_true(purged(q, name, evpname));
	/* the message is dead for the new daemon; queued mail is not */
	fd = tmp_message("x", 1);
	assert_int_equal(pq_message_commit(&q->c, inmsgid, fd), 0);
	close(fd);
	assert_int_equal(pq_envelope_load(&q->c, evpid, buf, sizeof(buf)), 0);
	assert_true(pq_envelope_load(&q->c, evpids[0], buf, sizeof(buf)) > 0);
	assert_true(spool_exists(q, "%s/message", msgdir(msgid)));
	assert_alive(q);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_walk_all),
		TEST(test_walk_skips_new),
		TEST(test_walk_skips_deleted),
		TEST(test_walk_sees_changes),
		TEST(test_last_delete_after_restart),
		TEST(test_incoming_purged),
	};

	return cmocka_run_group_tests(tests, qt_group_setup, NULL);
}
