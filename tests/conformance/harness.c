/*
 * Conformance harness (see harness.h).  The daemon is started exactly as
 * smtpd's queue process starts a proc backend: forked while root, the
 * request socket dup2'ed onto fd 0, stdout and stderr going to the log
 * (smtpd -d's log pipe), every other fd closed, argv {"queue-proc",
 * "<all options>"}.  Our end of the socket has a receive timeout, so a
 * daemon that stops answering fails the test instead of hanging it.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#define DAEMON_DEFAULT	"queue-fs-proc/queue-fs-proc"

static const char *
daemon_path(void)
{
	const char	*p = getenv("QFP_DAEMON");

	return p != NULL ? p : DAEMON_DEFAULT;
}

int
qfp_group_setup(void **state)
{
	if (geteuid() != 0) {
		fprintf(stderr, "conformance: must run as root (the daemon "
		    "chroots and drops to %s)\n", QFP_USER);
		return -1;
	}
	if (access(daemon_path(), X_OK) == -1) {
		fprintf(stderr, "conformance: no daemon at %s (run make)\n",
		    daemon_path());
		return -1;
	}
	if (getpwnam(QFP_USER) == NULL &&
	    system("useradd -r -M -s /usr/sbin/nologin " QFP_USER) != 0) {
		fprintf(stderr, "conformance: cannot create user %s: run "
		    "useradd -r -M -s /usr/sbin/nologin %s as root\n",
		    QFP_USER, QFP_USER);
		return -1;
	}
	if (getpwnam(QFP_USER) == NULL) {
		fprintf(stderr, "conformance: user %s still unknown\n",
		    QFP_USER);
		return -1;
	}
	/* a dead daemon must fail a send, not kill the test */
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static uint64_t
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct qfp *
qfp_new(const char *opts, enum imsg_dialect dialect)
{
	struct qfp	*q;
	int		 fd;

	q = calloc(1, sizeof(*q));
	assert_non_null(q);
	q->pid = -1;
	q->sock = -1;
	q->dialect = dialect;
	snprintf(q->opts, sizeof(q->opts), "%s", opts ? opts : "");
	/* smtpd's spool: root's, 0711 */
	snprintf(q->spool, sizeof(q->spool), "/tmp/qfp-spool.XXXXXX");
	assert_non_null(mkdtemp(q->spool));
	assert_int_equal(chmod(q->spool, 0711), 0);
	snprintf(q->log, sizeof(q->log), "/tmp/qfp-log.XXXXXX");
	assert_true((fd = mkstemp(q->log)) >= 0);
	close(fd);
	qfp_start_init(q);
	return q;
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	return remove(path) == -1 && errno != ENOENT ? -1 : 0;
}

