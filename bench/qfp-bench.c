/*
 * qfp-bench: queue-fs-proc against its own store code, in one run.
 *
 * The daemon is started as smtpd's queue process starts a proc backend
 * (forked as root, one end of an AF_UNIX stream socketpair on fd 0,
 * execv with argv {"queue-proc", "-s SPOOL -u USER -S MODE"}) and driven
 * through proto/pq_client with smtpd's call patterns.  The same store
 * functions are also called in-process (store_open() on a spool of our
 * own, no socket), in rounds interleaved with the socket rounds (ABAB),
 * so that "socket / in-process" is the IPC overhead measured under the
 * same machine noise.  Ratios are medians of per-pair ratios.
 *
 *   ingestion lifecycle: MESSAGE_CREATE, 2 x ENVELOPE_CREATE,
 *     MESSAGE_COMMIT (fd of a body file), ENVELOPE_LOAD, MESSAGE_FD_R +
 *     read the whole fd, ENVELOPE_UPDATE, 2 x ENVELOPE_DELETE;
 *     4 KB and 64 KB bodies; -S full and -S none.
 *   start-up walk: a spool of N envelopes written directly in the fs
 *     layout, then ENVELOPE_WALK until r = -1; daemon VmRSS sampled.
 *
 * Run as root (the daemon chroots and drops to the queue user).
 * See usage() for flags; bench/bench.mk runs it from `make bench`.
 * The parts are in bench.h.
 */
#include <sys/types.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define DEFAULT_DAEMON	"queue-fs-proc/queue-fs-proc"

struct bench_opt opt = {

	.daemon = DEFAULT_DAEMON,
	.tmpdir = "/tmp",
	.pairs = 7,
	.n_full = 100,
	.n_none = 500,
	.walk_n = 100000,
	.walk_pairs = 3,
	.pings = 20000,
	.do_full = 1,
	.do_none = 1,
};

char	 workdir[256];
uid_t	 q_uid;
gid_t	 q_gid;
char	 fs_mnt[256];

/* One line on stderr: prefix, then the formatted text. */
static void
say(const char *prefix, const char *fmt, va_list ap)
{
	fprintf(stderr, "%s", prefix);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
}

void
die(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	say("qfp-bench: ", fmt, ap);
	va_end(ap);
	qd_kill_all();
	if (workdir[0])
		fprintf(stderr, "qfp-bench: work directory left: %s\n",
		    workdir);
	exit(1);
}

void
progress(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	say("# ", fmt, ap);
	va_end(ap);
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: qfp-bench [--daemon PATH] [--user USER] [--tmpdir DIR]\n"
	    "    [--pairs N] [--n-full N] [--n-none N] [--walk N] [--big]\n"
	    "    [--walk-pairs N] [--cold] [--no-walk] [--only full|none]\n"
	    "    [--no-ingest] [--keep] [--debug] [--daemon-args OPTS]\n"
	    "    [--pings N] [--rootfs] [--fs-gb N]\n"
	    "  --pairs N     socket/in-process round pairs per mode (7)\n"
	    "  --n-full N    lifecycles per body size per round, -S full (100)\n"
	    "  --n-none N    same for -S none (500)\n"
	    "  --walk N      envelopes in the walk spool (100000)\n"
	    "  --big         --walk 1000000 --walk-pairs 1 (order matters)\n"
	    "  --walk-pairs N  socket/in-process walk pairs (3)\n"
	    "  --cold        sync + drop page cache before every walk\n"
	    "  --keep        keep the work directory (spools, daemon.log)\n"
	    "  --debug       run the daemon with -d (logs to daemon.log)\n"
	    "  --daemon-args OPTS  appended to the daemon's option string\n"
	    "  --pings N     round trips of the IPC baseline (20000; 0: skip)\n"
	    "  --rootfs      work in --tmpdir's file system as it is; default:\n"
	    "                a fresh journaled ext4 (loop device, private\n"
	    "                mount namespace) made for the run, see README\n"
	    "  --fs-gb N     size of that ext4 in GB (default 4, --big 16)\n");
	exit(2);
}

