#!/usr/bin/env bash
# scripts/test-env.sh start|stop|status
#
# Installs (if missing) and runs the REAL mail services that roundtrip's
# integration tests talk to, on 127.0.0.1 only:
#
#   Postfix   127.0.0.1:2525  SMTP, DSN + STARTTLS (may)
#             127.0.0.1:2526  SMTP without DSN in EHLO
#             127.0.0.1:2587  submission: STARTTLS required, SASL (Dovecot)
#             127.0.0.1:2465  submissions: implicit TLS, SASL (Dovecot)
#             127.0.0.1:2528  SMTP without DSN, through real SPF/DKIM/DMARC checks
#                             (policyd-spf, OpenDKIM, OpenDMARC add
#                             Authentication-Results, authserv-id mx.rt.test;
#                             see scripts/test-env-auth.sh, which runs them)
#   Dovecot   127.0.0.1:2143  IMAP (STARTTLS)    127.0.0.1:2993 IMAPS
#             127.0.0.1:2110  POP3 (STLS)        127.0.0.1:2995 POP3S
#             LMTP on the UNIX socket private/dovecot-lmtp in Postfix's queue
#             directory (for Postfix only), with Sieve
#   dnsmasq   127.0.0.1:5353  UDP+TCP, static MX/A records and the rt.test
#                             SPF/DMARC/DKIM TXT records, never forwards
#
# Mail domains: rt.test (mailboxes alice, bob, reports, postmaster, carol;
# Maildir). alice, bob, reports, postmaster are delivered by Postfix virtual;
# carol (carol+DETAIL too) by Dovecot LMTP, whose global Sieve script files
# envelope detail "junk" (carol+junk@rt.test) into Junk, a \Junk special-use
# mailbox (Maildir++ .Junk; every user's namespace has it).
# relay.rt.test -> smtp:[127.0.0.1]:2626 and return.rt.test ->
# smtp:[127.0.0.1]:2627 (nothing listens there unless a test does);
# lasthop.rt.test -> smtp:[127.0.0.1]:2528 (next hop without DSN, so a relayed
# DSN; 2528 rewrites USER[+DETAIL]@lasthop.rt.test to USER[+DETAIL]@rt.test).
# Every other destination is refused at RCPT or bounced by Postfix's error
# transport: no mail and no DNS query ever leaves the machine (the auth daemons
# resolve inside a network namespace of their own, see scripts/test-env-auth.sh).
#
# All state (certificates, configs, queue, Maildirs, logs, pid files) lives in
# $ROUNDTRIP_TEST_DIR (default /tmp/roundtrip-test-env). After `start`,
# `source "$ROUNDTRIP_TEST_DIR/env.sh"` exports the ROUNDTRIP_TEST_* variables.
#
# Knobs (environment, read by `start`):
#   ROUNDTRIP_TEST_DIR                state directory
#   ROUNDTRIP_TEST_DELAY_WARNING_TIME Postfix delay_warning_time (default 3s, so deferred probes get delay DSNs fast)
#   ROUNDTRIP_TEST_QUEUE_LIFETIME     maximal_queue_lifetime and
#                                     bounce_queue_lifetime (default 5d)
#   ROUNDTRIP_TEST_NO_INSTALL=1       never call apt-get (fail if missing)
#   ROUNDTRIP_TEST_KEEP_QUEUE=1       keep queued mail when Postfix is (re)started
#                                     (default: the queue is emptied then)
#
# Runs as root on Debian 12 without systemd. `start` is idempotent: running
# services whose configuration did not change are left alone.

set -euo pipefail

LOG_NAME=test-env
# shellcheck source=scripts/test-env-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/test-env-lib.sh"

PASSWORD='s3cret-Canary-42'
MAIL_USER=rtmail
USERS=(alice bob reports postmaster carol) # Maildirs in rt.test
LOGIN_USERS=(alice bob reports carol)      # users with the test password
LMTP_USERS=(carol)                         # delivered by Dovecot LMTP + Sieve, not Postfix virtual

PF_CONF="$STATE/postfix/etc"
PF_QUEUE="$STATE/postfix/spool"
PF_DATA="$STATE/postfix/data"
DC_DIR="$STATE/dovecot"
DC_CONF="$DC_DIR/dovecot.conf"
DC_RUN="$DC_DIR/run"
DNS_CONF="$STATE/dnsmasq/dnsmasq.conf"
DNS_PID="$STATE/dnsmasq/dnsmasq.pid"
LOGS="$STATE/logs"
MAILROOT="$STATE/mail"
# scripts/test-env-auth.sh runs the daemons behind these sockets (same paths there).
AUTH="$STATE/auth"
AUTH_SCRIPT="$(dirname "${BASH_SOURCE[0]}")/test-env-auth.sh"
SIEVE_DIR="$DC_DIR/sieve"

