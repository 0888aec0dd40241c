#!/usr/bin/env python3
"""Shared and private memory of 4 herd workers serving a Flask or Django app,
with and without --gc-freeze (gc.freeze() in the master before forking).

For each worker, after N requests, /proc/PID/smaps_rollup gives Private
(Private_Clean + Private_Dirty) and Shared (Shared_Clean + Shared_Dirty) and
PSS. Reported: the sum over the 4 workers, median of --runs runs.

usage: bench/gcfreeze.py [--herd ./herd] [--app flask|django] [--requests 2000] [--runs 3]
"""
import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
APPS = {"flask": os.path.join(HERE, "..", "tests", "integration", "apps", "flask_app.py"),
        "django": os.path.join(HERE, "..", "tests", "integration", "apps", "django_app.py")}


def get(port, path="/"):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" % path.encode())
    while s.recv(65536):
        pass
    s.close()


def smaps(pid):
    out = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            m = re.match(r"(\w+):\s+(\d+) kB", line)
            if m:
                out[m.group(1)] = int(m.group(2))
    return {"private": out.get("Private_Clean", 0) + out.get("Private_Dirty", 0),
            "shared": out.get("Shared_Clean", 0) + out.get("Shared_Dirty", 0),
            "pss": out.get("Pss", 0)}


def run(binary, app, freeze, nreq):
    args = [binary, "--http-socket", "127.0.0.1:0", "--wsgi-file", APPS[app], "--processes", "4",
            "--disable-logging"] + (["--gc-freeze"] if freeze else [])
    p = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    lines = []
    threading.Thread(target=lambda: [lines.append(l) for l in p.stderr], daemon=True).start()
    deadline = time.monotonic() + 30
    while sum("ready (pid" in l for l in lines) < 4:
        if time.monotonic() > deadline:
            raise TimeoutError("workers not ready")
        time.sleep(0.01)
    port = int(next(re.search(r"listening on [\d.]+:(\d+)", l).group(1)
                    for l in lines if "listening on" in l))
    pids = [int(m.group(1)) for m in (re.search(r"ready \(pid (\d+)\)", l) for l in lines) if m]
    for _ in range(nreq):
        get(port)
    total = {"private": 0, "shared": 0, "pss": 0}
    for pid in pids:
        for k, v in smaps(pid).items():
            total[k] += v
    p.send_signal(signal.SIGTERM)
    p.wait(15)
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--herd", default=os.path.join(HERE, "..", "herd"))
    ap.add_argument("--app", default="flask", choices=sorted(APPS))
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    print("4 workers, %s app, %d requests spread over them, sums over the workers (KiB), "
          "median of %d runs" % (a.app, a.requests, a.runs))
    for freeze in (False, True):
        rs = [run(a.herd, a.app, freeze, a.requests) for _ in range(a.runs)]
        med = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        print("  %-16s private %7d  shared %7d  pss %7d" % (
            "--gc-freeze" if freeze else "without", med["private"], med["shared"], med["pss"]))


if __name__ == "__main__":
    sys.exit(main())
