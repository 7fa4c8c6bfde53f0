#!/usr/bin/env bash
# One `roundtrip verify` run with N recipients (default 1000) against the local Postfix of
# scripts/test-env.sh: prints the total time, the tool's own CPU time and peak memory, the
# CPU Postfix spent on the same run (its processes' utime+stime before and after), the ratio,
# and the latency from the last report's arrival to the verdict.
#
#   bash Benchmarks/verify-bench.sh [N] [listener|maildir]
#   listener (default): our own listener on the return domain's port (Postfix routes
#   return.rt.test there); maildir: the reports@rt.test Maildir
#
# Needs the test services (bash scripts/test-env.sh start) and a release build
# (swift build -c release --product roundtrip), which the script makes when missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N=${1:-1000}
MODE=${2:-listener}
# shellcheck disable=SC1091
source "${ROUNDTRIP_TEST_DIR:-/tmp/roundtrip-test-env}/env.sh"
BIN=${ROUNDTRIP_BIN:-.build/release/roundtrip}
[[ -x $BIN ]] || swift build -c release --product roundtrip
MAILDIR="$ROUNDTRIP_TEST_MAILDIR_ROOT/rt.test/reports"
if [[ $MODE == maildir ]]; then
    FROM=reports@rt.test
    RECEIPT=(--maildir "$MAILDIR")
else
    FROM=roundtrip@return.rt.test
    RECEIPT=(--listen "127.0.0.1:${ROUNDTRIP_TEST_RETURN_PORT:-2627}")
fi

postfix_cpu() {
    # utime+stime in clock ticks of every process run by the Postfix master (and itself).
    local total=0 pid
    for pid in $(pgrep -f "postfix|smtpd|cleanup|qmgr|virtual|bounce|trivial-rewrite|smtp|pickup|postlog" || true); do
        if [[ -r /proc/$pid/stat ]]; then
            # fields 14 and 15 (utime, stime); also 16, 17 (children)
            total=$((total + $(awk '{print $14 + $15 + $16 + $17}' /proc/"$pid"/stat)))
        fi
    done
    echo "$total"
}

KEYDIR=$(mktemp -d)
# The recipients come from a file, as a list this long would in use (--to-file).
for i in $(seq 1 "$N"); do echo "alice+b$i@rt.test"; done > "$KEYDIR/recipients"
args=(--to-file "$KEYDIR/recipients")
OUT=$(mktemp)
TIMES=$(mktemp)
HZ=$(getconf CLK_TCK)
before=$(postfix_cpu)
start=$(date +%s.%N)
/usr/bin/time -f "%e %U %S %M" -o "$TIMES" "$BIN" verify --from "$FROM" --server "$ROUNDTRIP_TEST_SMTP" \
    --starttls never --ledger "$KEYDIR/ledger.sqlite" --deadline 300s --format json "${RECEIPT[@]}" "${args[@]}" > "$OUT" || true
end=$(date +%s.%N)
# Let Postfix finish the DSNs it was still writing, then measure its CPU.
sleep 2
after=$(postfix_cpu)
read -r wall user sys maxrss < <(tail -n 1 "$TIMES")
python3 - "$OUT" "$wall" "$user" "$sys" "$maxrss" "$before" "$after" "$HZ" "$N" "$start" "$end" "$MODE" <<'PY'
import json, sys, os, glob
out, wall, user, sys_, maxrss, before, after, hz, n, start, end, mode = sys.argv[1:]
doc = json.load(open(out))
verdicts = {}
for r in doc["recipients"]:
    verdicts[r["verdict"]] = verdicts.get(r["verdict"], 0) + 1
tool_cpu = float(user) + float(sys_)
postfix_cpu = (int(after) - int(before)) / int(hz)
print(f"recipients:         {n}  verdicts: {verdicts}  exit {doc['exitCode']}  (receipt: {sys.argv[12]})")
print(f"total wall time:    {float(wall):.2f} s")
print(f"roundtrip CPU:      {tool_cpu:.2f} s (user {float(user):.2f}, sys {float(sys_):.2f})")
print(f"roundtrip peak RSS: {int(maxrss)/1024:.1f} MiB")
print(f"Postfix CPU (same run, all its processes): {postfix_cpu:.2f} s")
if postfix_cpu > 0:
    print(f"overhead ratio roundtrip/Postfix CPU: {tool_cpu/postfix_cpu:.2f}")
# Latency from the last report's arrival (its file's mtime in the Maildir) to the verdict.
finished = float(end)  # the process had printed its verdicts and exited
mtimes = []
for r in doc["recipients"]:
    src = r.get("reportSource", "")
    if src.startswith("/"):
        path = src
        base = os.path.basename(path)
        cur = os.path.join(os.path.dirname(os.path.dirname(path)), "cur", base + ":2,S")
        for p in (path, cur):
            if os.path.exists(p):
                mtimes.append(os.stat(p).st_mtime)
                break
if mtimes:
    print(f"last report written -> verdict printed and process exited: {(finished - max(mtimes))*1000:.0f} ms")
PY
# The probes were delivered into alice's Maildir: remove them (they carry the token), so the
# mailbox the tests read stays small.
TOKEN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$OUT")
ALICE="$ROUNDTRIP_TEST_MAILDIR_ROOT/rt.test/alice"
(cd "$ALICE" && grep -rlF -- "$TOKEN" new cur | xargs -r rm -f) || true
rm -rf "$KEYDIR" "$OUT" "$TIMES"
