#!/bin/bash
# The daemon under valgrind (memcheck): conformance-like lifecycles with
# the requests that must fail, a walk after a restart, -S full and
# -S none, framing A and B.  valgrind's exit code 2 on any error or
# definite/indirect leak becomes the daemon's, which tests/lib/qfp-drive
# checks.
#
# -X (no system call filter) is needed here and only here: valgrind runs inside the
# daemon's process and makes system calls of its own (executable
# mappings for the code it translates, gettid/tgkill for its signal
# machinery, /proc reads), and the seccomp filter the daemon loads would
# apply to valgrind too.  (Debian 12's valgrind 3.19 does not even know
# seccomp(2) or openat2(2): without -X the daemon refuses to start with
# "cannot enter the sandbox"; with it, the store takes its openat()
# fallback.)  The privilege drop, the chroot and the rest of the sandbox
# (no new privileges, no capabilities, no fork, no core) still happen.
# Run as root from the top directory (make check-hardening does).
cd "$(dirname "$0")/../.." || exit 1
if ! command -v valgrind >/dev/null; then
	echo "FAIL: valgrind: not installed (tests/deps.sh installs it)"
	exit 1
fi
make -s queue-fs-proc/queue-fs-proc tests/lib/qfp-drive || exit 1
export QFP_WRAPPER="valgrind -q --error-exitcode=2 --leak-check=full \
--show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
--track-origins=yes"
./tests/lib/qfp-drive -t valgrind-full-A -n 10 -f -w -S \
    -o "-X -S full -F A" lifecycles
./tests/lib/qfp-drive -t valgrind-none-B -n 10 -f -w -b \
    -o "-X -S none -F B" lifecycles
exit 0
