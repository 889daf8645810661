#!/bin/bash
# make check-debian13: the project on Debian 13 ("trixie"), with its gcc
# and its own opensmtpd, from a Debian 12 machine.
#
# A trixie root file system (minbase, and make: the README's one
# prerequisite) is made once with debootstrap from the machine's Debian
# mirror and kept in $QFP_CHROOT_ROOT (a stamp file, written last,
# marks it complete: a half-made root is made again).
# Each run copies the working tree into it and, chrooted, in a private
# mount namespace (its /proc, /dev, /sys and /run mounts vanish with it):
#   make demo (WERROR=1)   installs the packages (tests/deps.sh), builds
#                          with trixie's gcc, warnings are errors, and
#                          runs smtpd with the helper
#   tests/run-all.sh unit conformance e2e asan
# The e2e tests use the root's own smtpd, spool, control socket and lock
# (/run is the root's), each in its own network namespace, so they do
# not meet the machine's e2e tests and need not take the machine's lock.
#
# Counts go to $RESULTS as suite "debian13"; failing to make the root
# (no network, no debootstrap) is a failure, not a skip.
#
# Environment: QFP_CHROOT_ROOT (/var/cache/qfp/trixie), QFP_DEBIAN_MIRROR
# (default: the machine's own Debian mirror), QFP_CHROOT_TIMEOUT (seconds
# for one run in the root, 900); QFP_CHROOT_RELEASE and QFP_CHROOT_SUITE
# (trixie, debian13) run the same in another release's root.
set -u

RELEASE=${QFP_CHROOT_RELEASE:-trixie}
SUITE=${QFP_CHROOT_SUITE:-debian13}
ROOT=${QFP_CHROOT_ROOT:-/var/cache/qfp/$RELEASE}
STAMP=$ROOT/.qfp-complete
TIMEOUT=${QFP_CHROOT_TIMEOUT:-900}
RESULTS=$(readlink -f "${RESULTS:-tests/.results}")
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
INNER=/root/queue-fs-proc	# the copy of the tree, inside the root

record() {	# record NAME PASSED FAILED
	echo "$SUITE $1 $2 $3" >> "$RESULTS"
}

fail_setup() {	# fail_setup NAME WHY: one failure, and stop
	echo "FAIL: $SUITE/$1: $2"
	record "$1" 0 1
	exit 0
}

