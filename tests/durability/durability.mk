# Durability suite (kill, ordering, full disk, hostile spool, real
# smtpd): included by the top Makefile.  DURABILITY_PROGS are run by
# check-durability; fulldisk is the program test-fulldisk.sh runs on
# the file systems it mounts, and test-ordering.sh drives the daemon
# with tests/lib's qfp-drive.
DURABILITY_PROGS =	tests/durability/killtest tests/durability/hostile
DURABILITY_HELPERS =	tests/durability/fulldisk
DURABILITY_DEPS =	tests/durability/dur.c tests/durability/dur.h \
			$(QT_DEPS) common/imsg.h proto/proc_queue.h \
			proto/pq_client.h

$(DURABILITY_PROGS) $(DURABILITY_HELPERS): tests/durability/%: \
    tests/durability/%.c $(DURABILITY_DEPS) $(LIBQFP)
	$(CC) $(CPPFLAGS) -Itests/durability $(QT_CPPFLAGS) $(ALL_CFLAGS) \
	    -o $@ $< tests/durability/dur.c $(QT_SRCS) $(TEST_LIBS) -pthread \
	    $(LDFLAGS)

check-durability: $(DURABILITY_HELPERS) $(QT_DRIVE)
clean: clean-durability
clean-durability:
	rm -f $(DURABILITY_HELPERS)
.PHONY: clean-durability
