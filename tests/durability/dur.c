/*
 * Durability suite harness (see dur.h).
 */
#include <sys/types.h>
#include <sys/mount.h>
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

#include "dur.h"

#define DAEMON_DEFAULT	"queue-fs-proc/queue-fs-proc"

unsigned long	dur_checks, dur_failures;
uid_t		dur_uid;
gid_t		dur_gid;

static const char	*prog_name = "durability";
static char		 self_path[PATH_MAX];
/* what the watchdog kills: the processes we started and still run */
#define MAX_KIDS	8
static volatile pid_t	 kids[MAX_KIDS];

static void
kid_add(pid_t pid)
{
	int	i;

	for (i = 0; i < MAX_KIDS; i++)
		if (kids[i] == 0) {
			kids[i] = pid;
			return;
		}
}

static void
kid_del(pid_t pid)
{
	int	i;

	for (i = 0; i < MAX_KIDS; i++)
		if (kids[i] == pid)
			kids[i] = 0;
}

/* ---- launcher and set-up ---------------------------------------------- */

void
dur_launcher(int argc, char **argv)
{
	char	*av[3];

	if (argc != 4 || strcmp(argv[1], "--exec") != 0)
		return;
	av[0] = "queue-proc";
	av[1] = argv[3];
	av[2] = NULL;
	execv(argv[2], av);
	_exit(127);
}

const char *
dur_daemon_path(void)
{
	const char	*p = getenv("QFP_DAEMON");

	return p != NULL ? p : DAEMON_DEFAULT;
}

const char *
dur_self_path(void)
{
	return self_path;
}

static char	private_mnt[128];

static void
kill_kids(void)
{
	int	i;

	for (i = 0; i < MAX_KIDS; i++)
		if (kids[i] > 0)
			kill(kids[i], SIGKILL);
}

static void
watchdog(int sig)
{
	static const char msg[] = "FAIL: watchdog: the test ran out of time\n";

	(void)!write(1, msg, sizeof(msg) - 1);
	kill_kids();
	if (private_mnt[0] != '\0')
		umount2(private_mnt, MNT_DETACH);
	_exit(2);
}

static void
fatal_signal(int sig)
{
	kill_kids();
	if (private_mnt[0] != '\0' &&
	    umount2(private_mnt, MNT_DETACH) == 0)
		rmdir(private_mnt);
	signal(sig, SIG_DFL);
	raise(sig);
}

void
dur_private_fs_release(void)
{
	int	i;

	if (private_mnt[0] == '\0')
		return;
	kill_kids();
	for (i = 0; i < 50 && umount(private_mnt) == -1 && errno == EBUSY;
	    i++)
		poll(NULL, 0, 100);
	umount2(private_mnt, MNT_DETACH);
	rmdir(private_mnt);
	private_mnt[0] = '\0';
}

/*
 * A private ext4 on a loop device: syncfs() there flushes the test's
 * own data only, not whatever else the machine is writing to /tmp.
 * Returns its mount point, or NULL when it cannot be had.
 */
const char *
dur_private_fs(unsigned mb)
{
	char	img[160], cmd[512];
	int	fd;

	snprintf(private_mnt, sizeof(private_mnt), "/tmp/qfp-durfs.XXXXXX");
	if (mkdtemp(private_mnt) == NULL) {
		private_mnt[0] = '\0';
		return NULL;
	}
	snprintf(img, sizeof(img), "%s.img", private_mnt);
	if ((fd = open(img, O_WRONLY | O_CREAT | O_EXCL, 0600)) == -1 ||
	    ftruncate(fd, (off_t)mb << 20) == -1) {
		if (fd != -1)
			close(fd);
		rmdir(private_mnt);
		private_mnt[0] = '\0';
		return NULL;
	}
	close(fd);
	signal(SIGSEGV, fatal_signal);
	signal(SIGABRT, fatal_signal);
	signal(SIGTERM, fatal_signal);
	signal(SIGINT, fatal_signal);
	signal(SIGBUS, fatal_signal);
	atexit(dur_private_fs_release);
	snprintf(cmd, sizeof(cmd), "mkfs.ext4 -q -F '%s' >/dev/null 2>&1 && "
	    "mount -o loop '%s' '%s'", img, img, private_mnt);
	if (system(cmd) != 0) {
		unlink(img);
		rmdir(private_mnt);
		private_mnt[0] = '\0';
		return NULL;
	}
	/* the mount keeps the image alive; unlinked, it cannot leak */
	unlink(img);
	return private_mnt;
}

