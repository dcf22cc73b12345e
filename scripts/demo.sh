#!/bin/sh
# make demo: the module verifying real traffic on loopback.  Starts the
# test double of io.net's attestation agent and nginx with the module
# (conf-examples/local-demo.conf), sends one good completion, one that the
# double tampers with, and one streamed completion through nginx with
# curl, prints what came back, and stops everything (--keep: leaves both
# running and prints the URL; --stop: stops them).
set -eu

TOP=$(cd "$(dirname "$0")/.." && pwd)
DEMO="$TOP/build/demo"
NGINX_PORT=${DEMO_PORT:-8080}
AGENT_PORT=${DEMO_AGENT_PORT:-8081}
KEEP=0
[ "${1:-}" = "--keep" ] && KEEP=1

stop() {
    if [ -f "$DEMO/logs/nginx.pid" ]; then
        nginx -p "$DEMO" -c conf/nginx.conf -s quit 2>/dev/null || true
    fi
    if [ -f "$DEMO/agent.pid" ]; then
        kill "$(cat "$DEMO/agent.pid")" 2>/dev/null || true
        rm -f "$DEMO/agent.pid"
    fi
}

if [ "${1:-}" = "--stop" ]; then
    stop
    exit 0
fi

stop
rm -rf "$DEMO"
mkdir -p "$DEMO/conf" "$DEMO/logs" "$DEMO/tmp"
chmod 755 "$DEMO" "$DEMO/conf"
chmod 777 "$DEMO/tmp"

[ "$KEEP" = 1 ] || trap stop EXIT INT TERM

/usr/bin/python3 "$TOP/t/upstream/agent.py" --port "$AGENT_PORT" \
    --gpus 2 \
    --gpu-root-out "$DEMO/conf/demo-gpu-root.pem" \
    --cpu-root-out "$DEMO/conf/demo-cpu-root.pem" \
    --pid-file "$DEMO/agent.pid" >"$DEMO/logs/agent.log" 2>&1 &

i=0
until [ -s "$DEMO/conf/demo-cpu-root.pem" ] && \
      curl -s -o /dev/null "http://127.0.0.1:$AGENT_PORT/_info"; do
    i=$((i + 1))
    if [ $i -gt 100 ]; then
        echo "demo: the agent double did not start:" >&2
        cat "$DEMO/logs/agent.log" >&2
        exit 1
    fi
    sleep 0.1
done

sed -e "s|modules/ngx_http_attest_module.so|$TOP/build/ngx_http_attest_module.so|" \
    -e "s|127.0.0.1:8080|127.0.0.1:$NGINX_PORT|" \
    -e "s|127.0.0.1:8081|127.0.0.1:$AGENT_PORT|" \
    "$TOP/conf-examples/local-demo.conf" >"$DEMO/conf/nginx.conf"

nginx -p "$DEMO" -c conf/nginx.conf

URL="http://127.0.0.1:$NGINX_PORT/v1/chat/completions"
BODY='{"model":"demo","messages":[{"role":"user","content":"Hello"}]}'

show() {
    title=$1
    shift
    echo
    echo "== $title"
    curl -s -D "$DEMO/h" -o "$DEMO/b" "$@" "$URL" \
        -H 'Content-Type: application/json' || true
    printf '   status:  %s\n' "$(head -1 "$DEMO/h" | cut -d' ' -f2)"
    printf '   verdict: %s\n' "$(grep -i '^x-attestation-status:' "$DEMO/h" \
        | cut -d' ' -f2- | tr -d '\r')"
    printf '   body:    %s\n' "$(head -c 160 "$DEMO/b")"
}

echo "nginx with ngx_http_attest_module on 127.0.0.1:$NGINX_PORT, in front"
echo "of a local attested upstream (io.net agent double) on :$AGENT_PORT"

show "a signed completion" -d "$BODY"
show "a completion the upstream altered after signing" \
    -H 'X-Test-Mode: tamper_body' -d "$BODY"

echo
echo "== a streamed completion (last events)"
curl -s -N "$URL" -H 'Content-Type: application/json' \
    -d '{"model":"demo","stream":true,"messages":[{"role":"user","content":"Hi"}]}' \
    | grep -v '^$' | tail -3 | cut -c1-110

echo
echo "== the access log"
sleep 0.2
sed 's/^/   /' "$DEMO/logs/access.log"

if [ "$KEEP" = 1 ]; then
    echo
    echo "running: $URL (make demo-stop stops it)"
fi
