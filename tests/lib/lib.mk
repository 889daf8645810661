# The library every suite that runs the daemon shares (start, stop,
# kill, spool, log and file helpers).  Included by the top Makefile
# before the suites' fragments; each suite compiles QT_SRCS into its
# programs, so a sanitizer build (check-asan) instruments it too.
QT_SRCS =	tests/lib/qfp_test.c
QT_DEPS =	$(QT_SRCS) tests/lib/qfp_test.h
QT_CPPFLAGS =	-Itests/lib
