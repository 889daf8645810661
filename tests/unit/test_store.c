/*
 * In-process tests of the store (store.h) on a temporary spool, as the
 * queue user: every request through the public API, what it leaves on
 * disk in the built-in layout, and what it refuses.  Tests that write
 * run in both durability modes (_full, _none).  See unit_spool.h.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
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
#include "unit_spool.h"

#define T(st)		((struct us_test *)*(st))
#define S(st)		(&T(st)->store)
#define SPOOL(st)	(T(st)->spool)

/* A message of a few pages, different in every byte position. */
static char *
big_content(size_t len)
{
	char	*buf;
	size_t	 i;

	assert_non_null(buf = malloc(len));
	for (i = 0; i < len; i++)
		buf[i] = (char)('a' + (i * 7 + i / 251) % 26);
	return buf;
}

static void
assert_file(const char *path, const void *want, size_t len, mode_t mode)
{
	struct stat	 sb;
	char		*got;
	size_t		 n;

	assert_int_equal(lstat(path, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, mode);
	assert_int_equal(sb.st_uid, us_uid);
	got = us_read(path, &n);
	assert_int_equal(n, len);
	assert_memory_equal(got, want, len);
	free(got);
}

static void
assert_dir(const char *path)
{
	struct stat	sb;

	assert_int_equal(lstat(path, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0700);
	assert_int_equal(sb.st_uid, us_uid);
}

/* The tests run as the queue user, without any way back to root. */
static void
test_unprivileged(void **state)
{
	gid_t	groups[8];

	assert_int_equal(getuid(), us_uid);
	assert_int_equal(geteuid(), us_uid);
	assert_int_equal(getegid(), us_gid);
	assert_int_equal(getgroups(8, groups), 1);
	assert_int_equal(groups[0], us_gid);
	assert_int_equal(setuid(0), -1);
	assert_int_equal(open(us_rootonly, O_RDONLY), -1);
	assert_int_equal(errno, EACCES);
}

/* MESSAGE_CREATE: an incoming/MSGID directory, nothing in queue/. */
static void
test_create_incoming(void **state)
{
	uint32_t	a, b;

	assert_int_equal(us_create(S(state), &a), 1);
	assert_int_not_equal(a, 0);
	assert_dir(us_incoming(SPOOL(state), a));
	assert_int_equal(qt_count_entries(us_incoming(SPOOL(state), a)), 0);
	assert_false(qt_exists(us_msgdir(SPOOL(state), a)));
	assert_int_equal(us_create(S(state), &b), 1);
	assert_int_not_equal(b, a);
	assert_dir(us_incoming(SPOOL(state), b));
}

/*
 * The whole life of an incoming message: envelopes written into
 * incoming/MSGID, the commit copies the content and moves the
 * directory to queue/XX/MSGID, as the built-in queue lays it out.
 */
static void
test_commit_layout(void **state)
{
	const char	*spool = SPOOL(state);
	const char	*evp[2] = { "version: 3\nrcpt: a@x\n",
			    "version: 3\nrcpt: b@x\n" };
	uint64_t	 evpid[2];
	uint32_t	 msgid;
	size_t		 len = 200000;
	char		*content = big_content(len);
	int		 i;

	assert_int_equal(us_create(S(state), &msgid), 1);
	for (i = 0; i < 2; i++) {
		assert_int_equal(us_evp_create(S(state), msgid, evp[i],
		    &evpid[i]), 1);
		assert_int_equal(evpid[i] >> 32, msgid);
		assert_int_not_equal((uint32_t)evpid[i], 0);
		assert_file(qt_pathf(spool, "incoming/%08x/%016llx", msgid,
		    (unsigned long long)evpid[i]), evp[i], strlen(evp[i]),
		    0600);
	}
	assert_true(evpid[0] != evpid[1]);
	assert_int_equal(us_commit(S(state), msgid, content, len), 1);

	assert_false(qt_exists(us_incoming(spool, msgid)));
	assert_dir(qt_pathf(spool, "queue/%02x", msgid >> 24));
	assert_dir(us_msgdir(spool, msgid));
	assert_int_equal(qt_count_entries(us_msgdir(spool, msgid)), 3);
	assert_file(us_msgfile(spool, msgid), content, len, 0600);
	for (i = 0; i < 2; i++)
		assert_file(us_evpfile(spool, evpid[i]), evp[i],
		    strlen(evp[i]), 0600);
	free(content);
}

/* A commit needs an incoming message and a regular file. */
static void
test_commit_refused(void **state)
{
	uint32_t	msgid;
	int		p[2];

	assert_int_equal(us_commit(S(state), 0x12345678, "x", 1), 0);
	assert_false(qt_exists(us_msgdir(SPOOL(state), 0x12345678)));

	assert_int_equal(us_create(S(state), &msgid), 1);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "data", 4), 4);
	assert_int_equal(us_commit_fd(S(state), msgid, p[0]), 0);
	close(p[0]);
	close(p[1]);
	assert_true(qt_exists(us_incoming(SPOOL(state), msgid)));
	assert_false(qt_exists(us_msgdir(SPOOL(state), msgid)));
	/* still incoming: a good commit goes through */
	assert_int_equal(us_commit(S(state), msgid, "data", 4), 1);
	/* and a second commit of the same msgid does not */
	assert_int_equal(us_commit(S(state), msgid, "other", 5), 0);
	assert_file(us_msgfile(SPOOL(state), msgid), "data", 4, 0600);
}

