#!/bin/bash
# The test of the test: Debian sid's opensmtpd as released (imsg dialect
# B), with mail queued by the helper and smtpd restarted, asks for a
# message's fd (MESSAGE_FD_R) before any MESSAGE_COMMIT of the new run.
# Its queue_proc_message_fd_r() frees the answer, and closes its fd, before
# taking the fd: the mail must NOT be delivered.  This passes only if that
# failure is seen (so that the patched run can show the fix), and the
# queued mail must still be in the spool afterwards.
. "$(dirname "${BASH_SOURCE[0]}")/upstream.sh"
up_use unpatched || up_finish
export QFP_E2E_BACKEND="fs-proc:-d -v -s $QFP_E2E_SPOOL"
e2e_init unpatched "$@"

NMSG=3
RP=$QFP_E2E_RELAY_PORT
# shellcheck disable=SC2034 # read by send_batch
TAG=$$-$RANDOM

# -- 1: queue mail for the relay while it is down --------------------------
start_smtpd "$QFP_E2E_BACKEND" run1/start || e2e_finish
send_batch run1/accepted $NMSG x@relay.test "unpatched test"
if ! wait_until 20 queue_has $NMSG; then
	fail run1/queued "smtpctl show queue lists $(queue_count) envelopes, expected $NMSG"
	e2e_finish
fi
queue_evpids >"$WORK/evpids.ref"
pass run1/queued
stop_smtpd

# -- 2: the relay is up; smtpd restarts and asks for the messages' fds ------
if ! start_sink "$RP" "$WORK/sink" 60; then
	fail run2/sink "could not start the SMTP sink on 127.0.0.1:$RP"
	e2e_finish
fi
# Transfers paused until smtpd is up, so that its failure comes after the
# start has been checked.
start_smtpd "$QFP_E2E_BACKEND" run2/start -P mta || e2e_finish
"$SMTPCTL" resume mta >/dev/null 2>&1

sink_count() {
	find "$WORK/sink" -maxdepth 1 -name '*.eml' 2>/dev/null | wc -l
}
smtpd_failed() {	# smtpd exited, or says its queue process failed
	proc_dead "$SMTPD_PID" ||
	    grep -q -E -i 'fatal|lost child|queue socket closed|queue-proc: exiting' "$SMTPD_LOG"
}
kick() {
	"$SMTPCTL" schedule all >/dev/null 2>&1
	smtpd_failed || [ "$(sink_count)" -ge $NMSG ]
}
wait_until 30 kick
sleep 1
n=$(sink_count)
note "after the restart: $n of $NMSG messages at the sink; smtpd $(proc_alive "$SMTPD_PID" && echo running || echo exited)"
grep -E -i 'fatal|lost child|socket closed|queue-proc' "$SMTPD_LOG" | head -8 | indent
if [ "$n" -ge $NMSG ]; then
	fail run2/fd-r-fails "unpatched smtpd delivered all $n messages: the defect did not show, so the patched run proves nothing"
elif smtpd_failed; then
	pass run2/fd-r-fails
else
	fail run2/fd-r-fails "no delivery ($n at the sink) but no failure of smtpd seen either within 30s"
	log_tail 30
fi
check run2/dialect-B-from-version "the helper did not take dialect B from smtpd's version (7.9)" \
    grep -q -E 'queue-fs-proc: peer is OpenSMTPD 7\.9[.0-9]*, imsg dialect B ' "$SMTPD_LOG"
stop_smtpd quiet
stop_sink
# The helper's statistics at its exit: smtpd asked for fds, committed nothing.
grep -E '^stats: .*(MESSAGE_FD_R|MESSAGE_COMMIT) ' "$SMTPD_LOG" | sed 's/^/# /'
check run2/fd-r-asked "the helper answered no MESSAGE_FD_R in the restarted run" \
    grep -q -E '^stats: .*exit: MESSAGE_FD_R count=[1-9][0-9]* failed=0 ' "$SMTPD_LOG"
no_commit() {
	! grep -q -E '^stats: .*exit: MESSAGE_COMMIT count=[1-9]' "$SMTPD_LOG"
}
check run2/no-commit "smtpd committed a message in the restarted run" no_commit

# -- 3: nothing was lost ---------------------------------------------------
queue_evpids >"$WORK/evpids.after" 2>/dev/null
check run3/mail-kept "offline smtpctl show queue lists $(wc -l <"$WORK/evpids.after") envelopes, not the $NMSG queued" \
    cmp -s "$WORK/evpids.after" "$WORK/evpids.ref"
e2e_finish
