/*
 * Shared test library (see qfp_test.h).
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
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "qfp_test.h"

#define DAEMON_DEFAULT	"queue-fs-proc/queue-fs-proc"
/* a kill waits for a syscall in D state, syncfs() included */
#define KILL_WAIT_MS	60000
#define PATH_RING	16

char	qt_error[512];

int
qt_fail(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(qt_error, sizeof(qt_error), fmt, ap);
	va_end(ap);
	return -1;
}

uint64_t
qt_now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t
qt_now_ms(void)
{
	return qt_now_ns() / 1000000;
}

const char *
qt_daemon_path(void)
{
	const char	*p = getenv("QFP_DAEMON");

	return p != NULL ? p : DAEMON_DEFAULT;
}

int
qt_user(const char *name, uid_t *uid, gid_t *gid)
{
	struct passwd	*pw;
	char		 cmd[256];

	if (getpwnam(name) == NULL) {
		snprintf(cmd, sizeof(cmd),
		    "useradd -r -M -s /usr/sbin/nologin %s", name);
		if (system(cmd) != 0)
			return qt_fail("cannot create user %s: run %s as root",
			    name, cmd);
	}
	if ((pw = getpwnam(name)) == NULL)
		return qt_fail("user %s still unknown", name);
	if (uid != NULL)
		*uid = pw->pw_uid;
	if (gid != NULL)
		*gid = pw->pw_gid;
	return 0;
}

