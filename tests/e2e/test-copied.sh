#!/bin/bash
# End-to-end: test-delivery.sh with smtpd's temporary/ on a file system of
# its own (a tmpfs).  The helper is still handed smtpd's temporary/MSGID,
# but cannot rename it into the spool (EXDEV): it must copy every commit
# (renamed=0 copied=20), and every mail must be delivered intact.
QFP_E2E_TEMPORARY_FS=1 QFP_E2E_NAME=copied \
    exec bash "$(dirname "${BASH_SOURCE[0]}")/test-delivery.sh" "$@"
