"""Installs its own signal handlers at import (apps do this): herd's master
must still obey SIGTERM/SIGINT/SIGHUP."""
import os
import signal

for _s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
    signal.signal(_s, signal.SIG_IGN)


def application(environ, start_response):
    body = b"%d" % os.getpid()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
