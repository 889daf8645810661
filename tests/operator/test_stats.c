/*
 * Statistics: start the daemon as smtpd does, make a known number of
 * requests of each type, failures included, tallying what each answer
 * said; SIGUSR1 must log one "stats:" line per request type with exactly
 * that count, failed and bytes, and closing the socket must log them
 * again (with what came after) at exit, exit code 0.  The MESSAGE_COMMIT
 * line also says how the successful commits got their message in place:
 * one renamed from smtpd's temporary/MSGID, one copied from an unlinked
 * file (renamed=1 copied=1).
 *
 * Failures are made as a queue sees them: unknown ids, MESSAGE_CREATE
 * with incoming/ made unwritable under the daemon, and ENVELOPE_WALK
 * answering r = 0 ("nothing this time") over a spool of 256 empty
 * buckets that takes it more than one call to cross.
 *
 * Prints PASS:/FAIL: lines; exit 1 on any failure.  Run as root.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qt_daemon.h"
#include "qt_report.h"

struct tally {
	unsigned long long count, failed, bytes;
};

static struct tally	 want[PQ_NTYPES];
static unsigned long long want_renamed, want_copied;
static struct qt_daemon	 d;

static void
note(uint32_t type, int ok, size_t bytes)
{
	want[type].count++;
	if (!ok)
		want[type].failed++;
	want[type].bytes += bytes;
}

static void __attribute__((noreturn))
bail(const char *why)
{
	qr_fail("stats", "%s", why);
	qd_cleanup(&d);
	exit(1);
}

static char *
read_log(void)
{
	static char	buf[1 << 20];
	ssize_t		n;
	int		fd;

	buf[0] = '\0';
	if ((fd = open(d.log, O_RDONLY)) == -1)
		return buf;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* Lines "stats: queue-fs-proc: WHY: ..." in the log. */
static int
count_lines(const char *why)
{
	char	prefix[64], *p;
	int	n = 0;

	snprintf(prefix, sizeof(prefix), "stats: queue-fs-proc: %s: ", why);
	for (p = read_log(); (p = strstr(p, prefix)) != NULL; p++)
		n++;
	return n;
}

/* Wait until the log holds n lines for why (and no more come). */
static int
wait_lines(const char *why, int n)
{
	int	i;

	for (i = 0; i < 500 && count_lines(why) < n; i++)
		poll(NULL, 0, 10);
	poll(NULL, 0, 100);
	return count_lines(why);
}

static int
ntypes_used(void)
{
	int	t, n = 0;

	for (t = PQ_INIT; t < PQ_NTYPES; t++)
		n += want[t].count > 0;
	return n;
}

/* Each type's line must say exactly what was tallied. */
static void
check_lines(const char *why)
{
	char		 prefix[128], msg[512], *p, *log;
	unsigned long long count, failed, bytes;
	unsigned long long p50, p99, renamed, copied;
	int		 t, n, ok = 1;

	n = wait_lines(why, ntypes_used());
	if (n != ntypes_used()) {
		snprintf(msg, sizeof(msg), "%d %s lines, want %d (one per "
		    "request type used)", n, why, ntypes_used());
		qr_fail(why, "%s", msg);
		return;
	}
	log = read_log();
	for (t = PQ_INIT; t < PQ_NTYPES; t++) {
		if (want[t].count == 0)
			continue;
		snprintf(prefix, sizeof(prefix), "stats: queue-fs-proc: %s: "
		    "%s ", why, pq_type_name((uint32_t)t));
		if ((p = strstr(log, prefix)) == NULL) {
			snprintf(msg, sizeof(msg), "no line for %s",
			    pq_type_name((uint32_t)t));
			qr_fail(why, "%s", msg);
			ok = 0;
			continue;
		}
		if (sscanf(p + strlen(prefix), "count=%llu failed=%llu "
		    "bytes=%llu p50<%lluus p99<%lluus", &count, &failed,
		    &bytes, &p50, &p99) != 5 || count != want[t].count ||
		    failed != want[t].failed || bytes != want[t].bytes ||
		    p50 > p99 || (t == PQ_MESSAGE_COMMIT &&
		    (sscanf(strstr(p, "us p99<") + 7, "%*uus renamed=%llu "
		    "copied=%llu", &renamed, &copied) != 2 ||
		    renamed != want_renamed || copied != want_copied))) {
			snprintf(msg, sizeof(msg), "%s: want count=%llu "
			    "failed=%llu bytes=%llu (commits renamed=%llu "
			    "copied=%llu), log says: %.200s",
			    pq_type_name((uint32_t)t), want[t].count,
			    want[t].failed, want[t].bytes, want_renamed,
			    want_copied, p);
			*strchrnul(msg, '\n') = '\0';
			qr_fail(why, "%s", msg);
			ok = 0;
		}
	}
	if (ok) {
		snprintf(msg, sizeof(msg), "stats on %s: %d lines, count, "
		    "failed and bytes exact for every request type", why, n);
		qr_pass(msg);
	}
}

