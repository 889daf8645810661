/*
 * Hardening test helpers: what /proc says about the daemon (see hlib.h).
 */
#include <sys/types.h>

#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hlib.h"

/* From /proc/PID/limits: are RLIMIT_NPROC and RLIMIT_CORE 0?  -1: unread. */
int
hd_limits_zero(pid_t pid, int *nproc, int *core)
{
	char	path[64], line[256];
	FILE	*f;

	*nproc = *core = 0;
	snprintf(path, sizeof(path), "/proc/%ld/limits", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "Max processes", 13) == 0)
			*nproc = strstr(line, " 0 ") != NULL;
		if (strncmp(line, "Max core file size", 18) == 0)
			*core = strstr(line, " 0 ") != NULL;
	}
	fclose(f);
	return 0;
}

int
hd_count_fds(pid_t pid)
{
	return qt_count_entries(qt_pathf(NULL, "/proc/%ld/fd", (long)pid));
}

/*
 * Open fds but the store's bucket directories (queue/XX), which it keeps
 * open once used: at most 256, never a leak.  From hd_list_fds()'s
 * lines, "  fd N -> TARGET".
 */
int
hd_count_fds_but_buckets(pid_t pid)
{
	char	*line, *end;
	size_t	 len;
	int	 count = 0;

	for (line = hd_list_fds(pid); *line != '\0'; line = end + 1) {
		if ((end = strchr(line, '\n')) == NULL)
			break;
		len = (size_t)(end - line);
		if (len > 9 && strncmp(end - 9, "/queue/", 7) == 0 &&
		    isxdigit((unsigned char)end[-2]) &&
		    isxdigit((unsigned char)end[-1]))
			continue;
		count++;
	}
	return count;
}

char *
hd_list_fds(pid_t pid)
{
	static char	 out[32768];	/* 256 buckets and more */
	char		 path[64], link[PATH_MAX], target[PATH_MAX];
	struct dirent	*dp;
	DIR		*d;
	size_t		 len = 0;
	ssize_t		 n;

	out[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
	if ((d = opendir(path)) == NULL)
		return out;
	while ((dp = readdir(d)) != NULL && len < sizeof(out) - 1) {
		if (dp->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "%s/%s", path, dp->d_name);
		if ((n = readlink(link, target, sizeof(target) - 1)) == -1)
			n = 0;
		target[n] = '\0';
		len += (size_t)snprintf(out + len, sizeof(out) - len,
		    "  fd %s -> %s\n", dp->d_name, target);
	}
	closedir(d);
	return out;
}
