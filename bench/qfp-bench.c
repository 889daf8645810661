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
 */
#include <sys/types.h>
#include <sys/fsuid.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pq_client.h"
#include "store.h"

#define DEFAULT_DAEMON	"queue-fs-proc/queue-fs-proc"
#define RECV_TIMEOUT_S	60
#define EVP_SIZE	300

/* ---- options ------------------------------------------------------------ */

static struct {
	const char	*daemon;
	const char	*user;
	const char	*tmpdir;
	int		 pairs;		/* ABAB ingestion pairs per mode */
	int		 n_full;	/* lifecycles per size per round, -S full */
	int		 n_none;	/* same, -S none */
	long		 walk_n;	/* envelopes in the walk spool; 0: skip */
	int		 walk_pairs;
	int		 cold;		/* drop caches before each walk */
	int		 do_full, do_none;
	int		 keep;
	int		 debug;		/* -d to the daemon: log in workdir */
	const char	*dargs;		/* more daemon options, e.g. -X */
	int		 pings;		/* round trips of the IPC baseline */
	int		 rootfs;	/* work in --tmpdir as is, no fresh fs */
	long		 fs_gb;		/* size of the fresh ext4, 0: auto */
} opt = {
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

static char	 workdir[256];	/* short: paths are built from it */
static uid_t	 q_uid;
static gid_t	 q_gid;
static pid_t	 cur_daemon = -1;
static char	 fs_mnt[256];	/* the fresh file system, if any */

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "qfp-bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	if (cur_daemon > 0)
		kill(cur_daemon, SIGKILL);
	if (workdir[0])
		fprintf(stderr, "qfp-bench: work directory left: %s\n",
		    workdir);
	exit(1);
}

static void __attribute__((format(printf, 1, 2)))
progress(const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "# ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

static uint64_t
now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ---- samples ------------------------------------------------------------ */

struct samples {
	double	*v;
	size_t	 n, cap;
	double	 sum;
};

static void
sample_add(struct samples *s, double x)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 1024;
		if ((s->v = realloc(s->v, s->cap * sizeof(*s->v))) == NULL)
			die("out of memory");
	}
	s->v[s->n++] = x;
	s->sum += x;
}

