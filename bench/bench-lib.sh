# shellcheck shell=bash
# What bench/e2e-bench.sh and bench/postfix-bench.sh share.  Sourced after
# tests/e2e/lib.sh (LOCKFILE) and the script's own die().

# bench_isolate: first thing inside `unshare -n -m`: loopback up, mounts
# private, no interface but lo, then the e2e tests' lock on fd 9, held
# until the script exits, so no e2e test or other benchmark runs beside
bench_isolate() {
	ip link set lo up || die "cannot bring up lo"
	mount --make-rprivate / || die "cannot make the mount namespace private"
	[ "$(ip -o link show | wc -l)" = 1 ] ||
	    die "network namespace has more than lo; refusing"
	exec 9>"$LOCKFILE" || die "cannot open $LOCKFILE"
	flock -w 120 9 || die "another e2e run holds $LOCKFILE"
}

# median < numbers, one a line
median() {
	sort -g | awk '{ v[NR] = $1 }
	    END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
