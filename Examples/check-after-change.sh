#!/usr/bin/env bash
# Check every MX of a domain after a change, with strict TLS, and keep the JSON report.
# Usage: check-after-change.sh DOMAIN RECIPIENT [extra roundtrip options...]
# Exit code: roundtrip check's (0 passed, 10 DNS, 20 connect, 21 banner, 22 EHLO, 23 TLS,
# 24 AUTH, 25 MAIL, 26 RCPT, 27 DATA, 28 QUIT, 64 usage, 78 configuration).
set -uo pipefail
domain=${1:?domain}
rcpt=${2:?recipient}
shift 2
report="check-${domain}-$(date -u +%Y%m%dT%H%M%SZ).json"
roundtrip check --domain "$domain" --rcpt "$rcpt" --tls-verify strict --format json "$@" > "$report"
status=$?
if [ "$status" -eq 0 ]; then
    echo "mail servers of $domain: all checks passed ($report)"
else
    echo "mail servers of $domain: check failed with exit $status ($report)" >&2
fi
exit "$status"
