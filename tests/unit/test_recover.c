/*
 * Recovery (recover.c), in process on a temporary spool: the ways a
 * real spool is operated after a crash.  Each test is one item of the
 * issue "Recovery you can trust" and failed on the code before it: a
 * log replayed over what the built-in queue did since, a -S none start
 * that ignored the log, two tools on one spool, a msgid reused while a
 * record named it, -L changed across a crash, an unreadable log taken
 * for none, a failed start that left the log live, -n -R without
 * log.0, answers that disagreed with the log.
 */
#include <sys/types.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "layout.h"
#include "proc_queue.h"
#include "recover.h"
#include "spool.h"
#include "store.h"
#include "unit_spool.h"
#include "wal.h"

#define T(st)		((struct us_test *)*(st))

/*
 * The random source, with one value that can be forced: the next
 * arc4random() call anywhere (a new msgid) returns it.
 */
static uint32_t	forced_random;

uint32_t
arc4random(void)
{
	uint32_t	r;

	if (forced_random != 0) {
		r = forced_random;
		forced_random = 0;
		return r;
	}
	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		abort();
	return r;
}

/*
 * pread() (linked with -Wl,--wrap=pread): every read of the file whose
 * inode is pread_fail_ino fails with EIO, as a disk's read error would.
 */
static ino_t	pread_fail_ino;

ssize_t	__real_pread(int, void *, size_t, off_t);
ssize_t	__wrap_pread(int, void *, size_t, off_t);

ssize_t
__wrap_pread(int fd, void *buf, size_t len, off_t off)
{
	struct stat	sb;

	if (pread_fail_ino != 0 && fstat(fd, &sb) == 0 &&
	    sb.st_ino == pread_fail_ino) {
		errno = EIO;
		return -1;
	}
	return __real_pread(fd, buf, len, off);
}

/*
 * Move the test to a spool of its own, owned by the test user (as the
 * daemon accepts when it is not started as root), so that it can do
 * what smtpd's built-in queue does as root to the spool itself.
 */
static void
own_spool(struct us_test *t)
{
	char	path[] = "/tmp/qfp-recover.XXXXXX";
	int	fd;

	us_store_close(t);
	assert_non_null(mkdtemp(path));
	assert_int_not_equal(fd = spool_prepare(path, NULL, 0), -1);
	close(fd);
	strlcpy(t->spool, path, sizeof(t->spool));
	us_store_open(t);
}

/* What smtpd's built-in queue does at start: incoming/ goes to purge/. */
static void
builtin_start(const char *spool)
{
	char	*in = strdup(qt_pathf(spool, "incoming"));

	assert_non_null(in);
	assert_int_equal(rename(in, qt_pathf(spool, "purge/%u",
	    (unsigned)arc4random())), 0);
	assert_int_equal(mkdir(in, 0700), 0);
	free(in);
}

/* How many log files of spool hold records to replay. */
static int
log_live(const char *spool)
{
	int	fd, n, stale;

	assert_int_not_equal(fd = open(spool, O_PATH | O_DIRECTORY), -1);
	n = wal_pending(fd, &stale);
	close(fd);
	return n;
}

/*
 * Item 1: a crash, then the built-in queue delivers one message and
 * updates another's envelope, then the helper again: the delivered
 * message does not come back, the update is not rolled back, and the
 * stale log is kept aside, not applied.
 */
static void
test_recover_builtin_between(void **state)
{
	struct us_test	*t = T(state);
	uint64_t	 a[2], b[1];
	uint32_t	 ma, mb;

	own_spool(t);
	ma = us_message(&t->store, 2, a);
	mb = us_message(&t->store, 1, b);
	us_crash(t);
	builtin_start(t->spool);
	assert_int_equal(qt_rmtree(us_msgdir(t->spool, ma)), 0);
	us_write(us_evpfile(t->spool, b[0]), "retried once", 12, 0600);

	us_store_open(t);
	assert_false(qt_exists(us_msgdir(t->spool, ma)));
	us_assert_envelope(t->spool, b[0], "retried once");
	assert_true(qt_exists(us_msgdir(t->spool, mb)));
	assert_true(qt_exists(qt_pathf(t->spool, "fs-proc/log.0.stale")));
	/* and the log the helper runs with now is its own */
	us_crash(t);
	us_lose_layout(t->spool);
	us_store_open(t);
	assert_false(qt_exists(us_msgdir(t->spool, mb)));
	us_store_close(t);
	assert_int_equal(qt_rmtree(t->spool), 0);
}

