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

# expect_queue CHECK: smtpctl show queue lists exactly the $TOTAL envelopes
# of $WORK/evpids.ref (bounded wait: the queue is loaded asynchronously).
expect_queue() {
	local name=$1 cur
	if ! wait_until 20 queue_has $TOTAL; then
		fail "$name" "after 20s smtpctl show queue lists $(queue_count) envelopes, expected $TOTAL"
		queue_list | head -5 | indent
		log_tail 20
		return 1
	fi
	sleep 1	# let a walk that would list too much finish
	cur=$WORK/evpids.$SMTPD_RUN
	queue_evpids >"$cur"
	if cmp -s "$cur" "$WORK/evpids.ref"; then
		pass "$name"
		return 0
	fi
	fail "$name" "envelope set differs: $(wc -l <"$cur") listed; missing: $(comm -23 "$WORK/evpids.ref" "$cur" | head -3 | tr '\n' ' ')extra: $(comm -13 "$WORK/evpids.ref" "$cur" | head -3 | tr '\n' ' ')"
	return 1
}

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
if ! start_sink "$RP" "$WORK/sink" 90; then
	fail run4/sink "could not start the SMTP sink on 127.0.0.1:$RP"
	e2e_finish
fi
sink_count() {
	find "$WORK/sink" -maxdepth 1 -name '*.eml' 2>/dev/null | wc -l
}
flushed() {
	if [ "$SECONDS" -ge "$next_kick" ]; then
		resume_routes
		"$SMTPCTL" schedule all >/dev/null 2>&1
		next_kick=$((SECONDS + 3))
	fi
	queue_empty
}
next_kick=0
"$SMTPCTL" resume mta >/dev/null 2>&1
if wait_until 60 flushed; then
	pass run4/queue-flushed
else
	fail run4/queue-flushed "after 60s $(queue_count) envelopes still queued, $(sink_count) transactions at the sink"
	queue_list | head -5 | indent
	log_tail 40
fi
sleep 1

# What reached the sink: one line per (message, recipient).
got=$WORK/got.pairs
expected=$WORK/expected.pairs
for i in $(seq 1 $NMSG); do
	echo "qfp-$TAG-$i@e2e.test <x@relay.test>"
	echo "qfp-$TAG-$i@e2e.test <y@relay.test>"
done | sort >"$expected"
: >"$got"
for f in "$WORK"/sink/*.eml; do
	[ -e "$f" ] || continue
	mid=$(header_of "$f" X-QFP-E2E)
	grep -a '^X-Sink-Rcpt-To:' "$f" | tr -d '\r' | while read -r _ r; do
		echo "${mid:-?} $r"
	done
done | sort >"$got"
nmid=$(cut -d' ' -f1 "$got" | sort -u | wc -l)
check run4/messages-arrived "$nmid distinct messages at the sink, expected $NMSG" [ "$nmid" = $NMSG ]
dups=$(uniq -d "$got")
check run4/no-duplicates "delivered more than once: $(echo "$dups" | tr "\n" " " | head -c 300)" [ -z "$dups" ]
missing=$(comm -23 "$expected" <(sort -u "$got"))
check run4/all-recipients "$(echo "$missing" | grep -c .) (message, recipient) pairs missing, e.g. $(echo "$missing" | head -3 | tr '\n' ';')" [ -z "$missing" ]
extra=$(comm -13 "$expected" <(sort -u "$got"))
check run4/nothing-else "unexpected at the sink: $(echo "$extra" | head -3 | tr '\n' ';')" [ -z "$extra" ]
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

left=$(spool_messages)
check spool-clean "message directories left in $SPOOL/queue: $(echo "$left" | tr "\n" " " | head -c 200)" [ -z "$left" ]

e2e_finish
