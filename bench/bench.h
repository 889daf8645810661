/*
 * qfp-bench's parts (see qfp-bench.c): options and errors (qfp-bench.c),
 * the two ways of reaching the store (bench_backend.c), statistics and
 * the table (bench_stats.c), the ingestion and IPC workloads
 * (bench_ingest.c) and the start-up walk (bench_walk.c).
 */
#ifndef QFP_BENCH_H
#define QFP_BENCH_H

#include <sys/types.h>

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "pq_client.h"
#include "qt_daemon.h"
#include "store.h"

#define EVP_SIZE	300
#define RECV_TIMEOUT_MS	60000

struct bench_opt {
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
};
extern struct bench_opt	opt;
extern char		workdir[256];	/* short: paths are built from it */
extern uid_t		q_uid;
extern gid_t		q_gid;
extern char		fs_mnt[256];	/* the fresh file system, if any */

void		die(const char *, ...)
		    __attribute__((noreturn, format(printf, 1, 2)));
void		progress(const char *, ...)
		    __attribute__((format(printf, 1, 2)));

/* ---- samples (bench_stats.c) */
struct samples {
	double	*v;
	size_t	 n, cap;
	double	 sum;
};

void	sample_add(struct samples *, double);
double	pct(struct samples *, double);	/* nearest rank; sorts */
double	median(double *, int);

/* ---- the two ways of reaching the store (bench_backend.c) */
enum op {
	OP_MSG_CREATE, OP_EVP_CREATE, OP_COMMIT_4K, OP_COMMIT_64K,
	OP_EVP_LOAD, OP_FD_R, OP_EVP_UPDATE, OP_EVP_DELETE, OP_WALK, NOPS
};

enum via { VIA_SOCKET, VIA_INPROC };

struct backend {
	enum via	 via;
	/* socket: tests/lib's daemon handle */
	struct qt_daemon d;
	/* in-process */
	struct store	 s;
	/* latencies in microseconds, per op */
	struct samples	 lat[NOPS];
};

extern const char *op_names[NOPS];

void	new_spool(char *path, size_t size, const char *tag);
void	make_dir(int dfd, const char *name, mode_t mode, uid_t uid,
	    gid_t gid);
void	backend_init(struct backend *, enum via);
void	daemon_start(struct backend *, const char *mode);
void	daemon_stop(struct backend *);
void	inproc_open(struct backend *, const char *spool, enum store_sync);
int	b_message_create(struct backend *, uint32_t *);
int	b_envelope_create(struct backend *, uint32_t, const char *, size_t,
	    uint64_t *);
int	b_message_commit(struct backend *, uint32_t, int);
int	b_envelope_load(struct backend *, uint64_t, char *, size_t);
int	b_message_fd_r(struct backend *, uint32_t);
int	b_envelope_update(struct backend *, uint64_t, const char *, size_t);
int	b_envelope_delete(struct backend *, uint64_t);
int	b_envelope_walk(struct backend *, uint64_t *, char *, size_t);

#define TIMED(b, o, call) __extension__ ({				\
	uint64_t	t0_ = qt_now_ns();				\
	int		r_ = (call);					\
	sample_add(&(b)->lat[o], (double)(qt_now_ns() - t0_) / 1000.0);	\
	r_;								\
})

/* ---- workloads (bench_ingest.c, bench_walk.c) */
/* CPU spent per round: the bench itself, the daemon, its run-queue wait. */
struct cpu {
	double	self_us, daemon_us, dwait_us;
};

struct ping_result {
	struct samples	 echo[2];	/* [pinned] raw socketpair echo */
	struct samples	 init[2];	/* [pinned] daemon INIT (no-op) */
	double		 daemon_cpu_us[2];	/* per INIT */
	double		 echo_cpu_us[2];	/* echo process, per echo */
};

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

size_t	make_envelope(char *buf, size_t size, unsigned seq, int retry);
void	initial_walk(struct backend *);
void	schedstat(pid_t, uint64_t *run, uint64_t *wait);
void	bench_bodies(void);
void	bench_bodies_close(void);
void	run_pings(struct ping_result *);
void	run_mode(struct mode_result *, const char *mode);
void	run_walk(struct walk_result *);

/* ---- the table (bench_stats.c) */
void	row(const char *, const char *, const char *, const char *,
	    const char *, const char *, const char *);
const char *fmt(char *, size_t, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
void	print_pings(struct ping_result *);
void	print_mode(struct mode_result *);
void	print_walk(struct walk_result *);

#endif