# The machine's Debian archive, as its apt sources name it.
debian_mirror() {
	local m
	m=$(grep -hsv '^[[:space:]]*#' /etc/apt/sources.list.d/*.sources \
	    /etc/apt/sources.list.d/*.list /etc/apt/sources.list |
	    grep -oE 'https?://[^][ ]+/debian/?([[:space:]]|$)' | head -1)
	m=$(echo "$m" | tr -d '[:space:]')
	echo "${m:-http://deb.debian.org/debian}"
}

# debootstrap in a private mount namespace: the /proc and /sys it mounts
# in the new root never show on the machine, even if it is killed.
make_root() {
	local mirror log
	mirror=${QFP_DEBIAN_MIRROR:-$(debian_mirror)}
	log=$(dirname "$ROOT")/$RELEASE-debootstrap.log
	command -v debootstrap >/dev/null ||
	    fail_setup root "debootstrap not found (sh tests/deps.sh installs it)"
	echo "# making a $RELEASE root in $ROOT from $mirror (once; log $log)"
	rm -rf --one-file-system "$ROOT"
	if ! timeout -k 20 900 unshare -m --propagation private -- \
	    debootstrap --variant=minbase --include=make "$RELEASE" "$ROOT" \
	    "$mirror" > "$log" 2>&1; then
		tail -15 "$log" | sed 's/^/  | /'
		fail_setup root "debootstrap $RELEASE from $mirror failed (no network?)"
	fi
	# Package scripts must not start services (smtpd on port 25).
	printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d"
	chmod 755 "$ROOT/usr/sbin/policy-rc.d"
	touch "$STAMP"
}

# The working tree (tracked and new files, no build products) as
# $INNER in the root.
copy_tree() {
	rm -rf --one-file-system "$ROOT$INNER"
	mkdir -p "$ROOT$INNER"
	(cd "$REPO" && git ls-files -z -co --exclude-standard |
	    tar -cf - --null --ignore-failed-read -T - 2>/dev/null) |
	    tar -xf - -C "$ROOT$INNER"
}

# What runs chrooted.  First the README's first command, `make demo`:
# on a fresh root (always, on a fresh CI machine) it shows that it
# installs the packages, then builds (with the root's gcc, WERROR=1) and
# runs smtpd with the helper.  Its counts are added after run-all.sh,
# which starts tests/.results afresh.
inner_script() {
	cat <<'EOF'
set -u
export DEBIAN_FRONTEND=noninteractive WERROR=1 LC_ALL=C.UTF-8
cd "$1"
make demo > demo.log 2>&1
rc=$?
cat demo.log
pass=$(grep -c '^PASS: ' demo.log)
fail=$(grep -c '^FAIL: ' demo.log)
if [ $rc -ne 0 ] && [ "$fail" -eq 0 ]; then
	echo "FAIL: make demo exited $rc"
	fail=1
fi
echo "# $(. /etc/os-release; echo "$PRETTY_NAME"), $(gcc --version | head -1)," \
    "smtpd $(smtpd -h 2>&1 | sed -n 's/^[Vv]ersion: //p')"
sh tests/run-all.sh unit conformance e2e asan
rc=$?
echo "demo make-demo $pass $fail" >> tests/.results
exit $rc
EOF
}

if [ "$(id -u)" != 0 ]; then
	fail_setup root "must run as root (debootstrap, chroot)"
fi
case $ROOT in
/*/?*)	;;
*)	fail_setup root "the root's path $ROOT is not a directory below /x/" ;;
esac
[ -f "$STAMP" ] || [ -z "$(findmnt -rn -o TARGET | grep -F "$ROOT/")" ] ||
    fail_setup root "something is mounted under $ROOT; not touching it"
mkdir -p "$(dirname "$ROOT")"
exec 8>"$(dirname "$ROOT")/$RELEASE.lock"
flock -w 1200 8 || fail_setup root "another run holds $(dirname "$ROOT")/$RELEASE.lock"
[ -f "$STAMP" ] || make_root
copy_tree || fail_setup copy "cannot copy the tree into $ROOT$INNER"
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null

log=$ROOT$INNER/run.log
timeout -k 30 "$TIMEOUT" unshare -m --propagation private -- bash -c '
	r=$1; shift
	# the root a mount point of its own: unshare -m in it (the e2e
	# tests) makes "/" private, which needs "/" to be a mount
	mount --bind "$r" "$r" &&
	mount -t proc proc "$r/proc" &&
	mount --rbind /dev "$r/dev" &&
	mount --rbind /sys "$r/sys" &&
	mount -t tmpfs -o mode=0755 tmpfs "$r/run" &&
	mkdir -p "$r/run/lock" || exit 2
	exec chroot "$r" /bin/bash -c "$@"
' mount "$ROOT" "$(inner_script)" inner "$INNER" 2>&1 |
    sed "s/^check: /# $SUITE: /" | tee "$log"
rc=${PIPESTATUS[0]}

case $rc in
0|1)	;;
2)	fail_setup mount "cannot mount /proc, /dev, /sys, /run in $ROOT" ;;
124|137) fail_setup deadline "the $RELEASE run took over ${TIMEOUT}s" ;;
*)	fail_setup run "the $RELEASE run exited $rc" ;;
esac
inner_results=$ROOT$INNER/tests/.results
if [ ! -s "$inner_results" ]; then
	fail_setup results "no results from the $RELEASE run"
fi
awk -v s="$SUITE" '{print s, $1 "/" $2, $3, $4}' "$inner_results" >> "$RESULTS"
exit 0
