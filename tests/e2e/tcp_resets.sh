#!/usr/bin/env bash
# tcp_resets.sh — a reset is never passed on as a clean end, end to end
# through a redirect gateway and through the socks5 inbound:
#   - an origin that resets mid-download: the client sees ECONNRESET, not
#     end of stream (a cut download must not look complete), and the flow's
#     close line says "reset by upstream";
#   - a client that resets mid-transfer: the origin sees ECONNRESET, and the
#     close line says "reset by client";
#   - a clean end of stream from the client still reaches the origin as one.
# tests/e2e/tcp_resets.py is the origin and the client.
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib.sh
gateway_up
PY=tests/e2e/tcp_resets.py
O4=$ORIGIN4
write_gateway_policy <<YAML
sniff: {timeout_ms: 300}
$(policy_inbounds gateway redirect socks5)
default: direct
YAML
start_gateway || exit 1
bg "$NS_O" "$E2E_TMP/origin-cut.log" python3 $PY origin $O4 8080 cut -
bg "$NS_O" "$E2E_TMP/origin-wait.log" python3 $PY origin $O4 8081 wait "$E2E_TMP/ends"
wait_tcp "$NS_O" $O4 8080 && wait_tcp "$NS_O" $O4 8081 || e2e_abort "origins listening"
wait_tcp "$NS_R" 192.0.2.1 1080 || e2e_abort "socks5 inbound listening"

# last_end: how the origin saw the last connection on 8081 end (bounded wait).
last_end() {
    local i
    for i in $(seq 50); do
        [ -s "$E2E_TMP/ends" ] && [ "$(wc -l <"$E2E_TMP/ends")" -ge "$1" ] && break
        sleep 0.1
    done
    sed -n "${1}p" "$E2E_TMP/ends"
}

# --- origin resets ----------------------------------------------------------------
out=$(in_client python3 $PY client $O4 8080 2>&1)
check "redirect: an origin's reset mid-download reaches the client as a reset" \
    grep -q "^reset " <<<"$out" || diag "client saw: $out"
check "redirect: the close line says reset by upstream" \
    wait_file_grep "$E2E_TMP/switchyard.log" "closed: reset by upstream;" 5

out=$(in_client python3 $PY client $O4 8080 --socks5 192.0.2.1 1080 2>&1)
check "socks5 inbound: an origin's reset mid-download reaches the client as a reset" \
    grep -q "^reset " <<<"$out" || diag "client saw: $out"

# --- client resets ----------------------------------------------------------------
out=$(in_client python3 $PY client $O4 8081 --reset 2>&1)
end=$(last_end 1)
check "redirect: a client's reset mid-transfer reaches the origin as a reset" \
    test "$end" = reset || diag "client: $out; origin saw: $end"
check "redirect: the close line says reset by client" \
    wait_file_grep "$E2E_TMP/switchyard.log" "closed: reset by client;" 5

out=$(in_client python3 $PY client $O4 8081 --socks5 192.0.2.1 1080 --reset 2>&1)
end=$(last_end 2)
check "socks5 inbound: a client's reset mid-transfer reaches the origin as a reset" \
    test "$end" = reset || diag "client: $out; origin saw: $end"

# --- a clean end stays one ----------------------------------------------------------
in_client timeout 10 socat -t 3 - TCP:$O4:8081 </dev/null >/dev/null 2>&1
end=$(last_end 3)
check "a client's clean end of stream reaches the origin as end of stream" \
    test "$end" = eof || diag "origin saw: $end"

check "the daemon is still running" kill -0 "$SWITCHYARD_PID"
stop_pid "$SWITCHYARD_PID"
e2e_finish
