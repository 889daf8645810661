/*
 * Every request and its answer against the real daemon, in both
 * framings; the spool it leaves; and the failures smtpd must see as
 * r = 0 (tempfail), an empty LOAD or no fd, with the daemon still up.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

#define NEVP	3

static int
setup_A(void **state)
{
	return setup_with(state, "-F A", IMSG_DIALECT_A);
}

static int
setup_B(void **state)
{
	return setup_with(state, "-F B", IMSG_DIALECT_B);
}

/* A message body larger than one copy chunk, with every byte value. */
static char *
make_body(size_t *len)
{
	char	*b;
	size_t	 i, n = 200000;

	b = malloc(n);
	assert_non_null(b);
	n = (size_t)snprintf(b, n, "From: a@example.org\r\nTo: "
	    "b@example.org\r\nSubject: conformance\r\n\r\n");
	for (i = n; i < 200000; i++)
		b[i] = (char)(i * 7 + i / 251);
	*len = 200000;
	return b;
}

static void
assert_spool_file(struct qt_daemon *q, const char *want, size_t wantlen,
    const char *path)
{
	size_t	 len;
	char	*got;

	got = spool_read(q, &len, "%s", path);
	assert_bytes(got, len, want, wantlen);
	free(got);
}

static void
assert_load(struct qt_daemon *q, uint64_t evpid, const char *want,
    size_t wantlen)
{
	char	buf[PQ_EVP_MAX + 64];
	int	n;

	n = pq_envelope_load(&q->c, evpid, buf, sizeof(buf));
	assert_int_equal(n, (int)wantlen);
	assert_memory_equal(buf, want, wantlen);
}

