/*
 * Kill test: message lifecycles driven through the proc-queue client
 * while the daemon is SIGKILLed, then restarted and compared with what
 * the test knows was acknowledged (r = 1 received).
 *
 * Three phases, one model:
 *
 *  killpoints  a fixed scenario run under strace with
 *              -e inject=SYSCALL:signal=KILL:when=K, for each
 *              file-system-changing syscall (and the answer's sendmsg)
 *              and every K until the scenario runs through: the daemon
 *              dies right before each such call, deterministically.
 *  lostmove    a body kept in place whose move into queue/ is undone
 *              while the daemon is dead, as a power failure can: the
 *              replay must queue it again (run_lostmove()).
 *  random      >= 1000 lifecycles (create, 1-3 envelopes, commit,
 *              sometimes an envelope on the committed message, updates,
 *              load, fd_r, deletes; sometimes a rollback), 16 at a time
 *              interleaved; a killer thread SIGKILLs the daemon a random
 *              number of microseconds into some requests (scaled to that
 *              request type's measured latency), some kills land between
 *              requests, some during the daemon's start.
 *
 * After each kill, on restart: incoming/ is empty (moved to purge/); the
 * walk serves every acknowledged envelope byte for byte, nothing
 * unacknowledged (an interrupted ENVELOPE_CREATE on a committed message
 * may or may not be there; an interrupted UPDATE shows the old or the
 * new bytes; an interrupted DELETE may or may not have happened; an
 * interrupted COMMIT shows all of the message or none of it), each
 * message's envelopes one after another; ENVELOPE_LOAD and the file on
 * disk agree; MESSAGE_FD_R returns the message byte for byte; deleted
 * and rolled-back messages stay gone; queue/ holds no directory the
 * model does not know; corrupt/ stays empty (a kill is not corruption).
 *
 * SIGKILL keeps the page cache: this checks crash consistency of the
 * logic.  test-ordering.sh checks the fsyncs themselves.
 *
 * Environment: KILLTEST_LIFECYCLES (1000), KILLTEST_SEED, KILLTEST_PHASES
 * ("killpoints,lostmove,random"), KILLTEST_KILLPOINT=CALL:K (only that kill
 * point), QFP_KEEP=1 keeps the spool.
 */
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dur.h"

#define POOL		16
#define MAXEV		8
#define EVP_BUF		(PQ_EVP_MAX + 64)

enum { E_LIVE, E_UPD, E_DEL };
enum { M_NEW, M_INCOMING, M_COMMITTING, M_QUEUED };

struct evp {
	uint64_t	 id;
	char		*data;
	size_t		 len;
	char		*alt;		/* E_UPD: the new bytes */
	size_t		 altlen;
	int		 st;
};

struct msg {
	int		 st;
	uint32_t	 id;
	char		*body;
	size_t		 blen;
	struct evp	 ev[MAXEV];
	int		 nev;
	char		*pc;		/* unanswered create on a queued msg */
	size_t		 pclen;
	int		 phase;
	int		 want;		/* envelopes while incoming */
	int		 extra;		/* envelope creates once queued */
	int		 nupd;		/* updates to do */
	int		 rollback;	/* MESSAGE_DELETE while incoming */
	size_t		 size;		/* of the body; 0: body_len() */
};

static struct qt_daemon	 D;
static struct msg	*pool[POOL];
static int		 killpoints;	/* phase: deaths come from strace */
static int		 expect_kill = 1; /* the daemon must have died of it */

/* ids that must never show up again */
static uint32_t		*gone;
static size_t		 ngone, gonesz;

static struct {
	unsigned long	 lifecycles, aborted, rollbacks, requests;
	unsigned long	 kills_during, kills_after, kills_between;
	unsigned long	 kills_start, restarts, unexpected_deaths;
	unsigned long	 commit_kept, commit_lost, upd_new, upd_old;
	unsigned long	 del_done, del_undone, pc_there, pc_absent;
	unsigned long	 killpoint_runs;
} st;

/* ---- the killer thread ------------------------------------------------ */

static pthread_mutex_t	 km = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 kc;
static pid_t		 k_pid;
static struct timespec	 k_when;
static int		 k_armed, k_fired;
static unsigned long	 k_gen;

static void *
killer(void *arg)
{
	unsigned long	gen;
	int		r;

	prctl(PR_SET_TIMERSLACK, 1UL);
	pthread_mutex_lock(&km);
	for (;;) {
		while (!k_armed)
			pthread_cond_wait(&kc, &km);
		gen = k_gen;
		r = 0;
		while (k_armed && k_gen == gen && r != ETIMEDOUT)
			r = pthread_cond_timedwait(&kc, &km, &k_when);
		if (k_armed && k_gen == gen) {
			kill(k_pid, SIGKILL);
			k_fired = 1;
			k_armed = 0;
		}
	}
	return NULL;
}

static void
arm(pid_t pid, uint64_t delay_us)
{
	struct timespec	now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&km);
	k_pid = pid;
	k_when.tv_sec = now.tv_sec + (time_t)(delay_us / 1000000);
	k_when.tv_nsec = now.tv_nsec + (long)(delay_us % 1000000) * 1000;
	if (k_when.tv_nsec >= 1000000000) {
		k_when.tv_sec++;
		k_when.tv_nsec -= 1000000000;
	}
	k_fired = 0;
	k_armed = 1;
	k_gen++;
	pthread_cond_broadcast(&kc);
	pthread_mutex_unlock(&km);
}

