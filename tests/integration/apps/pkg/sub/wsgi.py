"""A module inside a package, for --module pkg.sub.wsgi[:callable]."""
from . import helper


def entry(environ, start_response):
    body = ("pkg entry %s" % helper.NAME).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def application(environ, start_response):
    body = b"pkg application"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
