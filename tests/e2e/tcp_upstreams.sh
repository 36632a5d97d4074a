#!/usr/bin/env bash
# tcp_upstreams.sh — intercepted TCP sent through real upstream proxies and
# switchyard's explicit-proxy inbounds, end to end:
#   - redirect inbound; by SNI / Host to dante-server (SOCKS5, without and
#     with username/password), to tinyproxy (HTTP CONNECT), direct and drop;
#     nginx's access log shows which address reached the origin;
#   - send_hostname: the upstream resolves the name itself (socks5 and
#     http); without it an http outbound's CONNECT line carries the address;
#   - a wrong password, a SOCKS5 "not allowed" reply and an upstream that is
#     down each end only their own flow;
#   - http and socks5 inbounds (curl -x, --socks5, --socks5-hostname, with
#     and without credentials) going through the same policy; a client that
#     resolved a dropped name itself and asks for its address (--socks5,
#     CONNECT by IP) reset by the sniffed SNI, an allowed one passing; one that
#     names an allowed host and a dropped one in its SNI reset; a failed login
#     logged with its source, the next one from there answered later; the
#     http inbound's 407 without credentials; `check` warning about the
#     inbounds open to anyone on a non-loopback address;
#   - what a hostile client of those inbounds tries (tests/e2e/proxy_probe.py):
#     a loopback service on the router that {dst_set: private, action: drop}
#     protects, asked for as localhost, 127.1, 2130706433, 0x7f.1,
#     ::ffff:127.0.0.1 and 0.0.0.0; a Host header other than the URL's; a
#     name with CR/LF; CONNECTs to switchyard's own listeners, pipelined.
# The proxies run on the router with their own outgoing addresses, so the
# origin's log tells them apart: 198.51.100.1 switchyard direct,
# .2 dante, .3 tinyproxy, .4 dante with authentication.
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib_udp.sh # lib.sh, and udp_start_dnsmasq
user=sytest$$
pass=pw$$
hosts_dir=
e2e_at_exit 'userdel "$user" 2>/dev/null; [ -z "$hosts_dir" ] || rm -rf "$hosts_dir"'
gateway_up
for a in 2 3 4; do ip -n "$NS_R" addr add 198.51.100.$a/24 dev r1; done
ip -n "$NS_O" addr add 198.51.100.11/24 dev o0
start_nginx "$NS_O" 198.51.100.10 198.51.100.11 || not_ok "nginx started"
# Names the router's processes (switchyard, dante) resolve: /etc/netns/NS/hosts
# is what `ip netns exec` shows them as /etc/hosts.
hosts_dir=/etc/netns/$NS_R
mkdir -p "$hosts_dir"
printf '127.0.0.1 localhost\n198.51.100.1 router.example\n198.51.100.10 names.example plain.example tiny.example tiny-names.example host.example\n198.51.100.11 deny.example\n' >"$hosts_dir/hosts"
# Names not in that file are asked of dnsmasq on the origin, which answers
# only dns.example.
printf 'nameserver 198.51.100.53\n' >"$hosts_dir/resolv.conf"
ip -n "$NS_O" addr add 198.51.100.53/24 dev o0
ip -n "$NS_O" addr add 2001:db8:2::53/64 dev o0 nodad
udp_start_dnsmasq /dns.example/198.51.100.10 || not_ok "dnsmasq listening"
# Counts the router's DNS queries with and without switchyard's routing mark.
ip netns exec "$NS_R" nft -f - <<'NFT'
table inet dnsmark {
    chain out {
        type filter hook output priority 0;
        udp dport 53 meta mark 0xff counter
        udp dport 53 meta mark != 0xff counter
    }
}
NFT
# dns_queries MARKED|UNMARKED: how many DNS packets the router sent so.
dns_queries() {
    local line=1; [ "$1" = UNMARKED ] && line=2
    ip netns exec "$NS_R" nft list chain inet dnsmark out |
        grep -o 'packets [0-9]*' | sed -n "${line}p" | cut -d' ' -f2
}

useradd -M -s /usr/sbin/nologin "$user" && echo "$user:$pass" | chpasswd || not_ok "test user created"

# dante ADDR PORT METHOD NAME: a SOCKS5 upstream on the router that refuses deny.example's address.
dante() {
    start_danted "$NS_R" "$4" "$1" "$2" "$3" "$1" \
        "socks block { from: 0.0.0.0/0 to: 198.51.100.11/32 log: error }" \
        "socks pass { from: 0.0.0.0/0 to: 0.0.0.0/0 log: connect error }"
}
dante 198.51.100.2 1080 none danted && DANTE_PID=$REPLY &&
    dante 198.51.100.4 1081 username danted-auth &&
    start_tinyproxy "$NS_R" 198.51.100.3 "443 80" 198.51.100.0/24 192.0.2.0/24 ||
    not_ok "upstream proxies listening"