/* Returns whether the kill was sent; after this it never will be. */
static int
disarm(void)
{
	int	fired;

	pthread_mutex_lock(&km);
	k_armed = 0;
	k_gen++;
	fired = k_fired;
	k_fired = 0;
	pthread_cond_broadcast(&kc);
	pthread_mutex_unlock(&km);
	return fired;
}

/* ---- model helpers ---------------------------------------------------- */

static void
gone_add(uint32_t id)
{
	if (ngone == gonesz) {
		gonesz = gonesz ? gonesz * 2 : 1024;
		gone = realloc(gone, gonesz * sizeof(*gone));
		if (gone == NULL)
			abort();
	}
	gone[ngone++] = id;
}

static char *
mkbytes(size_t len)
{
	char	*p = malloc(len ? len : 1);

	if (p == NULL)
		abort();
	rnd_fill(p, len);
	return p;
}

static size_t
evp_len(void)
{
	uint64_t	r = rnd_below(100);

	if (r < 2)
		return PQ_EVP_MAX;
	if (r < 10)
		return 1 + rnd_below(8);
	return 64 + rnd_below(2000);
}

static size_t
body_len(void)
{
	uint64_t	r = rnd_below(100);

	if (r < 5)
		return 256 * 1024 + rnd_below(1536 * 1024);
	if (r < 30)
		return 8192 + rnd_below(250 * 1024);
	return 1 + rnd_below(8192);
}

static void
evp_free(struct evp *e)
{
	free(e->data);
	free(e->alt);
	memset(e, 0, sizeof(*e));
}

static void
evp_remove(struct msg *m, int i)
{
	evp_free(&m->ev[i]);
	m->ev[i] = m->ev[m->nev - 1];
	memset(&m->ev[m->nev - 1], 0, sizeof(m->ev[0]));
	m->nev--;
}

static struct msg *
msg_new(void)
{
	struct msg	*m = calloc(1, sizeof(*m));

	if (m == NULL)
		abort();
	m->st = M_NEW;
	m->want = 1 + (int)rnd_below(3);
	m->extra = rnd_below(100) < 30;
	m->nupd = rnd_below(100) < 50 ? 1 + (int)rnd_below(2) : 0;
	m->rollback = rnd_below(100) < 4;
	return m;
}

static void
msg_free(struct msg *m)
{
	int	i;

	for (i = 0; i < m->nev; i++)
		evp_free(&m->ev[i]);
	free(m->body);
	free(m->pc);
	free(m);
}

static int
same(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && memcmp(a, b, alen) == 0;
}

/* ---- requests --------------------------------------------------------- */

static uint64_t	lat[PQ_NTYPES];	/* EWMA of each type's latency, us */
static int	dead;		/* the daemon died: restart before going on */
static int	last_fired;

static void
req_begin(uint32_t type)
{
	uint64_t	l = lat[type] ? lat[type] : 500;

	st.requests++;
	if (killpoints || D.pid == -1)
		return;
	if (rnd_below(1000) < 25)
		arm(D.pid, rnd_below(l + l / 3 + 20));
}

/*
 * After a request: ret is what the client returned.  Returns 1 when the
 * answer counts (it arrived), 0 when the request is in doubt.
 */
static int
req_end(uint32_t type, int ret, uint64_t start)
{
	int	fired = killpoints ? 0 : disarm();
	uint64_t t = qt_now_ns() / 1000 - start;

	last_fired = fired;
	if (ret != PQ_EPROTO) {
		lat[type] = lat[type] ? (lat[type] * 7 + t) / 8 : t;
		if (fired) {
			st.kills_after++;
			dead = 1;
		} else if (!killpoints && rnd_below(1000) < 2) {
			kill(D.pid, SIGKILL);
			st.kills_between++;
			dead = 1;
		}
		return 1;
	}
	dead = 1;
	if (fired || killpoints)
		st.kills_during++;
	else {
		st.unexpected_deaths++;
		qr_check(0, "killtest-daemon-alive", "%s: no answer and no "
		    "kill sent (error %d)", pq_type_name(type), D.c.error);
	}
	return 0;
}

#define CALL(type, expr) __extension__ ({				\
	uint64_t _s = qt_now_ns() / 1000;				\
	int _r;								\
	req_begin(type);						\
	_r = (expr);							\
	req_end(type, _r, _s) ? _r : PQ_EPROTO;				\
})

/* An answer that is not r = 1 where the test expects success. */
static void
unexpected(const char *what, int r)
{
	qr_check(0, "killtest-requests", "%s: r = %d", what, r);
	/* the model cannot tell what happened: in doubt, like a kill */
	kill(D.pid, SIGKILL);
	dead = 1;
}

