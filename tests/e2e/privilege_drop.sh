#!/usr/bin/env bash
# privilege_drop.sh — `user: nobody` / `group: nogroup`: switchyard opens its
# listeners as root, then runs as nobody with CAP_NET_ADMIN and
# CAP_NET_BIND_SERVICE only (/proc/PID/status: Uid, Gid, CapPrm, CapEff,
# CapBnd, CapAmb, NoNewPrivs). After the switch one request goes through each
# inbound type (redirect, tproxy TCP and UDP, udp-redirect, http, socks5); a
# SIGHUP reload then opens an http inbound on port 80 and a new tproxy
# listener, both working; a policy file nobody cannot read keeps the old
# policy with a message; a changed user/group waits for the next start.
# Started as nobody instead of root, user: nobody warns and user: daemon stops.
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib_udp.sh
e2e_need_switchyard

KEPT=$(((1 << 10) | (1 << 12))) # CAP_NET_BIND_SERVICE, CAP_NET_ADMIN
LOG=$E2E_TMP/switchyard.log
ACCESS=$E2E_TMP/nginx-access.log

# The daemon reads the policy as nobody on reload.
chmod 755 "$E2E_TMP"
# A sanitizer build writes its reports as nobody: into a folder nobody may write to.
if [[ "${ASAN_OPTIONS:-}" == *log_path=* ]]; then
    san=${ASAN_OPTIONS#*log_path=}
    chmod 1733 "$(dirname "${san%%:*}")"
fi

udp_net || e2e_abort "network set-up"
start_nginx "$NS_O" "$ORIGIN4" || not_ok "nginx starts"
udp_start_dnsmasq || not_ok "dnsmasq listening"

# tcp_rules TPROXY_PORT: client TCP to port 80 REDIRECTed to 12345, to 443 TPROXYed to TPROXY_PORT.
tcp_rules() {
    nft_table "$NS_R" sy_tcp <<NFT
    chain nat {
        type nat hook prerouting priority dstnat; policy accept;
        iifname "r0" tcp dport 80 ip daddr != 192.0.2.1 redirect to :12345
    }
    chain pre {
        type filter hook prerouting priority mangle; policy accept;
        iifname "r0" tcp dport 443 ip daddr != 192.0.2.1 meta mark set 0x1 tproxy ip to :$1 accept
    }
NFT
}

write_policy() { # write_policy [EXTRA_INBOUND_LINES]
    cat >"$POLICY" <<YAML
log: {level: info, flows: true}
routing_mark: 0xff
user: nobody
group: nogroup
$(policy_inbounds gateway redirect tproxy udp-redirect http socks5)
${1:-}
default: direct
YAML
    chmod 644 "$POLICY"
}

write_policy
start_switchyard "$NS_R" "$POLICY" || { sed 's/^/# /' "$LOG"; e2e_abort "switchyard starts"; }
PID=$SWITCHYARD_PID
check "the log says whom it runs as and what it keeps" \
    grep -q "running as nobody (uid 65534, gid 65534), keeping cap_net_bind_service,cap_net_admin=ep" "$LOG"

# status FIELD: the first value of FIELD in the daemon's /proc/PID/status.
status() { awk -v f="$1:" '$1 == f { print $2; exit }' "/proc/$PID/status"; }
# caps FIELD: whether that capability mask is exactly the kept set.
caps() { test "$((16#$(status "$1")))" -eq "$KEPT"; }
check "Uid is nobody's (real, effective, saved, fs)" \
    grep -qE "^Uid:\s+65534\s+65534\s+65534\s+65534$" "/proc/$PID/status"
check "Gid is nogroup's (real, effective, saved, fs)" \
    grep -qE "^Gid:\s+65534\s+65534\s+65534\s+65534$" "/proc/$PID/status"
check "supplementary groups: nogroup alone" grep -qE "^Groups:\s+65534\s*$" "/proc/$PID/status"
for f in CapPrm CapEff CapBnd; do
    check "$f is CAP_NET_ADMIN + CAP_NET_BIND_SERVICE exactly ($(status $f))" caps $f
done
check "CapInh is empty" test "$((16#$(status CapInh)))" -eq 0
check "CapAmb is empty" test "$((16#$(status CapAmb)))" -eq 0
check "NoNewPrivs is set" test "$(status NoNewPrivs)" = 1

# One request through each inbound type, made after the switch.
fetch() { curl_host "$NS_C" "$@"; }
proxied() { in_client curl -sS --max-time 10 "$@" 2>&1; }
ask() {
    ip netns exec "$NS_C" timeout 15 dig @198.51.100.53 "$1" +short +tries=2 +time=3 2>/dev/null |
        grep -E '^[0-9a-f.:]+$'
}
tcp_rules 12346
udp_tproxy_rules 12346
check "redirect: HTTP reaches the origin" grep -q "hello from origin" <<<"$(fetch a.example $ORIGIN4 http)"
check "tproxy TCP: HTTPS reaches the origin" grep -q "hello from origin" <<<"$(fetch b.example $ORIGIN4 https)"
check "tproxy UDP: DNS is answered" test "$(ask tp.example)" = 203.0.113.99
udp_redirect_rules 12347 53
check "udp-redirect: DNS is answered (conntrack asked as nobody)" test "$(ask nat.example)" = 203.0.113.99
check "http inbound: a request through it reaches the origin" \
    grep -q "hello from origin" <<<"$(proxied -x http://192.0.2.1:8080 http://$ORIGIN4/)"
check "socks5 inbound: a request through it reaches the origin" \
    grep -q "hello from origin" <<<"$(proxied --socks5 192.0.2.1:1080 http://$ORIGIN4/)"
check "every flow went out from the router" \
    test "$(grep -c '^198\.51\.100\.1 ' "$ACCESS")" -eq 4

# A reload adds an http inbound on port 80 and a second tproxy listener.
write_policy '  - {name: http80, type: http, listen: "192.0.2.1:80"}
  - {name: tp2, type: tproxy, listen: "0.0.0.0:12348"}'
kill -HUP "$PID"
check "reload: loaded as nobody" wait_file_grep "$LOG" "reload: .* loaded \(7 inbounds\)" 10
check "reload: the http inbound on port 80 works" \
    grep -q "hello from origin" <<<"$(proxied -x http://192.0.2.1:80 http://$ORIGIN4/)"
tcp_rules 12348
check "reload: the new tproxy listener works" \
    grep -q "hello from origin" <<<"$(fetch c.example $ORIGIN4 https)"
check "reload: the new flows came in on the new inbounds" \
    bash -c "grep -q 'decided inbound=http80 ' '$LOG' && grep -q 'decided inbound=tp2 ' '$LOG'"

# A file nobody cannot read: the old policy stays.
write_policy
chmod 600 "$POLICY"
kill -HUP "$PID"
check "reload: an unreadable file is named with the reason" \
    wait_file_grep "$LOG" "reload: $POLICY: cannot read: Permission denied; keeping the current policy" 10
check "reload: the old policy still serves port 80" \
    grep -q "hello from origin" <<<"$(proxied -x http://192.0.2.1:80 http://$ORIGIN4/)"
check "the daemon still runs as nobody" grep -qE "^Uid:\s+65534\s" "/proc/$PID/status"

# The switch happens once, at start: a reload that changes it says so.
sed -i '/^group:/d' "$POLICY"
chmod 644 "$POLICY"
kill -HUP "$PID"
check "reload: a changed user/group is said to wait for the next start" \
    wait_file_grep "$LOG" "reload: user/group changed in the file; that takes effect at the next start" 10

stop_pid "$PID"
check "SIGTERM stops it cleanly" grep -q "stopped:" "$LOG"
# Started as nobody, not root: user: nobody is a warning, any other user an error.
as_nobody() { # as_nobody USER: runs switchyard as nobody for 2 s with user: USER; prints its log
    printf 'user: %s\ninbounds:\n  - {name: r, type: redirect, listen: "127.0.0.1:12999"}\n' "$1" \
        >"$E2E_TMP/nobody.yaml"
    chmod 644 "$E2E_TMP/nobody.yaml"
    in_router timeout 2 setpriv --reuid=nobody --regid=nogroup --clear-groups \
        "$SWITCHYARD" run -c "$E2E_TMP/nobody.yaml" 2>&1
    echo "status $?"
}
out=$(as_nobody daemon)
check "started as nobody, user: daemon stops at start with a reason (status 1)" \
    bash -c "grep -q 'error user: daemon needs switchyard started as root (it runs as uid 65534)' <<<'$out' &&
        grep -q '^status 1$' <<<'$out'" || diag "$out"
out=$(as_nobody nobody)
check "started as nobody, user: nobody is a warning and it runs" \
    bash -c "grep -q 'warn  already running as nobody (not root)' <<<'$out' &&
        grep -q 'running with' <<<'$out'" || diag "$out"

if [ -n "${VERBOSE:-}" ]; then cat "$LOG"; fi
e2e_finish
