#!/usr/bin/env bash
# firewall_fast_path.sh — the kernel decides what the policy's leading address
# rules decide, and exactly that. A router loads the nft script `switchyard
# firewall` prints for a policy with sets, GeoIP countries (a test database
# from geodata/mkmmdb.pl), ports, network, inbound, `not`, `any`, name and
# protocol rules among address rules, proxy rules and a default. A client
# sends the first packet of 300 random flows (TCP and UDP, IPv4 and IPv6,
# addresses from the sets, the countries and around them); the router's own
# observer table records each one it forwarded (direct, in the kernel) or
# delivered to a steering target (redirect / udp-redirect: switchyard's
# side); the rest were dropped. For every flow that must equal `switchyard
# match` without a name and with one (www.example.com over TLS, which every
# name rule of the policy holds for): a flow whose decision a name can change
# is steered; otherwise direct is forwarded, drop is dropped and a proxy is
# steered. Also: the iptables backend says it is nft only, fast_path: off
# prints no fast chain, and the script loads twice (a reload replaces it).
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib.sh
e2e_need_switchyard
py=tests/e2e/firewall_fast_path.py

gateway_net || e2e_abort "network set-up"
# Direct flows leave towards the origin side; nothing there needs to answer.
ip -n "$NS_R" route add default via "$ORIGIN4"
ip -n "$NS_R" -6 route add default via "$ORIGIN6"
ip netns exec "$NS_R" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.r0.rp_filter=0

cat >"$E2E_TMP/geo.txt" <<'SPEC'
198.51.100.128/25 CN
2001:db8:c::/48 CN
203.0.113.128/26 HK
2001:db8:d::/48 HK
SPEC
perl geodata/mkmmdb.pl --layout geolite2 "$E2E_TMP/geo.mmdb" <"$E2E_TMP/geo.txt" ||
    e2e_abort "test GeoIP database"

cat >"$POLICY" <<'YAML'
routing_mark: 0xff
inbounds:
  - {name: nat, type: redirect, listen: "[::]:12345"}
  - {name: unat, type: udp-redirect, listen: "[::]:12346"}
outbounds:
  - {name: proxy, type: socks5, server: "198.51.100.4:1080", udp: true}
sets:
  lan: {cidr: [192.0.2.0/26, "2001:db8:1::/121"]}
  private: {cidr: [203.0.113.0/28, "2001:db8:f::/122"]}
  blocked: {cidr: [203.0.113.64/27, "2001:db8:b::/122"]}
geoip: {file: geo.mmdb}
rules:
  - {dst_set: private, action: direct}
  - {dst_set: blocked, not: {src_set: lan}, action: drop}
  - {network: udp, dst_port: 443, action: drop}
  - {dst_port: [80, 443], domain_suffix: example.com, action: proxy}
  - {any: [{geoip: CN, not: {dst_port: 22}}, {dst: 198.51.100.0/27, src_port: "1000-1999"}], action: direct}
  - {inbound: unat, dst_port: [53, 5353], action: direct}
  - {not: {any: [{geoip: [CN, HK]}, {network: tcp}]}, dst_port: "5000-5999", action: drop}
  - {dst: 198.51.100.32/27, action: proxy}
  - {src_port: 5353, not: {dst_port: 22}, action: direct}
  - {geoip: HK, action: drop}
  - {protocol: tls, dst_port: 8443, action: drop}
  - {dst: ["2001:db8:e::/121", 203.0.113.16/28], dst_port: 8080, action: direct}
  - {src_set: lan, dst_port: 22, action: proxy}
default: drop
YAML

"$SWITCHYARD" firewall -c "$POLICY" >"$E2E_TMP/fw.sh" || e2e_abort "switchyard firewall"
check "the script has the fast path (sets and a chain per inbound)" \
    grep -q "chain fast_1" "$E2E_TMP/fw.sh"
check "the geoip sets hold the countries' networks" \
    grep -q "198.51.100.128-198.51.100.255" "$E2E_TMP/fw.sh"
check "it loads" ip netns exec "$NS_R" sh "$E2E_TMP/fw.sh"
check "and loads again over itself (a reload)" ip netns exec "$NS_R" sh "$E2E_TMP/fw.sh"

# What the router did with each flow's first packet, by (protocol, source, port).
ip netns exec "$NS_R" nft -f - <<'NFT' || e2e_abort "observer table"
table inet observe {
    set fwd4 { type inet_proto . ipv4_addr . inet_service; flags dynamic; size 4096; }
    set fwd6 { type inet_proto . ipv6_addr . inet_service; flags dynamic; size 4096; }
    set in4 { type inet_proto . ipv4_addr . inet_service; flags dynamic; size 4096; }
    set in6 { type inet_proto . ipv6_addr . inet_service; flags dynamic; size 4096; }
    chain forward {
        type filter hook forward priority 0; policy accept;
        iifname "r0" meta l4proto { tcp, udp } update @fwd4 { meta l4proto . ip saddr . th sport }
        iifname "r0" meta l4proto { tcp, udp } update @fwd6 { meta l4proto . ip6 saddr . th sport }
    }
    chain input {
        type filter hook input priority 0; policy accept;
        iifname "r0" meta l4proto { tcp, udp } update @in4 { meta l4proto . ip saddr . th sport }
        iifname "r0" meta l4proto { tcp, udp } update @in6 { meta l4proto . ip6 saddr . th sport }
    }
}
NFT

timeout 60 python3 $py flows 300 "${SEED:-$$}" "$E2E_TMP/flows.txt" || e2e_abort "flows"
diag "seed ${SEED:-$$} (SEED=N repeats a run)"
# The router as a static neighbour of the client: packets waiting for an answer to a
# neighbour solicitation (or for duplicate address detection) are a short queue, and
# the burst below would overflow it.
mac=$(ip -n "$NS_R" -br link show r0 | awk '{print $3}')
in_client ip neigh replace 192.0.2.1 lladdr "$mac" dev c0 nud permanent &&
    in_client ip -6 neigh replace 2001:db8:1::1 lladdr "$mac" dev c0 nud permanent ||
    not_ok "the router as the client's neighbour"
in_client python3 "$PWD/$py" send "$E2E_TMP/flows.txt" || not_ok "the client sends every flow"
sleep 0.5
for s in fwd4 fwd6 in4 in6; do
    in_router nft -j list set inet observe $s >"$E2E_TMP/$s.json" || not_ok "observer set $s"
done
out=$(cd "$E2E_TMP" && timeout 120 python3 "$OLDPWD/$py" check flows.txt "$POLICY" "$SWITCHYARD" \
    fwd4.json,fwd6.json in4.json,in6.json)
while IFS= read -r line; do
    case $line in
    "ok - "*) ok "${line#ok - }" ;;
    "not ok - "*) not_ok "${line#not ok - }" ;;
    *) echo "$line" ;;
    esac
done <<<"$out"
grep -q "^# [0-9]* flows:" <<<"$out" || not_ok "the comparison ran"

# The other backends and settings.
"$SWITCHYARD" firewall -c "$POLICY" --backend iptables >"$E2E_TMP/ipt.sh"
check "iptables: the script says the fast path is nft only" grep -q "fast path is nft only" "$E2E_TMP/ipt.sh"
sed -i 's/^routing_mark: 0xff$/&\nfast_path: off/' "$POLICY"
"$SWITCHYARD" firewall -c "$POLICY" >"$E2E_TMP/off.sh"
check "fast_path: off: no fast chain, no jump" sh -c "! grep -q 'fast_' '$E2E_TMP/off.sh'"
e2e_finish
