/*
 * qfp-bench: the two ways of reaching the store.  Over the socket, the
 * real daemon started as smtpd starts it (tests/lib's qt_daemon) and
 * driven through proto/pq_client; in-process, the same store functions
 * called on a spool of our own.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

void
backend_init(struct backend *b, enum via via)
{
	memset(b, 0, sizeof(*b));
	b->via = via;
	qd_init(&b->d, NULL);
}

/*
 * smtpd's way (tests/lib's qt_daemon): fork, socketpair on fd 0, argv
 * {"queue-proc", "[-d ]-s SPOOL -u USER -S MODE ..."}; -d only with
 * --debug, which logs to daemon.log in the work directory.
 */
void
daemon_start(struct backend *b, const char *mode)
{
	struct qt_daemon	*d = &b->d;

	snprintf(d->opts, sizeof(d->opts), "-S %s%s%s", mode,
	    opt.dargs ? " " : "", opt.dargs ? opt.dargs : "");
	snprintf(d->log, sizeof(d->log), "%s/daemon.log", workdir);
	d->daemon = opt.daemon;
	d->user = opt.user;
	d->syslog = !opt.debug;
	d->timeout_ms = RECV_TIMEOUT_MS;
	fflush(NULL);
	if (qd_start_init(d) == -1)
		die("daemon (%s) did not start: %s; see %s", d->opts, qt_error,
		    d->log);
}

/* Close our end (smtpd exiting): the daemon must exit; bounded wait. */
void
daemon_stop(struct backend *b)
{
	pid_t	pid = b->d.pid;
	int	code;

	b->d.timeout_ms = 10000;
	if ((code = qd_stop(&b->d)) != 0)
		fprintf(stderr, "qfp-bench: daemon %ld: exit %d%s\n",
		    (long)pid, code, code == -1 ? " (killed)" : "");
}

void
make_dir(int dfd, const char *name, mode_t mode, uid_t uid, gid_t gid)
{
	if (mkdirat(dfd, name, mode) == -1 && errno != EEXIST)
		die("mkdir %s: %s", name, strerror(errno));
	if (fchownat(dfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) == -1 ||
	    fchmodat(dfd, name, mode, 0) == -1)
		die("chown/chmod %s: %s", name, strerror(errno));
}

/* A fresh spool: root's, 0711, as smtpd's PATH_SPOOL. */
void
new_spool(char *path, size_t size, const char *tag)
{
	snprintf(path, size, "%s/spool-%s.XXXXXX", workdir, tag);
	if (mkdtemp(path) == NULL || chmod(path, 0711) == -1)
		die("mkdtemp %s: %s", path, strerror(errno));
}

/* In-process: our own spool with queue/ incoming/ corrupt/, store_open. */
void
inproc_open(struct backend *b, const char *spool, enum store_sync sync)
{
	int	fd;

	if ((fd = open(spool, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		die("%s: %s", spool, strerror(errno));
	make_dir(fd, "queue", 0700, 0, 0);
	make_dir(fd, "incoming", 0700, 0, 0);
	make_dir(fd, "corrupt", 0700, 0, 0);
	if (store_open(&b->s, fd, sync, 5) == -1)
		die("store_open %s failed", spool);
	close(fd);
}

/* Every call: 1 (or the length / fd) on success; anything else is fatal. */
/*
 * In-process, a request's cost includes the work the daemon does right
 * after answering (store_after_answer: a spare incoming directory, an
 * incoming envelope, the walk's next envelope): over the socket that
 * work overlaps with the peer, in-process it cannot.
 */
static int
inproc_done(struct backend *b, int r)
{
	store_after_answer(&b->s);
	return r;
}

int
b_message_create(struct backend *b, uint32_t *msgid)
{
	return b->via == VIA_SOCKET ? pq_message_create(&b->d.c, msgid) :
	    inproc_done(b, store_message_create(&b->s, msgid));
}

int
b_envelope_create(struct backend *b, uint32_t msgid, const char *evp,
    size_t len, uint64_t *evpid)
{
	return b->via == VIA_SOCKET ?
	    pq_envelope_create(&b->d.c, msgid, evp, len, evpid) :
	    inproc_done(b, store_envelope_create(&b->s, msgid, evp, len,
	    evpid));
}

int
b_message_commit(struct backend *b, uint32_t msgid, int fd)
{
	return b->via == VIA_SOCKET ? pq_message_commit(&b->d.c, msgid, fd) :
	    inproc_done(b, store_message_commit(&b->s, msgid, fd));
}

int
b_envelope_load(struct backend *b, uint64_t evpid, char *buf, size_t size)
{
	return b->via == VIA_SOCKET ?
	    pq_envelope_load(&b->d.c, evpid, buf, size) :
	    inproc_done(b, (int)store_envelope_load(&b->s, evpid, buf, size));
}

int
b_message_fd_r(struct backend *b, uint32_t msgid)
{
	return b->via == VIA_SOCKET ? pq_message_fd_r(&b->d.c, msgid) :
	    inproc_done(b, store_message_fd_r(&b->s, msgid));
}

int
b_envelope_update(struct backend *b, uint64_t evpid, const char *evp,
    size_t len)
{
	return b->via == VIA_SOCKET ?
	    pq_envelope_update(&b->d.c, evpid, evp, len) :
	    inproc_done(b, store_envelope_update(&b->s, evpid, evp, len));
}

int
b_envelope_delete(struct backend *b, uint64_t evpid)
{
	return b->via == VIA_SOCKET ? pq_envelope_delete(&b->d.c, evpid) :
	    inproc_done(b, store_envelope_delete(&b->s, evpid));
}

int
b_envelope_walk(struct backend *b, uint64_t *evpid, char *buf, size_t size)
{
	return b->via == VIA_SOCKET ?
	    pq_envelope_walk(&b->d.c, evpid, buf, size) :
	    inproc_done(b, store_envelope_walk(&b->s, evpid, buf, size));
}