static int
cmp_double(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile; sorts in place. */
static double
pct(struct samples *s, double p)
{
	size_t	i;

	if (s->n == 0)
		return -1;
	qsort(s->v, s->n, sizeof(*s->v), cmp_double);
	i = (size_t)(p / 100.0 * (double)s->n + 0.999999);
	if (i == 0)
		i = 1;
	if (i > s->n)
		i = s->n;
	return s->v[i - 1];
}

static double
median(double *v, int n)
{
	if (n == 0)
		return -1;
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- the two ways of reaching the store --------------------------------- */

enum op {
	OP_MSG_CREATE, OP_EVP_CREATE, OP_COMMIT_4K, OP_COMMIT_64K,
	OP_EVP_LOAD, OP_FD_R, OP_EVP_UPDATE, OP_EVP_DELETE, OP_WALK, NOPS
};

static const char *op_names[NOPS] = {
	"MESSAGE_CREATE", "ENVELOPE_CREATE (incoming)", "MESSAGE_COMMIT 4K",
	"MESSAGE_COMMIT 64K", "ENVELOPE_LOAD", "MESSAGE_FD_R",
	"ENVELOPE_UPDATE", "ENVELOPE_DELETE", "ENVELOPE_WALK",
};

enum via { VIA_SOCKET, VIA_INPROC };

struct backend {
	enum via	 via;
	/* socket */
	pid_t		 pid;
	int		 sock;
	struct pq_client c;
	char		 spool[PATH_MAX];
	/* in-process */
	struct store	 s;
	/* latencies in microseconds, per op */
	struct samples	 lat[NOPS];
};

static void	rm_tree(const char *path);
static void	row(const char *, const char *, const char *, const char *,
		    const char *, const char *, const char *);
static const char *fmt(char *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

/* smtpd's way: fork, socketpair on fd 0, argv {"queue-proc", OPTS}. */
static void
daemon_start(struct backend *b, const char *mode)
{
	struct timeval	tv = { RECV_TIMEOUT_S, 0 };
	char		opts[PATH_MAX + 128], logpath[PATH_MAX];
	char		*argv[3];
	int		sv[2], logfd;

	snprintf(opts, sizeof(opts), "%s-s %s -u %s -S %s%s%s",
	    opt.debug ? "-d " : "", b->spool, opt.user, mode,
	    opt.dargs ? " " : "", opt.dargs ? opt.dargs : "");
	snprintf(logpath, sizeof(logpath), "%s/daemon.log", workdir);
	if ((logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0600)) == -1)
		die("%s: %s", logpath, strerror(errno));
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		die("socketpair: %s", strerror(errno));
	fflush(NULL);
	if ((b->pid = fork()) == -1)
		die("fork: %s", strerror(errno));
	if (b->pid == 0) {
		if (dup2(sv[1], 0) == -1 || dup2(logfd, 1) == -1 ||
		    dup2(logfd, 2) == -1)
			_exit(127);
		closefrom(3);
		argv[0] = "queue-proc";
		argv[1] = opts;
		argv[2] = NULL;
		execv(opt.daemon, argv);
		_exit(127);
	}
	cur_daemon = b->pid;
	close(sv[1]);
	close(logfd);
	b->sock = sv[0];
	if (setsockopt(b->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1)
		die("setsockopt: %s", strerror(errno));
	pq_client_init(&b->c, b->sock, IMSG_DIALECT_A);
	if (pq_init(&b->c) != 1)
		die("daemon (%s) did not answer INIT; see %s", opts, logpath);
}

/* Close our end (smtpd exiting): the daemon must exit; bounded wait. */
static void
daemon_stop(struct backend *b)
{
	uint64_t	deadline = now_ns() + 10ULL * 1000000000ULL;
	int		st;
	pid_t		r;

	close(b->sock);
	b->sock = -1;
	for (;;) {
		r = waitpid(b->pid, &st, WNOHANG);
		if (r == b->pid)
			break;
		if (now_ns() > deadline) {
			fprintf(stderr, "qfp-bench: daemon %ld did not exit, "
			    "killing it\n", (long)b->pid);
			kill(b->pid, SIGKILL);
			waitpid(b->pid, &st, 0);
			break;
		}
		poll(NULL, 0, 5);
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fprintf(stderr, "qfp-bench: daemon %ld exit status %#x\n",
		    (long)b->pid, st);
	b->pid = -1;
	cur_daemon = -1;
}

static void
make_dir(int dfd, const char *name, mode_t mode, uid_t uid, gid_t gid)
{
	if (mkdirat(dfd, name, mode) == -1 && errno != EEXIST)
		die("mkdir %s: %s", name, strerror(errno));
	if (fchownat(dfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) == -1 ||
	    fchmodat(dfd, name, mode, 0) == -1)
		die("chown/chmod %s: %s", name, strerror(errno));
}

/* A fresh spool: root's, 0711, as smtpd's PATH_SPOOL. */
static void
new_spool(char *path, size_t size, const char *tag)
{
	snprintf(path, size, "%s/spool-%s.XXXXXX", workdir, tag);
	if (mkdtemp(path) == NULL || chmod(path, 0711) == -1)
		die("mkdtemp %s: %s", path, strerror(errno));
}

/* In-process: our own spool with queue/ incoming/ corrupt/, store_open. */
static void
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

static int
b_message_create(struct backend *b, uint32_t *msgid)
{
	return b->via == VIA_SOCKET ? pq_message_create(&b->c, msgid) :
	    inproc_done(b, store_message_create(&b->s, msgid));
}

static int
b_envelope_create(struct backend *b, uint32_t msgid, const char *evp,
    size_t len, uint64_t *evpid)
{
	return b->via == VIA_SOCKET ?
	    pq_envelope_create(&b->c, msgid, evp, len, evpid) :
	    inproc_done(b, store_envelope_create(&b->s, msgid, evp, len,
	    evpid));
}

static int
b_message_commit(struct backend *b, uint32_t msgid, int fd)
{
	return b->via == VIA_SOCKET ? pq_message_commit(&b->c, msgid, fd) :
	    inproc_done(b, store_message_commit(&b->s, msgid, fd));
}

static int
b_envelope_load(struct backend *b, uint64_t evpid, char *buf, size_t size)
{
	return b->via == VIA_SOCKET ?
	    pq_envelope_load(&b->c, evpid, buf, size) :
	    inproc_done(b, (int)store_envelope_load(&b->s, evpid, buf, size));
}

static int
b_message_fd_r(struct backend *b, uint32_t msgid)
{
	return b->via == VIA_SOCKET ? pq_message_fd_r(&b->c, msgid) :
	    inproc_done(b, store_message_fd_r(&b->s, msgid));
}

static int
b_envelope_update(struct backend *b, uint64_t evpid, const char *evp,
    size_t len)
{
	return b->via == VIA_SOCKET ?
	    pq_envelope_update(&b->c, evpid, evp, len) :
	    inproc_done(b, store_envelope_update(&b->s, evpid, evp, len));
}

static int
b_envelope_delete(struct backend *b, uint64_t evpid)
{
	return b->via == VIA_SOCKET ? pq_envelope_delete(&b->c, evpid) :
	    inproc_done(b, store_envelope_delete(&b->s, evpid));
}

static int
b_envelope_walk(struct backend *b, uint64_t *evpid, char *buf, size_t size)
{
	return b->via == VIA_SOCKET ?
	    pq_envelope_walk(&b->c, evpid, buf, size) :
	    inproc_done(b, store_envelope_walk(&b->s, evpid, buf, size));
}

#define TIMED(b, o, call) __extension__ ({				\
	uint64_t	t0_ = now_ns();					\
	int		r_ = (call);					\
	sample_add(&(b)->lat[o], (double)(now_ns() - t0_) / 1000.0);	\
	r_;								\
})

/* ---- envelopes and bodies ----------------------------------------------- */

/* ~300 bytes shaped like smtpd's envelope dump (opaque to the queue). */
static size_t
make_envelope(char *buf, size_t size, unsigned seq, int retry)
{
	int	n;

	n = snprintf(buf, size,
	    "version: 3\ntag: bench\ntype: mta\nsmtpname: mx.bench.test\n"
	    "helo: client.bench.test\nhostname: client.bench.test\n"
	    "sockaddr: 127.0.0.1\nsender: sender@bench.test\n"
	    "rcpt: rcpt%u@relay.test\ndest: rcpt%u@relay.test\n"
	    "ctime: 1700000000\nlast-try: %d\nlast-bounce: 0\n"
	    "ttl: 345600\nretry: %d\nflags: \ndsn-notify: 0\n"
	    "mta-relay: smtp://127.0.0.1:2599\nerrorline: 421 down\n",
	    seq, seq, retry ? 1700000600 : 0, retry);
	if (n < 0 || (size_t)n >= size)
		die("envelope template too large");
	/* pad to exactly EVP_SIZE bytes */
	while ((size_t)n < EVP_SIZE && (size_t)n < size - 1)
		buf[n++] = '\n';
	buf[n] = '\0';
	return (size_t)n;
}

/* A body file of size bytes, kept open O_RDONLY like smtpd's. */
static int
make_body(size_t size)
{
	char	 path[PATH_MAX], *buf;
	size_t	 i;
	int	 fd;

	snprintf(path, sizeof(path), "%s/body.XXXXXX", workdir);
	if ((fd = mkstemp(path)) == -1)
		die("mkstemp: %s", strerror(errno));
	if ((buf = malloc(size)) == NULL)
		die("out of memory");
	for (i = 0; i < size; i++)
		buf[i] = (i % 78 == 77) ? '\n' : (char)('a' + i % 26);
	if (write(fd, buf, size) != (ssize_t)size)
		die("write body: %s", strerror(errno));
	free(buf);
	close(fd);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		die("%s: %s", path, strerror(errno));
	unlink(path);
	return fd;
}

static int	body_4k = -1, body_64k = -1;

static void
check(int ok, enum via via, const char *what)
{
	if (!ok)
		die("%s %s failed", via == VIA_SOCKET ? "socket" : "in-process",
		    what);
}

/* The whole message fd must read back (smtpd's delivery reads it). */
static void
read_all_fd(int fd, size_t expect)
{
	char	buf[65536];
	size_t	got = 0;
	ssize_t	n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		got += (size_t)n;
	if (n == -1 || got != expect)
		die("message fd: read %zu of %zu bytes", got, expect);
}

/* One message's life in the queue, smtpd's call pattern. */
static void
lifecycle(struct backend *b, unsigned seq, int big)
{
	char		 evp[1024], buf[PQ_EVP_MAX];
	size_t		 len, body = big ? 65536 : 4096;
	uint64_t	 e1, e2;
	uint32_t	 msgid;
	enum via	 v = b->via;
	int		 fd, r;

	check(TIMED(b, OP_MSG_CREATE, b_message_create(b, &msgid)) == 1, v,
	    "MESSAGE_CREATE");
	len = make_envelope(evp, sizeof(evp), seq * 2, 0);
	check(TIMED(b, OP_EVP_CREATE, b_envelope_create(b, msgid, evp, len,
	    &e1)) == 1, v, "ENVELOPE_CREATE");
	len = make_envelope(evp, sizeof(evp), seq * 2 + 1, 0);
	check(TIMED(b, OP_EVP_CREATE, b_envelope_create(b, msgid, evp, len,
	    &e2)) == 1, v, "ENVELOPE_CREATE");
	check(TIMED(b, big ? OP_COMMIT_64K : OP_COMMIT_4K,
	    b_message_commit(b, msgid, big ? body_64k : body_4k)) == 1, v,
	    "MESSAGE_COMMIT");
	r = TIMED(b, OP_EVP_LOAD, b_envelope_load(b, e1, buf, sizeof(buf)));
	check(r == (int)len, v, "ENVELOPE_LOAD");
	fd = TIMED(b, OP_FD_R, b_message_fd_r(b, msgid));
	check(fd >= 0, v, "MESSAGE_FD_R");
	read_all_fd(fd, body);
	close(fd);
	len = make_envelope(evp, sizeof(evp), seq * 2, 1);
	check(TIMED(b, OP_EVP_UPDATE, b_envelope_update(b, e1, evp, len)) == 1,
	    v, "ENVELOPE_UPDATE");
	check(TIMED(b, OP_EVP_DELETE, b_envelope_delete(b, e1)) == 1, v,
	    "ENVELOPE_DELETE");
	check(TIMED(b, OP_EVP_DELETE, b_envelope_delete(b, e2)) == 1, v,
	    "ENVELOPE_DELETE");
}

/* smtpd's start: walk until r = -1 (the spool is empty here). */
static void
initial_walk(struct backend *b)
{
	char		buf[PQ_EVP_MAX];
	uint64_t	evpid;
	int		r, calls = 0;

	while ((r = b_envelope_walk(b, &evpid, buf, sizeof(buf))) != -1) {
		if (r < -1 || ++calls > 1000000)
			die("initial walk: r = %d", r);
	}
}

/* CPU time (ns) a process has run, and waited on a run queue. */
static void
schedstat(pid_t pid, uint64_t *run, uint64_t *wait)
{
	char			 path[64];
	unsigned long long	 r = 0, w = 0;
	FILE			*f;

	snprintf(path, sizeof(path), "/proc/%ld/schedstat", (long)pid);
	if ((f = fopen(path, "r")) != NULL) {
		if (fscanf(f, "%llu %llu", &r, &w) != 2)
			r = w = 0;
		fclose(f);
	}
	*run = r;
	*wait = w;
}

static uint64_t
cpu_self_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* CPU spent per round: the bench itself, the daemon, its run-queue wait. */
struct cpu {
	double	self_us, daemon_us, dwait_us;
};

/* N lifecycles; returns lifecycles per second, CPU per lifecycle. */
static double
lifecycle_round(struct backend *b, int n, int big, unsigned *seq,
    struct cpu *cpu)
{
	uint64_t	t0 = now_ns(), c0 = cpu_self_ns(), d0 = 0, w0 = 0;
	uint64_t	d1 = 0, w1 = 0;
	int		i;

	if (b->via == VIA_SOCKET)
		schedstat(b->pid, &d0, &w0);
	for (i = 0; i < n; i++)
		lifecycle(b, (*seq)++, big);
	if (b->via == VIA_SOCKET)
		schedstat(b->pid, &d1, &w1);
	if (cpu != NULL) {
		cpu->self_us = (double)(cpu_self_ns() - c0) / 1e3 / n;
		cpu->daemon_us = (double)(d1 - d0) / 1e3 / n;
		cpu->dwait_us = (double)(w1 - w0) / 1e3 / n;
	}
	return (double)n / ((double)(now_ns() - t0) / 1e9);
}

/* ---- IPC baseline ------------------------------------------------------- */

struct ping_result {
	struct samples	 echo[2];	/* [pinned] raw socketpair echo */
	struct samples	 init[2];	/* [pinned] daemon INIT (no-op) */
	double		 daemon_cpu_us[2];	/* per INIT */
	double		 echo_cpu_us[2];	/* echo process, per echo */
};

/* A process that answers every 20-byte request with 16 bytes. */
static pid_t
echo_start(int *sockp)
{
	char	buf[64];
	int	sv[2];
	pid_t	pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		die("socketpair: %s", strerror(errno));
	if ((pid = fork()) == -1)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		close(sv[0]);
		for (;;) {
			size_t	got = 0;
			ssize_t	n;

			while (got < 20 && (n = read(sv[1], buf + got,
			    20 - got)) > 0)
				got += (size_t)n;
			if (got < 20 || write(sv[1], buf, 16) != 16)
				_exit(0);
		}
	}
	close(sv[1]);
	*sockp = sv[0];
	return pid;
}

static void
echo_round(int sock, int n, struct samples *lat)
{
	char		buf[64];
	uint64_t	t0;
	size_t		got;
	ssize_t		r;
	int		i;

	memset(buf, 0, sizeof(buf));
	for (i = 0; i < n; i++) {
		t0 = now_ns();
		if (write(sock, buf, 20) != 20)
			die("echo write: %s", strerror(errno));
		for (got = 0; got < 16; got += (size_t)r)
			if ((r = read(sock, buf, 16 - got)) <= 0)
				die("echo read");
		sample_add(lat, (double)(now_ns() - t0) / 1000.0);
	}
}

/* pinned: run on the first CPU we may use; else as we were started. */
static void
set_cpus(int pinned)
{
	static cpu_set_t	orig;
	static int		saved;
	cpu_set_t		set;
	int			i;

	if (!saved) {
		if (sched_getaffinity(0, sizeof(orig), &orig) == -1)
			die("sched_getaffinity: %s", strerror(errno));
		saved = 1;
	}
	set = orig;
	if (pinned) {
		for (i = 0; i < CPU_SETSIZE && !CPU_ISSET(i, &orig); i++)
			;
		CPU_ZERO(&set);
		CPU_SET(i, &set);
	}
	if (sched_setaffinity(0, sizeof(set), &set) == -1)
		die("sched_setaffinity: %s", strerror(errno));
}

static void
run_pings(struct ping_result *pr)
{
	struct backend	*b;
	uint64_t	 d0, d1, w;
	pid_t		 pid;
	int		 pinned, sock, i, st;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		die("out of memory");
	for (pinned = 0; pinned < 2; pinned++) {
		set_cpus(pinned);
		pid = echo_start(&sock);
		echo_round(sock, opt.pings / 10 + 1, &pr->echo[pinned]);
		free(pr->echo[pinned].v);
		memset(&pr->echo[pinned], 0, sizeof(pr->echo[pinned]));
		schedstat(pid, &d0, &w);
		echo_round(sock, opt.pings, &pr->echo[pinned]);
		schedstat(pid, &d1, &w);
		pr->echo_cpu_us[pinned] = (double)(d1 - d0) / 1e3 / opt.pings;
		close(sock);
		waitpid(pid, &st, 0);

		b->via = VIA_SOCKET;
		new_spool(b->spool, sizeof(b->spool), "ping");
		daemon_start(b, "none");
		initial_walk(b);
		for (i = 0; i < opt.pings / 10 + 1; i++)
			pq_init(&b->c);
		schedstat(b->pid, &d0, &w);
		for (i = 0; i < opt.pings; i++)
			if (TIMED(b, OP_MSG_CREATE, pq_init(&b->c)) != 1)
				die("INIT failed");
		schedstat(b->pid, &d1, &w);
		pr->init[pinned] = b->lat[OP_MSG_CREATE];
		memset(&b->lat[OP_MSG_CREATE], 0, sizeof(b->lat[0]));
		pr->daemon_cpu_us[pinned] = (double)(d1 - d0) / 1e3 /
		    opt.pings;
		daemon_stop(b);
		if (!opt.keep)
			rm_tree(b->spool);
		progress("IPC baseline (%s): echo p50 %.1f us, daemon INIT "
		    "p50 %.1f us", pinned ? "one CPU" : "any CPU",
		    pct(&pr->echo[pinned], 50), pct(&pr->init[pinned], 50));
	}
	set_cpus(0);
	free(b);
}

static void
print_pings(struct ping_result *pr)
{
	char	a[64], b[64], t[64];
	int	pinned;

	for (pinned = 0; pinned < 2; pinned++) {
		const char *where = pinned ? "one CPU" : "any CPU";

		row("ipc", fmt(t, sizeof(t), "raw socketpair echo, %s", where),
		    fmt(a, sizeof(a), "%.1f / %.1f", pct(&pr->echo[pinned], 50),
		    pct(&pr->echo[pinned], 99)), "", "", "p50 / p99 us", "");
		row("ipc", "  echo process CPU us per echo",
		    fmt(b, sizeof(b), "%.1f", pr->echo_cpu_us[pinned]), "",
		    "", "", "");
		row("ipc", fmt(t, sizeof(t), "daemon INIT (no-op), %s", where),
		    fmt(a, sizeof(a), "%.1f / %.1f", pct(&pr->init[pinned], 50),
		    pct(&pr->init[pinned], 99)), "", "", "p50 / p99 us", "");
		row("ipc", "  daemon CPU us per INIT",
		    fmt(b, sizeof(b), "%.1f", pr->daemon_cpu_us[pinned]), "",
		    "", "", "");
	}
}

/* ---- results ------------------------------------------------------------ */

struct mode_result {
	const char	*mode;
	double		 rate[2][2][64];	/* [via][big][pair] */
	double		 ratio[2][64];		/* [big][pair] */
	struct cpu	 cpu[2][2][64];		/* [via][big][pair] */
	int		 npairs;
	struct backend	*b[2];
};

struct walk_result {
	long		 envelopes;
	double		 us_per_evp[2][16];	/* [via][round] */
	double		 ratio[16];
	int		 rounds;
	struct samples	 lat[2];
	long		 rss_at[3];		/* kB at 10k, 100k, 1M */
	long		 rss_peak;		/* kB, during the walk */
	long		 rss_after;		/* kB, after r = -1 */
	long		 hwm;			/* kB VmHWM at the end */
	long		 rss_start;		/* kB, before the walk */
	double		 build_s;
};

static void
run_mode(struct mode_result *m, const char *mode)
{
	struct backend	*bs, *bi;
	enum store_sync	 sync = strcmp(mode, "full") == 0 ? STORE_SYNC_FULL :
			    STORE_SYNC_NONE;
	int		 n = sync == STORE_SYNC_FULL ? opt.n_full : opt.n_none;
	unsigned	 seq = 1;
	int		 p, big, v;
	char		 ipspool[PATH_MAX];

	m->mode = mode;
	m->npairs = opt.pairs;
	bs = m->b[VIA_SOCKET] = calloc(1, sizeof(*bs));
	bi = m->b[VIA_INPROC] = calloc(1, sizeof(*bi));
	if (bs == NULL || bi == NULL)
		die("out of memory");
	bs->via = VIA_SOCKET;
	bi->via = VIA_INPROC;
	new_spool(bs->spool, sizeof(bs->spool), mode);
	daemon_start(bs, mode);
	initial_walk(bs);
	new_spool(ipspool, sizeof(ipspool), "inproc");
	inproc_open(bi, ipspool, sync);
	initial_walk(bi);

	/* warm-up, not counted */
	for (v = 0; v < 2; v++)
		for (big = 0; big < 2; big++)
			lifecycle_round(m->b[v], n / 10 + 1, big, &seq,
			    NULL);
	for (v = 0; v < 2; v++)
		for (p = 0; p < NOPS; p++) {
			free(m->b[v]->lat[p].v);
			memset(&m->b[v]->lat[p], 0, sizeof(m->b[v]->lat[p]));
		}

	for (p = 0; p < opt.pairs; p++) {
		for (big = 0; big < 2; big++) {
			/* ABAB, alternating which goes first (ABBA pairs) */
			int	first = (p + big) % 2;

			for (v = 0; v < 2; v++) {
				int	via = v ^ first;

				m->rate[via][big][p] = lifecycle_round(
				    m->b[via], n, big, &seq,
				    &m->cpu[via][big][p]);
			}
			m->ratio[big][p] = m->rate[VIA_SOCKET][big][p] /
			    m->rate[VIA_INPROC][big][p];
		}
		progress("-S %s pair %d/%d: 4K %.0f/%.0f lc/s, 64K %.0f/%.0f "
		    "lc/s (socket/in-process)", mode, p + 1, opt.pairs,
		    m->rate[0][0][p], m->rate[1][0][p], m->rate[0][1][p],
		    m->rate[1][1][p]);
	}
	daemon_stop(bs);
	store_close(&bi->s);
	if (!opt.keep && fs_mnt[0] == '\0') {
		rm_tree(bs->spool);
		rm_tree(ipspool);
	}
}

/* ---- the walk spool ----------------------------------------------------- */

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t	x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void
write_file(int dfd, const char *name, const char *buf, size_t len)
{
	int	fd;

	if ((fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) == -1)
		die("create %s: %s", name, strerror(errno));
	if (write(fd, buf, len) != (ssize_t)len)
		die("write %s: %s", name, strerror(errno));
	close(fd);
}

/*
 * queue/XX/MSGID/{message,EVPID,EVPID}: 2 envelopes per message.  Files
 * are created with the queue user as fs uid (and group 0), so no chown
 * pass is needed; queue/, incoming/ are the queue user's, group 0, 0700.
 */
static void
build_walk_spool(const char *spool, long envelopes, double *secs)
{
	static const char msg[] = "From: a@bench.test\nTo: b@relay.test\n"
	    "Subject: walk\n\nbody\n";
	char		 evp[1024], name[32], bname[3];
	uint32_t	*ids, mul = 2654435761u, salt, lo[2];
	long		 nmsg = (envelopes + 1) / 2, i, made = 0;
	uint64_t	 t0 = now_ns();
	int		 root, qfd, bfd = -1, mfd, k, bucket = -1;
	size_t		 len;

	if ((root = open(spool, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		die("%s: %s", spool, strerror(errno));
	make_dir(root, "queue", 0700, q_uid, 0);
	make_dir(root, "incoming", 0700, q_uid, 0);
	make_dir(root, "purge", 0700, q_uid, 0);
	make_dir(root, "corrupt", 0700, q_uid, 0);
	if ((qfd = openat(root, "queue", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		die("queue/: %s", strerror(errno));

	/* unique non-zero msgids: i * odd constant is a bijection mod 2^32 */
	if ((ids = malloc((size_t)nmsg * sizeof(*ids))) == NULL)
		die("out of memory");
	salt = arc4random();
	for (i = 0; made < nmsg; i++) {
		uint32_t id = ((uint32_t)i * mul) ^ salt;

		if (id != 0)
			ids[made++] = id;
	}
	qsort(ids, (size_t)nmsg, sizeof(*ids), cmp_u32);

	setfsgid(0);
	setfsuid(q_uid);
	for (i = 0; i < nmsg; i++) {
		if ((int)(ids[i] >> 24) != bucket) {
			if (bfd != -1)
				close(bfd);
			bucket = (int)(ids[i] >> 24);
			snprintf(bname, sizeof(bname), "%02x", bucket);
			if (mkdirat(qfd, bname, 0700) == -1)
				die("mkdir queue/%s: %s", bname,
				    strerror(errno));
			if ((bfd = openat(qfd, bname, O_RDONLY |
			    O_DIRECTORY | O_CLOEXEC)) == -1)
				die("queue/%s: %s", bname, strerror(errno));
		}
		snprintf(name, sizeof(name), "%08x", ids[i]);
		if (mkdirat(bfd, name, 0700) == -1 || (mfd = openat(bfd, name,
		    O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
			die("queue/%s/%s: %s", bname, name, strerror(errno));
		write_file(mfd, "message", msg, sizeof(msg) - 1);
		for (k = 0; k < 2 && i * 2 + k < envelopes; k++) {
			while ((lo[k] = arc4random()) == 0 ||
			    (k == 1 && lo[1] == lo[0]))
				;
			snprintf(name, sizeof(name), "%08x%08x", ids[i],
			    lo[k]);
			len = make_envelope(evp, sizeof(evp),
			    (unsigned)(i * 2 + k), 0);
			write_file(mfd, name, evp, len);
		}
		close(mfd);
		if (i % 50000 == 0 && i > 0)
			progress("walk spool: %ld / %ld messages", i, nmsg);
	}
	setfsuid(0);
	setfsgid(0);
	if (bfd != -1)
		close(bfd);
	close(qfd);
	close(root);
	free(ids);
	/* the spool at rest: later fsyncs must not pay for writing it */
	sync();
	*secs = (double)(now_ns() - t0) / 1e9;
}

static long
proc_kb(pid_t pid, const char *field)
{
	char	 path[64], line[256];
	size_t	 flen = strlen(field);
	long	 v = -1;
	FILE	*f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
			v = strtol(line + flen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static void
drop_caches(void)
{
	int	fd;

	sync();
	if ((fd = open("/proc/sys/vm/drop_caches", O_WRONLY)) == -1 ||
	    write(fd, "3\n", 2) != 2)
		progress("cannot drop caches: %s", strerror(errno));
	if (fd != -1)
		close(fd);
}

/* One walk to r = -1; returns microseconds per envelope. */
static double
walk_round(struct backend *b, struct walk_result *w, long expect)
{
	static const long marks[3] = { 10000, 100000, 1000000 };
	char		 buf[PQ_EVP_MAX];
	uint64_t	 evpid, t0, t1, tsample = 0;
	uint32_t	 last_msg = 0;
	struct idset	 done;
	long		 got = 0, rss;
	int		 r, k, is_sock = b->via == VIA_SOCKET;

	memset(&done, 0, sizeof(done));
	if (is_sock)
		w->rss_start = proc_kb(b->pid, "VmRSS");
	t0 = now_ns();
	for (;;) {
		t1 = now_ns();
		r = b_envelope_walk(b, &evpid, buf, sizeof(buf));
		sample_add(&w->lat[b->via], (double)(now_ns() - t1) / 1000.0);
		if (r == -1)
			break;
		if (r < -1)
			die("%s walk: r = %d", is_sock ? "socket" :
			    "in-process", r);
		if (r == 0)
			continue;
		got++;
		/* all envelopes of a message one after another */
		if ((uint32_t)(evpid >> 32) != last_msg) {
			if (last_msg != 0 && idset_add(&done,
			    (uint64_t)last_msg << 32) == -1)
				die("out of memory");
			last_msg = (uint32_t)(evpid >> 32);
			if (idset_has(&done, (uint64_t)last_msg << 32))
				die("%s walk: envelopes of message %08x not "
				    "consecutive", is_sock ? "socket" :
				    "in-process", last_msg);
		}
		if (is_sock && (got % 1000 == 0 || got == 10000)) {
			uint64_t ts = now_ns();

			rss = proc_kb(b->pid, "VmRSS");
			if (rss > w->rss_peak)
				w->rss_peak = rss;
			for (k = 0; k < 3; k++)
				if (got == marks[k])
					w->rss_at[k] = rss;
			tsample += now_ns() - ts;
		}
	}
	t1 = now_ns();
	idset_free(&done);
	if (got != expect)
		die("%s walk returned %ld envelopes, %ld in the spool",
		    is_sock ? "socket" : "in-process", got, expect);
	if (is_sock) {
		w->rss_after = proc_kb(b->pid, "VmRSS");
		w->hwm = proc_kb(b->pid, "VmHWM");
		progress("socket walk: %ld envelopes, %.2f us each; daemon "
		    "VmRSS peak %.2f MiB, after %.2f MiB, VmHWM %.2f MiB", got,
		    (double)(t1 - t0 - tsample) / 1000.0 / (double)expect,
		    w->rss_peak / 1024.0, w->rss_after / 1024.0,
		    w->hwm / 1024.0);
	} else
		progress("in-process walk: %ld envelopes, %.2f us each", got,
		    (double)(t1 - t0 - tsample) / 1000.0 / (double)expect);
	return (double)(t1 - t0 - tsample) / 1000.0 / (double)expect;
}

static void
run_walk(struct walk_result *w)
{
	struct backend	 bs, bi;
	char		 spool[PATH_MAX];
	int		 p, v, fd;

	memset(&bs, 0, sizeof(bs));
	memset(&bi, 0, sizeof(bi));
	bs.via = VIA_SOCKET;
	bi.via = VIA_INPROC;
	w->envelopes = opt.walk_n;
	w->rounds = opt.walk_pairs;
	new_spool(spool, sizeof(spool), "walk");
	progress("building a spool of %ld envelopes in %s", opt.walk_n,
	    spool);
	build_walk_spool(spool, opt.walk_n, &w->build_s);
	progress("built in %.1f s", w->build_s);
	strlcpy(bs.spool, spool, sizeof(bs.spool));

	/*
	 * On --rootfs, an untimed in-process walk first: the first read of
	 * a file written since it was last read updates its atime
	 * (relatime), a one-time cost that would otherwise land on
	 * whichever walk is first.
	 */
	if (!opt.cold && fs_mnt[0] == '\0') {	/* the fresh fs is noatime */
		struct walk_result scratch;

		memset(&scratch, 0, sizeof(scratch));
		if ((fd = open(spool, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
			die("%s: %s", spool, strerror(errno));
		if (store_open(&bi.s, fd, STORE_SYNC_FULL, 5) == -1)
			die("store_open %s", spool);
		close(fd);
		walk_round(&bi, &scratch, opt.walk_n);
		store_close(&bi.s);
		free(scratch.lat[VIA_INPROC].v);
		progress("warm-up walk done");
	}

	for (p = 0; p < opt.walk_pairs; p++) {
		for (v = 0; v < 2; v++) {
			int	via = v ^ (p % 2);

			if (opt.cold)
				drop_caches();
			if (via == VIA_SOCKET) {
				daemon_start(&bs, "full");
				w->us_per_evp[via][p] = walk_round(&bs, w,
				    opt.walk_n);
				daemon_stop(&bs);
			} else {
				if ((fd = open(spool, O_RDONLY | O_DIRECTORY |
				    O_CLOEXEC)) == -1)
					die("%s: %s", spool, strerror(errno));
				if (store_open(&bi.s, fd, STORE_SYNC_FULL, 5) ==
				    -1)
					die("store_open %s", spool);
				close(fd);
				w->us_per_evp[via][p] = walk_round(&bi, w,
				    opt.walk_n);
				store_close(&bi.s);
			}
		}
		w->ratio[p] = w->us_per_evp[VIA_INPROC][p] /
		    w->us_per_evp[VIA_SOCKET][p];
		progress("walk pair %d/%d: %.2f / %.2f us per envelope "
		    "(socket/in-process)", p + 1, opt.walk_pairs,
		    w->us_per_evp[0][p], w->us_per_evp[1][p]);
	}
	if (!opt.keep && fs_mnt[0] == '\0')	/* a fresh fs just goes */
		rm_tree(spool);
}

/* ---- the table ---------------------------------------------------------- */

static void
row(const char *sec, const char *metric, const char *sock, const char *inproc,
    const char *ratio, const char *target, const char *met)
{
	printf("%-6s %-34s %15s %15s %10s  %-28s %s\n", sec, metric, sock,
	    inproc, ratio, target, met);
}

static const char *
fmt(char *buf, size_t size, const char *f, ...)
{
	va_list	ap;

	va_start(ap, f);
	vsnprintf(buf, size, f, ap);
	va_end(ap);
	return buf;
}

static const char *
verdict(int ok)
{
	return ok ? "MET" : "MISSED";
}

static void
print_mode(struct mode_result *m)
{
	struct backend	*bs = m->b[VIA_SOCKET], *bi = m->b[VIA_INPROC];
	char		 a[64], b[64], c[64], t[64];
	int		 big, o;

	for (big = 0; big < 2; big++) {
		double	rs = median(m->rate[VIA_SOCKET][big], m->npairs);
		double	ri = median(m->rate[VIA_INPROC][big], m->npairs);
		double	ra = median(m->ratio[big], m->npairs);

		row(m->mode, fmt(t, sizeof(t), "lifecycles/s, %s body",
		    big ? "64 KB" : "4 KB"), fmt(a, sizeof(a), "%.0f", rs),
		    fmt(b, sizeof(b), "%.0f", ri),
		    fmt(c, sizeof(c), "%.3fx", ra), "socket >= 0.90x in-proc",
		    verdict(ra >= 0.9));
	}
	for (big = 0; big < 2; big++) {
		double	sc[64], dc[64], dw[64], ic[64], rc[64];
		int	p;

		for (p = 0; p < m->npairs; p++) {
			struct cpu *cs = &m->cpu[VIA_SOCKET][big][p];

			sc[p] = cs->self_us + cs->daemon_us;
			dc[p] = cs->daemon_us;
			dw[p] = cs->dwait_us;
			ic[p] = m->cpu[VIA_INPROC][big][p].self_us;
			rc[p] = ic[p] / sc[p];
		}
		row(m->mode, fmt(t, sizeof(t), "CPU us/lifecycle, %s (all)",
		    big ? "64 KB" : "4 KB"),
		    fmt(a, sizeof(a), "%.0f", median(sc, m->npairs)),
		    fmt(b, sizeof(b), "%.0f", median(ic, m->npairs)),
		    fmt(c, sizeof(c), "%.3fx", median(rc, m->npairs)), "", "");
		row(m->mode, "  daemon CPU / daemon runq wait us",
		    fmt(a, sizeof(a), "%.0f / %.0f", median(dc, m->npairs),
		    median(dw, m->npairs)), "", "", "", "");
	}
	for (o = 0; o < NOPS; o++) {
		struct samples	*ls = &bs->lat[o], *li = &bi->lat[o];
		double		 os, oi;
		int		 targeted = o == OP_EVP_LOAD ||
				    o == OP_EVP_CREATE;

		if (ls->n == 0)
			continue;
		os = (double)ls->n / (ls->sum / 1e6);
		oi = (double)li->n / (li->sum / 1e6);
		row(m->mode, fmt(t, sizeof(t), "%s ops/s", op_names[o]),
		    fmt(a, sizeof(a), "%.0f", os), fmt(b, sizeof(b), "%.0f", oi),
		    fmt(c, sizeof(c), "%.3fx", os / oi), "", "");
		row(m->mode, "  p50 / p99 us",
		    fmt(a, sizeof(a), "%.1f / %.1f", pct(ls, 50), pct(ls, 99)),
		    fmt(b, sizeof(b), "%.1f / %.1f", pct(li, 50), pct(li, 99)),
		    "", targeted ? "p99 <= 100 us (socket)" : "",
		    targeted ? verdict(pct(ls, 99) <= 100) : "");
	}
}

static void
print_walk(struct walk_result *w)
{
	char		 a[64], b[64], c[64], t[64];
	double		 us = median(w->us_per_evp[VIA_SOCKET], w->rounds);
	double		 ui = median(w->us_per_evp[VIA_INPROC], w->rounds);
	double		 ra = median(w->ratio, w->rounds);
	static const char *marks[3] = { "10k", "100k", "1M" };
	static const long markn[3] = { 10000, 100000, 1000000 };
	int		 k;

	row("walk", fmt(t, sizeof(t), "%ld envelopes: spool build",
	    w->envelopes), fmt(a, sizeof(a), "%.1f s", w->build_s), "", "",
	    "", "");
	row("walk", fmt(t, sizeof(t), "us per envelope%s",
	    opt.cold ? " (cold cache)" : " (warm cache)"),
	    fmt(a, sizeof(a), "%.2f", us), fmt(b, sizeof(b), "%.2f", ui),
	    fmt(c, sizeof(c), "%.3fx", ra), "<= 20 us/envelope (socket)",
	    verdict(us <= 20));
	row("walk", "envelopes/s", fmt(a, sizeof(a), "%.0f", 1e6 / us),
	    fmt(b, sizeof(b), "%.0f", 1e6 / ui), "", "", "");
	row("walk", "ENVELOPE_WALK p50 / p99 us",
	    fmt(a, sizeof(a), "%.1f / %.1f", pct(&w->lat[0], 50),
	    pct(&w->lat[0], 99)),
	    fmt(b, sizeof(b), "%.1f / %.1f", pct(&w->lat[1], 50),
	    pct(&w->lat[1], 99)), "", "p99 <= 100 us (socket)",
	    verdict(pct(&w->lat[0], 99) <= 100));
	row("walk", "daemon VmRSS before walk",
	    fmt(a, sizeof(a), "%.2f MiB", w->rss_start / 1024.0), "", "", "",
	    "");
	for (k = 0; k < 3; k++) {
		if (w->envelopes < markn[k])
			continue;
		row("walk", fmt(t, sizeof(t), "daemon VmRSS at %s envelopes",
		    marks[k]), fmt(a, sizeof(a), "%.2f MiB",
		    w->rss_at[k] / 1024.0), "", "",
		    k == 2 ? "<= 8 MiB walking 1M" : "",
		    k == 2 ? verdict(w->rss_at[k] <= 8192) : "");
	}
	row("walk", "daemon VmRSS peak while walking",
	    fmt(a, sizeof(a), "%.2f MiB", w->rss_peak / 1024.0), "", "",
	    w->envelopes >= 1000000 ? "<= 8 MiB walking 1M" :
	    "(8 MiB @1M: run --big)",
	    w->envelopes >= 1000000 ? verdict(w->rss_peak <= 8192) :
	    (w->rss_peak <= 8192 ? "(ok so far)" : "(over)"));
	row("walk", "daemon VmRSS after walk / VmHWM",
	    fmt(a, sizeof(a), "%.2f/%.2f MiB", w->rss_after / 1024.0,
	    w->hwm / 1024.0), "", "", "", "");
}

/* ---- main --------------------------------------------------------------- */

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb;
	(void)flag;
	(void)f;
	return remove(path) == -1 && errno != ENOENT ? -1 : 0;
}

static void
rm_tree(const char *path)
{
	nftw(path, rm_entry, 64, FTW_DEPTH | FTW_PHYS);
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
 * A fresh, journaled ext4 (mkfs.ext4 defaults: data=ordered) on a loop
 * device, mounted in a private mount namespace that dies with us: the
 * spools never share a file system's history (inode allocation on a
 * journal-less ext4 slows down with every file deleted in the last
 * minutes, see README) and a crash leaves no mount behind.
 */
static int
run_cmd(const char *cmd)
{
	int	st = system(cmd);

	return st == -1 || !WIFEXITED(st) ? -1 : WEXITSTATUS(st);
}

static void
fresh_fs(void)
{
	char	img[256], cmd[2048];
	long	gb = opt.fs_gb ? opt.fs_gb : (opt.walk_n > 200000 ? 16 : 4);
	long	inodes = 4 * opt.walk_n + 200000;
	int	fd;

	if (unshare(CLONE_NEWNS) == -1 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1)
		die("private mount namespace: %s", strerror(errno));
	snprintf(img, sizeof(img), "%s/qfp-bench-fs.XXXXXX", opt.tmpdir);
	if ((fd = mkstemp(img)) == -1)
		die("mkstemp %s: %s", img, strerror(errno));
	if (ftruncate(fd, (off_t)gb << 30) == -1)
		die("ftruncate %s: %s", img, strerror(errno));
	close(fd);
	snprintf(fs_mnt, sizeof(fs_mnt), "%s/qfp-bench-mnt.XXXXXX",
	    opt.tmpdir);
	if (mkdtemp(fs_mnt) == NULL)
		die("mkdtemp %s: %s", fs_mnt, strerror(errno));
	/*
	 * Direct I/O on the loop device: its backing file is not cached a
	 * second time (a 1M-envelope spool fits in the page cache once,
	 * not twice) and a flush costs what the disk's does.  noatime: a
	 * walk must not write.
	 */
	snprintf(cmd, sizeof(cmd), "mkfs.ext4 -q -F -N %ld -E "
	    "lazy_itable_init=1,lazy_journal_init=1 %s && "
	    "mount -o loop,noinit_itable,noatime %s %s && "
	    "{ losetup --direct-io=on \"$(findmnt -n -o SOURCE %s)\" || "
	    "echo '# (loop device without direct I/O)' >&2; }", inodes, img,
	    img, fs_mnt, fs_mnt);
	if (run_cmd(cmd) != 0) {
		unlink(img);
		rmdir(fs_mnt);
		die("cannot make a fresh ext4 (%s); --rootfs works without",
		    cmd);
	}
	unlink(img);		/* the loop device holds it until umount */
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
		else {
			opt.user = "qfptest";
			if (getpwnam(opt.user) == NULL &&
			    system("useradd -r -M -s /usr/sbin/nologin "
			    "qfptest") != 0)
				die("cannot create user qfptest");
		}
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
	uint64_t		 t0 = now_ns();
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
	body_4k = make_body(4096);
	body_64k = make_body(65536);

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
	printf("total run time %.0f s\n", (double)(now_ns() - t0) / 1e9);

	close(body_4k);
	close(body_64k);
	if (!opt.keep && fs_mnt[0] == '\0')
		rm_tree(workdir);
	else if (opt.keep)
		fprintf(stderr, "kept %s%s\n", workdir, fs_mnt[0] ?
		    " (inside the private mount namespace: gone now)" : "");
	fresh_fs_done();
	return 0;
}
