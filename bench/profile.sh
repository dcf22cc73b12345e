#!/bin/sh
# Instructions per request of the nginx worker on the non-streaming path,
# attested against plain proxy_pass, under valgrind --tool=callgrind
# (bench/profile.pl; bench/README.md).  About 3 minutes for the default
# 3000 requests a batch.
#
#   bench/profile.sh [--requests N] [--sizes 4096,65536] [--out DIR]
#                    [--top N]
set -eu
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
CC=${CC:-cc}
LOADGEN=$BUILD/bench/loadgen

if [ ! -f "$BUILD/ngx_http_attest_module.so" ]; then
    echo "profile: $BUILD/ngx_http_attest_module.so missing: run make" >&2
    exit 1
fi

mkdir -p "$BUILD/bench"
if [ ! -x "$LOADGEN" ] || [ bench/loadgen.c -nt "$LOADGEN" ]; then
    $CC -O2 -g -Wall -Wextra -Wno-unused-parameter -o "$LOADGEN" \
        bench/loadgen.c
fi

exec perl bench/profile.pl --loadgen "$LOADGEN" --out "$BUILD/profile" "$@"
