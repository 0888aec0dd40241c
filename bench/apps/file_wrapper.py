# Workload F: a 64 KiB file served through wsgi.file_wrapper (sendfile where the server supports it).
# The file is $BENCH_FILE (bench.py creates it); without it, one is made in the temp dir at import.
import os
import tempfile

SIZE = 65536
PATH = os.environ.get("BENCH_FILE")
if not PATH or not os.path.isfile(PATH):
    PATH = os.path.join(tempfile.gettempdir(), "herd-bench-64k")
    if not os.path.isfile(PATH) or os.path.getsize(PATH) != SIZE:
        with open(PATH + ".%d" % os.getpid(), "wb") as f:
            f.write(b"f" * SIZE)
        os.replace(PATH + ".%d" % os.getpid(), PATH)
SIZE = os.path.getsize(PATH)
HEADERS = [("Content-Type", "application/octet-stream"), ("Content-Length", str(SIZE))]


def application(environ, start_response):
    f = open(PATH, "rb")
    start_response("200 OK", HEADERS)
    wrapper = environ.get("wsgi.file_wrapper")
    if wrapper is not None:
        return wrapper(f, 65536)
    return _chunks(f)


def _chunks(f):
    try:
        while True:
            b = f.read(65536)
            if not b:
                return
            yield b
    finally:
        f.close()
