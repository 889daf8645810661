/*
 * Counters per request type: how many, how many failed (r = 0, empty
 * LOAD, no fd), bytes (envelope bytes; message bytes for MESSAGE_COMMIT
 * and MESSAGE_FD_R), and a latency histogram in
 * powers of two of microseconds; and how many successful MESSAGE_COMMITs
 * renamed smtpd's file into place and how many copied it.  Logged on
 * SIGUSR1 and at exit.
 */
#ifndef QFP_STATS_H
#define QFP_STATS_H

#include <stdint.h>

#define STATS_NTYPES	13
#define STATS_NBUCKETS	24	/* < 1us, < 2us, ... < 2^23 us, more */

struct stats_type {
	uint64_t	count;
	uint64_t	failures;
	uint64_t	bytes;
	uint64_t	hist[STATS_NBUCKETS];
};

struct stats {
	struct stats_type t[STATS_NTYPES];
	uint64_t	commit_renamed;
	uint64_t	commit_copied;
};

uint64_t stats_now_us(void);
void	stats_record(struct stats *, uint32_t type, int ok, uint64_t bytes,
	    uint64_t start_us);
void	stats_commit_path(struct stats *, int renamed);
uint64_t stats_percentile(const struct stats_type *, unsigned pct);
void	stats_log(const struct stats *, const char *why);

#endif
