#!/bin/bash
# Ordering test: the syncs themselves, which a SIGKILL test cannot see.
#
# The daemon runs under strace (started by tests/lib/qfp-drive as smtpd
# would start it, as root: spool_prepare() makes fs-proc/, so durable
# requests go through the write-ahead log) on a fresh journaled ext4
# (tests/lib/loop-ext4.sh: the root file system here has no journal, and
# a body over 64 KB is kept in place only on one that journals metadata
# in order; without a loop device the spool goes on /tmp and the test
# says what it could not exercise).  The sequence (tests/lib/qt_work.h):
# a message of 5000 bytes committed smtpd's way (its temporary/MSGID
# renamed: the body goes into the log's record, "inline"), envelopes
# created while incoming and once committed, updated, deleted; then a
# 100 KB message committed smtpd's way ("in place"), one envelope
# deleted, the message deleted.  tracecheck.awk decodes each request,
# answer and log record from the bytes and checks, for every r = 1
# answer to a durable request, that the daemon's own process made the
# right calls in the right order between request and answer: the log's
# rules, or the layout syncing itself (see its header).
#
# Also checked the same way: the sequence on /tmp when it has no journal
# (the 100 KB body then takes the syncfs() commit, no record: the
# syncfs, the rename into queue/, then fsync() of the bucket and of
# incoming/, whose entry the rename removed); a 100 KB body from a file
# outside the spool, which the daemon copies; and 600 messages of
# 60 KB, which fill log.0 so that the log goes on in log.1 while the
# checkpointer process syncs the spool beside the daemon.
#
# Every DEAD record (a log file marked dead: at start, at exit, by the
# checkpointer) must follow a syncfs() of the file systems of queue/
# and incoming/ (tracecheck.awk knows each fd's file system from the
# mount table saved beside each trace, TRACE.mounts).  One run puts
# fs-proc/ on a tmpfs of its own, with a small log (-L 64k) so that the
# checkpointer marks files dead too: a syncfs() through fs-proc/'s fd
# would sync the tmpfs only, and the trace must show one of queue/'s
# file system before each DEAD record.
#
# Self-test, on the lifecycle's traces (journaled and not): the checker
# must say BAD on a copy with any one call it relied on (the log's
# fdatasync()s and records, the in-place commit's fsync() of the
# message file, the syncfs() commit's syncs, the rename of
# temporary/MSGID) deleted, or failing with EIO, or made by another
# process, or moved after the point it must precede (the log's
# fdatasync() after the answer, or after the rename of an update; a
# deletion's record after the answer; the message's fsync() after its
# record, the rename of temporary/MSGID after that fsync; syncfs()
# after the rename; the bucket fsync after the answer); and on the
# trace of a daemon run with -S none.  The undoctored copy must pass.
# Doctored on purpose, whatever the daemon: the unjournaled trace
# without its fsync(incoming) (the syncfs() commit must be BAD), and
# the trace with fs-proc/ on a tmpfs with every syncfs() moved onto
# fs-proc/'s fd, or those on other fds deleted (every DEAD record must
# be BAD).
#
# Counts: fsync-class calls (fsync, fdatasync, syncfs, sync,
# sync_file_range, msync) of the daemon's own process per accepted
# message (create, envelopes, commit) for 1, 2, 10 and 50 recipients,
# 8 KB bodies copied from outside the spool: at most 2 (it is 1, the
# log's fdatasync(); delivery makes none: deletions are logged without
# a sync).  A body over 64 KB kept in place (the sequence's, and 10
# messages of 100 KB for 1 and 10 recipients, copied) makes 2, the
# message file's fsync() and the log's fdatasync(): at most 2 too, on
# a journaled spool.  The checkpointer's calls are reported apart.
# With -S none: 0 while requests are served (the start's retire of an
# earlier run's log syncs, whatever -S says: a syncfs() per file system
# of the spool).  The traces of those runs (10 commits, 10 x N
# deliveries each, buckets new and not) go through the same ordering
# check.
set -u
cd "$(dirname "$0")/../.." || exit 1
DRIVE=tests/lib/qfp-drive
CHECKER=tests/durability/tracecheck.awk
# what tracecheck.awk reads: -y puts each fd's path next to it; pread64
# shows the reads that build a commit record
STRACE_SET="recvmsg,sendmsg,read,pread64,write,pwrite64,writev,pwritev,\
pwritev2,copy_file_range,sendfile,splice,fsync,fdatasync,syncfs,sync,\
sync_file_range,msync,rename,renameat,renameat2,unlink,unlinkat,rmdir,\
mkdir,mkdirat,link,linkat,open,openat,openat2,creat,execve,close"
BIG=102400
. tests/lib/report.sh

