#!/bin/bash
# Which system calls does the daemon make once started?  Runs qfp-drive
# under strace -f with the sandbox off (-X) over the request paths
# (lifecycles with failures, walk after a restart, SIGUSR1, SIGTERM,
# -S full and -S none, framing A and B, -d and daemonized), and prints
# every call made after sandbox_enter() with its count: what the
# allow-list in queue-fs-proc/sandbox.c must hold.  Not a test (not
# named test-*.sh): run it by hand after changing the daemon, as root,
# from the top directory:  bash tests/hardening/trace-syscalls.sh
# (strace -f; the daemon's own calls only, not strace's or the driver's)
set -eu
make -s all tests/lib/qfp-drive
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
n=0
run() {	# drive options...
	n=$((n + 1))
	QFP_WRAPPER="strace -f -qq -o $out/t$n" \
	    ./tests/lib/qfp-drive "$@" lifecycles >"$out/r$n" 2>&1 || {
		echo "trace: qfp-drive $* failed:" >&2
		cat "$out/r$n" >&2
	}
}
run -n 20 -f -w -S -o "-X -S full"
run -n 20 -f -w -b -o "-X -S none -F B"
run -n 5 -f -w -S -l -o "-X -S full -F A"
# After the point where sandbox_enter() loads the filter, per pid: its
# last step before that, PR_SET_DUMPABLE, is made with -X too.
for f in "$out"/t*; do
	awk '
	$2 ~ /^prctl\(PR_SET_DUMPABLE/ { on[$1] = 1; next }
	on[$1] && $2 ~ /^[a-z_0-9]+\(/ {
		name = $2; sub(/\(.*/, "", name); print name
	}
	on[$1] && $2 == "<..." { name = $3; print name }
	' "$f"
done | sort | uniq -c | sort -rn