# Installed with --no-install-recommends, so every package a test relies on
# is named here, recommends included: swaks needs libnet-ssleay-perl for
# STARTTLS/implicit TLS and libio-socket-inet6-perl for ::1.
PACKAGES=(postfix dovecot-core dovecot-imapd dovecot-pop3d dnsmasq-base openssl
          swaks libnet-ssleay-perl libio-socket-inet6-perl libauthen-sasl-perl
          libsisimai-perl libsqlite3-dev ca-certificates python3 python3-flufl.bounce
          prometheus chromium fonts-dejavu-core curl \
          postgresql postgresql-client iproute2 \
          python3-dkim python3-nacl \
          opendkim opendkim-tools opendmarc dbconfig-no-thanks publicsuffix \
          postfix-policyd-spf-python python3-spf python3-dnspython \
          dovecot-lmtpd dovecot-sieve socat util-linux)
# python3-dkim: the independent DKIM verifier of ArrivalTests. opendkim through
# socat: the auth path of scripts/test-env-auth.sh (dbconfig-no-thanks keeps
# opendmarc from pulling in a MariaDB client; util-linux: setsid, mount).
# dovecot-lmtpd, dovecot-sieve: carol's delivery (LMTP + Sieve).

# ---------------------------------------------------------------- packages

install_packages() {
    if ! pkg_installed postfix; then
        echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
        echo "postfix postfix/mailname string mx.rt.test" | debconf-set-selections
    fi
    apt_install "${PACKAGES[@]}"
}

# ---------------------------------------------------------------- helpers

wait_port() { # port seconds
    local port=$1 deadline=$((SECONDS + ${2:-20}))
    while ((SECONDS < deadline)); do
        port_open "$port" && return 0
        sleep 0.2
    done
    return 1
}

# run_logged FILE cmd...: run a command that may leave a daemon behind with its
# output in FILE (never in a pipe: a daemon would keep a $(...) open forever).
run_logged() {
    local f=$1; shift
    "$@" >"$f" 2>&1 </dev/null
}


postfix_running() { postfix -c "$PF_CONF" status >/dev/null 2>&1; }
# A pid file only counts if that pid is still the program it names (a pid
# file left behind by a killed run may point at an unrelated process).
pid_is() { # pid comm
    [[ -n $1 ]] && [[ $(cat "/proc/$1/comm" 2>/dev/null) == "$2" ]] && printf '%s' "$1"
    return 0
}
dovecot_pid() { pid_is "$(pid_from "$DC_RUN/master.pid")" dovecot; }
dnsmasq_pid() { pid_is "$(pid_from "$DNS_PID")" dnsmasq; }

