#!/bin/sh
# check_layers.sh: the layers of docs/design.md, checked on the source and
# on the built libraries. Fails (exit 1) when
#   1. the #include graph of server/ and db/ has a cycle between modules
#      (a module is foo.c with foo.h, and foo_internal.h), unless the edge
#      is listed in allowed_cycles beside this script;
#   2. a source of parley_core, parley_db or parley_protocol includes
#      libwebsockets.h or the glue's headers (read from the compiler's
#      dependency files, so indirect includes count);
#   3. a library uses a symbol defined by a layer above it (protocol <- db
#      <- core <- glue: parleyd's own objects, http.c among them) or any
#      lws_* symbol;
#   4. the libraries' link interface names libwebsockets;
#   5. parley_core defines or uses a symbol named for HTTP, unless it is
#      listed in allowed_core_http beside this script.
#
# Usage: check_layers.sh SRC_DIR BUILD_DIR PROTOCOL_LIB DB_LIB CORE_LIB
#                        LINK_LIBS GLUE_OBJECT...
# LINK_LIBS: the three libraries' LINK_LIBRARIES, '|'-separated.
set -u

src=$1 build=$2 lib_protocol=$3 lib_db=$4 lib_core=$5 link_libs=$6
shift 6
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
fail=0

bad() {
    echo "check_layers: $*" >&2
    fail=1
}

# 1. Module include graph: one "from to" line per edge.
module_of() {
    m=$(basename "$1")
    m=${m%.*}
    echo "${m%_internal}"
}
for f in "$src"/server/*.[ch] "$src"/db/*.[ch]; do
    from=$(module_of "$f")
    sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' \
        "$f" | while read -r inc; do
        to=$(module_of "$inc")
        [ "$to" != "$from" ] && echo "$from $to"
    done
done | sort -u >"$tmp/edges"
allowed="$(dirname "$0")/allowed_cycles"
sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$allowed" | sort -u >"$tmp/allowed"
comm -23 "$tmp/edges" "$tmp/allowed" >"$tmp/checked"
comm -13 "$tmp/edges" "$tmp/allowed" | while read -r e; do
    echo "check_layers: note: allowed edge '$e' is gone; delete it from" \
         "$allowed" >&2
done
if ! tsort "$tmp/checked" >/dev/null 2>"$tmp/tsort"; then
    bad "the #include graph of server/ and db/ has a cycle:"
    sed 's/^tsort: /    /' "$tmp/tsort" >&2
fi

# 2. What the libraries' sources include, directly or not.
for dir in server/CMakeFiles/parley_core.dir db/CMakeFiles/parley_db.dir \
           protocol/CMakeFiles/parley_protocol.dir; do
    n=0
    for d in "$build/$dir"/*.o.d; do
        [ -e "$d" ] || continue
        n=$((n + 1))
        if grep -Eq '(libwebsockets\.h|/server\.h|/ws_internal\.h)' "$d"; then
            bad "$(basename "$d" .o.d) in $dir includes lws or glue headers:"
            grep -Eo '[^ ]*(libwebsockets\.h|/server\.h|/ws_internal\.h)' \
                "$d" | sort -u | sed 's/^/    /' >&2
        fi
    done
    # The Makefile generator keeps the compiler's .d files; Ninja folds
    # them into .ninja_deps, so this check needs a Makefile build.
    [ "$n" -gt 0 ] || bad "no dependency files in $build/$dir (Makefiles)"
done

# 3. Symbols: what each layer defines, and what it uses.
defined() { nm --defined-only -g "$@" 2>/dev/null | awk 'NF == 3 {print $3}' |
            sort -u; }
used() { nm -u "$@" 2>/dev/null | awk '{print $NF}' | sort -u; }
defined "$lib_protocol" >"$tmp/def_protocol"
defined "$lib_db" >"$tmp/def_db"
defined "$lib_core" >"$tmp/def_core"
defined "$@" >"$tmp/def_glue"
[ -s "$tmp/def_core" ] && [ -s "$tmp/def_glue" ] ||
    bad "could not read symbols from the libraries or the glue objects"
# layer, then the layers above it
check_uses() {
    lib=$1 name=$2
    shift 2
    used "$lib" >"$tmp/use_$name"
    for above in "$@"; do
        comm -12 "$tmp/use_$name" "$tmp/def_$above" >"$tmp/x"
        if [ -s "$tmp/x" ]; then
            bad "$name uses symbols of $above:"
            sed 's/^/    /' "$tmp/x" >&2
        fi
    done
    if grep -q '^lws_' "$tmp/use_$name"; then
        bad "$name uses libwebsockets:"
        grep '^lws_' "$tmp/use_$name" | sed 's/^/    /' >&2
    fi
}
check_uses "$lib_protocol" protocol db core glue
check_uses "$lib_db" db core glue
check_uses "$lib_core" core glue

# 5. HTTP is the glue's: the core neither defines nor uses a symbol named
#    for it, except those listed in allowed_core_http.
allowed_http="$(dirname "$0")/allowed_core_http"
sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$allowed_http" | sort -u \
    >"$tmp/allowed_http"
sort -u "$tmp/def_core" "$tmp/use_core" | grep -i http >"$tmp/core_http"
comm -23 "$tmp/core_http" "$tmp/allowed_http" >"$tmp/x"
if [ -s "$tmp/x" ]; then
    bad "parley_core has HTTP code:"
    sed 's/^/    /' "$tmp/x" >&2
fi
comm -13 "$tmp/core_http" "$tmp/allowed_http" | while read -r sym; do
    echo "check_layers: note: '$sym' is gone from parley_core; delete it" \
         "from $allowed_http" >&2
done

# 4. The link interface.
case "$link_libs" in
*[Ll][Ww][Ss]* | *websockets*)
    bad "a library links libwebsockets: $link_libs" ;;
esac

[ "$fail" -eq 0 ] && echo "check_layers: ok: $(wc -l <"$tmp/edges") include" \
    "edges, no cycle; $(wc -l <"$tmp/def_glue") glue symbols in $# objects," \
    "none used below the glue, nor lws; links: $link_libs"
exit "$fail"
