/*
 * Request workloads on a daemon started with qt_daemon: what the driver
 * (qfp-drive) runs for the scripts and what some C tests reuse.  Each
 * returns 0 (or a count of failed requests where said), or -1 with
 * qt_error set.
 */
#ifndef QT_WORK_H
#define QT_WORK_H

#include "qt_daemon.h"

/*
 * One message lifecycle: create, 2 envelopes while incoming, commit,
 * fd_r and compare, a third envelope once queued, load, update, load
 * again, delete all three (the message goes with the last one).  With
 * failures set, also the requests that must fail with r = 0 and leave
 * no trace: commit of an unknown msgid and of msgid 0, fd_r of an
 * unknown msgid, load and delete of unknown evpids, and a rollback
 * (create, envelope, delete).
 */
int	qw_lifecycle(struct qt_daemon *, unsigned seed, int failures);
/*
 * n messages with 2 envelopes each (kept), the daemon restarted, all
 * walked back and compared, then deleted.
 */
int	qw_walk_cycle(struct qt_daemon *, int n);
/*
 * The fixed sequence the ordering test traces, one line per answer:
 * 1. MESSAGE_CREATE, 3 ENVELOPE_CREATE while incoming, MESSAGE_COMMIT
 *    of a 5000-byte body as smtpd does it (its temporary/MSGID),
 *    ENVELOPE_CREATE on the committed message, ENVELOPE_UPDATE,
 *    ENVELOPE_LOAD, 4 ENVELOPE_DELETE (the message goes with the last);
 * 2. MESSAGE_CREATE, 2 envelopes, MESSAGE_COMMIT of a 100 KB body
 *    smtpd's way (over the log's inline limit), ENVELOPE_DELETE of one
 *    envelope, MESSAGE_DELETE of the queued message.
 * Returns the answers not r = 1.
 */
int	qw_sequence(struct qt_daemon *);
/*
 * One message of size bytes committed from a file outside the spool
 * (the daemon copies it): MESSAGE_CREATE, 1 envelope, MESSAGE_COMMIT,
 * ENVELOPE_DELETE.  Returns the answers not r = 1.
 */
int	qw_copied(struct qt_daemon *, size_t size);
/*
 * nmsg messages of nrcpt envelopes and bodylen bytes accepted (create,
 * envelopes, commit of a file outside the spool), then delivered (every
 * envelope deleted).  Returns the requests that failed.
 */
int	qw_count(struct qt_daemon *, int nrcpt, int nmsg, size_t bodylen);
/*
 * nmsg messages of nevp envelopes, created while incoming, committed;
 * "envelope EVPID" and "message MSGID" lines on stdout.
 */
int	qw_fill(struct qt_daemon *, int nmsg, int nevp);

#endif
