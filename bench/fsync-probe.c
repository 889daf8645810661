/*
 * fsync-probe: what one barrier costs on a file system, for the
 * benchmarks' one-barrier ceiling (bench/README.md).
 *
 *   fsync-probe [-n N] [-t SECONDS] [-a BYTES] MODE DIR
 *
 * MODE:
 *   new      create a new 4 KB file, write it, fsync it
 *   newdir   the same, then fsync DIR (the name is durable too)
 *   syncfs   create a new 4 KB file, write it, syncfs its file system
 *            (what a commit that syncs the whole file system waits for:
 *            every dirty page on it, a neighbour's too)
 *   append   append a BYTES (default 6 KB) record to a file that was
 *            preallocated by writing zeros (not fallocate: writing into
 *            unwritten extents is a metadata change) and synced
 *            beforehand, then fdatasync: no metadata, no journal commit,
 *            the write-ahead log's floor
 *
 * Each of the N (default 500) samples is timed alone (CLOCK_MONOTONIC)
 * from the open or write to the end of the last sync.  -t: stop taking
 * samples once SECONDS have gone by (beside a writer a syncfs can take
 * a second; n= then says how many were taken).  Prints one line:
 *   MODE n=N p50_us=.. p99_us=.. max_us=..
 * The files are made in a scratch directory under DIR and removed.
 * Exit 0, or 1 with a message when a call fails.
 */
#include <sys/stat.h>

#include <err.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROBE_FILE_SIZE	4096
#define PROBE_RECORD	6144

enum probe_mode { PROBE_NEW, PROBE_NEWDIR, PROBE_SYNCFS, PROBE_APPEND };

static double
probe_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void
probe_write_all(int fd, const char *buf, size_t len, const char *what)
{
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, buf, len)) == -1)
			err(1, "write %s", what);
		buf += n;
		len -= (size_t)n;
	}
}

/* one new file + fsync (+ fsync of its directory), or + syncfs */
static double
probe_new_file(int dirfd, unsigned int i, int mode, const char *buf)
{
	char name[32];
	double t0, t1;
	int fd;

	snprintf(name, sizeof(name), "f%08u", i);
	t0 = probe_now_us();
	if ((fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL, 0600)) == -1)
		err(1, "create %s", name);
	probe_write_all(fd, buf, PROBE_FILE_SIZE, name);
	if (mode == PROBE_SYNCFS) {
		if (syncfs(fd) == -1)
			err(1, "syncfs after %s", name);
	} else if (fsync(fd) == -1)
		err(1, "fsync %s", name);
	if (mode == PROBE_NEWDIR && fsync(dirfd) == -1)
		err(1, "fsync of the scratch directory");
	t1 = probe_now_us();
	close(fd);
	return t1 - t0;
}

/* the log file: N records' worth of zeros, written and synced once */
static int
probe_log_open(int dirfd, unsigned int n, size_t rec, char *buf)
{
	size_t left = (size_t)n * rec;
	int fd;

	if ((fd = openat(dirfd, "log", O_RDWR | O_CREAT | O_EXCL, 0600)) == -1)
		err(1, "create log");
	memset(buf, 0, rec);
	for (; left > 0; left -= rec)
		probe_write_all(fd, buf, rec, "log");
	if (fsync(fd) == -1 || fsync(dirfd) == -1)
		err(1, "fsync of the preallocated log");
	memset(buf, 'r', rec);
	return fd;
}

static double
probe_append(int fd, unsigned int i, size_t rec, const char *buf)
{
	double t0, t1;

	t0 = probe_now_us();
	if (pwrite(fd, buf, rec, (off_t)i * (off_t)rec) != (ssize_t)rec)
		err(1, "pwrite log record %u", i);
	if (fdatasync(fd) == -1)
		err(1, "fdatasync log");
	t1 = probe_now_us();
	return t1 - t0;
}

static int
probe_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
probe_pct(const double *v, unsigned int n, double p)
{
	unsigned int k = (unsigned int)(p * (n - 1) + 0.5);

	return v[k < n ? k : n - 1];
}

