#!/usr/bin/env bash
# scripts/test-env-auth.sh start|stop|status|records
#
# Real mail authentication for the arrival tests: Debian 12's OpenDKIM,
# OpenDMARC and policyd-spf (postfix-policyd-spf-python) add RFC 8601
# Authentication-Results (authserv-id mx.rt.test) to mail that reaches the test
# Postfix of scripts/test-env.sh on its auth port, and Dovecot's Sieve (set up
# by scripts/test-env.sh) files carol+junk@rt.test into the \Junk mailbox:
#
#   Postfix  127.0.0.1:2528  SMTP without DSN in EHLO; SPF policy check at RCPT
#                            (A-R spf=), milters OpenDKIM (A-R dkim=) then
#                            OpenDMARC (A-R dmarc=), milter_default_action =
#                            tempfail (a dead milter answers 451, never skipped).
#                            Its cleanup (cleanup-auth) rewrites
#                            USER[+DETAIL]@lasthop.rt.test to USER[+DETAIL]@rt.test.
#            127.0.0.1:2525  lasthop.rt.test is relayed to [127.0.0.1]:2528, so a
#                            probe to carol@lasthop.rt.test with NOTIFY=SUCCESS
#                            gets a "relayed" DSN and then arrives through the
#                            milters.
#   carol@rt.test            delivered by Dovecot LMTP with Sieve (every other
#                            rt.test mailbox still by Postfix virtual); the global
#                            sieve_before script files envelope detail "junk"
#                            (carol+junk@rt.test) into Junk (special-use \Junk).
#
# DNS: OpenDKIM (libunbound), OpenDMARC (libresolv) and policyd-spf (dnspython)
# ask port 53 of the resolvers in /etc/resolv.conf, which here is a real resolver
# that must never see an rt.test query. So they run inside the network namespace
# rt-auth, which has nothing but lo, with /etc/netns/rt-auth/resolv.conf =
# "nameserver 127.0.0.1" and a dnsmasq of their own on 127.0.0.1:53 in there
# (no-resolv, no upstream server: it answers rt.test and refuses everything
# else). Their milter/policy endpoints are UNIX sockets under $STATE/auth, which
# the Postfix in the main namespace reaches across the namespace boundary. The
# same TXT records are also served by the main dnsmasq (127.0.0.1:5353):
#
#   rt.test                      TXT "v=spf1 ip4:127.0.0.0/8 -all"
#   fail.rt.test                 TXT "v=spf1 ip4:192.0.2.1 -all"  (127.0.0.1: spf=fail)
#   _dmarc.rt.test               TXT "v=DMARC1; p=none"
#   _dmarc.fail.rt.test          TXT "v=DMARC1; p=reject; adkim=s; aspf=s"
#   rt-rsa._domainkey.rt.test    TXT "v=DKIM1; k=rsa; p=<SubjectPublicKeyInfo>"
#   rt-ed._domainkey.rt.test     TXT "v=DKIM1; k=ed25519; p=<raw key>" (RFC 8463)
#
# Nothing rejects for these results: policyd-spf never rejects or defers
# (HELO_reject = Mail_From_reject = False), OpenDMARC has RejectFailures false,
# OpenDKIM accepts whatever it finds. Localhost is NOT exempt (policyd-spf's
# skip_addresses, OpenDKIM's InternalHosts and OpenDMARC's IgnoreHosts name only
# 192.0.2.255), so mail from 127.0.0.1 is checked like any other.
#
# DKIM keys (made once, kept across starts like the certificates; PEM PKCS#8,
# mode 600, owned by root) in $STATE/auth/dkim: rt-rsa.pem (RSA-2048, selector
# rt-rsa), rt-ed.pem (Ed25519, selector rt-ed) and wrong.pem (RSA-2048, never
# published: a signature with it under s=rt-rsa gives dkim=fail).
#
# Logs: the daemons log only to syslog, and this machine has none. Each one runs
# in a mount namespace of its own (the one `ip netns exec` makes) with a private
# /dev whose /dev/log leads to a small receiver ($STATE/auth/syslog.py) that
# writes $STATE/logs/opendkim.log, opendmarc.log and policyd-spf.log; the host's
# /dev is never touched. The netns dnsmasq logs its queries to auth-dnsmasq.log.
#
# `start` (idempotent: daemons whose configuration did not change are left
# alone) needs scripts/test-env.sh's Postfix and Dovecot (it is called by
# `scripts/test-env.sh start` after those are up), checks the whole path end to
# end (a DKIM-signed message to carol and carol+junk through 2528, one through
# 2525 to carol+junk@lasthop.rt.test; removed again afterwards) and writes
# $STATE/env-auth.sh, which env.sh sources:
#   ROUNDTRIP_TEST_SMTP_AUTH ROUNDTRIP_TEST_LASTHOP_DOMAIN ROUNDTRIP_TEST_SIEVE_USER
#   ROUNDTRIP_TEST_AUTHSERV_ID ROUNDTRIP_TEST_DKIM_DOMAIN ROUNDTRIP_TEST_DKIM_RSA_KEY
#   ROUNDTRIP_TEST_DKIM_RSA_SELECTOR ROUNDTRIP_TEST_DKIM_ED25519_KEY
#   ROUNDTRIP_TEST_DKIM_ED25519_SELECTOR ROUNDTRIP_TEST_DKIM_WRONG_KEY
#   ROUNDTRIP_TEST_SPF_FAIL_DOMAIN ROUNDTRIP_TEST_OPENDKIM_LOG
#   ROUNDTRIP_TEST_OPENDMARC_LOG ROUNDTRIP_TEST_SPF_LOG
# `stop` stops every daemon it started, deletes the namespace and
# /etc/netns/rt-auth (the keys stay). `records` prints the dnsmasq txt-record
# lines (making the keys if missing); scripts/test-env.sh puts them into the
# main dnsmasq's configuration.
#
# State: $ROUNDTRIP_TEST_DIR/auth (default /tmp/roundtrip-test-env/auth). Runs as
# root on Debian 12 without systemd. ROUNDTRIP_TEST_NO_INSTALL=1: never call
# apt-get (fail if something is missing).

