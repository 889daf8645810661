#!/bin/bash
# e2e-bench: SMTP acceptance rate of Debian's real smtpd (OpenSMTPD 6.8)
# with its built-in queue (-B queue=fs) against queue-fs-proc
# (-B queue=fs-proc, durable default, and -B queue=fs-proc:-S none).
#
# Mail goes to a relay that is down (a closed loopback port), so it stays
# queued and smtpd's MTA keeps loading and updating its envelopes while
# it is received, as on a real server whose next hop is away.  Load:
# Postfix's smtp-source, 8 persistent sessions, 4 KB messages, 2
# recipients each.  Runs alternate ABBA, >= 3 pairs per comparison; the
# verdict uses the median of the per-pair ratios fs-proc / fs.
#
# Everything runs inside a private network namespace (loopback only) and
# holds the e2e tests' lock (/run/lock/qfp-e2e.lock), since smtpd's spool
# (/var/spool/smtpd, wiped between runs) and control socket are fixed.
# smtpd is started, stopped and given the helper by the e2e tests' own
# functions (tests/e2e/lib.sh): the build is bind-mounted over the
# installed helper inside the private mount namespace only.
#
# usage: bash bench/e2e-bench.sh [--pairs N] [--msgs N] [--sessions N]
#            [--size BYTES] [--rcpts N] [--modes durable,relaxed]
#            [--keep] [--rootfs] [--fs-gb N]
#   --rootfs   spool on the root file system as it is (rm -rf between
#              runs); default: every run gets a fresh journaled ext4
#              (mkfs.ext4 defaults, loop device with direct I/O, so a
#              flush costs what the disk's does) mounted on /var/spool
#              (holding smtpd/) in a private mount namespace, so no run
#              inherits the inode-allocation history of the previous one
# Environment: SMTP_SOURCE=/path/to/smtp-source (else one is taken from
# Debian's postfix package: apt-get download + dpkg -x, never installed,
# as postfix conflicts with opensmtpd), QFP_BENCH_CACHE (where it is
# unpacked, default /var/tmp/qfp-bench-postfix).
set -u

PAIRS=3
MSGS=3000
SESSIONS=8
SIZE=4096
RCPTS=2
MODES=durable,relaxed
KEEP=0
ROOTFS=0
FS_GB=4
RUN_TIMEOUT=180		# one smtp-source run, seconds
TOTAL_TIMEOUT=1500	# the whole benchmark, seconds

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HELPER_BUILD=$REPO/queue-fs-proc/queue-fs-proc
CACHE=${QFP_BENCH_CACHE:-/var/tmp/qfp-bench-postfix}
# smtpd's spool, control socket, helper directory, the lock, and
# descendants, proc_alive, port_open, start_smtpd, stop_smtpd, ...
QFP_E2E_BACKEND=fs-proc
QFP_E2E_HELPER=$HELPER_BUILD
. "$REPO/tests/e2e/lib.sh"
PORT=$QFP_E2E_PORT
RELAY_PORT=$QFP_E2E_RELAY_PORT

die() { echo "e2e-bench: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
	case $1 in
	--pairs) PAIRS=$2; shift ;;
	--msgs) MSGS=$2; shift ;;
	--sessions) SESSIONS=$2; shift ;;
	--size) SIZE=$2; shift ;;
	--rcpts) RCPTS=$2; shift ;;
	--modes) MODES=$2; shift ;;
	--keep) KEEP=1 ;;
	--rootfs) ROOTFS=1 ;;
	--fs-gb) FS_GB=$2; shift ;;
	-h|--help) sed -n '2,30p' "$0"; exit 0 ;;
	*) die "unknown argument $1 (--help)" ;;
	esac
	shift
done
[ "$PAIRS" -ge 1 ] 2>/dev/null || die "--pairs: a number >= 1"
[ "$MSGS" -ge 1 ] 2>/dev/null || die "--msgs: a number >= 1"

# ---- outside the namespace: prerequisites, then re-exec inside ----------

smtp_source_ok() {	# runs at all (prints its usage) and finds its libraries
	local out
	out=$(LD_LIBRARY_PATH=$SMTP_SOURCE_LIBS "$SMTP_SOURCE" 2>&1)
	case $out in
	*usage:*) return 0 ;;
	esac
	echo "$out" >&2
	return 1
}

find_smtp_source() {
	if [ -n "${SMTP_SOURCE:-}" ]; then
		SMTP_SOURCE_LIBS=${SMTP_SOURCE_LIBS:-}
		return 0
	fi
	SMTP_SOURCE=$CACHE/root/usr/sbin/smtp-source
	SMTP_SOURCE_LIBS=$CACHE/root/usr/lib/postfix
	if [ ! -x "$SMTP_SOURCE" ]; then
		note "fetching smtp-source from Debian's postfix package into $CACHE (not installed)"
		rm -rf "$CACHE" && mkdir -p "$CACHE" || die "mkdir $CACHE"
		(cd "$CACHE" && apt-get download postfix >download.log 2>&1) ||
		    { cat "$CACHE/download.log" >&2; die "apt-get download postfix failed (apt-get update first?)"; }
		dpkg -x "$CACHE"/postfix_*.deb "$CACHE/root" || die "dpkg -x failed"
	fi
	local missing
	missing=$(LD_LIBRARY_PATH=$SMTP_SOURCE_LIBS ldd "$SMTP_SOURCE" 2>&1 | awk '/not found/ { print $1 }')
	[ -z "$missing" ] || die "smtp-source lacks libraries: $missing (sh tests/deps.sh installs postfix's library dependencies)"
	export SMTP_SOURCE SMTP_SOURCE_LIBS
}

