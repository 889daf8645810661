#!/bin/bash
# Check mode, queue-fs-proc -n [-R]: for each kind of problem, a spool
# filled by the real daemon (tests/lib/qfp-drive fill) with one problem
# planted.  -n must exit 1, name the problem and its path, and change
# nothing (names, sizes, modes, owners, ctimes, contents); -R must move or
# fix it, after which -n exits 0, and leave every valid message as it was.
# A clean spool gives exit 0 and exact counts.  Run as root, from the top
# of the tree.  Prints PASS:/FAIL: lines; exits 1 on any failure.
set -u

QFP=${QFP:-queue-fs-proc/queue-fs-proc}
DRIVE=tests/lib/qfp-drive
USER_Q=qfptest
MAX_EVP=16356		# PQ_EVP_MAX: 16384 - 16 (header) - 4 (r) - 8 (evpid)
T=$(mktemp -d /tmp/qfp-op-check.XXXXXX)
trap 'rm -rf "$T"' EXIT

. tests/lib/report.sh

if [ "$(id -u)" != 0 ]; then
	echo "FAIL: test-check: must run as root"
	exit 1
fi
id "$USER_Q" >/dev/null 2>&1 || useradd -r -M -s /usr/sbin/nologin "$USER_Q"
[ -x "$QFP" ] && [ -x "$DRIVE" ] || make -s "$QFP" "$DRIVE" >/dev/null || {
	echo "FAIL: test-check: cannot build $QFP and $DRIVE"
	exit 1
}

# A spool with NMSG messages of NEVP envelopes each, written by the daemon.
new_spool() {
	local s
	s=$(mktemp -d "$T/spool.XXXXXX")
	chmod 0711 "$s"
	"$DRIVE" -s "$s" -u "$USER_Q" fill "${1:-2}" "${2:-2}" > "$s.ids" ||
	    return 1
	echo "$s"
}

# Everything about a tree that a read-only check must not change.
# fs-proc/lock is left out: -n -R and -R write their pid in it, as the
# helper does, so that a refusal names who holds the spool.
snapshot() {
	(cd "$1" && find . ! -path ./fs-proc/lock \
	    -printf '%p %y %s %m %u:%g %C@ %T@ %l\n' | sort
	 find . -type f ! -path ./fs-proc/lock -exec md5sum {} + 2>/dev/null |
	    sort)
}

# The valid messages the daemon wrote: path, size, content of each file.
valid_snapshot() {
	(cd "$1" && awk '$1 == "message" {
		print "queue/" substr($2, 1, 2) "/" $2 "/message" }
	    $1 == "envelope" {
		print "queue/" substr($2, 1, 2) "/" substr($2, 1, 8) "/" $2 }' \
	    "$1.ids" | sort | while read -r f; do
		printf '%s %s %s\n' "$f" "$(stat -c %s "$f" 2>&1)" \
		    "$(md5sum < "$f" 2>&1)"
	done)
}

first_msg() { awk '$1 == "message" {print $2; exit}' "$1.ids"; }
msgdir() { local m; m=$(first_msg "$1"); echo "queue/${m:0:2}/$m"; }
asq() { chown "$USER_Q:$USER_Q" "$@"; }

