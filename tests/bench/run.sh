#!/bin/bash
# run.sh BUILD_DIR: Parley's standard benchmark set, against parleyd and
# against the Node.js baseline (baseline-node/), in one run, so results
# are ratios measured on the same machine at the same time. The MQTT cases
# do the same against Debian's Mosquitto, with mqtt-bench.
#
# Builds nothing: BUILD_DIR must already hold server/parleyd,
# tests/bench/parley-bench and tests/bench/mqtt-bench (`make build`).
# Installs the baseline's npm dependencies with `npm ci` when
# node_modules is missing. The server runs pinned to CPU $BENCH_SERVER_CPU
# (0) and the generator to $BENCH_GEN_CPU (1). Each case gets a freshly
# started server (a new, empty database for parleyd; Mosquitto with its
# own config on a free loopback port, never the system service). Writes
# docs/benchmarks.md (the generated part between its markers; hand-written
# sections are kept) and docs/bench-chart.png (only when fanout cases ran).
#
# Environment: BENCH_OUT (default <repo>/docs), BENCH_ONLY (space-separated
# case names to run, default all), BENCH_SERVERS ("parley node"; the MQTT
# cases and store-read run when it has parley). A BENCH_ONLY run still
# rewrites the whole generated part (other rows say "–"): point BENCH_OUT
# elsewhere for a partial run.
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=$(cd "$1" && pwd)
PARLEYD=$BUILD/server/parleyd
BENCH=$BUILD/tests/bench/parley-bench
STORE_BENCH=$BUILD/tests/bench/parley-store-bench
MQTT_BENCH=$BUILD/tests/bench/mqtt-bench
# Debian installs the broker in /usr/sbin, which a user's PATH may lack.
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)
OUT=${BENCH_OUT:-$ROOT/docs}
SERVER_CPU=${BENCH_SERVER_CPU:-0}
GEN_CPU=${BENCH_GEN_CPU:-1}
SERVERS=${BENCH_SERVERS:-parley node}
ONLY=${BENCH_ONLY:-}

for f in "$PARLEYD" "$BENCH" "$STORE_BENCH" "$MQTT_BENCH"; do
    if [ ! -x "$f" ]; then
        echo "run.sh: $f is missing: build first (make build)" >&2
        exit 1
    fi
done
for tool in node npm taskset gnuplot; do
    if ! command -v $tool >/dev/null; then
        echo "run.sh: $tool is needed" >&2
        exit 1
    fi
done
if [[ " $SERVERS " == *" parley "* ]] && [ ! -x "$MOSQUITTO" ]; then
    echo "run.sh: mosquitto is needed (scripts/install-deps.sh --bench)" >&2
    exit 1
fi

WORK=$(mktemp -d /tmp/parley-bench.XXXXXX)
RESULTS=$WORK/results.jsonl
COMMANDS=$WORK/commands.txt
: >"$RESULTS"
: >"$COMMANDS"
SRV_PID=
SRV_PORT=
SRV_LOG=
CASE_NO=0
# Extra parleyd flags for the next case (storage off: --ephemeral ...).
SRV_EXTRA=()
# Extra environment for parleyd (VAR=value ...; no FTS index: #16).
SRV_ENV=()

