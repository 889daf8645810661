/*
 * Conformance harness (see harness.h): tests/lib's daemon handle and
 * spool helpers with every failure turned into a failed cmocka test.  The log
 * is the daemon's stdout and stderr (smtpd -d's log pipe); our end of
 * the socket has a receive timeout, so a daemon that stops answering
 * fails the test instead of hanging it.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

struct qt_daemon *
qfp_new(const char *opts, enum imsg_dialect dialect)
{
	struct qt_daemon	*q;

	if ((q = qd_new(opts, dialect, QFP_TIMEOUT_MS)) == NULL)
		fail_msg("%s", qt_error);
	return q;
}

void
qfp_start(struct qt_daemon *q)
{
	if (qd_start(q) == -1)
		fail_msg("%s", qt_error);
}

void
qfp_start_init(struct qt_daemon *q)
{
	qfp_start(q);
	assert_int_equal(pq_init(&q->c), 1);
}

/*
 * The daemon chroots into the spool once it has set it up (incoming/
 * purged, directories made): wait for that, to compare the spool with
 * what requests do to it without sending INIT.
 */
void
qfp_wait_ready(struct qt_daemon *q)
{
	uint64_t	deadline = qt_now_ms() + QFP_TIMEOUT_MS;
	char		root[PATH_MAX];

	for (;;) {
		if (qt_proc_root(q->pid, root, sizeof(root)) == 0 &&
		    strcmp(root, q->spool) == 0)
			return;
		if (qt_now_ms() >= deadline)
			fail_msg("daemon %ld never entered %s", (long)q->pid,
			    q->spool);
		poll(NULL, 0, 2);
	}
}

/* smtpd going away and coming back: exit 0, then a daemon that INITs. */
void
qfp_restart(struct qt_daemon *q)
{
	assert_int_equal(qd_stop(q), 0);
	qfp_start_init(q);
}

/* ---- spool ------------------------------------------------------------ */

/* Entries of a spool directory, -1 if it does not exist. */
int
spool_count(struct qt_daemon *q, const char *dir)
{
	return qt_count_entries(spool_path(q, "%s", dir));
}

/*
 * Entries of incoming/ that hold something.  The daemon keeps one empty
 * directory there for the next MESSAGE_CREATE and makes it after
 * answering the previous one, so an INIT round trip first lets that
 * work finish; empty directories are then not counted.
 */
int
spool_count_incoming(struct qt_daemon *q)
{
	assert_int_equal(pq_init(&q->c), 1);
	return qt_count_nonempty(spool_path(q, "incoming"));
}

/* Envelope files of a queued message, -1 if its directory is gone. */
int
spool_count_evps(struct qt_daemon *q, uint32_t msgid)
{
	char	prefix[9];

	snprintf(prefix, sizeof(prefix), "%08x", msgid);
	return qt_count_named(spool_path(q, "%s", msgdir(msgid)), prefix, 16);
}

/* nftw has no context argument: the listing being built. */
static struct {
	char	**lines;
	size_t	  n, cap;
	size_t	  rootlen;
} listing;

static uint64_t
fnv1a(const char *p, size_t len)
{
	uint64_t	h = 1469598103934665603ULL;

	while (len-- > 0)
		h = (h ^ (unsigned char)*p++) * 1099511628211ULL;
	return h;
}

