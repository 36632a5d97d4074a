#!/usr/bin/env python3
"""proxy_probe.py — a client that says to an explicit proxy what curl will not.

    proxy_probe.py socks5 PROXY PORT TYPE DST DPORT
        One SOCKS5 CONNECT (no authentication). TYPE: name (ATYP 3, DST sent
        byte for byte), ipv4 (ATYP 1) or ipv6 (ATYP 4). On success sends
        "GET / HTTP/1.0" and prints "rep=0" and the body; else "rep=N".
    proxy_probe.py connect PROXY PORT AUTHORITY [TIMES]
        HTTP CONNECT AUTHORITY, TIMES requests pipelined in one write
        (default 1). Prints the status line of the first answer and how many
        "200" lines came back within two seconds.
Every wait is bounded (5 s at most)."""
import socket
import sys
import time


def recv_some(s, want, limit=5.0):
    data = b""
    end = time.time() + limit
    while len(data) < want and time.time() < end:
        s.settimeout(max(0.05, end - time.time()))
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    return data


def socks5(proxy, port, kind, dst, dport):
    s = socket.create_connection((proxy, port), timeout=5)
    s.sendall(b"\x05\x01\x00")
    if recv_some(s, 2) != b"\x05\x00":
        print("no method")
        return
    if kind == "name":
        raw = dst.encode("utf-8", "surrogateescape")
        addr = b"\x03" + bytes([len(raw)]) + raw
    elif kind == "ipv4":
        addr = b"\x01" + socket.inet_pton(socket.AF_INET, dst)
    else:
        addr = b"\x04" + socket.inet_pton(socket.AF_INET6, dst)
    s.sendall(b"\x05\x01\x00" + addr + int(dport).to_bytes(2, "big"))
    reply = recv_some(s, 10)
    if len(reply) < 2:
        print("rep=none")
        return
    print("rep=%d" % reply[1])
    if reply[1] == 0:
        s.sendall(b"GET / HTTP/1.0\r\nHost: probe\r\n\r\n")
        print(recv_some(s, 1 << 20).decode("latin-1"))


def connect(proxy, port, authority, times):
    s = socket.create_connection((proxy, port), timeout=5)
    req = ("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (authority, authority)).encode()
    s.sendall(req * times)
    data = recv_some(s, 1 << 20, 2.0).decode("latin-1")
    first = data.split("\r\n", 1)[0] if data else "none"
    print("%s; 200 x %d" % (first, data.count("HTTP/1.1 200")))


if __name__ == "__main__":
    if sys.argv[1] == "socks5":
        socks5(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6])
    else:
        connect(sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]) if len(sys.argv) > 5 else 1)
