#!/usr/bin/env bash
# tun_load.sh — the tun inbound under load, as a gateway (the routing that
# `switchyard firewall --mode gateway --interface r0` prints):
#   - 100 MB echoed byte-exact both ways at once, over IPv4 and over IPv6
#     (sha256 of what came back against what was sent, each bounded to 120 s);
#   - 1,000 flows held open at once (tests/e2e/reliability.py tcp-load), each
#     echoing random bytes byte-exact twice and closing cleanly;
#   - after them, the daemon's sockets back to the idle count and at most
#     the pipe pool's idle pipes kept.
#
#   [LOAD=1000] tests/run --e2e tun_load
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib.sh
. tests/e2e/lib_reliability.sh

LOAD=${LOAD:-1000}
SIZE=1000
MB=100
rel_raise_nofile 20000
rel_gateway_up 9000
for ns in "$NS_C" "$NS_R"; do
    ip netns exec "$ns" sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
done
DEV=sytun$$
DEV=${DEV:0:15}

cat >"$POLICY" <<YAML
log: {level: info, flows: false}
routing_mark: 0xff
limits: {max_flows: $((LOAD + 100))}
inbounds:
  - name: tun-in
    type: tun
    listen: "[::]:12345"
    device: $DEV
    address: 203.0.113.1/30
    address6: "2001:db8:ff::1/126"
default: direct
YAML
: >"$E2E_TMP/switchyard.log"
start_switchyard "$NS_R" "$POLICY" || e2e_abort "tun: switchyard starts"
pid=$SWITCHYARD_PID
"$SWITCHYARD" firewall -c "$POLICY" --mode gateway --interface r0 >"$E2E_TMP/routing.sh" &&
    ip netns exec "$NS_R" sh "$E2E_TMP/routing.sh" >"$E2E_TMP/routing.log" 2>&1 ||
    e2e_abort "tun: the printed gateway routing applies"
sleep 0.3
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

check "tun: switchyard is still running" kill -0 $pid
stop_pid $pid
check "tun: SIGTERM stops switchyard cleanly" grep -q "stopped:" "$E2E_TMP/switchyard.log"
e2e_finish
