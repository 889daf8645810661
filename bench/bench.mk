# Benchmarks (see bench/README.md).  Included by the top Makefile.
#   make bench                      both benchmarks, default sizes
#   make bench BENCH_ARGS=--big     qfp-bench with a 1,000,000-envelope walk
#   make bench-qfp / bench-e2e      one of them
BENCH_PROGS =	bench/qfp-bench
BENCH_ARGS ?=
E2E_BENCH_ARGS ?=

bench/qfp-bench: bench/qfp-bench.c $(LIBQFP)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ bench/qfp-bench.c $(TEST_LIBS) \
	    $(LDFLAGS)

bench: deps
	$(MAKE) $(DAEMON) $(BENCH_PROGS)
	./bench/qfp-bench $(BENCH_ARGS)
	bash bench/e2e-bench.sh $(E2E_BENCH_ARGS)

bench-qfp: $(DAEMON) $(BENCH_PROGS)
	./bench/qfp-bench $(BENCH_ARGS)

bench-e2e: $(DAEMON)
	bash bench/e2e-bench.sh $(E2E_BENCH_ARGS)

.PHONY: bench bench-qfp bench-e2e
