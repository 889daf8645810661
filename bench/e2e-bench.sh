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
# verdict uses the median of the per-pair ratios fs-proc / fs.  Then the
# same comparison for the whole lifecycle (relay up: accepted, relayed
# to Postfix's smtp-sink, deleted), the log floor, a neighbour writer,
# and the helper's fsync-class calls per message (bench/README.md).
#
# Everything runs inside a private network namespace (loopback only) and
# holds the e2e tests' lock (/run/lock/qfp-e2e.lock), since smtpd's spool
# (/var/spool/smtpd, wiped between runs) and control socket are fixed.
# smtpd is started, stopped and given the helper by the e2e tests' own
# functions (tests/e2e/lib.sh): the build is bind-mounted over the
# installed helper inside the private mount namespace only.
#
# usage: bash bench/e2e-bench.sh [--pairs N] [--msgs N] [--sessions N]
#            [--size BYTES] [--rcpts N] [--modes durable,relaxed,ceiling|none]
#            [--keep] [--rootfs] [--fs-gb N] [--probe-n N]
#            [--nb-msgs N] [--nb-mb N] [--nb-writer rewrite|flush]
#            [--no-neighbour] [--profile]
#            [--barrier-msgs N] [--barrier-rcpts 1,2,10,50]
#            [--barrier-big-size BYTES] [--no-barriers]
#            [--lc-msgs N] [--lc-pairs N] [--lc-modes durable,relaxed]
#            [--lc-delivery relay|lmtp|maildir] [--lc-max-conn N]
#            [--no-lifecycle]
#   --modes    helper modes compared with the built-in queue, relay down
#              (default durable,relaxed,ceiling); none: no such pairs,
#              for a pass of the other parts only.  ceiling: the helper
#              replaced by bench/null-proc, which keeps nothing on disk:
#              the rate of the protocol alone, the most any helper could
#              reach on this smtpd and machine
#   --probe-n  samples per bench/fsync-probe mode after every idle
#              built-in run (default 500; 200 beside the neighbour; each
#              mode stops after 10 s)
#   --nb-msgs  messages per run beside a neighbour writer (default 1000;
#              a run still going after 60 s is cut); --no-neighbour: none
#   --nb-mb    size of the neighbour's file in MB (default 1024; at most
#              half of --fs-gb)
#   --nb-writer  rewrite (default): dd rewrites the file in place in a
#              loop (conv=notrunc), buffered, never flushed: a syncfs
#              meets all of it, an fsync none; flush: each pass writes
#              the file anew (new blocks) and ends with conv=fdatasync
#   --barrier-msgs  messages per recipient count and body size for the
#              fsync-class call count (strace on the helper, MTA paused;
#              default 50); bodies of --size and of --barrier-big-size
#              (default 100000, above 64 KB); --no-barriers: no count
#   --lc-msgs, --lc-pairs  the lifecycle's messages per run and ABBA
#              pairs per mode (default: --msgs, --pairs); --lc-modes:
#              the helper modes (default durable,relaxed);
#              --no-lifecycle: none
#   --lc-delivery  relay (default): to smtp-sink on the relay port, MTA
#              limits lifted; lmtp: smtpd's lmtp action to smtp-sink -L;
#              maildir: smtpd's maildir action (both: an MDA child per
#              envelope)
#   --lc-max-conn  the MTA's connection limits for relay (default 1000;
#              1: one session, which hangs on between tasks)
#   --profile  only profile, 3 passes of one run of the built-in queue,
#              one of the durable helper, one of -S none and, with
#              ceiling in --modes, one of null-proc (--msgs each): CPU
#              time per message
#              of every smtpd process (schedstat); then under perf
#              trace -s (system calls per message, queue process and
#              helper); then under perf record (their CPU time by
#              system call); a last table sets them side by side
#   --rootfs   spool on the root file system as it is (rm -rf between
#              runs); default: every run gets a fresh journaled ext4
#              (mkfs.ext4 defaults, loop device with direct I/O, so a
#              flush costs what the disk's does) mounted on /var/spool
#              (holding smtpd/) in a private mount namespace, so no run
#              inherits the inode-allocation history of the previous one
# Environment: SMTP_SOURCE=/path/to/smtp-source (else one is taken from
# Debian's postfix package: apt-get download + dpkg -x, never installed,
# as postfix conflicts with opensmtpd), SMTP_SINK (else smtp-sink beside
# smtp-source), QFP_BENCH_CACHE (where the package is unpacked, default
# /var/tmp/qfp-bench-postfix).
set -u

PAIRS=3
MSGS=3000
SESSIONS=8
SIZE=4096
RCPTS=2
MODES=durable,relaxed,ceiling
KEEP=0
ROOTFS=0
FS_GB=4
PROBE_N=500
NEIGHBOUR=1
NB_MSGS=1000
NB_MB=1024
NB_WRITER=rewrite
BARRIERS=1
BARRIER_MSGS=50
BARRIER_RCPTS=1,2,10,50
BARRIER_BIG_SIZE=100000	# a body above 64 KB: the log may keep it apart
LIFECYCLE=1
LC_MSGS=		# default: --msgs
LC_PAIRS=		# default: --pairs
LC_MODES=durable,relaxed
LC_DELIVERY=relay
LC_DRAIN_TIMEOUT=120	# after the load: the queue must be empty by then
LC_MAX_CONN=1000	# smtpd's MTA connection limits in the lifecycle
LC_SINK_CONNS=2048	# smtp-sink's connections and listen backlog
PROFILE=0
PROF_OUT=/dev/null
RUN_TIMEOUT=180		# one smtp-source run, seconds
NB_RUN_TIMEOUT=60	# one run beside the neighbour: may end early (each
			# syncfs beside it writes the neighbour's file: GBs/s)
PROBE_SECS=10		# one fsync-probe mode stops taking samples after
PROBE_TIMEOUT=120	# one fsync-probe mode, seconds
TOTAL_TIMEOUT=3600	# the whole benchmark, seconds
ARGS=("$@")		# re-exec'd as given inside the namespaces

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HELPER_BUILD=$REPO/queue-fs-proc/queue-fs-proc
PROBE=$REPO/bench/fsync-probe
CACHE=${QFP_BENCH_CACHE:-/var/tmp/qfp-bench-postfix}
# smtpd's spool, control socket, helper directory, the lock, and
# descendants, proc_alive, port_open, start_smtpd, stop_smtpd, ...
QFP_E2E_BACKEND=fs-proc
QFP_E2E_HELPER=$HELPER_BUILD
. "$REPO/tests/e2e/lib.sh"
. "$REPO/bench/bench-lib.sh"	# bench_isolate, median
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
	--probe-n) PROBE_N=$2; shift ;;
	--nb-msgs) NB_MSGS=$2; shift ;;
	--nb-mb) NB_MB=$2; shift ;;
	--nb-writer) NB_WRITER=$2; shift ;;
	--no-neighbour) NEIGHBOUR=0 ;;
	--barrier-msgs) BARRIER_MSGS=$2; shift ;;
	--barrier-rcpts) BARRIER_RCPTS=$2; shift ;;
	--barrier-big-size) BARRIER_BIG_SIZE=$2; shift ;;
	--no-barriers) BARRIERS=0 ;;
	--lc-msgs) LC_MSGS=$2; shift ;;
	--lc-pairs) LC_PAIRS=$2; shift ;;
	--lc-modes) LC_MODES=$2; shift ;;
	--lc-delivery) LC_DELIVERY=$2; shift ;;
	--lc-max-conn) LC_MAX_CONN=$2; shift ;;
	--no-lifecycle) LIFECYCLE=0 ;;
	--profile) PROFILE=1 ;;
	-h|--help) sed -n '2,/^set -u$/{/^set -u$/d;p}' "$0"; exit 0 ;;
	*) die "unknown argument $1 (--help)" ;;
	esac
	shift
done
[ "$PAIRS" -ge 1 ] 2>/dev/null || die "--pairs: a number >= 1"
[ "$MSGS" -ge 1 ] 2>/dev/null || die "--msgs: a number >= 1"
[ "$PROBE_N" -ge 1 ] 2>/dev/null || die "--probe-n: a number >= 1"
[ "$NB_MSGS" -ge 1 ] 2>/dev/null || die "--nb-msgs: a number >= 1"
[ "$NB_MB" -ge 1 ] 2>/dev/null || die "--nb-mb: a number >= 1"
[ "$FS_GB" -ge 1 ] 2>/dev/null || die "--fs-gb: a number >= 1"
[ $ROOTFS = 1 ] || [ $((NB_MB * 2)) -le $((FS_GB * 1024)) ] ||
    die "--nb-mb: at most half of --fs-gb ($((FS_GB * 512)) MB)"
