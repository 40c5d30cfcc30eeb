#!/usr/bin/env bash
# CLI tests: drive the real `parley` binary (PARLEY_CLI) against a real
# parleyd (PARLEYD) on loopback. One case per run: `cli_test.sh CASE`.
# Every wait has a deadline; every process started here is stopped by pid
# on exit. Exit 0 = pass, 1 = fail, 77 = skipped.
set -u

CLI=${PARLEY_CLI:?PARLEY_CLI must point to the parley binary}
SRV=${PARLEYD:?PARLEYD must point to the parleyd binary}
CASE=${1:?usage: cli_test.sh CASE}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/parley-cli.XXXXXX")
PIDS=()
TMUX_SOCK="$TMP/tmux.sock"
SERVER_PID=""
PORT=""
URL=""

cleanup() {
    local p
    local deadline=$((SECONDS + 2))
    # TERM first: a `timeout` wrapper passes it on to its child (a KILL
    # would orphan the child), then, once they are gone or 2 s have
    # passed, KILL whatever is left.
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null
    done
    for p in "${PIDS[@]}"; do
        while kill -0 "$p" 2>/dev/null && [ "$SECONDS" -le "$deadline" ]; do
            sleep 0.05
        done
        kill -9 "$p" 2>/dev/null
    done
    if [ -S "$TMUX_SOCK" ]; then
        tmux -S "$TMUX_SOCK" kill-server 2>/dev/null
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
    echo "FAIL [$CASE]: $*" >&2
    local f
    for f in "$TMP"/*.err; do
        [ -f "$f" ] || continue
        echo "--- $f" >&2
        tail -n 20 "$f" >&2
    done
    exit 1
}

pass() {
    echo "PASS [$CASE]"
    exit 0
}

# wait_file_grep FILE REGEX SECONDS: until FILE has a line matching REGEX.
wait_file_grep() {
    local deadline=$((SECONDS + $3))
    while [ "$SECONDS" -le "$deadline" ]; do
        grep -Eq -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

# wait_lines FILE N SECONDS: until FILE has at least N lines.
wait_lines() {
    local deadline=$((SECONDS + $3))
    while [ "$SECONDS" -le "$deadline" ]; do
        [ -f "$1" ] && [ "$(wc -l < "$1")" -ge "$2" ] && return 0
        sleep 0.05
    done
    return 1
}

# wait_exit PID SECONDS: waits for a child; its status is in $WAIT_RC.
# Kills it and fails when it outlives the deadline.
wait_exit() {
    local deadline=$((SECONDS + $2))
    while kill -0 "$1" 2>/dev/null; do
        if [ "$SECONDS" -gt "$deadline" ]; then
            kill -TERM "$1" 2>/dev/null
            fail "process $1 did not exit within $2 s"
        fi
        sleep 0.05
    done
    wait "$1"
    WAIT_RC=$?
}

# start_server NAME [ARGS...]: starts parleyd on the db $TMP/NAME.db,
# on port $PORT when set (a restart), else a free one; sets PORT and URL.
start_server() {
    local name=$1
    shift
    local port=${PORT:-0}
    "$SRV" --port "$port" --db "$TMP/$name.db" "$@" 2>"$TMP/$name.err" &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    wait_file_grep "$TMP/$name.err" 'listening on https?://127\.0\.0\.1:[0-9]+' 10 ||
        fail "parleyd did not become ready"
    PORT=$(grep -Eo 'listening on https?://127\.0\.0\.1:[0-9]+' "$TMP/$name.err" |
           tail -n 1 | grep -Eo '[0-9]+$')
    URL="ws://127.0.0.1:$PORT/ws"
}

# jwt_exp TOKEN: the exp claim (seconds) of a JWT's payload.
jwt_exp() {
    local p
    p=$(printf '%s' "$1" | cut -d. -f2 | tr '_-' '/+')
    while [ $(( ${#p} % 4 )) -ne 0 ]; do p="$p="; done
    printf '%s' "$p" | base64 -d 2>/dev/null | grep -Eo '"exp":[0-9]+' |
        grep -Eo '[0-9]+$'
}

# the n-th field of our own compact JSON output: "key":value
field() {
    sed -E "s/.*\"$1\":(\"[^\"]*\"|[-0-9]+).*/\1/"
}

