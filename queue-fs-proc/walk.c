/*
 * The start-up walk: see walk.h.  Ids created since start are in
 * walk->fresh (no clocks involved, so a clock step cannot hide or
 * double an envelope).
 *
 * What it meets in queue/ and does about it:
 *   a name that is not a bucket, message or envelope name: skipped, logged;
 *   a symlink, FIFO or other non-regular file: never opened, logged;
 *   an empty, unreadable or too large envelope: skipped, logged;
 *   a message directory without envelopes: what an interrupted deletion
 *     leaves behind (with or without its message file); it is finished;
 *   a message directory with envelopes but no message file: they cannot
 *     be delivered, so it is moved to corrupt/ for the administrator;
 *   a message directory whose envelopes are all empty: what a power
 *     failure leaves of a commit that was never acknowledged (the move
 *     into queue/ durable, not the envelopes' data, nor the record the
 *     replay would have rewritten them from): corrupt/ too.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layout.h"
#include "log.h"
#include "msgdir.h"
#include "proc_queue.h"
#include "safeio.h"
#include "walk.h"

struct walk_dirs {
	DIR			*queue;
	DIR			*bucket;
	DIR			*msg;
	uint32_t		 top;	/* top byte of msgids in bucket */
	uint32_t		 msgid;
	struct layout_bucket	 bucket_name;
	struct layout_msgdir	 msgdir;	/* "XX/MSGID", for logs */
};

void
walk_init(struct walk *w, int queue_fd, int corrupt_fd, int durable)
{
	memset(w, 0, sizeof(*w));
	w->queue_fd = queue_fd;
	w->corrupt_fd = corrupt_fd;
	w->durable = durable;
}

/* Remember an id the walk must not return; only needed while it runs. */
int
walk_skip(struct walk *w, uint64_t id)
{
	if (w->done)
		return 0;
	if (idset_add(&w->fresh, id) == -1) {
		log_warnx("warn: queue-fs-proc: out of memory");
		return -1;
	}
	return 0;
}

/* What was read ahead may have changed: read it again when served. */
void
walk_changed(struct walk *w)
{
	w->ahead.stale = 1;
}

static void
walk_close_stream(DIR **d)
{
	if (*d != NULL)
		closedir(*d);
	*d = NULL;
}

static void
walk_close_dirs(struct walk *w)
{
	if (w->dirs == NULL)
		return;
	walk_close_stream(&w->dirs->msg);
	walk_close_stream(&w->dirs->bucket);
	walk_close_stream(&w->dirs->queue);
	free(w->dirs);
	w->dirs = NULL;
}

void
walk_close(struct walk *w)
{
	walk_close_dirs(w);
	idset_free(&w->fresh);
	free(w->ahead.buf);
	w->ahead.buf = NULL;
	w->ahead.ready = w->ahead.wanted = 0;
}

static void
walk_log_bogus(struct walk_dirs *wd, const char *kind, const char *name)
{
	log_warnx("warn: queue-fs-proc: walk: skipping %s queue/%s%s%s",
	    kind, wd->bucket ? wd->bucket_name.s : "", wd->bucket ? "/" : "",
	    name);
}

/*
 * Check a message directory before walking it; returns its stream, or
 * NULL when it is not to be walked.
 */
static DIR *
walk_enter_message(struct walk *w, const char *name)
{
	struct walk_dirs	*wd = w->dirs;
	struct layout_corrupt	 dest;
	struct stat		 sb;
	int			 bfd = dirfd(wd->bucket), dfd;
	DIR			*d;

	if ((d = sio_opendir(bfd, name)) == NULL) {
		log_warn("warn: queue-fs-proc: walk: queue/%s", wd->msgdir.s);
		return NULL;
	}
	dfd = dirfd(d);
	/* no envelopes: an interrupted deletion, message file or not */
	if (msgdir_has_envelopes(dfd, wd->msgid, 0) == 0) {
		closedir(d);
		log_info("info: queue-fs-proc: walk: queue/%s has no "
		    "envelopes left, finishing its deletion", wd->msgdir.s);
		msgdir_remove(bfd, name, w->durable);
		return NULL;
	}
	if (fstatat(dfd, LAYOUT_MESSAGE, &sb, AT_SYMLINK_NOFOLLOW) == -1 ||
	    !S_ISREG(sb.st_mode)) {
		closedir(d);
		log_warnx("warn: queue-fs-proc: walk: queue/%s has no "
		    "message file", wd->msgdir.s);
		msgdir_quarantine(bfd, name, w->corrupt_fd, w->durable, &dest);
		return NULL;
	}
	/* after the replay, which rewrites the envelopes of every commit
	 * the log holds: a commit cut short by a power failure */
	if (msgdir_has_envelopes(dfd, wd->msgid, 1) == 0) {
		closedir(d);
		log_warnx("warn: queue-fs-proc: walk: queue/%s: every envelope "
		    "is empty (a commit never acknowledged, cut short by a "
		    "power failure)", wd->msgdir.s);
		msgdir_quarantine(bfd, name, w->corrupt_fd, w->durable, &dest);
		return NULL;
	}
	return d;
}

