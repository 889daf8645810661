/*
 * A failed barrier stops the helper (item 6 of "Recovery you can
 * trust"; sio_barrier()), and an update's record is synced by the
 * flush that follows it.  Linked with -Wl,--wrap of fsync, fdatasync
 * and syncfs: the wrappers fail the Nth call of one of them from when
 * the test arms it, with EIO, as a disk's writeback error would.
 *
 * The kernel reports a writeback error once per open file, so a retry
 * "succeeds" over lost data: after a failure nothing may be marked dead
 * or answered.  A child serves messages and reports each acknowledged
 * one on a pipe; it must die at the failure, never acknowledge the
 * request whose barrier failed or anything after it, and leave the log
 * live, so that the next start replays every acknowledged message.
 */
#include <sys/types.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "recover.h"
#include "store.h"
#include "unit_spool.h"
#include "wal.h"

#define T(st)		((struct us_test *)*(st))

enum barrier { B_FSYNC, B_FDATASYNC, B_SYNCFS };

static int	fail_in[3];	/* fail the Nth call from now; 0: never */
static int	calls[3];	/* calls made, failed or not */

int	__real_fsync(int);
int	__real_fdatasync(int);
int	__real_syncfs(int);
int	__wrap_fsync(int);
int	__wrap_fdatasync(int);
int	__wrap_syncfs(int);

static int
failing(enum barrier b)
{
	calls[b]++;
	if (fail_in[b] == 0 || --fail_in[b] != 0)
		return 0;
	errno = EIO;
	return 1;
}

int
__wrap_fsync(int fd)
{
	return failing(B_FSYNC) ? -1 : __real_fsync(fd);
}

int
__wrap_fdatasync(int fd)
{
	return failing(B_FDATASYNC) ? -1 : __real_fdatasync(fd);
}

int
__wrap_syncfs(int fd)
{
	return failing(B_SYNCFS) ? -1 : __real_syncfs(fd);
}

/*
 * One message through the store as smtpd sends it, without cmocka (a
 * child): its msgid if acknowledged, else 0.
 */
static uint32_t
child_message(struct store *s, int i)
{
	char		evp[64], body[256];
	uint64_t	evpid;
	uint32_t	msgid;
	int		fd, ok;

	if (store_message_create(s, &msgid) != 1)
		return 0;
	store_after_answer(s);
	snprintf(evp, sizeof(evp), "rcpt %d", i);
	if (store_envelope_create(s, msgid, evp, strlen(evp), &evpid) != 1)
		return 0;
	store_after_answer(s);
	memset(body, 'a' + i % 26, sizeof(body));
	if ((fd = memfd_create("message", 0)) == -1 ||
	    write(fd, body, sizeof(body)) != (ssize_t)sizeof(body))
		return 0;
	ok = store_message_commit(s, msgid, fd);
	close(fd);
	store_after_answer(s);
	return ok == 1 ? msgid : 0;
}

/*
 * Serve up to n messages with barrier b failing at its Nth call from
 * after the start; write each acknowledged msgid to fd.  Never returns.
 */
static void __attribute__((noreturn))
child(struct us_test *t, enum barrier b, int nth, int n, int fd)
{
	uint32_t	msgid;
	int		root, i;

	if ((root = open(t->spool, O_PATH | O_DIRECTORY)) == -1 ||
	    store_open(&t->store, root, STORE_SYNC_FULL, 0) == -1 ||
	    recover_start(&t->store, US_LOG_SIZE, 1, t->spool, NULL) == -1)
		_exit(3);
	fail_in[b] = nth;
	for (i = 0; i < n; i++) {
		if ((msgid = child_message(&t->store, i)) == 0)
			_exit(2);
		if (write(fd, &msgid, sizeof(msgid)) != sizeof(msgid))
			_exit(3);
	}
	_exit(0);
}

/*
 * Run the child; returns how many messages it acknowledged (in acked),
 * and checks that it stopped with exit status 1 (fatal()).
 */
static int
run_child(struct us_test *t, enum barrier b, int nth, int n,
    uint32_t *acked)
{
	pid_t	pid;
	int	p[2], status, k = 0;

	us_store_close(t);
	assert_int_equal(pipe(p), 0);
	if ((pid = fork()) == 0) {
		close(p[0]);
		child(t, b, nth, n, p[1]);
	}
	close(p[1]);
	while (k < n && read(p[0], &acked[k], sizeof(*acked)) ==
	    sizeof(*acked))
		k++;
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
	return k;
}

/* Every acknowledged message is there after a start (and a replay). */
static void
assert_all_back(struct us_test *t, const uint32_t *acked, int k)
{
	us_lose_layout(t->spool);
	us_store_open(t);
	us_assert_queued(t->spool, acked, k);
}

/*
 * The fdatasync of a commit's record fails: that commit is never
 * acknowledged, nor anything after it; the log stays live.
 */
static void
test_barrier_record(void **state)
{
	struct us_test	*t = T(state);
	uint32_t	 acked[20];
	int		 k;

	k = run_child(t, B_FDATASYNC, 3, 20, acked);
	assert_int_equal(k, 2);
	assert_all_back(t, acked, k);
}

/*
 * The checkpoint's syncfs() fails at the first switch of the log: the
 * full file is never marked dead over what it could not write, and no
 * request is answered after it.
 */
static void
test_barrier_checkpoint(void **state)
{
	struct us_test	*t = T(state);
	uint32_t	 acked[400];
	int		 fd, k, n, stale;

	k = run_child(t, B_SYNCFS, 1, 400, acked);
	assert_true(k > 10 && k < 400);
	assert_int_not_equal(fd = open(t->spool, O_PATH | O_DIRECTORY), -1);
	n = wal_pending(fd, &stale);
	close(fd);
	assert_int_equal(n, 1);
	assert_all_back(t, acked, k);
}

/*
 * An update's record is answered unsynced (store_envelope_update()) and
 * synced by store_flush(), which the main loop calls within
 * WAL_FLUSH_MS; a flush whose fdatasync fails stops the process too.
 */
static void
test_update_flushed(void **state)
{
	struct us_test	*t = T(state);
	uint64_t	 evpid;
	pid_t		 pid;
	int		 n, status;

	(void)us_message(&t->store, 1, &evpid);	/* its update: unsynced */
	assert_int_equal(store_unsynced(&t->store), 1);
	store_flush(&t->store);
	assert_int_equal(store_unsynced(&t->store), 0);
	n = calls[B_FDATASYNC];
	assert_int_equal(store_envelope_update(&t->store, evpid, "later", 5),
	    1);
	assert_int_equal(calls[B_FDATASYNC], n);
	assert_int_equal(store_unsynced(&t->store), 1);
	store_flush(&t->store);
	assert_int_equal(calls[B_FDATASYNC], n + 1);
	assert_int_equal(store_unsynced(&t->store), 0);
	store_flush(&t->store);
	assert_int_equal(calls[B_FDATASYNC], n + 1);

	assert_int_equal(store_envelope_update(&t->store, evpid, "again", 5),
	    1);
	if ((pid = fork()) == 0) {
		fail_in[B_FDATASYNC] = 1;
		store_flush(&t->store);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		US_TEST(test_barrier_record, log),
		US_TEST(test_barrier_checkpoint, log),
		US_TEST(test_update_flushed, log),
	};

	return us_run("test_barrier", tests, sizeof(tests) / sizeof(tests[0]));
}