int
qt_setup(int check_daemon)
{
	if (geteuid() != 0)
		return qt_fail("must run as root (the daemon chroots and drops "
		    "to %s)", QT_USER);
	if (check_daemon && access(qt_daemon_path(), X_OK) == -1)
		return qt_fail("no daemon at %s (run make)", qt_daemon_path());
	if (qt_user(QT_USER, NULL, NULL) == -1)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

int
qt_group_setup(void **state)
{
	if (qt_setup(1) == -1) {
		fprintf(stderr, "%s: %s\n", program_invocation_short_name,
		    qt_error);
		return -1;
	}
	return 0;
}

int
qt_spool_new(char *path)
{
	size_t	len = strlen(path);

	if (len >= 6 && strcmp(path + len - 6, "XXXXXX") == 0) {
		if (mkdtemp(path) == NULL)
			return qt_fail("mkdtemp %s: %s", path, strerror(errno));
	} else if (mkdir(path, 0711) == -1)
		return qt_fail("mkdir %s: %s", path, strerror(errno));
	/* mkdir's mode went through the umask */
	if (chmod(path, 0711) == -1)
		return qt_fail("chmod %s: %s", path, strerror(errno));
	return 0;
}

int
qt_log_new(char *template)
{
	int	fd;

	if ((fd = mkstemp(template)) == -1)
		return qt_fail("mkstemp %s: %s", template, strerror(errno));
	close(fd);
	return 0;
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	/* a test may have left a directory unreadable or unwritable */
	if (flag == FTW_DP || flag == FTW_D || flag == FTW_DNR)
		chmod(path, 0700);
	return remove(path) == -1 && errno != ENOENT ? -1 : 0;
}

int
qt_rmtree(const char *path)
{
	if (path[0] == '\0')
		return 0;
	return nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- the daemon -------------------------------------------------------- */

void
qt_options(char *buf, size_t size, int debug, const char *spool,
    const char *user, const char *opts)
{
	int	more = opts != NULL && *opts != '\0';

	snprintf(buf, size, "%s-s %s -u %s%s%s", debug ? "-d " : "", spool,
	    user, more ? " " : "", more ? opts : "");
}

static void __attribute__((noreturn))
child(const struct qt_spawn *sp, int sock)
{
	char	*argv[3];

	if (dup2(sock, 0) == -1 || dup2(sp->logfd, 1) == -1 ||
	    dup2(sp->logfd, 2) == -1)
		_exit(127);
	fcntl(0, F_SETFD, 0);
	closefrom(3);
	/* smtpd's child starts with default dispositions, not the test's */
	signal(SIGPIPE, SIG_DFL);
	signal(SIGALRM, SIG_DFL);
	if (sp->exec != NULL)
		sp->exec(sp);
	argv[0] = "queue-proc";
	argv[1] = (char *)sp->argv1;
	argv[2] = NULL;
	execv(sp->daemon != NULL ? sp->daemon : qt_daemon_path(), argv);
	_exit(127);
}

pid_t
qt_spawn(const struct qt_spawn *sp, int *sock)
{
	struct timeval	tv;
	pid_t		pid;
	int		sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		return qt_fail("socketpair: %s", strerror(errno));
	if ((pid = fork()) == -1) {
		qt_fail("fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0)
		child(sp, sv[1]);
	close(sv[1]);
	*sock = sv[0];
	/*
	 * A daemon that stops answering or reading fails the test, never
	 * hangs it.
	 */
	tv.tv_sec = sp->timeout_ms / 1000;
	tv.tv_usec = (sp->timeout_ms % 1000) * 1000;
	if (setsockopt(*sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1 ||
	    setsockopt(*sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1)
		qt_fail("SO_RCVTIMEO/SO_SNDTIMEO: %s", strerror(errno));
	return pid;
}

int
qt_wait(pid_t *pid, int *status, int timeout_ms)
{
	uint64_t	deadline = qt_now_ms() + (uint64_t)timeout_ms;
	pid_t		r;
	int		st;

	for (;;) {
		r = waitpid(*pid, &st, WNOHANG);
		if (r == *pid) {
			*pid = -1;
			*status = st;
			return 0;
		}
		if (r == -1 && errno != EINTR)
			return qt_fail("waitpid %ld: %s", (long)*pid,
			    strerror(errno));
		if (qt_now_ms() >= deadline) {
			qt_fail("daemon %ld still runs", (long)*pid);
			errno = ETIMEDOUT;
			return -1;
		}
		poll(NULL, 0, 2);
	}
}

int
qt_kill(pid_t *pid, int *status)
{
	if (*pid == -1)
		return 0;
	kill(*pid, SIGKILL);
	return qt_wait(pid, status, KILL_WAIT_MS);
}

int
qt_stop(pid_t *pid, int *sock, int *status, int timeout_ms)
{
	qt_close(sock);
	if (*pid == -1 || qt_wait(pid, status, timeout_ms) == 0)
		return 0;
	qt_kill(pid, status);
	return -1;
}

int
qt_exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

void
qt_close(int *fd)
{
	if (*fd != -1)
		close(*fd);
	*fd = -1;
}

/* One sendmsg() of buf, with nfds fds (at most QT_MAXFDS) as SCM_RIGHTS. */
ssize_t
qt_send_fds(int sock, const void *buf, size_t len, const int *fds, int nfds)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * QT_MAXFDS)];
	} cmsgbuf;
	struct msghdr	 msg;
	struct cmsghdr	*cm;
	struct iovec	 iov = { (void *)buf, len };

	if (nfds < 0 || nfds > QT_MAXFDS) {
		errno = EINVAL;
		return -1;
	}
	memset(&msg, 0, sizeof(msg));
	memset(&cmsgbuf, 0, sizeof(cmsgbuf));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (nfds > 0) {
		msg.msg_control = cmsgbuf.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	return sendmsg(sock, &msg, MSG_NOSIGNAL);
}

/* One sendmsg() of buf, with fd (if not -1) as SCM_RIGHTS. */
ssize_t
qt_send(int sock, const void *buf, size_t len, int fd)
{
	return qt_send_fds(sock, buf, len, &fd, fd == -1 ? 0 : 1);
}

/* Keep the first fd a message brings in *fd, close the others. */
static void
take_fds(struct msghdr *msg, int *fd)
{
	struct cmsghdr	*cm;
	int		 i, n, rfd;

	for (cm = CMSG_FIRSTHDR(msg); cm != NULL; cm = CMSG_NXTHDR(msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (i = 0; i < n; i++) {
			memcpy(&rfd, CMSG_DATA(cm) + i * sizeof(int),
			    sizeof(int));
			if (*fd == -1)
				*fd = rfd;
			else
				close(rfd);
		}
	}
}

/*
 * Read len bytes, or until end of stream, an error or the socket's
 * receive timeout; the first fd that comes with them goes to *fd (-1 if
 * none).  Returns the count read.
 */
ssize_t
qt_recv(int sock, void *buf, size_t len, int *fd)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * QT_MAXFDS)];
	} cmsgbuf;
	struct msghdr	 msg;
	struct iovec	 iov;
	size_t		 got = 0;
	ssize_t		 n;

	*fd = -1;
	while (got < len) {
		memset(&msg, 0, sizeof(msg));
		iov.iov_base = (char *)buf + got;
		iov.iov_len = len - got;
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = cmsgbuf.buf;
		msg.msg_controllen = sizeof(cmsgbuf.buf);
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		take_fds(&msg, fd);
		got += (size_t)n;
	}
	return (ssize_t)got;
}

