/*
 * queue-fs-proc: smtpd's fs queue as a proc-queue helper.
 *
 * smtpd starts it as root with argv[0] "queue-proc", at most one
 * argument that holds all options, and the request socket on fd 0.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "check.h"
#include "dispatch.h"
#include "layout.h"
#include "log.h"
#include "recover.h"
#include "sandbox.h"
#include "spool.h"

#define SMTPD_ARGV0	"queue-proc"
#define MAX_ARGS	32

struct options {
	int		 foreground;
	int		 verbose;
	int		 check;
	int		 repair;
	int		 no_sandbox;
	const char	*spool;
	const char	*user;
	enum framing_mode framing;
	enum store_sync	 sync;
	int		 reserve;
	off_t		 log_size;
};

static struct daemon	 daemon_state;
static struct event_base *evbase;

static void __attribute__((noreturn))
usage_error(const char *fmt, const char *arg)
{
	char	msg[256];

	snprintf(msg, sizeof(msg), fmt, arg ? arg : "");
	fprintf(stderr, "queue-fs-proc: %s\n"
	    "usage: queue-fs-proc [-dnRvX] [-F auto|A|B] [-L size] "
	    "[-r percent] [-S full|none] [-s spool] [-u user]\n", msg);
	openlog("queue-fs-proc", LOG_PID, LOG_MAIL);
	syslog(LOG_ERR, "%s", msg);
	exit(1);
}

/* -L: a number of bytes with an optional k or m, 64k to 1024m. */
static off_t
parse_size(const char *arg)
{
	char		 num[32];
	const char	*errstr;
	long long	 v, unit = 1;
	size_t		 len = strlen(arg);

	if (len == 0 || len >= sizeof(num))
		return -1;
	memcpy(num, arg, len + 1);
	if (num[len - 1] == 'k' || num[len - 1] == 'K')
		unit = 1024;
	else if (num[len - 1] == 'm' || num[len - 1] == 'M')
		unit = 1024 * 1024;
	if (unit != 1)
		num[len - 1] = '\0';
	v = strtonum(num, 1, 1LL << 30, &errstr);
	if (errstr != NULL || v * unit < 64 * 1024 || v * unit > 1LL << 30)
		return -1;
	return (off_t)(v * unit);
}

/* smtpd passes all options as one string: split it on white space. */
static int
split_args(char *s, char **argv, int max)
{
	int	argc = 1;
	char	*tok;

	while ((tok = strsep(&s, " \t")) != NULL) {
		if (*tok == '\0')
			continue;
		if (argc == max - 1)
			usage_error("too many options", NULL);
		argv[argc++] = tok;
	}
	argv[argc] = NULL;
	return argc;
}

static void
parse_options(int argc, char **argv, struct options *o)
{
	const char	*errstr;
	int		 ch;

	memset(o, 0, sizeof(*o));
	o->spool = SPOOL_DEFAULT;
	o->reserve = 5;
	o->log_size = WAL_FILE_SIZE;
	while ((ch = getopt(argc, argv, "dF:L:nr:RS:s:u:vX")) != -1) {
		switch (ch) {
		case 'd':
			o->foreground = 1;
			break;
		case 'F':
			if (framing_parse_mode(optarg, &o->framing) == -1)
				usage_error("bad framing: %s (auto, A or B)",
				    optarg);
			break;
		case 'L':
			if ((o->log_size = parse_size(optarg)) == -1)
				usage_error("bad log size: %s (64k to 1024m)",
				    optarg);
			break;
		case 'n':
			o->check = 1;
			break;
		case 'r':
			o->reserve = (int)strtonum(optarg, 0, 99, &errstr);
			if (errstr)
				usage_error("bad reserve percentage: %s",
				    optarg);
			break;
		case 'R':
			o->repair = 1;
			break;
		case 'S':
			if (strcmp(optarg, "full") == 0)
				o->sync = STORE_SYNC_FULL;
			else if (strcmp(optarg, "none") == 0)
				o->sync = STORE_SYNC_NONE;
			else
				usage_error("bad sync mode: %s (full or none)",
				    optarg);
			break;
		case 's':
			o->spool = optarg;
			break;
		case 'u':
			o->user = optarg;
			break;
		case 'v':
			o->verbose++;
			break;
		case 'X':
			o->no_sandbox = 1;
			break;
		default:
			usage_error("unknown option", NULL);
		}
	}
	if (optind != argc)
		usage_error("unexpected argument: %s", argv[optind]);
}

