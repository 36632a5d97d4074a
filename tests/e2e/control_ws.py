#!/usr/bin/python3
"""control_ws.py — the WebSocket client and the UDP ends control_ws.sh uses.

  read URL SECONDS [BEARER]  opens URL with Debian's python3-websockets (the
      Bearer header too when BEARER is given), prints "open", then each
      message on a line for SECONDS; "refused STATUS" when the handshake is
      answered with another status, "closed CODE" when the server closes.
  stall PATH TOKEN SECONDS   opens ws://127.0.0.1:9090/PATH?token=TOKEN by hand
      with a 4 KiB receive buffer and reads nothing for SECONDS; then reads
      what is there and prints "closed by the server" when the server had
      closed the connection, else "still open".
  udp-echo PORT              echoes datagrams on PORT (60 s at most).
  udp-talk ADDR PORT SECONDS sends a 100-byte datagram every 100 ms for
      SECONDS from one socket, reading the echoes; prints "sent N got M" (bytes).
"""
import asyncio
import socket
import sys
import time

import websockets


async def read(url, seconds, bearer):
    headers = {"Authorization": "Bearer " + bearer} if bearer else None
    try:
        ws = await websockets.connect(url, extra_headers=headers, open_timeout=5)
    except websockets.exceptions.InvalidStatusCode as e:
        print("refused", e.status_code, flush=True)
        return
    print("open", flush=True)
    end = time.monotonic() + seconds
    try:
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            try:
                msg = await asyncio.wait_for(ws.recv(), left)
            except asyncio.TimeoutError:
                break
            print(msg, flush=True)
    except websockets.exceptions.ConnectionClosed as e:
        print("closed", e.code, flush=True)
        return
    await ws.close()


def stall(path, token, seconds):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", 9090))
    s.sendall(("GET /%s?token=%s HTTP/1.1\r\nHost: 127.0.0.1:9090\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n" % (path, token)).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        b = s.recv(1)
        if not b:
            print("no answer", flush=True)
            return
        head += b
    print(head.split(b"\r\n")[0].decode(), flush=True)
    time.sleep(seconds)
    s.settimeout(5)
    try:
        while s.recv(65536):
            pass
        print("closed by the server", flush=True)
    except ConnectionResetError:
        print("closed by the server", flush=True)
    except socket.timeout:
        print("still open", flush=True)


def udp_echo(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    s.settimeout(1)
    end = time.monotonic() + 60
    while time.monotonic() < end:
        try:
            data, peer = s.recvfrom(65536)
        except socket.timeout:
            continue
        s.sendto(data, peer)


def udp_talk(addr, port, seconds):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.1)
    sent = got = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        s.sendto(b"q" * 100, (addr, port))
        sent += 100
        try:
            got += len(s.recv(65536))
        except socket.timeout:
            pass
        time.sleep(0.1)
    print("sent", sent, "got", got, flush=True)


def main():
    mode = sys.argv[1]
    if mode == "read":
        bearer = sys.argv[4] if len(sys.argv) > 4 else None
        asyncio.run(read(sys.argv[2], float(sys.argv[3]), bearer))
    elif mode == "stall":
        stall(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    elif mode == "udp-echo":
        udp_echo(int(sys.argv[2]))
    else:
        udp_talk(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))


main()
