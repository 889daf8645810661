# Unit tests (cmocka) of the imsg framing, the proc-queue codec, the
# proc-queue client and the store's work after the answer.  Included by
# the top Makefile.
UNIT_PROGS =	tests/unit/test_imsg tests/unit/test_codec \
		tests/unit/test_vectors tests/unit/test_client \
		tests/unit/test_deferred

# The tests exercise common/ and proto/ only, through libqfp.a.  Should
# the store ever keep libqfp.a from building, UNIT_LINK =
# common/imsg.c proto/proc_queue.c proto/pq_client.c builds them without
# it (the sources are compiled in directly).
UNIT_LINK =	$(TEST_LIBS)
UNIT_DEPS =	tests/unit/unit_util.c tests/unit/unit_util.h $(QT_DEPS) \
		common/imsg.h proto/proc_queue.h proto/pq_client.h

# tests/lib for its raw socket send and receive (qt_send_fds, qt_recv).
$(UNIT_PROGS): tests/unit/%: tests/unit/%.c $(UNIT_DEPS) $(LIBQFP)
	$(CC) $(CPPFLAGS) $(QT_CPPFLAGS) $(ALL_CFLAGS) -o $@ $< \
	    tests/unit/unit_util.c $(QT_SRCS) $(UNIT_LINK) -lcmocka -pthread \
	    $(LDFLAGS)
