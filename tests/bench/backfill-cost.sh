#!/bin/sh
# Cost of one pl_backfill step (Redis SLOWLOG, microseconds) over TOPICS
# topics stored with no registry entry (4 keys each: seq, log, epoch,
# ret, as an older release left them), for each step size given: the
# whole walk is run, and the median, p99 and largest step printed.
#   tests/bench/backfill-cost.sh [TOPICS] [COUNT...]   (100000 250 1000)
set -e
P=${PORT:-6392}
N=${1:-100000}
[ $# -gt 0 ] && shift
COUNTS=${*:-250 1000}
D=$(mktemp -d)
LUA=$(dirname "$0")/../../db/redis/parley.lua
redis-server --port $P --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize yes --dir "$D" --pidfile "$D/r.pid" >/dev/null
until redis-cli -p $P ping >/dev/null 2>&1; do :; done
redis-cli -p $P -x FUNCTION LOAD REPLACE < $LUA >/dev/null
python3 - "$N" <<'PY' | redis-cli -p $P >/dev/null
import sys
for i in range(int(sys.argv[1])):
    t = "room/%06d" % i
    b = "pl:%d:{%s}:" % (len(t), t)
    print("SET %sseq 1" % b)
    print("XADD %slog 1-0 t 1 m x" % b)
    print("SET %sepoch e" % b)
    print("SET %sret x" % b)
PY
redis-cli -p $P CONFIG SET slowlog-max-len 100000 >/dev/null
for c in $COUNTS; do
  redis-cli -p $P DEL pl:backfill pl:topics >/dev/null
  redis-cli -p $P CONFIG SET slowlog-log-slower-than 0 >/dev/null
  redis-cli -p $P SLOWLOG RESET >/dev/null
  steps=0
  while [ "$(redis-cli -p $P FCALL pl_backfill 2 pl:topics pl:backfill $c \
            | tail -1)" != 1 ]; do
    steps=$((steps + 1))
  done
  redis-cli -p $P CONFIG SET slowlog-log-slower-than 10000 >/dev/null
  printf 'COUNT %s: %s steps, %s topics registered; ' $c $((steps + 1)) \
    "$(redis-cli -p $P ZCARD pl:topics)"
  redis-cli -p $P --json SLOWLOG GET 100000 | python3 -c '
import json, sys
d = sorted(e[2] for e in json.load(sys.stdin)
           if e[3][:2] == ["FCALL", "pl_backfill"])
n = len(d)
print("step us: median %d, p99 %d, max %d (%d steps logged)"
      % (d[n // 2], d[min(n - 1, n * 99 // 100)], d[-1], n))'
done
redis-cli -p $P shutdown nosave >/dev/null 2>&1 || true
rm -rf "$D"
