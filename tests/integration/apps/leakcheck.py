"""Every way a WSGI app can answer, plus /stats: the worker's live Python
allocations after a full collection, to find per-request leaks."""

import gc
import io
import json
import sys

kept = []


def stats():
    gc.collect()
    return {"blocks": sys.getallocatedblocks(), "objects": len(gc.get_objects())}


class Closing:
    def __init__(self, parts):
        self.parts = parts
        self.closed = False

    def __iter__(self):
        return iter(self.parts)

    def close(self):
        self.closed = True


def application(environ, start_response):
    path = environ["PATH_INFO"]
    hdrs = [("Content-Type", "text/plain")]
    if path == "/stats":
        body = json.dumps(stats()).encode()
        start_response("200 OK", hdrs)
        return [body]
    if path == "/list":
        start_response("200 OK", hdrs)
        return [b"hello"]
    if path == "/write":
        write = start_response("200 OK", hdrs)
        write(b"he")
        write(b"llo")
        return []
    if path == "/gen":
        start_response("200 OK", hdrs)
        return (b for b in (b"he", b"llo"))
    if path == "/closing":
        start_response("200 OK", hdrs)
        return Closing([b"he", b"llo"])
    if path == "/input":
        data = environ["wsgi.input"].read()
        line = environ["wsgi.input"].readline()
        start_response("200 OK", hdrs)
        return [b"%d" % len(data), line]
    if path == "/lines":
        lines = list(environ["wsgi.input"])
        start_response("200 OK", hdrs)
        return [b"%d" % len(lines)]
    if path == "/filewrapper":
        start_response("200 OK", hdrs)
        return environ["wsgi.file_wrapper"](io.BytesIO(b"hello" * 100), 64)
    if path == "/error":
        raise ValueError("an error on purpose")
    if path == "/excinfo":
        try:
            raise KeyError("x")
        except KeyError:
            start_response("500 Internal Server Error", hdrs, sys.exc_info())
        return [b"exc"]
    if path == "/keep":
        # The app keeps start_response and write past the request: the server
        # must not reuse them, and must free them once the app lets go.
        write = start_response("200 OK", hdrs)
        kept.append((start_response, write, environ))
        if len(kept) > 5:
            del kept[0]
        return [b"kept"]
    if path == "/late":
        for sr, w, _ in kept:
            for call in (lambda: sr("200 OK", []), lambda: w(b"x")):
                try:
                    call()
                except RuntimeError:
                    pass
                else:
                    raise AssertionError("a kept start_response/write worked after its request")
        start_response("200 OK", hdrs)
        return [b"late"]
    start_response("404 Not Found", hdrs)
    return [b"no"]
