#!/bin/sh
# attest-verify response on a 1 MiB completion, end to end
# (bench/cli_speed.pl; bench/README.md).  About 20 seconds.
#
#   bench/cli_speed.sh [--runs N] [--size BYTES]
set -eu
cd "$(dirname "$0")/.."

TOOL=${BUILD:-build}/attest-verify

if [ ! -x "$TOOL" ]; then
    echo "cli_speed: $TOOL missing: run make" >&2
    exit 1
fi

exec perl bench/cli_speed.pl --tool "$TOOL" "$@"