int
qt_proc_root(pid_t pid, char *buf, size_t size)
{
	char	path[64];
	ssize_t	n;

	snprintf(path, sizeof(path), "/proc/%ld/root", (long)pid);
	if ((n = readlink(path, buf, size - 1)) == -1)
		return -1;
	buf[n] = '\0';
	return 0;
}

const char *
qt_proc_status(pid_t pid, const char *field)
{
	static char	value[256];
	char		path[64], line[512];
	size_t		flen = strlen(field);
	FILE		*f;
	const char	*v = NULL;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	while (v == NULL && fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, field, flen) != 0 || line[flen] != ':')
			continue;
		v = line + flen + 1;
		v += strspn(v, " \t");
		snprintf(value, sizeof(value), "%s", v);
		value[strcspn(value, "\n")] = '\0';
		/* Groups: ends with a space */
		for (flen = strlen(value); flen > 0 &&
		    (value[flen - 1] == ' ' || value[flen - 1] == '\t'); flen--)
			value[flen - 1] = '\0';
		v = value;
	}
	fclose(f);
	return v;
}

/* ---- files ------------------------------------------------------------- */

static char *
read_all(int fd, int from_start, size_t *len)
{
	size_t	 size = 65536, got = 0;
	char	*buf = NULL, *nb;
	ssize_t	 n;

	for (;;) {
		if (buf == NULL || got == size) {
			if (buf != NULL)
				size *= 2;
			if ((nb = realloc(buf, size + 1)) == NULL)
				break;
			buf = nb;
		}
		n = from_start ? pread(fd, buf + got, size - got, (off_t)got) :
		    read(fd, buf + got, size - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			break;
		if (n == 0) {
			buf[got] = '\0';
			*len = got;
			return buf;
		}
		got += (size_t)n;
	}
	free(buf);
	return NULL;
}

char *
qt_read_fd(int fd, size_t *len)
{
	return read_all(fd, 0, len);
}

char *
qt_pread_fd(int fd, size_t *len)
{
	return read_all(fd, 1, len);
}

char *
qt_read_file(const char *path, size_t *len)
{
	char	*buf;
	int	 fd;

	/* O_NONBLOCK: a FIFO left in a spool must not hang the test */
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) == -1)
		return NULL;
	buf = qt_read_fd(fd, len);
	close(fd);
	return buf;
}

int
qt_tmp_message(const char *dir, const void *buf, size_t len)
{
	char		 path[PATH_MAX];
	const char	*p = buf;
	ssize_t		 n;
	int		 fd, rfd;

	snprintf(path, sizeof(path), "%s/qfp-msg.XXXXXX", dir ? dir : "/tmp");
	if ((fd = mkstemp(path)) == -1)
		return qt_fail("mkstemp %s: %s", path, strerror(errno));
	for (; len > 0; p += n, len -= (size_t)n)
		if ((n = write(fd, p, len)) == -1) {
			qt_fail("write %s: %s", path, strerror(errno));
			close(fd);
			unlink(path);
			return -1;
		}
	close(fd);
	/* smtpd passes it read-only: so does every test */
	rfd = open(path, O_RDONLY | O_CLOEXEC);
	unlink(path);
	return rfd;
}

