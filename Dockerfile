# nginx with ngx_http_attest_module in front of io.net's confidential
# inference API.  The build runs the same scripts as the README and CI:
# scripts/setup-deps.sh (Debian packages) and make.
FROM debian:12

ENV DEBIAN_FRONTEND=noninteractive

WORKDIR /src/ngx_http_attest_module
COPY . .

RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends make \
    && ./scripts/setup-deps.sh \
    && make module tool \
    && make install \
    && install -m 644 conf-examples/ionet.conf /etc/nginx/nginx.conf \
    && install -m 600 conf-examples/ionet-secrets.conf /etc/nginx/ \
    && install -m 644 conf-examples/nvidia_device_identity_root.pem \
                      conf-examples/intel_sgx_root_ca.pem /etc/nginx/ \
    && sed -i 's/listen 127.0.0.1:8080;/listen 8080;/' /etc/nginx/nginx.conf \
    && install -m 755 scripts/docker-entrypoint.sh /usr/local/bin/ \
    && rm -rf /var/lib/apt/lists/*

EXPOSE 8080

ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["nginx", "-g", "daemon off;"]
