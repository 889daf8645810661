/*
 * fulldisk MNT RESERVE space|inodes: the full-disk test on the small,
 * fresh file system test-fulldisk.sh mounted at MNT.  Daemon option
 * -r RESERVE (none for 5, the default); "space": 64 KB messages, 2
 * envelopes, "inodes": 100-byte ones.  Filled through the client until
 * requests are refused: every request gets a well-formed answer, the
 * daemon logs why, nothing acknowledged is lost or damaged (also with
 * not one block or inode left, and across a restart), a refused update
 * leaves the old bytes, a rolled-back message leaves incoming/ empty,
 * and once deliveries free space new mail is accepted again.  Prints
 * PASS/FAIL lines (tests/lib's qt_report).
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dur.h"

struct fmsg {
	uint32_t	 id;
	uint64_t	 e[2];
	int		 nev;
	char		*body;
	size_t		 blen;
	char		 evp[2][300];
};

#define FMAX	2000

static struct fmsg	fm[FMAX];
static int		nfm;
/* check group names: fulldisk-rR-KIND-what */
static char		g_intact[64], g_no_partial[64], g_rollback[64];
static char		g_recovers[64], g_restart_full[64], g_name[40];

static int
fd_equals(int fd, const char *want, size_t len)
{
	size_t	 got;
	char	*buf;
	int	 ok;

	if (fd < 0)
		return 0;
	buf = qt_read_fd(fd, &got);
	close(fd);
	ok = buf != NULL && got == len && memcmp(buf, want, len) == 0;
	free(buf);
	return ok;
}

/* Every acknowledged message and envelope is intact. */
static void
check_all(struct qt_daemon *d, const char *name)
{
	char	buf[PQ_EVP_MAX];
	int	i, k, r;

	for (i = 0; i < nfm; i++) {
		qr_check(fd_equals(pq_message_fd_r(&d->c, fm[i].id), fm[i].body,
		    fm[i].blen), name, "message %08x not intact", fm[i].id);
		for (k = 0; k < fm[i].nev; k++) {
			r = pq_envelope_load(&d->c, fm[i].e[k], buf,
			    sizeof(buf));
			qr_check(r == (int)strlen(fm[i].evp[k]) &&
			    memcmp(buf, fm[i].evp[k], (size_t)r) == 0, name,
			    "envelope %016llx not intact (%d)",
			    (unsigned long long)fm[i].e[k], r);
		}
	}
}

/*
 * Entries of incoming/ that hold something, once the daemon has done
 * the work it does after answering (an INIT round trip waits for it):
 * it keeps one empty directory there for the next MESSAGE_CREATE.
 */
static int
incoming_used(struct qt_daemon *d)
{
	(void)pq_init(&d->c);
	return qt_count_nonempty(qd_path(d, "incoming"));
}

static int
answered(int r)
{
	return r == 0 || r == 1;
}

/*
 * Try one whole message; returns 1 accepted, 0 refused somewhere (and
 * rolled back), -1 protocol failure.  what: which request refused.
 */
