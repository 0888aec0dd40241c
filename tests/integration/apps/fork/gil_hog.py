"""A master thread that keeps the GIL in one long C call, as a C extension
that computes without releasing it, or a regular expression that
backtracks, would (test_fork_safety.py, "The master's loop never waits for
the GIL").

The thread ('master-gil-hog') is started at import, so with a preloaded app
it runs in the master only. Each time $HERD_TEST_DIR/hog-go appears it
removes it, writes "gil-hog: holding the GIL for S s (hold N)" to fd 2 and
calls usleep() through ctypes.PyDLL, which keeps the GIL for the whole call
(HOG_SECONDS, default 4.5: a fixed cost, unlike a calibrated regex, and no
CPU burnt), then writes "gil-hog: released the GIL after X s (hold N)".
A reload by re-exec starts a new master with a new thread, which waits for
a new hog-go.
"""
import ctypes
import json
import os
import threading
import time

HOLD = float(os.environ.get("HOG_SECONDS", "4.5"))
GO = os.path.join(os.environ.get("HERD_TEST_DIR", "/tmp"), "hog-go")

_usleep = ctypes.PyDLL(None).usleep  # PyDLL: the GIL stays held during the call
_usleep.argtypes = [ctypes.c_uint]
_usleep.restype = ctypes.c_int


def _hog():
    n = 0
    while True:
        while not os.path.exists(GO):
            time.sleep(0.02)
        os.unlink(GO)
        n += 1
        os.write(2, b"gil-hog: holding the GIL for %.1f s (hold %d)\n" % (HOLD, n))
        t0 = time.monotonic()
        _usleep(int(HOLD * 1e6))
        os.write(2, b"gil-hog: released the GIL after %.2f s (hold %d)\n"
                 % (time.monotonic() - t0, n))


threading.Thread(target=_hog, name="master-gil-hog", daemon=True).start()


def application(environ, start_response):
    body = json.dumps({"pid": os.getpid()}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
