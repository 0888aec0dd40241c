"""Master threads, shared state and probes for herd's fork-safety tests.

Standard library only: these run under every interpreter herd embeds
(Debian 3.11, 3.11-dbg, pyenv 3.12/3.13 without third-party packages).

sitecustomize.py (this directory, put on PYTHONPATH by the tests) calls
setup() while the master's interpreter starts: before the app is loaded and
before the first fork. What it starts comes from the environment:

  FORKTEST_THREADS  comma-separated master threads:
    busy:S      'master-busy': a pure-Python busy loop for S seconds (it holds
                the GIL nearly all the time, so the master forks while it
                runs), then it ends. STATE['busy'] is 'running' / 'done'; the
                file $HERD_TEST_DIR/busy-done is written at the end.
    agent:MS    'master-agent-N': never ends; wakes every MS milliseconds and
                does a little Python work (a metrics or tracing agent).
    logger      'master-logger': logs to stderr through a logging
                StreamHandler (logging.basicConfig) and prints to stdout, as
                fast as it can in bursts; its lines contain HAMMER. Ends
                when $HERD_TEST_DIR/logger-stop exists.
    importer    'master-importer': imports fresh modules in a loop (synthetic
                ones from a meta-path finder, and colorsys from disk).
    lockholder  'master-lockholder': LOCK is held from setup() until
                $HERD_TEST_DIR/hold-lock disappears.
    slowimport  'master-slowimport': inside `import fork_slowmod` until
                $HERD_TEST_DIR/hold-import disappears.
    lockcycler  'master-lockcycler': takes LOCK2 for 5 ms, every 6 ms,
                forever; LOCK2 is protected by os.register_at_fork
                (before=acquire, after_in_parent/after_in_child=release).
  FORKTEST_ATFORK=1  registers two sets of os.register_at_fork hooks that
                record into TRACE (and $HERD_TEST_DIR/atfork.log), after one
                reference os.fork() in the master (REF) to compare with.

Every process also gets a faulthandler dump of all threads on DUMP_SIGNAL
(SIGRTMIN+5, not blocked by herd): the tests send it to a stuck worker.
"""
import faulthandler
import importlib
import importlib.util
import json
import os
import signal
import sys
import threading
import time

DIR = os.environ.get("HERD_TEST_DIR", "/tmp")
DUMP_SIGNAL = signal.SIGRTMIN + 5
SETUP_PID = os.getpid()

STATE = {"busy": "none"}
LOCK = threading.Lock()
LOCK2 = threading.Lock()
SLOWMOD_ENTERED = threading.Event()
TRACE = []
REF = None
THREADS = []
# The master's stdio objects: in a worker they are the streams a master
# thread may have been writing to at fork (herd gives the worker new ones).
MASTER_STDOUT = sys.stdout
MASTER_STDERR = sys.stderr


def marker(name):
    return os.path.join(DIR, name)


def start_thread(name, target, *args):
    t = threading.Thread(target=target, args=args, name=name, daemon=True)
    t.start()
    THREADS.append(t)
    return t


# ---------------------------------------------------------------- threads


def _busy(seconds):
    end = time.monotonic() + seconds
    x = 0
    while time.monotonic() < end:
        for i in range(2000):
            x = (x * 31 + i) & 0xFFFFFFFF
    STATE["busy"] = "done"
    # one file per master image (a reload by re-exec starts a new one)
    with open(marker("busy-done-%d" % IMAGE), "w") as f:
        f.write("%f\n" % time.time())


def _agent(ms):
    n = 0
    data = {}
    while True:
        time.sleep(ms / 1000.0)
        n += 1
        data[n % 64] = [n, str(n), float(n)]
        json.dumps(data)
        STATE["ticks-" + threading.current_thread().name] = n


def _logger():
    # Lines under PIPE_BUF (4096), so that each is one atomic write and
    # herd's own log lines are never spliced into them. With a slow reader
    # (the tests throttle it) the pipe fills up and write() blocks with the
    # stream's BufferedWriter lock held: that is when a fork catches it held.
    import logging
    log = logging.getLogger("hammer")
    pad = "x" * 3800
    n = 0
    stop = marker("logger-stop")
    while not os.path.exists(stop):
        for _ in range(8):
            n += 1
            log.warning("HAMMER %d %s", n, pad)
            if n % 2 == 0:
                print("HAMMER stdout %d %s" % (n, pad), flush=True)
        time.sleep(0.001)


class _SynthLoader:
    """Modules made of thin air, slow enough to be caught mid-import."""

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        module.VALUE = sum(range(3000))
        time.sleep(0.0003)


class _SynthFinder:
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name.startswith("forksynth_"):
            return importlib.util.spec_from_loader(name, _SynthLoader())
        return None

    @classmethod
    def invalidate_caches(cls):
        pass


def _importer():
    n = 0
    while True:
        n += 1
        name = "forksynth_master%d" % n
        importlib.import_module(name)
        del sys.modules[name]
        if n % 4 == 0:
            sys.modules.pop("colorsys", None)
            importlib.import_module("colorsys")
        STATE["imports"] = n
        time.sleep(0.0005)


def _lockholder():
    # LOCK was acquired by setup() (so that it is held before any fork).
    while os.path.exists(marker("hold-lock")):
        time.sleep(0.01)
    LOCK.release()


def _lockcycler():
    # Takes LOCK2 over and over (5 ms held, 1 ms free): without help, most
    # forks would catch it held.
    while True:
        with LOCK2:
            time.sleep(0.005)
        time.sleep(0.001)


