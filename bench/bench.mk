# Benchmarks (see bench/README.md).  Included by the top Makefile.
#   make bench                      both benchmarks, default sizes
#   make bench BENCH_ARGS=--big     qfp-bench with a 1,000,000-envelope walk
#   make bench-qfp / bench-e2e      one of them
#   make bench-postfix              Postfix's rate, same load (not in bench)
#   make bench-quick                a short run of each (does it work?)
BENCH_PROGS =	bench/qfp-bench bench/fsync-probe bench/null-proc
BENCH_SRCS =	bench/qfp-bench.c bench/bench_backend.c bench/bench_stats.c \
		bench/bench_ingest.c bench/bench_walk.c
BENCH_ARGS ?=
E2E_BENCH_ARGS ?=
POSTFIX_BENCH_ARGS ?=

# tests/lib's daemon handle starts the daemon as the test suites do
bench/qfp-bench: $(BENCH_SRCS) bench/bench.h $(QT_DEPS) $(LIBQFP)
	$(CC) $(CPPFLAGS) $(QT_CPPFLAGS) $(ALL_CFLAGS) -o $@ $(BENCH_SRCS) \
	    $(QT_SRCS) $(TEST_LIBS) $(LDFLAGS)

# what one barrier costs on the spool's file system (e2e-bench runs it)
bench/fsync-probe: bench/fsync-probe.c
	$(CC) $(ALL_CFLAGS) -D_GNU_SOURCE -o $@ bench/fsync-probe.c $(LDFLAGS)

# the protocol's own cost: a helper that keeps nothing (e2e-bench's ceiling)
bench/null-proc: bench/null-proc.c $(LIBQFP)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ bench/null-proc.c $(LIBQFP) \
	    $(PKG_LIBS) $(LDFLAGS)

bench: deps
	$(MAKE) $(DAEMON) $(BENCH_PROGS)
	./bench/qfp-bench $(BENCH_ARGS)
	bash bench/e2e-bench.sh $(E2E_BENCH_ARGS)

bench-qfp: $(DAEMON) $(BENCH_PROGS)
	./bench/qfp-bench $(BENCH_ARGS)

bench-e2e: $(DAEMON) bench/fsync-probe bench/null-proc
	bash bench/e2e-bench.sh $(E2E_BENCH_ARGS)

# Postfix's own rate on the same load and file system (a Debian 12 root
# made once with debootstrap; see bench/README.md)
bench-postfix:
	bash bench/postfix-bench.sh $(POSTFIX_BENCH_ARGS)

bench-quick: $(DAEMON) $(BENCH_PROGS)
	./bench/qfp-bench --rootfs --pairs 1 --n-full 10 --n-none 20 \
	    --walk 2000 --walk-pairs 1 --pings 200
	bash bench/e2e-bench.sh --rootfs --pairs 1 --msgs 100 \
	    --modes durable --probe-n 100 --nb-msgs 50 --nb-mb 256 \
	    --barrier-msgs 10 --barrier-rcpts 1,10 --lc-pairs 1 \
	    --lc-modes durable

.PHONY: bench bench-qfp bench-e2e bench-postfix bench-quick
