#!/bin/bash
# Real smtpd, helper killed: Debian's smtpd (6.8) with -B queue=fs-proc,
# in a private network namespace (tests/e2e/lib.sh: 127.0.0.1:2525, mail
# for relay.test relayed to a closed loopback port, so it stays queued).
#
# Five rounds: several swaks clients send in parallel (each message a
# unique Message-ID and subject, two recipients; a "250 ... Message
# accepted" answer and its queue id are recorded); meanwhile the helper
# (the "queue-proc" process among the descendants of the smtpd we
# started) is killed with SIGKILL; smtpd must exit (it cannot run without
# its queue); it is restarted; "smtpctl show queue" must list every
# message that ever got a 250, with both recipients.  Zero lost across
# the five rounds; no queued message with one recipient only.
#
# Holds /run/qfp-smtpd.lock for the whole test (smtpd's spool and control
# socket are fixed); installs the build as
# /usr/libexec/opensmtpd/queue-fs-proc; /var/spool/smtpd is removed at
# the end.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
ROUNDS=${QFP_KILL_ROUNDS:-5}
CLIENTS=${QFP_KILL_CLIENTS:-4}

if [ "${QFP_E2E_NETNS:-}" != 1 ]; then
	# Outside the namespaces: the lock (kept by this process until the
	# test is over) and the helper under test.
	if [ "$(id -u)" != 0 ]; then
		echo "FAIL: smtpd-kill/setup: must run as root"
		exit 1
	fi
	exec 9>/run/qfp-smtpd.lock
	if ! flock -w 600 9; then
		echo "FAIL: smtpd-kill/setup: /run/qfp-smtpd.lock still held after 600 s"
		exit 1
	fi
	if [ ! -x "$REPO/queue-fs-proc/queue-fs-proc" ]; then
		echo "FAIL: smtpd-kill/setup: queue-fs-proc/queue-fs-proc not built (make)"
		exit 1
	fi
	if ! install -m 0755 "$REPO/queue-fs-proc/queue-fs-proc" \
	    /usr/libexec/opensmtpd/queue-fs-proc; then
		echo "FAIL: smtpd-kill/setup: cannot install the helper"
		exit 1
	fi
fi
if [ ! -f "$REPO/tests/e2e/lib.sh" ]; then
	echo "FAIL: smtpd-kill/setup: tests/e2e/lib.sh missing"
	exit 1
fi
: "${QFP_E2E_TIMEOUT:=560}"
export QFP_E2E_TIMEOUT
# shellcheck source=../e2e/lib.sh
. "$REPO/tests/e2e/lib.sh"
e2e_init smtpd-kill "$@"

# ---- inside the private namespaces from here ------------------------------

ACC=$WORK/accepted		# round client n queue-id message-id
: >"$ACC"

client_loop() {	# client_loop ROUND CLIENT: send until $WORK/stop
	local r=$1 c=$2 i=0 out qid mid body
	while [ ! -e "$WORK/stop" ] && [ $i -lt 500 ]; do
		i=$((i + 1))
		mid="kill-r$r-c$c-n$i-$$@qfp.test"
		body="round $r client $c message $i $(head -c $((200 + RANDOM % 4000)) /dev/zero | tr '\0' x)"
		out=$(swaks --server "127.0.0.1:$QFP_E2E_PORT" --timeout 15 \
		    --from sender@sender.test \
		    --to "a-r$r-c$c-n$i@relay.test,b-r$r-c$c-n$i@relay.test" \
		    --header "Message-Id: <$mid>" \
		    --header "Subject: kill round $r client $c message $i" \
		    --body "$body" 2>&1)
		qid=$(printf '%s\n' "$out" |
		    sed -n 's/^<-  250 2\.0\.0[: ]*\([0-9a-f]\{8\}\) Message accepted.*/\1/p' |
		    tail -n 1)
		if [ -n "$qid" ]; then
			echo "$r $c $i $qid $mid" >>"$WORK/acc.$r.$c"
		else
			echo "$r $c $i" >>"$WORK/notacc.$r.$c"
			sleep 0.05
		fi
	done
}