/* Records appended without a sync: synced within WAL_FLUSH_MS. */
static struct event	ev_flush;

static void
on_flush(int fd, short ev, void *arg)
{
	store_flush(&daemon_state.store);
}

static void
arm_flush(void)
{
	struct timeval	tv = { 0, WAL_FLUSH_MS * 1000 };

	if (store_unsynced(&daemon_state.store) &&
	    !evtimer_pending(&ev_flush, NULL))
		evtimer_add(&ev_flush, &tv);
}

static void
on_input(int fd, short ev, void *arg)
{
	switch (daemon_input(&daemon_state)) {
	case INPUT_MORE:
		arm_flush();
		return;
	case INPUT_EOF:
		log_debug("debug: queue-fs-proc: peer closed, exiting");
		event_base_loopexit(evbase, NULL);
		return;
	case INPUT_BROKEN:
		stats_log(&daemon_state.stats, "exit");
		exit(1);
	}
}

static void
on_signal(int sig, short ev, void *arg)
{
	if (sig == SIGUSR1) {
		stats_log(&daemon_state.stats, "SIGUSR1");
		return;
	}
	log_info("info: queue-fs-proc: signal %d, exiting", sig);
	event_base_loopexit(evbase, NULL);
}

/*
 * Everything done as root: check the spool, take its lock, chroot into
 * it, open the store's directories (the spool itself is root's, mode
 * 0711, so the queue user could not open them from there), drop
 * privileges; then, as the queue user, the start (recover.c).
 */
static int	sandbox_off;	/* -X, for the checkpointer's sandbox */

static int
enter_checkpointer_sandbox(void)
{
	return sandbox_enter(sandbox_off);
}

/* Held until exit, by the checkpointer too: see recover_lock(). */
static int	spool_lock = -1;

static int
lock_spool(int fd, const char *spool, const struct spool_user *u,
    int privileged)
{
	pid_t	holder;

	if ((spool_lock = recover_lock(fd, RECOVER_OWN, RECOVER_LOCK_WAIT,
	    &holder)) >= 0) {
		/* the queue user's, like the spool: its -n can look */
		if (privileged && fchown(spool_lock, u->uid, u->gid) == -1)
			log_warn("warn: queue-fs-proc: chown %s/%s",
			    LAYOUT_WAL, RECOVER_LOCK);
		return 0;
	}
	if (spool_lock == -2)
		log_warnx("warn: queue-fs-proc: spool %s is in use by "
		    "queue-fs-proc pid %d (waited %d s)", spool, (int)holder,
		    RECOVER_LOCK_WAIT);
	else
		log_warn("warn: queue-fs-proc: spool %s: lock %s/%s", spool,
		    LAYOUT_WAL, RECOVER_LOCK);
	return -1;
}

