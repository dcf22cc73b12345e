#!/bin/sh
# Builds ngx_http_attest_module.so against an nginx source or nginx-dev
# tree (default: Debian's /usr/share/nginx/src), configured with the same
# flags as the installed nginx so that the .so loads into it.
#
#   build-module.sh [NGX_SRC] [BUILD_DIR]
set -eu

NGX_SRC=${1:-/usr/share/nginx/src}
BUILD=${2:-build}
TOP=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$BUILD"
BUILD=$(cd "$BUILD" && pwd)
TREE="$BUILD/nginx"

# configure writes into its tree: work on a private copy
if [ ! -f "$TREE/configure" ]; then
    rm -rf "$TREE"
    cp -a "$NGX_SRC" "$TREE"
fi

FLAGS=""
if [ -f "$TREE/conf_flags" ]; then
    # Debian's nginx-dev: a bash array of the package's configure flags
    FLAGS=$(bash -c '. "$1"; printf "%s\n" "${NGX_CONF_FLAGS[@]}"' _ \
            "$TREE/conf_flags" | tr '\n' ' ')
fi

# reconfigure when the module's file list changes
SIG=$(cd "$TOP" && ls config src/core src/ngx | cksum)
if [ ! -f "$TREE/objs/Makefile" ] || [ "$(cat "$TREE/.attest-sig" 2>/dev/null)" != "$SIG" ]; then
    (cd "$TREE" && ./configure $FLAGS --add-dynamic-module="$TOP" >"$BUILD/configure.log" 2>&1) || {
        tail -30 "$BUILD/configure.log"; exit 1; }
    echo "$SIG" > "$TREE/.attest-sig"
fi

make -s -C "$TREE" -f objs/Makefile modules
# a new inode: a running nginx keeps its mapped copy intact
cp "$TREE/objs/ngx_http_attest_module.so" "$BUILD/.ngx_http_attest_module.so.tmp"
mv -f "$BUILD/.ngx_http_attest_module.so.tmp" "$BUILD/ngx_http_attest_module.so"
echo "built $BUILD/ngx_http_attest_module.so"
