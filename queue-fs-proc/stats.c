/* Request statistics, logged one line per request type. */
#include <stdio.h>
#include <time.h>

#include "log.h"
#include "proc_queue.h"
#include "stats.h"

uint64_t
stats_now_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static unsigned
bucket_of(uint64_t us)
{
	unsigned	b = 0;

	while (us > 0 && b < STATS_NBUCKETS - 1) {
		us >>= 1;
		b++;
	}
	return b;
}

void
stats_record(struct stats *st, uint32_t type, int ok, uint64_t bytes,
    uint64_t start_us)
{
	struct stats_type *t;

	if (type >= STATS_NTYPES)
		return;
	t = &st->t[type];
	t->count++;
	if (!ok)
		t->failures++;
	t->bytes += bytes;
	t->hist[bucket_of(stats_now_us() - start_us)]++;
}

/* A successful MESSAGE_COMMIT, by the way the message got in place. */
void
stats_commit_path(struct stats *st, int renamed)
{
	if (renamed)
		st->commit_renamed++;
	else
		st->commit_copied++;
}

/* Upper bound, in microseconds, of the bucket holding the pct-th percentile. */
uint64_t
stats_percentile(const struct stats_type *t, unsigned pct)
{
	uint64_t	seen = 0, want;
	unsigned	b;

	if (t->count == 0)
		return 0;
	want = (t->count * pct + 99) / 100;
	for (b = 0; b < STATS_NBUCKETS; b++) {
		seen += t->hist[b];
		if (seen >= want)
			return b == 0 ? 1 : (uint64_t)1 << b;
	}
	return (uint64_t)1 << (STATS_NBUCKETS - 1);
}

/* " renamed=N copied=N", the ways MESSAGE_COMMIT put messages in place. */
static const char *
stats_paths(const struct stats *st)
{
	static char	buf[64];

	snprintf(buf, sizeof(buf), " renamed=%llu copied=%llu",
	    (unsigned long long)st->commit_renamed,
	    (unsigned long long)st->commit_copied);
	return buf;
}

void
stats_log(const struct stats *st, const char *why)
{
	const struct stats_type *t;
	uint32_t	type;

	for (type = PQ_INIT; type < STATS_NTYPES; type++) {
		t = &st->t[type];
		if (t->count == 0)
			continue;
		log_info("stats: queue-fs-proc: %s: %s count=%llu failed=%llu "
		    "bytes=%llu p50<%lluus p99<%lluus%s", why,
		    pq_type_name(type), (unsigned long long)t->count,
		    (unsigned long long)t->failures,
		    (unsigned long long)t->bytes,
		    (unsigned long long)stats_percentile(t, 50),
		    (unsigned long long)stats_percentile(t, 99),
		    type == PQ_MESSAGE_COMMIT ? stats_paths(st) : "");
	}
}