static int
enter_spool(const struct options *o, struct store *store)
{
	struct spool_user	u;
	int			privileged = geteuid() == 0, fd, r, journaled;

	if (privileged && spool_user(o->user, &u) == -1)
		return -1;
	if (!privileged)
		log_info("info: queue-fs-proc: not started as root: "
		    "no chroot, no privilege drop");
	if ((fd = spool_prepare(o->spool, &u, privileged)) == -1)
		return -1;
	if (lock_spool(fd, o->spool, &u, privileged) == -1) {
		close(fd);
		return -1;
	}
	journaled = spool_journaled(fd);
	if (privileged && spool_chroot(fd, o->spool) == -1) {
		close(fd);
		return -1;
	}
	r = store_open(store, fd, o->sync, o->reserve);
	close(fd);
	if (r == -1 || (privileged && (sandbox_bound(o->no_sandbox) == -1 ||
	    spool_drop(&u) == -1)))
		return -1;
	sandbox_off = o->no_sandbox;
	if (recover_start(store, o->log_size, journaled, o->spool,
	    enter_checkpointer_sandbox) == -1)
		return -1;
	if (sandbox_enter(o->no_sandbox) == -1)
		fatalx("fatal: queue-fs-proc: cannot enter the sandbox, "
		    "exiting");
	return 0;
}

static int
serve(void)
{
	struct event	ev_in, ev_usr1, ev_term, ev_int;
	struct stat	sb;

	signal(SIGPIPE, SIG_IGN);
	/* smtpd hands over one end of a socketpair; anything else is wrong */
	if (fstat(0, &sb) == -1 || !S_ISSOCK(sb.st_mode)) {
		log_warnx("warn: queue-fs-proc: fd 0 is not a socket: not "
		    "started by smtpd? (see -n to check a spool)");
		return 1;
	}
	if (fcntl(0, F_SETFL, O_NONBLOCK) == -1) {
		log_warn("warn: queue-fs-proc: fd 0");
		return 1;
	}
	if ((evbase = event_init()) == NULL)
		fatalx("queue-fs-proc: event_init");
	event_set(&ev_in, 0, EV_READ | EV_PERSIST, on_input, NULL);
	evtimer_set(&ev_flush, on_flush, NULL);
	signal_set(&ev_usr1, SIGUSR1, on_signal, NULL);
	signal_set(&ev_term, SIGTERM, on_signal, NULL);
	signal_set(&ev_int, SIGINT, on_signal, NULL);
	if (event_add(&ev_in, NULL) == -1 || signal_add(&ev_usr1, NULL) == -1 ||
	    signal_add(&ev_term, NULL) == -1 || signal_add(&ev_int, NULL) == -1) {
		log_warnx("warn: queue-fs-proc: cannot set up the event loop");
		return 1;
	}
	event_dispatch();
	store_close(&daemon_state.store);
	stats_log(&daemon_state.stats, "exit");
	return 0;
}

int
main(int argc, char **argv)
{
	struct daemon	*d = &daemon_state;
	struct options	 o;
	char		*args[MAX_ARGS];

	/*
	 * Before anything reads argv: it copies the arguments and the
	 * environment away, so that the log checkpointer (wal.c) can
	 * write its own title over them for ps(1).
	 */
	setproctitle_init(argc, argv, environ);
	/* smtpd's form: argv[0] "queue-proc", all options in argv[1] */
	if (argc == 2 && strcmp(argv[0], SMTPD_ARGV0) == 0) {
		args[0] = argv[0];
		argc = split_args(argv[1], args, MAX_ARGS);
		argv = args;
	}
	parse_options(argc, argv, &o);
	log_init("queue-fs-proc", o.foreground, o.verbose);
	if (o.check)
		return spool_check(o.spool, o.user, o.repair);
	if (o.repair)
		return recover_command(o.spool, o.user);

	framing_init(&d->framing, o.framing, getppid());
	if (enter_spool(&o, &d->store) == -1)
		fatalx("fatal: queue-fs-proc: cannot use spool %s, exiting",
		    o.spool);
	imsgbuf_init(&d->ib, 0, framing_dialect(&d->framing));
	log_debug("debug: queue-fs-proc: serving %s (sync %s%s, reserve %d%%)",
	    o.spool, o.sync == STORE_SYNC_FULL ? "full" : "none",
	    d->store.logged ? " through the log" : "", o.reserve);
	return serve();
}