static void
assert_fd_r(struct qt_daemon *q, uint32_t msgid, const char *want,
    size_t wantlen)
{
	size_t	 len;
	char	*got;
	int	 fd;

	fd = pq_message_fd_r(&q->c, msgid);
	assert_true(fd >= 0);
	/* smtpd only reads it; it must not be able to change the spool */
	assert_int_equal(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
	got = qt_pread_fd(fd, &len);
	close(fd);
	assert_bytes(got, len, want, wantlen);
	free(got);
}

static char *
evp_path(uint32_t msgid, uint64_t evpid)
{
	return relf("%s/%016llx", msgdir(msgid), (unsigned long long)evpid);
}

/* create, 3 envelopes while incoming, commit: what is in the spool. */
static uint32_t
lifecycle_commit(struct qt_daemon *q, const char *body, size_t bodylen,
    uint64_t *evpids, char **evps, size_t *evplens)
{
	uint32_t	msgid;
	int		i, j, fd;

	assert_int_equal(pq_message_create(&q->c, &msgid), 1);
	assert_int_not_equal(msgid, 0);
	assert_true(spool_exists(q, "incoming/%08x", msgid));
	for (i = 0; i < NEVP; i++) {
		evps[i] = evp_text(100 + (uint32_t)i, &evplens[i]);
		assert_int_equal(pq_envelope_create(&q->c, msgid, evps[i],
		    evplens[i], &evpids[i]), 1);
		assert_int_equal(evpids[i] >> 32, msgid);
		assert_int_not_equal((uint32_t)evpids[i], 0);
		for (j = 0; j < i; j++)
			assert_int_not_equal(evpids[i], evpids[j]);
	}
	fd = tmp_message(body, bodylen);
	assert_int_equal(pq_message_commit(&q->c, msgid, fd), 1);
	close(fd);

	assert_spool_file(q, body, bodylen, relf("%s/message",
	    msgdir(msgid)));
	assert_int_equal(spool_count_evps(q, msgid), NEVP);
	for (i = 0; i < NEVP; i++)
		assert_spool_file(q, evps[i], evplens[i],
		    evp_path(msgid, evpids[i]));
	assert_int_equal(spool_count_incoming(q), 0);
	return msgid;
}

static void
lifecycle(void **state)
{
	struct qt_daemon	*q = *state;
	uint64_t	 evpids[NEVP + 1];
	char		*evps[NEVP + 1], *body, *upd;
	size_t		 evplens[NEVP + 1], bodylen, updlen;
	uint32_t	 msgid;
	uint64_t	 walked;
	char		 buf[64];
	int		 i;

	body = make_body(&bodylen);
	msgid = lifecycle_commit(q, body, bodylen, evpids, evps, evplens);
	assert_fd_r(q, msgid, body, bodylen);
	for (i = 0; i < NEVP; i++)
		assert_load(q, evpids[i], evps[i], evplens[i]);

	/* UPDATE replaces the bytes atomically and leaves no temp file */
	upd = evp_text(999, &updlen);
	assert_int_equal(pq_envelope_update(&q->c, evpids[0], upd, updlen), 1);
	assert_load(q, evpids[0], upd, updlen);
	assert_spool_file(q, upd, updlen, evp_path(msgid, evpids[0]));
	assert_int_equal(spool_count_incoming(q), 0);

	/* a bounce or a new recipient on committed mail */
	evps[NEVP] = evp_text(200, &evplens[NEVP]);
	assert_int_equal(pq_envelope_create(&q->c, msgid, evps[NEVP],
	    evplens[NEVP], &evpids[NEVP]), 1);
	assert_int_equal(evpids[NEVP] >> 32, msgid);
	assert_load(q, evpids[NEVP], evps[NEVP], evplens[NEVP]);
	assert_int_equal(spool_count_evps(q, msgid), NEVP + 1);

	/* nothing existed at start: the walk is over at once */
	assert_int_equal(pq_envelope_walk(&q->c, &walked, buf, sizeof(buf)),
	    -1);
	assert_int_equal(pq_close(&q->c), 1);

	for (i = 0; i <= NEVP; i++) {
		assert_true(spool_exists(q, "%s/message", msgdir(msgid)));
		assert_int_equal(pq_envelope_delete(&q->c, evpids[i]), 1);
		assert_int_equal(spool_count_evps(q, msgid),
		    i == NEVP ? -1 : NEVP - i);
	}
	/* the last envelope took the message with it */
	assert_false(spool_exists(q, "%s", msgdir(msgid)));
	assert_int_equal(pq_message_fd_r(&q->c, msgid), -1);
	assert_int_equal(pq_envelope_load(&q->c, evpids[1], buf, sizeof(buf)),
	    0);
	assert_int_equal(qd_stop(q), 0);

	for (i = 0; i <= NEVP; i++)
		free(evps[i]);
	free(upd);
	free(body);
}

static void
test_lifecycle_A(void **state)
{
	lifecycle(state);
}

static void
test_lifecycle_B(void **state)
{
	lifecycle(state);
}

/* The built-in queue's ownership: smtpd (queue user) must use it too. */
static void
assert_owned(struct qt_daemon *q, const char *rel, uid_t uid, mode_t type)
{
	struct stat	sb;

	assert_int_equal(lstat(spool_path(q, "%s", rel), &sb), 0);
	assert_int_equal(sb.st_mode & S_IFMT, type);
	assert_int_equal(sb.st_uid, uid);
	/* nothing in the spool is for anybody else */
	assert_int_equal(sb.st_mode & 077, 0);
}

static void
assert_queue_dir(struct qt_daemon *q, const char *rel, uid_t uid)
{
	struct stat	sb;

	assert_int_equal(lstat(spool_path(q, "%s", rel), &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	assert_int_equal(sb.st_uid, uid);
	assert_int_equal(sb.st_gid, 0);
	assert_int_equal(sb.st_mode & 07777, 0700);
}

static void
test_spool_layout(void **state)
{
	struct qt_daemon	*q = *state;
	struct passwd	*pw = getpwnam(QFP_USER);
	struct stat	 sb;
	uint64_t	 evpids[2], inevpid;
	uint32_t	 msgid, inmsgid;
	char		*d;

	assert_non_null(pw);
	/* one message received but not committed, one queued */
	assert_int_equal(pq_message_create(&q->c, &inmsgid), 1);
	assert_int_equal(pq_envelope_create(&q->c, inmsgid, "e", 1,
	    &inevpid), 1);
	msgid = make_message(q, "Subject: layout\n\nbody\n", 2, evpids);

	/* the spool itself stays root's */
	assert_int_equal(lstat(q->spool, &sb), 0);
	assert_int_equal(sb.st_uid, 0);
	assert_int_equal(sb.st_mode & 07777, 0711);
	assert_queue_dir(q, "queue", pw->pw_uid);
	assert_queue_dir(q, "incoming", pw->pw_uid);
	/* smtpd's queue process clears purge/ as the queue user */
	assert_queue_dir(q, "purge", pw->pw_uid);

	d = msgdir(msgid);
	assert_owned(q, relf("queue/%02x", msgid >> 24), pw->pw_uid, S_IFDIR);
	assert_owned(q, d, pw->pw_uid, S_IFDIR);
	assert_owned(q, relf("%s/message", d), pw->pw_uid, S_IFREG);
	assert_owned(q, evp_path(msgid, evpids[0]), pw->pw_uid, S_IFREG);
	assert_owned(q, evp_path(msgid, evpids[1]), pw->pw_uid, S_IFREG);
	assert_owned(q, relf("incoming/%08x", inmsgid), pw->pw_uid, S_IFDIR);
	assert_owned(q, relf("incoming/%08x/%016llx", inmsgid,
	    (unsigned long long)inevpid), pw->pw_uid, S_IFREG);
	/* the message dir holds the message and the envelopes, no more */
	assert_int_equal(spool_count(q, d), 3);
	assert_alive(q);
}

/* Ids nobody created: every request fails softly. */
static void
test_unknown_ids(void **state)
{
	struct qt_daemon	*q = *state;
	uint64_t	 evpid, evpids[2], bogus;
	uint32_t	 msgid, other;
	char		 buf[256], *before;
	int		 fd;

	msgid = make_message(q, "Subject: x\n\ny\n", 2, evpids);
	other = msgid ^ 0x00a5a5a5;
	before = spool_listing(q);

	fd = tmp_message("x", 1);
	assert_int_equal(pq_message_commit(&q->c, other, fd), 0);
	close(fd);
	assert_int_equal(pq_message_delete(&q->c, other), 0);
	assert_int_equal(pq_message_fd_r(&q->c, other), -1);
	assert_int_equal(pq_envelope_create(&q->c, other, "e", 1, &evpid), 0);

	/* unknown envelope of a known message, and of an unknown one */
	bogus = (uint64_t)msgid << 32 | ((uint32_t)evpids[0] ^ 0x5a5a5a5a);
	assert_int_equal(pq_envelope_load(&q->c, bogus, buf, sizeof(buf)), 0);
	assert_int_equal(pq_envelope_update(&q->c, bogus, "e", 1), 0);
	assert_int_equal(pq_envelope_delete(&q->c, bogus), 0);
	bogus = (uint64_t)other << 32 | 1;
	assert_int_equal(pq_envelope_load(&q->c, bogus, buf, sizeof(buf)), 0);
	assert_int_equal(pq_envelope_update(&q->c, bogus, "e", 1), 0);
	assert_int_equal(pq_envelope_delete(&q->c, bogus), 0);

	/* the failures touched nothing */
	assert_string_equal(spool_listing(q), before);
	free(before);
	assert_alive(q);
	assert_int_equal(qd_stop(q), 0);
}

static void
test_delete_twice(void **state)
{
	struct qt_daemon	*q = *state;
	uint64_t	 evpids[3];
	uint32_t	 msgid;
	char		 buf[256];

	msgid = make_message(q, "Subject: x\n\ny\n", 3, evpids);
	assert_int_equal(pq_envelope_delete(&q->c, evpids[0]), 1);
	assert_int_equal(pq_envelope_delete(&q->c, evpids[0]), 0);
	assert_int_equal(spool_count_evps(q, msgid), 2);

	/* an update must not bring a deleted envelope back */
	assert_int_equal(pq_envelope_update(&q->c, evpids[0], "new", 3), 0);
	assert_int_equal(pq_envelope_load(&q->c, evpids[0], buf, sizeof(buf)),
	    0);
	assert_false(spool_exists(q, "%s", evp_path(msgid, evpids[0])));
	assert_int_equal(spool_count_evps(q, msgid), 2);

	/* nor of a message that is gone */
	assert_int_equal(pq_envelope_delete(&q->c, evpids[1]), 1);
	assert_int_equal(pq_envelope_delete(&q->c, evpids[2]), 1);
	assert_int_equal(spool_count_evps(q, msgid), -1);
	assert_int_equal(pq_envelope_delete(&q->c, evpids[2]), 0);
	assert_int_equal(pq_envelope_update(&q->c, evpids[2], "new", 3), 0);
	assert_false(spool_exists(q, "%s", msgdir(msgid)));
	assert_int_equal(spool_count_incoming(q), 0);
	assert_alive(q);
}

/* 0 is never a msgid, nor either half of an evpid. */
static void
test_zero_ids(void **state)
{
	struct qt_daemon	*q = *state;
	uint64_t	 evpids[1], evpid, lowzero, highzero;
	uint32_t	 msgid;
	char		 buf[256], *before;
	int		 fd;

	msgid = make_message(q, "Subject: x\n\ny\n", 1, evpids);
	before = spool_listing(q);

	fd = tmp_message("x", 1);
	assert_int_equal(pq_message_commit(&q->c, 0, fd), 0);
	close(fd);
	assert_int_equal(pq_message_delete(&q->c, 0), 0);
	assert_int_equal(pq_message_fd_r(&q->c, 0), -1);
	assert_int_equal(pq_envelope_create(&q->c, 0, "e", 1, &evpid), 0);

	lowzero = (uint64_t)msgid << 32;
	highzero = (uint32_t)evpids[0];
	assert_int_equal(pq_envelope_delete(&q->c, lowzero), 0);
	assert_int_equal(pq_envelope_delete(&q->c, highzero), 0);
	assert_int_equal(pq_envelope_load(&q->c, lowzero, buf, sizeof(buf)),
	    0);
	assert_int_equal(pq_envelope_load(&q->c, highzero, buf, sizeof(buf)),
	    0);
	assert_int_equal(pq_envelope_update(&q->c, lowzero, "e", 1), 0);
	assert_int_equal(pq_envelope_update(&q->c, highzero, "e", 1), 0);

	assert_string_equal(spool_listing(q), before);
	free(before);
	assert_alive(q);
}

static void
test_envelope_sizes(void **state)
{
	struct qt_daemon	*q = *state;
	char		*big, buf[PQ_EVP_MAX + 64];
	uint64_t	 evpid, evpid2, walked;
	uint32_t	 msgid;
	size_t		 i;
	int		 fd;

	big = malloc(PQ_EVP_MAX + 2);	/* big + 1 is sent PQ_EVP_MAX + 1 long */
	assert_non_null(big);
	for (i = 0; i <= PQ_EVP_MAX + 1; i++)
		big[i] = (char)(i % 253);

	assert_int_equal(pq_message_create(&q->c, &msgid), 1);
	assert_int_equal(pq_envelope_create(&q->c, msgid, big, 0, &evpid), 0);
	assert_int_equal(pq_envelope_create(&q->c, msgid, big, PQ_EVP_MAX + 1,
	    &evpid), 0);
	assert_int_equal(pq_envelope_create(&q->c, msgid, big, PQ_EVP_MAX,
	    &evpid), 1);
	assert_int_equal(pq_init(&q->c), 1);	/* written after the answer */
	assert_int_equal(spool_count(q, relf("incoming/%08x", msgid)), 1);
	fd = tmp_message("x\n", 2);
	assert_int_equal(pq_message_commit(&q->c, msgid, fd), 1);
	close(fd);
	assert_int_equal(pq_envelope_load(&q->c, evpid, buf, sizeof(buf)),
	    PQ_EVP_MAX);
	assert_memory_equal(buf, big, PQ_EVP_MAX);

	/* the same limits on committed mail and on update */
	assert_int_equal(pq_envelope_create(&q->c, msgid, big, 0, &evpid2), 0);
	assert_int_equal(pq_envelope_create(&q->c, msgid, big, PQ_EVP_MAX + 1,
	    &evpid2), 0);
	assert_int_equal(pq_envelope_update(&q->c, evpid, big, 0), 0);
	assert_int_equal(pq_envelope_update(&q->c, evpid, big + 1,
	    PQ_EVP_MAX + 1), 0);
	assert_int_equal(pq_envelope_update(&q->c, evpid, big + 1,
	    PQ_EVP_MAX), 1);
	assert_int_equal(pq_envelope_load(&q->c, evpid, buf, sizeof(buf)),
	    PQ_EVP_MAX);
	assert_memory_equal(buf, big + 1, PQ_EVP_MAX);
	assert_int_equal(spool_count_evps(q, msgid), 1);
	assert_int_equal(spool_count_incoming(q), 0);

	/* the largest envelope also fits the largest WALK answer */
	qfp_restart(q);
	assert_int_equal(pq_envelope_walk(&q->c, &walked, buf, sizeof(buf)),
	    PQ_EVP_MAX);
	assert_int_equal(walked, evpid);
	assert_memory_equal(buf, big + 1, PQ_EVP_MAX);
	assert_int_equal(pq_envelope_walk(&q->c, &walked, buf, sizeof(buf)),
	    -1);
	free(big);
	assert_alive(q);
}

/*
 * An incoming envelope is written after its answer.  When that write
 * fails, the message is withdrawn: its commit fails, smtpd tempfails
 * the mail, and nothing of it reaches queue/.
 */
static void
test_incoming_write_fails(void **state)
{
	struct qt_daemon	*q = *state;
	uint64_t	 evpid, evpids[NEVP];
	char		*evps[NEVP];
	size_t		 evplens[NEVP];
	uint32_t	 msgid;
	int		 fd, i;

	assert_int_equal(pq_message_create(&q->c, &msgid), 1);
	/* the daemon is the queue user: it cannot write there now */
	assert_int_equal(chmod(spool_path(q, "incoming/%08x", msgid), 0500),
	    0);
	qd_log_mark(q);
	assert_int_equal(pq_envelope_create(&q->c, msgid, "a", 1, &evpid), 1);
	assert_int_equal(evpid >> 32, msgid);
	fd = tmp_message("x\n", 2);
	assert_int_equal(pq_message_commit(&q->c, msgid, fd), 0);
	close(fd);
	assert_true(qd_log_has(q, "withdrawing", NULL, NULL));
	assert_false(spool_exists(q, "incoming/%08x", msgid));
	assert_false(spool_exists(q, "%s", msgdir(msgid)));
	assert_int_equal(pq_envelope_create(&q->c, msgid, "b", 1, &evpid), 0);

	/* the next message goes through */
	(void)lifecycle_commit(q, "y\n", 2, evpids, evps, evplens);
	for (i = 0; i < NEVP; i++)
		free(evps[i]);
	assert_alive(q);
}

/* MESSAGE_DELETE of an incoming message is smtpd's rollback. */
static void
test_rollback(void **state)
{
	struct qt_daemon	*q = *state;
	uint64_t	 evpid;
	uint32_t	 msgid;
	int		 fd;

	assert_int_equal(pq_message_create(&q->c, &msgid), 1);
	assert_int_equal(pq_envelope_create(&q->c, msgid, "a", 1, &evpid), 1);
	assert_int_equal(pq_envelope_create(&q->c, msgid, "b", 1, &evpid), 1);
	assert_true(spool_exists(q, "incoming/%08x", msgid));
	assert_int_equal(pq_message_delete(&q->c, msgid), 1);
	assert_false(spool_exists(q, "incoming/%08x", msgid));
	assert_int_equal(spool_count_incoming(q), 0);

	/* it is gone for every later request */
	fd = tmp_message("x", 1);
	assert_int_equal(pq_message_commit(&q->c, msgid, fd), 0);
	close(fd);
	assert_int_equal(pq_envelope_create(&q->c, msgid, "c", 1, &evpid), 0);
	assert_int_equal(pq_message_delete(&q->c, msgid), 0);
	assert_false(spool_exists(q, "%s", msgdir(msgid)));
	assert_alive(q);
}

/* A second commit of the same message has nothing to commit. */
static void
test_commit_twice(void **state)
{
	struct qt_daemon	*q = *state;
	uint32_t	 msgid;
	char		*got;
	size_t		 len;
	int		 fd;

	msgid = make_message(q, "first\n", 1, NULL);
	fd = tmp_message("second\n", 7);
	assert_int_equal(pq_message_commit(&q->c, msgid, fd), 0);
	close(fd);
	got = spool_read(q, &len, "%s/message", msgdir(msgid));
	assert_bytes(got, len, "first\n", 6);
	free(got);

	/* nor is an incoming message readable before its commit */
	assert_int_equal(pq_message_create(&q->c, &msgid), 1);
	assert_int_equal(pq_message_fd_r(&q->c, msgid), -1);
	assert_alive(q);
}

/* The commit fd must be a regular file: smtpd's is. */
static void
test_commit_not_regular(void **state)
{
	struct qt_daemon	*q = *state;
	uint64_t	 evpid;
	uint32_t	 msgid;
	int		 p[2], fd;

	assert_int_equal(pq_message_create(&q->c, &msgid), 1);
	assert_int_equal(pq_envelope_create(&q->c, msgid, "e", 1, &evpid), 1);

	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "data\n", 5), 5);
	assert_int_equal(pq_message_commit(&q->c, msgid, p[0]), 0);
	close(p[0]);
	close(p[1]);

	fd = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pq_message_commit(&q->c, msgid, fd), 0);
	close(fd);

	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pq_message_commit(&q->c, msgid, fd), 0);
	close(fd);

	/* still incoming, still committable */
	assert_false(spool_exists(q, "%s", msgdir(msgid)));
	assert_true(spool_exists(q, "incoming/%08x", msgid));
	fd = tmp_message("data\n", 5);
	assert_int_equal(pq_message_commit(&q->c, msgid, fd), 1);
	close(fd);
	assert_true(spool_exists(q, "%s/message", msgdir(msgid)));
	assert_alive(q);
}

