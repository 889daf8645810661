/*
 * qfp-bench: latency samples, medians and the result table.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

const char *op_names[NOPS] = {
	"MESSAGE_CREATE", "ENVELOPE_CREATE (incoming)", "MESSAGE_COMMIT 4K",
	"MESSAGE_COMMIT 64K", "ENVELOPE_LOAD", "MESSAGE_FD_R",
	"ENVELOPE_UPDATE", "ENVELOPE_DELETE", "ENVELOPE_WALK",
};

void
sample_add(struct samples *s, double x)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 1024;
		if ((s->v = realloc(s->v, s->cap * sizeof(*s->v))) == NULL)
			die("out of memory");
	}
	s->v[s->n++] = x;
	s->sum += x;
}

static int
cmp_double(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile; sorts in place. */
double
pct(struct samples *s, double p)
{
	size_t	i;

	if (s->n == 0)
		return -1;
	qsort(s->v, s->n, sizeof(*s->v), cmp_double);
	i = (size_t)(p / 100.0 * (double)s->n + 0.999999);
	if (i == 0)
		i = 1;
	if (i > s->n)
		i = s->n;
	return s->v[i - 1];
}

double
median(double *v, int n)
{
	if (n == 0)
		return -1;
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void
row(const char *sec, const char *metric, const char *sock, const char *inproc,
    const char *ratio, const char *target, const char *met)
{
	printf("%-6s %-34s %15s %15s %10s  %-28s %s\n", sec, metric, sock,
	    inproc, ratio, target, met);
}

const char *
fmt(char *buf, size_t size, const char *f, ...)
{
	va_list	ap;

	va_start(ap, f);
	vsnprintf(buf, size, f, ap);
	va_end(ap);
	return buf;
}

static const char *
verdict(int ok)
{
	return ok ? "MET" : "MISSED";
}

void
print_mode(struct mode_result *m)
{
	struct backend	*bs = m->b[VIA_SOCKET], *bi = m->b[VIA_INPROC];
	char		 a[64], b[64], c[64], t[64];
	int		 big, o;

	for (big = 0; big < 2; big++) {
		double	rs = median(m->rate[VIA_SOCKET][big], m->npairs);
		double	ri = median(m->rate[VIA_INPROC][big], m->npairs);
		double	ra = median(m->ratio[big], m->npairs);

		row(m->mode, fmt(t, sizeof(t), "lifecycles/s, %s body",
		    big ? "64 KB" : "4 KB"), fmt(a, sizeof(a), "%.0f", rs),
		    fmt(b, sizeof(b), "%.0f", ri),
		    fmt(c, sizeof(c), "%.3fx", ra), "socket >= 0.90x in-proc",
		    verdict(ra >= 0.9));
	}
	for (big = 0; big < 2; big++) {
		double	sc[64], dc[64], dw[64], ic[64], rc[64];
		int	p;

		for (p = 0; p < m->npairs; p++) {
			struct cpu *cs = &m->cpu[VIA_SOCKET][big][p];

			sc[p] = cs->self_us + cs->daemon_us;
			dc[p] = cs->daemon_us;
			dw[p] = cs->dwait_us;
			ic[p] = m->cpu[VIA_INPROC][big][p].self_us;
			rc[p] = ic[p] / sc[p];
		}
		row(m->mode, fmt(t, sizeof(t), "CPU us/lifecycle, %s (all)",
		    big ? "64 KB" : "4 KB"),
		    fmt(a, sizeof(a), "%.0f", median(sc, m->npairs)),
		    fmt(b, sizeof(b), "%.0f", median(ic, m->npairs)),
		    fmt(c, sizeof(c), "%.3fx", median(rc, m->npairs)), "", "");
		row(m->mode, "  daemon CPU / daemon runq wait us",
		    fmt(a, sizeof(a), "%.0f / %.0f", median(dc, m->npairs),
		    median(dw, m->npairs)), "", "", "", "");
	}
	for (o = 0; o < NOPS; o++) {
		struct samples	*ls = &bs->lat[o], *li = &bi->lat[o];
		double		 os, oi;
		int		 targeted = o == OP_EVP_LOAD ||
				    o == OP_EVP_CREATE;

		if (ls->n == 0)
			continue;
		os = (double)ls->n / (ls->sum / 1e6);
		oi = (double)li->n / (li->sum / 1e6);
		row(m->mode, fmt(t, sizeof(t), "%s ops/s", op_names[o]),
		    fmt(a, sizeof(a), "%.0f", os),
		    fmt(b, sizeof(b), "%.0f", oi),
		    fmt(c, sizeof(c), "%.3fx", os / oi), "", "");
		row(m->mode, "  p50 / p99 us",
		    fmt(a, sizeof(a), "%.1f / %.1f", pct(ls, 50), pct(ls, 99)),
		    fmt(b, sizeof(b), "%.1f / %.1f", pct(li, 50), pct(li, 99)),
		    "", targeted ? "p99 <= 100 us (socket)" : "",
		    targeted ? verdict(pct(ls, 99) <= 100) : "");
	}
}

void
print_walk(struct walk_result *w)
{
	char		 a[64], b[64], c[64], t[64];
	double		 us = median(w->us_per_evp[VIA_SOCKET], w->rounds);
	double		 ui = median(w->us_per_evp[VIA_INPROC], w->rounds);
	double		 ra = median(w->ratio, w->rounds);
	static const char *marks[3] = { "10k", "100k", "1M" };
	static const long markn[3] = { 10000, 100000, 1000000 };
	int		 k;

	row("walk", fmt(t, sizeof(t), "%ld envelopes: spool build",
	    w->envelopes), fmt(a, sizeof(a), "%.1f s", w->build_s), "", "",
	    "", "");
	row("walk", fmt(t, sizeof(t), "us per envelope%s",
	    opt.cold ? " (cold cache)" : " (warm cache)"),
	    fmt(a, sizeof(a), "%.2f", us), fmt(b, sizeof(b), "%.2f", ui),
	    fmt(c, sizeof(c), "%.3fx", ra), "<= 20 us/envelope (socket)",
	    verdict(us <= 20));
	row("walk", "envelopes/s", fmt(a, sizeof(a), "%.0f", 1e6 / us),
	    fmt(b, sizeof(b), "%.0f", 1e6 / ui), "", "", "");
	row("walk", "ENVELOPE_WALK p50 / p99 us",
	    fmt(a, sizeof(a), "%.1f / %.1f", pct(&w->lat[0], 50),
	    pct(&w->lat[0], 99)),
	    fmt(b, sizeof(b), "%.1f / %.1f", pct(&w->lat[1], 50),
	    pct(&w->lat[1], 99)), "", "p99 <= 100 us (socket)",
	    verdict(pct(&w->lat[0], 99) <= 100));
	row("walk", "daemon VmRSS before walk",
	    fmt(a, sizeof(a), "%.2f MiB", w->rss_start / 1024.0), "", "", "",
	    "");
	for (k = 0; k < 3; k++) {
		if (w->envelopes < markn[k])
			continue;
		row("walk", fmt(t, sizeof(t), "daemon VmRSS at %s envelopes",
		    marks[k]), fmt(a, sizeof(a), "%.2f MiB",
		    w->rss_at[k] / 1024.0), "", "",
		    k == 2 ? "<= 8 MiB walking 1M" : "",
		    k == 2 ? verdict(w->rss_at[k] <= 8192) : "");
	}
	row("walk", "daemon VmRSS peak while walking",
	    fmt(a, sizeof(a), "%.2f MiB", w->rss_peak / 1024.0), "", "",
	    w->envelopes >= 1000000 ? "<= 8 MiB walking 1M" :
	    "(8 MiB @1M: run --big)",
	    w->envelopes >= 1000000 ? verdict(w->rss_peak <= 8192) :
	    (w->rss_peak <= 8192 ? "(ok so far)" : "(over)"));
	row("walk", "daemon VmRSS after walk / VmHWM",
	    fmt(a, sizeof(a), "%.2f/%.2f MiB", w->rss_after / 1024.0,
	    w->hwm / 1024.0), "", "", "", "");
}

/* One IPC measurement: latency percentiles, then CPU per round trip. */
static void
ping_rows(const char *what, const char *where, struct samples *lat,
    const char *cpu_what, double cpu_us)
{
	char	a[64], t[64];

	row("ipc", fmt(t, sizeof(t), "%s, %s", what, where),
	    fmt(a, sizeof(a), "%.1f / %.1f", pct(lat, 50), pct(lat, 99)), "",
	    "", "p50 / p99 us", "");
	row("ipc", cpu_what, fmt(a, sizeof(a), "%.1f", cpu_us), "", "", "",
	    "");
}

void
print_pings(struct ping_result *pr)
{
	int	pinned;

	for (pinned = 0; pinned < 2; pinned++) {
		const char *where = pinned ? "one CPU" : "any CPU";

		ping_rows("raw socketpair echo", where, &pr->echo[pinned],
		    "  echo process CPU us per echo", pr->echo_cpu_us[pinned]);
		ping_rows("daemon INIT (no-op)", where, &pr->init[pinned],
		    "  daemon CPU us per INIT", pr->daemon_cpu_us[pinned]);
	}
}
