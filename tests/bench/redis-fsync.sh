#!/usr/bin/env bash
# redis-fsync.sh: what Redis's AOF fsync policy costs one durable publish.
#
# Runs the cluster's real publish (FCALL pl_publish from db/redis/parley.lua:
# idempotency check, INCR, XADD trimmed to 10,000, PUBLISH) against a
# private redis-server per policy: appendfsync always, everysec, no, and no
# AOF at all; one client (each publish waits for the one before: the
# latency a lone publisher sees) and 16 clients (Redis then syncs once per
# event-loop turn for all of them). Prints a Markdown table.
#
#   tests/bench/redis-fsync.sh [requests-per-run]     (default 4000)
#
# The AOF goes to a temp dir under $TMPDIR (or /tmp): the figures are those
# of the disk under it. Needs redis-server, redis-cli, redis-benchmark
# (Debian's redis-server and redis-tools) and python3 (for a free port).
set -euo pipefail

n=${1:-4000}
root=$(cd "$(dirname "$0")/../.." && pwd)
lua=$root/db/redis/parley.lua
work=$(mktemp -d "${TMPDIR:-/tmp}/pl-fsync-XXXXXX")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pid=""

stop() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        wait "$pid" 2>/dev/null || true
    fi
    pid=""
}
trap 'stop; rm -rf "$work"' EXIT

# One topic, as the node names its keys (redis_layout.c).
keys=('pl:5:{bench}:seq' 'pl:5:{bench}:log' 'pl:5:{bench}:ret'
      'pl:5:{bench}:epoch')
args=(pl:ch:bench 1764130000123 bench '{"v":42,"text":"a typical message"}'
      0 10000 e1 86400 0)

echo "| AOF | clients | publishes/s | p50 ms | p99 ms |"
echo "| --- | ---: | ---: | ---: | ---: |"
for mode in always everysec no off; do
    mkdir -p "$work/$mode"
    aof=(--appendonly yes --appendfsync "$mode")
    [ "$mode" = off ] && aof=(--appendonly no)
    redis-server --port "$port" --bind 127.0.0.1 --dir "$work/$mode" \
        --save "" --logfile "$work/$mode/redis.log" "${aof[@]}" &
    pid=$!
    for _ in $(seq 100); do
        redis-cli -p "$port" ping >/dev/null 2>&1 && break
        sleep 0.05
    done
    redis-cli -p "$port" -x FUNCTION LOAD REPLACE <"$lua" >/dev/null
    for clients in 1 16; do
        # CSV: "test","rps","avg","min","p50","p95","p99","max"; the test
        # name holds the command, commas included: count from the end.
        read -r rps p50 p99 < <(
            redis-benchmark -p "$port" -n "$n" -c "$clients" --csv \
                FCALL pl_publish 4 "${keys[@]}" "${args[@]}" | tail -1 |
            tr -d '"' | awk -F, '{ print $(NF-6), $(NF-3), $(NF-1) }')
        label="appendfsync $mode"
        [ "$mode" = off ] && label="appendonly no"
        printf '| %s | %d | %.0f | %s | %s |\n' "$label" "$clients" "$rps" \
            "$p50" "$p99"
    done
    stop
done
