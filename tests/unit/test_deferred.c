/*
 * The store's work after the answer (deferred.c) on a spool in a
 * temporary directory: ENVELOPE_CREATE of an incoming message answers
 * before the envelope is written, and the request's bytes live in the
 * imsg read buffer, which the next read reuses.  Each test overwrites
 * the caller's buffer after store_envelope_create() returns, as that
 * read would, and then checks that the file holds the envelope as it
 * was sent: it fails if the store keeps a pointer to the caller's bytes
 * instead of a copy.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "proc_queue.h"
#include "store.h"

#define EVP_A	"version: 3\nrcpt: a@example.org\n"
#define EVP_B	"version: 3\nrcpt: b@example.org\n"

struct spool {
	char		dir[64];
	int		fd;
	struct store	s;
};

static int
setup(void **state)
{
	struct spool	*sp;
	char		 path[128];
	const char	*sub[] = { "queue", "incoming", "corrupt" };
	size_t		 i;

	sp = calloc(1, sizeof(*sp));
	assert_non_null(sp);
	strlcpy(sp->dir, "/tmp/qfp-deferred.XXXXXX", sizeof(sp->dir));
	assert_non_null(mkdtemp(sp->dir));
	for (i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", sp->dir, sub[i]);
		assert_int_equal(mkdir(path, 0700), 0);
	}
	sp->fd = open(sp->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(sp->fd != -1);
	assert_int_equal(store_open(&sp->s, sp->fd, STORE_SYNC_NONE, 0), 0);
	*state = sp;
	return 0;
}

static int
teardown(void **state)
{
	struct spool	*sp = *state;
	char		 cmd[128];

	close(sp->fd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", sp->dir);
	assert_int_equal(system(cmd), 0);
	free(sp);
	return 0;
}

/* Assert that incoming/MSGID/EVPID holds exactly want. */
static void
assert_incoming_evp(struct spool *sp, uint64_t evpid, const char *want)
{
	char	path[256], got[PQ_EVP_MAX];
	ssize_t	n;
	int	fd;

	snprintf(path, sizeof(path), "%s/incoming/%08x/%016llx", sp->dir,
	    (uint32_t)(evpid >> 32), (unsigned long long)evpid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd != -1);
	n = read(fd, got, sizeof(got));
	close(fd);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(got, want, strlen(want));
}

/* A request's bytes, in a buffer the test reuses like imsgbuf_read(). */
static uint64_t
create_then_reuse(struct spool *sp, uint32_t msgid, char *rbuf,
    const char *evp)
{
	uint64_t	evpid = 0;
	size_t		len = strlen(evp);

	memcpy(rbuf, evp, len);
	assert_int_equal(store_envelope_create(&sp->s, msgid, rbuf, len,
	    &evpid), 1);
	assert_int_equal(evpid >> 32, msgid);
	/* the next request arrives in the same buffer */
	memset(rbuf, 'X', PQ_EVP_MAX);
	return evpid;
}

static uint32_t
new_message(struct spool *sp)
{
	uint32_t	msgid = 0;

	assert_int_equal(store_message_create(&sp->s, &msgid), 1);
	assert_true(msgid != 0);
	store_after_answer(&sp->s);
	return msgid;
}

/*
 * One envelope, the buffer reused, then written by the usual
 * after_answer (at_close 0) or by closing the store (at_close 1).
 */
static void
write_after_reuse(struct spool *sp, int at_close)
{
	static char	rbuf[PQ_EVP_MAX];
	uint32_t	msgid = new_message(sp);
	uint64_t	evpid;

	evpid = create_then_reuse(sp, msgid, rbuf, EVP_A);
	if (!at_close) {
		store_after_answer(&sp->s);
		assert_incoming_evp(sp, evpid, EVP_A);
	}
	store_close(&sp->s);
	assert_incoming_evp(sp, evpid, EVP_A);
}

/* The usual order: answer, after_answer, next request. */
static void
test_written_after_buffer_reuse(void **state)
{
	write_after_reuse(*state, 0);
}

/* Closing the store writes what was answered. */
static void
test_written_at_close(void **state)
{
	write_after_reuse(*state, 1);
}

/* A caller that skips after_answer: the next create writes the first. */
static void
test_skipped_after_answer(void **state)
{
	struct spool	*sp = *state;
	static char	 rbuf[PQ_EVP_MAX];
	uint32_t	 msgid = new_message(sp);
	uint64_t	 a, b;

	a = create_then_reuse(sp, msgid, rbuf, EVP_A);
	b = create_then_reuse(sp, msgid, rbuf, EVP_B);
	assert_true(a != b);
	assert_incoming_evp(sp, a, EVP_A);
	store_after_answer(&sp->s);
	assert_incoming_evp(sp, b, EVP_B);
	store_close(&sp->s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_written_after_buffer_reuse,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_skipped_after_answer,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_written_at_close,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
