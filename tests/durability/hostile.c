/*
 * Hostile spool: queue/ is planted, while the daemon is down, with
 * everything a damaged disk, a careless administrator or an attacker
 * with the queue user's rights could leave there; then the daemon starts
 * and smtpd's start-up walk runs.
 *
 * Planted (all owned by the queue user, as in a real spool):
 *   valid: queue/ab/abcdef01 (message, envelope ...01, and ...02 of
 *     exactly PQ_EVP_MAX bytes) and queue/12/12345678 (two envelopes);
 *   next to them in abcdef01: a file "garbage"; an empty envelope (e0);
 *     an unreadable one (mode 000: the daemon runs as the queue user)
 *     (e1); one of PQ_EVP_MAX + 1 bytes (e2); a symlink named like an
 *     envelope to a copy of /etc/passwd outside the spool (e3) and one
 *     to a file in the spool's root (e4, relative); a FIFO (e5); a
 *     directory (e7); an envelope of another msgid; evpid ...00000000;
 *     an upper-case name;
 *   names that are not the layout's: bucket "zz" (with a message in
 *     it), message dir "notahex1", message dir cd000001 in bucket ab,
 *     a regular file "queue/cd" where a bucket would be;
 *   symlinks as containers: bucket "ef" -> a directory outside, message
 *     dir ab/abcdef03 -> a message directory outside;
 *   broken messages: 34/34000001 envelopes, no message file (-> corrupt/);
 *     34/34000002 message, no envelopes, plus a symlink to a file outside
 *     (an interrupted deletion: removed, the outside file untouched);
 *     34/34000003 message is a FIFO; 34/34000004 message is a symlink to
 *     a file outside (both: no message file -> corrupt/).
 *
 * Checks: the walk ends (bounded waits: the FIFO blocks nothing), serves
 * exactly the 4 valid envelopes byte for byte and never a symlink
 * target; LOAD of every hostile name is refused; FD_R serves only real
 * message files; the daemon is still up and answering; every skipped
 * thing has a log line naming it; corrupt/ holds 34000001, 34000003,
 * 34000004; 34000002 is gone; nothing outside the spool was touched and
 * the garbage the daemon does not understand is left in place.  A second
 * start walks the same 4 envelopes.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dur.h"

#define G_WALK		"hostile-walk-exact"
#define G_ALIVE		"hostile-daemon-alive"
#define G_LOAD		"hostile-load-refused"
#define G_LOG		"hostile-logged"
#define G_CORRUPT	"hostile-corrupt-and-cleanup"
#define G_OUTSIDE	"hostile-outside-untouched"
#define G_LINK		"hostile-no-symlink-content"

static struct qt_daemon	 D;
static char		 outside[sizeof(D.dir) + 16];
static int		 plant_errors;

static const char	*V1 = "envelope one of abcdef01";
static const char	*V3 = "envelope one of 12345678";
static const char	*V4 = "envelope two of 12345678";
static const char	*SECRET = "OUTSIDE-SECRET root:x:0:0:root:/root:/bin/bash\n";
static const char	*ROOTSECRET = "SPOOL-ROOT-SECRET\n";
static char		 big[PQ_EVP_MAX + 1];

static void
own(const char *path)
{
	if (lchown(path, dur_uid, dur_gid) == -1) {
		printf("  plant: chown %s: %s\n", path, strerror(errno));
		plant_errors++;
	}
}

static void
pdir(const char *rel)
{
	char	*p = qd_path(&D, "%s", rel);

	if (mkdir(p, 0700) == -1 && errno != EEXIST) {
		printf("  plant: mkdir %s: %s\n", p, strerror(errno));
		plant_errors++;
	}
	own(p);
}

static void
pfile(const char *rel, const void *buf, size_t len, mode_t mode)
{
	char	*p = qd_path(&D, "%s", rel);

	if (write_file(p, buf, len, 0600) == -1) {
		printf("  plant: %s: %s\n", p, strerror(errno));
		plant_errors++;
	}
	own(p);
	chmod(p, mode);
}

static void
plink(const char *rel, const char *target)
{
	char	*p = qd_path(&D, "%s", rel);

	if (symlink(target, p) == -1) {
		printf("  plant: symlink %s: %s\n", p, strerror(errno));
		plant_errors++;
	}
	own(p);
}

static void
pfifo(const char *rel)
{
	char	*p = qd_path(&D, "%s", rel);

	if (mkfifo(p, 0600) == -1) {
		printf("  plant: mkfifo %s: %s\n", p, strerror(errno));
		plant_errors++;
	}
	own(p);
}

static char *
opath(const char *rel)
{
	static char	buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s/%s", outside, rel);
	return buf;
}

static void
plant(void)
{
	memset(big, 'B', sizeof(big));
	/* outside the spool */
	snprintf(outside, sizeof(outside), "%s/outside", D.dir);
	mkdir(outside, 0755);
	write_file(opath("passwd-copy"), SECRET, strlen(SECRET), 0644);
	mkdir(opath("bucket"), 0755);
	mkdir(opath("bucket/ef000001"), 0755);
	write_file(opath("bucket/ef000001/message"), SECRET, strlen(SECRET),
	    0644);
	write_file(opath("bucket/ef000001/ef00000100000001"), SECRET,
	    strlen(SECRET), 0644);
	mkdir(opath("msg"), 0755);
	write_file(opath("msg/message"), SECRET, strlen(SECRET), 0644);
	write_file(opath("msg/abcdef0300000001"), SECRET, strlen(SECRET),
	    0644);
	/* in the spool's root, outside queue/ */
	write_file(qd_path(&D, "passwd-copy"), ROOTSECRET, strlen(ROOTSECRET),
	    0644);

	/* valid */
	pdir("queue/ab");
	pdir("queue/ab/abcdef01");
	pfile("queue/ab/abcdef01/message", "message abcdef01\n", 17, 0600);
	pfile("queue/ab/abcdef01/abcdef0100000001", V1, strlen(V1), 0600);
	pfile("queue/ab/abcdef01/abcdef0100000002", big, PQ_EVP_MAX, 0600);
	pdir("queue/12");
	pdir("queue/12/12345678");
	pfile("queue/12/12345678/message", "message 12345678\n", 17, 0600);
	pfile("queue/12/12345678/1234567800000001", V3, strlen(V3), 0600);
	pfile("queue/12/12345678/1234567800000002", V4, strlen(V4), 0600);
	/* hostile neighbours */
	pfile("queue/ab/abcdef01/garbage", "garbage", 7, 0600);
	pfile("queue/ab/abcdef01/abcdef01000000e0", "", 0, 0600);
	pfile("queue/ab/abcdef01/abcdef01000000e1", "unreadable", 10, 0000);
	pfile("queue/ab/abcdef01/abcdef01000000e2", big, PQ_EVP_MAX + 1, 0600);
	plink("queue/ab/abcdef01/abcdef01000000e3", opath("passwd-copy"));
	plink("queue/ab/abcdef01/abcdef01000000e4", "../../../passwd-copy");
	pfifo("queue/ab/abcdef01/abcdef01000000e5");
	pdir("queue/ab/abcdef01/abcdef01000000e7");
	pfile("queue/ab/abcdef01/abcdef0200000001", "other msgid", 11, 0600);
	pfile("queue/ab/abcdef01/abcdef0100000000", "zero half", 9, 0600);
	pfile("queue/ab/abcdef01/ABCDEF0100000003", "upper case", 10, 0600);
	/* names not of the layout */
	pdir("queue/zz");
	pdir("queue/zz/zz000001");
	pfile("queue/zz/zz000001/message", "m", 1, 0600);
	pfile("queue/zz/zz000001/zz00000100000001", "in bucket zz", 12, 0600);
	pdir("queue/ab/notahex1");
	pfile("queue/ab/notahex1/message", "m", 1, 0600);
	pfile("queue/ab/notahex1/notahex100000001", "in notahex1", 11, 0600);
	pdir("queue/ab/cd000001");
	pfile("queue/ab/cd000001/message", "m", 1, 0600);
	pfile("queue/ab/cd000001/cd00000100000001", "wrong bucket", 12, 0600);
	pfile("queue/cd", "a file, not a bucket", 20, 0600);
	/* symlinks as containers */
	plink("queue/ef", opath("bucket"));
	plink("queue/ab/abcdef03", opath("msg"));
	/* broken messages */
	pdir("queue/34");
	pdir("queue/34/34000001");
	pfile("queue/34/34000001/3400000100000001", "no message", 10, 0600);
	pdir("queue/34/34000002");
	pfile("queue/34/34000002/message", "no envelopes", 12, 0600);
	plink("queue/34/34000002/extra", opath("passwd-copy"));
	pdir("queue/34/34000003");
	pfifo("queue/34/34000003/message");
	pfile("queue/34/34000003/3400000300000001", "fifo message", 12, 0600);
	pdir("queue/34/34000004");
	plink("queue/34/34000004/message", opath("passwd-copy"));
	pfile("queue/34/34000004/3400000400000001", "link message", 12, 0600);
}

