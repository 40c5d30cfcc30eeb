#!/bin/sh
# Cost of one pl_sweep_age call (Redis SLOWLOG, microseconds) over 100
# registered topics of 64 entries each: all old (the budget binds) and
# all young (one XRANGE COUNT 1 per topic).
set -e
P=${PORT:-6391}
D=$(mktemp -d)
LUA=$(dirname "$0")/../../db/redis/parley.lua
redis-server --port $P --bind 127.0.0.1 --save '' --appendonly no --daemonize yes --dir "$D" --pidfile "$D/r.pid" >/dev/null
until redis-cli -p $P ping >/dev/null 2>&1; do :; done
redis-cli -p $P -x FUNCTION LOAD REPLACE < $LUA >/dev/null
fill() { # $1 ts
  redis-cli -p $P FLUSHALL >/dev/null
  python3 - "$1" <<'PY' | redis-cli -p $P >/dev/null
import sys
ts=sys.argv[1]
for t in range(100):
    name="bench/%03d" % t
    b="pl:%d:{%s}:" % (len(name), name)
    for i in range(64):
        print('FCALL pl_publish 7 %sseq %slog %sret %sepoch %sred %sedits pl:topics pl:ch:%s %s alice {} 0 10000 e 3600 0 0 0 0 %s' % (b,b,b,b,b,b,name,ts,name))
PY
}
run() { # $1 label $2 min_ts
  redis-cli -p $P DEL pl:sweep >/dev/null
  redis-cli -p $P CONFIG SET slowlog-log-slower-than 0 >/dev/null
  redis-cli -p $P SLOWLOG RESET >/dev/null
  printf 'topics done, wrapped: '
  redis-cli -p $P FCALL pl_sweep_age 2 pl:topics pl:sweep $2 100 1024 | tr '\n' ' '
  us=$(redis-cli -p $P SLOWLOG GET 10 | python3 -c "
import sys
l=sys.stdin.read().split('\n')
# entries: id, time, duration, args...; find FCALL pl_sweep_age
for i,x in enumerate(l):
    if x=='pl_sweep_age': print(l[i-2]); break")
  echo "$1: ${us} us"
  redis-cli -p $P CONFIG SET slowlog-log-slower-than 10000 >/dev/null
}
fill 1000
run "100 topics x 64 entries, all old (budget 1024 binds)" 2000
fill 3000
run "100 topics x 64 entries, all young" 2000
redis-cli -p $P shutdown nosave >/dev/null 2>&1 || true
rm -rf "$D"
