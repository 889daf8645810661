/*
 * Requests in, answers out: decode each request, check it, run it on the
 * store, answer.  A request that cannot be decoded ends the daemon
 * (smtpd cannot recover from a broken peer either); everything else gets
 * a well-formed answer.
 */
#ifndef QFP_DISPATCH_H
#define QFP_DISPATCH_H

#include "framing.h"
#include "imsg.h"
#include "proc_queue.h"
#include "stats.h"
#include "store.h"

struct daemon {
	struct imsgbuf	 ib;
	struct store	 store;
	struct framing	 framing;
	struct stats	 stats;
	char		 evpbuf[PQ_EVP_MAX];
};

/* What daemon_input() says about the connection. */
enum input_state {
	INPUT_MORE,		/* wait for more bytes */
	INPUT_EOF,		/* peer closed: exit 0 */
	INPUT_BROKEN,		/* malformed or I/O error: exit 1 */
};

enum input_state daemon_input(struct daemon *);
int	dispatch(struct daemon *, struct imsg *);

#endif
