#!/bin/bash
# End-to-end: mail queued for a relay that is down survives restarts of smtpd
# with the backend under test ($QFP_E2E_BACKEND, default fs-proc:-d) and a
# switch to smtpd's built-in fs queue and back (same spool, same envelopes),
# then is delivered exactly once when the relay comes up.  The last start is
# the case where smtpd asks the helper for MESSAGE_FD_R of messages it never
# committed in this run.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init persistence "$@"

NMSG=10
NRCPT=2
TOTAL=$((NMSG * NRCPT))
TAG=$$-$RANDOM
B=$QFP_E2E_BACKEND
RP=$QFP_E2E_RELAY_PORT

if port_open "$RP"; then
	fail setup "relay port 127.0.0.1:$RP is open; it must be closed"
	e2e_finish
fi

# expect_offline CHECK: with smtpd down, smtpctl reads the spool itself as
# the built-in fs layout; it must list the same envelopes.
expect_offline() {
	local cur=$WORK/evpids.offline.$SMTPD_RUN
	queue_evpids >"$cur" 2>/dev/null
	check "$1" "offline smtpctl show queue lists $(wc -l <"$cur") envelopes, not the $TOTAL queued ($(head -c 200 "$WORK/smtpctl.err"))" \
	    cmp -s "$cur" "$WORK/evpids.ref"
}

# -- 1: queue mail for the dead relay ----------------------------------------
start_smtpd "$B" run1/start || e2e_finish
# durable, the helper has one child, its log checkpointer, and ps says so
if h=$(helper_pid); then
	case $B in *"-S none"*) want=0 ;; *) want=1 ;; esac
	titles=$(for k in $(ps -o pid= --ppid "$h"); do pid_args "$k"; echo; done)
	n=$(printf '%s' "$titles" | grep -c 'log checkpointer *$')
	check run1/checkpointer-title "helper $h: $n children titled '... log checkpointer', expected $want (children: $titles)" \
	    [ "$n" = "$want" ]
fi
send_batch run1/accepted $NMSG "x@relay.test,y@relay.test" "persistence test"
if wait_until 20 queue_has $TOTAL; then
	sleep 1
	queue_evpids >"$WORK/evpids.ref"
	n=$(wc -l <"$WORK/evpids.ref")
	check run1/queued "smtpctl show queue lists $n envelopes, expected $TOTAL" [ "$n" = $TOTAL ]
	note "$(cut -c1-8 "$WORK/evpids.ref" | sort -u | wc -l) messages, $n envelopes queued, e.g.:"
	queue_list | head -2 | indent
else
	fail run1/queued "smtpctl show queue lists $(queue_count) envelopes, expected $TOTAL"
	log_tail 30
	e2e_finish
fi
nmsgdir=$(find "$SPOOL/queue" -mindepth 2 -maxdepth 2 -type d 2>/dev/null | wc -l)
check run1/spool-layout "the spool holds $nmsgdir message directories under queue/XX/, expected $NMSG" \
    [ "$nmsgdir" = $NMSG ]
qu=$(id -un opensmtpq 2>/dev/null || echo _smtpq)
badown=$(find "$SPOOL/queue" ! -user "$qu" 2>/dev/null | head -3)
check run1/spool-owner "not owned by the queue user $qu: $badown" [ -z "$badown" ]
stop_smtpd
expect_offline run1/offline-list

# -- 2: restart, same backend ------------------------------------------------
start_smtpd "$B" run2/start || e2e_finish
expect_queue run2/same-envelopes
stop_smtpd

# -- 3: smtpd's built-in fs queue on the same spool --------------------------
start_smtpd fs run3/start-builtin-fs || e2e_finish
expect_queue run3/same-envelopes-builtin-fs
stop_smtpd
expect_offline run3/offline-list

# -- 4: back to the backend under test ---------------------------------------
# Transfers paused (-P mta) until the relay is up: smtpd would otherwise
# try the dead relay once more at start and disable the route for 15s.
start_smtpd "$B" run4/start -P mta || e2e_finish
expect_queue run4/same-envelopes

# -- 5: the relay comes up; everything is delivered exactly once --------------
relay_up run4/sink 90 || e2e_finish
"$SMTPCTL" resume mta >/dev/null 2>&1
expect_flushed run4/queue-flushed 60
sleep 1

# What reached the sink: one line per (message, recipient).
batch_pairs $NMSG x@relay.test y@relay.test >"$WORK/expected.pairs"
nmid=$(sink_pairs | cut -d' ' -f1 | sort -u | wc -l)
check run4/messages-arrived "$nmid distinct messages at the sink, expected $NMSG" [ "$nmid" = $NMSG ]
expect_pairs run4 "$WORK/expected.pairs"
badbody=0
for f in "$WORK"/sink/*.eml; do
	[ -e "$f" ] || continue
	mid=$(header_of "$f" X-QFP-E2E)
	[ -n "$mid" ] && grep -aq "^e2e test message $mid" "$f" || badbody=$((badbody + 1))
done
check run4/bodies-intact "$badbody transactions at the sink lack their message's body" [ $badbody = 0 ]
note "$(sink_count) SMTP transactions at the sink for $NMSG messages x $NRCPT recipients"

nd=$(grep -c 'mta delivery .*result="Ok"' "$SMTPD_LOG")
check run4/mta-deliveries-logged "smtpd logged $nd successful relay deliveries, expected $TOTAL" [ "$nd" = $TOTAL ]

out=$(queue_list)
rc=$?
check run4/queue-empty "smtpctl show queue (rc $rc) printed: $(echo "$out" | head -3)" [ "$rc:$out" = "0:" ]
stop_sink
stop_smtpd

expect_spool_clean

e2e_finish
