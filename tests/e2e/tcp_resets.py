#!/usr/bin/env python3
"""tcp_resets.py — the two ends of tcp_resets.sh: an origin that cuts its
answer with a reset (or waits to see how its client's end arrives), and a
client that tells a reset from a clean end of stream.

  tcp_resets.py origin ADDR PORT MODE OUT
      serves connections one by one, each: reads the request, then
        cut   sends SIZE bytes (as many as go out) and closes with a reset
        wait  sends a short answer, then reads until its client's end and
              appends "reset" or "eof" to OUT (one line a connection)
  tcp_resets.py client ADDR PORT [--socks5 PROXY PORT] [--reset]
      connects (through the SOCKS5 proxy when given: CONNECT by address),
      sends a request and reads: prints "reset BYTES" or "eof BYTES";
      with --reset it closes with a reset once the first answer is in.
Every socket wait is bounded (10 s)."""
import ipaddress
import socket
import struct
import sys

SIZE = 4 << 20
TIMEOUT = 10


def reset_close(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def outcome(s):
    """Reads to the end: ("reset"|"eof"|"timeout", bytes read)."""
    got = 0
    try:
        while True:
            data = s.recv(65536)
            if not data:
                return "eof", got
            got += len(data)
    except ConnectionResetError:
        return "reset", got
    except socket.timeout:
        return "timeout", got


def origin(addr, port, mode, out):
    ip = ipaddress.ip_address(addr)
    ls = socket.socket(socket.AF_INET6 if ip.version == 6 else socket.AF_INET)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(16)
    for _ in range(100):
        c, _ = ls.accept()
        c.settimeout(TIMEOUT)
        try:
            c.recv(4096)
            if mode == "cut":
                c.setblocking(False)
                try:
                    c.send(bytes(SIZE))
                except BlockingIOError:
                    pass
                reset_close(c)
                continue
            c.sendall(b"first answer\n")
            how, _ = outcome(c)
            with open(out, "a") as f:
                f.write(how + "\n")
        except OSError:
            pass
        c.close()


def client(addr, port, proxy, reset):
    target = (proxy[0], int(proxy[1])) if proxy else (addr, port)
    s = socket.create_connection(target, TIMEOUT)
    s.settimeout(TIMEOUT)
    if proxy:
        s.sendall(b"\x05\x01\x00")
        if s.recv(2) != b"\x05\x00":
            print("socks5 method refused")
            return
        ip = ipaddress.ip_address(addr)
        atyp = b"\x01" if ip.version == 4 else b"\x04"
        s.sendall(b"\x05\x01\x00" + atyp + ip.packed + struct.pack("!H", port))
        reply = s.recv(4 + len(ip.packed) + 2)
        if len(reply) < 2 or reply[1] != 0:
            print("socks5 connect refused")
            return
    s.sendall(b"GET /big HTTP/1.0\r\n\r\n")
    if reset:
        s.recv(64)
        reset_close(s)
        print("reset sent")
        return
    how, got = outcome(s)
    print(how, got)


def main(argv):
    if len(argv) == 5 and argv[0] == "origin":
        origin(argv[1], int(argv[2]), argv[3], argv[4])
    elif len(argv) >= 3 and argv[0] == "client":
        proxy = argv[argv.index("--socks5") + 1:argv.index("--socks5") + 3] \
            if "--socks5" in argv else None
        client(argv[1], int(argv[2]), proxy, "--reset" in argv)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
