#!/usr/bin/env bash
# fault_origin.sh — faults at the origin and at the client, each hurting only
# its own flow, through a redirect gateway (and the socks5 inbound for
# resets), while 20 echo flows run through the same daemon the whole time
# and must all end intact:
#   - an origin that refuses (a reset to the SYN): the client gets a reset at once;
#   - an origin that black-holes the SYN: the client gets a reset after
#     timeouts.connect_ms (1.5 s), not before and not much later;
#   - a client reset mid-transfer reaches the origin as a reset, and an
#     origin reset reaches the client as a reset (never a clean FIN): the
#     clients tell ECONNRESET from EOF;
#   - a slow reader on either side while the other pushes 300 MB: the
#     daemon's resident memory stays within 16 MiB of idle, and every byte
#     arrives intact once the reader reads.
#
#   tests/run --e2e fault_origin
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib_reliability.sh
BIG=300000000
rel_gateway_up 9000 9009 9100 9101 9102 9103
# Port 9009 black-holes: its SYNs are dropped. Port 9008 has no listener: the origin resets.
ip netns exec "$NS_O" nft -f - <<'NFT'
table inet blackhole {
    chain in { type filter hook input priority 0; policy accept; tcp dport 9009 drop; }
}
NFT

write_gateway_policy <<YAML
timeouts: {connect_ms: 1500}
$(policy_inbounds gateway redirect socks5)
default: direct
YAML
rel_start_gateway
idle_fd=$(fd_count $pid) idle_rss=$(rss_kib $pid)

# The bystanders: 20 echo flows for the whole test.
rel_streams bystanders 9000 20 170
bystanders=$REPLY

# --- refusing and black-holing origins -----------------------------------------------
out=$(rel_client get $O4 9008 1000)
diag "refusing origin: $out"
check "refusing origin: the client gets a reset" grep -q "end=reset bytes=0" <<<"$out"
check "refusing origin: at once (under 1 s)" grep -qE " in 0\.[0-9]s" <<<"$out"
check "... logged as refused" grep -q "closed: upstream Connection refused" "$E2E_TMP/switchyard.log"
out=$(rel_client get $O4 9009 1000)
diag "black-holing origin: $out"
secs=$(sed 's/.* in \([0-9.]*\)s/\1/' <<<"$out")
check "black-holing origin: the client gets a reset" grep -q "end=reset bytes=0" <<<"$out"
check "black-holing origin: after timeouts.connect_ms (1.5 s), within 1 s of it (${secs}s)" \
    awk -v s="$secs" 'BEGIN { exit !(s >= 1.4 && s <= 2.5) }'
check "... logged as a connect timeout" grep -q "closed: connect timeout" "$E2E_TMP/switchyard.log"

# --- resets mid-transfer ---------------------------------------------------------------
: >"$E2E_TMP/sink.log"
out=$(rel_client put $O4 9102 2000000 rst)
wait_file_grep "$E2E_TMP/sink.log" "sink" 5
diag "client reset mid-transfer: client: $out; origin: $(cat "$E2E_TMP/sink.log")"
check "client reset mid-transfer: the origin sees a reset, not a clean end" \
    grep -q "end=reset" "$E2E_TMP/sink.log"
out=$(rel_client get $O4 9101 5000000)
diag "origin reset mid-transfer (redirect): $out"
check "origin reset mid-transfer (redirect): the client sees a reset, not a clean end" \
    grep -q "end=reset" <<<"$out"
out=$(rel_client get socks5:192.0.2.1:1080:$O4 9101 5000000)
diag "origin reset mid-transfer (socks5 inbound): $out"
check "origin reset mid-transfer (socks5 inbound): the client sees a reset" \
    grep -q "end=reset" <<<"$out"
: >"$E2E_TMP/sink.log"
out=$(rel_client put socks5:192.0.2.1:1080:$O4 9102 2000000 rst)
wait_file_grep "$E2E_TMP/sink.log" "sink" 5
diag "client reset mid-transfer (socks5 inbound): origin: $(cat "$E2E_TMP/sink.log")"
check "client reset mid-transfer (socks5 inbound): the origin sees a reset" \
    grep -q "end=reset" "$E2E_TMP/sink.log"
out=$(rel_client get $O4 9100 5000000)
check "a clean end stays a clean end: 5 MB, FIN, intact ($out)" grep -q "end=eof bytes=5000000 intact" <<<"$out"

# --- slow readers -------------------------------------------------------------------------
: >"$E2E_TMP/rss"
rss_watch $pid "$E2E_TMP/rss"
watcher=$REPLY
out=$(rel_client get $O4 9100 $BIG 8)
stop_pid $watcher
peak=$(max_of "$E2E_TMP/rss")
diag "slow client reader (8 s without reading, then $BIG bytes): $out; resident peak $peak KiB, idle $idle_rss KiB"
check "slow client reader: every byte arrives intact, then a clean end" grep -q "end=eof bytes=$BIG intact" <<<"$out"
rel_memory_check "slow client reader: the daemon's memory stays within 16 MiB of idle ($peak KiB)" \
    test $((peak - idle_rss)) -lt 16384

: >"$E2E_TMP/rss" ; : >"$E2E_TMP/sink.log"
rss_watch $pid "$E2E_TMP/rss"
watcher=$REPLY
out=$(rel_client put $O4 9103 $BIG)
wait_file_grep "$E2E_TMP/sink.log" "sink" 10
stop_pid $watcher
peak=$(max_of "$E2E_TMP/rss")
sink=$(cat "$E2E_TMP/sink.log")
diag "slow origin reader (8 s without reading): client $out; origin $sink; resident peak $peak KiB"
check "slow origin reader: every byte arrives intact, then a clean end" \
    grep -q "sink bytes=$BIG end=eof sha=${out##*sha=}" <<<"$sink"
rel_memory_check "slow origin reader: the daemon's memory stays within 16 MiB of idle ($peak KiB)" \
    test $((peak - idle_rss)) -lt 16384

# --- the bystanders and the daemon ------------------------------------------------------------
rel_streams_end bystanders $bystanders
check "20 echo flows through the same daemon all along: all intact ($OUT)" grep -q "ok=20 " <<<"$OUT"
check "switchyard is still running" kill -0 $pid
check "descriptors back to idle (sockets; pooled pipes aside)" wait_fds $pid $((idle_fd + 8)) 10
stop_pid $pid
e2e_finish
