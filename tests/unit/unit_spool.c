/*
 * Temporary spools and the privilege drop for the in-process tests
 * (see unit_spool.h).
 */
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "check.h"
#include "log.h"
#include "qfp_test.h"
#include "proc_queue.h"
#include "records.h"
#include "recover.h"
#include "unit_spool.h"

uid_t		us_uid;
gid_t		us_gid;
char		us_rootonly[US_SPOOL_LEN];
struct us_mode	us_full = { STORE_SYNC_FULL, 0 }, us_log = { STORE_SYNC_FULL, 1 },
		us_none = { STORE_SYNC_NONE, 0 };

static char	us_base[64];
static int	us_nspools, us_next;

static const char *const us_topdirs[] = {
	"queue", "incoming", "corrupt", "purge", "temporary", "fs-proc"
};

/* ---- the spools, made as root ------------------------------------------- */

/* One spool as spool_prepare() would leave it, before the chroot. */
static int
make_spool(const char path[US_SPOOL_LEN])
{
	char	sub[US_SPOOL_LEN + 16];
	size_t	i;

	if (mkdir(path, 0711) == -1 || chmod(path, 0711) == -1)
		return qt_fail("mkdir %s: %s", path, strerror(errno));
	for (i = 0; i < sizeof(us_topdirs) / sizeof(us_topdirs[0]); i++) {
		snprintf(sub, sizeof(sub), "%s/%s", path, us_topdirs[i]);
		if (mkdir(sub, 0700) == -1 || chown(sub, us_uid, 0) == -1 ||
		    chmod(sub, 0700) == -1)
			return qt_fail("%s: %s", sub, strerror(errno));
	}
	return 0;
}

static int
make_spools(int n)
{
	char	path[US_SPOOL_LEN];
	int	fd, i;

	snprintf(us_base, sizeof(us_base), "/tmp/qfp-unit.XXXXXX");
	if (qt_spool_new(us_base) == -1)
		return -1;
	snprintf(us_rootonly, sizeof(us_rootonly), "%s/root-only", us_base);
	if ((fd = open(us_rootonly, O_WRONLY | O_CREAT | O_EXCL, 0600)) == -1)
		return qt_fail("%s: %s", us_rootonly, strerror(errno));
	close(fd);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%03d", us_base, i % 1000);
		if (make_spool(path) == -1)
			return -1;
	}
	us_nspools = n;
	return 0;
}

/* Become the queue user for good, as spool_drop() does. */
static int
drop(void)
{
	if (setgroups(1, &us_gid) == -1 ||
	    setresgid(us_gid, us_gid, us_gid) == -1 ||
	    setresuid(us_uid, us_uid, us_uid) == -1)
		return qt_fail("cannot drop to %s: %s", QT_USER,
		    strerror(errno));
	if (setuid(0) != -1 || geteuid() == 0)
		return qt_fail("could regain root after the drop");
	/* LeakSanitizer (check-asan) must be able to trace us */
	prctl(PR_SET_DUMPABLE, 1);
	return 0;
}

int
us_run(const char *name, const struct CMUnitTest *tests, size_t n)
{
	pid_t	pid;
	int	status, rc;

	if (qt_setup(0) == -1 || qt_user(QT_USER, &us_uid, &us_gid) == -1 ||
	    make_spools((int)n * 2 + 4) == -1) {
		fprintf(stderr, "%s: %s\n", name, qt_error);
		if (us_base[0] != '\0')
			qt_rmtree(us_base);
		return 1;
	}
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) == -1) {
		perror("fork");
		qt_rmtree(us_base);
		return 1;
	}
	if (pid == 0) {
		if (drop() == -1) {
			fprintf(stderr, "%s: %s\n", name, qt_error);
			_exit(1);
		}
		log_init(name, 1, 0);
		rc = _cmocka_run_group_tests(name, tests, n, NULL, NULL);
		fflush(stdout);
		_exit(rc == 0 ? 0 : 1);
	}
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	qt_rmtree(us_base);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

