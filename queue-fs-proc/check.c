/*
 * Check mode: see check.h.
 *
 * The rules are the daemon's own (spool.c, walk.c), read without acting:
 *   the spool: a directory owned by root (or by the user running the
 *     check when not root), not group or world writable;
 *   purge/, queue/, incoming/, corrupt/: directories owned by the queue
 *     user and group 0, mode 0700 (run by another user than root, that
 *     user is taken for the queue user and groups are not checked: the
 *     daemon's own rules when started unprivileged);
 *   queue/XX: XX two lowercase hex digits, a directory, mode 0700;
 *   queue/XX/MSGID: eight lowercase hex digits, non-zero, top byte XX,
 *     a directory, mode 0700, holding a regular file "message" and at
 *     least one envelope;
 *   queue/XX/MSGID/EVPID: sixteen lowercase hex digits, the first eight
 *     MSGID, the last eight not zero, a regular file of 1 to PQ_EVP_MAX
 *     bytes, mode 0600;
 *   everything in the queue owned by the queue user;
 *   incoming/ empty (what is there is an unfinished message or update,
 *     or the spare directory of a daemon that was killed, which the
 *     built-in queue throws away at start, and the daemon too, after its
 *     log's replay: that may move a committed message from there into
 *     queue/, see recover.c).
 * Every entry is looked at with fstatat(AT_SYMLINK_NOFOLLOW) and every
 * directory opened with sio_open_dir(), which follows no symbolic link.
 *
 * Repair (-R) replays a log that holds records first (check_log()),
 * then moves to corrupt/: message directories that cannot be
 * served (no message file, or no valid envelope), entries of queue/ and
 * queue/XX that are not buckets or message directories, entries of a
 * message directory that are not its message or a valid envelope, and
 * what is left in incoming/.  Owners and modes are set back through an
 * fd of the very file checked (never a hard-linked one).  The spool
 * itself and a queue/ or incoming/ that is not a directory are left to
 * the administrator.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "log.h"
#include "proc_queue.h"
#include "layout.h"
#include "msgdir.h"
#include "safeio.h"
#include "spool.h"
#include "store.h"
#include "recover.h"
#include "wal.h"

/* spool_faults() bits, as -n reports and repairs them */
#define BAD_OWNER	(SPOOL_BAD_UID | SPOOL_BAD_GID)
#define BAD_MODE	(SPOOL_WRITABLE | SPOOL_BAD_MODE)

#define DIR_MODE	SPOOL_DIR_MODE
#define FILE_MODE	SPOOL_FILE_MODE

struct check {
	const char	*spool;
	int		 repair;	/* this pass repairs */
	int		 notes;		/* print notes (first pass only) */
	const char	*tag;		/* "problem", or "remaining" after -R */
	struct spool_rules rules;	/* the daemon's: who owns what */
	const struct spool_user *user;	/* the queue user, if root */
	int		 spool_fd;
	int		 corrupt_fd;	/* -1: none (yet) */

	unsigned long	 problems;
	unsigned long	 repairs;
	unsigned long long messages, envelopes, bytes;
	int		 have_oldest;
	time_t		 oldest;
	char		 oldest_path[PATH_MAX];
	long		 corrupt_entries;	/* -1: no corrupt/ */
};

struct names {
	char	**v;
	size_t	  n;
};

static void
problem(struct check *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
problem(struct check *c, const char *path, const char *fmt, ...)
{
	va_list	ap;

	c->problems++;
	printf("%s: %s: ", c->tag, path);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* dir/name, for printing only (every access goes through a dir fd) */
static void
join(char *buf, size_t size, const char *dir, const char *name)
{
	int	n = snprintf(buf, size, "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= size)
		memcpy(buf + size - 4, "...", 4);
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char * const *)a, *(char * const *)b);
}

static void
names_free(struct names *l)
{
	size_t	i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/*
 * The entries of a directory, sorted, without . and ..: read before
 * anything is moved out of it, and reported in a stable order.
 */
static int
list_dir(int dfd, struct names *l)
{
	struct dirent	*dp;
	DIR		*dir;
	char		**v;
	size_t		 cap = 0;

	l->v = NULL;
	l->n = 0;
	if ((dir = sio_reopendir(dfd)) == NULL)
		return -1;
	while ((dp = readdir(dir)) != NULL) {
		if (layout_is_dot(dp->d_name))
			continue;
		if (l->n == cap) {
			cap = cap ? cap * 2 : 32;
			if ((v = reallocarray(l->v, cap, sizeof(*v))) == NULL)
				goto fail;
			l->v = v;
		}
		if ((l->v[l->n] = strdup(dp->d_name)) == NULL)
			goto fail;
		l->n++;
	}
	closedir(dir);
	if (l->n > 0)
		qsort(l->v, l->n, sizeof(*l->v), cmp_names);
	return 0;
fail:
	closedir(dir);
	names_free(l);
	errno = ENOMEM;
	return -1;
}

static const char *
kind_of(mode_t m)
{
	if (S_ISLNK(m))
		return "a symbolic link";
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISREG(m))
		return "a regular file";
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISSOCK(m))
		return "a socket";
	if (S_ISCHR(m) || S_ISBLK(m))
		return "a device";
	return "of unknown type";
}

/* ---- repairs ----------------------------------------------------------- */

