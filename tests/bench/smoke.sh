#!/bin/sh
# smoke.sh PARLEYD PARLEY_BENCH MODE: a few hundred messages through a
# fresh parleyd, so ctest checks the load generator itself.
#   clean  every message must be delivered: parley-bench must exit 0
#   loss   two subscribers are closed halfway: parley-bench must see the
#          loss and exit 1 (anything else fails this test)
set -u
PARLEYD=$1
BENCH=$2
MODE=$3
TMP=$(mktemp -d /tmp/parley-bench-smoke.XXXXXX)
SRV=
cleanup() {
    if [ -n "$SRV" ]; then
        kill "$SRV" 2>/dev/null
        wait "$SRV" 2>/dev/null
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

"$PARLEYD" --port 0 --db "$TMP/p.db" 2>"$TMP/server.log" &
SRV=$!
PORT=
i=0
while [ $i -lt 100 ]; do
    PORT=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' \
           "$TMP/server.log" | head -n 1)
    [ -n "$PORT" ] && break
    kill -0 "$SRV" 2>/dev/null || break
    sleep 0.1
    i=$((i + 1))
done
if [ -z "$PORT" ]; then
    echo "smoke: parleyd did not start" >&2
    cat "$TMP/server.log" >&2
    exit 1
fi

set -- fanout --url "ws://127.0.0.1:$PORT/ws" --server-pid "$SRV" \
    --subs 20 --pubs 2 --rate 200 --count 300 --duration 5 --drain 2 \
    --timeout 30
case $MODE in
clean)
    "$BENCH" "$@" --json-out "$TMP/out.json"
    rc=$?
    # the JSON line must say that all 300 x 20 deliveries arrived
    if [ $rc -eq 0 ] && ! grep -q '"expected":6000,"delivered":6000,"lost":0' \
            "$TMP/out.json"; then
        echo "smoke: unexpected result line" >&2
        cat "$TMP/out.json" >&2
        rc=1
    fi
    # fanin and durable in miniature
    if [ $rc -eq 0 ]; then
        "$BENCH" fanin --url "ws://127.0.0.1:$PORT/ws" --sensors 50 \
            --subs 2 --rate 500 --count 300 --timeout 30
        rc=$?
    fi
    if [ $rc -eq 0 ]; then
        "$BENCH" durable --url "ws://127.0.0.1:$PORT/ws" --pubs 10 \
            --window 4 --count 300 --duration 5 --timeout 30
        rc=$?
    fi
    # patsub: every one of 20 subs must get its 5 matched topics back
    if [ $rc -eq 0 ]; then
        "$BENCH" patsub --url "ws://127.0.0.1:$PORT/ws" --topics 500 \
            --match 5 --count 20 --pubs 4 --json --timeout 30 \
            >"$TMP/patsub.json"
        rc=$?
        if [ $rc -eq 0 ] && ! grep -q '"expected":100,"delivered":100,' \
                "$TMP/patsub.json"; then
            echo "smoke: unexpected patsub line" >&2
            cat "$TMP/patsub.json" >&2
            rc=1
        fi
    fi
    exit $rc
    ;;
loss)
    "$BENCH" "$@" --kill-subs 2
    rc=$?
    if [ $rc -eq 1 ]; then
        echo "smoke: loss detected as it should be"
        exit 0
    fi
    echo "smoke: parley-bench exited $rc, expected 1 (loss)" >&2
    exit 1
    ;;
esac
echo "smoke: unknown mode $MODE" >&2
exit 2
