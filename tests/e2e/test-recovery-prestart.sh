#!/bin/bash
# End-to-end: the helper run by hand beside smtpd, and before it.
#
# 1. While a helper serves the spool, queue-fs-proc -n, -n -R and -R
#    are refused with a message that names the helper's pid (it holds
#    fs-proc/lock), and change nothing in the spool; smtpd goes on.
# 2. The helper is killed with SIGKILL, and one committed message loses
#    its directory in queue/, as in a power failure before the layout
#    was synced.  The command of the systemd drop-in (ExecStartPre,
#    queue-fs-proc -R) replays the log and exits 0; run again, it has
#    nothing to do and exits 0 too.
# 3. smtpd's built-in queue then finds every acknowledged mail, the lost
#    one too, and delivers each once.
: "${QFP_E2E_TIMEOUT:=90}"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init recovery-prestart "$@"
need_helper || e2e_finish

NMSG=5

# the helper's directories, every name with its inode, size, mode and
# mtime, and every file's checksum: what a refused command must not
# change
spool_state() {
	(cd "$SPOOL" && find queue incoming fs-proc corrupt \
	    -printf '%p %i %s %m %T@\n' | sort &&
	    find queue incoming fs-proc corrupt -type f -exec md5sum {} + |
	    sort)
}

# refused NAME ARG...: queue-fs-proc ARG... on the live spool fails,
# names the helper's pid, and leaves the spool as it was
refused() {
	local name=$1 out=$WORK/$1.out rc
	shift
	spool_state >"$WORK/state.before"
	helper_cmd "$out" -d "$@"
	rc=$?
	spool_state >"$WORK/state.after"
	check "$name/refused" "queue-fs-proc $* exited $rc on a spool helper $hp serves: $(head -3 "$out" | tr '\n' ' ')" \
	    [ $rc != 0 ]
	check "$name/names-holder" "queue-fs-proc $* did not say the spool is in use by pid $hp: $(head -3 "$out" | tr '\n' ' ')" \
	    grep -Eq "in use by .*pid $hp([^0-9]|\$)" "$out"
	check "$name/unchanged" "queue-fs-proc $* changed the spool: $(diff "$WORK/state.before" "$WORK/state.after" | grep '^[<>]' | head -2 | tr '\n' ' ')" \
	    cmp -s "$WORK/state.before" "$WORK/state.after"
}

# -- 1: a helper serves the spool: hands off ---------------------------------
start_smtpd "$QFP_E2E_BACKEND" run1/start -P mta || e2e_finish
send_batch run1/accepted $NMSG "x@relay.test,y@relay.test" "prestart"
wait_queued run1/queued $((NMSG * 2)) || e2e_finish
hp=$(helper_pid)
refused check -n
refused repair -n -R
refused replay -R
expect_queue run1/still-served
check run1/same-helper "the helper changed: $hp, now $(helper_pid)" \
    [ "$(helper_pid)" = "$hp" ]

# -- 2: crash, a commit's layout lost, the drop-in's command replays ---------
crash_helper run1/crash
lose_message dropin/lost
cmd=$(dropin_command)
note "ExecStartPre: $cmd"
$cmd >"$WORK/prestart.out" 2>&1
rc=$?
check dropin/replay "'$cmd' exited $rc: $(head -3 "$WORK/prestart.out" | tr '\n' ' ')" [ $rc = 0 ]
n=$(spool_messages | wc -l)
check dropin/replayed "$n message directories in queue/ after the replay, expected $NMSG" [ "$n" = $NMSG ]
$cmd >"$WORK/prestart2.out" 2>&1
rc=$?
check dropin/again "'$cmd', nothing left to replay, exited $rc: $(head -3 "$WORK/prestart2.out" | tr '\n' ' ')" \
    [ $rc = 0 ]

# -- 3: the built-in queue delivers all of it, once ---------------------------
relay_up run2/sink 60 || e2e_finish
# (transfers paused until the queue is listed)
start_smtpd fs run2/start-builtin-fs -P mta || e2e_finish
expect_queue run2/all-there
"$SMTPCTL" resume mta >/dev/null 2>&1
expect_flushed run2/queue-flushed 30
sleep 1	# anything late would show up now
batch_pairs $NMSG x@relay.test y@relay.test >"$WORK/expected.pairs"
expect_pairs run2 "$WORK/expected.pairs"
stop_smtpd
expect_spool_clean

e2e_finish