cat >"$POLICY" <<YAML
log: {level: info, flows: true}
routing_mark: 0xff
inbounds:
  - {name: redir, type: redirect, listen: "0.0.0.0:12345"}
  - {name: http-in, type: http, listen: "192.0.2.1:8080"}
  - {name: socks-in, type: socks5, listen: "192.0.2.1:1081"}
  - {name: socks-auth-in, type: socks5, listen: "192.0.2.1:1082", username: alice, password: s3cret}
  - {name: http-auth-in, type: http, listen: "192.0.2.1:8081", username: bob, password: hunter2}
outbounds:
  - {name: dante, type: socks5, server: "198.51.100.2:1080"}
  - {name: dante-names, type: socks5, server: "198.51.100.2:1080", send_hostname: true}
  - {name: dante-auth, type: socks5, server: "198.51.100.4:1081", username: $user, password: $pass}
  - {name: dante-badpw, type: socks5, server: "198.51.100.4:1081", username: $user, password: wrong}
  - {name: tiny, type: http, server: "198.51.100.3:3128"}
  - {name: tiny-names, type: http, server: "198.51.100.3:3128", send_hostname: true}
sets:
  private: {cidr: [127.0.0.0/8, 10.0.0.0/8]}
rules:
  - {dst_set: private, action: drop}
  - {domain: socks.example, action: dante}
  - {domain: names.example, action: dante-names}
  - {domain: auth.example, action: dante-auth}
  - {domain: badpw.example, action: dante-badpw}
  - {domain: [tiny.example, tiny2.example], action: tiny}
  - {domain: tiny-names.example, action: tiny-names}
  - {domain: deny.example, action: dante}
  - {domain: drop.example, action: drop}
default: direct
YAML
start_gateway

# fetch NAME SCHEME [ADDR]: curl from the client, the name pinned to ADDR; prints the body.
fetch() {
    local port=443; [ "$2" = http ] && port=80
    in_client curl -sk --max-time 8 --resolve "$1:$port:${3:-198.51.100.10}" "$2://$1/" 2>/dev/null
}
# came_from HOST ADDR: nginx logged a request for HOST from ADDR.
came_from() { grep -q "^$2 $1 " "$E2E_TMP/nginx-access.log"; }
body="hello from origin"

check "direct: https answered" test "$(fetch direct.example https)" = "$body"
check "direct: the origin saw switchyard (198.51.100.1)" came_from direct.example 198.51.100.1
check "socks5: https through dante" test "$(fetch socks.example https)" = "$body"
check "socks5: the origin saw dante (198.51.100.2)" came_from socks.example 198.51.100.2
check "socks5: plain http by Host through dante" test "$(fetch socks.example http)" = "$body"
check "socks5 + username/password: https through dante" test "$(fetch auth.example https)" = "$body"
check "socks5 + auth: the origin saw the authenticating dante (.4)" came_from auth.example 198.51.100.4
check "http CONNECT: https through tinyproxy" test "$(fetch tiny.example https)" = "$body"
check "http CONNECT: the origin saw tinyproxy (.3)" came_from tiny.example 198.51.100.3
check "http CONNECT: plain http through tinyproxy" test "$(fetch tiny.example http)" = "$body"
# tinyproxy logs each request line: without send_hostname it names the address.
check "http CONNECT without send_hostname: the request line carries the address" \
    wait_file_grep "$E2E_TMP/tinyproxy.out" "CONNECT 198.51.100.10:443 " 5
check "... and never the name" sh -c "! grep -q 'CONNECT tiny.example' $E2E_TMP/tinyproxy.out"
check "http send_hostname: tinyproxy connects by name (the client's address is unreachable)" \
    test "$(fetch tiny-names.example https 198.51.100.99)" = "$body"
check "... the request line carries the name" \
    wait_file_grep "$E2E_TMP/tinyproxy.out" "CONNECT tiny-names.example:443 " 5
# The client's address for names.example goes nowhere; dante resolves the name itself.
check "send_hostname: dante connects by name (the client's address is unreachable)" \
    test "$(fetch names.example https 198.51.100.99)" = "$body"
check "send_hostname: the origin saw dante ask for names.example" came_from names.example 198.51.100.2
check "drop: no answer" test -z "$(fetch drop.example https)"
check "drop: the origin never saw it" sh -c "! grep -q drop.example $E2E_TMP/nginx-access.log"