if [ "${QFP_BENCH_NETNS:-}" != 1 ]; then
	[ "$(id -u)" = 0 ] || die "must run as root (smtpd needs it)"
	for t in smtpd smtpctl unshare ip timeout flock ldd mkfs.ext4 losetup; do
		command -v $t >/dev/null 2>&1 || die "$t not found (sh tests/deps.sh)"
	done
	[ -x "$HELPER_BUILD" ] || die "no helper at $HELPER_BUILD (run make)"
	find_smtp_source
	smtp_source_ok || die "$SMTP_SOURCE does not run"
	exec timeout -k 20 "$TOTAL_TIMEOUT" unshare -n -m -- env QFP_BENCH_NETNS=1 \
	    bash "$0" --pairs "$PAIRS" --msgs "$MSGS" --sessions "$SESSIONS" \
	    --size "$SIZE" --rcpts "$RCPTS" --modes "$MODES" --fs-gb "$FS_GB" \
	    $([ $KEEP = 1 ] && echo --keep) $([ $ROOTFS = 1 ] && echo --rootfs)
fi

# ---- inside the private network namespace --------------------------------

ip link set lo up || die "cannot bring up lo"
mount --make-rprivate / || die "cannot make the mount namespace private"
[ "$(ip -o link show | wc -l)" = 1 ] || die "network namespace has more than lo; refusing"

exec 9>"$LOCKFILE" || die "cannot open $LOCKFILE"
flock -w 120 9 || die "another e2e run holds $LOCKFILE"
if [ -S "$CTL_SOCK" ] && smtpctl show status >/dev/null 2>&1; then
	die "an smtpd answers on $CTL_SOCK; refusing to touch its spool"
fi

WORK=$(mktemp -d /tmp/qfp-e2e-bench.XXXXXX) || die mktemp
chmod 0755 "$WORK"
# smtpd -B queue=fs-proc execs $LIBEXEC/queue-fs-proc: our build, here only
setup_helper || die "cannot put $HELPER_BUILD in place of $LIBEXEC/queue-fs-proc"

# A fresh journaled ext4 on $SPOOL (private mount namespace), or, with
# --rootfs, an empty $SPOOL on the root file system.  The ext4 is mounted
# on $SPOOL's parent: a mount on $SPOOL itself would be detached from
# under smtpd should anything outside remove /var/spool/smtpd meanwhile.
MNT=$(dirname "$SPOOL")
fresh_spool() {
	umount_spool
	if [ $ROOTFS = 1 ]; then rm -rf "$SPOOL"; return 0; fi
	sh "$REPO/tests/lib/loop-ext4.sh" -d -t /var/tmp "${FS_GB}G" "$MNT" &&
	    chmod 0755 "$MNT" && rmdir "$MNT/lost+found" &&
	    mkdir -m 0711 "$SPOOL" ||
	    { note "cannot mount a fresh ext4 on $MNT (--rootfs works without)"; return 1; }
}
umount_spool() {
	[ $ROOTFS = 1 ] && return 0
	if [ "$(stat -c %m "$MNT" 2>/dev/null)" = "$MNT" ] &&
	    [ "$(findmnt -n -o SOURCE "$MNT" 2>/dev/null | cut -c1-9)" = /dev/loop ]; then
		umount "$MNT" || umount -l "$MNT"
	fi
}