set -euo pipefail

LOG_NAME=test-env-auth
# shellcheck source=scripts/test-env-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/test-env-lib.sh"

# scripts/test-env.sh names the same paths (main.cf's rt_auth_* parameters).
AUTH="$STATE/auth"
KEYS="$AUTH/dkim"
LOGS="$STATE/logs"
ENV_FILE="$STATE/env-auth.sh"
NS=rt-auth
NS_ETC="/etc/netns/$NS"
PF_CONF="$STATE/postfix/etc"
MAILROOT="$STATE/mail"

AUTHSERV_ID=mx.rt.test
DOMAIN=rt.test
FAIL_DOMAIN=fail.rt.test
LASTHOP_DOMAIN=lasthop.rt.test
SIEVE_USER=carol@rt.test
AUTH_PORT=2528
RSA_SELECTOR=rt-rsa
ED_SELECTOR=rt-ed
RSA_KEY="$KEYS/rt-rsa.pem"
ED_KEY="$KEYS/rt-ed.pem"
WRONG_KEY="$KEYS/wrong.pem"
# A TEST-NET-1 address nothing ever connects from: the lists that default to
# localhost (skip, internal, ignore) name only this one.
NOBODY_IP=192.0.2.255

OPENDKIM_DIR="$AUTH/opendkim"      # socket + pid, owned opendkim:postfix 750
OPENDMARC_DIR="$AUTH/opendmarc"    # socket + pid, owned opendmarc:postfix 750
SPF_DIR="$AUTH/spf"                # socket (socat, root:postfix 750)
OPENDKIM_SOCK="$OPENDKIM_DIR/opendkim.sock"
OPENDMARC_SOCK="$OPENDMARC_DIR/opendmarc.sock"
SPF_SOCK="$SPF_DIR/spf.sock"
SYSLOG_SOCK="$AUTH/syslog.sock"
NSDNS_PID="$AUTH/dnsmasq.pid"
SYSLOG_PID="$AUTH/syslog.pid"
SPF_PID="$AUTH/spf-socat.pid"

OPENDKIM_LOG="$LOGS/opendkim.log"
OPENDMARC_LOG="$LOGS/opendmarc.log"
SPF_LOG="$LOGS/policyd-spf.log"
NSDNS_LOG="$LOGS/auth-dnsmasq.log"

PY=/usr/bin/python3   # Debian's python3 (python3-dkim, dnspython), whatever PATH says

# Installed with --no-install-recommends. dbconfig-no-thanks satisfies
# opendmarc's "dbconfig-mysql | dbconfig-no-thanks" without a MariaDB client.
PACKAGES=(opendkim opendkim-tools opendmarc dbconfig-no-thanks publicsuffix
          postfix-policyd-spf-python python3-spf python3-dnspython python3-dkim python3-nacl
          dovecot-lmtpd dovecot-sieve socat dnsmasq-base iproute2 openssl python3 swaks util-linux)


# The pid in FILE if it is still the program COMM (a stale pid file may name
# an unrelated process), else nothing.
pid_is() { # pidfile comm
    local pid; pid=$(pid_from "$1")
    [[ -n $pid ]] && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$2" ]] && printf '%s' "$pid"
    return 0
}
in_ns() { [[ -n ${1:-} ]] && [[ $(ip netns identify "$1" 2>/dev/null) == "$NS" ]]; }
ns_exists() { [[ -e /run/netns/$NS ]] && ip netns list 2>/dev/null | grep -qE "^$NS( |$)"; }

opendkim_pid()  { pid_is "$OPENDKIM_DIR/opendkim.pid" opendkim; }
opendmarc_pid() { pid_is "$OPENDMARC_DIR/opendmarc.pid" opendmarc; }
nsdns_pid()     { pid_is "$NSDNS_PID" dnsmasq; }
spf_pid()       { pid_is "$SPF_PID" socat; }
syslog_pid() {
    local pid; pid=$(pid_from "$SYSLOG_PID")
    [[ -n $pid ]] && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF "$AUTH/syslog.py" && printf '%s' "$pid"
    return 0
}

# stop_pid PID [signal-target]: TERM, wait up to 10 s, then KILL.
stop_pid() {
    local pid=$1 target=${2:-$1} _
    pid_alive "$pid" || return 0
    kill -TERM "$target" 2>/dev/null || true
    for _ in $(seq 100); do pid_alive "$pid" || return 0; sleep 0.1; done
    kill -KILL "$target" 2>/dev/null || true
    for _ in $(seq 20); do pid_alive "$pid" || return 0; sleep 0.1; done
}

# ---------------------------------------------------------------- packages

install_packages() { apt_install "${PACKAGES[@]}"; }

# ---------------------------------------------------------------- keys + DNS records

