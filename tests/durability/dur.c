/*
 * Durability suite harness (see dur.h).
 */
#include <sys/types.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dur.h"

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
	ssize_t	n;

	prog_name = prog;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (qt_setup(1) == -1 || qt_user(DUR_USER, &dur_uid, &dur_gid) == -1) {
		printf("FAIL: %s: %s\n", prog, qt_error);
		return -1;
	}
	if ((n = readlink("/proc/self/exe", self_path,
	    sizeof(self_path) - 1)) > 0)
		self_path[n] = '\0';
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
	if (qt_spool_new(d->spool) == -1) {
		printf("  %s\n", qt_error);
		return -1;
	}
	return 0;
}

/*
 * In the child, before smtpd's execv: a fresh signal state, as smtpd's
 * child has; under strace, "strace ARGS SELF --exec DAEMON OPTS" instead
 * (SELF, dur_launcher(), execs the daemon the smtpd way).
 */
static void
exec_child(const struct qt_spawn *sp)
{
	struct dd	*d = sp->arg;
	char		*argv[64], *s, *tok;
	int		 argc = 0;

	signal(SIGPIPE, SIG_DFL);
	signal(SIGALRM, SIG_DFL);
	if (d->strace[0] == '\0')
		return;
	argv[argc++] = "strace";
	s = strdup(d->strace);
	while ((tok = strsep(&s, " ")) != NULL && argc < 56)
		if (*tok != '\0')
			argv[argc++] = tok;
	argv[argc++] = (char *)dur_self_path();
	argv[argc++] = "--exec";
	argv[argc++] = (char *)qt_daemon_path();
	argv[argc++] = (char *)sp->argv1;
	argv[argc] = NULL;
	execvp("strace", argv);
	_exit(127);
}

int
dd_start(struct dd *d)
{
	struct qt_spawn	 sp = { .timeout_ms = d->timeout_ms,
			    .exec = exec_child, .arg = d };
	struct timeval	 tv;
	char		 opts[2048];

	if (d->pid != -1) {
		printf("  dd_start: daemon already running\n");
		return -1;
	}
	qt_options(opts, sizeof(opts), 1, d->spool, DUR_USER, d->opts);
	sp.argv1 = opts;
	if ((sp.logfd = open(d->log, O_WRONLY | O_APPEND | O_CREAT |
	    O_CLOEXEC, 0644)) == -1)
		return -1;
	d->pid = qt_spawn(&sp, &d->sock);
	close(sp.logfd);
	if (d->pid == -1)
		return -1;
	kid_add(d->pid);
	/* a daemon that stops reading must not block a test's request */
	tv.tv_sec = d->timeout_ms / 1000;
	tv.tv_usec = (d->timeout_ms % 1000) * 1000;
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

/* As qt_wait(), but the watchdog forgets the pid and our end closes. */
int
dd_wait(struct dd *d, int timeout_ms)
{
	pid_t	pid = d->pid;

	if (pid == -1)
		return d->status;
	if (qt_wait(&d->pid, &d->status, timeout_ms) == -1) {
		if (errno == ETIMEDOUT)
			return -1;
		printf("  %s\n", qt_error);
		kid_del(pid);
		d->pid = -1;
		return -1;
	}
	kid_del(pid);
	qt_close(&d->sock);
	return d->status;
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
	qt_close(&d->sock);
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
		qt_rmtree(d->dir);
}

/* ---- logs ------------------------------------------------------------- */

int
log_count(const char *log, const char *needle, const char *needle2)
{
	return qt_log_count(log, 0, needle, needle2, NULL);
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
