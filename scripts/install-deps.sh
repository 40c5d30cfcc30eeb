#!/usr/bin/env bash
# Installs the Debian packages Parley needs, only when some are missing,
# so `make run` (build and run) and `make test` (--test: also what the
# tests drive) work on a fresh machine.
set -euo pipefail

packages=(cmake gcc make pkg-config libwebsockets-dev libsqlite3-dev
          libcjson-dev libcmocka-dev libssl-dev libedit-dev libev-dev
          libwebsockets-evlib-ev)
if [ "${1:-}" = "--test" ]; then
    # openssl makes the TLS tests' certificates, tmux drives the terminal
    # chat, clang builds the fuzzers, and Debian's Chromium (driven by
    # playwright-core from npm) runs the browser tests.
    packages+=(openssl tmux clang chromium)
    # Real MQTT clients for the MQTT tests (paho for /usr/bin/python3).
    packages+=(mosquitto-clients python3-paho-mqtt)
    command -v node >/dev/null 2>&1 || packages+=(nodejs)
    command -v npm >/dev/null 2>&1 || packages+=(npm)
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
if [ "${1:-}" = "--test" ] && [ -f tests/e2e/package.json ] &&
        [ ! -d tests/e2e/node_modules ]; then
    echo "Installing the browser tests' npm packages"
    (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
fi