case $NB_WRITER in
rewrite|flush) ;;
*) die "--nb-writer: rewrite or flush" ;;
esac
[ "$BARRIER_MSGS" -ge 1 ] 2>/dev/null || die "--barrier-msgs: a number >= 1"
[ "$BARRIER_BIG_SIZE" -gt 65536 ] 2>/dev/null ||
    die "--barrier-big-size: a number of bytes above 65536"
LC_MSGS=${LC_MSGS:-$MSGS}
LC_PAIRS=${LC_PAIRS:-$PAIRS}
[ "$LC_MSGS" -ge 1 ] 2>/dev/null || die "--lc-msgs: a number >= 1"
[ "$LC_PAIRS" -ge 1 ] 2>/dev/null || die "--lc-pairs: a number >= 1"
[ "$LC_MAX_CONN" -ge 1 ] 2>/dev/null || die "--lc-max-conn: a number >= 1"
case $LC_DELIVERY in
relay|lmtp|maildir) ;;
*) die "--lc-delivery: relay, lmtp or maildir" ;;
esac

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

# smtp-sink, the lifecycle's relay (or LMTP server): from the same
# package as smtp-source, beside it (or SMTP_SINK=/path)
find_smtp_sink() {
	local out
	SMTP_SINK=${SMTP_SINK:-$(dirname "$SMTP_SOURCE")/smtp-sink}
	out=$(LD_LIBRARY_PATH=$SMTP_SOURCE_LIBS "$SMTP_SINK" 2>&1)
	case $out in
	*usage:*) export SMTP_SINK; return 0 ;;
	esac
	echo "$out" >&2
	return 1
}

if [ "${QFP_BENCH_NETNS:-}" != 1 ]; then
	[ "$(id -u)" = 0 ] || die "must run as root (smtpd needs it)"
	for t in smtpd smtpctl unshare ip timeout flock ldd mkfs.ext4 losetup dd; do
		command -v $t >/dev/null 2>&1 || die "$t not found (sh tests/deps.sh)"
	done
	[ $BARRIERS = 0 ] || command -v strace >/dev/null 2>&1 ||
	    die "strace not found (apt-get install strace, or --no-barriers)"
	[ -x "$HELPER_BUILD" ] || die "no helper at $HELPER_BUILD (run make)"
	[ -x "$PROBE" ] || die "no $PROBE (run make bench/fsync-probe)"
	find_smtp_source
	smtp_source_ok || die "$SMTP_SOURCE does not run"
	[ $LIFECYCLE = 0 ] || [ $LC_DELIVERY = maildir ] || find_smtp_sink ||
	    die "${SMTP_SINK:-smtp-sink} does not run (or --no-lifecycle)"
	exec timeout -k 20 "$TOTAL_TIMEOUT" unshare -n -m -- env QFP_BENCH_NETNS=1 \
	    bash "$0" "${ARGS[@]}"
fi

# ---- inside the private network namespace --------------------------------

bench_isolate
if [ -S "$CTL_SOCK" ] && smtpctl show status >/dev/null 2>&1; then
	die "an smtpd answers on $CTL_SOCK; refusing to touch its spool"
fi

WORK=$(mktemp -d /tmp/qfp-e2e-bench.XXXXXX) || die mktemp
chmod 0755 "$WORK"
# smtpd -B queue=fs-proc execs $LIBEXEC/queue-fs-proc: our build, here only
setup_helper || die "cannot put $HELPER_BUILD in place of $LIBEXEC/queue-fs-proc"
# --modes ceiling: bench/null-proc as $LIBEXEC/queue-null-proc
case ",$MODES," in
*,ceiling,*) install_helper null-proc "$REPO/bench/null-proc" ||
	die "cannot put bench/null-proc in $LIBEXEC (make bench/null-proc)" ;;
esac

# A fresh journaled ext4 on $SPOOL (private mount namespace), or, with
# --rootfs, an empty $SPOOL on the root file system.  The ext4 is mounted
# on $SPOOL's parent: a mount on $SPOOL itself would be detached from
# under smtpd should anything outside remove /var/spool/smtpd meanwhile.
MNT=$(dirname "$SPOOL")
# The spool's sibling directories, made again (empty, same mode and
# owner) on each fresh file system: a private build keeps its chroot
# directory and its pid file and control socket beside its spool
# (PREFIX/var/empty, PREFIX/var/run)
MNT_SIBLINGS=$(find "$MNT" -mindepth 1 -maxdepth 1 -type d \
    ! -name "$(basename "$SPOOL")" -printf '%m %U %G %f\n' 2>/dev/null)
fresh_spool() {
	umount_spool
	if [ $ROOTFS = 1 ]; then rm -rf "$SPOOL"; return 0; fi
	sh "$REPO/tests/lib/loop-ext4.sh" -d -t /var/tmp "${FS_GB}G" "$MNT" &&
	    chmod 0755 "$MNT" && rmdir "$MNT/lost+found" &&
	    mkdir -m 0711 "$SPOOL" && make_siblings ||
	    { note "cannot mount a fresh ext4 on $MNT (--rootfs works without)"; return 1; }
}
make_siblings() {
	local mode uid gid name
	while read -r mode uid gid name; do
		[ -n "$name" ] || continue
		mkdir -m "$mode" "$MNT/$name" && chown "$uid:$gid" "$MNT/$name" ||
		    return 1
	done <<<"$MNT_SIBLINGS"
}
umount_spool() {
	[ $ROOTFS = 1 ] && return 0
	if [ "$(stat -c %m "$MNT" 2>/dev/null)" = "$MNT" ] &&
	    [ "$(findmnt -n -o SOURCE "$MNT" 2>/dev/null | cut -c1-9)" = /dev/loop ]; then
		umount "$MNT" || umount -l "$MNT"
	fi
}

# The neighbour: another program writing a large file (NB_MB MB) on the
# spool's file system with buffered writes while the load runs, as a
# database, a VM image, a local delivery or a backup beside the spool
# would.  Started just before a run's load, killed by pid at its end
# (started again for the probe after a built-in run); its file is
# removed after the run.  --nb-writer:
#  rewrite (default): the file is written and flushed once, then dd
#   rewrites it in place in a loop (conv=notrunc) and never flushes it.
#   Its pages stay dirty until the kernel's writeback meets them (after
#   vm.dirty_expire_centisecs, or beyond dirty_background_*): an fsync
#   of another file does not wait for them (ext4 data=ordered orders
#   newly allocated blocks only, and these were allocated once), a
#   syncfs does, since it writes every dirty page of the file system.
#   A dd rewrites cached pages faster than a disk takes them, so each
#   syncfs finds most of the file dirty again: a whole-file-system
#   commit's cost beside a busy neighbour, even on a fast disk.
#  flush: each pass writes the file anew (dd truncates: new blocks) and
#   flushes it (conv=fdatasync), so its blocks are allocated in the
#   journal transactions the queue's fsyncs commit.
NB_PID=
NB_FILE=$MNT/neighbour
NB_T0=
NB_DEV_W0=
neighbour_start() {
	local conv=notrunc
	[ "$NB_WRITER" = flush ] && conv=fdatasync
	if [ "$NB_WRITER" = rewrite ] && [ ! -f "$NB_FILE" ]; then
		dd if=/dev/zero of="$NB_FILE" bs=1M count="$NB_MB" \
		    conv=fdatasync status=none 2>>"$WORK/neighbour.log" ||
		    { note "neighbour: cannot write $NB_FILE"
		    rm -f "$NB_FILE"; return 1; }
	fi
	NB_T0=$(date +%s.%N)
	NB_DEV_W0=$(dev_written)
	(
		# bytes written: whole passes, and of the pass cut short what
		# its /proc/PID/io said just before it was killed
		stop=0 b=0 part="" dd=""
		trap 'part=$(sed -n "s/^wchar: //p" "/proc/$dd/io" 2>/dev/null)
		    kill "$dd" 2>/dev/null; stop=1' TERM
		while [ $stop = 0 ]; do
			dd if=/dev/zero of="$NB_FILE" bs=1M count="$NB_MB" \
			    conv=$conv status=none 2>>"$WORK/neighbour.log" &
			dd=$!
			wait "$dd"
			rc=$?
			# wait cut short by TERM: the status is dd's own now
			if [ $stop = 1 ] && [ $rc -gt 128 ]; then
				wait "$dd"
				rc=$?
			fi
			if [ $rc = 0 ]; then
				b=$((b + NB_MB * 1048576))
			else
				b=$((b + ${part:-0}))
			fi
		done
		echo "$b" >"$WORK/neighbour.bytes"
	) &
	NB_PID=$!
}
# neighbour_stop: kills the writer; NB_WROTE: MB it wrote (write(2), to
# the page cache), NB_SECS: for how long, NB_DEV_MB: MB the spool's
# device wrote meanwhile (the writer's, the queue's, the journal's)
NB_WROTE=- NB_SECS=- NB_DEV_MB=-
neighbour_stop() {
	[ -n "$NB_PID" ] || return 0
	kill -TERM "$NB_PID" 2>/dev/null
	wait "$NB_PID" 2>/dev/null
	NB_PID=
	NB_SECS=$(awk -v a="$NB_T0" -v b="$(date +%s.%N)" \
	    'BEGIN { printf "%.1f", b - a }')
	NB_WROTE=$(awk '{ printf "%.0f", $1 / 1048576 }' \
	    "$WORK/neighbour.bytes" 2>/dev/null)
	NB_WROTE=${NB_WROTE:--}
	NB_DEV_MB=$(awk -v a="$NB_DEV_W0" -v b="$(dev_written)" \
	    'BEGIN { if (a == "" || b == "") print "-";
	    else printf "%.0f", (b - a) * 512 / 1048576 }')
	rm -f "$WORK/neighbour.bytes"
}
neighbour_remove() {
	neighbour_stop
	rm -f "$NB_FILE"
}
# dev_written: sectors written by the device $MNT is on, so far
dev_written() {
	local dev
	dev=$(findmnt -n -o SOURCE --target "$MNT" 2>/dev/null | tail -1)
	[ -r "/sys/class/block/${dev#/dev/}/stat" ] &&
	    awk '{ print $7 }' "/sys/class/block/${dev#/dev/}/stat"
}

