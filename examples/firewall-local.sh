#!/bin/sh
# firewall-local.sh — steer this host's own TCP (and UDP) connections to
# switchyard's inbounds; switchyard's own sockets carry routing_mark and are
# not steered back:
#   examples/firewall-local.sh POLICY.yaml          apply
#   examples/firewall-local.sh POLICY.yaml --undo   remove
set -eu
policy=${1:?usage: $0 POLICY.yaml [--undo]}
shift
switchyard firewall -c "$policy" --mode local --backend nft "$@" | sh
