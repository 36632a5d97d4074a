#!/usr/bin/env bash
# control_api.sh — the control section's API with real clients: switchyard
# as a gateway (redirect inbound) with `control` on the router's loopback
# and a secret. curl asks every endpoint with and without the secret; the
# /metrics text is read by prometheus_client's parser; a transfer through
# switchyard (tests/e2e/control_peer.py) shows in /connections with the
# bytes each way that were sent, DELETE /connections/ID resets it live;
# /traffic streams the bytes of a paced transfer while it runs; a bad
# PUT /configs answers the FILE:LINE:COL error and keeps the policy.
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib.sh
control_gateway_up "127.0.0.1:9090"
API=http://127.0.0.1:9090
AUTH="Authorization: Bearer t0ken"

printf 'control: {listen: "0.0.0.0:9090"}\n' >"$E2E_TMP/open.yaml"
check "check warns about a control listener on a wildcard address without a secret" \
    sh -c "'$SWITCHYARD' check -c '$E2E_TMP/open.yaml' 2>&1 | grep -q 'not a loopback address'"
printf 'control: {listen: "unix:/run/x.sock", secret: s}\n' >"$E2E_TMP/unix.yaml"
check "... and not about a unix socket" \
    sh -c "! '$SWITCHYARD' check -c '$E2E_TMP/unix.yaml' 2>&1 | grep -q warning"

api() { in_router curl -sS --max-time 10 "$@"; }
code() { in_router curl -s -o /dev/null --max-time 10 -w '%{http_code}' "$@"; }

for ep in / /version /configs /connections /rules /proxies /metrics; do
    check "GET $ep without the secret: 401" test "$(code "$API$ep")" = 401
    check "GET $ep with the Bearer secret: 200" test "$(code -H "$AUTH" "$API$ep")" = 200
done
check "a wrong secret: 401" test "$(code -H "Authorization: Bearer t0kem" "$API/version")" = 401
check "?token= (WebSocket clients): 200" test "$(code "$API/version?token=t0ken")" = 200
check "DELETE /connections without the secret: 401" test "$(code -X DELETE "$API/connections")" = 401
check "PUT /configs without the secret: 401" test "$(code -X PUT "$API/configs")" = 401
check "an unknown path: 404" test "$(code -H "$AUTH" "$API/nothing")" = 404
out=$(api -H "$AUTH" "$API/version")
check "/version names switchyard" grep -q '"version":"switchyard' <<<"$out"
out=$(api -H "$AUTH" "$API/configs")
check "/configs: the redirect port and mode rule" grep -q '"redir-port":12345.*"mode":"rule"' <<<"$out"
out=$(api -H "$AUTH" "$API/rules")
check "/rules: rule 1 to REJECT, then the default" \
    grep -q '"payload":"rule 1 (line 7)","proxy":"REJECT".*"type":"Match"' <<<"$out"
out=$(api -H "$AUTH" "$API/proxies")
check "/proxies: DIRECT, REJECT and GLOBAL" grep -q '"DIRECT".*"REJECT".*"GLOBAL"' <<<"$out"
check "/proxies/DIRECT: 200" test "$(code -H "$AUTH" "$API/proxies/DIRECT")" = 200
out=$(api -H "$AUTH" --max-time 2 -N "$API/memory" 2>/dev/null)
check "/memory streams {inuse}" grep -q '"inuse":[1-9]' <<<"$out"

# A transfer held open: its bytes in /connections, then reset through the API.
bg "$NS_C" "$E2E_TMP/hold.out" python3 "$PEER" hold "$ORIGIN4" 80
HOLD=$REPLY
wait_file_grep "$E2E_TMP/hold.out" "^got" 10
check "the held transfer got its bytes through switchyard" grep -qx "got 1000000" "$E2E_TMP/hold.out"
conns=$(api -H "$AUTH" "$API/connections")
read -r id up down host net <<<"$(python3 -c '
import json, sys
d = json.load(sys.stdin)
for c in d["connections"]:
    m = c["metadata"]
    if m["destinationPort"] == "80":
        print(c["id"], c["upload"], c["download"], m["destinationIP"], m["network"], c["chains"][0], c["rule"])
        break
