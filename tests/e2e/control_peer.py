#!/usr/bin/env python3
"""control_peer.py — the two ends of the transfers control_api.sh watches.

  origin PORT_HOLD PORT_PACED   serves two ports (bounded: 60 s in all):
      PORT_HOLD:  reads UP bytes, sends DOWN bytes, then holds the connection
                  until the client closes it or it is reset;
      PORT_PACED: sends 64 KiB every 50 ms for 4 s, then closes.
  hold ADDR PORT                sends UP bytes, reads DOWN, prints "got N",
                                then waits: prints "reset" or "eof" (20 s at most).
  paced ADDR PORT               reads until the end, prints the byte count.
"""
import socket
import sys
import threading
import time

UP, DOWN = 1234, 1_000_000


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
        try:
            while conn.recv(4096):
                pass
        except OSError:
            pass


def serve_paced(conn):
    with conn:
        end = time.monotonic() + 4
        try:
            while time.monotonic() < end:
                conn.sendall(b"p" * 65536)
                time.sleep(0.05)
        except OSError:
            pass


def listen(port, handler):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(16)
    while True:
        c, _ = s.accept()
        threading.Thread(target=handler, args=(c,), daemon=True).start()


def main():
    mode = sys.argv[1]
    if mode == "origin":
        for port, h in ((int(sys.argv[2]), serve_hold), (int(sys.argv[3]), serve_paced)):
            threading.Thread(target=listen, args=(port, h), daemon=True).start()
        time.sleep(60)
        return
    s = socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=20)
    if mode == "hold":
        s.sendall(b"u" * UP)
        got = 0
        while got < DOWN:
            b = s.recv(65536)
            if not b:
                break
            got += len(b)
        print("got", got, flush=True)
        try:
            print("eof" if not s.recv(1) else "data", flush=True)
        except ConnectionResetError:
            print("reset", flush=True)
        except socket.timeout:
            print("timeout", flush=True)
    else:
        total = 0
        while True:
            b = s.recv(65536)
            if not b:
                break
            total += len(b)
        print(total, flush=True)


main()
