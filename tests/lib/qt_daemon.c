/*
 * The daemon handle (see qt_daemon.h).
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qt_daemon.h"

/* what qd_kill_all() kills: the daemons started and not yet reaped */
#define QD_MAXLIVE	16
static volatile pid_t	qd_live[QD_MAXLIVE];

static void
qd_live_add(pid_t pid)
{
	int	i;

	for (i = 0; i < QD_MAXLIVE; i++)
		if (qd_live[i] == 0) {
			qd_live[i] = pid;
			return;
		}
}

static void
qd_live_del(pid_t pid)
{
	int	i;

	for (i = 0; i < QD_MAXLIVE; i++)
		if (qd_live[i] == pid)
			qd_live[i] = 0;
}

void
qd_kill_all(void)
{
	int	i;

	for (i = 0; i < QD_MAXLIVE; i++)
		if (qd_live[i] > 0)
			kill(qd_live[i], SIGKILL);
}

void
qd_init(struct qt_daemon *d, const char *opts)
{
	memset(d, 0, sizeof(*d));
	d->pid = -1;
	d->sock = -1;
	d->dialect = IMSG_DIALECT_A;
	d->timeout_ms = QD_TIMEOUT_MS;
	snprintf(d->opts, sizeof(d->opts), "%s", opts ? opts : "");
}

int
qd_workdir_at(struct qt_daemon *d, const char *dir)
{
	int	fd;

	if (dir != d->dir && strlcpy(d->dir, dir, sizeof(d->dir)) >=
	    sizeof(d->dir))
		return qt_fail("%s: path too long", dir);
	snprintf(d->spool, sizeof(d->spool), "%s/spool", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/daemon.log", d->dir);
	if (qt_spool_new(d->spool) == -1)
		return -1;
	if ((fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644)) == -1)
		return qt_fail("%s: %s", d->log, strerror(errno));
	close(fd);
	return 0;
}

int
qd_workdir(struct qt_daemon *d, const char *parent)
{
	if (parent == NULL && (parent = getenv("TMPDIR")) == NULL)
		parent = "/tmp";
	snprintf(d->dir, sizeof(d->dir), "%s/qfp-XXXXXX", parent);
	if (mkdtemp(d->dir) == NULL) {
		qt_fail("mkdtemp %s: %s", d->dir, strerror(errno));
		d->dir[0] = '\0';
		return -1;
	}
	return qd_workdir_at(d, d->dir);
}

void
qd_launcher(int argc, char **argv)
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

/* Split words of s after argv[*n] (at most max in all). */
static void
qd_split(char **argv, int *n, int max, const char *s)
{
	char	*copy, *tok;

	copy = strdup(s);
	while (copy != NULL && (tok = strsep(&copy, " ")) != NULL &&
	    *n < max)
		if (*tok != '\0')
			argv[(*n)++] = tok;
}

/*
 * In the child, fds in place: strace runs us again as the launcher,
 * which keeps the smtpd form; under any other wrapper argv[0] is the
 * binary's path, so the daemon does not take the smtpd form: pass the
 * options split.
 */
static void
qd_exec_wrapped(const struct qt_spawn *sp)
{
	struct qt_daemon	*d = sp->arg;
	char			*argv[64], self[PATH_MAX];
	ssize_t			 len;
	int			 n = 0, i;

	if (d->strace[0] != '\0') {
		/* this program, before strace's exec makes it strace */
		if ((len = readlink("/proc/self/exe", self,
		    sizeof(self) - 1)) == -1)
			_exit(127);
		self[len] = '\0';
		argv[n++] = "strace";
		qd_split(argv, &n, 56, d->strace);
		argv[n++] = self;
		argv[n++] = "--exec";
		argv[n++] = (char *)sp->daemon;
		argv[n++] = (char *)sp->argv1;
		argv[n] = NULL;
		execvp("strace", argv);
		_exit(127);
	}
	if (d->wrapper == NULL)
		return;
	for (i = 0; d->wrapper[i] != NULL && n < 40; i++)
		argv[n++] = d->wrapper[i];
	argv[n++] = (char *)sp->daemon;
	qd_split(argv, &n, 62, sp->argv1);
	argv[n] = NULL;
	execvp(argv[0], argv);
	_exit(127);
}