/* The inode number of path (lstat), 0 if there is none. */
static ino_t
inode_of(const char *path)
{
	struct stat	sb;

	return lstat(path, &sb) == 0 ? sb.st_ino : 0;
}

/* smtpd's temporary/MSGID with content, and a read-only fd of it. */
static int
smtpd_tmpfile(const char *spool, uint32_t msgid, const char *content)
{
	int	fd;

	us_write(us_tmpfile(spool, msgid), content, strlen(content), 0600);
	assert_int_not_equal(fd = open(us_tmpfile(spool, msgid),
	    O_RDONLY | O_CLOEXEC), -1);
	return fd;
}

/*
 * As under smtpd: the fd is temporary/MSGID itself, so the commit
 * renames that very file (same inode) into queue/XX/MSGID/message and
 * temporary/MSGID is gone, as smtpd's unlink after the answer expects.
 */
static void
test_commit_rename(void **state)
{
	const char	*spool = SPOOL(state), *content = "Subject: r\n\nbody\n";
	uint32_t	 msgid;
	ino_t		 ino;
	int		 fd;

	assert_int_equal(us_create(S(state), &msgid), 1);
	fd = smtpd_tmpfile(spool, msgid, content);
	ino = inode_of(us_tmpfile(spool, msgid));
	assert_int_equal(us_commit_fd(S(state), msgid, fd), 1);
	close(fd);
	assert_int_equal(S(state)->commit_path, STORE_COMMIT_RENAMED);
	assert_false(qt_exists(us_tmpfile(spool, msgid)));
	assert_false(qt_exists(us_incoming(spool, msgid)));
	assert_true(inode_of(us_msgfile(spool, msgid)) == ino);
	assert_file(us_msgfile(spool, msgid), content, strlen(content), 0600);
	/* smtpd's unlink after the answer finds nothing and loses nothing */
	assert_int_equal(unlink(us_tmpfile(spool, msgid)), -1);
	assert_file(us_msgfile(spool, msgid), content, strlen(content), 0600);
}

/* No temporary/MSGID (smtpd of another spool): the fd is copied. */
static void
test_commit_copy_absent(void **state)
{
	const char	*spool = SPOOL(state);
	uint32_t	 msgid;

	assert_int_equal(us_create(S(state), &msgid), 1);
	assert_int_equal(us_commit(S(state), msgid, "absent", 6), 1);
	assert_int_equal(S(state)->commit_path, STORE_COMMIT_COPIED);
	assert_false(qt_exists(us_tmpfile(spool, msgid)));
	assert_file(us_msgfile(spool, msgid), "absent", 6, 0600);
}

/*
 * temporary/MSGID replaced after smtpd opened it: another file, so the
 * fd's content is copied and the other file is left alone.
 */
