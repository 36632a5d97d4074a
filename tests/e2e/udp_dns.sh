#!/usr/bin/env bash
# udp_dns.sh — dig through switchyard's UDP inbounds (tproxy, then
# udp-redirect) to a dnsmasq origin, routed by the DNS name to direct, to
# dante-server's UDP ASSOCIATE, and to drop. dnsmasq's query log shows where
# each query came from: the router (direct), the SOCKS5 server (proxied), or
# nowhere (dropped).
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib_udp.sh
e2e_need_switchyard

udp_net || e2e_abort "network set-up"
udp_start_dnsmasq || not_ok "dnsmasq listening"
udp_start_danted || not_ok "danted listening"

cat >"$POLICY" <<YAML
log: {level: info, flows: true}
routing_mark: 0xff
inbounds:
  - {name: tp, type: tproxy, listen: "[::]:12346", network: [udp]}
  - {name: nat, type: udp-redirect, listen: "0.0.0.0:12347"}
outbounds:
  - {name: dante, type: socks5, server: "203.0.113.10:1080", udp: true}
rules:
  - {domain_suffix: direct.example, action: direct}
  - {domain_suffix: proxied.example, action: dante}
  - {domain_suffix: blocked.example, action: drop}
default: drop
YAML
bg "$NS_R" "$E2E_TMP/switchyard.log" "$SWITCHYARD" run -c "$POLICY"
wait_udp "$NS_R" '*' 12346 || wait_udp "$NS_R" '[::]' 12346 || true
wait_udp "$NS_R" 0.0.0.0 12347 || true

# ask NAME [SERVER]: prints the addresses dig's answer holds, nothing when
# there is none (dig prints ";; connection timed out" on stdout then). Two
# tries, so a datagram lost to a busy machine does not fail the check.
ask() {
    ip netns exec "$NS_C" timeout 15 dig @"${2:-198.51.100.53}" "$1" +short +tries=2 +time=3 2>/dev/null |
        grep -E '^[0-9a-f.:]+$'
}
logged_from() { grep -q "query\[A\] $1 from $2\$" "$E2E_TMP/dnsmasq.log"; }
not_logged() { ! grep -q "query\[A\] $1 " "$E2E_TMP/dnsmasq.log"; }

for mode in tp nat; do
    if [ $mode = tp ]; then udp_tproxy_rules 12346; else udp_redirect_rules 12347 53; fi
    check "$mode: direct answer" test "$(ask $mode.direct.example)" = 203.0.113.99
    check "$mode: direct query came from the router" logged_from $mode.direct.example 198.51.100.1
    check "$mode: proxied answer" test "$(ask $mode.proxied.example)" = 203.0.113.99
    check "$mode: proxied query came from dante" logged_from $mode.proxied.example 203.0.113.10
    check "$mode: blocked gets no answer" test -z "$(ask $mode.blocked.example)"
    check "$mode: blocked query never reached the origin" not_logged $mode.blocked.example
done

udp_tproxy_rules 12346
check "tp: IPv6 direct answer" test "$(ask v6.direct.example 2001:db8:2::53)" = 203.0.113.99
check "tp: IPv6 query came from the router" logged_from v6.direct.example 2001:db8:2::1

if [ -n "${VERBOSE:-}" ]; then cat "$E2E_TMP/switchyard.log" "$E2E_TMP/dnsmasq.log"; fi
e2e_finish
