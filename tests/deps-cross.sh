#!/bin/sh
# Installs what building for another architecture and running the unit tests
# there under qemu-user need: the cross compiler, Debian's multiarch -dev
# packages for that architecture, and qemu-user. make test-cross runs it.
#
#   tests/deps-cross.sh [DEBIAN_ARCH [GNU_TRIPLET]]     default: arm64 aarch64-linux-gnu
set -eu

ARCH=${1:-arm64}
TRIPLET=${2:-aarch64-linux-gnu}

LIBS="libev-dev libyaml-dev libpcre2-dev libmaxminddb-dev libmnl-dev
  libnetfilter-conntrack-dev libnetfilter-queue-dev libssl-dev libcap-dev libcmocka-dev libmicrohttpd-dev
  libjansson-dev libcurl4-openssl-dev libc-ares-dev"
# libwslay-dev is not co-installable across architectures: the target gets the runtime
# library (linked by its file name, see the Makefile) and the header is the native
# libwslay-dev's, which tests/deps.sh installs.
RUNTIME="libwslay1"
PKGS="gcc-$TRIPLET libc6-dev-$ARCH-cross qemu-user pkgconf uthash-dev xxd"
for l in $LIBS $RUNTIME; do PKGS="$PKGS $l:$ARCH"; done
PKGS="$PKGS libwslay-dev"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && { echo "deps-cross: all installed"; exit 0; }

if [ "$(id -u)" != 0 ]; then
    echo "make deps-cross: run as root (sudo make deps-cross); missing:$missing" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
dpkg --print-foreign-architectures | grep -qx "$ARCH" || dpkg --add-architecture "$ARCH"
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