cleanup() {
	neighbour_remove
	[ -z "${LC_SINK_PID:-}" ] || lc_sink_stop
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
"$SMTPD" -n -f "$CONF" >"$WORK/conftest.log" 2>&1 ||
    { cat "$WORK/conftest.log" >&2; die "smtpd -n rejects $CONF"; }

# ---- the lifecycle: accepted, delivered, deleted ---------------------------
# The lifecycle runs' smtpd.conf (--lc-delivery):
#  relay (default): relay.test goes to smtp-sink on 127.0.0.1:RELAY_PORT,
#   up this time.  smtpd 6.8's MTA paces delivery by default: at most 5
#   connections per route (10 per host, 20 per connector), 5 s between
#   two connections to a route, 2 s to a relay, 3 s before a route is
#   connected again, 100 mails per session, and beyond 50 tasks for a
#   relay it parks envelopes in the scheduler's hold queue.  All lifted
#   here, so that the queue's work, not that pacing, sets the rate.  The
#   connection limits matter most: an MTA session with no task left
#   quits at once (unless it is the relay's only one, which polls for
#   work every second), and a connector that meets any connection limit
#   when new tasks come retries only 5 s later ("hit route limit ...
#   retrying to connect in 5s" with smtpd -v): with 8 per route most runs
#   stalled 5-10 s after the load, with one connection the drain took
#   1.5 s where it takes 0.1-0.3 s at best.  At LC_MAX_CONN the MTA opens
#   a connection per pending task, hundreds during the load; the sink
#   must take them all at once (LC_SINK_CONNS), or the SYNs it cannot
#   queue are sent again 1 s, 3 s, ... later.  What still stalls runs
#   about 10 s (smtpd -v): when every session of the relay runs out of
#   tasks at once, each quits (another is still open when it looks, so
#   none hangs on), the route goes, and the next tasks wait "for
#   connector" until the relay's next source check, 10 s after the last
#   ("scheduling relay ... in 10s", then "timeout for [relay...]").
#   --lc-max-conn 1 avoids it (a lone session hangs on) at the price of
#   one session's pace.
#  lmtp: the same sink with -L, through smtpd's "lmtp" action: an MDA
#   child per envelope (mail.lmtp), one LMTP session each.
#  maildir: into $WORK/Maildir, an MDA child per envelope (mail.maildir),
#   which syncs every file it delivers.
#  The MDA's limits (50 sessions, 7 per user) are lifted for both.
LC_CONF=$WORK/smtpd-lifecycle.conf
LC_MAILDIR=$WORK/Maildir
write_lc_conf() {
	local action
	case $LC_DELIVERY in
	relay) action="relay host smtp://127.0.0.1:$RELAY_PORT" ;;
	lmtp) action="lmtp \"127.0.0.1:$RELAY_PORT\" rcpt-to virtual <lcusers>" ;;
	maildir) action="maildir \"$LC_MAILDIR\" virtual <lcusers>" ;;
	esac
	if [ $LC_DELIVERY != relay ]; then
		# every recipient of relay.test is the e2e tests' local user
		ensure_user || return 1
		echo "@relay.test $QFP_E2E_USER" >"$WORK/lcusers"
	fi
	{
		echo "# generated by bench/e2e-bench.sh: the lifecycle runs, $LC_DELIVERY"
		echo "smtp limit max-mails 1000000"
		[ $LC_DELIVERY = relay ] || echo "table lcusers file:$WORK/lcusers"
		echo "listen on 127.0.0.1 port $PORT"
		echo "mta limit max-conn-per-route $LC_MAX_CONN" \
		    "max-conn-per-host $LC_MAX_CONN" \
		    "max-conn-per-connector $LC_MAX_CONN" \
		    "max-conn-per-relay $LC_MAX_CONN" \
		    "max-conn-per-domain $LC_MAX_CONN" \
		    "max-conn-per-source $LC_MAX_CONN" \
		    "conn-delay-route 0 conn-delay-relay 0 reconn-delay-route 0" \
		    "session-mail-max 1000000" \
		    "task-hiwat 1000000 task-lowat 500000 task-release 1000"
		echo "mda limit max-session 1000 max-session-per-user 1000"
		echo "action \"deliver\" $action"
		echo "match from any for domain \"relay.test\" action \"deliver\""
	} >"$LC_CONF"
	"$SMTPD" -n -f "$LC_CONF" >"$WORK/conftest.log" 2>&1 ||
	    { cat "$WORK/conftest.log" >&2; note "smtpd -n rejects $LC_CONF"; return 1; }
}

# lc_quickack 1|0: the quickack metric of the loopback routes (private
# network namespace: these routes are ours).  Without it smtpd's MTA
# waits about 40 ms on most of its transactions to the sink: the last
# segment of a message is held back (Nagle) until the previous one is
# acknowledged, and the sink, with nothing to answer before the end of
# DATA, delays that ACK.  Measured here: 1000 messages drained 6-12 s
# after the load without it, 0.1-0.2 s with it.  On for the lifecycle
# runs only, so the acceptance runs' TCP is left as it was.
lc_quickack() {
	ip route change local 127.0.0.0/8 dev lo proto kernel scope host \
	    src 127.0.0.1 table local quickack "$1" &&
	ip route change local 127.0.0.1 dev lo proto kernel scope host \
	    src 127.0.0.1 table local quickack "$1"
}

