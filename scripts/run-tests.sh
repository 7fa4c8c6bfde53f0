#!/usr/bin/env bash
# scripts/run-tests.sh [extra `swift test` arguments...]
#
# The project's one test command (README and .ci/run both run exactly
# `bash scripts/run-tests.sh`):
#   1. scripts/test-env.sh start   -- installs (if missing) and starts Postfix,
#      Dovecot and dnsmasq on 127.0.0.1 (see that script for ports and users)
#   2. source $ROUNDTRIP_TEST_DIR/env.sh, export ROUNDTRIP_INTEGRATION=1 so the
#      integration tests treat an unreachable service as a failure, not a skip
#   3. swift format lint --strict (the .swift-format rules), then
#      swift build --build-tests -Xswiftc -warnings-as-errors
#   4. swift test (same flags, so nothing is rebuilt) "$@"
#   5. FUZZ=1: scripts/fuzz.sh 20 (20 s for each of the five fuzz targets)
#   6. scripts/package-check.sh: builds the Debian package once and checks it
#      (lintian, man pages, unit, install/remove, the listener as the unit runs
#      it); ROUNDTRIP_SKIP_PACKAGE=1 skips it
#   7. scripts/test-env.sh stop, always (trap); the exit code is the first
#      failing step's.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export ROUNDTRIP_TEST_DIR=${ROUNDTRIP_TEST_DIR:-/tmp/roundtrip-test-env}

stop_env() { bash scripts/test-env.sh stop || echo "run-tests: warning: test-env.sh stop failed" >&2; }
trap stop_env EXIT

bash scripts/test-env.sh start || { echo "run-tests: the integration test services failed to start" >&2; exit 1; }
# shellcheck disable=SC1091
source "$ROUNDTRIP_TEST_DIR/env.sh"
export ROUNDTRIP_INTEGRATION=1

SWIFT_FLAGS=(-Xswiftc -warnings-as-errors)

rc=0
echo "run-tests: swift format lint --strict"
swift format lint --strict --recursive --parallel Sources Tests Package.swift || rc=$?

if ((rc == 0)); then
    echo "run-tests: swift build --build-tests ${SWIFT_FLAGS[*]}"
    swift build --build-tests "${SWIFT_FLAGS[@]}" || rc=$?
fi

if ((rc == 0)); then
    echo "run-tests: swift test ${SWIFT_FLAGS[*]} $*"
    swift test "${SWIFT_FLAGS[@]}" "$@" || rc=$?
fi

if ((rc == 0)) && [[ ${FUZZ:-0} == 1 ]]; then
    if [[ -f scripts/fuzz.sh ]]; then
        echo "run-tests: FUZZ=1, scripts/fuzz.sh 20"
        bash scripts/fuzz.sh 20 || rc=$?
    else
        echo "run-tests: FUZZ=1 but scripts/fuzz.sh does not exist; skipping fuzzing"
    fi
fi

if ((rc == 0)); then
    if [[ ${ROUNDTRIP_SKIP_PACKAGE:-0} == 1 ]]; then
        echo "run-tests: ROUNDTRIP_SKIP_PACKAGE=1, skipping scripts/package-check.sh"
    else
        echo "run-tests: scripts/package-check.sh"
        bash scripts/package-check.sh || rc=$?
    fi
fi

exit "$rc"