# DNS query over UDP with perl (perl-base is always there): prints
# "rcode=N" then one "MX pref name" line per MX answer.
dns_mx() { # name
    perl -e '
        use strict; use IO::Socket::INET;
        my ($name,$port)=@ARGV;
        my $s=IO::Socket::INET->new(PeerAddr=>"127.0.0.1",PeerPort=>$port,Proto=>"udp") or die "socket: $!";
        my $q=pack("n6",0x4242,0x0100,1,0,0,0);
        $q.=join("",map { chr(length $_).$_ } split /\./,$name)."\0".pack("n2",15,1);
        $s->send($q) or die "send: $!";
        my $r; my $rin=""; vec($rin,fileno($s),1)=1;
        select($rin,undef,undef,3) or die "timeout\n";
        $s->recv($r,4096);
        my ($id,$fl,$qd,$an)=unpack("n4",$r);
        print "rcode=",($fl & 15),"\n";
        my $readname; $readname=sub { my ($o)=@_; my @l; my $end;
            while (1) { my $len=ord(substr($r,$o,1));
                if ($len==0) { $o++; last }
                if (($len & 0xC0)==0xC0) { my $p=unpack("n",substr($r,$o,2)) & 0x3FFF;
                    $end//= $o+2; my ($n)=$readname->($p); push @l,$n if length $n; $o=$end; return (join(".",@l),$end) }
                push @l,substr($r,$o+1,$len); $o+=$len+1 }
            return (join(".",@l), $end // $o) };
        my $o=12; for (1..$qd) { (undef,$o)=$readname->($o); $o+=4 }
        for (1..$an) { my $n; ($n,$o)=$readname->($o);
            my ($t,$c,$ttl,$len)=unpack("n n N n",substr($r,$o,10)); $o+=10;
            if ($t==15) { my $pref=unpack("n",substr($r,$o,2)); my ($x)=$readname->($o+2);
                print "MX $pref ", (length $x ? $x : "."), "\n" }
            $o+=$len }
    ' "$1" 5353
}

# ---------------------------------------------------------------- setup

setup_user() {
    if ! getent passwd "$MAIL_USER" >/dev/null; then
        useradd --system --user-group --home-dir /nonexistent --no-create-home \
                --shell /usr/sbin/nologin "$MAIL_USER" || die "cannot create user $MAIL_USER"
    fi
    MAIL_UID=$(id -u "$MAIL_USER"); MAIL_GID=$(id -g "$MAIL_USER")
    ((MAIL_UID >= 100)) || die "uid of $MAIL_USER is $MAIL_UID (< 100, Postfix virtual_minimum_uid)"
}

setup_dirs() {
    mkdir -p "$STATE"
    chmod 755 "$STATE"
    mkdir -p "$PF_CONF" "$PF_DATA" "$PF_QUEUE" "$DC_DIR" "$DC_RUN" "$DC_DIR/state" \
             "$STATE/dnsmasq" "$LOGS" "$MAILROOT/rt.test"
    chmod 755 "$STATE/postfix" "$PF_CONF" "$DC_DIR" "$STATE/dnsmasq"
    chown root:root "$PF_QUEUE"; chmod 755 "$PF_QUEUE"
    chown postfix:postfix "$PF_DATA"; chmod 700 "$PF_DATA"
    chmod 755 "$LOGS"
    local u d
    for u in "${USERS[@]}"; do
        for d in cur new tmp; do mkdir -p "$MAILROOT/rt.test/$u/$d"; done
    done
    chown -R "$MAIL_USER:$MAIL_USER" "$MAILROOT"
    chmod 755 "$MAILROOT"
    printf '%s' "$PASSWORD" > "$STATE/password"
    chmod 600 "$STATE/password"
}

setup_certs() {
    local d=$STATE
    if [[ -s $d/ca.pem && -s $d/ca.key && -s $d/server.pem && -s $d/server.key && -s $d/other-ca.pem ]] \
       && openssl x509 -checkend 604800 -noout -in "$d/server.pem" >/dev/null 2>&1 \
       && openssl x509 -checkend 604800 -noout -in "$d/ca.pem" >/dev/null 2>&1 \
       && openssl verify -CAfile "$d/ca.pem" "$d/server.pem" >/dev/null 2>&1; then
        return 0
    fi
    log "creating test CA and server certificate in $d"
    local tmp; tmp=$(mktemp -d)
    cat > "$tmp/ca.ext" <<'EOF'
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
    cat > "$tmp/server.ext" <<'EOF'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, DNS:mx.rt.test, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
    (
        set -e
        cd "$tmp"
        openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
            -subj "/O=roundtrip tests/CN=roundtrip test CA" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
            -keyout ca.key -out ca.pem 2>/dev/null
        openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
            -subj "/O=roundtrip tests/CN=unrelated other test CA" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
            -keyout other-ca.key -out other-ca.pem 2>/dev/null
        openssl req -new -newkey rsa:2048 -nodes -sha256 \
            -subj "/O=roundtrip tests/CN=mx.rt.test" -keyout server.key -out server.csr 2>/dev/null
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
            -days 825 -sha256 -extfile server.ext -out server.pem 2>/dev/null
        openssl verify -CAfile ca.pem server.pem >/dev/null
    ) || { rm -rf "$tmp"; die "openssl failed to create the test certificates"; }
    install -m 644 "$tmp/ca.pem" "$tmp/other-ca.pem" "$tmp/server.pem" "$d/"
    install -m 600 "$tmp/ca.key" "$tmp/other-ca.key" "$tmp/server.key" "$d/"
    cat "$tmp/server.pem" "$tmp/ca.pem" > "$d/server-chain.pem"
    rm -rf "$tmp"
    CERTS_CHANGED=1
}

# ---------------------------------------------------------------- postfix

write_postfix_config() {
    local changed=1
    local delay=${ROUNDTRIP_TEST_DELAY_WARNING_TIME:-3s}
    local life=${ROUNDTRIP_TEST_QUEUE_LIFETIME:-5d}
    local u
    {
        for u in "${USERS[@]}"; do printf '%s@rt.test\trt.test/%s/\n' "$u" "$u"; done
    } | write_if_changed "$PF_CONF/vmailbox" && changed=0
    printf 'abuse@rt.test\tpostmaster@rt.test\nMAILER-DAEMON@rt.test\tpostmaster@rt.test\n' \
        | write_if_changed "$PF_CONF/valias" && changed=0
    {
        printf 'relay.rt.test\tsmtp:[127.0.0.1]:2626\nreturn.rt.test\tsmtp:[127.0.0.1]:2627\n'
        printf 'lasthop.rt.test\tsmtp:[127.0.0.1]:2528\n'
        # user@domain also matches user+detail@domain (recipient_delimiter);
        # the LMTP RCPT keeps the +detail.
        for u in "${LMTP_USERS[@]}"; do printf '%s@rt.test\tlmtp:unix:private/dovecot-lmtp\n' "$u"; done
    } | write_if_changed "$PF_CONF/transport" && changed=0
    # cleanup-auth (behind 2528) only: the last hop's domain is rt.test again.
    printf '@lasthop.rt.test\t@rt.test\n' | write_if_changed "$PF_CONF/valias-lasthop" && changed=0

    write_if_changed "$PF_CONF/main.cf" <<EOF && changed=0
# Generated by scripts/test-env.sh -- roundtrip integration test MTA. Loopback only.
compatibility_level = 3.6
config_directory = $PF_CONF
queue_directory = $PF_QUEUE
data_directory = $PF_DATA
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop

myhostname = mx.rt.test
mydomain = rt.test
myorigin = rt.test
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks_style = host
mynetworks = 127.0.0.0/8
relayhost =
smtpd_banner = \$myhostname ESMTP roundtrip test MTA
biff = no
append_dot_mydomain = no
readme_directory = no

# No DNS, ever: the next hops below are numeric; everything else is refused.
smtp_dns_support_level = disabled
lmtp_dns_support_level = disabled
smtpd_peername_lookup = no
alias_maps =
alias_database =
local_recipient_maps =
local_transport = error:5.1.1 local delivery disabled in the roundtrip test environment
default_transport = error:5.4.4 outbound mail disabled in the roundtrip test environment
relay_transport = error:5.4.4 outbound mail disabled in the roundtrip test environment

virtual_mailbox_domains = rt.test
virtual_mailbox_base = $MAILROOT
virtual_mailbox_maps = texthash:$PF_CONF/vmailbox
virtual_alias_maps = texthash:$PF_CONF/valias
virtual_uid_maps = static:$MAIL_UID
virtual_gid_maps = static:$MAIL_GID
virtual_minimum_uid = 100
recipient_delimiter = +
relay_domains = relay.rt.test, return.rt.test, lasthop.rt.test
relay_recipient_maps =
transport_maps = texthash:$PF_CONF/transport

smtpd_relay_restrictions = reject_unauth_destination
smtpd_recipient_restrictions = reject_unlisted_recipient
smtpd_sasl_auth_enable = no

smtpd_tls_cert_file = $STATE/server.pem
smtpd_tls_key_file = $STATE/server.key
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
smtp_tls_security_level = none

maillog_file = $LOGS/postfix.log
maillog_file_prefixes = $STATE
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
delay_warning_time = $delay
maximal_queue_lifetime = $life
bounce_queue_lifetime = $life

# The auth path 127.0.0.1:2528 (master.cf; daemons: scripts/test-env-auth.sh).
rt_auth_recipient_restrictions = reject_unlisted_recipient, check_policy_service unix:$AUTH/spf/spf.sock
rt_auth_milters = unix:$AUTH/opendkim/opendkim.sock, unix:$AUTH/opendmarc/opendmarc.sock
rt_auth_virtual_alias_maps = texthash:$PF_CONF/valias, texthash:$PF_CONF/valias-lasthop
EOF

    # Every service unchrooted (the queue dir is not a prepared chroot).
    write_if_changed "$PF_CONF/master.cf" <<'EOF' && changed=0
# Generated by scripts/test-env.sh. service type private unpriv chroot wakeup maxproc command
127.0.0.1:2525 inet n - n - - smtpd
  -o syslog_name=postfix/smtp-2525
127.0.0.1:2526 inet n - n - - smtpd
  -o syslog_name=postfix/nodsn-2526
  -o smtpd_discard_ehlo_keywords=dsn
127.0.0.1:2587 inet n - n - - smtpd
  -o syslog_name=postfix/submission-2587
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_sasl_type=dovecot
  -o smtpd_sasl_path=private/auth
  -o smtpd_tls_auth_only=yes
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject
127.0.0.1:2465 inet n - n - - smtpd
  -o syslog_name=postfix/submissions-2465
  -o smtpd_tls_wrappermode=yes
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_sasl_type=dovecot
  -o smtpd_sasl_path=private/auth
  -o smtpd_tls_auth_only=yes
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject
127.0.0.1:2528 inet n - n - - smtpd
  -o syslog_name=postfix/auth-2528
  -o smtpd_discard_ehlo_keywords=dsn
  -o smtpd_recipient_restrictions=$rt_auth_recipient_restrictions
  -o smtpd_milters=$rt_auth_milters
  -o milter_default_action=tempfail
  -o cleanup_service_name=cleanup-auth
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
cleanup-auth unix n     -       n       -       0       cleanup
  -o syslog_name=postfix/cleanup-auth
  -o virtual_alias_maps=$rt_auth_virtual_alias_maps
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
    return $changed
}

start_postfix() {
    local changed=$1
    if postfix_running; then
        if ((changed)); then
            log "postfix: configuration changed, restarting"
            postfix -c "$PF_CONF" stop >/dev/null 2>&1 || true
            local i; for i in $(seq 50); do postfix_running || break; sleep 0.2; done
        else
            return 0
        fi
    fi
    # A fresh start begins with an empty queue: mail deferred by an earlier
    # run (e.g. to relay.rt.test with nothing on 2626) would otherwise reach
    # a later test's listener.
    if [[ ${ROUNDTRIP_TEST_KEEP_QUEUE:-0} != 1 && -d "$PF_QUEUE/deferred" ]]; then
        postsuper -c "$PF_CONF" -d ALL >/dev/null 2>&1 || true
    fi
    run_logged "$LOGS/postfix-start.out" postfix -c "$PF_CONF" check \
        || fail_with_log "postfix check failed" "$LOGS/postfix-start.out" "$LOGS/postfix.log"
    run_logged "$LOGS/postfix-start.out" postfix -c "$PF_CONF" start \
        || fail_with_log "postfix failed to start" "$LOGS/postfix-start.out" "$LOGS/postfix.log"
}

# ---------------------------------------------------------------- dovecot

write_dovecot_config() {
    local changed=1 u
    {
        for u in "${LOGIN_USERS[@]}"; do printf '%s@rt.test:{PLAIN}%s\n' "$u" "$PASSWORD"; done
    } | write_if_changed "$DC_DIR/users" && changed=0
    chown root:dovecot "$DC_DIR/users"; chmod 640 "$DC_DIR/users"

    write_if_changed "$DC_CONF" <<EOF && changed=0
# Generated by scripts/test-env.sh -- roundtrip integration test IMAP/POP3. Loopback only.
base_dir = $DC_RUN
state_dir = $DC_DIR/state
instance_name = roundtrip-test
protocols = imap pop3 lmtp
listen = 127.0.0.1
log_path = $LOGS/dovecot.log
auth_verbose = yes
auth_mechanisms = plain login
disable_plaintext_auth = no
ssl = yes
ssl_cert = <$STATE/server.pem
ssl_key = <$STATE/server.key
mail_location = maildir:$MAILROOT/%d/%n
first_valid_uid = $MAIL_UID
last_valid_uid = $MAIL_UID
first_valid_gid = $MAIL_GID
last_valid_gid = $MAIL_GID
pop3_uidl_format = %08Xu%08Xv
imap_idle_notify_interval = 2 mins
recipient_delimiter = +
lmtp_save_to_detail_mailbox = no

# The implicit default namespace, spelled out to give every user a \\Junk
# special-use mailbox (Maildir++: .Junk); the separator stays Maildir's ".".
namespace inbox {
  inbox = yes
  mailbox Junk {
    special_use = \\Junk
    auto = subscribe
  }
}

passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%Lu $DC_DIR/users
}
userdb {
  driver = static
  args = uid=$MAIL_UID gid=$MAIL_GID home=$MAILROOT/%d/%n allow_all_users=yes
}

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = 2143
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = 2993
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = 2110
  }
  inet_listener pop3s {
    address = 127.0.0.1
    port = 2995
    ssl = yes
  }
}
service auth {
  unix_listener $PF_QUEUE/private/auth {
    mode = 0660
    user = postfix
    group = postfix
  }
}

# LMTP for Postfix only (carol@rt.test: transport_maps), with Sieve.
service lmtp {
  unix_listener $PF_QUEUE/private/dovecot-lmtp {
    mode = 0600
    user = postfix
    group = postfix
  }
}
protocol lmtp {
  mail_plugins = \$mail_plugins sieve
  hostname = mx.rt.test
}
plugin {
  sieve_before = $SIEVE_DIR/before.sieve
}
EOF
    return $changed
}

