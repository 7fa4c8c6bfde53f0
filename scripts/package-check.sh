#!/usr/bin/env bash
# scripts/package-check.sh: builds the Debian package once (scripts/package.sh) and checks it.
# Run as root on a Debian 12 test machine: it installs lintian (and man-db, groff-base, systemd
# if missing) from Debian's packages, installs and purges the package, and starts the listener
# on 127.0.0.1 only. An installed roundtrip package is purged first.
#
#   contents   dpkg-deb --info/--contents name everything issue 16 asks for
#   lintian    no errors (warnings are printed)
#   no-swift   the packaged binary loads no Swift library and runs `roundtrip demo` with exit 0
#              under env -i PATH=/usr/bin:/bin, from a folder outside the source tree
#   man        man -l renders every page
#   install    dpkg -i: the system user roundtrip, /var/lib/roundtrip (0750 roundtrip:roundtrip),
#              the conffile
#   unit       systemd-analyze verify accepts roundtrip-listen.service
#   listener   the unit's ExecStart with a config binding 127.0.0.1:$ROUNDTRIP_CHECK_PORT (2799):
#              started by systemd where systemd is PID 1, else by hand as the unit's user with
#              the unit's capabilities; a report sent to it over SMTP is stored; SIGTERM stops it
#              with exit 0. By hand, a second start proves the capability binds a port below 1024
#   remove     dpkg -r keeps the user, the state folder and the conffile; dpkg -P removes the
#              state and config folders and keeps the user (Debian does not delete system users)
# ROUNDTRIP_PACKAGE_DEB=FILE checks that package instead of building one.
# Prints one line per check and "package-check: N passed, N failed"; exits 1 on any failure.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
PORT=${ROUNDTRIP_CHECK_PORT:-2799}
UNIT=roundtrip-listen.service

passed=0 failed=0 summary=()
pass() { passed=$((passed + 1)); summary+=("PASS  $1"); echo "package-check: PASS $1"; }
fail() { failed=$((failed + 1)); summary+=("FAIL  $1"); echo "package-check: FAIL $1" >&2; }
note() { echo "package-check: $*"; }
finish() {
    echo
    echo "package-check summary:"
    printf '  %s\n' "${summary[@]}"
    echo "package-check: $passed passed, $failed failed"
    ((failed == 0)) || exit 1
    exit 0
}

WORK=$(mktemp -d /tmp/roundtrip-package-check.XXXXXX)
chmod 0755 "$WORK"
LISTENER_PID=
# shellcheck disable=SC2317 # called by the trap
cleanup() {
    [[ -n $LISTENER_PID ]] && kill "$LISTENER_PID" 2>/dev/null
    rm -rf "$WORK" /run/roundtrip-package-check
}
trap cleanup EXIT

if ((EUID != 0)); then
    fail "setup: must run as root (dpkg -i, apt-get, the unit's user)"
    finish
fi

