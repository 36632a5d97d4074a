#!/usr/bin/env python3
"""UDP helpers for udp_quic_load.sh: an echo server and the clients.

  echo ADDR PORT...            echo every datagram back, on each port (IPv4 or IPv6 ADDR)
  send FILE ADDR PORT          send FILE as one datagram; print "reply" or "silence"
  load ADDR PORTS CLIENTS N    CLIENTS sockets each send N random datagrams, round-robin
                               over PORTS (comma-separated); checks every echo is byte-exact
                               and reaches the socket that sent it; prints a summary and
                               exits 1 on any loss or mismatch
  queries N ADDR               N DNS-like queries to ADDR port 53, a new socket each, 64 in
                               flight, one 32-byte datagram echoed each (50 s at the most);
                               prints "RATE LOST" (queries/s, those unanswered within 1 s)
"""
import os
import select
import socket
import sys
import time


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def echo(addr, ports):
    socks = []
    for p in ports:
        s = socket.socket(family(addr), socket.SOCK_DGRAM)
        s.bind((addr, int(p)))
        socks.append(s)
    while True:
        for s in select.select(socks, [], [])[0]:
            data, peer = s.recvfrom(65535)
            s.sendto(data, peer)


def send(path, addr, port):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.settimeout(2)
    with open(path, "rb") as f:
        s.sendto(f.read(), (addr, int(port)))
    try:
        s.recvfrom(65535)
        print("reply")
    except socket.timeout:
        print("silence")


def load(addr, ports, clients, count):
    ports = [int(p) for p in ports.split(",")]
    socks = [socket.socket(family(addr), socket.SOCK_DGRAM) for _ in range(clients)]
    expected = {}  # (socket index, payload) -> pending count
    sent = 0
    for round_ in range(count):
        for i, s in enumerate(socks):
            payload = os.urandom(1 + (i * 131 + round_ * 977) % 1400) + bytes([i % 256])
            s.sendto(payload, (addr, ports[(i + round_) % len(ports)]))
            expected[(i, payload)] = expected.get((i, payload), 0) + 1
            sent += 1
        time.sleep(0.002)  # a paced sender: the test measures correctness, not loss under overload
    got = wrong = 0
    deadline = time.time() + 10
    while expected and time.time() < deadline:
        ready = select.select(socks, [], [], 0.5)[0]
        for s in ready:
            data, _ = s.recvfrom(65535)
            key = (socks.index(s), data)
            if expected.get(key):
                expected[key] -= 1
                if not expected[key]:
                    del expected[key]
                got += 1
            else:
                wrong += 1
    print(f"sent {sent} received {got} wrong {wrong} missing {sum(expected.values())}")
    return 0 if not expected and not wrong else 1


def queries(n, addr):
    done = lost = i = 0
    t0 = time.time()
    live = {}
    while done + lost < n and time.time() - t0 < 50:
        while len(live) < 64 and i < n:
            s = socket.socket(family(addr), socket.SOCK_DGRAM)
            s.sendto(b"x" * 32, (addr, 53))
            live[s] = time.time()
            i += 1
        for s in select.select(list(live), [], [], 0.2)[0]:
            s.recv(64)
            s.close()
            del live[s]
            done += 1
        now = time.time()
        for s in [s for s, t in live.items() if now - t > 1]:
            s.close()
            del live[s]
            lost += 1
    print(round(done / (time.time() - t0)), lost)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "echo":
        echo(sys.argv[2], sys.argv[3:])
    elif cmd == "send":
        send(*sys.argv[2:5])
    elif cmd == "load":
        sys.exit(load(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])))
    elif cmd == "queries":
        queries(int(sys.argv[2]), sys.argv[3])
