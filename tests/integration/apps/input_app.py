"""wsgi.input: runs the operations named in ?ops= and reports what each returned.

ops is a comma list of: read, read:N, readline, readline:N, readlines, iter.
/sha streams the body (read(bs) until b"") and reports its length and sha256;
/sha?all=1 uses one read().
"""
import hashlib
import json
from urllib.parse import parse_qs


def _s(b):
    assert isinstance(b, bytes), "wsgi.input returned %r, not bytes" % type(b)
    return b.decode("latin-1")


def run_ops(inp, ops):
    out = []
    for op in ops.split(","):
        name, _, arg = op.partition(":")
        if name == "read":
            v = _s(inp.read(int(arg))) if arg else _s(inp.read())
        elif name == "readline":
            v = _s(inp.readline(int(arg))) if arg else _s(inp.readline())
        elif name == "readlines":
            v = [_s(x) for x in inp.readlines()]
        elif name == "iter":
            v = [_s(x) for x in inp]
        else:
            raise ValueError("unknown op %r" % op)
        out.append([op, v])
    return out


def application(environ, start_response):
    q = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    inp = environ["wsgi.input"]
    if environ["PATH_INFO"] == "/sha":
        h = hashlib.sha256()
        n = 0
        reads = 0
        if q.get("all"):
            data = inp.read()
            h.update(data)
            n = len(data)
            reads = 1
        else:
            bs = int(q.get("bs", "65536"))
            while True:
                data = inp.read(bs)
                if not data:
                    break
                assert len(data) <= bs, "read(%d) returned %d bytes" % (bs, len(data))
                h.update(data)
                n += len(data)
                reads += 1
        body = json.dumps({"len": n, "sha256": h.hexdigest(), "reads": reads})
    else:
        body = json.dumps({"ops": run_ops(inp, q.get("ops", "read")),
                           "content_length": environ.get("CONTENT_LENGTH")})
    body = body.encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
