#!/usr/bin/env bash
# tcp_streams.sh — what the relay must get right, through a redirect
# gateway (client ns -> router ns with switchyard -> origin ns):
#   - a server-first origin (SMTP-like banner) works through a rule that needs
#     a host name: the sniff timeout decides, with no name; the next flow to
#     it does not wait again, nor does the first to a port in skip_ports;
#   - a client that stayed silent once to a TLS origin switches sniffing off
#     for no one: a ClientHello naming a dropped host, sent there next by
#     that client or by another one, is still dropped;
#   - 100 MB arrive byte-exact in both directions at once (echo), and 100 MB
#     download byte-exact over IPv6;
#   - a half-closed connection still delivers the other direction;
#   - an origin refusing, an unreachable upstream and a client vanishing
#     mid-transfer each end only their own flow: the daemon serves the next;
#   - SIGHUP: a changed rule applies to new flows while an established one
#     goes on; a new inbound opens; a bad file keeps the old policy.
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib.sh
gateway_up nginx
O4=$ORIGIN4
O6=$ORIGIN6

write_policy() { # write_policy EXTRA_RULE_LINE [EXTRA_INBOUND_LINE]
    write_usual_policy gw redirect "${2:-}" "$1" <<YAML
log: {level: info, flows: true}
sniff: {timeout_ms: 300, skip_ports: [2526]}
timeouts: {connect_ms: 1500}
YAML
}
write_policy "" ""
start_gateway || exit 1

alive() { kill -0 "$SWITCHYARD_PID" 2>/dev/null; }
fetch_ok() { in_client curl -s --max-time 10 "http://$O4/" | grep -q "hello from origin"; }

# --- server-first ---------------------------------------------------------------
# banner_ms HOST PORT: milliseconds from connect to the server's first bytes,
# the client sending nothing; -1 when they are not the banner.
banner_ms() {
    in_client python3 -c '
import socket, sys, time
t = time.monotonic()
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), 3)
s.settimeout(3)
data = s.recv(100)
print(int((time.monotonic() - t) * 1000) if data.startswith(b"220 ") else -1)' "$1" "$2"
}
for port in 2525 2526; do
    bg "$NS_O" "$E2E_TMP/banner$port.log" socat TCP-LISTEN:$port,reuseaddr,fork \
        SYSTEM:'echo 220 mail.example ESMTP ready; sleep 2'
    wait_tcp "$NS_O" $O4 $port
done
first=$(banner_ms $O4 2525)
again=$(banner_ms $O4 2525)
skipped=$(banner_ms $O4 2526)
diag "banner after: ${first} ms (first flow), ${again} ms (again), ${skipped} ms (skip_ports)"
check "server-first: the banner arrives through a rule that needs a host name" \
    test "${first:--1}" -ge 0
check "server-first: the first flow waits out the sniff timeout (300 ms)" \
    test "${first:--1}" -ge 280
check "server-first: decided by the sniff timeout, with no host" \
    grep -qE "dst=$O4:2525 host=- protocol=unknown default -> direct" "$E2E_TMP/switchyard.log"
check "server-first: the next flow to that destination does not wait again" \
    test "${again:--1}" -ge 0 -a "${again:--1}" -lt 200
check "server-first: a port in sniff.skip_ports does not wait at all" \
    test "${skipped:--1}" -ge 0 -a "${skipped:--1}" -lt 200
check "server-first: both decided as the timeout would have, with no host" \
    test "$(grep -cE "dst=$O4:252[56] host=- protocol=unknown default -> direct" \
        "$E2E_TMP/switchyard.log")" -eq 3

# --- silence switches sniffing off for no one --------------------------------------
# Client A (192.0.2.2) connects to the TLS origin and says nothing until the
# sniff timeout: (A, origin:443) is remembered silent. Then another client B
# (192.0.2.3) and A itself send a ClientHello for blocked.example there.
ip -n "$NS_C" addr add 192.0.2.3/24 dev c0
in_client python3 -c '
import socket, sys, time
s = socket.create_connection((sys.argv[1], 443), 3)
time.sleep(0.6)
s.close()' $O4
wait_file_grep "$E2E_TMP/switchyard.log" "src=192.0.2.2:[0-9]+ dst=$O4:443 host=- protocol=unknown" 5
check "silence: a silent client's flow to the TLS origin is decided by the sniff timeout" \
    grep -qE "src=192.0.2.2:[0-9]+ dst=$O4:443 host=- protocol=unknown default -> direct" \
    "$E2E_TMP/switchyard.log"
blocked_from() { # blocked_from SRC: https://blocked.example/ at the origin, from SRC
    in_client curl -sS -k --max-time 5 --interface "$1" --resolve "blocked.example:443:$O4" \
        https://blocked.example/ 2>&1
}
out=$(blocked_from 192.0.2.3)
check "silence: another client's ClientHello naming a dropped host is dropped" \
    grep -qE "src=192.0.2.3:[0-9]+ dst=$O4:443 host=blocked.example protocol=tls rule 1 .*-> drop" \
    "$E2E_TMP/switchyard.log" || diag "curl said: $out"
out=$(blocked_from 192.0.2.2)
check "silence: the silent client's own ClientHello naming a dropped host is dropped" \
    grep -qE "src=192.0.2.2:[0-9]+ dst=$O4:443 host=blocked.example protocol=tls rule 1 .*-> drop" \
    "$E2E_TMP/switchyard.log" || diag "curl said: $out"
check "silence: both clients got a reset" \
    test "$(grep -cE "dst=$O4:443 host=blocked.example protocol=tls .*-> drop" \
        "$E2E_TMP/switchyard.log")" -eq 2
