#!/bin/bash
# postfix-bench: Postfix's own SMTP acceptance rate under e2e-bench's
# load, on the same kind of fresh file system, so the durable target
# "above Postfix's rate" (issue 12) has a number from the same machine.
#
# Postfix conflicts with opensmtpd, so it runs in a Debian 12 root file
# system made once with debootstrap (minbase + postfix) and kept in
# $QFP_POSTFIX_ROOT (a stamp file, written last, marks it complete).
# Its configuration is smtpd-like: it listens on 127.0.0.1:2525 and
# relays relay.test to a closed loopback port, so mail stays queued.
# Load: the root's own smtp-source (Postfix 3.7, as e2e-bench's), 8
# persistent sessions, 4 KB messages, 2 recipients each.  Postfix fsyncs
# each queue file once before it answers the end of DATA.
#
# Every run gets a fresh journaled ext4 (tests/lib/loop-ext4.sh, direct
# I/O) on the root's /var/spool/postfix, filled with the pristine spool
# directories, in a private mount and network namespace (loopback only),
# holding the e2e tests' lock so no other benchmark or e2e test runs
# beside it.  Messages queued are counted against messages sent.
#
# usage: bash bench/postfix-bench.sh [--runs N] [--msgs N] [--sessions N]
#            [--size BYTES] [--rcpts N] [--fs-gb N]
# Environment: QFP_POSTFIX_ROOT (/var/cache/qfp/bookworm-postfix),
# QFP_DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -u

RUNS=3
MSGS=3000
SESSIONS=8
SIZE=4096
RCPTS=2
FS_GB=4
RUN_TIMEOUT=180
TOTAL_TIMEOUT=1200
ARGS=("$@")

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT=${QFP_POSTFIX_ROOT:-/var/cache/qfp/bookworm-postfix}
STAMP=$ROOT/.qfp-complete
PFSPOOL=$ROOT/var/spool/postfix
# the lock, port numbers, note, wait_until, port_open, proc_dead
QFP_E2E_BACKEND=fs
. "$REPO/tests/e2e/lib.sh"
. "$REPO/bench/bench-lib.sh"	# bench_isolate, median
PORT=$QFP_E2E_PORT
RELAY_PORT=$QFP_E2E_RELAY_PORT

die() { echo "postfix-bench: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
	case $1 in
	--runs) RUNS=$2; shift ;;
	--msgs) MSGS=$2; shift ;;
	--sessions) SESSIONS=$2; shift ;;
	--size) SIZE=$2; shift ;;
	--rcpts) RCPTS=$2; shift ;;
	--fs-gb) FS_GB=$2; shift ;;
	-h|--help) sed -n '2,24p' "$0"; exit 0 ;;
	*) die "unknown argument $1 (--help)" ;;
	esac
	shift
done
[ "$RUNS" -ge 1 ] 2>/dev/null || die "--runs: a number >= 1"
[ "$MSGS" -ge 1 ] 2>/dev/null || die "--msgs: a number >= 1"

# ---- outside the namespace: the root, then re-exec inside ----------------

