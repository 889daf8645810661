#!/bin/bash
# End-to-end: test-delivery.sh with smtpd's "queue compression".  smtpd
# compresses the message into a new file and renames it over its
# temporary/MSGID before MESSAGE_COMMIT, so the helper must still be
# handed that very file and rename every commit (renamed=20 copied=0),
# and every mail must be delivered intact.
QFP_E2E_CONF_EXTRA="queue compression" QFP_E2E_NAME=compressed \
    exec bash "$(dirname "${BASH_SOURCE[0]}")/test-delivery.sh" "$@"
