/*
 * The request-serving sandbox (see sandbox.h).
 *
 * Order matters:
 *   1. as root, before the uid change: empty the capability bounding set
 *      (PR_CAPBSET_DROP needs CAP_SETPCAP, which setresuid() to a
 *      non-zero uid takes away with every other capability);
 *   2. after the uid change: PR_SET_NO_NEW_PRIVS (also what lets an
 *      unprivileged process load a seccomp filter), capset() to zero,
 *      RLIMIT_NPROC and RLIMIT_CORE to 0, not dumpable, then the
 *      seccomp filter, last, so that nothing above needs to be allowed.
 *
 * The allow-list is what the daemon was seen to call after start-up
 * (strace -f over the conformance, hardening and end-to-end paths, with
 * -S full and -S none, under smtpd -d and daemonized, SIGUSR1 and
 * SIGTERM included: tests/hardening/trace-syscalls.sh redoes it), plus
 * the few that glibc may use instead of those on another kernel or
 * version (statx for fstatat, ppoll for poll, epoll_pwait, renameat for
 * renameat2, ...).  Seen but refused on purpose: socket() and connect(),
 * glibc's syslog() trying to reconnect when the socket openlog() made
 * before the chroot is gone (no syslogd, or it restarted); that cannot
 * work in the chroot anyway (no dev/log there), and allowing it would
 * open abstract unix sockets to the helper.
 */
#include <sys/types.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <linux/capability.h>

#include <errno.h>
#include <seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "sandbox.h"

/*
 * Default action for a system call not on the list: fail it with
 * EPERM, and have the kernel log it (SCMP_FLTATR_CTL_LOG: an audit
 * "type=SECCOMP" line, also in dmesg, naming the call).
 *
 * Why not SCMP_ACT_KILL_PROCESS: smtpd is fatal when its queue helper
 * goes away -- the whole MTA exits -- so a call missing from the list
 * (a new glibc or libevent that uses statx or epoll_pwait2 instead of
 * what we saw) would turn into an outage of the mail system.  With EPERM
 * the request that made the call fails like any I/O error: the daemon
 * logs it and answers r = 0, smtpd tempfails and retries, mail stays
 * queued, and the kernel log names the call for the fix.  For an
 * attacker who got code running in the helper the two are the same:
 * the call does not happen either way, and it could already kill smtpd
 * by exiting.  The cost, that a refused call does not stop the daemon
 * on the spot, is paid by the log line and by the tests, which run
 * every request path under the filter and fail on any r = 0 (and
 * tests/hardening checks that a forbidden call really is refused).
 */
#define DEFAULT_ACTION	SCMP_ACT_ERRNO(EPERM)

/* System calls allowed without conditions on their arguments. */
static const char *const allowed[] = {
	/* requests and answers on fd 0 (imsg.c), waiting to write */
	"recvmsg", "sendmsg", "poll", "ppoll",
	/* libevent: the event loop, and its signal pipe (evsig) */
	"epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait",
	"epoll_pwait2", "pipe2",
	/* the store: files and directories beneath the open dir fds */
	"openat", "openat2", "close", "read", "readv", "write", "pread64",
	"lseek", "fstat", "newfstatat", "statx", "fstatfs", "statfs",
	"getdents64", "mkdirat", "renameat", "renameat2", "unlinkat",
	"fsync", "fdatasync", "syncfs", "copy_file_range", "sendfile",
	"fcntl",
	/* the log (wal.c) */
	"pwrite64",
	/* time (when the vDSO falls back to the kernel), ids, random */
	"clock_gettime", "clock_getres", "gettimeofday", "time",
	"getpid", "gettid", "getrandom",
	/* libevent's getenv() checks issetugid() on every event_init() */
	"getuid", "geteuid", "getgid", "getegid",
	/* signals (libevent's handlers), exit */
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "restart_syscall",
	"exit", "exit_group",
	/* AddressSanitizer builds (make check-asan) call it before every
	 * noreturn call (exit, _exit) and die if it fails; harmless */
	"sigaltstack",
	/* malloc (mmap and mprotect: see the PROT_EXEC rules below) */
	"brk", "munmap", "mremap", "madvise",
};

/* An argument condition; SCMP_Ax() leaves datum_b to -Wextra's dismay. */
static struct scmp_arg_cmp
cond(unsigned arg, enum scmp_compare op, scmp_datum_t a, scmp_datum_t b)
{
	struct scmp_arg_cmp	c;

	memset(&c, 0, sizeof(c));
	c.arg = arg;
	c.op = op;
	c.datum_a = a;
	c.datum_b = b;
	return c;
}

static int
allow(scmp_filter_ctx ctx, const char *name, unsigned n,
    const struct scmp_arg_cmp *cmp)
{
	int	nr, r;

	/* a name this architecture does not have (poll on arm64): skip */
	if ((nr = seccomp_syscall_resolve_name(name)) == __NR_SCMP_ERROR ||
	    nr < 0)
		return 0;
	if ((r = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, n,
	    cmp)) < 0) {
		errno = -r;
		log_warn("warn: queue-fs-proc: sandbox: allowing %s", name);
		return -1;
	}
	return 0;
}

