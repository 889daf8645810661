#!/bin/sh
# make check: every suite, then one summary line.  Exit 1 on any failure.
results=tests/.results
: > "$results"
export RESULTS=$results
make -s check-unit
make -s check-conformance
make -s check-e2e
awk '$4 > 0 {print "failed in " $1 ": " $2}' "$results"
pass=$(awk '{s+=$3} END {print s+0}' "$results")
fail=$(awk '{s+=$4} END {print s+0}' "$results")
echo "check: $pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