/* One request of m's lifecycle.  Returns 1 when m is done. */
static int
step(struct msg *m)
{
	char		*buf;
	size_t		 len;
	uint64_t	 evpid;
	uint32_t	 msgid;
	int		 r, fd, i;

	switch (m->phase) {
	case 0:					/* create */
		r = CALL(PQ_MESSAGE_CREATE, pq_message_create(&D.c, &msgid));
		if (r == PQ_EPROTO) {
			st.aborted++;
			return 1;
		}
		if (r != 1) {
			unexpected("MESSAGE_CREATE", r);
			st.aborted++;
			return 1;
		}
		m->id = msgid;
		m->st = M_INCOMING;
		m->phase = 1;
		return 0;
	case 1:					/* envelopes while incoming */
		if (m->nev == m->want && m->rollback) {
			r = CALL(PQ_MESSAGE_DELETE,
			    pq_message_delete(&D.c, m->id));
			if (r == 1) {
				st.rollbacks++;
				gone_add(m->id);
				qr_check(!qt_exists(qd_path(&D, "incoming/%08x",
				    m->id)), "killtest-rollback",
				    "incoming/%08x still there after rollback",
				    m->id);
				return 1;
			}
			if (r != PQ_EPROTO)
				unexpected("MESSAGE_DELETE", r);
			return 0;	/* dies with the restart */
		}
		if (m->nev == m->want) {
			m->phase = 2;
			return step(m);
		}
		len = evp_len();
		buf = mkbytes(len);
		r = CALL(PQ_ENVELOPE_CREATE,
		    pq_envelope_create(&D.c, m->id, buf, len, &evpid));
		if (r != 1) {
			free(buf);
			if (r != PQ_EPROTO)
				unexpected("ENVELOPE_CREATE (incoming)", r);
			return 0;
		}
		m->ev[m->nev].id = evpid;
		m->ev[m->nev].data = buf;
		m->ev[m->nev].len = len;
		m->ev[m->nev].st = E_LIVE;
		m->nev++;
		return 0;
	case 2:					/* commit */
		m->blen = m->size ? m->size : body_len();
		m->body = mkbytes(m->blen);
		if ((fd = qt_tmp_message(D.dir, m->body, m->blen)) == -1) {
			qr_check(0, "killtest-setup", "tmpfile: %s",
			    strerror(errno));
			return 1;
		}
		r = CALL(PQ_MESSAGE_COMMIT, pq_message_commit(&D.c, m->id, fd));
		close(fd);
		if (r == 1) {
			m->st = M_QUEUED;
			m->phase = 3;
		} else {
			if (r != PQ_EPROTO)
				unexpected("MESSAGE_COMMIT", r);
			m->st = M_COMMITTING;
			m->phase = 3;
		}
		return 0;
	case 3:					/* envelope on queued msg */
		if (!m->extra || m->nev == MAXEV) {
			m->phase = 4;
			return step(m);
		}
		m->extra = 0;
		len = evp_len();
		buf = mkbytes(len);
		r = CALL(PQ_ENVELOPE_CREATE,
		    pq_envelope_create(&D.c, m->id, buf, len, &evpid));
		if (r == 1) {
			m->ev[m->nev].id = evpid;
			m->ev[m->nev].data = buf;
			m->ev[m->nev].len = len;
			m->ev[m->nev].st = E_LIVE;
			m->nev++;
		} else {
			if (r != PQ_EPROTO)
				unexpected("ENVELOPE_CREATE (queued)", r);
			m->pc = buf;
			m->pclen = len;
		}
		return 0;
	case 4:					/* updates */
		if (m->nupd == 0) {
			m->phase = 5;
			return step(m);
		}
		m->nupd--;
		i = (int)rnd_below((uint64_t)m->nev);
		len = evp_len();
		buf = mkbytes(len);
		r = CALL(PQ_ENVELOPE_UPDATE,
		    pq_envelope_update(&D.c, m->ev[i].id, buf, len));
		if (r == 1) {
			free(m->ev[i].data);
			m->ev[i].data = buf;
			m->ev[i].len = len;
		} else {
			if (r != PQ_EPROTO)
				unexpected("ENVELOPE_UPDATE", r);
			m->ev[i].alt = buf;
			m->ev[i].altlen = len;
			m->ev[i].st = E_UPD;
		}
		return 0;
	case 5:					/* load */
		i = (int)rnd_below((uint64_t)m->nev);
		buf = malloc(EVP_BUF);
		r = CALL(PQ_ENVELOPE_LOAD,
		    pq_envelope_load(&D.c, m->ev[i].id, buf, EVP_BUF));
		if (r != PQ_EPROTO)
			qr_check(r > 0 && same(buf, (size_t)r, m->ev[i].data,
			    m->ev[i].len), "killtest-online",
			    "LOAD %016llx: %d bytes, want %zu",
			    (unsigned long long)m->ev[i].id, r, m->ev[i].len);
		free(buf);
		m->phase = 6;
		return 0;
	case 6:					/* fd_r */
		r = CALL(PQ_MESSAGE_FD_R, pq_message_fd_r(&D.c, m->id));
		if (r != PQ_EPROTO) {
			buf = r >= 0 ? qt_read_fd(r, &len) : NULL;
			qr_check(buf != NULL &&
			    same(buf, len, m->body, m->blen), "killtest-online",
			    "FD_R %08x: %s", m->id,
			    r < 0 ? "no fd" : "wrong bytes");
			free(buf);
			if (r >= 0)
				close(r);
		}
		m->phase = 7;
		return 0;
	case 7:					/* deliveries */
		i = (int)rnd_below((uint64_t)m->nev);
		r = CALL(PQ_ENVELOPE_DELETE,
		    pq_envelope_delete(&D.c, m->ev[i].id));
		if (r != 1) {
			if (r != PQ_EPROTO)
				unexpected("ENVELOPE_DELETE", r);
			m->ev[i].st = E_DEL;
			return 0;
		}
		evp_remove(m, i);
		if (m->nev > 0)
			return 0;
		/* the last one: the message is gone, at once */
		qr_check(!qt_exists(qd_path(&D, "queue/%02x/%08x", m->id >> 24,
		    m->id)), "killtest-online", "queue/%02x/%08x still there "
		    "after its last envelope was deleted", m->id >> 24, m->id);
		gone_add(m->id);
		st.lifecycles++;
		return 1;
	}
	return 1;
}

/* ---- restart and verification ----------------------------------------- */

