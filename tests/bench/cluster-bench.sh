#!/usr/bin/env bash
# cluster-bench.sh: parley-bench against a cluster, beside one node.
#
#   tests/bench/cluster-bench.sh [build-dir] [seconds] [rate]  (build, 10, 200)
#
# Starts a private redis-server (appendonly yes, appendfsync always: what
# --durability strict needs), three parleyd --redis nodes and haproxy with
# the shipped scripts/haproxy-parley.cfg (round-robin), all on free
# loopback ports in a temp dir, then runs:
#   fanout  1 publisher, 1000 subscribers, RATE msg/s (default 200):
#           cluster3 - through haproxy over three nodes: each connection
#                      lands on the next node, so two thirds of the
#                      subscribers are on another node than the publisher
#           cluster1 - through haproxy with all three backend entries on
#                      node 1: the same path, every delivery local
#           sqlite1  - one parleyd on SQLite behind the same haproxy
#   latency 1 publisher, 1 subscriber, 100 msg/s, straight to the nodes
#           (no haproxy): publish-to-delivery time of one message
#           lat-local - both on node 1
#           lat-cross - subscriber on node 2, publisher on node 1: the
#                       cost of the extra hop (node 1 -> Redis -> node 2)
#           lat-sqlite - both on the SQLite node
#   durable 16 publishers, 8 unacknowledged each, acked publishes/s:
#           redis    - node 1 (FCALL pl_publish, AOF always)
#           sqlite   - one parleyd on SQLite
#   and, around the durable run, Redis round trips per acked publish
#   (FCALLs) and commands Redis ran per acked publish (the FCALL and the
#   calls inside it; heartbeats and reaps included).
# Prints parley-bench's JSON lines (tag = the row's name) and a summary.
# Needs redis-server, redis-cli, haproxy, curl and python3.
set -euo pipefail

build=${1:-build}
secs=${2:-10}
rate=${3:-200}
root=$(cd "$(dirname "$0")/../.." && pwd)
bench=$build/tests/bench/parley-bench
parleyd=$build/server/parleyd
work=$(mktemp -d "${TMPDIR:-/tmp}/pl-cbench-XXXXXX")
pids=()

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

cleanup() {
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    for p in "${pids[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

# Wait (10 s at most) until URL answers 200.
wait_ok() {
    for _ in $(seq 200); do
        if [ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" = 200 ]; then
            return 0
        fi
        sleep 0.05
    done
    echo "cluster-bench: $1 never answered 200" >&2
    return 1
}

rport=$(free_port)
mkdir -p "$work/redis"
redis-server --port "$rport" --bind 127.0.0.1 --dir "$work/redis" \
    --save "" --appendonly yes --appendfsync always \
    --logfile "$work/redis/redis.log" &
pids+=($!)
for _ in $(seq 100); do
    redis-cli -p "$rport" ping >/dev/null 2>&1 && break
    sleep 0.05
done

start_node() { # name port [args...]
    local name=$1 port=$2
    shift 2
    mkdir -p "$work/$name"
    "$parleyd" --port "$port" --db "$work/$name/p.db" --log-level warn \
        "$@" 2>"$work/$name/log" &
    pids+=($!)
    wait_ok "http://127.0.0.1:$port/healthz"
}

declare -a ports
for i in 1 2 3; do
    ports[$i]=$(free_port)
    start_node "n$i" "${ports[$i]}" --redis "redis://127.0.0.1:$rport"
done
sport=$(free_port)
start_node sqlite "$sport"

lb_pid=""
start_lb() { # three backends
    if [ -n "$lb_pid" ]; then
        kill "$lb_pid"
        wait "$lb_pid" 2>/dev/null || true
    fi
    lport=$(free_port)
    PARLEY_LB_BIND=127.0.0.1:$lport PARLEY_NODE1=127.0.0.1:$1 \
        PARLEY_NODE2=127.0.0.1:$2 PARLEY_NODE3=127.0.0.1:$3 \
        haproxy -db -q -f "$root/scripts/haproxy-parley.cfg" &
    lb_pid=$!
    pids+=($lb_pid)
    wait_ok "http://127.0.0.1:$lport/healthz"
}

fanout() { # tag port
    "$bench" fanout --url "ws://127.0.0.1:$2/ws" --subs 1000 --pubs 1 \
        --rate "$rate" --duration "$secs" --json --tag "$1" || true
}

start_lb "${ports[1]}" "${ports[2]}" "${ports[3]}"
fanout cluster3 "$lport"
start_lb "${ports[1]}" "${ports[1]}" "${ports[1]}"
fanout cluster1 "$lport"
start_lb "$sport" "$sport" "$sport"
fanout sqlite1 "$lport"

latency() { # tag sub-port pub-port
    "$bench" fanout --url "ws://127.0.0.1:$2/ws" \
        --pub-url "ws://127.0.0.1:$3/ws" --subs 1 --pubs 1 --rate 100 \
        --duration "$secs" --json --tag "$1" || true
}
latency lat-local "${ports[1]}" "${ports[1]}"
latency lat-cross "${ports[2]}" "${ports[1]}"
latency lat-sqlite "$sport" "$sport"

calls() { # total commands Redis has run, and FCALLs
    redis-cli -p "$rport" info stats | tr -d '\r' |
        awk -F: '/^total_commands_processed:/ {print $2}'
    redis-cli -p "$rport" info commandstats | tr -d '\r' |
        sed -n 's/^cmdstat_fcall:calls=\([0-9]*\).*/\1/p'
}
durable() { # tag port
    "$bench" durable --url "ws://127.0.0.1:$2/ws" --pubs 16 --window 8 \
        --duration "$secs" --json --tag "$1" || true
}
read -r -d '' c0 f0 < <(calls; printf '\0') || true
out=$(durable redis "${ports[1]}")
read -r -d '' c1 f1 < <(calls; printf '\0') || true
echo "$out"
acked=$(echo "$out" | python3 -c 'import json,sys; print(sum(json.loads(l).get("acked",0) for l in sys.stdin if l.startswith("{")))')
durable sqlite "$sport"
python3 -c "a=max($acked,1); print('redis per acked publish: %.3f round trips (FCALL), %.3f commands run' % (($f1-$f0)/a, ($c1-$c0)/a))"
