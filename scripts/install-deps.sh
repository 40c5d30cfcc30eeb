#!/usr/bin/env bash
# Installs the Debian packages Parley needs, only when some are missing,
# so each make target works on a fresh machine:
#   (no argument)  make run, make build: the build itself
#   --test         make test, make test-asan: also what the tests drive
#   --bench        make bench: also the Node.js baseline, Mosquitto (the
#                  MQTT cases' other broker) and the chart
#   --fuzz         make fuzz: also clang and its libFuzzer runtime
# The make targets then configure CMake with PARLEY_REQUIRE_* on, which
# stops with the missing package's name should anything still be absent.
set -euo pipefail

mode=${1:-}
case "$mode" in
""|--test|--bench|--fuzz) ;;
*) echo "usage: $0 [--test|--bench|--fuzz]" >&2; exit 2 ;;
esac

packages=(cmake gcc make pkg-config libwebsockets-dev libsqlite3-dev
          libcjson-dev libcmocka-dev libssl-dev libedit-dev libev-dev
          libwebsockets-evlib-ev)
# clang builds the fuzzers; Debian ships its libFuzzer runtime apart.
fuzz_packages=(clang libclang-rt-dev)
case "$mode" in
--test)
    # openssl makes the TLS tests' certificates, tmux drives the terminal
    # chat, ctest runs a short fuzz pass, and Debian's Chromium (driven by
    # playwright-core from npm) runs the browser tests.
    packages+=(openssl tmux chromium "${fuzz_packages[@]}")
    # Real MQTT clients for the MQTT tests (paho for /usr/bin/python3).
    packages+=(mosquitto-clients python3-paho-mqtt)
    command -v node >/dev/null 2>&1 || packages+=(nodejs)
    command -v npm >/dev/null 2>&1 || packages+=(npm)
    ;;
--bench)
    # the baseline server runs on Node.js (npm installs its packages),
    # taskset (util-linux) pins the processes, gnuplot draws the chart,
    # and the MQTT cases run Debian's Mosquitto beside parleyd (run.sh
    # starts it itself with its own config on a loopback port; the
    # package's own service is never used).
    packages+=(util-linux mosquitto)
    command -v gnuplot >/dev/null 2>&1 || packages+=(gnuplot-nox)
    command -v node >/dev/null 2>&1 || packages+=(nodejs)
    command -v npm >/dev/null 2>&1 || packages+=(npm)
    ;;
--fuzz)
    packages+=("${fuzz_packages[@]}")
    ;;
esac

# The cluster tests run a real redis-server (hiredis is the client library
# parleyd's Redis engine builds with) behind haproxy.
if [ "${1:-}" = "--test" ]; then
    packages+=(redis-server libhiredis-dev haproxy)
fi

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
            grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -gt 0 ]; then
    echo "Installing missing packages: ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The browser tests' npm packages (playwright-core only: it never
# downloads a browser; the tests use /usr/bin/chromium). Only `make test`
# asks for them (--test); `make run` needs none.
if [ "$mode" = "--test" ] && [ -f tests/e2e/package.json ] &&
        [ ! -d tests/e2e/node_modules ]; then
    echo "Installing the browser tests' npm packages"
    (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
fi
