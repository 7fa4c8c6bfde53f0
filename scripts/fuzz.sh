#!/usr/bin/env bash
# Build the libFuzzer target and fuzz every parser that faces the network.
#   scripts/fuzz.sh [seconds] [target...]
# seconds: per target (default 30). Targets (default: all five):
#   reports       MIME + RFC 3464/legacy report parser (seeds: ../shared/corpus, when present)
#   smtp-command  the listener's command parser and SMTP server session
#   smtp-reply    the client's SMTP reply parser
#   imap          IMAP framing (literals) and response parser
#   pop3          POP3 reply framing (single-/multi-line)
# Seeds for the protocol targets are in Tests/FuzzSeeds/TARGET (sessions taken from
# the tests); the corpus seeds are copied into a temporary directory at run time
# (never into the repository). Leak detection is off: LeakSanitizer flags Swift's
# lazily initialised globals as leaks (false positives). Crashing inputs are written
# as artifacts/fuzz/TARGET-crash-* (git-ignored); replay them with:
#   ROUNDTRIP_FUZZ_TARGET=TARGET swift run RoundtripFuzz artifacts/fuzz/TARGET-crash-...
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN="${1:-30}"
shift || true
TARGETS=("$@")
((${#TARGETS[@]})) || TARGETS=(reports smtp-command smtp-reply imap pop3)
SCRATCH=".build-fuzz"
swift build -c debug -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xswiftc -O \
    --scratch-path "$SCRATCH" --product RoundtripFuzz 2>&1 | grep -v "Cannot export local symbol" || true
BIN="$SCRATCH/debug/RoundtripFuzz"
[ -x "$BIN" ] || { echo "fuzz build failed" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/roundtrip-fuzz.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
mkdir -p artifacts/fuzz
rc=0
for target in "${TARGETS[@]}"; do
    corpus="$WORK/$target"
    mkdir -p "$corpus"
    if [[ $target == reports ]]; then
        if [ -d ../shared/corpus ]; then
            i=0
            while IFS= read -r -d '' f; do
                cp "$f" "$corpus/seed-$i"
                i=$((i + 1))
            done < <(find ../shared/corpus -type f \( -name '*.eml' -o -path '*/mailbox/*' \) -size -16k -print0)
        fi
    elif [ -d "Tests/FuzzSeeds/$target" ]; then
        cp Tests/FuzzSeeds/"$target"/* "$corpus/"
    else
        echo "unknown fuzz target $target" >&2
        exit 64
    fi
    echo "fuzz: $target for ${SECONDS_TO_RUN}s with $(ls "$corpus" | wc -l) seeds"
    ROUNDTRIP_FUZZ_TARGET="$target" SWIFT_BACKTRACE=enable=no ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}" \
        "$BIN" -max_total_time="$SECONDS_TO_RUN" -max_len="${FUZZ_MAX_LEN:-16384}" -timeout=10 -rss_limit_mb=2048 -detect_leaks=0 \
        -artifact_prefix="artifacts/fuzz/$target-" -print_final_stats=1 "$corpus" || rc=$?
done
exit "$rc"
