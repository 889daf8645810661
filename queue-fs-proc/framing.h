/*
 * Which imsg dialect to frame fd-carrying answers in (MESSAGE_FD_R).
 * Requests tell: MESSAGE_COMMIT is the one request with an fd, and its
 * header says A or B.  Before the first commit (smtpd restarted with mail
 * queued sends MESSAGE_FD_R first) the dialect is taken from the version
 * string of the smtpd binary that started us, read at start-up: 7.7 and
 * later speak B, earlier ones A; A when it cannot be read.
 */
#ifndef QFP_FRAMING_H
#define QFP_FRAMING_H

#include "imsg.h"

enum framing_mode {
	FRAMING_AUTO,
	FRAMING_A,
	FRAMING_B,
};

struct framing {
	enum framing_mode mode;
	enum imsg_dialect peer_guess;	/* from the peer's binary */
	enum imsg_dialect seen;		/* from the last fd-carrying request */
	char		  peer_version[32];
};

int	framing_parse_mode(const char *, enum framing_mode *);
void	framing_init(struct framing *, enum framing_mode, pid_t peer);
enum imsg_dialect framing_version_dialect(const char *image, size_t len,
	    char *version, size_t versionsz);
void	framing_saw(struct framing *, enum imsg_dialect);
enum imsg_dialect framing_dialect(struct framing *);

#endif
