/*
 * Hardening test helpers (see hlib.h).
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

#include "hlib.h"

char	hd_error[512];

static int __attribute__((format(printf, 1, 2)))
err(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(hd_error, sizeof(hd_error), fmt, ap);
	va_end(ap);
	return -1;
}

static uint64_t
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

const char *
hd_daemon_path(void)
{
	const char	*p = getenv("QFP_DAEMON");

	return p != NULL ? p : "queue-fs-proc/queue-fs-proc";
}

int
hd_ensure_user(void)
{
	if (geteuid() != 0)
		return err("must run as root");
	if (getpwnam(HD_USER) == NULL &&
	    system("useradd -r -M -s /usr/sbin/nologin " HD_USER) != 0)
		return err("cannot create user %s", HD_USER);
	if (getpwnam(HD_USER) == NULL)
		return err("user %s still unknown", HD_USER);
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

int
hd_spool_new(struct hd *h)
{
	const char	*tmp = getenv("TMPDIR");
	int		 fd;

	if (h->pid == 0 && h->sock == 0) {
		/* a zeroed struct: make it a stopped one */
		h->pid = -1;
		h->sock = -1;
	}
	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	snprintf(h->spool, sizeof(h->spool), "%s/qfp-hard.XXXXXX", tmp);
	if (mkdtemp(h->spool) == NULL)
		return err("mkdtemp: %s", strerror(errno));
	if (chmod(h->spool, 0711) == -1)
		return err("chmod: %s", strerror(errno));
	snprintf(h->log, sizeof(h->log), "%s/qfp-hlog.XXXXXX", tmp);
	if ((fd = mkstemp(h->log)) == -1)
		return err("mkstemp: %s", strerror(errno));
	close(fd);
	if (h->daemon == NULL)
		h->daemon = hd_daemon_path();
	if (h->dialect == IMSG_DIALECT_UNKNOWN)
		h->dialect = IMSG_DIALECT_A;
	return 0;
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	return remove(path) == -1 && errno != ENOENT ? -1 : 0;
}

