/*
 * Results of the C test programs that are not cmocka ones (killtest,
 * hostile, test_stats, qfp-drive): "PASS: name" and "FAIL: name: why"
 * lines, as the test scripts print them and tests/run-suite.sh counts
 * them, then "# N passed, N failed".
 *
 * A result is either one outcome (qr_pass, qr_fail) or a group of many
 * checks (qr_check ... qr_result): PASS if at least one ran and none
 * failed.  stdout is line-buffered so that a result survives a crash.
 */
#ifndef QT_REPORT_H
#define QT_REPORT_H

void	qr_pass(const char *name);
void	qr_fail(const char *name, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* qr_pass(name) if ok, else qr_fail(name, why). */
int	qr_ok(int ok, const char *name, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* One check of a group: a failure is shown (the first few per group). */
void	qr_check(int ok, const char *group, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
void	qr_result(const char *group);
/* Checks and failed checks so far, over all groups. */
unsigned long	qr_checks(void);
unsigned long	qr_check_failures(void);
/* "# N passed, N failed"; exit code 0 if nothing failed, else 1. */
int	qr_summary(void);

#endif