void
qfp_free(struct qfp *q)
{
	if (q == NULL)
		return;
	if (q->pid != -1 && qfp_stop(q) == -1)
		qfp_kill(q);
	if (q->sock != -1)
		close(q->sock);
	if (getenv("QFP_KEEP") != NULL)
		fprintf(stderr, "kept spool %s, log %s\n", q->spool, q->log);
	else {
		nftw(q->spool, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		unlink(q->log);
	}
	free(q);
}

static void __attribute__((noreturn))
exec_daemon(int sock, int logfd, const char *opts)
{
	char	*argv[3];

	if (dup2(sock, 0) == -1 || dup2(logfd, 1) == -1 ||
	    dup2(logfd, 2) == -1)
		_exit(127);
	fcntl(0, F_SETFD, 0);
	closefrom(3);
	argv[0] = "queue-proc";
	argv[1] = (char *)opts;
	argv[2] = NULL;
	execv(daemon_path(), argv);
	_exit(127);
}

void
qfp_start(struct qfp *q)
{
	struct timeval	 tv = { QFP_TIMEOUT_MS / 1000, 0 };
	char		 opts[512];
	int		 sv[2], logfd;

	assert_int_equal(q->pid, -1);
	snprintf(opts, sizeof(opts), "-d -s %s -u %s %s", q->spool, QFP_USER,
	    q->opts);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	logfd = open(q->log, O_WRONLY | O_APPEND | O_CLOEXEC);
	assert_true(logfd >= 0);
	q->pid = fork();
	assert_true(q->pid != -1);
	if (q->pid == 0)
		exec_daemon(sv[1], logfd, opts);
	close(sv[1]);
	close(logfd);
	q->sock = sv[0];
	assert_int_equal(setsockopt(q->sock, SOL_SOCKET, SO_RCVTIMEO, &tv,
	    sizeof(tv)), 0);
	pq_client_init(&q->c, q->sock, q->dialect);
}

void
qfp_start_init(struct qfp *q)
{
	qfp_start(q);
	assert_int_equal(pq_init(&q->c), 1);
}

/*
 * The daemon chroots into the spool once it has set it up (incoming/
 * purged, directories made): wait for that, to compare the spool with
 * what requests do to it without sending INIT.
 */
void
qfp_wait_ready(struct qfp *q)
{
	uint64_t	deadline = now_ms() + QFP_TIMEOUT_MS;
	char		path[64], root[PATH_MAX];
	ssize_t		n;

	snprintf(path, sizeof(path), "/proc/%ld/root", (long)q->pid);
	for (;;) {
		n = readlink(path, root, sizeof(root) - 1);
		if (n > 0) {
			root[n] = '\0';
			if (strcmp(root, q->spool) == 0)
				return;
		}
		if (now_ms() >= deadline)
			fail_msg("daemon %ld never entered %s", (long)q->pid,
			    q->spool);
		poll(NULL, 0, 2);
	}
}

int
qfp_wait(struct qfp *q, int timeout_ms)
{
	uint64_t	deadline = now_ms() + (uint64_t)timeout_ms;
	pid_t		r;
	int		st;

	if (q->pid == -1)
		return q->status;
	for (;;) {
		r = waitpid(q->pid, &st, WNOHANG);
		if (r == q->pid) {
			q->pid = -1;
			q->status = st;
			return st;
		}
		if (r == -1 && errno != EINTR)
			fail_msg("waitpid: %s", strerror(errno));
		if (now_ms() >= deadline)
			return -1;
		poll(NULL, 0, 5);
	}
}

/* Exit code of the daemon, 128 + signal if killed, -1 if still up. */
int
qfp_exit_code(struct qfp *q, int timeout_ms)
{
	int	st;

	if ((st = qfp_wait(q, timeout_ms)) == -1)
		return -1;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}

int
qfp_running(struct qfp *q)
{
	return q->pid != -1 && qfp_wait(q, 0) == -1;
}

/* smtpd going away: the daemon sees end of stream and must exit 0. */
int
qfp_stop(struct qfp *q)
{
	int	code;

	if (q->sock != -1)
		close(q->sock);
	q->sock = -1;
	if ((code = qfp_exit_code(q, QFP_TIMEOUT_MS)) == -1)
		qfp_kill(q);
	return code;
}

void
qfp_kill(struct qfp *q)
{
	int	st;

	if (q->pid != -1) {
		kill(q->pid, SIGKILL);
		while (waitpid(q->pid, &st, 0) == -1 && errno == EINTR)
			;
		q->status = st;
		q->pid = -1;
	}
	if (q->sock != -1)
		close(q->sock);
	q->sock = -1;
}

void
qfp_restart(struct qfp *q)
{
	assert_int_equal(qfp_stop(q), 0);
	qfp_start_init(q);
}

void
qfp_log_mark(struct qfp *q)
{
	struct stat	sb;

	assert_int_equal(stat(q->log, &sb), 0);
	q->logmark = (long)sb.st_size;
}

static int
has_word(const char *line, const char *word)
{
	return word == NULL || strstr(line, word) != NULL;
}

int
qfp_log_has(struct qfp *q, const char *w1, const char *w2, const char *w3)
{
	char	 line[2048];
	FILE	*f;
	int	 found = 0;

	if ((f = fopen(q->log, "r")) == NULL)
		return 0;
	if (fseek(f, q->logmark, SEEK_SET) == -1) {
		fclose(f);
		return 0;
	}
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = has_word(line, w1) && has_word(line, w2) &&
		    has_word(line, w3);
	fclose(f);
	return found;
}

/* ---- spool ------------------------------------------------------------ */

static char *
vspool_path(struct qfp *q, const char *fmt, va_list ap)
{
	static char	bufs[4][PATH_MAX];
	static int	next;
	char		*b = bufs[next++ % 4];
	int		 n;

	n = snprintf(b, PATH_MAX, "%s/", q->spool);
	vsnprintf(b + n, PATH_MAX - (size_t)n, fmt, ap);
	return b;
}

char *
spool_path(struct qfp *q, const char *fmt, ...)
{
	va_list	 ap;
	char	*p;

	va_start(ap, fmt);
	p = vspool_path(q, fmt, ap);
	va_end(ap);
	return p;
}

int
spool_exists(struct qfp *q, const char *fmt, ...)
{
	struct stat	 sb;
	va_list		 ap;
	char		*p;

	va_start(ap, fmt);
	p = vspool_path(q, fmt, ap);
	va_end(ap);
	return lstat(p, &sb) == 0;
}

char *
fd_read_all(int fd, size_t *len)
{
	char	*buf = NULL;
	size_t	 size = 0;
	ssize_t	 n;

	*len = 0;
	for (;;) {
		if (*len == size) {
			size = size ? size * 2 : 4096;
			buf = realloc(buf, size + 1);
			assert_non_null(buf);
		}
		n = pread(fd, buf + *len, size - *len, (off_t)*len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			free(buf);
			return NULL;
		}
		if (n == 0)
			break;
		*len += (size_t)n;
	}
	buf[*len] = '\0';
	return buf;
}

/* The file's bytes (NUL added, not counted), or NULL if unreadable. */
char *
spool_read(struct qfp *q, size_t *len, const char *fmt, ...)
{
	va_list	 ap;
	char	*p, *buf;
	int	 fd;

	va_start(ap, fmt);
	p = vspool_path(q, fmt, ap);
	va_end(ap);
	if ((fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return NULL;
	buf = fd_read_all(fd, len);
	close(fd);
	return buf;
}

static int
count_dir(const char *path, int evps_of_msgid, uint32_t msgid)
{
	struct dirent	*dp;
	DIR		*d;
	char		 prefix[9];
	int		 n = 0;

	snprintf(prefix, sizeof(prefix), "%08x", msgid);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((dp = readdir(d)) != NULL) {
		if (strcmp(dp->d_name, ".") == 0 ||
		    strcmp(dp->d_name, "..") == 0)
			continue;
		if (evps_of_msgid && (strlen(dp->d_name) != 16 ||
		    strncmp(dp->d_name, prefix, 8) != 0))
			continue;
		n++;
	}
	closedir(d);
	return n;
}

/* Entries of a spool directory, -1 if it does not exist. */
int
spool_count(struct qfp *q, const char *dir)
{
	return count_dir(spool_path(q, "%s", dir), 0, 0);
}

/*
 * Entries of incoming/ that hold something.  The daemon keeps one empty
 * directory there for the next MESSAGE_CREATE and makes it after
 * answering the previous one, so an INIT round trip first lets that
 * work finish; empty directories are then not counted.
 */
int
spool_count_incoming(struct qfp *q)
{
	struct dirent	*dp;
	DIR		*d;
	int		 n = 0;

	assert_int_equal(pq_init(&q->c), 1);
	if ((d = opendir(spool_path(q, "incoming"))) == NULL)
		return -1;
	while ((dp = readdir(d)) != NULL) {
		if (strcmp(dp->d_name, ".") == 0 ||
		    strcmp(dp->d_name, "..") == 0)
			continue;
		if (count_dir(spool_path(q, "incoming/%s", dp->d_name), 0,
		    0) != 0)
			n++;
	}
	closedir(d);
	return n;
}

/* Envelope files of a queued message, -1 if its directory is gone. */
int
spool_count_evps(struct qfp *q, uint32_t msgid)
{
	return count_dir(spool_path(q, "%s", msgdir(msgid)), 1, msgid);
}

char *
msgdir(uint32_t msgid)
{
	static char	bufs[4][32];
	static int	next;
	char		*b = bufs[next++ % 4];

	snprintf(b, sizeof(bufs[0]), "queue/%02x/%08x", msgid >> 24, msgid);
	return b;
}

/* Formatted into one of a few static buffers: for paths in asserts. */
char *
relf(const char *fmt, ...)
{
	static char	bufs[8][PATH_MAX];
	static int	next;
	char		*b = bufs[next++ % 8];
	va_list		 ap;

	va_start(ap, fmt);
	vsnprintf(b, PATH_MAX, fmt, ap);
	va_end(ap);
	return b;
}

/* nftw has no context argument: the listing being built. */
static struct {
	char	**lines;
	size_t	  n, cap;
	size_t	  rootlen;
} listing;

static uint64_t
fnv1a(const char *p, size_t len)
{
	uint64_t	h = 1469598103934665603ULL;

	while (len-- > 0)
		h = (h ^ (unsigned char)*p++) * 1099511628211ULL;
	return h;
}

static int
list_entry(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	char	*line, *content;
	size_t	 len = 0;
	uint64_t h = 0;
	int	 fd;

	if (S_ISREG(sb->st_mode) &&
	    (fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) != -1) {
		if ((content = fd_read_all(fd, &len)) != NULL)
			h = fnv1a(content, len);
		free(content);
		close(fd);
	}
	/* no times, no directory sizes: only what a request could change */
	if (asprintf(&line, "%s mode %o owner %u:%u size %lld hash %016llx",
	    path[listing.rootlen] ? path + listing.rootlen : "/",
	    (unsigned)sb->st_mode, (unsigned)sb->st_uid, (unsigned)sb->st_gid,
	    S_ISDIR(sb->st_mode) ? 0LL : (long long)sb->st_size,
	    (unsigned long long)h) == -1)
		return -1;
	if (listing.n == listing.cap) {
		listing.cap = listing.cap ? listing.cap * 2 : 64;
		listing.lines = realloc(listing.lines,
		    listing.cap * sizeof(*listing.lines));
		if (listing.lines == NULL)
			return -1;
	}
	listing.lines[listing.n++] = line;
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Everything in the spool, one sorted line per entry: for "unchanged". */
char *
spool_listing(struct qfp *q)
{
	char	*out = NULL;
	size_t	 i, outlen = 0;
	FILE	*f;

	memset(&listing, 0, sizeof(listing));
	listing.rootlen = strlen(q->spool);
	assert_int_equal(nftw(q->spool, list_entry, 16, FTW_PHYS), 0);
	qsort(listing.lines, listing.n, sizeof(char *), cmp_str);
	f = open_memstream(&out, &outlen);
	assert_non_null(f);
	for (i = 0; i < listing.n; i++) {
		fprintf(f, "%s\n", listing.lines[i]);
		free(listing.lines[i]);
	}
	fclose(f);
	free(listing.lines);
	return out;
}

/* ---- messages --------------------------------------------------------- */

/* A read-only fd of content, as smtpd hands its temporary file over. */
int
tmp_message(const char *content, size_t len)
{
	char	path[] = "/tmp/qfp-msg.XXXXXX";
	int	fd, rfd;

	assert_true((fd = mkstemp(path)) >= 0);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	close(fd);
	rfd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(rfd >= 0);
	unlink(path);
	return rfd;
}

/*
 * Envelope bytes for a seed: text like smtpd's dump, a length that
 * varies, and some binary bytes (NUL included) since the queue must
 * not care what is inside.
 */
char *
evp_text(uint32_t seed, size_t *len)
{
	char	*buf;
	size_t	 pad = (seed * 37u) % 301, n, i;

	buf = malloc(512 + pad);
	assert_non_null(buf);
	n = (size_t)snprintf(buf, 512, "version: 3\ntype: mda\n"
	    "rcpt: rcpt-%u@example.org\nhelo: localhost\n", seed);
	for (i = 0; i < pad; i++)
		buf[n++] = (char)('a' + (seed + i) % 26);
	for (i = 0; i < 16; i++)
		buf[n++] = (char)((seed + i) & 0xff);
	*len = n;
	return buf;
}

/*
 * Create a message with nevp envelopes (envelope i: evp_text(seed + i))
 * and commit it; evpids gets their ids if not NULL.
 */
uint32_t
make_message_seed(struct qfp *q, const char *content, int nevp,
    uint64_t *evpids, uint32_t seed)
{
	uint32_t	 msgid;
	uint64_t	 evpid;
	size_t		 len;
	char		*evp;
	int		 i, fd;

	assert_int_equal(pq_message_create(&q->c, &msgid), 1);
	for (i = 0; i < nevp; i++) {
		evp = evp_text(seed + (uint32_t)i, &len);
		assert_int_equal(pq_envelope_create(&q->c, msgid, evp, len,
		    &evpid), 1);
		assert_int_equal((uint32_t)(evpid >> 32), msgid);
		if (evpids != NULL)
			evpids[i] = evpid;
		free(evp);
	}
	fd = tmp_message(content, strlen(content));
	assert_int_equal(pq_message_commit(&q->c, msgid, fd), 1);
	close(fd);
	return msgid;
}

uint32_t
make_message(struct qfp *q, const char *content, int nevp, uint64_t *evpids)
{
	return make_message_seed(q, content, nevp, evpids, 1);
}

/* ---- raw wire --------------------------------------------------------- */

void
raw_hdr(unsigned char out[IMSG_HEADER_SIZE], enum imsg_dialect d,
    uint32_t type, size_t payload, int hasfd)
{
	imsg_hdr_encode(d, type, IMSG_HEADER_SIZE + payload,
	    (uint32_t)getpid(), hasfd, out);
}

/* One sendmsg() of buf, with fd (if not -1) as SCM_RIGHTS. */
void
raw_send(struct qfp *q, const void *buf, size_t len, int fd)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cmsgbuf;
	struct msghdr	 msg;
	struct cmsghdr	*cm;
	struct iovec	 iov = { (void *)buf, len };

	memset(&msg, 0, sizeof(msg));
	memset(&cmsgbuf, 0, sizeof(cmsgbuf));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (fd != -1) {
		msg.msg_control = cmsgbuf.buf;
		msg.msg_controllen = sizeof(cmsgbuf.buf);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	assert_int_equal(sendmsg(q->sock, &msg, MSG_NOSIGNAL), (ssize_t)len);
}

/*
 * Read exactly len bytes (or until end of stream / timeout); the first
 * fd that comes with them goes to *fd (-1 if none).  Returns the count.
 */
ssize_t
raw_recv(struct qfp *q, void *buf, size_t len, int *fd)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * 4)];
	} cmsgbuf;
	struct msghdr	 msg;
	struct cmsghdr	*cm;
	struct iovec	 iov;
	size_t		 got = 0;
	ssize_t		 n;
	int		 rfd;

	*fd = -1;
	while (got < len) {
		memset(&msg, 0, sizeof(msg));
		iov.iov_base = (char *)buf + got;
		iov.iov_len = len - got;
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = cmsgbuf.buf;
		msg.msg_controllen = sizeof(cmsgbuf.buf);
		n = recvmsg(q->sock, &msg, MSG_CMSG_CLOEXEC);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (cm = CMSG_FIRSTHDR(&msg); cm != NULL;
		    cm = CMSG_NXTHDR(&msg, cm)) {
			if (cm->cmsg_level != SOL_SOCKET ||
			    cm->cmsg_type != SCM_RIGHTS)
				continue;
			memcpy(&rfd, CMSG_DATA(cm), sizeof(int));
			if (*fd == -1)
				*fd = rfd;
			else
				close(rfd);
		}
		got += (size_t)n;
	}
	return (ssize_t)got;
}
