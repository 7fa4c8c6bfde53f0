# scripts/test-env-lib.sh -- sourced by scripts/test-env*.sh, never run.
#
# What every part of the test environment needs: logging with the script's
# name (set LOG_NAME before sourcing), the state directory, package
# installation that never lets a maintainer script start a daemon, and
# idempotent configuration files.
# shellcheck shell=bash

STATE=${ROUNDTRIP_TEST_DIR:-/tmp/roundtrip-test-env}
case "$STATE" in /*) ;; *) STATE="$PWD/$STATE" ;; esac
STATE=${STATE%/}

log() { printf '[%s] %s\n' "$LOG_NAME" "$*"; }
die() { printf '[%s] ERROR: %s\n' "$LOG_NAME" "$*" >&2; exit 1; }
tail_log() { # file [lines]
    if [[ -f "$1" ]]; then
        printf -- '----- last lines of %s -----\n' "$1" >&2
        tail -n "${2:-40}" "$1" >&2 || true
        printf -- '-----\n' >&2
    else
        printf '(no log file %s)\n' "$1" >&2
    fi
}
fail_with_log() { # message logfile...
    local msg=$1; shift
    printf '[%s] ERROR: %s\n' "$LOG_NAME" "$msg" >&2
    local f; for f in "$@"; do tail_log "$f"; done
    exit 1
}
need_root() { [[ $(id -u) -eq 0 ]] || die "must run as root (${1:-it installs packages and starts services})"; }

pid_alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }
pid_from() { if [[ -s "$1" ]]; then tr -dc '0-9' < "$1"; fi; }
port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# write_if_changed FILE [MODE]: stdin -> FILE (mode 644 by default); returns 0
# if the content changed.
write_if_changed() {
    local f=$1 mode=${2:-644} tmp
    tmp=$(mktemp "$f.XXXXXX")
    cat > "$tmp"
    if [[ -f "$f" ]] && cmp -s "$tmp" "$f"; then rm -f "$tmp"; chmod "$mode" "$f"; return 1; fi
    chmod "$mode" "$tmp"
    mv -f "$tmp" "$f"
    return 0
}

pkg_installed() { [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]; }

# apt_install PACKAGE...: installs the ones missing, without recommends (so
# every package a test relies on must be named), retrying while dpkg or apt is
# locked; fails if one is still missing. ROUNDTRIP_TEST_NO_INSTALL=1: never
# call apt-get, fail instead. No maintainer script may start a daemon with its
# default (all-interfaces) configuration: policy-rc.d refuses while it runs.
apt_install() {
    local missing=() p
    for p in "$@"; do pkg_installed "$p" || missing+=("$p"); done
    ((${#missing[@]} == 0)) && return 0
    [[ ${ROUNDTRIP_TEST_NO_INSTALL:-0} == 1 ]] && die "missing packages: ${missing[*]} (ROUNDTRIP_TEST_NO_INSTALL=1)"
    log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    local made_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    local apt_opts=(-o DPkg::Lock::Timeout=600 -o Acquire::Retries=3) ok=0 try
    for try in 1 2 3; do
        if apt-get "${apt_opts[@]}" update -qq \
            && apt-get "${apt_opts[@]}" install -y -q --no-install-recommends "${missing[@]}"; then
            ok=1; break
        fi
        log "apt-get failed (try $try), retrying in 10 s (dpkg/apt may be locked)"
        sleep 10
    done
    ((made_policy)) && rm -f /usr/sbin/policy-rc.d
    ((ok)) || die "apt-get install ${missing[*]} failed"
    for p in "${missing[@]}"; do pkg_installed "$p" || die "package $p still not installed"; done
}
