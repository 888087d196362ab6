#!/usr/bin/env python3
"""A small Chrome DevTools Protocol driver for the dashboard's browser tests.

Starts headless Chromium (the first argument names the binary), opens one
page, then answers commands read from stdin, one JSON object a line, with
one JSON line on stdout each:

  {"navigate": URL}                  -> {"ok": true}
  {"eval": JS}                       -> {"value": ...} or {"error": "..."}
                                        (promises are awaited)
  {"screenshot": PATH, "width": W, "height": H, "full": true}
                                     (full: the whole page, not the window)
                                     -> {"ok": true}

It ends, with the browser, when stdin closes. Needs the `websockets`
package (scripts/test installs it).
"""
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

from websockets.sync.client import connect


def main():
    binary = sys.argv[1]
    profile = tempfile.mkdtemp(prefix="handoff-cdp-")
    browser = subprocess.Popen(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-port=0", "--user-data-dir=" + profile,
         "--window-size=1400,1000", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        port = None
        deadline = time.time() + 30
        while time.time() < deadline:
            line = browser.stderr.readline()
            if not line:
                break
            m = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            if m:
                port = int(m.group(1))
                break
        if port is None:
            print(json.dumps({"error": "chromium did not report a DevTools port"}), flush=True)
            return 1
        # Keep draining stderr so the browser never blocks on a full pipe.
        import threading
        threading.Thread(target=lambda: [None for _ in browser.stderr], daemon=True).start()
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list"))
        page = next(t for t in targets if t["type"] == "page")
        with connect(page["webSocketDebuggerUrl"], max_size=None) as ws:
            serial = [0]

            def call(method, **params):
                serial[0] += 1
                ws.send(json.dumps({"id": serial[0], "method": method, "params": params}))
                while True:
                    msg = json.loads(ws.recv())
                    if msg.get("id") == serial[0]:
                        if "error" in msg:
                            raise RuntimeError(f"{method}: {msg['error']}")
                        return msg["result"]

            def evaluate(expr):
                r = call("Runtime.evaluate", expression=expr, awaitPromise=True,
                         returnByValue=True)
                if "exceptionDetails" in r:
                    d = r["exceptionDetails"]
                    text = d.get("exception", {}).get("description") or d.get("text")
                    return {"error": text}
                return {"value": r["result"].get("value")}

            call("Page.enable")
            call("Runtime.enable")
            print(json.dumps({"ready": True}), flush=True)
            for line in sys.stdin:
                if not line.strip():
                    continue
                cmd = json.loads(line)
                try:
                    if "navigate" in cmd:
                        call("Page.navigate", url=cmd["navigate"])
                        for _ in range(200):
                            state = evaluate("document.readyState").get("value")
                            if state == "complete":
                                break
                            time.sleep(0.05)
                        out = {"ok": True}
                    elif "eval" in cmd:
                        out = evaluate(cmd["eval"])
                    elif "screenshot" in cmd:
                        call("Emulation.setDeviceMetricsOverride", width=cmd.get("width", 1400),
                             height=cmd.get("height", 1000), deviceScaleFactor=1, mobile=False)
                        shot = call("Page.captureScreenshot", format="png", captureBeyondViewport=cmd.get("full", True))
                        with open(cmd["screenshot"], "wb") as f:
                            f.write(base64.b64decode(shot["data"]))
                        out = {"ok": True}
                    else:
                        out = {"error": f"unknown command {sorted(cmd)}"}
                except Exception as e:  # reported to the test, which fails with it
                    out = {"error": str(e)}
                print(json.dumps(out), flush=True)
    finally:
        browser.terminate()
        try:
            browser.wait(timeout=10)
        except subprocess.TimeoutExpired:
            browser.kill()
        shutil.rmtree(profile, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
