# Power-cut suite (tests/powercut/README): included by the top Makefile.
# blkfuse is the FUSE disk that records every write and flush;
# queue-fs-proc-nobarrier is the daemon with fsync, fdatasync and
# syncfs wrapped into no-ops, one of the suite's controls.
POWERCUT_PROGS =	tests/powercut/blkfuse \
			tests/powercut/queue-fs-proc-nobarrier
FUSE_CFLAGS !=	pkg-config --cflags fuse3 2>/dev/null || true
FUSE_LIBS !=	pkg-config --libs fuse3 2>/dev/null || echo -lfuse3 -lpthread

tests/powercut/blkfuse: tests/powercut/blkfuse.c
	$(CC) -D_GNU_SOURCE $(FUSE_CFLAGS) $(ALL_CFLAGS) -o $@ $< \
	    $(FUSE_LIBS) $(LDFLAGS)

tests/powercut/queue-fs-proc-nobarrier: tests/powercut/nobarrier.c \
    $(DAEMON_SRCS:.c=.o) $(LIBQFP)
	$(CC) $(ALL_CFLAGS) -Wl,--wrap=fsync,--wrap=fdatasync,--wrap=syncfs \
	    -o $@ $< $(DAEMON_SRCS:.c=.o) $(LIBQFP) $(PKG_LIBS) $(LDFLAGS)

clean: clean-powercut
clean-powercut:
	rm -f $(POWERCUT_PROGS)
.PHONY: clean-powercut
