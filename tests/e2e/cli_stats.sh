#!/usr/bin/env bash
# cli_stats.sh — `switchyard flows` and `switchyard stats` against a running
# switchyard: a gateway (redirect inbound) with `control` on a wildcard
# address and a secret, a transfer held open through it (control_peer.py).
# `flows` run on the router with the same policy file lists the held flow
# (destination, inbound, rule, outbound, the bytes each way); `flows --watch`
# prints it once a second; `stats` prints the counters, by outbound and by
# rule. A policy with the wrong secret is refused; a second switchyard with
# its control listener on a unix socket is read through the socket.
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib.sh
control_gateway_up "0.0.0.0:9090"
bg "$NS_C" "$E2E_TMP/hold.out" python3 "$PEER" hold "$ORIGIN4" 80
HOLD=$REPLY
wait_file_grep "$E2E_TMP/hold.out" "^got" 10
check "the held transfer got its bytes through switchyard" grep -qx "got 1000000" "$E2E_TMP/hold.out"

in_router "$SWITCHYARD" flows -c "$POLICY" >"$E2E_TMP/flows.out" 2>&1
rc=$?
sed 's/^/# /' "$E2E_TMP/flows.out"
check "switchyard flows exits 0" test "$rc" = 0
check "... its header names the columns" \
    grep -qE '^ID +INBOUND +SRC +DST +HOST +RULE +OUTBOUND +UP +DOWN +AGE$' "$E2E_TMP/flows.out"
check "... it lists the held flow: gw, 192.0.2.2 to $ORIGIN4:80, default, DIRECT, 1.2 KiB up, 976.6 KiB down" \
    grep -qE "^ *[0-9]+ +gw +192\.0\.2\.2:[0-9]+ +$ORIGIN4:80 +- +default +DIRECT +1\.2 KiB +976\.6 KiB +[0-9]+s$" "$E2E_TMP/flows.out"
check "... and counts it" grep -q '^1 open flow; since start: up 1.2 KiB, down 976.6 KiB' "$E2E_TMP/flows.out"

timeout 3.5 ip netns exec "$NS_R" "$SWITCHYARD" flows -c "$POLICY" --watch >"$E2E_TMP/watch.out" 2>&1
check "switchyard flows --watch prints the list each second (3 or 4 times in 3.5 s)" \
    test "$(grep -c "$ORIGIN4:80" "$E2E_TMP/watch.out")" -ge 3

in_router "$SWITCHYARD" stats -c "$POLICY" >"$E2E_TMP/stats.out" 2>&1
rc=$?
sed 's/^/# /' "$E2E_TMP/stats.out"
check "switchyard stats exits 0" test "$rc" = 0
check "... flows: 1 open, 1 accepted" grep -qE '^flows +1 open, 1 accepted, 0 refused, 0 dropped' "$E2E_TMP/stats.out"
check "... bytes: up 1.2 KiB, down 976.6 KiB" grep -qE '^bytes +up 1\.2 KiB, down 976\.6 KiB$' "$E2E_TMP/stats.out"
check "... reloads and descriptors" \
    sh -c "grep -qE '^reloads +0 ok, 0 failed' '$E2E_TMP/stats.out' && grep -qE '^descriptors +[0-9]+ in use of [0-9]+' '$E2E_TMP/stats.out'"
check "... by outbound: direct, 1 flow, 1 open" grep -qE '^direct +1 +1 +0 +1\.2 KiB +976\.6 KiB$' "$E2E_TMP/stats.out"
check "... by rule: rule 1 to REJECT 0 hits, the default to DIRECT 1" \
    sh -c "grep -qE '^rule 1 \(line 7\) +REJECT +0$' '$E2E_TMP/stats.out' && grep -qE '^default +DIRECT +1$' '$E2E_TMP/stats.out'"

sed 's/secret: t0ken/secret: wrong/' "$POLICY" >"$E2E_TMP/wrong.yaml"
out=$(in_router "$SWITCHYARD" flows -c "$E2E_TMP/wrong.yaml" 2>&1)
check "a wrong secret: exit 1 and 'refused the secret (401)'" \
    test "$? $(grep -c 'refused the secret (401)' <<<"$out")" = "1 1"
printf 'inbounds: [{name: x, type: redirect, listen: "127.0.0.1:1"}]\n' >"$E2E_TMP/none.yaml"
out=$("$SWITCHYARD" stats -c "$E2E_TMP/none.yaml" 2>&1)
check "a policy without a control section: exit 1, said so" \
    test "$? $(grep -c 'has no control section' <<<"$out")" = "1 1"
stop_pid "$HOLD"

# A second switchyard whose control listener is a unix socket.
cat >"$E2E_TMP/unix.yaml" <<YAML
control: {listen: "unix:$E2E_TMP/control.sock", secret: s0cket}
inbounds:
  - {name: other, type: socks5, listen: "127.0.0.1:1080"}
default: direct
YAML
bg "$NS_R" "$E2E_TMP/unix.log" "$SWITCHYARD" run -c "$E2E_TMP/unix.yaml"
UNIX_PID=$REPLY
wait_file_grep "$E2E_TMP/unix.log" "running with|stopping|could not" 10
out=$("$SWITCHYARD" flows -c "$E2E_TMP/unix.yaml" 2>&1)
check "switchyard flows through the unix socket: no flows" grep -qx "0 open flows; since start: up 0 B, down 0 B" <<<"$out" || diag "$out"
out=$("$SWITCHYARD" stats -c "$E2E_TMP/unix.yaml" 2>&1)
check "switchyard stats through the unix socket" grep -qE '^flows +0 open, 0 accepted' <<<"$out" || diag "$out"
# Only the commands that read the API open libcurl; the daemon never maps it.
check "the daemon maps no libcurl" sh -c "grep -q libc /proc/$SWITCHYARD_PID/maps && ! grep -q libcurl /proc/$SWITCHYARD_PID/maps"
# Its control plane opened libmicrohttpd when it started (engine/control/control_mhd.c).
check "the daemon's control plane opened libmicrohttpd" grep -q libmicrohttpd /proc/$SWITCHYARD_PID/maps
stop_pid "$UNIX_PID"
stop_pid "$SWITCHYARD_PID"
e2e_finish
