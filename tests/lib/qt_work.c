/*
 * Request workloads on a running daemon (see qt_work.h).
 */
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qt_work.h"

/* the big bodies of qw_sequence(): over the log's inline limit (64 KB) */
#define QW_SEQ_BIG	(100 * 1024)

static size_t
qw_evp_text(char *buf, size_t size, unsigned seed, int which)
{
	return (size_t)snprintf(buf, size, "version: 3\n"
	    "dispatcher: local\ntype: mda\nsmtpname: hardening\n"
	    "sender: s%u@example.org\nrcpt: r%u-%d@test.local\n"
	    "dest: r%u-%d@test.local\nctime: %u\nlast-try: 0\n", seed, seed,
	    which, seed, which, 1700000000u + seed);
}

int
qw_lifecycle(struct qt_daemon *h, unsigned seed, int failures)
{
	struct pq_client *c = &h->c;
	char		 content[8192], evp[3][512], buf[PQ_EVP_MAX], *got;
	size_t		 clen, elen[3], glen = 0;
	uint64_t	 evpid[3], bad_evpid;
	uint32_t	 msgid, rb;
	int		 i, fd, r;

	clen = (size_t)snprintf(content, sizeof(content),
	    "From: s%u@example.org\r\nSubject: lifecycle %u\r\n\r\n", seed,
	    seed);
	for (i = 0; clen < 5000 + seed % 3000; i++)
		content[clen++] = (char)('a' + (seed + i) % 26);
	for (i = 0; i < 3; i++)
		elen[i] = qw_evp_text(evp[i], sizeof(evp[i]), seed, i);

	if ((r = pq_message_create(c, &msgid)) != 1)
		return qt_fail("create: r = %d", r);
	for (i = 0; i < 2; i++)
		if ((r = pq_envelope_create(c, msgid, evp[i], elen[i],
		    &evpid[i])) != 1)
			return qt_fail("envelope create %d: r = %d", i, r);
	if ((fd = qt_tmp_message(NULL, content, clen)) == -1)
		return qt_fail("temp file: %s", strerror(errno));
	r = pq_message_commit(c, msgid, fd);
	close(fd);
	if (r != 1)
		return qt_fail("commit %08x: r = %d", msgid, r);
	if ((fd = pq_message_fd_r(c, msgid)) < 0)
		return qt_fail("fd_r %08x: %d", msgid, fd);
	got = qt_pread_fd(fd, &glen);
	close(fd);
	r = got != NULL && glen == clen && memcmp(got, content, clen) == 0;
	free(got);
	if (!r)
		return qt_fail("fd_r %08x: content differs (%zu/%zu bytes)",
		    msgid, glen, clen);
	if ((r = pq_envelope_create(c, msgid, evp[2], elen[2],
	    &evpid[2])) != 1)
		return qt_fail("envelope create on queued: r = %d", r);
	if ((r = pq_envelope_load(c, evpid[0], buf, sizeof(buf))) !=
	    (int)elen[0] || memcmp(buf, evp[0], elen[0]) != 0)
		return qt_fail("load %016llx: %d",
		    (unsigned long long)evpid[0], r);
	memcpy(evp[0] + elen[0] - 2, "1\n", 2);
	if ((r = pq_envelope_update(c, evpid[0], evp[0], elen[0])) != 1)
		return qt_fail("update: r = %d", r);
	if ((r = pq_envelope_load(c, evpid[0], buf, sizeof(buf))) !=
	    (int)elen[0] || memcmp(buf, evp[0], elen[0]) != 0)
		return qt_fail("load after update: %d", r);

	if (failures) {
		bad_evpid = (uint64_t)(msgid ^ 0x5a5a5a5a) << 32 | 0x1234;
		if ((fd = qt_tmp_message(NULL, content, 10)) == -1)
			return qt_fail("temp file: %s", strerror(errno));
		r = pq_message_commit(c, msgid ^ 0x5a5a5a5a, fd);
		if (r == 0)
			r = pq_message_commit(c, 0, fd) == 0 ? 0 : -7;
		close(fd);
		if (r != 0)
			return qt_fail("commit of a bad msgid: r = %d", r);
		if ((fd = pq_message_fd_r(c, msgid ^ 0x5a5a5a5a)) != -1) {
			if (fd >= 0)
				close(fd);
			return qt_fail("fd_r of an unknown msgid: %d", fd);
		}
		if ((r = pq_envelope_load(c, bad_evpid, buf, sizeof(buf))) != 0)
			return qt_fail("load of an unknown evpid: %d", r);
		if ((r = pq_envelope_delete(c, bad_evpid)) != 0)
			return qt_fail("delete of an unknown evpid: %d", r);
		if ((r = pq_message_delete(c, msgid ^ 0x5a5a5a5a)) != 0)
			return qt_fail("delete of an unknown msgid: %d", r);
		if ((r = pq_message_create(c, &rb)) != 1 ||
		    (r = pq_envelope_create(c, rb, evp[1], elen[1],
		    &bad_evpid)) != 1 || (r = pq_message_delete(c, rb)) != 1)
			return qt_fail("rollback: r = %d", r);
	}
	for (i = 0; i < 3; i++)
		if ((r = pq_envelope_delete(c, evpid[i])) != 1)
			return qt_fail("envelope delete %d: r = %d", i, r);
	if ((fd = pq_message_fd_r(c, msgid)) != -1) {
		if (fd >= 0)
			close(fd);
		return qt_fail("message %08x still there after its last "
		    "envelope went (%d)", msgid, fd);
	}
	return 0;
}

