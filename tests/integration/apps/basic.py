"""The general-purpose test app: one route per small behaviour (see ROUTES)."""
import json
import os
import sys
import threading
import time
from urllib.parse import parse_qs

_BLOCK = bytes(i % 251 for i in range(65521))  # prime period: misplaced bytes show


def pattern(size):
    reps = size // len(_BLOCK) + 1
    return (_BLOCK * reps)[:size]


def _q(environ):
    return {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items()}


def _resp(start_response, body, status="200 OK", ctype="text/plain", extra=()):
    if isinstance(body, str):
        body = body.encode("utf-8")
    start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(body)))] + list(extra))
    return [body]


def hello(environ, sr, q):
    return _resp(sr, b"hello world")


def env(environ, sr, q):
    out = {}
    types = {}
    for k, v in environ.items():
        types[k] = type(v).__name__
        if isinstance(v, str):
            out[k] = v
        elif isinstance(v, (bool, int, float)) or v is None:
            out[k] = v
        elif isinstance(v, tuple):
            out[k] = list(v)
    out["_types"] = types
    out["_pid"] = os.getpid()
    out["_input_attrs"] = [a for a in ("read", "readline", "readlines", "__iter__") if hasattr(environ["wsgi.input"], a)]
    out["_errors_attrs"] = [a for a in ("write", "writelines", "flush") if hasattr(environ["wsgi.errors"], a)]
    out["_file_wrapper_callable"] = callable(environ.get("wsgi.file_wrapper"))
    return _resp(sr, json.dumps(out), ctype="application/json")


def echo(environ, sr, q):
    body = environ["wsgi.input"].read()
    extra = [("X-Request-Method", environ["REQUEST_METHOD"])]
    return _resp(sr, body, ctype="application/octet-stream", extra=extra)


def noread(environ, sr, q):
    return _resp(sr, b"not read")


def pid(environ, sr, q):
    return _resp(sr, str(os.getpid()))


def sleep(environ, sr, q):
    tag = q.get("tag", "")
    environ["wsgi.errors"].write("sleep-start %s pid=%d\n" % (tag, os.getpid()))
    environ["wsgi.errors"].flush()
    time.sleep(float(q.get("s", "1")))
    return _resp(sr, "slept %s" % tag)


def status(environ, sr, q):
    return _resp(sr, q.get("body", "status"), status="%s %s" % (q.get("code", "200"), q.get("reason", "Whatever")))


def chunks(environ, sr, q):
    n = int(q.get("n", "3"))
    size = int(q.get("size", "5"))
    sr("200 OK", [("Content-Type", "text/plain")])

    def gen():
        for i in range(n):
            yield (b"%d" % (i % 10)) * size

    return gen()


def big(environ, sr, q):
    size = int(q.get("size", "1048576"))
    return _resp(sr, pattern(size), ctype="application/octet-stream")


def bigstream(environ, sr, q):
    size = int(q.get("size", "1048576"))
    chunk = int(q.get("chunk", "65536"))
    data = pattern(size)
    sr("200 OK", [("Content-Type", "application/octet-stream")])
    return (data[i:i + chunk] for i in range(0, size, chunk))


def log(environ, sr, q):
    environ["wsgi.errors"].write(q.get("msg", "log-marker") + "\n")
    environ["wsgi.errors"].flush()
    return _resp(sr, b"logged")


def error(environ, sr, q):
    raise RuntimeError("boom-%s" % q.get("tag", "x"))


def exit_(environ, sr, q):
    os._exit(int(q.get("code", "3")))


def cwd(environ, sr, q):
    return _resp(sr, os.getcwd())


def getenv(environ, sr, q):
    return _resp(sr, json.dumps({k: os.environ.get(k) for k in q.get("k", "").split(",")}), ctype="application/json")


def syspath(environ, sr, q):
    return _resp(sr, json.dumps({"path": sys.path, "prefix": sys.prefix}), ctype="application/json")


def thread(environ, sr, q):
    return _resp(sr, json.dumps({"pid": os.getpid(), "thread": threading.get_ident()}), ctype="application/json")


ROUTES = {
    "/": hello,
    "/env": env,
    "/echo": echo,
    "/noread": noread,
    "/pid": pid,
    "/sleep": sleep,
    "/status": status,
    "/chunks": chunks,
    "/big": big,
    "/bigstream": bigstream,
    "/log": log,
    "/error": error,
    "/exit": exit_,
    "/cwd": cwd,
    "/getenv": getenv,
    "/syspath": syspath,
    "/thread": thread,
}


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    handler = ROUTES.get(path)
    if handler is None and path.startswith("/env/"):
        handler = env
    if handler is None:
        return _resp(start_response, "no route %r" % path, status="404 Not Found")
    return handler(environ, start_response, _q(environ))