/* smtpd exiting closes the socket: the helper follows, exit 0. */
static void
test_peer_close(void **state)
{
	struct qt_daemon	*q = *state;
	uint32_t	 msgid;

	make_message(q, "x\n", 1, NULL);
	/* with a message half received, too */
	assert_int_equal(pq_message_create(&q->c, &msgid), 1);
	assert_int_equal(qd_stop(q), 0);
	assert_false(qd_log_has(q, "malformed", NULL, NULL));
	/* the directory made in advance for the next message went too */
	assert_int_equal(spool_count(q, "incoming"), 1);
	assert_true(spool_exists(q, "incoming/%08x", msgid));

	/* and right after INIT, with nothing done */
	qfp_start_init(q);
	assert_int_equal(qd_stop(q), 0);

	/* and before INIT */
	qfp_start(q);
	assert_int_equal(qd_stop(q), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lifecycle_A, setup_A,
		    teardown),
		cmocka_unit_test_setup_teardown(test_lifecycle_B, setup_B,
		    teardown),
		TEST(test_spool_layout),
		TEST(test_unknown_ids),
		TEST(test_delete_twice),
		TEST(test_zero_ids),
		TEST(test_envelope_sizes),
		TEST(test_rollback),
		TEST(test_incoming_write_fails),
		TEST(test_commit_twice),
		TEST(test_commit_not_regular),
		TEST(test_peer_close),
	};

	return cmocka_run_group_tests(tests, qt_group_setup, NULL);
}
