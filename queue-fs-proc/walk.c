/*
 * The start-up walk.  Only what existed when the daemon started is
 * returned: ids created since are in store->fresh (no clocks involved,
 * so a clock step cannot hide or double an envelope).
 *
 * What it meets in queue/ and does about it:
 *   a name that is not a bucket, message or envelope name: skipped, logged;
 *   a symlink, FIFO or other non-regular file: never opened, logged;
 *   an empty, unreadable or too large envelope: skipped, logged;
 *   a message directory without envelopes: what an interrupted deletion
 *     leaves behind (with or without its message file); it is finished;
 *   a message directory with envelopes but no message file: they cannot
 *     be delivered, so it is moved to corrupt/ for the administrator.
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

#include "log.h"
#include "store.h"
#include "walk.h"

struct walk {
	DIR		*queue;
	DIR		*bucket;
	DIR		*msg;
	uint32_t	 bucket_id;	/* top byte of msgids in bucket */
	uint32_t	 msgid;
	char		 bucket_name[3];
};

static DIR *
open_dir_stream(int dirfd, const char *path)
{
	DIR	*d;
	int	 fd;

	if ((fd = open_dir(dirfd, path)) == -1)
		return NULL;
	if ((d = fdopendir(fd)) == NULL)
		close(fd);
	return d;
}

static void
close_stream(DIR **d)
{
	if (*d != NULL)
		closedir(*d);
	*d = NULL;
}

void
walk_free(struct store *s)
{
	if (s->walk == NULL)
		return;
	close_stream(&s->walk->msg);
	close_stream(&s->walk->bucket);
	close_stream(&s->walk->queue);
	free(s->walk);
	s->walk = NULL;
}

static int
is_dot(const char *name)
{
	return strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
}

static int
parse_hex(const char *name, size_t len, uint32_t *v)
{
	if (!is_hex_name(name, len))
		return -1;
	*v = (uint32_t)strtoul(name, NULL, 16);
	return 0;
}

static void
log_bogus(struct walk *w, const char *kind, const char *name)
{
	log_warnx("warn: queue-fs-proc: walk: skipping %s queue/%s%s%s",
	    kind, w->bucket ? w->bucket_name : "", w->bucket ? "/" : "", name);
}

/*
 * Check a message directory before walking it; returns its stream, or
 * NULL when it is not to be walked.
 */
static DIR *
enter_message(struct store *s, struct walk *w, const char *name)
{
	struct stat	 sb;
	int		 bfd = dirfd(w->bucket), dfd, has;
	DIR		*d;

	if ((d = open_dir_stream(bfd, name)) == NULL) {
		log_warn("warn: queue-fs-proc: walk: queue/%s/%s",
		    w->bucket_name, name);
		return NULL;
	}
	dfd = dirfd(d);
	/* no envelopes: an interrupted deletion, message file or not */
	if ((has = has_envelopes(dfd, w->msgid)) == 0) {
		closedir(d);
		log_info("info: queue-fs-proc: walk: queue/%s/%s has no "
		    "envelopes left, finishing its deletion", w->bucket_name,
		    name);
		msgdir_remove(s, bfd, name);
		return NULL;
	}
	if (fstatat(dfd, "message", &sb, AT_SYMLINK_NOFOLLOW) == -1 ||
	    !S_ISREG(sb.st_mode)) {
		closedir(d);
		log_warnx("warn: queue-fs-proc: walk: queue/%s/%s has no "
		    "message file", w->bucket_name, name);
		msgdir_quarantine(s, bfd, name);
		return NULL;
	}
	return d;
}

/* The next message directory with envelopes to serve, or 0 at the end. */
static int
next_message(struct store *s, struct walk *w, int *budget)
{
	struct dirent	*dp;

	while (w->msg == NULL && (*budget)-- > 0) {
		if (w->bucket == NULL) {
			if ((dp = readdir(w->queue)) == NULL)
				return 0;
			if (is_dot(dp->d_name))
				continue;
			if (parse_hex(dp->d_name, 2, &w->bucket_id) == -1 ||
			    (w->bucket = open_dir_stream(dirfd(w->queue),
			    dp->d_name)) == NULL) {
				log_bogus(w, "bucket", dp->d_name);
				continue;
			}
			strlcpy(w->bucket_name, dp->d_name,
			    sizeof(w->bucket_name));
			continue;
		}
		if ((dp = readdir(w->bucket)) == NULL) {
			close_stream(&w->bucket);
			continue;
		}
		if (is_dot(dp->d_name))
			continue;
		if (parse_hex(dp->d_name, 8, &w->msgid) == -1 ||
		    w->msgid >> 24 != w->bucket_id || w->msgid == 0) {
			log_bogus(w, "message directory", dp->d_name);
			continue;
		}
		if (idset_has(&s->fresh, (uint64_t)w->msgid << 32))
			continue;
		w->msg = enter_message(s, w, dp->d_name);
	}
	return 1;
}

/* Serve one envelope file of the current message: its length, or 0. */
static int
serve_envelope(struct walk *w, const char *name, uint64_t *evpid,
    char *buf, size_t size)
{
	ssize_t	n;

	if ((n = load_envelope(dirfd(w->msg), name, buf, size)) == -1) {
		if (errno != ENOENT)	/* ENOENT: deleted since readdir */
			log_warn("warn: queue-fs-proc: walk: skipping "
			    "queue/%s/%08x/%s", w->bucket_name, w->msgid, name);
		return 0;
	}
	*evpid = strtoull(name, NULL, 16);
	return (int)n;
}

int
walk_next(struct store *s, uint64_t *evpid, char *buf, size_t size)
{
	struct walk	*w;
	struct dirent	*dp;
	int		 budget = WALK_BUDGET, n;

	if (s->walk == NULL) {
		if ((w = calloc(1, sizeof(*w))) == NULL ||
		    (w->queue = open_dir_stream(s->queue_fd, ".")) == NULL) {
			log_warn("warn: queue-fs-proc: walk: queue/");
			free(w);
			return 0;
		}
		s->walk = w;
	}
	w = s->walk;
	while (budget > 0) {
		if (!next_message(s, w, &budget))
			return -1;
		if (w->msg == NULL)
			break;
		if ((dp = readdir(w->msg)) == NULL) {
			close_stream(&w->msg);
			continue;
		}
		budget--;
		if (is_dot(dp->d_name) || strcmp(dp->d_name, "message") == 0)
			continue;
		if (!is_evp_name(dp->d_name, w->msgid)) {
			log_warnx("warn: queue-fs-proc: walk: skipping file "
			    "queue/%s/%08x/%s", w->bucket_name, w->msgid,
			    dp->d_name);
			continue;
		}
		if (idset_has(&s->fresh, strtoull(dp->d_name, NULL, 16)))
			continue;
		if ((n = serve_envelope(w, dp->d_name, evpid, buf, size)) > 0)
			return n;
	}
	return 0;
}