check "a wrong password fails that flow" test -z "$(fetch badpw.example https)"
check "... logged as rejected" wait_file_grep "$E2E_TMP/switchyard.log" "authentication rejected" 5
check "... and the next flow works" test "$(fetch auth.example https)" = "$body"
check "a SOCKS5 'not allowed' reply fails that flow" test -z "$(fetch deny.example https 198.51.100.11)"
check "... logged with the reply's meaning" wait_file_grep "$E2E_TMP/switchyard.log" "not allowed by ruleset" 5
check "... and the next flow works" test "$(fetch socks.example https)" = "$body"

# The explicit-proxy inbounds: the client names the host; the same rules apply.
px() { in_client curl -sk --max-time 8 "$@" 2>/dev/null; }
check "http inbound: absolute-form request, direct" test "$(px -x http://192.0.2.1:8080 http://plain.example/)" = "$body"
check "http inbound: CONNECT, resolved by switchyard, through tinyproxy by address" \
    test "$(px -x http://192.0.2.1:8080 https://tiny.example/)" = "$body"
check "http inbound: a dropped host gets 403" \
    test "$(in_client curl -s -o /dev/null -w '%{http_code}' --max-time 8 -x http://192.0.2.1:8080 http://drop.example/)" = 403
check "socks5 inbound: --socks5-hostname, direct" test "$(px --socks5-hostname 192.0.2.1:1081 http://plain.example/)" = "$body"
unmarked=$(dns_queries UNMARKED)
check "socks5 inbound: a name only DNS knows, resolved by switchyard, direct" \
    test "$(px --socks5-hostname 192.0.2.1:1081 http://dns.example/)" = "$body"
check "... dnsmasq was asked for it" grep -q "query\[A\] dns.example" "$E2E_TMP/dnsmasq.log"
check "... switchyard's DNS queries carry the routing mark" test "$(dns_queries MARKED)" -gt 0
check "... and none left the router unmarked meanwhile" test "$(dns_queries UNMARKED)" = "$unmarked"
check "socks5 inbound: --socks5 by address, direct" test "$(px --socks5 192.0.2.1:1081 http://198.51.100.10/)" = "$body"
# A client that resolves a dropped name itself and asks for the address: the
# rules need a name, so the inbound answers at once and the TLS SNI decides.
# px_error ARGS: curl's error line (the body thrown away).
px_error() { in_client curl -sSk -o /dev/null --max-time 8 "$@" 2>&1; }
# px_reset ARGS: curl through the proxy was reset.
px_reset() { grep -qi "reset by peer" <<<"$(px_error "$@")"; }
drop_by_ip="--resolve drop.example:443:198.51.100.10 https://drop.example/"
check "socks5 inbound: --socks5 by address with a dropped SNI is reset" \
    px_reset --socks5 192.0.2.1:1081 $drop_by_ip
check "... decided by the sniffed name" \
    wait_file_grep "$E2E_TMP/switchyard.log" "decided inbound=socks-in .* dst=198.51.100.10:443 host=drop.example protocol=tls .*-> drop" 5
check "http inbound: CONNECT to the address with a dropped SNI is reset" \
    px_reset -x http://192.0.2.1:8080 --connect-to drop.example:443:198.51.100.10:443 https://drop.example/
check "... decided by the sniffed name" \
    wait_file_grep "$E2E_TMP/switchyard.log" "decided inbound=http-in .* dst=198.51.100.10:443 host=drop.example protocol=tls .*-> drop" 5
check "... the origin never saw either" sh -c "! grep -q drop.example $E2E_TMP/nginx-access.log"
check "socks5 inbound: --socks5 by address with an allowed SNI passes" \
    test "$(px --socks5 192.0.2.1:1081 --resolve plain.example:443:198.51.100.10 https://plain.example/)" = "$body"
check "http inbound: CONNECT to the address with an allowed SNI passes" \
    test "$(px -x http://192.0.2.1:8080 --connect-to plain.example:443:198.51.100.10:443 https://plain.example/)" = "$body"
check "... decided by the sniffed name" \
    wait_file_grep "$E2E_TMP/switchyard.log" "decided inbound=http-in .* dst=198.51.100.10:443 host=plain.example protocol=tls .*-> direct" 5
# A client that names an allowed host, then a dropped one in its ClientHello
# (one CDN serving both): the name in the message is decided too.
fronted="--connect-to drop.example:443:plain.example:443 https://drop.example/"
check "http inbound: CONNECT plain.example with the SNI drop.example is reset" \
    px_reset -x http://192.0.2.1:8080 $fronted