if [ ! -x "$DRIVE" ]; then
	fail ordering "$DRIVE not built (make check-durability builds it)"
	exit 1
fi
if ! command -v strace >/dev/null; then
	fail ordering "strace is not installed"
	exit 1
fi
work=$(mktemp -d /tmp/qfp-order.XXXXXX) || exit 1
chmod 0755 "$work"
mounted=
logmount=	# the tmpfs on a spool's fs-proc/, inside $mounted
unmount() {	# unmount MNT, retrying while it is busy
	local i
	for i in 1 2 3 4 5; do
		umount "$1" 2>/dev/null && break
		sleep 1
	done
	mountpoint -q "$1" && umount -l "$1"
}
cleanup() {
	[ -n "$logmount" ] && unmount "$logmount"
	[ -n "$mounted" ] && unmount "$mounted"
	rm -rf "$work"
}
trap cleanup EXIT

# Does DIR's file system journal metadata in order (as the daemon's
# spool_journaled() decides: xfs, or ext4 with a jbd2 journal)?
journaled() {
	local dev link
	case $(stat -f -c %T "$1") in
	xfs) return 0 ;;
	ext2/ext3) ;;
	*) return 1 ;;
	esac
	dev=$(stat -c '%Hd:%Ld' "$1") || return 1
	link=$(readlink "/sys/dev/block/$dev") || return 1
	[ -e "/proc/fs/jbd2/${link##*/}-8" ]
}

fs=$work
mkdir "$work/ext4"
if sh tests/lib/loop-ext4.sh 256M "$work/ext4"; then
	mounted=$work/ext4
	fs=$mounted
else
	note "no loop ext4: the spool goes on /tmp"
fi
if journaled "$fs"; then
	inplace=1
	note "spool on $fs ($(findmnt -n -o FSTYPE,SOURCE -T "$fs"), journaled)"
else
	inplace=0
	note "spool on $fs: no ordered journal there, so the in-place commit" \
	    "is NOT exercised (a big body takes the syncfs commit)"
fi

trace_check() {	# trace -> checker output in $work/check.out, exit code
	awk -v mode=check -v mounts="$1.mounts" -f "$CHECKER" "$1" \
	    > "$work/check.out" 2>&1
}

nbad() {	# the BAD lines of the last check
	grep -c '^  BAD' "$work/check.out"
}

# run_traced SECS TRACE OPTS drive-args...: qfp-drive under strace; the
# mount table, which tells the checker each path's file system, saved
# as TRACE.mounts
run_traced() {
	local secs=$1 trace=$2 opts=$3 rc
	shift 3
	timeout "$secs" "$DRIVE" -o "$opts" \
	    -T "-f -tt -y -x -s 64 -o $trace -e trace=$STRACE_SET" "$@"
	rc=$?
	findmnt -rn -o TARGET > "$trace.mounts"
	return $rc
}

traced() {	# traced SECS DIR TRACE OPTS workload...: a new spool in DIR
	local secs=$1 dir=$2 trace=$3 opts=$4
	shift 4
	run_traced "$secs" "$trace" "$opts" -d "$dir" "$@"
}

# what the checker must say of the sequence; $1: 1 if in place
seq_want() {
	local ip=$1 sf=$((1 - $1))
	echo "10 durable answers checked (commit 2 (inline 1, in place $ip," \
	    "syncfs $sf; by rename 2), envelope create on a committed" \
	    "message 1, update 1, delete 5, message delete 1; by the log" \
	    "$((9 + ip)), by the layout's own syncs $sf), 5 deferred" \
	    "envelope creates, 2 log files marked dead (0 at start, 0 by the" \
	    "checkpointer)"
}

