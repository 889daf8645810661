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
#include "msgdir.h"
#include "safeio.h"


void
deferred_init(struct deferred *d, int queue_fd, int incoming_fd,
    struct walk *w, struct evcache *evc)
{
	memset(d, 0, sizeof(*d));
	d->queue_fd = queue_fd;
	d->incoming_fd = incoming_fd;
	d->walk = w;
	d->evc = evc;
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

/*
 * Write the incoming envelope answered last, as incoming/MSGID/EVPID,
 * from the copy the store holds (evcache.h; none if its message was
 * rolled back meanwhile: nothing to write).
 * Nobody reads it before the commit, which makes it durable.  If it
 * cannot be written, the message is withdrawn from incoming/ so that
 * its commit fails (r = 0) and smtpd tempfails the mail: answering
 * r = 1 before writing never costs an accepted mail.
 */
static void
deferred_write_envelope(struct deferred *d)
{
	struct layout_inevp	 path;
	struct layout_msgname	 msgname;
	struct evc_entry	*e;
	uint64_t		 evpid = d->evpid;
	int			 fd, r = -1;

	d->evpid = 0;
	if ((e = evc_get(d->evc, evpid)) == NULL || !e->pinned)
		return;
	fd = sio_open_beneath(d->incoming_fd, layout_inevp(evpid, &path),
	    O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd != -1) {
		r = sio_write_all(fd, e->data, e->len);
		if (close(fd) == -1)
			r = -1;
	}
	if (r == 0)
		return;
	log_warn("warn: queue-fs-proc: envelope incoming/%s: writing it, "
	    "withdrawing its message", path.s);
	d->withdrawn = (uint32_t)(evpid >> 32);
	layout_msgname(d->withdrawn, &msgname);
	if (msgdir_remove(d->incoming_fd, msgname.s, 0) == -1 &&
	    errno != ENOENT)
		fatalx("fatal: queue-fs-proc: cannot withdraw incoming/%s, "
		    "exiting so that it is never committed", msgname.s);
}

/*
 * Take an envelope of an incoming message, already held by the store's
 * evcache, to write after the answer.
 */
void
deferred_envelope(struct deferred *d, uint64_t evpid)
{
	if (d->evpid != 0)	/* the caller skipped deferred_run */
		deferred_write_envelope(d);
	d->evpid = evpid;
}

void
deferred_run(struct deferred *d)
{
	if (d->evpid != 0)
		deferred_write_envelope(d);
	if (d->refill) {
		d->refill = 0;
		if (d->spare == 0)
			(void)deferred_make_spare(d);
	}
	walk_read_ahead(d->walk);
}

/* At exit: write what was answered; no spare, no MESSAGE_CREATE comes. */
void
deferred_close(struct deferred *d)
{
	struct layout_msgname	name;

	if (d->evpid != 0)
		deferred_write_envelope(d);
	if (d->spare != 0)
		unlinkat(d->incoming_fd, layout_msgname(d->spare, &name),
		    AT_REMOVEDIR);
	d->spare = 0;
	d->refill = 0;
}