/* corrupt/, created as the daemon creates it when it is missing. */
static int
ensure_corrupt(struct check *c)
{
	char	path[PATH_MAX];

	if (c->corrupt_fd != -1)
		return 0;
	join(path, sizeof(path), c->spool, LAYOUT_CORRUPT);
	switch (spool_make_dir(c->spool_fd, LAYOUT_CORRUPT, &c->rules)) {
	case -1:
		printf("not repaired: cannot create %s: %s\n", path,
		    strerror(errno));
		return -1;
	case -2:
		printf("not repaired: %s: cannot set owner and mode: %s\n",
		    path, strerror(errno));
		return -1;
	case 1:
		printf("created: %s\n", path);
		break;
	}
	if ((c->corrupt_fd = sio_open_dir(c->spool_fd, LAYOUT_CORRUPT)) == -1) {
		printf("not repaired: cannot open %s: %s\n", path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* Move parent/name into corrupt/ (durably: the administrator's mail). */
static void
quarantine(struct check *c, int parent_fd, const char *name,
    const char *path)
{
	struct layout_corrupt	dest;

	if (!c->repair)
		return;
	if (ensure_corrupt(c) == -1) {
		printf("not moved: %s\n", path);
		return;
	}
	if (msgdir_quarantine(parent_fd, name, c->corrupt_fd, 1,
	    &dest) == -1) {
		printf("not moved: %s: %s\n", path, strerror(errno));
		return;
	}
	c->repairs++;
	printf("moved: %s -> %s/corrupt/%s\n", path, c->spool, dest.s);
}

/*
 * Set owner and mode back, through an fd of the entry that was checked:
 * a swapped or hard-linked file (a link to a file outside the spool
 * would be given to the queue user) is left alone.
 */
static void
fix_meta(struct check *c, int parent_fd, const char *name, const char *path,
    const struct stat *was, int bad, mode_t mode, gid_t gid)
{
	struct stat	sb;
	int		fd;

	if (!c->repair || bad == 0)
		return;
	fd = S_ISDIR(was->st_mode) ? sio_open_dir(parent_fd, name) :
	    sio_open_regular(parent_fd, name);
	if (fd == -1) {
		printf("not repaired: %s: %s\n", path, strerror(errno));
		return;
	}
	if (fstat(fd, &sb) == -1 || sb.st_dev != was->st_dev ||
	    sb.st_ino != was->st_ino) {
		printf("not repaired: %s: changed while being checked\n", path);
		goto done;
	}
	if (!S_ISDIR(sb.st_mode) && sb.st_nlink != 1) {
		printf("not repaired: %s: has %lu hard links\n", path,
		    (unsigned long)sb.st_nlink);
		goto done;
	}
	if (bad & BAD_OWNER) {
		if (fchown(fd, c->rules.uid, gid) == -1) {
			printf("not repaired: %s: chown: %s\n", path,
			    strerror(errno));
			goto done;
		}
		printf("fixed: %s: owner %u:%u -> %u:%u\n", path,
		    (unsigned)sb.st_uid, (unsigned)sb.st_gid,
		    (unsigned)c->rules.uid, (unsigned)gid);
		c->repairs++;
	}
	/* chown may have cleared set-id bits: set the mode in any case */
	if ((sb.st_mode & 07777) != mode || (bad & BAD_OWNER)) {
		if (fchmod(fd, mode) == -1) {
			printf("not repaired: %s: chmod: %s\n", path,
			    strerror(errno));
			goto done;
		}
		if ((sb.st_mode & 07777) != mode) {
			printf("fixed: %s: mode %04o -> %04o\n", path,
			    (unsigned)(sb.st_mode & 07777), (unsigned)mode);
			c->repairs++;
		}
	}
done:
	close(fd);
}

/* ---- checks ------------------------------------------------------------ */

/* Report the owner and mode faults f of an entry; returns them. */
static int
report_meta(struct check *c, const char *path, const struct stat *sb,
    int f, mode_t mode, gid_t gid)
{
	if (f & SPOOL_BAD_UID)
		problem(c, path, "wrong owner: uid %u, not the queue user's "
		    "%u", (unsigned)sb->st_uid, (unsigned)c->rules.uid);
	else if (f & SPOOL_BAD_GID)
		problem(c, path, "wrong owner: group %u, not %u",
		    (unsigned)sb->st_gid, (unsigned)gid);
	if (f & BAD_MODE)
		problem(c, path, "wrong mode: %04o, not %04o",
		    (unsigned)(sb->st_mode & 07777), (unsigned)mode);
	return f & (BAD_OWNER | BAD_MODE);
}

/* Owner (and group, unless gid is -1) and mode of an entry in queue/. */
static int
check_meta(struct check *c, const char *path, const struct stat *sb,
    mode_t mode, gid_t gid)
{
	return report_meta(c, path, sb, spool_faults(sb, c->rules.uid, gid,
	    mode), mode, gid);
}

static void
note_envelope(struct check *c, const char *path, const struct stat *sb)
{
	if (!c->have_oldest || sb->st_mtime < c->oldest) {
		c->have_oldest = 1;
		c->oldest = sb->st_mtime;
		snprintf(c->oldest_path, sizeof(c->oldest_path), "%s", path);
	}
}

/* One message directory, queue/XX/MSGID. */
static void
check_message(struct check *c, int bfd, const char *name, uint32_t msgid,
    const char *dpath, const struct stat *dsb)
{
	struct names	 l;
	struct stat	*esb = NULL;
	char		 path[PATH_MAX], *misplaced;
	unsigned long long bytes = 0;
	size_t		 i, nvalid = 0;
	int		 dfd, dbad, *bad = NULL, has_message = 0, has_names;

	dbad = check_meta(c, dpath, dsb, DIR_MODE, (gid_t)-1);
	if ((dfd = sio_open_dir(bfd, name)) == -1 || list_dir(dfd, &l) == -1) {
		problem(c, dpath, "cannot read: %s", strerror(errno));
		if (dfd != -1)
			close(dfd);
		return;
	}
	if (l.n > 0 && ((bad = calloc(l.n, sizeof(*bad))) == NULL ||
	    (esb = calloc(l.n, sizeof(*esb))) == NULL)) {
		problem(c, dpath, "cannot check: out of memory");
		goto done;
	}
	misplaced = calloc(l.n + 1, 1);
	if (misplaced == NULL) {
		problem(c, dpath, "cannot check: out of memory");
		goto done;
	}
	for (i = 0; i < l.n; i++) {
		int is_msg = strcmp(l.v[i], LAYOUT_MESSAGE) == 0;
		int is_evp = !is_msg && layout_is_evpname(l.v[i], msgid);

		join(path, sizeof(path), dpath, l.v[i]);
		if (fstatat(dfd, l.v[i], &esb[i], AT_SYMLINK_NOFOLLOW) == -1) {
			problem(c, path, "cannot stat: %s", strerror(errno));
			continue;
		}
		if (!is_msg && !is_evp) {
			problem(c, path, "bad name: not \"message\" nor an "
			    "envelope of %08x (%s)", msgid,
			    kind_of(esb[i].st_mode));
			misplaced[i] = 1;
			continue;
		}
		if (S_ISLNK(esb[i].st_mode)) {
			problem(c, path, "symlink: the %s is a symbolic link "
			    "(never followed)", is_msg ? "message" : "envelope");
			misplaced[i] = 1;
			continue;
		}
		if (!S_ISREG(esb[i].st_mode)) {
			problem(c, path, "not a regular file: the %s is %s",
			    is_msg ? "message" : "envelope",
			    kind_of(esb[i].st_mode));
			misplaced[i] = 1;
			continue;
		}
		if (is_evp && esb[i].st_size == 0) {
			problem(c, path, "empty envelope");
			misplaced[i] = 1;
			continue;
		}
		if (is_evp && esb[i].st_size > PQ_EVP_MAX) {
			problem(c, path, "oversized envelope: %lld bytes, "
			    "at most %d can be served",
			    (long long)esb[i].st_size, PQ_EVP_MAX);
			misplaced[i] = 1;
			continue;
		}
		bad[i] = check_meta(c, path, &esb[i], FILE_MODE, (gid_t)-1);
		bytes += (unsigned long long)esb[i].st_size;
		if (is_msg)
			has_message = 1;
		else
			nvalid++;
	}

	has_names = msgdir_has_envelopes(dfd, msgid, 0);
	if (!has_message && has_names)
		problem(c, dpath, "envelope without message: no message file, "
		    "its envelopes cannot be delivered");
	else if (!has_message)
		problem(c, dpath, "empty message directory: no message file, "
		    "no envelope");
	else if (!has_names)
		problem(c, dpath, "message without envelopes: nothing to "
		    "deliver it to");
	else if (nvalid == 0)
		problem(c, dpath, "message without envelopes: none of its "
		    "envelopes can be served");

	if (!has_message || nvalid == 0) {
		/* the whole message goes, as it is, for the administrator */
		close(dfd);
		dfd = -1;
		quarantine(c, bfd, name, dpath);
		free(misplaced);
		goto done;
	}

	c->messages++;
	c->envelopes += nvalid;
	c->bytes += bytes;
	for (i = 0; i < l.n; i++) {
		join(path, sizeof(path), dpath, l.v[i]);
		if (misplaced[i])
			quarantine(c, dfd, l.v[i], path);
		else if (S_ISREG(esb[i].st_mode)) {
			if (strcmp(l.v[i], LAYOUT_MESSAGE) != 0)
				note_envelope(c, path, &esb[i]);
			fix_meta(c, dfd, l.v[i], path, &esb[i], bad[i],
			    FILE_MODE, c->rules.gid);
		}
	}
	fix_meta(c, bfd, name, dpath, dsb, dbad, DIR_MODE, c->rules.gid);
	free(misplaced);
done:
	if (dfd != -1)
		close(dfd);
	free(bad);
	free(esb);
	names_free(&l);
}

/*
 * An entry of queue/ or of a bucket that must be a directory (what: "a
 * bucket", "a message directory"): 1 when it is one; else the problem is
 * reported and the entry set aside.
 */
static int
is_dir(struct check *c, int parent_fd, const char *name, const char *path,
    const struct stat *sb, const char *what)
{
	if (S_ISLNK(sb->st_mode))
		problem(c, path, "symlink: %s that is a symbolic link (never "
		    "followed)", what);
	else if (!S_ISDIR(sb->st_mode))
		problem(c, path, "not a directory: %s that is %s", what,
		    kind_of(sb->st_mode));
	else
		return 1;
	quarantine(c, parent_fd, name, path);
	return 0;
}

/* One bucket, queue/XX. */
static void
check_bucket(struct check *c, int qfd, const char *name, uint32_t top,
    const char *bpath, const struct stat *bsb)
{
	struct names	 l;
	struct stat	 sb;
	char		 path[PATH_MAX];
	uint32_t	 msgid;
	size_t		 i;
	int		 bfd, bbad;

	bbad = check_meta(c, bpath, bsb, DIR_MODE, (gid_t)-1);
	if ((bfd = sio_open_dir(qfd, name)) == -1 || list_dir(bfd, &l) == -1) {
		problem(c, bpath, "cannot read: %s", strerror(errno));
		if (bfd != -1)
			close(bfd);
		return;
	}
	for (i = 0; i < l.n; i++) {
		join(path, sizeof(path), bpath, l.v[i]);
		if (fstatat(bfd, l.v[i], &sb, AT_SYMLINK_NOFOLLOW) == -1) {
			problem(c, path, "cannot stat: %s", strerror(errno));
			continue;
		}
		if (!layout_parse_msgname(l.v[i], top, &msgid)) {
			problem(c, path, "bad name: not a message directory "
			    "of bucket %s (%s)", name, kind_of(sb.st_mode));
			quarantine(c, bfd, l.v[i], path);
		} else if (is_dir(c, bfd, l.v[i], path, &sb,
		    "a message directory"))
			check_message(c, bfd, l.v[i], msgid, path, &sb);
	}
	names_free(&l);
	close(bfd);
	fix_meta(c, qfd, name, bpath, bsb, bbad, DIR_MODE, c->rules.gid);
}

static void
check_queue(struct check *c, int qfd, const char *qpath)
{
	struct names	 l;
	struct stat	 sb;
	char		 path[PATH_MAX];
	uint32_t	 top;
	size_t		 i;

	if (list_dir(qfd, &l) == -1) {
		problem(c, qpath, "cannot read: %s", strerror(errno));
		return;
	}
	for (i = 0; i < l.n; i++) {
		join(path, sizeof(path), qpath, l.v[i]);
		if (fstatat(qfd, l.v[i], &sb, AT_SYMLINK_NOFOLLOW) == -1) {
			problem(c, path, "cannot stat: %s", strerror(errno));
			continue;
		}
		if (!layout_parse_bucket(l.v[i], &top)) {
			problem(c, path, "bad name: not a bucket (two "
			    "lowercase hex digits) (%s)", kind_of(sb.st_mode));
			quarantine(c, qfd, l.v[i], path);
		} else if (is_dir(c, qfd, l.v[i], path, &sb, "a bucket"))
			check_bucket(c, qfd, l.v[i], top, path, &sb);
	}
	names_free(&l);
}

static void
check_incoming(struct check *c, int ifd, const char *ipath)
{
	struct names	 l;
	struct stat	 sb;
	char		 path[PATH_MAX];
	size_t		 i;

	if (list_dir(ifd, &l) == -1) {
		problem(c, ipath, "cannot read: %s", strerror(errno));
		return;
	}
	for (i = 0; i < l.n; i++) {
		join(path, sizeof(path), ipath, l.v[i]);
		if (fstatat(ifd, l.v[i], &sb, AT_SYMLINK_NOFOLLOW) == -1)
			sb.st_mode = 0;
		problem(c, path, "leftover in incoming/: %s%s (an unfinished "
		    "message or envelope update, or the empty directory a "
		    "killed daemon made in advance; never accepted mail once "
		    "the log is replayed)",
		    kind_of(sb.st_mode), S_ISLNK(sb.st_mode) ?
		    " (symlink, never followed)" : "");
		quarantine(c, ifd, l.v[i], path);
	}
	names_free(&l);
}

/*
 * One of the daemon's directories in the spool; returns an fd of it when
 * it is a directory (and want_fd), else -1.
 */
static int
check_top(struct check *c, const char *name, int want_fd, int note_missing)
{
	struct stat	sb;
	char		path[PATH_MAX];
	int		f, fd;

	join(path, sizeof(path), c->spool, name);
	if (fstatat(c->spool_fd, name, &sb, AT_SYMLINK_NOFOLLOW) == -1) {
		if (errno != ENOENT)
			problem(c, path, "cannot stat: %s", strerror(errno));
		else if (note_missing && c->notes)
			printf("note: %s: missing (queue-fs-proc creates it "
			    "at start)\n", path);
		return -1;
	}
	f = spool_top_faults(&sb, &c->rules);
	if ((f & SPOOL_NOT_DIR) && S_ISLNK(sb.st_mode)) {
		problem(c, path, "symlink: must be a directory, not a "
		    "symbolic link (never followed; not repaired)");
		return -1;
	}
	if (f & SPOOL_NOT_DIR) {
		problem(c, path, "not a directory: it is %s (not repaired)",
		    kind_of(sb.st_mode));
		return -1;
	}
	f = report_meta(c, path, &sb, f, DIR_MODE, c->rules.top_gid);
	fix_meta(c, c->spool_fd, name, path, &sb, f, DIR_MODE,
	    c->rules.top_gid);
	if (!want_fd)
		return -1;
	if ((fd = sio_open_dir(c->spool_fd, name)) == -1)
		problem(c, path, "cannot open: %s", strerror(errno));
	return fd;
}

/*
 * After a crash or a power failure the log may hold what the layout
 * lacks (see DURABILITY in queue-fs-proc(8)): the built-in queue must
 * not serve the spool before it is replayed.
 */
static void
check_log(struct check *c)
{
	char	path[PATH_MAX];
	int	live, stale;

	join(path, sizeof(path), c->spool, LAYOUT_WAL);
	if ((live = wal_pending(c->spool_fd, &stale)) == -1) {
		if (errno != ENOENT)
			problem(c, path, "cannot read the log: %s (it may hold "
			    "acknowledged mail: no queue may serve this spool "
			    "until it can be replayed)", strerror(errno));
		return;
	}
	if (stale)
		problem(c, path, "a log older than the spool (another queue "
		    "served it since the crash that left it): never replayed; "
		    "-R sets it aside as log.N.stale");
	if (live)
		problem(c, path, "the log holds records the layout may lack "
		    "(after a crash or power failure): replay it (-R) before "
		    "the built-in queue serves this spool");
	if (!c->repair || (live == 0 && stale == 0))
		return;
	if (recover_offline(c->spool_fd, c->user) == -1) {
		printf("not repaired: %s: cannot replay the log\n", path);
		return;
	}
	printf("replayed: %s\n", path);
	c->repairs += (unsigned long)(live != 0) + (unsigned long)(stale != 0);
}

static void
check_pass(struct check *c)
{
	struct names	l;
	struct stat	sb;
	char		path[PATH_MAX];
	int		qfd, ifd, f;

	c->problems = 0;
	c->messages = c->envelopes = c->bytes = 0;
	c->have_oldest = 0;
	c->corrupt_entries = -1;
	c->corrupt_fd = -1;

	/* O_PATH: the queue user may search the spool (0711), not read it */
	c->spool_fd = open(c->spool, O_PATH | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (c->spool_fd == -1) {
		if (lstat(c->spool, &sb) == 0 && S_ISLNK(sb.st_mode))
			problem(c, c->spool, "symlink: the spool is a symbolic "
			    "link (the daemon refuses it)");
		else
			problem(c, c->spool, "cannot open: %s",
			    strerror(errno));
		return;
	}
	if (fstat(c->spool_fd, &sb) == 0) {
		f = spool_root_faults(&sb, &c->rules);
		if (f & SPOOL_BAD_UID)
			problem(c, c->spool, "wrong owner: the spool belongs "
			    "to uid %u, not root (not repaired)",
			    (unsigned)sb.st_uid);
		if (f & SPOOL_WRITABLE)
			problem(c, c->spool, "wrong mode: %04o, the spool "
			    "must not be group or world writable (not "
			    "repaired)", (unsigned)(sb.st_mode & 07777));
	}

	check_top(c, LAYOUT_PURGE, 0, 0);
	check_log(c);
	qfd = check_top(c, LAYOUT_QUEUE, 1, 1);
	ifd = check_top(c, LAYOUT_INCOMING, 1, 1);
	c->corrupt_fd = check_top(c, LAYOUT_CORRUPT, 1, 0);

	if (qfd != -1) {
		join(path, sizeof(path), c->spool, LAYOUT_QUEUE);
		check_queue(c, qfd, path);
		close(qfd);
	}
	if (ifd != -1) {
		join(path, sizeof(path), c->spool, LAYOUT_INCOMING);
		check_incoming(c, ifd, path);
		close(ifd);
	}
	if (c->corrupt_fd != -1 && list_dir(c->corrupt_fd, &l) == 0) {
		c->corrupt_entries = (long)l.n;
		names_free(&l);
	}
	if (c->corrupt_fd != -1)
		close(c->corrupt_fd);
	c->corrupt_fd = -1;
	close(c->spool_fd);
	c->spool_fd = -1;
}

static void
print_summary(struct check *c, unsigned long found)
{
	long long	age;

	printf("messages: %llu\n", c->messages);
	printf("envelopes: %llu\n", c->envelopes);
	printf("bytes: %llu\n", c->bytes);
	if (c->have_oldest) {
		age = (long long)(time(NULL) - c->oldest);
		printf("oldest envelope: %lld s (%s)\n", age < 0 ? 0 : age,
		    c->oldest_path);
	} else
		printf("oldest envelope: none\n");
	if (c->corrupt_entries >= 0)
		printf("corrupt/: %ld entries set aside\n", c->corrupt_entries);
	if (c->repair)
		printf("problems: %lu found, %lu repairs, %lu remaining\n",
		    found, c->repairs, c->problems);
	else
		printf("problems: %lu\n", c->problems);
	printf("spool %s: %s\n", c->spool, c->problems ? "NOT CLEAN" : "clean");
}

/*
 * The spool's lock, for the whole check: a running helper's spool is
 * not checked (its incoming/ is busy, its log is live by design) and a
 * helper does not start during a repair.  -n only looks (a shared lock,
 * nothing written); -n -R owns it.  The fd, -1 when there is no lock to
 * take (no spool, no fs-proc/ or lock file, or one this user may not
 * open: the check says what it finds), -2 when the spool is in use or
 * the lock cannot be taken.
 */
static int
check_lock(const char *spool, int repair)
{
	pid_t	holder;
	int	fd, lock;

	if ((fd = open(spool, O_PATH | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return -1;
	lock = recover_lock(fd, repair ? RECOVER_OWN : RECOVER_LOOK, 0,
	    &holder);
	if (lock == -1 && (errno == ENOENT || errno == EACCES))
		lock = -1;
	else if (lock < 0) {
		recover_refused(spool, lock, holder);
		lock = -2;
	}
	close(fd);
	return lock;
}

int
spool_check(const char *spool, const char *user, int repair)
{
	struct check		c;
	struct spool_user	u;
	unsigned long		found;
	int			lock;

	memset(&c, 0, sizeof(c));
	c.spool = spool;
	c.tag = "problem";
	c.notes = 1;
	c.spool_fd = -1;
	c.corrupt_fd = -1;
	/* the daemon's rules (spool_prepare()) */
	if (geteuid() == 0 && spool_user(user, &u) == -1) {
		fprintf(stderr, "queue-fs-proc: unknown queue user %s\n",
		    user ? user : "(_smtpq or opensmtpq)");
		return 1;
	}
	spool_rules(&c.rules, &u, geteuid() == 0);
	c.user = &u;
	if ((lock = check_lock(spool, repair)) < -1)
		return 1;
	printf("checking spool %s (queue user uid %u)%s\n", spool,
	    (unsigned)c.rules.uid, repair ? ", repairing" : "");

	c.repair = repair;
	check_pass(&c);
	found = c.problems;
	if (repair) {
		/* what is left after repair, counted afresh */
		c.repair = 0;
		c.notes = 0;
		c.tag = "remaining";
		check_pass(&c);
		c.repair = 1;
	}
	print_summary(&c, found);
	fflush(stdout);
	if (lock >= 0)
		close(lock);
	return c.problems == 0 ? 0 : 1;
}