check "silence: the origin never served blocked.example" \
    bash -c "! grep -q ' blocked.example ' '$E2E_TMP/nginx-access.log' 2>/dev/null"
out=$(curl_host "$NS_C" origin.example $O4 https)
check "silence: a name that is not dropped still goes through for the silent client" \
    grep -q "hello from origin" <<<"$out" || diag "curl said: $out"

# --- 100 MB both ways ------------------------------------------------------------
head -c 100M /dev/urandom >"$E2E_TMP/big.bin"
cp "$E2E_TMP/big.bin" "$E2E_TMP/www/big.bin"
want=$(sha256sum <"$E2E_TMP/big.bin" | cut -d' ' -f1)
bg "$NS_O" "$E2E_TMP/echo.log" socat -b 65536 TCP-LISTEN:9000,reuseaddr EXEC:cat
wait_tcp "$NS_O" $O4 9000
in_client socat -b 65536 -t 30 -T 30 \
    "OPEN:$E2E_TMP/big.bin,rdonly!!OPEN:$E2E_TMP/echoed.bin,creat,trunc,wronly" TCP:$O4:9000
got=$(sha256sum <"$E2E_TMP/echoed.bin" | cut -d' ' -f1)
check "100 MB sent and echoed back byte-exact (both directions at once)" test "$got" = "$want"
check "the echo flow counted 104857600 bytes each way" \
    grep -qE "closed: done; up 104857600 bytes, down 104857600 bytes" "$E2E_TMP/switchyard.log"
got=$(in_client curl -s --max-time 60 "http://[$O6]/big.bin" | sha256sum | cut -d' ' -f1)
check "100 MB download over IPv6 byte-exact" test "$got" = "$want"

# --- half-close -----------------------------------------------------------------
bg "$NS_O" "$E2E_TMP/wc.log" socat TCP6-LISTEN:9002,reuseaddr,fork,ipv6only=0 EXEC:'wc -c'
wait_tcp "$NS_O" $O4 9002
out=$(printf 'hello' | in_client socat -t 5 - TCP:$O4:9002 2>&1)
check "half-close: the client's FIN reaches the origin and its answer comes back" \
    test "$(echo $out)" = 5 || diag "client got: $out"
out=$(printf 'hello6' | in_client socat -t 5 - "TCP:[$O6]:9002" 2>&1)
check "half-close over IPv6" test "$(echo $out)" = 6 || diag "client got: $out"

# --- failures end only their own flow ---------------------------------------------
out=$(in_client curl -sS --max-time 10 "http://$O4:9999/" 2>&1)
check "origin refusing: the client gets a reset" grep -qiE "reset|couldn.t connect" <<<"$out" ||
    diag "curl said: $out"
check "origin refusing: logged as upstream refused" grep -q "closed: upstream Connection refused" \
    "$E2E_TMP/switchyard.log"
check "origin refusing: the daemon serves the next flow" fetch_ok

out=$(in_client curl -sS --max-time 10 "http://198.51.100.99/" 2>&1)
check "upstream unreachable: the client gets an error, not a hang" \
    grep -qiE "reset|couldn.t connect" <<<"$out" || diag "curl said: $out"
check "upstream unreachable: one log line says why" \
    grep -qE "closed: (connect timeout|upstream No route to host|upstream Connection timed out)" \
    "$E2E_TMP/switchyard.log"
check "upstream unreachable: the daemon serves the next flow" fetch_ok

in_client curl -s --limit-rate 2M --max-time 1 -o /dev/null "http://$O4/big.bin"
wait_file_grep "$E2E_TMP/switchyard.log" "closed: (reset by client|client [A-Za-z ]+);" 10
check "client vanishing mid-transfer: its flow ends with a client-side reason" \
    grep -qE "closed: (reset by client|client [A-Za-z ]+); up [0-9]+ bytes, down [0-9]+ bytes" \
    "$E2E_TMP/switchyard.log"
check "client vanishing: the daemon is alive and serves the next flow" bash -c "kill -0 $SWITCHYARD_PID && true" && fetch_ok

# --- reload -------------------------------------------------------------------------
# An established flow (slow download) keeps going across the reload.
in_client curl -s --limit-rate 20M --max-time 30 -o "$E2E_TMP/during.bin" "http://$O4/big.bin" &
long=$!
sleep 1
write_policy "  - {domain: origin.example, action: drop}" \
    '  - {name: extra, type: redirect, listen: "127.0.0.1:12399"}'
kill -HUP "$SWITCHYARD_PID"
wait_file_grep "$E2E_TMP/switchyard.log" "reload: .* loaded" 5
out=$(in_client curl -sS --max-time 5 --resolve origin.example:80:$O4 http://origin.example/ 2>&1)
check "reload: a new rule applies to new flows (origin.example now dropped)" \
    grep -qi reset <<<"$out" || diag "curl said: $out"
check "reload: a new inbound is listening" wait_tcp "$NS_R" 127.0.0.1 12399 3
wait "$long"
got=$(sha256sum <"$E2E_TMP/during.bin" | cut -d' ' -f1)
check "reload: a flow established before it finished byte-exact" test "$got" = "$want"

echo "BROKEN_key: [" >>"$POLICY"
kill -HUP "$SWITCHYARD_PID"
wait_file_grep "$E2E_TMP/switchyard.log" "keeping the current policy" 5
check "reload: a bad file keeps the current policy and says why" \
    grep -qE "reload: .*policy.yaml:[0-9]+.*keeping the current policy" "$E2E_TMP/switchyard.log"
check "reload: still serving under the kept policy" fetch_ok
check "reload: the listener of the kept policy is still open" wait_tcp "$NS_R" 127.0.0.1 12399 1

check "the daemon is still running" alive
stop_pid "$SWITCHYARD_PID"
e2e_finish