struct served {
	uint64_t	 id;
	char		*data;
	size_t		 len;
	int		 matched;
};

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t	x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The on-disk message dir holds exactly "message" and m's envelopes. */
static void
check_msgdir(struct msg *m)
{
	struct dirent	*dp;
	DIR		*d;
	char		 name[32];
	int		 n = 0, i, found;

	if ((d = opendir(qd_path(&D, "queue/%02x/%08x", m->id >> 24,
	    m->id))) == NULL) {
		qr_check(0, "killtest-acked-present", "queue/%02x/%08x: %s",
		    m->id >> 24, m->id, strerror(errno));
		return;
	}
	while ((dp = readdir(d)) != NULL) {
		if (strcmp(dp->d_name, ".") == 0 ||
		    strcmp(dp->d_name, "..") == 0 ||
		    strcmp(dp->d_name, "message") == 0)
			continue;
		n++;
		for (i = 0, found = 0; i < m->nev && !found; i++) {
			snprintf(name, sizeof(name), "%016llx",
			    (unsigned long long)m->ev[i].id);
			found = strcmp(name, dp->d_name) == 0;
		}
		qr_check(found, "killtest-no-unacked",
		    "queue/%02x/%08x/%s: not in the model", m->id >> 24,
		    m->id, dp->d_name);
	}
	closedir(d);
	qr_check(n == m->nev, "killtest-acked-present", "queue/%02x/%08x: %d "
	    "envelope files, want %d", m->id >> 24, m->id, n, m->nev);
}

/* Serve-side checks of a message the model holds as queued. */
static void
check_queued(struct msg *m, char *buf)
{
	char	*data;
	size_t	 len;
	int	 i, r, fd;

	fd = pq_message_fd_r(&D.c, m->id);
	data = fd >= 0 ? qt_read_fd(fd, &len) : NULL;
	qr_check(data != NULL && same(data, len, m->body, m->blen),
	    "killtest-acked-present", "FD_R %08x after restart: %s", m->id,
	    fd == PQ_EPROTO ? "no answer" : fd < 0 ? "no fd" :
	    "wrong bytes");
	free(data);
	if (fd >= 0)
		close(fd);
	for (i = 0; i < m->nev; i++) {
		struct evp	*e = &m->ev[i];
		char		*rel;

		r = pq_envelope_load(&D.c, e->id, buf, EVP_BUF);
		qr_check(r > 0 && same(buf, (size_t)r, e->data, e->len),
		    "killtest-acked-present", "LOAD %016llx after restart: "
		    "%d bytes, want %zu", (unsigned long long)e->id, r,
		    e->len);
		rel = qt_evpfile(e->id);
		data = qt_read_file(qd_path(&D, "%s", rel), &len);
		qr_check(data != NULL && same(data, len, e->data, e->len),
		    "killtest-acked-present", "%s on disk: %s", rel,
		    data == NULL ? strerror(errno) : "wrong bytes");
		free(data);
	}
	data = qt_read_file(qd_path(&D, "queue/%02x/%08x/message", m->id >> 24,
	    m->id), &len);
	qr_check(data != NULL && same(data, len, m->body, m->blen),
	    "killtest-acked-present", "queue/%02x/%08x/message on disk: %s",
	    m->id >> 24, m->id, data == NULL ? strerror(errno) :
	    "wrong bytes");
	free(data);
	check_msgdir(m);
}

static int
is_pool_queued(uint32_t id)
{
	int	i;

	for (i = 0; i < POOL; i++)
		if (pool[i] != NULL && pool[i]->st == M_QUEUED &&
		    pool[i]->id == id)
			return 1;
	return 0;
}

/* queue/ holds nothing but the model's queued messages; corrupt/ empty. */
static void
check_spool(void)
{
	struct dirent	*bp, *mp;
	DIR		*q, *b;
	char		 path[PATH_MAX];
	uint32_t	 id;
	size_t		 i;

	/* each incident once: what is reported is cleared */
	if ((q = opendir(qd_path(&D, "corrupt"))) != NULL) {
		int	n = 0;

		while ((bp = readdir(q)) != NULL) {
			if (bp->d_name[0] == '.')
				continue;
			n++;
			printf("  corrupt/%s: %d entries\n", bp->d_name,
			    qt_count_entries(qd_path(&D, "corrupt/%s",
			    bp->d_name)));
			qt_rmtree(qd_path(&D, "corrupt/%s", bp->d_name));
		}
		closedir(q);
		qr_check(n == 0, "killtest-no-corrupt", "after a kill, the walk "
		    "moved %d entries to corrupt/", n);
	}
	if ((q = opendir(qd_path(&D, "queue"))) == NULL) {
		qr_check(0, "killtest-spool", "queue/: %s", strerror(errno));
		return;
	}
	while ((bp = readdir(q)) != NULL) {
		if (bp->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/queue/%s", D.spool,
		    bp->d_name);
		if ((b = opendir(path)) == NULL) {
			qr_check(0, "killtest-spool", "%s: %s", path,
			    strerror(errno));
			continue;
		}
		while ((mp = readdir(b)) != NULL) {
			if (mp->d_name[0] == '.')
				continue;
			id = (uint32_t)strtoul(mp->d_name, NULL, 16);
			qr_check(is_pool_queued(id), "killtest-no-unacked",
			    "queue/%s/%s: a message the model does not hold",
			    bp->d_name, mp->d_name);
		}
		closedir(b);
	}
	closedir(q);
	/* gone messages stay gone (cheap: sorted, then stat each) */
	qsort(gone, ngone, sizeof(*gone), cmp_u32);
	for (i = 0; i < ngone; i++)
		qr_check(!qt_exists(qd_path(&D, "queue/%02x/%08x",
		    gone[i] >> 24, gone[i])), "killtest-deletes-stay",
		    "message %08x, deleted or rolled back, is back", gone[i]);
}