static int
load_filter(void)
{
	scmp_filter_ctx		ctx;
	struct scmp_arg_cmp	cmp[2];
	size_t			i;
	int			r = -1, e;

	/*
	 * libseccomp starts the filter with the architecture check: a call
	 * made with another ABI than the native one (int 0x80 or x32 on
	 * x86_64) gets SCMP_FLTATR_ACT_BADARCH, which defaults to
	 * KILL_THREAD; we make it KILL_PROCESS, since nothing of ours ever
	 * does that and a half-dead daemon would hang smtpd.
	 */
	if ((ctx = seccomp_init(DEFAULT_ACTION)) == NULL) {
		errno = ENOMEM;
		log_warn("warn: queue-fs-proc: sandbox: seccomp_init");
		return -1;
	}
	if ((e = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
	    SCMP_ACT_KILL_PROCESS)) < 0 ||
	    (e = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1)) < 0) {
		errno = -e;
		log_warn("warn: queue-fs-proc: sandbox: seccomp_attr_set");
		goto out;
	}
	/* log refusals where the kernel can; not fatal where it cannot */
	(void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_LOG, 1);

	for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if (allow(ctx, allowed[i], 0, NULL) == -1)
			goto out;

	/* memory, but never executable: no code loaded after start-up */
	cmp[0] = cond(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0);
	if (allow(ctx, "mmap", 1, cmp) == -1 ||
	    allow(ctx, "mprotect", 1, cmp) == -1)
		goto out;
	/*
	 * syslog(): glibc sends on the socket openlog(LOG_NDELAY) connected
	 * before the chroot, with no address.  socket() and connect() are
	 * not allowed: a reconnect would fail in the chroot anyway (there
	 * is no dev/log in the spool), and glibc copes with that.
	 */
	cmp[0] = cond(4, SCMP_CMP_EQ, 0, 0);
	if (allow(ctx, "sendto", 1, cmp) == -1)
		goto out;
	/* abort() signals itself and nobody else */
	cmp[0] = cond(0, SCMP_CMP_EQ, (scmp_datum_t)getpid(), 0);
	cmp[1] = cond(2, SCMP_CMP_EQ, SIGABRT, 0);
	if (allow(ctx, "tgkill", 2, cmp) == -1)
		goto out;

	if ((e = seccomp_load(ctx)) < 0) {
		errno = -e;
		log_warn("warn: queue-fs-proc: sandbox: seccomp_load");
		goto out;
	}
	r = 0;
out:
	seccomp_release(ctx);
	return r;
}

int
sandbox_bound(int disabled)
{
	int	cap;

	for (cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++) {
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0)
			continue;
		if (errno == EPERM) {
			/* no CAP_SETPCAP: NO_NEW_PRIVS still covers execve */
			log_debug("debug: queue-fs-proc: sandbox: cannot "
			    "change the capability bounding set");
			return 0;
		}
		log_warn("warn: queue-fs-proc: sandbox: bounding set, cap %d",
		    cap);
		return -1;
	}
	return 0;
}

static int
drop_capabilities(void)
{
	struct __user_cap_header_struct	hdr;
	struct __user_cap_data_struct	data[_LINUX_CAPABILITY_U32S_3];
	size_t				i;

	memset(&hdr, 0, sizeof(hdr));
	memset(data, 0, sizeof(data));
	hdr.version = _LINUX_CAPABILITY_VERSION_3;
	if (syscall(SYS_capset, &hdr, data) == -1)
		return -1;
	if (syscall(SYS_capget, &hdr, data) == -1)
		return -1;
	for (i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		if (data[i].effective || data[i].permitted ||
		    data[i].inheritable) {
			errno = EPERM;
			return -1;
		}
	/* ambient capabilities are cleared by capset() of inheritable */
	return 0;
}

int
sandbox_enter(int disabled)
{
	struct rlimit	zero = { 0, 0 };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		log_warn("warn: queue-fs-proc: sandbox: no_new_privs");
		return -1;
	}
	if (drop_capabilities() == -1) {
		log_warn("warn: queue-fs-proc: sandbox: dropping capabilities");
		return -1;
	}
	if (setrlimit(RLIMIT_NPROC, &zero) == -1 ||
	    setrlimit(RLIMIT_CORE, &zero) == -1) {
		log_warn("warn: queue-fs-proc: sandbox: setrlimit");
		return -1;
	}
	/* root still reads /proc/PID/status; the queue user cannot ptrace */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1) {
		log_warn("warn: queue-fs-proc: sandbox: not dumpable");
		return -1;
	}
	if (disabled) {
		log_info("info: queue-fs-proc: system call filter disabled "
		    "(-X): for debugging only");
		return 0;
	}
	if (load_filter() == -1)
		return -1;
	log_debug("debug: queue-fs-proc: sandbox entered");
	return 0;
}
