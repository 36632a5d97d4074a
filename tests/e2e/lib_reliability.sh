# lib_reliability.sh — what the load and fault tests share (sourced after lib.sh,
# not run; tests/run skips lib*.sh).
#
# rel_py ARGS...        runs tests/e2e/reliability.py (origins and clients)
# fd_count PID          descriptors the process holds; sock_count, pipe_count: of them
# rss_kib PID           resident memory in KiB
# rss_watch PID FILE    samples the resident memory every 0.2 s into FILE (REPLY = pid)
# wait_fds PID MAX SECS until the process holds at most MAX descriptors
# hole WHAT WHY CMD...  a check for a hole a fix is pending for: a SKIP line naming it,
#                       unless HOLES=1, when it runs as a real check
# REL_SANITIZED         1 when $SWITCHYARD is an AddressSanitizer build (memory
#                       figures are then not the product's)

REL_PY=tests/e2e/reliability.py
rel_py() { python3 "$REL_PY" "$@"; }

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

hole() {
    local what=$1 why=$2
    shift 2
    if [ "${HOLES:-0}" = 1 ]; then check "$what" "$@"; else skip "$what" "$why"; fi
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