# The global Sieve script, compiled by root (LMTP, running as $MAIL_USER, could
# not write the binary next to it). Run after Dovecot's configuration is written.
write_sieve_script() {
    mkdir -p "$SIEVE_DIR"; chmod 755 "$SIEVE_DIR"
    local changed=1
    write_if_changed "$SIEVE_DIR/before.sieve" <<'EOF' && changed=0
# Generated by scripts/test-env.sh: envelope recipient detail "junk" -> Junk.
require ["fileinto", "envelope", "subaddress", "mailbox"];
if envelope :detail "to" "junk" {
  fileinto :create "Junk";
}
EOF
    if ((changed == 0)) || [[ ! -s $SIEVE_DIR/before.svbin || $SIEVE_DIR/before.svbin -ot $SIEVE_DIR/before.sieve ]]; then
        run_logged "$LOGS/sievec.out" sievec -c "$DC_CONF" "$SIEVE_DIR/before.sieve" "$SIEVE_DIR/before.svbin" \
            || fail_with_log "sievec cannot compile $SIEVE_DIR/before.sieve" "$LOGS/sievec.out"
        chmod 644 "$SIEVE_DIR/before.svbin"
    fi
}

stop_dovecot() {
    local pid; pid=$(dovecot_pid)
    pid_alive "$pid" || return 0
    kill "$pid" 2>/dev/null || true
    local i; for i in $(seq 50); do pid_alive "$pid" || return 0; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
}