# lc_sink_start / lc_sink_stop: smtp-sink on 127.0.0.1:RELAY_PORT for one
# run (a fresh count), -c: its counters ("sess=N quit=N mesg=N", \r
# between updates) go to $WORK/sink-RUN.out; -L for LMTP; -m and the
# backlog above the MTA's connection limit, and the descriptors for them.
# For maildir, an empty maildir owned by the local user instead.  Stopped
# by pid; the port must be closed again: the other runs need the relay
# down.
LC_SINK_PID=
lc_sink_start() {
	local lmtp=
	if [ $LC_DELIVERY = maildir ]; then
		rm -rf "$LC_MAILDIR"
		mkdir -m 0700 "$LC_MAILDIR" && chown "$QFP_E2E_USER:" "$LC_MAILDIR"
		return
	fi
	[ $LC_DELIVERY = lmtp ] && lmtp=-L
	port_closed "$RELAY_PORT" || { note "127.0.0.1:$RELAY_PORT is taken"; return 1; }
	(
		ulimit -n $((LC_SINK_CONNS + 64)) 2>/dev/null
		export LD_LIBRARY_PATH=$SMTP_SOURCE_LIBS
		exec "$SMTP_SINK" $lmtp -c \
		    -m $LC_SINK_CONNS -u nobody "127.0.0.1:$RELAY_PORT" $LC_SINK_CONNS
	) >"$WORK/sink-$RUN.out" 2>&1 </dev/null &
	LC_SINK_PID=$!
	wait_until 10 port_open "$RELAY_PORT" ||
	    { note "smtp-sink did not listen on $RELAY_PORT"; lc_sink_stop; return 1; }
}
lc_sink_stop() {
	[ -n "$LC_SINK_PID" ] || return 0
	stop_child "$LC_SINK_PID"
	LC_SINK_PID=
	wait_until 5 port_closed "$RELAY_PORT"
}
# lc_delivered: messages the sink counted, or files in the maildir
lc_delivered() {
	if [ $LC_DELIVERY = maildir ]; then
		find "$LC_MAILDIR/new" -maxdepth 1 -type f 2>/dev/null | wc -l
	else
		tr '\r' '\n' 2>/dev/null <"$WORK/sink-$RUN.out" |
		    sed -n 's/.*mesg=\([0-9]*\).*/\1/p' | tail -1 | grep . || echo 0
	fi
}
# lc_drained: no message left in the queue: every one was delivered and
# deleted (-print -quit: cheap while many are left)
lc_drained() {
	[ -z "$(find "$SPOOL/queue" -mindepth 3 -maxdepth 3 -name message -print -quit 2>/dev/null)" ]
}
# lc_wait_drained SECS: polls lc_drained every 50 ms (a run lasts seconds:
# wait_until's 0.2 s would be a few percent of it)
lc_wait_drained() {
	local end=$((SECONDS + $1))
	until lc_drained; do
		[ "$SECONDS" -ge "$end" ] && return 1
		sleep 0.05
	done
}
# lc_check MSGS LOG: every envelope was delivered once (smtpd logs a line
# "... delivery evpid=... result=Ok" per envelope delivered, the MTA with
# the result quoted: MSGS x RCPTS lines), the sink counted at least MSGS
# messages (more if smtpd split a message's recipients, one per envelope
# through LMTP), or the maildir holds MSGS x RCPTS files; says what is
# missing otherwise
lc_check() {
	local msgs=$1 log=$2 ok got want=$(($1 * RCPTS))
	ok=$(grep -c -E ' delivery evpid=.* result="?Ok"? ' "$log")
	got=$(lc_delivered)
	if [ "$ok" != "$want" ]; then
		note "run $RUN: smtpd logged $ok deliveries, $want expected ($msgs msgs x $RCPTS rcpts)"
		grep -E 'result="(TempFail|PermFail|Loop)"' "$log" | head -3 >&2
		return 1
	fi
	if [ $LC_DELIVERY = maildir ] && [ "$got" != "$want" ]; then
		note "run $RUN: $got files in $LC_MAILDIR/new, $want expected"
		return 1
	elif [ $LC_DELIVERY != maildir ] && [ "$got" -lt "$msgs" ]; then
		note "run $RUN: smtp-sink counted $got messages, $msgs sent"
		return 1
	fi
}
# LC_CPU: "backend|process|us on a CPU per message|% of one CPU" of every
# process of smtpd's tree in each lifecycle run (the time from the first
# message sent to the empty queue), to tell which one sets the rate
LC_CPU=
lc_cpu_record() {	# lc_cpu_record BACKEND MSGS SECONDS
	LC_CPU+=$(sched_per_msg "$2" | awk -F'|' -v b="$1" -v n="$2" -v s="$3" '
	    { sub(/ +$/, "", $1) }
	    $2 >= 0.05 { printf "%s|%s|%.1f|%.0f\n", b, $1, $2, 100 * $2 * n / (s * 1e6) }')$'\n'
}
# lc_busiest BACKEND: its three busiest processes, averaged over its
# lifecycle runs: "name us/msg (N% of a CPU), ..."
lc_busiest() {
	echo "$LC_CPU" | awk -F'|' -v b="$1" '$1 == b {
		us[$2] += $3; pct[$2] += $4; runs[$2]++ }
	    END { for (p in us) printf "%.1f|%s|%.0f\n", us[p] / runs[p], p, pct[p] / runs[p] }' |
	    sort -t'|' -k1,1gr | head -3 |
	    awk -F'|' '{ printf "%s%s %s us/msg (%s%% of a CPU)", sep, $2, $1, $3; sep = ", " }'
}

# probe_fs LABEL N: bench/fsync-probe's four modes, N samples each (or
# what PROBE_SECS allows), in a scratch directory on the spool's file
# system (its mount point, beside smtpd's spool); appends "LABEL MODE
# p50_us p99_us max_us samples" to PROBES
PROBE_MODES="new newdir syncfs append"
PROBES=
probe_fs() {
	local label=$1 n=$2 mode out
	for mode in $PROBE_MODES; do
		if out=$(timeout -k 5 $PROBE_TIMEOUT "$PROBE" -n "$n" \
		    -t "$PROBE_SECS" "$mode" "$MNT" 2>&1); then
			PROBES+="$label $mode $(echo "$out" | awk '{
			    for (i = 2; i <= NF; i++) {
				split($i, kv, "=")
				v[kv[1]] = kv[2]
			    }
			    print v["p50_us"], v["p99_us"], v["max_us"], v["n"]
			}')"$'\n'
		else
			note "fsync-probe $mode ($label) failed or timed out: $out"
			PROBES+="$label $mode - - - -"$'\n'
		fi
	done
}

# ---- --profile: where the time of one message goes -------------------------
# PROF_SNAP[pid]: "args|on-cpu ns|run-queue wait ns|voluntary|involuntary"
# of every process of smtpd's tree (the helper and its checkpointer too),
# from /proc/PID/schedstat and status; a process that has exited by the
# second snapshot counts what it had at the first.
declare -A PROF_SNAP
PROF_TRACE=0		# 1: perf trace -s on the queue process and the helper;
			# 2: perf record -g on them (CPU time by system call)
