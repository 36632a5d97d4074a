#!/usr/bin/env bash
# load_udp.sh — LOAD (default 10,000) UDP sessions at once through a tproxy
# gateway (INBOUND=udp-redirect for the udp-redirect inbound): one client
# socket a session, each datagram echoed byte-exact back to the socket that
# sent it, twice (the second round after the daemon was measured with every
# session held, so a session evicted meanwhile shows up). Prints the daemon's
# resident memory and descriptors idle, with the sessions held, and after
# they expired (timeouts.udp_idle_s); checks nothing was lost, the memory
# per session stays under 16 KiB (not checked on a sanitizer build), and
# the descriptors go back to the idle count, and that the daemon (no control
# plane) maps no libmicrohttpd.
#
#   [LOAD=10000] [INBOUND=tproxy|udp-redirect] tests/run --e2e load_udp
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib_reliability.sh

INBOUND=${INBOUND:-tproxy}
IDLE_S=30
# New sessions opened 100 at a time, each batch answered before the next (20
# for a sanitizer build, several times slower to open a session).
BATCH=100
[ $REL_SANITIZED = 1 ] && BATCH=20
rel_raise_nofile 100000
NOFILE=$REPLY
LOAD=${LOAD:-$((NOFILE - 2000 < 10000 ? NOFILE - 2000 : 10000))}
diag "descriptor limit $NOFILE: $LOAD sessions"

rel_gateway_up
bg "$NS_O" "$E2E_TMP/echo.log" python3 "$REL_PY" udp-echo $O4 7001
wait_udp "$NS_O" $O4 7001 || not_ok "echo server listening"

cat >"$POLICY" <<YAML
log: {level: info, flows: false}
routing_mark: 0xff
fast_path: off  # every flow through switchyard, none decided in the kernel
timeouts: {udp_idle_s: $IDLE_S}
limits: {udp_sessions: $((LOAD + 100))}
inbounds:
  - {name: gw, type: $INBOUND, listen: "0.0.0.0:12346", network: [udp]}
default: direct
YAML
rel_start_gateway 0.5
idle_fd=$(fd_count $pid) idle_rss=$(rss_kib $pid)
diag "idle: $idle_fd descriptors, $idle_rss KiB resident"
# The control plane opens libmicrohttpd when it starts; without one, neither it nor GnuTLS is mapped.
check "no control plane: the daemon maps no libmicrohttpd nor GnuTLS" \
    sh -c "grep -q libc /proc/$pid/maps && ! grep -qE 'libmicrohttpd|libgnutls' /proc/$pid/maps"

rm -f "$E2E_TMP/ready" "$E2E_TMP/release"
rel_bg "$E2E_TMP/load.out" 300 udp-load $O4 7001 "$LOAD" "$E2E_TMP/ready" "$E2E_TMP/release" $BATCH
lp=$REPLY
wait_file_grep "$E2E_TMP/ready" "sessions" 200
sleep 1
held_fd=$(fd_count $pid) held_rss=$(rss_kib $pid)
diag "held: $(cat "$E2E_TMP/ready"); $held_fd descriptors, $held_rss KiB resident"
touch "$E2E_TMP/release"
wait $lp
out=$(cat "$E2E_TMP/load.out")
check "$LOAD concurrent sessions: every datagram echoed byte-exact to its sender, twice ($out)" \
    grep -q "sessions $LOAD round1-missing 0 round2-missing 0 wrong 0" <<<"$out"
check "all $LOAD sessions were held at once ($held_fd descriptors)" test "$held_fd" -ge $((idle_fd + LOAD))
per_session=$(((held_rss - idle_rss) * 1024 / LOAD))
diag "resident memory per session: $per_session bytes"
rel_memory_check "memory per session under 16 KiB ($per_session bytes)" test $per_session -lt 16384
wait_fds $pid "$idle_fd" $((IDLE_S + 15))
after_fd=$(fd_count $pid)
diag "after the sessions expired: $after_fd descriptors, $(rss_kib $pid) KiB resident"
check "after the sessions expired: descriptors back to the idle count ($after_fd, idle $idle_fd)" \
    test "$after_fd" -le "$idle_fd"
check "switchyard is still running" kill -0 $pid
stop_pid $pid
check "switchyard stops cleanly" grep -q "stopped:" "$E2E_TMP/switchyard.log"
e2e_finish
