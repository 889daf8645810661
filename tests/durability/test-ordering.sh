#!/bin/bash
# Ordering test: the fsyncs themselves, which a SIGKILL test cannot see.
#
# The daemon runs under strace (started by tests/lib/qfp-drive as smtpd
# would start it)
# through one lifecycle: MESSAGE_CREATE, 3 ENVELOPE_CREATE while
# incoming, MESSAGE_COMMIT, ENVELOPE_CREATE on the committed message,
# ENVELOPE_UPDATE, 4 ENVELOPE_DELETE.  tracecheck.awk decodes each
# request and answer from the bytes on fd 0 and checks, for every r = 1
# answer to a durable request, that the right fsync-class calls happened
# in the right order between request and answer (see its header).
#
# The sequence commits smtpd's way (its temporary/MSGID, renamed into
# place); the count runs commit an unlinked file (copied).
#
# Self-test: the checker must say BAD on a copy of the real trace with
# any one of the sync calls it relied on (or the commit's rename of
# temporary/MSGID) deleted, or failing with EIO, or (syncfs / fsync of
# the temporary file) moved after the rename, or the rename of
# temporary/MSGID moved after the syncfs; and on the trace of a daemon
# run with -S none.
#
# Counts: fsync-class calls per accepted message (create, envelopes,
# commit) for 1, 2, 10 and 50 recipients: at most 3; with -S none: 0.
# The traces of those runs (10 commits, 10 x N deliveries each, buckets
# new and not) go through the same ordering check.
set -u
cd "$(dirname "$0")/../.." || exit 1
DRIVE=tests/lib/qfp-drive
CHECKER=tests/durability/tracecheck.awk
# what tracecheck.awk reads: -y puts each fd's path next to it
STRACE_SET="recvmsg,sendmsg,read,write,pwrite64,writev,pwritev,pwritev2,\
copy_file_range,sendfile,splice,fsync,fdatasync,syncfs,sync,\
sync_file_range,msync,rename,renameat,renameat2,unlink,unlinkat,rmdir,\
mkdir,mkdirat,link,linkat,open,openat,openat2,creat,execve,close"
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
trap 'rm -rf "$work"' EXIT

trace_check() {	# trace -> checker output in $work/check.out, exit code
	awk -v mode=check -f "$CHECKER" "$1" > "$work/check.out" 2>&1
}

traced() {	# traced SECS TRACE OPTS workload...: the daemon under strace
	local secs=$1 trace=$2 opts=$3
	shift 3
	timeout "$secs" "$DRIVE" -d "$work" -o "$opts" \
	    -T "-f -tt -y -x -s 64 -o $trace -e trace=$STRACE_SET" "$@"
}

# ---- 1. the real daemon, full sync ---------------------------------------
echo "== lifecycle under strace (default: -S full)"
if ! traced 120 "$work/full.trace" "" sequence; then
	fail ordering-lifecycle "a request of the lifecycle failed"
fi
trace_check "$work/full.trace"
rc=$?
grep -v -E '^(required|movable) ' "$work/check.out"
summary=$(grep '^checker:' "$work/check.out")
want="7 durable answers checked (commit 1 (by rename 1), envelope create on a committed message 1, update 1, delete 4), 3 deferred"
if [ $rc -eq 0 ] && [[ "$summary" == *"$want"* ]]; then
	pass "ordering-full-sync (every durable answer preceded by its syncs, in order)"
else
	fail "ordering-full-sync (checker exit $rc; want: $want)"
fi