int
qw_walk_cycle(struct qt_daemon *h, int n)
{
	char		 evp[512], buf[PQ_EVP_MAX];
	uint64_t	*ids, *all, evpid;
	uint32_t	 msgid;
	size_t		 len;
	int		 i, j, r, fd, found, seen = 0, tries = 0, ret = -1;

	ids = calloc((size_t)n * 2, sizeof(*ids));
	all = calloc((size_t)n * 2, sizeof(*all));
	if (ids == NULL || all == NULL) {
		qt_fail("calloc");
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((r = pq_message_create(&h->c, &msgid)) != 1) {
			qt_fail("walk: create: r = %d", r);
			goto out;
		}
		for (j = 0; j < 2; j++) {
			len = qw_evp_text(evp, sizeof(evp), (unsigned)i, j);
			if ((r = pq_envelope_create(&h->c, msgid, evp, len,
			    &ids[i * 2 + j])) != 1) {
				qt_fail("walk: envelope: r = %d", r);
				goto out;
			}
		}
		if ((fd = qt_tmp_message(NULL, "Subject: walk\r\n\r\nbody\r\n",
		    23)) == -1) {
			qt_fail("temp file");
			goto out;
		}
		r = pq_message_commit(&h->c, msgid, fd);
		close(fd);
		if (r != 1) {
			qt_fail("walk: commit: r = %d", r);
			goto out;
		}
	}
	memcpy(all, ids, (size_t)n * 2 * sizeof(*all));
	if ((r = qd_stop(h)) != 0) {
		qt_fail("walk: daemon exit %d on close", r);
		goto out;
	}
	if (qd_start_init(h) == -1)
		goto out;
	while ((r = pq_envelope_walk(&h->c, &evpid, buf, sizeof(buf))) !=
	    -1) {
		if (r == PQ_EPROTO) {
			qt_fail("walk: protocol error");
			goto out;
		}
		if (r == 0) {
			if (++tries > 100000) {
				qt_fail("walk: no end");
				goto out;
			}
			continue;
		}
		for (found = -1, i = 0; i < 2 * n; i++)
			if (ids[i] == evpid)
				found = i;
		if (found == -1) {
			qt_fail("walk: unknown or repeated evpid %016llx",
			    (unsigned long long)evpid);
			goto out;
		}
		len = qw_evp_text(evp, sizeof(evp), (unsigned)found / 2,
		    found % 2);
		if ((size_t)r != len || memcmp(buf, evp, len) != 0) {
			qt_fail("walk: envelope %016llx differs",
			    (unsigned long long)evpid);
			goto out;
		}
		ids[found] = 0;
		seen++;
	}
	if (seen != 2 * n) {
		qt_fail("walk: %d envelopes of %d", seen, 2 * n);
		goto out;
	}
	/* now delete them, each message with its last envelope */
	for (i = 0; i < 2 * n; i++)
		if ((r = pq_envelope_delete(&h->c, all[i])) != 1) {
			qt_fail("walk: delete %016llx: r = %d",
			    (unsigned long long)all[i], r);
			goto out;
		}
	for (i = 0; i < 2 * n; i += 2)
		if ((fd = pq_message_fd_r(&h->c, (uint32_t)(all[i] >> 32))) !=
		    -1) {
			if (fd >= 0)
				close(fd);
			qt_fail("walk: message %08x left after its envelopes",
			    (uint32_t)(all[i] >> 32));
			goto out;
		}
	ret = 0;
out:
	free(ids);
	free(all);
	return ret;
}