int
qt_exists(const char *path)
{
	struct stat	sb;

	return lstat(path, &sb) == 0;
}

/* Entries of dir but . and .. that keep() keeps, -1 if no dir. */
static int
count_if(const char *dir, int (*keep)(const char *, const char *,
    const void *), const void *arg)
{
	struct dirent	*dp;
	DIR		*d;
	int		 n = 0;

	if ((d = opendir(dir)) == NULL)
		return -1;
	while ((dp = readdir(d)) != NULL)
		if (strcmp(dp->d_name, ".") != 0 &&
		    strcmp(dp->d_name, "..") != 0 &&
		    keep(dir, dp->d_name, arg))
			n++;
	closedir(d);
	return n;
}

struct name_shape {
	const char	*prefix;
	size_t		 len;
};

static int
has_shape(const char *dir, const char *name, const void *arg)
{
	const struct name_shape	*ns = arg;

	return strncmp(name, ns->prefix, strlen(ns->prefix)) == 0 &&
	    (ns->len == 0 || strlen(name) == ns->len);
}

int
qt_count_named(const char *dir, const char *prefix, size_t namelen)
{
	struct name_shape	ns = { prefix, namelen };

	return count_if(dir, has_shape, &ns);
}

int
qt_count_entries(const char *dir)
{
	return qt_count_named(dir, "", 0);
}

/* A file counts too: qt_count_entries() says -1 for it. */
static int
not_empty_dir(const char *dir, const char *name, const void *arg)
{
	return qt_count_entries(qt_pathf(dir, "%s", name)) != 0;
}

int
qt_count_nonempty(const char *dir)
{
	return count_if(dir, not_empty_dir, NULL);
}

static int
has_word(const char *line, const char *word)
{
	return word == NULL || strstr(line, word) != NULL;
}

int
qt_log_count(const char *log, long from, const char *w1, const char *w2,
    const char *w3)
{
	char	 line[4096];
	FILE	*f;
	int	 n = 0;

	if ((f = fopen(log, "r")) == NULL)
		return 0;
	if (fseek(f, from, SEEK_SET) == -1) {
		fclose(f);
		return 0;
	}
	while (fgets(line, sizeof(line), f) != NULL)
		if (has_word(line, w1) && has_word(line, w2) &&
		    has_word(line, w3))
			n++;
	fclose(f);
	return n;
}

char *
qt_vpathf(const char *dir, const char *fmt, va_list ap)
{
	static char	 ring[PATH_RING][PATH_MAX];
	static int	 next;
	char		*b = ring[next++ % PATH_RING];
	int		 n = 0;

	if (dir != NULL)
		n = snprintf(b, PATH_MAX, "%s/", dir);
	vsnprintf(b + n, PATH_MAX - (size_t)n, fmt, ap);
	return b;
}

char *
qt_pathf(const char *dir, const char *fmt, ...)
{
	va_list	 ap;
	char	*p;

	va_start(ap, fmt);
	p = qt_vpathf(dir, fmt, ap);
	va_end(ap);
	return p;
}

/* A ring of its own: a test keeps one while it makes paths under it. */
char *
qt_msgdir(uint32_t msgid)
{
	static char	 ring[8][32];
	static int	 next;
	char		*b = ring[next++ % 8];

	snprintf(b, sizeof(ring[0]), "queue/%02x/%08x", msgid >> 24, msgid);
	return b;
}

char *
qt_evpfile(uint64_t evpid)
{
	return qt_pathf(NULL, "queue/%02x/%08x/%016llx",
	    (unsigned)(evpid >> 56), (unsigned)(evpid >> 32),
	    (unsigned long long)evpid);
}
