/*
 * qfp-bench: the start-up walk.  A spool of N envelopes written directly
 * in the fs layout, then ENVELOPE_WALK to r = -1 over the socket and
 * in-process, the daemon's VmRSS sampled along the way.
 */
#include <sys/types.h>
#include <sys/fsuid.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "idset.h"

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t	x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void
write_file(int dfd, const char *name, const char *buf, size_t len)
{
	int	fd;

	if ((fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) == -1)
		die("create %s: %s", name, strerror(errno));
	if (write(fd, buf, len) != (ssize_t)len)
		die("write %s: %s", name, strerror(errno));
	close(fd);
}

/*
 * queue/XX/MSGID/{message,EVPID,EVPID}: 2 envelopes per message.  Files
 * are created with the queue user as fs uid (and group 0), so no chown
 * pass is needed; queue/, incoming/ are the queue user's, group 0, 0700.
 */
static void
build_walk_spool(const char *spool, long envelopes, double *secs)
{
	static const char msg[] = "From: a@bench.test\nTo: b@relay.test\n"
	    "Subject: walk\n\nbody\n";
	char		 evp[1024], name[32], bname[3];
	uint32_t	*ids, mul = 2654435761u, salt, lo[2];
	long		 nmsg = (envelopes + 1) / 2, i, made = 0;
	uint64_t	 t0 = qt_now_ns();
	int		 root, qfd, bfd = -1, mfd, k, bucket = -1;
	size_t		 len;

	if ((root = open(spool, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		die("%s: %s", spool, strerror(errno));
	make_dir(root, "queue", 0700, q_uid, 0);
	make_dir(root, "incoming", 0700, q_uid, 0);
	make_dir(root, "purge", 0700, q_uid, 0);
	make_dir(root, "corrupt", 0700, q_uid, 0);
	if ((qfd = openat(root, "queue", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		die("queue/: %s", strerror(errno));

	/* unique non-zero msgids: i * odd constant is a bijection mod 2^32 */
	if ((ids = malloc((size_t)nmsg * sizeof(*ids))) == NULL)
		die("out of memory");
	salt = arc4random();
	for (i = 0; made < nmsg; i++) {
		uint32_t id = ((uint32_t)i * mul) ^ salt;

		if (id != 0)
			ids[made++] = id;
	}
	qsort(ids, (size_t)nmsg, sizeof(*ids), cmp_u32);

	setfsgid(0);
	setfsuid(q_uid);
	for (i = 0; i < nmsg; i++) {
		if ((int)(ids[i] >> 24) != bucket) {
			if (bfd != -1)
				close(bfd);
			bucket = (int)(ids[i] >> 24);
			snprintf(bname, sizeof(bname), "%02x", bucket);
			if (mkdirat(qfd, bname, 0700) == -1)
				die("mkdir queue/%s: %s", bname,
				    strerror(errno));
			if ((bfd = openat(qfd, bname, O_RDONLY |
			    O_DIRECTORY | O_CLOEXEC)) == -1)
				die("queue/%s: %s", bname, strerror(errno));
		}
		snprintf(name, sizeof(name), "%08x", ids[i]);
		if (mkdirat(bfd, name, 0700) == -1 || (mfd = openat(bfd, name,
		    O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
			die("queue/%s/%s: %s", bname, name, strerror(errno));
		write_file(mfd, "message", msg, sizeof(msg) - 1);
		for (k = 0; k < 2 && i * 2 + k < envelopes; k++) {
			while ((lo[k] = arc4random()) == 0 ||
			    (k == 1 && lo[1] == lo[0]))
				;
			snprintf(name, sizeof(name), "%08x%08x", ids[i],
			    lo[k]);
			len = make_envelope(evp, sizeof(evp),
			    (unsigned)(i * 2 + k), 0);
			write_file(mfd, name, evp, len);
		}
		close(mfd);
		if (i % 50000 == 0 && i > 0)
			progress("walk spool: %ld / %ld messages", i, nmsg);
	}
	setfsuid(0);
	setfsgid(0);
	if (bfd != -1)
		close(bfd);
	close(qfd);
	close(root);
	free(ids);
	/* the spool at rest: later fsyncs must not pay for writing it */
	sync();
	*secs = (double)(qt_now_ns() - t0) / 1e9;
}

static long
proc_kb(pid_t pid, const char *field)
{
	const char	*v = qt_proc_status(pid, field);

	return v != NULL ? strtol(v, NULL, 10) : -1;
}

static void
drop_caches(void)
{
	int	fd;

	sync();
	if ((fd = open("/proc/sys/vm/drop_caches", O_WRONLY)) == -1 ||
	    write(fd, "3\n", 2) != 2)
		progress("cannot drop caches: %s", strerror(errno));
	if (fd != -1)
		close(fd);
}

/* One walk to r = -1; returns microseconds per envelope. */
static double
walk_round(struct backend *b, struct walk_result *w, long expect)
{
	static const long marks[3] = { 10000, 100000, 1000000 };
	char		 buf[PQ_EVP_MAX];
	uint64_t	 evpid, t0, t1, tsample = 0;
	uint32_t	 last_msg = 0;
	struct idset	 done;
	long		 got = 0, rss;
	int		 r, k, is_sock = b->via == VIA_SOCKET;

	memset(&done, 0, sizeof(done));
	if (is_sock)
		w->rss_start = proc_kb(b->d.pid, "VmRSS");
	t0 = qt_now_ns();
	for (;;) {
		t1 = qt_now_ns();
		r = b_envelope_walk(b, &evpid, buf, sizeof(buf));
		sample_add(&w->lat[b->via], (double)(qt_now_ns() - t1) / 1000.0);
		if (r == -1)
			break;
		if (r < -1)
			die("%s walk: r = %d", is_sock ? "socket" :
			    "in-process", r);
		if (r == 0)
			continue;
		got++;
		/* all envelopes of a message one after another */
		if ((uint32_t)(evpid >> 32) != last_msg) {
			if (last_msg != 0 && idset_add(&done,
			    (uint64_t)last_msg << 32) == -1)
				die("out of memory");
			last_msg = (uint32_t)(evpid >> 32);
			if (idset_has(&done, (uint64_t)last_msg << 32))
				die("%s walk: envelopes of message %08x not "
				    "consecutive", is_sock ? "socket" :
				    "in-process", last_msg);
		}
		if (is_sock && (got % 1000 == 0 || got == 10000)) {
			uint64_t ts = qt_now_ns();

			rss = proc_kb(b->d.pid, "VmRSS");
			if (rss > w->rss_peak)
				w->rss_peak = rss;
			for (k = 0; k < 3; k++)
				if (got == marks[k])
					w->rss_at[k] = rss;
			tsample += qt_now_ns() - ts;
		}
	}
	t1 = qt_now_ns();
	idset_free(&done);
	if (got != expect)
		die("%s walk returned %ld envelopes, %ld in the spool",
		    is_sock ? "socket" : "in-process", got, expect);
	if (is_sock) {
		w->rss_after = proc_kb(b->d.pid, "VmRSS");
		w->hwm = proc_kb(b->d.pid, "VmHWM");
		progress("socket walk: %ld envelopes, %.2f us each; daemon "
		    "VmRSS peak %.2f MiB, after %.2f MiB, VmHWM %.2f MiB", got,
		    (double)(t1 - t0 - tsample) / 1000.0 / (double)expect,
		    w->rss_peak / 1024.0, w->rss_after / 1024.0,
		    w->hwm / 1024.0);
	} else
		progress("in-process walk: %ld envelopes, %.2f us each", got,
		    (double)(t1 - t0 - tsample) / 1000.0 / (double)expect);
	return (double)(t1 - t0 - tsample) / 1000.0 / (double)expect;
}

void
run_walk(struct walk_result *w)
{
	struct backend	 bs, bi;
	char		 spool[PATH_MAX];
	int		 p, v, fd;

	backend_init(&bs, VIA_SOCKET);
	backend_init(&bi, VIA_INPROC);
	w->envelopes = opt.walk_n;
	w->rounds = opt.walk_pairs;
	new_spool(spool, sizeof(spool), "walk");
	progress("building a spool of %ld envelopes in %s", opt.walk_n,
	    spool);
	build_walk_spool(spool, opt.walk_n, &w->build_s);
	progress("built in %.1f s", w->build_s);
	strlcpy(bs.d.spool, spool, sizeof(bs.d.spool));

	/*
	 * On --rootfs, an untimed in-process walk first: the first read of
	 * a file written since it was last read updates its atime
	 * (relatime), a one-time cost that would otherwise land on
	 * whichever walk is first.
	 */
	if (!opt.cold && fs_mnt[0] == '\0') {	/* the fresh fs is noatime */
		struct walk_result scratch;

		memset(&scratch, 0, sizeof(scratch));
		if ((fd = open(spool, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
			die("%s: %s", spool, strerror(errno));
		if (store_open(&bi.s, fd, STORE_SYNC_FULL, 5) == -1)
			die("store_open %s", spool);
		close(fd);
		walk_round(&bi, &scratch, opt.walk_n);
		store_close(&bi.s);
		free(scratch.lat[VIA_INPROC].v);
		progress("warm-up walk done");
	}

	for (p = 0; p < opt.walk_pairs; p++) {
		for (v = 0; v < 2; v++) {
			int	via = v ^ (p % 2);

			if (opt.cold)
				drop_caches();
			if (via == VIA_SOCKET) {
				daemon_start(&bs, "full");
				w->us_per_evp[via][p] = walk_round(&bs, w,
				    opt.walk_n);
				daemon_stop(&bs);
			} else {
				if ((fd = open(spool, O_RDONLY | O_DIRECTORY |
				    O_CLOEXEC)) == -1)
					die("%s: %s", spool, strerror(errno));
				if (store_open(&bi.s, fd, STORE_SYNC_FULL, 5) ==
				    -1)
					die("store_open %s", spool);
				close(fd);
				w->us_per_evp[via][p] = walk_round(&bi, w,
				    opt.walk_n);
				store_close(&bi.s);
			}
		}
		w->ratio[p] = w->us_per_evp[VIA_INPROC][p] /
		    w->us_per_evp[VIA_SOCKET][p];
		progress("walk pair %d/%d: %.2f / %.2f us per envelope "
		    "(socket/in-process)", p + 1, opt.walk_pairs,
		    w->us_per_evp[0][p], w->us_per_evp[1][p]);
	}
	if (!opt.keep && fs_mnt[0] == '\0')	/* a fresh fs just goes */
		qt_rmtree(spool);
}
