/*
 * Hardening test helpers (see hlib.h).
 */
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hlib.h"

int
hd_spool_new(struct hd *h)
{
	const char	*tmp = getenv("TMPDIR");

	if (h->pid == 0 && h->sock == 0) {
		/* a zeroed struct: make it a stopped one */
		h->pid = -1;
		h->sock = -1;
	}
	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	snprintf(h->spool, sizeof(h->spool), "%s/qfp-hard.XXXXXX", tmp);
	snprintf(h->log, sizeof(h->log), "%s/qfp-hlog.XXXXXX", tmp);
	if (qt_spool_new(h->spool) == -1 || qt_log_new(h->log) == -1)
		return -1;
	if (h->daemon == NULL)
		h->daemon = qt_daemon_path();
	if (h->dialect == IMSG_DIALECT_UNKNOWN)
		h->dialect = IMSG_DIALECT_A;
	return 0;
}

/*
 * Under a wrapper argv[0] is the binary's path, so the daemon does not
 * take the smtpd form: pass the options split.
 */
static void
exec_wrapped(const struct qt_spawn *sp)
{
	struct hd	*h = sp->arg;
	char		*argv[64], *copy, *tok;
	int		 n = 0, i;

	if (h->wrapper == NULL)
		return;
	for (i = 0; h->wrapper[i] != NULL && n < 40; i++)
		argv[n++] = h->wrapper[i];
	argv[n++] = (char *)h->daemon;
	copy = strdup(sp->argv1);
	while (copy != NULL && (tok = strsep(&copy, " ")) != NULL && n < 62)
		if (*tok != '\0')
			argv[n++] = tok;
	argv[n] = NULL;
	execvp(argv[0], argv);
	_exit(127);
}

int
hd_start_raw(struct hd *h, const char *argv1)
{
	struct qt_spawn	sp = { .daemon = h->daemon, .argv1 = argv1,
			    .timeout_ms = HD_TIMEOUT_MS,
			    .exec = exec_wrapped, .arg = h };

	if (h->pid != -1)
		return qt_fail("daemon already running");
	if ((sp.logfd = open(h->log, O_WRONLY | O_APPEND | O_CLOEXEC)) == -1)
		return qt_fail("open %s: %s", h->log, strerror(errno));
	h->pid = qt_spawn(&sp, &h->sock);
	close(sp.logfd);
	if (h->pid == -1)
		return -1;
	pq_client_init(&h->c, h->sock, h->dialect);
	return 0;
}

int
hd_start(struct hd *h, const char *opts)
{
	char	argv1[512];

	qt_options(argv1, sizeof(argv1), !h->syslog, h->spool, HD_USER, opts);
	return hd_start_raw(h, argv1);
}

int
hd_start_init(struct hd *h, const char *opts)
{
	if (hd_start(h, opts) == -1)
		return -1;
	if (pq_init(&h->c) != 1)
		return qt_fail("INIT failed (daemon exit %d)",
		    hd_wait(h, 2000));
	return 0;
}

int
hd_wait(struct hd *h, int timeout_ms)
{
	if (h->pid != -1 && qt_wait(&h->pid, &h->status, timeout_ms) == -1)
		return -1;
	return qt_exit_code(h->status);
}

int
hd_stop(struct hd *h)
{
	if (qt_stop(&h->pid, &h->sock, &h->status, HD_TIMEOUT_MS) == -1)
		return -1;
	return qt_exit_code(h->status);
}

void
hd_kill(struct hd *h)
{
	qt_kill(&h->pid, &h->status);
	qt_close(&h->sock);
}

void
hd_free(struct hd *h)
{
	qt_stop(&h->pid, &h->sock, &h->status, HD_TIMEOUT_MS);
	if (getenv("QFP_KEEP") != NULL) {
		fprintf(stderr, "kept spool %s, log %s\n", h->spool, h->log);
		return;
	}
	qt_rmtree(h->spool);
	if (h->log[0] != '\0')
		unlink(h->log);
}

/* ---- /proc ------------------------------------------------------------ */

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

const char *
hd_status(pid_t pid, const char *field)
{
	static char	value[256];
	char		path[64], line[512];
	size_t		flen = strlen(field);
	FILE		*f;
	const char	*v = NULL;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	while (v == NULL && fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, field, flen) != 0 || line[flen] != ':')
			continue;
		v = line + flen + 1;
		v += strspn(v, " \t");
		snprintf(value, sizeof(value), "%s", v);
		value[strcspn(value, "\n")] = '\0';
		/* Groups: ends with a space */
		for (flen = strlen(value); flen > 0 &&
		    (value[flen - 1] == ' ' || value[flen - 1] == '\t'); flen--)
			value[flen - 1] = '\0';
		v = value;
	}
	fclose(f);
	return v;
}

