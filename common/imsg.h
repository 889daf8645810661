/*
 * imsg framing, wire-compatible with both dialects smtpd speaks:
 *
 *  A (OpenSMTPD portable <= 7.6): u32 type; u16 len; u16 flags; u32 peerid;
 *    u32 pid -- flags & 0x0001 means "an fd travels with this message".
 *  B (OpenSMTPD portable >= 7.7): u32 type; u32 len; u32 peerid; u32 pid --
 *    len & 0x80000000 means "an fd travels with this message".
 *
 * Messages without an fd are byte-identical in both, and since a message
 * is at most 16384 bytes the u32 at offset 4 tells the two apart when one
 * does carry an fd, so the reader accepts both at once and reports which
 * dialect flagged each fd.  Only the writer of fd-carrying messages has
 * to choose.
 */
#ifndef QFP_IMSG_H
#define QFP_IMSG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#define IMSG_HEADER_SIZE	16
#define MAX_IMSGSIZE		16384
#define IMSG_DATA_MAX		(MAX_IMSGSIZE - IMSG_HEADER_SIZE)

#define IMSGF_HASFD		0x0001		/* dialect A flag */
#define IMSG_FD_MARK		0x80000000U	/* dialect B len mark */

#define IMSGBUF_MAXFDS		16

enum imsg_dialect {
	IMSG_DIALECT_UNKNOWN = 0,
	IMSG_DIALECT_A,
	IMSG_DIALECT_B,
};

struct imsg_hdr {
	uint32_t	type;
	uint32_t	len;		/* header + payload, mark removed */
	uint32_t	peerid;
	uint32_t	pid;
};

struct imsg {
	struct imsg_hdr	 hdr;
	const void	*data;		/* valid until the next read or get */
	size_t		 datalen;
	int		 fd;		/* -1: none; owned by the caller */
	enum imsg_dialect fd_dialect;	/* dialect whose mark carried fd */
	int		 unclaimed_fd;	/* an fd came with it unannounced */
};

/* An fd received, with the stream bytes it arrived with. */
struct imsg_rfd {
	int		 fd;
	uint64_t	 start;		/* stream offset of the chunk */
	uint64_t	 end;
};

struct imsgbuf {
	int		 fd;
	enum imsg_dialect dialect;	/* how to frame fd-carrying writes */
	uint32_t	 pid;
	unsigned char	 rbuf[2 * MAX_IMSGSIZE];
	size_t		 rpos;		/* first unparsed byte */
	size_t		 rlen;		/* bytes in rbuf */
	uint64_t	 roff;		/* stream offset of rbuf[rpos] */
	struct imsg_rfd	 fds[IMSGBUF_MAXFDS];
	size_t		 nfds;
	unsigned long	 stray_fds;	/* fds closed because nobody claimed them */
	int		 eof;		/* the peer closed: nothing more comes */
};

void	imsgbuf_init(struct imsgbuf *, int fd, enum imsg_dialect);
ssize_t	imsgbuf_read(struct imsgbuf *);
int	imsgbuf_get(struct imsgbuf *, struct imsg *);
void	imsgbuf_clear(struct imsgbuf *);
int	imsg_send(struct imsgbuf *, uint32_t type, const void *data,
	    size_t len, int fd);
int	imsg_sendv(struct imsgbuf *, uint32_t type, const struct iovec *iov,
	    int iovcnt, int fd);
size_t	imsg_hdr_encode(enum imsg_dialect, uint32_t type, size_t len,
	    uint32_t pid, int hasfd, unsigned char out[IMSG_HEADER_SIZE]);
const char *imsg_dialect_name(enum imsg_dialect);

#endif
