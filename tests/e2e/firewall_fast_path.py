#!/usr/bin/env python3
"""firewall_fast_path.py — the kernel against `switchyard match`, flow by flow.

  firewall_fast_path.py flows N SEED FILE     writes N random flows to FILE, one a line:
                                              "tcp|udp SRC SPORT DST DPORT"
  firewall_fast_path.py send FILE             (in the client namespace) sends each flow's
                                              first packet: a TCP SYN or a UDP datagram
  firewall_fast_path.py check FILE POLICY SWITCHYARD FWD.json IN.json
                                              compares what the router's kernel did with
                                              each flow (forwarded, delivered to an inbound,
                                              or neither) with the decision `switchyard
                                              match` prints; TAP lines out, status 1 on any
                                              disagreement

Addresses come from the documentation ranges the test's sets and countries
are carved from (never the router's own); every (protocol, source, port) is
used once, so the router's record of a packet names its flow.
"""
import ipaddress
import json
import random
import socket
import subprocess
import sys

IPV6_TRANSPARENT = 75

DST4 = [ipaddress.ip_network(n) for n in ("203.0.113.0/24", "198.51.100.0/24")]
DST6 = [ipaddress.ip_network(n) for n in ("2001:db8:f::/120", "2001:db8:b::/120", "2001:db8:c::/120",
                                          "2001:db8:d::/120", "2001:db8:e::/120")]
SRC4 = ipaddress.ip_network("192.0.2.0/24")
SRC6 = ipaddress.ip_network("2001:db8:1::/120")
# The router's and client's own addresses, and the broadcast ones of the links (martians).
ROUTER = {"198.51.100.0", "198.51.100.1", "198.51.100.10", "198.51.100.255", "192.0.2.0", "192.0.2.1",
          "192.0.2.2", "192.0.2.255", "2001:db8:1::1", "2001:db8:1::2"}
DPORTS = [22, 53, 80, 443, 5353, 5500, 8080, 8443]
SPORTS = [1500, 5353]


def pick(rng, nets):
    net = rng.choice(nets)
    while True:
        a = str(net[rng.randrange(net.num_addresses)])
        if a not in ROUTER:
            return a


def flows(n, seed, path):
    rng = random.Random(seed)
    seen, out = set(), []
    while len(out) < n:
        v6 = rng.random() < 0.35
        proto = rng.choice(["tcp", "udp"])
        src = pick(rng, [SRC6] if v6 else [SRC4])
        sport = rng.choice(SPORTS) if rng.random() < 0.25 else rng.randrange(1024, 65536)
        dst = pick(rng, DST6 if v6 else DST4)
        dport = rng.choice(DPORTS) if rng.random() < 0.7 else rng.randrange(1, 65536)
        if (proto, src, sport) in seen:
            continue
        seen.add((proto, src, sport))
        out.append("%s %s %d %s %d" % (proto, src, sport, dst, dport))
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def send(path):
    for line in open(path):
        proto, src, sport, dst, dport = line.split()
        fam = socket.AF_INET6 if ":" in src else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, IPV6_TRANSPARENT, 1)
        else:
            s.setsockopt(socket.SOL_IP, socket.IP_TRANSPARENT, 1)
        s.bind((src, int(sport)))
        if proto == "tcp":
            s.setblocking(False)
            try:
                s.connect((dst, int(dport)))  # the SYN leaves now
            except BlockingIOError:
                pass
        else:
            s.sendto(b"fast path", (dst, int(dport)))
        s.close()


def elements(path):
    """(proto, src, sport) of each element of an `nft -j list set` output."""
    found = set()
    for item in json.load(open(path))["nftables"]:
        for e in item.get("set", {}).get("elem", []):
            key = e["elem"]["val"] if isinstance(e, dict) and "elem" in e else e
            proto, src, sport = key["concat"]
            proto = {6: "tcp", 17: "udp"}.get(proto, proto)
            found.add((proto, str(ipaddress.ip_address(src)), int(sport)))
    return found


def match(switchyard, policy, proto, src, sport, dst, dport, inbound, named):
    fmt = "[%s]:%s" if ":" in src else "%s:%s"
    cmd = [switchyard, "match", "-c", policy, "--network", proto, "--inbound", inbound,
           "--src", fmt % (src, sport), "--dst", fmt % (dst, dport)]
    if named:
        cmd += ["--host", "www.example.com", "--protocol", "tls"]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split("(")[0].strip()


def check(path, policy, switchyard, fwd_json, in_json):
    fwd, inb = set(), set()
    for p in fwd_json.split(","):
        fwd |= elements(p)
    for p in in_json.split(","):
        inb |= elements(p)
    wrong, seen = [], {"forwarded": 0, "dropped": 0, "steered": 0}
    for line in open(path):
        proto, src, sport, dst, dport = line.split()
        inbound = "nat" if proto == "tcp" else "unat"
        plain = match(switchyard, policy, proto, src, sport, dst, dport, inbound, False)
        named = match(switchyard, policy, proto, src, sport, dst, dport, inbound, True)
        # A name that changes the decision means switchyard must see the flow.
        if plain != named or plain.split()[0] not in ("direct", "drop"):
            want = "steered"
        else:
            want = "forwarded" if plain.startswith("direct") else "dropped"
        key = (proto, str(ipaddress.ip_address(src)), int(sport))
        got = ("forwarded" if key in fwd else "") + ("steered" if key in inb else "") or "dropped"
        seen[got] = seen.get(got, 0) + 1
        if got != want:
            wrong.append("%s: kernel %s, match says %s / with a name %s" % (line.strip(), got, plain, named))
    total = sum(1 for _ in open(path))
    print("# %d flows: %s" % (total, ", ".join("%s %d" % kv for kv in sorted(seen.items()))))
    for w in wrong[:10]:
        print("# " + w)
    print(("ok" if not wrong else "not ok") +
          " - the kernel's verdict agrees with switchyard match for all %d flows (%d disagree)" % (total, len(wrong)))
    print(("ok" if min(seen["forwarded"], seen["dropped"], seen["steered"]) >= total // 20 else "not ok") +
          " - the flows cover each verdict (forwarded, dropped, steered)")
    return 0 if not wrong else 1


if __name__ == "__main__":
    if sys.argv[1] == "flows":
        flows(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    elif sys.argv[1] == "send":
        send(sys.argv[2])
    else:
        sys.exit(check(*sys.argv[2:7]))
