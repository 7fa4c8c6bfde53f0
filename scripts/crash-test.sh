#!/usr/bin/env bash
# scripts/crash-test.sh [ROUNDTRIP_BINARY] [SECONDS_BEFORE_KILL] [SENDERS]
#
# Durability check for `roundtrip listen`: start it on 127.0.0.1 (a free
# port), let SENDERS concurrent SMTP clients (python3 smtplib) send messages
# as fast as they can, each logging the queue id of every message whose 250 it
# saw, SIGKILL the listener after SECONDS_BEFORE_KILL, then assert that every
# acknowledged message is in STORE/new with its envelope (its first header field)
# (and carries the client's unique Message-ID). Prints "crash-test: PASS".
# Network traffic goes to 127.0.0.1 only. Takes about 5 s.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN=${1:-.build/debug/roundtrip}
KILL_AFTER=${2:-2}
SENDERS=${3:-8}
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3

WORK=$(mktemp -d /tmp/roundtrip-crash.XXXXXX)
STORE=$WORK/store
LOG=$WORK/listen.log
LISTENER_PID=
cleanup() {
    if [[ -n $LISTENER_PID ]] && kill -0 "$LISTENER_PID" 2>/dev/null; then kill -9 "$LISTENER_PID" 2>/dev/null || true; fi
    if [[ ${KEEP:-0} != 1 ]]; then rm -rf "$WORK"; else echo "crash-test: kept $WORK"; fi
}
trap cleanup EXIT

# The senders' addresses (roundtrip+cN) carry no probe token: --accept lets them in.
# The log exists before the listener starts (the port is read from it at once);
# the probe-token key goes to the work folder, not the user's data folder.
: > "$LOG"
XDG_DATA_HOME="$WORK/data" "$BIN" listen --bind 127.0.0.1:0 --domain return.rt.test --store "$STORE" --hostname crash.rt.test --no-tls --accept roundtrip 2>"$LOG" &
LISTENER_PID=$!

PORT=
for _ in $(seq 1 200); do
    PORT=$(sed -n 's/.*smtp\.listen=[^ ]*:\([0-9][0-9]*\).*/\1/p' "$LOG" | head -1)
    [[ -n $PORT ]] && break
    kill -0 "$LISTENER_PID" 2>/dev/null || { echo "crash-test: listener exited early:"; cat "$LOG"; exit 1; }
    sleep 0.05
done
[[ -n $PORT ]] || { echo "crash-test: listener did not start"; cat "$LOG"; exit 1; }
echo "crash-test: listener pid $LISTENER_PID on 127.0.0.1:$PORT, $SENDERS senders, SIGKILL after ${KILL_AFTER}s"

# Each sender appends "QUEUEID MESSAGEID" to its own file after every 250.
"$PY" - "$PORT" "$WORK" "$SENDERS" <<'EOF' &
import smtplib, sys, threading, uuid, os
port, work, senders = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
def sender(n):
    with open(f"{work}/acked.{n}", "w") as log:
        try:
            s = smtplib.SMTP("127.0.0.1", port, timeout=10)
            s.ehlo("crash.client")
            while True:
                mid = f"{uuid.uuid4().hex}@crash.client"
                msg = (f"Message-ID: <{mid}>\r\nSubject: crash test {n}\r\n\r\n" + "x" * 800 + "\r\n").encode()
                code, _ = s.mail("")
                if code != 250: break
                code, _ = s.rcpt(f"roundtrip+c{n}@return.rt.test")
                if code != 250: break
                code, resp = s.data(msg)
                if code != 250: break
                qid = resp.decode().rsplit(" ", 1)[-1]
                log.write(f"{qid} {mid}\n")
                log.flush()
        except Exception:
            pass
threads = [threading.Thread(target=sender, args=(i,)) for i in range(senders)]
for t in threads: t.start()
for t in threads: t.join()
EOF
SENDER_PID=$!

sleep "$KILL_AFTER"
kill -9 "$LISTENER_PID"
wait "$LISTENER_PID" 2>/dev/null || true
LISTENER_PID=
wait "$SENDER_PID" || true

ACKED=$(cat "$WORK"/acked.* 2>/dev/null | wc -l)
IN_NEW=$(find "$STORE/new" -type f | wc -l)
IN_TMP=$(find "$STORE/tmp" -type f | wc -l)
MISSING=$("$PY" - "$WORK" "$STORE" <<'EOF'
import email, glob, json, os, sys
work, store = sys.argv[1], sys.argv[2]
problems = 0
for path in glob.glob(f"{work}/acked.*"):
    for line in open(path):
        parts = line.split()
        if len(parts) != 2: continue
        qid, mid = parts
        msg = f"{store}/new/{qid}"
        if not os.path.isfile(msg):
            print(f"crash-test: MISSING message {qid} ({mid})", file=sys.stderr); problems += 1; continue
        data = open(msg, "rb").read()
        if f"Message-ID: <{mid}>".encode() not in data:
            print(f"crash-test: WRONG content in {qid} (expected {mid})", file=sys.stderr); problems += 1
        try:
            # The envelope is the stored file's first header field.
            assert data.startswith(b"X-Roundtrip-Envelope:")
            e = json.loads(email.message_from_bytes(data)["X-Roundtrip-Envelope"])
            assert e["rcptTo"][0].startswith("roundtrip+c") and e["mailFrom"] == ""
        except Exception as x:
            print(f"crash-test: MISSING or bad envelope for {qid}: {x}", file=sys.stderr); problems += 1
print(problems)
EOF
)
echo "crash-test: $ACKED messages acknowledged with 250, $IN_NEW in new/, $IN_TMP unfinished in tmp/"
if ((ACKED == 0)); then
    echo "crash-test: FAIL (nothing was acknowledged before the kill)"
    exit 1
fi
if ((MISSING > 0)); then
    echo "crash-test: FAIL ($MISSING problems)"
    exit 1
fi
echo "crash-test: PASS"
