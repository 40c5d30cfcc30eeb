#!/usr/bin/env bash
# package_test.sh BUILD_DIR: build the Debian package with CPack, unpack it
# into a scratch root (dpkg-deb -x: nothing is installed on this machine),
# and check what an operator would: the files are where the unit and the
# man pages say, the dependencies are Debian's library packages, the
# installed parleyd runs with the installed config on a free loopback
# port (health, readiness, a SIGHUP reload, a clean SIGTERM), the unit
# passes `systemd-analyze verify`, and both man pages render without
# warnings and document every flag.
set -euo pipefail

build=$(cd "$1" && pwd)
work=$(mktemp -d /tmp/parley-pkg-XXXXXX)
pid=
cleanup() {
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# Wait up to $2 tenths of a second for grep -q "$1" in file $3.
wait_for() {
    local i
    for ((i = 0; i < $2; i++)); do
        grep -q -- "$1" "$3" && return 0
        sleep 0.1
    done
    return 1
}

# GET path from 127.0.0.1:port; prints the status line and the body.
http_get() {
    exec 3<>"/dev/tcp/127.0.0.1/$1"
    printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' \
        "$2" >&3
    timeout 5 cat <&3
    exec 3<&-
}

echo "== package"
(cd "$build" && cpack -G DEB -B "$work/out" >"$work/cpack.log" 2>&1) ||
    { cat "$work/cpack.log"; fail "cpack"; }
deb=$(ls "$work"/out/parley_*.deb)
root=$work/root
dpkg-deb -x "$deb" "$root"
for f in usr/sbin/parleyd usr/bin/parley usr/share/man/man8/parleyd.8 \
         usr/share/man/man1/parley.1 usr/lib/systemd/system/parleyd.service \
         etc/parley/parley.conf; do
    [[ -e $root/$f ]] || fail "the package has no /$f"
done
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
for lib in libwebsockets17 libwebsockets-evlib-ev libsqlite3-0 libcjson1 \
           libssl3 libev4; do
    [[ $depends == *"$lib"* ]] || fail "Depends lacks $lib"
done
dpkg-deb -I "$deb" conffiles | grep -qx /etc/parley/parley.conf ||
    fail "/etc/parley/parley.conf is not a conffile"
grep -qx 'db = /var/lib/parley/parley.db' "$root/etc/parley/parley.conf" ||
    fail "the packaged config does not put the database in /var/lib/parley"

echo "== the installed parleyd with the installed config"
"$root/usr/bin/parley" --help >/dev/null || fail "parley --help"
log=$work/parleyd.log
# The state directory is systemd's to make: here a scratch one, by flag
# (flags override the file, as in production they would not need to).
"$root/usr/sbin/parleyd" --config "$root/etc/parley/parley.conf" \
    --db "$work/state/parley.db" --port 0 >"$log" 2>&1 &
pid=$!
wait_for 'listening on http://127.0.0.1:' 100 "$log" ||
    { cat "$log"; fail "no listening line"; }
port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' \
       "$log" | head -1)
http_get "$port" /healthz | grep -q '^ok' || fail "/healthz"
http_get "$port" /readyz | grep -q '^ready' || fail "/readyz"
kill -HUP "$pid"
wait_for 'reload done, 0 settings applied' 50 "$log" ||
    { cat "$log"; fail "no reload of the installed config"; }
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
[[ $rc == 0 ]] || { cat "$log"; fail "parleyd exited $rc"; }
[[ -s $work/state/parley.db ]] || fail "no database written"

echo "== systemd unit"
if command -v systemd-analyze >/dev/null; then
    # verify checks that ExecStart exists and that man finds the
    # Documentation page: point both into the scratch root.
    mkdir -p "$work/unit"
    sed "s|/usr/sbin/parleyd|$root/usr/sbin/parleyd|" \
        "$root/usr/lib/systemd/system/parleyd.service" \
        >"$work/unit/parleyd.service"
    MANPATH=$root/usr/share/man systemd-analyze verify \
        "$work/unit/parleyd.service" || fail "systemd-analyze verify"
else
    echo "systemd-analyze is absent: the unit was not verified"
fi

echo "== man pages"
for page in usr/share/man/man8/parleyd.8 usr/share/man/man1/parley.1; do
    warnings=$(MANWIDTH=80 man -l --warnings "$root/$page" 2>&1 >/dev/null)
    [[ -z $warnings ]] || fail "$page: $warnings"
done
rendered=$(MANWIDTH=200 man -l "$root/usr/share/man/man8/parleyd.8" \
           2>/dev/null | col -b)
[[ $rendered == *"parleyd - real-time WebSocket"* ]] || fail "parleyd(8) NAME"
MANWIDTH=80 man -l "$root/usr/share/man/man1/parley.1" 2>/dev/null |
    grep -q 'parley - terminal client' || fail "parley(1) NAME"
# every flag of --help is in parleyd(8)
for flag in $("$root/usr/sbin/parleyd" --help | grep -o -- '--[a-z-]*' |
              sort -u); do
    [[ $rendered == *"$flag"* ]] || fail "parleyd(8) does not document $flag"
done
echo "OK"
