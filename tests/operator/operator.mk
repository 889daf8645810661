# Operator tests: check mode (-n, -R), statistics (SIGUSR1 and exit),
# Debian package and make install/uninstall.  Included by the top
# Makefile; run as root.
#
# OPERATOR_PROGS are run by check-operator (they print PASS:/FAIL:
# lines); the test-*.sh scripts fill spools with tests/lib's qfp-drive.
OPERATOR_PROGS =	tests/operator/test_stats

$(OPERATOR_PROGS): tests/operator/%: tests/operator/%.c $(QT_DEPS) $(LIBQFP)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(QT_CPPFLAGS) -o $@ $< $(QT_SRCS) \
	    $(TEST_LIBS) $(LDFLAGS)

check-operator: $(DAEMON) $(OPERATOR_PROGS) $(QT_DRIVE)
	sh tests/run-suite.sh operator $(OPERATOR_PROGS) \
	    $(wildcard tests/operator/test-*.sh)

clean: clean-operator
clean-operator:
	rm -f $(OPERATOR_PROGS)

.PHONY: check-operator clean-operator
