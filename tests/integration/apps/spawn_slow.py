"""With --lazy-apps: the first import (in the first worker) hangs far longer
than --spawn-timeout; later imports are quick. $HERD_TEST_DIR/spawn-first
marks that the first import happened."""
import os
import time

_flag = os.path.join(os.environ.get("HERD_TEST_DIR", "/tmp"), "spawn-first")
try:
    fd = os.open(_flag, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
except FileExistsError:
    pass
else:
    os.write(fd, b"%d\n" % os.getpid())
    os.close(fd)
    time.sleep(60)


def application(environ, start_response):
    body = b"%d" % os.getpid()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