/* 256 empty buckets, the queue user's: the walk needs several calls. */
static void
plant_buckets(const struct passwd *pw)
{
	char	*path;
	int	 i;

	path = qd_path(&d, "queue");
	if (mkdir(path, 0700) == -1 || chown(path, pw->pw_uid, 0) == -1)
		bail("cannot make queue/");
	for (i = 0; i < 256; i++) {
		path = qd_path(&d, "queue/%02x", i);
		if (mkdir(path, 0700) == -1 ||
		    chown(path, pw->pw_uid, pw->pw_gid) == -1)
			bail("cannot make a bucket");
	}
}

int
main(void)
{
	struct passwd	*pw;
	const char	*evp1 = "version: 3\nrcpt: a@example.org\n";
	const char	*evp2 = "version: 3\nrcpt: b@example.org\n";
	const char	*evp3 = "version: 3\nrcpt: c@example.org\n";
	const char	*upd = "version: 3\nrcpt: a@example.org\nretry: 1\n";
	char		 buf[PQ_EVP_MAX], *incoming, msg[256];
	uint64_t	 e1, e2, e3, evpid;
	uint32_t	 m1, m2, m3, m4, m;
	int		 fd, r, i, st, walks = 0;

	qd_init(&d, NULL);
	if (qt_setup(1) == -1 || (pw = getpwnam(QT_USER)) == NULL)
		bail(qt_error);
	if (qd_workdir(&d, NULL) == -1)
		bail(qt_error);
	plant_buckets(pw);
	if (qd_start(&d) == -1)
		bail(qt_error);

	note(PQ_INIT, pq_init(&d.c) == 1, 0);

	/*
	 * MESSAGE_CREATE: 3 ok, 1 failed (incoming/ not writable).  The
	 * directory made in advance after m2's answer (the INIT waits for
	 * it) still serves m3; the one for the next cannot be made.
	 */
	note(PQ_MESSAGE_CREATE, pq_message_create(&d.c, &m1) == 1, 0);
	note(PQ_MESSAGE_CREATE, pq_message_create(&d.c, &m2) == 1, 0);
	note(PQ_INIT, pq_init(&d.c) == 1, 0);
	incoming = qd_path(&d, "incoming");
	if (chmod(incoming, 0500) == -1)
		bail("chmod incoming/");
	note(PQ_MESSAGE_CREATE, pq_message_create(&d.c, &m3) == 1, 0);
	r = pq_message_create(&d.c, &m);
	if (chmod(incoming, 0700) == -1)
		bail("chmod incoming/");
	if (r != 0)
		bail("MESSAGE_CREATE into a read-only incoming/ did not fail");
	note(PQ_MESSAGE_CREATE, 0, 0);
	/* and one more once incoming/ is writable again */
	note(PQ_MESSAGE_CREATE, pq_message_create(&d.c, &m4) == 1, 0);
	if (want[PQ_MESSAGE_CREATE].failed != 1)
		bail("MESSAGE_CREATE failed unexpectedly");

	/* ENVELOPE_CREATE: 3 ok, 1 failed (no such message) */
	r = pq_envelope_create(&d.c, m1, evp1, strlen(evp1), &e1);
	note(PQ_ENVELOPE_CREATE, r == 1, strlen(evp1));
	r = pq_envelope_create(&d.c, m1, evp2, strlen(evp2), &e2);
	note(PQ_ENVELOPE_CREATE, r == 1, strlen(evp2));
	r = pq_envelope_create(&d.c, m2, evp3, strlen(evp3), &e3);
	note(PQ_ENVELOPE_CREATE, r == 1, strlen(evp3));
	r = pq_envelope_create(&d.c, 0x12345678, evp1, strlen(evp1), &evpid);
	note(PQ_ENVELOPE_CREATE, r == 1, strlen(evp1));

	/*
	 * MESSAGE_COMMIT: 3 ok, 1 failed; m1 and m4 smtpd's way (its
	 * temporary/MSGID, renamed), m2 and the failure from an unlinked
	 * file (copied): renamed=2 copied=1
	 */
	for (i = 0; i < 4; i++) {
		m = i == 0 ? m1 : i == 1 ? m2 : i == 2 ? m4 : 0x12345678;
		if (i == 0 || i == 2)
			fd = qd_smtpd_message(&d, m, "Subject: hi\n\nhello\n",
			    19);
		else
			fd = qt_tmp_message(NULL, "Subject: hi\n\nhello\n",
			    19);
		if (fd == -1)
			bail("temporary message file");
		r = pq_message_commit(&d.c, m, fd);
		note(PQ_MESSAGE_COMMIT, r == 1, r == 1 ? 19 : 0);
		if (r == 1 && (i == 0 || i == 2))
			want_renamed++;
		else if (r == 1)
			want_copied++;
		close(fd);
		if (i == 0 || i == 2)
			qd_smtpd_unlink(&d, m);
	}

	/* MESSAGE_DELETE: 1 ok (rollback of m3), 1 failed */
	note(PQ_MESSAGE_DELETE, pq_message_delete(&d.c, m3) == 1, 0);
	note(PQ_MESSAGE_DELETE, pq_message_delete(&d.c, 0x12345678) == 1, 0);

	/* MESSAGE_FD_R: 2 ok, 1 failed */
	for (i = 0; i < 3; i++) {
		fd = pq_message_fd_r(&d.c, i == 0 ? m1 : i == 1 ? m2 :
		    0x12345678);
		if (fd == PQ_EPROTO)
			bail("MESSAGE_FD_R exchange failed");
		note(PQ_MESSAGE_FD_R, fd >= 0, fd >= 0 ? 19 : 0);
		if (fd >= 0)
			close(fd);
	}

	/* ENVELOPE_LOAD: 2 ok, 2 failed */
	r = pq_envelope_load(&d.c, e1, buf, sizeof(buf));
	note(PQ_ENVELOPE_LOAD, r > 0, r > 0 ? (size_t)r : 0);
	r = pq_envelope_load(&d.c, e3, buf, sizeof(buf));
	note(PQ_ENVELOPE_LOAD, r > 0, r > 0 ? (size_t)r : 0);
	for (i = 0; i < 2; i++) {
		r = pq_envelope_load(&d.c, 0x1234567800000001ULL + i, buf,
		    sizeof(buf));
		note(PQ_ENVELOPE_LOAD, r > 0, r > 0 ? (size_t)r : 0);
	}

	/* ENVELOPE_UPDATE: 1 ok, 1 failed */
	r = pq_envelope_update(&d.c, e1, upd, strlen(upd));
	note(PQ_ENVELOPE_UPDATE, r == 1, strlen(upd));
	r = pq_envelope_update(&d.c, 0x1234567800000001ULL, upd, strlen(upd));
	note(PQ_ENVELOPE_UPDATE, r == 1, strlen(upd));

	/* ENVELOPE_DELETE: 1 ok (m1 keeps e1), 2 failed */
	note(PQ_ENVELOPE_DELETE, pq_envelope_delete(&d.c, e2) == 1, 0);
	note(PQ_ENVELOPE_DELETE, pq_envelope_delete(&d.c, e2) == 1, 0);
	note(PQ_ENVELOPE_DELETE,
	    pq_envelope_delete(&d.c, 0x1234567800000001ULL) == 1, 0);

	/* ENVELOPE_WALK until over: r = 0 counts as failed, -1 as done */
	do {
		r = pq_envelope_walk(&d.c, &evpid, buf, sizeof(buf));
		if (r == PQ_EPROTO || r > 0)
			bail("ENVELOPE_WALK: an envelope or a broken answer "
			    "on a spool of empty buckets");
		note(PQ_ENVELOPE_WALK, r != 0, 0);
	} while (r == 0 && ++walks < 100);
	note(PQ_ENVELOPE_WALK, pq_envelope_walk(&d.c, &evpid, buf,
	    sizeof(buf)) == -1, 0);
	if (want[PQ_ENVELOPE_WALK].failed == 0)
		bail("ENVELOPE_WALK never answered r = 0 over 256 buckets");

	/* CLOSE: 1 */
	note(PQ_CLOSE, pq_close(&d.c) == 1, 0);

	/* the tallies must be what the scenario meant */
	snprintf(msg, sizeof(msg), "requests answered as planned: "
	    "%llu walk calls of which %llu r = 0",
	    want[PQ_ENVELOPE_WALK].count, want[PQ_ENVELOPE_WALK].failed);
	if (want[PQ_MESSAGE_CREATE].failed == 1 &&
	    want[PQ_ENVELOPE_CREATE].failed == 1 &&
	    want[PQ_MESSAGE_COMMIT].failed == 1 &&
	    want[PQ_MESSAGE_DELETE].failed == 1 &&
	    want[PQ_MESSAGE_FD_R].failed == 1 &&
	    want[PQ_ENVELOPE_LOAD].failed == 2 &&
	    want[PQ_ENVELOPE_UPDATE].failed == 1 &&
	    want[PQ_ENVELOPE_DELETE].failed == 2 &&
	    want[PQ_INIT].failed == 0 && want[PQ_CLOSE].failed == 0)
		qr_pass(msg);
	else
		qr_fail("scenario", "some request did not answer as planned");

	if (kill(d.pid, SIGUSR1) == -1)
		bail("kill SIGUSR1");
	check_lines("SIGUSR1");

	/* more requests after the signal: counted on, not reset */
	r = pq_envelope_load(&d.c, e1, buf, sizeof(buf));
	note(PQ_ENVELOPE_LOAD, r > 0, r > 0 ? (size_t)r : 0);
	note(PQ_ENVELOPE_DELETE, pq_envelope_delete(&d.c, e1) == 1, 0);

	st = qd_stop(&d);
	qr_ok(st == 0, "daemon exits 0 when the socket closes",
	    "exit %d on EOF", st);
	check_lines("exit");
	if (count_lines("SIGUSR1") == ntypes_used() &&
	    want[PQ_ENVELOPE_LOAD].count == 5)
		qr_pass("SIGUSR1 lines logged once; exit lines include later "
		    "requests");
	else
		qr_fail("after SIGUSR1", "extra SIGUSR1 lines or wrong tally");

	r = qr_summary();
	if (r != 0)
		qd_log_show(&d, 0);
	qd_cleanup(&d);
	return r;
}
