"""Fails at import, every time."""


def helper():
    raise RuntimeError("import-boom-7f3a")


helper()


def application(environ, start_response):  # never reached
    start_response("200 OK", [])
    return [b""]
