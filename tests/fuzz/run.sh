#!/bin/sh
# Builds the libFuzzer targets of tests/fuzz/ with clang
# (-fsanitize=fuzzer,address,undefined) and runs each for SECONDS, or for
# N executions, from a seed corpus made of the real test data and the
# corpus kept in the repository.
#
#   tests/fuzz/run.sh [SECONDS] [TARGET...]     default: 20, all targets
#   tests/fuzz/run.sh runs=N [TARGET...]        N executions each (e.g.
#                                               runs=10000000), no time
#                                               limit
#   tests/fuzz/run.sh merge [TARGET...]         minimize build/fuzz/corpus
#                                               into tests/fuzz/corpus
#   tests/fuzz/run.sh build                     build only
#
# Targets: report sse jsonhash sig gpu tdx reqhash.  Everything goes to
# build/fuzz/: the binaries (fuzz_TARGET), seeds/TARGET (remade each
# run), corpus/TARGET (what the fuzzer found worth keeping, kept across
# runs) and, when something breaks, artifacts/TARGET-crash-... (the input;
# replay it with build/fuzz/fuzz_TARGET FILE).  tests/fuzz/corpus/TARGET,
# in the repository, is read, never written, except by "merge".  Exits 1
# if any target found a crash, a leak, a timeout or a broken invariant.

set -eu

cd "$(dirname "$0")/../.."

OUT=build/fuzz
CLANG=${CLANG:-clang}
PYTHON=${PYTHON:-/usr/bin/python3}
TESTDATA=${ATTEST_TESTDATA:-$(cd tests/testdata 2>/dev/null && pwd)}
ALL="report sse jsonhash sig gpu tdx reqhash"

if ! command -v "$CLANG" >/dev/null 2>&1; then
    echo "run.sh: $CLANG not found (apt-get install clang" \
         "libclang-rt-14-dev)" >&2
    exit 2
fi

if [ -z "$TESTDATA" ] || [ ! -d "$TESTDATA" ]; then
    echo "run.sh: no test data (set ATTEST_TESTDATA)" >&2
    exit 2
fi

SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
CFLAGS="-g -O1 -fno-omit-frame-pointer $SAN -Isrc/core -Itests/fuzz"
CFLAGS="$CFLAGS -Wall -Wextra -Wno-unused-parameter"
LIBS="-lsecp256k1 -lyajl -lcrypto"

build() {
    mkdir -p "$OUT/core"

    # the core once, instrumented for coverage but without libFuzzer's main
    objs=""
    for src in src/core/*.c; do
        obj="$OUT/core/$(basename "$src" .c).o"
        if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] \
           || [ -n "$(find src/core -name '*.h' -newer "$obj")" ]
        then
            $CLANG $CFLAGS -fsanitize=fuzzer-no-link -c -o "$obj" "$src"
        fi
        objs="$objs $obj"
    done

    for t in $ALL; do
        $CLANG $CFLAGS -fsanitize=fuzzer \
            -DFUZZ_TESTDATA="\"$TESTDATA\"" \
            -o "$OUT/fuzz_$t" "tests/fuzz/fuzz_$t.c" $objs $LIBS
    done
}

build

if [ "${1:-}" = build ]; then
    exit 0
fi

SECONDS_EACH=20
LIMIT=""
MERGE=""
case "${1:-}" in
    runs=*[!0-9]*|runs=) echo "run.sh: runs=N, N a number" >&2; exit 2 ;;
    runs=*) LIMIT="-runs=${1#runs=}"; shift ;;
    merge) MERGE=1; shift ;;
    ''|*[!0-9]*) ;;
    *) SECONDS_EACH=$1; shift ;;
esac

LIMIT=${LIMIT:-"-max_total_time=$SECONDS_EACH"}
TARGETS=${*:-$ALL}

if [ -n "$MERGE" ]; then
    for t in $TARGETS; do
        mkdir -p "tests/fuzz/corpus/$t" "$OUT/corpus/$t"
        echo "== fuzz_$t: merge into tests/fuzz/corpus/$t"
        "$OUT/fuzz_$t" -merge=1 "tests/fuzz/corpus/$t" "$OUT/corpus/$t" \
            >"$OUT/fuzz_$t.merge.log" 2>&1 \
            || { echo "   FAILED: see $OUT/fuzz_$t.merge.log"; exit 1; }
        echo "   $(ls "tests/fuzz/corpus/$t" | wc -l) files"
    done
    exit 0
fi

rm -rf "$OUT/seeds"
ATTEST_TESTDATA=$TESTDATA $PYTHON tests/fuzz/make_seeds.py "$OUT/seeds"

mkdir -p "$OUT/artifacts"
failed=""

for t in $TARGETS; do
    mkdir -p "$OUT/corpus/$t"

    case $t in
        report|tdx|gpu) max_len=65536 ;;
        *)              max_len=16384 ;;
    esac

    dict=""
    case $t in
        report|sse|jsonhash|sig|reqhash) dict="-dict=tests/fuzz/json.dict" ;;
    esac

    echo "== fuzz_$t: ${LIMIT#-}"

    kept=""
    if [ -d "tests/fuzz/corpus/$t" ]; then
        kept="tests/fuzz/corpus/$t"
    fi

    if ! ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
         UBSAN_OPTIONS=print_stacktrace=1 \
         "$OUT/fuzz_$t" $LIMIT -timeout=20 \
             -max_len="$max_len" -print_final_stats=1 $dict \
             -artifact_prefix="$OUT/artifacts/$t-" \
             "$OUT/corpus/$t" "$OUT/seeds/$t" $kept \
             >"$OUT/fuzz_$t.log" 2>&1
    then
        failed="$failed $t"
        echo "   FAILED: see $OUT/fuzz_$t.log and $OUT/artifacts/"
        grep -E "^(==[0-9]+==ERROR|SUMMARY|fuzz invariant)" \
            "$OUT/fuzz_$t.log" | head -5 | sed 's/^/   /'
    else
        grep -E "^stat::(number_of_executed_units|new_units_added)" \
            "$OUT/fuzz_$t.log" | sed 's/^/   /'
        grep -E "^#[0-9]+.*(DONE|cov:)" "$OUT/fuzz_$t.log" | tail -1 \
            | sed 's/^/   /'
    fi
done

if [ -n "$failed" ]; then
    echo "run.sh: failures in:$failed"
    exit 1
fi

echo "run.sh: no failures"
