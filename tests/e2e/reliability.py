#!/usr/bin/env python3
"""Origins and clients for the load and fault tests (tests/e2e/load_*.sh, fault_*.sh).

Every client is bounded in count and time and prints one summary line.

Origins (run in the origin namespace; they run until stopped):
  origin ADDR LOG PORT...    TCP services by port: 9000-9009 and 443 echo; 9100 source:
                             the client sends "N\\n", gets N pattern bytes, then FIN; 9101
                             the same, then a reset; 9102 sink: reads until the end and logs
                             "sink bytes=N end=eof|reset"; 9103 slow sink: reads nothing for
                             8 s, then the same
  udp-echo ADDR PORT         echoes every datagram to its sender

Clients (print one line; exit 1 when something was lost or wrong):
  tcp-load ADDR PORT N SIZE READY RELEASE   N flows open at once, each echoing SIZE
                             random bytes twice: once before READY is written, once after
                             RELEASE appears (so the caller measures while all are held)
  udp-load ADDR PORT N READY RELEASE [BATCH]  the same for N UDP sockets (sessions),
                             BATCH (100) at a time, each answered before the next
  stream ADDR PORT N SECONDS [STOP]         N echo flows, each sending 1 KiB every 50 ms
                             for SECONDS (or until the file STOP appears) and checking
                             every echo; counts how each ended
  get ADDR PORT N [PAUSE]    asks a source for N bytes (not reading for PAUSE s first);
                             prints "end=eof|reset|timeout bytes=B intact|corrupt"
  put ADDR PORT N [rst]      sends N bytes to a sink, then FIN (or a reset with "rst")
  hello-trickle ADDR PORT N SNI GAP   N clients each send a TLS ClientHello for SNI one
                             byte every GAP seconds; counts how each ended
  half-handshakes ADDR PORT N KIND HOLD   N explicit-proxy clients (KIND socks5 or http)
                             send part of a request and wait; counts those the server closed
                             (KIND silent: connect and send nothing)
  ADDR may be "socks5:PROXY:PORT:ADDR" for get/put/stream: the flow goes through a
  SOCKS5 proxy (no authentication) to ADDR.
"""
import asyncio
import hashlib
import os
import select
import socket
import ssl
import struct
import sys
import time

CHUNK = 1 << 16