check "... logged: the first message names drop.example, not plain.example" \
    wait_file_grep "$E2E_TMP/switchyard.log" "first message names drop.example, not plain.example as asked, and the policy drops that: reset" 5
check "socks5 inbound: --socks5-hostname plain.example with the SNI drop.example is reset" \
    px_reset --socks5-hostname 192.0.2.1:1081 $fronted
check "... and the origin never saw drop.example asked for" sh -c "! grep -q drop.example $E2E_TMP/nginx-access.log"
check "http inbound: CONNECT plain.example with the SNI host.example (not dropped) passes" \
    test "$(px -x http://192.0.2.1:8080 --connect-to host.example:443:plain.example:443 https://host.example/)" = "$body"
check "socks5 inbound: --socks5-hostname plain.example with its own SNI passes" \
    test "$(px --socks5-hostname 192.0.2.1:1081 https://plain.example/)" = "$body"
check "socks5 inbound: a dropped host fails" sh -c "! timeout 20 ip netns exec $NS_C curl -s --max-time 8 --socks5-hostname 192.0.2.1:1081 http://drop.example/ >/dev/null 2>&1"
check "socks5 inbound with credentials: the right ones pass" \
    test "$(px --socks5-hostname alice:s3cret@192.0.2.1:1082 http://plain.example/)" = "$body"
check "socks5 inbound with credentials: wrong ones are refused" \
    test -z "$(px --socks5-hostname alice:nope@192.0.2.1:1082 http://plain.example/)"

check "socks5 inbound: a wrong password is logged at info with the source" \
    wait_file_grep "$E2E_TMP/switchyard.log" "socks5 inbound socks-auth-in: login failed from 192.0.2.2:" 5
# socks5_login_s PASS: seconds until the RFC 1929 answer to a login as alice.
socks5_login_s() {
    in_client python3 - "$1" <<'PY'
import socket, sys, time
s = socket.create_connection(("192.0.2.1", 1082), timeout=10)
s.sendall(b"\x05\x01\x02")
s.recv(2)
pw = sys.argv[1].encode()
start = time.monotonic()
s.sendall(b"\x01\x05alice" + bytes([len(pw)]) + pw)
s.recv(2)
print("%.3f" % (time.monotonic() - start))
PY
}
# The wrong password above already counts against 192.0.2.2: each further failure waits longer.
first=$(socks5_login_s wrong1)
second=$(socks5_login_s wrong2)
diag "wrong SOCKS5 logins answered after $first s, then $second s"
check "socks5 inbound: the next wrong login is answered measurably later" \
    python3 -c "import sys; sys.exit(not (float('$second') >= float('$first') + 0.4))"
check "... and the right one still passes" \
    test "$(px --socks5-hostname alice:s3cret@192.0.2.1:1082 http://plain.example/)" = "$body"

http_code() { in_client curl -s -o /dev/null -w '%{http_code}' --max-time 8 "$@" 2>/dev/null; }
check "http inbound with credentials: none gets 407" \
    test "$(http_code -x http://192.0.2.1:8081 http://plain.example/)" = 407
check "... with the Basic challenge" sh -c "timeout 20 ip netns exec $NS_C curl -s -D - -o /dev/null \
    --max-time 8 -x http://192.0.2.1:8081 http://plain.example/ | grep -qi '^Proxy-Authenticate: Basic realm=\"switchyard\"'"
check "... CONNECT without them gets 407 too" \
    test "$(in_client curl -s -o /dev/null -w '%{http_connect}' --max-time 8 -x http://192.0.2.1:8081 https://tiny.example/)" = 407
check "... wrong ones get 407" \
    test "$(http_code -x http://192.0.2.1:8081 --proxy-user bob:nope http://plain.example/)" = 407
check "... logged at info with the source" \
    wait_file_grep "$E2E_TMP/switchyard.log" "http inbound http-auth-in: login failed from 192.0.2.2:" 5
check "... the right ones pass (absolute form)" \
    test "$(px -x http://192.0.2.1:8081 --proxy-user bob:hunter2 http://plain.example/)" = "$body"
check "... the right ones pass (CONNECT)" \
    test "$(px -x http://bob:hunter2@192.0.2.1:8081 https://tiny.example/)" = "$body"
check "the password is in no log line" sh -c "! grep -q 'hunter2\|s3cret\|wrong1' $E2E_TMP/switchyard.log"

warnings=$("$SWITCHYARD" check -c "$POLICY" 2>&1 >/dev/null)
check "check warns about the open http inbound" \
    grep -q "policy.yaml:5:[0-9]*: http inbound 'http-in' listens on 192.0.2.1:8080 without username and password" <<<"$warnings"
