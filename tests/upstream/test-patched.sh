#!/bin/bash
# Debian sid's opensmtpd with contrib/opensmtpd-7.7-queue_proc-fd_r.patch
# (imsg dialect B): the core end-to-end scenario of tests/e2e, unchanged,
# against that build: deliver; queue for a dead relay, restart, switch to
# the built-in fs queue and back, deliver after the restart (MESSAGE_FD_R
# before any MESSAGE_COMMIT).  Every stop of smtpd also checks that the
# helper took dialect B for its peer.
. "$(dirname "${BASH_SOURCE[0]}")/upstream.sh"
up_use patched || up_finish
export QFP_E2E_BACKEND="fs-proc:-d -v -s $QFP_E2E_SPOOL" QFP_E2E_DIALECT=B
rc=0
for t in delivery persistence; do
	bash "$E2E_DIR/test-$t.sh" || rc=1
done
exit $rc
