"""Only an `app` callable: herd must fall back to it."""


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "12")])
    return [b"from app var"]
