# lib_reliability.sh — what the load and fault tests share (sourced, not run;
# tests/run skips lib*.sh). It sources lib.sh, whose TAP, process and
# clean-up helpers these scripts use, and adds:
#
# rel_gateway_up PORT... lib.sh's gateway_up, O4, and reliability.py's origin on PORT...
# rel_start_gateway [S]  switchyard and its gateway rules for $POLICY (pid = its pid)
# rel_py ARGS...        runs tests/e2e/reliability.py (origins and clients)
# rel_client ARGS...    reliability.py ARGS in the client namespace, bounded to 90 s
# rel_bg OUT SECS ARGS... the same in the background, bounded to SECS (REPLY = pid)
# rel_streams NAME PORT N SECS  N echo flows in the background (REPLY = pid), ended by
#                       rel_streams_end NAME PID (OUT = their summary)
# fd_count PID          descriptors the process holds; sock_count, pipe_count: of them
# rss_kib PID           resident memory in KiB
# rss_watch PID FILE    samples the resident memory every 0.2 s into FILE (REPLY = pid)
# wait_fds PID MAX SECS until the process holds at most MAX descriptors
# rel_memory_check WHAT CMD...  check WHAT CMD, a SKIP on a sanitizer build
# REL_SANITIZED         1 when $SWITCHYARD is an AddressSanitizer build (memory
#                       figures are then not the product's)

. tests/e2e/lib.sh

REL_PY=tests/e2e/reliability.py
rel_py() { python3 "$REL_PY" "$@"; }
rel_client() { timeout 90 ip netns exec "$NS_C" python3 "$REL_PY" "$@" 2>&1; }

rel_bg() {
    local out=$1 secs=$2
    shift 2
    ip netns exec "$NS_C" timeout "$secs" python3 "$REL_PY" "$@" >"$out" 2>&1 &
    REPLY=$!
    E2E_PIDS+=("$REPLY")
}

# rel_streams NAME PORT N SECONDS: N echo flows to O4:PORT in the background
# (client namespace) for SECONDS or until rel_streams_end NAME; their summary
# in $E2E_TMP/NAME.out.
rel_streams() {
    rm -f "$E2E_TMP/stop-$1"
    rel_bg "$E2E_TMP/$1.out" $(($4 + 30)) stream "$O4" "$2" "$3" "$4" "$E2E_TMP/stop-$1"
}

# rel_streams_end NAME PID: ends those flows, waits for them; OUT = their summary.
rel_streams_end() {
    touch "$E2E_TMP/stop-$1"
    wait "$2"
    OUT=$(cat "$E2E_TMP/$1.out")
}

# rel_gateway_up [PORT...]: the start of a load or fault script: lib.sh's
# gateway_up (a SKIP without `switchyard run`; the script ends without its
# namespaces), O4 = ORIGIN4, and with PORTs reliability.py's origin there,
# one TCP service a port (its sink log $E2E_TMP/sink.log), up to the last.
rel_gateway_up() {
    gateway_up
    O4=$ORIGIN4
    [ $# -gt 0 ] || return 0
    bg "$NS_O" "$E2E_TMP/origin.log" python3 "$REL_PY" origin "$O4" "$E2E_TMP/sink.log" "$@"
    wait_tcp "$NS_O" "$O4" "${!#}" || not_ok "origin listening"
}

# rel_start_gateway [SECONDS]: switchyard on the router with $POLICY and its
# gateway rules (lib.sh's start_gateway; the script ends when that fails);
# pid = its pid, left idle SECONDS (0.3) so that it is measured at rest.
rel_start_gateway() {
    start_gateway || exit 1
    pid=$SWITCHYARD_PID
    sleep "${1:-0.3}"
}

REL_SANITIZED=0
grep -qa __asan_init "$SWITCHYARD" 2>/dev/null && REL_SANITIZED=1

fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
sock_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 -lname 'socket:*' 2>/dev/null | wc -l; }
pipe_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 -lname 'pipe:*' 2>/dev/null | wc -l; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }

rss_watch() {
    local pid=$1 out=$2
    (
        for _ in $(seq 3000); do
            kill -0 "$pid" 2>/dev/null || break
            rss_kib "$pid" >>"$out"
            sleep 0.2
        done
    ) &
    REPLY=$!
    E2E_PIDS+=("$REPLY")
}

# max_of FILE: the largest number in FILE (one a line).
max_of() { sort -n "$1" | tail -1; }

wait_fds() {
    local i
    for i in $(seq $(($3 * 10))); do
        [ "$(fd_count "$1")" -le "$2" ] && return 0
        sleep 0.1
    done
    return 1
}

rel_memory_check() {
    if [ "$REL_SANITIZED" = 1 ]; then
        skip "$1" "AddressSanitizer build: memory is not the product's"
    else
        check "$@"
    fi
}

# rel_raise_nofile N: this shell's (and so its children's) descriptor limit, N
# or the hard limit when it cannot be raised (no CAP_SYS_RESOURCE); REPLY = the limit.
rel_raise_nofile() {
    ulimit -Hn "$1" 2>/dev/null
    local hard
    hard=$(ulimit -Hn)
    [ "$hard" = unlimited ] || [ "$hard" -ge "$1" ] || set -- "$hard"
    ulimit -n "$1"
    REPLY=$1
}
