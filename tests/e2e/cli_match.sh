#!/usr/bin/env bash
# cli_match.sh — 'switchyard check' accepts every example policy and
# 'switchyard match' gives the decisions their comments document; a broken
# policy exits 2 with FILE:LINE:COL. Needs no network.
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib.sh
sy=$SWITCHYARD

expect() { # expect "ARGS" "OUTPUT"
    local got
    got=$($sy match $1 2>&1)
    if [ "$got" = "$2" ]; then ok "match $1"; else not_ok "match $1: got '$got', want '$2'"; fi
}

for f in examples/*.yaml; do
    if out=$($sy check -c "$f" 2>&1); then ok "check $f"; else not_ok "check $f: $out"; fi
done

m=examples/minimal.yaml s=examples/split-tunnel.yaml i=examples/iptv.yaml d=examples/demo.yaml
expect "-c $m --dst 192.0.2.1:25" "drop rule 2 ($m:15)"
expect "-c $m --dst 192.0.2.1:6881" "drop rule 2 ($m:15)"
expect "-c $m --dst 127.0.0.1:8080" "direct rule 1 ($m:14)"
expect "-c $m --dst [2001:db8::1]:443" "direct default"
expect "-c $s --dst 203.0.113.9:443 --host www.baidu.com" "direct rule 2 ($s:30)"
expect "-c $s --dst 203.0.113.9:443 --host www.wikipedia.org" "tunnel rule 6 ($s:34)"
expect "-c $s --dst 203.0.113.9:443 --host doubleclick.net" "drop rule 4 ($s:32)"
expect "-c $s --dst 192.168.1.1:80" "direct rule 1 ($s:29)"
expect "-c $s --dst 1.0.1.7:22" "direct rule 5 ($s:33)"
expect "-c $s --dst 203.0.113.9:53 --network udp" "tunnel rule 7 ($s:35)"
expect "-c $s --dst 203.0.113.9:22" "tunnel default"
expect "-c $d --dst 198.51.100.10:443 --host www.baidu.com" "direct rule 2 ($d:32)"
expect "-c $d --dst 198.51.100.10:443 --host www.wikipedia.org" "tunnel rule 6 ($d:36)"
expect "-c $d --dst 198.51.100.10:443 --host ad.doubleclick.net" "drop rule 4 ($d:34)"
expect "-c $i --src 198.51.100.20:40000 --dst 203.0.113.5:443 --host edge3.cdn.operator.example" "direct rule 3 ($i:30)"
expect "-c $i --src 198.51.100.20:40000 --dst 203.0.113.80:443 --network udp" "drop rule 2 ($i:29)"
expect "-c $i --src 198.51.100.20:40000 --dst 203.0.113.80:443 --host www.ott-one.example --protocol tls" "transit rule 6 ($i:33)"
expect "-c $i --src 198.51.100.20:40000 --dst 203.0.113.80:443 --host www.ott-one.example" "drop default"
expect "-c $i --src 198.51.100.20:40000 --dst 203.0.113.80:443 --host video.other.example --protocol tls" "drop default"
expect "-c $i --src 192.0.2.50:40000 --dst 203.0.113.80:443" "direct rule 1 ($i:28)"

# A broken policy: FILE:LINE:COL and exit status 2.
bad=$E2E_TMP/bad.yaml
printf 'rules:\n  - {dst_prot: 443, action: drop}\n' >"$bad"
out=$($sy check -c "$bad" 2>&1); rc=$?
if [ $rc = 2 ] && [ "$out" = "$bad:2:6: unknown condition 'dst_prot' (did you mean 'dst_port'?)" ]; then
    ok "a bad policy exits 2 with FILE:LINE:COL"
else
    not_ok "bad policy: rc=$rc out='$out'"
fi
out=$($sy match -c $m --dst nonsense 2>&1); rc=$?
if [ $rc = 2 ]; then ok "bad usage exits 2"; else not_ok "bad usage: rc=$rc $out"; fi
# firewall marks that would collide with the routing mark or the fast path's.
# refused MARK TEXT: `firewall --tproxy-mark MARK` exits 2 and says TEXT.
refused() {
    local out rc
    out=$($sy firewall -c $m --tproxy-mark "$1" 2>&1); rc=$?
    [ $rc = 2 ] && grep -qF -- "$2" <<<"$out"
}
check "firewall: --tproxy-mark equal to routing_mark exits 2, saying why" \
    refused 0xff "--tproxy-mark 0xff and routing_mark 0xff cannot be told apart"
check "firewall: a masked --tproxy-mark that routing_mark's packets would match exits 2" \
    refused 0x1/0x1 "--tproxy-mark 0x1/0x1 and routing_mark 0xff cannot be told apart"
check "firewall: a --tproxy-mark value outside its mask exits 2" refused 0x3/0x1 "--tproxy-mark"
check "firewall: --tproxy-mark with bits of the fast path's marks exits 2, saying why" \
    refused 0x04000001 "takes bits of the fast path's marks (fast_path_mask 0xe000000)"
e2e_finish
