/*
 * The sandbox on its own: sandbox.c linked into this program, which
 * forks a child that does what the daemon does at start-up (empty the
 * bounding set as root, drop to the queue user with spool_drop(), then
 * sandbox_enter(0)) and then tries what the daemon never does: socket,
 * execve, fork, ptrace, kill, setuid, chroot, executable memory, the
 * 32-bit system call ABI.  The daemon itself cannot be made to try
 * those; test_sandbox checks that it runs under the same filter.
 */
#include <sys/types.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "hlib.h"
#include "log.h"
#include "sandbox.h"
#include "spool.h"

#define USER	"qfptest"

/* What the child saw: errno of each attempt, 0 if it succeeded. */
struct seen {
	int	enter;		/* sandbox_enter()'s return */
	int	e_socket, e_socket_unix, e_execve, e_fork, e_ptrace, e_kill,
		e_setuid, e_chroot, e_mmap_exec, e_mprotect_exec, e_connect;
	/* what must still work */
	int	ok_getpid, ok_open, ok_write, ok_getrandom, ok_mmap;
};

static int
err_of(long r)
{
	return r == -1 ? errno : 0;
}

static int
setup(void **state)
{
	if (geteuid() != 0) {
		fprintf(stderr, "test_filter: must run as root\n");
		return -1;
	}
	if (system("id " USER " >/dev/null 2>&1 || "
	    "useradd -r -M -s /usr/sbin/nologin " USER) != 0)
		return -1;
	log_init("test_filter", 1, 0);
	return 0;
}

/* In the child: become what the daemon is when it serves requests. */
static int
become_daemon(int disabled)
{
	struct spool_user	u;

	if (spool_user(USER, &u) == -1 || sandbox_bound(disabled) == -1 ||
	    spool_drop(&u) == -1)
		_exit(90);
	return sandbox_enter(disabled);
}

static void
try_everything(struct seen *s, int disabled)
{
	char		*argv[] = { "/bin/true", NULL };
	char		 buf[16];
	struct sockaddr	 sa;
	pid_t		 pid;
	void		*p;
	long		 r;
	int		 fd, pfd[2];

	memset(&sa, 0, sizeof(sa));
	s->e_socket = err_of(socket(AF_INET, SOCK_STREAM, 0));
	s->e_socket_unix = err_of(socket(AF_UNIX, SOCK_DGRAM, 0));
	s->e_connect = err_of(connect(0, &sa, sizeof(sa)));
	/* without the filter, these would work: not tried then */
	if (!disabled)
		s->e_execve = err_of(execve(argv[0], argv, NULL));
	pid = fork();
	if (pid == 0)
		_exit(0);
	s->e_fork = err_of(pid);
	if (!disabled)
		s->e_ptrace = err_of(ptrace(PTRACE_TRACEME, 0, NULL,
		    NULL));
	s->e_kill = err_of(kill(getppid(), 0));
	s->e_setuid = err_of(setuid(0));
	s->e_chroot = err_of(chroot("/"));
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	s->e_mmap_exec = p == MAP_FAILED ? errno : 0;
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE |
	    MAP_ANONYMOUS, -1, 0);
	s->ok_mmap = p != MAP_FAILED;
	s->e_mprotect_exec = p == MAP_FAILED ? -1 :
	    err_of(mprotect(p, 4096, PROT_READ | PROT_EXEC));
	s->ok_getpid = getpid() > 0;
	fd = open("/tmp", O_RDONLY | O_DIRECTORY);
	s->ok_open = fd != -1;
	if (fd != -1)
		close(fd);
	s->ok_write = pipe2(pfd, O_CLOEXEC) == 0 && write(pfd[1], "x", 1) == 1;
	r = getrandom(buf, sizeof(buf), 0);
	s->ok_getrandom = r == (long)sizeof(buf);
}

/*
 * Fork the child: it enters the sandbox, tries everything, reports
 * through a pipe, then waits for a byte so the parent can read its
 * /proc/PID/status while it is still sandboxed.
 */
static pid_t
sandboxed_child(int disabled, struct seen *s, int *release)
{
	int	rep[2], go[2];
	pid_t	pid;
	char	c;

	assert_int_equal(pipe(rep), 0);
	assert_int_equal(pipe(go), 0);
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		close(rep[0]);
		close(go[1]);
		memset(s, 0, sizeof(*s));
		s->enter = become_daemon(disabled);
		try_everything(s, disabled);
		if (write(rep[1], s, sizeof(*s)) != (ssize_t)sizeof(*s))
			_exit(91);
		if (read(go[0], &c, 1) != 1)
			_exit(92);
		_exit(0);
	}
	close(rep[1]);
	close(go[0]);
	assert_int_equal(read(rep[0], s, sizeof(*s)), (ssize_t)sizeof(*s));
	close(rep[0]);
	*release = go[1];
	return pid;
}