static int
try_message(struct qt_daemon *d, const char *tmpdir, size_t blen, int nev,
    const char **what)
{
	struct fmsg	*m = &fm[nfm];
	uint32_t	 id;
	int		 r, fd, k;

	*what = "MESSAGE_CREATE";
	if ((r = pq_message_create(&d->c, &id)) != 1) {
		if (r == 0)
			qr_check(incoming_used(d) == 0,
			    g_rollback, "a refused MESSAGE_CREATE "
			    "left %d entries in incoming/",
			    incoming_used(d));
		return answered(r) ? 0 : -1;
	}
	memset(m, 0, sizeof(*m));
	m->id = id;
	for (k = 0; k < nev; k++) {
		snprintf(m->evp[k], sizeof(m->evp[k]), "envelope %d of "
		    "%08x: %0200d", k, id, k);
		*what = "ENVELOPE_CREATE";
		r = pq_envelope_create(&d->c, id, m->evp[k],
		    strlen(m->evp[k]), &m->e[k]);
		if (r != 1)
			goto refused;
		m->nev++;
	}
	m->blen = blen;
	if ((m->body = malloc(blen)) == NULL)
		return -1;
	rnd_fill(m->body, blen);
	if ((fd = qt_tmp_message(tmpdir, m->body, blen)) == -1) {
		printf("  cannot write a temporary message in %s\n", tmpdir);
		return -1;
	}
	*what = "MESSAGE_COMMIT";
	r = pq_message_commit(&d->c, id, fd);
	close(fd);
	if (r != 1)
		goto refused;
	if (nfm < FMAX - 1)
		nfm++;
	return 1;
refused:
	free(m->body);
	m->body = NULL;
	if (!answered(r))
		return -1;
	/*
	 * smtpd's rollback: the incoming message goes.  r = 0 is right when
	 * it is gone already: a failed envelope write withdraws it.
	 */
	r = pq_message_delete(&d->c, id);
	qr_check(answered(r) && !qt_exists(qd_path(d, "incoming/%08x", id)),
	    g_rollback, "rollback of %08x: r = %d", id, r);
	return 0;
}

/*
 * Not one block or inode left (root fills what the reserve of a real
 * disk would leave): an update must fail whole, a new message be
 * refused, all answers well-formed, nothing acknowledged damaged.
 */
static void
totally_full(struct qt_daemon *d, const char *mnt, const char *name,
    int restart)
{
	struct statvfs	 sv;
	const char	*what;
	char		 path[PATH_MAX], evp[300], block[4096];
	int		 fd, i, r, nfill = 0;

	memset(block, 'f', sizeof(block));
	snprintf(path, sizeof(path), "%s/filler", mnt);
	if ((fd = open(path, O_WRONLY | O_CREAT, 0600)) != -1) {
		while (write(fd, block, sizeof(block)) > 0)
			;
		while (write(fd, block, 1) > 0)
			;
		close(fd);
	}
	for (i = 0; i < 1000; i++, nfill++) {
		snprintf(path, sizeof(path), "%s/filler.%d", mnt, i);
		if ((fd = open(path, O_WRONLY | O_CREAT, 0600)) == -1)
			break;
		close(fd);
	}
	statvfs(mnt, &sv);
	printf("  totally full: %llu blocks, %llu inodes free\n",
	    (unsigned long long)sv.f_bavail, (unsigned long long)sv.f_favail);
	if (nfm > 0) {
		snprintf(evp, sizeof(evp), "updated again %0250d", 2);
		r = pq_envelope_update(&d->c, fm[0].e[0], evp, strlen(evp));
		qr_check(answered(r), name, "update on a full disk: %d", r);
		printf("  ENVELOPE_UPDATE with nothing left: r = %d\n", r);
		if (r == 1)
			snprintf(fm[0].evp[0], sizeof(fm[0].evp[0]), "%s", evp);
		else
			qr_check(incoming_used(d) == 0,
			    g_no_partial, "refused update left %d "
			    "entries in incoming/",
			    incoming_used(d));
	}
	r = try_message(d, "/tmp", 64 * 1024, 2, &what);
	qr_check(r == 0, name, "a message accepted with nothing left (%d)", r);
	printf("  new message with nothing left: %s, %s\n",
	    r == 0 ? "refused" : "accepted", what);
	check_all(d, g_intact);
	qr_check(incoming_used(d) == 0, g_no_partial,
	    "incoming/ not empty (%d entries)",
	    incoming_used(d));
	/*
	 * smtpd restarted with the spool full: the helper must come up to
	 * serve (and deliver, which frees space); incoming/ is empty.
	 */
	r = 0;
	if (restart) {
		qd_stop(d);
		r = qd_start_init(d);
		printf("  restart with nothing left: %s\n", r == 0 ? "serves" :
		    "does not start");
		qr_check(r == 0, g_restart_full, "the daemon does not "
		    "start on a full spool (incoming/ empty, nothing to "
		    "purge); its log says");
		if (r != 0) {
			fflush(stdout);
			qd_log_show(d, 2);
			qd_kill(d);
		}
	}
	/* give the space back, and empty purge/ as smtpd's queue would */
	snprintf(path, sizeof(path), "%s/filler", mnt);
	unlink(path);
	for (i = 0; i < nfill; i++) {
		snprintf(path, sizeof(path), "%s/filler.%d", mnt, i);
		unlink(path);
	}
	qt_rmtree(qd_path(d, "purge"));
	mkdir(qd_path(d, "purge"), 0700);
	chown(qd_path(d, "purge"), dur_uid, 0);
	if (r != 0)
		qr_check(qd_start_init(d) == 0, name, "no restart once space "
		    "is back");
	check_all(d, g_intact);
}