static void
verify(void)
{
	struct served	*sv = NULL;
	size_t		 nsv = 0, svsz = 0, i;
	uint64_t	 evpid;
	uint32_t	 prev = 0;
	char		*buf = malloc(EVP_BUF);
	int		 r, calls = 0, j, k, found;

	qr_check(qt_count_entries(qd_path(&D, "incoming")) == 0,
	    "killtest-incoming-purged", "incoming/ holds %d entries after "
	    "the restart", qt_count_entries(qd_path(&D, "incoming")));

	/* the whole walk */
	while (calls++ < 100000) {
		r = pq_envelope_walk(&D.c, &evpid, buf, EVP_BUF);
		if (r == -1)
			break;
		if (r == PQ_EPROTO) {
			qr_check(0, "killtest-walk", "walk: no answer (%d)",
			    D.c.error);
			dead = 1;
			break;
		}
		if (r == 0)
			continue;
		for (i = 0; i < nsv; i++)
			qr_check(sv[i].id != evpid, "killtest-walk",
			    "walk served %016llx twice",
			    (unsigned long long)evpid);
		if ((uint32_t)(evpid >> 32) != prev)
			for (i = 0; i < nsv; i++)
				qr_check((uint32_t)(sv[i].id >> 32) !=
				    (uint32_t)(evpid >> 32), "killtest-walk",
				    "envelopes of %08x not one after another",
				    (unsigned)(evpid >> 32));
		prev = (uint32_t)(evpid >> 32);
		if (nsv == svsz) {
			svsz = svsz ? svsz * 2 : 64;
			sv = realloc(sv, svsz * sizeof(*sv));
		}
		sv[nsv].id = evpid;
		sv[nsv].data = malloc((size_t)r);
		memcpy(sv[nsv].data, buf, (size_t)r);
		sv[nsv].len = (size_t)r;
		sv[nsv].matched = 0;
		nsv++;
	}
	qr_check(calls < 100000, "killtest-walk", "walk does not end");

	/* match what was served against the model */
	for (j = 0; j < POOL && !dead; j++) {
		struct msg	*m = pool[j];
		int		 any = 0;

		if (m == NULL || m->st == M_NEW)
			continue;
		for (i = 0; i < nsv; i++)
			if ((uint32_t)(sv[i].id >> 32) == m->id)
				any = 1;
		if (m->st == M_INCOMING) {
			qr_check(!any, "killtest-no-unacked", "walk serves "
			    "message %08x, never committed", m->id);
			qr_check(!qt_exists(qd_path(&D, "queue/%02x/%08x",
			    m->id >> 24, m->id)), "killtest-no-unacked",
			    "message %08x, never committed, is in queue/",
			    m->id);
			gone_add(m->id);
			msg_free(m);
			pool[j] = NULL;
			st.aborted++;
			continue;
		}
		if (m->st == M_COMMITTING) {
			if (!any) {
				st.commit_lost++;
				qr_check(!qt_exists(qd_path(&D,
				    "queue/%02x/%08x", m->id >> 24, m->id)),
				    "killtest-commit-atomic", "interrupted "
				    "commit %08x: in queue/ but nothing served",
				    m->id);
				gone_add(m->id);
				msg_free(m);
				pool[j] = NULL;
				st.aborted++;
				continue;
			}
			/* served: then the commit is whole, in queue/ */
			st.commit_kept++;
			qr_check(qt_exists(qd_path(&D, "queue/%02x/%08x",
			    m->id >> 24, m->id)), "killtest-commit-atomic",
			    "interrupted commit %08x: served, not in queue/",
			    m->id);
			m->st = M_QUEUED;
		}
		for (k = 0; k < m->nev; k++) {
			struct evp	*e = &m->ev[k];
			struct served	*s = NULL;

			for (i = 0; i < nsv; i++)
				if (sv[i].id == e->id)
					s = &sv[i];
			if (s != NULL)
				s->matched = 1;
			switch (e->st) {
			case E_LIVE:
				qr_check(s != NULL && same(s->data, s->len,
				    e->data, e->len), "killtest-acked-present",
				    "envelope %016llx: %s",
				    (unsigned long long)e->id, s == NULL ?
				    "not served" : "served with other bytes");
				break;
			case E_UPD:
				/* all old bytes or all new ones */
				qr_check(s != NULL && (same(s->data, s->len,
				    e->alt, e->altlen) || same(s->data, s->len,
				    e->data, e->len)), "killtest-update-atomic",
				    "envelope %016llx after an interrupted "
				    "update: %s", (unsigned long long)e->id,
				    s == NULL ? "not served" :
				    "neither old nor new bytes");
				if (s != NULL && same(s->data, s->len, e->alt,
				    e->altlen)) {
					free(e->data);
					e->data = e->alt;
					e->len = e->altlen;
					e->alt = NULL;
					st.upd_new++;
				} else {
					free(e->alt);
					e->alt = NULL;
					st.upd_old++;
				}
				e->st = E_LIVE;
				break;
			case E_DEL:
				if (s == NULL) {
					st.del_done++;
					evp_remove(m, k--);
					continue;
				}
				qr_check(same(s->data, s->len, e->data, e->len),
				    "killtest-acked-present", "envelope "
				    "%016llx, delete interrupted: other bytes",
				    (unsigned long long)e->id);
				st.del_undone++;
				e->st = E_LIVE;
				break;
			}
		}
		if (m->pc != NULL) {
			found = 0;
			for (i = 0; i < nsv && !found; i++)
				if (!sv[i].matched &&
				    (uint32_t)(sv[i].id >> 32) == m->id &&
				    same(sv[i].data, sv[i].len, m->pc,
				    m->pclen) && m->nev < MAXEV) {
					sv[i].matched = found = 1;
					m->ev[m->nev].id = sv[i].id;
					m->ev[m->nev].data = m->pc;
					m->ev[m->nev].len = m->pclen;
					m->ev[m->nev].st = E_LIVE;
					m->nev++;
					m->pc = NULL;
				}
			if (found)
				st.pc_there++;
			else {
				st.pc_absent++;
				free(m->pc);
				m->pc = NULL;
			}
		}
		if (m->nev == 0) {
			/* its last delete went through: gone for good */
			qr_check(!qt_exists(qd_path(&D, "queue/%02x/%08x",
			    m->id >> 24, m->id)), "killtest-deletes-stay",
			    "message %08x without envelopes still in queue/ "
			    "after the walk", m->id);
			gone_add(m->id);
			msg_free(m);
			pool[j] = NULL;
			st.lifecycles++;
			continue;
		}
		check_queued(m, buf);
	}
	for (i = 0; i < nsv; i++) {
		qr_check(sv[i].matched, "killtest-no-unacked", "walk served "
		    "%016llx (%zu bytes), never acknowledged",
		    (unsigned long long)sv[i].id, sv[i].len);
		free(sv[i].data);
	}
	free(sv);
	free(buf);
	check_spool();
	/* what smtpd's queue process does with purge/ */
	qt_rmtree(qd_path(&D, "purge"));
	mkdir(qd_path(&D, "purge"), 0700);
	chown(qd_path(&D, "purge"), dur_uid, 0);
}