# ---- 2. self-test on doctored copies of that trace ------------------------
echo "== self-test: doctored traces"
required=$(awk '$1 == "required" {print $2}' "$work/check.out" | sort -n)
movable=$(awk '$1 == "movable" {print $2 ":" $3}' "$work/check.out")
nmut=0; caught=0
mutant() {	# name: the checker must reject $work/mutant.trace
	nmut=$((nmut + 1))
	if trace_check "$work/mutant.trace"; then
		echo "  NOT CAUGHT: $1"
	else
		caught=$((caught + 1))
		echo "  caught: $1: $(grep -m1 BAD "$work/check.out" | sed 's/^ *BAD *//')"
	fi
}
for l in $required; do
	sed "${l}d" "$work/full.trace" > "$work/mutant.trace"
	mutant "line $l deleted ($(sed -n "${l}s/^[0-9]* [0-9:.]* \([a-z0-9_]*\)(.*/\1/p" "$work/full.trace"))"
	sed "${l}s/) = 0\$/) = -1 EIO (Input\/output error)/" "$work/full.trace" \
	    > "$work/mutant.trace"
	mutant "line $l fails with EIO"
done
for lr in $movable; do
	l=${lr%:*}; r=${lr#*:}
	awk -v l="$l" -v r="$r" 'NR == l {held = $0; next} {print} NR == r {print held}' \
	    "$work/full.trace" > "$work/mutant.trace"
	mutant "line $l moved after line $r"
done
nreq=$(echo $required | wc -w)
if [ "$nreq" -ge 11 ] && [ "$nmut" -gt 0 ] && [ "$caught" -eq "$nmut" ]; then
	pass "ordering-selftest ($caught of $nmut doctored traces rejected; $nreq sync calls relied on)"
else
	fail "ordering-selftest ($caught of $nmut doctored traces rejected; $nreq sync calls relied on, want >= 11)"
fi
# and the untouched copy still passes (the mutations are what it catches)
cp "$work/full.trace" "$work/mutant.trace"
if trace_check "$work/mutant.trace"; then
	pass "ordering-selftest-control (the undoctored copy passes)"
else
	fail "ordering-selftest-control (the undoctored copy fails)"
fi

# ---- 3. a daemon that does not sync is caught -----------------------------
echo "== lifecycle under strace with -S none"
traced 120 "$work/none.trace" "-S none" sequence >/dev/null ||
    fail ordering-none "a request of the lifecycle failed"
if trace_check "$work/none.trace"; then
	fail "ordering-catches-no-sync (checker accepted a daemon run with -S none)"
else
	pass "ordering-catches-no-sync ($(grep -c '^  BAD' "$work/check.out") durable answers without their syncs reported)"
fi
nsync=$(awk -v mode=count -f "$CHECKER" "$work/none.trace" | awk '$1 == "total" {print $2}')
if [ "$nsync" = 0 ]; then
	pass "fsync-count-none (no fsync-class call at all with -S none)"
else
	fail "fsync-count-none ($nsync fsync-class calls with -S none)"
fi

# ---- 4. fsync-class calls per accepted message ----------------------------
echo "== fsync-class calls per message (10 messages each)"
for n in 1 2 10 50; do
	if ! traced 300 "$work/count$n.trace" "" count "$n" 10 \
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
	echo "  fsync-class calls per message, $line"
	# the same ordering rules hold for every commit and delivery here
	trace_check "$work/count$n.trace"
	rc=$?
	summary=$(grep '^checker:' "$work/check.out")
	want="$((10 + 10 * n)) durable answers checked (commit 10 (by rename 0), envelope create on a committed message 0, update 0, delete $((10 * n)))"
	if [ $rc -eq 0 ] && [[ "$summary" == *"$want"* ]]; then
		pass "ordering-count-$n ($want, in order)"
	else
		grep '^  BAD' "$work/check.out" | head -5
		fail "ordering-count-$n (checker exit $rc: $summary; want: $want)"
	fi
	if [ "$msgs" -eq 10 ] && [ "$max" -le 3 ]; then
		pass "fsync-count-$n ($line; target <= 3)"
	else
		fail "fsync-count-$n ($line; target <= 3)"
	fi
done
traced 300 "$work/countnone.trace" "-S none" count 10 10 >/dev/null
nsync=$(awk -v mode=count -f "$CHECKER" "$work/countnone.trace" | awk '$1 == "total" {print $2}')
if [ "$nsync" = 0 ]; then
	pass "fsync-count-none-10 (10 messages of 10 recipients with -S none: 0 fsync-class calls)"
else
	fail "fsync-count-none-10 ($nsync fsync-class calls with -S none)"
fi
report_end
