#!/usr/bin/env bash
# firewall_wan.sh — the rules `switchyard firewall` prints leave connections
# started from the other side alone. A LAN host sits behind a router that runs
# switchyard and the generated rules; a WAN host reaches the LAN host directly
# (routed, no NAT: as with IPv6, or behind a port forward). For both backends
# (nft, iptables), tproxy and redirect/udp-redirect inbounds, IPv4 and IPv6:
#   gateway mode (--interface on the LAN side): the WAN host's TCP connection
#     to the LAN host completes and both of its UDP datagrams get the LAN
#     host's answer, the LAN host sees the WAN host's own address and
#     switchyard logs nothing for them; the LAN host's own TCP and UDP to the
#     WAN host still go through switchyard (the WAN host sees the router, a
#     flow or session line is logged), the second datagram too;
#   local mode: the same for services on the router itself, reached from the
#     WAN host, and the router's own connections out.
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib.sh
e2e_need_switchyard

gateway_net || { not_ok "network set-up"; e2e_finish; exit 1; }
# The WAN side routes to the LAN (no NAT), so it can start connections there.
ip -n "$NS_O" route add 192.0.2.0/24 via 198.51.100.1
ip -n "$NS_O" -6 route add 2001:db8:1::/64 via 2001:db8:2::1
LAN4=192.0.2.2 LAN6=2001:db8:1::2
WAN4=198.51.100.10 WAN6=2001:db8:2::10
ROUTER4=198.51.100.1 ROUTER6=2001:db8:2::1

# Services answering "WORD-PROTO PEER" (the address they saw the client at):
# 8080/8053 (tcp/udp) on the LAN host and on the router are the ones the WAN
# host calls (never to be intercepted: they see the WAN host); 9080/9053 on
# the WAN host are the ones the LAN host and the router call (intercepted:
# the WAN host sees switchyard connect from the router).
SERVE='
import select, socket, sys
word, tport, uport = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def sock(kind, port):
    s = socket.socket(socket.AF_INET6, kind)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", port))
    return s
def answer(proto, peer):
    return ("%s-%s %s" % (word, proto, peer[0].removeprefix("::ffff:"))).encode()
t, u = sock(socket.SOCK_STREAM, tport), sock(socket.SOCK_DGRAM, uport)
t.listen(64)
while True:
    for r in select.select([t, u], [], [])[0]:
        if r is t:
            c, peer = t.accept()
            c.sendall(answer("tcp", peer))
            c.close()
        else:
            data, peer = u.recvfrom(2048)
            u.sendto(answer("udp", peer), peer)
'
# serve NS WORD TCPPORT UDPPORT
serve() {
    bg "$1" "$E2E_TMP/serve-$2.log" python3 -c "$SERVE" "$2" "$3" "$4"
    wait_tcp "$1" "::" "$3"
}
serve "$NS_C" lan 8080 8053 || not_ok "LAN services start"
serve "$NS_R" router 8080 8053 || not_ok "router services start"
serve "$NS_O" wan 9080 9053 || not_ok "WAN services start"

# A client that prints the answer (or why none came) within 3 s. Over UDP it
# sends two datagrams from a connected socket, so that only the addressed
# peer can answer, and the second goes after the first was answered (a flow
# the kernel counts as established), and prints both answers.
ASK='
import socket, sys
proto, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET,
                  socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
s.settimeout(3)
try:
    s.connect((addr, port))
    if proto == "tcp":
        print(s.recv(100).decode())
    else:
        answers = []
        for i in range(2):
            s.send(b"ping")
            answers.append(s.recv(100).decode())
        print(", ".join(answers))
except OSError as e:
    print("no answer:", e)
'
# ask NS PROTO ADDR PORT
ask() { timeout 10 ip netns exec "$1" python3 -c "$ASK" "$2" "$3" "$4" 2>&1; }

# expect WHAT ANSWER NS PROTO ADDR PORT: the answer is ANSWER.
expect() {
    local what=$1 answer=$2 out
    shift 2
    out=$(ask "$@")
    check "$what" test "$out" = "$answer" || diag "got: $out"
}