# debootstrap in a private mount namespace (its /proc and /sys mounts
# never show on the machine); package scripts must not start services
make_root() {
	local mirror=${QFP_DEBIAN_MIRROR:-http://deb.debian.org/debian}
	local log=$ROOT-debootstrap.log
	command -v debootstrap >/dev/null || die "debootstrap not found (apt-get install debootstrap)"
	note "making a bookworm root with postfix in $ROOT from $mirror (once; log $log)"
	rm -rf --one-file-system "$ROOT"
	mkdir -p "$(dirname "$ROOT")" || die "mkdir $(dirname "$ROOT")"
	timeout -k 20 900 unshare -m --propagation private -- \
	    debootstrap --variant=minbase --include=postfix bookworm "$ROOT" \
	    "$mirror" >"$log" 2>&1 ||
	    { tail -15 "$log" >&2; die "debootstrap failed (no network?)"; }
	printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
	chmod 755 "$ROOT/usr/sbin/policy-rc.d"
	touch "$STAMP"
}

if [ "${QFP_BENCH_NETNS:-}" != 1 ]; then
	[ "$(id -u)" = 0 ] || die "must run as root (chroot, mount)"
	for t in unshare ip timeout flock chroot mkfs.ext4 losetup tar; do
		command -v $t >/dev/null 2>&1 || die "$t not found"
	done
	[ -f "$STAMP" ] || make_root
	[ -x "$ROOT/usr/sbin/postfix" ] && [ -x "$ROOT/usr/sbin/smtp-source" ] ||
	    die "$ROOT lacks postfix or smtp-source (remove $STAMP to make it again)"
	exec timeout -k 20 "$TOTAL_TIMEOUT" unshare -n -m -- env QFP_BENCH_NETNS=1 \
	    bash "$0" "${ARGS[@]}"
fi

# ---- inside the private network and mount namespaces ---------------------

bench_isolate

WORK=$(mktemp -d /tmp/qfp-postfix-bench.XXXXXX) || die mktemp
MASTER_PID=

# the root's /proc and /dev, in this mount namespace only
mount -t proc proc "$ROOT/proc" && mount --rbind /dev "$ROOT/dev" ||
    die "cannot mount /proc and /dev in $ROOT"
# the pristine spool (directories and their owners), copied to each
# fresh file system
tar -C "$PFSPOOL" -cpf "$WORK/spool.tar" . || die "cannot save $PFSPOOL"

pf() { chroot "$ROOT" "$@"; }

configure() {
	: >"$ROOT/var/log/postfix-bench.log"	# this run's log only
	grep -q '^127\.0\.0\.1' "$ROOT/etc/hosts" 2>/dev/null ||
	    echo "127.0.0.1 localhost" >>"$ROOT/etc/hosts"
	pf postconf -e myhostname=bench.test mydestination= \
	    inet_interfaces=loopback-only inet_protocols=ipv4 \
	    relay_domains=relay.test "relayhost=[127.0.0.1]:$RELAY_PORT" \
	    alias_maps= alias_database= smtpd_tls_security_level=none \
	    smtp_tls_security_level=none maillog_file=/var/log/postfix-bench.log &&
	    pf postconf -F '*/*/chroot = n' &&
	    pf postconf -M "127.0.0.1:$PORT/inet=127.0.0.1:$PORT inet n - n - - smtpd" ||
	    return 1
	# the default smtp service on port 25: not needed
	pf postconf -MX smtp/inet 2>/dev/null
	pf postfix check
}

fresh_spool() {
	umount_spool
	sh "$REPO/tests/lib/loop-ext4.sh" -d -t /var/tmp "${FS_GB}G" "$PFSPOOL" &&
	    rmdir "$PFSPOOL/lost+found" &&
	    tar -C "$PFSPOOL" -xpf "$WORK/spool.tar"
}
umount_spool() {
	if [ "$(findmnt -n -o SOURCE "$PFSPOOL" 2>/dev/null | cut -c1-9)" = /dev/loop ]; then
		umount "$PFSPOOL" || umount -l "$PFSPOOL"
	fi
}

start_postfix() {
	pf postfix start >"$WORK/start.log" 2>&1 ||
	    { cat "$WORK/start.log" >&2; return 1; }
	MASTER_PID=$(tr -d ' ' <"$PFSPOOL/pid/master.pid" 2>/dev/null)
	[ -n "$MASTER_PID" ] || { note "no master.pid after postfix start"; return 1; }
	wait_until 20 port_open "$PORT" ||
	    { note "postfix does not listen on 127.0.0.1:$PORT"; return 1; }
}

stop_postfix() {
	[ -n "$MASTER_PID" ] || return 0
	pf postfix stop >/dev/null 2>&1
	if ! wait_until 15 proc_dead "$MASTER_PID"; then
		note "postfix master $MASTER_PID alive 15s after postfix stop; killed"
		kill -KILL "$MASTER_PID" 2>/dev/null
	fi
	MASTER_PID=
}

cleanup() {
	stop_postfix
	umount_spool
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP

# queue files (one per message, whatever its recipients) wherever the
# queue manager left them; counted once Postfix is stopped, as a file
# moved from active to deferred during the walk would count twice
queued() {
	find "$PFSPOOL"/incoming "$PFSPOOL"/active "$PFSPOOL"/deferred \
	    "$PFSPOOL"/hold -type f 2>/dev/null | wc -l
}

RATE=
run_one() {	# run_one N: sets RATE; returns 0 on success
	local t0 t1 rc n
	fresh_spool || return 1
	start_postfix || return 1
	t0=$(date +%s.%N)
	timeout -k 5 $RUN_TIMEOUT chroot "$ROOT" smtp-source -d -s "$SESSIONS" \
	    -m "$MSGS" -l "$SIZE" -r "$RCPTS" -M bench.test \
	    -f sender@bench.test -t rcpt@relay.test "127.0.0.1:$PORT" \
	    >"$WORK/source-$1.log" 2>&1
	rc=$?
	t1=$(date +%s.%N)
	stop_postfix	# first: the queue manager moves files while find walks
	n=$(queued)
	if [ $rc != 0 ] || [ "$n" != "$MSGS" ]; then
		note "run $1: smtp-source exit $rc, $n of $MSGS messages queued"
		tail -5 "$WORK/source-$1.log" >&2
		return 1
	fi
	RATE=$(awk -v n="$MSGS" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", n / (b - a) }')
}

LOAD0=$(cut -d' ' -f1 /proc/loadavg)
configure || die "cannot configure postfix in $ROOT"
run_one 0 || die "warm-up run failed"
note "warm-up run (not counted): $RATE msgs/s"
rates=
for ((i = 1; i <= RUNS; i++)); do
	run_one "$i" || die "run $i failed"
	note "run $i/$RUNS: $RATE msgs/s"
	rates+="$RATE "
done

echo
echo "postfix-bench: Postfix $(pf postconf -h mail_version) (Debian 12 root), spool on a fresh journaled ext4 per run, $MSGS msgs x $RUNS runs, $SESSIONS persistent sessions (smtp-source -d), $SIZE-byte bodies, $RCPTS rcpts/msg, relay down (127.0.0.1:$RELAY_PORT closed); $(nproc) CPUs"
printf '%-22s %-34s %9s\n' "MTA" "msgs/s per run" "median"
printf '%-22s %-34s %9s\n' "postfix" "$rates" \
    "$(echo "$rates" | tr ' ' '\n' | grep . | median)"
echo "load average at start $LOAD0, at end $(cut -d' ' -f1 /proc/loadavg) ($(nproc) CPUs): other load on the machine shows in every number"
exit 0
