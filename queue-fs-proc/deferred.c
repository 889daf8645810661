/*
 * Work after the answer: see deferred.h.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deferred.h"
#include "layout.h"
#include "log.h"
#include "safeio.h"


void
deferred_init(struct deferred *d, int queue_fd, int incoming_fd,
    struct walk *w)
{
	memset(d, 0, sizeof(*d));
	d->queue_fd = queue_fd;
	d->incoming_fd = incoming_fd;
	d->walk = w;
}

/*
 * Make an empty incoming/MSGID for a future MESSAGE_CREATE, so that the
 * request itself is answered without file system work.
 */
static int
deferred_make_spare(struct deferred *d)
{
	struct layout_msgdir	 path;
	struct layout_msgname	 name;
	struct stat		 sb;
	uint32_t		 msgid;
	int			 i;

	for (i = 0; i < LAYOUT_ID_TRIES; i++) {
		msgid = layout_random_id();
		/*
		 * A msgid that a live log record names is never reused:
		 * the replay would write that record's body or envelopes
		 * into the new message's directory.
		 */
		if (d->wal != NULL && wal_names(d->wal, msgid))
			continue;
		/* a queued message of that id would collide at commit */
		layout_msgdir(msgid, &path);
		if (fstatat(d->queue_fd, path.s, &sb, AT_SYMLINK_NOFOLLOW) == 0)
			continue;
		if (errno != ENOENT) {
			log_warn("warn: queue-fs-proc: stat queue/%s", path.s);
			return -1;
		}
		layout_msgname(msgid, &name);
		if (mkdirat(d->incoming_fd, name.s, 0700) == 0) {
			if (walk_skip(d->walk, (uint64_t)msgid << 32) == -1) {
				unlinkat(d->incoming_fd, name.s, AT_REMOVEDIR);
				return -1;
			}
			d->spare = msgid;
			return 0;
		}
		if (errno != EEXIST) {
			log_warn("warn: queue-fs-proc: mkdir incoming/%s",
			    name.s);
			return -1;
		}
	}
	log_warnx("warn: queue-fs-proc: could not allocate a msgid");
	return -1;
}

/*
 * The msgid for a MESSAGE_CREATE: the spare directory, made now if there
 * is none; a new spare is made after the answer.  0 on failure.
 */
uint32_t
deferred_take_spare(struct deferred *d)
{
	uint32_t	msgid;

	if (d->spare == 0 && deferred_make_spare(d) == -1)
		return 0;
	msgid = d->spare;
	d->spare = 0;
	d->refill = 1;
	return msgid;
}

void
deferred_run(struct deferred *d)
{
	if (d->refill) {
		d->refill = 0;
		if (d->spare == 0)
			(void)deferred_make_spare(d);
	}
	walk_read_ahead(d->walk);
}

/* At exit: no spare, no MESSAGE_CREATE comes. */
void
deferred_close(struct deferred *d)
{
	struct layout_msgname	name;

	if (d->spare != 0)
		unlinkat(d->incoming_fd, layout_msgname(d->spare, &name),
		    AT_REMOVEDIR);
	d->spare = 0;
	d->refill = 0;
}
