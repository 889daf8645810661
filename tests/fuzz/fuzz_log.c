/*
 * common/log.c for the fuzz harnesses: every message is formatted (so a
 * bad format or argument still shows under the sanitizers) and thrown
 * away.  fatal() never happens in a request path: abort() makes it a
 * finding.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static char	sink[1024];

void
log_init(const char *ident, int to_stderr, int verbose)
{
}

int
log_verbose(void)
{
	return 1;
}

#define STUB(name)							\
void									\
name(const char *fmt, ...)						\
{									\
	va_list	ap;							\
									\
	va_start(ap, fmt);						\
	vsnprintf(sink, sizeof(sink), fmt, ap);				\
	va_end(ap);							\
}

STUB(log_warn)
STUB(log_warnx)
STUB(log_info)
STUB(log_debug)

void
fatal(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	abort();
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	abort();
}
