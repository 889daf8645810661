# Fuzzing (libFuzzer) and sanitizer builds.  Included by the top Makefile.
#
#   make fuzz [FUZZ_SECONDS=60]   build the harnesses, run each one
#   make fuzz-seeds               remake tests/fuzz/corpus/ from the vectors
#   make fuzz-regress             each harness once over its seeds and
#                                 the saved crashes (a quick regression)
#   make check-asan               unit + conformance suites under ASan/UBSan
#   make check-valgrind           the daemon under valgrind (see the script)
#
# Each harness runs for FUZZ_SECONDS with the committed seeds of
# tests/fuzz/corpus/<harness>/ and a work corpus in $(FUZZ_WORK)/<harness>
# (not committed); a crash is saved as tests/fuzz/crashes/<harness>-*.
FUZZ_CC ?=	clang
FUZZ_SECONDS ?=	60
FUZZ_WORK ?=	tests/fuzz/work
FUZZ_VECTORS ?=	tests/vectors
FUZZ_FLAGS =	-g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_RUNFLAGS =	-max_len=40000 -timeout=20 -rss_limit_mb=4096 \
		-print_final_stats=1
FUZZ_HARNESSES = fuzz_imsg fuzz_dispatch
FUZZ_PROGS =	$(FUZZ_HARNESSES:%=tests/fuzz/%)
# Everything the dispatch harness runs, with tests/fuzz/fuzz_log.c in
# place of common/log.c.
FUZZ_DISPATCH_SRCS = common/imsg.c proto/proc_queue.c \
		queue-fs-proc/dispatch.c queue-fs-proc/store.c \
		queue-fs-proc/walk.c queue-fs-proc/layout.c \
		queue-fs-proc/safeio.c queue-fs-proc/msgdir.c \
		queue-fs-proc/deferred.c \
		queue-fs-proc/idset.c queue-fs-proc/framing.c \
		queue-fs-proc/stats.c tests/fuzz/fuzz_log.c

# Both harnesses check that no input leaks an fd (fuzz_fds.c).
FUZZ_FDS =	tests/fuzz/fuzz_fds.c tests/fuzz/fuzz_fds.h

tests/fuzz/fuzz_imsg: tests/fuzz/fuzz_imsg.c common/imsg.c common/imsg.h \
    $(FUZZ_FDS)
	$(FUZZ_CC) $(CPPFLAGS) -Itests/fuzz $(FUZZ_FLAGS) -o $@ \
	    tests/fuzz/fuzz_imsg.c tests/fuzz/fuzz_fds.c common/imsg.c

tests/fuzz/fuzz_dispatch: tests/fuzz/fuzz_dispatch.c $(FUZZ_DISPATCH_SRCS) \
    $(FUZZ_FDS) common/*.h proto/*.h queue-fs-proc/*.h
	$(FUZZ_CC) $(CPPFLAGS) -Itests/fuzz $(FUZZ_FLAGS) -o $@ \
	    tests/fuzz/fuzz_dispatch.c tests/fuzz/fuzz_fds.c \
	    $(FUZZ_DISPATCH_SRCS) $(PKG_LIBS)

fuzz-build: $(FUZZ_PROGS)

fuzz: $(FUZZ_PROGS)
	@mkdir -p tests/fuzz/crashes
	@for h in $(FUZZ_HARNESSES); do \
		mkdir -p $(FUZZ_WORK)/$$h; \
		echo "== fuzz: $$h for $(FUZZ_SECONDS)s"; \
		./tests/fuzz/$$h $(FUZZ_RUNFLAGS) \
		    -max_total_time=$(FUZZ_SECONDS) \
		    -artifact_prefix=tests/fuzz/crashes/$$h- \
		    $(FUZZ_WORK)/$$h tests/fuzz/corpus/$$h \
		    || { echo "FAIL: fuzz $$h (see tests/fuzz/crashes/)"; \
		    exit 1; }; \
		echo "PASS: fuzz $$h"; \
	done

fuzz-seeds:
	python3 tests/fuzz/mkseeds.py $(FUZZ_VECTORS) tests/fuzz/corpus

fuzz-regress: $(FUZZ_PROGS)
	@for h in $(FUZZ_HARNESSES); do \
		./tests/fuzz/$$h -runs=0 tests/fuzz/corpus/$$h \
		    $$(ls tests/fuzz/crashes/$$h-* 2>/dev/null) >/dev/null \
		    2>&1 && echo "PASS: fuzz-regress $$h" || \
		    echo "FAIL: fuzz-regress $$h"; \
	done

# Unit and conformance suites with every object built with ASan and
# UBSan: the tree is cleaned before and after, so no sanitizer object is
# left for a plain make to link.  LeakSanitizer stays on for the unit
# tests; it is off for the conformance run, since the daemon exits inside
# its sandbox, where LSan cannot stop the world (no ptrace, no clone):
# the daemon's leaks are valgrind's job (check-valgrind).  Results go to
# $(RESULTS) like every suite's, as "unit" and "conformance" lines.
ASAN_CFLAGS =	-O1 -g -fsanitize=address,undefined \
		-fno-sanitize-recover=undefined -fno-omit-frame-pointer
ASAN_MAKE =	$(MAKE) CC=$(FUZZ_CC) CFLAGS="$(ASAN_CFLAGS)" \
		LDFLAGS="-fsanitize=address,undefined"
check-asan:
	$(MAKE) clean
	rc=0; \
	$(ASAN_MAKE) all check-unit || rc=1; \
	ASAN_OPTIONS=detect_leaks=0 $(ASAN_MAKE) check-conformance || rc=1; \
	$(MAKE) clean; exit $$rc

check-valgrind: $(DAEMON) $(QT_DRIVE)
	sh tests/run-suite.sh valgrind tests/hardening/test-valgrind.sh

clean: clean-fuzz
clean-fuzz:
	rm -f $(FUZZ_PROGS)

.PHONY: fuzz fuzz-build fuzz-seeds fuzz-regress check-asan check-valgrind clean-fuzz