/* One line per answer; counts those that are not r = 1. */
static void
qw_say(int *bad, const char *what, int r)
{
	printf("  %-32s r = %d\n", what, r);
	if (r != 1)
		(*bad)++;
}

/* Create msgid with n envelopes while incoming, into e[]. */
static void
qw_seq_incoming(struct qt_daemon *d, int *bad, uint32_t *msgid, int n,
    uint64_t *e)
{
	char	evp[256];
	int	i;

	qw_say(bad, "MESSAGE_CREATE", pq_message_create(&d->c, msgid));
	for (i = 0; i < n; i++) {
		snprintf(evp, sizeof(evp), "envelope %d of %08x", i, *msgid);
		qw_say(bad, "ENVELOPE_CREATE (incoming)",
		    pq_envelope_create(&d->c, *msgid, evp, strlen(evp), &e[i]));
	}
}

/* Commit as smtpd does: its temporary/MSGID, which the commit renames. */
static void
qw_seq_commit_smtpd(struct qt_daemon *d, int *bad, const char *what,
    uint32_t msgid, const char *body, size_t len)
{
	int	fd;

	fd = qd_smtpd_message(d, msgid, body, len);
	qw_say(bad, what, pq_message_commit(&d->c, msgid, fd));
	if (fd != -1)
		close(fd);
	qd_smtpd_unlink(d, msgid);
}

int
qw_sequence(struct qt_daemon *d)
{
	static char	 big[QW_SEQ_BIG];
	char		 evp[256], buf[PQ_EVP_MAX], body[5000];
	uint64_t	 e[4];
	uint32_t	 msgid = 0;
	int		 i, r, bad = 0;

	/* 1: a small body, logged with the commit ("inline") */
	qw_seq_incoming(d, &bad, &msgid, 3, e);
	memset(body, 'm', sizeof(body));
	qw_seq_commit_smtpd(d, &bad, "MESSAGE_COMMIT", msgid, body,
	    sizeof(body));
	snprintf(evp, sizeof(evp), "envelope 3 of %08x", msgid);
	qw_say(&bad, "ENVELOPE_CREATE (committed)", pq_envelope_create(&d->c,
	    msgid, evp, strlen(evp), &e[3]));
	snprintf(evp, sizeof(evp), "envelope 0 of %08x, updated", msgid);
	qw_say(&bad, "ENVELOPE_UPDATE", pq_envelope_update(&d->c, e[0], evp,
	    strlen(evp)));
	r = pq_envelope_load(&d->c, e[0], buf, sizeof(buf));
	qw_say(&bad, "ENVELOPE_LOAD", r == (int)strlen(evp) &&
	    memcmp(buf, evp, strlen(evp)) == 0);
	for (i = 0; i < 4; i++)
		qw_say(&bad, "ENVELOPE_DELETE", pq_envelope_delete(&d->c,
		    e[i]));
	printf("  msgid %08x\n", msgid);

	/* 2: a body over the log's inline limit, smtpd's way ("in place") */
	memset(big, 'B', sizeof(big));
	qw_seq_incoming(d, &bad, &msgid, 2, e);
	qw_seq_commit_smtpd(d, &bad, "MESSAGE_COMMIT (big)", msgid, big,
	    sizeof(big));
	qw_say(&bad, "ENVELOPE_DELETE", pq_envelope_delete(&d->c, e[0]));
	qw_say(&bad, "MESSAGE_DELETE (queued)", pq_message_delete(&d->c,
	    msgid));
	printf("  msgid %08x (%d bytes)\n", msgid, QW_SEQ_BIG);
	return bad;
}

