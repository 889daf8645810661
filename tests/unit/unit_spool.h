/*
 * In-process tests of the store, the walk and the spool check: each
 * test gets a temporary spool made as the daemon's start-up makes it
 * (the spool root's, 0711; queue/, incoming/, corrupt/, purge/ and
 * smtpd's temporary/ owned by
 * the queue user, group 0, mode 0700), and the tests run as that
 * unprivileged user, so that none can pass because root ignores
 * permissions.
 *
 * us_run() is a test program's main: as root it makes the user
 * (tests/lib's QT_USER) and the spools, then forks; the child drops to
 * the user for good (setgroups, setresgid, setresuid) and runs the
 * cmocka group; the parent removes the spools and exits as the child
 * did.  The store's log goes to standard error.
 *
 * The request helpers (us_create, us_commit, ...) call one store
 * function and then store_after_answer(), as dispatch.c does after it
 * has sent each answer: the store's deferred work runs where it runs in
 * the daemon.  Paths are built here, independently of the store's own
 * naming code.
 */
#ifndef QFP_UNIT_SPOOL_H
#define QFP_UNIT_SPOOL_H

#include <sys/types.h>

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "qfp_test.h"
#include "store.h"

struct CMUnitTest;

#define US_SPOOL_LEN	128	/* "/tmp/qfp-unit.XXXXXX/NNN" */

/* How a test's store syncs: the mode, and the log (full sync only). */
struct us_mode {
	enum store_sync	 sync;
	int		 log;
};

/* The log's file size in tests: small, so that tests fill it. */
#define US_LOG_SIZE	(64 * 1024)

/* Per test: its spool, and a store opened on it (us_store_open). */
struct us_test {
	char		 spool[US_SPOOL_LEN];
	enum store_sync	 sync;
	int		 log;
	struct store	 store;
	int		 open;
};

extern uid_t	us_uid;		/* the queue user the tests run as */
extern gid_t	us_gid;
extern char	us_rootonly[US_SPOOL_LEN];	/* a root-only file, 0600 */

int	us_run(const char *name, const struct CMUnitTest *, size_t);

/*
 * cmocka set-up and tear-down: a fresh spool, the store open on it in
 * the mode the test's initial state asks for (&us_full: full sync in
 * the layout, without the log; &us_log: full sync through a log of
 * US_LOG_SIZE; &us_none; NULL for full), closed and left for us_run()
 * to remove afterwards.
 */
extern struct us_mode us_full, us_log, us_none;
int	us_setup(void **state);
int	us_teardown(void **state);
/* A test on a spool with the store open, in one mode or in both. */
#define US_TEST(f, mode) { .name = #f " (" #mode ")", .test_func = f, \
	.setup_func = us_setup, .teardown_func = us_teardown, \
	.initial_state = &us_##mode }
#define ONE(f)	US_TEST(f, full), US_TEST(f, log)
#define BOTH(f)	US_TEST(f, full), US_TEST(f, log), US_TEST(f, none)
void	us_store_open(struct us_test *);
void	us_store_close(struct us_test *);

/* ---- requests, each followed by store_after_answer() ------------------ */

int	us_create(struct store *, uint32_t *msgid);
int	us_commit(struct store *, uint32_t msgid, const void *, size_t);
int	us_commit_fd(struct store *, uint32_t msgid, int fd);
int	us_msg_delete(struct store *, uint32_t msgid);
int	us_fd_r(struct store *, uint32_t msgid);
int	us_evp_create(struct store *, uint32_t msgid, const char *,
	    uint64_t *evpid);
int	us_evp_create_len(struct store *, uint32_t msgid, const char *,
	    size_t, uint64_t *evpid);
int	us_evp_delete(struct store *, uint64_t evpid);
size_t	us_evp_load(struct store *, uint64_t evpid, char *, size_t);
int	us_evp_update(struct store *, uint64_t evpid, const char *);
int	us_walk(struct store *, uint64_t *evpid, char *, size_t);

/*
 * A committed message with nevp envelopes, their texts "evp N of
 * MSGID" (us_evp_text); its content is us_content(msgid).  Fails the
 * test on any error.
 */
uint32_t us_message(struct store *, int nevp, uint64_t *evpids);
void	us_evp_text(uint64_t evpid, char *buf, size_t size);
void	us_content(uint32_t msgid, char *buf, size_t size);

/* ---- the spool on disk -------------------------------------------------- */

/*
 * Paths in a spool, in tests/lib's ring of buffers (qt_pathf); there
 * also qt_exists() and qt_count_entries().
 */
char	*us_msgdir(const char *spool, uint32_t msgid);	/* queue/XX/MSGID */
char	*us_msgfile(const char *spool, uint32_t msgid);	/* .../message */
char	*us_evpfile(const char *spool, uint64_t evpid);
char	*us_incoming(const char *spool, uint32_t msgid);
char	*us_tmpfile(const char *spool, uint32_t msgid);	/* smtpd's */

mode_t	 us_mode(const char *path);	/* st_mode from lstat, 0 if none */
/* The whole file, NUL added (not counted); fails the test if unreadable. */
char	*us_read(const char *path, size_t *len);
char	*us_read_fd(int fd, size_t *len);
void	 us_write(const char *path, const void *, size_t, mode_t);
/* Regular files anywhere below dir. */
int	 us_count_files(const char *dir);

/*
 * spool_check(spool, NULL, repair) with its standard output captured:
 * returns its exit code, *out the text (free it).
 */
int	 us_check(const char *spool, int repair, char **out);

/* ---- crashes and what survives them (the log's tests) ------------------ */

/* A message with one envelope of text evp and the body given. */
uint32_t us_plain_message(struct store *, const char *evp, const char *body,
	    size_t len, uint64_t *evpid);
/* The store dies: no exit checkpoint, the log stays as it is. */
void	us_crash(struct us_test *);
/* Empty queue/: the layout lost everything since the last checkpoint. */
void	us_lose_layout(const char *spool);
void	us_assert_message(const char *spool, uint32_t msgid, const char *,
	    size_t);
void	us_assert_envelope(const char *spool, uint64_t evpid, const char *);
/* A body over the inline limit, its bytes depending on c. */
char	*us_big_body(size_t *len, int c);
/* A power failure kept an in-place body in incoming/M, not its move. */
void	us_undo_move(const char *spool, uint32_t msgid, const uint64_t *evpid,
	    int n);
/* Each of n messages has its message file in queue/. */
void	us_assert_queued(const char *spool, const uint32_t *msgid, int n);
/* What smtpd is served of msgid: its body and its envelopes. */
void	us_assert_served(struct store *, uint32_t msgid, const char *body,
	    size_t len, const uint64_t *evpid, const char *const *text, int n);

#endif
