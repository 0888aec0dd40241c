"""The app behind nginx and the deploy tests (test_nginx.py, test_deploy.py).

Routes:
  The route is the first segment of PATH_INFO naming one (/x/env is /env).
  /env            the environ's str/bool/int values as JSON (+ _uid, _gid, _groups, _pid)
  /upload         reads wsgi.input in pieces; {"len", "sha256", "content_length", "chunks"}
  /big?size=N     N pattern bytes with Content-Length; X-Sha256 says what was sent
  /stream?n=&size=  n chunks of size bytes from a generator, no Content-Length
  /abort?tag=T    a long slow stream whose close() writes $HERD_TEST_DIR/closed-T
                  (with how many bytes were produced and whether it finished)
  /cookies?n=N    N Set-Cookie headers and a few duplicated X-Multi headers
  /whoami         uid, gid, supplementary groups, pid
  anything else   "ok <PATH_INFO>"
"""
import hashlib
import json
import os
import time
from urllib.parse import parse_qs

_BLOCK = bytes((i * 7 + 3) % 251 for i in range(65521))


def pattern(size):
    reps = size // len(_BLOCK) + 1
    return (_BLOCK * reps)[:size]


def _q(environ):
    return {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items()}


def _json(sr, obj, status="200 OK", extra=()):
    body = json.dumps(obj, sort_keys=True).encode()
    sr(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))] + list(extra))
    return [body]


def _ids():
    return {"_uid": os.getuid(), "_euid": os.geteuid(), "_gid": os.getgid(),
            "_groups": sorted(os.getgroups()), "_pid": os.getpid()}


class Abortable:
    """A slow, long response: ends by itself only after `limit` seconds."""

    def __init__(self, path, limit):
        self.path = path
        self.limit = limit
        self.sent = 0
        self.finished = False

    def __iter__(self):
        deadline = time.monotonic() + self.limit
        chunk = b"z" * 65536
        while time.monotonic() < deadline:
            self.sent += len(chunk)
            yield chunk
            time.sleep(0.005)
        self.finished = True

    def close(self):
        with open(self.path + ".tmp", "w") as f:
            json.dump({"sent": self.sent, "finished": self.finished, "pid": os.getpid()}, f)
        os.rename(self.path + ".tmp", self.path)


ROUTES = ("env", "whoami", "upload", "big", "stream", "abort", "cookies")


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    q = _q(environ)
    # the route is the first path segment naming one, so that nginx locations
    # such as /https-on/env or /unbuffered/upload reach it
    route = next((s for s in path.split("/") if s in ROUTES), None)
    if route == "env":
        out = {k: v for k, v in environ.items() if isinstance(v, (str, bool, int))}
        out.update(_ids())
        return _json(start_response, out)
    if route == "whoami":
        return _json(start_response, _ids())
    if route == "upload":
        inp = environ["wsgi.input"]
        h = hashlib.sha256()
        n = chunks = 0
        while True:
            data = inp.read(65536)
            if not data:
                break
            h.update(data)
            n += len(data)
            chunks += 1
        return _json(start_response, {"len": n, "sha256": h.hexdigest(), "chunks": chunks,
                                      "content_length": environ.get("CONTENT_LENGTH"),
                                      "method": environ["REQUEST_METHOD"]})
    if route == "big":
        body = pattern(int(q.get("size", "1048576")))
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(len(body))),
                                  ("X-Sha256", hashlib.sha256(body).hexdigest())])
        return [body]
    if route == "stream":
        n, size = int(q.get("n", "10")), int(q.get("size", "1000"))
        data = pattern(n * size)
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("X-Sha256", hashlib.sha256(data).hexdigest())])
        return (data[i * size:(i + 1) * size] for i in range(n))
    if route == "abort":
        d = environ.get("HERD_TEST_DIR") or os.environ["HERD_TEST_DIR"]
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return Abortable(os.path.join(d, "closed-" + q["tag"]), float(q.get("limit", "60")))
    if route == "cookies":
        n = int(q.get("n", "20"))
        hdrs = [("Content-Type", "text/plain"), ("Content-Length", "2")]
        hdrs += [("Set-Cookie", "c%d=%s; Path=/" % (i, "v" * 100)) for i in range(n)]
        hdrs += [("X-Multi", "one"), ("X-Multi", "two"), ("X-Multi", "three")]
        start_response("200 OK", hdrs)
        return [b"ok"]
    body = ("ok %s" % path).encode("latin-1")
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
