#!/usr/bin/python3
"""control_ui_cdp.py — drives the dashboard in a headless chromium over the
DevTools protocol (chromium --remote-debugging-port=PORT), for control_ui.sh.
Each command attaches to the first page target, does one thing and detaches;
every wait is bounded.

  PORT wait EXPR SECONDS   until the JavaScript EXPR is truthy; prints its value
                           unless that is true
  PORT eval EXPR           prints the value of EXPR
  PORT click EXPR          a real mouse click (pressed, released) at the centre
                           of the element EXPR evaluates to, scrolled into view
  PORT screenshot FILE     the page as PNG
Exit status 1 with a message when the page or the element is not there.
"""
import asyncio
import base64
import json
import sys
import time
import urllib.request

import websockets


class Page:
    def __init__(self, ws):
        self.ws, self.next_id = ws, 0

    async def call(self, method, **params):
        self.next_id += 1
        await self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:  # events come in between: skip them
            msg = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError("%s: %s" % (method, msg["error"].get("message")))
                return msg["result"]

    async def value(self, expr):
        r = await self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        if "exceptionDetails" in r:
            raise RuntimeError("%s: %s" % (expr, r["exceptionDetails"].get("text")))
        return r["result"].get("value")


def page_url(port):
    for _ in range(50):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=2) as r:
                pages = [t for t in json.load(r) if t.get("type") == "page"]
            if pages:
                return pages[0]["webSocketDebuggerUrl"]
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("no page on the DevTools port %d" % port)


async def run(port, cmd, args):
    async with websockets.connect(page_url(port), max_size=None, open_timeout=10) as ws:
        page = Page(ws)
        if cmd == "wait":
            end = time.monotonic() + float(args[1])
            while time.monotonic() < end:
                v = await page.value(args[0])
                if v:
                    if v is not True:
                        print(v)
                    return 0
                await asyncio.sleep(0.2)
            print("# timed out waiting for", args[0], file=sys.stderr)
            return 1
        if cmd == "eval":
            print(await page.value(args[0]))
            return 0
        if cmd == "click":
            box = await page.value(
                "(() => { const e = %s; if (!e) return null; e.scrollIntoView({block: 'center'});"
                " const r = e.getBoundingClientRect();"
                " return [r.left + r.width / 2, r.top + r.height / 2]; })()" % args[0])
            if not box:
                print("# no element:", args[0], file=sys.stderr)
                return 1
            for kind in ("mousePressed", "mouseReleased"):
                await page.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1],
                                button="left", clickCount=1)
            return 0
        if cmd == "screenshot":
            shot = await page.call("Page.captureScreenshot", format="png")
            with open(args[0], "wb") as f:
                f.write(base64.b64decode(shot["data"]))
            return 0
    print("# unknown command", cmd, file=sys.stderr)
    return 2


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(run(int(sys.argv[1]), sys.argv[2], sys.argv[3:])))
    except (RuntimeError, OSError, asyncio.TimeoutError, websockets.WebSocketException) as e:
        print("# %s" % e, file=sys.stderr)
        sys.exit(1)
