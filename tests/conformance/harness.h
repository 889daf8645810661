/*
 * Conformance harness: run the real queue-fs-proc binary the way smtpd
 * does (root, argv[0] "queue-proc", all options in argv[1], the request
 * socket on fd 0) on a fresh spool, and talk to it with pq_client.
 *
 * Every helper fails the calling cmocka test on an unexpected error, so
 * tests read as a list of requests and checks.
 */
#ifndef QFP_CONFORMANCE_HARNESS_H
#define QFP_CONFORMANCE_HARNESS_H

#include <sys/types.h>

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "imsg.h"
#include "pq_client.h"
#include "proc_queue.h"
#include "qfp_test.h"

#define QFP_USER	QT_USER
#define QFP_TIMEOUT_MS	5000	/* longest wait for an answer or an exit */

struct qfp {
	pid_t			 pid;		/* -1 when not running */
	int			 sock;		/* our end of the socketpair */
	int			 status;	/* wait status of the last run */
	enum imsg_dialect	 dialect;	/* the client's framing */
	char			 opts[256];	/* extra options, e.g. "-F A" */
	char			 spool[96];
	char			 log[96];
	long			 logmark;	/* where qfp_log_has starts */
	struct pq_client	 c;
};

/*
 * A fresh spool and a daemon on it with opts (NULL: none) besides
 * -d -s -u; the client speaks dialect and has sent INIT.
 */
struct qfp *qfp_new(const char *opts, enum imsg_dialect dialect);
/* Stop the daemon if it runs, remove the spool (kept if QFP_KEEP=1). */
void	qfp_free(struct qfp *);

void	qfp_start(struct qfp *);	/* start a daemon, no INIT */
void	qfp_start_init(struct qfp *);	/* start, then INIT */
void	qfp_wait_ready(struct qfp *);	/* spool set up, no INIT needed */
int	qfp_wait(struct qfp *, int timeout_ms);	/* wait status, -1: still up */
int	qfp_stop(struct qfp *);		/* close the socket; exit code */
void	qfp_kill(struct qfp *);		/* SIGKILL and reap */
void	qfp_restart(struct qfp *);	/* stop, start, INIT */
int	qfp_exit_code(struct qfp *, int timeout_ms);	/* -1: no exit */
int	qfp_running(struct qfp *);

/*
 * The daemon's log (its stderr, kept across restarts): does a line
 * written since the last qfp_log_mark() hold all the words (NULL: any)?
 */
void	qfp_log_mark(struct qfp *);
int	qfp_log_has(struct qfp *, const char *, const char *, const char *);

/* Spool inspection; paths are relative to the spool (qt_pathf ring). */
#define spool_path(q, ...)	qt_pathf((q)->spool, __VA_ARGS__)
#define spool_exists(q, ...)	qt_exists(spool_path(q, __VA_ARGS__))
/* The file's bytes (NUL added, not counted), or NULL if unreadable. */
#define spool_read(q, len, ...)	\
	qt_read_file(spool_path(q, __VA_ARGS__), len)
int	spool_count(struct qfp *, const char *dir);	/* entries, no dots */
int	spool_count_evps(struct qfp *, uint32_t msgid);
int	spool_count_incoming(struct qfp *);	/* non-empty entries */
char	*spool_listing(struct qfp *);	/* one sorted line per entry */
#define msgdir(msgid)		qt_msgdir(msgid)	/* "queue/XX/MSGID" */
#define relf(...)		qt_pathf(NULL, __VA_ARGS__)	/* static */

/* Messages: a temporary file of the content, and the commit. */
int	tmp_message(const char *content, size_t len);
uint32_t make_message(struct qfp *, const char *content, int nevp,
	    uint64_t *evpids);
uint32_t make_message_seed(struct qfp *, const char *content, int nevp,
	    uint64_t *evpids, uint32_t seed);
char	*evp_text(uint32_t seed, size_t *len);	/* distinct bytes per seed */

/* Raw wire access, for what the client cannot or will not send. */
void	raw_send(struct qfp *, const void *buf, size_t len, int fd);
void	raw_hdr(unsigned char out[IMSG_HEADER_SIZE], enum imsg_dialect,
	    uint32_t type, size_t payload, int hasfd);
ssize_t	raw_recv(struct qfp *, void *buf, size_t len, int *fd);

#endif
