#!/bin/sh
# Runs the io.net agent double (t/upstream/agent.py) in the foreground for
# manual tests and demos, writing its GPU and CPU test roots into a
# directory (default build/agent) so that nginx can pin them.
#
#   run-agent.sh [--dir DIR] [agent options: --port N --gpus N --no-cpu
#                --image-digest sha256:<hex> --report-data address_nonce
#                --modes m1,m2 ...]
#
# Prints "PORT <n>" once it listens.  Stop it with ^C.
set -eu

TOP=$(cd "$(dirname "$0")/.." && pwd)
DIR="$TOP/build/agent"
if [ "${1:-}" = "--dir" ]; then
    DIR=$2
    shift 2
fi
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)

exec /usr/bin/python3 "$TOP/t/upstream/agent.py" \
    --gpu-root-out "$DIR/gpu-root.pem" --cpu-root-out "$DIR/cpu-root.pem" \
    --pid-file "$DIR/agent.pid" "$@"
