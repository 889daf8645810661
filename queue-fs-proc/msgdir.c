/*
 * Message directories as a whole: see msgdir.h.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "msgdir.h"
#include "safeio.h"

/*
 * Does the message directory dfd still hold an envelope, one that is
 * not empty if need_data is set?  -1: error.
 */
int
msgdir_has_envelopes(int dfd, uint32_t msgid, int need_data)
{
	struct dirent	*dp;
	struct stat	 sb;
	DIR		*dir;
	int		 found = 0;

	if ((dir = sio_reopendir(dfd)) == NULL)
		return -1;
	while (!found && (dp = readdir(dir)) != NULL)
		found = layout_is_evpname(dp->d_name, msgid) && (!need_data ||
		    (fstatat(dfd, dp->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
		    sb.st_size > 0));
	closedir(dir);
	return found;
}

/*
 * Remove the message directory parent_fd/name: envelopes first, then
 * the message, then the directory, so an interruption leaves at worst a
 * message without envelopes, which the walk finishes removing.
 */
int
msgdir_remove(int parent_fd, const char *name, int durable)
{
	struct dirent	*dp;
	DIR		*dir;
	int		 ret = 0;

	if ((dir = sio_opendir(parent_fd, name)) == NULL)
		return -1;
	while ((dp = readdir(dir)) != NULL) {
		if (layout_is_dot(dp->d_name) ||
		    strcmp(dp->d_name, LAYOUT_MESSAGE) == 0)
			continue;
		if (unlinkat(dirfd(dir), dp->d_name, 0) == -1 &&
		    errno != ENOENT) {
			log_warn("warn: queue-fs-proc: unlink %s/%s", name,
			    dp->d_name);
			ret = -1;
		}
	}
	if (unlinkat(dirfd(dir), LAYOUT_MESSAGE, 0) == -1 && errno != ENOENT) {
		log_warn("warn: queue-fs-proc: unlink %s/%s", name,
		    LAYOUT_MESSAGE);
		ret = -1;
	}
	closedir(dir);
	if (unlinkat(parent_fd, name, AT_REMOVEDIR) == -1) {
		log_warn("warn: queue-fs-proc: rmdir %s", name);
		return -1;
	}
	if (durable)
		sio_barrier(parent_fd, SIO_FSYNC, "a message's parent directory");
	return ret;
}

/*
 * Move parent_fd/name, a broken message directory or entry, into
 * corrupt/ (never delete mail that might be someone's only copy), as
 * the first free name of name, name.1, ...; dest says which.
 */
int
msgdir_quarantine(int parent_fd, const char *name, int corrupt_fd,
    int durable, struct layout_corrupt *dest)
{
	int	i;

	if (corrupt_fd == -1) {
		log_warnx("warn: queue-fs-proc: no corrupt/ directory, "
		    "leaving %s in place", name);
		return -1;
	}
	for (i = 0; i < LAYOUT_CORRUPT_TRIES; i++) {
		layout_corrupt(name, i, dest);
		if (renameat2(parent_fd, name, corrupt_fd, dest->s,
		    RENAME_NOREPLACE) == 0) {
			log_warnx("warn: queue-fs-proc: moved %s to corrupt/%s",
			    name, dest->s);
			if (durable)
				sio_barrier(corrupt_fd, SIO_FSYNC, "corrupt/");
			return 0;
		}
		if (errno != EEXIST)
			break;
	}
	log_warn("warn: queue-fs-proc: cannot move %s to corrupt/", name);
	return -1;
}