/* The next message directory with envelopes to serve, or 0 at the end. */
static int
walk_next_message(struct walk *w, int *budget)
{
	struct walk_dirs	*wd = w->dirs;
	struct dirent		*dp;

	while (wd->msg == NULL && (*budget)-- > 0) {
		if (wd->bucket == NULL) {
			if ((dp = readdir(wd->queue)) == NULL)
				return 0;
			if (layout_is_dot(dp->d_name))
				continue;
			if (!layout_parse_bucket(dp->d_name, &wd->top) ||
			    (wd->bucket = sio_opendir(dirfd(wd->queue),
			    dp->d_name)) == NULL) {
				walk_log_bogus(wd, "bucket", dp->d_name);
				continue;
			}
			layout_bucket(wd->top << 24, &wd->bucket_name);
			continue;
		}
		if ((dp = readdir(wd->bucket)) == NULL) {
			walk_close_stream(&wd->bucket);
			continue;
		}
		if (layout_is_dot(dp->d_name))
			continue;
		if (!layout_parse_msgname(dp->d_name, wd->top, &wd->msgid)) {
			walk_log_bogus(wd, "message directory", dp->d_name);
			continue;
		}
		if (idset_has(&w->fresh, (uint64_t)wd->msgid << 32))
			continue;
		layout_msgdir(wd->msgid, &wd->msgdir);
		wd->msg = walk_enter_message(w, dp->d_name);
	}
	return 1;
}

/* Serve one envelope file of the current message: its length, or 0. */
static int
walk_serve(struct walk_dirs *wd, const char *name, char *buf, size_t size)
{
	ssize_t	n;

	if ((n = sio_read_file(dirfd(wd->msg), name, buf, size)) == -1) {
		if (errno != ENOENT)	/* ENOENT: deleted since readdir */
			log_warn("warn: queue-fs-proc: walk: skipping "
			    "queue/%s/%s", wd->msgdir.s, name);
		return 0;
	}
	return (int)n;
}

/* One step: r > 0 an envelope, 0 nothing this time, -1 the end. */
static int
walk_step(struct walk *w, uint64_t *evpid, char *buf, size_t size)
{
	struct walk_dirs	*wd;
	struct dirent		*dp;
	uint64_t		 id;
	int			 budget = WALK_BUDGET, n;

	if (w->dirs == NULL) {
		if ((wd = calloc(1, sizeof(*wd))) == NULL ||
		    (wd->queue = sio_opendir(w->queue_fd, ".")) == NULL) {
			log_warn("warn: queue-fs-proc: walk: queue/");
			free(wd);
			return 0;
		}
		w->dirs = wd;
	}
	wd = w->dirs;
	while (budget > 0) {
		if (!walk_next_message(w, &budget))
			return -1;
		if (wd->msg == NULL)
			break;
		if ((dp = readdir(wd->msg)) == NULL) {
			walk_close_stream(&wd->msg);
			continue;
		}
		budget--;
		if (layout_is_dot(dp->d_name) ||
		    strcmp(dp->d_name, LAYOUT_MESSAGE) == 0)
			continue;
		if (!layout_parse_evpname(dp->d_name, wd->msgid, &id)) {
			log_warnx("warn: queue-fs-proc: walk: skipping file "
			    "queue/%s/%s", wd->msgdir.s, dp->d_name);
			continue;
		}
		if (idset_has(&w->fresh, id))
			continue;
		if ((n = walk_serve(wd, dp->d_name, buf, size)) > 0) {
			*evpid = id;
			return n;
		}
	}
	return 0;
}

/*
 * The envelope read ahead.  Only an ENVELOPE_UPDATE or a deletion can
 * have changed it since (everything created since start is skipped
 * anyway); after one, it is read again, and skipped if it is gone.
 */
static int
walk_take_ahead(struct walk *w, uint64_t *evpid, char *buf, size_t size)
{
	struct layout_evppath	path;
	ssize_t			n;

	w->ahead.ready = 0;
	if (w->ahead.r <= 0)
		return w->ahead.r;
	if (w->ahead.stale) {
		n = sio_read_file(w->queue_fd,
		    layout_evppath(w->ahead.evpid, &path), buf, size);
		if (n == -1) {
			if (errno != ENOENT)	/* ENOENT: deleted since */
				log_warn("warn: queue-fs-proc: walk: queue/%s",
				    path.s);
			return walk_step(w, evpid, buf, size);
		}
		*evpid = w->ahead.evpid;
		return (int)n;
	}
	if ((size_t)w->ahead.r > size)
		return 0;
	memcpy(buf, w->ahead.buf, (size_t)w->ahead.r);
	*evpid = w->ahead.evpid;
	return w->ahead.r;
}

/* r > 0: an envelope of r bytes; 0: nothing this time; -1: walk over. */
int
walk_next(struct walk *w, uint64_t *evpid, char *buf, size_t size)
{
	int	r;

	if (w->done)
		return -1;
	if (w->ahead.ready)
		r = walk_take_ahead(w, evpid, buf, size);
	else
		r = walk_step(w, evpid, buf, size);
	if (r == -1) {
		walk_close(w);
		w->done = 1;
		return -1;
	}
	w->ahead.wanted = 1;
	return r;
}

/*
 * After answering a WALK, read the envelope the next one returns, so
 * that it is answered at once.  Nothing to do after other answers.
 */
void
walk_read_ahead(struct walk *w)
{
	if (!w->ahead.wanted)
		return;
	w->ahead.wanted = 0;
	if (w->ahead.buf == NULL &&
	    (w->ahead.buf = malloc(PQ_EVP_MAX)) == NULL)
		return;		/* the next WALK reads for itself */
	w->ahead.r = walk_step(w, &w->ahead.evpid, w->ahead.buf, PQ_EVP_MAX);
	w->ahead.ready = 1;
	w->ahead.stale = 0;
}
