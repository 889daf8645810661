/*
 * Logging in smtpd's manner: warnings and information always, debug
 * only when verbose; to syslog (mail facility) or, in the foreground,
 * to stderr.
 */
#ifndef QFP_LOG_H
#define QFP_LOG_H

#include <stdarg.h>

void	log_init(const char *ident, int to_stderr, int verbose);
int	log_verbose(void);
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif
