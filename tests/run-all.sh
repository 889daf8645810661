#!/bin/sh
# make check: every suite, then one summary line.  Exit 1 on any failure.
# With arguments, only the suites named (tests/debian13/run.sh runs
# some inside a Debian 13 root).
# Suites that start Debian's smtpd share its fixed spool and control
# socket; they run one after another, never in parallel.
results=tests/.results
: > "$results"
export RESULTS=$results
# asan last: unit and conformance again, built with AddressSanitizer and
# UndefinedBehaviorSanitizer (it cleans the tree; the build is redone).
# debian13: make demo, unit, conformance, e2e and asan in a Debian 13 root.
suites=${*:-unit conformance e2e durability hardening operator powercut upstream man debian13 asan}
for suite in $suites; do
	echo "=== suite: $suite"
	if ! make -s "check-$suite"; then
		echo "FAIL: make check-$suite"
		echo "make check-$suite 0 1" >> "$results"
	fi
done
make -s all
awk '$4 > 0 {print "failed in " $1 ": " $2}' "$results"
pass=$(awk '{s+=$3} END {print s+0}' "$results")
fail=$(awk '{s+=$4} END {print s+0}' "$results")
echo "check: $pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
