"""Response-side WSGI behaviour: start_response rules, write(), file_wrapper,
exceptions, bad status/headers, and close() of the returned iterable.

Side effects that the client cannot see are recorded as files in
$HERD_TEST_DIR (close-<id> holds how close() was reached).
"""
import io
import json
import os
import sys
import time
from urllib.parse import parse_qs

DIR = os.environ.get("HERD_TEST_DIR", "/tmp")
CT = ("Content-Type", "text/plain")


def mark(name, text):
    tmp = os.path.join(DIR, ".%s.tmp" % name)
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, os.path.join(DIR, name))  # atomic: readers see all or nothing


class ClosingIter:
    """Yields `chunks` (sleeping `delay` before each after the first); raises
    at index `fail_at`; close() records how many chunks went out."""

    def __init__(self, ident, chunks, delay=0.0, fail_at=None):
        self.ident = ident
        self.chunks = chunks
        self.delay = delay
        self.fail_at = fail_at
        self.i = 0

    def __iter__(self):
        return self

    def __next__(self):
        if self.i >= len(self.chunks):
            raise StopIteration
        if self.fail_at is not None and self.i == self.fail_at:
            raise RuntimeError("iter-boom-%s" % self.ident)
        if self.i and self.delay:
            time.sleep(self.delay)
        c = self.chunks[self.i]
        self.i += 1
        return c

    def close(self):
        mark("close-%s" % self.ident, "closed after %d" % self.i)


class ReadOnly:
    """A file-like with read() and close() only (no fileno)."""

    def __init__(self, data, ident):
        self.f = io.BytesIO(data)
        self.ident = ident

    def read(self, n=-1):
        return self.f.read(n)

    def close(self):
        mark("fwclose-%s" % self.ident, "closed")