static void
statfs_line(const char *dir, const char *when)
{
	struct statvfs	sv;

	if (statvfs(dir, &sv) == 0)
		printf("  %s: %llu of %llu blocks free, %llu of %llu inodes "
		    "free\n", when, (unsigned long long)sv.f_bavail,
		    (unsigned long long)sv.f_blocks,
		    (unsigned long long)sv.f_favail,
		    (unsigned long long)sv.f_files);
}

static int
fulldisk(const char *mnt, int reserve, const char *kind)
{
	struct qt_daemon	 d;
	const char	*what = "";
	char		 opts[64], tmpdir[] = "/tmp/qfp-fdmsg.XXXXXX";
	char		*name = g_name;
	size_t		 blen;
	int		 i, k, r, accepted = 0, refused = 0, nev = 2;
	int		 lines;

	blen = strcmp(kind, "inodes") == 0 ? 100 : 64 * 1024;
	snprintf(g_name, sizeof(g_name), "fulldisk-r%d-%s", reserve, kind);
	snprintf(g_intact, sizeof(g_intact), "%s-intact", name);
	snprintf(g_no_partial, sizeof(g_no_partial), "%s-no-partial", name);
	snprintf(g_rollback, sizeof(g_rollback), "%s-rollback", name);
	snprintf(g_recovers, sizeof(g_recovers), "%s-recovers", name);
	snprintf(g_restart_full, sizeof(g_restart_full), "%s-restart-full",
	    name);
	/* 5 is the default: test it as the default, without -r */
	if (reserve == 5)
		opts[0] = '\0';
	else
		snprintf(opts, sizeof(opts), "-r %d", reserve);
	/* smtpd's copies of messages live elsewhere: not on the full fs */
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	qd_init(&d, opts);
	d.timeout_ms = DUR_TIMEOUT_MS;
	if (qd_workdir_at(&d, mnt) == -1) {
		printf("  %s\n", qt_error);
		return 1;
	}
	/* the log must not need space on the full file system */
	unlink(d.log);
	snprintf(d.log, sizeof(d.log), "%s/daemon.log", tmpdir);
	if (qd_start_init(&d) == -1) {
		printf("  daemon does not start on %s\n", mnt);
		qd_log_show(&d, 10);
		rmdir(tmpdir);
		return 1;
	}
	nfm = 0;
	statfs_line(mnt, "before");
	/* fill it */
	for (i = 0; i < FMAX - 1; i++) {
		r = try_message(&d, tmpdir, blen, nev, &what);
		if (r == -1) {
			qr_check(0, name, "a request got no well-formed answer "
			    "(%s, error %d)", what, d.c.error);
			break;
		}
		if (r == 0) {
			refused++;
			break;
		}
		accepted++;
	}
	statfs_line(mnt, "full");
	printf("  %s: %d messages accepted, then %s refused (r = 0)\n",
	    name, accepted, what);
	qr_check(accepted > 0 && refused == 1, name, "accepted %d, refused %d",
	    accepted, refused);
	qr_check(qd_alive(&d), name, "daemon died");
	/* refusals go on, well-formed, while it is full */
	for (i = 0; i < 5; i++) {
		r = try_message(&d, tmpdir, blen, nev, &what);
		qr_check(r == 0 || r == 1, name, "request without a "
		    "well-formed answer on a full disk (%s)", what);
		if (r == 1)
			accepted++;
	}
	/* an update on the full disk: r = 1, or r = 0 and the old bytes */
	if (nfm > 0) {
		char	evp[300];

		snprintf(evp, sizeof(evp), "updated %0250d", 1);
		r = pq_envelope_update(&d.c, fm[0].e[0], evp, strlen(evp));
		qr_check(answered(r), name, "update on a full disk: %d", r);
		if (r == 1)
			snprintf(fm[0].evp[0], sizeof(fm[0].evp[0]), "%s",
			    evp);
		printf("  ENVELOPE_UPDATE on the full disk: r = %d\n", r);
	}
	/* the log says why */
	lines = dur_log_count(d.log, "not enough disk space", NULL) +
	    dur_log_count(d.log, "not enough inodes", NULL) +
	    dur_log_count(d.log, "No space left on device", NULL);
	qr_check(lines > 0, name, "no log line about the full disk");
	if (reserve > 0)
		qr_check(dur_log_count(d.log, "not enough",
		    "temporarily rejecting") > 0, name,
		    "no reserve refusal logged");
	else
		qr_check(dur_log_count(d.log, "No space left on device",
		    NULL) > 0, name, "no ENOSPC warning logged");
	fflush(stdout);
	{
		char	cmd[600];

		snprintf(cmd, sizeof(cmd), "grep -m 3 -E 'not enough|No space' "
		    "'%s' | sed 's/^/  log| /'", d.log);
		(void)!system(cmd);
	}
	/* nothing acknowledged was lost or damaged */
	check_all(&d, g_intact);
	/* no half-written message or envelope left behind */
	qr_check(incoming_used(&d) == 0, g_no_partial,
	    "incoming/ not empty after the rollbacks (%d entries)",
	    incoming_used(&d));
	/* then not one block or inode left */
	totally_full(&d, mnt, name, strcmp(kind, "space") == 0);
	/* free space: deliver half the messages */
	for (i = 0; i < nfm; i += 2) {
		for (k = 0; k < fm[i].nev; k++) {
			r = pq_envelope_delete(&d.c, fm[i].e[k]);
			qr_check(r == 1, g_recovers, "delete on a full "
			    "disk: r = %d", r);
		}
		fm[i].nev = 0;
	}
	for (i = 0, k = 0; i < nfm; i++)
		if (fm[i].nev > 0)
			fm[k++] = fm[i];
	nfm = k;
	statfs_line(mnt, "after deliveries");
	/* a restart: the spool is served as it was */
	qd_stop(&d);
	qr_check(qd_start_init(&d) == 0, name, "no restart after deliveries");
	check_all(&d, g_intact);
	r = try_message(&d, tmpdir, blen, nev, &what);
	qr_check(r == 1, g_recovers, "no new mail accepted after "
	    "space was freed (%s refused)", what);
	check_all(&d, g_intact);
	qr_check(qd_alive(&d), name, "daemon died");
	qd_stop(&d);
	qt_rmtree(tmpdir);
	for (i = 0; i < nfm; i++)
		free(fm[i].body);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc != 4 || (strcmp(argv[3], "space") != 0 &&
	    strcmp(argv[3], "inodes") != 0)) {
		fprintf(stderr, "usage: fulldisk MNT RESERVE space|inodes\n");
		return 2;
	}
	if (dur_setup("fulldisk", 600) == -1)
		return 1;
	rnd_seed((uint64_t)getpid());
	if (fulldisk(argv[1], atoi(argv[2]), argv[3]) != 0)
		return 1;
	qr_result(g_name);
	qr_result(g_intact);
	qr_result(g_no_partial);
	qr_result(g_rollback);
	qr_result(g_recovers);
	if (strcmp(argv[3], "space") == 0)
		qr_result(g_restart_full);
	return qr_summary();
}
