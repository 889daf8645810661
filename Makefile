# queue-fs-proc: an external queue for OpenSMTPD (smtpd -B queue=fs-proc).
#
#   make            build queue-fs-proc/queue-fs-proc
#   make check      install test dependencies (Debian), build, run every test
#   make check-debian13  build and test in a Debian 13 root (debootstrap)
#   make demo       run smtpd with the helper on 127.0.0.1:2525 and show a mail
#   make bench      benchmarks
#   make install    install the helper, its man page and the systemd
#                   drop-in for opensmtpd.service

PREFIX ?=	/usr
LIBEXECDIR ?=	$(PREFIX)/libexec/opensmtpd
MANDIR ?=	$(PREFIX)/share/man
# The drop-in goes where systemd.pc says units go (Debian 12:
# /lib/systemd/system, from systemd; 13: /usr/lib/systemd/system, from
# systemd-dev), whatever PREFIX: it is opensmtpd.service's.
SYSTEMDUNITDIR != pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo /lib/systemd/system
DROPINDIR =	$(SYSTEMDUNITDIR)/opensmtpd.service.d
DESTDIR ?=

CC ?=		cc
CFLAGS ?=	-O2 -g
WARN =		-Wall -Wextra -Wshadow -Wpointer-arith -Wstrict-prototypes \
		-Wmissing-prototypes -Wno-unused-parameter \
		-Werror=implicit-function-declaration
# Every warning is an error with WERROR=1, and in CI (CI=true).
WERROR ?=	$(if $(filter true,$(CI)),1,0)
WARN +=		$(if $(filter 1,$(WERROR)),-Werror)
# pkg-config runs when make reads this file: targets that install the
# packages first (check, demo, bench) build in a sub-make.
PKG_CFLAGS !=	pkg-config --cflags libevent libbsd-overlay libseccomp 2>/dev/null || true
PKG_LIBS !=	pkg-config --libs libevent libbsd-overlay libseccomp 2>/dev/null || echo -levent -lbsd -lseccomp
CPPFLAGS +=	-D_GNU_SOURCE -Icommon -Iproto -Iqueue-fs-proc $(PKG_CFLAGS)
ALL_CFLAGS =	-std=c11 $(WARN) $(CFLAGS)

COMMON_SRCS =	common/imsg.c common/log.c
PROTO_SRCS =	proto/proc_queue.c proto/pq_client.c
# Everything of the daemon but main(): tests and benchmarks link it too.
STORE_SRCS =	queue-fs-proc/store.c queue-fs-proc/records.c \
		queue-fs-proc/recover.c \
		queue-fs-proc/wal.c queue-fs-proc/walk.c \
		queue-fs-proc/layout.c queue-fs-proc/safeio.c \
		queue-fs-proc/msgdir.c queue-fs-proc/deferred.c \
		queue-fs-proc/evcache.c \
		queue-fs-proc/idset.c \
		queue-fs-proc/spool.c queue-fs-proc/dispatch.c \
		queue-fs-proc/framing.c queue-fs-proc/stats.c queue-fs-proc/check.c
DAEMON_SRCS =	queue-fs-proc/main.c queue-fs-proc/sandbox.c

LIB_OBJS =	$(COMMON_SRCS:.c=.o) $(PROTO_SRCS:.c=.o) $(STORE_SRCS:.c=.o)
DAEMON =	queue-fs-proc/queue-fs-proc
LIBQFP =	libqfp.a

all: $(DAEMON)

