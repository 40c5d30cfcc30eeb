#!/bin/bash
# mqtt_bench.sh BUILD_DIR: MQTT fan-out and fan-in, Parley against
# Debian's Mosquitto, with one generator (mqtt-bench) on the same work,
# one after the other on this machine; prints a Markdown table of the
# figures and Parley's ratio to Mosquitto.
#
# Each case gets a fresh broker on a free loopback port: parleyd with a
# new database (every message stored, acknowledged after the commit),
# mosquitto with a minimal config (in memory, acknowledged on receipt).
# Environment: MQTT_BENCH_N_OUT/M_OUT (fan-out: subscribers, messages;
# 200, 2000), MQTT_BENCH_N_IN/M_IN (fan-in: publishers, messages; 50,
# 20000). Exit 77 when mosquitto is missing.
set -euo pipefail

BUILD=$(cd "$1" && pwd)
PARLEYD=$BUILD/server/parleyd
GEN=$BUILD/tests/bench/mqtt-bench
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
N_OUT=${MQTT_BENCH_N_OUT:-200}
M_OUT=${MQTT_BENCH_M_OUT:-2000}
N_IN=${MQTT_BENCH_N_IN:-50}
M_IN=${MQTT_BENCH_M_IN:-20000}

if [ ! -x "$MOSQUITTO" ]; then
    echo "mqtt_bench.sh: $MOSQUITTO missing (apt-get install mosquitto)" >&2
    exit 77
fi
WORK=$(mktemp -d /tmp/parley-mqtt-bench.XXXXXX)
PID=
cleanup() {
    if [ -n "$PID" ]; then
        kill "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Wait (bounded) until something accepts on port.
wait_port() {
    local i
    for i in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
            return 0
        fi
        sleep 0.05
    done
    echo "mqtt_bench.sh: nothing listens on $1" >&2
    return 1
}

start_broker() { # name port
    rm -rf "$WORK/db"
    if [ "$1" = parley ]; then
        "$PARLEYD" --port 0 --mqtt-port "$2" --db "$WORK/db/p.db" \
            --log-level warn >"$WORK/broker.log" 2>&1 &
    else
        printf 'listener %s 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n' \
            "$2" \
            >"$WORK/mosquitto.conf"
        "$MOSQUITTO" -c "$WORK/mosquitto.conf" >"$WORK/broker.log" 2>&1 &
    fi
    PID=$!
    wait_port "$2"
}

stop_broker() {
    kill "$PID"
    wait "$PID" 2>/dev/null || true
    PID=
}

run_case() { # broker mode n m -> JSON line
    local port
    port=$(free_port)
    start_broker "$1" "$port"
    "$GEN" "$port" "$2" "$3" "$4"
    stop_broker
}

field() { # json key
    python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"
}

echo "| case | broker | deliveries/s | p50 ms | p99 ms |"
echo "| --- | --- | ---: | ---: | ---: |"
for c in "fanout $N_OUT $M_OUT" "fanin $N_IN $M_IN"; do
    set -- $c
    p=$(run_case parley "$1" "$2" "$3")
    m=$(run_case mosquitto "$1" "$2" "$3")
    for b in parley mosquitto; do
        j=$p
        [ $b = mosquitto ] && j=$m
        echo "| $1 $2×$3 | $b | $(field "$j" per_sec) | $(field "$j" p50_ms) | $(field "$j" p99_ms) |"
    done
    echo "| $1 | Parley / Mosquitto | $(python3 -c "print(round($(field "$p" per_sec)/$(field "$m" per_sec),2))") | | |"
done
