#!/usr/bin/env bash
# Parser throughput: our ParseBench vs Sisimai (Perl, libsisimai-perl 4.25) over the same corpus
# files, in the same run. Both run single-threaded; rates are computed from CPU time (user+sys),
# which stays meaningful on a loaded machine, and wall-clock rates are printed as well.
#   Benchmarks/parse-bench.sh [repeat]      (default 20 for ours, 3 for Sisimai)
set -euo pipefail
cd "$(dirname "$0")/.."
REPEAT="${1:-20}"
SISIMAI_REPEAT="${SISIMAI_REPEAT:-3}"
CORPUS="../shared/corpus"
[ -d "$CORPUS" ] || { echo "corpus not found at $CORPUS" >&2; exit 1; }

if ! perl -MSisimai -e 1 2>/dev/null; then
    echo "installing libsisimai-perl" >&2
    if [ "$(id -u)" = 0 ]; then apt-get install -y libsisimai-perl >&2; else sudo apt-get install -y libsisimai-perl >&2; fi
fi

swift build -c release --product ParseBench 2>&1 | grep -E "error|warning:|Compiling|Build" >&2 || true
BIN=".build/release/ParseBench"

# The same inputs for both: every Maildir-style folder plus the mbox files.
INPUTS=("$CORPUS/maildir/bsd" "$CORPUS/maildir/dos" "$CORPUS/maildir/mac" "$CORPUS/maildir/err"
        "$CORPUS/maildir/not" "$CORPUS/maildir/tmp" "$CORPUS/to-be-debugged-because" "$CORPUS/mailbox")

echo "== roundtrip ParseBench (repeat $REPEAT)"
OURS="$(/usr/bin/time -f 'maxrss_kib %M' "$BIN" --repeat "$REPEAT" "${INPUTS[@]}" 2>&1)"
echo "$OURS"

echo "== Sisimai $(perl -MSisimai -e 'print $Sisimai::VERSION') (repeat $SISIMAI_REPEAT)"
MBOXES=()
for f in "$CORPUS"/mailbox/*; do [ -s "$f" ] && [ "$(stat -c %s "$f")" -gt 3 ] && MBOXES+=("$f"); done
DIRS=()
while IFS= read -r d; do DIRS+=("$d"); done < <(find "$CORPUS/maildir" "$CORPUS/to-be-debugged-because" -type d)
THEIRS="$(/usr/bin/time -f 'maxrss_kib %M' perl -MSisimai -MTime::HiRes=time -e '
    my $repeat = shift @ARGV;
    my ($bytes, $messages) = (0, 0);
    for my $p (@ARGV) {
        if (-d $p) { opendir(my $dh, $p); for (grep { -f "$p/$_" } readdir $dh) { $bytes += -s "$p/$_"; $messages++ } }
        else { $bytes += -s $p; open(my $fh, "<", $p); while (<$fh>) { $messages++ if /^From / } }
    }
    my @t0 = times; my $w0 = time; my $results = 0;
    for (1 .. $repeat) { for my $p (@ARGV) { my $v = Sisimai->make($p, delivered => 1); $results += scalar(@$v) if $v } }
    my @t1 = times; my $wall = time - $w0;
    my $cpu = ($t1[0] - $t0[0]) + ($t1[1] - $t0[1]);
    printf "messages: %d, bytes: %d, results per pass: %d\n", $messages, $bytes, $results / $repeat;
    printf "elapsed: %.3f s wall, %.3f s CPU\n", $wall, $cpu;
    printf "messages/s: %.0f (wall %.0f)\n", $messages * $repeat / $cpu, $messages * $repeat / $wall;
    printf "MB/s: %.2f (wall %.2f)\n", $bytes * $repeat / $cpu / 1e6, $bytes * $repeat / $wall / 1e6;
' "$SISIMAI_REPEAT" "${DIRS[@]}" "${MBOXES[@]}" 2>&1)"
echo "$THEIRS"

ours_rate="$(echo "$OURS" | sed -n 's/^messages\/s: \([0-9]*\).*/\1/p')"
theirs_rate="$(echo "$THEIRS" | sed -n 's/^messages\/s: \([0-9]*\).*/\1/p')"
ours_mb="$(echo "$OURS" | sed -n 's/^MB\/s: \([0-9.]*\).*/\1/p')"
theirs_mb="$(echo "$THEIRS" | sed -n 's/^MB\/s: \([0-9.]*\).*/\1/p')"
echo "== summary (per CPU-second, one core)"
echo "roundtrip: $ours_rate messages/s, $ours_mb MB/s, peak RSS $(echo "$OURS" | sed -n 's/^maxrss_kib //p') KiB"
echo "Sisimai:   $theirs_rate messages/s, $theirs_mb MB/s, peak RSS $(echo "$THEIRS" | sed -n 's/^maxrss_kib //p') KiB"
awk -v a="$ours_rate" -v b="$theirs_rate" 'BEGIN { if (b > 0) printf "ratio: %.1fx (goal >= 100x)\n", a / b }'
