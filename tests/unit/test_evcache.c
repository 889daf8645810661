/*
 * The envelopes the store holds in memory (evcache.c), on a spool in a
 * temporary directory: those of an incoming message, written after
 * their answer and kept until its commit builds its record, and copies
 * of queued ones that loads and updates are served from.  The request's bytes live in the imsg read buffer,
 * which the next read reuses: the tests overwrite the caller's buffer
 * after store_envelope_create() returns, as that read would, so they
 * fail if the store keeps a pointer to the caller's bytes.
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
	strlcpy(sp->dir, "/tmp/qfp-evcache.XXXXXX", sizeof(sp->dir));
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

/* Assert that dir/MSGID-or-path/EVPID holds exactly want. */
static void
assert_file_holds(const char *path, const char *want)
{
	char	got[PQ_EVP_MAX];
	ssize_t	n;
	int	fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd != -1);
	n = read(fd, got, sizeof(got));
	close(fd);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(got, want, strlen(want));
}

static char *
queued_evp_path(struct spool *sp, uint64_t evpid, char *path, size_t size)
{
	uint32_t	msgid = evpid >> 32;

	snprintf(path, size, "%s/queue/%02x/%08x/%016llx", sp->dir,
	    msgid >> 24, msgid, (unsigned long long)evpid);
	return path;
}

static int
count_entries(const char *path)
{
	char	cmd[300], out[32];
	FILE	*p;
	int	n = -1;

	snprintf(cmd, sizeof(cmd), "ls -A '%s' | wc -l", path);
	p = popen(cmd, "r");
	assert_non_null(p);
	if (fgets(out, sizeof(out), p) != NULL)
		n = atoi(out);
	pclose(p);
	return n;
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
	store_after_answer(&sp->s);
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

static void
commit(struct spool *sp, uint32_t msgid)
{
	char	path[128];
	int	fd;

	snprintf(path, sizeof(path), "%s/body", sp->dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd != -1);
	assert_int_equal(write(fd, "body\n", 5), 5);
	assert_int_equal(store_message_commit(&sp->s, msgid, fd), 1);
	close(fd);
	unlink(path);
	store_after_answer(&sp->s);
}

/* A message with envelopes A and B, committed. */
static uint32_t
queued_message(struct spool *sp, uint64_t *a, uint64_t *b)
{
	static char	rbuf[PQ_EVP_MAX];
	uint32_t	msgid = new_message(sp);

	*a = create_then_reuse(sp, msgid, rbuf, EVP_A);
	*b = create_then_reuse(sp, msgid, rbuf, EVP_B);
	commit(sp, msgid);
	return msgid;
}

/*
 * The envelopes of an incoming message are written after their answer
 * as they were sent, and held in memory until the commit, which leaves
 * nothing pinned.
 */
static void
test_written_by_commit(void **state)
{
	struct spool	*sp = *state;
	static char	 rbuf[PQ_EVP_MAX];
	char		 path[256];
	uint32_t	 msgid = new_message(sp);
	uint64_t	 a, b;

	a = create_then_reuse(sp, msgid, rbuf, EVP_A);
	b = create_then_reuse(sp, msgid, rbuf, EVP_B);
	assert_true(a != b);
	snprintf(path, sizeof(path), "%s/incoming/%08x", sp->dir, msgid);
	assert_int_equal(count_entries(path), 2);
	snprintf(path, sizeof(path), "%s/incoming/%08x/%016llx", sp->dir,
	    msgid, (unsigned long long)a);
	assert_file_holds(path, EVP_A);
	assert_int_equal(sp->s.evc.pinned_bytes, strlen(EVP_A) +
	    strlen(EVP_B));
	commit(sp, msgid);
	assert_file_holds(queued_evp_path(sp, a, path, sizeof(path)), EVP_A);
	assert_file_holds(queued_evp_path(sp, b, path, sizeof(path)), EVP_B);
	assert_int_equal(sp->s.evc.pinned_bytes, 0);
	assert_int_equal(sp->s.evc.clean_bytes, strlen(EVP_A) +
	    strlen(EVP_B));
	store_close(&sp->s);
}

/*
 * An envelope that cannot be written after its answer (a file is in
 * its place) withdraws its message: no longer incoming, no envelope
 * taken for it, its commit refused, nothing of it held.
 */
static void
test_withdrawn(void **state)
{
	struct spool	*sp = *state;
	static char	 rbuf[PQ_EVP_MAX];
	char		 path[256];
	uint32_t	 msgid = new_message(sp);
	uint64_t	 evpid = 0;
	int		 fd;

	memcpy(rbuf, EVP_A, strlen(EVP_A));
	assert_int_equal(store_envelope_create(&sp->s, msgid, rbuf,
	    strlen(EVP_A), &evpid), 1);
	snprintf(path, sizeof(path), "%s/incoming/%08x/%016llx", sp->dir,
	    msgid, (unsigned long long)evpid);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd != -1);
	close(fd);
	store_after_answer(&sp->s);
	snprintf(path, sizeof(path), "%s/incoming/%08x", sp->dir, msgid);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(sp->s.evc.pinned_bytes, 0);
	assert_int_equal(store_envelope_create(&sp->s, msgid, EVP_B,
	    strlen(EVP_B), &evpid), 0);
	store_after_answer(&sp->s);
	snprintf(path, sizeof(path), "%s/body", sp->dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd != -1);
	assert_int_equal(store_message_commit(&sp->s, msgid, fd), 0);
	close(fd);
	store_close(&sp->s);
}