struct want {
	uint64_t	 id;
	const char	*data;
	size_t		 len;
	int		 seen;
};

static void
walk_and_check(const char *round)
{
	struct want	 w[4] = {
		{ 0xabcdef0100000001ULL, V1, 0, 0 },
		{ 0xabcdef0100000002ULL, big, PQ_EVP_MAX, 0 },
		{ 0x1234567800000001ULL, V3, 0, 0 },
		{ 0x1234567800000002ULL, V4, 0, 0 },
	};
	char		 buf[PQ_EVP_MAX + 64];
	uint64_t	 evpid, t0 = qt_now_ns() / 1000;
	int		 r, i, calls = 0, found;

	w[0].len = strlen(V1);
	w[2].len = strlen(V3);
	w[3].len = strlen(V4);
	while (calls++ < 10000) {
		r = pq_envelope_walk(&D.c, &evpid, buf, sizeof(buf));
		if (r == -1)
			break;
		if (r == PQ_EPROTO) {
			qr_check(0, G_ALIVE, "%s: walk request %d got no "
			    "well-formed answer within %d ms (error %d)", round,
			    calls, D.timeout_ms, D.c.error);
			return;
		}
		if (r == 0)
			continue;
		qr_check(memmem(buf, (size_t)r, "SECRET", 6) == NULL &&
		    memmem(buf, (size_t)r, "root:x:", 7) == NULL, G_LINK,
		    "%s: walk served %016llx with a symlink target's bytes",
		    round, (unsigned long long)evpid);
		for (i = 0, found = 0; i < 4; i++)
			if (w[i].id == evpid) {
				found = 1;
				qr_check(!w[i].seen, G_WALK, "%s: %016llx "
				    "served twice", round,
				    (unsigned long long)evpid);
				w[i].seen = 1;
				qr_check((size_t)r == w[i].len &&
				    memcmp(buf, w[i].data, w[i].len) == 0,
				    G_WALK, "%s: %016llx served with other "
				    "bytes (%d)", round,
				    (unsigned long long)evpid, r);
			}
		qr_check(found, G_WALK, "%s: walk served %016llx (%d bytes), "
		    "not a valid envelope", round, (unsigned long long)evpid,
		    r);
	}
	qr_check(calls < 10000, G_WALK, "%s: the walk does not end", round);
	for (i = 0; i < 4; i++)
		qr_check(w[i].seen, G_WALK, "%s: valid envelope %016llx not "
		    "served", round, (unsigned long long)w[i].id);
	printf("  %s: walk over in %d requests, %.1f ms\n", round, calls,
	    ((qt_now_ns() / 1000) - t0) / 1000.0);
}