# ------------------------------------------------------------------ #

case_help() {
    "$CLI" --help > "$TMP/h.out" || fail "parley --help exited non-zero"
    grep -q 'Commands:' "$TMP/h.out" || fail "--help lists no commands"
    for c in chat sub pub token; do
        grep -q "^  $c" "$TMP/h.out" || fail "--help does not list $c"
        "$CLI" "$c" --help > "$TMP/c.out" || fail "$c --help failed"
        grep -q "Usage: parley $c" "$TMP/c.out" || fail "$c --help: no usage"
        "$CLI" help "$c" | grep -q "Usage: parley $c" ||
            fail "parley help $c: no usage"
    done
    "$CLI" frobnicate 2>/dev/null
    [ $? -eq 2 ] || fail "an unknown command should exit 2"
    "$CLI" pub 'a/+' 1 2>/dev/null
    [ $? -eq 2 ] || fail "pub to a pattern should be a usage error"
    "$CLI" sub 'a//b' 2>/dev/null
    [ $? -eq 2 ] || fail "sub to an invalid topic should be a usage error"
    pass
}

case_pubsub() {
    start_server s
    # sub's stdout goes through a pipe into a reader that appends each
    # line as it arrives: a line must show up before sub exits.
    ( timeout 20 "$CLI" sub "$URL" t/rt --count 3 -v 2>"$TMP/sub.err" |
      while IFS= read -r line; do printf '%s\n' "$line" >> "$TMP/out"; done
      echo "${PIPESTATUS[0]}" > "$TMP/sub.rc" ) &
    local reader=$!
    PIDS+=("$reader")
    wait_file_grep "$TMP/sub.err" 'subscribed to t/rt' 5 ||
        fail "sub did not report its subscription"
    timeout 10 "$CLI" pub "$URL" t/rt hello || fail "pub 1 failed"
    wait_lines "$TMP/out" 1 5 || fail "first message not printed (buffered?)"
    timeout 10 "$CLI" pub --name bob "$URL" t/rt '{"n":2,"s":"x y"}' ||
        fail "pub 2 failed"
    PARLEY_URL="$URL" timeout 10 "$CLI" pub t/rt 3 ||
        fail "pub 3 (URL from PARLEY_URL) failed"
    wait_exit "$reader" 20
    [ "$(cat "$TMP/sub.rc")" = 0 ] || fail "sub --count 3 exit status $(cat "$TMP/sub.rc")"
    [ "$(wc -l < "$TMP/out")" -eq 3 ] || fail "expected 3 lines, got $(wc -l < "$TMP/out")"
    sed -n 1p "$TMP/out" | grep -q '^{"topic":"t/rt","seq":1,"ts":[0-9]*,"from":"anon-[0-9]*","data":"hello"}$' ||
        fail "line 1 wrong: $(sed -n 1p "$TMP/out")"
    sed -n 2p "$TMP/out" | grep -q '"seq":2,.*"from":"bob","data":{"n":2,"s":"x y"}}$' ||
        fail "line 2 wrong: $(sed -n 2p "$TMP/out")"
    sed -n 3p "$TMP/out" | grep -q '"seq":3,.*"data":3}$' ||
        fail "line 3 wrong: $(sed -n 3p "$TMP/out")"
    if command -v jq >/dev/null 2>&1; then
        jq -e . "$TMP/out" >/dev/null || fail "output is not JSON lines"
    fi
    # --history and text format
    timeout 10 "$CLI" sub "$URL" t/rt --history 2 --count 2 --format text \
        > "$TMP/text" 2>"$TMP/text.err" || fail "sub --history 2 failed"
    grep -Eq '^[0-9]{2}:[0-9]{2}:[0-9]{2} t/rt #2 bob: \{"n":2,"s":"x y"\}$' "$TMP/text" ||
        fail "text format wrong: $(cat "$TMP/text")"
    grep -Eq ' t/rt #3 anon-[0-9]+: 3$' "$TMP/text" || fail "text line 2 wrong"
    pass
}

