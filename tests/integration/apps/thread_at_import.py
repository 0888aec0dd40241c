"""Starts a thread at import that logs in a tight loop, so the master often
forks while that thread holds the logging handler's lock. The handler does no
I/O (a buffered file's lock held at fork is a hazard no server can repair);
its lock is one that CPython's fork hooks re-create in the child
(logging registers them with os.register_at_fork). A child forked without
running those hooks hangs on its first log call in a request."""
import json
import logging
import os
import threading


class CountingHandler(logging.Handler):
    def __init__(self):
        logging.Handler.__init__(self)
        self.count = 0

    def emit(self, record):
        # hold the handler lock (taken by Handler.handle) for a while
        for _ in range(200):
            self.count += 1


log = logging.getLogger("herd-test-spin")
log.setLevel(logging.INFO)
log.addHandler(CountingHandler())
log.propagate = False


def _spin():
    while True:
        log.info("spinning")


threading.Thread(target=_spin, name="spinner", daemon=True).start()


def application(environ, start_response):
    log.info("request in %d", os.getpid())
    body = json.dumps({"pid": os.getpid(),
                       "threads": sorted(t.name for t in threading.enumerate())}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
