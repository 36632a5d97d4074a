#!/usr/bin/env bash
# tun_load.sh — the tun inbound under load, as a gateway (the routing that
# `switchyard firewall --mode gateway --interface r0` prints):
#   - 100 MB echoed byte-exact both ways at once, over IPv4 and over IPv6
#     (sha256 of what came back against what was sent, each bounded to 120 s);
#   - 1,000 flows held open at once (tests/e2e/reliability.py tcp-load), each
#     echoing random bytes byte-exact twice and closing cleanly;
#   - after them, the daemon's sockets back to the idle count and at most
#     the pipe pool's idle pipes kept;
#   - the tun counters of /metrics (`control` on the router's loopback, read
#     by prometheus_client's parser): packets each way, the NAT entries with
#     the flows held, a TCP segment with a wrong checksum dropped as
#     "checksum", a UDP session, an answered ping.
#
#   [LOAD=1000] tests/run --e2e tun_load
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib_reliability.sh

LOAD=${LOAD:-1000}
SIZE=1000
MB=100
rel_raise_nofile 20000
rel_gateway_up 9000
for ns in "$NS_C" "$NS_R"; do
    ip netns exec "$ns" sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
done
tun_dev

cat >"$POLICY" <<YAML
log: {level: info, flows: false}
routing_mark: 0xff
control: {listen: "127.0.0.1:9090"}
limits: {max_flows: $((LOAD + 100))}
$(tun_inbound 203.0.113.1/30)
default: direct
YAML
: >"$E2E_TMP/switchyard.log"
start_switchyard "$NS_R" "$POLICY" || e2e_abort "tun: switchyard starts"
pid=$SWITCHYARD_PID
tun_routing gateway --interface r0 || e2e_abort "tun: the printed gateway routing applies"
sleep 0.3

