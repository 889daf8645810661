/*
 * PASS/FAIL lines of the non-cmocka C test programs (see qt_report.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "qt_report.h"

#define QR_GROUPS	64
#define QR_SHOW		8	/* failures shown per group */

static struct qr_group {
	const char	*name;
	unsigned long	 checks, fails;
} qr_groups[QR_GROUPS];
static unsigned long	qr_npass, qr_nfail, qr_nchecks, qr_nchecks_failed;

static void
qr_line_buffered(void)
{
	static int	done;

	if (!done)
		setvbuf(stdout, NULL, _IOLBF, 0);
	done = 1;
}

void
qr_pass(const char *name)
{
	qr_line_buffered();
	printf("PASS: %s\n", name);
	qr_npass++;
}

static void
qr_vfail(const char *name, const char *fmt, va_list ap)
{
	qr_line_buffered();
	printf("FAIL: %s: ", name);
	vprintf(fmt, ap);
	printf("\n");
	qr_nfail++;
}

void
qr_fail(const char *name, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	qr_vfail(name, fmt, ap);
	va_end(ap);
}

int
qr_ok(int ok, const char *name, const char *fmt, ...)
{
	va_list	ap;

	if (ok) {
		qr_pass(name);
		return 1;
	}
	va_start(ap, fmt);
	qr_vfail(name, fmt, ap);
	va_end(ap);
	return 0;
}

static struct qr_group *
qr_group(const char *name)
{
	int	i;

	for (i = 0; i < QR_GROUPS && qr_groups[i].name != NULL; i++)
		if (strcmp(qr_groups[i].name, name) == 0)
			return &qr_groups[i];
	if (i == QR_GROUPS)
		return &qr_groups[QR_GROUPS - 1];
	qr_groups[i].name = name;
	return &qr_groups[i];
}

void
qr_check(int ok, const char *group, const char *fmt, ...)
{
	struct qr_group	*g = qr_group(group);
	va_list		 ap;

	qr_nchecks++;
	g->checks++;
	if (ok)
		return;
	qr_nchecks_failed++;
	qr_line_buffered();
	if (g->fails++ < QR_SHOW) {
		printf("  %s: ", group);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
	} else if (g->fails == QR_SHOW + 1)
		printf("  %s: (further failures not shown)\n", group);
}

void
qr_result(const char *group)
{
	struct qr_group	*g = qr_group(group);

	if (g->fails == 0 && g->checks > 0) {
		qr_line_buffered();
		printf("PASS: %s (%lu checks)\n", group, g->checks);
		qr_npass++;
	} else if (g->fails == 0)
		qr_fail(group, "no check ran");
	else
		qr_fail(group, "%lu of %lu checks failed", g->fails,
		    g->checks);
}

unsigned long
qr_checks(void)
{
	return qr_nchecks;
}

unsigned long
qr_check_failures(void)
{
	return qr_nchecks_failed;
}

int
qr_summary(void)
{
	qr_line_buffered();
	printf("# %lu passed, %lu failed\n", qr_npass, qr_nfail);
	return qr_nfail > 0 || qr_nchecks_failed > 0 ? 1 : 0;
}