%.o: %.c common/*.h proto/*.h queue-fs-proc/*.h
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

$(LIBQFP): $(LIB_OBJS)
	rm -f $@
	ar rcs $@ $(LIB_OBJS)

$(DAEMON): $(DAEMON_SRCS:.c=.o) $(LIBQFP)
	$(CC) $(ALL_CFLAGS) -o $@ $(DAEMON_SRCS:.c=.o) $(LIBQFP) $(PKG_LIBS) $(LDFLAGS)

# ---- tests -------------------------------------------------------------
# Each test directory has a Makefile fragment that adds to TEST_PROGS
# (programs run by check-unit/check-conformance) and their build rules.
TEST_LIBS =	$(LIBQFP) $(PKG_LIBS)
include tests/lib/lib.mk
include tests/unit/unit.mk
include tests/conformance/conformance.mk
# Fragments of later suites; each sets its *_PROGS and build rules.
-include tests/durability/durability.mk
-include tests/hardening/hardening.mk
-include tests/fuzz/fuzz.mk
-include tests/operator/operator.mk
-include tests/powercut/powercut.mk
-include bench/bench.mk

deps:
	sh tests/deps.sh

check: deps
	$(MAKE) all
	sh tests/run-all.sh

# smtpd with the helper on 127.0.0.1:2525 in a private network namespace:
# one mail delivered, one queued for a relay that is down, then stopped.
demo: deps
	$(MAKE) all
	bash tests/e2e/demo.sh

check-unit: $(UNIT_PROGS)
	sh tests/run-suite.sh unit $(UNIT_PROGS)

check-conformance: $(DAEMON) $(CONFORMANCE_PROGS)
	sh tests/run-suite.sh conformance $(CONFORMANCE_PROGS)

# End-to-end tests drive Debian's real smtpd; they share its fixed spool
# and control socket, so run-suite.sh runs them one at a time.
check-e2e: $(DAEMON)
	sh tests/run-suite.sh e2e tests/e2e/test-*.sh

# Durability (kill, ordering, full disk, hostile spool) and hardening
# (privileges, sandbox) suites: C programs plus test-*.sh scripts.
check-durability: $(DAEMON) $(DURABILITY_PROGS)
	sh tests/run-suite.sh durability $(DURABILITY_PROGS) \
	    $(wildcard tests/durability/test-*.sh)

check-hardening: $(DAEMON) $(HARDENING_PROGS)
	sh tests/run-suite.sh hardening $(HARDENING_PROGS) \
	    $(wildcard tests/hardening/test-*.sh)

# Power cuts under Debian's real smtpd: every write and flush of the
# spool's disk recorded through a FUSE file under a loop device, crash
# images cut at the flushes, each restarted with the helper; controls
# that must lose mail (tests/powercut/README).
check-powercut: $(DAEMON) $(POWERCUT_PROGS)
	sh tests/run-suite.sh powercut tests/powercut/test-powercut.sh

# Debian sid's opensmtpd (7.7 and later: imsg dialect B), from its source
# package, built twice under /var/cache/qfp: as released a proc queue
# cannot deliver (the test of the test); with contrib/'s patch the e2e
# scenario passes.
check-upstream: $(DAEMON)
	sh tests/run-suite.sh upstream tests/upstream/build.sh \
	    tests/upstream/test-unpatched.sh tests/upstream/test-patched.sh

# The man page must be mandoc-lint clean (warnings count as failures).
check-man:
	sh tests/run-suite.sh man tests/man/test-lint.sh

# make demo, then the unit, conformance, e2e and asan suites in a Debian
# 13 root file system (made once with debootstrap, cached in
# /var/cache/qfp/trixie), built with its gcc and -Werror, against its
# own opensmtpd.
check-debian13:
	bash tests/debian13/run.sh

install: $(DAEMON)
	install -d $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(DAEMON) $(DESTDIR)$(LIBEXECDIR)/queue-fs-proc
	install -m 0644 man/queue-fs-proc.8 $(DESTDIR)$(MANDIR)/man8/queue-fs-proc.8
	install -d $(DESTDIR)$(DROPINDIR)
	sed 's|/usr/libexec/opensmtpd/|$(LIBEXECDIR)/|' systemd/queue-fs-proc.conf \
	    > $(DESTDIR)$(DROPINDIR)/queue-fs-proc.conf
	chmod 0644 $(DESTDIR)$(DROPINDIR)/queue-fs-proc.conf

uninstall:
	rm -f $(DESTDIR)$(LIBEXECDIR)/queue-fs-proc
	rm -f $(DESTDIR)$(MANDIR)/man8/queue-fs-proc.8
	rm -f $(DESTDIR)$(DROPINDIR)/queue-fs-proc.conf
	rmdir $(DESTDIR)$(DROPINDIR) 2>/dev/null || true

clean:
	rm -f $(LIB_OBJS) $(DAEMON_SRCS:.c=.o) $(DAEMON) $(LIBQFP) \
	    $(UNIT_PROGS) $(CONFORMANCE_PROGS) $(DURABILITY_PROGS) \
	    $(HARDENING_PROGS) $(BENCH_PROGS)

.PHONY: all deps check demo check-unit check-conformance check-e2e \
	check-durability check-hardening check-powercut check-upstream \
	check-man \
	check-debian13 \
	install uninstall clean