/* MESSAGE_DELETE of an incoming message forgets its envelopes. */
static void
test_rollback_forgets(void **state)
{
	struct spool	*sp = *state;
	static char	 rbuf[PQ_EVP_MAX];
	uint32_t	 msgid = new_message(sp);
	uint64_t	 evpid;

	(void)create_then_reuse(sp, msgid, rbuf, EVP_A);
	assert_int_equal(store_message_delete(&sp->s, msgid), 1);
	assert_int_equal(sp->s.evc.pinned_bytes, 0);
	assert_null(evc_first_of(&sp->s.evc, msgid));
	/* no longer incoming: no envelope can be added */
	assert_int_equal(store_envelope_create(&sp->s, msgid, EVP_B,
	    strlen(EVP_B), &evpid), 0);
	store_close(&sp->s);
}

/*
 * Loads of what the store wrote are served from memory (the file is
 * not read: removed behind the store's back, it is still served);
 * an update replaces what is held, a deletion forgets it.
 */
static void
test_load_update_delete(void **state)
{
	struct spool	*sp = *state;
	char		 path[256], buf[PQ_EVP_MAX];
	uint64_t	 a, b;

	(void)queued_message(sp, &a, &b);
	assert_int_equal(unlink(queued_evp_path(sp, a, path, sizeof(path))),
	    0);
	assert_int_equal(store_envelope_load(&sp->s, a, buf, sizeof(buf)),
	    strlen(EVP_A));
	assert_memory_equal(buf, EVP_A, strlen(EVP_A));

	assert_int_equal(store_envelope_update(&sp->s, b, "updated", 7), 1);
	assert_file_holds(queued_evp_path(sp, b, path, sizeof(path)),
	    "updated");
	assert_int_equal(store_envelope_load(&sp->s, b, buf, sizeof(buf)), 7);
	assert_memory_equal(buf, "updated", 7);

	assert_int_equal(store_envelope_delete(&sp->s, b), 1);
	assert_null(evc_get(&sp->s.evc, b));
	assert_int_equal(store_envelope_load(&sp->s, b, buf, sizeof(buf)), 0);
	/* a buffer too small for what is held: not served from memory */
	assert_int_equal(store_envelope_load(&sp->s, a, buf, 4), 0);
	store_close(&sp->s);
}

/* Clean entries stay under EVC_CLEAN_MAX, oldest out; pinned ones stay. */
static void
test_clean_bounded(void **state)
{
	static char		 blob[PQ_EVP_MAX];
	struct evcache		 c;
	uint64_t		 i, n = 2 * EVC_CLEAN_MAX / sizeof(blob);

	(void)state;
	evc_init(&c);
	assert_int_equal(evc_put(&c, 7ULL << 32 | 1, "pinned", 6, 1), 0);
	for (i = 1; i <= n; i++)
		assert_int_equal(evc_put(&c, 9ULL << 32 | i, blob,
		    sizeof(blob), 0), 0);
	assert_true(c.clean_bytes <= EVC_CLEAN_MAX);
	assert_true(c.clean_bytes > EVC_CLEAN_MAX - sizeof(blob));
	assert_null(evc_get(&c, 9ULL << 32 | 1));
	assert_non_null(evc_get(&c, 9ULL << 32 | n));
	assert_non_null(evc_get(&c, 7ULL << 32 | 1));
	assert_int_equal(c.pinned_bytes, 6);
	evc_free(&c);
	assert_int_equal(c.clean_bytes, 0);
	assert_int_equal(c.pinned_bytes, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_written_by_commit,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollback_forgets,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_withdrawn,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_update_delete,
		    setup, teardown),
		cmocka_unit_test(test_clean_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