def application(environ, start_response):
    q = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    p = environ["PATH_INFO"]
    ident = q.get("id", "x")

    if p == "/pid":
        body = b"%d" % os.getpid()
        start_response("200 OK", [CT, ("Content-Length", str(len(body)))])
        return [body]

    # ---- start_response rules
    if p == "/sr-twice":
        start_response("200 OK", [CT])
        try:
            start_response("201 Created", [CT])
        except Exception as e:
            return [("raised %s" % type(e).__name__).encode()]
        return [b"did not raise"]

    if p == "/sr-excinfo-before":
        start_response("200 OK", [CT, ("X-First", "1")])
        try:
            raise ValueError("replace me")
        except ValueError:
            start_response("503 Service Unavailable", [CT, ("X-Second", "1")], sys.exc_info())
        return [b"replaced"]

    if p == "/sr-excinfo-after":
        def gen():
            yield b"first;"
            try:
                raise ValueError("late")
            except ValueError:
                try:
                    start_response("500 Internal Server Error", [CT], sys.exc_info())
                except ValueError as e:
                    yield ("reraised %s %s" % (type(e).__name__, e)).encode()
                except Exception as e:
                    yield ("raised other %s" % type(e).__name__).encode()
                else:
                    yield b"not raised"
        start_response("200 OK", [CT])
        return gen()

    if p == "/sr-excinfo-after-write":
        write = start_response("200 OK", [CT])
        write(b"first;")
        try:
            raise ValueError("late")
        except ValueError:
            try:
                start_response("500 Internal Server Error", [CT], sys.exc_info())
            except ValueError as e:
                return [("reraised %s %s" % (type(e).__name__, e)).encode()]
            except Exception as e:
                return [("raised other %s" % type(e).__name__).encode()]
        return [b"not raised"]

    # ---- write()
    if p == "/write":
        headers = [CT]
        if q.get("cl"):
            headers.append(("Content-Length", "11"))
        write = start_response("200 OK", headers)
        write(b"hello ")
        write(b"world")
        return []

    if p == "/write-iter":
        write = start_response("200 OK", [CT])
        write(b"a")
        return [b"b", b"c"]

    # ---- file_wrapper
    if p == "/fw":
        f = open(os.path.join(DIR, q["file"]), "rb")
        off = int(q.get("offset", "0"))
        if off:
            f.seek(off)
        headers = [("Content-Type", "application/octet-stream")]
        if q.get("cl"):
            size = os.fstat(f.fileno()).st_size - off
            headers.append(("Content-Length", str(size)))
        start_response("200 OK", headers)
        return environ["wsgi.file_wrapper"](f, int(q.get("blk", "8192")))

    if p == "/fw-readonly":
        data = open(os.path.join(DIR, q["file"]), "rb").read()
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](ReadOnly(data, ident), 4096)

    if p == "/fw-bytesio":
        data = open(os.path.join(DIR, q["file"]), "rb").read()
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(len(data)))])
        return environ["wsgi.file_wrapper"](io.BytesIO(data), 4096)

    if p == "/fw-props":
        f = open(os.path.join(DIR, q["file"]), "rb")
        w = environ["wsgi.file_wrapper"](f, 3)
        content = b"".join(iter(w))
        has_close = hasattr(w, "close")
        if has_close:
            w.close()
        body = json.dumps({"content": content.decode("latin-1"), "has_close": has_close,
                           "file_closed": f.closed}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    # ---- exceptions
    if p == "/error-before":
        raise RuntimeError("boom-before-%s" % ident)

    if p == "/error-after-sr":
        start_response("200 OK", [CT])
        raise RuntimeError("boom-after-sr-%s" % ident)

    if p == "/error-first-iter":
        start_response("200 OK", [CT])
        return ClosingIter(ident, [b"never"], fail_at=0)

    if p == "/error-midstream":
        headers = [CT]
        if q.get("cl"):
            headers.append(("Content-Length", "1000"))
        start_response("200 OK", headers)
        return ClosingIter(ident, [b"x" * 100, b"y" * 100], fail_at=1)

    # ---- bad status / headers / body
    if p == "/bad":
        kind = q["kind"]
        status, headers, body = "200 OK", [CT], [b"should not be sent"]
        if kind == "status-bytes":
            status = b"200 OK"
        elif kind == "status-nonlatin1":
            status = "200 \u20ac"
        elif kind == "name-bytes":
            headers = [(b"X-Bad", "v")]
        elif kind == "value-bytes":
            headers = [("X-Bad", b"v")]
        elif kind == "value-int":
            headers = [("X-Bad", 5)]
        elif kind == "value-nonlatin1":
            headers = [("X-Bad", "\u20ac")]
        elif kind == "value-crlf":
            headers = [("X-Bad", "v\r\nX-Injected: 1")]
        elif kind == "name-space":
            headers = [("X Bad", "v")]
        elif kind == "content-length-word":
            headers = [CT, ("Content-Length", "eighteen")]
        elif kind == "content-length-negative":
            headers = [CT, ("Content-Length", "-18")]
        elif kind == "body-str":
            body = ["a str, not bytes"]
        else:
            raise ValueError(kind)
        start_response(status, headers)
        return body

    if p == "/latin1-header":
        start_response("200 OK", [CT, ("X-Latin", "caf\u00e9"), ("Content-Length", "2")])
        return [b"ok"]

    # ---- close()
    if p == "/close-normal":
        start_response("200 OK", [CT])
        return ClosingIter(ident, [b"a", b"b", b"c"])

    if p == "/close-raise":
        start_response("200 OK", [CT])
        return ClosingIter(ident, [b"a", b"b", b"c"], fail_at=1)

    if p == "/close-slow":
        n = int(q.get("n", "400"))
        start_response("200 OK", [CT])
        return ClosingIter(ident, [b"z" * 1024] * n, delay=float(q.get("delay", "0.05")))

    if p == "/close-empty":
        start_response("204 No Content", [])
        return ClosingIter(ident, [])

    start_response("404 Not Found", [CT])
    return [b"no route"]
