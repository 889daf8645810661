#!/bin/bash
# A guided tour: Debian's smtpd with the queue-fs-proc helper
# (-B queue=fs-proc:-d) on 127.0.0.1:2525, inside a private network
# namespace.  Builds nothing; `make demo` builds first.  One mail is
# delivered to a maildir, one waits in the queue for a relay that is down;
# the queue and the spool are shown, then everything is stopped and removed.
# QFP_E2E_BACKEND=fs shows the same with smtpd's built-in queue.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
QFP_E2E_PORT=2525
e2e_init demo "$@"

step() {
	echo
	echo "==== $*"
}

step "smtpd $(smtpd -h 2>&1 | sed -n 's/^[Vv]ersion: //p'), backend -B queue=$QFP_E2E_BACKEND"
note "private network namespace, interfaces: $(ip -o link show | awk -F': ' '{print $2}' | tr '\n' ' ')"
note "configuration ($CONF):"
grep -v '^#' "$CONF" | indent

step "starting smtpd -d -f $CONF -B queue=$QFP_E2E_BACKEND"
start_smtpd "$QFP_E2E_BACKEND" start || e2e_finish
note "smtpd pid $SMTPD_PID and its processes:"
ps -o pid=,ppid=,user=,args= -p "$({ echo "$SMTPD_PID"; descendants "$SMTPD_PID"; } | paste -sd, -)" | indent

step "sending one mail to a@test.local (local delivery to a maildir)"
swaks --server "127.0.0.1:$QFP_E2E_PORT" --timeout 20 \
    --from alice@sender.test --to a@test.local \
    --header "Subject: hello from the queue-fs-proc demo" \
    --header "Message-Id: <demo-local-$$@e2e.test>" \
    --body "Stored in the spool by queue-fs-proc, then delivered." 2>&1 | indent
if wait_until 20 eval '[ -n "$(ls -A "$MAILDIR/new" 2>/dev/null)" ] && queue_empty'; then
	pass delivered
else
	fail delivered "no mail in $MAILDIR/new after 20s"
	log_tail 20
fi
f=$(find "$MAILDIR/new" -type f 2>/dev/null | head -1)
if [ -n "$f" ]; then
	note "delivered file: $f"
	indent <"$f"
fi

step "sending one mail to bob@relay.test (its relay, 127.0.0.1:$QFP_E2E_RELAY_PORT, is down: it stays queued)"
send_mail bob@relay.test "demo-relay-$$@e2e.test" "this one waits in the queue" &&
    note "accepted"
if wait_until 10 queue_has 1; then
	pass queued
else
	fail queued "smtpctl show queue is empty"
fi

step "smtpctl show queue"
queue_list | indent

step "the spool, as the helper wrote it (the built-in fs queue's layout)"
(cd "$SPOOL" && find queue -printf '%M %u:%g %6s  %p\n' | sort -k4) | indent
evp=$(find "$SPOOL/queue" -mindepth 3 -type f ! -name message 2>/dev/null | head -1)
if [ -n "$evp" ]; then
	note "an envelope file ($evp), opaque to the helper:"
	indent <"$evp"
fi

step "stopping smtpd (pid $SMTPD_PID); the helper exits with it"
stop_smtpd
note "the helper's other log lines (-d: to smtpd's stderr):"
grep -E 'queue-fs-proc' "$SMTPD_LOG" | grep -v '^stats: ' | indent

step "with smtpd stopped, smtpctl reads the spool itself: the relay mail is still there"
smtpctl show queue 2>&1 | indent

step "cleaning up: $SPOOL and the work directory are removed"
e2e_finish
