#!/bin/bash
# End-to-end: 20 messages x 3 local recipients through the real smtpd with the
# backend under test ($QFP_E2E_BACKEND, default fs-proc:-d); every
# (message, recipient) pair delivered to the maildir exactly once, then the
# queue is empty and the spool holds no message.  QFP_E2E_CONF_EXTRA adds
# lines to smtpd.conf, QFP_E2E_NAME names the run (test-compressed.sh).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init "${QFP_E2E_NAME:-delivery}" "$@"

NMSG=20
RCPTS="a@test.local b@test.local c@test.local"
NRCPT=3
TOTAL=$((NMSG * NRCPT))
TAG=$$-$RANDOM

# QFP_E2E_TEMPORARY_FS=1: smtpd's temporary/ on a file system of its own
# (a tmpfs, owned as smtpd wants it), so the helper cannot rename smtpd's
# file into the spool (EXDEV) and copies every commit (test-copied.sh)
COMMITS="renamed=$NMSG copied=0"
if [ "${QFP_E2E_TEMPORARY_FS:-0}" = 1 ]; then
	COMMITS="renamed=0 copied=$NMSG"
	qu=$(id -u "${QFP_E2E_QUEUE_USER:-opensmtpq}") &&
	    mkdir -p -m 0711 "$SPOOL" && mkdir -p "$SPOOL/temporary" &&
	    mount -t tmpfs -o "mode=0700,uid=$qu,gid=0,size=64m" tmpfs \
	    "$SPOOL/temporary" ||
	    { fail setup "cannot mount a tmpfs on $SPOOL/temporary"; e2e_finish; }
fi
start_smtpd "$QFP_E2E_BACKEND" start || e2e_finish

# -- the helper under real smtpd: chrooted, unprivileged, sandboxed -----------
status_field() {	# status_field PID FIELD: first word after "FIELD:"
	awk -v f="$2:" '$1 == f {print $2; exit}' "/proc/$1/status"
}
if hp=$(helper_pid); then
	check helper-uid "helper runs as root (Uid $(status_field "$hp" Uid))" \
	    [ "$(status_field "$hp" Uid)" != 0 ]
	check helper-gid "helper runs with gid 0" \
	    [ "$(status_field "$hp" Gid)" != 0 ]
	check helper-nonewprivs "NoNewPrivs is not 1" \
	    [ "$(status_field "$hp" NoNewPrivs)" = 1 ]
	check helper-seccomp "Seccomp is not 2 (filter)" \
	    [ "$(status_field "$hp" Seccomp)" = 2 ]
	check helper-capeff "CapEff is not 0" \
	    [ "$(status_field "$hp" CapEff)" = 0000000000000000 ]
	root=$(readlink "/proc/$hp/root")
	check helper-root "helper root is $root, not $SPOOL" \
	    [ "$root" = "$SPOOL" ]
elif [ "${QFP_E2E_BACKEND%%:*}" = fs-proc ]; then
	fail helper-found "no queue-proc helper among smtpd's processes"
fi

# -- send ------------------------------------------------------------------
send_batch accepted $NMSG "a@test.local,b@test.local,c@test.local" \
    "delivery test"

# -- wait for the deliveries -------------------------------------------------
maildir_count() {
	find "$MAILDIR/new" "$MAILDIR/cur" -type f 2>/dev/null | wc -l
}
delivered() {
	[ "$(maildir_count)" -ge $TOTAL ] && queue_empty
}
if wait_until 60 delivered; then
	pass delivered-in-time
else
	fail delivered-in-time "after 60s: $(maildir_count) of $TOTAL files in the maildir, $(queue_count) envelopes queued"
	log_tail 30
fi
sleep 1	# anything late would show up now

# -- the maildir -------------------------------------------------------------
n=$(maildir_count)
check maildir-count "maildir has $n files, expected $TOTAL" [ "$n" = $TOTAL ]
ntmp=$(find "$MAILDIR/tmp" -type f 2>/dev/null | wc -l)
check maildir-tmp-empty "maildir tmp/ holds $ntmp files" [ "$ntmp" = 0 ]

expected=$WORK/expected.pairs
got=$WORK/got.pairs
for i in $(seq 1 $NMSG); do
	for r in $RCPTS; do
		echo "qfp-$TAG-$i@e2e.test $r"
	done
done | sort >"$expected"
: >"$got"
find "$MAILDIR/new" "$MAILDIR/cur" -type f 2>/dev/null | while read -r f; do
	mid=$(header_of "$f" X-QFP-E2E)
	rcpt=$(header_of "$f" Delivered-To)
	echo "${mid:-?} ${rcpt:-?}"
done | sort >"$got"

dups=$(uniq -d "$got")
check no-duplicates "pairs delivered more than once: $(echo "$dups" | tr "\n" " " | head -c 300)" [ -z "$dups" ]
missing=$(comm -23 "$expected" <(sort -u "$got"))
check all-pairs-delivered "$(echo "$missing" | grep -c .) pairs missing, e.g. $(echo "$missing" | head -3 | tr '\n' ';')" [ -z "$missing" ]
extra=$(comm -13 "$expected" <(sort -u "$got"))
check no-unexpected-files "unexpected deliveries: $(echo "$extra" | head -3 | tr '\n' ';')" [ -z "$extra" ]

# Each delivered file carries the body that was sent.
badbody=0
while read -r f; do
	mid=$(header_of "$f" X-QFP-E2E)
	[ -n "$mid" ] && grep -q "^e2e test message $mid" "$f" || badbody=$((badbody + 1))
done < <(find "$MAILDIR/new" "$MAILDIR/cur" -type f 2>/dev/null)
check bodies-intact "$badbody delivered files do not carry their message's body" [ $badbody = 0 ]

# -- the queue ---------------------------------------------------------------
out=$(queue_list)
rc=$?
check queue-empty "smtpctl show queue (rc $rc) printed: $(echo "$out" | head -3)" \
    [ "$rc:$out" = "0:" ]

nd=$(grep -c 'mda delivery.*result=Ok stat=Delivered' "$SMTPD_LOG")
check log-deliveries "smtpd logged $nd successful deliveries, expected $TOTAL" [ "$nd" = $TOTAL ]

stop_smtpd

# -- the helper's commits: smtpd's temporary/MSGID renamed, never copied ------
# (copied, every one, when temporary/ is on another file system)
if [ "${QFP_E2E_BACKEND%%:*}" = fs-proc ]; then
	line=$(grep -E '^stats: queue-fs-proc: exit: MESSAGE_COMMIT ' "$SMTPD_LOG" | tail -1)
	check commit-path "helper's exit statistics for MESSAGE_COMMIT, expected $COMMITS: ${line:-none}" \
	    eval '[[ "$line" == *" failed=0 "*" $COMMITS" ]]'
	if [ "${QFP_E2E_TEMPORARY_FS:-0}" = 1 ]; then
		ninfo=$(grep -c 'temporary/ is on another file system' "$SMTPD_LOG")
		nwarn=$(grep -c 'copying instead' "$SMTPD_LOG")
		check copy-said-once "the helper said $ninfo times that temporary/ is on another file system (expected once) and warned $nwarn times about a rename (expected never)" \
		    [ "$ninfo:$nwarn" = 1:0 ]
	fi
fi

expect_spool_clean
inc=$(find "$SPOOL/incoming" -mindepth 1 2>/dev/null | head -3)
check incoming-clean "left in $SPOOL/incoming: $inc" [ -z "$inc" ]

e2e_finish
