#!/usr/bin/env bash
# Benchmarks/monitor-load.sh [ROUNDTRIP_BINARY]
#
# CPU and memory of `roundtrip monitor` running ROUTES routes (20) at INTERVAL (10s)
# for DURATION seconds (600) against `roundtrip simulate` (every route: success@sim.test,
# a delivered report back to the monitor's own listener), all on 127.0.0.1.
#
# Prints the monitor's CPU seconds (user+sys, from /proc/PID/stat) over the run and per
# probe, its average CPU share of one core, its peak and final RSS (VmHWM, VmRSS), the
# probes finished by verdict, the skipped starts, and the ledger's size. CPU time is what the
# process consumed, so it stays meaningful on a loaded machine.
# Environment: ROUTES, INTERVAL, JITTER (9s), DURATION, KEEP=1 keeps the work directory,
# SIM_ARGS (default --no-tls: over STARTTLS every session holds one of the simulator's 10
# connections per client for 5 s after the client leaves, NIOSSL's close_notify wait, and
# 2 probes/s then exceed it: the probes would be refused with 421, not measured).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN=${1:-}
if [[ -z $BIN ]]; then
    for candidate in .build/release/roundtrip .build/debug/roundtrip; do
        [[ -x $candidate ]] && BIN=$candidate && break
    done
fi
[[ -x ${BIN:-} ]] || { echo "build first: swift build -c release --product roundtrip" >&2; exit 1; }
BIN=$(realpath "$BIN")
ROUTES=${ROUTES:-20} INTERVAL=${INTERVAL:-10s} JITTER=${JITTER:-9s} DURATION=${DURATION:-600}
WORK=$(mktemp -d /tmp/roundtrip-monitor-load.XXXXXX)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
LISTEN=$(free_port) METRICS=$(free_port)
SIM_PID= MON_PID=
cleanup() {
    [[ -n $MON_PID ]] && kill "$MON_PID" 2>/dev/null || true
    [[ -n $SIM_PID ]] && kill "$SIM_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    [[ ${KEEP:-0} == 1 ]] && echo "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT

"$BIN" simulate --bind 127.0.0.1:0 --domain sim.test --route "return.test=127.0.0.1:$LISTEN" \
    --store "$WORK/sim" --hostname sim.test ${SIM_ARGS---no-tls} 2> "$WORK/sim.log" &
SIM_PID=$!
SIM_PORT=
for _ in $(seq 200); do
    SIM_PORT=$(grep -o 'smtp.listen=[^ ]*' "$WORK/sim.log" | head -1 | sed 's/.*://' || true)
    [[ -n $SIM_PORT ]] && break
    sleep 0.1
done
[[ -n $SIM_PORT ]] || { cat "$WORK/sim.log" >&2; exit 1; }

{
    printf '[monitor]\nmetrics = "127.0.0.1:%s"\nledger = "%s/ledger.sqlite"\nlisten = "127.0.0.1:%s"\n' \
        "$METRICS" "$WORK" "$LISTEN"
    printf 'domain = "return.test"\nlisten-store = "%s/store"\nhelo = "monitor.test"\n' "$WORK"
    for i in $(seq "$ROUTES"); do
        printf '\n[[monitor.route]]\nname = "route-%02d"\nto = "success@sim.test"\nfrom = "rt@return.test"\n' "$i"
        printf 'server = "127.0.0.1:%s"\ninterval = "%s"\njitter = "%s"\ndeadline = "60s"\n' "$SIM_PORT" "$INTERVAL" "$JITTER"
    done
} > "$WORK/monitor.toml"

XDG_DATA_HOME="$WORK/data" "$BIN" monitor --config "$WORK/monitor.toml" 2> "$WORK/monitor.log" &
MON_PID=$!
for _ in $(seq 300); do grep -q "metrics and status page" "$WORK/monitor.log" && break; sleep 0.1; done
grep -q "metrics and status page" "$WORK/monitor.log" || { cat "$WORK/monitor.log" >&2; exit 1; }

ticks() { awk '{print $14 + $15}' "/proc/$MON_PID/stat"; }
HZ=$(getconf CLK_TCK)
start=$(ticks)
sleep "$DURATION"
end=$(ticks)
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$MON_PID/status")
rss=$(awk '/VmRSS/ {print $2}' "/proc/$MON_PID/status")
metrics=$(curl -fsS "http://127.0.0.1:$METRICS/metrics")
probes=$(grep '^roundtrip_probes_total' <<<"$metrics" | awk '{s+=$2} END {print s+0}')
cpu=$(awk -v a="$start" -v b="$end" -v hz="$HZ" 'BEGIN {printf "%.1f", (b-a)/hz}')
echo "binary:        $BIN"
echo "routes:        $ROUTES at $INTERVAL (jitter $JITTER) for ${DURATION} s, against roundtrip simulate"
by_verdict=$(grep '^roundtrip_probes_total' <<<"$metrics" | sed 's/.*verdict="\([^"]*\)"} \(.*\)/\1 \2/' \
    | awk '{n[$1] += $2} END {for (v in n) printf "%s %d, ", v, n[v]}')
echo "probes:        $probes finished (${by_verdict%, })"
echo "refused:       $(grep '^roundtrip_listener_refusals_total' <<<"$metrics" | awk '{s+=$2} END {print s+0}') report connections refused by the monitor's listener (421 4.7.0: 10 per client)"
echo "skipped:       $(grep '^roundtrip_probes_skipped_total' <<<"$metrics" | awk '{s+=$2} END {print s+0}')"
echo "CPU:           ${cpu} s user+sys over ${DURATION} s = $(awk -v c="$cpu" -v d="$DURATION" 'BEGIN {printf "%.1f", 100*c/d}') % of one core; $(awk -v c="$cpu" -v p="$probes" 'BEGIN {printf "%.1f", p ? 1000*c/p : 0}') ms per probe"
echo "memory:        peak RSS $((hwm / 1024)) MiB, at the end $((rss / 1024)) MiB"
echo "ledger:        $(du -sh "$WORK/ledger.sqlite" | cut -f1) ($(ls "$WORK"/ledger.sqlite* | wc -l) files)"
curl -fsS "http://127.0.0.1:$METRICS/" -o "$WORK/page.html" && echo "status page:   $(wc -c < "$WORK/page.html") bytes"
