# Unit tests (cmocka) of the imsg framing, the proc-queue codec and the
# proc-queue client.  Included by the top Makefile.
UNIT_PROGS =	tests/unit/test_imsg tests/unit/test_codec \
		tests/unit/test_vectors tests/unit/test_client

# What the tests link against.  They exercise common/ and proto/ only,
# so they compile those sources in directly rather than link libqfp.a:
# that keeps them building while the daemon's store does not.  Once
# libqfp.a builds, UNIT_LINK = $(LIBQFP) and UNIT_LDLIBS = $(PKG_LIBS)
# work too.
UNIT_LINK =	common/imsg.c proto/proc_queue.c proto/pq_client.c
UNIT_LDLIBS =
UNIT_DEPS =	tests/unit/unit_util.c tests/unit/unit_util.h \
		common/imsg.h proto/proc_queue.h proto/pq_client.h

$(UNIT_PROGS): tests/unit/%: tests/unit/%.c $(UNIT_DEPS) $(UNIT_LINK)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< tests/unit/unit_util.c \
	    $(UNIT_LINK) $(UNIT_LDLIBS) -lcmocka -pthread $(LDFLAGS)