# run NAME SPOOL RELPATH WORDS [norepair|MOVED]: the planted problem at
# RELPATH must be reported with WORDS.  norepair: -R must leave it (exit
# 1); MOVED: what -R moves for it (RELPATH by default).
run_case() {
	local name=$1 s=$2 rel=$3 words=$4 mode=${5:-repair} moved=${5:-$3}
	local out before after vbefore rc

	before=$(snapshot "$s")
	vbefore=$(valid_snapshot "$s")
	out=$(timeout 30 "$QFP" -n -s "$s" -u "$USER_Q" 2>&1); rc=$?
	if [ $rc != 1 ]; then
		fail "$name" "-n exited $rc, not 1: $out"
		return
	fi
	if ! grep -qF "problem: $s/$rel: $words" <<<"$out"; then
		fail "$name" "no 'problem: $rel: $words' line in: $out"
		return
	fi
	after=$(snapshot "$s")
	if [ "$before" != "$after" ]; then
		fail "$name" "-n changed the spool: $(diff <(echo "$before") \
		    <(echo "$after") | head -5)"
		return
	fi
	pass "$name: -n reports it, exit 1, spool untouched"

	out=$(timeout 30 "$QFP" -n -R -s "$s" -u "$USER_Q" 2>&1); rc=$?
	if [ "$mode" = norepair ]; then
		if [ $rc != 1 ] || ! grep -q "^remaining: $s/$rel: " <<<"$out"
		then
			fail "$name" "-R should leave it (exit 1), got $rc: $out"
			return
		fi
		pass "$name: -R leaves it and says so"
		return
	fi
	if [ $rc != 0 ]; then
		fail "$name" "-R exited $rc, not 0: $out"
		return
	fi
	if ! grep -qE "^(moved|fixed): $s/$moved[: ]" <<<"$out"; then
		fail "$name" "-R did not say it moved or fixed $moved: $out"
		return
	fi
	out=$(timeout 30 "$QFP" -n -s "$s" -u "$USER_Q" 2>&1); rc=$?
	if [ $rc != 0 ]; then
		fail "$name" "-n after -R exited $rc: $out"
		return
	fi
	if [ "$(valid_snapshot "$s")" != "$vbefore" ]; then
		fail "$name" "-R touched valid messages"
		return
	fi
	# corrupt/ is the queue user's, 0700
	if [ "$(stat -c '%U %a' "$s/corrupt")" != "$USER_Q 700" ]; then
		fail "$name" "corrupt/ is $(stat -c '%U %a' "$s/corrupt")"
		return
	fi
	pass "$name: -R repairs it, then -n exits 0, valid mail untouched"
}

