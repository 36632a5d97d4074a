#!/usr/bin/env bash
# udp_trust.sh — the UDP engine cannot be turned against itself, and a
# reload takes hold of live sessions:
#   - a datagram sent straight to the wildcard tproxy listener's port (on the
#     router's own addresses) is refused, once, and starts no session: before,
#     the direct outbound sent it back to the listener, and one datagram made
#     tens of thousands of sessions in two seconds;
#   - a reload that moves the socks5 outbound (same name) to another server
#     moves the next datagram of a live session to that server.
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib_udp.sh
e2e_need_switchyard

udp_net || e2e_abort "network set-up"
ip -n "$NS_U" addr add 203.0.113.11/24 dev u0
udp_start_dnsmasq || not_ok "dnsmasq listening"
udp_start_danted || not_ok "danted listening"
# A second SOCKS5 server on 203.0.113.11, where the reload moves the outbound.
udp_start_danted 203.0.113.11 danted2 || not_ok "second danted listening"

# policy SERVER: the socks5 outbound "up" at SERVER.
policy() {
    udp_socks5_policy up "$1" <<YAML
rules:
  - {domain_suffix: proxied.example, action: up}
default: direct
YAML
}
policy 203.0.113.10
start_switchyard "$NS_R" "$POLICY" || e2e_abort "switchyard did not start"
udp_tproxy_rules 12346

fds() { ls "/proc/$SWITCHYARD_PID/fd" 2>/dev/null | wc -l; }
sessions() { grep -cE 'udp [0-9.]+:[0-9]+ -> .* \[tp\]' "$E2E_TMP/switchyard.log"; }

# --- one datagram straight to the listener's port --------------------------------------
idle_fd=$(fds)
ip netns exec "$NS_C" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for dst in ("192.0.2.1", "198.51.100.1"):
    s.sendto(b"loop?", (dst, 12346))
'
most_fd=$idle_fd
for i in $(seq 20); do # 2 s
    n=$(fds)
    [ "$n" -gt "$most_fd" ] && most_fd=$n
    sleep 0.1
done
diag "descriptors idle $idle_fd, at most $most_fd over 2 s; $(sessions) session lines"
check "a datagram to the listener's own port starts no session" test "$(sessions)" -eq 0
check "the daemon's descriptors stay at their idle count over 2 s ($most_fd, idle $idle_fd)" \
    test "$most_fd" -le $((idle_fd + 1))
check "the refusal is logged, rate-limited to one line" \
    test "$(log_count 'refused .* -> (192\.0\.2\.1|198\.51\.100\.1):12346')" -eq 1

# --- a reload moves the socks5 outbound: the next datagram goes to the new server ----------
# ask NAME: one query from a fixed client port, so every query is one session.
ask() {
    ip netns exec "$NS_C" timeout 15 dig @198.51.100.53 -b 192.0.2.2#40053 "$1" +short \
        +tries=2 +time=3 2>/dev/null | grep -E '^[0-9.]+$'
}
logged_from() { grep -q "query\[A\] $1 from $2\$" "$E2E_TMP/dnsmasq.log"; }

check "before the reload: an answer" test "$(ask one.proxied.example)" = 203.0.113.99
check "before the reload: through the first server" logged_from one.proxied.example 203.0.113.10
policy 203.0.113.11
kill -HUP "$SWITCHYARD_PID"
wait_file_grep "$E2E_TMP/switchyard.log" "reload: .* loaded" 10 || not_ok "reload logged"
check "after the reload: an answer" test "$(ask two.proxied.example)" = 203.0.113.99
check "after the reload: the same client port goes through the new server" \
    logged_from two.proxied.example 203.0.113.11

if [ -n "${VERBOSE:-}" ]; then cat "$E2E_TMP/switchyard.log" "$E2E_TMP/dnsmasq.log"; fi
