"""An app that sends its print() output to a file by replacing sys.stdout at
import (in the master unless --lazy-apps), as some apps and frameworks do.
GET / prints one line and answers which object sys.stdout is."""
import os
import sys

OUT = open(os.path.join(os.environ.get("HERD_TEST_DIR", "/tmp"), "app-stdout.txt"), "a",
           buffering=1)
sys.stdout = OUT


def application(environ, start_response):
    print("PRINTED-BY pid=%d" % os.getpid())
    body = ("%d %s" % (os.getpid(), "redirected" if sys.stdout is OUT else repr(sys.stdout))).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