# run the checker on TRACE; PASS NAME if it passes with WANT
judge() {	# judge NAME TRACE WANT
	local rc summary
	trace_check "$2"
	rc=$?
	summary=$(grep '^checker:' "$work/check.out")
	if [ $rc -eq 0 ] && [[ "$summary" == *"$3"* ]]; then
		pass "$1 (${summary#checker: })"
	else
		grep '^  BAD' "$work/check.out" | head -5
		fail "$1" "checker exit $rc: ${summary#checker: }; want: $3"
	fi
}

# ---- 1. the real daemon, full sync ---------------------------------------
echo "== lifecycle under strace (default: -S full, with the log)"
if ! traced 120 "$fs" "$work/full.trace" "" sequence; then
	fail ordering-lifecycle "a request of the lifecycle failed"
fi
trace_check "$work/full.trace"
grep -v -E '^(required|movable) ' "$work/check.out"
judge ordering-full-sync "$work/full.trace" "$(seq_want $inplace)"

if [ "$fs" != "$work" ] && ! journaled "$work"; then
	echo "== the same on /tmp, a file system without a journal"
	traced 120 "$work" "$work/plain.trace" "" sequence >/dev/null ||
	    fail ordering-unjournaled-lifecycle "a request failed"
	judge ordering-unjournaled "$work/plain.trace" "$(seq_want 0)"
else
	note "no file system without a journal at hand: the syncfs" \
	    "commit of a big body is not exercised"
fi

echo "== a $BIG-byte body from a file outside the spool (copied)"
traced 120 "$fs" "$work/copied.trace" "" copied "$BIG" ||
    fail ordering-copied-lifecycle "a request failed"
judge ordering-copied-big "$work/copied.trace" \
    "2 durable answers checked (commit 1 (inline 0, in place $inplace, syncfs $((1 - inplace)); by rename 0)"

# ---- 1b. fs-proc/ a file system of its own --------------------------------
# The log on a mount of its own, as a site would put it on a fast disk:
# a tmpfs on SPOOL/fs-proc, owned and moded as spool_prepare() makes the
# directory (the queue user, group 0, 0700).  First 3 messages are
# queued and the daemon killed (qfp-drive -K), its log left live; the
# traced start replays it into queue/ and marks it dead.  -L 64k: then
# 100 messages of 8 KB fill a log file every few messages, so the
# checkpointer marks files dead beside the daemon, and the exit too.
deads() {	# the DEAD records the last check saw: "ALL START CHECKPOINTER"
	sed -n 's/.*, \([0-9]*\) log files marked dead (\([0-9]*\) at start, \([0-9]*\) by the checkpointer).*/\1 \2 \3/p' \
	    "$work/check.out"
}
echo "== fs-proc/ on a tmpfs of its own (-L 64k: the checkpointer runs)"
split=$fs/spool	# named so, the checker's messages shorten its paths
if ! quid=$(id -u qfptest) || ! mkdir -m 0711 "$split" ||
    ! mkdir -m 0700 "$split/fs-proc" ||
    ! mount -t tmpfs -o "size=1m,mode=0700,uid=$quid,gid=0" qfp-fsproc \
    "$split/fs-proc"; then
	fail ordering-fsproc-mount "cannot mount a tmpfs on $split/fs-proc"
else
	logmount=$split/fs-proc
	note "fs-proc/ on $(findmnt -n -o FSTYPE -T "$logmount"), queue/ on" \
	    "$(findmnt -n -o FSTYPE,TARGET -T "$split")"
	timeout 120 "$DRIVE" -K -o "-L 64k" -s "$split" fill 3 2 \
	    > "$work/count.out" 2>&1 ||
	    fail ordering-fsproc-mount-crash "a request failed"
	run_traced 300 "$work/split.trace" "-L 64k" -s "$split" count 1 100 \
	    > "$work/count.out" 2>&1 ||
	    fail ordering-fsproc-mount-run "a request failed"
	judge ordering-fsproc-mount "$work/split.trace" \
	    "200 durable answers checked (commit 100 (inline 100, in place 0, syncfs 0; by rename 0), envelope create on a committed message 0, update 0, delete 100, message delete 0; by the log 200, by the layout's own syncs 0), 100 deferred envelope creates"
	read -r nd ndst ndck <<< "$(deads)"
	nb=$(grep -c '^  BAD  DEAD' "$work/check.out")
	what="${nd:-0} DEAD records, ${ndst:-0} at start, ${ndck:-0} by the"
	what="$what checkpointer, $nb BAD"
	if [ "${nd:-0}" -ge 4 ] && [ "${ndst:-0}" -ge 1 ] &&
	    [ "${ndck:-0}" -ge 1 ] && [ "$nb" -eq 0 ]; then
		pass "ordering-fsproc-mount-dead ($what: each after a syncfs of queue/'s file system)"
	else
		grep '^  BAD  DEAD' "$work/check.out" | head -3
		fail "ordering-fsproc-mount-dead" "$what; want >= 4, >= 1 at start, >= 1 by the checkpointer, 0 BAD"
	fi