# ---- a clean spool ----------------------------------------------------
s=$(new_spool 3 2) || { echo "FAIL: clean: qfp-drive fill failed"; exit 1; }
evp=$(awk '$1 == "envelope" {print $2; exit}' "$s.ids")
touch -d '1 hour ago' "$s/queue/${evp:0:2}/${evp:0:8}/$evp"
bytes=$(find "$s/queue" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
before=$(snapshot "$s")
out=$("$QFP" -n -s "$s" -u "$USER_Q" 2>&1); rc=$?
age=$(sed -n 's/^oldest envelope: \([0-9]*\) s .*/\1/p' <<<"$out")
if [ $rc != 0 ]; then
	fail clean "exit $rc: $out"
elif ! grep -qx 'messages: 3' <<<"$out" ||
    ! grep -qx 'envelopes: 6' <<<"$out" ||
    ! grep -qx "bytes: $bytes" <<<"$out" ||
    ! grep -qx 'problems: 0' <<<"$out"; then
	fail clean "wrong counts (want 3 messages, 6 envelopes, $bytes bytes): $out"
elif [ -z "$age" ] || [ "$age" -lt 3600 ] || [ "$age" -gt 3700 ] ||
    ! grep -q "^oldest envelope: .*$evp)" <<<"$out"; then
	fail clean "oldest envelope should be $evp, ~3600 s: $out"
elif grep -q '^problem: ' <<<"$out"; then
	fail clean "problem lines on a clean spool: $out"
elif [ "$before" != "$(snapshot "$s")" ]; then
	fail clean "-n changed the spool"
else
	pass "clean spool: exit 0, 3 messages, 6 envelopes, $bytes bytes, oldest ${age}s"
fi

# The same as the queue user (runs unprivileged, no chroot, no socket).
cp "$QFP" "$T/qfp" && chmod 0755 "$T" "$T/qfp"
out=$(runuser -u "$USER_Q" -- "$T/qfp" -n -s "$s" 2>&1); rc=$?
if [ $rc = 0 ] && grep -qx 'envelopes: 6' <<<"$out"; then
	pass "clean spool checked as the queue user: exit 0"
else
	fail "queue user" "exit $rc: $out"
fi
chmod 0700 "$T"

# -R on a clean spool changes nothing.
out=$("$QFP" -n -R -s "$s" -u "$USER_Q" 2>&1); rc=$?
if [ $rc = 0 ] && [ "$before" = "$(snapshot "$s")" ] &&
    ! grep -qE '^(moved|fixed|created)' <<<"$out"; then
	pass "clean spool: -R changes nothing"
else
	fail "clean -R" "exit $rc or changes: $out"
fi

# ---- one problem planted per spool -------------------------------------
# envelope without message
s=$(new_spool); d=queue/ab/ab000001
mkdir -p "$s/$d"; echo evp > "$s/$d/ab00000100000001"
chmod 0700 "$s/queue/ab" "$s/$d"; chmod 0600 "$s/$d/ab00000100000001"
asq -R "$s/queue/ab"
run_case "envelope without message" "$s" "$d" "envelope without message"
[ -f "$s/corrupt/ab000001/ab00000100000001" ] ||
    fail "envelope without message" "not in corrupt/ after -R"

# message without envelopes
s=$(new_spool); d=queue/ab/ab000002
mkdir -p "$s/$d"; echo content > "$s/$d/message"
chmod 0700 "$s/queue/ab" "$s/$d"; chmod 0600 "$s/$d/message"
asq -R "$s/queue/ab"
run_case "message without envelopes" "$s" "$d" "message without envelopes"
[ -f "$s/corrupt/ab000002/message" ] ||
    fail "message without envelopes" "not in corrupt/ after -R"

# a message whose only envelope is empty cannot be served either
s=$(new_spool); d=queue/ab/ab000003
mkdir -p "$s/$d"; echo content > "$s/$d/message"; : > "$s/$d/ab00000300000001"
chmod 0700 "$s/queue/ab" "$s/$d"; chmod 0600 "$s/$d/"*
asq -R "$s/queue/ab"
run_case "message with no valid envelope" "$s" "$d" "message without envelopes"

# bad names at queue level, bucket level and in a message directory
s=$(new_spool); mkdir "$s/queue/zz"; asq "$s/queue/zz"; chmod 0700 "$s/queue/zz"
run_case "bad name: bucket" "$s" queue/zz "bad name"
s=$(new_spool); mkdir "$s/queue/AB"; asq "$s/queue/AB"; chmod 0700 "$s/queue/AB"
run_case "bad name: uppercase bucket" "$s" queue/AB "bad name"
s=$(new_spool); echo x > "$s/queue/stray"; asq "$s/queue/stray"
chmod 0600 "$s/queue/stray"
run_case "bad name: file in queue/" "$s" queue/stray "bad name"
s=$(new_spool); mkdir -p "$s/queue/ab/cd000001"; asq -R "$s/queue/ab"
chmod 0700 "$s/queue/ab" "$s/queue/ab/cd000001"
run_case "bad name: message in the wrong bucket" "$s" queue/ab/cd000001 \
    "bad name"
s=$(new_spool); mkdir -p "$s/queue/00/00000000"; asq -R "$s/queue/00"
chmod 0700 "$s/queue/00" "$s/queue/00/00000000"
run_case "bad name: msgid 0" "$s" queue/00/00000000 "bad name"
s=$(new_spool); mkdir -p "$s/queue/ab/notamsgid"; asq -R "$s/queue/ab"
chmod 0700 "$s/queue/ab" "$s/queue/ab/notamsgid"
run_case "bad name: in a bucket" "$s" queue/ab/notamsgid "bad name"
s=$(new_spool); d=$(msgdir "$s"); echo junk > "$s/$d/junk"
asq "$s/$d/junk"; chmod 0600 "$s/$d/junk"
run_case "bad name: in a message directory" "$s" "$d/junk" "bad name"
[ -f "$s/corrupt/junk" ] || fail "bad name: in a message directory" \
    "junk not in corrupt/"
s=$(new_spool); d=$(msgdir "$s"); echo evp > "$s/$d/1234567812345678"
asq "$s/$d/1234567812345678"; chmod 0600 "$s/$d/1234567812345678"
run_case "bad name: envelope of another message" "$s" "$d/1234567812345678" \
    "bad name"
s=$(new_spool); d=$(msgdir "$s"); m=$(first_msg "$s")
echo evp > "$s/$d/${m}00000000"; asq "$s/$d/${m}00000000"
chmod 0600 "$s/$d/${m}00000000"
run_case "bad name: envelope id 0" "$s" "$d/${m}00000000" "bad name"

# empty and oversized envelopes (beside valid ones: only they move)
s=$(new_spool); d=$(msgdir "$s"); m=$(first_msg "$s")
: > "$s/$d/${m}0000abcd"; asq "$s/$d/${m}0000abcd"; chmod 0600 "$s/$d/${m}0000abcd"
run_case "empty envelope" "$s" "$d/${m}0000abcd" "empty envelope"
s=$(new_spool); d=$(msgdir "$s"); m=$(first_msg "$s")
head -c $((MAX_EVP + 1)) /dev/zero | tr '\0' x > "$s/$d/${m}0000abcd"
asq "$s/$d/${m}0000abcd"; chmod 0600 "$s/$d/${m}0000abcd"
run_case "oversized envelope" "$s" "$d/${m}0000abcd" "oversized envelope"
# exactly PQ_EVP_MAX bytes is fine
s=$(new_spool); d=$(msgdir "$s"); m=$(first_msg "$s")
head -c $MAX_EVP /dev/zero | tr '\0' x > "$s/$d/${m}0000abcd"
asq "$s/$d/${m}0000abcd"; chmod 0600 "$s/$d/${m}0000abcd"
out=$("$QFP" -n -s "$s" -u "$USER_Q" 2>&1); rc=$?
if [ $rc = 0 ] && grep -qx 'envelopes: 5' <<<"$out"; then
	pass "envelope of exactly PQ_EVP_MAX bytes is valid"
else
	fail "largest envelope" "exit $rc: $out"
fi

# wrong owners and modes
s=$(new_spool); d=$(msgdir "$s"); m=$(first_msg "$s")
e=$(awk '$1 == "envelope" {print $2; exit}' "$s.ids")
chown root:root "$s/$d/$e"
run_case "wrong owner: envelope" "$s" "$d/$e" "wrong owner"
[ "$(stat -c %U "$s/$d/$e")" = "$USER_Q" ] ||
    fail "wrong owner: envelope" "owner not set back"
s=$(new_spool); d=$(msgdir "$s"); chmod 0644 "$s/$d/message"
run_case "wrong mode: message" "$s" "$d/message" "wrong mode"
[ "$(stat -c %a "$s/$d/message")" = 600 ] ||
    fail "wrong mode: message" "mode not set back"
s=$(new_spool); d=$(msgdir "$s"); chmod 0755 "$s/$d"
run_case "wrong mode: message directory" "$s" "$d" "wrong mode"
s=$(new_spool); d=$(msgdir "$s"); chmod 0750 "$s/${d%/*}"
run_case "wrong mode: bucket" "$s" "${d%/*}" "wrong mode"
s=$(new_spool); chown root "$s/queue"
run_case "wrong owner: queue/" "$s" queue "wrong owner"
s=$(new_spool); chown "$USER_Q:$USER_Q" "$s/incoming"
run_case "wrong group: incoming/" "$s" incoming "wrong owner"
s=$(new_spool); chmod 0755 "$s/queue"
run_case "wrong mode: queue/" "$s" queue "wrong mode"

# a hard link to a file outside the queue is never chowned
s=$(new_spool); d=$(msgdir "$s"); m=$(first_msg "$s")
echo secret > "$T/outside"; chmod 0640 "$T/outside"
ln "$T/outside" "$s/$d/${m}0000beef"
run_case "wrong owner: hard link" "$s" "$d/${m}0000beef" "wrong owner" norepair
[ "$(stat -c '%U %a' "$T/outside")" = "root 640" ] ||
    fail "hard link" "the linked file was changed"

# symbolic links: never followed, never read
echo target > "$T/target"; chmod 0644 "$T/target"
s=$(new_spool); d=$(msgdir "$s"); m=$(first_msg "$s")
ln -s "$T/target" "$s/$d/${m}0000cafe"
run_case "symlink: envelope" "$s" "$d/${m}0000cafe" "symlink"
[ -L "$s/corrupt/${m}0000cafe" ] || fail "symlink: envelope" "not moved"
plant_symlink_message() {	# queue/ab/ab000009: an envelope, message a link
	mkdir -p "$1/queue/ab/ab000009"; echo evp > "$1/queue/ab/ab000009/ab00000900000001"
	ln -s "$T/target" "$1/queue/ab/ab000009/message"
	chmod 0700 "$1/queue/ab" "$1/queue/ab/ab000009"
	chmod 0600 "$1/queue/ab/ab000009/ab00000900000001"
	chown -h -R "$USER_Q:$USER_Q" "$1/queue/ab"
}
s=$(new_spool); plant_symlink_message "$s"
run_case "symlink: message" "$s" queue/ab/ab000009/message "symlink" \
    queue/ab/ab000009
s=$(new_spool); plant_symlink_message "$s"
run_case "symlink: message makes envelopes without message" "$s" \
    queue/ab/ab000009 "envelope without message"
s=$(new_spool); ln -s "$T" "$s/queue/ef"
run_case "symlink: bucket" "$s" queue/ef "symlink"
s=$(new_spool); d=$(msgdir "$s"); m=$(first_msg "$s")
mkdir -p "$T/fakemsg"; ln -s "$T/fakemsg" "$s/${d%/*}/${m:0:2}abcdef"
run_case "symlink: message directory" "$s" "${d%/*}/${m:0:2}abcdef" "symlink"
if [ "$(stat -c '%U %a' "$T/target")" = "root 644" ] &&
    [ "$(cat "$T/target")" = target ] && [ -d "$T/fakemsg" ]; then
	pass "symlink targets untouched"
else
	fail "symlink targets" "changed"
fi

# non-regular files (a FIFO must not block the check)
s=$(new_spool); d=$(msgdir "$s"); m=$(first_msg "$s")
mkfifo -m 0600 "$s/$d/${m}0000f1f0"; asq "$s/$d/${m}0000f1f0"
run_case "not a regular file: FIFO envelope" "$s" "$d/${m}0000f1f0" \
    "not a regular file"
s=$(new_spool); d=$(msgdir "$s"); m=$(first_msg "$s")
mkdir -m 0700 "$s/$d/${m}0000d1d0"; asq "$s/$d/${m}0000d1d0"
run_case "not a regular file: directory envelope" "$s" "$d/${m}0000d1d0" \
    "not a regular file"
s=$(new_spool); d=$(msgdir "$s"); m=$(first_msg "$s")
echo x > "$s/${d%/*}/${m:0:2}000042"; asq "$s/${d%/*}/${m:0:2}000042"
chmod 0600 "$s/${d%/*}/${m:0:2}000042"
run_case "not a directory: message directory" "$s" "${d%/*}/${m:0:2}000042" \
    "not a directory"

# leftovers in incoming/
s=$(new_spool); mkdir -m 0700 "$s/incoming/12345678"
echo partial > "$s/incoming/12345678/message"; asq -R "$s/incoming/12345678"
run_case "leftover in incoming/: message" "$s" incoming/12345678 \
    "leftover in incoming/"
s=$(new_spool); echo evp > "$s/incoming/envelope.tmp"
asq "$s/incoming/envelope.tmp"
run_case "leftover in incoming/: envelope.tmp" "$s" incoming/envelope.tmp \
    "leftover in incoming/"

# -R creates corrupt/ (queue user, 0700) when it is missing
s=$(new_spool); rmdir "$s/corrupt"; d=queue/ab/ab000001
mkdir -p "$s/$d"; echo evp > "$s/$d/ab00000100000001"
chmod 0700 "$s/queue/ab" "$s/$d"; chmod 0600 "$s/$d/ab00000100000001"
asq -R "$s/queue/ab"
run_case "corrupt/ created by -R" "$s" "$d" "envelope without message"
[ "$(stat -c '%U %g %a' "$s/corrupt")" = "$USER_Q 0 700" ] ||
    fail "corrupt/ created" "$(stat -c '%U %g %a' "$s/corrupt")"

# names already taken in corrupt/ get a suffix; nothing is overwritten
s=$(new_spool); d=queue/ab/ab000001
mkdir -p "$s/corrupt/ab000001"; echo old > "$s/corrupt/ab000001/keep"
mkdir -p "$s/$d"; echo evp > "$s/$d/ab00000100000001"
chmod 0700 "$s/queue/ab" "$s/$d"; chmod 0600 "$s/$d/ab00000100000001"
asq -R "$s/queue/ab" "$s/corrupt/ab000001"
out=$("$QFP" -n -R -s "$s" -u "$USER_Q" 2>&1)
if grep -qF "moved: $s/$d -> $s/corrupt/ab000001.1" <<<"$out" &&
    [ -f "$s/corrupt/ab000001/keep" ] &&
    [ -f "$s/corrupt/ab000001.1/ab00000100000001" ]; then
	pass "corrupt/ name taken: moved to a new name, nothing overwritten"
else
	fail "corrupt/ name taken" "$out"
fi

# many problems at once: each named, one -R fixes all
s=$(new_spool 3 2); d=$(msgdir "$s"); m=$(first_msg "$s")
mkdir "$s/queue/zz"; : > "$s/$d/${m}0000abcd"; chmod 0644 "$s/$d/message"
ln -s /etc/passwd "$s/$d/${m}0000cafe"; echo x > "$s/incoming/envelope.tmp"
vbefore=$(valid_snapshot "$s")
out=$("$QFP" -n -s "$s" -u "$USER_Q" 2>&1); rc=$?
n=$(grep -c '^problem: ' <<<"$out")
if [ $rc = 1 ] && [ "$n" -ge 5 ]; then
	pass "five problems at once: $n problem lines"
else
	fail "five problems" "exit $rc, $n lines: $out"
fi
"$QFP" -n -R -s "$s" -u "$USER_Q" >/dev/null 2>&1; rc=$?
out=$("$QFP" -n -s "$s" -u "$USER_Q" 2>&1); rc2=$?
if [ $rc = 0 ] && [ $rc2 = 0 ] && grep -qx 'messages: 3' <<<"$out" &&
    grep -qx 'envelopes: 6' <<<"$out" &&
    [ "$(valid_snapshot "$s")" = "$vbefore" ]; then
	pass "five problems: one -R, then clean with every valid mail kept"
else
	fail "five problems -R" "exit $rc/$rc2: $out"
fi

# what cannot be checked
out=$("$QFP" -n -s "$T/nonexistent" -u "$USER_Q" 2>&1); rc=$?
[ $rc = 1 ] && grep -q "^problem: $T/nonexistent: " <<<"$out" &&
    pass "missing spool: exit 1" || fail "missing spool" "exit $rc: $out"
s=$(new_spool); ln -s "$s" "$T/spool-link"
out=$("$QFP" -n -s "$T/spool-link" -u "$USER_Q" 2>&1); rc=$?
[ $rc = 1 ] && grep -q "^problem: $T/spool-link: symlink" <<<"$out" &&
    pass "spool through a symlink: refused, exit 1" ||
    fail "spool symlink" "exit $rc: $out"
out=$("$QFP" -n -s "$s" -u no-such-user-qfp 2>&1); rc=$?
[ $rc = 1 ] && pass "unknown queue user: exit 1" ||
    fail "unknown user" "exit $rc: $out"
chmod 0777 "$s"
out=$("$QFP" -n -R -s "$s" -u "$USER_Q" 2>&1); rc=$?
[ $rc = 1 ] && grep -q "^remaining: $s: wrong mode" <<<"$out" &&
    pass "world-writable spool: reported, left to the administrator" ||
    fail "writable spool" "exit $rc: $out"
chmod 0711 "$s"

# -R alone replays a log left by a crash; on this spool there is none
before=$(snapshot "$s")
out=$("$QFP" -R -s "$s" -u "$USER_Q" </dev/null 2>&1); rc=$?
[ $rc = 0 ] && grep -q "nothing to replay" <<<"$out" &&
    [ "$before" = "$(snapshot "$s")" ] &&
    pass "-R alone: nothing to replay, nothing changed" ||
    fail "-R alone" "exit $rc: $out"

report_end