check "... and the open socks5 inbound, and nothing else" \
    test "$(grep -c 'without username and password' <<<"$warnings")" = 2

# A hostile client of the explicit inbounds: a service on the router's loopback
# that the first rule (dst_set: private, 127.0.0.0/8, drop) protects.
mkdir -p "$E2E_TMP/secret"
echo "loopback secret" >"$E2E_TMP/secret/index.html"
bg "$NS_R" "$E2E_TMP/secret.log" python3 -m http.server --bind 127.0.0.1 --directory "$E2E_TMP/secret" 8000
wait_tcp "$NS_R" 127.0.0.1 8000 || not_ok "loopback service listening"
probe() { in_client python3 tests/e2e/proxy_probe.py "$@" 2>&1; }
for name in localhost 127.1 2130706433 0x7f.1 127.0.0.1.; do
    out=$(probe socks5 192.0.2.1 1081 name "$name" 8000)
    check "socks5 inbound: '$name' is 127.0.0.1 for dst_set and dropped (REP 2)" \
        test "$out" = "rep=2"
done
check "socks5 inbound: ATYP 4 ::ffff:127.0.0.1 is IPv4 and dropped" \
    test "$(probe socks5 192.0.2.1 1081 ipv6 ::ffff:127.0.0.1 8000)" = "rep=2"
check "socks5 inbound: 0.0.0.0 is refused" test "$(probe socks5 192.0.2.1 1081 ipv4 0.0.0.0 8000)" = "rep=2"
check "http inbound: CONNECT localhost is dropped (403)" \
    sh -c "timeout 20 ip netns exec $NS_C python3 tests/e2e/proxy_probe.py connect 192.0.2.1 8080 localhost:8000 | grep -q '^HTTP/1.1 403'"
check "http inbound: CONNECT 2130706433 is dropped (403)" \
    sh -c "timeout 20 ip netns exec $NS_C python3 tests/e2e/proxy_probe.py connect 192.0.2.1 8080 2130706433:8000 | grep -q '^HTTP/1.1 403'"
check "http inbound: GET http://localhost:8000/ is dropped (403)" \
    test "$(in_client curl -s -o /dev/null -w '%{http_code}' --max-time 8 -x http://192.0.2.1:8080 http://localhost:8000/)" = 403
check "the loopback service was never reached" sh -c "! grep -q GET $E2E_TMP/secret.log"

check "http inbound: the origin hears the URL's host, not the client's Host header" \
    test "$(px -x http://192.0.2.1:8080 -H 'Host: forged.example' http://host.example/)" = "$body"
check "... nginx logged host.example" came_from host.example 198.51.100.1
check "... and never forged.example" sh -c "! grep -q forged.example $E2E_TMP/nginx-access.log"

check "socks5 inbound: a name with CR/LF is refused (REP 1)" \
    test "$(probe socks5 192.0.2.1 1081 name $'x.example\r\nX-Forged: 1' 443)" = "rep=1"
check "... and puts no CR into the log (no forged line)" sh -c "! grep -q \$(printf '\\r') $E2E_TMP/switchyard.log"
check "http inbound: a CONNECT authority that is no host name gets 400" \
    sh -c "timeout 20 ip netns exec $NS_C python3 tests/e2e/proxy_probe.py connect 192.0.2.1 8080 'a%0d.example:443' | grep -q '^HTTP/1.1 400'"

flows_before=$(log_count 'decided inbound=(http-in|socks-in)')
out=$(probe connect 192.0.2.1 8080 192.0.2.1:8080 200)
check "http inbound: CONNECT to its own listener, pipelined 200 times, is refused once ($out)" \
    test "$out" = "HTTP/1.1 403 Forbidden; 200 x 0"
check "socks5 inbound: its own port on another local address is refused" \
    test "$(probe socks5 192.0.2.1 1081 ipv4 198.51.100.1 1081)" = "rep=2"
check "socks5 inbound: a name resolving to a listener (the redirect inbound's) is refused" \
    test "$(probe socks5 192.0.2.1 1081 name router.example 12345)" = "rep=2"
check "... no flow was decided for any of them" test "$(log_count 'decided inbound=(http-in|socks-in)')" = "$flows_before"
check "... and the refusals are logged" wait_file_grep "$E2E_TMP/switchyard.log" "refused: destination is one of switchyard's own listeners" 5

stop_pid "$DANTE_PID"
check "upstream down: that flow fails" test -z "$(fetch socks.example https)"
check "... and a direct flow still works" test "$(fetch direct.example https)" = "$body"
check "switchyard is still running" kill -0 "$SWITCHYARD_PID"
e2e_finish
