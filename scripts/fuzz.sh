#!/usr/bin/env bash
# Build the libFuzzer target and fuzz the MIME and report parsers.
#   scripts/fuzz.sh [seconds]        (default 30)
# Seeds are copied from ../shared/corpus into a temporary directory at run time (never into the
# repository). Leak detection is off: LeakSanitizer flags Swift's lazily initialised globals as
# leaks (false positives). Crashing inputs are written as crash-* files into artifacts/fuzz/ (git-ignored
# pattern crash-*); replay them with: swift run RoundtripFuzz crash-file...
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN="${1:-30}"
SCRATCH=".build-fuzz"
swift build -c debug -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xswiftc -O \
    --scratch-path "$SCRATCH" --product RoundtripFuzz 2>&1 | grep -v "Cannot export local symbol" || true
BIN="$SCRATCH/debug/RoundtripFuzz"
[ -x "$BIN" ] || { echo "fuzz build failed" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/roundtrip-fuzz.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/corpus" artifacts/fuzz
CORPUS_SRC="../shared/corpus"
if [ -d "$CORPUS_SRC" ]; then
    i=0
    while IFS= read -r -d '' f; do
        cp "$f" "$WORK/corpus/seed-$i"
        i=$((i + 1))
    done < <(find "$CORPUS_SRC" -type f \( -name '*.eml' -o -path '*/mailbox/*' \) -size -16k -print0)
fi
echo "fuzzing for ${SECONDS_TO_RUN}s with $(ls "$WORK/corpus" | wc -l) seeds"
SWIFT_BACKTRACE=enable=no ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}" "$BIN" -max_total_time="$SECONDS_TO_RUN" -max_len="${FUZZ_MAX_LEN:-16384}" -timeout=10 -rss_limit_mb=2048 -detect_leaks=0 \
    -artifact_prefix=artifacts/fuzz/ -print_final_stats=1 "$WORK/corpus"
