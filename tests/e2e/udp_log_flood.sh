#!/usr/bin/env bash
# udp_log_flood.sh — logging never holds the daemon up, and a flood never
# floods the log:
#   - a burst of datagrams whose sessions all fail (a socks5 outbound whose
#     server is down) writes a bounded number of warning lines, not one each;
#   - with stderr a pipe whose reader is stopped (SIGSTOP, like a paused
#     `switchyard run | less`), thousands of logged sessions later the daemon
#     still answers DNS at once; when the reader goes on, the log says how
#     many lines it dropped.
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib_udp.sh
e2e_need_switchyard

BURST=300
FLOOD=3000
LIMIT=10 # LOG_RATELIMIT_BURST

udp_net || e2e_abort "network set-up"
udp_start_dnsmasq || not_ok "dnsmasq listening"
udp_tproxy_rules 12346

# Nothing listens on 203.0.113.10:1080: every session to `down` fails.
udp_socks5_policy down 203.0.113.10 <<YAML
rules:
  - {dst_port: 9, action: down}
default: direct
YAML

# send_burst N PORT: N datagrams from the client, each from a fresh socket (a session each).
send_burst() {
    in_client python3 - "$1" "$2" <<'PY'
import socket, sys
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"x", ("198.51.100.53", int(sys.argv[2])))
    s.close()
PY
}

# answered: dig through the daemon gets dnsmasq's answer within a few seconds.
answered() {
    in_client timeout 15 dig @198.51.100.53 answer.example +short +tries=2 +time=3 2>/dev/null |
        grep -qx 203.0.113.99
}

# wait_listener: until the tproxy listener is open.
wait_listener() { wait_udp "$NS_R" '*' 12346 || true; }

# --- a burst of failing opens --------------------------------------------------------
bg "$NS_R" "$E2E_TMP/switchyard.log" "$SWITCHYARD" run -c "$POLICY"
SY=$REPLY
wait_file_grep "$E2E_TMP/switchyard.log" "running with" 10 || e2e_abort "switchyard starts"
wait_listener

send_burst "$BURST" 9
wait_file_grep "$E2E_TMP/switchyard.log" "via down" 10 || true
sleep 2
decided=$(log_count "=> down")
failed=$(log_count "via down")
diag "$decided sessions to down decided, $failed failure lines"
check "the burst reached the daemon ($decided of $BURST sessions decided)" test "$decided" -ge $((BURST / 2))
check "failing opens are logged ($failed lines)" test "$failed" -ge 1
check "at most $LIMIT failure lines for $BURST failing sessions ($failed)" test "$failed" -le "$LIMIT"
check "DNS answered after the burst" answered
stop_pid "$SY"

# --- stderr a pipe nobody reads -----------------------------------------------------------
# The reader is a process substitution, so its pid is known and it can be stopped.
exec {LOGW}> >(exec cat >"$E2E_TMP/stalled.log")
READER=$!
ip netns exec "$NS_R" "$SWITCHYARD" run -c "$POLICY" >/dev/null 2>&"$LOGW" &
SY=$!
E2E_PIDS+=("$SY")
exec {LOGW}>&-
e2e_at_exit "kill -CONT $READER 2>/dev/null"
wait_file_grep "$E2E_TMP/stalled.log" "running with" 10 || e2e_abort "switchyard starts (log to a pipe)"
wait_listener

kill -STOP "$READER"
# Each session logs its decision (~120 bytes): far more than the pipe (64 KiB) holds.
send_burst "$FLOOD" 7
check "DNS answered while the log reader is stopped" answered
check "the daemon is still running" kill -0 "$SY"
kill -CONT "$READER"
check "the log says how many lines were dropped" \
    wait_file_grep "$E2E_TMP/stalled.log" "[0-9]+ log lines dropped" 10
check "DNS answered after the reader went on" answered
stop_pid "$SY"

if [ -n "${VERBOSE:-}" ]; then cat "$E2E_TMP/switchyard.log"; tail -5 "$E2E_TMP/stalled.log"; fi
e2e_finish