# scrape FILE: /metrics into FILE. metric FILE NAME [LABEL=VALUE...]: the sample's
# value (an integer), -1 when there is none or no parser.
scrape() { timeout 20 ip netns exec "$NS_R" curl -sS --max-time 10 http://127.0.0.1:9090/metrics >"$1"; }
metric() {
    /usr/bin/python3 - "$@" <<'PY' 2>/dev/null || echo -1
import sys
from prometheus_client.parser import text_string_to_metric_families
want = dict(a.split("=", 1) for a in sys.argv[3:])
for fam in text_string_to_metric_families(open(sys.argv[1]).read()):
    for s in fam.samples:
        if s.name == sys.argv[2] and all(s.labels.get(k) == v for k, v in want.items()):
            print(int(s.value))
            sys.exit(0)
print(-1)
PY
}
HAVE_PARSER=1
/usr/bin/python3 -c 'import prometheus_client' 2>/dev/null || HAVE_PARSER=0
# mcheck WHAT CMD...: a check on the metrics, a SKIP without the parser.
mcheck() {
    if [ $HAVE_PARSER = 1 ]; then check "$@"; else skip "$1" "python3-prometheus-client is not installed"; fi
}
scrape "$E2E_TMP/m0.txt"
mcheck "tun metrics: the families are there, zero before any packet" \
    test "$(metric "$E2E_TMP/m0.txt" switchyard_tun_dropped_total inbound=tun-in reason=checksum) $(metric "$E2E_TMP/m0.txt" switchyard_tun_nat_entries inbound=tun-in)" = "0 0"

idle_fd=$(fd_count $pid) idle_sock=$(sock_count $pid) idle_rss=$(rss_kib $pid)
diag "idle: $idle_fd descriptors ($idle_sock sockets), $idle_rss KiB resident"

# 100 MB both ways at once: socat sends the file and writes what the echo returns.
head -c $((MB << 20)) /dev/urandom >"$E2E_TMP/big.bin"
want=$(sha256sum <"$E2E_TMP/big.bin" | cut -d' ' -f1)
bg "$NS_O" "$E2E_TMP/echo6.log" socat -b 65536 "TCP6-LISTEN:9001,bind=[$ORIGIN6],reuseaddr,fork" EXEC:cat
wait_tcp "$NS_O" "$ORIGIN6" 9001 || not_ok "IPv6 echo listening"
for target in "$ORIGIN4:9000" "[$ORIGIN6]:9001"; do
    fam=4
    [[ $target == \[* ]] && fam=6
    t0=$(date +%s.%N)
    timeout 120 ip netns exec "$NS_C" socat -b 65536 -t 30 -T 30 - "TCP:$target" \
        <"$E2E_TMP/big.bin" >"$E2E_TMP/echoed.bin" 2>"$E2E_TMP/socat.err"
    secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
    got=$(sha256sum <"$E2E_TMP/echoed.bin" | cut -d' ' -f1)
    check "tun IPv$fam: $MB MB echoed byte-exact both ways ($(stat -c %s "$E2E_TMP/echoed.bin") bytes back in $secs s)" \
        test "$got" = "$want" || diag "$(cat "$E2E_TMP/socat.err")"
done
rm -f "$E2E_TMP/big.bin" "$E2E_TMP/echoed.bin"

# LOAD flows held open at once, each echoing twice.
rm -f "$E2E_TMP/ready" "$E2E_TMP/release"
rel_bg "$E2E_TMP/load.out" 400 tcp-load "$O4" 9000 "$LOAD" $SIZE "$E2E_TMP/ready" "$E2E_TMP/release"
lp=$REPLY
wait_file_grep "$E2E_TMP/ready" "open" 200
diag "$(cat "$E2E_TMP/ready" 2>/dev/null)"
sleep 1
held_sock=$(sock_count $pid)
scrape "$E2E_TMP/m1.txt"
nat=$(metric "$E2E_TMP/m1.txt" switchyard_tun_nat_entries inbound=tun-in)
mcheck "tun metrics: a NAT entry for each flow held ($nat)" test "$nat" -ge "$LOAD"
diag "held: $(fd_count $pid) descriptors ($held_sock sockets), $(rss_kib $pid) KiB resident"
touch "$E2E_TMP/release"
wait $lp
out=$(cat "$E2E_TMP/load.out")
check "tun: $LOAD concurrent flows each echoed byte-exact twice and closed cleanly ($out)" \
    grep -q "flows $LOAD intact $LOAD lost 0" <<<"$out"
check "tun: all $LOAD were open at once (the daemon held $held_sock sockets)" \
    test "$held_sock" -ge $((idle_sock + 2 * LOAD))
wait_fds $pid $((idle_fd + 2048 * 2)) 30
for i in $(seq 100); do [ "$(sock_count $pid)" -le "$idle_sock" ] && break; sleep 0.1; done
after_sock=$(sock_count $pid) after_pipe=$(pipe_count $pid)
diag "after: $(fd_count $pid) descriptors ($after_sock sockets, $after_pipe pipes), $(rss_kib $pid) KiB resident"
check "tun: after the flows closed, sockets back to the idle count ($after_sock, idle $idle_sock)" \
    test "$after_sock" -eq "$idle_sock"
check "tun: after the flows closed, at most the pool's 2,048 idle pipes kept ($after_pipe pipes)" \
    test "$after_pipe" -le 4096

# A TCP segment with a wrong checksum, a UDP datagram answered, a ping answered.
BAD='
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
# source port, destination 80, seq, ack, offset 5, SYN, window, checksum 0x1234 (wrong), urgent
s.sendto(struct.pack("!HHIIBBHHH", 40000, 80, 1, 0, 5 << 4, 2, 65535, 0x1234, 0), ("'$O4'", 0))
'
in_client python3 -c "$BAD"
bg "$NS_O" "$E2E_TMP/udp-echo.log" python3 "$REL_PY" udp-echo "$O4" 9999
wait_udp "$NS_O" "$O4" 9999
UDP='
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.sendto(b"switchyard", (sys.argv[1], 9999))
sys.exit(0 if s.recv(100) == b"switchyard" else 1)
'
check "tun: a UDP datagram through the TUN is echoed" in_client python3 -c "$UDP" "$O4"
PING='
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
s.settimeout(2)
s.sendto(bytes([8, 0, 0, 0, 0, 0, 0, 1]) + b"switchyard", (sys.argv[1], 0))
sys.exit(0 if s.recv(100).endswith(b"switchyard") else 1)
'
ip netns exec "$NS_C" sysctl -qw net.ipv4.ping_group_range="0 2147483647"
check "tun: a ping through the TUN is answered" in_client python3 -c "$PING" "$O4"
scrape "$E2E_TMP/m2.txt"
m() { metric "$E2E_TMP/m2.txt" "$@"; }
pin=$(m switchyard_tun_packets_total inbound=tun-in direction=in)
pout=$(m switchyard_tun_packets_total inbound=tun-in direction=out)
diag "tun metrics: packets in $pin, out $pout"
mcheck "tun metrics: packets in and out counted (at least one each way per flow)" \
    test "$pin" -ge $((2 * LOAD)) -a "$pout" -ge $((2 * LOAD))
mcheck "tun metrics: the segment with a wrong checksum dropped as \"checksum\"" \
    test "$(m switchyard_tun_dropped_total inbound=tun-in reason=checksum)" = 1
mcheck "tun metrics: one UDP session open" test "$(m switchyard_tun_udp_sessions inbound=tun-in)" = 1
mcheck "tun metrics: one echo request answered" \
    test "$(m switchyard_tun_icmp_echo_answered_total inbound=tun-in)" = 1
mcheck "tun metrics: nothing failed to be written" \
    test "$(m switchyard_tun_dropped_total inbound=tun-in reason=write_failed)" = 0

check "tun: switchyard is still running" kill -0 $pid
stop_pid $pid
check "tun: SIGTERM stops switchyard cleanly" grep -q "stopped:" "$E2E_TMP/switchyard.log"
e2e_finish
