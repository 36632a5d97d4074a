#!/usr/bin/env bash
# fault_nofile.sh — descriptor exhaustion on a running daemon: with 10 echo
# flows moving bytes, the daemon's soft RLIMIT_NOFILE is lowered (prlimit
# --pid) to what it holds plus its reserve (engine/core/fd_budget.h) plus
# 16, room for a few flows, and 60 more clients connect. Accepting pauses
# once the budget cannot carry one more busy flow (logged, but not every
# 50 ms), no accepted flow fails for want of a descriptor, the 10 flows run
# on intact, the daemon stays up; when the extra clients leave, a
# connection that waited meanwhile is served and new ones are too; with the
# limit raised again, descriptors are back to the idle count.
#
#   tests/run --e2e fault_nofile
#
#   tests/run --e2e fault_nofile
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib_reliability.sh
rel_gateway_up 9000 9100
write_gateway_policy <<YAML
limits: {max_flows: 1000}
inbounds:
  - {name: gw, type: redirect, listen: "0.0.0.0:12345"}
default: direct
YAML
rel_start_gateway
idle_fd=$(fd_count $pid)
hard=$(prlimit --pid $pid --nofile --noheadings --output HARD | tr -d ' ')

rel_streams streams 9000 10 100
streams=$REPLY
sleep 1
held=$(fd_count $pid)
RESERVED=$(sed -n 's/^#define FD_BUDGET_RESERVED \([0-9]*\).*/\1/p' engine/core/fd_budget.h)
low=$((held + RESERVED + 16))
prlimit --pid $pid --nofile=$low:"$hard"
diag "the daemon holds $held descriptors (idle $idle_fd); soft limit lowered to $low"

rel_bg "$E2E_TMP/extra.out" 60 half-handshakes $O4 9000 60 silent 6
extra=$REPLY
check "out of descriptors: accepting pauses, and says so" \
    wait_file_grep "$E2E_TMP/switchyard.log" "descriptors in use, the budget is .*: not accepting" 5
sleep 1
rel_bg "$E2E_TMP/waiter.out" 30 get $O4 9100 1000
waiter=$REPLY
sleep 1
check "out of descriptors: the daemon is still running" kill -0 $pid
wait $extra
wait $waiter
out=$(cat "$E2E_TMP/waiter.out")
reset_on_emfile=$(grep -c "closed: upstream connect: Too many open files" "$E2E_TMP/switchyard.log")
emfile=$(grep -c "Too many open files" "$E2E_TMP/switchyard.log")
pauses=$(grep -c "Too many open files; pausing" "$E2E_TMP/switchyard.log")
diag "while out of descriptors: the waiting client saw: $out; $reset_on_emfile flows accepted then reset (upstream connect: Too many open files); $pauses pause lines"
check "a connection that waited while out of descriptors is served once they are free" \
    grep -q "end=eof bytes=1000 intact" <<<"$out"
check "no accepted flow failed for want of a descriptor (no EMFILE anywhere: $emfile lines)" \
    test "$emfile" -eq 0
check "out of descriptors for 6 s: the pause is logged a few times, not every 50 ms ($pauses lines)" \
    test "$pauses" -le 10
out=$(rel_client get $O4 9100 1000)
check "new connections are served again ($out)" grep -q "end=eof bytes=1000 intact" <<<"$out"
rel_streams_end streams $streams
check "the 10 flows moving bytes all along ran on intact ($OUT)" grep -q "ok=10 " <<<"$OUT"
prlimit --pid $pid --nofile="$hard":"$hard"
check "descriptors back to idle (pooled pipes aside)" wait_fds $pid $((idle_fd + 8)) 10
check "switchyard is still running" kill -0 $pid
stop_pid $pid
e2e_finish