static int
list_entry(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	char	*line, *content;
	size_t	 len = 0;
	uint64_t h = 0;

	if (S_ISREG(sb->st_mode) &&
	    (content = qt_read_file(path, &len)) != NULL) {
		h = fnv1a(content, len);
		free(content);
	}
	/* no times, no directory sizes: only what a request could change */
	if (asprintf(&line, "%s mode %o owner %u:%u size %lld hash %016llx",
	    path[listing.rootlen] ? path + listing.rootlen : "/",
	    (unsigned)sb->st_mode, (unsigned)sb->st_uid, (unsigned)sb->st_gid,
	    S_ISDIR(sb->st_mode) ? 0LL : (long long)sb->st_size,
	    (unsigned long long)h) == -1)
		return -1;
	if (listing.n == listing.cap) {
		listing.cap = listing.cap ? listing.cap * 2 : 64;
		listing.lines = realloc(listing.lines,
		    listing.cap * sizeof(*listing.lines));
		if (listing.lines == NULL)
			return -1;
	}
	listing.lines[listing.n++] = line;
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Everything in the spool, one sorted line per entry: for "unchanged". */
char *
spool_listing(struct qt_daemon *q)
{
	char	*out = NULL;
	size_t	 i, outlen = 0;
	FILE	*f;

	memset(&listing, 0, sizeof(listing));
	listing.rootlen = strlen(q->spool);
	assert_int_equal(nftw(q->spool, list_entry, 16, FTW_PHYS), 0);
	qsort(listing.lines, listing.n, sizeof(char *), cmp_str);
	f = open_memstream(&out, &outlen);
	assert_non_null(f);
	for (i = 0; i < listing.n; i++) {
		fprintf(f, "%s\n", listing.lines[i]);
		free(listing.lines[i]);
	}
	fclose(f);
	free(listing.lines);
	return out;
}

/* ---- messages --------------------------------------------------------- */

/* A read-only fd of content, as smtpd hands its temporary file over. */
int
tmp_message(const char *content, size_t len)
{
	int	fd;

	if ((fd = qt_tmp_message(NULL, content, len)) == -1)
		fail_msg("%s", qt_error);
	return fd;
}

/*
 * Envelope bytes for a seed: text like smtpd's dump, a length that
 * varies, and some binary bytes (NUL included) since the queue must
 * not care what is inside.
 */
char *
evp_text(uint32_t seed, size_t *len)
{
	char	*buf;
	size_t	 pad = (seed * 37u) % 301, n, i;

	buf = malloc(512 + pad);
	assert_non_null(buf);
	n = (size_t)snprintf(buf, 512, "version: 3\ntype: mda\n"
	    "rcpt: rcpt-%u@example.org\nhelo: localhost\n", seed);
	for (i = 0; i < pad; i++)
		buf[n++] = (char)('a' + (seed + i) % 26);
	for (i = 0; i < 16; i++)
		buf[n++] = (char)((seed + i) & 0xff);
	*len = n;
	return buf;
}

/*
 * Create a message with nevp envelopes (envelope i: evp_text(seed + i))
 * and commit it; evpids gets their ids if not NULL.
 */
uint32_t
make_message_seed(struct qt_daemon *q, const char *content, int nevp,
    uint64_t *evpids, uint32_t seed)
{
	uint32_t	 msgid;
	uint64_t	 evpid;
	size_t		 len;
	char		*evp;
	int		 i, fd;

	assert_int_equal(pq_message_create(&q->c, &msgid), 1);
	for (i = 0; i < nevp; i++) {
		evp = evp_text(seed + (uint32_t)i, &len);
		assert_int_equal(pq_envelope_create(&q->c, msgid, evp, len,
		    &evpid), 1);
		assert_int_equal((uint32_t)(evpid >> 32), msgid);
		if (evpids != NULL)
			evpids[i] = evpid;
		free(evp);
	}
	fd = tmp_message(content, strlen(content));
	assert_int_equal(pq_message_commit(&q->c, msgid, fd), 1);
	close(fd);
	return msgid;
}

uint32_t
make_message(struct qt_daemon *q, const char *content, int nevp,
    uint64_t *evpids)
{
	return make_message_seed(q, content, nevp, evpids, 1);
}

/* ---- raw wire --------------------------------------------------------- */

void
raw_hdr(unsigned char out[IMSG_HEADER_SIZE], enum imsg_dialect d,
    uint32_t type, size_t payload, int hasfd)
{
	imsg_hdr_encode(d, type, IMSG_HEADER_SIZE + payload,
	    (uint32_t)getpid(), hasfd, out);
}

void
raw_send(struct qt_daemon *q, const void *buf, size_t len, int fd)
{
	assert_int_equal(qt_send(q->sock, buf, len, fd), (ssize_t)len);
}

/*
 * Read exactly len bytes (or until end of stream / timeout); the first
 * fd that comes with them goes to *fd (-1 if none).  Returns the count.
 */
ssize_t
raw_recv(struct qt_daemon *q, void *buf, size_t len, int *fd)
{
	return qt_recv(q->sock, buf, len, fd);
}
