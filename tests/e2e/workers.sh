#!/usr/bin/env bash
# workers.sh — `workers: 2` on a gateway (lib_udp.sh's network, nginx and
# dnsmasq on the origin, `control` on the router's loopback):
#   - both workers listen on each inbound (two sockets per port) and the
#     process runs one thread per worker; each listener is logged once;
#   - TCP flows through redirect (port 80) and tproxy (port 443) land on both
#     workers (switchyard_worker_flows_total), and /metrics counts exactly the
#     flows made, by inbound;
#   - DNS through tproxy: every query answered, each reaching the origin once;
#     queries from one client port make one session, whichever worker has it
#     (the kernel keeps a 4-tuple on one socket), and sessions land on both;
#   - SIGHUP while two slow downloads run (one per inbound): both complete
#     byte-exact, /connections lists them, the reload line counts every
#     worker's flows (eight more held open), and a rule added by the reload
#     holds on both workers;
#   - SIGTERM stops every worker: the stop line counts every flow made.
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib_udp.sh
e2e_need_switchyard

udp_net || e2e_abort "network set-up"
start_nginx "$NS_O" "$ORIGIN4" || not_ok "nginx starts"
udp_start_dnsmasq || not_ok "dnsmasq listening"
head -c 8000000 /dev/urandom >"$E2E_TMP/www/big.bin"
API=http://127.0.0.1:9090

write_policy() { # write_policy EXTRA_RULE_LINE
    cat >"$POLICY" <<YAML
log: {level: info, flows: true}
routing_mark: 0xff
workers: 2
control: {listen: "127.0.0.1:9090"}
inbounds:
  - {name: gw, type: redirect, listen: "[::]:12345"}
  - {name: tp, type: tproxy, listen: "[::]:12346", network: [tcp, udp]}
rules:
$1
  - {domain_suffix: blocked.example, action: drop}
default: direct
YAML
}
write_policy ""
start_switchyard "$NS_R" "$POLICY" || e2e_abort "switchyard starts"
wait_udp "$NS_R" '*' 12346 || wait_udp "$NS_R" '[::]' 12346 || true
# Port 80 to the redirect inbound, 443 and DNS to the tproxy one (udp_net routes mark 0x1 locally).
nft_table "$NS_R" sy_workers <<NFT
    chain nat {
        type nat hook prerouting priority dstnat; policy accept;
        iifname "r0" tcp dport 80 redirect to :12345
    }
    chain pre {
        type filter hook prerouting priority mangle; policy accept;
        iifname "r0" tcp dport 443 meta mark set 0x1 tproxy ip to :12346 accept
        iifname "r0" udp dport 53 meta mark set 0x1 tproxy ip to :12346 accept
    }
NFT

check "the running line says 2 workers" grep -q "running with .* 2 workers" "$E2E_TMP/switchyard.log"
check "a thread per worker, named for top -H (sy-worker-1)" \
    test "$(cat /proc/"$SWITCHYARD_PID"/task/*/comm | grep -c '^sy-worker-')" -eq 1
check "each TCP inbound has a socket per worker" \
    test "$(ip netns exec "$NS_R" ss -Htln 'sport = :12345 or sport = :12346' | wc -l)" -eq 4
check "the UDP inbound has a socket per worker" \
    test "$(ip netns exec "$NS_R" ss -Huln 'sport = :12346' | wc -l)" -eq 2
listening=$(grep -o 'inbound .*: listening on .*' "$E2E_TMP/switchyard.log")
check "... and each listener is logged once, not once a worker ($(echo "$listening" | wc -l) lines)" \
    test -n "$listening" -a -z "$(echo "$listening" | sort | uniq -d)"

scrape() { timeout 60 ip netns exec "$NS_R" curl -sS --max-time 10 "$API/metrics"; }
# metric NAME{LABELS}: its value in a fresh scrape, 0 when absent.
metric() { scrape | awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }'; }

