# Conformance tests (cmocka): the real queue-fs-proc binary, started as
# smtpd starts it, driven through proto/pq_client.  Included by the top
# Makefile; run as root (the daemon chroots and drops privileges).
CONFORMANCE_PROGS =	tests/conformance/test_requests \
			tests/conformance/test_malformed \
			tests/conformance/test_walk \
			tests/conformance/test_framing \
			tests/conformance/test_guess

CONFORMANCE_DEPS =	tests/conformance/harness.c \
			tests/conformance/harness.h \
			tests/conformance/common.h \
			tests/conformance/framing.h $(QT_DEPS) $(LIBQFP)

$(CONFORMANCE_PROGS): tests/conformance/%: tests/conformance/%.c \
    $(CONFORMANCE_DEPS)
	$(CC) $(CPPFLAGS) $(QT_CPPFLAGS) $(ALL_CFLAGS) -o $@ $< \
	    tests/conformance/harness.c $(QT_SRCS) $(TEST_LIBS) -lcmocka \
	    $(LDFLAGS)
