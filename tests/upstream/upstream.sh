# shellcheck shell=bash
# Shared by tests/upstream: where the builds of Debian sid's opensmtpd are
# cached, and how a test points tests/e2e/lib.sh at one of them.  Sources
# lib.sh, whose reporting (pass, fail, note, indent) these scripts use too.
. "$(dirname "${BASH_SOURCE[0]}")/../e2e/lib.sh"

UP_CACHE=${QFP_UPSTREAM_CACHE:-/var/cache/qfp/opensmtpd-sid}
E2E_NAME=upstream

up_finish() {	# summary line; exit 0 iff no check failed
	report_end "$E2E_NAME"
}

# up_use BUILD: export the QFP_E2E_* settings of the build (unpatched or
# patched) that build.sh completed; fails if there is none.
up_use() {
	local env=$UP_CACHE/$1.env line
	if [ ! -f "$env" ]; then
		fail setup "no $1 build of Debian sid's opensmtpd ($env missing: tests/upstream/build.sh failed or did not run)"
		return 1
	fi
	while IFS= read -r line; do
		export "${line?}"
	done <"$env"
	e2e_smtpd_paths
}