case_since_restart() {
    start_server r
    timeout 30 "$CLI" sub "$URL" r/x --count 6 -v > "$TMP/out" 2>"$TMP/sub.err" &
    local sub=$!
    PIDS+=("$sub")
    wait_file_grep "$TMP/sub.err" 'subscribed to r/x' 5 || fail "no subscription"
    printf 'm1\nm2\nm3\n' | timeout 10 "$CLI" pub "$URL" r/x - || fail "pub m1-m3"
    wait_lines "$TMP/out" 3 5 || fail "m1-m3 not received"
    kill -9 "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null
    wait_file_grep "$TMP/sub.err" 'disconnected' 5 || fail "sub did not notice the loss"
    start_server r           # same db, same port
    printf 'm4\nm5\nm6\n' | timeout 10 "$CLI" pub "$URL" r/x - || fail "pub m4-m6"
    wait_exit "$sub" 20
    [ "$WAIT_RC" -eq 0 ] || fail "sub exit status $WAIT_RC"
    [ "$(field seq < "$TMP/out" | tr '\n' ' ')" = "1 2 3 4 5 6 " ] ||
        fail "seqs after restart: $(field seq < "$TMP/out" | tr '\n' ' ')"
    [ "$(field data < "$TMP/out" | tr '\n' ' ')" = '"m1" "m2" "m3" "m4" "m5" "m6" ' ] ||
        fail "data after restart: $(field data < "$TMP/out" | tr '\n' ' ')"
    grep -q 'resumed r/x after seq 3' "$TMP/sub.err" ||
        fail "sub did not resume with since 3"
    # --since N on a fresh sub gets exactly what follows N
    timeout 10 "$CLI" sub "$URL" r/x --since 4 --count 2 > "$TMP/since" 2>/dev/null ||
        fail "sub --since 4 failed"
    [ "$(field seq < "$TMP/since" | tr '\n' ' ')" = "5 6 " ] ||
        fail "--since 4 gave: $(field seq < "$TMP/since" | tr '\n' ' ')"
    pass
}

