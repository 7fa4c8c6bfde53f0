#!/usr/bin/env bash
# Benchmarks/arrival-times.sh [N] [report|no-report|lasthop]: submission -> arrival and arrival -> verdict against the
# test Postfix + Dovecot (scripts/test-env.sh start; source its env.sh). Runs N probes
# (default 10) through Postfix into alice's Maildir, watched over IMAP IDLE by --arrival
# (Dovecot), with Postfix's DSN read from the reports Maildir, and times the --verbose lines
# as they come (millisecond clock of this script):
#   arrival   "submitted" line -> "arrival of" line (submission -> the run saw the probe)
#   report    "submitted" line -> "report via" line (submission -> the DSN was read)
#   verdict   the later of arrival and report -> the process exited with its verdict
# MODE: report (default: Postfix delivers into alice's Maildir and sends a `delivered` DSN),
# no-report (no DSN feed: the verdict follows the arrival alone), lasthop (the probe, DKIM-signed,
# is relayed to the last hop without DSN, which runs OpenDKIM, OpenDMARC and SPF and delivers by
# Dovecot LMTP + Sieve into carol's mailbox; scripts/test-env-auth.sh).
set -euo pipefail
N=${1:-10}
MODE=${2:-report}
BIN=${ROUNDTRIP_BIN:-.build/debug/roundtrip}
: "${ROUNDTRIP_TEST_SMTP:?source the test environment first}"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
python3 - "$BIN" "$N" "$MODE" "$tmp" <<'PY'
import os, statistics, subprocess, sys, time
binary, n, mode, tmp = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
e = os.environ
user = "carol" if mode == "lasthop" else "alice"
to = f"carol@{e['ROUNDTRIP_TEST_LASTHOP_DOMAIN']}" if mode == "lasthop" else "alice@rt.test"
args = [binary, "verify", "--from", "reports@rt.test", "--to", to,
        "--arrival", f"imap://{user}%40rt.test@{e['ROUNDTRIP_TEST_IMAP']}/INBOX",
        "--arrival-password-file", e["ROUNDTRIP_TEST_PASSWORD_FILE"], "--ca-file", e["ROUNDTRIP_TEST_CA"],
        "--cleanup", "--deadline", "60s",
        "--ledger", f"{tmp}/ledger.sqlite", "--format", "json", "--verbose"]
if mode == "no-report":
    args += ["--server", e["ROUNDTRIP_TEST_SMTP_NODSN"], "--no-report"]
else:
    args += ["--server", e["ROUNDTRIP_TEST_SMTP"], "--maildir", f"{e['ROUNDTRIP_TEST_MAILDIR_ROOT']}/rt.test/reports"]
if mode == "lasthop":
    args += ["--dkim-key", e["ROUNDTRIP_TEST_DKIM_RSA_KEY"], "--dkim-selector", e["ROUNDTRIP_TEST_DKIM_RSA_SELECTOR"]]
rows = []
for i in range(n):
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    marks = {}
    for line in p.stderr:
        now = time.monotonic()
        for key, prefix in [("submitted", "* submitted"), ("arrival", "* arrival of"), ("report", "* report via")]:
            if line.startswith(prefix) and key not in marks: marks[key] = now
    p.wait(); end = time.monotonic()
    if "arrival" not in marks or "submitted" not in marks:
        print(f"run {i+1}: no arrival (exit {p.returncode})"); continue
    last = max(marks["arrival"], marks.get("report", 0))
    row = {"arrival": marks["arrival"] - marks["submitted"],
           "report": marks["report"] - marks["submitted"] if "report" in marks else None,
           "verdict": end - last}
    rows.append(row)
    print(f"run {i+1}: exit {p.returncode}  " + "  ".join(f"{k} {v*1000:.0f} ms" for k, v in row.items() if v is not None))
for k in ["arrival", "report", "verdict"]:
    v = [r[k] for r in rows if r[k] is not None]
    if v: print(f"median {k:8} {statistics.median(v)*1000:.0f} ms  (min {min(v)*1000:.0f}, max {max(v)*1000:.0f}, n={len(v)})")
PY
