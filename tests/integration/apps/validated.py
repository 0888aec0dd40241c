"""An app wrapped in wsgiref.validate.validator: any PEP 3333 violation by the
server raises AssertionError (or a WSGIWarning, turned into an error here),
which shows up as a 500 and a traceback in herd's log."""
import json
import warnings
from urllib.parse import parse_qs
from wsgiref.validate import WSGIWarning, validator

warnings.simplefilter("error", WSGIWarning)


def _body_all(inp, environ):
    cl = environ.get("CONTENT_LENGTH")
    if cl:
        return inp.read(int(cl))
    out = b""
    while True:
        c = inp.read(65536)
        if not c:
            return out
        out += c


def raw_app(environ, start_response):
    q = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    p = environ["PATH_INFO"]
    inp = environ["wsgi.input"]
    environ["wsgi.errors"].write("validated request %s\n" % p)
    environ["wsgi.errors"].writelines(["", ""])
    environ["wsgi.errors"].flush()
    if p == "/nocontent":
        start_response("204 No Content", [])
        return []
    if p == "/read-all":
        data = _body_all(inp, environ)
        body = json.dumps({"len": len(data), "head": data[:16].decode("latin-1")}).encode()
    elif p == "/read-partial":
        body = inp.read(3)
    elif p == "/lines":
        first = inp.readline()
        limited = inp.readline(2)
        rest = inp.readlines()
        body = json.dumps([first.decode(), limited.decode(), [x.decode() for x in rest]]).encode()
    elif p == "/iter":
        body = b"|".join(line for line in inp)
    elif p == "/large":
        size = int(q.get("size", "1000000"))
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return (b"L" * min(65536, size - i) for i in range(0, size, 65536))
    elif p == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written;")
        return [b"returned"]
    else:
        body = json.dumps({"method": environ["REQUEST_METHOD"], "path": p,
                           "query": environ.get("QUERY_STRING", "")}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


application = validator(raw_app)