start_dovecot() {
    local changed=$1
    if pid_alive "$(dovecot_pid)"; then
        ((changed)) || return 0
        log "dovecot: configuration changed, restarting"
        stop_dovecot
    fi
    run_logged "$LOGS/dovecot-start.out" dovecot -c "$DC_CONF" \
        || fail_with_log "dovecot failed to start" "$LOGS/dovecot-start.out" "$LOGS/dovecot.log"
}

# ---------------------------------------------------------------- dnsmasq

write_dnsmasq_config() {
    local records
    # SPF, DMARC and DKIM TXT records (the DKIM keys are made on first use).
    records=$(ROUNDTRIP_TEST_DIR="$STATE" bash "$AUTH_SCRIPT" records) \
        || die "scripts/test-env-auth.sh records failed"
    write_if_changed "$DNS_CONF" <<EOF
# Generated by scripts/test-env.sh -- roundtrip integration test DNS. Loopback only,
# authoritative-ish for rt.test, never forwards anything upstream.
port=5353
listen-address=127.0.0.1
bind-interfaces
no-resolv
no-hosts
no-poll
no-negcache
pid-file=$DNS_PID
log-facility=$LOGS/dnsmasq.log
log-queries
local=/rt.test/
mx-host=rt.test,mx.rt.test,10
mx-host=multi.rt.test,mx1.rt.test,20
mx-host=multi.rt.test,mx2.rt.test,10
mx-host=multi.rt.test,mx3.rt.test,30
host-record=mx.rt.test,127.0.0.1
host-record=mx1.rt.test,127.0.0.1
host-record=mx2.rt.test,127.0.0.1
host-record=mx3.rt.test,127.0.0.1
host-record=noMX.rt.test,127.0.0.1
# RFC 7505 null MX (preference 0, exchange "."); dnsmasq 2.90 encodes "." as the
# root name. Equivalent raw form if a dnsmasq ever refuses it:
#   dns-rr=nullmx.rt.test,15,000000
mx-host=nullmx.rt.test,.,0
$records
EOF
}