int
dur_setup(const char *prog, unsigned secs)
{
	struct passwd	*pw;
	ssize_t		 n;

	prog_name = prog;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid() != 0) {
		printf("FAIL: %s: must run as root (the daemon chroots and "
		    "drops to %s)\n", prog, DUR_USER);
		return -1;
	}
	if (access(dur_daemon_path(), X_OK) == -1) {
		printf("FAIL: %s: no daemon at %s (run make)\n", prog,
		    dur_daemon_path());
		return -1;
	}
	if (getpwnam(DUR_USER) == NULL &&
	    system("useradd -r -M -s /usr/sbin/nologin " DUR_USER) != 0) {
		printf("FAIL: %s: cannot create user %s\n", prog, DUR_USER);
		return -1;
	}
	if ((pw = getpwnam(DUR_USER)) == NULL) {
		printf("FAIL: %s: user %s unknown\n", prog, DUR_USER);
		return -1;
	}
	dur_uid = pw->pw_uid;
	dur_gid = pw->pw_gid;
	if ((n = readlink("/proc/self/exe", self_path,
	    sizeof(self_path) - 1)) > 0)
		self_path[n] = '\0';
	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, watchdog);
	alarm(secs);
	return 0;
}

/* ---- the daemon ------------------------------------------------------- */

