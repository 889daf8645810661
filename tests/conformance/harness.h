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
#include "qt_daemon.h"

#define QFP_USER	QT_USER
#define QFP_TIMEOUT_MS	5000	/* longest wait for an answer or an exit */

/*
 * A fresh work dir and a daemon on its spool with opts (NULL: none)
 * besides -d -s -u; the client speaks dialect and has sent INIT.
 */
struct qt_daemon *qfp_new(const char *opts, enum imsg_dialect dialect);
/* qd_free(): stop the daemon, remove the work dir (kept if QFP_KEEP=1). */
#define qfp_free(q)	qd_free(q)

void	qfp_start(struct qt_daemon *);	/* start a daemon, no INIT */
void	qfp_start_init(struct qt_daemon *);	/* start, then INIT */
void	qfp_wait_ready(struct qt_daemon *);	/* spool set up, no INIT */
void	qfp_restart(struct qt_daemon *);	/* stop (exit 0), start, INIT */
/*
 * The rest is tests/lib's: qd_stop() (exit code), qd_kill(),
 * qd_exit_code(), qd_alive(), qd_log_mark(), qd_log_has().
 */

/* Spool inspection; paths are relative to the spool (qt_pathf ring). */
#define spool_path(q, ...)	qt_pathf((q)->spool, __VA_ARGS__)
#define spool_exists(q, ...)	qt_exists(spool_path(q, __VA_ARGS__))
/* The file's bytes (NUL added, not counted), or NULL if unreadable. */
#define spool_read(q, len, ...)	\
	qt_read_file(spool_path(q, __VA_ARGS__), len)
/* entries, no dots */
int	spool_count(struct qt_daemon *, const char *dir);
int	spool_count_evps(struct qt_daemon *, uint32_t msgid);
int	spool_count_incoming(struct qt_daemon *);	/* non-empty entries */
char	*spool_listing(struct qt_daemon *);	/* one sorted line per entry */
#define msgdir(msgid)		qt_msgdir(msgid)	/* "queue/XX/MSGID" */
#define relf(...)		qt_pathf(NULL, __VA_ARGS__)	/* static */

/* Messages: a temporary file of the content, and the commit. */
int	tmp_message(const char *content, size_t len);
uint32_t make_message(struct qt_daemon *, const char *content, int nevp,
	    uint64_t *evpids);
uint32_t make_message_seed(struct qt_daemon *, const char *content, int nevp,
	    uint64_t *evpids, uint32_t seed);
char	*evp_text(uint32_t seed, size_t *len);	/* distinct bytes per seed */

/* Raw wire access, for what the client cannot or will not send. */
void	raw_send(struct qt_daemon *, const void *buf, size_t len, int fd);
void	raw_hdr(unsigned char out[IMSG_HEADER_SIZE], enum imsg_dialect,
	    uint32_t type, size_t payload, int hasfd);
ssize_t	raw_recv(struct qt_daemon *, void *buf, size_t len, int *fd);

#endif