fi

# ---- 2. self-test on doctored copies of those traces ----------------------
nmut=0; caught=0; base=0; orig=
mutant() {	# name: the checker must find more BAD in $work/mutant.trace
	nmut=$((nmut + 1))
	trace_check "$work/mutant.trace"
	if [ "$(nbad)" -gt "$base" ]; then
		caught=$((caught + 1))
		echo "  caught: $1: $(grep '^  BAD' "$work/check.out" |
		    head -n $((base + 1)) | tail -n 1 | sed 's/^ *BAD *//')"
	else
		echo "  NOT CAUGHT: $1"
	fi
}
call() {	# the call at line $1 of the trace: name and fd path
	sed -n "${1}s/^[0-9]* *[0-9:.]* \([a-z0-9_]*\)(\([0-9]*<[^>]*>\)\{0,1\}.*/\1 \2/p" \
	    "$orig" | sed 's|<[^>]*/spool/|<|; s|<[^>]*/spool>|<spool>|'
}
relied() {	# relied PATTERN: how many required lines are such calls
	local l c=0
	for l in $required; do
		case $(call "$l") in
		$1) c=$((c + 1)) ;;
		esac
	done
	echo $c
}
# selftest NAME TRACE CHECK: every doctored copy of TRACE rejected, and
# CHECK (a command) says the calls relied on include what they must
selftest() {
	local name=$1 l r lr nreq what rc
	orig=$2
	nmut=0; caught=0
	cp "$orig.mounts" "$work/mutant.trace.mounts"
	trace_check "$orig"
	base=$(nbad)
	required=$(awk '$1 == "required" {print $2}' "$work/check.out" |
	    sort -n)
	movable=$(awk '$1 == "movable" {print $2 ":" $3}' "$work/check.out" |
	    sort -n)
	for l in $required; do
		sed "${l}d" "$orig" > "$work/mutant.trace"
		mutant "line $l deleted ($(call "$l"))"
		sed "${l}s/) = [0-9][0-9]*\$/) = -1 EIO (Input\/output error)/" \
		    "$orig" > "$work/mutant.trace"
		mutant "line $l fails with EIO"
		# made by another process (the checkpointer) instead
		sed "${l}s/^[0-9]* /999999 /" "$orig" > "$work/mutant.trace"
		mutant "line $l made by another process"
	done
	for lr in $movable; do
		l=${lr%:*}; r=${lr#*:}
		awk -v l="$l" -v r="$r" \
		    'NR == l {held = $0; next} {print} NR == r {print held}' \
		    "$orig" > "$work/mutant.trace"
		mutant "line $l ($(call "$l")) moved after line $r ($(call "$r" | cut -d' ' -f1))"
	done
	nreq=$(echo $required | wc -w)
	what="$caught of $nmut doctored traces rejected; $nreq calls relied on"
	$3
	rc=$?
	if [ "$base" -eq 0 ] && [ "$nmut" -gt 0 ] && [ "$caught" -eq "$nmut" ] &&
	    [ $rc -eq 0 ]; then
		pass "$name ($what: $RELIED)"
	else
		fail "$name" "$what: $RELIED; the real trace had $base BAD"
	fi
	# and the untouched copy still passes (the mutations are what fails)
	cp "$orig" "$work/mutant.trace"
	if trace_check "$work/mutant.trace"; then
		pass "$name-control (the undoctored copy passes)"
	else
		fail "$name-control (the undoctored copy fails)"
	fi
}
# the log's fdatasync of 3 records (2 commits, create; an update's
# record is synced later, by whatever sync comes next), and the in-place
# commit's fsync of the message file (named queue/XX/M/message by then,
# or still incoming/M/message)
relied_log() {
	local nfds nmsg
	nfds=$(relied "fdatasync *<fs-proc/log.*")
	nmsg=$(($(relied "fsync *<queue/*/message>") +
	    $(relied "fsync *<incoming/*/message>")))
	RELIED="$nfds log fdatasyncs, $nmsg message fsyncs"
	[ "$nfds" -ge $((2 + inplace)) ] && [ "$nmsg" -ge $inplace ]
}
# the big commit's syncfs, its bucket and incoming/ fsyncs, and the
# log's fdatasyncs
relied_plain() {
	local nfds nsfs nbkt ninc
	nfds=$(relied "fdatasync *<fs-proc/log.*")
	nsfs=$(relied "syncfs *")
	nbkt=$(relied "fsync *<queue/??>")
	ninc=$(relied "fsync *<incoming>")
	RELIED="$nfds log fdatasyncs, $nsfs syncfs, $nbkt bucket fsyncs,"
	RELIED="$RELIED $ninc incoming/ fsyncs"
	[ "$nfds" -ge 2 ] && [ "$nsfs" -ge 1 ] && [ "$nbkt" -ge 1 ] &&
	    [ "$ninc" -ge 1 ]
}
echo "== self-test: doctored copies of the lifecycle's trace"
selftest ordering-selftest "$work/full.trace" relied_log
if [ -s "$work/plain.trace" ]; then
	echo "== self-test: doctored copies of the unjournaled lifecycle's trace"
	selftest ordering-selftest-unjournaled "$work/plain.trace" relied_plain
fi

# Doctored whatever the daemon does: these must be rejected as well
# before as after the daemon makes the syncs they lack.
doctored() {	# doctored TRACE AWK-PROGRAM: the checker on TRACE so changed
	awk "$2" "$1" > "$work/mutant.trace"
	cp "$1.mounts" "$work/mutant.trace.mounts"
	trace_check "$work/mutant.trace"
}
echo "== self-test: traces doctored to lack the syncs of items 4 and 10"
if [ -s "$work/plain.trace" ]; then
	# the syncfs() commit without the fsync of incoming/ after the
	# rename: incoming/M could come back beside queue/XX/M
	doctored "$work/plain.trace" '!/ fsync\([0-9]+<[^>]*\/incoming>\)/'
	if grep -q '^  BAD  MESSAGE_COMMIT.*no fsync(incoming) after the rename' \
	    "$work/check.out"; then
		pass "ordering-doctored-no-incoming-fsync (the syncfs commit without fsync(incoming) is BAD)"
	else
		fail "ordering-doctored-no-incoming-fsync" "the commit passed: $(grep '^checker:' "$work/check.out")"
	fi
fi
if [ -s "$work/split.trace" ]; then
	trace_check "$work/split.trace"
	read -r nd ndst ndck <<< "$(deads)"
	nd=${nd:-0}
	# every syncfs() through fs-proc/'s fd, as when the daemon did not
	# know fs-proc/ could be a mount of its own
	doctored "$work/split.trace" \
	    '{ sub(/ syncfs\([0-9]+<[^>]*>/, " syncfs(99<'"$split"'/fs-proc>"); print }'
	nb1=$(grep -c '^  BAD  DEAD' "$work/check.out")
	# the syncfs() calls through other fds than fs-proc/'s deleted
	doctored "$work/split.trace" \
	    '!/ syncfs\([0-9]+</ || / syncfs\([0-9]+<[^>]*\/fs-proc>/'
	nb2=$(grep -c '^  BAD  DEAD' "$work/check.out")
	what="of $nd DEAD records, BAD: $nb1 with every syncfs on fs-proc/'s"
	what="$what fd, $nb2 with the other syncfs calls deleted"
	if [ "$nd" -ge 4 ] && [ "$nb1" -eq "$nd" ] && [ "$nb2" -eq "$nd" ]; then
		pass "ordering-doctored-syncfs-fsproc-only ($what)"
	else
		fail "ordering-doctored-syncfs-fsproc-only" "$what"
	fi
fi

# ---- 3. a daemon that does not sync is caught -----------------------------
echo "== lifecycle under strace with -S none"
traced 120 "$fs" "$work/none.trace" "-S none" sequence >/dev/null ||
    fail ordering-none "a request of the lifecycle failed"
if trace_check "$work/none.trace"; then
	fail "ordering-catches-no-sync (checker accepted a daemon run with -S none)"
elif [ "$(nbad)" -eq 10 ]; then
	pass "ordering-catches-no-sync (all 10 durable answers reported BAD)"
else
	grep '^  ok' "$work/check.out" | grep -v incoming
	fail "ordering-catches-no-sync ($(nbad) of 10 durable answers reported BAD)"
fi
# -S none: no fsync-class call at all, none by another process.  (The
# start retires a log an earlier run left, whatever -S says, with a
# syncfs(); these spools have none, so it makes no call.)
count_none() {	# count_none NAME TRACE WHAT
	local nsync nstart nck what
	awk -v mode=count -f "$CHECKER" "$2" > "$work/countnone.txt"
	nsync=$(awk '$1 == "total" {print $2}' "$work/countnone.txt")
	nstart=$(awk '$1 == "start" {print $2}' "$work/countnone.txt")
	nck=$(awk '$1 == "checkpointer" {print $2}' "$work/countnone.txt")
	what="$3 with -S none: $((nsync - nstart)) fsync-class calls serving"
	what="$what requests, $nstart before the first, $nck by other processes"
	if [ "$nsync" = 0 ] && [ "$nck" = 0 ]; then
		pass "$1 ($what)"
	else
		fail "$1 ($what)"
	fi
}
count_none fsync-count-none "$work/none.trace" "the sequence"

# ---- 4. fsync-class calls per accepted message ----------------------------
echo "== fsync-class calls per message (10 messages each)"
awk -v mode=count -f "$CHECKER" "$work/full.trace" |
    awk '$1 == "msg" {printf("  sequence message %s: accept %d, deliver %d, other %d\n", $2, $4, $6, $8)}'
bounded() {	# bounded NAME LINE MSGS MAX: all 10 messages, <= 2 calls each
	if [ "$3" -eq 10 ] && [ "$4" -le 2 ]; then
		pass "$1 ($2; target <= 2)"
	else
		fail "$1 ($2; target <= 2)"
	fi
}
for n in 1 2 10 50; do
	if ! traced 300 "$fs" "$work/count$n.trace" "" count "$n" 10 \
	    > "$work/count.out" 2>&1; then
		cat "$work/count.out"
		fail "fsync-count-$n (a request failed)"
		continue
	fi
	awk -v mode=count -f "$CHECKER" "$work/count$n.trace" > "$work/count$n.txt"
	line=$(awk -v n="$n" '
	    $1 == "msg" { m++; a += $4; d += $6
		if (m == 1 || $4 < amin) amin = $4; if ($4 > amax) amax = $4 }
	    END { if (m) printf("%d recipients: accept min %d avg %.2f max %d, delivery avg %.1f (%d messages)", n, amin, a / m, amax, d / m, m) }' \
	    "$work/count$n.txt")
	max=$(awk '$1 == "msg" && $4 > m {m = $4} END {print m + 0}' "$work/count$n.txt")
	msgs=$(grep -c '^msg ' "$work/count$n.txt")
	nck=$(awk '$1 == "checkpointer" {print $2}' "$work/count$n.txt")
	echo "  fsync-class calls per message, $line"
	[ "$nck" = 0 ] || note "the checkpointer made $nck fsync-class calls" \
	    "in this run (not counted above)"
	# the same ordering rules hold for every commit and delivery here
	judge "ordering-count-$n" "$work/count$n.trace" \
	    "$((10 + 10 * n)) durable answers checked (commit 10 (inline 10, in place 0, syncfs 0; by rename 0), envelope create on a committed message 0, update 0, delete $((10 * n)), message delete 0; by the log $((10 + 10 * n)), by the layout's own syncs 0)"
	bounded "fsync-count-$n" "$line" "$msgs" "$max"
done
# a body over 64 KB kept in place: the message file's fsync() and the
# log's fdatasync(), whatever the number of recipients
count_max() {	# trace: the largest accept count of its messages
	awk -v mode=count -f "$CHECKER" "$1" |
	    awk '$1 == "msg" && $4 > m {m = $4} END {print m + 0}'
}
if [ "$inplace" = 1 ]; then
	seqbig=$(awk -v mode=count -f "$CHECKER" "$work/full.trace" |
	    awk '$1 == "msg" && ++k == 2 {print $4}')
	cpbig=$(count_max "$work/copied.trace")
	what="the sequence's $BIG-byte message (renamed): ${seqbig:-none}"
	what="$what, the copied one: $cpbig"
	if [ "${seqbig:-9}" -le 2 ] && [ "$cpbig" -le 2 ]; then
		pass "fsync-count-in-place ($what; target <= 2)"
	else
		fail "fsync-count-in-place ($what; target <= 2)"
	fi
fi
for n in 1 10; do
	if ! traced 300 "$fs" "$work/countbig$n.trace" "" count "$n" 10 \
	    "$BIG" > "$work/count.out" 2>&1; then
		cat "$work/count.out"
		fail "fsync-count-big-$n (a request failed)"
		continue
	fi
	judge "ordering-count-big-$n" "$work/countbig$n.trace" \
	    "$((10 + 10 * n)) durable answers checked (commit 10 (inline 0, in place $((10 * inplace)), syncfs $((10 - 10 * inplace)); by rename 0), envelope create on a committed message 0, update 0, delete $((10 * n)), message delete 0; by the log $((10 * n + 10 * inplace)), by the layout's own syncs $((10 - 10 * inplace)))"
	max=$(count_max "$work/countbig$n.trace")
	msgs=$(awk -v mode=count -f "$CHECKER" "$work/countbig$n.trace" |
	    grep -c '^msg ')
	line="$n recipients, $BIG-byte bodies: accept max $max ($msgs messages)"
	echo "  fsync-class calls per message, $line"
	if [ "$inplace" = 0 ]; then
		note "fsync-count-big-$n not bounded: no journaled spool," \
		    "the big bodies took the syncfs commit"
	else
		bounded "fsync-count-big-$n" "$line" "$msgs" "$max"
	fi
done
traced 300 "$fs" "$work/countnone.trace" "-S none" count 10 10 >/dev/null
count_none fsync-count-none-10 "$work/countnone.trace" \
    "10 messages of 10 recipients"

# ---- 5. across a log switch: the checkpointer runs beside the daemon ------
# 600 records of 60 KB fill log.0 (32 MB): the log goes on in log.1 and
# the checkpointer process syncs the spool and marks log.0 dead while
# the daemon goes on; its calls count for none of the daemon's answers.
echo "== 600 messages of 60 KB: the log switches files, the checkpointer runs"
if traced 300 "$fs" "$work/switch.trace" "" count 1 600 60000 \
    > "$work/count.out" 2>&1; then
	judge ordering-log-switch "$work/switch.trace" \
	    "1200 durable answers checked (commit 600 (inline 600, in place 0, syncfs 0; by rename 0), envelope create on a committed message 0, update 0, delete 600, message delete 0; by the log 1200, by the layout's own syncs 0), 600 deferred envelope creates, 3 log files marked dead (0 at start, 1 by the checkpointer)"
	awk -v mode=count -f "$CHECKER" "$work/switch.trace" \
	    > "$work/switch.txt"
	max=$(awk '$1 == "msg" && $4 > m {m = $4} END {print m + 0}' \
	    "$work/switch.txt")
	nck=$(awk '$1 == "checkpointer" {print $2}' "$work/switch.txt")
	nlog1=$(grep -c 'fs-proc/log\.1>, "\\x51\\x46\\x50\\x4c' \
	    "$work/switch.trace")
	what="$nlog1 records in log.1, the checkpointer's fsync-class calls:"
	what="$what $nck (not counted), accept max $max"
	if [ "$nlog1" -gt 1 ] && [ "$nck" -gt 0 ] && [ "$max" -le 2 ]; then
		pass "fsync-count-log-switch ($what)"
	else
		fail "fsync-count-log-switch" "$what; want a switch, a checkpoint, accept <= 2"
	fi
else
	cat "$work/count.out"
	fail "ordering-log-switch (a request failed)"
fi
report_end
