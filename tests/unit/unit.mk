# Unit tests (cmocka): the imsg framing, the proc-queue codec and client
# (test_imsg, test_codec, test_vectors, test_client), and in process on
# a temporary spool as an unprivileged user, the store, the walk, the
# id set and the spool check (test_store, test_walk, test_idset,
# test_check; see unit_spool.h), and the envelopes the store holds in
# memory (test_evcache), the write-ahead log's replay (test_wal), the start
# after each kind of incident (test_recover) and a failed barrier
# (test_barrier).  Included by the top Makefile.
UNIT_PROGS =	tests/unit/test_imsg tests/unit/test_codec \
		tests/unit/test_vectors tests/unit/test_client \
		tests/unit/test_store tests/unit/test_walk \
		tests/unit/test_idset tests/unit/test_check \
		tests/unit/test_evcache tests/unit/test_wal \
		tests/unit/test_recover tests/unit/test_barrier

UNIT_LINK =	$(TEST_LIBS)
# test_barrier fails the Nth fsync, fdatasync or syncfs of the store
tests/unit/test_barrier: UNIT_LINK += \
		-Wl,--wrap=fsync,--wrap=fdatasync,--wrap=syncfs
# test_recover fails the reads of one log file (an unreadable log)
tests/unit/test_recover: UNIT_LINK += -Wl,--wrap=pread
UNIT_DEPS =	tests/unit/unit_util.c tests/unit/unit_util.h \
		tests/unit/unit_spool.c tests/unit/unit_spool.h $(QT_DEPS) \
		common/*.h proto/*.h queue-fs-proc/*.h

# tests/lib for its raw socket send and receive (qt_send_fds, qt_recv)
# and for the test user (qt_setup).
$(UNIT_PROGS): tests/unit/%: tests/unit/%.c $(UNIT_DEPS) $(LIBQFP)
	$(CC) $(CPPFLAGS) $(QT_CPPFLAGS) $(ALL_CFLAGS) -o $@ $< \
	    tests/unit/unit_util.c tests/unit/unit_spool.c $(QT_SRCS) \
	    $(UNIT_LINK) -lcmocka -pthread $(LDFLAGS)