int
qw_copied(struct qt_daemon *d, size_t size)
{
	char		*body;
	uint64_t	 e;
	uint32_t	 msgid = 0;
	int		 fd, bad = 0;

	if ((body = malloc(size ? size : 1)) == NULL) {
		qt_fail("malloc");
		return -1;
	}
	memset(body, 'C', size);
	qw_seq_incoming(d, &bad, &msgid, 1, &e);
	fd = qt_tmp_message(d->dir, body, size);
	free(body);
	qw_say(&bad, "MESSAGE_COMMIT (copied)", pq_message_commit(&d->c,
	    msgid, fd));
	if (fd != -1)
		close(fd);
	qw_say(&bad, "ENVELOPE_DELETE", pq_envelope_delete(&d->c, e));
	printf("  msgid %08x (%zu bytes, copied)\n", msgid, size);
	return bad;
}

int
qw_count(struct qt_daemon *d, int nrcpt, int nmsg, size_t bodylen)
{
	char		 evp[1024], *body;
	uint64_t	*e;
	uint32_t	*ids;
	int		 i, j, fd, bad = 0;

	e = calloc((size_t)nrcpt * (size_t)nmsg, sizeof(*e));
	ids = calloc((size_t)nmsg, sizeof(*ids));
	body = malloc(bodylen ? bodylen : 1);
	if (e == NULL || ids == NULL || body == NULL) {
		free(e);
		free(ids);
		free(body);
		qt_fail("calloc");
		return nrcpt * nmsg;
	}
	memset(body, 'b', bodylen);
	memset(evp, 'e', sizeof(evp));
	for (i = 0; i < nmsg; i++) {
		if (pq_message_create(&d->c, &ids[i]) != 1)
			bad++;
		for (j = 0; j < nrcpt; j++)
			if (pq_envelope_create(&d->c, ids[i], evp,
			    sizeof(evp), &e[i * nrcpt + j]) != 1)
				bad++;
		fd = qt_tmp_message(d->dir, body, bodylen);
		if (pq_message_commit(&d->c, ids[i], fd) != 1)
			bad++;
		close(fd);
	}
	for (i = 0; i < nmsg; i++)
		for (j = 0; j < nrcpt; j++)
			if (pq_envelope_delete(&d->c, e[i * nrcpt + j]) != 1)
				bad++;
	printf("  %d messages of %d recipients accepted and delivered, "
	    "%d requests failed\n", nmsg, nrcpt, bad);
	free(body);
	free(e);
	free(ids);
	return bad;
}

int
qw_fill(struct qt_daemon *d, int nmsg, int nevp)
{
	char		 content[256], evp[128];
	uint64_t	 evpid;
	uint32_t	 msgid;
	int		 i, j, fd, r;

	for (i = 0; i < nmsg; i++) {
		snprintf(content, sizeof(content), "Subject: message %d\n\n"
		    "body of message %d\n", i, i);
		if ((r = pq_message_create(&d->c, &msgid)) != 1)
			return qt_fail("fill: create: r = %d", r);
		for (j = 0; j < nevp; j++) {
			snprintf(evp, sizeof(evp), "version: 3\nrcpt: r%d@"
			    "example.org\nmsg: %d\n", j, i);
			if ((r = pq_envelope_create(&d->c, msgid, evp,
			    strlen(evp), &evpid)) != 1)
				return qt_fail("fill: envelope: r = %d", r);
			printf("envelope %016llx\n", (unsigned long long)evpid);
		}
		if ((fd = qt_tmp_message(NULL, content, strlen(content))) == -1)
			return -1;
		r = pq_message_commit(&d->c, msgid, fd);
		close(fd);
		if (r != 1)
			return qt_fail("fill: commit %08x: r = %d", msgid, r);
		printf("message %08x\n", msgid);
	}
	return 0;
}