cleanup() {
    stop_server
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 19,000 idle connections need 19,000 descriptors in the generator (and in
# the server): raise the soft limit to the hard one.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)

PIN_SRV=(taskset -c "$SERVER_CPU")
PIN_GEN=(taskset -c "$GEN_CPU")
if [ "$(nproc)" -lt 2 ]; then
    echo "run.sh: fewer than 2 CPUs: running without pinning" >&2
    PIN_SRV=()
    PIN_GEN=()
fi
# As root, raise the priority of the server and the generator a little, so
# that other work on a shared machine disturbs the numbers less.
# BENCH_NICE=0 turns this off.
NICE=${BENCH_NICE:--10}
if [ "$(id -u)" -eq 0 ] && [ "$NICE" != 0 ]; then
    PIN_SRV=(nice -n "$NICE" "${PIN_SRV[@]}")
    PIN_GEN=(nice -n "$NICE" "${PIN_GEN[@]}")
else
    NICE=0
fi

if [ ! -d "$HERE/baseline-node/node_modules" ]; then
    echo "run.sh: installing the Node baseline's dependencies (npm ci)"
    (cd "$HERE/baseline-node" && npm ci --no-audit --no-fund --loglevel=error)
fi

# A free loopback port, for Mosquitto (which cannot be given port 0).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_server NAME: start parleyd, the Node baseline or Mosquitto on a
# free port and wait (10 s at most) for its ready line (Mosquitto: until
# its port accepts).
start_server() {
    local name=$1 log
    CASE_NO=$((CASE_NO + 1))
    # a new log per start: reading an old one would find an old port
    log=$WORK/$name-$CASE_NO.log
    SRV_LOG=$log
    rm -rf "$WORK/db"
    mkdir -p "$WORK/db"
    case $name in
    parley)
        env "${SRV_ENV[@]}" "${PIN_SRV[@]}" "$PARLEYD" --port 0 \
            --db "$WORK/db/p.db" "${SRV_EXTRA[@]}" 2>"$log" &
        ;;
    node)
        "${PIN_SRV[@]}" node "$HERE/baseline-node/server.js" --port 0 \
            2>"$log" &
        ;;
    mosquitto)
        # Its own minimal config, never the system service's: in memory,
        # on loopback only; TCP_NODELAY as Parley's sockets have it
        # (without it Mosquitto's fan-out was a third slower).
        SRV_PORT=$(free_port)
        printf 'listener %s 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n' \
            "$SRV_PORT" >"$WORK/mosquitto.conf"
        "${PIN_SRV[@]}" "$MOSQUITTO" -c "$WORK/mosquitto.conf" >"$log" 2>&1 &
        SRV_PID=$!
        for _ in $(seq 1 100); do
            if (exec 3<>"/dev/tcp/127.0.0.1/$SRV_PORT") 2>/dev/null; then
                return 0
            fi
            kill -0 "$SRV_PID" 2>/dev/null || break
            sleep 0.1
        done
        echo "run.sh: mosquitto did not start:" >&2
        cat "$log" >&2
        exit 1
        ;;
    esac
    SRV_PID=$!
    SRV_PORT=
    for _ in $(seq 1 100); do
        SRV_PORT=$(sed -n \
            's/.*listening on http:\/\/127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' \
            "$log" | head -n 1)
        [ -n "$SRV_PORT" ] && return 0
        kill -0 "$SRV_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "run.sh: $name did not start:" >&2
    cat "$log" >&2
    exit 1
}

stop_server() {
    if [ -n "${SRV_PID:-}" ]; then
        kill -TERM "$SRV_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$SRV_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SRV_PID" 2>/dev/null || true
        wait "$SRV_PID" 2>/dev/null || true
        SRV_PID=
    fi
}

want() {
    [ -z "$ONLY" ] && return 0
    case " $ONLY " in *" $1 "*) return 0 ;; esac
    return 1
}

# The bytes the server process has written to storage (WAL, database,
# checkpoints), from /proc/PID/io; empty when unreadable.
write_bytes() {
    sed -n 's/^write_bytes: //p' "/proc/$1/io" 2>/dev/null || true
}

