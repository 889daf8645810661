/*
 * What the durability programs share beyond tests/lib (see dur.h).
 */
#include <sys/types.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dur.h"

unsigned long	dur_checks, dur_failures;
uid_t		dur_uid;
gid_t		dur_gid;

/* ---- launcher and set-up ---------------------------------------------- */

static char	private_mnt[128];

static void
watchdog(int sig)
{
	static const char msg[] = "FAIL: watchdog: the test ran out of time\n";

	(void)!write(1, msg, sizeof(msg) - 1);
	qd_kill_all();
	if (private_mnt[0] != '\0')
		umount2(private_mnt, MNT_DETACH);
	_exit(2);
}

static void
fatal_signal(int sig)
{
	qd_kill_all();
	if (private_mnt[0] != '\0' &&
	    umount2(private_mnt, MNT_DETACH) == 0)
		rmdir(private_mnt);
	signal(sig, SIG_DFL);
	raise(sig);
}

void
dur_private_fs_release(void)
{
	int	i;

	if (private_mnt[0] == '\0')
		return;
	qd_kill_all();
	for (i = 0; i < 50 && umount(private_mnt) == -1 && errno == EBUSY;
	    i++)
		poll(NULL, 0, 100);
	umount2(private_mnt, MNT_DETACH);
	rmdir(private_mnt);
	private_mnt[0] = '\0';
}

/*
 * A private ext4 on a loop device: syncfs() there flushes the test's
 * own data only, not whatever else the machine is writing to /tmp.
 * Returns its mount point, or NULL when it cannot be had.
 */
const char *
dur_private_fs(unsigned mb)
{
	char	cmd[512];

	snprintf(private_mnt, sizeof(private_mnt), "/tmp/qfp-durfs.XXXXXX");
	if (mkdtemp(private_mnt) == NULL) {
		private_mnt[0] = '\0';
		return NULL;
	}
	signal(SIGSEGV, fatal_signal);
	signal(SIGABRT, fatal_signal);
	signal(SIGTERM, fatal_signal);
	signal(SIGINT, fatal_signal);
	signal(SIGBUS, fatal_signal);
	atexit(dur_private_fs_release);
	snprintf(cmd, sizeof(cmd), "sh tests/lib/loop-ext4.sh %uM '%s'", mb,
	    private_mnt);
	if (system(cmd) != 0) {
		rmdir(private_mnt);
		private_mnt[0] = '\0';
		return NULL;
	}
	return private_mnt;
}

int
dur_setup(const char *prog, unsigned secs)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (qt_setup(1) == -1 || qt_user(DUR_USER, &dur_uid, &dur_gid) == -1) {
		qr_fail(prog, "%s", qt_error);
		return -1;
	}
	signal(SIGALRM, watchdog);
	alarm(secs);
	return 0;
}

/* ---- the daemon ------------------------------------------------------- */

int
dur_daemon(struct qt_daemon *d, const char *parent, const char *opts)
{
	qd_init(d, opts);
	d->timeout_ms = DUR_TIMEOUT_MS;
	if (qd_workdir(d, parent) == -1) {
		printf("  %s\n", qt_error);
		return -1;
	}
	return 0;
}

int
dur_log_count(const char *log, const char *needle, const char *needle2)
{
	return qt_log_count(log, 0, needle, needle2, NULL);
}

/* ---- files ------------------------------------------------------------ */

int
write_file(const char *path, const void *buf, size_t len, mode_t mode)
{
	const char	*p = buf;
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    mode)) == -1)
		return -1;
	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			close(fd);
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return close(fd);
}

/* ---- random numbers, time --------------------------------------------- */

static uint64_t	rnd_state = 88172645463325252ULL;

void
rnd_seed(uint64_t s)
{
	rnd_state = s ? s : 88172645463325252ULL;
}

uint64_t
rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

uint64_t
rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

void
rnd_fill(void *buf, size_t len)
{
	unsigned char	*p = buf;
	uint64_t	 v = 0;
	size_t		 i;

	for (i = 0; i < len; i++) {
		if (i % 8 == 0)
			v = rnd();
		p[i] = (unsigned char)(v >> (8 * (i % 8)));
	}
}
