#!/usr/bin/env bash
# check_layers.sh - the include rule that keeps the layers (README.md "Layout"), checked on the
# source tree; run by `make test` (and `make check-layers`). Prints every violation and exits 1
# when there is one.
#
#   server -> proto -> lib, never back: lib includes only lib headers; proto only proto and lib
#   headers; no engine header (atrous_engine.h, atrous_cache.h) in proto; a lib file's private
#   header (lib/*_internal.h) only in lib
#   no file or directory I/O in proto: no fopen/open/openat/opendir/stat/fstat/lstat calls
#   dnnl.h only in lib, jansson.h only in proto, microhttpd.h and GnuTLS's headers only in server
# (tests/ and benchmarks sit outside the layers and are not checked.)
set -u
cd "$(dirname "$0")/.."
fail=0
violation() {
    echo "check_layers: $*"
    fail=1
}

headers_of() { (cd "$1" && ls -- *.h 2>/dev/null); }
lib_headers=$(headers_of lib)
proto_headers=$(headers_of proto)

# Quoted includes of a file that are not headers of the allowed folders.
check_quoted() {
    local file=$1 allowed=$2 inc
    while IFS= read -r inc; do
        grep -qxF -- "$inc" <<<"$allowed" || violation "$file includes \"$inc\", outside its layer"
    done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$file")
}

for f in lib/*.[ch]; do
    check_quoted "$f" "$lib_headers"
done
for f in proto/*.[ch]; do
    check_quoted "$f" "$lib_headers"$'\n'"$proto_headers"
    while IFS= read -r hit; do
        violation "$f:$hit: an engine header in proto"
    done < <(grep -nE '#[[:space:]]*include[[:space:]]*"(atrous_engine|atrous_cache)\.h"' "$f")
    while IFS= read -r hit; do
        violation "$f:$hit: file I/O in proto"
    done < <(grep -nE '(^|[^A-Za-z0-9_])(fopen|open|openat|opendir|stat|fstat|lstat)[[:space:]]*\(' "$f")
done

# lib's private headers (lib/atrous_engine_internal.h: the engine's structs, dnnl.h) stay in lib.
for private in $(grep -x '.*_internal\.h' <<<"$lib_headers"); do
    while IFS= read -r hit; do
        violation "$hit: lib's private header outside lib/"
    done < <(grep -rnF "\"$private\"" proto server)
done

# Each dependency's header in its one folder.
only_in() {
    local header=$1 folder=$2 hit
    while IFS= read -r hit; do
        violation "$hit: <${header//\\/}> outside $folder/"
    done < <(grep -rnE "#[[:space:]]*include[[:space:]]*<$header>" lib proto server |
        grep -v "^$folder/")
}
only_in 'dnnl\.h' lib
only_in 'jansson\.h' proto
only_in 'microhttpd\.h' server
only_in 'gnutls/[a-z0-9_]+\.h' server

[ "$fail" = 0 ] && echo "check_layers: the include rule holds (lib <- proto <- server)"
exit $fail