/* ---- per test ----------------------------------------------------------- */

void
us_store_open(struct us_test *t)
{
	int	root;

	/* O_PATH: the spool is root's, 0711, searchable but not readable */
	root = open(t->spool, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_int_not_equal(root, -1);
	assert_int_equal(store_open(&t->store, root, t->sync, 0), 0);
	close(root);
	/*
	 * The start as the daemon's (recover_start()), with -S none too;
	 * ordered: the in-place path runs, whatever /tmp's file system.
	 */
	if (t->log)
		assert_int_equal(recover_start(&t->store, US_LOG_SIZE, 1,
		    t->spool, NULL), 0);
	t->open = 1;
}

void
us_store_close(struct us_test *t)
{
	if (t->open)
		store_close(&t->store);
	t->open = 0;
}

int
us_setup(void **state)
{
	struct us_test	*t;

	if (us_next >= us_nspools) {
		fprintf(stderr, "out of temporary spools\n");
		return -1;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -1;
	t->sync = *state ? ((struct us_mode *)*state)->sync : STORE_SYNC_FULL;
	t->log = *state ? ((struct us_mode *)*state)->log : 0;
	snprintf(t->spool, sizeof(t->spool), "%s/%03d", us_base,
	    us_next++ % 1000);
	*state = t;
	us_store_open(t);
	return 0;
}

int
us_teardown(void **state)
{
	struct us_test	*t = *state;

	us_store_close(t);
	free(t);
	return 0;
}

/* ---- requests ----------------------------------------------------------- */

int
us_create(struct store *s, uint32_t *msgid)
{
	int	r = store_message_create(s, msgid);

	store_after_answer(s);
	return r;
}

int
us_commit_fd(struct store *s, uint32_t msgid, int fd)
{
	int	r = store_message_commit(s, msgid, fd);

	store_after_answer(s);
	return r;
}

/* smtpd's copy of the message: an unlinked file, passed read-only. */
int
us_commit(struct store *s, uint32_t msgid, const void *buf, size_t len)
{
	int	fd, r;

	fd = qt_tmp_message(NULL, buf, len);
	assert_int_not_equal(fd, -1);
	r = us_commit_fd(s, msgid, fd);
	close(fd);
	return r;
}

int
us_msg_delete(struct store *s, uint32_t msgid)
{
	int	r = store_message_delete(s, msgid);

	store_after_answer(s);
	return r;
}

int
us_fd_r(struct store *s, uint32_t msgid)
{
	int	fd = store_message_fd_r(s, msgid);

	store_after_answer(s);
	return fd;
}

int
us_evp_create_len(struct store *s, uint32_t msgid, const char *evp,
    size_t len, uint64_t *evpid)
{
	int	r = store_envelope_create(s, msgid, evp, len, evpid);

	store_after_answer(s);
	return r;
}

int
us_evp_create(struct store *s, uint32_t msgid, const char *evp,
    uint64_t *evpid)
{
	return us_evp_create_len(s, msgid, evp, strlen(evp), evpid);
}

int
us_evp_delete(struct store *s, uint64_t evpid)
{
	int	r = store_envelope_delete(s, evpid);

	store_after_answer(s);
	return r;
}

size_t
us_evp_load(struct store *s, uint64_t evpid, char *buf, size_t size)
{
	size_t	n = store_envelope_load(s, evpid, buf, size);

	store_after_answer(s);
	return n;
}

int
us_evp_update(struct store *s, uint64_t evpid, const char *evp)
{
	int	r = store_envelope_update(s, evpid, evp, strlen(evp));

	store_after_answer(s);
	return r;
}

int
us_walk(struct store *s, uint64_t *evpid, char *buf, size_t size)
{
	int	r = store_envelope_walk(s, evpid, buf, size);

	store_after_answer(s);
	return r;
}

void
us_evp_text(uint64_t evpid, char *buf, size_t size)
{
	snprintf(buf, size, "version: 3\nevpid: %016llx\nrcpt: r%llu@test\n",
	    (unsigned long long)evpid, (unsigned long long)(evpid & 0xffff));
}

void
us_content(uint32_t msgid, char *buf, size_t size)
{
	snprintf(buf, size, "Subject: %08x\n\nbody of %08x\n", msgid, msgid);
}

/*
 * Envelopes are made while the message is incoming, then their texts
 * are set to us_evp_text() (which names the evpid) by an update.
 */
uint32_t
us_message(struct store *s, int nevp, uint64_t *evpids)
{
	char		text[256];
	uint64_t	evpid;
	uint32_t	msgid;
	int		i;

	assert_int_equal(us_create(s, &msgid), 1);
	for (i = 0; i < nevp; i++) {
		assert_int_equal(us_evp_create(s, msgid, "new", &evpid), 1);
		if (evpids != NULL)
			evpids[i] = evpid;
	}
	us_content(msgid, text, sizeof(text));
	assert_int_equal(us_commit(s, msgid, text, strlen(text)), 1);
	for (i = 0; evpids != NULL && i < nevp; i++) {
		us_evp_text(evpids[i], text, sizeof(text));
		assert_int_equal(us_evp_update(s, evpids[i], text), 1);
	}
	return msgid;
}

/* ---- the spool on disk -------------------------------------------------- */

char *
us_msgdir(const char *spool, uint32_t msgid)
{
	return qt_pathf(spool, "%s", qt_msgdir(msgid));
}

char *
us_msgfile(const char *spool, uint32_t msgid)
{
	return qt_pathf(spool, "%s/message", qt_msgdir(msgid));
}

char *
us_evpfile(const char *spool, uint64_t evpid)
{
	return qt_pathf(spool, "%s", qt_evpfile(evpid));
}

char *
us_incoming(const char *spool, uint32_t msgid)
{
	return qt_pathf(spool, "incoming/%08x", msgid);
}

char *
us_tmpfile(const char *spool, uint32_t msgid)
{
	return qt_pathf(spool, "temporary/%08x", msgid);
}

mode_t
us_mode(const char *path)
{
	struct stat	sb;

	return lstat(path, &sb) == 0 ? sb.st_mode : 0;
}

char *
us_read_fd(int fd, size_t *len)
{
	char	*buf = NULL, *p;
	size_t	 cap = 0, got = 0;
	ssize_t	 n;

	for (;;) {
		if (got + 1 >= cap) {
			cap = cap ? cap * 2 : 4096;
			p = realloc(buf, cap);
			assert_non_null(p);
			buf = p;
		}
		n = read(fd, buf + got, cap - got - 1);
		assert_true(n >= 0);
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	if (len != NULL)
		*len = got;
	return buf;
}

char *
us_read(const char *path, size_t *len)
{
	char	*buf;
	int	 fd;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		fail_msg("cannot read %s: %s", path, strerror(errno));
	buf = us_read_fd(fd, len);
	close(fd);
	return buf;
}

void
us_write(const char *path, const void *buf, size_t len, mode_t mode)
{
	int	fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, mode);
	if (fd == -1)
		fail_msg("cannot write %s: %s", path, strerror(errno));
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static int	nfiles;

static int
count_one(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	if (flag == FTW_F && S_ISREG(sb->st_mode))
		nfiles++;
	return 0;
}

int
us_count_files(const char *dir)
{
	nfiles = 0;
	if (nftw(dir, count_one, 16, FTW_PHYS) == -1)
		return -1;
	return nfiles;
}

int
us_check(const char *spool, int repair, char **out)
{
	FILE	*f;
	int	 saved, rc;

	fflush(stdout);
	assert_non_null(f = tmpfile());
	assert_int_not_equal(saved = dup(STDOUT_FILENO), -1);
	assert_int_not_equal(dup2(fileno(f), STDOUT_FILENO), -1);
	rc = spool_check(spool, NULL, repair);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	rewind(f);
	*out = us_read_fd(fileno(f), NULL);
	fclose(f);
	/* shown in the test's log, for a failure to be read */
	fprintf(stderr, "%s", *out);
	return rc;
}

/* ---- crashes and what survives them (the log's tests) ------------------ */

/* A message with one envelope of text evp and the body given. */
uint32_t
us_plain_message(struct store *s, const char *evp, const char *body,
    size_t len, uint64_t *evpid)
{
	uint32_t	msgid;

	assert_int_equal(us_create(s, &msgid), 1);
	assert_int_equal(us_evp_create(s, msgid, evp, evpid), 1);
	assert_int_equal(us_commit(s, msgid, body, len), 1);
	return msgid;
}

/* The store dies: no exit checkpoint, the log stays as it is. */
void
us_crash(struct us_test *t)
{
	store_close_log(&t->store, 0);
	t->open = 0;
}

/* Empty queue/: the layout lost everything since the last checkpoint. */
void
us_lose_layout(const char *spool)
{
	struct dirent	*dp;
	DIR		*dir;
	/* a copy: qt_pathf()'s ring of buffers turns over in the loop */
	char		*queue = strdup(qt_pathf(spool, "queue"));

	assert_non_null(queue);
	assert_non_null(dir = opendir(queue));
	while ((dp = readdir(dir)) != NULL)
		if (dp->d_name[0] != '.')
			assert_int_equal(qt_rmtree(qt_pathf(queue, "%s",
			    dp->d_name)), 0);
	closedir(dir);
	free(queue);
}

void
us_assert_message(const char *spool, uint32_t msgid, const char *body,
    size_t len)
{
	char	*got;
	size_t	 n;

	got = us_read(us_msgfile(spool, msgid), &n);
	assert_int_equal(n, len);
	assert_memory_equal(got, body, len);
	free(got);
}

void
us_assert_envelope(const char *spool, uint64_t evpid, const char *text)
{
	char	*got;
	size_t	 n;

	got = us_read(us_evpfile(spool, evpid), &n);
	assert_int_equal(n, strlen(text));
	assert_memory_equal(got, text, n);
	free(got);
}

/* A body over the inline limit, its bytes depending on c. */
char *
us_big_body(size_t *len, int c)
{
	char	*body;

	*len = REC_INLINE_MAX + 4096;
	assert_non_null(body = malloc(*len));
	memset(body, c, *len);
	return body;
}

/*
 * A power failure kept what the in-place commit's fsync of the message
 * made durable (incoming/M, its message file, the record in the log)
 * but not the move into queue/: queue/XX/M goes back to incoming/M by
 * a rename, which keeps the file's inode and mtime, and the envelope
 * files lose their data.
 */
void
us_undo_move(const char *spool, uint32_t msgid, const uint64_t *evpid, int n)
{
	char	*in = strdup(us_incoming(spool, msgid));
	int	 i;

	assert_non_null(in);
	for (i = 0; i < n; i++)
		us_write(us_evpfile(spool, evpid[i]), "", 0, 0600);
	assert_int_equal(rename(us_msgdir(spool, msgid), in), 0);
	free(in);
}

/* What smtpd is served of msgid: its body and its envelopes. */
void
us_assert_served(struct store *s, uint32_t msgid, const char *body,
    size_t len, const uint64_t *evpid, const char *const *text, int n)
{
	char	 buf[PQ_EVP_MAX], *got;
	size_t	 glen;
	int	 fd, i;

	assert_int_not_equal(fd = us_fd_r(s, msgid), -1);
	got = us_read_fd(fd, &glen);
	close(fd);
	assert_int_equal(glen, len);
	assert_memory_equal(got, body, len);
	free(got);
	for (i = 0; i < n; i++) {
		assert_int_equal(us_evp_load(s, evpid[i], buf, sizeof(buf)),
		    strlen(text[i]));
		assert_memory_equal(buf, text[i], strlen(text[i]));
	}
}


/* Each of n messages has its message file in queue/. */
void
us_assert_queued(const char *spool, const uint32_t *msgid, int n)
{
	int	i;

	for (i = 0; i < n; i++)
		assert_true(qt_exists(us_msgfile(spool, msgid[i])));
}
