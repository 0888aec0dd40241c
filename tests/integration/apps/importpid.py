"""Reports the pid that imported this module and the pid serving the request.
Each import appends "<pid>" to $HERD_TEST_DIR/imports."""
import json
import os

IMPORT_PID = os.getpid()
with open(os.path.join(os.environ.get("HERD_TEST_DIR", "/tmp"), "imports"), "a") as f:
    f.write("%d\n" % IMPORT_PID)


def application(environ, start_response):
    body = json.dumps({"import_pid": IMPORT_PID, "pid": os.getpid(), "ppid": os.getppid()}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