PROF_TRACE_PID=
prof_snapshot() {	# prof_snapshot TAG: PROF_SNAP[TAG,pid] for the tree
	local tag=$1 p st vol inv
	for p in $SMTPD_PID $(descendants "$SMTPD_PID"); do
		read -r -a st <"/proc/$p/schedstat" 2>/dev/null || continue
		vol=$(awk '/^voluntary_ctxt/ { print $2 }' "/proc/$p/status" 2>/dev/null)
		inv=$(awk '/^nonvoluntary_ctxt/ { print $2 }' "/proc/$p/status" 2>/dev/null)
		PROF_SNAP[$tag,$p]="$(pid_args "$p" | cut -c1-30)|${st[0]}|${st[1]}|${vol:-0}|${inv:-0}"
	done
}
prof_queue_pid() {	# smtpd's queue process (its title: "smtpd: queue")
	local p
	for p in $(descendants "$SMTPD_PID"); do
		case $(pid_args "$p") in *"smtpd: queue"*) echo "$p"; return 0 ;; esac
	done
	return 1
}
prof_start() {
	PROF_SNAP=()
	PROF_STEAL=$(cpu_ticks)
	prof_snapshot a
	PROF_TRACE_PID=
	[ $PROF_TRACE != 0 ] || return 0
	local q h
	q=$(prof_queue_pid) || { note "profile: no queue process"; return 1; }
	if [ "${SMTPD_BACKEND%%:*}" != fs ]; then
		h=$(helper_pid) || { note "profile: no helper"; return 1; }
		q="$q,$h"
	fi
	if [ $PROF_TRACE = 1 ]; then
		perf trace -s -p "$q" -o "$WORK/trace-$RUN.txt" 2>"$WORK/trace-$RUN.err" &
	else
		perf record -q -e cpu-clock -F 10000 -g -p "$q" \
		    -o "$WORK/perf-$RUN.data" 2>"$WORK/trace-$RUN.err" &
	fi
	PROF_TRACE_PID=$!
	sleep 1		# attached
}
# perf record's samples of each command (smtpd's queue process, the
# helper) by the system call they were taken in (bench/prof-stacks.awk),
# in us per message; under perf, so larger than without
prof_record_report() {
	perf script -i "$WORK/perf-$RUN.data" 2>/dev/null |
	    awk -f "$REPO/bench/prof-stacks.awk" | sort -t'|' -k1,1 -k3,3nr |
	    awk -F'|' -v n="$1" -v hz=10000 '{
		us = $3 / hz * 1e6 / n
		if (us >= 2)
			printf "  %-16s %-22s %7.1f us %5.1f%%\n", $1, $2, us,
			    100 * $3 / $4
	    }' >>"$PROF_OUT"
}
# sched_per_msg N: "args|us on a CPU|us waiting for a CPU|voluntary
# switches|involuntary switches" per message of N, for each process of
# PROF_SNAP's snapshots a and b; one that appeared between them (the
# helper's log checkpointer, forked when a log file fills) counts from 0
sched_per_msg() {
	local k p
	for k in "${!PROF_SNAP[@]}"; do
		p=${k#?,}
		case $k in
		a,*) echo "${PROF_SNAP[a,$p]}|${PROF_SNAP[b,$p]:-${PROF_SNAP[a,$p]}}" ;;
		b,*) [ -n "${PROF_SNAP[a,$p]:-}" ] ||
			echo "${PROF_SNAP[b,$p]%%|*}|0|0|0|0|${PROF_SNAP[b,$p]}" ;;
		esac
	done | awk -F'|' -v OFS='|' -v n="$1" '{
		print $1, ($7 - $2) / 1000 / n, ($8 - $3) / 1000 / n,
		    ($9 - $4) / n, ($10 - $5) / n }'
}
# PROF_RUNS: "pass|backend|run|messages" of every profiled run, for the
# summary (prof_summary)
PROF_RUNS=
prof_stop() {		# prof_stop MSGS: the per-message report of this run
	local n=$1
	prof_snapshot b
	if [ -n "$PROF_TRACE_PID" ]; then
		kill -INT "$PROF_TRACE_PID" 2>/dev/null
		wait "$PROF_TRACE_PID" 2>/dev/null
	fi
	PROF_RUNS+="$PROF_TRACE|$PROF_BACKEND|$RUN|$n"$'\n'
	echo "# run $RUN, -B queue=$SMTPD_BACKEND, $n msgs: per message, us" \
	    "(on CPU, waiting for a CPU) and context switches (voluntary," \
	    "involuntary); stolen by the hypervisor:" \
	    "$(steal_since "$PROF_STEAL")% of the CPU time" >>"$PROF_OUT"
	sched_per_msg "$n" >"$WORK/sched-$RUN.txt"
	awk -F'|' '{
		if ($2 < 0.05 && $4 < 0.01)
			next
		printf "  %-30s %8.1f %8.1f %7.2f %7.2f\n", $1, $2, $3, $4, $5
		tc += $2; tw += $3
	} END { printf "  %-30s %8.1f %8.1f\n", "all", tc, tw }' \
	    "$WORK/sched-$RUN.txt" | sort -k2 >>"$PROF_OUT"
	[ -n "$PROF_TRACE_PID" ] || return 0
	[ $PROF_TRACE = 2 ] && { prof_record_report "$n"; return 0; }
	# perf trace -s: per thread, its syscalls; per message: calls, us
	awk -v n="$n" '
		/^ [^ ].*\([0-9]+\), [0-9]+ events/ { who = $1 $2; sub(/,$/, "", who) }
		$1 ~ /^[a-z_0-9]+$/ && NF >= 8 && $2 ~ /^[0-9]+$/ {
			printf "  %-18s %-16s %7.2f calls %8.1f us (avg %6.1f)\n",
			    who, $1, $2 / n, $4 * 1000 / n, $6 * 1000
		}' "$WORK/trace-$RUN.txt" | awk '$5 + 0 >= 1.0 || $3 + 0 >= 0.5' >>"$PROF_OUT"
}

# prof_summary: one line per backend profiled: per message, the CPU time
# (plain pass) of smtpd's queue process, of the helper, of its log
# checkpointer and of smtpd's whole tree, and the system calls (perf
# trace pass) of the queue process and of the helper: what the helper
# adds to, or takes from, the built-in queue's work
prof_summary() {
	local b plain traced n
	echo "# per message, by backend: us on a CPU (plain pass) and system calls (perf trace pass)"
	printf '  %-18s %12s %9s %13s %10s %12s %12s\n' backend "smtpd: queue" \
	    helper checkpointer "all smtpd" "queue calls" "helper calls"
	for b in fs fs-proc "fs-proc:-S none" null-proc; do
		plain=$(echo "$PROF_RUNS" | awk -F'|' -v b="$b" '$1 == 0 && $2 == b { print $3; exit }')
		[ -n "$plain" ] || continue
		traced=$(echo "$PROF_RUNS" | awk -F'|' -v b="$b" '$1 == 1 && $2 == b { print $3 "|" $4; exit }')
		n=${traced#*|}
		traced=${traced%|*}
		{
			awk -F'|' '
			    $1 ~ /^smtpd: queue/ { q += $2 }
			    $1 ~ /^queue-proc: log checkpointer/ { c += $2; next }
			    $1 ~ /^queue-proc/ { h += $2; hs = 1 }
			    { all += $2 }
			    END { printf "%.1f %s %s %.1f", q, hs ? sprintf("%.1f", h) : "-",
				hs ? sprintf("%.1f", c) : "-", all }' "$WORK/sched-$plain.txt"
			if [ -n "$traced" ] && [ -f "$WORK/trace-$traced.txt" ]; then
				# perf trace -s: a thread's header names its command
				awk -v n="$n" '
				    /^ [^ ].*\([0-9]+\), [0-9]+ events/ { who = $1 }
				    $1 ~ /^[a-z_0-9]+$/ && NF >= 8 && $2 ~ /^[0-9]+$/ { c[who] += $2 }
				    $1 ~ /^queue-(fs|null)-proc$/ { helper = $1 }
				    END { printf " %.1f %s\n", c["smtpd"] / n,
					helper ? sprintf("%.1f", c[helper] / n) : "-" }' \
				    "$WORK/trace-$traced.txt"
			else
				echo " - -"
			fi
		} | while read -r q h c all qc hc; do
			printf '  %-18s %12s %9s %13s %10s %12s %12s\n' "$b" "$q" "$h" "$c" "$all" "$qc" "$hc"
		done
	done
}

# run_one BACKEND [neighbour] [probe]: sets RATE (msgs/s) and RATE_NOTE;
# returns 0 on success.  neighbour: the writer runs beside the load, and
# NB_MSGS are sent (a run that outlasts NB_RUN_TIMEOUT is cut and its rate
# is what was queued by then); RUN_NB: "MB seconds device-MB" of the
# writer from its start, one second before the load, to the load's end.
# probe: fsync-probe after the run, on the same file system (beside the
# writer again, if any).  lifecycle: relay up (LC_CONF, the sink), LC_MSGS
# sent, the rate runs to the empty queue, every envelope must have been
# delivered; LC_CPU gets the run's CPU time by process.
RUN=0
RATE=
# at_spool BACKEND: with -s SPOOL for queue-fs-proc when the smtpd under
# test keeps its spool elsewhere than the helper's default (a private
# build: tests/upstream's QFP_E2E_* variables)
at_spool() {
	if [ "$SPOOL" = /var/spool/smtpd ] || [ "${1%%:*}" != fs-proc ]; then
		echo "$1"
	elif [ "$1" = fs-proc ]; then
		echo "fs-proc:-s $SPOOL"
	else
		echo "$1 -s $SPOOL"
	fi
}
RATE_NOTE=
RUN_NB=
run_one() {
	local backend=$1 log t0 t1 n rc nb=0 probe=0 msgs=$MSGS limit=$RUN_TIMEOUT
	local lc=0 conf=$CONF tl
	case " $* " in *" neighbour "*) nb=1; msgs=$NB_MSGS; limit=$NB_RUN_TIMEOUT ;; esac
	case " $* " in *" probe "*) probe=1 ;; esac
	case " $* " in *" lifecycle "*) lc=1; msgs=$LC_MSGS ;; esac
	RUN=$((RUN + 1))
	RATE_NOTE=
	RUN_NB=
	fresh_spool || return 1
	PROF_BACKEND=$backend
	if [ $lc = 1 ]; then
		lc_quickack 1 || { note "cannot set quickack on the loopback routes"; return 1; }
		lc_sink_start || { lc_quickack 0; return 1; }
		CONF=$LC_CONF
	fi
	start_smtpd "$(at_spool "$backend")" "bench-run$RUN-${backend%%:*}-start"
	rc=$?
	CONF=$conf
	if [ $rc != 0 ]; then
		[ $lc = 0 ] || { lc_sink_stop; lc_quickack 0; }
		return 1
	fi
	log=$SMTPD_LOG
	if [ $nb = 1 ]; then
		neighbour_start || { stop_smtpd quiet; return 1; }
		sleep 1		# let it dirty pages before the load starts
	fi
	[ $PROFILE = 0 ] || prof_start || { stop_smtpd quiet; return 1; }
	if [ $lc = 1 ]; then
		PROF_SNAP=()
		prof_snapshot a
	fi
	t0=$(date +%s.%N)
	LD_LIBRARY_PATH=$SMTP_SOURCE_LIBS timeout -k 5 $limit \
	    "$SMTP_SOURCE" -d -s "$SESSIONS" -m "$msgs" -l "$SIZE" \
	    -r "$RCPTS" -M bench.test -f sender@bench.test \
	    -t rcpt@relay.test "127.0.0.1:$PORT" >"$WORK/source-$RUN.log" 2>&1
	rc=$?
	[ $lc = 0 ] || tl=$(date +%s.%N)	# the load's end: the drain's start
	if [ $lc = 1 ] && [ $rc = 0 ] && ! lc_wait_drained $LC_DRAIN_TIMEOUT; then
		note "run $RUN ($backend, lifecycle): queue not empty ${LC_DRAIN_TIMEOUT}s after the load;" \
		    "$(find "$SPOOL/queue" -mindepth 3 -maxdepth 3 -name message | wc -l) messages left," \
		    "$(lc_delivered) at the sink or maildir"
		rc=1
	fi
	t1=$(date +%s.%N)
	[ $PROFILE = 0 ] || prof_stop "$msgs"
	if [ $lc = 1 ]; then
		prof_snapshot b
		lc_cpu_record "$backend" "$msgs" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
		RATE_NOTE=$(awk -v a="$t0" -v l="$tl" -v b="$t1" \
		    'BEGIN { printf "(load %.2f s, then drained in %.2f s)", l - a, b - l }')
	fi
	if [ $nb = 1 ]; then
		neighbour_stop
		RUN_NB="$NB_WROTE $NB_SECS $NB_DEV_MB"
	fi
	# ground truth: messages in the queue (same layout for both backends),
	# or, for the lifecycle, delivered (the queue is empty by now)
	n=$(find "$SPOOL/queue" -mindepth 3 -maxdepth 3 -name message 2>/dev/null | wc -l)
	stop_smtpd quiet
	# null-proc keeps no files: what smtpd said it queued, after the commit
	[ "$backend" = null-proc ] && n=$(grep -c ' smtp message msgid=' "$log")
	if [ $lc = 1 ]; then
		n="not all"
		if [ $rc = 0 ] && lc_check "$msgs" "$log"; then n=$msgs; fi
		lc_sink_stop
		lc_quickack 0
	fi
	if [ $probe = 1 ] && [ $nb = 1 ]; then
		if neighbour_start; then
			sleep 1
			probe_fs neighbour $((PROBE_N < 200 ? PROBE_N : 200))
		fi
	elif [ $probe = 1 ]; then
		probe_fs idle "$PROBE_N"
	fi
	neighbour_remove
	if [ $nb = 1 ] && [ $rc = 124 ] && [ "$n" -gt 0 ]; then
		RATE_NOTE="(cut at ${limit}s: $n of $msgs queued)"
		note "run $RUN ($backend, neighbour): $RATE_NOTE"
		msgs=$n rc=0
	fi
	if grep -q -E 'fatal|lost child|abnormally' "$log"; then
		note "run $RUN ($backend): smtpd log has errors:"
		grep -E 'fatal|lost child|abnormally' "$log" | head -5 >&2
	fi
	if [ $rc != 0 ] || [ "$n" != "$msgs" ]; then
		note "run $RUN ($backend): smtp-source exit $rc, $n of $msgs messages $([ $lc = 1 ] && echo "delivered" || echo "queued")"
		tail -5 "$WORK/source-$RUN.log" >&2
		return 1
	fi
	RATE=$(awk -v n="$msgs" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", n / (b - a) }')
}

