#!/usr/bin/env bash
# Benchmarks/all.sh [VERIFY_RECIPIENTS]
#
# The three end-to-end benchmarks in one run, each against its baseline measured in the same
# run, and their ratios side by side at the end:
#   parse-bench.sh     roundtrip parse --format jsonl vs Sisimai 5.3.0 and 4.25.15 (same files)
#   listener-bench.sh  roundtrip listen (durable) vs Postfix's smtp-sink (stores nothing)
#   verify-bench.sh    roundtrip verify with VERIFY_RECIPIENTS (default 10000) recipients through
#                      the test Postfix: its CPU against Postfix's for the same mail
# Needs the test services (bash scripts/test-env.sh start) and a release build (made when missing).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N=${1:-10000}
OUT=$(mktemp -d)
[[ -x .build/release/roundtrip ]] || swift build -c release --product roundtrip
bash Benchmarks/parse-bench.sh | tee "$OUT/parse"
bash Benchmarks/listener-bench.sh | tee "$OUT/listener"
bash Benchmarks/verify-bench.sh "$N" | tee "$OUT/verify"
echo
echo "== side by side"
grep -E "^roundtrip parse --format jsonl vs Sisimai 5" "$OUT/parse" || true
grep -E "^ratio roundtrip/smtp-sink" "$OUT/listener" || true
grep -E "^(recipients|total wall time|roundtrip peak RSS|overhead ratio)" "$OUT/verify" || true
rm -rf "$OUT"