# --- TCP: spread, and counted exactly --------------------------------------------
N=40
ok80=0 ok443=0
for i in $(seq 1 $N); do
    in_client curl -s --max-time 10 "http://$ORIGIN4/" | grep -q "hello from origin" && ok80=$((ok80 + 1))
    curl_host "$NS_C" origin.example "$ORIGIN4" https | grep -q "hello from origin" && ok443=$((ok443 + 1))
done
check "$N flows through redirect reach the origin" test $ok80 = $N
check "$N flows through tproxy reach the origin" test $ok443 = $N
w0=$(metric 'switchyard_worker_flows_total{worker="0"}')
w1=$(metric 'switchyard_worker_flows_total{worker="1"}')
diag "flows by worker: $w0 $w1"
check "worker 0 accepted some of them" test "$w0" -gt 0
check "worker 1 accepted some of them" test "$w1" -gt 0
check "switchyard_flows_accepted_total is exactly the $((2 * N)) flows made" \
    test "$(metric switchyard_flows_accepted_total)" = $((2 * N))
check "... the workers' counts add up to it" test $((w0 + w1)) = $((2 * N))
check "switchyard_flows_total counts $N on each inbound" test \
    "$(metric 'switchyard_flows_total{inbound="gw",outbound="direct",rule="0"}') $(metric 'switchyard_flows_total{inbound="tp",outbound="direct",rule="0"}')" \
    = "$N $N"

# --- UDP: sessions keep their worker -----------------------------------------------
Q=30
answered=0
for i in $(seq 1 $Q); do
    a=$(ip netns exec "$NS_C" timeout 15 dig @198.51.100.53 "w$i.example" +short +tries=1 +time=3 2>/dev/null)
    [ "$a" = 203.0.113.99 ] && answered=$((answered + 1))
done
check "$Q DNS queries through tproxy, each from its own port, are answered" test $answered = $Q
check "... each reached the origin once (no second session for it)" \
    test "$(grep -c 'query\[A\] w[0-9]*\.example from' "$E2E_TMP/dnsmasq.log")" = $Q