/*
 * Item 1, after a power failure: -R (the drop-in's ExecStartPre) first
 * replays what the layout lost, then the built-in queue delivers it,
 * then the helper starts: nothing comes back.
 */
static void
test_recover_power_then_builtin(void **state)
{
	struct us_test	*t = T(state);
	char		 body[128];
	uint64_t	 e[1];
	uint32_t	 m;

	own_spool(t);
	m = us_message(&t->store, 1, e);
	us_content(m, body, sizeof(body));
	us_crash(t);
	us_lose_layout(t->spool);
	assert_int_equal(recover_command(t->spool, NULL), 0);
	us_assert_message(t->spool, m, body, strlen(body));
	assert_int_equal(log_live(t->spool), 0);
	builtin_start(t->spool);
	assert_int_equal(qt_rmtree(us_msgdir(t->spool, m)), 0);
	us_store_open(t);
	assert_false(qt_exists(us_msgdir(t->spool, m)));
	/* with nothing to do, -R says so and succeeds */
	us_store_close(t);
	assert_int_equal(recover_command(t->spool, NULL), 0);
	assert_int_equal(qt_rmtree(t->spool), 0);
}

/*
 * Item 2: a -S none start after a crash replays the log (an in-place
 * body left in incoming/ included) before the purge, and retires it.
 */
static void
test_recover_none_replays(void **state)
{
	struct us_test	*t = T(state);
	static const char *const text[1] = { "rcpt big" };
	char		 body[128], *big;
	uint64_t	 e[1], eb[1];
	uint32_t	 m, mbig;
	size_t		 blen;

	m = us_message(&t->store, 1, e);
	us_content(m, body, sizeof(body));
	big = us_big_body(&blen, 'q');
	mbig = us_plain_message(&t->store, text[0], big, blen, eb);
	us_crash(t);
	us_undo_move(t->spool, mbig, eb, 1);
	us_lose_layout(t->spool);

	t->sync = STORE_SYNC_NONE;
	us_store_open(t);
	us_assert_message(t->spool, m, body, strlen(body));
	us_assert_served(&t->store, mbig, big, blen, eb, text, 1);
	assert_false(qt_exists(us_incoming(t->spool, mbig)));
	assert_int_equal(log_live(t->spool), 0);
	us_crash(t);
	/* retired: what is delivered now stays delivered */
	assert_int_equal(qt_rmtree(us_msgdir(t->spool, m)), 0);
	t->sync = STORE_SYNC_FULL;
	us_store_open(t);
	assert_false(qt_exists(us_msgdir(t->spool, m)));
	free(big);
}