# count_barriers RCPTS BYTES: fsync-class calls of the helper (strace -f
# on it) while BARRIER_MSGS messages of RCPTS recipients and BYTES bytes
# are accepted, one session, smtpd's MTA paused (-P mta: no delivery
# attempt updates an envelope meanwhile), so every call counted is the
# acceptance path's.  Sets BARRIER_CALLS, BARRIER_BY ("fsync 6, syncfs
# 3, ") and BARRIER_N (messages queued); returns 0 on success.
BARRIER_SYSCALLS=fsync,fdatasync,syncfs,sync,sync_file_range,msync
count_barriers() {
	local rcpts=$1 bytes=$2 hp spid out=$WORK/strace-rcpt$1-$2.txt rc
	RUN=$((RUN + 1))
	fresh_spool || return 1
	start_smtpd "$(at_spool fs-proc)" "bench-barriers-rcpt$rcpts-$bytes-start" -P mta || return 1
	hp=$(helper_pid) || { stop_smtpd quiet; return 1; }
	strace -f -qq -p "$hp" -e trace=$BARRIER_SYSCALLS -o "$out" &
	spid=$!
	# strace is attached once its first line of /proc status shows
	wait_until 10 grep -q "^TracerPid:[[:space:]]*$spid" "/proc/$hp/status" ||
	    { note "strace did not attach to helper pid $hp"; kill "$spid"; wait "$spid"; stop_smtpd quiet; return 1; }
	LD_LIBRARY_PATH=$SMTP_SOURCE_LIBS timeout -k 5 $RUN_TIMEOUT \
	    "$SMTP_SOURCE" -d -s 1 -m "$BARRIER_MSGS" -l "$bytes" \
	    -r "$rcpts" -M bench.test -f sender@bench.test \
	    -t rcpt@relay.test "127.0.0.1:$PORT" >"$WORK/source-$RUN.log" 2>&1
	rc=$?
	kill -INT "$spid" 2>/dev/null
	wait "$spid" 2>/dev/null
	BARRIER_N=$(find "$SPOOL/queue" -mindepth 3 -maxdepth 3 -name message 2>/dev/null | wc -l)
	stop_smtpd quiet
	# one line per call; with -f, an interrupted call's "resumed" half
	# is the same call
	BARRIER_CALLS=$(grep -c -E "^[0-9]+ +(${BARRIER_SYSCALLS//,/|})\(" "$out")
	BARRIER_BY=$(grep -o -E "^[0-9]+ +(${BARRIER_SYSCALLS//,/|})\(" "$out" |
	    awk '{ sub(/\(/, "", $2); n[$2]++ } END { for (c in n) printf "%s %d, ", c, n[c] }')
	if [ $rc != 0 ] || [ "$BARRIER_N" != "$BARRIER_MSGS" ]; then
		note "barrier count, $rcpts rcpts, $bytes bytes: smtp-source exit $rc, $BARRIER_N of $BARRIER_MSGS queued"
		return 1
	fi
}


LOAD0=$(cut -d' ' -f1 /proc/loadavg)
# CPU time the hypervisor gave to others while we wanted it ("steal",
# /proc/stat): on a shared host it inflates every time measured here
cpu_ticks() { awk '$1 == "cpu" { t = 0; for (i = 2; i <= 9; i++) t += $i; print $9, t }' /proc/stat; }
steal_since() {	# steal_since "STEAL TOTAL": percent of CPU time stolen since
	cpu_ticks | awk -v a="$1" 'BEGIN { split(a, o, " ") }
	    { d = $2 - o[2]; printf "%.1f", (d > 0 ? 100 * ($1 - o[1]) / d : 0) }'
}
STEAL0=$(cpu_ticks)
declare -A RATES RATIOS NBW
run_one fs || die "warm-up run failed (logs in $WORK)"
note "warm-up run (fs, not counted): $RATE msgs/s"

