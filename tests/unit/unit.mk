# Unit tests (cmocka) of the imsg framing, the proc-queue codec and the
# proc-queue client.  Included by the top Makefile.
UNIT_PROGS =	tests/unit/test_imsg tests/unit/test_codec \
		tests/unit/test_vectors tests/unit/test_client

# The tests exercise common/ and proto/ only, through libqfp.a.  Should
# the store ever keep libqfp.a from building, UNIT_LINK =
# common/imsg.c proto/proc_queue.c proto/pq_client.c builds them without
# it (the sources are compiled in directly).
UNIT_LINK =	$(TEST_LIBS)
UNIT_DEPS =	tests/unit/unit_util.c tests/unit/unit_util.h \
		common/imsg.h proto/proc_queue.h proto/pq_client.h

$(UNIT_PROGS): tests/unit/%: tests/unit/%.c $(UNIT_DEPS) $(LIBQFP)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< tests/unit/unit_util.c \
	    $(UNIT_LINK) -lcmocka -pthread $(LDFLAGS)