static void
test_commit_copy_replaced(void **state)
{
	const char	*spool = SPOOL(state);
	char		*other = qt_pathf(spool, "temporary/other");
	uint32_t	 msgid;
	ino_t		 ino;
	int		 fd;

	assert_int_equal(us_create(S(state), &msgid), 1);
	fd = smtpd_tmpfile(spool, msgid, "the fd's");
	us_write(other, "replaced", 8, 0600);
	assert_int_equal(rename(other, us_tmpfile(spool, msgid)), 0);
	ino = inode_of(us_tmpfile(spool, msgid));
	assert_int_equal(us_commit_fd(S(state), msgid, fd), 1);
	close(fd);
	assert_int_equal(S(state)->commit_path, STORE_COMMIT_COPIED);
	assert_file(us_msgfile(spool, msgid), "the fd's", 8, 0600);
	assert_true(inode_of(us_msgfile(spool, msgid)) != ino);
	assert_true(inode_of(us_tmpfile(spool, msgid)) == ino);
	assert_file(us_tmpfile(spool, msgid), "replaced", 8, 0600);
}

/*
 * temporary/MSGID a symlink to the fd's very file: never followed, so
 * copied; the link and its target stay as they were.
 */
static void
test_commit_copy_symlink(void **state)
{
	const char	*spool = SPOOL(state);
	char		 target[PATH_MAX];
	uint32_t	 msgid;
	ino_t		 ino;
	int		 fd;

	assert_int_equal(us_create(S(state), &msgid), 1);
	snprintf(target, sizeof(target), "%s", qt_pathf(spool,
	    "temporary/target"));
	us_write(target, "linked", 6, 0600);
	ino = inode_of(target);
	assert_int_not_equal(fd = open(target, O_RDONLY | O_CLOEXEC), -1);
	assert_int_equal(symlink("target", us_tmpfile(spool, msgid)), 0);
	assert_int_equal(us_commit_fd(S(state), msgid, fd), 1);
	close(fd);
	assert_int_equal(S(state)->commit_path, STORE_COMMIT_COPIED);
	assert_file(us_msgfile(spool, msgid), "linked", 6, 0600);
	assert_true(inode_of(us_msgfile(spool, msgid)) != ino);
	assert_true(S_ISLNK(us_mode(us_tmpfile(spool, msgid))));
	assert_true(inode_of(target) == ino);
}