/* Reap the dead daemon, start a new one (sometimes killed while it
 * starts), check everything. */
static int
recover(void)
{
	int	status, tries, r;

	if (D.pid != -1) {
		if ((status = qd_wait(&D, 60000)) == -1) {
			qr_check(0, "killtest-daemon-alive", "daemon does not "
			    "die after SIGKILL");
			qd_kill(&D);
		} else if (expect_kill)
			qr_check(WIFSIGNALED(status) &&
			    WTERMSIG(status) == SIGKILL,
			    "killtest-daemon-alive", "daemon ended with "
			    "status 0x%x, not by our SIGKILL", status);
	}
	D.strace[0] = '\0';
	expect_kill = 1;
	for (tries = 0; tries < 5; tries++) {
		st.restarts++;
		if (qd_start(&D) == -1) {
			qr_check(0, "killtest-restart", "cannot start: %s",
			    strerror(errno));
			return -1;
		}
		if (!killpoints && tries < 3 && rnd_below(100) < 12) {
			arm(D.pid, rnd_below(1500));
			r = pq_init(&D.c);
			if (disarm() || r != 1) {
				st.kills_start++;
				qd_kill(&D);
				continue;
			}
			break;
		}
		if (pq_init(&D.c) != 1) {
			qr_check(0, "killtest-restart", "restarted daemon does "
			    "not answer INIT");
			qd_log_show(&D, 10);
			qd_kill(&D);
			return -1;
		}
		break;
	}
	/* the restarted daemon answered INIT and is still up */
	qr_check(qd_alive(&D), "killtest-restart", "restarted daemon exited "
	    "after INIT (status 0x%x)", D.status);
	dead = 0;
	verify();
	if (dead) {
		qd_kill(&D);
		return -1;
	}
	return 0;
}

/* ---- phases ----------------------------------------------------------- */

static int
run_random(unsigned long target)
{
	unsigned long	 started = 0, guard = 0;
	int		 i, active;

	for (;;) {
		if (guard++ > target * 200) {
			qr_check(0, "killtest-progress", "no progress");
			return -1;
		}
		active = 0;
		for (i = 0; i < POOL; i++) {
			if (pool[i] == NULL && st.lifecycles < target &&
			    started < target * 5) {
				pool[i] = msg_new();
				started++;
			}
			if (pool[i] != NULL)
				active++;
		}
		if (active == 0 || st.lifecycles >= target)
			break;
		do
			i = (int)rnd_below(POOL);
		while (pool[i] == NULL);
		if (step(pool[i])) {
			msg_free(pool[i]);
			pool[i] = NULL;
		}
		if (dead && recover() == -1)
			return -1;
	}
	return 0;
}

/* The fixed scenario: pool slot order drives the interleaving. */
static void
scenario(void)
{
	static const int order[] = {
		0, 0, 0, 0, 0,		/* M0: create, 2 env, commit */
		1, 1, 1, 1, 1,		/* M1: create, 3 env, commit (big) */
		2, 2, 2,		/* M2: create, 1 env, rollback */
		1, 1, 1, 1,		/* M1: extra env, update, load, fd_r */
		0, 1, 1, 1, 1, 0, 0, 0,	/* deliveries, M0 updated */
	};
	size_t	i;
	int	j;

	for (j = 0; j < POOL; j++)
		pool[j] = NULL;
	/* M0's body goes into its commit record, M1's is kept in place
	 * (over 64 KB; on a journaled spool) */
	pool[0] = msg_new();
	pool[0]->size = 1000;
	pool[0]->want = 2;
	pool[0]->extra = 0;
	pool[0]->nupd = 1;
	pool[0]->rollback = 0;
	pool[1] = msg_new();
	pool[1]->size = 100 * 1024;
	pool[1]->want = 3;
	pool[1]->extra = 1;
	pool[1]->nupd = 1;
	pool[1]->rollback = 0;
	pool[2] = msg_new();
	pool[2]->want = 1;
	pool[2]->rollback = 1;
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		j = order[i];
		if (pool[j] != NULL && step(pool[j])) {
			msg_free(pool[j]);
			pool[j] = NULL;
		}
		if (dead && recover() == -1)
			return;
	}
	/* the end: one more restart checks what is left */
	if (D.pid != -1) {
		if (D.strace[0] != '\0') {
			/* strace would leave the daemon behind: stop it */
			qd_stop(&D);
			expect_kill = 0;
		} else
			kill(D.pid, SIGKILL);
		recover();
	}
}