/*
 * A fresh, journaled ext4 on a loop device with direct I/O
 * (tests/lib/loop-ext4.sh), mounted in a private mount namespace that
 * dies with us: the spools never share a file system's history (inode
 * allocation on a journal-less ext4 slows down with every file deleted
 * in the last minutes, see README) and a crash leaves no mount behind.
 * Direct I/O: a 1M-envelope spool fits in the page cache once, not
 * twice, and a flush costs what the disk's does; noatime: a walk must
 * not write.
 */
static void
fresh_fs(void)
{
	char	cmd[1024];
	long	gb = opt.fs_gb ? opt.fs_gb : (opt.walk_n > 200000 ? 16 : 4);
	long	inodes = 4 * opt.walk_n + 200000;

	if (unshare(CLONE_NEWNS) == -1 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1)
		die("private mount namespace: %s", strerror(errno));
	snprintf(fs_mnt, sizeof(fs_mnt), "%s/qfp-bench-mnt.XXXXXX",
	    opt.tmpdir);
	if (mkdtemp(fs_mnt) == NULL)
		die("mkdtemp %s: %s", fs_mnt, strerror(errno));
	snprintf(cmd, sizeof(cmd), "sh tests/lib/loop-ext4.sh -d -N %ld "
	    "-o noatime -t '%s' %ldG '%s'", inodes, opt.tmpdir, gb, fs_mnt);
	if (system(cmd) != 0) {
		rmdir(fs_mnt);
		die("cannot make a fresh ext4 (%s); --rootfs works without",
		    cmd);
	}
	progress("fresh ext4 (%ld GB, %ld inodes, journaled, noatime, loop "
	    "with direct I/O) on %s", gb, inodes, fs_mnt);
	opt.tmpdir = fs_mnt;
}

static void
fresh_fs_done(void)
{
	if (fs_mnt[0] == '\0')
		return;
	if (umount(fs_mnt) == -1)
		progress("umount %s: %s", fs_mnt, strerror(errno));
	rmdir(fs_mnt);
}