# every message that got a 250 is listed with both recipients
verify_queue() {	# verify_queue: sets LOST, PARTIAL, QUEUED
	local q=$WORK/queue.txt
	LOST=0; PARTIAL=0; QUEUED=0
	queue_list >"$q" || return 1
	QUEUED=$(cut -d'|' -f1 "$q" | cut -c1-8 | sort -u | wc -l)
	LOST=$(awk -F'|' -v acc="$ACC" '
	    FILENAME == acc { want[$4] = $1 "-" $2 "-" $3; next }
	    { id = substr($1, 1, 8); for (i = 2; i <= NF; i++) have[id, $i] = 1 }
	    END {
		lost = 0
		for (id in want) {
			split(want[id], p, "-")
			a = "a-r" p[1] "-c" p[2] "-n" p[3] "@relay.test"
			b = "b-r" p[1] "-c" p[2] "-n" p[3] "@relay.test"
			if (!((id, a) in have) || !((id, b) in have)) {
				lost++
				if (lost <= 5)
					print "  | lost: " id " (round " p[1] " client " p[2] " message " p[3] ")" > "/dev/stderr"
			}
		}
		print lost
	    }' FS=' ' "$ACC" FS='|' "$q")
	PARTIAL=$(awk -F'|' '{ n[substr($1, 1, 8)]++ } END { c = 0; for (m in n) if (n[m] == 1) c++; print c }' "$q")
	return 0
}

all_there() {
	verify_queue 2>/dev/null && [ "$LOST" = 0 ]
}

total_lost=0
start_smtpd "$QFP_E2E_BACKEND" "start" || e2e_finish
for r in $(seq 1 "$ROUNDS"); do
	rm -f "$WORK/stop"
	pids=""
	for c in $(seq 1 "$CLIENTS"); do
		client_loop "$r" "$c" &
		pids="$pids $!"
	done
	# let them send, then kill the helper in the middle of it
	sleep "$(awk -v s=$RANDOM 'BEGIN { srand(s); printf "%.2f", 0.8 + rand() * 2 }')"
	hp=$(helper_pid)
	if [ -z "$hp" ]; then
		fail "round$r/kill" "no queue-proc helper among smtpd's descendants"
		touch "$WORK/stop"
		break
	fi
	hargs=$(pid_args "$hp")
	kill -KILL "$hp"
	note "round $r: SIGKILL to helper $hp ($hargs) while $CLIENTS clients send"
	# smtpd cannot run without its queue: it must exit by itself
	if wait_until 30 proc_dead "$SMTPD_PID"; then
		pass "round$r/smtpd-exits"
	else
		fail "round$r/smtpd-exits" "smtpd $SMTPD_PID still up 30 s after its helper died"
		kill -KILL "$SMTPD_PID" 2>/dev/null
		wait_until 10 proc_dead "$SMTPD_PID"
	fi
	wait "$SMTPD_PID" 2>/dev/null
	for p in $SMTPD_KIDS; do
		wait_until 10 proc_dead "$p" || kill -KILL "$p" 2>/dev/null
	done
	SMTPD_PID=
	wait_until 10 port_closed "$QFP_E2E_PORT"
	touch "$WORK/stop"
	for p in $pids; do
		wait_until 40 proc_dead "$p" || kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	cat "$WORK"/acc."$r".* >>"$ACC" 2>/dev/null
	nacc=$(cat "$WORK"/acc."$r".* 2>/dev/null | wc -l)
	nnot=$(cat "$WORK"/notacc."$r".* 2>/dev/null | wc -l)
	note "round $r: $nacc messages got a 250, $nnot did not (cut by the kill or refused)"
	[ "$nacc" -gt 0 ] || fail "round$r/traffic" "no message accepted before the kill"

	start_smtpd "$QFP_E2E_BACKEND" "round$r/restart" || break
	# the start-up walk feeds the scheduler a little at a time: wait
	# (bounded) until the listing holds everything, then judge
	wait_until 30 all_there
	if ! verify_queue; then
		fail "round$r/no-loss" "smtpctl show queue failed: $(cat "$WORK/smtpctl.err")"
		continue
	fi
	total=$(wc -l <"$ACC")
	note "round $r: $total messages accepted so far, $QUEUED messages queued, $LOST lost, $PARTIAL with one recipient only"
	if [ "$LOST" = 0 ]; then
		pass "round$r/no-loss ($total accepted so far, all listed with both recipients)"
	else
		fail "round$r/no-loss" "$LOST of $total accepted messages missing from smtpctl show queue"
		verify_queue 2>&1 >/dev/null | indent
		total_lost=$((total_lost + LOST))
	fi
	if [ "$PARTIAL" = 0 ]; then
		pass "round$r/no-partial"
	else
		fail "round$r/no-partial" "$PARTIAL queued messages have one recipient only"
	fi
done
total=$(wc -l <"$ACC")
# the check itself must see a loss: a fake acknowledged message
if [ -n "$SMTPD_PID" ]; then
	cp "$ACC" "$WORK/accepted.real"
	echo "0 0 0 0badf00d control@qfp.test" >>"$ACC"
	verify_queue 2>/dev/null
	if [ "$LOST" = 1 ]; then
		pass "selftest/detects-loss (a made-up acknowledged message is reported lost)"
	else
		fail "selftest/detects-loss" "a made-up acknowledged message is not reported ($LOST)"
	fi
	mv "$WORK/accepted.real" "$ACC"
fi
if [ "$total_lost" = 0 ] && [ "$total" -gt 0 ]; then
	pass "total/no-loss ($total messages accepted over $ROUNDS rounds with a helper killed in each, 0 lost)"
else
	fail "total/no-loss" "$total_lost lost of $total accepted"
fi
stop_smtpd
e2e_finish