int
qd_start_argv1(struct qt_daemon *d, const char *argv1)
{
	struct qt_spawn	sp = { .argv1 = argv1, .timeout_ms = d->timeout_ms,
			    .exec = qd_exec_wrapped, .arg = d };

	if (d->pid != -1)
		return qt_fail("daemon %ld already running", (long)d->pid);
	/* the socket of a daemon that died */
	qt_close(&d->sock);
	sp.daemon = d->daemon != NULL ? d->daemon : qt_daemon_path();
	if ((sp.logfd = open(d->log, O_WRONLY | O_APPEND | O_CREAT |
	    O_CLOEXEC, 0644)) == -1)
		return qt_fail("open %s: %s", d->log, strerror(errno));
	d->pid = qt_spawn(&sp, &d->sock);
	close(sp.logfd);
	if (d->pid == -1)
		return -1;
	qd_live_add(d->pid);
	pq_client_init(&d->c, d->sock, d->dialect);
	return 0;
}

int
qd_start(struct qt_daemon *d)
{
	char	argv1[PATH_MAX + 512];

	qt_options(argv1, sizeof(argv1), !d->syslog, d->spool,
	    d->user != NULL ? d->user : QT_USER, d->opts);
	return qd_start_argv1(d, argv1);
}

int
qd_start_init(struct qt_daemon *d)
{
	if (qd_start(d) == -1)
		return -1;
	if (pq_init(&d->c) != 1)
		return qt_fail("INIT not answered (daemon exit %d)",
		    qd_exit_code(d, 2000));
	return 0;
}

int
qd_wait(struct qt_daemon *d, int timeout_ms)
{
	pid_t	pid = d->pid;

	if (pid == -1)
		return d->status;
	if (qt_wait(&d->pid, &d->status, timeout_ms) == -1)
		return -1;
	qd_live_del(pid);
	return d->status;
}

int
qd_exit_code(struct qt_daemon *d, int timeout_ms)
{
	int	st;

	if ((st = qd_wait(d, timeout_ms)) == -1)
		return -1;
	return qt_exit_code(st);
}

int
qd_alive(struct qt_daemon *d)
{
	return d->pid != -1 && qd_wait(d, 0) == -1 && d->pid != -1;
}

void
qd_kill(struct qt_daemon *d)
{
	pid_t	pid = d->pid;

	if (qt_kill(&d->pid, &d->status) == -1) {
		fprintf(stderr, "daemon %ld does not die: %s\n", (long)pid,
		    qt_error);
		d->pid = -1;
	}
	qd_live_del(pid);
	qt_close(&d->sock);
}

int
qd_stop(struct qt_daemon *d)
{
	qt_close(&d->sock);
	if (d->pid != -1 && qd_wait(d, d->timeout_ms) == -1) {
		qd_kill(d);
		return -1;
	}
	return qt_exit_code(d->status);
}

void
qd_cleanup(struct qt_daemon *d)
{
	if (d->pid != -1)
		qd_stop(d);
	qt_close(&d->sock);
	if (getenv("QFP_KEEP") != NULL)
		fprintf(stderr, "kept spool %s, log %s\n", d->spool, d->log);
	else if (d->dir[0] != '\0')
		qt_rmtree(d->dir);
}

