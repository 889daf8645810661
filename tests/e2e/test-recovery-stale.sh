#!/bin/bash
# End-to-end: a log left by a crash of the helper is never replayed once
# smtpd's built-in queue has served the spool.
#
# 1. The helper (durable) queues mail for two relays that are down,
#    relay.test and relay2.test; the first tries fail, so the log holds
#    envelope updates besides the commits.  It is killed with SIGKILL
#    while clients send; smtpd exits with it; the log stays live.
# 2. smtpd's built-in queue on the same spool (it renames incoming/ to
#    purge/ and makes a new one), relay.test's relay up (the sink): it
#    delivers that mail and deletes it, and retries relay2.test's, which
#    rewrites their envelopes.
# 3. The helper again: its log is stale and must be set aside
#    (fs-proc/log.N.stale, with a warning), not replayed: no mail comes
#    back, none is delivered twice, no envelope goes back to what the log
#    holds, on disk or as served.
: "${QFP_E2E_TIMEOUT:=90}"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init recovery-stale "$@"
need_helper || e2e_finish

NMSG=6		# to relay.test, x and y
NMSG2=3		# to relay2.test, z
TAG2=$TAG-r2

# loader: mail for relay.test, one at a time, until $WORK/stop (at most
# 100); acknowledged pairs to $WORK/load.acked, the others (cut by the
# crash: committed or not) to $WORK/load.maybe
loader() {
	local i mid
	: >"$WORK/load.acked"
	: >"$WORK/load.maybe"
	for i in $(seq 1 100); do
		[ -e "$WORK/stop" ] && break
		mid=qfp-$TAG-load$i@e2e.test
		if send_mail z@relay.test "$mid" "recovery load $i" >/dev/null; then
			echo "$mid <z@relay.test>" >>"$WORK/load.acked"
		else
			echo "$mid <z@relay.test>" >>"$WORK/load.maybe"
		fi
	done
}

retried() {	# no envelope in the spool is still untried
	! grep -rqx 'retry: 0' "$SPOOL/queue"
}

# no envelope is left as the helper left it: relay.test's delivered,
# relay2.test's retried
all_touched() {
	kick
	[ -z "$(envelope_sums | comm -12 - "$WORK/env.1")" ]
}

# -- 1: the helper queues mail, retries it, is killed under load -------------
start_smtpd "$QFP_E2E_BACKEND" run1/start || e2e_finish
send_batch run1/accepted $NMSG "x@relay.test,y@relay.test" "recovery"
TAG=$TAG2 send_batch run1/accepted-relay2 $NMSG2 "z@relay2.test" "recovery"
wait_queued run1/queued $((NMSG * 2 + NMSG2)) || e2e_finish
if wait_until 30 retried; then
	pass run1/retried
else
	fail run1/retried "after 30s envelopes still untried: $(grep -rlx 'retry: 0' "$SPOOL/queue" | head -3)"
fi
rm -f "$WORK/stop"
loader &
lpid=$!
sleep 2
crash_helper run1/crash
touch "$WORK/stop"
wait_until 30 proc_dead "$lpid" || kill -KILL "$lpid" 2>/dev/null
wait "$lpid" 2>/dev/null
note "$(wc -l <"$WORK/load.acked") load messages acknowledged, $(wc -l <"$WORK/load.maybe") cut by the crash"
envelope_sums >"$WORK/env.1"

# -- 2: the built-in queue delivers relay.test's, retries relay2.test's ------
relay_up run2/sink 80 || e2e_finish
start_smtpd fs run2/start-builtin-fs || e2e_finish
if wait_until 45 all_touched; then
	pass run2/delivered-and-retried
else
	fail run2/delivered-and-retried "after 45s envelopes left as the helper left them: $(envelope_sums | comm -12 - "$WORK/env.1" | cut -c66- | head -3 | tr '\n' ' ')"
	log_tail 20
fi
stop_smtpd
envelope_sums >"$WORK/env.2"
awk '{ n = split($2, p, "/"); print p[n] }' "$WORK/env.2" >"$WORK/evpids.2"
queue_list >"$WORK/served.2" 2>/dev/null
n=$(wc -l <"$WORK/env.2")
check run2/relay2-left "$n envelopes left, expected relay2.test's $NMSG2" [ "$n" = $NMSG2 ]
batch_pairs $NMSG x@relay.test y@relay.test | cat - "$WORK/load.acked" >"$WORK/expected.pairs"
expect_pairs run2 "$WORK/expected.pairs" "$WORK/load.maybe"

# -- 3: the helper again: the stale log is set aside, not replayed ------------
# (transfers paused: what the helper serves is compared first)
start_smtpd "$QFP_E2E_BACKEND" run3/start -P mta || e2e_finish
stale=$(cd "$SPOOL/fs-proc" 2>/dev/null && ls -d log.*.stale 2>/dev/null)
check run3/log-set-aside "no fs-proc/log.N.stale after the built-in queue served the spool (fs-proc/: $(ls "$SPOOL/fs-proc" 2>&1 | tr '\n' ' '))" \
    [ -n "$stale" ]
warned=$(grep -E 'warn: queue-fs-proc: .*(stale|log\.[0-9])' "$SMTPD_LOG" | head -1)
check run3/warned "the helper did not warn about the stale log" [ -n "$warned" ]
note "set aside: $(echo $stale); ${warned:-no warning}"
expect_queue run3/nothing-resurrected "$WORK/evpids.2"
envelope_sums >"$WORK/env.3"
check run3/envelopes-on-disk "envelopes differ from what the built-in queue left: $(diff "$WORK/env.2" "$WORK/env.3" | grep '^[<>]' | head -2 | tr '\n' ' ')" \
    cmp -s "$WORK/env.2" "$WORK/env.3"
# evpid, recipient, retry count and error line: as the built-in queue
# left them (smtpctl read the spool itself then; the helper serves it now)
served() {
	cut -d'|' -f1,6,11,14- "$1" | sort
}
queue_list >"$WORK/served.3"
check run3/envelopes-served "served differently: $(diff <(served "$WORK/served.2") <(served "$WORK/served.3") | grep '^[<>]' | head -2 | tr '\n' ' ')" \
    cmp -s <(served "$WORK/served.2") <(served "$WORK/served.3")

# transfers on: whatever came back would reach the sink again now
"$SMTPCTL" resume mta >/dev/null 2>&1
expect_quiet_sink run3/no-redelivery 8
expect_pairs run3 "$WORK/expected.pairs" "$WORK/load.maybe"
stop_smtpd
left=$(spool_messages | wc -l)
check spool-relay2-only "$left message directories in the spool, expected relay2.test's $NMSG2" \
    [ "$left" = $NMSG2 ]

e2e_finish