int
dd_init(struct dd *d, const char *parent, int parent_is_dir, const char *opts)
{
	memset(d, 0, sizeof(*d));
	d->pid = -1;
	d->sock = -1;
	d->timeout_ms = DUR_TIMEOUT_MS;
	snprintf(d->opts, sizeof(d->opts), "%s", opts ? opts : "");
	if (parent_is_dir)
		snprintf(d->dir, sizeof(d->dir), "%s", parent);
	else {
		snprintf(d->dir, sizeof(d->dir), "%s/qfp-dur.XXXXXX",
		    parent ? parent : "/tmp");
		if (mkdtemp(d->dir) == NULL) {
			printf("  mkdtemp %s: %s\n", d->dir, strerror(errno));
			return -1;
		}
	}
	snprintf(d->spool, sizeof(d->spool), "%s/spool", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/daemon.log", d->dir);
	/* smtpd's spool: root's, 0711 */
	if (mkdir(d->spool, 0711) == -1 || chmod(d->spool, 0711) == -1) {
		printf("  mkdir %s: %s\n", d->spool, strerror(errno));
		return -1;
	}
	return 0;
}

static void __attribute__((noreturn))
exec_child(struct dd *d, int sock, int logfd, char *opts)
{
	char	*argv[64], *s, *tok;
	int	 argc = 0;

	if (dup2(sock, 0) == -1 || dup2(logfd, 1) == -1 ||
	    dup2(logfd, 2) == -1)
		_exit(127);
	fcntl(0, F_SETFD, 0);
	closefrom(3);
	/* a fresh signal state, as smtpd's child has */
	signal(SIGPIPE, SIG_DFL);
	signal(SIGALRM, SIG_DFL);
	if (d->strace[0] == '\0') {
		argv[0] = "queue-proc";
		argv[1] = opts;
		argv[2] = NULL;
		execv(dur_daemon_path(), argv);
		_exit(127);
	}
	/* strace ARGS SELF --exec DAEMON OPTS: SELF execs the daemon */
	argv[argc++] = "strace";
	s = strdup(d->strace);
	while ((tok = strsep(&s, " ")) != NULL && argc < 56)
		if (*tok != '\0')
			argv[argc++] = tok;
	argv[argc++] = (char *)dur_self_path();
	argv[argc++] = "--exec";
	argv[argc++] = (char *)dur_daemon_path();
	argv[argc++] = opts;
	argv[argc] = NULL;
	execvp("strace", argv);
	_exit(127);
}

int
dd_start(struct dd *d)
{
	struct timeval	 tv;
	char		 opts[2048];
	int		 sv[2], logfd;

	if (d->pid != -1) {
		printf("  dd_start: daemon already running\n");
		return -1;
	}
	snprintf(opts, sizeof(opts), "-d -s %s -u %s %s", d->spool, DUR_USER,
	    d->opts);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		return -1;
	if ((logfd = open(d->log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0644)) == -1) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if ((d->pid = fork()) == -1) {
		close(sv[0]);
		close(sv[1]);
		close(logfd);
		return -1;
	}
	if (d->pid == 0)
		exec_child(d, sv[1], logfd, opts);
	kid_add(d->pid);
	close(sv[1]);
	close(logfd);
	d->sock = sv[0];
	tv.tv_sec = d->timeout_ms / 1000;
	tv.tv_usec = (d->timeout_ms % 1000) * 1000;
	setsockopt(d->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(d->sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	pq_client_init(&d->c, d->sock, IMSG_DIALECT_A);
	return 0;
}

int
dd_start_init(struct dd *d)
{
	if (dd_start(d) == -1)
		return -1;
	return pq_init(&d->c) == 1 ? 0 : -1;
}

int
dd_wait(struct dd *d, int timeout_ms)
{
	uint64_t	deadline = now_us() + (uint64_t)timeout_ms * 1000;
	pid_t		r;
	int		st;

	if (d->pid == -1)
		return d->status;
	for (;;) {
		r = waitpid(d->pid, &st, WNOHANG);
		if (r == d->pid) {
			kid_del(d->pid);
			d->pid = -1;
			d->status = st;
			if (d->sock != -1)
				close(d->sock);
			d->sock = -1;
			return st;
		}
		if (r == -1 && errno != EINTR) {
			printf("  waitpid %d: %s\n", (int)d->pid,
			    strerror(errno));
			kid_del(d->pid);
			d->pid = -1;
			return -1;
		}
		if (now_us() >= deadline)
			return -1;
		poll(NULL, 0, 2);
	}
}

int
dd_alive(struct dd *d)
{
	return d->pid != -1 && dd_wait(d, 0) == -1 && d->pid != -1;
}

void
dd_kill(struct dd *d)
{
	if (d->pid == -1)
		return;
	kill(d->pid, SIGKILL);
	/* a kill waits for a syscall in D state, syncfs() included */
	if (dd_wait(d, 60000) == -1 && d->pid != -1) {
		printf("  daemon %d does not die\n", (int)d->pid);
		d->pid = -1;
	}
}

int
dd_stop(struct dd *d)
{
	int	st;

	if (d->pid == -1)
		return d->status;
	if (d->sock != -1)
		close(d->sock);
	d->sock = -1;
	if ((st = dd_wait(d, 10000)) == -1) {
		dd_kill(d);
		return -1;
	}
	return st;
}

void
dd_cleanup(struct dd *d)
{
	if (d->pid != -1 && dd_stop(d) == -1)
		dd_kill(d);
	if (getenv("DUR_KEEP") != NULL)
		printf("  kept %s\n", d->dir);
	else if (d->dir[0] != '\0')
		rm_rf(d->dir);
}

/* ---- logs ------------------------------------------------------------- */

int
log_count(const char *log, const char *needle, const char *needle2)
{
	char	 line[4096];
	FILE	*f;
	int	 n = 0;

	if ((f = fopen(log, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, needle) != NULL &&
		    (needle2 == NULL || strstr(line, needle2) != NULL))
			n++;
	fclose(f);
	return n;
}

void
log_tail(const char *log, int lines)
{
	char	cmd[PATH_MAX + 32];

	fflush(stdout);
	snprintf(cmd, sizeof(cmd), "tail -n %d '%s' | sed 's/^/  log| /'",
	    lines, log);
	(void)!system(cmd);
}

/* ---- files ------------------------------------------------------------ */

char *
fd_read_all(int fd, size_t *len)
{
	size_t	 size = 65536, got = 0;
	char	*buf = malloc(size), *nb;
	ssize_t	 n;

	if (buf == NULL)
		return NULL;
	for (;;) {
		if (got == size) {
			size *= 2;
			if ((nb = realloc(buf, size)) == NULL) {
				free(buf);
				return NULL;
			}
			buf = nb;
		}
		n = read(fd, buf + got, size - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			free(buf);
			return NULL;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	*len = got;
	return buf;
}

char *
read_file(const char *path, size_t *len)
{
	char	*buf;
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) == -1)
		return NULL;
	buf = fd_read_all(fd, len);
	close(fd);
	return buf;
}

int
write_file(const char *path, const void *buf, size_t len, mode_t mode)
{
	const char	*p = buf;
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    mode)) == -1)
		return -1;
	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			close(fd);
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return close(fd);
}

/* smtpd's copy of a message: a regular file, passed read-only. */
int
msg_tmpfile(const char *dir, const void *buf, size_t len)
{
	char		 path[PATH_MAX];
	const char	*p = buf;
	ssize_t		 n;
	int		 fd, rfd;

	snprintf(path, sizeof(path), "%s/msg.XXXXXX", dir);
	if ((fd = mkstemp(path)) == -1)
		return -1;
	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			close(fd);
			unlink(path);
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	close(fd);
	rfd = open(path, O_RDONLY | O_CLOEXEC);
	unlink(path);
	return rfd;
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	if (flag == FTW_DP || flag == FTW_D || flag == FTW_DNR)
		chmod(path, 0700);
	return remove(path) == -1 && errno != ENOENT ? -1 : 0;
}

int
rm_rf(const char *path)
{
	return nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int
count_entries(const char *dir)
{
	struct dirent	*dp;
	DIR		*d;
	int		 n = 0;

	if ((d = opendir(dir)) == NULL)
		return -1;
	while ((dp = readdir(d)) != NULL)
		if (strcmp(dp->d_name, ".") != 0 &&
		    strcmp(dp->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

int
path_exists(const char *path)
{
	struct stat	sb;

	return lstat(path, &sb) == 0;
}

char *
spath(struct dd *d, const char *fmt, ...)
{
	static char	buf[4][PATH_MAX];
	static int	i;
	char		rel[1024];
	va_list		ap;

	i = (i + 1) % 4;
	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", d->spool, rel);
	return buf[i];
}

void
msgdir_rel(uint32_t msgid, char *buf, size_t size)
{
	snprintf(buf, size, "queue/%02x/%08x", msgid >> 24, msgid);
}

void
evp_rel(uint64_t evpid, char *buf, size_t size)
{
	snprintf(buf, size, "queue/%02x/%08x/%016llx",
	    (unsigned)(evpid >> 56), (unsigned)(evpid >> 32),
	    (unsigned long long)evpid);
}

/* ---- random numbers, time --------------------------------------------- */

static uint64_t	rnd_state = 88172645463325252ULL;

void
rnd_seed(uint64_t s)
{
	rnd_state = s ? s : 88172645463325252ULL;
}

uint64_t
rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

uint64_t
rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

void
rnd_fill(void *buf, size_t len)
{
	unsigned char	*p = buf;
	uint64_t	 v = 0;
	size_t		 i;

	for (i = 0; i < len; i++) {
		if (i % 8 == 0)
			v = rnd();
		p[i] = (unsigned char)(v >> (8 * (i % 8)));
	}
}

uint64_t
now_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* ---- results ---------------------------------------------------------- */

#define MAX_GROUPS	64
#define SHOW_PER_GROUP	8

static struct group {
	const char	*name;
	unsigned long	 checks, fails;
} groups[MAX_GROUPS];

static struct group *
group(const char *name)
{
	int	i;

	for (i = 0; i < MAX_GROUPS && groups[i].name != NULL; i++)
		if (strcmp(groups[i].name, name) == 0)
			return &groups[i];
	if (i == MAX_GROUPS)
		return &groups[MAX_GROUPS - 1];
	groups[i].name = name;
	return &groups[i];
}

void
check(int ok, const char *name, const char *fmt, ...)
{
	struct group	*g = group(name);
	va_list		 ap;

	dur_checks++;
	g->checks++;
	if (ok)
		return;
	dur_failures++;
	if (g->fails++ < SHOW_PER_GROUP) {
		printf("  %s: ", name);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
	} else if (g->fails == SHOW_PER_GROUP + 1)
		printf("  %s: (further failures not shown)\n", name);
}

void
result(const char *name)
{
	struct group	*g = group(name);

	if (g->fails == 0 && g->checks > 0)
		printf("PASS: %s (%lu checks)\n", name, g->checks);
	else if (g->fails == 0)
		printf("FAIL: %s (no check ran)\n", name);
	else
		printf("FAIL: %s (%lu of %lu checks failed)\n", name,
		    g->fails, g->checks);
}