if [ $PROFILE = 1 ]; then
	PROF_OUT=$WORK/profile.txt
	: >"$PROF_OUT"
	PROF_RUNS=		# not the warm-up run's
	PROF_NULL=		# with --modes ...ceiling: null-proc too
	case ",$MODES," in *,ceiling,*) PROF_NULL=null-proc ;; esac
	traces=0
	command -v perf >/dev/null 2>&1 && traces="0 1 2" ||
	    note "perf not found (Debian's linux-perf): no syscall profile"
	for PROF_TRACE in $traces; do
		for b in fs fs-proc "fs-proc:-S none" $PROF_NULL; do
			run_one "$b" || { KEEP=1; die "profile run of $b failed (logs in $WORK)"; }
			echo "#   $RATE msgs/s$([ $PROF_TRACE = 1 ] && echo ", under perf trace")$([ $PROF_TRACE = 2 ] && echo ", under perf record")" >>"$PROF_OUT"
		done
	done
	echo
	echo "e2e-bench --profile: $("$SMTPD" -h 2>&1 | sed -n 's/^version: //p'), $MSGS msgs, $SESSIONS sessions, $SIZE-byte bodies, $RCPTS rcpts/msg, relay down; load average $LOAD0 at start, CPU time stolen by the hypervisor $(steal_since "$STEAL0")% over all runs"
	cat "$PROF_OUT"
	prof_summary
	exit 0
fi

# run_pairs KEY PROC NPAIRS [neighbour|lifecycle]: NPAIRS ABBA pairs of
# the built-in queue and PROC; rates in RATES[KEY,fs], RATES[KEY,proc],
# ratios in RATIOS[KEY]; beside the neighbour, its RUN_NB per run in
# NBW[KEY,fs] and NBW[KEY,proc] (";" between runs).  Every built-in run
# but a lifecycle one is followed by fsync-probe on its file system (its t
# goes with its R_fs).
run_pairs() {
	local key=$1 proc=$2 npairs=$3 extra=${4:-} p b
	for ((p = 0; p < npairs; p++)); do
		# ABBA: A B, then B A, ...
		if ((p % 2 == 0)); then order=("fs" "$proc"); else order=("$proc" "fs"); fi
		declare -A r=()
		for b in "${order[@]}"; do
			# shellcheck disable=SC2086
			run_one "$b" $extra $([ "$b" = fs ] && [ "$extra" != lifecycle ] && echo probe) ||
			    { KEEP=1; die "run of -B queue=$b failed (logs kept in $WORK)"; }
			r[$b]=$RATE
			if [ -n "$RUN_NB" ] && [ "$b" = fs ]; then
				NBW[$key,fs]+="$RUN_NB;"
			elif [ -n "$RUN_NB" ]; then
				NBW[$key,proc]+="$RUN_NB;"
			fi
			note "$key pair $((p + 1))/$npairs: -B queue=$b: ${r[$b]} msgs/s $RATE_NOTE"
		done
		RATES[$key,fs]+="${r[fs]} "
		RATES[$key,proc]+="${r[$proc]} "
		RATIOS[$key]+="$(awk -v a="${r[$proc]}" -v b="${r[fs]}" 'BEGIN { printf "%.3f", a / b }') "
		unset r
	done
}

# --modes none: no acceptance pairs (a pass of the other parts only)
[ "$MODES" = none ] && MODES=
IFS=, read -r -a mode_list <<<"$MODES"
for mode in "${mode_list[@]}"; do
	case $mode in
	durable) run_pairs durable fs-proc "$PAIRS" ;;
	relaxed) run_pairs relaxed "fs-proc:-S none" "$PAIRS" ;;
	ceiling) run_pairs ceiling null-proc "$PAIRS" ;;
	*) die "unknown mode $mode (durable, relaxed, ceiling)" ;;
	esac
done
# beside a neighbour writer: one pair, built-in and durable
[ $NEIGHBOUR = 1 ] && run_pairs neighbour fs-proc 1 neighbour

# the lifecycle, relay up: ABBA pairs of the built-in queue against each
# helper mode of --lc-modes
lc_mode_list=()
if [ $LIFECYCLE = 1 ]; then
	write_lc_conf || die "cannot write the lifecycle's smtpd.conf"
	IFS=, read -r -a lc_mode_list <<<"$LC_MODES"
	for mode in "${lc_mode_list[@]}"; do
		case $mode in
		durable) run_pairs lc-durable fs-proc "$LC_PAIRS" lifecycle ;;
		relaxed) run_pairs lc-relaxed "fs-proc:-S none" "$LC_PAIRS" lifecycle ;;
		*) die "unknown lifecycle mode $mode (durable, relaxed)" ;;
		esac
	done
fi

# the fsync-class calls per message, for each recipient count, with the
# bodies of the acceptance runs ($SIZE) and with bodies above 64 KB
declare -A BARRIERS_OF
BARRIER_SIZES=$SIZE
[ "$BARRIER_BIG_SIZE" = "$SIZE" ] || BARRIER_SIZES+=" $BARRIER_BIG_SIZE"
if [ $BARRIERS = 1 ]; then
	IFS=, read -r -a rcpt_list <<<"$BARRIER_RCPTS"
	for bytes in $BARRIER_SIZES; do
		for n in "${rcpt_list[@]}"; do
			count_barriers "$n" "$bytes" || { KEEP=1; die "fsync-class count with $n rcpts, $bytes bytes failed (logs kept in $WORK)"; }
			BARRIERS_OF[$n,$bytes]="$BARRIER_CALLS $BARRIER_N ${BARRIER_BY%, }"
			note "fsync-class calls, $n rcpts, $bytes bytes: $BARRIER_CALLS for $BARRIER_N messages"
		done
	done
fi

# ---- the table -------------------------------------------------------------

med_of() {	# med_of "LIST": median of the numbers in LIST, "-" if none
	local v
	v=$(echo "$1" | tr ' ' '\n' | grep -E '^[0-9.]+$')
	if [ -n "$v" ]; then echo "$v" | median; else echo -; fi
}
ratio_of() {	# ratio_of A B: A / B to 3 places, "-" if either is missing
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.3f\n", a / b }'
}
verdict_of() {	# verdict_of VALUE ge|le TARGET
	awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {
		if (v == "-") print "n/a"
		else print ((op == "ge" ? v >= t : v <= t) ? "MET" : "MISSED") }'
}
# floor_of R_FS T_US: 1 / (1/R_fs + t), the rate of a backend that adds
# exactly a wait of t us to the built-in queue's work per message
floor_of() {
	awk -v r="$1" -v t="$2" 'BEGIN { if (r == "-" || t == "-") print "-"; else printf "%.1f\n", 1 / (1 / r + t / 1e6) }'
}
row() { printf '%-22s %-34s %9s %9s  %-16s %s\n' "$@"; }
sysctl_of() { cat "/proc/sys/vm/$1" 2>/dev/null || echo -; }
# nb_writer_row "MB SECS DEV_MB;...": what the neighbour wrote in each run
# (from one second before the load to its end), and the device's writes
nb_writer_row() {
	local runs
	runs=$(echo "$1" | tr ';' '\n' | awk 'NF == 3 {
		rate = "-"
		if ($1 != "-" && $2 + 0 > 0)
			rate = sprintf("%.0f", $1 / $2)
		printf "%s%s MB in %s s (%s MB/s), device %s MB", sep, $1, $2,
		    rate, $3
		sep = "; " }')
	printf '%-22s %s\n' "  writer" "${runs:--}"
}
# probe_col LABEL MODE FIELD(3 p50, 4 p99, 5 max, 6 n): one value per run
probe_col() {
	echo "$PROBES" | awk -v l="$1" -v m="$2" -v f="$3" '$1 == l && $2 == m { printf "%s ", $f }'
}

echo
echo "e2e-bench: $("$SMTPD" -h 2>&1 | sed -n 's/^version: //p'), spool on $([ $ROOTFS = 1 ] && echo "the root fs" || echo "a fresh journaled ext4 per run"), $MSGS msgs x $PAIRS ABBA pairs, $SESSIONS persistent sessions (smtp-source -d), $SIZE-byte bodies, $RCPTS rcpts/msg, relay down (127.0.0.1:$RELAY_PORT closed); $(nproc) CPUs"
if [ ${#mode_list[@]} -gt 0 ]; then
	row "backend" "msgs/s per run" "median" "ratio" "target" "verdict"
	row "----------------------" "----------------------------------" "---------" "---------" "----------------" "-------"
fi
ALL_FS=
for mode in "${mode_list[@]}"; do
	case $mode in
	durable) pname="fs-proc (-S full)"; target=0.8 ;;
	relaxed) pname="fs-proc:-S none"; target=1.0 ;;
	ceiling) pname="null-proc (no store)"; target=- ;;
	esac
	fsr=${RATES[$mode,fs]}
	pr=${RATES[$mode,proc]}
	ALL_FS+="$fsr"
	mra=$(med_of "${RATIOS[$mode]}")
	row "fs ($mode pairs)" "$fsr" "$(med_of "$fsr")" "" "" ""
	if [ "$target" = - ]; then
		row "$pname" "$pr" "$(med_of "$pr")" "${mra}x" "(information)" ""
	else
		row "$pname" "$pr" "$(med_of "$pr")" "${mra}x" ">= ${target}x fs" "$(verdict_of "$mra" ge "$target")"
	fi
	printf '%-22s %-34s\n' "  per-pair ratios" "${RATIOS[$mode]}"