# bulk N TOPIC: sub --count N in the background, N stdin lines through one
# pub, both must exit 0; leaves the sub output in $TMP/TOPIC.out.
bulk() {
    local n=$1 topic=$2 f=${2//\//_}
    timeout 40 "$CLI" sub "$URL" "$topic" --count "$n" -v > "$TMP/$f.out" \
        2>"$TMP/$f.sub.err" &
    local sub=$!
    PIDS+=("$sub")
    wait_file_grep "$TMP/$f.sub.err" "subscribed to $topic" 5 ||
        fail "no subscription to $topic"
    seq 1 "$n" | timeout 40 "$CLI" pub -v "$URL" "$topic" - 2>"$TMP/$f.pub.log" ||
        fail "pub of $n stdin lines to $topic exited non-zero: $(tail -n 3 "$TMP/$f.pub.log")"
    [ "$(grep -c " seq " "$TMP/$f.pub.log")" -eq "$n" ] ||
        fail "pub did not report $n acknowledgements"
    wait_exit "$sub" 40
    [ "$WAIT_RC" -eq 0 ] || fail "sub --count $n exit status $WAIT_RC"
    [ "$(wc -l < "$TMP/$f.out")" -eq "$n" ] ||
        fail "got $(wc -l < "$TMP/$f.out") lines"
    field seq < "$TMP/$f.out" | cmp -s - <(seq 1 "$n") ||
        fail "seqs are not 1..$n"
    # every line exactly once (order is checked where nothing is refused)
    field data < "$TMP/$f.out" | sort -n | cmp -s - <(seq 1 "$n") ||
        fail "data is not 1..$n exactly once"
    # and the server stored exactly n
    timeout 10 "$CLI" sub "$URL" "$topic" --since $((n - 1)) --count 1 \
        > "$TMP/$f.last" || fail "sub --since failed"
    grep -q "\"seq\":$n," "$TMP/$f.last" || fail "last stored message wrong"
}

case_stdin_bulk() {
    # A server without a rate limit: every line in order.
    start_server b --rate 0
    bulk 10000 t/bulk
    field data < "$TMP/t_bulk.out" | cmp -s - <(seq 1 10000) ||
        fail "lines were reordered without any refusal"
    kill "$SERVER_PID"
    # A server limiting each connection to 500/s with a burst of 50, far
    # below the client's window of lines in flight, so the limit is hit
    # however slow the machine (or sanitizer build) is: lines the server
    # refuses are retried until every one is acknowledged.
    PORT=""
    start_server l --rate 500 --burst 50
    bulk 2000 t/limited
    grep -q 'retried after rate limiting' "$TMP/t_limited.pub.log" ||
        fail "the rate limit was never hit: the retry path is untested"
    pass
}

case_refused() {
    start_server f
    timeout 10 "$CLI" pub "$URL" '$SYS/x' 1 2>"$TMP/p1.err"
    [ $? -ne 0 ] || fail "pub to \$SYS/x exited 0"
    grep -q 'forbidden' "$TMP/p1.err" || fail "no 'forbidden' on stderr: $(cat "$TMP/p1.err")"
    printf 'a\nb\n' | timeout 10 "$CLI" pub "$URL" '$SYS/y' - 2>"$TMP/p2.err"
    [ $? -ne 0 ] || fail "stdin pub to \$SYS/y exited 0"
    grep -q 'line 2 not published' "$TMP/p2.err" || fail "line 2 refusal not reported"
    # a refused line among accepted ones still fails the run
    printf '1\n2\n' | timeout 10 "$CLI" pub "$URL" t/ok - 2>/dev/null ||
        fail "plain stdin pub failed"
    # nobody listening
    timeout 10 "$CLI" pub ws://127.0.0.1:1/ws t/x 1 2>"$TMP/p3.err"
    [ $? -ne 0 ] || fail "pub with no server exited 0"
    grep -q 'cannot publish' "$TMP/p3.err" || fail "no message for a refused connection"
    # connection lost while lines are still coming: line 1 acknowledged,
    # then the server killed, then line 2 (stdin is a FIFO we hold open)
    mkfifo "$TMP/lost.in"
    timeout 10 "$CLI" pub -v "$URL" t/lost - <"$TMP/lost.in" 2>"$TMP/p4.err" &
    local pub=$!
    PIDS+=("$pub")
    exec 3>"$TMP/lost.in"
    echo 1 >&3
    wait_file_grep "$TMP/p4.err" ' seq ' 5 || fail "line 1 was not acknowledged"
    kill -9 "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null
    # pub may be gone already: the write's SIGPIPE must not end this script
    ( trap - PIPE; echo 2 >&3 ) 2>/dev/null
    exec 3>&-
    wait_exit "$pub" 10
    [ "$WAIT_RC" -ne 0 ] || fail "pub exited 0 although the connection was lost"
    grep -q 'connection lost' "$TMP/p4.err" || fail "no 'connection lost' message: $(cat "$TMP/p4.err")"
    pass
}

case_token() {
    start_server a --secret s3cret
    local tok bad lim exp
    tok=$(timeout 5 "$CLI" token --secret s3cret --user alice) || fail "token failed"
    echo "$tok" | grep -Eq '^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$' ||
        fail "not a JWT: $tok"
    timeout 10 "$CLI" pub --token "$tok" "$URL" t/a hi || fail "pub with a good token failed"
    PARLEY_TOKEN="$tok" timeout 10 "$CLI" sub "$URL" t/a --since 0 --count 1 > "$TMP/out" ||
        fail "sub with PARLEY_TOKEN failed"
    grep -q '"from":"alice","data":"hi"' "$TMP/out" || fail "from is not alice: $(cat "$TMP/out")"
    bad=$(timeout 5 "$CLI" token --secret wrong --user alice) || fail "token failed"
    timeout 10 "$CLI" pub --token "$bad" "$URL" t/a hi 2>"$TMP/bad.err"
    [ $? -ne 0 ] || fail "pub with a wrongly signed token exited 0"
    grep -q 'unauthorized' "$TMP/bad.err" || fail "no 'unauthorized': $(cat "$TMP/bad.err")"
    timeout 10 "$CLI" pub "$URL" t/a hi 2>/dev/null
    [ $? -ne 0 ] || fail "pub without a token exited 0 on an auth server"
    lim=$(timeout 5 "$CLI" token --secret s3cret --user bob --allow-pub 'x/#' \
          --allow-sub 'x/#') || fail "token with limits failed"
    timeout 10 "$CLI" pub --token "$lim" "$URL" x/1 ok || fail "allowed pub failed"
    timeout 10 "$CLI" pub --token "$lim" "$URL" y/1 no 2>"$TMP/lim.err"
    [ $? -ne 0 ] || fail "pub outside allow-pub exited 0"
    grep -q forbidden "$TMP/lim.err" || fail "no 'forbidden' for allow-pub"
    exp=$(timeout 5 "$CLI" token --secret s3cret --user carol --ttl 1m) || fail "ttl token"
    timeout 10 "$CLI" pub --token "$exp" "$URL" t/a fresh || fail "fresh ttl token refused"
    exp=$(timeout 5 "$CLI" token --secret s3cret --user carol --ttl 1s) || fail "ttl token"
    # wait (bounded) until the clock has passed the token's own exp claim
    local claim
    claim=$(jwt_exp "$exp") || fail "no exp claim in $exp"
    local deadline=$((SECONDS + 5))
    while [ "$(date +%s)" -le "$claim" ]; do
        [ "$SECONDS" -le "$deadline" ] || fail "the clock never passed exp $claim"
        sleep 0.05
    done
    timeout 10 "$CLI" pub --token "$exp" "$URL" t/a stale 2>/dev/null
    [ $? -ne 0 ] || fail "expired token accepted"
    timeout 5 "$CLI" token --user x 2>/dev/null
    [ $? -eq 2 ] || fail "token without --secret should be a usage error"
    pass
}

case_wss() {
    command -v openssl >/dev/null 2>&1 || { echo "SKIP: no openssl"; exit 77; }
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/key.pem" \
        -out "$TMP/cert.pem" -days 2 -subj /CN=localhost >/dev/null 2>&1 ||
        fail "cannot make a certificate"
    start_server t --cert "$TMP/cert.pem" --key "$TMP/key.pem"
    local wss="wss://127.0.0.1:$PORT/ws"
    timeout 10 "$CLI" pub "$wss" t/tls 1 2>"$TMP/v.err"
    [ $? -ne 0 ] || fail "self-signed certificate accepted without --insecure"
    grep -q -- '--insecure' "$TMP/v.err" || fail "no hint about --insecure"
    timeout 10 "$CLI" pub --insecure "$wss" t/tls 2 || fail "wss pub --insecure failed"
    timeout 10 "$CLI" sub -k "$wss" t/tls --since 0 --count 1 > "$TMP/out" ||
        fail "wss sub failed"
    grep -q '"seq":1,.*"data":2}' "$TMP/out" || fail "wss sub got: $(cat "$TMP/out")"
    pass
}

# tmux helpers for the chat case
tm() { tmux -S "$TMUX_SOCK" "$@"; }

# wait_pane SESSION REGEX SECONDS
wait_pane() {
    local deadline=$((SECONDS + $3))
    while [ "$SECONDS" -le "$deadline" ]; do
        tm capture-pane -p -S -200 -t "$1" 2>/dev/null | grep -Eq -- "$2" && return 0
        sleep 0.1
    done
    echo "--- pane $1:" >&2
    tm capture-pane -p -S -200 -t "$1" >&2
    return 1
}

case_chat_tmux() {
    command -v tmux >/dev/null 2>&1 || { echo "SKIP: no tmux"; exit 77; }
    start_server c
    local cmd="$CLI chat $URL --room lobby"
    tm new-session -d -s alice -x 100 -y 30 \
        "$cmd --name alice; echo EXIT=\$?; sleep infinity" || fail "tmux alice"
    wait_pane alice 'joined #lobby; here: alice' 10 || fail "alice did not join"
    tm new-session -d -s bob -x 100 -y 30 \
        "$cmd --name bob; echo EXIT=\$?; sleep infinity" || fail "tmux bob"
    wait_pane bob 'joined #lobby' 10 || fail "bob did not join"
    wait_pane alice '--> bob joined #lobby' 10 || fail "alice saw no join notice"
    tm send-keys -t alice 'hello from alice' Enter
    wait_pane bob '\[[0-9]{2}:[0-9]{2}\] <alice> hello from alice' 10 ||
        fail "bob did not see alice's line"
    wait_pane alice '<alice> hello from alice' 5 || fail "alice did not see her line"
    # a partly typed line survives an incoming message
    tm send-keys -t bob 'half a li'
    tm send-keys -t alice '/me waves' Enter
    wait_pane bob '\* alice waves' 10 || fail "bob did not see /me"
    tm send-keys -t bob 'ne' Enter
    wait_pane alice '<bob> half a line' 10 || fail "bob's edited line was broken"
    tm send-keys -t bob '/who' Enter
    wait_pane bob '#lobby: 2 here: (alice, bob|bob, alice)' 10 || fail "/who did not list both"
    tm send-keys -t alice '/history 2' Enter
    wait_pane alice 'last 2 messages' 10 || fail "/history did not answer"
    tm send-keys -t bob '/quit' Enter
    wait_pane bob 'EXIT=0' 10 || fail "bob's /quit did not exit 0"
    wait_pane alice '<-- bob left #lobby' 10 || fail "alice saw no leave notice"
    tm send-keys -t alice '/quit' Enter
    wait_pane alice 'EXIT=0' 10 || fail "alice's /quit did not exit 0"
    pass
}

# parley top in a terminal: the live $SYS view redraws in place with the
# connections, the messages and the busiest topic the test made, shows a
# refused upgrade as an event, needs a token covering $SYS/# when auth is
# on, and quits on 'q'.
case_top_tmux() {
    command -v tmux >/dev/null 2>&1 || { echo "SKIP: no tmux"; exit 77; }
    command -v curl >/dev/null 2>&1 || { echo "SKIP: no curl"; exit 77; }
    start_server t --secret s3cret --sys-interval 200ms
    local admin user
    admin=$("$CLI" token --secret s3cret --user root --allow-sub '$SYS/#') ||
        fail "token"
    user=$("$CLI" token --secret s3cret --user ann --allow-sub 'chat/#') ||
        fail "token"
    # a token that may not read $SYS is refused, with a reason
    timeout 10 "$CLI" top "$URL" --token "$user" --count 1 >"$TMP/deny.out" \
        2>"$TMP/deny.err"
    [ $? -eq 1 ] || fail "top with a chat-only token did not exit 1"
    grep -q 'cannot read \$SYS/#: forbidden' "$TMP/deny.err" ||
        fail "no forbidden reason: $(cat "$TMP/deny.err")"

    tm new-session -d -s top -x 100 -y 40 \
        "$CLI top $URL --token $admin; echo EXIT=\$?; sleep infinity" ||
        fail "tmux top"
    # (since start: the refused top's connection, then this one)
    wait_pane top '^Connections +1 +since start 2 ' 10 ||
        fail "top did not show its own connection"
    # in place: one header on the screen, however many views were drawn
    local up0 up1 until=$((SECONDS + 10))
    up0=$(tm capture-pane -p -t top | grep -Eo ' up [0-9dhms ]+$')
    up1=$up0
    while [ "$up1" = "$up0" ] && [ "$SECONDS" -le "$until" ]; do
        sleep 0.1
        up1=$(tm capture-pane -p -t top | grep -Eo ' up [0-9dhms ]+$')
    done
    [ "$up1" != "$up0" ] || fail "top did not refresh (still$up0)"
    [ "$(tm capture-pane -p -t top | grep -c '^parley top ')" -eq 1 ] ||
        fail "top scrolled instead of redrawing in place"

    "$CLI" sub "$URL" 'chat/#' --token "$user" >"$TMP/sub.out" \
        2>"$TMP/sub.err" &
    PIDS+=($!)
    wait_pane top '^Connections +2 ' 10 || fail "top did not count the sub"
    local i
    for i in 1 2 3; do
        "$CLI" pub "$URL" chat/busy "$i" --token "$user" >/dev/null \
            2>>"$TMP/pub.err" || fail "pub $i"
    done
    wait_pane top 'total in 3, out 3\)' 10 ||
        fail "top did not count 3 messages in and out"
    # busy enough to be seen: keep publishing until the view lists it
    local deadline=$((SECONDS + 10))
    until tm capture-pane -p -t top | grep -Eq '^  chat/busy +[0-9.]+$'; do
        [ "$SECONDS" -le "$deadline" ] || fail "chat/busy not among the busiest"
        "$CLI" pub "$URL" chat/busy 0 --token "$user" >/dev/null 2>&1
    done
    curl -s -o /dev/null --max-time 5 -H 'Connection: Upgrade' \
        -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
        -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \
        "http://127.0.0.1:$PORT/ws?token=bad"
    wait_pane top 'refused 127\.0\.0\.1: invalid or expired token \(401\)' 10 ||
        fail "top did not show the refused upgrade"
    tm send-keys -t top q
    wait_pane top 'EXIT=0' 10 || fail "q did not quit with 0"
    pass
}

# parley backup: an online copy into a relative FILE (made absolute), a
# refusal for an existing FILE, and a restore: a fresh parleyd on the copy
# serves the messages with their seqs and continues them.
case_backup() {
    start_server b
    local i
    for i in 1 2 3 4 5; do
        "$CLI" pub "$URL" keep/t "$i" >/dev/null 2>>"$TMP/pub.err" ||
            fail "pub $i"
    done
    (cd "$TMP" && timeout 30 "$CLI" backup "$URL" copy.db) >"$TMP/bk.out" \
        2>"$TMP/bk.err" || fail "backup failed: $(cat "$TMP/bk.err")"
    grep -Eq "^backup written to $TMP/copy\.db: [0-9]+ bytes" "$TMP/bk.out" ||
        fail "backup said: $(cat "$TMP/bk.out")"
    [ -f "$TMP/copy.db" ] || fail "no copy.db"
    [ ! -e "$TMP/copy.db.part" ] || fail "copy.db.part left behind"
    timeout 30 "$CLI" backup "$URL" "$TMP/copy.db" >/dev/null 2>"$TMP/bk2.err"
    [ $? -eq 1 ] || fail "a second backup over copy.db did not fail"
    grep -q 'HTTP 409' "$TMP/bk2.err" || fail "no 409: $(cat "$TMP/bk2.err")"
    # restore: a fresh server on the copy
    kill -TERM "$SERVER_PID"
    wait_exit "$SERVER_PID" 10
    PORT=""
    "$SRV" --port 0 --db "$TMP/copy.db" 2>"$TMP/restored.err" &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    wait_file_grep "$TMP/restored.err" 'listening on http://127\.0\.0\.1:[0-9]+' 10 ||
        fail "parleyd on the copy did not start"
    PORT=$(grep -Eo 'listening on http://127\.0\.0\.1:[0-9]+' "$TMP/restored.err" |
           grep -Eo '[0-9]+$')
    URL="ws://127.0.0.1:$PORT/ws"
    timeout 10 "$CLI" sub "$URL" keep/t --since 0 --count 5 >"$TMP/got.out" \
        2>"$TMP/got.err" || fail "sub on the restored server"
    [ "$(field seq <"$TMP/got.out" | tr '\n' ' ')" = "1 2 3 4 5 " ] ||
        fail "restored seqs: $(cat "$TMP/got.out")"
    timeout 10 "$CLI" pub "$URL" keep/t 6 || fail "pub on the restored server"
    timeout 10 "$CLI" sub "$URL" keep/t --since 5 --count 1 >"$TMP/six.out" \
        2>>"$TMP/got.err" || fail "sub since 5"
    [ "$(field seq <"$TMP/six.out")" = 6 ] ||
        fail "the restored server did not continue at seq 6: $(cat "$TMP/six.out")"
    pass
}

# #16: /edit, /delete, /reply, /search in the chat; parley grep.
case_chat_edit_tmux() {
    command -v tmux >/dev/null 2>&1 || { echo "SKIP: no tmux"; exit 77; }
    start_server c
    local cmd="$CLI chat $URL --room lobby"
    tm new-session -d -s alice -x 120 -y 40 \
        "$cmd --name alice; echo EXIT=\$?; sleep infinity" || fail "tmux alice"
    wait_pane alice 'joined #lobby; here: alice' 10 || fail "alice did not join"
    tm new-session -d -s bob -x 120 -y 40 \
        "$cmd --name bob; echo EXIT=\$?; sleep infinity" || fail "tmux bob"
    wait_pane bob 'joined #lobby' 10 || fail "bob did not join"
    tm send-keys -t alice 'hello wrold' Enter
    wait_pane bob '<alice> hello wrold #1' 10 || fail "bob did not see line 1"
    wait_pane alice '<alice> hello wrold #1' 10 || fail "alice did not see line 1"
    # /edit without a seq edits her own last line
    tm send-keys -t alice '/edit hello world' Enter
    wait_pane bob '<alice> hello world \(edited #1\) #2' 10 || fail "bob saw no edit"
    tm send-keys -t bob '/edit 1 not mine' Enter
    wait_pane bob 'not changed: .*author' 10 || fail "bob edited alice's line"
    tm send-keys -t bob '/reply 1 hi alice' Enter
    wait_pane alice '<bob> hi alice \(reply to #1\) #3' 10 || fail "alice saw no reply"
    tm send-keys -t bob '/search world' Enter
    wait_pane bob 'search: 1 match, newest first' 10 || fail "search found no edit"
    tm send-keys -t alice '/delete 1' Enter
    wait_pane bob '\*\*\* alice deleted #1' 10 || fail "bob saw no deletion"
    tm send-keys -t bob '/search world' Enter
    wait_pane bob 'search: 0 matches' 10 || fail "the deleted line was found"
    timeout 10 "$CLI" grep "$URL" 'chat/#' 'alice' > "$TMP/grep.out" ||
        fail "parley grep found nothing (status $?)"
    [ "$(wc -l < "$TMP/grep.out")" -eq 1 ] || fail "grep: $(cat "$TMP/grep.out")"
    grep -q '^{"topic":"chat/lobby","seq":3,"ts":[0-9]*,"from":"bob","data":{"text":"hi alice"},"reply_to":1}$' \
        "$TMP/grep.out" || fail "grep line wrong: $(cat "$TMP/grep.out")"
    timeout 10 "$CLI" grep "$URL" 'chat/#' 'wrold'
    [ $? -eq 1 ] || fail "grep without a match did not exit 1"
    timeout 10 "$CLI" grep "$URL" 'chat/#' '*' 2>/dev/null
    [ $? -eq 3 ] || fail "grep of no word did not exit 3"
    tm send-keys -t alice '/quit' Enter
    wait_pane alice 'EXIT=0' 10 || fail "alice's /quit did not exit 0"
    pass
}

case "$CASE" in
help|pubsub|since_restart|stdin_bulk|refused|token|wss|chat_tmux|top_tmux|backup|chat_edit_tmux)
    "case_$CASE" ;;
*)
    echo "unknown case $CASE" >&2
    exit 2 ;;
esac
