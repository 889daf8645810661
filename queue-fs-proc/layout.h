/*
 * The spool layout: every name and path of the spool is made by one
 * function here, into a buffer type sized for it, and every name read
 * from the spool is parsed by one function here.  Relative to the spool
 * (the daemon's root once chrooted):
 *
 *	queue/XX/MSGID/message		message content (XX: msgid >> 24)
 *	queue/XX/MSGID/EVPID		one file per envelope
 *	incoming/MSGID/...		a message being received
 *	incoming/envelope.tmp		an envelope being written
 *	temporary/MSGID			smtpd's own file of a message being
 *					received (smtpd writes it, not us)
 *	corrupt/NAME[.N]		what was found broken
 *	purge/incoming.RANDOM.NAME	what incoming/ held at start
 *	fs-proc/log.0, log.1		the write-ahead log (wal.h), which
 *					the built-in queue leaves alone
 *
 * A maker returns its buffer's string, so that it can be passed on at
 * once: open_dir(fd, layout_msgdir(msgid, &p)).
 */
#ifndef QFP_LAYOUT_H
#define QFP_LAYOUT_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#define LAYOUT_QUEUE		"queue"
#define LAYOUT_INCOMING		"incoming"
#define LAYOUT_CORRUPT		"corrupt"
#define LAYOUT_PURGE		"purge"
#define LAYOUT_TEMPORARY	"temporary"
#define LAYOUT_WAL		"fs-proc"	/* our log: wal.h */
#define LAYOUT_MESSAGE		"message"	/* in a message dir */
#define LAYOUT_EVP_TMP		"envelope.tmp"	/* in incoming/ */

#define LAYOUT_BUCKET_DIGITS	2
#define LAYOUT_MSGID_DIGITS	8
#define LAYOUT_EVPID_DIGITS	16

/* Tries at a free name in corrupt/: NAME, NAME.1, ... NAME.99. */
#define LAYOUT_CORRUPT_TRIES	100
/* Tries at an unused random msgid or evpid before giving up. */
#define LAYOUT_ID_TRIES		20

/* "XX", a bucket in queue/ */
struct layout_bucket	{ char s[LAYOUT_BUCKET_DIGITS + 1]; };
/* "MSGID", a message directory in its bucket or in incoming/ */
struct layout_msgname	{ char s[LAYOUT_MSGID_DIGITS + 1]; };
/* "XX/MSGID", a message directory relative to queue/ */
struct layout_msgdir	{ char s[LAYOUT_BUCKET_DIGITS + 1 +
			    LAYOUT_MSGID_DIGITS + 1]; };
/* "XX/MSGID/message", relative to queue/ */
struct layout_msgfile	{ char s[sizeof(struct layout_msgdir) +
			    sizeof(LAYOUT_MESSAGE)]; };
/* "temporary/MSGID", relative to the spool */
struct layout_tmpfile	{ char s[sizeof(LAYOUT_TEMPORARY) +
			    LAYOUT_MSGID_DIGITS + 1]; };
/* "EVPID", an envelope in its message directory */
struct layout_evpname	{ char s[LAYOUT_EVPID_DIGITS + 1]; };
/* "XX/MSGID/EVPID", relative to queue/ */
struct layout_evppath	{ char s[sizeof(struct layout_msgdir) +
			    LAYOUT_EVPID_DIGITS + 1]; };
/* "MSGID/EVPID", an incoming envelope relative to incoming/ */
struct layout_inevp	{ char s[LAYOUT_MSGID_DIGITS + 1 +
			    LAYOUT_EVPID_DIGITS + 1]; };
/* "NAME" or "NAME.N" in corrupt/ (NAME: a directory entry's name) */
struct layout_corrupt	{ char s[NAME_MAX + sizeof(".99")]; };
/* "incoming.RANDOM.NAME" in purge/ */
struct layout_purge	{ char s[sizeof("incoming.4294967295.") +
			    NAME_MAX]; };

/* A random non-zero id half: a msgid, or the low half of an evpid. */
uint32_t	 layout_random_id(void);

const char	*layout_bucket(uint32_t msgid, struct layout_bucket *);
const char	*layout_msgname(uint32_t msgid, struct layout_msgname *);
const char	*layout_msgdir(uint32_t msgid, struct layout_msgdir *);
const char	*layout_msgfile(uint32_t msgid, struct layout_msgfile *);
const char	*layout_tmpfile(uint32_t msgid, struct layout_tmpfile *);
const char	*layout_evpname(uint64_t evpid, struct layout_evpname *);
const char	*layout_evppath(uint64_t evpid, struct layout_evppath *);
const char	*layout_inevp(uint64_t evpid, struct layout_inevp *);
const char	*layout_corrupt(const char *name, int try,
		    struct layout_corrupt *);
const char	*layout_purge(const char *name, uint32_t rnd,
		    struct layout_purge *);

int	layout_is_hex(const char *name, size_t digits);
int	layout_is_dot(const char *name);
int	layout_parse_bucket(const char *name, uint32_t *top);
int	layout_parse_msgname(const char *name, uint32_t top,
	    uint32_t *msgid);
int	layout_is_evpname(const char *name, uint32_t msgid);
int	layout_parse_evpname(const char *name, uint32_t msgid,
	    uint64_t *evpid);

#endif
