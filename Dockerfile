# nginx with ngx_http_attest_module in front of io.net's confidential
# inference API.  The build runs the same scripts as the README and CI:
# scripts/setup-deps.sh build (Debian packages) and make; the image gets
# the build packages only (make test-deps would add the test ones).
FROM debian:12

ENV DEBIAN_FRONTEND=noninteractive

WORKDIR /src/ngx_http_attest_module
COPY . .

RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends make \
    && ./scripts/setup-deps.sh build \
    && make module tool \
    && make install \
    && cd conf-examples \
    && install -m 644 ionet.conf /etc/nginx/nginx.conf \
    && install -m 644 conf.d/attest-ionet.conf /etc/nginx/conf.d/ \
    && install -m 644 ionet-models.conf nvidia_device_identity_root.pem \
                      intel_sgx_root_ca.pem /etc/nginx/ \
    && install -m 600 ionet-secrets.conf /etc/nginx/ \
    && sed -i 's/listen 127.0.0.1:8080;/listen 8080;/' \
           /etc/nginx/conf.d/attest-ionet.conf \
    && install -m 755 ../scripts/docker-entrypoint.sh \
                      ../scripts/resolver-conf.sh /usr/local/bin/ \
    && rm -rf /var/lib/apt/lists/*

EXPOSE 8080

ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["nginx", "-g", "daemon off;"]
