#!/bin/sh
# Prints an nginx "resolver" line naming the name servers this host uses,
# read from /etc/resolv.conf (or FILE), for conf-examples' include of
# attest-resolver.conf:
#
#   scripts/resolver-conf.sh [FILE] > /etc/nginx/attest-resolver.conf
#
# nginx has its own DNS client and does not read /etc/resolv.conf: a
# hard-coded 127.0.0.53 only works where systemd-resolved runs, which a
# stock Debian 12 does not.  Rerun it when the host's name servers change.
# Exits 1, printing nothing, when FILE names no server.
set -eu

FILE=${1:-/etc/resolv.conf}

servers=$(awk '$1 == "nameserver" && $2 != "" {
                   s = $2
                   sub(/%.*/, "", s)          # nginx takes no zone index
                   if (s ~ /:/) s = "[" s "]"
                   printf "%s ", s
               }' "$FILE")

if [ -z "$servers" ]; then
    echo "resolver-conf.sh: no nameserver in $FILE" >&2
    exit 1
fi

echo "# written by scripts/resolver-conf.sh from $FILE"
echo "resolver ${servers}valid=300s ipv6=off;"
