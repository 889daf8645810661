/*
 * Open file descriptors of the fuzz harness itself: every input must
 * leave as many open as there were before it.
 */
#ifndef QFP_FUZZ_FDS_H
#define QFP_FUZZ_FDS_H

int	fuzz_fd_count(void);
/* abort(), listing the open fds, if more or fewer than baseline are open */
void	fuzz_fd_check(const char *harness, int baseline);

#endif
