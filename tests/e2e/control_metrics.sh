#!/usr/bin/env bash
# control_metrics.sh — the conntrack metrics of /metrics with UDP going
# through a udp-redirect inbound (lib_udp.sh's network, dnsmasq on the
# origin, `control` on the router's loopback): before any datagram every
# lookup counter is zero; after N dig queries, each from its own port (a new
# session, so one lookup each), the "found" lookups grew by N and the
# latency histogram holds as many observations, read by a real parser
# (Debian's python3-prometheus-client): buckets cumulative and ending at
# +Inf equal to _count, a sum above zero and under N times the timeout.
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib_udp.sh
e2e_need_switchyard
/usr/bin/python3 -c 'import prometheus_client' 2>/dev/null ||
    { skip "control_metrics.sh" "python3-prometheus-client is not installed (make deps)"; e2e_finish; }

udp_net || e2e_abort "network set-up"
udp_start_dnsmasq || not_ok "dnsmasq listening"
API=http://127.0.0.1:9090
N=5

cat >"$POLICY" <<YAML
log: {level: info, flows: true}
routing_mark: 0xff
control: {listen: "127.0.0.1:9090"}
inbounds:
  - {name: nat, type: udp-redirect, listen: "0.0.0.0:12347"}
default: direct
YAML
start_switchyard "$NS_R" "$POLICY" || e2e_abort "switchyard starts"
wait_udp "$NS_R" 0.0.0.0 12347 || true
udp_redirect_rules 12347 53

scrape() { timeout 60 ip netns exec "$NS_R" curl -sS --max-time 10 "$API/metrics" >"$1"; }

# metrics FILE: "found not_found timeout error count sum" of the conntrack
# families, after checking the histogram's shape; status 1 when malformed.
metrics() {
    /usr/bin/python3 - "$1" <<'PY'
import sys
from prometheus_client.parser import text_string_to_metric_families
fams = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}
lookups, hist = fams.get("switchyard_conntrack_lookups"), fams.get("switchyard_conntrack_lookup_seconds")
if not lookups or lookups.type != "counter" or not hist or hist.type != "histogram":
    print("# families missing or of the wrong type:", sorted(fams))
    sys.exit(1)
by = {s.labels["result"]: s.value for s in lookups.samples if s.name.endswith("_total")}
buckets = [(float(s.labels["le"]), s.value) for s in hist.samples if s.name.endswith("_bucket")]
count = [s.value for s in hist.samples if s.name.endswith("_count")][0]
total = [s.value for s in hist.samples if s.name.endswith("_sum")][0]
counts = [v for _, v in buckets]
if (counts != sorted(counts) or buckets[-1][0] != float("inf") or counts[-1] != count
        or count != sum(by.values()) or len(buckets) < 4):
    print("# histogram malformed:", buckets, count, by)
    sys.exit(1)
print("%d %d %d %d %d %.9f" % (by["found"], by["not_found"], by["timeout"], by["error"], count, total))
PY
}

scrape "$E2E_TMP/before.txt"
before=$(metrics "$E2E_TMP/before.txt")
check "/metrics parses, with the conntrack lookups by result and their latency histogram" test -n "$before"
check "... no lookup before any datagram" test "$before" = "0 0 0 0 0 0.000000000"

answered=0
for i in $(seq 1 $N); do
    a=$(ip netns exec "$NS_C" timeout 15 dig @198.51.100.53 "q$i.example" +short +tries=1 +time=3 2>/dev/null)
    [ "$a" = 203.0.113.99 ] && answered=$((answered + 1))
done
check "$N queries through udp-redirect were answered" test "$answered" = $N

scrape "$E2E_TMP/after.txt"
after=$(metrics "$E2E_TMP/after.txt")
diag "found not_found timeout error count sum: $after"
read -r found nf to err count sum <<<"${after:-x x x x x x}"
check "one lookup found per query (a new session each): $N" test "$found" = $N
check "... none failed" test "$nf $to $err" = "0 0 0"
check "... the histogram holds them all" test "$count" = $N
check "... their time is above zero and under the 100 ms timeout each" \
    /usr/bin/python3 -c "import sys; sys.exit(not 0 < $sum < $N * 0.1)"

# bytes FILE DIRECTION: switchyard_bytes_total of the direct outbound.
bytes() {
    /usr/bin/python3 - "$1" "$2" <<'PY'
import sys
from prometheus_client.parser import text_string_to_metric_families
for f in text_string_to_metric_families(open(sys.argv[1]).read()):
    for s in f.samples:
        if (s.name == "switchyard_bytes_total" and s.labels.get("outbound") == "direct"
                and s.labels.get("direction") == sys.argv[2]):
            print(int(s.value))
PY
}
up=$(bytes "$E2E_TMP/after.txt" up) down=$(bytes "$E2E_TMP/after.txt" down)
diag "direct bytes up $up down $down"
# A query for qN.example is at least 27 bytes (header, name, type, class); its
# answer holds the question and an address record besides.
check "switchyard_bytes_total counts the UDP sessions' payload: up at least $N queries" \
    test "${up:-0}" -ge $((N * 27))
check "... and down more than up (each answer repeats its question)" test "${down:-0}" -gt "${up:-0}"

stop_pid "$SWITCHYARD_PID"
e2e_finish