def _block():
    out = bytearray()
    for i in range(BLOCK_LEN // 32 + 1):
        out += hashlib.sha256(i.to_bytes(8, "big")).digest()
    return bytes(out[:BLOCK_LEN])


BLOCK_LEN = 1048573  # a prime: a shifted or repeated stretch does not line up
BLOCK = _block()
BLOCK2 = BLOCK + BLOCK


def pattern(n, offset=0):
    """Deterministic bytes: the stretch [offset, offset + n) of an endless pattern."""
    out = bytearray()
    while n > 0:
        o = offset % BLOCK_LEN
        k = min(n, BLOCK_LEN)
        out += BLOCK2[o:o + k]
        n -= k
        offset += k
    return bytes(out)


def linger0(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


async def open_conn(target, port):
    """A connection to target:port, or through "socks5:PROXY:PPORT:ADDR"."""
    if not target.startswith("socks5:"):
        return await asyncio.open_connection(target, port)
    _, phost, pport, addr = target.split(":", 3)
    r, w = await asyncio.open_connection(phost, int(pport))
    w.write(b"\x05\x01\x00")
    if await r.readexactly(2) != b"\x05\x00":
        raise ConnectionError("socks5 method refused")
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    atyp = b"\x04" if fam == socket.AF_INET6 else b"\x01"
    w.write(b"\x05\x01\x00" + atyp + socket.inet_pton(fam, addr) + struct.pack("!H", port))
    head = await r.readexactly(4)
    if head[1] != 0:
        raise ConnectionError(f"socks5 reply {head[1]}")
    await r.readexactly({1: 6, 4: 18}.get(head[3], 6))
    return r, w


# --- origins ------------------------------------------------------------------------


async def serve_echo(r, w):
    try:
        while True:
            data = await r.read(CHUNK)
            if not data:
                break
            w.write(data)
            await w.drain()
    except (ConnectionError, OSError):
        pass
    w.close()


async def serve_source(r, w, reset):
    try:
        n = int((await r.readline()).strip() or 0)
        sent = 0
        while sent < n:
            k = min(CHUNK, n - sent)
            w.write(pattern(k, sent))
            sent += k
            await w.drain()
        if reset:
            linger0(w.get_extra_info("socket"))
            w.transport.abort()
            return
    except (ConnectionError, OSError, ValueError):
        pass
    w.close()


async def serve_sink(r, w, log, delay):
    if delay:
        await asyncio.sleep(delay)
    n, end, digest = 0, "eof", hashlib.sha256()
    try:
        while True:
            data = await r.read(CHUNK)
            if not data:
                break
            n += len(data)
            digest.update(data)
    except ConnectionResetError:
        end = "reset"
    except OSError:
        end = "error"
    with open(log, "a") as f:
        f.write(f"sink bytes={n} end={end} sha={digest.hexdigest()[:16]}\n")
    w.close()


async def origin(addr, log, ports):
    servers = []
    for p in ports:
        p = int(p)
        if p == 443 or 9000 <= p <= 9009:
            h = serve_echo
        elif p in (9100, 9101):
            h = (lambda reset: lambda r, w: serve_source(r, w, reset))(p == 9101)
        elif p in (9102, 9103):
            h = (lambda d: lambda r, w: serve_sink(r, w, log, d))(8 if p == 9103 else 0)
        else:
            raise SystemExit(f"no service for port {p}")
        servers.append(await asyncio.start_server(h, addr, p, backlog=4096, reuse_address=True))
    await asyncio.gather(*(s.serve_forever() for s in servers))


def udp_echo(addr, port):
    s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind((addr, int(port)))
    while True:
        data, peer = s.recvfrom(65535)
        s.sendto(data, peer)


# --- clients ------------------------------------------------------------------------


async def wait_file(path, secs):
    deadline = time.monotonic() + secs
    while not os.path.exists(path) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)


async def tcp_load(addr, port, n, size, ready, release):
    n, size, port = int(n), int(size), int(port)
    gate = asyncio.Semaphore(200)  # connects in progress at once
    all_open = asyncio.Event()
    go = asyncio.Event()
    state = {"open": 0, "r1": 0}
    results = []

    async def echo_once(r, w):
        data = os.urandom(size)
        w.write(data)
        await w.drain()
        return await asyncio.wait_for(r.readexactly(size), 60) == data

    async def one():
        w = None
        try:
            async with gate:
                r, w = await asyncio.wait_for(asyncio.open_connection(addr, port), 30)
                ok1 = await echo_once(r, w)
            state["r1"] += ok1
            state["open"] += 1
            if state["open"] == n:
                all_open.set()
            await go.wait()
            ok2 = await echo_once(r, w)
            w.write_eof()
            eof = await asyncio.wait_for(r.read(1), 30) == b""
            results.append("ok" if ok1 and ok2 and eof else "wrong")
        except asyncio.TimeoutError:
            results.append("timeout")
        except (ConnectionError, OSError, asyncio.IncompleteReadError) as e:
            results.append(type(e).__name__)
        finally:
            if w:
                w.close()
            if not all_open.is_set() and len(results) + state["open"] >= n:
                all_open.set()

    tasks = [asyncio.create_task(one()) for _ in range(n)]
    t0 = time.monotonic()
    try:
        await asyncio.wait_for(all_open.wait(), 150)
    except asyncio.TimeoutError:
        pass
    with open(ready, "w") as f:
        f.write(f"open {state['open']} echoed {state['r1']} in {time.monotonic() - t0:.1f}s\n")
    await wait_file(release, 120)
    go.set()
    await asyncio.wait(tasks, timeout=120)
    counts = {}
    for x in results:
        counts[x] = counts.get(x, 0) + 1
    lost = n - counts.get("ok", 0)
    print(f"flows {n} intact {counts.get('ok', 0)} lost {lost} "
          + " ".join(f"{k}={v}" for k, v in sorted(counts.items()) if k != "ok"))
    return 0 if lost == 0 else 1


def udp_load(addr, port, n, ready, release, batch=100):
    n, port, batch = int(n), int(port), int(batch)
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    socks = [socket.socket(fam, socket.SOCK_DGRAM) for _ in range(n)]
    ep = select.epoll()
    by_fd = {}
    for i, s in enumerate(socks):
        s.setblocking(False)
        s.bind(("", 0))
        by_fd[s.fileno()] = i
        ep.register(s.fileno(), select.EPOLLIN)

    def round_(tag):
        want = {}
        for i, s in enumerate(socks):
            payload = tag + i.to_bytes(4, "big") + os.urandom(16 + i % 200)
            want[i] = payload
            s.sendto(payload, (addr, port))
            if i % batch == batch - 1:  # paced: the batch answered (or 0.5 s) before the next
                drain(want, 0.5)
        drain(want, 15)
        return want

    wrong = [0]

    def drain(want, secs):
        deadline = time.monotonic() + secs
        while want and time.monotonic() < deadline:
            for fd, _ in ep.poll(max(0.0, min(0.5, deadline - time.monotonic()))):
                i = by_fd[fd]
                while True:
                    try:
                        data = socks[i].recv(65535)
                    except BlockingIOError:
                        break
                    if want.get(i) == data:
                        del want[i]
                    else:
                        wrong[0] += 1

    t0 = time.monotonic()
    miss1 = len(round_(b"1"))
    with open(ready, "w") as f:
        f.write(f"sessions {n} missing {miss1} in {time.monotonic() - t0:.1f}s\n")
    deadline = time.monotonic() + 120
    while not os.path.exists(release) and time.monotonic() < deadline:
        time.sleep(0.1)
    miss2 = len(round_(b"2"))
    for s in socks:
        s.close()
    lost = miss1 + miss2
    print(f"sessions {n} round1-missing {miss1} round2-missing {miss2} wrong {wrong[0]}")
    return 0 if lost == 0 and wrong[0] == 0 else 1


async def stream(addr, port, n, secs, stop=None):
    n, secs, port = int(n), float(secs), int(port)
    results = []

    async def one(k):
        sent = 0
        w = None
        try:
            r, w = await asyncio.wait_for(open_conn(addr, port), 10)
            end = time.monotonic() + secs
            while time.monotonic() < end and not (stop and os.path.exists(stop)):
                data = pattern(1024, sent)
                w.write(data)
                await w.drain()
                got = await asyncio.wait_for(r.readexactly(1024), 10)
                if got != data:
                    results.append("corrupt")
                    return
                sent += 1024
                await asyncio.sleep(0.05)
            w.write_eof()
            results.append("ok" if await asyncio.wait_for(r.read(1), 10) == b"" else "corrupt")
        except asyncio.IncompleteReadError:
            results.append("eof")
        except ConnectionResetError:
            results.append("reset")
        except asyncio.TimeoutError:
            results.append("timeout")
        except (ConnectionError, OSError):
            results.append("error")
        finally:
            if w:
                w.close()

    await asyncio.gather(*(one(k) for k in range(n)))
    counts = {k: results.count(k) for k in ("ok", "reset", "eof", "timeout", "error", "corrupt")}
    print(" ".join(f"{k}={v}" for k, v in counts.items()))
    return 0 if counts["ok"] == n else 1


async def get(addr, port, n, pause=0):
    n, port, pause = int(n), int(port), float(pause)
    got, end, intact = 0, "timeout", True
    t0 = time.monotonic()
    try:
        r, w = await asyncio.wait_for(open_conn(addr, port), 10)
        w.write(b"%d\n" % n)
        await w.drain()
        if pause:
            await asyncio.sleep(pause)
        while True:
            data = await asyncio.wait_for(r.read(CHUNK), 30)
            if not data:
                end = "eof"
                break
            intact = intact and data == pattern(len(data), got)
            got += len(data)
    except ConnectionResetError:
        end = "reset"
    except (ConnectionError, OSError) as e:
        end = "error:" + type(e).__name__
    except asyncio.TimeoutError:
        pass
    print(f"end={end} bytes={got} {'intact' if intact else 'corrupt'} "
          f"in {time.monotonic() - t0:.1f}s")
    return 0


async def put(addr, port, n, mode=""):
    n, port = int(n), int(port)
    r, w = await asyncio.wait_for(open_conn(addr, port), 10)
    sent = 0
    digest = hashlib.sha256()
    while sent < n:
        k = min(CHUNK, n - sent)
        data = pattern(k, sent)
        digest.update(data)
        w.write(data)
        await asyncio.wait_for(w.drain(), 60)
        sent += k
    if mode == "rst":
        await asyncio.sleep(0.5)
        linger0(w.get_extra_info("socket"))
        w.transport.abort()
        print(f"sent {sent} then reset")
        return 0
    w.write_eof()
    await asyncio.wait_for(r.read(1), 60)
    w.close()
    print(f"sent {sent} sha={digest.hexdigest()[:16]}")
    return 0


def client_hello(sni):
    ctx = ssl.create_default_context()
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=sni)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