u0=$(metric 'switchyard_worker_udp_sessions_total{worker="0"}')
u1=$(metric 'switchyard_worker_udp_sessions_total{worker="1"}')
diag "UDP sessions by worker: $u0 $u1"
check "sessions landed on both workers, one per query" test "$u0" -gt 0 -a "$u1" -gt 0 -a $((u0 + u1)) = $Q
# Ten queries from one port: one session, on whichever worker the kernel picked.
same=$(in_client python3 -c '
import random, socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.bind(("192.0.2.2", 0))
got = 0
for i in range(10):
    name = b"".join(bytes([len(p)]) + p for p in [b"same%d" % i, b"example"]) + b"\0"
    s.sendto(struct.pack(">HHHHHH", random.randrange(65536), 0x100, 1, 0, 0, 0) + name + b"\0\1\0\1",
             ("198.51.100.53", 53))
    try:
        s.recv(512)
        got += 1
    except socket.timeout:
        pass
print(got)')
check "ten queries from one client port are all answered" test "$same" = 10
check "... through one session: the sessions grew by one" \
    test $(($(metric 'switchyard_worker_udp_sessions_total{worker="0"}') + \
        $(metric 'switchyard_worker_udp_sessions_total{worker="1"}'))) = $((Q + 1))

# --- reload with flows in progress -----------------------------------------------------
# 8 MB at 320 KB/s: 25 s each, so that /connections, slow under a sanitizer on a busy machine,
# still finds both running.
in_client curl -s --max-time 60 --limit-rate 320K -o "$E2E_TMP/slow80.bin" "http://$ORIGIN4/big.bin" &
slow80=$!
in_client curl -s -k --max-time 60 --limit-rate 320K --resolve "origin.example:443:$ORIGIN4" \
    -o "$E2E_TMP/slow443.bin" "https://origin.example/big.bin" &
slow443=$!
# both_listed: /connections lists the two downloads (TCP, one per inbound) and no id twice;
# LISTED = the TCP connections' inbounds and every id, for the diagnostic.
both_listed() {
    local conns
    conns=$(timeout 60 ip netns exec "$NS_R" curl -sS --max-time 10 "$API/connections")
    LISTED=$(python3 -c '
import json, sys
c = json.loads(sys.argv[1])["connections"]
ins = sorted(x["metadata"]["inbound"] for x in c if x["metadata"]["network"] == "tcp")
ids = [x["id"] for x in c]
print(" ".join(ins), "/", " ".join(ids))
sys.exit(0 if ins == ["gw", "tp"] and len(set(ids)) == len(ids) else 1)' "$conns")
}
listed=1
deadline=$((SECONDS + 30)) # the downloads run 25 s: they are listed some time in it
while [ $SECONDS -lt $deadline ]; do both_listed && { listed=0; break; }; sleep 0.2; done
check "/connections lists both downloads, whichever worker holds them, ids distinct" test $listed = 0 ||
    diag "listed: $LISTED; $(ip netns exec "$NS_R" ss -Htn state established | wc -l) established; router: $(ip netns exec "$NS_R" ss -Htan | awk '{print $1, $2, $3, $4, $5}' | tr '\n' ';'); client: $(ip netns exec "$NS_C" ss -Htan | awk '{print $1, $4, $5}' | tr '\n' ';'); log: $(tail -5 "$E2E_TMP/switchyard.log" | tr '\n' ';')"
# Eight more connections held open through the redirect inbound, which the kernel spreads
# over both workers: the reload line counts every worker's flows, so at least these eight.
HELD=8
in_client timeout 30 python3 -c '
import socket, sys, time
held = [socket.create_connection((sys.argv[1], 80), timeout=10) for _ in range(int(sys.argv[2]))]
print("held", flush=True)
time.sleep(20)' "$ORIGIN4" $HELD >"$E2E_TMP/held.out" 2>&1 &
held=$!
wait_file_grep "$E2E_TMP/held.out" "^held" 10 || diag "$(cat "$E2E_TMP/held.out")"
sleep 1 # accepted by now
write_policy "  - {dst_port: 443, domain_suffix: late.example, action: drop}"
kill -HUP "$SWITCHYARD_PID"
wait_file_grep "$E2E_TMP/switchyard.log" "reload: .* loaded" 10 || true
check "the reload line counts the $HELD held connections (at least), whichever worker holds them" \
    grep -qE "reload: .* loaded .*, ([89]|[1-9][0-9]+) flows and [0-9]+ UDP sessions carry on" \
    "$E2E_TMP/switchyard.log" || diag "$(grep 'reload: ' "$E2E_TMP/switchyard.log")"
wait $slow80
wait $slow443
kill "$held" 2>/dev/null
wait "$held" 2>/dev/null
check "the redirect download in progress completed byte-exact across the reload" \
    cmp -s "$E2E_TMP/slow80.bin" "$E2E_TMP/www/big.bin"
check "the tproxy download in progress completed byte-exact across the reload" \
    cmp -s "$E2E_TMP/slow443.bin" "$E2E_TMP/www/big.bin"
dropped=0
for i in $(seq 1 20); do
    curl_host "$NS_C" late.example "$ORIGIN4" https | grep -q "hello from origin" || dropped=$((dropped + 1))
done
check "the rule the reload added holds on both workers: 20 of 20 dropped" test $dropped = 20
check "... decided by it on each worker (rule 1 hits: 20)" \
    test "$(metric 'switchyard_rule_hits_total{rule="1"}')" = 20
total=$((2 * N + 2 + HELD + 20))
check "switchyard_flows_accepted_total is still exact: $total" \
    test "$(metric switchyard_flows_accepted_total)" = $total

# --- stop ------------------------------------------------------------------------------
stop_pid "$SWITCHYARD_PID"
check "SIGTERM stops every worker; the stop line counts all $total flows" \
    grep -q "stopped: $total flows accepted" "$E2E_TMP/switchyard.log"
check "no error was logged" bash -c "! grep -E ' error |AddressSanitizer|runtime error' '$E2E_TMP/switchyard.log'"

if [ -n "${VERBOSE:-}" ]; then cat "$E2E_TMP/switchyard.log"; fi
e2e_finish
