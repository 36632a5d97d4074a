#!/bin/sh
# firewall-gateway.sh — steer the TCP (and UDP) traffic routed through this
# host to switchyard's inbounds, and take it out again:
#   examples/firewall-gateway.sh POLICY.yaml          apply
#   examples/firewall-gateway.sh POLICY.yaml --undo   remove
# The rules are what `switchyard firewall` prints; read them first with
#   switchyard firewall -c POLICY.yaml --mode gateway
set -eu
policy=${1:?usage: $0 POLICY.yaml [--undo]}
shift
sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
switchyard firewall -c "$policy" --mode gateway --backend nft "$@" | sh