/* remove the scratch directory's files, then the directory */
static void
probe_cleanup(int dirfd, const char *scratch, unsigned int n, int mode)
{
	char name[32];
	unsigned int i;

	if (mode == PROBE_APPEND)
		unlinkat(dirfd, "log", 0);
	else
		for (i = 0; i < n; i++) {
			snprintf(name, sizeof(name), "f%08u", i);
			unlinkat(dirfd, name, 0);
		}
	if (rmdir(scratch) == -1)
		warn("rmdir %s", scratch);
}

static void __attribute__((noreturn))
probe_usage(void)
{
	fprintf(stderr, "usage: fsync-probe [-n N] [-t SECONDS] [-a BYTES] "
	    "new|newdir|syncfs|append DIR\n");
	exit(2);
}

static int
probe_parse_mode(const char *s)
{
	if (strcmp(s, "new") == 0)
		return PROBE_NEW;
	if (strcmp(s, "newdir") == 0)
		return PROBE_NEWDIR;
	if (strcmp(s, "syncfs") == 0)
		return PROBE_SYNCFS;
	if (strcmp(s, "append") == 0)
		return PROBE_APPEND;
	probe_usage();
}

int
main(int argc, char *argv[])
{
	char scratch[PATH_MAX], *buf;
	const char *errstr = NULL;
	unsigned long n = 500, rec = PROBE_RECORD, secs = 0;
	double *t, tend;
	unsigned int i;
	int ch, mode, dirfd, logfd = -1;

	while ((ch = getopt(argc, argv, "n:t:a:")) != -1) {
		switch (ch) {
		case 'n':
			n = strtoul(optarg, NULL, 10);
			errstr = (n < 1 || n > 1000000) ? "-n: 1 to 1000000" : errstr;
			break;
		case 't':
			secs = strtoul(optarg, NULL, 10);
			if (secs < 1 || secs > 86400)
				errstr = "-t: 1 to 86400";
			break;
		case 'a':
			rec = strtoul(optarg, NULL, 10);
			errstr = (rec < 1 || rec > (1 << 20)) ? "-a: 1 to 1048576" : errstr;
			break;
		default:
			probe_usage();
		}
	}
	if (errstr != NULL)
		errx(2, "%s", errstr);
	argc -= optind;
	argv += optind;
	if (argc != 2)
		probe_usage();
	mode = probe_parse_mode(argv[0]);

	if (snprintf(scratch, sizeof(scratch), "%s/fsync-probe.XXXXXX",
	    argv[1]) >= (int)sizeof(scratch))
		errx(1, "directory name too long");
	if (mkdtemp(scratch) == NULL)
		err(1, "mkdtemp %s", scratch);
	if ((dirfd = open(scratch, O_RDONLY | O_DIRECTORY)) == -1)
		err(1, "open %s", scratch);
	if ((t = calloc(n, sizeof(*t))) == NULL ||
	    (buf = malloc(rec > PROBE_FILE_SIZE ? rec : PROBE_FILE_SIZE)) == NULL)
		err(1, "malloc");
	memset(buf, 'x', PROBE_FILE_SIZE);
	if (mode == PROBE_APPEND)
		logfd = probe_log_open(dirfd, (unsigned int)n, rec, buf);

	tend = secs > 0 ? probe_now_us() + secs * 1e6 : 0;
	for (i = 0; i < n; i++) {
		t[i] = (mode == PROBE_APPEND) ?
		    probe_append(logfd, i, rec, buf) :
		    probe_new_file(dirfd, i, mode, buf);
		if (tend > 0 && probe_now_us() >= tend) {
			n = i + 1;
			break;
		}
	}

	qsort(t, n, sizeof(*t), probe_cmp);
	printf("%s n=%lu p50_us=%.0f p99_us=%.0f max_us=%.0f\n", argv[0], n,
	    probe_pct(t, n, 0.50), probe_pct(t, n, 0.99), t[n - 1]);
	if (logfd != -1)
		close(logfd);
	probe_cleanup(dirfd, scratch, (unsigned int)n, mode);
	close(dirfd);
	return 0;
}
