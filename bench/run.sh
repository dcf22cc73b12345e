#!/bin/sh
# make bench: builds the load generator and runs bench/bench.pl, which
# starts the agent double, a replay upstream and nginx with the module,
# and measures the attested location against a plain proxy_pass one.
# Prints a table and writes it to bench/results.txt (see bench/README.md).
#
#   bench/run.sh [--quick] [bench.pl options...]
set -eu
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
CC=${CC:-cc}
LOADGEN=$BUILD/bench/loadgen

if [ ! -f "$BUILD/ngx_http_attest_module.so" ]; then
    echo "bench: $BUILD/ngx_http_attest_module.so missing: run make" >&2
    exit 1
fi

mkdir -p "$BUILD/bench"
if [ ! -x "$LOADGEN" ] || [ bench/loadgen.c -nt "$LOADGEN" ]; then
    $CC -O2 -g -Wall -Wextra -Wno-unused-parameter -o "$LOADGEN" \
        bench/loadgen.c
fi

# section (e) times one signer recovery with bench_core (the verify floor)
if ! make -s BUILD="$BUILD" "$BUILD/bench/bench_core" >/dev/null; then
    echo "bench: $BUILD/bench/bench_core not built: (e) without the floor" >&2
fi

if [ "${1:-}" = "--fleet" ]; then
    shift
    exec perl bench/fleet.pl --loadgen "$LOADGEN" \
        --out bench/fleet-results.txt "$@"
fi

exec perl bench/bench.pl --loadgen "$LOADGEN" --out bench/results.txt \
    --raw "$BUILD/bench/results.json" \
    --bench-core "$BUILD/bench/bench_core" \
    --attest-verify "$BUILD/attest-verify" "$@"
