# bench/lib.sh — what the relay benchmarks share (sourced, not run; bench/run
# skips lib*.sh). It sources tests/e2e/lib.sh, whose namespaces, processes
# and services the benchmarks use, and replaces its EXIT trap with the bare
# clean-up: a benchmark prints Markdown, no TAP, and keeps its exit status.
#
# PROXY_CPU, LOAD_CPU  taskset prefixes putting the proxy on core 1 and the
#                      load on core 0 (both empty on a one-core machine)
# bench_origin         the gateway topology (tests/e2e/lib.sh, the script
#                      ends when it cannot be made), O4, wide port ranges
#                      with TIME_WAIT reuse on the client and the router
#                      (one connection per request), then nginx and an
#                      iperf3 server (port 5201) on O4, on the load's core

. tests/e2e/lib.sh
trap e2e_cleanup EXIT
if [ "$(nproc)" -gt 1 ]; then PROXY_CPU=(taskset -c 1) LOAD_CPU=(taskset -c 0); else PROXY_CPU=() LOAD_CPU=(); fi

bench_origin() {
    local ns
    gateway_net || { echo "network set-up failed" >&2; exit 1; }
    O4=$ORIGIN4
    for ns in "$NS_C" "$NS_R"; do
        ip netns exec "$ns" sysctl -qw net.ipv4.ip_local_port_range="1024 65535" net.ipv4.tcp_tw_reuse=1
    done
    start_nginx "$NS_O" $O4 >/dev/null || { echo "nginx failed" >&2; exit 1; }
    [ "${#LOAD_CPU[@]}" -gt 0 ] && taskset -a -pc 0 "$REPLY" >/dev/null
    bg "$NS_O" "$E2E_TMP/iperf3.log" "${LOAD_CPU[@]}" iperf3 -s -B $O4 -p 5201
    wait_tcp "$NS_O" $O4 5201
}