void
hd_spool_remove(const char *path)
{
	if (path[0] != '\0')
		nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void __attribute__((noreturn))
exec_daemon(struct hd *h, int sock, int logfd, const char *argv1)
{
	char	*argv[64], *copy, *tok;
	int	 n = 0, i;

	if (dup2(sock, 0) == -1 || dup2(logfd, 1) == -1 ||
	    dup2(logfd, 2) == -1)
		_exit(127);
	fcntl(0, F_SETFD, 0);
	closefrom(3);
	if (h->wrapper == NULL) {
		/* smtpd's form: argv[0] "queue-proc", options in argv[1] */
		argv[0] = "queue-proc";
		argv[1] = (char *)argv1;
		argv[2] = NULL;
		execv(h->daemon, argv);
		_exit(127);
	}
	/*
	 * Under a wrapper argv[0] is the binary's path, so the daemon does
	 * not take the smtpd form: pass the options split.
	 */
	for (i = 0; h->wrapper[i] != NULL && n < 40; i++)
		argv[n++] = h->wrapper[i];
	argv[n++] = (char *)h->daemon;
	copy = strdup(argv1);
	while (copy != NULL && (tok = strsep(&copy, " ")) != NULL && n < 62)
		if (*tok != '\0')
			argv[n++] = tok;
	argv[n] = NULL;
	execvp(argv[0], argv);
	_exit(127);
}

int
hd_start_raw(struct hd *h, const char *argv1)
{
	struct timeval	tv = { HD_TIMEOUT_MS / 1000, 0 };
	int		sv[2], logfd;

	if (h->pid != -1)
		return err("daemon already running");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		return err("socketpair: %s", strerror(errno));
	if ((logfd = open(h->log, O_WRONLY | O_APPEND | O_CLOEXEC)) == -1)
		return err("open %s: %s", h->log, strerror(errno));
	if ((h->pid = fork()) == -1)
		return err("fork: %s", strerror(errno));
	if (h->pid == 0)
		exec_daemon(h, sv[1], logfd, argv1);
	close(sv[1]);
	close(logfd);
	h->sock = sv[0];
	setsockopt(h->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	pq_client_init(&h->c, h->sock, h->dialect);
	return 0;
}

int
hd_start(struct hd *h, const char *opts)
{
	char	argv1[512];

	snprintf(argv1, sizeof(argv1), "%s-s %s -u %s%s%s",
	    h->syslog ? "" : "-d ", h->spool, HD_USER,
	    opts && *opts ? " " : "", opts ? opts : "");
	return hd_start_raw(h, argv1);
}

int
hd_start_init(struct hd *h, const char *opts)
{
	if (hd_start(h, opts) == -1)
		return -1;
	if (pq_init(&h->c) != 1)
		return err("INIT failed (daemon exit %d)", hd_wait(h, 2000));
	return 0;
}

int
hd_wait(struct hd *h, int timeout_ms)
{
	uint64_t	deadline = now_ms() + (uint64_t)timeout_ms;
	pid_t		r;
	int		st;

	if (h->pid == -1)
		goto done;
	for (;;) {
		r = waitpid(h->pid, &st, WNOHANG);
		if (r == h->pid) {
			h->pid = -1;
			h->status = st;
			break;
		}
		if (r == -1 && errno != EINTR)
			return -1;
		if (now_ms() >= deadline)
			return -1;
		poll(NULL, 0, 5);
	}
done:
	if (WIFEXITED(h->status))
		return WEXITSTATUS(h->status);
	return 128 + WTERMSIG(h->status);
}

int
hd_stop(struct hd *h)
{
	int	code;

	if (h->sock != -1)
		close(h->sock);
	h->sock = -1;
	if ((code = hd_wait(h, HD_TIMEOUT_MS)) == -1)
		hd_kill(h);
	return code;
}

void
hd_kill(struct hd *h)
{
	int	st;

	if (h->pid != -1) {
		kill(h->pid, SIGKILL);
		while (waitpid(h->pid, &st, 0) == -1 && errno == EINTR)
			;
		h->status = st;
		h->pid = -1;
	}
	if (h->sock != -1)
		close(h->sock);
	h->sock = -1;
}

void
hd_free(struct hd *h)
{
	if (h->pid != -1 && hd_stop(h) == -1)
		hd_kill(h);
	if (h->sock != -1)
		close(h->sock);
	h->sock = -1;
	if (getenv("QFP_KEEP") != NULL) {
		fprintf(stderr, "kept spool %s, log %s\n", h->spool, h->log);
		return;
	}
	hd_spool_remove(h->spool);
	if (h->log[0] != '\0')
		unlink(h->log);
}

/* ---- /proc ------------------------------------------------------------ */

const char *
hd_status(pid_t pid, const char *field)
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

int
hd_root(pid_t pid, char *buf, size_t size)
{
	char	path[64];
	ssize_t	n;

	snprintf(path, sizeof(path), "/proc/%ld/root", (long)pid);
	if ((n = readlink(path, buf, size - 1)) == -1)
		return -1;
	buf[n] = '\0';
	return 0;
}

int
hd_count_fds(pid_t pid)
{
	char		 path[64];
	struct dirent	*dp;
	DIR		*d;
	int		 n = 0;

	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((dp = readdir(d)) != NULL)
		if (dp->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

pid_t
hd_target(struct hd *h)
{
	char	 path[96];
	long	 child = -1;
	FILE	*f;

	if (h->wrapper == NULL || h->pid == -1)
		return h->pid;
	snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children",
	    (long)h->pid, (long)h->pid);
	if ((f = fopen(path, "r")) != NULL) {
		if (fscanf(f, "%ld", &child) != 1)
			child = -1;
		fclose(f);
	}
	return child > 0 ? (pid_t)child : h->pid;
}

char *
hd_list_fds(pid_t pid)
{
	static char	 out[4096];
	char		 path[64], link[PATH_MAX], target[PATH_MAX];
	struct dirent	*dp;
	DIR		*d;
	size_t		 len = 0;
	ssize_t		 n;

	out[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
	if ((d = opendir(path)) == NULL)
		return out;
	while ((dp = readdir(d)) != NULL && len < sizeof(out) - 1) {
		if (dp->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "%s/%s", path, dp->d_name);
		if ((n = readlink(link, target, sizeof(target) - 1)) == -1)
			n = 0;
		target[n] = '\0';
		len += (size_t)snprintf(out + len, sizeof(out) - len,
		    "  fd %s -> %s\n", dp->d_name, target);
	}
	closedir(d);
	return out;
}

int
hd_log_has(struct hd *h, const char *word)
{
	char	 line[2048];
	FILE	*f;
	int	 found = 0;

	if ((f = fopen(h->log, "r")) == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, word) != NULL;
	fclose(f);
	return found;
}

/* ---- requests --------------------------------------------------------- */

int
hd_tmp_file(const char *content, size_t len)
{
	char	path[64];
	int	fd, rfd;

	snprintf(path, sizeof(path), "/tmp/qfp-msg.XXXXXX");
	if ((fd = mkstemp(path)) == -1)
		return -1;
	if (write(fd, content, len) != (ssize_t)len) {
		close(fd);
		unlink(path);
		return -1;
	}
	rfd = open(path, O_RDONLY | O_CLOEXEC);
	close(fd);
	unlink(path);
	return rfd;
}

static size_t
evp_text(char *buf, size_t size, unsigned seed, int which)
{
	return (size_t)snprintf(buf, size, "version: 3\n"
	    "dispatcher: local\ntype: mda\nsmtpname: hardening\n"
	    "sender: s%u@example.org\nrcpt: r%u-%d@test.local\n"
	    "dest: r%u-%d@test.local\nctime: %u\nlast-try: 0\n", seed, seed,
	    which, seed, which, 1700000000u + seed);
}

static int
read_fd_all(int fd, char *buf, size_t size, size_t *len)
{
	ssize_t	n;

	*len = 0;
	while ((n = pread(fd, buf + *len, size - *len, (off_t)*len)) > 0)
		*len += (size_t)n;
	return n == -1 ? -1 : 0;
}

int
hd_lifecycle(struct hd *h, unsigned seed, int failures)
{
	struct pq_client *c = &h->c;
	char		 content[8192], evp[3][512], buf[PQ_EVP_MAX], got[9000];
	size_t		 clen, elen[3], glen;
	uint64_t	 evpid[3], bad_evpid;
	uint32_t	 msgid, rb;
	int		 i, fd, r;

	clen = (size_t)snprintf(content, sizeof(content),
	    "From: s%u@example.org\r\nSubject: lifecycle %u\r\n\r\n", seed,
	    seed);
	for (i = 0; clen < 5000 + seed % 3000; i++)
		content[clen++] = (char)('a' + (seed + i) % 26);
	for (i = 0; i < 3; i++)
		elen[i] = evp_text(evp[i], sizeof(evp[i]), seed, i);

	if ((r = pq_message_create(c, &msgid)) != 1)
		return err("create: r = %d", r);
	for (i = 0; i < 2; i++)
		if ((r = pq_envelope_create(c, msgid, evp[i], elen[i],
		    &evpid[i])) != 1)
			return err("envelope create %d: r = %d", i, r);
	if ((fd = hd_tmp_file(content, clen)) == -1)
		return err("temp file: %s", strerror(errno));
	r = pq_message_commit(c, msgid, fd);
	close(fd);
	if (r != 1)
		return err("commit %08x: r = %d", msgid, r);
	if ((fd = pq_message_fd_r(c, msgid)) < 0)
		return err("fd_r %08x: %d", msgid, fd);
	r = read_fd_all(fd, got, sizeof(got), &glen);
	close(fd);
	if (r == -1 || glen != clen || memcmp(got, content, clen) != 0)
		return err("fd_r %08x: content differs (%zu/%zu bytes)", msgid,
		    glen, clen);
	if ((r = pq_envelope_create(c, msgid, evp[2], elen[2],
	    &evpid[2])) != 1)
		return err("envelope create on queued: r = %d", r);
	if ((r = pq_envelope_load(c, evpid[0], buf, sizeof(buf))) !=
	    (int)elen[0] || memcmp(buf, evp[0], elen[0]) != 0)
		return err("load %016llx: %d", (unsigned long long)evpid[0], r);
	memcpy(evp[0] + elen[0] - 2, "1\n", 2);
	if ((r = pq_envelope_update(c, evpid[0], evp[0], elen[0])) != 1)
		return err("update: r = %d", r);
	if ((r = pq_envelope_load(c, evpid[0], buf, sizeof(buf))) !=
	    (int)elen[0] || memcmp(buf, evp[0], elen[0]) != 0)
		return err("load after update: %d", r);

	if (failures) {
		bad_evpid = (uint64_t)(msgid ^ 0x5a5a5a5a) << 32 | 0x1234;
		if ((fd = hd_tmp_file(content, 10)) == -1)
			return err("temp file: %s", strerror(errno));
		r = pq_message_commit(c, msgid ^ 0x5a5a5a5a, fd);
		if (r == 0)
			r = pq_message_commit(c, 0, fd) == 0 ? 0 : -7;
		close(fd);
		if (r != 0)
			return err("commit of a bad msgid: r = %d", r);
		if ((fd = pq_message_fd_r(c, msgid ^ 0x5a5a5a5a)) != -1) {
			if (fd >= 0)
				close(fd);
			return err("fd_r of an unknown msgid: %d", fd);
		}
		if ((r = pq_envelope_load(c, bad_evpid, buf, sizeof(buf))) != 0)
			return err("load of an unknown evpid: %d", r);
		if ((r = pq_envelope_delete(c, bad_evpid)) != 0)
			return err("delete of an unknown evpid: %d", r);
		if ((r = pq_message_delete(c, msgid ^ 0x5a5a5a5a)) != 0)
			return err("delete of an unknown msgid: %d", r);
		if ((r = pq_message_create(c, &rb)) != 1 ||
		    (r = pq_envelope_create(c, rb, evp[1], elen[1],
		    &bad_evpid)) != 1 || (r = pq_message_delete(c, rb)) != 1)
			return err("rollback: r = %d", r);
	}
	for (i = 0; i < 3; i++)
		if ((r = pq_envelope_delete(c, evpid[i])) != 1)
			return err("envelope delete %d: r = %d", i, r);
	if ((fd = pq_message_fd_r(c, msgid)) != -1) {
		if (fd >= 0)
			close(fd);
		return err("message %08x still there after its last envelope "
		    "went (%d)", msgid, fd);
	}
	return 0;
}

int
hd_walk_cycle(struct hd *h, const char *opts, int n)
{
	char		 evp[512], buf[PQ_EVP_MAX];
	uint64_t	*ids, *all, evpid;
	uint32_t	 msgid;
	size_t		 len;
	int		 i, j, r, fd, found, seen = 0, tries = 0, ret = -1;

	ids = calloc((size_t)n * 2, sizeof(*ids));
	all = calloc((size_t)n * 2, sizeof(*all));
	if (ids == NULL || all == NULL) {
		err("calloc");
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((r = pq_message_create(&h->c, &msgid)) != 1) {
			err("walk: create: r = %d", r);
			goto out;
		}
		for (j = 0; j < 2; j++) {
			len = evp_text(evp, sizeof(evp), (unsigned)i, j);
			if ((r = pq_envelope_create(&h->c, msgid, evp, len,
			    &ids[i * 2 + j])) != 1) {
				err("walk: envelope: r = %d", r);
				goto out;
			}
		}
		if ((fd = hd_tmp_file("Subject: walk\r\n\r\nbody\r\n",
		    23)) == -1) {
			err("temp file");
			goto out;
		}
		r = pq_message_commit(&h->c, msgid, fd);
		close(fd);
		if (r != 1) {
			err("walk: commit: r = %d", r);
			goto out;
		}
	}
	memcpy(all, ids, (size_t)n * 2 * sizeof(*all));
	if ((r = hd_stop(h)) != 0) {
		err("walk: daemon exit %d on close", r);
		goto out;
	}
	if (hd_start_init(h, opts) == -1)
		goto out;
	while ((r = pq_envelope_walk(&h->c, &evpid, buf, sizeof(buf))) !=
	    -1) {
		if (r == PQ_EPROTO) {
			err("walk: protocol error");
			goto out;
		}
		if (r == 0) {
			if (++tries > 100000) {
				err("walk: no end");
				goto out;
			}
			continue;
		}
		for (found = -1, i = 0; i < 2 * n; i++)
			if (ids[i] == evpid)
				found = i;
		if (found == -1) {
			err("walk: unknown or repeated evpid %016llx",
			    (unsigned long long)evpid);
			goto out;
		}
		len = evp_text(evp, sizeof(evp), (unsigned)found / 2,
		    found % 2);
		if ((size_t)r != len || memcmp(buf, evp, len) != 0) {
			err("walk: envelope %016llx differs",
			    (unsigned long long)evpid);
			goto out;
		}
		ids[found] = 0;
		seen++;
	}
	if (seen != 2 * n) {
		err("walk: %d envelopes of %d", seen, 2 * n);
		goto out;
	}
	/* now delete them, each message with its last envelope */
	for (i = 0; i < 2 * n; i++)
		if ((r = pq_envelope_delete(&h->c, all[i])) != 1) {
			err("walk: delete %016llx: r = %d",
			    (unsigned long long)all[i], r);
			goto out;
		}
	for (i = 0; i < 2 * n; i += 2)
		if ((fd = pq_message_fd_r(&h->c, (uint32_t)(all[i] >> 32))) !=
		    -1) {
			if (fd >= 0)
				close(fd);
			err("walk: message %08x left after its envelopes",
			    (uint32_t)(all[i] >> 32));
			goto out;
		}
	ret = 0;
out:
	free(ids);
	free(all);
	return ret;
}
