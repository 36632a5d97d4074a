#!/usr/bin/env bash
# systemd_unit.sh — examples/switchyard.service as `make install` puts it:
#   - `systemd-analyze verify` finds nothing to say (the man pages it names
#     resolve to man/);
#   - `systemd-analyze security --offline=yes` rates its exposure (printed;
#     at most 3.0, "OK");
#   - every system call switchyard makes (strace -f: start, each inbound type
#     opened, flows through the http inbound by name and by CONNECT, a
#     reload, a stop) is one SystemCallFilter= lets through.
# Needs no running systemd.
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib.sh
sy=$SWITCHYARD
unit=examples/switchyard.service

# The unit with the installed binary's path pointing at this build.
mkdir -p "$E2E_TMP/unit" "$E2E_TMP/man/man1" "$E2E_TMP/man/man5"
sed "s|/usr/local/bin/switchyard|$sy|g" "$unit" >"$E2E_TMP/unit/switchyard.service"
ln -s "$PWD/man/switchyard.1" "$E2E_TMP/man/man1/switchyard.1"
ln -s "$PWD/man/switchyard.yaml.5" "$E2E_TMP/man/man5/switchyard.yaml.5"

out=$(MANPATH=$E2E_TMP/man systemd-analyze verify "$E2E_TMP/unit/switchyard.service" 2>&1)
rc=$?
if [ $rc = 0 ] && [ -z "$out" ]; then ok "systemd-analyze verify: clean"; else not_ok "verify (rc $rc): $out"; fi

score=$(systemd-analyze security --offline=yes "$E2E_TMP/unit/switchyard.service" 2>&1 |
    sed -n 's/.*Overall exposure level for switchyard.service: \([0-9.]*\).*/\1/p')
diag "systemd-analyze security: exposure $score"
check "the exposure level is at most 3.0" python3 -c "import sys; sys.exit(not (0 < float('${score:-0}') <= 3.0))"

# The unit's filter, expanded: groups into their calls, the ~ lines taken out.
filter_calls() { # filter_calls @GROUP: every call the group holds, one a line
    local line
    systemd-analyze syscall-filter "$1" | sed -n '2,$p' | while read -r line; do
        case "$line" in
        '' | '#'*) ;;
        @*) filter_calls "$line" ;;
        *) echo "$line" ;;
        esac
    done
}
allowed=$E2E_TMP/allowed
: >"$allowed.in"
: >"$allowed.out"
while read -r value; do
    if [ "${value#\~}" != "$value" ]; then list=$allowed.out; value=${value#\~}; else list=$allowed.in; fi
    for word in $value; do
        case "$word" in @*) filter_calls "$word" >>"$list" ;; *) echo "$word" >>"$list" ;; esac
    done
done < <(sed -n 's/^SystemCallFilter=//p' "$unit")
sort -u "$allowed.in" >"$allowed.in.s"
sort -u "$allowed.out" >"$allowed.out.s"
comm -23 "$allowed.in.s" "$allowed.out.s" >"$allowed"
check "the filter allows splice and epoll" \
    sh -c "grep -qx splice $allowed && grep -qx epoll_wait $allowed"

# switchyard under strace in a namespace of its own, each inbound type open.
ns_new unit
NS=$REPLY
mkdir -p "$E2E_TMP/www"
echo "hello from origin" >"$E2E_TMP/www/index.html"
cat >"$E2E_TMP/policy.yaml" <<YAML
log: {level: info, flows: true}
routing_mark: 0xff
$(policy_inbounds 127.0.0.1 redirect tproxy udp-redirect http socks5)
rules:
  - {domain: drop.example, action: drop}
default: direct
YAML
bg "$NS" "$E2E_TMP/origin.log" python3 -m http.server --bind 127.0.0.1 -d "$E2E_TMP/www" 8000
# LeakSanitizer cannot run under ptrace: a sanitizer build is traced without it.
bg "$NS" "$E2E_TMP/switchyard.log" env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
    prlimit --nofile=4096:4096 strace -f -qq -o "$E2E_TMP/strace" "$sy" run -c "$E2E_TMP/policy.yaml"
SY_PID=$REPLY
wait_tcp "$NS" 127.0.0.1 8000 && wait_tcp "$NS" 127.0.0.1 8080 || e2e_abort "origin and switchyard listening"
px() { timeout 20 ip netns exec "$NS" curl -s --max-time 8 -x http://127.0.0.1:8080 "$@" 2>/dev/null; }
check "a request by name through the http inbound" test "$(px http://localhost:8000/)" = "hello from origin"
check "a CONNECT tunnel through the http inbound" test "$(px -p http://localhost:8000/)" = "hello from origin"
# ip netns exec and prlimit exec what they run: $SY_PID is strace, switchyard its child.
sy_pid=$(pgrep -P "$SY_PID" -x switchyard)
kill -HUP "$sy_pid" 2>/dev/null
check "reloaded" wait_file_grep "$E2E_TMP/switchyard.log" "reload: .* loaded" 5
check "a request after the reload" test "$(px -p http://localhost:8000/)" = "hello from origin"
kill -TERM "$sy_pid" 2>/dev/null
for _ in $(seq 50); do kill -0 "$SY_PID" 2>/dev/null || break; sleep 0.1; done
stop_pid "$SY_PID"

sed -n 's/^[0-9]\+ \+\([a-z0-9_]\+\)(.*/\1/p' "$E2E_TMP/strace" | sort -u >"$E2E_TMP/used"
diag "$(wc -l <"$E2E_TMP/used") distinct system calls made"
outside=$(comm -23 "$E2E_TMP/used" "$allowed" | tr '\n' ' ')
if [ -n "$(cat "$E2E_TMP/used")" ] && [ -z "$outside" ]; then
    ok "every system call switchyard made is in the unit's SystemCallFilter"
else
    not_ok "calls outside the filter: ${outside:-none traced}"
fi
e2e_finish
