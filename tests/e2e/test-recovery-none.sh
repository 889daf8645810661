#!/bin/bash
# End-to-end: a start with -S none after a crash of a durable helper
# replays the log and retires it.
#
# 1. The helper (-S full) queues mail for a relay that is down and is
#    killed with SIGKILL; one committed message loses its directory in
#    queue/, as in a power failure before the layout was synced.
# 2. The helper with -S none: every message is there, the lost one too
#    (the log was replayed, though -S none keeps no log); after its
#    clean stop queue-fs-proc -n finds the spool clean (no live log).
# 3. smtpd's built-in queue delivers everything, once.
# 4. The helper with -S full again: nothing comes back, nothing is
#    delivered twice.
: "${QFP_E2E_TIMEOUT:=90}"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init recovery-none "$@"
need_helper || e2e_finish

NMSG=5

# -- 1: a durable helper queues mail and is killed ----------------------------
start_smtpd "$QFP_E2E_BACKEND -S full" run1/start -P mta || e2e_finish
send_batch run1/accepted $NMSG "x@relay.test,y@relay.test" "recovery -S none"
wait_queued run1/queued $((NMSG * 2)) || e2e_finish
crash_helper run1/crash
lose_message run1/lose-message

# -- 2: -S none replays the log and retires it --------------------------------
start_smtpd "$QFP_E2E_BACKEND -S none" run2/start -P mta || e2e_finish
expect_queue run2/replayed
stop_smtpd
helper_cmd "$WORK/check.out" -n
rc=$?
check run2/log-retired "queue-fs-proc -n after the -S none run exited $rc: $(grep '^problem' "$WORK/check.out" | head -2 | tr '\n' ' ')" \
    [ $rc = 0 ]

# -- 3: the built-in queue delivers it all ------------------------------------
relay_up run3/sink 70 || e2e_finish
start_smtpd fs run3/start-builtin-fs || e2e_finish
expect_flushed run3/queue-flushed 30
stop_smtpd
batch_pairs $NMSG x@relay.test y@relay.test >"$WORK/expected.pairs"
expect_pairs run3 "$WORK/expected.pairs"

# -- 4: a durable helper again: nothing comes back ----------------------------
start_smtpd "$QFP_E2E_BACKEND -S full" run4/start || e2e_finish
expect_quiet_sink run4/no-redelivery 6
n=$(queue_count)
check run4/nothing-resurrected "smtpctl show queue lists $n envelopes after the built-in queue delivered everything" \
    [ "$n" = 0 ]
expect_pairs run4 "$WORK/expected.pairs"
stop_smtpd
expect_spool_clean

e2e_finish