static void
load_refused(uint64_t id, const char *what)
{
	char	buf[PQ_EVP_MAX + 64];
	int	r;

	r = pq_envelope_load(&D.c, id, buf, sizeof(buf));
	qr_check(r == 0, G_LOAD, "LOAD %016llx (%s): %s",
	    (unsigned long long)id, what, r == PQ_EPROTO ?
	    "no well-formed answer" : "served");
	if (r > 0)
		qr_check(memmem(buf, (size_t)r, "SECRET", 6) == NULL, G_LINK,
		    "LOAD %016llx (%s) served a symlink target",
		    (unsigned long long)id, what);
}

static void
fdr(uint32_t id, const char *want, const char *what)
{
	char	*data;
	size_t	 len;
	int	 fd;

	fd = pq_message_fd_r(&D.c, id);
	if (want == NULL) {
		qr_check(fd == -1, G_LOAD, "FD_R %08x (%s): %s", id, what,
		    fd == PQ_EPROTO ? "no well-formed answer" : "an fd");
		if (fd >= 0) {
			data = qt_read_fd(fd, &len);
			qr_check(data == NULL ||
			    memmem(data, len, "SECRET", 6) == NULL, G_LINK,
			    "FD_R %08x served a symlink target", id);
			free(data);
			close(fd);
		}
		return;
	}
	data = fd >= 0 ? qt_read_fd(fd, &len) : NULL;
	qr_check(data != NULL && len == strlen(want) &&
	    memcmp(data, want, len) == 0, G_WALK, "FD_R %08x (%s): %s", id,
	    what, fd < 0 ? "no fd" : "wrong bytes");
	free(data);
	if (fd >= 0)
		close(fd);
}

