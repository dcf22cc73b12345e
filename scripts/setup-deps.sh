#!/bin/sh
# Installs every Debian package the build, the tests, the demo and the
# benchmarks need.  Idempotent and quiet when all is present; runs as root
# (or through sudo) with no prompt.
set -eu

PKGS="build-essential nginx nginx-dev libssl-dev libsecp256k1-dev libyajl-dev
      perl curl valgrind python3 python3-ecdsa python3-pycryptodome
      python3-cryptography procps ca-certificates"

# Node.js for the OpenAI SDK test: any node + npm on PATH will do (the
# machine may carry a newer one than Debian's, which would conflict)
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    PKGS="$PKGS nodejs npm"
fi

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
            | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

[ -z "$missing" ] && exit 0

echo "setup-deps: installing:$missing"

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# the Debian nginx service must not hold port 80 or run at all: the tests
# start their own nginx processes
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
if command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl disable --now nginx >/dev/null 2>&1 || true
fi