async def hello_trickle(addr, port, n, sni, gap):
    n, port, gap = int(n), int(port), float(gap)
    hello = client_hello(sni)
    results = []

    async def one():
        w = None
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection(addr, int(port)), 10)
            for i in range(len(hello)):
                w.write(hello[i:i + 1])
                await w.drain()
                await asyncio.sleep(gap)
            got = await asyncio.wait_for(r.read(65536), 5)
            results.append("answered" if got else "eof")
        except ConnectionResetError:
            results.append("reset")
        except (asyncio.TimeoutError, ConnectionError, OSError):
            results.append("no-answer")
        finally:
            if w:
                w.close()

    await asyncio.gather(*(one() for _ in range(n)))
    print(f"hello {len(hello)} bytes, " + " ".join(
        f"{k}={results.count(k)}" for k in ("answered", "eof", "reset", "no-answer")))
    return 0


async def half_handshakes(addr, port, n, kind, hold):
    n, port, hold = int(n), int(port), float(hold)
    part = {"socks5": b"\x05", "http": b"CONNECT half.example:443 HTTP/1.1\r\nHo",
            "silent": b""}[kind]
    closed = []
    opened = [0]
    t0 = time.monotonic()

    async def one():
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection(addr, port), 10)
        except (asyncio.TimeoutError, ConnectionError, OSError):
            return
        opened[0] += 1
        try:
            w.write(part)
            await w.drain()
            await asyncio.wait_for(r.read(65536), hold)
            closed.append(time.monotonic() - t0)
        except (ConnectionError, OSError):
            closed.append(time.monotonic() - t0)
        except asyncio.TimeoutError:
            pass
        w.close()

    await asyncio.gather(*(one() for _ in range(n)))
    last = f" last-closed-at {max(closed):.1f}s" if closed else ""
    print(f"opened {opened[0]} closed-by-server {len(closed)}{last}")
    return 0


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "udp-echo":
        udp_echo(*args)
    if cmd == "udp-load":
        return udp_load(*args)
    coros = {"origin": lambda: origin(args[0], args[1], args[2:]), "tcp-load": tcp_load,
             "stream": stream, "get": get, "put": put, "hello-trickle": hello_trickle,
             "half-handshakes": half_handshakes}
    if cmd == "origin":
        return asyncio.run(coros[cmd]())
    return asyncio.run(coros[cmd](*args))


if __name__ == "__main__":
    sys.exit(main())