static int
run_killpoints(void)
{
	static const char *calls[] = {
		"openat", "write", "copy_file_range", "syncfs", "fsync",
		"mkdirat", "renameat", "renameat2", "unlinkat", "sendmsg",
		"pwrite64", "fdatasync",
	};
	const char	*only = getenv("KILLTEST_KILLPOINT");	/* "call:K" */
	size_t		 c, len;
	int		 k, died, j;

	for (c = 0; c < sizeof(calls) / sizeof(calls[0]); c++) {
		len = strlen(calls[c]);
		if (only != NULL && (strncmp(only, calls[c], len) != 0 ||
		    only[len] != ':'))
			continue;
		for (k = only ? atoi(only + len + 1) : 1; k <= 200; k++) {
			if (D.pid != -1)
				qd_kill(&D);
			qt_rmtree(D.spool);
			mkdir(D.spool, 0711);
			ngone = 0;
			snprintf(D.strace, sizeof(D.strace), "-f -qq -o "
			    "/dev/null -e trace=%s -e inject=%s:signal=KILL:"
			    "when=%d", calls[c], calls[c], k);
			st.killpoint_runs++;
			dead = 0;
			died = 0;
			if (qd_start(&D) == -1)
				return -1;
			if (pq_init(&D.c) != 1) {
				dead = 1;
				st.kills_start++;
				if (recover() == -1)
					return -1;
				continue;
			}
			{
				unsigned long before = st.kills_during +
				    st.kills_start, fails = qr_check_failures();

				scenario();
				died = st.kills_during + st.kills_start >
				    before;
				if (qr_check_failures() > fails)
					printf("  killpoints: the failures above: "
					    "daemon killed before %s #%d\n",
					    calls[c], k);
			}
			for (j = 0; j < POOL; j++)
				if (pool[j] != NULL) {
					msg_free(pool[j]);
					pool[j] = NULL;
				}
			if (!died || only != NULL)
				break;	/* no K-th call of that kind */
		}
		printf("  killpoints: %-16s %d kill points\n", calls[c], k - 1);
	}
	if (D.pid != -1)
		qd_kill(&D);
	D.strace[0] = '\0';
	return 0;
}

/* An empty spool, no message known, the daemon started on it: 0. */
static int
start_empty(void)
{
	int	i;

	qt_rmtree(D.spool);
	mkdir(D.spool, 0711);
	ngone = 0;
	dead = 0;	/* a phase before may have ended on a kill */
	for (i = 0; i < POOL; i++)
		pool[i] = NULL;
	if (qd_start_init(&D) == 0)
		return 0;
	qr_check(0, "killtest-restart", "cannot start: %s", qt_error);
	return -1;
}

/*
 * lostmove: what a power failure can leave of a body kept in place
 * (store_log_commit()): its record and incoming/M/message, durable
 * through the message file's fsync, but not the move into queue/.  The
 * daemon is killed after the commit's answer, queue/XX/M is renamed
 * back to incoming/M (a rename keeps the file's inode and mtime, as the
 * journal would), and the restart must queue it again from the log
 * before it purges incoming/: verify() finds it acknowledged and served.
 * Only on a journaled spool, where the commit keeps the body in place.
 */
static void
run_lostmove(void)
{
	struct msg	*m;
	char		 in[PATH_MAX];
	int		 status, ok, r;

	if (D.pid != -1)
		qd_kill(&D);
	if (start_empty() == -1)
		return;
	/* this phase kills where it means to, never at random */
	killpoints = 1;
	pool[0] = m = msg_new();
	m->size = 100 * 1024;
	m->want = 2;
	m->extra = 0;
	m->nupd = 0;
	m->rollback = 0;
	while (m->st != M_QUEUED && !dead)
		if (step(m))
			break;
	if (m->st != M_QUEUED || dead) {
		qr_check(0, "killtest-lostmove", "the commit was not "
		    "acknowledged (phase %d, state %d%s, exit %d)", m->phase,
		    m->st, dead ? ", the daemon died" : "",
		    qd_exit_code(&D, 2000));
		qd_log_show(&D, 20);
		killpoints = 0;
		return;
	}
	kill(D.pid, SIGKILL);
	status = qd_wait(&D, 60000);
	qr_check(status != -1 && WIFSIGNALED(status), "killtest-daemon-alive",
	    "daemon not killed (status 0x%x)", status);
	snprintf(in, sizeof(in), "%s", qd_path(&D, "incoming/%08x", m->id));
	qr_check(rename(qd_path(&D, "%s", qt_msgdir(m->id)), in) == 0,
	    "killtest-lostmove", "rename %s back to incoming/: %s",
	    qt_msgdir(m->id), strerror(errno));
	dead = 1;
	r = recover();
	killpoints = 0;
	if (r == -1)
		return;
	ok = qt_exists(qd_path(&D, "%s/message", qt_msgdir(m->id))) &&
	    !qt_exists(in);
	qr_check(ok, "killtest-lostmove", "%08x: not moved back into queue/ "
	    "by the replay", m->id);
	if (ok)
		printf("killtest: lostmove: %08x queued again from incoming/ "
		    "after the restart\n", m->id);
	qd_kill(&D);
	msg_free(m);
	pool[0] = NULL;
}