# policy KIND: a policy with a tproxy inbound (tcp and udp) or a redirect and
# a udp-redirect inbound, everything direct.
policy() {
    local inbounds="  - {name: tp, type: tproxy, listen: \"[::]:12345\", network: [tcp, udp]}"
    [ "$1" = redirect ] && inbounds="  - {name: nat, type: redirect, listen: \"[::]:12345\"}
  - {name: unat, type: udp-redirect, listen: \"[::]:12346\"}"
    write_gateway_policy <<YAML
sniff: {timeout_ms: 100}
inbounds:
$inbounds
default: direct
YAML
}

# firewall NS MODE BACKEND [--undo]: loads (or removes) the generated rules.
firewall() {
    local args=(firewall -c "$E2E_TMP/policy.yaml" --mode "$2" --backend "$3")
    [ "$2" = gateway ] && args+=(--interface r0)
    [ -n "${4:-}" ] && args+=("$4")
    "$SWITCHYARD" "${args[@]}" >"$E2E_TMP/firewall.sh" &&
        ip netns exec "$1" sh "$E2E_TMP/firewall.sh" >"$E2E_TMP/firewall.out" 2>&1
}

for backend in nft iptables; do
    for mode in gateway local; do
        for kind in tproxy redirect; do
            tag="$backend $mode $kind"
            policy "$kind"
            : >"$E2E_TMP/switchyard.log"
            if ! start_switchyard "$NS_R" "$E2E_TMP/policy.yaml"; then
                not_ok "$tag: switchyard starts"
                sed 's/^/# /' "$E2E_TMP/switchyard.log"
                continue
            fi
            check "$tag: the rules load" firewall "$NS_R" "$mode" "$backend" ||
                sed 's/^/# /' "$E2E_TMP/firewall.out"
            for fam in 4 6; do
                # The WAN host calls a service on the LAN host (gateway) or on
                # the router (local); the LAN host (gateway) or the router
                # (local) calls the WAN host, through switchyard.
                wan=$WAN4 router=$ROUTER4 served=$LAN4 word=lan caller=$NS_C
                [ $fam = 6 ] && { wan=$WAN6 router=$ROUTER6 served=$LAN6; }
                [ "$mode" = local ] && { served=$router word=router caller=$NS_R; }
                expect "$tag IPv$fam: a TCP connection from the WAN side completes, not intercepted" \
                    "$word-tcp $wan" "$NS_O" tcp "$served" 8080
                expect "$tag IPv$fam: UDP from the WAN side gets its answers, not intercepted" \
                    "$word-udp $wan, $word-udp $wan" "$NS_O" udp "$served" 8053
                expect "$tag IPv$fam: TCP to the WAN side goes through switchyard" \
                    "wan-tcp $router" "$caller" tcp "$wan" 9080
                expect "$tag IPv$fam: UDP to the WAN side goes through switchyard, both datagrams" \
                    "wan-udp $router, wan-udp $router" "$caller" udp "$wan" 9053
            done
            check "$tag: nothing logged for what the WAN side started" \
                test "$(log_count ':80(80|53)\b')" -eq 0 ||
                grep -E ':80(80|53)\b' "$E2E_TMP/switchyard.log" | sed 's/^/# /'
            check "$tag: what the steered side started was intercepted (TCP)" \
                test "$(log_count 'decided inbound=.* dst=[^ ]*:9080 ')" -eq 2
            check "$tag: what the steered side started was intercepted (UDP)" \
                test "$(log_count '^.*udp .*:9053 .*=> direct')" -eq 2 ||
                sed 's/^/# /' "$E2E_TMP/switchyard.log"
            firewall "$NS_R" "$mode" "$backend" --undo
            stop_pid "$SWITCHYARD_PID"
            ip netns exec "$NS_R" conntrack -F >/dev/null 2>&1 # no round sees another's entries
        done
    done
done

e2e_finish