int
hd_count_fds(pid_t pid)
{
	return qt_count_entries(qt_pathf(NULL, "/proc/%ld/fd", (long)pid));
}

pid_t
hd_target(struct hd *h)
{
	char	 path[96];
	long	 child = -1;
	FILE	*f;

	if (h->wrapper == NULL || h->pid == -1)
		return h->pid;
	snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children",
	    (long)h->pid, (long)h->pid);
	if ((f = fopen(path, "r")) != NULL) {
		if (fscanf(f, "%ld", &child) != 1)
			child = -1;
		fclose(f);
	}
	return child > 0 ? (pid_t)child : h->pid;
}

char *
hd_list_fds(pid_t pid)
{
	static char	 out[4096];
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

int
hd_log_has(struct hd *h, const char *word)
{
	return qt_log_count(h->log, 0, word, NULL, NULL) > 0;
}

/* ---- requests --------------------------------------------------------- */

static size_t
evp_text(char *buf, size_t size, unsigned seed, int which)
{
	return (size_t)snprintf(buf, size, "version: 3\n"
	    "dispatcher: local\ntype: mda\nsmtpname: hardening\n"
	    "sender: s%u@example.org\nrcpt: r%u-%d@test.local\n"
	    "dest: r%u-%d@test.local\nctime: %u\nlast-try: 0\n", seed, seed,
	    which, seed, which, 1700000000u + seed);
}

int
hd_lifecycle(struct hd *h, unsigned seed, int failures)
{
	struct pq_client *c = &h->c;
	char		 content[8192], evp[3][512], buf[PQ_EVP_MAX], *got;
	size_t		 clen, elen[3], glen = 0;
	uint64_t	 evpid[3], bad_evpid;
	uint32_t	 msgid, rb;
	int		 i, fd, r;

	clen = (size_t)snprintf(content, sizeof(content),
	    "From: s%u@example.org\r\nSubject: lifecycle %u\r\n\r\n", seed,
	    seed);
	for (i = 0; clen < 5000 + seed % 3000; i++)
		content[clen++] = (char)('a' + (seed + i) % 26);
	for (i = 0; i < 3; i++)
		elen[i] = evp_text(evp[i], sizeof(evp[i]), seed, i);

	if ((r = pq_message_create(c, &msgid)) != 1)
		return qt_fail("create: r = %d", r);
	for (i = 0; i < 2; i++)
		if ((r = pq_envelope_create(c, msgid, evp[i], elen[i],
		    &evpid[i])) != 1)
			return qt_fail("envelope create %d: r = %d", i, r);
	if ((fd = qt_tmp_message(NULL, content, clen)) == -1)
		return qt_fail("temp file: %s", strerror(errno));
	r = pq_message_commit(c, msgid, fd);
	close(fd);
	if (r != 1)
		return qt_fail("commit %08x: r = %d", msgid, r);
	if ((fd = pq_message_fd_r(c, msgid)) < 0)
		return qt_fail("fd_r %08x: %d", msgid, fd);
	got = qt_pread_fd(fd, &glen);
	close(fd);
	r = got != NULL && glen == clen && memcmp(got, content, clen) == 0;
	free(got);
	if (!r)
		return qt_fail("fd_r %08x: content differs (%zu/%zu bytes)",
		    msgid, glen, clen);
	if ((r = pq_envelope_create(c, msgid, evp[2], elen[2],
	    &evpid[2])) != 1)
		return qt_fail("envelope create on queued: r = %d", r);
	if ((r = pq_envelope_load(c, evpid[0], buf, sizeof(buf))) !=
	    (int)elen[0] || memcmp(buf, evp[0], elen[0]) != 0)
		return qt_fail("load %016llx: %d",
		    (unsigned long long)evpid[0], r);
	memcpy(evp[0] + elen[0] - 2, "1\n", 2);
	if ((r = pq_envelope_update(c, evpid[0], evp[0], elen[0])) != 1)
		return qt_fail("update: r = %d", r);
	if ((r = pq_envelope_load(c, evpid[0], buf, sizeof(buf))) !=
	    (int)elen[0] || memcmp(buf, evp[0], elen[0]) != 0)
		return qt_fail("load after update: %d", r);

	if (failures) {
		bad_evpid = (uint64_t)(msgid ^ 0x5a5a5a5a) << 32 | 0x1234;
		if ((fd = qt_tmp_message(NULL, content, 10)) == -1)
			return qt_fail("temp file: %s", strerror(errno));
		r = pq_message_commit(c, msgid ^ 0x5a5a5a5a, fd);
		if (r == 0)
			r = pq_message_commit(c, 0, fd) == 0 ? 0 : -7;
		close(fd);
		if (r != 0)
			return qt_fail("commit of a bad msgid: r = %d", r);
		if ((fd = pq_message_fd_r(c, msgid ^ 0x5a5a5a5a)) != -1) {
			if (fd >= 0)
				close(fd);
			return qt_fail("fd_r of an unknown msgid: %d", fd);
		}
		if ((r = pq_envelope_load(c, bad_evpid, buf, sizeof(buf))) != 0)
			return qt_fail("load of an unknown evpid: %d", r);
		if ((r = pq_envelope_delete(c, bad_evpid)) != 0)
			return qt_fail("delete of an unknown evpid: %d", r);
		if ((r = pq_message_delete(c, msgid ^ 0x5a5a5a5a)) != 0)
			return qt_fail("delete of an unknown msgid: %d", r);
		if ((r = pq_message_create(c, &rb)) != 1 ||
		    (r = pq_envelope_create(c, rb, evp[1], elen[1],
		    &bad_evpid)) != 1 || (r = pq_message_delete(c, rb)) != 1)
			return qt_fail("rollback: r = %d", r);
	}
	for (i = 0; i < 3; i++)
		if ((r = pq_envelope_delete(c, evpid[i])) != 1)
			return qt_fail("envelope delete %d: r = %d", i, r);
	if ((fd = pq_message_fd_r(c, msgid)) != -1) {
		if (fd >= 0)
			close(fd);
		return qt_fail("message %08x still there after its last "
		    "envelope went (%d)", msgid, fd);
	}
	return 0;
}

int
hd_walk_cycle(struct hd *h, const char *opts, int n)
{
	char		 evp[512], buf[PQ_EVP_MAX];
	uint64_t	*ids, *all, evpid;
	uint32_t	 msgid;
	size_t		 len;
	int		 i, j, r, fd, found, seen = 0, tries = 0, ret = -1;

	ids = calloc((size_t)n * 2, sizeof(*ids));
	all = calloc((size_t)n * 2, sizeof(*all));
	if (ids == NULL || all == NULL) {
		qt_fail("calloc");
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((r = pq_message_create(&h->c, &msgid)) != 1) {
			qt_fail("walk: create: r = %d", r);
			goto out;
		}
		for (j = 0; j < 2; j++) {
			len = evp_text(evp, sizeof(evp), (unsigned)i, j);
			if ((r = pq_envelope_create(&h->c, msgid, evp, len,
			    &ids[i * 2 + j])) != 1) {
				qt_fail("walk: envelope: r = %d", r);
				goto out;
			}
		}
		if ((fd = qt_tmp_message(NULL, "Subject: walk\r\n\r\nbody\r\n",
		    23)) == -1) {
			qt_fail("temp file");
			goto out;
		}
		r = pq_message_commit(&h->c, msgid, fd);
		close(fd);
		if (r != 1) {
			qt_fail("walk: commit: r = %d", r);
			goto out;
		}
	}
	memcpy(all, ids, (size_t)n * 2 * sizeof(*all));
	if ((r = hd_stop(h)) != 0) {
		qt_fail("walk: daemon exit %d on close", r);
		goto out;
	}
	if (hd_start_init(h, opts) == -1)
		goto out;
	while ((r = pq_envelope_walk(&h->c, &evpid, buf, sizeof(buf))) !=
	    -1) {
		if (r == PQ_EPROTO) {
			qt_fail("walk: protocol error");
			goto out;
		}
		if (r == 0) {
			if (++tries > 100000) {
				qt_fail("walk: no end");
				goto out;
			}
			continue;
		}
		for (found = -1, i = 0; i < 2 * n; i++)
			if (ids[i] == evpid)
				found = i;
		if (found == -1) {
			qt_fail("walk: unknown or repeated evpid %016llx",
			    (unsigned long long)evpid);
			goto out;
		}
		len = evp_text(evp, sizeof(evp), (unsigned)found / 2,
		    found % 2);
		if ((size_t)r != len || memcmp(buf, evp, len) != 0) {
			qt_fail("walk: envelope %016llx differs",
			    (unsigned long long)evpid);
			goto out;
		}
		ids[found] = 0;
		seen++;
	}
	if (seen != 2 * n) {
		qt_fail("walk: %d envelopes of %d", seen, 2 * n);
		goto out;
	}
	/* now delete them, each message with its last envelope */
	for (i = 0; i < 2 * n; i++)
		if ((r = pq_envelope_delete(&h->c, all[i])) != 1) {
			qt_fail("walk: delete %016llx: r = %d",
			    (unsigned long long)all[i], r);
			goto out;
		}
	for (i = 0; i < 2 * n; i += 2)
		if ((fd = pq_message_fd_r(&h->c, (uint32_t)(all[i] >> 32))) !=
		    -1) {
			if (fd >= 0)
				close(fd);
			qt_fail("walk: message %08x left after its envelopes",
			    (uint32_t)(all[i] >> 32));
			goto out;
		}
	ret = 0;
out:
	free(ids);
	free(all);
	return ret;
}
