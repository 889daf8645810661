/*
 * Logging: syslog when started by smtpd, stderr in the foreground.
 * The syslog socket is opened at log_init() time, before the chroot,
 * so that logging keeps working inside the spool.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "log.h"

static int	 log_stderr;
static int	 log_level;
static const char *log_ident = "queue-fs-proc";

void
log_init(const char *ident, int to_stderr, int verbose)
{
	log_ident = ident;
	log_stderr = to_stderr;
	log_level = verbose;
	if (!log_stderr)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
	tzset();
}

int
log_verbose(void)
{
	return log_level;
}

static void
vlog(int pri, const char *fmt, va_list ap, const char *errstr)
{
	char	msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_stderr) {
		if (errstr)
			fprintf(stderr, "%s: %s\n", msg, errstr);
		else
			fprintf(stderr, "%s\n", msg);
		fflush(stderr);
	} else if (errstr)
		syslog(pri, "%s: %s", msg, errstr);
	else
		syslog(pri, "%s", msg);
}

#define LOG_FN(name, pri, with_errno, cond)				\
void									\
name(const char *fmt, ...)						\
{									\
	const char *errstr = with_errno ? strerror(errno) : NULL;	\
	va_list	ap;							\
									\
	if (!(cond))							\
		return;							\
	va_start(ap, fmt);						\
	vlog(pri, fmt, ap, errstr);					\
	va_end(ap);							\
}

LOG_FN(log_warn, LOG_WARNING, 1, 1)
LOG_FN(log_warnx, LOG_WARNING, 0, 1)
LOG_FN(log_info, LOG_INFO, 0, 1)
LOG_FN(log_debug, LOG_DEBUG, 0, log_level > 0)

void
fatal(const char *fmt, ...)
{
	const char *errstr = strerror(errno);
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap, errstr);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap, NULL);
	va_end(ap);
	exit(1);
}