' <<<"$conns" | cut -d' ' -f1-5)"
check "/connections lists the flow to $ORIGIN4:80" test "$host" = "$ORIGIN4"
check "... with upload 1234 and download 1000000, as sent" test "$up $down" = "1234 1000000"
check "... network tcp" test "$net" = tcp
check "... and totals at least that" python3 -c '
import json, sys
d = json.loads(sys.argv[1])
sys.exit(0 if d["uploadTotal"] >= 1234 and d["downloadTotal"] >= 1000000 else 1)' "$conns"
check "DELETE /connections/$id: 204" test "$(code -X DELETE -H "$AUTH" "$API/connections/$id")" = 204
wait_file_grep "$E2E_TMP/hold.out" "^(reset|eof|timeout)" 10
check "... the client saw a reset" grep -qx reset "$E2E_TMP/hold.out"
check "DELETE /connections/$id again: 404" test "$(code -X DELETE -H "$AUTH" "$API/connections/$id")" = 404
stop_pid "$HOLD"

# A paced transfer (about 5 MiB over 4 s) while /traffic streams.
bg "$NS_R" "$E2E_TMP/traffic.out" curl -sS -N --max-time 6 -H "$AUTH" "$API/traffic"
TRAFFIC=$REPLY
sleep 0.5
paced=$(in_client python3 "$PEER" paced "$ORIGIN4" 81)
sleep 1.5
stop_pid "$TRAFFIC"
check "the paced transfer went through ($paced bytes)" test "${paced:-0}" -gt 1000000
check_traffic_sum "/traffic streamed while it ran, its down bytes summing to what was sent (within a second's worth)" \
    "$E2E_TMP/traffic.out" "${paced:-0}"

# /metrics through a real parser (Debian's python3-prometheus-client).
api -H "$AUTH" "$API/metrics" >"$E2E_TMP/metrics.txt"
check "/metrics parses with prometheus_client and has the flows, bytes and reload families" \
    /usr/bin/python3 - "$E2E_TMP/metrics.txt" <<'PY'
import sys
from prometheus_client.parser import text_string_to_metric_families
fams = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}
need = ["switchyard_flows", "switchyard_flows_active", "switchyard_bytes", "switchyard_reloads",
        "switchyard_rule_hits", "switchyard_sniff_results", "switchyard_upstream_failures",
        "switchyard_fds_in_use", "switchyard_fds_limit", "switchyard_policy_age_seconds",
        "switchyard_udp_sessions", "switchyard_flows_refused", "switchyard_flows_dropped",
        "switchyard_conntrack_lookups", "switchyard_conntrack_lookup_seconds"]
missing = [n for n in need if n not in fams]
if missing:
    print("# missing:", missing, sorted(fams))
    sys.exit(1)
total = {tuple(sorted(s.labels.items())): s.value for s in fams["switchyard_flows"].samples}
flows = sum(v for k, v in total.items() if ("inbound", "gw") in k and ("outbound", "direct") in k)
down = sum(s.value for s in fams["switchyard_bytes"].samples
           if s.labels.get("outbound") == "direct" and s.labels.get("direction") == "down")
print("# flows gw/direct %d, bytes down %d" % (flows, down))
sys.exit(0 if flows >= 2 and down >= 2000000 else 1)
PY

# Reload: a good file, then a bad one (the error answered, the policy kept).
check "PUT /configs with the file as it is: 204" test "$(code -X PUT -H "$AUTH" -d '{"path":""}' "$API/configs")" = 204
cp "$POLICY" "$E2E_TMP/good.yaml"
printf 'rules: [{dst_port: nope, action: drop}]\n' >>"$POLICY"
out=$(api -X PUT -H "$AUTH" "$API/configs")
check "PUT /configs with a bad file answers FILE:LINE:COL" grep -qE "\"message\":\"$POLICY:[0-9]+:[0-9]+: " <<<"$out" || diag "$out"
check "... and the running policy still answers" test "$(code -H "$AUTH" "$API/rules")" = 200
api -H "$AUTH" "$API/metrics" >"$E2E_TMP/metrics2.txt"
check "... counted: reloads ok 1, failed 1" sh -c "grep -q 'switchyard_reloads_total{result=\"ok\"} 1' '$E2E_TMP/metrics2.txt' &&
    grep -q 'switchyard_reloads_total{result=\"failed\"} 1' '$E2E_TMP/metrics2.txt'"
cp "$E2E_TMP/good.yaml" "$POLICY"

stop_pid "$SWITCHYARD_PID"
check "switchyard stops cleanly with the control listener open" grep -q "stopped:" "$E2E_TMP/switchyard.log"
e2e_finish
