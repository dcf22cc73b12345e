#!/bin/sh
# Instructions per streamed event, module against plain proxy_pass, with
# the nginx worker under valgrind --tool=callgrind (bench/profile_sse.pl;
# see bench/README.md).  Profiles go to build/bench/callgrind/; read one
# with callgrind_annotate FILE.
#
#   bench/profile-sse.sh [--events 500] [--streams 4] [--interval-ms 1]
#                        [--cpu]   (worker CPU ns instead, no valgrind)
set -eu
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
CC=${CC:-cc}
LOADGEN=$BUILD/bench/loadgen

if [ ! -f "$BUILD/ngx_http_attest_module.so" ]; then
    echo "profile: $BUILD/ngx_http_attest_module.so missing: run make" >&2
    exit 1
fi

if ! command -v valgrind >/dev/null 2>&1 && [ "${1:-}" != --cpu ]; then
    echo "profile: valgrind not found (apt-get install valgrind)" >&2
    exit 2
fi

mkdir -p "$BUILD/bench"
if [ ! -x "$LOADGEN" ] || [ bench/loadgen.c -nt "$LOADGEN" ]; then
    $CC -O2 -g -Wall -Wextra -Wno-unused-parameter -o "$LOADGEN" \
        bench/loadgen.c
fi

exec perl bench/profile_sse.pl --loadgen "$LOADGEN" \
    --out "$BUILD/bench/callgrind" "$@"