# bench SERVER TAG SCENARIO ARGS...: one case against a fresh server (with
# parleyd, SRV_EXTRA as extra flags and SRV_ENV in its environment). Also
# records the bytes the server wrote during the run as a JSON line of
# phase "io".
bench() {
    local server=$1 tag=$2 rc=0 t0=$SECONDS wb0 wb1
    shift 2
    want "$tag" || return 0
    start_server "$server"
    # what parleyd ran with beyond the usual: "VAR=1 parleyd --flag"
    local extra=""
    if [ "$server" = parley ] &&
            [ $((${#SRV_ENV[@]} + ${#SRV_EXTRA[@]})) -gt 0 ]; then
        extra="${SRV_ENV[*]}${SRV_ENV[*]:+ }parleyd ${SRV_EXTRA[*]}"
        extra=${extra% }
    fi
    echo "== $tag on $server: parley-bench $* ${extra:+($extra)}"
    if ! grep -q "^$tag	" "$COMMANDS"; then
        printf '%s\tparley-bench %s%s\n' "$tag" "$*" \
            "${extra:+   ($extra)}" >>"$COMMANDS"
    fi
    wb0=$(write_bytes "$SRV_PID")
    "${PIN_GEN[@]}" "$BENCH" "$@" --url "ws://127.0.0.1:$SRV_PORT/ws" \
        --server-pid "$SRV_PID" --label "$server" --tag "$tag" \
        --json-out "$RESULTS" | grep -v '^{' || rc=$?
    wb1=$(write_bytes "$SRV_PID")
    if [ -n "$wb0" ] && [ -n "$wb1" ]; then
        printf '{"tag":"%s","server":"%s","phase":"io","write_bytes":%s}\n' \
            "$tag" "$server" "$((wb1 - wb0))" >>"$RESULTS"
    fi
    # parley-bench exits 1 when a run lost messages: that is a result to
    # report, not a reason to stop the set
    stop_server
    echo "== $tag on $server took $((SECONDS - t0)) s"
}

# The server's CPU time so far (user + system, all threads), in clock ticks.
cpu_ticks() {
    sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

# mqtt_case TAG MODE N M: mqtt-bench's MODE (fanout: N subscribers, M
# messages; fanin: N publishers, M messages in all) against a fresh
# parleyd (MQTT on a free port, every message stored) and then a fresh
# Mosquitto, the same generator on the same work. One JSON line each, of
# phase "run", with the server's CPU seconds over the run added.
mqtt_case() {
    local tag=$1 server line rc t0 c0 c1 port
    shift
    want "$tag" || return 0
    printf '%s\tmqtt-bench PORT %s   (parleyd --mqtt-port 0; mosquitto -c CONF)\n' \
        "$tag" "$*" >>"$COMMANDS"
    for server in parley mosquitto; do
        t0=$SECONDS
        if [ $server = parley ]; then
            SRV_EXTRA=(--mqtt-port 0)
            start_server parley
            SRV_EXTRA=()
            port=$(sed -n 's/.*MQTT on mqtt:\/\/127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' \
                "$SRV_LOG" | head -n 1)
        else
            start_server mosquitto
            port=$SRV_PORT
        fi
        echo "== $tag on $server: mqtt-bench $port $*"
        c0=$(cpu_ticks "$SRV_PID")
        rc=0
        line=$("${PIN_GEN[@]}" "$MQTT_BENCH" "$port" "$@") || rc=$?
        c1=$(cpu_ticks "$SRV_PID")
        stop_server
        # exit 1: not every delivery came within 60 s, a result to report
        if [ "${line:0:1}" = "{" ]; then
            printf '{"tag":"%s","server":"%s","phase":"run","exit":%s,"server_cpu_s":%s,%s\n' \
                "$tag" "$server" "$rc" \
                "$(awk -v t=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" \
                    'BEGIN { printf "%.2f", t / hz }')" "${line:1}" \
                >>"$RESULTS"
        else
            echo "run.sh: mqtt-bench failed against $server (exit $rc)" >&2
        fi
        echo "== $tag on $server took $((SECONDS - t0)) s: $line"
    done
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
T0=$(date +%s)
for server in $SERVERS; do
    # Highest clean publish rate: 1000 subscribers, 100-byte data, the
    # rate spread over 4 publisher connections (a server reads a bounded
    # amount per connection per loop turn; see docs/benchmarks.md).
    bench "$server" fanout-max fanout --subs 1000 --pubs 4 --size 100 \
        --find-max --start-rate 25 --trial 2 --bisect 4 --timeout 120
    # Fixed rates for the chart past the ramp's first failure (the ramp's
    # own trials already chart the rates below it). The baseline is
    # seconds behind at 1000 already; at 2000 it only adds 16 s of
    # draining to the set.
    rates="200 1000 2000"
    [ "$server" = parley ] || rates="200 1000"
    for r in $rates; do
        bench "$server" "sweep-$r" fanout --subs 1000 --pubs 4 --size 100 \
            --rate "$r" --duration 2 --timeout 60
    done
    # Latency at a fixed 500 msg/s to 1000 subscribers (500k deliveries/s).
    bench "$server" fanout-500 fanout --subs 1000 --pubs 4 --size 100 \
        --rate 500 --duration 5 --timeout 60
    # IoT fan-in: 2000 sensors, 20k msg/s in all, one subscriber on #.
    bench "$server" fanin fanin --sensors 2000 --subs 1 --size 100 \
        --rate 20000 --duration 5 --timeout 90
    # The same without the search index (#16: indexing must not slow
    # publishing measurably), right after it so the same noise hits both.
    if [ "$server" = parley ]; then
        SRV_ENV=(PARLEY_STORE_NO_FTS=1)
        bench "$server" fanin-nofts fanin --sensors 2000 --subs 1 \
            --size 100 --rate 20000 --duration 5 --timeout 90
        SRV_ENV=()
    fi
    # The highest clean fan-in rate (persisted), same shape.
    # (1-s trials: with fanin-max-off beside it, the set stays in 5 min;
    # with 2-s trials it took 302-309 s.)
    bench "$server" fanin-max fanin --sensors 2000 --subs 1 --size 100 \
        --find-max --start-rate 5000 --trial 1 --bisect 2 --timeout 120
    # The same without the search index (#16), as fanin-nofts above.
    if [ "$server" = parley ]; then
        SRV_ENV=(PARLEY_STORE_NO_FTS=1)
        bench "$server" fanin-max-nofts fanin --sensors 2000 --subs 1 \
            --size 100 --find-max --start-rate 5000 --trial 1 --bisect 2 \
            --timeout 120
        SRV_ENV=()
    fi
    # Storage off and on side by side (issue #17): the same fan-in with
    # sensors/# ephemeral, the same at 20 topics (bytes written per
    # message), and the durable 50k case with its topic ephemeral (acked
    # at once, nothing stored).
    if [ "$server" = parley ]; then
        SRV_EXTRA=(--ephemeral 'sensors/#')
        bench "$server" fanin-off fanin --sensors 2000 --subs 1 --size 100 \
            --rate 20000 --duration 5 --timeout 90
        bench "$server" fanin-max-off fanin --sensors 2000 --subs 1 \
            --size 100 --find-max --start-rate 5000 --trial 1 --bisect 2 \
            --timeout 120
        SRV_EXTRA=(--ephemeral durable --ephemeral 'durable/#')
        bench "$server" durable-50k-off durable --pubs 100 --window 16 \
            --size 100 --rate 50000 --duration 5 --timeout 60
        SRV_EXTRA=()
        bench "$server" fanin-20t fanin --sensors 20 --subs 1 --size 100 \
            --rate 20000 --duration 5 --timeout 90
    fi
    # Acknowledged publishes from 100 publishers, 16 in flight each.
    bench "$server" durable durable --pubs 100 --window 16 --size 100 \
        --duration 5 --timeout 60
    # Ack latency at a fixed 50k publishes/s from the same 100 (open loop).
    bench "$server" durable-50k durable --pubs 100 --window 16 --size 100 \
        --rate 50000 --duration 5 --timeout 60
    if [ "$server" = parley ]; then
        SRV_ENV=(PARLEY_STORE_NO_FTS=1)
        bench "$server" durable-50k-nofts durable --pubs 100 --window 16 \
            --size 100 --rate 50000 --duration 5 --timeout 60
        SRV_ENV=()
    fi
    # Idle connections and the server's memory per connection.
    if [ "$NOFILE" -ge 19100 ]; then
        bench "$server" conns conns --conns 19000 --hold 1 --timeout 90
    else
        echo "run.sh: ulimit -Hn is $NOFILE: conns needs 19100; skipped" >&2
    fi
    # Cost growth: the same 50 msg/s to 100, 1000 and 10000 subscribers.
    for n in 100 1000 10000; do
        bench "$server" "growth-$n" fanout --subs "$n" --size 100 --rate 50 \
            --duration 3 --timeout 90
    done
    # 100k subscriptions on unrelated topics, then the 1000-subscriber case.
    bench "$server" noise-100k fanout --subs 1000 --size 100 --rate 50 \
        --extra-subs 100000 --duration 3 --timeout 90
    # Reconnect with since (the baseline keeps no history: Parley only).
    if [ "$server" = parley ]; then
        bench "$server" recover recover --clients 1000 --missed 1000 \
            --duration 10 --timeout 90
        # A pattern sub with history among 1k and 100k known topics
        # (#17): the cost should follow the 10 matched topics only.
        for n in 1000 100000; do
            bench "$server" "patsub-$n" patsub --topics "$n" --match 10 \
                --count 200 --timeout 120
        done
    fi
done

# MQTT (#14): Parley's listener beside Mosquitto, one generator. Fan-out:
# 200 QoS 0 subscribers of one topic, one QoS 1 publisher, 5000 messages
# (32 in flight). Fan-in: 50 QoS 1 publishers (8 in flight each), 100,000
# messages in all, one subscriber of bench/#. Sized to last a second or
# more on a quiet machine (at mqtt_bench.sh's 2000 and 20,000, Parley's
# runs took 0.1-0.4 s) and well inside mqtt-bench's 60-s deadline on a
# loaded one (Mosquitto fanned out 23k deliveries/s there).
if [[ " $SERVERS " == *" parley "* ]]; then
    mqtt_case mqtt-fanout fanout 200 5000
    mqtt_case mqtt-fanin fanin 50 100000
fi

# The store's reads on a large log (no server): history limit 50 and a
# since replay of 1000, on 1M messages over 10,000 topics built offline.
# docs/benchmarks.md has the same at 10M (minutes to build).
if [[ " $SERVERS " == *" parley "* ]] && want store-read; then
    echo "== store-read: parley-store-bench --messages 1000000 --topics 10000"
    printf 'store-read\tparley-store-bench --messages 1000000 --topics 10000 --reads 500\n' >>"$COMMANDS"
    mkdir -p "$WORK/sb"
    "${PIN_SRV[@]}" "$STORE_BENCH" --db "$WORK/sb/store.db" \
        --messages 1000000 --topics 10000 --reads 500 \
        2>"$WORK/sb/log" | tee -a "$RESULTS" || cat "$WORK/sb/log" >&2
    rm -rf "$WORK/sb"
fi
T1=$(date +%s)
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# The machine, for the report.
{
    echo "{"
    echo "\"nproc\": $(nproc),"
    echo "\"cpu\": \"$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)\","
    echo "\"kernel\": \"$(uname -r)\","
    lws=$(pkg-config --modversion libwebsockets 2>/dev/null | sed 's/-$//')
    echo "\"lws\": \"${lws:-?}\","
    sqlite=$(pkg-config --modversion sqlite3 2>/dev/null)
    echo "\"sqlite\": \"${sqlite:-?}\","
    echo "\"node\": \"$(node --version)\","
    ws=$(node -p "require('$HERE/baseline-node/node_modules/ws/package.json')
        .version")
    echo "\"ws\": \"$ws\","
    # (mosquitto -h exits 3)
    mosq=$("$MOSQUITTO" -h 2>/dev/null | sed -n 's/^mosquitto version //p' ||
        true)
    echo "\"mosquitto\": \"${mosq:-?}\","
    echo "\"parleyd\": \"$("$PARLEYD" --version 2>&1 | head -n 1)\","
    echo "\"date\": \"$(date -u +%Y-%m-%dT%H:%MZ)\","
    echo "\"seconds\": $((T1 - T0)),"
    echo "\"load_before\": \"$LOAD_BEFORE\","
    echo "\"load_after\": \"$LOAD_AFTER\","
    echo "\"pinning\": \"Server pinned to CPU $SERVER_CPU, generator to" \
         "CPU $GEN_CPU, both at nice $NICE\""
    echo "}"
} >"$WORK/machine.json"

mkdir -p "$OUT"
node "$HERE/report.js" "$RESULTS" "$WORK/machine.json" "$COMMANDS" \
    "$OUT/benchmarks.md" "$WORK"
# The chart draws the fanout runs; a BENCH_ONLY set without them has
# nothing to draw (gnuplot would fail on the empty log-scale axes).
if grep -qv '^#' "$WORK"/fanout-*.dat; then
    gnuplot -e "datadir='$WORK'; out='$OUT/bench-chart.png'" "$HERE/plot.gp"
    chart=" and $OUT/bench-chart.png"
else
    chart=" (no fanout runs: no chart)"
fi
echo "run.sh: wrote $OUT/benchmarks.md$chart;" \
     "the set took $((T1 - T0)) s"
