#!/usr/bin/env bash
# Benchmarks/listener-bench.sh [ROUNDTRIP_BINARY]
#
# Throughput of `roundtrip listen` (durable: every message fsync'ed into a
# Maildir before 250) against Postfix's smtp-sink (which stores nothing),
# measured the same way in the same run:
#
#   smtp-source -s $SESSIONS -m $MESSAGES -l $SIZE 127.0.0.1:PORT
#
# Prints messages/s, peak RSS (VmHWM from /proc) and CPU seconds of each
# server, and the ratio. Build first: swift build -c release --product roundtrip
# Environment: MESSAGES (10000), SESSIONS (20), SIZE (1000), BENCH_STORE
# (a directory on the disk to measure; default a fresh one under /tmp),
# EXTRA_ARGS (more smtp-source flags, e.g. "-d" to reuse connections).
# Network traffic goes to 127.0.0.1 only.
#
# Caution on ext4: right after many files were deleted near the store (for
# example a previous run's store), creating files is several times slower for
# minutes: the inode allocator skips inodes freed recently or whose inode
# table block is still dirty (ext4 recently_deleted()), and that costs the
# listener CPU in open(2). This script therefore deletes its own store only
# 90 s after it ends (KEEP_STORE=1 keeps it); run it on a quiet filesystem.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN=${1:-}
if [[ -z $BIN ]]; then
    for candidate in .build/release/roundtrip .build-release/release/roundtrip; do
        [[ -x $candidate ]] && BIN=$candidate && break
    done
fi
[[ -n $BIN && -x $BIN ]] || { echo "listener-bench: build first: swift build -c release --product roundtrip" >&2; exit 1; }
MESSAGES=${MESSAGES:-10000}
SESSIONS=${SESSIONS:-20}
SIZE=${SIZE:-1000}
EXTRA_ARGS=${EXTRA_ARGS:-}
command -v smtp-source >/dev/null && command -v smtp-sink >/dev/null || { echo "listener-bench: needs postfix's smtp-source and smtp-sink" >&2; exit 1; }

WORK=$(mktemp -d /tmp/roundtrip-bench.XXXXXX)
STORE=${BENCH_STORE:-$WORK/store}
SERVER_PID=
cleanup() {
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then kill -TERM "$SERVER_PID" 2>/dev/null || true; fi
    # Delete the store in the background, after a pause: ext4 does not reuse
    # inodes freed in the last ~30 s and file creation becomes very slow
    # right after a mass delete, which would skew a following run.
    if [[ ${KEEP_STORE:-0} == 1 ]]; then echo "listener-bench: kept $WORK"; else (sleep 90; rm -rf "$WORK") >/dev/null 2>&1 & fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() {
    for _ in $(seq 1 200); do
        python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),0.2).close()' "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }
peak_rss_mb() { awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

# run NAME: the server is already started as $SERVER_PID on $PORT.
run() {
    local name=$1
    wait_port "$PORT" || { echo "listener-bench: $name did not start" >&2; exit 1; }
    local cpu0 t0 t1 rate
    cpu0=$(cpu_seconds "$SERVER_PID")
    t0=$(date +%s.%N)
    # shellcheck disable=SC2086
    smtp-source -s "$SESSIONS" -m "$MESSAGES" -l "$SIZE" $EXTRA_ARGS -f bench@client.test -t bench@bench.test "127.0.0.1:$PORT"
    t1=$(date +%s.%N)
    rate=$(awk -v m="$MESSAGES" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", m / (b - a) }')
    local cpu1 rss
    cpu1=$(cpu_seconds "$SERVER_PID")
    rss=$(peak_rss_mb "$SERVER_PID")
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
    printf '%-16s %8s msgs/s  %6.2f s  peak RSS %7s MB  server CPU %6.2f s\n' \
        "$name" "$rate" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$rss" "$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { print b - a }')"
    eval "RATE_${name//-/_}=$rate"
}

echo "listener-bench: smtp-source -s $SESSIONS -m $MESSAGES -l $SIZE $EXTRA_ARGS; store $STORE ($(df -T "$(dirname "$STORE")" | awk 'NR==2 { print $2 }'))"

PORT=$(free_port)
# smtp-source's recipient (bench@) is no probe address: --accept lets it in.
XDG_DATA_HOME="$WORK/data" "$BIN" listen --bind "127.0.0.1:$PORT" --domain bench.test --store "$STORE" --hostname bench.rt.test --no-tls --accept bench \
    --max-connections 1000 --max-per-client 1000 --sync "${SYNC:-file}" 2>"$WORK/listen.log" &
SERVER_PID=$!
run roundtrip
STORED=$(find "$STORE/new" -type f | wc -l)
# The envelope is each message's first header field (roundtrip 0.1 wrote envelopes/NAME.json).
ENVELOPES=$( (grep -l -m1 '^X-Roundtrip-Envelope:' -r "$STORE/new" || true) | wc -l)
if [[ -d $STORE/envelopes ]]; then ENVELOPES=$((ENVELOPES + $(find "$STORE/envelopes" -type f | wc -l))); fi

PORT=$(free_port)
smtp-sink -u nobody "127.0.0.1:$PORT" 1024 &
SERVER_PID=$!
run smtp-sink

echo "roundtrip listen stored $STORED messages in new/ and $ENVELOPES envelopes (expected $MESSAGES)"
awk -v a="$RATE_roundtrip" -v b="$RATE_smtp_sink" 'BEGIN { printf "ratio roundtrip/smtp-sink: %.2f\n", a / b }'
if [[ $STORED -ne $MESSAGES ]]; then
    echo "listener-bench: FAIL: not every message was stored" >&2
    grep -v ' info ' "$WORK/listen.log" | tail -5 >&2 || true
    exit 1
fi