static const char *
status_field(pid_t pid, const char *field)
{
	static char	value[128];
	char		path[64], line[256];
	size_t		len = strlen(field);
	FILE		*f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return "";
	value[0] = '\0';
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, field, len) == 0 && line[len] == ':') {
			snprintf(value, sizeof(value), "%s",
			    line + len + 1 + strspn(line + len + 1, " \t"));
			value[strcspn(value, "\n")] = '\0';
		}
	fclose(f);
	return value;
}

static int
reap(pid_t pid, int release)
{
	int	st;

	if (release != -1) {
		(void)!write(release, "g", 1);
		close(release);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

static void
test_forbidden_calls_refused(void **state)
{
	struct seen	s;
	int		release, st;
	pid_t		pid;

	pid = sandboxed_child(0, &s, &release);
	assert_int_equal(s.enter, 0);
	/* the default action: EPERM, the process lives on */
	assert_int_equal(s.e_socket, EPERM);
	assert_int_equal(s.e_socket_unix, EPERM);
	assert_int_equal(s.e_connect, EPERM);
	assert_int_equal(s.e_execve, EPERM);
	assert_int_equal(s.e_fork, EPERM);
	assert_int_equal(s.e_ptrace, EPERM);
	assert_int_equal(s.e_kill, EPERM);
	assert_int_equal(s.e_setuid, EPERM);
	assert_int_equal(s.e_chroot, EPERM);
	assert_int_equal(s.e_mmap_exec, EPERM);
	assert_int_equal(s.e_mprotect_exec, EPERM);
	/* what the daemon needs still works */
	assert_true(s.ok_getpid);
	assert_true(s.ok_open);
	assert_true(s.ok_write);
	assert_true(s.ok_getrandom);
	assert_true(s.ok_mmap);
	/* and the kernel says so */
	assert_string_equal(status_field(pid, "Seccomp"), "2");
	assert_string_equal(status_field(pid, "NoNewPrivs"), "1");
	assert_string_equal(status_field(pid, "CapEff"), "0000000000000000");
	assert_string_equal(status_field(pid, "CapPrm"), "0000000000000000");
	assert_string_equal(status_field(pid, "CapInh"), "0000000000000000");
	assert_string_equal(status_field(pid, "CapAmb"), "0000000000000000");
	assert_string_equal(status_field(pid, "CapBnd"), "0000000000000000");
	st = reap(pid, release);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* -X: no filter, the rest of the sandbox all the same. */
static void
test_disabled_no_filter(void **state)
{
	struct seen	s;
	int		release, st;
	pid_t		pid;

	pid = sandboxed_child(1, &s, &release);
	assert_int_equal(s.enter, 0);
	assert_int_equal(s.e_socket, 0);
	assert_int_equal(s.e_mmap_exec, 0);
	assert_int_equal(s.e_fork, EAGAIN);	/* RLIMIT_NPROC 0 */
	assert_string_equal(status_field(pid, "Seccomp"), "0");
	assert_string_equal(status_field(pid, "NoNewPrivs"), "1");
	assert_string_equal(status_field(pid, "CapEff"), "0000000000000000");
	assert_string_equal(status_field(pid, "CapBnd"), "0000000000000000");
	st = reap(pid, release);
	assert_true(WIFEXITED(st));
}

/*
 * The architecture check libseccomp puts first: a call through the
 * 32-bit ABI (int 0x80) or the x32 one is not matched against the
 * x86_64 list at all; it kills the process (SCMP_FLTATR_ACT_BADARCH).
 */
static void
test_foreign_abi_killed(void **state)
{
#if defined(__x86_64__)
	pid_t	pid;
	int	st;

	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		long	ret;

		if (become_daemon(0) != 0)
			_exit(93);
		/* i386 getpid (20): allowed on x86_64, but not this ABI */
		__asm__ volatile ("int $0x80" : "=a"(ret) : "a"(20L) :
		    "memory");
		_exit(ret > 0 ? 94 : 95);
	}
	st = reap(pid, -1);
	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV)
		skip();		/* kernel without IA-32 emulation */
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSYS);

	/* x32: same audit arch as x86_64, told apart by the number */
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		if (become_daemon(0) != 0)
			_exit(93);
		(void)syscall(0x40000000L | SYS_getpid);
		_exit(94);
	}
	st = reap(pid, -1);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSYS);
#else
	skip();
#endif
}

/* Not dumpable, no core, no children: /proc/PID/limits says so. */
static void
test_limits(void **state)
{
	struct seen	s;
	char		path[64];
	int		release, nproc = 0, core = 0;
	struct stat	sb;
	pid_t		pid;

	pid = sandboxed_child(0, &s, &release);
	assert_int_equal(hd_limits_zero(pid, &nproc, &core), 0);
	assert_true(nproc);
	assert_true(core);
	/* not dumpable: its /proc files belong to root, not the user */
	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_uid, 0);
	reap(pid, release);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forbidden_calls_refused),
		cmocka_unit_test(test_disabled_no_filter),
		cmocka_unit_test(test_foreign_abi_killed),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