struct qt_daemon *
qd_new(const char *opts, enum imsg_dialect dialect, int timeout_ms)
{
	struct qt_daemon	*d;

	if ((d = malloc(sizeof(*d))) == NULL) {
		qt_fail("malloc: %s", strerror(errno));
		return NULL;
	}
	qd_init(d, opts);
	d->dialect = dialect;
	d->timeout_ms = timeout_ms;
	if (qd_workdir(d, NULL) == -1 || qd_start_init(d) == -1) {
		qd_free(d);
		return NULL;
	}
	return d;
}

void
qd_free(struct qt_daemon *d)
{
	if (d == NULL)
		return;
	qd_cleanup(d);
	free(d);
}

static int
same_comm(pid_t a, pid_t b)
{
	char	ca[64] = "", cb[64] = "";
	FILE	*f;

	if ((f = fopen(qt_pathf(NULL, "/proc/%ld/comm", (long)a), "r"))) {
		if (fgets(ca, sizeof(ca), f) == NULL)
			ca[0] = '\0';
		fclose(f);
	}
	if ((f = fopen(qt_pathf(NULL, "/proc/%ld/comm", (long)b), "r"))) {
		if (fgets(cb, sizeof(cb), f) == NULL)
			cb[0] = '\0';
		fclose(f);
	}
	return ca[0] != '\0' && strcmp(ca, cb) == 0;
}

pid_t
qd_target(struct qt_daemon *d)
{
	char	 path[96];
	long	 child = -1;
	FILE	*f;

	if ((d->wrapper == NULL && d->strace[0] == '\0') || d->pid == -1)
		return d->pid;
	snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children",
	    (long)d->pid, (long)d->pid);
	if ((f = fopen(path, "r")) != NULL) {
		if (fscanf(f, "%ld", &child) != 1)
			child = -1;
		fclose(f);
	}
	/* a wrapper that runs the daemon in its own process (valgrind):
	 * its child is the daemon's log checkpointer, same comm (only its
	 * title, in cmdline, differs) */
	if (child > 0 && same_comm(d->pid, (pid_t)child))
		child = -1;
	return child > 0 ? (pid_t)child : d->pid;
}

void
qd_log_mark(struct qt_daemon *d)
{
	struct stat	sb;

	d->logmark = stat(d->log, &sb) == 0 ? (long)sb.st_size : 0;
}

int
qd_log_has(struct qt_daemon *d, const char *w1, const char *w2,
    const char *w3)
{
	return qt_log_count(d->log, d->logmark, w1, w2, w3) > 0;
}

void
qd_log_show(struct qt_daemon *d, int lines)
{
	char	 line[2048];
	long	 n = 0, skip;
	FILE	*f;

	if ((f = fopen(d->log, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL)
		n++;
	skip = lines > 0 && n > lines ? n - lines : 0;
	rewind(f);
	fflush(stdout);
	while (fgets(line, sizeof(line), f) != NULL)
		if (skip-- <= 0)
			printf("  log| %s", line);
	fflush(stdout);
	fclose(f);
}

int
qd_smtpd_message(struct qt_daemon *d, uint32_t msgid, const void *buf,
    size_t len)
{
	char	*dir = qd_path(d, "temporary");
	char	*path = qd_path(d, "temporary/%08x", msgid);
	uid_t	 uid;
	gid_t	 gid;
	int	 fd;

	if (qt_user(d->user != NULL ? d->user : QT_USER, &uid, &gid) == -1)
		return -1;
	if ((mkdir(dir, 0700) == -1 && errno != EEXIST) ||
	    chown(dir, uid, gid) == -1)
		return qt_fail("%s: %s", dir, strerror(errno));
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) == -1)
		return qt_fail("%s: %s", path, strerror(errno));
	if (fchown(fd, uid, gid) == -1 ||
	    write(fd, buf, len) != (ssize_t)len) {
		qt_fail("%s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	return open(path, O_RDONLY | O_CLOEXEC);
}

void
qd_smtpd_unlink(struct qt_daemon *d, uint32_t msgid)
{
	(void)unlink(qd_path(d, "temporary/%08x", msgid));
}