stop_dnsmasq() {
    local pid; pid=$(dnsmasq_pid)
    pid_alive "$pid" || { rm -f "$DNS_PID"; return 0; }
    kill "$pid" 2>/dev/null || true
    local i; for i in $(seq 50); do pid_alive "$pid" || break; sleep 0.1; done
    pid_alive "$pid" && kill -9 "$pid" 2>/dev/null || true
    rm -f "$DNS_PID"
}

start_dnsmasq() {
    local changed=$1
    if pid_alive "$(dnsmasq_pid)"; then
        ((changed)) || return 0
        log "dnsmasq: configuration changed, restarting"
        stop_dnsmasq
    fi
    run_logged "$LOGS/dnsmasq-start.out" dnsmasq --conf-file="$DNS_CONF" --test \
        || fail_with_log "dnsmasq configuration rejected" "$LOGS/dnsmasq-start.out"
    run_logged "$LOGS/dnsmasq-start.out" dnsmasq --conf-file="$DNS_CONF" \
        || fail_with_log "dnsmasq failed to start" "$LOGS/dnsmasq-start.out" "$LOGS/dnsmasq.log"
}

# ---------------------------------------------------------------- verify

verify_all() {
    local p
    # 2528 answers 451 until scripts/test-env-auth.sh has started its milters;
    # that script checks it end to end.
    for p in 2525 2526 2587 2465 2528; do
        wait_port "$p" 20 || fail_with_log "postfix does not accept connections on 127.0.0.1:$p" "$LOGS/postfix.log"
    done
    for p in 2143 2993 2110 2995; do
        wait_port "$p" 20 || fail_with_log "dovecot does not accept connections on 127.0.0.1:$p" "$LOGS/dovecot.log"
    done
    wait_port 5353 20 || fail_with_log "dnsmasq does not accept connections on 127.0.0.1:5353" "$LOGS/dnsmasq.log"
    local deadline=$((SECONDS + 20))
    while [[ ! -S "$PF_QUEUE/private/auth" ]]; do
        ((SECONDS < deadline)) || fail_with_log "dovecot auth socket $PF_QUEUE/private/auth missing" "$LOGS/dovecot.log"
        sleep 0.2
    done
    while [[ ! -S "$PF_QUEUE/private/dovecot-lmtp" ]]; do
        ((SECONDS < deadline)) || fail_with_log "dovecot LMTP socket $PF_QUEUE/private/dovecot-lmtp missing" "$LOGS/dovecot.log"
        sleep 0.2
    done

    local out
    out=$(timeout 20 swaks --server 127.0.0.1:2525 --ehlo client.rt.test --from x@rt.test \
          --to alice@rt.test --quit-after RCPT 2>&1) \
        || { printf '%s\n' "$out" >&2; fail_with_log "SMTP check on 127.0.0.1:2525 failed" "$LOGS/postfix.log"; }
    grep -q '250[ -]DSN' <<<"$out" || { printf '%s\n' "$out" >&2; die "127.0.0.1:2525 does not advertise DSN"; }
    grep -q '250[ -]STARTTLS' <<<"$out" || { printf '%s\n' "$out" >&2; die "127.0.0.1:2525 does not offer STARTTLS"; }
    log "postfix   smtp        127.0.0.1:2525 ok (DSN, STARTTLS; alice@rt.test accepted at RCPT)"

    out=$(timeout 20 swaks --server 127.0.0.1:2526 --ehlo client.rt.test --from x@rt.test \
          --to alice@rt.test --quit-after RCPT 2>&1) \
        || { printf '%s\n' "$out" >&2; fail_with_log "SMTP check on 127.0.0.1:2526 failed" "$LOGS/postfix.log"; }
    grep -q '250[ -]DSN' <<<"$out" && { printf '%s\n' "$out" >&2; die "127.0.0.1:2526 advertises DSN"; }
    log "postfix   smtp-nodsn  127.0.0.1:2526 ok (no DSN in EHLO)"

    out=$(timeout 20 swaks --server 127.0.0.1:2587 --ehlo client.rt.test --tls --from alice@rt.test \
          --to alice@rt.test --auth PLAIN --auth-user alice@rt.test --auth-password "$PASSWORD" \
          --quit-after AUTH 2>&1) \
        || { printf '%s\n' "$out" >&2; fail_with_log "STARTTLS+AUTH check on 127.0.0.1:2587 failed" "$LOGS/postfix.log" "$LOGS/dovecot.log"; }
    log "postfix   submission  127.0.0.1:2587 ok (STARTTLS + AUTH PLAIN via dovecot)"

    out=$(timeout 20 swaks --server 127.0.0.1:2465 --ehlo client.rt.test --tlsc --from alice@rt.test \
          --to alice@rt.test --auth PLAIN --auth-user alice@rt.test --auth-password "$PASSWORD" \
          --quit-after AUTH 2>&1) \
        || { printf '%s\n' "$out" >&2; fail_with_log "implicit TLS+AUTH check on 127.0.0.1:2465 failed" "$LOGS/postfix.log" "$LOGS/dovecot.log"; }
    log "postfix   submissions 127.0.0.1:2465 ok (implicit TLS + AUTH PLAIN)"

    # End to end: a message to postmaster@rt.test must land in its Maildir
    # (catches delivery-side errors such as unreadable lookup tables). The
    # probe is removed again so tests see untouched mailboxes.
    local token="rt-env-selfcheck-$$-$RANDOM" pmdir="$MAILROOT/rt.test/postmaster/new" f deadline2
    out=$(timeout 20 swaks --server 127.0.0.1:2525 --ehlo client.rt.test --from '<>' \
          --to postmaster@rt.test --header "Subject: $token" --body "$token" 2>&1) \
        || { printf '%s\n' "$out" >&2; fail_with_log "cannot submit the self-check message on 127.0.0.1:2525" "$LOGS/postfix.log"; }
    deadline2=$((SECONDS + 15)); f=
    while ((SECONDS < deadline2)); do
        f=$(grep -l -F -- "$token" "$pmdir"/* 2>/dev/null | head -n1 || true)
        [[ -n $f ]] && break
        sleep 0.2
    done
    [[ -n $f ]] || fail_with_log "self-check message to postmaster@rt.test was not delivered to $pmdir within 15 s" "$LOGS/postfix.log"
    rm -f -- "$f"
    log "postfix   delivery    rt.test Maildir delivery ok (postmaster@rt.test, virtual -> $MAILROOT)"

    local banner
    banner=$(timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/2143; head -n1 <&3; printf "a LOGOUT\r\n" >&3' 2>/dev/null || true)
    [[ $banner == "* OK"* ]] || fail_with_log "no IMAP greeting on 127.0.0.1:2143 (got: ${banner:-nothing})" "$LOGS/dovecot.log"
    out=$(doveadm -c "$DC_CONF" auth test alice@rt.test "$PASSWORD" 2>&1) \
        || { printf '%s\n' "$out" >&2; fail_with_log "dovecot rejects alice@rt.test" "$LOGS/dovecot.log"; }
    log "dovecot   imap/pop3   127.0.0.1:2143 (STARTTLS) 2993 (TLS) 2110 (STLS) 2995 (TLS) ok (auth alice@rt.test)"

    out=$(dns_mx multi.rt.test 2>&1) || fail_with_log "DNS query to 127.0.0.1:5353 failed: $out" "$LOGS/dnsmasq.log"
    grep -q '^MX 10 mx2.rt.test$' <<<"$out" || { printf '%s\n' "$out" >&2; die "dnsmasq: unexpected MX answer for multi.rt.test"; }
    log "dnsmasq   dns         127.0.0.1:5353 ok (MX multi.rt.test: $(grep -c '^MX' <<<"$out") records)"
}

write_env_file() {
    write_if_changed "$STATE/env.sh" <<EOF || true
# Generated by scripts/test-env.sh start -- source me.
export ROUNDTRIP_TEST_DIR='$STATE'
export ROUNDTRIP_TEST_SMTP=127.0.0.1:2525
export ROUNDTRIP_TEST_SMTP_NODSN=127.0.0.1:2526
export ROUNDTRIP_TEST_SUBMISSION=127.0.0.1:2587
export ROUNDTRIP_TEST_SUBMISSIONS=127.0.0.1:2465
export ROUNDTRIP_TEST_IMAP=127.0.0.1:2143
export ROUNDTRIP_TEST_IMAPS=127.0.0.1:2993
export ROUNDTRIP_TEST_POP3=127.0.0.1:2110
export ROUNDTRIP_TEST_POP3S=127.0.0.1:2995
export ROUNDTRIP_TEST_DNS=127.0.0.1:5353
export ROUNDTRIP_TEST_CA='$STATE/ca.pem'
export ROUNDTRIP_TEST_OTHER_CA='$STATE/other-ca.pem'
export ROUNDTRIP_TEST_SERVER_CERT='$STATE/server.pem'
export ROUNDTRIP_TEST_SERVER_KEY='$STATE/server.key'
export ROUNDTRIP_TEST_USER=alice@rt.test
export ROUNDTRIP_TEST_PASSWORD_FILE='$STATE/password'
export ROUNDTRIP_TEST_MAILDIR_ROOT='$MAILROOT'
export ROUNDTRIP_TEST_DOMAIN=rt.test
export ROUNDTRIP_TEST_RELAY_DOMAIN=relay.rt.test
export ROUNDTRIP_TEST_RELAY_PORT=2626
export ROUNDTRIP_TEST_RETURN_DOMAIN=return.rt.test
export ROUNDTRIP_TEST_RETURN_PORT=2627
export ROUNDTRIP_TEST_POSTFIX_CONFIG='$PF_CONF'
export ROUNDTRIP_TEST_POSTFIX_LOG='$LOGS/postfix.log'
export ROUNDTRIP_TEST_DOVECOT_LOG='$LOGS/dovecot.log'
[ -f '$STATE/env-auth.sh' ] && . '$STATE/env-auth.sh'
[ -f '$STATE/env-pg.sh' ] && . '$STATE/env-pg.sh'
EOF
}

# ---------------------------------------------------------------- commands

cmd_start() {
    need_root
    install_packages
    setup_user
    setup_dirs
    CERTS_CHANGED=0
    setup_certs
    local pf_changed=0 dc_changed=0 dns_changed=0
    write_postfix_config && pf_changed=1
    write_dovecot_config && dc_changed=1
    write_sieve_script
    write_dnsmasq_config && dns_changed=1
    if ((CERTS_CHANGED)); then pf_changed=1; dc_changed=1; fi
    # Dovecot first: it creates the SASL socket inside Postfix's queue dir,
    # which must exist (postfix check creates the queue subdirectories).
    if [[ ! -d "$PF_QUEUE/private" ]]; then
        run_logged "$LOGS/postfix-start.out" postfix -c "$PF_CONF" check || true
    fi
    start_dovecot "$dc_changed"
    start_postfix "$pf_changed"
    start_dnsmasq "$dns_changed"
    verify_all
    write_env_file
    ROUNDTRIP_TEST_DIR="$STATE" bash "$(dirname "${BASH_SOURCE[0]}")/test-env-mtas.sh" start
    ROUNDTRIP_TEST_DIR="$STATE" bash "$(dirname "${BASH_SOURCE[0]}")/test-env-prometheus.sh" start
    ROUNDTRIP_TEST_DIR="$STATE" bash "$(dirname "${BASH_SOURCE[0]}")/test-env-pg.sh" start
    ROUNDTRIP_TEST_DIR="$STATE" bash "$AUTH_SCRIPT" start
    log "ready: source $STATE/env.sh"
}

cmd_stop() {
    need_root
    if [[ -f "$PF_CONF/main.cf" ]] && postfix_running; then
        postfix -c "$PF_CONF" stop >/dev/null 2>&1 || true
        local i; for i in $(seq 50); do postfix_running || break; sleep 0.2; done
        postfix_running && log "postfix still running?" || log "postfix stopped"
    else
        log "postfix not running"
    fi
    if pid_alive "$(dovecot_pid)"; then stop_dovecot; log "dovecot stopped"; else log "dovecot not running"; fi
    if pid_alive "$(dnsmasq_pid)"; then stop_dnsmasq; log "dnsmasq stopped"; else log "dnsmasq not running"; fi
    ROUNDTRIP_TEST_DIR="$STATE" bash "$(dirname "${BASH_SOURCE[0]}")/test-env-mtas.sh" stop || log "test-env-mtas.sh stop failed"
    ROUNDTRIP_TEST_DIR="$STATE" bash "$(dirname "${BASH_SOURCE[0]}")/test-env-prometheus.sh" stop || log "test-env-prometheus.sh stop failed"
    ROUNDTRIP_TEST_DIR="$STATE" bash "$(dirname "${BASH_SOURCE[0]}")/test-env-pg.sh" stop || log "test-env-pg.sh stop failed"
    ROUNDTRIP_TEST_DIR="$STATE" bash "$AUTH_SCRIPT" stop || log "test-env-auth.sh stop failed"
}

cmd_status() {
    local rc=0 p state
    if [[ -f "$PF_CONF/main.cf" ]] && postfix_running; then
        log "postfix  running (pid $(pid_from "$PF_QUEUE/pid/master.pid"), config $PF_CONF)"
    else log "postfix  NOT running"; rc=1; fi
    if pid_alive "$(dovecot_pid)"; then log "dovecot  running (pid $(dovecot_pid), config $DC_CONF)"
    else log "dovecot  NOT running"; rc=1; fi
    if pid_alive "$(dnsmasq_pid)"; then log "dnsmasq  running (pid $(dnsmasq_pid), config $DNS_CONF)"
    else log "dnsmasq  NOT running"; rc=1; fi
    for p in 2525 2526 2587 2465 2528 2143 2993 2110 2995 5353; do
        if port_open "$p"; then state=open; else state=closed; rc=1; fi
        log "  127.0.0.1:$p $state"
    done
    ROUNDTRIP_TEST_DIR="$STATE" bash "$AUTH_SCRIPT" status || rc=1
    [[ -f "$STATE/env.sh" ]] && log "env: source $STATE/env.sh"
    return $rc
}

case "${1:-}" in
    start)  cmd_start ;;
    stop)   cmd_stop ;;
    status) cmd_status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
