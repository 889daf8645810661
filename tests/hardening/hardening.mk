# Hardening suite: privileges, sandbox, spool checks, fd leaks, valgrind.
# Included by the top Makefile; make check-hardening runs HARDENING_PROGS
# and tests/hardening/test-*.sh (which drive the daemon with QT_DRIVE).
HARDENING_PROGS = tests/hardening/test_sandbox tests/hardening/test_filter \
		tests/hardening/test_spool
HARDENING_LIB =	tests/hardening/hlib.c $(QT_SRCS)
HARDENING_DEPS = $(HARDENING_LIB) tests/hardening/hlib.h $(QT_DEPS) \
		common/imsg.h proto/proc_queue.h proto/pq_client.h

check-hardening: $(QT_DRIVE)

tests/hardening/test_sandbox tests/hardening/test_spool: tests/hardening/%: \
    tests/hardening/%.c $(HARDENING_DEPS) $(LIBQFP)
	$(CC) $(CPPFLAGS) $(QT_CPPFLAGS) $(ALL_CFLAGS) -o $@ $< \
	    $(HARDENING_LIB) $(TEST_LIBS) -lcmocka $(LDFLAGS)

# The filter on its own: sandbox.c linked into a test program that drops
# to the queue user, enters the sandbox and tries what it must not do
# (hlib for reading /proc).
tests/hardening/test_filter: tests/hardening/test_filter.c \
    queue-fs-proc/sandbox.c queue-fs-proc/sandbox.h $(HARDENING_DEPS) \
    $(LIBQFP)
	$(CC) $(CPPFLAGS) $(QT_CPPFLAGS) $(ALL_CFLAGS) -o $@ $< \
	    queue-fs-proc/sandbox.c $(HARDENING_LIB) $(TEST_LIBS) -lcmocka \
	    $(LDFLAGS)
