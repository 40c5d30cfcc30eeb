#!/bin/sh
# run.sh [SECONDS] [WORKDIR]: build Parley's libFuzzer targets with clang
# and run each for SECONDS (default 60; `make fuzz`). ctest runs it with a
# few seconds per target (label fuzz); FUZZ_MQTT_SECS, when set, is the
# MQTT codec target's time instead (ctest keeps its share short).
#
# The targets are compiled here with clang directly, apart from the CMake
# (gcc) build: protocol/*.c plus one fuzz_*.c each, with libFuzzer,
# AddressSanitizer and UndefinedBehaviorSanitizer. WORKDIR (default
# build-fuzz at the top of the tree) holds the binaries, the corpora they
# grow (seeded from tests/fuzz/corpus/, which is never written) and any
# crash-* / leak-* input, which makes the run fail. Exit 77 (a skip for
# ctest) when clang or its libFuzzer runtime is missing.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
secs=${1:-60}
work=${2:-$root/build-fuzz}
cc=${FUZZ_CC:-clang}

if ! command -v "$cc" >/dev/null 2>&1; then
    echo "run.sh: $cc not found (Debian: apt-get install clang)" >&2
    exit 77
fi
mkdir -p "$work"
# Some clang packages ship without libFuzzer: skip rather than fail.
if ! printf 'int LLVMFuzzerTestOneInput(const char *d, long n)\n{ return 0; }\n' |
        "$cc" -x c -fsanitize=fuzzer -o "$work/probe" - >/dev/null 2>&1; then
    echo "run.sh: $cc cannot build libFuzzer targets; skipped" >&2
    exit 77
fi
rm -f "$work/probe"

deps=$(pkg-config --cflags --libs libcjson libcrypto)
flags="-std=c11 -D_GNU_SOURCE -DPARLEY_VERSION=\"fuzz\" -g -O1
       -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -Wall -Wextra -Werror -I$root/protocol"

# The MQTT session target runs a real hub in memory: the core's sources
# (no lws, no engine), read from parley_core's add_library in
# server/CMakeLists.txt so the list never drifts, and the store job
# records the hub links.
core=$(awk '/add_library\(parley_core /{on=1} on{print} on&&/\)/{exit}' \
           "$root/server/CMakeLists.txt" | tr ' ()' '\n\n\n' | grep '\.c$')
[ -n "$core" ] || { echo "run.sh: no parley_core sources found" >&2; exit 1; }
core_srcs="$root/db/store_job.c"
for f in $core; do
    core_srcs="$core_srcs $root/server/$f"
done

status=0
for target in cmd topic mqtt mqtt_session; do
    bin=$work/fuzz_$target
    corpus=$work/corpus-$target
    t_secs=$secs
    extra=""
    if [ "$target" = mqtt ] || [ "$target" = mqtt_session ]; then
        t_secs=${FUZZ_MQTT_SECS:-$secs}
    fi
    if [ "$target" = mqtt_session ]; then
        extra="-I$root/server -I$root/db $core_srcs -lm"
    fi
    # shellcheck disable=SC2086 # flags, extra and deps are word lists
    "$cc" $flags -o "$bin" "$here/fuzz_$target.c" "$root"/protocol/*.c \
        $extra $deps
    mkdir -p "$corpus"
    echo "fuzz_$target: ${t_secs}s, corpus $corpus"
    if ! "$bin" -max_total_time="$t_secs" -timeout=10 -rss_limit_mb=2048 \
            -max_len=70000 -print_final_stats=1 \
            -artifact_prefix="$work/fuzz_$target-" \
            "$corpus" "$here/corpus/$target" >"$work/fuzz_$target.log" 2>&1
    then
        echo "fuzz_$target FAILED: see $work/fuzz_$target.log" >&2
        tail -n 40 "$work/fuzz_$target.log" >&2
        status=1
    else
        grep -E "stat::number_of_executed_units|cov:" "$work/fuzz_$target.log" |
            tail -n 2
    fi
done
exit $status
