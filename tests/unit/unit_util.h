/*
 * Helpers shared by the unit tests: raw socket I/O that bypasses the
 * imsg code under test (so that the wire bytes can be checked by
 * something that does not share its bugs), and fd bookkeeping to prove
 * that no descriptor leaks.
 */
#ifndef QFP_UNIT_UTIL_H
#define QFP_UNIT_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "imsg.h"

void	 xsocketpair(int sv[2]);
void	 xpipe(int p[2]);
int	 xopen_null(void);

/* One sendmsg() of all of buf, with nfds fds as SCM_RIGHTS. */
void	 send_raw_fds(int s, const void *buf, size_t len, const int *fds,
	    int nfds);
/* Same, with one fd unless fd is -1. */
void	 send_raw(int s, const void *buf, size_t len, int fd);
/* Read exactly len bytes; *fd gets the first fd that came, or -1. */
void	 recv_raw(int s, void *buf, size_t len, int *fd);
/* 1 when nothing is waiting to be read on s. */
int	 nothing_pending(int s);

/*
 * Hand-built headers, independent of imsg_hdr_encode(): v is the u32
 * at offset 4 (length, with the dialect-B mark if any); mkhdr_a() puts
 * dialect A's u16 len and u16 flags there instead.
 */
void	 mkhdr(unsigned char out[IMSG_HEADER_SIZE], uint32_t type,
	    uint32_t v, uint32_t pid);
void	 mkhdr_a(unsigned char out[IMSG_HEADER_SIZE], uint32_t type,
	    uint16_t len, uint16_t flags, uint32_t pid);
/* The header smtpd of dialect d would send; hasfd adds its fd mark. */
void	 mkhdr_d(unsigned char out[IMSG_HEADER_SIZE], enum imsg_dialect d,
	    uint32_t type, uint32_t len, int hasfd, uint32_t pid);

/* imsgbuf_read() until imsgbuf_get() says something; returns that. */
int	 get_one(struct imsgbuf *, struct imsg *);

int	 count_fds(void);
int	 lowest_free_fd(void);
int	 fd_is_open(int fd);
int	 fd_is_cloexec(int fd);
int	 same_file(int a, int b);
/* 1 when the read end of the pipe whose write end is wfd is closed. */
int	 pipe_reader_gone(int wfd);

/* Decode hex into a malloc'ed buffer; returns its length, -1 if bad. */
ssize_t	 hex_decode(const char *hex, size_t hexlen, unsigned char **out);

#endif
