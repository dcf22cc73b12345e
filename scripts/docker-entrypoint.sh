#!/bin/sh
# Points nginx's resolver at the container's own DNS servers (from its
# /etc/resolv.conf, through resolver-conf.sh), then runs the command
# (nginx by default).
set -eu

resolver-conf.sh > /etc/nginx/attest-resolver.conf

mkdir -p /var/log/nginx
exec "$@"