static void
logged(const char *name, const char *what)
{
	qr_check(dur_log_count(D.log, name, NULL) > 0, G_LOG, "no log line "
	    "names %s (%s)", name, what);
}

static void
exists(const char *rel, int want, const char *group)
{
	qr_check(qt_exists(qd_path(&D, "%s", rel)) == want, group, "%s %s",
	    rel, want ? "is gone" : "is still there");
}

static void
outside_intact(void)
{
	char	*data;
	size_t	 len;

	data = qt_read_file(opath("passwd-copy"), &len);
	qr_check(data != NULL && len == strlen(SECRET), G_OUTSIDE,
	    "outside/passwd-copy changed or gone");
	free(data);
	qr_check(qt_exists(opath("bucket/ef000001/ef00000100000001")) &&
	    qt_exists(opath("bucket/ef000001/message")), G_OUTSIDE,
	    "outside/bucket changed");
	qr_check(qt_exists(opath("msg/abcdef0300000001")) &&
	    qt_exists(opath("msg/message")), G_OUTSIDE,
	    "outside/msg changed");
	qr_check(qt_exists(qd_path(&D, "passwd-copy")), G_OUTSIDE,
	    "spool/passwd-copy gone");
}

int
main(int argc, char **argv)
{
	int	st;

	qd_launcher(argc, argv);
	if (dur_setup("hostile", 300) == -1)
		return 1;
	if (dur_daemon(&D, NULL, "") == -1) {
		qr_fail("hostile", "work dir");
		return 1;
	}
	chmod(D.dir, 0755);
	D.timeout_ms = 5000;	/* a FIFO that blocks fails a request */
	/* the daemon makes the spool's directories, as on a first start */
	if (qd_start_init(&D) == -1 || qd_stop(&D) != 0) {
		qr_fail("hostile", "the daemon does not start on an empty "
		    "spool");
		qd_log_show(&D, 10);
		qd_cleanup(&D);
		return 1;
	}
	plant();
	qr_check(plant_errors == 0, "hostile-plant", "%d planting errors",
	    plant_errors);

	if (qd_start_init(&D) == -1) {
		qr_check(0, G_ALIVE, "the daemon does not start on the planted "
		    "spool");
		qd_log_show(&D, 20);
	} else {
		walk_and_check("first start");
		qr_check(qd_alive(&D), G_ALIVE, "daemon died during the walk");
		/* every hostile name, asked for directly */
		load_refused(0xabcdef01000000e0ULL, "empty file");
		load_refused(0xabcdef01000000e1ULL, "mode 000");
		load_refused(0xabcdef01000000e2ULL, "PQ_EVP_MAX + 1 bytes");
		load_refused(0xabcdef01000000e3ULL, "symlink outside");
		load_refused(0xabcdef01000000e4ULL, "symlink inside");
		load_refused(0xabcdef01000000e5ULL, "FIFO");
		load_refused(0xabcdef01000000e7ULL, "directory");
		load_refused(0xef00000100000001ULL, "behind a symlinked bucket");
		load_refused(0xabcdef0300000001ULL, "behind a symlinked "
		    "message dir");
		load_refused(0xcd00000100000001ULL, "message dir in the wrong "
		    "bucket");
		load_refused(0x3400000100000001ULL, "moved to corrupt/");
		fdr(0xabcdef01, "message abcdef01\n", "valid");
		fdr(0x12345678, "message 12345678\n", "valid");
		fdr(0xef000001, NULL, "behind a symlinked bucket");
		fdr(0xabcdef03, NULL, "symlinked message dir");
		fdr(0x34000003, NULL, "message is a FIFO");
		fdr(0x34000004, NULL, "message is a symlink");
		fdr(0x34000001, NULL, "no message file");
		qr_check(pq_close(&D.c) == 1, G_ALIVE,
		    "no answer after the walk");
		st = qd_stop(&D);
		qr_check(st == 0, G_ALIVE, "daemon ended with exit %d", st);
	}

	/* what the daemon said about each thing it skipped */
	logged("queue/zz", "bucket named zz");
	logged("notahex1", "message dir notahex1");
	logged("cd000001", "message dir in the wrong bucket");
	logged("queue/cd", "a file where a bucket would be");
	logged("queue/ef", "symlinked bucket");
	logged("abcdef03", "symlinked message dir");
	logged("abcdef01/garbage", "file garbage");
	logged("abcdef01000000e0", "empty envelope");
	logged("abcdef01000000e1", "unreadable envelope");
	logged("abcdef01000000e2", "too large envelope");
	logged("abcdef01000000e3", "symlink envelope (outside)");
	logged("abcdef01000000e4", "symlink envelope (inside)");
	logged("abcdef01000000e5", "FIFO envelope");
	logged("abcdef01000000e7", "directory envelope");
	logged("abcdef0200000001", "envelope of another msgid");
	logged("abcdef0100000000", "evpid with a zero half");
	logged("ABCDEF0100000003", "upper-case envelope name");
	logged("34000001", "message without message file");
	logged("34000002", "message without envelopes");
	logged("34000003", "message file is a FIFO");
	logged("34000004", "message file is a symlink");

	/* the broken messages */
	exists("corrupt/34000001/3400000100000001", 1, G_CORRUPT);
	exists("queue/34/34000001", 0, G_CORRUPT);
	exists("corrupt/34000003/3400000300000001", 1, G_CORRUPT);
	exists("corrupt/34000004/3400000400000001", 1, G_CORRUPT);
	exists("queue/34/34000002", 0, G_CORRUPT);
	exists("corrupt/34000002", 0, G_CORRUPT);
	/* what it does not understand, it leaves alone */
	exists("queue/zz/zz000001/zz00000100000001", 1, G_CORRUPT);
	exists("queue/ab/notahex1/notahex100000001", 1, G_CORRUPT);
	exists("queue/ab/cd000001/cd00000100000001", 1, G_CORRUPT);
	exists("queue/ab/abcdef01/garbage", 1, G_CORRUPT);
	exists("queue/ab/abcdef01/abcdef01000000e1", 1, G_CORRUPT);
	exists("queue/ab/abcdef01/abcdef01000000e3", 1, G_CORRUPT);
	exists("queue/ef", 1, G_CORRUPT);
	exists("queue/ab/abcdef03", 1, G_CORRUPT);
	outside_intact();

	/* a second start walks the same */
	if (qd_start_init(&D) == 0) {
		walk_and_check("second start");
		qr_check(pq_close(&D.c) == 1, G_ALIVE, "no answer after the "
		    "second walk");
		qd_stop(&D);
	} else
		qr_check(0, G_ALIVE, "the daemon does not start a second time");
	outside_intact();

	if (qr_check_failures())
		qd_log_show(&D, 40);
	qr_result("hostile-plant");
	qr_result(G_WALK);
	qr_result(G_LINK);
	qr_result(G_LOAD);
	qr_result(G_ALIVE);
	qr_result(G_LOG);
	qr_result(G_CORRUPT);
	qr_result(G_OUTSIDE);
	qd_cleanup(&D);
	return qr_summary();
}
