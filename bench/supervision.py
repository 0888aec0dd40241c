#!/usr/bin/env python3
"""Measures herd's respawn and reload times (medians of N runs).

respawn: SIGKILL the only worker -> first 200 answered by its replacement.
reload:  SIGHUP with 4 workers -> all 4 replacements ready and every old
         worker gone (log timestamps are in seconds, so this polls instead).

usage: bench/supervision.py [--herd ./herd] [--runs 10]
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
APP = os.path.join(HERE, "..", "tests", "integration", "apps", "supervise.py")


class Herd:
    def __init__(self, binary, *args):
        self.p = subprocess.Popen([binary, "--http-socket", "127.0.0.1:0", "--wsgi-file", APP,
                                   "--disable-logging", *args], stderr=subprocess.PIPE, text=True)
        self.lines = []
        threading.Thread(target=self._read, daemon=True).start()
        self.port = int(self.wait(r"listening on 127\.0\.0\.1:(\d+)").group(1))

    def _read(self):
        for line in self.p.stderr:
            self.lines.append(line)

    def wait(self, rx, count=1, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [m for m in (re.search(rx, l) for l in list(self.lines)) if m]
            if len(found) >= count:
                return found[-1]
            time.sleep(0.002)
        raise TimeoutError(rx)

    def pid_answer(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        s.sendall(b"GET /pid HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
        s.close()
        m = re.search(rb'"pid": (\d+)', data)
        return int(m.group(1)) if m else None

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        self.p.wait(10)


def workers(h):
    pids = {}
    for l in h.lines:
        m = re.search(r"worker (\d+) ready \(pid (\d+)\)", l)
        if m:
            pids[int(m.group(1))] = int(m.group(2))
    return pids


def respawn(binary, runs):
    h = Herd(binary, "--processes", "1")
    h.wait(r"worker 1 ready")
    out = []
    for i in range(runs):
        old = h.pid_answer()
        t0 = time.monotonic()
        os.kill(old, signal.SIGKILL)
        while True:
            try:
                pid = h.pid_answer()
            except OSError:
                pid = None
            if pid and pid != old:
                break
        out.append(time.monotonic() - t0)
        h.wait(r"worker 1 ready", count=i + 2)
    h.stop()
    return out


def reload(binary, runs, *extra):
    h = Herd(binary, "--processes", "4", *extra)
    h.wait(r"worker \d ready", count=4)
    out = []
    for i in range(runs):
        old = set(workers(h).values())
        n = len([l for l in h.lines if "ready (pid" in l])
        t0 = time.monotonic()
        h.p.send_signal(signal.SIGHUP)
        h.wait(r"worker \d ready", count=n + 4)
        while any(os.path.exists("/proc/%d" % p) for p in old):  # reaped by the master
            time.sleep(0.001)
        out.append(time.monotonic() - t0)
    h.stop()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--herd", default=os.path.join(HERE, "..", "herd"))
    ap.add_argument("--runs", type=int, default=10)
    a = ap.parse_args()
    for name, xs in (("respawn (SIGKILL -> replacement answers), 1 worker", respawn(a.herd, a.runs)),
                     ("reload (SIGHUP -> 4 new ready, 4 old gone), preloaded app",
                      reload(a.herd, a.runs)),
                     ("reload, --lazy-apps", reload(a.herd, a.runs, "--lazy-apps"))):
        print("%-62s median %6.1f ms  min %6.1f  max %6.1f  (n=%d)" % (
            name, statistics.median(xs) * 1e3, min(xs) * 1e3, max(xs) * 1e3, len(xs)))


if __name__ == "__main__":
    sys.exit(main())