static void
print_resolved(const char *phase)
{
	printf("killtest: %s: requests in doubt, as found after the restart: "
	    "commit kept %lu / lost %lu, update new %lu / old %lu, delete "
	    "done %lu / undone %lu, envelope create on a committed message "
	    "there %lu / absent %lu\n", phase, st.commit_kept,
	    st.commit_lost, st.upd_new, st.upd_old, st.del_done,
	    st.del_undone, st.pc_there, st.pc_absent);
}

int
main(int argc, char **argv)
{
	pthread_condattr_t	 ca;
	pthread_t		 th;
	const char		*phases = getenv("KILLTEST_PHASES");
	const char		*s;
	unsigned long		 target = 1000, kills;
	uint64_t		 seed, t0 = qt_now_ns() / 1000;
	int			 journaled = 0;

	qd_launcher(argc, argv);
	if (dur_setup("killtest", 1500) == -1)
		return 1;
	if ((s = getenv("KILLTEST_LIFECYCLES")) != NULL)
		target = strtoul(s, NULL, 10);
	seed = (s = getenv("KILLTEST_SEED")) != NULL ?
	    strtoull(s, NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)getpid();
	if (phases == NULL)
		phases = "killpoints,lostmove,random";
	rnd_seed(seed);
	printf("killtest: seed %llu (KILLTEST_SEED to repeat)\n",
	    (unsigned long long)seed);

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&kc, &ca);
	if (pthread_create(&th, NULL, killer, NULL) != 0) {
		qr_fail("killtest", "pthread_create");
		return 1;
	}
	if ((s = getenv("KILLTEST_DIR")) == NULL &&
	    (s = dur_private_fs(1024)) == NULL)
		printf("killtest: no private file system, using /tmp\n");
	else
		printf("killtest: spool on %s\n", s);
	/* tests/lib/loop-ext4.sh's ext4 has a journal */
	journaled = s != NULL && getenv("KILLTEST_DIR") == NULL;
	/* a small log: the random phase fills it many times over, so
	 * kills land around switches and the checkpointer's work */
	if (dur_daemon(&D, s, "-L 256k") == -1) {
		qr_fail("killtest", "work dir");
		return 1;
	}

	if (strstr(phases, "killpoints") != NULL) {
		killpoints = 1;
		if (run_killpoints() == -1)
			qr_check(0, "killtest-restart", "killpoints phase "
			    "stopped");
		killpoints = 0;
		printf("killtest: killpoints: %lu runs, %lu kills in a "
		    "request, %lu at start, %lu checks so far\n",
		    st.killpoint_runs, st.kills_during, st.kills_start,
		    qr_checks());
		print_resolved("killpoints");
		qr_check(st.killpoint_runs > 50, "killtest-killpoints",
		    "only %lu kill points", st.killpoint_runs);
	}

	if (strstr(phases, "lostmove") != NULL) {
		if (journaled)
			run_lostmove();
		else
			printf("killtest: lostmove: skipped, the spool is not "
			    "on a private journaled ext4 (no body kept in "
			    "place)\n");
	}

	if (strstr(phases, "random") != NULL) {
		memset(&st, 0, sizeof(st));
		if (start_empty() == 0 && run_random(target) == 0) {
			/* a last kill, then the final check */
			kill(D.pid, SIGKILL);
			st.kills_between++;
			recover();
		}
		kills = st.kills_during + st.kills_after + st.kills_between +
		    st.kills_start;
		printf("killtest: random: %lu lifecycles completed (%lu cut "
		    "short by a kill, %lu rolled back), %lu requests, %.1f s\n",
		    st.lifecycles, st.aborted, st.rollbacks, st.requests,
		    ((qt_now_ns() / 1000) - t0) / 1e6);
		printf("killtest: random: %lu kills: %lu during a request, "
		    "%lu after its answer, %lu between requests, %lu while "
		    "starting; %lu restarts\n", kills, st.kills_during,
		    st.kills_after, st.kills_between, st.kills_start,
		    st.restarts);
		print_resolved("random");
		qr_check(st.lifecycles >= target, "killtest-numbers",
		    "%lu lifecycles, want %lu", st.lifecycles, target);
		qr_check(kills >= 50, "killtest-numbers", "%lu kills, want 50",
		    kills);
		qr_check(st.kills_during >= 25, "killtest-numbers",
		    "%lu kills during a request, want 25", st.kills_during);
	}
	printf("killtest: %lu checks, %lu failed\n", qr_checks(),
	    qr_check_failures());
	if (qr_check_failures()) {
		char	cmd[600];

		fflush(stdout);
		snprintf(cmd, sizeof(cmd), "grep -E 'warn|fatal|replay' '%s' "
		    "| tail -n 12 | sed 's/^/  log| /'", D.log);
		(void)!system(cmd);
	}

	qr_result("killtest-acked-present");
	qr_result("killtest-no-unacked");
	qr_result("killtest-deletes-stay");
	qr_result("killtest-update-atomic");
	qr_result("killtest-commit-atomic");
	qr_result("killtest-incoming-purged");
	qr_result("killtest-no-corrupt");
	qr_result("killtest-walk");
	qr_result("killtest-online");
	qr_result("killtest-daemon-alive");
	qr_result("killtest-restart");
	if (strstr(phases, "killpoints") != NULL)
		qr_result("killtest-killpoints");
	if (strstr(phases, "lostmove") != NULL && journaled)
		qr_result("killtest-lostmove");
	if (strstr(phases, "random") != NULL)
		qr_result("killtest-numbers");
	if (D.pid != -1)
		qd_kill(&D);
	qd_cleanup(&D);
	return qr_summary();
}
