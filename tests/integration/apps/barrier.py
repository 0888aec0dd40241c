"""Concurrency probes.

/barrier: waits on a threading.Barrier of $BARRIER_PARTIES (default 2) with a
timeout; answers 200 only if that many requests ran at once in this process.
/fsbarrier?name=N&n=K: the same across processes, with files in $HERD_TEST_DIR.
"""
import json
import os
import threading
import time
from urllib.parse import parse_qs

PARTIES = int(os.environ.get("BARRIER_PARTIES", "2"))
TIMEOUT = float(os.environ.get("BARRIER_TIMEOUT", "5"))
BARRIER = threading.Barrier(PARTIES, timeout=TIMEOUT)
DIR = os.environ.get("HERD_TEST_DIR", "/tmp")


def application(environ, start_response):
    q = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    info = {"pid": os.getpid(), "thread": threading.get_ident()}
    if environ["PATH_INFO"] == "/barrier":
        try:
            BARRIER.wait()
            status = "200 OK"
        except threading.BrokenBarrierError:
            status = "503 Barrier Broken"
    elif environ["PATH_INFO"] == "/fsbarrier":
        name, n = q["name"], int(q["n"])
        me = os.path.join(DIR, "fsb-%s-%d-%d" % (name, os.getpid(), threading.get_ident()))
        open(me, "w").close()
        deadline = time.monotonic() + TIMEOUT
        status = "503 Barrier Timeout"
        while time.monotonic() < deadline:
            if len([f for f in os.listdir(DIR) if f.startswith("fsb-%s-" % name)]) >= n:
                status = "200 OK"
                break
            time.sleep(0.02)
    else:
        status = "404 Not Found"
    body = json.dumps(info).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