/* MESSAGE_FD_R: a read-only fd of the committed content, queued only. */
static void
test_fd_r(void **state)
{
	uint64_t	 evpid;
	uint32_t	 msgid, other;
	size_t		 len = 70000, n;
	char		*content = big_content(len), *got;
	int		 fd;

	assert_int_equal(us_create(S(state), &msgid), 1);
	assert_int_equal(us_evp_create(S(state), msgid, "e", &evpid), 1);
	/* not committed yet: nothing to read */
	assert_int_equal(us_fd_r(S(state), msgid), -1);
	assert_int_equal(us_commit(S(state), msgid, content, len), 1);

	assert_int_not_equal(fd = us_fd_r(S(state), msgid), -1);
	assert_int_equal(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	got = us_read_fd(fd, &n);
	close(fd);
	assert_int_equal(n, len);
	assert_memory_equal(got, content, len);
	free(got);
	free(content);

	assert_int_equal(us_fd_r(S(state), msgid ^ 1), -1);
	assert_int_equal(us_create(S(state), &other), 1);
	assert_int_equal(us_fd_r(S(state), other), -1);
}

/* A message file that is a symbolic link or a FIFO is never opened. */
static void
test_fd_r_not_regular(void **state)
{
	const char	*spool = SPOOL(state);
	uint64_t	 evpid;
	uint32_t	 msgid;
	char		*msg;

	msgid = us_message(S(state), 1, &evpid);
	msg = strdup(us_msgfile(spool, msgid));
	assert_int_equal(rename(msg, qt_pathf(spool, "corrupt/saved")), 0);
	assert_int_equal(symlink(qt_pathf(spool, "corrupt/saved"), msg), 0);
	assert_int_equal(us_fd_r(S(state), msgid), -1);
	assert_int_equal(unlink(msg), 0);
	assert_int_equal(mkfifo(msg, 0600), 0);
	alarm(10);			/* a blocking open fails the test */
	assert_int_equal(us_fd_r(S(state), msgid), -1);
	alarm(0);
	free(msg);
}

/* MESSAGE_DELETE of an incoming message rolls it back. */
static void
test_message_delete(void **state)
{
	uint64_t	evpid;
	uint32_t	msgid, queued;

	assert_int_equal(us_create(S(state), &msgid), 1);
	assert_int_equal(us_evp_create(S(state), msgid, "e", &evpid), 1);
	assert_int_equal(us_msg_delete(S(state), msgid), 1);
	assert_false(qt_exists(us_incoming(SPOOL(state), msgid)));
	assert_int_equal(us_commit(S(state), msgid, "x", 1), 0);
	assert_false(qt_exists(us_msgdir(SPOOL(state), msgid)));
	assert_int_equal(us_msg_delete(S(state), msgid), 0);

	/* the store removes a queued message too, envelopes and all */
	queued = us_message(S(state), 2, NULL);
	assert_int_equal(us_msg_delete(S(state), queued), 1);
	assert_false(qt_exists(us_msgdir(SPOOL(state), queued)));
	assert_int_equal(us_fd_r(S(state), queued), -1);
}

/* ENVELOPE_CREATE on a queued message: in place at once, atomically. */
static void
test_envelope_create_queued(void **state)
{
	char		 buf[PQ_EVP_MAX], *big;
	uint64_t	 first, evpid, max;
	uint32_t	 msgid;

	msgid = us_message(S(state), 1, &first);
	assert_int_equal(us_evp_create(S(state), msgid, "later", &evpid), 1);
	assert_int_equal(evpid >> 32, msgid);
	assert_true(evpid != first);
	assert_file(us_evpfile(SPOOL(state), evpid), "later", 5, 0600);
	assert_int_equal(us_evp_load(S(state), evpid, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "later", 5);
	assert_int_equal(qt_count_entries(us_msgdir(SPOOL(state), msgid)), 3);
	assert_false(qt_exists(qt_pathf(SPOOL(state),
	    "incoming/envelope.tmp")));

	/* no message, and envelopes of 0 or too many bytes: refused */
	assert_int_equal(us_evp_create(S(state), msgid ^ 0x10, "x", &evpid),
	    0);
	big = big_content(PQ_EVP_MAX + 1);
	assert_int_equal(us_evp_create_len(S(state), msgid, big, 0, &evpid),
	    0);
	assert_int_equal(us_evp_create_len(S(state), msgid, big,
	    PQ_EVP_MAX + 1, &evpid), 0);
	assert_int_equal(qt_count_entries(us_msgdir(SPOOL(state), msgid)), 3);
	/* the largest that an answer can carry is accepted */
	assert_int_equal(us_evp_create_len(S(state), msgid, big, PQ_EVP_MAX,
	    &max), 1);
	assert_int_equal(us_evp_load(S(state), max, buf, sizeof(buf)),
	    PQ_EVP_MAX);
	assert_memory_equal(buf, big, PQ_EVP_MAX);
	free(big);
}

/* ENVELOPE_CREATE on an incoming message refuses what is too large. */
static void
test_envelope_create_incoming_size(void **state)
{
	uint64_t	evpid;
	uint32_t	msgid;
	char		*big = big_content(PQ_EVP_MAX + 1);

	assert_int_equal(us_create(S(state), &msgid), 1);
	assert_int_equal(us_evp_create_len(S(state), msgid, big, 0, &evpid),
	    0);
	assert_int_equal(us_evp_create_len(S(state), msgid, big,
	    PQ_EVP_MAX + 1, &evpid), 0);
	assert_int_equal(qt_count_entries(us_incoming(SPOOL(state), msgid)), 0);
	free(big);
}

/* ENVELOPE_UPDATE: by rename (an open reader keeps the old text). */
static void
test_envelope_update(void **state)
{
	const char	*spool = SPOOL(state);
	struct stat	 before, after;
	char		 buf[PQ_EVP_MAX], *old;
	uint64_t	 evpid[2];
	size_t		 n, oldlen;
	int		 fd;

	us_message(S(state), 2, evpid);
	old = us_read(us_evpfile(spool, evpid[0]), &oldlen);
	assert_int_equal(lstat(us_evpfile(spool, evpid[0]), &before), 0);
	fd = open(us_evpfile(spool, evpid[0]), O_RDONLY);
	assert_int_not_equal(fd, -1);

	assert_int_equal(us_evp_update(S(state), evpid[0], "updated text"),
	    1);
	n = us_evp_load(S(state), evpid[0], buf, sizeof(buf));
	assert_int_equal(n, 12);
	assert_memory_equal(buf, "updated text", 12);
	assert_file(us_evpfile(spool, evpid[0]), "updated text", 12, 0600);
	/* a new inode took the name: the reader sees the old one whole */
	assert_int_equal(lstat(us_evpfile(spool, evpid[0]), &after), 0);
	assert_true(before.st_ino != after.st_ino);
	free(us_read_fd(fd, &n));
	assert_int_equal(n, oldlen);
	close(fd);
	assert_false(qt_exists(qt_pathf(spool, "incoming/envelope.tmp")));
	assert_int_equal(us_count_files(qt_pathf(spool, "incoming")), 0);

	/* refused: nothing to update, or nothing to put there */
	assert_int_equal(store_envelope_update(S(state), evpid[1], "", 0), 0);
	store_after_answer(S(state));
	assert_int_equal(us_evp_update(S(state), evpid[1] ^ 0x100, "x"), 0);
	assert_false(qt_exists(us_evpfile(spool, evpid[1] ^ 0x100)));
	free(old);
}

/* An update must not bring back an envelope deleted before it. */
static void
test_envelope_update_deleted(void **state)
{
	uint64_t	evpid[2];
	uint32_t	msgid;
	char		buf[64];

	msgid = us_message(S(state), 2, evpid);
	assert_int_equal(us_evp_delete(S(state), evpid[0]), 1);
	assert_int_equal(us_evp_update(S(state), evpid[0], "back?"), 0);
	assert_false(qt_exists(us_evpfile(SPOOL(state), evpid[0])));
	assert_int_equal(us_evp_load(S(state), evpid[0], buf, sizeof(buf)),
	    0);
	/* nor a message gone with its last envelope */
	assert_int_equal(us_evp_delete(S(state), evpid[1]), 1);
	assert_int_equal(us_evp_update(S(state), evpid[1], "back?"), 0);
	assert_false(qt_exists(us_msgdir(SPOOL(state), msgid)));
}

/* ENVELOPE_DELETE: the last envelope of a message takes it along. */
static void
test_envelope_delete(void **state)
{
	const char	*spool = SPOOL(state);
	uint64_t	 evpid[3];
	uint32_t	 msgid, other;
	char		 buf[64];

	msgid = us_message(S(state), 3, evpid);
	other = us_message(S(state), 1, NULL);
	assert_int_equal(us_evp_delete(S(state), evpid[1]), 1);
	assert_false(qt_exists(us_evpfile(spool, evpid[1])));
	assert_int_equal(qt_count_entries(us_msgdir(spool, msgid)), 3);
	assert_int_equal(us_evp_delete(S(state), evpid[1]), 0);
	assert_int_equal(us_evp_load(S(state), evpid[1], buf, sizeof(buf)),
	    0);
	assert_int_equal(us_evp_delete(S(state), evpid[0]), 1);
	assert_true(qt_exists(us_msgdir(spool, msgid)));
	assert_int_equal(us_evp_delete(S(state), evpid[2]), 1);
	assert_false(qt_exists(us_msgdir(spool, msgid)));
	assert_int_equal(us_fd_r(S(state), msgid), -1);
	/* the other message is untouched */
	assert_int_equal(qt_count_entries(us_msgdir(spool, other)), 2);
}

/*
 * A message queued before a restart: its count of envelopes comes from
 * the directory, not from memory.
 */
static void
test_envelope_delete_after_restart(void **state)
{
	struct us_test	*t = T(state);
	uint64_t	 evpid[2];
	uint32_t	 msgid;

	msgid = us_message(&t->store, 2, evpid);
	us_store_close(t);
	us_store_open(t);
	assert_int_equal(us_evp_delete(&t->store, evpid[0]), 1);
	assert_true(qt_exists(us_msgdir(t->spool, msgid)));
	assert_int_equal(us_evp_delete(&t->store, evpid[1]), 1);
	assert_false(qt_exists(us_msgdir(t->spool, msgid)));
}

/* ENVELOPE_LOAD serves regular files of 1 to size bytes, nothing else. */
static void
test_load_refused(void **state)
{
	const char	*spool = SPOOL(state);
	char		 buf[PQ_EVP_MAX], *big;
	uint64_t	 evpid;
	uint32_t	 msgid;
	char		*path;

	msgid = us_message(S(state), 1, &evpid);
	assert_int_not_equal(us_evp_load(S(state), evpid, buf, sizeof(buf)),
	    0);
	/* missing */
	assert_int_equal(us_evp_load(S(state), evpid + 1, buf, sizeof(buf)),
	    0);
	assert_int_equal(us_evp_load(S(state), evpid ^ (1ULL << 40), buf,
	    sizeof(buf)), 0);

	path = us_evpfile(spool, (uint64_t)msgid << 32 | 0x100);
	big = big_content(PQ_EVP_MAX + 1);
	/* exactly the buffer: served; one byte more: refused */
	us_write(path, big, PQ_EVP_MAX, 0600);
	assert_int_equal(us_evp_load(S(state), (uint64_t)msgid << 32 | 0x100,
	    buf, sizeof(buf)), PQ_EVP_MAX);
	assert_memory_equal(buf, big, PQ_EVP_MAX);
	us_write(path, big, PQ_EVP_MAX + 1, 0600);
	assert_int_equal(us_evp_load(S(state), (uint64_t)msgid << 32 | 0x100,
	    buf, sizeof(buf)), 0);
	/* the same file into a smaller buffer */
	us_write(path, big, 100, 0600);
	assert_int_equal(us_evp_load(S(state), (uint64_t)msgid << 32 | 0x100,
	    buf, 99), 0);
	free(big);

	/* empty */
	us_write(path, "", 0, 0600);
	assert_int_equal(us_evp_load(S(state), (uint64_t)msgid << 32 | 0x100,
	    buf, sizeof(buf)), 0);
	/* a symbolic link to a good envelope */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink(us_evpfile(spool, evpid), path), 0);
	assert_int_equal(us_evp_load(S(state), (uint64_t)msgid << 32 | 0x100,
	    buf, sizeof(buf)), 0);
	/* a FIFO: refused without blocking */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkfifo(path, 0600), 0);
	alarm(10);
	assert_int_equal(us_evp_load(S(state), (uint64_t)msgid << 32 | 0x100,
	    buf, sizeof(buf)), 0);
	alarm(0);
	/* a directory */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(us_evp_load(S(state), (uint64_t)msgid << 32 | 0x100,
	    buf, sizeof(buf)), 0);
}