static void
find_user(void)
{
	struct passwd	*pw;

	if (opt.user == NULL) {
		if (getpwnam("opensmtpq") != NULL)
			opt.user = "opensmtpq";
		else if (getpwnam("_smtpq") != NULL)
			opt.user = "_smtpq";
		else if (qt_user(QT_USER, NULL, NULL) == -1)
			die("%s", qt_error);
		else
			opt.user = QT_USER;
	}
	if ((pw = getpwnam(opt.user)) == NULL)
		die("unknown user %s", opt.user);
	q_uid = pw->pw_uid;
	q_gid = pw->pw_gid;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "daemon", required_argument, NULL, 'D' },
		{ "user", required_argument, NULL, 'u' },
		{ "tmpdir", required_argument, NULL, 'T' },
		{ "pairs", required_argument, NULL, 'p' },
		{ "n-full", required_argument, NULL, 'f' },
		{ "n-none", required_argument, NULL, 'n' },
		{ "walk", required_argument, NULL, 'w' },
		{ "big", no_argument, NULL, 'B' },
		{ "walk-pairs", required_argument, NULL, 'W' },
		{ "cold", no_argument, NULL, 'c' },
		{ "no-walk", no_argument, NULL, 'N' },
		{ "no-ingest", no_argument, NULL, 'I' },
		{ "only", required_argument, NULL, 'o' },
		{ "keep", no_argument, NULL, 'k' },
		{ "debug", no_argument, NULL, 'd' },
		{ "daemon-args", required_argument, NULL, 'a' },
		{ "pings", required_argument, NULL, 'P' },
		{ "rootfs", no_argument, NULL, 'R' },
		{ "fs-gb", required_argument, NULL, 'G' },
		{ NULL, 0, NULL, 0 }
	};
	struct mode_result	 modes[2];
	struct walk_result	 walk;
	struct ping_result	 pings;
	int			 ch, nmodes = 0, i, ingest = 1;
	uint64_t		 t0 = qt_now_ns();
	double			 load0[3], load1[3];

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'D': opt.daemon = optarg; break;
		case 'u': opt.user = optarg; break;
		case 'T': opt.tmpdir = optarg; break;
		case 'p': opt.pairs = atoi(optarg); break;
		case 'f': opt.n_full = atoi(optarg); break;
		case 'n': opt.n_none = atoi(optarg); break;
		case 'w': opt.walk_n = atol(optarg); break;
		case 'B': opt.walk_n = 1000000; opt.walk_pairs = 1; break;
		case 'W': opt.walk_pairs = atoi(optarg); break;
		case 'c': opt.cold = 1; break;
		case 'N': opt.walk_n = 0; break;
		case 'I': ingest = 0; break;
		case 'o':
			opt.do_full = strcmp(optarg, "full") == 0;
			opt.do_none = strcmp(optarg, "none") == 0;
			if (!opt.do_full && !opt.do_none)
				usage();
			break;
		case 'k': opt.keep = 1; break;
		case 'd': opt.debug = 1; break;
		case 'a': opt.dargs = optarg; break;
		case 'P': opt.pings = atoi(optarg); break;
		case 'R': opt.rootfs = 1; break;
		case 'G': opt.fs_gb = atol(optarg); break;
		default: usage();
		}
	}
	if (optind != argc || opt.pairs < 1 || opt.pairs > 64 ||
	    opt.walk_pairs < 1 || opt.walk_pairs > 16 || opt.n_full < 1 ||
	    opt.pings < 0 ||
	    opt.n_none < 1 || opt.walk_n < 0)
		usage();
	if (geteuid() != 0)
		die("must run as root (the daemon chroots and drops to the "
		    "queue user)");
	if (access(opt.daemon, X_OK) == -1)
		die("no daemon at %s (run make)", opt.daemon);
	signal(SIGPIPE, SIG_IGN);
	find_user();
	if (strlen(opt.tmpdir) > 150)
		die("--tmpdir: path too long");
	if (!opt.rootfs)
		fresh_fs();
	else
		progress("--rootfs: spools in %s as it is", opt.tmpdir);
	snprintf(workdir, sizeof(workdir), "%s/qfp-bench.XXXXXX", opt.tmpdir);
	if (mkdtemp(workdir) == NULL || chmod(workdir, 0755) == -1)
		die("mkdtemp %s: %s", workdir, strerror(errno));
	bench_bodies();

	if (getloadavg(load0, 3) == -1)
		load0[0] = -1;
	memset(&pings, 0, sizeof(pings));
	if (opt.pings > 0)
		run_pings(&pings);
	if (ingest && opt.do_none)
		run_mode(&modes[nmodes++], "none");
	if (ingest && opt.do_full)
		run_mode(&modes[nmodes++], "full");
	if (opt.walk_n > 0)
		run_walk(&walk);

	printf("\nqfp-bench: %s, queue user %s, %ld CPUs, spools on %s; "
	    "ingestion %d ABAB pairs x (%d lifecycles -S full, %d -S none) "
	    "per body size; values: medians of pairs, latencies pooled\n",
	    opt.daemon, opt.user, sysconf(_SC_NPROCESSORS_ONLN),
	    opt.rootfs ? opt.tmpdir : "a fresh journaled ext4 (loop, dio)",
	    opt.pairs, opt.n_full, opt.n_none);
	row("mode", "metric", "socket", "in-process", "sock/inpr", "target",
	    "verdict");
	row("------", "----------------------------------", "---------------",
	    "---------------", "----------", "----------------------------",
	    "-------");
	if (opt.pings > 0)
		print_pings(&pings);
	for (i = 0; i < nmodes; i++)
		print_mode(&modes[i]);
	if (opt.walk_n > 0)
		print_walk(&walk);
	printf("(walk ratio column: in-process/socket time per envelope, "
	    "i.e. socket speed relative to in-process)\n");
	if (getloadavg(load1, 3) == -1)
		load1[0] = -1;
	printf("load average at start %.2f, at end %.2f (%ld CPUs): other "
	    "load on the machine shows in every number\n", load0[0],
	    load1[0], sysconf(_SC_NPROCESSORS_ONLN));
	printf("total run time %.0f s\n", (double)(qt_now_ns() - t0) / 1e9);

	bench_bodies_close();
	if (!opt.keep && fs_mnt[0] == '\0')
		qt_rmtree(workdir);
	else if (opt.keep)
		fprintf(stderr, "kept %s%s\n", workdir, fs_mnt[0] ?
		    " (inside the private mount namespace: gone now)" : "");
	fresh_fs_done();
	return 0;
}
