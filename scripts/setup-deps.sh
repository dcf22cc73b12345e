#!/bin/sh
# Installs the Debian packages one purpose needs, and nothing else:
#
#   setup-deps.sh [build] [test] [fuzz]      default: build
#
#   build  what `make` needs to build the module, attest-verify and the
#          unit tests: build-essential, nginx-dev (which brings Debian's
#          nginx), libssl-dev, libsecp256k1-dev, libyajl-dev
#   test   what `make test` (and make demo, make bench) adds: perl, procps,
#          curl, ca-certificates, valgrind, python3 with the agent double's
#          packages (python3-ecdsa, python3-pycryptodome,
#          python3-cryptography), Node.js and npm when no node is on PATH,
#          and promtool and prometheus (see below)
#   fuzz   what tests/fuzz/run.sh adds: clang, libclang-rt-14-dev, python3
#
# Idempotent and quiet when all is present; runs as root (or through sudo)
# with no prompt.  It only ever runs apt-get update, apt-get install and
# apt-get download: it never starts, stops, enables or disables a service.
# (On a host with systemd where nginx is not installed yet, Debian's own
# nginx package starts its default site on port 80 when it is installed;
# this script leaves that, and any nginx already running, alone.)
set -eu

TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$TOP/build}

BUILD_PKGS="build-essential nginx-dev libssl-dev libsecp256k1-dev libyajl-dev"
TEST_PKGS="perl procps curl ca-certificates valgrind python3 python3-ecdsa
           python3-pycryptodome python3-cryptography"
FUZZ_PKGS="clang libclang-rt-14-dev python3"

want=""
prom=0
[ $# -eq 0 ] && set -- build

for what in "$@"; do
    case "$what" in
    build)
        want="$want $BUILD_PKGS"
        ;;
    test)
        want="$want $TEST_PKGS"
        # the OpenAI SDK test: any node + npm on PATH will do (the machine
        # may carry a newer one than Debian's, which would conflict)
        if ! command -v node >/dev/null 2>&1 \
           || ! command -v npm >/dev/null 2>&1
        then
            want="$want nodejs npm"
        fi
        prom=1
        ;;
    fuzz)
        want="$want $FUZZ_PKGS"
        ;;
    *)
        echo "usage: setup-deps.sh [build] [test] [fuzz]" >&2
        exit 2
        ;;
    esac
done

missing=""
for p in $want; do
    case " $missing " in *" $p "*) continue ;; esac
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
            | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

# promtool and prometheus (t/80-metrics.t checks the exposition format and
# the README's alert rules, and scrapes the gateway with a Prometheus of its
# own on loopback) come from Debian's prometheus package, which also ships
# a service that its installation would start: unpack the two binaries into
# build/bin instead, where the test looks for them
need_prom=0
if [ "$prom" = 1 ]; then
    for b in promtool prometheus; do
        if ! command -v $b >/dev/null 2>&1 && [ ! -x "$BUILD/bin/$b" ]; then
            need_prom=1
        fi
    done
fi

[ -z "$missing" ] && [ "$need_prom" = 0 ] && exit 0

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq

if [ -n "$missing" ]; then
    echo "setup-deps: installing:$missing"
    $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if [ "$need_prom" = 1 ]; then
    echo "setup-deps: unpacking promtool and prometheus from Debian's" \
         "prometheus package into $BUILD/bin (not installed: no service)"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    # apt's download sandbox user must be able to write there
    chmod 755 "$tmp"
    id _apt >/dev/null 2>&1 && chown _apt "$tmp" 2>/dev/null || true
    (cd "$tmp" && apt-get download -qq prometheus)
    dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/root"
    mkdir -p "$BUILD/bin"
    install -m 755 "$tmp/root/usr/bin/promtool" \
                   "$tmp/root/usr/bin/prometheus" "$BUILD/bin/"
fi
