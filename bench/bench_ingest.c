/*
 * qfp-bench: the ingestion workload (smtpd's call pattern for one
 * message, socket and in-process rounds interleaved) and the IPC
 * baseline (a raw socketpair echo against the daemon's INIT).
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

/* ~300 bytes shaped like smtpd's envelope dump (opaque to the queue). */
size_t
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

void
bench_bodies(void)
{
	body_4k = make_body(4096);
	body_64k = make_body(65536);
}

void
bench_bodies_close(void)
{
	close(body_4k);
	close(body_64k);
}

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
void
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
void
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

/* N lifecycles; returns lifecycles per second, CPU per lifecycle. */
static double
lifecycle_round(struct backend *b, int n, int big, unsigned *seq,
    struct cpu *cpu)
{
	uint64_t	t0 = qt_now_ns(), c0 = cpu_self_ns(), d0 = 0, w0 = 0;
	uint64_t	d1 = 0, w1 = 0;
	int		i;

	if (b->via == VIA_SOCKET)
		schedstat(b->d.pid, &d0, &w0);
	for (i = 0; i < n; i++)
		lifecycle(b, (*seq)++, big);
	if (b->via == VIA_SOCKET)
		schedstat(b->d.pid, &d1, &w1);
	if (cpu != NULL) {
		cpu->self_us = (double)(cpu_self_ns() - c0) / 1e3 / n;
		cpu->daemon_us = (double)(d1 - d0) / 1e3 / n;
		cpu->dwait_us = (double)(w1 - w0) / 1e3 / n;
	}
	return (double)n / ((double)(qt_now_ns() - t0) / 1e9);
}

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
		t0 = qt_now_ns();
		if (write(sock, buf, 20) != 20)
			die("echo write: %s", strerror(errno));
		for (got = 0; got < 16; got += (size_t)r)
			if ((r = read(sock, buf, 16 - got)) <= 0)
				die("echo read");
		sample_add(lat, (double)(qt_now_ns() - t0) / 1000.0);
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

void
run_pings(struct ping_result *pr)
{
	struct backend	*b;
	uint64_t	 d0, d1, w;
	pid_t		 pid;
	int		 pinned, sock, i, st;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		die("out of memory");
	backend_init(b, VIA_SOCKET);
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

		new_spool(b->d.spool, sizeof(b->d.spool), "ping");
		daemon_start(b, "none");
		initial_walk(b);
		for (i = 0; i < opt.pings / 10 + 1; i++)
			pq_init(&b->d.c);
		schedstat(b->d.pid, &d0, &w);
		for (i = 0; i < opt.pings; i++)
			if (TIMED(b, OP_MSG_CREATE, pq_init(&b->d.c)) != 1)
				die("INIT failed");
		schedstat(b->d.pid, &d1, &w);
		pr->init[pinned] = b->lat[OP_MSG_CREATE];
		memset(&b->lat[OP_MSG_CREATE], 0, sizeof(b->lat[0]));
		pr->daemon_cpu_us[pinned] = (double)(d1 - d0) / 1e3 /
		    opt.pings;
		daemon_stop(b);
		if (!opt.keep)
			qt_rmtree(b->d.spool);
		progress("IPC baseline (%s): echo p50 %.1f us, daemon INIT "
		    "p50 %.1f us", pinned ? "one CPU" : "any CPU",
		    pct(&pr->echo[pinned], 50), pct(&pr->init[pinned], 50));
	}
	set_cpus(0);
	free(b);
}

void
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
	backend_init(bs, VIA_SOCKET);
	backend_init(bi, VIA_INPROC);
	new_spool(bs->d.spool, sizeof(bs->d.spool), mode);
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
		qt_rmtree(bs->d.spool);
		qt_rmtree(ipspool);
	}
}
