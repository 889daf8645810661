#!/bin/bash
# Full disk: the spool on a small tmpfs (2 MB, 400 inodes), filled
# through the client until requests are refused, four ways:
#   -r 5 (default reserve) and -r 0 (raw ENOSPC), each running out of
#   space (64 KB messages, 2 envelopes) and of inodes (100-byte messages).
# tests/durability/fulldisk checks that every request gets a well-formed
# answer,
# the daemon logs why, nothing acknowledged is lost or damaged (FD_R and
# LOAD of everything, also after a restart on the full disk), an
# ENVELOPE_UPDATE refused on the full disk leaves the old bytes, a
# rolled-back message leaves incoming/ empty, and after deliveries free
# space new mail is accepted again.  The tmpfs is unmounted even on
# failure.
set -u
cd "$(dirname "$0")/../.." || exit 1
FULLDISK=tests/durability/fulldisk
failed=0
mnts=()
. tests/lib/report.sh

cleanup() {
	local m
	for m in "${mnts[@]}"; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
		rmdir "$m" 2>/dev/null
	done
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if [ ! -x "$FULLDISK" ]; then
	fail fulldisk "$FULLDISK not built (make check-durability builds it)"
	exit 1
fi

run() {	# reserve kind
	local mnt rc
	mnt=$(mktemp -d /tmp/qfp-full.XXXXXX) || return 1
	mnts+=("$mnt")
	if ! mount -t tmpfs -o size=2m,nr_inodes=400,mode=0755 tmpfs "$mnt"; then
		fail "fulldisk-r$1-$2" "cannot mount a tmpfs on $mnt"
		return
	fi
	echo "== -r $1, running out of $2"
	timeout 300 "$FULLDISK" "$mnt" "$1" "$2"
	rc=$?
	# it prints its own FAIL lines, but for a time-out
	if [ $rc -eq 124 ]; then
		fail "fulldisk-r$1-$2" "timed out"
	elif [ $rc -ne 0 ]; then
		failed=1
	fi
	umount "$mnt" || umount -l "$mnt"
	rmdir "$mnt"
}

run 5 space
run 0 space
run 5 inodes
run 0 inodes
[ "$failed" -eq 0 ] && [ "$REPORT_FAILED" -eq 0 ]