/*
 * The envelope of ENVELOPE_CREATE on an incoming message may be
 * written after the answer (store_after_answer): by the next request
 * it is on disk with its text, and the caller's buffer may be reused.
 */
static void
test_deferred_envelope(void **state)
{
	char		text[32], buf[64];
	uint64_t	evpid;
	uint32_t	msgid;

	assert_int_equal(us_create(S(state), &msgid), 1);
	strlcpy(text, "deferred envelope", sizeof(text));
	assert_int_equal(us_evp_create(S(state), msgid, text, &evpid), 1);
	memset(text, 'X', sizeof(text) - 1);
	assert_file(qt_pathf(SPOOL(state), "incoming/%08x/%016llx", msgid,
	    (unsigned long long)evpid), "deferred envelope", 17, 0600);
	assert_int_equal(us_commit(S(state), msgid, "m", 1), 1);
	assert_int_equal(us_evp_load(S(state), evpid, buf, sizeof(buf)), 17);
	assert_memory_equal(buf, "deferred envelope", 17);
}

/* Closing the store leaves no spare directory behind in incoming/. */
static void
test_close_clean(void **state)
{
	struct us_test	*t = T(state);
	uint32_t	 msgid;

	us_message(&t->store, 1, NULL);
	assert_int_equal(us_create(&t->store, &msgid), 1);
	assert_int_equal(us_msg_delete(&t->store, msgid), 1);
	us_store_close(t);
	assert_int_equal(qt_count_entries(qt_pathf(t->spool, "incoming")), 0);
}


int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unprivileged),
		BOTH(test_create_incoming),
		BOTH(test_commit_layout),
		ONE(test_commit_refused),
		BOTH(test_commit_rename),
		BOTH(test_commit_copy_absent),
		BOTH(test_commit_copy_replaced),
		BOTH(test_commit_copy_symlink),
		BOTH(test_fd_r),
		ONE(test_fd_r_not_regular),
		BOTH(test_message_delete),
		BOTH(test_envelope_create_queued),
		ONE(test_envelope_create_incoming_size),
		BOTH(test_envelope_update),
		BOTH(test_envelope_update_deleted),
		BOTH(test_envelope_delete),
		BOTH(test_envelope_delete_after_restart),
		ONE(test_load_refused),
		BOTH(test_deferred_envelope),
		ONE(test_close_clean),
	};

	return us_run("test_store", tests, sizeof(tests) / sizeof(tests[0]));
}