make_key() { # file openssl-genpkey-args...
    local f=$1; shift
    [[ -s $f ]] && openssl pkey -in "$f" -noout 2>/dev/null && { chmod 600 "$f"; chown root:root "$f"; return 0; }
    local tmp; tmp=$(mktemp "$f.XXXXXX")
    openssl genpkey "$@" -out "$tmp" 2>/dev/null || { rm -f "$tmp"; die "openssl genpkey $* failed"; }
    chown root:root "$tmp"; chmod 600 "$tmp"
    mv -f "$tmp" "$f"
    log "made DKIM key $f" >&2
}

setup_keys() {
    mkdir -p "$KEYS"
    chown root:root "$KEYS"; chmod 755 "$KEYS"
    make_key "$RSA_KEY" -algorithm RSA -pkeyopt rsa_keygen_bits:2048
    make_key "$ED_KEY" -algorithm ED25519
    make_key "$WRONG_KEY" -algorithm RSA -pkeyopt rsa_keygen_bits:2048
}

# txt_record NAME TEXT: a dnsmasq txt-record line, TEXT split into strings of
# at most 255 characters (RFC 1035 character-strings).
txt_record() {
    local name=$1 text=$2 line
    line="txt-record=$name"
    while ((${#text} > 255)); do line+=",\"${text:0:255}\""; text=${text:255}; done
    line+=",\"$text\""
    printf '%s\n' "$line"
}

# The TXT records of rt.test (SPF, DMARC, DKIM), as dnsmasq configuration.
print_records() {
    setup_keys
    local rsa_p ed_p
    rsa_p=$(openssl pkey -in "$RSA_KEY" -pubout -outform DER 2>/dev/null | base64 -w0)
    # RFC 8463: p= is the raw 32-byte key, the last 32 bytes of the SPKI DER.
    ed_p=$(openssl pkey -in "$ED_KEY" -pubout -outform DER 2>/dev/null | tail -c 32 | base64 -w0)
    [[ ${#rsa_p} -gt 300 && ${#ed_p} -eq 44 ]] || die "cannot read the public DKIM keys from $KEYS"
    printf '# rt.test authentication records (scripts/test-env-auth.sh)\n'
    txt_record "$DOMAIN" "v=spf1 ip4:127.0.0.0/8 -all"
    txt_record "$FAIL_DOMAIN" "v=spf1 ip4:192.0.2.1 -all"
    txt_record "_dmarc.$DOMAIN" "v=DMARC1; p=none"
    txt_record "_dmarc.$FAIL_DOMAIN" "v=DMARC1; p=reject; adkim=s; aspf=s"
    txt_record "$RSA_SELECTOR._domainkey.$DOMAIN" "v=DKIM1; k=rsa; p=$rsa_p"
    txt_record "$ED_SELECTOR._domainkey.$DOMAIN" "v=DKIM1; k=ed25519; p=$ed_p"
}

# ---------------------------------------------------------------- namespace

NS_CREATED=0
setup_netns() {
    if ! ns_exists; then
        ip netns add "$NS" || die "ip netns add $NS failed"
        NS_CREATED=1
        log "created network namespace $NS"
    fi
    ip -n "$NS" link set lo up || die "cannot bring up lo in $NS"
    mkdir -p "$NS_ETC"
    printf '# Generated by scripts/test-env-auth.sh: the dnsmasq inside netns %s.\nnameserver 127.0.0.1\noptions timeout:2 attempts:2\n' "$NS" \
        | write_if_changed "$NS_ETC/resolv.conf" || true
    # Only lo: no route leads anywhere but 127.0.0.0/8 and ::1.
    local links; links=$(ip -n "$NS" -o link show | awk -F': ' '{print $2}' | tr '\n' ' ')
    [[ $links == "lo " ]] || die "network namespace $NS has more than lo: $links"
}

# Runs inside `ip netns exec` (whose mount namespace is the process's own and a
# slave of the host's): gives the command a private /dev whose /dev/log leads to
# the syslog receiver, then execs it. RT_PIDFILE: write this pid there first.
write_nsdev() {
    write_if_changed "$AUTH/nsdev.sh" 755 <<'EOF'
#!/bin/bash
# Generated by scripts/test-env-auth.sh. nsdev.sh LOGSOCKET command...
set -euo pipefail
sock=$1; shift
hd=$(mktemp -d "$(dirname "$sock")/.hostdev.XXXXXX")
mount --rbind /dev "$hd"
mount -t tmpfs -o mode=755,size=1m,nosuid rt-auth-dev /dev
for n in null zero full random urandom tty; do
    : > "/dev/$n"; mount --bind "$hd/$n" "/dev/$n"
done
mkdir /dev/shm; mount -t tmpfs -o mode=1777,size=16m,nosuid,nodev rt-auth-shm /dev/shm
ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/0 /dev/stdin; ln -s /proc/self/fd/1 /dev/stdout; ln -s /proc/self/fd/2 /dev/stderr
ln -s "$sock" /dev/log
umount -l "$hd"; rmdir "$hd"
[[ -n ${RT_PIDFILE:-} ]] && echo $$ > "$RT_PIDFILE"
exec "$@"
EOF
}

ns_run() { # command... (in the namespace, with the private /dev)
    ip netns exec "$NS" "$AUTH/nsdev.sh" "$SYSLOG_SOCK" "$@"
}

# ---------------------------------------------------------------- syslog receiver

write_syslog_receiver() {
    write_if_changed "$AUTH/syslog.py" <<'EOF'
# Generated by scripts/test-env-auth.sh: a minimal syslog receiver for the
# auth daemons (this machine has no syslog). syslog.py SOCKET LOGDIR
import os, re, socket, sys, time
sock_path, logdir = sys.argv[1], sys.argv[2]
files = {"opendkim": "opendkim.log", "opendmarc": "opendmarc.log", "policyd-spf": "policyd-spf.log"}
line = re.compile(rb"^<\d+>(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d )?([^\[: ]+)(\[\d+\])?: ?(.*)$", re.S)
try:
    os.unlink(sock_path)
except FileNotFoundError:
    pass
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sock_path)
os.chmod(sock_path, 0o666)
out = {}
while True:
    data = s.recv(65536)
    m = line.match(data)
    tag, pid, msg = (m.group(1), m.group(2) or b"", m.group(3)) if m else (b"unknown", b"", data)
    name = files.get(tag.decode("ascii", "replace"), "auth-syslog.log")
    f = out.get(name)
    if f is None:
        f = out[name] = open(os.path.join(logdir, name), "ab", buffering=0)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S").encode()
    f.write(stamp + b" " + tag + pid + b": " + msg.rstrip(b"\n\0") + b"\n")
EOF
}

start_syslog() {
    local changed=$1 pid
    pid=$(syslog_pid)
    if pid_alive "$pid"; then
        ((changed)) || return 0
        stop_pid "$pid"
    fi
    rm -f "$SYSLOG_SOCK"
    setsid "$PY" "$AUTH/syslog.py" "$SYSLOG_SOCK" "$LOGS" </dev/null >>"$LOGS/auth-syslog.out" 2>&1 &
    echo $! > "$SYSLOG_PID"
    local _; for _ in $(seq 50); do [[ -S $SYSLOG_SOCK ]] && { log "syslog receiver started"; return 0; }; sleep 0.1; done
    fail_with_log "the syslog receiver did not create $SYSLOG_SOCK" "$LOGS/auth-syslog.out"
}

# ---------------------------------------------------------------- configs

write_nsdns_config() {
    {
        cat <<EOF
# Generated by scripts/test-env-auth.sh -- the resolver INSIDE netns $NS
# (127.0.0.1:53 there). Authoritative-ish for rt.test, no upstream at all:
# every other name is refused, nothing is ever forwarded.
port=53
listen-address=127.0.0.1
bind-interfaces
no-resolv
no-hosts
no-poll
no-negcache
pid-file=$NSDNS_PID
log-facility=$NSDNS_LOG
log-queries
local=/rt.test/
host-record=mx.rt.test,127.0.0.1
mx-host=rt.test,mx.rt.test,10
EOF
        print_records
    } | write_if_changed "$AUTH/dnsmasq.conf"
}

write_unbound_config() {
    # OpenDKIM resolves with libunbound, which would otherwise iterate from the
    # root servers, refuse to ask 127.0.0.1 and answer test. itself (RFC 6761).
    write_if_changed "$AUTH/unbound.conf" <<EOF
# Generated by scripts/test-env-auth.sh -- OpenDKIM's libunbound: only the netns dnsmasq.
server:
    do-not-query-localhost: no
    local-zone: "test." nodefault
    domain-insecure: "test."
forward-zone:
    name: "."
    forward-addr: 127.0.0.1@53
EOF
}

write_opendkim_config() {
    local changed=1
    printf '%s\n' "$NOBODY_IP" | write_if_changed "$AUTH/opendkim-internal-hosts" && changed=0
    write_unbound_config && changed=0
    write_if_changed "$AUTH/opendkim.conf" <<EOF && changed=0
# Generated by scripts/test-env-auth.sh -- verify-only OpenDKIM for the auth path (2528).
Mode                    v
AuthservID              $AUTHSERV_ID
Canonicalization        relaxed/relaxed
Socket                  local:$OPENDKIM_SOCK
PidFile                 $OPENDKIM_DIR/opendkim.pid
UserID                  opendkim:postfix
UMask                   007
Syslog                  yes
SyslogSuccess           yes
LogWhy                  yes
LogResults              yes
AlwaysAddARHeader       yes
# 127.0.0.1 is not "internal": its mail is verified like any other.
InternalHosts           $AUTH/opendkim-internal-hosts
ResolverConfiguration   $AUTH/unbound.conf
DNSTimeout              5
On-BadSignature         accept
On-NoSignature          accept
On-KeyNotFound          accept
On-DNSError             accept
On-InternalError        accept
On-Security             accept
On-SignatureError       accept
EOF
    return $changed
}

write_opendmarc_config() {
    local changed=1
    printf '%s\n' "$NOBODY_IP" | write_if_changed "$AUTH/opendmarc-ignore-hosts" && changed=0
    write_if_changed "$AUTH/opendmarc.conf" <<EOF && changed=0
# Generated by scripts/test-env-auth.sh -- OpenDMARC for the auth path (2528): headers only.
AuthservID              $AUTHSERV_ID
TrustedAuthservIDs      $AUTHSERV_ID
Socket                  local:$OPENDMARC_SOCK
PidFile                 $OPENDMARC_DIR/opendmarc.pid
UserID                  opendmarc:postfix
UMask                   007
Syslog                  true
RejectFailures          false
FailureReports          false
RequiredHeaders         false
# 127.0.0.1 (ignored by default) is checked like any other client.
IgnoreHosts             $AUTH/opendmarc-ignore-hosts
IgnoreAuthenticatedClients false
# DKIM and SPF results from OpenDKIM's and policyd-spf's Authentication-Results
# (mx.rt.test). Never its own SPF check: OpenDMARC's (libspf2) passes
# 127.0.0.1 for every domain ("localhost is always allowed"), and it also
# re-checks when the header says fail, which turned spf=fail into pass.
SPFSelfValidate         false
SPFIgnoreResults        false
PublicSuffixList        /usr/share/publicsuffix/public_suffix_list.dat
EOF
    return $changed
}

write_spf_config() {
    write_if_changed "$AUTH/policyd-spf.conf" <<EOF
# Generated by scripts/test-env-auth.sh -- policyd-spf for the auth path (2528).
# Headers only: never rejects or defers; localhost is not skipped.
debugLevel = 1
TestOnly = 1
HELO_reject = False
Mail_From_reject = False
PermError_reject = False
TempError_Defer = False
skip_addresses = $NOBODY_IP/32
Header_Type = AR
Authserv_Id = $AUTHSERV_ID
Hide_Receiver = Yes
Lookup_Time = 10
EOF
}

# ---------------------------------------------------------------- daemons

start_nsdns() {
    local changed=$1 pid
    pid=$(nsdns_pid)
    if pid_alive "$pid" && in_ns "$pid"; then
        ((changed)) || return 0
        log "netns dnsmasq: configuration changed, restarting"
    fi
    stop_pid "$pid"; rm -f "$NSDNS_PID"
    ip netns exec "$NS" dnsmasq --conf-file="$AUTH/dnsmasq.conf" --test >"$LOGS/auth-dnsmasq-start.out" 2>&1 \
        || fail_with_log "netns dnsmasq configuration rejected" "$LOGS/auth-dnsmasq-start.out"
    ip netns exec "$NS" dnsmasq --conf-file="$AUTH/dnsmasq.conf" >"$LOGS/auth-dnsmasq-start.out" 2>&1 </dev/null \
        || fail_with_log "netns dnsmasq failed to start" "$LOGS/auth-dnsmasq-start.out" "$NSDNS_LOG"
    log "netns dnsmasq started (pid $(nsdns_pid))"
}

# start_milter NAME CHANGED DIR CONFIG-FLAG LOG: OpenDKIM and OpenDMARC alike (their
# configuration in $AUTH/NAME.conf; socket and pid file in DIR, owned NAME:postfix).
start_milter() {
    local name=$1 changed=$2 dir=$3 flag=$4 logfile=$5 pid
    pid=$(pid_is "$dir/$name.pid" "$name")
    if pid_alive "$pid" && in_ns "$pid"; then
        ((changed)) || return 0
        log "$name: configuration changed, restarting"
    fi
    stop_pid "$pid"
    mkdir -p "$dir"; chown "$name:postfix" "$dir"; chmod 750 "$dir"
    rm -f "$dir/$name.sock" "$dir/$name.pid"
    "$name" -n "$flag" "$AUTH/$name.conf" >"$LOGS/$name-start.out" 2>&1 \
        || fail_with_log "$name rejects $AUTH/$name.conf" "$LOGS/$name-start.out"
    ns_run "$name" "$flag" "$AUTH/$name.conf" >"$LOGS/$name-start.out" 2>&1 </dev/null \
        || fail_with_log "$name failed to start" "$LOGS/$name-start.out" "$logfile"
    log "$name started"
}
start_opendkim() { start_milter opendkim "$1" "$OPENDKIM_DIR" -x "$OPENDKIM_LOG"; }
start_opendmarc() { start_milter opendmarc "$1" "$OPENDMARC_DIR" -c "$OPENDMARC_LOG"; }

# policyd-spf is a Postfix "spawn" program (policy protocol on stdin/stdout);
# socat gives it a UNIX socket for Postfix and runs one per connection, as the
# policyd-spf user, inside the namespace.
start_spf() {
    local changed=$1 pid
    pid=$(spf_pid)
    if pid_alive "$pid" && in_ns "$pid"; then
        ((changed)) || return 0
        log "policyd-spf: configuration changed, restarting"
    fi
    [[ -n $pid ]] && stop_pid "$pid" "-$pid"
    mkdir -p "$SPF_DIR"; chown root:postfix "$SPF_DIR"; chmod 750 "$SPF_DIR"
    rm -f "$SPF_SOCK" "$SPF_PID"
    RT_PIDFILE="$SPF_PID" setsid ip netns exec "$NS" "$AUTH/nsdev.sh" "$SYSLOG_SOCK" \
        socat \
        "UNIX-LISTEN:$SPF_SOCK,fork,unlink-early,user=root,group=postfix,mode=660" \
        "EXEC:/usr/bin/policyd-spf $AUTH/policyd-spf.conf,su=policyd-spf" \
        </dev/null >>"$LOGS/policyd-spf-socat.log" 2>&1 &
    local _; for _ in $(seq 50); do [[ -S $SPF_SOCK ]] && { log "policyd-spf (socat) started"; return 0; }; sleep 0.1; done
    fail_with_log "socat did not create $SPF_SOCK" "$LOGS/policyd-spf-socat.log"
}

# ---------------------------------------------------------------- verify

wait_socket() { # path seconds log
    local deadline=$((SECONDS + $2))
    while [[ ! -S $1 ]]; do
        ((SECONDS < deadline)) || fail_with_log "socket $1 missing" "$3"
        sleep 0.2
    done
}

# ns_query NAME TYPE: asks the netns dnsmasq (127.0.0.1:53 inside rt-auth);
# prints "rcode=NAME" and one line per answer.
ns_query() {
    ip netns exec "$NS" "$PY" - "$1" "$2" <<'EOF'
import sys, dns.message, dns.query, dns.rcode
q = dns.message.make_query(sys.argv[1], sys.argv[2])
r = dns.query.udp(q, "127.0.0.1", port=53, timeout=3)
print("rcode=" + dns.rcode.to_text(r.rcode()))
for rrset in r.answer:
    for rr in rrset:
        print(b"".join(rr.strings).decode() if hasattr(rr, "strings") else rr.to_text())
EOF
}

# signed_message FILE TOKEN FROM TO KEY:SELECTOR[:ALG]...: a message signed
# with dkimpy by every KEY:SELECTOR given (ALG rsa or ed25519).
signed_message() {
    local file=$1 token=$2 from=$3 to=$4; shift 4
    "$PY" - "$token" "$from" "$to" "$@" > "$file" <<'EOF'
import base64, subprocess, sys, dkim, email.utils
token, mfrom, rcpt = sys.argv[1:4]
msg = ("From: Auth Self Check <%s>\r\nTo: <%s>\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s@rt.test>\r\n\r\n"
       "%s\r\n" % (mfrom, rcpt, token, email.utils.formatdate(), token, token)).encode()
for spec in sys.argv[4:]:
    key, sel, alg = (spec.split(":") + ["rsa"])[:3]
    if alg == "ed25519":
        # dkimpy wants the base64 32-byte seed: the tail of the PKCS#8 DER.
        der = subprocess.run(["openssl", "pkey", "-in", key, "-outform", "DER"], check=True, capture_output=True).stdout
        priv, algo = base64.b64encode(der[-32:]), b"ed25519-sha256"
    else:
        priv, algo = open(key, "rb").read(), b"rsa-sha256"
    sig = dkim.sign(msg, sel.encode(), b"rt.test", priv, canonicalize=(b"relaxed", b"relaxed"),
                    include_headers=[b"from", b"to", b"subject", b"date", b"message-id"], signature_algorithm=algo)
    msg = sig + msg
sys.stdout.buffer.write(msg)
EOF
}

wait_file_with() { # dir token seconds -> prints the file
    local dir=$1 token=$2 deadline=$((SECONDS + $3)) f
    while ((SECONDS < deadline)); do
        f=$(grep -l -F -- "$token" "$dir"/* 2>/dev/null | head -n1 || true)
        [[ -n $f ]] && { printf '%s' "$f"; return 0; }
        sleep 0.2
    done
    return 1
}

# ar_fields FILE: the Authentication-Results fields of the header, unfolded.
ar_fields() { awk '/^$/{exit} /^[ \t]/{printf " %s", $0; next} {printf "\n%s", $0} END{print ""}' "$1" \
              | grep -i '^Authentication-Results:' | tr -s ' \t' ' '; }

expect_ar() { # file description regex...
    local f=$1 what=$2 ar re; shift 2
    ar=$(ar_fields "$f")
    for re in "$@"; do
        grep -qiE -- "$re" <<<"$ar" && continue
        printf '%s\n' "$ar" >&2
        fail_with_log "$what: no Authentication-Results matching /$re/ in $f" \
            "$OPENDKIM_LOG" "$OPENDMARC_LOG" "$SPF_LOG" "$STATE/logs/postfix.log"
    done
}

verify_auth() {
    wait_socket "$OPENDKIM_SOCK" 20 "$OPENDKIM_LOG"
    wait_socket "$OPENDMARC_SOCK" 20 "$OPENDMARC_LOG"
    wait_socket "$SPF_SOCK" 20 "$LOGS/policyd-spf-socat.log"
    local p n
    for p in opendkim opendmarc nsdns spf syslog; do
        n=$("${p}_pid")
        pid_alive "$n" || fail_with_log "$p is not running" "$OPENDKIM_LOG" "$OPENDMARC_LOG" "$SPF_LOG" "$NSDNS_LOG"
        [[ $p == syslog ]] || in_ns "$n" || die "$p (pid $n) is not inside network namespace $NS"
    done

    # DNS inside the namespace: the DKIM key is there, and anything else is
    # refused on the spot (no upstream server; the namespace has only lo).
    local out expect_ed
    out=$(ns_query "$ED_SELECTOR._domainkey.$DOMAIN" TXT 2>&1) || fail_with_log "DNS query inside $NS failed: $out" "$NSDNS_LOG"
    expect_ed=$(openssl pkey -in "$ED_KEY" -pubout -outform DER 2>/dev/null | tail -c 32 | base64 -w0)
    grep -qF "v=DKIM1; k=ed25519; p=$expect_ed" <<<"$out" || { printf '%s\n' "$out" >&2; die "netns dnsmasq: wrong TXT for $ED_SELECTOR._domainkey.$DOMAIN"; }
    out=$(ns_query "$RSA_SELECTOR._domainkey.$DOMAIN" TXT 2>&1) || true
    grep -q '^v=DKIM1; k=rsa; p=' <<<"$out" || { printf '%s\n' "$out" >&2; die "netns dnsmasq: no TXT for $RSA_SELECTOR._domainkey.$DOMAIN"; }
    out=$(ns_query example.com A 2>&1) || true
    grep -q '^rcode=REFUSED$' <<<"$out" || { printf '%s\n' "$out" >&2; die "netns dnsmasq does not refuse names outside rt.test"; }
    log "netns     $NS: only lo; dnsmasq 127.0.0.1:53 ok (DKIM TXT served, other names REFUSED)"

    # End to end: one message signed with both keys through 2528 to carol
    # (INBOX) and carol+junk (Sieve -> Junk), and one through 2525 to
    # carol+junk@lasthop.rt.test (2525 -> 2528, the +detail kept). Removed again.
    local tmp token1 token2 carol="$MAILROOT/rt.test/carol" f1 f2 f3
    tmp=$(mktemp -d)
    token1="rt-auth-selfcheck-$$-$RANDOM"; token2="rt-auth-selfcheck-lasthop-$$-$RANDOM"
    signed_message "$tmp/m1" "$token1" "postmaster@$DOMAIN" "carol@$DOMAIN" \
        "$RSA_KEY:$RSA_SELECTOR:rsa" "$ED_KEY:$ED_SELECTOR:ed25519" \
        || { rm -rf "$tmp"; die "dkimpy could not sign the self-check message"; }
    signed_message "$tmp/m2" "$token2" "postmaster@$DOMAIN" "carol+junk@$LASTHOP_DOMAIN" "$RSA_KEY:$RSA_SELECTOR:rsa" \
        || { rm -rf "$tmp"; die "dkimpy could not sign the self-check message"; }
    out=$(timeout 30 swaks --server "127.0.0.1:$AUTH_PORT" --ehlo client.rt.test --from "postmaster@$DOMAIN" \
          --to "carol@$DOMAIN,carol+junk@$DOMAIN" --data "$tmp/m1" 2>&1) \
        || { rm -rf "$tmp"; printf '%s\n' "$out" >&2; fail_with_log "cannot submit the self-check message on 127.0.0.1:$AUTH_PORT" \
             "$LOGS/postfix.log" "$OPENDKIM_LOG" "$OPENDMARC_LOG" "$SPF_LOG"; }
    grep -q '250[ -]DSN' <<<"$out" && { rm -rf "$tmp"; printf '%s\n' "$out" >&2; die "127.0.0.1:$AUTH_PORT advertises DSN"; }
    out=$(timeout 30 swaks --server 127.0.0.1:2525 --ehlo client.rt.test --from "postmaster@$DOMAIN" \
          --to "carol+junk@$LASTHOP_DOMAIN" --data "$tmp/m2" 2>&1) \
        || { rm -rf "$tmp"; printf '%s\n' "$out" >&2; fail_with_log "cannot submit the lasthop self-check message on 127.0.0.1:2525" "$LOGS/postfix.log"; }
    rm -rf "$tmp"
    f1=$(wait_file_with "$carol/new" "$token1" 20) \
        || fail_with_log "self-check to carol@$DOMAIN via $AUTH_PORT not in $carol/new within 20 s" "$LOGS/postfix.log" "$LOGS/dovecot.log"
    f2=$(wait_file_with "$carol/.Junk/new" "$token1" 20) \
        || fail_with_log "self-check to carol+junk@$DOMAIN not filed into $carol/.Junk/new within 20 s (Sieve)" "$LOGS/postfix.log" "$LOGS/dovecot.log"
    f3=$(wait_file_with "$carol/.Junk/new" "$token2" 30) \
        || fail_with_log "self-check to carol+junk@$LASTHOP_DOMAIN via 2525 -> $AUTH_PORT not in $carol/.Junk/new within 30 s" "$LOGS/postfix.log" "$LOGS/dovecot.log"
    # The mailboxes are left as they were; the last self-check's messages stay
    # in the log directory for a look.
    cp -f -- "$f1" "$LOGS/auth-selfcheck-2528.eml"
    cp -f -- "$f3" "$LOGS/auth-selfcheck-lasthop.eml"
    rm -f -- "$f1" "$f2" "$f3"
    local a="$AUTHSERV_ID;"
    expect_ar "$LOGS/auth-selfcheck-2528.eml" "self-check via $AUTH_PORT" \
        "$a.* spf=pass .*smtp\.mailfrom=(postmaster@)?$DOMAIN" \
        "$a.* dkim=pass .*header\.d=$DOMAIN .*header\.s=$RSA_SELECTOR" \
        "$a.* dkim=pass .*header\.d=$DOMAIN .*header\.s=$ED_SELECTOR" \
        "$a.* dmarc=pass .*header\.from=$DOMAIN"
    expect_ar "$LOGS/auth-selfcheck-lasthop.eml" "self-check via 2525 -> $AUTH_PORT" \
        "$a.* spf=pass" "$a.* dkim=pass .*header\.s=$RSA_SELECTOR" "$a.* dmarc=pass"
    log "auth path 127.0.0.1:$AUTH_PORT ok (A-R $AUTHSERV_ID: spf=pass dkim=pass rsa+ed25519 dmarc=pass; carol+junk -> Junk; $LASTHOP_DOMAIN via 2525)"
}

write_env_file() {
    local l
    {
        printf '# Generated by scripts/test-env-auth.sh start -- sourced by env.sh.\n'
        printf "export ROUNDTRIP_TEST_SMTP_AUTH=127.0.0.1:%s\n" "$AUTH_PORT"
        printf "export ROUNDTRIP_TEST_LASTHOP_DOMAIN=%s\n" "$LASTHOP_DOMAIN"
        printf "export ROUNDTRIP_TEST_SIEVE_USER=%s\n" "$SIEVE_USER"
        printf "export ROUNDTRIP_TEST_AUTHSERV_ID=%s\n" "$AUTHSERV_ID"
        printf "export ROUNDTRIP_TEST_DKIM_DOMAIN=%s\n" "$DOMAIN"
        printf "export ROUNDTRIP_TEST_DKIM_RSA_KEY='%s'\n" "$RSA_KEY"
        printf "export ROUNDTRIP_TEST_DKIM_RSA_SELECTOR=%s\n" "$RSA_SELECTOR"
        printf "export ROUNDTRIP_TEST_DKIM_ED25519_KEY='%s'\n" "$ED_KEY"
        printf "export ROUNDTRIP_TEST_DKIM_ED25519_SELECTOR=%s\n" "$ED_SELECTOR"
        printf "export ROUNDTRIP_TEST_DKIM_WRONG_KEY='%s'\n" "$WRONG_KEY"
        printf "export ROUNDTRIP_TEST_SPF_FAIL_DOMAIN=%s\n" "$FAIL_DOMAIN"
        for l in OPENDKIM:"$OPENDKIM_LOG" OPENDMARC:"$OPENDMARC_LOG" SPF:"$SPF_LOG"; do
            [[ -f ${l#*:} ]] && printf "export ROUNDTRIP_TEST_%s_LOG='%s'\n" "${l%%:*}" "${l#*:}"
        done
    } | write_if_changed "$ENV_FILE" || true
}

# ---------------------------------------------------------------- commands

cmd_start() {
    need_root "network namespace, daemons, packages"
    install_packages
    local u; for u in opendkim opendmarc policyd-spf postfix; do
        getent passwd "$u" >/dev/null || die "no user $u (its package creates it)"
    done
    [[ -f $PF_CONF/main.cf ]] || die "no $PF_CONF/main.cf: run scripts/test-env.sh start (it calls this script)"
    mkdir -p "$AUTH" "$LOGS"
    chown root:root "$AUTH"; chmod 755 "$AUTH"
    setup_keys
    setup_netns
    local ns_new=$NS_CREATED dns_c=0 syslog_c=0 dkim_c=0 dmarc_c=0 spf_c=0
    write_nsdev && { syslog_c=1; dkim_c=1; dmarc_c=1; spf_c=1; }
    write_syslog_receiver && syslog_c=1
    write_nsdns_config && dns_c=1
    write_opendkim_config && dkim_c=1
    write_opendmarc_config && dmarc_c=1
    write_spf_config && spf_c=1
    # A namespace made anew holds none of the old daemons' sockets: restart all.
    if ((ns_new)); then dns_c=1; dkim_c=1; dmarc_c=1; spf_c=1; fi
    # The daemons' /dev/log points at the receiver's socket: a new receiver
    # (new socket) means their syslog connections must be made again.
    if ! pid_alive "$(syslog_pid)"; then syslog_c=1; fi
    if ((syslog_c)); then dkim_c=1; dmarc_c=1; spf_c=1; fi
    start_syslog "$syslog_c"
    start_nsdns "$dns_c"
    start_opendkim "$dkim_c"
    start_opendmarc "$dmarc_c"
    start_spf "$spf_c"
    verify_auth
    write_env_file
    log "ready ($ENV_FILE)"
}

cmd_stop() {
    need_root "network namespace, daemons, packages"
    local pid
    pid=$(spf_pid);       if pid_alive "$pid"; then stop_pid "$pid" "-$pid"; log "policyd-spf (socat) stopped"; else log "policyd-spf not running"; fi
    pid=$(opendmarc_pid); if pid_alive "$pid"; then stop_pid "$pid"; log "opendmarc stopped"; else log "opendmarc not running"; fi
    pid=$(opendkim_pid);  if pid_alive "$pid"; then stop_pid "$pid"; log "opendkim stopped"; else log "opendkim not running"; fi
    pid=$(nsdns_pid);     if pid_alive "$pid"; then stop_pid "$pid"; log "netns dnsmasq stopped"; else log "netns dnsmasq not running"; fi
    pid=$(syslog_pid);    if pid_alive "$pid"; then stop_pid "$pid"; log "syslog receiver stopped"; fi
    rm -f "$SPF_PID" "$NSDNS_PID" "$SYSLOG_PID" "$SPF_SOCK" "$SYSLOG_SOCK" \
          "$OPENDKIM_SOCK" "$OPENDMARC_SOCK" "$OPENDKIM_DIR/opendkim.pid" "$OPENDMARC_DIR/opendmarc.pid"
    if ns_exists; then
        # Anything still inside (none of ours should be) keeps the namespace alive.
        pid=$(ip netns pids "$NS" 2>/dev/null | tr '\n' ' ')
        [[ -n ${pid// } ]] && log "warning: processes still in $NS: $pid"
        ip netns del "$NS" && log "network namespace $NS deleted"
    fi
    rm -rf "$NS_ETC"
    rmdir /etc/netns 2>/dev/null || true   # only if empty (ip netns made none of it)
}

cmd_status() {
    local rc=0 p pid
    for p in opendkim opendmarc spf nsdns; do
        pid=$("${p}_pid")
        if pid_alive "$pid" && in_ns "$pid"; then log "$p running (pid $pid, netns $NS)"
        else log "$p NOT running"; rc=1; fi
    done
    pid=$(syslog_pid)
    if pid_alive "$pid"; then log "syslog receiver running (pid $pid)"; else log "syslog receiver NOT running"; rc=1; fi
    if ns_exists; then log "netns $NS exists"; else log "netns $NS missing"; rc=1; fi
    for p in "$OPENDKIM_SOCK" "$OPENDMARC_SOCK" "$SPF_SOCK"; do
        if [[ -S $p ]]; then log "  socket $p"; else log "  socket $p MISSING"; rc=1; fi
    done
    return $rc
}

case "${1:-}" in
    start)   cmd_start ;;
    stop)    cmd_stop ;;
    status)  cmd_status ;;
    records) print_records ;;
    *) echo "usage: $0 start|stop|status|records" >&2; exit 2 ;;
esac
