#!/usr/bin/env bash
# Benchmarks/parse-bench.sh [COPIES]
#
# `roundtrip parse` end to end, as a user runs it, against Sisimai over the same files in the
# same run:
#
#   roundtrip parse --format jsonl DIR... > /dev/null          (a process, files from disk)
#   perl: Sisimai->rise(DIR) (5.x) / ->make(DIR) (4.x), every result dumped as JSON > /dev/null
#
# The inputs are the corpus (../shared/corpus: its Maildir folders and mbox files) copied
# COPIES times (default 6) into one message file per message under a scratch folder, so both
# tools read the same few thousand files. Each command runs RUNS times (default 5) after one
# warm-up; the median wall time is reported, with user+system CPU and peak RSS (GNU time).
#
# Baselines: Sisimai 5.3.0 (Debian trixie's libsisimai-perl 5.3.0-1, fetched with
# `apt-get download` from the trixie suite of the configured Debian mirror and unpacked with
# `dpkg-deb -x`, not installed) and Sisimai 4.25.15 (Debian bookworm's, fetched the same way).
# Their two Perl dependencies (libclass-accessor-lite-perl, libjson-perl) are installed when
# missing. The in-memory parser core (ParseBench, one thread) is printed as well.
#
# Environment: RUNS (5), CORE (1; 0 skips ParseBench), BIN (default .build/release/roundtrip, built when missing),
# BENCH_DIR (scratch folder, default /tmp/roundtrip-parse-bench; the Sisimai copies are kept
# there between runs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
COPIES=${1:-6}
RUNS=${RUNS:-5}
CORPUS=../shared/corpus
BENCH_DIR=${BENCH_DIR:-/tmp/roundtrip-parse-bench}
[[ -d $CORPUS ]] || { echo "parse-bench: corpus not found at $CORPUS" >&2; exit 1; }
mkdir -p "$BENCH_DIR"

BIN=${BIN:-.build/release/roundtrip}
if [[ ! -x $BIN ]]; then
    echo "parse-bench: building $BIN" >&2
    swift build -c release --product roundtrip >&2
fi
CORE=${CORE:-1}
if [[ $CORE == 1 && ! -x .build/release/ParseBench ]]; then swift build -c release --product ParseBench >&2; fi

as_root() { if [[ $(id -u) == 0 ]]; then "$@"; else sudo "$@"; fi; }
for pkg in libclass-accessor-lite-perl libjson-perl; do
    dpkg -s "$pkg" >/dev/null 2>&1 || as_root apt-get install -y --no-install-recommends "$pkg" >&2
done

