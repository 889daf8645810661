#!/bin/sh
# Run test programs of one suite and add their counts to tests/.results.
# A program is a cmocka binary (its "[  PASSED  ] N test(s)." and
# "[  FAILED  ] N test(s)" lines are counted) or a script printing
# "PASS: name" / "FAIL: name" lines.  A program that exits non-zero
# without reporting a failure counts as one failure.
suite=$1; shift
results=${RESULTS:-tests/.results}
for prog in "$@"; do
	log=$(mktemp)
	echo "== $suite: $prog"
	case $prog in
	*.sh)	bash "$prog" >"$log" 2>&1 ;;
	*)	"./$prog" >"$log" 2>&1 ;;
	esac
	rc=$?
	cat "$log"
	pass=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
	fail=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
	pass=$((pass + $(grep -c '^PASS: ' "$log")))
	fail=$((fail + $(grep -c '^FAIL: ' "$log")))
	if [ $rc -ne 0 ] && [ "$fail" -eq 0 ]; then
		echo "FAIL: $prog exited $rc"
		fail=1
	fi
	echo "$suite $prog $pass $fail" >> "$results"
	rm -f "$log"
done
exit 0
