#!/usr/bin/env bash
# demo.sh — `make demo` (examples/demo.sh) tells its story: each request's
# decision is named (direct by SNI, by Host and for DNS, the socks5 tunnel by
# SNI and for DNS, drop for the ad name), the servers saw what the decisions
# say, and nothing of it is left afterwards: none of the namespaces or
# processes it printed, nothing running from its folder, neither after a
# whole run nor after one stopped half-way by SIGTERM. Without root it says so.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib.sh
e2e_need_switchyard

out=$E2E_TMP/demo.out
before=$(ip netns list | cut -d" " -f1)
timeout 120 examples/demo.sh >"$out" 2>&1
rc=$?
check "the demo ends with status 0" test "$rc" = 0
[ "$rc" = 0 ] || sed 's/^/# /' "$out"

# decided KIND NAME OUTBOUND: the demo showed KIND (tls, http, dns) NAME decided for OUTBOUND.
decided() { grep -A1 -E "$1 name $2\$" "$out" | grep -qE "=> $3"; }
check "DNS for www.baidu.com: direct" decided dns www.baidu.com "direct"
check "DNS for www.wikipedia.org: the socks5 tunnel" decided dns www.wikipedia.org "tunnel \(socks5"
check "HTTPS www.baidu.com by SNI: direct" decided tls www.baidu.com "direct"
check "HTTPS www.wikipedia.org by SNI: the socks5 tunnel" decided tls www.wikipedia.org "tunnel \(socks5"
check "HTTP www.qq.com by Host: direct" decided http www.qq.com "direct"
check "HTTPS ad.doubleclick.net by SNI: drop" decided tls ad.doubleclick.net "drop"

saw() { grep -qE "$1" "$out"; }
check "nginx saw www.baidu.com from the router" saw "nginx +www\.baidu\.com:443/ from 198\.51\.100\.1 "
check "nginx saw www.wikipedia.org from dante" saw "nginx +www\.wikipedia\.org:443/ from 203\.0\.113\.10 "
check "nginx saw www.qq.com over HTTP from the router" saw "nginx +www\.qq\.com:80/ from 198\.51\.100\.1 "
check "nginx never saw ad.doubleclick.net" bash -c "! grep -q 'nginx .*doubleclick' '$out'"
check "dnsmasq saw www.baidu.com from the router" saw "dnsmasq +A www\.baidu\.com from 198\.51\.100\.1 "
check "dnsmasq saw www.wikipedia.org from dante" saw "dnsmasq +A www\.wikipedia\.org from 203\.0\.113\.10 "
check "dante saw the tunnelled connection" saw "dante +SOCKS5 connect from 203\.0\.113\.1:[0-9]+ .* to 198\.51\.100\.10:443"
check "the demo says it cleaned up" saw "^cleaned up: "

# gone OUT: none of the namespaces, processes and files OUT printed is left,
# and `ip netns list` has no namespace named after the demo's pid that it did
# not have before.
gone() {
    local ns pids p dir n left=""
    ns=$(sed -n 's/^namespaces: //p' "$1")
    pids=$(sed -n 's/^processes: //p' "$1" | grep -oE '[0-9]+')
    dir=$(sed -n 's/^files: *//p' "$1")
    [ -n "$ns" ] && [ -n "$pids" ] && [ -n "$dir" ] || { diag "nothing printed to check"; return 1; }
    for n in $(ip netns list | cut -d' ' -f1); do
        grep -qxF "$n" <<<"$before" && continue
        [ "${n##*-}" = "${ns##*-}" ] && left="$left namespace $n"
    done
    for p in $pids; do
        [ -r "/proc/$p/cmdline" ] && tr '\0' ' ' <"/proc/$p/cmdline" |
            grep -qE "switchyard|nginx|dnsmasq|danted" && left="$left pid $p"
    done
    ps -eo pid=,args= | grep -F "$dir" | grep -v grep | grep -q . && left="$left processes using $dir"
    [ -e "$dir" ] && left="$left $dir"
    [ -z "$left" ] || diag "left behind:$left"
    [ -z "$left" ]
}
check "no namespace, process or file of the demo remains" gone "$out"
# Stopped half-way: the trap cleans up what was made so far.
# stop_demo OUT: starts the demo, sends it SIGTERM once it has printed its
# processes, and sets term_rc to its status.
stop_demo() {
    examples/demo.sh >"$1" 2>&1 &
    local pid=$!
    wait_file_grep "$1" "^processes: " 60 || diag "the demo did not print its processes within 60 s"
    kill -TERM "$pid"
    wait "$pid"
    term_rc=$?
}
# Now and then (about one run in ten on a loaded machine) the demo's bash does
# not act on a SIGTERM sent to its pid alone: no trap runs, the demo goes on to
# its end and exits 0 (where inside bash 5.2 it is lost was not found). Such a
# stop is tried again, at most three times in all, and said; any other status
# than 130 or that one fails at once.
out2=$E2E_TMP/demo-term.out
for attempt in 1 2 3; do
    stop_demo "$out2"
    [ "$term_rc" = 0 ] && grep -q "^cleaned up: " "$out2" || break
    diag "attempt $attempt: the SIGTERM was lost and the demo ran to its end; again"
done
check "a demo stopped by SIGTERM ends with status 130" test "$term_rc" = 130 ||
    { diag "it ended with status $term_rc; its last lines:"; tail -15 "$out2" | sed 's/^/#   /'; }
check "a demo stopped by SIGTERM leaves nothing behind" gone "$out2"

# Without root: a clear message, status 1, nothing made.
if command -v setpriv >/dev/null; then
    msg=$(setpriv --reuid=nobody --regid=nogroup --clear-groups examples/demo.sh 2>&1)
    check "without root the demo exits 1" test "$?" = 1
    check "without root the demo says it needs root" grep -q "needs root" <<<"$msg"
else
    skip "without root" "setpriv (util-linux) is not installed"
fi
e2e_finish