/* Item 3: a helper holds the spool; -n, -R and another start refuse. */
static void
test_recover_lock(void **state)
{
	struct us_test	*t = T(state);
	char		*out, want[64];
	pid_t		 pid, holder;
	int		 p[2], fd, lock;
	char		 c;

	us_store_close(t);
	assert_int_equal(pipe(p), 0);
	assert_int_not_equal(fd = open(t->spool, O_PATH | O_DIRECTORY), -1);
	if ((pid = fork()) == 0) {
		if (recover_lock(fd, RECOVER_OWN, 0, &holder) < 0 ||
		    write(p[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	assert_int_equal(read(p[0], &c, 1), 1);
	snprintf(want, sizeof(want), "in use by queue-fs-proc pid %d",
	    (int)pid);
	assert_int_equal(us_check(t->spool, 0, &out), 1);
	assert_non_null(strstr(out, want));
	free(out);
	assert_int_equal(us_check(t->spool, 1, &out), 1);
	assert_non_null(strstr(out, want));
	free(out);
	assert_int_equal(recover_command(t->spool, NULL), 1);
	assert_int_equal(recover_lock(fd, RECOVER_OWN, 1, &holder), -2);
	assert_int_equal(holder, pid);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	assert_true((lock = recover_lock(fd, RECOVER_OWN, 0, &holder)) >= 0);
	close(lock);
	close(fd);
	close(p[0]);
	close(p[1]);
}

/*
 * Item 5: a msgid named by a live record is never handed out again,
 * even when its message is gone from the layout.
 */
static void
test_recover_msgid_not_reused(void **state)
{
	struct us_test	*t = T(state);
	uint64_t	 e[1];
	uint32_t	 old, next, again;

	old = us_message(&t->store, 1, e);
	assert_int_equal(us_evp_delete(&t->store, e[0]), 1);
	assert_false(qt_exists(us_msgdir(t->spool, old)));
	/* the spare made after this answer is asked to be old */
	forced_random = old;
	assert_int_equal(us_create(&t->store, &next), 1);
	assert_int_equal(forced_random, 0);
	assert_int_equal(us_create(&t->store, &again), 1);
	assert_int_not_equal(again, old);
	assert_false(qt_exists(us_incoming(t->spool, old)));
}

/*
 * Commit messages through a log of size until its records reach past
 * offset past in log.0 (at most max messages, all in log.0), crash,
 * lose the layout.  Returns how many messages m[] holds.
 */
static int
crash_with_log(struct us_test *t, off_t size, off_t past, uint32_t *m,
    int max)
{
	int	n, root;

	us_store_close(t);
	assert_int_not_equal(root = open(t->spool, O_PATH | O_DIRECTORY), -1);
	assert_int_equal(store_open(&t->store, root, STORE_SYNC_FULL, 0), 0);
	close(root);
	assert_int_equal(recover_start(&t->store, size, 1, t->spool, NULL),
	    0);
	t->open = 1;
	for (n = 0; n < max && t->store.wal.off <= past; n++)
		m[n] = us_message(&t->store, 1, NULL);
	assert_true(t->store.wal.off > past);
	assert_int_equal(t->store.wal.cur, 0);
	us_crash(t);
	us_lose_layout(t->spool);
	return n;
}

/*
 * Item 7: -L 1m, a crash, then -L 64k: every message comes back, those
 * whose records lie past the new size of 64k included (log.0 is read
 * with its own size, not -L's).
 */
static void
test_recover_log_size_changed(void **state)
{
	struct us_test	*t = T(state);
	uint32_t	 m[2000];
	int		 n;

	n = crash_with_log(t, 1024 * 1024, 2 * US_LOG_SIZE, m, 2000);
	us_store_open(t);
	us_assert_queued(t->spool, m, n);
}

/*
 * Fill log.0 until the log goes on in log.1, crash there, remove log.0:
 * the messages whose records are in log.1 only are *after[0..*n).
 */
static void
crash_in_log1(struct us_test *t, uint32_t *after, int *n)
{
	int	i;

	*n = 0;
	for (i = 0; i < 2000 && *n < 4; i++) {
		after[*n] = us_message(&t->store, 1, NULL);
		if (t->store.wal.cur == 1)
			(*n)++;
	}
	assert_int_equal(*n, 4);
	us_crash(t);
	assert_int_equal(unlink(qt_pathf(t->spool, "fs-proc/log.0")), 0);
}

/* Item 12: -n -R with log.0 missing replays log.1. */
static void
test_recover_repair_without_log0(void **state)
{
	struct us_test	*t = T(state);
	uint32_t	 after[4];
	char		*out;
	int		 n;

	crash_in_log1(t, after, &n);
	us_lose_layout(t->spool);
	assert_int_equal(us_check(t->spool, 1, &out), 0);
	free(out);
	us_assert_queued(t->spool, after, n);
}

/*
 * Item 9: the log is replayed, then its files cannot be made (fs-proc/
 * read-only here): the helper runs without a log, and the replayed log
 * is retired, never replayed again over newer state.
 */
static void
test_recover_cannot_begin_log(void **state)
{
	struct us_test	*t = T(state);
	char		*dir = strdup(qt_pathf(t->spool, "fs-proc"));
	uint32_t	 after[4];
	int		 n;

	assert_non_null(dir);
	crash_in_log1(t, after, &n);
	assert_int_equal(chmod(dir, 0500), 0);
	us_store_open(t);
	assert_int_equal(chmod(dir, 0700), 0);
	assert_false(t->store.logged);
	assert_true(qt_exists(us_msgfile(t->spool, after[0])));
	assert_int_equal(log_live(t->spool), 0);
	free(dir);
}

/* A start that must stop before it touches incoming/ (its leftover). */
static void
start_refused(struct us_test *t)
{
	int	root;

	assert_int_not_equal(root = open(t->spool, O_PATH | O_DIRECTORY), -1);
	assert_int_equal(store_open(&t->store, root, STORE_SYNC_FULL, 0), 0);
	assert_int_equal(recover_start(&t->store, US_LOG_SIZE, 1, t->spool,
	    NULL), -1);
	store_close(&t->store);
	close(root);
	assert_true(qt_exists(qt_pathf(t->spool, "incoming/leftover")));
}

/*
 * Item 8: a log file that cannot be opened stops the start (nothing
 * purged from incoming/), and -n says so; one that can be opened but
 * not read (an I/O error) stops it too, never taken for an empty log.
 */
static void
test_recover_unreadable_log(void **state)
{
	struct us_test	*t = T(state);
	char		*log = strdup(qt_pathf(t->spool, "fs-proc/log.0"));
	char		*out;
	struct stat	 sb;

	assert_non_null(log);
	us_message(&t->store, 1, NULL);
	us_crash(t);
	us_write(qt_pathf(t->spool, "incoming/leftover"), "x", 1, 0600);
	assert_int_equal(chmod(log, 0), 0);
	start_refused(t);
	assert_int_equal(us_check(t->spool, 0, &out), 1);
	assert_non_null(strstr(out, "cannot read the log"));
	free(out);
	assert_int_equal(recover_command(t->spool, NULL), 1);
	assert_int_equal(chmod(log, 0600), 0);

	/* opened, but its reads fail */
	assert_int_equal(stat(log, &sb), 0);
	pread_fail_ino = sb.st_ino;
	start_refused(t);
	assert_int_equal(log_live(t->spool), -1);
	pread_fail_ino = 0;

	us_store_open(t);
	assert_false(qt_exists(qt_pathf(t->spool, "incoming/leftover")));
	free(log);
}

/*
 * Item 11: an ENVELOPE_UPDATE answered r = 0 leaves nothing that the
 * replay would apply.
 */
static void
test_recover_failed_update(void **state)
{
	struct us_test	*t = T(state);
	char		*in = strdup(qt_pathf(t->spool, "incoming"));
	uint64_t	 e[1];

	assert_non_null(in);
	us_plain_message(&t->store, "v1", "body", 4, e);
	assert_int_equal(chmod(in, 0500), 0);
	assert_int_equal(us_evp_update(&t->store, e[0], "v2"), 0);
	assert_int_equal(chmod(in, 0700), 0);
	us_crash(t);
	us_store_open(t);
	us_assert_envelope(t->spool, e[0], "v1");
	free(in);
}

/*
 * Item 11: an envelope unlinked is answered 1 and logged, even when its
 * emptied message cannot be removed: the replay keeps it deleted.
 */
static void
test_recover_delete_logged(void **state)
{
	struct us_test	*t = T(state);
	char		*bucket;
	uint64_t	 e[1];
	uint32_t	 m;

	m = us_message(&t->store, 1, e);
	bucket = strdup(qt_pathf(t->spool, "queue/%02x", m >> 24));
	assert_non_null(bucket);
	assert_int_equal(chmod(bucket, 0300), 0);
	assert_int_equal(us_evp_delete(&t->store, e[0]), 1);
	assert_int_equal(chmod(bucket, 0700), 0);
	us_crash(t);
	us_lose_layout(t->spool);
	us_store_open(t);
	assert_false(qt_exists(us_evpfile(t->spool, e[0])));
	free(bucket);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		US_TEST(test_recover_builtin_between, log),
		US_TEST(test_recover_power_then_builtin, log),
		US_TEST(test_recover_none_replays, log),
		US_TEST(test_recover_lock, log),
		US_TEST(test_recover_msgid_not_reused, log),
		US_TEST(test_recover_log_size_changed, log),
		US_TEST(test_recover_repair_without_log0, log),
		US_TEST(test_recover_cannot_begin_log, log),
		US_TEST(test_recover_unreadable_log, log),
		US_TEST(test_recover_failed_update, log),
		US_TEST(test_recover_delete_logged, log),
	};

	return us_run("test_recover", tests, sizeof(tests) / sizeof(tests[0]));
}
