#!/usr/bin/env bash
# tcp_limits.sh — descriptor pressure, through a redirect gateway:
#   - the flow limit comes from RLIMIT_NOFILE (soft raised to hard) when
#     limits.max_flows is not set;
#   - at limits.max_flows switchyard stops accepting, and resumes when a flow
#     closes: the waiting connection is then served;
#   - with few descriptors (RLIMIT_NOFILE 64) it stops accepting when the
#     descriptor budget cannot carry one more busy flow, before anything
#     fails with EMFILE: every accepted flow is served, the rest wait, and
#     are served once descriptors are free; the daemon never dies of it.
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib.sh
gateway_up
O4=$ORIGIN4
bg "$NS_O" "$E2E_TMP/echo.log" socat TCP-LISTEN:9000,reuseaddr,fork EXEC:cat
wait_tcp "$NS_O" $O4 9000

policy() { # policy EXTRA_LINE
    write_gateway_policy <<YAML
inbounds:
  - {name: gw, type: redirect, listen: "0.0.0.0:12345"}
$1
default: direct
YAML
}
echo_ok() { [ "$(echo ping | in_client timeout 5 socat -t 2 -T 3 - TCP:$O4:9000 2>/dev/null)" = ping ]; }
IDLE=()
open_idle() { # open_idle N: N client connections that stay open and silent
    local i
    for i in $(seq "$1"); do
        ip netns exec "$NS_C" socat -T 60 EXEC:'sleep 60' TCP:$O4:9000 >/dev/null 2>&1 &
        IDLE+=($!)
        E2E_PIDS+=($!)
    done
    sleep 1
}
close_idle() { local p; for p in "${IDLE[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; IDLE=(); }

# --- the limit from RLIMIT_NOFILE -------------------------------------------------
policy ""
: >"$E2E_TMP/switchyard.log"
bg "$NS_R" "$E2E_TMP/switchyard.log" prlimit --nofile=512:4096 "$SWITCHYARD" run -c "$POLICY"
pid=$REPLY
wait_file_grep "$E2E_TMP/switchyard.log" "running with" 10
check "soft RLIMIT_NOFILE raised to the hard limit sizes the flow limit ((4096-64)/3)" \
    grep -q "up to 1344 TCP flows" "$E2E_TMP/switchyard.log"
stop_pid "$pid"

# --- limits.max_flows ------------------------------------------------------------------
policy "limits: {max_flows: 2}"
start_gateway
check "below the limit a flow is served" echo_ok
open_idle 2
check "at the limit switchyard says it stops accepting" \
    wait_file_grep "$E2E_TMP/switchyard.log" "2 flows open, the limit: not accepting" 5
if echo_ok; then not_ok "at the limit a new connection waits"; else ok "at the limit a new connection waits"; fi
close_idle
check "once flows close, new connections are served again" echo_ok
stop_pid "$SWITCHYARD_PID"

# --- the descriptor budget ------------------------------------------------------------
policy "limits: {max_flows: 1000}"
: >"$E2E_TMP/switchyard.log"
bg "$NS_R" "$E2E_TMP/switchyard.log" prlimit --nofile=64:64 "$SWITCHYARD" run -c "$POLICY"
pid=$REPLY
wait_file_grep "$E2E_TMP/switchyard.log" "running with" 10
open_idle 40
check "few descriptors: accepting pauses with one line, at the budget" \
    wait_file_grep "$E2E_TMP/switchyard.log" "descriptors in use, the budget is 32 .*not accepting" 5
check "few descriptors: the daemon is still running" kill -0 "$pid"
accepted=$(log_count "decided inbound=gw")
check "few descriptors: about 13 of 40 flows accepted (2 descriptors each, 6 left for a busy one): $accepted" \
    test "$accepted" -ge 10 -a "$accepted" -le 14
check "few descriptors: no accepted flow failed with EMFILE" test "$(log_count "Too many open files")" -eq 0
close_idle
check "descriptors free again: new connections are served" echo_ok
stop_pid "$pid"
e2e_finish