# fetch_sisimai SUITE VERSION: apt-get download from SUITE with a private apt state (the
# system's sources and package lists are not touched), unpacked under $BENCH_DIR.
fetch_sisimai() {
    local suite=$1 version=$2 dir="$BENCH_DIR/sisimai-$2"
    if [[ -f $dir/usr/share/perl5/Sisimai.pm ]]; then echo "$dir/usr/share/perl5"; return; fi
    local apt="$BENCH_DIR/apt-$suite"
    mkdir -p "$apt/state/lists/partial" "$apt/cache/archives/partial"
    local mirror
    mirror=$(grep -h -m1 -oE 'https?://[^ ]*debian/?( |$)' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | head -n1 | tr -d ' ')
    mirror=${mirror:-http://deb.debian.org/debian}
    printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$mirror" "$suite" > "$apt/$suite.sources"
    local opts=(-o "Dir::Etc::SourceList=$apt/$suite.sources" -o Dir::Etc::SourceParts=/dev/null -o "Dir::State=$apt/state"
        -o Dir::State::status=/var/lib/dpkg/status -o "Dir::Cache=$apt/cache" -o APT::Sandbox::User=root)
    apt-get "${opts[@]}" update >&2
    (cd "$apt" && apt-get "${opts[@]}" download "libsisimai-perl=$version-1" >&2)
    mkdir -p "$dir"
    dpkg-deb -x "$apt"/libsisimai-perl_"$version"-1_all.deb "$dir"
    [[ -f $dir/usr/share/perl5/Sisimai.pm ]] || return 1
    echo "$dir/usr/share/perl5"
}
SISIMAI5=$(fetch_sisimai trixie 5.3.0) || { echo "parse-bench: cannot fetch Sisimai 5.3.0" >&2; exit 1; }
SISIMAI4=$(fetch_sisimai bookworm 4.25.15) || { echo "parse-bench: cannot fetch Sisimai 4.25.15" >&2; exit 1; }

# The inputs: every corpus message as its own file, COPIES times (mbox files split here,
# so that both tools see the same messages as files).
INPUT="$BENCH_DIR/input-$COPIES"
if [[ ! -f $INPUT/.done ]]; then
    rm -rf "$INPUT"
    python3 - "$CORPUS" "$INPUT" "$COPIES" <<'PY'
import mailbox, os, sys
corpus, out, copies = sys.argv[1], sys.argv[2], int(sys.argv[3])
messages = []
for sub in ("maildir", "to-be-debugged-because"):
    for root, _, files in sorted(os.walk(os.path.join(corpus, sub))):
        for f in sorted(files):
            messages.append(open(os.path.join(root, f), "rb").read())
for f in sorted(os.listdir(os.path.join(corpus, "mailbox"))):
    for m in mailbox.mbox(os.path.join(corpus, "mailbox", f)):
        messages.append(m.as_bytes())
for c in range(copies):
    d = os.path.join(out, f"copy{c}", "new")
    os.makedirs(d)
    for i, m in enumerate(messages):
        open(os.path.join(d, f"{i:06d}.eml"), "wb").write(m)
open(os.path.join(out, ".done"), "w").write(str(len(messages) * copies))
PY
fi
DIRS=("$INPUT"/copy*/new)
FILES=$(cat "$INPUT/.done")
echo "parse-bench: $FILES files ($COPIES copies of the corpus) in ${#DIRS[@]} Maildir folders; $RUNS runs each after a warm-up; $(nproc) cores"

SISIMAI_SCRIPT='
    my $v5 = $Sisimai::VERSION =~ /^v?5/;
    for my $p (@ARGV) {
        my $r = $v5 ? Sisimai->rise($p, delivered => 1) : Sisimai->make($p, delivered => 1);
        next unless $r;
        print $_->dump("json"), "\n" for @$r;
    }'

# measure NAME COMMAND...: median wall seconds over RUNS, CPU and peak RSS of that run.
measure() {
    local name=$1; shift
    "$@" > /dev/null 2>&1 || { echo "parse-bench: $name failed: $*" >&2; return 1; }
    local rows=()
    for _ in $(seq 1 "$RUNS"); do
        local t
        t=$(mktemp)
        /usr/bin/time -f "%e %U %S %M" -o "$t" "$@" > /dev/null 2>/dev/null || true
        rows+=("$(tail -n1 "$t")")
        rm -f "$t"
    done
    local median
    median=$(printf '%s\n' "${rows[@]}" | sort -n | sed -n "$(((RUNS + 1) / 2))p")
    read -r wall user sys rss <<< "$median"
    printf '%-26s %8.3f s wall %8.3f s CPU %9.0f msgs/s %8.1f MiB peak\n' "$name" "$wall" \
        "$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')" "$(awk -v n="$FILES" -v w="$wall" 'BEGIN { print (w > 0 ? n / w : 0) }')" \
        "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')"
    eval "WALL_${name//[^a-zA-Z0-9]/_}=$wall"
    eval "CPU_${name//[^a-zA-Z0-9]/_}=$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')"
}

# The output is checked once: at least one JSON record per file (a file that holds an mbox
# gives one per message in it; Sisimai reads such a file as one message).
LINES=$("$BIN" parse --format jsonl "${DIRS[@]}" | wc -l)
((LINES >= FILES)) || { echo "parse-bench: roundtrip printed $LINES records for $FILES files" >&2; exit 1; }
echo "parse-bench: roundtrip prints $LINES records for the $FILES files"

measure "roundtrip parse jsonl" "$BIN" parse --format jsonl "${DIRS[@]}"
WALL_roundtrip_parse_jsonl__j1=0
if "$BIN" parse --help | grep -q -- --jobs; then
    measure "roundtrip parse jsonl -j1" "$BIN" parse --format jsonl --jobs 1 "${DIRS[@]}"
fi
measure "roundtrip parse text" "$BIN" parse --format text "${DIRS[@]}"
measure "Sisimai 5.3.0" env PERL5LIB="$SISIMAI5" perl -MSisimai -e "$SISIMAI_SCRIPT" "${DIRS[@]}"
measure "Sisimai 4.25.15" env PERL5LIB="$SISIMAI4" perl -MSisimai -e "$SISIMAI_SCRIPT" "${DIRS[@]}"

[[ $CORE == 1 ]] && echo "== in-memory parser core (ParseBench, one thread, corpus x20)" &&
    .build/release/ParseBench --repeat 20 "$CORPUS/maildir" "$CORPUS/to-be-debugged-because" "$CORPUS/mailbox" | grep -E "messages/s|MB/s" || true

echo "== end to end, same files, same run"
awk -v a="$WALL_roundtrip_parse_jsonl" -v b="$WALL_Sisimai_5_3_0" -v c="$WALL_Sisimai_4_25_15" -v d="$WALL_roundtrip_parse_jsonl__j1" \
    -v ca="$CPU_roundtrip_parse_jsonl" -v cb="$CPU_Sisimai_5_3_0" 'BEGIN {
    printf "roundtrip parse --format jsonl vs Sisimai 5.3.0:   %.1fx faster in wall time (goal >= 100x), %.1fx in CPU time\n", b / a, (ca > 0 ? cb / ca : 0)
    printf "roundtrip parse --format jsonl vs Sisimai 4.25.15: %.1fx faster in wall time\n", c / a
    if (d > 0) printf "roundtrip on one core (--jobs 1) vs Sisimai 5.3.0: %.1fx faster in wall time\n", b / d
}'