cleanup() {
	stop_smtpd quiet
	umount_spool
	umount "$LIBEXEC" 2>/dev/null
	[ $ROOTFS = 1 ] && rm -rf "$SPOOL"
	if [ $KEEP = 1 ]; then note "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP

CONF=$WORK/smtpd.conf
cat >"$CONF" <<EOF
# generated by bench/e2e-bench.sh
smtp limit max-mails 1000000
listen on 127.0.0.1 port $PORT
action "relay" relay host smtp://127.0.0.1:$RELAY_PORT
match from any for domain "relay.test" action "relay"
EOF
smtpd -n -f "$CONF" >"$WORK/conftest.log" 2>&1 ||
    { cat "$WORK/conftest.log" >&2; die "smtpd -n rejects $CONF"; }

# run_one BACKEND: sets RATE (msgs/s); returns 0 on success
RUN=0
RATE=
run_one() {
	local backend=$1 log t0 t1 n rc
	RUN=$((RUN + 1))
	fresh_spool || return 1
	start_smtpd "$backend" "bench-run$RUN-${backend%%:*}-start" || return 1
	log=$SMTPD_LOG
	t0=$(date +%s.%N)
	LD_LIBRARY_PATH=$SMTP_SOURCE_LIBS timeout -k 5 $RUN_TIMEOUT \
	    "$SMTP_SOURCE" -d -s "$SESSIONS" -m "$MSGS" -l "$SIZE" \
	    -r "$RCPTS" -M bench.test -f sender@bench.test \
	    -t rcpt@relay.test "127.0.0.1:$PORT" >"$WORK/source-$RUN.log" 2>&1
	rc=$?
	t1=$(date +%s.%N)
	# ground truth: messages in the queue (same layout for both backends)
	n=$(find "$SPOOL/queue" -mindepth 3 -maxdepth 3 -name message 2>/dev/null | wc -l)
	stop_smtpd quiet
	if grep -q -E 'fatal|lost child|abnormally' "$log"; then
		note "run $RUN ($backend): smtpd log has errors:"
		grep -E 'fatal|lost child|abnormally' "$log" | head -5 >&2
	fi
	if [ $rc != 0 ] || [ "$n" != "$MSGS" ]; then
		note "run $RUN ($backend): smtp-source exit $rc, $n of $MSGS messages queued"
		tail -5 "$WORK/source-$RUN.log" >&2
		return 1
	fi
	RATE=$(awk -v n="$MSGS" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", n / (b - a) }')
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

LOAD0=$(cut -d' ' -f1 /proc/loadavg)
declare -A RATES RATIOS
run_one fs || die "warm-up run failed (logs in $WORK)"
note "warm-up run (fs, not counted): $RATE msgs/s"

IFS=, read -r -a mode_list <<<"$MODES"
for mode in "${mode_list[@]}"; do
	case $mode in
	durable) proc=fs-proc ;;
	relaxed) proc="fs-proc:-S none" ;;
	*) die "unknown mode $mode (durable, relaxed)" ;;
	esac
	for ((p = 0; p < PAIRS; p++)); do
		# ABBA: A B, then B A, ...
		if ((p % 2 == 0)); then order=("fs" "$proc"); else order=("$proc" "fs"); fi
		declare -A r=()
		for b in "${order[@]}"; do
			run_one "$b" || { KEEP=1; die "run of -B queue=$b failed (logs kept in $WORK)"; }
			r[$b]=$RATE
			note "$mode pair $((p + 1))/$PAIRS: -B queue=$b: ${r[$b]} msgs/s"
		done
		RATES[$mode,fs]+="${r[fs]} "
		RATES[$mode,proc]+="${r[$proc]} "
		RATIOS[$mode]+="$(awk -v a="${r[$proc]}" -v b="${r[fs]}" 'BEGIN { printf "%.3f", a / b }') "
		unset r
	done
done

# ---- the table -------------------------------------------------------------

echo
echo "e2e-bench: $(smtpd -h 2>&1 | sed -n 's/^version: //p'), spool on $([ $ROOTFS = 1 ] && echo "the root fs" || echo "a fresh journaled ext4 per run"), $MSGS msgs x $PAIRS ABBA pairs, $SESSIONS persistent sessions (smtp-source -d), $SIZE-byte bodies, $RCPTS rcpts/msg, relay down (127.0.0.1:$RELAY_PORT closed); $(nproc) CPUs"
printf '%-22s %-34s %9s %9s  %-16s %s\n' "backend" "msgs/s per run" "median" "ratio" "target" "verdict"
printf '%-22s %-34s %9s %9s  %-16s %s\n' "----------------------" "----------------------------------" "---------" "---------" "----------------" "-------"
for mode in "${mode_list[@]}"; do
	case $mode in
	durable) pname="fs-proc (-S full)"; target=0.8 ;;
	relaxed) pname="fs-proc:-S none"; target=1.0 ;;
	esac
	fsr=${RATES[$mode,fs]}
	pr=${RATES[$mode,proc]}
	mfs=$(echo "$fsr" | tr ' ' '\n' | grep . | median)
	mpr=$(echo "$pr" | tr ' ' '\n' | grep . | median)
	mra=$(echo "${RATIOS[$mode]}" | tr ' ' '\n' | grep . | median)
	verdict=$(awk -v r="$mra" -v t="$target" 'BEGIN { print (r >= t) ? "MET" : "MISSED" }')
	printf '%-22s %-34s %9s %9s  %-16s %s\n' "fs ($mode pairs)" "$fsr" "$mfs" "" "" ""
	printf '%-22s %-34s %9s %9s  %-16s %s\n' "$pname" "$pr" "$mpr" "${mra}x" ">= ${target}x fs" "$verdict"
	printf '%-22s %-34s\n' "  per-pair ratios" "${RATIOS[$mode]}"
done
echo "load average at start $LOAD0, at end $(cut -d' ' -f1 /proc/loadavg) ($(nproc) CPUs): other load on the machine shows in every number"
exit 0
