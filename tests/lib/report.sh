# The result lines of every test script, sourced: "PASS: name" and
# "FAIL: name: why" (tests/run-suite.sh counts them), then
# "# N passed, N failed" from report_end, which exits 0 iff nothing
# failed.  REPORT_PREFIX (e.g. "e2e/") goes before every name.
REPORT_PREFIX=${REPORT_PREFIX:-}
REPORT_PASSED=0
REPORT_FAILED=0

pass() {	# pass NAME
	echo "PASS: $REPORT_PREFIX$1"
	REPORT_PASSED=$((REPORT_PASSED + 1))
}

fail() {	# fail NAME [WHY]
	echo "FAIL: $REPORT_PREFIX$1${2:+: $2}"
	REPORT_FAILED=$((REPORT_FAILED + 1))
}

check() {	# check NAME WHY-IF-NOT command...
	local name=$1 why=$2
	shift 2
	if "$@"; then pass "$name"; return 0; fi
	fail "$name" "$why"
	return 1
}

note() {
	echo "# $*"
}

report_summary() {	# report_summary [WHAT]: the counts line
	note "${1:+$1: }$REPORT_PASSED passed, $REPORT_FAILED failed"
}

report_end() {	# the counts line; exit 0 iff nothing failed
	report_summary "$@"
	[ "$REPORT_FAILED" -eq 0 ]
	exit
}
