# Operator tests: check mode (-n, -R), statistics (SIGUSR1 and exit),
# Debian package and make install/uninstall.  Included by the top
# Makefile; run as root.
#
# OPERATOR_PROGS are run by check-operator (they print PASS:/FAIL:
# lines); OPERATOR_TOOLS are helpers the test-*.sh scripts use.
OPERATOR_PROGS =	tests/operator/test_stats
OPERATOR_TOOLS =	tests/operator/test_fill

OPERATOR_DEPS =		tests/operator/op_util.c tests/operator/op_util.h \
			$(QT_DEPS) $(LIBQFP)

$(OPERATOR_PROGS) $(OPERATOR_TOOLS): tests/operator/%: tests/operator/%.c \
    $(OPERATOR_DEPS)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -Itests/operator $(QT_CPPFLAGS) \
	    -o $@ $< tests/operator/op_util.c $(QT_SRCS) $(TEST_LIBS) \
	    $(LDFLAGS)

check-operator: $(DAEMON) $(OPERATOR_PROGS) $(OPERATOR_TOOLS)
	sh tests/run-suite.sh operator $(OPERATOR_PROGS) \
	    $(wildcard tests/operator/test-*.sh)

clean: clean-operator
clean-operator:
	rm -f $(OPERATOR_PROGS) $(OPERATOR_TOOLS)

.PHONY: check-operator clean-operator
