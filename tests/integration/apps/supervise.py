"""Supervision probes: who answers, slow requests, memory growth, a version
read at import (so a reload that re-imports the app shows).

/pid            {"pid": ..., "version": ...}
/sleep?s=N      sleeps N seconds, then answers like /pid
/hog?mb=N       keeps N MiB alive in this worker, then answers like /pid
"""
import json
import os
import time
from urllib.parse import parse_qs

VERSION = os.environ.get("APP_VERSION", "")
_vf = os.environ.get("APP_VERSION_FILE")
if _vf:
    with open(_vf) as f:
        VERSION = f.read().strip()
_HOG = []


def application(environ, start_response):
    q = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    path = environ["PATH_INFO"]
    if path == "/sleep":
        environ["wsgi.errors"].write("sleep-start pid=%d\n" % os.getpid())
        environ["wsgi.errors"].flush()
        time.sleep(float(q.get("s", "1")))
    elif path == "/hog":
        _HOG.append(bytearray(int(q.get("mb", "1")) * 1024 * 1024))
        for b in _HOG[-1:]:
            for i in range(0, len(b), 4096):
                b[i] = 1  # touch every page: resident
    body = json.dumps({"pid": os.getpid(), "version": VERSION}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
