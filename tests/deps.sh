#!/bin/sh
# Installs the Debian packages that building, testing and benchmarking need.
# Services that the packages would start at install time (nginx, dnsmasq,
# danted, tinyproxy) are kept from starting: tests start their own copies
# inside network namespaces.
set -eu

BUILD="build-essential pkg-config clang libclang-rt-14-dev clang-format
  libev-dev libyaml-dev libpcre2-dev libmaxminddb-dev libmnl-dev
  libnetfilter-conntrack-dev libnetfilter-queue-dev libssl-dev libcmocka-dev uthash-dev libcap-dev libmicrohttpd-dev
  libjansson-dev libcurl4-openssl-dev xxd libc-ares-dev
  libwslay-dev"
TEST="libmaxmind-db-writer-perl mmdb-bin iproute2 nftables iptables conntrack
  curl dnsutils openssl gnutls-bin socat nginx-light dnsmasq-base dante-server
  tinyproxy iperf3 wrk procps psmisc python3 ngtcp2-client mandoc man-db systemd
  strace util-linux python3-prometheus-client python3-websockets chromium"
BENCH="redsocks v2ray"

if [ "$(id -u)" != 0 ]; then
    echo "make deps: run as root (sudo make deps)" >&2
    exit 1
fi

missing=""
for p in $BUILD $TEST $BENCH; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && { echo "deps: all installed"; exit 0; }

made_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    made_policy=1
fi
trap '[ $made_policy = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
