#!/usr/bin/env python3
"""control_peer.py — the two ends of the transfers control_api.sh, cli_stats.sh
and control_ui.sh watch.

  origin PORT_HOLD PORT_PACED [PORT_HTTP]   serves the ports (bounded: 90 s in all):
      PORT_HOLD:  reads UP bytes, sends DOWN bytes, then holds the connection
                  until the client closes it or it is reset;
      PORT_PACED: reads "SS\n", the seconds to pace (at most 30), then
                  sends 64 KiB every 50 ms for that long and closes;
      PORT_HTTP:  (IPv4 and IPv6) answers a request with a 200 that announces
                  1,000,000 bytes, sends HTTP_BODY of them, then holds.
  hold ADDR PORT                sends UP bytes, reads DOWN, prints "got N",
                                then reads until the end: prints "reset", "eof"
                                or "timeout" (20 s without a byte).
  http-hold ADDR HOST           asks ADDR:80 for / of HOST, reads HTTP_BODY
                                bytes, prints "got N", then as hold does (60 s).
  paced ADDR PORT [SECONDS]     asks for SECONDS (4 unless given) of paced
                                bytes, reads until the end, prints the count.
"""
import socket
import sys
import threading
import time

UP, DOWN = 1234, 1_000_000
HTTP_BODY = 50_000


def drain(conn):
    """Reads until the peer closes or resets the connection."""
    try:
        while conn.recv(4096):
            pass
    except OSError:
        pass


def serve_hold(conn):
    with conn:
        conn.settimeout(20)
        got = 0
        while got < UP:
            b = conn.recv(UP - got)
            if not b:
                return
            got += len(b)
        conn.sendall(b"d" * DOWN)
        drain(conn)


def serve_paced(conn):
    with conn:
        conn.settimeout(10)
        try:
            end = time.monotonic() + min(int(conn.recv(3)), 30)
            while time.monotonic() < end:
                conn.sendall(b"p" * 65536)
                time.sleep(0.05)
        except (OSError, ValueError):  # ValueError: closed before asking
            pass


def serve_http(conn):
    with conn:
        conn.settimeout(90)
        try:
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"x" * HTTP_BODY)
        except OSError:
            return
        drain(conn)


def listen(port, handler, family=socket.AF_INET):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", port))
    s.listen(16)
    while True:
        c, _ = s.accept()
        threading.Thread(target=handler, args=(c,), daemon=True).start()


def read_up_to(s, want):
    """Reads until `want` bytes have come (None: until the end); returns how many came."""
    got = 0
    while want is None or got < want:
        b = s.recv(65536)
        if not b:
            break
        got += len(b)
    return got


def hold(s, want):
    """Reads `want` bytes, prints "got N", then reads on and prints how the connection ends."""
    print("got", read_up_to(s, want), flush=True)
    try:
        read_up_to(s, None)
        print("eof", flush=True)
    except ConnectionResetError:
        print("reset", flush=True)
    except socket.timeout:
        print("timeout", flush=True)


def main():
    mode = sys.argv[1]
    if mode == "origin":
        ports = [(int(sys.argv[2]), serve_hold), (int(sys.argv[3]), serve_paced)]
        threads = [threading.Thread(target=listen, args=p, daemon=True) for p in ports]
        if len(sys.argv) > 4:
            args = (int(sys.argv[4]), serve_http, socket.AF_INET6)
            threads.append(threading.Thread(target=listen, args=args, daemon=True))
        for t in threads:
            t.start()
        time.sleep(90)
        return
    if mode == "http-hold":
        s = socket.create_connection((sys.argv[2], 80), timeout=60)
        s.sendall(b"GET / HTTP/1.1\r\nHost: %s\r\n\r\n" % sys.argv[3].encode())
        hold(s, HTTP_BODY)
        return
    s = socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=20)
    if mode == "hold":
        s.sendall(b"u" * UP)
        hold(s, DOWN)
    else:
        s.sendall(b"%02d\n" % (int(sys.argv[4]) if len(sys.argv) > 4 else 4))
        print(read_up_to(s, None), flush=True)


main()
