#!/bin/sh
# Points nginx's resolver at the container's own DNS server, then runs
# the command (nginx by default).
set -eu

ns=$(awk '/^nameserver/ { print $2; exit }' /etc/resolv.conf 2>/dev/null || true)
if [ -n "$ns" ]; then
    case "$ns" in *:*) ns="[$ns]" ;; esac
    sed -i "s/^\(\s*resolver\) [^ ;]*/\1 $ns/" /etc/nginx/nginx.conf
fi

mkdir -p /var/log/nginx
exec "$@"
