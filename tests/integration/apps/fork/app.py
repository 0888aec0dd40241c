"""Hello-world WSGI app for herd's fork-safety tests (stdlib only).

Every path takes ?hold=S: sleep S seconds first (keeps a worker thread busy
so that the next connections go to other workers), and ?import=1: import
modules that the master threads never import, fresh (see do_imports()).
With FORKTEST_LOG_REQUESTS=1 every request also logs a line to stderr
(logging) and one to stdout (print).
GET /            {"pid", "wid"}
GET /info        everything the tests check about the worker (see info())

At import (in the master, or in each worker with --lazy-apps):
  FORKTEST_APP_THREAD=1   starts 'app-agent', a never-ending ticking thread
  FORKTEST_APP_SIGNALS=1  installs Python signal handlers and SIG_IGN
  FORKTEST_POSTFORK_BLOCK=lock|lock2|import   a postfork hook that takes
      forkshared.LOCK / LOCK2 / imports fork_slowmod (stuck if a master
      thread held them at fork)
  FORKTEST_WRITE_MASTER_STDERR=1   the post-fork hook writes through the
      master's sys.stderr object, as if herd did not give workers new ones
Post-fork hooks are registered through herd.postfork (decorator and plain
call) and uwsgidecorators.postfork; each records what it saw.
"""
import gc
import importlib
import json
import logging
import os
import signal
import sys
import threading
import time
from urllib.parse import parse_qs

import forkshared
import herd
import uwsgi
from uwsgidecorators import postfork

IMPORT_PID = os.getpid()
IMPORT_WID = herd.worker_id()
IMPORT_UWSGI_WID = uwsgi.worker_id()
POSTFORK = []
PROBES = {}
COUNT = {"requests": 0, "imports": 0}
log = logging.getLogger("forktest")

if os.environ.get("FORKTEST_APP_THREAD") == "1":
    forkshared.start_thread("app-agent", forkshared._agent, 4)

if os.environ.get("FORKTEST_APP_SIGNALS") == "1":
    def _handler(signum, frame):
        with open(forkshared.marker("pyhandler-ran"), "a") as f:
            f.write("%d %d\n" % (os.getpid(), signum))

    signal.signal(signal.SIGTERM, _handler)
    signal.signal(signal.SIGHUP, _handler)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)


def _record(api):
    rec = {
        "api": api,
        "pid": os.getpid(),
        "wid": herd.worker_id(),
        "uwsgi_wid": uwsgi.worker_id(),
        "trace": forkshared.fork_suffix(forkshared.TRACE),
        "time": time.time(),
    }
    rec.update(forkshared.thread_report())
    POSTFORK.append(rec)


@herd.postfork
def _pf_herd():
    # The worker's first use of the interpreter's locks: module import locks,
    # then its first writes to stderr and stdout.
    PROBES["module_locks_held"] = forkshared.module_locks_held()
    _record("herd.postfork")
    PROBES["stderr"] = forkshared.StreamProbe(forkshared.MASTER_STDERR)
    PROBES["stdout"] = forkshared.StreamProbe(forkshared.MASTER_STDOUT)
    if os.environ.get("FORKTEST_WRITE_MASTER_STDERR") == "1":
        # what a worker would do without herd's stdio repair: write through
        # the master's stream object (hangs if its lock was held at fork)
        forkshared.MASTER_STDERR.write("OLDSTREAM pid=%d\n" % os.getpid())
        forkshared.MASTER_STDERR.flush()
    log.warning("POSTFORK pid=%d wid=%d", os.getpid(), herd.worker_id())
    print("POSTFORK-OUT pid=%d" % os.getpid(), flush=True)
    if _synth():
        importlib.import_module("forksynth_postfork%d" % os.getpid())
    importlib.import_module("shlex")


@postfork
def _pf_uwsgidecorators():
    _record("uwsgidecorators.postfork")


def _pf_plain():
    _record("herd.postfork(fn)")


herd.postfork(_pf_plain)

if os.environ.get("FORKTEST_POSTFORK_BLOCK") == "lock":
    @herd.postfork
    def _pf_lock():
        with forkshared.LOCK:
            pass
elif os.environ.get("FORKTEST_POSTFORK_BLOCK") == "lock2":
    @herd.postfork
    def _pf_lock2():
        with forkshared.LOCK2:
            pass
elif os.environ.get("FORKTEST_POSTFORK_BLOCK") == "import":
    @herd.postfork
    def _pf_import():
        import fork_slowmod  # noqa: F401


def _synth():
    return any(getattr(f, "__name__", "") == "_SynthFinder" for f in sys.meta_path)


WORKER_MODULES = ["fractions", "difflib", "calendar", "ipaddress", "shlex"]


# Dropping a module from sys.modules to import it again is not safe while
# another request thread imports it too: one at a time.
_IMPORTS = threading.Lock()


def do_imports():
    with _IMPORTS:
        return _do_imports()


def _do_imports():
    done = []
    COUNT["imports"] += 1
    if _synth():
        name = "forksynth_w%d_%d" % (os.getpid(), COUNT["imports"])
        importlib.import_module(name)
        done.append(name)
    for name in WORKER_MODULES:
        sys.modules.pop(name, None)
        importlib.import_module(name)
        done.append(name)
    return done


def info():
    probes = {k: (v.held() if isinstance(v, forkshared.StreamProbe) else v)
              for k, v in PROBES.items()}
    d = {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "wid": herd.worker_id(),
        "uwsgi_wid": uwsgi.worker_id(),
        "herd_numproc": herd.numproc,
        "uwsgi_numproc": uwsgi.numproc,
        "uwsgi_opt_is_dict": isinstance(uwsgi.opt, dict),
        "import_pid": IMPORT_PID,
        "import_wid": IMPORT_WID,
        "import_uwsgi_wid": IMPORT_UWSGI_WID,
        "setup_pid": forkshared.SETUP_PID,
        "busy_at_fork": forkshared.STATE["busy"],
        "postfork": POSTFORK,
        "probes": probes,
        "ref": forkshared.REF,
        "trace": forkshared.fork_suffix(forkshared.TRACE),
        "stdout_replaced": sys.stdout is not forkshared.MASTER_STDOUT,
        "stderr_replaced": sys.stderr is not forkshared.MASTER_STDERR,
        "gc_freeze_count": gc.get_freeze_count() if hasattr(gc, "get_freeze_count") else None,
        "requests": COUNT["requests"],
    }
    d.update(forkshared.thread_report())
    return d


def application(environ, start_response):
    COUNT["requests"] += 1
    path = environ.get("PATH_INFO", "/")
    q = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    hold = float(q.get("hold", 0))
    if hold:
        time.sleep(hold)
    if os.environ.get("FORKTEST_LOG_REQUESTS") == "1":
        log.warning("REQ pid=%d n=%d", os.getpid(), COUNT["requests"])
        print("REQOUT pid=%d n=%d" % (os.getpid(), COUNT["requests"]), flush=True)
    imported = do_imports() if q.get("import") == "1" else None
    if path == "/":
        data = {"pid": os.getpid(), "wid": herd.worker_id()}
    elif path == "/info":
        data = info()
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "0")])
        return [b""]
    if imported is not None:
        data["imported"] = imported
    body = json.dumps(data).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