def _slowimport():
    import fork_slowmod  # noqa: F401  (waits inside its body)


# ---------------------------------------------------------------- at-fork


def _ev(name):
    TRACE.append(name)
    with open(marker("atfork.log"), "a") as f:
        f.write("%d %s\n" % (os.getpid(), name))


def fork_suffix(trace):
    """The events of the latest fork as the child saw them: everything after
    the parent hooks of the previous fork."""
    last = -1
    for i, e in enumerate(trace):
        if e.startswith("parent-"):
            last = i
    return trace[last + 1:]


def _setup_atfork():
    global REF
    os.register_at_fork(before=lambda: _ev("before-A"),
                        after_in_parent=lambda: _ev("parent-A"),
                        after_in_child=lambda: _ev("child-A"))
    os.register_at_fork(before=lambda: _ev("before-B"),
                        after_in_parent=lambda: _ev("parent-B"),
                        after_in_child=lambda: _ev("child-B"))
    # Reference: what os.fork() does with the same hooks (no thread runs yet).
    r, w = os.pipe()
    start = len(TRACE)
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.write(w, json.dumps(fork_suffix(TRACE)).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    REF = {"child": json.loads(data.decode()), "parent": TRACE[start:], "pid": pid}


# ---------------------------------------------------------------- setup


IMAGE = 0


def setup():
    """Called by sitecustomize in each master image: the first, and one more
    per reload by re-exec (numbered by $HERD_TEST_DIR/images.log)."""
    global IMAGE
    with open(marker("images.log"), "a+") as f:
        f.write("%d\n" % os.getpid())
        f.seek(0)
        IMAGE = len(f.read().split())
    faulthandler.register(DUMP_SIGNAL, file=sys.stderr, all_threads=True)
    if os.environ.get("FORKTEST_ATFORK") == "1":
        _setup_atfork()
    specs = [s.strip() for s in os.environ.get("FORKTEST_THREADS", "").split(",") if s.strip()]
    nagent = 0
    for spec in specs:
        kind, _, arg = spec.partition(":")
        if kind == "busy":
            STATE["busy"] = "running"
            start_thread("master-busy", _busy, float(arg or 5))
        elif kind == "agent":
            nagent += 1
            start_thread("master-agent-%d" % nagent, _agent, float(arg or 5))
        elif kind == "logger":
            import logging
            logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                                format="%(process)d %(name)s %(message)s")
            start_thread("master-logger", _logger)
        elif kind == "importer":
            sys.meta_path.insert(0, _SynthFinder)
            start_thread("master-importer", _importer)
        elif kind == "lockholder":
            LOCK.acquire()
            start_thread("master-lockholder", _lockholder)
        elif kind == "lockcycler":
            # the documented remedy: hold the lock across the fork
            os.register_at_fork(before=LOCK2.acquire, after_in_parent=LOCK2.release,
                                after_in_child=LOCK2.release)
            start_thread("master-lockcycler", _lockcycler)
        elif kind == "slowimport":
            start_thread("master-slowimport", _slowimport)
            if not SLOWMOD_ENTERED.wait(10):
                raise RuntimeError("fork_slowmod was not entered")
        else:
            raise ValueError("FORKTEST_THREADS: unknown %r" % spec)


# ---------------------------------------------------------------- worker probes


def module_locks_held():
    """Names of modules whose import lock has an owner: in a fresh worker,
    the modules a master thread was importing at fork."""
    bs = sys.modules.get("_frozen_importlib")
    held = []
    for name, ref in list(getattr(bs, "_module_locks", {}).items()):
        lock = ref() if callable(ref) else None
        if lock is not None and getattr(lock, "owner", None):
            held.append(name)
    return sorted(held)


class StreamProbe:
    """Tells whether the BufferedWriter lock of a master stdio object was
    held at fork (by a master thread inside write()). A daemon thread tries
    a zero-length write: it returns at once if the lock is free and blocks
    forever if not; nothing else in the worker uses those objects. (When the
    probe thread happens to get the dead owner's thread ident, as pthread
    ids are reused, CPython raises "reentrant call" instead of blocking:
    held too.)"""

    def __init__(self, stream):
        self.started = time.monotonic()
        self.done = threading.Event()
        self.error = None
        buf = getattr(stream, "buffer", None)
        if not hasattr(buf, "raw"):  # PYTHONUNBUFFERED: no BufferedWriter, no lock
            self.done.set()
            self.error = "unbuffered"
            return
        threading.Thread(target=self._run, args=(buf,), name="probe-stdio", daemon=True).start()

    def _run(self, buf):
        try:
            buf.write(b"")
        except Exception as e:  # noqa: BLE001
            self.error = repr(e)
        self.done.set()

    def held(self):
        """True if the probe is still blocked 0.3 s after it started."""
        self.done.wait(max(0.0, 0.3 - (time.monotonic() - self.started)))
        return not self.done.is_set() or "reentrant call" in (self.error or "")


def thread_report():
    main = threading.main_thread()
    return {
        "alive": sorted(t.name for t in threading.enumerate() if t.is_alive()),
        "main_name": main.name,
        "main_ident": main.ident,
        "main_native_id": getattr(main, "native_id", None),
        "main_alive": main.is_alive(),
        "current_is_main": threading.current_thread() is main,
        "current_ident": threading.get_ident(),
        "current_native_id": threading.get_native_id(),
    }
