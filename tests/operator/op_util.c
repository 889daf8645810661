/* Operator tests: see op_util.h. */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "op_util.h"

int
op_ensure_user(const char *user)
{
	char	cmd[256];

	if (getpwnam(user) != NULL)
		return 0;
	snprintf(cmd, sizeof(cmd), "useradd -r -M -s /usr/sbin/nologin %s",
	    user);
	if (system(cmd) != 0 || getpwnam(user) == NULL) {
		fprintf(stderr, "cannot create user %s\n", user);
		return -1;
	}
	return 0;
}

int
op_make_spool(char *buf, size_t size)
{
	snprintf(buf, size, "/tmp/qfp-op-spool.XXXXXX");
	if (mkdtemp(buf) == NULL || chmod(buf, 0711) == -1)
		return -1;
	return 0;
}

static const char *
daemon_path(void)
{
	const char	*p = getenv("QFP_DAEMON");

	return p != NULL ? p : OP_DAEMON;
}

int
op_start(struct op_daemon *d, const char *spool, const char *user,
    const char *extra, int logfd)
{
	struct timeval	 tv = { OP_TIMEOUT_MS / 1000, 0 };
	char		 opts[512], *argv[3];
	int		 sv[2];

	snprintf(opts, sizeof(opts), "-d -s %s -u %s%s%s", spool, user,
	    extra ? " " : "", extra ? extra : "");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	if ((d->pid = fork()) == -1)
		return -1;
	if (d->pid == 0) {
		if (dup2(sv[1], 0) == -1 || dup2(logfd, 1) == -1 ||
		    dup2(logfd, 2) == -1)
			_exit(127);
		fcntl(0, F_SETFD, 0);
		closefrom(3);
		argv[0] = "queue-proc";
		argv[1] = opts;
		argv[2] = NULL;
		execv(daemon_path(), argv);
		_exit(127);
	}
	close(sv[1]);
	d->sock = sv[0];
	if (setsockopt(d->sock, SOL_SOCKET, SO_RCVTIMEO, &tv,
	    sizeof(tv)) == -1)
		return -1;
	pq_client_init(&d->c, d->sock, IMSG_DIALECT_A);
	return 0;
}

int
op_stop(struct op_daemon *d, int timeout_ms)
{
	int	st, waited;

	if (d->sock != -1)
		close(d->sock);
	d->sock = -1;
	for (waited = 0; waited <= timeout_ms; waited += 10) {
		if (waitpid(d->pid, &st, WNOHANG) == d->pid)
			return st;
		poll(NULL, 0, 10);
	}
	kill(d->pid, SIGKILL);
	waitpid(d->pid, &st, 0);
	return -1;
}

int
op_tmp_file(const char *content, size_t len)
{
	char	path[] = "/tmp/qfp-op-msg.XXXXXX";
	int	fd;

	if ((fd = mkstemp(path)) == -1)
		return -1;
	unlink(path);
	if (write(fd, content, len) != (ssize_t)len ||
	    lseek(fd, 0, SEEK_SET) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	return remove(path) == -1 && errno != ENOENT ? -1 : 0;
}

void
op_rmtree(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}