# --- tools -----------------------------------------------------------------------------------
missing=()
command -v lintian >/dev/null || missing+=(lintian)
command -v man >/dev/null || missing+=(man-db)
command -v groff >/dev/null || missing+=(groff-base)
command -v systemd-analyze >/dev/null || missing+=(systemd)
command -v setpriv >/dev/null || missing+=(util-linux)
command -v adduser >/dev/null || missing+=(adduser)
command -v python3 >/dev/null || missing+=(python3)
if ((${#missing[@]})); then
    note "installing ${missing[*]} from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$WORK/apt.log" 2>&1; then
        cat "$WORK/apt.log" >&2
        fail "setup: apt-get install ${missing[*]}"
        finish
    fi
fi

# --- build -----------------------------------------------------------------------------------
start=$SECONDS
if [[ -n ${ROUNDTRIP_PACKAGE_DEB:-} ]]; then
    # A package built before (on another machine, say): checked as it is, nothing is built.
    DEB=$(realpath "$ROUNDTRIP_PACKAGE_DEB")
    [[ -f $DEB ]] || { fail "build: ROUNDTRIP_PACKAGE_DEB=$ROUNDTRIP_PACKAGE_DEB does not exist"; finish; }
    note "checking $DEB (ROUNDTRIP_PACKAGE_DEB), not building"
else
    if ! bash scripts/package.sh > >(tee "$WORK/package.log") 2>&1; then
        fail "build: scripts/package.sh failed"
        finish
    fi
    sleep 0.2 # let tee finish
    DEB=$(tail -n 1 "$WORK/package.log")
    if [[ ! -f $DEB ]]; then
        fail "build: scripts/package.sh named no package ($DEB)"
        finish
    fi
fi
pass "build: $(basename "$DEB"), $(du -k "$DEB" | cut -f1) KiB, in $((SECONDS - start)) s"

# The subcommands, from the binary's own description of itself.
EXTRACT=$WORK/extract
dpkg-deb -x "$DEB" "$EXTRACT"
BIN=$EXTRACT/usr/bin/roundtrip
mapfile -t SUBCOMMANDS < <(cd "$WORK" && env -i PATH=/usr/bin:/bin HOME="$WORK" "$BIN" --experimental-dump-help \
    | python3 -c 'import json,sys; [print(c["commandName"]) for c in json.load(sys.stdin)["command"].get("subcommands", []) if c["commandName"] != "help"]')
((${#SUBCOMMANDS[@]} >= 5)) || { fail "contents: the binary lists ${#SUBCOMMANDS[@]} subcommands"; finish; }

# --- contents ----------------------------------------------------------------------------------
dpkg-deb --info "$DEB" > "$WORK/info"
dpkg-deb --contents "$DEB" > "$WORK/contents"
problems=()
for field in Package Version Architecture Maintainer Installed-Size Depends Section Priority Description; do
    grep -q "^ $field: ." "$WORK/info" || problems+=("no $field field")
done
grep -q '^ Depends: .*libc6.*adduser' "$WORK/info" || problems+=("Depends lacks libc6 or adduser")
grep -Eq '^ Depends: .*(libswift|swiftlang)' "$WORK/info" && problems+=("Depends names a Swift package")
for control in control md5sums conffiles postinst prerm postrm; do
    grep -Eq "^ +[0-9]+ bytes, +[0-9]+ lines +\*? *$control( |$)" "$WORK/info" || problems+=("no $control in the control archive")
done
expected=(
    "-rwxr-xr-x root/root ./usr/bin/roundtrip"
    "-rw-r--r-- root/root ./usr/share/man/man1/roundtrip.1.gz"
    "-rw-r--r-- root/root ./usr/share/bash-completion/completions/roundtrip"
    "-rw-r--r-- root/root ./usr/share/zsh/vendor-completions/_roundtrip"
    "-rw-r--r-- root/root ./usr/share/fish/vendor_completions.d/roundtrip.fish"
    "-rw-r--r-- root/root ./lib/systemd/system/roundtrip-listen.service"
    "-rw-r--r-- root/root ./etc/roundtrip/config.toml"
    "-rw-r--r-- root/root ./usr/share/doc/roundtrip/copyright"
    "-rw-r--r-- root/root ./usr/share/doc/roundtrip/changelog.gz"
    "-rw-r--r-- root/root ./usr/share/doc/roundtrip/README.md.gz"
    "-rw-r--r-- root/root ./usr/share/doc/roundtrip/CHANGELOG.md.gz"
)
for sub in "${SUBCOMMANDS[@]}"; do
    expected+=("-rw-r--r-- root/root ./usr/share/man/man1/roundtrip.$sub.1.gz")
done
for entry in "${expected[@]}"; do
    mode_owner=${entry% *} path=${entry##* }
    awk -v m="${mode_owner% *}" -v o="${mode_owner#* }" -v p="$path" \
        '$1 == m && $2 == o && $6 == p { found = 1 } END { exit !found }' "$WORK/contents" \
        || problems+=("$path ($mode_owner) missing")
done
grep -q 'roundtrip-monitor' "$WORK/contents" && problems+=("a monitor unit, but \`roundtrip monitor\` does not exist yet")
grep -q '^/etc/roundtrip/config.toml$' <(dpkg-deb --ctrl-tarfile "$DEB" | tar -xO ./conffiles) || problems+=("config.toml is not a conffile")
if ((${#problems[@]})); then
    printf '  %s\n' "${problems[@]}" >&2
    fail "contents: ${#problems[@]} problem(s)"
else
    pass "contents: control fields and scripts, binary, ${#SUBCOMMANDS[@]}+1 man pages, 3 completions, unit, conffile, docs"
fi

# --- lintian -----------------------------------------------------------------------------------
lintian --allow-root --display-info --fail-on error "$DEB" > "$WORK/lintian.log" 2>&1
lintian_rc=$?
sed 's/^/  lintian: /' "$WORK/lintian.log"
errors=$(grep -c '^E: ' "$WORK/lintian.log")
warnings=$(grep -c '^W: ' "$WORK/lintian.log")
if ((lintian_rc == 0 && errors == 0)); then
    pass "lintian: 0 errors, $warnings warning(s)"
else
    fail "lintian: $errors error(s) (exit $lintian_rc)"
fi

# --- the binary without a Swift toolchain ------------------------------------------------------
if ldd "$BIN" | grep -E 'libswift|libFoundation|lib_Foundation|libdispatch|libBlocksRuntime|not found' >&2; then
    fail "no-swift: the packaged binary loads Swift libraries (above)"
elif (cd "$WORK" && env -i PATH=/usr/bin:/bin sh -c 'command -v swift swiftc' >/dev/null); then
    fail "no-swift: swift is on PATH=/usr/bin:/bin, the check would prove nothing"
else
    demo_start=$SECONDS
    if (cd "$WORK" && env -i PATH=/usr/bin:/bin HOME="$WORK" "$BIN" demo > "$WORK/demo.log" 2>&1); then
        pass "no-swift: ldd names no Swift library; \`roundtrip demo\` exits 0 under env -i PATH=/usr/bin:/bin in $((SECONDS - demo_start)) s"
    else
        rc=$?
        sed 's/^/  demo: /' "$WORK/demo.log" >&2
        fail "no-swift: \`roundtrip demo\` exited $rc"
    fi
fi

# --- man pages ---------------------------------------------------------------------------------
man_bad=()
pages=("$EXTRACT"/usr/share/man/man1/*.1.gz)
for page in "${pages[@]}"; do
    if ! MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -l "$page" > "$WORK/page.txt" 2> "$WORK/page.err" \
        || [[ -s $WORK/page.err ]] || ! grep -q '^NAME' "$WORK/page.txt"; then
        man_bad+=("$(basename "$page"): $(head -c 300 "$WORK/page.err")")
    fi
done
if ((${#man_bad[@]})); then
    printf '  %s\n' "${man_bad[@]}" >&2
    fail "man: ${#man_bad[@]} of ${#pages[@]} pages do not render cleanly"
else
    pass "man: man -l renders all ${#pages[@]} pages without a warning"
fi

# --- install -----------------------------------------------------------------------------------
if dpkg-query -W -f='${Status}' roundtrip 2>/dev/null | grep -q 'installed\|config-files'; then
    note "purging the installed roundtrip package first"
    dpkg -P roundtrip >/dev/null
fi
user_existed=no
getent passwd roundtrip >/dev/null && user_existed=yes
if ! dpkg -i "$DEB" > "$WORK/dpkg-i.log" 2>&1; then
    cat "$WORK/dpkg-i.log" >&2
    fail "install: dpkg -i"
    finish
fi
problems=()
IFS=: read -r _ _ uid gid _ home shell < <(getent passwd roundtrip) || problems+=("no user roundtrip")
[[ ${uid:-} =~ ^[0-9]+$ ]] && ((uid < 1000)) || problems+=("roundtrip is not a system user (uid ${uid:-none})")
[[ ${home:-} == /var/lib/roundtrip ]] || problems+=("home is ${home:-none}")
[[ ${shell:-} == /usr/sbin/nologin ]] || problems+=("shell is ${shell:-none}")
[[ $(getent group roundtrip | cut -d: -f3) == "${gid:-x}" ]] || problems+=("no group roundtrip as the user's group")
[[ $(stat -c '%U:%G %a' /var/lib/roundtrip 2>/dev/null) == "roundtrip:roundtrip 750" ]] \
    || problems+=("/var/lib/roundtrip is $(stat -c '%U:%G %a' /var/lib/roundtrip 2>&1)")
dpkg-query -W -f='${Conffiles}' roundtrip | grep -q '/etc/roundtrip/config.toml' || problems+=("the conffile is not registered")
[[ $(/usr/bin/roundtrip --version) =~ ^roundtrip\ [0-9.]+\ \(commit\ [0-9a-f]+(-dirty)?\)$ ]] \
    || problems+=("/usr/bin/roundtrip --version says: $(/usr/bin/roundtrip --version 2>&1)")
if ((${#problems[@]})); then
    printf '  %s\n' "${problems[@]}" >&2
    fail "install: ${#problems[@]} problem(s)"
else
    pass "install: system user roundtrip (uid $uid, nologin$([[ $user_existed == yes ]] && echo ', kept from an earlier install')), /var/lib/roundtrip 0750, conffile, $(/usr/bin/roundtrip --version)"
fi

# --- the unit ----------------------------------------------------------------------------------
UNIT_FILE=/lib/systemd/system/$UNIT
if SYSTEMD_LOG_LEVEL=notice systemd-analyze verify "$UNIT_FILE" > "$WORK/verify.log" 2>&1 && ! [[ -s $WORK/verify.log ]]; then
    exposure=$(systemd-analyze security --offline=true "$UNIT_FILE" 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: //p')
    pass "unit: systemd-analyze verify accepts $UNIT (systemd-analyze security: ${exposure:-n/a})"
else
    sed 's/^/  verify: /' "$WORK/verify.log" >&2
    fail "unit: systemd-analyze verify $UNIT"
fi

# --- the listener, as the unit runs it ----------------------------------------------------------
EXEC_START=$(sed -n 's/^ExecStart=//p' "$UNIT_FILE")
read -r -a exec_argv <<< "$EXEC_START"
# Not below /tmp: the unit's PrivateTmp= would hide it from a listener that systemd starts.
CONFIG_DIR=/run/roundtrip-package-check
CONFIG=$CONFIG_DIR/config.toml
install -d -m 0755 "$CONFIG_DIR"
CHECK_STATE=/var/lib/roundtrip/package-check # the test store, ledger and key: removed afterwards
STORE=$CHECK_STATE/store
# The unit's command line, but for the config file.
listener_argv=()
for ((i = 0; i < ${#exec_argv[@]}; i++)); do
    if [[ ${exec_argv[i]} == --config ]]; then
        listener_argv+=(--config "$CONFIG")
        i=$((i + 1))
    else
        listener_argv+=("${exec_argv[i]}")
    fi
done
write_config() { # bind
    cat > "$CONFIG" <<EOF
[listen]
bind = "$1"
domain = ["return.rt.test"]
store = "$STORE"
ledger = "$CHECK_STATE/ledger.sqlite"
no-tls = true
grace = 2
EOF
    chmod 0644 "$CONFIG"
}
port_free() { python3 -c 'import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null; }

# Starts the unit's command line as the unit's user with the unit's capabilities and
# restrictions that can be had without systemd: NoNewPrivileges, CAP_NET_BIND_SERVICE as
# the only (ambient, bounding) capability, UMask, WorkingDirectory, HOME.
start_by_hand() { # log
    (cd /var/lib/roundtrip && umask 0027 && exec setpriv --reuid=roundtrip --regid=roundtrip --init-groups \
        --inh-caps=-all,+net_bind_service --ambient-caps=-all,+net_bind_service --bounding-set=-all,+net_bind_service \
        --no-new-privs env -i PATH=/usr/bin:/bin HOME=/var/lib/roundtrip "${listener_argv[@]}") > "$1" 2>&1 &
    LISTENER_PID=$!
}
wait_listening() { # log seconds
    local deadline=$((SECONDS + $2))
    while ((SECONDS < deadline)); do
        grep -q 'listening' "$1" 2>/dev/null && return 0
        [[ -n $LISTENER_PID ]] && ! kill -0 "$LISTENER_PID" 2>/dev/null && return 1
        sleep 0.2
    done
    return 1
}
stop_by_hand() { # -> exit code
    kill -TERM "$LISTENER_PID" 2>/dev/null
    local rc=0
    wait "$LISTENER_PID" || rc=$?
    LISTENER_PID=
    return "$rc"
}
send_report() { # port
    python3 - "$1" <<'EOF'
import smtplib, sys
report = (
    "From: MAILER-DAEMON@mx.rt.test\r\n"
    "To: postmaster@return.rt.test\r\n"
    "Subject: Delivery Status Notification (package check)\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n"
    "\r\n--b\r\nContent-Type: text/plain\r\n\r\nDelivered.\r\n"
    "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
    "Reporting-MTA: dns; mx.rt.test\r\n\r\n"
    "Final-Recipient: rfc822; alice@rt.test\r\nAction: delivered\r\nStatus: 2.0.0\r\n"
    "--b--\r\n"
)
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=20) as s:
    s.ehlo("mx.rt.test")
    # postmaster@ is always a report address; LOCAL+TOKEN needs a token made with this
    # installation's key, which this check has no probe for.
    refused = s.sendmail("", ["postmaster@return.rt.test"], report)
    if refused:
        sys.exit(f"refused: {refused}")
    code, text = s.noop()
    print(f"report accepted; NOOP {code}")
EOF
}
stored_reports() { find "$STORE/new" -type f 2>/dev/null | wc -l; }

rm -rf "$CHECK_STATE"
if ! port_free "$PORT"; then
    fail "listener: 127.0.0.1:$PORT is in use (set ROUNDTRIP_CHECK_PORT)"
elif [[ -d /run/systemd/system ]] && [[ $(ps -p 1 -o comm=) == systemd ]]; then
    # systemd is PID 1: start the unit itself, with a drop-in for the test config.
    write_config "127.0.0.1:$PORT"
    install -d /run/systemd/system/$UNIT.d
    printf '[Service]\nExecStart=\nExecStart=%s\n' "${listener_argv[*]}" > /run/systemd/system/$UNIT.d/package-check.conf
    systemctl daemon-reload
    since=$(date '+%F %T')
    listening() {
        local deadline=$((SECONDS + 30))
        while ((SECONDS < deadline)); do
            journalctl -u "$UNIT" --since "$since" -o cat | grep -q listening && return 0
            systemctl -q is-active "$UNIT" || return 1
            sleep 0.5
        done
        return 1
    }
    if systemctl start "$UNIT" && listening \
        && send_report "$PORT" && (($(stored_reports) == 1)) \
        && [[ $(stat -c %U "$(find "$STORE/new" -type f | head -n 1)") == roundtrip ]] \
        && systemctl stop "$UNIT" && [[ $(systemctl show -p ExecMainStatus --value "$UNIT") == 0 ]]; then
        pass "listener: systemd started $UNIT on 127.0.0.1:$PORT, it stored a report as user roundtrip, SIGTERM stopped it with 0"
    else
        journalctl -u "$UNIT" --since "$since" -o cat | sed 's/^/  journal: /' >&2
        systemctl stop "$UNIT" 2>/dev/null
        fail "listener: $UNIT under systemd"
    fi
    rm -rf /run/systemd/system/$UNIT.d
    systemctl daemon-reload
else
    note "systemd is not PID 1 here ($(ps -p 1 -o comm=)): starting the unit's ExecStart by hand as user roundtrip"
    write_config "127.0.0.1:$PORT"
    start_by_hand "$WORK/listener.log"
    ok=no
    if wait_listening "$WORK/listener.log" 30 && send_report "$PORT" > "$WORK/send.log" 2>&1; then
        message=$(find "$STORE/new" -type f | head -n 1)
        if (($(stored_reports) == 1)) && head -c 21 "$message" | grep -q '^X-Roundtrip-Envelope:'  \
            && [[ $(stat -c %U "$message") == roundtrip ]]; then
            ok=yes
        fi
    fi
    stop_rc=0
    stop_by_hand || stop_rc=$?
    if [[ $ok == yes && $stop_rc == 0 ]]; then
        pass "listener: \`${listener_argv[*]}\` (the unit's ExecStart, test config) as user roundtrip, no privileges but CAP_NET_BIND_SERVICE, started by hand since systemd is not PID 1: it stored a report sent to 127.0.0.1:$PORT with its envelope; SIGTERM stopped it with exit 0"
    else
        sed 's/^/  listener: /' "$WORK/listener.log" >&2
        sed 's/^/  send: /' "$WORK/send.log" >&2 2>/dev/null
        fail "listener: by hand on 127.0.0.1:$PORT (stored $(stored_reports) report(s), exit $stop_rc after SIGTERM)"
    fi

    # The one privilege the unit grants: a port below 1024 without root.
    low=
    for candidate in 25 1023 1022 1021; do
        port_free "$candidate" && { low=$candidate; break; }
    done
    if [[ -z $low ]]; then
        note "no free port below 1024 on 127.0.0.1; the capability check is left out"
    else
        write_config "127.0.0.1:$low"
        start_by_hand "$WORK/listener-low.log"
        if wait_listening "$WORK/listener-low.log" 30 && stop_by_hand; then
            pass "capability: as user roundtrip with CAP_NET_BIND_SERVICE only, the listener binds 127.0.0.1:$low"
        else
            [[ -n $LISTENER_PID ]] && stop_by_hand
            sed 's/^/  listener: /' "$WORK/listener-low.log" >&2
            fail "capability: the listener could not bind 127.0.0.1:$low as user roundtrip"
        fi
    fi
fi
rm -rf "$CHECK_STATE"

# --- remove and purge --------------------------------------------------------------------------
problems=()
dpkg -r roundtrip > "$WORK/dpkg-r.log" 2>&1 || problems+=("dpkg -r failed: $(tail -n 3 "$WORK/dpkg-r.log")")
[[ -e /usr/bin/roundtrip ]] && problems+=("dpkg -r left /usr/bin/roundtrip")
[[ -e $UNIT_FILE ]] && problems+=("dpkg -r left the unit")
getent passwd roundtrip >/dev/null || problems+=("dpkg -r deleted the user")
[[ -d /var/lib/roundtrip ]] || problems+=("dpkg -r deleted /var/lib/roundtrip (the reports and the ledger)")
[[ -f /etc/roundtrip/config.toml ]] || problems+=("dpkg -r deleted the conffile")
dpkg -P roundtrip > "$WORK/dpkg-p.log" 2>&1 || problems+=("dpkg -P failed: $(tail -n 3 "$WORK/dpkg-p.log")")
[[ -e /var/lib/roundtrip ]] && problems+=("dpkg -P left /var/lib/roundtrip")
[[ -e /etc/roundtrip ]] && problems+=("dpkg -P left /etc/roundtrip")
getent passwd roundtrip >/dev/null || problems+=("dpkg -P deleted the system user")
dpkg-query -W roundtrip >/dev/null 2>&1 && problems+=("dpkg still knows the package after dpkg -P")
if ((${#problems[@]})); then
    printf '  %s\n' "${problems[@]}" >&2
    fail "remove: ${#problems[@]} problem(s)"
else
    pass "remove: dpkg -r keeps user, /var/lib/roundtrip and config; dpkg -P removes both folders, keeps the system user"
fi

finish