done

# the one-barrier ceiling: R_fs from every idle built-in run, t from the
# fsync-probe that followed each of them on its file system
R_FS=$(med_of "$ALL_FS")
T_US=$(med_of "$(probe_col idle new 3)")
T_LOG_US=$(med_of "$(probe_col idle append 3)")
CEIL=$(floor_of "$R_FS" "$T_US")
FLOOR=$(floor_of "$R_FS" "$T_LOG_US")
DUR=$(med_of "${RATES[durable,proc]:-}")
if [ -n "${RATES[durable,proc]:-}" ]; then
	# the ceiling is information now: issue 18's target is the log floor
	row "one-barrier ceiling" "1/(1/R_fs+t), R_fs $R_FS, t ${T_US}us" "$CEIL" "" "" ""
	row "fs-proc (-S full)" "median, as a fraction of the ceiling" "$DUR" "$(ratio_of "$DUR" "$CEIL")x" "(information)" ""
	row "log floor" "1/(1/R_fs+t_log), t_log ${T_LOG_US}us" "$FLOOR" "" "" ""
	r=$(ratio_of "$DUR" "$FLOOR")
	row "fs-proc (-S full)" "median, as a fraction of the floor" "$DUR" "${r}x" ">= 0.9x floor" "$(verdict_of "$r" ge 0.9)"
	# the same floor for a helper whose store costs nothing: R_null
	# (null-proc's rate) in place of R_fs
	R_NULL=$(med_of "${RATES[ceiling,proc]:-}")
	if [ "$R_NULL" != - ]; then
		NFLOOR=$(floor_of "$R_NULL" "$T_LOG_US")
		row "protocol's log floor" "1/(1/R_null+t_log), R_null $R_NULL" "$NFLOOR" "" "" ""
		row "fs-proc (-S full)" "median, as a fraction of it" "$DUR" "$(ratio_of "$DUR" "$NFLOOR")x" "(information)" ""
	fi
fi

if [ $NEIGHBOUR = 1 ]; then
	echo
	case $NB_WRITER in
	rewrite) what="dd rewriting a ${NB_MB} MB file in place"
		what+=" (conv=notrunc), buffered, never flushed" ;;
	flush) what="dd writing a ${NB_MB} MB file anew, buffered,"
		what+=" conv=fdatasync" ;;
	esac
	echo "beside a neighbour writer ($what, in a loop on the spool's fs)," \
	    "$NB_MSGS msgs per run; ratio = fraction of the idle median"
	echo "vm: dirty_background_ratio $(sysctl_of dirty_background_ratio)" \
	    "(bytes $(sysctl_of dirty_background_bytes))," \
	    "dirty_ratio $(sysctl_of dirty_ratio)" \
	    "(bytes $(sysctl_of dirty_bytes))," \
	    "dirty_expire_centisecs $(sysctl_of dirty_expire_centisecs);" \
	    "$(awk '/^MemTotal:/ { printf "%.1f GB RAM", $2 / 1048576 }' \
	    /proc/meminfo)"
	fsr=${RATES[neighbour,fs]}
	pr=${RATES[neighbour,proc]}
	m=$(med_of "$fsr")
	row "fs + neighbour" "$fsr" "$m" "$(ratio_of "$m" "$R_FS")x" "" ""
	nb_writer_row "${NBW[neighbour,fs]:-}"
	m=$(med_of "$pr")
	r=$(ratio_of "$m" "$DUR")
	row "fs-proc -S full + nb" "$pr" "$m" "${r}x" ">= 0.6x idle" "$(verdict_of "$r" ge 0.6)"
	nb_writer_row "${NBW[neighbour,proc]:-}"
fi

if [ $LIFECYCLE = 1 ]; then
	echo
	case $LC_DELIVERY in
	relay) what="relayed to smtp-sink on 127.0.0.1:$RELAY_PORT, MTA limits lifted" ;;
	lmtp) what="smtpd's lmtp action to smtp-sink -L on 127.0.0.1:$RELAY_PORT" ;;
	maildir) what="smtpd's maildir action, one local user" ;;
	esac
	echo "lifecycle ($what), $LC_MSGS msgs x $LC_PAIRS ABBA pairs:" \
	    "msgs / time from the first message sent to an empty queue"
	row "backend" "msgs/s per run" "median" "ratio" "target" ""
	for mode in "${lc_mode_list[@]}"; do
		case $mode in
		durable) pname="fs-proc (-S full)" ;;
		relaxed) pname="fs-proc:-S none" ;;
		esac
		fsr=${RATES[lc-$mode,fs]}
		pr=${RATES[lc-$mode,proc]}
		row "fs (lc $mode pairs)" "$fsr" "$(med_of "$fsr")" "" "" ""
		row "$pname" "$pr" "$(med_of "$pr")" "$(med_of "${RATIOS[lc-$mode]}")x" "(none given)" ""
		printf '%-22s %-34s\n' "  per-pair ratios" "${RATIOS[lc-$mode]}"
	done
	echo "busiest processes (CPU time per message and share of one CPU, first message to empty queue, mean of the runs):"
	for b in fs fs-proc "fs-proc:-S none"; do
		busy=$(lc_busiest "$b")
		[ -z "$busy" ] || printf '  %-20s %s\n' "$b:" "$busy"
	done
fi

# the probes, if any built-in run took them (not with --modes none alone)
if [ -n "$PROBES" ]; then
	echo
	echo "bench/fsync-probe on the spool's file system after each built-in run, idle and beside the neighbour (nb), in us:"
	echo "new 4 KB file + fsync (t of the ceiling), + fsync of its directory," \
	    "new 4 KB file + syncfs (what a commit by syncfs waits for),"
	echo "6 KB append to a preallocated file + fdatasync (t_log of the log floor);" \
	    "samples: per run (a mode stops after ${PROBE_SECS} s)"
	row "probe" "p50 per run" "median" "p99" "max" "samples"
fi
for label in idle neighbour; do
	[ -n "$(probe_col "$label" new 3)" ] || continue
	for mode in $PROBE_MODES; do
		case $mode in
		new) what="new+fsync" ;;
		newdir) what="new+fsync+dir" ;;
		syncfs) what="new+syncfs" ;;
		append) what="append+fdatasync" ;;
		esac
		p99=$(probe_col "$label" "$mode" 4 | tr ' ' '\n' | grep -E '^[0-9]+$' | sort -g | tail -1)
		max=$(probe_col "$label" "$mode" 5 | tr ' ' '\n' | grep -E '^[0-9]+$' | sort -g | tail -1)
		p50=$(probe_col "$label" "$mode" 3)
		row "$what, ${label/neighbour/nb}" "$p50" "$(med_of "$p50")" \
		    "${p99:--}" "${max:--}" "$(probe_col "$label" "$mode" 6)"
	done
done

if [ $BARRIERS = 1 ]; then
	echo
	echo "fsync-class calls ($BARRIER_SYSCALLS) of the helper per accepted message, -S full, strace -f, MTA paused, 1 session, $BARRIER_MSGS msgs"
	row "recipients, body" "calls / messages" "per msg" "" "target" "verdict"
	for bytes in $BARRIER_SIZES; do
		# issue 18: one barrier for a body up to 64 KB, two above
		if [ "$bytes" -le 65536 ]; then max=1; else max=2; fi
		for n in "${rcpt_list[@]}"; do
			read -r calls msgs by <<<"${BARRIERS_OF[$n,$bytes]}"
			per=$(ratio_of "$calls" "$msgs")
			row "$n rcpt(s), $bytes B" "$calls / $msgs${by:+ ($by)}" "$per" "" "<= $max per msg" "$(verdict_of "$per" le $max)"
		done
	done
fi
echo "load average at start $LOAD0, at end $(cut -d' ' -f1 /proc/loadavg) ($(nproc) CPUs), CPU time stolen by the hypervisor $(steal_since "$STEAL0")%: other load on the machine shows in every number"
exit 0
