# The library every suite that runs the daemon shares: spool, log and
# file helpers (qfp_test), the one daemon handle (qt_daemon), the
# PASS/FAIL reporter of non-cmocka programs (qt_report) and the request
# workloads (qt_work).  Included by the top Makefile before the suites'
# fragments; each suite compiles QT_SRCS into its programs, so a
# sanitizer build (check-asan) instruments it too.
QT_SRCS =	tests/lib/qfp_test.c tests/lib/qt_daemon.c \
		tests/lib/qt_report.c tests/lib/qt_work.c
QT_DEPS =	$(QT_SRCS) tests/lib/qfp_test.h tests/lib/qt_daemon.h \
		tests/lib/qt_report.h tests/lib/qt_work.h
QT_CPPFLAGS =	-Itests/lib

# The one command-line driver of the test scripts and the benchmarks.
QT_DRIVE =	tests/lib/qfp-drive

$(QT_DRIVE): tests/lib/qfp-drive.c $(QT_DEPS) $(LIBQFP)
	$(CC) $(CPPFLAGS) $(QT_CPPFLAGS) $(ALL_CFLAGS) -o $@ \
	    tests/lib/qfp-drive.c $(QT_SRCS) $(TEST_LIBS) $(LDFLAGS)

clean: clean-lib
clean-lib:
	rm -f $(QT_DRIVE)
.PHONY: clean-lib
